/*
 * tflite-read.c — TensorFlow Lite to IR. Every rank-4 TFLite tensor is
 * read as NHWC and becomes an NCHW IR value; weights are permuted back
 * (OHWI -> OIHW, depthwise 1xHxWxC -> Cx1xHxW). Graph inputs and outputs
 * keep the file's shapes (an NHWC model reads NHWC input, recorded as
 * preprocessing layout `nhwc`), with internal Transposes the reader then
 * composes away where they cancel. Every count, index and size from the
 * file is checked (flatbuf.h) before use.
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

typedef struct tr_tensor {
    const char *name;
    int type;
    nk_dtype dt;
    bool dt_ok;
    int rank;
    int64_t shape[NK_MAX_RANK]; /* NK_DIM_SYM for dynamic dims */
    const uint8_t *data;        /* constant data (file or owned) */
    size_t nbytes;
    void *owned;
    bool sparse;
    uint32_t qn;
    fb_vec qscale, qzero;
    int32_t qdim;
} tr_tensor;

typedef struct tr {
    nk_ctx *ctx;
    const char *path;
    fb_file f;
    nk_graph *g;
    tr_tensor *t;
    uint32_t nt;
    int *ir;      /* TFLite tensor -> IR value (NCHW for rank 4), -1 none */
    bool *io4;    /* rank-4 tensor that is a graph input or output */
    bool *used;   /* an input of some operator */
    const uint8_t **buf;
    size_t *buf_n;
    uint32_t nbuf;
    int32_t *codes;
    const char **custom;
    uint32_t ncodes;
} tr;

static const int NHWC_FROM_NCHW[4] = {0, 2, 3, 1};
static const int NCHW_AXIS_TO_NHWC[4] = {0, 3, 1, 2};

static nk_status bad(tr *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static nk_status bad(tr *r, const char *fmt, ...)
{
    char msg[1500];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nk_fail(r->ctx, NK_FORMAT, "%s: %s", r->path, msg);
}

static const char *opname(int32_t code)
{
    const char *s = nk_tflite_op_name(code);
    return s ? s : "?";
}

static nk_status unsup(tr *r, long op, int32_t code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static nk_status unsup(tr *r, long op, int32_t code, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nk_fail(r->ctx, NK_UNSUPPORTED,
                   "%s: operator %ld (%s, builtin code %d): %s", r->path, op,
                   opname(code), (int)code, msg);
}

const char *nk_tflite_op_name(int32_t code)
{
    switch (code) {
    case TFL_ADD: return "ADD";
    case TFL_AVERAGE_POOL_2D: return "AVERAGE_POOL_2D";
    case TFL_CONCATENATION: return "CONCATENATION";
    case TFL_CONV_2D: return "CONV_2D";
    case TFL_DEPTHWISE_CONV_2D: return "DEPTHWISE_CONV_2D";
    case TFL_DEQUANTIZE: return "DEQUANTIZE";
    case TFL_FULLY_CONNECTED: return "FULLY_CONNECTED";
    case TFL_LOGISTIC: return "LOGISTIC";
    case TFL_MAX_POOL_2D: return "MAX_POOL_2D";
    case TFL_MUL: return "MUL";
    case TFL_RELU: return "RELU";
    case TFL_RELU_N1_TO_1: return "RELU_N1_TO_1";
    case TFL_RELU6: return "RELU6";
    case TFL_RESHAPE: return "RESHAPE";
    case TFL_SOFTMAX: return "SOFTMAX";
    case TFL_TANH: return "TANH";
    case TFL_CUSTOM: return "CUSTOM";
    case TFL_PAD: return "PAD";
    case TFL_TRANSPOSE: return "TRANSPOSE";
    case TFL_MEAN: return "MEAN";
    case TFL_SUB: return "SUB";
    case TFL_DIV: return "DIV";
    case TFL_MAXIMUM: return "MAXIMUM";
    case TFL_MINIMUM: return "MINIMUM";
    case TFL_PADV2: return "PADV2";
    case TFL_LEAKY_RELU: return "LEAKY_RELU";
    case TFL_QUANTIZE: return "QUANTIZE";
    case TFL_HARD_SWISH: return "HARD_SWISH";
    default: return NULL;
    }
}

static bool map_type(int type, nk_dtype *dt)
{
    switch (type) {
    case TFL_FLOAT32: *dt = NK_F32; return true;
    case TFL_FLOAT16: *dt = NK_F16; return true;
    case TFL_INT32: *dt = NK_I32; return true;
    case TFL_UINT8: *dt = NK_U8; return true;
    case TFL_INT64: *dt = NK_I64; return true;
    case TFL_BOOL: *dt = NK_BOOL; return true;
    case TFL_INT8: *dt = NK_I8; return true;
    default: return false;
    }
}

/* ---- model structure ------------------------------------------------------ */

static nk_status read_buffers(tr *r, const fb_table *model)
{
    fb_vec v;
    nk_status st = fb_vector(model, TFL_MODEL_BUFFERS, "buffers", 4, &v);
    if (st)
        return st;
    r->nbuf = v.n;
    r->buf = nk_calloc((size_t)v.n + 1, sizeof *r->buf);
    r->buf_n = nk_calloc((size_t)v.n + 1, sizeof *r->buf_n);
    if (!r->buf || !r->buf_n)
        return nk_fail(r->ctx, NK_NOMEM, "out of memory");
    for (uint32_t i = 0; i < v.n; i++) {
        fb_table b;
        fb_vec data;
        uint64_t off, size;
        if ((st = fb_vec_table(&r->f, &v, i, "Buffer", &b)) ||
            (st = fb_vector(&b, TFL_BUF_DATA, "data", 1, &data)) ||
            (st = fb_u64(&b, TFL_BUF_OFFSET, "offset", 0, &off)) ||
            (st = fb_u64(&b, TFL_BUF_SIZE, "size", 0, &size)))
            return st;
        if (data.n) {
            r->buf[i] = r->f.p + data.pos;
            r->buf_n[i] = data.n;
        } else if (off > 1) {
            /* data kept outside the FlatBuffer (models over 2 GiB) */
            if (off > r->f.n || size > r->f.n - off)
                return bad(r, "Buffer %u: data at offset %llu, %llu bytes, "
                           "runs past the end of the file (%zu bytes)",
                           i, (unsigned long long)off,
                           (unsigned long long)size, r->f.n);
            r->buf[i] = r->f.p + off;
            r->buf_n[i] = (size_t)size;
        }
    }
    return NK_OK;
}

static nk_status read_opcodes(tr *r, const fb_table *model)
{
    fb_vec v;
    nk_status st = fb_vector(model, TFL_MODEL_OPCODES, "operator_codes", 4,
                             &v);
    if (st)
        return st;
    r->ncodes = v.n;
    r->codes = nk_calloc((size_t)v.n + 1, sizeof *r->codes);
    r->custom = nk_calloc((size_t)v.n + 1, sizeof *r->custom);
    if (!r->codes || !r->custom)
        return nk_fail(r->ctx, NK_NOMEM, "out of memory");
    for (uint32_t i = 0; i < v.n; i++) {
        fb_table oc;
        uint8_t dep;
        int32_t code;
        if ((st = fb_vec_table(&r->f, &v, i, "OperatorCode", &oc)) ||
            (st = fb_u8(&oc, TFL_OC_DEPRECATED_CODE, "deprecated_builtin_code",
                        0, &dep)) ||
            (st = fb_i32(&oc, TFL_OC_CODE, "builtin_code", 0, &code)) ||
            (st = fb_str(&oc, TFL_OC_CUSTOM, "custom_code", &r->custom[i],
                         NULL)))
            return st;
        /* The larger of the two, as the TFLite runtime reads it. */
        int32_t d = (int8_t)dep;
        r->codes[i] = code > d ? code : d;
    }
    return NK_OK;
}

static nk_status read_tensor(tr *r, const fb_vec *tv, uint32_t i)
{
    tr_tensor *t = &r->t[i];
    fb_table tt;
    fb_vec shape, sig;
    uint8_t type;
    uint32_t buffer;
    nk_status st;
    if ((st = fb_vec_table(&r->f, tv, i, "Tensor", &tt)) ||
        (st = fb_vector(&tt, TFL_T_SHAPE, "shape", 4, &shape)) ||
        (st = fb_vector(&tt, TFL_T_SHAPE_SIGNATURE, "shape_signature", 4,
                        &sig)) ||
        (st = fb_u8(&tt, TFL_T_TYPE, "type", 0, &type)) ||
        (st = fb_u32(&tt, TFL_T_BUFFER, "buffer", 0, &buffer)) ||
        (st = fb_str(&tt, TFL_T_NAME, "name", &t->name, NULL)))
        return st;
    if (!t->name)
        t->name = "";
    t->type = type;
    t->dt_ok = map_type(type, &t->dt);
    if (shape.n > NK_MAX_RANK)
        return bad(r, "tensor %u '%s' has rank %u, nnkit handles up to %d", i,
                   t->name, shape.n, NK_MAX_RANK);
    if (sig.n && sig.n != shape.n)
        return bad(r, "tensor %u '%s': shape_signature has %u dims, shape "
                   "has %u", i, t->name, sig.n, shape.n);
    t->rank = (int)shape.n;
    for (uint32_t k = 0; k < shape.n; k++) {
        int32_t d = fb_vec_i32(&r->f, &shape, k);
        int32_t s = sig.n ? fb_vec_i32(&r->f, &sig, k) : d;
        if (d < 0 || s < -1)
            return bad(r, "tensor %u '%s': dim %u is %d (signature %d), "
                       "expected >= 0 (signature -1 = dynamic)",
                       i, t->name, k, d, s);
        t->shape[k] = s < 0 ? NK_DIM_SYM : d;
    }
    if (buffer >= r->nbuf && !(buffer == 0 && r->nbuf == 0))
        return bad(r, "tensor %u '%s' refers to buffer %u, the model has %u",
                   i, t->name, buffer, r->nbuf);
    bool has_sparsity, has_q;
    fb_table sp, q;
    if ((st = fb_subtable(&tt, TFL_T_SPARSITY, "sparsity",
                          "SparsityParameters", &sp, &has_sparsity)) ||
        (st = fb_subtable(&tt, TFL_T_QUANT, "quantization",
                          "QuantizationParameters", &q, &has_q)))
        return st;
    t->sparse = has_sparsity;
    if (has_sparsity && buffer && r->buf[buffer])
        return nk_fail(r->ctx, NK_UNSUPPORTED,
                       "%s: tensor %u '%s' is stored sparse, which nnkit "
                       "does not read", r->path, i, t->name);
    if (buffer && r->buf[buffer]) {
        size_t want = t->dt_ok ? nk_dtype_size(t->dt) : 0;
        for (int k = 0; k < t->rank; k++)
            if (t->shape[k] < 0 ||
                !nk_mul_size(want, (size_t)t->shape[k], &want))
                return bad(r, "constant tensor %u '%s' has a dynamic or "
                           "huge shape", i, t->name);
        if (!t->dt_ok)
            return nk_fail(r->ctx, NK_UNSUPPORTED,
                           "%s: constant tensor %u '%s' has TFLite type %d, "
                           "which nnkit does not read",
                           r->path, i, t->name, type);
        if (r->buf_n[buffer] != want)
            return bad(r, "tensor %u '%s' (%s, %d dims) needs %zu bytes, its "
                       "buffer %u has %zu",
                       i, t->name, nk_dtype_name(t->dt), t->rank, want,
                       buffer, r->buf_n[buffer]);
        t->data = r->buf[buffer];
        t->nbytes = want;
    }
    if (has_q) {
        uint8_t details;
        if ((st = fb_u8(&q, TFL_Q_DETAILS_TYPE, "details_type", 0,
                        &details)) ||
            (st = fb_vector(&q, TFL_Q_SCALE, "scale", 4, &t->qscale)) ||
            (st = fb_vector(&q, TFL_Q_ZERO_POINT, "zero_point", 8,
                            &t->qzero)) ||
            (st = fb_i32(&q, TFL_Q_QDIM, "quantized_dimension", 0,
                         &t->qdim)))
            return st;
        if (details > 1)
            return bad(r, "tensor %u '%s': unknown QuantizationDetails union "
                       "type %u (known: 0, 1)", i, t->name, details);
        if (details == 1)
            return nk_fail(r->ctx, NK_UNSUPPORTED,
                           "%s: tensor %u '%s' uses custom quantization",
                           r->path, i, t->name);
        if (t->qscale.n) {
            if (t->qzero.n && t->qzero.n != t->qscale.n)
                return bad(r, "tensor %u '%s': %u scales but %u zero points",
                           i, t->name, t->qscale.n, t->qzero.n);
            if (t->qscale.n > 1 &&
                (t->qdim < 0 || t->qdim >= t->rank ||
                 t->shape[t->qdim] != (int64_t)t->qscale.n))
                return bad(r, "tensor %u '%s': %u per-channel scales along "
                           "dim %d, which does not match its shape",
                           i, t->name, t->qscale.n, t->qdim);
            t->qn = t->qscale.n;
        }
    }
    return NK_OK;
}

/* ---- IR construction helpers ------------------------------------------- */

static nk_status new_tensor(tr *r, const char *base, nk_dtype dt,
                            const nk_shape *s, int *idx)
{
    char name[512];
    nk_status st = nk_graph_unique_name(r->ctx, r->g, base, name,
                                        sizeof name);
    if (st)
        return st;
    nk_shape empty = {0};
    return nk_graph_add_tensor(r->ctx, r->g, name, dt, s ? s : &empty, idx);
}

static nk_status add_node(tr *r, nk_op op, const char *name, int n_in,
                          const int *in, int out, nk_node **node)
{
    return nk_graph_add_node(r->ctx, r->g, op, name, n_in, in, 1, &out, node);
}

/* An IR initializer from raw data (copied), dims in IR order. */
static nk_status new_const(tr *r, const char *base, nk_dtype dt, int rank,
                           const int64_t *dims, const void *data, int *idx)
{
    char name[512];
    nk_status st = nk_graph_unique_name(r->ctx, r->g, base, name,
                                        sizeof name);
    if (st)
        return st;
    nk_shape s = nk_shape_make(rank, dims);
    if ((st = nk_graph_add_init(r->ctx, r->g, name, dt, &s, idx)))
        return st;
    nk_tensor *t = r->g->tensors[*idx];
    if (t->nbytes && data)
        memcpy(t->data, data, t->nbytes);
    return NK_OK;
}

/* Permute: output dim i is input dim perm[i] (row-major). */
static void permute_into(void *dst, const void *src, size_t es, int rank,
                         const int64_t *dims, const int *perm)
{
    int64_t od[NK_MAX_RANK], is[NK_MAX_RANK], idx[NK_MAX_RANK] = {0};
    int64_t s = 1, total = 1;
    for (int i = rank - 1; i >= 0; i--) {
        is[i] = s;
        s *= dims[i];
    }
    for (int i = 0; i < rank; i++) {
        od[i] = dims[perm[i]];
        total *= od[i];
    }
    const uint8_t *in = src;
    uint8_t *out = dst;
    for (int64_t k = 0; k < total; k++) {
        int64_t off = 0;
        for (int i = 0; i < rank; i++)
            off += idx[i] * is[perm[i]];
        memcpy(out + (size_t)k * es, in + (size_t)off * es, es);
        for (int i = rank - 1; i >= 0; i--) {
            if (++idx[i] < od[i])
                break;
            idx[i] = 0;
        }
    }
}

/* The IR constant for constant TFLite tensor ti permuted by perm (NULL =
 * none), optionally first expanded to rank `expand` with leading 1s. */
static nk_status const_of(tr *r, uint32_t ti, const int *perm, int expand,
                          int *idx)
{
    tr_tensor *t = &r->t[ti];
    int rank = t->rank;
    int64_t d[NK_MAX_RANK], od[NK_MAX_RANK];
    int pad = expand > rank ? expand - rank : 0;
    for (int i = 0; i < pad; i++)
        d[i] = 1;
    for (int i = 0; i < rank; i++)
        d[pad + i] = t->shape[i];
    rank += pad;
    if (!perm)
        return new_const(r, t->name, t->dt, rank, d, t->data, idx);
    for (int i = 0; i < rank; i++)
        od[i] = d[perm[i]];
    nk_status st = new_const(r, t->name, t->dt, rank, od, NULL, idx);
    if (st)
        return st;
    permute_into(r->g->tensors[*idx]->data, t->data, nk_dtype_size(t->dt),
                 rank, d, perm);
    return NK_OK;
}

/* Quantization parameters of TFLite tensor ti onto IR tensor idx, with
 * the quantized dimension mapped through perm (IR dim j = file dim
 * perm[j]). */
static nk_status copy_quant(tr *r, uint32_t ti, int idx, const int *perm,
                            int rank)
{
    tr_tensor *t = &r->t[ti];
    if (!t->qn)
        return NK_OK;
    float *sc = nk_malloc(t->qn * sizeof(float));
    int32_t *zp = nk_calloc(t->qn, sizeof(int32_t));
    if (!sc || !zp) {
        nk_free(sc);
        nk_free(zp);
        return nk_fail(r->ctx, NK_NOMEM, "out of memory");
    }
    for (uint32_t k = 0; k < t->qn; k++) {
        sc[k] = fb_vec_f32(&r->f, &t->qscale, k);
        if (t->qzero.n) {
            int64_t z = fb_vec_i64(&r->f, &t->qzero, k);
            zp[k] = z < INT32_MIN ? INT32_MIN : z > INT32_MAX ? INT32_MAX
                                                              : (int32_t)z;
        }
    }
    int axis = -1;
    if (t->qn > 1) {
        axis = t->qdim;
        if (perm)
            for (int j = 0; j < rank; j++)
                if (perm[j] == t->qdim)
                    axis = j;
    }
    nk_status st = nk_tensor_set_quant(r->ctx, r->g, r->g->tensors[idx],
                                       axis, (int)t->qn, sc, zp);
    nk_free(sc);
    nk_free(zp);
    return st;
}

/* The IR value of TFLite tensor ti used by an op whose output has rank
 * out_rank (constants broadcast: rank-4 NHWC semantics). */
static nk_status value_of(tr *r, long op, int32_t code, int32_t ti,
                          int out_rank, int *idx)
{
    if (ti < 0 || (uint32_t)ti >= r->nt)
        return bad(r, "operator %ld: tensor index %d out of range (0..%u)",
                   op, (int)ti, r->nt);
    tr_tensor *t = &r->t[ti];
    if (r->ir[ti] >= 0 && !t->data) {
        *idx = r->ir[ti];
        return NK_OK;
    }
    if (!t->data)
        return bad(r, "operator %ld (%s): input tensor %d '%s' is neither "
                   "constant nor produced by an earlier operator",
                   op, opname(code), (int)ti, t->name);
    if (t->sparse)
        return unsup(r, op, code, "sparse tensor '%s'", t->name);
    nk_status st;
    if (out_rank == 4 && t->rank > 0 && t->rank <= 4) {
        static const int TO_NCHW[4] = {0, 3, 1, 2};
        if ((st = const_of(r, (uint32_t)ti, TO_NCHW, 4, idx)))
            return st;
        return copy_quant(r, (uint32_t)ti, *idx, TO_NCHW, 4);
    }
    if ((st = const_of(r, (uint32_t)ti, NULL, 0, idx)))
        return st;
    return copy_quant(r, (uint32_t)ti, *idx, NULL, t->rank);
}

/* Create the IR tensor for output ti of an op (NCHW for rank 4). */
static nk_status out_of(tr *r, long op, int32_t ti, int *idx)
{
    if (ti < 0 || (uint32_t)ti >= r->nt)
        return bad(r, "operator %ld: output tensor index %d out of range "
                   "(0..%u)", op, (int)ti, r->nt);
    tr_tensor *t = &r->t[ti];
    if (r->ir[ti] >= 0 || t->data)
        return bad(r, "operator %ld: output tensor %d '%s' is written twice "
                   "or is a constant", op, (int)ti, t->name);
    if (!t->dt_ok)
        return nk_fail(r->ctx, NK_UNSUPPORTED,
                       "%s: tensor %d '%s' has TFLite type %d, which nnkit "
                       "does not read", r->path, (int)ti, t->name, t->type);
    char name[512];
    snprintf(name, sizeof name, "%s%s", t->name, r->io4[ti] ? "/nchw" : "");
    nk_status st = new_tensor(r, name, t->dt, NULL, idx);
    if (st)
        return st;
    r->ir[ti] = *idx;
    return NK_OK;
}

static nk_status set_act(tr *r, long op, int32_t code, int act, nk_act *a,
                         float *a0, float *a1)
{
    *a0 = *a1 = 0;
    switch (act) {
    case TFL_ACT_NONE: *a = NK_ACT_NONE; return NK_OK;
    case TFL_ACT_RELU: *a = NK_ACT_RELU; return NK_OK;
    case TFL_ACT_RELU6: *a = NK_ACT_CLIP; *a1 = 6.0f; return NK_OK;
    case TFL_ACT_RELU_N1_TO_1:
        *a = NK_ACT_CLIP;
        *a0 = -1.0f;
        *a1 = 1.0f;
        return NK_OK;
    case TFL_ACT_TANH: *a = NK_ACT_TANH; return NK_OK;
    default:
        return unsup(r, op, code, "fused activation %d", act);
    }
}

/* Emit an IR activation node (x -> y) for (a, a0, a1). */
static nk_status act_node(tr *r, nk_act a, float a0, float a1, int x, int y,
                          const char *name)
{
    nk_node *n;
    nk_status st;
    switch (a) {
    case NK_ACT_RELU:
        return add_node(r, NK_OP_RELU, name, 1, &x, y, &n);
    case NK_ACT_TANH:
        return add_node(r, NK_OP_TANH, name, 1, &x, y, &n);
    case NK_ACT_CLIP: {
        int in[3] = {x, -1, -1};
        if ((st = new_const(r, "clip_min", NK_F32, 0, NULL, &a0, &in[1])) ||
            (st = new_const(r, "clip_max", NK_F32, 0, NULL, &a1, &in[2])))
            return st;
        return add_node(r, NK_OP_CLIP, name, 3, in, y, &n);
    }
    default:
        return nk_fail(r->ctx, NK_INTERNAL, "act_node: activation %d",
                       (int)a);
    }
}

/* Output of an op that may carry a fused activation: with an IR-fusable op
 * (fusable = true) the act goes on the node; otherwise the op writes a
 * temporary and an activation node follows. */
typedef struct tr_out {
    int op_out, final;
    nk_act act;
    float a0, a1;
} tr_out;

static nk_status begin_out(tr *r, long op, int32_t code, int32_t ti,
                           int fused, tr_out *o)
{
    nk_status st;
    if ((st = set_act(r, op, code, fused, &o->act, &o->a0, &o->a1)) ||
        (st = out_of(r, op, ti, &o->final)))
        return st;
    o->op_out = o->final;
    return NK_OK;
}

static nk_status split_act(tr *r, tr_out *o, bool fusable, nk_node *n)
{
    if (o->act == NK_ACT_NONE)
        return NK_OK;
    if (fusable) {
        n->act = o->act;
        n->act_a0 = o->a0;
        n->act_a1 = o->a1;
        return NK_OK;
    }
    /* the node wrote op_out; insert the activation */
    int tmp;
    char name[512];
    snprintf(name, sizeof name, "%s/pre_act", r->g->tensors[o->final]->name);
    nk_status st = new_tensor(r, name, r->g->tensors[o->final]->dtype, NULL,
                              &tmp);
    if (st)
        return st;
    n->out[0] = tmp;
    return act_node(r, o->act, o->a0, o->a1, tmp, o->final,
                    r->g->tensors[o->final]->name);
}

/* Float weights and biases of Conv / Gemm are the model's parameters. */
static void mark_params(tr *r, const int *in, int n)
{
    for (int i = 1; i < n; i++) {
        nk_tensor *t = r->g->tensors[in[i]];
        if (t->is_init && t->dtype == NK_F32)
            t->trainable = true;
    }
}

/* ---- operators ---------------------------------------------------------- */

typedef struct tr_op {
    long index;
    int32_t code;
    fb_vec in, out;
    fb_table opt;
    bool has_opt;
} tr_op;

static int32_t in_at(const tr *r, const tr_op *op, uint32_t i)
{
    return i < op->in.n ? fb_vec_i32(&r->f, &op->in, i) : -1;
}

static nk_status need_io(tr *r, const tr_op *op, uint32_t min_in,
                         uint32_t max_in)
{
    if (op->in.n < min_in || op->in.n > max_in || op->out.n != 1)
        return bad(r, "operator %ld (%s) has %u inputs and %u outputs, "
                   "expected %u..%u and 1",
                   op->index, opname(op->code), op->in.n, op->out.n, min_in,
                   max_in);
    for (uint32_t i = 0; i < op->in.n; i++) {
        int32_t ti = fb_vec_i32(&r->f, &op->in, i);
        if (ti < -1 || ti >= (int32_t)r->nt)
            return bad(r, "operator %ld (%s): input %u is tensor %d, the "
                       "subgraph has %u", op->index, opname(op->code), i,
                       (int)ti, r->nt);
        if (ti >= 0)
            r->used[ti] = true;
    }
    return NK_OK;
}

static nk_status opt_i32(const tr_op *op, int id, const char *name,
                         int32_t def, int32_t *v)
{
    if (!op->has_opt) {
        *v = def;
        return NK_OK;
    }
    return fb_i32(&op->opt, id, name, def, v);
}

static nk_status opt_u8(const tr_op *op, int id, const char *name,
                        uint8_t def, int *v)
{
    uint8_t u = def;
    nk_status st = op->has_opt ? fb_u8(&op->opt, id, name, def, &u) : NK_OK;
    *v = u;
    return st;
}

/* A constant 4-D TFLite tensor the op needs. */
static nk_status need_const(tr *r, const tr_op *op, int32_t ti, int rank,
                            const char *what)
{
    if (ti < 0 || !r->t[ti].data || (rank >= 0 && r->t[ti].rank != rank))
        return unsup(r, op->index, op->code,
                     "%s (tensor %d) must be a constant of rank %d", what,
                     (int)ti, rank);
    if (r->t[ti].dt != NK_F32)
        return unsup(r, op->index, op->code, "%s '%s' has type %s, expected "
                     "f32 (or float16/int8 through DEQUANTIZE)", what,
                     r->t[ti].name, nk_dtype_name(r->t[ti].dt));
    return NK_OK;
}

/* Explicit pads for TFLite SAME padding of one axis. */
static void same_pads(int64_t in, int64_t k, int64_t s, int64_t d,
                      int64_t *pb, int64_t *pe)
{
    int64_t o = (in + s - 1) / s;
    int64_t total = (o - 1) * s + (k - 1) * d + 1 - in;
    if (total < 0)
        total = 0;
    *pb = total / 2;
    *pe = total - total / 2;
}

static nk_status spatial_attrs(tr *r, const tr_op *op, nk_node *n,
                               const tr_tensor *x, int64_t kh, int64_t kw,
                               int sh, int sw, int dh, int dw, int padding)
{
    if (x->rank != 4 || x->shape[1] < 0 || x->shape[2] < 0)
        return unsup(r, op->index, op->code,
                     "input '%s' must be 4-D with a static spatial size",
                     x->name);
    if (sh < 1 || sw < 1 || dh < 1 || dw < 1 || kh < 1 || kw < 1 ||
        (padding != TFL_PAD_SAME && padding != TFL_PAD_VALID))
        return bad(r, "operator %ld (%s): strides %dx%d, dilations %dx%d, "
                   "kernel %lldx%lld, padding %d; expected positive values "
                   "and padding 0 (SAME) or 1 (VALID)",
                   op->index, opname(op->code), sh, sw, dh, dw,
                   (long long)kh, (long long)kw, padding);
    int64_t pads[4] = {0, 0, 0, 0}; /* top, left, bottom, right */
    if (padding == TFL_PAD_SAME) {
        same_pads(x->shape[1], kh, sh, dh, &pads[0], &pads[2]);
        same_pads(x->shape[2], kw, sw, dw, &pads[1], &pads[3]);
    }
    int64_t ks[2] = {kh, kw}, st2[2] = {sh, sw}, dl[2] = {dh, dw};
    nk_status st;
    if ((st = nk_node_set_ints(r->ctx, r->g, n, "kernel_shape", 2, ks)) ||
        (st = nk_node_set_ints(r->ctx, r->g, n, "strides", 2, st2)) ||
        (st = nk_node_set_ints(r->ctx, r->g, n, "pads", 4, pads)))
        return st;
    if (n->op == NK_OP_CONV &&
        (st = nk_node_set_ints(r->ctx, r->g, n, "dilations", 2, dl)))
        return st;
    return NK_OK;
}

static nk_status op_conv(tr *r, const tr_op *op)
{
    bool dw = op->code == TFL_DEPTHWISE_CONV_2D;
    nk_status st = need_io(r, op, 2, 3);
    if (st)
        return st;
    int32_t xi = in_at(r, op, 0), wi = in_at(r, op, 1), bi = in_at(r, op, 2);
    if ((st = need_const(r, op, wi, 4, "filter")))
        return st;
    if (bi >= 0 && (st = need_const(r, op, bi, 1, "bias")))
        return st;
    int32_t sw, sh, dlw, dlh, mult;
    int padding, act;
    int base = dw ? 0 : 0;
    (void)base;
    if ((st = opt_u8(op, 0, "padding", 0, &padding)) ||
        (st = opt_i32(op, 1, "stride_w", 1, &sw)) ||
        (st = opt_i32(op, 2, "stride_h", 1, &sh)))
        return st;
    if (dw) {
        if ((st = opt_i32(op, TFL_DW_MULT, "depth_multiplier", 1, &mult)) ||
            (st = opt_u8(op, TFL_DW_ACT, "fused_activation_function", 0,
                         &act)) ||
            (st = opt_i32(op, TFL_DW_DIL_W, "dilation_w_factor", 1, &dlw)) ||
            (st = opt_i32(op, TFL_DW_DIL_H, "dilation_h_factor", 1, &dlh)))
            return st;
    } else {
        if ((st = opt_u8(op, TFL_CONV_ACT, "fused_activation_function", 0,
                         &act)) ||
            (st = opt_i32(op, TFL_CONV_DIL_W, "dilation_w_factor", 1,
                          &dlw)) ||
            (st = opt_i32(op, TFL_CONV_DIL_H, "dilation_h_factor", 1, &dlh)))
            return st;
    }
    const tr_tensor *x = &r->t[xi < 0 ? 0 : xi], *wt = &r->t[wi];
    if (xi < 0 || x->rank != 4)
        return unsup(r, op->index, op->code, "input must be a 4-D tensor");
    int64_t cin = x->shape[3];
    int64_t m = dw ? wt->shape[3] : wt->shape[0];
    int64_t group = 1;
    if (cin < 1)
        return unsup(r, op->index, op->code, "input channels are dynamic");
    if (dw) {
        if (wt->shape[0] != 1 || m % cin)
            return bad(r, "operator %ld (DEPTHWISE_CONV_2D): filter [%lld, "
                       "%lld, %lld, %lld] does not fit %lld input channels",
                       op->index, (long long)wt->shape[0],
                       (long long)wt->shape[1], (long long)wt->shape[2],
                       (long long)wt->shape[3], (long long)cin);
        group = cin;
    } else {
        if (wt->shape[3] < 1 || cin % wt->shape[3])
            return bad(r, "operator %ld (CONV_2D): filter has %lld input "
                       "channels, input has %lld", op->index,
                       (long long)wt->shape[3], (long long)cin);
        group = cin / wt->shape[3];
    }
    if (bi >= 0 && r->t[bi].shape[0] != m)
        return bad(r, "operator %ld (%s): bias has %lld values, expected "
                   "%lld", op->index, opname(op->code),
                   (long long)r->t[bi].shape[0], (long long)m);
    static const int OIHW_FROM_OHWI[4] = {0, 3, 1, 2};
    static const int OIHW_FROM_1HWM[4] = {3, 0, 1, 2};
    int in[3] = {-1, -1, NK_NO_INPUT};
    if ((st = value_of(r, op->index, op->code, xi, 4, &in[0])) ||
        (st = const_of(r, (uint32_t)wi, dw ? OIHW_FROM_1HWM : OIHW_FROM_OHWI,
                       0, &in[1])) ||
        (st = copy_quant(r, (uint32_t)wi, in[1],
                         dw ? OIHW_FROM_1HWM : OIHW_FROM_OHWI, 4)))
        return st;
    if (bi >= 0 && (st = value_of(r, op->index, op->code, bi, 1, &in[2])))
        return st;
    mark_params(r, in, bi >= 0 ? 3 : 2);
    tr_out o;
    int32_t yi = fb_vec_i32(&r->f, &op->out, 0);
    if ((st = begin_out(r, op->index, op->code, yi, act, &o)))
        return st;
    nk_node *n;
    if ((st = add_node(r, NK_OP_CONV, r->t[yi].name, bi >= 0 ? 3 : 2, in,
                       o.op_out, &n)) ||
        (st = spatial_attrs(r, op, n, x, wt->shape[1], wt->shape[2], sh, sw,
                            dlh, dlw, padding)) ||
        (st = nk_node_set_int(r->ctx, r->g, n, "group", group)))
        return st;
    return split_act(r, &o, true, n);
}

static nk_status op_pool(tr *r, const tr_op *op)
{
    nk_status st = need_io(r, op, 1, 1);
    if (st)
        return st;
    int32_t sw, sh, fw, fh;
    int padding, act;
    if ((st = opt_u8(op, TFL_POOL_PADDING, "padding", 0, &padding)) ||
        (st = opt_i32(op, TFL_POOL_STRIDE_W, "stride_w", 1, &sw)) ||
        (st = opt_i32(op, TFL_POOL_STRIDE_H, "stride_h", 1, &sh)) ||
        (st = opt_i32(op, TFL_POOL_FILTER_W, "filter_width", 1, &fw)) ||
        (st = opt_i32(op, TFL_POOL_FILTER_H, "filter_height", 1, &fh)) ||
        (st = opt_u8(op, TFL_POOL_ACT, "fused_activation_function", 0, &act)))
        return st;
    int32_t xi = in_at(r, op, 0), yi = fb_vec_i32(&r->f, &op->out, 0);
    int in;
    tr_out o;
    nk_node *n;
    if ((st = value_of(r, op->index, op->code, xi, 4, &in)) ||
        (st = begin_out(r, op->index, op->code, yi, act, &o)) ||
        (st = add_node(r, op->code == TFL_MAX_POOL_2D ? NK_OP_MAXPOOL
                                                      : NK_OP_AVGPOOL,
                       r->t[yi].name, 1, &in, o.op_out, &n)) ||
        (st = spatial_attrs(r, op, n, &r->t[xi], fh, fw, sh, sw, 1, 1,
                            padding)))
        return st;
    return split_act(r, &o, false, n);
}

static nk_status op_fc(tr *r, const tr_op *op)
{
    nk_status st = need_io(r, op, 2, 3);
    if (st)
        return st;
    int32_t xi = in_at(r, op, 0), wi = in_at(r, op, 1), bi = in_at(r, op, 2);
    int act, fmt, keep;
    if ((st = need_const(r, op, wi, 2, "weights")) ||
        (bi >= 0 && (st = need_const(r, op, bi, 1, "bias"))) ||
        (st = opt_u8(op, TFL_FC_ACT, "fused_activation_function", 0, &act)) ||
        (st = opt_u8(op, TFL_FC_WEIGHTS_FORMAT, "weights_format", 0, &fmt)) ||
        (st = opt_u8(op, TFL_FC_KEEP_DIMS, "keep_num_dims", 0, &keep)))
        return st;
    if (fmt != 0)
        return unsup(r, op->index, op->code, "shuffled weights format %d",
                     fmt);
    if (xi < 0)
        return bad(r, "operator %ld (FULLY_CONNECTED) has no input",
                   op->index);
    const tr_tensor *x = &r->t[xi];
    int64_t k = r->t[wi].shape[1], o_n = r->t[wi].shape[0];
    if (bi >= 0 && r->t[bi].shape[0] != o_n)
        return bad(r, "operator %ld (FULLY_CONNECTED): bias has %lld values, "
                   "weights have %lld rows", op->index,
                   (long long)r->t[bi].shape[0], (long long)o_n);
    if (x->rank != 2 && keep)
        return unsup(r, op->index, op->code, "keep_num_dims with a %d-D "
                     "input", x->rank);
    int a;
    if ((st = value_of(r, op->index, op->code, xi, 2, &a)))
        return st;
    if (x->rank != 2) {
        /* TFLite flattens the stored (NHWC) order: IR Transpose back to
         * NHWC, then Reshape to [-1, K]. */
        if (x->rank == 4 && !(x->shape[1] == 1 && x->shape[2] == 1)) {
            int t;
            nk_node *n;
            static const int64_t PERM[4] = {0, 2, 3, 1};
            char name[512];
            snprintf(name, sizeof name, "%s/nhwc", x->name);
            if ((st = new_tensor(r, name, NK_F32, NULL, &t)) ||
                (st = add_node(r, NK_OP_TRANSPOSE, name, 1, &a, t, &n)) ||
                (st = nk_node_set_ints(r->ctx, r->g, n, "perm", 4, PERM)))
                return st;
            a = t;
        }
        int64_t shp[2] = {-1, k};
        int in[2] = {a, -1}, t;
        nk_node *n;
        char name[512];
        snprintf(name, sizeof name, "%s/flat", x->name);
        if ((st = new_const(r, "fc_shape", NK_I64, 1, (int64_t[]){2}, shp,
                            &in[1])) ||
            (st = new_tensor(r, name, NK_F32, NULL, &t)) ||
            (st = add_node(r, NK_OP_RESHAPE, name, 2, in, t, &n)))
            return st;
        a = t;
    }
    int in[3] = {a, -1, NK_NO_INPUT};
    if ((st = value_of(r, op->index, op->code, wi, 2, &in[1])) ||
        (bi >= 0 && (st = value_of(r, op->index, op->code, bi, 1, &in[2]))))
        return st;
    mark_params(r, in, bi >= 0 ? 3 : 2);
    tr_out o;
    nk_node *n;
    int32_t yi = fb_vec_i32(&r->f, &op->out, 0);
    if ((st = begin_out(r, op->index, op->code, yi, act, &o)) ||
        (st = add_node(r, NK_OP_GEMM, r->t[yi].name, bi >= 0 ? 3 : 2, in,
                       o.op_out, &n)) ||
        (st = nk_node_set_int(r->ctx, r->g, n, "transB", 1)))
        return st;
    return split_act(r, &o, true, n);
}

static nk_status op_binary(tr *r, const tr_op *op)
{
    nk_status st = need_io(r, op, 2, 2);
    if (st)
        return st;
    int act;
    if ((st = opt_u8(op, TFL_BIN_ACT, "fused_activation_function", 0, &act)))
        return st;
    int32_t yi = fb_vec_i32(&r->f, &op->out, 0);
    int orank = r->t[yi].rank;
    int in[2];
    for (uint32_t i = 0; i < 2; i++) {
        int32_t ti = in_at(r, op, i);
        if (ti < 0)
            return bad(r, "operator %ld (%s): input %u is missing",
                       op->index, opname(op->code), i);
        if (!r->t[ti].data && orank == 4 && r->t[ti].rank != 4 &&
            r->t[ti].rank != 0)
            return unsup(r, op->index, op->code,
                         "a %d-D operand broadcast against a 4-D NHWC "
                         "tensor", r->t[ti].rank);
        if ((st = value_of(r, op->index, op->code, ti, orank, &in[i])))
            return st;
    }
    nk_op irop = op->code == TFL_ADD ? NK_OP_ADD
                 : op->code == TFL_SUB ? NK_OP_SUB
                 : op->code == TFL_MUL ? NK_OP_MUL : NK_OP_DIV;
    tr_out o;
    nk_node *n;
    if ((st = begin_out(r, op->index, op->code, yi, act, &o)) ||
        (st = add_node(r, irop, r->t[yi].name, 2, in, o.op_out, &n)))
        return st;
    return split_act(r, &o, irop == NK_OP_ADD, n);
}

static nk_status op_unary(tr *r, const tr_op *op)
{
    nk_status st = need_io(r, op, 1, 1);
    if (st)
        return st;
    int32_t xi = in_at(r, op, 0), yi = fb_vec_i32(&r->f, &op->out, 0);
    int x, y;
    if ((st = value_of(r, op->index, op->code, xi, r->t[yi].rank, &x)) ||
        (st = out_of(r, op->index, yi, &y)))
        return st;
    nk_node *n;
    const char *name = r->t[yi].name;
    switch (op->code) {
    case TFL_RELU: return act_node(r, NK_ACT_RELU, 0, 0, x, y, name);
    case TFL_RELU6: return act_node(r, NK_ACT_CLIP, 0, 6, x, y, name);
    case TFL_RELU_N1_TO_1: return act_node(r, NK_ACT_CLIP, -1, 1, x, y, name);
    case TFL_TANH: return add_node(r, NK_OP_TANH, name, 1, &x, y, &n);
    case TFL_LOGISTIC: return add_node(r, NK_OP_SIGMOID, name, 1, &x, y, &n);
    case TFL_HARD_SWISH:
        return add_node(r, NK_OP_HARDSWISH, name, 1, &x, y, &n);
    case TFL_LEAKY_RELU: {
        float alpha = 0.2f;
        if (op->has_opt &&
            (st = fb_f32(&op->opt, TFL_LEAKY_ALPHA, "alpha", 0.0f, &alpha)))
            return st;
        if ((st = add_node(r, NK_OP_LEAKYRELU, name, 1, &x, y, &n)))
            return st;
        return nk_node_set_float(r->ctx, r->g, n, "alpha", alpha);
    }
    default:
        return nk_fail(r->ctx, NK_INTERNAL, "op_unary %d", (int)op->code);
    }
}

/* MAXIMUM / MINIMUM with a scalar constant: a one-sided Clip. */
static nk_status op_maxmin(tr *r, const tr_op *op)
{
    nk_status st = need_io(r, op, 2, 2);
    if (st)
        return st;
    int32_t a = in_at(r, op, 0), b = in_at(r, op, 1);
    if (a >= 0 && r->t[a].data) {
        int32_t t = a;
        a = b;
        b = t;
    }
    if (a < 0 || b < 0 || !r->t[b].data || r->t[b].dt != NK_F32 ||
        r->t[b].nbytes != 4)
        return unsup(r, op->index, op->code,
                     "only a maximum/minimum with a float scalar constant");
    float v;
    memcpy(&v, r->t[b].data, 4);
    int32_t yi = fb_vec_i32(&r->f, &op->out, 0);
    int x, y;
    if ((st = value_of(r, op->index, op->code, a, r->t[yi].rank, &x)) ||
        (st = out_of(r, op->index, yi, &y)))
        return st;
    return act_node(r, NK_ACT_CLIP, op->code == TFL_MAXIMUM ? v : -FLT_MAX,
                    op->code == TFL_MAXIMUM ? FLT_MAX : v, x, y,
                    r->t[yi].name);
}

static nk_status op_mean(tr *r, const tr_op *op)
{
    nk_status st = need_io(r, op, 2, 2);
    if (st)
        return st;
    int32_t xi = in_at(r, op, 0), ai = in_at(r, op, 1);
    int keep;
    if ((st = opt_u8(op, TFL_REDUCER_KEEP_DIMS, "keep_dims", 0, &keep)))
        return st;
    if (xi < 0 || ai < 0 || !r->t[ai].data || r->t[xi].rank != 4 ||
        r->t[ai].dt != NK_I32 || r->t[ai].nbytes != 8)
        return unsup(r, op->index, op->code,
                     "only the mean of a 4-D tensor over axes {1, 2}");
    int32_t ax[2];
    memcpy(ax, r->t[ai].data, 8);
    if (!((ax[0] == 1 && ax[1] == 2) || (ax[0] == 2 && ax[1] == 1)))
        return unsup(r, op->index, op->code,
                     "mean over axes {%d, %d}; only {1, 2} (spatial)",
                     (int)ax[0], (int)ax[1]);
    int32_t yi = fb_vec_i32(&r->f, &op->out, 0);
    int x, y;
    nk_node *n;
    if ((st = value_of(r, op->index, op->code, xi, 4, &x)) ||
        (st = out_of(r, op->index, yi, &y)))
        return st;
    if (keep)
        return add_node(r, NK_OP_GLOBALAVGPOOL, r->t[yi].name, 1, &x, y, &n);
    int t;
    char name[512];
    snprintf(name, sizeof name, "%s/pooled", r->t[yi].name);
    if ((st = new_tensor(r, name, NK_F32, NULL, &t)) ||
        (st = add_node(r, NK_OP_GLOBALAVGPOOL, name, 1, &x, t, &n)) ||
        (st = add_node(r, NK_OP_FLATTEN, r->t[yi].name, 1, &t, y, &n)))
        return st;
    return nk_node_set_int(r->ctx, r->g, n, "axis", 1);
}

static nk_status op_pad(tr *r, const tr_op *op)
{
    bool v2 = op->code == TFL_PADV2;
    nk_status st = need_io(r, op, 2, v2 ? 3 : 2);
    if (st)
        return st;
    int32_t xi = in_at(r, op, 0), pi = in_at(r, op, 1), vi = in_at(r, op, 2);
    if (xi < 0 || pi < 0 || !r->t[pi].data ||
        (r->t[pi].dt != NK_I32 && r->t[pi].dt != NK_I64) ||
        r->t[pi].rank != 2 || r->t[pi].shape[1] != 2 ||
        r->t[pi].shape[0] != r->t[xi].rank)
        return unsup(r, op->index, op->code,
                     "paddings must be a constant [rank, 2] integer tensor");
    int rank = r->t[xi].rank;
    int64_t pads[2 * NK_MAX_RANK];
    for (int i = 0; i < rank; i++) {
        int irdim = rank == 4 ? NHWC_FROM_NCHW[i] : i;
        int64_t b, e;
        if (r->t[pi].dt == NK_I32) {
            int32_t p2[2];
            memcpy(p2, r->t[pi].data + (size_t)i * 8, 8);
            b = p2[0];
            e = p2[1];
        } else {
            memcpy(&b, r->t[pi].data + (size_t)i * 16, 8);
            memcpy(&e, r->t[pi].data + (size_t)i * 16 + 8, 8);
        }
        if (b < 0 || e < 0)
            return bad(r, "operator %ld (%s): negative padding %lld, %lld",
                       op->index, opname(op->code), (long long)b,
                       (long long)e);
        pads[irdim] = b;
        pads[rank + irdim] = e;
    }
    int in[3] = {-1, -1, NK_NO_INPUT};
    int32_t yi = fb_vec_i32(&r->f, &op->out, 0);
    if ((st = value_of(r, op->index, op->code, xi, rank, &in[0])) ||
        (st = new_const(r, "pads", NK_I64, 1, (int64_t[]){2 * rank}, pads,
                        &in[1])))
        return st;
    if (v2 && vi >= 0) {
        if (!r->t[vi].data || r->t[vi].dt != NK_F32 || r->t[vi].nbytes != 4)
            return unsup(r, op->index, op->code,
                         "the pad value must be a float scalar constant");
        if ((st = new_const(r, "pad_value", NK_F32, 0, NULL, r->t[vi].data,
                            &in[2])))
            return st;
    }
    int y;
    nk_node *n;
    if ((st = out_of(r, op->index, yi, &y)) ||
        (st = add_node(r, NK_OP_PAD, r->t[yi].name, in[2] >= 0 ? 3 : 2, in,
                       y, &n)))
        return st;
    return NK_OK;
}

/* IR Transpose x -> new tensor named name; returns its index. */
static nk_status transpose(tr *r, int x, const int64_t perm[4],
                           const char *name, int *y)
{
    nk_node *n;
    nk_status st;
    if ((st = new_tensor(r, name, r->g->tensors[x]->dtype, NULL, y)) ||
        (st = add_node(r, NK_OP_TRANSPOSE, name, 1, &x, *y, &n)))
        return st;
    return nk_node_set_ints(r->ctx, r->g, n, "perm", 4, perm);
}

static nk_status op_reshape(tr *r, const tr_op *op)
{
    nk_status st = need_io(r, op, 1, 2);
    if (st)
        return st;
    int32_t xi = in_at(r, op, 0), yi = fb_vec_i32(&r->f, &op->out, 0);
    if (xi < 0)
        return bad(r, "operator %ld (RESHAPE) has no input", op->index);
    const tr_tensor *x = &r->t[xi], *yt = &r->t[yi < 0 ? 0 : yi];
    if (yi < 0 || (uint32_t)yi >= r->nt)
        return bad(r, "operator %ld (RESHAPE): bad output", op->index);
    int ndyn = 0;
    for (int i = 0; i < yt->rank; i++)
        ndyn += yt->shape[i] == NK_DIM_SYM;
    if (ndyn > 1)
        return unsup(r, op->index, op->code, "%d dynamic output dims", ndyn);
    int a;
    if ((st = value_of(r, op->index, op->code, xi, x->rank, &a)))
        return st;
    static const int64_t TO_NHWC[4] = {0, 2, 3, 1}, TO_NCHW[4] = {0, 3, 1, 2};
    char name[512];
    bool x_spatial = x->rank == 4 && !(x->shape[1] == 1 && x->shape[2] == 1);
    bool y_spatial = yt->rank == 4 && !(yt->shape[1] == 1 && yt->shape[2] == 1);
    if (x_spatial) {
        snprintf(name, sizeof name, "%s/nhwc", x->name);
        if ((st = transpose(r, a, TO_NHWC, name, &a)))
            return st;
    }
    /* the target shape in stored order; rank 4 without spatial extent is
     * the same data in NCHW order */
    int64_t shp[NK_MAX_RANK];
    for (int i = 0; i < yt->rank; i++)
        shp[i] = yt->shape[i] == NK_DIM_SYM ? -1 : yt->shape[i];
    if (yt->rank == 4 && !y_spatial) {
        int64_t c = shp[3];
        shp[3] = 1;
        shp[1] = c;
    }
    int in[2] = {a, -1}, y;
    nk_node *n;
    if ((st = new_const(r, "shape", NK_I64, 1, (int64_t[]){yt->rank}, shp,
                        &in[1])))
        return st;
    if (!y_spatial) {
        if ((st = out_of(r, op->index, yi, &y)))
            return st;
        return add_node(r, NK_OP_RESHAPE, yt->name, 2, in, y, &n);
    }
    int t;
    snprintf(name, sizeof name, "%s/nhwc", yt->name);
    if ((st = new_tensor(r, name, x->dt, NULL, &t)) ||
        (st = add_node(r, NK_OP_RESHAPE, name, 2, in, t, &n)) ||
        (st = out_of(r, op->index, yi, &y)))
        return st;
    if ((st = add_node(r, NK_OP_TRANSPOSE, yt->name, 1, &t, y, &n)))
        return st;
    return nk_node_set_ints(r->ctx, r->g, n, "perm", 4, TO_NCHW);
}

static nk_status op_softmax(tr *r, const tr_op *op)
{
    nk_status st = need_io(r, op, 1, 1);
    if (st)
        return st;
    float beta = 1.0f;
    if (op->has_opt &&
        (st = fb_f32(&op->opt, TFL_SOFTMAX_BETA, "beta", 0.0f, &beta)))
        return st;
    int32_t xi = in_at(r, op, 0), yi = fb_vec_i32(&r->f, &op->out, 0);
    int rank = xi >= 0 ? r->t[xi].rank : 0;
    int x, y;
    if ((st = value_of(r, op->index, op->code, xi, rank, &x)) ||
        (st = out_of(r, op->index, yi, &y)))
        return st;
    nk_node *n;
    if (beta != 1.0f) {
        int in[2] = {x, -1}, t;
        char name[512];
        snprintf(name, sizeof name, "%s/beta", r->t[yi].name);
        if ((st = new_const(r, "softmax_beta", NK_F32, 0, NULL, &beta,
                            &in[1])) ||
            (st = new_tensor(r, name, NK_F32, NULL, &t)) ||
            (st = add_node(r, NK_OP_MUL, name, 2, in, t, &n)))
            return st;
        x = t;
    }
    if ((st = add_node(r, NK_OP_SOFTMAX, r->t[yi].name, 1, &x, y, &n)))
        return st;
    return nk_node_set_int(r->ctx, r->g, n, "axis", rank == 4 ? 1 : -1);
}

static nk_status op_concat(tr *r, const tr_op *op)
{
    nk_status st = need_io(r, op, 1, 64);
    if (st)
        return st;
    int32_t axis;
    int act;
    if ((st = opt_i32(op, TFL_CONCAT_AXIS, "axis", 0, &axis)) ||
        (st = opt_u8(op, TFL_CONCAT_ACT, "fused_activation_function", 0,
                     &act)))
        return st;
    int32_t yi = fb_vec_i32(&r->f, &op->out, 0);
    int rank = r->t[yi].rank;
    if (axis < 0)
        axis += rank;
    if (axis < 0 || axis >= rank)
        return bad(r, "operator %ld (CONCATENATION): axis %d for rank %d",
                   op->index, (int)axis, rank);
    int in[64];
    for (uint32_t i = 0; i < op->in.n; i++)
        if ((st = value_of(r, op->index, op->code, in_at(r, op, i), rank,
                           &in[i])))
            return st;
    tr_out o;
    nk_node *n;
    if ((st = begin_out(r, op->index, op->code, yi, act, &o)) ||
        (st = add_node(r, NK_OP_CONCAT, r->t[yi].name, (int)op->in.n, in,
                       o.op_out, &n)) ||
        (st = nk_node_set_int(r->ctx, r->g, n, "axis",
                              rank == 4 ? NHWC_FROM_NCHW[axis] : axis)))
        return st;
    return split_act(r, &o, false, n);
}

static nk_status op_transpose(tr *r, const tr_op *op)
{
    nk_status st = need_io(r, op, 2, 2);
    if (st)
        return st;
    int32_t xi = in_at(r, op, 0), pi = in_at(r, op, 1);
    int32_t yi = fb_vec_i32(&r->f, &op->out, 0);
    if (xi < 0 || pi < 0 || !r->t[pi].data || r->t[pi].dt != NK_I32 ||
        r->t[pi].rank != 1 || r->t[pi].shape[0] != r->t[xi].rank)
        return unsup(r, op->index, op->code,
                     "the permutation must be a constant int32 vector");
    int rank = r->t[xi].rank;
    int32_t p[NK_MAX_RANK];
    memcpy(p, r->t[pi].data, (size_t)rank * 4);
    bool seen[NK_MAX_RANK] = {false};
    for (int i = 0; i < rank; i++) {
        if (p[i] < 0 || p[i] >= rank || seen[p[i]])
            return bad(r, "operator %ld (TRANSPOSE): %d is not a "
                       "permutation of rank %d", op->index, (int)p[i], rank);
        seen[p[i]] = true;
    }
    /* IR out dim j = stored out dim Ly^-1(j) = stored in dim p[...] =
     * IR in dim Lx(p[Ly^-1(j)]) */
    int64_t perm[NK_MAX_RANK];
    for (int j = 0; j < rank; j++) {
        int so = rank == 4 ? NCHW_AXIS_TO_NHWC[j] : j;
        int si = p[so];
        perm[j] = rank == 4 ? NHWC_FROM_NCHW[si] : si;
    }
    int x, y;
    nk_node *n;
    if ((st = value_of(r, op->index, op->code, xi, rank, &x)) ||
        (st = out_of(r, op->index, yi, &y)) ||
        (st = add_node(r, NK_OP_TRANSPOSE, r->t[yi].name, 1, &x, y, &n)))
        return st;
    return nk_node_set_ints(r->ctx, r->g, n, "perm", rank, perm);
}

/* DEQUANTIZE of a constant: folded into float32 data for the output
 * tensor (float16 weights, int8 weights with their scales). */
static nk_status op_dequantize(tr *r, const tr_op *op)
{
    nk_status st = need_io(r, op, 1, 1);
    if (st)
        return st;
    int32_t xi = in_at(r, op, 0), yi = fb_vec_i32(&r->f, &op->out, 0);
    if (xi < 0 || !r->t[xi].data)
        return unsup(r, op->index, op->code,
                     "dequantizing an activation needs DequantizeLinear, "
                     "which the IR does not have yet; only constant "
                     "(weight) inputs are read");
    tr_tensor *x = &r->t[xi], *y = &r->t[yi];
    if (y->rank != x->rank || y->type != TFL_FLOAT32 || y->data)
        return bad(r, "operator %ld (DEQUANTIZE): output '%s' must be a "
                   "float32 tensor shaped like its input", op->index,
                   y->name);
    for (int i = 0; i < x->rank; i++)
        if (y->shape[i] != x->shape[i])
            return bad(r, "operator %ld (DEQUANTIZE): output '%s' dim %d is "
                       "%lld, input has %lld", op->index, y->name, i,
                       (long long)y->shape[i], (long long)x->shape[i]);
    size_t n = x->nbytes / nk_dtype_size(x->dt);
    float *f = nk_malloc(n * 4 + 4);
    if (!f)
        return nk_fail(r->ctx, NK_NOMEM, "out of memory");
    if (x->dt == NK_F16) {
        for (size_t k = 0; k < n; k++) {
            uint16_t h;
            memcpy(&h, x->data + k * 2, 2);
            f[k] = nk_f16_to_f32(h);
        }
    } else if ((x->dt == NK_I8 || x->dt == NK_U8) && x->qn) {
        /* per-channel along qdim: the channel of element k */
        size_t inner = 1;
        if (x->qn > 1)
            for (int i = x->qdim + 1; i < x->rank; i++)
                inner *= (size_t)x->shape[i];
        for (size_t k = 0; k < n; k++) {
            uint32_t c = x->qn > 1 ? (uint32_t)((k / inner) % x->qn) : 0;
            float s = fb_vec_f32(&r->f, &x->qscale, c);
            int64_t z = x->qzero.n ? fb_vec_i64(&r->f, &x->qzero, c) : 0;
            int v = x->dt == NK_I8 ? (int)(int8_t)x->data[k] : x->data[k];
            f[k] = s * (float)((int64_t)v - z);
        }
    } else {
        nk_free(f);
        return unsup(r, op->index, op->code, "input type %s",
                     nk_dtype_name(x->dt));
    }
    y->data = (const uint8_t *)f;
    y->owned = f;
    y->nbytes = n * 4;
    y->dt = NK_F32;
    y->dt_ok = true;
    return NK_OK;
}

static nk_status read_op(tr *r, const fb_vec *ops, uint32_t i)
{
    fb_table t;
    tr_op op = {0};
    op.index = (long)i;
    uint32_t oc;
    uint8_t otype, otype2;
    nk_status st;
    if ((st = fb_vec_table(&r->f, ops, i, "Operator", &t)) ||
        (st = fb_u32(&t, TFL_OP_OPCODE, "opcode_index", 0, &oc)) ||
        (st = fb_vector(&t, TFL_OP_INPUTS, "inputs", 4, &op.in)) ||
        (st = fb_vector(&t, TFL_OP_OUTPUTS, "outputs", 4, &op.out)) ||
        (st = fb_u8(&t, TFL_OP_OPTIONS_TYPE, "builtin_options_type", 0,
                    &otype)) ||
        (st = fb_u8(&t, TFL_OP_OPTIONS2_TYPE, "builtin_options_2_type", 0,
                    &otype2)))
        return st;
    if (oc >= r->ncodes)
        return bad(r, "operator %u: opcode_index %u, the model has %u "
                   "operator codes", i, oc, r->ncodes);
    op.code = r->codes[oc];
    if (op.code == TFL_CUSTOM)
        return nk_fail(r->ctx, NK_UNSUPPORTED,
                       "%s: operator %u is the custom op '%s', which nnkit "
                       "cannot run", r->path, i,
                       r->custom[oc] ? r->custom[oc] : "");
    if (otype > TFL_OPT_LAST)
        return bad(r, "operator %u (%s): unknown builtin_options union type "
                   "%u (known: 0..%d)", i, opname(op.code), otype,
                   TFL_OPT_LAST);
    if ((st = fb_subtable(&t, TFL_OP_OPTIONS, "builtin_options",
                          "BuiltinOptions", &op.opt, &op.has_opt)))
        return st;
    if (op.has_opt && otype == TFL_OPT_NONE)
        return bad(r, "operator %u (%s): builtin_options without a union "
                   "type", i, opname(op.code));
    for (uint32_t k = 0; k < op.out.n; k++) {
        int32_t o = fb_vec_i32(&r->f, &op.out, k);
        if (o < 0 || (uint32_t)o >= r->nt)
            return bad(r, "operator %u (%s): output %u is tensor %d, the "
                       "subgraph has %u", i, opname(op.code), k, (int)o,
                       r->nt);
    }
    int want = -1; /* the options type the op must carry (or none) */
    nk_status (*fn)(tr *, const tr_op *) = NULL;
    switch (op.code) {
    case TFL_CONV_2D: want = TFL_OPT_CONV2D; fn = op_conv; break;
    case TFL_DEPTHWISE_CONV_2D: want = TFL_OPT_DEPTHWISE; fn = op_conv; break;
    case TFL_AVERAGE_POOL_2D:
    case TFL_MAX_POOL_2D: want = TFL_OPT_POOL2D; fn = op_pool; break;
    case TFL_FULLY_CONNECTED: want = TFL_OPT_FULLY_CONNECTED; fn = op_fc;
        break;
    case TFL_ADD: want = TFL_OPT_ADD; fn = op_binary; break;
    case TFL_SUB: want = TFL_OPT_SUB; fn = op_binary; break;
    case TFL_MUL: want = TFL_OPT_MUL; fn = op_binary; break;
    case TFL_DIV: want = TFL_OPT_DIV; fn = op_binary; break;
    case TFL_RELU: case TFL_RELU6: case TFL_RELU_N1_TO_1: case TFL_TANH:
    case TFL_LOGISTIC: fn = op_unary; break;
    case TFL_HARD_SWISH: want = TFL_OPT_HARD_SWISH; fn = op_unary; break;
    case TFL_LEAKY_RELU: want = TFL_OPT_LEAKY_RELU; fn = op_unary; break;
    case TFL_MAXIMUM: case TFL_MINIMUM: want = TFL_OPT_MAXMIN; fn = op_maxmin;
        break;
    case TFL_MEAN: want = TFL_OPT_REDUCER; fn = op_mean; break;
    case TFL_PAD: want = TFL_OPT_PAD; fn = op_pad; break;
    case TFL_PADV2: want = TFL_OPT_PADV2; fn = op_pad; break;
    case TFL_RESHAPE: want = TFL_OPT_RESHAPE; fn = op_reshape; break;
    case TFL_SOFTMAX: want = TFL_OPT_SOFTMAX; fn = op_softmax; break;
    case TFL_CONCATENATION: want = TFL_OPT_CONCATENATION; fn = op_concat;
        break;
    case TFL_TRANSPOSE: want = TFL_OPT_TRANSPOSE; fn = op_transpose; break;
    case TFL_DEQUANTIZE: want = TFL_OPT_DEQUANTIZE; fn = op_dequantize;
        break;
    case TFL_QUANTIZE:
        return unsup(r, (long)i, op.code,
                     "quantizing activations needs QuantizeLinear, which "
                     "the IR does not have yet");
    default:
        return nk_fail(r->ctx, NK_UNSUPPORTED,
                       "%s: operator %u uses builtin op %s%s(code %d), "
                       "which nnkit does not read",
                       r->path, i, nk_tflite_op_name(op.code)
                                       ? nk_tflite_op_name(op.code) : "",
                       nk_tflite_op_name(op.code) ? " " : "", (int)op.code);
    }
    if (otype != TFL_OPT_NONE && otype != want)
        return bad(r, "operator %u (%s): builtin_options union type %u, "
                   "expected %d", i, opname(op.code), otype, want);
    return fn(r, &op);
}

/* ---- transposes that cancel --------------------------------------------- */

/* Compose Transpose(Transpose(x)) into one (or none, when they cancel);
 * the reader creates such pairs at NCHW graph boundaries. */
static nk_status compose_transposes(tr *r)
{
    nk_graph *g = r->g;
    bool *dead = nk_calloc((size_t)g->n_nodes + 1, sizeof(bool));
    if (!dead)
        return nk_fail(r->ctx, NK_NOMEM, "out of memory");
    for (int i = 0; i < g->n_nodes; i++) {
        nk_node *b = &g->nodes[i];
        if (b->op != NK_OP_TRANSPOSE)
            continue;
        int p = nk_tensor_producer(g, b->in[0]);
        if (p < 0 || dead[p] || g->nodes[p].op != NK_OP_TRANSPOSE ||
            nk_tensor_use_count(g, b->in[0]) != 1)
            continue;
        nk_node *a = &g->nodes[p];
        int64_t pa[NK_MAX_RANK], pb[NK_MAX_RANK];
        int na = nk_node_ints(a, "perm", pa, NK_MAX_RANK);
        int nb = nk_node_ints(b, "perm", pb, NK_MAX_RANK);
        if (na != nb || na == 0)
            continue;
        int64_t pc[NK_MAX_RANK];
        bool identity = true;
        for (int j = 0; j < na; j++) {
            pc[j] = pa[pb[j]];
            identity &= pc[j] == j;
        }
        int src = a->in[0];
        dead[p] = true;
        if (identity && !nk_tensor_is_graph_output(g, b->out[0])) {
            nk_graph_replace_uses(g, b->out[0], src);
            dead[i] = true;
        } else if (identity && !nk_tensor_is_graph_output(g, src) &&
                   nk_tensor_producer(g, src) >= 0) {
            /* b's output is a graph output: keep one Transpose only if
             * needed; here the graph input feeds a graph output, rare */
            b->in[0] = src;
            nk_status st = nk_node_set_ints(r->ctx, g, b, "perm", na, pc);
            if (st) {
                nk_free(dead);
                return st;
            }
        } else {
            b->in[0] = src;
            nk_status st = nk_node_set_ints(r->ctx, g, b, "perm", na, pc);
            if (st) {
                nk_free(dead);
                return st;
            }
        }
    }
    nk_graph_remove_nodes(g, dead);
    nk_free(dead);
    return NK_OK;
}

/* ---- the model ------------------------------------------------------------- */

static nk_status read_metadata(tr *r, const fb_table *model)
{
    fb_vec v;
    nk_status st = fb_vector(model, TFL_MODEL_METADATA, "metadata", 4, &v);
    if (st)
        return st;
    for (uint32_t i = 0; i < v.n; i++) {
        fb_table m;
        const char *name;
        uint32_t buf;
        if ((st = fb_vec_table(&r->f, &v, i, "Metadata", &m)) ||
            (st = fb_str(&m, TFL_META_NAME, "name", &name, NULL)) ||
            (st = fb_u32(&m, TFL_META_BUFFER, "buffer", 0, &buf)))
            return st;
        if (buf >= r->nbuf)
            return bad(r, "metadata %u '%s' refers to buffer %u, the model "
                       "has %u", i, name ? name : "", buf, r->nbuf);
        if (name && strcmp(name, TFL_META_NNKIT) == 0 && r->buf[buf] &&
            (st = nk_tflite_meta_decode(r->ctx, r->path, r->buf[buf],
                                        r->buf_n[buf], r->g)))
            return st;
    }
    return NK_OK;
}

static nk_status read_graph(tr *r)
{
    fb_table model, sg;
    nk_status st = fb_root(&r->f, TFL_IDENT, "Model", &model);
    if (st)
        return st;
    uint32_t version;
    if ((st = fb_u32(&model, TFL_MODEL_VERSION, "version", 0, &version)))
        return st;
    if (version != TFL_SCHEMA_VERSION)
        return bad(r, "schema version %u, expected %u", version,
                   TFL_SCHEMA_VERSION);
    fb_vec sgs, tv, inv, outv, ops;
    if ((st = read_buffers(r, &model)) || (st = read_opcodes(r, &model)) ||
        (st = fb_vector(&model, TFL_MODEL_SUBGRAPHS, "subgraphs", 4, &sgs)))
        return st;
    if (sgs.n < 1)
        return bad(r, "the model has no subgraph");
    if ((st = fb_vec_table(&r->f, &sgs, 0, "SubGraph", &sg)) ||
        (st = fb_vector(&sg, TFL_SG_TENSORS, "tensors", 4, &tv)) ||
        (st = fb_vector(&sg, TFL_SG_INPUTS, "inputs", 4, &inv)) ||
        (st = fb_vector(&sg, TFL_SG_OUTPUTS, "outputs", 4, &outv)) ||
        (st = fb_vector(&sg, TFL_SG_OPERATORS, "operators", 4, &ops)))
        return st;
    r->nt = tv.n;
    r->t = nk_calloc((size_t)tv.n + 1, sizeof *r->t);
    r->ir = nk_malloc(((size_t)tv.n + 1) * sizeof *r->ir);
    r->io4 = nk_calloc((size_t)tv.n + 1, sizeof *r->io4);
    r->used = nk_calloc((size_t)tv.n + 1, sizeof *r->used);
    if (!r->t || !r->ir || !r->io4 || !r->used)
        return nk_fail(r->ctx, NK_NOMEM, "out of memory");
    for (uint32_t i = 0; i < tv.n; i++) {
        r->ir[i] = -1;
        if ((st = read_tensor(r, &tv, i)))
            return st;
    }
    if ((st = nk_graph_new(r->ctx, &r->g)))
        return st;
    /* graph inputs, in the file's shapes */
    int *gin = nk_calloc((size_t)inv.n + 1, sizeof *gin);
    int *gout = nk_calloc((size_t)outv.n + 1, sizeof *gout);
    if (!gin || !gout) {
        nk_free(gin);
        nk_free(gout);
        return nk_fail(r->ctx, NK_NOMEM, "out of memory");
    }
    for (int pass = 0; pass < 2 && !st; pass++) {
        const fb_vec *v = pass ? &outv : &inv;
        for (uint32_t i = 0; i < v->n && !st; i++) {
            int32_t ti = fb_vec_i32(&r->f, v, i);
            if (ti < 0 || (uint32_t)ti >= r->nt)
                st = bad(r, "subgraph %s %u is tensor %d, the subgraph has "
                         "%u", pass ? "output" : "input", i, (int)ti, r->nt);
            else if (r->t[ti].rank == 4)
                r->io4[ti] = true;
        }
    }
    static const int64_t TO_NCHW[4] = {0, 3, 1, 2}, TO_NHWC[4] = {0, 2, 3, 1};
    for (uint32_t i = 0; i < inv.n && !st; i++) {
        int32_t ti = fb_vec_i32(&r->f, &inv, i);
        tr_tensor *t = &r->t[ti];
        if (!t->dt_ok) {
            st = nk_fail(r->ctx, NK_UNSUPPORTED,
                         "%s: input '%s' has TFLite type %d", r->path,
                         t->name, t->type);
            break;
        }
        nk_shape s = nk_shape_make(t->rank, t->shape);
        for (int k = 0; k < t->rank; k++)
            if (t->shape[k] == NK_DIM_SYM)
                s.sym[k] = k == 0 ? "batch" : "dynamic";
        if ((st = new_tensor(r, t->name, t->dt, &s, &gin[i])))
            break;
        r->ir[ti] = gin[i];
        if (t->rank == 4) {
            char name[512];
            snprintf(name, sizeof name, "%s/nchw", t->name);
            st = transpose(r, gin[i], TO_NCHW, name, &r->ir[ti]);
            if (t->shape[3] >= 1 && t->shape[3] <= 4)
                r->g->preproc.nhwc = 1;
        }
    }
    if (!st)
        st = nk_graph_set_inputs(r->ctx, r->g, (int)inv.n, gin);
    for (uint32_t i = 0; i < ops.n && !st; i++)
        st = read_op(r, &ops, i);
    /* Quantized constants no operator reads (int8 tensors kept for
     * tools) stay in the graph with their parameters. */
    for (uint32_t ti = 0; ti < r->nt && !st; ti++) {
        int idx;
        if (r->used[ti] || !r->t[ti].data || !r->t[ti].qn ||
            r->t[ti].owned || r->t[ti].sparse)
            continue;
        st = const_of(r, ti, NULL, 0, &idx);
        if (!st)
            st = copy_quant(r, ti, idx, NULL, r->t[ti].rank);
    }
    for (uint32_t i = 0; i < outv.n && !st; i++) {
        int32_t ti = fb_vec_i32(&r->f, &outv, i);
        if (r->ir[ti] < 0) {
            st = bad(r, "output %u '%s' is produced by no operator", i,
                     r->t[ti].name);
            break;
        }
        gout[i] = r->ir[ti];
        if (r->t[ti].rank == 4)
            st = transpose(r, r->ir[ti], TO_NHWC, r->t[ti].name, &gout[i]);
    }
    if (!st)
        st = nk_graph_set_outputs(r->ctx, r->g, (int)outv.n, gout);
    nk_free(gin);
    nk_free(gout);
    if (!st) {
        nk_preproc guessed = r->g->preproc;
        st = read_metadata(r, &model);
        if (!st && !r->g->preproc.valid)
            r->g->preproc.nhwc = guessed.nhwc;
    }
    if (!st)
        st = compose_transposes(r);
    return st;
}

static void tr_free(tr *r)
{
    for (uint32_t i = 0; r->t && i < r->nt; i++)
        nk_free(r->t[i].owned);
    nk_free(r->t);
    nk_free(r->ir);
    nk_free(r->io4);
    nk_free(r->used);
    nk_free(r->buf);
    nk_free(r->buf_n);
    nk_free(r->codes);
    nk_free(r->custom);
}

nk_status nk_tflite_read_mem(nk_ctx *ctx, const char *name,
                             const uint8_t *p, size_t n, nk_graph **out)
{
    *out = NULL;
    tr r = {0};
    r.ctx = ctx;
    r.path = name;
    r.f = (fb_file){p, n, ctx, name};
    nk_status st = read_graph(&r);
    tr_free(&r);
    if (st) {
        nk_graph_free(r.g);
        return st;
    }
    *out = r.g;
    return NK_OK;
}

int nk_tflite_bid(const uint8_t *head, size_t n, const char *path)
{
    (void)path;
    if (n >= 8 && memcmp(head + 4, TFL_IDENT, 4) == 0)
        return 90;
    return 0;
}

nk_status nk_tflite_load(nk_ctx *ctx, const char *path, nk_graph **out)
{
    void *addr;
    size_t len;
    *out = NULL;
    nk_status st = nk_file_map(ctx, path, &addr, &len);
    if (st)
        return st;
    st = nk_tflite_read_mem(ctx, path, addr, len, out);
    nk_file_unmap(addr, len);
    return st;
}
