/*
 * vgg.c — VGG 11/13/16/19, with and without BatchNorm, as torchvision
 * builds them: "features.N" (Conv, [BN], ReLU, MaxPool), "avgpool",
 * "classifier.N" (Linear, ReLU, Dropout x2, Linear).
 */
#include "zoo/zoo.h"

/* torchvision's cfgs A, B, D, E; 0 is a max pool. Variant bit 4 = BN. */
static const int vgg_cfg[4][22] = {
    {64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0, -1},
    {64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0, -1},
    {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512,
     512, 0, -1},
    {64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0,
     512, 512, 512, 512, 0, -1},
};

nk_status zb_build_vgg(nk_zb *b, int variant, int classes, int x, int *y)
{
    const int *cfg = vgg_cfg[variant & 3];
    bool bn = (variant & 4) != 0;
    b->conv_init = ZB_INIT_KAIMING_FAN_OUT;
    b->linear_init = ZB_INIT_NORMAL_001;
    int t = x, cin = 3, idx = 0;
    nk_status st;
    for (int i = 0; cfg[i] >= 0; i++) {
        if (cfg[i] == 0) {
            st = zb_maxpool(b, zb_fmt(b, "features.%d", idx++), t, 2, 2, 0,
                            &t);
            if (st != NK_OK)
                return st;
            continue;
        }
        st = zb_conv(b, zb_fmt(b, "features.%d", idx++), t, cin, cfg[i], 3,
                     1, 1, 1, 1, true, &t);
        if (st == NK_OK && bn)
            st = zb_bn(b, zb_fmt(b, "features.%d", idx++), t, cfg[i], &t);
        if (st == NK_OK)
            st = zb_relu(b, zb_fmt(b, "features.%d", idx++), t, &t);
        if (st != NK_OK)
            return st;
        cin = cfg[i];
    }
    /* AdaptiveAvgPool2d((7, 7)) on the 7x7 map of a 224x224 input is the
     * identity; torch.onnx.export writes it as AveragePool(1x1, stride 1),
     * which is what we emit (exact for the fixed 224x224 input). */
    if ((st = zb_avgpool(b, "avgpool", t, 1, 1, &t)) ||
        (st = zb_flatten(b, "flatten", t, &t)) ||
        (st = zb_linear(b, "classifier.0", t, 512 * 7 * 7, 4096, NULL, &t)) ||
        (st = zb_relu(b, "classifier.1", t, &t)) ||
        (st = zb_dropout(b, "classifier.2", t, 0.5f, &t)) ||
        (st = zb_linear(b, "classifier.3", t, 4096, 4096, NULL, &t)) ||
        (st = zb_relu(b, "classifier.4", t, &t)) ||
        (st = zb_dropout(b, "classifier.5", t, 0.5f, &t)) ||
        (st = zb_linear(b, "classifier.6", t, 4096, classes, "logits", y)))
        return st;
    return NK_OK;
}
