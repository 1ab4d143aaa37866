/*
 * cmd-finetune.c — `nnkit finetune MODEL --data DIR -o OUT`: swap the
 * classifier for the folder's classes and train; a progress bar per epoch
 * on a terminal, one line per epoch otherwise.
 */
#include "cli.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

typedef struct ft_ui {
    int tty;            /* progress bar on stderr */
    int bar_open;       /* a bar line is on screen */
    long long kill_after; /* tests: SIGKILL after this many batches */
    long long batches_seen;
} ft_ui;

static void clear_bar(ft_ui *ui)
{
    if (ui->bar_open) {
        fprintf(stderr, "\r\033[K");
        ui->bar_open = 0;
    }
}

static void on_progress(void *user, const nk_train_progress *p)
{
    ft_ui *ui = user;
    switch (p->event) {
    case NK_TRAIN_START:
        printf("%lld training images in %d classes", (long long)p->n_train,
               p->n_classes);
        if (p->n_val)
            printf(", %lld validation images", (long long)p->n_val);
        printf("; classifier replaced (%s); %lld trainable parameters%s",
               p->head, (long long)p->trainable,
               p->feature_cache ? "; head trained on cached features" : "");
        printf("\n");
        if (p->resumed_epoch)
            printf("resuming after epoch %d of %d\n", p->resumed_epoch,
                   p->epochs);
        fflush(stdout);
        break;
    case NK_TRAIN_BATCH:
        ui->batches_seen++;
        if (ui->kill_after > 0 && ui->batches_seen >= ui->kill_after) {
            fflush(stdout);
            raise(SIGKILL); /* tests of --resume: die like a crash would */
        }
        if (ui->tty && (p->batch % 4 == 0 || p->batch == p->batches)) {
            int width = 30;
            int done = p->batches ? (int)(width * p->batch / p->batches) : 0;
            char bar[64];
            for (int i = 0; i < width; i++)
                bar[i] = i < done ? '#' : '.';
            bar[width] = 0;
            fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %lld/%lld  %.0f img/s  "
                    "loss %.4f  acc %.2f%%", p->epoch, p->epochs, bar,
                    (long long)p->batch, (long long)p->batches,
                    p->images_per_sec, p->loss, 100 * p->accuracy);
            ui->bar_open = 1;
        }
        break;
    case NK_TRAIN_EPOCH:
        clear_bar(ui);
        printf("epoch %d/%d  loss %.4f  acc %.2f%%", p->epoch, p->epochs,
               p->loss, 100 * p->accuracy);
        if (p->has_val)
            printf("  val_loss %.4f  val_acc %.2f%%", p->val_loss,
                   100 * p->val_accuracy);
        printf("  lr %.3g  %.0f img/s%s\n", p->lr, p->images_per_sec,
               p->is_best && p->has_val ? "  (best)" : "");
        fflush(stdout);
        break;
    case NK_TRAIN_WARNING:
        clear_bar(ui);
        fprintf(stderr, "nnkit: warning: %s\n", p->message);
        break;
    case NK_TRAIN_INFO:
        clear_bar(ui);
        if (ui->tty)
            fprintf(stderr, "%s\n", p->message);
        else
            printf("%s\n", p->message);
        break;
    default:
        break;
    }
}

int cmd_finetune(nk_ctx *ctx, int argc, char **argv)
{
    nk_finetune_opts fo;
    nk_finetune_opts_init(&fo);
    const char *data = NULL, *val = NULL, *out = NULL, *logdir = NULL;
    const char *optimizer = NULL, *schedule = NULL, *layers = NULL;
    double val_split = 0, lr = -1, momentum = -1, wd = -1, gamma = -1;
    long long epochs = -1, batch = -1, warmup = -1, step_epochs = -1;
    long long seed = 0, threads = 0, workers = 0;
    int augment = 0, vflip = 0, resume = 0, nesterov = 0, no_cache = 0;
    const cli_opt opts[] = {
        {"data", 0, CLI_STRING, "DIR", "training images: DIR/CLASS/IMAGE "
         "(.jpg, .jpeg, .png); classes sorted by name", &data},
        {"output", 'o', CLI_STRING, "OUT", "the fine-tuned model (.nnk ...)",
         &out},
        {"val", 0, CLI_STRING, "DIR", "validation images, same class "
         "folders", &val},
        {"val-split", 0, CLI_FLOAT, "F", "without --val: hold out this "
         "fraction of each class (seeded)", &val_split},
        {"epochs", 0, CLI_INT, "N", "epochs (default 2)", &epochs},
        {"batch", 0, CLI_INT, "N", "batch size (default 64)", &batch},
        {"lr", 0, CLI_FLOAT, "X", "learning rate (default 0.001)", &lr},
        {"optimizer", 0, CLI_STRING, "NAME", "sgd, adam (default) or adamw",
         &optimizer},
        {"momentum", 0, CLI_FLOAT, "X", "SGD momentum (default 0.9)",
         &momentum},
        {"nesterov", 0, CLI_FLAG, NULL, "SGD with Nesterov momentum",
         &nesterov},
        {"weight-decay", 0, CLI_FLOAT, "X", "weight decay (default 0; "
         "AdamW 0.01)", &wd},
        {"schedule", 0, CLI_STRING, "NAME", "learning-rate schedule: "
         "constant (default), step or cosine", &schedule},
        {"step-epochs", 0, CLI_INT, "N", "step schedule: decay every N "
         "epochs (default 1)", &step_epochs},
        {"gamma", 0, CLI_FLOAT, "X", "step schedule: decay factor (default "
         "0.1)", &gamma},
        {"warmup", 0, CLI_INT, "N", "linear learning-rate warm-up over the "
         "first N epochs", &warmup},
        {"train-layers", 0, CLI_STRING, "WHICH", "head (default), last:N "
         "(the last N weight layers) or all", &layers},
        {"augment", 0, CLI_FLAG, NULL, "random resized crop and horizontal "
         "flip", &augment},
        {"vflip", 0, CLI_FLAG, NULL, "with --augment: random vertical flip "
         "too", &vflip},
        {"seed", 0, CLI_INT, "S", "seed of the head, shuffling, "
         "augmentation and split (default 0)", &seed},
        {"logdir", 0, CLI_STRING, "DIR", "checkpoint, TensorBoard events, "
         "report.html (default OUT.logs)", &logdir},
        {"resume", 0, CLI_FLAG, NULL, "continue the run checkpointed in "
         "the logdir", &resume},
        {"threads", 0, CLI_INT, "N", "compute threads (default: all CPUs)",
         &threads},
        {"workers", 0, CLI_INT, "N", "image decoding threads (default: "
         "--threads)", &workers},
        {"no-feature-cache", 0, CLI_FLAG, NULL, "run the frozen backbone "
         "every epoch instead of caching its features", &no_cache},
        {0},
    };
    const cli_spec spec = {
        "finetune", "MODEL --data DIR -o OUT [options]",
        "Fine-tune a classifier on a folder of images: the model's last\n"
        "fully-connected layer is replaced by one sized to the folder's\n"
        "classes, the rest is frozen unless --train-layers says otherwise,\n"
        "and the best epoch by validation accuracy is written to OUT with\n"
        "the class names as labels.",
        opts, 1, 1};
    cli_list pos = {0};
    int rc = cli_parse(&spec, argc, argv, &pos);
    const char *model = pos.n > 0 ? pos.v[0] : NULL;
    cli_list_free(&pos);
    if (rc >= 0)
        return rc;
    if (!data)
        return cli_usage_error(spec.name, "--data DIR is required");
    if (!out)
        return cli_usage_error(spec.name, "-o OUT is required");
    if (val && val_split != 0)
        return cli_usage_error(spec.name, "use either --val or --val-split");
    if (vflip && !augment)
        return cli_usage_error(spec.name, "--vflip needs --augment");
    fo.data = data;
    fo.val = val;
    fo.val_split = val_split;
    fo.output = out;
    fo.logdir = logdir;
    if (epochs >= 0)
        fo.epochs = epochs > 1000000 ? 1000000 : (int)epochs;
    if (batch >= 0)
        fo.batch = batch > 1000000 ? 1000000 : (int)batch;
    if (lr >= 0)
        fo.lr = (float)lr;
    if (optimizer && nk_optimizer_parse(ctx, optimizer, &fo.optimizer))
        return cli_usage_error(spec.name, "%s", nk_errmsg(ctx));
    if (schedule && nk_schedule_parse(ctx, schedule, &fo.schedule))
        return cli_usage_error(spec.name, "%s", nk_errmsg(ctx));
    if (momentum >= 0)
        fo.momentum = (float)momentum;
    fo.nesterov = nesterov;
    if (wd >= 0)
        fo.weight_decay = (float)wd;
    if (step_epochs >= 0)
        fo.step_epochs = step_epochs > 1000000 ? 1000000 : (int)step_epochs;
    if (gamma >= 0)
        fo.gamma = (float)gamma;
    if (warmup >= 0)
        fo.warmup_epochs = warmup > 1000000 ? 1000000 : (int)warmup;
    if (layers)
        fo.train_layers = layers;
    fo.augment = augment;
    fo.vflip = vflip;
    fo.seed = (uint64_t)seed;
    fo.resume = resume;
    fo.workers = workers > 256 ? 256 : (int)workers;
    fo.feature_cache = !no_cache;
    if (threads > 0)
        nk_ctx_set_threads(ctx, threads > 1024 ? 1024 : (int)threads);

    ft_ui ui = {0};
    ui.tty = cli_stderr_tty();
    const char *k = getenv("NNKIT_TEST_KILL_AFTER_BATCHES");
    if (k && *k)
        ui.kill_after = atoll(k);

    nk_graph *g = NULL;
    if (nk_model_load(ctx, model, &g) != NK_OK)
        return cli_fail(ctx);
    nk_finetune_result res;
    if (nk_finetune(ctx, g, &fo, on_progress, &ui, &res) != NK_OK) {
        clear_bar(&ui);
        rc = cli_fail(ctx);
    } else {
        clear_bar(&ui);
        if (res.best_val_accuracy >= 0)
            printf("best epoch %d: val_acc %.2f%%\n", res.best_epoch,
                   100 * res.best_val_accuracy);
        if (res.skipped)
            printf("skipped %lld unreadable image%s\n",
                   (long long)res.skipped, res.skipped == 1 ? "" : "s");
        if (cli_stdout_tty())
            printf("wrote %s\n", out);
        rc = CLI_OK;
    }
    nk_graph_free(g);
    return rc;
}
