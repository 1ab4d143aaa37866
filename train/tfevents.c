/*
 * tfevents.c — TensorBoard event files: TFRecord framing with masked
 * CRC-32C around protobuf-c encoded Event messages holding scalar
 * Summaries.
 */
#include "train/tfevents.h"
#include "engine/ctx.h"
#include "tfevents.pb-c.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

struct nk_tfevents {
    FILE *f;
    char *path;
};

uint32_t nk_crc32c(const void *data, size_t n)
{
    /* bitwise-reflected table of polynomial 0x1EDC6F41 */
    static uint32_t table[256];
    static int ready; /* benign race: every thread computes equal values */
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    const uint8_t *p = data;
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++)
        crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return crc ^ 0xffffffffu;
}

uint32_t nk_crc32c_masked(const void *data, size_t n)
{
    uint32_t crc = nk_crc32c(data, n);
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

static double now_seconds(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec * 1e-6;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static nk_status write_event(nk_ctx *ctx, nk_tfevents *w,
                             const Nnkit__Tfevents__Event *ev)
{
    size_t n = nnkit__tfevents__event__get_packed_size(ev);
    uint8_t *buf = nk_malloc(n + 16);
    if (!buf)
        return nk_fail(ctx, NK_NOMEM, "%s: out of memory", w->path);
    uint8_t head[12];
    put_le(head, n, 8);
    put_le(head + 8, nk_crc32c_masked(head, 8), 4);
    nnkit__tfevents__event__pack(ev, buf);
    uint8_t tail[4];
    put_le(tail, nk_crc32c_masked(buf, n), 4);
    int ok = fwrite(head, 1, 12, w->f) == 12 && fwrite(buf, 1, n, w->f) == n &&
             fwrite(tail, 1, 4, w->f) == 4 && fflush(w->f) == 0;
    nk_free(buf);
    if (!ok)
        return nk_fail(ctx, NK_IO, "%s: write failed: %s", w->path,
                       strerror(errno));
    return NK_OK;
}

nk_status nk_tfevents_open(nk_ctx *ctx, const char *dir, nk_tfevents **out)
{
    *out = NULL;
    char host[128] = "localhost";
    if (gethostname(host, sizeof host - 1) != 0)
        strcpy(host, "localhost");
    host[sizeof host - 1] = 0;
    for (char *c = host; *c; c++)
        if (*c == '/')
            *c = '_';
    double t = now_seconds();
    nk_tfevents *w = nk_calloc(1, sizeof *w);
    size_t len = strlen(dir) + strlen(host) + 80;
    if (!w || !(w->path = nk_malloc(len))) {
        nk_free(w);
        return nk_fail(ctx, NK_NOMEM, "%s: out of memory", dir);
    }
    snprintf(w->path, len, "%s/events.out.tfevents.%lld.%s.%ld", dir,
             (long long)t, host, (long)getpid());
    if (!(w->f = fopen(w->path, "ab"))) {
        nk_status st = nk_fail(ctx, NK_IO, "%s: cannot create: %s", w->path,
                               strerror(errno));
        nk_tfevents_close(w);
        return st;
    }
    Nnkit__Tfevents__Event ev = NNKIT__TFEVENTS__EVENT__INIT;
    ev.has_wall_time = 1;
    ev.wall_time = t;
    ev.has_step = 1;
    ev.step = 0;
    ev.file_version = (char *)"brain.Event:2";
    nk_status st = write_event(ctx, w, &ev);
    if (st != NK_OK) {
        nk_tfevents_close(w);
        return st;
    }
    *out = w;
    return NK_OK;
}

nk_status nk_tfevents_scalar(nk_ctx *ctx, nk_tfevents *w, const char *tag,
                             int64_t step, double value)
{
    Nnkit__Tfevents__Summary__Value v = NNKIT__TFEVENTS__SUMMARY__VALUE__INIT;
    v.tag = (char *)tag;
    v.has_simple_value = 1;
    v.simple_value = (float)value;
    Nnkit__Tfevents__Summary__Value *vs[1] = {&v};
    Nnkit__Tfevents__Summary sum = NNKIT__TFEVENTS__SUMMARY__INIT;
    sum.n_value = 1;
    sum.value = vs;
    Nnkit__Tfevents__Event ev = NNKIT__TFEVENTS__EVENT__INIT;
    ev.has_wall_time = 1;
    ev.wall_time = now_seconds();
    ev.has_step = 1;
    ev.step = step;
    ev.summary = &sum;
    return write_event(ctx, w, &ev);
}

const char *nk_tfevents_path(const nk_tfevents *w) { return w->path; }

void nk_tfevents_close(nk_tfevents *w)
{
    if (!w)
        return;
    if (w->f)
        fclose(w->f);
    nk_free(w->path);
    nk_free(w);
}
