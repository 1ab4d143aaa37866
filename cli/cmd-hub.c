/*
 * cmd-hub.c — `nnkit hub pull | list | info | rm | verify`: pretrained
 * models from nnkit's index, GitHub repositories (nnkit-hub.json) and
 * release assets, through the cache of the library's hub API.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- progress bar (stderr, TTY only) ------------------------------------ */

typedef struct progress {
    struct timespec t0, last;
    uint64_t first;  /* bytes already there when we started (resume) */
    int started, drawn;
} progress;

static double elapsed(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) +
           (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void human(double b, char *buf, size_t n)
{
    const char *u[] = {"B", "KB", "MB", "GB", "TB"};
    int i = 0;
    while (b >= 1000 && i < 4) {
        b /= 1000;
        i++;
    }
    snprintf(buf, n, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

static void on_progress(void *user, const char *what, uint64_t done,
                        uint64_t total)
{
    progress *p = user;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!p->started) {
        p->started = 1;
        p->t0 = now;
        p->first = done;
    } else if (elapsed(&p->last, &now) < 0.1 && done != total) {
        return;
    }
    p->last = now;
    double dt = elapsed(&p->t0, &now);
    double rate = dt > 0 && done > p->first ? (double)(done - p->first) / dt
                                            : 0;
    char d[32], t[32], r[32], eta[32] = "--:--";
    human((double)done, d, sizeof d);
    human((double)total, t, sizeof t);
    human(rate, r, sizeof r);
    if (rate > 0 && total > done) {
        long s = (long)((double)(total - done) / rate);
        snprintf(eta, sizeof eta, "%ld:%02ld", s / 60, s % 60);
    } else if (total && done >= total) {
        snprintf(eta, sizeof eta, "0:00");
    }
    const char *name = strrchr(what, '/');
    name = name ? name + 1 : what;
    char bar[26];
    int fill = total ? (int)(25.0 * (double)done / (double)total) : 0;
    for (int i = 0; i < 25; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[25] = 0;
    fprintf(stderr, "\r%-24.24s [%s] %9s / %-9s %9s/s ETA %s ", name, bar,
            d, total ? t : "?", r, eta);
    p->drawn = 1;
}

static void progress_end(progress *p)
{
    if (p->drawn)
        fputc('\n', stderr);
    p->drawn = 0;
}

/* ---- output ------------------------------------------------------------- */

static void entry_json(const nk_hub_entry *e)
{
    printf("{\"name\": ");
    cli_json_str(stdout, e->name);
    printf(", \"kind\": ");
    cli_json_str(stdout, nk_hub_kind_name(e->kind));
    printf(", \"path\": ");
    cli_json_str(stdout, e->path);
    printf(", \"sha256\": ");
    cli_json_str(stdout, e->sha256);
    printf(", \"size\": %llu, \"source\": ", (unsigned long long)e->size);
    cli_json_str(stdout, e->source);
    printf(", \"source_sha256\": ");
    cli_json_str(stdout, e->source_sha256);
    printf(", \"verified\": %s, \"arch\": ", e->verified ? "true" : "false");
    cli_json_str(stdout, e->arch);
    printf(", \"created\": %lld}", (long long)e->created);
}

static void entry_text(const nk_hub_entry *e)
{
    char size[32], when[64] = "?";
    human((double)e->size, size, sizeof size);
    time_t t = (time_t)e->created;
    struct tm tm;
    if (gmtime_r(&t, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    printf("name:          %s\n"
           "kind:          %s\n"
           "path:          %s\n"
           "size:          %s (%llu bytes)\n"
           "sha256:        %s\n",
           e->name, nk_hub_kind_name(e->kind), e->path, size,
           (unsigned long long)e->size, e->sha256);
    if (e->arch[0])
        printf("arch:          %s\n", e->arch);
    if (e->source[0])
        printf("source:        %s\n", e->source);
    if (e->source_sha256[0])
        printf("source sha256: %s (%s)\n", e->source_sha256,
               e->verified ? "verified against the published hash"
                           : "recorded at first download, none published");
    printf("pulled:        %s\n", when);
}

/* ---- pull --------------------------------------------------------------- */

static int hub_pull(nk_ctx *ctx, int argc, char **argv)
{
    const char *out = NULL, *sha = NULL;
    int offline = 0, trust = 0, force = 0, json = 0;
    const cli_opt opts[] = {
        {"output", 'o', CLI_STRING, "OUT", "also write the model (format by "
         "extension) or the asset to OUT", &out},
        {"offline", 0, CLI_FLAG, NULL, "use the cache only, never the "
         "network (also NNKIT_OFFLINE=1)", &offline},
        {"trust", 0, CLI_FLAG, NULL, "trust the repository owner "
         "(remembered in the cache)", &trust},
        {"sha256", 0, CLI_STRING, "HEX", "expected SHA-256 of a release "
         "asset", &sha},
        {"force", 0, CLI_FLAG, NULL, "download again even when cached",
         &force},
        {"json", 0, CLI_FLAG, NULL, "print the cache entry as JSON", &json},
        {0},
    };
    const cli_spec spec = {
        "hub pull",
        "NAME | OWNER/REPO[:REF] MODEL | OWNER/REPO@TAG ASSET [options]",
        "Pull a pretrained model into the cache and print its path:\n"
        "  NAME                    a model of nnkit's index (resnet18, ...)\n"
        "  OWNER/REPO[:REF] MODEL  a model of the repository's nnkit-hub.json\n"
        "  OWNER/REPO@TAG ASSET    a release asset, verified by its digest",
        opts, 1, 2};
    cli_list pos = {0};
    int rc = cli_parse(&spec, argc, argv, &pos);
    const char *what = pos.n > 0 ? pos.v[0] : NULL;
    const char *model = pos.n > 1 ? pos.v[1] : NULL;
    cli_list_free(&pos);
    if (rc >= 0)
        return rc;
    nk_hub_opts o = {0};
    o.offline = offline;
    o.trust = trust;
    o.force = force;
    o.sha256 = sha;
    o.output = out;
    progress prog = {0};
    if (cli_stderr_tty()) {
        o.progress = on_progress;
        o.progress_user = &prog;
    }
    const char *slash = strchr(what, '/');
    if (slash && !trust && !offline && isatty(STDIN_FILENO)) {
        /* Like torch.hub's trust_repo="check": ask on a terminal only. */
        char owner[128];
        size_t n = (size_t)(slash - what);
        snprintf(owner, sizeof owner, "%.*s", (int)n, what);
        if (!nk_hub_owner_trusted(ctx, &o, owner)) {
            fprintf(stderr, "The repository owner '%s' is not trusted yet. "
                            "Trust it and continue? [y/N] ", owner);
            char line[16];
            if (fgets(line, sizeof line, stdin) &&
                (line[0] == 'y' || line[0] == 'Y'))
                o.trust = 1;
        }
    }
    nk_hub_entry e;
    nk_status st = nk_hub_pull(ctx, &o, what, model, &e);
    progress_end(&prog);
    if (st != NK_OK)
        return cli_fail(ctx);
    if (e.kind == NK_HUB_ASSET && !e.verified && !sha)
        fprintf(stderr, "nnkit: no SHA-256 is published for %s; recorded "
                        "sha256:%s (pass --sha256 to pin it)\n",
                e.name, e.source_sha256);
    if (json) {
        entry_json(&e);
        printf("\n");
    } else {
        printf("%s\n", out ? out : e.path);
    }
    nk_hub_entry_clear(&e);
    return CLI_OK;
}

/* ---- list / info / rm / verify ------------------------------------------ */

typedef struct list_state {
    int json, n;
} list_state;

static int list_one(void *user, const nk_hub_entry *e)
{
    list_state *s = user;
    if (s->json) {
        printf("%s\n  ", s->n ? "," : "");
        entry_json(e);
    } else {
        char size[32];
        human((double)e->size, size, sizeof size);
        printf("%-40s %-6s %9s  %.12s  %s\n", e->name,
               nk_hub_kind_name(e->kind), size, e->sha256,
               e->verified ? "verified" : "recorded");
    }
    s->n++;
    return 0;
}

static int hub_list(nk_ctx *ctx, int argc, char **argv)
{
    int json = 0;
    const cli_opt opts[] = {
        {"json", 0, CLI_FLAG, NULL, "print a JSON array", &json},
        {0},
    };
    const cli_spec spec = {"hub list", "[--json]",
                           "List the entries of the hub cache.", opts, 0, 0};
    cli_list pos = {0};
    int rc = cli_parse(&spec, argc, argv, &pos);
    cli_list_free(&pos);
    if (rc >= 0)
        return rc;
    list_state s = {json, 0};
    if (json)
        printf("[");
    else
        printf("%-40s %-6s %9s  %-12s  %s\n", "NAME", "KIND", "SIZE",
               "SHA256", "HASH");
    if (nk_hub_list(ctx, NULL, list_one, &s) != NK_OK)
        return cli_fail(ctx);
    if (json)
        printf("%s]\n", s.n ? "\n" : "");
    return CLI_OK;
}

static int hub_info(nk_ctx *ctx, int argc, char **argv)
{
    int json = 0;
    const cli_opt opts[] = {
        {"json", 0, CLI_FLAG, NULL, "print the entry as JSON", &json},
        {0},
    };
    const cli_spec spec = {"hub info", "NAME [--json]",
                           "Show a cache entry: file, hashes, source.", opts,
                           1, 1};
    cli_list pos = {0};
    int rc = cli_parse(&spec, argc, argv, &pos);
    const char *name = pos.n ? pos.v[0] : NULL;
    cli_list_free(&pos);
    if (rc >= 0)
        return rc;
    nk_hub_entry e;
    if (nk_hub_info(ctx, NULL, name, &e) != NK_OK)
        return cli_fail(ctx);
    if (json) {
        entry_json(&e);
        printf("\n");
    } else {
        entry_text(&e);
    }
    nk_hub_entry_clear(&e);
    return CLI_OK;
}

static int hub_rm(nk_ctx *ctx, int argc, char **argv)
{
    const cli_opt opts[] = {{0}};
    const cli_spec spec = {"hub rm", "NAME",
                           "Remove a cache entry and the downloads only it "
                           "used.", opts, 1, 1};
    cli_list pos = {0};
    int rc = cli_parse(&spec, argc, argv, &pos);
    const char *name = pos.n ? pos.v[0] : NULL;
    cli_list_free(&pos);
    if (rc >= 0)
        return rc;
    if (nk_hub_rm(ctx, NULL, name) != NK_OK)
        return cli_fail(ctx);
    if (cli_stdout_tty())
        printf("removed %s\n", name);
    return CLI_OK;
}

static void verify_one(void *user, const char *name, nk_status st,
                       const char *msg)
{
    (void)user;
    if (st == NK_OK)
        printf("ok       %s\n", name);
    else
        printf("REMOVED  %s: %s\n", name, msg);
}

static int hub_verify(nk_ctx *ctx, int argc, char **argv)
{
    const cli_opt opts[] = {{0}};
    const cli_spec spec = {"hub verify", "",
                           "Re-hash every file of the cache; remove and "
                           "report corrupt entries\n(exit status 1 when "
                           "any were found).", opts, 0, 0};
    cli_list pos = {0};
    int rc = cli_parse(&spec, argc, argv, &pos);
    cli_list_free(&pos);
    if (rc >= 0)
        return rc;
    int bad = 0;
    if (nk_hub_verify(ctx, NULL, verify_one, NULL, &bad) != NK_OK)
        return cli_fail(ctx);
    if (bad)
        fprintf(stderr, "nnkit: %d corrupt item%s removed from the cache\n",
                bad, bad == 1 ? "" : "s");
    return bad ? CLI_ERR : CLI_OK;
}

static void hub_usage(FILE *f)
{
    fprintf(f,
            "usage: nnkit hub pull NAME | OWNER/REPO[:REF] MODEL | "
            "OWNER/REPO@TAG ASSET\n"
            "                      [-o OUT] [--offline] [--trust] "
            "[--sha256 HEX] [--force]\n"
            "       nnkit hub list [--json]\n"
            "       nnkit hub info NAME [--json]\n"
            "       nnkit hub rm NAME\n"
            "       nnkit hub verify\n"
            "\nsubcommands:\n"
            "  pull       download, verify and cache a model or asset\n"
            "  list       list the cache\n"
            "  info       show one cache entry\n"
            "  rm         remove a cache entry\n"
            "  verify     re-hash the cache, remove corrupt entries\n"
            "\nRun 'nnkit hub <subcommand> --help' for its options.\n");
}

int cmd_hub(nk_ctx *ctx, int argc, char **argv)
{
    if (argc < 2) {
        hub_usage(stderr);
        return CLI_USAGE;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
        hub_usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(sub, "pull"))
        return hub_pull(ctx, argc - 1, argv + 1);
    if (!strcmp(sub, "list"))
        return hub_list(ctx, argc - 1, argv + 1);
    if (!strcmp(sub, "info"))
        return hub_info(ctx, argc - 1, argv + 1);
    if (!strcmp(sub, "rm"))
        return hub_rm(ctx, argc - 1, argv + 1);
    if (!strcmp(sub, "verify"))
        return hub_verify(ctx, argc - 1, argv + 1);
    return cli_usage_error("hub", "unknown subcommand '%s' (pull, list, info, "
                           "rm, verify)", sub);
}
