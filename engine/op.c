/*
 * op.c — the op table (ONNX name, arity, shape inference per op), written
 * by hand and pinned to NK_OP_COUNT rows.
 */
#include "engine/op.h"

#include <stdio.h>
#include <string.h>

const nk_op_info NK_OPS[NK_OP_COUNT] = {
    [NK_OP_CONV] = {"Conv", 2, 3, 1, 1, nk_infer_conv},
    [NK_OP_BATCHNORM] = {"BatchNormalization", 5, 5, 1, 3,
                         nk_infer_batchnorm},
    [NK_OP_RELU] = {"Relu", 1, 1, 1, 1, nk_infer_unary},
    [NK_OP_CLIP] = {"Clip", 1, 3, 1, 1, nk_infer_clip},
    [NK_OP_LEAKYRELU] = {"LeakyRelu", 1, 1, 1, 1, nk_infer_unary},
    [NK_OP_SIGMOID] = {"Sigmoid", 1, 1, 1, 1, nk_infer_unary},
    [NK_OP_TANH] = {"Tanh", 1, 1, 1, 1, nk_infer_unary},
    [NK_OP_HARDSIGMOID] = {"HardSigmoid", 1, 1, 1, 1, nk_infer_unary},
    [NK_OP_HARDSWISH] = {"HardSwish", 1, 1, 1, 1, nk_infer_unary},
    [NK_OP_ADD] = {"Add", 2, 2, 1, 1, nk_infer_binary},
    [NK_OP_SUB] = {"Sub", 2, 2, 1, 1, nk_infer_binary},
    [NK_OP_MUL] = {"Mul", 2, 2, 1, 1, nk_infer_binary},
    [NK_OP_DIV] = {"Div", 2, 2, 1, 1, nk_infer_binary},
    [NK_OP_MATMUL] = {"MatMul", 2, 2, 1, 1, nk_infer_matmul},
    [NK_OP_GEMM] = {"Gemm", 2, 3, 1, 1, nk_infer_gemm},
    [NK_OP_MAXPOOL] = {"MaxPool", 1, 1, 1, 2, nk_infer_pool},
    [NK_OP_AVGPOOL] = {"AveragePool", 1, 1, 1, 1, nk_infer_pool},
    [NK_OP_GLOBALAVGPOOL] = {"GlobalAveragePool", 1, 1, 1, 1,
                             nk_infer_globalpool},
    [NK_OP_FLATTEN] = {"Flatten", 1, 1, 1, 1, nk_infer_flatten},
    [NK_OP_RESHAPE] = {"Reshape", 2, 2, 1, 1, nk_infer_reshape},
    [NK_OP_TRANSPOSE] = {"Transpose", 1, 1, 1, 1, nk_infer_transpose},
    [NK_OP_CONCAT] = {"Concat", 1, -1, 1, 1, nk_infer_concat},
    [NK_OP_PAD] = {"Pad", 1, 3, 1, 1, nk_infer_pad},
    [NK_OP_SOFTMAX] = {"Softmax", 1, 1, 1, 1, nk_infer_softmax},
    [NK_OP_DROPOUT] = {"Dropout", 1, 3, 1, 2, nk_infer_dropout},
    [NK_OP_IDENTITY] = {"Identity", 1, 1, 1, 1, nk_infer_unary},
    [NK_OP_SHAPE] = {"Shape", 1, 1, 1, 1, nk_infer_shape},
    [NK_OP_GATHER] = {"Gather", 2, 2, 1, 1, nk_infer_gather},
    [NK_OP_UNSQUEEZE] = {"Unsqueeze", 2, 2, 1, 1, nk_infer_unsqueeze},
    [NK_OP_SQUEEZE] = {"Squeeze", 1, 2, 1, 1, nk_infer_squeeze},
    [NK_OP_SLICE] = {"Slice", 3, 5, 1, 1, nk_infer_slice},
    [NK_OP_CAST] = {"Cast", 1, 1, 1, 1, nk_infer_cast},
    [NK_OP_CONSTANTOFSHAPE] = {"ConstantOfShape", 1, 1, 1, 1,
                               nk_infer_constantofshape},
    [NK_OP_REDUCEMEAN] = {"ReduceMean", 1, 2, 1, 1, nk_infer_reducemean},
};

_Static_assert(sizeof NK_OPS / sizeof NK_OPS[0] == NK_OP_COUNT,
               "every op needs a row in NK_OPS");

bool nk_op_input_is_param(nk_op op, int i)
{
    switch (op) {
    case NK_OP_RESHAPE:
    case NK_OP_UNSQUEEZE:
    case NK_OP_SQUEEZE:
    case NK_OP_REDUCEMEAN:
    case NK_OP_PAD:
        return i == 1;
    case NK_OP_SLICE:
        return i >= 1 && i <= 4;
    case NK_OP_CONSTANTOFSHAPE:
        return i == 0;
    default:
        return false;
    }
}

nk_op nk_op_from_name(const char *name)
{
    for (int i = 0; i < NK_OP_COUNT; i++)
        if (NK_OPS[i].name && strcmp(NK_OPS[i].name, name) == 0)
            return (nk_op)i;
    return NK_OP_COUNT;
}

const char *nk_op_name(nk_op op)
{
    return (unsigned)op < NK_OP_COUNT ? NK_OPS[op].name : "?";
}

nk_status nk_fail_node(nk_ctx *ctx, nk_status code, const nk_node *n,
                       const char *fmt, ...)
{
    if (!ctx)
        return code;
    char buf[NK_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return nk_fail(ctx, code, "node '%.200s' (%s): %.1700s", n->name,
                   nk_op_name(n->op), buf);
}
