/*
 * kernel-rand.h — the seeded random numbers the kernel tests draw their
 * shapes and data from (xorshift64; a test may #define NK_TEST_SEED before
 * including this to keep its own sequence). Header-only, static: one
 * state per test program.
 */
#ifndef NK_TEST_KERNEL_RAND_H
#define NK_TEST_KERNEL_RAND_H

#include <stddef.h>
#include <stdint.h>

#ifndef NK_TEST_SEED
#define NK_TEST_SEED 0x9e3779b97f4a7c15ull
#endif

static uint64_t g_state = NK_TEST_SEED;

static inline uint32_t rnd_u32(void)
{
    g_state ^= g_state << 13;
    g_state ^= g_state >> 7;
    g_state ^= g_state << 17;
    return (uint32_t)(g_state >> 16);
}

/* Uniform in [lo, hi]. */
static inline int rnd_int(int lo, int hi)
{
    return lo + (int)(rnd_u32() % (uint32_t)(hi - lo + 1));
}

/* Uniform in [-1, 1). */
static inline float rnd_f(void)
{
    return (float)rnd_u32() / 4294967296.0f * 2.0f - 1.0f;
}

/* p[i] = scale * rnd_f(). */
static inline void fill_scaled(float *p, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++)
        p[i] = rnd_f() * scale;
}

static inline void fill(float *p, size_t n) { fill_scaled(p, n, 1.0f); }

#endif /* NK_TEST_KERNEL_RAND_H */
