/*
 * lenet.c — LeNet-5 for 28x28 grayscale images (MNIST-style), the modern
 * variant: ReLU and max pooling. Layer names are documented in docs/zoo.md.
 */
#include "zoo/zoo.h"

nk_status zb_build_lenet5(nk_zb *b, int variant, int classes, int x, int *y)
{
    /* nn.Conv2d / nn.Linear default initialisation (no torchvision twin) */
    b->conv_init = ZB_INIT_TORCH_DEFAULT;
    b->linear_init = ZB_INIT_TORCH_DEFAULT;
    int t = x;
    nk_status st;
    if ((st = zb_conv(b, "conv1", t, 1, 6, 5, 1, 2, 1, 1, true, &t)) ||
        (st = zb_relu(b, "relu1", t, &t)) ||
        (st = zb_maxpool(b, "pool1", t, 2, 2, 0, &t)) ||
        (st = zb_conv(b, "conv2", t, 6, 16, 5, 1, 0, 1, 1, true, &t)) ||
        (st = zb_relu(b, "relu2", t, &t)) ||
        (st = zb_maxpool(b, "pool2", t, 2, 2, 0, &t)) ||
        (st = zb_flatten(b, "flatten", t, &t)) ||
        (st = zb_linear(b, "fc1", t, 16 * 5 * 5, 120, NULL, &t)) ||
        (st = zb_relu(b, "relu3", t, &t)) ||
        (st = zb_linear(b, "fc2", t, 120, 84, NULL, &t)) ||
        (st = zb_relu(b, "relu4", t, &t)) ||
        (st = zb_linear(b, "fc3", t, 84, classes, "logits", y)))
        return st;
    return NK_OK;
}
