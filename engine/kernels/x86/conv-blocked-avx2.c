/*
 * conv-blocked-avx2.c — direct Conv (group 1, any kernel, stride, pad,
 * dilation) writing NCHW8c, reading NCHW or NCHW8c (blocked.h). Output
 * pixels are broadcast, output channels are the vector lanes: a
 * micro-kernel keeps R pixels of one output row x F channel blocks in
 * R*F ymm accumulators and, for every tap and input channel, broadcasts
 * the R input values and FMAs them with F packed weight vectors. No
 * im2col, no run-time packing; bias, residual and the activation are
 * applied before the store. Small maps and strided convs take a flat
 * path: tiles of pixels that may span rows, each pixel with its own input
 * pointer, every tap interior (no padding, a per-thread zero-padded copy,
 * or for 1x1 strided convs a compact copy of the pixels read); input
 * channels in chunks so a group's weights stay in L2. Compiled with
 * -mavx2 -mfma for this file only.
 */
#include "engine/kernels/blocked.h"
#include "engine/kernels/conv-fast.h"
#include "engine/kernels/kernels-impl.h"
#include "engine/ops/conv-impl.h"

#if defined(__x86_64__) || defined(_M_X64)
#include "engine/kernels/x86/blocked-avx2.h" /* nk_blk_act */

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* Register blocking: F output blocks (F*8 channels, F <= FB, chosen per
 * conv) x up to RMAX[F] pixels (R*F accumulators + F weights + 1
 * broadcast <= 16 ymm). */
#define FB 3
static const int RMAX[FB + 1] = {0, 12, 6, 4};

/* Four blocks are two groups of two (6x2 tiles), not three and one
 * (a 12x1 tile loads 13 vectors per 12 FMAs). */
#ifndef FB_CHOICE
#define FB_CHOICE(mb) ((mb) == 4 ? 2 : (mb) >= 3 ? 3 : (mb))
#endif
#define ALIGN 64
#ifndef KC_BYTES
#define KC_BYTES (64 * 1024)
#endif
#ifndef PF_DIST
#define PF_DIST 2 /* input prefetch distance, in channel blocks */
#endif
#ifndef SEG_PIX
#define SEG_PIX 96 /* pixels per work item when a row is long (1x1 maps) */
#endif

typedef struct convblk {
    nk_conv_geom g;
    int64_t mb, cb;      /* output / input channel blocks */
    int64_t fb;          /* output blocks per group (<= FB) */
    int64_t og;          /* groups of fb output blocks */
    int64_t cp;          /* input channels packed per tap: cb * 8 */
    int64_t taps;
    float *wpack;        /* per group: [tap][cp][fg*8] */
    float *bias;         /* mb * 8, zero-padded */
    /* The map the loops see: a 1x1 stride-1 unpadded conv is one row. */
    int64_t h, w, oh, ow;
    int64_t ox_lo, ox_hi; /* output columns whose taps are all inside */
    int64_t seg, nseg;   /* pixels per work item along a row */
    bool weights_major;  /* items ordered (n, group, row): weights hot */
    /* Flat path: tiles of output pixels that may span rows, each pixel
     * with its own input pointer; every tap is inside the map it reads,
     * either because the conv has no padding or because each thread
     * first copies the zero-padded image into its scratch (padcopy). */
    bool flat, padcopy;
    bool subcopy;        /* 1x1 strided: the copy holds only the pixels read */
    int64_t hp, wp;      /* the map the flat path reads */
    int64_t fsh, fsw;    /* its strides */
    int64_t kc;          /* input channel blocks per chunk (flat path) */
    int slots;
    size_t slot_bytes;   /* scratch per thread (padcopy) */
    /* NCHW input with few channels x taps (stems): per (ky, kx, c) the
     * input offset and the packed weight row, for mac_4x3_gather. */
    int64_t (*gtab)[2];
    int64_t gtab_ky;     /* entries per kernel row: kw * C */
    /* Thread t's work items are [share[t][0], share[t][1]) when the step
     * runs on slots threads (share_items, once at plan time). */
    int64_t (*share)[2];
} convblk;

/* Everything the micro-kernel needs about one call. */
typedef struct ukr_args {
    const float *x;      /* image n, channel 0 */
    int64_t xoff;        /* floats from x to (iy_base, ix_base): may be
                          * negative, only offsets of valid taps are added */
    int64_t cbs;         /* floats between input channel blocks */
    int64_t ls;          /* floats between lanes of a block */
    int64_t rs;          /* floats between consecutive output pixels */
    const float *px[12]; /* flat path: input of each pixel, channel 0 */
    int64_t tys, txs;    /* floats per ky, per kx step */
    int64_t nfull;       /* whole channel blocks to read */
    int tail;            /* lanes of the last, partial block (NCHW) */
    int ky0, ky1, kx0, kx1, kw;
    const float *w;      /* group's packed weights */
    int64_t wtap;        /* floats per tap in w: cp * fg * 8 */
    const float *bias;   /* group's bias, fg * 8 */
    float *y;            /* output at (block of group, pixel) */
    const float *res;    /* residual at the same offset, or NULL */
    int64_t ys;          /* floats between output blocks */
    nk_blk_actv act;     /* in-register epilogue (Sigmoid/Tanh: NONE,
                          * applied to the row afterwards) */
    int accum;           /* start from y (a later channel chunk), not bias */
    int final;           /* last channel chunk: residual + epilogue */
    const int64_t (*gtab)[2]; /* convblk.gtab on NCHW input, else NULL */
    int64_t gtab_ky;
} ukr_args;

/* The 4-pixel x 3-block reduction on NCHW8c input in assembly: with 12
 * accumulators, 3 weight vectors and a broadcast, all 16 ymm registers
 * are live, and GCC's allocation left register moves and spills in the
 * loop (33 vs 37.5 GFLOP/s measured here on the loop alone). acc: the 12
 * accumulators in memory, [pixel][block], loaded and stored once. Tap t
 * of pixel r reads px[r] + toff[t] + cb * cbs + lane; w holds taps x
 * nblk x 8 lanes x 24 floats in that order. taps, nblk >= 1. */
/* Pixel R's broadcast at OFF (bytes, a string) FMA'd into accumulators
 * A0..A2 with the weights in ymm12-14; four pixels make a 4x3 step. */
#define MAC_PIX(R, OFF, A0, A1, A2)                                        \
    "vbroadcastss " OFF "(%[p" #R "],%[o],4), %%ymm15\n\t"                 \
    "vfmadd231ps %%ymm12, %%ymm15, %%ymm" #A0 "\n\t"                       \
    "vfmadd231ps %%ymm13, %%ymm15, %%ymm" #A1 "\n\t"                       \
    "vfmadd231ps %%ymm14, %%ymm15, %%ymm" #A2 "\n\t"
#define MAC_4X3(OFF)                                                       \
    MAC_PIX(0, OFF, 0, 1, 2) MAC_PIX(1, OFF, 3, 4, 5)                      \
    MAC_PIX(2, OFF, 6, 7, 8) MAC_PIX(3, OFF, 9, 10, 11)
#define MAC_LANE(L)                                                        \
    "vmovaps " #L "*96(%[w]), %%ymm12\n\t"                                 \
    "vmovaps " #L "*96+32(%[w]), %%ymm13\n\t"                              \
    "vmovaps " #L "*96+64(%[w]), %%ymm14\n\t" MAC_4X3(#L "*4")
#define MAC_LANES                                                          \
    MAC_LANE(0) MAC_LANE(1) MAC_LANE(2) MAC_LANE(3)                        \
    MAC_LANE(4) MAC_LANE(5) MAC_LANE(6) MAC_LANE(7)
#define MAC_LD(I) "vmovaps " #I "*32(%[acc]), %%ymm" #I "\n\t"
#define MAC_ST(I) "vmovaps %%ymm" #I ", " #I "*32(%[acc])\n\t"
/* the 12 accumulators in, out; every vector register clobbered */
#define MAC_LOAD_ACC                                                       \
    MAC_LD(0) MAC_LD(1) MAC_LD(2) MAC_LD(3) MAC_LD(4) MAC_LD(5)            \
    MAC_LD(6) MAC_LD(7) MAC_LD(8) MAC_LD(9) MAC_LD(10) MAC_LD(11)
#define MAC_STORE_ACC                                                      \
    MAC_ST(0) MAC_ST(1) MAC_ST(2) MAC_ST(3) MAC_ST(4) MAC_ST(5)            \
    MAC_ST(6) MAC_ST(7) MAC_ST(8) MAC_ST(9) MAC_ST(10) MAC_ST(11)
#define MAC_CLOBBERS                                                       \
    "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",        \
    "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",    \
    "xmm14", "xmm15"

static void mac_4x3(float *acc, const float *const px[4],
                    const int64_t *toff, int64_t taps, int64_t cbs,
                    int64_t nblk, const float *w)
{
    const int64_t *tend = toff + taps;
    int64_t o, n;
    __asm__ volatile(
        MAC_LOAD_ACC
        "2:\n\t"
        "mov (%[toff]), %[o]\n\t"
        "mov %[nblk], %[n]\n\t"
        "1:\n\t"
        MAC_LANES
        "add %[cbs], %[o]\n\t"
        "add $768, %[w]\n\t"
        "dec %[n]\n\t"
        "jnz 1b\n\t"
        "add $8, %[toff]\n\t"
        "cmp %[tend], %[toff]\n\t"
        "jne 2b\n\t"
        MAC_STORE_ACC
        : [o] "=&r"(o), [n] "=&r"(n), [w] "+r"(w), [toff] "+r"(toff)
        : [p0] "r"(px[0]), [p1] "r"(px[1]), [p2] "r"(px[2]),
          [p3] "r"(px[3]), [tend] "r"(tend), [nblk] "r"(nblk),
          [cbs] "r"(cbs), [acc] "r"(acc)
        : MAC_CLOBBERS);
}
/* One pointwise tile of 4 adjacent pixels (x .. x + 31), fetching the
 * input two channel blocks ahead: on maps whose input outgrows L2
 * (512 channels at 28x28) every block comes from L3 (10% faster there;
 * on 3x3 taps, whose input stays in L2, the prefetches cost more than
 * they saved, so mac_4x3 has none). */
static void mac_4x3_pw(float *acc, const float *x, int64_t cbs,
                       int64_t nblk, const float *w)
{
    int64_t o = 0, pf = PF_DIST * cbs;
    __asm__ volatile(
        MAC_LOAD_ACC
        "1:\n\t"
        "prefetcht0 (%[p0],%[pf],4)\n\t"
        "prefetcht0 64(%[p0],%[pf],4)\n\t"
        MAC_LANES
        "add %[cbs], %[o]\n\t"
        "add %[cbs], %[pf]\n\t"
        "add $768, %[w]\n\t"
        "dec %[n]\n\t"
        "jnz 1b\n\t"
        MAC_STORE_ACC
        : [o] "+r"(o), [pf] "+r"(pf), [n] "+r"(nblk), [w] "+r"(w)
        : [p0] "r"(x), [p1] "r"(x + 8), [p2] "r"(x + 16), [p3] "r"(x + 24),
          [cbs] "r"(cbs), [acc] "r"(acc)
        : MAC_CLOBBERS);
}
/* The same tile over a table of (input offset, weight row) entries:
 * NCHW input, where a tap contributes only C lanes (3 for an RGB stem)
 * and the per-tap loop of ukr_body cost more than its FMAs. Entry e of
 * pixel r reads px[r][tab[e][0]] and the F * 8 weights of row tab[e][1]
 * of w. n >= 1. */
static void mac_4x3_gather(float *acc, const float *const px[4],
                           const int64_t (*tab)[2], int64_t n,
                           const float *w)
{
    const int64_t(*tend)[2] = tab + n;
    int64_t o, q;
    __asm__ volatile(
        MAC_LOAD_ACC
        "1:\n\t"
        "mov (%[tab]), %[o]\n\t"
        "imul $96, 8(%[tab]), %[q]\n\t"
        "vmovaps (%[w],%[q]), %%ymm12\n\t"
        "vmovaps 32(%[w],%[q]), %%ymm13\n\t"
        "vmovaps 64(%[w],%[q]), %%ymm14\n\t"
        MAC_4X3("")
        "add $16, %[tab]\n\t"
        "cmp %[tend], %[tab]\n\t"
        "jne 1b\n\t"
        MAC_STORE_ACC
        : [o] "=&r"(o), [q] "=&r"(q), [tab] "+r"(tab)
        : [p0] "r"(px[0]), [p1] "r"(px[1]), [p2] "r"(px[2]),
          [p3] "r"(px[3]), [tend] "r"(tend), [w] "r"(w), [acc] "r"(acc)
        : MAC_CLOBBERS);
}
/* 6 pixels x 2 blocks (stems with 16 or 32 channels, a ResNet stem's last
 * group). Pixel R's broadcast (ymm14) goes into ymmR and ymm(R + 6). */
#define MAC_PIX2(R, B)                                                     \
    "vbroadcastss (%[p" #R "],%[o],4), %%ymm14\n\t"                       \
    "vfmadd231ps %%ymm12, %%ymm14, %%ymm" #R "\n\t"                       \
    "vfmadd231ps %%ymm13, %%ymm14, %%ymm" #B "\n\t"
static void mac_6x2_gather(float *acc, const float *const px[6],
                           const int64_t (*tab)[2], int64_t n,
                           const float *w)
{
    const int64_t(*tend)[2] = tab + n;
    int64_t o, q;
    /* acc[f * 6 + r] lives in ymm(f * 6 + r): ymm0-11; weights 12, 13;
     * broadcast 14. */
    __asm__ volatile(
        MAC_LOAD_ACC
        "1:\n\t"
        "mov (%[tab]), %[o]\n\t"
        "mov 8(%[tab]), %[q]\n\t"
        "shl $6, %[q]\n\t"
        "vmovaps (%[w],%[q]), %%ymm12\n\t"
        "vmovaps 32(%[w],%[q]), %%ymm13\n\t"
        MAC_PIX2(0, 6) MAC_PIX2(1, 7) MAC_PIX2(2, 8) MAC_PIX2(3, 9)
        MAC_PIX2(4, 10) MAC_PIX2(5, 11)
        "add $16, %[tab]\n\t"
        "cmp %[tend], %[tab]\n\t"
        "jne 1b\n\t"
        MAC_STORE_ACC
        : [o] "=&r"(o), [q] "=&r"(q), [tab] "+r"(tab)
        : [p0] "r"(px[0]), [p1] "r"(px[1]), [p2] "r"(px[2]),
          [p3] "r"(px[3]), [p4] "r"(px[4]), [p5] "r"(px[5]),
          [tend] "m"(tend), [w] "r"(w), [acc] "r"(acc)
        : MAC_CLOBBERS);
}
#undef MAC_PIX
#undef MAC_PIX2
#undef MAC_4X3
#undef MAC_LANE
#undef MAC_LANES
#undef MAC_LD
#undef MAC_ST
#undef MAC_LOAD_ACC
#undef MAC_STORE_ACC
#undef MAC_CLOBBERS

/* Output block f, pixel r of a tile: where its sum starts (the partial
 * sum of an earlier channel chunk, or the bias) and how it is stored (a
 * partial sum as is; the last chunk with residual and activation). */
static inline __attribute__((always_inline)) __m256
tile_start(const ukr_args *a, int f, int r)
{
    return a->accum ? _mm256_loadu_ps(a->y + f * a->ys + r * 8)
                    : _mm256_load_ps(a->bias + f * 8);
}

static inline __attribute__((always_inline)) void
tile_store(const ukr_args *a, int f, int r, __m256 v)
{
    if (a->final) {
        if (a->res)
            v = _mm256_add_ps(v, _mm256_loadu_ps(a->res + f * a->ys + r * 8));
        v = nk_blk_act(&a->act, v);
    }
    _mm256_storeu_ps(a->y + f * a->ys + r * 8, v);
}

/* ukr_body's R <= 6, F = 2 cases on NCHW input with a gather table: a
 * narrower tile runs the 6-pixel kernel with its last pixel repeated
 * (the per-tap C loop cost more than the unused lanes). */
static void ukr_6x2_gather(const ukr_args *a, int flat, int R)
{
    float acc[96] __attribute__((aligned(32)));
    for (int f = 0; f < 2; f++)
        for (int r = 0; r < 6; r++)
            _mm256_store_ps(acc + (f * 6 + r) * 8,
                            r < R ? tile_start(a, f, r)
                                  : _mm256_setzero_ps());
    const float *px[6];
    for (int r = 0; r < 6; r++) {
        int q = r < R ? r : R - 1;
        px[r] = flat ? a->px[q] : a->x + a->xoff + q * a->rs;
    }
    if (a->ky1 > a->ky0)
        mac_6x2_gather(acc, px, a->gtab + a->ky0 * a->gtab_ky,
                       (a->ky1 - a->ky0) * a->gtab_ky, a->w);
    for (int f = 0; f < 2; f++)
        for (int r = 0; r < R; r++)
            tile_store(a, f, r, _mm256_load_ps(acc + (f * 6 + r) * 8));
}

/* ukr_body's R = 4, F = 3 case on NCHW8c input, through mac_4x3. */
static void ukr_4x3_asm(const ukr_args *a, int flat)
{
    float acc[96] __attribute__((aligned(32)));
    for (int r = 0; r < 4; r++)
        for (int f = 0; f < 3; f++)
            _mm256_store_ps(acc + (r * 3 + f) * 8, tile_start(a, f, r));
    const float *px[4];
    for (int r = 0; r < 4; r++)
        px[r] = flat ? a->px[r] : a->x + a->xoff + r * a->rs;
    int64_t toff[64];
    int taps = 0;
    if (a->gtab) {
        /* NCHW input: the rows ky0..ky1 of the table (every kx: only
         * interior tiles come here). */
        if (a->ky1 > a->ky0)
                mac_4x3_gather(acc, px, a->gtab + a->ky0 * a->gtab_ky,
                           (a->ky1 - a->ky0) * a->gtab_ky, a->w);
    } else if (a->nfull > 0 && (a->ky1 - a->ky0) * (a->kx1 - a->kx0) <= 64 &&
        a->kx0 == 0 && a->kx1 == a->kw) {
        for (int ky = a->ky0; ky < a->ky1; ky++)
            for (int kx = 0; kx < a->kw; kx++)
                toff[taps++] = ky * a->tys + kx * a->txs;
        if (taps)
            mac_4x3(acc, px, toff, taps, a->cbs, a->nfull,
                    a->w + a->ky0 * a->kw * a->wtap);
    } else {
        /* Taps not contiguous in the packed weights: one call each. */
        for (int ky = a->ky0; ky < a->ky1; ky++)
            for (int kx = a->kx0; kx < a->kx1 && a->nfull > 0; kx++) {
                toff[0] = ky * a->tys + kx * a->txs;
                mac_4x3(acc, px, toff, 1, a->cbs, a->nfull,
                        a->w + (ky * a->kw + kx) * a->wtap);
            }
    }
    for (int f = 0; f < 3; f++)
        for (int r = 0; r < 4; r++)
            tile_store(a, f, r, _mm256_load_ps(acc + (r * 3 + f) * 8));
}

/* R pixels x F blocks. BLK: the input is NCHW8c (lanes 1 apart). TAIL:
 * the lanes of the partial block when known at compile time (3: an RGB
 * stem reading NCHW), else -1. */
static inline __attribute__((always_inline)) void
ukr_body(const ukr_args *a, const int R, const int F, const int BLK,
         const int TAIL, const int FLAT)
{
    /* Pixel r reads xr[r] + ro[r] + tap + channel offsets (the offset
     * may be negative before a valid tap's is added: kept an integer). */
    const float *xr[12];
    int64_t ro[12];
#pragma GCC unroll 12
    for (int r = 0; r < R; r++) {
        xr[r] = FLAT ? a->px[r] : a->x;
        ro[r] = FLAT ? 0 : a->xoff + r * a->rs;
    }
    __m256 acc[12][FB];
#pragma GCC unroll 12
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int f = 0; f < F; f++)
            acc[r][f] = tile_start(a, f, r);
    const int64_t ls = BLK ? 1 : a->ls;
    for (int ky = a->ky0; ky < a->ky1; ky++)
        for (int kx = a->kx0; kx < a->kx1; kx++) {
            const int64_t xt = ky * a->tys + kx * a->txs;
            const float *wt = a->w + (ky * a->kw + kx) * a->wtap;
            for (int64_t cb = 0; cb < a->nfull; cb++) {
                const int64_t xl = xt + cb * a->cbs;
                const float *wl = wt + cb * 8 * F * 8;
#pragma GCC unroll 8
                for (int l = 0; l < 8; l++) {
                    __m256 wv[FB];
#pragma GCC unroll 4
                    for (int f = 0; f < F; f++)
                        wv[f] = _mm256_load_ps(wl + (l * F + f) * 8);
#pragma GCC unroll 12
                    for (int r = 0; r < R; r++) {
                        __m256 xv = _mm256_broadcast_ss(
                            xr[r] + (ro[r] + xl + l * ls));
#pragma GCC unroll 4
                        for (int f = 0; f < F; f++)
                            acc[r][f] = _mm256_fmadd_ps(xv, wv[f], acc[r][f]);
                    }
                }
            }
            if (!BLK && a->tail) {
                const int64_t xl = xt + a->nfull * a->cbs;
                const float *wl = wt + a->nfull * 8 * F * 8;
                const int tail = TAIL >= 0 ? TAIL : a->tail;
#pragma GCC unroll 8
                for (int l = 0; l < tail; l++) {
                    __m256 wv[FB];
#pragma GCC unroll 4
                    for (int f = 0; f < F; f++)
                        wv[f] = _mm256_load_ps(wl + (l * F + f) * 8);
#pragma GCC unroll 12
                    for (int r = 0; r < R; r++) {
                        __m256 xv = _mm256_broadcast_ss(
                            xr[r] + (ro[r] + xl + l * ls));
#pragma GCC unroll 4
                        for (int f = 0; f < F; f++)
                            acc[r][f] = _mm256_fmadd_ps(xv, wv[f], acc[r][f]);
                    }
                }
            }
        }
#pragma GCC unroll 4
    for (int f = 0; f < F; f++)
#pragma GCC unroll 12
        for (int r = 0; r < R; r++)
            tile_store(a, f, r, acc[r][f]);
}

/* Pointwise convolutions (1x1, stride 1) on NCHW8c input: nt consecutive
 * tiles of 4 pixels x 3 output blocks (or 6 x 2) in one call, with the
 * input and weight pointers stepped through the loops (no per-tile call
 * and set-up: at 16 or 24 input channels that overhead was a fifth of
 * the time). From 8 input blocks the input two blocks ahead is
 * prefetched: without it, 256 input channels on 56x56 maps ran 25-45%
 * slower than the per-tile path, with it 6-15% faster. From 32 blocks
 * (4x3) the loop is mac_4x3_pw's assembly. */
#define PW_ASM_MIN_CB 32
#define PW_PF_MIN_CB 8

static inline __attribute__((always_inline)) void
pw_tiles_body(const ukr_args *a, const float *x, int64_t nt, const int R,
              const int F, const int ASM, const int PF)
{
    const int64_t cbs = a->cbs, nblk = a->nfull, ys = a->ys;
    float *y = a->y;
    const float *res = a->res;
    for (int64_t t = 0; t < nt; t++) {
        __m256 acc[6][FB];
        if (ASM) {
            /* Long reductions (4x3 only): the assembly loop; on short
             * ones its set-up per tile cost more than it saved. */
            float m[96] __attribute__((aligned(32)));
            for (int r = 0; r < 4; r++)
                for (int f = 0; f < 3; f++)
                    _mm256_store_ps(m + (r * 3 + f) * 8,
                                    _mm256_load_ps(a->bias + f * 8));
            mac_4x3_pw(m, x, cbs, nblk, a->w);
            for (int r = 0; r < 4; r++)
                for (int f = 0; f < 3; f++)
                    acc[r][f] = _mm256_load_ps(m + (r * 3 + f) * 8);
        } else {
#pragma GCC unroll 6
            for (int r = 0; r < R; r++)
#pragma GCC unroll 3
                for (int f = 0; f < F; f++)
                    acc[r][f] = _mm256_load_ps(a->bias + f * 8);
            const float *xp = x, *wp = a->w;
            for (int64_t cb = 0; cb < nblk; cb++) {
                /* The input two blocks ahead (see mac_4x3_pw). */
                if (PF)
                    for (int q = 0; q < R * 32; q += 64)
                        _mm_prefetch((const char *)(xp + PF_DIST * cbs) + q,
                                     _MM_HINT_T0);
#pragma GCC unroll 8
                for (int l = 0; l < 8; l++) {
                    __m256 wv[FB];
#pragma GCC unroll 3
                    for (int f = 0; f < F; f++)
                        wv[f] = _mm256_load_ps(wp + (l * F + f) * 8);
#pragma GCC unroll 6
                    for (int r = 0; r < R; r++) {
                        __m256 xv = _mm256_broadcast_ss(xp + r * 8 + l);
#pragma GCC unroll 3
                        for (int f = 0; f < F; f++)
                            acc[r][f] = _mm256_fmadd_ps(xv, wv[f], acc[r][f]);
                    }
                }
                xp += cbs;
                wp += 8 * F * 8;
            }
        }
#pragma GCC unroll 3
        for (int f = 0; f < F; f++)
#pragma GCC unroll 6
            for (int r = 0; r < R; r++) {
                __m256 v = acc[r][f];
                if (res)
                    v = _mm256_add_ps(v,
                                      _mm256_loadu_ps(res + f * ys + r * 8));
                _mm256_storeu_ps(y + f * ys + r * 8, nk_blk_act(&a->act, v));
            }
        x += R * 8;
        y += R * 8;
        if (res)
            res += R * 8;
    }
}

static void pw_tiles_4x3(const ukr_args *a, const float *x, int64_t nt)
{
    if (a->nfull >= PW_ASM_MIN_CB)
        pw_tiles_body(a, x, nt, 4, 3, 1, 0);
    else if (a->nfull >= PW_PF_MIN_CB)
        pw_tiles_body(a, x, nt, 4, 3, 0, 1);
    else
        pw_tiles_body(a, x, nt, 4, 3, 0, 0);
}

static void pw_tiles_6x2(const ukr_args *a, const float *x, int64_t nt)
{
    if (a->nfull >= PW_PF_MIN_CB)
        pw_tiles_body(a, x, nt, 6, 2, 0, 1);
    else
        pw_tiles_body(a, x, nt, 6, 2, 0, 0);
}

typedef void (*ukr_fn)(const ukr_args *a);

#define UKRB(R, F, FL, SFX)                                                \
    static void ukr_##R##x##F##_b##SFX(const ukr_args *a)                  \
    {                                                                      \
        ukr_body(a, R, F, 1, -1, FL);                                      \
    }
#define UKRP(R, F, FL, SFX)                                                \
    static void ukr_##R##x##F##_p##SFX(const ukr_args *a)                  \
    {                                                                      \
        if (a->nfull == 0 && a->tail == 3)                                 \
            ukr_body(a, R, F, 0, 3, FL);                                   \
        else                                                               \
            ukr_body(a, R, F, 0, -1, FL);                                  \
    }
#define UKR(R, F)                                                          \
    UKRB(R, F, 0, ) UKRB(R, F, 1, f) UKRP(R, F, 0, ) UKRP(R, F, 1, f)
UKR(1, 1) UKR(2, 1) UKR(3, 1) UKR(4, 1) UKR(5, 1) UKR(6, 1)
UKR(7, 1) UKR(8, 1) UKR(9, 1) UKR(10, 1) UKR(11, 1) UKR(12, 1)
UKR(1, 2) UKR(2, 2) UKR(3, 2) UKR(4, 2) UKR(5, 2) UKR(6, 2)
UKR(1, 3) UKR(2, 3) UKR(3, 3)
UKRP(4, 3, 0, ) UKRP(4, 3, 1, f)
/* 1x1 tiles with short reductions stay in C: the assembly tile's set-up
 * (accumulators through memory) cost more than it saved below 256
 * input channels (measured on ResNet-50's 64 -> 256 convs). */
static void ukr_4x3_b(const ukr_args *a)
{
    if (a->kw == 1 && a->ky1 - a->ky0 <= 1 && a->nfull < PW_ASM_MIN_CB)
        ukr_body(a, 4, 3, 1, -1, 0);
    else
        ukr_4x3_asm(a, 0);
}
static void ukr_4x3_bf(const ukr_args *a)
{
    if (a->kw == 1 && a->ky1 - a->ky0 <= 1 && a->nfull < PW_ASM_MIN_CB)
        ukr_body(a, 4, 3, 1, -1, 1);
    else
        ukr_4x3_asm(a, 1);
}
/* NCHW input: through the gather table when there is one (a row tile
 * only with every kx tap inside). */
#define UKR_GATHER(R, F, CALL)                                             \
    static void ukr_##R##x##F##_pg(const ukr_args *a)                      \
    {                                                                      \
        if (a->gtab && a->kx0 == 0 && a->kx1 == a->kw)                     \
            CALL(a, 0, R);                                                 \
        else                                                               \
            ukr_##R##x##F##_p(a);                                          \
    }                                                                      \
    static void ukr_##R##x##F##_pgf(const ukr_args *a)                     \
    {                                                                      \
        if (a->gtab)                                                       \
            CALL(a, 1, R);                                                 \
        else                                                               \
            ukr_##R##x##F##_pf(a);                                         \
    }
#define ASM_4X3(a, flat, R) ukr_4x3_asm(a, flat)
UKR_GATHER(3, 2, ukr_6x2_gather) UKR_GATHER(4, 2, ukr_6x2_gather)
UKR_GATHER(5, 2, ukr_6x2_gather) UKR_GATHER(6, 2, ukr_6x2_gather)
UKR_GATHER(4, 3, ASM_4X3)
#undef ASM_4X3
#undef UKR_GATHER
#undef UKR
#undef UKRB
#undef UKRP

/* [blocked][F][R] */
static const ukr_fn UKRS[2][FB + 1][13] = {
    {{0},
     {0, ukr_1x1_p, ukr_2x1_p, ukr_3x1_p, ukr_4x1_p, ukr_5x1_p, ukr_6x1_p,
      ukr_7x1_p, ukr_8x1_p, ukr_9x1_p, ukr_10x1_p, ukr_11x1_p, ukr_12x1_p},
     {0, ukr_1x2_p, ukr_2x2_p, ukr_3x2_pg, ukr_4x2_pg, ukr_5x2_pg,
      ukr_6x2_pg},
     {0, ukr_1x3_p, ukr_2x3_p, ukr_3x3_p, ukr_4x3_pg}},
    {{0},
     {0, ukr_1x1_b, ukr_2x1_b, ukr_3x1_b, ukr_4x1_b, ukr_5x1_b, ukr_6x1_b,
      ukr_7x1_b, ukr_8x1_b, ukr_9x1_b, ukr_10x1_b, ukr_11x1_b, ukr_12x1_b},
     {0, ukr_1x2_b, ukr_2x2_b, ukr_3x2_b, ukr_4x2_b, ukr_5x2_b, ukr_6x2_b},
     {0, ukr_1x3_b, ukr_2x3_b, ukr_3x3_b, ukr_4x3_b}},
};

/* The same, pixels from ukr_args.px. */
static const ukr_fn UKRS_FLAT[2][FB + 1][13] = {
    {{0},
     {0, ukr_1x1_pf, ukr_2x1_pf, ukr_3x1_pf, ukr_4x1_pf, ukr_5x1_pf,
      ukr_6x1_pf, ukr_7x1_pf, ukr_8x1_pf, ukr_9x1_pf, ukr_10x1_pf,
      ukr_11x1_pf, ukr_12x1_pf},
     {0, ukr_1x2_pf, ukr_2x2_pf, ukr_3x2_pgf, ukr_4x2_pgf, ukr_5x2_pgf,
      ukr_6x2_pgf},
     {0, ukr_1x3_pf, ukr_2x3_pf, ukr_3x3_pf, ukr_4x3_pgf}},
    {{0},
     {0, ukr_1x1_bf, ukr_2x1_bf, ukr_3x1_bf, ukr_4x1_bf, ukr_5x1_bf,
      ukr_6x1_bf, ukr_7x1_bf, ukr_8x1_bf, ukr_9x1_bf, ukr_10x1_bf,
      ukr_11x1_bf, ukr_12x1_bf},
     {0, ukr_1x2_bf, ukr_2x2_bf, ukr_3x2_bf, ukr_4x2_bf, ukr_5x2_bf,
      ukr_6x2_bf},
     {0, ukr_1x3_bf, ukr_2x3_bf, ukr_3x3_bf, ukr_4x3_bf}},
};

bool nk_convblk_avx2_supports(const nk_step *st)
{
    if (st->n_in < 2 || !st->in[0] || !st->in[1] || st->training ||
        st->in[0]->dtype != NK_F32 || st->in[1]->dtype != NK_F32)
        return false;
    if (st->in[0]->shape.rank != 4 || st->in[1]->shape.rank != 4)
        return false;
    if (nk_node_int(st->node, "group", 1) != 1 || !nk_conv_weights_const(st))
        return false;
    if (st->n_in > 2 && st->in[2] && st->in[2]->dtype != NK_F32)
        return false;
    /* 3x3 stride-1 convs where Winograd pays stay with Winograd. */
    return !nk_conv_winograd_supports(st);
}

void nk_convblk_avx2_release(nk_step *st)
{
    convblk *p = st->params;
    if (p) {
        nk_free_aligned(p->wpack);
        nk_free_aligned(p->bias);
        nk_free(p->gtab);
        nk_free(p->share);
    }
    nk_free(p);
    st->params = NULL;
}

/* Weights [M, C, kh, kw] into, per group of FB output blocks and chunk
 * of kc input blocks (one chunk on the row path), [tap][ci][fg * 8] with
 * zeros for co >= M and ci >= C: a chunk is one contiguous run. */
static void pack_weights(convblk *p, const float *w)
{
    const nk_conv_geom *g = &p->g;
    int64_t khw = g->kh * g->kw;
    int64_t kc = p->kc > 0 ? p->kc : p->cb;
    for (int64_t o = 0; o < p->og; o++) {
        int64_t fg = p->mb - o * p->fb < p->fb ? p->mb - o * p->fb : p->fb;
        float *dst = p->wpack + (size_t)(o * p->fb * 8 * p->taps * p->cp);
        for (int64_t c0 = 0; c0 < p->cb; c0 += kc) {
            int64_t c1 = c0 + kc < p->cb ? c0 + kc : p->cb;
            for (int64_t t = 0; t < p->taps; t++)
                for (int64_t ci = c0 * 8; ci < c1 * 8; ci++)
                    for (int64_t j = 0; j < fg * 8; j++) {
                        int64_t co = o * p->fb * 8 + j;
                        *dst++ = co < g->m && ci < g->c
                                     ? w[(co * g->c + ci) * khw + t]
                                     : 0.0f;
                    }
        }
    }
}

/* The flat path when it pays: an unpadded conv (every pixel interior),
 * or a padded one whose padded image is cheap to copy per thread next to
 * the thread's share of the FLOPs. Work items are (image, chunk of
 * flattened pixels, group), chunks of whole 12-pixel tiles. */
static void plan_flat(convblk *p, nk_step *st, double wbytes)
{
    const nk_conv_geom *g = &p->g;
    bool padded = g->pt || g->pl || g->pb || g->pr;
    /* 1x1 strided: strided reads waste part of every line; a compact copy
     * of the pixels read makes it a pointwise conv. */
    bool sub = !padded && p->taps == 1 && (g->sh > 1 || g->sw > 1);
    p->hp = g->h + g->pt + g->pb;
    p->wp = g->w + g->pl + g->pr;
    p->fsh = g->sh;
    p->fsw = g->sw;
    if (padded || sub) {
        int64_t hp = sub ? g->oh : p->hp, wp = sub ? g->ow : p->wp;
        double cfl = (double)(p->cb * NK_BLK) * (double)(hp * wp);
        double flops = 2.0 * (double)(g->m * g->c * p->taps) *
                       (double)(g->oh * g->ow);
        if (cfl * 4.0 <= 4.0 * 1024 * 1024 &&
            cfl * p->slots * 160.0 <= flops) {
            p->slot_bytes = ((size_t)cfl * sizeof(float) + ALIGN - 1) /
                                ALIGN * ALIGN + ALIGN;
            st->work_bytes = p->slot_bytes * (size_t)p->slots;
            p->padcopy = padded;
            p->subcopy = sub;
            if (sub) {
                p->hp = hp;
                p->wp = wp;
                p->fsh = p->fsw = 1;
            }
        } else if (padded) {
            return; /* the row path with its bounds-checked borders */
        }
    }
    p->flat = true;
    /* Channel chunks whose packed weights (one group) fit ~KC_BYTES. */
    p->kc = KC_BYTES / (p->taps * NK_BLK * p->fb * NK_BLK * 4);
    if (p->kc < 1)
        p->kc = 1;
    int64_t pix = g->oh * g->ow;
    int64_t nseg = (pix + SEG_PIX - 1) / SEG_PIX;
    /* Enough items that every thread gets a fair share. */
    while (nseg * p->og * g->n < 4 * p->slots && nseg * 12 < pix)
        nseg++;
    int64_t seg = (pix + nseg - 1) / nseg;
    seg = (seg + 11) / 12 * 12;
    if (seg > pix)
        seg = pix;
    p->seg = seg;
    p->nseg = (pix + seg - 1) / seg;
    size_t xbytes = (size_t)(p->cb * NK_BLK * g->h * g->w) * sizeof(float);
    double l2 = 256.0 * 1024;
    double row_traffic = wbytes > l2 ? wbytes * (double)p->nseg : 0.0;
    double wm_traffic =
        (double)xbytes > l2 ? (double)xbytes * (double)p->og : 0.0;
    p->weights_major = wm_traffic < row_traffic;
}

static int64_t items_of(const convblk *p);
static void share_items(const convblk *p, int64_t items, int ith,
                        int active, int64_t *b, int64_t *e);

nk_status nk_convblk_avx2_prepare(nk_ctx *ctx, nk_step *st)
{
    convblk *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                       st->node->name);
    st->params = p;
    nk_status s = nk_conv_geom_from_node(ctx, st->node, &st->in[0]->shape,
                                         &st->in[1]->shape, &p->g);
    if (s != NK_OK) {
        nk_convblk_avx2_release(st);
        return s;
    }
    const nk_conv_geom *g = &p->g;
    if (g->group != 1 || !nk_conv_weights_const(st)) {
        nk_convblk_avx2_release(st);
        return nk_fail(ctx, NK_UNSUPPORTED,
                       "node '%s': group %lld with weight '%s', expected "
                       "group 1 and constant weights", st->node->name,
                       (long long)g->group, st->in[1]->name);
    }
    p->slots = nk_kernel_slots(st);
    p->mb = nk_blk_cb(g->m);
    p->cb = nk_blk_cb(g->c);
    /* Groups of three blocks x 4 pixels (measured ~8% faster than two
     * blocks x 6 pixels on ResNet's 1x1 convs: the input is re-read
     * fewer times); the last group may have one or two blocks. */
    p->fb = FB_CHOICE(p->mb);
    p->og = (p->mb + p->fb - 1) / p->fb;
    p->cp = p->cb * NK_BLK;
    p->taps = g->kh * g->kw;
    size_t wn, wbytes;
    if (!nk_mul_size((size_t)(p->mb * NK_BLK), (size_t)p->taps, &wn) ||
        !nk_mul_size(wn, (size_t)p->cp * sizeof(float), &wbytes)) {
        nk_convblk_avx2_release(st);
        return nk_fail(ctx, NK_UNSUPPORTED,
                       "node '%s': packed weights of %lld x %lld x %lld "
                       "overflow", st->node->name, (long long)g->m,
                       (long long)g->c, (long long)p->taps);
    }
    p->wpack = nk_malloc_aligned(wbytes ? wbytes : ALIGN, ALIGN);
    p->bias = nk_malloc_aligned((size_t)p->mb * NK_BLK * sizeof(float),
                                ALIGN);
    if (!p->wpack || !p->bias) {
        nk_convblk_avx2_release(st);
        return nk_fail(ctx, NK_NOMEM,
                       "node '%s': out of memory packing %zu bytes of "
                       "weights", st->node->name, wbytes);
    }
    const float *b =
        st->n_in > 2 && st->in[2] ? (const float *)st->in[2]->data : NULL;
    for (int64_t i = 0; i < p->mb * NK_BLK; i++)
        p->bias[i] = b && i < g->m ? b[i] : 0.0f;

    p->h = g->h;
    p->w = g->w;
    p->oh = g->oh;
    p->ow = g->ow;
    if (g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->pt == 0 &&
        g->pl == 0 && g->pb == 0 && g->pr == 0 && g->oh == g->h &&
        g->ow == g->w) {
        /* Pointwise: the whole map is one row, no borders. */
        p->h = p->oh = 1;
        p->w = p->ow = g->h * g->w;
    }
    /* Columns whose every kx tap is inside [0, w). */
    int64_t span = (g->kw - 1) * g->dw;
    p->ox_lo = (g->pl + g->sw - 1) / g->sw;
    int64_t lim = p->w - 1 - span + g->pl; /* ox * sw <= lim */
    p->ox_hi = lim < 0 ? 0 : lim / g->sw + 1;
    if (p->ox_hi > p->ow)
        p->ox_hi = p->ow;
    if (p->ox_lo > p->ox_hi)
        p->ox_lo = p->ox_hi;
    /* Equal segments (whole tiles of the first group) so that threads get
     * equal shares: 196 pixels are 68 + 68 + 60, not 96 + 96 + 4. */
    int64_t tile = RMAX[p->fb];
    p->nseg = (p->ow + SEG_PIX - 1) / SEG_PIX;
    if (p->nseg < 1)
        p->nseg = 1;
    p->seg = (p->ow + p->nseg - 1) / p->nseg;
    p->seg = (p->seg + tile - 1) / tile * tile;
    if (p->seg > p->ow)
        p->seg = p->ow;
    if (p->seg < 1)
        p->seg = 1;
    p->nseg = (p->ow + p->seg - 1) / p->seg;
    /* A pointwise conv on a small map has few items (7 groups of 49
     * pixels at 7x7): shorter segments, so that threads can get equal
     * shares (run: items weighted by their work). */
    if (p->h == 1 && p->oh == 1) {
        int64_t want = 8 * (int64_t)p->slots;
        while (g->n * p->og * p->nseg < want && p->seg > 16) {
            int64_t seg = (p->ow + p->nseg) / (p->nseg + 1);
            seg = (seg + tile - 1) / tile * tile;
            if (seg >= p->seg)
                break;
            p->seg = seg;
            p->nseg = (p->ow + seg - 1) / seg;
        }
    }
    /* Weights that do not fit L2 next to the input rows: keep one group's
     * weights hot and stream the input past them instead. */
    size_t xbytes = (size_t)(p->cb * NK_BLK * g->h * g->w) * sizeof(float);
    double l2 = 256.0 * 1024;
    double row_traffic = (double)wbytes > l2
                             ? (double)wbytes * (double)(p->oh * p->nseg)
                             : 0.0;
    double wm_traffic =
        (double)xbytes > l2 ? (double)xbytes * (double)p->og : 0.0;
    p->weights_major = wm_traffic < row_traffic;
    st->work_bytes = 0;
    if (p->h != 1 || p->oh != 1)
        plan_flat(p, st, (double)wbytes);
    pack_weights(p, st->in[1]->data);
    /* NCHW input, few channels x taps, one channel chunk: the gather
     * table of mac_4x3_gather, with the strides the run will use. */
    int64_t nent = p->taps * g->c;
    if (p->mb >= 2 && nent <= 256 && (p->kc == 0 || p->kc >= p->cb)) {
        p->gtab = nk_malloc((size_t)nent * sizeof *p->gtab);
        if (!p->gtab) {
            nk_convblk_avx2_release(st);
            return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                           st->node->name);
        }
        bool copy = p->flat && (p->padcopy || p->subcopy);
        int64_t plane = copy ? p->hp * p->wp : p->h * p->w;
        int64_t row = copy ? p->wp : p->w;
        int64_t e = 0;
        for (int64_t ky = 0; ky < g->kh; ky++)
            for (int64_t kx = 0; kx < g->kw; kx++)
                for (int64_t c = 0; c < g->c; c++, e++) {
                    p->gtab[e][0] = c * plane + ky * g->dh * row + kx * g->dw;
                    p->gtab[e][1] = (ky * g->kw + kx) * p->cp + c;
                }
        p->gtab_ky = g->kw * g->c;
    }
    p->share = nk_malloc((size_t)p->slots * sizeof *p->share);
    if (!p->share) {
        nk_convblk_avx2_release(st);
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                       st->node->name);
    }
    for (int t = 0; t < p->slots; t++)
        share_items(p, items_of(p), t, p->slots, &p->share[t][0],
                    &p->share[t][1]);
    return NK_OK;
}

/* Sigmoid and Tanh run on each row once written (run_segment, the flat
 * path, nk_convblk_avx2_pointwise): inlined into every micro-kernel they
 * would bloat it. The others are the micro-kernels' epilogue. */
static bool act_after(const nk_step *st)
{
    return st->act == NK_ACT_SIGMOID || st->act == NK_ACT_TANH;
}

static nk_blk_actv ukr_act(const nk_step *st)
{
    return nk_blk_actv_make(act_after(st) ? NK_ACT_NONE : st->act,
                            st->act_a0, st->act_a1);
}

/* Output pixels [oxa, oxb) of row oy, image n, group o. */
static void run_segment(const convblk *p, const nk_step *st, ukr_args *a,
                        int64_t n, int64_t o, int64_t oy, int64_t oxa,
                        int64_t oxb, int blk, int64_t ps)
{
    const nk_conv_geom *g = &p->g;
    int64_t fg = p->mb - o * p->fb < p->fb ? p->mb - o * p->fb : p->fb;
    int64_t ohw = p->oh * p->ow;
    int64_t cimg = blk ? p->cb * NK_BLK : g->c; /* channels per image */
    const float *x = (const float *)st->in[0]->data + n * cimg * p->h * p->w;
    int64_t iy0 = oy * g->sh - g->pt;
    int ky0 = 0, ky1 = (int)g->kh;
    while (ky0 < ky1 && iy0 + ky0 * g->dh < 0)
        ky0++;
    while (ky1 > ky0 && iy0 + (ky1 - 1) * g->dh >= p->h)
        ky1--;
    a->ky0 = ky0;
    a->ky1 = ky1;
    a->w = p->wpack + (size_t)(o * p->fb * 8 * p->taps * p->cp);
    a->wtap = p->cp * fg * 8;
    a->bias = p->bias + o * p->fb * 8;
    size_t yoff = (size_t)(((n * p->mb + o * p->fb) * ohw + oy * p->ow) * 8);
    float *y = (float *)st->out[0]->data + yoff;
    const float *res =
        st->residual ? (const float *)st->residual->data + yoff : NULL;
    const ukr_fn *tab = UKRS[blk][fg];
    int rmax = RMAX[fg];
    int64_t ox = oxa;
    while (ox < oxb) {
        int64_t ix0 = ox * g->sw - g->pl;
        int R;
        if (ox < p->ox_lo || ox >= p->ox_hi) {
            /* Border pixel: only its taps inside the row. */
            int kx0 = 0, kx1 = (int)g->kw;
            while (kx0 < kx1 && ix0 + kx0 * g->dw < 0)
                kx0++;
            while (kx1 > kx0 && ix0 + (kx1 - 1) * g->dw >= p->w)
                kx1--;
            a->kx0 = kx0;
            a->kx1 = kx1;
            R = 1;
        } else {
            int64_t e = oxb < p->ox_hi ? oxb : p->ox_hi;
            R = (int)(e - ox < rmax ? e - ox : rmax);
            a->kx0 = 0;
            a->kx1 = (int)g->kw;
        }
        a->x = x;
        a->xoff = (iy0 * p->w + ix0) * ps;
        a->y = y + ox * 8;
        a->res = res ? res + ox * 8 : NULL;
        if (R == rmax && fg >= 2 && blk && p->taps == 1 && p->h == 1 &&
            g->sw == 1) {
            int64_t e = oxb < p->ox_hi ? oxb : p->ox_hi;
            int64_t nt = (e - ox) / R;
            (fg == 3 ? pw_tiles_4x3 : pw_tiles_6x2)(a, x + a->xoff, nt);
            ox += nt * R;
            continue;
        }
        tab[R](a);
        ox += R;
    }
    if (act_after(st))
        for (int64_t f = 0; f < fg; f++)
            nk_act_apply(st->act, st->act_a0, st->act_a1,
                         y + f * ohw * 8 + oxa * 8, (size_t)(oxb - oxa) * 8);
}

bool nk_convblk_avx2_is_pointwise(const nk_step *st)
{
    const convblk *p = st->params;
    return st->kernel && st->kernel->run == nk_convblk_avx2_run && p &&
           p->taps == 1 && p->h == 1 && p->oh == 1 && p->w == p->ow &&
           st->in[0]->layout == NK_LAYOUT_NCHW8C;
}

void nk_convblk_avx2_pointwise(const nk_step *st, const float *x,
                               int64_t xcbs, float *y, int64_t ycbs,
                               const float *res, int64_t npix)
{
    const convblk *p = st->params;
    ukr_args a;
    memset(&a, 0, sizeof a);
    a.x = x;
    a.cbs = xcbs;
    a.ls = 1;
    a.rs = NK_BLK;
    a.nfull = p->cb;
    a.ky1 = a.kx1 = a.kw = 1;
    a.ys = ycbs;
    a.final = 1;
    bool post = act_after(st);
    a.act = ukr_act(st);
    for (int64_t o = 0; o < p->og; o++) {
        int64_t fg = p->mb - o * p->fb < p->fb ? p->mb - o * p->fb : p->fb;
        int rmax = RMAX[fg];
        float *yo = y + o * p->fb * ycbs;
        const float *ro = res ? res + o * p->fb * ycbs : NULL;
        a.w = p->wpack + (size_t)(o * p->fb * 8 * p->cp);
        a.wtap = p->cp * fg * 8;
        a.bias = p->bias + o * p->fb * 8;
        int64_t ox = 0;
        if (fg >= 2) {
            int64_t nt = npix / rmax;
            a.y = yo;
            a.res = ro;
            (fg == 3 ? pw_tiles_4x3 : pw_tiles_6x2)(&a, x, nt);
            ox = nt * rmax;
        }
        while (ox < npix) {
            int R = (int)(npix - ox < rmax ? npix - ox : rmax);
            a.xoff = ox * NK_BLK;
            a.y = yo + ox * NK_BLK;
            a.res = ro ? ro + ox * NK_BLK : NULL;
            UKRS[1][fg][R](&a);
            ox += R;
        }
        if (post)
            for (int64_t f = 0; f < fg; f++)
                nk_act_apply(st->act, st->act_a0, st->act_a1, yo + f * ycbs,
                             (size_t)npix * NK_BLK);
    }
}

/* Work item i: image, group and segment (the row path: row * nseg +
 * segment of the row; the flat path: segment of the flattened map). */
static void work_item(const convblk *p, int64_t i, int64_t *n, int64_t *o,
                      int64_t *sg)
{
    int64_t segs = p->flat ? p->nseg : p->oh * p->nseg;
    if (p->weights_major) {
        *sg = i % segs;
        *o = i / segs % p->og;
        *n = i / segs / p->og;
    } else {
        *o = i % p->og;
        *sg = i / p->og % segs;
        *n = i / p->og / segs;
    }
}

/* Work items of the path the conv takes: image x group x segment (the
 * row path's segments are rows x segments of a row). */
static int64_t items_of(const convblk *p)
{
    return p->g.n * p->og * (p->flat ? p->nseg : p->oh * p->nseg);
}

/* An item's weight for nk_share_weighed: blocks x pixels (the last group
 * and segment may be short). */
static int64_t item_weight(const void *arg, int64_t i)
{
    const convblk *p = arg;
    int64_t len_all = p->flat ? p->g.oh * p->g.ow : p->ow;
    int64_t n, o, sg;
    work_item(p, i, &n, &o, &sg);
    int64_t fg = p->mb - o * p->fb < p->fb ? p->mb - o * p->fb : p->fb;
    int64_t s0 = (sg % p->nseg) * p->seg;
    int64_t len = len_all - s0 < p->seg ? len_all - s0 : p->seg;
    return fg * len;
}

/* Thread ith's items [*b, *e) of the n items. */
static void share_items(const convblk *p, int64_t items, int ith,
                        int active, int64_t *b, int64_t *e)
{
    nk_share_weighed(items, item_weight, p, ith, active, b, e);
}

/* Rows [oy0, oy1) of the zero-padded image n of in[0] into buf, in
 * in[0]'s layout with (hp, wp) maps: the rows output rows [oy0, oy1)
 * read (flat subcopy: the rows of its compacted map). */
static void copy_rows(const convblk *p, const nk_step *st, int64_t n,
                      int blk, float *buf, int64_t oy0, int64_t oy1)
{
    const nk_conv_geom *g = &p->g;
    int64_t planes = blk ? p->cb : g->c, v = blk ? NK_BLK : 1;
    const float *x = (const float *)st->in[0]->data +
                     n * planes * v * g->h * g->w;
    int64_t py0 = oy0 * p->fsh, py1 = (oy1 - 1) * p->fsh + 1;
    if (!p->subcopy)
        py1 += (g->kh - 1) * g->dh;
    for (int64_t c = 0; c < planes; c++) {
        const float *s = x + c * g->h * g->w * v;
        float *d = buf + (c * p->hp + py0) * p->wp * v;
        for (int64_t py = py0; py < py1; py++, d += p->wp * v) {
            if (p->subcopy) {
                const float *sr = s + py * g->sh * g->w * v;
                if (blk)
                    for (int64_t ox = 0; ox < g->ow; ox++)
                        _mm256_storeu_ps(d + ox * NK_BLK,
                                         _mm256_loadu_ps(sr + ox * g->sw *
                                                                  NK_BLK));
                else
                    for (int64_t ox = 0; ox < g->ow; ox++)
                        d[ox] = sr[ox * g->sw];
                continue;
            }
            int64_t iy = py - g->pt;
            if (iy < 0 || iy >= g->h) {
                memset(d, 0, (size_t)(p->wp * v) * sizeof(float));
                continue;
            }
            memset(d, 0, (size_t)(g->pl * v) * sizeof(float));
            memcpy(d + g->pl * v, s + iy * g->w * v,
                   (size_t)(g->w * v) * sizeof(float));
            memset(d + (g->pl + g->w) * v, 0,
                   (size_t)(g->pr * v) * sizeof(float));
        }
    }
}

/* Flattened output pixels [pa, pb) of image n, group o: every tap inside
 * the (hp, wp) map at x (image n, channel 0). */
static void run_flat(const convblk *p, const nk_step *st, ukr_args *a,
                     const float *x, int64_t n, int64_t o, int64_t pa,
                     int64_t pb, int blk, int64_t ps)
{
    const nk_conv_geom *g = &p->g;
    int64_t fg = p->mb - o * p->fb < p->fb ? p->mb - o * p->fb : p->fb;
    int64_t ohw = g->oh * g->ow;
    a->ky0 = 0;
    a->ky1 = (int)g->kh;
    a->kx0 = 0;
    a->kx1 = (int)g->kw;
    a->w = p->wpack + (size_t)(o * p->fb * 8 * p->taps * p->cp);
    a->wtap = p->cp * fg * 8;
    a->bias = p->bias + o * p->fb * 8;
    size_t yoff = (size_t)(((n * p->mb + o * p->fb) * ohw) * 8);
    float *y = (float *)st->out[0]->data + yoff;
    const float *res =
        st->residual ? (const float *)st->residual->data + yoff : NULL;
    const ukr_fn *tab = UKRS_FLAT[blk][fg];
    int rmax = RMAX[fg];
    int64_t rstep = p->fsh * p->wp * ps, cstep = p->fsw * ps;
    /* Channel chunks of kc blocks: the group's weights for one chunk stay
     * in L2 while every tile of the segment passes them; partial sums
     * wait in y. */
    int64_t nblk = a->nfull + (a->tail ? 1 : 0);
    int64_t kc = p->kc < nblk ? p->kc : nblk;
    const float *w0 = a->w;
    int64_t nfull = a->nfull;
    int tail = a->tail;
    for (int64_t c0 = 0; c0 < nblk; c0 += kc) {
        int64_t c1 = c0 + kc < nblk ? c0 + kc : nblk;
        a->nfull = c1 <= nfull ? c1 - c0 : nfull - c0;
        a->tail = c1 > nfull ? tail : 0;
        a->w = w0 + c0 * 8 * fg * 8 * p->taps;
        a->wtap = (c1 - c0) * 8 * fg * 8;
        a->accum = c0 > 0;
        a->final = c1 == nblk;
        const float *xc = x + c0 * a->cbs;
        int64_t oy = pa / g->ow, ox = pa % g->ow;
        /* The next chunk's weights (contiguous, after this one's) are
         * fetched a share per tile while this chunk runs: the first tile
         * of a chunk would otherwise wait on memory. */
        const char *pf = (const char *)(a->w + (c1 - c0) * 8 * fg * 8 *
                                                   p->taps);
        const char *pf_end =
            c1 < nblk ? pf + ((c1 + kc < nblk ? kc : nblk - c1) * 8 * fg *
                              8 * p->taps * (int64_t)sizeof(float))
                      : pf;
        int64_t ntile = (pb - pa + rmax - 1) / rmax;
        int64_t pf_step = ((pf_end - pf) / ntile + 63) / 64 * 64;
        for (int64_t q = pa; q < pb;) {
            for (const char *e = pf + pf_step; pf < e && pf < pf_end;
                 pf += 64)
                _mm_prefetch(pf, _MM_HINT_T1);
            int R = (int)(pb - q < rmax ? pb - q : rmax);
            const float *row = xc + oy * rstep;
            for (int r = 0; r < R; r++) {
                a->px[r] = row + ox * cstep;
                if (++ox == g->ow) {
                    ox = 0;
                    oy++;
                    row += rstep;
                }
            }
            a->y = y + q * 8;
            a->res = res ? res + q * 8 : NULL;
            tab[R](a);
            q += R;
        }
    }
    a->nfull = nfull;
    a->tail = tail;
    a->accum = 0;
    a->final = 1;
    if (act_after(st))
        for (int64_t f = 0; f < fg; f++)
            nk_act_apply(st->act, st->act_a0, st->act_a1,
                         y + f * ohw * 8 + pa * 8, (size_t)(pb - pa) * 8);
}

/* Thread ith's items of a run on nth threads: the plan-time shares, or
 * (a run on another thread count) computed now. */
static void my_items(const convblk *p, int ith, int nth, int64_t *b,
                     int64_t *e)
{
    if (nth == p->slots) {
        *b = p->share[ith][0];
        *e = p->share[ith][1];
    } else {
        share_items(p, items_of(p), ith, nth, b, e);
    }
}

void nk_convblk_avx2_run(const nk_step *st, int ith, int nth)
{
    const convblk *p = st->params;
    const nk_conv_geom *g = &p->g;
    int64_t ls, ps;
    nk_blk_strides(st->in[0], &ls, &ps);
    int blk = st->in[0]->layout == NK_LAYOUT_NCHW8C;
    ukr_args a;
    memset(&a, 0, sizeof a);
    a.cbs = NK_BLK * p->h * p->w;
    a.ls = ls;
    a.rs = g->sw * ps;
    a.tys = g->dh * p->w * ps;
    a.txs = g->dw * ps;
    a.nfull = blk ? p->cb : g->c / NK_BLK;
    a.tail = blk ? 0 : (int)(g->c % NK_BLK);
    a.kw = (int)g->kw;
    a.ys = p->oh * p->ow * NK_BLK;
    a.final = 1;
    a.gtab = blk ? NULL : (const int64_t(*)[2])p->gtab;
    a.gtab_ky = p->gtab_ky;
    a.act = ukr_act(st);

    if (p->flat) {
        int active = nk_slots_active(nth, p->slots);
        if (ith >= active)
            return;
        int64_t b, e, i;
        my_items(p, ith, active, &b, &e);
        nk_items it;
        nk_items_begin(&it, st->steal, ith, active, b, e);
        bool stolen;
        float *buf = NULL;
        int64_t have = -1; /* image in buf */
        int64_t cimg = blk ? p->cb * NK_BLK : g->c;
        if (p->padcopy || p->subcopy) {
            uintptr_t base = (uintptr_t)st->work + p->slot_bytes * (size_t)ith;
            buf = (float *)((base + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
            a.cbs = NK_BLK * p->hp * p->wp;
            a.ls = blk ? 1 : p->hp * p->wp;
            a.tys = g->dh * p->wp * ps;
        }
        int64_t ohw = g->oh * g->ow;
        while (nk_items_next(&it, &i, &stolen)) {
            int64_t n, o, sg;
            work_item(p, i, &n, &o, &sg);
            const float *x;
            if (p->padcopy || p->subcopy) {
                if (have != n || stolen) {
                    /* Only the rows this thread's items of image n read
                     * (an item taken from another share: its own rows). */
                    int64_t plo = ohw, phi = 0;
                    for (int64_t j = i; j < (stolen ? i + 1 : e); j++) {
                        int64_t nj, oj, sj;
                        work_item(p, j, &nj, &oj, &sj);
                        if (nj != n)
                            continue;
                        int64_t qa = sj * p->seg;
                        int64_t qb = qa + p->seg < ohw ? qa + p->seg : ohw;
                        plo = qa < plo ? qa : plo;
                        phi = qb > phi ? qb : phi;
                    }
                    copy_rows(p, st, n, blk, buf, plo / g->ow,
                              (phi - 1) / g->ow + 1);
                }
                have = stolen ? -1 : n;
                x = buf;
            } else {
                x = (const float *)st->in[0]->data + n * cimg * g->h * g->w;
            }
            int64_t pa = sg * p->seg;
            int64_t pb = pa + p->seg < g->oh * g->ow ? pa + p->seg
                                                      : g->oh * g->ow;
            run_flat(p, st, &a, x, n, o, pa, pb, blk, ps);
        }
        return;
    }
    int64_t b, e, i;
    my_items(p, ith, nth, &b, &e);
    nk_items it;
    nk_items_begin(&it, st->steal, ith, nth, b, e);
    while (nk_items_next(&it, &i, NULL)) {
        int64_t n, o, rs;
        work_item(p, i, &n, &o, &rs);
        int64_t oy = rs / p->nseg, sg = rs % p->nseg;
        int64_t oxa = sg * p->seg;
        int64_t oxb = oxa + p->seg < p->ow ? oxa + p->seg : p->ow;
        run_segment(p, st, &a, n, o, oy, oxa, oxb, blk, ps);
    }
}
#endif
