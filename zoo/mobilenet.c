/*
 * mobilenet.c — MobileNet v1 (depthwise-separable blocks, ReLU6; names in
 * docs/zoo.md, no torchvision twin) and MobileNet v2 (torchvision's
 * inverted residual blocks), both with a width multiplier.
 */
#include "zoo/zoo.h"

#include <stdio.h>

/* MobileNet v1: (output channels, stride) of the 13 separable blocks. */
static const int v1_blocks[13][2] = {
    {64, 1},  {128, 2}, {128, 1}, {256, 2}, {256, 1},  {512, 2},  {512, 1},
    {512, 1}, {512, 1}, {512, 1}, {512, 1}, {1024, 2}, {1024, 1},
};

static void mobilenet_init(nk_zb *b)
{
    /* torchvision's MobileNet init: conv kaiming_normal_(fan_out), BN 1/0,
     * Linear N(0, 0.01) with zero bias. */
    b->conv_init = ZB_INIT_KAIMING_FAN_OUT;
    b->linear_init = ZB_INIT_NORMAL_001;
}

nk_status zb_build_mobilenet_v1(nk_zb *b, int variant, int classes, int x,
                                int *y)
{
    mobilenet_init(b);
    float wm = b->width_mult;
    int cin = zb_make_divisible(32 * wm, 8), t = x;
    nk_status st = zb_conv_bn_act(b, "features.0", t, 3, cin, 3, 2, 1, 1,
                                  ZB_ACT_RELU6, &t);
    if (st != NK_OK)
        return st;
    for (int i = 0; i < 13; i++) {
        int cout = zb_make_divisible(v1_blocks[i][0] * wm, 8);
        char p[32];
        snprintf(p, sizeof p, "features.%d", i + 1);
        if ((st = zb_conv_bn_act(b, zb_fmt(b, "%s.0", p), t, cin, cin, 3,
                                 v1_blocks[i][1], cin, 1, ZB_ACT_RELU6,
                                 &t)) ||
            (st = zb_conv_bn_act(b, zb_fmt(b, "%s.1", p), t, cin, cout, 1, 1,
                                 1, 1, ZB_ACT_RELU6, &t)))
            return st;
        cin = cout;
    }
    if ((st = zb_global_avgpool(b, "avgpool", t, &t)) ||
        (st = zb_flatten(b, "flatten", t, &t)) ||
        (st = zb_dropout(b, "classifier.0", t, 0.001f, &t)) ||
        (st = zb_linear(b, "classifier.1", t, cin, classes, "logits", y)))
        return st;
    return NK_OK;
}

/* MobileNet v2: expansion t, channels c, repeats n, first stride s. */
static const int v2_setting[7][4] = {
    {1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2},  {6, 64, 4, 2},
    {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1},
};

nk_status zb_build_mobilenet_v2(nk_zb *b, int variant, int classes, int x,
                                int *y)
{
    mobilenet_init(b);
    float wm = b->width_mult;
    int cin = zb_make_divisible(32 * wm, 8);
    int last = zb_make_divisible(1280 * (wm > 1.0f ? wm : 1.0f), 8);
    int t = x, idx = 0;
    nk_status st = zb_conv_bn_act(b, "features.0", t, 3, cin, 3, 2, 1, 1,
                                  ZB_ACT_RELU6, &t);
    if (st != NK_OK)
        return st;
    for (int s = 0; s < 7; s++) {
        int cout = zb_make_divisible(v2_setting[s][1] * wm, 8);
        for (int i = 0; i < v2_setting[s][2]; i++) {
            int stride = i == 0 ? v2_setting[s][3] : 1;
            int hidden = cin * v2_setting[s][0], j = 0, u = t;
            char p[32];
            snprintf(p, sizeof p, "features.%d.conv", ++idx);
            if (v2_setting[s][0] != 1) {
                st = zb_conv_bn_act(b, zb_fmt(b, "%s.%d", p, j++), u, cin,
                                    hidden, 1, 1, 1, 1, ZB_ACT_RELU6, &u);
                if (st != NK_OK)
                    return st;
            }
            if ((st = zb_conv_bn_act(b, zb_fmt(b, "%s.%d", p, j++), u, hidden,
                                     hidden, 3, stride, hidden, 1,
                                     ZB_ACT_RELU6, &u)) ||
                (st = zb_conv(b, zb_fmt(b, "%s.%d", p, j), u, hidden, cout, 1,
                              1, 0, 1, 1, false, &u)) ||
                (st = zb_bn(b, zb_fmt(b, "%s.%d", p, j + 1), u, cout, &u)))
                return st;
            if (stride == 1 && cin == cout) {
                st = zb_binary(b, NK_OP_ADD,
                               zb_fmt(b, "features.%d.add", idx), t, u, &u);
                if (st != NK_OK)
                    return st;
            }
            t = u;
            cin = cout;
        }
    }
    if ((st = zb_conv_bn_act(b, zb_fmt(b, "features.%d", ++idx), t, cin,
                             last, 1, 1, 1, 1, ZB_ACT_RELU6, &t)) ||
        (st = zb_global_avgpool(b, "avgpool", t, &t)) ||
        (st = zb_flatten(b, "flatten", t, &t)) ||
        (st = zb_dropout(b, "classifier.0", t, 0.2f, &t)) ||
        (st = zb_linear(b, "classifier.1", t, last, classes, "logits", y)))
        return st;
    return NK_OK;
}
