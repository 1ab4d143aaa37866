/*
 * fb-build.c — the FlatBuffers builder (format in flatbuf.h). Objects are
 * written back to front so that every reference points forwards, and a
 * table's vtable is written just before the table.
 */
#include "formats/tflite/flatbuf.h"

#include <string.h>

/* FlatBuffers offsets are 32-bit: a buffer stays below 2 GiB. */
#define FB_MAX_SIZE ((size_t)0x7FFFFFFF)

void fbb_init(fb_builder *b, size_t hint)
{
    memset(b, 0, sizeof *b);
    b->minalign = 4;
    size_t cap = hint > 4096 ? hint : 4096;
    if (cap > FB_MAX_SIZE)
        cap = FB_MAX_SIZE;
    b->buf = nk_malloc(cap);
    if (!b->buf) {
        b->oom = true;
        return;
    }
    b->cap = cap;
}

void fbb_free(fb_builder *b)
{
    nk_free(b->buf);
    memset(b, 0, sizeof *b);
    b->oom = true;
}

/* Make room for n more bytes, keeping the written bytes at the end. */
static bool grow(fb_builder *b, size_t n)
{
    if (b->oom)
        return false;
    if (n <= b->cap - b->used)
        return true;
    if (n > FB_MAX_SIZE - b->used) {
        b->oom = true;
        return false;
    }
    size_t need = b->used + n, cap = b->cap ? b->cap : 4096;
    while (cap < need)
        cap = cap > FB_MAX_SIZE / 2 ? FB_MAX_SIZE : cap * 2;
    uint8_t *nb = nk_malloc(cap);
    if (!nb) {
        b->oom = true;
        return false;
    }
    if (b->used)
        memcpy(nb + cap - b->used, b->buf + b->cap - b->used, b->used);
    nk_free(b->buf);
    b->buf = nb;
    b->cap = cap;
    return true;
}

/* Pad with zeros so that after `len` more bytes, used is a multiple of
 * align (a power of two). */
static void prep(fb_builder *b, size_t align, size_t len)
{
    if (align > b->minalign)
        b->minalign = align;
    size_t pad = (align - ((b->used + len) & (align - 1))) & (align - 1);
    if (pad && grow(b, pad)) {
        b->used += pad;
        memset(b->buf + b->cap - b->used, 0, pad);
    }
}

uint8_t *fbb_push(fb_builder *b, size_t n, size_t align)
{
    prep(b, align, n);
    if (!grow(b, n))
        return NULL;
    b->used += n;
    uint8_t *p = b->buf + b->cap - b->used;
    memset(p, 0, n);
    return p;
}

static void push_u32(fb_builder *b, uint32_t v)
{
    uint8_t *p = fbb_push(b, 4, 4);
    if (p)
        memcpy(p, &v, 4);
}

static fb_ref here(const fb_builder *b)
{
    return b->oom ? 0 : (fb_ref)b->used;
}

fb_ref fbb_vector(fb_builder *b, const void *data, size_t n, size_t elem_size,
                  size_t align, uint8_t **out)
{
    NK_ASSERT(!b->in_table);
    size_t bytes;
    if (out)
        *out = NULL;
    if (!nk_mul_size(n, elem_size, &bytes) || n > UINT32_MAX ||
        bytes > FB_MAX_SIZE) {
        b->oom = true;
        return 0;
    }
    if (align < 4)
        align = 4;
    /* The count (u32) sits right before the elements, which start on
     * `align`: pad so that used + bytes is aligned, then so that the count
     * is too (already true, since align >= 4). */
    prep(b, align, bytes);
    uint8_t *p = fbb_push(b, bytes, 1);
    if (!p)
        return 0;
    if (data && bytes)
        memcpy(p, data, bytes);
    push_u32(b, (uint32_t)n);
    if (b->oom)
        return 0;
    if (out)
        *out = b->buf + b->cap - b->used + 4;
    return here(b);
}

fb_ref fbb_string(fb_builder *b, const char *s)
{
    NK_ASSERT(!b->in_table);
    size_t len = strlen(s);
    if (len >= FB_MAX_SIZE) {
        b->oom = true;
        return 0;
    }
    prep(b, 4, len + 1);
    uint8_t *p = fbb_push(b, len + 1, 1);
    if (!p)
        return 0;
    memcpy(p, s, len); /* the NUL is already there */
    push_u32(b, (uint32_t)len);
    return here(b);
}

fb_ref fbb_vector_refs(fb_builder *b, const fb_ref *refs, size_t n)
{
    NK_ASSERT(!b->in_table);
    if (n > UINT32_MAX / 4) {
        b->oom = true;
        return 0;
    }
    prep(b, 4, n * 4);
    /* Back to front: the last element first. */
    for (size_t i = n; i-- > 0;) {
        uint8_t *p = fbb_push(b, 4, 4);
        if (!p)
            return 0;
        NK_ASSERT(refs[i] && refs[i] <= b->used);
        uint32_t off = (uint32_t)(b->used - refs[i]);
        memcpy(p, &off, 4);
    }
    push_u32(b, (uint32_t)n);
    return here(b);
}

void fbb_table_start(fb_builder *b)
{
    NK_ASSERT(!b->in_table);
    b->in_table = true;
    b->table_start = b->used;
    b->n_fields = 0;
    memset(b->fields, 0, sizeof b->fields);
}

static void add_scalar(fb_builder *b, int id, const void *v, size_t n)
{
    NK_ASSERT(b->in_table && id >= 0 && id < FB_MAX_FIELDS);
    uint8_t *p = fbb_push(b, n, n);
    if (!p)
        return;
    memcpy(p, v, n);
    b->fields[id] = (uint32_t)b->used;
    if (id >= b->n_fields)
        b->n_fields = id + 1;
}

void fbb_add_u8(fb_builder *b, int id, uint8_t v) { add_scalar(b, id, &v, 1); }
void fbb_add_i32(fb_builder *b, int id, int32_t v) { add_scalar(b, id, &v, 4); }
void fbb_add_u32(fb_builder *b, int id, uint32_t v) { add_scalar(b, id, &v, 4); }
void fbb_add_u64(fb_builder *b, int id, uint64_t v) { add_scalar(b, id, &v, 8); }
void fbb_add_f32(fb_builder *b, int id, float v) { add_scalar(b, id, &v, 4); }

void fbb_add_ref(fb_builder *b, int id, fb_ref r)
{
    NK_ASSERT(b->in_table && id >= 0 && id < FB_MAX_FIELDS);
    if (!r || b->oom)
        return;
    uint8_t *p = fbb_push(b, 4, 4);
    if (!p)
        return;
    NK_ASSERT(r <= b->used);
    uint32_t off = (uint32_t)(b->used - r);
    memcpy(p, &off, 4);
    b->fields[id] = (uint32_t)b->used;
    if (id >= b->n_fields)
        b->n_fields = id + 1;
}

fb_ref fbb_table_end(fb_builder *b)
{
    NK_ASSERT(b->in_table);
    b->in_table = false;
    uint8_t *p = fbb_push(b, 4, 4); /* the soffset to the vtable */
    if (!p)
        return 0;
    size_t obj = b->used;
    size_t tsize = obj - b->table_start;
    if (tsize > 0xFFFF) {
        b->oom = true;
        return 0;
    }
    /* vtable, back to front: field offsets (last first), then sizes. */
    for (int id = b->n_fields; id-- > 0;) {
        uint16_t off = 0;
        if (b->fields[id]) {
            size_t d = obj - b->fields[id];
            NK_ASSERT(d <= 0xFFFF);
            off = (uint16_t)d;
        }
        uint8_t *q = fbb_push(b, 2, 2);
        if (!q)
            return 0;
        memcpy(q, &off, 2);
    }
    uint16_t sizes[2] = {(uint16_t)(4 + 2 * b->n_fields), (uint16_t)tsize};
    uint8_t *q = fbb_push(b, 4, 2);
    if (!q)
        return 0;
    memcpy(q, sizes, 4);
    /* vtable = table - soffset, so soffset = vt_pos - obj in from-end
     * terms (the vtable sits at a lower address). */
    int32_t soff = (int32_t)(b->used - obj);
    memcpy(b->buf + b->cap - obj, &soff, 4);
    return (fb_ref)obj;
}

bool fbb_finish(fb_builder *b, fb_ref root, const char ident[4],
                const uint8_t **data, size_t *len)
{
    NK_ASSERT(!b->in_table);
    prep(b, b->minalign, 8);
    uint8_t *p = fbb_push(b, 4, 1);
    if (p)
        memcpy(p, ident, 4);
    p = fbb_push(b, 4, 4);
    if (!p || b->oom || !root)
        return false;
    uint32_t off = (uint32_t)(b->used - root);
    memcpy(p, &off, 4);
    *data = b->buf + b->cap - b->used;
    *len = b->used;
    return true;
}
