/*
 * blocked.h — the channel-blocked activation layout (NCHW8c) that the
 * planner may choose inside a plan, and the kernels that work in it.
 *
 * Layout: a logical f32 [N, C, H, W] tensor is stored as
 * [N][CB][H][W][8] with CB = ceil(C / 8): element (n, c, h, w) sits at
 *     ((n * CB + c / 8) * H * W + h * W + w) * 8 + c % 8.
 * The tensor keeps its logical shape; nk_tensor.layout says
 * NK_LAYOUT_NCHW8C and nbytes is nk_blk_bytes(shape). Lanes c >= C of the
 * last block are padding: they hold finite values of no meaning (readers
 * multiply them by zero weights or ignore them; writers keep them finite).
 *
 * Kernel rows (table.c) with .layout = NK_LAYOUT_NCHW8C get every 4-D f32
 * activation input (not an initializer), every 4-D output and the fused
 * residual in NCHW8c. Rows with .any_in_layout read in[0] in either
 * layout (they look at st->in[0]->layout: NK_LAYOUT_DEFAULT = NCHW, or
 * NK_LAYOUT_NCHW8C). The planner (engine/plan.c) chooses layouts and
 * inserts reorder steps (nk_reorder_run) where a value is needed in the
 * other layout; graph inputs and outputs are always NCHW.
 *
 * Input addressing that serves both layouts (for kernels with
 * .any_in_layout): x(c, pixel) = base + (c / 8) * 8 * H * W
 *                                     + (c % 8) * lane_stride
 *                                     + pixel * pixel_stride
 * with (lane_stride, pixel_stride) = (H * W, 1) for NCHW and (1, 8) for
 * NCHW8c (nk_blk_strides).
 */
#ifndef NK_BLOCKED_H
#define NK_BLOCKED_H

#include "engine/kernel.h"

#define NK_BLK 8

static inline int64_t nk_blk_cb(int64_t c) { return (c + NK_BLK - 1) / NK_BLK; }

/* Bytes of an f32 tensor of logical shape s (rank 4) in NCHW8c. */
size_t nk_blk_bytes(const nk_shape *s);

/* Strides of in[0] for the addressing above (t: a 4-D f32 tensor). */
void nk_blk_strides(const nk_tensor *t, int64_t *lane_stride,
                    int64_t *pixel_stride);

/* NCHW -> NCHW8c (padding lanes set to zero) and back, for the blocks
 * [b, e) of the n * CB (image, channel block) pairs. */
void nk_blk_pack(const float *src, float *dst, int64_t c, int64_t hw,
                 int64_t b, int64_t e);
void nk_blk_unpack(const float *src, float *dst, int64_t c, int64_t hw,
                   int64_t b, int64_t e);

/* Reorder steps made by the planner: in[0] -> out[0], same logical shape,
 * layouts read from the two tensors. */
void nk_reorder_run(const nk_step *st, int ith, int nth);
extern const nk_kernel nk_reorder_kernel; /* "reorder", runs nk_reorder_run */

/* ---- kernels/x86/conv-blocked-avx2.c: Conv, groups = 1, any KxK,
 * stride, pad, dilation; in[0] NCHW or NCHW8c (.any_in_layout); fused
 * bias, residual and every nk_act. */
bool nk_convblk_avx2_supports(const nk_step *st);
nk_status nk_convblk_avx2_prepare(nk_ctx *ctx, nk_step *st);
void nk_convblk_avx2_release(nk_step *st);
void nk_convblk_avx2_run(const nk_step *st, int ith, int nth);

/* ---- kernels/x86/winograd-blocked-avx2.c: Winograd F(4x4, 3x3) Conv
 * (the geometry of nk_conv_winograd_supports), in[0] NCHW or NCHW8c
 * (.any_in_layout); fused bias, residual and every nk_act. */
nk_status nk_winoblk_avx2_prepare(nk_ctx *ctx, nk_step *st);
void nk_winoblk_avx2_release(nk_step *st);
void nk_winoblk_avx2_run(const nk_step *st, int ith, int nth);

/* ---- kernels/x86/dwconv-blocked-avx2.c: depthwise Conv, NCHW8c in and
 * out. */
bool nk_dwblk_avx2_supports(const nk_step *st);
nk_status nk_dwblk_avx2_prepare(nk_ctx *ctx, nk_step *st);
void nk_dwblk_avx2_release(nk_step *st);
void nk_dwblk_avx2_run(const nk_step *st, int ith, int nth);

/* ---- kernels/x86/dwchain-avx2.c: a pointwise conv -> depthwise conv ->
 * pointwise conv chain (either pointwise conv may be absent, not both)
 * run as one step, rows streaming through per-thread scratch. */
typedef struct nk_dwchain nk_dwchain;
/* The chain of three prepared steps (pw or pj NULL) when their kernels
 * are the blocked ones that chains can drive: the depthwise conv, and
 * pointwise convs without padding or stride; NULL otherwise and out of
 * memory (the steps then run on their own). *work_bytes: the chain's
 * scratch for nth threads. The chain borrows the steps. */
nk_dwchain *nk_dwchain_make(const nk_step *pw, const nk_step *dw,
                            const nk_step *pj, int nth, size_t *work_bytes);
void nk_dwchain_free(nk_dwchain *c);
/* The chain's steps: 0 the first pointwise conv, 1 the depthwise conv,
 * 2 the second pointwise conv (NULL when absent). */
const nk_step *nk_dwchain_step(const nk_dwchain *c, int k);
/* Thread ith of nth: head is the step that carries the chain (its work
 * and steal). Reads pw's (or dw's) input and pj's residual, writes pj's
 * (or dw's) output. Allocates nothing. */
void nk_dwchain_run(const nk_dwchain *c, const nk_step *head, int ith,
                    int nth);

/* ---- kernels/x86/eltwise-blocked-avx2.c: pools, element-wise. All
 * NCHW8c in and out. */
bool nk_poolblk_avx2_supports(const nk_step *st);       /* MaxPool, AveragePool */
nk_status nk_poolblk_avx2_prepare(nk_ctx *ctx, nk_step *st);
void nk_poolblk_avx2_run(const nk_step *st, int ith, int nth);
void nk_gapblk_avx2_run(const nk_step *st, int ith, int nth); /* GlobalAveragePool */

/* Relu Clip LeakyRelu Sigmoid Tanh HardSigmoid HardSwish */
bool nk_unaryblk_avx2_supports(const nk_step *st);
void nk_unaryblk_avx2_run(const nk_step *st, int ith, int nth);
/* Add Sub Mul Div: both 4-D of one shape, or one of them [N, C, 1, 1]
 * (both NCHW8c), or one a one-element initializer. */
bool nk_binaryblk_avx2_supports(const nk_step *st);
void nk_binaryblk_avx2_run(const nk_step *st, int ith, int nth);

#endif /* NK_BLOCKED_H */
