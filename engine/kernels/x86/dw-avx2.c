/*
 * dw-avx2.c — depthwise 3x3 and 5x5 convolution (stride 1 or 2, dilation
 * 1) with AVX2+FMA: eight output columns per vector, every tap of the
 * window accumulated in one register, bias and ReLU/ReLU6 applied before
 * the store (other activations on the row while it is in L1). Stride 2
 * splits even and odd input columns with two shuffles. Compiled with
 * -mavx2 -mfma for this file only.
 */
#include "engine/kernels/kernels-impl.h"
#include "engine/kernels/conv-fast.h"
#include "engine/ops/conv-impl.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

bool nk_dw_avx2_supports(const nk_step *st)
{
    if (!nk_conv_depthwise_supports(st) || st->training ||
        !nk_conv_weights_const(st))
        return false;
    nk_conv_geom g;
    if (nk_conv_geom_from_node(NULL, st->node, &st->in[0]->shape,
                               &st->in[1]->shape, &g) != NK_OK)
        return false;
    return g.kh == g.kw && (g.kh == 3 || g.kh == 5) && g.sh == g.sw &&
           (g.sh == 1 || g.sh == 2) && g.dh == 1 && g.dw == 1 && g.m == g.c;
}

/* Even (0,2,..,14) or odd (1,3,..,15) elements of p[0..16). */
static inline __m256 deint(const float *p, int odd)
{
    __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    __m256 s = odd ? _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))
                   : _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(
        _mm256_permute4x64_pd(_mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
}

/* Padded copy of one input plane: rows -pt .. , columns -pl .. , zeros
 * outside the image, wide enough that every output vector (and the
 * 16-float loads of stride 2) reads inside it. */
static void pad_dims(const nk_conv_geom *g, int64_t *hp, int64_t *wp)
{
    int64_t ow8 = (g->ow + 7) / 8 * 8;
    *hp = (g->oh - 1) * g->sh + g->kh;
    *wp = ow8 * g->sw + g->kw + 16;
}

nk_status nk_dw_avx2_prepare(nk_ctx *ctx, nk_step *st)
{
    nk_status s = nk_conv_prepare(ctx, st);
    if (s != NK_OK)
        return s;
    nk_conv_params *p = st->params;
    int64_t hp, wp;
    pad_dims(&p->g, &hp, &wp);
    p->slots = nk_kernel_slots(st);
    p->slot_bytes = ((size_t)hp * (size_t)wp * sizeof(float) + 63) / 64 * 64;
    st->work_bytes = p->slot_bytes * (size_t)p->slots;
    return NK_OK;
}

void nk_dw_avx2_run(const nk_step *st, int ith, int nth)
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
    int k = (int)g->kh, s = (int)g->sh;
    int64_t H = g->h, W = g->w, OW = g->ow, hp, wp;
    pad_dims(g, &hp, &wp);
    float *buf = (float *)((uint8_t *)st->work + p->slot_bytes * (size_t)ith);
    memset(buf, 0, (size_t)hp * (size_t)wp * sizeof(float));
    /* Image rows/columns that land inside the padded buffer. */
    int64_t r0 = g->pt, c0 = g->pl;
    int64_t rows = H < hp - r0 ? H : hp - r0;
    int64_t cols = W < wp - c0 ? W : wp - c0;
    float lo, hi;
    nk_act_bounds(st->act, st->act_a0, st->act_a1, &lo, &hi);
    bool in_reg = st->act == NK_ACT_NONE || st->act == NK_ACT_RELU ||
                  st->act == NK_ACT_CLIP;
    __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    int64_t b, e;
    nk_split(g->n * g->c, ith, active, &b, &e);
    for (int64_t t = b; t < e; t++) {
        int64_t c = t % g->c;
        const float *xp = x + t * H * W;
        for (int64_t r = 0; r < rows; r++)
            memcpy(buf + (r + r0) * wp + c0, xp + r * W,
                   (size_t)cols * sizeof(float));
        const float *wk = w + c * k * k;
        float *yp = y + t * g->oh * OW;
        __m256 bv = _mm256_set1_ps(bias ? bias[c] : 0.0f);
        __m256 wv[25];
        for (int i = 0; i < k * k; i++)
            wv[i] = _mm256_set1_ps(wk[i]);
        for (int64_t oy = 0; oy < g->oh; oy++) {
            float *yr = yp + oy * OW;
            const float *br = buf + oy * s * wp;
            for (int64_t ox = 0; ox < OW; ox += 8) {
                __m256 acc = bv;
                for (int ky = 0; ky < k; ky++) {
                    const float *rr = br + ky * wp + ox * s;
                    const __m256 *wr = wv + ky * k;
                    if (s == 1) {
                        for (int kx = 0; kx < k; kx++)
                            acc = _mm256_fmadd_ps(
                                wr[kx], _mm256_loadu_ps(rr + kx), acc);
                    } else {
                        for (int kx = 0; kx < k; kx++)
                            acc = _mm256_fmadd_ps(
                                wr[kx], deint(rr + (kx / 2) * 2, kx & 1),
                                acc);
                    }
                }
                if (in_reg)
                    acc = _mm256_min_ps(_mm256_max_ps(acc, vlo), vhi);
                if (ox + 8 <= OW) {
                    _mm256_storeu_ps(yr + ox, acc);
                } else {
                    float tmp[8];
                    _mm256_storeu_ps(tmp, acc);
                    memcpy(yr + ox, tmp, (size_t)(OW - ox) * sizeof(float));
                }
            }
            if (!in_reg)
                nk_act_apply(st->act, st->act_a0, st->act_a1, yr,
                             (size_t)OW);
        }
    }
}
#endif
