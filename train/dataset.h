/*
 * dataset.h — image-folder datasets (ROOT/CLASS/IMAGE.jpg, .jpeg or .png;
 * classes sorted by name, label = parent folder, as torchvision's
 * ImageFolder) and the seeded, stratified train/validation split.
 */
#ifndef NK_TRAIN_DATASET_H
#define NK_TRAIN_DATASET_H

#include "nnkit.h"

#include <stdatomic.h>
#include <stdint.h>

typedef struct nk_dataset {
    char *root;
    int n_classes;
    char **classes;     /* sorted by name (strcmp), owned */
    int *class_count;   /* images per class */
    int n;              /* images */
    char **paths;       /* owned, sorted by class then file name */
    int *labels;        /* class index of each image */
    /* Images found unreadable (set by the loader's workers, 1 = bad). */
    atomic_uchar *bad;
} nk_dataset;

/*
 * nk_dataset_open — scan root's class folders. With classes == NULL the
 * folders define the classes (at least min_classes of them, each with at
 * least one image: an empty class folder is an error naming it). With
 * classes given (the training set's, or a model's labels), every folder
 * must be one of them (NK_NOT_FOUND naming it otherwise) and the labels
 * index that list; empty folders are allowed. Files with other extensions
 * and hidden files are ignored. The caller owns *out.
 */
nk_status nk_dataset_open(nk_ctx *ctx, const char *root, int min_classes,
                          int n_classes, const char *const *classes,
                          nk_dataset **out);

/*
 * nk_dataset_split — split ds into train and val, stratified by class:
 * round(count * fraction) images of each class (at least one when the
 * class has two or more) go to val, chosen by a shuffle seeded by seed.
 * fraction must be in (0, 1). Both results are new datasets (owned by the
 * caller) sharing nothing with ds.
 */
nk_status nk_dataset_split(nk_ctx *ctx, const nk_dataset *ds, double fraction,
                           uint64_t seed, nk_dataset **train,
                           nk_dataset **val);

void nk_dataset_free(nk_dataset *ds);

/* Number of images marked bad so far. */
int nk_dataset_bad_count(const nk_dataset *ds);

#endif /* NK_TRAIN_DATASET_H */
