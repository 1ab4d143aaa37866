/*
 * rowdot-avx2.c — the run half of the row-dot kernels (rowdot.h) with
 * AVX2+FMA: four output columns at a time, so each row of A is loaded
 * once per four rows of W, W streamed once per output row block; bias,
 * residual and activation applied to each result. -mavx2 -mfma here only.
 */
#include "engine/kernels/rowdot.h"
#include "engine/kernels/conv-fast.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

static inline float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v),
                          _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

void nk_rowdot_avx2_run(const nk_step *st, int ith, int nth)
{
    const nk_rowdot *p = st->params;
    const float *a = st->in[0]->data;
    const float *w = p->wpack ? p->wpack : (const float *)st->in[1]->data;
    const float *c =
        st->n_in > 2 && st->in[2] ? (const float *)st->in[2]->data : NULL;
    const float *res = st->residual ? st->residual->data : NULL;
    float *y = st->out[0]->data;
    int64_t k = p->k, cols = p->cols;
    float lo, hi;
    nk_act_bounds(st->act, st->act_a0, st->act_a1, &lo, &hi);
    bool in_reg = st->act == NK_ACT_NONE || st->act == NK_ACT_RELU ||
                  st->act == NK_ACT_CLIP;
    /* Columns in blocks of four, split across threads. */
    int64_t blocks = (cols + 3) / 4, b, e;
    nk_split(blocks, ith, nth, &b, &e);
    for (int64_t jb = b; jb < e; jb++) {
        int64_t j0 = jb * 4, nj = cols - j0 < 4 ? cols - j0 : 4;
        const float *w0 = w + j0 * k;
        const float *w1 = nj > 1 ? w0 + k : w0, *w2 = nj > 2 ? w0 + 2 * k : w0;
        const float *w3 = nj > 3 ? w0 + 3 * k : w0;
        for (int64_t i = 0; i < p->rows; i++) {
            const float *ar = a + i * k;
            __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
            int64_t q = 0;
            for (; q + 8 <= k; q += 8) {
                __m256 av = _mm256_loadu_ps(ar + q);
                s0 = _mm256_fmadd_ps(av, _mm256_loadu_ps(w0 + q), s0);
                s1 = _mm256_fmadd_ps(av, _mm256_loadu_ps(w1 + q), s1);
                s2 = _mm256_fmadd_ps(av, _mm256_loadu_ps(w2 + q), s2);
                s3 = _mm256_fmadd_ps(av, _mm256_loadu_ps(w3 + q), s3);
            }
            float r[4] = {hsum(s0), hsum(s1), hsum(s2), hsum(s3)};
            for (; q < k; q++) {
                r[0] += ar[q] * w0[q];
                r[1] += ar[q] * w1[q];
                r[2] += ar[q] * w2[q];
                r[3] += ar[q] * w3[q];
            }
            for (int64_t jj = 0; jj < nj; jj++) {
                int64_t j = j0 + jj;
                float v = p->alpha * r[jj];
                if (c)
                    v += p->beta * c[i * p->c_rs + j * p->c_cs];
                if (res)
                    v += res[i * cols + j];
                if (in_reg) {
                    v = v < lo ? lo : v;
                    v = v > hi ? hi : v;
                } else {
                    nk_act_apply(st->act, st->act_a0, st->act_a1, &v, 1);
                }
                y[i * cols + j] = v;
            }
        }
    }
}
#endif
