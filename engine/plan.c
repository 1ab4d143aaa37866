/*
 * plan.c — making a graph ready to run (nk_plan_create) and running it.
 * Planning binds the batch, infers concrete shapes, picks one kernel per
 * node from the kernel table, lets each kernel prepare (parse attributes,
 * pack weights, size its scratch), and places every activation in one
 * arena by liveness. nk_plan_run then only calls kernels: no allocation.
 */
#include "engine/plan.h"
#include "engine/kernels/blocked.h"
#include "engine/op.h"
#include "engine/shape-eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

nk_status nk_plan_bind_shapes(nk_ctx *ctx, nk_graph *g, int64_t batch,
                              nk_tensor *vals)
{
    uint8_t *produced = nk_calloc((size_t)g->n_tensors + 1, 1);
    if (!produced)
        return nk_fail(ctx, NK_NOMEM, "out of memory planning");
    for (int i = 0; i < g->n_nodes; i++)
        for (int o = 0; o < g->nodes[i].n_out; o++)
            produced[g->nodes[i].out[o]] = 1;
    nk_status st = NK_OK;
    for (int i = 0; i < g->n_tensors && !st; i++) {
        vals[i] = *g->tensors[i];
        if (produced[i])
            continue;
        for (int d = 0; d < vals[i].shape.rank; d++) {
            if (vals[i].shape.d[d] >= 0)
                continue;
            if (d != 0) {
                st = nk_fail(ctx, NK_UNSUPPORTED,
                             "input '%s': dim %d ('%s') is symbolic; only "
                             "the first (batch) dim may be", vals[i].name, d,
                             vals[i].shape.sym[d] ? vals[i].shape.sym[d]
                                                  : "?");
                break;
            }
            vals[i].shape.d[d] = batch;
            vals[i].shape.sym[d] = NULL;
        }
    }
    nk_free(produced);
    /* Values computed from shapes (Shape -> ... -> Reshape) get data while
     * inferring, for the data-dependent nodes downstream; the plan
     * computes them again at run time. */
    nk_eval_bufs bufs = {NULL, 0, 0};
    for (int i = 0; i < g->n_nodes && !st; i++) {
        st = nk_node_infer(ctx, &g->nodes[i], vals);
        if (!st)
            st = nk_shape_eval_node(ctx, &g->nodes[i], vals, &bufs);
    }
    for (int i = 0; i < g->n_tensors; i++)
        if (!vals[i].is_init)
            vals[i].data = NULL;
    nk_eval_bufs_free(&bufs);
    return st;
}

typedef struct live_block {
    size_t off, size;
    int last_use;
} live_block;

nk_status nk_place_by_liveness(nk_ctx *ctx, int n, const int *def,
                               const int *last, const size_t *bytes,
                               int n_pos, size_t *offs, size_t *total)
{
    live_block *live = nk_malloc(sizeof(live_block) * (size_t)(n + 1));
    if (!live)
        return nk_fail(ctx, NK_NOMEM, "out of memory planning memory");
    int n_live = 0;
    size_t top = 0;
    for (int s = -1; s < n_pos; s++) {
        /* Blocks whose last use is before position s are free again. */
        int w = 0;
        for (int k = 0; k < n_live; k++)
            if (live[k].last_use >= s)
                live[w++] = live[k];
        n_live = w;
        for (int i = 0; i < n; i++) {
            if (def[i] != s)
                continue;
            size_t need = (bytes[i] + 63) & ~(size_t)63;
            if (need == 0)
                need = 64;
            /* live[] is kept sorted by offset: find the first gap. */
            size_t off = 0;
            int pos = 0;
            for (; pos < n_live; pos++) {
                if (live[pos].off >= off + need)
                    break;
                size_t end = live[pos].off + live[pos].size;
                if (end > off)
                    off = end;
            }
            memmove(&live[pos + 1], &live[pos],
                    sizeof(live_block) * (size_t)(n_live - pos));
            live[pos].off = off;
            live[pos].size = need;
            live[pos].last_use = last[i];
            n_live++;
            offs[i] = off;
            if (off + need > top)
                top = off + need;
        }
    }
    *total = top;
    nk_free(live);
    return NK_OK;
}

/* First-fit placement of tensors in the arena, by liveness. */
static nk_status place_activations(nk_ctx *ctx, nk_plan *p, size_t *offs,
                                   bool *in_arena)
{
    nk_graph *g = p->g;
    int nt = p->n_vals;
    int *def = nk_malloc(sizeof(int) * (size_t)nt);
    int *last = nk_malloc(sizeof(int) * (size_t)nt);
    if (!def || !last) {
        nk_free(def);
        nk_free(last);
        return nk_fail(ctx, NK_NOMEM, "out of memory planning");
    }
    for (int i = 0; i < nt; i++) {
        def[i] = -2; /* not in the arena */
        last[i] = -1;
    }
    for (int i = 0; i < g->n_inputs; i++)
        def[g->inputs[i]] = -1;
    /* From the steps, not the nodes: a step that absorbed a residual Add
     * writes the Add's output and reads its other input. */
    for (int s = 0; s < p->n_steps; s++) {
        const nk_step *st = &p->steps[s];
        if (st->fused_away)
            continue;
        for (int o = 0; o < st->n_out; o++) {
            int t = (int)(st->out[o] - p->vals);
            if (def[t] == -2)
                def[t] = s;
        }
        for (int j = 0; j < st->n_in; j++)
            if (st->in[j])
                last[st->in[j] - p->vals] = s;
        if (st->residual)
            last[st->residual - p->vals] = s;
    }
    /* Graph inputs keep their values for the next run (a caller may run
     * again on the same input, as nnkit bench does) and outputs stay
     * readable after it: neither shares bytes with anything else. */
    for (int i = 0; i < g->n_inputs; i++)
        last[g->inputs[i]] = p->n_steps;
    for (int i = 0; i < g->n_outputs; i++)
        last[g->outputs[i]] = p->n_steps;
    for (int i = 0; i < nt; i++) {
        if (p->vals[i].is_init)
            def[i] = -2;
        /* Training keeps every activation for the backward pass. */
        if (def[i] != -2 && (p->training || last[i] < def[i]))
            last[i] = p->n_steps;
        in_arena[i] = def[i] != -2;
    }
    /* Place in order of definition (graph inputs first). */
    size_t *bytes = nk_malloc(sizeof(size_t) * (size_t)(nt + 1));
    nk_status st = bytes ? NK_OK
                         : nk_fail(ctx, NK_NOMEM, "out of memory planning");
    for (int i = 0; i < nt && bytes; i++)
        bytes[i] = p->vals[i].nbytes;
    if (!st)
        st = nk_place_by_liveness(ctx, nt, def, last, bytes, p->n_steps,
                                  offs, &p->arena_bytes);
    nk_free(bytes);
    nk_free(def);
    nk_free(last);
    return st;
}

static bool is_graph_input(const nk_plan *p, const nk_tensor *t)
{
    for (int i = 0; i < p->g->n_inputs; i++)
        if (&p->vals[p->g->inputs[i]] == t)
            return true;
    return false;
}

/* Number of step inputs (and graph outputs) that read tensor t. */
static int count_uses(const nk_plan *p, const nk_tensor *t)
{
    int uses = 0;
    for (int s = 0; s < p->n_steps; s++)
        for (int j = 0; j < p->steps[s].n_in; j++)
            uses += p->steps[s].in[j] == t;
    for (int i = 0; i < p->g->n_outputs; i++)
        uses += &p->vals[p->g->outputs[i]] == t;
    return uses;
}

/*
 * Conv -> Add(residual) [-> activation fused into the Add]: when the
 * Conv's kernel can apply a residual in its epilogue, its output feeds
 * only that Add, the Add does not broadcast, and the Add's other input
 * exists before the Conv runs, the Conv writes act(conv + residual)
 * straight into the Add's output and the Add step is skipped.
 */
static void fuse_residual_adds(nk_plan *p)
{
    for (int s = 0; s < p->n_steps; s++) {
        nk_step *add = &p->steps[s];
        if (add->node->op != NK_OP_ADD || add->n_in != 2 ||
            add->n_out != 1 || !add->in[0] || !add->in[1])
            continue;
        for (int side = 0; side < 2; side++) {
            nk_tensor *y = add->in[side], *r = add->in[1 - side];
            int c = nk_plan_producer(p, y);
            if (c < 0 || c >= s)
                continue;
            nk_step *conv = &p->steps[c];
            if (!conv->kernel->residual || conv->residual ||
                conv->act != NK_ACT_NONE || conv->n_out != 1 ||
                count_uses(p, y) != 1 || y == r)
                continue;
            if (y->layout != conv->kernel->layout ||
                r->layout != y->layout ||
                add->out[0]->layout != y->layout)
                continue;
            if (y->dtype != NK_F32 || r->dtype != NK_F32 ||
                add->out[0]->dtype != NK_F32 ||
                !nk_shape_equal(&y->shape, &r->shape) ||
                !nk_shape_equal(&y->shape, &add->out[0]->shape))
                continue;
            int rp = nk_plan_producer(p, r);
            if (rp >= c || (rp < 0 && !r->is_init &&
                            !is_graph_input(p, r)))
                continue;
            conv->residual = r;
            conv->out[0] = add->out[0];
            conv->act = add->act;
            conv->act_a0 = add->act_a0;
            conv->act_a1 = add->act_a1;
            add->fused_away = true;
            break;
        }
    }
}

/* The next step at or after s that runs (not fused away), or -1. */
static int next_running(const nk_plan *p, int s)
{
    for (; s < p->n_steps; s++)
        if (!p->steps[s].fused_away)
            return s;
    return -1;
}

/*
 * Pointwise conv -> depthwise conv -> pointwise conv (MobileNet's
 * inverted residual; either pointwise conv may be missing): when the
 * three run back to back, each intermediate feeds only the next, and the
 * kernels can be driven row by row (nk_dwchain_make), the first step
 * runs the whole chain (nk_dwchain_run) and the others are skipped. The
 * wide intermediates then never exist in the arena. Runs after
 * fuse_residual_adds: the projection's residual must exist before the
 * chain's first step.
 */
static void fuse_dw_chains(nk_plan *p)
{
    for (int s = 0; s < p->n_steps; s++) {
        nk_step *dw = &p->steps[s];
        if (dw->fused_away || dw->chain || dw->node->op != NK_OP_CONV ||
            !dw->in[0])
            continue;
        nk_step *pw = NULL, *pj = NULL;
        int prev = nk_plan_producer(p, dw->in[0]);
        /* (a step already in a chain, running or not, cannot join) */
        if (prev >= 0 && !p->steps[prev].fused_away &&
            !p->steps[prev].chain && next_running(p, prev + 1) == s &&
            p->steps[prev].node->op == NK_OP_CONV &&
            count_uses(p, dw->in[0]) == 1)
            pw = &p->steps[prev];
        int next = next_running(p, s + 1);
        if (next >= 0 && p->steps[next].node->op == NK_OP_CONV &&
            p->steps[next].in[0] == dw->out[0] &&
            count_uses(p, dw->out[0]) == 1)
            pj = &p->steps[next];
        nk_step *head = pw ? pw : dw;
        int hi = (int)(head - p->steps);
        if (pj && pj->residual) {
            int rp = nk_plan_producer(p, pj->residual);
            if (rp >= hi)
                pj = NULL;
        }
        if (!pw && !pj)
            continue;
        size_t wb = 0;
        nk_dwchain *c = nk_dwchain_make(pw, dw, pj, p->threads, &wb);
        if (!c && pw && pj) {
            /* the expansion alone may be what does not fit */
            c = nk_dwchain_make(NULL, dw, pj, p->threads, &wb);
            if (c) {
                head = dw;
                pw = NULL;
            }
        }
        if (!c)
            continue;
        head->chain = c;
        if (wb > p->work_bytes)
            p->work_bytes = wb;
        if (head != dw)
            dw->fused_away = true;
        if (pj) {
            pj->fused_away = true;
            head->out[0] = pj->out[0];
            head->residual = pj->residual;
        } else {
            head->out[0] = dw->out[0];
        }
    }
}

static void step_task(void *arg, int ith, int nth)
{
    const nk_step *st = arg;
    if (st->chain)
        nk_dwchain_run(st->chain, st, ith, nth);
    else
        st->kernel->run(st, ith, nth);
}

void nk_plan_run_step(nk_plan *p, nk_step *st)
{
    nk_pool_run(p->pool, step_task, st);
}

nk_status nk_plan_create(nk_ctx *ctx, nk_graph *g, const nk_plan_opts *opts,
                         nk_plan **out)
{
    nk_plan_opts o = {0};
    if (opts)
        o = *opts;
    if (o.batch <= 0)
        o.batch = 1;
    const char *ref = getenv("NNKIT_REFERENCE");
    if (ref && *ref && strcmp(ref, "0") != 0)
        o.reference = 1;
    nk_plan *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "out of memory planning");
    p->g = g;
    p->batch = o.batch;
    p->training = o.training != 0;
    p->reference = o.reference != 0;
    p->threads = o.threads > 0 ? o.threads : nk_ctx_threads(ctx);
    p->cpu = ctx->cpu;
    const char *lay = getenv("NNKIT_LAYOUT");
    p->layouts = !p->training && !p->reference &&
                 !(lay && strcmp(lay, "nchw") == 0);
    nk_status st = NK_OK;
    int nt = g->n_tensors;
    size_t *offs = NULL;
    bool *in_arena = NULL;

    /* Room for one layout copy (and its reorder step) per value. */
    p->n_vals = nt;
    p->cap_vals = 2 * nt + 1;
    p->cap_steps = g->n_nodes + nt + 1;
    p->vals = nk_calloc((size_t)p->cap_vals, sizeof(nk_tensor));
    p->val_ptrs = nk_calloc((size_t)p->cap_vals, sizeof(nk_tensor *));
    p->alias = nk_malloc((size_t)p->cap_vals * sizeof(int));
    p->steps = nk_calloc((size_t)p->cap_steps, sizeof(nk_step));
    p->xnodes = nk_calloc((size_t)nt + 1, sizeof(nk_node));
    offs = nk_calloc((size_t)p->cap_vals, sizeof(size_t));
    in_arena = nk_calloc((size_t)p->cap_vals, sizeof(bool));
    if (!p->vals || !p->val_ptrs || !p->steps || !offs || !in_arena ||
        !p->alias || !p->xnodes) {
        st = nk_fail(ctx, NK_NOMEM, "out of memory planning");
        goto fail;
    }
    st = nk_graph_validate(ctx, g);
    if (st)
        goto fail;
    st = nk_plan_bind_shapes(ctx, g, o.batch, p->vals);
    if (st)
        goto fail;
    for (int i = 0; i < p->cap_vals; i++)
        p->alias[i] = -1;
    for (int i = 0; i < nt; i++) {
        nk_tensor *v = &p->vals[i];
        p->val_ptrs[i] = v;
        if (v->is_init) {
            if (!v->data && nk_shape_numel(&v->shape) != 0) {
                st = nk_fail(ctx, NK_FORMAT, "initializer '%s' has no data",
                             v->name);
                goto fail;
            }
            continue;
        }
        size_t b = nk_tensor_bytes_for(v->dtype, &v->shape);
        if (b == SIZE_MAX) {
            char sb[128];
            st = nk_fail(ctx, NK_SHAPE, "tensor '%s' %s is too large",
                         v->name, nk_shape_str(&v->shape, sb, sizeof sb));
            goto fail;
        }
        v->nbytes = b;
        v->storage = NK_STORE_NONE;
        v->data = NULL;
    }

    /* One kernel per node; kernels prepare and size their scratch. */
    for (int i = 0; i < g->n_nodes; i++) {
        const nk_node *n = &g->nodes[i];
        nk_step *s = &p->steps[p->n_steps];
        s->node = n;
        s->n_in = n->n_in;
        s->n_out = n->n_out;
        s->in = nk_calloc((size_t)n->n_in + 1, sizeof(nk_tensor *));
        s->out = nk_calloc((size_t)n->n_out + 1, sizeof(nk_tensor *));
        if (!s->in || !s->out) {
            nk_free(s->in);
            nk_free(s->out);
            st = nk_fail(ctx, NK_NOMEM, "out of memory planning");
            goto fail;
        }
        for (int j = 0; j < n->n_in; j++)
            s->in[j] = n->in[j] >= 0 ? &p->vals[n->in[j]] : NULL;
        for (int j = 0; j < n->n_out; j++)
            s->out[j] = &p->vals[n->out[j]];
        s->training = p->training;
        s->act = n->act;
        s->act_a0 = n->act_a0;
        s->act_a1 = n->act_a1;
        s->nth = p->threads;
        s->cpu = &p->cpu;
        int si = p->n_steps++;
        st = nk_plan_pick_kernel(ctx, p, &si);
        if (st)
            goto fail;
        s = &p->steps[si];
        if (!s->kernel) {
            st = nk_fail_node(ctx, NK_UNSUPPORTED, n,
                              "no kernel for dtype %s%s",
                              nk_dtype_name(s->in[0] ? s->in[0]->dtype
                                                     : NK_F32),
                              p->reference ? " (reference kernels only)" : "");
            goto fail;
        }
        if (s->kernel->prepare) {
            st = s->kernel->prepare(ctx, s);
            if (st)
                goto fail;
        }
        if (s->work_bytes > p->work_bytes)
            p->work_bytes = s->work_bytes;
    }

    if (!p->training) {
        fuse_residual_adds(p);
        /* NNKIT_CHAINS=0 runs a chain's steps one by one (A/B runs) */
        const char *ch = getenv("NNKIT_CHAINS");
        if (p->layouts && !(ch && strcmp(ch, "0") == 0))
            fuse_dw_chains(p);
    }
    st = place_activations(ctx, p, offs, in_arena);
    if (st)
        goto fail;
    p->arena = nk_malloc_aligned(p->arena_bytes ? p->arena_bytes : 64, 64);
    p->work = nk_malloc_aligned(p->work_bytes ? p->work_bytes : 64, 64);
    if (!p->arena || !p->work) {
        st = nk_fail(ctx, NK_NOMEM,
                     "out of memory: the plan needs %zu bytes of activations "
                     "and %zu bytes of scratch", p->arena_bytes,
                     p->work_bytes);
        goto fail;
    }
    memset(p->arena, 0, p->arena_bytes);
    for (int i = 0; i < p->n_vals; i++)
        if (in_arena[i])
            p->vals[i].data = p->arena + offs[i];
    for (int s = 0; s < p->n_steps; s++)
        p->steps[s].work = p->work;
    st = nk_pool_new(ctx, p->threads, &p->pool);
    if (st)
        goto fail;
    for (int s = 0; s < p->n_steps; s++)
        p->steps[s].steal = nk_pool_steal(p->pool);
    nk_free(offs);
    nk_free(in_arena);
    *out = p;
    return NK_OK;
fail:
    nk_free(offs);
    nk_free(in_arena);
    nk_plan_free(p);
    return st;
}

void nk_plan_free(nk_plan *p)
{
    if (!p)
        return;
    for (int s = 0; s < p->n_steps; s++) {
        nk_step *st = &p->steps[s];
        nk_dwchain_free(st->chain);
        if (st->kernel && st->kernel->release)
            st->kernel->release(st);
        nk_free(st->in);
        nk_free(st->out);
    }
    nk_pool_free(p->pool);
    nk_free(p->prof_ms);
    nk_free(p->alias);
    nk_free(p->xnodes);
    nk_free_aligned(p->arena);
    nk_free_aligned(p->work);
    nk_free(p->steps);
    nk_free(p->vals);
    nk_free(p->val_ptrs);
    nk_free(p);
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

nk_status nk_plan_run(nk_ctx *ctx, nk_plan *p)
{
    (void)ctx;
    if (p->prof_ms) {
        for (int s = 0; s < p->n_steps; s++) {
            if (p->steps[s].fused_away)
                continue;
            double t0 = now_ms();
            nk_pool_run(p->pool, step_task, &p->steps[s]);
            p->prof_ms[s] += now_ms() - t0;
        }
        return NK_OK;
    }
    for (int s = 0; s < p->n_steps; s++)
        if (!p->steps[s].fused_away)
            nk_pool_run(p->pool, step_task, &p->steps[s]);
    return NK_OK;
}

nk_status nk_plan_set_profiling(nk_ctx *ctx, nk_plan *p, int on)
{
    nk_free(p->prof_ms);
    p->prof_ms = NULL;
    if (!on)
        return NK_OK;
    p->prof_ms = nk_calloc((size_t)p->n_steps + 1, sizeof(double));
    if (!p->prof_ms)
        return nk_fail(ctx, NK_NOMEM, "out of memory for the step profile");
    return NK_OK;
}

double nk_plan_step_ms(const nk_plan *p, int i)
{
    if (!p->prof_ms || i < 0 || i >= p->n_steps)
        return 0.0;
    return p->prof_ms[i];
}

const char *nk_plan_step_desc(const nk_plan *p, int i, char *buf, size_t n)
{
    if (!buf || n == 0)
        return buf;
    buf[0] = 0;
    if (i < 0 || i >= p->n_steps)
        return buf;
    const nk_step *st = &p->steps[i];
    char sb[128];
    const nk_tensor *y = st->out[0];
    const char *lay = y->layout == NK_LAYOUT_NCHW8C ? " nchw8c" : "";
    if (st->chain) {
        /* "Chain pw > dw > pj +residual -> shape" */
        size_t k = (size_t)snprintf(buf, n, "Chain");
        for (int j = 0; j < 3 && k < n; j++) {
            const nk_step *c = nk_dwchain_step(st->chain, j);
            if (c)
                k += (size_t)snprintf(buf + k, n - k, "%s%s%s%s",
                                      k > 5 ? " > " : " ",
                                      c->node->name ? c->node->name : "",
                                      c->act != NK_ACT_NONE ? " +" : "",
                                      c->act != NK_ACT_NONE
                                          ? nk_act_name(c->act)
                                          : "");
        }
        if (k < n)
            snprintf(buf + k, n - k, "%s -> %s%s",
                     st->residual ? " +residual" : "",
                     nk_shape_str(&y->shape, sb, sizeof sb), lay);
    } else if (st->kernel == &nk_reorder_kernel)
        snprintf(buf, n, "Reorder %s -> %s%s",
                 st->node->name ? st->node->name : "",
                 nk_shape_str(&y->shape, sb, sizeof sb),
                 *lay ? lay : " nchw");
    else
        snprintf(buf, n, "%s %s%s%s%s -> %s%s", nk_op_name(st->node->op),
                 st->node->name ? st->node->name : "",
                 st->act != NK_ACT_NONE ? " +" : "",
                 st->act != NK_ACT_NONE ? nk_act_name(st->act) : "",
                 st->residual ? " +residual" : "",
                 nk_shape_str(&y->shape, sb, sizeof sb), lay);
    return buf;
}

int nk_plan_num_inputs(const nk_plan *p) { return p->g->n_inputs; }

nk_tensor *nk_plan_input(nk_plan *p, int i)
{
    if (i < 0 || i >= p->g->n_inputs)
        return NULL;
    return &p->vals[p->g->inputs[i]];
}

int nk_plan_num_outputs(const nk_plan *p) { return p->g->n_outputs; }

nk_tensor *nk_plan_output(nk_plan *p, int i)
{
    if (i < 0 || i >= p->g->n_outputs)
        return NULL;
    return &p->vals[p->g->outputs[i]];
}

size_t nk_plan_arena_bytes(const nk_plan *p) { return p->arena_bytes; }

int nk_plan_num_steps(const nk_plan *p) { return p->n_steps; }

const char *nk_plan_kernel_name(const nk_plan *p, int i)
{
    if (i < 0 || i >= p->n_steps || !p->steps[i].kernel)
        return NULL;
    if (p->steps[i].fused_away)
        return p->steps[i].node->op == NK_OP_ADD ? "fused_into_conv"
                                                 : "fused_into_chain";
    if (p->steps[i].chain)
        return "dwchain_avx2";
    return p->steps[i].kernel->name;
}
