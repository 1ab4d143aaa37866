/*
 * model.c — what the index and manifests share: reading a model entry
 * (zoo architecture and arguments or a model file, weights, labels,
 * preprocessing) and building its graph with verified weights loaded.
 */
#include "hub/hub.h"
#include "zoo/zoo.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

nk_status hub_path_inside(nk_ctx *ctx, const char *where, const char *dir,
                          const char *rel, char **out)
{
    if (!rel || !rel[0] || rel[0] == '/' || strstr(rel, ".."))
        return nk_fail(ctx, NK_FORMAT, "%s: path '%s' must be relative and "
                       "must not contain '..'", where, rel ? rel : "");
    char *full = hub_strf("%s/%s", dir, rel);
    char rd[PATH_MAX], rf[PATH_MAX];
    if (!full)
        return nk_fail(ctx, NK_NOMEM, "%s: out of memory", where);
    if (!realpath(dir, rd) || !realpath(full, rf)) {
        nk_status st = nk_fail(ctx, NK_NOT_FOUND, "%s: '%s' is not in the "
                               "repository: %s", where, rel, strerror(errno));
        nk_free(full);
        return st;
    }
    size_t n = strlen(rd);
    if (strncmp(rf, rd, n) != 0 || rf[n] != '/') {
        nk_free(full);
        return nk_fail(ctx, NK_FORMAT, "%s: '%s' resolves outside the "
                       "repository (%s)", where, rel, rf);
    }
    *out = full;
    return NK_OK;
}

static nk_status bad(nk_ctx *ctx, const char *where, const char *what)
{
    return nk_fail(ctx, NK_FORMAT, "%s: %s", where, what);
}

nk_status hub_model_parse(nk_ctx *ctx, const char *where, json_object *o,
                          bool in_index, hub_model *m)
{
    memset(m, 0, sizeof *m);
    if (!o || !json_object_is_type(o, json_type_object))
        return bad(ctx, where, "entry is not a JSON object");
    m->arch = hub_json_str(o, "arch");
    m->file = in_index ? NULL : hub_json_str(o, "file");
    m->description = hub_json_str(o, "description");
    if (!m->arch == !m->file)
        return bad(ctx, where, in_index ? "needs \"arch\" (a zoo name)"
                   : "needs exactly one of \"arch\" (a zoo name) and "
                     "\"file\" (a model file in the repository)");
    json_object *args = hub_json_obj(o, "args"), *v;
    if (args && json_object_object_get_ex(args, "classes", &v)) {
        int64_t c = json_object_get_int64(v);
        if (!json_object_is_type(v, json_type_int) || c < 1 || c > 1000000)
            return bad(ctx, where, "args.classes must be an integer in "
                       "1..1000000");
        m->classes = (int)c;
    }
    if (args && json_object_object_get_ex(args, "width_mult", &v)) {
        double w = json_object_get_double(v);
        if (!(w > 0 && w <= 4))
            return bad(ctx, where, "args.width_mult must be in (0, 4]");
        m->width_mult = (float)w;
    }
    json_object *w = hub_json_obj(o, "weights");
    if (in_index && !w)
        return bad(ctx, where, "needs \"weights\": {\"url\": ...}");
    if (w) {
        m->weights_url = hub_json_str(w, "url");
        m->weights_file = in_index ? NULL : hub_json_str(w, "file");
        const char *sha = hub_json_str(w, "sha256");
        const char *prefix = hub_json_str(w, "sha256_prefix");
        if (!m->weights_url == !m->weights_file)
            return bad(ctx, where, "weights need exactly one of \"url\" and "
                       "\"file\"");
        if (sha && !hub_is_hex(sha, true))
            return bad(ctx, where, "weights.sha256 must be 64 hex digits");
        if (prefix && !hub_is_hex(prefix, false))
            return bad(ctx, where, "weights.sha256_prefix must be hex");
        m->weights_sha = sha ? sha : prefix ? prefix : "";
        /* A downloaded file is only trusted through a hash: the index may
         * rely on the file name's hash (torch.hub's rule), a manifest must
         * pin the full SHA-256. */
        if (m->weights_url && !in_index && !sha)
            return bad(ctx, where, "weights.url needs weights.sha256");
    }
    m->labels = NULL;
    if (json_object_object_get_ex(o, "labels", &v))
        m->labels = v;
    m->preproc = hub_json_obj(o, "preprocessing");
    if (json_object_object_get_ex(o, "preprocessing", &v) && !m->preproc)
        return bad(ctx, where, "preprocessing must be an object");
    return NK_OK;
}

static int64_t num_classes(const nk_graph *g)
{
    if (nk_graph_num_outputs(g) < 1)
        return -1;
    const nk_tensor *t = nk_graph_output(g, 0);
    int r = nk_tensor_rank(t);
    return r >= 1 ? nk_tensor_dim(t, r - 1) : -1;
}

static nk_status set_labels(nk_ctx *ctx, const char *where, nk_graph *g,
                            json_object *lab, const char *repo_dir)
{
    int64_t classes = num_classes(g);
    if (json_object_is_type(lab, json_type_string)) {
        if (strcmp(json_object_get_string(lab), "imagenet") != 0)
            return bad(ctx, where, "labels: the only named set is "
                       "\"imagenet\"");
        if (classes != NK_IMAGENET_CLASSES)
            return nk_fail(ctx, NK_FORMAT, "%s: labels \"imagenet\" need "
                           "1000 classes, the model has %lld", where,
                           (long long)classes);
        return nk_graph_set_labels(ctx, g, NK_IMAGENET_CLASSES,
                                   nk_imagenet_labels);
    }
    const char **names = NULL;
    int n = 0;
    uint8_t *text = NULL;
    nk_status st = NK_OK;
    if (json_object_is_type(lab, json_type_array)) {
        size_t len = json_object_array_length(lab);
        if (len > 1000000)
            return bad(ctx, where, "labels: too many");
        names = nk_calloc(len ? len : 1, sizeof *names);
        if (!names)
            return nk_fail(ctx, NK_NOMEM, "%s: out of memory", where);
        for (size_t i = 0; i < len; i++) {
            json_object *s = json_object_array_get_idx(lab, i);
            if (!json_object_is_type(s, json_type_string)) {
                nk_free(names);
                return nk_fail(ctx, NK_FORMAT, "%s: labels[%zu] is not a "
                               "string", where, i);
            }
            names[n++] = json_object_get_string(s);
        }
    } else if (json_object_is_type(lab, json_type_object) &&
               hub_json_str(lab, "file") && repo_dir) {
        char *p = NULL;
        size_t len = 0;
        if ((st = hub_path_inside(ctx, where, repo_dir,
                                  hub_json_str(lab, "file"), &p)) ||
            (st = nk_file_read(ctx, p, &text, &len))) {
            nk_free(p);
            return st;
        }
        nk_free(p);
        /* One label per line; a final newline is optional. */
        size_t lines = 1;
        for (size_t i = 0; i < len; i++)
            lines += text[i] == '\n';
        uint8_t *t2 = nk_realloc(text, len + 1);
        names = nk_calloc(lines, sizeof *names);
        if (!t2 || !names) {
            nk_free(t2 ? t2 : text);
            nk_free(names);
            return nk_fail(ctx, NK_NOMEM, "%s: out of memory", where);
        }
        text = t2;
        text[len] = 0;
        char *s = (char *)text;
        while (*s) {
            char *nl = strchr(s, '\n');
            if (nl)
                *nl = 0;
            size_t l = strlen(s);
            if (l && s[l - 1] == '\r')
                s[l - 1] = 0;
            names[n++] = s;
            if (!nl)
                break;
            s = nl + 1;
        }
    } else {
        return bad(ctx, where, "labels must be \"imagenet\", an array of "
                   "strings or {\"file\": PATH}");
    }
    if (classes >= 0 && n != classes)
        st = nk_fail(ctx, NK_FORMAT, "%s: %d labels for a model with %lld "
                     "classes", where, n, (long long)classes);
    else
        st = nk_graph_set_labels(ctx, g, n, names);
    nk_free(names);
    nk_free(text);
    return st;
}

static nk_status get_num(nk_ctx *ctx, const char *where, json_object *o,
                         const char *key, double lo, double hi, double *out)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        return NK_OK;
    if (!json_object_is_type(v, json_type_int) &&
        !json_object_is_type(v, json_type_double))
        return nk_fail(ctx, NK_FORMAT, "%s: preprocessing.%s must be a "
                       "number", where, key);
    double d = json_object_get_double(v);
    if (!(d >= lo && d <= hi))
        return nk_fail(ctx, NK_FORMAT, "%s: preprocessing.%s = %g, expected "
                       "%g..%g", where, key, d, lo, hi);
    *out = d;
    return NK_OK;
}

static nk_status get_vec(nk_ctx *ctx, const char *where, json_object *o,
                         const char *key, int channels, float *out)
{
    json_object *v = hub_json_arr(o, key);
    if (!v) {
        if (json_object_object_get_ex(o, key, &v))
            return nk_fail(ctx, NK_FORMAT, "%s: preprocessing.%s must be an "
                           "array", where, key);
        return NK_OK;
    }
    size_t n = json_object_array_length(v);
    if ((int)n != channels)
        return nk_fail(ctx, NK_FORMAT, "%s: preprocessing.%s has %zu values, "
                       "expected %d (one per channel)", where, key, n,
                       channels);
    for (size_t i = 0; i < n; i++)
        out[i] = (float)json_object_get_double(json_object_array_get_idx(v, i));
    return NK_OK;
}

static nk_status set_preproc(nk_ctx *ctx, const char *where, nk_graph *g,
                             json_object *o)
{
    nk_preproc p = nk_graph_preproc(g);
    double resize = p.resize, crop = p.crop_h, scale = p.valid ? p.scale : 1;
    double ch = p.channels ? p.channels : 3;
    nk_status st;
    if ((st = get_num(ctx, where, o, "channels", 1, 3, &ch)) ||
        (st = get_num(ctx, where, o, "resize", 0, 65536, &resize)) ||
        (st = get_num(ctx, where, o, "crop", 1, 65536, &crop)) ||
        (st = get_num(ctx, where, o, "scale", 0, 1e6, &scale)))
        return st;
    if (ch == 2)
        return bad(ctx, where, "preprocessing.channels must be 1 or 3");
    p.valid = 1;
    p.channels = (int)ch;
    p.resize = (int)resize;
    p.crop_h = p.crop_w = (int)crop;
    p.scale = (float)scale;
    if ((st = get_vec(ctx, where, o, "mean", p.channels, p.mean)) ||
        (st = get_vec(ctx, where, o, "std", p.channels, p.std)))
        return st;
    for (int i = 0; i < p.channels; i++)
        if (!(p.std[i] > 0))
            return bad(ctx, where, "preprocessing.std must be positive");
    const char *interp = hub_json_str(o, "interpolation");
    if (interp && !strcmp(interp, "nearest"))
        p.resize_mode = NK_RESIZE_NEAREST;
    else if (interp && !strcmp(interp, "bilinear"))
        p.resize_mode = NK_RESIZE_BILINEAR;
    else if (interp)
        return bad(ctx, where, "preprocessing.interpolation must be "
                   "\"bilinear\" or \"nearest\"");
    const char *order = hub_json_str(o, "channel_order");
    if (order)
        p.bgr = !strcmp(order, "bgr");
    const char *layout = hub_json_str(o, "layout");
    if (layout)
        p.nhwc = !strcmp(layout, "nhwc");
    nk_graph_set_preproc(g, &p);
    return NK_OK;
}

nk_status hub_model_build(nk_ctx *ctx, const char *where, const hub_model *m,
                          const char *repo_dir, const char *weights_path,
                          nk_graph **out)
{
    nk_graph *g = NULL;
    nk_status st;
    if (m->arch) {
        nk_zoo_opts zo = {.classes = m->classes, .width_mult = m->width_mult};
        /* Loaded weights overwrite every parameter: skip the random init. */
        st = nk_zoo_build(ctx, m->arch, &zo, weights_path == NULL, &g);
    } else {
        char *p = NULL;
        st = hub_path_inside(ctx, where, repo_dir, m->file, &p);
        if (st == NK_OK)
            st = nk_model_load(ctx, p, &g);
        nk_free(p);
    }
    if (st) {
        nk_errmsg_prefix(ctx, "%s", where);
        return st;
    }
    if (weights_path) {
        nk_load_report rep;
        memset(&rep, 0, sizeof rep);
        st = nk_graph_load_pth(ctx, g, weights_path, 1, &rep);
        nk_load_report_clear(&rep);
        if (st)
            nk_errmsg_prefix(ctx, "%s: weights", where);
    }
    if (st == NK_OK && m->labels)
        st = set_labels(ctx, where, g, m->labels, repo_dir);
    if (st == NK_OK && m->preproc)
        st = set_preproc(ctx, where, g, m->preproc);
    if (st == NK_OK && m->arch)
        st = nk_graph_meta_set(ctx, g, "arch", m->arch);
    if (st) {
        nk_graph_free(g);
        return st;
    }
    *out = g;
    return NK_OK;
}
