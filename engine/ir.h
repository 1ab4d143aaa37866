/*
 * ir.h — nnkit's graph IR (internal): tensors, nodes, attributes, graphs,
 * metadata. Op semantics are ONNX's (NCHW, ONNX attribute meanings).
 *
 * Ownership: everything with graph lifetime (names, attributes, shapes,
 * node arrays) comes from the graph's arena (g->arena) and is freed with
 * the graph. Tensor data is either owned (malloc, freed with the graph),
 * in the arena, or borrowed from a mapping that the graph keeps open.
 */
#ifndef NK_IR_H
#define NK_IR_H

#include "nnkit.h"
#include "engine/arena.h"
#include "engine/ctx.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- shapes ---------------------------------------------------------- */

/* A dim value of NK_DIM_SYM means symbolic; sym[i] then names it. */
#define NK_DIM_SYM (-1)

typedef struct nk_shape {
    int rank;
    int64_t d[NK_MAX_RANK];
    const char *sym[NK_MAX_RANK]; /* symbol name or NULL (arena/static) */
} nk_shape;

int64_t nk_shape_numel(const nk_shape *s); /* -1 if any dim symbolic */
bool nk_shape_is_static(const nk_shape *s);
bool nk_shape_equal(const nk_shape *a, const nk_shape *b);
/* "[1, 3, 224, 224]" or "[batch, 1000]" into buf; returns buf. */
char *nk_shape_str(const nk_shape *s, char *buf, size_t n);
nk_shape nk_shape_make(int rank, const int64_t *dims);

/* ---- quantization parameters ------------------------------------------ */

/* Per tensor when axis < 0 and n == 1, else per channel along axis. */
typedef struct nk_quant {
    int axis;
    int n;
    float *scale;        /* n values */
    int32_t *zero_point; /* n values */
} nk_quant;

/* ---- tensors ------------------------------------------------------------ */

typedef enum nk_storage {
    NK_STORE_NONE = 0,  /* no data (activation, or graph I/O) */
    NK_STORE_OWNED,     /* malloc'd, freed with the tensor/graph */
    NK_STORE_BORROWED,  /* points into a mapping or foreign memory */
} nk_storage;

typedef enum nk_layout {
    NK_LAYOUT_DEFAULT = 0, /* row-major with ONNX (NCHW) semantics */
    NK_LAYOUT_NHWC,
    NK_LAYOUT_NCHW8C,      /* channel-blocked, for fast kernels */
    NK_LAYOUT_COUNT
} nk_layout;

struct nk_tensor {
    const char *name;   /* arena (graph) or owned (standalone) */
    nk_dtype dtype;
    nk_shape shape;
    void *data;
    size_t nbytes;      /* bytes of data when data != NULL */
    nk_storage storage;
    nk_layout layout;
    nk_quant *quant;    /* NULL when not quantized (arena) */
    bool is_init;       /* an initializer (weight, constant) */
    bool trainable;     /* a parameter that training may update */
    bool standalone;    /* created by nk_tensor_new: owns its name */
};

size_t nk_tensor_bytes_for(nk_dtype dt, const nk_shape *s);

/* ---- attributes --------------------------------------------------------- */

typedef enum nk_attr_type {
    NK_ATTR_INT = 0,
    NK_ATTR_FLOAT,
    NK_ATTR_STRING,
    NK_ATTR_INTS,
    NK_ATTR_FLOATS,
    NK_ATTR_TENSOR,
    NK_ATTR_TYPE_COUNT
} nk_attr_type;

typedef struct nk_attr {
    const char *name;
    nk_attr_type type;
    int64_t i;
    float f;
    const char *s;
    int n;              /* element count for INTS / FLOATS */
    int64_t *ints;
    float *floats;
    nk_tensor *t;       /* for TENSOR (owned by the graph) */
} nk_attr;

/* ---- ops ---------------------------------------------------------------- */

typedef enum nk_op {
    NK_OP_CONV = 0,
    NK_OP_BATCHNORM,
    NK_OP_RELU,
    NK_OP_CLIP,
    NK_OP_LEAKYRELU,
    NK_OP_SIGMOID,
    NK_OP_TANH,
    NK_OP_HARDSIGMOID,
    NK_OP_HARDSWISH,
    NK_OP_ADD,
    NK_OP_SUB,
    NK_OP_MUL,
    NK_OP_DIV,
    NK_OP_MATMUL,
    NK_OP_GEMM,
    NK_OP_MAXPOOL,
    NK_OP_AVGPOOL,
    NK_OP_GLOBALAVGPOOL,
    NK_OP_FLATTEN,
    NK_OP_RESHAPE,
    NK_OP_TRANSPOSE,
    NK_OP_CONCAT,
    NK_OP_PAD,
    NK_OP_SOFTMAX,
    NK_OP_DROPOUT,
    NK_OP_IDENTITY,
    /* exporter glue and data-dependent shape ops (engine/ops/shape-ops.c,
     * gather.c, slice.c, cast.c, reduce.c) */
    NK_OP_SHAPE,
    NK_OP_GATHER,
    NK_OP_UNSQUEEZE,       /* axes: i64 input 1 (the attribute form of
                            * opset < 13 is converted by the readers) */
    NK_OP_SQUEEZE,         /* axes: optional i64 input 1, likewise */
    NK_OP_SLICE,           /* starts, ends, [axes], [steps]: i64 inputs */
    NK_OP_CAST,
    NK_OP_CONSTANTOFSHAPE,
    NK_OP_REDUCEMEAN,      /* axes: optional i64 input 1 (or attribute) */
    NK_OP_COUNT
} nk_op;

/* Activation fused into a Conv/Gemm node by the fusion pass. */
typedef enum nk_act {
    NK_ACT_NONE = 0,
    NK_ACT_RELU,
    NK_ACT_CLIP,        /* a0 = min, a1 = max (ReLU6: 0, 6) */
    NK_ACT_LEAKYRELU,   /* a0 = alpha */
    NK_ACT_SIGMOID,
    NK_ACT_HARDSIGMOID, /* a0 = alpha, a1 = beta */
    NK_ACT_HARDSWISH,
    NK_ACT_TANH,
    NK_ACT_COUNT
} nk_act;

const char *nk_act_name(nk_act a);
/* Apply activation a to x[0..n) in place. */
void nk_act_apply(nk_act a, float a0, float a1, float *x, size_t n);

/* ---- nodes and graphs ------------------------------------------------- */

#define NK_NO_INPUT (-1) /* an omitted optional input */

typedef struct nk_node {
    const char *name;
    nk_op op;
    int n_in, n_out;
    int *in;           /* tensor indices; NK_NO_INPUT for omitted */
    int *out;
    int n_attr;
    nk_attr *attr;
    nk_act act;        /* fused activation (Conv, Gemm, MatMul, Add) */
    float act_a0, act_a1;
} nk_node;

typedef struct nk_meta_kv {
    const char *key;
    const char *value;
} nk_meta_kv;

typedef struct nk_mapping {
    void *addr;
    size_t len;
    struct nk_mapping *next;
} nk_mapping;

struct nk_graph {
    nk_arena arena;
    nk_tensor **tensors; /* all values: inputs, initializers, activations */
    int n_tensors, cap_tensors;
    nk_node *nodes;      /* topological order */
    int n_nodes, cap_nodes;
    int *inputs;  int n_inputs;  /* graph inputs (no initializers) */
    int *outputs; int n_outputs;
    /* metadata */
    char **labels; int n_labels; /* arena */
    nk_preproc preproc;
    nk_meta_kv *meta; int n_meta, cap_meta;
    nk_mapping *maps;    /* mmaps the graph borrows tensor data from */
    int *name_slots;     /* open-addressing index of tensor names */
    int n_slots;
};

/* Create an empty graph. */
nk_status nk_graph_new(nk_ctx *ctx, nk_graph **out);

/* Add a tensor (name copied into the arena); returns its index via *idx.
 * A name already present is NK_INVALID_ARG. */
nk_status nk_graph_add_tensor(nk_ctx *ctx, nk_graph *g, const char *name,
                              nk_dtype dt, const nk_shape *s, int *idx);
/* Index of the tensor named name, or -1. Linear in the first call after a
 * change; cached by a hash table otherwise. */
int nk_graph_find_tensor(const nk_graph *g, const char *name);
/* Add an initializer with a freshly allocated, zeroed, owned buffer. */
nk_status nk_graph_add_init(nk_ctx *ctx, nk_graph *g, const char *name,
                            nk_dtype dt, const nk_shape *s, int *idx);

/* Append a node; in/out arrays are copied. The node's name is copied. */
nk_status nk_graph_add_node(nk_ctx *ctx, nk_graph *g, nk_op op,
                            const char *name, int n_in, const int *in,
                            int n_out, const int *out, nk_node **node);
/* Attributes on the last-added or any node (values copied). */
nk_status nk_node_set_int(nk_ctx *ctx, nk_graph *g, nk_node *n,
                          const char *name, int64_t v);
nk_status nk_node_set_float(nk_ctx *ctx, nk_graph *g, nk_node *n,
                            const char *name, float v);
nk_status nk_node_set_string(nk_ctx *ctx, nk_graph *g, nk_node *n,
                             const char *name, const char *v);
nk_status nk_node_set_ints(nk_ctx *ctx, nk_graph *g, nk_node *n,
                           const char *name, int count, const int64_t *v);
nk_status nk_node_set_floats(nk_ctx *ctx, nk_graph *g, nk_node *n,
                             const char *name, int count, const float *v);

const nk_attr *nk_node_attr(const nk_node *n, const char *name);
int64_t nk_node_int(const nk_node *n, const char *name, int64_t def);
float nk_node_float(const nk_node *n, const char *name, float def);
const char *nk_node_string(const nk_node *n, const char *name,
                           const char *def);
/* Copies up to max ints into v; returns the count found (0 if absent). */
int nk_node_ints(const nk_node *n, const char *name, int64_t *v, int max);

nk_status nk_graph_set_inputs(nk_ctx *ctx, nk_graph *g, int n,
                              const int *idx);
nk_status nk_graph_set_outputs(nk_ctx *ctx, nk_graph *g, int n,
                               const int *idx);

/* Node `n`'s i-th input tensor, or NULL if omitted / out of range. */
nk_tensor *nk_node_input(const nk_graph *g, const nk_node *n, int i);
nk_tensor *nk_node_output(const nk_graph *g, const nk_node *n, int i);

/* Copy a string into the graph's arena. NULL on out-of-memory. */
char *nk_graph_strdup(nk_graph *g, const char *s);

/* Attach a mapping to the graph (unmapped in nk_graph_free). */
nk_status nk_graph_adopt_mapping(nk_ctx *ctx, nk_graph *g, void *addr,
                                 size_t len);

/* Set quantization parameters of tensor t (copied into the arena). */
nk_status nk_tensor_set_quant(nk_ctx *ctx, nk_graph *g, nk_tensor *t,
                              int axis, int n, const float *scale,
                              const int32_t *zero_point);

/* Replace every use of tensor `from` as a node input or graph output
 * with `to`. */
void nk_graph_replace_uses(nk_graph *g, int from, int to);
/* Remove nodes flagged in dead[0..n_nodes) keeping order. */
void nk_graph_remove_nodes(nk_graph *g, const bool *dead);
/* Rebuild the tensor-name index (after renaming tensors). */
nk_status nk_graph_reindex(nk_ctx *ctx, nk_graph *g);

/*
 * nk_graph_infer — run shape inference over the whole graph in order,
 * validating every node (input counts, dtypes, shapes, attributes) and
 * setting every activation's dtype and shape. Symbolic dims propagate.
 * Errors name the node and what was found vs expected.
 */
nk_status nk_graph_infer(nk_ctx *ctx, nk_graph *g);

/* Infer node n's outputs over v, an array of value views indexed like
 * g->tensors with concrete shapes (used by nk_graph_infer and plans). */
nk_status nk_node_infer(nk_ctx *ctx, const nk_node *n, nk_tensor *v);

/* Checks beyond shapes: tensor indices in range, every input produced
 * before use (topological order), no cycles, outputs exist. */
nk_status nk_graph_validate(nk_ctx *ctx, const nk_graph *g);

/* Deep copy (data copied unless it is borrowed, which stays shared by
 * reference: the copy must not outlive the source in that case). */
nk_status nk_graph_clone(nk_ctx *ctx, const nk_graph *g, nk_graph **out);

#endif /* NK_IR_H */
