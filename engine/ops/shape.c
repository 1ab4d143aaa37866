/*
 * shape.c — ops that only move data: Flatten, Reshape and Identity (a copy
 * with a new shape), Transpose, Concat and Pad. Shape inference and the
 * reference kernels, with ONNX semantics.
 */
#include "engine/kernels/kernels-impl.h"
#include "engine/op.h"

#include <string.h>

/* Element count of s with overflow and negative-dim checks. */
static bool shape_count(const nk_shape *s, int64_t *out)
{
    int64_t c = 1;
    for (int i = 0; i < s->rank; i++) {
        if (s->d[i] < 0 || __builtin_mul_overflow(c, s->d[i], &c))
            return false;
    }
    *out = c;
    return true;
}

static nk_status need_io(nk_ctx *ctx, const nk_node *n, nk_tensor *const *in,
                         int n_in, nk_tensor *const *out, int n_out)
{
    if (n_in < 1 || !in[0])
        return nk_fail_node(ctx, NK_INVALID_ARG, n, "input 0 is missing");
    if (n_out < 1 || !out[0])
        return nk_fail_node(ctx, NK_INVALID_ARG, n, "output 0 is missing");
    if (in[0]->shape.rank < 0 || in[0]->shape.rank > NK_MAX_RANK)
        return nk_fail_node(ctx, NK_SHAPE, n, "input rank %d, expected 0..%d",
                            in[0]->shape.rank, NK_MAX_RANK);
    return NK_OK;
}

static nk_status bad_count(nk_ctx *ctx, const nk_node *n, const nk_shape *s)
{
    char buf[128];
    return nk_fail_node(ctx, NK_SHAPE, n,
                        "input shape %s has a negative dim or too many "
                        "elements", nk_shape_str(s, buf, sizeof buf));
}

/* ---- Flatten ------------------------------------------------------------ */

nk_status nk_infer_flatten(nk_ctx *ctx, const nk_node *n, nk_tensor *const *in,
                           int n_in, nk_tensor *const *out, int n_out)
{
    nk_status st = need_io(ctx, n, in, n_in, out, n_out);
    if (st != NK_OK)
        return st;
    const nk_shape *s = &in[0]->shape;
    int64_t axis = nk_node_int(n, "axis", 1);
    if (axis < -s->rank || axis > s->rank)
        return nk_fail_node(ctx, NK_INVALID_ARG, n,
                            "axis %lld out of range [%d, %d]",
                            (long long)axis, -s->rank, s->rank);
    if (axis < 0)
        axis += s->rank;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < s->rank; i++) {
        int64_t *acc = i < axis ? &outer : &inner;
        if (s->d[i] < 0 || __builtin_mul_overflow(*acc, s->d[i], acc))
            return bad_count(ctx, n, s);
    }
    int64_t dims[2] = {outer, inner};
    out[0]->dtype = in[0]->dtype;
    out[0]->shape = nk_shape_make(2, dims);
    return NK_OK;
}

/* ---- Reshape ------------------------------------------------------------ */

nk_status nk_infer_reshape(nk_ctx *ctx, const nk_node *n, nk_tensor *const *in,
                           int n_in, nk_tensor *const *out, int n_out)
{
    nk_status st = need_io(ctx, n, in, n_in, out, n_out);
    if (st != NK_OK)
        return st;
    if (n_in < 2 || !in[1])
        return nk_fail_node(ctx, NK_INVALID_ARG, n,
                            "input 1 (shape) is missing");
    const nk_tensor *t = in[1];
    if (t->dtype != NK_I64)
        return nk_fail_node(ctx, NK_INVALID_ARG, n,
                            "shape input '%s' has dtype %s, expected i64",
                            t->name, nk_dtype_name(t->dtype));
    if (!t->data)
        return nk_fail_node(ctx, NK_UNSUPPORTED, n,
                            "shape input '%s' is computed at run time; only "
                            "a constant shape is supported", t->name);
    if (t->shape.rank != 1)
        return nk_fail_node(ctx, NK_SHAPE, n,
                            "shape input '%s' has rank %d, expected 1",
                            t->name, t->shape.rank);
    int64_t k = t->shape.d[0];
    if (k < 0 || k > NK_MAX_RANK)
        return nk_fail_node(ctx, NK_UNSUPPORTED, n,
                            "shape input '%s' has %lld values, expected "
                            "0..%d", t->name, (long long)k, NK_MAX_RANK);
    if (t->nbytes < (size_t)k * sizeof(int64_t))
        return nk_fail_node(ctx, NK_FORMAT, n,
                            "shape input '%s' has %zu bytes, expected %zu",
                            t->name, t->nbytes,
                            (size_t)k * sizeof(int64_t));
    const nk_shape *s = &in[0]->shape;
    int64_t total;
    if (!shape_count(s, &total))
        return bad_count(ctx, n, s);
    bool allowzero = nk_node_int(n, "allowzero", 0) != 0;
    int64_t dims[NK_MAX_RANK], known = 1;
    int infer_at = -1;
    for (int i = 0; i < (int)k; i++) {
        int64_t v;
        memcpy(&v, (const char *)t->data + (size_t)i * sizeof v, sizeof v);
        if (v == 0 && !allowzero) {
            if (i >= s->rank)
                return nk_fail_node(ctx, NK_SHAPE, n,
                                    "shape[%d] = 0 copies input dim %d, but "
                                    "the input has rank %d", i, i, s->rank);
            v = s->d[i];
        } else if (v == -1) {
            if (infer_at >= 0)
                return nk_fail_node(ctx, NK_INVALID_ARG, n,
                                    "shape has -1 at %d and %d, expected at "
                                    "most one", infer_at, i);
            infer_at = i;
            dims[i] = -1;
            continue;
        } else if (v < 0) {
            return nk_fail_node(ctx, NK_INVALID_ARG, n,
                                "shape[%d] = %lld, expected >= -1", i,
                                (long long)v);
        }
        dims[i] = v;
        if (__builtin_mul_overflow(known, v, &known))
            return nk_fail_node(ctx, NK_SHAPE, n,
                                "shape has too many elements");
    }
    if (infer_at >= 0) {
        if (known == 0 || total % known != 0) {
            char buf[128];
            return nk_fail_node(ctx, NK_SHAPE, n,
                                "cannot infer the -1 dim: input %s has %lld "
                                "elements, not a multiple of %lld",
                                nk_shape_str(s, buf, sizeof buf),
                                (long long)total, (long long)known);
        }
        dims[infer_at] = total / known;
        known = total;
    }
    if (known != total) {
        char buf[128];
        return nk_fail_node(ctx, NK_SHAPE, n,
                            "input %s has %lld elements, the target shape "
                            "%lld", nk_shape_str(s, buf, sizeof buf),
                            (long long)total, (long long)known);
    }
    out[0]->dtype = in[0]->dtype;
    out[0]->shape = nk_shape_make((int)k, dims);
    return NK_OK;
}

/* Flatten, Reshape, Identity: the bytes do not change, only the shape. */
void nk_copy_ref(const nk_step *st, int ith, int nth)
{
    const nk_tensor *x = st->in[0];
    nk_tensor *y = st->out[0];
    if (x->data == y->data)
        return;
    int64_t cnt = nk_shape_numel(&y->shape), cx = nk_shape_numel(&x->shape);
    if (cx < cnt)
        cnt = cx;
    int64_t nbytes = cnt * (int64_t)nk_dtype_size(y->dtype), b, e;
    nk_split(nbytes, ith, nth, &b, &e);
    if (b < e)
        memcpy((char *)y->data + b, (const char *)x->data + b,
               (size_t)(e - b));
}

/* ---- Transpose ---------------------------------------------------------- */

/* Reads and validates perm (default: reversed dims) into p[0..rank). */
static nk_status get_perm(nk_ctx *ctx, const nk_node *n, int rank, int *p)
{
    int64_t v[NK_MAX_RANK];
    const nk_attr *a = nk_node_attr(n, "perm");
    if (!a) {
        for (int i = 0; i < rank; i++)
            p[i] = rank - 1 - i;
        return NK_OK;
    }
    if (a->type != NK_ATTR_INTS || a->n != rank)
        return nk_fail_node(ctx, NK_INVALID_ARG, n,
                            "perm has %d values, expected %d (the input "
                            "rank)", a->type == NK_ATTR_INTS ? a->n : 0,
                            rank);
    nk_node_ints(n, "perm", v, NK_MAX_RANK);
    bool seen[NK_MAX_RANK] = {false};
    for (int i = 0; i < rank; i++) {
        if (v[i] < 0 || v[i] >= rank || seen[v[i]])
            return nk_fail_node(ctx, NK_INVALID_ARG, n,
                                "perm[%d] = %lld is out of range or "
                                "repeated; expected a permutation of 0..%d",
                                i, (long long)v[i], rank - 1);
        seen[v[i]] = true;
        p[i] = (int)v[i];
    }
    return NK_OK;
}

nk_status nk_infer_transpose(nk_ctx *ctx, const nk_node *n,
                             nk_tensor *const *in, int n_in,
                             nk_tensor *const *out, int n_out)
{
    nk_status st = need_io(ctx, n, in, n_in, out, n_out);
    if (st != NK_OK)
        return st;
    const nk_shape *s = &in[0]->shape;
    int perm[NK_MAX_RANK];
    if ((st = get_perm(ctx, n, s->rank, perm)))
        return st;
    nk_shape o;
    memset(&o, 0, sizeof o);
    o.rank = s->rank;
    for (int i = 0; i < s->rank; i++) {
        o.d[i] = s->d[perm[i]];
        o.sym[i] = s->sym[perm[i]];
    }
    out[0]->dtype = in[0]->dtype;
    out[0]->shape = o;
    return NK_OK;
}

typedef struct transpose_params {
    int rank;                 /* after coalescing, >= 1 */
    int64_t n;
    int64_t dim[NK_MAX_RANK]; /* output dims */
    int64_t str[NK_MAX_RANK]; /* input element stride of each output dim */
} transpose_params;

nk_status nk_transpose_prepare(nk_ctx *ctx, nk_step *st)
{
    const nk_node *n = st->node;
    const nk_shape *s = &st->in[0]->shape;
    if (st->in[0]->dtype != NK_F32)
        return nk_fail_node(ctx, NK_UNSUPPORTED, n, "dtype %s, expected f32",
                            nk_dtype_name(st->in[0]->dtype));
    int perm[NK_MAX_RANK];
    nk_status rc = get_perm(ctx, n, s->rank, perm);
    if (rc != NK_OK)
        return rc;
    int64_t istr[NK_MAX_RANK], acc = 1;
    for (int i = s->rank - 1; i >= 0; i--) {
        istr[i] = acc;
        acc *= s->d[i];
    }
    transpose_params *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory", n->name);
    /* Unit dims go; output neighbours contiguous in the input merge. */
    int r = 0;
    for (int i = 0; i < s->rank; i++) {
        int64_t d = s->d[perm[i]], str = istr[perm[i]];
        if (d == 1)
            continue;
        if (r > 0 && p->str[r - 1] == str * d) {
            p->dim[r - 1] *= d;
            p->str[r - 1] = str;
            continue;
        }
        p->dim[r] = d;
        p->str[r] = str;
        r++;
    }
    if (r == 0) {
        p->dim[0] = 1;
        p->str[0] = 1;
        r = 1;
    }
    p->rank = r;
    p->n = nk_shape_numel(s);
    st->params = p;
    return NK_OK;
}

void nk_transpose_ref(const nk_step *st, int ith, int nth)
{
    const transpose_params *p = st->params;
    const float *x = st->in[0]->data;
    float *y = st->out[0]->data;
    const int r = p->rank;
    int64_t i, e;
    nk_split(p->n, ith, nth, &i, &e);
    if (i >= e)
        return;
    int64_t idx[NK_MAX_RANK], off = 0, rem = i;
    for (int d = r - 1; d >= 0; d--) {
        idx[d] = rem % p->dim[d];
        rem /= p->dim[d];
        off += idx[d] * p->str[d];
    }
    const int64_t s = p->str[r - 1];
    while (i < e) {
        int64_t cnt = p->dim[r - 1] - idx[r - 1];
        if (cnt > e - i)
            cnt = e - i;
        const float *src = x + off;
        if (s == 1)
            memcpy(y + i, src, (size_t)cnt * sizeof *y);
        else
            for (int64_t k = 0; k < cnt; k++)
                y[i + k] = src[k * s];
        i += cnt;
        idx[r - 1] += cnt;
        off += cnt * s;
        for (int d = r - 1; d > 0 && idx[d] == p->dim[d]; d--) {
            off += p->str[d - 1] - p->dim[d] * p->str[d];
            idx[d] = 0;
            idx[d - 1]++;
        }
    }
}

/* ---- Concat ------------------------------------------------------------- */

static nk_status concat_axis(nk_ctx *ctx, const nk_node *n, int rank,
                             int *axis)
{
    const nk_attr *a = nk_node_attr(n, "axis");
    if (!a || a->type != NK_ATTR_INT)
        return nk_fail_node(ctx, NK_INVALID_ARG, n,
                            "attribute 'axis' (int) is missing");
    if (a->i < -rank || a->i >= rank)
        return nk_fail_node(ctx, NK_INVALID_ARG, n,
                            "axis %lld out of range [%d, %d]",
                            (long long)a->i, -rank, rank - 1);
    *axis = (int)(a->i < 0 ? a->i + rank : a->i);
    return NK_OK;
}

nk_status nk_infer_concat(nk_ctx *ctx, const nk_node *n, nk_tensor *const *in,
                          int n_in, nk_tensor *const *out, int n_out)
{
    nk_status st = need_io(ctx, n, in, n_in, out, n_out);
    if (st != NK_OK)
        return st;
    const nk_shape *s0 = &in[0]->shape;
    int axis = 0;
    if ((st = concat_axis(ctx, n, s0->rank, &axis)))
        return st;
    nk_shape o = *s0;
    for (int i = 1; i < n_in; i++) {
        if (!in[i])
            return nk_fail_node(ctx, NK_INVALID_ARG, n,
                                "input %d is missing", i);
        const nk_shape *s = &in[i]->shape;
        if (in[i]->dtype != in[0]->dtype)
            return nk_fail_node(ctx, NK_INVALID_ARG, n,
                                "input %d ('%s') has dtype %s, expected %s",
                                i, in[i]->name,
                                nk_dtype_name(in[i]->dtype),
                                nk_dtype_name(in[0]->dtype));
        bool ok = s->rank == s0->rank;
        for (int d = 0; ok && d < s->rank; d++)
            ok = d == axis || s->d[d] == s0->d[d];
        if (!ok) {
            char b0[128], bi[128];
            return nk_fail_node(ctx, NK_SHAPE, n,
                                "input %d ('%s') has shape %s, expected %s "
                                "except along axis %d", i, in[i]->name,
                                nk_shape_str(s, bi, sizeof bi),
                                nk_shape_str(s0, b0, sizeof b0), axis);
        }
        if (s->d[axis] < 0 ||
            __builtin_add_overflow(o.d[axis], s->d[axis], &o.d[axis]))
            return bad_count(ctx, n, s);
    }
    o.sym[axis] = NULL;
    out[0]->dtype = in[0]->dtype;
    out[0]->shape = o;
    return NK_OK;
}

typedef struct concat_params {
    int n;           /* inputs */
    int64_t outer;   /* product of dims before the axis */
    int64_t row;     /* bytes of one output row (all inputs' chunks) */
    int64_t *chunk;  /* bytes each input contributes per row */
    int64_t *off;    /* byte offset of that chunk within the row */
} concat_params;

nk_status nk_concat_prepare(nk_ctx *ctx, nk_step *st)
{
    const nk_node *n = st->node;
    const nk_shape *os = &st->out[0]->shape;
    int axis = 0;
    nk_status rc = concat_axis(ctx, n, os->rank, &axis);
    if (rc != NK_OK)
        return rc;
    size_t esz = nk_dtype_size(st->out[0]->dtype);
    /* one block: the struct, then chunk[n] and off[n] */
    size_t bytes = sizeof(concat_params) + 2 * (size_t)st->n_in *
                                               sizeof(int64_t);
    concat_params *p = nk_calloc(1, bytes);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory", n->name);
    p->chunk = (int64_t *)(p + 1);
    p->off = p->chunk + st->n_in;
    p->n = st->n_in;
    p->outer = 1;
    for (int d = 0; d < axis; d++)
        p->outer *= os->d[d];
    int64_t inner = (int64_t)esz;
    for (int d = axis + 1; d < os->rank; d++)
        inner *= os->d[d];
    for (int i = 0; i < st->n_in; i++) {
        const nk_tensor *t = st->in[i];
        if (!t || t->dtype != st->out[0]->dtype ||
            t->shape.rank != os->rank) {
            nk_free(p);
            return nk_fail_node(ctx, NK_SHAPE, n,
                                "input %d does not match the output's dtype "
                                "and rank", i);
        }
        p->off[i] = p->row;
        p->chunk[i] = t->shape.d[axis] * inner;
        p->row += p->chunk[i];
    }
    if (p->row != os->d[axis] * inner) {
        nk_free(p);
        return nk_fail_node(ctx, NK_SHAPE, n,
                            "inputs add up to %lld along axis %d, output "
                            "has %lld", (long long)(p->row / inner), axis,
                            (long long)os->d[axis]);
    }
    st->params = p;
    return NK_OK;
}

void nk_concat_ref(const nk_step *st, int ith, int nth)
{
    const concat_params *p = st->params;
    char *y = st->out[0]->data;
    int64_t b, e;
    /* one work item per (row, input) chunk */
    nk_split(p->outer * p->n, ith, nth, &b, &e);
    for (int64_t t = b; t < e; t++) {
        int64_t o = t / p->n;
        int i = (int)(t % p->n);
        if (p->chunk[i] == 0)
            continue;
        const char *x = st->in[i]->data;
        memcpy(y + o * p->row + p->off[i], x + o * p->chunk[i],
               (size_t)p->chunk[i]);
    }
}

/* ---- Pad ---------------------------------------------------------------- */

enum pad_mode { PAD_CONSTANT = 0, PAD_REFLECT, PAD_EDGE };

/* Pads (begins then ends, 2*rank values) and mode, from input 1 (opset >=
 * 11) or the 'pads' attribute (opset < 11); the mode's limits checked. */
static nk_status pad_read(nk_ctx *ctx, const nk_node *n, nk_tensor *const *in,
                          int n_in, int64_t *pads, int *mode)
{
    const nk_shape *s = &in[0]->shape;
    const int r = s->rank;
    const char *m = nk_node_string(n, "mode", "constant");
    if (!strcmp(m, "constant"))
        *mode = PAD_CONSTANT;
    else if (!strcmp(m, "reflect"))
        *mode = PAD_REFLECT;
    else if (!strcmp(m, "edge"))
        *mode = PAD_EDGE;
    else
        return nk_fail_node(ctx, NK_UNSUPPORTED, n,
                            "mode '%s', expected constant, reflect or edge",
                            m);
    if (n_in > 3 && in[3])
        return nk_fail_node(ctx, NK_UNSUPPORTED, n,
                            "the 'axes' input is not supported");
    if (n_in > 1 && in[1]) {
        const nk_tensor *t = in[1];
        if (t->dtype != NK_I64)
            return nk_fail_node(ctx, NK_INVALID_ARG, n,
                                "pads input '%s' has dtype %s, expected i64",
                                t->name, nk_dtype_name(t->dtype));
        if (!t->data)
            return nk_fail_node(ctx, NK_UNSUPPORTED, n,
                                "pads input '%s' is computed at run time; "
                                "only constant pads are supported", t->name);
        if (nk_shape_numel(&t->shape) != 2 * r ||
            t->nbytes < (size_t)(2 * r) * sizeof(int64_t))
            return nk_fail_node(ctx, NK_SHAPE, n,
                                "pads input '%s' has %lld values, expected "
                                "%d (2 x rank)", t->name,
                                (long long)nk_shape_numel(&t->shape), 2 * r);
        memcpy(pads, t->data, (size_t)(2 * r) * sizeof(int64_t));
    } else {
        const nk_attr *a = nk_node_attr(n, "pads");
        if (!a || a->type != NK_ATTR_INTS || a->n != 2 * r)
            return nk_fail_node(ctx, NK_INVALID_ARG, n,
                                "'pads' has %d values, expected %d (2 x "
                                "rank)",
                                a && a->type == NK_ATTR_INTS ? a->n : 0,
                                2 * r);
        nk_node_ints(n, "pads", pads, 2 * NK_MAX_RANK);
    }
    for (int d = 0; d < r; d++) {
        int64_t pb = pads[d], pe = pads[r + d], len = s->d[d];
        if (pb < -len || pe < -len || pb + pe < -len || pb > INT32_MAX ||
            pe > INT32_MAX)
            return nk_fail_node(ctx, NK_SHAPE, n,
                                "pads %lld, %lld on dim %d of size %lld give "
                                "a negative or huge size", (long long)pb,
                                (long long)pe, d, (long long)len);
        bool grows = pb > 0 || pe > 0;
        if (*mode == PAD_REFLECT && grows &&
            (pb >= len || pe >= len))
            return nk_fail_node(ctx, NK_SHAPE, n,
                                "reflect pads %lld, %lld on dim %d need to be "
                                "smaller than its size %lld", (long long)pb,
                                (long long)pe, d, (long long)len);
        if (*mode == PAD_EDGE && grows && len == 0)
            return nk_fail_node(ctx, NK_SHAPE, n,
                                "edge padding of the empty dim %d", d);
    }
    return NK_OK;
}

nk_status nk_infer_pad(nk_ctx *ctx, const nk_node *n, nk_tensor *const *in,
                       int n_in, nk_tensor *const *out, int n_out)
{
    nk_status st = need_io(ctx, n, in, n_in, out, n_out);
    if (st != NK_OK)
        return st;
    int64_t pads[2 * NK_MAX_RANK];
    int mode = PAD_CONSTANT;
    if ((st = pad_read(ctx, n, in, n_in, pads, &mode)))
        return st;
    if (n_in > 2 && in[2]) {
        if (in[2]->dtype != in[0]->dtype ||
            nk_shape_numel(&in[2]->shape) > 1)
            return nk_fail_node(ctx, NK_INVALID_ARG, n,
                                "constant_value '%s' must be a %s scalar",
                                in[2]->name, nk_dtype_name(in[0]->dtype));
    }
    nk_shape o = in[0]->shape;
    for (int d = 0; d < o.rank; d++) {
        o.d[d] += pads[d] + pads[o.rank + d];
        if (pads[d] || pads[o.rank + d])
            o.sym[d] = NULL;
    }
    out[0]->dtype = in[0]->dtype;
    out[0]->shape = o;
    return NK_OK;
}

typedef struct pad_params {
    int rank, mode;
    uint32_t value;            /* bits of one 4-byte element */
    bool value_input;          /* read constant_value from input 2 */
    int64_t rows;              /* output elements / last output dim */
    int64_t in_d[NK_MAX_RANK], out_d[NK_MAX_RANK], pb[NK_MAX_RANK];
    int64_t in_str[NK_MAX_RANK];
} pad_params;

nk_status nk_pad_prepare(nk_ctx *ctx, nk_step *st)
{
    const nk_node *n = st->node;
    if (st->in[0]->dtype != NK_F32 && st->in[0]->dtype != NK_I32)
        return nk_fail_node(ctx, NK_UNSUPPORTED, n,
                            "dtype %s, expected f32 or i32",
                            nk_dtype_name(st->in[0]->dtype));
    int64_t pads[2 * NK_MAX_RANK];
    int mode = PAD_CONSTANT;
    nk_status rc = pad_read(ctx, n, st->in, st->n_in, pads, &mode);
    if (rc != NK_OK)
        return rc;
    pad_params *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory", n->name);
    const nk_shape *s = &st->in[0]->shape;
    p->rank = s->rank;
    p->mode = mode;
    /* the fill value as the element's bits (f32 or i32) */
    float fv = nk_node_float(n, "value", 0.0f);
    if (st->in[0]->dtype == NK_I32) {
        int32_t iv = (int32_t)fv;
        memcpy(&p->value, &iv, 4);
    } else {
        memcpy(&p->value, &fv, 4);
    }
    const nk_tensor *cv = st->n_in > 2 ? st->in[2] : NULL;
    if (cv && nk_shape_numel(&cv->shape) == 1)
        p->value_input = true;
    int64_t acc = 1;
    for (int d = s->rank - 1; d >= 0; d--) {
        p->in_d[d] = s->d[d];
        p->pb[d] = pads[d];
        p->out_d[d] = s->d[d] + pads[d] + pads[s->rank + d];
        p->in_str[d] = acc;
        acc *= s->d[d];
        if (p->out_d[d] != st->out[0]->shape.d[d]) {
            nk_free(p);
            return nk_fail_node(ctx, NK_SHAPE, n,
                                "output dim %d is %lld, expected %lld", d,
                                (long long)st->out[0]->shape.d[d],
                                (long long)p->out_d[d]);
        }
    }
    p->rows = 1;
    for (int d = 0; d + 1 < s->rank; d++)
        p->rows *= p->out_d[d];
    st->params = p;
    return NK_OK;
}

/* Input index for output index o of a dim, or -1 for the constant. */
static int64_t pad_src(int mode, int64_t o, int64_t pb, int64_t len)
{
    int64_t i = o - pb;
    if (i >= 0 && i < len)
        return i;
    switch (mode) {
    case PAD_EDGE:
        return i < 0 ? 0 : len - 1;
    case PAD_REFLECT:
        if (len == 1)
            return 0;
        /* pads < len (checked), so one reflection lands inside */
        return i < 0 ? -i : 2 * (len - 1) - i;
    default:
        return -1;
    }
}

void nk_pad_ref(const nk_step *st, int ith, int nth)
{
    const pad_params *p = st->params;
    /* f32 and i32 alike: elements are moved as 4-byte words */
    const uint32_t *x = st->in[0]->data;
    uint32_t *y = st->out[0]->data;
    uint32_t value = p->value;
    if (p->value_input)
        memcpy(&value, st->in[2]->data, 4);
    if (p->rank == 0) {
        if (ith == 0 && x != y)
            y[0] = x[0];
        return;
    }
    const int r = p->rank, last = r - 1;
    const int64_t ow = p->out_d[last], iw = p->in_d[last], pb = p->pb[last];
    /* the output span of the last dim that copies the input as is */
    int64_t c0 = pb > 0 ? pb : 0, c1 = pb + iw < ow ? pb + iw : ow;
    int64_t b, e;
    nk_split(p->rows, ith, nth, &b, &e);
    for (int64_t row = b; row < e; row++) {
        uint32_t *yr = y + row * ow;
        int64_t rem = row, off = 0;
        bool fill = false;
        for (int d = last - 1; d >= 0; d--) {
            int64_t o = rem % p->out_d[d];
            rem /= p->out_d[d];
            int64_t i = pad_src(p->mode, o, p->pb[d], p->in_d[d]);
            if (i < 0) {
                fill = true;
                break;
            }
            off += i * p->in_str[d];
        }
        if (fill) {
            for (int64_t k = 0; k < ow; k++)
                yr[k] = value;
            continue;
        }
        const uint32_t *xr = x + off;
        for (int64_t k = 0; k < c0 && k < ow; k++) {
            int64_t i = pad_src(p->mode, k, pb, iw);
            yr[k] = i < 0 ? value : xr[i];
        }
        if (c1 > c0)
            memcpy(yr + c0, xr + (c0 - pb), (size_t)(c1 - c0) * sizeof *yr);
        for (int64_t k = c1 > c0 ? c1 : c0; k < ow; k++) {
            int64_t i = pad_src(p->mode, k, pb, iw);
            yr[k] = i < 0 ? value : xr[i];
        }
    }
}
