/*
 * onnx-pb.h — glue between the reader/writer and the protobuf-c code
 * generated at build time from onnx.proto (onnx.pb-c.h in the build tree):
 * an allocator that goes through nk_malloc (so out-of-memory tests reach
 * it) and remembers whether an allocation failed.
 */
#ifndef NK_FORMATS_ONNX_PB_H
#define NK_FORMATS_ONNX_PB_H

#include "formats/onnx/onnx.h"
#include "onnx.pb-c.h"

typedef struct nk_onnx_alloc {
    ProtobufCAllocator pb; /* pass &a.pb to protobuf-c */
    bool failed;           /* an allocation failed: out of memory */
} nk_onnx_alloc;

void nk_onnx_alloc_init(nk_onnx_alloc *a);

/* Unpack a ModelProto / TensorProto from buf[0..len); NULL on failure with
 * the message set ("PATH: not a valid ONNX model: truncated or corrupt
 * protobuf", or NK_NOMEM). Free with the matching __free_unpacked(x, &a.pb). */
nk_status nk_onnx_unpack_model(nk_ctx *ctx, nk_onnx_alloc *a,
                               const char *path, const uint8_t *buf,
                               size_t len, Onnx__ModelProto **out);
nk_status nk_onnx_unpack_tensor(nk_ctx *ctx, nk_onnx_alloc *a,
                                const char *path, const uint8_t *buf,
                                size_t len, Onnx__TensorProto **out);

/* Element size in bytes of an ONNX element type (0: none / variable). */
size_t nk_onnx_elem_size(int32_t et);

#endif /* NK_FORMATS_ONNX_PB_H */
