/*
 * test-fastkernels.c — every fast kernel against its reference: the GEMM
 * micro-kernels (all flags and epilogues) against a double-precision loop,
 * every non-reference Conv / pool row of the kernel table that this CPU
 * (capped by NNKIT_ISA) can run against the reference kernel on random
 * shapes (odd sizes, paddings, strides, dilations, groups, activations,
 * residual, 1-3 threads), and the planner's Conv+Add(+Relu) fusion.
 * Bounds: 1e-5 relative for direct/GEMM kernels, WINOGRAD_BOUND (see
 * docs/performance.md) for Winograd F(4x4,3x3).
 */
#include "engine/kernels/conv-fast.h"
#include "engine/kernels/gemm-fast.h"
#include "engine/kernels/kernels-impl.h"
#include "engine/op.h"
#include "engine/plan.h"
#include "harness.h"
#define NK_TEST_SEED 0x2545f4914f6cdd1dull
#include "kernel-rand.h"
#include "kernel-check.h"

#include <math.h>
#include <string.h>

/* Relative error bound of Winograd F(4x4,3x3) in f32, as max|y - ref| /
 * max(1, max|ref|) for inputs and weights in [-1, 1] and up to 200 input
 * channels (measured worst case over these tests ~1e-6 .. 3e-6). */
#define WINOGRAD_BOUND 5e-5
#define DIRECT_BOUND 1e-5

static double worst_winograd = 0.0;
static int tested_rows[64];

/* ---- micro-kernels ------------------------------------------------------ */

static void check_ukr(const nk_ukr *u)
{
    int mr = u->mr, nr = u->nr;
    for (int iter = 0; iter < 60; iter++) {
        int kc = rnd_int(1, 300), flags = rnd_int(0, 3);
        int ldc = nr + rnd_int(0, 5), ldr = nr + rnd_int(0, 3);
        float *a = nk_malloc_aligned((size_t)kc * mr * 4, 64);
        float *b = nk_malloc_aligned((size_t)kc * nr * 4, 64);
        float *c = malloc((size_t)mr * ldc * 4), *want = malloc((size_t)mr * ldc * 4);
        float *bias = malloc((size_t)mr * 4), *res = malloc((size_t)mr * ldr * 4);
        REQUIRE(a && b && c && want && bias && res);
        fill(a, (size_t)kc * mr);
        fill(b, (size_t)kc * nr);
        fill(c, (size_t)mr * ldc);
        fill(bias, (size_t)mr);
        fill(res, (size_t)mr * ldr);
        memcpy(want, c, (size_t)mr * ldc * 4);
        nk_epilogue e = {iter % 2 ? bias : NULL, iter % 3 ? res : NULL,
                         (size_t)ldr, iter % 4 == 0 ? 0.0f : -INFINITY,
                         iter % 4 == 0 ? 0.75f : INFINITY};
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < nr; j++) {
                double acc = flags & NK_UKR_FIRST ? 0.0 : want[i * ldc + j];
                for (int p = 0; p < kc; p++)
                    acc += (double)a[p * mr + i] * b[p * nr + j];
                if (flags & NK_UKR_LAST) {
                    if (e.bias)
                        acc += e.bias[i];
                    if (e.res)
                        acc += e.res[i * ldr + j];
                    acc = acc < e.lo ? e.lo : acc;
                    acc = acc > e.hi ? e.hi : acc;
                }
                want[i * ldc + j] = (float)acc;
            }
        u->fn(kc, a, b, c, (size_t)ldc, flags, &e);
        double err = rel_err(c, want, (size_t)mr * ldc);
        CHECKF(err < DIRECT_BOUND, "%s kc=%d flags=%d: rel err %g", u->name,
               kc, flags, err);
        nk_free_aligned(a);
        nk_free_aligned(b);
        free(c);
        free(want);
        free(bias);
        free(res);
    }
}

static void test_microkernels(void)
{
    nk_cpu cpu = nk_cpu_detect();
    check_ukr(&nk_ukr_generic_4x8);
#if defined(__x86_64__)
    if (cpu.avx2 && cpu.fma)
        check_ukr(&nk_ukr_avx2_6x16);
    else
        printf("# no AVX2+FMA here (or NNKIT_ISA caps it): skipped 6x16\n");
    if (cpu.avx512f)
        check_ukr(&nk_ukr_avx512_12x32);
    else
        printf("# no AVX-512 here (or NNKIT_ISA caps it): skipped 12x32\n");
#endif
    (void)cpu;
}

/* ---- Conv rows vs the reference ----------------------------------------- */

typedef struct conv_cfg {
    int n, c, h, w, m, k, s, d, pt, pl, pb, pr, group, bias, residual;
    nk_act act;
} conv_cfg;

static nk_tensor make_t(const char *name, int rank, const int64_t *d,
                        float *data, bool init)
{
    nk_tensor t;
    memset(&t, 0, sizeof t);
    t.name = name;
    t.dtype = NK_F32;
    t.shape = nk_shape_make(rank, d);
    t.data = data;
    t.is_init = init;
    t.nbytes = nk_tensor_bytes_for(NK_F32, &t.shape);
    return t;
}

static bool isa_ok(nk_isa isa, const nk_cpu *cpu)
{
    switch (isa) {
    case NK_ISA_GENERIC: return true;
    case NK_ISA_AVX2: return cpu->avx2 && cpu->fma;
    case NK_ISA_AVX512: return cpu->avx512f;
    default: return false;
    }
}

/* Runs every available fast Conv row that supports cfg. */
static void run_conv(nk_ctx *ctx, const conv_cfg *c)
{
    nk_cpu cpu = nk_cpu_detect();
    int64_t xd[4] = {c->n, c->c, c->h, c->w};
    int64_t wd[4] = {c->m, c->c / c->group, c->k, c->k};
    int64_t bd[1] = {c->m};
    int64_t ks[2] = {c->k, c->k}, ss[2] = {c->s, c->s};
    int64_t ds[2] = {c->d, c->d}, ps[4] = {c->pt, c->pl, c->pb, c->pr};
    nk_attr attrs[5];
    memset(attrs, 0, sizeof attrs);
    attrs[0] = (nk_attr){.name = "kernel_shape", .type = NK_ATTR_INTS, .n = 2, .ints = ks};
    attrs[1] = (nk_attr){.name = "strides", .type = NK_ATTR_INTS, .n = 2, .ints = ss};
    attrs[2] = (nk_attr){.name = "dilations", .type = NK_ATTR_INTS, .n = 2, .ints = ds};
    attrs[3] = (nk_attr){.name = "pads", .type = NK_ATTR_INTS, .n = 4, .ints = ps};
    attrs[4] = (nk_attr){.name = "group", .type = NK_ATTR_INT, .i = c->group};
    nk_node node;
    memset(&node, 0, sizeof node);
    node.name = "conv";
    node.op = NK_OP_CONV;
    node.n_attr = 5;
    node.attr = attrs;
    float a0 = c->act == NK_ACT_CLIP ? -0.5f : 0.1f, a1 = 0.5f;

    size_t xn = (size_t)c->n * c->c * c->h * c->w;
    size_t wn = (size_t)c->m * (c->c / c->group) * c->k * c->k;
    float *x = malloc(xn * 4), *w = malloc(wn * 4), *b = malloc(c->m * 4);
    REQUIRE(x && w && b);
    fill(x, xn);
    fill(w, wn);
    fill(b, c->m);
    nk_tensor tx = make_t("x", 4, xd, x, false), tw = make_t("w", 4, wd, w, true);
    nk_tensor tb = make_t("b", 1, bd, b, true), ty, tr;
    nk_tensor *ins[3] = {&tx, &tw, c->bias ? &tb : NULL};
    nk_tensor *outs[1] = {&ty};
    memset(&ty, 0, sizeof ty);
    ty.name = "y";
    if (nk_infer_conv(ctx, &node, ins, 3, outs, 1) != NK_OK) {
        free(x); free(w); free(b);
        return;
    }
    size_t yn = (size_t)nk_shape_numel(&ty.shape);
    float *y_ref = malloc(yn * 4 + 4), *y = malloc(yn * 4 + 4);
    float *res = malloc(yn * 4 + 4);
    REQUIRE(y_ref && y && res);
    fill(res, yn);
    tr = ty;
    tr.name = "residual";
    tr.data = res;

    /* Reference: conv (no activation), + residual, then the activation. */
    nk_step st;
    memset(&st, 0, sizeof st);
    st.node = &node;
    st.n_in = 3;
    st.n_out = 1;
    st.in = ins;
    st.out = outs;
    ty.data = y_ref;
    REQUIRE_OK(ctx, nk_conv_prepare(ctx, &st));
    nk_conv2d_nchw_ref(&st, 0, 1);
    nk_kernel_release_params(&st);
    for (size_t i = 0; i < yn; i++)
        y_ref[i] += c->residual ? res[i] : 0.0f;
    double scale = 0.0;
    for (size_t i = 0; i < yn; i++)
        scale = fabs(y_ref[i]) > scale ? fabs(y_ref[i]) : scale;
    nk_act_apply(c->act, a0, a1, y_ref, yn);

    for (int r = 0; r < NK_KERNEL_COUNT; r++) {
        const nk_kernel *k = &NK_KERNELS[r];
        /* NCHW8c rows have their own tests (test-convblk, test-blkops,
         * test-winoblk): these tensors are NCHW. */
        if (k->op != NK_OP_CONV || k->isa == NK_ISA_REF ||
            !isa_ok(k->isa, &cpu) || k->layout != NK_LAYOUT_DEFAULT)
            continue;
        if (c->residual && !k->residual)
            continue;
        int nth = rnd_int(1, 3);
        memset(&st, 0, sizeof st);
        st.node = &node;
        st.n_in = 3;
        st.n_out = 1;
        st.in = ins;
        st.out = outs;
        st.nth = nth;
        st.kernel = k;
        st.act = c->act;
        st.act_a0 = a0;
        st.act_a1 = a1;
        st.residual = c->residual ? &tr : NULL;
        /* Kernels that do not read st->act (im2col, depthwise generic)
         * take the activation from the node. */
        node.act = c->act;
        node.act_a0 = a0;
        node.act_a1 = a1;
        if (k->supports && !k->supports(&st))
            continue;
        if (c->residual && !k->residual)
            continue;
        memset(y, 0xff, yn * 4); /* NaN: every output must be written */
        ty.data = y;
        REQUIRE_OK(ctx, k->prepare(ctx, &st));
        st.work = st.work_bytes ? nk_malloc_aligned(st.work_bytes, 64) : NULL;
        REQUIRE(st.work || !st.work_bytes);
        for (int ith = 0; ith < nth; ith++)
            k->run(&st, ith, nth);
        double e = rel_err_s(y, y_ref, yn, scale);
        bool wino = strstr(k->name, "winograd") != NULL;
        if (wino && e > worst_winograd)
            worst_winograd = e;
        CHECKF(e < (wino ? WINOGRAD_BOUND : DIRECT_BOUND),
               "%s: x[%d,%d,%d,%d] m=%d k=%d s=%d d=%d p[%d,%d,%d,%d] g=%d "
               "bias=%d res=%d act=%s nth=%d: rel err %g", k->name, c->n,
               c->c, c->h, c->w, c->m, c->k, c->s, c->d, c->pt, c->pl, c->pb,
               c->pr, c->group, c->bias, c->residual, nk_act_name(c->act),
               nth, e);
        nk_free_aligned(st.work);
        if (k->release)
            k->release(&st);
        tested_rows[r]++;
    }
    node.act = NK_ACT_NONE;
    free(y_ref);
    free(y);
    free(res);
    free(x);
    free(w);
    free(b);
}

static const nk_act ACTS[] = {NK_ACT_NONE, NK_ACT_RELU, NK_ACT_CLIP,
                              NK_ACT_HARDSWISH, NK_ACT_SIGMOID};

static void test_conv_random(void)
{
    nk_ctx *ctx;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    for (int iter = 0; iter < 400; iter++) {
        conv_cfg c;
        memset(&c, 0, sizeof c);
        int kind = iter % 5; /* dense 3x3 s1, dense any, grouped, depthwise, 1x1 */
        c.group = kind == 2 ? rnd_int(2, 4) : (kind == 3 ? 0 : 1);
        if (kind == 3) {
            c.c = c.m = c.group = rnd_int(1, 24);
        } else {
            c.c = c.group * rnd_int(1, kind == 0 ? 40 : 12);
            c.m = c.group * rnd_int(1, kind == 0 ? 40 : 20);
        }
        c.n = rnd_int(1, 2);
        c.k = kind == 4 ? 1 : (kind == 0 ? 3 : rnd_int(1, 5));
        if (kind == 3)
            c.k = rnd_int(0, 2) ? 3 : 5;
        c.s = kind == 0 ? 1 : rnd_int(1, 3);
        c.d = kind == 0 || kind == 3 ? (rnd_int(0, 4) ? 1 : 2) : rnd_int(1, 2);
        if (kind == 3 && c.s == 3)
            c.s = 2;
        int pad = kind == 4 ? rnd_int(0, 3) / 3 : rnd_int(0, 2);
        c.pt = pad ? rnd_int(0, 2) : 0;
        c.pl = pad ? rnd_int(0, 2) : 0;
        c.pb = pad ? rnd_int(0, 2) : 0;
        c.pr = pad ? rnd_int(0, 2) : 0;
        int ek = (c.k - 1) * c.d + 1;
        c.h = ek + rnd_int(0, kind == 0 ? 30 : 20);
        c.w = ek + rnd_int(0, kind == 0 ? 30 : 20);
        c.bias = rnd_int(0, 3) != 0;
        c.residual = rnd_int(0, 2) == 0;
        c.act = ACTS[rnd_int(0, 4)];
        run_conv(ctx, &c);
    }
    /* 1x1 convs on 1x1 maps (squeeze-excite), for the row-dot kernel. */
    for (int iter = 0; iter < 40; iter++) {
        conv_cfg c = {rnd_int(1, 9), rnd_int(1, 300), 1, 1, rnd_int(1, 70),
                      1, 1, 1, 0, 0, 0, 0, 1, rnd_int(0, 1), rnd_int(0, 1),
                      ACTS[rnd_int(0, 4)]};
        run_conv(ctx, &c);
    }
    /* A few big ones: many channels (Winograd depth, K blocks > 256). */
    for (int iter = 0; iter < 6; iter++) {
        conv_cfg c = {1, rnd_int(150, 300), 17 + iter, 14 + 2 * iter,
                      rnd_int(20, 70), iter % 2 ? 3 : 1, 1, 1, 1, 1, 1, 1,
                      1, 1, iter % 2, NK_ACT_RELU};
        if (c.k == 1)
            c.pt = c.pl = c.pb = c.pr = 0;
        run_conv(ctx, &c);
    }
    /* 7x7-ish maps (4 tiles) with many channels: Winograd's few-tiles
     * path (the transposed GEMM) at ResNet's layer4 depths. */
    for (int iter = 0; iter < 4; iter++) {
        conv_cfg c = {1, rnd_int(150, 300), 7 + iter % 2, 7,
                      rnd_int(20, 70), 3, 1, 1, 1, 1, 1, 1,
                      1, 1, iter % 2, NK_ACT_RELU};
        run_conv(ctx, &c);
    }
    nk_cpu cpu = nk_cpu_detect();
    for (int r = 0; r < NK_KERNEL_COUNT; r++) {
        const nk_kernel *k = &NK_KERNELS[r];
        if (k->op != NK_OP_CONV || k->isa == NK_ISA_REF ||
            k->layout != NK_LAYOUT_DEFAULT)
            continue;
        if (isa_ok(k->isa, &cpu)) {
            CHECKF(tested_rows[r] >= 10, "%s was exercised only %d times",
                   k->name, tested_rows[r]);
            printf("# %-26s %4d random shapes\n", k->name, tested_rows[r]);
        } else {
            printf("# %-26s skipped: the CPU (or NNKIT_ISA) lacks its ISA\n",
                   k->name);
        }
    }
    printf("# Winograd worst relative error %.3g (bound %.0e)\n",
           worst_winograd, WINOGRAD_BOUND);
    nk_ctx_free(ctx);
}

/* ---- Gemm rows vs the reference --------------------------------------- */

static void test_gemm_random(void)
{
    nk_ctx *ctx;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    nk_cpu cpu = nk_cpu_detect();
    int tested = 0;
    for (int iter = 0; iter < 80; iter++) {
        int64_t m = rnd_int(1, 10), k = rnd_int(1, 700), n = rnd_int(1, 90);
        int tb = rnd_int(0, 1), cshape = rnd_int(0, 2);
        nk_attr attrs[3] = {
            {.name = "transB", .type = NK_ATTR_INT, .i = tb},
            {.name = "alpha", .type = NK_ATTR_FLOAT, .f = iter % 3 ? 1.0f : 0.5f},
            {.name = "beta", .type = NK_ATTR_FLOAT, .f = iter % 4 ? 1.0f : 2.0f}};
        nk_node node = {.name = "fc", .op = NK_OP_GEMM, .n_attr = 3, .attr = attrs,
                        .act = iter % 2 ? NK_ACT_RELU : NK_ACT_NONE};
        int64_t ad[2] = {m, k}, bd[2] = {tb ? n : k, tb ? k : n};
        int64_t cd1[1] = {n}, cd2[2] = {1, n};
        float *a = malloc(m * k * 4), *b = malloc(k * n * 4), *c = malloc(n * 4);
        float *y1 = malloc(m * n * 4), *y2 = malloc(m * n * 4);
        REQUIRE(a && b && c && y1 && y2);
        fill(a, m * k);
        fill(b, k * n);
        fill(c, n);
        nk_tensor ta = make_t("a", 2, ad, a, false), tbt = make_t("b", 2, bd, b, true);
        nk_tensor tc = cshape == 1 ? make_t("c", 1, cd1, c, true)
                                   : make_t("c", 2, cd2, c, true);
        int64_t yd[2] = {m, n};
        nk_tensor t1 = make_t("y", 2, yd, y1, false), t2 = t1;
        t2.data = y2;
        nk_tensor *ins[3] = {&ta, &tbt, cshape ? &tc : NULL};
        nk_tensor *o1[1] = {&t1}, *o2[1] = {&t2};
        nk_step st = {.node = &node, .n_in = 3, .n_out = 1, .in = ins, .out = o1};
        REQUIRE_OK(ctx, nk_gemm_prepare(ctx, &st));
        nk_gemm_ref(&st, 0, 1);
        nk_kernel_release_params(&st);
        for (int r = 0; r < NK_KERNEL_COUNT; r++) {
            const nk_kernel *kr = &NK_KERNELS[r];
            if (kr->op != NK_OP_GEMM || kr->isa == NK_ISA_REF || !isa_ok(kr->isa, &cpu))
                continue;
            int nth = rnd_int(1, 3);
            nk_step fs = {.node = &node, .n_in = 3, .n_out = 1, .in = ins, .out = o2,
                          .nth = nth, .kernel = kr, .act = node.act};
            if (kr->supports && !kr->supports(&fs))
                continue;
            memset(y2, 0xff, m * n * 4);
            REQUIRE_OK(ctx, kr->prepare(ctx, &fs));
            fs.work = fs.work_bytes ? nk_malloc_aligned(fs.work_bytes, 64) : NULL;
            for (int ith = 0; ith < nth; ith++)
                kr->run(&fs, ith, nth);
            double e = rel_err(y2, y1, m * n);
            CHECKF(e < DIRECT_BOUND, "%s m=%lld k=%lld n=%lld transB=%d: rel err %g",
                   kr->name, (long long)m, (long long)k, (long long)n, tb, e);
            nk_free_aligned(fs.work);
            kr->release(&fs);
            tested++;
        }
        free(a); free(b); free(c); free(y1); free(y2);
    }
    printf("# %d Gemm kernel runs checked\n", tested);
    CHECK(tested >= 80);
    nk_ctx_free(ctx);
}

/* ---- element-wise and softmax rows vs the reference ------------------- */

static void test_eltwise_random(void)
{
    nk_ctx *ctx;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    nk_cpu cpu = nk_cpu_detect();
    static const nk_op OPS[4] = {NK_OP_ADD, NK_OP_SUB, NK_OP_MUL, NK_OP_DIV};
    int tested = 0;
    for (int iter = 0; iter < 200; iter++) {
        int64_t n = rnd_int(1, 3), c = rnd_int(1, 20), h = rnd_int(1, 13), w = rnd_int(1, 13);
        int64_t ad[4] = {n, c, h, w}, bd[4] = {n, c, h, w};
        int mode = iter % 5, brank = 4, swap = rnd_int(0, 1);
        if (mode == 1) { brank = 1; bd[0] = 1; }                  /* scalar */
        if (mode == 2) { bd[2] = bd[3] = 1; }                     /* per (n, c) */
        if (mode == 3) { bd[0] = 1; bd[2] = bd[3] = 1; }          /* per c */
        if (mode == 4) { bd[3] = 1; }                             /* not fast */
        size_t an = n * c * h * w, bn = 1;
        for (int i = 0; i < brank; i++)
            bn *= bd[i];
        float *a = malloc(an * 4), *b = malloc(bn * 4), *y1 = malloc(an * 4), *y2 = malloc(an * 4);
        REQUIRE(a && b && y1 && y2);
        fill(a, an);
        fill(b, bn);
        for (size_t i = 0; i < bn; i++)
            b[i] += b[i] < 0 ? -0.5f : 0.5f; /* keep Div away from 0 */
        nk_tensor ta = make_t("a", 4, ad, a, false), tb = make_t("b", brank, bd, b, false);
        nk_tensor t1 = make_t("y", 4, ad, y1, false), t2 = t1;
        t2.data = y2;
        nk_tensor *ins[2] = {swap ? &tb : &ta, swap ? &ta : &tb};
        nk_tensor *o1[1] = {&t1}, *o2[1] = {&t2};
        nk_node node = {.name = "bin", .op = OPS[iter % 4],
                        .act = iter % 3 == 0 ? NK_ACT_RELU : NK_ACT_NONE};
        nk_step st = {.node = &node, .n_in = 2, .n_out = 1, .in = ins, .out = o1};
        REQUIRE_OK(ctx, nk_binary_prepare(ctx, &st));
        nk_binary_ref(&st, 0, 1);
        nk_kernel_release_params(&st);
        for (int r = 0; r < NK_KERNEL_COUNT; r++) {
            const nk_kernel *k = &NK_KERNELS[r];
            if (k->op != node.op || k->isa == NK_ISA_REF ||
                !isa_ok(k->isa, &cpu) || k->layout != NK_LAYOUT_DEFAULT)
                continue;
            int nth = rnd_int(1, 3);
            nk_step fs = {.node = &node, .n_in = 2, .n_out = 1, .in = ins, .out = o2,
                          .nth = nth, .kernel = k, .act = node.act};
            bool sup = !k->supports || k->supports(&fs);
            CHECKF(sup == (mode != 4 || w == 1 || h == 1), "%s: mode %d supported=%d", k->name, mode, sup);
            if (!sup)
                continue;
            memset(y2, 0xff, an * 4);
            for (int ith = 0; ith < nth; ith++)
                k->run(&fs, ith, nth);
            double e = rel_err(y2, y1, an);
            CHECKF(e < DIRECT_BOUND, "%s mode %d swap %d: rel err %g", k->name, mode, swap, e);
            tested++;
        }
        free(a); free(b); free(y1); free(y2);
    }
    /* Softmax over the last axis. */
    for (int iter = 0; iter < 60; iter++) {
        int64_t rows = rnd_int(1, 9), len = rnd_int(1, 1100);
        int64_t d[2] = {rows, len};
        float *x = malloc(rows * len * 4), *y1 = malloc(rows * len * 4), *y2 = malloc(rows * len * 4);
        REQUIRE(x && y1 && y2);
        fill(x, rows * len);
        for (int64_t i = 0; i < rows * len; i++)
            x[i] *= iter % 2 ? 30.0f : 3.0f; /* exercise large ranges */
        nk_tensor tx = make_t("x", 2, d, x, false), t1 = make_t("y", 2, d, y1, false), t2 = t1;
        t2.data = y2;
        nk_tensor *ins[1] = {&tx}, *o1[1] = {&t1}, *o2[1] = {&t2};
        nk_node node = {.name = "softmax", .op = NK_OP_SOFTMAX};
        nk_step st = {.node = &node, .n_in = 1, .n_out = 1, .in = ins, .out = o1};
        REQUIRE_OK(ctx, nk_softmax_prepare(ctx, &st));
        nk_softmax_ref(&st, 0, 1);
        nk_kernel_release_params(&st);
        for (int r = 0; r < NK_KERNEL_COUNT; r++) {
            const nk_kernel *k = &NK_KERNELS[r];
            if (k->op != NK_OP_SOFTMAX || k->isa == NK_ISA_REF || !isa_ok(k->isa, &cpu))
                continue;
            nk_step fs = {.node = &node, .n_in = 1, .n_out = 1, .in = ins, .out = o2,
                          .nth = 2, .kernel = k};
            if (k->supports && !k->supports(&fs))
                continue;
            k->run(&fs, 0, 2);
            k->run(&fs, 1, 2);
            double e = 0.0;
            for (int64_t i = 0; i < rows * len; i++) {
                double rel = fabs((double)y2[i] - y1[i]) / (fabs(y1[i]) + 1e-30);
                if (y1[i] > 1e-30f && !(rel <= e))
                    e = rel;
            }
            CHECKF(e < DIRECT_BOUND, "%s rows=%lld len=%lld: max elementwise rel err %g",
                   k->name, (long long)rows, (long long)len, e);
            tested++;
        }
        free(x); free(y1); free(y2);
    }
    printf("# %d element-wise / softmax kernel runs checked\n", tested);
    nk_ctx_free(ctx);
}

/* ---- pooling ------------------------------------------------------------ */

static void test_pool_random(void)
{
    nk_ctx *ctx;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    for (int iter = 0; iter < 200; iter++) {
        int n = rnd_int(1, 2), c = rnd_int(1, 5), k = rnd_int(1, 4);
        int s = rnd_int(1, 3), pad = rnd_int(0, k / 2);
        int h = k + rnd_int(0, 20), w = k + rnd_int(0, 20);
        int64_t xd[4] = {n, c, h, w}, ks[2] = {k, k}, ss[2] = {s, s};
        int64_t ps[4] = {pad, pad, pad, pad};
        nk_attr attrs[3] = {
            {.name = "kernel_shape", .type = NK_ATTR_INTS, .n = 2, .ints = ks},
            {.name = "strides", .type = NK_ATTR_INTS, .n = 2, .ints = ss},
            {.name = "pads", .type = NK_ATTR_INTS, .n = 4, .ints = ps}};
        nk_node node = {.name = "pool", .op = NK_OP_MAXPOOL, .n_attr = 3,
                        .attr = attrs};
        size_t xn = (size_t)n * c * h * w;
        float *x = malloc(xn * 4);
        REQUIRE(x);
        fill(x, xn);
        if (iter % 7 == 0)
            x[rnd_int(0, (int)xn - 1)] = NAN;
        nk_tensor tx = make_t("x", 4, xd, x, false);
        nk_conv_geom g;
        REQUIRE_OK(ctx, nk_conv_geom_from_node(ctx, &node, &tx.shape, NULL, &g));
        int64_t yd[4] = {n, c, g.oh, g.ow};
        size_t yn = (size_t)n * c * g.oh * g.ow;
        float *y1 = malloc(yn * 4 + 4), *y2 = malloc(yn * 4 + 4);
        REQUIRE(y1 && y2);
        nk_tensor t1 = make_t("y", 4, yd, y1, false), t2 = t1;
        t2.data = y2;
        nk_tensor *ins[1] = {&tx}, *o1[1] = {&t1}, *o2[1] = {&t2};
        nk_step st = {.node = &node, .n_in = 1, .n_out = 1, .in = ins, .out = o1};
        REQUIRE_OK(ctx, nk_pool_prepare(ctx, &st));
        nk_maxpool_ref(&st, 0, 1);
        nk_kernel_release_params(&st);
        st.out = o2;
        CHECK(nk_maxpool_fast_supports(&st));
        REQUIRE_OK(ctx, nk_maxpool_fast_prepare(ctx, &st));
        int nth = rnd_int(1, 3);
        for (int ith = 0; ith < nth; ith++)
            nk_maxpool_fast(&st, ith, nth);
        int same = 1;
        for (size_t i = 0; i < yn; i++)
            if (!(y1[i] == y2[i] || (isnan(y1[i]) && isnan(y2[i]))))
                same = 0;
        CHECKF(same, "maxpool x[%d,%d,%d,%d] k=%d s=%d p=%d differs", n, c,
               h, w, k, s, pad);
        nk_kernel_release_params(&st);
        /* global average pool on the same input */
        int64_t gd[4] = {n, c, 1, 1};
        nk_tensor g1 = make_t("g", 4, gd, y1, false), g2 = g1;
        g2.data = y2;
        nk_tensor *go1[1] = {&g1}, *go2[1] = {&g2};
        if (iter % 7 != 0) {
            nk_step gs = {.node = &node, .n_in = 1, .n_out = 1, .in = ins, .out = go1};
            nk_globalavgpool_ref(&gs, 0, 1);
            gs.out = go2;
            for (int ith = 0; ith < nth; ith++)
                nk_globalavgpool_fast(&gs, ith, nth);
            double e = rel_err(y2, y1, (size_t)n * c);
            CHECKF(e < DIRECT_BOUND, "globalavgpool rel err %g", e);
        }
        free(x);
        free(y1);
        free(y2);
    }
    nk_ctx_free(ctx);
}

/* ---- planner: Conv -> Add(residual) -> Relu fused -------------------- */

static void test_residual_fusion(void)
{
    nk_ctx *ctx;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    nk_graph *g;
    REQUIRE_OK(ctx, nk_graph_new(ctx, &g));
    nk_rng r;
    nk_rng_seed(&r, 11);
    int64_t xd[] = {2, 16, 12, 12}, wd[] = {16, 16, 3, 3}, bd[] = {16};
    nk_shape xs = nk_shape_make(4, xd), ws = nk_shape_make(4, wd),
             bs = nk_shape_make(1, bd);
    int x, w, b, h, s, y;
    REQUIRE_OK(ctx, nk_graph_add_tensor(ctx, g, "x", NK_F32, &xs, &x));
    REQUIRE_OK(ctx, nk_graph_add_init(ctx, g, "w", NK_F32, &ws, &w));
    REQUIRE_OK(ctx, nk_graph_add_init(ctx, g, "b", NK_F32, &bs, &b));
    REQUIRE_OK(ctx, nk_graph_add_tensor(ctx, g, "h", NK_F32, &xs, &h));
    REQUIRE_OK(ctx, nk_graph_add_tensor(ctx, g, "s", NK_F32, &xs, &s));
    REQUIRE_OK(ctx, nk_graph_add_tensor(ctx, g, "y", NK_F32, &xs, &y));
    float *wp = g->tensors[w]->data, *bp = g->tensors[b]->data;
    for (int i = 0; i < 16 * 16 * 9; i++)
        wp[i] = nk_rng_normal(&r) * 0.2f;
    for (int i = 0; i < 16; i++)
        bp[i] = nk_rng_normal(&r) * 0.2f;
    nk_node *n;
    int in3[] = {x, w, b}, add[] = {x, h};
    REQUIRE_OK(ctx, nk_graph_add_node(ctx, g, NK_OP_CONV, "conv", 3, in3, 1, &h, &n));
    int64_t k3[] = {3, 3}, p1[] = {1, 1, 1, 1};
    REQUIRE_OK(ctx, nk_node_set_ints(ctx, g, n, "kernel_shape", 2, k3));
    REQUIRE_OK(ctx, nk_node_set_ints(ctx, g, n, "pads", 4, p1));
    REQUIRE_OK(ctx, nk_graph_add_node(ctx, g, NK_OP_ADD, "add", 2, add, 1, &s, &n));
    REQUIRE_OK(ctx, nk_graph_add_node(ctx, g, NK_OP_RELU, "relu", 1, &s, 1, &y, &n));
    REQUIRE_OK(ctx, nk_graph_set_inputs(ctx, g, 1, &x));
    REQUIRE_OK(ctx, nk_graph_set_outputs(ctx, g, 1, &y));
    REQUIRE_OK(ctx, nk_graph_infer(ctx, g));
    REQUIRE_OK(ctx, nk_graph_optimize(ctx, g));
    float *out[2] = {NULL, NULL};
    for (int ref = 0; ref < 2; ref++) {
        nk_plan *p;
        nk_plan_opts o = {.batch = 2, .reference = ref};
        REQUIRE_OK(ctx, nk_plan_create(ctx, g, &o, &p));
        int fused = 0;
        for (int i = 0; i < nk_plan_num_steps(p); i++)
            fused += strcmp(nk_plan_kernel_name(p, i), "fused_into_conv") == 0;
        CHECKF(fused == (ref ? 0 : 1), "ref=%d: %d fused Add steps", ref, fused);
        nk_tensor *in = nk_plan_input(p, 0);
        float *d = nk_tensor_data(in);
        nk_rng_seed(&r, 5);
        for (int64_t i = 0; i < nk_tensor_numel(in); i++)
            d[i] = nk_rng_normal(&r);
        REQUIRE_OK(ctx, nk_plan_run(ctx, p));
        nk_tensor *t = nk_plan_output(p, 0);
        out[ref] = malloc(nk_tensor_nbytes(t));
        REQUIRE(out[ref]);
        memcpy(out[ref], nk_tensor_data(t), nk_tensor_nbytes(t));
        nk_plan_free(p);
    }
    double e = rel_err(out[0], out[1], 2 * 16 * 12 * 12);
    CHECKF(e < WINOGRAD_BOUND, "fused plan vs reference plan: rel err %g", e);
    free(out[0]);
    free(out[1]);
    nk_graph_free(g);
    nk_ctx_free(ctx);
}

NK_TESTS(T(test_microkernels), T(test_conv_random), T(test_gemm_random),
         T(test_eltwise_random),
         T(test_pool_random),
         T(test_residual_fusion))
