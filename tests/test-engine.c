/*
 * test-engine.c — the IR, shape inference, validation, the planner (arena
 * reuse, batch binding, no allocation while running) and every pass
 * (outputs unchanged on hand-made graphs and zoo models), and the thread
 * pool's work stealing.
 */
#include "harness.h"

#include "engine/ir.h"
#include "engine/op.h"
#include "engine/plan.h"
#include "engine/threadpool.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* ---- allocation counting (linked with --wrap=malloc etc.) ---------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t s);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
static long n_allocs;
void *__wrap_malloc(size_t n) { n_allocs++; return __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t s) { n_allocs++; return __real_calloc(n, s); }
void *__wrap_realloc(void *p, size_t n) { n_allocs++; return __real_realloc(p, n); }
int __wrap_posix_memalign(void **p, size_t a, size_t n)
{
    n_allocs++;
    return __real_posix_memalign(p, a, n);
}

static nk_ctx *ctx;

static int add_t(nk_graph *g, const char *name, int rank, const int64_t *d)
{
    nk_shape s = nk_shape_make(rank, d);
    int i = -1;
    CHECK_OK(ctx, nk_graph_add_tensor(ctx, g, name, NK_F32, &s, &i));
    return i;
}

static int add_w(nk_graph *g, const char *name, int rank, const int64_t *d,
                 nk_rng *r, float scale)
{
    nk_shape s = nk_shape_make(rank, d);
    int i = -1;
    CHECK_OK(ctx, nk_graph_add_init(ctx, g, name, NK_F32, &s, &i));
    float *p = g->tensors[i]->data;
    for (int64_t k = 0; k < nk_shape_numel(&s); k++)
        p[k] = nk_rng_normal(r) * scale;
    g->tensors[i]->trainable = true;
    return i;
}

/* x[N,3,8,8] -> Conv(4,3x3,pad1) -> BN -> Relu -> Dropout -> Add(const
 * folded subgraph) -> Sigmoid -> Identity -> y, plus a dead branch */
static nk_graph *small_graph(void)
{
    nk_graph *g;
    if (nk_graph_new(ctx, &g))
        return NULL;
    nk_rng r;
    nk_rng_seed(&r, 7);
    int64_t xd[] = {-1, 3, 8, 8}, wd[] = {4, 3, 3, 3}, cd[] = {4};
    int64_t hd[] = {-1, 4, 8, 8}, one[] = {1, 4, 1, 1}, xd2[] = {-1, 3, 8, 8};
    nk_shape xs = nk_shape_make(4, xd);
    xs.sym[0] = "batch";
    int x;
    CHECK_OK(ctx, nk_graph_add_tensor(ctx, g, "x", NK_F32, &xs, &x));
    int w = add_w(g, "conv.weight", 4, wd, &r, 0.3f);
    int b = add_w(g, "conv.bias", 1, cd, &r, 0.1f);
    int gm = add_w(g, "bn.weight", 1, cd, &r, 0.5f);
    int bt = add_w(g, "bn.bias", 1, cd, &r, 0.5f);
    int mu = add_w(g, "bn.running_mean", 1, cd, &r, 0.5f);
    int var = add_w(g, "bn.running_var", 1, cd, &r, 0.1f);
    float *v = g->tensors[var]->data;
    for (int k = 0; k < 4; k++)
        v[k] = 0.5f + fabsf(v[k]);
    int c1 = add_w(g, "c1", 4, one, &r, 1.0f);
    int c2 = add_w(g, "c2", 4, one, &r, 1.0f);
    int h1 = add_t(g, "h1", 4, hd), h2 = add_t(g, "h2", 4, hd),
        h3 = add_t(g, "h3", 4, hd), h4 = add_t(g, "h4", 4, hd),
        cs = add_t(g, "csum", 4, one), h5 = add_t(g, "h5", 4, hd),
        h6 = add_t(g, "h6", 4, hd), y = add_t(g, "y", 4, hd);
    nk_node *n;
    int in3[] = {x, w, b};
    CHECK_OK(ctx, nk_graph_add_node(ctx, g, NK_OP_CONV, "conv", 3, in3, 1, &h1, &n));
    int64_t k3[] = {3, 3}, p1[] = {1, 1, 1, 1};
    CHECK_OK(ctx, nk_node_set_ints(ctx, g, n, "kernel_shape", 2, k3));
    CHECK_OK(ctx, nk_node_set_ints(ctx, g, n, "pads", 4, p1));
    int in5[] = {h1, gm, bt, mu, var};
    CHECK_OK(ctx, nk_graph_add_node(ctx, g, NK_OP_BATCHNORM, "bn", 5, in5, 1, &h2, &n));
    CHECK_OK(ctx, nk_graph_add_node(ctx, g, NK_OP_RELU, "relu", 1, &h2, 1, &h3, &n));
    CHECK_OK(ctx, nk_graph_add_node(ctx, g, NK_OP_DROPOUT, "drop", 1, &h3, 1, &h4, &n));
    int cin[] = {c1, c2};
    CHECK_OK(ctx, nk_graph_add_node(ctx, g, NK_OP_ADD, "const_add", 2, cin, 1, &cs, &n));
    int ain[] = {h4, cs};
    CHECK_OK(ctx, nk_graph_add_node(ctx, g, NK_OP_ADD, "add", 2, ain, 1, &h5, &n));
    CHECK_OK(ctx, nk_graph_add_node(ctx, g, NK_OP_SIGMOID, "sig", 1, &h5, 1, &h6, &n));
    CHECK_OK(ctx, nk_graph_add_node(ctx, g, NK_OP_IDENTITY, "id", 1, &h6, 1, &y, &n));
    /* a dead branch */
    int d = add_t(g, "dead", 4, xd2);
    CHECK_OK(ctx, nk_graph_add_node(ctx, g, NK_OP_SIGMOID, "unused", 1, &x, 1, &d, &n));
    CHECK_OK(ctx, nk_graph_set_inputs(ctx, g, 1, &x));
    CHECK_OK(ctx, nk_graph_set_outputs(ctx, g, 1, &y));
    return g;
}

static void fill_inputs(nk_plan *p, uint64_t seed)
{
    nk_rng r;
    nk_rng_seed(&r, seed);
    for (int i = 0; i < nk_plan_num_inputs(p); i++) {
        nk_tensor *t = nk_plan_input(p, i);
        float *d = nk_tensor_data(t);
        for (int64_t k = 0; k < nk_tensor_numel(t); k++)
            d[k] = nk_rng_normal(&r);
    }
}

/* Run g at batch b; returns a malloc'd copy of output 0 (n elements). */
static float *run_graph(nk_graph *g, int64_t b, int reference, int64_t *n)
{
    nk_plan *p = NULL;
    nk_plan_opts o = {.batch = b, .reference = reference};
    nk_status st = nk_plan_create(ctx, g, &o, &p);
    if (st) {
        nk_t_fail(__FILE__, __LINE__, "plan: %s", nk_errmsg(ctx));
        return NULL;
    }
    fill_inputs(p, 1234);
    CHECK_OK(ctx, nk_plan_run(ctx, p));
    nk_tensor *out = nk_plan_output(p, 0);
    *n = nk_tensor_numel(out);
    float *c = malloc(sizeof(float) * (size_t)*n);
    memcpy(c, nk_tensor_data(out), sizeof(float) * (size_t)*n);
    nk_plan_free(p);
    return c;
}

static double max_rel_diff(const float *a, const float *b, int64_t n)
{
    double mx = 0, ref = 1e-6;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > mx)
            mx = d;
        if (fabs(b[i]) > ref)
            ref = fabs(b[i]);
    }
    return mx / (ref > 1 ? ref : 1);
}

static void test_infer_symbolic(void)
{
    nk_graph *g = small_graph();
    REQUIRE(g);
    REQUIRE_OK(ctx, nk_graph_infer(ctx, g));
    const nk_tensor *y = nk_graph_output(g, 0);
    CHECK(nk_tensor_rank(y) == 4);
    CHECK(nk_tensor_dim(y, 0) == -1);
    CHECK(nk_tensor_dim_name(y, 0) && strcmp(nk_tensor_dim_name(y, 0), "batch") == 0);
    CHECK(nk_tensor_dim(y, 1) == 4 && nk_tensor_dim(y, 3) == 8);
    nk_graph_free(g);
}

static void test_infer_errors(void)
{
    nk_graph *g = small_graph();
    REQUIRE(g);
    /* Wrong weight channel count: error names the node and both values. */
    int w = nk_graph_find_tensor(g, "conv.weight");
    g->tensors[w]->shape.d[1] = 5;
    nk_status st = nk_graph_infer(ctx, g);
    CHECK(st == NK_SHAPE || st == NK_FORMAT);
    CHECKF(strstr(nk_errmsg(ctx), "conv") != NULL, "msg: %s", nk_errmsg(ctx));
    g->tensors[w]->shape.d[1] = 3;
    /* A cycle: conv reads the relu output. */
    int h3 = nk_graph_find_tensor(g, "h3");
    int old = g->nodes[0].in[0];
    g->nodes[0].in[0] = h3;
    st = nk_graph_validate(ctx, g);
    CHECK(st == NK_FORMAT);
    CHECKF(strstr(nk_errmsg(ctx), "later node") != NULL, "msg: %s", nk_errmsg(ctx));
    g->nodes[0].in[0] = old;
    /* A dangling input name. */
    int dang = add_t(g, "nowhere", 1, (int64_t[]){4});
    g->nodes[1].in[1] = dang;
    st = nk_graph_validate(ctx, g);
    CHECK(st == NK_FORMAT);
    CHECKF(strstr(nk_errmsg(ctx), "nowhere") != NULL, "msg: %s", nk_errmsg(ctx));
    nk_graph_free(g);
}

static void test_plan_batches_and_arena(void)
{
    nk_graph *g = small_graph();
    REQUIRE(g);
    REQUIRE_OK(ctx, nk_graph_infer(ctx, g));
    for (int64_t b = 1; b <= 5; b += 2) {
        nk_plan *p;
        nk_plan_opts o = {.batch = b};
        REQUIRE_OK(ctx, nk_plan_create(ctx, g, &o, &p));
        CHECK(nk_tensor_dim(nk_plan_input(p, 0), 0) == b);
        CHECK(nk_tensor_dim(nk_plan_output(p, 0), 0) == b);
        /* 8 activations of b*4*8*8 floats, but at most ~3 live at once. */
        size_t one = (size_t)b * 4 * 8 * 8 * 4;
        CHECKF(nk_plan_arena_bytes(p) < 6 * one + 1024,
               "arena %zu bytes for %zu-byte activations",
               nk_plan_arena_bytes(p), one);
        fill_inputs(p, 1);
        long before = n_allocs;
        CHECK_OK(ctx, nk_plan_run(ctx, p));
        CHECK_OK(ctx, nk_plan_run(ctx, p));
        CHECKF(n_allocs == before, "%ld allocations while running",
               n_allocs - before);
        nk_plan_free(p);
    }
    nk_graph_free(g);
}

/* x -> Relu -> Sigmoid -> Tanh -> y, all one size: liveness alone would
 * give the Tanh's input x's bytes. A run must leave x as it was, so that
 * running again (nnkit bench does) computes the same output. */
static void test_inputs_survive_runs(void)
{
    nk_graph *g;
    REQUIRE_OK(ctx, nk_graph_new(ctx, &g));
    int64_t d[] = {2, 3, 5, 5};
    int x = add_t(g, "x", 4, d), a = add_t(g, "a", 4, d),
        b = add_t(g, "b", 4, d), y = add_t(g, "y", 4, d);
    nk_node *n;
    CHECK_OK(ctx, nk_graph_add_node(ctx, g, NK_OP_RELU, "r", 1, &x, 1, &a, &n));
    CHECK_OK(ctx, nk_graph_add_node(ctx, g, NK_OP_SIGMOID, "s", 1, &a, 1, &b, &n));
    CHECK_OK(ctx, nk_graph_add_node(ctx, g, NK_OP_TANH, "t", 1, &b, 1, &y, &n));
    CHECK_OK(ctx, nk_graph_set_inputs(ctx, g, 1, &x));
    CHECK_OK(ctx, nk_graph_set_outputs(ctx, g, 1, &y));
    REQUIRE_OK(ctx, nk_graph_infer(ctx, g));
    for (int ref = 0; ref < 2; ref++) {
        nk_plan *p;
        nk_plan_opts o = {.reference = ref};
        REQUIRE_OK(ctx, nk_plan_create(ctx, g, &o, &p));
        fill_inputs(p, 7);
        nk_tensor *in = nk_plan_input(p, 0), *out = nk_plan_output(p, 0);
        size_t ni = nk_tensor_nbytes(in), no = nk_tensor_nbytes(out);
        void *x0 = malloc(ni), *y1 = malloc(no);
        REQUIRE(x0 && y1);
        memcpy(x0, nk_tensor_data(in), ni);
        CHECK_OK(ctx, nk_plan_run(ctx, p));
        memcpy(y1, nk_tensor_data(out), no);
        CHECKF(memcmp(x0, nk_tensor_data(in), ni) == 0,
               "ref=%d: the run changed its input", ref);
        CHECK_OK(ctx, nk_plan_run(ctx, p));
        CHECKF(memcmp(y1, nk_tensor_data(out), no) == 0,
               "ref=%d: a second run computed another output", ref);
        free(x0);
        free(y1);
        nk_plan_free(p);
    }
    nk_graph_free(g);
}

static void test_reference_matches_default(void)
{
    nk_graph *g = small_graph();
    REQUIRE(g);
    REQUIRE_OK(ctx, nk_graph_infer(ctx, g));
    int64_t n1, n2;
    float *a = run_graph(g, 3, 0, &n1), *b = run_graph(g, 3, 1, &n2);
    REQUIRE(a && b && n1 == n2);
    CHECK(max_rel_diff(a, b, n1) < 1e-5);
    free(a);
    free(b);
    nk_graph_free(g);
}

static void check_pass_keeps_outputs(nk_graph *g, nk_pass pass, int64_t batch)
{
    REQUIRE_OK(ctx, nk_graph_infer(ctx, g));
    int64_t n1, n2;
    int nodes_before = g->n_nodes;
    float *a = run_graph(g, batch, 1, &n1);
    REQUIRE(a);
    const char *out_name = nk_tensor_name(nk_graph_output(g, 0));
    char name[256];
    snprintf(name, sizeof name, "%s", out_name);
    REQUIRE_OK(ctx, nk_graph_apply_pass(ctx, g, pass));
    CHECKF(strcmp(nk_tensor_name(nk_graph_output(g, 0)), name) == 0,
           "pass %s renamed output %s", nk_pass_name(pass), name);
    float *b = run_graph(g, batch, 0, &n2);
    REQUIRE(b);
    CHECK(n1 == n2);
    double d = max_rel_diff(b, a, n1);
    CHECKF(d < 1e-5, "pass %s changed outputs by %g (nodes %d -> %d)",
           nk_pass_name(pass), d, nodes_before, g->n_nodes);
    free(a);
    free(b);
}

static void test_passes_small(void)
{
    for (int p = 0; p < NK_PASS_COUNT; p++) {
        nk_graph *g = small_graph();
        REQUIRE(g);
        int before = g->n_nodes;
        check_pass_keeps_outputs(g, (nk_pass)p, 2);
        /* each pass does something on this graph */
        CHECKF(g->n_nodes < before, "pass %s removed no node",
               nk_pass_name((nk_pass)p));
        nk_graph_free(g);
    }
    nk_graph *g = small_graph();
    REQUIRE(g);
    REQUIRE_OK(ctx, nk_graph_infer(ctx, g));
    int64_t n1, n2;
    float *a = run_graph(g, 2, 1, &n1);
    REQUIRE_OK(ctx, nk_graph_optimize(ctx, g));
    CHECKF(g->n_nodes == 2, "optimized graph has %d nodes, expected conv+add",
           g->n_nodes);
    CHECK(g->nodes[0].op == NK_OP_CONV && g->nodes[0].act == NK_ACT_RELU);
    CHECK(g->nodes[1].op == NK_OP_ADD && g->nodes[1].act == NK_ACT_SIGMOID);
    CHECK(strcmp(nk_tensor_name(nk_graph_output(g, 0)), "y") == 0);
    float *b = run_graph(g, 2, 0, &n2);
    REQUIRE(a && b);
    CHECK(max_rel_diff(b, a, n1) < 1e-5);
    free(a);
    free(b);
    nk_graph_free(g);
}

/* Randomise BN statistics so folding is exercised on real models. */
static void randomise_bn(nk_graph *g, uint64_t seed)
{
    nk_rng r;
    nk_rng_seed(&r, seed);
    for (int i = 0; i < g->n_tensors; i++) {
        nk_tensor *t = g->tensors[i];
        if (!t->is_init || t->dtype != NK_F32)
            continue;
        size_t n = (size_t)nk_shape_numel(&t->shape);
        float *d = t->data;
        if (strstr(t->name, "running_var"))
            for (size_t k = 0; k < n; k++)
                d[k] = 0.5f + nk_rng_uniform(&r);
        else if (strstr(t->name, "running_mean") ||
                 (strstr(t->name, "bias") && t->shape.rank == 1))
            for (size_t k = 0; k < n; k++)
                d[k] = 0.1f * nk_rng_normal(&r);
    }
}

static void test_passes_zoo(void)
{
    static const char *archs[] = {"mobilenet_v3_small", "resnet18"};
    for (size_t a = 0; a < sizeof archs / sizeof archs[0]; a++) {
        for (int p = 0; p < NK_PASS_COUNT; p++) {
            nk_graph *g;
            nk_zoo_opts zo = {.seed = 3};
            REQUIRE_OK(ctx, nk_zoo_create(ctx, archs[a], &zo, &g));
            randomise_bn(g, 5);
            check_pass_keeps_outputs(g, (nk_pass)p, 1);
            nk_graph_free(g);
        }
    }
}

static void test_clone(void)
{
    nk_graph *g = small_graph(), *c = NULL;
    REQUIRE(g);
    REQUIRE_OK(ctx, nk_graph_infer(ctx, g));
    REQUIRE_OK(ctx, nk_graph_meta_set(ctx, g, "arch", "tiny"));
    REQUIRE_OK(ctx, nk_graph_clone(ctx, g, &c));
    CHECK(c->n_nodes == g->n_nodes && c->n_tensors == g->n_tensors);
    CHECK(strcmp(nk_graph_meta_get(c, "arch"), "tiny") == 0);
    int64_t n1, n2;
    float *a = run_graph(g, 2, 1, &n1), *b = run_graph(c, 2, 1, &n2);
    REQUIRE(a && b);
    CHECK(n1 == n2 && memcmp(a, b, sizeof(float) * (size_t)n1) == 0);
    free(a);
    free(b);
    nk_graph_free(c);
    nk_graph_free(g);
}

static void test_oom_paths(void)
{
    /* Every allocation of building, inferring, planning and running a
     * zoo model fails in turn: each attempt must fail cleanly with
     * NK_NOMEM (no crash, no leak under valgrind) until all succeed. */
    int failures = 0;
    for (long k = 1; k < 100000; k++) {
        nk_graph *g = NULL;
        nk_plan *p = NULL;
        nk_zoo_opts zo = {.seed = 1};
        nk_alloc_fail_at(k);
        nk_status st = nk_zoo_create(ctx, "lenet5", &zo, &g);
        if (!st)
            st = nk_graph_infer(ctx, g);
        if (!st)
            st = nk_graph_optimize(ctx, g);
        if (!st)
            st = nk_plan_create(ctx, g, NULL, &p);
        if (!st)
            st = nk_plan_run(ctx, p);
        nk_alloc_fail_at(0);
        nk_plan_free(p);
        nk_graph_free(g);
        if (st == NK_OK)
            break;
        failures++;
        CHECKF(st == NK_NOMEM, "allocation %ld failed: got %s (%s)", k,
               nk_status_name(st), nk_errmsg(ctx));
        if (st != NK_NOMEM)
            break;
    }
    CHECKF(failures > 50, "only %d allocation points exercised", failures);
}

/* ---- work stealing (nk_items) ------------------------------------------ */

#define STEAL_ITEMS 600
#define STEAL_THREADS 4

typedef struct steal_arg {
    nk_steal *words;
    int mode;                      /* 0: all on thread 0; 1: even shares */
    int slow;                      /* this thread sleeps per own item */
    int taken[STEAL_ITEMS];        /* times each item ran (atomic) */
    int by_other[STEAL_THREADS];   /* items a thread took from others */
    int order_bad;                 /* own items not walked front to back */
    int started;                   /* threads past nk_items_begin (atomic) */
} steal_arg;

static void steal_task(void *arg, int ith, int nth)
{
    steal_arg *a = arg;
    int64_t b = 0, e = 0;
    if (a->mode == 0) {
        if (ith == 0)
            e = STEAL_ITEMS;
    } else {
        b = STEAL_ITEMS * ith / nth;
        e = STEAL_ITEMS * (ith + 1) / nth;
    }
    nk_items it;
    nk_items_begin(&it, a->words, ith, nth, b, e);
    /* A thief passes over a share not yet begun: wait for all, so that
     * what is tested is the taking, not the threads' wake-up order. */
    __atomic_add_fetch(&a->started, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&a->started, __ATOMIC_SEQ_CST) < nth)
        ;
    int64_t i, last = b - 1;
    bool stolen;
    while (nk_items_next(&it, &i, &stolen)) {
        if (i < 0 || i >= STEAL_ITEMS) {
            __atomic_add_fetch(&a->order_bad, 1, __ATOMIC_RELAXED);
            continue;
        }
        __atomic_add_fetch(&a->taken[i], 1, __ATOMIC_RELAXED);
        if (stolen) {
            a->by_other[ith]++;
            if (i >= b && i < e) /* its own item reported as taken */
                __atomic_add_fetch(&a->order_bad, 1, __ATOMIC_RELAXED);
            continue;
        }
        if (i != last + 1 || i >= e)
            __atomic_add_fetch(&a->order_bad, 1, __ATOMIC_RELAXED);
        last = i;
        if (ith == a->slow) {
            struct timespec ts = {0, 200000}; /* 0.2 ms */
            nanosleep(&ts, NULL);
        }
    }
}

static void test_work_stealing(void)
{
    nk_pool *pool;
    REQUIRE_OK(ctx, nk_pool_new(ctx, STEAL_THREADS, &pool));
    static steal_arg a;
    for (int mode = 0; mode < 2; mode++) {
        for (int round = 0; round < 3; round++) {
            memset(&a, 0, sizeof a);
            a.words = nk_pool_steal(pool);
            a.mode = mode;
            a.slow = mode == 0 ? 0 : 1 + round % (STEAL_THREADS - 1);
            uint64_t before = nk_pool_steals(pool);
            nk_pool_run(pool, steal_task, &a);
            int once = 0, others = 0;
            for (int i = 0; i < STEAL_ITEMS; i++)
                once += a.taken[i] == 1;
            for (int t = 0; t < STEAL_THREADS; t++)
                others += a.by_other[t];
            CHECKF(once == STEAL_ITEMS, "mode %d: %d of %d items ran once",
                   mode, once, STEAL_ITEMS);
            CHECKF(a.order_bad == 0, "mode %d: %d items out of order or "
                   "out of range", mode, a.order_bad);
            /* The slow thread's share (0.2 ms an item) is mostly done by
             * the others. */
            CHECKF(others > STEAL_ITEMS / (mode == 0 ? 2 : 8),
                   "mode %d: only %d items taken from the slow thread",
                   mode, others);
            CHECKF(nk_pool_steals(pool) - before == (uint64_t)others,
                   "nk_pool_steals counted %llu, the threads %d",
                   (unsigned long long)(nk_pool_steals(pool) - before),
                   others);
        }
    }
    nk_pool_free(pool);

    /* No words (a kernel run outside a pool), or shares past 32-bit
     * indices: each thread walks its own share alone. */
    int64_t big = (int64_t)1 << 33;
    for (int k = 0; k < 2; k++) {
        nk_steal *w = NULL;
        nk_pool *p1 = NULL;
        if (k == 1) {
            REQUIRE_OK(ctx, nk_pool_new(ctx, 2, &p1));
            w = nk_pool_steal(p1);
        }
        nk_items it;
        int64_t b = k ? big : 5, e = k ? big + 3 : 8, i, n = 0;
        bool stolen;
        nk_items_begin(&it, w, 1, 2, b, e);
        while (nk_items_next(&it, &i, &stolen)) {
            CHECK(i == b + n && !stolen);
            n++;
        }
        CHECK(n == 3);
        nk_pool_free(p1);
    }
}

static int64_t weight_of(const void *arg, int64_t i)
{
    return ((const int64_t *)arg)[i];
}

/* nk_share_weighed: shares tile [0, n) in thread order, each thread's
 * weight within one item's weight of total / nth (an item goes to the
 * thread its middle falls in), and a thread past the items gets none. */
static void test_share_weighed(void)
{
    static const int64_t w[] = {5, 1, 1, 9, 2, 2, 2, 7, 1, 3, 3, 4};
    int64_t n = (int64_t)(sizeof w / sizeof w[0]), total = 0, most = 0;
    for (int64_t i = 0; i < n; i++) {
        total += w[i];
        most = w[i] > most ? w[i] : most;
    }
    for (int nth = 1; nth <= 5; nth++) {
        int64_t next = 0;
        for (int t = 0; t < nth; t++) {
            int64_t b, e, sum = 0;
            nk_share_weighed(n, weight_of, w, t, nth, &b, &e);
            CHECKF(b == e || b == next, "nth %d thread %d: share [%lld, "
                   "%lld) after %lld", nth, t, (long long)b, (long long)e,
                   (long long)next);
            for (int64_t i = b; i < e; i++)
                sum += w[i];
            CHECKF(llabs(sum * nth - total) <= most * nth,
                   "nth %d thread %d: weight %lld of %lld", nth, t,
                   (long long)sum, (long long)total);
            next = b == e ? next : e;
        }
        CHECKF(next == n, "nth %d: shares end at %lld of %lld", nth,
               (long long)next, (long long)n);
    }
    /* more threads than items: the extra ones get empty shares */
    int64_t one = 4, b, e;
    nk_share_weighed(1, weight_of, &one, 2, 3, &b, &e);
    CHECK(b == e);
}

static void setup(void) { nk_ctx_new(&ctx); }

int main(int argc, char **argv)
{
    setup();
    static const nk_test_case cases[] = {
        T(test_infer_symbolic), T(test_infer_errors),
        T(test_plan_batches_and_arena), T(test_inputs_survive_runs),
        T(test_reference_matches_default),
        T(test_passes_small), T(test_passes_zoo), T(test_clone),
        T(test_oom_paths), T(test_work_stealing), T(test_share_weighed),
    };
    int rc = nk_test_main(argc, argv, cases, (int)(sizeof cases / sizeof cases[0]));
    nk_ctx_free(ctx);
    return rc;
}
