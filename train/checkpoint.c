/*
 * checkpoint.c — reading and writing the checkpoint container described
 * in checkpoint.h; every length read from the file is checked against
 * what is left of it.
 */
#include "train/checkpoint.h"
#include "engine/ctx.h"

#include <string.h>

#define CKPT_MAGIC "NKCKPT01"
#define CKPT_MAX_ENTRIES (1u << 20)
#define CKPT_MAX_NAME 4096u

nk_status nk_ckpt_put(nk_ctx *ctx, nk_ckpt *c, const char *name,
                      const void *data, uint64_t len)
{
    if (len > SIZE_MAX - 1)
        return nk_fail(ctx, NK_INVALID_ARG, "checkpoint: '%s' too large",
                       name);
    uint8_t *copy = nk_malloc(len ? (size_t)len : 1);
    if (!copy)
        return nk_fail(ctx, NK_NOMEM, "checkpoint: out of memory for '%s'",
                       name);
    if (len)
        memcpy(copy, data, (size_t)len);
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->e[i].name, name) == 0) {
            nk_free(c->e[i].data);
            c->e[i].data = copy;
            c->e[i].len = len;
            return NK_OK;
        }
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 32;
        nk_ckpt_entry *ne = nk_realloc(c->e, (size_t)cap * sizeof *ne);
        if (!ne) {
            nk_free(copy);
            return nk_fail(ctx, NK_NOMEM, "checkpoint: out of memory");
        }
        c->e = ne;
        c->cap = cap;
    }
    char *nm = nk_strdup(name);
    if (!nm) {
        nk_free(copy);
        return nk_fail(ctx, NK_NOMEM, "checkpoint: out of memory");
    }
    c->e[c->n].name = nm;
    c->e[c->n].data = copy;
    c->e[c->n].len = len;
    c->n++;
    return NK_OK;
}

const void *nk_ckpt_get(const nk_ckpt *c, const char *name, uint64_t *len)
{
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->e[i].name, name) == 0) {
            if (len)
                *len = c->e[i].len;
            return c->e[i].data;
        }
    return NULL;
}

static void le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t rd(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

nk_status nk_ckpt_save(nk_ctx *ctx, const nk_ckpt *c, const char *path)
{
    nk_writer w;
    nk_status st = nk_writer_open(ctx, &w, path);
    if (st != NK_OK)
        return st;
    uint8_t b[8];
    le32(b, (uint32_t)c->n);
    if ((st = nk_writer_write(ctx, &w, CKPT_MAGIC, 8)) ||
        (st = nk_writer_write(ctx, &w, b, 4)))
        goto fail;
    for (int i = 0; i < c->n; i++) {
        size_t nl = strlen(c->e[i].name);
        le32(b, (uint32_t)nl);
        if ((st = nk_writer_write(ctx, &w, b, 4)) ||
            (st = nk_writer_write(ctx, &w, c->e[i].name, nl)))
            goto fail;
        le64(b, c->e[i].len);
        if ((st = nk_writer_write(ctx, &w, b, 8)) ||
            (st = nk_writer_write(ctx, &w, c->e[i].data,
                                  (size_t)c->e[i].len)))
            goto fail;
    }
    return nk_writer_commit(ctx, &w);
fail:
    nk_writer_abort(&w);
    return st;
}

nk_status nk_ckpt_load(nk_ctx *ctx, const char *path, nk_ckpt *c)
{
    uint8_t *d = NULL;
    size_t len = 0;
    nk_status st = nk_file_read(ctx, path, &d, &len);
    if (st != NK_OK)
        return st;
    size_t at = 12;
    char name[CKPT_MAX_NAME + 1];
    if (len < 12 || memcmp(d, CKPT_MAGIC, 8) != 0) {
        st = nk_fail(ctx, NK_FORMAT, "%s: not an nnkit checkpoint (magic "
                     "'%.8s' expected)", path, CKPT_MAGIC);
        goto done;
    }
    uint64_t count = rd(d + 8, 4);
    if (count > CKPT_MAX_ENTRIES) {
        st = nk_fail(ctx, NK_FORMAT, "%s: %llu entries, expected at most %u",
                     path, (unsigned long long)count, CKPT_MAX_ENTRIES);
        goto done;
    }
    for (uint64_t i = 0; i < count; i++) {
        if (len - at < 4) {
            st = nk_fail(ctx, NK_FORMAT, "%s: entry %llu: truncated name "
                         "length at offset %zu of %zu", path,
                         (unsigned long long)i, at, len);
            goto done;
        }
        uint64_t nl = rd(d + at, 4);
        at += 4;
        if (nl == 0 || nl > CKPT_MAX_NAME || nl > len - at) {
            st = nk_fail(ctx, NK_FORMAT, "%s: entry %llu: name length %llu, "
                         "expected 1..%u within the %zu bytes left", path,
                         (unsigned long long)i, (unsigned long long)nl,
                         CKPT_MAX_NAME, len - at);
            goto done;
        }
        memcpy(name, d + at, (size_t)nl);
        name[nl] = 0;
        at += (size_t)nl;
        if (len - at < 8) {
            st = nk_fail(ctx, NK_FORMAT, "%s: entry '%s': truncated length",
                         path, name);
            goto done;
        }
        uint64_t el = rd(d + at, 8);
        at += 8;
        if (el > len - at) {
            st = nk_fail(ctx, NK_FORMAT, "%s: entry '%s': %llu bytes, only "
                         "%zu left in the file", path, name,
                         (unsigned long long)el, len - at);
            goto done;
        }
        if ((st = nk_ckpt_put(ctx, c, name, d + at, el)))
            goto done;
        at += (size_t)el;
    }
    if (at != len)
        st = nk_fail(ctx, NK_FORMAT, "%s: %zu unexpected bytes after the "
                     "last entry", path, len - at);
done:
    nk_free(d);
    if (st != NK_OK)
        nk_ckpt_clear(c);
    return st;
}

void nk_ckpt_clear(nk_ckpt *c)
{
    for (int i = 0; i < c->n; i++) {
        nk_free(c->e[i].name);
        nk_free(c->e[i].data);
    }
    nk_free(c->e);
    memset(c, 0, sizeof *c);
}
