/*
 * blocked-avx2.h — vector helpers shared by the NCHW8c AVX2 kernels
 * (dwconv-blocked-avx2.c, eltwise-blocked-avx2.c): every nk_act on eight
 * floats in registers, with exp, sigmoid and tanh as Cephes polynomials
 * (~2 ulp). Include only from files compiled with -mavx2 -mfma.
 */
#ifndef NK_BLOCKED_AVX2_H
#define NK_BLOCKED_AVX2_H

#include "engine/kernels/blocked.h"
#include "engine/ops/conv-impl.h" /* nk_conv_geom */

#include <immintrin.h>

/* exp(x) for x <= 0: range reduction by ln 2, degree-5 polynomial (Cephes
 * expf); 0 below -87.3. */
static inline __m256 nk_blk_exp_neg(__m256 x)
{
    const __m256 lo = _mm256_set1_ps(-87.3f);
    __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_max_ps(x, lo);
    __m256 fx = _mm256_round_ps(
        _mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 z = _mm256_mul_ps(x, x);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, z, _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(
        _mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
    y = _mm256_mul_ps(y, _mm256_castsi256_ps(e));
    return _mm256_andnot_ps(under, y);
}

static inline __m256 nk_blk_abs(__m256 x)
{
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
}

/* 1 / (1 + exp(-x)) from z = exp(-|x|) <= 1: no overflow either side;
 * NaN stays NaN. */
static inline __m256 nk_blk_sigmoid(__m256 x)
{
    __m256 z = nk_blk_exp_neg(_mm256_sub_ps(_mm256_setzero_ps(),
                                            nk_blk_abs(x)));
    __m256 r = _mm256_div_ps(_mm256_set1_ps(1.0f),
                             _mm256_add_ps(_mm256_set1_ps(1.0f), z));
    __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    r = _mm256_blendv_ps(r, _mm256_mul_ps(z, r), neg);
    return _mm256_blendv_ps(r, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

/* tanh: Cephes tanhf, an odd polynomial below |x| 0.625, else
 * 1 - 2 / (exp(2|x|) + 1) written with exp(-2|x|); sign restored. */
static inline __m256 nk_blk_tanh(__m256 x)
{
    __m256 ax = nk_blk_abs(x), sign = _mm256_and_ps(x, _mm256_set1_ps(-0.0f));
    __m256 z = _mm256_mul_ps(x, x);
    __m256 p = _mm256_set1_ps(-5.70498872745e-3f);
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954e-2f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
    __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
    __m256 e = nk_blk_exp_neg(_mm256_mul_ps(ax, _mm256_set1_ps(-2.0f)));
    __m256 big = _mm256_div_ps(_mm256_sub_ps(_mm256_set1_ps(1.0f), e),
                               _mm256_add_ps(_mm256_set1_ps(1.0f), e));
    big = _mm256_or_ps(big, sign);
    __m256 r = _mm256_blendv_ps(
        big, small, _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
    return _mm256_blendv_ps(r, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

/* An activation with its arguments broadcast once. */
typedef struct nk_blk_actv {
    nk_act act;
    __m256 a0, a1;
} nk_blk_actv;

static inline nk_blk_actv nk_blk_actv_make(nk_act a, float a0, float a1)
{
    nk_blk_actv v = {a, _mm256_set1_ps(a0), _mm256_set1_ps(a1)};
    if (a == NK_ACT_RELU) {
        v.a0 = _mm256_setzero_ps();
        v.a1 = _mm256_set1_ps(__builtin_inff());
    } else if (a == NK_ACT_NONE) {
        /* a clamp to +-inf: the identity, NaN included */
        v.a0 = _mm256_set1_ps(-__builtin_inff());
        v.a1 = _mm256_set1_ps(__builtin_inff());
    }
    return v;
}

/* min(max(v, lo), hi) as the reference's clampf: NaN passes, hi wins. */
static inline __m256 nk_blk_clamp(__m256 v, __m256 lo, __m256 hi)
{
    return _mm256_min_ps(hi, _mm256_max_ps(lo, v));
}

/* None, Relu and Clip: a clamp to the bounds nk_blk_actv_make set. */
_Static_assert(NK_ACT_NONE == 0 && NK_ACT_RELU == 1 && NK_ACT_CLIP == 2,
               "the clamp activations come first in nk_act");
static inline bool nk_blk_act_is_clamp(nk_act a)
{
    return a <= NK_ACT_CLIP;
}

/* act(v), as nk_act_apply computes it (activation.c). None, Relu and
 * Clip are one clamp behind one compare: the switch's indirect jump per
 * vector cost ~20% of a 3x3 depthwise row. */
static inline __m256 nk_blk_act(const nk_blk_actv *p, __m256 v)
{
    if (__builtin_expect(nk_blk_act_is_clamp(p->act), 1))
        return nk_blk_clamp(v, p->a0, p->a1);
    switch (p->act) {
    case NK_ACT_LEAKYRELU:
        return _mm256_blendv_ps(
            _mm256_mul_ps(p->a0, v), v,
            _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GE_OQ));
    case NK_ACT_HARDSIGMOID:
        return nk_blk_clamp(_mm256_add_ps(_mm256_mul_ps(p->a0, v), p->a1),
                            _mm256_setzero_ps(), _mm256_set1_ps(1.0f));
    case NK_ACT_HARDSWISH:
        return _mm256_mul_ps(
            v, nk_blk_clamp(_mm256_add_ps(
                                _mm256_mul_ps(v, _mm256_set1_ps(1.0f / 6.0f)),
                                _mm256_set1_ps(0.5f)),
                            _mm256_setzero_ps(), _mm256_set1_ps(1.0f)));
    case NK_ACT_SIGMOID:
        return nk_blk_sigmoid(v);
    case NK_ACT_TANH:
        return nk_blk_tanh(v);
    default:
        return v;
    }
}

/* ---- The parts of the blocked conv and depthwise kernels that fused
 * depthwise chains (dwchain-avx2.c) run on their own rows. */

/* Window rows [*ky0, *ky1) of output row oy that fall inside the image
 * (ky0 == ky1: none). */
static inline void nk_dw_window(const nk_conv_geom *g, int64_t oy,
                                int64_t *ky0, int64_t *ky1)
{
    const int64_t iy0 = oy * g->sh - g->pt, dh = g->dh;
    int64_t k0 = iy0 < 0 ? (-iy0 + dh - 1) / dh : 0;
    int64_t k1 = g->h - 1 - iy0 < 0 ? 0 : (g->h - 1 - iy0) / dh + 1;
    if (k1 > g->kh)
        k1 = g->kh;
    if (k0 > k1)
        k0 = k1;
    *ky0 = k0;
    *ky1 = k1;
}

/* Output row oy of channel block blk of a prepared depthwise step
 * (params = its st->params) into yr (OW x 8 floats), bias and act
 * applied. x0 is the first window row inside the image (column 0); the
 * window's next rows follow dh * W * 8 floats apart. */
typedef void nk_dwblk_row_fn(const void *params, const float *x0,
                             int64_t blk, int64_t oy, float *yr,
                             const nk_blk_actv *act);
nk_dwblk_row_fn *nk_dwblk_avx2_row_fn(const nk_step *st);

/* True when the blocked conv prepared st as a pointwise conv (1x1,
 * stride 1, no padding) on NCHW8c input. */
bool nk_convblk_avx2_is_pointwise(const nk_step *st);
/* That conv on npix consecutive pixels: x is their channel block 0 and
 * its blocks are xcbs floats apart; every output block is written to y
 * (blocks ycbs floats apart) with bias, st->residual's values at the
 * same offsets from res (NULL: none) and st->act. Thread-safe. */
void nk_convblk_avx2_pointwise(const nk_step *st, const float *x,
                               int64_t xcbs, float *y, int64_t ycbs,
                               const float *res, int64_t npix);

#endif /* NK_BLOCKED_AVX2_H */
