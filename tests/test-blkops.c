/*
 * test-blkops.c — the NCHW8c kernels other than the dense Conv
 * (x86/dwconv-blocked-avx2.c, x86/eltwise-blocked-avx2.c) against the
 * reference kernels on random shapes: NCHW inputs are packed (padding lanes then filled with
 * finite junk), the blocked row runs with 1-3 threads into a NaN-filled
 * output, which is unpacked and compared (max|y - ref| / max(1, max|ref|)
 * < 1e-5); every padding lane of the output must be finite. Also checks
 * which nodes each row's supports() declines.
 */
#include "engine/kernels/blocked.h"
#include "engine/kernels/kernels-impl.h"
#include "engine/op.h"
#include "harness.h"
#include "kernel-check.h"
#include "kernel-rand.h"
#include "kernel-threads.h"

#include <math.h>
#include <string.h>

#define BOUND 1e-5


static const nk_kernel *row(const char *name)
{
    for (int i = 0; i < NK_KERNEL_COUNT; i++)
        if (!strcmp(NK_KERNELS[i].name, name))
            return &NK_KERNELS[i];
    return NULL;
}

static nk_tensor make_t(const char *name, int rank, const int64_t *d,
                        float *data, bool init, bool blocked)
{
    nk_tensor t;
    memset(&t, 0, sizeof t);
    t.name = name;
    t.dtype = NK_F32;
    t.shape = nk_shape_make(rank, d);
    t.data = data;
    t.is_init = init;
    t.layout = blocked ? NK_LAYOUT_NCHW8C : NK_LAYOUT_DEFAULT;
    t.nbytes = blocked ? nk_blk_bytes(&t.shape)
                       : nk_tensor_bytes_for(NK_F32, &t.shape);
    return t;
}

/* A blocked copy of NCHW x [n, c, hw]; padding lanes get finite junk
 * unless zero_pad. */
static float *pack(const float *x, int64_t n, int64_t c, int64_t hw,
                   bool zero_pad)
{
    int64_t cb = nk_blk_cb(c);
    float *b = nk_malloc_aligned((size_t)(n * cb * hw * NK_BLK) * 4 + 4, 64);
    if (!b)
        return NULL;
    nk_blk_pack(x, b, c, hw, 0, n * cb);
    if (!zero_pad && c % NK_BLK)
        for (int64_t i = 0; i < n; i++)
            for (int64_t p = 0; p < hw; p++)
                for (int64_t l = c % NK_BLK; l < NK_BLK; l++)
                    b[((i * cb + cb - 1) * hw + p) * NK_BLK + l] =
                        rnd_f() * 3.0f;
    return b;
}

static float *nan_blk(int64_t n, int64_t c, int64_t hw)
{
    size_t sz = (size_t)(n * nk_blk_cb(c) * hw * NK_BLK) * 4;
    float *b = nk_malloc_aligned(sz + 4, 64);
    if (b)
        memset(b, 0xff, sz);
    return b;
}

/* Unpacks y into out and says whether every padding lane is finite. */
static bool unpack_check(const float *y, float *out, int64_t n, int64_t c,
                         int64_t hw)
{
    int64_t cb = nk_blk_cb(c);
    nk_blk_unpack(y, out, c, hw, 0, n * cb);
    bool ok = true;
    for (int64_t i = 0; i < n; i++)
        for (int64_t p = 0; p < hw; p++)
            for (int64_t l = c - (cb - 1) * NK_BLK; l < NK_BLK; l++)
                ok = ok && isfinite(y[((i * cb + cb - 1) * hw + p) *
                                          NK_BLK + l]);
    return ok;
}

static void run_row(nk_ctx *ctx, const nk_kernel *k, nk_step *st, int nth,
                    bool *ok)
{
    *ok = false;
    st->nth = nth;
    st->kernel = k;
    if (k->prepare)
        REQUIRE_OK(ctx, k->prepare(ctx, st));
    st->work = st->work_bytes ? nk_malloc_aligned(st->work_bytes, 64) : NULL;
    REQUIRE(st->work || !st->work_bytes);
    REQUIRE(krun(ctx, k, st, nth));
    nk_free_aligned(st->work);
    st->work = NULL;
    if (k->release)
        k->release(st);
    *ok = true;
}

static const nk_act ACTS[] = {NK_ACT_NONE,        NK_ACT_RELU,
                              NK_ACT_CLIP,        NK_ACT_LEAKYRELU,
                              NK_ACT_SIGMOID,     NK_ACT_HARDSIGMOID,
                              NK_ACT_HARDSWISH,   NK_ACT_TANH};

static void act_args(nk_act a, float *a0, float *a1)
{
    *a0 = a == NK_ACT_CLIP ? -0.5f : (a == NK_ACT_HARDSIGMOID ? 0.2f : 0.1f);
    *a1 = 0.5f;
}

/* ---- depthwise Conv ------------------------------------------------------ */

typedef struct dw_cfg {
    int n, c, h, w, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, bias;
    nk_act act;
    int nth; /* 0: 1-3 at random */
} dw_cfg;

static int dw_runs;

static void run_dw(nk_ctx *ctx, const dw_cfg *c)
{
    const nk_kernel *k = row("conv2d_dw_nchw8c_avx2");
    REQUIRE(k);
    int64_t xd[4] = {c->n, c->c, c->h, c->w}, wd[4] = {c->c, 1, c->kh, c->kw};
    int64_t bd[1] = {c->c}, ks[2] = {c->kh, c->kw}, ss[2] = {c->sh, c->sw};
    int64_t ds[2] = {c->dh, c->dw}, ps[4] = {c->pt, c->pl, c->pb, c->pr};
    nk_attr attrs[5] = {
        {.name = "kernel_shape", .type = NK_ATTR_INTS, .n = 2, .ints = ks},
        {.name = "strides", .type = NK_ATTR_INTS, .n = 2, .ints = ss},
        {.name = "dilations", .type = NK_ATTR_INTS, .n = 2, .ints = ds},
        {.name = "pads", .type = NK_ATTR_INTS, .n = 4, .ints = ps},
        {.name = "group", .type = NK_ATTR_INT, .i = c->c}};
    nk_node node = {.name = "dw", .op = NK_OP_CONV, .n_attr = 5,
                    .attr = attrs};
    size_t xn = (size_t)c->n * c->c * c->h * c->w;
    size_t wn = (size_t)c->c * c->kh * c->kw;
    float *x = malloc(xn * 4), *w = malloc(wn * 4), *b = malloc(c->c * 4);
    REQUIRE(x && w && b);
    fill_scaled(x, xn, 1.0f);
    fill_scaled(w, wn, 1.0f);
    fill_scaled(b, c->c, 1.0f);
    nk_tensor tx = make_t("x", 4, xd, x, false, false);
    nk_tensor tw = make_t("w", 4, wd, w, true, false);
    nk_tensor tb = make_t("b", 1, bd, b, true, false), ty;
    memset(&ty, 0, sizeof ty);
    ty.name = "y";
    nk_tensor *ins[3] = {&tx, &tw, c->bias ? &tb : NULL}, *outs[1] = {&ty};
    if (nk_infer_conv(ctx, &node, ins, 3, outs, 1) != NK_OK) {
        free(x); free(w); free(b);
        return; /* the window does not fit */
    }
    int64_t oh = ty.shape.d[2], ow = ty.shape.d[3];
    size_t yn = (size_t)c->n * c->c * oh * ow;
    float *yref = malloc(yn * 4), *yout = malloc(yn * 4);
    REQUIRE(yref && yout);
    nk_step st = {.node = &node, .n_in = 3, .n_out = 1, .in = ins,
                  .out = outs};
    ty.data = yref;
    REQUIRE_OK(ctx, nk_conv_prepare(ctx, &st));
    nk_conv2d_nchw_ref(&st, 0, 1);
    nk_kernel_release_params(&st);
    double scale = 0.0;
    for (size_t i = 0; i < yn; i++)
        scale = fabs(yref[i]) > scale ? fabs(yref[i]) : scale;
    float a0, a1;
    act_args(c->act, &a0, &a1);
    nk_act_apply(c->act, a0, a1, yref, yn);

    float *xb = pack(x, c->n, c->c, (int64_t)c->h * c->w, false);
    float *yb = nan_blk(c->n, c->c, oh * ow);
    REQUIRE(xb && yb);
    nk_tensor bx = make_t("x", 4, xd, xb, false, true);
    nk_tensor by = make_t("y", 4, ty.shape.d, yb, false, true);
    nk_tensor *bins[3] = {&bx, &tw, c->bias ? &tb : NULL}, *bouts[1] = {&by};
    nk_step bs = {.node = &node, .n_in = 3, .n_out = 1, .in = bins,
                  .out = bouts, .act = c->act, .act_a0 = a0, .act_a1 = a1};
    CHECKF(k->supports(&bs), "dw supports() declined c=%d k=%dx%d", c->c,
           c->kh, c->kw);
    int nth = c->nth ? c->nth : rnd_int(1, 3);
    bool ran;
    run_row(ctx, k, &bs, nth, &ran);
    if (ran) {
        bool fin = unpack_check(yb, yout, c->n, c->c, oh * ow);
        double e = rel_err_s(yout, yref, yn, scale);
        CHECKF(e < BOUND && fin,
               "dw x[%d,%d,%d,%d] k=%dx%d s=%d,%d d=%d,%d p[%d,%d,%d,%d] "
               "bias=%d act=%s nth=%d: rel err %g, padding finite %d",
               c->n, c->c, c->h, c->w, c->kh, c->kw, c->sh, c->sw, c->dh,
               c->dw, c->pt, c->pl, c->pb, c->pr, c->bias,
               nk_act_name(c->act), nth, e, fin);
        dw_runs++;
    }
    nk_free_aligned(xb);
    nk_free_aligned(yb);
    free(yref); free(yout); free(x); free(w); free(b);
}

static void test_dwconv(void)
{
    if (!have_avx2()) {
        printf("# no AVX2+FMA: skipped\n");
        return;
    }
    nk_ctx *ctx;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    for (int iter = 0; iter < 500; iter++) {
        dw_cfg c;
        memset(&c, 0, sizeof c);
        c.n = rnd_int(1, 2);
        c.c = rnd_int(1, 40);
        int kind = iter % 4; /* 3x3, 5x5, any square, any rectangle */
        c.kh = kind == 0 ? 3 : kind == 1 ? 5 : rnd_int(1, 7);
        c.kw = kind == 3 ? rnd_int(1, 7) : c.kh;
        c.sh = rnd_int(1, 3);
        c.sw = rnd_int(0, 3) ? c.sh : rnd_int(1, 3);
        c.dh = rnd_int(0, 3) ? 1 : 2;
        c.dw = rnd_int(0, 3) ? c.dh : rnd_int(1, 2);
        int pad = rnd_int(0, 3);
        c.pt = pad ? rnd_int(0, 3) : 0;
        c.pl = pad ? rnd_int(0, 3) : 0;
        c.pb = pad ? rnd_int(0, 3) : 0;
        c.pr = pad ? rnd_int(0, 3) : 0;
        c.h = rnd_int(1, 20);
        c.w = rnd_int(1, 24);
        c.bias = rnd_int(0, 3) != 0;
        c.act = ACTS[rnd_int(0, 7)];
        run_dw(ctx, &c);
    }
    /* MobileNet-like rows: long interiors, many channels; each twice on
     * 2-3 threads (krun: once one thread after another, once on the pool,
     * where threads take each other's rows). */
    for (int iter = 0; iter < 8; iter++) {
        int k = iter % 2 ? 5 : 3, s = 1 + (iter / 2) % 2;
        dw_cfg c = {1, 16 * (iter + 1) + 3, 28 + iter, 30 + iter, k, k, s, s,
                    1, 1, k / 2, k / 2, k / 2, k / 2, 1, ACTS[iter],
                    2 + iter % 2};
        run_dw(ctx, &c);
        run_dw(ctx, &c);
    }
    printf("# conv2d_dw_nchw8c_avx2: %d random shapes, %llu row groups "
           "taken from other threads' shares\n", dw_runs,
           (unsigned long long)krun_steals());
    CHECK(dw_runs >= 300);
    CHECK(krun_steals() > 0);
    nk_ctx_free(ctx);
}

/* ---- MaxPool, AveragePool, GlobalAveragePool ----------------------------- */

static void test_pools(void)
{
    if (!have_avx2()) {
        printf("# no AVX2+FMA: skipped\n");
        return;
    }
    nk_ctx *ctx;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    const nk_kernel *kmax = row("maxpool_nchw8c_avx2");
    const nk_kernel *kavg = row("avgpool_nchw8c_avx2");
    const nk_kernel *kgap = row("globalavgpool_nchw8c_avx2");
    REQUIRE(kmax && kavg && kgap);
    int runs = 0;
    for (int iter = 0; iter < 500; iter++) {
        bool is_max = iter % 2 == 0;
        int64_t n = rnd_int(1, 2), c = rnd_int(1, 30);
        int64_t h = rnd_int(1, 20), w = rnd_int(1, 20);
        int64_t ks[2] = {rnd_int(1, 4), rnd_int(1, 4)};
        int64_t ss[2] = {rnd_int(1, 3), rnd_int(1, 3)};
        int64_t ds[2] = {rnd_int(0, 3) ? 1 : 2, rnd_int(0, 3) ? 1 : 2};
        int64_t ps[4];
        for (int i = 0; i < 4; i++)
            ps[i] = rnd_int(0, 1) ? rnd_int(0, (int)ks[i % 2] - 1) : 0;
        int ceil_mode = rnd_int(0, 1), cip = rnd_int(0, 1);
        nk_attr attrs[6] = {
            {.name = "kernel_shape", .type = NK_ATTR_INTS, .n = 2, .ints = ks},
            {.name = "strides", .type = NK_ATTR_INTS, .n = 2, .ints = ss},
            {.name = "dilations", .type = NK_ATTR_INTS, .n = 2, .ints = ds},
            {.name = "pads", .type = NK_ATTR_INTS, .n = 4, .ints = ps},
            {.name = "ceil_mode", .type = NK_ATTR_INT, .i = ceil_mode},
            {.name = "count_include_pad", .type = NK_ATTR_INT, .i = cip}};
        nk_node node = {.name = "pool",
                        .op = is_max ? NK_OP_MAXPOOL : NK_OP_AVGPOOL,
                        .n_attr = 6, .attr = attrs};
        int64_t xd[4] = {n, c, h, w};
        size_t xn = (size_t)(n * c * h * w);
        float *x = malloc(xn * 4);
        REQUIRE(x);
        fill_scaled(x, xn, 2.0f);
        if (is_max && iter % 10 == 0)
            x[rnd_int(0, (int)xn - 1)] = NAN;
        nk_tensor tx = make_t("x", 4, xd, x, false, false), ty;
        memset(&ty, 0, sizeof ty);
        nk_tensor *ins[1] = {&tx}, *outs[1] = {&ty};
        if (nk_infer_pool(ctx, &node, ins, 1, outs, 1) != NK_OK) {
            free(x);
            continue;
        }
        int64_t oh = ty.shape.d[2], ow = ty.shape.d[3];
        size_t yn = (size_t)(n * c * oh * ow);
        float *yref = malloc(yn * 4), *yout = malloc(yn * 4);
        REQUIRE(yref && yout);
        ty.data = yref;
        nk_step st = {.node = &node, .n_in = 1, .n_out = 1, .in = ins,
                      .out = outs};
        REQUIRE_OK(ctx, nk_pool_prepare(ctx, &st));
        if (is_max)
            nk_maxpool_ref(&st, 0, 1);
        else
            nk_avgpool_ref(&st, 0, 1);
        nk_kernel_release_params(&st);

        float *xb = pack(x, n, c, h * w, false), *yb = nan_blk(n, c, oh * ow);
        REQUIRE(xb && yb);
        nk_tensor bx = make_t("x", 4, xd, xb, false, true);
        nk_tensor by = make_t("y", 4, ty.shape.d, yb, false, true);
        nk_tensor *bins[1] = {&bx}, *bouts[1] = {&by};
        nk_step bs = {.node = &node, .n_in = 1, .n_out = 1, .in = bins,
                      .out = bouts};
        const nk_kernel *k = is_max ? kmax : kavg;
        CHECKF(k->supports(&bs), "%s declined", k->name);
        int nth = rnd_int(1, 3);
        bool ran;
        run_row(ctx, k, &bs, nth, &ran);
        if (ran) {
            bool fin = unpack_check(yb, yout, n, c, oh * ow);
            double e = rel_err_s(yout, yref, yn, 0.0);
            bool exact = true;
            for (size_t i = 0; is_max && i < yn; i++)
                exact = exact && (yout[i] == yref[i] ||
                                  (isnan(yout[i]) && isnan(yref[i])));
            CHECKF(e < BOUND && fin && exact,
                   "%s x[%lld,%lld,%lld,%lld] k=%lldx%lld s=%lld,%lld "
                   "d=%lld,%lld p[%lld,%lld,%lld,%lld] ceil=%d cip=%d "
                   "nth=%d: rel err %g exact %d, padding finite %d",
                   k->name, (long long)n, (long long)c, (long long)h,
                   (long long)w, (long long)ks[0], (long long)ks[1],
                   (long long)ss[0], (long long)ss[1], (long long)ds[0],
                   (long long)ds[1], (long long)ps[0], (long long)ps[1],
                   (long long)ps[2], (long long)ps[3], ceil_mode, cip, nth,
                   e, exact, fin);
            runs++;
        }
        nk_free_aligned(yb);
        free(yref);
        free(yout);

        /* GlobalAveragePool of the same input */
        if (!is_max) {
            int64_t gd[4] = {n, c, 1, 1};
            float *gref = malloc((size_t)(n * c) * 4);
            float *gout = malloc((size_t)(n * c) * 4);
            float *gb = nan_blk(n, c, 1);
            REQUIRE(gref && gout && gb);
            nk_node gn = {.name = "gap", .op = NK_OP_GLOBALAVGPOOL};
            nk_tensor g1 = make_t("g", 4, gd, gref, false, false);
            nk_tensor g2 = make_t("g", 4, gd, gb, false, true);
            nk_tensor *go1[1] = {&g1}, *go2[1] = {&g2};
            nk_step gs = {.node = &gn, .n_in = 1, .n_out = 1, .in = ins,
                          .out = go1};
            nk_globalavgpool_ref(&gs, 0, 1);
            nk_step gbs = {.node = &gn, .n_in = 1, .n_out = 1, .in = bins,
                           .out = go2};
            run_row(ctx, kgap, &gbs, nth, &ran);
            bool fin = unpack_check(gb, gout, n, c, 1);
            double e = rel_err_s(gout, gref, (size_t)(n * c), 0.0);
            CHECKF(e < BOUND && fin,
                   "globalavgpool x[%lld,%lld,%lld,%lld]: rel err %g, "
                   "padding finite %d", (long long)n, (long long)c,
                   (long long)h, (long long)w, e, fin);
            free(gref);
            free(gout);
            nk_free_aligned(gb);
        }
        nk_free_aligned(xb);
        free(x);
    }
    printf("# maxpool/avgpool_nchw8c_avx2: %d random shapes\n", runs);
    CHECK(runs >= 400);
    nk_ctx_free(ctx);
}

/* ---- unary activations ----------------------------------------------------- */

static void test_unary(void)
{
    if (!have_avx2()) {
        printf("# no AVX2+FMA: skipped\n");
        return;
    }
    nk_ctx *ctx;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    static const struct { nk_op op; const char *name; } OPS[] = {
        {NK_OP_RELU, "relu_nchw8c_avx2"},
        {NK_OP_CLIP, "clip_nchw8c_avx2"},
        {NK_OP_LEAKYRELU, "leakyrelu_nchw8c_avx2"},
        {NK_OP_SIGMOID, "sigmoid_nchw8c_avx2"},
        {NK_OP_TANH, "tanh_nchw8c_avx2"},
        {NK_OP_HARDSIGMOID, "hardsigmoid_nchw8c_avx2"},
        {NK_OP_HARDSWISH, "hardswish_nchw8c_avx2"}};
    int runs = 0;
    for (int iter = 0; iter < 350; iter++) {
        int o = iter % 7;
        const nk_kernel *k = row(OPS[o].name);
        REQUIRE(k);
        int64_t n = rnd_int(1, 2), c = rnd_int(1, 30);
        int64_t h = rnd_int(1, 20), w = rnd_int(1, 20);
        int64_t d[4] = {n, c, h, w}, sd[1] = {1};
        size_t xn = (size_t)(n * c * h * w);
        float *x = malloc(xn * 4), *yref = malloc(xn * 4);
        float *yout = malloc(xn * 4);
        REQUIRE(x && yref && yout);
        fill_scaled(x, xn, iter % 3 == 0 ? 40.0f : 4.0f);
        float lo = -rnd_f() * 2.0f, hi = lo + 0.1f + fabsf(rnd_f()) * 3.0f;
        nk_attr attrs[2];
        int na = 0;
        int clip_inputs = OPS[o].op == NK_OP_CLIP ? rnd_int(0, 2) : 0;
        if (OPS[o].op == NK_OP_CLIP && clip_inputs == 0) {
            attrs[na++] = (nk_attr){.name = "min", .type = NK_ATTR_FLOAT, .f = lo};
            attrs[na++] = (nk_attr){.name = "max", .type = NK_ATTR_FLOAT, .f = hi};
        } else if (OPS[o].op == NK_OP_LEAKYRELU && rnd_int(0, 1)) {
            attrs[na++] = (nk_attr){.name = "alpha", .type = NK_ATTR_FLOAT, .f = 0.3f};
        } else if (OPS[o].op == NK_OP_HARDSIGMOID && rnd_int(0, 1)) {
            attrs[na++] = (nk_attr){.name = "alpha", .type = NK_ATTR_FLOAT, .f = 1.0f / 6};
            attrs[na++] = (nk_attr){.name = "beta", .type = NK_ATTR_FLOAT, .f = 0.4f};
        }
        nk_node node = {.name = "act", .op = OPS[o].op, .n_attr = na,
                        .attr = attrs};
        nk_tensor tx = make_t("x", 4, d, x, false, false);
        nk_tensor ty = make_t("y", 4, d, yref, false, false);
        nk_tensor tlo = make_t("lo", 1, sd, &lo, true, false);
        nk_tensor thi = make_t("hi", 1, sd, &hi, false, false);
        /* clip_inputs: 1 = min only, 2 = both (max computed) */
        int n_in = OPS[o].op == NK_OP_CLIP && clip_inputs ? 3 : 1;
        nk_tensor *ins[3] = {&tx, &tlo, clip_inputs == 2 ? &thi : NULL};
        nk_tensor *outs[1] = {&ty};
        nk_step st = {.node = &node, .n_in = n_in, .n_out = 1, .in = ins,
                      .out = outs};
        REQUIRE_OK(ctx, nk_unary_prepare(ctx, &st));
        nk_unary_ref(&st, 0, 1);
        nk_kernel_release_params(&st);

        float *xb = pack(x, n, c, h * w, false), *yb = nan_blk(n, c, h * w);
        REQUIRE(xb && yb);
        nk_tensor bx = make_t("x", 4, d, xb, false, true);
        nk_tensor by = make_t("y", 4, d, yb, false, true);
        nk_tensor *bins[3] = {&bx, &tlo, clip_inputs == 2 ? &thi : NULL};
        nk_tensor *bouts[1] = {&by};
        nk_step bs = {.node = &node, .n_in = n_in, .n_out = 1, .in = bins,
                      .out = bouts};
        CHECKF(k->supports(&bs), "%s declined", k->name);
        int nth = rnd_int(1, 3);
        bool ran;
        run_row(ctx, k, &bs, nth, &ran);
        if (ran) {
            bool fin = unpack_check(yb, yout, n, c, h * w);
            double e = rel_err_s(yout, yref, xn, 0.0);
            CHECKF(e < BOUND && fin,
                   "%s x[%lld,%lld,%lld,%lld] nth=%d: rel err %g, padding "
                   "finite %d", k->name, (long long)n, (long long)c,
                   (long long)h, (long long)w, nth, e, fin);
            runs++;
        }
        nk_free_aligned(xb);
        nk_free_aligned(yb);
        free(x); free(yref); free(yout);
    }
    /* sigmoid and tanh element by element over a wide range */
    for (int o = 3; o <= 4; o++) {
        enum { NX = 4096 };
        static float x[NX], yref[NX], yb[NX];
        for (int i = 0; i < NX; i++)
            x[i] = (float)(i - NX / 2) / (NX / 2) * (i % 2 ? 1.0f : 100.0f);
        int64_t d[4] = {1, 8, 1, NX / 8};
        nk_node node = {.name = "act", .op = OPS[o].op};
        nk_tensor tx = make_t("x", 4, d, x, false, true);
        nk_tensor t1 = make_t("y", 4, d, yref, false, false);
        nk_tensor t2 = make_t("y", 4, d, yb, false, true);
        nk_tensor *ins[1] = {&tx}, *o1[1] = {&t1}, *o2[1] = {&t2};
        nk_step st = {.node = &node, .n_in = 1, .n_out = 1, .in = ins, .out = o1};
        REQUIRE_OK(ctx, nk_unary_prepare(ctx, &st));
        nk_unary_ref(&st, 0, 1); /* element-wise: layout does not matter */
        nk_kernel_release_params(&st);
        st.out = o2;
        row(OPS[o].name)->run(&st, 0, 1);
        double worst = 0.0;
        for (int i = 0; i < NX; i++) {
            double e = fabs((double)yb[i] - yref[i]) /
                       (fabs(yref[i]) > 1e-30 ? fabs(yref[i]) : 1e-30);
            if (fabs(yref[i]) > 1e-37 && !(e <= worst))
                worst = e;
        }
        printf("# %s: worst element-wise relative error %.3g\n",
               OPS[o].name, worst);
        CHECKF(worst < 1e-6, "%s element-wise rel err %g", OPS[o].name,
               worst);
    }
    printf("# unary nchw8c rows: %d random shapes\n", runs);
    CHECK(runs >= 300);
    nk_ctx_free(ctx);
}

/* ---- Add Sub Mul Div --------------------------------------------------------- */

static void test_binary(void)
{
    if (!have_avx2()) {
        printf("# no AVX2+FMA: skipped\n");
        return;
    }
    nk_ctx *ctx;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    static const struct { nk_op op; const char *name; } OPS[] = {
        {NK_OP_ADD, "add_nchw8c_avx2"}, {NK_OP_SUB, "sub_nchw8c_avx2"},
        {NK_OP_MUL, "mul_nchw8c_avx2"}, {NK_OP_DIV, "div_nchw8c_avx2"}};
    int runs = 0;
    for (int iter = 0; iter < 400; iter++) {
        int o = iter % 4, mode = (iter / 4) % 3, swap = rnd_int(0, 1);
        const nk_kernel *k = row(OPS[o].name);
        REQUIRE(k);
        int64_t n = rnd_int(1, 2), c = rnd_int(1, 30);
        int64_t h = rnd_int(1, 20), w = rnd_int(1, 20);
        int64_t ad[4] = {n, c, h, w}, bd[4] = {n, c, h, w};
        int brank = 4;
        if (mode == 1)
            bd[2] = bd[3] = 1; /* squeeze-excite: per (n, c) */
        if (mode == 2) {       /* one-element initializer */
            brank = rnd_int(0, 4);
            for (int i = 0; i < 4; i++)
                bd[i] = 1;
        }
        size_t an = (size_t)(n * c * h * w), bn = 1;
        for (int i = 0; i < brank; i++)
            bn *= (size_t)bd[i];
        float *a = malloc(an * 4), *b = malloc(bn * 4);
        float *yref = malloc(an * 4), *yout = malloc(an * 4);
        REQUIRE(a && b && yref && yout);
        fill_scaled(a, an, 2.0f);
        fill_scaled(b, bn, 2.0f);
        for (size_t i = 0; i < bn; i++)
            b[i] += b[i] < 0 ? -0.5f : 0.5f; /* keep Div away from 0 */
        nk_act act = iter % 3 == 0 ? ACTS[rnd_int(0, 7)] : NK_ACT_NONE;
        float a0, a1;
        act_args(act, &a0, &a1);
        nk_node node = {.name = "bin", .op = OPS[o].op, .act = act,
                        .act_a0 = a0, .act_a1 = a1};
        nk_tensor ta = make_t("a", 4, ad, a, false, false);
        nk_tensor tb = make_t("b", brank, bd, b, mode == 2, false);
        nk_tensor ty = make_t("y", 4, ad, yref, false, false);
        nk_tensor *ins[2] = {swap ? &tb : &ta, swap ? &ta : &tb};
        nk_tensor *outs[1] = {&ty};
        nk_step st = {.node = &node, .n_in = 2, .n_out = 1, .in = ins,
                      .out = outs};
        REQUIRE_OK(ctx, nk_binary_prepare(ctx, &st));
        nk_binary_ref(&st, 0, 1);
        nk_kernel_release_params(&st);

        /* padding lanes zero: Div must still write them finite */
        float *ab = pack(a, n, c, h * w, true);
        float *bb = mode == 2 ? NULL : pack(b, n, c, bd[2] * bd[3], true);
        float *yb = nan_blk(n, c, h * w);
        REQUIRE(ab && yb && (bb || mode == 2));
        nk_tensor ba = make_t("a", 4, ad, ab, false, true);
        nk_tensor bbt = mode == 2 ? tb : make_t("b", 4, bd, bb, false, true);
        nk_tensor by = make_t("y", 4, ad, yb, false, true);
        nk_tensor *bins[2] = {swap ? &bbt : &ba, swap ? &ba : &bbt};
        nk_tensor *bouts[1] = {&by};
        nk_step bs = {.node = &node, .n_in = 2, .n_out = 1, .in = bins,
                      .out = bouts, .act = act, .act_a0 = a0, .act_a1 = a1};
        CHECKF(k->supports(&bs), "%s declined mode %d", k->name, mode);
        int nth = rnd_int(1, 3);
        bool ran;
        run_row(ctx, k, &bs, nth, &ran);
        if (ran) {
            bool fin = unpack_check(yb, yout, n, c, h * w);
            double e = rel_err_s(yout, yref, an, 0.0);
            CHECKF(e < BOUND && fin,
                   "%s x[%lld,%lld,%lld,%lld] mode %d swap %d act %s "
                   "nth=%d: rel err %g, padding finite %d", k->name,
                   (long long)n, (long long)c, (long long)h, (long long)w,
                   mode, swap, nk_act_name(act), nth, e, fin);
            runs++;
        }
        nk_free_aligned(ab);
        nk_free_aligned(bb);
        nk_free_aligned(yb);
        free(a); free(b); free(yref); free(yout);
    }
    printf("# binary nchw8c rows: %d random shapes\n", runs);
    CHECK(runs >= 350);
    nk_ctx_free(ctx);
}

/* ---- what supports() declines ---------------------------------------------- */

static void test_declines(void)
{
    const nk_kernel *kdw = row("conv2d_dw_nchw8c_avx2");
    const nk_kernel *kmax = row("maxpool_nchw8c_avx2");
    const nk_kernel *krelu = row("relu_nchw8c_avx2");
    const nk_kernel *kadd = row("add_nchw8c_avx2");
    REQUIRE(kdw && kmax && krelu && kadd && row("avgpool_nchw8c_avx2") &&
            row("globalavgpool_nchw8c_avx2"));
    for (int i = 0; i < NK_KERNEL_COUNT; i++)
        if (strstr(NK_KERNELS[i].name, "_nchw8c_avx2")) {
            CHECK(NK_KERNELS[i].layout == NK_LAYOUT_NCHW8C);
            CHECK(NK_KERNELS[i].isa == NK_ISA_AVX2);
            /* (the dense and Winograd convs fuse residuals; these don't) */
            if (NK_KERNELS[i].op != NK_OP_CONV ||
                strcmp(NK_KERNELS[i].name, "conv2d_dw_nchw8c_avx2") == 0)
                CHECK(!NK_KERNELS[i].residual);
        }
    float buf[64] = {0};
    /* depthwise */
    int64_t xd[4] = {1, 6, 5, 5}, wd[4] = {6, 1, 3, 3}, wd2[4] = {6, 2, 3, 3};
    int64_t ks[2] = {3, 3};
    nk_attr at[2] = {
        {.name = "kernel_shape", .type = NK_ATTR_INTS, .n = 2, .ints = ks},
        {.name = "group", .type = NK_ATTR_INT, .i = 6}};
    nk_node conv = {.name = "c", .op = NK_OP_CONV, .n_attr = 2, .attr = at};
    nk_tensor tx = make_t("x", 4, xd, buf, false, true);
    nk_tensor tw = make_t("w", 4, wd, buf, true, false);
    nk_tensor ty = make_t("y", 4, xd, buf, false, true);
    nk_tensor *ins[3] = {&tx, &tw, NULL}, *outs[1] = {&ty};
    nk_step st = {.node = &conv, .n_in = 3, .n_out = 1, .in = ins, .out = outs};
    CHECK(kdw->supports(&st));
    st.training = true;
    CHECK(!kdw->supports(&st));
    st.training = false;
    tw.is_init = false; /* weights computed at run time */
    CHECK(!kdw->supports(&st));
    tw.is_init = true;
    at[1].i = 3; /* grouped, not depthwise */
    tw.shape = nk_shape_make(4, wd2);
    CHECK(!kdw->supports(&st));
    at[1].i = 1; /* dense */
    CHECK(!kdw->supports(&st));
    at[1].i = 6;
    tw.shape = nk_shape_make(4, wd);
    CHECK(kdw->supports(&st));
    /* MaxPool with Indices, storage_order, rank 3 */
    nk_attr pa[2] = {
        {.name = "kernel_shape", .type = NK_ATTR_INTS, .n = 2, .ints = ks},
        {.name = "storage_order", .type = NK_ATTR_INT, .i = 0}};
    nk_node pool = {.name = "p", .op = NK_OP_MAXPOOL, .n_attr = 2, .attr = pa};
    nk_tensor ti = ty;
    nk_tensor *pouts[2] = {&ty, &ti};
    nk_step ps = {.node = &pool, .n_in = 1, .n_out = 1, .in = ins, .out = pouts};
    CHECK(kmax->supports(&ps));
    ps.n_out = 2;
    CHECK(!kmax->supports(&ps));
    ps.n_out = 1;
    pa[1].i = 1;
    CHECK(!kmax->supports(&ps));
    pa[1].i = 0;
    int64_t d3[3] = {1, 6, 25};
    nk_tensor t3 = make_t("x3", 3, d3, buf, false, false);
    nk_tensor *ins3[1] = {&t3};
    ps.in = ins3;
    CHECK(!kmax->supports(&ps));
    /* unary on rank 2 */
    nk_node relu = {.name = "r", .op = NK_OP_RELU};
    int64_t d2[2] = {6, 25};
    nk_tensor t2 = make_t("x2", 2, d2, buf, false, false);
    nk_tensor *ins2[1] = {&t2}, *outs2[1] = {&t2};
    nk_step us = {.node = &relu, .n_in = 1, .n_out = 1, .in = ins, .out = outs};
    CHECK(krelu->supports(&us));
    us.in = ins2;
    us.out = outs2;
    CHECK(!krelu->supports(&us));
    /* binary */
    nk_node add = {.name = "a", .op = NK_OP_ADD};
    int64_t dcol[4] = {1, 6, 5, 1}, dse[4] = {1, 6, 1, 1}, dse2[4] = {2, 6, 5, 5};
    int64_t dse1[4] = {1, 6, 1, 1}, d1[1] = {1}, d6[1] = {6};
    nk_tensor tcol = make_t("col", 4, dcol, buf, false, true);
    nk_tensor tse = make_t("se", 4, dse, buf, false, true);
    nk_tensor tbig2 = make_t("big2", 4, dse2, buf, false, true);
    nk_tensor tse1 = make_t("se1", 4, dse1, buf, false, true);
    nk_tensor tsc = make_t("s", 1, d1, buf, true, false);
    nk_tensor tvec = make_t("v", 1, d6, buf, true, false);
    nk_tensor tinit4 = make_t("i4", 4, xd, buf, true, false);
    nk_tensor ty2 = make_t("y2", 4, dse2, buf, false, true);
    nk_tensor *bi[2] = {&tx, &tx}, *bo[1] = {&ty};
    nk_step bs = {.node = &add, .n_in = 2, .n_out = 1, .in = bi, .out = bo};
    CHECK(kadd->supports(&bs));          /* equal shapes */
    bi[1] = &tse;
    CHECK(kadd->supports(&bs));          /* [N,C,1,1] */
    bi[0] = &tse;
    bi[1] = &tx;
    CHECK(kadd->supports(&bs));          /* the other side */
    bi[0] = &tx;
    bi[1] = &tsc;
    CHECK(kadd->supports(&bs));          /* one-element initializer */
    tsc.is_init = false;
    CHECK(!kadd->supports(&bs));         /* a computed scalar */
    tsc.is_init = true;
    bi[1] = &tcol;
    CHECK(!kadd->supports(&bs));         /* [N,C,H,1] */
    bi[1] = &tvec;
    CHECK(!kadd->supports(&bs));         /* [C] initializer */
    bi[1] = &tinit4;
    CHECK(!kadd->supports(&bs));         /* 4-D initializer (NCHW) */
    bi[0] = &tbig2;
    bi[1] = &tse1;
    bo[0] = &ty2;
    CHECK(!kadd->supports(&bs));         /* [1,C,1,1] against N = 2 */
    tbig2.dtype = NK_I32;
    bi[1] = &tbig2;
    CHECK(!kadd->supports(&bs));         /* not f32 */
}

NK_TESTS(T(test_dwconv), T(test_pools), T(test_unary), T(test_binary),
         T(test_declines))
