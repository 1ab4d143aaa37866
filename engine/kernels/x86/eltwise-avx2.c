/*
 * eltwise-avx2.c — AVX2 element-wise kernels: Add/Sub/Mul/Div for equal
 * shapes, a scalar operand, or a per-channel [N|1, C, 1, 1] operand
 * against [N, C, H, W] (squeeze-excite scaling), with the fused
 * activation; and Softmax over a contiguous last axis with a vectorised
 * exp (nk_blk_exp_neg, blocked-avx2.h). -mavx2 -mfma for this file only.
 */
#include "engine/kernels/conv-fast.h"
#include "engine/kernels/kernels-impl.h"

#if defined(__x86_64__) || defined(_M_X64)
#include "engine/kernels/x86/blocked-avx2.h" /* nk_blk_exp_neg */

#include <immintrin.h>
#include <math.h>

typedef enum { EW_FLAT, EW_A_SCALAR, EW_B_SCALAR, EW_B_CHAN, EW_A_CHAN } ew_mode;

/* Which fast case (if any) a binary node is. */
static int ew_classify(const nk_step *st, ew_mode *mode)
{
    if (st->n_in != 2 || !st->in[0] || !st->in[1] || st->n_out != 1)
        return 0;
    const nk_shape *a = &st->in[0]->shape, *b = &st->in[1]->shape;
    const nk_shape *y = &st->out[0]->shape;
    if (nk_shape_equal(a, b) && nk_shape_equal(a, y)) {
        *mode = EW_FLAT;
        return 1;
    }
    if (nk_shape_numel(b) == 1 && nk_shape_equal(a, y)) {
        *mode = EW_B_SCALAR;
        return 1;
    }
    if (nk_shape_numel(a) == 1 && nk_shape_equal(b, y)) {
        *mode = EW_A_SCALAR;
        return 1;
    }
    for (int side = 0; side < 2; side++) {
        const nk_shape *big = side ? b : a, *ch = side ? a : b;
        if (big->rank != 4 || ch->rank != 4 || !nk_shape_equal(big, y))
            continue;
        if ((ch->d[0] == big->d[0] || ch->d[0] == 1) &&
            ch->d[1] == big->d[1] && ch->d[2] == 1 && ch->d[3] == 1) {
            *mode = side ? EW_A_CHAN : EW_B_CHAN;
            return 1;
        }
    }
    return 0;
}

bool nk_binary_avx2_supports(const nk_step *st)
{
    ew_mode m;
    return ew_classify(st, &m) != 0;
}

/* y = a (op) b over n values; sb = 0 broadcasts b[0], sa = 0 a[0]. */
static void ew_row(nk_op op, const float *a, int sa, const float *b, int sb,
                   float *y, int64_t n)
{
    int64_t i = 0;
    __m256 av = _mm256_set1_ps(a[0]), bv = _mm256_set1_ps(b[0]);
    for (; i + 8 <= n; i += 8) {
        __m256 u = sa ? _mm256_loadu_ps(a + i) : av;
        __m256 v = sb ? _mm256_loadu_ps(b + i) : bv;
        __m256 r;
        switch (op) {
        case NK_OP_ADD: r = _mm256_add_ps(u, v); break;
        case NK_OP_SUB: r = _mm256_sub_ps(u, v); break;
        case NK_OP_MUL: r = _mm256_mul_ps(u, v); break;
        default: r = _mm256_div_ps(u, v); break;
        }
        _mm256_storeu_ps(y + i, r);
    }
    for (; i < n; i++) {
        float u = a[sa ? i : 0], v = b[sb ? i : 0];
        switch (op) {
        case NK_OP_ADD: y[i] = u + v; break;
        case NK_OP_SUB: y[i] = u - v; break;
        case NK_OP_MUL: y[i] = u * v; break;
        default: y[i] = u / v; break;
        }
    }
}

void nk_binary_avx2_run(const nk_step *st, int ith, int nth)
{
    ew_mode mode = EW_FLAT;
    if (!ew_classify(st, &mode))
        return; /* not reached: supports() said yes at plan time */
    const float *a = st->in[0]->data, *b = st->in[1]->data;
    float *y = st->out[0]->data;
    nk_op op = st->node->op;
    const nk_shape *ys = &st->out[0]->shape;
    int64_t b0, e0;
    if (mode == EW_B_CHAN || mode == EW_A_CHAN) {
        const nk_shape *cs = mode == EW_B_CHAN ? &st->in[1]->shape
                                               : &st->in[0]->shape;
        int64_t c = ys->d[1], hw = ys->d[2] * ys->d[3];
        bool per_n = cs->d[0] != 1;
        nk_split(ys->d[0] * c, ith, nth, &b0, &e0);
        for (int64_t t = b0; t < e0; t++) {
            int64_t ci = per_n ? t : t % c;
            if (mode == EW_B_CHAN)
                ew_row(op, a + t * hw, 1, b + ci, 0, y + t * hw, hw);
            else
                ew_row(op, a + ci, 0, b + t * hw, 1, y + t * hw, hw);
            if (st->act != NK_ACT_NONE)
                nk_act_apply(st->act, st->act_a0, st->act_a1, y + t * hw,
                             (size_t)hw);
        }
        return;
    }
    int64_t n = nk_shape_numel(ys);
    /* Split in whole cache lines. */
    nk_split((n + 15) / 16, ith, nth, &b0, &e0);
    b0 *= 16;
    e0 = e0 * 16 < n ? e0 * 16 : n;
    if (b0 >= e0)
        return;
    if (mode == EW_FLAT)
        ew_row(op, a + b0, 1, b + b0, 1, y + b0, e0 - b0);
    else if (mode == EW_B_SCALAR)
        ew_row(op, a + b0, 1, b, 0, y + b0, e0 - b0);
    else
        ew_row(op, a, 0, b + b0, 1, y + b0, e0 - b0);
    if (st->act != NK_ACT_NONE)
        nk_act_apply(st->act, st->act_a0, st->act_a1, y + b0,
                     (size_t)(e0 - b0));
}

bool nk_softmax_avx2_supports(const nk_step *st)
{
    const nk_shape *s = &st->in[0]->shape;
    int64_t axis = nk_node_int(st->node, "axis", -1);
    if (axis < 0)
        axis += s->rank;
    return s->rank >= 1 && axis == s->rank - 1; /* contiguous rows */
}

void nk_softmax_avx2_run(const nk_step *st, int ith, int nth)
{
    const nk_shape *s = &st->in[0]->shape;
    int64_t len = s->rank ? s->d[s->rank - 1] : 1;
    int64_t rows = len ? nk_shape_numel(s) / len : 0, b, e;
    const float *x = st->in[0]->data;
    float *y = st->out[0]->data;
    nk_split(rows, ith, nth, &b, &e);
    for (int64_t r = b; r < e; r++) {
        const float *xr = x + r * len;
        float *yr = y + r * len;
        float m = -INFINITY;
        for (int64_t k = 0; k < len; k++)
            m = xr[k] > m || xr[k] != xr[k] ? xr[k] : m;
        __m256 mv = _mm256_set1_ps(m), acc = _mm256_setzero_ps();
        int64_t k = 0;
        for (; k + 8 <= len; k += 8) {
            __m256 v = nk_blk_exp_neg(_mm256_sub_ps(_mm256_loadu_ps(xr + k), mv));
            _mm256_storeu_ps(yr + k, v);
            acc = _mm256_add_ps(acc, v);
        }
        float part[8];
        _mm256_storeu_ps(part, acc);
        double sum = 0.0;
        for (int i = 0; i < 8; i++)
            sum += part[i];
        for (; k < len; k++) {
            yr[k] = expf(xr[k] - m);
            sum += yr[k];
        }
        __m256 inv = _mm256_set1_ps((float)(1.0 / sum));
        for (k = 0; k + 8 <= len; k += 8)
            _mm256_storeu_ps(yr + k, _mm256_mul_ps(_mm256_loadu_ps(yr + k), inv));
        for (; k < len; k++)
            yr[k] *= (float)(1.0 / sum);
    }
}
#endif
