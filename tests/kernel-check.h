/*
 * kernel-check.h — the measure the kernel tests hold a fast kernel to
 * against its reference, and whether this CPU runs the AVX2 rows.
 * Header-only, static.
 */
#ifndef NK_TEST_KERNEL_CHECK_H
#define NK_TEST_KERNEL_CHECK_H

#include "engine/ctx.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>

/* max|a - b| / max(1, scale, max|b|): scale is the magnitude of the sums
 * before an activation squashed them (a Clip to +-0.5 must not hide the
 * rounding of a sum of size 10). A NaN in a counts as infinite error
 * unless b has one in the same place (NaN in, NaN out). */
static inline double rel_err_s(const float *a, const float *b, size_t n,
                               double scale)
{
    double d = 0.0, m = scale;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (isnan(a[i]) && isnan(b[i]))
            e = 0.0;
        if (!(e <= d))
            d = e;
        if (fabs(b[i]) > m)
            m = fabs(b[i]);
    }
    return d / (m > 1.0 ? m : 1.0);
}

static inline double rel_err(const float *a, const float *b, size_t n)
{
    return rel_err_s(a, b, n, 0.0);
}

static inline bool have_avx2(void)
{
    nk_cpu cpu = nk_cpu_detect();
    return cpu.avx2 && cpu.fma;
}

#endif /* NK_TEST_KERNEL_CHECK_H */
