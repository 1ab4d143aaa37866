/*
 * conv-fast.h — the packed-GEMM convolution kernel (conv-fast.c): one
 * implementation, instantiated per ISA by the micro-kernel it picks from
 * the kernel row's isa (AVX-512, AVX2+FMA or portable C).
 */
#ifndef NK_CONV_FAST_H
#define NK_CONV_FAST_H

#include "engine/kernel.h"
#include "engine/kernels/gemm-fast.h"

bool nk_conv_fast_supports(const nk_step *st);
nk_status nk_conv_fast_prepare(nk_ctx *ctx, nk_step *st);
void nk_conv_fast_release(nk_step *st);
void nk_conv_fast_run(const nk_step *st, int ith, int nth);

/* The micro-kernel a kernel row of this isa uses. */
const nk_ukr *nk_ukr_for_isa(nk_isa isa);
/* Clamp bounds that implement a (ReLU, Clip); +-inf for the others. */
void nk_act_bounds(nk_act a, float a0, float a1, float *lo, float *hi);

/* Depthwise 3x3 / 5x5, stride 1 or 2, AVX2+FMA (x86/dw-avx2.c). */
bool nk_dw_avx2_supports(const nk_step *st);
nk_status nk_dw_avx2_prepare(nk_ctx *ctx, nk_step *st);
void nk_dw_avx2_run(const nk_step *st, int ith, int nth);

/* Element-wise binary ops and last-axis Softmax, AVX2 (x86/eltwise-avx2.c). */
bool nk_binary_avx2_supports(const nk_step *st);
void nk_binary_avx2_run(const nk_step *st, int ith, int nth);
bool nk_softmax_avx2_supports(const nk_step *st);
void nk_softmax_avx2_run(const nk_step *st, int ith, int nth);

/* Winograd F(4x4, 3x3) for 3x3 stride-1 dilation-1 group-1 convs
 * (conv-winograd.c). Error bound: see docs/performance.md. */
bool nk_conv_winograd_supports(const nk_step *st);
nk_status nk_conv_winograd_prepare(nk_ctx *ctx, nk_step *st);
void nk_conv_winograd_release(nk_step *st);
void nk_conv_winograd_run(const nk_step *st, int ith, int nth);

#endif /* NK_CONV_FAST_H */
