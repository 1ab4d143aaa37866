/*
 * cmd-eval.c — `nnkit eval MODEL --data DIR [--json]`: accuracy,
 * per-class accuracy and the confusion matrix of a classifier on a folder
 * of images (DIR/CLASS/IMAGE), folders matched to the model's labels.
 */
#include "cli.h"

#include <string.h>

static void print_json(const char *model, const char *dir,
                       const nk_eval_result *r)
{
    printf("{\"model\": ");
    cli_json_str(stdout, model);
    printf(", \"data\": ");
    cli_json_str(stdout, dir);
    printf(", \"images\": %lld, \"correct\": %lld, \"accuracy\": %.6f, "
           "\"loss\": %.6f, \"skipped\": %lld,\n \"classes\": [",
           (long long)r->n, (long long)r->correct, r->accuracy, r->loss,
           (long long)r->skipped);
    for (int c = 0; c < r->n_classes; c++) {
        printf("%s{\"name\": ", c ? ", " : "");
        cli_json_str(stdout, r->classes[c]);
        printf(", \"images\": %lld, \"accuracy\": ",
               (long long)r->per_class_n[c]);
        if (r->per_class_n[c])
            printf("%.6f}", r->per_class_accuracy[c]);
        else
            printf("null}");
    }
    printf("],\n \"confusion\": [");
    for (int t = 0; t < r->n_classes; t++) {
        printf("%s[", t ? ",\n   " : "");
        for (int p = 0; p < r->n_classes; p++)
            printf("%s%lld", p ? ", " : "",
                   (long long)r->confusion[(size_t)t * r->n_classes + p]);
        printf("]");
    }
    printf("]}\n");
}

static void print_table(const nk_eval_result *r)
{
    int C = r->n_classes, w = 5;
    for (int c = 0; c < C; c++) {
        int l = (int)strlen(r->classes[c]);
        if (r->per_class_n[c] && l > w)
            w = l > 40 ? 40 : l;
    }
    printf("accuracy %.2f%% (%lld of %lld images), loss %.4f\n",
           100 * r->accuracy, (long long)r->correct, (long long)r->n,
           r->loss);
    if (r->skipped)
        printf("skipped %lld unreadable image%s\n", (long long)r->skipped,
               r->skipped == 1 ? "" : "s");
    printf("\n%-*s  %7s  %8s\n", w, "class", "images", "accuracy");
    for (int c = 0; c < C; c++)
        if (r->per_class_n[c])
            printf("%-*.*s  %7lld  %7.2f%%\n", w, w, r->classes[c],
                   (long long)r->per_class_n[c],
                   100 * r->per_class_accuracy[c]);
    if (C > 30) {
        printf("\n(confusion matrix of %d classes: see --json)\n", C);
        return;
    }
    /* rows: true classes present; columns: every class, by index */
    printf("\nconfusion matrix (rows: true class, columns: predicted class "
           "index)\n%-*s", w + 3, "");
    for (int p = 0; p < C; p++)
        printf(" %5d", p);
    printf("\n");
    for (int t = 0; t < C; t++) {
        if (!r->per_class_n[t])
            continue;
        printf("%2d %-*.*s", t, w, w, r->classes[t]);
        for (int p = 0; p < C; p++)
            printf(" %5lld", (long long)r->confusion[(size_t)t * C + p]);
        printf("\n");
    }
}

int cmd_eval(nk_ctx *ctx, int argc, char **argv)
{
    const char *data = NULL;
    int json = 0;
    long long batch = 0, threads = 0;
    const cli_opt opts[] = {
        {"data", 0, CLI_STRING, "DIR", "images: DIR/CLASS/IMAGE (.jpg, "
         ".jpeg, .png), CLASS one of the model's labels", &data},
        {"json", 0, CLI_FLAG, NULL, "print the results as JSON", &json},
        {"batch", 0, CLI_INT, "N", "batch size (default 64)", &batch},
        {"threads", 0, CLI_INT, "N", "threads (default: all CPUs)", &threads},
        {0},
    };
    const cli_spec spec = {
        "eval", "MODEL --data DIR [--json]",
        "Evaluate a classifier on a folder of images: accuracy, per-class\n"
        "accuracy and the confusion matrix. Class folders are matched to\n"
        "the model's labels by name (a model without labels takes them in\n"
        "sorted order).",
        opts, 1, 1};
    cli_list pos = {0};
    int rc = cli_parse(&spec, argc, argv, &pos);
    const char *model = pos.n > 0 ? pos.v[0] : NULL;
    cli_list_free(&pos);
    if (rc >= 0)
        return rc;
    if (!data)
        return cli_usage_error(spec.name, "--data DIR is required");
    if (threads > 0)
        nk_ctx_set_threads(ctx, threads > 1024 ? 1024 : (int)threads);
    nk_graph *g = NULL;
    if (nk_model_load(ctx, model, &g) != NK_OK)
        return cli_fail(ctx);
    nk_eval_result r;
    if (nk_eval(ctx, g, data, batch > 65536 ? 65536 : (int)batch, &r) !=
        NK_OK) {
        rc = cli_fail(ctx);
    } else {
        if (r.warnings && r.warnings[0]) {
            const char *s = r.warnings;
            while (*s) {
                const char *nl = strchr(s, '\n');
                int k = nl ? (int)(nl - s) : (int)strlen(s);
                fprintf(stderr, "nnkit: warning: skipping unreadable image: "
                        "%.*s\n", k, s);
                s += k + (nl ? 1 : 0);
            }
        }
        if (json)
            print_json(model, data, &r);
        else
            print_table(&r);
        nk_eval_result_clear(&r);
        rc = CLI_OK;
    }
    nk_graph_free(g);
    return rc;
}
