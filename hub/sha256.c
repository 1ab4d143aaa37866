/*
 * sha256.c — SHA-256 of files and memory through OpenSSL's EVP interface,
 * hex helpers, and torch.hub's rule for the hash prefix in a file name.
 */
#include "hub/hub.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

static void to_hex(const unsigned char *d, unsigned n, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[2 * n] = 0;
}

nk_status hub_sha256_file(nk_ctx *ctx, const char *path,
                          char hex[HUB_SHA256_HEX])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return nk_fail(ctx, NK_IO, "%s: cannot open: %s", path,
                       strerror(errno));
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        fclose(f);
        return nk_fail(ctx, NK_NOMEM, "%s: cannot start SHA-256", path);
    }
    unsigned char buf_local[1 << 14];
    size_t n;
    while ((n = fread(buf_local, 1, sizeof buf_local, f)) > 0)
        EVP_DigestUpdate(md, buf_local, n);
    int err = ferror(f);
    fclose(f);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned dn = 0;
    EVP_DigestFinal_ex(md, d, &dn);
    EVP_MD_CTX_free(md);
    if (err)
        return nk_fail(ctx, NK_IO, "%s: read error", path);
    to_hex(d, dn, hex);
    return NK_OK;
}

void hub_sha256_mem(const void *data, size_t n, char hex[HUB_SHA256_HEX])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned dn = 0;
    EVP_Digest(data, n, d, &dn, EVP_sha256(), NULL);
    to_hex(d, dn, hex);
}

bool hub_is_hex(const char *s, bool full)
{
    if (!s)
        return false;
    size_t n = strlen(s);
    if (n == 0 || n > 64 || (full && n != 64))
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
              (*s >= 'A' && *s <= 'F')))
            return false;
    return true;
}

bool hub_hash_has_prefix(const char *digest, const char *prefix)
{
    size_t n = strlen(prefix);
    if (n == 0 || n > strlen(digest))
        return false;
    for (size_t i = 0; i < n; i++) {
        char a = digest[i], b = prefix[i];
        if (a >= 'A' && a <= 'F')
            a = (char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'F')
            b = (char)(b - 'A' + 'a');
        if (a != b)
            return false;
    }
    return true;
}

void hub_hash_from_url(const char *url, char out[HUB_SHA256_HEX])
{
    out[0] = 0;
    const char *name = strrchr(url, '/');
    name = name ? name + 1 : url;
    /* torch.hub: re.search(r'-([a-f0-9]*)\.', filename) — the first
     * "-hex." in the name. */
    for (const char *p = name; *p && *p != '?' && *p != '#'; p++) {
        if (*p != '-')
            continue;
        const char *q = p + 1;
        while ((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f'))
            q++;
        if (*q == '.' && q - (p + 1) <= 64) {
            memcpy(out, p + 1, (size_t)(q - (p + 1)));
            out[q - (p + 1)] = 0;
            return;
        }
    }
}
