/*
 * evaluate.h — counting a classifier's answers batch by batch (accuracy,
 * mean cross-entropy, confusion matrix) with an eval-mode plan; used for
 * validation during training and by nk_eval.
 */
#ifndef NK_TRAIN_EVALUATE_H
#define NK_TRAIN_EVALUATE_H

#include "engine/ir.h"
#include "train/loader.h"

typedef struct nk_evaluator {
    nk_plan *plan;        /* eval mode, batch B */
    int64_t batch;
    size_t sample;        /* floats per input row */
    int n_classes;        /* logits per row */
    int64_t n, correct;
    double loss_sum;
    int64_t *confusion;   /* [true * n_classes + pred] */
} nk_evaluator;

/* Plan g in eval mode for batches of `batch` rows; zero the counts. The
 * plan borrows g: create the evaluator after the last weight change that
 * it must see. */
nk_status nk_evaluator_init(nk_ctx *ctx, nk_evaluator *ev, nk_graph *g,
                            int64_t batch);
/* Run n (<= batch) rows of x with their labels and count. */
nk_status nk_evaluator_add(nk_ctx *ctx, nk_evaluator *ev, const float *x,
                           const int32_t *labels, int64_t n);
/* Reset the counts (keep the plan). */
void nk_evaluator_reset(nk_evaluator *ev);
void nk_evaluator_free(nk_evaluator *ev);

/* Warnings from the loader, one message per line. */
typedef void (*nk_warn_fn)(void *user, const char *msg);

/* Run a whole epoch of loader l (already started) through ev. New bad
 * images are reported through warn (may be NULL). */
nk_status nk_evaluator_run_loader(nk_ctx *ctx, nk_evaluator *ev,
                                  nk_loader *l, nk_warn_fn warn, void *user);

#endif /* NK_TRAIN_EVALUATE_H */
