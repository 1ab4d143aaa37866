/*
 * onnx-impl.h — what the ONNX reader's and writer's files share: the
 * reader state used by the opset upgrades (onnx-upgrade.c), and the
 * metadata_props encoding of labels and preprocessing (onnx-meta.c).
 */
#ifndef NK_FORMATS_ONNX_IMPL_H
#define NK_FORMATS_ONNX_IMPL_H

#include "formats/onnx/onnx.h"

typedef struct nk_onnx_reader {
    nk_ctx *ctx;
    const char *path;
    nk_graph *g;
    int opset;       /* of the default domain */
    bool legacy_softmax; /* a Softmax needs the post-inference fix */
    /* Is the value called name used by any node or as a graph output of
     * the file (including nodes not yet added)? */
    bool (*uses)(const struct nk_onnx_reader *r, const char *name);
    const void *file_graph; /* the GraphProto, for uses() */
} nk_onnx_reader;

/*
 * Bring node n (just added, attributes copied) from the file's opset to
 * the IR's one form (see onnx.h): attributes that later opsets made inputs
 * become constant initializers and the reverse. Errors name the file and
 * the node.
 */
nk_status nk_onnx_upgrade_node(nk_onnx_reader *r, nk_node *n);

/* After shape inference: give Softmax nodes of opset < 13 (coerce-to-2D
 * semantics) the IR's semantics, inserting Flatten/Reshape where the axis
 * is not the last one; refuses what it cannot express. */
nk_status nk_onnx_fix_legacy_softmax(nk_onnx_reader *r);

/* Rewrite x * HardSigmoid(x; alpha 1/6, beta 1/2) — HardSwish as
 * exporters write it before opset 14 — into one HardSwish node. */
nk_status nk_onnx_fuse_hardswish(nk_onnx_reader *r);

/* A new f32 / i64 initializer named after base (made unique); returns its
 * tensor index. rank 0 when n == 1 and scalar, else rank 1 of n values. */
nk_status nk_onnx_const_f32(nk_ctx *ctx, nk_graph *g, const char *base,
                            const float *v, int n, bool scalar, int *idx);
nk_status nk_onnx_const_i64(nk_ctx *ctx, nk_graph *g, const char *base,
                            const int64_t *v, int n, int *idx);

/* Remove attribute `name` from n (no-op when absent). */
void nk_onnx_drop_attr(nk_node *n, const char *name);
/* Set node input i (growing the input list with omitted inputs). */
nk_status nk_onnx_set_input(nk_ctx *ctx, nk_graph *g, nk_node *n, int i,
                            int tensor);

/* ---- metadata_props (onnx-meta.c) ------------------------------------- */

/* Labels: one per line, "\n"-separated (no trailing newline). */
char *nk_onnx_labels_format(const nk_graph *g); /* nk_free; NULL on OOM */
nk_status nk_onnx_labels_parse(nk_ctx *ctx, nk_graph *g, const char *s);
/* Preprocessing: "key=value;..." (docs/onnx.md lists the keys). */
char *nk_onnx_preproc_format(const nk_preproc *p); /* nk_free */
nk_status nk_onnx_preproc_parse(nk_ctx *ctx, const char *s, nk_preproc *p);

#endif /* NK_FORMATS_ONNX_IMPL_H */
