/*
 * table.c — the kernel table: every kernel nnkit has, one row each, in a
 * hand-written array. nk_kernel_select picks per node at plan time.
 */
#include "engine/kernels/kernels-impl.h"
#include "engine/kernels/blocked.h"
#include "engine/kernels/conv-fast.h"
#include "engine/kernels/rowdot.h"

#include <stdlib.h>
#include <string.h>

#define REL nk_kernel_release_params

const nk_kernel NK_KERNELS[] = {
    /* Conv */
    {.name = "conv2d_nchw_ref", .op = NK_OP_CONV, .dtype = NK_F32,
     .isa = NK_ISA_REF, .priority = 0, .prepare = nk_conv_prepare,
     .release = REL, .run = nk_conv2d_nchw_ref},
    {.name = "conv2d_im2col_gemm", .op = NK_OP_CONV, .dtype = NK_F32,
     .isa = NK_ISA_GENERIC, .priority = 10, .prepare = nk_conv_gemm_prepare,
     .release = REL, .run = nk_conv2d_im2col_gemm},
    {.name = "conv2d_depthwise", .op = NK_OP_CONV, .dtype = NK_F32,
     .isa = NK_ISA_GENERIC, .priority = 20,
     .supports = nk_conv_depthwise_supports, .prepare = nk_conv_prepare,
     .release = REL, .run = nk_conv2d_depthwise},
    /* Packed GEMM with fused epilogue (bias, residual, activation). */
    {.name = "conv2d_packed_generic", .op = NK_OP_CONV, .dtype = NK_F32,
     .isa = NK_ISA_GENERIC, .priority = 15,
     .supports = nk_conv_fast_supports, .prepare = nk_conv_fast_prepare,
     .release = nk_conv_fast_release, .run = nk_conv_fast_run,
     .residual = true},
    {.name = "conv2d_winograd_generic", .op = NK_OP_CONV, .dtype = NK_F32,
     .isa = NK_ISA_GENERIC, .priority = 16,
     .supports = nk_conv_winograd_supports,
     .prepare = nk_conv_winograd_prepare,
     .release = nk_conv_winograd_release, .run = nk_conv_winograd_run,
     .residual = true, .any_in_layout = true},
#if defined(__x86_64__) || defined(_M_X64)
    {.name = "conv2d_winograd_avx2", .op = NK_OP_CONV, .dtype = NK_F32,
     .isa = NK_ISA_AVX2, .priority = 35,
     .supports = nk_conv_winograd_supports,
     .prepare = nk_conv_winograd_prepare,
     .release = nk_conv_winograd_release, .run = nk_conv_winograd_run,
     .residual = true, .any_in_layout = true},
    {.name = "conv2d_winograd_nchw8c_avx2", .op = NK_OP_CONV,
     .dtype = NK_F32, .isa = NK_ISA_AVX2, .priority = 36,
     .supports = nk_conv_winograd_supports,
     .prepare = nk_winoblk_avx2_prepare,
     .release = nk_winoblk_avx2_release, .run = nk_winoblk_avx2_run,
     .residual = true, .layout = NK_LAYOUT_NCHW8C, .any_in_layout = true},
    {.name = "conv2d_winograd_avx512", .op = NK_OP_CONV, .dtype = NK_F32,
     .isa = NK_ISA_AVX512, .priority = 45,
     .supports = nk_conv_winograd_supports,
     .prepare = nk_conv_winograd_prepare,
     .release = nk_conv_winograd_release, .run = nk_conv_winograd_run,
     .residual = true, .any_in_layout = true},
    {.name = "conv2d_depthwise_avx2", .op = NK_OP_CONV, .dtype = NK_F32,
     .isa = NK_ISA_AVX2, .priority = 50, .supports = nk_dw_avx2_supports,
     .prepare = nk_dw_avx2_prepare, .release = REL, .run = nk_dw_avx2_run},
    {.name = "conv2d_1x1_rowdot_avx2", .op = NK_OP_CONV, .dtype = NK_F32,
     .isa = NK_ISA_AVX2, .priority = 60,
     .supports = nk_rowdot_conv_supports,
     .prepare = nk_rowdot_conv_prepare, .release = nk_rowdot_release,
     .run = nk_rowdot_avx2_run, .residual = true},
    {.name = "gemm_rowdot_avx2", .op = NK_OP_GEMM, .dtype = NK_F32,
     .isa = NK_ISA_AVX2, .priority = 30,
     .supports = nk_rowdot_gemm_supports,
     .prepare = nk_rowdot_gemm_prepare, .release = nk_rowdot_release,
     .run = nk_rowdot_avx2_run},
    {.name = "add_avx2", .op = NK_OP_ADD, .dtype = NK_F32,
     .isa = NK_ISA_AVX2, .priority = 30, .supports = nk_binary_avx2_supports,
     .run = nk_binary_avx2_run},
    {.name = "sub_avx2", .op = NK_OP_SUB, .dtype = NK_F32,
     .isa = NK_ISA_AVX2, .priority = 30, .supports = nk_binary_avx2_supports,
     .run = nk_binary_avx2_run},
    {.name = "mul_avx2", .op = NK_OP_MUL, .dtype = NK_F32,
     .isa = NK_ISA_AVX2, .priority = 30, .supports = nk_binary_avx2_supports,
     .run = nk_binary_avx2_run},
    {.name = "div_avx2", .op = NK_OP_DIV, .dtype = NK_F32,
     .isa = NK_ISA_AVX2, .priority = 30, .supports = nk_binary_avx2_supports,
     .run = nk_binary_avx2_run},
    {.name = "softmax_avx2", .op = NK_OP_SOFTMAX, .dtype = NK_F32,
     .isa = NK_ISA_AVX2, .priority = 30, .supports = nk_softmax_avx2_supports,
     .run = nk_softmax_avx2_run},
    {.name = "conv2d_packed_avx2", .op = NK_OP_CONV, .dtype = NK_F32,
     .isa = NK_ISA_AVX2, .priority = 30,
     .supports = nk_conv_fast_supports, .prepare = nk_conv_fast_prepare,
     .release = nk_conv_fast_release, .run = nk_conv_fast_run,
     .residual = true},
    {.name = "conv2d_nchw8c_avx2", .op = NK_OP_CONV, .dtype = NK_F32,
     .isa = NK_ISA_AVX2, .priority = 40,
     .supports = nk_convblk_avx2_supports,
     .prepare = nk_convblk_avx2_prepare,
     .release = nk_convblk_avx2_release, .run = nk_convblk_avx2_run,
     .residual = true, .layout = NK_LAYOUT_NCHW8C, .any_in_layout = true},
    {.name = "conv2d_packed_avx512", .op = NK_OP_CONV, .dtype = NK_F32,
     .isa = NK_ISA_AVX512, .priority = 40,
     .supports = nk_conv_fast_supports, .prepare = nk_conv_fast_prepare,
     .release = nk_conv_fast_release, .run = nk_conv_fast_run,
     .residual = true},
    /* NCHW8c (blocked.h): depthwise Conv, pools, element-wise */
    {.name = "conv2d_dw_nchw8c_avx2", .op = NK_OP_CONV, .dtype = NK_F32,
     .isa = NK_ISA_AVX2, .priority = 60, .supports = nk_dwblk_avx2_supports,
     .prepare = nk_dwblk_avx2_prepare, .release = nk_dwblk_avx2_release,
     .run = nk_dwblk_avx2_run, .layout = NK_LAYOUT_NCHW8C},
    {.name = "maxpool_nchw8c_avx2", .op = NK_OP_MAXPOOL, .dtype = NK_F32,
     .isa = NK_ISA_AVX2, .priority = 60,
     .supports = nk_poolblk_avx2_supports,
     .prepare = nk_poolblk_avx2_prepare, .release = REL,
     .run = nk_poolblk_avx2_run, .layout = NK_LAYOUT_NCHW8C},
    {.name = "avgpool_nchw8c_avx2", .op = NK_OP_AVGPOOL, .dtype = NK_F32,
     .isa = NK_ISA_AVX2, .priority = 60,
     .supports = nk_poolblk_avx2_supports,
     .prepare = nk_poolblk_avx2_prepare, .release = REL,
     .run = nk_poolblk_avx2_run, .layout = NK_LAYOUT_NCHW8C},
    {.name = "globalavgpool_nchw8c_avx2", .op = NK_OP_GLOBALAVGPOOL,
     .dtype = NK_F32, .isa = NK_ISA_AVX2, .priority = 60,
     .run = nk_gapblk_avx2_run, .layout = NK_LAYOUT_NCHW8C},
#define NK_UNARY_BLK(NAME, OP)                                             \
    {.name = NAME, .op = OP, .dtype = NK_F32, .isa = NK_ISA_AVX2,          \
     .priority = 60, .supports = nk_unaryblk_avx2_supports,                \
     .run = nk_unaryblk_avx2_run, .layout = NK_LAYOUT_NCHW8C}
    NK_UNARY_BLK("relu_nchw8c_avx2", NK_OP_RELU),
    NK_UNARY_BLK("clip_nchw8c_avx2", NK_OP_CLIP),
    NK_UNARY_BLK("leakyrelu_nchw8c_avx2", NK_OP_LEAKYRELU),
    NK_UNARY_BLK("sigmoid_nchw8c_avx2", NK_OP_SIGMOID),
    NK_UNARY_BLK("tanh_nchw8c_avx2", NK_OP_TANH),
    NK_UNARY_BLK("hardsigmoid_nchw8c_avx2", NK_OP_HARDSIGMOID),
    NK_UNARY_BLK("hardswish_nchw8c_avx2", NK_OP_HARDSWISH),
#undef NK_UNARY_BLK
#define NK_BINARY_BLK(NAME, OP)                                            \
    {.name = NAME, .op = OP, .dtype = NK_F32, .isa = NK_ISA_AVX2,          \
     .priority = 60, .supports = nk_binaryblk_avx2_supports,               \
     .run = nk_binaryblk_avx2_run, .layout = NK_LAYOUT_NCHW8C}
    NK_BINARY_BLK("add_nchw8c_avx2", NK_OP_ADD),
    NK_BINARY_BLK("sub_nchw8c_avx2", NK_OP_SUB),
    NK_BINARY_BLK("mul_nchw8c_avx2", NK_OP_MUL),
    NK_BINARY_BLK("div_nchw8c_avx2", NK_OP_DIV),
#undef NK_BINARY_BLK
#endif
    /* Normalisation */
    {.name = "batchnorm_ref", .op = NK_OP_BATCHNORM, .dtype = NK_F32,
     .isa = NK_ISA_REF, .prepare = nk_batchnorm_prepare, .release = REL,
     .run = nk_batchnorm_ref},
    /* Activations */
    {.name = "relu_ref", .op = NK_OP_RELU, .dtype = NK_F32,
     .isa = NK_ISA_REF, .prepare = nk_unary_prepare, .release = REL,
     .run = nk_unary_ref},
    {.name = "clip_ref", .op = NK_OP_CLIP, .dtype = NK_F32,
     .isa = NK_ISA_REF, .prepare = nk_unary_prepare, .release = REL,
     .run = nk_unary_ref},
    {.name = "clip_int_ref", .op = NK_OP_CLIP, .dtype = NK_DTYPE_ANY,
     .isa = NK_ISA_REF, .supports = nk_binary_int_supports,
     .prepare = nk_clip_int_prepare, .run = nk_clip_int_ref},
    {.name = "leakyrelu_ref", .op = NK_OP_LEAKYRELU, .dtype = NK_F32,
     .isa = NK_ISA_REF, .prepare = nk_unary_prepare, .release = REL,
     .run = nk_unary_ref},
    {.name = "sigmoid_ref", .op = NK_OP_SIGMOID, .dtype = NK_F32,
     .isa = NK_ISA_REF, .prepare = nk_unary_prepare, .release = REL,
     .run = nk_unary_ref},
    {.name = "tanh_ref", .op = NK_OP_TANH, .dtype = NK_F32,
     .isa = NK_ISA_REF, .prepare = nk_unary_prepare, .release = REL,
     .run = nk_unary_ref},
    {.name = "hardsigmoid_ref", .op = NK_OP_HARDSIGMOID, .dtype = NK_F32,
     .isa = NK_ISA_REF, .prepare = nk_unary_prepare, .release = REL,
     .run = nk_unary_ref},
    {.name = "hardswish_ref", .op = NK_OP_HARDSWISH, .dtype = NK_F32,
     .isa = NK_ISA_REF, .prepare = nk_unary_prepare, .release = REL,
     .run = nk_unary_ref},
    /* Element-wise binary */
    {.name = "add_ref", .op = NK_OP_ADD, .dtype = NK_F32, .isa = NK_ISA_REF,
     .prepare = nk_binary_prepare, .release = REL, .run = nk_binary_ref},
    {.name = "sub_ref", .op = NK_OP_SUB, .dtype = NK_F32, .isa = NK_ISA_REF,
     .prepare = nk_binary_prepare, .release = REL, .run = nk_binary_ref},
    {.name = "mul_ref", .op = NK_OP_MUL, .dtype = NK_F32, .isa = NK_ISA_REF,
     .prepare = nk_binary_prepare, .release = REL, .run = nk_binary_ref},
    {.name = "div_ref", .op = NK_OP_DIV, .dtype = NK_F32, .isa = NK_ISA_REF,
     .prepare = nk_binary_prepare, .release = REL, .run = nk_binary_ref},
    {.name = "add_int_ref", .op = NK_OP_ADD, .dtype = NK_DTYPE_ANY,
     .isa = NK_ISA_REF, .supports = nk_binary_int_supports,
     .prepare = nk_binary_prepare, .release = REL, .run = nk_binary_int_ref},
    {.name = "sub_int_ref", .op = NK_OP_SUB, .dtype = NK_DTYPE_ANY,
     .isa = NK_ISA_REF, .supports = nk_binary_int_supports,
     .prepare = nk_binary_prepare, .release = REL, .run = nk_binary_int_ref},
    {.name = "mul_int_ref", .op = NK_OP_MUL, .dtype = NK_DTYPE_ANY,
     .isa = NK_ISA_REF, .supports = nk_binary_int_supports,
     .prepare = nk_binary_prepare, .release = REL, .run = nk_binary_int_ref},
    {.name = "div_int_ref", .op = NK_OP_DIV, .dtype = NK_DTYPE_ANY,
     .isa = NK_ISA_REF, .supports = nk_binary_int_supports,
     .prepare = nk_binary_prepare, .release = REL, .run = nk_binary_int_ref},
    /* Matrix products */
    {.name = "matmul_ref", .op = NK_OP_MATMUL, .dtype = NK_F32,
     .isa = NK_ISA_REF, .prepare = nk_matmul_prepare, .release = REL,
     .run = nk_matmul_ref},
    {.name = "matmul_blocked", .op = NK_OP_MATMUL, .dtype = NK_F32,
     .isa = NK_ISA_GENERIC, .priority = 10, .prepare = nk_matmul_prepare,
     .release = REL, .run = nk_matmul_blocked},
    {.name = "gemm_ref", .op = NK_OP_GEMM, .dtype = NK_F32,
     .isa = NK_ISA_REF, .prepare = nk_gemm_prepare, .release = REL,
     .run = nk_gemm_ref},
    {.name = "gemm_blocked", .op = NK_OP_GEMM, .dtype = NK_F32,
     .isa = NK_ISA_GENERIC, .priority = 10, .prepare = nk_gemm_prepare,
     .release = REL, .run = nk_gemm_blocked},
    /* Pooling */
    {.name = "maxpool_ref", .op = NK_OP_MAXPOOL, .dtype = NK_F32,
     .isa = NK_ISA_REF, .prepare = nk_pool_prepare, .release = REL,
     .run = nk_maxpool_ref},
    {.name = "maxpool_u8_ref", .op = NK_OP_MAXPOOL, .dtype = NK_U8,
     .isa = NK_ISA_REF, .prepare = nk_pool_prepare, .release = REL,
     .run = nk_maxpool_ref},
    {.name = "maxpool_i8_ref", .op = NK_OP_MAXPOOL, .dtype = NK_I8,
     .isa = NK_ISA_REF, .prepare = nk_pool_prepare, .release = REL,
     .run = nk_maxpool_ref},
    {.name = "maxpool_rows", .op = NK_OP_MAXPOOL, .dtype = NK_F32,
     .isa = NK_ISA_GENERIC, .priority = 10,
     .supports = nk_maxpool_fast_supports,
     .prepare = nk_maxpool_fast_prepare,
     .release = REL, .run = nk_maxpool_fast},
    {.name = "avgpool_ref", .op = NK_OP_AVGPOOL, .dtype = NK_F32,
     .isa = NK_ISA_REF, .prepare = nk_pool_prepare, .release = REL,
     .run = nk_avgpool_ref},
    {.name = "globalavgpool_ref", .op = NK_OP_GLOBALAVGPOOL,
     .dtype = NK_F32, .isa = NK_ISA_REF, .run = nk_globalavgpool_ref},
    {.name = "globalavgpool_sum8", .op = NK_OP_GLOBALAVGPOOL,
     .dtype = NK_F32, .isa = NK_ISA_GENERIC, .priority = 10,
     .run = nk_globalavgpool_fast},
    /* Shape and data movement */
    {.name = "flatten_copy", .op = NK_OP_FLATTEN, .dtype = NK_DTYPE_ANY,
     .isa = NK_ISA_REF, .run = nk_copy_ref},
    {.name = "reshape_copy", .op = NK_OP_RESHAPE, .dtype = NK_DTYPE_ANY,
     .isa = NK_ISA_REF, .run = nk_copy_ref},
    {.name = "identity_copy", .op = NK_OP_IDENTITY, .dtype = NK_DTYPE_ANY,
     .isa = NK_ISA_REF, .run = nk_copy_ref},
    {.name = "transpose_ref", .op = NK_OP_TRANSPOSE, .dtype = NK_F32,
     .isa = NK_ISA_REF, .prepare = nk_transpose_prepare, .release = REL,
     .run = nk_transpose_ref},
    {.name = "concat_ref", .op = NK_OP_CONCAT, .dtype = NK_DTYPE_ANY,
     .isa = NK_ISA_REF, .prepare = nk_concat_prepare, .release = REL,
     .run = nk_concat_ref},
    {.name = "pad_ref", .op = NK_OP_PAD, .dtype = NK_F32, .isa = NK_ISA_REF,
     .prepare = nk_pad_prepare, .release = REL, .run = nk_pad_ref},
    {.name = "pad_i32_ref", .op = NK_OP_PAD, .dtype = NK_I32,
     .isa = NK_ISA_REF, .prepare = nk_pad_prepare, .release = REL,
     .run = nk_pad_ref},
    {.name = "softmax_ref", .op = NK_OP_SOFTMAX, .dtype = NK_F32,
     .isa = NK_ISA_REF, .prepare = nk_softmax_prepare, .release = REL,
     .run = nk_softmax_ref},
    {.name = "dropout_ref", .op = NK_OP_DROPOUT, .dtype = NK_F32,
     .isa = NK_ISA_REF, .prepare = nk_dropout_prepare, .release = REL,
     .run = nk_dropout_ref},
    /* Exporter glue (any dtype: these move or convert elements) */
    {.name = "shape_ref", .op = NK_OP_SHAPE, .dtype = NK_DTYPE_ANY,
     .isa = NK_ISA_REF, .run = nk_shape_ref},
    {.name = "gather_ref", .op = NK_OP_GATHER, .dtype = NK_DTYPE_ANY,
     .isa = NK_ISA_REF, .run = nk_gather_ref},
    {.name = "unsqueeze_copy", .op = NK_OP_UNSQUEEZE, .dtype = NK_DTYPE_ANY,
     .isa = NK_ISA_REF, .run = nk_copy_ref},
    {.name = "squeeze_copy", .op = NK_OP_SQUEEZE, .dtype = NK_DTYPE_ANY,
     .isa = NK_ISA_REF, .run = nk_copy_ref},
    {.name = "slice_ref", .op = NK_OP_SLICE, .dtype = NK_DTYPE_ANY,
     .isa = NK_ISA_REF, .run = nk_slice_ref},
    {.name = "cast_ref", .op = NK_OP_CAST, .dtype = NK_DTYPE_ANY,
     .isa = NK_ISA_REF, .run = nk_cast_ref},
    {.name = "constantofshape_ref", .op = NK_OP_CONSTANTOFSHAPE,
     .dtype = NK_DTYPE_ANY, .isa = NK_ISA_REF, .run = nk_constantofshape_ref},
    {.name = "reducemean_ref", .op = NK_OP_REDUCEMEAN, .dtype = NK_F32,
     .isa = NK_ISA_REF, .prepare = nk_reducemean_prepare,
     .run = nk_reducemean_ref},
};

const int NK_KERNEL_COUNT = (int)(sizeof NK_KERNELS / sizeof NK_KERNELS[0]);

#if defined(__x86_64__) || defined(_M_X64)
#define NK_X86_KERNELS 29
#else
#define NK_X86_KERNELS 0
#endif
_Static_assert(sizeof NK_KERNELS / sizeof NK_KERNELS[0] ==
                   50 + NK_X86_KERNELS,
               "kernel table changed: update the count here");

static bool isa_available(nk_isa isa, const nk_cpu *cpu)
{
    switch (isa) {
    case NK_ISA_REF:
    case NK_ISA_GENERIC:
        return true;
    case NK_ISA_AVX2:
        return cpu->avx2 && cpu->fma;
    case NK_ISA_AVX512:
        return cpu->avx512f;
    case NK_ISA_NEON:
        return cpu->neon;
    default:
        return false;
    }
}

const nk_kernel *nk_kernel_select(const nk_step *st, const nk_cpu *cpu,
                                  bool reference)
{
    return nk_kernel_select_layout(st, cpu, reference, NK_LAYOUT_DEFAULT,
                                   false);
}

const nk_kernel *nk_kernel_select_layout(const nk_step *st,
                                         const nk_cpu *cpu, bool reference,
                                         int layout, bool any_in)
{
    const nk_kernel *best = NULL;
    nk_dtype dt = NK_F32;
    for (int i = 0; i < st->n_in; i++)
        if (st->in[i]) {
            dt = st->in[i]->dtype;
            break;
        }
    for (int i = 0; i < NK_KERNEL_COUNT; i++) {
        const nk_kernel *k = &NK_KERNELS[i];
        if (k->op != st->node->op ||
            (k->dtype != dt && k->dtype != NK_DTYPE_ANY))
            continue;
        if (reference && k->isa != NK_ISA_REF)
            continue;
        if (layout >= 0 && (int)k->layout != layout &&
            !(any_in && k->any_in_layout))
            continue;
        if (!isa_available(k->isa, cpu))
            continue;
        if (k->supports && !k->supports(st))
            continue;
        if (!best || k->priority > best->priority)
            best = k;
    }
    return best;
}

void nk_kernel_release_params(nk_step *st)
{
    nk_free(st->params);
    st->params = NULL;
}
