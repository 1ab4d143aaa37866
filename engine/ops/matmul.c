/*
 * matmul.c — MatMul (numpy semantics, broadcast batch dims) and Gemm
 * (transA/transB, alpha, beta, broadcast C): shape inference, reference
 * kernels and kernels on the blocked GEMM. Both apply the fused node->act.
 */
#include "engine/ops/conv-impl.h"
#include "engine/kernels/gemm.h"
#include "engine/kernels/kernels-impl.h"

#include <string.h>

typedef struct mm_params {
    int64_t m, n, k;
    int64_t nb;                      /* batch matrices in the output */
    int rb;                          /* batch rank */
    int64_t bd[NK_MAX_RANK];         /* output batch dims */
    int64_t astr[NK_MAX_RANK], bstr[NK_MAX_RANK]; /* in matrices; 0 = bcast */
    int slots;
} mm_params;

typedef struct gemm_params {
    int64_t m, n, k;
    int ta, tb;
    float alpha, beta;
    int64_t c_rs, c_cs; /* C strides over Y's rows and columns; 0 = bcast */
    int slots;
} gemm_params;

/* Split A's and B's batch dims and broadcast them (numpy rules). */
static nk_status mm_shapes(nk_ctx *ctx, const nk_node *n, const nk_shape *a,
                           const nk_shape *b, mm_params *p, nk_shape *out)
{
    if (a->rank < 1 || b->rank < 1)
        return nk_fail_node(ctx, NK_SHAPE, n,
                            "inputs have rank %d and %d, expected >= 1",
                            a->rank, b->rank);
    int64_t ak = a->d[a->rank - 1];
    int64_t m = a->rank > 1 ? a->d[a->rank - 2] : 1;
    int64_t bk = b->rank > 1 ? b->d[b->rank - 2] : b->d[0];
    int64_t nn = b->rank > 1 ? b->d[b->rank - 1] : 1;
    if (ak != bk)
        return nk_fail_node(ctx, NK_SHAPE, n,
                            "A has %lld columns but B has %lld rows "
                            "(inner dims must match)",
                            (long long)ak, (long long)bk);
    int ra = a->rank > 2 ? a->rank - 2 : 0;
    int rbt = b->rank > 2 ? b->rank - 2 : 0;
    int r = ra > rbt ? ra : rbt;
    memset(p, 0, sizeof *p);
    p->m = m;
    p->n = nn;
    p->k = ak;
    p->rb = r;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - ra), ib = i - (r - rbt);
        int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return nk_fail_node(ctx, NK_SHAPE, n,
                                "batch dim %d is %lld in A and %lld in B, "
                                "which do not broadcast",
                                i, (long long)da, (long long)db);
        p->bd[i] = da > db ? da : db;
        if (da == 0 || db == 0)
            p->bd[i] = 0;
    }
    /* Strides in whole matrices, zero along broadcast dims. */
    int64_t sa = 1, sb = 1;
    for (int i = r - 1; i >= 0; i--) {
        int ia = i - (r - ra), ib = i - (r - rbt);
        int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
        p->astr[i] = da == 1 ? 0 : sa;
        p->bstr[i] = db == 1 ? 0 : sb;
        sa *= da;
        sb *= db;
    }
    p->nb = 1;
    for (int i = 0; i < r; i++)
        p->nb *= p->bd[i];
    if (out) {
        int64_t dims[NK_MAX_RANK];
        int rank = 0;
        for (int i = 0; i < r; i++)
            dims[rank++] = p->bd[i];
        if (a->rank > 1)
            dims[rank++] = m;
        if (b->rank > 1)
            dims[rank++] = nn;
        *out = nk_shape_make(rank, dims);
    }
    return NK_OK;
}

nk_status nk_infer_matmul(nk_ctx *ctx, const nk_node *n, nk_tensor *const *in,
                          int n_in, nk_tensor *const *out, int n_out)
{
    if (n_in < 2 || !in[0] || !in[1])
        return nk_fail_node(ctx, NK_FORMAT, n, "needs inputs A and B");
    if (in[0]->dtype != in[1]->dtype)
        return nk_fail_node(ctx, NK_FORMAT, n,
                            "A is %s but B is %s, expected the same dtype",
                            nk_dtype_name(in[0]->dtype),
                            nk_dtype_name(in[1]->dtype));
    mm_params p;
    nk_shape s;
    nk_status st = mm_shapes(ctx, n, &in[0]->shape, &in[1]->shape, &p, &s);
    if (st != NK_OK)
        return st;
    out[0]->dtype = in[0]->dtype;
    out[0]->shape = s;
    return NK_OK;
}

static bool is_ref(const nk_step *st)
{
    return st->kernel && st->kernel->isa == NK_ISA_REF;
}

nk_status nk_matmul_prepare(nk_ctx *ctx, nk_step *st)
{
    mm_params *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                       st->node->name);
    nk_status s = mm_shapes(ctx, st->node, &st->in[0]->shape,
                            &st->in[1]->shape, p, NULL);
    if (s != NK_OK) {
        nk_free(p);
        return s;
    }
    p->slots = nk_kernel_slots(st);
    st->params = p;
    st->work_bytes = is_ref(st) ? 0 : nk_sgemm_work_bytes(p->slots);
    return NK_OK;
}

/* Offsets (in matrices) of A and B for output batch index t. */
static void mm_batch(const mm_params *p, int64_t t, int64_t *oa, int64_t *ob)
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

void nk_matmul_ref(const nk_step *st, int ith, int nth)
{
    const mm_params *p = st->params;
    const float *a = st->in[0]->data, *bm = st->in[1]->data;
    float *y = st->out[0]->data;
    const nk_node *node = st->node;
    int64_t b, e;
    nk_split(p->nb * p->m, ith, nth, &b, &e);
    for (int64_t r = b; r < e; r++) {
        int64_t t = r / p->m, i = r % p->m, oa, ob;
        mm_batch(p, t, &oa, &ob);
        const float *ar = a + oa * p->m * p->k + i * p->k;
        const float *bp = bm + ob * p->k * p->n;
        float *yr = y + r * p->n;
        for (int64_t j = 0; j < p->n; j++) {
            double acc = 0.0;
            for (int64_t q = 0; q < p->k; q++)
                acc += (double)ar[q] * bp[q * p->n + j];
            yr[j] = (float)acc;
        }
        nk_act_apply(node->act, node->act_a0, node->act_a1, yr,
                     (size_t)p->n);
    }
}

void nk_matmul_blocked(const nk_step *st, int ith, int nth)
{
    const mm_params *p = st->params;
    int active = nk_slots_active(nth, p->slots);
    if (ith >= active)
        return;
    const float *a = st->in[0]->data, *bm = st->in[1]->data;
    float *y = st->out[0]->data;
    const nk_node *node = st->node;
    void *work = (char *)st->work + nk_sgemm_work_bytes(1) * (size_t)ith;
    int64_t mat = p->m * p->n;
    if (p->nb >= active) {
        /* Enough matrices: each thread takes whole batch entries. */
        int64_t b, e;
        nk_split(p->nb, ith, active, &b, &e);
        for (int64_t t = b; t < e; t++) {
            int64_t oa, ob;
            mm_batch(p, t, &oa, &ob);
            nk_sgemm_blocked(0, 0, (int)p->m, (int)p->n, (int)p->k, 1.0f,
                             a + oa * p->m * p->k, (int)p->k,
                             bm + ob * p->k * p->n, (int)p->n, 0.0f,
                             y + t * mat, (int)p->n, work, 0, 1);
            nk_act_apply(node->act, node->act_a0, node->act_a1,
                         y + t * mat, (size_t)mat);
        }
        return;
    }
    /* Few matrices: split each one's columns in multiples of 8. */
    int64_t units = (p->n + 7) / 8, ub, ue;
    nk_split(units, ith, active, &ub, &ue);
    int64_t j0 = ub * 8, j1 = ue * 8 < p->n ? ue * 8 : p->n;
    if (j0 >= j1)
        return;
    for (int64_t t = 0; t < p->nb; t++) {
        int64_t oa, ob;
        mm_batch(p, t, &oa, &ob);
        float *yt = y + t * mat;
        nk_sgemm_blocked(0, 0, (int)p->m, (int)(j1 - j0), (int)p->k, 1.0f,
                         a + oa * p->m * p->k, (int)p->k,
                         bm + ob * p->k * p->n + j0, (int)p->n, 0.0f,
                         yt + j0, (int)p->n, work, 0, 1);
        for (int64_t i = 0; i < p->m; i++)
            nk_act_apply(node->act, node->act_a0, node->act_a1,
                         yt + i * p->n + j0, (size_t)(j1 - j0));
    }
}

/* ---- Gemm ---------------------------------------------------------- */

static nk_status gemm_shapes(nk_ctx *ctx, const nk_node *n,
                             nk_tensor *const *in, int n_in, gemm_params *p)
{
    if (n_in < 2 || !in[0] || !in[1])
        return nk_fail_node(ctx, NK_FORMAT, n, "needs inputs A and B");
    const nk_shape *a = &in[0]->shape, *b = &in[1]->shape;
    if (a->rank != 2 || b->rank != 2)
        return nk_fail_node(ctx, NK_SHAPE, n,
                            "A has rank %d and B rank %d, expected 2 and 2",
                            a->rank, b->rank);
    memset(p, 0, sizeof *p);
    p->ta = nk_node_int(n, "transA", 0) != 0;
    p->tb = nk_node_int(n, "transB", 0) != 0;
    p->alpha = nk_node_float(n, "alpha", 1.0f);
    p->beta = nk_node_float(n, "beta", 1.0f);
    p->m = p->ta ? a->d[1] : a->d[0];
    p->k = p->ta ? a->d[0] : a->d[1];
    int64_t bk = p->tb ? b->d[1] : b->d[0];
    p->n = p->tb ? b->d[0] : b->d[1];
    if (bk != p->k)
        return nk_fail_node(ctx, NK_SHAPE, n,
                            "op(A) is [%lld, %lld] but op(B) has %lld rows "
                            "(transA %d, transB %d)",
                            (long long)p->m, (long long)p->k, (long long)bk,
                            p->ta, p->tb);
    const nk_tensor *c = n_in > 2 ? in[2] : NULL;
    if (c) {
        const nk_shape *cs = &c->shape;
        int64_t cm = 1, cn = 1;
        if (cs->rank == 2) {
            cm = cs->d[0];
            cn = cs->d[1];
        } else if (cs->rank == 1) {
            cn = cs->d[0];
        } else if (cs->rank != 0) {
            return nk_fail_node(ctx, NK_SHAPE, n,
                                "C '%s' has rank %d, expected <= 2",
                                c->name, cs->rank);
        }
        if ((cm != 1 && cm != p->m) || (cn != 1 && cn != p->n))
            return nk_fail_node(ctx, NK_SHAPE, n,
                                "C '%s' is [%lld, %lld], which does not "
                                "broadcast to [%lld, %lld]",
                                c->name, (long long)cm, (long long)cn,
                                (long long)p->m, (long long)p->n);
        p->c_rs = cm == 1 ? 0 : cn;
        p->c_cs = cn == 1 ? 0 : 1;
    }
    return NK_OK;
}

nk_status nk_infer_gemm(nk_ctx *ctx, const nk_node *n, nk_tensor *const *in,
                        int n_in, nk_tensor *const *out, int n_out)
{
    gemm_params p;
    nk_status st = gemm_shapes(ctx, n, in, n_in, &p);
    if (st != NK_OK)
        return st;
    for (int i = 1; i < 3 && i < n_in; i++)
        if (in[i] && in[i]->dtype != in[0]->dtype)
            return nk_fail_node(ctx, NK_FORMAT, n,
                                "input '%s' is %s, expected %s",
                                in[i]->name, nk_dtype_name(in[i]->dtype),
                                nk_dtype_name(in[0]->dtype));
    int64_t dims[2] = {p.m, p.n};
    out[0]->dtype = in[0]->dtype;
    out[0]->shape = nk_shape_make(2, dims);
    return NK_OK;
}

nk_status nk_gemm_prepare(nk_ctx *ctx, nk_step *st)
{
    gemm_params *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                       st->node->name);
    nk_status s = gemm_shapes(ctx, st->node, st->in, st->n_in, p);
    if (s != NK_OK) {
        nk_free(p);
        return s;
    }
    p->slots = nk_kernel_slots(st);
    st->params = p;
    st->work_bytes = is_ref(st) ? 0 : nk_sgemm_work_bytes(p->slots);
    return NK_OK;
}

static const float *gemm_c(const nk_step *st)
{
    return st->n_in > 2 && st->in[2] ? (const float *)st->in[2]->data : NULL;
}

void nk_gemm_ref(const nk_step *st, int ith, int nth)
{
    const gemm_params *p = st->params;
    const float *a = st->in[0]->data, *bm = st->in[1]->data;
    const float *c = gemm_c(st);
    float *y = st->out[0]->data;
    const nk_node *node = st->node;
    int64_t b, e;
    nk_split(p->m, ith, nth, &b, &e);
    for (int64_t i = b; i < e; i++) {
        float *yr = y + i * p->n;
        for (int64_t j = 0; j < p->n; j++) {
            double acc = 0.0;
            for (int64_t q = 0; q < p->k; q++) {
                float av = p->ta ? a[q * p->m + i] : a[i * p->k + q];
                float bv = p->tb ? bm[j * p->k + q] : bm[q * p->n + j];
                acc += (double)av * bv;
            }
            double v = p->alpha * acc;
            if (c)
                v += (double)p->beta * c[i * p->c_rs + j * p->c_cs];
            yr[j] = (float)v;
        }
        nk_act_apply(node->act, node->act_a0, node->act_a1, yr,
                     (size_t)p->n);
    }
}

void nk_gemm_blocked(const nk_step *st, int ith, int nth)
{
    const gemm_params *p = st->params;
    int active = nk_slots_active(nth, p->slots);
    if (ith >= active)
        return;
    const float *a = st->in[0]->data, *bm = st->in[1]->data;
    const float *c = gemm_c(st);
    float *y = st->out[0]->data;
    const nk_node *node = st->node;
    void *work = (char *)st->work + nk_sgemm_work_bytes(1) * (size_t)ith;
    int64_t units = (p->n + 7) / 8, ub, ue;
    nk_split(units, ith, active, &ub, &ue);
    int64_t j0 = ub * 8, j1 = ue * 8 < p->n ? ue * 8 : p->n;
    if (j0 >= j1)
        return;
    if (c)
        for (int64_t i = 0; i < p->m; i++)
            for (int64_t j = j0; j < j1; j++)
                y[i * p->n + j] = c[i * p->c_rs + j * p->c_cs];
    int64_t lda = p->ta ? p->m : p->k, ldb = p->tb ? p->k : p->n;
    const float *bj = bm + (p->tb ? j0 * ldb : j0);
    nk_sgemm_blocked(p->ta, p->tb, (int)p->m, (int)(j1 - j0), (int)p->k,
                     p->alpha, a, (int)lda, bj, (int)ldb,
                     c ? p->beta : 0.0f, y + j0, (int)p->n, work, 0, 1);
    for (int64_t i = 0; i < p->m; i++)
        nk_act_apply(node->act, node->act_a0, node->act_a1,
                     y + i * p->n + j0, (size_t)(j1 - j0));
}
