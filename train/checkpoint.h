/*
 * checkpoint.h — training checkpoints: a flat list of named byte blobs
 * (weights, optimiser state, counters, history) in one file written
 * atomically. File layout (integers little-endian):
 *   "NKCKPT01"  8-byte magic
 *   u32 count   number of entries (<= 1<<20)
 *   count x { u32 name_len (1..4096); name bytes; u64 len; len bytes }
 * and nothing after the last entry.
 */
#ifndef NK_TRAIN_CHECKPOINT_H
#define NK_TRAIN_CHECKPOINT_H

#include "nnkit.h"

#include <stddef.h>
#include <stdint.h>

typedef struct nk_ckpt_entry {
    char *name;
    uint8_t *data;
    uint64_t len;
} nk_ckpt_entry;

typedef struct nk_ckpt {
    nk_ckpt_entry *e;
    int n, cap;
} nk_ckpt;

/* Add (or replace) entry name with a copy of data[0..len). */
nk_status nk_ckpt_put(nk_ctx *ctx, nk_ckpt *c, const char *name,
                      const void *data, uint64_t len);
/* The entry's bytes (owned by c) and length, or NULL when absent. */
const void *nk_ckpt_get(const nk_ckpt *c, const char *name, uint64_t *len);
/* Write c to path (PATH.tmp, fsync, rename). */
nk_status nk_ckpt_save(nk_ctx *ctx, const nk_ckpt *c, const char *path);
/* Read path into *c (empty on entry). NK_FORMAT names the field at fault. */
nk_status nk_ckpt_load(nk_ctx *ctx, const char *path, nk_ckpt *c);
void nk_ckpt_clear(nk_ckpt *c);

#endif /* NK_TRAIN_CHECKPOINT_H */
