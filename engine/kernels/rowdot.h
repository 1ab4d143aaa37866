/*
 * rowdot.h — "skinny" products where every output is one dot product of
 * two contiguous rows: Gemm with a constant B (FC layers; B^T packed at
 * plan time when transB = 0) and 1x1 Conv on a 1x1 map (squeeze-excite
 * blocks), for few rows (the batch). Plan-time setup in rowdot.c, the
 * AVX2+FMA run in x86/rowdot-avx2.c.
 */
#ifndef NK_ROWDOT_H
#define NK_ROWDOT_H

#include "engine/kernel.h"

typedef struct nk_rowdot {
    int64_t rows, cols, k;  /* y[rows][cols] = A[rows][k] . W[cols][k] */
    float *wpack;           /* owned W when packed, else NULL */
    float alpha, beta;
    int64_t c_rs, c_cs;     /* strides of the added bias C; 0 = broadcast */
} nk_rowdot;

bool nk_rowdot_gemm_supports(const nk_step *st);
nk_status nk_rowdot_gemm_prepare(nk_ctx *ctx, nk_step *st);
bool nk_rowdot_conv_supports(const nk_step *st);
nk_status nk_rowdot_conv_prepare(nk_ctx *ctx, nk_step *st);
void nk_rowdot_release(nk_step *st);
void nk_rowdot_avx2_run(const nk_step *st, int ith, int nth);

#endif /* NK_ROWDOT_H */
