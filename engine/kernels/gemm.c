/*
 * gemm.c — single-precision GEMM: the plain triple loop (the oracle) and a
 * cache-blocked version with packed panels and a register-blocked MRxNR
 * micro-kernel in plain C that gcc -O3 vectorises for baseline x86-64.
 */
#include "engine/kernels/gemm.h"

#include <stdint.h>
#include <string.h>

/* Register block (MR rows x NR columns of C held in the accumulators;
 * 4x8 fits the 16 SSE registers of baseline x86-64 without spills) and
 * cache blocks: an MCxKC panel of A stays in L2, a KCxNC panel of B is
 * streamed NR columns at a time from L2/L3. */
#define MR 4
#define NR 8
#define MC 96
#define KC 256
#define NC 1024
#define ALIGN 64

size_t nk_sgemm_work_bytes(int nth)
{
    size_t per = ((size_t)MC * KC + (size_t)KC * NC) * sizeof(float) + ALIGN;
    return per * (size_t)(nth > 0 ? nth : 1);
}

void nk_sgemm_ref(int trans_a, int trans_b, int m, int n, int k, float alpha,
                  const float *a, int lda, const float *b, int ldb,
                  float beta, float *c, int ldc)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double acc = 0.0;
            for (int p = 0; p < k; p++) {
                float av = trans_a ? a[(size_t)p * lda + i]
                                   : a[(size_t)i * lda + p];
                float bv = trans_b ? b[(size_t)j * ldb + p]
                                   : b[(size_t)p * ldb + j];
                acc += (double)av * bv;
            }
            float *cp = &c[(size_t)i * ldc + j];
            *cp = (float)(alpha * acc + (beta == 0.0f ? 0.0f : beta * *cp));
        }
}

/* Pack rows [i0, i0+mc) x depth [p0, p0+kc) of op(A) into MR-row strips:
 * strip s holds kc groups of MR values; rows past m are zero. */
static void pack_a(int trans_a, const float *a, int lda, int i0, int mc,
                   int p0, int kc, float *dst)
{
    for (int s = 0; s < mc; s += MR) {
        int rows = mc - s < MR ? mc - s : MR;
        for (int p = 0; p < kc; p++) {
            for (int r = 0; r < rows; r++) {
                size_t i = (size_t)(i0 + s + r), q = (size_t)(p0 + p);
                dst[r] = trans_a ? a[q * lda + i] : a[i * lda + q];
            }
            for (int r = rows; r < MR; r++)
                dst[r] = 0.0f;
            dst += MR;
        }
    }
}

/* Pack depth [p0, p0+kc) x columns [j0, j0+nc) of op(B) into NR-column
 * strips; columns past n are zero. */
static void pack_b(int trans_b, const float *b, int ldb, int p0, int kc,
                   int j0, int nc, float *dst)
{
    for (int s = 0; s < nc; s += NR) {
        int cols = nc - s < NR ? nc - s : NR;
        for (int p = 0; p < kc; p++) {
            size_t q = (size_t)(p0 + p);
            if (!trans_b && cols == NR) {
                memcpy(dst, b + q * ldb + j0 + s, NR * sizeof(float));
            } else {
                for (int c = 0; c < cols; c++) {
                    size_t j = (size_t)(j0 + s + c);
                    dst[c] = trans_b ? b[j * ldb + q] : b[q * ldb + j];
                }
                for (int c = cols; c < NR; c++)
                    dst[c] = 0.0f;
            }
            dst += NR;
        }
    }
}

/* C[0..mr, 0..nr) += alpha * (packed A strip) x (packed B strip). The
 * fixed-size accumulator is what the compiler keeps in vector registers. */
static void micro_kernel(int kc, const float *restrict ap,
                         const float *restrict bp, float *restrict c,
                         int ldc, int mr, int nr, float alpha)
{
    float acc[MR][NR];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++)
            acc[i][j] = 0.0f;
    for (int p = 0; p < kc; p++) {
        const float *bv = bp + (size_t)p * NR;
        const float *av = ap + (size_t)p * MR;
        for (int i = 0; i < MR; i++) {
            float a = av[i];
            for (int j = 0; j < NR; j++)
                acc[i][j] += a * bv[j];
        }
    }
    if (mr == MR && nr == NR) {
        for (int i = 0; i < MR; i++) {
            float *cr = c + (size_t)i * ldc;
            for (int j = 0; j < NR; j++)
                cr[j] += alpha * acc[i][j];
        }
    } else {
        for (int i = 0; i < mr; i++) {
            float *cr = c + (size_t)i * ldc;
            for (int j = 0; j < nr; j++)
                cr[j] += alpha * acc[i][j];
        }
    }
}

void nk_sgemm_blocked(int trans_a, int trans_b, int m, int n, int k,
                      float alpha, const float *a, int lda, const float *b,
                      int ldb, float beta, float *c, int ldc, void *work,
                      int ith, int nth)
{
    if (nth < 1)
        nth = 1;
    /* Columns split in NR-wide units so strips never straddle threads. */
    int64_t units = (n + NR - 1) / NR, ub, ue;
    {
        int64_t q = units / nth, r = units % nth;
        ub = ith * q + (ith < r ? ith : r);
        ue = ub + q + (ith < r ? 1 : 0);
    }
    int jb = (int)(ub * NR), je = (int)(ue * NR);
    if (je > n)
        je = n;
    if (jb >= je || m <= 0)
        return;

    /* beta first, so the k-blocks below only accumulate. */
    for (int i = 0; i < m; i++) {
        float *cr = c + (size_t)i * ldc;
        if (beta == 0.0f)
            memset(cr + jb, 0, (size_t)(je - jb) * sizeof(float));
        else if (beta != 1.0f)
            for (int j = jb; j < je; j++)
                cr[j] *= beta;
    }
    if (k <= 0 || alpha == 0.0f)
        return;

    size_t per = nk_sgemm_work_bytes(1);
    uintptr_t base = (uintptr_t)work + per * (size_t)ith;
    base = (base + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
    float *pa = (float *)base;
    float *pb = pa + (size_t)MC * KC;

    for (int j0 = jb; j0 < je; j0 += NC) {
        int nc = je - j0 < NC ? je - j0 : NC;
        for (int p0 = 0; p0 < k; p0 += KC) {
            int kc = k - p0 < KC ? k - p0 : KC;
            pack_b(trans_b, b, ldb, p0, kc, j0, nc, pb);
            for (int i0 = 0; i0 < m; i0 += MC) {
                int mc = m - i0 < MC ? m - i0 : MC;
                pack_a(trans_a, a, lda, i0, mc, p0, kc, pa);
                for (int js = 0; js < nc; js += NR) {
                    int nr = nc - js < NR ? nc - js : NR;
                    const float *bs = pb + (size_t)js * kc;
                    for (int is = 0; is < mc; is += MR) {
                        int mr = mc - is < MR ? mc - is : MR;
                        micro_kernel(kc, pa + (size_t)is * kc, bs,
                                     c + (size_t)(i0 + is) * ldc + j0 + js,
                                     ldc, mr, nr, alpha);
                    }
                }
            }
        }
    }
}
