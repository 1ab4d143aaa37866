/*
 * gemm-avx2.c — AVX2+FMA micro-kernel: a 6x16 tile of C in 12 ymm
 * accumulators, fed by packed A (6 rows) and B (16 columns) panels, with
 * the epilogue (bias, residual, clamp) fused before the store. Compiled
 * with -mavx2 -mfma for this file only; called only when cpuid has both.
 */
#include "engine/kernels/gemm-fast.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#include <time.h>

#define ROW(i)                                                            \
    do {                                                                  \
        __m256 av = _mm256_broadcast_ss(a + (i));                         \
        c##i##0 = _mm256_fmadd_ps(av, b0, c##i##0);                       \
        c##i##1 = _mm256_fmadd_ps(av, b1, c##i##1);                       \
    } while (0)

#define EPI(i)                                                            \
    do {                                                                  \
        if (e->bias) {                                                    \
            __m256 bv = _mm256_broadcast_ss(e->bias + (i));               \
            c##i##0 = _mm256_add_ps(c##i##0, bv);                         \
            c##i##1 = _mm256_add_ps(c##i##1, bv);                         \
        }                                                                 \
        if (e->res) {                                                     \
            const float *r = e->res + (i) * e->ldr;                       \
            c##i##0 = _mm256_add_ps(c##i##0, _mm256_loadu_ps(r));         \
            c##i##1 = _mm256_add_ps(c##i##1, _mm256_loadu_ps(r + 8));     \
        }                                                                 \
        c##i##0 = _mm256_min_ps(_mm256_max_ps(c##i##0, lo), hi);          \
        c##i##1 = _mm256_min_ps(_mm256_max_ps(c##i##1, lo), hi);          \
    } while (0)

#define LOAD(i)                                                           \
    do {                                                                  \
        c##i##0 = _mm256_loadu_ps(c + (i) * ldc);                         \
        c##i##1 = _mm256_loadu_ps(c + (i) * ldc + 8);                     \
    } while (0)

#define STORE(i)                                                          \
    do {                                                                  \
        _mm256_storeu_ps(c + (i) * ldc, c##i##0);                         \
        _mm256_storeu_ps(c + (i) * ldc + 8, c##i##1);                     \
    } while (0)

static void ukr_6x16(int kc, const float *a, const float *b, float *c,
                     size_t ldc, int flags, const nk_epilogue *e)
{
    __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    if (flags & NK_UKR_FIRST) {
        c00 = c01 = c10 = c11 = c20 = c21 = _mm256_setzero_ps();
        c30 = c31 = c40 = c41 = c50 = c51 = _mm256_setzero_ps();
    } else {
        LOAD(0); LOAD(1); LOAD(2); LOAD(3); LOAD(4); LOAD(5);
    }
    for (int p = 0; p < kc; p++) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        ROW(0); ROW(1); ROW(2); ROW(3); ROW(4); ROW(5);
        a += 6;
        b += 16;
    }
    if (flags & NK_UKR_LAST) {
        __m256 lo = _mm256_set1_ps(e->lo), hi = _mm256_set1_ps(e->hi);
        EPI(0); EPI(1); EPI(2); EPI(3); EPI(4); EPI(5);
    }
    STORE(0); STORE(1); STORE(2); STORE(3); STORE(4); STORE(5);
}

const nk_ukr nk_ukr_avx2_6x16 = {"avx2_6x16", 6, 16, ukr_6x16};

/* Ten independent FMA chains hide the latency; two FMAs per cycle is the
 * peak of the two 256-bit (or 2x128-bit) pipes. */
double nk_fma_probe_avx2(void)
{
    double best = 0.0;
    for (int rep = 0; rep < 5; rep++) {
        __m256 x[10], m = _mm256_set1_ps(0.999999f), k = _mm256_set1_ps(1e-7f);
        for (int i = 0; i < 10; i++)
            x[i] = _mm256_set1_ps((float)i);
        const long iters = 2000000;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (long it = 0; it < iters; it++)
            for (int i = 0; i < 10; i++)
                x[i] = _mm256_fmadd_ps(x[i], m, k);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        __m256 s = x[0];
        for (int i = 1; i < 10; i++)
            s = _mm256_add_ps(s, x[i]);
        volatile float sink = _mm256_cvtss_f32(s);
        (void)sink;
        double sec = (double)(t1.tv_sec - t0.tv_sec) +
                     1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        double gf = (double)iters * 10 * 16 / sec * 1e-9;
        if (gf > best)
            best = gf;
    }
    return best;
}
#endif
