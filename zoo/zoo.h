/*
 * zoo.h — internal helpers of the model zoo: a small graph builder that
 * adds torchvision-style blocks (Conv+BN+activation, Linear, pools) with
 * torchvision state_dict names, and seeded torchvision-style initialisers.
 */
#ifndef NK_ZOO_H
#define NK_ZOO_H

#include "engine/ir.h"

/* How a Conv or Linear layer's parameters are initialised. */
typedef enum zb_init {
    ZB_INIT_KAIMING_FAN_OUT = 0, /* W ~ N(0, 2/fan_out), bias 0 */
    ZB_INIT_TORCH_DEFAULT,       /* W, b ~ U(+-1/sqrt(fan_in)) */
    ZB_INIT_NORMAL_001,          /* W ~ N(0, 0.01^2), bias 0 */
    ZB_INIT_COUNT
} zb_init;

/* Activation after a Conv2dNormActivation-style block. */
typedef enum zb_act {
    ZB_ACT_NONE = 0,
    ZB_ACT_RELU,
    ZB_ACT_RELU6,     /* Clip(0, 6) */
    ZB_ACT_HARDSWISH,
    ZB_ACT_COUNT
} zb_act;

typedef struct nk_zb {
    nk_ctx *ctx;
    nk_graph *g;
    nk_rng rng;
    zb_init conv_init;   /* for every Conv added */
    zb_init linear_init; /* for every Linear (Gemm) added */
    float bn_eps;        /* BatchNorm epsilon (torch default 1e-5) */
    float bn_momentum;   /* ONNX momentum = 1 - torch momentum */
    float width_mult;    /* MobileNet width multiplier (1.0 default) */
    bool skip_random;    /* leave random-initialised tensors zero */
    char buf[4][192];    /* rotating buffers of zb_fmt */
    int buf_next;
} nk_zb;

/* A name formatted into one of four rotating buffers (valid until four
 * more calls). */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
const char *zb_fmt(nk_zb *b, const char *fmt, ...);

/* torchvision's _make_divisible(v, divisor) (min_value = divisor). */
int zb_make_divisible(double v, int divisor);

/*
 * Layers. `name` is the torchvision module path ("layer1.0.conv1"); it
 * names the node, its output tensor (made unique with a "_N" suffix when a
 * module is applied twice) and the parameters ("<name>.weight"). x is the
 * input tensor index; the output tensor index is stored in *y. All return
 * NK_OK or the failing graph call's status.
 */
nk_status zb_conv(nk_zb *b, const char *name, int x, int cin, int cout,
                  int k, int stride, int pad, int groups, int dilation,
                  bool bias, int *y);
nk_status zb_bn(nk_zb *b, const char *name, int x, int c, int *y);
nk_status zb_act_node(nk_zb *b, zb_act act, const char *name, int x, int *y);
nk_status zb_relu(nk_zb *b, const char *name, int x, int *y);
nk_status zb_hardsigmoid(nk_zb *b, const char *name, int x, int *y);
nk_status zb_binary(nk_zb *b, nk_op op, const char *name, int a, int c,
                    int *y);
nk_status zb_maxpool(nk_zb *b, const char *name, int x, int k, int stride,
                     int pad, int *y);
nk_status zb_avgpool(nk_zb *b, const char *name, int x, int k, int stride,
                     int *y);
nk_status zb_global_avgpool(nk_zb *b, const char *name, int x, int *y);
nk_status zb_flatten(nk_zb *b, const char *name, int x, int *y);
nk_status zb_dropout(nk_zb *b, const char *name, int x, float ratio, int *y);
/* Linear as Gemm(transB=1); out_name overrides the output's name. */
nk_status zb_linear(nk_zb *b, const char *name, int x, int in, int out,
                    const char *out_name, int *y);

/*
 * Conv2dNormActivation as torchvision names it: "<prefix>.0" Conv (no
 * bias, padding (k-1)/2*dilation), "<prefix>.1" BatchNorm, "<prefix>.2"
 * activation (none for ZB_ACT_NONE).
 */
nk_status zb_conv_bn_act(nk_zb *b, const char *prefix, int x, int cin,
                         int cout, int k, int stride, int groups,
                         int dilation, zb_act act, int *y);

/* Architecture builders: add the network from input x to the logits
 * (tensor named "logits") and return it in *y. `variant` selects the depth
 * or configuration within a family (see zoo.c). */
typedef nk_status (*zb_build_fn)(nk_zb *b, int variant, int classes, int x,
                                 int *y);
nk_status zb_build_lenet5(nk_zb *b, int variant, int classes, int x, int *y);
nk_status zb_build_vgg(nk_zb *b, int variant, int classes, int x, int *y);
nk_status zb_build_resnet(nk_zb *b, int variant, int classes, int x, int *y);
nk_status zb_build_mobilenet_v1(nk_zb *b, int variant, int classes, int x,
                                int *y);
nk_status zb_build_mobilenet_v2(nk_zb *b, int variant, int classes, int x,
                                int *y);
nk_status zb_build_mobilenet_v3(nk_zb *b, int variant, int classes, int x,
                                int *y);

/*
 * nk_zoo_build — nk_zoo_create with a switch: random_init = false leaves
 * the randomly initialised weights zero (constants such as BN's variance
 * are still set), so tests can check the structure of the largest models
 * quickly.
 */
nk_status nk_zoo_build(nk_ctx *ctx, const char *arch, const nk_zoo_opts *opts,
                       bool random_init, nk_graph **out);

/* The 1000 ImageNet class names, torchvision's order (imagenet-labels.c). */
#define NK_IMAGENET_CLASSES 1000
extern const char *const nk_imagenet_labels[NK_IMAGENET_CLASSES];

/* Prefix of initializers that are graph constants (Clip bounds, Dropout
 * ratio), not state_dict entries: state_dict keys never contain "::". */
#define ZB_CONST_PREFIX "onnx::"

#endif /* NK_ZOO_H */
