/*
 * gemm-fast.h — register-blocked f32 GEMM micro-kernels (AVX2+FMA 6x16,
 * AVX-512 12x32) over packed panels, and the fused epilogue they apply to
 * the output tile while it is still in registers (bias, residual, clamp).
 */
#ifndef NK_GEMM_FAST_H
#define NK_GEMM_FAST_H

#include <stddef.h>

/* Micro-kernel flags: FIRST = start from zero (do not load C); LAST = the
 * last depth block: add bias and residual, clamp, then store. */
#define NK_UKR_FIRST 1
#define NK_UKR_LAST 2

typedef struct nk_epilogue {
    const float *bias; /* MR values (one per row of the tile) or NULL */
    const float *res;  /* residual tile, row stride ldr, or NULL */
    size_t ldr;
    float lo, hi;      /* clamp (ReLU: 0, +inf; ReLU6: 0, 6; none: +-inf) */
} nk_epilogue;

/* C[MR x NR] (row stride ldc) (+)= A-strip x B-strip: a holds kc groups of
 * MR values (one per row), b holds kc groups of NR values (one per column).
 * Full tiles only; the driver handles edges through a scratch tile. */
typedef void (*nk_ukr_fn)(int kc, const float *a, const float *b, float *c,
                          size_t ldc, int flags, const nk_epilogue *e);

typedef struct nk_ukr {
    const char *name;
    int mr, nr;
    nk_ukr_fn fn;
} nk_ukr;

/* Defined only in x86-64 builds (per-file -mavx2 / -mavx512f flags). The
 * caller must have checked the CPU (nk_cpu_detect) before calling them. */
extern const nk_ukr nk_ukr_avx2_6x16;
extern const nk_ukr nk_ukr_avx512_12x32;
/* Portable C micro-kernel (4x8), used by tests and as a fallback. */
extern const nk_ukr nk_ukr_generic_4x8;

/* Measured FMA throughput of one core in GFLOP/s with the widest vector
 * unit the CPU has (best of a few short runs). */
double nk_fma_probe_avx2(void);
double nk_fma_probe_avx512(void);

#endif /* NK_GEMM_FAST_H */
