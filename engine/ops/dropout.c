/*
 * dropout.c — Dropout. Eval mode is the identity (mask all true); training
 * mode is inverted dropout: each element is zeroed with probability ratio
 * and the survivors are scaled by 1 / (1 - ratio), from a seeded RNG.
 */
#include "engine/kernels/kernels-impl.h"
#include "engine/op.h"
#include "engine/backward/backward.h"

#include <string.h>

nk_status nk_infer_dropout(nk_ctx *ctx, const nk_node *n, nk_tensor *const *in,
                           int n_in, nk_tensor *const *out, int n_out)
{
    if (n_in < 1 || !in[0] || n_out < 1 || !out[0])
        return nk_fail_node(ctx, NK_INVALID_ARG, n,
                            "expected an input and an output");
    if (n_in > 1 && in[1] && nk_shape_numel(&in[1]->shape) != 1)
        return nk_fail_node(ctx, NK_SHAPE, n,
                            "ratio input '%s' has %lld elements, expected a "
                            "scalar", in[1]->name,
                            (long long)nk_shape_numel(&in[1]->shape));
    out[0]->dtype = in[0]->dtype;
    out[0]->shape = in[0]->shape;
    if (n_out > 1 && out[1]) {
        out[1]->dtype = NK_BOOL;
        out[1]->shape = in[0]->shape;
    }
    return NK_OK;
}

typedef struct dropout_params {
    float ratio;
    bool ratio_input; /* read the ratio from input 1 at run time */
    nk_rng rng;       /* advanced by every training-mode run */
    nk_rng last;      /* rng before the last training run (backward) */
    float last_ratio;
    bool last_masked; /* the last run drew a mask */
} dropout_params;

static bool ratio_ok(float r)
{
    return r >= 0.0f && r < 1.0f;
}

nk_status nk_dropout_prepare(nk_ctx *ctx, nk_step *st)
{
    const nk_node *n = st->node;
    if (st->in[0]->dtype != NK_F32)
        return nk_fail_node(ctx, NK_UNSUPPORTED, n, "dtype %s, expected f32",
                            nk_dtype_name(st->in[0]->dtype));
    dropout_params *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory", n->name);
    /* opset < 12: attribute; opset >= 12: optional input 1 */
    p->ratio = nk_node_float(n, "ratio", 0.5f);
    const nk_tensor *r = st->n_in > 1 ? st->in[1] : NULL;
    if (r) {
        if (r->dtype != NK_F32) {
            nk_free(p);
            return nk_fail_node(ctx, NK_UNSUPPORTED, n,
                                "ratio input has dtype %s, expected f32",
                                nk_dtype_name(r->dtype));
        }
        if (r->is_init && r->data)
            memcpy(&p->ratio, r->data, sizeof p->ratio);
        else
            p->ratio_input = true;
    }
    if (!p->ratio_input && !ratio_ok(p->ratio)) {
        float bad = p->ratio;
        nk_free(p);
        return nk_fail_node(ctx, NK_INVALID_ARG, n,
                            "ratio %g, expected a value in [0, 1)",
                            (double)bad);
    }
    nk_rng_seed(&p->rng, (uint64_t)nk_node_int(n, "seed", 0));
    st->params = p;
    return NK_OK;
}

void nk_dropout_ref(const nk_step *st, int ith, int nth)
{
    dropout_params *p = st->params;
    const float *x = st->in[0]->data;
    float *y = st->out[0]->data;
    bool *mask = st->n_out > 1 && st->out[1] ? st->out[1]->data : NULL;
    const int64_t cnt = nk_shape_numel(&st->out[0]->shape);
    float ratio = p->ratio;
    if (p->ratio_input)
        memcpy(&ratio, st->in[1]->data, sizeof ratio);
    /* opset 12+: input 2, training_mode, may turn dropout on */
    bool training = st->training;
    if (st->n_in > 2 && st->in[2] && st->in[2]->dtype == NK_BOOL &&
        st->in[2]->data)
        training = training || *(const uint8_t *)st->in[2]->data;
    if (!training || ratio == 0.0f) {
        if (ith == 0)
            p->last_masked = false;
        int64_t b, e;
        nk_split(cnt, ith, nth, &b, &e);
        if (b < e && x != y)
            memcpy(y + b, x + b, (size_t)(e - b) * sizeof *y);
        if (b < e && mask)
            memset(mask + b, 1, (size_t)(e - b));
        return;
    }
    /* One sequential RNG stream keeps the result independent of the
     * thread count, so thread 0 does the (cheap) whole job. */
    if (ith != 0)
        return;
    if (!ratio_ok(ratio))
        ratio = ratio < 0.0f ? 0.0f : 1.0f;
    const float scale = ratio < 1.0f ? 1.0f / (1.0f - ratio) : 0.0f;
    p->last = p->rng;
    p->last_ratio = ratio;
    p->last_masked = true;
    for (int64_t i = 0; i < cnt; i++) {
        bool keep = nk_rng_uniform(&p->rng) >= ratio;
        y[i] = keep ? x[i] * scale : 0.0f;
        if (mask)
            mask[i] = keep;
    }
}

bool nk_dropout_last_mask(const nk_step *st, nk_rng *rng, float *ratio)
{
    const dropout_params *p = st->params;
    if (!p || !p->last_masked)
        return false;
    *rng = p->last;
    *ratio = p->last_ratio;
    return true;
}
