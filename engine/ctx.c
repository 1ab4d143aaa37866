/*
 * ctx.c — contexts and the small services every module uses: error
 * messages, checked allocation (with failure injection for tests), atomic
 * file writing, mmap, a deterministic RNG, half-float conversion, cpuid.
 */
#include "engine/ctx.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

/* ---- context --------------------------------------------------------- */

nk_status nk_ctx_new(nk_ctx **out)
{
    nk_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return NK_NOMEM;
    c->cpu = nk_cpu_detect();
    const char *t = getenv("NNKIT_THREADS");
    if (t && *t)
        c->threads = atoi(t) > 0 ? atoi(t) : 0;
    *out = c;
    return NK_OK;
}

void nk_ctx_free(nk_ctx *ctx) { free(ctx); }

const char *nk_errmsg(const nk_ctx *ctx) { return ctx ? ctx->msg : ""; }

void nk_ctx_set_threads(nk_ctx *ctx, int n) { ctx->threads = n > 0 ? n : 0; }

int nk_ctx_threads(const nk_ctx *ctx)
{
    return ctx->threads > 0 ? ctx->threads : nk_cpu_count();
}

const char *nk_version(void) { return NNKIT_VERSION; }

const char *nk_status_name(nk_status st)
{
    switch (st) {
    case NK_OK: return "NK_OK";
    case NK_NOMEM: return "NK_NOMEM";
    case NK_IO: return "NK_IO";
    case NK_FORMAT: return "NK_FORMAT";
    case NK_UNSUPPORTED: return "NK_UNSUPPORTED";
    case NK_INVALID_ARG: return "NK_INVALID_ARG";
    case NK_SHAPE: return "NK_SHAPE";
    case NK_NET: return "NK_NET";
    case NK_CHECKSUM: return "NK_CHECKSUM";
    case NK_NOT_FOUND: return "NK_NOT_FOUND";
    case NK_INTERNAL: return "NK_INTERNAL";
    default: return "NK_?";
    }
}

nk_status nk_fail(nk_ctx *ctx, nk_status code, const char *fmt, ...)
{
    if (!ctx)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->msg, sizeof ctx->msg, fmt, ap);
    va_end(ap);
    ctx->last = code;
    return code;
}

void nk_errmsg_prefix(nk_ctx *ctx, const char *fmt, ...)
{
    if (!ctx)
        return;
    char old[NK_ERRMSG_MAX];
    va_list ap;
    memcpy(old, ctx->msg, sizeof old);
    va_start(ap, fmt);
    int n = vsnprintf(ctx->msg, sizeof ctx->msg, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n + 2 >= sizeof ctx->msg)
        return;
    size_t rest = sizeof ctx->msg - (size_t)n;
    memcpy(ctx->msg + n, ": ", 2);
    size_t ol = strlen(old);
    if (ol > rest - 3)
        ol = rest - 3;
    memcpy(ctx->msg + n + 2, old, ol);
    ctx->msg[n + 2 + ol] = 0;
}

_Noreturn void nk_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "nnkit: internal error: %s:%d: assertion '%s' failed\n",
            file, line, expr);
    abort();
}

int nk_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* ---- allocation ------------------------------------------------------ */

static long alloc_fail_at = -1; /* NNKIT_FAIL_ALLOC: fail the N-th call */
static long alloc_count;
static int alloc_init;

static int alloc_should_fail(void)
{
    if (!alloc_init) {
        const char *s = getenv("NNKIT_FAIL_ALLOC");
        alloc_fail_at = (s && *s) ? atol(s) : -1;
        alloc_init = 1;
    }
    if (alloc_fail_at < 0)
        return 0;
    return __atomic_add_fetch(&alloc_count, 1, __ATOMIC_RELAXED) ==
           alloc_fail_at;
}

void nk_alloc_fail_at(long n)
{
    alloc_init = 1;
    __atomic_store_n(&alloc_count, 0, __ATOMIC_RELAXED);
    alloc_fail_at = n > 0 ? n : -1;
}

void *nk_malloc(size_t n)
{
    if (alloc_should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *nk_calloc(size_t n, size_t size)
{
    if (alloc_should_fail())
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *nk_realloc(void *p, size_t n)
{
    if (alloc_should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

void nk_free(void *p) { free(p); }

char *nk_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = nk_malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

void *nk_malloc_aligned(size_t n, size_t align)
{
    if (alloc_should_fail())
        return NULL;
    void *p = NULL;
    if (align < sizeof(void *))
        align = sizeof(void *);
    if (posix_memalign(&p, align, n ? n : 1) != 0)
        return NULL;
    return p;
}

void nk_free_aligned(void *p) { free(p); }

/* ---- files ------------------------------------------------------------ */

nk_status nk_file_read(nk_ctx *ctx, const char *path, uint8_t **data,
                       size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return nk_fail(ctx, NK_IO, "%s: cannot open: %s", path,
                       strerror(errno));
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = nk_malloc(cap);
    if (!buf) {
        fclose(f);
        return nk_fail(ctx, NK_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (n == cap) {
            uint8_t *nb = cap > SIZE_MAX / 2 ? NULL : nk_realloc(buf, cap * 2);
            if (!nb) {
                nk_free(buf);
                fclose(f);
                return nk_fail(ctx, NK_NOMEM, "%s: out of memory", path);
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        nk_free(buf);
        return nk_fail(ctx, NK_IO, "%s: read error", path);
    }
    *data = buf;
    *len = n;
    return NK_OK;
}

nk_status nk_writer_open(nk_ctx *ctx, nk_writer *w, const char *path)
{
    memset(w, 0, sizeof *w);
    size_t n = strlen(path);
    w->path = nk_strdup(path);
    w->tmp = nk_malloc(n + 32);
    if (!w->path || !w->tmp) {
        nk_free(w->path);
        nk_free(w->tmp);
        return nk_fail(ctx, NK_NOMEM, "%s: out of memory", path);
    }
    snprintf(w->tmp, n + 32, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(w->tmp, "wb");
    if (!f) {
        nk_status st = nk_fail(ctx, NK_IO, "%s: cannot create: %s", w->tmp,
                               strerror(errno));
        nk_free(w->path);
        nk_free(w->tmp);
        w->path = w->tmp = NULL;
        return st;
    }
    w->fp = f;
    return NK_OK;
}

nk_status nk_writer_write(nk_ctx *ctx, nk_writer *w, const void *p, size_t n)
{
    if (w->failed)
        return NK_IO;
    if (n && fwrite(p, 1, n, (FILE *)w->fp) != n) {
        w->failed = true;
        return nk_fail(ctx, NK_IO, "%s: write failed: %s", w->tmp,
                       strerror(errno));
    }
    w->written += n;
    return NK_OK;
}

nk_status nk_writer_pad_to(nk_ctx *ctx, nk_writer *w, uint64_t align)
{
    static const uint8_t zeros[256];
    uint64_t rem = w->written % align;
    if (rem == 0)
        return NK_OK;
    uint64_t pad = align - rem;
    while (pad) {
        size_t k = pad > sizeof zeros ? sizeof zeros : (size_t)pad;
        nk_status st = nk_writer_write(ctx, w, zeros, k);
        if (st)
            return st;
        pad -= k;
    }
    return NK_OK;
}

void nk_writer_abort(nk_writer *w)
{
    if (w->fp)
        fclose((FILE *)w->fp);
    if (w->tmp)
        unlink(w->tmp);
    nk_free(w->path);
    nk_free(w->tmp);
    memset(w, 0, sizeof *w);
}

nk_status nk_writer_commit(nk_ctx *ctx, nk_writer *w)
{
    FILE *f = w->fp;
    nk_status st = NK_OK;
    if (w->failed)
        st = NK_IO;
    else if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        st = nk_fail(ctx, NK_IO, "%s: cannot flush: %s", w->tmp,
                     strerror(errno));
    if (fclose(f) != 0 && st == NK_OK)
        st = nk_fail(ctx, NK_IO, "%s: close failed: %s", w->tmp,
                     strerror(errno));
    w->fp = NULL;
    if (st == NK_OK && rename(w->tmp, w->path) != 0)
        st = nk_fail(ctx, NK_IO, "%s: cannot rename to %s: %s", w->tmp,
                     w->path, strerror(errno));
    if (st != NK_OK)
        unlink(w->tmp);
    nk_free(w->path);
    nk_free(w->tmp);
    w->path = w->tmp = NULL;
    return st;
}

nk_status nk_file_write_atomic(nk_ctx *ctx, const char *path,
                               const void *data, size_t len)
{
    nk_writer w;
    nk_status st = nk_writer_open(ctx, &w, path);
    if (st)
        return st;
    st = nk_writer_write(ctx, &w, data, len);
    if (st) {
        nk_writer_abort(&w);
        return st;
    }
    return nk_writer_commit(ctx, &w);
}

nk_status nk_file_map(nk_ctx *ctx, const char *path, void **addr,
                      size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return nk_fail(ctx, NK_IO, "%s: cannot open: %s", path,
                       strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return nk_fail(ctx, NK_IO, "%s: cannot stat: %s", path,
                       strerror(errno));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return nk_fail(ctx, NK_IO, "%s: not a regular file", path);
    }
    if (sb.st_size == 0) {
        close(fd);
        *addr = NULL;
        *len = 0;
        return NK_OK;
    }
    void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return nk_fail(ctx, NK_IO, "%s: cannot map: %s", path,
                       strerror(errno));
    *addr = p;
    *len = (size_t)sb.st_size;
    return NK_OK;
}

void nk_file_unmap(void *addr, size_t len)
{
    if (addr && len)
        munmap(addr, len);
}

/* ---- RNG (xoshiro256**, seeded through splitmix64) --------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void nk_rng_seed(nk_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t nk_rng_next(nk_rng *r)
{
    uint64_t *s = r->s;
    uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

float nk_rng_uniform(nk_rng *r)
{
    return (float)(nk_rng_next(r) >> 40) * (1.0f / 16777216.0f);
}

float nk_rng_normal(nk_rng *r)
{
    /* Box-Muller; u1 in (0, 1] so the log is finite. */
    double u1 = ((double)(nk_rng_next(r) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double u2 = (double)(nk_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* ---- half floats ------------------------------------------------------ */

float nk_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) |
                   ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000 | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t nk_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffff;
    if (absx >= 0x7f800000) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000 ? 0x200 : 0));
    if (absx >= 0x477ff000) /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00);
    if (absx < 0x38800000) { /* subnormal or zero in half */
        if (absx < 0x33000000)
            return (uint16_t)sign;
        /* value = m * 2^(e-150); the half subnormal unit is 2^-24 */
        uint32_t e = absx >> 23, m = (absx & 0x7fffff) | 0x800000;
        int shift = 126 - (int)e;
        uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        uint32_t r = m >> shift;
        if (rem > half || (rem == half && (r & 1)))
            r++; /* round to nearest even */
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((absx >> 13) - ((127 - 15) << 10));
    uint32_t rem = absx & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1)))
        r++;
    return (uint16_t)(sign | r);
}

float nk_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t nk_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000)
        return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

/* ---- CPU features -------------------------------------------------------- */

static void disable_above(nk_cpu *c, const char *isa)
{
    /* NNKIT_ISA=generic|avx2|avx512 caps the level used by kernels. */
    if (strcmp(isa, "avx2") == 0) {
        c->avx512f = c->avx512bw = c->avx512vl = c->avx512vnni = false;
    } else if (strcmp(isa, "generic") == 0 || strcmp(isa, "ref") == 0) {
        nk_cpu z = {0};
        *c = z;
    }
}

nk_cpu nk_cpu_detect(void)
{
    nk_cpu c = {0};
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, cx, d;
    if (__get_cpuid(1, &a, &b, &cx, &d)) {
        c.sse41 = (cx >> 19) & 1;
        c.fma = (cx >> 12) & 1;
        c.f16c = (cx >> 29) & 1;
        bool osxsave = (cx >> 27) & 1, avx = (cx >> 28) & 1;
        unsigned xlo = 0, xhi = 0;
        if (osxsave)
            __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
        bool ymm = osxsave && (xlo & 6) == 6;
        bool zmm = ymm && (xlo & 0xe0) == 0xe0;
        c.avx = avx && ymm;
        c.fma = c.fma && ymm;
        c.f16c = c.f16c && ymm;
        if (__get_cpuid_count(7, 0, &a, &b, &cx, &d)) {
            c.avx2 = ((b >> 5) & 1) && ymm;
            c.avx512f = ((b >> 16) & 1) && zmm;
            c.avx512bw = ((b >> 30) & 1) && zmm;
            c.avx512vl = ((b >> 31) & 1) && zmm;
            c.avx512vnni = ((cx >> 11) & 1) && zmm;
        }
        if (__get_cpuid_count(7, 1, &a, &b, &cx, &d))
            c.avxvnni = ((a >> 4) & 1) && ymm;
    }
#elif defined(__aarch64__)
    c.neon = true;
#endif
    const char *isa = getenv("NNKIT_ISA");
    if (isa && *isa)
        disable_above(&c, isa);
    return c;
}
