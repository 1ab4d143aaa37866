/*
 * tflite-meta.c — the "nnkit_metadata" payload that carries class labels,
 * preprocessing and string metadata through a .tflite file's metadata
 * buffers. It is itself a small FlatBuffer, identifier "NNKM":
 *
 *   table NnkitMeta {          // root
 *     version:uint;            // 0: 1
 *     labels:[string];         // 1: class names, in class order
 *     preproc:Preproc;         // 2: absent = no preprocessing
 *     meta_keys:[string];      // 3: string metadata, keys ...
 *     meta_values:[string];    // 4: ... and values (same count)
 *   }
 *   table Preproc {
 *     resize:int; crop_h:int; crop_w:int;      // 0, 1, 2
 *     resize_mode:int;                         // 3: 0 bilinear, 1 nearest
 *     scale:float;                             // 4
 *     mean:[float]; std:[float];               // 5, 6: up to 4 values
 *     channels:int; bgr:int; nhwc:int;         // 7, 8, 9
 *   }
 */
#include "formats/tflite/tflite.h"

#include <stdio.h>
#include <string.h>

#define NNKM_IDENT "NNKM"
#define NNKM_VERSION 1u

nk_status nk_tflite_meta_encode(nk_ctx *ctx, const nk_graph *g, int nhwc,
                                uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    fb_builder b;
    fbb_init(&b, 4096);
    fb_ref *refs = nk_calloc((size_t)g->n_labels + (size_t)g->n_meta + 1,
                             sizeof *refs);
    fb_ref labels = 0, keys = 0, values = 0, pre = 0;
    if (!refs) {
        fbb_free(&b);
        return nk_fail(ctx, NK_NOMEM, "out of memory");
    }
    for (int i = 0; i < g->n_labels; i++)
        refs[i] = fbb_string(&b, g->labels[i] ? g->labels[i] : "");
    if (g->n_labels)
        labels = fbb_vector_refs(&b, refs, (size_t)g->n_labels);
    if (g->n_meta) {
        for (int i = 0; i < g->n_meta; i++)
            refs[i] = fbb_string(&b, g->meta[i].key);
        keys = fbb_vector_refs(&b, refs, (size_t)g->n_meta);
        for (int i = 0; i < g->n_meta; i++)
            refs[i] = fbb_string(&b, g->meta[i].value ? g->meta[i].value : "");
        values = fbb_vector_refs(&b, refs, (size_t)g->n_meta);
    }
    nk_free(refs);
    const nk_preproc *p = &g->preproc;
    if (p->valid) {
        fb_ref mean = fbb_vector(&b, p->mean, 4, 4, 4, NULL);
        fb_ref std = fbb_vector(&b, p->std, 4, 4, 4, NULL);
        fbb_table_start(&b);
        fbb_add_i32(&b, 0, p->resize);
        fbb_add_i32(&b, 1, p->crop_h);
        fbb_add_i32(&b, 2, p->crop_w);
        fbb_add_i32(&b, 3, (int32_t)p->resize_mode);
        fbb_add_f32(&b, 4, p->scale);
        fbb_add_ref(&b, 5, mean);
        fbb_add_ref(&b, 6, std);
        fbb_add_i32(&b, 7, p->channels);
        fbb_add_i32(&b, 8, p->bgr);
        fbb_add_i32(&b, 9, nhwc);
        pre = fbb_table_end(&b);
    }
    fbb_table_start(&b);
    fbb_add_u32(&b, 0, NNKM_VERSION);
    fbb_add_ref(&b, 1, labels);
    fbb_add_ref(&b, 2, pre);
    fbb_add_ref(&b, 3, keys);
    fbb_add_ref(&b, 4, values);
    fb_ref root = fbb_table_end(&b);
    const uint8_t *data;
    size_t n;
    if (!fbb_finish(&b, root, NNKM_IDENT, &data, &n)) {
        fbb_free(&b);
        return nk_fail(ctx, NK_NOMEM, "out of memory encoding metadata");
    }
    *out = nk_malloc(n);
    if (!*out) {
        fbb_free(&b);
        return nk_fail(ctx, NK_NOMEM, "out of memory");
    }
    memcpy(*out, data, n);
    *len = n;
    fbb_free(&b);
    return NK_OK;
}

static nk_status read_preproc(const fb_file *f, const fb_table *t,
                              nk_preproc *p)
{
    int32_t v[8];
    nk_status st;
    memset(p, 0, sizeof *p);
    static const int ids[7] = {0, 1, 2, 3, 7, 8, 9};
    static const char *const names[7] = {"resize", "crop_h", "crop_w",
                                         "resize_mode", "channels", "bgr",
                                         "nhwc"};
    for (int i = 0; i < 7; i++)
        if ((st = fb_i32(t, ids[i], names[i], 0, &v[i])))
            return st;
    if ((st = fb_f32(t, 4, "scale", 1.0f, &p->scale)))
        return st;
    if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0 ||
        v[3] >= NK_RESIZE_COUNT || v[4] < 1 || v[4] > 4)
        return nk_fail(f->ctx, NK_FORMAT,
                       "%s: %s: preprocessing out of range (resize %d, crop "
                       "%dx%d, resize_mode %d, channels %d; expected sizes "
                       ">= 0, mode < %d, 1..4 channels)",
                       f->path, TFL_META_NNKIT, v[0], v[1], v[2], v[3], v[4],
                       NK_RESIZE_COUNT);
    fb_vec mean, std;
    if ((st = fb_vector(t, 5, "mean", 4, &mean)) ||
        (st = fb_vector(t, 6, "std", 4, &std)))
        return st;
    if (mean.n > 4 || std.n > 4)
        return nk_fail(f->ctx, NK_FORMAT,
                       "%s: %s: %u mean and %u std values, expected at most "
                       "4",
                       f->path, TFL_META_NNKIT, mean.n, std.n);
    for (int c = 0; c < 4; c++)
        p->std[c] = 1.0f;
    for (uint32_t c = 0; c < mean.n; c++)
        p->mean[c] = fb_vec_f32(f, &mean, c);
    for (uint32_t c = 0; c < std.n; c++)
        p->std[c] = fb_vec_f32(f, &std, c);
    p->valid = 1;
    p->resize = v[0];
    p->crop_h = v[1];
    p->crop_w = v[2];
    p->resize_mode = (nk_resize_mode)v[3];
    p->channels = v[4];
    p->bgr = v[5] != 0;
    p->nhwc = v[6] != 0;
    return NK_OK;
}

nk_status nk_tflite_meta_decode(nk_ctx *ctx, const char *path,
                                const uint8_t *p, size_t n, nk_graph *g)
{
    char what[512];
    snprintf(what, sizeof what, "%s (metadata '%s')", path, TFL_META_NNKIT);
    fb_file f = {p, n, ctx, what};
    fb_table root, pt;
    nk_status st = fb_root(&f, NNKM_IDENT, "NnkitMeta", &root);
    if (st)
        return st;
    uint32_t version;
    if ((st = fb_u32(&root, 0, "version", 0, &version)))
        return st;
    if (version != NNKM_VERSION)
        return nk_fail(ctx, NK_FORMAT, "%s: version %u, expected %u", what,
                       version, NNKM_VERSION);
    fb_vec labels, keys, values;
    if ((st = fb_vector(&root, 1, "labels", 4, &labels)) ||
        (st = fb_vector(&root, 3, "meta_keys", 4, &keys)) ||
        (st = fb_vector(&root, 4, "meta_values", 4, &values)))
        return st;
    if (keys.n != values.n)
        return nk_fail(ctx, NK_FORMAT,
                       "%s: %u metadata keys but %u values", what, keys.n,
                       values.n);
    if (labels.n > 0) {
        if (labels.n > INT32_MAX / 2)
            return nk_fail(ctx, NK_FORMAT, "%s: %u labels", what, labels.n);
        const char **names = nk_calloc(labels.n, sizeof *names);
        if (!names)
            return nk_fail(ctx, NK_NOMEM, "out of memory");
        for (uint32_t i = 0; i < labels.n && !st; i++)
            st = fb_vec_str(&f, &labels, i, "label", &names[i], NULL);
        if (!st)
            st = nk_graph_set_labels(ctx, g, (int)labels.n, names);
        nk_free(names);
        if (st)
            return st;
    }
    for (uint32_t i = 0; i < keys.n; i++) {
        const char *k, *v;
        if ((st = fb_vec_str(&f, &keys, i, "metadata key", &k, NULL)) ||
            (st = fb_vec_str(&f, &values, i, "metadata value", &v, NULL)) ||
            (st = nk_graph_meta_set(ctx, g, k, v)))
            return st;
    }
    bool has_pre;
    if ((st = fb_subtable(&root, 2, "preproc", "Preproc", &pt, &has_pre)))
        return st;
    if (has_pre) {
        nk_preproc pre;
        if ((st = read_preproc(&f, &pt, &pre)))
            return st;
        g->preproc = pre;
    }
    return NK_OK;
}
