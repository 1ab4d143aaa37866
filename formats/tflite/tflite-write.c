/*
 * tflite-write.c — IR (ONNX semantics, NCHW) to TensorFlow Lite (NHWC).
 * Every rank-4 activation is stored NHWC, weights are permuted once at
 * conversion (Conv OIHW -> OHWI, depthwise -> 1xHxWx(C*mult), the columns
 * of a Gemm that follows a Flatten), so the graphs of the zoo need no
 * TRANSPOSE op. The whole model is built in memory and only then written
 * atomically: an unsupported op fails before any file exists.
 */
#include "formats/tflite/tflite.h"
#include "engine/op.h"
#include "engine/passes/passes.h"
#include "formats/format.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* How an IR tensor is stored in the TFLite file. */
typedef enum tw_layout {
    TW_PLAIN = 0, /* as in the IR */
    TW_NHWC,      /* IR rank-4 NCHW stored as NHWC */
    TW_FLAT_HWC,  /* IR [N, C*H*W] (Flatten of NCHW) stored as [N, H*W*C] */
} tw_layout;

typedef struct tw_tensor {
    char *name; /* owned */
    int type;
    int rank;
    int32_t shape[NK_MAX_RANK], sig[NK_MAX_RANK];
    bool dynamic;
    uint32_t buffer;  /* 0 = no data */
    const nk_quant *quant;
    int qdim;
} tw_tensor;

typedef struct tw_buffer {
    const void *data;
    size_t n;
    void *owned;
} tw_buffer;

typedef struct tw_opts {
    int padding, stride_w, stride_h, dil_w, dil_h, act, filter_w, filter_h;
    int axis, keep_dims, depth_mult;
    float beta, alpha;
} tw_opts;

typedef struct tw_op {
    int code;
    int n_in, n_out;
    int32_t in[4], out[1];
    int opt_type;
    tw_opts o;
} tw_op;

typedef struct tw {
    nk_ctx *ctx;
    const char *path;
    nk_graph *g;   /* optimized clone, owned */
    nk_save_opts opts;
    tw_tensor *t;
    int nt, capt;
    tw_buffer *b;
    int nb, capb;
    tw_op *ops;
    int nops, capops;
    int *map;      /* IR tensor -> TFLite tensor, -1 = none yet */
    uint8_t *layout; /* tw_layout per IR tensor */
    int64_t (*flat)[3]; /* C, H, W of a TW_FLAT_HWC tensor */
    bool *skip;    /* IR nodes absorbed into another (fused activations) */
    bool *keep_extra; /* unused quantized initializers kept in the file */
    int in_nhwc;   /* some graph input was made NHWC */
    int32_t *in_idx; /* TFLite tensor of each graph input */
    char names[4][512];
    int name_next;
} tw;

/* ---- small helpers ------------------------------------------------------- */

static nk_status oom(tw *w)
{
    return nk_fail(w->ctx, NK_NOMEM, "%s: out of memory", w->path);
}

static nk_status unsupported(tw *w, const nk_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static nk_status unsupported(tw *w, const nk_node *n, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nk_fail(w->ctx, NK_UNSUPPORTED,
                   "%s: cannot write node '%s' (op %s) as TFLite: %s",
                   w->path, n->name ? n->name : "", nk_op_name(n->op), msg);
}

static bool grow(void **p, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return true;
    int nc = *cap ? *cap * 2 : 64;
    while (nc < need)
        nc *= 2;
    void *q = nk_realloc(*p, (size_t)nc * elem);
    if (!q)
        return false;
    memset((char *)q + (size_t)*cap * elem, 0, (size_t)(nc - *cap) * elem);
    *p = q;
    *cap = nc;
    return true;
}

static int tfl_type(nk_dtype dt)
{
    switch (dt) {
    case NK_F32: return TFL_FLOAT32;
    case NK_F16: return TFL_FLOAT16;
    case NK_I8: return TFL_INT8;
    case NK_U8: return TFL_UINT8;
    case NK_I32: return TFL_INT32;
    case NK_I64: return TFL_INT64;
    case NK_BOOL: return TFL_BOOL;
    default: return -1;
    }
}

static const int NHWC_FROM_NCHW[4] = {0, 2, 3, 1}; /* stored dim i = IR dim */
static const int NCHW_AXIS_TO_NHWC[4] = {0, 3, 1, 2};

/* Add a TFLite tensor; IR-order dims d (NK_DIM_SYM = dynamic) permuted
 * by perm (NULL = none). Returns the index or -1 (error set). */
static int add_tensor(tw *w, const char *name, int type, int rank,
                      const int64_t *d, const int *perm, uint32_t buffer)
{
    if (!grow((void **)&w->t, &w->capt, w->nt + 1, sizeof *w->t)) {
        oom(w);
        return -1;
    }
    tw_tensor *t = &w->t[w->nt];
    memset(t, 0, sizeof *t);
    t->name = nk_strdup(name ? name : "");
    if (!t->name) {
        oom(w);
        return -1;
    }
    t->type = type;
    t->rank = rank;
    t->buffer = buffer;
    t->qdim = 0;
    for (int i = 0; i < rank; i++) {
        int64_t v = d[perm ? perm[i] : i];
        if (v == NK_DIM_SYM) {
            t->shape[i] = 1;
            t->sig[i] = -1;
            t->dynamic = true;
        } else {
            if (v < 0 || v > INT32_MAX) {
                nk_fail(w->ctx, NK_UNSUPPORTED,
                        "%s: tensor '%s' dim %d is %lld, beyond TFLite's "
                        "int32 shapes",
                        w->path, name, i, (long long)v);
                nk_free(t->name);
                return -1;
            }
            t->shape[i] = t->sig[i] = (int32_t)v;
        }
    }
    return w->nt++;
}

/* A constant tensor with data (taken over when `owned`). */
static int add_const(tw *w, const char *name, int type, int rank,
                     const int64_t *d, const void *data, size_t n,
                     void *owned)
{
    if (!grow((void **)&w->b, &w->capb, w->nb + 1, sizeof *w->b)) {
        nk_free(owned);
        oom(w);
        return -1;
    }
    w->b[w->nb] = (tw_buffer){data, n, owned};
    int idx = add_tensor(w, name, type, rank, d, NULL, (uint32_t)w->nb);
    w->nb++;
    return idx;
}

static int const_i32(tw *w, const char *name, int n, const int32_t *v)
{
    int32_t *c = nk_malloc((size_t)n * 4 + 4);
    if (!c) {
        oom(w);
        return -1;
    }
    memcpy(c, v, (size_t)n * 4);
    int64_t d[1] = {n};
    return add_const(w, name, TFL_INT32, 1, d, c, (size_t)n * 4, c);
}

static int const_f32(tw *w, const char *name, int rank, const int64_t *d,
                     float *owned, size_t n)
{
    return add_const(w, name, TFL_FLOAT32, rank, d, owned, n * 4, owned);
}

static int scalar_f32(tw *w, const char *name, float v)
{
    float *c = nk_malloc(4);
    if (!c) {
        oom(w);
        return -1;
    }
    *c = v;
    return const_f32(w, name, 0, NULL, c, 1);
}

/* A new activation tensor with the type and shape of tensor ref. */
static int like_tensor(tw *w, int ref, const char *name)
{
    int64_t d[NK_MAX_RANK];
    int r = w->t[ref].rank, type = w->t[ref].type;
    for (int i = 0; i < r; i++)
        d[i] = w->t[ref].sig[i] < 0 ? NK_DIM_SYM : w->t[ref].sig[i];
    return add_tensor(w, name, type, r, d, NULL, 0);
}

static nk_status add_op(tw *w, int code, int n_in, const int32_t *in,
                        int32_t out, int opt_type, const tw_opts *o)
{
    if (!grow((void **)&w->ops, &w->capops, w->nops + 1, sizeof *w->ops))
        return oom(w);
    tw_op *op = &w->ops[w->nops++];
    memset(op, 0, sizeof *op);
    op->code = code;
    op->n_in = n_in;
    for (int i = 0; i < n_in; i++)
        op->in[i] = in[i];
    op->n_out = 1;
    op->out[0] = out;
    op->opt_type = opt_type;
    if (o)
        op->o = *o;
    return NK_OK;
}

/* Name "<base><suffix>" in one of w's rotating name buffers (valid for
 * the next few calls; add_tensor copies it). */
static const char *sfx(tw *w, const char *base, const char *suffix)
{
    char *b = w->names[w->name_next];
    w->name_next = (w->name_next + 1) % 4;
    size_t n1 = base ? strlen(base) : 0, n2 = strlen(suffix);
    if (n1 > sizeof w->names[0] - 64)
        n1 = sizeof w->names[0] - 64;
    if (n2 > 63)
        n2 = 63;
    memmove(b, base, n1);
    memcpy(b + n1, suffix, n2);
    b[n1 + n2] = 0;
    return b;
}

/* Permute a row-major tensor: output dim i is input dim perm[i]. */
static void *permute(const void *src, size_t esize, int rank,
                     const int64_t *dims, const int *perm)
{
    size_t n = esize;
    for (int i = 0; i < rank; i++)
        n *= (size_t)dims[i];
    uint8_t *dst = nk_malloc(n ? n : 1);
    if (!dst)
        return NULL;
    int64_t od[NK_MAX_RANK], istride[NK_MAX_RANK], idx[NK_MAX_RANK] = {0};
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        istride[i] = s;
        s *= dims[i];
    }
    for (int i = 0; i < rank; i++)
        od[i] = dims[perm[i]];
    size_t total = n / esize;
    const uint8_t *in = src;
    for (size_t k = 0; k < total; k++) {
        int64_t off = 0;
        for (int i = 0; i < rank; i++)
            off += idx[i] * istride[perm[i]];
        memcpy(dst + k * esize, in + (size_t)off * esize, esize);
        for (int i = rank - 1; i >= 0; i--) {
            if (++idx[i] < od[i])
                break;
            idx[i] = 0;
        }
    }
    return dst;
}

static bool is_const(const nk_tensor *t)
{
    return t && t->is_init && t->data;
}

static const char *tname(const tw *w, int ir)
{
    return w->g->tensors[ir]->name;
}

/* ---- activations ------------------------------------------------------- */

/* The TFLite fused activation for (act, a0, a1), or -1 if none exists. */
static int fused_code(nk_act act, float a0, float a1)
{
    switch (act) {
    case NK_ACT_NONE: return TFL_ACT_NONE;
    case NK_ACT_RELU: return TFL_ACT_RELU;
    case NK_ACT_TANH: return TFL_ACT_TANH;
    case NK_ACT_CLIP:
        if (a0 == 0.0f && a1 == 6.0f)
            return TFL_ACT_RELU6;
        if (a0 == -1.0f && a1 == 1.0f)
            return TFL_ACT_RELU_N1_TO_1;
        if (a0 == 0.0f && a1 >= FLT_MAX)
            return TFL_ACT_RELU;
        return -1;
    default: return -1;
    }
}

/* An IR activation node as (act, a0, a1); false if it is none. */
static bool node_act(const nk_graph *g, const nk_node *n, nk_act *act,
                     float *a0, float *a1)
{
    *a0 = *a1 = 0;
    switch (n->op) {
    case NK_OP_RELU: *act = NK_ACT_RELU; return true;
    case NK_OP_SIGMOID: *act = NK_ACT_SIGMOID; return true;
    case NK_OP_TANH: *act = NK_ACT_TANH; return true;
    case NK_OP_HARDSWISH: *act = NK_ACT_HARDSWISH; return true;
    case NK_OP_LEAKYRELU:
        *act = NK_ACT_LEAKYRELU;
        *a0 = nk_node_float(n, "alpha", 0.01f);
        return true;
    case NK_OP_HARDSIGMOID:
        *act = NK_ACT_HARDSIGMOID;
        *a0 = nk_node_float(n, "alpha", 0.2f);
        *a1 = nk_node_float(n, "beta", 0.5f);
        return true;
    case NK_OP_CLIP: {
        float lo = -FLT_MAX, hi = FLT_MAX;
        if (n->n_in == 1) {
            lo = nk_node_float(n, "min", lo);
            hi = nk_node_float(n, "max", hi);
        }
        for (int k = 1; k < n->n_in && k < 3; k++) {
            const nk_tensor *t = nk_node_input(g, n, k);
            if (!t)
                continue;
            if (!is_const(t) || t->dtype != NK_F32 ||
                nk_shape_numel(&t->shape) != 1)
                return false;
            if (k == 1)
                lo = *(const float *)t->data;
            else
                hi = *(const float *)t->data;
        }
        *act = NK_ACT_CLIP;
        *a0 = lo;
        *a1 = hi;
        return true;
    }
    default:
        return false;
    }
}

/* Emit activation (act, a0, a1) from TFLite tensor x into y. */
static nk_status emit_act(tw *w, const nk_node *n, nk_act act, float a0,
                          float a1, int x, int y)
{
    tw_opts o = {0};
    int32_t in[2] = {x, -1};
    const char *base = w->t[y].name;
    switch (act) {
    case NK_ACT_RELU:
        return add_op(w, TFL_RELU, 1, in, y, TFL_OPT_NONE, NULL);
    case NK_ACT_SIGMOID:
        return add_op(w, TFL_LOGISTIC, 1, in, y, TFL_OPT_NONE, NULL);
    case NK_ACT_TANH:
        return add_op(w, TFL_TANH, 1, in, y, TFL_OPT_NONE, NULL);
    case NK_ACT_HARDSWISH:
        return add_op(w, TFL_HARD_SWISH, 1, in, y, TFL_OPT_HARD_SWISH, NULL);
    case NK_ACT_LEAKYRELU:
        o.alpha = a0;
        return add_op(w, TFL_LEAKY_RELU, 1, in, y, TFL_OPT_LEAKY_RELU, &o);
    case NK_ACT_CLIP: {
        int code = fused_code(act, a0, a1);
        if (code == TFL_ACT_RELU6)
            return add_op(w, TFL_RELU6, 1, in, y, TFL_OPT_NONE, NULL);
        if (code == TFL_ACT_RELU_N1_TO_1)
            return add_op(w, TFL_RELU_N1_TO_1, 1, in, y, TFL_OPT_NONE, NULL);
        if (code == TFL_ACT_RELU)
            return add_op(w, TFL_RELU, 1, in, y, TFL_OPT_NONE, NULL);
        /* General clip: MAXIMUM with the low bound, MINIMUM with the high. */
        int t = x;
        nk_status st;
        if (a0 > -FLT_MAX) {
            int lo = scalar_f32(w, sfx(w, base, "/clip_min"), a0);
            int mid = a1 < FLT_MAX ? like_tensor(w, y, sfx(w, base, "/clip_lo"))
                                   : y;
            if (lo < 0 || mid < 0)
                return w->ctx->last;
            int32_t i2[2] = {t, lo};
            if ((st = add_op(w, TFL_MAXIMUM, 2, i2, mid, TFL_OPT_MAXMIN,
                             NULL)))
                return st;
            t = mid;
        }
        if (a1 < FLT_MAX) {
            int hi = scalar_f32(w, sfx(w, base, "/clip_max"), a1);
            if (hi < 0)
                return w->ctx->last;
            int32_t i2[2] = {t, hi};
            return add_op(w, TFL_MINIMUM, 2, i2, y, TFL_OPT_MAXMIN, NULL);
        }
        if (t == x) { /* no bounds at all: an identity */
            int32_t shp[NK_MAX_RANK];
            for (int i = 0; i < w->t[y].rank; i++)
                shp[i] = w->t[y].sig[i];
            int s = const_i32(w, sfx(w, base, "/shape"), w->t[y].rank, shp);
            if (s < 0)
                return w->ctx->last;
            int32_t i2[2] = {x, s};
            return add_op(w, TFL_RESHAPE, 2, i2, y, TFL_OPT_RESHAPE, NULL);
        }
        return NK_OK;
    }
    case NK_ACT_HARDSIGMOID: {
        /* max(0, min(1, a*x + b)) = relu6(6a*x + 6b) / 6, as the TFLite
         * converter lowers hard_sigmoid: [MUL] ADD(+RELU6) MUL. */
        nk_status st;
        int t = x;
        if (6.0f * a0 != 1.0f) {
            int k = scalar_f32(w, sfx(w, base, "/hsig_scale"), 6.0f * a0);
            int m = like_tensor(w, y, sfx(w, base, "/hsig_mul"));
            if (k < 0 || m < 0)
                return w->ctx->last;
            int32_t i2[2] = {t, k};
            if ((st = add_op(w, TFL_MUL, 2, i2, m, TFL_OPT_MUL, NULL)))
                return st;
            t = m;
        }
        int k = scalar_f32(w, sfx(w, base, "/hsig_offset"), 6.0f * a1);
        int m = like_tensor(w, y, sfx(w, base, "/hsig_relu6"));
        int s = scalar_f32(w, sfx(w, base, "/hsig_div6"), 1.0f / 6.0f);
        if (k < 0 || m < 0 || s < 0)
            return w->ctx->last;
        int32_t i2[2] = {t, k};
        o.act = TFL_ACT_RELU6;
        if ((st = add_op(w, TFL_ADD, 2, i2, m, TFL_OPT_ADD, &o)))
            return st;
        int32_t i3[2] = {m, s};
        return add_op(w, TFL_MUL, 2, i3, y, TFL_OPT_MUL, NULL);
    }
    default:
        return unsupported(w, n, "activation %s has no TFLite equivalent",
                           nk_act_name(act));
    }
}

/* ---- tensors of IR values ------------------------------------------------ */

/* The TFLite tensor for the output of a node: IR tensor ir, stored in
 * layout lay. */
static int out_tensor(tw *w, int ir, tw_layout lay)
{
    const nk_tensor *t = w->g->tensors[ir];
    int type = tfl_type(t->dtype);
    if (type < 0) {
        nk_fail(w->ctx, NK_UNSUPPORTED,
                "%s: tensor '%s' has dtype %s, which nnkit does not write "
                "to TFLite",
                w->path, t->name, nk_dtype_name(t->dtype));
        return -1;
    }
    int64_t d[NK_MAX_RANK];
    const int *perm = NULL;
    int rank = t->shape.rank;
    for (int i = 0; i < rank; i++)
        d[i] = t->shape.d[i];
    if (lay == TW_NHWC)
        perm = NHWC_FROM_NCHW;
    int idx = add_tensor(w, t->name, type, rank, d, perm, 0);
    if (idx < 0)
        return -1;
    w->t[idx].quant = t->quant;
    if (t->quant && t->quant->axis >= 0 && lay == TW_NHWC)
        w->t[idx].qdim = NCHW_AXIS_TO_NHWC[t->quant->axis];
    else if (t->quant && t->quant->axis >= 0)
        w->t[idx].qdim = t->quant->axis;
    w->map[ir] = idx;
    w->layout[ir] = (uint8_t)lay;
    return idx;
}

/* A constant IR tensor as a TFLite constant, broadcast-ready for an
 * operation whose output has layout lay and rank out_rank: for NHWC, the
 * constant is first given rank 4 (leading 1s, numpy broadcasting) and then
 * permuted to NHWC. */
static int const_tensor(tw *w, const nk_node *n, const nk_tensor *t,
                        tw_layout lay, int out_rank, const char *name)
{
    int type = tfl_type(t->dtype);
    if (type < 0) {
        unsupported(w, n, "constant '%s' has dtype %s", t->name,
                    nk_dtype_name(t->dtype));
        return -1;
    }
    size_t es = nk_dtype_size(t->dtype);
    if (lay == TW_NHWC && t->shape.rank > 0 && out_rank == 4) {
        int64_t d4[4] = {1, 1, 1, 1};
        int r = t->shape.rank;
        if (r > 4) {
            unsupported(w, n, "constant '%s' has rank %d", t->name, r);
            return -1;
        }
        for (int i = 0; i < r; i++)
            d4[4 - r + i] = t->shape.d[i];
        void *p = permute(t->data, es, 4, d4, NHWC_FROM_NCHW);
        if (!p) {
            oom(w);
            return -1;
        }
        int64_t nd[4] = {d4[0], d4[2], d4[3], d4[1]};
        int idx = add_const(w, name ? name : t->name, type, 4, nd, p,
                            t->nbytes, p);
        if (idx >= 0 && t->quant) {
            w->t[idx].quant = t->quant;
            w->t[idx].qdim =
                t->quant->axis >= 0
                    ? NCHW_AXIS_TO_NHWC[t->quant->axis + 4 - r]
                    : 0;
        }
        return idx;
    }
    int idx = add_const(w, name ? name : t->name, type, t->shape.rank,
                        t->shape.d, t->data, t->nbytes, NULL);
    if (idx >= 0 && t->quant) {
        w->t[idx].quant = t->quant;
        w->t[idx].qdim = t->quant->axis >= 0 ? t->quant->axis : 0;
    }
    return idx;
}

/* The TFLite tensor of input i of node n, for an op whose output is in
 * layout lay with rank out_rank. */
static int in_tensor(tw *w, const nk_node *n, int i, tw_layout lay,
                     int out_rank)
{
    int ir = n->in[i];
    const nk_tensor *t = w->g->tensors[ir];
    if (w->map[ir] >= 0 && !is_const(t))
        return w->map[ir];
    if (is_const(t))
        return const_tensor(w, n, t, lay, out_rank, NULL);
    unsupported(w, n, "input '%s' is produced by no node written so far",
                t->name);
    return -1;
}

/* ---- padding ------------------------------------------------------------- */

/* TFLite SAME pads for one axis. */
static void same_pads(int64_t in, int64_t k, int64_t s, int64_t d,
                      int64_t *pb, int64_t *pe, int64_t *out)
{
    int64_t o = (in + s - 1) / s;
    int64_t total = (o - 1) * s + (k - 1) * d + 1 - in;
    if (total < 0)
        total = 0;
    *pb = total / 2;
    *pe = total - total / 2;
    *out = o;
}

/* Decide VALID / SAME / explicit pads for geometry g. Explicit pads are
 * returned in pads[4] (top, bottom, left, right) with *padding VALID and
 * *explicit_pad true. The bottom/right pads are those that give the IR's
 * output size (ceil_mode included). */
static void choose_padding(const nk_conv_geom *g, int *padding,
                           bool *explicit_pad, int64_t pads[4])
{
    int64_t eh = (g->kh - 1) * g->dh + 1, ew = (g->kw - 1) * g->dw + 1;
    int64_t pb = (g->oh - 1) * g->sh + eh - g->h - g->pt;
    int64_t pr = (g->ow - 1) * g->sw + ew - g->w - g->pl;
    if (pb < 0)
        pb = 0;
    if (pr < 0)
        pr = 0;
    *explicit_pad = false;
    pads[0] = g->pt;
    pads[1] = pb;
    pads[2] = g->pl;
    pads[3] = pr;
    int64_t vh = (g->h - eh) / g->sh + 1, vw = (g->w - ew) / g->sw + 1;
    if (g->pt == 0 && g->pl == 0 && vh == g->oh && vw == g->ow) {
        *padding = TFL_PAD_VALID;
        return;
    }
    int64_t a, b, c, e, oh, ow;
    same_pads(g->h, g->kh, g->sh, g->dh, &a, &b, &oh);
    same_pads(g->w, g->kw, g->sw, g->dw, &c, &e, &ow);
    if (a == g->pt && c == g->pl && oh == g->oh && ow == g->ow) {
        *padding = TFL_PAD_SAME;
        return;
    }
    *padding = TFL_PAD_VALID;
    *explicit_pad = true;
}

/* Is IR tensor ir known to be >= 0 (output of a ReLU-like)? */
static bool nonnegative(const tw *w, int ir)
{
    int p = nk_tensor_producer(w->g, ir);
    if (p < 0)
        return false;
    const nk_node *n = &w->g->nodes[p];
    nk_act a = n->act;
    float a0 = n->act_a0;
    if (n->op == NK_OP_RELU)
        return true;
    if (n->op == NK_OP_CLIP) {
        float a1;
        return node_act(w->g, n, &a, &a0, &a1) && a0 >= 0.0f;
    }
    if (n->op == NK_OP_MAXPOOL)
        return nonnegative(w, n->in[0]);
    return a == NK_ACT_RELU || (a == NK_ACT_CLIP && a0 >= 0.0f);
}

/* Emit PAD (value 0) or PADV2 (other value) of NHWC tensor x. */
static int emit_spatial_pad(tw *w, int x, const int64_t pads[4],
                            float value, const char *base)
{
    int32_t p[8] = {0, 0, (int32_t)pads[0], (int32_t)pads[1],
                    (int32_t)pads[2], (int32_t)pads[3], 0, 0};
    int pt = const_i32(w, sfx(w, base, "/paddings"), 8, p);
    if (pt < 0)
        return -1;
    w->t[pt].rank = 2;
    w->t[pt].shape[0] = w->t[pt].sig[0] = 4;
    w->t[pt].shape[1] = w->t[pt].sig[1] = 2;
    tw_tensor *xt = &w->t[x];
    int64_t d[4];
    for (int i = 0; i < 4; i++)
        d[i] = xt->sig[i] < 0 ? NK_DIM_SYM : xt->sig[i];
    d[1] += pads[0] + pads[1];
    d[2] += pads[2] + pads[3];
    int y = add_tensor(w, sfx(w, base, "/pad"), xt->type, 4, d, NULL, 0);
    if (y < 0)
        return -1;
    if (value == 0.0f) {
        int32_t in[2] = {x, pt};
        if (add_op(w, TFL_PAD, 2, in, y, TFL_OPT_PAD, NULL))
            return -1;
    } else {
        int v = scalar_f32(w, sfx(w, base, "/pad_value"), value);
        if (v < 0)
            return -1;
        int32_t in[3] = {x, pt, v};
        if (add_op(w, TFL_PADV2, 3, in, y, TFL_OPT_PADV2, NULL))
            return -1;
    }
    return y;
}

/* The output tensor of node n with fused activation handling: returns the
 * tensor the op itself writes (*fused = the TFLite fused code) and emits
 * the trailing activation op(s) when TFLite cannot fuse it. The caller
 * emits its op, then calls finish_act. */
typedef struct tw_out {
    int op_out;  /* the tensor the main op writes */
    int final;   /* the node's output tensor */
    int fused;   /* TFL_ACT_* for the main op */
} tw_out;

static nk_status begin_out(tw *w, const nk_node *n, tw_layout lay,
                           tw_out *o)
{
    o->final = out_tensor(w, n->out[0], lay);
    if (o->final < 0)
        return w->ctx->last;
    o->fused = fused_code(n->act, n->act_a0, n->act_a1);
    o->op_out = o->final;
    if (o->fused < 0) {
        tw_tensor *f = &w->t[o->final];
        int64_t d[NK_MAX_RANK];
        for (int i = 0; i < f->rank; i++)
            d[i] = f->sig[i] < 0 ? NK_DIM_SYM : f->sig[i];
        o->op_out = add_tensor(w, sfx(w, f->name, "/pre_act"), f->type, f->rank,
                               d, NULL, 0);
        if (o->op_out < 0)
            return w->ctx->last;
        o->fused = TFL_ACT_NONE;
    }
    return NK_OK;
}

static nk_status finish_act(tw *w, const nk_node *n, const tw_out *o)
{
    if (o->op_out == o->final)
        return NK_OK;
    return emit_act(w, n, n->act, n->act_a0, n->act_a1, o->op_out, o->final);
}

/* ---- ops --------------------------------------------------------------- */

static nk_status geom_of(tw *w, const nk_node *n, const nk_tensor *x,
                         const nk_tensor *wt, nk_conv_geom *g)
{
    nk_shape xs = x->shape;
    if (xs.rank != 4)
        return unsupported(w, n, "input '%s' has rank %d, expected 4",
                           x->name, xs.rank);
    xs.d[0] = 1;
    xs.sym[0] = NULL;
    if (!nk_shape_is_static(&xs))
        return unsupported(w, n, "input '%s' has a dynamic spatial size",
                           x->name);
    return nk_conv_geom_from_node(w->ctx, n, &xs, wt ? &wt->shape : NULL, g);
}

static nk_status emit_conv(tw *w, const nk_node *n)
{
    const nk_tensor *x = nk_node_input(w->g, n, 0);
    const nk_tensor *wt = nk_node_input(w->g, n, 1);
    const nk_tensor *bt = nk_node_input(w->g, n, 2);
    if (!is_const(wt) || wt->shape.rank != 4)
        return unsupported(w, n, "weights '%s' must be a constant 4-D "
                           "tensor (2-D convolution)", wt ? wt->name : "");
    if (wt->dtype != NK_F32 && wt->dtype != NK_I8)
        return unsupported(w, n, "weights '%s' have dtype %s", wt->name,
                           nk_dtype_name(wt->dtype));
    if (bt && (!is_const(bt) || bt->dtype != NK_F32))
        return unsupported(w, n, "bias '%s' must be a float constant",
                           bt->name);
    if (w->layout[n->in[0]] != TW_NHWC)
        return unsupported(w, n, "input '%s' is not a rank-4 activation",
                           x->name);
    nk_conv_geom g;
    nk_status st = geom_of(w, n, x, wt, &g);
    if (st)
        return st;
    int64_t m = wt->shape.d[0], cg = wt->shape.d[1];
    bool depthwise = g.group > 1 && cg == 1 && g.group == g.c;
    if (g.group != 1 && !depthwise)
        return unsupported(w, n, "grouped convolution (%lld groups of %lld "
                           "channels) is neither a plain nor a depthwise "
                           "convolution",
                           (long long)g.group, (long long)cg);
    int padding;
    bool explicit_pad;
    int64_t pads[4];
    choose_padding(&g, &padding, &explicit_pad, pads);
    int xin = w->map[n->in[0]];
    if (explicit_pad &&
        (xin = emit_spatial_pad(w, xin, pads, 0.0f, tname(w, n->out[0]))) < 0)
        return w->ctx->last;
    /* weights */
    int64_t wd[4];
    const int *perm;
    static const int OHWI[4] = {0, 2, 3, 1}, DW[4] = {1, 2, 3, 0};
    perm = depthwise ? DW : OHWI;
    for (int i = 0; i < 4; i++)
        wd[i] = wt->shape.d[perm[i]];
    void *pw = permute(wt->data, nk_dtype_size(wt->dtype), 4, wt->shape.d,
                       perm);
    if (!pw)
        return oom(w);
    int wi = add_const(w, wt->name, tfl_type(wt->dtype), 4, wd, pw,
                       wt->nbytes, pw);
    if (wi < 0)
        return w->ctx->last;
    if (wt->quant) {
        w->t[wi].quant = wt->quant;
        /* per output channel: O stays dim 0 (OHWI) or becomes dim 3 */
        w->t[wi].qdim = wt->quant->axis < 0 ? 0
                        : depthwise ? 3 : 0;
    }
    int bi;
    if (bt) {
        if (nk_shape_numel(&bt->shape) != m)
            return unsupported(w, n, "bias '%s' has %lld values, expected "
                               "%lld", bt->name,
                               (long long)nk_shape_numel(&bt->shape),
                               (long long)m);
        int64_t bd[1] = {m};
        bi = add_const(w, bt->name, TFL_FLOAT32, 1, bd, bt->data, bt->nbytes,
                       NULL);
    } else {
        float *z = nk_calloc((size_t)m, 4);
        if (!z)
            return oom(w);
        int64_t bd[1] = {m};
        bi = const_f32(w, sfx(w, wt->name, "/zero_bias"), 1, bd, z, (size_t)m);
    }
    if (bi < 0)
        return w->ctx->last;
    tw_out o;
    if ((st = begin_out(w, n, TW_NHWC, &o)))
        return st;
    tw_opts op = {0};
    op.padding = padding;
    op.stride_w = (int)g.sw;
    op.stride_h = (int)g.sh;
    op.dil_w = (int)g.dw;
    op.dil_h = (int)g.dh;
    op.act = o.fused;
    op.depth_mult = (int)(m / g.c);
    int32_t in[3] = {xin, wi, bi};
    if ((st = add_op(w, depthwise ? TFL_DEPTHWISE_CONV_2D : TFL_CONV_2D, 3,
                     in, o.op_out, depthwise ? TFL_OPT_DEPTHWISE
                                             : TFL_OPT_CONV2D, &op)))
        return st;
    return finish_act(w, n, &o);
}

static nk_status emit_pool(tw *w, const nk_node *n)
{
    const nk_tensor *x = nk_node_input(w->g, n, 0);
    if (n->n_out > 1 && n->out[1] >= 0)
        return unsupported(w, n, "MaxPool's indices output has no TFLite "
                           "equivalent");
    if (w->layout[n->in[0]] != TW_NHWC)
        return unsupported(w, n, "input '%s' is not a rank-4 activation",
                           x->name);
    nk_conv_geom g;
    nk_status st = geom_of(w, n, x, NULL, &g);
    if (st)
        return st;
    if (g.dh != 1 || g.dw != 1)
        return unsupported(w, n, "dilated pooling has no TFLite builtin");
    int padding;
    bool explicit_pad;
    int64_t pads[4];
    choose_padding(&g, &padding, &explicit_pad, pads);
    bool is_max = n->op == NK_OP_MAXPOOL;
    int xin = w->map[n->in[0]];
    if (explicit_pad) {
        float value = 0.0f;
        if (is_max && !nonnegative(w, n->in[0]))
            value = -FLT_MAX; /* padded cells never win the max */
        if (!is_max && !g.count_include_pad)
            return unsupported(w, n, "average pooling with pads %lld,%lld,"
                               "%lld,%lld that exclude the padding from the "
                               "count and are not TFLite's SAME padding",
                               (long long)pads[0], (long long)pads[1],
                               (long long)pads[2], (long long)pads[3]);
        xin = emit_spatial_pad(w, xin, pads, value, tname(w, n->out[0]));
        if (xin < 0)
            return w->ctx->last;
    } else if (!is_max && padding == TFL_PAD_SAME && g.count_include_pad &&
               (g.pt || g.pb || g.pl || g.pr)) {
        /* TFLite SAME excludes padding from the average. */
        xin = emit_spatial_pad(w, xin, pads, 0.0f, tname(w, n->out[0]));
        if (xin < 0)
            return w->ctx->last;
        padding = TFL_PAD_VALID;
    }
    tw_out o;
    if ((st = begin_out(w, n, TW_NHWC, &o)))
        return st;
    tw_opts op = {0};
    op.padding = padding;
    op.stride_w = (int)g.sw;
    op.stride_h = (int)g.sh;
    op.filter_w = (int)g.kw;
    op.filter_h = (int)g.kh;
    op.act = o.fused;
    int32_t in[1] = {xin};
    if ((st = add_op(w, is_max ? TFL_MAX_POOL_2D : TFL_AVERAGE_POOL_2D, 1,
                     in, o.op_out, TFL_OPT_POOL2D, &op)))
        return st;
    return finish_act(w, n, &o);
}

static nk_status emit_global_pool(tw *w, const nk_node *n)
{
    if (w->layout[n->in[0]] != TW_NHWC)
        return unsupported(w, n, "input '%s' is not a rank-4 activation",
                           tname(w, n->in[0]));
    int32_t axes[2] = {1, 2};
    int ax = const_i32(w, sfx(w, tname(w, n->out[0]), "/axes"), 2, axes);
    int y = out_tensor(w, n->out[0], TW_NHWC);
    if (ax < 0 || y < 0)
        return w->ctx->last;
    tw_opts o = {0};
    o.keep_dims = 1;
    int32_t in[2] = {w->map[n->in[0]], ax};
    return add_op(w, TFL_MEAN, 2, in, y, TFL_OPT_REDUCER, &o);
}

/* RESHAPE of TFLite tensor x to IR tensor `out` (plain or NHWC layout);
 * new shape from out's stored shape with -1 for the dynamic dim. */
static nk_status emit_reshape(tw *w, const nk_node *n, int x, int out,
                              tw_layout lay)
{
    int y = out_tensor(w, out, lay);
    if (y < 0)
        return w->ctx->last;
    int32_t shp[NK_MAX_RANK];
    int ndyn = 0;
    for (int i = 0; i < w->t[y].rank; i++) {
        shp[i] = w->t[y].sig[i];
        ndyn += shp[i] < 0;
    }
    if (ndyn > 1)
        return unsupported(w, n, "reshape to '%s' with %d dynamic dims",
                           tname(w, out), ndyn);
    int s = const_i32(w, sfx(w, tname(w, out), "/shape"), w->t[y].rank, shp);
    if (s < 0)
        return w->ctx->last;
    int32_t in[2] = {x, s};
    return add_op(w, TFL_RESHAPE, 2, in, y, TFL_OPT_RESHAPE, NULL);
}

/* TRANSPOSE of TFLite tensor x by perm into a new tensor of IR-order dims
 * d (already permuted by the caller). */
static int emit_transpose(tw *w, int x, const int32_t *perm, int rank,
                          const char *name)
{
    tw_tensor *xt = &w->t[x];
    int64_t d[NK_MAX_RANK];
    for (int i = 0; i < rank; i++) {
        int32_t v = xt->sig[perm[i]];
        d[i] = v < 0 ? NK_DIM_SYM : v;
    }
    int p = const_i32(w, sfx(w, name, "/perm"), rank, perm);
    int y = add_tensor(w, name, xt->type, rank, d, NULL, 0);
    if (p < 0 || y < 0)
        return -1;
    int32_t in[2] = {x, p};
    if (add_op(w, TFL_TRANSPOSE, 2, in, y, TFL_OPT_TRANSPOSE, NULL))
        return -1;
    return y;
}

/* Can the columns of every consumer of IR tensor t be permuted instead of
 * the data (all consumers Gemm/MatMul with constant weights)? */
static bool consumers_take_permuted_columns(const tw *w, int t)
{
    if (nk_tensor_is_graph_output(w->g, t))
        return false;
    int uses = 0;
    for (int i = 0; i < w->g->n_nodes; i++) {
        const nk_node *c = &w->g->nodes[i];
        for (int j = 0; j < c->n_in; j++) {
            if (c->in[j] != t)
                continue;
            uses++;
            if (j != 0)
                return false;
            if (c->op == NK_OP_GEMM) {
                if (nk_node_int(c, "transA", 0) != 0)
                    return false;
            } else if (c->op != NK_OP_MATMUL) {
                return false;
            }
            if (!is_const(nk_node_input(w->g, c, 1)))
                return false;
        }
    }
    return uses > 0;
}

/* Flatten / Reshape of an NHWC tensor to [N, C*H*W]. */
static nk_status emit_flatten_nhwc(tw *w, const nk_node *n)
{
    const nk_tensor *x = nk_node_input(w->g, n, 0);
    int64_t c = x->shape.d[1], h = x->shape.d[2], wd = x->shape.d[3];
    int xin = w->map[n->in[0]];
    if (h * wd == 1)
        return emit_reshape(w, n, xin, n->out[0], TW_PLAIN);
    if (consumers_take_permuted_columns(w, n->out[0])) {
        nk_status st = emit_reshape(w, n, xin, n->out[0], TW_PLAIN);
        if (st)
            return st;
        w->layout[n->out[0]] = TW_FLAT_HWC;
        w->flat[n->out[0]][0] = c;
        w->flat[n->out[0]][1] = h;
        w->flat[n->out[0]][2] = wd;
        return NK_OK;
    }
    /* Fallback: back to NCHW order first. */
    static const int32_t TO_NCHW[4] = {0, 3, 1, 2};
    int t = emit_transpose(w, xin, TO_NCHW, 4,
                           sfx(w, tname(w, n->out[0]), "/nchw"));
    if (t < 0)
        return w->ctx->last;
    return emit_reshape(w, n, t, n->out[0], TW_PLAIN);
}

static nk_status emit_flatten_or_reshape(tw *w, const nk_node *n)
{
    const nk_tensor *x = nk_node_input(w->g, n, 0);
    const nk_tensor *y = nk_node_output(w->g, n, 0);
    tw_layout lx = (tw_layout)w->layout[n->in[0]];
    if (lx == TW_FLAT_HWC)
        return unsupported(w, n, "reshape of a flattened NHWC tensor");
    if (lx == TW_NHWC) {
        if (y->shape.rank == 2 && (y->shape.d[0] == x->shape.d[0] ||
                                   (y->shape.d[0] == NK_DIM_SYM &&
                                    x->shape.d[0] == NK_DIM_SYM)))
            return emit_flatten_nhwc(w, n);
        if (y->shape.rank == 4 && x->shape.d[2] * x->shape.d[3] == 1 &&
            y->shape.d[2] * y->shape.d[3] == 1)
            return emit_reshape(w, n, w->map[n->in[0]], n->out[0], TW_NHWC);
        static const int32_t TO_NCHW[4] = {0, 3, 1, 2};
        int t = emit_transpose(w, w->map[n->in[0]], TO_NCHW, 4,
                               sfx(w, tname(w, n->out[0]), "/nchw"));
        if (t < 0)
            return w->ctx->last;
        if (y->shape.rank != 4)
            return emit_reshape(w, n, t, n->out[0], TW_PLAIN);
        lx = TW_PLAIN;
        /* plain rank-4 data, to be made NHWC below */
        int mid_ir = n->out[0];
        const nk_tensor *yt = w->g->tensors[mid_ir];
        int64_t d[4];
        for (int i = 0; i < 4; i++)
            d[i] = yt->shape.d[i];
        int r = add_tensor(w, sfx(w, yt->name, "/nchw_reshaped"),
                           tfl_type(yt->dtype), 4, d, NULL, 0);
        if (r < 0)
            return w->ctx->last;
        int32_t shp[4];
        for (int i = 0; i < 4; i++)
            shp[i] = w->t[r].sig[i];
        int s = const_i32(w, sfx(w, yt->name, "/nchw_shape"), 4, shp);
        if (s < 0)
            return w->ctx->last;
        int32_t in[2] = {t, s};
        nk_status st = add_op(w, TFL_RESHAPE, 2, in, r, TFL_OPT_RESHAPE,
                              NULL);
        if (st)
            return st;
        static const int32_t TO_NHWC[4] = {0, 2, 3, 1};
        int f = emit_transpose(w, r, TO_NHWC, 4, sfx(w, yt->name, "/to_nhwc"));
        if (f < 0)
            return w->ctx->last;
        /* rename: the node's output is f */
        nk_free(w->t[f].name);
        w->t[f].name = nk_strdup(yt->name);
        if (!w->t[f].name)
            return oom(w);
        w->map[mid_ir] = f;
        w->layout[mid_ir] = TW_NHWC;
        return NK_OK;
    }
    /* plain input */
    if (y->shape.rank == 4) {
        if (y->shape.d[2] * y->shape.d[3] == 1)
            return emit_reshape(w, n, w->map[n->in[0]], n->out[0], TW_NHWC);
        return unsupported(w, n, "reshape of '%s' to a rank-4 tensor with "
                           "spatial size %lldx%lld would need a TRANSPOSE",
                           x->name, (long long)y->shape.d[2],
                           (long long)y->shape.d[3]);
    }
    return emit_reshape(w, n, w->map[n->in[0]], n->out[0], TW_PLAIN);
}

static nk_status emit_gemm(tw *w, const nk_node *n)
{
    const nk_tensor *a = nk_node_input(w->g, n, 0);
    const nk_tensor *bt = nk_node_input(w->g, n, 1);
    const nk_tensor *ct = nk_node_input(w->g, n, 2);
    bool gemm = n->op == NK_OP_GEMM;
    if (gemm && nk_node_int(n, "transA", 0))
        return unsupported(w, n, "transA = 1");
    if (a->shape.rank != 2)
        return unsupported(w, n, "input '%s' has rank %d, expected 2",
                           a->name, a->shape.rank);
    if (!is_const(bt) || bt->shape.rank != 2 || bt->dtype != NK_F32)
        return unsupported(w, n, "weights '%s' must be a constant float "
                           "matrix", bt ? bt->name : "");
    bool trans_b = gemm && nk_node_int(n, "transB", 0);
    float alpha = gemm ? nk_node_float(n, "alpha", 1.0f) : 1.0f;
    float beta = gemm ? nk_node_float(n, "beta", 1.0f) : 1.0f;
    int64_t o = trans_b ? bt->shape.d[0] : bt->shape.d[1];
    int64_t k = trans_b ? bt->shape.d[1] : bt->shape.d[0];
    size_t nw = (size_t)o * (size_t)k;
    float *wm = nk_malloc(nw * 4 + 4);
    if (!wm)
        return oom(w);
    const float *src = bt->data;
    bool flat = w->layout[n->in[0]] == TW_FLAT_HWC;
    int64_t fc = 0, fh = 0, fw = 0;
    if (flat) {
        fc = w->flat[n->in[0]][0];
        fh = w->flat[n->in[0]][1];
        fw = w->flat[n->in[0]][2];
        if (fc * fh * fw != k) {
            nk_free(wm);
            return unsupported(w, n, "flattened input has %lld values, "
                               "weights expect %lld",
                               (long long)(fc * fh * fw), (long long)k);
        }
    }
    for (int64_t r = 0; r < o; r++)
        for (int64_t j = 0; j < k; j++) {
            /* TFLite column j reads the stored (flattened NHWC) element j;
             * find the IR column it corresponds to. */
            int64_t ir_col = j;
            if (flat) {
                int64_t c = j % fc, hw = j / fc;
                ir_col = c * fh * fw + hw;
            }
            float v = trans_b ? src[r * k + ir_col] : src[ir_col * o + r];
            wm[r * k + j] = v * alpha;
        }
    int64_t wd[2] = {o, k};
    int wi = const_f32(w, bt->name, 2, wd, wm, nw);
    if (wi < 0)
        return w->ctx->last;
    float *bias = nk_calloc((size_t)o + 1, 4);
    if (!bias)
        return oom(w);
    if (ct) {
        if (!is_const(ct) || ct->dtype != NK_F32 ||
            nk_shape_numel(&ct->shape) != o) {
            nk_free(bias);
            return unsupported(w, n, "bias '%s' must be a float constant "
                               "with %lld values", ct->name, (long long)o);
        }
        for (int64_t r = 0; r < o; r++)
            bias[r] = ((const float *)ct->data)[r] * beta;
    }
    int64_t bd[1] = {o};
    int bi = const_f32(w, ct ? ct->name : sfx(w, bt->name, "/zero_bias"), 1,
                       bd, bias, (size_t)o);
    if (bi < 0)
        return w->ctx->last;
    tw_out out;
    nk_status st = begin_out(w, n, TW_PLAIN, &out);
    if (st)
        return st;
    tw_opts op = {0};
    op.act = out.fused;
    int32_t in[3] = {w->map[n->in[0]], wi, bi};
    if ((st = add_op(w, TFL_FULLY_CONNECTED, 3, in, out.op_out,
                     TFL_OPT_FULLY_CONNECTED, &op)))
        return st;
    return finish_act(w, n, &out);
}

static nk_status emit_binary(tw *w, const nk_node *n)
{
    const nk_tensor *y = nk_node_output(w->g, n, 0);
    tw_layout lay = y->shape.rank == 4 ? TW_NHWC : TW_PLAIN;
    int ins[2];
    for (int i = 0; i < 2; i++) {
        const nk_tensor *t = nk_node_input(w->g, n, i);
        if (!is_const(t)) {
            tw_layout lt = (tw_layout)w->layout[n->in[i]];
            if (lt == TW_FLAT_HWC || (lay == TW_NHWC && lt != TW_NHWC &&
                                      t->shape.rank > 0))
                return unsupported(w, n, "operand '%s' (rank %d) cannot "
                                   "broadcast against a rank-4 NHWC tensor",
                                   t->name, t->shape.rank);
        }
        if ((ins[i] = in_tensor(w, n, i, lay, y->shape.rank)) < 0)
            return w->ctx->last;
    }
    tw_out o;
    nk_status st = begin_out(w, n, lay, &o);
    if (st)
        return st;
    int code, opt;
    switch (n->op) {
    case NK_OP_ADD: code = TFL_ADD; opt = TFL_OPT_ADD; break;
    case NK_OP_SUB: code = TFL_SUB; opt = TFL_OPT_SUB; break;
    case NK_OP_MUL: code = TFL_MUL; opt = TFL_OPT_MUL; break;
    default: code = TFL_DIV; opt = TFL_OPT_DIV; break;
    }
    tw_opts op = {0};
    op.act = o.fused;
    int32_t in[2] = {ins[0], ins[1]};
    if ((st = add_op(w, code, 2, in, o.op_out, opt, &op)))
        return st;
    return finish_act(w, n, &o);
}

static nk_status emit_concat(tw *w, const nk_node *n)
{
    const nk_tensor *y = nk_node_output(w->g, n, 0);
    int r = y->shape.rank;
    tw_layout lay = r == 4 ? TW_NHWC : TW_PLAIN;
    int64_t axis = nk_node_int(n, "axis", 0);
    if (axis < 0)
        axis += r;
    if (axis < 0 || axis >= r)
        return unsupported(w, n, "axis %lld for rank %d",
                           (long long)nk_node_int(n, "axis", 0), r);
    if (n->n_in > 4)
        return unsupported(w, n, "%d inputs (nnkit writes at most 4)",
                           n->n_in);
    int32_t in[4];
    for (int i = 0; i < n->n_in; i++) {
        if (!is_const(nk_node_input(w->g, n, i)) &&
            w->layout[n->in[i]] != (uint8_t)lay)
            return unsupported(w, n, "inputs in different layouts");
        if ((in[i] = in_tensor(w, n, i, lay, r)) < 0)
            return w->ctx->last;
    }
    tw_out o;
    nk_status st = begin_out(w, n, lay, &o);
    if (st)
        return st;
    tw_opts op = {0};
    op.axis = lay == TW_NHWC ? NCHW_AXIS_TO_NHWC[axis] : (int)axis;
    op.act = o.fused;
    if ((st = add_op(w, TFL_CONCATENATION, n->n_in, in, o.op_out,
                     TFL_OPT_CONCATENATION, &op)))
        return st;
    return finish_act(w, n, &o);
}

static nk_status emit_pad(tw *w, const nk_node *n)
{
    const nk_tensor *x = nk_node_input(w->g, n, 0);
    const char *mode = nk_node_string(n, "mode", "constant");
    if (strcmp(mode, "constant") != 0)
        return unsupported(w, n, "pad mode '%s' (only constant)", mode);
    int r = x->shape.rank;
    int64_t pads[2 * NK_MAX_RANK] = {0};
    const nk_tensor *pt = nk_node_input(w->g, n, 1);
    if (pt) {
        if (!is_const(pt) || pt->dtype != NK_I64 ||
            nk_shape_numel(&pt->shape) != 2 * r)
            return unsupported(w, n, "pads must be a constant");
        memcpy(pads, pt->data, (size_t)(2 * r) * 8);
    } else {
        nk_node_ints(n, "pads", pads, 2 * NK_MAX_RANK);
    }
    float value = 0.0f;
    const nk_tensor *vt = nk_node_input(w->g, n, 2);
    if (vt) {
        if (!is_const(vt) || vt->dtype != NK_F32)
            return unsupported(w, n, "pad value must be a float constant");
        value = *(const float *)vt->data;
    }
    tw_layout lay = (tw_layout)w->layout[n->in[0]];
    if (lay == TW_FLAT_HWC)
        return unsupported(w, n, "pad of a flattened NHWC tensor");
    int32_t p[2 * NK_MAX_RANK];
    for (int i = 0; i < r; i++) {
        int irdim = lay == TW_NHWC ? NHWC_FROM_NCHW[i] : i;
        if (pads[irdim] < 0 || pads[r + irdim] < 0)
            return unsupported(w, n, "negative pads (cropping)");
        p[2 * i] = (int32_t)pads[irdim];
        p[2 * i + 1] = (int32_t)pads[r + irdim];
    }
    int pi = const_i32(w, sfx(w, tname(w, n->out[0]), "/paddings"), 2 * r, p);
    int y = out_tensor(w, n->out[0], lay);
    if (pi < 0 || y < 0)
        return w->ctx->last;
    w->t[pi].rank = 2;
    w->t[pi].shape[0] = w->t[pi].sig[0] = r;
    w->t[pi].shape[1] = w->t[pi].sig[1] = 2;
    if (value == 0.0f) {
        int32_t in[2] = {w->map[n->in[0]], pi};
        return add_op(w, TFL_PAD, 2, in, y, TFL_OPT_PAD, NULL);
    }
    int v = scalar_f32(w, sfx(w, tname(w, n->out[0]), "/pad_value"), value);
    if (v < 0)
        return w->ctx->last;
    int32_t in[3] = {w->map[n->in[0]], pi, v};
    return add_op(w, TFL_PADV2, 3, in, y, TFL_OPT_PADV2, NULL);
}

static nk_status emit_softmax(tw *w, const nk_node *n)
{
    const nk_tensor *x = nk_node_input(w->g, n, 0);
    int r = x->shape.rank;
    int64_t axis = nk_node_int(n, "axis", -1);
    if (axis < 0)
        axis += r;
    tw_layout lay = (tw_layout)w->layout[n->in[0]];
    bool last = lay == TW_NHWC ? axis == 1 : axis == r - 1;
    if (!last || lay == TW_FLAT_HWC)
        return unsupported(w, n, "softmax over axis %lld of a rank-%d "
                           "tensor is not over TFLite's last axis",
                           (long long)axis, r);
    int y = out_tensor(w, n->out[0], lay);
    if (y < 0)
        return w->ctx->last;
    tw_opts o = {0};
    o.beta = 1.0f;
    int32_t in[1] = {w->map[n->in[0]]};
    return add_op(w, TFL_SOFTMAX, 1, in, y, TFL_OPT_SOFTMAX, &o);
}

static nk_status emit_transpose_node(tw *w, const nk_node *n)
{
    const nk_tensor *x = nk_node_input(w->g, n, 0);
    int r = x->shape.rank;
    int64_t perm[NK_MAX_RANK];
    int np = nk_node_ints(n, "perm", perm, NK_MAX_RANK);
    if (np == 0)
        for (int i = 0; i < r; i++)
            perm[i] = r - 1 - i;
    tw_layout lx = (tw_layout)w->layout[n->in[0]];
    if (lx == TW_FLAT_HWC)
        return unsupported(w, n, "transpose of a flattened NHWC tensor");
    tw_layout ly = r == 4 ? TW_NHWC : TW_PLAIN;
    /* stored_out[i] = IR_out[Ly[i]] = IR_in[perm[Ly[i]]]
     *               = stored_in[Lx^-1[perm[Ly[i]]]] */
    int32_t p[NK_MAX_RANK];
    for (int i = 0; i < r; i++) {
        int ir_out = ly == TW_NHWC ? NHWC_FROM_NCHW[i] : i;
        int ir_in = (int)perm[ir_out];
        p[i] = lx == TW_NHWC ? NCHW_AXIS_TO_NHWC[ir_in] : ir_in;
    }
    /* A transpose that only changes the layout of what is stored (the
     * NHWC<->NCHW boundaries of a graph read from TFLite) is no op at
     * all: the output aliases the input, in the layout that makes the
     * stored permutation the identity. */
    for (int k = 0; k < (r == 4 ? 2 : 1); k++) {
        tw_layout try_ly = k == 0 ? ly : TW_PLAIN;
        bool ident = true;
        for (int i = 0; i < r; i++) {
            int ir_out = try_ly == TW_NHWC ? NHWC_FROM_NCHW[i] : i;
            int ir_in = (int)perm[ir_out];
            int q = lx == TW_NHWC ? NCHW_AXIS_TO_NHWC[ir_in] : ir_in;
            ident &= q == i;
        }
        if (!ident)
            continue;
        int src = w->map[n->in[0]];
        w->map[n->out[0]] = src;
        w->layout[n->out[0]] = (uint8_t)try_ly;
        bool x_is_io = false;
        for (int i = 0; i < w->g->n_inputs; i++)
            x_is_io |= w->g->inputs[i] == n->in[0];
        x_is_io |= nk_tensor_is_graph_output(w->g, n->in[0]);
        if (nk_tensor_is_graph_output(w->g, n->out[0]) && !x_is_io) {
            char *nm = nk_strdup(tname(w, n->out[0]));
            if (!nm)
                return oom(w);
            nk_free(w->t[src].name);
            w->t[src].name = nm;
        }
        return NK_OK;
    }
    int y = out_tensor(w, n->out[0], ly);
    int pi = const_i32(w, sfx(w, tname(w, n->out[0]), "/perm"), r, p);
    if (y < 0 || pi < 0)
        return w->ctx->last;
    int32_t in[2] = {w->map[n->in[0]], pi};
    return add_op(w, TFL_TRANSPOSE, 2, in, y, TFL_OPT_TRANSPOSE, NULL);
}

static nk_status emit_batchnorm(tw *w, const nk_node *n)
{
    const nk_tensor *x = nk_node_input(w->g, n, 0);
    const nk_tensor *p[4];
    for (int i = 0; i < 4; i++) {
        p[i] = nk_node_input(w->g, n, 1 + i);
        if (!is_const(p[i]) || p[i]->dtype != NK_F32)
            return unsupported(w, n, "parameters must be float constants");
    }
    int64_t c = x->shape.rank >= 2 ? x->shape.d[1] : 0;
    for (int i = 0; i < 4; i++)
        if (nk_shape_numel(&p[i]->shape) != c)
            return unsupported(w, n, "parameter '%s' has %lld values, "
                               "expected %lld", p[i]->name,
                               (long long)nk_shape_numel(&p[i]->shape),
                               (long long)c);
    tw_layout lay = (tw_layout)w->layout[n->in[0]];
    if (!(lay == TW_NHWC || (lay == TW_PLAIN && x->shape.rank == 2)))
        return unsupported(w, n, "input of rank %d", x->shape.rank);
    double eps = nk_node_float(n, "epsilon", 1e-5f);
    float *sc = nk_malloc((size_t)c * 4 + 4), *sh = nk_malloc((size_t)c * 4 + 4);
    if (!sc || !sh) {
        nk_free(sc);
        nk_free(sh);
        return oom(w);
    }
    const float *g = p[0]->data, *b = p[1]->data, *mu = p[2]->data,
                *var = p[3]->data;
    for (int64_t i = 0; i < c; i++) {
        double s = (double)g[i] / sqrt((double)var[i] + eps);
        sc[i] = (float)s;
        sh[i] = (float)((double)b[i] - (double)mu[i] * s);
    }
    int64_t d[1] = {c};
    const char *base = tname(w, n->out[0]);
    int si = const_f32(w, sfx(w, base, "/bn_scale"), 1, d, sc, (size_t)c);
    int hi = const_f32(w, sfx(w, base, "/bn_shift"), 1, d, sh, (size_t)c);
    if (si < 0 || hi < 0)
        return w->ctx->last;
    tw_out o;
    nk_status st = begin_out(w, n, lay, &o);
    if (st)
        return st;
    tw_tensor *f = &w->t[o.final];
    int64_t md[NK_MAX_RANK];
    for (int i = 0; i < f->rank; i++)
        md[i] = f->sig[i] < 0 ? NK_DIM_SYM : f->sig[i];
    int m = add_tensor(w, sfx(w, base, "/bn_mul"), TFL_FLOAT32, f->rank, md,
                       NULL, 0);
    if (m < 0)
        return w->ctx->last;
    int32_t i1[2] = {w->map[n->in[0]], si}, i2[2] = {m, hi};
    tw_opts op = {0};
    op.act = o.fused;
    if ((st = add_op(w, TFL_MUL, 2, i1, m, TFL_OPT_MUL, NULL)) ||
        (st = add_op(w, TFL_ADD, 2, i2, o.op_out, TFL_OPT_ADD, &op)))
        return st;
    return finish_act(w, n, &o);
}

static nk_status emit_node(tw *w, const nk_node *n)
{
    for (int i = 0; i < n->n_in; i++) {
        if (n->in[i] < 0)
            continue;
        const nk_tensor *t = w->g->tensors[n->in[i]];
        if (!is_const(t) && w->map[n->in[i]] < 0)
            return unsupported(w, n, "input '%s' has no producer", t->name);
    }
    nk_act act;
    float a0, a1;
    switch (n->op) {
    case NK_OP_CONV: return emit_conv(w, n);
    case NK_OP_MAXPOOL:
    case NK_OP_AVGPOOL: return emit_pool(w, n);
    case NK_OP_GLOBALAVGPOOL: return emit_global_pool(w, n);
    case NK_OP_FLATTEN:
        if (nk_node_int(n, "axis", 1) != 1)
            return unsupported(w, n, "Flatten axis %lld (only 1)",
                               (long long)nk_node_int(n, "axis", 1));
        return emit_flatten_or_reshape(w, n);
    case NK_OP_RESHAPE: return emit_flatten_or_reshape(w, n);
    case NK_OP_GEMM:
    case NK_OP_MATMUL: return emit_gemm(w, n);
    case NK_OP_ADD:
    case NK_OP_SUB:
    case NK_OP_MUL:
    case NK_OP_DIV: return emit_binary(w, n);
    case NK_OP_CONCAT: return emit_concat(w, n);
    case NK_OP_PAD: return emit_pad(w, n);
    case NK_OP_SOFTMAX: return emit_softmax(w, n);
    case NK_OP_TRANSPOSE: return emit_transpose_node(w, n);
    case NK_OP_BATCHNORM: return emit_batchnorm(w, n);
    case NK_OP_DROPOUT:
    case NK_OP_IDENTITY:
        w->map[n->out[0]] = w->map[n->in[0]];
        w->layout[n->out[0]] = w->layout[n->in[0]];
        if (w->layout[n->out[0]] == TW_FLAT_HWC)
            memcpy(w->flat[n->out[0]], w->flat[n->in[0]],
                   sizeof w->flat[0]);
        return NK_OK;
    default:
        if (node_act(w->g, n, &act, &a0, &a1)) {
            tw_layout lay = (tw_layout)w->layout[n->in[0]];
            int y = out_tensor(w, n->out[0], lay);
            if (y < 0)
                return w->ctx->last;
            if (lay == TW_FLAT_HWC)
                memcpy(w->flat[n->out[0]], w->flat[n->in[0]],
                       sizeof w->flat[0]);
            return emit_act(w, n, act, a0, a1, w->map[n->in[0]], y);
        }
        return unsupported(w, n, "no TFLite mapping for this op");
    }
}

/* Fold a following Relu / Clip(0,6) / Clip(-1,1) / Tanh node into the ops
 * whose TFLite builtin has a fused activation (the optimizer already did
 * this for Conv, Gemm and Add). */
static void fuse_following_acts(tw *w)
{
    nk_graph *g = w->g;
    for (int i = 0; i < g->n_nodes; i++) {
        nk_node *a = &g->nodes[i];
        nk_act act;
        float a0, a1;
        if (w->skip[i] || a->n_in < 1 || a->in[0] < 0 ||
            !node_act(g, a, &act, &a0, &a1) || fused_code(act, a0, a1) < 0)
            continue;
        int x = a->in[0];
        int p = nk_tensor_producer(g, x);
        if (p < 0 || w->skip[p] || nk_tensor_use_count(g, x) != 1)
            continue;
        nk_node *prod = &g->nodes[p];
        switch (prod->op) {
        case NK_OP_CONV: case NK_OP_GEMM: case NK_OP_MATMUL:
        case NK_OP_ADD: case NK_OP_SUB: case NK_OP_MUL: case NK_OP_DIV:
        case NK_OP_CONCAT: case NK_OP_MAXPOOL: case NK_OP_AVGPOOL:
        case NK_OP_BATCHNORM:
            break;
        default:
            continue;
        }
        if (prod->act != NK_ACT_NONE || prod->n_out != 1)
            continue;
        prod->act = act;
        prod->act_a0 = a0;
        prod->act_a1 = a1;
        prod->out[0] = a->out[0];
        w->skip[i] = true;
    }
}

/* ---- graph inputs and outputs ------------------------------------------ */

/* Is rank-4 graph input ir consumed only by NHWC -> NCHW Transposes (the
 * way nnkit reads a TFLite model's NHWC input)? */
static bool nhwc_boundary_input(const tw *w, int ir)
{
    int uses = 0;
    for (int i = 0; i < w->g->n_nodes; i++) {
        const nk_node *n = &w->g->nodes[i];
        for (int j = 0; j < n->n_in; j++) {
            if (n->in[j] != ir)
                continue;
            int64_t p[NK_MAX_RANK];
            if (n->op != NK_OP_TRANSPOSE ||
                nk_node_ints(n, "perm", p, NK_MAX_RANK) != 4 || p[0] != 0 ||
                p[1] != 3 || p[2] != 1 || p[3] != 2)
                return false;
            uses++;
        }
    }
    return uses > 0 && !nk_tensor_is_graph_output(w->g, ir);
}

static nk_status emit_inputs(tw *w)
{
    for (int i = 0; i < w->g->n_inputs; i++) {
        int ir = w->g->inputs[i];
        const nk_tensor *t = w->g->tensors[ir];
        if (t->shape.rank != 4) {
            if ((w->in_idx[i] = out_tensor(w, ir, TW_PLAIN)) < 0)
                return w->ctx->last;
            continue;
        }
        if (nhwc_boundary_input(w, ir)) {
            /* already NHWC (read from a TFLite file): keep it as it is */
            if ((w->in_idx[i] = out_tensor(w, ir, TW_PLAIN)) < 0)
                return w->ctx->last;
            w->in_nhwc = 1;
            continue;
        }
        if (!w->opts.keep_nchw_io) {
            if ((w->in_idx[i] = out_tensor(w, ir, TW_NHWC)) < 0)
                return w->ctx->last;
            w->in_nhwc = 1;
            continue;
        }
        /* keep NCHW at the boundary: one TRANSPOSE to the NHWC inside */
        int x = out_tensor(w, ir, TW_PLAIN);
        if (x < 0)
            return w->ctx->last;
        w->in_idx[i] = x;
        static const int32_t TO_NHWC[4] = {0, 2, 3, 1};
        int y = emit_transpose(w, x, TO_NHWC, 4, sfx(w, t->name, "/nhwc"));
        if (y < 0)
            return w->ctx->last;
        w->map[ir] = y;
        w->layout[ir] = TW_NHWC;
    }
    return NK_OK;
}

/* The TFLite tensors of the graph outputs (keep_nchw_io: rank-4 outputs
 * transposed back to NCHW). */
static nk_status output_list(tw *w, int32_t *outs)
{
    for (int i = 0; i < w->g->n_outputs; i++) {
        int ir = w->g->outputs[i];
        const nk_tensor *t = w->g->tensors[ir];
        int x = w->map[ir];
        if (x < 0 && is_const(t))
            x = const_tensor(w, NULL, t, TW_PLAIN, t->shape.rank, NULL);
        if (x < 0)
            return nk_fail(w->ctx, NK_UNSUPPORTED,
                           "%s: graph output '%s' is produced by no node",
                           w->path, t->name);
        tw_layout lay = (tw_layout)w->layout[ir];
        if (lay == TW_FLAT_HWC)
            return nk_fail(w->ctx, NK_INTERNAL,
                           "%s: output '%s' left in a permuted layout",
                           w->path, t->name);
        if (lay == TW_NHWC && w->opts.keep_nchw_io) {
            /* the NHWC tensor gets an internal name, the NCHW one the
             * output's */
            char *old = w->t[x].name;
            w->t[x].name = nk_strdup(sfx(w, old, "/nhwc"));
            nk_free(old);
            if (!w->t[x].name)
                return oom(w);
            static const int32_t TO_NCHW[4] = {0, 3, 1, 2};
            x = emit_transpose(w, x, TO_NCHW, 4, t->name);
            if (x < 0)
                return w->ctx->last;
        }
        outs[i] = x;
    }
    return NK_OK;
}

/* ---- fp16 weights -------------------------------------------------------- */

/* Float constants of at least this many elements become float16 +
 * DEQUANTIZE; scalars and tiny vectors stay float32 (their precision
 * matters more than their size, e.g. HardSigmoid's 1/6). */
#define TW_FP16_MIN_ELEMS 16

static nk_status fp16_weights(tw *w)
{
    int n_before = w->nt, n_deq = 0;
    for (int i = 0; i < n_before; i++) {
        tw_tensor *t = &w->t[i];
        if (t->type != TFL_FLOAT32 || !t->buffer)
            continue;
        tw_buffer *b = &w->b[t->buffer];
        size_t n = b->n / 4;
        if (n < TW_FP16_MIN_ELEMS)
            continue;
        uint16_t *h = nk_malloc(n * 2);
        if (!h)
            return oom(w);
        const float *f = b->data;
        for (size_t k = 0; k < n; k++)
            h[k] = nk_f32_to_f16(f[k]);
        int64_t d[NK_MAX_RANK];
        for (int k = 0; k < t->rank; k++)
            d[k] = t->shape[k];
        char name[512];
        snprintf(name, sizeof name, "%s/fp16", t->name);
        int hi = add_const(w, name, TFL_FLOAT16, t->rank, d, h, n * 2, h);
        if (hi < 0)
            return w->ctx->last;
        t = &w->t[i]; /* add_const may move w->t */
        nk_free(w->b[t->buffer].owned);
        w->b[t->buffer] = (tw_buffer){NULL, 0, NULL};
        t->buffer = 0;
        int32_t in[1] = {hi};
        nk_status st = add_op(w, TFL_DEQUANTIZE, 1, in, i, TFL_OPT_DEQUANTIZE,
                              NULL);
        if (st)
            return st;
        n_deq++;
    }
    /* The DEQUANTIZE ops run first: move them to the front. */
    if (n_deq) {
        tw_op *ops = nk_malloc((size_t)w->nops * sizeof *ops);
        if (!ops)
            return oom(w);
        int k = 0;
        for (int i = w->nops - n_deq; i < w->nops; i++)
            ops[k++] = w->ops[i];
        for (int i = 0; i < w->nops - n_deq; i++)
            ops[k++] = w->ops[i];
        memcpy(w->ops, ops, (size_t)w->nops * sizeof *ops);
        nk_free(ops);
    }
    return NK_OK;
}

/* ---- serialisation -------------------------------------------------------- */

static int op_version(const tw *w, const tw_op *op)
{
    switch (op->code) {
    case TFL_DEQUANTIZE:
        return w->t[op->in[0]].type == TFL_FLOAT16 ? 3
               : w->t[op->in[0]].type == TFL_INT8 ? 2 : 1;
    case TFL_DEPTHWISE_CONV_2D:
        return op->o.dil_w > 1 || op->o.dil_h > 1 ? 2 : 1;
    default:
        return 1;
    }
}

/* The converter's "min_runtime_version": nnkit's estimate from the ops
 * used (see docs/tflite.md). */
static const char *min_runtime(const tw *w)
{
    const char *v = "1.5.0";
    int rank = 0;
    for (int i = 0; i < w->nops; i++) {
        int r = 0;
        const char *s = NULL;
        switch (w->ops[i].code) {
        case TFL_MEAN: r = 1; s = "1.6.0"; break;
        case TFL_PADV2: r = 2; s = "1.9.0"; break;
        case TFL_DEQUANTIZE: r = 3; s = "1.13.1"; break;
        case TFL_LEAKY_RELU: r = 3; s = "1.13.1"; break;
        case TFL_HARD_SWISH: r = 4; s = "1.15.0"; break;
        default: break;
        }
        if (r > rank) {
            rank = r;
            v = s;
        }
    }
    return v;
}

static fb_ref write_options(fb_builder *b, const tw_op *op)
{
    const tw_opts *o = &op->o;
    fbb_table_start(b);
    switch (op->opt_type) {
    case TFL_OPT_CONV2D:
        fbb_add_u8(b, TFL_CONV_PADDING, (uint8_t)o->padding);
        fbb_add_i32(b, TFL_CONV_STRIDE_W, o->stride_w);
        fbb_add_i32(b, TFL_CONV_STRIDE_H, o->stride_h);
        fbb_add_u8(b, TFL_CONV_ACT, (uint8_t)o->act);
        fbb_add_i32(b, TFL_CONV_DIL_W, o->dil_w);
        fbb_add_i32(b, TFL_CONV_DIL_H, o->dil_h);
        break;
    case TFL_OPT_DEPTHWISE:
        fbb_add_u8(b, TFL_DW_PADDING, (uint8_t)o->padding);
        fbb_add_i32(b, TFL_DW_STRIDE_W, o->stride_w);
        fbb_add_i32(b, TFL_DW_STRIDE_H, o->stride_h);
        fbb_add_i32(b, TFL_DW_MULT, o->depth_mult);
        fbb_add_u8(b, TFL_DW_ACT, (uint8_t)o->act);
        fbb_add_i32(b, TFL_DW_DIL_W, o->dil_w);
        fbb_add_i32(b, TFL_DW_DIL_H, o->dil_h);
        break;
    case TFL_OPT_POOL2D:
        fbb_add_u8(b, TFL_POOL_PADDING, (uint8_t)o->padding);
        fbb_add_i32(b, TFL_POOL_STRIDE_W, o->stride_w);
        fbb_add_i32(b, TFL_POOL_STRIDE_H, o->stride_h);
        fbb_add_i32(b, TFL_POOL_FILTER_W, o->filter_w);
        fbb_add_i32(b, TFL_POOL_FILTER_H, o->filter_h);
        fbb_add_u8(b, TFL_POOL_ACT, (uint8_t)o->act);
        break;
    case TFL_OPT_FULLY_CONNECTED:
        fbb_add_u8(b, TFL_FC_ACT, (uint8_t)o->act);
        break;
    case TFL_OPT_SOFTMAX:
        fbb_add_f32(b, TFL_SOFTMAX_BETA, o->beta);
        break;
    case TFL_OPT_CONCATENATION:
        fbb_add_i32(b, TFL_CONCAT_AXIS, o->axis);
        fbb_add_u8(b, TFL_CONCAT_ACT, (uint8_t)o->act);
        break;
    case TFL_OPT_ADD:
    case TFL_OPT_SUB:
    case TFL_OPT_MUL:
    case TFL_OPT_DIV:
        fbb_add_u8(b, TFL_BIN_ACT, (uint8_t)o->act);
        break;
    case TFL_OPT_REDUCER:
        fbb_add_u8(b, TFL_REDUCER_KEEP_DIMS, (uint8_t)o->keep_dims);
        break;
    case TFL_OPT_LEAKY_RELU:
        fbb_add_f32(b, TFL_LEAKY_ALPHA, o->alpha);
        break;
    default: /* option tables without fields */
        break;
    }
    return fbb_table_end(b);
}

static fb_ref write_quant(fb_builder *b, const tw_tensor *t)
{
    const nk_quant *q = t->quant;
    int64_t *zp = nk_malloc((size_t)q->n * 8 + 8);
    if (!zp) {
        b->oom = true;
        return 0;
    }
    for (int i = 0; i < q->n; i++)
        zp[i] = q->zero_point[i];
    fb_ref scale = fbb_vector(b, q->scale, (size_t)q->n, 4, 4, NULL);
    fb_ref zero = fbb_vector(b, zp, (size_t)q->n, 8, 8, NULL);
    nk_free(zp);
    fbb_table_start(b);
    fbb_add_ref(b, TFL_Q_SCALE, scale);
    fbb_add_ref(b, TFL_Q_ZERO_POINT, zero);
    if (q->axis >= 0)
        fbb_add_i32(b, TFL_Q_QDIM, t->qdim);
    return fbb_table_end(b);
}

/* Serialise everything into a FlatBuffer; *out is nk_malloc'ed. */
static nk_status serialise(tw *w, const int32_t *outs, uint8_t *meta,
                           size_t meta_len, uint8_t **out, size_t *len)
{
    size_t hint = 1 << 20;
    for (int i = 0; i < w->nb; i++)
        if (!nk_add_size(hint, w->b[i].n + 64, &hint))
            return nk_fail(w->ctx, NK_UNSUPPORTED,
                           "%s: model too large for TFLite", w->path);
    if (hint > 0x7FFFFFFF)
        return nk_fail(w->ctx, NK_UNSUPPORTED,
                       "%s: %zu bytes of weights exceed the 2 GiB limit of "
                       "a TFLite FlatBuffer",
                       w->path, hint);
    fb_builder b;
    fbb_init(&b, hint + (size_t)w->nt * 256 + (size_t)w->nops * 128);
    /* metadata buffers: min_runtime_version (16 bytes, NUL padded, as the
     * converter writes it) and nnkit's payload */
    char ver[16] = {0};
    snprintf(ver, sizeof ver, "%s", min_runtime(w));
    int buf_ver = w->nb, buf_meta = w->nb + 1, n_buffers = w->nb + 2;
    fb_ref *refs = nk_calloc((size_t)n_buffers + (size_t)w->nt +
                                 (size_t)w->nops + 16,
                             sizeof *refs);
    if (!refs) {
        fbb_free(&b);
        return oom(w);
    }
    /* Buffers first: they end up at the end of the file. */
    for (int i = n_buffers - 1; i >= 0; i--) {
        const void *data = NULL;
        size_t n = 0;
        if (i == buf_ver) {
            data = ver;
            n = sizeof ver;
        } else if (i == buf_meta) {
            data = meta;
            n = meta_len;
        } else {
            data = w->b[i].data;
            n = w->b[i].n;
        }
        fb_ref dv = 0;
        if (i > 0 && data && n)
            dv = fbb_vector(&b, data, n, 1, 16, NULL);
        fbb_table_start(&b);
        fbb_add_ref(&b, TFL_BUF_DATA, dv);
        refs[i] = fbb_table_end(&b);
    }
    fb_ref buffers = fbb_vector_refs(&b, refs, (size_t)n_buffers);
    /* tensors */
    for (int i = 0; i < w->nt; i++) {
        const tw_tensor *t = &w->t[i];
        fb_ref q = t->quant ? write_quant(&b, t) : 0;
        fb_ref shape = fbb_vector(&b, t->shape, (size_t)t->rank, 4, 4, NULL);
        fb_ref sig = t->dynamic
                         ? fbb_vector(&b, t->sig, (size_t)t->rank, 4, 4, NULL)
                         : 0;
        fb_ref name = fbb_string(&b, t->name);
        fbb_table_start(&b);
        fbb_add_ref(&b, TFL_T_SHAPE, shape);
        if (t->type)
            fbb_add_u8(&b, TFL_T_TYPE, (uint8_t)t->type);
        if (t->buffer)
            fbb_add_u32(&b, TFL_T_BUFFER, t->buffer);
        fbb_add_ref(&b, TFL_T_NAME, name);
        fbb_add_ref(&b, TFL_T_QUANT, q);
        fbb_add_ref(&b, TFL_T_SHAPE_SIGNATURE, sig);
        fbb_add_u8(&b, TFL_T_HAS_RANK, 1);
        refs[i] = fbb_table_end(&b);
    }
    fb_ref tensors = fbb_vector_refs(&b, refs, (size_t)w->nt);
    /* operator codes: one per distinct builtin code (and version) */
    int codes[64], versions[64], ncodes = 0;
    int *op_code_index = nk_malloc((size_t)w->nops * sizeof(int) + 4);
    if (!op_code_index) {
        nk_free(refs);
        fbb_free(&b);
        return oom(w);
    }
    for (int i = 0; i < w->nops; i++) {
        int v = op_version(w, &w->ops[i]), k;
        for (k = 0; k < ncodes; k++)
            if (codes[k] == w->ops[i].code && versions[k] == v)
                break;
        if (k == ncodes) {
            NK_ASSERT(ncodes < 64);
            codes[ncodes] = w->ops[i].code;
            versions[ncodes++] = v;
        }
        op_code_index[i] = k;
    }
    for (int i = 0; i < w->nops; i++) {
        const tw_op *op = &w->ops[i];
        fb_ref opts = op->opt_type ? write_options(&b, op) : 0;
        fb_ref ins = fbb_vector(&b, op->in, (size_t)op->n_in, 4, 4, NULL);
        fb_ref outv = fbb_vector(&b, op->out, (size_t)op->n_out, 4, 4, NULL);
        fbb_table_start(&b);
        if (op_code_index[i])
            fbb_add_u32(&b, TFL_OP_OPCODE, (uint32_t)op_code_index[i]);
        fbb_add_ref(&b, TFL_OP_INPUTS, ins);
        fbb_add_ref(&b, TFL_OP_OUTPUTS, outv);
        if (op->opt_type)
            fbb_add_u8(&b, TFL_OP_OPTIONS_TYPE, (uint8_t)op->opt_type);
        fbb_add_ref(&b, TFL_OP_OPTIONS, opts);
        refs[i] = fbb_table_end(&b);
    }
    nk_free(op_code_index);
    fb_ref operators = fbb_vector_refs(&b, refs, (size_t)w->nops);
    const int32_t *ins = w->in_idx;
    int n_in = w->g->n_inputs;
    fb_ref sg_in = fbb_vector(&b, ins, (size_t)n_in, 4, 4, NULL);
    fb_ref sg_out = fbb_vector(&b, outs, (size_t)w->g->n_outputs, 4, 4, NULL);
    fb_ref sg_name = fbb_string(&b, "main");
    fbb_table_start(&b);
    fbb_add_ref(&b, TFL_SG_TENSORS, tensors);
    fbb_add_ref(&b, TFL_SG_INPUTS, sg_in);
    fbb_add_ref(&b, TFL_SG_OUTPUTS, sg_out);
    fbb_add_ref(&b, TFL_SG_OPERATORS, operators);
    fbb_add_ref(&b, TFL_SG_NAME, sg_name);
    fb_ref sg = fbb_table_end(&b);
    fb_ref subgraphs = fbb_vector_refs(&b, &sg, 1);
    for (int k = 0; k < ncodes; k++) {
        fbb_table_start(&b);
        fbb_add_u8(&b, TFL_OC_DEPRECATED_CODE,
                   (uint8_t)(codes[k] < TFL_PLACEHOLDER_FOR_GREATER_OP_CODES
                                 ? codes[k]
                                 : TFL_PLACEHOLDER_FOR_GREATER_OP_CODES));
        fbb_add_i32(&b, TFL_OC_VERSION, versions[k]);
        fbb_add_i32(&b, TFL_OC_CODE, codes[k]);
        refs[k] = fbb_table_end(&b);
    }
    fb_ref opcodes = fbb_vector_refs(&b, refs, (size_t)ncodes);
    /* metadata */
    fb_ref mnames[2] = {fbb_string(&b, TFL_META_RUNTIME),
                        fbb_string(&b, TFL_META_NNKIT)};
    int mbufs[2] = {buf_ver, buf_meta};
    for (int k = 0; k < 2; k++) {
        fbb_table_start(&b);
        fbb_add_ref(&b, TFL_META_NAME, mnames[k]);
        fbb_add_u32(&b, TFL_META_BUFFER, (uint32_t)mbufs[k]);
        refs[k] = fbb_table_end(&b);
    }
    fb_ref metadata = fbb_vector_refs(&b, refs, 2);
    /* one signature, "serving_default", naming inputs and outputs */
    fb_ref maps[2];
    for (int side = 0; side < 2; side++) {
        int cnt = side ? w->g->n_outputs : n_in;
        for (int i = 0; i < cnt; i++) {
            int ti = side ? outs[i] : ins[i];
            fb_ref nm = fbb_string(&b, w->t[ti].name);
            fbb_table_start(&b);
            fbb_add_ref(&b, TFL_TMAP_NAME, nm);
            fbb_add_u32(&b, TFL_TMAP_INDEX, (uint32_t)ti);
            refs[i] = fbb_table_end(&b);
        }
        maps[side] = fbb_vector_refs(&b, refs, (size_t)cnt);
    }
    fb_ref key = fbb_string(&b, "serving_default");
    fbb_table_start(&b);
    fbb_add_ref(&b, TFL_SIG_INPUTS, maps[0]);
    fbb_add_ref(&b, TFL_SIG_OUTPUTS, maps[1]);
    fbb_add_ref(&b, TFL_SIG_KEY, key);
    fb_ref sig = fbb_table_end(&b);
    fb_ref sigs = fbb_vector_refs(&b, &sig, 1);
    fb_ref desc = fbb_string(&b, "nnkit " NNKIT_VERSION);
    fbb_table_start(&b);
    fbb_add_u32(&b, TFL_MODEL_VERSION, TFL_SCHEMA_VERSION);
    fbb_add_ref(&b, TFL_MODEL_OPCODES, opcodes);
    fbb_add_ref(&b, TFL_MODEL_SUBGRAPHS, subgraphs);
    fbb_add_ref(&b, TFL_MODEL_DESCRIPTION, desc);
    fbb_add_ref(&b, TFL_MODEL_BUFFERS, buffers);
    fbb_add_ref(&b, TFL_MODEL_METADATA, metadata);
    fbb_add_ref(&b, TFL_MODEL_SIGNATURES, sigs);
    fb_ref model = fbb_table_end(&b);
    nk_free(refs);
    const uint8_t *data;
    size_t n;
    if (!fbb_finish(&b, model, TFL_IDENT, &data, &n)) {
        fbb_free(&b);
        return nk_fail(w->ctx, NK_NOMEM,
                       "%s: out of memory building the FlatBuffer", w->path);
    }
    /* Hand the finished bytes over: move them to the buffer's start. */
    memmove(b.buf, data, n);
    *out = b.buf;
    *len = n;
    b.buf = NULL;
    return NK_OK;
}

/* ---- entry points ---------------------------------------------------------- */

static void tw_free(tw *w)
{
    for (int i = 0; i < w->nt; i++)
        nk_free(w->t[i].name);
    for (int i = 0; i < w->nb; i++)
        nk_free(w->b[i].owned);
    nk_free(w->t);
    nk_free(w->b);
    nk_free(w->ops);
    nk_free(w->map);
    nk_free(w->layout);
    nk_free(w->flat);
    nk_free(w->skip);
    nk_free(w->keep_extra);
    nk_free(w->in_idx);
    nk_graph_free(w->g);
}

static nk_status convert(tw *w, const nk_graph *src)
{
    nk_status st = nk_graph_clone(w->ctx, src, &w->g);
    if (st)
        return st;
    nk_graph *g = w->g;
    /* Unused quantized initializers (e.g. int8 tensors that only tools
     * read) are kept; the optimizer's leftovers are not. */
    w->keep_extra = nk_calloc((size_t)g->n_tensors + 1, sizeof(bool));
    if (!w->keep_extra)
        return oom(w);
    for (int i = 0; i < g->n_tensors; i++)
        w->keep_extra[i] = g->tensors[i]->is_init && g->tensors[i]->quant &&
                           nk_tensor_use_count(g, i) == 0;
    int n_orig = g->n_tensors;
    if ((st = nk_graph_optimize(w->ctx, g)))
        return st;
    size_t nt = (size_t)g->n_tensors + 1;
    w->map = nk_malloc(nt * sizeof(int));
    w->layout = nk_calloc(nt, 1);
    w->flat = nk_calloc(nt, sizeof *w->flat);
    w->skip = nk_calloc((size_t)g->n_nodes + 1, sizeof(bool));
    w->in_idx = nk_calloc((size_t)g->n_inputs + 1, sizeof(int32_t));
    if (!w->map || !w->layout || !w->flat || !w->skip || !w->in_idx)
        return oom(w);
    for (size_t i = 0; i < nt; i++)
        w->map[i] = -1;
    /* buffer 0: the empty sentinel */
    if (!grow((void **)&w->b, &w->capb, 1, sizeof *w->b))
        return oom(w);
    w->nb = 1;
    fuse_following_acts(w);
    if ((st = emit_inputs(w)))
        return st;
    for (int i = 0; i < g->n_nodes; i++) {
        if (w->skip[i])
            continue;
        if ((st = emit_node(w, &g->nodes[i])))
            return st;
    }
    for (int i = 0; i < n_orig; i++)
        if (w->keep_extra[i] && w->map[i] < 0 &&
            const_tensor(w, NULL, g->tensors[i], TW_PLAIN, 0, NULL) < 0)
            return w->ctx->last;
    return NK_OK;
}

nk_status nk_tflite_write_mem(nk_ctx *ctx, const nk_graph *g,
                              const nk_save_opts *opts, const char *name,
                              uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    tw w = {0};
    w.ctx = ctx;
    w.path = name;
    if (opts)
        w.opts = *opts;
    int32_t *outs = NULL;
    uint8_t *meta = NULL;
    size_t meta_len = 0;
    nk_status st = convert(&w, g);
    if (!st) {
        outs = nk_malloc(((size_t)w.g->n_outputs + 1) * sizeof *outs);
        st = outs ? output_list(&w, outs) : oom(&w);
    }
    if (!st && w.opts.fp16_weights)
        st = fp16_weights(&w);
    if (!st) {
        nk_preproc pre = w.g->preproc;
        int nhwc = w.in_nhwc ? 1 : pre.nhwc;
        st = nk_tflite_meta_encode(ctx, w.g, nhwc, &meta, &meta_len);
    }
    if (!st)
        st = serialise(&w, outs, meta, meta_len, out, len);
    nk_free(meta);
    nk_free(outs);
    tw_free(&w);
    return st;
}

nk_status nk_tflite_save_opts(nk_ctx *ctx, const nk_graph *g,
                              const char *path, const nk_save_opts *opts)
{
    uint8_t *data;
    size_t len;
    nk_status st = nk_tflite_write_mem(ctx, g, opts, path, &data, &len);
    if (st)
        return st;
    st = nk_file_write_atomic(ctx, path, data, len);
    nk_free(data);
    return st;
}

nk_status nk_tflite_save(nk_ctx *ctx, const nk_graph *g, const char *path)
{
    return nk_tflite_save_opts(ctx, g, path, NULL);
}
