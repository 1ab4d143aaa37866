/*
 * pool.c (backward) — MaxPool (gradient to the first maximum of each
 * window, as the forward and PyTorch choose it), AveragePool (spread
 * over the window with the forward's divisor) and GlobalAveragePool.
 * Split over N*C planes, so scatter-adds never race.
 */
#include "engine/backward/backward.h"

#include <float.h>

typedef struct pool_bwd {
    nk_conv_geom g;
} pool_bwd;

nk_status nk_bwd_pool_prepare(nk_ctx *ctx, nk_bstep *b)
{
    pool_bwd *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                       b->fwd->node->name);
    nk_status s = nk_conv_geom_from_node(ctx, b->fwd->node,
                                         &b->fwd->in[0]->shape, NULL, &p->g);
    if (s != NK_OK) {
        nk_free(p);
        return s;
    }
    b->params = p;
    return NK_OK;
}

void nk_bwd_maxpool(const nk_bstep *b, int phase, int ith, int nth)
{
    const nk_conv_geom *g = &((const pool_bwd *)b->params)->g;
    const float *x = b->fwd->in[0]->data, *dy = b->dy;
    float *dx = b->dx[0];
    int64_t plane = g->h * g->w, oplane = g->oh * g->ow, t0, t1;
    nk_split(g->n * g->c, ith, nth, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        const float *xp = x + t * plane;
        float *dp = dx + t * plane;
        nk_bwd_clear(dp, b->acc[0], 0, plane);
        for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++) {
                float best = -FLT_MAX;
                int64_t at = -1;
                for (int64_t ky = 0; ky < g->kh; ky++) {
                    int64_t iy = oy * g->sh - g->pt + ky * g->dh;
                    if (iy < 0 || iy >= g->h)
                        continue;
                    for (int64_t kx = 0; kx < g->kw; kx++) {
                        int64_t ix = ox * g->sw - g->pl + kx * g->dw;
                        if (ix < 0 || ix >= g->w)
                            continue;
                        float v = xp[iy * g->w + ix];
                        if (at < 0 || v > best || v != v) {
                            best = v;
                            at = iy * g->w + ix;
                            if (v != v)
                                goto done;
                        }
                    }
                }
            done:
                if (at >= 0)
                    dp[at] += dy[t * oplane + oy * g->ow + ox];
            }
    }
}

void nk_bwd_avgpool(const nk_bstep *b, int phase, int ith, int nth)
{
    const nk_conv_geom *g = &((const pool_bwd *)b->params)->g;
    const float *dy = b->dy;
    float *dx = b->dx[0];
    int64_t plane = g->h * g->w, oplane = g->oh * g->ow, t0, t1;
    nk_split(g->n * g->c, ith, nth, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        float *dp = dx + t * plane;
        nk_bwd_clear(dp, b->acc[0], 0, plane);
        for (int64_t oy = 0; oy < g->oh; oy++) {
            int64_t y0 = oy * g->sh - g->pt, y1 = y0 + g->kh;
            int64_t py1 = y1 < g->h + g->pb ? y1 : g->h + g->pb;
            int64_t vy0 = y0 > 0 ? y0 : 0, vy1 = y1 < g->h ? y1 : g->h;
            for (int64_t ox = 0; ox < g->ow; ox++) {
                int64_t x0 = ox * g->sw - g->pl, x1 = x0 + g->kw;
                int64_t px1 = x1 < g->w + g->pr ? x1 : g->w + g->pr;
                int64_t vx0 = x0 > 0 ? x0 : 0, vx1 = x1 < g->w ? x1 : g->w;
                int64_t cnt = g->count_include_pad
                                  ? (py1 - y0) * (px1 - x0)
                                  : (vy1 - vy0) * (vx1 - vx0);
                if (cnt <= 0)
                    continue;
                float v = dy[t * oplane + oy * g->ow + ox] / (float)cnt;
                for (int64_t iy = vy0; iy < vy1; iy++)
                    for (int64_t ix = vx0; ix < vx1; ix++)
                        dp[iy * g->w + ix] += v;
            }
        }
    }
}

void nk_bwd_globalavgpool(const nk_bstep *b, int phase, int ith, int nth)
{
    const nk_shape *s = &b->fwd->in[0]->shape;
    float *dx = b->dx[0];
    int64_t inner = 1, t0, t1;
    for (int i = 2; i < s->rank; i++)
        inner *= s->d[i];
    nk_split(s->d[0] * s->d[1], ith, nth, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        float v = b->dy[t] / (float)inner;
        for (int64_t i = 0; i < inner; i++)
            nk_bput(&dx[t * inner + i], v, b->acc[0]);
    }
}
