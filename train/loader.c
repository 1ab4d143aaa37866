/*
 * loader.c — worker threads that fill a ring of batch buffers in batch
 * order while the consumer (the trainer) computes on earlier batches.
 * Batch contents depend only on (seed, epoch, batch index), never on which
 * worker filled them or when.
 */
#include "train/loader.h"
#include "engine/ctx.h"
#include "train/image.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

enum { SLOT_FREE = 0, SLOT_FILLING, SLOT_READY };

typedef struct slot {
    nk_batch b;
    int state;
    size_t wcap;      /* capacity of b.warnings */
    nk_status err;    /* fatal worker error (out of memory) */
    char errmsg[NK_ERRMSG_MAX];
} slot;

struct nk_loader {
    nk_dataset *ds;
    nk_transform tf;
    nk_loader_opts o;
    size_t sample;        /* floats per sample */
    int *perm;            /* this epoch's order of dataset indices */
    int64_t epoch, n_batches, next_claim, next_consume;
    slot *slots;
    int n_slots;
    pthread_t *threads;
    int n_threads;
    int stop;
    pthread_mutex_t mu;
    pthread_cond_t work; /* workers wait: a batch can be claimed, or stop */
    pthread_cond_t done; /* consumer waits: a batch became ready */
};

uint64_t nk_seed_mix(uint64_t seed, uint64_t a, uint64_t b)
{
    uint64_t h = seed ^ 0x6e6e6b69745f6c64ULL;
    h = (h ^ (a + 0x9e3779b97f4a7c15ULL)) * 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 31;
    h = (h ^ (b + 0x632be59bd9b4e019ULL)) * 0x94d049bb133111ebULL;
    h ^= h >> 29;
    return h;
}

int64_t nk_loader_num_batches(const nk_loader *l)
{
    return (l->ds->n + (int64_t)l->o.batch - 1) / l->o.batch;
}

/* Append "msg\n" to the slot's warnings. */
static int add_warning(slot *s, const char *msg)
{
    size_t have = strlen(s->b.warnings), add = strlen(msg) + 1;
    if (have + add + 1 > s->wcap) {
        size_t cap = (have + add + 1) * 2;
        char *w = nk_realloc(s->b.warnings, cap);
        if (!w)
            return -1;
        s->b.warnings = w;
        s->wcap = cap;
    }
    memcpy(s->b.warnings + have, msg, add - 1);
    s->b.warnings[have + add - 1] = '\n';
    s->b.warnings[have + add] = 0;
    return 0;
}

/* Fill slot s with batch `index` of the current epoch. */
static void fill(nk_loader *l, nk_ctx *ctx, slot *s, int64_t index,
                 int64_t epoch)
{
    nk_batch *b = &s->b;
    b->index = index;
    b->n = 0;
    b->n_new_bad = 0;
    b->warnings[0] = 0;
    s->err = NK_OK;
    int64_t lo = index * l->o.batch, hi = lo + l->o.batch;
    if (hi > l->ds->n)
        hi = l->ds->n;
    int want_c = l->tf.pre.channels;
    int min_short = nk_transform_min_short(&l->tf);
    for (int64_t pos = lo; pos < hi; pos++) {
        int item = l->perm[pos];
        if (atomic_load(&l->ds->bad[item]))
            continue;
        nk_image *img = NULL;
        nk_status st = nk_image_load_sized(ctx, l->ds->paths[item], want_c,
                                           min_short, &img);
        if (st == NK_OK) {
            nk_rng rng, *r = NULL;
            if (l->o.augment) {
                nk_rng_seed(&rng, nk_seed_mix(l->o.seed, (uint64_t)epoch,
                                              (uint64_t)pos));
                r = &rng;
            }
            st = nk_transform_apply(ctx, &l->tf, img, r,
                                    b->x + (size_t)b->n * l->sample);
            nk_image_free(img);
            if (st != NK_OK && st != NK_NOMEM)
                nk_errmsg_prefix(ctx, "%s", l->ds->paths[item]);
        }
        if (st == NK_NOMEM) {
            s->err = st;
            snprintf(s->errmsg, sizeof s->errmsg, "%s", nk_errmsg(ctx));
            return;
        }
        if (st != NK_OK) {
            if (atomic_exchange(&l->ds->bad[item], 1) == 0) {
                b->n_new_bad++;
                if (add_warning(s, nk_errmsg(ctx)) != 0) {
                    s->err = NK_NOMEM;
                    snprintf(s->errmsg, sizeof s->errmsg,
                             "out of memory recording a warning");
                    return;
                }
            }
            continue;
        }
        b->labels[b->n] = l->ds->labels[item];
        b->items[b->n] = item;
        b->n++;
    }
}

static void *worker(void *arg)
{
    nk_loader *l = arg;
    nk_ctx *ctx = NULL;
    if (nk_ctx_new(&ctx) != NK_OK)
        ctx = NULL; /* messages are lost, status codes still work */
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && !(l->next_claim < l->n_batches &&
                             l->slots[l->next_claim % l->n_slots].state ==
                                 SLOT_FREE))
            pthread_cond_wait(&l->work, &l->mu);
        if (l->stop)
            break;
        int64_t index = l->next_claim++, epoch = l->epoch;
        slot *s = &l->slots[index % l->n_slots];
        s->state = SLOT_FILLING;
        pthread_mutex_unlock(&l->mu);
        fill(l, ctx, s, index, epoch);
        pthread_mutex_lock(&l->mu);
        s->state = SLOT_READY;
        pthread_cond_broadcast(&l->done);
    }
    pthread_mutex_unlock(&l->mu);
    nk_ctx_free(ctx);
    return NULL;
}

nk_status nk_loader_create(nk_ctx *ctx, nk_dataset *ds, const nk_transform *t,
                           const nk_loader_opts *o, nk_loader **out)
{
    *out = NULL;
    if (o->batch < 1 || o->workers < 1 || o->ring < 0)
        return nk_fail(ctx, NK_INVALID_ARG,
                       "loader: batch %d, workers %d, ring %d: expected "
                       "batch >= 1 and workers >= 1", o->batch, o->workers,
                       o->ring);
    nk_loader *l = nk_calloc(1, sizeof *l);
    if (!l)
        return nk_fail(ctx, NK_NOMEM, "loader: out of memory");
    l->ds = ds;
    l->tf = *t;
    l->o = *o;
    l->sample = nk_transform_sample_size(t);
    l->n_slots = o->ring ? o->ring : 2 * o->workers + 1;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->work, NULL);
    pthread_cond_init(&l->done, NULL);
    l->perm = nk_malloc((size_t)(ds->n ? ds->n : 1) * sizeof *l->perm);
    l->slots = nk_calloc((size_t)l->n_slots, sizeof *l->slots);
    l->threads = nk_calloc((size_t)o->workers, sizeof *l->threads);
    size_t xb;
    if (!l->perm || !l->slots || !l->threads ||
        !nk_mul_size(l->sample, (size_t)o->batch, &xb) ||
        !nk_mul_size(xb, sizeof(float), &xb))
        goto nomem;
    for (int i = 0; i < l->n_slots; i++) {
        nk_batch *b = &l->slots[i].b;
        b->x = nk_malloc_aligned(xb, 64);
        b->labels = nk_malloc((size_t)o->batch * sizeof *b->labels);
        b->items = nk_malloc((size_t)o->batch * sizeof *b->items);
        b->warnings = nk_malloc(256);
        l->slots[i].wcap = 256;
        if (!b->x || !b->labels || !b->items || !b->warnings)
            goto nomem;
        b->warnings[0] = 0;
    }
    for (int i = 0; i < ds->n; i++)
        l->perm[i] = i;
    for (int i = 0; i < o->workers; i++) {
        if (pthread_create(&l->threads[i], NULL, worker, l) != 0) {
            nk_loader_free(l);
            return nk_fail(ctx, NK_INTERNAL,
                           "loader: cannot start worker thread %d", i);
        }
        l->n_threads++;
    }
    *out = l;
    return NK_OK;
nomem:
    nk_loader_free(l);
    return nk_fail(ctx, NK_NOMEM,
                   "loader: out of memory for %d batches of %d images",
                   o->ring ? o->ring : 2 * o->workers + 1, o->batch);
}

/* Drop all batches: stop claiming and wait for fills in progress. */
static void drain(nk_loader *l)
{
    l->n_batches = 0;
    for (;;) {
        int busy = 0;
        for (int i = 0; i < l->n_slots; i++)
            busy |= l->slots[i].state == SLOT_FILLING;
        if (!busy)
            break;
        pthread_cond_wait(&l->done, &l->mu);
    }
    for (int i = 0; i < l->n_slots; i++)
        l->slots[i].state = SLOT_FREE;
}

nk_status nk_loader_start_epoch(nk_ctx *ctx, nk_loader *l, int64_t epoch)
{
    pthread_mutex_lock(&l->mu);
    drain(l);
    int n = l->ds->n;
    for (int i = 0; i < n; i++)
        l->perm[i] = i;
    if (l->o.shuffle) {
        nk_rng rng;
        nk_rng_seed(&rng, nk_seed_mix(l->o.seed, (uint64_t)epoch,
                                      0x73687566666c65ULL));
        for (int i = n - 1; i > 0; i--) {
            int j = (int)(nk_rng_next(&rng) % (uint64_t)(i + 1));
            int t = l->perm[i];
            l->perm[i] = l->perm[j];
            l->perm[j] = t;
        }
    }
    l->epoch = epoch;
    l->next_claim = l->next_consume = 0;
    l->n_batches = nk_loader_num_batches(l);
    pthread_cond_broadcast(&l->work);
    pthread_mutex_unlock(&l->mu);
    (void)ctx;
    return NK_OK;
}

nk_status nk_loader_next(nk_ctx *ctx, nk_loader *l, nk_batch **out)
{
    *out = NULL;
    pthread_mutex_lock(&l->mu);
    int64_t index = l->next_consume;
    if (index >= l->n_batches) {
        pthread_mutex_unlock(&l->mu);
        return NK_OK;
    }
    slot *s = &l->slots[index % l->n_slots];
    while (!(s->state == SLOT_READY && s->b.index == index))
        pthread_cond_wait(&l->done, &l->mu);
    pthread_mutex_unlock(&l->mu);
    if (s->err != NK_OK)
        return nk_fail(ctx, s->err, "loader: %s", s->errmsg);
    *out = &s->b;
    return NK_OK;
}

void nk_loader_release(nk_loader *l, nk_batch *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&l->mu);
    slot *s = &l->slots[b->index % l->n_slots];
    if (&s->b == b && s->state == SLOT_READY && b->index == l->next_consume) {
        s->state = SLOT_FREE;
        l->next_consume++;
        pthread_cond_broadcast(&l->work);
    }
    pthread_mutex_unlock(&l->mu);
}

void nk_loader_free(nk_loader *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->work);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->n_threads; i++)
        pthread_join(l->threads[i], NULL);
    if (l->slots)
        for (int i = 0; i < l->n_slots; i++) {
            nk_free_aligned(l->slots[i].b.x);
            nk_free(l->slots[i].b.labels);
            nk_free(l->slots[i].b.items);
            nk_free(l->slots[i].b.warnings);
        }
    nk_free(l->slots);
    nk_free(l->threads);
    nk_free(l->perm);
    pthread_cond_destroy(&l->work);
    pthread_cond_destroy(&l->done);
    pthread_mutex_destroy(&l->mu);
    nk_free(l);
}
