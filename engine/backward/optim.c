/*
 * optim.c — SGD (momentum, dampening, nesterov, weight decay), Adam and
 * AdamW with PyTorch 1.13's single-tensor update rules, term by term in
 * the same order and precision (f32 tensors, f64 scalars), run on the
 * plan's thread pool. State is exposed for checkpoints.
 */
#include "engine/autograd.h"
#include "engine/backward/backward.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct optim_param {
    int t;          /* graph tensor index */
    float *p;       /* parameter data (owned by the graph) */
    int64_t n;
    float *s0, *s1; /* momentum_buffer | exp_avg, exp_avg_sq */
} optim_param;

struct nk_optim {
    nk_optim_opts o;
    nk_graph *g;
    int np;
    optim_param *ps;
    int64_t steps;
    int n_state;
    char **state_name;
    float **state_data;
    int64_t *state_numel;
    float *block;
};

static int states_per_param(const nk_optim_opts *o)
{
    if (o->kind == NK_OPTIM_SGD)
        return o->momentum != 0.0f ? 1 : 0;
    return 2;
}

nk_status nk_optim_create(nk_ctx *ctx, nk_graph *g, const nk_optim_opts *opts,
                          nk_optim **out)
{
    *out = NULL;
    nk_optim_opts o = *opts;
    if (!o.literal && o.kind != NK_OPTIM_SGD) {
        if (o.beta1 == 0.0f)
            o.beta1 = 0.9f;
        if (o.beta2 == 0.0f)
            o.beta2 = 0.999f;
        if (o.eps == 0.0f)
            o.eps = 1e-8f;
    }
    if ((unsigned)o.kind >= NK_OPTIM_COUNT)
        return nk_fail(ctx, NK_INVALID_ARG, "optimizer kind %d is unknown",
                       (int)o.kind);
    if (!(o.lr >= 0.0f) || !(o.momentum >= 0.0f) ||
        !(o.weight_decay >= 0.0f) || !(o.eps >= 0.0f))
        return nk_fail(ctx, NK_INVALID_ARG,
                       "optimizer: lr %g, momentum %g, weight decay %g, eps "
                       "%g: expected values >= 0", (double)o.lr,
                       (double)o.momentum, (double)o.weight_decay,
                       (double)o.eps);
    if (o.nesterov && (o.momentum <= 0.0f || o.dampening != 0.0f))
        return nk_fail(ctx, NK_INVALID_ARG,
                       "nesterov momentum needs momentum > 0 (found %g) and "
                       "dampening 0 (found %g)", (double)o.momentum,
                       (double)o.dampening);
    if (o.kind != NK_OPTIM_SGD &&
        !(o.beta1 >= 0.0f && o.beta1 < 1.0f && o.beta2 >= 0.0f &&
          o.beta2 < 1.0f))
        return nk_fail(ctx, NK_INVALID_ARG,
                       "Adam betas (%g, %g): expected values in [0, 1)",
                       (double)o.beta1, (double)o.beta2);
    nk_optim *op = nk_calloc(1, sizeof *op);
    if (!op)
        return nk_fail(ctx, NK_NOMEM, "out of memory");
    op->o = o;
    op->g = g;
    for (int i = 0; i < g->n_tensors; i++) {
        const nk_tensor *t = g->tensors[i];
        if (!(t->is_init && t->trainable && t->dtype == NK_F32))
            continue;
        if (t->storage == NK_STORE_BORROWED) {
            nk_optim_free(op);
            return nk_fail(ctx, NK_INVALID_ARG,
                           "parameter '%s' is borrowed from a read-only "
                           "mapping: call nk_graph_own_params first",
                           t->name);
        }
        op->np++;
    }
    int sp = states_per_param(&o);
    op->ps = nk_calloc((size_t)op->np + 1, sizeof(optim_param));
    op->n_state = op->np * sp;
    op->state_name = nk_calloc((size_t)op->n_state + 1, sizeof(char *));
    op->state_data = nk_calloc((size_t)op->n_state + 1, sizeof(float *));
    op->state_numel = nk_calloc((size_t)op->n_state + 1, sizeof(int64_t));
    if (!op->ps || !op->state_name || !op->state_data || !op->state_numel) {
        nk_optim_free(op);
        return nk_fail(ctx, NK_NOMEM, "out of memory");
    }
    size_t total = 0;
    int k = 0;
    for (int i = 0; i < g->n_tensors; i++) {
        nk_tensor *t = g->tensors[i];
        if (!(t->is_init && t->trainable && t->dtype == NK_F32))
            continue;
        optim_param *q = &op->ps[k++];
        q->t = i;
        q->p = t->data;
        q->n = nk_shape_numel(&t->shape);
        total += (size_t)q->n * (size_t)sp;
    }
    op->block = nk_calloc(total + 1, sizeof(float));
    if (!op->block) {
        nk_optim_free(op);
        return nk_fail(ctx, NK_NOMEM,
                       "out of memory: optimizer state of %zu floats", total);
    }
    static const char *const names[NK_OPTIM_COUNT][2] = {
        [NK_OPTIM_SGD] = {"momentum_buffer", NULL},
        [NK_OPTIM_ADAM] = {"exp_avg", "exp_avg_sq"},
        [NK_OPTIM_ADAMW] = {"exp_avg", "exp_avg_sq"},
    };
    float *cur = op->block;
    for (int i = 0; i < op->np; i++) {
        optim_param *q = &op->ps[i];
        for (int s = 0; s < sp; s++) {
            int idx = i * sp + s;
            const char *pn = g->tensors[q->t]->name;
            size_t len = strlen(pn) + strlen(names[o.kind][s]) + 2;
            op->state_name[idx] = nk_malloc(len);
            if (!op->state_name[idx]) {
                nk_optim_free(op);
                return nk_fail(ctx, NK_NOMEM, "out of memory");
            }
            snprintf(op->state_name[idx], len, "%s.%s", pn,
                     names[o.kind][s]);
            op->state_data[idx] = cur;
            op->state_numel[idx] = q->n;
            if (s == 0)
                q->s0 = cur;
            else
                q->s1 = cur;
            cur += q->n;
        }
    }
    *out = op;
    return NK_OK;
}

void nk_optim_free(nk_optim *o)
{
    if (!o)
        return;
    if (o->state_name)
        for (int i = 0; i < o->n_state; i++)
            nk_free(o->state_name[i]);
    nk_free(o->state_name);
    nk_free(o->state_data);
    nk_free(o->state_numel);
    nk_free(o->ps);
    nk_free(o->block);
    nk_free(o);
}

typedef struct step_arg {
    nk_optim *o;
    nk_grad *grad;
    float lr;
    /* Adam scalars, computed once in double as torch does in Python */
    double step_size, bc2_sqrt;
    bool first;
} step_arg;

static void sgd_range(const nk_optim_opts *o, const step_arg *a,
                      optim_param *q, const float *gr, int64_t b, int64_t e)
{
    const float wd = o->weight_decay, mom = o->momentum;
    const float damp = 1.0f - o->dampening, lr = a->lr;
    float *p = q->p, *buf = q->s0;
    for (int64_t i = b; i < e; i++) {
        float d = gr[i];
        if (wd != 0.0f)
            d = d + wd * p[i];
        if (mom != 0.0f) {
            buf[i] = a->first ? d : buf[i] * mom + damp * d;
            d = o->nesterov ? d + mom * buf[i] : buf[i];
        }
        p[i] = p[i] + -lr * d;
    }
}

static void adam_range(const nk_optim_opts *o, const step_arg *a,
                       optim_param *q, const float *gr, int64_t b, int64_t e)
{
    const float wd = o->weight_decay, b1 = o->beta1, b2 = o->beta2;
    const float c1 = 1.0f - b1, c2 = 1.0f - b2, eps = o->eps;
    const float bc2 = (float)a->bc2_sqrt, nstep = (float)-a->step_size;
    const bool adamw = o->kind == NK_OPTIM_ADAMW;
    const float decay = (float)(1.0 - (double)a->lr * wd);
    float *p = q->p, *m = q->s0, *v = q->s1;
    for (int64_t i = b; i < e; i++) {
        float g = gr[i];
        if (adamw)
            p[i] = p[i] * decay;
        else if (wd != 0.0f)
            g = g + wd * p[i];
        m[i] = m[i] * b1 + c1 * g;
        v[i] = v[i] * b2 + c2 * g * g;
        float denom = sqrtf(v[i]) / bc2 + eps;
        p[i] = p[i] + nstep * m[i] / denom; /* torch's addcdiv order */
    }
}

static void step_task(void *arg, int ith, int nth)
{
    step_arg *a = arg;
    nk_optim *o = a->o;
    for (int i = 0; i < o->np; i++) {
        optim_param *q = &o->ps[i];
        const float *gr = nk_grad_of(a->grad, q->t);
        if (!gr) /* no gradient: torch skips the parameter */
            continue;
        int64_t b, e;
        nk_split(q->n, ith, nth, &b, &e);
        if (o->o.kind == NK_OPTIM_SGD)
            sgd_range(&o->o, a, q, gr, b, e);
        else
            adam_range(&o->o, a, q, gr, b, e);
    }
}

void nk_optim_step(nk_optim *o, nk_grad *grad, float lr)
{
    step_arg a = {.o = o, .grad = grad, .lr = lr, .first = o->steps == 0};
    o->steps++;
    if (o->o.kind != NK_OPTIM_SGD) {
        double t = (double)o->steps;
        double bc1 = 1.0 - pow((double)o->o.beta1, t);
        double bc2 = 1.0 - pow((double)o->o.beta2, t);
        a.step_size = (double)lr / bc1;
        a.bc2_sqrt = sqrt(bc2);
    }
    nk_pool_run(nk_grad_pool(grad), step_task, &a);
}

int64_t nk_optim_step_count(const nk_optim *o) { return o->steps; }

void nk_optim_set_step_count(nk_optim *o, int64_t steps)
{
    o->steps = steps < 0 ? 0 : steps;
}

int nk_optim_state_count(const nk_optim *o) { return o->n_state; }

nk_status nk_optim_state_at(nk_optim *o, int i, const char **name,
                            float **data, int64_t *numel)
{
    if (i < 0 || i >= o->n_state)
        return NK_NOT_FOUND;
    if (name)
        *name = o->state_name[i];
    if (data)
        *data = o->state_data[i];
    if (numel)
        *numel = o->state_numel[i];
    return NK_OK;
}
