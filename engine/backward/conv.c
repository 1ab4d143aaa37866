/*
 * conv.c (backward) — Conv gradients. General and grouped convolutions go
 * through im2col and the blocked GEMM, one image at a time in four
 * phases: im2col(x), dW += dY col^T and dB, dcol = W^T dY, col2im into
 * dX (1x1/stride-1/unpadded convs skip the unrolling). Depthwise convs
 * (group == C == M) use direct loops split over channels and planes.
 */
#include "engine/backward/backward.h"
#include "engine/kernels/gemm.h"
#include "engine/ops/conv-impl.h"

#include <string.h>

#define SLOT_ALIGN 64

typedef struct conv_bwd {
    nk_conv_geom g;
    int depthwise;
    int direct;     /* 1x1, stride 1, no pads: col is x itself */
    int64_t k;      /* (C/group) * kh * kw */
    int64_t pix;    /* oh * ow */
    float *col;     /* C*kh*kw x pix, in the scratch */
    void *gwork;    /* GEMM packing slices, in the scratch */
} conv_bwd;

nk_status nk_bwd_conv_prepare(nk_ctx *ctx, nk_bstep *b)
{
    const nk_step *st = b->fwd;
    conv_bwd *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                       st->node->name);
    nk_status s = nk_conv_geom_from_node(ctx, st->node, &st->in[0]->shape,
                                         &st->in[1]->shape, &p->g);
    if (s != NK_OK) {
        nk_free(p);
        return s;
    }
    const nk_conv_geom *g = &p->g;
    p->depthwise = g->group > 1 && g->group == g->c && g->group == g->m;
    p->direct = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 &&
                g->pt == 0 && g->pl == 0 && g->pb == 0 && g->pr == 0;
    p->k = (g->c / g->group) * g->kh * g->kw;
    p->pix = g->oh * g->ow;
    b->params = p;
    if (p->depthwise) {
        b->phases = 2;
        b->work_bytes = 0;
        return NK_OK;
    }
    b->phases = 4 * (int)g->n;
    size_t col = 0, total = 0;
    if (!p->direct &&
        !nk_mul_size((size_t)(g->c * g->kh * g->kw),
                     (size_t)p->pix * sizeof(float), &col))
        goto too_big;
    col = (col + SLOT_ALIGN - 1) / SLOT_ALIGN * SLOT_ALIGN;
    if (!nk_add_size(col, nk_sgemm_work_bytes(b->slots) + SLOT_ALIGN,
                     &total))
        goto too_big;
    b->work_bytes = total;
    return NK_OK;
too_big:
    nk_free(p);
    b->params = NULL;
    return nk_fail(ctx, NK_UNSUPPORTED,
                   "node '%s': backward im2col scratch size overflows",
                   st->node->name);
}

/* Unroll channels [c0, c1) of one image into col rows. */
static void im2col_rows(const nk_conv_geom *g, const float *x, int64_t c0,
                        int64_t c1, float *col, int64_t pix)
{
    for (int64_t c = c0; c < c1; c++) {
        const float *xp = x + c * g->h * g->w;
        for (int64_t ky = 0; ky < g->kh; ky++)
            for (int64_t kx = 0; kx < g->kw; kx++) {
                float *dst = col + ((c * g->kh + ky) * g->kw + kx) * pix;
                for (int64_t oy = 0; oy < g->oh; oy++) {
                    int64_t iy = oy * g->sh - g->pt + ky * g->dh;
                    float *dr = dst + oy * g->ow;
                    if (iy < 0 || iy >= g->h) {
                        memset(dr, 0, (size_t)g->ow * sizeof *dr);
                        continue;
                    }
                    for (int64_t ox = 0; ox < g->ow; ox++) {
                        int64_t ix = ox * g->sw - g->pl + kx * g->dw;
                        dr[ox] = ix >= 0 && ix < g->w ? xp[iy * g->w + ix]
                                                      : 0.0f;
                    }
                }
            }
    }
}

/* Scatter-add col rows of channels [c0, c1) back into the image dx. */
static void col2im_rows(const nk_conv_geom *g, const float *col, int64_t c0,
                        int64_t c1, float *dx, bool acc, int64_t pix)
{
    for (int64_t c = c0; c < c1; c++) {
        float *xp = dx + c * g->h * g->w;
        if (!acc)
            memset(xp, 0, (size_t)(g->h * g->w) * sizeof *xp);
        for (int64_t ky = 0; ky < g->kh; ky++)
            for (int64_t kx = 0; kx < g->kw; kx++) {
                const float *src = col + ((c * g->kh + ky) * g->kw + kx) * pix;
                for (int64_t oy = 0; oy < g->oh; oy++) {
                    int64_t iy = oy * g->sh - g->pt + ky * g->dh;
                    if (iy < 0 || iy >= g->h)
                        continue;
                    const float *sr = src + oy * g->ow;
                    for (int64_t ox = 0; ox < g->ow; ox++) {
                        int64_t ix = ox * g->sw - g->pl + kx * g->dw;
                        if (ix >= 0 && ix < g->w)
                            xp[iy * g->w + ix] += sr[ox];
                    }
                }
            }
    }
}

/* Columns ox in [lo, hi) whose tap ox*s + off lies inside [0, lim). */
static void tap_range(int64_t off, int64_t s, int64_t lim, int64_t o,
                      int64_t *lo, int64_t *hi)
{
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t z = lim - off <= 0 ? 0 : (lim - off + s - 1) / s;
    *lo = a;
    *hi = z < o ? z : o;
}

static void depthwise_bwd(const nk_bstep *b, const conv_bwd *p, int phase,
                          int ith, int nth)
{
    const nk_conv_geom *g = &p->g;
    const nk_step *st = b->fwd;
    const float *x = st->in[0]->data, *w = st->in[1]->data, *dy = b->dy;
    float *dx = b->dx[0], *dw = b->dx[1];
    float *db = st->n_in > 2 ? b->dx[2] : NULL;
    int64_t plane = g->h * g->w, kk = g->kh * g->kw, lo, hi, t0, t1;
    if (phase == 0) {
        /* dW, dB: one thread per channel range, summing over images */
        nk_split(g->c, ith, nth, &t0, &t1);
        for (int64_t c = t0; c < t1; c++) {
            if (db) {
                double s = 0.0;
                for (int64_t n = 0; n < g->n; n++) {
                    const float *dyp = dy + (n * g->c + c) * p->pix;
                    for (int64_t q = 0; q < p->pix; q++)
                        s += dyp[q];
                }
                nk_bput(&db[c], (float)s, b->acc[2]);
            }
            if (!dw)
                continue;
            for (int64_t ky = 0; ky < g->kh; ky++)
                for (int64_t kx = 0; kx < g->kw; kx++) {
                    int64_t off = kx * g->dw - g->pl;
                    tap_range(off, g->sw, g->w, g->ow, &lo, &hi);
                    double s = 0.0;
                    for (int64_t n = 0; n < g->n; n++) {
                        const float *xp = x + (n * g->c + c) * plane;
                        const float *dyp = dy + (n * g->c + c) * p->pix;
                        for (int64_t oy = 0; oy < g->oh; oy++) {
                            int64_t iy = oy * g->sh - g->pt + ky * g->dh;
                            if (iy < 0 || iy >= g->h)
                                continue;
                            const float *xr = xp + iy * g->w;
                            const float *dr = dyp + oy * g->ow;
                            float part = 0.0f;
                            for (int64_t ox = lo; ox < hi; ox++)
                                part += dr[ox] * xr[ox * g->sw + off];
                            s += part;
                        }
                    }
                    nk_bput(&dw[c * kk + ky * g->kw + kx], (float)s,
                            b->acc[1]);
                }
        }
        return;
    }
    if (!dx)
        return;
    nk_split(g->n * g->c, ith, nth, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        int64_t c = t % g->c;
        float *xp = dx + t * plane;
        const float *dyp = dy + t * p->pix, *wp = w + c * kk;
        if (!b->acc[0])
            memset(xp, 0, (size_t)plane * sizeof *xp);
        for (int64_t oy = 0; oy < g->oh; oy++) {
            const float *dr = dyp + oy * g->ow;
            for (int64_t ky = 0; ky < g->kh; ky++) {
                int64_t iy = oy * g->sh - g->pt + ky * g->dh;
                if (iy < 0 || iy >= g->h)
                    continue;
                float *xr = xp + iy * g->w;
                for (int64_t kx = 0; kx < g->kw; kx++) {
                    float wv = wp[ky * g->kw + kx];
                    int64_t off = kx * g->dw - g->pl;
                    tap_range(off, g->sw, g->w, g->ow, &lo, &hi);
                    for (int64_t ox = lo; ox < hi; ox++)
                        xr[ox * g->sw + off] += wv * dr[ox];
                }
            }
        }
    }
}

void nk_bwd_conv(const nk_bstep *b, int phase, int ith, int nth)
{
    const conv_bwd *p = b->params;
    if (p->depthwise) {
        depthwise_bwd(b, p, phase, ith, nth);
        return;
    }
    int active = nth < b->slots ? nth : b->slots;
    if (ith >= active)
        return;
    const nk_conv_geom *g = &p->g;
    const nk_step *st = b->fwd;
    const float *x = st->in[0]->data, *w = st->in[1]->data;
    float *dx = b->dx[0], *dw = b->dx[1];
    float *db = st->n_in > 2 ? b->dx[2] : NULL;
    int64_t n = phase / 4, cg = g->c / g->group, mg = g->m / g->group;
    int64_t pix = p->pix, k = p->k, plane = g->h * g->w, t0, t1;
    const float *xn = x + n * g->c * plane;
    const float *dyn = b->dy + n * g->m * pix;
    uintptr_t base = (uintptr_t)b->work;
    base = (base + SLOT_ALIGN - 1) & ~(uintptr_t)(SLOT_ALIGN - 1);
    float *col = (float *)base;
    size_t col_bytes = p->direct ? 0
                                 : ((size_t)(g->c * g->kh * g->kw) *
                                        (size_t)pix * sizeof(float) +
                                    SLOT_ALIGN - 1) / SLOT_ALIGN * SLOT_ALIGN;
    void *gwork = (uint8_t *)base + col_bytes;
    switch (phase % 4) {
    case 0: /* im2col of image n, for dW */
        if (!dw || p->direct)
            return;
        nk_split(g->c, ith, active, &t0, &t1);
        im2col_rows(g, xn, t0, t1, col, pix);
        return;
    case 1: /* dW += dY_n col^T per group; dB += sum dY_n */
        if (dw) {
            float beta = n == 0 && !b->acc[1] ? 0.0f : 1.0f;
            for (int64_t grp = 0; grp < g->group; grp++) {
                const float *cl = p->direct ? xn + grp * cg * pix
                                            : col + grp * k * pix;
                nk_sgemm_blocked(0, 1, (int)mg, (int)k, (int)pix, 1.0f,
                                 dyn + grp * mg * pix, (int)pix, cl,
                                 (int)pix, beta, dw + grp * mg * k, (int)k,
                                 gwork, ith, active);
            }
        }
        if (db) {
            nk_split(g->m, ith, active, &t0, &t1);
            for (int64_t m = t0; m < t1; m++) {
                double s = 0.0;
                for (int64_t q = 0; q < pix; q++)
                    s += dyn[m * pix + q];
                nk_bput(&db[m], (float)s, n > 0 || b->acc[2]);
            }
        }
        return;
    case 2: /* dcol = W_g^T dY_n,g (direct: straight into dX) */
        if (!dx)
            return;
        for (int64_t grp = 0; grp < g->group; grp++) {
            float *dc = p->direct ? dx + (n * g->c + grp * cg) * plane
                                  : col + grp * k * pix;
            float beta = p->direct && b->acc[0] ? 1.0f : 0.0f;
            nk_sgemm_blocked(1, 0, (int)k, (int)pix, (int)mg, 1.0f,
                             w + grp * mg * k, (int)k, dyn + grp * mg * pix,
                             (int)pix, beta, dc, (int)pix, gwork, ith,
                             active);
        }
        return;
    default: /* col2im into dX_n */
        if (!dx || p->direct)
            return;
        nk_split(g->c, ith, active, &t0, &t1);
        col2im_rows(g, col, t0, t1, dx + n * g->c * plane, b->acc[0], pix);
        return;
    }
}
