/*
 * op.h — the op table: one row per op with its ONNX name, arity and shape
 * inference, written out by hand in engine/op.c (pinned by a
 * _Static_assert on its size). Kernels are chosen separately (kernel.h).
 */
#ifndef NK_OP_H
#define NK_OP_H

#include "engine/ir.h"

/*
 * Shape inference for one node: read the input tensors (dtype, concrete
 * shape; data for constant inputs such as Reshape's shape) and set dtype
 * and shape of each output. Inputs omitted in the node are NULL. All dims
 * are concrete here: nk_graph_infer binds symbolic dims (see ir.c).
 * Errors must name the node: use nk_fail_node().
 */
typedef nk_status (*nk_infer_fn)(nk_ctx *ctx, const nk_node *n,
                                 nk_tensor *const *in, int n_in,
                                 nk_tensor *const *out, int n_out);

typedef struct nk_op_info {
    const char *name;      /* ONNX op type */
    int min_in, max_in;    /* input count bounds (max -1 = variadic) */
    int min_out, max_out;
    nk_infer_fn infer;
} nk_op_info;

extern const nk_op_info NK_OPS[NK_OP_COUNT];

/* Op by ONNX op type name; NK_OP_COUNT when unknown. */
nk_op nk_op_from_name(const char *name);
const char *nk_op_name(nk_op op);

/* Fail with a message prefixed by the node: "node 'conv1' (Conv): ...". */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
nk_status nk_fail_node(nk_ctx *ctx, nk_status code, const nk_node *n,
                       const char *fmt, ...);

/* Per-family inference functions (engine/ops/<family>.c). */
nk_status nk_infer_conv(nk_ctx *, const nk_node *, nk_tensor *const *, int,
                        nk_tensor *const *, int);
nk_status nk_infer_batchnorm(nk_ctx *, const nk_node *, nk_tensor *const *,
                             int, nk_tensor *const *, int);
nk_status nk_infer_unary(nk_ctx *, const nk_node *, nk_tensor *const *, int,
                         nk_tensor *const *, int);
nk_status nk_infer_clip(nk_ctx *, const nk_node *, nk_tensor *const *, int,
                        nk_tensor *const *, int);
nk_status nk_infer_binary(nk_ctx *, const nk_node *, nk_tensor *const *, int,
                          nk_tensor *const *, int);
nk_status nk_infer_matmul(nk_ctx *, const nk_node *, nk_tensor *const *, int,
                          nk_tensor *const *, int);
nk_status nk_infer_gemm(nk_ctx *, const nk_node *, nk_tensor *const *, int,
                        nk_tensor *const *, int);
nk_status nk_infer_pool(nk_ctx *, const nk_node *, nk_tensor *const *, int,
                        nk_tensor *const *, int);
nk_status nk_infer_globalpool(nk_ctx *, const nk_node *, nk_tensor *const *,
                              int, nk_tensor *const *, int);
nk_status nk_infer_flatten(nk_ctx *, const nk_node *, nk_tensor *const *, int,
                           nk_tensor *const *, int);
nk_status nk_infer_reshape(nk_ctx *, const nk_node *, nk_tensor *const *, int,
                           nk_tensor *const *, int);
nk_status nk_infer_transpose(nk_ctx *, const nk_node *, nk_tensor *const *,
                             int, nk_tensor *const *, int);
nk_status nk_infer_concat(nk_ctx *, const nk_node *, nk_tensor *const *, int,
                          nk_tensor *const *, int);
nk_status nk_infer_pad(nk_ctx *, const nk_node *, nk_tensor *const *, int,
                       nk_tensor *const *, int);
nk_status nk_infer_softmax(nk_ctx *, const nk_node *, nk_tensor *const *, int,
                           nk_tensor *const *, int);
nk_status nk_infer_dropout(nk_ctx *, const nk_node *, nk_tensor *const *, int,
                           nk_tensor *const *, int);
nk_status nk_infer_shape(nk_ctx *, const nk_node *, nk_tensor *const *, int,
                         nk_tensor *const *, int);
nk_status nk_infer_gather(nk_ctx *, const nk_node *, nk_tensor *const *, int,
                          nk_tensor *const *, int);
nk_status nk_infer_unsqueeze(nk_ctx *, const nk_node *, nk_tensor *const *,
                             int, nk_tensor *const *, int);
nk_status nk_infer_squeeze(nk_ctx *, const nk_node *, nk_tensor *const *, int,
                           nk_tensor *const *, int);
nk_status nk_infer_slice(nk_ctx *, const nk_node *, nk_tensor *const *, int,
                         nk_tensor *const *, int);
nk_status nk_infer_cast(nk_ctx *, const nk_node *, nk_tensor *const *, int,
                        nk_tensor *const *, int);
nk_status nk_infer_constantofshape(nk_ctx *, const nk_node *,
                                   nk_tensor *const *, int,
                                   nk_tensor *const *, int);
nk_status nk_infer_reducemean(nk_ctx *, const nk_node *, nk_tensor *const *,
                              int, nk_tensor *const *, int);

/* Shared helpers for inference and kernels. */

/* Is input i of op a parameter whose values shape inference needs
 * (Reshape's shape, Slice's starts/ends/axes/steps, Squeeze/Unsqueeze/
 * ReduceMean axes, ConstantOfShape's shape, Pad's pads)? Such inputs must
 * be initializers or computed from shapes (engine/shape-eval.c). */
bool nk_op_input_is_param(nk_op op, int i);

/*
 * nk_const_ints — read the integer values of a parameter input (Reshape's
 * shape, Slice's starts, Unsqueeze's axes, ...): t must be i64 or i32,
 * rank 0 or 1, at most max values, and hold data at inference time (an
 * initializer, or a value computed from shapes, see engine/shape-eval.c).
 * what names the input in errors ("axes"). Sets *count.
 */
nk_status nk_const_ints(nk_ctx *ctx, const nk_node *n, const nk_tensor *t,
                        const char *what, int64_t *v, int max, int *count);

/* Numpy-style broadcast of a and b into out; false if incompatible. */
bool nk_broadcast_shape(const nk_shape *a, const nk_shape *b, nk_shape *out);

/* Parsed Conv/Pool geometry (2-D spatial only: N, C, H, W). */
typedef struct nk_conv_geom {
    int64_t n, c, h, w;      /* input */
    int64_t m, oh, ow;       /* output channels and size */
    int64_t kh, kw;
    int64_t sh, sw;          /* strides */
    int64_t dh, dw;          /* dilations */
    int64_t pt, pl, pb, pr;  /* pads: top, left, bottom, right */
    int64_t group;
    int ceil_mode;
    int count_include_pad;
} nk_conv_geom;

/* Fill g from node attributes (kernel_shape, strides, pads, dilations,
 * group, auto_pad, ceil_mode) and input shape x (N,C,H,W); for Conv, w is
 * the weight shape (M, C/group, kH, kW), NULL for pools. Validates and
 * names the node on error. */
nk_status nk_conv_geom_from_node(nk_ctx *ctx, const nk_node *n,
                                 const nk_shape *x, const nk_shape *w,
                                 nk_conv_geom *g);

#endif /* NK_OP_H */
