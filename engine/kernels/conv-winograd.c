/*
 * conv-winograd.c — 3x3 stride-1 convolution by Winograd F(4x4, 3x3):
 * each 6x6 input tile becomes 36 transformed values, the 36 positions are
 * 36 independent GEMMs (M x C by C x tiles) on the packed micro-kernels,
 * and each 6x6 result becomes a 4x4 output tile: 36 multiplies per 16
 * outputs per channel pair instead of 144. The weight transform G g G^T
 * is done once at plan time (in double). The epilogue (bias, residual,
 * activation) is applied in the output transform. The input may be NCHW
 * or NCHW8c (engine/kernels/blocked.h; read from the tensor at run time);
 * output and residual are NCHW (NCHW8c outputs are
 * x86/winograd-blocked-avx2.c's). With few tiles (a 7x7
 * map at batch 1) the GEMMs are transposed: tiles are the micro-kernel's
 * rows, output channels its columns (fewtiles_run). Error: see
 * docs/performance.md (measured, and bounded by tests/test-fastkernels.c).
 */
#include "engine/kernels/blocked.h"
#include "engine/kernels/conv-fast.h"
#include "engine/kernels/kernels-impl.h"
#include "engine/kernels/winograd.h"
#include "engine/ops/conv-impl.h"

#include <math.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN 64
/* V + M scratch of one tile block: 384 KiB, inside a 512 KiB L2 with
 * room for the transformed weights streaming past (1 MiB blocks were 5%
 * slower at 2 threads on 56x56 maps). */
#define BUDGET_FLOATS (3 << 15)

typedef struct wino {
    nk_conv_geom g;
    const nk_ukr *ukr;
    float *u;            /* [36][mpad/MR strips][C][MR] */
    int64_t mpad;        /* M rounded up to MR */
    int64_t th, tw;      /* tiles per image, down and across */
    int64_t ntiles;      /* over the whole batch */
    int64_t tb;          /* most tiles in a block (multiple of NR) */
    int64_t nstrip;      /* NR-tile strips; block b has strips
                            [b * nstrip / blocks, (b+1) * nstrip / blocks) */
    int64_t blocks, mtiles, mtile_rows;
    size_t slot_bytes;
    int slots;
    /* Few tiles (a 7x7 map is 4): the transposed GEMM, tiles as the MR
     * rows and output channels as the NR columns (fewtiles_run). */
    bool few;
    int64_t npad;        /* M rounded up to NR */
    int64_t nts;         /* MR-tile strips */
    /* Thread t's tasks are [share[t][0], share[t][1]) when the step runs
     * on slots threads (nk_share_weighed, once at plan time). */
    int64_t (*share)[2];
} wino;

/* G (6x3) of F(4x4, 3x3) with the points 0, +-1, +-2, inf (Lavin). */
static const double WG[6][3] = {
    {1.0 / 4, 0, 0},          {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6}, {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1},
};

void nk_winograd_filter(const float k[9], float u[36])
{
    double t[6][3];
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 3; j++)
            t[i][j] = WG[i][0] * k[0 * 3 + j] + WG[i][1] * k[1 * 3 + j] +
                      WG[i][2] * k[2 * 3 + j];
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++)
            u[i * 6 + j] = (float)(t[i][0] * WG[j][0] + t[i][1] * WG[j][1] +
                                   t[i][2] * WG[j][2]);
}

bool nk_winograd_geom(const nk_step *st, nk_conv_geom *g)
{
    if (st->n_in < 2 || !st->in[0] || !st->in[1] || st->training ||
        !nk_conv_weights_const(st))
        return false;
    if (st->in[0]->shape.rank != 4 || st->in[1]->shape.rank != 4)
        return false;
    if (nk_conv_geom_from_node(NULL, st->node, &st->in[0]->shape,
                               &st->in[1]->shape, g) != NK_OK)
        return false;
    return g->kh == 3 && g->kw == 3 && g->sh == 1 && g->sw == 1 &&
           g->dh == 1 && g->dw == 1 && g->group == 1 && g->c >= 8 &&
           g->m >= 8;
}

/* Whether tiles padded to whole strips of w still leave a clear saving:
 * 36 products per (padded) tile vs 9 per pixel. */
static bool wino_pays(int64_t tiles, int64_t w, const nk_conv_geom *g)
{
    int64_t padded = (tiles + w - 1) / w * w;
    return 36.0 * (double)padded < 0.6 * 9.0 * (double)(g->n * g->oh * g->ow);
}

bool nk_conv_winograd_supports(const nk_step *st)
{
    /* NNKIT_WINOGRAD=0: plan 3x3 convs with the packed GEMM instead (for
     * A/B comparisons; read at plan time only). */
    const char *env = getenv("NNKIT_WINOGRAD");
    if (env && strcmp(env, "0") == 0)
        return false;
    nk_conv_geom g;
    if (!nk_winograd_geom(st, &g))
        return false;
    /* Selection runs before the row is known: assume 16-wide strips of
     * tiles, or 6-tile strips on the transposed path for few tiles. */
    int64_t tiles = g.n * ((g.oh + 3) / 4) * ((g.ow + 3) / 4);
    return wino_pays(tiles, 16, &g) || wino_pays(tiles, 6, &g);
}

void nk_conv_winograd_release(nk_step *st)
{
    wino *p = st->params;
    if (p) {
        nk_free_aligned(p->u);
        nk_free(p->share);
    }
    nk_free(p);
    st->params = NULL;
}

/* A task's weight for nk_share_weighed: (block, M tile) weighs output
 * rows x (GEMM columns + tiles transformed). */
static int64_t task_weight(const void *arg, int64_t task)
{
    const wino *p = arg;
    int64_t nr = p->ukr->nr;
    int64_t blk = task / p->mtiles, mt = task % p->mtiles;
    int64_t s0 = blk * p->nstrip / p->blocks;
    int64_t s1 = (blk + 1) * p->nstrip / p->blocks;
    int64_t t1 = s1 * nr < p->ntiles ? s1 * nr : p->ntiles;
    return ((s1 - s0) * nr + t1 - s0 * nr) *
           (mt == p->mtiles - 1 ? p->mpad - mt * p->mtile_rows
                                : p->mtile_rows);
}

nk_status nk_conv_winograd_prepare(nk_ctx *ctx, nk_step *st)
{
    wino *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                       st->node->name);
    st->params = p;
    if (!nk_winograd_geom(st, &p->g)) {
        nk_conv_winograd_release(st);
        return nk_fail(ctx, NK_UNSUPPORTED,
                       "node '%s': not a 3x3 stride-1 conv with constant "
                       "weights", st->node->name);
    }
    const nk_conv_geom *g = &p->g;
    p->ukr = nk_ukr_for_isa(st->kernel ? st->kernel->isa : NK_ISA_GENERIC);
    int mr = p->ukr->mr, nr = p->ukr->nr;
    int64_t c = g->c, m = g->m;
    p->mpad = (m + mr - 1) / mr * mr;
    p->slots = nk_kernel_slots(st);
    p->th = (g->oh + 3) / 4;
    p->tw = (g->ow + 3) / 4;
    p->ntiles = g->n * p->th * p->tw;
    /* Few tiles: U as [36][npad / NR][C][NR] (output channels are the
     * GEMM's columns), scratch for all tiles' V and M per thread; else
     * [36][mpad / MR][C][MR]. */
    p->few = !wino_pays(p->ntiles, nr, g) && wino_pays(p->ntiles, mr, g);
    p->npad = (m + nr - 1) / nr * nr;
    p->nts = (p->ntiles + mr - 1) / mr;
    int64_t rw = p->few ? nr : mr, rows = p->few ? p->npad : p->mpad;
    size_t ubytes;
    if (!nk_mul_size((size_t)36 * (size_t)rows * sizeof(float), (size_t)c,
                     &ubytes))
        goto too_big;
    p->u = nk_malloc_aligned(ubytes, ALIGN);
    if (!p->u) {
        nk_conv_winograd_release(st);
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory for %zu "
                       "bytes of transformed weights", st->node->name,
                       ubytes);
    }
    memset(p->u, 0, ubytes);
    const float *w = st->in[1]->data;
    for (int64_t mo = 0; mo < m; mo++)
        for (int64_t ci = 0; ci < c; ci++) {
            float uu[36];
            nk_winograd_filter(w + (mo * c + ci) * 9, uu);
            /* rows of mr output channels, or (few tiles) columns of nr */
            for (int xi = 0; xi < 36; xi++) {
                size_t off = (size_t)xi * (size_t)rows * (size_t)c +
                             (size_t)(mo / rw) * (size_t)rw * (size_t)c +
                             (size_t)ci * (size_t)rw + (size_t)(mo % rw);
                p->u[off] = uu[xi];
            }
        }
    if (p->few) {
        /* V [36][nts][C][MR] and M [36][nts * MR][npad] per thread */
        size_t vfl = (size_t)36 * (size_t)p->nts * (size_t)mr * (size_t)c;
        size_t mfl = (size_t)36 * (size_t)p->nts * (size_t)mr *
                     (size_t)p->npad;
        p->slot_bytes = (vfl + mfl) * sizeof(float) + 3 * ALIGN;
        if (!nk_mul_size(p->slot_bytes, (size_t)p->slots, &st->work_bytes))
            goto too_big;
        return NK_OK;
    }

    /* Blocks of whole NR-tile strips, as equal as possible and as many
     * as a multiple of the threads, so every thread gets the same number
     * of strips (give or take one); the budget bounds a block's scratch. */
    int64_t nstrip = (p->ntiles + nr - 1) / nr;
    int64_t per_blk = BUDGET_FLOATS / (36 * (c + p->mpad)) / nr;
    if (per_blk < 1)
        per_blk = 1;
    int64_t nblk = (nstrip + per_blk - 1) / per_blk;
    nblk = (nblk + p->slots - 1) / p->slots * p->slots;
    if (nblk > nstrip)
        nblk = nstrip;
    p->nstrip = nstrip;
    p->blocks = nblk;
    p->tb = (nstrip + nblk - 1) / nblk * nr;
    int64_t tb = p->tb;
    p->mtiles = 1;
    p->mtile_rows = p->mpad;
    int64_t strips = p->mpad / mr;
    /* Few blocks, or strips that do not share out evenly (13 strips on
     * two threads were 7 and 6): output channels in tiles too, about
     * eight tasks per thread, so that the weighed shares come out even
     * and a thread done early has tasks left to take (nk_items_next). */
    bool uneven = p->slots > 1 && nstrip % p->slots != 0;
    if ((p->blocks < 8 * (int64_t)p->slots || uneven) && strips > 1) {
        int64_t want = (8 * p->slots + p->blocks - 1) / p->blocks;
        if (uneven && want < p->slots)
            want = p->slots;
        int64_t per = (strips + want - 1) / want;
        p->mtile_rows = per * mr;
        p->mtiles = (strips + per - 1) / per;
    }
    size_t vfl = (size_t)36 * (size_t)c * (size_t)tb;
    size_t mfl = (size_t)36 * (size_t)p->mtile_rows * (size_t)tb;
    p->slot_bytes = (vfl + mfl) * sizeof(float) + 3 * ALIGN;
    if (!nk_mul_size(p->slot_bytes, (size_t)p->slots, &st->work_bytes))
        goto too_big;
    p->share = nk_malloc((size_t)p->slots * sizeof *p->share);
    if (!p->share) {
        nk_conv_winograd_release(st);
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                       st->node->name);
    }
    for (int t = 0; t < p->slots; t++)
        nk_share_weighed(p->blocks * p->mtiles, task_weight, p, t, p->slots,
                         &p->share[t][0], &p->share[t][1]);
    return NK_OK;
too_big:
    nk_conv_winograd_release(st);
    return nk_fail(ctx, NK_UNSUPPORTED, "node '%s': Winograd buffers "
                   "overflow", st->node->name);
}

/* One output value's activation: a clamp to [lo, hi] for None, Relu and
 * Clip (nk_act_bounds), else nk_act_apply. */
static inline float act1(const nk_step *st, float lo, float hi, float v)
{
    if (st->act == NK_ACT_NONE || st->act == NK_ACT_RELU ||
        st->act == NK_ACT_CLIP) {
        v = v < lo ? lo : v;
        return v > hi ? hi : v;
    }
    nk_act_apply(st->act, st->act_a0, st->act_a1, &v, 1);
    return v;
}

/* Where a tensor's elements sit (engine/kernels/blocked.h): element
 * (n, c, pixel) at n * nstride + (c / 8) * 8 * hw + (c % 8) * ls
 * + pixel * ps. NCHW: (c * hw, hw, 1); NCHW8c: (CB * 8 * hw, 1, 8). */
typedef struct addr {
    int64_t nstride, ls, ps;
} addr;

static addr addr_of(const nk_tensor *t)
{
    int64_t c = t->shape.d[1], hw = t->shape.d[2] * t->shape.d[3];
    addr a;
    nk_blk_strides(t, &a.ls, &a.ps);
    a.nstride = t->layout == NK_LAYOUT_NCHW8C ? nk_blk_cb(c) * NK_BLK * hw
                                              : c * hw;
    return a;
}

static inline int64_t chan_off(const addr *a, int64_t c, int64_t hw)
{
    return c / NK_BLK * NK_BLK * hw + c % NK_BLK * a->ls;
}

/* Transform tiles [t0, t0+nt) of every channel into v: for position xi,
 * NR-tile strip s, channel c: NR values (zero for tiles past the end).
 * ps is a literal at each call, so each layout gets its own copy. */
static inline __attribute__((always_inline)) void
input_transform_at(const wino *p, const float *x, const addr *ad, int64_t ps,
                   int64_t t0, int64_t nt, float *v)
{
    const nk_conv_geom *g = &p->g;
    int nr = p->ukr->nr;
    int64_t c = g->c, tb = p->tb, per = p->th * p->tw, hw = g->h * g->w;
    int64_t rs = g->w * ps; /* one input row */
    size_t xi_stride = (size_t)c * (size_t)tb;
    int64_t base[32], ty0[32], tx0[32];
    bool inside[32], valid[32];
    /* Strip by strip, channel by channel, eight tiles at a time: the 36
     * destination lines of a (strip, channel) fill up in L1. */
    for (int64_t s0 = 0; s0 < tb; s0 += nr) {
        for (int l = 0; l < nr; l++) {
            int64_t j = s0 + l, t = t0 + j;
            valid[l] = j < nt;
            if (!valid[l])
                continue;
            int64_t n = t / per, ty = (t % per) / p->tw, tx = t % p->tw;
            ty0[l] = ty * 4 - g->pt;
            tx0[l] = tx * 4 - g->pl;
            inside[l] = ty0[l] >= 0 && tx0[l] >= 0 && ty0[l] + 6 <= g->h &&
                        tx0[l] + 6 <= g->w;
            base[l] = n * ad->nstride;
        }
        float *vs = v + (size_t)(s0 / nr) * (size_t)c * nr;
        for (int64_t ci = 0; ci < c; ci++) {
            float *vc = vs + (size_t)ci * nr;
            int64_t co = chan_off(ad, ci, hw);
            for (int l0 = 0; l0 < nr; l0 += 8) {
                nk_v8f d[6][6];
                for (int l = 0; l < 8; l++) {
                    int ll = l0 + l;
                    if (!valid[ll]) {
                        for (int a = 0; a < 6; a++)
                            for (int b = 0; b < 6; b++)
                                d[a][b][l] = 0.0f;
                        continue;
                    }
                    const float *xp = x + base[ll] + co;
                    if (inside[ll]) {
                        const float *q = xp + (ty0[ll] * g->w + tx0[ll]) * ps;
                        for (int a = 0; a < 6; a++)
                            for (int b = 0; b < 6; b++)
                                d[a][b][l] = q[a * rs + b * ps];
                    } else {
                        for (int a = 0; a < 6; a++)
                            for (int b = 0; b < 6; b++) {
                                int64_t iy = ty0[ll] + a, ix = tx0[ll] + b;
                                d[a][b][l] = iy >= 0 && iy < g->h &&
                                                     ix >= 0 && ix < g->w
                                                 ? xp[iy * rs + ix * ps]
                                                 : 0.0f;
                            }
                    }
                }
                /* columns: B^T d, then rows: (B^T d) B */
                nk_v8f vv[36];
                nk_winograd_bt6(d, vv);
                for (int xi = 0; xi < 36; xi++)
                    memcpy(vc + (size_t)xi * xi_stride + (size_t)l0, &vv[xi],
                           sizeof(nk_v8f));
            }
        }
    }
}

/* Store the transpose of the 8x8 block r (row = tile, column = channel)
 * as rows[ch * rstride + (0..7)] for channels ch < nch. */
static inline void store_t8(const nk_v8f r[8], float *rows, size_t rstride,
                            int nch)
{
#if defined(__SSE2__)
    __m128 lo[8], hi[8];
    for (int i = 0; i < 8; i++) {
        memcpy(&lo[i], &r[i], sizeof(__m128));
        memcpy(&hi[i], (const float *)&r[i] + 4, sizeof(__m128));
    }
    _MM_TRANSPOSE4_PS(lo[0], lo[1], lo[2], lo[3]);
    _MM_TRANSPOSE4_PS(lo[4], lo[5], lo[6], lo[7]);
    _MM_TRANSPOSE4_PS(hi[0], hi[1], hi[2], hi[3]);
    _MM_TRANSPOSE4_PS(hi[4], hi[5], hi[6], hi[7]);
    for (int ch = 0; ch < nch; ch++) {
        const __m128 *q = ch < 4 ? lo : hi;
        _mm_storeu_ps(rows + (size_t)ch * rstride, q[ch % 4]);
        _mm_storeu_ps(rows + (size_t)ch * rstride + 4, q[ch % 4 + 4]);
    }
#else
    for (int ch = 0; ch < nch; ch++)
        for (int l = 0; l < 8; l++)
            rows[(size_t)ch * rstride + (size_t)l] = r[l][ch];
#endif
}

/* input_transform for an NCHW8c input: one tile's 8 channels of a pixel
 * are one vector, so the transform runs over channels, tile by tile, and
 * eight tiles' results are transposed into v's [channel][tile] rows. */
static void input_transform_blk(const wino *p, const float *x,
                                const addr *ad, int64_t t0, int64_t nt,
                                float *v)
{
    const nk_conv_geom *g = &p->g;
    int nr = p->ukr->nr;
    int64_t c = g->c, tb = p->tb, per = p->th * p->tw, hw = g->h * g->w;
    int64_t cb = nk_blk_cb(c);
    size_t xi_stride = (size_t)c * (size_t)tb;
    const nk_v8f zero = {0};
    for (int64_t s0 = 0; s0 < tb; s0 += nr) {
        float *vs = v + (size_t)(s0 / nr) * (size_t)c * nr;
        for (int64_t bi = 0; bi < cb; bi++) {
            int nch = (int)(c - bi * NK_BLK < NK_BLK ? c - bi * NK_BLK
                                                       : NK_BLK);
            for (int l0 = 0; l0 < nr; l0 += 8) {
                nk_v8f tt[36][8];
                for (int l = 0; l < 8; l++) {
                    int64_t j = s0 + l0 + l, t = t0 + j;
                    if (j >= nt) {
                        for (int xi = 0; xi < 36; xi++)
                            tt[xi][l] = zero;
                        continue;
                    }
                    int64_t n = t / per, ty = (t % per) / p->tw;
                    int64_t tx = t % p->tw;
                    int64_t iy0 = ty * 4 - g->pt, ix0 = tx * 4 - g->pl;
                    const float *xb = x + n * ad->nstride + bi * NK_BLK * hw;
                    nk_v8f d[6][6];
                    if (iy0 >= 0 && ix0 >= 0 && iy0 + 6 <= g->h &&
                        ix0 + 6 <= g->w) {
                        const float *q = xb + (iy0 * g->w + ix0) * NK_BLK;
                        for (int a = 0; a < 6; a++)
                            for (int b = 0; b < 6; b++)
                                NK_V8_LOAD(d[a][b],
                                        q + (a * g->w + b) * NK_BLK);
                    } else {
                        for (int a = 0; a < 6; a++)
                            for (int b = 0; b < 6; b++) {
                                int64_t iy = iy0 + a, ix = ix0 + b;
                                if (iy >= 0 && iy < g->h && ix >= 0 &&
                                    ix < g->w)
                                    NK_V8_LOAD(d[a][b],
                                            xb + (iy * g->w + ix) * NK_BLK);
                                else
                                    d[a][b] = zero;
                            }
                    }
                    nk_v8f vv[36];
                    nk_winograd_bt6(d, vv);
                    for (int xi = 0; xi < 36; xi++)
                        tt[xi][l] = vv[xi];
                }
                float *vc = vs + (size_t)(bi * NK_BLK) * nr + (size_t)l0;
                for (int xi = 0; xi < 36; xi++)
                    store_t8(tt[xi], vc + (size_t)xi * xi_stride,
                             (size_t)nr, nch);
            }
        }
    }
}

static void input_transform(const wino *p, const float *x, const addr *ad,
                            int64_t t0, int64_t nt, float *v)
{
    if (ad->ps == 1)
        input_transform_at(p, x, ad, 1, t0, nt, v);
    else if (p->ukr->nr % 8 == 0)
        input_transform_blk(p, x, ad, t0, nt, v);
    else
        input_transform_at(p, x, ad, NK_BLK, t0, nt, v);
}

/* Output transform and epilogue of output channels [m0, mend) for tiles
 * [t0, t0+nt), eight tiles at a time (mb has tb >= 8-aligned columns, so
 * reading past nt is in bounds). The output and the residual are NCHW
 * (the rows' layout; NCHW8c outputs are the blocked kernel's,
 * x86/winograd-blocked-avx2.c). */
static void output_transform(const nk_step *st, const wino *p,
                             const float *mb, size_t xi_m, int64_t m0,
                             int64_t mend, int64_t t0, int64_t nt)
{
    const nk_conv_geom *g = &p->g;
    const float *bias =
        st->n_in > 2 && st->in[2] ? (const float *)st->in[2]->data : NULL;
    const float *res = st->residual ? st->residual->data : NULL;
    float *y = st->out[0]->data;
    int64_t tb = p->tb, per = p->th * p->tw, plane = g->oh * g->ow;
    float lo, hi;
    nk_act_bounds(st->act, st->act_a0, st->act_a1, &lo, &hi);
    for (int64_t mo = m0; mo < mend; mo++) {
        float bv = bias ? bias[mo] : 0.0f;
        const float *mrow = mb + (size_t)(mo - m0) * (size_t)tb;
        for (int64_t j0 = 0; j0 < nt; j0 += 8) {
            nk_v8f o[4][4];
            nk_winograd_at6(mrow + (size_t)j0, xi_m, o);
            int lanes = nt - j0 < 8 ? (int)(nt - j0) : 8;
            for (int l = 0; l < lanes; l++) {
                int64_t t = t0 + j0 + l;
                int64_t n = t / per, ty = (t % per) / p->tw;
                int64_t tx = t % p->tw;
                size_t off = (size_t)((n * g->m + mo) * plane);
                float *yp = y + off;
                const float *rp = res ? res + off : NULL;
                for (int a = 0; a < 4; a++) {
                    int64_t oy = ty * 4 + a;
                    if (oy >= g->oh)
                        break;
                    for (int bb = 0; bb < 4; bb++) {
                        int64_t ox = tx * 4 + bb;
                        if (ox >= g->ow)
                            break;
                        float val = o[a][bb][l] + bv;
                        if (rp)
                            val += rp[oy * g->ow + ox];
                        yp[oy * g->ow + ox] = act1(st, lo, hi, val);
                    }
                }
            }
        }
    }
}

/* ---- few tiles: the transposed GEMM ------------------------------------
 * A 7x7 map is 4 tiles: as the GEMM's NR columns they would fill a
 * quarter of a 16-wide strip. Here the tiles are the MR rows (6) and the
 * output channels the NR columns: per position xi, M[tiles][m] =
 * V[tiles][C] x U[C][m]. Every thread transforms all tiles' input (a few
 * tens of microseconds) and takes a share of the NR-column strips. */

/* V[xi][strip][c][MR]: tile t's 36 transformed values of channel c, eight
 * channels at a time (a pixel's 8 channels are one load on NCHW8c). */
static void fewtiles_input(const wino *p, const float *x, const addr *ad,
                           int mr, float *v)
{
    const nk_conv_geom *g = &p->g;
    int64_t c = g->c, hw = g->h * g->w, per = p->th * p->tw;
    size_t xi_v = (size_t)p->nts * (size_t)mr * (size_t)c;
    memset(v, 0, 36 * xi_v * sizeof(float));
    for (int64_t t = 0; t < p->ntiles; t++) {
        int64_t n = t / per, ty = (t % per) / p->tw, tx = t % p->tw;
        int64_t iy0 = ty * 4 - g->pt, ix0 = tx * 4 - g->pl;
        float *vt = v + (size_t)(t / mr) * (size_t)mr * (size_t)c +
                    (size_t)(t % mr);
        const float *xn = x + n * ad->nstride;
        for (int64_t c0 = 0; c0 < c; c0 += 8) {
            int nch = c - c0 < 8 ? (int)(c - c0) : 8;
            nk_v8f d[6][6];
            for (int a = 0; a < 6; a++)
                for (int b = 0; b < 6; b++) {
                    int64_t iy = iy0 + a, ix = ix0 + b;
                    nk_v8f z = {0};
                    if (iy >= 0 && iy < g->h && ix >= 0 && ix < g->w) {
                        const float *q = xn + chan_off(ad, c0, hw) +
                                         (iy * g->w + ix) * ad->ps;
                        if (ad->ls == 1 && nch == 8)
                            NK_V8_LOAD(z, q);
                        else
                            for (int l = 0; l < nch; l++)
                                z[l] = xn[chan_off(ad, c0 + l, hw) +
                                          (iy * g->w + ix) * ad->ps];
                    }
                    d[a][b] = z;
                }
            nk_v8f vv[36];
            nk_winograd_bt6(d, vv);
            for (int xi = 0; xi < 36; xi++)
                for (int l = 0; l < nch; l++)
                    vt[(size_t)xi * xi_v + (size_t)(c0 + l) * (size_t)mr] =
                        vv[xi][l];
        }
    }
}

/* Output transform and epilogue of channels [m0, m1) (multiples of 8, or
 * m1 = M) from M[xi][tile][npad], into the NCHW output. */
static void fewtiles_output(const nk_step *st, const wino *p,
                            const float *mt, size_t xi_m, int64_t m0,
                            int64_t m1)
{
    const nk_conv_geom *g = &p->g;
    const float *bias =
        st->n_in > 2 && st->in[2] ? (const float *)st->in[2]->data : NULL;
    const float *res = st->residual ? st->residual->data : NULL;
    float *y = st->out[0]->data;
    int64_t per = p->th * p->tw, plane = g->oh * g->ow;
    float lo, hi;
    nk_act_bounds(st->act, st->act_a0, st->act_a1, &lo, &hi);
    for (int64_t t = 0; t < p->ntiles; t++) {
        int64_t n = t / per, ty = (t % per) / p->tw, tx = t % p->tw;
        for (int64_t mo = m0; mo < m1; mo += 8) {
            nk_v8f o[4][4];
            nk_winograd_at6(mt + (size_t)t * (size_t)p->npad + (size_t)mo,
                            xi_m, o);
            /* channels mo.. of this group that exist */
            int nch = g->m - mo < 8 ? (int)(g->m - mo) : 8;
            for (int a = 0; a < 4; a++) {
                int64_t oy = ty * 4 + a;
                if (oy >= g->oh)
                    break;
                for (int bb = 0; bb < 4; bb++) {
                    int64_t ox = tx * 4 + bb;
                    if (ox >= g->ow)
                        break;
                    for (int l = 0; l < nch; l++) {
                        size_t off = (size_t)(((n * g->m + mo + l) * plane) +
                                              oy * g->ow + ox);
                        float val = o[a][bb][l] + (bias ? bias[mo + l] : 0.0f);
                        if (res)
                            val += res[off];
                        y[off] = act1(st, lo, hi, val);
                    }
                }
            }
        }
    }
}

static void fewtiles_run(const nk_step *st, const wino *p, int ith,
                         int active)
{
    const nk_ukr *u = p->ukr;
    int mr = u->mr, nr = u->nr;
    int64_t c = p->g.c;
    /* this thread's NR-column strips */
    int64_t b, e;
    nk_split(p->npad / nr, ith, active, &b, &e);
    if (b >= e)
        return;
    addr ain = addr_of(st->in[0]);
    uintptr_t base = (uintptr_t)st->work + p->slot_bytes * (size_t)ith;
    base = (base + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
    float *v = (float *)base;
    size_t xi_v = (size_t)p->nts * (size_t)mr * (size_t)c;
    float *mt = v + 36 * xi_v;
    mt = (float *)(((uintptr_t)mt + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
    size_t xi_m = (size_t)p->nts * (size_t)mr * (size_t)p->npad;
    const nk_epilogue none = {NULL, NULL, 0, -INFINITY, INFINITY};

    fewtiles_input(p, st->in[0]->data, &ain, mr, v);
    /* Strip by strip, so that a thread done early can take strips from
     * the back of another's share (every thread has all of V). */
    nk_items it;
    nk_items_begin(&it, st->steal, ith, active, b, e);
    int64_t js;
    while (nk_items_next(&it, &js, NULL)) {
        for (int xi = 0; xi < 36; xi++) {
            const float *uj = p->u + (size_t)xi * (size_t)p->npad *
                                         (size_t)c +
                              (size_t)js * (size_t)nr * (size_t)c;
            for (int64_t ts = 0; ts < p->nts; ts++)
                u->fn((int)c, v + xi * xi_v + (size_t)ts * (size_t)mr * c,
                      uj,
                      mt + xi * xi_m + (size_t)ts * (size_t)mr * p->npad +
                          (size_t)js * (size_t)nr,
                      (size_t)p->npad, NK_UKR_FIRST | NK_UKR_LAST, &none);
        }
        int64_t m0 = js * nr, m1 = m0 + nr < p->g.m ? m0 + nr : p->g.m;
        if (m0 < m1)
            fewtiles_output(st, p, mt, xi_m, m0, m1);
    }
}

void nk_conv_winograd_run(const nk_step *st, int ith, int nth)
{
    const wino *p = st->params;
    const nk_conv_geom *g = &p->g;
    int active = nk_slots_active(nth, p->slots);
    if (ith >= active)
        return;
    if (p->few) {
        fewtiles_run(st, p, ith, active);
        return;
    }
    const nk_ukr *u = p->ukr;
    int mr = u->mr, nr = u->nr;
    const float *x = st->in[0]->data;
    int64_t c = g->c, m = g->m, tb = p->tb;
    addr ain = addr_of(st->in[0]);

    uintptr_t base = (uintptr_t)st->work + p->slot_bytes * (size_t)ith;
    base = (base + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
    float *v = (float *)base;
    float *mb = v + (size_t)36 * (size_t)c * (size_t)tb;
    mb = (float *)(((uintptr_t)mb + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
    size_t xi_v = (size_t)c * (size_t)tb;
    size_t xi_m = (size_t)p->mtile_rows * (size_t)tb;
    const nk_epilogue none = {NULL, NULL, 0, -INFINITY, INFINITY};

    /* The plan-time shares, or (a run on fewer threads) computed now. */
    int64_t b, e, transformed = -1;
    if (active == p->slots) {
        b = p->share[ith][0];
        e = p->share[ith][1];
    } else {
        nk_share_weighed(p->blocks * p->mtiles, task_weight, p, ith, active,
                         &b, &e);
    }
    nk_items it;
    nk_items_begin(&it, st->steal, ith, active, b, e);
    int64_t task;
    while (nk_items_next(&it, &task, NULL)) {
        int64_t blk = task / p->mtiles, mt = task % p->mtiles;
        int64_t t0 = blk * p->nstrip / p->blocks * nr;
        int64_t t1 = (blk + 1) * p->nstrip / p->blocks * nr;
        int64_t nt = (t1 < p->ntiles ? t1 : p->ntiles) - t0;
        if (transformed != blk) {
            input_transform(p, x, &ain, t0, nt, v);
            transformed = blk;
        }
        int64_t m0 = mt * p->mtile_rows;
        int64_t m1 = m0 + p->mtile_rows < p->mpad ? m0 + p->mtile_rows
                                                  : p->mpad;
        int64_t nstrips = (nt + nr - 1) / nr;
        for (int xi = 0; xi < 36; xi++) {
            const float *uxi = p->u + (size_t)xi * (size_t)p->mpad *
                                          (size_t)c;
            for (int64_t js = 0; js < nstrips; js++) {
                const float *bs = v + xi * xi_v + (size_t)js * (size_t)c * nr;
                for (int64_t is = m0; is < m1; is += mr)
                    u->fn((int)c, uxi + (size_t)is * (size_t)c, bs,
                          mb + xi * xi_m + (size_t)(is - m0) * (size_t)tb +
                              (size_t)js * nr,
                          (size_t)tb, NK_UKR_FIRST | NK_UKR_LAST, &none);
            }
        }
        int64_t mend = m1 < m ? m1 : m;
        output_transform(st, p, mb, xi_m, m0, mend, t0, nt);
    }
}
