/*
 * transform.c — per-sample preprocessing and augmentation: eval
 * preprocessing through nk_image_to_input (torch-exact), and torchvision's
 * RandomResizedCrop + RandomHorizontalFlip/RandomVerticalFlip for training.
 */
#include "train/transform.h"
#include "engine/ir.h"
#include "train/image.h"

#include <math.h>
#include <string.h>

nk_transform nk_transform_make(const nk_preproc *pre, int augment)
{
    nk_transform t;
    memset(&t, 0, sizeof t);
    t.pre = *pre;
    t.scale_min = 0.08f;
    t.scale_max = 1.0f;
    t.ratio_min = 3.0f / 4.0f;
    t.ratio_max = 4.0f / 3.0f;
    if (augment) {
        t.random_crop = 1;
        t.hflip = 1;
    }
    return t;
}

int nk_transform_min_short(const nk_transform *t)
{
    int crop = t->pre.crop_h > t->pre.crop_w ? t->pre.crop_h : t->pre.crop_w;
    return t->pre.resize > crop ? t->pre.resize : crop;
}

size_t nk_transform_sample_size(const nk_transform *t)
{
    return (size_t)t->pre.channels * (size_t)t->pre.crop_h *
           (size_t)t->pre.crop_w;
}

void nk_transform_crop_params(const nk_transform *t, int w, int h,
                              nk_rng *rng, int *top, int *left, int *ch,
                              int *cw)
{
    double area = (double)w * (double)h;
    double lr0 = log(t->ratio_min), lr1 = log(t->ratio_max);
    for (int k = 0; k < 10; k++) {
        double target = area * (t->scale_min + (t->scale_max - t->scale_min) *
                                                   nk_rng_uniform(rng));
        double ar = exp(lr0 + (lr1 - lr0) * nk_rng_uniform(rng));
        /* Python's round(): half to even, as nearbyint by default */
        int cwi = (int)nearbyint(sqrt(target * ar));
        int chi = (int)nearbyint(sqrt(target / ar));
        if (cwi > 0 && cwi <= w && chi > 0 && chi <= h) {
            *top = (int)(nk_rng_next(rng) % (uint64_t)(h - chi + 1));
            *left = (int)(nk_rng_next(rng) % (uint64_t)(w - cwi + 1));
            *ch = chi;
            *cw = cwi;
            return;
        }
    }
    double in_ratio = (double)w / (double)h;
    int cwi = w, chi = h;
    if (in_ratio < t->ratio_min)
        chi = (int)nearbyint(cwi / (double)t->ratio_min);
    else if (in_ratio > t->ratio_max)
        cwi = (int)nearbyint(chi * (double)t->ratio_max);
    if (chi > h)
        chi = h;
    if (cwi > w)
        cwi = w;
    *top = (h - chi) / 2;
    *left = (w - cwi) / 2;
    *ch = chi;
    *cw = cwi;
}

/* Bilinear (align_corners=False) source taps of out positions over a
 * crop [off, off + len) of an axis. */
static void taps(int off, int len, int outn, int k, int *i0, int *i1,
                 float *l1)
{
    double s = (double)len / outn * (k + 0.5) - 0.5;
    if (s < 0)
        s = 0;
    int a = (int)s;
    if (a > len - 1)
        a = len - 1;
    *i0 = off + a;
    *i1 = off + (a < len - 1 ? a + 1 : a);
    *l1 = (float)(s - a);
}

nk_status nk_transform_apply(nk_ctx *ctx, const nk_transform *t,
                             const nk_image *img, nk_rng *rng, float *dst)
{
    const nk_preproc *p = &t->pre;
    int C = p->channels, H = p->crop_h, W = p->crop_w;
    if (!rng || (!t->random_crop && !t->hflip && !t->vflip)) {
        /* eval path: a one-image view over dst */
        nk_tensor v;
        memset(&v, 0, sizeof v);
        v.name = "input";
        v.dtype = NK_F32;
        int64_t dims[4] = {1, p->nhwc ? H : C, p->nhwc ? W : H,
                           p->nhwc ? C : W};
        v.shape = nk_shape_make(4, dims);
        v.data = dst;
        v.nbytes = nk_transform_sample_size(t) * sizeof(float);
        v.storage = NK_STORE_BORROWED;
        return nk_image_to_input(ctx, img, p, &v, 0);
    }
    if (img->c != C)
        return nk_fail(ctx, NK_INTERNAL,
                       "transform: image has %d channels, expected %d",
                       img->c, C);
    for (int c = 0; c < C; c++)
        if (!(p->std[c] != 0.0f) || !isfinite(p->std[c]))
            return nk_fail(ctx, NK_INVALID_ARG,
                           "preprocessing std[%d] is %g, expected non-zero",
                           c, (double)p->std[c]);
    int top = 0, left = 0, ch = img->h, cw = img->w;
    if (t->random_crop)
        nk_transform_crop_params(t, img->w, img->h, rng, &top, &left, &ch,
                                 &cw);
    int flip_h = t->hflip && nk_rng_uniform(rng) < 0.5f;
    int flip_v = t->vflip && nk_rng_uniform(rng) < 0.5f;
    int resized = ch != H || cw != W;
    size_t plane = (size_t)H * (size_t)W, stride = (size_t)img->w * img->c;
    for (int y = 0; y < H; y++) {
        int y0, y1;
        float wy;
        taps(top, ch, H, flip_v ? H - 1 - y : y, &y0, &y1, &wy);
        const uint8_t *r0 = img->px + (size_t)y0 * stride;
        const uint8_t *r1 = img->px + (size_t)y1 * stride;
        for (int x = 0; x < W; x++) {
            int x0, x1;
            float wx;
            taps(left, cw, W, flip_h ? W - 1 - x : x, &x0, &x1, &wx);
            for (int c = 0; c < C; c++) {
                size_t a = (size_t)x0 * C + c, b = (size_t)x1 * C + c;
                float v = (1 - wy) * ((1 - wx) * r0[a] + wx * r0[b]) +
                          wy * ((1 - wx) * r1[a] + wx * r1[b]);
                if (resized) /* a uint8 resize rounds its result */
                    v = nearbyintf(v < 0 ? 0 : v > 255 ? 255 : v);
                int oc = (p->bgr && C == 3) ? 2 - c : c;
                float o = (v * p->scale - p->mean[oc]) / p->std[oc];
                size_t at = p->nhwc ? ((size_t)y * W + x) * C + oc
                                    : (size_t)oc * plane + (size_t)y * W + x;
                dst[at] = o;
            }
        }
    }
    return NK_OK;
}
