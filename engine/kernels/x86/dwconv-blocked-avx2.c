/*
 * dwconv-blocked-avx2.c — depthwise Conv (group == C == M) on NCHW8c
 * activations with AVX2+FMA: one vector holds the eight channels of a
 * block at one pixel, so every tap is one load and one FMA against the
 * tap's packed weights. Eight (then four) output pixels of a row are
 * accumulated in registers; the interior of a row runs without bounds
 * checks (3x3 and 5x5 at stride 1 and 2 unrolled, each input pixel loaded
 * once per window row), the rest pixel by pixel with checks.
 * Bias and every nk_act are applied in registers. -mavx2 -mfma only.
 */
#include "engine/kernels/blocked.h"
#include "engine/kernels/kernels-impl.h"
#include "engine/op.h"

#if defined(__x86_64__) || defined(_M_X64)
#include "engine/kernels/x86/blocked-avx2.h"

#include <string.h>

typedef struct dwblk {
    nk_conv_geom g;
    int64_t cb;    /* channel blocks */
    float *w;      /* [cb][kh][kw][8], zero lanes for c >= C */
    float *bias;   /* [cb * 8] */
} dwblk;

bool nk_dwblk_avx2_supports(const nk_step *st)
{
    if (st->n_in < 2 || !st->in[0] || !st->in[1] || st->n_out != 1 ||
        st->training || !nk_conv_weights_const(st))
        return false;
    const nk_tensor *x = st->in[0], *w = st->in[1];
    const nk_tensor *b = st->n_in > 2 ? st->in[2] : NULL;
    if (x->dtype != NK_F32 || w->dtype != NK_F32 || x->shape.rank != 4 ||
        w->shape.rank != 4 || (b && b->dtype != NK_F32))
        return false;
    int64_t group = nk_node_int(st->node, "group", 1);
    if (x->shape.d[1] != group || w->shape.d[0] != group ||
        w->shape.d[1] != 1)
        return false;
    nk_conv_geom g;
    return nk_conv_geom_from_node(NULL, st->node, &x->shape, &w->shape,
                                  &g) == NK_OK;
}

void nk_dwblk_avx2_release(nk_step *st)
{
    dwblk *p = st->params;
    if (p) {
        nk_free_aligned(p->w);
        nk_free_aligned(p->bias);
    }
    nk_free(p);
    st->params = NULL;
}

nk_status nk_dwblk_avx2_prepare(nk_ctx *ctx, nk_step *st)
{
    dwblk *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                       st->node->name);
    st->params = p;
    nk_status s = nk_conv_geom_from_node(ctx, st->node, &st->in[0]->shape,
                                         &st->in[1]->shape, &p->g);
    if (s != NK_OK) {
        nk_dwblk_avx2_release(st);
        return s;
    }
    const nk_conv_geom *g = &p->g;
    p->cb = nk_blk_cb(g->c);
    size_t taps = (size_t)(g->kh * g->kw);
    size_t wn = (size_t)p->cb * taps * NK_BLK;
    p->w = nk_malloc_aligned(wn * sizeof(float), 64);
    p->bias = nk_malloc_aligned((size_t)p->cb * NK_BLK * sizeof(float), 64);
    if (!p->w || !p->bias) {
        nk_dwblk_avx2_release(st);
        return nk_fail(ctx, NK_NOMEM,
                       "node '%s': out of memory packing %zu weights",
                       st->node->name, wn);
    }
    memset(p->w, 0, wn * sizeof(float));
    memset(p->bias, 0, (size_t)p->cb * NK_BLK * sizeof(float));
    const float *w = st->in[1]->data;
    const float *b =
        st->n_in > 2 && st->in[2] ? (const float *)st->in[2]->data : NULL;
    for (int64_t c = 0; c < g->c; c++) {
        for (size_t t = 0; t < taps; t++)
            p->w[((size_t)(c / NK_BLK) * taps + t) * NK_BLK + c % NK_BLK] =
                w[(size_t)c * taps + t];
        if (b)
            p->bias[c] = b[c];
    }
    st->work_bytes = 0;
    return NK_OK;
}

/* The activation: CLAMP (a constant in each copy) when it is None, Relu
 * or Clip, a min/max with the bounds in act (nk_blk_actv_make: None is
 * +-inf); else nk_blk_act. A run-time switch per vector cost ~20% of a
 * 3x3 depthwise row. */
static inline __attribute__((always_inline)) __m256
dw_act(const nk_blk_actv *act, __m256 v, const int CLAMP)
{
    return CLAMP ? nk_blk_clamp(v, act->a0, act->a1) : nk_blk_act(act, v);
}

/* One output pixel with bounds checks on every tap: ix0 is its first
 * input column, rows [ky0, ky1) of the window are inside the image.
 * Four accumulators (two per row, rotated between rows) so the FMAs do
 * not wait on each other. */
static inline __m256 dw_pixel(const float *xp, const float *wk, __m256 acc,
                              int64_t W, int64_t kw, int64_t dh, int64_t dw,
                              int64_t iy0, int64_t ky0, int64_t ky1,
                              int64_t ix0)
{
    int64_t kx0 = ix0 < 0 ? (-ix0 + dw - 1) / dw : 0;
    int64_t kx1 = W - 1 - ix0 < 0 ? 0 : (W - 1 - ix0) / dw + 1;
    if (kx1 > kw)
        kx1 = kw;
    __m256 a0 = acc, a1 = _mm256_setzero_ps(), a2 = a1, a3 = a1;
    for (int64_t ky = ky0; ky < ky1; ky++) {
        const float *xr = xp + ((iy0 + ky * dh) * W + ix0) * NK_BLK;
        const float *wr = wk + ky * kw * NK_BLK;
        int64_t kx = kx0;
        for (; kx + 2 <= kx1; kx += 2) {
            a0 = _mm256_fmadd_ps(_mm256_load_ps(wr + kx * NK_BLK),
                                 _mm256_loadu_ps(xr + kx * dw * NK_BLK), a0);
            a1 = _mm256_fmadd_ps(
                _mm256_load_ps(wr + (kx + 1) * NK_BLK),
                _mm256_loadu_ps(xr + (kx + 1) * dw * NK_BLK), a1);
        }
        if (kx < kx1)
            a2 = _mm256_fmadd_ps(_mm256_load_ps(wr + kx * NK_BLK),
                                 _mm256_loadu_ps(xr + kx * dw * NK_BLK), a2);
        __m256 t = a0;
        a0 = a2;
        a2 = t;
        t = a1;
        a1 = a3;
        a3 = t;
    }
    return _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
}


/* dw_pixel for a kernel width KW known at compile time (the specialised
 * copies) and no column dilation: every tap unrolled, the ones outside
 * the row skipped by a test on a constant range. The looped dw_pixel on
 * the two border pixels of a row cost as much as 30% of a 3x3 row at
 * 56 pixels. */
static inline __attribute__((always_inline)) __m256
dw_pixel_k(const float *xp, const float *wk, __m256 acc, int64_t W,
           const int64_t KW, int64_t dh, int64_t iy0, int64_t ky0,
           int64_t ky1, int64_t ix0)
{
    __m256 a1 = _mm256_setzero_ps();
    for (int64_t ky = ky0; ky < ky1; ky++) {
        const float *xr = xp + ((iy0 + ky * dh) * W + ix0) * NK_BLK;
        const float *wr = wk + ky * KW * NK_BLK;
        for (int64_t kx = 0; kx < KW; kx++)
            if (ix0 + kx >= 0 && ix0 + kx < W) {
                __m256 wv = _mm256_load_ps(wr + kx * NK_BLK);
                __m256 xv = _mm256_loadu_ps(xr + kx * NK_BLK);
                if (kx & 1)
                    a1 = _mm256_fmadd_ps(wv, xv, a1);
                else
                    acc = _mm256_fmadd_ps(wv, xv, acc);
            }
    }
    return _mm256_add_ps(acc, a1);
}

/* A border pixel: dw_pixel_k in the specialised copies (DW = 1). */
static inline __attribute__((always_inline)) __m256
dw_border(const float *xp, const float *wk, __m256 bias,
          const nk_conv_geom *g, int64_t KW, int64_t DW, int64_t iy0,
          int64_t ky0, int64_t ky1, int64_t ix0)
{
    if (DW == 1)
        return dw_pixel_k(xp, wk, bias, g->w, KW, g->dh, iy0, ky0, ky1, ix0);
    return dw_pixel(xp, wk, bias, g->w, KW, g->dh, g->dw, iy0, ky0, ky1,
                    ix0);
}

/* R interior pixels starting at input column ix0 (all taps inside the
 * row). KW, S and DW are constants in the specialised copies (DW = 1):
 * there each input pixel of a window row is loaded once and used by
 * every (pixel, tap) it meets, the row's KW weights held in registers;
 * DW = 0 (runtime dilation) loads per tap. */
static inline __attribute__((always_inline)) void
dw_block(const float *xp, const float *wk, __m256 bias, float *yo,
         int R, int64_t W, int64_t KW, int64_t S, int64_t DW, int64_t dh,
         int64_t dw, int64_t iy0, int64_t ky0, int64_t ky1, int64_t ix0,
         const nk_blk_actv *act, const int CLAMP)
{
    __m256 acc[8];
    for (int r = 0; r < R; r++)
        acc[r] = bias;
    for (int64_t ky = ky0; ky < ky1; ky++) {
        const float *xr = xp + ((iy0 + ky * dh) * W + ix0) * NK_BLK;
        const float *wr = wk + ky * KW * NK_BLK;
        if (DW == 1) {
            __m256 wv[8];
            for (int64_t kx = 0; kx < KW; kx++)
                wv[kx] = _mm256_load_ps(wr + kx * NK_BLK);
            for (int64_t i = 0; i < (R - 1) * S + KW; i++) {
                __m256 xv = _mm256_loadu_ps(xr + i * NK_BLK);
                for (int64_t kx = 0; kx < KW; kx++) {
                    int64_t r = (i - kx) / S;
                    if (i >= kx && (i - kx) % S == 0 && r < R)
                        acc[r] = _mm256_fmadd_ps(wv[kx], xv, acc[r]);
                }
            }
        } else {
            for (int64_t kx = 0; kx < KW; kx++) {
                __m256 wv = _mm256_load_ps(wr + kx * NK_BLK);
                const float *xk = xr + kx * dw * NK_BLK;
                for (int r = 0; r < R; r++)
                    acc[r] = _mm256_fmadd_ps(
                        wv, _mm256_loadu_ps(xk + r * S * NK_BLK), acc[r]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        _mm256_storeu_ps(yo + r * NK_BLK, dw_act(act, acc[r], CLAMP));
}

/* One output row [ox in 0, OW) of one (image, channel block) plane.
 * Window row ky is read at xp + (iy0 + ky * dh) * W * 8: the plane and
 * oy * sh - pt for a step's own rows; a fused chain (dwchain-avx2.c)
 * passes its first row inside the image and -ky0 * dh (rows dh * W * 8
 * floats apart from there). */
static inline __attribute__((always_inline)) void
dw_row(const float *xp, int64_t iy0, const float *wk, __m256 bias,
       float *yr, const nk_conv_geom *g, int64_t KW, int64_t S, int64_t DW,
       int64_t oy, const nk_blk_actv *act, const int CLAMP)
{
    const int64_t W = g->w, dh = g->dh, dw = g->dw, OW = g->ow;
    int64_t ky0, ky1;
    nk_dw_window(g, oy, &ky0, &ky1);
    /* Interior columns [lo, hi): every tap of the window inside. */
    int64_t lo = (g->pl + S - 1) / S;
    int64_t span = W - 1 - (KW - 1) * dw + g->pl;
    int64_t hi = span < 0 ? 0 : span / S + 1;
    if (hi > OW)
        hi = OW;
    if (lo > hi)
        lo = hi;
    int64_t ox = 0;
    for (; ox < lo; ox++)
        _mm256_storeu_ps(yr + ox * NK_BLK,
                         dw_act(act, dw_border(xp, wk, bias, g, KW, DW,
                                               iy0, ky0, ky1,
                                               ox * S - g->pl),
                                CLAMP));
    /* interior: blocks of 8 output pixels, then one of the rest (a
     * constant R in each case: the checked per-pixel loop cost 15-20% on
     * MobileNet's 7x7 and stride-2 rows) */
    for (; ox + 8 <= hi; ox += 8)
        dw_block(xp, wk, bias, yr + ox * NK_BLK, 8, W, KW, S, DW, dh, dw,
                 iy0, ky0, ky1, ox * S - g->pl, act, CLAMP);
#define DW_REST(N)                                                         \
    case N:                                                                \
        dw_block(xp, wk, bias, yr + ox * NK_BLK, N, W, KW, S, DW, dh, dw,  \
                 iy0, ky0, ky1, ox * S - g->pl, act, CLAMP);               \
        break;
    switch (hi - ox) {
        DW_REST(1)
        DW_REST(2)
        DW_REST(3)
        DW_REST(4)
        DW_REST(5)
        DW_REST(6)
        DW_REST(7)
    default:
        break;
    }
#undef DW_REST
    if (ox < hi)
        ox = hi;
    for (; ox < OW; ox++)
        _mm256_storeu_ps(yr + ox * NK_BLK,
                         dw_act(act, dw_border(xp, wk, bias, g, KW, DW,
                                               iy0, ky0, ky1,
                                               ox * S - g->pl),
                                CLAMP));
}

/* One copy per (KW, S, clamp): rows [b, e) of the n * CB * OH output
 * rows of the step (NAME), and one row for a fused chain (NAME_row, an
 * nk_dwblk_row_fn). */
#define DW_ROWS(NAME, KWC, SC, CL)                                       \
    static void NAME(const dwblk *p, const float *x, float *y, int64_t b, \
                     int64_t e, const nk_blk_actv *act)                   \
    {                                                                     \
        const nk_conv_geom *g = &p->g;                                    \
        const int64_t KW = (KWC) ? (KWC) : g->kw;                         \
        const int64_t S = (SC) ? (SC) : g->sw;                            \
        const int64_t DW = (KWC) ? 1 : 0;                                 \
        const int64_t taps = g->kh * g->kw;                               \
        for (int64_t t = b; t < e; t++) {                                 \
            int64_t plane = t / g->oh, oy = t % g->oh;                    \
            int64_t blk = plane % p->cb;                                  \
            const float *xp = x + plane * g->h * g->w * NK_BLK;           \
            float *yr = y + (plane * g->oh + oy) * g->ow * NK_BLK;        \
            dw_row(xp, oy * g->sh - g->pt, p->w + blk * taps * NK_BLK,    \
                   _mm256_load_ps(p->bias + blk * NK_BLK), yr, g, KW, S,  \
                   DW, oy, act, CL);                                      \
        }                                                                 \
    }                                                                     \
    static void NAME##_row(const void *params, const float *x0,           \
                           int64_t blk, int64_t oy, float *yr,            \
                           const nk_blk_actv *act)                        \
    {                                                                     \
        const dwblk *p = params;                                          \
        const nk_conv_geom *g = &p->g;                                    \
        const int64_t KW = (KWC) ? (KWC) : g->kw;                         \
        const int64_t S = (SC) ? (SC) : g->sw;                            \
        const int64_t DW = (KWC) ? 1 : 0;                                 \
        int64_t ky0, ky1;                                                 \
        nk_dw_window(g, oy, &ky0, &ky1);                                  \
        dw_row(x0, -ky0 * g->dh, p->w + blk * g->kh * g->kw * NK_BLK,     \
               _mm256_load_ps(p->bias + blk * NK_BLK), yr, g, KW, S, DW,  \
               oy, act, CL);                                              \
    }

DW_ROWS(dw_rows_3s1, 3, 1, 0)
DW_ROWS(dw_rows_3s2, 3, 2, 0)
DW_ROWS(dw_rows_5s1, 5, 1, 0)
DW_ROWS(dw_rows_5s2, 5, 2, 0)
DW_ROWS(dw_rows_any, 0, 0, 0)
DW_ROWS(dw_rows_3s1_c, 3, 1, 1)
DW_ROWS(dw_rows_3s2_c, 3, 2, 1)
DW_ROWS(dw_rows_5s1_c, 5, 1, 1)
DW_ROWS(dw_rows_5s2_c, 5, 2, 1)

typedef void dw_rows_fn(const dwblk *p, const float *x, float *y, int64_t b,
                        int64_t e, const nk_blk_actv *act);

/* The copy for a step: specialised for square 3x3 / 5x5, stride 1 or 2,
 * no column dilation; the _c copies (one clamp, no test) for None, Relu
 * and Clip. Index into DW_COPIES and DW_ROW_COPIES. */
static int dw_copy(const dwblk *p, nk_act act)
{
    const nk_conv_geom *g = &p->g;
    int k = g->kw == g->kh && g->dw == 1 ? (int)g->kw : 0;
    int s = g->sw <= 2 ? (int)g->sw : 0;
    int c = nk_blk_act_is_clamp(act) ? 1 : 0;
    if ((k == 3 || k == 5) && s)
        return 1 + ((k == 5) * 2 + (s - 1)) * 2 + c;
    return 0;
}

static dw_rows_fn *const DW_COPIES[9] = {
    dw_rows_any,   dw_rows_3s1,   dw_rows_3s1_c, dw_rows_3s2,  dw_rows_3s2_c,
    dw_rows_5s1,   dw_rows_5s1_c, dw_rows_5s2,   dw_rows_5s2_c,
};
static nk_dwblk_row_fn *const DW_ROW_COPIES[9] = {
    dw_rows_any_row,   dw_rows_3s1_row,   dw_rows_3s1_c_row,
    dw_rows_3s2_row,   dw_rows_3s2_c_row, dw_rows_5s1_row,
    dw_rows_5s1_c_row, dw_rows_5s2_row,   dw_rows_5s2_c_row,
};

nk_dwblk_row_fn *nk_dwblk_avx2_row_fn(const nk_step *st)
{
    return DW_ROW_COPIES[dw_copy(st->params, st->act)];
}

void nk_dwblk_avx2_run(const nk_step *st, int ith, int nth)
{
    const dwblk *p = st->params;
    const nk_conv_geom *g = &p->g;
    /* Items of a few output rows (at least ~128 pixels: a 7x7 map's rows
     * are too short to claim one by one), so that a thread done early
     * can take items from the back of another's share; a private walk
     * (one thread) runs its share in one call. */
    int64_t rows = g->n * p->cb * g->oh;
    int64_t per = (128 + g->ow - 1) / g->ow;
    int64_t items = (rows + per - 1) / per, b, e;
    nk_split(items, ith, nth, &b, &e);
    nk_blk_actv act = nk_blk_actv_make(st->act, st->act_a0, st->act_a1);
    const float *x = st->in[0]->data;
    float *y = st->out[0]->data;
    dw_rows_fn *fn = DW_COPIES[dw_copy(p, st->act)];
    nk_items it;
    nk_items_begin(&it, st->steal, ith, nth, b, e);
    if (!nk_items_shared(&it)) {
        if (b < e)
            fn(p, x, y, b * per, e * per < rows ? e * per : rows, &act);
        return;
    }
    int64_t i;
    while (nk_items_next(&it, &i, NULL))
        fn(p, x, y, i * per, (i + 1) * per < rows ? (i + 1) * per : rows,
           &act);
}
#endif
