/*
 * dwchain-avx2.c — fused depthwise chains: a pointwise conv (the
 * expansion), the depthwise conv it feeds and the pointwise conv after it
 * (the projection, with its residual) run as one step, band of output
 * rows by band of output rows, so that the wide tensors between them
 * (6x the block's channels in MobileNet v2) live only in each thread's
 * scratch, in L2, and never travel to memory and back. The arithmetic is
 * the blocked kernels' own (nk_convblk_avx2_pointwise, the depthwise row
 * copies): a chain computes exactly what the three steps compute.
 *
 * Per thread the scratch holds a ring of the expansion's output rows and
 * one band of depthwise output rows. Row iy of the ring sits in slot
 * iy % cap, and slots below `mirror` are written twice (also at cap +
 * slot), so that every depthwise window, (kh - 1) * dh + 1 rows, is
 * contiguous in the ring. A thread walks its items (image, band) in
 * order and computes each expansion row once; an item that does not
 * continue the ring (the first of a share, one taken from another
 * thread) computes the rows it needs. -mavx2 -mfma only.
 */
#include "engine/kernels/blocked.h"

#if defined(__x86_64__) || defined(_M_X64)
#include "engine/kernels/x86/blocked-avx2.h"
#include "engine/ops/conv-impl.h"

#include <string.h>

#define ALIGN 64
/* Output pixels per band at least (pointwise tiles on shorter runs pay
 * their set-up too often), and scratch per thread at most, so that the
 * ring and the band stay in this machine's 512 KiB L2 next to weights. */
#ifndef CHAIN_PIX
#define CHAIN_PIX 48
#endif
#ifndef CHAIN_BYTES
#define CHAIN_BYTES (384 * 1024)
#endif
/* Chains only where the depthwise conv's input or output outgrows L2
 * several times over: smaller ones stay in cache between the steps, and
 * there the chain's shorter pointwise runs cost more than it saves
 * (1-3% slower on MobileNet v2's 28x28 and 14x14 blocks at batch 1). */
#ifndef CHAIN_MIN_BYTES
#define CHAIN_MIN_BYTES (1024 * 1024)
#endif

struct nk_dwchain {
    const nk_step *pw, *dw, *pj; /* pw or pj may be NULL, not both */
    nk_conv_geom g;              /* the depthwise conv's */
    int64_t cb;                  /* its channel blocks */
    int64_t pjb;                 /* output blocks of pj */
    nk_dwblk_row_fn *row;
    int64_t band, nband;         /* output rows per item, items per image */
    int64_t cap, mirror;         /* ring rows, rows written twice (pw) */
    int64_t rstride;             /* floats per channel block of the ring */
    size_t ring_floats, band_floats, slot_bytes;
};

/* Per-thread state: which rows of which image the ring holds. */
typedef struct ring_state {
    int64_t n, lo, hi;
} ring_state;

static size_t round_up(size_t b) { return (b + ALIGN - 1) / ALIGN * ALIGN; }

/* Scratch of a band of `band` rows and a ring of at least cap rows. */
static void chain_sizes(nk_dwchain *c, int64_t band, int64_t cap)
{
    const nk_conv_geom *g = &c->g;
    c->band = band;
    c->nband = (g->oh + band - 1) / band;
    c->cap = c->mirror = c->rstride = 0;
    c->ring_floats = 0;
    if (c->pw) {
        int64_t span = (band - 1) * g->sh + (g->kh - 1) * g->dh + 1;
        cap = cap > span ? cap : span;
        c->cap = cap < g->h ? cap : g->h;
        c->mirror = cap < g->h ? (g->kh - 1) * g->dh : 0;
        c->rstride = (c->cap + c->mirror) * g->w * NK_BLK;
        c->ring_floats = (size_t)(c->cb * c->rstride);
    }
    c->band_floats = c->pj ? (size_t)(c->cb * band * g->ow * NK_BLK) : 0;
    c->slot_bytes = round_up(c->ring_floats * sizeof(float)) +
                    round_up(c->band_floats * sizeof(float)) + ALIGN;
}

nk_dwchain *nk_dwchain_make(const nk_step *pw, const nk_step *dw,
                            const nk_step *pj, int nth, size_t *work_bytes)
{
    if ((!pw && !pj) || !dw || dw->kernel->run != nk_dwblk_avx2_run)
        return NULL;
    if ((pw && (!nk_convblk_avx2_is_pointwise(pw) || pw->residual)) ||
        (pj && !nk_convblk_avx2_is_pointwise(pj)))
        return NULL;
    if (dw->in[0]->nbytes < CHAIN_MIN_BYTES &&
        dw->out[0]->nbytes < CHAIN_MIN_BYTES)
        return NULL;
    nk_dwchain *c = nk_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (nk_conv_geom_from_node(NULL, dw->node, &dw->in[0]->shape,
                               &dw->in[1]->shape, &c->g) != NK_OK) {
        nk_free(c);
        return NULL;
    }
    c->pw = pw;
    c->dw = dw;
    c->pj = pj;
    c->cb = nk_blk_cb(c->g.c);
    c->pjb = pj ? nk_blk_cb(pj->out[0]->shape.d[1]) : 0;
    c->row = nk_dwblk_avx2_row_fn(dw);
    /* The shortest band with CHAIN_PIX pixels, shortened while its
     * scratch exceeds CHAIN_BYTES. */
    int64_t band = (CHAIN_PIX + c->g.ow - 1) / c->g.ow;
    if (band > c->g.oh)
        band = c->g.oh;
    chain_sizes(c, band, 0);
    while (c->band > 1 && c->slot_bytes > CHAIN_BYTES)
        chain_sizes(c, c->band - 1, 0);
    if (c->slot_bytes > CHAIN_BYTES) {
        /* rows too wide for L2 even one at a time: nothing to gain */
        nk_free(c);
        return NULL;
    }
    /* Then a longer ring while it fits: (kh - 1) * dh of its cap rows
     * are written twice, 2 of 3 in a 3-row ring. */
    while (c->pw && c->cap < c->g.h) {
        nk_dwchain t = *c;
        chain_sizes(&t, c->band, c->cap + 1);
        if (t.slot_bytes > CHAIN_BYTES)
            break;
        *c = t;
    }
    *work_bytes = c->slot_bytes * (size_t)(nth > 0 ? nth : 1);
    return c;
}

void nk_dwchain_free(nk_dwchain *c) { nk_free(c); }

const nk_step *nk_dwchain_step(const nk_dwchain *c, int k)
{
    return k == 0 ? c->pw : k == 1 ? c->dw : k == 2 ? c->pj : NULL;
}

/* Expansion rows [a, b) of image n into the ring (every channel block),
 * slots below mirror copied to their second place. */
static void ring_fill(const nk_dwchain *c, float *ring, int64_t n, int64_t a,
                      int64_t b)
{
    const nk_conv_geom *g = &c->g;
    const int64_t W = g->w, H = g->h;
    const int64_t cin = nk_blk_cb(c->pw->in[0]->shape.d[1]);
    const float *x = (const float *)c->pw->in[0]->data +
                     n * cin * H * W * NK_BLK;
    while (a < b) {
        /* a run of rows in consecutive slots */
        int64_t s = a % c->cap, e = b;
        if (e - a > c->cap - s)
            e = a + (c->cap - s);
        nk_convblk_avx2_pointwise(c->pw, x + a * W * NK_BLK, H * W * NK_BLK,
                                  ring + s * W * NK_BLK, c->rstride, NULL,
                                  (e - a) * W);
        for (int64_t iy = a; iy < e; iy++) {
            int64_t sl = iy % c->cap;
            if (sl >= c->mirror)
                continue;
            for (int64_t k = 0; k < c->cb; k++) {
                float *r = ring + k * c->rstride;
                memcpy(r + (c->cap + sl) * W * NK_BLK, r + sl * W * NK_BLK,
                       (size_t)(W * NK_BLK) * sizeof(float));
            }
        }
        a = e;
    }
}

/* Item i: the rows of band i % nband of image i / nband. */
static void run_band(const nk_dwchain *c, int64_t i, float *ring,
                     float *band, ring_state *rs, const nk_blk_actv *act)
{
    const nk_conv_geom *g = &c->g;
    const int64_t n = i / c->nband, oy0 = i % c->nband * c->band;
    const int64_t oy1 = oy0 + c->band < g->oh ? oy0 + c->band : g->oh;
    const int64_t W = g->w, H = g->h, OW = g->ow, OH = g->oh;
    if (c->pw) {
        int64_t lo = oy0 * g->sh - g->pt;
        int64_t hi = (oy1 - 1) * g->sh - g->pt + (g->kh - 1) * g->dh + 1;
        lo = lo < 0 ? 0 : lo;
        hi = hi > H ? H : hi;
        if (rs->n != n || lo < rs->lo || lo > rs->hi) {
            rs->n = n;
            rs->lo = rs->hi = lo;
        }
        if (hi > rs->hi) {
            ring_fill(c, ring, n, rs->hi, hi);
            rs->hi = hi;
        }
        if (rs->lo < rs->hi - c->cap)
            rs->lo = rs->hi - c->cap;
    }
    const float *xin = c->pw ? NULL
                             : (const float *)c->dw->in[0]->data +
                                   n * c->cb * H * W * NK_BLK;
    float *dout = (float *)c->dw->out[0]->data;
    for (int64_t k = 0; k < c->cb; k++)
        for (int64_t oy = oy0; oy < oy1; oy++) {
            /* the window's first row inside the image (none: not read) */
            int64_t ky0, ky1;
            nk_dw_window(g, oy, &ky0, &ky1);
            int64_t iy = ky0 < ky1 ? oy * g->sh - g->pt + ky0 * g->dh : 0;
            const float *x0 =
                c->pw ? ring + k * c->rstride + iy % c->cap * W * NK_BLK
                      : xin + (k * H + iy) * W * NK_BLK;
            float *yr = c->pj ? band + (k * c->band + oy - oy0) * OW * NK_BLK
                              : dout + ((n * c->cb + k) * OH + oy) * OW *
                                           NK_BLK;
            c->row(c->dw->params, x0, k, oy, yr, act);
        }
    if (c->pj) {
        size_t off = (size_t)((n * c->pjb * OH + oy0) * OW * NK_BLK);
        float *y = (float *)c->pj->out[0]->data + off;
        const float *res = c->pj->residual
                               ? (const float *)c->pj->residual->data + off
                               : NULL;
        nk_convblk_avx2_pointwise(c->pj, band, c->band * OW * NK_BLK, y,
                                  OH * OW * NK_BLK, res, (oy1 - oy0) * OW);
    }
}

void nk_dwchain_run(const nk_dwchain *c, const nk_step *head, int ith,
                    int nth)
{
    uintptr_t base = (uintptr_t)head->work + c->slot_bytes * (size_t)ith;
    float *ring = (float *)((base + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
    float *band = ring + round_up(c->ring_floats * sizeof(float)) /
                             sizeof(float);
    int64_t items = c->g.n * c->nband, b, e, i;
    nk_split(items, ith, nth, &b, &e);
    nk_items it;
    nk_items_begin(&it, head->steal, ith, nth, b, e);
    ring_state rs = {-1, 0, 0};
    const nk_step *dw = c->dw;
    nk_blk_actv act = nk_blk_actv_make(dw->act, dw->act_a0, dw->act_a1);
    while (nk_items_next(&it, &i, NULL))
        run_band(c, i, ring, band, &rs, &act);
}

#else /* not x86-64: no chains */

nk_dwchain *nk_dwchain_make(const nk_step *pw, const nk_step *dw,
                            const nk_step *pj, int nth, size_t *work_bytes)
{
    (void)pw, (void)dw, (void)pj, (void)nth;
    *work_bytes = 0;
    return NULL;
}

void nk_dwchain_free(nk_dwchain *c) { (void)c; }

void nk_dwchain_run(const nk_dwchain *c, const nk_step *head, int ith,
                    int nth)
{
    (void)c, (void)head, (void)ith, (void)nth;
}

const nk_step *nk_dwchain_step(const nk_dwchain *c, int k)
{
    (void)c, (void)k;
    return NULL;
}
#endif
