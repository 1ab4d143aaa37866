/*
 * shape.c (backward) — gradients of the data-movement ops: Flatten,
 * Reshape and Identity (copy), Transpose (the inverse permutation),
 * Concat (slices, one phase per input), Pad (crop; reflect/edge add up),
 * Softmax and Dropout (the forward's mask replayed).
 */
#include "engine/backward/backward.h"

#include <string.h>

void nk_bwd_copy(const nk_bstep *b, int phase, int ith, int nth)
{
    float *dx = b->dx[0];
    int64_t i, e;
    nk_split(nk_shape_numel(&b->fwd->out[0]->shape), ith, nth, &i, &e);
    if (!b->acc[0]) {
        if (e > i)
            memcpy(dx + i, b->dy + i, (size_t)(e - i) * sizeof *dx);
        return;
    }
    for (; i < e; i++)
        dx[i] += b->dy[i];
}

/* ---- Transpose ---------------------------------------------------------- */

typedef struct tr_bwd {
    int r;
    int64_t od[NK_MAX_RANK];  /* output dims */
    int64_t str[NK_MAX_RANK]; /* input stride of each output dim */
} tr_bwd;

nk_status nk_bwd_transpose_prepare(nk_ctx *ctx, nk_bstep *b)
{
    const nk_step *st = b->fwd;
    const nk_shape *s = &st->in[0]->shape;
    tr_bwd *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                       st->node->name);
    int64_t perm[NK_MAX_RANK], istr[NK_MAX_RANK], acc = 1;
    int np = nk_node_ints(st->node, "perm", perm, NK_MAX_RANK);
    for (int d = s->rank - 1; d >= 0; d--) {
        istr[d] = acc;
        acc *= s->d[d];
    }
    p->r = s->rank;
    for (int d = 0; d < s->rank; d++) {
        int64_t q = np == s->rank ? perm[d] : s->rank - 1 - d;
        if (q < 0)
            q += s->rank;
        p->od[d] = st->out[0]->shape.d[d];
        p->str[d] = istr[q];
    }
    b->params = p;
    return NK_OK;
}

void nk_bwd_transpose(const nk_bstep *b, int phase, int ith, int nth)
{
    const tr_bwd *p = b->params;
    int64_t i, e;
    nk_split(nk_shape_numel(&b->fwd->out[0]->shape), ith, nth, &i, &e);
    for (; i < e; i++) {
        int64_t rem = i, off = 0;
        for (int d = p->r - 1; d >= 0; d--) {
            off += (rem % p->od[d]) * p->str[d];
            rem /= p->od[d];
        }
        nk_bput(&b->dx[0][off], b->dy[i], b->acc[0]);
    }
}

/* ---- Concat ------------------------------------------------------------- */

typedef struct cat_bwd {
    int64_t outer, row;   /* in elements */
    int64_t chunk[];      /* [2 * n]: chunk of input i, then its offset */
} cat_bwd;

nk_status nk_bwd_concat_prepare(nk_ctx *ctx, nk_bstep *b)
{
    const nk_step *st = b->fwd;
    const nk_shape *os = &st->out[0]->shape;
    int64_t axis = nk_node_int(st->node, "axis", 0);
    if (axis < 0)
        axis += os->rank;
    cat_bwd *p = nk_calloc(1, sizeof *p + 2 * (size_t)st->n_in *
                                              sizeof(int64_t));
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                       st->node->name);
    int64_t inner = 1;
    p->outer = 1;
    for (int d = 0; d < axis; d++)
        p->outer *= os->d[d];
    for (int d = (int)axis + 1; d < os->rank; d++)
        inner *= os->d[d];
    for (int i = 0; i < st->n_in; i++) {
        p->chunk[i] = st->in[i]->shape.d[axis] * inner;
        p->chunk[st->n_in + i] = p->row;
        p->row += p->chunk[i];
    }
    b->params = p;
    b->phases = st->n_in;
    return NK_OK;
}

void nk_bwd_concat(const nk_bstep *b, int phase, int ith, int nth)
{
    const cat_bwd *p = b->params;
    float *dx = b->dx[phase];
    if (!dx)
        return;
    int64_t ch = p->chunk[phase], off = p->chunk[b->n_in + phase], t0, t1;
    nk_split(p->outer, ith, nth, &t0, &t1);
    for (int64_t o = t0; o < t1; o++)
        for (int64_t q = 0; q < ch; q++)
            nk_bput(&dx[o * ch + q], b->dy[o * p->row + off + q],
                    b->acc[phase]);
}

/* ---- Pad ---------------------------------------------------------------- */

typedef struct pad_bwd {
    int r, mode; /* 0 constant, 1 reflect, 2 edge */
    int64_t in_d[NK_MAX_RANK], out_d[NK_MAX_RANK], pb[NK_MAX_RANK];
} pad_bwd;

nk_status nk_bwd_pad_prepare(nk_ctx *ctx, nk_bstep *b)
{
    const nk_step *st = b->fwd;
    const nk_node *n = st->node;
    const nk_shape *s = &st->in[0]->shape;
    pad_bwd *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory", n->name);
    int64_t pads[2 * NK_MAX_RANK] = {0};
    if (st->n_in > 1 && st->in[1] && st->in[1]->data)
        memcpy(pads, st->in[1]->data,
               (size_t)(2 * s->rank) * sizeof(int64_t));
    else
        nk_node_ints(n, "pads", pads, 2 * NK_MAX_RANK);
    const char *m = nk_node_string(n, "mode", "constant");
    p->mode = !strcmp(m, "reflect") ? 1 : !strcmp(m, "edge") ? 2 : 0;
    p->r = s->rank;
    for (int d = 0; d < s->rank; d++) {
        p->in_d[d] = s->d[d];
        p->out_d[d] = st->out[0]->shape.d[d];
        p->pb[d] = pads[d];
    }
    b->params = p;
    return NK_OK;
}

static int64_t pad_src(int mode, int64_t o, int64_t pb, int64_t len)
{
    int64_t i = o - pb;
    if (i >= 0 && i < len)
        return i;
    if (mode == 2)
        return i < 0 ? 0 : len - 1;
    if (mode == 1)
        return len == 1 ? 0 : i < 0 ? -i : 2 * (len - 1) - i;
    return -1;
}

void nk_bwd_pad(const nk_bstep *b, int phase, int ith, int nth)
{
    /* Reflect and edge send several outputs to one input: one thread. */
    if (ith != 0)
        return;
    const pad_bwd *p = b->params;
    float *dx = b->dx[0];
    int64_t nin = nk_shape_numel(&b->fwd->in[0]->shape);
    int64_t nout = nk_shape_numel(&b->fwd->out[0]->shape);
    nk_bwd_clear(dx, b->acc[0], 0, nin);
    for (int64_t o = 0; o < nout; o++) {
        int64_t rem = o, off = 0, str = 1;
        bool skip = false;
        for (int d = p->r - 1; d >= 0; d--) {
            int64_t i = pad_src(p->mode, rem % p->out_d[d], p->pb[d],
                                p->in_d[d]);
            rem /= p->out_d[d];
            if (i < 0) {
                skip = true;
                break;
            }
            off += i * str;
            str *= p->in_d[d];
        }
        if (!skip)
            dx[off] += b->dy[o];
    }
}

/* ---- Softmax ------------------------------------------------------------ */

typedef struct sm_bwd {
    int64_t outer, len, inner;
} sm_bwd;

nk_status nk_bwd_softmax_prepare(nk_ctx *ctx, nk_bstep *b)
{
    const nk_step *st = b->fwd;
    const nk_shape *s = &st->in[0]->shape;
    sm_bwd *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                       st->node->name);
    int64_t axis = nk_node_int(st->node, "axis", -1);
    if (axis < 0)
        axis += s->rank;
    p->outer = p->inner = 1;
    for (int d = 0; d < axis; d++)
        p->outer *= s->d[d];
    p->len = s->d[axis];
    for (int d = (int)axis + 1; d < s->rank; d++)
        p->inner *= s->d[d];
    b->params = p;
    return NK_OK;
}

void nk_bwd_softmax(const nk_bstep *b, int phase, int ith, int nth)
{
    const sm_bwd *p = b->params;
    const float *y = b->fwd->out[0]->data, *dy = b->dy;
    float *dx = b->dx[0];
    int64_t l0, l1;
    nk_split(p->outer * p->inner, ith, nth, &l0, &l1);
    for (int64_t lane = l0; lane < l1; lane++) {
        int64_t base = (lane / p->inner) * p->len * p->inner +
                       lane % p->inner;
        double s = 0.0;
        for (int64_t k = 0; k < p->len; k++)
            s += (double)dy[base + k * p->inner] * y[base + k * p->inner];
        for (int64_t k = 0; k < p->len; k++) {
            int64_t q = base + k * p->inner;
            nk_bput(&dx[q], (float)(y[q] * (dy[q] - s)), b->acc[0]);
        }
    }
}

/* ---- Dropout ------------------------------------------------------------ */

void nk_bwd_dropout(const nk_bstep *b, int phase, int ith, int nth)
{
    nk_rng rng;
    float ratio;
    if (!nk_dropout_last_mask(b->fwd, &rng, &ratio)) {
        nk_bwd_copy(b, phase, ith, nth);
        return;
    }
    /* The mask is one sequential RNG stream, as in the forward. */
    if (ith != 0)
        return;
    const float scale = ratio < 1.0f ? 1.0f / (1.0f - ratio) : 0.0f;
    int64_t cnt = nk_shape_numel(&b->fwd->out[0]->shape);
    for (int64_t i = 0; i < cnt; i++) {
        bool keep = nk_rng_uniform(&rng) >= ratio;
        nk_bput(&b->dx[0][i], keep ? b->dy[i] * scale : 0.0f, b->acc[0]);
    }
}
