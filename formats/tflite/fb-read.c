/*
 * fb-read.c — the bounds-checked FlatBuffers reader (format in flatbuf.h):
 * every offset, vtable, field, vector length and string is checked to lie
 * inside the file before it is used; errors name the file, the table and
 * the field, with the value found and the limit.
 */
#include "formats/tflite/flatbuf.h"

#include <string.h>

static uint16_t ld_u16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static uint32_t ld_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

nk_status fb_table_at(const fb_file *f, size_t pos, const char *what,
                      long index, fb_table *t)
{
    memset(t, 0, sizeof *t);
    t->f = f;
    t->what = what;
    t->index = index;
    if (pos > f->n || f->n - pos < 4)
        return nk_fail(f->ctx, NK_FORMAT,
                       "%s: %s %ld: table offset %zu is outside the file "
                       "(%zu bytes)",
                       f->path, what, index, pos, f->n);
    int32_t soff;
    memcpy(&soff, f->p + pos, 4);
    /* vtable = table - soff, computed without overflow */
    int64_t vt = (int64_t)pos - (int64_t)soff;
    if (vt < 0 || (uint64_t)vt > f->n || f->n - (size_t)vt < 4)
        return nk_fail(f->ctx, NK_FORMAT,
                       "%s: %s %ld: vtable offset %lld is outside the file "
                       "(%zu bytes)",
                       f->path, what, index, (long long)vt, f->n);
    unsigned vt_len = ld_u16(f->p + vt), size = ld_u16(f->p + vt + 2);
    if (vt_len < 4 || (vt_len & 1) || (size_t)vt_len > f->n - (size_t)vt)
        return nk_fail(f->ctx, NK_FORMAT,
                       "%s: %s %ld: vtable of %u bytes at offset %lld does "
                       "not fit (even, >= 4, inside the %zu-byte file)",
                       f->path, what, index, vt_len, (long long)vt, f->n);
    if (size < 4 || size > f->n - pos)
        return nk_fail(f->ctx, NK_FORMAT,
                       "%s: %s %ld: table of %u bytes at offset %zu runs "
                       "past the end of the file (%zu bytes)",
                       f->path, what, index, size, pos, f->n);
    t->pos = pos;
    t->vt = (size_t)vt;
    t->vt_len = vt_len;
    t->size = size;
    return NK_OK;
}

nk_status fb_root(const fb_file *f, const char *ident, const char *what,
                  fb_table *root)
{
    if (f->n < 8)
        return nk_fail(f->ctx, NK_FORMAT,
                       "%s: file of %zu bytes is too short for a "
                       "FlatBuffer (needs at least 8)",
                       f->path, f->n);
    if (ident && memcmp(f->p + 4, ident, 4) != 0)
        return nk_fail(f->ctx, NK_FORMAT,
                       "%s: file identifier is \"%.4s\", expected \"%.4s\"",
                       f->path, (const char *)f->p + 4, ident);
    return fb_table_at(f, ld_u32(f->p), what, 0, root);
}

/* Absolute position of field id (0 when absent), after checking that
 * `width` bytes of it lie inside the table. */
static nk_status field(const fb_table *t, int id, const char *name,
                       size_t width, size_t *at)
{
    *at = 0;
    size_t slot = 4 + 2 * (size_t)id;
    if (slot + 2 > t->vt_len)
        return NK_OK;
    unsigned off = ld_u16(t->f->p + t->vt + slot);
    if (!off)
        return NK_OK;
    if (off < 4 || off + width > t->size)
        return nk_fail(t->f->ctx, NK_FORMAT,
                       "%s: %s %ld: field '%s' at offset %u (%zu bytes) is "
                       "outside its table (%u bytes)",
                       t->f->path, t->what, t->index, name, off, width,
                       t->size);
    *at = t->pos + off;
    return NK_OK;
}

#define SCALAR_GETTER(fn, type)                                            \
    nk_status fn(const fb_table *t, int id, const char *name, type def,    \
                 type *out)                                                \
    {                                                                      \
        size_t at;                                                         \
        nk_status st = field(t, id, name, sizeof(type), &at);              \
        if (st)                                                            \
            return st;                                                     \
        if (!at) {                                                         \
            *out = def;                                                    \
            return NK_OK;                                                  \
        }                                                                  \
        memcpy(out, t->f->p + at, sizeof(type));                           \
        return NK_OK;                                                      \
    }

SCALAR_GETTER(fb_u8, uint8_t)
SCALAR_GETTER(fb_i32, int32_t)
SCALAR_GETTER(fb_u32, uint32_t)
SCALAR_GETTER(fb_u64, uint64_t)
SCALAR_GETTER(fb_f32, float)

/* Follow the u32 offset stored at `at` (inside the file). */
static nk_status follow(const fb_file *f, size_t at, const char *what,
                        long index, const char *name, size_t *target)
{
    uint32_t off = ld_u32(f->p + at);
    if (off > f->n - at || f->n - at - off < 4)
        return nk_fail(f->ctx, NK_FORMAT,
                       "%s: %s %ld: field '%s' points to offset %zu + %u, "
                       "outside the file (%zu bytes)",
                       f->path, what, index, name, at, off, f->n);
    *target = at + off;
    return NK_OK;
}

/* A vector at absolute position pos: count then elements, all inside. */
static nk_status vector_at(const fb_file *f, size_t pos, size_t elem,
                           const char *what, long index, const char *name,
                           fb_vec *v)
{
    uint32_t n = ld_u32(f->p + pos);
    size_t bytes;
    if (!nk_mul_size(n, elem, &bytes) || bytes > f->n - pos - 4)
        return nk_fail(f->ctx, NK_FORMAT,
                       "%s: %s %ld: vector '%s' of %u elements (%zu bytes "
                       "each) at offset %zu runs past the end of the file "
                       "(%zu bytes)",
                       f->path, what, index, name, n, elem, pos, f->n);
    v->pos = pos + 4;
    v->n = n;
    return NK_OK;
}

nk_status fb_vector(const fb_table *t, int id, const char *name,
                    size_t elem_size, fb_vec *v)
{
    v->pos = 0;
    v->n = 0;
    size_t at, pos = 0;
    nk_status st = field(t, id, name, 4, &at);
    if (st || !at)
        return st;
    if ((st = follow(t->f, at, t->what, t->index, name, &pos)))
        return st;
    return vector_at(t->f, pos, elem_size, t->what, t->index, name, v);
}

/* A string at pos: length, bytes, NUL — all inside the file. */
static nk_status string_at(const fb_file *f, size_t pos, const char *what,
                           long index, const char *name, const char **s,
                           uint32_t *len)
{
    fb_vec v = {0, 0};
    nk_status st = vector_at(f, pos, 1, what, index, name, &v);
    if (st)
        return st;
    if (v.n >= f->n - v.pos || f->p[v.pos + v.n] != 0)
        return nk_fail(f->ctx, NK_FORMAT,
                       "%s: %s %ld: string '%s' of %u bytes at offset %zu "
                       "has no terminating NUL inside the file",
                       f->path, what, index, name, v.n, pos);
    *s = (const char *)f->p + v.pos;
    if (len)
        *len = v.n;
    return NK_OK;
}

nk_status fb_str(const fb_table *t, int id, const char *name,
                 const char **s, uint32_t *len)
{
    *s = NULL;
    if (len)
        *len = 0;
    size_t at, pos = 0;
    nk_status st = field(t, id, name, 4, &at);
    if (st || !at)
        return st;
    if ((st = follow(t->f, at, t->what, t->index, name, &pos)))
        return st;
    return string_at(t->f, pos, t->what, t->index, name, s, len);
}

nk_status fb_subtable(const fb_table *t, int id, const char *name,
                      const char *what, fb_table *out, bool *present)
{
    *present = false;
    size_t at, pos = 0;
    nk_status st = field(t, id, name, 4, &at);
    if (st || !at)
        return st;
    if ((st = follow(t->f, at, t->what, t->index, name, &pos)))
        return st;
    if ((st = fb_table_at(t->f, pos, what, t->index, out)))
        return st;
    *present = true;
    return NK_OK;
}

nk_status fb_vec_table(const fb_file *f, const fb_vec *v, uint32_t i,
                       const char *what, fb_table *out)
{
    NK_ASSERT(i < v->n);
    size_t at = v->pos + (size_t)i * 4, pos = 0;
    nk_status st = follow(f, at, what, (long)i, "(vector element)", &pos);
    if (st)
        return st;
    return fb_table_at(f, pos, what, (long)i, out);
}

nk_status fb_vec_str(const fb_file *f, const fb_vec *v, uint32_t i,
                     const char *what, const char **s, uint32_t *len)
{
    NK_ASSERT(i < v->n);
    size_t at = v->pos + (size_t)i * 4, pos = 0;
    nk_status st = follow(f, at, what, (long)i, "(vector element)", &pos);
    if (st)
        return st;
    return string_at(f, pos, what, (long)i, "(string)", s, len);
}
