/*
 * onnx.h — the ONNX format (internal): reader (onnx-read.c), writer
 * (onnx-write.c), TensorProto decoding (onnx-tensor.c) over C code that
 * protoc-c generates at build time from libonnx-dev's onnx.proto.
 *
 * The IR's one form of the ops whose ONNX form changed across opsets (the
 * reader converts every opset's form to this, the writer converts it back
 * to the target opset's form; docs/onnx.md has the table):
 *   Clip           bounds as inputs 1 and 2 (opset >= 11 form)
 *   Pad            pads as input 1 (i64), constant_value as input 2
 *   Squeeze,
 *   Unsqueeze      axes as input 1 (i64) (opset >= 13 form)
 *   ReduceMean,
 *   ReduceSum ...  axes as attribute 'axes' (opset < 18 form; ReduceSum
 *                  keeps its opset-13 input form)
 *   Split          sizes as input 1 (opset >= 13 form)
 *   Dropout        ratio as input 1 (opset >= 12 form), no is_test
 *   Softmax,
 *   LogSoftmax     opset-13 semantics (one axis, default -1)
 *   BatchNorm      no 'spatial' / 'is_test' / 'consumed_inputs'
 *   Reshape        'allowzero' attribute (0 when absent)
 */
#ifndef NK_FORMATS_ONNX_H
#define NK_FORMATS_ONNX_H

#include "engine/ir.h"

/* Default and accepted opsets of the default ("" / "ai.onnx") domain. */
#define NK_ONNX_OPSET_DEFAULT 13
#define NK_ONNX_READ_OPSET_MIN 7
#define NK_ONNX_READ_OPSET_MAX 18
#define NK_ONNX_WRITE_OPSET_MIN 11
#define NK_ONNX_WRITE_OPSET_MAX 17

/* Metadata keys the writer uses in ModelProto.metadata_props (docs/onnx.md). */
#define NK_ONNX_META_LABELS "nnkit.labels"         /* one label per line */
#define NK_ONNX_META_PREPROC "nnkit.preprocessing" /* "key=value;..." */
/* Every other metadata key (provenance: "source", "sha256", ...) is a
 * metadata_props entry of the same key. */

/*
 * nk_onnx_read_tensor_file — read a file holding one serialized
 * TensorProto (the ONNX backend tests' input_N.pb / output_N.pb) into a
 * standalone tensor (nk_tensor_free). Every storage form is accepted
 * (typed fields, raw_data; external data relative to the file's folder).
 * Element types nnkit has no dtype for (double, int16, string, ...) are
 * NK_UNSUPPORTED with a message naming the type; malformed files are
 * NK_FORMAT. The tensor's name is "" (the TensorProto name is dropped).
 */
nk_status nk_onnx_read_tensor_file(nk_ctx *ctx, const char *path,
                                   nk_tensor **out);

/* Entry points of the format table (declared in formats/format.h too). */
int nk_onnx_bid(const uint8_t *head, size_t n, const char *path);
nk_status nk_onnx_load(nk_ctx *ctx, const char *path, nk_graph **out);
nk_status nk_onnx_save(nk_ctx *ctx, const nk_graph *g, const char *path);
/* Save at opset (NK_ONNX_WRITE_OPSET_MIN..MAX; 0 = default 13), with
 * weights in external data PATH.data when the used initializers total more
 * than external_threshold bytes (0 = the default, 2,000,000,000). */
nk_status nk_onnx_save_ex(nk_ctx *ctx, const nk_graph *g, const char *path,
                          int opset, int64_t external_threshold);
nk_status nk_onnx_save_opts(nk_ctx *ctx, const nk_graph *g, const char *path,
                            const nk_save_opts *opts);

/* ---- shared between reader, writer and tensor files ------------------ */

struct Onnx__TensorProto;

/* The nnkit dtype of ONNX element type `et`; false when nnkit has none. */
bool nk_onnx_dtype_from(int32_t et, nk_dtype *dt);
/* ONNX element type of a nnkit dtype. */
int32_t nk_onnx_dtype_to(nk_dtype dt);
/* "FLOAT", "DOUBLE", ... for messages. */
const char *nk_onnx_dtype_name(int32_t et);

/*
 * Decode TensorProto tp into dtype, shape and a new 64-byte-aligned buffer
 * (*data, nk_free_aligned; *nbytes bytes). dir is the folder external data
 * paths are relative to (NULL: external data refused). what names the
 * tensor in messages ("PATH: initializer 'w'"). DOUBLE is converted to f32
 * only if allow_f64 (documented: initializers and Constant values).
 */
nk_status nk_onnx_tensor_decode(nk_ctx *ctx, const struct Onnx__TensorProto *tp,
                                const char *dir, const char *what,
                                bool allow_f64, nk_dtype *dt, nk_shape *shape,
                                void **data, size_t *nbytes);

#endif /* NK_FORMATS_ONNX_H */
