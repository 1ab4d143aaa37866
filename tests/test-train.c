/*
 * test-train.c — unit tests of the training data pipeline and logs:
 * dataset scanning and split, transforms, the loader's determinism across
 * worker counts and its handling of corrupt images, head swap and
 * freezing on the zoo's models, checkpoints, CRC-32C and event framing,
 * report.html, and nk_finetune's errors.
 */
#include "harness.h"

#include "engine/ir.h"
#include "train/checkpoint.h"
#include "train/dataset.h"
#include "train/head.h"
#include "train/image.h"
#include "train/loader.h"
#include "train/report.h"
#include "train/tfevents.h"
#include "train/transform.h"
#include "zoo/zoo.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static nk_ctx *new_ctx(void)
{
    nk_ctx *ctx = NULL;
    if (nk_ctx_new(&ctx) != NK_OK)
        abort();
    return ctx;
}

/* nk_test_tmpdir, emptied first (tests reuse the build tree's tmp). The
 * result is a copy that stays valid for the whole test. */
static const char *fresh_dir(const char *name)
{
    static char bufs[4][1024];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "%s", nk_test_tmpdir(name));
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", b);
    if (system(cmd) != 0 || mkdir(b, 0755) != 0)
        fprintf(stderr, "cannot reset %s\n", b);
    return b;
}

static void touch(const char *path, const char *content)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(content, f);
        fclose(f);
    }
}

/* A w x h gray PNG whose pixels are a function of seed. */
static int write_png(const char *path, int w, int h, int seed)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL,
                                            NULL);
    png_infop info = png_create_info_struct(p);
    if (setjmp(png_jmpbuf(p))) {
        png_destroy_write_struct(&p, &info);
        fclose(f);
        return -1;
    }
    png_init_io(p, f);
    png_set_IHDR(p, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(p, info);
    unsigned char row[512];
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++)
            row[x] = (unsigned char)((x * 7 + y * 13 + seed * 31) & 0xff);
        png_write_row(p, row);
    }
    png_write_end(p, NULL);
    png_destroy_write_struct(&p, &info);
    fclose(f);
    return 0;
}

/* DIR/<class>/<i>.png for 3 classes x per images, 28x28 (seed = index). */
static const char *make_folder(const char *name, int per)
{
    const char *dir = fresh_dir(name);
    static const char *cls[3] = {"cat", "ant", "bee"};
    char p[1024];
    for (int c = 0; c < 3; c++) {
        snprintf(p, sizeof p, "%s/%s", dir, cls[c]);
        mkdir(p, 0777);
        for (int i = 0; i < per; i++) {
            snprintf(p, sizeof p, "%s/%s/%03d.png", dir, cls[c], i);
            write_png(p, 28, 28, c * 1000 + i);
        }
    }
    return dir;
}

/* ---- dataset ----------------------------------------------------------- */

static void test_dataset_scan(void)
{
    nk_ctx *ctx = new_ctx();
    const char *dir = fresh_dir("ds-scan");
    char p[1024];
    const char *cls[3] = {"b_class", "a_class", "C_upper"};
    for (int c = 0; c < 3; c++) {
        snprintf(p, sizeof p, "%s/%s", dir, cls[c]);
        mkdir(p, 0777);
        for (int i = 0; i < c + 1; i++) {
            snprintf(p, sizeof p, "%s/%s/img%d.%s", dir, cls[c], i,
                     i % 2 ? "JPG" : "png");
            touch(p, "x");
        }
        snprintf(p, sizeof p, "%s/%s/notes.txt", dir, cls[c]);
        touch(p, "ignored");
        snprintf(p, sizeof p, "%s/%s/.hidden.png", dir, cls[c]);
        touch(p, "ignored");
    }
    snprintf(p, sizeof p, "%s/stray.png", dir);
    touch(p, "not in a class folder");
    nk_dataset *ds = NULL;
    REQUIRE_OK(ctx, nk_dataset_open(ctx, dir, 2, 0, NULL, &ds));
    CHECK(ds->n_classes == 3);
    /* strcmp order: "C_upper" < "a_class" < "b_class" */
    CHECK(strcmp(ds->classes[0], "C_upper") == 0);
    CHECK(strcmp(ds->classes[1], "a_class") == 0);
    CHECK(strcmp(ds->classes[2], "b_class") == 0);
    CHECK(ds->n == 6);
    CHECK(ds->class_count[0] == 3 && ds->class_count[1] == 2 &&
          ds->class_count[2] == 1);
    for (int i = 0; i < ds->n; i++) {
        const char *cn = ds->classes[ds->labels[i]];
        CHECKF(strstr(ds->paths[i], cn) != NULL, "%s labelled %s",
               ds->paths[i], cn);
    }
    nk_dataset_free(ds);

    /* a validation folder must use the training classes */
    const char *vdir = fresh_dir("ds-scan-val");
    snprintf(p, sizeof p, "%s/a_class", vdir);
    mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/a_class/x.png", vdir);
    touch(p, "x");
    const char *names[2] = {"a_class", "zzz"};
    REQUIRE_OK(ctx, nk_dataset_open(ctx, vdir, 1, 2, names, &ds));
    CHECK(ds->n == 1 && ds->labels[0] == 0 && ds->n_classes == 2);
    nk_dataset_free(ds);
    snprintf(p, sizeof p, "%s/unknown", vdir);
    mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/unknown/y.png", vdir);
    touch(p, "x");
    CHECK(nk_dataset_open(ctx, vdir, 1, 2, names, &ds) == NK_NOT_FOUND);
    CHECKF(strstr(nk_errmsg(ctx), "unknown") != NULL, "%s", nk_errmsg(ctx));
    nk_ctx_free(ctx);
}

static void test_dataset_errors(void)
{
    nk_ctx *ctx = new_ctx();
    nk_dataset *ds = NULL;
    char p[1024];
    /* an empty class folder */
    const char *dir = fresh_dir("ds-empty");
    snprintf(p, sizeof p, "%s/full", dir);
    mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/full/a.png", dir);
    touch(p, "x");
    snprintf(p, sizeof p, "%s/empty_one", dir);
    mkdir(p, 0777);
    CHECK(nk_dataset_open(ctx, dir, 2, 0, NULL, &ds) == NK_FORMAT);
    CHECKF(strstr(nk_errmsg(ctx), "empty_one") &&
               strstr(nk_errmsg(ctx), "no .jpg"),
           "%s", nk_errmsg(ctx));
    CHECK(ds == NULL);
    /* one class only */
    dir = fresh_dir("ds-single");
    snprintf(p, sizeof p, "%s/only", dir);
    mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/only/a.png", dir);
    touch(p, "x");
    CHECK(nk_dataset_open(ctx, dir, 2, 0, NULL, &ds) == NK_FORMAT);
    CHECKF(strstr(nk_errmsg(ctx), "'only'") &&
               strstr(nk_errmsg(ctx), "at least 2"),
           "%s", nk_errmsg(ctx));
    /* no folder at all */
    CHECK(nk_dataset_open(ctx, "/nonexistent/nnkit", 2, 0, NULL, &ds) ==
          NK_NOT_FOUND);
    CHECKF(strstr(nk_errmsg(ctx), "/nonexistent/nnkit") != NULL, "%s",
           nk_errmsg(ctx));
    nk_ctx_free(ctx);
}

static void test_dataset_split(void)
{
    nk_ctx *ctx = new_ctx();
    const char *dir = fresh_dir("ds-split");
    char p[1024];
    for (int c = 0; c < 2; c++) {
        snprintf(p, sizeof p, "%s/c%d", dir, c);
        mkdir(p, 0777);
        for (int i = 0; i < 20 + 10 * c; i++) {
            snprintf(p, sizeof p, "%s/c%d/%02d.png", dir, c, i);
            touch(p, "x");
        }
    }
    nk_dataset *ds = NULL, *tr = NULL, *va = NULL, *tr2 = NULL, *va2 = NULL;
    REQUIRE_OK(ctx, nk_dataset_open(ctx, dir, 2, 0, NULL, &ds));
    REQUIRE_OK(ctx, nk_dataset_split(ctx, ds, 0.2, 7, &tr, &va));
    CHECK(va->n == 4 + 6 && tr->n == 16 + 24);
    CHECK(va->class_count[0] == 4 && va->class_count[1] == 6);
    /* disjoint and complete */
    int seen = 0;
    for (int i = 0; i < va->n; i++)
        for (int j = 0; j < tr->n; j++)
            seen += strcmp(va->paths[i], tr->paths[j]) == 0;
    CHECK(seen == 0);
    /* same seed, same split; another seed, another split */
    REQUIRE_OK(ctx, nk_dataset_split(ctx, ds, 0.2, 7, &tr2, &va2));
    int same = 1;
    for (int i = 0; i < va->n; i++)
        same &= strcmp(va->paths[i], va2->paths[i]) == 0;
    CHECK(same);
    nk_dataset_free(tr2);
    nk_dataset_free(va2);
    REQUIRE_OK(ctx, nk_dataset_split(ctx, ds, 0.2, 8, &tr2, &va2));
    same = 1;
    for (int i = 0; i < va->n; i++)
        same &= strcmp(va->paths[i], va2->paths[i]) == 0;
    CHECK(!same);
    CHECK(nk_dataset_split(ctx, ds, 1.5, 1, &tr2, &va2) == NK_INVALID_ARG);
    nk_dataset_free(ds);
    nk_dataset_free(tr);
    nk_dataset_free(va);
    nk_dataset_free(tr2);
    nk_dataset_free(va2);
    nk_ctx_free(ctx);
}

/* ---- transforms ---------------------------------------------------------- */

static nk_preproc gray_pre(int size)
{
    nk_preproc p = {0};
    p.valid = 1;
    p.crop_h = p.crop_w = size;
    p.scale = 1.0f / 255;
    p.mean[0] = 0.5f;
    p.std[0] = 0.5f;
    p.channels = 1;
    return p;
}

static void test_transform(void)
{
    nk_ctx *ctx = new_ctx();
    nk_preproc pre = gray_pre(16);
    pre.resize = 20;
    nk_image *img = NULL;
    REQUIRE_OK(ctx, nk_image_alloc(ctx, 40, 30, 1, &img));
    for (int i = 0; i < 40 * 30; i++)
        img->px[i] = (uint8_t)(i * 37);
    /* eval path == nk_image_to_input */
    nk_transform t = nk_transform_make(&pre, 0);
    float a[256];
    REQUIRE_OK(ctx, nk_transform_apply(ctx, &t, img, NULL, a));
    int64_t dims[4] = {2, 1, 16, 16};
    nk_tensor *x = NULL;
    REQUIRE_OK(ctx, nk_tensor_new(ctx, NK_F32, 4, dims, &x));
    REQUIRE_OK(ctx, nk_image_to_input(ctx, img, &pre, x, 1));
    CHECK(memcmp(a, (float *)nk_tensor_data(x) + 256, sizeof a) == 0);
    nk_tensor_free(x);

    /* random resized crop: torchvision's bounds */
    nk_transform ta = nk_transform_make(&pre, 1);
    nk_rng rng;
    nk_rng_seed(&rng, 3);
    int bad = 0;
    for (int k = 0; k < 2000; k++) {
        int top, left, ch, cw;
        nk_transform_crop_params(&ta, 40, 30, &rng, &top, &left, &ch, &cw);
        double area = (double)ch * cw / (40.0 * 30.0);
        double ratio = (double)cw / ch;
        bad += top < 0 || left < 0 || top + ch > 30 || left + cw > 40 ||
               area < 0.08 * 0.8 || area > 1.0 || ratio < 0.75 * 0.8 ||
               ratio > 4.0 / 3 * 1.25;
    }
    CHECKF(bad == 0, "%d crops out of bounds", bad);
    /* fallback for an extreme aspect ratio: a centered, clamped crop */
    int top, left, ch, cw;
    nk_transform_crop_params(&ta, 1000, 10, &rng, &top, &left, &ch, &cw);
    CHECKF(ch == 10 && cw == 13 && top == 0 && left == (1000 - 13) / 2,
           "fallback crop %d,%d %dx%d", top, left, ch, cw);
    /* flip only: the output is the eval output or its mirror */
    nk_preproc p2 = gray_pre(30);
    nk_image *sq = NULL;
    REQUIRE_OK(ctx, nk_image_alloc(ctx, 30, 30, 1, &sq));
    for (int i = 0; i < 900; i++)
        sq->px[i] = (uint8_t)(i * 11);
    nk_transform tf = nk_transform_make(&p2, 0);
    tf.hflip = 1;
    float e[900], f[900];
    REQUIRE_OK(ctx, nk_transform_apply(ctx, &tf, sq, NULL, e));
    int flipped = 0, plain = 0;
    for (int k = 0; k < 20; k++) {
        REQUIRE_OK(ctx, nk_transform_apply(ctx, &tf, sq, &rng, f));
        int is_plain = memcmp(e, f, sizeof e) == 0, is_flip = 1;
        for (int y = 0; y < 30; y++)
            for (int xx = 0; xx < 30; xx++)
                is_flip &= f[y * 30 + xx] == e[y * 30 + 29 - xx];
        plain += is_plain;
        flipped += is_flip;
        CHECK(is_plain || is_flip);
    }
    CHECK(plain > 0 && flipped > 0);
    nk_image_free(sq);
    nk_image_free(img);
    nk_ctx_free(ctx);
}

/* ---- loader ------------------------------------------------------------- */

/* All batches of epoch e as one buffer of samples + labels. */
static int run_epoch(nk_ctx *ctx, nk_dataset *ds, int workers, int epoch,
                     float *xs, int32_t *ys, int *n, int *warnings)
{
    nk_preproc pre = gray_pre(28);
    nk_transform t = nk_transform_make(&pre, 1);
    nk_loader_opts o = {.batch = 5, .workers = workers, .shuffle = 1,
                        .augment = 1, .seed = 42};
    nk_loader *l = NULL;
    if (nk_loader_create(ctx, ds, &t, &o, &l) != NK_OK)
        return -1;
    *n = 0;
    for (int e = 0; e <= epoch; e++) {
        if (nk_loader_start_epoch(ctx, l, e) != NK_OK)
            return -1;
        nk_batch *b;
        while (nk_loader_next(ctx, l, &b) == NK_OK && b) {
            if (b->warnings[0])
                (*warnings)++;
            if (e == epoch) {
                memcpy(xs + (size_t)*n * 784, b->x,
                       (size_t)b->n * 784 * sizeof(float));
                memcpy(ys + *n, b->labels, (size_t)b->n * sizeof(int32_t));
                *n += b->n;
            }
            nk_loader_release(l, b);
        }
    }
    nk_loader_free(l);
    return 0;
}

static void test_loader(void)
{
    nk_ctx *ctx = new_ctx();
    const char *dir = make_folder("loader", 8);
    char p[1024];
    snprintf(p, sizeof p, "%s/ant/corrupt.png", dir);
    touch(p, "\x89PNG\r\n\x1a\n this is not a png");
    snprintf(p, sizeof p, "%s/bee/empty.jpg", dir);
    touch(p, "");
    nk_dataset *ds = NULL;
    REQUIRE_OK(ctx, nk_dataset_open(ctx, dir, 2, 0, NULL, &ds));
    REQUIRE(ds->n == 26);
    static float x1[26 * 784], x2[26 * 784], x3[26 * 784];
    int32_t y1[26], y2[26], y3[26];
    int n1, n2, n3, w1 = 0, w2 = 0, w3 = 0;
    REQUIRE(run_epoch(ctx, ds, 1, 1, x1, y1, &n1, &w1) == 0);
    CHECK(n1 == 24);
    CHECK(nk_dataset_bad_count(ds) == 2);
    CHECK(w1 >= 1 && w1 <= 2); /* two warnings, in one or two batches */
    nk_dataset_free(ds);
    /* the same batches with 3 workers (fresh dataset: bad flags reset) */
    REQUIRE_OK(ctx, nk_dataset_open(ctx, dir, 2, 0, NULL, &ds));
    REQUIRE(run_epoch(ctx, ds, 3, 1, x2, y2, &n2, &w2) == 0);
    CHECK(n2 == 24 && w2 == w1);
    CHECK(memcmp(x1, x2, sizeof(float) * 24 * 784) == 0);
    CHECK(memcmp(y1, y2, sizeof(int32_t) * 24) == 0);
    /* another epoch: another order */
    REQUIRE(run_epoch(ctx, ds, 2, 2, x3, y3, &n3, &w3) == 0);
    CHECK(n3 == 24 && w3 == 0); /* bad images are reported once */
    CHECK(memcmp(x1, x3, sizeof(float) * 24 * 784) != 0);
    nk_dataset_free(ds);
    nk_ctx_free(ctx);
}

/* ---- head --------------------------------------------------------------- */

static void check_head(const char *arch, const char *rule, const char *wname,
                       int64_t feats)
{
    nk_ctx *ctx = new_ctx();
    nk_graph *g = NULL;
    nk_zoo_opts zo = {0};
    REQUIRE_OK(ctx, nk_zoo_build(ctx, arch, &zo, false, &g));
    nk_head h;
    REQUIRE_OK(ctx, nk_head_swap(ctx, g, 7, 1, &h));
    CHECKF(strcmp(h.rule, rule) == 0, "%s: rule %s", arch, h.rule);
    CHECKF(strcmp(g->tensors[h.weight]->name, wname) == 0, "%s: weight %s",
           arch, g->tensors[h.weight]->name);
    CHECK(h.features == feats && h.classes == 7);
    const nk_tensor *w = g->tensors[h.weight];
    CHECK(w->shape.rank == 2 && w->shape.d[0] == 7 && w->shape.d[1] == feats);
    const nk_tensor *out = g->tensors[g->outputs[0]];
    CHECK(g->n_outputs == 1 && out->shape.d[1] == 7);
    /* torch.nn.Linear init: U(+-1/sqrt(F)) */
    double bound = 1.0 / sqrt((double)feats), sq = 0;
    const float *wd = w->data;
    int outside = 0;
    for (int64_t i = 0; i < 7 * feats; i++) {
        outside += fabs(wd[i]) > bound;
        sq += (double)wd[i] * wd[i];
    }
    CHECK(outside == 0);
    CHECK_NEAR(sq / (7.0 * feats), bound * bound / 3, bound * bound / 3 * 0.2);
    /* freezing */
    nk_train_layers tl;
    int64_t np = 0;
    REQUIRE_OK(ctx, nk_train_layers_parse(ctx, "head", &tl));
    REQUIRE_OK(ctx, nk_head_set_trainable(ctx, g, &h, &tl, &np));
    CHECK(np == 7 * feats + 7);
    REQUIRE_OK(ctx, nk_train_layers_parse(ctx, "all", &tl));
    REQUIRE_OK(ctx, nk_head_set_trainable(ctx, g, &h, &tl, &np));
    int bn_stat_trainable = 0;
    for (int i = 0; i < g->n_tensors; i++) {
        const char *nm = g->tensors[i]->name;
        if (strstr(nm, "running_") && g->tensors[i]->trainable)
            bn_stat_trainable++;
    }
    CHECK(bn_stat_trainable == 0);
    CHECK(np > 7 * feats + 7);
    nk_graph_free(g);
    nk_ctx_free(ctx);
}

static void test_head_zoo(void)
{
    check_head("resnet18", "fc", "fc.weight", 512);
    check_head("vgg11", "classifier[-1]", "classifier.6.weight", 4096);
    check_head("mobilenet_v2", "classifier[-1]", "classifier.1.weight", 1280);
    check_head("lenet5", "last Gemm/MatMul", "fc3.weight", 84);
}

static void test_head_last_n(void)
{
    nk_ctx *ctx = new_ctx();
    nk_graph *g = NULL;
    REQUIRE_OK(ctx, nk_zoo_create(ctx, "lenet5", NULL, &g));
    nk_head h;
    REQUIRE_OK(ctx, nk_head_swap(ctx, g, 3, 1, &h));
    nk_train_layers tl;
    int64_t np;
    REQUIRE_OK(ctx, nk_train_layers_parse(ctx, "last:2", &tl));
    REQUIRE_OK(ctx, nk_head_set_trainable(ctx, g, &h, &tl, &np));
    CHECK(np == 120 * 84 + 84 + 84 * 3 + 3);
    int ti = nk_graph_find_tensor(g, "fc1.weight");
    CHECK(ti >= 0 && !g->tensors[ti]->trainable);
    CHECK(nk_train_layers_parse(ctx, "last:0", &tl) == NK_INVALID_ARG);
    CHECK(nk_train_layers_parse(ctx, "some", &tl) == NK_INVALID_ARG);
    CHECKF(strstr(nk_errmsg(ctx), "head, last:N") != NULL, "%s",
           nk_errmsg(ctx));
    nk_graph_free(g);
    nk_ctx_free(ctx);
}

/* input [N, 4] -> MatMul W[4,5] -> Add b -> Softmax, or Conv-only. */
static nk_graph *small_graph(nk_ctx *ctx, int with_fc)
{
    nk_graph *g = NULL;
    if (nk_graph_new(ctx, &g) != NK_OK)
        return NULL;
    nk_shape xs = {0};
    int x, y, w, b, z, s;
    nk_node *n;
    if (with_fc) {
        xs.rank = 2;
        xs.d[0] = NK_DIM_SYM;
        xs.sym[0] = "batch";
        xs.d[1] = 4;
        int64_t wd[2] = {4, 5}, bd[1] = {5};
        nk_shape ws = nk_shape_make(2, wd), bs = nk_shape_make(1, bd), e = {0};
        nk_graph_add_tensor(ctx, g, "x", NK_F32, &xs, &x);
        nk_graph_add_init(ctx, g, "W", NK_F32, &ws, &w);
        nk_graph_add_init(ctx, g, "b", NK_F32, &bs, &b);
        nk_graph_add_tensor(ctx, g, "y", NK_F32, &e, &y);
        nk_graph_add_tensor(ctx, g, "z", NK_F32, &e, &z);
        nk_graph_add_tensor(ctx, g, "prob", NK_F32, &e, &s);
        int i1[2] = {x, w}, i2[2] = {y, b};
        nk_graph_add_node(ctx, g, NK_OP_MATMUL, "mm", 2, i1, 1, &y, &n);
        nk_graph_add_node(ctx, g, NK_OP_ADD, "add", 2, i2, 1, &z, &n);
        nk_graph_add_node(ctx, g, NK_OP_SOFTMAX, "sm", 1, &z, 1, &s, &n);
    } else {
        xs.rank = 4;
        xs.d[0] = NK_DIM_SYM;
        xs.sym[0] = "batch";
        xs.d[1] = 1;
        xs.d[2] = xs.d[3] = 28;
        int64_t wd[4] = {2, 1, 3, 3};
        nk_shape ws = nk_shape_make(4, wd), e = {0};
        nk_graph_add_tensor(ctx, g, "x", NK_F32, &xs, &x);
        nk_graph_add_init(ctx, g, "W", NK_F32, &ws, &w);
        nk_graph_add_tensor(ctx, g, "y", NK_F32, &e, &y);
        nk_graph_add_tensor(ctx, g, "prob", NK_F32, &e, &s);
        int i1[2] = {x, w};
        nk_graph_add_node(ctx, g, NK_OP_CONV, "conv", 2, i1, 1, &y, &n);
        nk_graph_add_node(ctx, g, NK_OP_GLOBALAVGPOOL, "gap", 1, &y, 1, &s,
                          &n);
    }
    nk_graph_set_inputs(ctx, g, 1, &x);
    nk_graph_set_outputs(ctx, g, 1, &s);
    nk_preproc p = gray_pre(28);
    nk_graph_set_preproc(g, &p);
    if (nk_graph_infer(ctx, g) != NK_OK) {
        nk_graph_free(g);
        return NULL;
    }
    return g;
}

static void test_head_matmul_softmax(void)
{
    nk_ctx *ctx = new_ctx();
    nk_graph *g = small_graph(ctx, 1);
    REQUIRE(g);
    nk_head h;
    REQUIRE_OK(ctx, nk_head_swap(ctx, g, 3, 5, &h));
    CHECK(strcmp(h.rule, "last Gemm/MatMul") == 0);
    CHECK(g->n_nodes == 1 && g->nodes[0].op == NK_OP_GEMM);
    CHECK(g->tensors[g->outputs[0]]->shape.d[1] == 3);
    CHECK(strcmp(g->tensors[h.weight]->name, "W") == 0);
    nk_graph_free(g);
    nk_ctx_free(ctx);
}

static void test_no_classifier(void)
{
    nk_ctx *ctx = new_ctx();
    nk_graph *g = small_graph(ctx, 0);
    REQUIRE(g);
    nk_head h;
    CHECK(nk_head_find(ctx, g, &h) == NK_NOT_FOUND);
    CHECKF(strstr(nk_errmsg(ctx), "no classifier") &&
               strstr(nk_errmsg(ctx), "Conv, GlobalAveragePool"),
           "%s", nk_errmsg(ctx));
    /* and through the public API, with a real folder */
    const char *dir = make_folder("noclf", 2);
    nk_finetune_opts o;
    nk_finetune_opts_init(&o);
    o.data = dir;
    CHECK(nk_finetune(ctx, g, &o, NULL, NULL, NULL) == NK_NOT_FOUND);
    CHECKF(strstr(nk_errmsg(ctx), "cannot fine-tune this model: no "
                                  "classifier to replace") != NULL,
           "%s", nk_errmsg(ctx));
    nk_graph_free(g);
    nk_ctx_free(ctx);
}

/* ---- checkpoints, events, report ----------------------------------------- */

static void test_checkpoint(void)
{
    nk_ctx *ctx = new_ctx();
    const char *dir = fresh_dir("ckpt");
    char path[1024];
    snprintf(path, sizeof path, "%s/c.nkckpt", dir);
    nk_ckpt c = {0}, d = {0};
    float w[5] = {1, 2, 3, 4, 5};
    CHECK_OK(ctx, nk_ckpt_put(ctx, &c, "param:w", w, sizeof w));
    CHECK_OK(ctx, nk_ckpt_put(ctx, &c, "config", "a=1\n", 4));
    CHECK_OK(ctx, nk_ckpt_put(ctx, &c, "param:w", w, 8)); /* replaced */
    REQUIRE_OK(ctx, nk_ckpt_save(ctx, &c, path));
    REQUIRE_OK(ctx, nk_ckpt_load(ctx, path, &d));
    uint64_t len;
    const float *r = nk_ckpt_get(&d, "param:w", &len);
    CHECK(r && len == 8 && r[1] == 2.0f);
    CHECK(d.n == 2 && nk_ckpt_get(&d, "nope", NULL) == NULL);
    nk_ckpt_clear(&d);
    /* every truncation is a clean NK_FORMAT */
    uint8_t buf[256];
    FILE *f = fopen(path, "rb");
    REQUIRE(f);
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    int clean = 1;
    for (size_t k = 0; k < n; k++) {
        char tp[1100];
        snprintf(tp, sizeof tp, "%s/t.nkckpt", dir);
        f = fopen(tp, "wb");
        fwrite(buf, 1, k, f);
        fclose(f);
        nk_status st = nk_ckpt_load(ctx, tp, &d);
        clean &= st == NK_FORMAT && d.n == 0;
    }
    CHECK(clean);
    nk_ckpt_clear(&c);
    nk_ctx_free(ctx);
}

static void test_crc_and_events(void)
{
    /* RFC 3720 / iSCSI check value */
    CHECK(nk_crc32c("123456789", 9) == 0xe3069283u);
    CHECK(nk_crc32c("", 0) == 0);
    nk_ctx *ctx = new_ctx();
    const char *dir = fresh_dir("events");
    nk_tfevents *w = NULL;
    REQUIRE_OK(ctx, nk_tfevents_open(ctx, dir, &w));
    CHECK_OK(ctx, nk_tfevents_scalar(ctx, w, "train/loss", 1, 0.5));
    CHECK_OK(ctx, nk_tfevents_scalar(ctx, w, "val/accuracy", 1, 0.75));
    uint8_t *d = NULL;
    size_t len = 0;
    REQUIRE_OK(ctx, nk_file_read(ctx, nk_tfevents_path(w), &d, &len));
    nk_tfevents_close(w);
    size_t at = 0;
    int records = 0, ok = 1;
    while (at + 12 <= len) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--)
            n = (n << 8) | d[at + i];
        uint32_t c1 = (uint32_t)d[at + 8] | (uint32_t)d[at + 9] << 8 |
                      (uint32_t)d[at + 10] << 16 | (uint32_t)d[at + 11] << 24;
        ok &= c1 == nk_crc32c_masked(d + at, 8);
        if (at + 12 + n + 4 > len) {
            ok = 0;
            break;
        }
        const uint8_t *p = d + at + 12 + n;
        uint32_t c2 = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
                      (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        ok &= c2 == nk_crc32c_masked(d + at + 12, n);
        at += 12 + n + 4;
        records++;
    }
    CHECK(ok && at == len && records == 3);
    nk_free(d);
    nk_ctx_free(ctx);
}

static void test_report(void)
{
    nk_ctx *ctx = new_ctx();
    const char *dir = fresh_dir("report");
    char path[1024];
    snprintf(path, sizeof path, "%s/report.html", dir);
    nk_epoch_stats h[2] = {{1.2, 0.5, 1e-3, 1.0, 0.6, 100, 1},
                           {0.8, 0.7, 1e-3, 0.9, 0.65, 110, 1}};
    char *cls[2] = {"a<b", "c&d"};
    int64_t conf[4] = {5, 1, 2, 7};
    nk_report r = {"model.nnk", "settings", h, 2, 2, 2, cls, conf};
    REQUIRE_OK(ctx, nk_report_write(ctx, path, &r));
    uint8_t *d = NULL;
    size_t len = 0;
    REQUIRE_OK(ctx, nk_file_read(ctx, path, &d, &len));
    char *s = nk_malloc(len + 1);
    memcpy(s, d, len);
    s[len] = 0;
    CHECK(strstr(s, "<svg") && strstr(s, "a&lt;b") && strstr(s, "c&amp;d"));
    CHECK(!strstr(s, "src=") && !strstr(s, "href=") && !strstr(s, "<script"));
    int rects = 0;
    for (const char *p = s; (p = strstr(p, "predicted as")); p++)
        rects++;
    CHECK(rects == 4);
    nk_free(s);
    nk_free(d);
    nk_ctx_free(ctx);
}

NK_TESTS({"dataset_scan", test_dataset_scan},
         {"dataset_errors", test_dataset_errors},
         {"dataset_split", test_dataset_split},
         {"transform", test_transform},
         {"loader", test_loader},
         {"head_zoo", test_head_zoo},
         {"head_last_n", test_head_last_n},
         {"head_matmul_softmax", test_head_matmul_softmax},
         {"no_classifier", test_no_classifier},
         {"checkpoint", test_checkpoint},
         {"crc_and_events", test_crc_and_events},
         {"report", test_report})
