/*
 * cmd-bench.c — `nnkit bench`: plan a model once, run it a few times to
 * warm up, then time K runs and report median and p90 latency, images/s,
 * achieved GFLOP/s against this machine's measured peak, and peak RSS.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Deterministic N(0,1)-ish input (sum of uniforms), like a normalised
 * image; the values do not change the timing of f32 kernels. */
static void fill_input(nk_tensor *t)
{
    if (nk_tensor_dtype(t) != NK_F32) {
        memset(nk_tensor_data(t), 0, nk_tensor_nbytes(t));
        return;
    }
    float *v = nk_tensor_data(t);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (int64_t i = 0; i < nk_tensor_numel(t); i++) {
        float acc = 0.0f;
        for (int k = 0; k < 4; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            acc += (float)(s >> 40) / 16777216.0f;
        }
        v[i] = (acc - 2.0f) * 1.7320508f;
    }
}

typedef struct prof_row {
    int step;
    double ms;
} prof_row;

static int cmp_prof(const void *a, const void *b)
{
    double x = ((const prof_row *)a)->ms, y = ((const prof_row *)b)->ms;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Time every step over separate runs (the per-step clock reads and pool
 * hand-offs make the sum slightly above the latency measured above):
 * *rows gets one row per executed step, slowest first. */
static int run_profile(nk_ctx *ctx, nk_plan *plan, long long runs,
                       prof_row **rows_out, int *n_out, double *total_out)
{
    int n = nk_plan_num_steps(plan);
    prof_row *rows = calloc((size_t)n + 1, sizeof *rows);
    if (!rows)
        return cli_error("out of memory");
    int rc = CLI_OK;
    if (nk_plan_set_profiling(ctx, plan, 1) != NK_OK) {
        free(rows);
        return cli_fail(ctx);
    }
    for (long long i = 0; i < runs && rc == CLI_OK; i++)
        if (nk_plan_run(ctx, plan) != NK_OK)
            rc = cli_fail(ctx);
    int kept = 0;
    double total = 0.0;
    for (int i = 0; i < n && rc == CLI_OK; i++) {
        const char *k = nk_plan_kernel_name(plan, i);
        if (k && strncmp(k, "fused_into_", 11) == 0)
            continue;
        rows[kept].step = i;
        rows[kept].ms = nk_plan_step_ms(plan, i) / (double)runs;
        total += rows[kept++].ms;
    }
    nk_plan_set_profiling(ctx, plan, 0);
    if (rc != CLI_OK) {
        free(rows);
        return rc;
    }
    qsort(rows, (size_t)kept, sizeof *rows, cmp_prof);
    *rows_out = rows;
    *n_out = kept;
    *total_out = total;
    return CLI_OK;
}

static void print_profile(const nk_plan *plan, const prof_row *rows, int n,
                          double total, long long runs, int json)
{
    char desc[256];
    if (json) {
        printf(", \"profile_ms\": %.4f, \"profile\": [", total);
        for (int i = 0; i < n; i++) {
            const char *k = nk_plan_kernel_name(plan, rows[i].step);
            printf("%s{\"ms\": %.4f, \"kernel\": ", i ? ", " : "",
                   rows[i].ms);
            cli_json_str(stdout, k ? k : "?");
            printf(", \"step\": ");
            cli_json_str(stdout, nk_plan_step_desc(plan, rows[i].step, desc,
                                                   sizeof desc));
            printf("}");
        }
        printf("]");
        return;
    }
    printf("profile      %.3f ms per run over %d steps (%lld runs)\n", total,
           n, runs);
    printf("  %9s %6s %6s  %-24s %s\n", "ms", "%", "cum%", "kernel",
           "step");
    double cum = 0.0;
    for (int i = 0; i < n; i++) {
        const char *k = nk_plan_kernel_name(plan, rows[i].step);
        cum += rows[i].ms;
        printf("  %9.4f %5.1f%% %5.1f%%  %-24s %s\n", rows[i].ms,
               total > 0 ? 100.0 * rows[i].ms / total : 0.0,
               total > 0 ? 100.0 * cum / total : 0.0, k ? k : "?",
               nk_plan_step_desc(plan, rows[i].step, desc, sizeof desc));
    }
}

int cmd_bench(nk_ctx *ctx, int argc, char **argv)
{
    long long batch = 1, threads = 0, runs = 20, warmup = 3;
    int json = 0, profile = 0;
    const cli_opt opts[] = {
        {"batch", 'b', CLI_INT, "N", "batch size (default 1)", &batch},
        {"threads", 't', CLI_INT, "N", "worker threads (default: all CPUs)",
         &threads},
        {"runs", 'r', CLI_INT, "K", "timed runs (default 20)", &runs},
        {"warmup", 'w', CLI_INT, "W", "untimed warm-up runs (default 3)",
         &warmup},
        {"json", 0, CLI_FLAG, NULL, "print one JSON object", &json},
        {"profile", 0, CLI_FLAG, NULL,
         "after timing, profile the runs step by step and list the\n"
         "steps by time, with their kernels", &profile},
        {0},
    };
    const cli_spec spec = {
        "bench", "MODEL [options]",
        "Time the model on this CPU: median and p90 latency, images/s,\n"
        "GFLOP/s and % of the measured FMA peak, peak RSS.",
        opts, 1, 1};
    cli_list pos = {0};
    int rc = cli_parse(&spec, argc, argv, &pos);
    if (rc >= 0)
        goto out;
    rc = CLI_USAGE;
    if (batch < 1 || batch > 100000 || threads < 0 || threads > 4096 ||
        runs < 1 || runs > 1000000 || warmup < 0 || warmup > 1000000) {
        cli_usage_error(spec.name, "--batch/--threads/--runs/--warmup out "
                                   "of range");
        goto out;
    }
    if (threads)
        nk_ctx_set_threads(ctx, (int)threads);
    nk_graph *g = NULL;
    nk_plan *plan = NULL;
    double *ms = NULL;
    rc = CLI_OK;
    if (nk_model_load(ctx, pos.v[0], &g) != NK_OK ||
        nk_graph_optimize(ctx, g) != NK_OK) {
        rc = cli_fail(ctx);
        goto done;
    }
    nk_plan_opts po = {batch, (int)threads, 0, 0};
    double t0 = now_ms();
    if (nk_plan_create(ctx, g, &po, &plan) != NK_OK) {
        rc = cli_fail(ctx);
        goto done;
    }
    double plan_ms = now_ms() - t0;
    for (int i = 0; i < nk_plan_num_inputs(plan); i++)
        fill_input(nk_plan_input(plan, i));
    ms = malloc((size_t)runs * sizeof *ms);
    if (!ms) {
        rc = cli_error("out of memory");
        goto done;
    }
    for (long long i = 0; i < warmup; i++)
        if (nk_plan_run(ctx, plan) != NK_OK) {
            rc = cli_fail(ctx);
            goto done;
        }
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    for (long long i = 0; i < runs; i++) {
        double a = now_ms();
        if (nk_plan_run(ctx, plan) != NK_OK) {
            rc = cli_fail(ctx);
            goto done;
        }
        ms[i] = now_ms() - a;
    }
    getrusage(RUSAGE_SELF, &r1);
    /* CPU time of all threads per run: less sensitive than wall time to
     * other programs sharing the cores (spinning waits count too). */
    double cpu_ms =
        ((double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) * 1e3 +
         (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) * 1e-3 +
         (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1e3 +
         (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) * 1e-3) /
        (double)runs;
    qsort(ms, (size_t)runs, sizeof *ms, cmp_double);
    double med = runs % 2 ? ms[runs / 2]
                          : 0.5 * (ms[runs / 2 - 1] + ms[runs / 2]);
    long long i90 = (runs * 9 + 9) / 10 - 1;
    double p90 = ms[i90 < 0 ? 0 : i90];
    int nth = threads > 0 ? (int)threads : nk_ctx_threads(ctx);
    double flops = nk_plan_flops(plan);
    double gflops = flops / (med * 1e-3) * 1e-9;
    double peak1 = nk_cpu_peak_gflops();
    double peak = peak1 * nth;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mb = (double)ru.ru_maxrss / 1024.0;
    double ips = (double)batch / (med * 1e-3);
    prof_row *prof = NULL;
    int n_prof = 0;
    double prof_total = 0.0;
    if (profile &&
        (rc = run_profile(ctx, plan, runs, &prof, &n_prof, &prof_total)) !=
            CLI_OK)
        goto done;
    if (json) {
        printf("{\"model\": ");
        cli_json_str(stdout, pos.v[0]);
        printf(", \"batch\": %lld, \"threads\": %d, \"runs\": %lld, "
               "\"warmup\": %lld, \"isa\": \"%s\", \"plan_ms\": %.3f, "
               "\"median_ms\": %.4f, \"p90_ms\": %.4f, \"min_ms\": %.4f, "
               "\"images_per_s\": %.3f, \"gflop_per_run\": %.4f, "
               "\"gflops\": %.3f, \"peak_gflops\": %.3f, "
               "\"peak_pct\": %.2f, \"peak_rss_mb\": %.1f, "
               "\"cpu_ms_per_run\": %.3f",
               batch, nth, runs, warmup, nk_cpu_isa_name(), plan_ms, med,
               p90, ms[0], ips, flops * 1e-9, gflops, peak, 100.0 * gflops / peak,
               rss_mb, cpu_ms);
        if (prof)
            print_profile(plan, prof, n_prof, prof_total, runs, 1);
        printf("}\n");
    } else {
        printf("model        %s\n", pos.v[0]);
        printf("batch        %lld\nthreads      %d\nisa          %s\n", batch,
               nth, nk_cpu_isa_name());
        printf("plan         %.1f ms\n", plan_ms);
        printf("latency      median %.3f ms  p90 %.3f ms  min %.3f ms  "
               "(%lld runs after %lld warm-up)\n", med, p90, ms[0], runs,
               warmup);
        printf("cpu time     %.3f ms per run (all threads)\n", cpu_ms);
        printf("throughput   %.2f images/s\n", ips);
        printf("compute      %.3f GFLOP/run  %.2f GFLOP/s  = %.1f%% of peak "
               "%.1f GFLOP/s (%d x %.1f, FMA probe)\n", flops * 1e-9, gflops,
               100.0 * gflops / peak, peak, nth, peak1);
        printf("peak RSS     %.1f MiB\n", rss_mb);
        if (prof)
            print_profile(plan, prof, n_prof, prof_total, runs, 0);
    }
    free(prof);
done:
    free(ms);
    nk_plan_free(plan);
    nk_graph_free(g);
out:
    cli_list_free(&pos);
    return rc;
}
