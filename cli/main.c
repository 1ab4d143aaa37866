/*
 * main.c — the nnkit command: global options and the command table
 * (git's git.c). Exit status: 0 success, 1 error, 2 usage error.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

typedef struct cli_command {
    const char *name;
    cli_cmd_fn fn;
    const char *summary;
} cli_command;

static const cli_command commands[] = {
    {"zoo", cmd_zoo, "list the model zoo, or create a model from it"},
    {"info", cmd_info, "summarise a model: layers, shapes, metadata"},
    {"run", cmd_run, "run a model on images or .npy tensors"},
    {"convert", cmd_convert, "convert a model between formats"},
    {"hub", cmd_hub, "pull pretrained models (torch.hub style); cache"},
    {"finetune", cmd_finetune, "train a new classifier on a folder of images"},
    {"eval", cmd_eval, "accuracy and confusion matrix on a folder of images"},
    {"bench", cmd_bench, "time a model: latency, GFLOP/s, % of peak"},
};

static void print_usage(FILE *f)
{
    fprintf(f, "usage: nnkit [--help] [--version] <command> [<args>]\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'nnkit <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 ||
        strcmp(name, "help") == 0) {
        print_usage(stdout);
        return CLI_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("nnkit %s\n", nk_version());
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].name, name) != 0)
            continue;
        nk_ctx *ctx = NULL;
        if (nk_ctx_new(&ctx) != NK_OK) {
            fprintf(stderr, "nnkit: out of memory\n");
            return CLI_ERR;
        }
        int rc = commands[i].fn(ctx, argc - 1, argv + 1);
        nk_ctx_free(ctx);
        if (fflush(stdout) != 0 && rc == CLI_OK) {
            perror("nnkit: write error");
            rc = CLI_ERR;
        }
        return rc;
    }
    fprintf(stderr, "nnkit: '%s' is not a command\n\n", name);
    print_usage(stderr);
    return CLI_USAGE;
}
