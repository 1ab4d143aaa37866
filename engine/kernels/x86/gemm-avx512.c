/*
 * gemm-avx512.c — AVX-512F micro-kernel: a 12x32 tile of C in 24 zmm
 * accumulators over packed A (12 rows) and B (32 columns) panels, with the
 * fused epilogue. Compiled with -mavx512f for this file only; selected
 * only when cpuid reports AVX-512F (and the OS saves the zmm state).
 */
#include "engine/kernels/gemm-fast.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#include <time.h>

#define MR 12
#define NR 32

static void ukr_12x32(int kc, const float *a, const float *b, float *c,
                      size_t ldc, int flags, const nk_epilogue *e)
{
    __m512 acc[MR][2];
    if (flags & NK_UKR_FIRST) {
        for (int i = 0; i < MR; i++)
            acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    } else {
        for (int i = 0; i < MR; i++) {
            acc[i][0] = _mm512_loadu_ps(c + i * ldc);
            acc[i][1] = _mm512_loadu_ps(c + i * ldc + 16);
        }
    }
    for (int p = 0; p < kc; p++) {
        __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
        for (int i = 0; i < MR; i++) {
            __m512 av = _mm512_set1_ps(a[i]);
            acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
        }
        a += MR;
        b += NR;
    }
    if (flags & NK_UKR_LAST) {
        __m512 lo = _mm512_set1_ps(e->lo), hi = _mm512_set1_ps(e->hi);
        for (int i = 0; i < MR; i++) {
            for (int h = 0; h < 2; h++) {
                __m512 v = acc[i][h];
                if (e->bias)
                    v = _mm512_add_ps(v, _mm512_set1_ps(e->bias[i]));
                if (e->res)
                    v = _mm512_add_ps(
                        v, _mm512_loadu_ps(e->res + i * e->ldr + 16 * h));
                acc[i][h] = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
            }
        }
    }
    for (int i = 0; i < MR; i++) {
        _mm512_storeu_ps(c + i * ldc, acc[i][0]);
        _mm512_storeu_ps(c + i * ldc + 16, acc[i][1]);
    }
}

const nk_ukr nk_ukr_avx512_12x32 = {"avx512_12x32", MR, NR, ukr_12x32};

double nk_fma_probe_avx512(void)
{
    double best = 0.0;
    for (int rep = 0; rep < 5; rep++) {
        __m512 x[12], m = _mm512_set1_ps(0.999999f), k = _mm512_set1_ps(1e-7f);
        for (int i = 0; i < 12; i++)
            x[i] = _mm512_set1_ps((float)i);
        const long iters = 1000000;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (long it = 0; it < iters; it++)
            for (int i = 0; i < 12; i++)
                x[i] = _mm512_fmadd_ps(x[i], m, k);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        __m512 s = x[0];
        for (int i = 1; i < 12; i++)
            s = _mm512_add_ps(s, x[i]);
        volatile float sink = _mm512_reduce_add_ps(s);
        (void)sink;
        double sec = (double)(t1.tv_sec - t0.tv_sec) +
                     1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        double gf = (double)iters * 12 * 32 / sec * 1e-9;
        if (gf > best)
            best = gf;
    }
    return best;
}
#endif
