/*
 * ir.c — building, querying, validating and copying graphs, and the
 * graph-level shape inference driver (symbolic dims are resolved by
 * inferring with two bindings and comparing, so each op's inference only
 * ever sees concrete shapes).
 */
#include "engine/ir.h"
#include "engine/op.h"
#include "engine/shape-eval.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- shapes ------------------------------------------------------------ */

int64_t nk_shape_numel(const nk_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) {
        if (s->d[i] < 0)
            return -1;
        if (s->d[i] && n > INT64_MAX / s->d[i])
            return -1;
        n *= s->d[i];
    }
    return n;
}

bool nk_shape_is_static(const nk_shape *s)
{
    for (int i = 0; i < s->rank; i++)
        if (s->d[i] < 0)
            return false;
    return true;
}

bool nk_shape_equal(const nk_shape *a, const nk_shape *b)
{
    if (a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->d[i] != b->d[i])
            return false;
    return true;
}

char *nk_shape_str(const nk_shape *s, char *buf, size_t n)
{
    size_t o = 0;
    if (n == 0)
        return buf;
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (int i = 0; i < s->rank && o < n; i++) {
        const char *sep = i ? ", " : "";
        if (s->d[i] < 0)
            o += (size_t)snprintf(buf + o, n - o, "%s%s", sep,
                                  s->sym[i] ? s->sym[i] : "?");
        else
            o += (size_t)snprintf(buf + o, n - o, "%s%" PRId64, sep, s->d[i]);
    }
    if (o < n)
        snprintf(buf + o, n - o, "]");
    return buf;
}

nk_shape nk_shape_make(int rank, const int64_t *dims)
{
    nk_shape s;
    memset(&s, 0, sizeof s);
    s.rank = rank;
    for (int i = 0; i < rank; i++)
        s.d[i] = dims[i];
    return s;
}

size_t nk_tensor_bytes_for(nk_dtype dt, const nk_shape *s)
{
    int64_t n = nk_shape_numel(s);
    size_t r;
    if (n < 0 || !nk_mul_size((size_t)n, nk_dtype_size(dt), &r))
        return SIZE_MAX;
    return r;
}

/* ---- graphs ------------------------------------------------------------- */

nk_status nk_graph_new(nk_ctx *ctx, nk_graph **out)
{
    nk_graph *g = nk_calloc(1, sizeof *g);
    if (!g)
        return nk_fail(ctx, NK_NOMEM, "out of memory creating a graph");
    *out = g;
    return NK_OK;
}

void nk_graph_free(nk_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_tensors; i++) {
        nk_tensor *t = g->tensors[i];
        if (t->storage == NK_STORE_OWNED)
            nk_free_aligned(t->data);
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int a = 0; a < g->nodes[i].n_attr; a++) {
            nk_tensor *t = g->nodes[i].attr[a].t;
            if (t && t->storage == NK_STORE_OWNED)
                nk_free_aligned(t->data);
        }
    for (nk_mapping *m = g->maps; m;) {
        nk_mapping *n = m->next;
        nk_file_unmap(m->addr, m->len);
        nk_free(m);
        m = n;
    }
    nk_free(g->tensors);
    nk_free(g->nodes);
    nk_free(g->meta);
    nk_free(g->name_slots);
    nk_arena_release(&g->arena);
    nk_free(g);
}

char *nk_graph_strdup(nk_graph *g, const char *s)
{
    return nk_arena_strdup(&g->arena, s ? s : "");
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return h;
}

static bool index_insert(nk_graph *g, int idx)
{
    if ((g->n_tensors + 1) * 2 > g->n_slots) {
        int n = g->n_slots ? g->n_slots * 2 : 64;
        while (n < (g->n_tensors + 1) * 2)
            n *= 2;
        int *slots = nk_malloc(sizeof(int) * (size_t)n);
        if (!slots)
            return false;
        for (int i = 0; i < n; i++)
            slots[i] = -1;
        nk_free(g->name_slots);
        g->name_slots = slots;
        g->n_slots = n;
        for (int i = 0; i < g->n_tensors; i++) {
            if (i == idx)
                continue;
            uint64_t h = hash_str(g->tensors[i]->name) & (uint64_t)(n - 1);
            while (slots[h] >= 0)
                h = (h + 1) & (uint64_t)(n - 1);
            slots[h] = i;
        }
    }
    uint64_t m = (uint64_t)(g->n_slots - 1);
    uint64_t h = hash_str(g->tensors[idx]->name) & m;
    while (g->name_slots[h] >= 0)
        h = (h + 1) & m;
    g->name_slots[h] = idx;
    return true;
}

int nk_graph_find_tensor(const nk_graph *g, const char *name)
{
    if (!g->n_slots || !name)
        return -1;
    uint64_t m = (uint64_t)(g->n_slots - 1);
    uint64_t h = hash_str(name) & m;
    while (g->name_slots[h] >= 0) {
        int i = g->name_slots[h];
        if (strcmp(g->tensors[i]->name, name) == 0)
            return i;
        h = (h + 1) & m;
    }
    return -1;
}

/* Rebuild the name index from scratch (after renames or removals). */
static nk_status reindex(nk_ctx *ctx, nk_graph *g)
{
    nk_free(g->name_slots);
    g->name_slots = NULL;
    g->n_slots = 0;
    int n = g->n_tensors;
    g->n_tensors = 0;
    for (int i = 0; i < n; i++) {
        g->n_tensors = i + 1;
        if (!index_insert(g, i))
            return nk_fail(ctx, NK_NOMEM, "out of memory indexing tensors");
    }
    return NK_OK;
}

nk_status nk_graph_add_tensor(nk_ctx *ctx, nk_graph *g, const char *name,
                              nk_dtype dt, const nk_shape *s, int *idx)
{
    if (!name || !*name)
        return nk_fail(ctx, NK_INVALID_ARG, "a tensor needs a name");
    if ((unsigned)dt >= NK_DTYPE_COUNT)
        return nk_fail(ctx, NK_INVALID_ARG, "tensor '%s': invalid dtype %d",
                       name, (int)dt);
    if (s && (s->rank < 0 || s->rank > NK_MAX_RANK))
        return nk_fail(ctx, NK_INVALID_ARG,
                       "tensor '%s': rank %d, expected 0..%d", name, s->rank,
                       NK_MAX_RANK);
    if (nk_graph_find_tensor(g, name) >= 0)
        return nk_fail(ctx, NK_INVALID_ARG, "tensor '%s' defined twice",
                       name);
    if (g->n_tensors == g->cap_tensors) {
        int cap = g->cap_tensors ? g->cap_tensors * 2 : 64;
        nk_tensor **nt = nk_realloc(g->tensors, sizeof *nt * (size_t)cap);
        if (!nt)
            return nk_fail(ctx, NK_NOMEM, "out of memory adding '%s'", name);
        g->tensors = nt;
        g->cap_tensors = cap;
    }
    nk_tensor *t = nk_arena_alloc(&g->arena, sizeof *t);
    char *nm = nk_graph_strdup(g, name);
    if (!t || !nm)
        return nk_fail(ctx, NK_NOMEM, "out of memory adding '%s'", name);
    t->name = nm;
    t->dtype = dt;
    if (s) {
        t->shape = *s;
        for (int i = 0; i < s->rank; i++)
            if (s->sym[i]) {
                t->shape.sym[i] = nk_graph_strdup(g, s->sym[i]);
                if (!t->shape.sym[i])
                    return nk_fail(ctx, NK_NOMEM, "out of memory");
            }
    }
    g->tensors[g->n_tensors] = t;
    int i = g->n_tensors++;
    if (!index_insert(g, i)) {
        g->n_tensors--;
        return nk_fail(ctx, NK_NOMEM, "out of memory adding '%s'", name);
    }
    if (idx)
        *idx = i;
    return NK_OK;
}

nk_status nk_graph_add_init(nk_ctx *ctx, nk_graph *g, const char *name,
                            nk_dtype dt, const nk_shape *s, int *idx)
{
    if (!nk_shape_is_static(s))
        return nk_fail(ctx, NK_INVALID_ARG,
                       "initializer '%s' must have a static shape", name);
    size_t bytes = nk_tensor_bytes_for(dt, s);
    if (bytes == SIZE_MAX)
        return nk_fail(ctx, NK_INVALID_ARG,
                       "initializer '%s' is too large", name);
    int i;
    nk_status st = nk_graph_add_tensor(ctx, g, name, dt, s, &i);
    if (st)
        return st;
    nk_tensor *t = g->tensors[i];
    t->data = nk_malloc_aligned(bytes ? bytes : 1, 64);
    if (!t->data)
        return nk_fail(ctx, NK_NOMEM, "out of memory for '%s' (%zu bytes)",
                       name, bytes);
    memset(t->data, 0, bytes);
    t->nbytes = bytes;
    t->storage = NK_STORE_OWNED;
    t->is_init = true;
    if (idx)
        *idx = i;
    return NK_OK;
}

nk_status nk_graph_add_node(nk_ctx *ctx, nk_graph *g, nk_op op,
                            const char *name, int n_in, const int *in,
                            int n_out, const int *out, nk_node **node)
{
    if ((unsigned)op >= NK_OP_COUNT)
        return nk_fail(ctx, NK_INVALID_ARG, "invalid op %d", (int)op);
    if (n_in < 0 || n_out < 1)
        return nk_fail(ctx, NK_INVALID_ARG,
                       "node '%s': %d inputs / %d outputs", name ? name : "",
                       n_in, n_out);
    for (int i = 0; i < n_in; i++)
        if (in[i] != NK_NO_INPUT && (in[i] < 0 || in[i] >= g->n_tensors))
            return nk_fail(ctx, NK_INVALID_ARG,
                           "node '%s': input %d is tensor #%d of %d",
                           name ? name : "", i, in[i], g->n_tensors);
    for (int i = 0; i < n_out; i++)
        if (out[i] < 0 || out[i] >= g->n_tensors)
            return nk_fail(ctx, NK_INVALID_ARG,
                           "node '%s': output %d is tensor #%d of %d",
                           name ? name : "", i, out[i], g->n_tensors);
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
        nk_node *nn = nk_realloc(g->nodes, sizeof *nn * (size_t)cap);
        if (!nn)
            return nk_fail(ctx, NK_NOMEM, "out of memory adding a node");
        g->nodes = nn;
        g->cap_nodes = cap;
    }
    nk_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->name = nk_graph_strdup(g, name ? name : "");
    n->n_in = n_in;
    n->n_out = n_out;
    n->in = nk_arena_memdup(&g->arena, in, sizeof(int) * (size_t)n_in);
    n->out = nk_arena_memdup(&g->arena, out, sizeof(int) * (size_t)n_out);
    if (!n->name || (n_in && !n->in) || !n->out)
        return nk_fail(ctx, NK_NOMEM, "out of memory adding a node");
    g->n_nodes++;
    if (node)
        *node = n;
    return NK_OK;
}

/* Find or append the attribute slot called name. */
static nk_attr *attr_slot(nk_ctx *ctx, nk_graph *g, nk_node *n,
                          const char *name)
{
    for (int i = 0; i < n->n_attr; i++)
        if (strcmp(n->attr[i].name, name) == 0) {
            nk_attr *a = &n->attr[i];
            const char *nm = a->name;
            memset(a, 0, sizeof *a);
            a->name = nm;
            return a;
        }
    nk_attr *na = nk_arena_alloc(&g->arena, sizeof *na * (size_t)(n->n_attr + 1));
    if (!na) {
        nk_fail(ctx, NK_NOMEM, "out of memory setting attribute '%s'", name);
        return NULL;
    }
    if (n->n_attr)
        memcpy(na, n->attr, sizeof *na * (size_t)n->n_attr);
    n->attr = na;
    nk_attr *a = &na[n->n_attr++];
    a->name = nk_graph_strdup(g, name);
    if (!a->name) {
        n->n_attr--;
        nk_fail(ctx, NK_NOMEM, "out of memory setting attribute '%s'", name);
        return NULL;
    }
    return a;
}

nk_status nk_node_set_int(nk_ctx *ctx, nk_graph *g, nk_node *n,
                          const char *name, int64_t v)
{
    nk_attr *a = attr_slot(ctx, g, n, name);
    if (!a)
        return NK_NOMEM;
    a->type = NK_ATTR_INT;
    a->i = v;
    return NK_OK;
}

nk_status nk_node_set_float(nk_ctx *ctx, nk_graph *g, nk_node *n,
                            const char *name, float v)
{
    nk_attr *a = attr_slot(ctx, g, n, name);
    if (!a)
        return NK_NOMEM;
    a->type = NK_ATTR_FLOAT;
    a->f = v;
    return NK_OK;
}

nk_status nk_node_set_string(nk_ctx *ctx, nk_graph *g, nk_node *n,
                             const char *name, const char *v)
{
    nk_attr *a = attr_slot(ctx, g, n, name);
    if (!a)
        return NK_NOMEM;
    a->type = NK_ATTR_STRING;
    a->s = nk_graph_strdup(g, v);
    return a->s ? NK_OK : nk_fail(ctx, NK_NOMEM, "out of memory");
}

nk_status nk_node_set_ints(nk_ctx *ctx, nk_graph *g, nk_node *n,
                           const char *name, int count, const int64_t *v)
{
    nk_attr *a = attr_slot(ctx, g, n, name);
    if (!a)
        return NK_NOMEM;
    a->type = NK_ATTR_INTS;
    a->n = count;
    a->ints = nk_arena_memdup(&g->arena, v, sizeof(int64_t) * (size_t)count);
    return a->ints ? NK_OK : nk_fail(ctx, NK_NOMEM, "out of memory");
}

nk_status nk_node_set_floats(nk_ctx *ctx, nk_graph *g, nk_node *n,
                             const char *name, int count, const float *v)
{
    nk_attr *a = attr_slot(ctx, g, n, name);
    if (!a)
        return NK_NOMEM;
    a->type = NK_ATTR_FLOATS;
    a->n = count;
    a->floats = nk_arena_memdup(&g->arena, v, sizeof(float) * (size_t)count);
    return a->floats ? NK_OK : nk_fail(ctx, NK_NOMEM, "out of memory");
}

const nk_attr *nk_node_attr(const nk_node *n, const char *name)
{
    for (int i = 0; i < n->n_attr; i++)
        if (strcmp(n->attr[i].name, name) == 0)
            return &n->attr[i];
    return NULL;
}

int64_t nk_node_int(const nk_node *n, const char *name, int64_t def)
{
    const nk_attr *a = nk_node_attr(n, name);
    return a && a->type == NK_ATTR_INT ? a->i : def;
}

float nk_node_float(const nk_node *n, const char *name, float def)
{
    const nk_attr *a = nk_node_attr(n, name);
    if (!a)
        return def;
    if (a->type == NK_ATTR_FLOAT)
        return a->f;
    if (a->type == NK_ATTR_INT)
        return (float)a->i;
    return def;
}

const char *nk_node_string(const nk_node *n, const char *name,
                           const char *def)
{
    const nk_attr *a = nk_node_attr(n, name);
    return a && a->type == NK_ATTR_STRING ? a->s : def;
}

int nk_node_ints(const nk_node *n, const char *name, int64_t *v, int max)
{
    const nk_attr *a = nk_node_attr(n, name);
    if (!a || a->type != NK_ATTR_INTS)
        return 0;
    for (int i = 0; i < a->n && i < max; i++)
        v[i] = a->ints[i];
    return a->n;
}

static nk_status set_index_list(nk_ctx *ctx, nk_graph *g, int n,
                                const int *idx, int **dst, int *dn)
{
    for (int i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= g->n_tensors)
            return nk_fail(ctx, NK_INVALID_ARG, "tensor #%d of %d", idx[i],
                           g->n_tensors);
    int *p = nk_arena_memdup(&g->arena, idx, sizeof(int) * (size_t)n);
    if (n && !p)
        return nk_fail(ctx, NK_NOMEM, "out of memory");
    *dst = p;
    *dn = n;
    return NK_OK;
}

nk_status nk_graph_set_inputs(nk_ctx *ctx, nk_graph *g, int n,
                              const int *idx)
{
    return set_index_list(ctx, g, n, idx, &g->inputs, &g->n_inputs);
}

nk_status nk_graph_set_outputs(nk_ctx *ctx, nk_graph *g, int n,
                               const int *idx)
{
    return set_index_list(ctx, g, n, idx, &g->outputs, &g->n_outputs);
}

nk_tensor *nk_node_input(const nk_graph *g, const nk_node *n, int i)
{
    if (i < 0 || i >= n->n_in || n->in[i] == NK_NO_INPUT)
        return NULL;
    return g->tensors[n->in[i]];
}

nk_tensor *nk_node_output(const nk_graph *g, const nk_node *n, int i)
{
    if (i < 0 || i >= n->n_out || n->out[i] < 0)
        return NULL;
    return g->tensors[n->out[i]];
}

nk_status nk_graph_adopt_mapping(nk_ctx *ctx, nk_graph *g, void *addr,
                                 size_t len)
{
    nk_mapping *m = nk_calloc(1, sizeof *m);
    if (!m)
        return nk_fail(ctx, NK_NOMEM, "out of memory");
    m->addr = addr;
    m->len = len;
    m->next = g->maps;
    g->maps = m;
    return NK_OK;
}

nk_status nk_tensor_set_quant(nk_ctx *ctx, nk_graph *g, nk_tensor *t,
                              int axis, int n, const float *scale,
                              const int32_t *zero_point)
{
    if (n < 1)
        return nk_fail(ctx, NK_INVALID_ARG,
                       "tensor '%s': %d quantization scales", t->name, n);
    if (axis >= 0 && (axis >= t->shape.rank || t->shape.d[axis] != n))
        return nk_fail(ctx, NK_INVALID_ARG,
                       "tensor '%s': %d per-axis scales on axis %d of a "
                       "rank-%d tensor", t->name, n, axis, t->shape.rank);
    nk_quant *q = nk_arena_alloc(&g->arena, sizeof *q);
    if (!q)
        return nk_fail(ctx, NK_NOMEM, "out of memory");
    q->axis = axis < 0 ? -1 : axis;
    q->n = n;
    q->scale = nk_arena_memdup(&g->arena, scale, sizeof(float) * (size_t)n);
    q->zero_point = nk_arena_alloc(&g->arena, sizeof(int32_t) * (size_t)n);
    if (!q->scale || !q->zero_point)
        return nk_fail(ctx, NK_NOMEM, "out of memory");
    if (zero_point)
        memcpy(q->zero_point, zero_point, sizeof(int32_t) * (size_t)n);
    t->quant = q;
    return NK_OK;
}

void nk_graph_replace_uses(nk_graph *g, int from, int to)
{
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++)
            if (g->nodes[i].in[j] == from)
                g->nodes[i].in[j] = to;
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == from)
            g->outputs[i] = to;
}

void nk_graph_remove_nodes(nk_graph *g, const bool *dead)
{
    int w = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (!dead[i])
            g->nodes[w++] = g->nodes[i];
    g->n_nodes = w;
}

/* ---- validation ----------------------------------------------------------- */

nk_status nk_graph_validate(nk_ctx *ctx, const nk_graph *g)
{
    /* 0 = undefined, 1 = graph input or initializer, 2 = node output */
    uint8_t *def = nk_calloc((size_t)g->n_tensors + 1, 1);
    if (!def)
        return nk_fail(ctx, NK_NOMEM, "out of memory validating the graph");
    nk_status st = NK_OK;
    for (int i = 0; i < g->n_inputs; i++) {
        if (g->inputs[i] < 0 || g->inputs[i] >= g->n_tensors) {
            st = nk_fail(ctx, NK_FORMAT, "graph input #%d refers to tensor "
                         "#%d of %d", i, g->inputs[i], g->n_tensors);
            goto done;
        }
        def[g->inputs[i]] = 1;
    }
    for (int i = 0; i < g->n_tensors; i++)
        if (g->tensors[i]->is_init)
            def[i] = 1;
    for (int i = 0; i < g->n_nodes; i++) {
        const nk_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_in; j++) {
            int t = n->in[j];
            if (t == NK_NO_INPUT)
                continue;
            if (t < 0 || t >= g->n_tensors) {
                st = nk_fail(ctx, NK_FORMAT, "node '%s' (%s): input %d refers "
                             "to tensor #%d of %d", n->name, nk_op_name(n->op),
                             j, t, g->n_tensors);
                goto done;
            }
            if (!def[t]) {
                /* Produced later (a cycle or unsorted graph) or never. */
                bool later = false;
                for (int k = i; k < g->n_nodes && !later; k++)
                    for (int o = 0; o < g->nodes[k].n_out; o++)
                        if (g->nodes[k].out[o] == t)
                            later = true;
                st = nk_fail(ctx, NK_FORMAT,
                             "node '%s' (%s): input '%s' %s", n->name,
                             nk_op_name(n->op), g->tensors[t]->name,
                             later ? "is produced by a later node (a cycle, or "
                                     "nodes not in topological order)"
                                   : "is not produced by any node, graph "
                                     "input or initializer");
                goto done;
            }
        }
        for (int o = 0; o < n->n_out; o++) {
            int t = n->out[o];
            if (t < 0 || t >= g->n_tensors) {
                st = nk_fail(ctx, NK_FORMAT, "node '%s' (%s): output %d refers "
                             "to tensor #%d of %d", n->name, nk_op_name(n->op),
                             o, t, g->n_tensors);
                goto done;
            }
            if (def[t]) {
                st = nk_fail(ctx, NK_FORMAT, "node '%s' (%s): output '%s' is "
                             "already defined (each tensor has one producer)",
                             n->name, nk_op_name(n->op), g->tensors[t]->name);
                goto done;
            }
            def[t] = 2;
        }
    }
    if (g->n_outputs == 0) {
        st = nk_fail(ctx, NK_FORMAT, "the graph has no outputs");
        goto done;
    }
    for (int i = 0; i < g->n_outputs; i++) {
        int t = g->outputs[i];
        if (t < 0 || t >= g->n_tensors || !def[t]) {
            st = nk_fail(ctx, NK_FORMAT, "graph output #%d ('%s') is not "
                         "produced by any node", i,
                         t >= 0 && t < g->n_tensors ? g->tensors[t]->name : "?");
            goto done;
        }
    }
done:
    nk_free(def);
    return st;
}

/* ---- shape inference ----------------------------------------------------- */

#define NK_MAX_SYMS 8
static const int64_t sym_values_b[NK_MAX_SYMS] = {7, 11, 13, 17, 19, 23, 29, 31};

typedef struct sym_table {
    const char *name[NK_MAX_SYMS];
    int n;
} sym_table;

static int sym_index(sym_table *t, const char *name)
{
    const char *nm = name ? name : "?";
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->name[i], nm) == 0)
            return i;
    if (t->n == NK_MAX_SYMS)
        return NK_MAX_SYMS - 1;
    t->name[t->n] = nm;
    return t->n++;
}

nk_status nk_node_infer(nk_ctx *ctx, const nk_node *n, nk_tensor *v)
{
    const nk_op_info *oi = &NK_OPS[n->op];
    nk_tensor *in[64], *out[16];
    if (n->n_in > 64 || n->n_out > 16)
        return nk_fail_node(ctx, NK_UNSUPPORTED, n,
                            "%d inputs / %d outputs is more than nnkit "
                            "handles (64 / 16)", n->n_in, n->n_out);
    if (n->n_in < oi->min_in || (oi->max_in >= 0 && n->n_in > oi->max_in))
        return nk_fail_node(ctx, NK_FORMAT, n, "has %d inputs, expected %d..%d",
                            n->n_in, oi->min_in, oi->max_in);
    if (n->n_out < oi->min_out || n->n_out > oi->max_out)
        return nk_fail_node(ctx, NK_FORMAT, n,
                            "has %d outputs, expected %d..%d", n->n_out,
                            oi->min_out, oi->max_out);
    for (int i = 0; i < n->n_in; i++) {
        in[i] = n->in[i] == NK_NO_INPUT ? NULL : &v[n->in[i]];
        if (i < oi->min_in && !in[i])
            return nk_fail_node(ctx, NK_FORMAT, n,
                                "required input %d is missing", i);
    }
    for (int i = 0; i < n->n_out; i++)
        out[i] = &v[n->out[i]];
    return oi->infer(ctx, n, in, n->n_in, out, n->n_out);
}

nk_status nk_graph_infer(nk_ctx *ctx, nk_graph *g)
{
    nk_status st = nk_graph_validate(ctx, g);
    if (st)
        return st;
    size_t nt = (size_t)g->n_tensors;
    nk_eval_bufs bufs = {NULL, 0, 0};
    nk_tensor *va = nk_calloc(nt ? nt : 1, sizeof *va);
    nk_tensor *vb = nk_calloc(nt ? nt : 1, sizeof *vb);
    uint8_t *produced = nk_calloc(nt ? nt : 1, 1);
    if (!va || !vb || !produced) {
        st = nk_fail(ctx, NK_NOMEM, "out of memory inferring shapes");
        goto done;
    }
    sym_table syms = {{0}, 0};
    bool any_sym = false;
    for (int i = 0; i < g->n_nodes; i++)
        for (int o = 0; o < g->nodes[i].n_out; o++)
            produced[g->nodes[i].out[o]] = 1;
    for (size_t i = 0; i < nt; i++) {
        va[i] = *g->tensors[i];
        vb[i] = *g->tensors[i];
        if (produced[i])
            continue;
        for (int d = 0; d < va[i].shape.rank; d++)
            if (va[i].shape.d[d] < 0) {
                int k = sym_index(&syms, va[i].shape.sym[d]);
                va[i].shape.d[d] = 1;
                vb[i].shape.d[d] = sym_values_b[k];
                any_sym = true;
            }
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const nk_node *n = &g->nodes[i];
        st = nk_node_infer(ctx, n, va);
        if (!st)
            st = nk_shape_eval_node(ctx, n, va, &bufs);
        if (st)
            goto done;
        if (any_sym) {
            st = nk_node_infer(ctx, n, vb);
            if (!st)
                st = nk_shape_eval_node(ctx, n, vb, &bufs);
            if (st)
                goto done;
        }
        for (int o = 0; o < n->n_out; o++) {
            int t = n->out[o];
            nk_tensor *dst = g->tensors[t];
            dst->dtype = va[t].dtype;
            dst->shape = va[t].shape;
            if (!any_sym)
                continue;
            if (va[t].shape.rank != vb[t].shape.rank) {
                st = nk_fail_node(ctx, NK_SHAPE, n, "output '%s' has a rank "
                                  "that depends on the batch size", dst->name);
                goto done;
            }
            for (int d = 0; d < va[t].shape.rank; d++) {
                dst->shape.sym[d] = NULL;
                if (va[t].shape.d[d] == vb[t].shape.d[d])
                    continue;
                dst->shape.d[d] = NK_DIM_SYM;
                for (int k = 0; k < syms.n; k++)
                    if (va[t].shape.d[d] == 1 &&
                        vb[t].shape.d[d] == sym_values_b[k])
                        dst->shape.sym[d] = nk_graph_strdup(g, syms.name[k]);
            }
        }
    }
done:
    nk_eval_bufs_free(&bufs);
    nk_free(va);
    nk_free(vb);
    nk_free(produced);
    return st;
}

/* ---- cloning ----------------------------------------------------------------- */

static nk_status clone_tensor(nk_ctx *ctx, nk_graph *dst, const nk_tensor *t,
                              nk_tensor *nt)
{
    *nt = *t;
    nt->name = nk_graph_strdup(dst, t->name);
    for (int d = 0; d < t->shape.rank; d++)
        if (t->shape.sym[d])
            nt->shape.sym[d] = nk_graph_strdup(dst, t->shape.sym[d]);
    if (t->quant) {
        nk_status st = nk_tensor_set_quant(ctx, dst, nt, t->quant->axis,
                                           t->quant->n, t->quant->scale,
                                           t->quant->zero_point);
        if (st)
            return st;
    }
    if (t->data && t->storage == NK_STORE_OWNED) {
        nt->data = nk_malloc_aligned(t->nbytes ? t->nbytes : 1, 64);
        if (!nt->data) {
            nt->storage = NK_STORE_NONE;
            return nk_fail(ctx, NK_NOMEM, "out of memory copying '%s'",
                           t->name);
        }
        memcpy(nt->data, t->data, t->nbytes);
    }
    return nt->name ? NK_OK : nk_fail(ctx, NK_NOMEM, "out of memory");
}

nk_status nk_graph_clone(nk_ctx *ctx, const nk_graph *g, nk_graph **out)
{
    nk_graph *c = NULL;
    nk_status st = nk_graph_new(ctx, &c);
    if (st)
        return st;
    for (int i = 0; i < g->n_tensors && !st; i++) {
        int idx;
        st = nk_graph_add_tensor(ctx, c, g->tensors[i]->name,
                                 g->tensors[i]->dtype, &g->tensors[i]->shape,
                                 &idx);
        if (!st)
            st = clone_tensor(ctx, c, g->tensors[i], c->tensors[idx]);
    }
    for (int i = 0; i < g->n_nodes && !st; i++) {
        const nk_node *n = &g->nodes[i];
        nk_node *nn;
        st = nk_graph_add_node(ctx, c, n->op, n->name, n->n_in, n->in,
                               n->n_out, n->out, &nn);
        if (st)
            break;
        nn->act = n->act;
        nn->act_a0 = n->act_a0;
        nn->act_a1 = n->act_a1;
        nn->n_attr = n->n_attr;
        nn->attr = nk_arena_alloc(&c->arena, sizeof(nk_attr) * (size_t)(n->n_attr + 1));
        if (!nn->attr) {
            st = nk_fail(ctx, NK_NOMEM, "out of memory");
            break;
        }
        for (int a = 0; a < n->n_attr && !st; a++) {
            const nk_attr *sa = &n->attr[a];
            nk_attr *da = &nn->attr[a];
            *da = *sa;
            da->name = nk_graph_strdup(c, sa->name);
            if (sa->s)
                da->s = nk_graph_strdup(c, sa->s);
            if (sa->ints)
                da->ints = nk_arena_memdup(&c->arena, sa->ints,
                                           sizeof(int64_t) * (size_t)sa->n);
            if (sa->floats)
                da->floats = nk_arena_memdup(&c->arena, sa->floats,
                                             sizeof(float) * (size_t)sa->n);
            if (sa->t) {
                da->t = nk_arena_alloc(&c->arena, sizeof(nk_tensor));
                if (!da->t)
                    st = nk_fail(ctx, NK_NOMEM, "out of memory");
                else
                    st = clone_tensor(ctx, c, sa->t, da->t);
            }
        }
    }
    if (!st)
        st = nk_graph_set_inputs(ctx, c, g->n_inputs, g->inputs);
    if (!st)
        st = nk_graph_set_outputs(ctx, c, g->n_outputs, g->outputs);
    if (!st)
        st = nk_graph_set_labels(ctx, c, g->n_labels,
                                 (const char *const *)g->labels);
    c->preproc = g->preproc;
    for (int i = 0; i < g->n_meta && !st; i++)
        st = nk_graph_meta_set(ctx, c, g->meta[i].key, g->meta[i].value);
    if (!st) {
        /* Borrowed data stays borrowed from the source's mappings. */
        *out = c;
        return NK_OK;
    }
    nk_graph_free(c);
    return st;
}

nk_status nk_graph_reindex(nk_ctx *ctx, nk_graph *g) { return reindex(ctx, g); }
