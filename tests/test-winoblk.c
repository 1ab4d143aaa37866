/*
 * test-winoblk.c — the Winograd F(4x4,3x3) Conv rows with NCHW and NCHW8c
 * tensors: every Winograd row this CPU can run, with NCHW and NCHW8c
 * input and the row's own output layout (NCHW8c for the blocked row,
 * NCHW for the others), against the reference conv (+ residual, then the
 * activation) on random shapes (odd and 8-multiple channel counts, sizes
 * 1..20, asymmetric pads 0..2, batch 1-2, bias / residual on and off,
 * activations, 1-3 threads) and on a few network-sized ones (up to 512
 * channels, 56x56 maps). Outputs are NaN-filled first; the padding
 * lanes of blocked outputs must come out finite. Bound: WINOGRAD_BOUND as
 * in tests/test-fastkernels.c.
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

#define WINOGRAD_BOUND 5e-5


static bool isa_ok(nk_isa isa, const nk_cpu *cpu)
{
    switch (isa) {
    case NK_ISA_GENERIC: return true;
    case NK_ISA_AVX2: return cpu->avx2 && cpu->fma;
    case NK_ISA_AVX512: return cpu->avx512f;
    default: return false;
    }
}

static nk_tensor make_t(const char *name, int64_t *d, int rank, float *data,
                        bool init)
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

static void set_layout(nk_tensor *t, nk_layout l)
{
    t->layout = l;
    t->nbytes = l == NK_LAYOUT_NCHW8C ? nk_blk_bytes(&t->shape)
                                      : nk_tensor_bytes_for(NK_F32, &t->shape);
}

static const nk_act ACTS[] = {NK_ACT_NONE, NK_ACT_RELU, NK_ACT_CLIP,
                              NK_ACT_HARDSWISH, NK_ACT_SIGMOID};
static int tested[64][4];
static double worst = 0.0;

static int rnd_channels(void)
{
    return rnd_int(0, 1) ? 8 * rnd_int(1, 5) : 2 * rnd_int(4, 20) + 1;
}

/* A shape of the network kind: x[n, c, h, w], m output channels, pads 1. */
typedef struct big_case {
    int n, c, h, w, m;
} big_case;

/* One random case, or (big) that shape with random bias, residual and
 * activation. */
static void one_case(nk_ctx *ctx, const big_case *big)
{
    nk_cpu cpu = nk_cpu_detect();
    int n = rnd_int(1, 2), c = rnd_channels(), m = rnd_channels();
    int h = rnd_int(1, 20), w = rnd_int(1, 20);
    int pt = rnd_int(0, 2), pl = rnd_int(0, 2), pb = rnd_int(0, 2),
        pr = rnd_int(0, 2);
    if (big) {
        n = big->n;
        c = big->c;
        h = big->h;
        w = big->w;
        m = big->m;
        pt = pl = pb = pr = 1;
    }
    if (h + pt + pb < 3 || w + pl + pr < 3)
        return;
    bool use_bias = rnd_int(0, 1), use_res = rnd_int(0, 1);
    nk_act act = ACTS[rnd_int(0, 4)];
    float a0 = act == NK_ACT_CLIP ? -0.5f : 0.1f, a1 = 0.5f;

    int64_t xd[4] = {n, c, h, w}, wd[4] = {m, c, 3, 3}, bd[1] = {m};
    int64_t ks[2] = {3, 3}, ps[4] = {pt, pl, pb, pr};
    nk_attr attrs[2];
    memset(attrs, 0, sizeof attrs);
    attrs[0] = (nk_attr){.name = "kernel_shape", .type = NK_ATTR_INTS,
                         .n = 2, .ints = ks};
    attrs[1] = (nk_attr){.name = "pads", .type = NK_ATTR_INTS, .n = 4,
                         .ints = ps};
    nk_node node;
    memset(&node, 0, sizeof node);
    node.name = "conv";
    node.op = NK_OP_CONV;
    node.n_attr = 2;
    node.attr = attrs;

    size_t xn = (size_t)n * c * h * w, wn = (size_t)m * c * 9;
    nk_shape xs = nk_shape_make(4, xd);
    size_t xbn = nk_blk_bytes(&xs) / 4;
    float *x = malloc(xn * 4), *xb = malloc(xbn * 4), *wt = malloc(wn * 4);
    float *b = malloc((size_t)m * 4);
    REQUIRE(x && xb && wt && b);
    fill(x, xn);
    fill(wt, wn);
    fill(b, (size_t)m);
    nk_blk_pack(x, xb, c, (int64_t)h * w, 0, (int64_t)n * nk_blk_cb(c));
    nk_tensor tx = make_t("x", xd, 4, x, false);
    nk_tensor tw = make_t("w", wd, 4, wt, true);
    nk_tensor tb = make_t("b", bd, 1, b, true), ty, tr;
    nk_tensor *ins[3] = {&tx, &tw, use_bias ? &tb : NULL};
    nk_tensor *outs[1] = {&ty};
    memset(&ty, 0, sizeof ty);
    ty.name = "y";
    REQUIRE_OK(ctx, nk_infer_conv(ctx, &node, ins, 3, outs, 1));
    int64_t oh = ty.shape.d[2], ow = ty.shape.d[3], plane = oh * ow;
    size_t yn = (size_t)nk_shape_numel(&ty.shape);
    size_t ybn = nk_blk_bytes(&ty.shape) / 4;
    int64_t yblocks = (int64_t)n * nk_blk_cb(m);
    float *y_ref = malloc(yn * 4), *y = malloc(ybn * 4), *yu = malloc(yn * 4);
    float *res = malloc(yn * 4), *resb = malloc(ybn * 4);
    REQUIRE(y_ref && y && yu && res && resb);
    fill(res, yn);
    nk_blk_pack(res, resb, m, plane, 0, yblocks);
    tr = ty;
    tr.name = "residual";

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
    double scale = 0.0;
    for (size_t i = 0; i < yn; i++) {
        y_ref[i] += use_res ? res[i] : 0.0f;
        scale = fabs(y_ref[i]) > scale ? fabs(y_ref[i]) : scale;
    }
    nk_act_apply(act, a0, a1, y_ref, yn);

    for (int r = 0; r < NK_KERNEL_COUNT; r++) {
        const nk_kernel *k = &NK_KERNELS[r];
        if (k->op != NK_OP_CONV || !strstr(k->name, "winograd") ||
            !isa_ok(k->isa, &cpu))
            continue;
        CHECKF(k->any_in_layout, "%s: should read either input layout",
               k->name);
        for (int combo = 0; combo < 4; combo++) {
            bool bin = combo & 1, bout = combo & 2;
            /* a row writes its own layout (plans never give it another) */
            if (bout != (k->layout == NK_LAYOUT_NCHW8C))
                continue;
            set_layout(&tx, bin ? NK_LAYOUT_NCHW8C : NK_LAYOUT_DEFAULT);
            tx.data = bin ? xb : x;
            set_layout(&ty, bout ? NK_LAYOUT_NCHW8C : NK_LAYOUT_DEFAULT);
            set_layout(&tr, ty.layout);
            tr.data = bout ? resb : res;
            int nth = rnd_int(1, 3);
            memset(&st, 0, sizeof st);
            st.node = &node;
            st.n_in = 3;
            st.n_out = 1;
            st.in = ins;
            st.out = outs;
            /* Planned for 3 threads, run on 2: the plan-time task shares
             * are for 3, and a run on fewer threads shares anew. */
            st.nth = nth == 2 ? 3 : nth;
            st.kernel = k;
            st.act = act;
            st.act_a0 = a0;
            st.act_a1 = a1;
            st.residual = use_res ? &tr : NULL;
            /* prepare takes every 3x3 stride-1 geometry; supports only
             * adds the is-it-worth-it test, skipped to cover tiny maps. */
            memset(y, 0xff, ybn * 4); /* NaN: every output must be written */
            ty.data = y;
            REQUIRE_OK(ctx, k->prepare(ctx, &st));
            st.work = st.work_bytes ? nk_malloc_aligned(st.work_bytes, 64)
                                    : NULL;
            REQUIRE(st.work || !st.work_bytes);
            REQUIRE(krun(ctx, k, &st, nth));
            const float *got = y;
            if (bout) {
                bool finite = true;
                for (size_t i = 0; i < ybn; i++)
                    finite &= isfinite(y[i]) != 0;
                CHECKF(finite, "%s: non-finite value in a blocked output "
                       "(M=%d)", k->name, m);
                memset(yu, 0xff, yn * 4);
                nk_blk_unpack(y, yu, m, plane, 0, yblocks);
                got = yu;
            }
            double e = 0.0, mx = scale;
            for (size_t i = 0; i < yn; i++) {
                double d = fabs((double)got[i] - y_ref[i]);
                if (!(d <= e))
                    e = d;
                mx = fabs(y_ref[i]) > mx ? fabs(y_ref[i]) : mx;
            }
            e /= mx > 1.0 ? mx : 1.0;
            worst = e > worst ? e : worst;
            CHECKF(e < WINOGRAD_BOUND,
                   "%s in=%s out=%s: x[%d,%d,%d,%d] m=%d p[%d,%d,%d,%d] "
                   "bias=%d res=%d act=%s nth=%d: rel err %g", k->name,
                   bin ? "nchw8c" : "nchw", bout ? "nchw8c" : "nchw", n, c,
                   h, w, m, pt, pl, pb, pr, use_bias, use_res,
                   nk_act_name(act), nth, e);
            nk_free_aligned(st.work);
            k->release(&st);
            tested[r][combo]++;
        }
    }
    free(x);
    free(xb);
    free(wt);
    free(b);
    free(y_ref);
    free(y);
    free(yu);
    free(res);
    free(resb);
}

static void test_winograd_layouts(void)
{
    nk_ctx *ctx;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    for (int iter = 0; iter < 150; iter++)
        one_case(ctx, NULL);
    /* Network depths: many 16-channel strips and tasks per block (14x14,
     * 256), ResNet's 4-tile 7x7 stage at 512, many blocks (56x56), and
     * channel counts that are not multiples of 16 or 8 on a batch. */
    static const big_case BIG[] = {
        {1, 256, 14, 14, 256}, {1, 512, 7, 7, 512}, {1, 64, 56, 56, 64},
        {2, 200, 9, 11, 136},  {1, 130, 13, 10, 300},
    };
    for (size_t i = 0; i < sizeof BIG / sizeof BIG[0]; i++)
        one_case(ctx, &BIG[i]);
    nk_cpu cpu = nk_cpu_detect();
    for (int r = 0; r < NK_KERNEL_COUNT; r++) {
        const nk_kernel *k = &NK_KERNELS[r];
        if (k->op != NK_OP_CONV || !strstr(k->name, "winograd") ||
            !isa_ok(k->isa, &cpu))
            continue;
        for (int combo = 0; combo < 4; combo++)
            if (((combo & 2) != 0) == (k->layout == NK_LAYOUT_NCHW8C))
                CHECKF(tested[r][combo] >= 50,
                       "%s layouts %d: only %d cases", k->name, combo,
                       tested[r][combo]);
    }
    printf("# Winograd worst relative error %.3g (bound %.0e)\n", worst,
           WINOGRAD_BOUND);
    printf("# %llu tasks taken from other threads' shares\n",
           (unsigned long long)krun_steals());
    CHECK(krun_steals() > 0);
    krun_done();
    nk_ctx_free(ctx);
}

NK_TESTS(T(test_winograd_layouts))
