/*
 * zoo.c — the model zoo's table of architectures and nk_zoo_create: build
 * the graph, initialise it (seeded, torchvision's distributions) and attach
 * labels, preprocessing and provenance metadata.
 */
#include "zoo/zoo.h"

#include <math.h>
#include <string.h>

typedef struct zoo_arch {
    const char *name;
    const char *description;
    int classes;       /* default number of classes */
    zb_build_fn build;
    int variant;       /* family member, passed to build */
    int channels;      /* input channels (3 RGB, 1 gray) */
    int size;          /* default input height = width */
    bool width_mult;   /* accepts a width multiplier */
    bool free_size;    /* global-pool head: any input size */
    const char *fixed_why; /* why the size is fixed (free_size false) */
} zoo_arch;

#define ZOO_COUNT 18
#define IMAGENET(n, d, fn, v, wm)                                        \
    {.name = n, .description = d, .classes = 1000, .build = fn,           \
     .variant = v, .channels = 3, .size = 224, .width_mult = wm,          \
     .free_size = true}
#define VGG_WHY                                                            \
    "its classifier takes the 512x7x7 map of a 224x224 input (the "         \
    "adaptive 7x7 pool is the identity there and is built as one)"
#define VGG(n, d, v)                                                       \
    {.name = n, .description = d, .classes = 1000, .build = zb_build_vgg,  \
     .variant = v, .channels = 3, .size = 224, .width_mult = false,        \
     .free_size = false, .fixed_why = VGG_WHY}

static const zoo_arch zoo_archs[] = {
    {.name = "lenet5",
     .description = "LeNet-5 (ReLU, max pool) for 28x28 grayscale, 61.7K params",
     .classes = 10, .build = zb_build_lenet5, .variant = 0, .channels = 1,
     .size = 28, .width_mult = false, .free_size = false,
     .fixed_why = "its fc1 takes the 16x5x5 map of a 28x28 input"},
    VGG("vgg11", "VGG 11-layer (config A), 132.9M params", 0),
    VGG("vgg13", "VGG 13-layer (config B), 133.0M params", 1),
    VGG("vgg16", "VGG 16-layer (config D), 138.4M params", 2),
    VGG("vgg19", "VGG 19-layer (config E), 143.7M params", 3),
    VGG("vgg11_bn", "VGG 11-layer with BatchNorm, 132.9M params", 4),
    VGG("vgg13_bn", "VGG 13-layer with BatchNorm, 133.1M params", 5),
    VGG("vgg16_bn", "VGG 16-layer with BatchNorm, 138.4M params", 6),
    VGG("vgg19_bn", "VGG 19-layer with BatchNorm, 143.7M params", 7),
    IMAGENET("resnet18", "ResNet-18 (BasicBlock), 11.7M params", zb_build_resnet, 0, false),
    IMAGENET("resnet34", "ResNet-34 (BasicBlock), 21.8M params", zb_build_resnet, 1, false),
    IMAGENET("resnet50", "ResNet-50 (Bottleneck, v1.5), 25.6M params", zb_build_resnet, 2, false),
    IMAGENET("resnet101", "ResNet-101 (Bottleneck, v1.5), 44.5M params", zb_build_resnet, 3, false),
    IMAGENET("resnet152", "ResNet-152 (Bottleneck, v1.5), 60.2M params", zb_build_resnet, 4, false),
    IMAGENET("mobilenet_v1", "MobileNet v1 (ReLU6, width multiplier), 4.2M params at 1.0",
             zb_build_mobilenet_v1, 0, true),
    IMAGENET("mobilenet_v2", "MobileNet v2 (inverted residuals), 3.5M params at 1.0",
             zb_build_mobilenet_v2, 0, true),
    IMAGENET("mobilenet_v3_small", "MobileNet v3 small (SE, HardSwish), 2.5M params",
             zb_build_mobilenet_v3, 0, true),
    IMAGENET("mobilenet_v3_large", "MobileNet v3 large (SE, HardSwish), 5.5M params",
             zb_build_mobilenet_v3, 1, true),
};
_Static_assert(sizeof zoo_archs / sizeof zoo_archs[0] == ZOO_COUNT,
               "zoo table size");

/* Upper bounds that keep a mistaken argument from allocating gigabytes;
 * the smallest free input size is the networks' total stride (32). */
#define ZOO_MAX_CLASSES 1000000
#define ZOO_MAX_WIDTH_MULT 4.0f
#define ZOO_MIN_SIZE 32
#define ZOO_MAX_SIZE 4096

int nk_zoo_count(void) { return ZOO_COUNT; }

const char *nk_zoo_name(int i)
{
    return i >= 0 && i < ZOO_COUNT ? zoo_archs[i].name : NULL;
}

const char *nk_zoo_description(int i)
{
    return i >= 0 && i < ZOO_COUNT ? zoo_archs[i].description : NULL;
}

int nk_zoo_default_classes(int i)
{
    return i >= 0 && i < ZOO_COUNT ? zoo_archs[i].classes : 0;
}

int nk_zoo_default_input_size(int i)
{
    return i >= 0 && i < ZOO_COUNT ? zoo_archs[i].size : 0;
}

int nk_zoo_input_size_free(int i)
{
    return i >= 0 && i < ZOO_COUNT && zoo_archs[i].free_size;
}

static nk_status unknown_arch(nk_ctx *ctx, const char *arch)
{
    char list[512] = "";
    size_t used = 0;
    for (int i = 0; i < ZOO_COUNT && used < sizeof list; i++) {
        size_t n = strlen(zoo_archs[i].name);
        if (used + n + 3 >= sizeof list)
            break;
        if (i) {
            memcpy(list + used, ", ", 2);
            used += 2;
        }
        memcpy(list + used, zoo_archs[i].name, n + 1);
        used += n;
    }
    return nk_fail(ctx, NK_NOT_FOUND,
                   "zoo: unknown architecture '%s' (expected one of: %s)",
                   arch, list);
}

/* ImageNet-style models resize the shorter side to round(size * 256 /
 * 224) and center-crop size (torchvision's 256/224 ratio); LeNet takes
 * the 28x28 image as it is. */
static void set_preproc(nk_graph *g, const zoo_arch *a, int size)
{
    nk_preproc p = {0};
    p.valid = 1;
    p.resize_mode = NK_RESIZE_BILINEAR;
    p.scale = 1.0f / 255.0f;
    p.channels = a->channels;
    p.crop_h = p.crop_w = size;
    if (a->channels == 3) {
        static const float mean[3] = {0.485f, 0.456f, 0.406f};
        static const float std[3] = {0.229f, 0.224f, 0.225f};
        p.resize = (size * 256 + 112) / 224;
        memcpy(p.mean, mean, sizeof mean);
        memcpy(p.std, std, sizeof std);
    } else {
        p.resize = 0;
        p.mean[0] = 0.5f;
        p.std[0] = 0.5f;
    }
    nk_graph_set_preproc(g, &p);
}

static nk_status build(nk_ctx *ctx, nk_graph *g, const zoo_arch *a,
                       int classes, float wm, int size, uint64_t seed,
                       bool random)
{
    nk_zb b;
    memset(&b, 0, sizeof b);
    b.ctx = ctx;
    b.g = g;
    b.bn_eps = 1e-5f;
    b.bn_momentum = 1.0f - 0.1f;
    b.width_mult = wm;
    b.skip_random = !random;
    nk_rng_seed(&b.rng, seed);

    nk_shape s = {0};
    s.rank = 4;
    s.d[0] = NK_DIM_SYM;
    s.sym[0] = "batch";
    s.d[1] = a->channels;
    s.d[2] = s.d[3] = size;
    int x, y;
    nk_status st = nk_graph_add_tensor(ctx, g, "input", NK_F32, &s, &x);
    if (st == NK_OK)
        st = nk_graph_set_inputs(ctx, g, 1, &x);
    if (st == NK_OK)
        st = a->build(&b, a->variant, classes, x, &y);
    if (st == NK_OK)
        st = nk_graph_set_outputs(ctx, g, 1, &y);
    if (st != NK_OK)
        return st;

    if (classes == NK_IMAGENET_CLASSES && a->channels == 3) {
        st = nk_graph_set_labels(ctx, g, NK_IMAGENET_CLASSES,
                                 nk_imagenet_labels);
        if (st != NK_OK)
            return st;
    }
    set_preproc(g, a, size);
    if ((st = nk_graph_meta_set(ctx, g, "arch", a->name)) ||
        (st = nk_graph_meta_set(ctx, g, "source", "nnkit zoo")))
        return st;
    st = nk_graph_infer(ctx, g);
    if (st != NK_OK)
        nk_errmsg_prefix(ctx, "zoo: %s", a->name);
    return st;
}

nk_status nk_zoo_create(nk_ctx *ctx, const char *arch,
                        const nk_zoo_opts *opts, nk_graph **out)
{
    return nk_zoo_build(ctx, arch, opts, true, out);
}

nk_status nk_zoo_build(nk_ctx *ctx, const char *arch, const nk_zoo_opts *opts,
                       bool random_init, nk_graph **out)
{
    if (!out)
        return nk_fail(ctx, NK_INVALID_ARG, "zoo: out is NULL");
    *out = NULL;
    if (!arch)
        return nk_fail(ctx, NK_INVALID_ARG, "zoo: architecture name is NULL");
    const zoo_arch *a = NULL;
    for (int i = 0; i < ZOO_COUNT; i++)
        if (strcmp(zoo_archs[i].name, arch) == 0)
            a = &zoo_archs[i];
    if (!a)
        return unknown_arch(ctx, arch);

    nk_zoo_opts o = {0};
    if (opts)
        o = *opts;
    int classes = o.classes ? o.classes : a->classes;
    if (classes < 1 || classes > ZOO_MAX_CLASSES)
        return nk_fail(ctx, NK_INVALID_ARG,
                       "zoo: %s: classes = %d, expected 1..%d (0 = default %d)",
                       arch, o.classes, ZOO_MAX_CLASSES, a->classes);
    float wm = o.width_mult == 0.0f ? 1.0f : o.width_mult;
    if (!(wm > 0.0f && wm <= ZOO_MAX_WIDTH_MULT))
        return nk_fail(ctx, NK_INVALID_ARG,
                       "zoo: %s: width_mult = %g, expected (0, %g]", arch,
                       (double)o.width_mult, (double)ZOO_MAX_WIDTH_MULT);
    if (wm != 1.0f && !a->width_mult)
        return nk_fail(ctx, NK_INVALID_ARG,
                       "zoo: %s: width_mult = %g, but only MobileNets take a "
                       "width multiplier (expected 0 or 1)",
                       arch, (double)wm);
    int size = o.input_size ? o.input_size : a->size;
    if (a->free_size && (size < ZOO_MIN_SIZE || size > ZOO_MAX_SIZE))
        return nk_fail(ctx, NK_INVALID_ARG,
                       "zoo: %s: input_size = %d, expected %d..%d "
                       "(0 = default %d)",
                       arch, o.input_size, ZOO_MIN_SIZE, ZOO_MAX_SIZE,
                       a->size);
    if (!a->free_size && size != a->size)
        return nk_fail(ctx, NK_INVALID_ARG,
                       "zoo: %s: input_size = %d, but %s takes only %dx%d "
                       "inputs: %s (expected 0 or %d)",
                       arch, o.input_size, arch, a->size, a->size,
                       a->fixed_why, a->size);

    nk_graph *g;
    nk_status st = nk_graph_new(ctx, &g);
    if (st != NK_OK)
        return st;
    st = build(ctx, g, a, classes, wm, size, o.seed, random_init);
    if (st != NK_OK) {
        nk_graph_free(g);
        return st;
    }
    *out = g;
    return NK_OK;
}
