/*
 * resnet.c — ResNet 18/34 (BasicBlock) and 50/101/152 (Bottleneck, stride
 * on the 3x3 conv, "v1.5") with torchvision's module names.
 */
#include "zoo/zoo.h"

#include <stdio.h>

typedef struct resnet_cfg {
    bool bottleneck;
    int blocks[4];
} resnet_cfg;

static const resnet_cfg resnet_cfgs[5] = {
    {false, {2, 2, 2, 2}},  /* 18 */
    {false, {3, 4, 6, 3}},  /* 34 */
    {true, {3, 4, 6, 3}},   /* 50 */
    {true, {3, 4, 23, 3}},  /* 101 */
    {true, {3, 8, 36, 3}},  /* 152 */
};

/* One residual block "<p>" from cin to planes*expansion channels. */
static nk_status block(nk_zb *b, const char *p, bool bottleneck, int x,
                       int cin, int planes, int stride, int *y)
{
    int expansion = bottleneck ? 4 : 1, cout = planes * expansion, t = x;
    nk_status st;
    if (bottleneck) {
        if ((st = zb_conv(b, zb_fmt(b, "%s.conv1", p), t, cin, planes, 1, 1,
                          0, 1, 1, false, &t)) ||
            (st = zb_bn(b, zb_fmt(b, "%s.bn1", p), t, planes, &t)) ||
            (st = zb_relu(b, zb_fmt(b, "%s.relu", p), t, &t)) ||
            (st = zb_conv(b, zb_fmt(b, "%s.conv2", p), t, planes, planes, 3,
                          stride, 1, 1, 1, false, &t)) ||
            (st = zb_bn(b, zb_fmt(b, "%s.bn2", p), t, planes, &t)) ||
            (st = zb_relu(b, zb_fmt(b, "%s.relu", p), t, &t)) ||
            (st = zb_conv(b, zb_fmt(b, "%s.conv3", p), t, planes, cout, 1, 1,
                          0, 1, 1, false, &t)) ||
            (st = zb_bn(b, zb_fmt(b, "%s.bn3", p), t, cout, &t)))
            return st;
    } else {
        if ((st = zb_conv(b, zb_fmt(b, "%s.conv1", p), t, cin, planes, 3,
                          stride, 1, 1, 1, false, &t)) ||
            (st = zb_bn(b, zb_fmt(b, "%s.bn1", p), t, planes, &t)) ||
            (st = zb_relu(b, zb_fmt(b, "%s.relu", p), t, &t)) ||
            (st = zb_conv(b, zb_fmt(b, "%s.conv2", p), t, planes, planes, 3,
                          1, 1, 1, 1, false, &t)) ||
            (st = zb_bn(b, zb_fmt(b, "%s.bn2", p), t, planes, &t)))
            return st;
    }
    int skip = x;
    if (stride != 1 || cin != cout) {
        if ((st = zb_conv(b, zb_fmt(b, "%s.downsample.0", p), x, cin, cout,
                          1, stride, 0, 1, 1, false, &skip)) ||
            (st = zb_bn(b, zb_fmt(b, "%s.downsample.1", p), skip, cout,
                        &skip)))
            return st;
    }
    if ((st = zb_binary(b, NK_OP_ADD, zb_fmt(b, "%s.add", p), t, skip, &t)) ||
        (st = zb_relu(b, zb_fmt(b, "%s.relu", p), t, y)))
        return st;
    return NK_OK;
}

nk_status zb_build_resnet(nk_zb *b, int variant, int classes, int x, int *y)
{
    const resnet_cfg *cfg = &resnet_cfgs[variant];
    b->conv_init = ZB_INIT_KAIMING_FAN_OUT;
    b->linear_init = ZB_INIT_TORCH_DEFAULT; /* fc keeps nn.Linear's init */
    int t = x;
    nk_status st;
    if ((st = zb_conv(b, "conv1", t, 3, 64, 7, 2, 3, 1, 1, false, &t)) ||
        (st = zb_bn(b, "bn1", t, 64, &t)) ||
        (st = zb_relu(b, "relu", t, &t)) ||
        (st = zb_maxpool(b, "maxpool", t, 3, 2, 1, &t)))
        return st;
    int cin = 64, expansion = cfg->bottleneck ? 4 : 1;
    for (int l = 0; l < 4; l++) {
        int planes = 64 << l;
        for (int i = 0; i < cfg->blocks[l]; i++) {
            char p[32];
            snprintf(p, sizeof p, "layer%d.%d", l + 1, i);
            int stride = (l > 0 && i == 0) ? 2 : 1;
            st = block(b, p, cfg->bottleneck, t, cin, planes, stride, &t);
            if (st != NK_OK)
                return st;
            cin = planes * expansion;
        }
    }
    if ((st = zb_global_avgpool(b, "avgpool", t, &t)) ||
        (st = zb_flatten(b, "flatten", t, &t)) ||
        (st = zb_linear(b, "fc", t, cin, classes, "logits", y)))
        return st;
    return NK_OK;
}
