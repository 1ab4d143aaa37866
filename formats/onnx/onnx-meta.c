/*
 * onnx-meta.c — class labels and preprocessing as ONNX metadata_props
 * strings (keys in onnx.h, format in docs/onnx.md): labels one per line,
 * preprocessing as "key=value;key=value" with floats printed to round-trip.
 */
#include "formats/onnx/onnx-impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *nk_onnx_labels_format(const nk_graph *g)
{
    size_t len = 1;
    for (int i = 0; i < g->n_labels; i++)
        len += strlen(g->labels[i] ? g->labels[i] : "") + 1;
    char *s = nk_malloc(len), *p = s;
    if (!s)
        return NULL;
    for (int i = 0; i < g->n_labels; i++) {
        const char *l = g->labels[i] ? g->labels[i] : "";
        size_t n = strlen(l);
        memcpy(p, l, n);
        /* a newline inside a label would split it: store it as a space */
        for (size_t k = 0; k < n; k++)
            if (p[k] == '\n' || p[k] == '\r')
                p[k] = ' ';
        p += n;
        if (i + 1 < g->n_labels)
            *p++ = '\n';
    }
    *p = 0;
    return s;
}

nk_status nk_onnx_labels_parse(nk_ctx *ctx, nk_graph *g, const char *s)
{
    if (!*s)
        return nk_graph_set_labels(ctx, g, 0, NULL);
    size_t n = 1;
    for (const char *p = s; *p; p++)
        n += *p == '\n';
    if (n > 10000000)
        return nk_fail(ctx, NK_FORMAT, "%zu labels, at most 10000000", n);
    char *copy = nk_strdup(s);
    const char **names = nk_malloc(sizeof *names * n);
    nk_status st = NK_OK;
    if (!copy || !names) {
        st = nk_fail(ctx, NK_NOMEM, "out of memory reading labels");
        goto done;
    }
    size_t k = 0;
    for (char *p = copy;;) {
        char *nl = strchr(p, '\n');
        names[k++] = p;
        if (!nl)
            break;
        *nl = 0;
        p = nl + 1;
    }
    st = nk_graph_set_labels(ctx, g, (int)k, names);
done:
    nk_free(copy);
    nk_free(names);
    return st;
}

/* ---- preprocessing ------------------------------------------------------- */

static const char *const RESIZE_MODES[NK_RESIZE_COUNT] = {"bilinear",
                                                          "nearest"};

char *nk_onnx_preproc_format(const nk_preproc *p)
{
    char buf[1024];
    size_t o = 0;
    int nc = p->channels >= 1 && p->channels <= 4 ? p->channels : 3;
#define PUT(...)                                                         \
    do {                                                                 \
        if (o < sizeof buf)                                              \
            o += (size_t)snprintf(buf + o, sizeof buf - o, __VA_ARGS__); \
    } while (0)
    PUT("resize=%d;crop=%dx%d;resize_mode=%s;scale=%.9g;mean=", p->resize,
        p->crop_h, p->crop_w,
        (unsigned)p->resize_mode < NK_RESIZE_COUNT ? RESIZE_MODES[p->resize_mode]
                                                   : "bilinear",
        (double)p->scale);
    for (int i = 0; i < nc; i++)
        PUT("%s%.9g", i ? "," : "", (double)p->mean[i]);
    PUT(";std=");
    for (int i = 0; i < nc; i++)
        PUT("%s%.9g", i ? "," : "", (double)p->std[i]);
    PUT(";channels=%d;order=%s;layout=%s", p->channels, p->bgr ? "bgr" : "rgb",
        p->nhwc ? "nhwc" : "nchw");
#undef PUT
    if (o >= sizeof buf)
        return NULL;
    return nk_strdup(buf);
}

/* Parse "a,b,c" into up to 4 floats; returns the count or -1. */
static int parse_floats(const char *s, float *v)
{
    int n = 0;
    while (*s) {
        char *end;
        double d = strtod(s, &end);
        if (end == s || n == 4)
            return -1;
        v[n++] = (float)d;
        s = end;
        if (*s == ',')
            s++;
        else if (*s)
            return -1;
    }
    return n;
}

static bool parse_int(const char *s, int lo, int hi, int *v)
{
    char *end;
    long x = strtol(s, &end, 10);
    if (end == s || *end || x < lo || x > hi)
        return false;
    *v = (int)x;
    return true;
}

nk_status nk_onnx_preproc_parse(nk_ctx *ctx, const char *s, nk_preproc *out)
{
    nk_preproc p;
    memset(&p, 0, sizeof p);
    p.valid = 1;
    p.scale = 1.0f;
    p.channels = 3;
    /* mean/std values past the listed ones stay 0, as the writer had them */
    char *copy = nk_strdup(s);
    if (!copy)
        return nk_fail(ctx, NK_NOMEM, "out of memory");
    nk_status st = NK_OK;
    for (char *save = NULL, *kv = strtok_r(copy, ";", &save); kv;
         kv = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) {
            st = nk_fail(ctx, NK_FORMAT, "'%s' is not key=value", kv);
            break;
        }
        *eq = 0;
        const char *k = kv;
        char *v = eq + 1;
        bool ok = true;
        if (strcmp(k, "resize") == 0) {
            ok = parse_int(v, 0, 1 << 20, &p.resize);
        } else if (strcmp(k, "crop") == 0) {
            char *x = strchr(v, 'x');
            if (!x) {
                ok = false;
            } else {
                *x = 0;
                ok = parse_int(v, 0, 1 << 20, &p.crop_h) &&
                     parse_int(x + 1, 0, 1 << 20, &p.crop_w);
            }
        } else if (strcmp(k, "resize_mode") == 0) {
            ok = false;
            for (int i = 0; i < NK_RESIZE_COUNT; i++)
                if (strcmp(v, RESIZE_MODES[i]) == 0) {
                    p.resize_mode = (nk_resize_mode)i;
                    ok = true;
                }
        } else if (strcmp(k, "scale") == 0) {
            float f[4] = {0};
            ok = parse_floats(v, f) == 1;
            p.scale = f[0];
        } else if (strcmp(k, "mean") == 0) {
            ok = parse_floats(v, p.mean) >= 1;
        } else if (strcmp(k, "std") == 0) {
            ok = parse_floats(v, p.std) >= 1;
        } else if (strcmp(k, "channels") == 0) {
            ok = parse_int(v, 1, 4, &p.channels);
        } else if (strcmp(k, "order") == 0) {
            ok = strcmp(v, "rgb") == 0 || strcmp(v, "bgr") == 0;
            p.bgr = strcmp(v, "bgr") == 0;
        } else if (strcmp(k, "layout") == 0) {
            ok = strcmp(v, "nchw") == 0 || strcmp(v, "nhwc") == 0;
            p.nhwc = strcmp(v, "nhwc") == 0;
        } /* unknown keys: written by a later nnkit; ignored */
        if (!ok) {
            st = nk_fail(ctx, NK_FORMAT, "bad value '%s' for '%s'", v, k);
            break;
        }
    }
    nk_free(copy);
    if (!st)
        *out = p;
    return st;
}
