/*
 * test-glue.c — the exporters' shape glue in the engine: the chain that
 * torch.onnx.export writes for x.view(x.size(0), -1) (Shape → Gather →
 * Unsqueeze → Concat → Reshape) must infer a symbolic batch, run at any
 * batch size once a plan binds it, fold away when shapes are static, and
 * refuse parameters computed from data with a clear message.
 */
#include "engine/ir.h"
#include "engine/op.h"
#include "engine/passes/passes.h"
#include "harness.h"

#include <string.h>

static nk_ctx *ctx;

static int add_i64_init(nk_graph *g, const char *name, int rank,
                        const int64_t *dims, const int64_t *vals)
{
    nk_shape s = nk_shape_make(rank, dims);
    int idx = -1;
    if (nk_graph_add_init(ctx, g, name, NK_I64, &s, &idx) != NK_OK)
        return -1;
    memcpy(g->tensors[idx]->data, vals, g->tensors[idx]->nbytes);
    return idx;
}

/* x [batch, 4, 2, 2] → view(batch, -1) → y, built as exporters do. */
static nk_graph *view_graph(bool symbolic)
{
    nk_graph *g = NULL;
    if (nk_graph_new(ctx, &g) != NK_OK)
        return NULL;
    int64_t xd[4] = {symbolic ? NK_DIM_SYM : 2, 4, 2, 2};
    nk_shape xs = nk_shape_make(4, xd);
    xs.sym[0] = symbolic ? "batch" : NULL;
    int x, sh, gi, un, cc, y;
    int64_t zero = 0, one = 1, minus1 = -1;
    int ok = nk_graph_add_tensor(ctx, g, "x", NK_F32, &xs, &x) == NK_OK;
    int idx0 = add_i64_init(g, "idx0", 0, NULL, &zero);
    int axes0 = add_i64_init(g, "axes0", 1, &one, &zero);
    int tail = add_i64_init(g, "tail", 1, &one, &minus1);
    ok = ok && idx0 >= 0 && axes0 >= 0 && tail >= 0;
    ok = ok && !nk_graph_add_tensor(ctx, g, "shape", NK_I64, NULL, &sh) &&
         !nk_graph_add_tensor(ctx, g, "batch", NK_I64, NULL, &gi) &&
         !nk_graph_add_tensor(ctx, g, "batch1", NK_I64, NULL, &un) &&
         !nk_graph_add_tensor(ctx, g, "target", NK_I64, NULL, &cc) &&
         !nk_graph_add_tensor(ctx, g, "y", NK_F32, NULL, &y);
    nk_node *n;
    int in2[2];
    ok = ok && !nk_graph_add_node(ctx, g, NK_OP_SHAPE, "shape", 1, &x, 1,
                                  &sh, &n);
    in2[0] = sh, in2[1] = idx0;
    ok = ok && !nk_graph_add_node(ctx, g, NK_OP_GATHER, "gather", 2, in2, 1,
                                  &gi, &n) &&
         !nk_node_set_int(ctx, g, n, "axis", 0);
    in2[0] = gi, in2[1] = axes0;
    ok = ok && !nk_graph_add_node(ctx, g, NK_OP_UNSQUEEZE, "unsqueeze", 2,
                                  in2, 1, &un, &n);
    in2[0] = un, in2[1] = tail;
    ok = ok && !nk_graph_add_node(ctx, g, NK_OP_CONCAT, "concat", 2, in2, 1,
                                  &cc, &n) &&
         !nk_node_set_int(ctx, g, n, "axis", 0);
    in2[0] = x, in2[1] = cc;
    ok = ok && !nk_graph_add_node(ctx, g, NK_OP_RESHAPE, "reshape", 2, in2,
                                  1, &y, &n);
    ok = ok && !nk_graph_set_inputs(ctx, g, 1, &x) &&
         !nk_graph_set_outputs(ctx, g, 1, &y);
    if (!ok) {
        nk_graph_free(g);
        return NULL;
    }
    return g;
}

static void test_symbolic_batch_infers(void)
{
    nk_graph *g = view_graph(true);
    REQUIRE(g);
    REQUIRE_OK(ctx, nk_graph_infer(ctx, g));
    const nk_tensor *y = nk_graph_output(g, 0);
    CHECK(nk_tensor_rank(y) == 2);
    CHECK(nk_tensor_dim(y, 0) == -1);
    CHECK(nk_tensor_dim_name(y, 0) &&
          strcmp(nk_tensor_dim_name(y, 0), "batch") == 0);
    CHECK(nk_tensor_dim(y, 1) == 16);
    nk_graph_free(g);
}

static void test_runs_at_any_batch(void)
{
    nk_graph *g = view_graph(true);
    REQUIRE(g);
    REQUIRE_OK(ctx, nk_graph_infer(ctx, g));
    for (int64_t b = 1; b <= 5; b += 2) {
        for (int ref = 0; ref <= 1; ref++) {
            nk_plan *p = NULL;
            nk_plan_opts o = {.batch = b, .threads = 2, .reference = ref};
            REQUIRE_OK(ctx, nk_plan_create(ctx, g, &o, &p));
            nk_tensor *x = nk_plan_input(p, 0);
            float *xd = nk_tensor_data(x);
            for (int64_t i = 0; i < nk_tensor_numel(x); i++)
                xd[i] = (float)i * 0.5f - 3.0f;
            CHECK_OK(ctx, nk_plan_run(ctx, p));
            nk_tensor *y = nk_plan_output(p, 0);
            CHECK(nk_tensor_rank(y) == 2);
            CHECK(nk_tensor_dim(y, 0) == b);
            CHECK(nk_tensor_dim(y, 1) == 16);
            CHECK(nk_tensor_numel(y) == nk_tensor_numel(x));
            const float *yd = nk_tensor_data(y);
            int bad = 0;
            for (int64_t i = 0; i < nk_tensor_numel(y); i++)
                bad += yd[i] != (float)i * 0.5f - 3.0f;
            CHECKF(bad == 0, "batch %lld: %d elements differ", (long long)b,
                   bad);
            nk_plan_free(p);
        }
    }
    nk_graph_free(g);
}

static void test_static_glue_folds(void)
{
    nk_graph *g = view_graph(false);
    REQUIRE(g);
    REQUIRE_OK(ctx, nk_graph_infer(ctx, g));
    CHECK(g->n_nodes == 5);
    REQUIRE_OK(ctx, nk_graph_apply_pass(ctx, g, NK_PASS_FOLD_CONSTANTS));
    REQUIRE_OK(ctx, nk_graph_apply_pass(ctx, g, NK_PASS_PRUNE));
    CHECKF(g->n_nodes == 1 && g->nodes[0].op == NK_OP_RESHAPE,
           "%d nodes left after folding, expected only the Reshape",
           g->n_nodes);
    int t = nk_graph_find_tensor(g, "target");
    REQUIRE(t >= 0);
    const nk_tensor *tt = g->tensors[t];
    CHECK(tt->is_init && tt->data);
    if (tt->is_init && tt->data) {
        const int64_t *v = tt->data;
        CHECK(v[0] == 2 && v[1] == -1);
    }
    nk_graph_free(g);
}

static void test_symbolic_glue_stays(void)
{
    nk_graph *g = view_graph(true);
    REQUIRE(g);
    REQUIRE_OK(ctx, nk_graph_infer(ctx, g));
    REQUIRE_OK(ctx, nk_graph_optimize(ctx, g));
    /* the batch is unknown: the chain must survive to be evaluated at
     * plan time */
    bool has_shape = false;
    for (int i = 0; i < g->n_nodes; i++)
        has_shape = has_shape || g->nodes[i].op == NK_OP_SHAPE;
    CHECK(has_shape);
    nk_plan *p = NULL;
    nk_plan_opts o = {.batch = 4};
    REQUIRE_OK(ctx, nk_plan_create(ctx, g, &o, &p));
    CHECK(nk_tensor_dim(nk_plan_output(p, 0), 0) == 4);
    nk_plan_free(p);
    nk_graph_free(g);
}

/* A Reshape target computed from data (not shapes) is refused, naming the
 * node and the input. */
static void test_data_dependent_refused(void)
{
    nk_graph *g = NULL;
    REQUIRE_OK(ctx, nk_graph_new(ctx, &g));
    int64_t xd[2] = {2, 6}, one = 2;
    nk_shape xs = nk_shape_make(2, xd), ts = nk_shape_make(1, &one);
    int x, t, y;
    REQUIRE_OK(ctx, nk_graph_add_tensor(ctx, g, "x", NK_F32, &xs, &x));
    REQUIRE_OK(ctx, nk_graph_add_tensor(ctx, g, "target", NK_I64, &ts, &t));
    REQUIRE_OK(ctx, nk_graph_add_tensor(ctx, g, "y", NK_F32, NULL, &y));
    int in2[2] = {x, t}, ins[2] = {x, t};
    nk_node *n;
    REQUIRE_OK(ctx, nk_graph_add_node(ctx, g, NK_OP_RESHAPE, "view", 2, in2,
                                      1, &y, &n));
    REQUIRE_OK(ctx, nk_graph_set_inputs(ctx, g, 2, ins));
    REQUIRE_OK(ctx, nk_graph_set_outputs(ctx, g, 1, &y));
    nk_status st = nk_graph_infer(ctx, g);
    CHECK(st == NK_UNSUPPORTED);
    CHECKF(strstr(nk_errmsg(ctx), "'view'") &&
           strstr(nk_errmsg(ctx), "'target'"),
           "message: %s", nk_errmsg(ctx));
    nk_graph_free(g);
}

int main(int argc, char **argv)
{
    if (nk_ctx_new(&ctx) != NK_OK)
        return 2;
    static const nk_test_case cases[] = {
        T(test_symbolic_batch_infers), T(test_runs_at_any_batch),
        T(test_static_glue_folds), T(test_symbolic_glue_stays),
        T(test_data_dependent_refused),
    };
    int rc = nk_test_main(argc, argv, cases,
                          (int)(sizeof cases / sizeof cases[0]));
    nk_ctx_free(ctx);
    return rc;
}
