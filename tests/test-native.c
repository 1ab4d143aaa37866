/*
 * test-native.c — the native .nnk format and .npy files: bit-exact round
 * trips of hand-built graphs, borrowed (mmap) weights, truncation and
 * corruption never crashing, atomic saves, and numpy as the .npy reference.
 */
#include "harness.h"

#include "engine/ir.h"
#include "engine/op.h"
#include "formats/format.h"
#include "formats/native/nnk.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static nk_ctx *ctx_new(void)
{
    nk_ctx *ctx = NULL;
    if (nk_ctx_new(&ctx) != NK_OK)
        abort();
    return ctx;
}

static char *path_in(const char *dir, const char *name)
{
    static char buf[8][1024];
    static int k;
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s/%s", dir, name);
    char *p = buf[k++ % 8];
    memcpy(p, tmp, sizeof tmp);
    return p;
}

static bool file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)len + 1);
    *n = fread(p, 1, (size_t)len, f);
    fclose(f);
    return p;
}

/* Overwrite path with p[0..n). Rewrites in place and truncates at the
 * end: ext4 flushes files truncated to zero, which would make the
 * thousands of rewrites below take seconds. */
static void spit(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    if (fd < 0)
        abort();
    if (n && write(fd, p, n) != (ssize_t)n)
        abort();
    if (ftruncate(fd, (off_t)n) != 0)
        abort();
    close(fd);
}

/* Fill an initializer's bytes with a seeded pattern valid for its dtype. */
static void fill(nk_tensor *t, uint64_t seed)
{
    nk_rng r;
    nk_rng_seed(&r, seed);
    uint8_t *p = t->data;
    for (size_t i = 0; i < t->nbytes; i++)
        p[i] = (uint8_t)nk_rng_next(&r);
    if (t->dtype == NK_BOOL)
        for (size_t i = 0; i < t->nbytes; i++)
            p[i] &= 1;
    if (t->dtype == NK_F32) /* finite values, so graphs can also run */
        for (size_t i = 0; i < t->nbytes / 4; i++)
            ((float *)p)[i] = nk_rng_uniform(&r) - 0.5f;
}

static int add_init(nk_ctx *ctx, nk_graph *g, const char *name, nk_dtype dt,
                    int rank, const int64_t *dims, uint64_t seed)
{
    nk_shape s = nk_shape_make(rank, dims);
    int idx = -1;
    if (nk_graph_add_init(ctx, g, name, dt, &s, &idx) != NK_OK) {
        nk_t_fail(__FILE__, __LINE__, "add_init %s: %s", name,
                  nk_errmsg(ctx));
        return -1;
    }
    g->tensors[idx]->trainable = dt == NK_F32;
    fill(g->tensors[idx], seed);
    return idx;
}

/* Attach a TENSOR attribute (there is no IR setter: same trick as the
 * reader, an int slot retyped). */
static void set_tensor_attr(nk_ctx *ctx, nk_graph *g, nk_node *n,
                            const char *name, nk_dtype dt, int rank,
                            const int64_t *dims)
{
    nk_tensor *t = nk_arena_alloc(&g->arena, sizeof *t);
    t->name = nk_graph_strdup(g, name);
    t->dtype = dt;
    t->shape = nk_shape_make(rank, dims);
    t->nbytes = nk_tensor_bytes_for(dt, &t->shape);
    t->data = nk_malloc_aligned(t->nbytes ? t->nbytes : 1, 64);
    t->storage = NK_STORE_OWNED;
    t->is_init = true;
    fill(t, 77);
    if (nk_node_set_int(ctx, g, n, name, 0) != NK_OK)
        abort();
    nk_attr *a = (nk_attr *)nk_node_attr(n, name);
    a->type = NK_ATTR_TENSOR;
    a->t = t;
}

static void add_meta(nk_ctx *ctx, nk_graph *g)
{
    const char *labels[] = {"tench", "goldfish", "great white shark", "ü"};
    CHECK_OK(ctx, nk_graph_set_labels(ctx, g, 4, labels));
    nk_preproc p = {.valid = 1, .resize = 256, .crop_h = 224, .crop_w = 220,
                    .resize_mode = NK_RESIZE_NEAREST, .scale = 1.0f / 255,
                    .mean = {0.485f, 0.456f, 0.406f, -0.0f},
                    .std = {0.229f, 0.224f, 0.225f, 1e-30f},
                    .channels = 3, .bgr = 1, .nhwc = 0};
    g->preproc = p;
    CHECK_OK(ctx, nk_graph_meta_set(ctx, g, "source", "https://x/y.pth"));
    CHECK_OK(ctx, nk_graph_meta_set(ctx, g, "sha256", "ab12"));
    CHECK_OK(ctx, nk_graph_meta_set(ctx, g, "empty", ""));
}

/* A graph with every dtype, quantization, attribute type and metadata;
 * not meant to run (loaded with nk_nnk_load, which skips inference). */
static nk_graph *build_zoo_of_everything(nk_ctx *ctx)
{
    nk_graph *g = NULL;
    if (nk_graph_new(ctx, &g))
        return NULL;
    nk_shape xs = nk_shape_make(4, (int64_t[]){NK_DIM_SYM, 3, 8, NK_DIM_SYM});
    xs.sym[0] = "batch";
    xs.sym[3] = NULL; /* an unnamed symbolic dim */
    int x, y, z, o;
    CHECK_OK(ctx, nk_graph_add_tensor(ctx, g, "x", NK_F32, &xs, &x));
    int w = add_init(ctx, g, "conv.weight", NK_F32, 4,
                     (int64_t[]){4, 3, 3, 3}, 1);
    int b = add_init(ctx, g, "conv.bias", NK_F32, 1, (int64_t[]){4}, 2);
    add_init(ctx, g, "h16", NK_F16, 1, (int64_t[]){5}, 3);
    add_init(ctx, g, "hb16", NK_BF16, 2, (int64_t[]){2, 3}, 4);
    int q8 = add_init(ctx, g, "q8", NK_I8, 1, (int64_t[]){7}, 5);
    int qu8 = add_init(ctx, g, "qu8", NK_U8, 2, (int64_t[]){4, 2}, 6);
    add_init(ctx, g, "i32", NK_I32, 1, (int64_t[]){3}, 7);
    add_init(ctx, g, "i64", NK_I64, 1, (int64_t[]){2}, 8);
    add_init(ctx, g, "mask", NK_BOOL, 3, (int64_t[]){1, 1, 5}, 9);
    add_init(ctx, g, "scalar", NK_F32, 0, NULL, 10);
    int e = add_init(ctx, g, "empty", NK_F32, 2, (int64_t[]){0, 3}, 11);
    CHECK_OK(ctx, nk_tensor_set_quant(ctx, g, g->tensors[q8], -1, 1,
                                      (float[]){0.0123f},
                                      (int32_t[]){-3}));
    CHECK_OK(ctx, nk_tensor_set_quant(ctx, g, g->tensors[qu8], 0, 4,
                                      (float[]){0.5f, 0.25f, 1e-7f, 3.0f},
                                      (int32_t[]){0, 128, 255, 7}));
    g->tensors[w]->layout = NK_LAYOUT_NHWC;
    g->tensors[e]->trainable = false;
    nk_shape ys = nk_shape_make(4, (int64_t[]){NK_DIM_SYM, 4, 8, 8});
    ys.sym[0] = "batch";
    CHECK_OK(ctx, nk_graph_add_tensor(ctx, g, "y", NK_F32, &ys, &y));
    CHECK_OK(ctx, nk_graph_add_tensor(ctx, g, "z", NK_F32, NULL, &z));
    CHECK_OK(ctx, nk_graph_add_tensor(ctx, g, "o", NK_F32, NULL, &o));
    nk_node *n;
    CHECK_OK(ctx, nk_graph_add_node(ctx, g, NK_OP_CONV, "conv1", 3,
                                    (int[]){x, w, b}, 1, (int[]){y}, &n));
    n->act = NK_ACT_CLIP;
    n->act_a0 = 0.0f;
    n->act_a1 = 6.0f;
    CHECK_OK(ctx, nk_node_set_ints(ctx, g, n, "kernel_shape", 2,
                                   (int64_t[]){3, 3}));
    CHECK_OK(ctx, nk_node_set_ints(ctx, g, n, "pads", 4,
                                   (int64_t[]){1, 1, 1, 1}));
    CHECK_OK(ctx, nk_node_set_int(ctx, g, n, "group", 1));
    CHECK_OK(ctx, nk_node_set_int(ctx, g, n, "big", INT64_MIN));
    CHECK_OK(ctx, nk_node_set_float(ctx, g, n, "alpha", -0.0f));
    CHECK_OK(ctx, nk_node_set_string(ctx, g, n, "auto_pad", "NOTSET"));
    CHECK_OK(ctx, nk_node_set_floats(ctx, g, n, "fs", 3,
                                     (float[]){1.5f, -2e30f, 1e-40f}));
    CHECK_OK(ctx, nk_node_set_ints(ctx, g, n, "none", 0, NULL));
    set_tensor_attr(ctx, g, n, "value", NK_I64, 1, (int64_t[]){3});
    set_tensor_attr(ctx, g, n, "value0", NK_F16, 0, NULL);
    CHECK_OK(ctx, nk_graph_add_node(ctx, g, NK_OP_CLIP, "", 3,
                                    (int[]){y, NK_NO_INPUT, b}, 1,
                                    (int[]){z}, &n));
    CHECK_OK(ctx, nk_graph_add_node(ctx, g, NK_OP_DROPOUT, "drop", 1,
                                    (int[]){z}, 2, (int[]){o, e}, &n));
    n->act = NK_ACT_LEAKYRELU;
    n->act_a0 = 0.01f;
    CHECK_OK(ctx, nk_graph_set_inputs(ctx, g, 1, &x));
    CHECK_OK(ctx, nk_graph_set_outputs(ctx, g, 2, (int[]){o, z}));
    add_meta(ctx, g);
    return g;
}

/* A small runnable classifier: Conv(+ReLU6) -> GAP -> Flatten -> Gemm. */
static nk_graph *build_runnable(nk_ctx *ctx, int64_t channels)
{
    nk_graph *g = NULL;
    if (nk_graph_new(ctx, &g))
        return NULL;
    nk_shape xs = nk_shape_make(4, (int64_t[]){NK_DIM_SYM, 3, 8, 8});
    xs.sym[0] = "batch";
    int x, c, p, f, o;
    CHECK_OK(ctx, nk_graph_add_tensor(ctx, g, "input", NK_F32, &xs, &x));
    int w = add_init(ctx, g, "w", NK_F32, 4,
                     (int64_t[]){channels, 3, 3, 3}, 21);
    int b = add_init(ctx, g, "b", NK_F32, 1, (int64_t[]){channels}, 22);
    int w2 = add_init(ctx, g, "fc.weight", NK_F32, 2,
                      (int64_t[]){10, channels}, 23);
    int b2 = add_init(ctx, g, "fc.bias", NK_F32, 1, (int64_t[]){10}, 24);
    CHECK_OK(ctx, nk_graph_add_tensor(ctx, g, "c", NK_F32, NULL, &c));
    CHECK_OK(ctx, nk_graph_add_tensor(ctx, g, "p", NK_F32, NULL, &p));
    CHECK_OK(ctx, nk_graph_add_tensor(ctx, g, "f", NK_F32, NULL, &f));
    CHECK_OK(ctx, nk_graph_add_tensor(ctx, g, "logits", NK_F32, NULL, &o));
    nk_node *n;
    CHECK_OK(ctx, nk_graph_add_node(ctx, g, NK_OP_CONV, "conv", 3,
                                    (int[]){x, w, b}, 1, (int[]){c}, &n));
    CHECK_OK(ctx, nk_node_set_ints(ctx, g, n, "kernel_shape", 2,
                                   (int64_t[]){3, 3}));
    CHECK_OK(ctx, nk_node_set_ints(ctx, g, n, "pads", 4,
                                   (int64_t[]){1, 1, 1, 1}));
    n->act = NK_ACT_CLIP;
    n->act_a1 = 6.0f;
    CHECK_OK(ctx, nk_graph_add_node(ctx, g, NK_OP_GLOBALAVGPOOL, "gap", 1,
                                    (int[]){c}, 1, (int[]){p}, &n));
    CHECK_OK(ctx, nk_graph_add_node(ctx, g, NK_OP_FLATTEN, "flat", 1,
                                    (int[]){p}, 1, (int[]){f}, &n));
    CHECK_OK(ctx, nk_node_set_int(ctx, g, n, "axis", 1));
    CHECK_OK(ctx, nk_graph_add_node(ctx, g, NK_OP_GEMM, "fc", 3,
                                    (int[]){f, w2, b2}, 1, (int[]){o}, &n));
    CHECK_OK(ctx, nk_node_set_int(ctx, g, n, "transB", 1));
    CHECK_OK(ctx, nk_graph_set_inputs(ctx, g, 1, &x));
    CHECK_OK(ctx, nk_graph_set_outputs(ctx, g, 1, &o));
    add_meta(ctx, g);
    return g;
}

/* ---- bit-exact comparison ------------------------------------------------ */

static bool str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static void cmp_tensor(const nk_tensor *a, const nk_tensor *b, bool data)
{
    CHECKF(str_eq(a->name, b->name), "name '%s' vs '%s'", a->name, b->name);
    CHECKF(a->dtype == b->dtype, "%s: dtype", a->name);
    CHECKF(a->shape.rank == b->shape.rank, "%s: rank", a->name);
    for (int i = 0; i < a->shape.rank && i < b->shape.rank; i++) {
        CHECKF(a->shape.d[i] == b->shape.d[i], "%s: dim %d", a->name, i);
        if (a->shape.d[i] == NK_DIM_SYM)
            CHECKF(str_eq(a->shape.sym[i], b->shape.sym[i]),
                   "%s: sym %d", a->name, i);
    }
    CHECKF(a->layout == b->layout, "%s: layout", a->name);
    CHECKF(a->is_init == b->is_init, "%s: is_init", a->name);
    CHECKF(a->trainable == b->trainable, "%s: trainable", a->name);
    CHECKF((a->quant == NULL) == (b->quant == NULL), "%s: quant", a->name);
    if (a->quant && b->quant) {
        CHECKF(a->quant->axis == b->quant->axis, "%s: quant axis", a->name);
        CHECKF(a->quant->n == b->quant->n, "%s: quant n", a->name);
        if (a->quant->n == b->quant->n) {
            CHECKF(!memcmp(a->quant->scale, b->quant->scale,
                           4 * (size_t)a->quant->n),
                   "%s: scales", a->name);
            CHECKF(!memcmp(a->quant->zero_point, b->quant->zero_point,
                           4 * (size_t)a->quant->n),
                   "%s: zero points", a->name);
        }
    }
    if (!data)
        return;
    CHECKF((a->data == NULL) == (b->data == NULL), "%s: has data", a->name);
    if (a->data && b->data) {
        CHECKF(a->nbytes == b->nbytes, "%s: nbytes %zu vs %zu", a->name,
               a->nbytes, b->nbytes);
        CHECKF(a->nbytes != b->nbytes ||
                   !memcmp(a->data, b->data, a->nbytes),
               "%s: data differs", a->name);
        CHECKF(b->storage == NK_STORE_BORROWED, "%s: loaded data not borrowed",
               b->name);
    }
}

static void cmp_graphs(const nk_graph *a, const nk_graph *b, bool shapes)
{
    REQUIRE(a->n_tensors == b->n_tensors);
    for (int i = 0; i < a->n_tensors; i++) {
        const nk_tensor *ta = a->tensors[i], *tb = b->tensors[i];
        if (shapes || ta->is_init)
            cmp_tensor(ta, tb, true);
        else
            CHECK(str_eq(ta->name, tb->name));
    }
    REQUIRE(a->n_nodes == b->n_nodes);
    for (int i = 0; i < a->n_nodes; i++) {
        const nk_node *na = &a->nodes[i], *nb = &b->nodes[i];
        CHECK(na->op == nb->op);
        CHECK(str_eq(na->name, nb->name));
        CHECK(na->act == nb->act);
        CHECK(!memcmp(&na->act_a0, &nb->act_a0, 4));
        CHECK(!memcmp(&na->act_a1, &nb->act_a1, 4));
        REQUIRE(na->n_in == nb->n_in && na->n_out == nb->n_out);
        CHECK(!memcmp(na->in, nb->in, sizeof(int) * (size_t)na->n_in));
        CHECK(!memcmp(na->out, nb->out, sizeof(int) * (size_t)na->n_out));
        REQUIRE(na->n_attr == nb->n_attr);
        for (int k = 0; k < na->n_attr; k++) {
            const nk_attr *x = &na->attr[k], *y = &nb->attr[k];
            CHECKF(str_eq(x->name, y->name), "attr %s", x->name);
            REQUIRE(x->type == y->type);
            switch (x->type) {
            case NK_ATTR_INT: CHECK(x->i == y->i); break;
            case NK_ATTR_FLOAT: CHECK(!memcmp(&x->f, &y->f, 4)); break;
            case NK_ATTR_STRING: CHECK(str_eq(x->s, y->s)); break;
            case NK_ATTR_INTS:
                REQUIRE(x->n == y->n);
                CHECK(!x->n || !memcmp(x->ints, y->ints, 8 * (size_t)x->n));
                break;
            case NK_ATTR_FLOATS:
                REQUIRE(x->n == y->n);
                CHECK(!x->n ||
                      !memcmp(x->floats, y->floats, 4 * (size_t)x->n));
                break;
            case NK_ATTR_TENSOR: cmp_tensor(x->t, y->t, true); break;
            default: CHECK(0);
            }
        }
    }
    REQUIRE(a->n_inputs == b->n_inputs && a->n_outputs == b->n_outputs);
    CHECK(!memcmp(a->inputs, b->inputs, sizeof(int) * (size_t)a->n_inputs));
    CHECK(!memcmp(a->outputs, b->outputs,
                  sizeof(int) * (size_t)a->n_outputs));
    REQUIRE(a->n_labels == b->n_labels);
    for (int i = 0; i < a->n_labels; i++)
        CHECK(str_eq(a->labels[i], b->labels[i]));
    CHECK(!memcmp(&a->preproc, &b->preproc, sizeof a->preproc));
    REQUIRE(a->n_meta == b->n_meta);
    for (int i = 0; i < a->n_meta; i++) {
        CHECK(str_eq(a->meta[i].key, b->meta[i].key));
        CHECK(str_eq(a->meta[i].value, b->meta[i].value));
    }
}

/* ---- tests ------------------------------------------------------------------ */

static void test_roundtrip_everything(void)
{
    nk_ctx *ctx = ctx_new();
    const char *dir = nk_test_tmpdir("native-rt");
    nk_graph *g = build_zoo_of_everything(ctx), *h = NULL, *h2 = NULL;
    REQUIRE(g);
    const char *p = path_in(dir, "all.nnk");
    REQUIRE_OK(ctx, nk_nnk_save(ctx, g, p));
    CHECK(!file_exists(path_in(dir, "all.nnk.tmp")));
    REQUIRE_OK(ctx, nk_nnk_load(ctx, p, &h));
    cmp_graphs(g, h, true);
    /* data is 64-byte aligned inside the mapping */
    for (int i = 0; i < h->n_tensors; i++)
        if (h->tensors[i]->data && h->tensors[i]->nbytes)
            CHECKF(((uintptr_t)h->tensors[i]->data & 63) == 0,
                   "%s misaligned", h->tensors[i]->name);
    /* save of a loaded (borrowed) graph writes the same bytes */
    const char *p2 = path_in(dir, "again.nnk");
    REQUIRE_OK(ctx, nk_nnk_save(ctx, h, p2));
    size_t n1 = 0, n2 = 0;
    uint8_t *b1 = slurp(p, &n1), *b2 = slurp(p2, &n2);
    CHECK(b1 && b2 && n1 == n2 && !memcmp(b1, b2, n1));
    free(b1);
    free(b2);
    REQUIRE_OK(ctx, nk_nnk_load(ctx, p2, &h2));
    cmp_graphs(g, h2, true);
    nk_graph_free(h2);
    nk_graph_free(h);
    nk_graph_free(g);
    nk_ctx_free(ctx);
}

static void test_model_load_runnable(void)
{
    nk_ctx *ctx = ctx_new();
    const char *dir = nk_test_tmpdir("native-model");
    nk_graph *g = build_runnable(ctx, 8), *h = NULL;
    REQUIRE(g);
    const char *p = path_in(dir, "small.nnk");
    REQUIRE_OK(ctx, nk_model_save(ctx, g, p, NK_FORMAT_AUTO));
    REQUIRE_OK(ctx, nk_model_load(ctx, p, &h));
    cmp_graphs(g, h, false);
    /* the public view */
    CHECK(nk_graph_num_inputs(h) == 1);
    CHECK(nk_tensor_dim(nk_graph_input(h, 0), 0) == -1);
    CHECK(str_eq(nk_tensor_dim_name(nk_graph_input(h, 0), 0), "batch"));
    CHECK(nk_graph_num_labels(h) == 4);
    CHECK(str_eq(nk_graph_label(h, 2), "great white shark"));
    CHECK(str_eq(nk_graph_meta_get(h, "sha256"), "ab12"));
    CHECK(nk_graph_preproc(h).crop_w == 220);
    /* the content decides, not the extension */
    const char *odd = path_in(dir, "small.onnx");
    REQUIRE_OK(ctx, nk_nnk_save(ctx, g, odd));
    nk_graph *h3 = NULL;
    CHECK_OK(ctx, nk_model_load(ctx, odd, &h3));
    nk_graph_free(h3);
    nk_graph_free(h);
    nk_graph_free(g);
    nk_ctx_free(ctx);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void test_borrowed_weights(void)
{
    nk_ctx *ctx = ctx_new();
    const char *dir = nk_test_tmpdir("native-big");
    /* A 64 MB initializer: 4096 x 4096 floats. */
    nk_graph *g = build_runnable(ctx, 16), *h = NULL;
    REQUIRE(g);
    REQUIRE(add_init(ctx, g, "big", NK_F32, 2, (int64_t[]){4096, 4096}, 5) >=
            0);
    const char *p = path_in(dir, "big.nnk");
    REQUIRE_OK(ctx, nk_model_save(ctx, g, p, NK_FORMAT_NNK));
    double t0 = now_ms();
    REQUIRE_OK(ctx, nk_nnk_load(ctx, p, &h));
    double dt = now_ms() - t0;
    REQUIRE(h->maps);
    const uint8_t *lo = h->maps->addr, *hi = lo + h->maps->len;
    CHECK(h->maps->len > (size_t)64 << 20);
    for (int i = 0; i < h->n_tensors; i++) {
        nk_tensor *t = h->tensors[i];
        if (!t->is_init)
            continue;
        CHECKF(t->storage == NK_STORE_BORROWED, "%s storage %d", t->name,
               (int)t->storage);
        CHECKF((const uint8_t *)t->data >= lo &&
                   (const uint8_t *)t->data + t->nbytes <= hi,
               "%s: data outside the mapping", t->name);
    }
    /* Loading must not touch the weights: far below reading 64+ MB. */
    CHECKF(dt < 50.0, "load took %.1f ms", dt);
    cmp_graphs(g, h, true);
    nk_graph_free(h);
    h = NULL;
    t0 = now_ms();
    CHECK_OK(ctx, nk_model_load(ctx, p, &h));
    CHECKF(now_ms() - t0 < 100.0, "model load took %.1f ms", now_ms() - t0);
    nk_graph_free(h);
    nk_graph_free(g);
    unlink(p);
    nk_ctx_free(ctx);
}

/* Load of a file cut to n bytes must fail with NK_FORMAT naming it. */
static void check_truncated(nk_ctx *ctx, const uint8_t *buf, size_t n,
                            const char *cut, bool model)
{
    spit(cut, buf, n);
    nk_graph *h = NULL;
    nk_status st = model ? nk_model_load(ctx, cut, &h)
                         : nk_nnk_load(ctx, cut, &h);
    CHECKF(st == NK_FORMAT, "cut at %zu: status %s (%s)", n,
           nk_status_name(st), nk_errmsg(ctx));
    CHECKF(strstr(nk_errmsg(ctx), cut) != NULL,
           "cut at %zu: message '%s' does not name the file", n,
           nk_errmsg(ctx));
    CHECK(h == NULL);
    nk_graph_free(h);
}

static void test_truncation(void)
{
    nk_ctx *ctx = ctx_new();
    const char *dir = nk_test_tmpdir("native-trunc");
    nk_graph *g = build_zoo_of_everything(ctx);
    REQUIRE(g);
    const char *p = path_in(dir, "all.nnk"), *cut = path_in(dir, "cut.nnk");
    REQUIRE_OK(ctx, nk_nnk_save(ctx, g, p));
    size_t n;
    uint8_t *buf = slurp(p, &n);
    REQUIRE(buf);
    for (size_t k = 0; k < n; k++)
        check_truncated(ctx, buf, k, cut, false);
    free(buf);
    nk_graph_free(g);

    /* a bigger, runnable file: sampled cuts through nk_model_load */
    g = build_runnable(ctx, 256);
    REQUIRE(g);
    REQUIRE_OK(ctx, nk_nnk_save(ctx, g, p));
    buf = slurp(p, &n);
    REQUIRE(buf);
    nk_rng r;
    nk_rng_seed(&r, 42);
    for (int i = 0; i < 300; i++) {
        size_t k = i < 200 ? (size_t)i * 7 % 2048 : nk_rng_next(&r) % n;
        if (k < n)
            check_truncated(ctx, buf, k, cut, true);
    }
    check_truncated(ctx, buf, n - 1, cut, true);
    free(buf);
    nk_graph_free(g);
    nk_ctx_free(ctx);
}

static void test_corruption_fuzz(void)
{
    nk_ctx *ctx = ctx_new();
    const char *dir = nk_test_tmpdir("native-fuzz");
    nk_graph *g = build_runnable(ctx, 4);
    REQUIRE(g);
    const char *p = path_in(dir, "ok.nnk"), *bad = path_in(dir, "bad.nnk");
    REQUIRE_OK(ctx, nk_nnk_save(ctx, g, p));
    nk_graph_free(g);
    g = build_zoo_of_everything(ctx);
    REQUIRE(g);
    const char *p2 = path_in(dir, "all.nnk");
    REQUIRE_OK(ctx, nk_nnk_save(ctx, g, p2));
    nk_graph_free(g);
    size_t n[2];
    uint8_t *orig[2] = {slurp(p, &n[0]), slurp(p2, &n[1])};
    REQUIRE(orig[0] && orig[1]);
    uint8_t *buf = malloc(n[0] > n[1] ? n[0] : n[1]);
    nk_rng r;
    nk_rng_seed(&r, 1234);
    int loaded = 0, failed = 0;
    for (int it = 0; it < 4000; it++) {
        int which = it & 1;
        size_t len = n[which];
        memcpy(buf, orig[which], len);
        int flips = 1 + (int)(nk_rng_next(&r) % 4);
        /* Corrupt the header and tables mostly: the data section only
         * holds weights, where any byte is valid. */
        size_t region = len < 1024 ? len : 1024;
        for (int f = 0; f < flips; f++) {
            size_t at = nk_rng_next(&r) % region;
            uint64_t kind = nk_rng_next(&r) % 4;
            buf[at] = kind == 0   ? (uint8_t)nk_rng_next(&r)
                      : kind == 1 ? buf[at] ^ (uint8_t)(1u << (nk_rng_next(&r) % 8))
                      : kind == 2 ? 0xff
                                  : 0;
        }
        spit(bad, buf, len);
        nk_graph *h = NULL;
        nk_status st = which ? nk_nnk_load(ctx, bad, &h)
                             : nk_model_load(ctx, bad, &h);
        if (st == NK_OK) {
            loaded++;
            CHECK(h != NULL);
        } else {
            failed++;
            CHECK(h == NULL);
            CHECKF(st == NK_FORMAT || st == NK_UNSUPPORTED || st == NK_SHAPE,
                   "mutation %d: status %s: %s", it, nk_status_name(st),
                   nk_errmsg(ctx));
            CHECK(nk_errmsg(ctx)[0] != 0);
        }
        nk_graph_free(h);
    }
    CHECK(failed > 1000); /* the mutations do reach the parser */
    printf("  fuzz: %d mutated files loaded, %d rejected\n", loaded, failed);
    free(buf);
    free(orig[0]);
    free(orig[1]);
    nk_ctx_free(ctx);
}

static void test_header_errors(void)
{
    nk_ctx *ctx = ctx_new();
    const char *dir = nk_test_tmpdir("native-hdr");
    nk_graph *g = build_runnable(ctx, 4), *h = NULL;
    REQUIRE(g);
    const char *p = path_in(dir, "ok.nnk"), *bad = path_in(dir, "bad.nnk");
    REQUIRE_OK(ctx, nk_nnk_save(ctx, g, p));
    nk_graph_free(g);
    size_t n;
    uint8_t *buf = slurp(p, &n);
    REQUIRE(buf && n > NNK_HEADER_SIZE);
    CHECK(!memcmp(buf, "NNK\0", 4));

    uint8_t *m = malloc(n);
    memcpy(m, buf, n);
    m[0] = 'X';
    spit(bad, m, n);
    CHECK(nk_model_load(ctx, bad, &h) == NK_FORMAT);
    CHECKF(strstr(nk_errmsg(ctx), "not a model file nnkit knows") &&
               strstr(nk_errmsg(ctx), "0x58 0x4e 0x4b 0x00"),
           "%s", nk_errmsg(ctx));
    CHECK(nk_nnk_load(ctx, bad, &h) == NK_FORMAT);
    CHECKF(strstr(nk_errmsg(ctx), "not a .nnk file"), "%s", nk_errmsg(ctx));

    memcpy(m, buf, n);
    m[4] = 2; /* version 2 */
    spit(bad, m, n);
    CHECK(nk_model_load(ctx, bad, &h) == NK_UNSUPPORTED);
    CHECKF(strstr(nk_errmsg(ctx), "version 2") &&
               strstr(nk_errmsg(ctx), bad),
           "%s", nk_errmsg(ctx));

    memcpy(m, buf, n);
    m[16] ^= 1; /* file size */
    spit(bad, m, n);
    CHECK(nk_model_load(ctx, bad, &h) == NK_FORMAT);
    CHECKF(strstr(nk_errmsg(ctx), "header says"), "%s", nk_errmsg(ctx));

    /* an op this nnkit does not know, by name */
    memcpy(m, buf, n);
    uint8_t *conv = memmem(m, n, "Conv", 5);
    REQUIRE(conv);
    memcpy(conv, "Cone", 4);
    spit(bad, m, n);
    CHECK(nk_model_load(ctx, bad, &h) == NK_UNSUPPORTED);
    CHECKF(strstr(nk_errmsg(ctx), "'Cone'"), "%s", nk_errmsg(ctx));

    /* other kinds of files */
    spit(bad, "hello world", 11);
    CHECK(nk_model_load(ctx, bad, &h) == NK_FORMAT);
    CHECKF(strstr(nk_errmsg(ctx), "found bytes 0x68 0x65") &&
               strstr(nk_errmsg(ctx), ".nnk/.onnx/.tflite"),
           "%s", nk_errmsg(ctx));
    spit(bad, "", 0);
    CHECK(nk_model_load(ctx, bad, &h) == NK_FORMAT);
    CHECKF(strstr(nk_errmsg(ctx), "empty"), "%s", nk_errmsg(ctx));
    const char *pth = path_in(dir, "w.pth");
    spit(pth, "PK\3\4 torch zip", 15);
    CHECK(nk_model_load(ctx, pth, &h) == NK_UNSUPPORTED);
    CHECKF(strstr(nk_errmsg(ctx), "zoo create ARCH --weights"), "%s",
           nk_errmsg(ctx));
    CHECK(nk_model_load(ctx, path_in(dir, "missing.nnk"), &h) == NK_IO);
    CHECK(h == NULL);
    free(m);
    free(buf);
    nk_ctx_free(ctx);
}

static void test_format_names(void)
{
    CHECK(nk_format_from_path("a/b.nnk") == NK_FORMAT_NNK);
    CHECK(nk_format_from_path("B.ONNX") == NK_FORMAT_ONNX);
    CHECK(nk_format_from_path("m.tflite") == NK_FORMAT_TFLITE);
    CHECK(nk_format_from_path("w.pth") == NK_FORMAT_PTH);
    CHECK(nk_format_from_path("w.pt") == NK_FORMAT_PTH);
    CHECK(nk_format_from_path("dir.nnk/file") == NK_FORMAT_AUTO);
    CHECK(nk_format_from_path("x.nnkk") == NK_FORMAT_AUTO);
    CHECK(nk_format_from_path("noext") == NK_FORMAT_AUTO);
    CHECK(str_eq(nk_format_name(NK_FORMAT_NNK), "nnk"));
    CHECK(str_eq(nk_format_name(NK_FORMAT_TFLITE), "tflite"));
    CHECK(str_eq(nk_format_name((nk_format)99), "?"));
    CHECK(nk_format_impl_get(NK_FORMAT_NNK) != NULL);

    nk_ctx *ctx = ctx_new();
    const char *dir = nk_test_tmpdir("native-names");
    nk_graph *g = build_runnable(ctx, 2);
    REQUIRE(g);
    const char *p = path_in(dir, "m.xyz");
    unlink(p);
    CHECK(nk_model_save(ctx, g, p, NK_FORMAT_AUTO) == NK_UNSUPPORTED);
    CHECK(nk_model_save(ctx, g, path_in(dir, "m.pth"), NK_FORMAT_AUTO) ==
          NK_UNSUPPORTED);
    CHECK(!file_exists(p));
    /* an explicit format overrides the extension */
    CHECK_OK(ctx, nk_model_save(ctx, g, p, NK_FORMAT_NNK));
    nk_graph *h = NULL;
    CHECK_OK(ctx, nk_model_load(ctx, p, &h));
    nk_graph_free(h);
    nk_graph_free(g);
    nk_ctx_free(ctx);
}

static void test_unwritable(void)
{
    nk_ctx *ctx = ctx_new();
    const char *dir = nk_test_tmpdir("native-ro");
    nk_graph *g = build_runnable(ctx, 2);
    REQUIRE(g);
    const char *sub = path_in(dir, "ro");
    mkdir(sub, 0555);
    chmod(sub, 0555);
    const char *p = path_in(sub, "m.nnk");
    if (geteuid() != 0) {
        CHECK(nk_model_save(ctx, g, p, NK_FORMAT_AUTO) == NK_IO);
        CHECKF(strstr(nk_errmsg(ctx), "m.nnk"), "%s", nk_errmsg(ctx));
        CHECK(!file_exists(p));
        CHECK(!file_exists(path_in(sub, "m.nnk.tmp")));
    }
    const char *nodir = path_in(dir, "no/such/dir/m.nnk");
    CHECK(nk_model_save(ctx, g, nodir, NK_FORMAT_AUTO) == NK_IO);
    CHECK(!file_exists(nodir));
    /* A graph the writer refuses half-way leaves nothing either: an
     * initializer whose byte count disagrees with its shape. */
    const char *q = path_in(dir, "half.nnk");
    int w = nk_graph_find_tensor(g, "fc.bias");
    REQUIRE(w >= 0);
    g->tensors[w]->nbytes -= 4;
    CHECK(nk_model_save(ctx, g, q, NK_FORMAT_AUTO) == NK_INVALID_ARG);
    CHECKF(strstr(nk_errmsg(ctx), "fc.bias"), "%s", nk_errmsg(ctx));
    g->tensors[w]->nbytes += 4;
    CHECK(!file_exists(q));
    CHECK(!file_exists(path_in(dir, "half.nnk.tmp")));
    chmod(sub, 0755);
    nk_graph_free(g);
    nk_ctx_free(ctx);
}

/* engine/ctx.c: make the n-th allocation from now fail (0 = never). */
void nk_alloc_fail_at(long n);

/* Out of memory at every allocation of load, save and npy load: NK_NOMEM
 * (never a crash, a leak or another code), then success. */
static void test_out_of_memory(void)
{
    nk_ctx *ctx = ctx_new();
    const char *dir = nk_test_tmpdir("native-oom");
    nk_graph *g = build_zoo_of_everything(ctx);
    REQUIRE(g);
    char p[1024], q[1024];
    snprintf(p, sizeof p, "%s", path_in(dir, "all.nnk"));
    snprintf(q, sizeof q, "%s", path_in(dir, "b.nnk"));
    REQUIRE_OK(ctx, nk_nnk_save(ctx, g, p));
    nk_tensor *t = NULL;
    REQUIRE_OK(ctx, nk_tensor_new(ctx, NK_I8, 2, (int64_t[]){3, 4}, &t));
    char np[1024], qtmp[1024];
    snprintf(np, sizeof np, "%s", path_in(dir, "t.npy"));
    snprintf(qtmp, sizeof qtmp, "%s", path_in(dir, "b.nnk.tmp"));
    REQUIRE_OK(ctx, nk_npy_save(ctx, t, np));
    nk_tensor_free(t);
    for (int what = 0; what < 3; what++) {
        int n;
        for (n = 1; n < 10000; n++) {
            nk_graph *h = NULL;
            nk_tensor *u = NULL;
            nk_alloc_fail_at(n);
            nk_status st = what == 0   ? nk_nnk_load(ctx, p, &h)
                           : what == 1 ? nk_nnk_save(ctx, g, q)
                                       : nk_npy_load(ctx, np, &u);
            nk_alloc_fail_at(0);
            nk_graph_free(h);
            nk_tensor_free(u);
            if (st == NK_OK)
                break;
            CHECKF(st == NK_NOMEM, "%d: alloc %d: %s: %s", what, n,
                   nk_status_name(st), nk_errmsg(ctx));
            if (what == 1)
                CHECK(!file_exists(q) && !file_exists(qtmp));
            unlink(q);
        }
        CHECK(n > 1 && n < 10000);
    }
    nk_graph_free(g);
    nk_ctx_free(ctx);
}

/* Run g on a seeded input; the caller frees *out (malloc). */
static nk_status run_once(nk_ctx *ctx, nk_graph *g, float **out, size_t *n)
{
    nk_plan *p = NULL;
    nk_plan_opts o = {.batch = 1, .threads = 1};
    nk_status st = nk_plan_create(ctx, g, &o, &p);
    if (st)
        return st;
    nk_tensor *in = nk_plan_input(p, 0);
    nk_rng r;
    nk_rng_seed(&r, 5);
    float *x = nk_tensor_data(in);
    for (int64_t i = 0; i < nk_tensor_numel(in); i++)
        x[i] = nk_rng_normal(&r);
    st = nk_plan_run(ctx, p);
    if (!st) {
        nk_tensor *y = nk_plan_output(p, 0);
        *n = nk_tensor_nbytes(y);
        *out = malloc(*n);
        memcpy(*out, nk_tensor_data(y), *n);
    }
    nk_plan_free(p);
    return st;
}

/* A zoo model survives save + load bit-exactly, outputs included. */
static void test_zoo_resnet18(void)
{
    nk_ctx *ctx = ctx_new();
    nk_graph *g = NULL, *h = NULL;
    nk_zoo_opts zo = {.classes = 1000, .seed = 3};
    nk_status st = nk_zoo_create(ctx, "resnet18", &zo, &g);
    if (st == NK_NOT_FOUND || st == NK_UNSUPPORTED) {
        printf("  resnet18 not in the zoo (%s): skipped\n", nk_errmsg(ctx));
        nk_ctx_free(ctx);
        return;
    }
    REQUIRE_OK(ctx, st);
    const char *dir = nk_test_tmpdir("native-zoo");
    const char *p = path_in(dir, "resnet18.nnk");
    REQUIRE_OK(ctx, nk_model_save(ctx, g, p, NK_FORMAT_AUTO));
    REQUIRE_OK(ctx, nk_model_load(ctx, p, &h));
    cmp_graphs(g, h, true);
    CHECK(nk_graph_num_labels(h) == 1000);
    CHECK(nk_graph_param_count(h) == nk_graph_param_count(g));
    float *ya = NULL, *yb = NULL;
    size_t na = 0, nb = 0;
    CHECK_OK(ctx, run_once(ctx, g, &ya, &na));
    CHECK_OK(ctx, run_once(ctx, h, &yb, &nb));
    CHECK(ya && yb && na == nb && na == 1000 * 4 && !memcmp(ya, yb, na));
    free(ya);
    free(yb);
    unlink(p);
    nk_graph_free(h);
    nk_graph_free(g);
    nk_ctx_free(ctx);
}

/* ---- .npy ------------------------------------------------------------------ */

static const struct {
    nk_dtype dt;
    const char *np;
} NPY_DT[] = {{NK_F32, "float32"}, {NK_F16, "float16"}, {NK_I8, "int8"},
              {NK_U8, "uint8"},    {NK_I32, "int32"},   {NK_I64, "int64"},
              {NK_BOOL, "bool"}};

static void test_npy_roundtrip(void)
{
    nk_ctx *ctx = ctx_new();
    const char *dir = nk_test_tmpdir("npy-rt");
    const int64_t shapes[][4] = {{2, 3, 4, 5}, {7}, {0, 3}, {1, 1, 1, 1}};
    const int ranks[] = {4, 1, 2, 0};
    for (size_t d = 0; d < sizeof NPY_DT / sizeof NPY_DT[0]; d++)
        for (int s = 0; s < 4; s++) {
            nk_tensor *t = NULL, *u = NULL;
            REQUIRE_OK(ctx, nk_tensor_new(ctx, NPY_DT[d].dt, ranks[s],
                                          shapes[s], &t));
            fill(t, d * 10 + (uint64_t)s);
            const char *p = path_in(dir, "t.npy");
            CHECK_OK(ctx, nk_npy_save(ctx, t, p));
            CHECK(!file_exists(path_in(dir, "t.npy.tmp")));
            CHECK_OK(ctx, nk_npy_load(ctx, p, &u));
            if (u) {
                CHECK(nk_tensor_dtype(u) == NPY_DT[d].dt);
                CHECK(nk_tensor_rank(u) == ranks[s]);
                for (int i = 0; i < ranks[s]; i++)
                    CHECK(nk_tensor_dim(u, i) == shapes[s][i]);
                CHECK(nk_tensor_nbytes(u) == nk_tensor_nbytes(t));
                CHECK(!memcmp(nk_tensor_data(u), nk_tensor_data(t),
                              nk_tensor_nbytes(t)));
            }
            /* numpy lays data out at a 64-byte boundary */
            size_t n;
            uint8_t *b = slurp(p, &n);
            size_t hl = n - nk_tensor_nbytes(t);
            CHECK(b && n > nk_tensor_nbytes(t) && hl % 64 == 0 &&
                  b[hl - 1] == '\n');
            free(b);
            nk_tensor_free(t);
            nk_tensor_free(u);
        }
    nk_tensor *t = NULL;
    REQUIRE_OK(ctx, nk_tensor_new(ctx, NK_BF16, 1, (int64_t[]){2}, &t));
    CHECK(nk_npy_save(ctx, t, path_in(dir, "bf.npy")) == NK_UNSUPPORTED);
    CHECK(!file_exists(path_in(dir, "bf.npy")));
    CHECK(nk_npy_save(ctx, t, path_in(dir, "nodir/x.npy")) ==
          NK_UNSUPPORTED);
    nk_tensor_free(t);
    nk_ctx_free(ctx);
}

/* numpy is the reference: files it writes (format 1.0, 2.0, 3.0) load to
 * the values it wrote, and files nnkit writes load in numpy. */
static void test_npy_numpy(void)
{
    if (system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0) {
        printf("  numpy not available: skipped\n");
        return;
    }
    nk_ctx *ctx = ctx_new();
    const char *dir = nk_test_tmpdir("npy-numpy");
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 - <<'EOF'\n"
             "import numpy as np\n"
             "from numpy.lib import format as F\n"
             "d = '%s'\n"
             "for dt in ['float32','float16','int8','uint8','int32','int64','bool']:\n"
             "    a = (np.arange(24).reshape(2,3,4) * 37 - 100).astype(dt)\n"
             "    for v in [(1,0),(2,0),(3,0)]:\n"
             "        with open(f'{d}/np-{dt}-{v[0]}.npy','wb') as f:\n"
             "            F.write_array(f, a, version=v)\n"
             "    np.save(f'{d}/np-{dt}-f.npy', np.asfortranarray(a))\n"
             "np.save(f'{d}/np-big.npy', np.zeros(3, dtype='>f4'))\n"
             "EOF",
             dir);
    REQUIRE(system(cmd) == 0);
    for (size_t d = 0; d < sizeof NPY_DT / sizeof NPY_DT[0]; d++) {
        for (int v = 1; v <= 3; v++) {
            char name[64];
            snprintf(name, sizeof name, "np-%s-%d.npy", NPY_DT[d].np, v);
            nk_tensor *t = NULL;
            CHECK_OK(ctx, nk_npy_load(ctx, path_in(dir, name), &t));
            if (!t)
                continue;
            CHECK(nk_tensor_dtype(t) == NPY_DT[d].dt);
            CHECK(nk_tensor_rank(t) == 3 && nk_tensor_dim(t, 2) == 4);
            /* element 23 is 23*37-100 = 751 cast to the dtype */
            const void *x = nk_tensor_data(t);
            switch (NPY_DT[d].dt) {
            case NK_F32: CHECK(((const float *)x)[23] == 751.0f); break;
            case NK_F16:
                CHECK(nk_f16_to_f32(((const uint16_t *)x)[23]) == 751.0f);
                break;
            case NK_I8: CHECK(((const int8_t *)x)[23] == (int8_t)(751 & 0xff)); break;
            case NK_U8: CHECK(((const uint8_t *)x)[23] == (uint8_t)751); break;
            case NK_I32: CHECK(((const int32_t *)x)[23] == 751); break;
            case NK_I64: CHECK(((const int64_t *)x)[23] == 751); break;
            case NK_BOOL:
                CHECK(((const uint8_t *)x)[23] == 1 &&
                      ((const uint8_t *)x)[0] == 1);
                break;
            default: break;
            }
            /* and back: numpy must read our file equal to its own */
            snprintf(name, sizeof name, "nk-%s-%d.npy", NPY_DT[d].np, v);
            CHECK_OK(ctx, nk_npy_save(ctx, t, path_in(dir, name)));
            nk_tensor_free(t);
        }
        char name[64];
        snprintf(name, sizeof name, "np-%s-f.npy", NPY_DT[d].np);
        nk_tensor *t = NULL;
        CHECK(nk_npy_load(ctx, path_in(dir, name), &t) == NK_UNSUPPORTED);
        CHECKF(strstr(nk_errmsg(ctx), "Fortran"), "%s", nk_errmsg(ctx));
    }
    nk_tensor *t = NULL;
    CHECK(nk_npy_load(ctx, path_in(dir, "np-big.npy"), &t) == NK_UNSUPPORTED);
    CHECKF(strstr(nk_errmsg(ctx), "big-endian"), "%s", nk_errmsg(ctx));
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 - <<'EOF'\n"
             "import numpy as np, sys\n"
             "d = '%s'\n"
             "for dt in ['float32','float16','int8','uint8','int32','int64','bool']:\n"
             "    a = (np.arange(24).reshape(2,3,4) * 37 - 100).astype(dt)\n"
             "    for v in [1,2,3]:\n"
             "        b = np.load(f'{d}/nk-{dt}-{v}.npy')\n"
             "        if b.dtype != a.dtype or b.shape != a.shape or not np.array_equal(a, b):\n"
             "            sys.exit(f'{dt} v{v}: numpy reads {b.dtype} {b.shape}')\n"
             "EOF",
             dir);
    CHECK(system(cmd) == 0);
    nk_ctx_free(ctx);
}

/* Write a .npy with a given header (v1.0) and n data bytes. */
static void write_npy(const char *path, const char *hdr, size_t ndata,
                      int major)
{
    size_t hl = strlen(hdr);
    uint8_t buf[4096];
    size_t k = 0;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (uint8_t)major;
    buf[7] = 0;
    k = 8;
    buf[k++] = (uint8_t)hl;
    buf[k++] = (uint8_t)(hl >> 8);
    if (major > 1) {
        buf[k++] = 0;
        buf[k++] = 0;
    }
    memcpy(buf + k, hdr, hl);
    k += hl;
    memset(buf + k, 0, ndata);
    spit(path, buf, k + ndata);
}

static void test_npy_malformed(void)
{
    nk_ctx *ctx = ctx_new();
    const char *dir = nk_test_tmpdir("npy-bad");
    const char *p = path_in(dir, "bad.npy");
    static const struct {
        const char *hdr;
        size_t ndata;
        nk_status want;
        const char *msg;
    } cases[] = {
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 24,
         NK_OK, NULL},
        {"{\"descr\":\"<i8\",\"fortran_order\":False,\"shape\":(3,)}", 24,
         NK_OK, NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 20,
         NK_FORMAT, "truncated"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 28,
         NK_FORMAT, "expected 24"},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n", 24,
         NK_UNSUPPORTED, "Fortran"},
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }\n", 24,
         NK_UNSUPPORTED, "big-endian"},
        {"{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }\n", 16,
         NK_UNSUPPORTED, "'<c8'"},
        {"{'descr': '<f4', 'fortran_order': False}\n", 0, NK_FORMAT,
         "lacks 'shape'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}",
         8, NK_FORMAT, "'x'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, "
         "'shape': (2,)}",
         8, NK_FORMAT, "repeated"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,-3), }", 0,
         NK_FORMAT, "shape"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': "
         "(99999999999999999999,), }",
         0, NK_FORMAT, "shape"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': "
         "(4294967296, 4294967296, 4294967296), }",
         0, NK_FORMAT, "too large"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': "
         "(1,1,1,1,1,1,1,1,1), }",
         4, NK_UNSUPPORTED, "dimensions"},
        {"{'descr': '<f4, 'fortran_order': False, 'shape': (1,), }", 4,
         NK_FORMAT, "malformed"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}",
         4, NK_FORMAT, "structured"},
        {"['descr']", 0, NK_FORMAT, "not a dict"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } junk", 4,
         NK_FORMAT, "unexpected bytes"},
        {"{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", 4,
         NK_FORMAT, "True or False"},
        {"{'descr': '', 'fortran_order': False, 'shape': (1,), }", 4,
         NK_FORMAT, "malformed"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int major = 1; major <= 3; major += 2) {
            write_npy(p, cases[i].hdr, cases[i].ndata, major);
            nk_tensor *t = NULL;
            nk_status st = nk_npy_load(ctx, p, &t);
            CHECKF(st == cases[i].want, "case %zu v%d: %s, expected %s (%s)",
                   i, major, nk_status_name(st),
                   nk_status_name(cases[i].want), nk_errmsg(ctx));
            if (st != NK_OK) {
                CHECKF(strstr(nk_errmsg(ctx), p) &&
                           (!cases[i].msg ||
                            strstr(nk_errmsg(ctx), cases[i].msg)),
                       "case %zu: message '%s'", i, nk_errmsg(ctx));
                CHECK(t == NULL);
            }
            nk_tensor_free(t);
        }
    }
    /* preamble damage */
    uint8_t pre[] = {0x93, 'N', 'U', 'M', 'P', 'Y', 4, 0, 10, 0};
    spit(p, pre, sizeof pre);
    nk_tensor *t = NULL;
    CHECK(nk_npy_load(ctx, p, &t) == NK_UNSUPPORTED);
    pre[6] = 1;
    pre[8] = 0xff;
    pre[9] = 0xff;
    spit(p, pre, sizeof pre);
    CHECK(nk_npy_load(ctx, p, &t) == NK_FORMAT);
    spit(p, "NUMPY", 5);
    CHECK(nk_npy_load(ctx, p, &t) == NK_FORMAT);
    CHECK(nk_npy_load(ctx, path_in(dir, "missing.npy"), &t) == NK_IO);
    /* every truncation of a valid file fails cleanly */
    nk_tensor *ok = NULL;
    REQUIRE_OK(ctx, nk_tensor_new(ctx, NK_I32, 2, (int64_t[]){3, 5}, &ok));
    REQUIRE_OK(ctx, nk_npy_save(ctx, ok, p));
    nk_tensor_free(ok);
    size_t n;
    uint8_t *buf = slurp(p, &n);
    REQUIRE(buf);
    const char *cut = path_in(dir, "cut.npy");
    for (size_t k = 0; k < n; k++) {
        spit(cut, buf, k);
        nk_status st = nk_npy_load(ctx, cut, &t);
        CHECKF(st == NK_FORMAT, "cut %zu: %s %s", k, nk_status_name(st),
               nk_errmsg(ctx));
        CHECK(t == NULL);
    }
    /* random corruption of the header never crashes */
    nk_rng r;
    nk_rng_seed(&r, 99);
    for (int it = 0; it < 2000; it++) {
        uint8_t m[256];
        memcpy(m, buf, n < sizeof m ? n : sizeof m);
        for (int f = 0; f < 3; f++)
            m[nk_rng_next(&r) % 64] = (uint8_t)nk_rng_next(&r);
        spit(cut, m, n < sizeof m ? n : sizeof m);
        t = NULL;
        if (nk_npy_load(ctx, cut, &t) == NK_OK)
            CHECK(t != NULL);
        nk_tensor_free(t);
    }
    free(buf);
    nk_ctx_free(ctx);
}

NK_TESTS(T(test_roundtrip_everything), T(test_model_load_runnable),
         T(test_borrowed_weights), T(test_truncation),
         T(test_corruption_fuzz), T(test_header_errors),
         T(test_format_names), T(test_unwritable), T(test_npy_roundtrip),
         T(test_npy_numpy), T(test_npy_malformed), T(test_zoo_resnet18), T(test_out_of_memory))
