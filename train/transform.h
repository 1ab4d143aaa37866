/*
 * transform.h — turning one decoded image into one sample of a batch:
 * the model's eval preprocessing (resize, center crop, normalise) or the
 * training augmentation (random resized crop, random flips, normalise).
 */
#ifndef NK_TRAIN_TRANSFORM_H
#define NK_TRAIN_TRANSFORM_H

#include "engine/ctx.h"
#include "nnkit.h"

typedef struct nk_transform {
    nk_preproc pre;    /* the model's preprocessing (valid, checked) */
    int random_crop;   /* RandomResizedCrop(crop, scale, ratio) */
    float scale_min, scale_max; /* (0.08, 1) */
    float ratio_min, ratio_max; /* (3/4, 4/3) */
    int hflip, vflip;  /* random flips with probability 1/2 */
} nk_transform;

/* A transform from preprocessing pre; augment adds the random crop and
 * the horizontal flip (torchvision's standard training recipe). */
nk_transform nk_transform_make(const nk_preproc *pre, int augment);

/* Shorter side worth decoding for this transform (for DCT scaling). */
int nk_transform_min_short(const nk_transform *t);

/* Elements of one sample: channels * crop_h * crop_w. */
size_t nk_transform_sample_size(const nk_transform *t);

/*
 * nk_transform_crop_params — torchvision RandomResizedCrop.get_params:
 * ten tries of a random area in [scale_min, scale_max] of the image and a
 * log-uniform aspect ratio; the fallback is a center crop with the ratio
 * clamped to the range. Writes the crop's top, left, height, width.
 */
void nk_transform_crop_params(const nk_transform *t, int w, int h,
                              nk_rng *rng, int *top, int *left, int *ch,
                              int *cw);

/*
 * nk_transform_apply — write img (already with the model's channel count)
 * as one sample into dst (channels * crop_h * crop_w floats, the model's
 * layout). rng NULL: eval preprocessing (exactly nk_image_to_input);
 * otherwise the random augmentations draw from rng.
 */
nk_status nk_transform_apply(nk_ctx *ctx, const nk_transform *t,
                             const nk_image *img, nk_rng *rng, float *dst);

#endif /* NK_TRAIN_TRANSFORM_H */
