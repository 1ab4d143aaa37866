/*
 * plan-layout.c — the planner's choice of activation layout. Each step
 * takes the kernel that works in the layout its input already has (NCHW
 * or the channel-blocked NCHW8c of engine/kernels/blocked.h), so values
 * stay blocked from one blocked kernel to the next; where a kernel needs
 * the other layout, a reorder step converts the value once, right after
 * it is produced, and every reader of that layout shares the copy. Graph
 * inputs and outputs are NCHW, so conversions happen only at the edges
 * of blocked regions.
 */
#include "engine/kernels/blocked.h"
#include "engine/plan.h"

#include <string.h>

/* A 4-D f32 value computed at run time: the values layouts apply to. */
static bool is_act4(const nk_tensor *t)
{
    return t && !t->is_init && t->dtype == NK_F32 && t->shape.rank == 4;
}

int nk_plan_producer(const nk_plan *p, const nk_tensor *t)
{
    for (int s = p->n_steps - 1; s >= 0; s--)
        for (int o = 0; o < p->steps[s].n_out; o++)
            if (p->steps[s].out[o] == t)
                return s;
    return -1;
}

static bool is_graph_output(const nk_plan *p, const nk_tensor *t)
{
    for (int i = 0; i < p->g->n_outputs; i++)
        if (&p->vals[p->g->outputs[i]] == t)
            return true;
    return false;
}

static void set_layout(nk_tensor *t, nk_layout l)
{
    t->layout = l;
    t->nbytes = l == NK_LAYOUT_NCHW8C ? nk_blk_bytes(&t->shape)
                                      : nk_tensor_bytes_for(t->dtype,
                                                            &t->shape);
}

/* A new value like t in layout want, registered as t's other-layout copy. */
static nk_status new_copy(nk_ctx *ctx, nk_plan *p, nk_tensor *t,
                          nk_layout want, nk_tensor **out)
{
    if (p->n_vals >= p->cap_vals || p->n_steps >= p->cap_steps)
        return nk_fail(ctx, NK_NOMEM, "planner: too many layout copies");
    int ti = (int)(t - p->vals), a = p->n_vals++;
    nk_tensor *c = &p->vals[a];
    *c = *t;
    c->data = NULL;
    c->storage = NK_STORE_NONE;
    set_layout(c, want);
    p->val_ptrs[a] = c;
    p->alias[ti] = a;
    p->alias[a] = ti;
    *out = c;
    return NK_OK;
}

/* A reorder step from -> to, inserted at position pos of the steps. */
static nk_status insert_reorder(nk_ctx *ctx, nk_plan *p, nk_tensor *from,
                                nk_tensor *to, int pos)
{
    nk_node *n = &p->xnodes[p->n_xnodes++];
    memset(n, 0, sizeof *n);
    n->name = from->name;
    n->op = NK_OP_IDENTITY;
    nk_step rs;
    memset(&rs, 0, sizeof rs);
    rs.node = n;
    rs.kernel = &nk_reorder_kernel;
    rs.n_in = rs.n_out = 1;
    rs.in = nk_calloc(2, sizeof(nk_tensor *));
    rs.out = nk_calloc(2, sizeof(nk_tensor *));
    if (!rs.in || !rs.out) {
        nk_free(rs.in);
        nk_free(rs.out);
        return nk_fail(ctx, NK_NOMEM, "out of memory planning");
    }
    rs.in[0] = from;
    rs.out[0] = to;
    rs.nth = p->threads;
    rs.cpu = &p->cpu;
    memmove(&p->steps[pos + 1], &p->steps[pos],
            sizeof(nk_step) * (size_t)(p->n_steps - pos));
    p->steps[pos] = rs;
    p->n_steps++;
    return NK_OK;
}

/* The copy of value t in layout want, made (with its reorder step, placed
 * right after t's producer) on first request. */
static nk_status layout_copy(nk_ctx *ctx, nk_plan *p, nk_tensor *t,
                             nk_layout want, nk_tensor **out)
{
    int ti = (int)(t - p->vals);
    if (p->alias[ti] >= 0) {
        *out = &p->vals[p->alias[ti]];
        return NK_OK;
    }
    nk_status st = new_copy(ctx, p, t, want, out);
    if (!st)
        st = insert_reorder(ctx, p, t, *out, nk_plan_producer(p, t) + 1);
    return st;
}

/* The layout to prefer for a step: its first input's, except that an Add
 * follows the side a residual-capable Conv wrote (so the Conv can absorb
 * it; engine/plan.c). */
static nk_layout preferred_layout(const nk_plan *p, const nk_step *s)
{
    if (s->node->op == NK_OP_ADD && s->n_in == 2)
        for (int side = 0; side < 2; side++) {
            const nk_tensor *t = s->in[side];
            int c = is_act4(t) ? nk_plan_producer(p, t) : -1;
            if (c >= 0 && p->steps[c].node->op == NK_OP_CONV &&
                p->steps[c].kernel->residual)
                return t->layout;
        }
    return is_act4(s->in[0]) ? s->in[0]->layout : NK_LAYOUT_DEFAULT;
}

nk_status nk_plan_pick_kernel(nk_ctx *ctx, nk_plan *p, int *index)
{
    int si = *index;
    nk_step *s = &p->steps[si];
    if (!p->layouts) {
        s->kernel = nk_kernel_select(s, &p->cpu, p->reference);
        return NK_OK;
    }
    const nk_kernel *k = nk_kernel_select_layout(
        s, &p->cpu, false, (int)preferred_layout(p, s), true);
    if (!k)
        k = nk_kernel_select(s, &p->cpu, false);
    s->kernel = k;
    if (!k)
        return NK_OK;
    for (int j = 0; j < s->n_in; j++) {
        nk_tensor *t = s->in[j];
        if (!is_act4(t))
            continue;
        nk_layout want = j == 0 && k->any_in_layout ? t->layout : k->layout;
        if (t->layout == want)
            continue;
        nk_tensor *c = NULL;
        int before = p->n_steps;
        nk_status st = layout_copy(ctx, p, t, want, &c);
        if (st)
            return st;
        si += p->n_steps - before; /* inserted before this step */
        s = &p->steps[si];
        s->in[j] = c;
    }
    for (int o = 0; o < s->n_out; o++) {
        nk_tensor *y = s->out[o];
        if (!is_act4(y))
            continue;
        if (k->layout == NK_LAYOUT_DEFAULT || !is_graph_output(p, y)) {
            set_layout(y, k->layout);
            continue;
        }
        /* Graph outputs stay NCHW: the step writes a blocked copy and a
         * reorder right after it fills the output. */
        nk_tensor *c = NULL;
        nk_status st = new_copy(ctx, p, y, k->layout, &c);
        if (!st)
            st = insert_reorder(ctx, p, c, y, si + 1);
        if (st)
            return st;
        s = &p->steps[si];
        s->out[o] = c;
    }
    *index = si;
    return NK_OK;
}
