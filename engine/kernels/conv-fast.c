/*
 * conv-fast.c — Conv as a packed GEMM with register-blocked micro-kernels
 * (gemm-fast.h). Weights are packed into MR-row panels once at plan time;
 * at run time each tile of output pixels is unrolled straight into NR-wide
 * packed panels (a 1x1 stride-1 conv copies rows: no im2col), multiplied
 * block by block, and finished in the micro-kernel's epilogue: bias (the
 * folded BatchNorm), the fused residual Add and ReLU/ReLU6 in registers,
 * other activations on the tile while it is in cache.
 */
#include "engine/kernels/conv-fast.h"
#include "engine/kernels/kernels-impl.h"
#include "engine/ops/conv-impl.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define KC 256          /* depth block: a B micro-panel of KC x NR in L1 */
#define MC_ROWS 120     /* rows of A per block (a multiple of 6 and 12) */
#define TILE_FLOATS (1 << 17) /* packed B panel of one tile: 512 KiB */
#define ALIGN 64

typedef struct conv_fast {
    nk_conv_geom g;
    const nk_ukr *ukr;
    float *wpack;        /* per group: ceil(mg/MR) strips of K x MR */
    size_t wgroup;       /* floats per group in wpack */
    int64_t k;           /* depth: cg*kh*kw */
    int64_t chunk;       /* output pixels per tile (multiple of NR) */
    int64_t chunks;      /* tiles per image and group along pixels */
    int64_t mtiles;      /* tiles along output channels */
    int64_t mtile_rows;  /* rows per m-tile (multiple of MR) */
    size_t slot_bytes;   /* scratch per thread */
    int slots;
    int pointwise;       /* 1x1, stride 1, no pad: rows of x are rows of B */
} conv_fast;

const nk_ukr *nk_ukr_for_isa(nk_isa isa)
{
#if defined(__x86_64__) || defined(_M_X64)
    if (isa == NK_ISA_AVX512)
        return &nk_ukr_avx512_12x32;
    if (isa == NK_ISA_AVX2)
        return &nk_ukr_avx2_6x16;
#endif
    (void)isa;
    return &nk_ukr_generic_4x8;
}

/* Weights (and bias) packed at plan time must be constants; a graph input
 * as weight (ONNX allows it) goes to the im2col kernel. */
bool nk_conv_weights_const(const nk_step *st)
{
    for (int i = 1; i < st->n_in && i < 3; i++) {
        const nk_tensor *t = st->in[i];
        if (t && (!t->is_init || !t->data))
            return false;
    }
    return st->n_in >= 2 && st->in[1];
}

bool nk_conv_fast_supports(const nk_step *st)
{
    if (st->n_in < 2 || !st->in[0] || !st->in[1] || st->training ||
        !nk_conv_weights_const(st))
        return false;
    if (st->in[0]->shape.rank != 4 || st->in[1]->shape.rank != 4)
        return false;
    /* Depthwise has its own direct kernel. */
    return !nk_conv_depthwise_supports(st);
}

void nk_conv_fast_release(nk_step *st)
{
    conv_fast *p = st->params;
    if (p)
        nk_free_aligned(p->wpack);
    nk_free(p);
    st->params = NULL;
}

/* Weights [M, K] of each group into strips of MR rows: strip s holds, for
 * every depth index, the MR values of rows s*MR.. (zero past the group). */
static void pack_weights(const conv_fast *p, const float *w, int64_t mg)
{
    int mr = p->ukr->mr;
    for (int64_t grp = 0; grp < p->g.group; grp++) {
        float *dst = p->wpack + (size_t)grp * p->wgroup;
        const float *wg = w + grp * mg * p->k;
        for (int64_t s = 0; s < mg; s += mr)
            for (int64_t q = 0; q < p->k; q++)
                for (int r = 0; r < mr; r++)
                    *dst++ = s + r < mg ? wg[(s + r) * p->k + q] : 0.0f;
    }
}

nk_status nk_conv_fast_prepare(nk_ctx *ctx, nk_step *st)
{
    conv_fast *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                       st->node->name);
    st->params = p;
    nk_status s = nk_conv_geom_from_node(ctx, st->node, &st->in[0]->shape,
                                         &st->in[1]->shape, &p->g);
    if (s != NK_OK) {
        nk_conv_fast_release(st);
        return s;
    }
    const nk_conv_geom *g = &p->g;
    if (!nk_conv_weights_const(st)) {
        nk_conv_fast_release(st);
        return nk_fail(ctx, NK_UNSUPPORTED,
                       "node '%s': weight '%s' is not a constant",
                       st->node->name, st->in[1]->name);
    }
    p->ukr = nk_ukr_for_isa(st->kernel ? st->kernel->isa : NK_ISA_GENERIC);
    int mr = p->ukr->mr, nr = p->ukr->nr;
    int64_t cg = g->c / g->group, mg = g->m / g->group;
    int64_t pix = g->oh * g->ow;
    p->k = cg * g->kh * g->kw;
    p->pointwise = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 &&
                   g->pt == 0 && g->pl == 0 && g->pb == 0 && g->pr == 0;
    p->slots = nk_kernel_slots(st);
    int64_t strips = (mg + mr - 1) / mr;
    size_t wbytes;
    p->wgroup = (size_t)strips * (size_t)mr * (size_t)p->k;
    if (!nk_mul_size(p->wgroup, (size_t)g->group * sizeof(float), &wbytes))
        goto too_big;
    p->wpack = nk_malloc_aligned(wbytes ? wbytes : 64, ALIGN);
    if (!p->wpack) {
        nk_conv_fast_release(st);
        return nk_fail(ctx, NK_NOMEM,
                       "node '%s': out of memory packing %zu bytes of "
                       "weights", st->node->name, wbytes);
    }
    pack_weights(p, st->in[1]->data, mg);

    /* Tiles: pixel chunks of an image and group, each a whole number of
     * NR-wide strips; enough of them that every thread has work, else the
     * output channels are split too. */
    int64_t chunk = TILE_FLOATS / (p->k > 0 ? p->k : 1);
    int64_t per_thread = (pix + p->slots - 1) / p->slots;
    if (chunk > per_thread)
        chunk = per_thread;
    chunk = (chunk + nr - 1) / nr * nr;
    if (chunk < nr)
        chunk = nr;
    int64_t pix_r = (pix + nr - 1) / nr * nr;
    if (chunk > pix_r)
        chunk = pix_r;
    p->chunk = chunk;
    p->chunks = (pix + chunk - 1) / chunk;
    p->mtiles = 1;
    p->mtile_rows = strips * mr;
    int64_t tiles = g->n * g->group * p->chunks;
    if (tiles < 2 * (int64_t)p->slots && strips > 1) {
        int64_t want = (2 * p->slots + tiles - 1) / tiles;
        int64_t per = (strips + want - 1) / want;
        p->mtile_rows = per * mr;
        p->mtiles = (strips + per - 1) / per;
    }
    size_t bpanel, edge = (size_t)(mr * nr * 2 + mr) * sizeof(float);
    if (!nk_mul_size((size_t)p->k, (size_t)chunk * sizeof(float), &bpanel))
        goto too_big;
    bpanel = (bpanel + ALIGN - 1) / ALIGN * ALIGN;
    p->slot_bytes = bpanel + (edge + ALIGN - 1) / ALIGN * ALIGN + ALIGN;
    if (!nk_mul_size(p->slot_bytes, (size_t)p->slots, &st->work_bytes))
        goto too_big;
    return NK_OK;
too_big:
    nk_conv_fast_release(st);
    return nk_fail(ctx, NK_UNSUPPORTED,
                   "node '%s': packed weights or scratch size overflows",
                   st->node->name);
}

/* Pack output pixels [q0, q0+cl) of one image/group, every depth index,
 * into NR-column strips (strip j: K groups of NR values), zero-padded to
 * whole strips. x points at the group's first input channel. */
static void pack_input(const conv_fast *p, const float *x, int64_t q0,
                       int64_t cl, float *dst)
{
    const nk_conv_geom *g = &p->g;
    int nr = p->ukr->nr;
    int64_t k = p->k, pix = g->oh * g->ow;
    int64_t nstrips = (cl + nr - 1) / nr;
    for (int64_t s = 0; s < nstrips; s++) {
        int64_t qs = q0 + s * nr;
        int64_t cols = cl - s * nr < nr ? cl - s * nr : nr;
        float *ds = dst + (size_t)s * (size_t)k * nr;
        if (p->pointwise) {
            /* Fixed-size copies inline to a few vector moves (a call to
             * memcpy per 64 bytes costs more than the copy). */
            if (cols == 16) {
                for (int64_t q = 0; q < k; q++)
                    memcpy(ds + q * 16, x + q * pix + qs, 16 * sizeof(float));
            } else if (cols == 32) {
                for (int64_t q = 0; q < k; q++)
                    memcpy(ds + q * 32, x + q * pix + qs, 32 * sizeof(float));
            } else {
                for (int64_t q = 0; q < k; q++) {
                    const float *src = x + q * pix + qs;
                    float *d = ds + q * nr;
                    for (int64_t j = 0; j < cols; j++)
                        d[j] = src[j];
                    for (int64_t j = cols; j < nr; j++)
                        d[j] = 0.0f;
                }
            }
            continue;
        }
        int64_t oy0 = qs / g->ow, ox0 = qs % g->ow;
        int64_t cg = g->c / g->group;
        for (int64_t ci = 0; ci < cg; ci++) {
            const float *xp = x + ci * g->h * g->w;
            for (int64_t ky = 0; ky < g->kh; ky++)
                for (int64_t kx = 0; kx < g->kw; kx++) {
                    float *d = ds + ((ci * g->kh + ky) * g->kw + kx) * nr;
                    int64_t oy = oy0, ox = ox0;
                    int64_t j = 0;
                    while (j < cols) {
                        /* A run of pixels along one output row. */
                        int64_t run = g->ow - ox;
                        if (run > cols - j)
                            run = cols - j;
                        int64_t iy = oy * g->sh - g->pt + ky * g->dh;
                        if (iy < 0 || iy >= g->h) {
                            for (int64_t t = 0; t < run; t++)
                                d[j + t] = 0.0f;
                        } else {
                            const float *xr = xp + iy * g->w;
                            int64_t ix = ox * g->sw - g->pl + kx * g->dw;
                            if (g->sw == 1 && ix >= 0 && ix + run <= g->w) {
                                memcpy(d + j, xr + ix,
                                       (size_t)run * sizeof(float));
                            } else {
                                for (int64_t t = 0; t < run; t++) {
                                    int64_t xx = ix + t * g->sw;
                                    d[j + t] = xx >= 0 && xx < g->w ? xr[xx]
                                                                   : 0.0f;
                                }
                            }
                        }
                        j += run;
                        ox += run;
                        if (ox == g->ow) {
                            ox = 0;
                            oy++;
                        }
                    }
                    for (; j < nr; j++)
                        d[j] = 0.0f;
                }
        }
    }
}

void nk_act_bounds(nk_act a, float a0, float a1, float *lo, float *hi)
{
    *lo = -INFINITY;
    *hi = INFINITY;
    if (a == NK_ACT_RELU) {
        *lo = 0.0f;
    } else if (a == NK_ACT_CLIP) {
        *lo = a0;
        *hi = a1;
    }
}

void nk_conv_fast_run(const nk_step *st, int ith, int nth)
{
    const conv_fast *p = st->params;
    const nk_conv_geom *g = &p->g;
    int active = nk_slots_active(nth, p->slots);
    if (ith >= active)
        return;
    const nk_ukr *u = p->ukr;
    int mr = u->mr, nr = u->nr;
    const float *x = st->in[0]->data;
    const float *bias =
        st->n_in > 2 && st->in[2] ? (const float *)st->in[2]->data : NULL;
    const float *res = st->residual ? st->residual->data : NULL;
    float *y = st->out[0]->data;
    int64_t cg = g->c / g->group, mg = g->m / g->group;
    int64_t k = p->k, pix = g->oh * g->ow;
    float lo, hi;
    nk_act_bounds(st->act, st->act_a0, st->act_a1, &lo, &hi);
    bool in_reg = st->act == NK_ACT_NONE || st->act == NK_ACT_RELU ||
                  st->act == NK_ACT_CLIP;

    uintptr_t base = (uintptr_t)st->work + p->slot_bytes * (size_t)ith;
    base = (base + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
    float *bp = (float *)base;
    size_t bpanel = ((size_t)k * (size_t)p->chunk * sizeof(float) + ALIGN -
                     1) / ALIGN * ALIGN;
    float *edge_c = (float *)((uint8_t *)base + bpanel);
    float *edge_r = edge_c + mr * nr;
    float *edge_b = edge_r + mr * nr;

    int64_t tb, te;
    nk_split(g->n * g->group * p->chunks * p->mtiles, ith, active, &tb, &te);
    int64_t packed_for = -1;
    for (int64_t t = tb; t < te; t++) {
        int64_t mt = t % p->mtiles, rest = t / p->mtiles;
        int64_t ci = rest % p->chunks, ng = rest / p->chunks;
        int64_t nn = ng / g->group, grp = ng % g->group;
        int64_t q0 = ci * p->chunk;
        int64_t cl = pix - q0 < p->chunk ? pix - q0 : p->chunk;
        const float *xg = x + (nn * g->c + grp * cg) * g->h * g->w;
        if (packed_for != rest) {
            pack_input(p, xg, q0, cl, bp);
            packed_for = rest;
        }
        const float *wg = p->wpack + (size_t)grp * p->wgroup;
        size_t yoff = (size_t)((nn * g->m + grp * mg) * pix + q0);
        float *yg = y + yoff;
        const float *rg = res ? res + yoff : NULL;
        const float *bg = bias ? bias + grp * mg : NULL;
        int64_t m0 = mt * p->mtile_rows;
        int64_t m1 = m0 + p->mtile_rows < mg ? m0 + p->mtile_rows : mg;
        int64_t nstrips = (cl + nr - 1) / nr;
        for (int64_t p0 = 0; p0 < k; p0 += KC) {
            int kc = (int)(k - p0 < KC ? k - p0 : KC);
            int flags = (p0 == 0 ? NK_UKR_FIRST : 0) |
                        (p0 + kc >= k ? NK_UKR_LAST : 0);
            for (int64_t ib = m0; ib < m1; ib += MC_ROWS) {
                int64_t ie = ib + MC_ROWS < m1 ? ib + MC_ROWS : m1;
                for (int64_t js = 0; js < nstrips; js++) {
                    const float *bs = bp + (size_t)js * (size_t)k * nr +
                                      (size_t)p0 * nr;
                    int ncol = (int)(cl - js * nr < nr ? cl - js * nr : nr);
                    for (int64_t is = ib; is < ie; is += mr) {
                        int nrow = (int)(mg - is < mr ? mg - is : mr);
                        const float *as = wg + (size_t)is * (size_t)k +
                                          (size_t)p0 * mr;
                        float *cp = yg + is * pix + js * nr;
                        nk_epilogue e = {bg ? bg + is : NULL,
                                         rg ? rg + is * pix + js * nr : NULL,
                                         (size_t)pix, lo, hi};
                        if (nrow == mr && ncol == nr &&
                            !(bg && is + mr > mg)) {
                            u->fn(kc, as, bs, cp, (size_t)pix, flags, &e);
                            continue;
                        }
                        /* Edge tile through a full-size scratch tile. */
                        for (int r = 0; r < mr; r++)
                            for (int c = 0; c < nr; c++) {
                                bool in = r < nrow && c < ncol;
                                edge_c[r * nr + c] =
                                    in && !(flags & NK_UKR_FIRST)
                                        ? cp[r * pix + c] : 0.0f;
                                edge_r[r * nr + c] =
                                    in && e.res ? e.res[r * pix + c] : 0.0f;
                            }
                        for (int r = 0; r < mr; r++)
                            edge_b[r] = r < nrow && e.bias ? e.bias[r] : 0.0f;
                        nk_epilogue ee = {e.bias ? edge_b : NULL,
                                          e.res ? edge_r : NULL, (size_t)nr,
                                          lo, hi};
                        u->fn(kc, as, bs, edge_c, (size_t)nr, flags, &ee);
                        for (int r = 0; r < nrow; r++)
                            memcpy(cp + r * pix, edge_c + r * nr,
                                   (size_t)ncol * sizeof(float));
                    }
                }
            }
        }
        if (!in_reg)
            for (int64_t m = m0; m < m1; m++)
                nk_act_apply(st->act, st->act_a0, st->act_a1, yg + m * pix,
                             (size_t)cl);
    }
}
