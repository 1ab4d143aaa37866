/*
 * test-onnx-backend.c — the ONNX backend node tests (Debian's
 * libonnx-testdata: DIR/<case>/model.onnx + test_data_set_N/{input,
 * output}_K.pb) run through nnkit's reader and engine, with the reference
 * kernels and with the kernels the table picks, compared with ONNX's own
 * tolerances (floats: |got - want| <= 1e-7 + 1e-3 |want|; integers and
 * bools exactly).
 *
 * A case is skipped only when the reader or the test-data reader refuses
 * it as unsupported (an op nnkit does not have, a dtype such as double or
 * string), or when it is listed in KNOWN below with the reason. Any other
 * failure — of a supported op, at inference, planning or in the values —
 * fails the test. Prints one line per case, the skips with their reason,
 * and "N passed, N failed, N skipped".
 *
 * Usage: test-onnx-backend [DIR] [NAME_SUBSTRING ...]
 * (DIR defaults to /usr/share/libonnx-testdata/data/node; exit 77 when it
 * does not exist, which ctest reports as skipped.)
 */
#include "engine/ir.h"
#include "engine/op.h"
#include "formats/onnx/onnx.h"
#include "harness.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_DIR "/usr/share/libonnx-testdata/data/node"
#define MAX_IO 32

/* Cases of supported ops that nnkit does not reproduce, and why. */
static const struct {
    const char *name, *why;
} KNOWN[] = {
    {"test_training_dropout", "training-mode Dropout draws its mask from "
     "numpy's RNG, which nnkit's seeded RNG does not reproduce"},
    {"test_training_dropout_default", "training-mode Dropout: numpy's RNG"},
    {"test_training_dropout_default_mask", "training-mode Dropout: numpy's "
     "RNG"},
    {"test_training_dropout_mask", "training-mode Dropout: numpy's RNG"},
};

static const char *known_reason(const char *name)
{
    for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++)
        if (strcmp(KNOWN[i].name, name) == 0)
            return KNOWN[i].why;
    return NULL;
}

enum { R_PASS = 0, R_FAIL, R_SKIP };

static char g_msg[2048];

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int result(int r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return r;
}

static double elem(const nk_tensor *t, int64_t i)
{
    const void *d = t->data;
    switch (t->dtype) {
    case NK_F32: return ((const float *)d)[i];
    case NK_F16: return nk_f16_to_f32(((const uint16_t *)d)[i]);
    case NK_BF16: return nk_bf16_to_f32(((const uint16_t *)d)[i]);
    case NK_I8: return ((const int8_t *)d)[i];
    case NK_U8: return ((const uint8_t *)d)[i];
    case NK_I32: return ((const int32_t *)d)[i];
    case NK_I64: return (double)((const int64_t *)d)[i];
    case NK_BOOL: return ((const uint8_t *)d)[i] != 0;
    default: return NAN;
    }
}

static bool is_float(nk_dtype dt)
{
    return dt == NK_F32 || dt == NK_F16 || dt == NK_BF16;
}

/* ONNX's backend comparison (numpy.testing.assert_allclose with rtol 1e-3,
 * atol 1e-7) for floats, exact equality otherwise. */
static int compare(const char *what, const nk_tensor *got,
                   const nk_tensor *want)
{
    char a[128], b[128];
    if (!nk_shape_equal(&got->shape, &want->shape))
        return result(R_FAIL, "%s: shape %s, expected %s", what,
                      nk_shape_str(&got->shape, a, sizeof a),
                      nk_shape_str(&want->shape, b, sizeof b));
    if (got->dtype != want->dtype)
        return result(R_FAIL, "%s: dtype %s, expected %s", what,
                      nk_dtype_name(got->dtype), nk_dtype_name(want->dtype));
    int64_t n = nk_shape_numel(&want->shape);
    if (n > 0 && (!got->data || !want->data))
        return result(R_FAIL, "%s: no data", what);
    for (int64_t i = 0; i < n; i++) {
        double g = elem(got, i), w = elem(want, i);
        bool ok;
        if (is_float(want->dtype)) {
            if (isnan(w) || isnan(g))
                ok = isnan(w) && isnan(g);
            else if (isinf(w) || isinf(g))
                ok = g == w;
            else
                ok = fabs(g - w) <= 1e-7 + 1e-3 * fabs(w);
        } else {
            ok = g == w;
        }
        if (!ok)
            return result(R_FAIL, "%s: element %lld is %.9g, expected %.9g "
                          "(%lld elements)", what, (long long)i, g, w,
                          (long long)n);
    }
    return R_PASS;
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Does any node read graph tensor t where nnkit needs the data at plan
 * time (Reshape's shape, Slice's bounds, ...)? */
static bool needs_data(const nk_graph *g, int t)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const nk_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_in; j++)
            if (n->in[j] == t && nk_op_input_is_param(n->op, j))
                return true;
    }
    return false;
}

/* Turn graph input t into an initializer holding a copy of v's data. */
static int bind_input(nk_ctx *ctx, nk_graph *g, int t, const nk_tensor *v)
{
    nk_tensor *dst = g->tensors[t];
    (void)ctx;
    if (dst->dtype != v->dtype)
        return result(R_FAIL, "input '%s' is %s in the model, %s in the data",
                      dst->name, nk_dtype_name(dst->dtype),
                      nk_dtype_name(v->dtype));
    void *data = nk_malloc_aligned(v->nbytes ? v->nbytes : 1, 64);
    if (!data)
        return result(R_FAIL, "out of memory");
    if (v->nbytes)
        memcpy(data, v->data, v->nbytes);
    dst->shape = v->shape;
    dst->data = data;
    dst->nbytes = v->nbytes;
    dst->storage = NK_STORE_OWNED;
    dst->is_init = true;
    return R_PASS;
}

static int run_set(nk_ctx *ctx, const char *model, const char *set,
                   const char *name)
{
    char path[4608];
    nk_graph *g = NULL;
    nk_plan *plan = NULL;
    nk_tensor *in[MAX_IO] = {0}, *want[MAX_IO] = {0};
    int n_in = 0, n_want = 0, rc = R_PASS;
    nk_status st;

    if ((st = nk_onnx_load(ctx, model, &g)) != NK_OK) {
        rc = result(st == NK_UNSUPPORTED ? R_SKIP : R_FAIL, "reader: %s",
                    nk_errmsg(ctx));
        goto out;
    }
    for (n_in = 0; n_in < MAX_IO; n_in++) {
        snprintf(path, sizeof path, "%s/input_%d.pb", set, n_in);
        if (!exists(path))
            break;
        if ((st = nk_onnx_read_tensor_file(ctx, path, &in[n_in]))) {
            rc = result(st == NK_UNSUPPORTED ? R_SKIP : R_FAIL,
                        "test data: %s", nk_errmsg(ctx));
            goto out;
        }
    }
    for (n_want = 0; n_want < MAX_IO; n_want++) {
        snprintf(path, sizeof path, "%s/output_%d.pb", set, n_want);
        if (!exists(path))
            break;
        if ((st = nk_onnx_read_tensor_file(ctx, path, &want[n_want]))) {
            rc = result(st == NK_UNSUPPORTED ? R_SKIP : R_FAIL,
                        "test data: %s", nk_errmsg(ctx));
            goto out;
        }
    }
    if (n_in != g->n_inputs || n_want != g->n_outputs) {
        rc = result(R_FAIL, "the model has %d inputs and %d outputs, the "
                    "data %d and %d", g->n_inputs, g->n_outputs, n_in,
                    n_want);
        goto out;
    }
    /* Inputs that shape the result are bound as constants: nnkit plans
     * shapes once, before the data arrives (docs/onnx.md). */
    int keep[MAX_IO], n_keep = 0;
    nk_tensor *fed[MAX_IO];
    int64_t batch = 0;
    for (int i = 0; i < n_in; i++) {
        int t = g->inputs[i];
        if (needs_data(g, t)) {
            if ((rc = bind_input(ctx, g, t, in[i])) != R_PASS)
                goto out;
            continue;
        }
        const nk_tensor *decl = g->tensors[t];
        if (decl->shape.rank > 0 && decl->shape.d[0] < 0 &&
            in[i]->shape.rank > 0)
            batch = in[i]->shape.d[0];
        fed[n_keep] = in[i];
        keep[n_keep++] = t;
    }
    if ((st = nk_graph_set_inputs(ctx, g, n_keep, keep)) ||
        (st = nk_graph_infer(ctx, g))) {
        rc = result(R_FAIL, "inference: %s", nk_errmsg(ctx));
        goto out;
    }
    for (int ref = 1; ref >= 0; ref--) {
        const char *mode = ref ? "reference" : "default";
        nk_plan_opts o = {.batch = batch, .threads = 2, .reference = ref};
        if ((st = nk_plan_create(ctx, g, &o, &plan))) {
            rc = result(R_FAIL, "%s plan: %s", mode, nk_errmsg(ctx));
            goto out;
        }
        for (int i = 0; i < n_keep; i++) {
            nk_tensor *pt = nk_plan_input(plan, i);
            if (!nk_shape_equal(&pt->shape, &fed[i]->shape) ||
                pt->dtype != fed[i]->dtype) {
                char a[128], b[128];
                rc = result(R_FAIL, "input %d is %s %s in the plan, %s %s in "
                            "the data", i, nk_dtype_name(pt->dtype),
                            nk_shape_str(&pt->shape, a, sizeof a),
                            nk_dtype_name(fed[i]->dtype),
                            nk_shape_str(&fed[i]->shape, b, sizeof b));
                goto out;
            }
            if (fed[i]->nbytes)
                memcpy(pt->data, fed[i]->data, fed[i]->nbytes);
        }
        if ((st = nk_plan_run(ctx, plan))) {
            rc = result(R_FAIL, "%s run: %s", mode, nk_errmsg(ctx));
            goto out;
        }
        for (int i = 0; i < n_want; i++) {
            char what[128];
            snprintf(what, sizeof what, "%s kernels, output %d ('%s')", mode,
                     i, g->tensors[g->outputs[i]]->name);
            if ((rc = compare(what, nk_plan_output(plan, i), want[i])))
                goto out;
        }
        nk_plan_free(plan);
        plan = NULL;
    }
out:
    (void)name;
    nk_plan_free(plan);
    nk_graph_free(g);
    for (int i = 0; i < MAX_IO; i++) {
        nk_tensor_free(in[i]);
        nk_tensor_free(want[i]);
    }
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the entries of dir that start with prefix. */
static char **list_dir(const char *dir, const char *prefix, size_t *count)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    *count = 0;
    if (!d)
        return NULL;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' ||
            strncmp(de->d_name, prefix, strlen(prefix)) != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn)
                break;
            names = nn;
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    *count = n;
    return names;
}

static void free_list(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int main(int argc, char **argv)
{
    const char *root = argc > 1 ? argv[1] : DEFAULT_DIR;
    if (!exists(root)) {
        printf("%s does not exist (Debian package libonnx-testdata): "
               "skipped\n", root);
        return 77;
    }
    size_t n_cases = 0;
    char **cases = list_dir(root, "test_", &n_cases);
    nk_ctx *ctx;
    if (nk_ctx_new(&ctx) != NK_OK)
        return 2;
    int passed = 0, failed = 0, skipped = 0;
    char skips[256][320];
    int n_skips = 0;
    for (size_t c = 0; c < n_cases; c++) {
        bool pick = argc < 3;
        for (int a = 2; a < argc; a++)
            if (strstr(cases[c], argv[a]))
                pick = true;
        if (!pick)
            continue;
        char dir[4200], model[4300];
        snprintf(dir, sizeof dir, "%s/%s", root, cases[c]);
        snprintf(model, sizeof model, "%s/model.onnx", dir);
        if (!exists(model))
            continue;
        size_t n_sets = 0;
        char **sets = list_dir(dir, "test_data_set_", &n_sets);
        int r = n_sets ? R_PASS : result(R_FAIL, "no test_data_set_*");
        for (size_t s = 0; s < n_sets && r == R_PASS; s++) {
            char set[4400];
            snprintf(set, sizeof set, "%s/%s", dir, sets[s]);
            r = run_set(ctx, model, set, cases[c]);
        }
        free_list(sets, n_sets);
        const char *why = known_reason(cases[c]);
        if (why && r == R_FAIL) {
            r = R_SKIP;
            snprintf(g_msg, sizeof g_msg, "known: %s", why);
        } else if (why && r == R_PASS) {
            r = result(R_FAIL, "listed as known to fail, but passes: update "
                       "KNOWN in %s", __FILE__);
        }
        switch (r) {
        case R_PASS:
            printf("ok    %s\n", cases[c]);
            passed++;
            break;
        case R_SKIP:
            printf("skip  %s: %s\n", cases[c], g_msg);
            if (n_skips < 256)
                snprintf(skips[n_skips++], sizeof skips[0], "%s: %.250s",
                         cases[c], g_msg);
            skipped++;
            break;
        default:
            printf("FAIL  %s: %s\n", cases[c], g_msg);
            failed++;
        }
    }
    free_list(cases, n_cases);
    nk_ctx_free(ctx);
    if (n_skips)
        printf("\nskipped (%d):\n", skipped);
    for (int i = 0; i < n_skips; i++)
        printf("  %s\n", skips[i]);
    if (passed + failed == 0) {
        printf("no cases run from %s\n", root);
        failed = 1;
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
