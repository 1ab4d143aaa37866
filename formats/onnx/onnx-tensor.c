/*
 * onnx-tensor.c — ONNX TensorProto decoding shared by the model reader and
 * the backend tests' .pb files: element types, every storage form (typed
 * fields, raw_data, external data confined to the model's folder).
 */
#include "formats/onnx/onnx-pb.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- protobuf-c glue ------------------------------------------------------ */

static void *pb_alloc(void *data, size_t size)
{
    nk_onnx_alloc *a = data;
    void *p = nk_malloc(size ? size : 1);
    if (!p)
        a->failed = true;
    return p;
}

static void pb_free(void *data, void *p)
{
    (void)data;
    nk_free(p);
}

void nk_onnx_alloc_init(nk_onnx_alloc *a)
{
    a->pb.alloc = pb_alloc;
    a->pb.free = pb_free;
    a->pb.allocator_data = a;
    a->failed = false;
}

static nk_status unpack_failed(nk_ctx *ctx, nk_onnx_alloc *a,
                               const char *path, const char *what,
                               size_t len)
{
    if (a->failed)
        return nk_fail(ctx, NK_NOMEM, "%s: out of memory decoding the %s",
                       path, what);
    return nk_fail(ctx, NK_FORMAT, "%s: not a valid ONNX %s: the protobuf "
                   "is truncated or corrupt (%zu bytes)", path, what, len);
}

nk_status nk_onnx_unpack_model(nk_ctx *ctx, nk_onnx_alloc *a,
                               const char *path, const uint8_t *buf,
                               size_t len, Onnx__ModelProto **out)
{
    *out = onnx__model_proto__unpack(&a->pb, len, buf);
    return *out ? NK_OK : unpack_failed(ctx, a, path, "model", len);
}

nk_status nk_onnx_unpack_tensor(nk_ctx *ctx, nk_onnx_alloc *a,
                                const char *path, const uint8_t *buf,
                                size_t len, Onnx__TensorProto **out)
{
    *out = onnx__tensor_proto__unpack(&a->pb, len, buf);
    return *out ? NK_OK : unpack_failed(ctx, a, path, "TensorProto", len);
}

/* ---- element types ------------------------------------------------------- */

static const char *const ET_NAMES[] = {
    "UNDEFINED", "FLOAT",  "UINT8",  "INT8",      "UINT16",     "INT16",
    "INT32",     "INT64",  "STRING", "BOOL",      "FLOAT16",    "DOUBLE",
    "UINT32",    "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16",
};

const char *nk_onnx_dtype_name(int32_t et)
{
    if (et >= 0 && et < (int32_t)(sizeof ET_NAMES / sizeof ET_NAMES[0]))
        return ET_NAMES[et];
    return "unknown";
}

size_t nk_onnx_elem_size(int32_t et)
{
    switch (et) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: return 1;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16: return 2;
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: return 4;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
    case ONNX__TENSOR_PROTO__DATA_TYPE__COMPLEX64: return 8;
    case ONNX__TENSOR_PROTO__DATA_TYPE__COMPLEX128: return 16;
    default: return 0;
    }
}

bool nk_onnx_dtype_from(int32_t et, nk_dtype *dt)
{
    switch (et) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: *dt = NK_F32; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16: *dt = NK_F16; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16: *dt = NK_BF16; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: *dt = NK_I8; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8: *dt = NK_U8; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: *dt = NK_I32; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: *dt = NK_I64; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: *dt = NK_BOOL; return true;
    default: return false;
    }
}

int32_t nk_onnx_dtype_to(nk_dtype dt)
{
    switch (dt) {
    case NK_F32: return ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    case NK_F16: return ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16;
    case NK_BF16: return ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16;
    case NK_I8: return ONNX__TENSOR_PROTO__DATA_TYPE__INT8;
    case NK_U8: return ONNX__TENSOR_PROTO__DATA_TYPE__UINT8;
    case NK_I32: return ONNX__TENSOR_PROTO__DATA_TYPE__INT32;
    case NK_I64: return ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    case NK_BOOL: return ONNX__TENSOR_PROTO__DATA_TYPE__BOOL;
    default: return ONNX__TENSOR_PROTO__DATA_TYPE__UNDEFINED;
    }
}

/* ---- external data ------------------------------------------------------- */

/* A decimal integer string (external_data offset/length) in [0, 2^63). */
static bool parse_u63(const char *s, uint64_t *v)
{
    uint64_t x = 0;
    if (!s || !*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || x > (UINT64_C(1) << 62) / 5)
            return false;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    if (x >> 63)
        return false;
    *v = x;
    return true;
}

/* Resolve `loc` inside folder dir, refusing anything that leaves it:
 * absolute paths, ".." components, and symlinks that point outside. */
static nk_status external_path(nk_ctx *ctx, const char *dir, const char *loc,
                               const char *what, char **out)
{
    if (!loc || !*loc)
        return nk_fail(ctx, NK_FORMAT, "%s: external data without a "
                       "'location'", what);
    if (loc[0] == '/')
        return nk_fail(ctx, NK_FORMAT, "%s: external data location '%s' is "
                       "an absolute path; only paths inside the model's "
                       "folder are allowed", what, loc);
    for (const char *p = loc; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return nk_fail(ctx, NK_FORMAT, "%s: external data location '%s' "
                           "contains '..'; only paths inside the model's "
                           "folder are allowed", what, loc);
        p += n;
        while (*p == '/')
            p++;
    }
    size_t len = strlen(dir) + strlen(loc) + 2;
    char *joined = nk_malloc(len);
    char *rdir = nk_malloc(PATH_MAX), *rfile = nk_malloc(PATH_MAX);
    nk_status st = NK_OK;
    if (!joined || !rdir || !rfile) {
        st = nk_fail(ctx, NK_NOMEM, "%s: out of memory", what);
        goto done;
    }
    snprintf(joined, len, "%s/%s", dir, loc);
    if (!realpath(dir, rdir)) {
        st = nk_fail(ctx, NK_IO, "%s: cannot resolve the model's folder "
                     "'%s': %s", what, dir, strerror(errno));
        goto done;
    }
    if (!realpath(joined, rfile)) {
        st = nk_fail(ctx, NK_IO, "%s: external data file '%s': %s", what,
                     joined, strerror(errno));
        goto done;
    }
    size_t dn = strlen(rdir);
    bool inside = strncmp(rfile, rdir, dn) == 0 &&
                  (rfile[dn] == '/' || (dn == 1 && rdir[0] == '/'));
    if (!inside) {
        st = nk_fail(ctx, NK_FORMAT, "%s: external data location '%s' "
                     "resolves to '%s', outside the model's folder '%s' (a "
                     "symlink?); refused", what, loc, rfile, rdir);
        goto done;
    }
    *out = rfile;
    rfile = NULL;
done:
    nk_free(joined);
    nk_free(rdir);
    nk_free(rfile);
    return st;
}

/* Read `want` bytes of external data described by tp into buf. */
static nk_status read_external(nk_ctx *ctx, const Onnx__TensorProto *tp,
                               const char *dir, const char *what, void *buf,
                               size_t want)
{
    const char *loc = NULL;
    uint64_t off = 0, length = 0;
    bool has_len = false;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const Onnx__StringStringEntryProto *kv = tp->external_data[i];
        if (!kv->key)
            continue;
        if (strcmp(kv->key, "location") == 0) {
            loc = kv->value;
        } else if (strcmp(kv->key, "offset") == 0) {
            if (!parse_u63(kv->value, &off))
                return nk_fail(ctx, NK_FORMAT, "%s: external data offset "
                               "'%s' is not a non-negative integer", what,
                               kv->value ? kv->value : "");
        } else if (strcmp(kv->key, "length") == 0) {
            if (!parse_u63(kv->value, &length))
                return nk_fail(ctx, NK_FORMAT, "%s: external data length "
                               "'%s' is not a non-negative integer", what,
                               kv->value ? kv->value : "");
            has_len = true;
        }
    }
    if (!dir)
        return nk_fail(ctx, NK_UNSUPPORTED, "%s: external data is not "
                       "allowed here", what);
    char *file = NULL;
    nk_status st = external_path(ctx, dir, loc, what, &file);
    if (st)
        return st;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        st = nk_fail(ctx, NK_IO, "%s: cannot open external data '%s': %s",
                     what, file, strerror(errno));
        goto done;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = nk_fail(ctx, NK_FORMAT, "%s: external data '%s' is not a "
                     "regular file", what, file);
        goto done;
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (!has_len)
        length = off <= size ? size - off : 0;
    if (off > size || length > size - off) {
        st = nk_fail(ctx, NK_FORMAT, "%s: external data '%s' offset %llu + "
                     "length %llu exceeds its size %llu", what, file,
                     (unsigned long long)off, (unsigned long long)length,
                     (unsigned long long)size);
        goto done;
    }
    if (length != want) {
        st = nk_fail(ctx, NK_FORMAT, "%s: external data has %llu bytes, "
                     "expected %zu", what, (unsigned long long)length, want);
        goto done;
    }
    size_t got = 0;
    while (got < want) {
        ssize_t r = pread(fd, (char *)buf + got, want - got,
                          (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            st = nk_fail(ctx, NK_IO, "%s: reading external data '%s': %s",
                         what, file, r < 0 ? strerror(errno) : "short read");
            goto done;
        }
        got += (size_t)r;
    }
done:
    if (fd >= 0)
        close(fd);
    nk_free(file);
    return st;
}

/* ---- decoding ------------------------------------------------------------- */

/* Copy `n` int32_data values into narrower elements, range-checked. */
static nk_status narrow_i32(nk_ctx *ctx, const char *what, int32_t et,
                            const int32_t *src, size_t n, void *dst)
{
    int32_t lo, hi;
    switch (et) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: lo = -128; hi = 127; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8: lo = 0; hi = 255; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: lo = 0; hi = 1; break;
    default: lo = 0; hi = 65535; break; /* FLOAT16, BFLOAT16 bit patterns */
    }
    size_t es = nk_onnx_elem_size(et);
    for (size_t i = 0; i < n; i++) {
        int32_t v = src[i];
        if (v < lo || v > hi)
            return nk_fail(ctx, NK_FORMAT, "%s: int32_data[%zu] = %d is out "
                           "of range for %s [%d, %d]", what, i, (int)v,
                           nk_onnx_dtype_name(et), (int)lo, (int)hi);
        if (es == 1)
            ((uint8_t *)dst)[i] = (uint8_t)v;
        else
            ((uint16_t *)dst)[i] = (uint16_t)v;
    }
    return NK_OK;
}

/* How many of the mutually exclusive storage forms tp uses. */
static int storage_forms(const Onnx__TensorProto *tp, bool external)
{
    return (tp->has_raw_data && tp->raw_data.len > 0) + (external ? 1 : 0) +
           (tp->n_float_data > 0) + (tp->n_int32_data > 0) +
           (tp->n_int64_data > 0) + (tp->n_double_data > 0) +
           (tp->n_uint64_data > 0) + (tp->n_string_data > 0);
}

nk_status nk_onnx_tensor_decode(nk_ctx *ctx, const Onnx__TensorProto *tp,
                                const char *dir, const char *what,
                                bool allow_f64, nk_dtype *dt_out,
                                nk_shape *shape, void **data_out,
                                size_t *nbytes_out)
{
    *data_out = NULL;
    *nbytes_out = 0;
    if (!tp->has_data_type || tp->data_type == 0)
        return nk_fail(ctx, NK_FORMAT, "%s: data_type is missing", what);
    int32_t et = tp->data_type;
    bool f64 = et == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE && allow_f64;
    nk_dtype dt = NK_F32;
    if (!f64 && !nk_onnx_dtype_from(et, &dt))
        return nk_fail(ctx, NK_UNSUPPORTED, "%s: element type %s (%d) is not "
                       "supported by nnkit (f32 f16 bf16 i8 u8 i32 i64 bool)",
                       what, nk_onnx_dtype_name(et), (int)et);
    if (tp->n_dims > NK_MAX_RANK)
        return nk_fail(ctx, NK_UNSUPPORTED, "%s: rank %zu, nnkit supports at "
                       "most %d", what, tp->n_dims, NK_MAX_RANK);
    nk_shape s;
    memset(&s, 0, sizeof s);
    s.rank = (int)tp->n_dims;
    size_t numel = 1;
    for (size_t i = 0; i < tp->n_dims; i++) {
        if (tp->dims[i] < 0)
            return nk_fail(ctx, NK_FORMAT, "%s: dims[%zu] = %lld, expected "
                           ">= 0", what, i, (long long)tp->dims[i]);
        s.d[i] = tp->dims[i];
        if ((uint64_t)tp->dims[i] > SIZE_MAX ||
            !nk_mul_size(numel, (size_t)tp->dims[i], &numel))
            return nk_fail(ctx, NK_FORMAT, "%s: too many elements", what);
    }
    size_t es = nk_onnx_elem_size(et), src_bytes, nbytes;
    if (!nk_mul_size(numel, es, &src_bytes) ||
        !nk_mul_size(numel, nk_dtype_size(dt), &nbytes) ||
        numel > (size_t)INT64_MAX / 16)
        return nk_fail(ctx, NK_FORMAT, "%s: too many elements", what);

    bool external = tp->has_data_location &&
                    tp->data_location ==
                        ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    if (storage_forms(tp, external) > 1)
        return nk_fail(ctx, NK_FORMAT, "%s: data is stored in more than one "
                       "field (raw_data, typed fields, external data)",
                       what);
    void *buf = nk_malloc_aligned(nbytes ? nbytes : 1, 64);
    void *tmp = NULL;
    if (!buf)
        return nk_fail(ctx, NK_NOMEM, "%s: out of memory for %zu bytes",
                       what, nbytes);
    nk_status st = NK_OK;
    /* raw / external bytes land in `raw` (converted afterwards for f64) */
    void *raw = buf;
    if (f64 && (external || tp->has_raw_data)) {
        tmp = nk_malloc(src_bytes ? src_bytes : 1);
        if (!tmp) {
            st = nk_fail(ctx, NK_NOMEM, "%s: out of memory", what);
            goto fail;
        }
        raw = tmp;
    }
    if (external) {
        if ((st = read_external(ctx, tp, dir, what, raw, src_bytes)))
            goto fail;
    } else if (tp->has_raw_data && (tp->raw_data.len > 0 || numel == 0)) {
        if (tp->raw_data.len != src_bytes) {
            st = nk_fail(ctx, NK_FORMAT, "%s: raw_data has %zu bytes, "
                         "expected %zu (%zu elements of %s)", what,
                         tp->raw_data.len, src_bytes, numel,
                         nk_onnx_dtype_name(et));
            goto fail;
        }
        if (src_bytes)
            memcpy(raw, tp->raw_data.data, src_bytes);
    } else {
        /* Typed fields: the field must match the element type. */
        size_t have = 0;
        const char *field = "float_data";
        switch (et) {
        case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
            have = tp->n_float_data;
            if (have == numel && numel)
                memcpy(buf, tp->float_data, nbytes);
            break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
            field = "int64_data";
            have = tp->n_int64_data;
            if (have == numel && numel)
                memcpy(buf, tp->int64_data, nbytes);
            break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
            field = "int32_data";
            have = tp->n_int32_data;
            if (have == numel && numel)
                memcpy(buf, tp->int32_data, nbytes);
            break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
            field = "double_data";
            have = tp->n_double_data;
            break;
        default: /* int8, uint8, bool, float16, bfloat16 */
            field = "int32_data";
            have = tp->n_int32_data;
            if (have == numel &&
                (st = narrow_i32(ctx, what, et, tp->int32_data, numel, buf)))
                goto fail;
            break;
        }
        if (have != numel) {
            if (have == 0 && storage_forms(tp, false) == 0)
                st = nk_fail(ctx, NK_FORMAT, "%s: has no data (%zu elements "
                             "of %s expected)", what, numel,
                             nk_onnx_dtype_name(et));
            else if (have == 0)
                st = nk_fail(ctx, NK_FORMAT, "%s: element type %s is stored "
                             "in the wrong field (expected %s or raw_data)",
                             what, nk_onnx_dtype_name(et), field);
            else
                st = nk_fail(ctx, NK_FORMAT, "%s: %s has %zu values, "
                             "expected %zu", what, field, have, numel);
            goto fail;
        }
        if (f64) {
            /* documented: double constants become f32 */
            float *d = buf;
            for (size_t i = 0; i < numel; i++)
                d[i] = (float)tp->double_data[i];
        }
    }
    if (f64 && raw != buf) {
        float *d = buf;
        for (size_t i = 0; i < numel; i++) {
            double v;
            memcpy(&v, (const char *)raw + i * 8, 8);
            d[i] = (float)v;
        }
    }
    nk_free(tmp);
    *dt_out = dt;
    *shape = s;
    *data_out = buf;
    *nbytes_out = nbytes;
    return NK_OK;
fail:
    nk_free(tmp);
    nk_free_aligned(buf);
    return st;
}

/* ---- TensorProto files ------------------------------------------------------ */

/* The folder of path ("." when it has none), in a new string. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return nk_strdup(".");
    if (slash == path)
        return nk_strdup("/");
    size_t n = (size_t)(slash - path);
    char *d = nk_malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = 0;
    }
    return d;
}

nk_status nk_onnx_read_tensor_file(nk_ctx *ctx, const char *path,
                                   nk_tensor **out)
{
    if (!path || !out)
        return nk_fail(ctx, NK_INVALID_ARG, "nk_onnx_read_tensor_file: NULL "
                       "argument");
    *out = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    nk_status st = nk_file_read(ctx, path, &buf, &len);
    if (st)
        return st;
    nk_onnx_alloc a;
    nk_onnx_alloc_init(&a);
    Onnx__TensorProto *tp = NULL;
    char *dir = NULL, *what = NULL;
    void *data = NULL;
    size_t nbytes = 0;
    nk_dtype dt;
    nk_shape s;
    nk_tensor *t = NULL;
    if ((st = nk_onnx_unpack_tensor(ctx, &a, path, buf, len, &tp)))
        goto done;
    dir = dir_of(path);
    size_t wn = strlen(path) + (tp->name ? strlen(tp->name) : 0) + 16;
    what = nk_malloc(wn);
    if (!dir || !what) {
        st = nk_fail(ctx, NK_NOMEM, "%s: out of memory", path);
        goto done;
    }
    snprintf(what, wn, "%s: tensor '%s'", path, tp->name ? tp->name : "");
    st = nk_onnx_tensor_decode(ctx, tp, dir, what, false, &dt, &s, &data,
                               &nbytes);
    if (st)
        goto done;
    if ((st = nk_tensor_new(ctx, dt, s.rank, s.d, &t)))
        goto done;
    if (nbytes)
        memcpy(t->data, data, nbytes);
    *out = t;
done:
    nk_free_aligned(data);
    nk_free(dir);
    nk_free(what);
    if (tp)
        onnx__tensor_proto__free_unpacked(tp, &a.pb);
    nk_free(buf);
    return st;
}
