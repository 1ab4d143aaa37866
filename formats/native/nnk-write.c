/*
 * nnk-write.c — writes a graph as a .nnk file (format in nnk.h): string
 * and table sections are built in memory, then header, tables and the
 * 64-byte aligned tensor data are streamed through an atomic nk_writer.
 */
#include "formats/native/nnk.h"
#include "engine/op.h"

#include <string.h>

typedef struct nnk_buf {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} nnk_buf;

typedef struct nnk_blob {
    const void *data;
    size_t nbytes;
    uint64_t offset; /* relative to the data section */
} nnk_blob;

typedef struct nnk_writer_state {
    nk_ctx *ctx;
    const char *path;
    nnk_buf strings, tables;
    uint32_t n_strings;
    /* open-addressing set of string -> index, for deduplication */
    const char **skeys;
    uint32_t *svals;
    size_t scap;
    nnk_blob *blobs;
    size_t n_blobs, cap_blobs;
    uint64_t data_size;
} nnk_ws;

static void buf_put(nnk_buf *b, const void *p, size_t n)
{
    if (b->oom)
        return;
    if (n > b->cap - b->n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->n < n) {
            if (cap > SIZE_MAX / 2) {
                b->oom = true;
                return;
            }
            cap *= 2;
        }
        uint8_t *q = nk_realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void put_u8(nnk_buf *b, uint8_t v) { buf_put(b, &v, 1); }

static void put_u32(nnk_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
                    (uint8_t)(v >> 24)};
    buf_put(b, x, 4);
}

static void put_u64(nnk_buf *b, uint64_t v)
{
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

static void put_i32(nnk_buf *b, int32_t v) { put_u32(b, (uint32_t)v); }
static void put_i64(nnk_buf *b, int64_t v) { put_u64(b, (uint64_t)v); }

static void put_f32(nnk_buf *b, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    put_u32(b, u);
}

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* Index of s in the string table (added if new); NNK_NOSTR for NULL. */
static uint32_t intern(nnk_ws *w, const char *s)
{
    if (!s)
        return NNK_NOSTR;
    if ((size_t)w->n_strings * 2 >= w->scap) {
        size_t ncap = w->scap ? w->scap * 2 : 256;
        const char **nk = nk_calloc(ncap, sizeof *nk);
        uint32_t *nv = nk_calloc(ncap, sizeof *nv);
        if (!nk || !nv) {
            nk_free(nk);
            nk_free(nv);
            w->strings.oom = true;
            return NNK_NOSTR;
        }
        for (size_t i = 0; i < w->scap; i++) {
            if (!w->skeys[i])
                continue;
            size_t j = str_hash(w->skeys[i]) & (ncap - 1);
            while (nk[j])
                j = (j + 1) & (ncap - 1);
            nk[j] = w->skeys[i];
            nv[j] = w->svals[i];
        }
        nk_free(w->skeys);
        nk_free(w->svals);
        w->skeys = nk;
        w->svals = nv;
        w->scap = ncap;
    }
    size_t j = str_hash(s) & (w->scap - 1);
    while (w->skeys[j]) {
        if (strcmp(w->skeys[j], s) == 0)
            return w->svals[j];
        j = (j + 1) & (w->scap - 1);
    }
    size_t len = strlen(s);
    if (len > UINT32_MAX - 1) {
        w->strings.oom = true;
        return NNK_NOSTR;
    }
    w->skeys[j] = s;
    w->svals[j] = w->n_strings;
    put_u32(&w->strings, (uint32_t)len);
    buf_put(&w->strings, s, len + 1);
    return w->n_strings++;
}

static nk_status add_blob(nnk_ws *w, const void *data, size_t nbytes,
                          uint64_t *offset)
{
    if (w->n_blobs == w->cap_blobs) {
        size_t ncap = w->cap_blobs ? w->cap_blobs * 2 : 64;
        nnk_blob *nb = nk_realloc(w->blobs, ncap * sizeof *nb);
        if (!nb)
            return nk_fail(w->ctx, NK_NOMEM, "%s: out of memory", w->path);
        w->blobs = nb;
        w->cap_blobs = ncap;
    }
    uint64_t off = (w->data_size + NNK_ALIGN - 1) / NNK_ALIGN * NNK_ALIGN;
    w->blobs[w->n_blobs++] = (nnk_blob){data, nbytes, off};
    w->data_size = off + nbytes;
    *offset = off;
    return NK_OK;
}

/* A tensor record (see nnk.h); `what` names it in errors. */
static nk_status put_tensor(nnk_ws *w, const nk_tensor *t, const char *what)
{
    const char *name = t->name ? t->name : "";
    if ((unsigned)t->dtype >= NK_DTYPE_COUNT)
        return nk_fail(w->ctx, NK_INVALID_ARG,
                       "%s: %s '%s' has invalid dtype %d", w->path, what,
                       name, (int)t->dtype);
    if (t->shape.rank < 0 || t->shape.rank > NK_MAX_RANK)
        return nk_fail(w->ctx, NK_INVALID_ARG,
                       "%s: %s '%s' has rank %d, expected 0..%d", w->path,
                       what, name, t->shape.rank, NK_MAX_RANK);
    bool has_data = t->data != NULL;
    uint8_t flags = (t->is_init ? NNK_FLAG_INIT : 0) |
                    (t->trainable ? NNK_FLAG_TRAINABLE : 0) |
                    (has_data ? NNK_FLAG_DATA : 0) |
                    (t->quant ? NNK_FLAG_QUANT : 0);
    put_u32(&w->tables, intern(w, name));
    put_u8(&w->tables, (uint8_t)t->dtype);
    put_u8(&w->tables, (uint8_t)t->shape.rank);
    put_u8(&w->tables, flags);
    put_u8(&w->tables, (uint8_t)t->layout);
    size_t want = nk_dtype_size(t->dtype);
    for (int i = 0; i < t->shape.rank; i++) {
        int64_t d = t->shape.d[i];
        if (d < 0 && d != NK_DIM_SYM)
            return nk_fail(w->ctx, NK_INVALID_ARG,
                           "%s: %s '%s' dim %d is %lld", w->path, what, name,
                           i, (long long)d);
        put_i64(&w->tables, d);
        put_u32(&w->tables,
                d == NK_DIM_SYM ? intern(w, t->shape.sym[i]) : NNK_NOSTR);
        if (has_data && (d < 0 || !nk_mul_size(want, (size_t)d, &want)))
            return nk_fail(w->ctx, NK_INVALID_ARG,
                           "%s: %s '%s' has data but dim %d is %lld",
                           w->path, what, name, i, (long long)d);
    }
    if (t->quant) {
        const nk_quant *q = t->quant;
        if (q->n < 1 || !q->scale || !q->zero_point)
            return nk_fail(w->ctx, NK_INVALID_ARG,
                           "%s: %s '%s' has %d quantization parameters",
                           w->path, what, name, q->n);
        put_i32(&w->tables, q->axis);
        put_u32(&w->tables, (uint32_t)q->n);
        for (int i = 0; i < q->n; i++)
            put_f32(&w->tables, q->scale[i]);
        for (int i = 0; i < q->n; i++)
            put_i32(&w->tables, q->zero_point[i]);
    }
    if (has_data) {
        if (t->nbytes != want)
            return nk_fail(w->ctx, NK_INVALID_ARG,
                           "%s: %s '%s' has %zu bytes of data, expected %zu",
                           w->path, what, name, t->nbytes, want);
        uint64_t off = 0;
        nk_status st = add_blob(w, t->data, want, &off);
        if (st)
            return st;
        put_u64(&w->tables, off);
        put_u64(&w->tables, want);
    }
    return NK_OK;
}

static nk_status put_attr(nnk_ws *w, const nk_node *n, const nk_attr *a)
{
    put_u32(&w->tables, intern(w, a->name ? a->name : ""));
    put_u8(&w->tables, (uint8_t)a->type);
    put_u8(&w->tables, 0);
    put_u8(&w->tables, 0);
    put_u8(&w->tables, 0);
    switch (a->type) {
    case NK_ATTR_INT:
        put_i64(&w->tables, a->i);
        return NK_OK;
    case NK_ATTR_FLOAT:
        put_f32(&w->tables, a->f);
        return NK_OK;
    case NK_ATTR_STRING:
        put_u32(&w->tables, intern(w, a->s ? a->s : ""));
        return NK_OK;
    case NK_ATTR_INTS:
        put_u32(&w->tables, (uint32_t)(a->n > 0 ? a->n : 0));
        for (int i = 0; i < a->n; i++)
            put_i64(&w->tables, a->ints[i]);
        return NK_OK;
    case NK_ATTR_FLOATS:
        put_u32(&w->tables, (uint32_t)(a->n > 0 ? a->n : 0));
        for (int i = 0; i < a->n; i++)
            put_f32(&w->tables, a->floats[i]);
        return NK_OK;
    case NK_ATTR_TENSOR:
        if (!a->t)
            return nk_fail(w->ctx, NK_INVALID_ARG,
                           "%s: node '%s' attribute '%s' has no tensor",
                           w->path, n->name ? n->name : "", a->name);
        return put_tensor(w, a->t, "attribute tensor");
    default:
        return nk_fail(w->ctx, NK_INVALID_ARG,
                       "%s: node '%s' attribute '%s' has invalid type %d",
                       w->path, n->name ? n->name : "",
                       a->name ? a->name : "", (int)a->type);
    }
}

static nk_status put_index(nnk_ws *w, int idx, const nk_graph *g,
                           const char *what)
{
    if (idx != NK_NO_INPUT && (idx < 0 || idx >= g->n_tensors))
        return nk_fail(w->ctx, NK_INVALID_ARG,
                       "%s: %s refers to tensor %d, graph has %d", w->path,
                       what, idx, g->n_tensors);
    put_i32(&w->tables, idx);
    return NK_OK;
}

static nk_status build_tables(nnk_ws *w, const nk_graph *g)
{
    nk_status st;
    put_u32(&w->tables, (uint32_t)g->n_tensors);
    for (int i = 0; i < g->n_tensors; i++)
        if ((st = put_tensor(w, g->tensors[i], "tensor")))
            return st;
    put_u32(&w->tables, (uint32_t)g->n_nodes);
    for (int i = 0; i < g->n_nodes; i++) {
        const nk_node *n = &g->nodes[i];
        const char *op = (unsigned)n->op < NK_OP_COUNT ? nk_op_name(n->op)
                                                       : NULL;
        if (!op)
            return nk_fail(w->ctx, NK_INVALID_ARG,
                           "%s: node %d has invalid op %d", w->path, i,
                           (int)n->op);
        put_u32(&w->tables, intern(w, op));
        put_u32(&w->tables, intern(w, n->name ? n->name : ""));
        put_u8(&w->tables, (uint8_t)n->act);
        put_u8(&w->tables, 0);
        put_u8(&w->tables, 0);
        put_u8(&w->tables, 0);
        put_f32(&w->tables, n->act_a0);
        put_f32(&w->tables, n->act_a1);
        put_u32(&w->tables, (uint32_t)n->n_in);
        for (int k = 0; k < n->n_in; k++)
            if ((st = put_index(w, n->in[k], g, "node input")))
                return st;
        put_u32(&w->tables, (uint32_t)n->n_out);
        for (int k = 0; k < n->n_out; k++)
            if ((st = put_index(w, n->out[k], g, "node output")))
                return st;
        put_u32(&w->tables, (uint32_t)n->n_attr);
        for (int k = 0; k < n->n_attr; k++)
            if ((st = put_attr(w, n, &n->attr[k])))
                return st;
    }
    put_u32(&w->tables, (uint32_t)g->n_inputs);
    for (int i = 0; i < g->n_inputs; i++)
        if ((st = put_index(w, g->inputs[i], g, "graph input")))
            return st;
    put_u32(&w->tables, (uint32_t)g->n_outputs);
    for (int i = 0; i < g->n_outputs; i++)
        if ((st = put_index(w, g->outputs[i], g, "graph output")))
            return st;

    put_u32(&w->tables, (uint32_t)g->n_labels);
    for (int i = 0; i < g->n_labels; i++)
        put_u32(&w->tables, intern(w, g->labels[i] ? g->labels[i] : ""));
    const nk_preproc *p = &g->preproc;
    put_i32(&w->tables, p->valid);
    put_i32(&w->tables, p->resize);
    put_i32(&w->tables, p->crop_h);
    put_i32(&w->tables, p->crop_w);
    put_i32(&w->tables, (int32_t)p->resize_mode);
    put_f32(&w->tables, p->scale);
    for (int i = 0; i < 4; i++)
        put_f32(&w->tables, p->mean[i]);
    for (int i = 0; i < 4; i++)
        put_f32(&w->tables, p->std[i]);
    put_i32(&w->tables, p->channels);
    put_i32(&w->tables, p->bgr);
    put_i32(&w->tables, p->nhwc);
    put_u32(&w->tables, (uint32_t)g->n_meta);
    for (int i = 0; i < g->n_meta; i++) {
        put_u32(&w->tables, intern(w, g->meta[i].key));
        put_u32(&w->tables,
                intern(w, g->meta[i].value ? g->meta[i].value : ""));
    }
    if (w->tables.oom || w->strings.oom)
        return nk_fail(w->ctx, NK_NOMEM, "%s: out of memory building tables",
                       w->path);
    return NK_OK;
}

static nk_status write_file(nnk_ws *w)
{
    nk_ctx *ctx = w->ctx;
    /* The string count goes first in its section; it is known only now. */
    nnk_buf head = {0};
    put_u32(&head, w->n_strings);
    if (head.oom)
        return nk_fail(ctx, NK_NOMEM, "%s: out of memory", w->path);

    uint64_t strings_off = NNK_HEADER_SIZE;
    uint64_t strings_size = 4 + (uint64_t)w->strings.n;
    uint64_t tables_off = strings_off + strings_size;
    uint64_t tables_size = w->tables.n;
    uint64_t data_off = (tables_off + tables_size + NNK_ALIGN - 1) /
                        NNK_ALIGN * NNK_ALIGN;
    uint64_t file_size = data_off + w->data_size;

    nnk_buf h = {0};
    buf_put(&h, NNK_MAGIC, 4);
    put_u32(&h, NNK_VERSION);
    put_u32(&h, NNK_BYTE_ORDER);
    put_u32(&h, NNK_ALIGN);
    put_u64(&h, file_size);
    put_u64(&h, strings_off);
    put_u64(&h, strings_size);
    put_u64(&h, tables_off);
    put_u64(&h, tables_size);
    put_u64(&h, data_off);
    put_u64(&h, w->data_size);
    while (!h.oom && h.n < NNK_HEADER_SIZE)
        put_u8(&h, 0);
    if (h.oom) {
        nk_free(head.p);
        nk_free(h.p);
        return nk_fail(ctx, NK_NOMEM, "%s: out of memory", w->path);
    }

    nk_writer wr;
    nk_status st = nk_writer_open(ctx, &wr, w->path);
    if (st) {
        nk_free(head.p);
        nk_free(h.p);
        return st;
    }
    st = nk_writer_write(ctx, &wr, h.p, h.n);
    if (!st)
        st = nk_writer_write(ctx, &wr, head.p, head.n);
    if (!st && w->strings.n)
        st = nk_writer_write(ctx, &wr, w->strings.p, w->strings.n);
    if (!st && w->tables.n)
        st = nk_writer_write(ctx, &wr, w->tables.p, w->tables.n);
    if (!st)
        st = nk_writer_pad_to(ctx, &wr, NNK_ALIGN);
    for (size_t i = 0; !st && i < w->n_blobs; i++) {
        st = nk_writer_pad_to(ctx, &wr, NNK_ALIGN);
        if (!st && w->blobs[i].nbytes)
            st = nk_writer_write(ctx, &wr, w->blobs[i].data,
                                 w->blobs[i].nbytes);
    }
    nk_free(head.p);
    nk_free(h.p);
    if (st) {
        nk_writer_abort(&wr);
        return st;
    }
    return nk_writer_commit(ctx, &wr);
}

nk_status nk_nnk_save(nk_ctx *ctx, const nk_graph *g, const char *path)
{
    if (!g || !path)
        return nk_fail(ctx, NK_INVALID_ARG, "nk_nnk_save: NULL %s",
                       g ? "path" : "graph");
    nnk_ws w = {.ctx = ctx, .path = path};
    nk_status st = build_tables(&w, g);
    if (!st)
        st = write_file(&w);
    nk_free(w.strings.p);
    nk_free(w.tables.p);
    nk_free(w.skeys);
    nk_free(w.svals);
    nk_free(w.blobs);
    return st;
}
