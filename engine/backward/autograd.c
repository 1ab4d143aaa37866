/*
 * autograd.c — reverse-mode gradients over a training plan: which nodes
 * lie on a path from a trainable parameter to an output (only those get
 * a backward step), gradient buffers (parameters: owned; activations: one
 * arena placed by liveness in backward order), the accumulate-or-write
 * flag of every gradient write, and the softmax cross-entropy seed.
 */
#include "engine/autograd.h"
#include "engine/backward/backward.h"

#include <math.h>
#include <string.h>

struct nk_grad {
    nk_plan *plan;
    nk_graph *g;
    int nt;
    int n_params;
    int *params;        /* tensor indices of the trained parameters */
    float **pgrad;      /* [nt]: parameter gradient or NULL */
    float *pblock;      /* storage of all parameter gradients */
    float **agrad;      /* [nt]: activation gradient (arena) or NULL */
    uint8_t *arena;
    size_t arena_bytes;
    nk_bstep *b;        /* backward steps, in backward order */
    int n_b;
    float **dx_store;
    bool *acc_store;
    uint8_t *work;
    size_t work_bytes;
};

typedef struct task_arg {
    const nk_bstep *b;
    int phase;
} task_arg;

static void phase_task(void *arg, int ith, int nth)
{
    const task_arg *t = arg;
    NK_BACKWARD[t->b->fwd->node->op].run(t->b, t->phase, ith, nth);
}

static void act_task(void *arg, int ith, int nth)
{
    const task_arg *t = arg;
    const nk_step *st = t->b->fwd;
    int64_t b, e;
    nk_split(nk_shape_numel(&st->out[0]->shape), ith, nth, &b, &e);
    nk_bwd_fused_act(st->node, st->out[0]->data, t->b->dy, b, e);
}

static size_t grad_bytes(const nk_tensor *t)
{
    size_t n = (size_t)nk_shape_numel(&t->shape) * sizeof(float);
    n = (n + 63) & ~(size_t)63;
    return n ? n : 64;
}

/* Activation gradients share one arena: tensor t's gradient lives from
 * backward position def[t] (its first writer; -1 for seeded outputs) to
 * last[t] (its producer's backward step). */
static nk_status place_grads(nk_ctx *ctx, nk_grad *gr, const int *def,
                             const int *last, size_t *offs)
{
    size_t *bytes = nk_malloc(sizeof(size_t) * (size_t)(gr->nt + 1));
    if (!bytes)
        return nk_fail(ctx, NK_NOMEM, "out of memory planning gradients");
    for (int t = 0; t < gr->nt; t++)
        bytes[t] = (size_t)nk_shape_numel(&gr->plan->vals[t].shape) *
                   sizeof(float);
    nk_status st = nk_place_by_liveness(ctx, gr->nt, def, last, bytes,
                                        gr->n_b, offs, &gr->arena_bytes);
    nk_free(bytes);
    return st;
}

static bool act_ok(nk_act a)
{
    return a == NK_ACT_NONE || a == NK_ACT_RELU || a == NK_ACT_CLIP;
}

nk_status nk_grad_create(nk_ctx *ctx, nk_plan *fwd, nk_grad **out)
{
    *out = NULL;
    if (!fwd || !fwd->training)
        return nk_fail(ctx, NK_INVALID_ARG,
                       "gradients need a plan made with opts.training = 1");
    nk_graph *g = fwd->g;
    const int nt = g->n_tensors, ns = fwd->n_steps;
    nk_grad *gr = nk_calloc(1, sizeof *gr);
    bool *req = nk_calloc((size_t)nt + 1, sizeof(bool));
    int *def = nk_malloc(sizeof(int) * ((size_t)nt + 1));
    int *last = nk_malloc(sizeof(int) * ((size_t)nt + 1));
    bool *written = nk_calloc((size_t)nt + 1, sizeof(bool));
    size_t *offs = nk_calloc((size_t)nt + 1, sizeof(size_t));
    nk_status st = NK_OK;
    if (!gr || !req || !def || !last || !written || !offs) {
        st = nk_fail(ctx, NK_NOMEM, "out of memory planning gradients");
        goto done;
    }
    gr->plan = fwd;
    gr->g = g;
    gr->nt = nt;
    gr->pgrad = nk_calloc((size_t)nt + 1, sizeof(float *));
    gr->agrad = nk_calloc((size_t)nt + 1, sizeof(float *));
    gr->params = nk_calloc((size_t)nt + 1, sizeof(int));
    gr->b = nk_calloc((size_t)ns + 1, sizeof(nk_bstep));
    if (!gr->pgrad || !gr->agrad || !gr->params || !gr->b) {
        st = nk_fail(ctx, NK_NOMEM, "out of memory planning gradients");
        goto done;
    }

    /* Which values depend on a trainable parameter (through
     * differentiable inputs), and which reach an output. */
    for (int t = 0; t < nt; t++) {
        const nk_tensor *v = &fwd->vals[t];
        req[t] = v->is_init && v->trainable && v->dtype == NK_F32;
    }
    for (int s = 0; s < ns; s++) {
        const nk_node *n = fwd->steps[s].node;
        unsigned diff = NK_BACKWARD[n->op].diff_inputs;
        bool r = false;
        for (int j = 0; j < n->n_in; j++)
            if (n->in[j] >= 0 && req[n->in[j]] && j < 32 && (diff >> j & 1))
                r = true;
        /* gradients flow through output 0 only (the others are running
         * statistics, pooling indices, dropout masks) */
        req[n->out[0]] = r && fwd->vals[n->out[0]].dtype == NK_F32;
    }
    /* Backward steps, in reverse order of the forward: a node gets one
     * when its output depends on a parameter and has a gradient (it is
     * an output, or a later step sends one back to it). */
    int total_dx = 0;
    for (int s = 0; s < ns; s++)
        total_dx += fwd->steps[s].node->n_in;
    gr->dx_store = nk_calloc((size_t)total_dx + 1, sizeof(float *));
    gr->acc_store = nk_calloc((size_t)total_dx + 1, sizeof(bool));
    if (!gr->dx_store || !gr->acc_store) {
        st = nk_fail(ctx, NK_NOMEM, "out of memory planning gradients");
        goto done;
    }
    for (int t = 0; t < nt; t++) {
        def[t] = -2;
        last[t] = -1;
    }
    for (int i = 0; i < g->n_outputs; i++) {
        int t = g->outputs[i];
        if (req[t] && !fwd->vals[t].is_init) {
            def[t] = -1;
            written[t] = true;
        }
    }
    int used = 0;
    for (int s = ns - 1; s >= 0; s--) {
        const nk_node *n = fwd->steps[s].node;
        int o = n->out[0];
        if (!(req[o] && written[o]))
            continue;
        if (!NK_BACKWARD[n->op].run) {
            st = nk_fail_node(ctx, NK_UNSUPPORTED, n,
                              "has no backward kernel, but a trainable "
                              "parameter comes before it");
            goto done;
        }
        if (!act_ok(n->act)) {
            st = nk_fail_node(ctx, NK_UNSUPPORTED, n,
                              "has a fused %s activation: only Relu and "
                              "Clip can be differentiated fused; train the "
                              "unfused graph", nk_act_name(n->act));
            goto done;
        }
        int p = gr->n_b++;
        nk_bstep *b = &gr->b[p];
        unsigned diff = NK_BACKWARD[n->op].diff_inputs;
        b->fwd = &fwd->steps[s];
        b->n_in = n->n_in;
        b->dx = gr->dx_store + used;
        b->acc = gr->acc_store + used;
        used += n->n_in;
        last[o] = p;
        for (int j = 0; j < n->n_in; j++) {
            int t = n->in[j];
            if (t < 0 || !req[t] || j >= 32 || !(diff >> j & 1))
                continue;
            b->acc[j] = written[t];
            written[t] = true;
            if (!fwd->vals[t].is_init && def[t] == -2)
                def[t] = p;
            if (fwd->vals[t].is_init && !gr->pgrad[t]) {
                gr->pgrad[t] = (float *)1; /* mark; storage below */
                gr->params[gr->n_params++] = t;
            }
            b->dx[j] = (float *)1; /* mark; pointer below */
        }
    }
    for (int t = 0; t < nt; t++)
        if (def[t] != -2 && last[t] < def[t])
            last[t] = def[t]; /* an output nobody differentiates */

    /* Parameter gradients: one block, in graph tensor order. */
    size_t pbytes = 0;
    for (int i = 0; i < gr->n_params; i++)
        pbytes += grad_bytes(&fwd->vals[gr->params[i]]);
    /* keep params in graph order (optimiser order) */
    for (int i = 1; i < gr->n_params; i++)
        for (int k = i; k > 0 && gr->params[k - 1] > gr->params[k]; k--) {
            int tmp = gr->params[k];
            gr->params[k] = gr->params[k - 1];
            gr->params[k - 1] = tmp;
        }
    gr->pblock = nk_malloc_aligned(pbytes ? pbytes : 64, 64);
    if (!gr->pblock) {
        st = nk_fail(ctx, NK_NOMEM,
                     "out of memory: %zu bytes of parameter gradients",
                     pbytes);
        goto done;
    }
    memset(gr->pblock, 0, pbytes ? pbytes : 64);
    size_t poff = 0;
    for (int i = 0; i < gr->n_params; i++) {
        int t = gr->params[i];
        gr->pgrad[t] = (float *)((uint8_t *)gr->pblock + poff);
        poff += grad_bytes(&fwd->vals[t]);
    }

    st = place_grads(ctx, gr, def, last, offs);
    if (st)
        goto done;
    gr->arena = nk_malloc_aligned(gr->arena_bytes ? gr->arena_bytes : 64, 64);
    if (!gr->arena) {
        st = nk_fail(ctx, NK_NOMEM,
                     "out of memory: the backward pass needs %zu bytes of "
                     "activation gradients", gr->arena_bytes);
        goto done;
    }
    for (int t = 0; t < nt; t++)
        if (def[t] != -2)
            gr->agrad[t] = (float *)(gr->arena + offs[t]);

    /* Wire the steps and let each kernel prepare. */
    int slots = fwd->threads < 1 ? 1 : fwd->threads > 64 ? 64 : fwd->threads;
    for (int p = 0; p < gr->n_b; p++) {
        nk_bstep *b = &gr->b[p];
        const nk_node *n = b->fwd->node;
        b->dy = gr->agrad[n->out[0]];
        NK_ASSERT(b->dy);
        for (int j = 0; j < n->n_in; j++) {
            if (!b->dx[j])
                continue;
            int t = n->in[j];
            b->dx[j] = fwd->vals[t].is_init ? gr->pgrad[t] : gr->agrad[t];
            NK_ASSERT(b->dx[j]);
            if (fwd->vals[t].dtype != NK_F32) {
                st = nk_fail_node(ctx, NK_UNSUPPORTED, n,
                                  "input '%s' is %s; gradients are f32 only",
                                  fwd->vals[t].name,
                                  nk_dtype_name(fwd->vals[t].dtype));
                goto done;
            }
        }
        b->phases = 1;
        b->slots = slots;
        if (NK_BACKWARD[n->op].prepare) {
            st = NK_BACKWARD[n->op].prepare(ctx, b);
            if (st)
                goto done;
        }
        if (b->work_bytes > gr->work_bytes)
            gr->work_bytes = b->work_bytes;
    }
    gr->work = nk_malloc_aligned(gr->work_bytes ? gr->work_bytes + 64 : 64,
                                 64);
    if (!gr->work) {
        st = nk_fail(ctx, NK_NOMEM,
                     "out of memory: %zu bytes of backward scratch",
                     gr->work_bytes);
        goto done;
    }
    for (int p = 0; p < gr->n_b; p++)
        gr->b[p].work = gr->work;
done:
    nk_free(req);
    nk_free(def);
    nk_free(last);
    nk_free(written);
    nk_free(offs);
    if (st) {
        nk_grad_free(gr);
        return st;
    }
    *out = gr;
    return NK_OK;
}

void nk_grad_free(nk_grad *gr)
{
    if (!gr)
        return;
    if (gr->b)
        for (int p = 0; p < gr->n_b; p++) {
            const nk_bstep *b = &gr->b[p];
            if (b->params && NK_BACKWARD[b->fwd->node->op].release)
                NK_BACKWARD[b->fwd->node->op].release(&gr->b[p]);
        }
    nk_free(gr->b);
    nk_free(gr->dx_store);
    nk_free(gr->acc_store);
    nk_free(gr->params);
    nk_free(gr->pgrad);
    nk_free(gr->agrad);
    nk_free_aligned(gr->pblock);
    nk_free_aligned(gr->arena);
    nk_free_aligned(gr->work);
    nk_free(gr);
}

/* Run the backward steps; output gradients are already seeded. */
static void run_backward(nk_grad *gr)
{
    for (int p = 0; p < gr->n_b; p++) {
        nk_bstep *b = &gr->b[p];
        task_arg arg = {b, 0};
        if (b->fwd->node->act != NK_ACT_NONE)
            nk_pool_run(gr->plan->pool, act_task, &arg);
        for (int ph = 0; ph < b->phases; ph++) {
            arg.phase = ph;
            nk_pool_run(gr->plan->pool, phase_task, &arg);
        }
    }
}

static nk_status seed_check(nk_ctx *ctx, nk_grad *gr, int output)
{
    if (output < 0 || output >= gr->g->n_outputs)
        return nk_fail(ctx, NK_INVALID_ARG,
                       "output %d does not exist (the graph has %d)",
                       output, gr->g->n_outputs);
    /* outputs not seeded have zero gradient */
    for (int i = 0; i < gr->g->n_outputs; i++) {
        int t = gr->g->outputs[i];
        if (gr->agrad[t])
            memset(gr->agrad[t], 0,
                   (size_t)nk_shape_numel(&gr->plan->vals[t].shape) *
                       sizeof(float));
    }
    return NK_OK;
}

nk_status nk_grad_backward(nk_ctx *ctx, nk_grad *gr, int output,
                           const float *dy)
{
    nk_status st = seed_check(ctx, gr, output);
    if (st)
        return st;
    int t = gr->g->outputs[output];
    if (gr->agrad[t])
        memcpy(gr->agrad[t], dy,
               (size_t)nk_shape_numel(&gr->plan->vals[t].shape) *
                   sizeof(float));
    run_backward(gr);
    return NK_OK;
}

nk_status nk_grad_backward_ce(nk_ctx *ctx, nk_grad *gr, int logits_output,
                              const int64_t *labels, float *loss,
                              int *n_correct)
{
    nk_status st = seed_check(ctx, gr, logits_output);
    if (st)
        return st;
    int t = gr->g->outputs[logits_output];
    const nk_tensor *v = &gr->plan->vals[t];
    if (v->dtype != NK_F32 || v->shape.rank != 2)
        return nk_fail(ctx, NK_INVALID_ARG,
                       "output '%s' has rank %d and dtype %s, expected "
                       "logits [N, C] f32", v->name, v->shape.rank,
                       nk_dtype_name(v->dtype));
    int64_t n = v->shape.d[0], c = v->shape.d[1];
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= c)
            return nk_fail(ctx, NK_INVALID_ARG,
                           "label %lld of sample %lld is out of range "
                           "[0, %lld)", (long long)labels[i], (long long)i,
                           (long long)c);
    const float *x = v->data;
    float *d = gr->agrad[t];
    double total = 0.0;
    int correct = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *xr = x + i * c;
        int64_t best = 0;
        for (int64_t j = 1; j < c; j++)
            if (xr[j] > xr[best])
                best = j;
        correct += best == labels[i];
        double m = xr[best], s = 0.0;
        for (int64_t j = 0; j < c; j++)
            s += exp((double)xr[j] - m);
        double lse = m + log(s);
        total += lse - xr[labels[i]];
        if (d)
            for (int64_t j = 0; j < c; j++)
                d[i * c + j] = (float)((exp((double)xr[j] - lse) -
                                        (j == labels[i] ? 1.0 : 0.0)) /
                                       (double)n);
    }
    if (loss)
        *loss = n > 0 ? (float)(total / (double)n) : 0.0f;
    if (n_correct)
        *n_correct = correct;
    run_backward(gr);
    return NK_OK;
}

float *nk_grad_of(nk_grad *gr, int tensor_index)
{
    if (!gr || tensor_index < 0 || tensor_index >= gr->nt)
        return NULL;
    return gr->pgrad[tensor_index];
}

int nk_grad_num_params(const nk_grad *gr) { return gr->n_params; }

int nk_grad_param_index(const nk_grad *gr, int i)
{
    return i >= 0 && i < gr->n_params ? gr->params[i] : -1;
}

int nk_grad_num_steps(const nk_grad *gr) { return gr->n_b; }

nk_pool *nk_grad_pool(nk_grad *gr) { return gr->plan->pool; }

void nk_grad_freeze_bn(nk_grad *gr, int on)
{
    nk_plan *p = gr->plan;
    for (int s = 0; s < p->n_steps; s++) {
        const nk_node *n = p->steps[s].node;
        if (n->op != NK_OP_BATCHNORM)
            continue;
        bool frozen = !gr->pgrad[n->in[1]] && !gr->pgrad[n->in[2]];
        if (frozen)
            p->steps[s].training = !on;
    }
}

nk_status nk_graph_own_params(nk_ctx *ctx, nk_graph *g)
{
    bool *keep = nk_calloc((size_t)g->n_tensors + 1, sizeof(bool));
    if (!keep)
        return nk_fail(ctx, NK_NOMEM, "out of memory");
    for (int i = 0; i < g->n_nodes; i++) {
        const nk_node *n = &g->nodes[i];
        if (n->op == NK_OP_BATCHNORM && n->n_in >= 5)
            for (int j = 3; j < 5; j++)
                if (n->in[j] >= 0)
                    keep[n->in[j]] = true;
    }
    for (int i = 0; i < g->n_tensors; i++) {
        nk_tensor *t = g->tensors[i];
        if (!t->is_init || t->storage != NK_STORE_BORROWED || !t->data ||
            !(t->trainable || keep[i]))
            continue;
        void *copy = nk_malloc_aligned(t->nbytes ? t->nbytes : 1, 64);
        if (!copy) {
            nk_free(keep);
            return nk_fail(ctx, NK_NOMEM,
                           "out of memory copying parameter '%s' (%zu "
                           "bytes)", t->name, t->nbytes);
        }
        memcpy(copy, t->data, t->nbytes);
        t->data = copy;
        t->storage = NK_STORE_OWNED;
    }
    nk_free(keep);
    return NK_OK;
}
