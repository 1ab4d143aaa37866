/*
 * perf.c — numbers for benchmarking: the FLOPs of a plan and the measured
 * arithmetic peak of one core (an FMA probe on the widest usable ISA).
 */
#include "engine/kernels/gemm-fast.h"
#include "engine/op.h"
#include "engine/plan.h"

#include <time.h>

double nk_plan_flops(const nk_plan *p)
{
    double total = 0.0;
    for (int s = 0; s < p->n_steps; s++) {
        const nk_step *st = &p->steps[s];
        /* a chain's head writes the chain's output, not its node's */
        const nk_tensor *y =
            st->chain ? &p->vals[st->node->out[0]] : st->out[0];
        double outn = (double)nk_shape_numel(&y->shape);
        switch (st->node->op) {
        case NK_OP_CONV: {
            const nk_shape *w = &st->in[1]->shape;
            double per = 1.0;
            for (int d = 1; d < w->rank; d++)
                per *= (double)w->d[d];
            total += 2.0 * outn * per;
            break;
        }
        case NK_OP_GEMM:
        case NK_OP_MATMUL: {
            const nk_shape *a = &st->in[0]->shape;
            int64_t k = a->d[a->rank - 1];
            if (st->node->op == NK_OP_GEMM &&
                nk_node_int(st->node, "transA", 0))
                k = a->d[0];
            total += 2.0 * outn * (double)k;
            break;
        }
        default:
            total += outn;
            break;
        }
    }
    return total;
}

/* Portable probe: eight independent multiply-add chains per lane group;
 * the compiler vectorises it for the baseline ISA. */
static double probe_generic(void)
{
    double best = 0.0;
    for (int rep = 0; rep < 5; rep++) {
        float x[32];
        for (int i = 0; i < 32; i++)
            x[i] = (float)i;
        const long iters = 2000000;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (long it = 0; it < iters; it++)
            for (int i = 0; i < 32; i++)
                x[i] = x[i] * 0.999999f + 1e-7f;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        volatile float sink = x[0] + x[31];
        (void)sink;
        double sec = (double)(t1.tv_sec - t0.tv_sec) +
                     1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        double gf = (double)iters * 32 * 2 / sec * 1e-9;
        if (gf > best)
            best = gf;
    }
    return best;
}

double nk_cpu_peak_gflops(void)
{
    nk_cpu c = nk_cpu_detect();
#if defined(__x86_64__) || defined(_M_X64)
    if (c.avx512f)
        return nk_fma_probe_avx512();
    if (c.avx2 && c.fma)
        return nk_fma_probe_avx2();
#endif
    (void)c;
    return probe_generic();
}

const char *nk_cpu_isa_name(void)
{
    nk_cpu c = nk_cpu_detect();
    if (c.avx512f)
        return "avx512";
    if (c.avx2 && c.fma)
        return "avx2";
    if (c.neon)
        return "neon";
    return "generic";
}
