/*
 * batchnorm.c — BatchNormalization (f32, channel axis 1): shape inference
 * and the reference kernel. Eval mode normalises with the running
 * statistics; training mode with the batch's (biased variance) and
 * updates the running statistics in place with ONNX's momentum rule
 * (m = 1 - torch momentum) but, in a training step, PyTorch's unbiased
 * variance for running_var (ONNX's biased one for the training_mode
 * attribute outside training).
 */
#include "engine/op.h"
#include "engine/kernels/kernels-impl.h"

#include <math.h>

typedef struct bn_params {
    int64_t n, c, inner; /* X viewed as [n, c, inner] */
    float eps, momentum;
    int writable;        /* running stats are writable initializers */
    int attr_train;      /* the node's training_mode attribute (opset 14) */
} bn_params;

/* Batch statistics in a training step (st->training, which
 * nk_grad_freeze_bn may clear after planning, so read at run time) or
 * with the training_mode attribute; the running statistics are updated
 * in place only by a training step. */
static int bn_uses_batch_stats(const nk_step *st, const bn_params *p)
{
    return st->training || p->attr_train;
}

nk_status nk_infer_batchnorm(nk_ctx *ctx, const nk_node *n,
                             nk_tensor *const *in, int n_in,
                             nk_tensor *const *out, int n_out)
{
    static const char *const what[5] = {"X", "scale", "B", "mean", "var"};
    if (n_in < 5)
        return nk_fail_node(ctx, NK_FORMAT, n,
                            "has %d inputs, expected 5 (X, scale, B, "
                            "mean, var)", n_in);
    for (int i = 0; i < 5; i++)
        if (!in[i])
            return nk_fail_node(ctx, NK_FORMAT, n, "input %s is missing",
                                what[i]);
    const nk_tensor *x = in[0];
    if (x->shape.rank < 2)
        return nk_fail_node(ctx, NK_SHAPE, n,
                            "input '%s' has rank %d, expected >= 2 (N, C, "
                            "...)", x->name, x->shape.rank);
    int64_t c = x->shape.d[1];
    for (int i = 1; i < 5; i++) {
        const nk_tensor *t = in[i];
        if (t->shape.rank != 1 || t->shape.d[0] != c)
            return nk_fail_node(ctx, NK_SHAPE, n,
                                "%s '%s' has rank %d and %lld elements, "
                                "expected a vector of %lld (channels)",
                                what[i], t->name, t->shape.rank,
                                (long long)(t->shape.rank ? t->shape.d[0]
                                                          : 1),
                                (long long)c);
        if (t->dtype != NK_F32)
            return nk_fail_node(ctx, NK_FORMAT, n,
                                "%s '%s' is %s, expected f32", what[i],
                                t->name, nk_dtype_name(t->dtype));
    }
    out[0]->dtype = x->dtype;
    out[0]->shape = x->shape;
    for (int i = 1; i < n_out && i < 3; i++)
        if (out[i]) {
            out[i]->dtype = NK_F32;
            out[i]->shape = in[2 + i]->shape;
        }
    return NK_OK;
}

nk_status nk_batchnorm_prepare(nk_ctx *ctx, nk_step *st)
{
    bn_params *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                       st->node->name);
    const nk_shape *s = &st->in[0]->shape;
    p->n = s->d[0];
    p->c = s->rank > 1 ? s->d[1] : 1;
    p->inner = 1;
    for (int i = 2; i < s->rank; i++)
        p->inner *= s->d[i];
    p->eps = nk_node_float(st->node, "epsilon", 1e-5f);
    p->momentum = nk_node_float(st->node, "momentum", 0.9f);
    /* Borrowed data may be a read-only mapping: never written. */
    p->attr_train = nk_node_int(st->node, "training_mode", 0) != 0;
    /* ONNX's training_mode only outputs the new statistics; a training
     * plan also keeps them, in the initializers. */
    p->writable = st->in[3]->is_init && st->in[4]->is_init &&
                  st->in[3]->storage != NK_STORE_BORROWED &&
                  st->in[4]->storage != NK_STORE_BORROWED;
    st->params = p;
    return NK_OK;
}

static void bn_train(const nk_step *st, const bn_params *p, int64_t c0,
                     int64_t c1)
{
    const float *x = st->in[0]->data;
    const float *scale = st->in[1]->data, *bias = st->in[2]->data;
    float *rmean = st->in[3]->data, *rvar = st->in[4]->data;
    float *y = st->out[0]->data;
    float *om = st->n_out > 1 && st->out[1] ? st->out[1]->data : NULL;
    float *ov = st->n_out > 2 && st->out[2] ? st->out[2]->data : NULL;
    double cnt = (double)p->n * (double)p->inner;
    for (int64_t c = c0; c < c1; c++) {
        double sum = 0.0, sq = 0.0;
        for (int64_t nn = 0; nn < p->n; nn++) {
            const float *xp = x + (nn * p->c + c) * p->inner;
            for (int64_t i = 0; i < p->inner; i++)
                sum += xp[i];
        }
        double mean = cnt > 0 ? sum / cnt : 0.0;
        for (int64_t nn = 0; nn < p->n; nn++) {
            const float *xp = x + (nn * p->c + c) * p->inner;
            for (int64_t i = 0; i < p->inner; i++) {
                double d = xp[i] - mean;
                sq += d * d;
            }
        }
        double var = cnt > 0 ? sq / cnt : 0.0; /* biased, as ONNX */
        float k = (float)(scale[c] / sqrt(var + p->eps));
        float sh = (float)(bias[c] - mean * k);
        for (int64_t nn = 0; nn < p->n; nn++) {
            const float *xp = x + (nn * p->c + c) * p->inner;
            float *yp = y + (nn * p->c + c) * p->inner;
            for (int64_t i = 0; i < p->inner; i++)
                yp[i] = xp[i] * k + sh;
        }
        float nm = (float)(rmean[c] * p->momentum +
                           mean * (1.0f - p->momentum));
        /* PyTorch (whose training nnkit matches) updates running_var
         * with the UNBIASED batch variance, while ONNX's reference uses
         * the biased one that normalises the batch above: a training step
         * follows PyTorch, a node's training_mode attribute ONNX. */
        double uvar = st->training && cnt > 1 ? sq / (cnt - 1.0) : var;
        float nv = (float)(rvar[c] * p->momentum +
                           uvar * (1.0f - p->momentum));
        if (st->training && p->writable) {
            rmean[c] = nm;
            rvar[c] = nv;
        }
        if (om)
            om[c] = nm;
        if (ov)
            ov[c] = nv;
    }
}

void nk_batchnorm_ref(const nk_step *st, int ith, int nth)
{
    const bn_params *p = st->params;
    int64_t b, e;
    if (bn_uses_batch_stats(st, p)) {
        nk_split(p->c, ith, nth, &b, &e);
        bn_train(st, p, b, e);
        return;
    }
    const float *x = st->in[0]->data;
    const float *scale = st->in[1]->data, *bias = st->in[2]->data;
    const float *mean = st->in[3]->data, *var = st->in[4]->data;
    float *y = st->out[0]->data;
    nk_split(p->n * p->c, ith, nth, &b, &e);
    for (int64_t t = b; t < e; t++) {
        int64_t c = t % p->c;
        float k = scale[c] / sqrtf(var[c] + p->eps);
        float sh = bias[c] - mean[c] * k;
        const float *xp = x + t * p->inner;
        float *yp = y + t * p->inner;
        for (int64_t i = 0; i < p->inner; i++)
            yp[i] = xp[i] * k + sh;
    }
    /* Running statistics pass through unchanged in eval mode. */
    for (int o = 1; o < st->n_out && o < 3; o++)
        if (st->out[o] && ith == 0)
            for (int64_t c = 0; c < p->c; c++)
                ((float *)st->out[o]->data)[c] =
                    ((const float *)st->in[2 + o]->data)[c];
}
