/*
 * test-dwchain.c — fused depthwise chains (x86/dwchain-avx2.c): graphs of
 * pointwise conv -> depthwise conv -> pointwise conv (+ residual Add),
 * and the shorter dw -> pw and pw -> dw, planned three ways: with chains,
 * with NNKIT_CHAINS=0 (the same kernels step by step) and with reference
 * kernels. The chain must be planned (kernel "dwchain_avx2"), agree with
 * the step-by-step plan to 1e-6 and with the reference to 1e-5 (relative
 * to max(1, max|ref|)), on 1-3 threads, with items taken between threads
 * (one thread slowed, nk_items_set_lag). Also which graphs get no chain.
 */
#include "engine/kernels/blocked.h"
#include "engine/op.h"
#include "engine/plan.h"
#include "harness.h"
#include "kernel-check.h"
#include "kernel-rand.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BOUND 1e-5
#define SAME_BOUND 1e-6

/* A 3x3 conv (c -> c, as a network's earlier layers: the block reads
 * NCHW8c) and one inverted-residual-like block after it. expand /
 * project: the pointwise convs are there; residual: Add of the 3x3 conv's
 * output (needs c == m and a same-size depthwise conv). Activations are
 * nodes after each conv (the planner fuses them) or NK_OP_COUNT for
 * none. */
typedef struct chain_case {
    const char *what;
    int n, c, e, m, h, w;
    int k, s, d, pads[4];
    bool expand, project, residual;
    nk_op act_e, act_d, act_p;
    int threads;
    bool lag;      /* thread 0 slowed: items must be taken */
    int chains;    /* chains the plan must have */
} chain_case;

static int add_init(nk_ctx *ctx, nk_graph *g, const char *name, int rank,
                    const int64_t *d, float scale)
{
    nk_shape s = nk_shape_make(rank, d);
    int idx = -1;
    if (nk_graph_add_init(ctx, g, name, NK_F32, &s, &idx) != NK_OK)
        return -1;
    nk_tensor *t = g->tensors[idx];
    fill_scaled(t->data, (size_t)nk_shape_numel(&s), scale);
    return idx;
}

static int add_val(nk_ctx *ctx, nk_graph *g, const char *name)
{
    nk_shape s = nk_shape_make(0, NULL);
    int idx = -1;
    return nk_graph_add_tensor(ctx, g, name, NK_F32, &s, &idx) == NK_OK
               ? idx
               : -1;
}

/* conv (+ activation node): returns the output tensor, or -1. */
static int add_conv(nk_ctx *ctx, nk_graph *g, const char *name, int x,
                    int cin, int cout, int k, int s, int d,
                    const int *pads, int group, nk_op act)
{
    char nm[64];
    int64_t wd[] = {cout, cin / group, k, k}, bd[] = {cout};
    snprintf(nm, sizeof nm, "%s.w", name);
    int w = add_init(ctx, g, nm, 4, wd, 1.0f / sqrtf((float)(cin / group * k * k)));
    snprintf(nm, sizeof nm, "%s.b", name);
    int b = add_init(ctx, g, nm, 1, bd, 0.2f);
    snprintf(nm, sizeof nm, "%s.y", name);
    int y = add_val(ctx, g, nm);
    if (w < 0 || b < 0 || y < 0)
        return -1;
    int in[] = {x, w, b};
    nk_node *node;
    if (nk_graph_add_node(ctx, g, NK_OP_CONV, name, 3, in, 1, &y, &node))
        return -1;
    int64_t ks[] = {k, k}, st[] = {s, s}, dl[] = {d, d};
    int64_t pd[] = {pads[0], pads[1], pads[2], pads[3]};
    if (nk_node_set_ints(ctx, g, node, "kernel_shape", 2, ks) ||
        nk_node_set_ints(ctx, g, node, "strides", 2, st) ||
        nk_node_set_ints(ctx, g, node, "dilations", 2, dl) ||
        nk_node_set_ints(ctx, g, node, "pads", 4, pd) ||
        nk_node_set_int(ctx, g, node, "group", group))
        return -1;
    if (act == NK_OP_COUNT)
        return y;
    snprintf(nm, sizeof nm, "%s.act", name);
    int a = add_val(ctx, g, nm);
    if (a < 0 || nk_graph_add_node(ctx, g, act, nm, 1, &y, 1, &a, &node))
        return -1;
    return a;
}

static nk_graph *build(nk_ctx *ctx, const chain_case *cc)
{
    nk_graph *g;
    if (nk_graph_new(ctx, &g) != NK_OK)
        return NULL;
    static const int p0[4] = {0, 0, 0, 0};
    int64_t xd[] = {cc->n, cc->c, cc->h, cc->w};
    nk_shape xs = nk_shape_make(4, xd);
    int x = -1, t, y;
    static const int p1[4] = {1, 1, 1, 1};
    bool ok = nk_graph_add_tensor(ctx, g, "x", NK_F32, &xs, &x) == NK_OK;
    int x0 = ok ? add_conv(ctx, g, "stem", x, cc->c, cc->c, 3, 1, 1, p1, 1,
                           NK_OP_RELU)
                : -1;
    ok = x0 >= 0;
    t = x0;
    int e = cc->expand ? cc->e : cc->c;
    if (ok && cc->expand)
        t = add_conv(ctx, g, "pw", t, cc->c, e, 1, 1, 1, p0, 1, cc->act_e);
    if (ok && t >= 0)
        t = add_conv(ctx, g, "dw", t, e, e, cc->k, cc->s, cc->d, cc->pads, e,
                     cc->act_d);
    if (ok && t >= 0 && cc->project)
        t = add_conv(ctx, g, "pj", t, e, cc->m, 1, 1, 1, p0, 1,
                     cc->residual ? NK_OP_COUNT : cc->act_p);
    y = t;
    if (ok && t >= 0 && cc->residual) {
        int in[] = {t, x0};
        nk_node *node;
        int s = add_val(ctx, g, "sum");
        ok = s >= 0 &&
             nk_graph_add_node(ctx, g, NK_OP_ADD, "add", 2, in, 1, &s,
                               &node) == NK_OK;
        y = s;
        if (ok && cc->act_p != NK_OP_COUNT) {
            y = add_val(ctx, g, "y");
            ok = y >= 0 && nk_graph_add_node(ctx, g, cc->act_p, "act", 1, &s,
                                             1, &y, &node) == NK_OK;
        }
    }
    ok = ok && y >= 0 && nk_graph_set_inputs(ctx, g, 1, &x) == NK_OK &&
         nk_graph_set_outputs(ctx, g, 1, &y) == NK_OK &&
         nk_graph_infer(ctx, g) == NK_OK && nk_graph_optimize(ctx, g) == NK_OK;
    if (!ok) {
        nk_graph_free(g);
        return NULL;
    }
    return g;
}

/* Plan g (mode 0: chains, 1: NNKIT_CHAINS=0, 2: reference), run it on x,
 * return a copy of the output; *chains: chain steps in the plan,
 * *taken: items taken between threads. */
static float *run_plan(nk_ctx *ctx, nk_graph *g, const chain_case *cc,
                       int mode, const float *x, size_t *ny, int *chains,
                       uint64_t *taken)
{
    if (mode == 1)
        setenv("NNKIT_CHAINS", "0", 1);
    nk_plan *p = NULL;
    nk_plan_opts o = {.batch = cc->n, .threads = cc->threads,
                      .reference = mode == 2};
    nk_status s = nk_plan_create(ctx, g, &o, &p);
    unsetenv("NNKIT_CHAINS");
    if (s != NK_OK) {
        nk_t_fail(__FILE__, __LINE__, "%s: plan: %s", cc->what,
                  nk_errmsg(ctx));
        return NULL;
    }
    *chains = 0;
    for (int i = 0; i < nk_plan_num_steps(p); i++)
        *chains += strcmp(nk_plan_kernel_name(p, i), "dwchain_avx2") == 0;
    nk_tensor *in = nk_plan_input(p, 0);
    memcpy(nk_tensor_data(in), x, nk_tensor_nbytes(in));
    uint64_t s0 = nk_pool_steals(p->pool);
    if (cc->lag)
        nk_items_set_lag(0, 100); /* the caller: its share is always begun */
    for (int r = 0; r < 2 && s == NK_OK; r++)
        s = nk_plan_run(ctx, p);
    nk_items_set_lag(-1, 0);
    *taken = nk_pool_steals(p->pool) - s0;
    float *y = NULL;
    if (s == NK_OK) {
        nk_tensor *t = nk_plan_output(p, 0);
        *ny = (size_t)nk_tensor_numel(t);
        y = malloc(nk_tensor_nbytes(t));
        if (y)
            memcpy(y, nk_tensor_data(t), nk_tensor_nbytes(t));
    } else {
        nk_t_fail(__FILE__, __LINE__, "%s: run: %s", cc->what,
                  nk_errmsg(ctx));
    }
    nk_plan_free(p);
    return y;
}

static void check_case(nk_ctx *ctx, const chain_case *cc)
{
    nk_graph *g = build(ctx, cc);
    if (!g) {
        nk_t_fail(__FILE__, __LINE__, "%s: graph: %s", cc->what,
                  nk_errmsg(ctx));
        return;
    }
    size_t nx = (size_t)cc->n * cc->c * cc->h * cc->w;
    float *x = malloc(nx * sizeof(float));
    REQUIRE(x);
    fill(x, nx);
    float *y[3] = {NULL, NULL, NULL};
    size_t ny[3] = {0, 0, 0};
    int chains[3] = {0, 0, 0};
    uint64_t taken[3] = {0, 0, 0};
    for (int mode = 2; mode >= 0; mode--)
        y[mode] = run_plan(ctx, g, cc, mode, x, &ny[mode], &chains[mode],
                           &taken[mode]);
    if (y[0] && y[1] && y[2]) {
        CHECKF(chains[0] == cc->chains && chains[1] == 0 && chains[2] == 0,
               "%s: %d / %d / %d chains, expected %d / 0 / 0", cc->what,
               chains[0], chains[1], chains[2], cc->chains);
        CHECKF(ny[0] == ny[2] && ny[1] == ny[2], "%s: output sizes",
               cc->what);
        double same = rel_err(y[0], y[1], ny[0]);
        double ref = rel_err(y[0], y[2], ny[0]);
        CHECKF(same < SAME_BOUND, "%s: chain vs steps %.3g", cc->what, same);
        CHECKF(ref < BOUND, "%s: chain vs reference %.3g", cc->what, ref);
        if (cc->lag)
            CHECKF(taken[0] > 0, "%s: no items taken by another thread",
                   cc->what);
    }
    for (int mode = 0; mode < 3; mode++)
        free(y[mode]);
    free(x);
    nk_graph_free(g);
}

#define R NK_OP_RELU
#define HS NK_OP_HARDSWISH
#define SG NK_OP_SIGMOID
#define TH NK_OP_TANH
#define NO NK_OP_COUNT

/* Chains need a depthwise input or output of >= 1 MiB (CHAIN_MIN_BYTES). */
static const chain_case CASES[] = {
    {"expand-dw-project+residual", 2, 16, 48, 16, 57, 61, 3, 1, 1,
     {1, 1, 1, 1}, true, true, true, R, R, NO, 1, false, 1},
    {"same on 2 threads, one slowed", 2, 16, 48, 16, 57, 61, 3, 1, 1,
     {1, 1, 1, 1}, true, true, true, R, R, NO, 2, true, 1},
    {"5x5 stride 2, hardswish, 3 threads", 2, 24, 72, 24, 64, 50, 5, 2, 1,
     {2, 2, 2, 2}, true, true, false, HS, HS, HS, 3, true, 1},
    {"dilation 2, partial blocks, sigmoid after the add", 2, 20, 44, 20, 56,
     61, 3, 1, 2, {2, 2, 2, 2}, true, true, true, R, HS, SG, 2, false, 1},
    {"stride 2, asymmetric pads, odd map", 3, 8, 96, 40, 45, 39, 3, 2, 1,
     {0, 1, 1, 0}, true, true, false, R, R, NO, 2, true, 1},
    {"depthwise -> projection", 2, 24, 24, 16, 80, 80, 3, 1, 1,
     {1, 1, 1, 1}, false, true, false, NO, R, NO, 2, true, 1},
    {"expansion -> depthwise (graph output), tanh", 2, 16, 64, 0, 50, 47, 3,
     2, 1, {1, 1, 1, 1}, true, false, false, R, TH, NO, 1, false, 1},
    {"whole map per band (no mirrored rows)", 80, 16, 96, 16, 6, 6, 3, 1, 1,
     {1, 1, 1, 1}, true, true, true, R, R, NO, 2, false, 1},
    {"rows too wide for the scratch", 1, 16, 512, 16, 4, 1200, 3, 1, 1,
     {1, 1, 1, 1}, true, true, true, R, R, NO, 1, false, 0},
    {"too small to chain", 1, 16, 48, 16, 28, 28, 3, 1, 1, {1, 1, 1, 1},
     true, true, true, R, R, NO, 1, false, 0},
};

static void test_chains(void)
{
    if (!have_avx2()) {
        printf("# no AVX2+FMA: skipped\n");
        return;
    }
    nk_ctx *ctx;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
        check_case(ctx, &CASES[i]);
    nk_ctx_free(ctx);
}

NK_TESTS(T(test_chains))
