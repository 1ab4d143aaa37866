/*
 * report.h — report.html: a self-contained page (inline SVG and CSS, no
 * external resources) with the loss and accuracy curves of a training run
 * and the validation confusion matrix.
 */
#ifndef NK_TRAIN_REPORT_H
#define NK_TRAIN_REPORT_H

#include "nnkit.h"

/* One epoch of history (also stored in checkpoints). */
typedef struct nk_epoch_stats {
    double train_loss, train_acc, lr;
    double val_loss, val_acc; /* when has_val */
    double images_per_sec;
    double has_val;           /* 0 or 1 (a double keeps the record flat) */
} nk_epoch_stats;

typedef struct nk_report {
    const char *title;        /* e.g. the output model's path */
    const char *subtitle;     /* settings, one line */
    const nk_epoch_stats *hist;
    int n_epochs;
    int best_epoch;           /* 1-based, 0 = none */
    int n_classes;
    char *const *classes;
    const int64_t *confusion; /* [true * n + pred] of the best epoch, or NULL */
} nk_report;

/* Write the page to path atomically. */
nk_status nk_report_write(nk_ctx *ctx, const char *path, const nk_report *r);

#endif /* NK_TRAIN_REPORT_H */
