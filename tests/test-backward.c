/*
 * test-backward.c — backward kernels against double-sided finite
 * differences (every op, small random shapes, 2 threads), parameter
 * freezing, the softmax cross-entropy seed, optimisers against steps
 * PyTorch 1.13 computed, LR schedules. With --grad-parity it is the C
 * side of tests/parity/grad_parity.py (see there).
 */
#include "harness.h"
#include "engine/autograd.h"
#include "engine/ir.h"
#include "engine/op.h"
#include "engine/plan.h"

#include <float.h>
#include <string.h>
#include <sys/stat.h>

static nk_ctx *ctx;
static nk_rng rng;

/* ---- graph building ----------------------------------------------------- */

/* A trainable f32 initializer with values uniform in +-[lo, hi] (random
 * sign) — keeping |x| >= lo keeps finite differences off the kinks. */
static int param(nk_graph *g, const char *name, int rank, const int64_t *d,
                 float lo, float hi, bool trainable)
{
    nk_shape s = nk_shape_make(rank, d);
    int i = -1;
    CHECK_OK(ctx, nk_graph_add_init(ctx, g, name, NK_F32, &s, &i));
    float *p = g->tensors[i]->data;
    for (int64_t k = 0; k < nk_shape_numel(&s); k++) {
        float v = lo + (hi - lo) * nk_rng_uniform(&rng);
        p[k] = nk_rng_uniform(&rng) < 0.5f ? -v : v;
    }
    g->tensors[i]->trainable = trainable;
    return i;
}

static void fill(nk_graph *g, int t, float v)
{
    float *p = g->tensors[t]->data;
    for (int64_t k = 0; k < nk_shape_numel(&g->tensors[t]->shape); k++)
        p[k] = v;
}

static int act(nk_graph *g, const char *name)
{
    nk_shape s = nk_shape_make(0, NULL);
    int i = -1;
    CHECK_OK(ctx, nk_graph_add_tensor(ctx, g, name, NK_F32, &s, &i));
    return i;
}

static nk_node *node(nk_graph *g, nk_op op, int n_in, const int *in, int out)
{
    nk_node *n = NULL;
    CHECK_OK(ctx, nk_graph_add_node(ctx, g, op, nk_op_name(op), n_in, in, 1,
                                    &out, &n));
    return n;
}

static void ints(nk_graph *g, nk_node *n, const char *k, int c,
                 const int64_t *v)
{
    CHECK_OK(ctx, nk_node_set_ints(ctx, g, n, k, c, v));
}

/* ---- finite differences ------------------------------------------------- */

/* L = sum(y * R) for a fixed random R, in double. */
static double loss_of(nk_plan *p, const float *r)
{
    CHECK_OK(ctx, nk_plan_run(ctx, p));
    nk_tensor *y = nk_plan_output(p, 0);
    const float *d = nk_tensor_data(y);
    double s = 0.0;
    for (int64_t i = 0; i < nk_tensor_numel(y); i++)
        s += (double)d[i] * r[i];
    return s;
}

/* Check dL/dp for every trainable initializer of g against central
 * differences (step h) on up to 24 elements each. The plan is a training
 * plan on 2 threads. Returns the number of elements checked. */
static int fd_check(const char *what, nk_graph *g, double h, double tol)
{
    int checked = 0;
    int y = g->outputs[0];
    nk_plan *p = NULL;
    nk_grad *gr = NULL;
    float *r = NULL;
    CHECK_OK(ctx, nk_graph_infer(ctx, g));
    nk_plan_opts po = {.batch = 1, .threads = 2, .training = 1};
    nk_status st = nk_plan_create(ctx, g, &po, &p);
    if (st) {
        nk_t_fail(__FILE__, __LINE__, "%s: plan: %s", what, nk_errmsg(ctx));
        return 0;
    }
    st = nk_grad_create(ctx, p, &gr);
    if (st) {
        nk_t_fail(__FILE__, __LINE__, "%s: grad: %s", what, nk_errmsg(ctx));
        goto out;
    }
    int64_t ny = nk_shape_numel(&p->vals[y].shape);
    r = malloc(sizeof(float) * (size_t)ny);
    for (int64_t i = 0; i < ny; i++)
        r[i] = nk_rng_normal(&rng);
    CHECK_OK(ctx, nk_plan_run(ctx, p));
    CHECK_OK(ctx, nk_grad_backward(ctx, gr, 0, r));
    for (int t = 0; t < g->n_tensors; t++) {
        nk_tensor *v = g->tensors[t];
        if (!v->is_init || !v->trainable)
            continue;
        const float *an = nk_grad_of(gr, t);
        CHECKF(an, "%s: no gradient for '%s'", what, v->name);
        if (!an)
            continue;
        int64_t n = nk_shape_numel(&v->shape);
        double amax = 0.0;
        for (int64_t i = 0; i < n; i++)
            amax = fmax(amax, fabs(an[i]));
        float *x = v->data;
        int64_t stride = n > 24 ? n / 24 : 1;
        for (int64_t i = 0; i < n; i += stride) {
            float keep = x[i];
            x[i] = (float)(keep + h);
            double lp = loss_of(p, r);
            x[i] = (float)(keep - h);
            double lm = loss_of(p, r);
            x[i] = keep;
            double fd = (lp - lm) / (2 * h);
            CHECKF(fabs(fd - an[i]) <= tol * fmax(amax, 1e-2) + 1e-4,
                   "%s: d/d%s[%lld]: analytic %.6g, finite difference "
                   "%.6g (max |grad| %.3g)", what, v->name, (long long)i,
                   an[i], fd, amax);
            checked++;
        }
    }
out:
    free(r);
    nk_grad_free(gr);
    nk_plan_free(p);
    return checked;
}

static nk_graph *new_graph(void)
{
    nk_graph *g = NULL;
    CHECK_OK(ctx, nk_graph_new(ctx, &g));
    return g;
}

static void finish(nk_graph *g, int y)
{
    CHECK_OK(ctx, nk_graph_set_outputs(ctx, g, 1, &y));
}

#define FD(what, g, h, tol)                                              \
    do {                                                                 \
        int n_ = fd_check(what, g, h, tol);                              \
        CHECKF(n_ > 0, "%s: nothing checked", what);                     \
        nk_graph_free(g);                                                \
    } while (0)

/* ---- per-op checks ------------------------------------------------------ */

static void conv_case(const char *what, int64_t n, int64_t c, int64_t h,
                      int64_t w, int64_t m, int64_t k, int64_t s,
                      const int64_t *pads, int64_t dil, int64_t group,
                      bool bias, nk_act fused)
{
    nk_graph *g = new_graph();
    int64_t xd[] = {n, c, h, w}, wd[] = {m, c / group, k, k}, bd[] = {m};
    int x = param(g, "x", 4, xd, 0.1f, 1.0f, true);
    int wt = param(g, "w", 4, wd, 0.1f, 0.5f, true);
    int in[3] = {x, wt, bias ? param(g, "b", 1, bd, 0.1f, 0.5f, true) : 0};
    int y = act(g, "y");
    nk_node *nd = node(g, NK_OP_CONV, bias ? 3 : 2, in, y);
    int64_t st[] = {s, s}, dl[] = {dil, dil}, ks[] = {k, k};
    ints(g, nd, "strides", 2, st);
    ints(g, nd, "dilations", 2, dl);
    ints(g, nd, "kernel_shape", 2, ks);
    ints(g, nd, "pads", 4, pads);
    CHECK_OK(ctx, nk_node_set_int(ctx, g, nd, "group", group));
    nd->act = fused;
    nd->act_a0 = 0.0f;
    nd->act_a1 = 0.5f;
    finish(g, y);
    FD(what, g, 1e-3, 2e-2);
}

static void test_conv(void)
{
    int64_t p0[] = {0, 0, 0, 0}, p1[] = {1, 1, 1, 1}, pa[] = {1, 0, 2, 1};
    conv_case("conv 3x3 pad 1 + bias", 2, 3, 6, 5, 4, 3, 1, p1, 1, 1, true,
              NK_ACT_NONE);
    conv_case("conv stride 2, asymmetric pads, dilation 2", 2, 3, 9, 8, 4, 3,
              2, pa, 2, 1, true, NK_ACT_NONE);
    conv_case("conv 1x1 direct", 2, 5, 4, 3, 3, 1, 1, p0, 1, 1, false,
              NK_ACT_NONE);
    conv_case("conv grouped (2 groups)", 2, 4, 5, 5, 6, 3, 1, p1, 1, 2, true,
              NK_ACT_NONE);
    conv_case("conv depthwise stride 2", 2, 4, 7, 6, 4, 3, 2, p1, 1, 4, true,
              NK_ACT_NONE);
    conv_case("conv depthwise dilation 2", 1, 3, 7, 7, 3, 3, 1, pa, 2, 3,
              false, NK_ACT_NONE);
    conv_case("conv + fused relu", 2, 3, 5, 5, 4, 3, 1, p1, 1, 1, true,
              NK_ACT_RELU);
    conv_case("conv + fused clip", 2, 3, 5, 5, 4, 3, 1, p1, 1, 1, true,
              NK_ACT_CLIP);
}

static void bn_case(const char *what, bool frozen)
{
    nk_graph *g = new_graph();
    int64_t xd[] = {3, 4, 3, 2}, cd[] = {4};
    int x = param(g, "x", 4, xd, 0.0f, 2.0f, true);
    int in[5] = {x, param(g, "scale", 1, cd, 0.5f, 1.5f, !frozen),
                 param(g, "bias", 1, cd, 0.1f, 1.0f, !frozen),
                 param(g, "mean", 1, cd, 0.0f, 0.5f, false),
                 param(g, "var", 1, cd, 0.5f, 1.5f, false)};
    float *var = g->tensors[in[4]]->data;
    for (int i = 0; i < 4; i++)
        var[i] = fabsf(var[i]);
    int y = act(g, "y");
    node(g, NK_OP_BATCHNORM, 5, in, y);
    finish(g, y);
    if (!frozen) {
        FD(what, g, 1e-3, 2e-2);
        return;
    }
    /* frozen BN: eval-mode forward and an affine backward */
    CHECK_OK(ctx, nk_graph_infer(ctx, g));
    nk_plan_opts po = {.batch = 1, .threads = 2, .training = 1};
    nk_plan *p = NULL;
    nk_grad *gr = NULL;
    REQUIRE_OK(ctx, nk_plan_create(ctx, g, &po, &p));
    REQUIRE_OK(ctx, nk_grad_create(ctx, p, &gr));
    nk_grad_freeze_bn(gr, 1);
    int64_t n = 3 * 4 * 3 * 2;
    float dy[72];
    for (int i = 0; i < n; i++)
        dy[i] = nk_rng_normal(&rng);
    CHECK_OK(ctx, nk_plan_run(ctx, p));
    CHECK_OK(ctx, nk_grad_backward(ctx, gr, 0, dy));
    const float *dx = nk_grad_of(gr, x);
    const float *sc = g->tensors[in[1]]->data;
    float rv[4], rm[4];
    memcpy(rv, g->tensors[in[4]]->data, sizeof rv);
    memcpy(rm, g->tensors[in[3]]->data, sizeof rm);
    const float *xv = g->tensors[x]->data, *yv = p->vals[y].data;
    const float *bv = g->tensors[in[2]]->data;
    for (int i = 0; i < n; i++) {
        int c = (i / 6) % 4;
        double k = sc[c] / sqrt(rv[c] + 1e-5);
        CHECK_NEAR(dx[i], dy[i] * k, 1e-5);
        CHECK_NEAR(yv[i], (xv[i] - rm[c]) * k + bv[c], 1e-5);
    }
    nk_grad_free(gr);
    nk_plan_free(p);
    nk_graph_free(g);
}

static void test_batchnorm(void)
{
    bn_case("batchnorm train mode", false);
    bn_case("batchnorm frozen (eval mode)", true);
}

/* PyTorch's running statistics: momentum 0.1 (ONNX 0.9), unbiased var. */
static void test_batchnorm_running_stats(void)
{
    nk_graph *g = new_graph();
    int64_t xd[] = {2, 3, 2, 2}, cd[] = {3};
    int x = param(g, "x", 4, xd, 0.0f, 2.0f, false);
    int in[5] = {x, param(g, "s", 1, cd, 1, 1, true),
                 param(g, "b", 1, cd, 0, 0, true),
                 param(g, "m", 1, cd, 0.2f, 0.2f, false),
                 param(g, "v", 1, cd, 1.5f, 1.5f, false)};
    fill(g, in[1], 1.0f);
    fill(g, in[2], 0.0f);
    fill(g, in[3], 0.2f);
    fill(g, in[4], 1.5f);
    int y = act(g, "y");
    nk_node *n = node(g, NK_OP_BATCHNORM, 5, in, y);
    CHECK_OK(ctx, nk_node_set_float(ctx, g, n, "momentum", 0.9f));
    finish(g, y);
    float m0[3], v0[3];
    memcpy(m0, g->tensors[in[3]]->data, sizeof m0);
    memcpy(v0, g->tensors[in[4]]->data, sizeof v0);
    CHECK_OK(ctx, nk_graph_infer(ctx, g));
    nk_plan_opts po = {.batch = 1, .threads = 2, .training = 1};
    nk_plan *p = NULL;
    REQUIRE_OK(ctx, nk_plan_create(ctx, g, &po, &p));
    CHECK_OK(ctx, nk_plan_run(ctx, p));
    const float *xv = g->tensors[x]->data;
    const float *rm = g->tensors[in[3]]->data, *rv = g->tensors[in[4]]->data;
    for (int c = 0; c < 3; c++) {
        double s = 0, sq = 0;
        for (int nn = 0; nn < 2; nn++)
            for (int i = 0; i < 4; i++)
                s += xv[(nn * 3 + c) * 4 + i];
        double mean = s / 8;
        for (int nn = 0; nn < 2; nn++)
            for (int i = 0; i < 4; i++) {
                double d = xv[(nn * 3 + c) * 4 + i] - mean;
                sq += d * d;
            }
        CHECK_NEAR(rm[c], 0.9 * m0[c] + 0.1 * mean, 1e-6);
        CHECK_NEAR(rv[c], 0.9 * v0[c] + 0.1 * sq / 7.0, 1e-6);
    }
    nk_plan_free(p);
    nk_graph_free(g);
}

static void unary_case(nk_op op, float lo, float hi)
{
    nk_graph *g = new_graph();
    int64_t xd[] = {2, 3, 4};
    int x = param(g, "x", 3, xd, lo, hi, true);
    int y = act(g, "y");
    nk_node *n = node(g, op, 1, &x, y);
    if (op == NK_OP_LEAKYRELU)
        CHECK_OK(ctx, nk_node_set_float(ctx, g, n, "alpha", 0.1f));
    if (op == NK_OP_HARDSIGMOID) {
        CHECK_OK(ctx, nk_node_set_float(ctx, g, n, "alpha", 1.0f / 6));
        CHECK_OK(ctx, nk_node_set_float(ctx, g, n, "beta", 0.5f));
    }
    finish(g, y);
    FD(nk_op_name(op), g, 1e-3, 1e-2);
}

static void test_activations(void)
{
    unary_case(NK_OP_RELU, 0.05f, 2.0f);
    unary_case(NK_OP_LEAKYRELU, 0.05f, 2.0f);
    unary_case(NK_OP_SIGMOID, 0.0f, 3.0f);
    unary_case(NK_OP_TANH, 0.0f, 2.0f);
    /* kinks at +-3: values in 0.1..2.9 and 3.1..5 */
    unary_case(NK_OP_HARDSIGMOID, 0.1f, 2.9f);
    unary_case(NK_OP_HARDSIGMOID, 3.1f, 5.0f);
    unary_case(NK_OP_HARDSWISH, 0.1f, 2.9f);
    unary_case(NK_OP_HARDSWISH, 3.1f, 5.0f);
    /* Clip(0, 6) = ReLU6 with the bounds as inputs */
    nk_graph *g = new_graph();
    int64_t xd[] = {3, 8}, one[] = {1};
    int x = param(g, "x", 2, xd, 0.05f, 5.9f, true);
    float *xv = g->tensors[x]->data;
    xv[0] = 6.5f; /* above the upper bound: zero gradient */
    int lo = param(g, "lo", 0, one, 0, 0, false);
    int hi = param(g, "hi", 0, one, 6, 6, false);
    fill(g, hi, 6.0f);
    int in[3] = {x, lo, hi};
    int y = act(g, "y");
    node(g, NK_OP_CLIP, 3, in, y);
    finish(g, y);
    FD("Clip(0, 6)", g, 1e-3, 1e-2);
}

static void binary_case(nk_op op, int ra, const int64_t *da, int rb,
                        const int64_t *db)
{
    char what[128];
    snprintf(what, sizeof what, "%s rank %d x rank %d (broadcast)",
             nk_op_name(op), ra, rb);
    nk_graph *g = new_graph();
    int in[2] = {param(g, "a", ra, da, 0.5f, 1.5f, true),
                 param(g, "b", rb, db, 0.5f, 1.5f, true)};
    int y = act(g, "y");
    node(g, op, 2, in, y);
    finish(g, y);
    FD(what, g, 1e-3, 1e-2);
}

static void test_binary(void)
{
    int64_t full[] = {2, 3, 4, 5}, chan[] = {3, 1, 1}, nc11[] = {2, 3, 1, 1};
    int64_t row[] = {5}, one[] = {1}, mixed[] = {2, 1, 4, 1};
    int64_t other[] = {1, 3, 1, 5};
    nk_op ops[] = {NK_OP_ADD, NK_OP_SUB, NK_OP_MUL, NK_OP_DIV};
    for (int i = 0; i < 4; i++) {
        binary_case(ops[i], 4, full, 4, full);
        binary_case(ops[i], 4, full, 3, chan);
        binary_case(ops[i], 4, nc11, 4, full);
        binary_case(ops[i], 4, full, 1, row);
        binary_case(ops[i], 0, one, 4, full);
        binary_case(ops[i], 4, mixed, 4, other);
    }
}

static void test_matmul_gemm(void)
{
    /* MatMul with broadcast batch dims */
    nk_graph *g = new_graph();
    int64_t ad[] = {2, 3, 4, 5}, bd[] = {5, 6};
    int in[2] = {param(g, "a", 4, ad, 0.1f, 1, true),
                 param(g, "b", 2, bd, 0.1f, 1, true)};
    int y = act(g, "y");
    node(g, NK_OP_MATMUL, 2, in, y);
    finish(g, y);
    FD("MatMul [2,3,4,5] x [5,6]", g, 1e-3, 1e-2);

    g = new_graph();
    int64_t ad2[] = {2, 1, 3, 4}, bd2[] = {3, 4, 2};
    int in2[2] = {param(g, "a", 4, ad2, 0.1f, 1, true),
                  param(g, "b", 3, bd2, 0.1f, 1, true)};
    y = act(g, "y");
    node(g, NK_OP_MATMUL, 2, in2, y);
    finish(g, y);
    FD("MatMul [2,1,3,4] x [3,4,2]", g, 1e-3, 1e-2);

    /* Gemm, all transpositions, alpha/beta, broadcast C */
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int cm = 0; cm < 3; cm++) {
                int64_t m = 3, n = 5, k = 4;
                int64_t a_d[] = {ta ? k : m, ta ? m : k};
                int64_t b_d[] = {tb ? n : k, tb ? k : n};
                int64_t c1[] = {n}, c2[] = {m, 1}, c3[] = {m, n};
                g = new_graph();
                int gi[3] = {param(g, "a", 2, a_d, 0.1f, 1, true),
                             param(g, "b", 2, b_d, 0.1f, 1, true),
                             cm == 0   ? param(g, "c", 1, c1, 0.1f, 1, true)
                             : cm == 1 ? param(g, "c", 2, c2, 0.1f, 1, true)
                                       : param(g, "c", 2, c3, 0.1f, 1, true)};
                y = act(g, "y");
                nk_node *nd = node(g, NK_OP_GEMM, 3, gi, y);
                CHECK_OK(ctx, nk_node_set_int(ctx, g, nd, "transA", ta));
                CHECK_OK(ctx, nk_node_set_int(ctx, g, nd, "transB", tb));
                CHECK_OK(ctx, nk_node_set_float(ctx, g, nd, "alpha", 0.7f));
                CHECK_OK(ctx, nk_node_set_float(ctx, g, nd, "beta", 1.3f));
                finish(g, y);
                char what[64];
                snprintf(what, sizeof what, "Gemm transA %d transB %d C %d",
                         ta, tb, cm);
                FD(what, g, 1e-3, 1e-2);
            }
}

static void pool_case(const char *what, nk_op op, int64_t k, int64_t s,
                      const int64_t *pads, int ceil, int cip)
{
    nk_graph *g = new_graph();
    int64_t xd[] = {2, 3, 7, 6};
    int x = param(g, "x", 4, xd, 0.0f, 2.0f, true);
    int y = act(g, "y");
    nk_node *n = node(g, op, 1, &x, y);
    if (op != NK_OP_GLOBALAVGPOOL) {
        int64_t ks[] = {k, k}, st[] = {s, s};
        ints(g, n, "kernel_shape", 2, ks);
        ints(g, n, "strides", 2, st);
        ints(g, n, "pads", 4, pads);
        CHECK_OK(ctx, nk_node_set_int(ctx, g, n, "ceil_mode", ceil));
        if (op == NK_OP_AVGPOOL)
            CHECK_OK(ctx, nk_node_set_int(ctx, g, n, "count_include_pad",
                                          cip));
    }
    finish(g, y);
    FD(what, g, 1e-4, 1e-2);
}

static void test_pools(void)
{
    int64_t p1[] = {1, 1, 1, 1}, p0[] = {0, 0, 0, 0};
    pool_case("MaxPool 3x3 s2 p1", NK_OP_MAXPOOL, 3, 2, p1, 0, 0);
    pool_case("MaxPool 2x2 s2 ceil", NK_OP_MAXPOOL, 2, 2, p0, 1, 0);
    pool_case("AveragePool 3x3 s2 p1", NK_OP_AVGPOOL, 3, 2, p1, 0, 0);
    pool_case("AveragePool count_include_pad", NK_OP_AVGPOOL, 3, 2, p1, 0,
              1);
    pool_case("AveragePool 2x2 ceil", NK_OP_AVGPOOL, 2, 2, p0, 1, 0);
    pool_case("GlobalAveragePool", NK_OP_GLOBALAVGPOOL, 0, 0, p0, 0, 0);
}

static void test_shape_ops(void)
{
    int64_t xd[] = {2, 3, 4}, sd[] = {2};
    nk_graph *g = new_graph();
    int x = param(g, "x", 3, xd, 0.1f, 1, true);
    int y = act(g, "y");
    nk_node *n = node(g, NK_OP_FLATTEN, 1, &x, y);
    CHECK_OK(ctx, nk_node_set_int(ctx, g, n, "axis", 1));
    finish(g, y);
    FD("Flatten", g, 1e-3, 1e-2);

    g = new_graph();
    x = param(g, "x", 3, xd, 0.1f, 1, true);
    int shp = -1;
    nk_shape ss = nk_shape_make(1, sd);
    CHECK_OK(ctx, nk_graph_add_init(ctx, g, "shape", NK_I64, &ss, &shp));
    int64_t *sv = g->tensors[shp]->data;
    sv[0] = 4;
    sv[1] = -1;
    int rin[2] = {x, shp};
    y = act(g, "y");
    node(g, NK_OP_RESHAPE, 2, rin, y);
    finish(g, y);
    FD("Reshape", g, 1e-3, 1e-2);

    g = new_graph();
    x = param(g, "x", 3, xd, 0.1f, 1, true);
    y = act(g, "y");
    node(g, NK_OP_IDENTITY, 1, &x, y);
    finish(g, y);
    FD("Identity", g, 1e-3, 1e-2);

    g = new_graph();
    x = param(g, "x", 3, xd, 0.1f, 1, true);
    y = act(g, "y");
    n = node(g, NK_OP_TRANSPOSE, 1, &x, y);
    int64_t perm[] = {1, 2, 0};
    ints(g, n, "perm", 3, perm);
    finish(g, y);
    FD("Transpose", g, 1e-3, 1e-2);

    g = new_graph();
    int64_t ad[] = {2, 2, 4};
    int cin[3] = {param(g, "a", 3, xd, 0.1f, 1, true),
                  param(g, "b", 3, ad, 0.1f, 1, true), 0};
    cin[2] = cin[0]; /* the same tensor twice: gradients add up */
    y = act(g, "y");
    n = node(g, NK_OP_CONCAT, 3, cin, y);
    CHECK_OK(ctx, nk_node_set_int(ctx, g, n, "axis", 1));
    finish(g, y);
    FD("Concat (an input used twice)", g, 1e-3, 1e-2);

    const char *modes[] = {"constant", "reflect", "edge"};
    for (int m = 0; m < 3; m++) {
        g = new_graph();
        x = param(g, "x", 3, xd, 0.1f, 1, true);
        y = act(g, "y");
        n = node(g, NK_OP_PAD, 1, &x, y);
        int64_t pads[] = {0, 1, 2, 1, 2, 1};
        ints(g, n, "pads", 6, pads);
        CHECK_OK(ctx, nk_node_set_string(ctx, g, n, "mode", modes[m]));
        finish(g, y);
        char what[64];
        snprintf(what, sizeof what, "Pad %s", modes[m]);
        FD(what, g, 1e-3, 1e-2);
    }

    g = new_graph();
    x = param(g, "x", 3, xd, 0.1f, 2, true);
    y = act(g, "y");
    n = node(g, NK_OP_SOFTMAX, 1, &x, y);
    CHECK_OK(ctx, nk_node_set_int(ctx, g, n, "axis", 1));
    finish(g, y);
    FD("Softmax axis 1", g, 1e-3, 1e-2);
}

/* Dropout's backward replays the forward's mask: dx = dy * y / x. */
static void test_dropout(void)
{
    nk_graph *g = new_graph();
    int64_t xd[] = {4, 50}, one[] = {1};
    int x = param(g, "x", 2, xd, 0.5f, 1, true);
    int ratio = param(g, "ratio", 0, one, 0.3f, 0.3f, false);
    *(float *)g->tensors[ratio]->data = 0.3f;
    int in[2] = {x, ratio};
    int y = act(g, "y");
    nk_node *n = node(g, NK_OP_DROPOUT, 2, in, y);
    CHECK_OK(ctx, nk_node_set_int(ctx, g, n, "seed", 5));
    finish(g, y);
    CHECK_OK(ctx, nk_graph_infer(ctx, g));
    nk_plan_opts po = {.batch = 1, .threads = 2, .training = 1};
    nk_plan *p = NULL;
    nk_grad *gr = NULL;
    REQUIRE_OK(ctx, nk_plan_create(ctx, g, &po, &p));
    REQUIRE_OK(ctx, nk_grad_create(ctx, p, &gr));
    float dy[200];
    for (int rep = 0; rep < 2; rep++) { /* a fresh mask each run */
        for (int i = 0; i < 200; i++)
            dy[i] = nk_rng_normal(&rng);
        CHECK_OK(ctx, nk_plan_run(ctx, p));
        CHECK_OK(ctx, nk_grad_backward(ctx, gr, 0, dy));
        const float *dx = nk_grad_of(gr, x), *xv = g->tensors[x]->data;
        const float *yv = p->vals[y].data;
        int zeros = 0;
        for (int i = 0; i < 200; i++) {
            CHECK_NEAR(dx[i], dy[i] * yv[i] / xv[i], 1e-5);
            zeros += yv[i] == 0.0f;
        }
        CHECKF(zeros > 30 && zeros < 90, "%d of 200 dropped at ratio 0.3",
               zeros);
    }
    nk_grad_free(gr);
    nk_plan_free(p);
    nk_graph_free(g);
}

/* Fan-out: x feeds Mul and Add, and Add(x, x): gradients accumulate. */
static void test_accumulation(void)
{
    nk_graph *g = new_graph();
    int64_t xd[] = {2, 3, 4, 4}, cd[] = {3, 1, 1};
    int x = param(g, "x", 4, xd, 0.2f, 1, true);
    int w = param(g, "w", 3, cd, 0.2f, 1, true);
    int h1 = act(g, "h1"), h2 = act(g, "h2"), h3 = act(g, "h3");
    int y = act(g, "y");
    int m[2] = {x, w};
    node(g, NK_OP_MUL, 2, m, h1);
    node(g, NK_OP_SIGMOID, 1, &h1, h2);
    int xx[2] = {x, x};
    node(g, NK_OP_ADD, 2, xx, h3);
    int a[2] = {h2, h3};
    node(g, NK_OP_MUL, 2, a, y);
    finish(g, y);
    FD("fan-out and Add(x, x)", g, 1e-3, 1e-2);
}

/* ---- cross-entropy and freezing ----------------------------------------- */

/* conv1 -> relu -> conv2 -> gap -> flatten -> fc; which parameters are
 * trainable is set by the caller. */
static nk_graph *tiny_net(bool t1, bool t2, bool tfc, int *fcw)
{
    nk_graph *g = new_graph();
    int64_t xd[] = {3, 2, 6, 6}, w1[] = {4, 2, 3, 3}, w2[] = {5, 4, 3, 3};
    int64_t fw[] = {3, 5}, fb[] = {3}, b5[] = {5}, b4[] = {4};
    int x = param(g, "x", 4, xd, 0.0f, 1.0f, false);
    int c1[3] = {x, param(g, "conv1.weight", 4, w1, 0.1f, 0.5f, t1),
                 param(g, "conv1.bias", 1, b4, 0.0f, 0.2f, t1)};
    int h1 = act(g, "h1"), h2 = act(g, "h2"), h3 = act(g, "h3");
    int h4 = act(g, "h4"), h5 = act(g, "h5"), y = act(g, "logits");
    int64_t p1[] = {1, 1, 1, 1};
    ints(g, node(g, NK_OP_CONV, 3, c1, h1), "pads", 4, p1);
    node(g, NK_OP_RELU, 1, &h1, h2);
    int c2[3] = {h2, param(g, "conv2.weight", 4, w2, 0.1f, 0.5f, t2),
                 param(g, "conv2.bias", 1, b5, 0.0f, 0.2f, t2)};
    node(g, NK_OP_CONV, 3, c2, h3);
    node(g, NK_OP_GLOBALAVGPOOL, 1, &h3, h4);
    node(g, NK_OP_FLATTEN, 1, &h4, h5);
    int f[3] = {h5, param(g, "fc.weight", 2, fw, 0.1f, 1.0f, tfc),
                param(g, "fc.bias", 1, fb, 0.0f, 0.2f, tfc)};
    *fcw = f[1];
    nk_node *n = node(g, NK_OP_GEMM, 3, f, y);
    CHECK_OK(ctx, nk_node_set_int(ctx, g, n, "transB", 1));
    finish(g, y);
    CHECK_OK(ctx, nk_graph_infer(ctx, g));
    return g;
}

static void test_cross_entropy(void)
{
    int fcw;
    nk_graph *g = tiny_net(true, true, true, &fcw);
    nk_plan_opts po = {.batch = 1, .threads = 2, .training = 1};
    nk_plan *p = NULL;
    nk_grad *gr = NULL;
    REQUIRE_OK(ctx, nk_plan_create(ctx, g, &po, &p));
    REQUIRE_OK(ctx, nk_grad_create(ctx, p, &gr));
    int64_t labels[3] = {2, 0, 1};
    float loss = 0;
    int correct = -1;
    CHECK_OK(ctx, nk_plan_run(ctx, p));
    CHECK_OK(ctx, nk_grad_backward_ce(ctx, gr, 0, labels, &loss, &correct));
    /* loss and accuracy by hand from the logits */
    const float *z = nk_tensor_data(nk_plan_output(p, 0));
    double want = 0;
    int right = 0;
    for (int i = 0; i < 3; i++) {
        double m = fmax(z[i * 3], fmax(z[i * 3 + 1], z[i * 3 + 2]));
        double s = 0;
        int best = 0;
        for (int j = 0; j < 3; j++) {
            s += exp(z[i * 3 + j] - m);
            if (z[i * 3 + j] > z[i * 3 + best])
                best = j;
        }
        want += m + log(s) - z[i * 3 + labels[i]];
        right += best == labels[i];
    }
    CHECK_NEAR(loss, want / 3, 1e-5);
    CHECK(correct == right);
    /* gradients against finite differences of the loss */
    for (int t = 0; t < g->n_tensors; t++) {
        nk_tensor *v = g->tensors[t];
        if (!v->is_init || !v->trainable)
            continue;
        const float *an = nk_grad_of(gr, t);
        REQUIRE(an);
        float *d = v->data;
        int64_t n = nk_shape_numel(&v->shape);
        for (int64_t i = 0; i < n; i += n > 8 ? n / 8 : 1) {
            float keep = d[i];
            float lp, lm;
            d[i] = keep + 1e-3f;
            CHECK_OK(ctx, nk_plan_run(ctx, p));
            CHECK_OK(ctx, nk_grad_backward_ce(ctx, gr, 0, labels, &lp, NULL));
            d[i] = keep - 1e-3f;
            CHECK_OK(ctx, nk_plan_run(ctx, p));
            CHECK_OK(ctx, nk_grad_backward_ce(ctx, gr, 0, labels, &lm, NULL));
            d[i] = keep;
            double fd = ((double)lp - lm) / 2e-3;
            CHECK_OK(ctx, nk_plan_run(ctx, p));
            CHECK_OK(ctx, nk_grad_backward_ce(ctx, gr, 0, labels, NULL, NULL));
            CHECKF(fabs(fd - an[i]) < 2e-3, "d loss/d %s[%lld]: %g vs fd %g",
                   v->name, (long long)i, an[i], fd);
        }
    }
    int64_t bad[3] = {0, 3, 1};
    CHECK(nk_grad_backward_ce(ctx, gr, 0, bad, NULL, NULL) == NK_INVALID_ARG);
    CHECK(strstr(nk_errmsg(ctx), "label 3") != NULL);
    nk_grad_free(gr);
    nk_plan_free(p);
    nk_graph_free(g);
}

static void grads_of(bool t1, bool t2, int *steps, float fc[15],
                     bool *conv1_null)
{
    int fcw;
    nk_rng_seed(&rng, 99);
    nk_graph *g = tiny_net(t1, t2, true, &fcw);
    nk_plan_opts po = {.batch = 1, .threads = 2, .training = 1};
    nk_plan *p = NULL;
    nk_grad *gr = NULL;
    REQUIRE_OK(ctx, nk_plan_create(ctx, g, &po, &p));
    REQUIRE_OK(ctx, nk_grad_create(ctx, p, &gr));
    int64_t labels[3] = {1, 1, 0};
    CHECK_OK(ctx, nk_plan_run(ctx, p));
    CHECK_OK(ctx, nk_grad_backward_ce(ctx, gr, 0, labels, NULL, NULL));
    *steps = nk_grad_num_steps(gr);
    memcpy(fc, nk_grad_of(gr, fcw), 15 * sizeof(float));
    *conv1_null =
        nk_grad_of(gr, nk_graph_find_tensor(g, "conv1.weight")) == NULL;
    nk_grad_free(gr);
    nk_plan_free(p);
    nk_graph_free(g);
}

static void test_freezing(void)
{
    int s_all, s_head, s_mid;
    float fc_all[15], fc_head[15], fc_mid[15];
    bool n_all, n_head, n_mid;
    grads_of(true, true, &s_all, fc_all, &n_all);
    grads_of(false, false, &s_head, fc_head, &n_head);
    grads_of(false, true, &s_mid, fc_mid, &n_mid);
    /* all: fc flatten gap conv2 relu conv1; head: fc only; conv2 and
     * above: the frozen conv1/relu prefix is skipped */
    CHECKF(s_all == 6, "all trainable: %d backward steps, expected 6", s_all);
    CHECKF(s_head == 1, "head only: %d backward steps, expected 1", s_head);
    CHECKF(s_mid == 4, "conv2 + head: %d backward steps, expected 4", s_mid);
    CHECK(!n_all && n_head && n_mid);
    for (int i = 0; i < 15; i++) {
        CHECK_NEAR(fc_head[i], fc_all[i], 1e-6);
        CHECK_NEAR(fc_mid[i], fc_all[i], 1e-6);
    }
}

/* ---- optimisers and schedules ------------------------------------------- */

/* W [4] -> y = W * 1: dL/dW = dy. Three steps with fixed gradients; the
 * expected parameters are what torch.optim computed (PyTorch 1.13). */
static void optim_case(const char *what, nk_optim_opts o, const float *want)
{
    static const float p0[4] = {0.5f, -1.0f, 2.0f, 0.1f};
    static const float gs[3][4] = {{0.1f, -0.2f, 0.3f, -0.4f},
                                   {0.05f, 0.5f, -0.1f, 0.2f},
                                   {-0.3f, 0.1f, 0.2f, 0.0f}};
    nk_graph *g = new_graph();
    int64_t d[] = {4};
    int w = param(g, "w", 1, d, 1, 1, true);
    int one = param(g, "one", 1, d, 1, 1, false);
    memcpy(g->tensors[w]->data, p0, sizeof p0);
    fill(g, one, 1.0f);
    int in[2] = {w, one}, y = act(g, "y");
    node(g, NK_OP_MUL, 2, in, y);
    finish(g, y);
    CHECK_OK(ctx, nk_graph_infer(ctx, g));
    nk_plan_opts po = {.batch = 1, .threads = 2, .training = 1};
    nk_plan *p = NULL;
    nk_grad *gr = NULL;
    nk_optim *opt = NULL, *opt2 = NULL;
    REQUIRE_OK(ctx, nk_plan_create(ctx, g, &po, &p));
    REQUIRE_OK(ctx, nk_grad_create(ctx, p, &gr));
    REQUIRE_OK(ctx, nk_optim_create(ctx, g, &o, &opt));
    float *pw = g->tensors[w]->data;
    for (int s = 0; s < 3; s++) {
        CHECK_OK(ctx, nk_plan_run(ctx, p));
        CHECK_OK(ctx, nk_grad_backward(ctx, gr, 0, gs[s]));
        if (s == 2) {
            /* resume: a second optimiser restored from the first */
            REQUIRE_OK(ctx, nk_optim_create(ctx, g, &o, &opt2));
            CHECK(nk_optim_state_count(opt2) == nk_optim_state_count(opt));
            for (int i = 0; i < nk_optim_state_count(opt); i++) {
                const char *n1, *n2;
                float *d1, *d2;
                int64_t c1, c2;
                CHECK_OK(ctx, nk_optim_state_at(opt, i, &n1, &d1, &c1));
                CHECK_OK(ctx, nk_optim_state_at(opt2, i, &n2, &d2, &c2));
                CHECK(strcmp(n1, n2) == 0 && c1 == c2 && c1 == 4);
                CHECK(strncmp(n1, "w.", 2) == 0);
                memcpy(d2, d1, sizeof(float) * (size_t)c1);
            }
            nk_optim_set_step_count(opt2, nk_optim_step_count(opt));
            nk_optim_step(opt2, gr, o.lr);
        } else {
            nk_optim_step(opt, gr, o.lr);
        }
    }
    for (int i = 0; i < 4; i++)
        CHECKF(fabsf(pw[i] - want[i]) <= 2e-7f * (1 + fabsf(want[i])),
               "%s: w[%d] = %.9g, torch %.9g", what, i, pw[i], want[i]);
    CHECK(nk_optim_state_at(opt, 99, NULL, NULL, NULL) == NK_NOT_FOUND);
    nk_optim_free(opt);
    nk_optim_free(opt2);
    nk_grad_free(gr);
    nk_plan_free(p);
    nk_graph_free(g);
}

static void test_optimizers(void)
{
    static const float sgd_damp[4] = {0.488730341f, -1.03501201f,
                                      1.90726304f, 0.173547849f};
    static const float sgd_nest[4] = {0.505163431f, -1.07771027f,
                                      1.87013245f, 0.182217062f};
    static const float sgd_plain[4] = {0.515000045f, -1.03999996f,
                                       1.96000004f, 0.119999997f};
    static const float adam[4] = {0.483841896f, -0.998470187f, 1.97874558f,
                                  0.114651181f};
    static const float adamw[4] = {0.482681274f, -0.995968521f, 1.973997f,
                                   0.114399821f};
    optim_case("SGD momentum 0.9 dampening 0.1 wd 0.01",
               (nk_optim_opts){.kind = NK_OPTIM_SGD, .lr = 0.1f,
                               .momentum = 0.9f, .dampening = 0.1f,
                               .weight_decay = 0.01f},
               sgd_damp);
    optim_case("SGD nesterov",
               (nk_optim_opts){.kind = NK_OPTIM_SGD, .lr = 0.1f,
                               .momentum = 0.9f, .nesterov = 1,
                               .weight_decay = 0.01f},
               sgd_nest);
    optim_case("SGD plain", (nk_optim_opts){.kind = NK_OPTIM_SGD, .lr = 0.1f},
               sgd_plain);
    optim_case("Adam wd 0.01",
               (nk_optim_opts){.kind = NK_OPTIM_ADAM, .lr = 0.01f,
                               .weight_decay = 0.01f},
               adam);
    optim_case("AdamW wd 0.1",
               (nk_optim_opts){.kind = NK_OPTIM_ADAMW, .lr = 0.01f,
                               .weight_decay = 0.1f},
               adamw);
    /* bad hyper-parameters are refused with a message */
    nk_graph *g = new_graph();
    nk_optim *o = NULL;
    nk_optim_opts bad = {.kind = NK_OPTIM_SGD, .lr = 0.1f, .nesterov = 1};
    CHECK(nk_optim_create(ctx, g, &bad, &o) == NK_INVALID_ARG);
    CHECK(strstr(nk_errmsg(ctx), "nesterov") != NULL);
    bad = (nk_optim_opts){.kind = NK_OPTIM_ADAM, .lr = 0.1f, .beta1 = 1.5f};
    CHECK(nk_optim_create(ctx, g, &bad, &o) == NK_INVALID_ARG);
    nk_graph_free(g);
}

static void test_schedules(void)
{
    nk_lr_sched c = {.kind = NK_LR_CONSTANT, .base_lr = 0.1f};
    CHECK_NEAR(nk_lr_at(&c, 0), 0.1, 1e-7);
    CHECK_NEAR(nk_lr_at(&c, 1000), 0.1, 1e-7);
    nk_lr_sched s = {.kind = NK_LR_STEP, .base_lr = 0.1f, .step_size = 3,
                     .gamma = 0.5f};
    CHECK_NEAR(nk_lr_at(&s, 2), 0.1, 1e-7);
    CHECK_NEAR(nk_lr_at(&s, 3), 0.05, 1e-7);
    CHECK_NEAR(nk_lr_at(&s, 7), 0.025, 1e-7);
    nk_lr_sched k = {.kind = NK_LR_COSINE, .base_lr = 0.1f, .total = 10,
                     .min_lr = 0.001f};
    CHECK_NEAR(nk_lr_at(&k, 0), 0.1, 1e-7);
    CHECK_NEAR(nk_lr_at(&k, 5), 0.001 + 0.099 * 0.5, 1e-7);
    CHECK_NEAR(nk_lr_at(&k, 10), 0.001, 1e-7);
    CHECK_NEAR(nk_lr_at(&k, 50), 0.001, 1e-7);
    /* warm-up: 0.025, 0.05, 0.075, 0.1, then cosine over 6 steps */
    k.warmup = 4;
    CHECK_NEAR(nk_lr_at(&k, 0), 0.025, 1e-7);
    CHECK_NEAR(nk_lr_at(&k, 3), 0.1, 1e-7);
    CHECK_NEAR(nk_lr_at(&k, 4), 0.1, 1e-7);
    CHECK_NEAR(nk_lr_at(&k, 7), 0.001 + 0.099 * 0.5, 1e-7);
    CHECK(nk_lr_at(&k, 5) < nk_lr_at(&k, 4));
}

static void test_errors(void)
{
    int fcw;
    nk_graph *g = tiny_net(true, true, true, &fcw);
    nk_plan *p = NULL;
    nk_grad *gr = NULL;
    REQUIRE_OK(ctx, nk_plan_create(ctx, g, NULL, &p));
    CHECK(nk_grad_create(ctx, p, &gr) == NK_INVALID_ARG);
    CHECK(strstr(nk_errmsg(ctx), "training") != NULL);
    nk_plan_free(p);
    /* a fused HardSwish cannot be differentiated from its output */
    g->nodes[0].act = NK_ACT_HARDSWISH;
    nk_plan_opts po = {.training = 1};
    REQUIRE_OK(ctx, nk_plan_create(ctx, g, &po, &p));
    CHECK(nk_grad_create(ctx, p, &gr) == NK_UNSUPPORTED);
    CHECK(strstr(nk_errmsg(ctx), "hardswish") != NULL);
    nk_plan_free(p);
    nk_graph_free(g);
}

/* ---- gradient parity driver --------------------------------------------- */

static nk_status save_f32(const char *dir, const char *name, const float *d,
                          const nk_shape *s)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    nk_tensor *t = NULL;
    int64_t one = 1;
    nk_status st = nk_tensor_new(ctx, NK_F32, s ? s->rank : 1,
                                 s ? s->d : &one, &t);
    if (st)
        return st;
    memcpy(nk_tensor_data(t), d, nk_tensor_nbytes(t));
    st = nk_npy_save(ctx, t, path);
    nk_tensor_free(t);
    return st;
}

/*
 * test-backward --grad-parity ARCH CLASSES MODEL.pth INPUT.npy LABELS.npy
 *               OUTDIR LR MOMENTUM WD
 * One SGD step on one batch in train mode (Dropout ratios set to 0), then
 * the forward and loss of a second: OUTDIR/loss1.npy, grad/<param>.npy,
 * param/<name>.npy (parameters and BN running statistics after step 1),
 * loss2.npy.
 */
static int grad_parity(char **a)
{
    nk_graph *g = NULL;
    nk_plan *p = NULL;
    nk_grad *gr = NULL;
    nk_optim *opt = NULL;
    nk_tensor *x = NULL, *lab = NULL;
    nk_status st;
    nk_zoo_opts zo = {.classes = atoi(a[1])};
    char dir[1024];
#define TRY(call)                                                        \
    do {                                                                 \
        if ((st = (call)) != NK_OK) {                                    \
            fprintf(stderr, "%s: %s\n", #call, nk_errmsg(ctx));          \
            goto out;                                                    \
        }                                                                \
    } while (0)
    TRY(nk_zoo_create(ctx, a[0], &zo, &g));
    TRY(nk_graph_load_pth(ctx, g, a[2], 1, NULL));
    TRY(nk_npy_load(ctx, a[3], &x));
    TRY(nk_npy_load(ctx, a[4], &lab));
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == NK_OP_DROPOUT && g->nodes[i].n_in > 1)
            *(float *)g->tensors[g->nodes[i].in[1]]->data = 0.0f;
    TRY(nk_graph_own_params(ctx, g));
    /* The zoo graph's input is [batch, 3, 224, 224]; the CNNs end in a
     * global pool, so the plan may bind another spatial size: shapes of
     * every activation are re-inferred from the input's at plan time. */
    nk_tensor *gin = g->tensors[g->inputs[0]];
    if (nk_tensor_rank(x) == 4 && gin->shape.rank == 4) {
        gin->shape.d[2] = nk_tensor_dim(x, 2);
        gin->shape.d[3] = nk_tensor_dim(x, 3);
    }
    nk_plan_opts po = {.batch = nk_tensor_dim(x, 0), .training = 1};
    TRY(nk_plan_create(ctx, g, &po, &p));
    TRY(nk_grad_create(ctx, p, &gr));
    nk_optim_opts oo = {.kind = NK_OPTIM_SGD, .lr = (float)atof(a[6]),
                        .momentum = (float)atof(a[7]),
                        .weight_decay = (float)atof(a[8])};
    TRY(nk_optim_create(ctx, g, &oo, &opt));
    nk_tensor *in = nk_plan_input(p, 0);
    if (nk_tensor_nbytes(in) != nk_tensor_nbytes(x)) {
        fprintf(stderr, "input has %zu bytes, the plan wants %zu\n",
                nk_tensor_nbytes(x), nk_tensor_nbytes(in));
        st = NK_SHAPE;
        goto out;
    }
    snprintf(dir, sizeof dir, "%s/grad", a[5]);
    mkdir(a[5], 0777);
    mkdir(dir, 0777);
    for (int step = 1; step <= 2; step++) {
        memcpy(nk_tensor_data(in), nk_tensor_data(x), nk_tensor_nbytes(x));
        float loss;
        TRY(nk_plan_run(ctx, p));
        TRY(nk_grad_backward_ce(ctx, gr, 0, nk_tensor_data(lab), &loss,
                                NULL));
        char name[32];
        snprintf(name, sizeof name, "loss%d", step);
        TRY(save_f32(a[5], name, &loss, NULL));
        if (step == 1)
            for (int i = 0; i < nk_grad_num_params(gr); i++) {
                int t = nk_grad_param_index(gr, i);
                TRY(save_f32(dir, g->tensors[t]->name, nk_grad_of(gr, t),
                             &g->tensors[t]->shape));
            }
        nk_optim_step(opt, gr, oo.lr);
        if (step == 2)
            break;
        snprintf(dir, sizeof dir, "%s/param", a[5]);
        mkdir(dir, 0777);
        for (int t = 0; t < g->n_tensors; t++) {
            const nk_tensor *v = g->tensors[t];
            if (v->is_init && v->dtype == NK_F32 && !strstr(v->name, "::"))
                TRY(save_f32(dir, v->name, v->data, &v->shape));
        }
        snprintf(dir, sizeof dir, "%s/grad", a[5]);
    }
out:
    nk_optim_free(opt);
    nk_grad_free(gr);
    nk_plan_free(p);
    nk_graph_free(g);
    nk_tensor_free(x);
    nk_tensor_free(lab);
    return st == NK_OK ? 0 : 1;
#undef TRY
}

static const nk_test_case cases[] = {
    T(test_conv),         T(test_batchnorm),
    T(test_batchnorm_running_stats),
    T(test_activations),  T(test_binary),
    T(test_matmul_gemm),  T(test_pools),
    T(test_shape_ops),    T(test_dropout),
    T(test_accumulation), T(test_cross_entropy),
    T(test_freezing),     T(test_optimizers),
    T(test_schedules),    T(test_errors),
};

int main(int argc, char **argv)
{
    if (nk_ctx_new(&ctx) != NK_OK)
        return 1;
    nk_rng_seed(&rng, 2024);
    int rc;
    if (argc == 11 && strcmp(argv[1], "--grad-parity") == 0)
        rc = grad_parity(argv + 2);
    else
        rc = nk_test_main(argc, argv, cases,
                          (int)(sizeof cases / sizeof cases[0]));
    nk_ctx_free(ctx);
    return rc;
}
