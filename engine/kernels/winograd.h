/*
 * winograd.h — the parts of Winograd F(4x4, 3x3) that both Winograd
 * kernels use: the portable one (conv-winograd.c) and the NCHW8c AVX2 one
 * (x86/winograd-blocked-avx2.c). The tile transforms are written on GCC
 * vectors of eight floats, so each file gets them in its own ISA (SSE2
 * pairs on baseline x86-64, one ymm register under -mavx2).
 */
#ifndef NK_WINOGRAD_H
#define NK_WINOGRAD_H

#include "engine/kernel.h"
#include "engine/op.h"

#include <string.h>

/* A 3x3 stride-1 dilation-1 group-1 Conv with constant weights and at
 * least 8 input and output channels: the geometry both kernels take. */
bool nk_winograd_geom(const nk_step *st, nk_conv_geom *g);

/* G g G^T of one 3x3 filter (row-major) in double, rounded to the 36
 * floats u[a * 6 + b] (conv-winograd.c). */
void nk_winograd_filter(const float k[9], float u[36]);

typedef float nk_v8f __attribute__((vector_size(32)));

#define NK_V8_LOAD(dst, p) memcpy(&(dst), (p), sizeof(nk_v8f))

/* Input transform of 6 values (one row or column): B^T d. */
#define NK_BT6(d, r) \
    do { \
        r[0] = 4.0f * d[0] - 5.0f * d[2] + d[4]; \
        r[1] = -4.0f * d[1] - 4.0f * d[2] + d[3] + d[4]; \
        r[2] = 4.0f * d[1] - 4.0f * d[2] - d[3] + d[4]; \
        r[3] = -2.0f * d[1] - d[2] + 2.0f * d[3] + d[4]; \
        r[4] = 2.0f * d[1] - d[2] - 2.0f * d[3] + d[4]; \
        r[5] = 4.0f * d[1] - 5.0f * d[3] + d[5]; \
    } while (0)

/* Output transform of 6 values: A^T m (4 values). */
#define NK_AT6(m, o) \
    do { \
        __typeof__(m[0]) s12 = m[1] + m[2], d12 = m[1] - m[2]; \
        __typeof__(m[0]) s34 = m[3] + m[4], d34 = m[3] - m[4]; \
        o[0] = m[0] + s12 + s34; \
        o[1] = d12 + 2.0f * d34; \
        o[2] = s12 + 4.0f * s34; \
        o[3] = d12 + 8.0f * d34 + m[5]; \
    } while (0)

/* B^T d B of eight 6x6 input tiles at once (or of one tile's eight
 * channels): position xi = a * 6 + b of the result into v[xi]. */
static inline __attribute__((always_inline)) void
nk_winograd_bt6(nk_v8f d[6][6], nk_v8f v[36])
{
    nk_v8f r[6][6];
    for (int b = 0; b < 6; b++) {
        nk_v8f col[6] = {d[0][b], d[1][b], d[2][b],
                         d[3][b], d[4][b], d[5][b]};
        nk_v8f o[6];
        NK_BT6(col, o);
        for (int a = 0; a < 6; a++)
            r[a][b] = o[a];
    }
    for (int a = 0; a < 6; a++)
        NK_BT6(r[a], (v + a * 6));
}

/* A^T m A of eight 6x6 results at once: position xi's eight values at
 * m + xi * xi_stride, the 4x4 outputs into o. */
static inline __attribute__((always_inline)) void
nk_winograd_at6(const float *m, size_t xi_stride, nk_v8f o[4][4])
{
    nk_v8f q[4][6];
    for (int bcol = 0; bcol < 6; bcol++) {
        nk_v8f col[6], oo[4];
        for (int a = 0; a < 6; a++)
            NK_V8_LOAD(col[a], m + (size_t)(a * 6 + bcol) * xi_stride);
        NK_AT6(col, oo);
        for (int a = 0; a < 4; a++)
            q[a][bcol] = oo[a];
    }
    for (int a = 0; a < 4; a++)
        NK_AT6(q[a], o[a]);
}

#endif /* NK_WINOGRAD_H */
