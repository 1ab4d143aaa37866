/*
 * trainer.c — nk_finetune: datasets, head swap and freezing, the epoch
 * loop (loader or feature cache -> forward -> backward -> optimiser),
 * validation, best-model keeping, checkpoints with deterministic resume,
 * TensorBoard events and report.html.
 */
#include "engine/autograd.h"
#include "engine/op.h"
#include "formats/format.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "train/features.h"
#include "train/head.h"
#include "train/loader.h"
#include "train/report.h"
#include "train/tfevents.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---- options ------------------------------------------------------------- */

static const char *const optim_names[NK_OPTIMIZER_COUNT] = {"sgd", "adam",
                                                            "adamw"};
static const char *const sched_names[NK_SCHEDULE_COUNT] = {"constant", "step",
                                                           "cosine"};

const char *nk_optimizer_name(nk_optimizer o)
{
    return (unsigned)o < NK_OPTIMIZER_COUNT ? optim_names[o] : NULL;
}

const char *nk_schedule_name(nk_schedule s)
{
    return (unsigned)s < NK_SCHEDULE_COUNT ? sched_names[s] : NULL;
}

nk_status nk_optimizer_parse(nk_ctx *ctx, const char *s, nk_optimizer *out)
{
    for (int i = 0; s && i < NK_OPTIMIZER_COUNT; i++)
        if (strcmp(s, optim_names[i]) == 0) {
            *out = (nk_optimizer)i;
            return NK_OK;
        }
    return nk_fail(ctx, NK_INVALID_ARG,
                   "optimizer '%s': expected sgd, adam or adamw",
                   s ? s : "(null)");
}

nk_status nk_schedule_parse(nk_ctx *ctx, const char *s, nk_schedule *out)
{
    for (int i = 0; s && i < NK_SCHEDULE_COUNT; i++)
        if (strcmp(s, sched_names[i]) == 0) {
            *out = (nk_schedule)i;
            return NK_OK;
        }
    return nk_fail(ctx, NK_INVALID_ARG,
                   "schedule '%s': expected constant, step or cosine",
                   s ? s : "(null)");
}

void nk_finetune_opts_init(nk_finetune_opts *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = 2;
    o->batch = 64;
    o->lr = 1e-3f;
    o->optimizer = NK_OPTIMIZER_ADAM;
    o->momentum = 0.9f;
    o->weight_decay = -1.0f; /* per optimiser: 0, AdamW 0.01 */
    o->schedule = NK_SCHEDULE_CONSTANT;
    o->step_epochs = 1;
    o->gamma = 0.1f;
    o->train_layers = "head";
    o->feature_cache = 1;
}

/* ---- the run's state ----------------------------------------------------- */

typedef struct tr {
    nk_ctx *ctx;
    nk_graph *g;                  /* the model (head swapped) */
    const nk_finetune_opts *o;
    nk_train_cb cb;
    void *user;
    float weight_decay;
    nk_dataset *train, *val;
    nk_head head;
    nk_train_layers tl;
    nk_transform tf_train, tf_eval;
    int features;                 /* training the head on cached features */
    nk_graph *hg;                 /* head graph (features mode) */
    float *ftrain, *fval;
    int32_t *ltrain, *lval;
    int64_t n_ftrain, n_fval;
    nk_graph *tg;                 /* the graph trained: g or hg */
    nk_loader *loader;            /* training images (image mode) */
    nk_loader *vloader;           /* validation images (image mode) */
    int has_bn;                   /* tg has BatchNormalization nodes */
    nk_optim *opt;
    nk_lr_sched sched;
    int64_t batches_per_epoch;
    int64_t step;                 /* optimiser iterations done */
    int epochs_done;
    nk_epoch_stats *hist;         /* o->epochs entries */
    int best_epoch;
    double best_acc;
    int64_t *best_conf;           /* confusion matrix of the best epoch */
    nk_ckpt best;                 /* "<param>" -> weights at the best epoch */
    char *logdir, *ckpt_path, *report_path;
    nk_tfevents *ev;
    char config[8192];
    int64_t trainable;
} tr;

static void emit(tr *t, nk_train_progress *p)
{
    if (t->cb)
        t->cb(t->user, p);
}

static void message(tr *t, nk_train_event ev, const char *msg)
{
    nk_train_progress p;
    memset(&p, 0, sizeof p);
    p.event = ev;
    p.epochs = t->o->epochs;
    p.message = msg;
    emit(t, &p);
}

/* Loader warnings: one event per line. */
static void warn_lines(void *user, const char *msgs)
{
    tr *t = user;
    char line[NK_ERRMSG_MAX + 8];
    while (*msgs) {
        const char *nl = strchr(msgs, '\n');
        size_t k = nl ? (size_t)(nl - msgs) : strlen(msgs);
        if (k >= sizeof line)
            k = sizeof line - 1;
        memcpy(line, msgs, k);
        line[k] = 0;
        char full[NK_ERRMSG_MAX + 64];
        snprintf(full, sizeof full, "skipping unreadable image: %s", line);
        message(t, NK_TRAIN_WARNING, full);
        msgs = nl ? nl + 1 : msgs + k;
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static nk_status make_dirs(nk_ctx *ctx, const char *dir)
{
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf)
        return nk_fail(ctx, NK_INVALID_ARG, "%s: invalid directory name", dir);
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0)
            continue;
        char c = buf[i];
        buf[i] = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return nk_fail(ctx, NK_IO, "%s: cannot create directory: %s", buf,
                           strerror(errno));
        buf[i] = c;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return nk_fail(ctx, NK_IO, "%s: not a directory", dir);
    return NK_OK;
}

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = nk_malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Tensors whose values training changes: parameters and BN statistics. */
static bool is_state(const nk_graph *g, int ti)
{
    const nk_tensor *t = g->tensors[ti];
    if (!t->is_init || t->dtype != NK_F32 || !t->data)
        return false;
    if (t->trainable)
        return true;
    for (int i = 0; i < g->n_nodes; i++) {
        const nk_node *n = &g->nodes[i];
        if (n->op == NK_OP_BATCHNORM && n->n_in >= 5 &&
            (n->in[3] == ti || n->in[4] == ti))
            return true;
    }
    return false;
}

/* ---- config (what a checkpoint must agree on to be resumed) ------------- */

static void config_add(tr *t, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void config_add(tr *t, const char *key, const char *fmt, ...)
{
    size_t used = strlen(t->config);
    if (used + 2 >= sizeof t->config)
        return;
    int k = snprintf(t->config + used, sizeof t->config - used, "%s=", key);
    if (k < 0 || (size_t)k >= sizeof t->config - used)
        return;
    used += (size_t)k;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->config + used, sizeof t->config - used, fmt, ap);
    va_end(ap);
    used = strlen(t->config);
    if (used + 1 < sizeof t->config) {
        t->config[used] = '\n';
        t->config[used + 1] = 0;
    }
}

/* The shortest of %.6g / %.9g that reads back as the same float. */
static const char *fmt_float(float v, char *buf, size_t n)
{
    snprintf(buf, n, "%.6g", (double)v);
    if (strtof(buf, NULL) != v)
        snprintf(buf, n, "%.9g", (double)v);
    return buf;
}

static void build_config(tr *t)
{
    char f1[32];
    const nk_finetune_opts *o = t->o;
    char rp[PATH_MAX];
    t->config[0] = 0;
    config_add(t, "data", "%s", realpath(o->data, rp) ? rp : o->data);
    if (o->val)
        config_add(t, "val", "%s", realpath(o->val, rp) ? rp : o->val);
    config_add(t, "val-split", "%g", o->val ? 0.0 : o->val_split);
    config_add(t, "train-images", "%d", t->train->n);
    config_add(t, "epochs", "%d", o->epochs);
    config_add(t, "batch", "%d", o->batch);
    config_add(t, "lr", "%s", fmt_float(o->lr, f1, sizeof f1));
    config_add(t, "optimizer", "%s", nk_optimizer_name(o->optimizer));
    config_add(t, "momentum", "%s", fmt_float(o->momentum, f1, sizeof f1));
    config_add(t, "nesterov", "%d", o->nesterov);
    config_add(t, "weight-decay", "%s", fmt_float(t->weight_decay, f1, sizeof f1));
    config_add(t, "schedule", "%s", nk_schedule_name(o->schedule));
    config_add(t, "step-epochs", "%d", o->step_epochs);
    config_add(t, "gamma", "%s", fmt_float(o->gamma, f1, sizeof f1));
    config_add(t, "warmup", "%d", o->warmup_epochs);
    config_add(t, "train-layers", "%s", o->train_layers);
    config_add(t, "augment", "%d", o->augment);
    config_add(t, "vflip", "%d", o->vflip);
    config_add(t, "seed", "%llu", (unsigned long long)o->seed);
    config_add(t, "feature-cache", "%d", t->features);
    config_add(t, "classes", "%d", t->train->n_classes);
    for (int c = 0; c < t->train->n_classes; c++)
        config_add(t, "class", "%s", t->train->classes[c]);
}

/* The first line where two configs differ, for the error message. */
static void config_diff(const char *a, const char *b, char *out, size_t n)
{
    while (*a || *b) {
        const char *ae = strchr(a, '\n'), *be = strchr(b, '\n');
        size_t al = ae ? (size_t)(ae - a) : strlen(a);
        size_t bl = be ? (size_t)(be - b) : strlen(b);
        if (al != bl || memcmp(a, b, al) != 0) {
            snprintf(out, n, "the checkpoint has '%.*s', this run '%.*s'",
                     (int)(al > 300 ? 300 : al), a,
                     (int)(bl > 300 ? 300 : bl), b);
            return;
        }
        a += al + (ae ? 1 : 0);
        b += bl + (be ? 1 : 0);
    }
    snprintf(out, n, "(no difference found)");
}

/* ---- checkpoints ---------------------------------------------------------- */

typedef struct ckpt_state {
    int64_t epochs_done, step, optim_steps, best_epoch, n_classes, epochs;
    double best_acc;
} ckpt_state;

static nk_status save_checkpoint(tr *t)
{
    nk_ctx *ctx = t->ctx;
    nk_ckpt c = {0};
    ckpt_state s = {t->epochs_done, t->step, nk_optim_step_count(t->opt),
                    t->best_epoch, t->train->n_classes, t->o->epochs,
                    t->best_acc};
    char name[600];
    int C = t->train->n_classes;
    nk_status st;
    if ((st = nk_ckpt_put(ctx, &c, "config", t->config, strlen(t->config))) ||
        (st = nk_ckpt_put(ctx, &c, "state", &s, sizeof s)) ||
        (st = nk_ckpt_put(ctx, &c, "history", t->hist,
                          (uint64_t)t->epochs_done * sizeof *t->hist)))
        goto done;
    if (t->best_conf &&
        (st = nk_ckpt_put(ctx, &c, "confusion", t->best_conf,
                          (uint64_t)C * (uint64_t)C * sizeof(int64_t))))
        goto done;
    for (int i = 0; i < t->g->n_tensors; i++) {
        if (!is_state(t->g, i))
            continue;
        const nk_tensor *x = t->g->tensors[i];
        snprintf(name, sizeof name, "param:%s", x->name);
        if ((st = nk_ckpt_put(ctx, &c, name, x->data, x->nbytes)))
            goto done;
    }
    for (int i = 0; i < t->best.n; i++) {
        snprintf(name, sizeof name, "best:%s", t->best.e[i].name);
        if ((st = nk_ckpt_put(ctx, &c, name, t->best.e[i].data,
                              t->best.e[i].len)))
            goto done;
    }
    for (int i = 0; i < nk_optim_state_count(t->opt); i++) {
        const char *nm;
        float *d;
        int64_t numel;
        if ((st = nk_optim_state_at(t->opt, i, &nm, &d, &numel)))
            goto done;
        snprintf(name, sizeof name, "optim:%s", nm);
        if ((st = nk_ckpt_put(ctx, &c, name, d,
                              (uint64_t)numel * sizeof(float))))
            goto done;
    }
    st = nk_ckpt_save(ctx, &c, t->ckpt_path);
done:
    nk_ckpt_clear(&c);
    return st;
}

/* Restore from the checkpoint file; *found = 0 when there is none. */
static nk_status load_checkpoint(tr *t, int *found)
{
    nk_ctx *ctx = t->ctx;
    *found = 0;
    struct stat sb;
    if (stat(t->ckpt_path, &sb) != 0)
        return NK_OK;
    nk_ckpt c = {0};
    nk_status st = nk_ckpt_load(ctx, t->ckpt_path, &c);
    if (st != NK_OK)
        return st;
    uint64_t len;
    const char *cfg = nk_ckpt_get(&c, "config", &len);
    const ckpt_state *s = nk_ckpt_get(&c, "state", &len);
    char why[800];
    if (!cfg || !s || len != sizeof *s) {
        st = nk_fail(ctx, NK_FORMAT, "%s: missing or malformed 'config' / "
                     "'state' entry", t->ckpt_path);
        goto done;
    }
    nk_ckpt_get(&c, "config", &len);
    if (len != strlen(t->config) || memcmp(cfg, t->config, len) != 0) {
        char *copy = nk_malloc(len + 1);
        if (!copy) {
            st = nk_fail(ctx, NK_NOMEM, "out of memory");
            goto done;
        }
        memcpy(copy, cfg, len);
        copy[len] = 0;
        config_diff(copy, t->config, why, sizeof why);
        nk_free(copy);
        st = nk_fail(ctx, NK_INVALID_ARG, "%s: cannot resume a run with "
                     "different settings: %s (use the same options, or "
                     "start over without --resume)", t->ckpt_path, why);
        goto done;
    }
    int C = t->train->n_classes;
    if (s->epochs_done < 0 || s->epochs_done > t->o->epochs ||
        s->best_epoch < 0 || s->best_epoch > s->epochs_done ||
        s->n_classes != C || s->step < 0 || s->optim_steps < 0) {
        st = nk_fail(ctx, NK_FORMAT, "%s: state: %lld epochs done, best "
                     "%lld, %lld classes; expected <= %d epochs and %d "
                     "classes", t->ckpt_path, (long long)s->epochs_done,
                     (long long)s->best_epoch, (long long)s->n_classes,
                     t->o->epochs, C);
        goto done;
    }
    const void *h = nk_ckpt_get(&c, "history", &len);
    if (!h || len != (uint64_t)s->epochs_done * sizeof *t->hist) {
        st = nk_fail(ctx, NK_FORMAT, "%s: history has %llu bytes, expected "
                     "%llu", t->ckpt_path, (unsigned long long)(h ? len : 0),
                     (unsigned long long)s->epochs_done * sizeof *t->hist);
        goto done;
    }
    memcpy(t->hist, h, (size_t)len);
    const void *cf = nk_ckpt_get(&c, "confusion", &len);
    if (cf) {
        if (len != (uint64_t)C * C * sizeof(int64_t)) {
            st = nk_fail(ctx, NK_FORMAT, "%s: confusion matrix has %llu "
                         "bytes, expected %llu", t->ckpt_path,
                         (unsigned long long)len,
                         (unsigned long long)C * C * sizeof(int64_t));
            goto done;
        }
        memcpy(t->best_conf, cf, (size_t)len);
    }
    char name[600];
    nk_ckpt_clear(&t->best);
    for (int i = 0; i < t->g->n_tensors; i++) {
        if (!is_state(t->g, i))
            continue;
        nk_tensor *x = t->g->tensors[i];
        snprintf(name, sizeof name, "param:%s", x->name);
        const void *d = nk_ckpt_get(&c, name, &len);
        if (!d || len != x->nbytes) {
            st = nk_fail(ctx, NK_FORMAT, "%s: '%s' has %llu bytes, expected "
                         "%zu", t->ckpt_path, name,
                         (unsigned long long)(d ? len : 0), x->nbytes);
            goto done;
        }
        memcpy(x->data, d, x->nbytes);
        snprintf(name, sizeof name, "best:%s", x->name);
        d = nk_ckpt_get(&c, name, &len);
        if (d && len == x->nbytes &&
            (st = nk_ckpt_put(ctx, &t->best, x->name, d, len)))
            goto done;
    }
    for (int i = 0; i < nk_optim_state_count(t->opt); i++) {
        const char *nm;
        float *d;
        int64_t numel;
        if ((st = nk_optim_state_at(t->opt, i, &nm, &d, &numel)))
            goto done;
        snprintf(name, sizeof name, "optim:%s", nm);
        const void *sd = nk_ckpt_get(&c, name, &len);
        if (!sd || len != (uint64_t)numel * sizeof(float)) {
            st = nk_fail(ctx, NK_FORMAT, "%s: '%s' has %llu bytes, expected "
                         "%llu", t->ckpt_path, name,
                         (unsigned long long)(sd ? len : 0),
                         (unsigned long long)numel * sizeof(float));
            goto done;
        }
        memcpy(d, sd, (size_t)len);
    }
    nk_optim_set_step_count(t->opt, s->optim_steps);
    t->epochs_done = (int)s->epochs_done;
    t->step = s->step;
    t->best_epoch = (int)s->best_epoch;
    t->best_acc = s->best_acc;
    if (t->features && (st = nk_copy_params(ctx, t->hg, t->g)))
        goto done;
    *found = 1;
done:
    nk_ckpt_clear(&c);
    return st;
}

/* Keep the current weights as the best. */
static nk_status snapshot_best(tr *t)
{
    nk_ckpt_clear(&t->best);
    for (int i = 0; i < t->g->n_tensors; i++) {
        if (!is_state(t->g, i))
            continue;
        const nk_tensor *x = t->g->tensors[i];
        nk_status st = nk_ckpt_put(t->ctx, &t->best, x->name, x->data,
                                   x->nbytes);
        if (st != NK_OK)
            return st;
    }
    return NK_OK;
}

static void restore_best(tr *t)
{
    for (int i = 0; i < t->best.n; i++) {
        int ti = nk_graph_find_tensor(t->g, t->best.e[i].name);
        if (ti >= 0 && t->g->tensors[ti]->nbytes == t->best.e[i].len)
            memcpy(t->g->tensors[ti]->data, t->best.e[i].data,
                   (size_t)t->best.e[i].len);
    }
}

/* ---- training plans -------------------------------------------------------- */

/* A training plan + gradients for batch size bs; [0] for the full batch,
 * [1] for one other size (the epoch's last, or a batch with skipped
 * images), replaced when another size comes. */
typedef struct tr_plans {
    nk_plan *plan[2];
    nk_grad *grad[2];
    int64_t bs[2];
} tr_plans;

static void plans_free(tr_plans *p)
{
    for (int i = 0; i < 2; i++) {
        nk_grad_free(p->grad[i]);
        nk_plan_free(p->plan[i]);
    }
    memset(p, 0, sizeof *p);
}

static nk_status plans_get(tr *t, tr_plans *p, int64_t bs, nk_plan **plan,
                           nk_grad **grad)
{
    int k = bs == t->o->batch ? 0 : 1;
    if (!p->plan[k] || p->bs[k] != bs) {
        nk_grad_free(p->grad[k]);
        nk_plan_free(p->plan[k]);
        p->grad[k] = NULL;
        p->plan[k] = NULL;
        nk_plan_opts po = {.batch = bs, .training = 1};
        nk_status st = nk_plan_create(t->ctx, t->tg, &po, &p->plan[k]);
        if (st == NK_OK)
            st = nk_grad_create(t->ctx, p->plan[k], &p->grad[k]);
        if (st != NK_OK)
            return st;
        /* A frozen backbone runs as module.eval() would: BN statistics
         * are neither used from the batch nor updated. */
        nk_grad_freeze_bn(p->grad[k], t->tl.kind != NK_TRAIN_ALL);
        p->bs[k] = bs;
    }
    *plan = p->plan[k];
    *grad = p->grad[k];
    return NK_OK;
}

/* Dropout draws its masks from a per-node seed: make it depend on the
 * epoch, so that a resumed epoch replays the same masks. */
static nk_status seed_dropout(tr *t, int epoch)
{
    for (int i = 0; i < t->tg->n_nodes; i++) {
        nk_node *n = &t->tg->nodes[i];
        if (n->op != NK_OP_DROPOUT)
            continue;
        uint64_t s = nk_seed_mix(t->o->seed, (uint64_t)epoch, 0x64726f70ULL + i);
        nk_status st = nk_node_set_int(t->ctx, t->tg, n, "seed",
                                       (int64_t)(s >> 1));
        if (st != NK_OK)
            return st;
    }
    return NK_OK;
}

/* Running stats of an epoch. */
typedef struct ep_stats {
    int64_t images, correct, batches;
    double loss_sum, t0;
} ep_stats;

static nk_status train_batch(tr *t, tr_plans *tp, ep_stats *es, int epoch,
                             const float *x, const int32_t *labels, int64_t n,
                             int64_t batch_index)
{
    /* torch refuses BatchNorm training on one sample; skip such a batch */
    if (n == 0 || (n == 1 && t->has_bn && t->tl.kind == NK_TRAIN_ALL))
        return NK_OK;
    nk_plan *plan;
    nk_grad *grad;
    nk_status st = plans_get(t, tp, n, &plan, &grad);
    if (st != NK_OK)
        return st;
    nk_tensor *in = nk_plan_input(plan, 0);
    memcpy(in->data, x, nk_tensor_nbytes(in));
    int64_t lab[1024];
    int64_t *lp = n <= 1024 ? lab : nk_malloc((size_t)n * sizeof *lp);
    if (!lp)
        return nk_fail(t->ctx, NK_NOMEM, "out of memory for labels");
    for (int64_t i = 0; i < n; i++)
        lp[i] = labels[i];
    float loss = 0;
    int correct = 0;
    st = nk_plan_run(t->ctx, plan);
    if (st == NK_OK)
        st = nk_grad_backward_ce(t->ctx, grad, 0, lp, &loss, &correct);
    if (lp != lab)
        nk_free(lp);
    if (st != NK_OK)
        return st;
    if (!isfinite(loss))
        return nk_fail(t->ctx, NK_INVALID_ARG,
                       "epoch %d, batch %lld: the loss is %g; lower the "
                       "learning rate (--lr %g)", epoch + 1,
                       (long long)batch_index + 1, (double)loss,
                       (double)t->o->lr);
    float lr = nk_lr_at(&t->sched, (int)t->step);
    nk_optim_step(t->opt, grad, lr);
    t->step++;
    es->images += n;
    es->correct += correct;
    es->loss_sum += (double)loss * (double)n;
    es->batches++;
    if (t->ev && t->step % 10 == 0)
        nk_tfevents_scalar(t->ctx, t->ev, "train/batch_loss", t->step, loss);

    nk_train_progress p;
    memset(&p, 0, sizeof p);
    p.event = NK_TRAIN_BATCH;
    p.epoch = epoch + 1;
    p.epochs = t->o->epochs;
    p.batch = batch_index + 1;
    p.batches = t->batches_per_epoch;
    p.images = es->images;
    double dt = now() - es->t0;
    p.images_per_sec = dt > 0 ? es->images / dt : 0;
    p.loss = es->loss_sum / (double)es->images;
    p.accuracy = (double)es->correct / (double)es->images;
    p.lr = lr;
    p.skipped = nk_dataset_bad_count(t->train);
    emit(t, &p);
    return NK_OK;
}

static nk_status train_epoch(tr *t, int epoch, ep_stats *es)
{
    nk_ctx *ctx = t->ctx;
    tr_plans tp = {0};
    memset(es, 0, sizeof *es);
    es->t0 = now();
    nk_status st = seed_dropout(t, epoch);
    if (st != NK_OK)
        return st;
    if (t->features) {
        int64_t n = t->n_ftrain, B = t->o->batch, F = t->head.features;
        int64_t *perm = nk_malloc((size_t)(n ? n : 1) * sizeof *perm);
        float *x = nk_malloc((size_t)B * (size_t)F * sizeof *x);
        int32_t *lab = nk_malloc((size_t)B * sizeof *lab);
        if (!perm || !x || !lab) {
            st = nk_fail(ctx, NK_NOMEM, "out of memory for a batch");
        } else {
            nk_rng rng;
            nk_rng_seed(&rng, nk_seed_mix(t->o->seed, (uint64_t)epoch,
                                          0x73687566666c65ULL));
            for (int64_t i = 0; i < n; i++)
                perm[i] = i;
            for (int64_t i = n - 1; i > 0; i--) {
                int64_t j = (int64_t)(nk_rng_next(&rng) % (uint64_t)(i + 1));
                int64_t tmp = perm[i];
                perm[i] = perm[j];
                perm[j] = tmp;
            }
            for (int64_t b = 0; b * B < n && st == NK_OK; b++) {
                int64_t m = n - b * B < B ? n - b * B : B;
                for (int64_t i = 0; i < m; i++) {
                    int64_t r = perm[b * B + i];
                    memcpy(x + i * F, t->ftrain + r * F,
                           (size_t)F * sizeof *x);
                    lab[i] = t->ltrain[r];
                }
                st = train_batch(t, &tp, es, epoch, x, lab, m, b);
            }
        }
        nk_free(perm);
        nk_free(x);
        nk_free(lab);
    } else {
        st = nk_loader_start_epoch(ctx, t->loader, epoch);
        while (st == NK_OK) {
            nk_batch *b;
            if ((st = nk_loader_next(ctx, t->loader, &b)) != NK_OK || !b)
                break;
            if (b->warnings[0])
                warn_lines(t, b->warnings);
            st = train_batch(t, &tp, es, epoch, b->x, b->labels, b->n,
                             b->index);
            nk_loader_release(t->loader, b);
        }
    }
    plans_free(&tp);
    return st;
}

static nk_status validate(tr *t, double *loss, double *acc, int64_t *conf)
{
    nk_evaluator ev;
    nk_status st = nk_evaluator_init(t->ctx, &ev, t->tg, t->o->batch);
    if (st != NK_OK)
        return st;
    if (t->features) {
        int64_t B = t->o->batch;
        for (int64_t b = 0; b * B < t->n_fval && st == NK_OK; b++) {
            int64_t m = t->n_fval - b * B < B ? t->n_fval - b * B : B;
            st = nk_evaluator_add(t->ctx, &ev,
                                  t->fval + b * B * t->head.features,
                                  t->lval + b * B, m);
        }
    } else {
        st = nk_loader_start_epoch(t->ctx, t->vloader, 0);
        if (st == NK_OK)
            st = nk_evaluator_run_loader(t->ctx, &ev, t->vloader, warn_lines,
                                         t);
    }
    if (st == NK_OK) {
        *loss = ev.n ? ev.loss_sum / (double)ev.n : 0;
        *acc = ev.n ? (double)ev.correct / (double)ev.n : 0;
        int C = ev.n_classes;
        memcpy(conf, ev.confusion, (size_t)C * C * sizeof *conf);
    }
    nk_evaluator_free(&ev);
    return st;
}

/* ---- logs ------------------------------------------------------------------ */

static nk_status write_report(tr *t)
{
    char sub[1024];
    snprintf(sub, sizeof sub,
             "%s; %d training and %d validation images in %d classes; "
             "%s lr %g, batch %d, %d epochs, schedule %s; train layers %s%s%s",
             t->o->data, t->train->n, t->val ? t->val->n : 0,
             t->train->n_classes, nk_optimizer_name(t->o->optimizer),
             (double)t->o->lr, t->o->batch, t->o->epochs,
             nk_schedule_name(t->o->schedule), t->o->train_layers,
             t->o->augment ? ", augmented" : "",
             t->features ? ", head trained on cached backbone features" : "");
    nk_report r = {
        .title = t->o->output ? t->o->output : t->o->data,
        .subtitle = sub,
        .hist = t->hist,
        .n_epochs = t->epochs_done,
        .best_epoch = t->best_epoch,
        .n_classes = t->train->n_classes,
        .classes = t->train->classes,
        .confusion = t->val && t->best_epoch > 0 ? t->best_conf : NULL,
    };
    return nk_report_write(t->ctx, t->report_path, &r);
}

static nk_status log_epoch(tr *t, int e)
{
    const nk_epoch_stats *h = &t->hist[e];
    nk_status st;
    if (!t->ev)
        return NK_OK;
    if ((st = nk_tfevents_scalar(t->ctx, t->ev, "train/loss", e + 1,
                                 h->train_loss)) ||
        (st = nk_tfevents_scalar(t->ctx, t->ev, "train/accuracy", e + 1,
                                 h->train_acc)) ||
        (st = nk_tfevents_scalar(t->ctx, t->ev, "train/learning_rate", e + 1,
                                 h->lr)) ||
        (st = nk_tfevents_scalar(t->ctx, t->ev, "train/images_per_sec", e + 1,
                                 h->images_per_sec)))
        return st;
    if (h->has_val &&
        ((st = nk_tfevents_scalar(t->ctx, t->ev, "val/loss", e + 1,
                                  h->val_loss)) ||
         (st = nk_tfevents_scalar(t->ctx, t->ev, "val/accuracy", e + 1,
                                  h->val_acc))))
        return st;
    return NK_OK;
}

/* ---- setup ----------------------------------------------------------------- */

static nk_status check_opts(nk_ctx *ctx, const nk_finetune_opts *o)
{
    if (!o->data)
        return nk_fail(ctx, NK_INVALID_ARG, "no training data folder (--data)");
    if (o->epochs < 1 || o->epochs > 100000)
        return nk_fail(ctx, NK_INVALID_ARG, "--epochs %d: expected 1..100000",
                       o->epochs);
    if (o->batch < 1 || o->batch > 65536)
        return nk_fail(ctx, NK_INVALID_ARG, "--batch %d: expected 1..65536",
                       o->batch);
    if (!(o->lr > 0) || !isfinite(o->lr))
        return nk_fail(ctx, NK_INVALID_ARG, "--lr %g: expected > 0",
                       (double)o->lr);
    if ((unsigned)o->optimizer >= NK_OPTIMIZER_COUNT ||
        (unsigned)o->schedule >= NK_SCHEDULE_COUNT)
        return nk_fail(ctx, NK_INVALID_ARG, "optimizer %d / schedule %d out "
                       "of range", (int)o->optimizer, (int)o->schedule);
    if (!o->val && o->val_split != 0 &&
        !(o->val_split > 0 && o->val_split < 1))
        return nk_fail(ctx, NK_INVALID_ARG, "--val-split %g: expected a "
                       "fraction in (0, 1)", o->val_split);
    if (o->warmup_epochs < 0 || o->warmup_epochs > o->epochs)
        return nk_fail(ctx, NK_INVALID_ARG, "--warmup %d: expected 0..%d "
                       "(the number of epochs)", o->warmup_epochs, o->epochs);
    if (o->step_epochs < 1)
        return nk_fail(ctx, NK_INVALID_ARG, "step schedule every %d epochs: "
                       "expected >= 1", o->step_epochs);
    if (o->output) {
        nk_format f = nk_format_from_path(o->output);
        const nk_format_impl *fi = nk_format_impl_get(f);
        if (!fi || !fi->save)
            return nk_fail(ctx, NK_UNSUPPORTED,
                           "%s: cannot write %s models with this build "
                           "(use .nnk%s)", o->output,
                           f == NK_FORMAT_AUTO ? "unknown-extension"
                                               : nk_format_name(f),
                           nk_format_impl_get(NK_FORMAT_ONNX) ? ", .onnx" : "");
    }
    return NK_OK;
}

static nk_status setup(tr *t)
{
    nk_ctx *ctx = t->ctx;
    const nk_finetune_opts *o = t->o;
    nk_graph *g = t->g;
    nk_status st;
    nk_preproc pre = nk_graph_preproc(g);
    if (!pre.valid || pre.crop_h <= 0 || pre.crop_w <= 0 ||
        (pre.channels != 1 && pre.channels != 3))
        return nk_fail(ctx, NK_INVALID_ARG,
                       "the model has no preprocessing metadata (input size, "
                       "mean, std): images cannot be turned into its input");
    for (int c = 0; c < pre.channels; c++)
        if (!(pre.std[c] != 0.0f) || !isfinite(pre.std[c]))
            return nk_fail(ctx, NK_INVALID_ARG, "the model's preprocessing "
                           "std[%d] is %g, expected non-zero", c,
                           (double)pre.std[c]);
    if (g->n_inputs != 1)
        return nk_fail(ctx, NK_UNSUPPORTED, "the model has %d inputs, "
                       "expected one image input", g->n_inputs);
    if ((st = nk_train_layers_parse(ctx, o->train_layers, &t->tl)))
        return st;

    /* data */
    nk_dataset *all = NULL;
    if ((st = nk_dataset_open(ctx, o->data, 2, 0, NULL, &all)))
        return st;
    if (o->val) {
        t->train = all;
        st = nk_dataset_open(ctx, o->val, 1, all->n_classes,
                             (const char *const *)all->classes, &t->val);
    } else if (o->val_split > 0) {
        st = nk_dataset_split(ctx, all, o->val_split, o->seed, &t->train,
                              &t->val);
        nk_dataset_free(all);
    } else {
        t->train = all;
    }
    if (st != NK_OK)
        return st;
    int C = t->train->n_classes;

    /* head */
    if ((st = nk_head_swap(ctx, g, C, o->seed, &t->head))) {
        nk_errmsg_prefix(ctx, "cannot fine-tune this model");
        return st;
    }
    if ((st = nk_graph_set_labels(ctx, g, C,
                                  (const char *const *)t->train->classes)) ||
        (st = nk_head_set_trainable(ctx, g, &t->head, &t->tl, &t->trainable)) ||
        (st = nk_graph_own_params(ctx, g)))
        return st;
    t->best_conf = nk_calloc((size_t)C * C, sizeof *t->best_conf);
    t->hist = nk_calloc((size_t)o->epochs, sizeof *t->hist);
    if (!t->best_conf || !t->hist)
        return nk_fail(ctx, NK_NOMEM, "out of memory");

    /* transforms and mode */
    t->tf_eval = nk_transform_make(&pre, 0);
    t->tf_train = nk_transform_make(&pre, o->augment);
    t->tf_train.vflip = o->augment && o->vflip;
    t->features = t->tl.kind == NK_TRAIN_HEAD && !o->augment &&
                  o->feature_cache;
    t->weight_decay = o->weight_decay >= 0
                          ? o->weight_decay
                          : (o->optimizer == NK_OPTIMIZER_ADAMW ? 0.01f : 0.0f);
    build_config(t);

    /* logs */
    if (o->logdir || o->output) {
        if (o->logdir) {
            t->logdir = nk_strdup(o->logdir);
        } else {
            size_t n = strlen(o->output) + 8;
            if ((t->logdir = nk_malloc(n)))
                snprintf(t->logdir, n, "%s.logs", o->output);
        }
        if (!t->logdir)
            return nk_fail(ctx, NK_NOMEM, "out of memory");
        if ((st = make_dirs(ctx, t->logdir)))
            return st;
        t->ckpt_path = path_join(t->logdir, "checkpoint.nkckpt");
        t->report_path = path_join(t->logdir, "report.html");
        if (!t->ckpt_path || !t->report_path)
            return nk_fail(ctx, NK_NOMEM, "out of memory");
    } else if (o->resume) {
        return nk_fail(ctx, NK_INVALID_ARG, "--resume needs a logdir (or an "
                       "output path) to find the checkpoint in");
    }

    int workers = o->workers > 0 ? o->workers : nk_ctx_threads(ctx);
    if (t->features) {
        char msg[256];
        snprintf(msg, sizeof msg, "computing backbone features of %d "
                 "training and %d validation images once", t->train->n,
                 t->val ? t->val->n : 0);
        message(t, NK_TRAIN_INFO, msg);
        if ((st = nk_features_compute(ctx, g, &t->head, t->train, &t->tf_eval,
                                      o->batch, workers, warn_lines, t,
                                      &t->ftrain, &t->ltrain, &t->n_ftrain)))
            return st;
        if (t->val &&
            (st = nk_features_compute(ctx, g, &t->head, t->val, &t->tf_eval,
                                      o->batch, workers, warn_lines, t,
                                      &t->fval, &t->lval, &t->n_fval)))
            return st;
        if ((st = nk_features_head_graph(ctx, g, &t->head, &t->hg)))
            return st;
        t->tg = t->hg;
        t->batches_per_epoch = (t->n_ftrain + o->batch - 1) / o->batch;
    } else {
        t->tg = g;
        nk_loader_opts lo = {.batch = o->batch, .workers = workers,
                             .shuffle = 1, .augment = o->augment,
                             .seed = o->seed};
        if ((st = nk_loader_create(ctx, t->train, &t->tf_train, &lo,
                                   &t->loader)))
            return st;
        if (t->val) {
            nk_loader_opts vo = {.batch = o->batch, .workers = workers};
            if ((st = nk_loader_create(ctx, t->val, &t->tf_eval, &vo,
                                       &t->vloader)))
                return st;
        }
        t->batches_per_epoch = nk_loader_num_batches(t->loader);
    }
    for (int i = 0; i < t->tg->n_nodes; i++)
        t->has_bn |= t->tg->nodes[i].op == NK_OP_BATCHNORM;
    if (t->n_ftrain == 0 && t->features)
        return nk_fail(ctx, NK_FORMAT, "%s: none of the %d training images "
                       "could be read", o->data, t->train->n);

    /* optimiser and schedule */
    nk_optim_opts oo = {0};
    oo.kind = o->optimizer == NK_OPTIMIZER_SGD    ? NK_OPTIM_SGD
              : o->optimizer == NK_OPTIMIZER_ADAM ? NK_OPTIM_ADAM
                                                  : NK_OPTIM_ADAMW;
    oo.lr = o->lr;
    oo.momentum = o->optimizer == NK_OPTIMIZER_SGD ? o->momentum : 0;
    oo.nesterov = o->nesterov;
    oo.weight_decay = t->weight_decay;
    if ((st = nk_optim_create(ctx, t->tg, &oo, &t->opt)))
        return st;
    int64_t bpe = t->batches_per_epoch > 0 ? t->batches_per_epoch : 1;
    t->sched.kind = o->schedule == NK_SCHEDULE_STEP     ? NK_LR_STEP
                    : o->schedule == NK_SCHEDULE_COSINE ? NK_LR_COSINE
                                                        : NK_LR_CONSTANT;
    t->sched.base_lr = o->lr;
    t->sched.step_size = (int)(o->step_epochs * bpe);
    t->sched.gamma = o->gamma;
    t->sched.total = (int)(o->epochs * bpe);
    t->sched.min_lr = 0;
    t->sched.warmup = (int)(o->warmup_epochs * bpe);
    return NK_OK;
}

/* ---- the run ----------------------------------------------------------------- */

static void tr_free(tr *t)
{
    nk_loader_free(t->loader);
    nk_loader_free(t->vloader);
    nk_optim_free(t->opt);
    nk_graph_free(t->hg);
    nk_free(t->ftrain);
    nk_free(t->fval);
    nk_free(t->ltrain);
    nk_free(t->lval);
    nk_dataset_free(t->train);
    nk_dataset_free(t->val);
    nk_free(t->hist);
    nk_free(t->best_conf);
    nk_ckpt_clear(&t->best);
    nk_tfevents_close(t->ev);
    nk_free(t->logdir);
    nk_free(t->ckpt_path);
    nk_free(t->report_path);
}

nk_status nk_finetune(nk_ctx *ctx, nk_graph *g, const nk_finetune_opts *opts,
                      nk_train_cb cb, void *user, nk_finetune_result *res)
{
    if (!g || !opts)
        return nk_fail(ctx, NK_INVALID_ARG, "nk_finetune: NULL argument");
    if (res)
        memset(res, 0, sizeof *res);
    nk_status st = check_opts(ctx, opts);
    if (st != NK_OK)
        return st;
    tr t;
    memset(&t, 0, sizeof t);
    t.ctx = ctx;
    t.g = g;
    t.o = opts;
    t.cb = cb;
    t.user = user;
    t.best_acc = -1;
    int C = 0, first_epoch = 0;
    if ((st = setup(&t)))
        goto done;
    C = t.train->n_classes;
    if (opts->resume) {
        int found;
        if ((st = load_checkpoint(&t, &found)))
            goto done;
        if (!found)
            message(&t, NK_TRAIN_INFO, "no checkpoint to resume from: "
                                       "starting from the beginning");
    }
    first_epoch = t.epochs_done;
    if (t.logdir && (st = nk_tfevents_open(ctx, t.logdir, &t.ev)))
        goto done;

    nk_train_progress p;
    memset(&p, 0, sizeof p);
    p.event = NK_TRAIN_START;
    p.epochs = opts->epochs;
    p.batches = t.batches_per_epoch;
    p.n_classes = C;
    p.n_train = t.train->n;
    p.n_val = t.val ? t.val->n : 0;
    p.head = t.head.rule;
    p.trainable = t.trainable;
    p.feature_cache = t.features;
    p.resumed_epoch = first_epoch;
    emit(&t, &p);

    ep_stats es = {0};
    for (int e = first_epoch; e < opts->epochs; e++) {
        if ((st = train_epoch(&t, e, &es)))
            goto done;
        if (t.features && (st = nk_copy_params(ctx, g, t.hg)))
            goto done;
        nk_epoch_stats *h = &t.hist[e];
        memset(h, 0, sizeof *h);
        double dt = now() - es.t0;
        h->train_loss = es.images ? es.loss_sum / (double)es.images : 0;
        h->train_acc = es.images ? (double)es.correct / (double)es.images : 0;
        h->lr = nk_lr_at(&t.sched, (int)(t.step > 0 ? t.step - 1 : 0));
        h->images_per_sec = dt > 0 ? (double)es.images / dt : 0;
        int is_best = 0;
        if (t.val) {
            int64_t *conf = nk_malloc((size_t)C * C * sizeof *conf);
            if (!conf) {
                st = nk_fail(ctx, NK_NOMEM, "out of memory");
                goto done;
            }
            st = validate(&t, &h->val_loss, &h->val_acc, conf);
            h->has_val = 1;
            if (st == NK_OK && h->val_acc > t.best_acc) {
                is_best = 1;
                memcpy(t.best_conf, conf, (size_t)C * C * sizeof *conf);
            }
            nk_free(conf);
            if (st != NK_OK)
                goto done;
        } else {
            is_best = 1; /* without validation the last epoch is kept */
        }
        if (is_best) {
            t.best_epoch = e + 1;
            t.best_acc = t.val ? h->val_acc : -1;
            if ((st = snapshot_best(&t)))
                goto done;
        }
        t.epochs_done = e + 1;
        if (t.ckpt_path && (st = save_checkpoint(&t)))
            goto done;
        if ((st = log_epoch(&t, e)))
            goto done;
        if (t.report_path && (st = write_report(&t)))
            goto done;

        memset(&p, 0, sizeof p);
        p.event = NK_TRAIN_EPOCH;
        p.epoch = e + 1;
        p.epochs = opts->epochs;
        p.batch = p.batches = t.batches_per_epoch;
        p.images = es.images;
        p.images_per_sec = h->images_per_sec;
        p.loss = h->train_loss;
        p.accuracy = h->train_acc;
        p.lr = h->lr;
        p.has_val = h->has_val != 0;
        p.val_loss = h->val_loss;
        p.val_accuracy = h->val_acc;
        p.is_best = is_best;
        p.skipped = nk_dataset_bad_count(t.train) +
                    (t.val ? nk_dataset_bad_count(t.val) : 0);
        emit(&t, &p);
    }
    if (t.epochs_done > 0 && t.best.n > 0)
        restore_best(&t);
    if (t.report_path && t.epochs_done > first_epoch &&
        (st = write_report(&t)))
        goto done;
    if (opts->output && (st = nk_model_save(ctx, g, opts->output,
                                            NK_FORMAT_AUTO)))
        goto done;
    if (res) {
        res->epochs_run = t.epochs_done - first_epoch;
        res->best_epoch = t.best_epoch;
        res->best_val_accuracy = t.val ? t.best_acc : -1;
        if (t.epochs_done > 0) {
            const nk_epoch_stats *h = &t.hist[t.epochs_done - 1];
            res->train_loss = h->train_loss;
            res->train_accuracy = h->train_acc;
            res->images_per_sec = h->images_per_sec;
        }
        res->skipped = nk_dataset_bad_count(t.train) +
                       (t.val ? nk_dataset_bad_count(t.val) : 0);
        res->n_classes = C;
    }
done:
    tr_free(&t);
    return st;
}
