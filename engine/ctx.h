/*
 * ctx.h — the context internals shared by every module: error reporting
 * (nk_fail), thread count, CPU features and small helpers.
 */
#ifndef NK_CTX_H
#define NK_CTX_H

#include "nnkit.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NK_ERRMSG_MAX 2048

typedef struct nk_cpu {
    bool sse41, avx, avx2, fma, f16c, avx512f, avx512bw, avx512vl,
        avx512vnni, avxvnni, neon;
} nk_cpu;

struct nk_ctx {
    char msg[NK_ERRMSG_MAX];
    nk_status last;
    int threads;   /* 0 = online CPUs */
    nk_cpu cpu;
};

/* Record an error in ctx and return code (printf-style message). ctx may
 * be NULL, in which case only the code is returned. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
nk_status nk_fail(nk_ctx *ctx, nk_status code, const char *fmt, ...);

/* Prefix the current message with "prefix: " (for adding a file name). */
void nk_errmsg_prefix(nk_ctx *ctx, const char *fmt, ...);

/* Number of online CPUs (>= 1). */
int nk_cpu_count(void);
/* The CPU features, from cpuid, minus those disabled by NNKIT_ISA. */
nk_cpu nk_cpu_detect(void);

/* Overflow-checked arithmetic: return false on overflow. */
static inline bool nk_mul_size(size_t a, size_t b, size_t *r)
{
    return !__builtin_mul_overflow(a, b, r);
}
static inline bool nk_add_size(size_t a, size_t b, size_t *r)
{
    return !__builtin_add_overflow(a, b, r);
}

/* Internal invariant (a bug in nnkit if false): aborts with location. */
#define NK_ASSERT(c)                                                     \
    do {                                                                 \
        if (!(c))                                                        \
            nk_assert_fail(#c, __FILE__, __LINE__);                      \
    } while (0)
_Noreturn void nk_assert_fail(const char *expr, const char *file, int line);

/* Allocation wrappers; NNKIT_FAIL_ALLOC=N (tests) makes the N-th call
 * fail, so out-of-memory paths can be exercised. */
void *nk_malloc(size_t n);
/* Tests: make the n-th allocation from now fail (n <= 0: never). */
void nk_alloc_fail_at(long n);
void *nk_calloc(size_t n, size_t size);
void *nk_realloc(void *p, size_t n);
void nk_free(void *p);
char *nk_strdup(const char *s);
/* Aligned allocation (alignment a power of two); free with nk_free_aligned. */
void *nk_malloc_aligned(size_t n, size_t align);
void nk_free_aligned(void *p);

/* Reading/writing whole files; write is atomic (tmp + fsync + rename). */
nk_status nk_file_read(nk_ctx *ctx, const char *path, uint8_t **data,
                       size_t *len);
nk_status nk_file_write_atomic(nk_ctx *ctx, const char *path,
                               const void *data, size_t len);

/* Atomic writer for streamed output: open PATH.tmp, write, commit. */
typedef struct nk_writer {
    void *fp;
    char *path, *tmp;
    bool failed;
    uint64_t written;
} nk_writer;
nk_status nk_writer_open(nk_ctx *ctx, nk_writer *w, const char *path);
nk_status nk_writer_write(nk_ctx *ctx, nk_writer *w, const void *p, size_t n);
nk_status nk_writer_pad_to(nk_ctx *ctx, nk_writer *w, uint64_t align);
/* Flush, fsync and rename into place; on any earlier failure, remove tmp. */
nk_status nk_writer_commit(nk_ctx *ctx, nk_writer *w);
void nk_writer_abort(nk_writer *w);

/* Read-only mmap of a whole file. */
nk_status nk_file_map(nk_ctx *ctx, const char *path, void **addr,
                      size_t *len);
void nk_file_unmap(void *addr, size_t len);

/* Deterministic RNG (xoshiro256**), for initialisation and shuffling. */
typedef struct nk_rng {
    uint64_t s[4];
} nk_rng;
void nk_rng_seed(nk_rng *r, uint64_t seed);
uint64_t nk_rng_next(nk_rng *r);
float nk_rng_uniform(nk_rng *r);            /* [0, 1) */
float nk_rng_normal(nk_rng *r);             /* N(0, 1) */

/* IEEE half / bfloat16 conversions. */
float nk_f16_to_f32(uint16_t h);
uint16_t nk_f32_to_f16(float f);
float nk_bf16_to_f32(uint16_t h);
uint16_t nk_f32_to_bf16(float f);

#endif /* NK_CTX_H */
