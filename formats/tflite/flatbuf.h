/*
 * flatbuf.h — a small FlatBuffers builder (back to front, like the
 * reference builder) and a bounds-checked reader, enough for the TFLite
 * schema: tables, scalars, strings, vectors of scalars, tables and strings,
 * unions, file identifier. Little-endian hosts only (as TFLite itself).
 *
 * Binary format, as the reader checks it: the file starts with a u32
 * offset to the root table and a 4-byte identifier. A table starts with an
 * i32 s: its vtable is at table - s. A vtable is u16 vtable_bytes, u16
 * table_bytes, then one u16 per field: the field's offset in the table, 0
 * if absent. Reference fields (tables, strings, vectors) hold a u32 offset
 * from the field's own position, forwards. A vector is a u32 count then the
 * elements; a string is a u32 length, the bytes and a NUL.
 */
#ifndef NK_FORMATS_TFLITE_FLATBUF_H
#define NK_FORMATS_TFLITE_FLATBUF_H

#include "engine/ctx.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "formats/tflite assumes a little-endian host"
#endif

/* ---- builder -------------------------------------------------------- */

#define FB_MAX_FIELDS 32

/* A built object, named by its distance from the end of the buffer (the
 * builder writes back to front); 0 means "none". */
typedef uint32_t fb_ref;

typedef struct fb_builder {
    uint8_t *buf;
    size_t cap;     /* bytes allocated */
    size_t used;    /* bytes written, at buf[cap - used .. cap) */
    size_t minalign;
    bool oom;       /* an allocation failed or a limit was exceeded */
    bool in_table;
    size_t table_start;
    uint32_t fields[FB_MAX_FIELDS]; /* positions of the open table's fields */
    int n_fields;
} fb_builder;

/* Start with room for about `hint` bytes (0: a small default). */
void fbb_init(fb_builder *b, size_t hint);
void fbb_free(fb_builder *b);

/* Push n zeroed bytes, aligned so that they end on `align`; returns the
 * start of the bytes (valid until the next push) or NULL on failure. */
uint8_t *fbb_push(fb_builder *b, size_t n, size_t align);
/* Strings and vectors (not while a table is open). */
fb_ref fbb_string(fb_builder *b, const char *s);
/* A vector of n elements of elem_size bytes copied from data (may be NULL:
 * then *out, if given, receives the zeroed elements to fill in). The
 * elements start on a multiple of align (>= 4). */
fb_ref fbb_vector(fb_builder *b, const void *data, size_t n, size_t elem_size,
                  size_t align, uint8_t **out);
/* A vector of references to tables or strings. */
fb_ref fbb_vector_refs(fb_builder *b, const fb_ref *refs, size_t n);

/* Tables: start, add fields by id, end. Scalars equal to their schema
 * default may be left out by the caller. */
void fbb_table_start(fb_builder *b);
void fbb_add_u8(fb_builder *b, int id, uint8_t v);
void fbb_add_i32(fb_builder *b, int id, int32_t v);
void fbb_add_u32(fb_builder *b, int id, uint32_t v);
void fbb_add_u64(fb_builder *b, int id, uint64_t v);
void fbb_add_f32(fb_builder *b, int id, float v);
void fbb_add_ref(fb_builder *b, int id, fb_ref r); /* no-op for r == 0 */
fb_ref fbb_table_end(fb_builder *b);

/* Write the root offset and the 4-byte identifier; *data / *len then
 * describe the finished buffer (inside b, freed by fbb_free). */
bool fbb_finish(fb_builder *b, fb_ref root, const char ident[4],
                const uint8_t **data, size_t *len);

/* ---- reader ----------------------------------------------------------- */

typedef struct fb_file {
    const uint8_t *p;
    size_t n;
    nk_ctx *ctx;
    const char *path; /* for messages */
} fb_file;

/* An opened table: its position, vtable and the name used in errors
 * ("Tensor 12"). */
typedef struct fb_table {
    const fb_file *f;
    size_t pos, vt;
    unsigned vt_len, size;
    const char *what;
    long index;
} fb_table;

/* A vector: position of the first element and the element count, both
 * checked to lie inside the file. */
typedef struct fb_vec {
    size_t pos;
    uint32_t n;
} fb_vec;

/* Check the identifier (ident may be NULL) and open the root table. */
nk_status fb_root(const fb_file *f, const char *ident, const char *what,
                  fb_table *root);
/* Open the table at absolute position pos. */
nk_status fb_table_at(const fb_file *f, size_t pos, const char *what,
                      long index, fb_table *t);

/* Scalars: the default when absent. */
nk_status fb_u8(const fb_table *t, int id, const char *name, uint8_t def,
                uint8_t *out);
nk_status fb_i32(const fb_table *t, int id, const char *name, int32_t def,
                 int32_t *out);
nk_status fb_u32(const fb_table *t, int id, const char *name, uint32_t def,
                 uint32_t *out);
nk_status fb_u64(const fb_table *t, int id, const char *name, uint64_t def,
                 uint64_t *out);
nk_status fb_f32(const fb_table *t, int id, const char *name, float def,
                 float *out);
/* A string field: *s points into the file (NUL-terminated, checked) or is
 * NULL when absent. */
nk_status fb_str(const fb_table *t, int id, const char *name,
                 const char **s, uint32_t *len);
/* A vector field of elem_size-byte elements (n = 0 when absent). */
nk_status fb_vector(const fb_table *t, int id, const char *name,
                    size_t elem_size, fb_vec *v);
/* A table field; *present = false when absent. */
nk_status fb_subtable(const fb_table *t, int id, const char *name,
                      const char *what, fb_table *out, bool *present);
/* Element i of a vector of tables / strings. */
nk_status fb_vec_table(const fb_file *f, const fb_vec *v, uint32_t i,
                       const char *what, fb_table *out);
nk_status fb_vec_str(const fb_file *f, const fb_vec *v, uint32_t i,
                     const char *what, const char **s, uint32_t *len);

/* Element loads from a vector already checked by fb_vector. */
static inline int32_t fb_vec_i32(const fb_file *f, const fb_vec *v,
                                 uint32_t i)
{
    int32_t x;
    __builtin_memcpy(&x, f->p + v->pos + (size_t)i * 4, 4);
    return x;
}
static inline int64_t fb_vec_i64(const fb_file *f, const fb_vec *v,
                                 uint32_t i)
{
    int64_t x;
    __builtin_memcpy(&x, f->p + v->pos + (size_t)i * 8, 8);
    return x;
}
static inline float fb_vec_f32(const fb_file *f, const fb_vec *v, uint32_t i)
{
    float x;
    __builtin_memcpy(&x, f->p + v->pos + (size_t)i * 4, 4);
    return x;
}

#endif /* NK_FORMATS_TFLITE_FLATBUF_H */
