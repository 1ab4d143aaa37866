/*
 * kernels-impl.h — prototypes of the kernel functions that the kernel
 * table (table.c) names. Each family's functions live in its own file:
 * engine/ops/<family>.c for reference kernels, engine/kernels/ for the
 * optimised ones.
 */
#ifndef NK_KERNELS_IMPL_H
#define NK_KERNELS_IMPL_H

#include "engine/kernel.h"

/* Frees st->params with nk_free (shared release function). */
void nk_kernel_release_params(nk_step *st);

/* conv.c (reference) and kernels/conv-gemm.c (im2col + blocked GEMM) */
nk_status nk_conv_prepare(nk_ctx *ctx, nk_step *st);
void nk_conv2d_nchw_ref(const nk_step *st, int ith, int nth);
nk_status nk_conv_gemm_prepare(nk_ctx *ctx, nk_step *st);
void nk_conv2d_im2col_gemm(const nk_step *st, int ith, int nth);
bool nk_conv_depthwise_supports(const nk_step *st);
void nk_conv2d_depthwise(const nk_step *st, int ith, int nth);

/* batchnorm.c */
nk_status nk_batchnorm_prepare(nk_ctx *ctx, nk_step *st);
void nk_batchnorm_ref(const nk_step *st, int ith, int nth);

/* activation.c: Relu Clip LeakyRelu Sigmoid Tanh HardSigmoid HardSwish */
nk_status nk_unary_prepare(nk_ctx *ctx, nk_step *st);
void nk_unary_ref(const nk_step *st, int ith, int nth);
/* Clip on i64 i32 u8 i8 (bounds: integer scalars of the same dtype) */
nk_status nk_clip_int_prepare(nk_ctx *ctx, nk_step *st);
void nk_clip_int_ref(const nk_step *st, int ith, int nth);

/* binary.c: Add Sub Mul Div with broadcasting */
nk_status nk_binary_prepare(nk_ctx *ctx, nk_step *st);
void nk_binary_ref(const nk_step *st, int ith, int nth);
/* the same ops on i64 i32 u8 i8 (wrapping; x / 0 = 0) */
bool nk_binary_int_supports(const nk_step *st);
void nk_binary_int_ref(const nk_step *st, int ith, int nth);

/* matmul.c: MatMul and Gemm */
nk_status nk_matmul_prepare(nk_ctx *ctx, nk_step *st);
void nk_matmul_ref(const nk_step *st, int ith, int nth);
void nk_matmul_blocked(const nk_step *st, int ith, int nth);
nk_status nk_gemm_prepare(nk_ctx *ctx, nk_step *st);
void nk_gemm_ref(const nk_step *st, int ith, int nth);
void nk_gemm_blocked(const nk_step *st, int ith, int nth);

/* pool.c: MaxPool AveragePool GlobalAveragePool */
nk_status nk_pool_prepare(nk_ctx *ctx, nk_step *st);
void nk_maxpool_ref(const nk_step *st, int ith, int nth);
void nk_avgpool_ref(const nk_step *st, int ith, int nth);
void nk_globalavgpool_ref(const nk_step *st, int ith, int nth);
/* kernels/pool-fast.c: vectorisable MaxPool (no indices) and GAP */
bool nk_maxpool_fast_supports(const nk_step *st);
/* Conv weight and bias are initializers with data (kernels that pack). */
bool nk_conv_weights_const(const nk_step *st);
nk_status nk_maxpool_fast_prepare(nk_ctx *ctx, nk_step *st);
void nk_maxpool_fast(const nk_step *st, int ith, int nth);
void nk_globalavgpool_fast(const nk_step *st, int ith, int nth);

/* shape.c: Flatten Reshape Identity (copy), Transpose, Concat, Pad */
void nk_copy_ref(const nk_step *st, int ith, int nth);
nk_status nk_transpose_prepare(nk_ctx *ctx, nk_step *st);
void nk_transpose_ref(const nk_step *st, int ith, int nth);
nk_status nk_concat_prepare(nk_ctx *ctx, nk_step *st);
void nk_concat_ref(const nk_step *st, int ith, int nth);
nk_status nk_pad_prepare(nk_ctx *ctx, nk_step *st);
void nk_pad_ref(const nk_step *st, int ith, int nth);

/* softmax.c */
nk_status nk_softmax_prepare(nk_ctx *ctx, nk_step *st);
void nk_softmax_ref(const nk_step *st, int ith, int nth);

/* dropout.c: eval = copy; training = seeded Bernoulli mask */
nk_status nk_dropout_prepare(nk_ctx *ctx, nk_step *st);
void nk_dropout_ref(const nk_step *st, int ith, int nth);

/* shape-ops.c: Shape, ConstantOfShape (Unsqueeze/Squeeze use nk_copy_ref) */
void nk_shape_ref(const nk_step *st, int ith, int nth);
void nk_constantofshape_ref(const nk_step *st, int ith, int nth);

/* gather.c, slice.c, cast.c: any dtype */
void nk_gather_ref(const nk_step *st, int ith, int nth);
void nk_slice_ref(const nk_step *st, int ith, int nth);
void nk_cast_ref(const nk_step *st, int ith, int nth);

/* reduce.c */
nk_status nk_reducemean_prepare(nk_ctx *ctx, nk_step *st);
void nk_reducemean_ref(const nk_step *st, int ith, int nth);

#endif /* NK_KERNELS_IMPL_H */
