/*
 * test-tflite.c — the TFLite format: the FlatBuffer builder and reader,
 * IR -> .tflite -> IR round trips of hand-built graphs (outputs, labels,
 * preprocessing, int8 quantization parameters), unsupported ops failing
 * before any file exists, and hostile files (truncation, offsets out of
 * range, over-long vectors, unknown union types, buffer sizes that do not
 * fit the shapes, a seeded mutation fuzz loop) giving errors, not crashes.
 * The real interpreter is checked in tests/tflite_interop.py.
 */
#include "harness.h"

#include "engine/ir.h"
#include "engine/op.h"
#include "formats/format.h"
#include "formats/tflite/flatbuf.h"
#include "formats/tflite/tflite.h"

#include <string.h>
#include <sys/stat.h>

static nk_ctx *ctx_new(void)
{
    nk_ctx *ctx = NULL;
    if (nk_ctx_new(&ctx) != NK_OK)
        abort();
    return ctx;
}

/* ---- FlatBuffer builder and reader -------------------------------------- */

static void test_flatbuffer_roundtrip(void)
{
    nk_ctx *ctx = ctx_new();
    fb_builder b;
    fbb_init(&b, 0);
    fb_ref names[3];
    const char *strs[3] = {"alpha", "", "gamma delta"};
    for (int i = 0; i < 3; i++)
        names[i] = fbb_string(&b, strs[i]);
    fb_ref nv = fbb_vector_refs(&b, names, 3);
    int32_t ints[5] = {1, -2, 3, 1 << 30, -7};
    fb_ref iv = fbb_vector(&b, ints, 5, 4, 4, NULL);
    uint8_t *bytes;
    fb_ref bv = fbb_vector(&b, NULL, 33, 1, 16, &bytes);
    REQUIRE(bytes);
    for (int i = 0; i < 33; i++)
        bytes[i] = (uint8_t)(i * 7);
    fbb_table_start(&b);
    fbb_add_i32(&b, 0, 42);
    fb_ref inner = fbb_table_end(&b);
    fb_ref kids[2] = {inner, inner};
    fb_ref kv = fbb_vector_refs(&b, kids, 2);
    fbb_table_start(&b);
    fbb_add_u8(&b, 0, 9);
    fbb_add_ref(&b, 1, nv);
    fbb_add_ref(&b, 2, iv);
    fbb_add_f32(&b, 4, 2.5f); /* field 3 absent */
    fbb_add_ref(&b, 5, bv);
    fbb_add_u64(&b, 6, 0x123456789abcull);
    fbb_add_ref(&b, 7, inner);
    fbb_add_ref(&b, 8, kv);
    fb_ref root = fbb_table_end(&b);
    const uint8_t *data;
    size_t len;
    REQUIRE(fbb_finish(&b, root, "TEST", &data, &len));
    CHECK(len % 4 == 0);
    CHECK(memcmp(data + 4, "TEST", 4) == 0);

    fb_file f = {data, len, ctx, "mem"};
    fb_table t, sub;
    REQUIRE_OK(ctx, fb_root(&f, "TEST", "Root", &t));
    uint8_t u8;
    int32_t i32;
    float f32;
    uint64_t u64;
    CHECK_OK(ctx, fb_u8(&t, 0, "u8", 0, &u8));
    CHECK(u8 == 9);
    CHECK_OK(ctx, fb_i32(&t, 3, "absent", -5, &i32));
    CHECK(i32 == -5);
    CHECK_OK(ctx, fb_f32(&t, 4, "f32", 0, &f32));
    CHECK(f32 == 2.5f);
    CHECK_OK(ctx, fb_u64(&t, 6, "u64", 0, &u64));
    CHECK(u64 == 0x123456789abcull);
    CHECK_OK(ctx, fb_i32(&t, 20, "beyond the vtable", 77, &i32));
    CHECK(i32 == 77);
    fb_vec v;
    REQUIRE_OK(ctx, fb_vector(&t, 1, "names", 4, &v));
    REQUIRE(v.n == 3);
    for (uint32_t i = 0; i < 3; i++) {
        const char *s;
        uint32_t n;
        CHECK_OK(ctx, fb_vec_str(&f, &v, i, "name", &s, &n));
        CHECK(strcmp(s, strs[i]) == 0 && n == strlen(strs[i]));
    }
    REQUIRE_OK(ctx, fb_vector(&t, 2, "ints", 4, &v));
    REQUIRE(v.n == 5);
    for (uint32_t i = 0; i < 5; i++)
        CHECK(fb_vec_i32(&f, &v, i) == ints[i]);
    REQUIRE_OK(ctx, fb_vector(&t, 5, "bytes", 1, &v));
    REQUIRE(v.n == 33);
    CHECK(v.pos % 16 == 0); /* force_align honoured */
    for (uint32_t i = 0; i < 33; i++)
        CHECK(data[v.pos + i] == (uint8_t)(i * 7));
    bool present;
    REQUIRE_OK(ctx, fb_subtable(&t, 7, "inner", "Inner", &sub, &present));
    CHECK(present);
    CHECK_OK(ctx, fb_i32(&sub, 0, "x", 0, &i32));
    CHECK(i32 == 42);
    REQUIRE_OK(ctx, fb_vector(&t, 8, "kids", 4, &v));
    REQUIRE(v.n == 2);
    CHECK_OK(ctx, fb_vec_table(&f, &v, 1, "Kid", &sub));
    CHECK_OK(ctx, fb_i32(&sub, 0, "x", 0, &i32));
    CHECK(i32 == 42);
    /* wrong identifier */
    CHECK(fb_root(&f, "TFL3", "Root", &t) == NK_FORMAT);
    CHECK(strstr(nk_errmsg(ctx), "TEST") != NULL);
    fbb_free(&b);
    nk_ctx_free(ctx);
}

/* ---- a hand-built graph with every op the writer maps -------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static float rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((double)(rng_state >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

static int init(nk_ctx *ctx, nk_graph *g, const char *name, int rank,
                const int64_t *d, float scale)
{
    nk_shape s = nk_shape_make(rank, d);
    int idx;
    if (nk_graph_add_init(ctx, g, name, NK_F32, &s, &idx) != NK_OK)
        abort();
    float *p = g->tensors[idx]->data;
    for (int64_t i = 0; i < nk_shape_numel(&s); i++)
        p[i] = rnd() * scale;
    g->tensors[idx]->trainable = true;
    return idx;
}

static int act(nk_ctx *ctx, nk_graph *g, const char *name)
{
    nk_shape s = {0};
    int idx;
    if (nk_graph_add_tensor(ctx, g, name, NK_F32, &s, &idx) != NK_OK)
        abort();
    return idx;
}

static nk_node *node(nk_ctx *ctx, nk_graph *g, nk_op op, const char *name,
                     int n_in, const int *in, int out)
{
    nk_node *n;
    if (nk_graph_add_node(ctx, g, op, name, n_in, in, 1, &out, &n) != NK_OK)
        abort();
    return n;
}

static void conv_attrs(nk_ctx *ctx, nk_graph *g, nk_node *n, int k, int s,
                       int p, int group)
{
    int64_t ks[2] = {k, k}, st[2] = {s, s}, pd[4] = {p, p, p, p};
    nk_node_set_ints(ctx, g, n, "kernel_shape", 2, ks);
    nk_node_set_ints(ctx, g, n, "strides", 2, st);
    nk_node_set_ints(ctx, g, n, "pads", 4, pd);
    if (group)
        nk_node_set_int(ctx, g, n, "group", group);
}

/* x[N,4,9,9] -> Conv -> LeakyRelu -> depthwise Conv s2 -> HardSwish ->
 * SE (GlobalAveragePool, HardSigmoid, Mul) -> Pad(0.5) -> AveragePool ->
 * BatchNorm -> {Tanh, Sigmoid} -> Concat -> Sub -> MaxPool(pads) ->
 * Flatten -> Gemm -> Clip(-1,1) -> Softmax. Outputs: "prob" [N,10] and
 * "feat" [N,16,3,3]. Plus two unused int8 initializers with quantization
 * (per channel and per tensor). */
static nk_graph *mixed_graph(nk_ctx *ctx, int bad_group)
{
    nk_graph *g;
    if (nk_graph_new(ctx, &g) != NK_OK)
        abort();
    int64_t xd[4] = {NK_DIM_SYM, 4, 9, 9};
    nk_shape xs = nk_shape_make(4, xd);
    xs.sym[0] = "batch";
    int x;
    nk_graph_add_tensor(ctx, g, "x", NK_F32, &xs, &x);
    int64_t w1d[4] = {8, bad_group ? 2 : 4, 3, 3}, b1d[1] = {8};
    int in3[3] = {x, init(ctx, g, "c1.weight", 4, w1d, 0.4f),
                  init(ctx, g, "c1.bias", 1, b1d, 0.1f)};
    int c1 = act(ctx, g, "c1");
    conv_attrs(ctx, g, node(ctx, g, NK_OP_CONV, "c1", 3, in3, c1), 3, 1, 1,
               bad_group ? 2 : 0);
    int r1 = act(ctx, g, "r1");
    nk_node_set_float(ctx, g, node(ctx, g, NK_OP_LEAKYRELU, "r1", 1, &c1, r1),
                      "alpha", 0.1f);
    int64_t wdd[4] = {8, 1, 3, 3};
    int in2[2] = {r1, init(ctx, g, "dw.weight", 4, wdd, 0.5f)};
    int d1 = act(ctx, g, "dw");
    conv_attrs(ctx, g, node(ctx, g, NK_OP_CONV, "dw", 2, in2, d1), 3, 2, 1, 8);
    int h1 = act(ctx, g, "hswish");
    node(ctx, g, NK_OP_HARDSWISH, "hswish", 1, &d1, h1);
    int gp = act(ctx, g, "gap");
    node(ctx, g, NK_OP_GLOBALAVGPOOL, "gap", 1, &h1, gp);
    int hs = act(ctx, g, "hsig");
    nk_node *n = node(ctx, g, NK_OP_HARDSIGMOID, "hsig", 1, &gp, hs);
    nk_node_set_float(ctx, g, n, "alpha", 0.2f);
    nk_node_set_float(ctx, g, n, "beta", 0.5f);
    int mu = act(ctx, g, "se");
    int mi[2] = {h1, hs};
    node(ctx, g, NK_OP_MUL, "se", 2, mi, mu);
    int64_t pdims[1] = {8};
    nk_shape ps = nk_shape_make(1, pdims);
    int pads, pval;
    nk_graph_add_init(ctx, g, "pads", NK_I64, &ps, &pads);
    int64_t pv[8] = {0, 0, 1, 1, 0, 0, 0, 0};
    memcpy(g->tensors[pads]->data, pv, sizeof pv);
    nk_shape sc = {0};
    nk_graph_add_init(ctx, g, "pad_value", NK_F32, &sc, &pval);
    *(float *)g->tensors[pval]->data = 0.5f;
    int pi[3] = {mu, pads, pval}, pd = act(ctx, g, "pad");
    node(ctx, g, NK_OP_PAD, "pad", 3, pi, pd);
    int ap = act(ctx, g, "avgpool");
    conv_attrs(ctx, g, node(ctx, g, NK_OP_AVGPOOL, "avgpool", 1, &pd, ap), 2,
               2, 0, 0);
    int64_t c8[1] = {8};
    int bi[5] = {ap, init(ctx, g, "bn.w", 1, c8, 1.0f),
                 init(ctx, g, "bn.b", 1, c8, 0.5f),
                 init(ctx, g, "bn.mean", 1, c8, 0.3f),
                 init(ctx, g, "bn.var", 1, c8, 0.2f)};
    float *var = g->tensors[bi[4]]->data;
    for (int i = 0; i < 8; i++)
        var[i] = var[i] * var[i] + 0.5f;
    int bn = act(ctx, g, "bn");
    nk_node_set_float(ctx, g, node(ctx, g, NK_OP_BATCHNORM, "bn", 5, bi, bn),
                      "epsilon", 1e-5f);
    int th = act(ctx, g, "tanh"), sg = act(ctx, g, "sigmoid");
    node(ctx, g, NK_OP_TANH, "tanh", 1, &bn, th);
    node(ctx, g, NK_OP_SIGMOID, "sigmoid", 1, &bn, sg);
    int ci[2] = {th, sg}, cat = act(ctx, g, "cat");
    nk_node_set_int(ctx, g, node(ctx, g, NK_OP_CONCAT, "cat", 2, ci, cat),
                    "axis", 1);
    int64_t sd[3] = {16, 1, 1};
    int si[2] = {cat, init(ctx, g, "offset", 3, sd, 1.0f)}, sb = act(ctx, g, "sub");
    node(ctx, g, NK_OP_SUB, "sub", 2, si, sb);
    int feat = act(ctx, g, "feat");
    conv_attrs(ctx, g, node(ctx, g, NK_OP_MAXPOOL, "maxpool", 1, &sb, feat),
               3, 1, 1, 0);
    int fl = act(ctx, g, "flat");
    nk_node_set_int(ctx, g, node(ctx, g, NK_OP_FLATTEN, "flatten", 1, &feat, fl),
                    "axis", 1);
    int64_t gw[2] = {10, 144}, gb[1] = {10};
    int gi[3] = {fl, init(ctx, g, "fc.weight", 2, gw, 0.3f),
                 init(ctx, g, "fc.bias", 1, gb, 0.1f)};
    int gm = act(ctx, g, "fc");
    n = node(ctx, g, NK_OP_GEMM, "fc", 3, gi, gm);
    nk_node_set_int(ctx, g, n, "transB", 1);
    int lo, hi;
    nk_graph_add_init(ctx, g, "lo", NK_F32, &sc, &lo);
    nk_graph_add_init(ctx, g, "hi", NK_F32, &sc, &hi);
    *(float *)g->tensors[lo]->data = -1.0f;
    *(float *)g->tensors[hi]->data = 1.0f;
    int cli[3] = {gm, lo, hi}, cl = act(ctx, g, "clip");
    node(ctx, g, NK_OP_CLIP, "clip", 3, cli, cl);
    int prob = act(ctx, g, "prob");
    nk_node_set_int(ctx, g, node(ctx, g, NK_OP_SOFTMAX, "softmax", 1, &cl, prob),
                    "axis", -1);
    /* int8 tensors with quantization parameters, read by no node */
    int64_t qd[2] = {3, 4}, q1[1] = {5};
    nk_shape qs = nk_shape_make(2, qd), q1s = nk_shape_make(1, q1);
    int qa, qb;
    nk_graph_add_init(ctx, g, "q.per_channel", NK_I8, &qs, &qa);
    nk_graph_add_init(ctx, g, "q.per_tensor", NK_I8, &q1s, &qb);
    for (int i = 0; i < 12; i++)
        ((int8_t *)g->tensors[qa]->data)[i] = (int8_t)(i * 11 - 60);
    for (int i = 0; i < 5; i++)
        ((int8_t *)g->tensors[qb]->data)[i] = (int8_t)(-i * 3);
    float scl[3] = {0.1f, 0.2f, 0.3f}, s1 = 0.05f;
    int32_t zp[3] = {0, 1, -1}, z1 = 3;
    nk_tensor_set_quant(ctx, g, g->tensors[qa], 0, 3, scl, zp);
    nk_tensor_set_quant(ctx, g, g->tensors[qb], -1, 1, &s1, &z1);
    int ins[1] = {x}, outs[2] = {prob, feat};
    nk_graph_set_inputs(ctx, g, 1, ins);
    nk_graph_set_outputs(ctx, g, 2, outs);
    const char *labels[10] = {"zero", "one", "two", "three", "four",
                              "five", "six", "seven", "eight", "nine"};
    nk_graph_set_labels(ctx, g, 10, labels);
    nk_preproc p = {.valid = 1, .resize = 11, .crop_h = 9, .crop_w = 9,
                    .resize_mode = NK_RESIZE_NEAREST, .scale = 1.0f / 255,
                    .mean = {0.1f, 0.2f, 0.3f, 0.4f},
                    .std = {0.5f, 0.6f, 0.7f, 0.8f}, .channels = 3, .bgr = 1};
    nk_graph_set_preproc(g, &p);
    nk_graph_meta_set(ctx, g, "source", "test-tflite");
    if (nk_graph_infer(ctx, g) != NK_OK) {
        fprintf(stderr, "mixed_graph: %s\n", nk_errmsg(ctx));
        if (!bad_group)
            abort();
    }
    return g;
}

/* Run g on x (given in g's input layout); returns plan (caller frees). */
static nk_plan *run(nk_ctx *ctx, nk_graph *g, const float *x, size_t n)
{
    nk_plan *p = NULL;
    nk_plan_opts po = {2, 1, 0, 0};
    if (nk_plan_create(ctx, g, &po, &p) != NK_OK) {
        fprintf(stderr, "plan: %s\n", nk_errmsg(ctx));
        return NULL;
    }
    nk_tensor *in = nk_plan_input(p, 0);
    if (nk_tensor_numel(in) != (int64_t)n) {
        nk_plan_free(p);
        return NULL;
    }
    memcpy(nk_tensor_data(in), x, n * 4);
    if (nk_plan_run(ctx, p) != NK_OK) {
        fprintf(stderr, "run: %s\n", nk_errmsg(ctx));
        nk_plan_free(p);
        return NULL;
    }
    return p;
}

/* NCHW <-> NHWC of a [N, C, H, W] tensor. */
static void to_nhwc(const float *src, float *dst, int n, int c, int h, int w)
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k < c; k++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    dst[((i * h + y) * w + x) * c + k] =
                        src[((i * c + k) * h + y) * w + x];
}

static double max_rel(const float *a, const float *b, size_t n)
{
    double m = 0, peak = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m))
            m = isnan(d) ? INFINITY : d;
        if (fabs(a[i]) > peak)
            peak = fabs(a[i]);
    }
    return peak > 0 ? m / peak : m;
}

/* Write g (opts), read it back, run both on the same input and compare
 * both outputs within tol (relative to the peak). */
static void roundtrip_check(nk_ctx *ctx, nk_graph *g, bool g_nhwc,
                            const nk_save_opts *o, double tol,
                            nk_graph **back_out)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    REQUIRE_OK(ctx, nk_tflite_write_mem(ctx, g, o, "mixed.tflite", &buf,
                                        &len));
    nk_graph *back = NULL;
    nk_status st = nk_tflite_read_mem(ctx, "mixed.tflite", buf, len, &back);
    nk_free(buf);
    REQUIRE_OK(ctx, st);
    st = nk_graph_infer(ctx, back);
    if (!st)
        st = nk_graph_validate(ctx, back);
    if (st) {
        nk_graph_free(back);
        REQUIRE_OK(ctx, st);
    }
    enum { N = 2, C = 4, H = 9, W = 9 };
    static float x[N * C * H * W], xh[N * C * H * W];
    for (int i = 0; i < N * C * H * W; i++)
        x[i] = rnd() * 2.0f;
    to_nhwc(x, xh, N, C, H, W);
    /* g_nhwc: g itself was read from TFLite, NHWC at both ends */
    bool nchw_io = o && o->keep_nchw_io && !g_nhwc;
    CHECK(nk_graph_preproc(back).nhwc == !nchw_io);
    nk_plan *pa = run(ctx, g, g_nhwc ? xh : x, sizeof x / 4);
    nk_plan *pb = run(ctx, back, nchw_io ? x : xh, sizeof x / 4);
    CHECK(pa && pb);
    if (pa && pb) {
        REQUIRE(nk_plan_num_outputs(pb) == 2);
        nk_tensor *a0 = nk_plan_output(pa, 0), *b0 = nk_plan_output(pb, 0);
        CHECK(strcmp(nk_tensor_name(b0), "prob") == 0);
        CHECK(nk_tensor_numel(a0) == nk_tensor_numel(b0));
        double e0 = max_rel(nk_tensor_data(a0), nk_tensor_data(b0),
                            (size_t)nk_tensor_numel(a0));
        CHECKF(e0 <= tol, "prob differs by %g (relative), tol %g", e0, tol);
        nk_tensor *a1 = nk_plan_output(pa, 1), *b1 = nk_plan_output(pb, 1);
        CHECK(strcmp(nk_tensor_name(b1), "feat") == 0);
        static float fh[N * 16 * 3 * 3];
        REQUIRE(nk_tensor_numel(a1) == N * 16 * 9);
        if (nchw_io || g_nhwc) {
            memcpy(fh, nk_tensor_data(a1), sizeof fh);
        } else {
            CHECK(nk_tensor_dim(b1, 3) == 16); /* NHWC at the boundary */
            to_nhwc(nk_tensor_data(a1), fh, N, 16, 3, 3);
        }
        double e1 = max_rel(fh, nk_tensor_data(b1), sizeof fh / 4);
        CHECKF(e1 <= tol, "feat differs by %g (relative), tol %g", e1, tol);
    }
    nk_plan_free(pa);
    nk_plan_free(pb);
    if (back_out)
        *back_out = back;
    else
        nk_graph_free(back);
}

static void test_roundtrip_mixed(void)
{
    nk_ctx *ctx = ctx_new();
    nk_graph *g = mixed_graph(ctx, 0), *back = NULL;
    roundtrip_check(ctx, g, false, NULL, 2e-6, &back);
    REQUIRE(back);
    /* labels, preprocessing and metadata survive */
    CHECK(nk_graph_num_labels(back) == 10);
    CHECK(nk_graph_label(back, 7) && strcmp(nk_graph_label(back, 7), "seven") == 0);
    nk_preproc p = nk_graph_preproc(back);
    CHECK(p.valid && p.resize == 11 && p.crop_h == 9 && p.crop_w == 9);
    CHECK(p.resize_mode == NK_RESIZE_NEAREST && p.bgr == 1 && p.channels == 3);
    CHECK(p.nhwc == 1); /* the written input is NHWC */
    CHECK(p.mean[3] == 0.4f && p.std[2] == 0.7f && p.scale == 1.0f / 255);
    CHECK(nk_graph_meta_get(back, "source") &&
          strcmp(nk_graph_meta_get(back, "source"), "test-tflite") == 0);
    /* int8 tensors keep data and quantization parameters */
    int qa = nk_graph_find_tensor(back, "q.per_channel");
    int qb = nk_graph_find_tensor(back, "q.per_tensor");
    REQUIRE(qa >= 0 && qb >= 0);
    const nk_tensor *ta = back->tensors[qa], *tb = back->tensors[qb];
    CHECK(ta->dtype == NK_I8 && ta->shape.rank == 2 && ta->shape.d[1] == 4);
    REQUIRE(ta->quant && ta->quant->n == 3 && ta->quant->axis == 0);
    CHECK(ta->quant->scale[2] == 0.3f && ta->quant->zero_point[1] == 1 &&
          ta->quant->zero_point[2] == -1);
    CHECK(((const int8_t *)ta->data)[11] == 11 * 11 - 60);
    REQUIRE(tb->quant && tb->quant->n == 1 && tb->quant->axis == -1);
    CHECK(tb->quant->scale[0] == 0.05f && tb->quant->zero_point[0] == 3);
    CHECK(((const int8_t *)tb->data)[4] == -12);
    /* and the read-back graph writes and reads again identically */
    roundtrip_check(ctx, back, true, NULL, 0.0, NULL);
    nk_graph_free(back);
    nk_graph_free(g);
    nk_ctx_free(ctx);
}

static void test_roundtrip_options(void)
{
    nk_ctx *ctx = ctx_new();
    nk_graph *g = mixed_graph(ctx, 0);
    nk_save_opts keep = {.keep_nchw_io = 1};
    roundtrip_check(ctx, g, false, &keep, 2e-6, NULL);
    nk_save_opts fp16 = {.fp16_weights = 1};
    /* float16 weights: about 2^-11 relative per weight */
    roundtrip_check(ctx, g, false, &fp16, 2e-2, NULL);
    /* fp16 halves the weights' bytes */
    uint8_t *a, *b;
    size_t la, lb;
    REQUIRE_OK(ctx, nk_tflite_write_mem(ctx, g, NULL, "a", &a, &la));
    REQUIRE_OK(ctx, nk_tflite_write_mem(ctx, g, &fp16, "b", &b, &lb));
    CHECK(lb < la);
    nk_free(a);
    nk_free(b);
    nk_graph_free(g);
    nk_ctx_free(ctx);
}

static bool file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static void test_save_load_files(void)
{
    nk_ctx *ctx = ctx_new();
    const char *dir = nk_test_tmpdir("tflite-files");
    char path[1024], tmp[1100];
    snprintf(path, sizeof path, "%s/mixed.tflite", dir);
    nk_graph *g = mixed_graph(ctx, 0), *back = NULL;
    REQUIRE_OK(ctx, nk_model_save(ctx, g, path, NK_FORMAT_AUTO));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(!file_exists(tmp));
    /* found by content, whatever the extension says */
    char other[1100];
    snprintf(other, sizeof other, "%s/renamed.nnk", dir);
    CHECK(rename(path, other) == 0);
    REQUIRE_OK(ctx, nk_model_load(ctx, other, &back));
    CHECK(nk_graph_num_outputs(back) == 2);
    nk_graph_free(back);
    /* options a format does not take are refused */
    snprintf(other, sizeof other, "%s/opts.nnk", dir);
    nk_save_opts fp16 = {.fp16_weights = 1};
    CHECK(nk_model_save_opts(ctx, g, other, NK_FORMAT_AUTO, &fp16) ==
          NK_INVALID_ARG);
    CHECK(!file_exists(other));
    nk_graph_free(g);

    /* an unsupported op fails before any file exists, naming op and node */
    g = mixed_graph(ctx, 1);
    snprintf(path, sizeof path, "%s/grouped.tflite", dir);
    nk_status st = nk_model_save(ctx, g, path, NK_FORMAT_AUTO);
    CHECK(st == NK_UNSUPPORTED);
    CHECK(strstr(nk_errmsg(ctx), "'c1'") != NULL);
    CHECK(strstr(nk_errmsg(ctx), "Conv") != NULL);
    CHECK(!file_exists(path));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(!file_exists(tmp));
    nk_graph_free(g);
    nk_ctx_free(ctx);
}

/* ---- hostile files --------------------------------------------------------- */

static uint8_t *valid_model(nk_ctx *ctx, size_t *len)
{
    nk_graph *g = mixed_graph(ctx, 0);
    uint8_t *buf = NULL;
    if (nk_tflite_write_mem(ctx, g, NULL, "valid", &buf, len) != NK_OK)
        abort();
    nk_graph_free(g);
    return buf;
}

/* Read; on success also infer and validate as nk_model_load does. */
static nk_status try_read(nk_ctx *ctx, const uint8_t *p, size_t n)
{
    nk_graph *g = NULL;
    nk_status st = nk_tflite_read_mem(ctx, "bad.tflite", p, n, &g);
    if (!st) {
        st = nk_graph_infer(ctx, g);
        if (!st)
            st = nk_graph_validate(ctx, g);
    }
    nk_graph_free(g);
    return st;
}

static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* Absolute position of field id of the table at pos (0 = absent). */
static size_t field_pos(const uint8_t *b, size_t pos, int id)
{
    int32_t so;
    memcpy(&so, b + pos, 4);
    size_t vt = pos - (size_t)so;
    if (4 + 2 * (unsigned)id >= rd16(b + vt))
        return 0;
    unsigned off = rd16(b + vt + 4 + 2 * id);
    return off ? pos + off : 0;
}

static size_t deref(const uint8_t *b, size_t at) { return at + rd32(b + at); }

static void test_bad_files(void)
{
    nk_ctx *ctx = ctx_new();
    size_t n;
    uint8_t *good = valid_model(ctx, &n);
    uint8_t *b = nk_malloc(n);
    REQUIRE(b && try_read(ctx, good, n) == NK_OK);

    /* truncated anywhere: an error, never a crash */
    int truncated_ok = 0;
    for (size_t len = 0; len < n; len += len < 64 ? 1 : 97) {
        nk_status st = try_read(ctx, good, len);
        if (st == NK_OK)
            truncated_ok++;
        else
            CHECK(nk_errmsg(ctx)[0] != 0);
    }
    CHECK(truncated_ok == 0);
    CHECK(try_read(ctx, good, 7) == NK_FORMAT);
    CHECK(strstr(nk_errmsg(ctx), "too short") != NULL);

    /* root offset out of range */
    memcpy(b, good, n);
    uint32_t big = (uint32_t)n + 100;
    memcpy(b, &big, 4);
    CHECK(try_read(ctx, b, n) == NK_FORMAT);
    CHECK(strstr(nk_errmsg(ctx), "outside the file") != NULL);

    /* wrong identifier */
    memcpy(b, good, n);
    memcpy(b + 4, "TFL2", 4);
    CHECK(try_read(ctx, b, n) == NK_FORMAT);
    CHECK(strstr(nk_errmsg(ctx), "TFL2") != NULL);

    size_t root = rd32(good);
    size_t subgraphs = deref(good, field_pos(good, root, TFL_MODEL_SUBGRAPHS));
    size_t sg = deref(good, subgraphs + 4);
    size_t ops = deref(good, field_pos(good, sg, TFL_SG_OPERATORS));
    size_t op0 = deref(good, ops + 4);
    size_t buffers = deref(good, field_pos(good, root, TFL_MODEL_BUFFERS));

    /* a vector longer than the file */
    memcpy(b, good, n);
    uint32_t huge = 0x3FFFFFF0u;
    memcpy(b + buffers, &huge, 4);
    CHECK(try_read(ctx, b, n) == NK_FORMAT);
    CHECK(strstr(nk_errmsg(ctx), "runs past the end") != NULL);

    /* an unknown union type in an operator's builtin options */
    size_t ot = field_pos(good, op0, TFL_OP_OPTIONS_TYPE);
    REQUIRE(ot);
    memcpy(b, good, n);
    b[ot] = 200;
    CHECK(try_read(ctx, b, n) == NK_FORMAT);
    CHECK(strstr(nk_errmsg(ctx), "unknown builtin_options union type 200") !=
          NULL);
    /* a known union type that does not belong to the op */
    memcpy(b, good, n);
    b[ot] = TFL_OPT_SOFTMAX;
    CHECK(try_read(ctx, b, n) == NK_FORMAT);

    /* an operator input index out of range */
    size_t ins = deref(good, field_pos(good, op0, TFL_OP_INPUTS));
    memcpy(b, good, n);
    int32_t bad_index = 9999;
    memcpy(b + ins + 4, &bad_index, 4);
    CHECK(try_read(ctx, b, n) == NK_FORMAT);
    CHECK(strstr(nk_errmsg(ctx), "9999") != NULL);

    /* a buffer whose size disagrees with its tensor's shape */
    bool patched = false;
    for (uint32_t i = 1; i < rd32(good + buffers) && !patched; i++) {
        size_t bt = deref(good, buffers + 4 + 4 * i);
        size_t df = field_pos(good, bt, TFL_BUF_DATA);
        if (!df)
            continue;
        size_t dv = deref(good, df);
        if (rd32(good + dv) < 64)
            continue;
        memcpy(b, good, n);
        uint32_t shorter = rd32(good + dv) - 4;
        memcpy(b + dv, &shorter, 4);
        patched = true;
        CHECK(try_read(ctx, b, n) == NK_FORMAT);
        CHECK(strstr(nk_errmsg(ctx), "bytes, its buffer") != NULL);
    }
    CHECK(patched);

    /* a vtable pointing outside the file */
    memcpy(b, good, n);
    int32_t far = -(int32_t)n * 4;
    memcpy(b + op0, &far, 4);
    CHECK(try_read(ctx, b, n) == NK_FORMAT);
    CHECK(strstr(nk_errmsg(ctx), "vtable") != NULL);

    /* seeded mutation fuzz: 1..8 random bytes changed per round */
    uint64_t s = 12345;
    int rejected = 0, rounds = 1500;
    for (int r = 0; r < rounds; r++) {
        memcpy(b, good, n);
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        int k = 1 + (int)((s >> 33) % 8);
        for (int j = 0; j < k; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            /* bias towards the structure (the front), not the weights */
            size_t at = (size_t)(s >> 33) % (r % 2 ? n : (n < 4096 ? n : 4096));
            b[at] = (uint8_t)(s >> 20);
        }
        if (try_read(ctx, b, n) != NK_OK)
            rejected++;
    }
    printf("fuzz: %d of %d mutated files rejected, none crashed\n", rejected,
           rounds);
    CHECK(rejected > rounds / 10);
    nk_free(b);
    nk_free(good);
    nk_ctx_free(ctx);
}

/* A foreign-looking file: bid only on the identifier at offset 4. */
static void test_bid(void)
{
    uint8_t head[16] = {0x1c, 0, 0, 0, 'T', 'F', 'L', '3'};
    CHECK(nk_tflite_bid(head, 16, "x.bin") > 0);
    head[7] = '2';
    CHECK(nk_tflite_bid(head, 16, "x.tflite") == 0);
    CHECK(nk_tflite_bid(head, 6, "x.tflite") == 0);
}

NK_TESTS(T(test_flatbuffer_roundtrip), T(test_roundtrip_mixed),
         T(test_roundtrip_options), T(test_save_load_files),
         T(test_bad_files), T(test_bid))
