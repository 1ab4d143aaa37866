/*
 * test-ops.c — one-node op tests against PyTorch: for every case folder
 * written by tests/opcases/<family>.py (case.txt + in*.npy + out*.npy), build a
 * graph of that op, check shape inference, then run it with the reference
 * kernels and with the kernels the table picks and compare both outputs.
 *
 * Usage: test-ops CASES_DIR [NAME_SUBSTRING ...]
 */
#include "engine/ir.h"
#include "engine/op.h"
#include "engine/plan.h"
#include "harness.h"

#include <dirent.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#define MAX_IO 16
#define MAX_ATTR 32
#define MAX_VALS 64

typedef struct case_attr {
    char name[64];
    nk_attr_type type;
    int64_t ints[MAX_VALS];
    float floats[MAX_VALS];
    int n;
    char str[128];
} case_attr;

typedef struct op_case {
    char op[64];
    case_attr attr[MAX_ATTR];
    int n_attr;
    int n_in, n_out;
    bool omit[MAX_IO], is_const[MAX_IO];
    int train;
    double tol;
    nk_act act;
    float a0, a1;
} op_case;

static char g_err[1024];

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
    return -1;
}

static int parse_case(const char *path, op_case *c)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fail("cannot open %s", path);
    memset(c, 0, sizeof *c);
    c->tol = 1e-4;
    char line[2048];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        char *save = NULL;
        char *key = strtok_r(line, " \t\r\n", &save);
        if (!key || key[0] == '#')
            continue;
        char *tok;
        if (strcmp(key, "op") == 0) {
            tok = strtok_r(NULL, " \t\r\n", &save);
            snprintf(c->op, sizeof c->op, "%s", tok ? tok : "");
        } else if (strcmp(key, "attr") == 0) {
            if (c->n_attr == MAX_ATTR) {
                rc = fail("too many attributes");
                break;
            }
            case_attr *a = &c->attr[c->n_attr++];
            char *nm = strtok_r(NULL, " \t\r\n", &save);
            char *ty = strtok_r(NULL, " \t\r\n", &save);
            if (!nm || !ty) {
                rc = fail("bad attr line");
                break;
            }
            snprintf(a->name, sizeof a->name, "%s", nm);
            if (strcmp(ty, "int") == 0 || strcmp(ty, "ints") == 0) {
                a->type = ty[3] ? NK_ATTR_INTS : NK_ATTR_INT;
                while ((tok = strtok_r(NULL, " \t\r\n", &save)) &&
                       a->n < MAX_VALS)
                    a->ints[a->n++] = strtoll(tok, NULL, 10);
            } else if (strcmp(ty, "float") == 0 ||
                       strcmp(ty, "floats") == 0) {
                a->type = ty[5] ? NK_ATTR_FLOATS : NK_ATTR_FLOAT;
                while ((tok = strtok_r(NULL, " \t\r\n", &save)) &&
                       a->n < MAX_VALS)
                    a->floats[a->n++] = strtof(tok, NULL);
            } else if (strcmp(ty, "string") == 0) {
                a->type = NK_ATTR_STRING;
                tok = strtok_r(NULL, "\r\n", &save);
                while (tok && (*tok == ' ' || *tok == '\t'))
                    tok++;
                snprintf(a->str, sizeof a->str, "%s", tok ? tok : "");
            } else {
                rc = fail("attr %s: unknown type '%s'", nm, ty);
            }
            if (rc == 0 && (a->type == NK_ATTR_INT ||
                            a->type == NK_ATTR_FLOAT) && a->n != 1)
                rc = fail("attr %s: expected one value, found %d", nm, a->n);
        } else if (strcmp(key, "inputs") == 0 || strcmp(key, "outputs") == 0) {
            tok = strtok_r(NULL, " \t\r\n", &save);
            int v = tok ? atoi(tok) : -1;
            if (v < 0 || v > MAX_IO) {
                rc = fail("bad %s count", key);
                break;
            }
            if (key[0] == 'i')
                c->n_in = v;
            else
                c->n_out = v;
        } else if (strcmp(key, "omit") == 0 || strcmp(key, "const") == 0) {
            while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
                int i = atoi(tok);
                if (i < 0 || i >= MAX_IO) {
                    rc = fail("%s index %d out of range", key, i);
                    break;
                }
                if (key[0] == 'o')
                    c->omit[i] = true;
                else
                    c->is_const[i] = true;
            }
        } else if (strcmp(key, "train") == 0) {
            tok = strtok_r(NULL, " \t\r\n", &save);
            c->train = tok ? atoi(tok) : 0;
        } else if (strcmp(key, "tol") == 0) {
            tok = strtok_r(NULL, " \t\r\n", &save);
            c->tol = tok ? strtod(tok, NULL) : 1e-4;
        } else if (strcmp(key, "act") == 0) {
            tok = strtok_r(NULL, " \t\r\n", &save);
            c->act = NK_ACT_COUNT;
            for (int i = 0; tok && i < NK_ACT_COUNT; i++)
                if (strcasecmp(tok, nk_act_name((nk_act)i)) == 0)
                    c->act = (nk_act)i;
            if (c->act == NK_ACT_COUNT) {
                rc = fail("unknown act '%s'", tok ? tok : "");
                break;
            }
            tok = strtok_r(NULL, " \t\r\n", &save);
            c->a0 = tok ? strtof(tok, NULL) : 0.0f;
            tok = strtok_r(NULL, " \t\r\n", &save);
            c->a1 = tok ? strtof(tok, NULL) : 0.0f;
        } else {
            rc = fail("unknown key '%s'", key);
        }
    }
    fclose(f);
    if (rc == 0 && !c->op[0])
        rc = fail("no op line");
    if (rc == 0 && c->n_out < 1)
        rc = fail("no outputs");
    return rc;
}

static double elem(const nk_tensor *t, int64_t i)
{
    const void *d = nk_tensor_data(t);
    switch (nk_tensor_dtype(t)) {
    case NK_F32: return ((const float *)d)[i];
    case NK_I64: return (double)((const int64_t *)d)[i];
    case NK_I32: return ((const int32_t *)d)[i];
    case NK_U8: return ((const uint8_t *)d)[i];
    case NK_I8: return ((const int8_t *)d)[i];
    case NK_BOOL: return ((const uint8_t *)d)[i];
    case NK_F16: return nk_f16_to_f32(((const uint16_t *)d)[i]);
    case NK_BF16: return nk_bf16_to_f32(((const uint16_t *)d)[i]);
    default: return NAN;
    }
}

static bool same_shape(const nk_tensor *a, const nk_tensor *b)
{
    if (nk_tensor_rank(a) != nk_tensor_rank(b))
        return false;
    for (int i = 0; i < nk_tensor_rank(a); i++)
        if (nk_tensor_dim(a, i) != nk_tensor_dim(b, i))
            return false;
    return true;
}

static void shape_str(const nk_tensor *t, char *buf, size_t n)
{
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < nk_tensor_rank(t) && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? "," : "",
                              (long long)nk_tensor_dim(t, i));
    if (o < n)
        snprintf(buf + o, n - o, "]");
}

/* max|got - want| <= tol * max(1, max|want|) */
static int compare(const char *what, const nk_tensor *got,
                   const nk_tensor *want, double tol)
{
    char a[128], b[128];
    if (!same_shape(got, want)) {
        shape_str(got, a, sizeof a);
        shape_str(want, b, sizeof b);
        return fail("%s: shape %s, expected %s", what, a, b);
    }
    if (nk_tensor_dtype(got) != nk_tensor_dtype(want))
        return fail("%s: dtype %s, expected %s", what,
                    nk_dtype_name(nk_tensor_dtype(got)),
                    nk_dtype_name(nk_tensor_dtype(want)));
    int64_t n = nk_tensor_numel(want), worst = -1;
    double maxw = 0.0, maxd = 0.0;
    for (int64_t i = 0; i < n; i++)
        if (fabs(elem(want, i)) > maxw)
            maxw = fabs(elem(want, i));
    for (int64_t i = 0; i < n; i++) {
        double g = elem(got, i), w = elem(want, i);
        double d = isnan(w) ? (isnan(g) ? 0.0 : INFINITY) : fabs(g - w);
        if (!(d <= maxd)) {
            maxd = d;
            worst = i;
        }
    }
    double lim = tol * (maxw > 1.0 ? maxw : 1.0);
    if (!(maxd <= lim))
        return fail("%s: max |diff| %g at element %lld (got %g, want %g), "
                    "limit %g", what, maxd, (long long)worst,
                    elem(got, worst), elem(want, worst), lim);
    return 0;
}

static nk_status set_attrs(nk_ctx *ctx, nk_graph *g, nk_node *node,
                           const op_case *c)
{
    nk_status st = NK_OK;
    for (int i = 0; i < c->n_attr && st == NK_OK; i++) {
        const case_attr *a = &c->attr[i];
        switch (a->type) {
        case NK_ATTR_INT:
            st = nk_node_set_int(ctx, g, node, a->name, a->ints[0]);
            break;
        case NK_ATTR_FLOAT:
            st = nk_node_set_float(ctx, g, node, a->name, a->floats[0]);
            break;
        case NK_ATTR_STRING:
            st = nk_node_set_string(ctx, g, node, a->name, a->str);
            break;
        case NK_ATTR_INTS:
            st = nk_node_set_ints(ctx, g, node, a->name, a->n, a->ints);
            break;
        case NK_ATTR_FLOATS:
            st = nk_node_set_floats(ctx, g, node, a->name, a->n, a->floats);
            break;
        default:
            break;
        }
    }
    return st;
}

static nk_shape tensor_shape(const nk_tensor *t)
{
    int64_t d[NK_MAX_RANK];
    for (int i = 0; i < nk_tensor_rank(t); i++)
        d[i] = nk_tensor_dim(t, i);
    return nk_shape_make(nk_tensor_rank(t), d);
}

static int run_case(nk_ctx *ctx, const char *dir, char *kernels, size_t kn)
{
    char path[4200]; /* dir (< 4096) + "/case.txt" */
    op_case c;
    nk_tensor *in[MAX_IO] = {0}, *want[MAX_IO] = {0};
    nk_graph *g = NULL;
    nk_plan *plan = NULL;
    int rc = 0, in_idx[MAX_IO], out_idx[MAX_IO], graph_in[MAX_IO];
    int n_graph_in = 0;
    nk_status st;
    kernels[0] = 0;

#define LIBCALL(call)                                                     \
    do {                                                                  \
        if ((st = (call)) != NK_OK) {                                     \
            rc = fail("%s -> %s: %s", #call, nk_status_name(st),          \
                      nk_errmsg(ctx));                                    \
            goto out;                                                     \
        }                                                                 \
    } while (0)

    snprintf(path, sizeof path, "%s/case.txt", dir);
    if (parse_case(path, &c) != 0)
        return -1;
    nk_op op = nk_op_from_name(c.op);
    if (op == NK_OP_COUNT)
        return fail("unknown op '%s'", c.op);
    for (int i = 0; i < c.n_in; i++) {
        if (c.omit[i])
            continue;
        snprintf(path, sizeof path, "%s/in%d.npy", dir, i);
        LIBCALL(nk_npy_load(ctx, path, &in[i]));
    }
    for (int i = 0; i < c.n_out; i++) {
        snprintf(path, sizeof path, "%s/out%d.npy", dir, i);
        LIBCALL(nk_npy_load(ctx, path, &want[i]));
    }

    LIBCALL(nk_graph_new(ctx, &g));
    for (int i = 0; i < c.n_in; i++) {
        char name[32];
        snprintf(name, sizeof name, "in%d", i);
        if (c.omit[i]) {
            in_idx[i] = NK_NO_INPUT;
            continue;
        }
        nk_shape s = tensor_shape(in[i]);
        if (c.is_const[i]) {
            LIBCALL(nk_graph_add_init(ctx, g, name, nk_tensor_dtype(in[i]),
                                      &s, &in_idx[i]));
            nk_tensor *t = g->tensors[in_idx[i]];
            if (t->nbytes != nk_tensor_nbytes(in[i])) {
                rc = fail("initializer %s has %zu bytes, expected %zu", name,
                          t->nbytes, nk_tensor_nbytes(in[i]));
                goto out;
            }
            memcpy(t->data, nk_tensor_data(in[i]), t->nbytes);
        } else {
            LIBCALL(nk_graph_add_tensor(ctx, g, name, nk_tensor_dtype(in[i]),
                                        &s, &in_idx[i]));
            graph_in[n_graph_in++] = i;
        }
    }
    for (int i = 0; i < c.n_out; i++) {
        char name[32];
        snprintf(name, sizeof name, "out%d", i);
        LIBCALL(nk_graph_add_tensor(ctx, g, name, NK_F32, NULL, &out_idx[i]));
    }
    nk_node *node;
    LIBCALL(nk_graph_add_node(ctx, g, op, "node", c.n_in, in_idx, c.n_out,
                              out_idx, &node));
    LIBCALL(set_attrs(ctx, g, node, &c));
    node->act = c.act;
    node->act_a0 = c.a0;
    node->act_a1 = c.a1;
    {
        int gi[MAX_IO];
        for (int i = 0; i < n_graph_in; i++)
            gi[i] = in_idx[graph_in[i]];
        LIBCALL(nk_graph_set_inputs(ctx, g, n_graph_in, gi));
        LIBCALL(nk_graph_set_outputs(ctx, g, c.n_out, out_idx));
    }
    LIBCALL(nk_graph_infer(ctx, g));
    for (int i = 0; i < c.n_out; i++) {
        const nk_tensor *t = g->tensors[out_idx[i]];
        nk_shape ws = tensor_shape(want[i]);
        if (!nk_shape_equal(&t->shape, &ws)) {
            char a[128], b[128];
            rc = fail("inferred shape of out%d is %s, expected %s", i,
                      nk_shape_str(&t->shape, a, sizeof a),
                      nk_shape_str(&ws, b, sizeof b));
            goto out;
        }
    }

    for (int ref = 1; ref >= 0; ref--) {
        nk_plan_opts opts = {.batch = 0, .threads = ref ? 2 : 3,
                             .training = c.train, .reference = ref};
        LIBCALL(nk_plan_create(ctx, g, &opts, &plan));
        if (nk_plan_num_inputs(plan) != n_graph_in) {
            rc = fail("plan has %d inputs, expected %d",
                      nk_plan_num_inputs(plan), n_graph_in);
            goto out;
        }
        for (int i = 0; i < n_graph_in; i++) {
            nk_tensor *pt = nk_plan_input(plan, i);
            const nk_tensor *src = in[graph_in[i]];
            if (nk_tensor_nbytes(pt) != nk_tensor_nbytes(src)) {
                rc = fail("plan input %d has %zu bytes, expected %zu", i,
                          nk_tensor_nbytes(pt), nk_tensor_nbytes(src));
                goto out;
            }
            memcpy(nk_tensor_data(pt), nk_tensor_data(src),
                   nk_tensor_nbytes(src));
        }
        LIBCALL(nk_plan_run(ctx, plan));
        size_t used = strlen(kernels);
        snprintf(kernels + used, kn - used, "%s%s", used ? " / " : "",
                 nk_plan_num_steps(plan) > 0 ? nk_plan_kernel_name(plan, 0)
                                             : "(none)");
        for (int i = 0; i < c.n_out; i++) {
            char what[64];
            snprintf(what, sizeof what, "%s out%d",
                     ref ? "reference" : "fast", i);
            if (compare(what, nk_plan_output(plan, i), want[i], c.tol)) {
                rc = -1;
                goto out;
            }
        }
        nk_plan_free(plan);
        plan = NULL;
    }
out:
#undef LIBCALL
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

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CASES_DIR [NAME ...]\n", argv[0]);
        return 2;
    }
    DIR *d = opendir(argv[1]);
    if (!d) {
        fprintf(stderr, "cannot open %s\n", argv[1]);
        return 2;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s/case.txt", argv[1], de->d_name);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        fclose(f);
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn)
                return 2;
            names = nn;
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);

    nk_ctx *ctx;
    if (nk_ctx_new(&ctx) != NK_OK)
        return 2;
    int passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        bool pick = argc < 3;
        for (int a = 2; a < argc; a++)
            if (strstr(names[i], argv[a]))
                pick = true;
        if (!pick)
            continue;
        char dir[4096], kernels[256];
        snprintf(dir, sizeof dir, "%s/%s", argv[1], names[i]);
        g_err[0] = 0;
        if (run_case(ctx, dir, kernels, sizeof kernels) == 0) {
            printf("ok    %-28s %s\n", names[i], kernels);
            passed++;
        } else {
            printf("FAIL  %-28s %s\n", names[i], g_err);
            failed++;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    nk_ctx_free(ctx);
    if (passed + failed == 0) {
        printf("no cases found in %s\n", argv[1]);
        failed = 1;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
