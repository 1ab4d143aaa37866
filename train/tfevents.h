/*
 * tfevents.h — a TensorBoard event-file writer for scalars. A record is
 * uint64 length, masked CRC-32C of the length, the serialized Event,
 * masked CRC-32C of the data (all little-endian); Events are encoded with
 * protobuf-c from train/tfevents.proto.
 */
#ifndef NK_TRAIN_TFEVENTS_H
#define NK_TRAIN_TFEVENTS_H

#include "nnkit.h"

#include <stddef.h>
#include <stdint.h>

typedef struct nk_tfevents nk_tfevents;

/* Create DIR/events.out.tfevents.<seconds>.<host>.<pid> and write the
 * file_version event ("brain.Event:2"). The caller owns *out. */
nk_status nk_tfevents_open(nk_ctx *ctx, const char *dir, nk_tfevents **out);

/* Append one scalar (tag, value) at step; flushed to disk right away so
 * TensorBoard sees it during training. */
nk_status nk_tfevents_scalar(nk_ctx *ctx, nk_tfevents *w, const char *tag,
                             int64_t step, double value);

/* Path of the file (owned by w). */
const char *nk_tfevents_path(const nk_tfevents *w);
void nk_tfevents_close(nk_tfevents *w);

/* CRC-32C (Castagnoli) of data, and TensorFlow's masking of it. */
uint32_t nk_crc32c(const void *data, size_t n);
uint32_t nk_crc32c_masked(const void *data, size_t n);

#endif /* NK_TRAIN_TFEVENTS_H */
