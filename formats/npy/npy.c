/*
 * npy.c — NumPy .npy tensors (format versions 1.0, 2.0 and 3.0; C order,
 * little-endian): nk_npy_load parses the header dict defensively and
 * checks the data length against the shape; nk_npy_save writes atomically.
 */
#include "engine/ir.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAX_HEADER 65536u /* numpy itself refuses headers over 10000 */

static const struct {
    char kind;
    int size;
    nk_dtype dt;
} NPY_TYPES[] = {
    {'f', 4, NK_F32}, {'f', 2, NK_F16}, {'i', 1, NK_I8}, {'u', 1, NK_U8},
    {'i', 4, NK_I32}, {'i', 8, NK_I64}, {'b', 1, NK_BOOL},
};

/* A tiny parser for the Python literal dict of the header. */
typedef struct npy_parser {
    const char *p, *end;
} npy_parser;

static void skip_ws(npy_parser *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' ||
            *ps->p == '\r'))
        ps->p++;
}

static bool eat(npy_parser *ps, char c)
{
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == c) {
        ps->p++;
        return true;
    }
    return false;
}

/* A quoted string into buf (truncation is an error). */
static bool parse_str(npy_parser *ps, char *buf, size_t cap)
{
    skip_ws(ps);
    if (ps->p >= ps->end || (*ps->p != '\'' && *ps->p != '"'))
        return false;
    char q = *ps->p++;
    size_t n = 0;
    while (ps->p < ps->end && *ps->p != q) {
        if (*ps->p == '\\' || n + 1 >= cap)
            return false;
        buf[n++] = *ps->p++;
    }
    if (ps->p >= ps->end)
        return false;
    ps->p++;
    buf[n] = 0;
    return true;
}

static bool parse_word(npy_parser *ps, const char *w)
{
    skip_ws(ps);
    size_t n = strlen(w);
    if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, w, n) == 0) {
        ps->p += n;
        return true;
    }
    return false;
}

/* "(2, 3)", "(3,)", "()"; ints without sign, overflow-checked. */
static bool parse_shape(npy_parser *ps, int *rank, int64_t *dims, int max,
                        bool *too_many)
{
    *rank = 0;
    if (!eat(ps, '('))
        return false;
    for (;;) {
        if (eat(ps, ')'))
            return true;
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
            return false;
        int64_t v = 0;
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
            if (v > (INT64_MAX - 9) / 10)
                return false;
            v = v * 10 + (*ps->p++ - '0');
        }
        if (ps->p < ps->end && *ps->p == 'L') /* Python 2 longs */
            ps->p++;
        if (*rank == max) {
            *too_many = true;
            return false;
        }
        dims[(*rank)++] = v;
        if (!eat(ps, ',')) {
            /* Only "(n)" without comma after a single element is not a
             * tuple in Python; numpy never writes it, accept it anyway. */
            return eat(ps, ')');
        }
    }
}

static nk_status parse_header(nk_ctx *ctx, const char *path, const char *h,
                              size_t n, nk_dtype *dt, int *rank,
                              int64_t *dims)
{
    npy_parser ps = {h, h + n};
    bool have_descr = false, have_order = false, have_shape = false;
    char key[32], descr[32];
    if (!eat(&ps, '{'))
        return nk_fail(ctx, NK_FORMAT,
                       "%s: .npy header is not a dict (starts with '%.10s')",
                       path, h);
    for (;;) {
        if (eat(&ps, '}'))
            break;
        if (!parse_str(&ps, key, sizeof key) || !eat(&ps, ':'))
            return nk_fail(ctx, NK_FORMAT,
                           "%s: .npy header is malformed at byte %zu", path,
                           (size_t)(ps.p - h));
        if (strcmp(key, "descr") == 0 && !have_descr) {
            if (!parse_str(&ps, descr, sizeof descr))
                return nk_fail(ctx, NK_FORMAT,
                               "%s: .npy 'descr' is not a type string "
                               "(structured arrays are not supported)",
                               path);
            have_descr = true;
        } else if (strcmp(key, "fortran_order") == 0 && !have_order) {
            if (parse_word(&ps, "True"))
                return nk_fail(ctx, NK_UNSUPPORTED,
                               "%s: .npy array is in Fortran order; save it "
                               "with numpy.ascontiguousarray first",
                               path);
            if (!parse_word(&ps, "False"))
                return nk_fail(ctx, NK_FORMAT,
                               "%s: .npy 'fortran_order' is not True or "
                               "False",
                               path);
            have_order = true;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            bool too_many = false;
            if (!parse_shape(&ps, rank, dims, NK_MAX_RANK, &too_many))
                return too_many
                           ? nk_fail(ctx, NK_UNSUPPORTED,
                                     "%s: .npy array has more than %d "
                                     "dimensions",
                                     path, NK_MAX_RANK)
                           : nk_fail(ctx, NK_FORMAT,
                                     "%s: .npy 'shape' is not a tuple of "
                                     "non-negative integers",
                                     path);
            have_shape = true;
        } else {
            return nk_fail(ctx, NK_FORMAT,
                           "%s: .npy header has unexpected or repeated key "
                           "'%s'",
                           path, key);
        }
        if (!eat(&ps, ',')) {
            if (!eat(&ps, '}'))
                return nk_fail(ctx, NK_FORMAT,
                               "%s: .npy header is malformed at byte %zu",
                               path, (size_t)(ps.p - h));
            break;
        }
    }
    skip_ws(&ps);
    if (ps.p != ps.end)
        return nk_fail(ctx, NK_FORMAT,
                       "%s: .npy header has %zu unexpected bytes after the "
                       "dict",
                       path, (size_t)(ps.end - ps.p));
    if (!have_descr || !have_order || !have_shape)
        return nk_fail(ctx, NK_FORMAT,
                       "%s: .npy header lacks '%s'", path,
                       !have_descr ? "descr"
                                   : !have_order ? "fortran_order" : "shape");

    /* descr: byte order, kind, size ("<f4", "|u1") */
    char bo = descr[0], kind = descr[1];
    int size = 0;
    const char *s = descr + 2;
    if (!bo || !kind || !*s)
        return nk_fail(ctx, NK_FORMAT, "%s: .npy dtype '%s' is malformed",
                       path, descr);
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || size > 1000)
            return nk_fail(ctx, NK_UNSUPPORTED,
                           "%s: .npy dtype '%s' is not supported", path,
                           descr);
        size = size * 10 + (*s - '0');
    }
    if (bo != '<' && bo != '|' && bo != '>' && bo != '=')
        return nk_fail(ctx, NK_FORMAT,
                       "%s: .npy dtype '%s' has byte order '%c', expected "
                       "'<' or '|'",
                       path, descr, bo);
    if (bo == '>' && size > 1)
        return nk_fail(ctx, NK_UNSUPPORTED,
                       "%s: .npy dtype '%s' is big-endian; nnkit reads "
                       "little-endian arrays only",
                       path, descr);
    for (size_t i = 0; i < sizeof NPY_TYPES / sizeof NPY_TYPES[0]; i++)
        if (NPY_TYPES[i].kind == kind && NPY_TYPES[i].size == size) {
            *dt = NPY_TYPES[i].dt;
            return NK_OK;
        }
    return nk_fail(ctx, NK_UNSUPPORTED,
                   "%s: .npy dtype '%s' is not supported (expected f4, f2, "
                   "i1, u1, i4, i8 or b1)",
                   path, descr);
}

nk_status nk_npy_load(nk_ctx *ctx, const char *path, nk_tensor **out)
{
    if (!path || !out)
        return nk_fail(ctx, NK_INVALID_ARG, "nk_npy_load: NULL %s",
                       path ? "out" : "path");
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return nk_fail(ctx, NK_IO, "%s: cannot open: %s", path,
                       strerror(errno));
    nk_status st = NK_OK;
    char *hdr = NULL;
    nk_tensor *t = NULL;
    struct stat sb;
    uint8_t pre[12];
    size_t got = fread(pre, 1, 10, fp);
    if (fstat(fileno(fp), &sb) != 0) {
        st = nk_fail(ctx, NK_IO, "%s: cannot stat: %s", path,
                     strerror(errno));
        goto done;
    }
    uint64_t fsize = (uint64_t)sb.st_size;
    if (got < 8 || memcmp(pre, NPY_MAGIC, 6) != 0) {
        st = nk_fail(ctx, NK_FORMAT,
                     "%s: not a .npy file (expected magic \\x93NUMPY)",
                     path);
        goto done;
    }
    uint8_t major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0) {
        st = nk_fail(ctx, NK_UNSUPPORTED,
                     "%s: .npy format version %u.%u, expected 1.0, 2.0 or "
                     "3.0",
                     path, major, minor);
        goto done;
    }
    size_t prefix = major == 1 ? 10 : 12;
    if (major > 1)
        got += fread(pre + 10, 1, 2, fp);
    if (got < prefix) {
        st = nk_fail(ctx, NK_FORMAT, "%s: .npy file truncated in its "
                     "preamble (%zu bytes)", path, got);
        goto done;
    }
    uint32_t hlen = major == 1 ? (uint32_t)pre[8] | (uint32_t)pre[9] << 8
                               : (uint32_t)pre[8] | (uint32_t)pre[9] << 8 |
                                     (uint32_t)pre[10] << 16 |
                                     (uint32_t)pre[11] << 24;
    if (hlen > NPY_MAX_HEADER || hlen > fsize - prefix) {
        st = nk_fail(ctx, NK_FORMAT,
                     "%s: .npy header length %" PRIu32 " exceeds %s (%" PRIu64
                     " bytes)",
                     path, hlen,
                     hlen > NPY_MAX_HEADER ? "the limit" : "the file",
                     hlen > NPY_MAX_HEADER ? (uint64_t)NPY_MAX_HEADER
                                           : fsize - prefix);
        goto done;
    }
    hdr = nk_malloc((size_t)hlen + 1);
    if (!hdr) {
        st = nk_fail(ctx, NK_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if (fread(hdr, 1, hlen, fp) != hlen) {
        st = nk_fail(ctx, NK_IO, "%s: cannot read the .npy header", path);
        goto done;
    }
    hdr[hlen] = 0;
    if (memchr(hdr, 0, hlen)) {
        st = nk_fail(ctx, NK_FORMAT, "%s: .npy header contains a NUL byte",
                     path);
        goto done;
    }
    nk_dtype dt = NK_F32;
    int rank = 0;
    int64_t dims[NK_MAX_RANK] = {0};
    if ((st = parse_header(ctx, path, hdr, hlen, &dt, &rank, dims)))
        goto done;
    size_t want = nk_dtype_size(dt);
    for (int i = 0; i < rank; i++)
        if (dims[i] < 0 || (uint64_t)dims[i] > SIZE_MAX ||
            !nk_mul_size(want, (size_t)dims[i], &want)) {
            st = nk_fail(ctx, NK_FORMAT,
                         "%s: .npy shape is too large (dim %d = %" PRId64
                         ")",
                         path, i, dims[i]);
            goto done;
        }
    uint64_t have = fsize - prefix - hlen;
    if (have != want) {
        st = nk_fail(ctx, NK_FORMAT,
                     "%s: .npy data is %" PRIu64 " bytes, expected %zu for "
                     "its dtype and shape%s",
                     path, have, want, have < want ? " (truncated)" : "");
        goto done;
    }
    if ((st = nk_tensor_new(ctx, dt, rank, dims, &t)))
        goto done;
    if (want && fread(t->data, 1, want, fp) != want) {
        st = nk_fail(ctx, NK_IO, "%s: cannot read %zu bytes of data", path,
                     want);
        goto done;
    }
done:
    fclose(fp);
    nk_free(hdr);
    if (st) {
        nk_tensor_free(t);
        return st;
    }
    *out = t;
    return NK_OK;
}

nk_status nk_npy_save(nk_ctx *ctx, const nk_tensor *t, const char *path)
{
    if (!t || !path)
        return nk_fail(ctx, NK_INVALID_ARG, "nk_npy_save: NULL %s",
                       t ? "path" : "tensor");
    const char *descr = NULL;
    switch (t->dtype) {
    case NK_F32: descr = "<f4"; break;
    case NK_F16: descr = "<f2"; break;
    case NK_I8: descr = "|i1"; break;
    case NK_U8: descr = "|u1"; break;
    case NK_I32: descr = "<i4"; break;
    case NK_I64: descr = "<i8"; break;
    case NK_BOOL: descr = "|b1"; break;
    default:
        return nk_fail(ctx, NK_UNSUPPORTED,
                       "%s: .npy has no %s dtype; convert the tensor to f32 "
                       "first",
                       path, nk_dtype_name(t->dtype));
    }
    if (t->shape.rank < 0 || t->shape.rank > NK_MAX_RANK)
        return nk_fail(ctx, NK_INVALID_ARG, "%s: tensor rank %d", path,
                       t->shape.rank);
    size_t want = nk_dtype_size(t->dtype);
    char shape[NK_MAX_RANK * 24 + 8];
    size_t sl = 0;
    shape[sl++] = '(';
    for (int i = 0; i < t->shape.rank; i++) {
        int64_t d = t->shape.d[i];
        if (d < 0 || !nk_mul_size(want, (size_t)d, &want))
            return nk_fail(ctx, NK_INVALID_ARG,
                           "%s: tensor dim %d is %" PRId64
                           " (symbolic or invalid)",
                           path, i, d);
        sl += (size_t)snprintf(shape + sl, sizeof shape - sl, "%s%" PRId64,
                               i ? ", " : "", d);
    }
    if (t->shape.rank == 1)
        shape[sl++] = ',';
    shape[sl++] = ')';
    shape[sl] = 0;
    if (want && (!t->data || t->nbytes < want))
        return nk_fail(ctx, NK_INVALID_ARG,
                       "%s: tensor has %zu bytes of data, expected %zu", path,
                       t->data ? t->nbytes : 0, want);

    /* Header padded with spaces and ended by '\n' so that the data
     * starts at a multiple of 64 bytes, as numpy writes it. */
    char hdr[512];
    int n = snprintf(hdr, sizeof hdr,
                     "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                     descr, shape);
    if (n < 0 || (size_t)n + 64 >= sizeof hdr)
        return nk_fail(ctx, NK_INTERNAL, "%s: .npy header too long", path);
    size_t total = 10 + (size_t)n + 1;
    size_t padded = (total + 63) / 64 * 64;
    memset(hdr + n, ' ', padded - total);
    hdr[padded - 10 - 1] = '\n';
    size_t hlen = padded - 10;
    uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                       (uint8_t)hlen, (uint8_t)(hlen >> 8)};

    nk_writer w;
    nk_status st = nk_writer_open(ctx, &w, path);
    if (st)
        return st;
    st = nk_writer_write(ctx, &w, pre, sizeof pre);
    if (!st)
        st = nk_writer_write(ctx, &w, hdr, hlen);
    if (!st && want)
        st = nk_writer_write(ctx, &w, t->data, want);
    if (st) {
        nk_writer_abort(&w);
        return st;
    }
    return nk_writer_commit(ctx, &w);
}
