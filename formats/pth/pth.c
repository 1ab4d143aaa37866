/*
 * pth.c — PyTorch torch.save checkpoints: find the state dict in data.pkl,
 * resolve its tensors against the zip's storage entries, and copy them into
 * a graph's initializers with torch's load_state_dict(strict) reporting.
 */
#include "formats/pth/pth.h"

#include "engine/ir.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- dtypes and conversion ---------------------------------------------- */

bool nk_pth_to_nk_dtype(nk_pth_dtype src, nk_dtype *out)
{
    static const int map[NK_PTH_DTYPE_COUNT] = {
        [NK_PTH_F32] = NK_F32, [NK_PTH_F16] = NK_F16, [NK_PTH_BF16] = NK_BF16,
        [NK_PTH_F64] = -1,     [NK_PTH_I64] = NK_I64, [NK_PTH_I32] = NK_I32,
        [NK_PTH_I16] = -1,     [NK_PTH_I8] = NK_I8,   [NK_PTH_U8] = NK_U8,
        [NK_PTH_BOOL] = NK_BOOL,
    };
    if ((unsigned)src >= NK_PTH_DTYPE_COUNT || map[src] < 0)
        return false;
    *out = (nk_dtype)map[src];
    return true;
}

static bool is_float(nk_pth_dtype d)
{
    return d == NK_PTH_F32 || d == NK_PTH_F16 || d == NK_PTH_BF16 ||
           d == NK_PTH_F64;
}

bool nk_pth_can_convert(nk_pth_dtype src, nk_dtype dst)
{
    nk_dtype same;
    if (nk_pth_to_nk_dtype(src, &same) && same == dst)
        return true;
    switch (dst) {
    case NK_F32:
    case NK_F16:
    case NK_BF16:
        return is_float(src);
    case NK_I64:
        return !is_float(src);
    case NK_I32:
        return src == NK_PTH_I16 || src == NK_PTH_I8 || src == NK_PTH_U8 ||
               src == NK_PTH_BOOL;
    default:
        return false;
    }
}

static double load_float(nk_pth_dtype dt, const uint8_t *p)
{
    switch (dt) {
    case NK_PTH_F32: {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    case NK_PTH_F16: {
        uint16_t h;
        memcpy(&h, p, 2);
        return nk_f16_to_f32(h);
    }
    case NK_PTH_BF16: {
        uint16_t h;
        memcpy(&h, p, 2);
        return nk_bf16_to_f32(h);
    }
    default: {
        double d;
        memcpy(&d, p, 8);
        return d;
    }
    }
}

static int64_t load_int(nk_pth_dtype dt, const uint8_t *p)
{
    switch (dt) {
    case NK_PTH_I64: {
        int64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    case NK_PTH_I32: {
        int32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    case NK_PTH_I16: {
        int16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case NK_PTH_I8:
        return (int8_t)p[0];
    case NK_PTH_BOOL:
        return p[0] != 0;
    default:
        return p[0];
    }
}

nk_status nk_pth_convert(nk_ctx *ctx, const nk_pth_tensor *t,
                         nk_dtype dst_dt, void *dst)
{
    nk_dtype same;
    if (nk_pth_to_nk_dtype(t->dtype, &same) && same == dst_dt) {
        if (t->nbytes)
            memcpy(dst, t->data, t->nbytes);
        return NK_OK;
    }
    if (!nk_pth_can_convert(t->dtype, dst_dt))
        return nk_fail(ctx, NK_INVALID_ARG,
                       "tensor '%s': cannot copy %s values into a %s tensor",
                       t->name, nk_pth_dtype_name(t->dtype),
                       nk_dtype_name(dst_dt));
    const uint8_t *src = t->data;
    size_t es = nk_pth_dtype_size(t->dtype);
    for (int64_t i = 0; i < t->numel; i++, src += es) {
        switch (dst_dt) {
        case NK_F32: {
            float f = (float)load_float(t->dtype, src);
            memcpy((uint8_t *)dst + 4 * i, &f, 4);
            break;
        }
        case NK_F16: {
            uint16_t h = nk_f32_to_f16((float)load_float(t->dtype, src));
            memcpy((uint8_t *)dst + 2 * i, &h, 2);
            break;
        }
        case NK_BF16: {
            uint16_t h = nk_f32_to_bf16((float)load_float(t->dtype, src));
            memcpy((uint8_t *)dst + 2 * i, &h, 2);
            break;
        }
        case NK_I64: {
            int64_t v = load_int(t->dtype, src);
            memcpy((uint8_t *)dst + 8 * i, &v, 8);
            break;
        }
        default: { /* NK_I32 from a narrower integer */
            int32_t v = (int32_t)load_int(t->dtype, src);
            memcpy((uint8_t *)dst + 4 * i, &v, 4);
            break;
        }
        }
    }
    return NK_OK;
}

/* ---- reading a checkpoint ------------------------------------------- */

static const char *kind_name(nk_pv_kind k)
{
    static const char *names[NK_PV_KIND_COUNT] = {
        "None", "bool", "int", "float", "str", "bytes", "tuple",
        "list", "dict", "global", "storage", "tensor"};
    return (unsigned)k < NK_PV_KIND_COUNT ? names[k] : "?";
}

static bool is_key(const nk_pv *k)
{
    return k->kind == NK_PV_STR && strlen(k->u.str.s) == k->u.str.len;
}

/* The archive folder: the prefix of the one "<folder>/data.pkl" entry. */
static nk_status find_archive(nk_ctx *ctx, const char *path, const nk_zip *z,
                              const nk_zip_entry **pkl, size_t *prefix_len)
{
    for (size_t i = 0; i < z->n; i++) {
        const char *name = z->entries[i].name;
        const char *slash = strchr(name, '/');
        if (slash && slash != name && strcmp(slash, "/data.pkl") == 0) {
            *pkl = &z->entries[i];
            *prefix_len = (size_t)(slash - name) + 1;
            return NK_OK;
        }
    }
    return nk_fail(ctx, NK_FORMAT,
                   "%s: zip archive has no '<archive>/data.pkl' entry "
                   "(%zu entries); not a torch.save checkpoint",
                   path, z->n);
}

/* Resolve one tensor value into t (shape, contiguity, byte range). */
static nk_status resolve_tensor(nk_ctx *ctx, const char *path,
                                const nk_zip *z, const char *prefix,
                                size_t prefix_len, const char *key,
                                const nk_pv *v, nk_pth_tensor *t)
{
    const nk_pv *s = v->u.tensor.storage;
    t->name = key;
    t->dtype = s->u.storage.dtype;
    t->rank = v->u.tensor.rank;
    int64_t numel = 1;
    for (int i = 0; i < t->rank; i++) {
        t->shape[i] = v->u.tensor.size[i];
        if (__builtin_mul_overflow(numel, t->shape[i], &numel))
            return nk_fail(ctx, NK_FORMAT,
                           "%s: tensor '%s' has an element count that "
                           "overflows",
                           path, key);
    }
    t->numel = numel;
    /* Contiguous (row-major) unless a dim of size > 1 has another stride. */
    int64_t expect = 1;
    for (int i = t->rank - 1; i >= 0 && numel > 0; i--) {
        if (t->shape[i] != 1 && v->u.tensor.stride[i] != expect)
            return nk_fail(ctx, NK_UNSUPPORTED,
                           "%s: tensor '%s' is not contiguous (dim %d has "
                           "stride %" PRId64 ", expected %" PRId64
                           "); save tensor.contiguous() instead",
                           path, key, i, v->u.tensor.stride[i], expect);
        expect *= t->shape[i];
    }
    char entry[512];
    int n = snprintf(entry, sizeof entry, "%.*sdata/%s", (int)prefix_len,
                     prefix, s->u.storage.key);
    if (n < 0 || (size_t)n >= sizeof entry)
        return nk_fail(ctx, NK_FORMAT, "%s: tensor '%s': storage key too long",
                       path, key);
    const nk_zip_entry *e = nk_zip_find(z, entry);
    if (!e)
        return nk_fail(ctx, NK_FORMAT,
                       "%s: tensor '%s': storage entry '%s' is missing from "
                       "the archive",
                       path, key, entry);
    size_t es = nk_pth_dtype_size(t->dtype), first, count, end, bytes;
    if (!nk_mul_size((size_t)v->u.tensor.offset, es, &first) ||
        !nk_mul_size((size_t)numel, es, &count) ||
        !nk_add_size(first, count, &end) || end > e->size)
        return nk_fail(ctx, NK_FORMAT,
                       "%s: tensor '%s': elements [%" PRId64 ", +%" PRId64
                       ") of %s do not fit in storage '%s' of %llu bytes",
                       path, key, v->u.tensor.offset, numel,
                       nk_pth_dtype_name(t->dtype), entry,
                       (unsigned long long)e->size);
    bytes = count;
    t->data = e->data + first;
    t->nbytes = bytes;
    return NK_OK;
}

static nk_status pick_state_dict(nk_ctx *ctx, const char *path,
                                 const nk_pv *root, const nk_pv **sd,
                                 const char **container)
{
    if (!root || root->kind != NK_PV_DICT)
        return nk_fail(ctx, NK_FORMAT,
                       "%s: data.pkl holds a %s, expected a dict (state dict "
                       "or checkpoint)",
                       path, root ? kind_name(root->kind) : "nothing");
    static const char *const keys[] = {"state_dict", "model"};
    *sd = root;
    *container = "";
    for (int i = 0; i < 2; i++) {
        const nk_pv *v = nk_pv_dict_get(root, keys[i]);
        if (v && v->kind == NK_PV_DICT) {
            *sd = v;
            *container = keys[i];
            return NK_OK;
        }
    }
    return NK_OK;
}

nk_status nk_pth_read(nk_ctx *ctx, const char *path, nk_pth_state **out)
{
    *out = NULL;
    nk_pth_state *s = nk_calloc(1, sizeof *s);
    if (!s)
        return nk_fail(ctx, NK_NOMEM, "%s: out of memory", path);
    nk_status st = nk_file_map(ctx, path, &s->map, &s->map_len);
    if (st)
        goto fail;
    const uint8_t *b = s->map;
    if (!nk_zip_probe(b, s->map_len)) {
        if (s->map_len >= 2 && b[0] == 0x80)
            st = nk_fail(ctx, NK_UNSUPPORTED,
                         "%s: legacy (non-zip) torch.save format; re-save "
                         "with torch >= 1.6",
                         path);
        else if (s->map_len >= 262 && memcmp(b + 257, "ustar", 5) == 0)
            st = nk_fail(ctx, NK_UNSUPPORTED,
                         "%s: legacy (tar) torch.save format; re-save with "
                         "torch >= 1.6",
                         path);
        else
            st = nk_fail(ctx, NK_FORMAT,
                         "%s: not a torch.save checkpoint (no zip signature, "
                         "%zu bytes)",
                         path, s->map_len);
        goto fail;
    }
    if ((st = nk_zip_open(ctx, path, s->map, s->map_len, &s->zip)))
        goto fail;
    const nk_zip_entry *pkl = NULL;
    size_t plen = 0;
    if ((st = find_archive(ctx, path, &s->zip, &pkl, &plen)))
        goto fail;
    const char *prefix = pkl->name;

    char bo[512];
    snprintf(bo, sizeof bo, "%.*sbyteorder", (int)plen, prefix);
    const nk_zip_entry *bye = nk_zip_find(&s->zip, bo);
    if (bye && bye->size == 3 && memcmp(bye->data, "big", 3) == 0) {
        st = nk_fail(ctx, NK_UNSUPPORTED,
                     "%s: checkpoint was saved on a big-endian machine", path);
        goto fail;
    }

    size_t wl = strlen(path) + 16;
    s->where = nk_malloc(wl);
    if (!s->where) {
        st = nk_fail(ctx, NK_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    snprintf(s->where, wl, "%s: data.pkl", path);
    if ((st = nk_unpickle(ctx, s->where, pkl->data, (size_t)pkl->size,
                          &s->pickle)))
        goto fail;

    const nk_pv *sd = NULL;
    if ((st = pick_state_dict(ctx, path, s->pickle.root, &sd, &s->container)))
        goto fail;
    size_t count = 0;
    for (size_t i = 0; i < sd->u.dict.n; i++)
        if (is_key(sd->u.dict.keys[i]) &&
            sd->u.dict.vals[i]->kind == NK_PV_TENSOR)
            count++;
    if (count == 0) {
        st = nk_fail(ctx, NK_FORMAT,
                     "%s: no tensors found in the %s%s%s (%zu keys); "
                     "expected a state dict",
                     path, *s->container ? "'" : "top-level dict",
                     s->container, *s->container ? "' dict" : "",
                     sd->u.dict.n);
        goto fail;
    }
    if (count > INT32_MAX) {
        st = nk_fail(ctx, NK_FORMAT, "%s: too many tensors (%zu)", path, count);
        goto fail;
    }
    s->tensors = nk_calloc(count, sizeof *s->tensors);
    if (!s->tensors) {
        st = nk_fail(ctx, NK_NOMEM, "%s: out of memory for %zu tensors", path,
                     count);
        goto fail;
    }
    for (size_t i = 0; i < sd->u.dict.n; i++) {
        const nk_pv *k = sd->u.dict.keys[i], *v = sd->u.dict.vals[i];
        if (!is_key(k) || v->kind != NK_PV_TENSOR)
            continue;
        if ((st = resolve_tensor(ctx, path, &s->zip, prefix, plen,
                                 k->u.str.s, v, &s->tensors[s->n])))
            goto fail;
        s->n++;
    }
    *out = s;
    return NK_OK;
fail:
    nk_pth_free(s);
    return st;
}

void nk_pth_free(nk_pth_state *s)
{
    if (!s)
        return;
    nk_free(s->tensors);
    nk_pickle_free(&s->pickle);
    nk_zip_close(&s->zip);
    if (s->map)
        nk_file_unmap(s->map, s->map_len);
    nk_free(s->where);
    nk_free(s);
}

/* ---- loading into a graph ------------------------------------------- */

typedef struct strbuf {
    char *s;
    size_t n, cap;
    bool oom;
} strbuf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void sb_printf(strbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->n;
        int k = vsnprintf(b->s ? b->s + b->n : NULL, room, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = true;
            return;
        }
        if ((size_t)k < room) {
            b->n += (size_t)k;
            return;
        }
        size_t nc = (b->cap ? b->cap : 256);
        while (nc <= b->n + (size_t)k)
            nc *= 2;
        char *ns = nk_realloc(b->s, nc);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
}

static void shape_text(char *buf, size_t n, int rank, const int64_t *d)
{
    size_t at = 0;
    at += (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < rank && at < n; i++)
        at += (size_t)snprintf(buf + at, n - at, "%s%" PRId64,
                               i ? ", " : "", d[i]);
    if (at < n)
        snprintf(buf + at, n - at, "]");
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* An initializer that load_state_dict would call a parameter or buffer. */
static bool is_state_entry(const nk_tensor *t)
{
    if (!t->is_init || !t->name || !*t->name)
        return false;
    return t->trainable || ends_with(t->name, "running_mean") ||
           ends_with(t->name, "running_var") ||
           ends_with(t->name, "num_batches_tracked");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* What happens to one file tensor. */
enum { FATE_LOAD = 0, FATE_UNEXPECTED, FATE_MISMATCH };

nk_status nk_graph_load_pth(nk_ctx *ctx, nk_graph *g, const char *path,
                            int strict, nk_load_report *report)
{
    if (report)
        memset(report, 0, sizeof *report);
    if (!ctx || !g || !path)
        return nk_fail(ctx, NK_INVALID_ARG,
                       "nk_graph_load_pth: NULL argument");
    nk_pth_state *s;
    nk_status st = nk_pth_read(ctx, path, &s);
    if (st)
        return st;

    int *fate = NULL, *target = NULL;
    const char **names = NULL, **sorted = NULL;
    strbuf missing = {0}, unexpected = {0}, mismatch = {0}, text = {0};
    int n_missing = 0, n_unexpected = 0, n_mismatch = 0, n_loaded = 0;

    fate = nk_calloc((size_t)s->n, sizeof *fate);
    target = nk_calloc((size_t)s->n, sizeof *target);
    names = nk_calloc((size_t)s->n, sizeof *names);
    sorted = nk_calloc((size_t)s->n, sizeof *sorted);
    if (!fate || !target || !names || !sorted) {
        st = nk_fail(ctx, NK_NOMEM, "%s: out of memory", path);
        goto done;
    }

    /* DataParallel checkpoints prefix every key with "module."; strip it
     * when the graph itself has no such names. */
    bool strip = true;
    for (int i = 0; i < s->n && strip; i++)
        strip = strncmp(s->tensors[i].name, "module.", 7) == 0;
    for (int i = 0; i < g->n_tensors && strip; i++)
        if (g->tensors[i]->name &&
            strncmp(g->tensors[i]->name, "module.", 7) == 0)
            strip = false;
    for (int i = 0; i < s->n; i++) {
        names[i] = s->tensors[i].name + (strip ? 7 : 0);
        sorted[i] = names[i];
    }
    qsort(sorted, (size_t)s->n, sizeof *sorted, cmp_str);

    for (int i = 0; i < s->n; i++) {
        const nk_pth_tensor *pt = &s->tensors[i];
        int idx = nk_graph_find_tensor(g, names[i]);
        target[i] = idx;
        if (idx < 0 || !g->tensors[idx]->is_init) {
            fate[i] = FATE_UNEXPECTED;
            sb_printf(&unexpected, "%s\"%s\"", n_unexpected ? ", " : "",
                      names[i]);
            n_unexpected++;
            continue;
        }
        const nk_tensor *t = g->tensors[idx];
        bool same = t->shape.rank == pt->rank;
        for (int d = 0; same && d < pt->rank; d++)
            same = t->shape.d[d] == pt->shape[d];
        char fs[160], ms[160];
        if (!same) {
            shape_text(fs, sizeof fs, pt->rank, pt->shape);
            shape_text(ms, sizeof ms, t->shape.rank, t->shape.d);
            sb_printf(&mismatch,
                      "%s%s: copying a param with shape %s from checkpoint, "
                      "the shape in current model is %s",
                      n_mismatch ? "; " : "", names[i], fs, ms);
            fate[i] = FATE_MISMATCH;
            n_mismatch++;
        } else if (!nk_pth_can_convert(pt->dtype, t->dtype)) {
            sb_printf(&mismatch,
                      "%s%s: copying a param of dtype %s from checkpoint, "
                      "the dtype in current model is %s",
                      n_mismatch ? "; " : "", names[i],
                      nk_pth_dtype_name(pt->dtype), nk_dtype_name(t->dtype));
            fate[i] = FATE_MISMATCH;
            n_mismatch++;
        }
    }
    for (int i = 0; i < g->n_tensors; i++) {
        const nk_tensor *t = g->tensors[i];
        if (!is_state_entry(t))
            continue;
        if (!bsearch(&t->name, sorted, (size_t)s->n, sizeof *sorted,
                     cmp_str)) {
            sb_printf(&missing, "%s\"%s\"", n_missing ? ", " : "", t->name);
            n_missing++;
        }
    }

    bool bad = n_missing || n_unexpected || n_mismatch;
    if (bad && strict) {
        /* The message buffer is bounded: give each list a share. */
        st = nk_fail(ctx, NK_FORMAT,
                     "%s: state dict does not match the model (strict): "
                     "%d missing key(s)%s%.500s%s; %d unexpected key(s)%s"
                     "%.500s%s; %d size mismatch(es)%s%.600s%s",
                     path, n_missing, n_missing ? ": " : "",
                     missing.s ? missing.s : "",
                     missing.n > 500 ? " ..." : "", n_unexpected,
                     n_unexpected ? ": " : "",
                     unexpected.s ? unexpected.s : "",
                     unexpected.n > 500 ? " ..." : "", n_mismatch,
                     n_mismatch ? ": " : "", mismatch.s ? mismatch.s : "",
                     mismatch.n > 600 ? " ..." : "");
    } else {
        for (int i = 0; i < s->n; i++) {
            if (fate[i] != FATE_LOAD)
                continue;
            nk_tensor *t = g->tensors[target[i]];
            size_t need = nk_tensor_bytes_for(t->dtype, &t->shape);
            if (need == SIZE_MAX) {
                st = nk_fail(ctx, NK_INTERNAL, "%s: initializer '%s' is too "
                             "large", path, t->name);
                goto done;
            }
            /* Never write into borrowed (possibly read-only) memory. */
            if (!t->data || t->storage != NK_STORE_OWNED ||
                t->nbytes != need) {
                void *nd = nk_malloc_aligned(need ? need : 1, 64);
                if (!nd) {
                    st = nk_fail(ctx, NK_NOMEM,
                                 "%s: out of memory for '%s' (%zu bytes)",
                                 path, t->name, need);
                    goto done;
                }
                if (t->storage == NK_STORE_OWNED)
                    nk_free_aligned(t->data);
                t->data = nd;
                t->nbytes = need;
                t->storage = NK_STORE_OWNED;
            }
            if ((st = nk_pth_convert(ctx, &s->tensors[i], t->dtype, t->data)))
                goto done;
            n_loaded++;
        }
    }

    if (report) {
        sb_printf(&text, "%s: loaded %d of %d tensors%s%s%s\n", path,
                  n_loaded, s->n, *s->container ? " (from '" : "",
                  s->container, *s->container ? "')" : "");
        if (strip)
            sb_printf(&text, "stripped the 'module.' prefix of every key\n");
        if (n_missing)
            sb_printf(&text, "missing keys (%d): %s\n", n_missing, missing.s);
        if (n_unexpected)
            sb_printf(&text, "unexpected keys (%d): %s\n", n_unexpected,
                      unexpected.s);
        if (n_mismatch)
            sb_printf(&text, "size mismatches (%d): %s\n", n_mismatch,
                      mismatch.s);
        if (text.oom) {
            if (!st)
                st = nk_fail(ctx, NK_NOMEM, "%s: out of memory", path);
            nk_free(text.s);
            text.s = NULL;
        }
        report->n_loaded = n_loaded;
        report->n_missing = n_missing;
        report->n_unexpected = n_unexpected;
        report->n_mismatched = n_mismatch;
        report->text = text.s;
        text.s = NULL;
    }

done:
    if (!st && (missing.oom || unexpected.oom || mismatch.oom))
        st = nk_fail(ctx, NK_NOMEM, "%s: out of memory", path);
    nk_free(missing.s);
    nk_free(unexpected.s);
    nk_free(mismatch.s);
    nk_free(text.s);
    nk_free(fate);
    nk_free(target);
    nk_free(names);
    nk_free(sorted);
    nk_pth_free(s);
    return st;
}

void nk_load_report_clear(nk_load_report *r)
{
    if (!r)
        return;
    nk_free(r->text);
    memset(r, 0, sizeof *r);
}
