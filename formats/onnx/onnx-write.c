/*
 * onnx-write.c — writes the IR as an ONNX ModelProto at opset 11..17
 * (default 13): the IR's op forms converted to the target opset's, fused
 * activations written as separate nodes, metadata as metadata_props, and
 * weights beside the model as external data when they exceed 2 GB.
 */
#include "formats/onnx/onnx-impl.h"
#include "formats/onnx/onnx-pb.h"
#include "engine/op.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Initializer bytes above which weights go to external data, unless the
 * caller says otherwise: a protobuf message cannot exceed 2 GiB, and the
 * graph itself needs some room. */
#define NK_ONNX_EXTERNAL_DEFAULT INT64_C(2000000000)
/* Tensors smaller than this stay inline even in external-data mode. */
#define NK_ONNX_EXTERNAL_MIN_TENSOR 1024
#define NK_ONNX_EXTERNAL_ALIGN 4096

typedef struct onnx_writer {
    nk_ctx *ctx;
    const char *path;
    const nk_graph *g;
    int opset;
    nk_arena A; /* every protobuf struct of the model */
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits; /* constants the writer itself adds */
    size_t n_inits, cap_inits;
    bool *used; /* per tensor: named by a written node or graph output */
    int uniq;
    bool oom;
} onnx_writer;

static const Onnx__NodeProto NODE_INIT = ONNX__NODE_PROTO__INIT;
static const Onnx__AttributeProto ATTR_INIT = ONNX__ATTRIBUTE_PROTO__INIT;
static const Onnx__TensorProto TENSOR_INIT = ONNX__TENSOR_PROTO__INIT;

static void *wa(onnx_writer *w, size_t n)
{
    void *p = nk_arena_alloc(&w->A, n ? n : 1);
    if (!p)
        w->oom = true;
    return p;
}

static char *wstr(onnx_writer *w, const char *s)
{
    char *p = nk_arena_strdup(&w->A, s ? s : "");
    if (!p)
        w->oom = true;
    return p;
}

static bool grow(onnx_writer *w, void ***arr, size_t n, size_t *cap)
{
    if (n < *cap)
        return true;
    size_t nc = *cap ? *cap * 2 : 64;
    void **p = nk_realloc(*arr, nc * sizeof *p);
    if (!p) {
        w->oom = true;
        return false;
    }
    *arr = p;
    *cap = nc;
    return true;
}

/* A fresh value name derived from base, unused in the graph. */
static const char *fresh(onnx_writer *w, const char *base, const char *what)
{
    char buf[600];
    do
        snprintf(buf, sizeof buf, "%s::%s%s%d", base, what, "_nk",
                 ++w->uniq);
    while (nk_graph_find_tensor(w->g, buf) >= 0);
    return wstr(w, buf);
}

/* Name of tensor idx as a node input ("" for an omitted input). */
static const char *tname(onnx_writer *w, int idx)
{
    if (idx == NK_NO_INPUT || idx < 0)
        return "";
    w->used[idx] = true;
    return w->g->tensors[idx]->name;
}

/* ---- nodes and attributes ---------------------------------------------- */

static Onnx__NodeProto *emit(onnx_writer *w, const char *op, const char *name,
                             int n_in, const char *const *in, int n_out,
                             const char *const *out)
{
    Onnx__NodeProto *np = wa(w, sizeof *np);
    if (!np || !grow(w, (void ***)&w->nodes, w->n_nodes, &w->cap_nodes))
        return NULL;
    *np = NODE_INIT;
    np->op_type = wstr(w, op);
    np->name = wstr(w, name);
    np->n_input = (size_t)n_in;
    np->input = wa(w, sizeof(char *) * (size_t)(n_in ? n_in : 1));
    np->n_output = (size_t)n_out;
    np->output = wa(w, sizeof(char *) * (size_t)n_out);
    if (w->oom)
        return NULL;
    for (int i = 0; i < n_in; i++)
        np->input[i] = wstr(w, in[i]);
    for (int i = 0; i < n_out; i++)
        np->output[i] = wstr(w, out[i]);
    w->nodes[w->n_nodes++] = np;
    return np;
}

static Onnx__AttributeProto *add_attr(onnx_writer *w, Onnx__NodeProto *np,
                                      const char *name, int type)
{
    if (!np)
        return NULL;
    Onnx__AttributeProto **arr =
        wa(w, sizeof *arr * (np->n_attribute + 1));
    Onnx__AttributeProto *a = wa(w, sizeof *a);
    if (!arr || !a)
        return NULL;
    if (np->n_attribute)
        memcpy(arr, np->attribute, sizeof *arr * np->n_attribute);
    *a = ATTR_INIT;
    a->name = wstr(w, name);
    a->has_type = 1;
    a->type = (Onnx__AttributeProto__AttributeType)type;
    arr[np->n_attribute++] = a;
    np->attribute = arr;
    return a;
}

static void attr_int(onnx_writer *w, Onnx__NodeProto *np, const char *name,
                     int64_t v)
{
    Onnx__AttributeProto *a =
        add_attr(w, np, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a) {
        a->has_i = 1;
        a->i = v;
    }
}

static void attr_float(onnx_writer *w, Onnx__NodeProto *np, const char *name,
                       float v)
{
    Onnx__AttributeProto *a =
        add_attr(w, np, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (a) {
        a->has_f = 1;
        a->f = v;
    }
}

static void attr_ints(onnx_writer *w, Onnx__NodeProto *np, const char *name,
                      const int64_t *v, size_t n)
{
    Onnx__AttributeProto *a =
        add_attr(w, np, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    if (a) {
        a->n_ints = n;
        a->ints = wa(w, sizeof(int64_t) * (n ? n : 1));
        if (a->ints && n)
            memcpy(a->ints, v, sizeof(int64_t) * n);
    }
}

/* A TensorProto of t's dtype, shape and bytes (data borrowed). */
static Onnx__TensorProto *tensor_proto(onnx_writer *w, const char *name,
                                       const nk_tensor *t)
{
    Onnx__TensorProto *tp = wa(w, sizeof *tp);
    if (!tp)
        return NULL;
    *tp = TENSOR_INIT;
    tp->name = wstr(w, name);
    tp->has_data_type = 1;
    tp->data_type = nk_onnx_dtype_to(t->dtype);
    tp->n_dims = (size_t)t->shape.rank;
    tp->dims = wa(w, sizeof(int64_t) * (size_t)(t->shape.rank + 1));
    if (tp->dims)
        for (int i = 0; i < t->shape.rank; i++)
            tp->dims[i] = t->shape.d[i];
    tp->has_raw_data = 1;
    tp->raw_data.len = t->nbytes;
    tp->raw_data.data = t->data;
    return tp;
}

static void copy_attr(onnx_writer *w, Onnx__NodeProto *np, const nk_attr *a)
{
    Onnx__AttributeProto *p;
    switch (a->type) {
    case NK_ATTR_INT:
        attr_int(w, np, a->name, a->i);
        break;
    case NK_ATTR_FLOAT:
        attr_float(w, np, a->name, a->f);
        break;
    case NK_ATTR_STRING:
        p = add_attr(w, np, a->name,
                     ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
        if (p) {
            p->has_s = 1;
            p->s.data = (uint8_t *)wstr(w, a->s);
            p->s.len = a->s ? strlen(a->s) : 0;
        }
        break;
    case NK_ATTR_INTS:
        attr_ints(w, np, a->name, a->ints, (size_t)a->n);
        break;
    case NK_ATTR_FLOATS:
        p = add_attr(w, np, a->name,
                     ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
        if (p) {
            p->n_floats = (size_t)a->n;
            p->floats = wa(w, sizeof(float) * (size_t)(a->n ? a->n : 1));
            if (p->floats && a->n)
                memcpy(p->floats, a->floats, sizeof(float) * (size_t)a->n);
        }
        break;
    case NK_ATTR_TENSOR:
        p = add_attr(w, np, a->name,
                     ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
        if (p && a->t)
            p->t = tensor_proto(w, a->t->name ? a->t->name : "", a->t);
        break;
    default:
        break;
    }
}

/* Copy n's attributes except those named in skip (NULL-terminated). */
static void copy_attrs(onnx_writer *w, Onnx__NodeProto *np, const nk_node *n,
                       const char *const *skip)
{
    for (int i = 0; i < n->n_attr; i++) {
        bool drop = false;
        for (const char *const *s = skip; s && *s; s++)
            if (strcmp(n->attr[i].name, *s) == 0)
                drop = true;
        if (!drop)
            copy_attr(w, np, &n->attr[i]);
    }
}

/* A new f32 scalar initializer (Clip bounds of unfused activations). */
static const char *const_f32(onnx_writer *w, const char *base, float v)
{
    const char *name = fresh(w, base, "const");
    Onnx__TensorProto *tp = wa(w, sizeof *tp);
    float *d = wa(w, sizeof *d);
    if (!tp || !d || !name ||
        !grow(w, (void ***)&w->inits, w->n_inits, &w->cap_inits))
        return "";
    *d = v;
    *tp = TENSOR_INIT;
    tp->name = (char *)name;
    tp->has_data_type = 1;
    tp->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tp->has_raw_data = 1;
    tp->raw_data.len = sizeof *d;
    tp->raw_data.data = (uint8_t *)d;
    w->inits[w->n_inits++] = tp;
    return name;
}

/* ---- opset conversions ------------------------------------------------- */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static nk_status refuse(onnx_writer *w, const nk_node *n, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nk_fail(w->ctx, NK_UNSUPPORTED, "%s: node '%s' (%s): %s at opset "
                   "%d", w->path, n->name, nk_op_name(n->op), msg, w->opset);
}

/* Values of constant i64 input i of n (for input -> attribute). */
static nk_status const_ints(onnx_writer *w, const nk_node *n, int i,
                            const char *what, const int64_t **v, size_t *cnt)
{
    const nk_tensor *t = nk_node_input(w->g, n, i);
    if (!t) {
        *v = NULL;
        *cnt = 0;
        return NK_OK;
    }
    if (!t->is_init || !t->data || t->dtype != NK_I64)
        return refuse(w, n, "%s '%s' is computed at run time; it must be a "
                      "constant to become an attribute", what, t->name);
    *v = t->data;
    *cnt = t->nbytes / sizeof(int64_t);
    return NK_OK;
}

/* Emit y = act(x) for a fused activation (or the HardSwish decomposition
 * below opset 14). */
static nk_status emit_act(onnx_writer *w, const char *name, bool own_name,
                          nk_act act, float a0, float a1, const char *x,
                          const char *y)
{
    const char *in[3] = {x, "", ""};
    Onnx__NodeProto *np = NULL;
    char nm[600];
    /* a fused activation is named after its producer; a HardSwish node
     * that is decomposed keeps its own name on the final Mul, so readers
     * fusing the pair back get the name back */
    if (own_name)
        snprintf(nm, sizeof nm, "%s", name);
    else
        snprintf(nm, sizeof nm, "%s::%s", name, nk_act_name(act));
    switch (act) {
    case NK_ACT_RELU:
        np = emit(w, "Relu", nm, 1, in, 1, &y);
        break;
    case NK_ACT_SIGMOID:
        np = emit(w, "Sigmoid", nm, 1, in, 1, &y);
        break;
    case NK_ACT_TANH:
        np = emit(w, "Tanh", nm, 1, in, 1, &y);
        break;
    case NK_ACT_LEAKYRELU:
        np = emit(w, "LeakyRelu", nm, 1, in, 1, &y);
        attr_float(w, np, "alpha", a0);
        break;
    case NK_ACT_HARDSIGMOID:
        np = emit(w, "HardSigmoid", nm, 1, in, 1, &y);
        attr_float(w, np, "alpha", a0);
        attr_float(w, np, "beta", a1);
        break;
    case NK_ACT_CLIP:
        in[1] = const_f32(w, y, a0);
        in[2] = const_f32(w, y, a1);
        np = emit(w, "Clip", nm, 3, in, 1, &y);
        break;
    case NK_ACT_HARDSWISH:
        if (w->opset >= 14) {
            np = emit(w, "HardSwish", nm, 1, in, 1, &y);
        } else {
            /* HardSwish(x) = x * HardSigmoid(x; alpha 1/6, beta 1/2) */
            const char *hs = fresh(w, y, "hardsigmoid");
            char nm2[640];
            snprintf(nm2, sizeof nm2, "%s::hardsigmoid", nm);
            np = emit(w, "HardSigmoid", nm2, 1, in, 1, &hs);
            attr_float(w, np, "alpha", 1.0f / 6.0f);
            attr_float(w, np, "beta", 0.5f);
            const char *mi[2] = {x, hs};
            np = emit(w, "Mul", nm, 2, mi, 1, &y);
        }
        break;
    default:
        return nk_fail(w->ctx, NK_INTERNAL, "%s: node '%s': fused activation "
                       "%d", w->path, name, (int)act);
    }
    return w->oom ? nk_fail(w->ctx, NK_NOMEM, "%s: out of memory", w->path)
                  : NK_OK;
}

static bool is_op(const nk_node *n, const char *op)
{
    return strcmp(nk_op_name(n->op), op) == 0;
}

static bool node_out_used(const nk_graph *g, int t)
{
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++)
            if (g->nodes[i].in[j] == t)
                return true;
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == t)
            return true;
    return false;
}

/* Write IR node n in the target opset's form. */
static nk_status write_node(onnx_writer *w, const nk_node *n)
{
    const nk_graph *g = w->g;
    const int v = w->opset;
    const char *op = nk_op_name(n->op);
    const char *in[64], *out[16];
    int n_in = n->n_in, n_out = n->n_out;
    if (n_in > 64 || n_out > 16)
        return refuse(w, n, "%d inputs / %d outputs", n_in, n_out);
    for (int o = 0; o < n_out; o++)
        out[o] = g->tensors[n->out[o]]->name;
    const char *final_out = out[0];
    if (n->act != NK_ACT_NONE)
        out[0] = fresh(w, final_out, "preact");
    /* inputs are named (and so marked used) only once the form is known */
    const char *const *skip = NULL;
    static const char *const skip_axes[] = {"axes", NULL};
    Onnx__NodeProto *np = NULL;
    const int64_t *cv = NULL;
    size_t cn = 0;
    nk_status st = NK_OK;
    int keep_in = n_in; /* inputs written as inputs (a prefix) */

    if ((is_op(n, "Squeeze") || is_op(n, "Unsqueeze") ||
         is_op(n, "ReduceSum")) && v < 13) {
        if ((st = const_ints(w, n, 1, "axes", &cv, &cn)))
            return st;
        keep_in = 1;
    } else if (is_op(n, "Split") && v < 13) {
        if ((st = const_ints(w, n, 1, "split", &cv, &cn)))
            return st;
        keep_in = 1;
    } else if (is_op(n, "Dropout") && v < 12) {
        const nk_tensor *t = nk_node_input(g, n, 1);
        const nk_tensor *tm = nk_node_input(g, n, 2);
        if (t && (!t->is_init || !t->data || t->dtype != NK_F32))
            return refuse(w, n, "a ratio computed at run time cannot be "
                          "written");
        if (tm)
            return refuse(w, n, "input training_mode cannot be written");
        keep_in = 1;
    } else if ((is_op(n, "Softmax") || is_op(n, "LogSoftmax") ||
                is_op(n, "Hardmax")) && v < 13) {
        const nk_tensor *x = nk_node_input(g, n, 0);
        int64_t axis = nk_node_int(n, "axis", -1), r = x->shape.rank;
        if (axis < 0)
            axis += r;
        bool last = true;
        for (int64_t d = axis + 1; d < r; d++)
            if (x->shape.d[d] != 1)
                last = false;
        if (!last)
            return refuse(w, n, "a softmax over axis %lld of a rank-%lld "
                          "input (not the last) has no equivalent; use opset "
                          ">= 13", (long long)axis, (long long)r);
    } else if (is_op(n, "BatchNormalization") && v < 14) {
        if (nk_node_int(n, "training_mode", 0))
            return refuse(w, n, "training_mode = 1 cannot be written");
        for (int o = 1; o < n_out; o++)
            if (node_out_used(g, n->out[o]))
                return refuse(w, n, "running statistics outputs cannot be "
                              "written");
        n_out = 1;
    } else if (is_op(n, "Reshape") && v < 14 &&
               nk_node_int(n, "allowzero", 0)) {
        const int64_t *sv = NULL;
        size_t sn = 0;
        if ((st = const_ints(w, n, 1, "shape", &sv, &sn)))
            return st;
        for (size_t i = 0; i < sn; i++)
            if (sv[i] == 0)
                return refuse(w, n, "allowzero = 1 with a 0 in the shape "
                              "needs opset >= 14");
    } else if (is_op(n, "HardSwish") && v < 14) {
        const char *x = tname(w, n->in[0]);
        if ((st = emit_act(w, n->name, true, NK_ACT_HARDSWISH, 0, 0, x,
                           out[0])))
            return st;
        goto activation;
    } else if (is_op(n, "Shape") && v < 15 &&
               (nk_node_attr(n, "start") || nk_node_attr(n, "end"))) {
        return refuse(w, n, "attributes start/end need opset >= 15");
    }
    for (int i = 0; i < keep_in; i++)
        in[i] = tname(w, n->in[i]);
    while (keep_in > 0 && !in[keep_in - 1][0])
        keep_in--; /* trailing omitted inputs */
    np = emit(w, op, n->name, keep_in, in, n_out, out);
    if (!np)
        return nk_fail(w->ctx, NK_NOMEM, "%s: out of memory", w->path);
    if (is_op(n, "Reshape") && v < 14) {
        static const char *const s[] = {"allowzero", NULL};
        skip = s;
    } else if (is_op(n, "BatchNormalization") && v < 14) {
        static const char *const s[] = {"training_mode", NULL};
        skip = s;
    } else if ((is_op(n, "Squeeze") || is_op(n, "Unsqueeze") ||
                is_op(n, "ReduceSum")) && v < 13) {
        skip = skip_axes;
        if (cv)
            attr_ints(w, np, "axes", cv, cn);
    } else if (is_op(n, "Split") && v < 13) {
        if (cv)
            attr_ints(w, np, "split", cv, cn);
    } else if (is_op(n, "Dropout") && v < 12) {
        const nk_tensor *t = nk_node_input(g, n, 1);
        if (t)
            attr_float(w, np, "ratio", *(const float *)t->data);
    } else if ((is_op(n, "Softmax") || is_op(n, "LogSoftmax") ||
                is_op(n, "Hardmax")) && v < 13) {
        /* the last axis, said explicitly: the old default is 1 */
        static const char *const s[] = {"axis", NULL};
        skip = s;
        attr_int(w, np, "axis", -1);
    }
    copy_attrs(w, np, n, skip);
activation:
    if (n->act != NK_ACT_NONE) {
        char nm[600];
        snprintf(nm, sizeof nm, "%s", n->name[0] ? n->name : final_out);
        if ((st = emit_act(w, nm, false, n->act, n->act_a0, n->act_a1,
                           out[0], final_out)))
            return st;
    }
    return w->oom ? nk_fail(w->ctx, NK_NOMEM, "%s: out of memory", w->path)
                  : NK_OK;
}

/* ---- value infos and the model --------------------------------------------- */

static Onnx__ValueInfoProto *value_info(onnx_writer *w, const nk_tensor *t)
{
    static const Onnx__ValueInfoProto VI_INIT = ONNX__VALUE_INFO_PROTO__INIT;
    static const Onnx__TypeProto TP_INIT = ONNX__TYPE_PROTO__INIT;
    static const Onnx__TypeProto__Tensor TT_INIT =
        ONNX__TYPE_PROTO__TENSOR__INIT;
    static const Onnx__TensorShapeProto SH_INIT =
        ONNX__TENSOR_SHAPE_PROTO__INIT;
    static const Onnx__TensorShapeProto__Dimension DIM_INIT =
        ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
    Onnx__ValueInfoProto *vi = wa(w, sizeof *vi);
    Onnx__TypeProto *tp = wa(w, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = wa(w, sizeof *tt);
    Onnx__TensorShapeProto *sh = wa(w, sizeof *sh);
    if (w->oom)
        return NULL;
    *vi = VI_INIT;
    *tp = TP_INIT;
    *tt = TT_INIT;
    *sh = SH_INIT;
    vi->name = wstr(w, t->name);
    vi->type = tp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    tt->has_elem_type = 1;
    tt->elem_type = nk_onnx_dtype_to(t->dtype);
    tt->shape = sh;
    sh->n_dim = (size_t)t->shape.rank;
    sh->dim = wa(w, sizeof *sh->dim * (size_t)(t->shape.rank + 1));
    for (int i = 0; sh->dim && i < t->shape.rank; i++) {
        Onnx__TensorShapeProto__Dimension *d = wa(w, sizeof *d);
        if (!d)
            return NULL;
        *d = DIM_INIT;
        if (t->shape.d[i] >= 0) {
            d->value_case =
                ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = t->shape.d[i];
        } else if (t->shape.sym[i]) {
            d->value_case =
                ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = wstr(w, t->shape.sym[i]);
        } /* else: an unknown dim */
        sh->dim[i] = d;
    }
    return w->oom ? NULL : vi;
}

static int ir_version_for(int opset)
{
    /* onnx/helper.py VERSION_TABLE */
    if (opset <= 11)
        return 6;
    if (opset <= 14)
        return 7;
    return 8;
}

/* protobuf-c output straight into the atomic writer. */
typedef struct pb_sink {
    ProtobufCBuffer base;
    nk_ctx *ctx;
    nk_writer *wr;
    nk_status st;
} pb_sink;

static void sink_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    pb_sink *s = (pb_sink *)b;
    if (!s->st)
        s->st = nk_writer_write(s->ctx, s->wr, data, len);
}

static Onnx__StringStringEntryProto *kv(onnx_writer *w, const char *k,
                                        const char *v)
{
    static const Onnx__StringStringEntryProto KV_INIT =
        ONNX__STRING_STRING_ENTRY_PROTO__INIT;
    Onnx__StringStringEntryProto *e = wa(w, sizeof *e);
    if (!e)
        return NULL;
    *e = KV_INIT;
    e->key = wstr(w, k);
    e->value = wstr(w, v);
    return e;
}

/* The basename of path. */
static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static nk_status check_graph(onnx_writer *w)
{
    const nk_graph *g = w->g;
    for (int i = 0; i < g->n_tensors; i++) {
        const nk_tensor *t = g->tensors[i];
        if (t->layout != NK_LAYOUT_DEFAULT)
            return nk_fail(w->ctx, NK_UNSUPPORTED, "%s: tensor '%s' has a "
                           "%s layout; ONNX needs the default (NCHW) layout",
                           w->path, t->name,
                           t->layout == NK_LAYOUT_NHWC ? "NHWC" : "blocked");
        if ((unsigned)t->dtype >= NK_DTYPE_COUNT)
            return nk_fail(w->ctx, NK_INTERNAL, "%s: tensor '%s' dtype %d",
                           w->path, t->name, (int)t->dtype);
        if (t->is_init && t->data && t->nbytes != nk_tensor_bytes_for(
                                                      t->dtype, &t->shape))
            return nk_fail(w->ctx, NK_INTERNAL, "%s: initializer '%s' has "
                           "%zu bytes for its shape", w->path, t->name,
                           t->nbytes);
    }
    return NK_OK;
}

static nk_status save(onnx_writer *w, int64_t threshold)
{
    nk_ctx *ctx = w->ctx;
    const nk_graph *g = w->g;
    nk_status st = check_graph(w);
    if (st)
        return st;
    for (int i = 0; i < g->n_nodes && !st; i++)
        st = write_node(w, &g->nodes[i]);
    if (st)
        return st;

    static const Onnx__GraphProto GRAPH_INIT = ONNX__GRAPH_PROTO__INIT;
    static const Onnx__ModelProto MODEL_INIT = ONNX__MODEL_PROTO__INIT;
    static const Onnx__OperatorSetIdProto OPSET_INIT =
        ONNX__OPERATOR_SET_ID_PROTO__INIT;
    Onnx__GraphProto *gp = wa(w, sizeof *gp);
    Onnx__ModelProto *m = wa(w, sizeof *m);
    Onnx__OperatorSetIdProto *os = wa(w, sizeof *os);
    Onnx__OperatorSetIdProto **osl = wa(w, sizeof *osl);
    if (w->oom)
        return nk_fail(ctx, NK_NOMEM, "%s: out of memory", w->path);
    *gp = GRAPH_INIT;
    *m = MODEL_INIT;
    *os = OPSET_INIT;
    const char *arch = nk_graph_meta_get(g, "arch");
    gp->name = wstr(w, arch ? arch : "nnkit");
    gp->n_node = w->n_nodes;
    gp->node = w->nodes;

    /* graph inputs and outputs */
    gp->n_input = (size_t)g->n_inputs;
    gp->input = wa(w, sizeof *gp->input * (size_t)(g->n_inputs + 1));
    for (int i = 0; gp->input && i < g->n_inputs; i++)
        gp->input[i] = value_info(w, g->tensors[g->inputs[i]]);
    gp->n_output = (size_t)g->n_outputs;
    gp->output = wa(w, sizeof *gp->output * (size_t)(g->n_outputs + 1));
    for (int i = 0; gp->output && i < g->n_outputs; i++) {
        gp->output[i] = value_info(w, g->tensors[g->outputs[i]]);
        w->used[g->outputs[i]] = true;
    }
    if (w->oom)
        return nk_fail(ctx, NK_NOMEM, "%s: out of memory", w->path);

    /* initializers: the graph's that are used, then the writer's own */
    size_t n_init = w->n_inits;
    uint64_t total = 0;
    for (int i = 0; i < g->n_tensors; i++)
        if (g->tensors[i]->is_init && w->used[i]) {
            n_init++;
            total += g->tensors[i]->nbytes;
        }
    gp->n_initializer = n_init;
    gp->initializer = wa(w, sizeof *gp->initializer * (n_init + 1));
    if (!gp->initializer)
        return nk_fail(ctx, NK_NOMEM, "%s: out of memory", w->path);
    bool external = total > (uint64_t)threshold;
    size_t k = 0;
    nk_writer dw;
    memset(&dw, 0, sizeof dw);
    char *data_path = NULL;
    const char *data_loc = NULL;
    if (external) {
        size_t pl = strlen(w->path) + 8;
        data_path = nk_malloc(pl);
        if (!data_path)
            return nk_fail(ctx, NK_NOMEM, "%s: out of memory", w->path);
        snprintf(data_path, pl, "%s.data", w->path);
        data_loc = wstr(w, base_name(data_path));
        if ((st = nk_writer_open(ctx, &dw, data_path))) {
            nk_free(data_path);
            return st;
        }
    }
    for (int i = 0; i < g->n_tensors && !st; i++) {
        const nk_tensor *t = g->tensors[i];
        if (!t->is_init || !w->used[i])
            continue;
        if (!t->data && t->nbytes)
            st = nk_fail(ctx, NK_INTERNAL, "%s: initializer '%s' has no "
                         "data", w->path, t->name);
        Onnx__TensorProto *tp = tensor_proto(w, t->name, t);
        if (!tp) {
            st = nk_fail(ctx, NK_NOMEM, "%s: out of memory", w->path);
            break;
        }
        if (external && t->nbytes >= NK_ONNX_EXTERNAL_MIN_TENSOR) {
            char off[32], len[32];
            if ((st = nk_writer_pad_to(ctx, &dw, NK_ONNX_EXTERNAL_ALIGN)))
                break;
            snprintf(off, sizeof off, "%llu", (unsigned long long)dw.written);
            snprintf(len, sizeof len, "%zu", t->nbytes);
            if ((st = nk_writer_write(ctx, &dw, t->data, t->nbytes)))
                break;
            tp->has_raw_data = 0;
            tp->raw_data.len = 0;
            tp->raw_data.data = NULL;
            tp->has_data_location = 1;
            tp->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
            tp->n_external_data = 3;
            tp->external_data = wa(w, sizeof *tp->external_data * 3);
            if (tp->external_data) {
                tp->external_data[0] = kv(w, "location", data_loc);
                tp->external_data[1] = kv(w, "offset", off);
                tp->external_data[2] = kv(w, "length", len);
            }
        }
        gp->initializer[k++] = tp;
    }
    for (size_t i = 0; i < w->n_inits; i++)
        gp->initializer[k++] = w->inits[i];

    m->has_ir_version = 1;
    m->ir_version = ir_version_for(w->opset);
    os->domain = wstr(w, "");
    os->has_version = 1;
    os->version = w->opset;
    osl[0] = os;
    m->n_opset_import = 1;
    m->opset_import = osl;
    m->producer_name = wstr(w, "nnkit");
    m->producer_version = wstr(w, NNKIT_VERSION);
    m->graph = gp;

    /* metadata_props: labels, preprocessing, then every metadata key */
    size_t n_kv = (size_t)g->n_meta + 2, j = 0;
    m->metadata_props = wa(w, sizeof *m->metadata_props * n_kv);
    if (!st && m->metadata_props) {
        if (g->n_labels > 0) {
            char *s = nk_onnx_labels_format(g);
            if (s)
                m->metadata_props[j++] = kv(w, NK_ONNX_META_LABELS, s);
            else
                w->oom = true;
            nk_free(s);
        }
        if (g->preproc.valid) {
            char *s = nk_onnx_preproc_format(&g->preproc);
            if (s)
                m->metadata_props[j++] = kv(w, NK_ONNX_META_PREPROC, s);
            else
                w->oom = true;
            nk_free(s);
        }
        for (int i = 0; i < g->n_meta; i++)
            m->metadata_props[j++] =
                kv(w, g->meta[i].key, g->meta[i].value ? g->meta[i].value : "");
        m->n_metadata_props = j;
    }
    if (!st && w->oom)
        st = nk_fail(ctx, NK_NOMEM, "%s: out of memory", w->path);

    /* the model: refuse what protobuf cannot hold, then stream it out */
    if (!st) {
        size_t size = onnx__model_proto__get_packed_size(m);
        if (size > (size_t)INT32_MAX)
            st = nk_fail(ctx, NK_UNSUPPORTED, "%s: the model is %zu bytes, "
                         "over protobuf's 2 GiB limit", w->path, size);
    }
    nk_writer mw;
    memset(&mw, 0, sizeof mw);
    if (!st)
        st = nk_writer_open(ctx, &mw, w->path);
    if (!st) {
        pb_sink sink = {{sink_append}, ctx, &mw, NK_OK};
        onnx__model_proto__pack_to_buffer(m, &sink.base);
        st = sink.st;
        if (st)
            nk_writer_abort(&mw);
    }
    /* external data first, so a committed model never points at nothing */
    if (external) {
        if (!st)
            st = nk_writer_commit(ctx, &dw);
        else
            nk_writer_abort(&dw);
    }
    if (!st) {
        st = nk_writer_commit(ctx, &mw);
        if (st && external)
            unlink(data_path);
    }
    nk_free(data_path);
    return st;
}

nk_status nk_onnx_save_ex(nk_ctx *ctx, const nk_graph *g, const char *path,
                          int opset, int64_t external_threshold)
{
    if (opset == 0)
        opset = NK_ONNX_OPSET_DEFAULT;
    if (opset < NK_ONNX_WRITE_OPSET_MIN || opset > NK_ONNX_WRITE_OPSET_MAX)
        return nk_fail(ctx, NK_INVALID_ARG, "%s: ONNX opset %d, nnkit writes "
                       "opsets %d to %d", path, opset, NK_ONNX_WRITE_OPSET_MIN,
                       NK_ONNX_WRITE_OPSET_MAX);
    onnx_writer w;
    memset(&w, 0, sizeof w);
    w.ctx = ctx;
    w.path = path;
    w.g = g;
    w.opset = opset;
    w.used = nk_calloc((size_t)g->n_tensors + 1, sizeof *w.used);
    if (!w.used)
        return nk_fail(ctx, NK_NOMEM, "%s: out of memory", path);
    nk_status st = save(&w, external_threshold > 0 ? external_threshold
                                                   : NK_ONNX_EXTERNAL_DEFAULT);
    nk_free(w.used);
    nk_free(w.nodes);
    nk_free(w.inits);
    nk_arena_release(&w.A);
    return st;
}

nk_status nk_onnx_save_opts(nk_ctx *ctx, const nk_graph *g, const char *path,
                            const nk_save_opts *opts)
{
    return nk_onnx_save_ex(ctx, g, path, opts ? opts->onnx_opset : 0,
                           opts ? opts->onnx_external_threshold : 0);
}

nk_status nk_onnx_save(nk_ctx *ctx, const nk_graph *g, const char *path)
{
    return nk_onnx_save_ex(ctx, g, path, 0, 0);
}
