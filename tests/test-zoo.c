/*
 * test-zoo.c — the model zoo: every architecture builds, infers to
 * [batch, classes] and has torchvision's parameter count; bad arguments
 * fail cleanly. `test-zoo --dump ARCH [CLASSES]` prints each state_dict
 * initializer as "key dtype dims... | mean std" for tests/zoo_keys.py.
 */
#include "harness.h"

#include "engine/ir.h"
#include "zoo/zoo.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* sum(p.numel() for p in model.parameters()) from torchvision 0.14 for
 * num_classes = 1000 and 10; LeNet-5 by hand (docs/zoo.md), MobileNet v1
 * 1.0 from Keras' MobileNet (trainable parameters, 1000 classes) and the
 * 10-class figure with its 1024x1000+1000 head replaced by 1024x10+10. */
static const struct {
    const char *arch;
    int64_t n1000, n10;
} ref_counts[] = {
    {"lenet5", 0, 61706},
    {"vgg11", 132863336, 128807306},
    {"vgg13", 133047848, 128991818},
    {"vgg16", 138357544, 134301514},
    {"vgg19", 143667240, 139611210},
    {"vgg11_bn", 132868840, 128812810},
    {"vgg13_bn", 133053736, 128997706},
    {"vgg16_bn", 138365992, 134309962},
    {"vgg19_bn", 143678248, 139622218},
    {"resnet18", 11689512, 11181642},
    {"resnet34", 21797672, 21289802},
    {"resnet50", 25557032, 23528522},
    {"resnet101", 44549160, 42520650},
    {"resnet152", 60192808, 58164298},
    {"mobilenet_v1", 4231976, 4231976 - 1025000 + 10250},
    {"mobilenet_v2", 3504872, 2236682},
    {"mobilenet_v3_small", 2542856, 1528106},
    {"mobilenet_v3_large", 5483032, 4214842},
};
#define N_REF ((int)(sizeof ref_counts / sizeof ref_counts[0]))

static int64_t trainable_numel(const nk_graph *g)
{
    int64_t n = 0;
    for (int i = 0; i < g->n_tensors; i++)
        if (g->tensors[i]->is_init && g->tensors[i]->trainable)
            n += nk_shape_numel(&g->tensors[i]->shape);
    return n;
}

static void check_arch(nk_ctx *ctx, const char *arch, int classes,
                       int64_t want)
{
    nk_zoo_opts o = {.classes = classes, .seed = 1};
    nk_graph *g = NULL;
    /* The random draws of the largest models take seconds; structure and
     * counts do not depend on them (zoo_keys.py checks the init). Small
     * models go through the public path with full initialisation. */
    bool big = strncmp(arch, "vgg", 3) == 0 || strstr(arch, "resnet1") ||
               strcmp(arch, "resnet50") == 0 || strcmp(arch, "resnet34") == 0;
    nk_status st = big ? nk_zoo_build(ctx, arch, &o, false, &g)
                       : nk_zoo_create(ctx, arch, &o, &g);
    CHECKF(st == NK_OK, "%s/%d: %s", arch, classes, nk_errmsg(ctx));
    if (st != NK_OK)
        return;
    CHECK_OK(ctx, nk_graph_validate(ctx, g));
    CHECK_OK(ctx, nk_graph_infer(ctx, g));
    REQUIRE(g->n_outputs == 1 && g->n_inputs == 1);
    const nk_tensor *in = g->tensors[g->inputs[0]];
    const nk_tensor *y = g->tensors[g->outputs[0]];
    CHECK(strcmp(in->name, "input") == 0);
    CHECK(in->shape.rank == 4 && in->shape.d[0] == NK_DIM_SYM &&
          in->shape.sym[0] && strcmp(in->shape.sym[0], "batch") == 0);
    CHECK(strcmp(y->name, "logits") == 0);
    CHECKF(y->shape.rank == 2 && y->shape.d[0] == NK_DIM_SYM &&
               y->shape.sym[0] && strcmp(y->shape.sym[0], "batch") == 0 &&
               y->shape.d[1] == classes,
           "%s/%d: logits rank %d, dims %lld x %lld", arch, classes,
           y->shape.rank, (long long)y->shape.d[0],
           (long long)y->shape.d[1]);
    CHECKF(trainable_numel(g) == want, "%s/%d: %lld params, torchvision %lld",
           arch, classes, (long long)trainable_numel(g), (long long)want);
    CHECK(nk_graph_param_count(g) == want);
    CHECK(strcmp(nk_graph_meta_get(g, "arch"), arch) == 0);
    CHECK(strcmp(nk_graph_meta_get(g, "source"), "nnkit zoo") == 0);
    nk_preproc p = nk_graph_preproc(g);
    CHECK(p.valid && p.crop_h == in->shape.d[2] &&
          p.channels == in->shape.d[1]);
    if (classes == 1000) {
        CHECK(nk_graph_num_labels(g) == 1000);
        CHECK(nk_graph_label(g, 0) &&
              strcmp(nk_graph_label(g, 0), "tench") == 0);
        CHECK(nk_graph_label(g, 999) &&
              strcmp(nk_graph_label(g, 999), "toilet tissue") == 0);
    } else {
        CHECK(nk_graph_num_labels(g) == 0);
    }
    nk_graph_free(g);
}

static void test_all_archs(void)
{
    nk_ctx *ctx;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    CHECK(nk_zoo_count() == N_REF);
    for (int i = 0; i < nk_zoo_count(); i++) {
        const char *arch = nk_zoo_name(i);
        REQUIRE(arch != NULL);
        CHECK(nk_zoo_description(i) != NULL);
        int k = -1;
        for (int j = 0; j < N_REF; j++)
            if (strcmp(ref_counts[j].arch, arch) == 0)
                k = j;
        CHECKF(k >= 0, "no reference count for %s", arch);
        if (k < 0)
            continue;
        if (ref_counts[k].n1000)
            check_arch(ctx, arch, 1000, ref_counts[k].n1000);
        check_arch(ctx, arch, 10, ref_counts[k].n10);
    }
    CHECK(nk_zoo_name(-1) == NULL && nk_zoo_name(nk_zoo_count()) == NULL);
    CHECK(nk_zoo_default_classes(0) == 10);
    nk_ctx_free(ctx);
}

static void test_bad_args(void)
{
    nk_ctx *ctx;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    nk_graph *g = (nk_graph *)&g;
    CHECK(nk_zoo_create(ctx, "resnet19", NULL, &g) == NK_NOT_FOUND);
    CHECK(g == NULL);
    CHECK(strstr(nk_errmsg(ctx), "resnet19") &&
          strstr(nk_errmsg(ctx), "mobilenet_v3_large"));
    nk_zoo_opts o = {.classes = -3};
    CHECK(nk_zoo_create(ctx, "resnet18", &o, &g) == NK_INVALID_ARG);
    CHECK(strstr(nk_errmsg(ctx), "-3") != NULL);
    o = (nk_zoo_opts){.width_mult = 0.5f};
    CHECK(nk_zoo_create(ctx, "resnet18", &o, &g) == NK_INVALID_ARG);
    o.width_mult = -1.0f;
    CHECK(nk_zoo_create(ctx, "mobilenet_v2", &o, &g) == NK_INVALID_ARG);
    CHECK(nk_zoo_create(ctx, NULL, NULL, &g) == NK_INVALID_ARG);
    nk_ctx_free(ctx);
}

/* input_size: the global-pool networks infer at any size >= 32 to the
 * same logits shape, with the input dims and the preprocessing following
 * (resize round(S*256/224), crop S); VGG and LeNet refuse other sizes. */
static void test_input_size(void)
{
    nk_ctx *ctx;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    static const struct {
        const char *arch;
        int size, resize, last_hw; /* last_hw: spatial size before pool */
        const char *last;          /* the tensor before the global pool */
    } ok[] = {
        {"resnet18", 32, 37, 1, "layer4.1.relu"},
        {"resnet18", 64, 73, 2, "layer4.1.relu"},
        {"resnet18", 100, 114, 4, "layer4.1.relu"},
        {"resnet50", 160, 183, 5, "layer4.2.relu"},
        {"mobilenet_v1", 32, 37, 1, "features.13.1.2"},
        {"mobilenet_v1", 96, 110, 3, "features.13.1.2"},
        {"mobilenet_v2", 48, 55, 2, "features.18.2"},
        {"mobilenet_v3_small", 64, 73, 2, "features.12.2"},
        {"mobilenet_v3_large", 4096, 4681, 128, "features.16.2"},
        {"resnet18", 224, 256, 7, "layer4.1.relu"},
        {"vgg11", 224, 256, 7, "features.20"},
        {"lenet5", 28, 0, 5, "pool2"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        nk_zoo_opts o = {.classes = 7, .input_size = ok[i].size};
        if (strncmp(ok[i].arch, "mobilenet", 9) == 0)
            o.width_mult = 0.25f;
        nk_graph *g = NULL;
        /* structure only: the shapes do not depend on the random draws */
        nk_status st = nk_zoo_build(ctx, ok[i].arch, &o, false, &g);
        CHECKF(st == NK_OK, "%s @%d: %s", ok[i].arch, ok[i].size,
               nk_errmsg(ctx));
        if (st != NK_OK)
            continue;
        const nk_tensor *in = g->tensors[g->inputs[0]];
        const nk_tensor *y = g->tensors[g->outputs[0]];
        CHECKF(in->shape.d[2] == ok[i].size && in->shape.d[3] == ok[i].size,
               "%s @%d: input %lld x %lld", ok[i].arch, ok[i].size,
               (long long)in->shape.d[2], (long long)in->shape.d[3]);
        CHECK(y->shape.rank == 2 && y->shape.d[1] == 7);
        int li = -1;
        for (int k = 0; k < g->n_nodes; k++)
            if (strcmp(g->nodes[k].name, ok[i].last) == 0)
                li = g->nodes[k].out[0];
        CHECKF(li >= 0, "%s: no node %s", ok[i].arch, ok[i].last);
        if (li >= 0) {
            const nk_shape *ls = &g->tensors[li]->shape;
            CHECKF(ls->rank == 4 && ls->d[2] == ok[i].last_hw &&
                       ls->d[3] == ok[i].last_hw,
                   "%s @%d: %s is %lld x %lld, expected %d x %d",
                   ok[i].arch, ok[i].size, ok[i].last,
                   (long long)ls->d[2], (long long)ls->d[3], ok[i].last_hw,
                   ok[i].last_hw);
        }
        nk_preproc p = nk_graph_preproc(g);
        CHECKF(p.valid && p.crop_h == ok[i].size && p.crop_w == ok[i].size &&
                   p.resize == ok[i].resize,
               "%s @%d: preproc resize %d crop %dx%d, expected %d, %d",
               ok[i].arch, ok[i].size, p.resize, p.crop_h, p.crop_w,
               ok[i].resize, ok[i].size);
        if (p.channels == 3)
            CHECK(fabsf(p.mean[0] - 0.485f) < 1e-6f &&
                  fabsf(p.std[2] - 0.225f) < 1e-6f);
        nk_graph_free(g);
    }
    /* a full build runs at the new size: the weights do not change */
    nk_zoo_opts a = {.classes = 5, .seed = 9, .width_mult = 0.25f};
    nk_zoo_opts b = a;
    b.input_size = 40;
    nk_graph *ga, *gb;
    REQUIRE_OK(ctx, nk_zoo_create(ctx, "mobilenet_v1", &a, &ga));
    REQUIRE_OK(ctx, nk_zoo_create(ctx, "mobilenet_v1", &b, &gb));
    CHECK(nk_graph_param_count(ga) == nk_graph_param_count(gb));
    const nk_tensor *wa = ga->tensors[nk_graph_find_tensor(ga, "features.5.1.0.weight")];
    const nk_tensor *wb = gb->tensors[nk_graph_find_tensor(gb, "features.5.1.0.weight")];
    CHECK(wa->nbytes == wb->nbytes && memcmp(wa->data, wb->data, wa->nbytes) == 0);
    nk_plan *plan;
    nk_plan_opts po = {.batch = 2};
    nk_status st = nk_plan_create(ctx, gb, &po, &plan);
    CHECKF(st == NK_OK, "plan at 40x40: %s", nk_errmsg(ctx));
    if (st == NK_OK) {
        nk_tensor *x = nk_plan_input(plan, 0);
        CHECK(x->shape.d[0] == 2 && x->shape.d[2] == 40 &&
              x->shape.d[3] == 40);
        float *xd = x->data;
        for (int64_t k = 0; k < nk_shape_numel(&x->shape); k++)
            xd[k] = (float)((k * 37) % 101) / 50.0f - 1.0f;
        CHECK_OK(ctx, nk_plan_run(ctx, plan));
        const nk_tensor *yo = nk_plan_output(plan, 0);
        CHECK(yo->shape.d[0] == 2 && yo->shape.d[1] == 5);
        bool finite = true;
        for (int k = 0; k < 10; k++)
            finite = finite && isfinite(((const float *)yo->data)[k]);
        CHECK(finite);
        nk_plan_free(plan);
    }
    nk_graph_free(ga);
    nk_graph_free(gb);

    /* refusals name the architecture, the size and what it takes */
    static const struct {
        const char *arch;
        int size;
        const char *want;
    } bad[] = {
        {"vgg16", 112, "takes only 224x224"},
        {"vgg11_bn", 256, "7x7"},
        {"lenet5", 32, "takes only 28x28"},
        {"lenet5", 224, "16x5x5"},
        {"resnet18", 31, "32..4096"},
        {"mobilenet_v2", 4097, "32..4096"},
        {"resnet18", -1, "32..4096"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nk_zoo_opts o = {.input_size = bad[i].size};
        nk_graph *g = (nk_graph *)&g;
        char num[16];
        snprintf(num, sizeof num, "%d", bad[i].size);
        CHECK(nk_zoo_create(ctx, bad[i].arch, &o, &g) == NK_INVALID_ARG);
        CHECK(g == NULL);
        CHECKF(strstr(nk_errmsg(ctx), bad[i].arch) &&
                   strstr(nk_errmsg(ctx), num) &&
                   strstr(nk_errmsg(ctx), bad[i].want),
               "%s @%d: message '%s'", bad[i].arch, bad[i].size,
               nk_errmsg(ctx));
    }
    /* the table tells which architectures take another size */
    for (int i = 0; i < nk_zoo_count(); i++) {
        const char *n = nk_zoo_name(i);
        bool fixed = strncmp(n, "vgg", 3) == 0 || strcmp(n, "lenet5") == 0;
        CHECKF(nk_zoo_input_size_free(i) == !fixed, "%s", n);
        CHECK(nk_zoo_default_input_size(i) ==
              (strcmp(n, "lenet5") == 0 ? 28 : 224));
    }
    CHECK(nk_zoo_default_input_size(-1) == 0 &&
          nk_zoo_input_size_free(nk_zoo_count()) == 0);
    nk_ctx_free(ctx);
}

/* Same seed, same weights; other seed, other weights; BN stats exact. */
static void test_seed_and_init(void)
{
    nk_ctx *ctx;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    nk_zoo_opts o = {.seed = 42};
    nk_graph *a, *b, *c;
    REQUIRE_OK(ctx, nk_zoo_create(ctx, "resnet18", &o, &a));
    REQUIRE_OK(ctx, nk_zoo_create(ctx, "resnet18", &o, &b));
    o.seed = 43;
    REQUIRE_OK(ctx, nk_zoo_create(ctx, "resnet18", &o, &c));
    int w = nk_graph_find_tensor(a, "layer1.0.conv1.weight");
    REQUIRE(w >= 0);
    const nk_tensor *ta = a->tensors[w];
    const nk_tensor *tb = b->tensors[nk_graph_find_tensor(b, ta->name)];
    const nk_tensor *tc = c->tensors[nk_graph_find_tensor(c, ta->name)];
    CHECK(memcmp(ta->data, tb->data, ta->nbytes) == 0);
    CHECK(memcmp(ta->data, tc->data, ta->nbytes) != 0);
    const nk_tensor *v = a->tensors[nk_graph_find_tensor(a, "bn1.running_var")];
    const nk_tensor *nbt =
        a->tensors[nk_graph_find_tensor(a, "bn1.num_batches_tracked")];
    CHECK(v->dtype == NK_F32 && !v->trainable &&
          ((float *)v->data)[63] == 1.0f);
    CHECK(nbt->dtype == NK_I64 && nbt->shape.rank == 0 && !nbt->trainable &&
          *(int64_t *)nbt->data == 0);
    /* width multiplier changes the channel counts */
    o = (nk_zoo_opts){.width_mult = 0.5f};
    nk_graph *h;
    REQUIRE_OK(ctx, nk_zoo_create(ctx, "mobilenet_v1", &o, &h));
    const nk_tensor *s = h->tensors[nk_graph_find_tensor(h, "features.0.0.weight")];
    CHECK(s->shape.d[0] == 16);
    nk_graph_free(h);
    nk_graph_free(a);
    nk_graph_free(b);
    nk_graph_free(c);
    nk_ctx_free(ctx);
}

/* The state_dict-visible initializers: all but graph constants ("::"). */
static int dump(const char *arch, int classes)
{
    nk_ctx *ctx;
    if (nk_ctx_new(&ctx) != NK_OK)
        return 1;
    nk_zoo_opts o = {.classes = classes, .seed = 0};
    nk_graph *g;
    if (nk_zoo_create(ctx, arch, &o, &g) != NK_OK) {
        fprintf(stderr, "test-zoo: %s\n", nk_errmsg(ctx));
        nk_ctx_free(ctx);
        return 1;
    }
    for (int i = 0; i < g->n_tensors; i++) {
        const nk_tensor *t = g->tensors[i];
        if (!t->is_init || strstr(t->name, "::"))
            continue;
        printf("%s %s", t->name, nk_dtype_name(t->dtype));
        for (int d = 0; d < t->shape.rank; d++)
            printf(" %lld", (long long)t->shape.d[d]);
        double sum = 0, sq = 0;
        int64_t n = nk_shape_numel(&t->shape);
        for (int64_t j = 0; j < n; j++) {
            double x = t->dtype == NK_F32 ? ((float *)t->data)[j]
                                          : (double)((int64_t *)t->data)[j];
            sum += x;
            sq += x * x;
        }
        double mean = n ? sum / (double)n : 0;
        double var = n ? sq / (double)n - mean * mean : 0;
        printf(" | %.6g %.6g\n", mean, sqrt(var > 0 ? var : 0));
    }
    nk_graph_free(g);
    nk_ctx_free(ctx);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "--dump") == 0)
        return dump(argv[2], argc >= 4 ? atoi(argv[3]) : 0);
    static const nk_test_case cases[] = {
        T(test_all_archs), T(test_bad_args), T(test_input_size),
        T(test_seed_and_init)};
    return nk_test_main(argc, argv, cases,
                        (int)(sizeof cases / sizeof cases[0]));
}
