/*
 * binary.c — element-wise Add Sub Mul Div with multidirectional (numpy)
 * broadcasting: the broadcast-shape helper, shape inference and the
 * reference kernel (with the fused activation of a residual Add).
 */
#include "engine/kernels/kernels-impl.h"
#include "engine/op.h"

#include <string.h>

bool nk_broadcast_shape(const nk_shape *a, const nk_shape *b, nk_shape *out)
{
    if (!a || !b || !out || a->rank < 0 || b->rank < 0 ||
        a->rank > NK_MAX_RANK || b->rank > NK_MAX_RANK)
        return false;
    nk_shape r;
    memset(&r, 0, sizeof r);
    r.rank = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 0; i < r.rank; i++) {
        /* align from the right; missing leading dims count as 1 */
        int ia = i - (r.rank - a->rank), ib = i - (r.rank - b->rank);
        int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
        const char *sa = ia >= 0 && da == NK_DIM_SYM ? a->sym[ia] : NULL;
        const char *sb = ib >= 0 && db == NK_DIM_SYM ? b->sym[ib] : NULL;
        if ((da < 0 && da != NK_DIM_SYM) || (db < 0 && db != NK_DIM_SYM))
            return false;
        if (da == db) {
            r.d[i] = da;
            r.sym[i] = sa ? sa : sb;
        } else if (da == 1) {
            r.d[i] = db;
            r.sym[i] = sb;
        } else if (db == 1) {
            r.d[i] = da;
            r.sym[i] = sa;
        } else if (da == NK_DIM_SYM) {
            /* a symbolic dim against a concrete one must bind to it */
            r.d[i] = db;
        } else if (db == NK_DIM_SYM) {
            r.d[i] = da;
        } else {
            return false;
        }
    }
    *out = r;
    return true;
}

nk_status nk_infer_binary(nk_ctx *ctx, const nk_node *n, nk_tensor *const *in,
                          int n_in, nk_tensor *const *out, int n_out)
{
    if (n_in != 2 || !in[0] || !in[1])
        return nk_fail_node(ctx, NK_INVALID_ARG, n,
                            "has %d inputs, expected 2", n_in);
    if (n_out < 1 || !out[0])
        return nk_fail_node(ctx, NK_INVALID_ARG, n, "output 0 is missing");
    if (in[0]->dtype != in[1]->dtype)
        return nk_fail_node(ctx, NK_INVALID_ARG, n,
                            "inputs '%s' and '%s' have dtypes %s and %s, "
                            "expected the same", in[0]->name, in[1]->name,
                            nk_dtype_name(in[0]->dtype),
                            nk_dtype_name(in[1]->dtype));
    nk_shape s;
    if (!nk_broadcast_shape(&in[0]->shape, &in[1]->shape, &s)) {
        char ba[128], bb[128];
        return nk_fail_node(ctx, NK_SHAPE, n,
                            "shapes %s ('%s') and %s ('%s') do not "
                            "broadcast",
                            nk_shape_str(&in[0]->shape, ba, sizeof ba),
                            in[0]->name,
                            nk_shape_str(&in[1]->shape, bb, sizeof bb),
                            in[1]->name);
    }
    out[0]->dtype = in[0]->dtype;
    out[0]->shape = s;
    return NK_OK;
}

/* ---- reference kernel --------------------------------------------------- */

enum bin_mode {
    BIN_GENERAL = 0, /* strided walk over the coalesced output dims */
    BIN_EQUAL,       /* same shapes */
    BIN_A_SCALAR,    /* a has one element */
    BIN_B_SCALAR,    /* b has one element */
};

typedef struct binary_params {
    int mode;
    int rank;                 /* after coalescing, >= 1 */
    int64_t n;                /* output elements */
    int64_t dim[NK_MAX_RANK]; /* coalesced output dims */
    int64_t sa[NK_MAX_RANK];  /* element strides, 0 where broadcast */
    int64_t sb[NK_MAX_RANK];
} binary_params;

/* Right-aligned, broadcast-aware strides of s within an output of rank r
 * and dims od; false if s does not broadcast to od. */
static bool broadcast_strides(const nk_shape *s, int r, const int64_t *od,
                              int64_t *stride)
{
    int64_t acc = 1;
    for (int i = r - 1; i >= 0; i--) {
        int is = i - (r - s->rank);
        int64_t d = is >= 0 ? s->d[is] : 1;
        if (d == od[i]) {
            stride[i] = d == 1 ? 0 : acc;
        } else if (d == 1) {
            stride[i] = 0;
        } else {
            return false;
        }
        acc *= d;
    }
    return true;
}

nk_status nk_binary_prepare(nk_ctx *ctx, nk_step *st)
{
    const nk_node *n = st->node;
    const nk_tensor *a = st->in[0], *b = st->in[1], *y = st->out[0];
    if (a->dtype != b->dtype || a->dtype != y->dtype ||
        (a->dtype != NK_F32 && !nk_binary_int_supports(st)))
        return nk_fail_node(ctx, NK_UNSUPPORTED, n,
                            "dtypes %s, %s -> %s, expected f32, i64, i32, "
                            "u8 or i8 throughout",
                            nk_dtype_name(a->dtype), nk_dtype_name(b->dtype),
                            nk_dtype_name(y->dtype));
    const nk_shape *os = &y->shape;
    if (os->rank > NK_MAX_RANK || a->shape.rank > os->rank ||
        b->shape.rank > os->rank)
        return nk_fail_node(ctx, NK_SHAPE, n,
                            "input ranks %d and %d exceed output rank %d",
                            a->shape.rank, b->shape.rank, os->rank);
    binary_params *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory", n->name);
    int64_t sa[NK_MAX_RANK], sb[NK_MAX_RANK];
    if (!broadcast_strides(&a->shape, os->rank, os->d, sa) ||
        !broadcast_strides(&b->shape, os->rank, os->d, sb)) {
        char ba[128], bb[128], bo[128];
        nk_free(p);
        return nk_fail_node(ctx, NK_SHAPE, n,
                            "inputs %s and %s do not broadcast to output %s",
                            nk_shape_str(&a->shape, ba, sizeof ba),
                            nk_shape_str(&b->shape, bb, sizeof bb),
                            nk_shape_str(os, bo, sizeof bo));
    }
    /* Drop unit dims, then merge neighbours that are contiguous in both
     * inputs (a stride of 0 merges with 0): [N,C,H,W] + [C,1,1] becomes
     * [N, C, H*W] with b strides [0, 1, 0]. */
    int r = 0;
    for (int i = 0; i < os->rank; i++) {
        if (os->d[i] == 1)
            continue;
        if (r > 0 && p->sa[r - 1] == sa[i] * os->d[i] &&
            p->sb[r - 1] == sb[i] * os->d[i]) {
            p->dim[r - 1] *= os->d[i];
            p->sa[r - 1] = sa[i];
            p->sb[r - 1] = sb[i];
            continue;
        }
        p->dim[r] = os->d[i];
        p->sa[r] = sa[i];
        p->sb[r] = sb[i];
        r++;
    }
    if (r == 0) {
        p->dim[0] = 1;
        r = 1;
    }
    p->rank = r;
    p->n = nk_shape_numel(os);
    int64_t na = nk_shape_numel(&a->shape), nb = nk_shape_numel(&b->shape);
    if (na == p->n && nb == p->n)
        p->mode = BIN_EQUAL;
    else if (nb == 1)
        p->mode = BIN_B_SCALAR;
    else if (na == 1)
        p->mode = BIN_A_SCALAR;
    else
        p->mode = BIN_GENERAL;
    st->params = p;
    return NK_OK;
}

/* One loop per (op, stride pattern) so the common cases vectorise. */
#define BIN_LOOP(EXPR)                                                   \
    do {                                                                 \
        if (sa == 1 && sb == 1)                                          \
            for (int64_t k = 0; k < cnt; k++) {                          \
                float u = a[k], v = b[k];                                \
                y[k] = (EXPR);                                           \
            }                                                            \
        else if (sa == 1 && sb == 0) {                                   \
            float v = b[0];                                              \
            for (int64_t k = 0; k < cnt; k++) {                          \
                float u = a[k];                                          \
                y[k] = (EXPR);                                           \
            }                                                            \
        } else if (sa == 0 && sb == 1) {                                 \
            float u = a[0];                                              \
            for (int64_t k = 0; k < cnt; k++) {                          \
                float v = b[k];                                          \
                y[k] = (EXPR);                                           \
            }                                                            \
        } else                                                           \
            for (int64_t k = 0; k < cnt; k++) {                          \
                float u = a[k * sa], v = b[k * sb];                      \
                y[k] = (EXPR);                                           \
            }                                                            \
    } while (0)

static void bin_row(nk_op op, const float *a, int64_t sa, const float *b,
                    int64_t sb, float *y, int64_t cnt)
{
    switch (op) {
    case NK_OP_ADD:
        BIN_LOOP(u + v);
        break;
    case NK_OP_SUB:
        BIN_LOOP(u - v);
        break;
    case NK_OP_MUL:
        BIN_LOOP(u * v);
        break;
    case NK_OP_DIV:
        BIN_LOOP(u / v);
        break;
    default:
        NK_ASSERT(!"not a binary op");
    }
}

void nk_binary_ref(const nk_step *st, int ith, int nth)
{
    const binary_params *p = st->params;
    const nk_node *node = st->node;
    const float *a = st->in[0]->data, *b = st->in[1]->data;
    float *y = st->out[0]->data;
    int64_t i, e;
    nk_split(p->n, ith, nth, &i, &e);
    if (i >= e)
        return;
    const int64_t begin = i;
    switch (p->mode) {
    case BIN_EQUAL:
        bin_row(node->op, a + i, 1, b + i, 1, y + i, e - i);
        break;
    case BIN_A_SCALAR:
        bin_row(node->op, a, 0, b + i, 1, y + i, e - i);
        break;
    case BIN_B_SCALAR:
        bin_row(node->op, a + i, 1, b, 0, y + i, e - i);
        break;
    default: {
        const int r = p->rank;
        int64_t idx[NK_MAX_RANK], oa = 0, ob = 0, rem = i;
        for (int d = r - 1; d >= 0; d--) {
            idx[d] = rem % p->dim[d];
            rem /= p->dim[d];
            oa += idx[d] * p->sa[d];
            ob += idx[d] * p->sb[d];
        }
        while (i < e) {
            int64_t cnt = p->dim[r - 1] - idx[r - 1];
            if (cnt > e - i)
                cnt = e - i;
            bin_row(node->op, a + oa, p->sa[r - 1], b + ob, p->sb[r - 1],
                    y + i, cnt);
            i += cnt;
            idx[r - 1] += cnt;
            oa += cnt * p->sa[r - 1];
            ob += cnt * p->sb[r - 1];
            for (int d = r - 1; d > 0 && idx[d] == p->dim[d]; d--) {
                oa += p->sa[d - 1] - p->dim[d] * p->sa[d];
                ob += p->sb[d - 1] - p->dim[d] * p->sb[d];
                idx[d] = 0;
                idx[d - 1]++;
            }
        }
        break;
    }
    }
    if (node->act != NK_ACT_NONE)
        nk_act_apply(node->act, node->act_a0, node->act_a1, y + begin,
                     (size_t)(e - begin));
}

/* ---- integer dtypes (shape arithmetic, ONNX's uint8 cases) -------------- */

bool nk_binary_int_supports(const nk_step *st)
{
    switch (st->in[0]->dtype) {
    case NK_I64: case NK_I32: case NK_U8: case NK_I8:
        return true;
    default:
        return false;
    }
}

static int64_t int_load(nk_dtype dt, const void *p, int64_t i)
{
    switch (dt) {
    case NK_I64: return ((const int64_t *)p)[i];
    case NK_I32: return ((const int32_t *)p)[i];
    case NK_U8: return ((const uint8_t *)p)[i];
    default: return ((const int8_t *)p)[i];
    }
}

/* Results wrap to the dtype's width, as C's unsigned arithmetic and
 * numpy do; division truncates toward zero, and x / 0 is 0 (ONNX leaves
 * it undefined). */
static void int_store(nk_dtype dt, void *p, int64_t i, uint64_t v)
{
    switch (dt) {
    case NK_I64: ((int64_t *)p)[i] = (int64_t)v; break;
    case NK_I32: ((int32_t *)p)[i] = (int32_t)(uint32_t)v; break;
    case NK_U8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    default: ((int8_t *)p)[i] = (int8_t)(uint8_t)v; break;
    }
}

void nk_binary_int_ref(const nk_step *st, int ith, int nth)
{
    const binary_params *p = st->params;
    const nk_dtype dt = st->in[0]->dtype;
    const void *a = st->in[0]->data, *b = st->in[1]->data;
    void *y = st->out[0]->data;
    const nk_op op = st->node->op;
    int64_t i0, e;
    nk_split(p->n, ith, nth, &i0, &e);
    for (int64_t i = i0; i < e; i++) {
        int64_t rem = i, oa = 0, ob = 0;
        for (int d = p->rank - 1; d >= 0; d--) {
            int64_t k = rem % p->dim[d];
            rem /= p->dim[d];
            oa += k * p->sa[d];
            ob += k * p->sb[d];
        }
        int64_t u = int_load(dt, a, oa), v = int_load(dt, b, ob);
        uint64_t r;
        switch (op) {
        case NK_OP_ADD: r = (uint64_t)u + (uint64_t)v; break;
        case NK_OP_SUB: r = (uint64_t)u - (uint64_t)v; break;
        case NK_OP_MUL: r = (uint64_t)u * (uint64_t)v; break;
        default:
            r = v == 0 || (u == INT64_MIN && v == -1) ? 0
                                                      : (uint64_t)(u / v);
            break;
        }
        int_store(dt, y, i, r);
    }
}
