/*
 * nnk.h — the native .nnk model format: this comment is its specification
 * (docs/nnk-format.md says the same for users). Reader: nnk-read.c
 * (mmap, weights borrowed), writer: nnk-write.c (atomic).
 *
 * FILE LAYOUT (version 1). All integers and floats are little-endian;
 * floats are IEEE-754 binary32 stored bit-exactly. Offsets are absolute
 * byte offsets from the start of the file unless said otherwise.
 *
 *   offset  size  field
 *   ------  ----  -----------------------------------------------------
 *        0     4  magic: the bytes 'N' 'N' 'K' 0x00
 *        4     4  u32 version = 1 (readers reject larger versions)
 *        8     4  u32 byte-order mark 0x01020304 (bytes 04 03 02 01)
 *       12     4  u32 alignment of tensor data = 64
 *       16     8  u64 file_size: total bytes in the file
 *       24     8  u64 strings_offset  \  the string table
 *       32     8  u64 strings_size    /
 *       40     8  u64 tables_offset   \  tensors, nodes, graph I/O,
 *       48     8  u64 tables_size     /  metadata (see TABLES)
 *       56     8  u64 data_offset     \  tensor data; data_offset is a
 *       64     8  u64 data_size       /  multiple of the alignment
 *       72    24  reserved, zero
 *   (header = 96 bytes; then strings, tables, zero padding, data)
 *
 * STRING TABLE: u32 count, then count entries of: u32 length, length bytes
 * of UTF-8 without NUL, one 0x00 byte. Strings are referred to by their
 * index (u32 "str"); 0xFFFFFFFF (NNK_NOSTR) means "no string" (NULL).
 * The section must end exactly after the last entry.
 *
 * TABLES, read in this order, ending exactly at tables_offset+tables_size:
 *   u32 n_tensors, then n_tensors TENSOR records (the graph's values:
 *       inputs, initializers and activations, in the graph's order)
 *   u32 n_nodes, then n_nodes NODE records (topological order)
 *   u32 n_inputs,  then n_inputs  i32 tensor indices (graph inputs)
 *   u32 n_outputs, then n_outputs i32 tensor indices (graph outputs)
 *   METADATA
 *
 * TENSOR record:
 *   str  name
 *   u8   dtype: 0 f32, 1 f16, 2 bf16, 3 i8, 4 u8, 5 i32, 6 i64, 7 bool
 *   u8   rank (0..8)
 *   u8   flags: bit0 initializer, bit1 trainable, bit2 has data,
 *              bit3 quantized; other bits zero
 *   u8   layout: 0 default (ONNX, NCHW), 1 NHWC, 2 NCHW8c
 *   rank x { i64 dim (>= 0, or -1 = symbolic); str symbol name (NOSTR for
 *            static dims and unnamed symbolic dims) }
 *   if quantized: i32 axis (-1 = per tensor); u32 n (>= 1);
 *                 n x f32 scale; n x i32 zero_point
 *   if has data:  u64 offset (relative to data_offset, a multiple of the
 *                 alignment); u64 nbytes (= numel x element size; all
 *                 dims static)
 *
 * NODE record:
 *   str  op type, by ONNX name ("Conv"), so files survive op reordering
 *   str  name
 *   u8   fused activation: 0 none, 1 Relu, 2 Clip, 3 LeakyRelu, 4 Sigmoid,
 *        5 HardSigmoid, 6 HardSwish, 7 Tanh; then 3 zero bytes
 *   f32  activation parameter a0; f32 a1
 *   u32  n_in,  n_in  x i32 tensor index (-1 = omitted optional input)
 *   u32  n_out, n_out x i32 tensor index
 *   u32  n_attr, n_attr x ATTRIBUTE
 *
 * ATTRIBUTE: str name; u8 type; 3 zero bytes; then by type:
 *   0 INT: i64            1 FLOAT: f32          2 STRING: str
 *   3 INTS: u32 n, n x i64                      4 FLOATS: u32 n, n x f32
 *   5 TENSOR: a TENSOR record (its data lives in the data section too)
 *
 * METADATA:
 *   u32 n_labels, n_labels x str           (class names)
 *   preprocessing, 17 x 4 bytes: i32 valid, i32 resize, i32 crop_h,
 *     i32 crop_w, i32 resize_mode (0 bilinear, 1 nearest), f32 scale,
 *     f32 mean[4], f32 std[4], i32 channels, i32 bgr, i32 nhwc
 *   u32 n_meta, n_meta x { str key; str value }   (provenance etc.)
 *
 * DATA: each tensor's bytes, row-major, little-endian elements, starting
 * at data_offset + offset (64-byte aligned); the gaps are zero bytes.
 * Readers map the file and point initializers into the mapping, so load
 * time does not depend on the size of the weights.
 */
#ifndef NK_FORMATS_NNK_H
#define NK_FORMATS_NNK_H

#include "engine/ir.h"

#define NNK_MAGIC "NNK\0"
#define NNK_VERSION 1u
#define NNK_BYTE_ORDER 0x01020304u
#define NNK_ALIGN 64u
#define NNK_HEADER_SIZE 96u
#define NNK_NOSTR 0xFFFFFFFFu

#define NNK_FLAG_INIT 0x1u
#define NNK_FLAG_TRAINABLE 0x2u
#define NNK_FLAG_DATA 0x4u
#define NNK_FLAG_QUANT 0x8u
#define NNK_FLAG_ALL 0xFu

/* Confidence (0..100) that head[0..n) starts a .nnk file. */
int nk_nnk_bid(const uint8_t *head, size_t n, const char *path);
/* Load path (mmap; initializer data borrowed). Errors name the file. */
nk_status nk_nnk_load(nk_ctx *ctx, const char *path, nk_graph **out);
/* Write g to path atomically. */
nk_status nk_nnk_save(nk_ctx *ctx, const nk_graph *g, const char *path);

#endif /* NK_FORMATS_NNK_H */
