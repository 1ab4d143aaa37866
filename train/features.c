/*
 * features.c — computing backbone features once (a pruned copy of the
 * model ending at the classifier's input, run in eval mode) and the
 * head-only graph trained on them.
 */
#include "train/features.h"
#include "engine/op.h"
#include "engine/plan.h"

#include <string.h>

nk_status nk_features_compute(nk_ctx *ctx, const nk_graph *g, const nk_head *h,
                              nk_dataset *ds, const nk_transform *tf,
                              int batch, int workers, nk_warn_fn warn,
                              void *user, float **feats, int32_t **labels,
                              int64_t *n)
{
    *feats = NULL;
    *labels = NULL;
    *n = 0;
    nk_graph *bb = NULL;
    nk_plan *plan = NULL;
    nk_loader *l = NULL;
    float *f = NULL;
    int32_t *lab = NULL;
    int64_t F = h->features, rows = 0;
    int out = -1;
    nk_status st = nk_graph_clone(ctx, g, &bb);
    if (st != NK_OK)
        return st;
    out = nk_graph_find_tensor(bb, g->tensors[h->input]->name);
    if (out < 0) {
        st = nk_fail(ctx, NK_INTERNAL, "features: tensor '%s' lost in the "
                     "copy", g->tensors[h->input]->name);
        goto done;
    }
    nk_plan_opts po = {.batch = batch};
    if ((st = nk_graph_set_outputs(ctx, bb, 1, &out)) ||
        (st = nk_graph_apply_pass(ctx, bb, NK_PASS_PRUNE)) ||
        (st = nk_graph_infer(ctx, bb)) ||
        (st = nk_plan_create(ctx, bb, &po, &plan)))
        goto done;
    nk_tensor *pin = nk_plan_input(plan, 0), *pout = nk_plan_output(plan, 0);
    if (nk_shape_numel(&pout->shape) != batch * F) {
        char s[128];
        st = nk_fail(ctx, NK_SHAPE, "features: backbone output '%s' is %s, "
                     "expected [%d, %lld]", pout->name,
                     nk_shape_str(&pout->shape, s, sizeof s), batch,
                     (long long)F);
        goto done;
    }
    size_t sample = nk_transform_sample_size(tf);
    f = nk_malloc((size_t)(ds->n ? ds->n : 1) * (size_t)F * sizeof *f);
    lab = nk_malloc((size_t)(ds->n ? ds->n : 1) * sizeof *lab);
    if (!f || !lab) {
        st = nk_fail(ctx, NK_NOMEM, "features: out of memory for %d x %lld "
                     "floats", ds->n, (long long)F);
        goto done;
    }
    nk_loader_opts lo = {.batch = batch, .workers = workers};
    if ((st = nk_loader_create(ctx, ds, tf, &lo, &l)) ||
        (st = nk_loader_start_epoch(ctx, l, 0)))
        goto done;
    for (;;) {
        nk_batch *b;
        if ((st = nk_loader_next(ctx, l, &b)) != NK_OK || !b)
            break;
        if (warn && b->warnings[0])
            warn(user, b->warnings);
        if (b->n > 0) {
            memcpy(pin->data, b->x, (size_t)b->n * sample * sizeof(float));
            st = nk_plan_run(ctx, plan);
            if (st == NK_OK) {
                memcpy(f + rows * F, pout->data,
                       (size_t)b->n * (size_t)F * sizeof(float));
                memcpy(lab + rows, b->labels, (size_t)b->n * sizeof *lab);
                rows += b->n;
            }
        }
        nk_loader_release(l, b);
        if (st != NK_OK)
            break;
    }
    if (st == NK_OK) {
        *feats = f;
        *labels = lab;
        *n = rows;
        f = NULL;
        lab = NULL;
    }
done:
    nk_loader_free(l);
    nk_plan_free(plan);
    nk_graph_free(bb);
    nk_free(f);
    nk_free(lab);
    return st;
}

nk_status nk_features_head_graph(nk_ctx *ctx, const nk_graph *g,
                                 const nk_head *h, nk_graph **out)
{
    *out = NULL;
    nk_graph *hg = NULL;
    nk_status st = nk_graph_new(ctx, &hg);
    if (st != NK_OK)
        return st;
    const nk_tensor *w = g->tensors[h->weight], *b = g->tensors[h->bias];
    nk_shape xs = {0};
    xs.rank = 2;
    xs.d[0] = NK_DIM_SYM;
    xs.sym[0] = "batch";
    xs.d[1] = h->features;
    nk_shape ys = {0};
    int in[3], y;
    nk_node *n;
    if ((st = nk_graph_add_tensor(ctx, hg, "features", NK_F32, &xs, &in[0])) ||
        (st = nk_graph_add_init(ctx, hg, w->name, NK_F32, &w->shape, &in[1])) ||
        (st = nk_graph_add_init(ctx, hg, b->name, NK_F32, &b->shape, &in[2])) ||
        (st = nk_graph_add_tensor(ctx, hg, "logits", NK_F32, &ys, &y)) ||
        (st = nk_graph_add_node(ctx, hg, NK_OP_GEMM, "head", 3, in, 1, &y,
                                &n)) ||
        (st = nk_node_set_float(ctx, hg, n, "alpha", 1.0f)) ||
        (st = nk_node_set_float(ctx, hg, n, "beta", 1.0f)) ||
        (st = nk_node_set_int(ctx, hg, n, "transB", 1)) ||
        (st = nk_graph_set_inputs(ctx, hg, 1, &in[0])) ||
        (st = nk_graph_set_outputs(ctx, hg, 1, &y)))
        goto fail;
    hg->tensors[in[1]]->trainable = true;
    hg->tensors[in[2]]->trainable = true;
    if ((st = nk_copy_params(ctx, hg, g)) || (st = nk_graph_infer(ctx, hg)))
        goto fail;
    *out = hg;
    return NK_OK;
fail:
    nk_graph_free(hg);
    return st;
}

nk_status nk_copy_params(nk_ctx *ctx, nk_graph *dst, const nk_graph *src)
{
    for (int i = 0; i < dst->n_tensors; i++) {
        nk_tensor *d = dst->tensors[i];
        if (!d->is_init || d->dtype != NK_F32 || !d->data)
            continue;
        int j = nk_graph_find_tensor(src, d->name);
        if (j < 0)
            continue;
        const nk_tensor *s = src->tensors[j];
        if (!s->is_init || s->dtype != NK_F32 || !s->data ||
            s->nbytes != d->nbytes)
            return nk_fail(ctx, NK_INTERNAL, "parameter '%s': %zu bytes in "
                           "one graph, %zu in the other", d->name, s->nbytes,
                           d->nbytes);
        if (d->data != s->data)
            memcpy(d->data, s->data, d->nbytes);
    }
    return NK_OK;
}
