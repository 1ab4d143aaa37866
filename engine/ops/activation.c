/*
 * activation.c — element-wise activations: the nk_act helpers that Conv,
 * Gemm and Add use for fused activations, shape inference for the unary
 * ops, and the reference kernel for Relu Clip LeakyRelu Sigmoid Tanh
 * HardSigmoid HardSwish (ONNX semantics).
 */
#include "engine/kernels/kernels-impl.h"
#include "engine/op.h"

#include <float.h>
#include <math.h>
#include <string.h>

static const char *const ACT_NAMES[NK_ACT_COUNT] = {
    [NK_ACT_NONE] = "none",
    [NK_ACT_RELU] = "relu",
    [NK_ACT_CLIP] = "clip",
    [NK_ACT_LEAKYRELU] = "leakyrelu",
    [NK_ACT_SIGMOID] = "sigmoid",
    [NK_ACT_HARDSIGMOID] = "hardsigmoid",
    [NK_ACT_HARDSWISH] = "hardswish",
    [NK_ACT_TANH] = "tanh",
};

_Static_assert(sizeof ACT_NAMES / sizeof ACT_NAMES[0] == NK_ACT_COUNT,
               "activation name table out of date");

const char *nk_act_name(nk_act a)
{
    if ((int)a < 0 || a >= NK_ACT_COUNT)
        return "?";
    return ACT_NAMES[a];
}

/* min(max(v, lo), hi) as numpy and PyTorch compute it: hi wins when
 * lo > hi, and NaN passes through. */
static inline float clampf(float v, float lo, float hi)
{
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
}

/* y[i] = act(x[i]); x and y may be the same buffer. Each case is its own
 * loop so the compiler can vectorise it. */
static void act_map(nk_act a, float a0, float a1, const float *x, float *y,
                    size_t n)
{
    switch (a) {
    case NK_ACT_NONE:
        if (x != y)
            memmove(y, x, n * sizeof *y);
        break;
    case NK_ACT_RELU:
        for (size_t i = 0; i < n; i++)
            y[i] = x[i] < 0.0f ? 0.0f : x[i]; /* NaN passes */
        break;
    case NK_ACT_CLIP:
        for (size_t i = 0; i < n; i++)
            y[i] = clampf(x[i], a0, a1);
        break;
    case NK_ACT_LEAKYRELU:
        for (size_t i = 0; i < n; i++)
            y[i] = x[i] >= 0.0f ? x[i] : a0 * x[i];
        break;
    case NK_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++)
            y[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case NK_ACT_HARDSIGMOID:
        for (size_t i = 0; i < n; i++)
            y[i] = clampf(a0 * x[i] + a1, 0.0f, 1.0f);
        break;
    case NK_ACT_HARDSWISH:
        for (size_t i = 0; i < n; i++)
            y[i] = x[i] * clampf(x[i] * (1.0f / 6.0f) + 0.5f, 0.0f, 1.0f);
        break;
    case NK_ACT_TANH:
        for (size_t i = 0; i < n; i++)
            y[i] = tanhf(x[i]);
        break;
    default:
        NK_ASSERT(!"unknown activation");
    }
}

void nk_act_apply(nk_act a, float a0, float a1, float *x, size_t n)
{
    act_map(a, a0, a1, x, x, n);
}

/* ---- shape inference ---------------------------------------------------- */

nk_status nk_infer_unary(nk_ctx *ctx, const nk_node *n, nk_tensor *const *in,
                         int n_in, nk_tensor *const *out, int n_out)
{
    if (n_in < 1 || !in[0])
        return nk_fail_node(ctx, NK_INVALID_ARG, n,
                            "input 0 is missing, expected 1 input");
    if (n_out < 1 || !out[0])
        return nk_fail_node(ctx, NK_INVALID_ARG, n,
                            "output 0 is missing, expected 1 output");
    out[0]->dtype = in[0]->dtype;
    out[0]->shape = in[0]->shape;
    return NK_OK;
}

/* Checks that Clip's optional bound input i is a one-element tensor of the
 * data's dtype. */
static nk_status check_clip_bound(nk_ctx *ctx, const nk_node *n,
                                  const nk_tensor *x, const nk_tensor *b,
                                  int i)
{
    if (b->dtype != x->dtype)
        return nk_fail_node(ctx, NK_INVALID_ARG, n,
                            "input %d ('%s') has dtype %s, expected %s", i,
                            b->name ? b->name : "?", nk_dtype_name(b->dtype),
                            nk_dtype_name(x->dtype));
    int64_t cnt = nk_shape_numel(&b->shape);
    if (cnt != 1) {
        char buf[128];
        return nk_fail_node(ctx, NK_SHAPE, n,
                            "input %d ('%s') has shape %s, expected a "
                            "scalar", i, b->name ? b->name : "?",
                            nk_shape_str(&b->shape, buf, sizeof buf));
    }
    return NK_OK;
}

nk_status nk_infer_clip(nk_ctx *ctx, const nk_node *n, nk_tensor *const *in,
                        int n_in, nk_tensor *const *out, int n_out)
{
    nk_status st = nk_infer_unary(ctx, n, in, n_in, out, n_out);
    if (st != NK_OK)
        return st;
    if (n_in > 3)
        return nk_fail_node(ctx, NK_INVALID_ARG, n,
                            "has %d inputs, expected at most 3", n_in);
    for (int i = 1; i < n_in; i++)
        if (in[i] && (st = check_clip_bound(ctx, n, in[0], in[i], i)))
            return st;
    return NK_OK;
}

/* ---- reference kernel --------------------------------------------------- */

typedef struct unary_params {
    nk_act act;
    float a0, a1;
    bool min_input, max_input; /* Clip bounds read from inputs 1 / 2 */
} unary_params;

nk_status nk_unary_prepare(nk_ctx *ctx, nk_step *st)
{
    const nk_node *n = st->node;
    unary_params *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                       n->name ? n->name : "?");
    switch (n->op) {
    case NK_OP_RELU:
        p->act = NK_ACT_RELU;
        break;
    case NK_OP_CLIP:
        p->act = NK_ACT_CLIP;
        /* opset < 11: attributes; opset >= 11: optional inputs 1 and 2 */
        p->a0 = nk_node_float(n, "min", -FLT_MAX);
        p->a1 = nk_node_float(n, "max", FLT_MAX);
        for (int i = 1; i <= 2; i++) {
            const nk_tensor *b = i < st->n_in ? st->in[i] : NULL;
            if (!b)
                continue;
            if (b->dtype != NK_F32 || nk_shape_numel(&b->shape) != 1) {
                nk_free(p);
                return nk_fail_node(ctx, NK_UNSUPPORTED, n,
                                    "input %d must be an f32 scalar, found "
                                    "%s with %lld elements", i,
                                    nk_dtype_name(b->dtype),
                                    (long long)nk_shape_numel(&b->shape));
            }
            if (i == 1)
                p->min_input = true;
            else
                p->max_input = true;
        }
        break;
    case NK_OP_LEAKYRELU:
        p->act = NK_ACT_LEAKYRELU;
        p->a0 = nk_node_float(n, "alpha", 0.01f);
        break;
    case NK_OP_SIGMOID:
        p->act = NK_ACT_SIGMOID;
        break;
    case NK_OP_TANH:
        p->act = NK_ACT_TANH;
        break;
    case NK_OP_HARDSIGMOID:
        p->act = NK_ACT_HARDSIGMOID;
        p->a0 = nk_node_float(n, "alpha", 0.2f);
        p->a1 = nk_node_float(n, "beta", 0.5f);
        break;
    case NK_OP_HARDSWISH:
        p->act = NK_ACT_HARDSWISH;
        break;
    default:
        nk_free(p);
        return nk_fail_node(ctx, NK_INTERNAL, n,
                            "is not an element-wise activation");
    }
    if (st->in[0]->dtype != NK_F32 || st->out[0]->dtype != NK_F32) {
        nk_free(p);
        return nk_fail_node(ctx, NK_UNSUPPORTED, n,
                            "dtype %s, expected f32",
                            nk_dtype_name(st->in[0]->dtype));
    }
    st->params = p;
    return NK_OK;
}

void nk_unary_ref(const nk_step *st, int ith, int nth)
{
    const unary_params *p = st->params;
    const float *x = st->in[0]->data;
    float *y = st->out[0]->data;
    float a0 = p->a0, a1 = p->a1;
    /* Clip's bounds may be computed tensors: read them at run time. */
    if (p->min_input)
        a0 = *(const float *)st->in[1]->data;
    if (p->max_input)
        a1 = *(const float *)st->in[2]->data;
    int64_t b, e;
    nk_split(nk_shape_numel(&st->out[0]->shape), ith, nth, &b, &e);
    if (b < e)
        act_map(p->act, a0, a1, x + b, y + b, (size_t)(e - b));
}

/* ---- Clip on integers --------------------------------------------------- */

static int64_t clip_int_load(nk_dtype dt, const void *p, int64_t i)
{
    switch (dt) {
    case NK_I64: return ((const int64_t *)p)[i];
    case NK_I32: return ((const int32_t *)p)[i];
    case NK_U8: return ((const uint8_t *)p)[i];
    default: return ((const int8_t *)p)[i];
    }
}

nk_status nk_clip_int_prepare(nk_ctx *ctx, nk_step *st)
{
    for (int i = 1; i < st->n_in && i <= 2; i++) {
        const nk_tensor *b = st->in[i];
        if (b && (b->dtype != st->in[0]->dtype ||
                  nk_shape_numel(&b->shape) != 1))
            return nk_fail_node(ctx, NK_UNSUPPORTED, st->node,
                                "input %d must be a %s scalar, found %s "
                                "with %lld elements", i,
                                nk_dtype_name(st->in[0]->dtype),
                                nk_dtype_name(b->dtype),
                                (long long)nk_shape_numel(&b->shape));
    }
    if (nk_node_attr(st->node, "min") || nk_node_attr(st->node, "max"))
        return nk_fail_node(ctx, NK_UNSUPPORTED, st->node,
                            "integer Clip takes its bounds as inputs "
                            "(opset 12+), not attributes");
    return NK_OK;
}

void nk_clip_int_ref(const nk_step *st, int ith, int nth)
{
    const nk_dtype dt = st->in[0]->dtype;
    const void *x = st->in[0]->data;
    void *y = st->out[0]->data;
    bool has_lo = st->n_in > 1 && st->in[1], has_hi = st->n_in > 2 && st->in[2];
    int64_t lo = has_lo ? clip_int_load(dt, st->in[1]->data, 0) : INT64_MIN;
    int64_t hi = has_hi ? clip_int_load(dt, st->in[2]->data, 0) : INT64_MAX;
    int64_t b, e;
    nk_split(nk_shape_numel(&st->out[0]->shape), ith, nth, &b, &e);
    for (int64_t i = b; i < e; i++) {
        int64_t v = clip_int_load(dt, x, i);
        v = v < lo ? lo : v;
        v = v > hi ? hi : v; /* hi wins when lo > hi, as numpy */
        switch (dt) {
        case NK_I64: ((int64_t *)y)[i] = v; break;
        case NK_I32: ((int32_t *)y)[i] = (int32_t)v; break;
        case NK_U8: ((uint8_t *)y)[i] = (uint8_t)v; break;
        default: ((int8_t *)y)[i] = (int8_t)v; break;
        }
    }
}
