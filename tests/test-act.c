/*
 * test-act.c — unit tests for the activation helpers (nk_act_apply against
 * formulas written out here), nk_broadcast_shape, the broadcasting binary
 * kernel against a naive loop, Dropout's training mode and the light ops'
 * shape-inference errors.
 */
#include "engine/kernels/kernels-impl.h"
#include "engine/op.h"
#include "harness.h"

#include <string.h>

/* ---- activations -------------------------------------------------------- */

static double ref_act(nk_act a, double a0, double a1, double x)
{
    switch (a) {
    case NK_ACT_NONE:
        return x;
    case NK_ACT_RELU:
        return x > 0 ? x : 0;
    case NK_ACT_CLIP:
        return fmin(fmax(x, a0), a1);
    case NK_ACT_LEAKYRELU:
        return x > 0 ? x : a0 * x;
    case NK_ACT_SIGMOID:
        return 0.5 * (1.0 + tanh(0.5 * x)); /* same function, other form */
    case NK_ACT_HARDSIGMOID:
        return fmax(0.0, fmin(1.0, a0 * x + a1));
    case NK_ACT_HARDSWISH:
        return x * fmin(fmax(x + 3.0, 0.0), 6.0) / 6.0; /* relu6 form */
    case NK_ACT_TANH:
        return (exp(2 * x) - 1) / (exp(2 * x) + 1);
    default:
        return NAN;
    }
}

static void act_names(void)
{
    for (int a = 0; a < NK_ACT_COUNT; a++) {
        const char *s = nk_act_name((nk_act)a);
        CHECKF(s && strcmp(s, "?") != 0, "act %d has no name", a);
        for (int b = 0; b < a; b++)
            CHECKF(strcmp(s, nk_act_name((nk_act)b)) != 0,
                   "acts %d and %d share the name %s", a, b, s);
    }
    CHECK(strcmp(nk_act_name(NK_ACT_RELU), "relu") == 0);
    CHECK(strcmp(nk_act_name(NK_ACT_COUNT), "?") == 0);
    CHECK(strcmp(nk_act_name((nk_act)-1), "?") == 0);
}

static void act_apply_formulas(void)
{
    static const struct {
        nk_act a;
        float a0, a1;
    } cfg[] = {
        {NK_ACT_NONE, 0, 0},          {NK_ACT_RELU, 0, 0},
        {NK_ACT_CLIP, 0, 6},          {NK_ACT_CLIP, -1.5f, 2.25f},
        {NK_ACT_LEAKYRELU, 0.01f, 0}, {NK_ACT_LEAKYRELU, 0.2f, 0},
        {NK_ACT_SIGMOID, 0, 0},       {NK_ACT_HARDSIGMOID, 0.2f, 0.5f},
        {NK_ACT_HARDSIGMOID, 1.0f / 6, 0.5f},
        {NK_ACT_HARDSWISH, 0, 0},     {NK_ACT_TANH, 0, 0},
    };
    enum { N = 1301 }; /* odd, so vector loops have a tail */
    static float x[N], y[N];
    for (int i = 0; i < N; i++)
        x[i] = -12.0f + 24.0f * (float)i / (N - 1);
    const float special[] = {0.0f, -0.0f, 1e-8f, -1e-8f, 3.0f, -3.0f, 6.0f,
                             -6.0f, 2.5f, -2.5f, 50.0f, -50.0f, 88.0f,
                             -88.0f, -1.5f, 2.25f};
    memcpy(x, special, sizeof special);
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        memcpy(y, x, sizeof y);
        nk_act_apply(cfg[c].a, cfg[c].a0, cfg[c].a1, y, N);
        int bad = 0;
        for (int i = 0; i < N; i++) {
            double e = ref_act(cfg[c].a, cfg[c].a0, cfg[c].a1, x[i]);
            if (isnan(e) && cfg[c].a == NK_ACT_TANH)
                e = x[i] > 0 ? 1.0 : -1.0; /* exp overflow in the formula */
            if (!(fabs(y[i] - e) <= 2e-6 * fmax(1.0, fabs(e))) && bad++ < 5)
                nk_t_fail(__FILE__, __LINE__, "%s(%g, %g)(%.9g) = %.9g, "
                          "expected %.9g", nk_act_name(cfg[c].a),
                          (double)cfg[c].a0, (double)cfg[c].a1, (double)x[i],
                          (double)y[i], e);
        }
    }
    /* n = 0 touches nothing */
    y[0] = -1.0f;
    nk_act_apply(NK_ACT_RELU, 0, 0, y, 0);
    CHECK(y[0] == -1.0f);
}

/* ---- nk_broadcast_shape ------------------------------------------------- */

static nk_shape shp(int rank, ...)
{
    va_list ap;
    int64_t d[NK_MAX_RANK];
    va_start(ap, rank);
    for (int i = 0; i < rank; i++)
        d[i] = va_arg(ap, int);
    va_end(ap);
    return nk_shape_make(rank, d);
}

static void broadcast_shapes(void)
{
    const struct {
        nk_shape a, b, want;
    } ok[] = {
        {shp(4, 2, 3, 4, 5), shp(1, 5), shp(4, 2, 3, 4, 5)},
        {shp(4, 2, 3, 4, 5), shp(0), shp(4, 2, 3, 4, 5)},
        {shp(0), shp(0), shp(0)},
        {shp(0), shp(1, 3), shp(1, 3)},
        {shp(4, 2, 1, 4, 1), shp(3, 3, 1, 5), shp(4, 2, 3, 4, 5)},
        {shp(2, 3, 1), shp(2, 1, 4), shp(2, 3, 4)},
        {shp(3, 8, 1, 1), shp(4, 2, 8, 7, 7), shp(4, 2, 8, 7, 7)},
        {shp(4, 1, 8, 1, 1), shp(4, 2, 8, 7, 7), shp(4, 2, 8, 7, 7)},
        {shp(2, 0, 3), shp(2, 1, 3), shp(2, 0, 3)},
        {shp(1, 1), shp(3, 1, 1, 1), shp(3, 1, 1, 1)},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        nk_shape r, r2;
        char b1[64], b2[64];
        CHECKF(nk_broadcast_shape(&ok[i].a, &ok[i].b, &r),
               "pair %zu rejected", i);
        CHECKF(nk_shape_equal(&r, &ok[i].want), "pair %zu gave %s, want %s",
               i, nk_shape_str(&r, b1, 64), nk_shape_str(&ok[i].want, b2, 64));
        /* symmetric */
        CHECK(nk_broadcast_shape(&ok[i].b, &ok[i].a, &r2) &&
              nk_shape_equal(&r2, &ok[i].want));
    }
    const struct {
        nk_shape a, b;
    } bad[] = {
        {shp(2, 2, 3), shp(2, 3, 2)},
        {shp(1, 4), shp(1, 5)},
        {shp(3, 2, 3, 4), shp(3, 2, 1, 3)},
        {shp(1, 0), shp(1, 2)},
        {shp(4, 1, 8, 7, 7), shp(1, 4)},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nk_shape r;
        CHECKF(!nk_broadcast_shape(&bad[i].a, &bad[i].b, &r),
               "pair %zu accepted", i);
        CHECKF(!nk_broadcast_shape(&bad[i].b, &bad[i].a, &r),
               "pair %zu accepted (swapped)", i);
    }
    /* a symbolic batch survives against 1 and against itself */
    nk_shape a = shp(2, NK_DIM_SYM, 3), b = shp(2, 1, 3), r;
    a.sym[0] = "batch";
    CHECK(nk_broadcast_shape(&a, &b, &r) && r.d[0] == NK_DIM_SYM &&
          r.sym[0] && strcmp(r.sym[0], "batch") == 0 && r.d[1] == 3);
    CHECK(nk_broadcast_shape(&a, &a, &r) && r.d[0] == NK_DIM_SYM);
    nk_shape big;
    memset(&big, 0, sizeof big);
    big.rank = NK_MAX_RANK + 1;
    CHECK(!nk_broadcast_shape(&big, &b, &r));
}

/* ---- kernels driven by hand-made steps ---------------------------------- */

typedef struct fake {
    nk_node node;
    nk_attr attr[4];
    nk_tensor t_in[3], t_out[2];
    nk_tensor *in[3], *out[2];
    nk_step st;
} fake;

static void fake_init(fake *f, nk_op op, int n_in, int n_out)
{
    memset(f, 0, sizeof *f);
    f->node.name = "n0";
    f->node.op = op;
    f->node.n_in = n_in;
    f->node.n_out = n_out;
    f->node.attr = f->attr;
    for (int i = 0; i < 3; i++) {
        f->in[i] = i < n_in ? &f->t_in[i] : NULL;
        f->t_in[i].name = "x";
    }
    for (int i = 0; i < 2; i++) {
        f->out[i] = &f->t_out[i];
        f->t_out[i].name = "y";
    }
    f->st.node = &f->node;
    f->st.n_in = n_in;
    f->st.n_out = n_out;
    f->st.in = f->in;
    f->st.out = f->out;
}

static uint64_t lcg = 88172645463325252ull;
static int rnd(int n)
{
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (int)((lcg >> 33) % (uint64_t)n);
}

/* Offset of output element `lin` in an input of shape s broadcast to o. */
static int64_t naive_offset(const nk_shape *s, const nk_shape *o, int64_t lin)
{
    int64_t off = 0, mul = 1;
    for (int d = o->rank - 1; d >= 0; d--) {
        int64_t i = lin % o->d[d];
        lin /= o->d[d];
        int sd = d - (o->rank - s->rank);
        if (sd < 0)
            continue;
        if (s->d[sd] != 1)
            off += i * mul;
        mul *= s->d[sd];
    }
    return off;
}

static void binary_random_broadcast(void)
{
    nk_ctx *ctx;
    REQUIRE_OK(ctx, nk_ctx_new(&ctx));
    static const nk_op ops[] = {NK_OP_ADD, NK_OP_SUB, NK_OP_MUL, NK_OP_DIV};
    enum { CAP = 4096 };
    static float a[CAP], b[CAP], y[CAP];
    for (int iter = 0; iter < 300; iter++) {
        int r = 1 + rnd(5);
        int64_t full[NK_MAX_RANK];
        for (int d = 0; d < r; d++)
            full[d] = 1 + rnd(5);
        nk_shape sa, sb;
        memset(&sa, 0, sizeof sa);
        memset(&sb, 0, sizeof sb);
        sa.rank = r - rnd(r);
        sb.rank = r - rnd(r);
        if (rnd(2))
            sa.rank = r;
        else
            sb.rank = r;
        for (int d = 0; d < sa.rank; d++)
            sa.d[d] = rnd(3) ? full[r - sa.rank + d] : 1;
        for (int d = 0; d < sb.rank; d++)
            sb.d[d] = rnd(3) ? full[r - sb.rank + d] : 1;
        fake f;
        nk_op op = ops[rnd(4)];
        fake_init(&f, op, 2, 1);
        if (op == NK_OP_ADD && rnd(2))
            f.node.act = NK_ACT_RELU;
        f.t_in[0].shape = sa;
        f.t_in[1].shape = sb;
        REQUIRE_OK(ctx, nk_infer_binary(ctx, &f.node, f.in, 2, f.out, 1));
        const nk_shape *so = &f.t_out[0].shape;
        int64_t n = nk_shape_numel(so);
        REQUIRE(n <= CAP);
        for (int64_t i = 0; i < nk_shape_numel(&sa); i++)
            a[i] = (float)(rnd(2001) - 1000) / 100.0f;
        for (int64_t i = 0; i < nk_shape_numel(&sb); i++)
            b[i] = (float)(rnd(1000) + 50) / 100.0f * (rnd(2) ? 1 : -1);
        f.t_in[0].data = a;
        f.t_in[1].data = b;
        f.t_out[0].data = y;
        REQUIRE_OK(ctx, nk_binary_prepare(ctx, &f.st));
        int nth = 1 + rnd(4);
        for (int t = 0; t < nth; t++)
            nk_binary_ref(&f.st, t, nth);
        nk_kernel_release_params(&f.st);
        int bad = 0;
        for (int64_t i = 0; i < n; i++) {
            float u = a[naive_offset(&sa, so, i)];
            float v = b[naive_offset(&sb, so, i)];
            float e = op == NK_OP_ADD ? u + v
                      : op == NK_OP_SUB ? u - v
                      : op == NK_OP_MUL ? u * v
                                        : u / v;
            if (f.node.act == NK_ACT_RELU && e < 0)
                e = 0;
            if (y[i] != e && bad++ < 3) {
                char b1[64], b2[64];
                nk_t_fail(__FILE__, __LINE__, "%s %s op %s: y[%lld] = %g, "
                          "expected %g (nth %d)", nk_op_name(op),
                          nk_shape_str(&sa, b1, 64),
                          nk_shape_str(&sb, b2, 64), (long long)i,
                          (double)y[i], (double)e, nth);
            }
        }
    }
    nk_ctx_free(ctx);
}

static void run_dropout(nk_ctx *ctx, float ratio, int seed, int nth,
                        const float *x, float *y, bool *mask, int64_t n,
                        int runs)
{
    fake f;
    fake_init(&f, NK_OP_DROPOUT, 1, 2);
    f.attr[0] = (nk_attr){.name = "ratio", .type = NK_ATTR_FLOAT,
                          .f = ratio};
    f.attr[1] = (nk_attr){.name = "seed", .type = NK_ATTR_INT, .i = seed};
    f.node.n_attr = 2;
    f.t_in[0].shape = nk_shape_make(1, &n);
    f.t_in[0].data = (void *)x;
    REQUIRE_OK(ctx, nk_infer_dropout(ctx, &f.node, f.in, 1, f.out, 2));
    CHECK(f.t_out[1].dtype == NK_BOOL);
    f.t_out[0].data = y;
    f.t_out[1].data = mask;
    f.st.training = true;
    REQUIRE_OK(ctx, nk_dropout_prepare(ctx, &f.st));
    for (int r = 0; r < runs; r++)
        for (int t = 0; t < nth; t++)
            nk_dropout_ref(&f.st, t, nth);
    nk_kernel_release_params(&f.st);
}

static void dropout_training(void)
{
    nk_ctx *ctx;
    REQUIRE_OK(ctx, nk_ctx_new(&ctx));
    enum { N = 40000 };
    static float x[N], y1[N], y2[N], y3[N];
    static bool m1[N], m2[N];
    for (int i = 0; i < N; i++)
        x[i] = 1.0f + (float)(i % 97);
    run_dropout(ctx, 0.25f, 7, 1, x, y1, m1, N, 1);
    int zeros = 0, bad = 0;
    for (int i = 0; i < N; i++) {
        if (!m1[i]) {
            zeros++;
            bad += y1[i] != 0.0f;
        } else {
            bad += fabsf(y1[i] - x[i] / 0.75f) > 1e-5f * y1[i];
        }
    }
    CHECKF(bad == 0, "%d elements disagree with their mask / scale", bad);
    double frac = (double)zeros / N;
    CHECKF(fabs(frac - 0.25) < 0.015, "dropped %.4f, expected 0.25", frac);
    /* same seed: same mask, whatever the thread count */
    run_dropout(ctx, 0.25f, 7, 3, x, y2, m2, N, 1);
    CHECK(memcmp(y1, y2, sizeof y1) == 0 && memcmp(m1, m2, sizeof m1) == 0);
    /* the RNG advances between runs; another seed differs too */
    run_dropout(ctx, 0.25f, 7, 2, x, y3, m2, N, 2);
    CHECK(memcmp(y1, y3, sizeof y1) != 0);
    run_dropout(ctx, 0.25f, 8, 1, x, y3, m2, N, 1);
    CHECK(memcmp(y1, y3, sizeof y1) != 0);
    /* eval mode: identity and an all-true mask */
    fake f;
    fake_init(&f, NK_OP_DROPOUT, 1, 2);
    int64_t n = N;
    f.t_in[0].shape = nk_shape_make(1, &n);
    f.t_in[0].data = x;
    REQUIRE_OK(ctx, nk_infer_dropout(ctx, &f.node, f.in, 1, f.out, 2));
    f.t_out[0].data = y2;
    f.t_out[1].data = m2;
    memset(m2, 0, sizeof m2);
    REQUIRE_OK(ctx, nk_dropout_prepare(ctx, &f.st));
    for (int t = 0; t < 3; t++)
        nk_dropout_ref(&f.st, t, 3);
    nk_kernel_release_params(&f.st);
    CHECK(memcmp(x, y2, sizeof x) == 0);
    bool all = true;
    for (int i = 0; i < N; i++)
        all = all && m2[i];
    CHECK(all);
    /* a ratio outside [0, 1) is refused */
    fake_init(&f, NK_OP_DROPOUT, 1, 1);
    f.attr[0] = (nk_attr){.name = "ratio", .type = NK_ATTR_FLOAT, .f = 1.5f};
    f.node.n_attr = 1;
    f.t_in[0].shape = nk_shape_make(1, &n);
    CHECK(nk_dropout_prepare(ctx, &f.st) == NK_INVALID_ARG);
    nk_ctx_free(ctx);
}

/* ---- inference errors --------------------------------------------------- */

static void infer_errors(void)
{
    nk_ctx *ctx;
    REQUIRE_OK(ctx, nk_ctx_new(&ctx));
    fake f;
    int64_t d4[4] = {2, 3, 4, 5};

    /* Reshape: two -1, wrong count, 0 beyond the input rank */
    const int64_t shapes[][3] = {{-1, -1, 2}, {7, -1, 1}, {2, 3, 21},
                                 {2, 60, 0}};
    const nk_status want[] = {NK_INVALID_ARG, NK_SHAPE, NK_SHAPE, NK_SHAPE};
    for (int i = 0; i < 4; i++) {
        fake_init(&f, NK_OP_RESHAPE, 2, 1);
        int64_t three = 3, sv[3];
        memcpy(sv, shapes[i], sizeof sv);
        f.t_in[0].shape = nk_shape_make(i == 3 ? 2 : 4,
                                        i == 3 ? (int64_t[]){2, 60} : d4);
        f.t_in[1].dtype = NK_I64;
        f.t_in[1].shape = nk_shape_make(1, &three);
        f.t_in[1].data = sv;
        f.t_in[1].nbytes = sizeof sv;
        nk_status st = nk_infer_reshape(ctx, &f.node, f.in, 2, f.out, 1);
        CHECKF(st == want[i], "reshape case %d: %s (%s)", i,
               nk_status_name(st), nk_errmsg(ctx));
        CHECK(strstr(nk_errmsg(ctx), "n0") != NULL);
    }
    /* Reshape: a shape input without data is not supported */
    fake_init(&f, NK_OP_RESHAPE, 2, 1);
    int64_t two = 2;
    f.t_in[0].shape = nk_shape_make(4, d4);
    f.t_in[1].dtype = NK_I64;
    f.t_in[1].shape = nk_shape_make(1, &two);
    CHECK(nk_infer_reshape(ctx, &f.node, f.in, 2, f.out, 1) ==
          NK_UNSUPPORTED);

    /* Concat: mismatched non-axis dim */
    fake_init(&f, NK_OP_CONCAT, 2, 1);
    f.attr[0] = (nk_attr){.name = "axis", .type = NK_ATTR_INT, .i = 1};
    f.node.n_attr = 1;
    f.t_in[0].shape = nk_shape_make(4, d4);
    f.t_in[1].shape = nk_shape_make(4, (int64_t[]){2, 7, 4, 6});
    CHECK(nk_infer_concat(ctx, &f.node, f.in, 2, f.out, 1) == NK_SHAPE);
    f.t_in[1].shape = nk_shape_make(4, (int64_t[]){2, 7, 4, 5});
    CHECK_OK(ctx, nk_infer_concat(ctx, &f.node, f.in, 2, f.out, 1));
    CHECK(f.t_out[0].shape.d[1] == 10);
    f.attr[0].i = 4;
    CHECK(nk_infer_concat(ctx, &f.node, f.in, 2, f.out, 1) ==
          NK_INVALID_ARG);

    /* Transpose: not a permutation */
    fake_init(&f, NK_OP_TRANSPOSE, 1, 1);
    int64_t perm[4] = {0, 1, 1, 3};
    f.attr[0] = (nk_attr){.name = "perm", .type = NK_ATTR_INTS, .n = 4,
                          .ints = perm};
    f.node.n_attr = 1;
    f.t_in[0].shape = nk_shape_make(4, d4);
    CHECK(nk_infer_transpose(ctx, &f.node, f.in, 1, f.out, 1) ==
          NK_INVALID_ARG);

    /* Flatten: axis out of range */
    fake_init(&f, NK_OP_FLATTEN, 1, 1);
    f.attr[0] = (nk_attr){.name = "axis", .type = NK_ATTR_INT, .i = 5};
    f.node.n_attr = 1;
    f.t_in[0].shape = nk_shape_make(4, d4);
    CHECK(nk_infer_flatten(ctx, &f.node, f.in, 1, f.out, 1) ==
          NK_INVALID_ARG);

    /* Pad: reflect wider than the dim; wrong pads count */
    fake_init(&f, NK_OP_PAD, 2, 1);
    int64_t pads[8] = {0, 0, 4, 0, 0, 0, 0, 0}, eight = 8;
    f.attr[0] = (nk_attr){.name = "mode", .type = NK_ATTR_STRING,
                          .s = "reflect"};
    f.node.n_attr = 1;
    f.t_in[0].shape = nk_shape_make(4, d4);
    f.t_in[1].dtype = NK_I64;
    f.t_in[1].shape = nk_shape_make(1, &eight);
    f.t_in[1].data = pads;
    f.t_in[1].nbytes = sizeof pads;
    CHECK(nk_infer_pad(ctx, &f.node, f.in, 2, f.out, 1) == NK_SHAPE);
    pads[2] = 3;
    CHECK_OK(ctx, nk_infer_pad(ctx, &f.node, f.in, 2, f.out, 1));
    CHECK(f.t_out[0].shape.d[2] == 7);
    f.t_in[1].shape.d[0] = 6;
    CHECK(nk_infer_pad(ctx, &f.node, f.in, 2, f.out, 1) == NK_SHAPE);
    f.attr[0].s = "wrap";
    f.t_in[1].shape.d[0] = 8;
    CHECK(nk_infer_pad(ctx, &f.node, f.in, 2, f.out, 1) == NK_UNSUPPORTED);

    /* Binary: incompatible shapes, mixed dtypes */
    fake_init(&f, NK_OP_ADD, 2, 1);
    f.t_in[0].shape = nk_shape_make(4, d4);
    f.t_in[1].shape = nk_shape_make(1, (int64_t[]){4});
    CHECK(nk_infer_binary(ctx, &f.node, f.in, 2, f.out, 1) == NK_SHAPE);
    f.t_in[1].shape = nk_shape_make(1, (int64_t[]){5});
    f.t_in[1].dtype = NK_I64;
    CHECK(nk_infer_binary(ctx, &f.node, f.in, 2, f.out, 1) ==
          NK_INVALID_ARG);

    /* Softmax: axis out of range */
    fake_init(&f, NK_OP_SOFTMAX, 1, 1);
    f.attr[0] = (nk_attr){.name = "axis", .type = NK_ATTR_INT, .i = -5};
    f.node.n_attr = 1;
    f.t_in[0].shape = nk_shape_make(4, d4);
    CHECK(nk_infer_softmax(ctx, &f.node, f.in, 1, f.out, 1) ==
          NK_INVALID_ARG);

    /* Clip: a non-scalar bound */
    fake_init(&f, NK_OP_CLIP, 2, 1);
    f.t_in[0].shape = nk_shape_make(4, d4);
    f.t_in[1].shape = nk_shape_make(1, (int64_t[]){3});
    CHECK(nk_infer_clip(ctx, &f.node, f.in, 2, f.out, 1) == NK_SHAPE);
    nk_ctx_free(ctx);
}

NK_TESTS(T(act_names), T(act_apply_formulas), T(broadcast_shapes),
         T(binary_random_broadcast), T(dropout_training), T(infer_errors))
