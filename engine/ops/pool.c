/*
 * pool.c — MaxPool and AveragePool over 1 to 6 spatial dims (NC + spatial;
 * pads, strides, dilations, auto_pad, ceil_mode, count_include_pad;
 * MaxPool's Indices output with storage_order; MaxPool on f32, u8 and i8)
 * and GlobalAveragePool: shape inference and reference kernels, split
 * over the N*C planes, with a direct loop for the common 2-D f32 case.
 */
#include "engine/op.h"
#include "engine/kernels/kernels-impl.h"

#include <float.h>
#include <string.h>

#define POOL_MAX_SP (NK_MAX_RANK - 2)

typedef struct pool_geom {
    int sp;                     /* spatial dims */
    int64_t n, c;
    int64_t in[POOL_MAX_SP], out[POOL_MAX_SP];
    int64_t k[POOL_MAX_SP], s[POOL_MAX_SP], d[POOL_MAX_SP];
    int64_t pb[POOL_MAX_SP], pe[POOL_MAX_SP]; /* pads: begin, end */
    int count_include_pad;
    int storage_order;          /* Indices: 0 row-major, 1 column-major */
} pool_geom;

/* Output extent of one axis (as geom.c: the last window must start in the
 * input or its leading padding); -1 when the window does not fit. */
static int64_t out_extent(int64_t in, int64_t k, int64_t s, int64_t d,
                          int64_t pb, int64_t pe, int ceil_mode)
{
    int64_t span = in + pb + pe - ((k - 1) * d + 1);
    if (span < 0)
        return -1;
    int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (o - 1) * s >= in + pb)
        o--;
    return o;
}

static nk_status read_ints(nk_ctx *ctx, const nk_node *n, const char *name,
                           int want, int64_t def, int64_t min, int64_t *v)
{
    int64_t tmp[2 * NK_MAX_RANK];
    int cnt = nk_node_ints(n, name, tmp, 2 * NK_MAX_RANK);
    if (cnt == 0) {
        for (int i = 0; i < want; i++)
            v[i] = def;
        return NK_OK;
    }
    if (cnt != want)
        return nk_fail_node(ctx, NK_FORMAT, n,
                            "attribute '%s' has %d values, expected %d",
                            name, cnt, want);
    for (int i = 0; i < want; i++) {
        if (tmp[i] < min)
            return nk_fail_node(ctx, NK_FORMAT, n,
                                "%s[%d] is %lld, expected >= %lld", name, i,
                                (long long)tmp[i], (long long)min);
        v[i] = tmp[i];
    }
    return NK_OK;
}

static nk_status pool_geom_make(nk_ctx *ctx, const nk_node *n,
                                const nk_shape *x, pool_geom *g)
{
    memset(g, 0, sizeof *g);
    if (x->rank < 3)
        return nk_fail_node(ctx, NK_SHAPE, n,
                            "input has rank %d, expected >= 3 (N, C, "
                            "spatial...)", x->rank);
    for (int i = 0; i < x->rank; i++)
        if (x->d[i] < 0)
            return nk_fail_node(ctx, NK_SHAPE, n,
                                "input dim %d is %lld, expected a concrete "
                                "size", i, (long long)x->d[i]);
    const int sp = x->rank - 2;
    g->sp = sp;
    g->n = x->d[0];
    g->c = x->d[1];
    for (int i = 0; i < sp; i++)
        g->in[i] = x->d[2 + i];
    int64_t kt[NK_MAX_RANK];
    int kn = nk_node_ints(n, "kernel_shape", kt, NK_MAX_RANK);
    if (kn != sp)
        return nk_fail_node(ctx, NK_FORMAT, n,
                            "kernel_shape has %d values, expected %d (the "
                            "input's spatial dims)", kn, sp);
    nk_status st;
    if ((st = read_ints(ctx, n, "kernel_shape", sp, 1, 1, g->k)) ||
        (st = read_ints(ctx, n, "strides", sp, 1, 1, g->s)) ||
        (st = read_ints(ctx, n, "dilations", sp, 1, 1, g->d)))
        return st;
    int ceil_mode = nk_node_int(n, "ceil_mode", 0) != 0;
    g->count_include_pad = nk_node_int(n, "count_include_pad", 0) != 0;
    g->storage_order = nk_node_int(n, "storage_order", 0) != 0;
    const char *ap = nk_node_string(n, "auto_pad", "NOTSET");
    if (!strcmp(ap, "NOTSET") || !strcmp(ap, "VALID")) {
        int64_t p[2 * POOL_MAX_SP];
        if (!strcmp(ap, "NOTSET")) {
            if ((st = read_ints(ctx, n, "pads", 2 * sp, 0, 0, p)))
                return st;
        } else {
            memset(p, 0, sizeof p);
        }
        for (int i = 0; i < sp; i++) {
            g->pb[i] = p[i];
            g->pe[i] = p[sp + i];
            g->out[i] = out_extent(g->in[i], g->k[i], g->s[i], g->d[i],
                                   g->pb[i], g->pe[i], ceil_mode);
        }
    } else if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
        for (int i = 0; i < sp; i++) {
            int64_t o = (g->in[i] + g->s[i] - 1) / g->s[i];
            int64_t tot = (o - 1) * g->s[i] + (g->k[i] - 1) * g->d[i] + 1 -
                          g->in[i];
            if (tot < 0)
                tot = 0;
            g->pb[i] = ap[5] == 'U' ? tot / 2 : tot - tot / 2;
            g->pe[i] = tot - g->pb[i];
            g->out[i] = o;
        }
    } else {
        return nk_fail_node(ctx, NK_FORMAT, n,
                            "auto_pad is '%s', expected NOTSET, SAME_UPPER, "
                            "SAME_LOWER or VALID", ap);
    }
    for (int i = 0; i < sp; i++)
        if (g->out[i] < 1)
            return nk_fail_node(ctx, NK_SHAPE, n,
                                "kernel %lld (dilation %lld) on spatial dim "
                                "%d does not fit the padded size %lld",
                                (long long)g->k[i], (long long)g->d[i], i,
                                (long long)(g->in[i] + g->pb[i] + g->pe[i]));
    return NK_OK;
}

nk_status nk_infer_pool(nk_ctx *ctx, const nk_node *n, nk_tensor *const *in,
                        int n_in, nk_tensor *const *out, int n_out)
{
    if (n_in < 1 || !in[0])
        return nk_fail_node(ctx, NK_FORMAT, n, "needs input X");
    pool_geom g;
    nk_status st = pool_geom_make(ctx, n, &in[0]->shape, &g);
    if (st != NK_OK)
        return st;
    nk_dtype dt = in[0]->dtype;
    if (dt != NK_F32 && !(n->op == NK_OP_MAXPOOL &&
                          (dt == NK_U8 || dt == NK_I8)))
        return nk_fail_node(ctx, NK_UNSUPPORTED, n,
                            "input dtype %s, expected f32%s",
                            nk_dtype_name(dt),
                            n->op == NK_OP_MAXPOOL ? ", u8 or i8" : "");
    nk_shape o = in[0]->shape;
    for (int i = 0; i < g.sp; i++) {
        if (o.d[2 + i] != g.out[i])
            o.sym[2 + i] = NULL;
        o.d[2 + i] = g.out[i];
    }
    out[0]->dtype = dt;
    out[0]->shape = o;
    if (n_out > 1 && out[1]) {
        if (n->op != NK_OP_MAXPOOL)
            return nk_fail_node(ctx, NK_FORMAT, n,
                                "has %d outputs, expected 1", n_out);
        out[1]->dtype = NK_I64;
        out[1]->shape = o;
    }
    return NK_OK;
}

nk_status nk_infer_globalpool(nk_ctx *ctx, const nk_node *n,
                              nk_tensor *const *in, int n_in,
                              nk_tensor *const *out, int n_out)
{
    if (n_in < 1 || !in[0])
        return nk_fail_node(ctx, NK_FORMAT, n, "needs input X");
    const nk_shape *s = &in[0]->shape;
    if (s->rank < 3)
        return nk_fail_node(ctx, NK_SHAPE, n,
                            "input '%s' has rank %d, expected >= 3 "
                            "(N, C, spatial...)", in[0]->name, s->rank);
    nk_shape o = *s;
    for (int i = 2; i < o.rank; i++) {
        o.d[i] = 1;
        o.sym[i] = NULL;
    }
    out[0]->dtype = in[0]->dtype;
    out[0]->shape = o;
    return NK_OK;
}

nk_status nk_pool_prepare(nk_ctx *ctx, nk_step *st)
{
    pool_geom *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                       st->node->name);
    nk_status s = pool_geom_make(ctx, st->node, &st->in[0]->shape, p);
    if (s != NK_OK) {
        nk_free(p);
        return s;
    }
    st->params = p;
    return NK_OK;
}

/* ---- MaxPool -------------------------------------------------------------- */

static double load_elem(nk_dtype dt, const void *x, int64_t i)
{
    switch (dt) {
    case NK_U8: return ((const uint8_t *)x)[i];
    case NK_I8: return ((const int8_t *)x)[i];
    default: return ((const float *)x)[i];
    }
}

static void store_elem(nk_dtype dt, void *y, int64_t i, double v)
{
    switch (dt) {
    case NK_U8: ((uint8_t *)y)[i] = (uint8_t)v; break;
    case NK_I8: ((int8_t *)y)[i] = (int8_t)v; break;
    default: ((float *)y)[i] = (float)v; break;
    }
}

/* Index of spatial position pos[] in one plane for the Indices output. */
static int64_t plane_index(const pool_geom *g, const int64_t *pos)
{
    int64_t at = 0;
    if (g->storage_order) /* column-major: the first dim varies fastest */
        for (int i = g->sp - 1; i >= 0; i--)
            at = at * g->in[i] + pos[i];
    else
        for (int i = 0; i < g->sp; i++)
            at = at * g->in[i] + pos[i];
    return at;
}

/* 2-D f32 without Indices: the hot path of the zoo models. */
static void maxpool2d_f32(const pool_geom *g, const float *x, float *y,
                          int64_t b, int64_t e)
{
    const int64_t h = g->in[0], w = g->in[1], oh = g->out[0], ow = g->out[1];
    for (int64_t t = b; t < e; t++) {
        const float *xp = x + t * h * w;
        float *yp = y + t * oh * ow;
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++) {
                float best = -FLT_MAX;
                bool any = false;
                for (int64_t ky = 0; ky < g->k[0]; ky++) {
                    int64_t iy = oy * g->s[0] - g->pb[0] + ky * g->d[0];
                    if (iy < 0 || iy >= h)
                        continue;
                    for (int64_t kx = 0; kx < g->k[1]; kx++) {
                        int64_t ix = ox * g->s[1] - g->pb[1] + kx * g->d[1];
                        if (ix < 0 || ix >= w)
                            continue;
                        float v = xp[iy * w + ix];
                        /* NaN propagates, as in PyTorch */
                        if (!any || v > best || v != v) {
                            best = v;
                            any = true;
                            if (v != v)
                                goto done;
                        }
                    }
                }
            done:
                yp[oy * ow + ox] = best;
            }
    }
}

void nk_maxpool_ref(const nk_step *st, int ith, int nth)
{
    const pool_geom *g = st->params;
    const nk_dtype dt = st->in[0]->dtype;
    const void *x = st->in[0]->data;
    void *y = st->out[0]->data;
    int64_t *idx = st->n_out > 1 && st->out[1] ? st->out[1]->data : NULL;
    int64_t b, e;
    nk_split(g->n * g->c, ith, nth, &b, &e);
    if (g->sp == 2 && dt == NK_F32 && !idx) {
        maxpool2d_f32(g, x, y, b, e);
        return;
    }
    int64_t in_plane = 1, out_plane = 1, kvol = 1;
    for (int i = 0; i < g->sp; i++) {
        in_plane *= g->in[i];
        out_plane *= g->out[i];
        kvol *= g->k[i];
    }
    for (int64_t t = b; t < e; t++) {
        for (int64_t o = 0; o < out_plane; o++) {
            int64_t op[POOL_MAX_SP], rem = o;
            for (int i = g->sp - 1; i >= 0; i--) {
                op[i] = rem % g->out[i];
                rem /= g->out[i];
            }
            double best = 0.0;
            int64_t at = -1;
            for (int64_t kk = 0; kk < kvol; kk++) {
                int64_t pos[POOL_MAX_SP], off = 0, q = kk;
                bool inside = true;
                for (int i = g->sp - 1; i >= 0; i--) {
                    int64_t ki = q % g->k[i];
                    q /= g->k[i];
                    pos[i] = op[i] * g->s[i] - g->pb[i] + ki * g->d[i];
                    inside = inside && pos[i] >= 0 && pos[i] < g->in[i];
                }
                if (!inside)
                    continue;
                for (int i = 0; i < g->sp; i++)
                    off = off * g->in[i] + pos[i];
                double v = load_elem(dt, x, t * in_plane + off);
                if (at < 0 || v > best || v != v) {
                    best = v;
                    at = plane_index(g, pos);
                    if (v != v)
                        break;
                }
            }
            store_elem(dt, y, t * out_plane + o,
                       at < 0 ? (dt == NK_F32 ? -FLT_MAX : 0.0) : best);
            if (idx)
                idx[t * out_plane + o] = at < 0 ? -1 : t * in_plane + at;
        }
    }
}

/* ---- AveragePool ------------------------------------------------------------ */

void nk_avgpool_ref(const nk_step *st, int ith, int nth)
{
    const pool_geom *g = st->params;
    const float *x = st->in[0]->data;
    float *y = st->out[0]->data;
    int64_t in_plane = 1, out_plane = 1, kvol = 1, b, e;
    for (int i = 0; i < g->sp; i++) {
        in_plane *= g->in[i];
        out_plane *= g->out[i];
        kvol *= g->k[i];
    }
    nk_split(g->n * g->c, ith, nth, &b, &e);
    for (int64_t t = b; t < e; t++) {
        const float *xp = x + t * in_plane;
        for (int64_t o = 0; o < out_plane; o++) {
            int64_t op[POOL_MAX_SP], rem = o;
            for (int i = g->sp - 1; i >= 0; i--) {
                op[i] = rem % g->out[i];
                rem /= g->out[i];
            }
            double sum = 0.0;
            int64_t valid = 0, padded = 0;
            for (int64_t kk = 0; kk < kvol; kk++) {
                int64_t off = 0, q = kk, pos[POOL_MAX_SP];
                bool inside = true, in_pad = true;
                for (int i = g->sp - 1; i >= 0; i--) {
                    int64_t ki = q % g->k[i];
                    q /= g->k[i];
                    pos[i] = op[i] * g->s[i] - g->pb[i] + ki * g->d[i];
                    inside = inside && pos[i] >= 0 && pos[i] < g->in[i];
                    /* ceil_mode windows may run past the padding: those
                     * points count for neither mode */
                    in_pad = in_pad && pos[i] >= -g->pb[i] &&
                             pos[i] < g->in[i] + g->pe[i];
                }
                padded += in_pad;
                if (!inside)
                    continue;
                for (int i = 0; i < g->sp; i++)
                    off = off * g->in[i] + pos[i];
                sum += xp[off];
                valid++;
            }
            int64_t cnt = g->count_include_pad ? padded : valid;
            y[t * out_plane + o] = cnt > 0 ? (float)(sum / (double)cnt)
                                           : 0.0f;
        }
    }
}

/* ---- GlobalAveragePool ---------------------------------------------------- */

void nk_globalavgpool_ref(const nk_step *st, int ith, int nth)
{
    const nk_shape *s = &st->in[0]->shape;
    const float *x = st->in[0]->data;
    float *y = st->out[0]->data;
    int64_t inner = 1, b, e;
    for (int i = 2; i < s->rank; i++)
        inner *= s->d[i];
    nk_split(s->d[0] * s->d[1], ith, nth, &b, &e);
    for (int64_t t = b; t < e; t++) {
        const float *xp = x + t * inner;
        double sum = 0.0;
        for (int64_t i = 0; i < inner; i++)
            sum += xp[i];
        y[t] = inner > 0 ? (float)(sum / (double)inner) : 0.0f;
    }
}
