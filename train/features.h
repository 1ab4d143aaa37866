/*
 * features.h — the feature cache of head-only training: with the backbone
 * frozen and no augmentation, every image's backbone output is the same in
 * every epoch, so it is computed once and the classifier alone is trained
 * on the cached rows (a tiny graph: features -> Gemm -> logits).
 */
#ifndef NK_TRAIN_FEATURES_H
#define NK_TRAIN_FEATURES_H

#include "train/evaluate.h"
#include "train/head.h"

/*
 * nk_features_compute — run g's backbone (g cut at the head's input, eval
 * mode) over every image of ds in dataset order, with the eval transform
 * tf. Unreadable images are skipped (reported through warn). *feats holds
 * *n rows of h->features floats, *labels their classes; both owned by the
 * caller (nk_free).
 */
nk_status nk_features_compute(nk_ctx *ctx, const nk_graph *g, const nk_head *h,
                              nk_dataset *ds, const nk_transform *tf,
                              int batch, int workers, nk_warn_fn warn,
                              void *user, float **feats, int32_t **labels,
                              int64_t *n);

/* A graph with input "features" [batch, F] and g's head (copies of its
 * weight and bias under the same names, trainable) producing "logits". */
nk_status nk_features_head_graph(nk_ctx *ctx, const nk_graph *g,
                                 const nk_head *h, nk_graph **out);

/* Copy the data of every f32 initializer of src into the initializer of
 * dst with the same name and size (NK_INTERNAL if one is missing). */
nk_status nk_copy_params(nk_ctx *ctx, nk_graph *dst, const nk_graph *src);

#endif /* NK_TRAIN_FEATURES_H */
