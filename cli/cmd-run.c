/*
 * cmd-run.c — `nnkit run`: classify images with the model's preprocessing
 * and print the top-K classes, or feed .npy tensors and write/print every
 * output (the scriptable path tests and benchmarks use).
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* mkdir -p. */
static int make_dirs(const char *dir)
{
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf)
        return cli_error("%s: invalid directory name", dir);
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0)
            continue;
        char c = buf[i];
        buf[i] = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return cli_error("%s: cannot create directory: %s", buf,
                             strerror(errno));
        buf[i] = c;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return cli_error("%s: not a directory", dir);
    return CLI_OK;
}

static void softmax(const float *x, int n, double *out)
{
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < n; i++)
        if (x[i] > mx)
            mx = x[i];
    for (int i = 0; i < n; i++) {
        out[i] = exp((double)x[i] - mx);
        sum += out[i];
    }
    for (int i = 0; i < n; i++)
        out[i] /= sum;
}

/* Print the top-k rows for one image. */
static void print_topk(const nk_graph *g, const char *image, const float *logits,
                       int n, int k, double *prob, int *used)
{
    softmax(logits, n, prob);
    memset(used, 0, (size_t)n * sizeof *used);
    printf("%s\n", image);
    for (int r = 0; r < k && r < n; r++) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (!used[i] && (best < 0 || prob[i] > prob[best]))
                best = i;
        used[best] = 1;
        const char *label = nk_graph_label(g, best);
        printf("  %4d  %.4f  %5d%s%s\n", r + 1, prob[best], best,
               label ? "  " : "", label ? label : "");
    }
}

typedef struct run_opts {
    long long topk, threads, batch;
    cli_list inputs;
    const char *outdir;
} run_opts;

static int run_images(nk_ctx *ctx, const char *path, nk_graph *g,
                      const cli_list *images, const run_opts *o)
{
    nk_preproc pre = nk_graph_preproc(g);
    if (!pre.valid)
        return cli_error("%s has no preprocessing metadata; pass --input "
                         "x.npy", path);
    if (nk_graph_num_inputs(g) != 1)
        return cli_error("%s has %d inputs; images need a model with one "
                         "(use --input)", path, nk_graph_num_inputs(g));
    const nk_tensor *gin = nk_graph_input(g, 0);
    int64_t batch = o->batch > 0 ? o->batch : images->n;
    if (batch > images->n)
        batch = images->n;
    if (nk_tensor_rank(gin) >= 1 && nk_tensor_dim(gin, 0) > 0)
        batch = nk_tensor_dim(gin, 0); /* a static batch */
    nk_plan_opts po = {batch, 0, 0, 0};
    nk_plan *plan = NULL;
    if (nk_plan_create(ctx, g, &po, &plan) != NK_OK)
        return cli_fail(ctx);
    nk_tensor *in = nk_plan_input(plan, 0);
    nk_tensor *out = nk_plan_output(plan, 0);
    int rc = CLI_OK;
    double *prob = NULL;
    int *used = NULL;
    int64_t per = 0;
    if (nk_tensor_dtype(out) != NK_F32 || nk_tensor_rank(out) < 1 ||
        nk_tensor_dim(out, 0) != batch) {
        char s[160];
        rc = cli_error("%s: output '%s' is %s %s; expected f32 [%lld, "
                       "classes]", path, nk_tensor_name(out),
                       nk_dtype_name(nk_tensor_dtype(out)),
                       cli_shape_str(out, s, sizeof s), (long long)batch);
        goto done;
    }
    per = nk_tensor_numel(out) / batch;
    if (per <= 0 || per > 100000000) {
        rc = cli_error("%s: output '%s' has %lld values per image", path,
                       nk_tensor_name(out), (long long)per);
        goto done;
    }
    prob = malloc((size_t)per * sizeof *prob);
    used = malloc((size_t)per * sizeof *used);
    if (!prob || !used) {
        rc = cli_error("out of memory");
        goto done;
    }
    for (int start = 0; start < images->n; start += (int)batch) {
        int count = images->n - start < batch ? images->n - start : (int)batch;
        memset(nk_tensor_data(in), 0, nk_tensor_nbytes(in));
        for (int j = 0; j < count; j++) {
            nk_image *img = NULL;
            if (nk_image_load(ctx, images->v[start + j],
                              pre.channels == 1 ? 1 : 3, &img) != NK_OK) {
                rc = cli_fail(ctx);
                goto done;
            }
            nk_status st = nk_image_to_input(ctx, img, &pre, in, j);
            nk_image_free(img);
            if (st != NK_OK) {
                fprintf(stderr, "nnkit: %s: %s\n", images->v[start + j],
                        nk_errmsg(ctx));
                rc = CLI_ERR;
                goto done;
            }
        }
        if (nk_plan_run(ctx, plan) != NK_OK) {
            rc = cli_fail(ctx);
            goto done;
        }
        const float *logits = nk_tensor_data(out);
        for (int j = 0; j < count; j++) {
            if (start + j > 0)
                printf("\n");
            print_topk(g, images->v[start + j], logits + (size_t)j * per,
                       (int)per, (int)o->topk, prob, used);
        }
    }
done:
    free(prob);
    free(used);
    nk_plan_free(plan);
    return rc;
}

/* An output name as a file name: path separators and oddities become _. */
static void file_name(const char *name, char *buf, size_t n)
{
    size_t i = 0;
    for (; name[i] && i + 1 < n; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        buf[i] = ok ? c : '_';
    }
    buf[i] = 0;
    if (i == 0 || strcmp(buf, ".") == 0 || strcmp(buf, "..") == 0)
        snprintf(buf, n, "output");
}

static void print_summary(nk_tensor *t)
{
    char s[160];
    printf("%s  %s %s", nk_tensor_name(t), nk_dtype_name(nk_tensor_dtype(t)),
           cli_shape_str(t, s, sizeof s));
    int64_t n = nk_tensor_numel(t);
    if (nk_tensor_dtype(t) == NK_F32 && n > 0) {
        const float *v = nk_tensor_data(t);
        float mn = v[0], mx = v[0];
        for (int64_t i = 1; i < n; i++) {
            if (v[i] < mn)
                mn = v[i];
            if (v[i] > mx)
                mx = v[i];
        }
        printf("  min %.6g  max %.6g", (double)mn, (double)mx);
        /* argmax per batch item */
        int64_t b = nk_tensor_rank(t) >= 2 ? nk_tensor_dim(t, 0) : 1;
        int64_t per = b > 0 ? n / b : n;
        printf("  argmax");
        for (int64_t j = 0; j < b && j < 8; j++) {
            int64_t best = 0;
            for (int64_t i = 1; i < per; i++)
                if (v[j * per + i] > v[j * per + best])
                    best = i;
            printf(" %lld", (long long)best);
        }
        if (b > 8)
            printf(" ...");
    }
    printf("\n");
}

static int graph_input_index(const nk_graph *g, const char *name)
{
    for (int i = 0; i < nk_graph_num_inputs(g); i++)
        if (strcmp(nk_tensor_name(nk_graph_input(g, i)), name) == 0)
            return i;
    return -1;
}

static int same_shape(const nk_tensor *a, const nk_tensor *b)
{
    if (nk_tensor_rank(a) != nk_tensor_rank(b))
        return 0;
    for (int i = 0; i < nk_tensor_rank(a); i++)
        if (nk_tensor_dim(a, i) != nk_tensor_dim(b, i))
            return 0;
    return 1;
}

static int run_tensors(nk_ctx *ctx, const char *path, nk_graph *g,
                       const run_opts *o)
{
    int ni = nk_graph_num_inputs(g);
    int rc = CLI_OK;
    nk_tensor **vals = calloc((size_t)(ni > 0 ? ni : 1), sizeof *vals);
    const char **files = calloc((size_t)(ni > 0 ? ni : 1), sizeof *files);
    nk_plan *plan = NULL;
    if (!vals || !files) {
        rc = cli_error("out of memory");
        goto done;
    }
    if (o->inputs.n != ni) {
        rc = cli_error("%s has %d input%s, got %d --input", path, ni,
                       ni == 1 ? "" : "s", o->inputs.n);
        goto done;
    }
    /* Named inputs first, then the others in the model's order. */
    for (int pass = 0; pass < 2; pass++) {
        for (int k = 0; k < o->inputs.n; k++) {
            const char *spec = o->inputs.v[k];
            const char *eq = strchr(spec, '=');
            int idx = -1;
            if (eq) {
                char name[512];
                snprintf(name, sizeof name, "%.*s", (int)(eq - spec), spec);
                idx = graph_input_index(g, name);
                if (idx < 0) {
                    struct stat st;
                    if (stat(spec, &st) != 0) { /* not a file called a=b */
                        rc = cli_error("%s has no input named '%s'", path,
                                       name);
                        goto done;
                    }
                } else {
                    spec = eq + 1;
                }
            }
            if ((pass == 0) != (idx >= 0))
                continue;
            if (idx < 0)
                for (idx = 0; idx < ni && files[idx]; idx++)
                    ;
            if (idx >= ni) {
                rc = cli_error("too many --input values for %s", path);
                goto done;
            }
            if (files[idx]) {
                rc = cli_error("input '%s' given twice",
                               nk_tensor_name(nk_graph_input(g, idx)));
                goto done;
            }
            files[idx] = spec;
            if (nk_npy_load(ctx, spec, &vals[idx]) != NK_OK) {
                rc = cli_fail(ctx);
                goto done;
            }
        }
    }
    /* The symbolic batch comes from --batch, else from the first input
     * whose leading dim is symbolic. */
    int64_t batch = o->batch > 0 ? o->batch : 0;
    for (int i = 0; i < ni && batch == 0; i++) {
        const nk_tensor *gi = nk_graph_input(g, i);
        if (nk_tensor_rank(gi) >= 1 && nk_tensor_dim(gi, 0) < 0 &&
            nk_tensor_rank(vals[i]) >= 1)
            batch = nk_tensor_dim(vals[i], 0);
    }
    nk_plan_opts po = {batch > 0 ? batch : 1, 0, 0, 0};
    if (nk_plan_create(ctx, g, &po, &plan) != NK_OK) {
        rc = cli_fail(ctx);
        goto done;
    }
    for (int i = 0; i < ni; i++) {
        nk_tensor *pin = nk_plan_input(plan, i);
        char a[160], b[160];
        if (nk_tensor_dtype(pin) != nk_tensor_dtype(vals[i]) ||
            !same_shape(pin, vals[i])) {
            rc = cli_error("input '%s': %s is %s %s, expected %s %s",
                           nk_tensor_name(pin), files[i],
                           nk_dtype_name(nk_tensor_dtype(vals[i])),
                           cli_shape_str(vals[i], a, sizeof a),
                           nk_dtype_name(nk_tensor_dtype(pin)),
                           cli_shape_str(pin, b, sizeof b));
            goto done;
        }
        memcpy(nk_tensor_data(pin), nk_tensor_data(vals[i]),
               nk_tensor_nbytes(pin));
    }
    if (nk_plan_run(ctx, plan) != NK_OK) {
        rc = cli_fail(ctx);
        goto done;
    }
    if (o->outdir && (rc = make_dirs(o->outdir)) != CLI_OK)
        goto done;
    for (int i = 0; i < nk_plan_num_outputs(plan); i++) {
        nk_tensor *t = nk_plan_output(plan, i);
        if (!o->outdir) {
            print_summary(t);
            continue;
        }
        char name[256], full[4096];
        file_name(nk_tensor_name(t), name, sizeof name);
        snprintf(full, sizeof full, "%s/%s.npy", o->outdir, name);
        if (nk_npy_save(ctx, t, full) != NK_OK) {
            rc = cli_fail(ctx);
            goto done;
        }
        if (cli_stdout_tty())
            printf("wrote %s\n", full);
    }
done:
    nk_plan_free(plan);
    for (int i = 0; vals && i < ni; i++)
        nk_tensor_free(vals[i]);
    free(vals);
    free(files);
    return rc;
}

int cmd_run(nk_ctx *ctx, int argc, char **argv)
{
    run_opts o = {5, 0, 0, {0}, NULL};
    const cli_opt opts[] = {
        {"topk", 'k', CLI_INT, "K", "classes printed per image (default 5)",
         &o.topk},
        {"input", 'i', CLI_LIST, "[NAME=]FILE.npy", "a tensor for a model "
         "input, by name or in input order", &o.inputs},
        {"output-dir", 0, CLI_STRING, "DIR", "write DIR/<output>.npy for "
         "every output (with --input)", &o.outdir},
        {"threads", 't', CLI_INT, "N", "worker threads (default: all CPUs)",
         &o.threads},
        {"batch", 'b', CLI_INT, "N", "images per run, or the symbolic batch "
         "for --input (default: all / the first input's dim 0)", &o.batch},
        {0},
    };
    const cli_spec spec = {
        "run", "MODEL [IMAGE ...] [options]",
        "Classify JPEG/PNG images with the model's preprocessing and print\n"
        "the top-K classes, or run on .npy tensors given with --input.",
        opts, 1, -1};
    cli_list pos = {0};
    int rc = cli_parse(&spec, argc, argv, &pos);
    if (rc >= 0)
        goto out;
    rc = CLI_USAGE;
    if (o.topk <= 0 || o.topk > 1000000) {
        cli_usage_error(spec.name, "--topk must be positive");
        goto out;
    }
    if (o.threads < 0 || o.threads > 4096 || o.batch < 0 ||
        o.batch > 1000000) {
        cli_usage_error(spec.name, "--threads/--batch out of range");
        goto out;
    }
    if (pos.n > 1 && o.inputs.n) {
        cli_usage_error(spec.name, "give images or --input, not both");
        goto out;
    }
    if (pos.n == 1 && !o.inputs.n) {
        cli_usage_error(spec.name, "nothing to run: give IMAGE files or "
                                   "--input FILE.npy");
        goto out;
    }
    if (o.outdir && !o.inputs.n) {
        cli_usage_error(spec.name, "--output-dir needs --input");
        goto out;
    }
    if (o.threads)
        nk_ctx_set_threads(ctx, (int)o.threads);
    nk_graph *g = NULL;
    if (nk_model_load(ctx, pos.v[0], &g) != NK_OK) {
        rc = cli_fail(ctx);
        goto out;
    }
    if (nk_graph_optimize(ctx, g) != NK_OK)
        rc = cli_fail(ctx);
    else if (o.inputs.n)
        rc = run_tensors(ctx, pos.v[0], g, &o);
    else {
        cli_list images = {pos.v + 1, pos.n - 1, 0};
        rc = run_images(ctx, pos.v[0], g, &images, &o);
    }
    nk_graph_free(g);
out:
    cli_list_free(&pos);
    cli_list_free(&o.inputs);
    return rc;
}
