/*
 * nnk-read.c — loads a .nnk file (format in nnk.h): maps it read-only and
 * builds the graph with initializer data borrowed from the mapping. Every
 * count, index, offset and size is range-checked against the file.
 */
#include "formats/native/nnk.h"
#include "engine/op.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef struct nnk_reader {
    nk_ctx *ctx;
    const char *path;
    const uint8_t *base;
    size_t file_size;
    /* cursor over the tables section */
    const uint8_t *p, *end;
    const char *section; /* what is being read, for messages */
    const char **strs;
    uint32_t n_strs;
    const uint8_t *data;
    uint64_t data_size;
    nk_graph *g;
} nnk_reader;

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* Fail with "PATH: SECTION at offset N: message". */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static nk_status bad(nnk_reader *r, const char *fmt, ...)
{
    char msg[NK_ERRMSG_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nk_fail(r->ctx, NK_FORMAT, "%s: %s at offset %zu: %s", r->path,
                   r->section, (size_t)(r->p - r->base), msg);
}

/* A failure of an IR builder call caused by the file's content: name the
 * file and report it as a malformed file (out-of-memory stays NOMEM). */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static nk_status ir_fail(nnk_reader *r, nk_status st, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    nk_errmsg_prefix(r->ctx, "%s: %s", r->path, what);
    if (st == NK_NOMEM)
        return st;
    if (r->ctx)
        r->ctx->last = NK_FORMAT;
    return NK_FORMAT;
}

/* Ensure n more bytes in the current section. */
static nk_status need(nnk_reader *r, size_t n, const char *what)
{
    if ((size_t)(r->end - r->p) < n)
        return bad(r, "%s needs %zu bytes, only %zu left (file truncated or "
                      "corrupt)",
                   what, n, (size_t)(r->end - r->p));
    return NK_OK;
}

static nk_status get_u8(nnk_reader *r, const char *what, uint8_t *v)
{
    nk_status st = need(r, 1, what);
    if (!st)
        *v = *r->p++;
    return st;
}

static nk_status get_u32(nnk_reader *r, const char *what, uint32_t *v)
{
    nk_status st = need(r, 4, what);
    if (!st) {
        *v = rd32(r->p);
        r->p += 4;
    }
    return st;
}

static nk_status get_u64(nnk_reader *r, const char *what, uint64_t *v)
{
    nk_status st = need(r, 8, what);
    if (!st) {
        *v = rd64(r->p);
        r->p += 8;
    }
    return st;
}

static nk_status get_f32(nnk_reader *r, const char *what, float *v)
{
    uint32_t u;
    nk_status st = get_u32(r, what, &u);
    if (!st)
        memcpy(v, &u, 4);
    return st;
}

/* A count of items of at least `item` bytes each: bounded by what is left,
 * so a corrupt count cannot make us allocate or loop for long. */
static nk_status get_count(nnk_reader *r, const char *what, size_t item,
                           uint32_t max, uint32_t *v)
{
    nk_status st = get_u32(r, what, v);
    if (st)
        return st;
    size_t left = (size_t)(r->end - r->p);
    if (*v > max)
        return bad(r, "%s is %" PRIu32 ", at most %" PRIu32 " allowed", what,
                   *v, max);
    if (item && *v > left / item)
        return bad(r, "%s is %" PRIu32 " but only %zu bytes remain", what,
                   *v, left);
    return NK_OK;
}

/* A string reference; NULL for NNK_NOSTR when allow_null. */
static nk_status get_str(nnk_reader *r, const char *what, bool allow_null,
                         const char **s)
{
    uint32_t i;
    nk_status st = get_u32(r, what, &i);
    if (st)
        return st;
    if (i == NNK_NOSTR && allow_null) {
        *s = NULL;
        return NK_OK;
    }
    if (i >= r->n_strs)
        return bad(r, "%s refers to string %" PRIu32 ", table has %" PRIu32,
                   what, i, r->n_strs);
    *s = r->strs[i];
    return NK_OK;
}

static nk_status read_strings(nnk_reader *r, uint64_t off, uint64_t size)
{
    r->section = "string table";
    r->p = r->base + off;
    r->end = r->p + size;
    uint32_t n;
    nk_status st = get_count(r, "string count", 5, UINT32_MAX - 1, &n);
    if (st)
        return st;
    r->strs = nk_calloc(n ? n : 1, sizeof *r->strs);
    if (!r->strs)
        return nk_fail(r->ctx, NK_NOMEM, "%s: out of memory for %" PRIu32
                       " strings", r->path, n);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t len;
        if ((st = get_u32(r, "string length", &len)))
            return st;
        if ((size_t)(r->end - r->p) <= len)
            return bad(r, "string %" PRIu32 " has length %" PRIu32
                          " but only %zu bytes remain",
                       i, len, (size_t)(r->end - r->p));
        const char *s = (const char *)r->p;
        if (r->p[len] != 0 || memchr(s, 0, len))
            return bad(r, "string %" PRIu32 " is not %" PRIu32
                          " bytes followed by one NUL",
                       i, len);
        r->strs[i] = s;
        r->p += (size_t)len + 1;
    }
    r->n_strs = n;
    if (r->p != r->end)
        return bad(r, "%zu unexpected bytes after %" PRIu32 " strings",
                   (size_t)(r->end - r->p), n);
    return NK_OK;
}

/* A TENSOR record into *t (a fresh tensor: name and sym point into the
 * mapping until the caller copies them). */
static nk_status read_tensor(nnk_reader *r, const char *what, long idx,
                             nk_tensor *t, nk_quant *q, float **scale,
                             int32_t **zp)
{
    nk_status st;
    uint8_t dt, rank, flags, layout;
    memset(t, 0, sizeof *t);
    if ((st = get_str(r, "tensor name", false, &t->name)) ||
        (st = get_u8(r, "dtype", &dt)) || (st = get_u8(r, "rank", &rank)) ||
        (st = get_u8(r, "flags", &flags)) ||
        (st = get_u8(r, "layout", &layout)))
        return st;
    if (!t->name[0])
        return bad(r, "%s %ld has an empty name", what, idx);
    if (dt >= NK_DTYPE_COUNT)
        return bad(r, "%s %ld '%s' has dtype %u, expected 0..%d", what, idx,
                   t->name, dt, NK_DTYPE_COUNT - 1);
    if (rank > NK_MAX_RANK)
        return bad(r, "%s %ld '%s' has rank %u, expected 0..%d", what, idx,
                   t->name, rank, NK_MAX_RANK);
    if (flags & ~NNK_FLAG_ALL)
        return bad(r, "%s %ld '%s' has unknown flags 0x%02x", what, idx,
                   t->name, flags);
    if (layout >= NK_LAYOUT_COUNT)
        return bad(r, "%s %ld '%s' has layout %u, expected 0..%d", what, idx,
                   t->name, layout, NK_LAYOUT_COUNT - 1);
    t->dtype = (nk_dtype)dt;
    t->layout = (nk_layout)layout;
    t->shape.rank = rank;
    t->is_init = flags & NNK_FLAG_INIT;
    t->trainable = flags & NNK_FLAG_TRAINABLE;
    size_t nbytes = nk_dtype_size(t->dtype);
    bool is_static = true;
    for (int i = 0; i < rank; i++) {
        uint64_t d;
        if ((st = get_u64(r, "dim", &d)) ||
            (st = get_str(r, "dim name", true, &t->shape.sym[i])))
            return st;
        int64_t sd = (int64_t)d;
        if (sd < NK_DIM_SYM)
            return bad(r, "%s %ld '%s' dim %d is %" PRId64
                          ", expected >= 0 or -1 (symbolic)",
                       what, idx, t->name, i, sd);
        if (sd >= 0 && t->shape.sym[i])
            return bad(r, "%s %ld '%s' dim %d is %" PRId64
                          " but also named '%s'",
                       what, idx, t->name, i, sd, t->shape.sym[i]);
        t->shape.d[i] = sd;
        if (sd < 0)
            is_static = false;
        else if (!nk_mul_size(nbytes, (size_t)sd, &nbytes))
            nbytes = SIZE_MAX; /* rejected below if it has data */
    }
    if (flags & NNK_FLAG_QUANT) {
        uint32_t axis, n;
        if ((st = get_u32(r, "quantization axis", &axis)) ||
            (st = get_count(r, "quantization count", 8, INT32_MAX, &n)))
            return st;
        int32_t ax = (int32_t)axis;
        if (n < 1 || ax < -1 || ax >= (int32_t)rank)
            return bad(r, "%s %ld '%s' has quantization axis %" PRId32
                          " and count %" PRIu32 " (rank %u)",
                       what, idx, t->name, ax, n, rank);
        if (ax >= 0 && (uint64_t)t->shape.d[ax] != n)
            return bad(r, "%s %ld '%s' has %" PRIu32 " quantization "
                          "parameters, expected %" PRId64 " (dim %d)",
                       what, idx, t->name, n, t->shape.d[ax], ax);
        if (ax < 0 && n != 1)
            return bad(r, "%s %ld '%s' is quantized per tensor with %" PRIu32
                          " parameters, expected 1",
                       what, idx, t->name, n);
        *scale = nk_malloc((size_t)n * sizeof(float));
        *zp = nk_malloc((size_t)n * sizeof(int32_t));
        if (!*scale || !*zp)
            return nk_fail(r->ctx, NK_NOMEM, "%s: out of memory", r->path);
        for (uint32_t i = 0; i < n; i++)
            get_f32(r, "scale", &(*scale)[i]); /* count was range-checked */
        for (uint32_t i = 0; i < n; i++) {
            uint32_t z;
            get_u32(r, "zero point", &z);
            (*zp)[i] = (int32_t)z;
        }
        q->axis = ax;
        q->n = (int)n;
        q->scale = *scale;
        q->zero_point = *zp;
        t->quant = q;
    }
    if (flags & NNK_FLAG_DATA) {
        uint64_t off, size;
        if ((st = get_u64(r, "data offset", &off)) ||
            (st = get_u64(r, "data size", &size)))
            return st;
        if (!is_static)
            return bad(r, "%s %ld '%s' has data but a symbolic shape", what,
                       idx, t->name);
        if (size != nbytes)
            return bad(r, "%s %ld '%s' has %" PRIu64 " bytes of data, "
                          "expected %zu for its dtype and shape",
                       what, idx, t->name, size, nbytes);
        if (off % NNK_ALIGN)
            return bad(r, "%s %ld '%s' data offset %" PRIu64
                          " is not a multiple of %u",
                       what, idx, t->name, off, NNK_ALIGN);
        if (off > r->data_size || size > r->data_size - off)
            return bad(r, "%s %ld '%s' data [%" PRIu64 ", +%" PRIu64
                          ") lies outside the data section of %" PRIu64
                          " bytes",
                       what, idx, t->name, off, size, r->data_size);
        t->data = (void *)(r->data + off);
        t->nbytes = (size_t)size;
        t->storage = NK_STORE_BORROWED;
    }
    return NK_OK;
}

static nk_status copy_syms(nnk_reader *r, nk_shape *s)
{
    for (int i = 0; i < s->rank; i++)
        if (s->sym[i] && !(s->sym[i] = nk_graph_strdup(r->g, s->sym[i])))
            return nk_fail(r->ctx, NK_NOMEM, "%s: out of memory", r->path);
    return NK_OK;
}

static nk_status read_tensors(nnk_reader *r)
{
    uint32_t n;
    nk_status st;
    r->section = "tensor table";
    if ((st = get_count(r, "tensor count", 8, INT32_MAX, &n)))
        return st;
    for (uint32_t i = 0; i < n; i++) {
        nk_tensor t;
        nk_quant q;
        float *scale = NULL;
        int32_t *zp = NULL;
        int idx = -1;
        st = read_tensor(r, "tensor", (long)i, &t, &q, &scale, &zp);
        if (!st)
            st = copy_syms(r, &t.shape);
        if (!st && nk_graph_find_tensor(r->g, t.name) >= 0)
            st = bad(r, "tensor %" PRIu32 " '%s' has the name of an "
                        "earlier tensor",
                     i, t.name);
        if (!st) {
            st = nk_graph_add_tensor(r->ctx, r->g, t.name, t.dtype, &t.shape,
                                     &idx);
            if (st)
                st = ir_fail(r, st, "tensor %" PRIu32, i);
        }
        if (!st) {
            nk_tensor *gt = r->g->tensors[idx];
            gt->layout = t.layout;
            gt->is_init = t.is_init;
            gt->trainable = t.trainable;
            if (t.data) {
                gt->data = t.data;
                gt->nbytes = t.nbytes;
                gt->storage = NK_STORE_BORROWED;
            }
            if (t.quant &&
                (st = nk_tensor_set_quant(r->ctx, r->g, gt, q.axis, q.n,
                                          q.scale, q.zero_point)))
                st = ir_fail(r, st, "tensor %" PRIu32, i);
        }
        nk_free(scale);
        nk_free(zp);
        if (st)
            return st;
    }
    return NK_OK;
}

static nk_status get_index(nnk_reader *r, const char *what, long owner,
                           bool allow_none, int *idx)
{
    uint32_t u;
    nk_status st = get_u32(r, what, &u);
    if (st)
        return st;
    int32_t v = (int32_t)u;
    if ((v == NK_NO_INPUT && allow_none) ||
        (v >= 0 && v < r->g->n_tensors)) {
        *idx = v;
        return NK_OK;
    }
    return bad(r, "%s %d of node %ld is out of range (graph has %d tensors)",
               what, (int)v, owner, r->g->n_tensors);
}

/* An attribute of type TENSOR: the value lives in the graph's arena, its
 * data is borrowed from the mapping. */
static nk_status add_tensor_attr(nnk_reader *r, nk_node *node, const char *name,
                                 long ni)
{
    nk_tensor t;
    nk_quant q;
    float *scale = NULL;
    int32_t *zp = NULL;
    nk_status st = read_tensor(r, "attribute tensor", ni, &t, &q, &scale, &zp);
    nk_tensor *at = NULL;
    if (!st) {
        at = nk_arena_alloc(&r->g->arena, sizeof *at);
        if (!at || !(t.name = nk_graph_strdup(r->g, t.name)))
            st = nk_fail(r->ctx, NK_NOMEM, "%s: out of memory", r->path);
    }
    if (!st)
        st = copy_syms(r, &t.shape);
    if (!st) {
        *at = t;
        at->quant = NULL;
        if (t.quant &&
            (st = nk_tensor_set_quant(r->ctx, r->g, at, q.axis, q.n, q.scale,
                                      q.zero_point)))
            st = ir_fail(r, st, "node %ld attribute '%s'", ni, name);
    }
    /* There is no setter for tensor attributes: create the slot with the
     * IR's own allocator, then retype it. */
    if (!st)
        st = nk_node_set_int(r->ctx, r->g, node, name, 0);
    if (!st) {
        nk_attr *a = (nk_attr *)nk_node_attr(node, name);
        if (!a)
            st = nk_fail(r->ctx, NK_INTERNAL,
                         "%s: attribute '%s' vanished", r->path, name);
        else {
            a->type = NK_ATTR_TENSOR;
            a->t = at;
        }
    }
    nk_free(scale);
    nk_free(zp);
    return st;
}

static nk_status read_attr(nnk_reader *r, nk_node *node, long ni)
{
    const char *name;
    uint8_t type, pad[3];
    nk_status st;
    if ((st = get_str(r, "attribute name", false, &name)) ||
        (st = get_u8(r, "attribute type", &type)) ||
        (st = get_u8(r, "padding", &pad[0])) ||
        (st = get_u8(r, "padding", &pad[1])) ||
        (st = get_u8(r, "padding", &pad[2])))
        return st;
    if (nk_node_attr(node, name))
        return bad(r, "node %ld '%s' has attribute '%s' twice", ni,
                   node->name, name);
    nk_ctx *ctx = r->ctx;
    nk_graph *g = r->g;
    switch (type) {
    case NK_ATTR_INT: {
        uint64_t v;
        if ((st = get_u64(r, "int attribute", &v)))
            return st;
        return nk_node_set_int(ctx, g, node, name, (int64_t)v);
    }
    case NK_ATTR_FLOAT: {
        float v;
        if ((st = get_f32(r, "float attribute", &v)))
            return st;
        return nk_node_set_float(ctx, g, node, name, v);
    }
    case NK_ATTR_STRING: {
        const char *v;
        if ((st = get_str(r, "string attribute", false, &v)))
            return st;
        return nk_node_set_string(ctx, g, node, name, v);
    }
    case NK_ATTR_INTS:
    case NK_ATTR_FLOATS: {
        bool ints = type == NK_ATTR_INTS;
        uint32_t n;
        if ((st = get_count(r, "attribute value count", ints ? 8 : 4,
                            INT32_MAX, &n)))
            return st;
        void *v = nk_malloc((size_t)n * (ints ? 8 : 4) + 1);
        if (!v)
            return nk_fail(ctx, NK_NOMEM, "%s: out of memory", r->path);
        for (uint32_t i = 0; i < n; i++) {
            if (ints) {
                uint64_t x;
                get_u64(r, "int", &x); /* count was range-checked */
                ((int64_t *)v)[i] = (int64_t)x;
            } else {
                get_f32(r, "float", &((float *)v)[i]);
            }
        }
        st = ints ? nk_node_set_ints(ctx, g, node, name, (int)n, v)
                  : nk_node_set_floats(ctx, g, node, name, (int)n, v);
        nk_free(v);
        return st;
    }
    case NK_ATTR_TENSOR:
        return add_tensor_attr(r, node, name, ni);
    default:
        return bad(r, "node %ld '%s' attribute '%s' has type %u, expected "
                      "0..%d",
                   ni, node->name, name, type, NK_ATTR_TYPE_COUNT - 1);
    }
}

static nk_status read_nodes(nnk_reader *r)
{
    uint32_t n;
    nk_status st;
    r->section = "node table";
    if ((st = get_count(r, "node count", 28, INT32_MAX, &n)))
        return st;
    int *in = NULL, *out = NULL;
    for (uint32_t i = 0; i < n; i++) {
        const char *op_name, *name;
        uint8_t act, pad[3];
        float a0, a1;
        uint32_t n_in, n_out, n_attr;
        if ((st = get_str(r, "op type", false, &op_name)) ||
            (st = get_str(r, "node name", false, &name)) ||
            (st = get_u8(r, "activation", &act)) ||
            (st = get_u8(r, "padding", &pad[0])) ||
            (st = get_u8(r, "padding", &pad[1])) ||
            (st = get_u8(r, "padding", &pad[2])) ||
            (st = get_f32(r, "activation a0", &a0)) ||
            (st = get_f32(r, "activation a1", &a1)))
            break;
        nk_op op = nk_op_from_name(op_name);
        if (op == NK_OP_COUNT) {
            st = nk_fail(r->ctx, NK_UNSUPPORTED,
                         "%s: node %" PRIu32 " '%s' has op type '%s', which "
                         "this version of nnkit does not know",
                         r->path, i, name, op_name);
            break;
        }
        if (act >= NK_ACT_COUNT) {
            st = bad(r, "node %" PRIu32 " '%s' has fused activation %u, "
                        "expected 0..%d",
                     i, name, act, NK_ACT_COUNT - 1);
            break;
        }
        /* Counts are bounded by the bytes left, so these allocations are
         * never larger than the file. */
        if ((st = get_count(r, "node input count", 4, INT32_MAX, &n_in)))
            break;
        nk_free(in);
        nk_free(out);
        out = NULL;
        in = nk_malloc(sizeof(int) * ((size_t)n_in + 1));
        if (!in) {
            st = nk_fail(r->ctx, NK_NOMEM, "%s: out of memory", r->path);
            break;
        }
        for (uint32_t k = 0; !st && k < n_in; k++)
            st = get_index(r, "input", (long)i, true, &in[k]);
        if (!st)
            st = get_count(r, "node output count", 4, INT32_MAX, &n_out);
        if (!st && !(out = nk_malloc(sizeof(int) * ((size_t)n_out + 1))))
            st = nk_fail(r->ctx, NK_NOMEM, "%s: out of memory", r->path);
        for (uint32_t k = 0; !st && k < n_out; k++)
            st = get_index(r, "output", (long)i, false, &out[k]);
        if (st)
            break;
        nk_node *node;
        st = nk_graph_add_node(r->ctx, r->g, op, name, (int)n_in, in,
                               (int)n_out, out, &node);
        if (st) {
            st = ir_fail(r, st, "node %" PRIu32, i);
            break;
        }
        node->act = (nk_act)act;
        node->act_a0 = a0;
        node->act_a1 = a1;
        if ((st = get_count(r, "attribute count", 8, INT32_MAX, &n_attr)))
            break;
        for (uint32_t k = 0; !st && k < n_attr; k++)
            st = read_attr(r, node, (long)i);
        if (st)
            break;
    }
    nk_free(in);
    nk_free(out);
    return st;
}

static nk_status read_io(nnk_reader *r, bool outputs)
{
    uint32_t n;
    nk_status st;
    r->section = outputs ? "graph outputs" : "graph inputs";
    if ((st = get_count(r, outputs ? "output count" : "input count", 4,
                        INT32_MAX, &n)))
        return st;
    int *idx = nk_malloc(sizeof(int) * ((size_t)n + 1));
    if (!idx)
        return nk_fail(r->ctx, NK_NOMEM, "%s: out of memory", r->path);
    for (uint32_t i = 0; !st && i < n; i++) {
        uint32_t u;
        if ((st = get_u32(r, "tensor index", &u)))
            break;
        if ((int32_t)u < 0 || (int32_t)u >= r->g->n_tensors)
            st = bad(r, "%s %" PRIu32 " is tensor %d, graph has %d tensors",
                     outputs ? "output" : "input", i, (int)(int32_t)u,
                     r->g->n_tensors);
        idx[i] = (int)(int32_t)u;
    }
    if (!st &&
        (st = outputs ? nk_graph_set_outputs(r->ctx, r->g, (int)n, idx)
                      : nk_graph_set_inputs(r->ctx, r->g, (int)n, idx)))
        st = ir_fail(r, st, "%s", r->section);
    nk_free(idx);
    return st;
}

static nk_status read_meta(nnk_reader *r)
{
    uint32_t n;
    nk_status st;
    r->section = "metadata";
    if ((st = get_count(r, "label count", 4, INT32_MAX, &n)))
        return st;
    const char **labels = nk_malloc(sizeof(char *) * ((size_t)n + 1));
    if (!labels)
        return nk_fail(r->ctx, NK_NOMEM, "%s: out of memory", r->path);
    for (uint32_t i = 0; !st && i < n; i++)
        st = get_str(r, "label", false, &labels[i]);
    if (!st && n &&
        (st = nk_graph_set_labels(r->ctx, r->g, (int)n, labels)))
        st = ir_fail(r, st, "labels");
    nk_free(labels);
    if (st)
        return st;

    nk_preproc p;
    uint32_t v[5], tail[3];
    memset(&p, 0, sizeof p);
    for (int i = 0; !st && i < 5; i++)
        st = get_u32(r, "preprocessing field", &v[i]);
    if (!st)
        st = get_f32(r, "preprocessing scale", &p.scale);
    for (int i = 0; !st && i < 4; i++)
        st = get_f32(r, "preprocessing mean", &p.mean[i]);
    for (int i = 0; !st && i < 4; i++)
        st = get_f32(r, "preprocessing std", &p.std[i]);
    for (int i = 0; !st && i < 3; i++)
        st = get_u32(r, "preprocessing field", &tail[i]);
    if (st)
        return st;
    if (v[4] >= NK_RESIZE_COUNT)
        return bad(r, "preprocessing resize mode is %" PRIu32
                      ", expected 0..%d",
                   v[4], NK_RESIZE_COUNT - 1);
    p.valid = (int32_t)v[0];
    p.resize = (int32_t)v[1];
    p.crop_h = (int32_t)v[2];
    p.crop_w = (int32_t)v[3];
    p.resize_mode = (nk_resize_mode)v[4];
    p.channels = (int32_t)tail[0];
    p.bgr = (int32_t)tail[1];
    p.nhwc = (int32_t)tail[2];
    r->g->preproc = p;

    if ((st = get_count(r, "key/value count", 8, INT32_MAX, &n)))
        return st;
    for (uint32_t i = 0; i < n; i++) {
        const char *k, *val;
        if ((st = get_str(r, "key", false, &k)) ||
            (st = get_str(r, "value", false, &val)))
            return st;
        if ((st = nk_graph_meta_set(r->ctx, r->g, k, val)))
            return ir_fail(r, st, "metadata key '%s'", k);
    }
    return NK_OK;
}

int nk_nnk_bid(const uint8_t *head, size_t n, const char *path)
{
    (void)path;
    if (n >= 4 && memcmp(head, NNK_MAGIC, 4) == 0)
        return n >= 12 && rd32(head + 8) == NNK_BYTE_ORDER ? 100 : 90;
    return 0;
}

/* The fixed header: locate and check the sections. */
static nk_status read_header(nnk_reader *r, uint64_t *str_off,
                             uint64_t *str_size, uint64_t *tab_off,
                             uint64_t *tab_size)
{
    const uint8_t *h = r->base;
    size_t fs = r->file_size;
    r->section = "header";
    r->p = r->base;
    if (fs < 4 || memcmp(h, NNK_MAGIC, 4) != 0)
        return nk_fail(r->ctx, NK_FORMAT,
                       "%s: not a .nnk file (magic %02x %02x %02x %02x, "
                       "expected 4e 4e 4b 00)",
                       r->path, fs > 0 ? h[0] : 0, fs > 1 ? h[1] : 0,
                       fs > 2 ? h[2] : 0, fs > 3 ? h[3] : 0);
    if (fs < NNK_HEADER_SIZE)
        return nk_fail(r->ctx, NK_FORMAT,
                       "%s: file is %zu bytes, shorter than the %u-byte "
                       ".nnk header (truncated)",
                       r->path, fs, NNK_HEADER_SIZE);
    uint32_t version = rd32(h + 4), bom = rd32(h + 8), align = rd32(h + 12);
    if (version == 0 || version > NNK_VERSION)
        return nk_fail(r->ctx, version ? NK_UNSUPPORTED : NK_FORMAT,
                       "%s: .nnk version %" PRIu32 ", this nnkit reads "
                       "version 1 to %u%s",
                       r->path, version, NNK_VERSION,
                       version ? " (written by a newer nnkit?)" : "");
    if (bom != NNK_BYTE_ORDER)
        return nk_fail(r->ctx, NK_FORMAT,
                       "%s: byte-order mark 0x%08" PRIx32 ", expected "
                       "0x%08x",
                       r->path, bom, NNK_BYTE_ORDER);
    if (align != NNK_ALIGN)
        return nk_fail(r->ctx, NK_FORMAT,
                       "%s: alignment %" PRIu32 ", expected %u", r->path,
                       align, NNK_ALIGN);
    uint64_t file_size = rd64(h + 16);
    if (file_size != fs)
        return nk_fail(r->ctx, NK_FORMAT,
                       "%s: file is %zu bytes, header says %" PRIu64 "%s",
                       r->path, fs, file_size,
                       fs < file_size ? " (truncated)" : "");
    static const char *names[3] = {"string table", "tables", "data"};
    uint64_t off[3], size[3];
    for (int i = 0; i < 3; i++) {
        off[i] = rd64(h + 24 + 16 * i);
        size[i] = rd64(h + 32 + 16 * i);
        if (off[i] < NNK_HEADER_SIZE || off[i] > fs || size[i] > fs - off[i])
            return nk_fail(r->ctx, NK_FORMAT,
                           "%s: %s section [%" PRIu64 ", +%" PRIu64
                           ") lies outside the file of %zu bytes",
                           r->path, names[i], off[i], size[i], fs);
    }
    if (off[2] % NNK_ALIGN)
        return nk_fail(r->ctx, NK_FORMAT,
                       "%s: data section offset %" PRIu64
                       " is not a multiple of %u",
                       r->path, off[2], NNK_ALIGN);
    *str_off = off[0];
    *str_size = size[0];
    *tab_off = off[1];
    *tab_size = size[1];
    r->data = r->base + off[2];
    r->data_size = size[2];
    return NK_OK;
}

nk_status nk_nnk_load(nk_ctx *ctx, const char *path, nk_graph **out)
{
    if (!path || !out)
        return nk_fail(ctx, NK_INVALID_ARG, "nk_nnk_load: NULL %s",
                       path ? "out" : "path");
    *out = NULL;
    void *addr = NULL;
    size_t len = 0;
    nk_status st = nk_file_map(ctx, path, &addr, &len);
    if (st)
        return st;
    nnk_reader r = {.ctx = ctx, .path = path, .base = addr, .file_size = len};
    uint64_t so = 0, ss = 0, to = 0, ts = 0;
    st = read_header(&r, &so, &ss, &to, &ts);
    if (st) {
        nk_file_unmap(addr, len);
        return st;
    }
    st = nk_graph_new(ctx, &r.g);
    if (st) {
        nk_file_unmap(addr, len);
        return st;
    }
    /* From here the graph owns the mapping and unmaps it when freed. */
    st = nk_graph_adopt_mapping(ctx, r.g, addr, len);
    if (st) {
        nk_file_unmap(addr, len);
        nk_graph_free(r.g);
        return st;
    }
    st = read_strings(&r, so, ss);
    if (!st) {
        r.p = r.base + to;
        r.end = r.p + ts;
        st = read_tensors(&r);
    }
    if (!st)
        st = read_nodes(&r);
    if (!st)
        st = read_io(&r, false);
    if (!st)
        st = read_io(&r, true);
    if (!st)
        st = read_meta(&r);
    if (!st && r.p != r.end) {
        r.section = "tables";
        st = bad(&r, "%zu unexpected bytes after the metadata",
                 (size_t)(r.end - r.p));
    }
    nk_free(r.strs);
    if (st) {
        nk_graph_free(r.g);
        return st;
    }
    *out = r.g;
    return NK_OK;
}
