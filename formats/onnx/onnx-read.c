/*
 * onnx-read.c — loads an ONNX ModelProto (opsets 7-18) into the IR:
 * initializers and Constant nodes, graph inputs with symbolic dims, nodes
 * checked against nnkit's op table, topologically sorted, and upgraded to
 * the IR's one form of each op (onnx-upgrade.c); plus content bidding.
 */
#include "formats/onnx/onnx-impl.h"
#include "formats/onnx/onnx-pb.h"
#include "engine/op.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- bidding --------------------------------------------------------------- */

int nk_onnx_bid(const uint8_t *h, size_t n, const char *path)
{
    (void)path;
    /* A ModelProto as every exporter writes it: field 1 (ir_version,
     * varint) first, a small version, then another ModelProto field. */
    if (n < 3 || h[0] != 0x08 || h[1] < 1 || h[1] > 0x20)
        return 0;
    if (n >= 8 && memcmp(h + 4, "TFL3", 4) == 0)
        return 0;
    switch (h[2]) {
    case 0x12: case 0x1a: case 0x22: case 0x28: case 0x32: case 0x3a:
    case 0x42: case 0x72: case 0xa2: case 0xca:
        return 80;
    default:
        return 0;
    }
}

/* ---- helpers ----------------------------------------------------------------- */

/* Does any node or graph output of the file use the value `name`? */
static bool file_uses(const nk_onnx_reader *r, const char *name)
{
    const Onnx__GraphProto *gp = r->file_graph;
    for (size_t i = 0; i < gp->n_node; i++)
        for (size_t j = 0; j < gp->node[i]->n_input; j++)
            if (gp->node[i]->input[j] &&
                strcmp(gp->node[i]->input[j], name) == 0)
                return true;
    for (size_t i = 0; i < gp->n_output; i++)
        if (gp->output[i]->name && strcmp(gp->output[i]->name, name) == 0)
            return true;
    return false;
}

static bool default_domain(const char *d)
{
    return !d || !*d || strcmp(d, "ai.onnx") == 0;
}

/* Prefix the message of a failed IR call with the file and the node. */
static nk_status node_fail(nk_onnx_reader *r, nk_status st,
                           const Onnx__NodeProto *np, size_t idx)
{
    nk_errmsg_prefix(r->ctx, "%s: node '%s' (#%zu, %s)", r->path,
                     np->name ? np->name : "", idx,
                     np->op_type ? np->op_type : "?");
    return st;
}

/* Element type and shape of a ValueInfoProto (graph input). */
static nk_status value_info_shape(nk_onnx_reader *r, const char *what,
                                  const Onnx__ValueInfoProto *vi,
                                  nk_dtype *dt, nk_shape *s)
{
    const char *name = vi->name ? vi->name : "";
    if (!vi->type || vi->type->value_case !=
                         ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
        !vi->type->tensor_type)
        return nk_fail(r->ctx, NK_UNSUPPORTED, "%s: %s '%s' is not a tensor "
                       "(sequences, maps and optionals are not supported)",
                       r->path, what, name);
    const Onnx__TypeProto__Tensor *tt = vi->type->tensor_type;
    if (!tt->has_elem_type || !nk_onnx_dtype_from(tt->elem_type, dt))
        return nk_fail(r->ctx, NK_UNSUPPORTED, "%s: %s '%s' has element type "
                       "%s, not supported by nnkit", r->path, what, name,
                       nk_onnx_dtype_name(tt->has_elem_type ? tt->elem_type
                                                            : 0));
    memset(s, 0, sizeof *s);
    if (!tt->shape)
        return nk_fail(r->ctx, NK_UNSUPPORTED, "%s: %s '%s' has no shape "
                       "(nnkit needs at least the rank)", r->path, what,
                       name);
    if (tt->shape->n_dim > NK_MAX_RANK)
        return nk_fail(r->ctx, NK_UNSUPPORTED, "%s: %s '%s' has rank %zu, "
                       "nnkit supports at most %d", r->path, what, name,
                       tt->shape->n_dim, NK_MAX_RANK);
    s->rank = (int)tt->shape->n_dim;
    for (int i = 0; i < s->rank; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            if (d->dim_value < 0)
                return nk_fail(r->ctx, NK_FORMAT, "%s: %s '%s' dim %d is "
                               "%lld, expected >= 0", r->path, what, name, i,
                               (long long)d->dim_value);
            s->d[i] = d->dim_value;
        } else {
            /* dim_param names a symbolic dim; neither = unknown dim */
            s->d[i] = NK_DIM_SYM;
            if (d->value_case ==
                    ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
                d->dim_param && *d->dim_param)
                s->sym[i] = d->dim_param;
        }
    }
    return NK_OK;
}

/* Add a decoded tensor as an initializer (data adopted). */
static nk_status add_init(nk_onnx_reader *r, const char *name, nk_dtype dt,
                          const nk_shape *s, void *data, size_t nbytes)
{
    int idx;
    nk_status st = nk_graph_add_tensor(r->ctx, r->g, name, dt, s, &idx);
    if (st) {
        nk_free_aligned(data);
        if (st == NK_INVALID_ARG)
            return nk_fail(r->ctx, NK_FORMAT, "%s: tensor '%s' is defined "
                           "twice (initializer, Constant or graph input)",
                           r->path, name);
        nk_errmsg_prefix(r->ctx, "%s", r->path);
        return st;
    }
    nk_tensor *t = r->g->tensors[idx];
    t->data = data;
    t->nbytes = nbytes;
    t->storage = NK_STORE_OWNED;
    t->is_init = true;
    return NK_OK;
}

/* A Constant node becomes an initializer named after its output. */
static nk_status add_constant(nk_onnx_reader *r, const Onnx__NodeProto *np,
                              size_t idx, const char *dir)
{
    char what[512];
    snprintf(what, sizeof what, "%s: Constant node '%s' (#%zu)", r->path,
             np->name ? np->name : "", idx);
    if (np->n_output != 1 || !np->output[0] || !*np->output[0])
        return nk_fail(r->ctx, NK_FORMAT, "%s: has %zu outputs, expected 1",
                       what, np->n_output);
    if (np->n_input != 0)
        return nk_fail(r->ctx, NK_FORMAT, "%s: has %zu inputs, expected 0",
                       what, np->n_input);
    if (np->n_attribute != 1)
        return nk_fail(r->ctx, NK_FORMAT, "%s: has %zu attributes, expected "
                       "exactly one value", what, np->n_attribute);
    const Onnx__AttributeProto *a = np->attribute[0];
    const char *an = a->name ? a->name : "";
    nk_dtype dt = NK_F32;
    nk_shape s;
    memset(&s, 0, sizeof s);
    void *data = NULL;
    size_t nbytes = 0, n = 1, es = 4;
    const void *src = NULL;
    nk_status st;
    if (strcmp(an, "value") == 0 && a->t) {
        st = nk_onnx_tensor_decode(r->ctx, a->t, dir, what, true, &dt, &s,
                                   &data, &nbytes);
        if (st)
            return st;
        return add_init(r, np->output[0], dt, &s, data, nbytes);
    } else if (strcmp(an, "value_float") == 0) {
        src = &a->f;
    } else if (strcmp(an, "value_int") == 0) {
        dt = NK_I64;
        es = 8;
        src = &a->i;
    } else if (strcmp(an, "value_floats") == 0) {
        n = a->n_floats;
        s.rank = 1;
        s.d[0] = (int64_t)n;
        src = a->floats;
    } else if (strcmp(an, "value_ints") == 0) {
        dt = NK_I64;
        es = 8;
        n = a->n_ints;
        s.rank = 1;
        s.d[0] = (int64_t)n;
        src = a->ints;
    } else {
        return nk_fail(r->ctx, NK_UNSUPPORTED, "%s: attribute '%s' is not "
                       "supported (value, value_float(s), value_int(s))",
                       what, an);
    }
    nbytes = n * es;
    data = nk_malloc_aligned(nbytes ? nbytes : 1, 64);
    if (!data)
        return nk_fail(r->ctx, NK_NOMEM, "%s: out of memory", what);
    if (nbytes)
        memcpy(data, src, nbytes);
    return add_init(r, np->output[0], dt, &s, data, nbytes);
}

/* Copy one AttributeProto onto node n. */
static nk_status copy_attr(nk_onnx_reader *r, nk_node *n,
                           const Onnx__AttributeProto *a, const char *dir)
{
    nk_ctx *ctx = r->ctx;
    nk_graph *g = r->g;
    const char *an = a->name ? a->name : "";
    if (!*an)
        return nk_fail(ctx, NK_FORMAT, "an attribute has no name");
    if (a->ref_attr_name && *a->ref_attr_name)
        return nk_fail(ctx, NK_UNSUPPORTED, "attribute '%s' refers to a "
                       "function attribute ('%s'); not supported", an,
                       a->ref_attr_name);
    int type = a->has_type ? (int)a->type : 0;
    if (type == 0) {
        /* IR < 3 files may omit the type: infer it from what is set */
        if (a->has_f)
            type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
        else if (a->has_i)
            type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        else if (a->has_s)
            type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
        else if (a->t)
            type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
        else if (a->n_ints)
            type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
        else if (a->n_floats)
            type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    }
    switch (type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
        return nk_node_set_float(ctx, g, n, an, a->f);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
        return nk_node_set_int(ctx, g, n, an, a->i);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: {
        if (memchr(a->s.data, 0, a->s.len))
            return nk_fail(ctx, NK_UNSUPPORTED, "attribute '%s': a string "
                           "with a NUL byte", an);
        char *str = nk_arena_alloc(&g->arena, a->s.len + 1);
        if (!str)
            return nk_fail(ctx, NK_NOMEM, "out of memory");
        if (a->s.len)
            memcpy(str, a->s.data, a->s.len);
        str[a->s.len] = 0;
        return nk_node_set_string(ctx, g, n, an, str);
    }
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        if (a->n_ints > INT32_MAX)
            return nk_fail(ctx, NK_FORMAT, "attribute '%s': too many values",
                           an);
        return nk_node_set_ints(ctx, g, n, an, (int)a->n_ints, a->ints);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        if (a->n_floats > INT32_MAX)
            return nk_fail(ctx, NK_FORMAT, "attribute '%s': too many values",
                           an);
        return nk_node_set_floats(ctx, g, n, an, (int)a->n_floats,
                                  a->floats);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: {
        if (!a->t)
            return nk_fail(ctx, NK_FORMAT, "attribute '%s': TENSOR without "
                           "a tensor", an);
        char what[256];
        snprintf(what, sizeof what, "attribute '%s'", an);
        nk_tensor *t = nk_arena_alloc(&g->arena, sizeof *t);
        if (!t)
            return nk_fail(ctx, NK_NOMEM, "out of memory");
        memset(t, 0, sizeof *t);
        nk_status st = nk_onnx_tensor_decode(ctx, a->t, dir, what, true,
                                             &t->dtype, &t->shape, &t->data,
                                             &t->nbytes);
        if (st)
            return st;
        t->storage = NK_STORE_OWNED;
        t->is_init = true;
        t->name = nk_graph_strdup(g, a->t->name ? a->t->name : an);
        /* the slot owns the data from here on (freed with the graph) */
        nk_attr *slot = NULL;
        st = nk_node_set_int(ctx, g, n, an, 0);
        for (int i = 0; !st && i < n->n_attr; i++)
            if (strcmp(n->attr[i].name, an) == 0)
                slot = &n->attr[i];
        if (st || !slot || !t->name) {
            nk_free_aligned(t->data);
            return st ? st : nk_fail(ctx, NK_NOMEM, "out of memory");
        }
        slot->type = NK_ATTR_TENSOR;
        slot->t = t;
        return NK_OK;
    }
    default:
        return nk_fail(ctx, NK_UNSUPPORTED, "attribute '%s' has type %d "
                       "(graphs, sparse tensors, string lists, ... are not "
                       "supported)", an, type);
    }
}

/* ---- topological order --------------------------------------------------- */

/*
 * order[0..n) receives the node indices in a topological order (the file's
 * own order when it already is one). in_idx[i][j] are resolved input
 * tensors, prod[t] the producing node of tensor t or -1.
 */
static nk_status topo_sort(nk_onnx_reader *r, const Onnx__GraphProto *gp,
                           int *const *in_idx, const int *prod, int *order)
{
    size_t nn = gp->n_node;
    int *indeg = nk_calloc(nn ? nn : 1, sizeof *indeg);
    int *queue = nk_calloc(nn ? nn : 1, sizeof *queue);
    nk_status st = NK_OK;
    if (!indeg || !queue) {
        st = nk_fail(r->ctx, NK_NOMEM, "%s: out of memory sorting nodes",
                     r->path);
        goto done;
    }
    bool sorted = true;
    for (size_t i = 0; i < nn; i++) {
        order[i] = (int)i;
        if (!in_idx[i])
            continue; /* a Constant */
        for (size_t j = 0; j < gp->node[i]->n_input; j++) {
            int t = in_idx[i][j];
            if (t >= 0 && prod[t] >= 0) {
                indeg[i]++;
                if ((size_t)prod[t] >= i)
                    sorted = false;
            }
        }
    }
    if (sorted)
        goto done;
    /* Kahn's algorithm; ties keep the file's order. */
    size_t head = 0, tail = 0, out = 0;
    for (size_t i = 0; i < nn; i++)
        if (indeg[i] == 0)
            queue[tail++] = (int)i;
    while (head < tail) {
        int v = queue[head++];
        order[out++] = v;
        const Onnx__NodeProto *np = gp->node[v];
        /* each consumer loses one dependency per input naming v's output */
        for (size_t k = 0; k < nn; k++) {
            if (!in_idx[k])
                continue;
            for (size_t j = 0; j < gp->node[k]->n_input; j++) {
                int t = in_idx[k][j];
                if (t >= 0 && prod[t] == v && --indeg[k] == 0)
                    queue[tail++] = (int)k;
            }
        }
        (void)np;
    }
    if (out < nn) {
        for (size_t i = 0; i < nn; i++)
            if (indeg[i] > 0) {
                const Onnx__NodeProto *np = gp->node[i];
                st = nk_fail(r->ctx, NK_FORMAT, "%s: node '%s' (#%zu, %s) is "
                             "part of a cycle: its inputs depend on its own "
                             "outputs (%zu of %zu nodes cannot be ordered)",
                             r->path, np->name ? np->name : "", i,
                             np->op_type ? np->op_type : "?", nn - out, nn);
                break;
            }
    }
done:
    nk_free(indeg);
    nk_free(queue);
    return st;
}

/* ---- trainable parameters ------------------------------------------------- */

/* ONNX has no notion of trainable: f32 initializers that are weights or
 * biases of Conv/Gemm/MatMul or scale/bias of BatchNormalization are. */
static void mark_trainable(nk_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const nk_node *n = &g->nodes[i];
        int lo = 1, hi = 2;
        switch (n->op) {
        case NK_OP_CONV: case NK_OP_GEMM: case NK_OP_BATCHNORM: break;
        case NK_OP_MATMUL: lo = 0; hi = 1; break;
        default: continue;
        }
        for (int j = lo; j <= hi && j < n->n_in; j++) {
            nk_tensor *t = nk_node_input(g, n, j);
            if (t && t->is_init && t->dtype == NK_F32 && t->shape.rank >= 1)
                t->trainable = true;
        }
    }
}

/* ---- metadata ---------------------------------------------------------------- */

static nk_status read_metadata(nk_onnx_reader *r, const Onnx__ModelProto *m)
{
    for (size_t i = 0; i < m->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *kv = m->metadata_props[i];
        const char *k = kv->key ? kv->key : "", *v = kv->value ? kv->value : "";
        nk_status st;
        if (!*k)
            continue;
        if (strcmp(k, NK_ONNX_META_LABELS) == 0)
            st = nk_onnx_labels_parse(r->ctx, r->g, v);
        else if (strcmp(k, NK_ONNX_META_PREPROC) == 0)
            st = nk_onnx_preproc_parse(r->ctx, v, &r->g->preproc);
        else
            st = nk_graph_meta_set(r->ctx, r->g, k, v);
        if (st) {
            nk_errmsg_prefix(r->ctx, "%s: metadata_props '%s'", r->path, k);
            return st;
        }
    }
    return NK_OK;
}

/* ---- the model ------------------------------------------------------------------ */

/* Check every node's op before anything is built: unknown ops and other
 * domains fail with op, domain, opset and node named. */
static nk_status check_ops(nk_onnx_reader *r, const Onnx__ModelProto *m,
                           const Onnx__GraphProto *gp)
{
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        const char *op = np->op_type ? np->op_type : "";
        const char *dom = np->domain ? np->domain : "";
        if (!default_domain(dom)) {
            long long ver = -1;
            for (size_t k = 0; k < m->n_opset_import; k++)
                if (m->opset_import[k]->domain &&
                    strcmp(m->opset_import[k]->domain, dom) == 0)
                    ver = m->opset_import[k]->version;
            return nk_fail(r->ctx, NK_UNSUPPORTED, "%s: node '%s' (#%zu): op "
                           "'%s' of domain '%s' (opset %lld) is not supported: "
                           "nnkit reads only the default ONNX domain", r->path,
                           np->name ? np->name : "", i, op, dom, ver);
        }
        if (strcmp(op, "Constant") != 0 && nk_op_from_name(op) == NK_OP_COUNT)
            return nk_fail(r->ctx, NK_UNSUPPORTED, "%s: node '%s' (#%zu): op "
                           "'%s' of domain 'ai.onnx' (opset %d) is not "
                           "supported by nnkit", r->path,
                           np->name ? np->name : "", i, op, r->opset);
    }
    return NK_OK;
}

static nk_status build(nk_onnx_reader *r, const Onnx__ModelProto *m,
                       const char *dir)
{
    nk_ctx *ctx = r->ctx;
    const Onnx__GraphProto *gp = m->graph;
    nk_graph *g = r->g;
    nk_status st = check_ops(r, m, gp);
    if (st)
        return st;

    /* initializers, then graph inputs that are not initializers */
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        if (!tp->name || !*tp->name)
            return nk_fail(ctx, NK_FORMAT, "%s: initializer #%zu has no name",
                           r->path, i);
        char what[512];
        snprintf(what, sizeof what, "%s: initializer '%s'", r->path,
                 tp->name);
        nk_dtype dt;
        nk_shape s;
        void *data;
        size_t nbytes;
        if ((st = nk_onnx_tensor_decode(ctx, tp, dir, what, true, &dt, &s,
                                        &data, &nbytes)))
            return st;
        if ((st = add_init(r, tp->name, dt, &s, data, nbytes)))
            return st;
    }
    if (gp->n_sparse_initializer)
        return nk_fail(ctx, NK_UNSUPPORTED, "%s: sparse initializers are not "
                       "supported", r->path);
    int *inputs = nk_calloc(gp->n_input + 1, sizeof *inputs);
    if (!inputs)
        return nk_fail(ctx, NK_NOMEM, "%s: out of memory", r->path);
    int n_inputs = 0;
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        if (!vi->name || !*vi->name) {
            st = nk_fail(ctx, NK_FORMAT, "%s: graph input #%zu has no name",
                         r->path, i);
            goto fail_inputs;
        }
        /* Old exporters list initializers as inputs too: those are
         * weights, not inputs. */
        if (nk_graph_find_tensor(g, vi->name) >= 0)
            continue;
        nk_dtype dt;
        nk_shape s;
        if ((st = value_info_shape(r, "graph input", vi, &dt, &s)))
            goto fail_inputs;
        if ((st = nk_graph_add_tensor(ctx, g, vi->name, dt, &s,
                                      &inputs[n_inputs]))) {
            nk_errmsg_prefix(ctx, "%s", r->path);
            goto fail_inputs;
        }
        n_inputs++;
    }
    st = nk_graph_set_inputs(ctx, g, n_inputs, inputs);
fail_inputs:
    nk_free(inputs);
    if (st)
        return st;

    /* Constant nodes become initializers; other nodes' outputs become
     * tensors (one producer each). */
    size_t nn = gp->n_node;
    int **in_idx = nk_calloc(nn ? nn : 1, sizeof *in_idx);
    int *order = nk_calloc(nn ? nn : 1, sizeof *order);
    int *prod = NULL;
    if (!in_idx || !order) {
        st = nk_fail(ctx, NK_NOMEM, "%s: out of memory", r->path);
        goto done;
    }
    for (size_t i = 0; i < nn && !st; i++)
        if (strcmp(gp->node[i]->op_type, "Constant") == 0)
            st = add_constant(r, gp->node[i], i, dir);
    for (size_t i = 0; i < nn && !st; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        if (strcmp(np->op_type, "Constant") == 0)
            continue;
        for (size_t o = 0; o < np->n_output && !st; o++) {
            const char *on = np->output[o];
            if (!on || !*on)
                continue; /* an omitted optional output */
            if (nk_graph_find_tensor(g, on) >= 0) {
                st = nk_fail(ctx, NK_FORMAT, "%s: node '%s' (#%zu, %s): "
                             "output '%s' is already defined (each tensor "
                             "has one producer)", r->path,
                             np->name ? np->name : "", i, np->op_type, on);
                break;
            }
            nk_shape s0;
            memset(&s0, 0, sizeof s0);
            if ((st = nk_graph_add_tensor(ctx, g, on, NK_F32, &s0, NULL)))
                st = node_fail(r, st, np, i);
        }
    }
    if (st)
        goto done;
    prod = nk_malloc(sizeof *prod * (size_t)(g->n_tensors ? g->n_tensors : 1));
    if (!prod) {
        st = nk_fail(ctx, NK_NOMEM, "%s: out of memory", r->path);
        goto done;
    }
    for (int t = 0; t < g->n_tensors; t++)
        prod[t] = -1;
    for (size_t i = 0; i < nn && !st; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        if (strcmp(np->op_type, "Constant") == 0)
            continue;
        for (size_t o = 0; o < np->n_output; o++) {
            int t = nk_graph_find_tensor(g, np->output[o]);
            if (t >= 0 && np->output[o][0])
                prod[t] = (int)i;
        }
        in_idx[i] = nk_malloc(sizeof(int) * (np->n_input + 1));
        if (!in_idx[i]) {
            st = nk_fail(ctx, NK_NOMEM, "%s: out of memory", r->path);
            break;
        }
        for (size_t j = 0; j < np->n_input; j++) {
            const char *in = np->input[j];
            if (!in || !*in) {
                in_idx[i][j] = NK_NO_INPUT;
                continue;
            }
            int t = nk_graph_find_tensor(g, in);
            if (t < 0) {
                st = nk_fail(ctx, NK_FORMAT, "%s: node '%s' (#%zu, %s): input "
                             "'%s' is not produced by any node, initializer or "
                             "graph input", r->path, np->name ? np->name : "",
                             i, np->op_type, in);
                break;
            }
            in_idx[i][j] = t;
        }
    }
    if (st || (st = topo_sort(r, gp, in_idx, prod, order)))
        goto done;

    for (size_t k = 0; k < nn && !st; k++) {
        size_t i = (size_t)order[k];
        const Onnx__NodeProto *np = gp->node[i];
        if (!in_idx[i])
            continue; /* Constant */
        int outs[16];
        if (np->n_output > 16 || np->n_input > 64) {
            st = nk_fail(ctx, NK_UNSUPPORTED, "%s: node '%s' (#%zu, %s) has "
                         "%zu inputs / %zu outputs, nnkit handles 64 / 16",
                         r->path, np->name ? np->name : "", i, np->op_type,
                         np->n_input, np->n_output);
            break;
        }
        /* Trailing omitted outputs are dropped; inner ones are kept as
         * placeholder tensors so positions stay right. */
        int n_out = (int)np->n_output;
        while (n_out > 0 && !np->output[n_out - 1][0])
            n_out--;
        for (int o = 0; o < n_out && !st; o++) {
            if (np->output[o][0]) {
                outs[o] = nk_graph_find_tensor(g, np->output[o]);
                continue;
            }
            char nm[300];
            snprintf(nm, sizeof nm, "%s::unused_output_%d",
                     np->name && *np->name ? np->name : np->output[0], o);
            nk_shape s0;
            memset(&s0, 0, sizeof s0);
            st = nk_graph_add_tensor(ctx, g, nm, NK_F32, &s0, &outs[o]);
        }
        if (st)
            break;
        if (n_out == 0) {
            st = nk_fail(ctx, NK_FORMAT, "%s: node '%s' (#%zu, %s) has no "
                         "outputs", r->path, np->name ? np->name : "", i,
                         np->op_type);
            break;
        }
        nk_node *n;
        st = nk_graph_add_node(ctx, g, nk_op_from_name(np->op_type),
                               np->name, (int)np->n_input, in_idx[i], n_out,
                               outs, &n);
        for (size_t a = 0; a < np->n_attribute && !st; a++)
            st = copy_attr(r, n, np->attribute[a], dir);
        if (!st)
            st = nk_onnx_upgrade_node(r, n);
        if (st)
            st = node_fail(r, st, np, i);
    }
    if (st)
        goto done;

    /* graph outputs */
    int *outputs = nk_calloc(gp->n_output + 1, sizeof *outputs);
    if (!outputs) {
        st = nk_fail(ctx, NK_NOMEM, "%s: out of memory", r->path);
        goto done;
    }
    for (size_t i = 0; i < gp->n_output && !st; i++) {
        const char *on = gp->output[i]->name ? gp->output[i]->name : "";
        outputs[i] = nk_graph_find_tensor(g, on);
        if (outputs[i] < 0)
            st = nk_fail(ctx, NK_FORMAT, "%s: graph output '%s' is not "
                         "produced by any node", r->path, on);
    }
    if (!st)
        st = nk_graph_set_outputs(ctx, g, (int)gp->n_output, outputs);
    nk_free(outputs);
    /* value_info only annotates intermediate values: nnkit infers every
     * shape itself, so it is checked for form (above, by protobuf) and not
     * otherwise used. */
    if (!st)
        st = read_metadata(r, m);
    if (!st)
        mark_trainable(g);
done:
    if (in_idx)
        for (size_t i = 0; i < nn; i++)
            nk_free(in_idx[i]);
    nk_free(in_idx);
    nk_free(order);
    nk_free(prod);
    return st;
}

/* The folder of path ("." without one). */
static char *folder_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return nk_strdup(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = nk_malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = 0;
    }
    return d;
}

nk_status nk_onnx_load(nk_ctx *ctx, const char *path, nk_graph **out)
{
    *out = NULL;
    void *map = NULL;
    size_t len = 0;
    nk_status st = nk_file_map(ctx, path, &map, &len);
    if (st)
        return st;
    nk_onnx_alloc a;
    nk_onnx_alloc_init(&a);
    Onnx__ModelProto *m = NULL;
    nk_graph *g = NULL;
    char *dir = folder_of(path);
    if (!dir) {
        st = nk_fail(ctx, NK_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if ((st = nk_onnx_unpack_model(ctx, &a, path, map, len, &m)))
        goto done;
    if (!m->has_ir_version || m->ir_version < 3) {
        st = nk_fail(ctx, NK_FORMAT, "%s: ir_version %lld, expected >= 3 "
                     "(opset 7 or later)", path,
                     m->has_ir_version ? (long long)m->ir_version : 0LL);
        goto done;
    }
    if (!m->graph) {
        st = nk_fail(ctx, NK_FORMAT, "%s: the model has no graph", path);
        goto done;
    }
    long long opset = -1;
    for (size_t i = 0; i < m->n_opset_import; i++)
        if (default_domain(m->opset_import[i]->domain))
            opset = m->opset_import[i]->version;
    if (opset < 0) {
        /* Models of other domains only (training, ML): name the op. */
        nk_onnx_reader r0 = {ctx, path, NULL, -1, false, file_uses, m->graph};
        st = check_ops(&r0, m, m->graph);
        if (!st)
            st = nk_fail(ctx, NK_FORMAT, "%s: no opset_import for the default "
                         "ONNX domain", path);
        goto done;
    }
    if (opset < NK_ONNX_READ_OPSET_MIN || opset > NK_ONNX_READ_OPSET_MAX) {
        st = nk_fail(ctx, NK_UNSUPPORTED, "%s: opset %lld of the default "
                     "domain, nnkit reads opsets %d to %d", path, opset,
                     NK_ONNX_READ_OPSET_MIN, NK_ONNX_READ_OPSET_MAX);
        goto done;
    }
    if ((st = nk_graph_new(ctx, &g)))
        goto done;
    nk_onnx_reader r = {ctx, path, g, (int)opset, false, file_uses, m->graph};
    st = build(&r, m, dir);
    if (!st)
        st = nk_onnx_fuse_hardswish(&r);
    if (!st && r.legacy_softmax) {
        st = nk_graph_infer(ctx, g);
        if (st)
            nk_errmsg_prefix(ctx, "%s", path);
        else
            st = nk_onnx_fix_legacy_softmax(&r);
    }
done:
    if (m)
        onnx__model_proto__free_unpacked(m, &a.pb);
    nk_file_unmap(map, len);
    nk_free(dir);
    if (st) {
        nk_graph_free(g);
        return st;
    }
    *out = g;
    return NK_OK;
}
