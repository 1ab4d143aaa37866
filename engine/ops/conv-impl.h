/*
 * conv-impl.h — state shared by the Conv kernels (conv.c, conv-gemm.c)
 * and the scratch slot count that the GEMM-based kernels (Conv, MatMul,
 * Gemm) size their per-thread scratch for.
 */
#ifndef NK_CONV_IMPL_H
#define NK_CONV_IMPL_H

#include "engine/kernel.h"
#include "engine/op.h"

typedef struct nk_conv_params {
    nk_conv_geom g;
    int slots;         /* threads the scratch was sized for */
    int64_t chunk;     /* output pixels per im2col tile */
    size_t slot_bytes; /* scratch bytes per thread slot */
    int direct;        /* 1x1, stride 1, no pad: B is the input itself */
} nk_conv_params;

/* Most threads a plan may run a step with: per-thread scratch is sized
 * for this many; a kernel run with more threads leaves the extra ones
 * idle (see nk_slots_active). */
#define NK_MAX_SLOTS 64
static inline int nk_kernel_slots(const nk_step *st)
{
    int n = st->nth;
    return n > NK_MAX_SLOTS ? NK_MAX_SLOTS : (n < 1 ? 1 : n);
}
static inline int nk_slots_active(int nth, int slots)
{
    return nth < slots ? nth : slots;
}

#endif /* NK_CONV_IMPL_H */
