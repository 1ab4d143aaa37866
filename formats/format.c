/*
 * format.c — format dispatch: nk_model_load asks every format to bid on
 * the file's first bytes and loads with the most confident (extension as
 * tie-breaker); nk_model_save picks the format from the caller or the path.
 */
#include "formats/format.h"
#include "formats/native/nnk.h"
#include "formats/tflite/tflite.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* One row per format (entry points declared in format.h); adding a
 * format is adding its row, e.g.
 *   {NK_FORMAT_ONNX, "onnx", ".onnx", nk_onnx_bid, nk_onnx_load, nk_onnx_save},
 * Order only matters for equal bids on equal extension hints. */
static const nk_format_impl FORMATS[] = {
    {NK_FORMAT_NNK, "nnk", ".nnk", nk_nnk_bid, nk_nnk_load, nk_nnk_save,
     NULL},
    {NK_FORMAT_ONNX, "onnx", ".onnx", nk_onnx_bid, nk_onnx_load,
     nk_onnx_save, nk_onnx_save_opts},
    {NK_FORMAT_TFLITE, "tflite", ".tflite", nk_tflite_bid, nk_tflite_load,
     nk_tflite_save, nk_tflite_save_opts},
};
#define N_FORMATS ((int)(sizeof FORMATS / sizeof FORMATS[0]))

/* Names and extensions of every format nnkit knows of, implemented in
 * this build or not. */
static const struct {
    const char *name;
    const char *exts;
} FORMAT_NAMES[NK_FORMAT_COUNT] = {
    [NK_FORMAT_AUTO] = {"auto", ""},
    [NK_FORMAT_NNK] = {"nnk", ".nnk"},
    [NK_FORMAT_ONNX] = {"onnx", ".onnx"},
    [NK_FORMAT_TFLITE] = {"tflite", ".tflite"},
    [NK_FORMAT_PTH] = {"pth", ".pth .pt"},
};
_Static_assert(sizeof FORMAT_NAMES / sizeof FORMAT_NAMES[0] ==
                   NK_FORMAT_COUNT,
               "one name per nk_format");

const nk_format_impl *nk_format_impl_get(nk_format f)
{
    for (int i = 0; i < N_FORMATS; i++)
        if (FORMATS[i].id == f)
            return &FORMATS[i];
    return NULL;
}

const char *nk_format_name(nk_format f)
{
    if ((unsigned)f >= NK_FORMAT_COUNT)
        return "?";
    return FORMAT_NAMES[f].name;
}

/* Does path end with one of the space-separated extensions in exts? */
static bool has_extension(const char *path, const char *exts)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && slash > dot))
        return false;
    size_t n = strlen(dot);
    for (const char *e = exts; *e;) {
        size_t len = strcspn(e, " ");
        if (len == n && strncasecmp(e, dot, n) == 0)
            return true;
        e += len;
        while (*e == ' ')
            e++;
    }
    return false;
}

nk_format nk_format_from_path(const char *path)
{
    if (!path)
        return NK_FORMAT_AUTO;
    for (int f = NK_FORMAT_AUTO + 1; f < NK_FORMAT_COUNT; f++)
        if (has_extension(path, FORMAT_NAMES[f].exts))
            return (nk_format)f;
    return NK_FORMAT_AUTO;
}

/* Does the content look like a PyTorch checkpoint (zip or pickle)? */
static bool looks_like_pth(const uint8_t *h, size_t n)
{
    return (n >= 4 && memcmp(h, "PK\3\4", 4) == 0) ||
           (n >= 2 && h[0] == 0x80 && h[1] >= 2 && h[1] <= 5);
}

static nk_status unknown_content(nk_ctx *ctx, const char *path,
                                 const uint8_t *h, size_t n)
{
    if (n == 0)
        return nk_fail(ctx, NK_FORMAT,
                       "%s: not a model file nnkit knows (the file is "
                       "empty), expected .nnk/.onnx/.tflite",
                       path);
    char hex[8 * 5 + 1] = "";
    size_t k = n < 8 ? n : 8, used = 0;
    for (size_t i = 0; i < k; i++)
        used += (size_t)snprintf(hex + used, sizeof hex - used, "%s0x%02x",
                                 i ? " " : "", h[i]);
    return nk_fail(ctx, NK_FORMAT,
                   "%s: not a model file nnkit knows (found bytes %s%s), "
                   "expected .nnk/.onnx/.tflite",
                   path, hex, n > k ? " .." : "");
}

nk_status nk_model_load(nk_ctx *ctx, const char *path, nk_graph **out)
{
    if (!path || !out)
        return nk_fail(ctx, NK_INVALID_ARG, "nk_model_load: NULL %s",
                       path ? "out" : "path");
    *out = NULL;
    uint8_t head[NK_FORMAT_HEAD_BYTES];
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return nk_fail(ctx, NK_IO, "%s: cannot open: %s", path,
                       strerror(errno));
    size_t n = fread(head, 1, sizeof head, fp);
    int rerr = ferror(fp);
    fclose(fp);
    if (rerr)
        return nk_fail(ctx, NK_IO, "%s: cannot read", path);

    nk_format hint = nk_format_from_path(path);
    const nk_format_impl *best = NULL;
    int best_score = 0;
    for (int i = 0; i < N_FORMATS; i++) {
        int bid = FORMATS[i].bid(head, n, path);
        if (bid <= 0)
            continue;
        /* The extension only breaks ties between equal bids. */
        int score = bid * 2 + (FORMATS[i].id == hint);
        if (score > best_score) {
            best_score = score;
            best = &FORMATS[i];
        }
    }
    if (!best) {
        if (hint == NK_FORMAT_PTH || looks_like_pth(head, n))
            return nk_fail(ctx, NK_UNSUPPORTED,
                           "%s: a .pth file holds weights, not a graph: use "
                           "`nnkit zoo create ARCH --weights FILE`",
                           path);
        if (hint != NK_FORMAT_AUTO && !nk_format_impl_get(hint))
            return nk_fail(ctx, NK_UNSUPPORTED,
                           "%s: reading %s files is not supported by this "
                           "build of nnkit",
                           path, nk_format_name(hint));
        return unknown_content(ctx, path, head, n);
    }

    nk_graph *g = NULL;
    nk_status st = best->load(ctx, path, &g);
    if (st)
        return st;
    st = nk_graph_infer(ctx, g);
    if (!st)
        st = nk_graph_validate(ctx, g);
    if (st) {
        nk_errmsg_prefix(ctx, "%s", path);
        nk_graph_free(g);
        /* A graph from a file that does not check out is a malformed
         * file, not a caller's mistake. */
        if (st == NK_INVALID_ARG) {
            st = NK_FORMAT;
            ctx->last = st;
        }
        return st;
    }
    *out = g;
    return NK_OK;
}

nk_status nk_model_save(nk_ctx *ctx, const nk_graph *g, const char *path,
                        nk_format fmt)
{
    return nk_model_save_opts(ctx, g, path, fmt, NULL);
}

nk_status nk_model_save_opts(nk_ctx *ctx, const nk_graph *g, const char *path,
                             nk_format fmt, const nk_save_opts *opts)
{
    if (!g || !path)
        return nk_fail(ctx, NK_INVALID_ARG, "nk_model_save: NULL %s",
                       g ? "path" : "graph");
    if ((unsigned)fmt >= NK_FORMAT_COUNT)
        return nk_fail(ctx, NK_INVALID_ARG, "%s: invalid format %d", path,
                       (int)fmt);
    if (fmt == NK_FORMAT_AUTO) {
        fmt = nk_format_from_path(path);
        if (fmt == NK_FORMAT_AUTO)
            return nk_fail(ctx, NK_UNSUPPORTED,
                           "%s: cannot tell the format from the extension, "
                           "expected .nnk/.onnx/.tflite",
                           path);
    }
    const nk_format_impl *impl = nk_format_impl_get(fmt);
    if (!impl || !impl->save)
        return nk_fail(ctx, NK_UNSUPPORTED,
                       "%s: writing %s files is not supported%s", path,
                       nk_format_name(fmt),
                       fmt == NK_FORMAT_PTH ? " (.pth is read only)" : "");
    static const nk_save_opts defaults;
    if (opts && memcmp(opts, &defaults, sizeof defaults) != 0) {
        /* Every option belongs to one format: refuse, never drop, the
         * options the chosen format does not have. */
        bool onnx_opt = opts->onnx_opset || opts->onnx_external_threshold;
        bool tflite_opt = opts->fp16_weights || opts->keep_nchw_io;
        if (!impl->save_opts || (onnx_opt && impl->id != NK_FORMAT_ONNX) ||
            (tflite_opt && impl->id != NK_FORMAT_TFLITE))
            return nk_fail(ctx, NK_INVALID_ARG,
                           "%s: option %s does not apply to %s files (it is "
                           "for .%s)", path,
                           onnx_opt ? (opts->onnx_opset ? "opset"
                                                        : "external-data threshold")
                                    : (opts->fp16_weights ? "fp16 weights"
                                                          : "keep NCHW io"),
                           nk_format_name(fmt), onnx_opt ? "onnx" : "tflite");
        return impl->save_opts(ctx, g, path, opts);
    }
    return impl->save(ctx, g, path);
}
