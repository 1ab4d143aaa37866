/*
 * batchnorm.c (backward) — BatchNormalization gradients. Train mode
 * differentiates through the batch statistics (recomputed from the kept
 * input, biased variance, as the forward normalised); eval mode (a frozen
 * BN) is the affine map y = x * gamma/sqrt(var+eps) + shift.
 */
#include "engine/backward/backward.h"

#include <math.h>

typedef struct bn_bwd {
    int64_t n, c, inner;
    float eps;
} bn_bwd;

nk_status nk_bwd_batchnorm_prepare(nk_ctx *ctx, nk_bstep *b)
{
    const nk_step *st = b->fwd;
    bn_bwd *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                       st->node->name);
    const nk_shape *s = &st->in[0]->shape;
    p->n = s->d[0];
    p->c = s->d[1];
    p->inner = 1;
    for (int i = 2; i < s->rank; i++)
        p->inner *= s->d[i];
    p->eps = nk_node_float(st->node, "epsilon", 1e-5f);
    b->params = p;
    b->phases = 1;
    return NK_OK;
}

void nk_bwd_batchnorm(const nk_bstep *b, int phase, int ith, int nth)
{
    const bn_bwd *p = b->params;
    const nk_step *st = b->fwd;
    const float *x = st->in[0]->data, *gamma = st->in[1]->data;
    const float *rmean = st->in[3]->data, *rvar = st->in[4]->data;
    const float *dy = b->dy;
    float *dx = b->dx[0], *dg = b->dx[1], *dbeta = b->dx[2];
    const double cnt = (double)p->n * (double)p->inner;
    int64_t c0, c1;
    nk_split(p->c, ith, nth, &c0, &c1);
    for (int64_t c = c0; c < c1; c++) {
        double mean, var;
        if (st->training) {
            double s = 0.0, sq = 0.0;
            for (int64_t n = 0; n < p->n; n++) {
                const float *xp = x + (n * p->c + c) * p->inner;
                for (int64_t i = 0; i < p->inner; i++)
                    s += xp[i];
            }
            mean = cnt > 0 ? s / cnt : 0.0;
            for (int64_t n = 0; n < p->n; n++) {
                const float *xp = x + (n * p->c + c) * p->inner;
                for (int64_t i = 0; i < p->inner; i++) {
                    double d = xp[i] - mean;
                    sq += d * d;
                }
            }
            var = cnt > 0 ? sq / cnt : 0.0;
        } else {
            mean = rmean[c];
            var = rvar[c];
        }
        double invstd = 1.0 / sqrt(var + p->eps);
        double sdy = 0.0, sdyx = 0.0;
        for (int64_t n = 0; n < p->n; n++) {
            const float *xp = x + (n * p->c + c) * p->inner;
            const float *dp = dy + (n * p->c + c) * p->inner;
            for (int64_t i = 0; i < p->inner; i++) {
                sdy += dp[i];
                sdyx += dp[i] * (xp[i] - mean);
            }
        }
        if (dg)
            nk_bput(&dg[c], (float)(sdyx * invstd), b->acc[1]);
        if (dbeta)
            nk_bput(&dbeta[c], (float)sdy, b->acc[2]);
        if (!dx)
            continue;
        double k = gamma[c] * invstd;
        /* train: dx = k * (dy - mean(dy) - xhat * mean(dy * xhat)) */
        double mdy = st->training ? sdy / cnt : 0.0;
        double mq = st->training ? sdyx * invstd * invstd / cnt : 0.0;
        for (int64_t n = 0; n < p->n; n++) {
            const float *xp = x + (n * p->c + c) * p->inner;
            const float *dp = dy + (n * p->c + c) * p->inner;
            float *op = dx + (n * p->c + c) * p->inner;
            for (int64_t i = 0; i < p->inner; i++) {
                double v = k * (dp[i] - mdy - (xp[i] - mean) * mq);
                nk_bput(&op[i], (float)v, b->acc[0]);
            }
        }
    }
}
