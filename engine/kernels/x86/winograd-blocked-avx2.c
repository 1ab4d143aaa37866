/*
 * winograd-blocked-avx2.c — Winograd F(4x4, 3x3) on NCHW8c activations
 * (conv2d_winograd_nchw8c_avx2). Each of the 36 positions is a GEMM
 * oriented the way the blocked layout lies: tiles are the micro-kernel's
 * rows (up to 6 per call, each read straight from the transformed input,
 * one row per tile) and output channels its 16 columns (a strip of the
 * packed transformed weights), so a tile's eight channels go into the
 * input transform and come out of the output transform as one vector and
 * nothing is transposed; a tile count that is not a multiple of 6 ends
 * with a shorter call instead of padding rows. Tiles come in blocks
 * (their transformed input V and products M sized for L2 where the
 * channel count allows); a task is (block, run of 16-channel strips), and
 * a thread transforms the input of each block it works on. The output
 * is NCHW8c; the input may also be NCHW (gathered lane by lane: a graph
 * input read directly). Compiled with -mavx2 -mfma for this file only.
 */
#include "engine/kernels/blocked.h"
#include "engine/kernels/conv-fast.h"
#include "engine/kernels/kernels-impl.h"
#include "engine/kernels/winograd.h"
#include "engine/ops/conv-impl.h"

#if defined(__x86_64__) || defined(_M_X64)
#include "engine/kernels/x86/blocked-avx2.h" /* nk_blk_act */

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define ALIGN 64
#define NRW 16 /* output channels per strip: the micro-kernel's columns */
#define MRW 6  /* most tiles per micro-kernel call */
/* V + M scratch of one tile block: 384 KiB, inside a 512 KiB L2 with
 * room for the transformed weights streaming past. */
#define BUDGET_FLOATS (3 << 15)
/* A block has at least this many 6-tile groups: every block streams the
 * transformed weights once, so blocks are not made smaller than that
 * even when their V and M spill from L2 (14x14 maps, 256 channels). */
#define MIN_GROUPS 3
#define BIG_U_BYTES (4 << 20)

typedef struct winoblk {
    nk_conv_geom g;
    float *u;            /* [36][ms][kp][16]: strip s of position xi
                            (position-major: strip-major was 2-4% slower) */
    int64_t kp;          /* C rounded up to 8: the GEMM depth */
    int64_t ms;          /* 16-channel strips of M */
    int64_t th, tw;      /* tiles per image, down and across */
    int64_t ntiles;      /* over the whole batch */
    int64_t ngroups;     /* 6-tile groups */
    int64_t blocks;      /* block b: groups [b * ngroups / blocks,
                            (b + 1) * ngroups / blocks) */
    int64_t tb;          /* most tiles in a block */
    int64_t mtiles;      /* tasks per block */
    int64_t mt_strips;   /* strips per task (the last may have fewer) */
    size_t slot_bytes;
    int slots;
    /* Thread t's tasks are [share[t][0], share[t][1]) when the step runs
     * on slots threads (nk_share_weighed, once at plan time). */
    int64_t (*share)[2];
} winoblk;

void nk_winoblk_avx2_release(nk_step *st)
{
    winoblk *p = st->params;
    if (p) {
        nk_free_aligned(p->u);
        nk_free(p->share);
    }
    nk_free(p);
    st->params = NULL;
}

/* Tiles [*t0, *t0 + *nt) of block blk. */
static void block_tiles(const winoblk *p, int64_t blk, int64_t *t0,
                        int64_t *nt)
{
    int64_t g0 = blk * p->ngroups / p->blocks;
    int64_t g1 = (blk + 1) * p->ngroups / p->blocks;
    int64_t t1 = g1 * MRW < p->ntiles ? g1 * MRW : p->ntiles;
    *t0 = g0 * MRW;
    *nt = t1 - *t0;
}

/* Strips [*s0, *s1) of task mi of a block. */
static void task_strips(const winoblk *p, int64_t mi, int64_t *s0,
                        int64_t *s1)
{
    *s0 = mi * p->mt_strips;
    *s1 = *s0 + p->mt_strips < p->ms ? *s0 + p->mt_strips : p->ms;
}

/* A task's weight for nk_share_weighed: tiles x strips. */
static int64_t task_weight(const void *arg, int64_t task)
{
    const winoblk *p = arg;
    int64_t t0, nt, s0, s1;
    block_tiles(p, task / p->mtiles, &t0, &nt);
    task_strips(p, task % p->mtiles, &s0, &s1);
    return nt * (s1 - s0);
}

nk_status nk_winoblk_avx2_prepare(nk_ctx *ctx, nk_step *st)
{
    winoblk *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                       st->node->name);
    st->params = p;
    if (!nk_winograd_geom(st, &p->g)) {
        nk_winoblk_avx2_release(st);
        return nk_fail(ctx, NK_UNSUPPORTED,
                       "node '%s': not a 3x3 stride-1 conv with constant "
                       "weights", st->node->name);
    }
    const nk_conv_geom *g = &p->g;
    int64_t c = g->c, m = g->m;
    p->kp = nk_blk_cb(c) * NK_BLK;
    p->ms = (m + NRW - 1) / NRW;
    p->slots = nk_kernel_slots(st);
    p->th = (g->oh + 3) / 4;
    p->tw = (g->ow + 3) / 4;
    p->ntiles = g->n * p->th * p->tw;
    p->ngroups = (p->ntiles + MRW - 1) / MRW;

    size_t ubytes;
    if (!nk_mul_size((size_t)36 * (size_t)p->ms * NRW * sizeof(float),
                     (size_t)p->kp, &ubytes))
        goto too_big;
    /* Blocks of whole groups, within the scratch budget but at least
     * MIN_GROUPS, as many as a multiple of the threads so that blocks
     * share out evenly, except when U is bigger than L3 keeps: every
     * block streams U from DRAM, so 16 tiles on two threads stay one
     * block (split by strips below), not two blocks reading U twice. */
    int64_t mpad = p->ms * NRW;
    int64_t per = BUDGET_FLOATS / (36 * (p->kp + mpad)) / MRW;
    if (per < MIN_GROUPS)
        per = MIN_GROUPS;
    int64_t nblk = (p->ngroups + per - 1) / per;
    if (ubytes <= BIG_U_BYTES)
        nblk = (nblk + p->slots - 1) / p->slots * p->slots;
    if (nblk > p->ngroups)
        nblk = p->ngroups;
    p->blocks = nblk;
    p->tb = (p->ngroups + nblk - 1) / nblk * MRW;
    /* Few blocks, or blocks that do not share out evenly: output channels
     * in runs of strips too, about eight tasks per thread, so that the
     * weighed shares come out even and a thread done early has tasks left
     * to take (nk_items_next). */
    p->mtiles = 1;
    p->mt_strips = p->ms;
    bool uneven = p->slots > 1 && nblk % p->slots != 0;
    if ((nblk < 8 * (int64_t)p->slots || uneven) && p->ms > 1) {
        int64_t want = (8 * p->slots + nblk - 1) / nblk;
        int64_t ps = (p->ms + want - 1) / want;
        p->mt_strips = ps;
        p->mtiles = (p->ms + ps - 1) / ps;
    }

    p->u = nk_malloc_aligned(ubytes, ALIGN);
    if (!p->u) {
        nk_winoblk_avx2_release(st);
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory for %zu "
                       "bytes of transformed weights", st->node->name,
                       ubytes);
    }
    memset(p->u, 0, ubytes);
    const float *w = st->in[1]->data;
    size_t xi_u = (size_t)p->ms * (size_t)p->kp * NRW;
    for (int64_t mo = 0; mo < m; mo++)
        for (int64_t ci = 0; ci < c; ci++) {
            float uu[36];
            nk_winograd_filter(w + (mo * c + ci) * 9, uu);
            size_t off = (size_t)(mo / NRW) * (size_t)p->kp * NRW +
                         (size_t)ci * NRW + (size_t)(mo % NRW);
            for (int xi = 0; xi < 36; xi++)
                p->u[(size_t)xi * xi_u + off] = uu[xi];
        }

    size_t vfl = (size_t)36 * (size_t)p->tb * (size_t)p->kp;
    size_t mfl = (size_t)36 * (size_t)p->tb * (size_t)p->mt_strips * NRW;
    p->slot_bytes = (vfl + mfl) * sizeof(float) + 3 * ALIGN;
    if (!nk_mul_size(p->slot_bytes, (size_t)p->slots, &st->work_bytes))
        goto too_big;
    p->share = nk_malloc((size_t)p->slots * sizeof *p->share);
    if (!p->share) {
        nk_winoblk_avx2_release(st);
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                       st->node->name);
    }
    for (int t = 0; t < p->slots; t++)
        nk_share_weighed(p->blocks * p->mtiles, task_weight, p, t, p->slots,
                         &p->share[t][0], &p->share[t][1]);
    return NK_OK;
too_big:
    nk_winoblk_avx2_release(st);
    return nk_fail(ctx, NK_UNSUPPORTED, "node '%s': Winograd buffers "
                   "overflow", st->node->name);
}

/* ---- the GEMM ---------------------------------------------------------- */

/* c[r][0..15] = sum over k < kp of a[r * lda + k] * b[k * 16 + 0..15] for
 * the R rows (tiles) r: R tiles' transformed input times one packed strip
 * of transformed weights. R is a literal in each instance. Each k step
 * reads one 64-byte line of b and prefetches the same line of the next
 * strip the caller will use (pf), a whole strip ahead of the loads. */
static inline __attribute__((always_inline)) void
gemm_rows(const int R, int64_t kp, const float *a, int64_t lda,
          const float *b, const float *pf, float *c, int64_t ldc)
{
    __m256 acc[MRW][2];
#pragma GCC unroll 6
    for (int r = 0; r < R; r++)
        acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t k = 0; k < kp; k++) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        _mm_prefetch((const char *)(pf + k * NRW), _MM_HINT_T0);
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
            __m256 av = _mm256_broadcast_ss(a + r * lda + k);
            acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
        }
        b += NRW;
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
        _mm256_storeu_ps(c + r * ldc, acc[r][0]);
        _mm256_storeu_ps(c + r * ldc + 8, acc[r][1]);
    }
}

typedef void gemm_fn(int64_t kp, const float *a, int64_t lda,
                     const float *b, const float *pf, float *c,
                     int64_t ldc);
#define GEMM_R(R)                                                         \
    static void gemm_##R(int64_t kp, const float *a, int64_t lda,         \
                         const float *b, const float *pf, float *c,       \
                         int64_t ldc)                                     \
    {                                                                     \
        gemm_rows(R, kp, a, lda, b, pf, c, ldc);                          \
    }
GEMM_R(1)
GEMM_R(2)
GEMM_R(3)
GEMM_R(4)
GEMM_R(5)
GEMM_R(6)
#undef GEMM_R
static gemm_fn *const GEMM[MRW + 1] = {NULL,   gemm_1, gemm_2, gemm_3,
                                       gemm_4, gemm_5, gemm_6};

/* ---- transforms ------------------------------------------------------ */

/* Where the input's elements sit: channel block b of image n starts at
 * n * nstride + b * 8 * hw; lane l of a pixel is ls floats on, the next
 * pixel ps floats on. NCHW8c: (1, 8); NCHW: (hw, 1). */
typedef struct addr {
    int64_t nstride, ls, ps;
    bool blk;
} addr;

static addr addr_of(const nk_tensor *t)
{
    int64_t c = t->shape.d[1], hw = t->shape.d[2] * t->shape.d[3];
    addr a;
    nk_blk_strides(t, &a.ls, &a.ps);
    a.blk = t->layout == NK_LAYOUT_NCHW8C;
    a.nstride = a.blk ? nk_blk_cb(c) * NK_BLK * hw : c * hw;
    return a;
}

/* Lanes [0, nch) of a pixel's channel block at q (lanes ls apart), the
 * rest zero. */
static inline __m256 gather8(const float *q, int64_t ls, int nch)
{
    float f[NK_BLK] = {0};
    for (int l = 0; l < nch; l++)
        f[l] = q[l * ls];
    return _mm256_loadu_ps(f);
}

/* V[xi][j][kp] for tiles j < nt of the block starting at tile t0: the 36
 * transformed values of each channel block, one vector per (tile, block).
 * Lanes past C are zero (NCHW8c keeps its padding lanes zero). */
static void input_transform(const winoblk *p, const float *x,
                            const addr *ad, int64_t t0, int64_t nt,
                            float *v)
{
    const nk_conv_geom *g = &p->g;
    int64_t per = p->th * p->tw, hw = g->h * g->w, cb = p->kp / NK_BLK;
    size_t xi_v = (size_t)p->tb * (size_t)p->kp;
    for (int64_t j = 0; j < nt; j++) {
        int64_t t = t0 + j, n = t / per, ty = (t % per) / p->tw;
        int64_t tx = t % p->tw;
        int64_t iy0 = ty * 4 - g->pt, ix0 = tx * 4 - g->pl;
        bool inside = iy0 >= 0 && ix0 >= 0 && iy0 + 6 <= g->h &&
                      ix0 + 6 <= g->w;
        const float *xn = x + n * ad->nstride;
        float *vj = v + (size_t)j * (size_t)p->kp;
        for (int64_t b = 0; b < cb; b++) {
            const float *xb = xn + b * NK_BLK * hw;
            int nch = (int)(g->c - b * NK_BLK < NK_BLK ? g->c - b * NK_BLK
                                                       : NK_BLK);
            nk_v8f d[6][6];
            if (inside && ad->blk) {
                const float *q = xb + (iy0 * g->w + ix0) * NK_BLK;
                for (int a = 0; a < 6; a++)
                    for (int bb = 0; bb < 6; bb++)
                        NK_V8_LOAD(d[a][bb], q + (a * g->w + bb) * NK_BLK);
            } else {
                for (int a = 0; a < 6; a++)
                    for (int bb = 0; bb < 6; bb++) {
                        int64_t iy = iy0 + a, ix = ix0 + bb;
                        __m256 z = _mm256_setzero_ps();
                        if (iy >= 0 && iy < g->h && ix >= 0 && ix < g->w) {
                            const float *q = xb + (iy * g->w + ix) * ad->ps;
                            z = ad->blk ? _mm256_loadu_ps(q)
                                        : gather8(q, ad->ls, nch);
                        }
                        d[a][bb] = (nk_v8f)z;
                    }
            }
            nk_v8f vv[36];
            nk_winograd_bt6(d, vv);
            for (int xi = 0; xi < 36; xi++)
                memcpy(vj + (size_t)xi * xi_v + (size_t)b * NK_BLK, &vv[xi],
                       sizeof(nk_v8f));
        }
    }
}

/* Output channel blocks [cb0, cb1) of tiles t0.. t0 + nt from
 * M[xi][j][ldm] (block cb0's first lane at column 0): A^T m A, then bias,
 * residual and activation, one vector per pixel. The output is NCHW8c
 * (the row's layout; a fused residual has the output's layout, see
 * fuse_residual_adds) and the padding lanes of its last block are
 * written as zeros. */
static void output_transform(const nk_step *st, const winoblk *p,
                             const float *mt, int64_t ldm, int64_t cb0,
                             int64_t cb1, int64_t t0, int64_t nt)
{
    const nk_conv_geom *g = &p->g;
    const float *bias =
        st->n_in > 2 && st->in[2] ? (const float *)st->in[2]->data : NULL;
    const float *res = st->residual ? st->residual->data : NULL;
    float *y = st->out[0]->data;
    int64_t nstride = nk_blk_cb(g->m) * NK_BLK * g->oh * g->ow;
    nk_blk_actv act = nk_blk_actv_make(st->act, st->act_a0, st->act_a1);
    int64_t per = p->th * p->tw, plane = g->oh * g->ow;
    size_t xi_m = (size_t)p->tb * (size_t)ldm;
    for (int64_t b = cb0; b < cb1; b++) {
        int nch = (int)(g->m - b * NK_BLK < NK_BLK ? g->m - b * NK_BLK
                                                   : NK_BLK);
        __m256i lanes = _mm256_cmpgt_epi32(
            _mm256_set1_epi32(nch), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        __m256 bv = bias ? _mm256_maskload_ps(bias + b * NK_BLK, lanes)
                         : _mm256_setzero_ps();
        const float *mb = mt + (b - cb0) * NK_BLK;
        for (int64_t j = 0; j < nt; j++) {
            int64_t t = t0 + j, n = t / per, ty = (t % per) / p->tw;
            int64_t tx = t % p->tw;
            nk_v8f o[4][4];
            nk_winograd_at6(mb + (size_t)j * (size_t)ldm, xi_m, o);
            size_t off = (size_t)(n * nstride + b * NK_BLK * plane);
            float *yb = y + off;
            const float *rb = res ? res + off : NULL;
            for (int a = 0; a < 4; a++) {
                int64_t oy = ty * 4 + a;
                if (oy >= g->oh)
                    break;
                for (int bb = 0; bb < 4; bb++) {
                    int64_t ox = tx * 4 + bb;
                    if (ox >= g->ow)
                        break;
                    int64_t pix = oy * g->ow + ox;
                    __m256 val = _mm256_add_ps((__m256)o[a][bb], bv);
                    if (rb)
                        val = _mm256_add_ps(
                            val, _mm256_loadu_ps(rb + pix * NK_BLK));
                    val = nk_blk_act(&act, val);
                    if (nch < NK_BLK)
                        val = _mm256_and_ps(val,
                                            _mm256_castsi256_ps(lanes));
                    _mm256_storeu_ps(yb + pix * NK_BLK, val);
                }
            }
        }
    }
}

/* ---- run ------------------------------------------------------------- */

void nk_winoblk_avx2_run(const nk_step *st, int ith, int nth)
{
    const winoblk *p = st->params;
    int active = nk_slots_active(nth, p->slots);
    if (ith >= active)
        return;
    int64_t kp = p->kp, ldm = p->mt_strips * NRW;
    addr ain = addr_of(st->in[0]);
    uintptr_t base = (uintptr_t)st->work + p->slot_bytes * (size_t)ith;
    base = (base + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
    float *v = (float *)base;
    size_t xi_v = (size_t)p->tb * (size_t)kp;
    float *mt = v + 36 * xi_v;
    mt = (float *)(((uintptr_t)mt + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
    size_t xi_m = (size_t)p->tb * (size_t)ldm;
    size_t xi_u = (size_t)p->ms * (size_t)kp * NRW;

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
        int64_t blk = task / p->mtiles, t0, nt, s0, s1;
        block_tiles(p, blk, &t0, &nt);
        task_strips(p, task % p->mtiles, &s0, &s1);
        if (transformed != blk) {
            input_transform(p, st->in[0]->data, &ain, t0, nt, v);
            transformed = blk;
        }
        for (int xi = 0; xi < 36; xi++) {
            const float *vx = v + (size_t)xi * xi_v;
            float *mx = mt + (size_t)xi * xi_m;
            for (int64_t s = s0; s < s1; s++) {
                const float *us = p->u + (size_t)xi * xi_u +
                                  (size_t)s * (size_t)kp * NRW;
                /* the strip after this one: (xi, s + 1) or (xi + 1, s0) */
                const float *pf =
                    s + 1 < s1 ? us + kp * NRW
                    : xi < 35  ? p->u + (size_t)(xi + 1) * xi_u +
                                    (size_t)s0 * (size_t)kp * NRW
                               : us;
                float *ms = mx + (s - s0) * NRW;
                for (int64_t j = 0; j < nt; j += MRW) {
                    int r = nt - j < MRW ? (int)(nt - j) : MRW;
                    GEMM[r](kp, vx + j * kp, kp, us, pf, ms + j * ldm,
                            ldm);
                }
            }
        }
        /* output blocks of the strips: two per strip, none past M */
        int64_t per_strip = NRW / NK_BLK, mcb = nk_blk_cb(p->g.m);
        int64_t cb1 = s1 * per_strip < mcb ? s1 * per_strip : mcb;
        output_transform(st, p, mt, ldm, s0 * per_strip, cb1, t0, nt);
    }
}
#endif
