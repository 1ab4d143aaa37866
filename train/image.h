/*
 * image.h — image decoding (JPEG, PNG) and preprocessing internals, shared
 * by the public nk_image_* API and the training data pipeline.
 */
#ifndef NK_TRAIN_IMAGE_H
#define NK_TRAIN_IMAGE_H

#include "nnkit.h"

#include <stdint.h>

/* An 8-bit image, rows top to bottom, channels interleaved (RGB or gray). */
struct nk_image {
    int w, h, c;
    uint8_t *px; /* w * h * c bytes, owned */
};

/*
 * nk_image_load_sized — like nk_image_load, but a JPEG much larger than
 * needed is decoded at a reduced size with libjpeg's DCT scaling
 * (scale_num/8): the decoded shorter side stays >= 2 * min_short (and
 * never below min_short). min_short <= 0 decodes at full size.
 */
nk_status nk_image_load_sized(nk_ctx *ctx, const char *path,
                              int want_channels, int min_short,
                              nk_image **out);

/* A new w x h x c image with zeroed pixels; the caller owns *out. */
nk_status nk_image_alloc(nk_ctx *ctx, int w, int h, int c, nk_image **out);

/*
 * nk_image_resize_bilinear_f32 — resize src to dw x dh into dst (float,
 * interleaved, dw * dh * src->c values), with the sampling of
 * torch.nn.functional.interpolate(mode="bilinear", align_corners=False,
 * antialias=False). Values are not rounded.
 */
nk_status nk_image_resize_bilinear_f32(nk_ctx *ctx, const nk_image *src,
                                       int dw, int dh, float *dst);

/* The size of the shorter-side resize torchvision's Resize(int) gives. */
void nk_image_resized_size(int w, int h, int shorter, int *rw, int *rh);

/* torchvision CenterCrop's offset: round((size - crop) / 2), ties to
 * even as Python's round() does. Negative when the crop is larger. */
int nk_image_crop_offset(int size, int crop);

#endif /* NK_TRAIN_IMAGE_H */
