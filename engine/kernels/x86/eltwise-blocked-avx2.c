/*
 * eltwise-blocked-avx2.c — pools and element-wise ops on NCHW8c
 * activations with AVX2: MaxPool / AveragePool (the geometry of
 * engine/ops/geom.c, results as the reference kernels of pool.c),
 * GlobalAveragePool, the unary activations over the whole blocked buffer,
 * and Add/Sub/Mul/Div for equal shapes, a per-channel [N, C, 1, 1] operand
 * or a one-element initializer. One vector = one pixel's eight channels.
 * -mavx2 -mfma for this file only.
 */
#include "engine/kernels/blocked.h"
#include "engine/kernels/kernels-impl.h"
#include "engine/op.h"

#if defined(__x86_64__) || defined(_M_X64)
#include "engine/kernels/x86/blocked-avx2.h"

#include <float.h>
#include <math.h>

/* ---- MaxPool, AveragePool ------------------------------------------------ */

typedef struct poolblk {
    nk_conv_geom g;
} poolblk;

bool nk_poolblk_avx2_supports(const nk_step *st)
{
    if (st->n_in < 1 || !st->in[0] || st->n_out < 1 || !st->out[0] ||
        st->training)
        return false;
    if (st->n_out > 1 && st->out[1])
        return false; /* MaxPool's Indices: the reference kernel */
    const nk_tensor *x = st->in[0];
    if (x->dtype != NK_F32 || x->shape.rank != 4)
        return false;
    if (nk_node_int(st->node, "storage_order", 0) != 0)
        return false;
    nk_conv_geom g;
    return nk_conv_geom_from_node(NULL, st->node, &x->shape, NULL, &g) ==
           NK_OK;
}

nk_status nk_poolblk_avx2_prepare(nk_ctx *ctx, nk_step *st)
{
    poolblk *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                       st->node->name);
    nk_status s = nk_conv_geom_from_node(ctx, st->node, &st->in[0]->shape,
                                         NULL, &p->g);
    if (s != NK_OK) {
        nk_free(p);
        return s;
    }
    st->params = p;
    st->work_bytes = 0;
    return NK_OK;
}

/* Taps [*k0, *k1) of a window starting at input index i0 (step d, k taps)
 * that fall in [lo, hi). */
static inline void tap_span(int64_t i0, int64_t d, int64_t k, int64_t lo,
                            int64_t hi, int64_t *k0, int64_t *k1)
{
    int64_t a = i0 < lo ? (lo - i0 + d - 1) / d : 0;
    int64_t b = hi - 1 - i0 < 0 ? 0 : (hi - 1 - i0) / d + 1;
    if (b > k)
        b = k;
    if (a > b)
        a = b;
    *k0 = a;
    *k1 = b;
}

static void maxpool_rows(const nk_conv_geom *g, const float *x, float *y,
                         int64_t b, int64_t e)
{
    const __m256 nan = _mm256_set1_ps(NAN);
    for (int64_t t = b; t < e; t++) {
        int64_t plane = t / g->oh, oy = t % g->oh;
        const float *xp = x + plane * g->h * g->w * NK_BLK;
        float *yr = y + (plane * g->oh + oy) * g->ow * NK_BLK;
        int64_t iy0 = oy * g->sh - g->pt, ky0, ky1;
        tap_span(iy0, g->dh, g->kh, 0, g->h, &ky0, &ky1);
        for (int64_t ox = 0; ox < g->ow; ox++) {
            int64_t ix0 = ox * g->sw - g->pl, kx0, kx1;
            tap_span(ix0, g->dw, g->kw, 0, g->w, &kx0, &kx1);
            /* As the reference: -FLT_MAX for an empty window, otherwise
             * the largest value (-inf included); NaN propagates. */
            bool any = ky0 < ky1 && kx0 < kx1;
            __m256 acc = _mm256_set1_ps(any ? -INFINITY : -FLT_MAX);
            __m256 isnan = _mm256_setzero_ps();
            for (int64_t ky = ky0; ky < ky1; ky++) {
                const float *xr = xp + ((iy0 + ky * g->dh) * g->w + ix0) *
                                           NK_BLK;
                for (int64_t kx = kx0; kx < kx1; kx++) {
                    __m256 v = _mm256_loadu_ps(xr + kx * g->dw * NK_BLK);
                    acc = _mm256_max_ps(acc, v);
                    isnan = _mm256_or_ps(isnan,
                                         _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
                }
            }
            _mm256_storeu_ps(yr + ox * NK_BLK,
                             _mm256_blendv_ps(acc, nan, isnan));
        }
    }
}

static void avgpool_rows(const nk_conv_geom *g, const float *x, float *y,
                         int64_t b, int64_t e)
{
    for (int64_t t = b; t < e; t++) {
        int64_t plane = t / g->oh, oy = t % g->oh;
        const float *xp = x + plane * g->h * g->w * NK_BLK;
        float *yr = y + (plane * g->oh + oy) * g->ow * NK_BLK;
        int64_t iy0 = oy * g->sh - g->pt, ky0, ky1, py0, py1;
        tap_span(iy0, g->dh, g->kh, 0, g->h, &ky0, &ky1);
        /* count_include_pad counts the taps inside the padded extent
         * (ceil_mode windows may run past it), as pool.c does. */
        tap_span(iy0, g->dh, g->kh, -g->pt, g->h + g->pb, &py0, &py1);
        for (int64_t ox = 0; ox < g->ow; ox++) {
            int64_t ix0 = ox * g->sw - g->pl, kx0, kx1, px0, px1;
            tap_span(ix0, g->dw, g->kw, 0, g->w, &kx0, &kx1);
            tap_span(ix0, g->dw, g->kw, -g->pl, g->w + g->pr, &px0, &px1);
            __m256 acc = _mm256_setzero_ps();
            for (int64_t ky = ky0; ky < ky1; ky++) {
                const float *xr = xp + ((iy0 + ky * g->dh) * g->w + ix0) *
                                           NK_BLK;
                for (int64_t kx = kx0; kx < kx1; kx++)
                    acc = _mm256_add_ps(
                        acc, _mm256_loadu_ps(xr + kx * g->dw * NK_BLK));
            }
            int64_t cnt = g->count_include_pad
                              ? (py1 - py0) * (px1 - px0)
                              : (ky1 - ky0) * (kx1 - kx0);
            __m256 r = cnt > 0 ? _mm256_div_ps(acc,
                                               _mm256_set1_ps((float)cnt))
                               : _mm256_setzero_ps();
            _mm256_storeu_ps(yr + ox * NK_BLK, r);
        }
    }
}

void nk_poolblk_avx2_run(const nk_step *st, int ith, int nth)
{
    const nk_conv_geom *g = &((const poolblk *)st->params)->g;
    int64_t b, e;
    nk_split(g->n * nk_blk_cb(g->c) * g->oh, ith, nth, &b, &e);
    if (st->node->op == NK_OP_MAXPOOL)
        maxpool_rows(g, st->in[0]->data, st->out[0]->data, b, e);
    else
        avgpool_rows(g, st->in[0]->data, st->out[0]->data, b, e);
}

/* ---- GlobalAveragePool ----------------------------------------------------- */

void nk_gapblk_avx2_run(const nk_step *st, int ith, int nth)
{
    const nk_shape *s = &st->in[0]->shape;
    const float *x = st->in[0]->data;
    float *y = st->out[0]->data;
    int64_t hw = s->d[2] * s->d[3], b, e;
    nk_split(s->d[0] * nk_blk_cb(s->d[1]), ith, nth, &b, &e);
    for (int64_t t = b; t < e; t++) {
        const float *xp = x + t * hw * NK_BLK;
        /* double sums, as the reference */
        __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
        for (int64_t i = 0; i < hw; i++) {
            __m256 v = _mm256_loadu_ps(xp + i * NK_BLK);
            lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
            hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
        }
        __m256d inv = _mm256_set1_pd(hw > 0 ? 1.0 / (double)hw : 0.0);
        __m128 a = _mm256_cvtpd_ps(_mm256_mul_pd(lo, inv));
        __m128 c = _mm256_cvtpd_ps(_mm256_mul_pd(hi, inv));
        _mm256_storeu_ps(y + t * NK_BLK,
                         _mm256_insertf128_ps(_mm256_castps128_ps256(a), c, 1));
    }
}

/* ---- unary activations ------------------------------------------------------ */

static nk_act unary_act(const nk_step *st, float *a0, float *a1)
{
    const nk_node *n = st->node;
    *a0 = *a1 = 0.0f;
    switch (n->op) {
    case NK_OP_RELU:
        return NK_ACT_RELU;
    case NK_OP_CLIP:
        /* opset < 11: attributes; opset >= 11: optional inputs 1 and 2 */
        *a0 = nk_node_float(n, "min", -FLT_MAX);
        *a1 = nk_node_float(n, "max", FLT_MAX);
        if (st->n_in > 1 && st->in[1] && st->in[1]->data)
            *a0 = *(const float *)st->in[1]->data;
        if (st->n_in > 2 && st->in[2] && st->in[2]->data)
            *a1 = *(const float *)st->in[2]->data;
        return NK_ACT_CLIP;
    case NK_OP_LEAKYRELU:
        *a0 = nk_node_float(n, "alpha", 0.01f);
        return NK_ACT_LEAKYRELU;
    case NK_OP_SIGMOID:
        return NK_ACT_SIGMOID;
    case NK_OP_TANH:
        return NK_ACT_TANH;
    case NK_OP_HARDSIGMOID:
        *a0 = nk_node_float(n, "alpha", 0.2f);
        *a1 = nk_node_float(n, "beta", 0.5f);
        return NK_ACT_HARDSIGMOID;
    case NK_OP_HARDSWISH:
        return NK_ACT_HARDSWISH;
    default:
        return NK_ACT_COUNT;
    }
}

bool nk_unaryblk_avx2_supports(const nk_step *st)
{
    if (st->n_in < 1 || !st->in[0] || st->n_out != 1 || !st->out[0])
        return false;
    const nk_tensor *x = st->in[0];
    if (x->dtype != NK_F32 || x->shape.rank != 4 ||
        st->out[0]->dtype != NK_F32 ||
        !nk_shape_equal(&x->shape, &st->out[0]->shape))
        return false;
    float a0, a1;
    if (unary_act(st, &a0, &a1) == NK_ACT_COUNT)
        return false;
    for (int i = 1; i < st->n_in && i <= 2; i++) {
        const nk_tensor *b = st->in[i];
        if (b && (st->node->op != NK_OP_CLIP || b->dtype != NK_F32 ||
                  nk_shape_numel(&b->shape) != 1))
            return false;
    }
    return st->n_in <= 3;
}

void nk_unaryblk_avx2_run(const nk_step *st, int ith, int nth)
{
    float a0, a1;
    nk_act a = unary_act(st, &a0, &a1);
    nk_blk_actv act = nk_blk_actv_make(a, a0, a1);
    const float *x = st->in[0]->data;
    float *y = st->out[0]->data;
    /* every pixel's eight lanes, padding included: finite in, finite out */
    int64_t px = (int64_t)(nk_blk_bytes(&st->out[0]->shape) /
                           (NK_BLK * sizeof(float))), b, e;
    nk_split((px + 1) / 2, ith, nth, &b, &e); /* whole cache lines */
    b *= 2;
    e = e * 2 < px ? e * 2 : px;
    switch (a) {
#define UNARY_CASE(A)                                                    \
    case A:                                                              \
        for (int64_t i = b; i < e; i++)                                  \
            _mm256_storeu_ps(y + i * NK_BLK,                             \
                             nk_blk_act(&act,                            \
                                        _mm256_loadu_ps(x + i * NK_BLK))); \
        break;
        UNARY_CASE(NK_ACT_RELU)
        UNARY_CASE(NK_ACT_CLIP)
        UNARY_CASE(NK_ACT_LEAKYRELU)
        UNARY_CASE(NK_ACT_SIGMOID)
        UNARY_CASE(NK_ACT_TANH)
        UNARY_CASE(NK_ACT_HARDSIGMOID)
        UNARY_CASE(NK_ACT_HARDSWISH)
#undef UNARY_CASE
    default:
        break;
    }
}

/* ---- Add Sub Mul Div ----------------------------------------------------- */

typedef enum { BB_EQUAL, BB_A_CHAN, BB_B_CHAN, BB_A_SCALAR, BB_B_SCALAR } bb_mode;

static bool is_act4(const nk_tensor *t)
{
    return t->dtype == NK_F32 && t->shape.rank == 4 && !t->is_init;
}

/* The case of blocked.h a binary node is, or false. */
static bool bb_classify(const nk_step *st, bb_mode *mode)
{
    if (st->n_in != 2 || !st->in[0] || !st->in[1] || st->n_out != 1 ||
        !st->out[0])
        return false;
    const nk_tensor *a = st->in[0], *b = st->in[1];
    const nk_shape *y = &st->out[0]->shape;
    if (a->dtype != NK_F32 || b->dtype != NK_F32 || y->rank != 4)
        return false;
    if (is_act4(a) && is_act4(b)) {
        if (nk_shape_equal(&a->shape, &b->shape) &&
            nk_shape_equal(&a->shape, y)) {
            *mode = BB_EQUAL;
            return true;
        }
        for (int side = 0; side < 2; side++) {
            const nk_shape *big = side ? &b->shape : &a->shape;
            const nk_shape *ch = side ? &a->shape : &b->shape;
            if (nk_shape_equal(big, y) && ch->d[0] == big->d[0] &&
                ch->d[1] == big->d[1] && ch->d[2] == 1 && ch->d[3] == 1) {
                *mode = side ? BB_A_CHAN : BB_B_CHAN;
                return true;
            }
        }
        return false;
    }
    for (int side = 0; side < 2; side++) {
        const nk_tensor *big = side ? b : a, *sc = side ? a : b;
        if (is_act4(big) && nk_shape_equal(&big->shape, y) && sc->is_init &&
            sc->data && nk_shape_numel(&sc->shape) == 1) {
            *mode = side ? BB_A_SCALAR : BB_B_SCALAR;
            return true;
        }
    }
    return false;
}

bool nk_binaryblk_avx2_supports(const nk_step *st)
{
    bb_mode m;
    switch (st->node->op) {
    case NK_OP_ADD: case NK_OP_SUB: case NK_OP_MUL: case NK_OP_DIV:
        return bb_classify(st, &m);
    default:
        return false;
    }
}

static inline __m256 bb_op(nk_op op, __m256 u, __m256 v)
{
    switch (op) {
    case NK_OP_ADD: return _mm256_add_ps(u, v);
    case NK_OP_SUB: return _mm256_sub_ps(u, v);
    case NK_OP_MUL: return _mm256_mul_ps(u, v);
    default: return _mm256_div_ps(u, v);
    }
}

/* Pixels [p0, p1) of block blk: sa / sb = 1 steps that operand by a
 * pixel, 0 keeps it (a broadcast vector). keep zeroes padding lanes. */
static inline __attribute__((always_inline)) void
bb_span(nk_op op, const float *a, int sa, const float *b, int sb, float *y,
        int64_t n, __m256 keep, const nk_blk_actv *act)
{
    __m256 av = _mm256_loadu_ps(a), bv = _mm256_loadu_ps(b);
    for (int64_t i = 0; i < n; i++) {
        __m256 u = sa ? _mm256_loadu_ps(a + i * NK_BLK) : av;
        __m256 v = sb ? _mm256_loadu_ps(b + i * NK_BLK) : bv;
        __m256 r = nk_blk_act(act, bb_op(op, u, v));
        _mm256_storeu_ps(y + i * NK_BLK, _mm256_and_ps(r, keep));
    }
}

void nk_binaryblk_avx2_run(const nk_step *st, int ith, int nth)
{
    bb_mode mode;
    if (!bb_classify(st, &mode))
        return; /* not reached: supports() said yes at plan time */
    const nk_shape *ys = &st->out[0]->shape;
    const float *a = st->in[0]->data, *b = st->in[1]->data;
    float *y = st->out[0]->data;
    nk_op op = st->node->op;
    nk_blk_actv act = nk_blk_actv_make(st->act, st->act_a0, st->act_a1);
    int64_t c = ys->d[1], cb = nk_blk_cb(c), hw = ys->d[2] * ys->d[3];
    float sa_buf[NK_BLK], sb_buf[NK_BLK];
    if (mode == BB_A_SCALAR) {
        for (int l = 0; l < NK_BLK; l++)
            sa_buf[l] = a[0];
        a = sa_buf;
    } else if (mode == BB_B_SCALAR) {
        for (int l = 0; l < NK_BLK; l++)
            sb_buf[l] = b[0];
        b = sb_buf;
    }
    /* Padding lanes of the last block are written 0 (x / 0 there would
     * be NaN); the other blocks keep every lane. */
    int tail = (int)(c - (cb - 1) * NK_BLK);
    __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256 keep_tail = _mm256_castsi256_ps(
        _mm256_cmpgt_epi32(_mm256_set1_epi32(tail), lane));
    __m256 keep_all = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
    int64_t p, e;
    nk_split(ys->d[0] * cb * hw, ith, nth, &p, &e);
    while (p < e) {
        int64_t blk = p / hw, i0 = p % hw;
        int64_t n = hw - i0 < e - p ? hw - i0 : e - p;
        __m256 keep = blk % cb == cb - 1 ? keep_tail : keep_all;
        size_t at = (size_t)(blk * hw + i0) * NK_BLK;
        const float *pa, *pb;
        int sa = 1, sb = 1;
        switch (mode) {
        case BB_A_CHAN: pa = a + blk * NK_BLK; sa = 0; pb = b + at; break;
        case BB_B_CHAN: pa = a + at; pb = b + blk * NK_BLK; sb = 0; break;
        case BB_A_SCALAR: pa = a; sa = 0; pb = b + at; break;
        case BB_B_SCALAR: pa = a + at; pb = b; sb = 0; break;
        default: pa = a + at; pb = b + at; break;
        }
        if (sa && sb)
            bb_span(op, pa, 1, pb, 1, y + at, n, keep, &act);
        else if (sa)
            bb_span(op, pa, 1, pb, 0, y + at, n, keep, &act);
        else
            bb_span(op, pa, 0, pb, 1, y + at, n, keep, &act);
        p += n;
    }
}
#endif
