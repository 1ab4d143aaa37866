/*
 * builder.c — the zoo's graph-building helpers: layers with torchvision
 * state_dict names, ONNX ops as torch.onnx.export writes them in eval
 * mode, and seeded initialisation with torchvision's distributions.
 */
#include "zoo/zoo.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *zb_fmt(nk_zb *b, const char *fmt, ...)
{
    char *s = b->buf[b->buf_next];
    b->buf_next = (b->buf_next + 1) % 4;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s, sizeof b->buf[0], fmt, ap);
    va_end(ap);
    return s;
}

int zb_make_divisible(double v, int divisor)
{
    int nv = (int)(v + divisor / 2.0) / divisor * divisor;
    if (nv < divisor)
        nv = divisor;
    if (nv < 0.9 * v)
        nv += divisor;
    return nv;
}

/* A tensor name not yet in the graph: name, else name_1, name_2, ... —
 * the suffix torch.onnx.export gives a module applied twice. */
static nk_status unique_name(nk_zb *b, const char *name, char *out,
                             size_t n)
{
    snprintf(out, n, "%s", name);
    for (int i = 1; nk_graph_find_tensor(b->g, out) >= 0; i++) {
        if (i > 10000)
            return nk_fail(b->ctx, NK_INTERNAL,
                           "zoo: no free name for node '%s'", name);
        snprintf(out, n, "%s_%d", name, i);
    }
    return NK_OK;
}

/* Add node `op` named after `name` with one fresh f32 output. */
static nk_status add_node(nk_zb *b, nk_op op, const char *name, int n_in,
                          const int *in, const char *out_name, int *y,
                          nk_node **node)
{
    char uname[256];
    nk_status st = unique_name(b, name, uname, sizeof uname);
    if (st != NK_OK)
        return st;
    nk_shape s = {0};
    int out;
    st = nk_graph_add_tensor(b->ctx, b->g, out_name ? out_name : uname,
                             NK_F32, &s, &out);
    if (st != NK_OK)
        return st;
    st = nk_graph_add_node(b->ctx, b->g, op, uname, n_in, in, 1, &out, node);
    if (st != NK_OK)
        return st;
    *y = out;
    return NK_OK;
}

static nk_status add_param(nk_zb *b, const char *name, nk_dtype dt, int rank,
                           const int64_t *dims, bool trainable, int *idx,
                           float **data)
{
    nk_shape s = nk_shape_make(rank, dims);
    nk_status st = nk_graph_add_init(b->ctx, b->g, name, dt, &s, idx);
    if (st != NK_OK)
        return st;
    nk_tensor *t = b->g->tensors[*idx];
    t->trainable = trainable;
    if (data)
        *data = t->data;
    return NK_OK;
}

/* A shared f32 scalar constant (Clip bounds, Dropout ratio). */
static nk_status const_f32(nk_zb *b, const char *name, float v, int *idx)
{
    *idx = nk_graph_find_tensor(b->g, name);
    if (*idx >= 0)
        return NK_OK;
    float *d;
    nk_status st = add_param(b, name, NK_F32, 0, NULL, false, idx, &d);
    if (st != NK_OK)
        return st;
    d[0] = v;
    return NK_OK;
}

/* N(0, std^2) by Box-Muller, using both values of each pair (the
 * largest models draw ~10^8 samples, so halving the work matters). */
static void fill_normal(nk_zb *b, float *d, size_t n, float std)
{
    const double two_pi = 6.283185307179586, inv53 = 1.0 / 9007199254740992.0;
    for (size_t i = 0; i < n; i += 2) {
        /* u1 in (0, 1] so the log is finite */
        double u1 = ((double)(nk_rng_next(&b->rng) >> 11) + 1.0) * inv53;
        double u2 = (double)(nk_rng_next(&b->rng) >> 11) * inv53;
        double r = sqrt(-2.0 * log(u1)) * std;
        d[i] = (float)(r * cos(two_pi * u2));
        if (i + 1 < n)
            d[i + 1] = (float)(r * sin(two_pi * u2));
    }
}

static void fill_uniform(nk_zb *b, float *d, size_t n, float bound)
{
    for (size_t i = 0; i < n; i++)
        d[i] = (2.0f * nk_rng_uniform(&b->rng) - 1.0f) * bound;
}

/* Initialise weight w (n elements) and bias (nb, may be NULL) per mode. */
static void init_layer(nk_zb *b, zb_init mode, float *w, size_t n,
                       float *bias, size_t nb, double fan_in, double fan_out)
{
    if (b->skip_random)
        return; /* weights and biases stay zero */
    switch (mode) {
    case ZB_INIT_KAIMING_FAN_OUT:
        /* kaiming_normal_(mode="fan_out"), gain sqrt(2) (relu/leaky 0) */
        fill_normal(b, w, n, (float)sqrt(2.0 / fan_out));
        break;
    case ZB_INIT_TORCH_DEFAULT:
        /* kaiming_uniform_(a=sqrt(5)): bound = 1/sqrt(fan_in), bias too */
        fill_uniform(b, w, n, (float)(1.0 / sqrt(fan_in)));
        if (bias)
            fill_uniform(b, bias, nb, (float)(1.0 / sqrt(fan_in)));
        return;
    case ZB_INIT_NORMAL_001:
        fill_normal(b, w, n, 0.01f);
        break;
    default:
        break;
    }
    if (bias)
        memset(bias, 0, nb * sizeof *bias);
}

nk_status zb_conv(nk_zb *b, const char *name, int x, int cin, int cout,
                  int k, int stride, int pad, int groups, int dilation,
                  bool bias, int *y)
{
    /* name may be a zb_fmt buffer that the calls below reuse */
    char nm[sizeof b->buf[0]];
    snprintf(nm, sizeof nm, "%s", name);
    name = nm;
    if (groups < 1 || cin % groups || cout % groups)
        return nk_fail(b->ctx, NK_INTERNAL,
                       "zoo: conv '%s': %d->%d channels in %d groups", name,
                       cin, cout, groups);
    int64_t wd[4] = {cout, cin / groups, k, k};
    int in[3] = {x, -1, NK_NO_INPUT};
    float *w, *bd = NULL;
    nk_status st = add_param(b, zb_fmt(b, "%s.weight", name), NK_F32, 4, wd,
                             true, &in[1], &w);
    if (st != NK_OK)
        return st;
    int64_t bdim[1] = {cout};
    if (bias) {
        st = add_param(b, zb_fmt(b, "%s.bias", name), NK_F32, 1, bdim, true,
                       &in[2], &bd);
        if (st != NK_OK)
            return st;
    }
    size_t rf = (size_t)k * (size_t)k;
    init_layer(b, b->conv_init, w, (size_t)cout * (size_t)(cin / groups) * rf,
               bd, (size_t)cout, (double)(cin / groups) * (double)rf,
               (double)cout * (double)rf);
    nk_node *n;
    st = add_node(b, NK_OP_CONV, name, bias ? 3 : 2, in, NULL, y, &n);
    if (st != NK_OK)
        return st;
    int64_t dil[2] = {dilation, dilation}, ks[2] = {k, k};
    int64_t pads[4] = {pad, pad, pad, pad}, str[2] = {stride, stride};
    if ((st = nk_node_set_ints(b->ctx, b->g, n, "dilations", 2, dil)) ||
        (st = nk_node_set_int(b->ctx, b->g, n, "group", groups)) ||
        (st = nk_node_set_ints(b->ctx, b->g, n, "kernel_shape", 2, ks)) ||
        (st = nk_node_set_ints(b->ctx, b->g, n, "pads", 4, pads)) ||
        (st = nk_node_set_ints(b->ctx, b->g, n, "strides", 2, str)))
        return st;
    return NK_OK;
}

nk_status zb_bn(nk_zb *b, const char *name, int x, int c, int *y)
{
    /* name may be a zb_fmt buffer that the calls below reuse */
    char nm[sizeof b->buf[0]];
    snprintf(nm, sizeof nm, "%s", name);
    name = nm;
    static const char *const keys[4] = {"weight", "bias", "running_mean",
                                        "running_var"};
    int64_t d[1] = {c};
    int in[5] = {x, -1, -1, -1, -1};
    nk_status st;
    for (int i = 0; i < 4; i++) {
        float *p;
        st = add_param(b, zb_fmt(b, "%s.%s", name, keys[i]), NK_F32, 1, d,
                       i < 2, &in[1 + i], &p);
        if (st != NK_OK)
            return st;
        if (i == 0 || i == 3) /* weight 1, var 1; bias and mean stay 0 */
            for (int j = 0; j < c; j++)
                p[j] = 1.0f;
    }
    /* Kept for state_dict round trips; no node reads it. */
    int nbt;
    st = add_param(b, zb_fmt(b, "%s.num_batches_tracked", name), NK_I64, 0,
                   NULL, false, &nbt, NULL);
    if (st != NK_OK)
        return st;
    nk_node *n;
    st = add_node(b, NK_OP_BATCHNORM, name, 5, in, NULL, y, &n);
    if (st != NK_OK)
        return st;
    if ((st = nk_node_set_float(b->ctx, b->g, n, "epsilon", b->bn_eps)) ||
        (st = nk_node_set_float(b->ctx, b->g, n, "momentum",
                                b->bn_momentum)))
        return st;
    return NK_OK;
}

nk_status zb_relu(nk_zb *b, const char *name, int x, int *y)
{
    nk_node *n;
    return add_node(b, NK_OP_RELU, name, 1, &x, NULL, y, &n);
}

nk_status zb_hardsigmoid(nk_zb *b, const char *name, int x, int *y)
{
    nk_node *n;
    nk_status st = add_node(b, NK_OP_HARDSIGMOID, name, 1, &x, NULL, y, &n);
    if (st != NK_OK)
        return st;
    if ((st = nk_node_set_float(b->ctx, b->g, n, "alpha", 1.0f / 6.0f)) ||
        (st = nk_node_set_float(b->ctx, b->g, n, "beta", 0.5f)))
        return st;
    return NK_OK;
}

nk_status zb_act_node(nk_zb *b, zb_act act, const char *name, int x, int *y)
{
    nk_node *n;
    nk_status st;
    switch (act) {
    case ZB_ACT_NONE:
        *y = x;
        return NK_OK;
    case ZB_ACT_RELU:
        return zb_relu(b, name, x, y);
    case ZB_ACT_RELU6: {
        /* ReLU6 exports as Clip with min/max inputs (opset >= 11). */
        int in[3] = {x, -1, -1};
        if ((st = const_f32(b, ZB_CONST_PREFIX "Clip_min_0", 0.0f, &in[1])) ||
            (st = const_f32(b, ZB_CONST_PREFIX "Clip_max_6", 6.0f, &in[2])))
            return st;
        return add_node(b, NK_OP_CLIP, name, 3, in, NULL, y, &n);
    }
    case ZB_ACT_HARDSWISH:
        return add_node(b, NK_OP_HARDSWISH, name, 1, &x, NULL, y, &n);
    default:
        return nk_fail(b->ctx, NK_INTERNAL, "zoo: bad activation %d",
                       (int)act);
    }
}

nk_status zb_binary(nk_zb *b, nk_op op, const char *name, int a, int c,
                    int *y)
{
    int in[2] = {a, c};
    nk_node *n;
    return add_node(b, op, name, 2, in, NULL, y, &n);
}

static nk_status pool(nk_zb *b, nk_op op, const char *name, int x, int k,
                      int stride, int pad, int *y)
{
    nk_node *n;
    nk_status st = add_node(b, op, name, 1, &x, NULL, y, &n);
    if (st != NK_OK)
        return st;
    int64_t ks[2] = {k, k}, str[2] = {stride, stride};
    int64_t pads[4] = {pad, pad, pad, pad};
    if ((st = nk_node_set_int(b->ctx, b->g, n, "ceil_mode", 0)) ||
        (st = nk_node_set_ints(b->ctx, b->g, n, "kernel_shape", 2, ks)) ||
        (st = nk_node_set_ints(b->ctx, b->g, n, "pads", 4, pads)) ||
        (st = nk_node_set_ints(b->ctx, b->g, n, "strides", 2, str)))
        return st;
    return NK_OK;
}

nk_status zb_maxpool(nk_zb *b, const char *name, int x, int k, int stride,
                     int pad, int *y)
{
    return pool(b, NK_OP_MAXPOOL, name, x, k, stride, pad, y);
}

nk_status zb_avgpool(nk_zb *b, const char *name, int x, int k, int stride,
                     int *y)
{
    return pool(b, NK_OP_AVGPOOL, name, x, k, stride, 0, y);
}

nk_status zb_global_avgpool(nk_zb *b, const char *name, int x, int *y)
{
    nk_node *n;
    return add_node(b, NK_OP_GLOBALAVGPOOL, name, 1, &x, NULL, y, &n);
}

nk_status zb_flatten(nk_zb *b, const char *name, int x, int *y)
{
    nk_node *n;
    nk_status st = add_node(b, NK_OP_FLATTEN, name, 1, &x, NULL, y, &n);
    if (st != NK_OK)
        return st;
    return nk_node_set_int(b->ctx, b->g, n, "axis", 1);
}

nk_status zb_dropout(nk_zb *b, const char *name, int x, float ratio, int *y)
{
    /* opset >= 12: the ratio is an input, a scalar constant. */
    int in[2] = {x, -1};
    char cname[64];
    snprintf(cname, sizeof cname, ZB_CONST_PREFIX "Dropout_ratio_%g",
             (double)ratio);
    nk_status st = const_f32(b, cname, ratio, &in[1]);
    if (st != NK_OK)
        return st;
    nk_node *n;
    return add_node(b, NK_OP_DROPOUT, name, 2, in, NULL, y, &n);
}

nk_status zb_linear(nk_zb *b, const char *name, int x, int in_f, int out_f,
                    const char *out_name, int *y)
{
    /* name may be a zb_fmt buffer that the calls below reuse */
    char nm[sizeof b->buf[0]];
    snprintf(nm, sizeof nm, "%s", name);
    name = nm;
    int64_t wd[2] = {out_f, in_f}, bd[1] = {out_f};
    int in[3] = {x, -1, -1};
    float *w, *bias;
    nk_status st;
    if ((st = add_param(b, zb_fmt(b, "%s.weight", name), NK_F32, 2, wd, true,
                        &in[1], &w)) ||
        (st = add_param(b, zb_fmt(b, "%s.bias", name), NK_F32, 1, bd, true,
                        &in[2], &bias)))
        return st;
    init_layer(b, b->linear_init, w, (size_t)out_f * (size_t)in_f, bias,
               (size_t)out_f, in_f, out_f);
    nk_node *n;
    st = add_node(b, NK_OP_GEMM, name, 3, in, out_name, y, &n);
    if (st != NK_OK)
        return st;
    if ((st = nk_node_set_float(b->ctx, b->g, n, "alpha", 1.0f)) ||
        (st = nk_node_set_float(b->ctx, b->g, n, "beta", 1.0f)) ||
        (st = nk_node_set_int(b->ctx, b->g, n, "transB", 1)))
        return st;
    return NK_OK;
}

nk_status zb_conv_bn_act(nk_zb *b, const char *prefix, int x, int cin,
                         int cout, int k, int stride, int groups,
                         int dilation, zb_act act, int *y)
{
    char p[160];
    snprintf(p, sizeof p, "%s", prefix);
    int t;
    nk_status st;
    if ((st = zb_conv(b, zb_fmt(b, "%s.0", p), x, cin, cout, k, stride,
                      (k - 1) / 2 * dilation, groups, dilation, false, &t)) ||
        (st = zb_bn(b, zb_fmt(b, "%s.1", p), t, cout, &t)) ||
        (st = zb_act_node(b, act, zb_fmt(b, "%s.2", p), t, y)))
        return st;
    return NK_OK;
}
