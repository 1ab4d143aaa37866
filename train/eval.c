/*
 * eval.c — evaluation of a classifier: the batch evaluator (accuracy,
 * cross-entropy, confusion matrix) used for validation while training,
 * and nk_eval over an image folder.
 */
#include "train/evaluate.h"
#include "engine/plan.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

nk_status nk_evaluator_init(nk_ctx *ctx, nk_evaluator *ev, nk_graph *g,
                            int64_t batch)
{
    memset(ev, 0, sizeof *ev);
    nk_plan_opts po = {.batch = batch};
    nk_status st = nk_plan_create(ctx, g, &po, &ev->plan);
    if (st != NK_OK)
        return st;
    nk_tensor *in = nk_plan_input(ev->plan, 0);
    nk_tensor *out = nk_plan_output(ev->plan, 0);
    if (out->dtype != NK_F32 || out->shape.rank != 2 ||
        out->shape.d[0] != batch || in->dtype != NK_F32 ||
        in->shape.d[0] != batch) {
        char s[128];
        nk_fail(ctx, NK_SHAPE, "output '%s' is %s %s, expected f32 [%lld, "
                "classes]", out->name, nk_dtype_name(out->dtype),
                nk_shape_str(&out->shape, s, sizeof s), (long long)batch);
        nk_evaluator_free(ev);
        return NK_SHAPE;
    }
    ev->batch = batch;
    ev->sample = (size_t)(nk_shape_numel(&in->shape) / batch);
    ev->n_classes = (int)out->shape.d[1];
    ev->confusion = nk_calloc((size_t)ev->n_classes * (size_t)ev->n_classes,
                              sizeof *ev->confusion);
    if (!ev->confusion) {
        nk_evaluator_free(ev);
        return nk_fail(ctx, NK_NOMEM, "out of memory for a %dx%d confusion "
                       "matrix", ev->n_classes, ev->n_classes);
    }
    return NK_OK;
}

void nk_evaluator_reset(nk_evaluator *ev)
{
    ev->n = ev->correct = 0;
    ev->loss_sum = 0;
    memset(ev->confusion, 0, (size_t)ev->n_classes * (size_t)ev->n_classes *
                                 sizeof *ev->confusion);
}

nk_status nk_evaluator_add(nk_ctx *ctx, nk_evaluator *ev, const float *x,
                           const int32_t *labels, int64_t n)
{
    if (n <= 0)
        return NK_OK;
    nk_tensor *in = nk_plan_input(ev->plan, 0);
    memcpy(in->data, x, (size_t)n * ev->sample * sizeof(float));
    nk_status st = nk_plan_run(ctx, ev->plan);
    if (st != NK_OK)
        return st;
    const float *lg = nk_plan_output(ev->plan, 0)->data;
    int C = ev->n_classes;
    for (int64_t i = 0; i < n; i++) {
        const float *r = lg + i * C;
        int best = 0;
        double mx = r[0];
        for (int c = 1; c < C; c++)
            if (r[c] > mx) {
                mx = r[c];
                best = c;
            }
        double sum = 0;
        for (int c = 0; c < C; c++)
            sum += exp((double)r[c] - mx);
        int t = labels[i];
        if (t < 0 || t >= C)
            return nk_fail(ctx, NK_INVALID_ARG, "label %d out of range [0, %d)",
                           t, C);
        ev->loss_sum += log(sum) + mx - (double)r[t];
        ev->correct += best == t;
        ev->confusion[(size_t)t * C + best]++;
        ev->n++;
    }
    return NK_OK;
}

void nk_evaluator_free(nk_evaluator *ev)
{
    nk_plan_free(ev->plan);
    nk_free(ev->confusion);
    memset(ev, 0, sizeof *ev);
}

nk_status nk_evaluator_run_loader(nk_ctx *ctx, nk_evaluator *ev,
                                  nk_loader *l, nk_warn_fn warn, void *user)
{
    for (;;) {
        nk_batch *b;
        nk_status st = nk_loader_next(ctx, l, &b);
        if (st != NK_OK)
            return st;
        if (!b)
            return NK_OK;
        if (warn && b->warnings[0])
            warn(user, b->warnings);
        st = nk_evaluator_add(ctx, ev, b->x, b->labels, b->n);
        nk_loader_release(l, b);
        if (st != NK_OK)
            return st;
    }
}

/* ---- nk_eval ------------------------------------------------------------ */

typedef struct warn_buf {
    char *s;
    size_t n;
    int failed;
} warn_buf;

static void collect(void *user, const char *msg)
{
    warn_buf *w = user;
    size_t k = strlen(msg);
    char *ns = nk_realloc(w->s, w->n + k + 1);
    if (!ns) {
        w->failed = 1;
        return;
    }
    memcpy(ns + w->n, msg, k + 1);
    w->s = ns;
    w->n += k;
}

void nk_eval_result_clear(nk_eval_result *res)
{
    if (!res)
        return;
    if (res->classes)
        for (int i = 0; i < res->n_classes; i++)
            nk_free(res->classes[i]);
    nk_free(res->classes);
    nk_free(res->per_class_n);
    nk_free(res->per_class_accuracy);
    nk_free(res->confusion);
    nk_free(res->warnings);
    memset(res, 0, sizeof *res);
}

nk_status nk_eval(nk_ctx *ctx, nk_graph *g, const char *dir, int batch,
                  nk_eval_result *res)
{
    if (!g || !dir || !res)
        return nk_fail(ctx, NK_INVALID_ARG, "nk_eval: NULL argument");
    memset(res, 0, sizeof *res);
    if (batch <= 0)
        batch = 64;
    nk_preproc pre = nk_graph_preproc(g);
    if (!pre.valid || pre.crop_h <= 0 || pre.crop_w <= 0 ||
        (pre.channels != 1 && pre.channels != 3))
        return nk_fail(ctx, NK_INVALID_ARG,
                       "the model has no preprocessing metadata (input size, "
                       "mean, std): images cannot be turned into its input");
    if (g->n_inputs != 1 || g->n_outputs < 1)
        return nk_fail(ctx, NK_UNSUPPORTED, "the model has %d inputs and %d "
                       "outputs, expected 1 image input", g->n_inputs,
                       g->n_outputs);

    nk_evaluator ev;
    nk_status st = nk_evaluator_init(ctx, &ev, g, batch);
    if (st != NK_OK)
        return st;
    int C = ev.n_classes;
    nk_dataset *ds = NULL;
    nk_loader *l = NULL;
    warn_buf wb = {0};
    res->n_classes = C;
    res->classes = nk_calloc((size_t)C, sizeof *res->classes);
    if (!res->classes) {
        st = nk_fail(ctx, NK_NOMEM, "out of memory");
        goto done;
    }
    for (int c = 0; c < C; c++) {
        char num[24];
        snprintf(num, sizeof num, "%d", c);
        const char *lab = g->n_labels == C ? g->labels[c] : num;
        if (!(res->classes[c] = nk_strdup(lab))) {
            st = nk_fail(ctx, NK_NOMEM, "out of memory");
            goto done;
        }
    }
    if (g->n_labels == C) {
        st = nk_dataset_open(ctx, dir, 1, C, (const char *const *)res->classes,
                             &ds);
    } else {
        st = nk_dataset_open(ctx, dir, 1, 0, NULL, &ds);
        if (st == NK_OK && ds->n_classes > C)
            st = nk_fail(ctx, NK_INVALID_ARG,
                         "%s: %d class folders, but the model has %d outputs "
                         "and no labels to match them by name", dir,
                         ds->n_classes, C);
        for (int c = 0; st == NK_OK && c < ds->n_classes; c++) {
            char *nm = nk_strdup(ds->classes[c]);
            if (!nm) {
                st = nk_fail(ctx, NK_NOMEM, "out of memory");
                break;
            }
            nk_free(res->classes[c]);
            res->classes[c] = nm;
        }
    }
    if (st != NK_OK)
        goto done;
    nk_transform tf = nk_transform_make(&pre, 0);
    nk_loader_opts lo = {.batch = batch, .workers = nk_ctx_threads(ctx)};
    if ((st = nk_loader_create(ctx, ds, &tf, &lo, &l)) ||
        (st = nk_loader_start_epoch(ctx, l, 0)) ||
        (st = nk_evaluator_run_loader(ctx, &ev, l, collect, &wb)))
        goto done;
    if (wb.failed) {
        st = nk_fail(ctx, NK_NOMEM, "out of memory collecting warnings");
        goto done;
    }
    res->n = ev.n;
    res->correct = ev.correct;
    res->accuracy = ev.n ? (double)ev.correct / (double)ev.n : 0;
    res->loss = ev.n ? ev.loss_sum / (double)ev.n : 0;
    res->skipped = nk_dataset_bad_count(ds);
    res->warnings = wb.s ? wb.s : nk_strdup("");
    wb.s = NULL;
    res->per_class_n = nk_calloc((size_t)C, sizeof *res->per_class_n);
    res->per_class_accuracy =
        nk_calloc((size_t)C, sizeof *res->per_class_accuracy);
    res->confusion = ev.confusion;
    ev.confusion = NULL;
    if (!res->warnings || !res->per_class_n || !res->per_class_accuracy) {
        st = nk_fail(ctx, NK_NOMEM, "out of memory");
        goto done;
    }
    for (int t = 0; t < C; t++) {
        int64_t row = 0;
        for (int p = 0; p < C; p++)
            row += res->confusion[(size_t)t * C + p];
        res->per_class_n[t] = row;
        res->per_class_accuracy[t] =
            row ? (double)res->confusion[(size_t)t * C + t] / (double)row
                : -1;
    }
    if (ev.n == 0)
        st = nk_fail(ctx, NK_FORMAT, "%s: none of the %d images could be "
                     "read", dir, ds->n);
done:
    nk_loader_free(l);
    nk_dataset_free(ds);
    nk_evaluator_free(&ev);
    nk_free(wb.s);
    if (st != NK_OK)
        nk_eval_result_clear(res);
    return st;
}
