/*
 * test-layout.c — the planner's layout choice (engine/plan-layout.c): a
 * small MobileNet-like graph (stem conv on the NCHW input, depthwise,
 * pointwise, a residual Add, squeeze-excite, a 4-D graph output that is
 * also read further on, and a Gemm head) planned with the fast kernels
 * gives the reference plan's outputs; the plan keeps values in NCHW8c
 * between blocked kernels, converts at the edges only, and
 * NNKIT_LAYOUT=nchw turns the blocked layout off.
 */
#include "engine/kernels/blocked.h"
#include "engine/plan.h"
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static nk_rng rng;

/* Setup that must work (helpers return values, so no REQUIRE). */
#define MUST(ctx, call)                                                  \
    do {                                                                 \
        nk_status st_ = (call);                                          \
        if (st_ != NK_OK) {                                              \
            nk_t_fail(__FILE__, __LINE__, "%s: %s", #call,               \
                      nk_errmsg(ctx));                                   \
            exit(1);                                                     \
        }                                                                \
    } while (0)

static int add_init(nk_ctx *ctx, nk_graph *g, const char *name, int rank,
                    const int64_t *d, float scale)
{
    nk_shape s = nk_shape_make(rank, d);
    int t;
    MUST(ctx, nk_graph_add_init(ctx, g, name, NK_F32, &s, &t));
    float *p = g->tensors[t]->data;
    for (int64_t i = 0; i < nk_shape_numel(&s); i++)
        p[i] = nk_rng_normal(&rng) * scale;
    return t;
}

static int add_val(nk_ctx *ctx, nk_graph *g, const char *name)
{
    nk_shape s = nk_shape_make(0, NULL);
    int t;
    MUST(ctx, nk_graph_add_tensor(ctx, g, name, NK_F32, &s, &t));
    return t;
}

static nk_node *conv(nk_ctx *ctx, nk_graph *g, const char *name, int x,
                     int w, int b, int k, int stride, int group, int y)
{
    int in[3] = {x, w, b};
    nk_node *n;
    MUST(ctx, nk_graph_add_node(ctx, g, NK_OP_CONV, name, 3, in, 1,
                                      &y, &n));
    int64_t ks[2] = {k, k}, ss[2] = {stride, stride};
    int64_t pad = k / 2, ps[4] = {pad, pad, pad, pad};
    MUST(ctx, nk_node_set_ints(ctx, g, n, "kernel_shape", 2, ks));
    MUST(ctx, nk_node_set_ints(ctx, g, n, "strides", 2, ss));
    MUST(ctx, nk_node_set_ints(ctx, g, n, "pads", 4, ps));
    MUST(ctx, nk_node_set_int(ctx, g, n, "group", group));
    return n;
}

static void unary(nk_ctx *ctx, nk_graph *g, nk_op op, const char *name,
                  int x, int y)
{
    nk_node *n;
    MUST(ctx, nk_graph_add_node(ctx, g, op, name, 1, &x, 1, &y, &n));
}

static void binary(nk_ctx *ctx, nk_graph *g, nk_op op, const char *name,
                   int a, int b, int y)
{
    int in[2] = {a, b};
    nk_node *n;
    MUST(ctx, nk_graph_add_node(ctx, g, op, name, 2, in, 1, &y, &n));
}

/* x[N,3,15,13] -> stem 3x3/2 +relu (r1, also a graph output) -> dw 3x3
 * +hardswish -> pw 1x1 (e); r1 -> pw 1x1 (f); s = e + f; SE: gap(s) ->
 * 1x1 conv +hardsigmoid -> m = s * se (graph output); gap -> flatten ->
 * gemm (graph output). */
static nk_graph *build(nk_ctx *ctx)
{
    nk_graph *g;
    MUST(ctx, nk_graph_new(ctx, &g));
    nk_rng_seed(&rng, 21);
    int64_t xd[4] = {-1, 3, 15, 13};
    nk_shape xs = nk_shape_make(4, xd);
    xs.sym[0] = "N";
    int x;
    MUST(ctx, nk_graph_add_tensor(ctx, g, "x", NK_F32, &xs, &x));
    int64_t w1[4] = {20, 3, 3, 3}, b20[1] = {20}, wd[4] = {20, 1, 3, 3};
    int64_t w3[4] = {24, 20, 1, 1}, b24[1] = {24}, w5[4] = {24, 24, 1, 1};
    int64_t wg[2] = {10, 24}, b10[1] = {10};
    int W1 = add_init(ctx, g, "w1", 4, w1, 0.3f);
    int B1 = add_init(ctx, g, "b1", 1, b20, 0.1f);
    int WD = add_init(ctx, g, "wd", 4, wd, 0.3f);
    int BD = add_init(ctx, g, "bd", 1, b20, 0.1f);
    int W3 = add_init(ctx, g, "w3", 4, w3, 0.2f);
    int B3 = add_init(ctx, g, "b3", 1, b24, 0.1f);
    int W4 = add_init(ctx, g, "w4", 4, w3, 0.2f);
    int B4 = add_init(ctx, g, "b4", 1, b24, 0.1f);
    int W5 = add_init(ctx, g, "w5", 4, w5, 0.2f);
    int B5 = add_init(ctx, g, "b5", 1, b24, 0.1f);
    int WG = add_init(ctx, g, "wg", 2, wg, 0.2f);
    int BG = add_init(ctx, g, "bg", 1, b10, 0.1f);
    int c1 = add_val(ctx, g, "c1"), r1 = add_val(ctx, g, "r1");
    int d = add_val(ctx, g, "d"), hs = add_val(ctx, g, "hs");
    int e = add_val(ctx, g, "e"), f = add_val(ctx, g, "f");
    int s = add_val(ctx, g, "s"), gp = add_val(ctx, g, "gap");
    int se = add_val(ctx, g, "se"), sg = add_val(ctx, g, "se_gate");
    int m = add_val(ctx, g, "m"), fl = add_val(ctx, g, "flat");
    int lo = add_val(ctx, g, "logits");
    conv(ctx, g, "stem", x, W1, B1, 3, 2, 1, c1);
    unary(ctx, g, NK_OP_RELU, "relu", c1, r1);
    conv(ctx, g, "dw", r1, WD, BD, 3, 1, 20, d);
    unary(ctx, g, NK_OP_HARDSWISH, "hswish", d, hs);
    conv(ctx, g, "pw", hs, W3, B3, 1, 1, 1, e);
    conv(ctx, g, "branch", r1, W4, B4, 1, 1, 1, f);
    binary(ctx, g, NK_OP_ADD, "add", e, f, s);
    unary(ctx, g, NK_OP_GLOBALAVGPOOL, "gap", s, gp);
    conv(ctx, g, "fc", gp, W5, B5, 1, 1, 1, se);
    unary(ctx, g, NK_OP_HARDSIGMOID, "hsig", se, sg);
    binary(ctx, g, NK_OP_MUL, "scale", s, sg, m);
    unary(ctx, g, NK_OP_FLATTEN, "flatten", gp, fl);
    int gin[3] = {fl, WG, BG};
    nk_node *n;
    MUST(ctx, nk_graph_add_node(ctx, g, NK_OP_GEMM, "head", 3, gin, 1,
                                      &lo, &n));
    MUST(ctx, nk_node_set_int(ctx, g, n, "transB", 1));
    int outs[3] = {m, lo, r1};
    MUST(ctx, nk_graph_set_inputs(ctx, g, 1, &x));
    MUST(ctx, nk_graph_set_outputs(ctx, g, 3, outs));
    MUST(ctx, nk_graph_infer(ctx, g));
    MUST(ctx, nk_graph_optimize(ctx, g));
    return g;
}

typedef struct run_out {
    float *y[3];
    size_t n[3];
    int blocked, reorders;
} run_out;

static run_out run(nk_ctx *ctx, nk_graph *g, int reference, int threads)
{
    run_out r;
    memset(&r, 0, sizeof r);
    nk_plan *p;
    nk_plan_opts o = {.batch = 2, .reference = reference,
                      .threads = threads};
    MUST(ctx, nk_plan_create(ctx, g, &o, &p));
    for (int i = 0; i < p->n_steps; i++) {
        const nk_step *st = &p->steps[i];
        r.reorders += st->kernel == &nk_reorder_kernel;
        r.blocked += st->kernel->layout == NK_LAYOUT_NCHW8C;
        /* every step reads and writes values in its kernel's layout */
        for (int j = 0; j < st->n_in; j++) {
            const nk_tensor *t = st->in[j];
            if (!t || t->is_init || t->shape.rank != 4 ||
                st->kernel == &nk_reorder_kernel ||
                (j == 0 && st->kernel->any_in_layout))
                continue;
            CHECKF(t->layout == st->kernel->layout,
                   "step %d (%s): input %d in layout %d, kernel wants %d",
                   i, st->kernel->name, j, (int)t->layout,
                   (int)st->kernel->layout);
        }
    }
    for (int i = 0; i < nk_plan_num_outputs(p); i++)
        CHECKF(nk_plan_output(p, i)->layout == NK_LAYOUT_DEFAULT,
               "graph output %d is not NCHW", i);
    nk_tensor *in = nk_plan_input(p, 0);
    float *d = nk_tensor_data(in);
    nk_rng_seed(&rng, 77);
    for (int64_t i = 0; i < nk_tensor_numel(in); i++)
        d[i] = nk_rng_normal(&rng);
    MUST(ctx, nk_plan_run(ctx, p));
    for (int i = 0; i < 3; i++) {
        nk_tensor *t = nk_plan_output(p, i);
        r.n[i] = (size_t)nk_tensor_numel(t);
        r.y[i] = malloc(nk_tensor_nbytes(t));
        if (!r.y[i])
            exit(1);
        memcpy(r.y[i], nk_tensor_data(t), nk_tensor_nbytes(t));
    }
    nk_plan_free(p);
    return r;
}

static double rel_err(const float *a, const float *b, size_t n)
{
    double d = 0.0, m = 1.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= d))
            d = e;
        if (fabs(b[i]) > m)
            m = fabs(b[i]);
    }
    return d / m;
}

static void compare(const run_out *a, const run_out *ref, const char *what)
{
    for (int i = 0; i < 3; i++) {
        CHECKF(a->n[i] == ref->n[i], "%s: output %d size", what, i);
        double e = rel_err(a->y[i], ref->y[i], a->n[i]);
        CHECKF(e < 1e-5, "%s: output %d rel err %g vs the reference plan",
               what, i, e);
    }
}

static void free_out(run_out *r)
{
    for (int i = 0; i < 3; i++)
        free(r->y[i]);
}

static void test_layout_plan(void)
{
    nk_ctx *ctx;
    if (nk_ctx_new(&ctx) != NK_OK)
        exit(1);
    nk_graph *g = build(ctx);
    nk_cpu cpu = nk_cpu_detect();
    run_out ref = run(ctx, g, 1, 1);
    CHECK(ref.blocked == 0 && ref.reorders == 0);
    for (int th = 1; th <= 2; th++) {
        run_out fast = run(ctx, g, 0, th);
        compare(&fast, &ref, th == 1 ? "fast, 1 thread" : "fast, 2 threads");
        if (cpu.avx2 && cpu.fma) {
            /* stem, dw, pw, branch, add, gap, fc, mul: blocked; the NCHW
             * input is read by the stem directly; copies only for the
             * two 4-D graph outputs and the flatten. */
            CHECKF(fast.blocked >= 7, "only %d NCHW8c steps", fast.blocked);
            CHECKF(fast.reorders >= 1 && fast.reorders <= 3,
                   "%d reorder steps (want 1-3)", fast.reorders);
            printf("# %d threads: %d NCHW8c steps, %d reorders\n", th,
                   fast.blocked, fast.reorders);
        }
        free_out(&fast);
    }
    setenv("NNKIT_LAYOUT", "nchw", 1);
    run_out nchw = run(ctx, g, 0, 2);
    unsetenv("NNKIT_LAYOUT");
    CHECK(nchw.blocked == 0 && nchw.reorders == 0);
    compare(&nchw, &ref, "NNKIT_LAYOUT=nchw");
    free_out(&nchw);
    free_out(&ref);
    nk_graph_free(g);
    nk_ctx_free(ctx);
}

NK_TESTS(T(test_layout_plan))
