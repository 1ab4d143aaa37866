/*
 * conv-gemm.c — Conv as im2col + blocked GEMM. Work is split into tiles of
 * output pixels per image and group; each thread unrolls its tile's input
 * patches into its own scratch slot and multiplies it by the group's
 * weights. 1x1 stride-1 unpadded convs read the input directly.
 */
#include "engine/ops/conv-impl.h"
#include "engine/kernels/gemm.h"
#include "engine/kernels/kernels-impl.h"

#include <stdint.h>
#include <string.h>

#define SLOT_ALIGN 64
/* Target size of one im2col tile: K x chunk floats. */
#define TILE_FLOATS (1 << 18)

nk_status nk_conv_gemm_prepare(nk_ctx *ctx, nk_step *st)
{
    nk_status s = nk_conv_prepare(ctx, st);
    if (s != NK_OK)
        return s;
    nk_conv_params *p = st->params;
    const nk_conv_geom *g = &p->g;
    int64_t k = (g->c / g->group) * g->kh * g->kw;
    int64_t pix = g->oh * g->ow;
    p->slots = nk_kernel_slots(st);
    p->direct = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 &&
                g->pt == 0 && g->pl == 0 && g->pb == 0 && g->pr == 0;

    int64_t chunk = TILE_FLOATS / (k > 0 ? k : 1);
    /* Enough tiles per image that every thread gets some work. */
    int64_t per_thread = (pix + p->slots - 1) / p->slots;
    if (chunk > per_thread)
        chunk = per_thread;
    chunk = (chunk + 7) / 8 * 8;
    if (chunk < 8)
        chunk = 8;
    if (chunk > pix)
        chunk = pix;
    p->chunk = chunk;

    size_t col = 0, slot;
    if (!p->direct && !nk_mul_size((size_t)k, (size_t)chunk * sizeof(float),
                                   &col))
        goto too_big;
    col = (col + SLOT_ALIGN - 1) / SLOT_ALIGN * SLOT_ALIGN;
    if (!nk_add_size(col, nk_sgemm_work_bytes(1) + SLOT_ALIGN, &slot))
        goto too_big;
    p->slot_bytes = slot;
    if (!nk_mul_size(slot, (size_t)p->slots, &st->work_bytes))
        goto too_big;
    return NK_OK;
too_big:
    nk_kernel_release_params(st);
    return nk_fail(ctx, NK_UNSUPPORTED,
                   "node '%s': im2col scratch size overflows",
                   st->node->name);
}

/* Unroll output pixels [q0, q0+cl) of one image/group into col (K x cl). */
static void im2col(const nk_conv_geom *g, const float *x, int64_t cg,
                   int64_t q0, int64_t cl, float *col)
{
    for (int64_t ci = 0; ci < cg; ci++) {
        const float *xp = x + ci * g->h * g->w;
        for (int64_t ky = 0; ky < g->kh; ky++)
            for (int64_t kx = 0; kx < g->kw; kx++) {
                float *dst = col + ((ci * g->kh + ky) * g->kw + kx) * cl;
                int64_t oy = q0 / g->ow, ox = q0 % g->ow;
                for (int64_t q = 0; q < cl; q++) {
                    int64_t iy = oy * g->sh - g->pt + ky * g->dh;
                    int64_t ix = ox * g->sw - g->pl + kx * g->dw;
                    dst[q] = (iy >= 0 && iy < g->h && ix >= 0 && ix < g->w)
                                 ? xp[iy * g->w + ix]
                                 : 0.0f;
                    if (++ox == g->ow) {
                        ox = 0;
                        oy++;
                    }
                }
            }
    }
}

void nk_conv2d_im2col_gemm(const nk_step *st, int ith, int nth)
{
    const nk_conv_params *p = st->params;
    const nk_conv_geom *g = &p->g;
    int active = nk_slots_active(nth, p->slots);
    if (ith >= active)
        return;
    const float *x = st->in[0]->data, *w = st->in[1]->data;
    const float *bias =
        st->n_in > 2 && st->in[2] ? (const float *)st->in[2]->data : NULL;
    float *y = st->out[0]->data;
    const nk_node *node = st->node;
    int64_t cg = g->c / g->group, mg = g->m / g->group;
    int64_t k = cg * g->kh * g->kw, pix = g->oh * g->ow;
    int64_t chunks = (pix + p->chunk - 1) / p->chunk;

    uintptr_t base = (uintptr_t)st->work + p->slot_bytes * (size_t)ith;
    base = (base + SLOT_ALIGN - 1) & ~(uintptr_t)(SLOT_ALIGN - 1);
    float *col = (float *)base;
    size_t col_bytes =
        p->direct ? 0
                  : ((size_t)k * (size_t)p->chunk * sizeof(float) +
                     SLOT_ALIGN - 1) / SLOT_ALIGN * SLOT_ALIGN;
    void *gwork = (uint8_t *)base + col_bytes;

    int64_t b, e;
    nk_split(g->n * g->group * chunks, ith, active, &b, &e);
    for (int64_t t = b; t < e; t++) {
        int64_t ci = t % chunks, ng = t / chunks;
        int64_t nn = ng / g->group, grp = ng % g->group;
        int64_t q0 = ci * p->chunk;
        int64_t cl = pix - q0 < p->chunk ? pix - q0 : p->chunk;
        const float *xg = x + (nn * g->c + grp * cg) * g->h * g->w;
        const float *wg = w + grp * mg * k;
        float *yg = y + (nn * g->m + grp * mg) * pix + q0;
        if (p->direct) {
            nk_sgemm_blocked(0, 0, (int)mg, (int)cl, (int)k, 1.0f, wg,
                             (int)k, xg + q0, (int)pix, 0.0f, yg, (int)pix,
                             gwork, 0, 1);
        } else {
            im2col(g, xg, cg, q0, cl, col);
            nk_sgemm_blocked(0, 0, (int)mg, (int)cl, (int)k, 1.0f, wg,
                             (int)k, col, (int)cl, 0.0f, yg, (int)pix,
                             gwork, 0, 1);
        }
        for (int64_t m = 0; m < mg; m++) {
            float *yr = yg + m * pix;
            if (bias) {
                float bv = bias[grp * mg + m];
                for (int64_t q = 0; q < cl; q++)
                    yr[q] += bv;
            }
            nk_act_apply(node->act, node->act_a0, node->act_a1, yr,
                         (size_t)cl);
        }
    }
}
