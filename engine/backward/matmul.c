/*
 * matmul.c (backward) — Gemm and MatMul gradients on the blocked GEMM:
 * Gemm dA = alpha dY op(B)^T (transposed back when transA), dB likewise,
 * dC = beta dY summed over C's broadcast dims; MatMul per batch matrix,
 * summing over broadcast batch dims.
 */
#include "engine/backward/backward.h"
#include "engine/kernels/gemm.h"

#include <string.h>

typedef struct gemm_bwd {
    int64_t m, n, k;
    int ta, tb;
    float alpha, beta;
    int64_t cm, cn; /* C's rows and columns (1 = broadcast) */
} gemm_bwd;

nk_status nk_bwd_gemm_prepare(nk_ctx *ctx, nk_bstep *b)
{
    const nk_step *st = b->fwd;
    const nk_node *n = st->node;
    gemm_bwd *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory", n->name);
    const nk_shape *a = &st->in[0]->shape;
    p->ta = nk_node_int(n, "transA", 0) != 0;
    p->tb = nk_node_int(n, "transB", 0) != 0;
    p->alpha = nk_node_float(n, "alpha", 1.0f);
    p->beta = nk_node_float(n, "beta", 1.0f);
    p->m = p->ta ? a->d[1] : a->d[0];
    p->k = p->ta ? a->d[0] : a->d[1];
    p->n = st->out[0]->shape.d[1];
    p->cm = p->cn = 1;
    if (st->n_in > 2 && st->in[2]) {
        const nk_shape *cs = &st->in[2]->shape;
        if (cs->rank == 2) {
            p->cm = cs->d[0];
            p->cn = cs->d[1];
        } else if (cs->rank == 1) {
            p->cn = cs->d[0];
        }
    }
    b->params = p;
    b->phases = 3;
    b->work_bytes = nk_sgemm_work_bytes(b->slots);
    return NK_OK;
}

void nk_bwd_gemm(const nk_bstep *b, int phase, int ith, int nth)
{
    const gemm_bwd *p = b->params;
    int active = nth < b->slots ? nth : b->slots;
    if (ith >= active)
        return;
    const nk_step *st = b->fwd;
    const float *a = st->in[0]->data, *bm = st->in[1]->data, *dy = b->dy;
    const int m = (int)p->m, n = (int)p->n, k = (int)p->k;
    if (phase == 0 && b->dx[0]) {
        float beta = b->acc[0] ? 1.0f : 0.0f;
        if (!p->ta)
            nk_sgemm_blocked(0, p->tb ? 0 : 1, m, k, n, p->alpha, dy, n, bm,
                             p->tb ? k : n, beta, b->dx[0], k, b->work, ith,
                             active);
        else
            nk_sgemm_blocked(p->tb ? 1 : 0, 1, k, m, n, p->alpha, bm,
                             p->tb ? k : n, dy, n, beta, b->dx[0], m,
                             b->work, ith, active);
    } else if (phase == 1 && b->dx[1]) {
        float beta = b->acc[1] ? 1.0f : 0.0f;
        if (!p->tb)
            nk_sgemm_blocked(p->ta ? 0 : 1, 0, k, n, m, p->alpha, a,
                             p->ta ? m : k, dy, n, beta, b->dx[1], n,
                             b->work, ith, active);
        else
            nk_sgemm_blocked(1, p->ta ? 1 : 0, n, k, m, p->alpha, dy, n, a,
                             p->ta ? m : k, beta, b->dx[1], k, b->work, ith,
                             active);
    } else if (phase == 2 && st->n_in > 2 && b->dx[2]) {
        int64_t t0, t1;
        nk_split(p->cm * p->cn, ith, active, &t0, &t1);
        for (int64_t t = t0; t < t1; t++) {
            int64_t ci = t / p->cn, cj = t % p->cn;
            int64_t i0 = p->cm == 1 ? 0 : ci, i1 = p->cm == 1 ? p->m : ci + 1;
            int64_t j0 = p->cn == 1 ? 0 : cj, j1 = p->cn == 1 ? p->n : cj + 1;
            double s = 0.0;
            for (int64_t i = i0; i < i1; i++)
                for (int64_t j = j0; j < j1; j++)
                    s += dy[i * p->n + j];
            nk_bput(&b->dx[2][t], (float)(p->beta * s), b->acc[2]);
        }
    }
}

/* ---- MatMul ------------------------------------------------------------- */

typedef struct mm_bwd {
    int64_t m, n, k, nb;
    int rb;
    int64_t bd[NK_MAX_RANK], astr[NK_MAX_RANK], bstr[NK_MAX_RANK];
    int64_t na, nbm; /* elements of A and B */
} mm_bwd;

nk_status nk_bwd_matmul_prepare(nk_ctx *ctx, nk_bstep *b)
{
    const nk_step *st = b->fwd;
    mm_bwd *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                       st->node->name);
    const nk_shape *a = &st->in[0]->shape, *bs = &st->in[1]->shape;
    p->k = a->d[a->rank - 1];
    p->m = a->rank > 1 ? a->d[a->rank - 2] : 1;
    p->n = bs->rank > 1 ? bs->d[bs->rank - 1] : 1;
    int ra = a->rank > 2 ? a->rank - 2 : 0;
    int rbt = bs->rank > 2 ? bs->rank - 2 : 0;
    int r = ra > rbt ? ra : rbt;
    p->rb = r;
    int64_t sa = 1, sb = 1;
    p->nb = 1;
    for (int i = r - 1; i >= 0; i--) {
        int ia = i - (r - ra), ib = i - (r - rbt);
        int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? bs->d[ib] : 1;
        p->bd[i] = da > db ? da : db;
        p->astr[i] = da == 1 ? 0 : sa;
        p->bstr[i] = db == 1 ? 0 : sb;
        sa *= da;
        sb *= db;
        p->nb *= p->bd[i];
    }
    p->na = nk_shape_numel(a);
    p->nbm = nk_shape_numel(bs);
    b->params = p;
    b->phases = 3;
    b->work_bytes = nk_sgemm_work_bytes(b->slots);
    return NK_OK;
}

static void mm_batch(const mm_bwd *p, int64_t t, int64_t *oa, int64_t *ob)
{
    int64_t a = 0, b = 0;
    for (int i = p->rb - 1; i >= 0; i--) {
        int64_t idx = t % p->bd[i];
        t /= p->bd[i];
        a += idx * p->astr[i];
        b += idx * p->bstr[i];
    }
    *oa = a;
    *ob = b;
}

void nk_bwd_matmul(const nk_bstep *b, int phase, int ith, int nth)
{
    const mm_bwd *p = b->params;
    int active = nth < b->slots ? nth : b->slots;
    if (ith >= active)
        return;
    const nk_step *st = b->fwd;
    const float *a = st->in[0]->data, *bm = st->in[1]->data, *dy = b->dy;
    const int m = (int)p->m, n = (int)p->n, k = (int)p->k;
    float *da = b->dx[0], *db = b->dx[1];
    if (phase == 0) {
        /* broadcast batches add up: start from zero unless accumulating */
        int64_t t0, t1;
        if (da) {
            nk_split(p->na, ith, active, &t0, &t1);
            nk_bwd_clear(da, b->acc[0], t0, t1);
        }
        if (db) {
            nk_split(p->nbm, ith, active, &t0, &t1);
            nk_bwd_clear(db, b->acc[1], t0, t1);
        }
        return;
    }
    for (int64_t t = 0; t < p->nb; t++) {
        int64_t oa, ob;
        mm_batch(p, t, &oa, &ob);
        const float *dyt = dy + t * p->m * p->n;
        if (phase == 1 && da) /* dA += dY B^T */
            nk_sgemm_blocked(0, 1, m, k, n, 1.0f, dyt, n,
                             bm + ob * p->k * p->n, n, 1.0f,
                             da + oa * p->m * p->k, k, b->work, ith, active);
        else if (phase == 2 && db) /* dB += A^T dY */
            nk_sgemm_blocked(1, 0, k, n, m, 1.0f, a + oa * p->m * p->k, k,
                             dyt, n, 1.0f, db + ob * p->k * p->n, n,
                             b->work, ith, active);
    }
}
