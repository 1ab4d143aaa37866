/*
 * format.h — the interface every model format implements (bid, load,
 * save) and the table nk_model_load / nk_model_save dispatch through,
 * in the manner of libarchive's format bidding.
 */
#ifndef NK_FORMATS_FORMAT_H
#define NK_FORMATS_FORMAT_H

#include "engine/ir.h"

/* Bytes of the file's start passed to every bid function. */
#define NK_FORMAT_HEAD_BYTES 64

typedef struct nk_format_impl {
    nk_format id;
    const char *name;       /* "nnk" */
    const char *extensions; /* space-separated, with dots: ".nnk" */
    /* Confidence 0..100 that head[0..n) (the start of the file at path)
     * is this format; 0 = not this format. Must not read past n. */
    int (*bid)(const uint8_t *head, size_t n, const char *path);
    /* Read path into a new graph (*out owned by the caller). Errors name
     * the file. Shape inference and validation are done by the caller. */
    nk_status (*load)(nk_ctx *ctx, const char *path, nk_graph **out);
    /* Write g to path atomically (nk_writer); NULL if read-only. */
    nk_status (*save)(nk_ctx *ctx, const nk_graph *g, const char *path);
    /* Write with options (nk_model_save_opts); NULL if the format takes
     * none, and then only all-default options are accepted. */
    nk_status (*save_opts)(nk_ctx *ctx, const nk_graph *g, const char *path,
                           const nk_save_opts *opts);
} nk_format_impl;

/* Entry points of the formats, each in its folder (formats/<name>/);
 * adding a format to nk_model_load / nk_model_save is adding its row to
 * the FORMATS table in format.c. The ONNX and TFLite rows are added when
 * those readers land, with these names: */
int nk_onnx_bid(const uint8_t *head, size_t n, const char *path);
nk_status nk_onnx_load(nk_ctx *ctx, const char *path, nk_graph **out);
nk_status nk_onnx_save(nk_ctx *ctx, const nk_graph *g, const char *path);
nk_status nk_onnx_save_opts(nk_ctx *ctx, const nk_graph *g, const char *path,
                            const nk_save_opts *opts);
int nk_tflite_bid(const uint8_t *head, size_t n, const char *path);
nk_status nk_tflite_load(nk_ctx *ctx, const char *path, nk_graph **out);
nk_status nk_tflite_save(nk_ctx *ctx, const nk_graph *g, const char *path);

/* The implementation of format f, or NULL when this build has none. */
const nk_format_impl *nk_format_impl_get(nk_format f);

#endif /* NK_FORMATS_FORMAT_H */
