/*
 * gemm.h — single-precision matrix multiply used by Conv (via im2col) and
 * Gemm/MatMul: C = alpha * op(A) * op(B) + beta * C, row-major.
 */
#ifndef NK_GEMM_H
#define NK_GEMM_H

#include <stddef.h>

/* Plain triple loop (the oracle). */
void nk_sgemm_ref(int trans_a, int trans_b, int m, int n, int k, float alpha,
                  const float *a, int lda, const float *b, int ldb,
                  float beta, float *c, int ldc);

/* Cache-blocked, packed GEMM. Thread ith of nth computes its share of the
 * columns of C; work must hold nk_sgemm_work_bytes(nth) bytes, and each
 * thread uses its own slice. */
size_t nk_sgemm_work_bytes(int nth);
void nk_sgemm_blocked(int trans_a, int trans_b, int m, int n, int k,
                      float alpha, const float *a, int lda, const float *b,
                      int ldb, float beta, float *c, int ldc, void *work,
                      int ith, int nth);

#endif /* NK_GEMM_H */
