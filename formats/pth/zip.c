/*
 * zip.c — the zip reader behind the .pth loader: EOCD (and zip64 EOCD via
 * its locator), central directory, zip64 extra fields and local headers,
 * with every offset checked against the archive size before it is used.
 */
#include "formats/pth/zip.h"

#include <string.h>

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOC64 0x07064b50u

#define EOCD_SIZE 22
#define LOC64_SIZE 20
#define EOCD64_SIZE 56
#define CENTRAL_SIZE 46
#define LOCAL_SIZE 30
#define ZIP_MAX_ENTRIES (1u << 20)

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32);
}

/* True when [off, off + n) lies inside an archive of len bytes. */
static bool in_range(uint64_t off, uint64_t n, size_t len)
{
    uint64_t end;
    if (__builtin_add_overflow(off, n, &end))
        return false;
    return end <= (uint64_t)len;
}

bool nk_zip_probe(const void *data, size_t len)
{
    const uint8_t *p = data;
    if (len < 4)
        return false;
    return rd32(p) == SIG_LOCAL || rd32(p) == SIG_EOCD;
}

/* Find the end-of-central-directory record: scan backwards over at most
 * a 64 KiB comment. */
static bool find_eocd(const uint8_t *b, size_t len, size_t *pos)
{
    if (len < EOCD_SIZE)
        return false;
    size_t last = len - EOCD_SIZE;
    size_t first = last > 0xffff ? last - 0xffff : 0;
    for (size_t i = last + 1; i-- > first;) {
        if (rd32(b + i) == SIG_EOCD &&
            (uint64_t)i + EOCD_SIZE + rd16(b + i + 20) == (uint64_t)len) {
            *pos = i;
            return true;
        }
    }
    /* Tolerate trailing bytes after the comment as a second chance. */
    for (size_t i = last + 1; i-- > first;) {
        if (rd32(b + i) == SIG_EOCD) {
            *pos = i;
            return true;
        }
    }
    return false;
}

/* Apply the zip64 extended-information extra field (id 0x0001): each
 * 32-bit field that is saturated is replaced, in order, by a 64-bit one. */
static nk_status apply_zip64_extra(nk_ctx *ctx, const char *path,
                                   const char *name, const uint8_t *ex,
                                   size_t exlen, uint64_t *usize,
                                   uint64_t *csize, uint64_t *loff)
{
    size_t i = 0;
    while (i + 4 <= exlen) {
        uint16_t id = rd16(ex + i), sz = rd16(ex + i + 2);
        if ((size_t)sz > exlen - i - 4)
            return nk_fail(ctx, NK_FORMAT,
                           "%s: zip entry '%s': extra field of %u bytes "
                           "runs past its %zu-byte area",
                           path, name, sz, exlen);
        if (id == 0x0001) {
            const uint8_t *f = ex + i + 4;
            size_t left = sz;
            uint64_t *fields[3] = {usize, csize, loff};
            for (int k = 0; k < 3; k++) {
                if (*fields[k] != 0xffffffffu)
                    continue;
                if (left < 8)
                    return nk_fail(ctx, NK_FORMAT,
                                   "%s: zip entry '%s': zip64 extra field "
                                   "too short (%u bytes)",
                                   path, name, sz);
                *fields[k] = rd64(f);
                f += 8;
                left -= 8;
            }
            return NK_OK;
        }
        i += 4 + (size_t)sz;
    }
    return NK_OK;
}

static nk_status read_eocd(nk_ctx *ctx, const char *path, const uint8_t *b,
                           size_t len, uint64_t *n_entries, uint64_t *cd_off,
                           uint64_t *cd_size)
{
    size_t e;
    if (!find_eocd(b, len, &e))
        return nk_fail(ctx, NK_FORMAT,
                       "%s: zip end-of-central-directory record not found "
                       "(truncated file?)",
                       path);
    uint16_t disk = rd16(b + e + 4), cd_disk = rd16(b + e + 6);
    *n_entries = rd16(b + e + 10);
    *cd_size = rd32(b + e + 12);
    *cd_off = rd32(b + e + 16);
    bool z64 = *n_entries == 0xffff || *cd_size == 0xffffffffu ||
               *cd_off == 0xffffffffu;
    if (e >= LOC64_SIZE && rd32(b + e - LOC64_SIZE) == SIG_LOC64) {
        const uint8_t *loc = b + e - LOC64_SIZE;
        uint64_t off64 = rd64(loc + 8);
        if (!in_range(off64, EOCD64_SIZE, len) || rd32(b + off64) != SIG_EOCD64)
            return nk_fail(ctx, NK_FORMAT,
                           "%s: zip64 end-of-central-directory at offset "
                           "%llu is outside the %zu-byte file or damaged",
                           path, (unsigned long long)off64, len);
        const uint8_t *r = b + off64;
        disk = (uint16_t)(rd32(r + 16) != 0);
        cd_disk = (uint16_t)(rd32(r + 20) != 0);
        *n_entries = rd64(r + 32);
        *cd_size = rd64(r + 40);
        *cd_off = rd64(r + 48);
    } else if (z64) {
        return nk_fail(ctx, NK_FORMAT,
                       "%s: zip needs zip64 records but has no zip64 locator",
                       path);
    }
    if (disk != 0 || cd_disk != 0)
        return nk_fail(ctx, NK_UNSUPPORTED,
                       "%s: multi-disk zip archives are not supported", path);
    if (!in_range(*cd_off, *cd_size, len))
        return nk_fail(ctx, NK_FORMAT,
                       "%s: zip central directory [%llu, +%llu) lies outside "
                       "the %zu-byte file",
                       path, (unsigned long long)*cd_off,
                       (unsigned long long)*cd_size, len);
    if (*n_entries > ZIP_MAX_ENTRIES ||
        *n_entries > *cd_size / CENTRAL_SIZE)
        return nk_fail(ctx, NK_FORMAT,
                       "%s: zip claims %llu entries in a %llu-byte central "
                       "directory",
                       path, (unsigned long long)*n_entries,
                       (unsigned long long)*cd_size);
    return NK_OK;
}

nk_status nk_zip_open(nk_ctx *ctx, const char *path, const void *data,
                      size_t len, nk_zip *z)
{
    const uint8_t *b = data;
    uint64_t n = 0, cd_off = 0, cd_size = 0;
    memset(z, 0, sizeof *z);
    nk_status st = read_eocd(ctx, path, b, len, &n, &cd_off, &cd_size);
    if (st)
        return st;
    z->base = b;
    z->len = len;
    if (n == 0)
        return NK_OK;
    z->entries = nk_calloc((size_t)n, sizeof *z->entries);
    if (!z->entries)
        return nk_fail(ctx, NK_NOMEM, "%s: out of memory for %llu zip entries",
                       path, (unsigned long long)n);

    uint64_t pos = cd_off, cd_end = cd_off + cd_size;
    for (uint64_t i = 0; i < n; i++) {
        if (pos > cd_end || cd_end - pos < CENTRAL_SIZE ||
            rd32(b + pos) != SIG_CENTRAL) {
            st = nk_fail(ctx, NK_FORMAT,
                         "%s: zip central directory entry %llu at offset %llu "
                         "is damaged or outside the directory",
                         path, (unsigned long long)i, (unsigned long long)pos);
            goto fail;
        }
        const uint8_t *c = b + pos;
        uint16_t flags = rd16(c + 8), method = rd16(c + 10);
        uint64_t csize = rd32(c + 20), usize = rd32(c + 24);
        size_t nlen = rd16(c + 28), xlen = rd16(c + 30), clen = rd16(c + 32);
        uint64_t loff = rd32(c + 42);
        uint64_t rec = (uint64_t)CENTRAL_SIZE + nlen + xlen + clen;
        if (cd_end - pos < rec) {
            st = nk_fail(ctx, NK_FORMAT,
                         "%s: zip central directory entry %llu (%llu bytes) "
                         "runs past the directory end",
                         path, (unsigned long long)i, (unsigned long long)rec);
            goto fail;
        }
        char *name = nk_malloc(nlen + 1);
        if (!name) {
            st = nk_fail(ctx, NK_NOMEM, "%s: out of memory", path);
            goto fail;
        }
        memcpy(name, c + CENTRAL_SIZE, nlen);
        name[nlen] = '\0';
        z->entries[i].name = name;
        z->n = (size_t)i + 1;
        if (memchr(name, '\0', nlen)) {
            st = nk_fail(ctx, NK_FORMAT,
                         "%s: zip entry %llu has a NUL byte in its name",
                         path, (unsigned long long)i);
            goto fail;
        }
        st = apply_zip64_extra(ctx, path, name, c + CENTRAL_SIZE + nlen, xlen,
                               &usize, &csize, &loff);
        if (st)
            goto fail;
        if (flags & 1u) {
            st = nk_fail(ctx, NK_UNSUPPORTED,
                         "%s: zip entry '%s' is encrypted", path, name);
            goto fail;
        }
        if (method != 0) {
            st = nk_fail(ctx, NK_UNSUPPORTED,
                         "%s: zip entry '%s' is compressed (method %u%s); "
                         "torch.save writes entries uncompressed (method 0) "
                         "- re-save the checkpoint with torch.save",
                         path, name, method, method == 8 ? ", deflate" : "");
            goto fail;
        }
        if (csize != usize) {
            st = nk_fail(ctx, NK_FORMAT,
                         "%s: zip entry '%s' is stored but its compressed "
                         "size %llu differs from its size %llu",
                         path, name, (unsigned long long)csize,
                         (unsigned long long)usize);
            goto fail;
        }
        /* The local header has its own name/extra lengths (torch pads the
         * extra field so data starts 64-byte aligned). */
        if (!in_range(loff, LOCAL_SIZE, len) || rd32(b + loff) != SIG_LOCAL) {
            st = nk_fail(ctx, NK_FORMAT,
                         "%s: zip entry '%s': local header offset %llu is "
                         "outside the %zu-byte file or damaged",
                         path, name, (unsigned long long)loff, len);
            goto fail;
        }
        uint64_t doff = loff + LOCAL_SIZE + rd16(b + loff + 26) +
                        (uint64_t)rd16(b + loff + 28);
        if (!in_range(doff, usize, len)) {
            st = nk_fail(ctx, NK_FORMAT,
                         "%s: zip entry '%s': data [%llu, +%llu) lies outside "
                         "the %zu-byte file",
                         path, name, (unsigned long long)doff,
                         (unsigned long long)usize, len);
            goto fail;
        }
        z->entries[i].data = b + doff;
        z->entries[i].size = usize;
        pos += rec;
    }
    return NK_OK;
fail:
    nk_zip_close(z);
    return st;
}

void nk_zip_close(nk_zip *z)
{
    if (!z)
        return;
    for (size_t i = 0; i < z->n; i++)
        nk_free(z->entries[i].name);
    nk_free(z->entries);
    memset(z, 0, sizeof *z);
}

const nk_zip_entry *nk_zip_find(const nk_zip *z, const char *name)
{
    for (size_t i = 0; i < z->n; i++)
        if (strcmp(z->entries[i].name, name) == 0)
            return &z->entries[i];
    return NULL;
}
