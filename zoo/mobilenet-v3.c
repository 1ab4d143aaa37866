/*
 * mobilenet-v3.c — MobileNet v3 small and large as torchvision builds
 * them: inverted residuals with optional squeeze-excitation (HardSigmoid
 * gate, Mul), HardSwish/ReLU, BatchNorm eps 0.001 momentum 0.01.
 */
#include "zoo/zoo.h"

#include <stdio.h>

/* in, kernel, expanded, out, use_se, hardswish, stride (dilation 1). */
typedef struct v3_block {
    int in, k, exp, out;
    bool se, hs;
    int stride;
} v3_block;

static const v3_block v3_large[15] = {
    {16, 3, 16, 16, false, false, 1},    {16, 3, 64, 24, false, false, 2},
    {24, 3, 72, 24, false, false, 1},    {24, 5, 72, 40, true, false, 2},
    {40, 5, 120, 40, true, false, 1},    {40, 5, 120, 40, true, false, 1},
    {40, 3, 240, 80, false, true, 2},    {80, 3, 200, 80, false, true, 1},
    {80, 3, 184, 80, false, true, 1},    {80, 3, 184, 80, false, true, 1},
    {80, 3, 480, 112, true, true, 1},    {112, 3, 672, 112, true, true, 1},
    {112, 5, 672, 160, true, true, 2},   {160, 5, 960, 160, true, true, 1},
    {160, 5, 960, 160, true, true, 1},
};

static const v3_block v3_small[11] = {
    {16, 3, 16, 16, true, false, 2},   {16, 3, 72, 24, false, false, 2},
    {24, 3, 88, 24, false, false, 1},  {24, 5, 96, 40, true, true, 2},
    {40, 5, 240, 40, true, true, 1},   {40, 5, 240, 40, true, true, 1},
    {40, 5, 120, 48, true, true, 1},   {48, 5, 144, 48, true, true, 1},
    {48, 5, 288, 96, true, true, 2},   {96, 5, 576, 96, true, true, 1},
    {96, 5, 576, 96, true, true, 1},
};

/* SqueezeExcitation "<p>": avgpool, fc1, ReLU, fc2, HardSigmoid, Mul. */
static nk_status squeeze_excite(nk_zb *b, const char *prefix, int x, int c,
                                int *y)
{
    /* prefix may be a zb_fmt buffer that the names below would reuse */
    char p[160];
    snprintf(p, sizeof p, "%s", prefix);
    int sq = zb_make_divisible(c / 4, 8), t;
    nk_status st;
    if ((st = zb_global_avgpool(b, zb_fmt(b, "%s.avgpool", p), x, &t)) ||
        (st = zb_conv(b, zb_fmt(b, "%s.fc1", p), t, c, sq, 1, 1, 0, 1, 1,
                      true, &t)) ||
        (st = zb_relu(b, zb_fmt(b, "%s.activation", p), t, &t)) ||
        (st = zb_conv(b, zb_fmt(b, "%s.fc2", p), t, sq, c, 1, 1, 0, 1, 1,
                      true, &t)) ||
        (st = zb_hardsigmoid(b, zb_fmt(b, "%s.scale_activation", p), t,
                             &t)) ||
        (st = zb_binary(b, NK_OP_MUL, zb_fmt(b, "%s.mul", p), t, x, y)))
        return st;
    return NK_OK;
}

nk_status zb_build_mobilenet_v3(nk_zb *b, int variant, int classes, int x,
                                int *y)
{
    const v3_block *cfg = variant ? v3_large : v3_small;
    int n = variant ? 15 : 11;
    float wm = b->width_mult;
    b->conv_init = ZB_INIT_KAIMING_FAN_OUT;
    b->linear_init = ZB_INIT_NORMAL_001;
    b->bn_eps = 0.001f;
    b->bn_momentum = 1.0f - 0.01f;
    int t = x, cin = zb_make_divisible(cfg[0].in * wm, 8);
    nk_status st = zb_conv_bn_act(b, "features.0", t, 3, cin, 3, 2, 1, 1,
                                  ZB_ACT_HARDSWISH, &t);
    if (st != NK_OK)
        return st;
    for (int i = 0; i < n; i++) {
        const v3_block *c = &cfg[i];
        int exp = zb_make_divisible(c->exp * wm, 8);
        int cout = zb_make_divisible(c->out * wm, 8), j = 0, u = t;
        zb_act act = c->hs ? ZB_ACT_HARDSWISH : ZB_ACT_RELU;
        char p[32];
        snprintf(p, sizeof p, "features.%d.block", i + 1);
        if (exp != cin) {
            st = zb_conv_bn_act(b, zb_fmt(b, "%s.%d", p, j++), u, cin, exp, 1,
                                1, 1, 1, act, &u);
            if (st != NK_OK)
                return st;
        }
        st = zb_conv_bn_act(b, zb_fmt(b, "%s.%d", p, j++), u, exp, exp, c->k,
                            c->stride, exp, 1, act, &u);
        if (st == NK_OK && c->se)
            st = squeeze_excite(b, zb_fmt(b, "%s.%d", p, j++), u, exp, &u);
        if (st == NK_OK)
            st = zb_conv_bn_act(b, zb_fmt(b, "%s.%d", p, j++), u, exp, cout,
                                1, 1, 1, 1, ZB_ACT_NONE, &u);
        if (st == NK_OK && c->stride == 1 && cin == cout)
            st = zb_binary(b, NK_OP_ADD, zb_fmt(b, "features.%d.add", i + 1),
                           u, t, &u);
        if (st != NK_OK)
            return st;
        t = u;
        cin = cout;
    }
    int lastconv = 6 * cin;
    int last = zb_make_divisible((variant ? 1280 : 1024) * wm, 8);
    if ((st = zb_conv_bn_act(b, zb_fmt(b, "features.%d", n + 1), t, cin,
                             lastconv, 1, 1, 1, 1, ZB_ACT_HARDSWISH, &t)) ||
        (st = zb_global_avgpool(b, "avgpool", t, &t)) ||
        (st = zb_flatten(b, "flatten", t, &t)) ||
        (st = zb_linear(b, "classifier.0", t, lastconv, last, NULL, &t)) ||
        (st = zb_act_node(b, ZB_ACT_HARDSWISH, "classifier.1", t, &t)) ||
        (st = zb_dropout(b, "classifier.2", t, 0.2f, &t)) ||
        (st = zb_linear(b, "classifier.3", t, last, classes, "logits", y)))
        return st;
    return NK_OK;
}
