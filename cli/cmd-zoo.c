/*
 * cmd-zoo.c — `nnkit zoo list` (the architectures the library can build)
 * and `nnkit zoo create` (build one, optionally load .pth weights, save).
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static int zoo_list(nk_ctx *ctx, int argc, char **argv)
{
    int json = 0;
    const cli_opt opts[] = {
        {"json", 0, CLI_FLAG, NULL, "print a JSON array instead of a table",
         &json},
        {0},
    };
    const cli_spec spec = {"zoo list", "[--json]",
                           "List the architectures of the model zoo.", opts,
                           0, 0};
    cli_list pos = {0};
    int rc = cli_parse(&spec, argc, argv, &pos);
    cli_list_free(&pos);
    if (rc >= 0)
        return rc;
    int n = nk_zoo_count();
    if (json) {
        printf("[");
        for (int i = 0; i < n; i++) {
            printf("%s\n  {\"name\": ", i ? "," : "");
            cli_json_str(stdout, nk_zoo_name(i));
            printf(", \"description\": ");
            cli_json_str(stdout, nk_zoo_description(i));
            printf(", \"default_classes\": %d, \"input_size\": %d, "
                   "\"input_size_free\": %s}",
                   nk_zoo_default_classes(i), nk_zoo_default_input_size(i),
                   nk_zoo_input_size_free(i) ? "true" : "false");
        }
        printf("\n]\n");
        return CLI_OK;
    }
    int wname = 4;
    for (int i = 0; i < n; i++) {
        int l = (int)strlen(nk_zoo_name(i));
        if (l > wname)
            wname = l;
    }
    /* INPUT: the default size; "only" when --input-size cannot change it */
    printf("%-*s  %7s  %-8s  %s\n", wname, "NAME", "CLASSES", "INPUT",
           "DESCRIPTION");
    for (int i = 0; i < n; i++) {
        char in[32];
        snprintf(in, sizeof in, "%d%s", nk_zoo_default_input_size(i),
                 nk_zoo_input_size_free(i) ? "" : " only");
        printf("%-*s  %7d  %-8s  %s\n", wname, nk_zoo_name(i),
               nk_zoo_default_classes(i), in, nk_zoo_description(i));
    }
    return CLI_OK;
}

static int zoo_create(nk_ctx *ctx, int argc, char **argv)
{
    long long classes = 0, seed = 0, size = 0;
    double width = 0;
    const char *weights = NULL, *out = NULL;
    int no_strict = 0;
    const cli_opt opts[] = {
        {"classes", 0, CLI_INT, "N", "number of output classes "
         "(default: the architecture's)", &classes},
        {"width-mult", 0, CLI_FLOAT, "X", "MobileNet width multiplier "
         "(default 1.0)", &width},
        {"input-size", 0, CLI_INT, "N", "input height = width (ResNet, "
         "MobileNet: 32..4096; default 224, LeNet 28); preprocessing "
         "resizes to round(N*256/224) and crops N", &size},
        {"weights", 0, CLI_STRING, "FILE.pth", "load a PyTorch state dict "
         "into the new model", &weights},
        {"seed", 0, CLI_INT, "S", "seed of the random initialisation "
         "(default 0)", &seed},
        {"no-strict", 0, CLI_FLAG, NULL, "accept missing, unexpected or "
         "mis-shaped keys in --weights", &no_strict},
        {"output", 'o', CLI_STRING, "OUT", "the model file to write "
         "(required; format by extension)", &out},
        {0},
    };
    const cli_spec spec = {
        "zoo create", "ARCH -o OUT [options]",
        "Build an architecture of the zoo (torchvision parameter names and\n"
        "initialisation), optionally load .pth weights, and save it.",
        opts, 1, 1};
    cli_list pos = {0};
    int rc = cli_parse(&spec, argc, argv, &pos);
    const char *arch = pos.n ? pos.v[0] : NULL;
    cli_list_free(&pos);
    if (rc >= 0)
        return rc;
    if (!out)
        return cli_usage_error(spec.name, "-o OUT is required");
    if (classes < 0 || classes > 1000000)
        return cli_usage_error(spec.name, "--classes %lld out of range",
                               classes);
    if (width < 0 || width > 16)
        return cli_usage_error(spec.name, "--width-mult %g out of range",
                               width);

    if (size < 0 || size > 4096)
        return cli_usage_error(spec.name, "--input-size %lld out of range",
                               size);

    nk_zoo_opts zo = {.classes = (int)classes, .width_mult = (float)width,
                      .seed = (uint64_t)seed, .input_size = (int)size};
    nk_graph *g = NULL;
    if (nk_zoo_create(ctx, arch, &zo, &g) != NK_OK)
        return cli_fail(ctx);
    if (weights) {
        nk_load_report rep;
        memset(&rep, 0, sizeof rep);
        nk_status st = nk_graph_load_pth(ctx, g, weights, !no_strict, &rep);
        if (st != NK_OK) {
            rc = cli_fail(ctx);
            nk_load_report_clear(&rep);
            nk_graph_free(g);
            return rc;
        }
        if (rep.n_missing || rep.n_unexpected || rep.n_mismatched)
            fprintf(stderr,
                    "nnkit: %s: %d loaded, %d missing, %d unexpected, "
                    "%d mismatched\n%s",
                    weights, rep.n_loaded, rep.n_missing, rep.n_unexpected,
                    rep.n_mismatched, rep.text ? rep.text : "");
        else if (cli_stderr_tty())
            fprintf(stderr, "%s: loaded %d tensors\n", weights, rep.n_loaded);
        nk_load_report_clear(&rep);
    }
    if (nk_model_save(ctx, g, out, NK_FORMAT_AUTO) != NK_OK) {
        rc = cli_fail(ctx);
        nk_graph_free(g);
        return rc;
    }
    if (cli_stdout_tty())
        printf("wrote %s (%s, %lld parameters)\n", out, arch,
               (long long)nk_graph_param_count(g));
    nk_graph_free(g);
    return CLI_OK;
}

static void zoo_usage(FILE *f)
{
    fprintf(f, "usage: nnkit zoo list [--json]\n"
               "       nnkit zoo create ARCH -o OUT [--classes N] "
               "[--width-mult X] [--input-size N]\n"
               "                         [--weights F.pth] [--seed S] "
               "[--no-strict]\n"
               "\nsubcommands:\n"
               "  list       list the architectures\n"
               "  create     build a model and save it\n"
               "\nRun 'nnkit zoo <subcommand> --help' for its options.\n");
}

int cmd_zoo(nk_ctx *ctx, int argc, char **argv)
{
    if (argc < 2) {
        zoo_usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        zoo_usage(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "list") == 0)
        return zoo_list(ctx, argc - 1, argv + 1);
    if (strcmp(argv[1], "create") == 0)
        return zoo_create(ctx, argc - 1, argv + 1);
    return cli_usage_error("zoo", "unknown subcommand '%s' (list, create)",
                           argv[1]);
}
