/*
 * test-convblk.c — the NCHW8c Conv kernel (conv2d_nchw8c_avx2) against the
 * reference conv2d_nchw_ref on random shapes: odd channel counts, maps
 * from 1x1 up, kernels 1/3/5/7, strides 1-3, dilations 1-2, asymmetric
 * pads, bias, residual, every activation, NCHW and NCHW8c input, 1-3
 * threads; small maps, 1x1 strided convs and batch 2 for the flat path
 * (tiles spanning rows, padded / compacted per-thread copies, channel
 * chunks). Bound: 1e-5 relative (max|y-ref| / max(1, max|ref|)).
 */
#include "engine/kernels/blocked.h"
#include "engine/kernels/conv-fast.h"
#include "engine/kernels/kernels-impl.h"
#include "engine/op.h"
#include "harness.h"
#include "kernel-rand.h"
#include "kernel-threads.h"

#include <math.h>
#include <string.h>

#define BOUND 1e-5


typedef struct conv_cfg {
    int n, c, h, w, m, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, group;
    int bias, residual, blocked_in, nth;
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

static const nk_kernel *blk_row(void)
{
    for (int r = 0; r < NK_KERNEL_COUNT; r++)
        if (strcmp(NK_KERNELS[r].name, "conv2d_nchw8c_avx2") == 0)
            return &NK_KERNELS[r];
    return NULL;
}

/* NCHW -> NCHW8c with the padding lanes set to random finite values (the
 * contract promises only "finite"). */
static float *to_blocked(const float *src, int64_t n, int64_t c, int64_t hw)
{
    int64_t cb = nk_blk_cb(c);
    float *d = nk_malloc_aligned((size_t)(n * cb * hw * NK_BLK) * 4, 64);
    if (!d)
        return NULL;
    nk_blk_pack(src, d, c, hw, 0, n * cb);
    for (int64_t i = 0; i < n * cb; i++)
        for (int64_t p = 0; p < hw; p++)
            for (int64_t l = c - (i % cb) * NK_BLK; l < NK_BLK; l++)
                d[(i * hw + p) * NK_BLK + l] = 3.0f * rnd_f();
    return d;
}

typedef struct conv_case {
    nk_attr attrs[5];
    int64_t ks[2], ss[2], ds[2], ps[4];
    nk_node node;
} conv_case;

static void make_node(conv_case *k, const conv_cfg *c)
{
    memset(k, 0, sizeof *k);
    k->ks[0] = c->kh, k->ks[1] = c->kw;
    k->ss[0] = c->sh, k->ss[1] = c->sw;
    k->ds[0] = c->dh, k->ds[1] = c->dw;
    k->ps[0] = c->pt, k->ps[1] = c->pl, k->ps[2] = c->pb, k->ps[3] = c->pr;
    k->attrs[0] = (nk_attr){.name = "kernel_shape", .type = NK_ATTR_INTS,
                            .n = 2, .ints = k->ks};
    k->attrs[1] = (nk_attr){.name = "strides", .type = NK_ATTR_INTS, .n = 2,
                            .ints = k->ss};
    k->attrs[2] = (nk_attr){.name = "dilations", .type = NK_ATTR_INTS,
                            .n = 2, .ints = k->ds};
    k->attrs[3] = (nk_attr){.name = "pads", .type = NK_ATTR_INTS, .n = 4,
                            .ints = k->ps};
    k->attrs[4] = (nk_attr){.name = "group", .type = NK_ATTR_INT,
                            .i = c->group};
    k->node.name = "conv";
    k->node.op = NK_OP_CONV;
    k->node.n_attr = 5;
    k->node.attr = k->attrs;
}

static int n_run;
static bool g_may_decline; /* skip shapes supports() declines */

static void run_case(nk_ctx *ctx, const nk_kernel *kr, const conv_cfg *c)
{
    conv_case cc;
    make_node(&cc, c);
    int64_t xd[4] = {c->n, c->c, c->h, c->w};
    int64_t wd[4] = {c->m, c->c, c->kh, c->kw}, bd[1] = {c->m};
    size_t xn = (size_t)c->n * c->c * c->h * c->w;
    size_t wn = (size_t)c->m * c->c * c->kh * c->kw;
    float *x = malloc(xn * 4), *w = malloc(wn * 4), *b = malloc(c->m * 4);
    REQUIRE(x && w && b);
    fill(x, xn);
    fill(w, wn);
    fill(b, c->m);
    nk_tensor tx = make_t("x", 4, xd, x, false), tw = make_t("w", 4, wd, w, true);
    nk_tensor tb = make_t("b", 1, bd, b, true), ty;
    nk_tensor *ins[3] = {&tx, &tw, c->bias ? &tb : NULL};
    nk_tensor *outs[1] = {&ty};
    memset(&ty, 0, sizeof ty);
    ty.name = "y";
    REQUIRE_OK(ctx, nk_infer_conv(ctx, &cc.node, ins, 3, outs, 1));
    int64_t oh = ty.shape.d[2], ow = ty.shape.d[3];
    size_t yn = (size_t)nk_shape_numel(&ty.shape);
    float *y_ref = malloc(yn * 4 + 4), *res = malloc(yn * 4 + 4);
    float *y_got = malloc(yn * 4 + 4);
    REQUIRE(y_ref && res && y_got);
    fill(res, yn);
    float a0 = c->act == NK_ACT_CLIP ? -0.5f : 0.1f, a1 = 0.5f;
    if (c->act == NK_ACT_HARDSIGMOID)
        a0 = 0.2f;

    nk_step st;
    memset(&st, 0, sizeof st);
    st.node = &cc.node;
    st.n_in = 3;
    st.n_out = 1;
    st.in = ins;
    st.out = outs;
    ty.data = y_ref;
    REQUIRE_OK(ctx, nk_conv_prepare(ctx, &st));
    nk_conv2d_nchw_ref(&st, 0, 1);
    nk_kernel_release_params(&st);
    double scale = 0.0;
    for (size_t i = 0; i < yn; i++) {
        y_ref[i] += c->residual ? res[i] : 0.0f;
        scale = fabs(y_ref[i]) > scale ? fabs(y_ref[i]) : scale;
    }
    nk_act_apply(c->act, a0, a1, y_ref, yn);

    /* The kernel: NCHW8c output (and residual), input in either layout. */
    float *xb = NULL;
    if (c->blocked_in) {
        xb = to_blocked(x, c->n, c->c, (int64_t)c->h * c->w);
        REQUIRE(xb);
        tx.data = xb;
        tx.layout = NK_LAYOUT_NCHW8C;
        tx.nbytes = nk_blk_bytes(&tx.shape);
    }
    float *rb = to_blocked(res, c->n, c->m, oh * ow);
    size_t ybytes = nk_blk_bytes(&ty.shape);
    float *yb = nk_malloc_aligned(ybytes, 64);
    REQUIRE(rb && yb);
    memset(yb, 0xff, ybytes); /* NaN: every output lane must be written */
    nk_tensor tr = ty;
    tr.name = "residual";
    tr.data = rb;
    tr.layout = NK_LAYOUT_NCHW8C;
    tr.nbytes = ybytes;
    ty.data = yb;
    ty.layout = NK_LAYOUT_NCHW8C;
    ty.nbytes = ybytes;
    memset(&st, 0, sizeof st);
    st.node = &cc.node;
    st.n_in = 3;
    st.n_out = 1;
    st.in = ins;
    st.out = outs;
    /* Planned for 3 threads, run on 2: the kernel's plan-time shares of
     * the work are for 3, and a run on another count shares it anew. */
    st.nth = c->nth == 2 ? 3 : c->nth;
    st.kernel = kr;
    st.act = c->act;
    st.act_a0 = a0;
    st.act_a1 = a1;
    st.residual = c->residual ? &tr : NULL;
    if (g_may_decline && !kr->supports(&st))
        goto done; /* Winograd's 3x3 stride-1 shapes */
    /* It declines exactly the shapes Winograd takes (3x3 stride 1, which
     * NNKIT_WINOGRAD=0 still sends here): run those anyway. */
    CHECKF(kr->supports(&st) != nk_conv_winograd_supports(&st),
           "supports() %s c=%d m=%d k=%dx%d s=%d,%d h=%d w=%d",
           kr->supports(&st) ? "also took a Winograd shape" : "declined",
           c->c, c->m, c->kh, c->kw, c->sh, c->sw, c->h, c->w);
    REQUIRE_OK(ctx, kr->prepare(ctx, &st));
    st.work = st.work_bytes ? nk_malloc_aligned(st.work_bytes, 64) : NULL;
    REQUIRE(st.work || !st.work_bytes);
    REQUIRE(krun(ctx, kr, &st, c->nth));
    int64_t mb = nk_blk_cb(c->m), bad = 0;
    for (size_t i = 0; i < ybytes / 4; i++)
        if (!isfinite(yb[i]) && (int64_t)(i % NK_BLK) +
                                        (int64_t)(i / NK_BLK / (oh * ow) % mb) *
                                            NK_BLK >= c->m)
            bad++;
    CHECKF(bad == 0, "%lld padding lanes not finite", (long long)bad);
    nk_blk_unpack(yb, y_got, c->m, oh * ow, 0, c->n * mb);
    double d = 0.0, mx = scale;
    for (size_t i = 0; i < yn; i++) {
        double e = fabs((double)y_got[i] - y_ref[i]);
        if (!(e <= d))
            d = e;
        mx = fabs(y_ref[i]) > mx ? fabs(y_ref[i]) : mx;
    }
    double err = d / (mx > 1.0 ? mx : 1.0);
    CHECKF(err < BOUND,
           "x[%d,%d,%d,%d]%s m=%d k=%dx%d s=%d,%d d=%d,%d p[%d,%d,%d,%d] "
           "bias=%d res=%d act=%s nth=%d: rel err %g", c->n, c->c, c->h,
           c->w, c->blocked_in ? "8c" : "", c->m, c->kh, c->kw, c->sh, c->sw,
           c->dh, c->dw, c->pt, c->pl, c->pb, c->pr, c->bias, c->residual,
           nk_act_name(c->act), c->nth, err);
    n_run++;
done:
    nk_free_aligned(st.work);
    kr->release(&st);
    nk_free_aligned(xb);
    nk_free_aligned(rb);
    nk_free_aligned(yb);
    free(y_ref);
    free(y_got);
    free(res);
    free(x);
    free(w);
    free(b);
}

static bool have_avx2(const nk_kernel **kr)
{
    nk_cpu cpu = nk_cpu_detect();
    *kr = blk_row();
    if (!*kr)
        return false;
    if (!(cpu.avx2 && cpu.fma)) {
        printf("# no AVX2+FMA here (or NNKIT_ISA caps it): skipped\n");
        return false;
    }
    return true;
}

static void test_convblk_random(void)
{
    const nk_kernel *kr;
    if (!have_avx2(&kr)) {
        CHECK(blk_row() != NULL);
        return;
    }
    nk_ctx *ctx;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    static const int KS[] = {1, 1, 3, 3, 5, 7};
    for (int iter = 0; iter < 500; iter++) {
        conv_cfg c;
        memset(&c, 0, sizeof c);
        c.n = rnd_int(1, 2);
        c.c = rnd_int(0, 3) ? rnd_int(1, 40) : 8 * rnd_int(1, 6);
        c.m = rnd_int(0, 3) ? rnd_int(1, 50) : 8 * rnd_int(1, 6);
        c.kh = KS[rnd_int(0, 5)];
        c.kw = rnd_int(0, 4) ? c.kh : KS[rnd_int(0, 5)];
        c.sh = rnd_int(1, 3);
        c.sw = rnd_int(0, 3) ? c.sh : rnd_int(1, 3);
        c.dh = rnd_int(0, 3) ? 1 : 2;
        c.dw = rnd_int(0, 3) ? c.dh : rnd_int(1, 2);
        int pad = rnd_int(0, 3);
        int pmax = (c.kh > c.kw ? c.kh : c.kw) / 2 + 1;
        c.pt = pad ? rnd_int(0, pmax) : 0;
        c.pl = pad ? rnd_int(0, pmax) : 0;
        c.pb = pad ? rnd_int(0, pmax) : 0;
        c.pr = pad ? rnd_int(0, pmax) : 0;
        int ekh = (c.kh - 1) * c.dh + 1, ekw = (c.kw - 1) * c.dw + 1;
        c.h = rnd_int(1, 20);
        c.w = rnd_int(1, 20);
        if (c.h + c.pt + c.pb < ekh)
            c.h = ekh - c.pt - c.pb > 1 ? ekh - c.pt - c.pb : 1;
        if (c.w + c.pl + c.pr < ekw)
            c.w = ekw - c.pl - c.pr > 1 ? ekw - c.pl - c.pr : 1;
        c.group = 1;
        c.bias = rnd_int(0, 3) != 0;
        c.residual = rnd_int(0, 1);
        c.blocked_in = rnd_int(0, 1);
        c.nth = rnd_int(1, 3);
        c.act = (nk_act)rnd_int(0, NK_ACT_COUNT - 1);
        /* Winograd's 3x3 stride-1 shapes are declined by design. */
        if (c.kh == 3 && c.kw == 3 && c.sh == 1 && c.sw == 1 && c.dh == 1 &&
            c.dw == 1)
            c.sw = 2;
        run_case(ctx, kr, &c);
    }
    /* Squeeze-excite: 1x1 convs on 1x1 maps, many channels. */
    for (int iter = 0; iter < 30; iter++) {
        conv_cfg c = {.n = rnd_int(1, 3), .c = rnd_int(1, 600), .h = 1,
                      .w = 1, .m = rnd_int(1, 160), .kh = 1, .kw = 1,
                      .sh = 1, .sw = 1, .dh = 1, .dw = 1, .group = 1,
                      .bias = rnd_int(0, 1), .residual = rnd_int(0, 1),
                      .blocked_in = rnd_int(0, 1), .nth = rnd_int(1, 3),
                      .act = (nk_act)rnd_int(0, NK_ACT_COUNT - 1)};
        run_case(ctx, kr, &c);
    }
    /* Small maps (1x1..9x9) with pads, 1x1 strided convs, batch 2: the
     * flat path (tiles spanning rows, padded or compacted copies, channel
     * chunks when C is large). */
    for (int iter = 0; iter < 150; iter++) {
        conv_cfg c;
        memset(&c, 0, sizeof c);
        c.n = rnd_int(1, 2);
        c.c = rnd_int(0, 2) ? rnd_int(1, 40) : 8 * rnd_int(8, 20);
        c.m = rnd_int(0, 2) ? rnd_int(1, 50) : 8 * rnd_int(1, 8);
        c.h = rnd_int(1, 9);
        c.w = rnd_int(0, 2) ? c.h : rnd_int(1, 9);
        if (iter % 2) {
            c.kh = c.kw = 1;
            c.sh = rnd_int(1, 3);
            c.sw = rnd_int(0, 2) ? c.sh : rnd_int(1, 3);
        } else {
            c.kh = c.kw = 3;
            c.sh = c.sw = rnd_int(1, 2);
            c.pt = rnd_int(0, 2);
            c.pl = rnd_int(0, 2);
            c.pb = rnd_int(0, 2);
            c.pr = rnd_int(0, 2);
            if (c.h + c.pt + c.pb < 3)
                c.pt = c.pb = 1;
            if (c.w + c.pl + c.pr < 3)
                c.pl = c.pr = 1;
        }
        c.dh = c.dw = 1;
        c.group = 1;
        c.bias = rnd_int(0, 3) != 0;
        c.residual = rnd_int(0, 1);
        c.blocked_in = rnd_int(0, 2) != 0;
        c.nth = rnd_int(1, 3);
        c.act = (nk_act)rnd_int(0, NK_ACT_COUNT - 1);
        g_may_decline = true;
        run_case(ctx, kr, &c);
        g_may_decline = false;
    }
    /* Larger model-like shapes: pointwise with long rows, 3x3 / 7x7 stride
     * 2 stems reading NCHW with C = 3, 3x3 on a 7x7 map (Winograd's since
     * its few-tiles path; still run here). */
    static const conv_cfg BIG[] = {
        {1, 96, 28, 28, 24, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 2, NK_ACT_NONE},
        {1, 3, 64, 64, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 2, NK_ACT_CLIP},
        {1, 3, 64, 64, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, NK_ACT_HARDSWISH},
        {1, 3, 45, 45, 64, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 1, 1, 0, 0, 3, NK_ACT_RELU},
        {1, 130, 7, 7, 70, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, NK_ACT_RELU},
        {1, 300, 14, 14, 90, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 3, NK_ACT_SIGMOID},
        {2, 64, 15, 15, 40, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1, 0, 1, 1, 2, NK_ACT_TANH},
        {1, 512, 7, 7, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, NK_ACT_RELU},
        {2, 256, 14, 14, 72, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 3, NK_ACT_RELU},
        {1, 3, 40, 40, 64, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 1, 1, 0, 0, 2, NK_ACT_RELU},
        {2, 128, 9, 9, 30, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, NK_ACT_SIGMOID},
        /* Several segments per thread: padded / compacted rows copied
         * per thread. */
        {1, 64, 30, 30, 256, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, NK_ACT_RELU},
        {2, 64, 40, 40, 512, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 3, NK_ACT_RELU},
        {1, 40, 30, 30, 256, 3, 3, 2, 2, 1, 1, 1, 2, 0, 1, 1, 1, 1, 0, 2, NK_ACT_CLIP},
        /* 81 taps: the assembly tile takes them one call each. */
        {1, 16, 12, 12, 24, 9, 9, 1, 1, 1, 1, 4, 4, 4, 4, 1, 1, 0, 1, 2, NK_ACT_RELU},
        /* Pointwise on 7x7 with few groups of many pixels: short segments
         * shared out by their work between 3 threads. */
        {1, 960, 7, 7, 160, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 3, NK_ACT_NONE},
    };
    /* Each twice: krun alternates between one thread after another and
     * all at once on a pool, where threads take each other's items
     * (and a taken item of a copied-rows conv copies its own rows). */
    for (size_t i = 0; i < sizeof BIG / sizeof BIG[0]; i++) {
        run_case(ctx, kr, &BIG[i]);
        run_case(ctx, kr, &BIG[i]);
    }
    printf("# conv2d_nchw8c_avx2: %d shapes, %llu items taken from other "
           "threads' shares\n", n_run, (unsigned long long)krun_steals());
    CHECK(krun_steals() > 0);
    krun_done();
    nk_ctx_free(ctx);
}

/* supports(): group 1 only, and Winograd keeps its 3x3 stride-1 shapes. */
static void test_convblk_declines(void)
{
    const nk_kernel *kr;
    if (!have_avx2(&kr))
        return;
    struct {
        int c, h, m, k, s, group;
        bool want;
    } cases[] = {
        {16, 10, 16, 3, 1, 16, false}, /* depthwise */
        {16, 10, 32, 3, 2, 4, false},  /* grouped */
        {32, 56, 32, 3, 1, 1, false},  /* Winograd's */
        {64, 7, 64, 3, 1, 1, false},   /* 7x7: Winograd's few tiles */
        {64, 3, 64, 3, 1, 1, true},    /* 3x3 map: too few for Winograd */
        {64, 56, 64, 3, 2, 1, true},
        {64, 56, 256, 1, 1, 1, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        conv_cfg c = {.n = 1, .c = cases[i].c, .h = cases[i].h,
                      .w = cases[i].h, .m = cases[i].m, .kh = cases[i].k,
                      .kw = cases[i].k, .sh = cases[i].s, .sw = cases[i].s,
                      .dh = 1, .dw = 1, .group = cases[i].group};
        c.pt = c.pl = c.pb = c.pr = c.kh / 2;
        conv_case cc;
        make_node(&cc, &c);
        int64_t xd[4] = {1, c.c, c.h, c.w};
        int64_t wd[4] = {c.m, c.c / c.group, c.kh, c.kw};
        static float dummy[1];
        nk_tensor tx = make_t("x", 4, xd, NULL, false);
        nk_tensor tw = make_t("w", 4, wd, dummy, true);
        nk_tensor *ins[2] = {&tx, &tw};
        nk_step st;
        memset(&st, 0, sizeof st);
        st.node = &cc.node;
        st.n_in = 2;
        st.in = ins;
        st.nth = 1;
        CHECKF(kr->supports(&st) == cases[i].want,
               "case %zu: supports() = %d, expected %d (winograd %d)", i,
               !cases[i].want, cases[i].want, nk_conv_winograd_supports(&st));
        /* Training steps and graph-input weights go elsewhere. */
        st.training = true;
        CHECK(!kr->supports(&st));
        st.training = false;
        tw.is_init = false;
        CHECK(!kr->supports(&st));
    }
}

NK_TESTS(T(test_convblk_random), T(test_convblk_declines))
