/*
 * table.c — the backward table: one row per op (hand-written, pinned to
 * NK_OP_COUNT rows), naming which inputs are differentiable and the
 * kernel that computes their gradients. A NULL run means "no backward".
 */
#include "engine/backward/backward.h"

#include <string.h>

#define IN(i) (1u << (i))
#define REL nk_bwd_release_params

const nk_bwd_kernel NK_BACKWARD[NK_OP_COUNT] = {
    [NK_OP_CONV] = {"conv_backward", IN(0) | IN(1) | IN(2),
                    nk_bwd_conv_prepare, REL, nk_bwd_conv},
    [NK_OP_BATCHNORM] = {"batchnorm_backward", IN(0) | IN(1) | IN(2),
                         nk_bwd_batchnorm_prepare, REL, nk_bwd_batchnorm},
    [NK_OP_RELU] = {"relu_backward", IN(0), NULL, NULL, nk_bwd_unary},
    [NK_OP_CLIP] = {"clip_backward", IN(0), NULL, NULL, nk_bwd_unary},
    [NK_OP_LEAKYRELU] = {"leakyrelu_backward", IN(0), NULL, NULL,
                         nk_bwd_unary},
    [NK_OP_SIGMOID] = {"sigmoid_backward", IN(0), NULL, NULL, nk_bwd_unary},
    [NK_OP_TANH] = {"tanh_backward", IN(0), NULL, NULL, nk_bwd_unary},
    [NK_OP_HARDSIGMOID] = {"hardsigmoid_backward", IN(0), NULL, NULL,
                           nk_bwd_unary},
    [NK_OP_HARDSWISH] = {"hardswish_backward", IN(0), NULL, NULL,
                         nk_bwd_unary},
    [NK_OP_ADD] = {"add_backward", IN(0) | IN(1), nk_bwd_binary_prepare,
                   REL, nk_bwd_binary},
    [NK_OP_SUB] = {"sub_backward", IN(0) | IN(1), nk_bwd_binary_prepare,
                   REL, nk_bwd_binary},
    [NK_OP_MUL] = {"mul_backward", IN(0) | IN(1), nk_bwd_binary_prepare,
                   REL, nk_bwd_binary},
    [NK_OP_DIV] = {"div_backward", IN(0) | IN(1), nk_bwd_binary_prepare,
                   REL, nk_bwd_binary},
    [NK_OP_MATMUL] = {"matmul_backward", IN(0) | IN(1),
                      nk_bwd_matmul_prepare, REL, nk_bwd_matmul},
    [NK_OP_GEMM] = {"gemm_backward", IN(0) | IN(1) | IN(2),
                    nk_bwd_gemm_prepare, REL, nk_bwd_gemm},
    [NK_OP_MAXPOOL] = {"maxpool_backward", IN(0), nk_bwd_pool_prepare, REL,
                       nk_bwd_maxpool},
    [NK_OP_AVGPOOL] = {"avgpool_backward", IN(0), nk_bwd_pool_prepare, REL,
                       nk_bwd_avgpool},
    [NK_OP_GLOBALAVGPOOL] = {"globalavgpool_backward", IN(0), NULL, NULL,
                             nk_bwd_globalavgpool},
    [NK_OP_FLATTEN] = {"flatten_backward", IN(0), NULL, NULL, nk_bwd_copy},
    [NK_OP_RESHAPE] = {"reshape_backward", IN(0), NULL, NULL, nk_bwd_copy},
    [NK_OP_TRANSPOSE] = {"transpose_backward", IN(0),
                         nk_bwd_transpose_prepare, REL, nk_bwd_transpose},
    [NK_OP_CONCAT] = {"concat_backward", NK_BWD_ALL_INPUTS,
                      nk_bwd_concat_prepare, REL, nk_bwd_concat},
    [NK_OP_PAD] = {"pad_backward", IN(0), nk_bwd_pad_prepare, REL,
                   nk_bwd_pad},
    [NK_OP_SOFTMAX] = {"softmax_backward", IN(0), nk_bwd_softmax_prepare,
                       REL, nk_bwd_softmax},
    [NK_OP_DROPOUT] = {"dropout_backward", IN(0), NULL, NULL,
                       nk_bwd_dropout},
    [NK_OP_IDENTITY] = {"identity_backward", IN(0), NULL, NULL, nk_bwd_copy},
};

_Static_assert(sizeof NK_BACKWARD / sizeof NK_BACKWARD[0] == NK_OP_COUNT,
               "every op needs a row in NK_BACKWARD");

void nk_bwd_clear(float *dx, bool acc, int64_t b, int64_t e)
{
    if (!acc && e > b)
        memset(dx + b, 0, (size_t)(e - b) * sizeof *dx);
}

void nk_bwd_release_params(nk_bstep *b)
{
    nk_free(b->params);
    b->params = NULL;
}
