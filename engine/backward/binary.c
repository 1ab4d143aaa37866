/*
 * binary.c (backward) — Add Sub Mul Div with numpy broadcasting: each
 * input's gradient is the output gradient times the local derivative,
 * summed over the dims along which that input was broadcast. One phase
 * per input, so Add(x, x) accumulates safely.
 */
#include "engine/backward/backward.h"

#include <string.h>

typedef struct bin_bwd {
    int r;
    int64_t od[NK_MAX_RANK];     /* output dims */
    int64_t ostr[NK_MAX_RANK];   /* output strides */
    int64_t s[2][NK_MAX_RANK];   /* input strides over output dims, 0 =
                                    broadcast */
    int64_t n, numel[2];
} bin_bwd;

nk_status nk_bwd_binary_prepare(nk_ctx *ctx, nk_bstep *b)
{
    const nk_step *st = b->fwd;
    bin_bwd *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                       st->node->name);
    const nk_shape *os = &st->out[0]->shape;
    p->r = os->rank;
    p->n = nk_shape_numel(os);
    int64_t acc = 1;
    for (int d = os->rank - 1; d >= 0; d--) {
        p->od[d] = os->d[d];
        p->ostr[d] = acc;
        acc *= os->d[d];
    }
    for (int i = 0; i < 2; i++) {
        const nk_shape *s = &st->in[i]->shape;
        p->numel[i] = nk_shape_numel(s);
        int64_t sa = 1;
        for (int d = os->rank - 1; d >= 0; d--) {
            int ds = d - (os->rank - s->rank);
            int64_t dim = ds >= 0 ? s->d[ds] : 1;
            p->s[i][d] = dim == 1 ? 0 : sa;
            sa *= dim;
        }
    }
    b->params = p;
    b->phases = 2;
    return NK_OK;
}

/* d(out)/d(input i) at one output position, times dy. */
static inline float local_grad(nk_op op, int i, float dy, float a, float bv)
{
    switch (op) {
    case NK_OP_ADD:
        return dy;
    case NK_OP_SUB:
        return i == 0 ? dy : -dy;
    case NK_OP_MUL:
        return i == 0 ? dy * bv : dy * a;
    default: /* Div, as torch: -dy * a / (b * b) */
        return i == 0 ? dy / bv : -dy * a / (bv * bv);
    }
}

void nk_bwd_binary(const nk_bstep *b, int phase, int ith, int nth)
{
    const bin_bwd *p = b->params;
    const nk_step *st = b->fwd;
    const int i = phase, o = 1 - phase;
    float *dx = b->dx[i];
    if (!dx)
        return;
    const bool acc = b->acc[i];
    const nk_op op = st->node->op;
    const float *a = st->in[0]->data, *bb = st->in[1]->data, *dy = b->dy;
    const float *other = st->in[o]->data;
    int64_t j, e;
    nk_split(p->numel[i], ith, nth, &j, &e);
    if (p->numel[i] == p->n && p->numel[o] == p->n) {
        for (; j < e; j++)
            nk_bput(&dx[j], local_grad(op, i, dy[j], a[j], bb[j]), acc);
        return;
    }
    const int r = p->r;
    /* reduced dims: broadcast in input i, > 1 in the output */
    int rd[NK_MAX_RANK], nr = 0;
    for (int d = 0; d < r; d++)
        if (p->s[i][d] == 0 && p->od[d] > 1)
            rd[nr++] = d;
    for (; j < e; j++) {
        /* output and other-input offsets of input element j */
        int64_t rem = j, ob = 0, xb = 0;
        for (int d = r - 1; d >= 0; d--) {
            if (p->s[i][d] == 0)
                continue;
            int64_t idx = rem % p->od[d];
            rem /= p->od[d];
            ob += idx * p->ostr[d];
            xb += idx * p->s[o][d];
        }
        int64_t cnt[NK_MAX_RANK] = {0};
        double sum = 0.0;
        int64_t oo = ob, xo = xb;
        for (;;) {
            float av = i == 0 ? a[j] : other[xo];
            float bv = i == 0 ? other[xo] : bb[j];
            sum += local_grad(op, i, dy[oo], av, bv);
            int k = nr - 1;
            for (; k >= 0; k--) {
                int d = rd[k];
                if (++cnt[k] < p->od[d]) {
                    oo += p->ostr[d];
                    xo += p->s[o][d];
                    break;
                }
                oo -= (p->od[d] - 1) * p->ostr[d];
                xo -= (p->od[d] - 1) * p->s[o][d];
                cnt[k] = 0;
            }
            if (k < 0)
                break;
        }
        nk_bput(&dx[j], (float)sum, acc);
    }
}
