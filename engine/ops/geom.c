/*
 * geom.c — Conv/Pool geometry from ONNX attributes: kernel_shape, strides,
 * pads, dilations, group, auto_pad, ceil_mode, count_include_pad. Shared by
 * shape inference and every Conv/Pool kernel's prepare.
 */
#include "engine/op.h"

#include <string.h>

/* Output extent of one spatial axis; -1 when the window does not fit. */
static int64_t out_extent(int64_t in, int64_t k, int64_t s, int64_t d,
                          int64_t pb, int64_t pe, int ceil_mode)
{
    int64_t eff = (k - 1) * d + 1;
    int64_t span = in + pb + pe - eff;
    if (span < 0)
        return -1;
    int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    /* As PyTorch and ONNX do: the last window must start inside the
     * input or its leading padding, not in the trailing padding. */
    if (ceil_mode && (o - 1) * s >= in + pb)
        o--;
    return o;
}

/* SAME_* padding of one axis: output is ceil(in / s). */
static void same_pads(int64_t in, int64_t k, int64_t s, int64_t d, int upper,
                      int64_t *pb, int64_t *pe, int64_t *out)
{
    int64_t o = (in + s - 1) / s;
    int64_t total = (o - 1) * s + (k - 1) * d + 1 - in;
    if (total < 0)
        total = 0;
    if (upper) {
        *pb = total / 2;
        *pe = total - total / 2;
    } else {
        *pe = total / 2;
        *pb = total - total / 2;
    }
    *out = o;
}

static nk_status read_pair(nk_ctx *ctx, const nk_node *n, const char *name,
                           int64_t def, int64_t v[2])
{
    int64_t tmp[NK_MAX_RANK];
    int cnt = nk_node_ints(n, name, tmp, NK_MAX_RANK);
    if (cnt == 0) {
        v[0] = v[1] = def;
        return NK_OK;
    }
    if (cnt != 2)
        return nk_fail_node(ctx, NK_UNSUPPORTED, n,
                            "attribute '%s' has %d values, expected 2 "
                            "(only 2-D spatial ops are supported)",
                            name, cnt);
    if (tmp[0] < 1 || tmp[1] < 1)
        return nk_fail_node(ctx, NK_FORMAT, n,
                            "attribute '%s' is [%lld, %lld], expected "
                            "values >= 1",
                            name, (long long)tmp[0], (long long)tmp[1]);
    v[0] = tmp[0];
    v[1] = tmp[1];
    return NK_OK;
}

nk_status nk_conv_geom_from_node(nk_ctx *ctx, const nk_node *n,
                                 const nk_shape *x, const nk_shape *w,
                                 nk_conv_geom *g)
{
    nk_status st;
    memset(g, 0, sizeof *g);
    if (x->rank != 4)
        return nk_fail_node(ctx, NK_UNSUPPORTED, n,
                            "input has rank %d, expected 4 (N, C, H, W)",
                            x->rank);
    for (int i = 0; i < 4; i++)
        if (x->d[i] < 0)
            return nk_fail_node(ctx, NK_SHAPE, n,
                                "input dim %d is %lld, expected a concrete "
                                "size", i, (long long)x->d[i]);
    g->n = x->d[0];
    g->c = x->d[1];
    g->h = x->d[2];
    g->w = x->d[3];

    g->group = nk_node_int(n, "group", 1);
    if (g->group < 1)
        return nk_fail_node(ctx, NK_FORMAT, n,
                            "group is %lld, expected >= 1",
                            (long long)g->group);

    int64_t k[2];
    int64_t kt[NK_MAX_RANK];
    int kn = nk_node_ints(n, "kernel_shape", kt, NK_MAX_RANK);
    if (w) {
        if (w->rank != 4)
            return nk_fail_node(ctx, NK_SHAPE, n,
                                "weight has rank %d, expected 4 "
                                "(M, C/group, kH, kW)", w->rank);
        g->m = w->d[0];
        if (g->m < 1 || g->m % g->group != 0)
            return nk_fail_node(ctx, NK_SHAPE, n,
                                "weight has %lld output channels, expected "
                                "a positive multiple of group %lld",
                                (long long)g->m, (long long)g->group);
        if (w->d[1] * g->group != g->c)
            return nk_fail_node(ctx, NK_SHAPE, n,
                                "weight has %lld input channels per group, "
                                "expected %lld (input channels %lld / "
                                "group %lld)",
                                (long long)w->d[1],
                                (long long)(g->c / g->group),
                                (long long)g->c, (long long)g->group);
        k[0] = w->d[2];
        k[1] = w->d[3];
        if (kn != 0 && (kn != 2 || kt[0] != k[0] || kt[1] != k[1]))
            return nk_fail_node(ctx, NK_SHAPE, n,
                                "kernel_shape does not match the weight's "
                                "spatial size [%lld, %lld]",
                                (long long)k[0], (long long)k[1]);
    } else {
        if (g->group != 1)
            return nk_fail_node(ctx, NK_FORMAT, n,
                                "group is %lld, expected 1 for a pool",
                                (long long)g->group);
        g->m = g->c;
        if (kn != 2)
            return nk_fail_node(ctx, kn == 0 ? NK_FORMAT : NK_UNSUPPORTED,
                                n, "kernel_shape has %d values, expected 2",
                                kn);
        k[0] = kt[0];
        k[1] = kt[1];
    }
    if (k[0] < 1 || k[1] < 1)
        return nk_fail_node(ctx, NK_FORMAT, n,
                            "kernel size is [%lld, %lld], expected >= 1",
                            (long long)k[0], (long long)k[1]);
    g->kh = k[0];
    g->kw = k[1];

    int64_t s[2] = {1, 1}, d[2] = {1, 1};
    if ((st = read_pair(ctx, n, "strides", 1, s)) != NK_OK)
        return st;
    if ((st = read_pair(ctx, n, "dilations", 1, d)) != NK_OK)
        return st;
    g->sh = s[0];
    g->sw = s[1];
    g->dh = d[0];
    g->dw = d[1];
    g->ceil_mode = nk_node_int(n, "ceil_mode", 0) != 0;
    g->count_include_pad = nk_node_int(n, "count_include_pad", 0) != 0;

    const char *ap = nk_node_string(n, "auto_pad", "NOTSET");
    if (strcmp(ap, "NOTSET") == 0) {
        int64_t p[NK_MAX_RANK];
        int pn = nk_node_ints(n, "pads", p, NK_MAX_RANK);
        if (pn == 0) {
            p[0] = p[1] = p[2] = p[3] = 0;
        } else if (pn != 4) {
            return nk_fail_node(ctx, NK_FORMAT, n,
                                "pads has %d values, expected 4 "
                                "[top, left, bottom, right]", pn);
        }
        for (int i = 0; i < 4; i++)
            if (p[i] < 0)
                return nk_fail_node(ctx, NK_UNSUPPORTED, n,
                                    "pads[%d] is %lld, expected >= 0", i,
                                    (long long)p[i]);
        g->pt = p[0];
        g->pl = p[1];
        g->pb = p[2];
        g->pr = p[3];
        g->oh = out_extent(g->h, g->kh, g->sh, g->dh, g->pt, g->pb,
                           g->ceil_mode);
        g->ow = out_extent(g->w, g->kw, g->sw, g->dw, g->pl, g->pr,
                           g->ceil_mode);
    } else if (strcmp(ap, "VALID") == 0) {
        g->oh = out_extent(g->h, g->kh, g->sh, g->dh, 0, 0, g->ceil_mode);
        g->ow = out_extent(g->w, g->kw, g->sw, g->dw, 0, 0, g->ceil_mode);
    } else if (strcmp(ap, "SAME_UPPER") == 0 ||
               strcmp(ap, "SAME_LOWER") == 0) {
        int upper = ap[5] == 'U';
        same_pads(g->h, g->kh, g->sh, g->dh, upper, &g->pt, &g->pb, &g->oh);
        same_pads(g->w, g->kw, g->sw, g->dw, upper, &g->pl, &g->pr, &g->ow);
    } else {
        return nk_fail_node(ctx, NK_FORMAT, n,
                            "auto_pad is '%s', expected NOTSET, SAME_UPPER, "
                            "SAME_LOWER or VALID", ap);
    }
    if (g->oh < 1 || g->ow < 1)
        return nk_fail_node(ctx, NK_SHAPE, n,
                            "kernel [%lld, %lld] (dilations [%lld, %lld]) "
                            "does not fit the padded input [%lld, %lld]",
                            (long long)g->kh, (long long)g->kw,
                            (long long)g->dh, (long long)g->dw,
                            (long long)(g->h + g->pt + g->pb),
                            (long long)(g->w + g->pl + g->pr));
    return NK_OK;
}
