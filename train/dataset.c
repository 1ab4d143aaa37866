/*
 * dataset.c — scanning an image folder into (path, label) pairs, classes
 * sorted by name like torchvision's ImageFolder, and the seeded stratified
 * validation split.
 */
#include "train/dataset.h"
#include "engine/ctx.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* A growable array of owned strings. */
typedef struct strvec {
    char **v;
    int n, cap;
} strvec;

static int strvec_push(strvec *s, const char *str)
{
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 64;
        if (cap < s->cap)
            return -1;
        char **nv = nk_realloc(s->v, (size_t)cap * sizeof *nv);
        if (!nv)
            return -1;
        s->v = nv;
        s->cap = cap;
    }
    if (!(s->v[s->n] = nk_strdup(str)))
        return -1;
    s->n++;
    return 0;
}

static void strvec_free(strvec *s)
{
    for (int i = 0; i < s->n; i++)
        nk_free(s->v[i]);
    nk_free(s->v);
    memset(s, 0, sizeof *s);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (strcasecmp(dot, ".jpg") == 0 ||
                   strcasecmp(dot, ".jpeg") == 0 ||
                   strcasecmp(dot, ".png") == 0);
}

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    while (la > 1 && a[la - 1] == '/')
        la--;
    char *s = nk_malloc(la + lb + 2);
    if (!s)
        return NULL;
    memcpy(s, a, la);
    s[la] = '/';
    memcpy(s + la + 1, b, lb + 1);
    return s;
}

/* Names of the entries of dir that are directories (want_dirs) or image
 * files, sorted; hidden entries skipped. */
static nk_status list_dir(nk_ctx *ctx, const char *dir, int want_dirs,
                          strvec *out)
{
    DIR *d = opendir(dir);
    if (!d)
        return nk_fail(ctx, errno == ENOENT ? NK_NOT_FOUND : NK_IO,
                       "%s: cannot open directory: %s", dir, strerror(errno));
    struct dirent *e;
    nk_status st = NK_OK;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (!want_dirs && !is_image_name(e->d_name))
            continue;
        char *p = join(dir, e->d_name);
        if (!p) {
            st = nk_fail(ctx, NK_NOMEM, "%s: out of memory", dir);
            break;
        }
        struct stat sb;
        int ok = stat(p, &sb) == 0 &&
                 (want_dirs ? S_ISDIR(sb.st_mode) : S_ISREG(sb.st_mode));
        nk_free(p);
        if (ok && strvec_push(out, e->d_name) != 0) {
            st = nk_fail(ctx, NK_NOMEM, "%s: out of memory", dir);
            break;
        }
    }
    closedir(d);
    if (st == NK_OK && out->n > 1)
        qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_str);
    return st;
}

/* An empty dataset with n_classes class names copied. */
static nk_status dataset_new(nk_ctx *ctx, const char *root, int n_classes,
                             const char *const *classes, nk_dataset **out)
{
    nk_dataset *ds = nk_calloc(1, sizeof *ds);
    if (!ds)
        return nk_fail(ctx, NK_NOMEM, "%s: out of memory", root);
    ds->root = nk_strdup(root);
    ds->classes = nk_calloc((size_t)(n_classes ? n_classes : 1),
                            sizeof *ds->classes);
    ds->class_count = nk_calloc((size_t)(n_classes ? n_classes : 1),
                                sizeof *ds->class_count);
    if (!ds->root || !ds->classes || !ds->class_count) {
        nk_dataset_free(ds);
        return nk_fail(ctx, NK_NOMEM, "%s: out of memory", root);
    }
    ds->n_classes = n_classes;
    for (int i = 0; i < n_classes; i++)
        if (!(ds->classes[i] = nk_strdup(classes[i]))) {
            nk_dataset_free(ds);
            return nk_fail(ctx, NK_NOMEM, "%s: out of memory", root);
        }
    *out = ds;
    return NK_OK;
}

static nk_status dataset_alloc_items(nk_ctx *ctx, nk_dataset *ds, int n)
{
    size_t m = n ? (size_t)n : 1;
    ds->paths = nk_calloc(m, sizeof *ds->paths);
    ds->labels = nk_calloc(m, sizeof *ds->labels);
    ds->bad = nk_calloc(m, sizeof *ds->bad);
    if (!ds->paths || !ds->labels || !ds->bad)
        return nk_fail(ctx, NK_NOMEM, "%s: out of memory for %d images",
                       ds->root, n);
    return NK_OK;
}

nk_status nk_dataset_open(nk_ctx *ctx, const char *root, int min_classes,
                          int n_classes, const char *const *classes,
                          nk_dataset **out)
{
    if (!out || !root)
        return nk_fail(ctx, NK_INVALID_ARG, "dataset: NULL argument");
    *out = NULL;
    strvec dirs = {0}, files = {0}, all = {0};
    int *labels = NULL, n_lab = 0;
    nk_dataset *ds = NULL;
    nk_status st = list_dir(ctx, root, 1, &dirs);
    if (st != NK_OK)
        goto done;
    if (!classes) {
        if (dirs.n == 0) {
            st = nk_fail(ctx, NK_FORMAT,
                         "%s: no class folders found (expected "
                         "%s/CLASS/*.jpg|jpeg|png)", root, root);
            goto done;
        }
        if (dirs.n < min_classes) {
            st = nk_fail(ctx, NK_FORMAT,
                         "%s: found %d class folder%s ('%s'), expected at "
                         "least %d: a classifier needs two or more classes",
                         root, dirs.n, dirs.n == 1 ? "" : "s", dirs.v[0],
                         min_classes);
            goto done;
        }
        st = dataset_new(ctx, root, dirs.n, (const char *const *)dirs.v, &ds);
    } else {
        st = dataset_new(ctx, root, n_classes, classes, &ds);
    }
    if (st != NK_OK)
        goto done;

    for (int d = 0; d < dirs.n; d++) {
        int label = d;
        if (classes) {
            label = -1;
            for (int c = 0; c < n_classes; c++)
                if (strcmp(classes[c], dirs.v[d]) == 0)
                    label = c;
            if (label < 0) {
                st = nk_fail(ctx, NK_NOT_FOUND,
                             "%s/%s: class '%s' is not one of the %d "
                             "classes being trained/evaluated (first: '%s')",
                             root, dirs.v[d], dirs.v[d], n_classes,
                             n_classes ? classes[0] : "");
                goto done;
            }
        }
        char *cdir = join(root, dirs.v[d]);
        if (!cdir) {
            st = nk_fail(ctx, NK_NOMEM, "%s: out of memory", root);
            goto done;
        }
        strvec_free(&files);
        st = list_dir(ctx, cdir, 0, &files);
        if (st == NK_OK && files.n == 0 && !classes)
            st = nk_fail(ctx, NK_FORMAT,
                         "%s: class folder '%s' has no .jpg, .jpeg or .png "
                         "images; add images or remove the folder", cdir,
                         dirs.v[d]);
        for (int f = 0; st == NK_OK && f < files.n; f++) {
            char *p = join(cdir, files.v[f]);
            if (!p || strvec_push(&all, p) != 0) {
                nk_free(p);
                st = nk_fail(ctx, NK_NOMEM, "%s: out of memory", cdir);
                break;
            }
            nk_free(p);
            if (n_lab % 1024 == 0) {
                int *nl = nk_realloc(labels, (size_t)(n_lab + 1024) *
                                                 sizeof *labels);
                if (!nl) {
                    st = nk_fail(ctx, NK_NOMEM, "%s: out of memory", cdir);
                    break;
                }
                labels = nl;
            }
            labels[n_lab++] = label;
            ds->class_count[label]++;
        }
        nk_free(cdir);
        if (st != NK_OK)
            goto done;
    }
    if (all.n == 0) {
        st = nk_fail(ctx, NK_FORMAT, "%s: no .jpg, .jpeg or .png images in "
                     "any class folder", root);
        goto done;
    }
    if ((st = dataset_alloc_items(ctx, ds, all.n)) != NK_OK)
        goto done;
    ds->n = all.n;
    for (int i = 0; i < all.n; i++) {
        ds->paths[i] = all.v[i];
        all.v[i] = NULL;
        ds->labels[i] = labels[i];
    }
    *out = ds;
    ds = NULL;
done:
    strvec_free(&dirs);
    strvec_free(&files);
    strvec_free(&all);
    nk_free(labels);
    nk_dataset_free(ds);
    return st;
}

nk_status nk_dataset_split(nk_ctx *ctx, const nk_dataset *ds, double fraction,
                           uint64_t seed, nk_dataset **train,
                           nk_dataset **val)
{
    *train = *val = NULL;
    if (!(fraction > 0.0 && fraction < 1.0))
        return nk_fail(ctx, NK_INVALID_ARG,
                       "--val-split %g: expected a fraction in (0, 1)",
                       fraction);
    nk_dataset *tr = NULL, *va = NULL;
    int *take = nk_calloc((size_t)ds->n, sizeof *take);
    int *idx = nk_malloc((size_t)ds->n * sizeof *idx);
    nk_status st = NK_OK;
    if (!take || !idx) {
        st = nk_fail(ctx, NK_NOMEM, "%s: out of memory", ds->root);
        goto done;
    }
    nk_rng rng;
    nk_rng_seed(&rng, seed ^ 0x76616c5f73706c74ULL); /* "val_splt" */
    int n_val = 0;
    for (int c = 0; c < ds->n_classes; c++) {
        int m = 0;
        for (int i = 0; i < ds->n; i++)
            if (ds->labels[i] == c)
                idx[m++] = i;
        for (int i = m - 1; i > 0; i--) {
            int j = (int)(nk_rng_next(&rng) % (uint64_t)(i + 1));
            int t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        int k = (int)(m * fraction + 0.5);
        if (k == 0 && m >= 2)
            k = 1;
        if (k >= m && m >= 1)
            k = m - 1;
        for (int i = 0; i < k; i++)
            take[idx[i]] = 1;
        n_val += k;
    }
    if (n_val == 0) {
        st = nk_fail(ctx, NK_INVALID_ARG,
                     "%s: --val-split %g leaves no validation images (%d "
                     "images in %d classes)", ds->root, fraction, ds->n,
                     ds->n_classes);
        goto done;
    }
    const char *const *cls = (const char *const *)ds->classes;
    if ((st = dataset_new(ctx, ds->root, ds->n_classes, cls, &tr)) ||
        (st = dataset_new(ctx, ds->root, ds->n_classes, cls, &va)) ||
        (st = dataset_alloc_items(ctx, tr, ds->n - n_val)) ||
        (st = dataset_alloc_items(ctx, va, n_val)))
        goto done;
    for (int i = 0; i < ds->n; i++) {
        nk_dataset *d = take[i] ? va : tr;
        if (!(d->paths[d->n] = nk_strdup(ds->paths[i]))) {
            st = nk_fail(ctx, NK_NOMEM, "%s: out of memory", ds->root);
            goto done;
        }
        d->labels[d->n++] = ds->labels[i];
        d->class_count[ds->labels[i]]++;
    }
    *train = tr;
    *val = va;
    tr = va = NULL;
done:
    nk_free(take);
    nk_free(idx);
    nk_dataset_free(tr);
    nk_dataset_free(va);
    return st;
}

int nk_dataset_bad_count(const nk_dataset *ds)
{
    int n = 0;
    for (int i = 0; i < ds->n; i++)
        n += atomic_load(&ds->bad[i]) != 0;
    return n;
}

void nk_dataset_free(nk_dataset *ds)
{
    if (!ds)
        return;
    if (ds->paths)
        for (int i = 0; i < ds->n; i++)
            nk_free(ds->paths[i]);
    if (ds->classes)
        for (int i = 0; i < ds->n_classes; i++)
            nk_free(ds->classes[i]);
    nk_free(ds->paths);
    nk_free(ds->labels);
    nk_free((void *)ds->bad);
    nk_free(ds->classes);
    nk_free(ds->class_count);
    nk_free(ds->root);
    nk_free(ds);
}
