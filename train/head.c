/*
 * head.c — the classifier swap of transfer learning: find the last
 * fully-connected layer (by torchvision's names first, then by structure),
 * replace it with a freshly initialised one sized to the dataset, and
 * freeze what should not train.
 */
#include "train/head.h"
#include "engine/op.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether node n is a fully-connected layer with a constant weight; the
 * weight's tensor index goes to *w. */
static bool is_fc(const nk_graph *g, const nk_node *n, int *w)
{
    if ((n->op != NK_OP_GEMM && n->op != NK_OP_MATMUL) || n->n_in < 2 ||
        n->in[1] < 0)
        return false;
    const nk_tensor *t = g->tensors[n->in[1]];
    if (!t->is_init || t->dtype != NK_F32 || t->shape.rank != 2)
        return false;
    *w = n->in[1];
    return true;
}

/* "classifier.K.weight" -> K; "classifier.weight" -> 0; else -1. */
static long classifier_index(const char *name)
{
    if (strcmp(name, "classifier.weight") == 0)
        return 0;
    if (strncmp(name, "classifier.", 11) != 0)
        return -1;
    char *end;
    long k = strtol(name + 11, &end, 10);
    if (end == name + 11 || strcmp(end, ".weight") != 0 || k < 0)
        return -1;
    return k;
}

/* Whether tensor t reaches a graph output through the nodes after from. */
static bool reaches_output(const nk_graph *g, int from, int t)
{
    bool *live = nk_calloc((size_t)g->n_tensors, sizeof *live);
    if (!live)
        return true; /* cannot check; the swap's inference still validates */
    live[t] = true;
    for (int i = from + 1; i < g->n_nodes; i++) {
        const nk_node *n = &g->nodes[i];
        bool uses = false;
        for (int j = 0; j < n->n_in; j++)
            if (n->in[j] >= 0 && live[n->in[j]])
                uses = true;
        if (uses)
            for (int o = 0; o < n->n_out; o++)
                live[n->out[o]] = true;
    }
    bool r = false;
    for (int i = 0; i < g->n_outputs; i++)
        r |= live[g->outputs[i]];
    nk_free(live);
    return r;
}

nk_status nk_head_find(nk_ctx *ctx, const nk_graph *g, nk_head *h)
{
    memset(h, 0, sizeof *h);
    int found = -1, w = -1;
    const char *rule = NULL;
    /* ResNet: fc */
    for (int i = 0; i < g->n_nodes && found < 0; i++) {
        int wi;
        if (is_fc(g, &g->nodes[i], &wi) &&
            strcmp(g->tensors[wi]->name, "fc.weight") == 0) {
            found = i;
            w = wi;
            rule = "fc";
        }
    }
    /* VGG / MobileNet: classifier[-1] */
    long best = -1;
    for (int i = 0; i < g->n_nodes && !rule; i++) {
        int wi;
        if (!is_fc(g, &g->nodes[i], &wi))
            continue;
        long k = classifier_index(g->tensors[wi]->name);
        if (k > best) {
            best = k;
            found = i;
            w = wi;
        }
    }
    if (found >= 0 && !rule)
        rule = "classifier[-1]";
    /* anything else: the last fully-connected layer */
    for (int i = g->n_nodes - 1; i >= 0 && !rule; i--) {
        int wi;
        if (is_fc(g, &g->nodes[i], &wi)) {
            found = i;
            w = wi;
            rule = "last Gemm/MatMul";
        }
    }
    if (!rule) {
        char ops[512] = "";
        size_t used = 0;
        bool seen[NK_OP_COUNT] = {false};
        for (int i = 0; i < g->n_nodes; i++) {
            nk_op op = g->nodes[i].op;
            if (op >= NK_OP_COUNT || seen[op])
                continue;
            seen[op] = true;
            int k = snprintf(ops + used, sizeof ops - used, "%s%s",
                             used ? ", " : "", nk_op_name(op));
            if (k < 0 || (size_t)k >= sizeof ops - used)
                break;
            used += (size_t)k;
        }
        return nk_fail(ctx, NK_NOT_FOUND,
                       "no classifier to replace: the model has no Gemm or "
                       "MatMul node with a constant 2-D f32 weight (a "
                       "fully-connected last layer); its ops are: %s",
                       used ? ops : "(none)");
    }
    const nk_node *n = &g->nodes[found];
    const nk_tensor *wt = g->tensors[w];
    bool transb = n->op == NK_OP_GEMM && nk_node_int(n, "transB", 0) != 0;
    if (n->op == NK_OP_GEMM && nk_node_int(n, "transA", 0) != 0)
        return nk_fail(ctx, NK_UNSUPPORTED,
                       "classifier node '%s' (Gemm) has transA = 1; expected "
                       "features as [batch, F]", n->name);
    h->node = found;
    h->input = n->in[0];
    h->weight = w;
    h->bias = n->op == NK_OP_GEMM && n->n_in > 2 ? n->in[2] : -1;
    h->output = n->out[0];
    h->features = transb ? wt->shape.d[1] : wt->shape.d[0];
    h->classes = transb ? wt->shape.d[0] : wt->shape.d[1];
    h->rule = rule;
    const nk_tensor *x = g->tensors[h->input];
    if (x->shape.rank != 2 ||
        (x->shape.d[1] != NK_DIM_SYM && x->shape.d[1] != h->features)) {
        char s[128];
        return nk_fail(ctx, NK_UNSUPPORTED,
                       "classifier node '%s' (%s): input '%s' has shape %s, "
                       "expected [batch, %lld]", n->name, nk_op_name(n->op),
                       x->name, nk_shape_str(&x->shape, s, sizeof s),
                       (long long)h->features);
    }
    if (!reaches_output(g, found, h->output))
        return nk_fail(ctx, NK_NOT_FOUND,
                       "classifier node '%s' (%s, %s): its output '%s' does "
                       "not lead to a graph output", n->name,
                       nk_op_name(n->op), rule, g->tensors[h->output]->name);
    return NK_OK;
}

/* Give tensor t a fresh owned f32 buffer of shape s (old data dropped). */
static nk_status reset_param(nk_ctx *ctx, nk_tensor *t, const nk_shape *s)
{
    size_t bytes = nk_tensor_bytes_for(NK_F32, s);
    float *d = nk_malloc_aligned(bytes ? bytes : 1, 64);
    if (!d)
        return nk_fail(ctx, NK_NOMEM, "out of memory for '%s' (%zu bytes)",
                       t->name, bytes);
    if (t->storage == NK_STORE_OWNED)
        nk_free_aligned(t->data);
    t->data = d;
    t->nbytes = bytes;
    t->storage = NK_STORE_OWNED;
    t->dtype = NK_F32;
    t->shape = *s;
    t->is_init = true;
    t->trainable = true;
    t->quant = NULL;
    return NK_OK;
}

/* Number of node inputs, over all nodes, that read tensor t. */
static int uses_of(const nk_graph *g, int t)
{
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++)
            k += g->nodes[i].in[j] == t;
    return k;
}

nk_status nk_head_swap(nk_ctx *ctx, nk_graph *g, int classes, uint64_t seed,
                       nk_head *h)
{
    if (classes < 1)
        return nk_fail(ctx, NK_INVALID_ARG, "head: %d classes", classes);
    nk_status st = nk_head_find(ctx, g, h);
    if (st != NK_OK)
        return st;
    nk_node *n = &g->nodes[h->node];
    int64_t F = h->features;
    int64_t wd[2] = {classes, F}, bd[1] = {classes};
    nk_shape ws = nk_shape_make(2, wd), bs = nk_shape_make(1, bd);

    /* The weight keeps its name unless another node shares it. */
    int w = h->weight, b = h->bias;
    char name[512];
    if (uses_of(g, w) > 1) {
        snprintf(name, sizeof name, "%s.head.weight", n->name);
        if ((st = nk_graph_add_init(ctx, g, name, NK_F32, &ws, &w)))
            return st;
        n = &g->nodes[h->node];
    }
    if ((st = reset_param(ctx, g->tensors[w], &ws)))
        return st;
    if (b < 0 || !g->tensors[b]->is_init || uses_of(g, b) > 1) {
        const char *wn = g->tensors[w]->name;
        size_t l = strlen(wn);
        if (l > 7 && strcmp(wn + l - 7, ".weight") == 0)
            snprintf(name, sizeof name, "%.*s.bias", (int)(l - 7), wn);
        else
            snprintf(name, sizeof name, "%s.bias", wn);
        for (int k = 1; nk_graph_find_tensor(g, name) >= 0; k++)
            snprintf(name, sizeof name, "%s.head%d.bias", n->name, k);
        if ((st = nk_graph_add_init(ctx, g, name, NK_F32, &bs, &b)))
            return st;
        n = &g->nodes[h->node];
    }
    if ((st = reset_param(ctx, g->tensors[b], &bs)))
        return st;

    /* torch.nn.Linear.reset_parameters: kaiming_uniform_(a=sqrt(5)) is
     * U(+-1/sqrt(fan_in)); the bias is U(+-1/sqrt(fan_in)) too. */
    nk_rng rng;
    nk_rng_seed(&rng, seed ^ 0x686561645f696e69ULL); /* "head_ini" */
    float bound = 1.0f / sqrtf((float)F);
    float *wp = g->tensors[w]->data, *bp = g->tensors[b]->data;
    for (int64_t i = 0; i < classes * F; i++)
        wp[i] = (2.0f * nk_rng_uniform(&rng) - 1.0f) * bound;
    for (int64_t i = 0; i < classes; i++)
        bp[i] = (2.0f * nk_rng_uniform(&rng) - 1.0f) * bound;

    /* The node becomes Gemm(X, W, b, transB=1) in place. */
    int *in = nk_arena_alloc(&g->arena, 3 * sizeof *in);
    if (!in)
        return nk_fail(ctx, NK_NOMEM, "out of memory swapping the head");
    in[0] = h->input;
    in[1] = w;
    in[2] = b;
    n->op = NK_OP_GEMM;
    n->in = in;
    n->n_in = 3;
    n->n_out = 1;
    n->n_attr = 0;
    n->attr = NULL;
    n->act = NK_ACT_NONE;
    if ((st = nk_node_set_float(ctx, g, n, "alpha", 1.0f)) ||
        (st = nk_node_set_float(ctx, g, n, "beta", 1.0f)) ||
        (st = nk_node_set_int(ctx, g, n, "transB", 1)))
        return st;
    int out = h->output;
    nk_tensor *ot = g->tensors[out];
    ot->shape.rank = 2;
    ot->shape.d[1] = classes;
    ot->shape.sym[1] = NULL;
    if ((st = nk_graph_set_outputs(ctx, g, 1, &out)) ||
        (st = nk_graph_apply_pass(ctx, g, NK_PASS_PRUNE)) ||
        (st = nk_graph_infer(ctx, g)))
        return st;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].out[0] == out)
            h->node = i;
    h->weight = w;
    h->bias = b;
    h->output = out;
    h->classes = classes;
    return NK_OK;
}

nk_status nk_train_layers_parse(nk_ctx *ctx, const char *s,
                                nk_train_layers *out)
{
    memset(out, 0, sizeof *out);
    if (!s || strcmp(s, "head") == 0) {
        out->kind = NK_TRAIN_HEAD;
        return NK_OK;
    }
    if (strcmp(s, "all") == 0) {
        out->kind = NK_TRAIN_ALL;
        return NK_OK;
    }
    if (strncmp(s, "last:", 5) == 0) {
        char *end;
        long n = strtol(s + 5, &end, 10);
        if (end != s + 5 && *end == 0 && n >= 1 && n <= 1000000) {
            out->kind = NK_TRAIN_LAST;
            out->last = (int)n;
            return NK_OK;
        }
    }
    return nk_fail(ctx, NK_INVALID_ARG,
                   "--train-layers '%s': expected head, last:N (N >= 1) or "
                   "all", s);
}

/* Inputs of node n that are parameters (not running statistics or
 * shape constants): Conv/Gemm/MatMul inputs >= 1, BatchNorm 1 and 2. */
static bool is_param_input(const nk_node *n, int j)
{
    switch (n->op) {
    case NK_OP_CONV:
    case NK_OP_GEMM:
    case NK_OP_MATMUL:
        return j >= 1 && j <= 2;
    case NK_OP_BATCHNORM:
        return j == 1 || j == 2;
    default:
        return false;
    }
}

nk_status nk_head_set_trainable(nk_ctx *ctx, nk_graph *g, const nk_head *h,
                                const nk_train_layers *tl, int64_t *n_params)
{
    for (int i = 0; i < g->n_tensors; i++)
        g->tensors[i]->trainable = false;
    /* First node index whose parameters train. */
    int from = h->node;
    if (tl->kind == NK_TRAIN_ALL)
        from = 0;
    else if (tl->kind == NK_TRAIN_LAST) {
        int left = tl->last;
        for (int i = h->node; i >= 0 && left > 0; i--) {
            nk_op op = g->nodes[i].op;
            if (op == NK_OP_CONV || op == NK_OP_GEMM || op == NK_OP_MATMUL) {
                int w;
                if (op == NK_OP_CONV || is_fc(g, &g->nodes[i], &w)) {
                    from = i;
                    left--;
                }
            }
        }
    }
    int64_t total = 0;
    for (int i = from; i < g->n_nodes; i++) {
        const nk_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_in; j++) {
            if (n->in[j] < 0 || !is_param_input(n, j))
                continue;
            nk_tensor *t = g->tensors[n->in[j]];
            if (!t->is_init || t->dtype != NK_F32 || t->trainable)
                continue;
            t->trainable = true;
            total += nk_shape_numel(&t->shape);
        }
    }
    if (total == 0)
        return nk_fail(ctx, NK_INTERNAL, "no trainable parameters after "
                       "choosing the layers to train");
    if (n_params)
        *n_params = total;
    return NK_OK;
}
