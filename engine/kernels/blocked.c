/*
 * blocked.c — NCHW8c helpers (blocked.h): sizes, strides, and the
 * reorders the planner inserts between NCHW and NCHW8c values.
 */
#include "engine/kernels/blocked.h"

#include <string.h>

size_t nk_blk_bytes(const nk_shape *s)
{
    if (s->rank != 4)
        return nk_tensor_bytes_for(NK_F32, s);
    nk_shape b = *s;
    b.d[1] = nk_blk_cb(s->d[1]) * NK_BLK;
    return nk_tensor_bytes_for(NK_F32, &b);
}

void nk_blk_strides(const nk_tensor *t, int64_t *lane_stride,
                    int64_t *pixel_stride)
{
    if (t->layout == NK_LAYOUT_NCHW8C) {
        *lane_stride = 1;
        *pixel_stride = NK_BLK;
    } else {
        *lane_stride = t->shape.d[2] * t->shape.d[3];
        *pixel_stride = 1;
    }
}

void nk_blk_pack(const float *src, float *dst, int64_t c, int64_t hw,
                 int64_t b, int64_t e)
{
    int64_t cb = nk_blk_cb(c);
    for (int64_t i = b; i < e; i++) {
        int64_t n = i / cb, blk = i % cb;
        int64_t c0 = blk * NK_BLK;
        int lanes = (int)(c - c0 < NK_BLK ? c - c0 : NK_BLK);
        const float *s = src + (n * c + c0) * hw;
        float *d = dst + i * hw * NK_BLK;
        if (lanes == NK_BLK) {
            for (int64_t p = 0; p < hw; p++)
                for (int l = 0; l < NK_BLK; l++)
                    d[p * NK_BLK + l] = s[l * hw + p];
        } else {
            for (int64_t p = 0; p < hw; p++)
                for (int l = 0; l < NK_BLK; l++)
                    d[p * NK_BLK + l] = l < lanes ? s[l * hw + p] : 0.0f;
        }
    }
}

void nk_blk_unpack(const float *src, float *dst, int64_t c, int64_t hw,
                   int64_t b, int64_t e)
{
    int64_t cb = nk_blk_cb(c);
    for (int64_t i = b; i < e; i++) {
        int64_t n = i / cb, blk = i % cb;
        int64_t c0 = blk * NK_BLK;
        int lanes = (int)(c - c0 < NK_BLK ? c - c0 : NK_BLK);
        const float *s = src + i * hw * NK_BLK;
        float *d = dst + (n * c + c0) * hw;
        if (lanes == NK_BLK) {
            for (int l = 0; l < NK_BLK; l++)
                for (int64_t p = 0; p < hw; p++)
                    d[l * hw + p] = s[p * NK_BLK + l];
        } else {
            for (int l = 0; l < lanes; l++)
                for (int64_t p = 0; p < hw; p++)
                    d[l * hw + p] = s[p * NK_BLK + l];
        }
    }
}

void nk_reorder_run(const nk_step *st, int ith, int nth)
{
    const nk_tensor *x = st->in[0];
    nk_tensor *y = st->out[0];
    const nk_shape *s = &x->shape;
    int64_t c = s->d[1], hw = s->d[2] * s->d[3];
    int64_t b, e;
    nk_split(s->d[0] * nk_blk_cb(c), ith, nth, &b, &e);
    if (x->layout == y->layout) {
        /* Not made by the planner; kept total for safety. */
        if (ith == 0)
            memcpy(y->data, x->data, y->nbytes < x->nbytes ? y->nbytes
                                                           : x->nbytes);
    } else if (y->layout == NK_LAYOUT_NCHW8C) {
        nk_blk_pack(x->data, y->data, c, hw, b, e);
    } else {
        nk_blk_unpack(x->data, y->data, c, hw, b, e);
    }
}

/* Not a table row: the planner places reorder steps itself. */
const nk_kernel nk_reorder_kernel = {.name = "reorder", .op = NK_OP_IDENTITY,
                                     .dtype = NK_F32, .isa = NK_ISA_GENERIC,
                                     .run = nk_reorder_run};
