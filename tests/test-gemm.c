/*
 * test-gemm.c — randomized checks of the fast kernels against their
 * oracles: nk_sgemm_blocked vs nk_sgemm_ref (odd shapes, transposes,
 * alpha/beta, leading dims, 1..3 threads), and Conv's im2col+GEMM and
 * depthwise kernels vs the direct reference (strides, pads, dilations,
 * groups, fused activation).
 */
#include "engine/kernels/gemm.h"
#include "engine/kernels/kernels-impl.h"
#include "engine/op.h"
#include "harness.h"

#include <string.h>

static uint64_t g_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd_u32(void)
{
    g_state ^= g_state << 13;
    g_state ^= g_state >> 7;
    g_state ^= g_state << 17;
    return (uint32_t)(g_state >> 16);
}
static int rnd_int(int lo, int hi) /* [lo, hi] */
{
    return lo + (int)(rnd_u32() % (uint32_t)(hi - lo + 1));
}
static float rnd_f(void)
{
    return (float)rnd_u32() / 4294967296.0f * 2.0f - 1.0f;
}
static void fill(float *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = rnd_f();
}

/* max|a-b| / max(1, max|b|) */
static double rel_err(const float *a, const float *b, size_t n)
{
    double d = 0.0, m = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) && isnan(b[i]))
            continue; /* untouched padding of C */
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= d))
            d = e;
        if (fabs(b[i]) > m)
            m = fabs(b[i]);
    }
    return d / (m > 1.0 ? m : 1.0);
}

static void test_sgemm_random(void)
{
    for (int iter = 0; iter < 120; iter++) {
        int big = iter % 10 == 0;
        int m = rnd_int(1, big ? 230 : 40), n = rnd_int(1, big ? 1100 : 70);
        int k = rnd_int(1, big ? 600 : 300);
        int ta = rnd_int(0, 1), tb = rnd_int(0, 1), nth = rnd_int(1, 3);
        float alpha = iter % 3 == 0 ? 1.0f : rnd_f() * 2.0f;
        float beta = iter % 4 == 0 ? 0.0f : (iter % 4 == 1 ? 1.0f : rnd_f());
        int lda = (ta ? m : k) + rnd_int(0, 3);
        int ldb = (tb ? k : n) + rnd_int(0, 3);
        int ldc = n + rnd_int(0, 3);
        size_t asz = (size_t)(ta ? k : m) * lda, bsz = (size_t)(tb ? n : k) * ldb;
        size_t csz = (size_t)m * ldc;
        float *a = malloc(asz * 4), *b = malloc(bsz * 4);
        float *c1 = malloc(csz * 4), *c2 = malloc(csz * 4);
        void *work = malloc(nk_sgemm_work_bytes(nth));
        REQUIRE(a && b && c1 && c2 && work);
        fill(a, asz);
        fill(b, bsz);
        fill(c1, csz);
        if (beta == 0.0f) /* beta 0 must ignore whatever C holds */
            for (size_t i = 0; i < csz; i += 7)
                c1[i] = NAN;
        memcpy(c2, c1, csz * 4);
        nk_sgemm_ref(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c1, ldc);
        for (int ith = 0; ith < nth; ith++)
            nk_sgemm_blocked(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta,
                             c2, ldc, work, ith, nth);
        double e = rel_err(c2, c1, csz);
        CHECKF(e < 1e-5,
               "sgemm m=%d n=%d k=%d ta=%d tb=%d alpha=%g beta=%g nth=%d: "
               "relative error %g", m, n, k, ta, tb, alpha, beta, nth, e);
        free(a);
        free(b);
        free(c1);
        free(c2);
        free(work);
    }
}

/* ---- Conv kernels vs the reference --------------------------------- */

typedef struct conv_cfg {
    int n, c, h, w, m, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, group, bias;
    nk_act act;
} conv_cfg;

static nk_tensor make_t(const char *name, int rank, const int64_t *d,
                        float *data)
{
    nk_tensor t;
    memset(&t, 0, sizeof t);
    t.name = name;
    t.dtype = NK_F32;
    t.shape = nk_shape_make(rank, d);
    t.data = data;
    t.nbytes = nk_tensor_bytes_for(NK_F32, &t.shape);
    return t;
}

static void run_conv(nk_ctx *ctx, const conv_cfg *c)
{
    int64_t xd[4] = {c->n, c->c, c->h, c->w};
    int64_t wd[4] = {c->m, c->c / c->group, c->kh, c->kw};
    int64_t bd[1] = {c->m};
    int64_t ks[2] = {c->kh, c->kw}, ss[2] = {c->sh, c->sw};
    int64_t ds[2] = {c->dh, c->dw}, ps[4] = {c->pt, c->pl, c->pb, c->pr};
    nk_attr attrs[5];
    memset(attrs, 0, sizeof attrs);
    attrs[0] = (nk_attr){.name = "kernel_shape", .type = NK_ATTR_INTS,
                         .n = 2, .ints = ks};
    attrs[1] = (nk_attr){.name = "strides", .type = NK_ATTR_INTS, .n = 2,
                         .ints = ss};
    attrs[2] = (nk_attr){.name = "dilations", .type = NK_ATTR_INTS, .n = 2,
                         .ints = ds};
    attrs[3] = (nk_attr){.name = "pads", .type = NK_ATTR_INTS, .n = 4,
                         .ints = ps};
    attrs[4] = (nk_attr){.name = "group", .type = NK_ATTR_INT,
                         .i = c->group};
    nk_node node;
    memset(&node, 0, sizeof node);
    node.name = "conv";
    node.op = NK_OP_CONV;
    node.n_attr = 5;
    node.attr = attrs;
    node.act = c->act;
    node.act_a0 = c->act == NK_ACT_CLIP ? -0.5f : 0.1f;
    node.act_a1 = 0.5f;

    size_t xn = (size_t)c->n * c->c * c->h * c->w;
    size_t wn = (size_t)c->m * (c->c / c->group) * c->kh * c->kw;
    float *x = malloc(xn * 4), *w = malloc(wn * 4), *b = malloc(c->m * 4);
    REQUIRE(x && w && b);
    fill(x, xn);
    fill(w, wn);
    fill(b, c->m);
    nk_tensor tx = make_t("x", 4, xd, x), tw = make_t("w", 4, wd, w);
    nk_tensor tb = make_t("b", 1, bd, b), ty;
    nk_tensor *ins[3] = {&tx, &tw, c->bias ? &tb : NULL};
    nk_tensor *outs[1] = {&ty};
    memset(&ty, 0, sizeof ty);
    ty.name = "y";
    nk_status s = nk_infer_conv(ctx, &node, ins, 3, outs, 1);
    CHECKF(s == NK_OK, "infer: %s", nk_errmsg(ctx));
    if (s != NK_OK)
        goto done;
    size_t yn = (size_t)nk_shape_numel(&ty.shape);
    float *y_ref = malloc(yn * 4 + 4), *y = malloc(yn * 4 + 4);
    REQUIRE(y_ref && y);

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

    for (int variant = 0; variant < 2; variant++) {
        if (variant == 1 && !nk_conv_depthwise_supports(&st))
            break;
        int nth = rnd_int(1, 3);
        memset(y, 0xff, yn * 4);
        ty.data = y;
        st.work_bytes = 0;
        REQUIRE_OK(ctx, variant ? nk_conv_prepare(ctx, &st)
                                : nk_conv_gemm_prepare(ctx, &st));
        st.work = st.work_bytes ? malloc(st.work_bytes) : NULL;
        REQUIRE(st.work || !st.work_bytes);
        for (int ith = 0; ith < nth; ith++) {
            if (variant)
                nk_conv2d_depthwise(&st, ith, nth);
            else
                nk_conv2d_im2col_gemm(&st, ith, nth);
        }
        double e = rel_err(y, y_ref, yn);
        CHECKF(e < 1e-5,
               "%s: x[%d,%d,%d,%d] w[%d,%d,%d,%d] s[%d,%d] d[%d,%d] "
               "p[%d,%d,%d,%d] g=%d bias=%d act=%d nth=%d: rel err %g",
               variant ? "depthwise" : "im2col", c->n, c->c, c->h, c->w,
               c->m, c->c / c->group, c->kh, c->kw, c->sh, c->sw, c->dh,
               c->dw, c->pt, c->pl, c->pb, c->pr, c->group, c->bias,
               (int)c->act, nth, e);
        free(st.work);
        st.work = NULL;
        nk_kernel_release_params(&st);
    }
    free(y_ref);
    free(y);
done:
    free(x);
    free(w);
    free(b);
}

static void test_conv_random(void)
{
    nk_ctx *ctx;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    for (int iter = 0; iter < 150; iter++) {
        conv_cfg c;
        memset(&c, 0, sizeof c);
        int kind = iter % 3; /* 0 dense, 1 grouped, 2 depthwise */
        c.group = kind == 0 ? 1 : rnd_int(2, 4);
        int cg = kind == 2 ? 1 : rnd_int(1, 6);
        c.c = c.group * cg;
        c.m = kind == 2 ? c.c : c.group * rnd_int(1, 5);
        c.n = rnd_int(1, 2);
        c.kh = rnd_int(1, 5);
        c.kw = rnd_int(1, 5);
        c.sh = rnd_int(1, 3);
        c.sw = rnd_int(1, 3);
        c.dh = rnd_int(1, 3);
        c.dw = rnd_int(1, 3);
        if (iter % 5 == 0)
            c.kh = c.kw = c.sh = c.sw = c.dh = c.dw = 1; /* 1x1 path */
        c.pt = rnd_int(0, 2);
        c.pl = rnd_int(0, 2);
        c.pb = rnd_int(0, 2);
        c.pr = rnd_int(0, 2);
        if (iter % 10 == 0)
            c.pt = c.pl = c.pb = c.pr = 0;
        int eh = (c.kh - 1) * c.dh + 1, ew = (c.kw - 1) * c.dw + 1;
        c.h = eh + rnd_int(0, 20);
        c.w = ew + rnd_int(0, 20);
        c.bias = rnd_int(0, 1);
        c.act = (nk_act)(iter % 4 == 3 ? NK_ACT_CLIP
                                       : (iter % 4 == 1 ? NK_ACT_RELU
                                                        : NK_ACT_NONE));
        run_conv(ctx, &c);
    }
    nk_ctx_free(ctx);
}

NK_TESTS(T(test_sgemm_random), T(test_conv_random))
