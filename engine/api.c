/*
 * api.c — the public accessors of include/nnkit.h over the internal IR:
 * dtypes, standalone tensors, graph inputs/outputs, layer info, metadata.
 */
#include "engine/ir.h"
#include "engine/op.h"

#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
} dtype_info[NK_DTYPE_COUNT] = {
    [NK_F32] = {"f32", 4}, [NK_F16] = {"f16", 2},  [NK_BF16] = {"bf16", 2},
    [NK_I8] = {"i8", 1},   [NK_U8] = {"u8", 1},    [NK_I32] = {"i32", 4},
    [NK_I64] = {"i64", 8}, [NK_BOOL] = {"bool", 1},
};

const char *nk_dtype_name(nk_dtype dt)
{
    return (unsigned)dt < NK_DTYPE_COUNT ? dtype_info[dt].name : "?";
}

size_t nk_dtype_size(nk_dtype dt)
{
    return (unsigned)dt < NK_DTYPE_COUNT ? dtype_info[dt].size : 0;
}

/* ---- standalone tensors ------------------------------------------------ */

nk_status nk_tensor_new(nk_ctx *ctx, nk_dtype dt, int rank,
                        const int64_t *dims, nk_tensor **out)
{
    if ((unsigned)dt >= NK_DTYPE_COUNT)
        return nk_fail(ctx, NK_INVALID_ARG, "invalid dtype %d", (int)dt);
    if (rank < 0 || rank > NK_MAX_RANK)
        return nk_fail(ctx, NK_INVALID_ARG, "rank %d, expected 0..%d", rank,
                       NK_MAX_RANK);
    for (int i = 0; i < rank; i++)
        if (dims[i] < 0)
            return nk_fail(ctx, NK_INVALID_ARG, "dim %d is %lld", i,
                           (long long)dims[i]);
    nk_shape s = nk_shape_make(rank, dims);
    size_t bytes = nk_tensor_bytes_for(dt, &s);
    if (bytes == SIZE_MAX)
        return nk_fail(ctx, NK_INVALID_ARG, "tensor too large");
    nk_tensor *t = nk_calloc(1, sizeof *t);
    if (!t)
        return nk_fail(ctx, NK_NOMEM, "out of memory");
    t->data = nk_malloc_aligned(bytes ? bytes : 1, 64);
    if (!t->data) {
        nk_free(t);
        return nk_fail(ctx, NK_NOMEM, "out of memory for a %zu-byte tensor",
                       bytes);
    }
    memset(t->data, 0, bytes);
    t->name = "";
    t->dtype = dt;
    t->shape = s;
    t->nbytes = bytes;
    t->storage = NK_STORE_OWNED;
    t->standalone = true;
    *out = t;
    return NK_OK;
}

void nk_tensor_free(nk_tensor *t)
{
    if (!t || !t->standalone)
        return;
    if (t->storage == NK_STORE_OWNED)
        nk_free_aligned(t->data);
    nk_free(t);
}

const char *nk_tensor_name(const nk_tensor *t) { return t->name ? t->name : ""; }
nk_dtype nk_tensor_dtype(const nk_tensor *t) { return t->dtype; }
int nk_tensor_rank(const nk_tensor *t) { return t->shape.rank; }

int64_t nk_tensor_dim(const nk_tensor *t, int i)
{
    if (i < 0 || i >= t->shape.rank)
        return 0;
    return t->shape.d[i] < 0 ? -1 : t->shape.d[i];
}

const char *nk_tensor_dim_name(const nk_tensor *t, int i)
{
    if (i < 0 || i >= t->shape.rank || t->shape.d[i] >= 0)
        return NULL;
    return t->shape.sym[i] ? t->shape.sym[i] : "?";
}

int64_t nk_tensor_numel(const nk_tensor *t) { return nk_shape_numel(&t->shape); }

size_t nk_tensor_nbytes(const nk_tensor *t)
{
    size_t b = nk_tensor_bytes_for(t->dtype, &t->shape);
    return b == SIZE_MAX ? 0 : b;
}

void *nk_tensor_data(const nk_tensor *t) { return t->data; }

/* ---- graph info ----------------------------------------------------------- */

int nk_graph_num_inputs(const nk_graph *g) { return g->n_inputs; }

const nk_tensor *nk_graph_input(const nk_graph *g, int i)
{
    return i >= 0 && i < g->n_inputs ? g->tensors[g->inputs[i]] : NULL;
}

int nk_graph_num_outputs(const nk_graph *g) { return g->n_outputs; }

const nk_tensor *nk_graph_output(const nk_graph *g, int i)
{
    return i >= 0 && i < g->n_outputs ? g->tensors[g->outputs[i]] : NULL;
}

int64_t nk_graph_param_count(const nk_graph *g)
{
    int64_t n = 0;
    for (int i = 0; i < g->n_tensors; i++) {
        const nk_tensor *t = g->tensors[i];
        if (t->is_init && t->trainable)
            n += nk_shape_numel(&t->shape);
    }
    return n;
}

int nk_graph_num_nodes(const nk_graph *g) { return g->n_nodes; }

nk_status nk_graph_node_info(const nk_graph *g, int i, nk_node_info *info)
{
    if (i < 0 || i >= g->n_nodes)
        return NK_NOT_FOUND;
    const nk_node *n = &g->nodes[i];
    memset(info, 0, sizeof *info);
    info->name = n->name;
    info->op_type = nk_op_name(n->op);
    info->fused = n->act != NK_ACT_NONE ? nk_act_name(n->act) : NULL;
    info->output = g->tensors[n->out[0]];
    for (int j = 0; j < n->n_in; j++) {
        if (n->in[j] < 0)
            continue;
        const nk_tensor *t = g->tensors[n->in[j]];
        if (t->is_init && t->trainable)
            info->params += nk_shape_numel(&t->shape);
    }
    return NK_OK;
}

/* ---- metadata --------------------------------------------------------------- */

nk_preproc nk_graph_preproc(const nk_graph *g) { return g->preproc; }

void nk_graph_set_preproc(nk_graph *g, const nk_preproc *p)
{
    g->preproc = *p;
}

int nk_graph_num_labels(const nk_graph *g) { return g->n_labels; }

const char *nk_graph_label(const nk_graph *g, int i)
{
    return i >= 0 && i < g->n_labels ? g->labels[i] : NULL;
}

nk_status nk_graph_set_labels(nk_ctx *ctx, nk_graph *g, int n,
                              const char *const *names)
{
    if (n < 0)
        return nk_fail(ctx, NK_INVALID_ARG, "%d labels", n);
    char **l = n ? nk_arena_alloc(&g->arena, sizeof(char *) * (size_t)n) : NULL;
    if (n && !l)
        return nk_fail(ctx, NK_NOMEM, "out of memory for %d labels", n);
    for (int i = 0; i < n; i++) {
        l[i] = nk_graph_strdup(g, names[i] ? names[i] : "");
        if (!l[i])
            return nk_fail(ctx, NK_NOMEM, "out of memory for labels");
    }
    g->labels = l;
    g->n_labels = n;
    return NK_OK;
}

const char *nk_graph_meta_get(const nk_graph *g, const char *key)
{
    for (int i = 0; i < g->n_meta; i++)
        if (strcmp(g->meta[i].key, key) == 0)
            return g->meta[i].value;
    return NULL;
}

nk_status nk_graph_meta_set(nk_ctx *ctx, nk_graph *g, const char *key,
                            const char *value)
{
    if (!key || !*key)
        return nk_fail(ctx, NK_INVALID_ARG, "metadata key is empty");
    char *v = nk_graph_strdup(g, value ? value : "");
    if (!v)
        return nk_fail(ctx, NK_NOMEM, "out of memory");
    for (int i = 0; i < g->n_meta; i++)
        if (strcmp(g->meta[i].key, key) == 0) {
            g->meta[i].value = v;
            return NK_OK;
        }
    if (g->n_meta == g->cap_meta) {
        int cap = g->cap_meta ? g->cap_meta * 2 : 8;
        nk_meta_kv *m = nk_realloc(g->meta, sizeof *m * (size_t)cap);
        if (!m)
            return nk_fail(ctx, NK_NOMEM, "out of memory");
        g->meta = m;
        g->cap_meta = cap;
    }
    char *k = nk_graph_strdup(g, key);
    if (!k)
        return nk_fail(ctx, NK_NOMEM, "out of memory");
    g->meta[g->n_meta].key = k;
    g->meta[g->n_meta].value = v;
    g->n_meta++;
    return NK_OK;
}

int nk_graph_meta_count(const nk_graph *g) { return g->n_meta; }

nk_status nk_graph_meta_at(const nk_graph *g, int i, const char **key,
                           const char **value)
{
    if (i < 0 || i >= g->n_meta)
        return NK_NOT_FOUND;
    *key = g->meta[i].key;
    *value = g->meta[i].value;
    return NK_OK;
}
