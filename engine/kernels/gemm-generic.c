/*
 * gemm-generic.c — the portable 4x8 micro-kernel with the same packed
 * panel format and fused epilogue as the x86 ones: the fallback of the
 * fast convolution driver and a reference for the micro-kernel contract.
 */
#include "engine/kernels/gemm-fast.h"

static void ukr_4x8(int kc, const float *a, const float *b, float *c,
                    size_t ldc, int flags, const nk_epilogue *e)
{
    float acc[4][8];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++)
            acc[i][j] = (flags & NK_UKR_FIRST) ? 0.0f : c[i * ldc + j];
    for (int p = 0; p < kc; p++) {
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 8; j++)
                acc[i][j] += a[i] * b[j];
        a += 4;
        b += 8;
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++) {
            float v = acc[i][j];
            if (flags & NK_UKR_LAST) {
                if (e->bias)
                    v += e->bias[i];
                if (e->res)
                    v += e->res[i * e->ldr + j];
                v = v < e->lo ? e->lo : v;
                v = v > e->hi ? e->hi : v;
            }
            c[i * ldc + j] = v;
        }
}

const nk_ukr nk_ukr_generic_4x8 = {"generic_4x8", 4, 8, ukr_4x8};
