/*
 * cast.c — Cast between f32, f16, bf16, i8, u8, i32, i64 and bool. The
 * attribute 'to' is the ONNX element type number. Float to integer
 * truncates toward zero and saturates (ONNX leaves overflow undefined);
 * to f16/bf16 rounds to nearest even; to bool is "!= 0".
 */
#include "engine/kernels/kernels-impl.h"
#include "engine/op.h"

#include <math.h>
#include <string.h>

/* ONNX TensorProto.DataType numbers for the dtypes nnkit has. */
static bool dtype_from_onnx(int64_t to, nk_dtype *dt)
{
    switch (to) {
    case 1: *dt = NK_F32; return true;
    case 2: *dt = NK_U8; return true;
    case 3: *dt = NK_I8; return true;
    case 6: *dt = NK_I32; return true;
    case 7: *dt = NK_I64; return true;
    case 9: *dt = NK_BOOL; return true;
    case 10: *dt = NK_F16; return true;
    case 16: *dt = NK_BF16; return true;
    default: return false;
    }
}

static const char *onnx_type_name(int64_t to)
{
    static const char *names[] = {
        "UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32",
        "INT64", "STRING", "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64",
        "COMPLEX64", "COMPLEX128", "BFLOAT16"};
    return to >= 0 && to <= 16 ? names[to] : "?";
}

nk_status nk_infer_cast(nk_ctx *ctx, const nk_node *n, nk_tensor *const *in,
                        int n_in, nk_tensor *const *out, int n_out)
{
    const nk_attr *a = nk_node_attr(n, "to");
    if (!a || a->type != NK_ATTR_INT)
        return nk_fail_node(ctx, NK_FORMAT, n,
                            "attribute 'to' (int) is missing");
    nk_dtype dt;
    if (!dtype_from_onnx(a->i, &dt))
        return nk_fail_node(ctx, NK_UNSUPPORTED, n,
                            "cast to ONNX type %lld (%s): nnkit has no such "
                            "dtype (f32 f16 bf16 i8 u8 i32 i64 bool)",
                            (long long)a->i, onnx_type_name(a->i));
    out[0]->dtype = dt;
    out[0]->shape = in[0]->shape;
    return NK_OK;
}

/* One element: integers travel as int64, floats as double, so i64 values
 * survive an i64 -> i64 or i32 -> i64 cast exactly. */
typedef struct scalar {
    bool is_int;
    int64_t i;
    double f;
} scalar;

static scalar load(nk_dtype dt, const void *p)
{
    scalar s = {false, 0, 0.0};
    switch (dt) {
    case NK_F32: { float v; memcpy(&v, p, 4); s.f = v; break; }
    case NK_F16: { uint16_t h; memcpy(&h, p, 2); s.f = nk_f16_to_f32(h); break; }
    case NK_BF16: { uint16_t h; memcpy(&h, p, 2); s.f = nk_bf16_to_f32(h); break; }
    case NK_I8: s.is_int = true; s.i = *(const int8_t *)p; break;
    case NK_U8: s.is_int = true; s.i = *(const uint8_t *)p; break;
    case NK_BOOL: s.is_int = true; s.i = *(const uint8_t *)p != 0; break;
    case NK_I32: { int32_t v; memcpy(&v, p, 4); s.is_int = true; s.i = v; break; }
    case NK_I64: memcpy(&s.i, p, 8); s.is_int = true; break;
    default: break;
    }
    return s;
}

/* Float to integer in [lo, hi]: truncate toward zero, saturate, NaN -> 0. */
static int64_t to_int(scalar s, int64_t lo, int64_t hi)
{
    if (s.is_int)
        return s.i < lo ? lo : (s.i > hi ? hi : s.i);
    if (isnan(s.f))
        return 0;
    double t = trunc(s.f);
    if (t <= (double)lo)
        return lo;
    if (t >= (double)hi)
        return hi;
    return (int64_t)t;
}

static void store(nk_dtype dt, void *p, scalar s)
{
    double f = s.is_int ? (double)s.i : s.f;
    switch (dt) {
    case NK_F32: { float v = (float)f; memcpy(p, &v, 4); break; }
    case NK_F16: { uint16_t h = nk_f32_to_f16((float)f); memcpy(p, &h, 2); break; }
    case NK_BF16: { uint16_t h = nk_f32_to_bf16((float)f); memcpy(p, &h, 2); break; }
    case NK_I8: *(int8_t *)p = (int8_t)to_int(s, INT8_MIN, INT8_MAX); break;
    case NK_U8: *(uint8_t *)p = (uint8_t)to_int(s, 0, UINT8_MAX); break;
    case NK_BOOL: *(uint8_t *)p = s.is_int ? s.i != 0 : f != 0.0; break;
    case NK_I32: { int32_t v = (int32_t)to_int(s, INT32_MIN, INT32_MAX); memcpy(p, &v, 4); break; }
    case NK_I64: { int64_t v = to_int(s, INT64_MIN, INT64_MAX); memcpy(p, &v, 8); break; }
    default: break;
    }
}

void nk_cast_ref(const nk_step *st, int ith, int nth)
{
    const nk_tensor *x = st->in[0];
    nk_tensor *y = st->out[0];
    const size_t xs = nk_dtype_size(x->dtype), ys = nk_dtype_size(y->dtype);
    const char *xp = x->data;
    char *yp = y->data;
    int64_t b, e;
    nk_split(nk_shape_numel(&y->shape), ith, nth, &b, &e);
    if (x->dtype == y->dtype) {
        if (b < e && xp != yp)
            memcpy(yp + (size_t)b * ys, xp + (size_t)b * xs,
                   (size_t)(e - b) * ys);
        return;
    }
    for (int64_t i = b; i < e; i++)
        store(y->dtype, yp + (size_t)i * ys,
              load(x->dtype, xp + (size_t)i * xs));
}
