/*
 * loader.h — the data loader: worker threads decode and transform images
 * into a ring of preallocated batch buffers while the engine computes.
 * Batch b of epoch e holds the images at positions [b*B, b*B+B) of the
 * epoch's permutation (seeded by seed and e); each sample's augmentation
 * draws from an RNG seeded by (seed, e, position). So the batches are the
 * same whatever the number of workers, and an epoch can be replayed.
 * Unreadable images are skipped: a batch packs the readable images of its
 * range (n may be < B, even 0) and reports each newly found bad image once.
 */
#ifndef NK_TRAIN_LOADER_H
#define NK_TRAIN_LOADER_H

#include "train/dataset.h"
#include "train/transform.h"

typedef struct nk_batch {
    float *x;         /* B samples (nk_transform_sample_size floats each) */
    int32_t *labels;  /* n labels */
    int *items;       /* dataset index of each sample */
    int n;            /* samples filled (<= B) */
    int64_t index;    /* batch number within the epoch */
    char *warnings;   /* newline-separated messages, "" if none */
    int n_new_bad;    /* images found unreadable while filling this batch */
} nk_batch;

typedef struct nk_loader_opts {
    int batch;        /* images per batch (>= 1) */
    int workers;      /* decoding threads (>= 1) */
    int ring;         /* batches in flight; 0 = 2 * workers + 1 */
    int shuffle;      /* permute the dataset every epoch */
    int augment;      /* apply the transform's random augmentation */
    uint64_t seed;
} nk_loader_opts;

typedef struct nk_loader nk_loader;

/* Create a loader over ds (borrowed: keep it alive) with transform t
 * (copied). Starts the worker threads; they idle until an epoch starts. */
nk_status nk_loader_create(nk_ctx *ctx, nk_dataset *ds, const nk_transform *t,
                           const nk_loader_opts *o, nk_loader **out);

/* Begin epoch `epoch` (any batches of a previous epoch are dropped). */
nk_status nk_loader_start_epoch(nk_ctx *ctx, nk_loader *l, int64_t epoch);

/* Batches per epoch: ceil(n / batch). */
int64_t nk_loader_num_batches(const nk_loader *l);

/* The next batch in order (waits for it); *out = NULL after the last.
 * The batch stays valid until nk_loader_release. NK_NOMEM if a worker ran
 * out of memory. */
nk_status nk_loader_next(nk_ctx *ctx, nk_loader *l, nk_batch **out);
void nk_loader_release(nk_loader *l, nk_batch *b);

/* Stop the workers and free everything. NULL is a no-op. */
void nk_loader_free(nk_loader *l);

/* The mixing of (seed, a, b) into one RNG seed used for shuffling and
 * per-sample augmentation. */
uint64_t nk_seed_mix(uint64_t seed, uint64_t a, uint64_t b);

#endif /* NK_TRAIN_LOADER_H */
