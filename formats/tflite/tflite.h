/*
 * tflite.h — TensorFlow Lite models (schema version 3, identifier "TFL3"):
 * the schema's field ids and enum values nnkit uses (from the public
 * tflite schema.fbs), the reader (tflite-read.c), the writer
 * (tflite-write.c) and nnkit's own metadata payload (tflite-meta.c).
 */
#ifndef NK_FORMATS_TFLITE_H
#define NK_FORMATS_TFLITE_H

#include "engine/ir.h"
#include "formats/tflite/flatbuf.h"

#define TFL_IDENT "TFL3"
#define TFL_SCHEMA_VERSION 3u

/* Metadata names: nnkit's payload and the converter's runtime version. */
#define TFL_META_NNKIT "nnkit_metadata"
#define TFL_META_RUNTIME "min_runtime_version"

/* ---- table field ids (the order of fields in schema.fbs; a union takes
 * two ids: its type, then its value) ------------------------------------ */
enum { TFL_MODEL_VERSION = 0, TFL_MODEL_OPCODES = 1, TFL_MODEL_SUBGRAPHS = 2,
       TFL_MODEL_DESCRIPTION = 3, TFL_MODEL_BUFFERS = 4,
       TFL_MODEL_METADATA_BUFFER = 5, TFL_MODEL_METADATA = 6,
       TFL_MODEL_SIGNATURES = 7 };
enum { TFL_SG_TENSORS = 0, TFL_SG_INPUTS = 1, TFL_SG_OUTPUTS = 2,
       TFL_SG_OPERATORS = 3, TFL_SG_NAME = 4 };
enum { TFL_T_SHAPE = 0, TFL_T_TYPE = 1, TFL_T_BUFFER = 2, TFL_T_NAME = 3,
       TFL_T_QUANT = 4, TFL_T_IS_VARIABLE = 5, TFL_T_SPARSITY = 6,
       TFL_T_SHAPE_SIGNATURE = 7, TFL_T_HAS_RANK = 8 };
enum { TFL_Q_MIN = 0, TFL_Q_MAX = 1, TFL_Q_SCALE = 2, TFL_Q_ZERO_POINT = 3,
       TFL_Q_DETAILS_TYPE = 4, TFL_Q_DETAILS = 5, TFL_Q_QDIM = 6 };
enum { TFL_OC_DEPRECATED_CODE = 0, TFL_OC_CUSTOM = 1, TFL_OC_VERSION = 2,
       TFL_OC_CODE = 3 };
enum { TFL_OP_OPCODE = 0, TFL_OP_INPUTS = 1, TFL_OP_OUTPUTS = 2,
       TFL_OP_OPTIONS_TYPE = 3, TFL_OP_OPTIONS = 4, TFL_OP_CUSTOM = 5,
       TFL_OP_INTERMEDIATES = 8, TFL_OP_OPTIONS2_TYPE = 11 };
enum { TFL_BUF_DATA = 0, TFL_BUF_OFFSET = 1, TFL_BUF_SIZE = 2 };
enum { TFL_META_NAME = 0, TFL_META_BUFFER = 1 };
enum { TFL_TMAP_NAME = 0, TFL_TMAP_INDEX = 1 };
enum { TFL_SIG_INPUTS = 0, TFL_SIG_OUTPUTS = 1, TFL_SIG_KEY = 2,
       TFL_SIG_SUBGRAPH = 4 };

/* Option tables' fields. */
enum { TFL_CONV_PADDING = 0, TFL_CONV_STRIDE_W = 1, TFL_CONV_STRIDE_H = 2,
       TFL_CONV_ACT = 3, TFL_CONV_DIL_W = 4, TFL_CONV_DIL_H = 5 };
enum { TFL_DW_PADDING = 0, TFL_DW_STRIDE_W = 1, TFL_DW_STRIDE_H = 2,
       TFL_DW_MULT = 3, TFL_DW_ACT = 4, TFL_DW_DIL_W = 5, TFL_DW_DIL_H = 6 };
enum { TFL_POOL_PADDING = 0, TFL_POOL_STRIDE_W = 1, TFL_POOL_STRIDE_H = 2,
       TFL_POOL_FILTER_W = 3, TFL_POOL_FILTER_H = 4, TFL_POOL_ACT = 5 };
enum { TFL_FC_ACT = 0, TFL_FC_WEIGHTS_FORMAT = 1, TFL_FC_KEEP_DIMS = 2 };
enum { TFL_SOFTMAX_BETA = 0 };
enum { TFL_CONCAT_AXIS = 0, TFL_CONCAT_ACT = 1 };
enum { TFL_BIN_ACT = 0 }; /* Add, Sub, Mul, Div options */
enum { TFL_RESHAPE_NEW_SHAPE = 0 };
enum { TFL_REDUCER_KEEP_DIMS = 0 };
enum { TFL_LEAKY_ALPHA = 0 };

/* TensorType */
enum { TFL_FLOAT32 = 0, TFL_FLOAT16 = 1, TFL_INT32 = 2, TFL_UINT8 = 3,
       TFL_INT64 = 4, TFL_STRING = 5, TFL_BOOL = 6, TFL_INT16 = 7,
       TFL_COMPLEX64 = 8, TFL_INT8 = 9 };

/* BuiltinOperator (the ones nnkit reads or writes) */
enum {
    TFL_ADD = 0, TFL_AVERAGE_POOL_2D = 1, TFL_CONCATENATION = 2,
    TFL_CONV_2D = 3, TFL_DEPTHWISE_CONV_2D = 4, TFL_DEQUANTIZE = 6,
    TFL_FULLY_CONNECTED = 9, TFL_LOGISTIC = 14, TFL_MAX_POOL_2D = 17,
    TFL_MUL = 18, TFL_RELU = 19, TFL_RELU_N1_TO_1 = 20, TFL_RELU6 = 21,
    TFL_RESHAPE = 22, TFL_SOFTMAX = 25, TFL_TANH = 28, TFL_CUSTOM = 32,
    TFL_PAD = 34, TFL_TRANSPOSE = 39, TFL_MEAN = 40, TFL_SUB = 41,
    TFL_DIV = 42, TFL_MAXIMUM = 55, TFL_MINIMUM = 57, TFL_PADV2 = 60,
    TFL_LEAKY_RELU = 98, TFL_QUANTIZE = 114, TFL_HARD_SWISH = 117,
    TFL_PLACEHOLDER_FOR_GREATER_OP_CODES = 127,
};

/* BuiltinOptions union types */
enum {
    TFL_OPT_NONE = 0, TFL_OPT_CONV2D = 1, TFL_OPT_DEPTHWISE = 2,
    TFL_OPT_POOL2D = 5, TFL_OPT_FULLY_CONNECTED = 8, TFL_OPT_SOFTMAX = 9,
    TFL_OPT_CONCATENATION = 10, TFL_OPT_ADD = 11, TFL_OPT_RESHAPE = 17,
    TFL_OPT_MUL = 21, TFL_OPT_PAD = 22, TFL_OPT_TRANSPOSE = 26,
    TFL_OPT_REDUCER = 27, TFL_OPT_SUB = 28, TFL_OPT_DIV = 29,
    TFL_OPT_DEQUANTIZE = 38, TFL_OPT_MAXMIN = 39, TFL_OPT_PADV2 = 43,
    TFL_OPT_LEAKY_RELU = 75, TFL_OPT_QUANTIZE = 89, TFL_OPT_HARD_SWISH = 91,
    TFL_OPT_LAST = 126, /* RightShiftOptions, the last member of the union */
};

enum { TFL_PAD_SAME = 0, TFL_PAD_VALID = 1 };
enum { TFL_ACT_NONE = 0, TFL_ACT_RELU = 1, TFL_ACT_RELU_N1_TO_1 = 2,
       TFL_ACT_RELU6 = 3, TFL_ACT_TANH = 4, TFL_ACT_SIGN_BIT = 5 };

/* The name of a builtin operator ("CONV_2D"), or NULL if nnkit does not
 * know the code. */
const char *nk_tflite_op_name(int32_t code);

/* ---- nnkit's metadata payload ------------------------------------------ */

/* Encode g's labels, preprocessing and string metadata as the
 * "nnkit_metadata" payload (a FlatBuffer with identifier "NNKM"; schema in
 * tflite-meta.c and docs/tflite.md). `nhwc` overrides the preprocessing
 * layout. The caller frees *out with nk_free. */
nk_status nk_tflite_meta_encode(nk_ctx *ctx, const nk_graph *g, int nhwc,
                                uint8_t **out, size_t *len);
/* Decode a payload into g (labels, preprocessing, metadata). Errors name
 * path. */
nk_status nk_tflite_meta_decode(nk_ctx *ctx, const char *path,
                                const uint8_t *p, size_t n, nk_graph *g);

/* Writer with options (nk_tflite_save is this with defaults). */
nk_status nk_tflite_save_opts(nk_ctx *ctx, const nk_graph *g,
                              const char *path, const nk_save_opts *opts);
/* Write to memory instead of a file (for tests): *out is freed with
 * nk_free. Nothing is written to disk. */
nk_status nk_tflite_write_mem(nk_ctx *ctx, const nk_graph *g,
                              const nk_save_opts *opts, const char *name,
                              uint8_t **out, size_t *len);
/* Read from memory (for tests); name is used in messages. */
nk_status nk_tflite_read_mem(nk_ctx *ctx, const char *name,
                             const uint8_t *p, size_t n, nk_graph **out);

#endif /* NK_FORMATS_TFLITE_H */
