/*
 * onnx-upgrade.c — the reader's opset mapping: every op whose ONNX form
 * changed between opsets 7 and 18 is brought to the IR's one form (the
 * opset-13 form, listed in onnx.h) so kernels and the writer see only it.
 */
#include "formats/onnx/onnx-impl.h"
#include "engine/op.h"

#include <float.h>
#include <stdio.h>
#include <string.h>

/* ---- small graph edits ------------------------------------------------------ */

void nk_onnx_drop_attr(nk_node *n, const char *name)
{
    int w = 0;
    for (int i = 0; i < n->n_attr; i++)
        if (strcmp(n->attr[i].name, name) != 0)
            n->attr[w++] = n->attr[i];
    n->n_attr = w;
}

nk_status nk_onnx_set_input(nk_ctx *ctx, nk_graph *g, nk_node *n, int i,
                            int tensor)
{
    if (i >= n->n_in) {
        int *in = nk_arena_alloc(&g->arena, sizeof(int) * (size_t)(i + 1));
        if (!in)
            return nk_fail(ctx, NK_NOMEM, "out of memory");
        for (int k = 0; k <= i; k++)
            in[k] = k < n->n_in ? n->in[k] : NK_NO_INPUT;
        n->in = in;
        n->n_in = i + 1;
    }
    n->in[i] = tensor;
    return NK_OK;
}

/* A fresh tensor name: base, or base_N when that is taken. */
static nk_status unique_name(nk_ctx *ctx, const nk_graph *g, const char *base,
                             char *buf, size_t len)
{
    char stem[400];
    snprintf(stem, sizeof stem, "%.399s", base);
    snprintf(buf, len, "%s", stem);
    for (int k = 1; nk_graph_find_tensor(g, buf) >= 0; k++) {
        if (k > 1000000)
            return nk_fail(ctx, NK_INTERNAL, "no free name for '%s'", stem);
        snprintf(buf, len, "%.400s_%d", stem, k);
    }
    return NK_OK;
}

static nk_status add_const(nk_ctx *ctx, nk_graph *g, const char *base,
                           nk_dtype dt, const void *v, int n, bool scalar,
                           int *idx)
{
    char name[512];
    nk_status st = unique_name(ctx, g, base, name, sizeof name);
    if (st)
        return st;
    int64_t d = n;
    nk_shape s = nk_shape_make(scalar ? 0 : 1, &d);
    if ((st = nk_graph_add_init(ctx, g, name, dt, &s, idx)))
        return st;
    if (n)
        memcpy(g->tensors[*idx]->data, v, (size_t)n * nk_dtype_size(dt));
    return NK_OK;
}

nk_status nk_onnx_const_f32(nk_ctx *ctx, nk_graph *g, const char *base,
                            const float *v, int n, bool scalar, int *idx)
{
    return add_const(ctx, g, base, NK_F32, v, n, scalar && n == 1, idx);
}

nk_status nk_onnx_const_i64(nk_ctx *ctx, nk_graph *g, const char *base,
                            const int64_t *v, int n, int *idx)
{
    return add_const(ctx, g, base, NK_I64, v, n, false, idx);
}

/* The name new constants of node n are called after. */
static const char *base_of(const nk_graph *g, const nk_node *n, char *buf,
                           size_t len, const char *what)
{
    const char *stem = n->name && *n->name ? n->name
                                           : g->tensors[n->out[0]]->name;
    snprintf(buf, len, "%s::%s", stem, what);
    return buf;
}

/* Attribute `name` (INTS) becomes i64 input `pos`; absent: nothing. */
static nk_status ints_attr_to_input(nk_onnx_reader *r, nk_node *n,
                                    const char *name, int pos)
{
    const nk_attr *a = nk_node_attr(n, name);
    if (!a)
        return NK_OK;
    if (a->type != NK_ATTR_INTS && a->type != NK_ATTR_INT)
        return nk_fail(r->ctx, NK_FORMAT, "attribute '%s' must be ints",
                       name);
    char base[300];
    int idx;
    int64_t one = a->i;
    nk_status st = nk_onnx_const_i64(
        r->ctx, r->g, base_of(r->g, n, base, sizeof base, name),
        a->type == NK_ATTR_INTS ? a->ints : &one,
        a->type == NK_ATTR_INTS ? a->n : 1, &idx);
    if (!st)
        st = nk_onnx_set_input(r->ctx, r->g, n, pos, idx);
    if (!st)
        nk_onnx_drop_attr(n, name);
    return st;
}

/* Float attribute `name` becomes f32 scalar input `pos`. */
static nk_status float_attr_to_input(nk_onnx_reader *r, nk_node *n,
                                     const char *name, int pos, float def,
                                     bool always)
{
    const nk_attr *a = nk_node_attr(n, name);
    if (!a && !always)
        return NK_OK;
    float v = a ? nk_node_float(n, name, def) : def;
    char base[300];
    int idx;
    nk_status st = nk_onnx_const_f32(
        r->ctx, r->g, base_of(r->g, n, base, sizeof base, name), &v, 1, true,
        &idx);
    if (!st)
        st = nk_onnx_set_input(r->ctx, r->g, n, pos, idx);
    if (!st)
        nk_onnx_drop_attr(n, name);
    return st;
}

/* Constant i64 input `pos` becomes INTS attribute `name` and is removed
 * from the inputs (it must be the last). */
static nk_status input_to_ints_attr(nk_onnx_reader *r, nk_node *n,
                                    const char *name, int pos)
{
    if (pos >= n->n_in || n->in[pos] == NK_NO_INPUT)
        return NK_OK;
    const nk_tensor *t = r->g->tensors[n->in[pos]];
    if (!t->is_init || !t->data || t->dtype != NK_I64 || t->shape.rank > 1)
        return nk_fail(r->ctx, NK_UNSUPPORTED, "input '%s' (%s) must be a "
                       "constant i64 list; values computed at run time are "
                       "not supported", t->name, name);
    int64_t cnt = nk_shape_numel(&t->shape);
    if (cnt < 0 || cnt > 64)
        return nk_fail(r->ctx, NK_UNSUPPORTED, "input '%s' (%s) has %lld "
                       "values, expected at most 64", t->name, name,
                       (long long)cnt);
    nk_status st = nk_node_set_ints(r->ctx, r->g, n, name, (int)cnt,
                                    (const int64_t *)t->data);
    if (st)
        return st;
    n->in[pos] = NK_NO_INPUT;
    while (n->n_in > 1 && n->in[n->n_in - 1] == NK_NO_INPUT)
        n->n_in--;
    return NK_OK;
}

static bool is(const nk_node *n, const char *op)
{
    return strcmp(nk_op_name(n->op), op) == 0;
}

static bool is_reduce_attr_form(const nk_node *n)
{
    static const char *const ops[] = {
        "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
        "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (is(n, ops[i]))
            return true;
    return false;
}

/* ---- per-node upgrade ----------------------------------------------------- */

nk_status nk_onnx_upgrade_node(nk_onnx_reader *r, nk_node *n)
{
    const int v = r->opset;
    nk_status st = NK_OK;
    if (is(n, "Clip") && v < 11) {
        /* min/max attributes -> inputs 1 and 2 (absent = unbounded) */
        if ((st = float_attr_to_input(r, n, "min", 1, -FLT_MAX, false)))
            return st;
        return float_attr_to_input(r, n, "max", 2, FLT_MAX, false);
    }
    if ((is(n, "Softmax") || is(n, "LogSoftmax") || is(n, "Hardmax")) &&
        v < 13) {
        /* opset < 13: coerce to 2-D at axis (default 1); fixed up after
         * shape inference (nk_onnx_fix_legacy_softmax) */
        r->legacy_softmax = true;
        return nk_node_set_int(r->ctx, r->g, n, "axis",
                               nk_node_int(n, "axis", 1));
    }
    if (is(n, "Pad") && v < 11) {
        if (!nk_node_attr(n, "pads"))
            return nk_fail(r->ctx, NK_FORMAT, "attribute 'pads' is missing "
                           "(required before opset 11)");
        if ((st = ints_attr_to_input(r, n, "pads", 1)))
            return st;
        /* constant_value (f32, the data's type in every real model) */
        if (nk_node_attr(n, "value") && nk_node_float(n, "value", 0) != 0)
            return float_attr_to_input(r, n, "value", 2, 0, true);
        nk_onnx_drop_attr(n, "value");
        return NK_OK;
    }
    if ((is(n, "Squeeze") || is(n, "Unsqueeze")) && v < 13) {
        if (is(n, "Unsqueeze") && !nk_node_attr(n, "axes"))
            return nk_fail(r->ctx, NK_FORMAT, "attribute 'axes' is missing "
                           "(required before opset 13)");
        return ints_attr_to_input(r, n, "axes", 1);
    }
    if (is(n, "ReduceSum") && v < 13)
        return ints_attr_to_input(r, n, "axes", 1);
    if (is_reduce_attr_form(n) && v >= 18)
        return input_to_ints_attr(r, n, "axes", 1);
    if (is(n, "Split")) {
        if (v < 13)
            return ints_attr_to_input(r, n, "split", 1);
        nk_onnx_drop_attr(n, "num_outputs"); /* = the output count */
        return NK_OK;
    }
    if (is(n, "Slice") && v < 10) {
        if (!nk_node_attr(n, "starts") || !nk_node_attr(n, "ends"))
            return nk_fail(r->ctx, NK_FORMAT, "attributes 'starts' and "
                           "'ends' are required before opset 10");
        if ((st = ints_attr_to_input(r, n, "starts", 1)) ||
            (st = ints_attr_to_input(r, n, "ends", 2)))
            return st;
        return ints_attr_to_input(r, n, "axes", 3);
    }
    if (is(n, "Dropout")) {
        nk_onnx_drop_attr(n, "is_test");
        if (v < 12 && nk_node_attr(n, "ratio"))
            return float_attr_to_input(r, n, "ratio", 1, 0.5f, true);
        return NK_OK;
    }
    if (is(n, "BatchNormalization")) {
        if (nk_node_attr(n, "spatial") && nk_node_int(n, "spatial", 1) == 0)
            return nk_fail(r->ctx, NK_UNSUPPORTED, "spatial = 0 (per-element "
                           "statistics, opset < 9) is not supported");
        nk_onnx_drop_attr(n, "spatial");
        nk_onnx_drop_attr(n, "is_test");
        nk_onnx_drop_attr(n, "consumed_inputs");
        if (v < 14 && n->n_out > 1) {
            /* Training outputs of opsets < 14 (mean, var, saved_mean,
             * saved_var) have no IR equivalent; a model that exports them
             * unused is fine, one that uses them is not. */
            for (int o = 1; o < n->n_out; o++) {
                int t = n->out[o];
                for (int i = 0; i < r->g->n_nodes; i++)
                    for (int j = 0; j < r->g->nodes[i].n_in; j++)
                        if (r->g->nodes[i].in[j] == t)
                            goto used;
                if (r->uses && r->uses(r, r->g->tensors[t]->name))
                    goto used;
            }
            n->n_out = 1;
            return NK_OK;
        used:
            return nk_fail(r->ctx, NK_UNSUPPORTED, "training-mode outputs of "
                           "BatchNormalization before opset 14 (mean, var, "
                           "saved_mean, saved_var) are used; not supported");
        }
        return NK_OK;
    }
    if (is(n, "Gemm"))
        nk_onnx_drop_attr(n, "broadcast");
    return st;
}

/* ---- Softmax before opset 13 ---------------------------------------------------- */

/* Append a copy of node `src` (attributes shared) to g. */
static nk_status push_copy(nk_ctx *ctx, nk_graph *g, const nk_node *src,
                           nk_node **out)
{
    nk_node *n;
    nk_status st = nk_graph_add_node(ctx, g, src->op, src->name, src->n_in,
                                     src->in, src->n_out, src->out, &n);
    if (st)
        return st;
    n->n_attr = src->n_attr;
    n->attr = src->attr;
    n->act = src->act;
    n->act_a0 = src->act_a0;
    n->act_a1 = src->act_a1;
    if (out)
        *out = n;
    return NK_OK;
}

nk_status nk_onnx_fix_legacy_softmax(nk_onnx_reader *r)
{
    nk_ctx *ctx = r->ctx;
    nk_graph *g = r->g;
    nk_node *old = g->nodes;
    int n_old = g->n_nodes;
    g->nodes = NULL;
    g->n_nodes = g->cap_nodes = 0;
    nk_status st = NK_OK;
    for (int i = 0; i < n_old && !st; i++) {
        const nk_node *n = &old[i];
        if (!(is(n, "Softmax") || is(n, "LogSoftmax") || is(n, "Hardmax"))) {
            st = push_copy(ctx, g, n, NULL);
            continue;
        }
        const nk_tensor *x = nk_node_input(g, n, 0);
        const nk_shape *s = &x->shape;
        int64_t axis = nk_node_int(n, "axis", 1);
        if (axis < -s->rank || axis >= s->rank) {
            st = nk_fail(ctx, NK_FORMAT, "%s: node '%s' (%s): axis %lld out "
                         "of range for rank %d", r->path, n->name,
                         nk_op_name(n->op), (long long)axis, s->rank);
            break;
        }
        if (axis < 0)
            axis += s->rank;
        /* Same result when the coerced inner block is just dim `axis`. */
        bool trivial = true;
        for (int d = (int)axis + 1; d < s->rank; d++)
            if (s->d[d] != 1)
                trivial = false;
        nk_node *c;
        if (trivial) {
            st = push_copy(ctx, g, n, &c);
            if (!st)
                st = nk_node_set_int(ctx, g, c, "axis", axis);
            continue;
        }
        for (int d = 1; d < s->rank; d++)
            if (s->d[d] < 0) {
                char buf[128];
                st = nk_fail(ctx, NK_UNSUPPORTED, "%s: node '%s' (%s, opset "
                             "%d): axis %lld on input %s coerces the input to "
                             "2-D; with a symbolic dim past the batch this "
                             "cannot be expressed in nnkit's IR", r->path,
                             n->name, nk_op_name(n->op), r->opset,
                             (long long)axis, nk_shape_str(s, buf, sizeof buf));
                break;
            }
        if (st)
            break;
        /* Flatten(axis) -> op(axis = -1) -> Reshape([-1, d1, ...]) */
        const char *y = g->tensors[n->out[0]]->name;
        char nm[512];
        int flat, soft, shp;
        int64_t dims[NK_MAX_RANK];
        dims[0] = -1;
        for (int d = 1; d < s->rank; d++)
            dims[d] = s->d[d];
        nk_shape s0;
        memset(&s0, 0, sizeof s0);
        char base[450];
        snprintf(base, sizeof base, "%.400s::2d_in", y);
        if ((st = unique_name(ctx, g, base, nm, sizeof nm)) ||
            (st = nk_graph_add_tensor(ctx, g, nm, x->dtype, &s0, &flat)))
            break;
        snprintf(base, sizeof base, "%.400s::2d_out", y);
        if ((st = unique_name(ctx, g, base, nm, sizeof nm)) ||
            (st = nk_graph_add_tensor(ctx, g, nm, x->dtype, &s0, &soft)))
            break;
        snprintf(nm, sizeof nm, "%s::shape", y);
        if ((st = nk_onnx_const_i64(ctx, g, nm, dims, s->rank, &shp)))
            break;
        nk_node *f, *rs;
        snprintf(nm, sizeof nm, "%s::flatten", n->name);
        int fin = n->in[0], rin[2] = {soft, shp};
        if ((st = nk_graph_add_node(ctx, g, NK_OP_FLATTEN, nm, 1, &fin, 1,
                                    &flat, &f)) ||
            (st = nk_node_set_int(ctx, g, f, "axis", axis)))
            break;
        if ((st = push_copy(ctx, g, n, &c)))
            break;
        c->in[0] = flat;
        c->out[0] = soft;
        c->attr = nk_arena_memdup(&g->arena, n->attr,
                                  sizeof(nk_attr) * (size_t)n->n_attr);
        if (!c->attr) {
            st = nk_fail(ctx, NK_NOMEM, "out of memory");
            break;
        }
        if ((st = nk_node_set_int(ctx, g, c, "axis", -1)))
            break;
        snprintf(nm, sizeof nm, "%s::reshape", n->name);
        st = nk_graph_add_node(ctx, g, NK_OP_RESHAPE, nm, 2, rin, 1,
                               &n->out[0], &rs);
    }
    nk_free(old);
    return st;
}

/* ---- HardSwish as exporters write it below opset 14 ------------------------ */

nk_status nk_onnx_fuse_hardswish(nk_onnx_reader *r)
{
    nk_graph *g = r->g;
    bool *dead = NULL;
    for (int i = 0; i < g->n_nodes; i++) {
        nk_node *h = &g->nodes[i];
        if (h->op != NK_OP_HARDSIGMOID || h->n_in != 1 || h->n_out != 1 ||
            nk_node_float(h, "alpha", 0.2f) != 1.0f / 6.0f ||
            nk_node_float(h, "beta", 0.5f) != 0.5f)
            continue;
        int x = h->in[0], t = h->out[0], uses = 0;
        nk_node *mul = NULL;
        for (int k = 0; k < g->n_nodes; k++)
            for (int j = 0; j < g->nodes[k].n_in; j++)
                if (g->nodes[k].in[j] == t) {
                    uses++;
                    mul = &g->nodes[k];
                }
        for (int k = 0; k < g->n_outputs; k++)
            if (g->outputs[k] == t)
                uses += 2;
        if (uses != 1 || mul->op != NK_OP_MUL || mul->n_in != 2 ||
            mul->act != NK_ACT_NONE ||
            !((mul->in[0] == x && mul->in[1] == t) ||
              (mul->in[0] == t && mul->in[1] == x)))
            continue;
        if (!dead && !(dead = nk_calloc((size_t)g->n_nodes, sizeof *dead)))
            return nk_fail(r->ctx, NK_NOMEM, "%s: out of memory", r->path);
        /* x * HardSigmoid(x; 1/6, 1/2) is HardSwish(x), bit for bit */
        mul->op = NK_OP_HARDSWISH;
        mul->in[0] = x;
        mul->n_in = 1;
        mul->n_attr = 0;
        dead[i] = true;
    }
    if (dead)
        nk_graph_remove_nodes(g, dead);
    nk_free(dead);
    return NK_OK;
}
