/*
 * cli.h — what the nnkit command's files share: the command functions,
 * the option table that both parses arguments and prints --help, and the
 * helpers for errors, JSON strings and aligned tables. Only nnkit.h below.
 */
#ifndef NK_CLI_H
#define NK_CLI_H

#include "nnkit.h"

#include <stdio.h>

/* Exit statuses. */
enum { CLI_OK = 0, CLI_ERR = 1, CLI_USAGE = 2 };

/* A command: argv[0] is the command's name; returns an exit status. */
typedef int (*cli_cmd_fn)(nk_ctx *ctx, int argc, char **argv);

int cmd_zoo(nk_ctx *ctx, int argc, char **argv);
int cmd_info(nk_ctx *ctx, int argc, char **argv);
int cmd_run(nk_ctx *ctx, int argc, char **argv);
int cmd_convert(nk_ctx *ctx, int argc, char **argv);
int cmd_hub(nk_ctx *ctx, int argc, char **argv);
int cmd_finetune(nk_ctx *ctx, int argc, char **argv);
int cmd_eval(nk_ctx *ctx, int argc, char **argv);
int cmd_bench(nk_ctx *ctx, int argc, char **argv);

/* ---- options ------------------------------------------------------------ */

typedef enum cli_opt_kind {
    CLI_FLAG,   /* int *: set to 1 */
    CLI_INT,    /* long long *: integer value */
    CLI_FLOAT,  /* double * */
    CLI_STRING, /* const char ** (points into argv) */
    CLI_LIST,   /* cli_list *: repeated option, every value kept */
} cli_opt_kind;

typedef struct cli_list {
    const char **v;
    int n, cap;
} cli_list;

typedef struct cli_opt {
    const char *name;    /* long name without "--" ("topk") */
    char short_name;     /* 'o', or 0 */
    cli_opt_kind kind;
    const char *metavar; /* "K" (values only) */
    const char *help;
    void *dest;
} cli_opt;

/* A command's interface: usage line, description, options, positionals. */
typedef struct cli_spec {
    const char *name;    /* "run", "zoo create" */
    const char *usage;   /* after "nnkit NAME ": "MODEL [IMAGE ...] [options]" */
    const char *summary;
    const cli_opt *opts; /* terminated by an entry with name == NULL */
    int min_pos, max_pos; /* positional count bounds (max -1 = any) */
} cli_spec;

/*
 * cli_parse — parse argv[1..argc) by spec: options may come anywhere,
 * "--name value" or "--name=value", "-o value", "--" ends options.
 * Positionals are appended to pos. Returns -1 to go on, CLI_OK when --help
 * was printed, CLI_USAGE after printing a usage error to stderr.
 */
int cli_parse(const cli_spec *spec, int argc, char **argv, cli_list *pos);
void cli_print_help(const cli_spec *spec, FILE *f);
int cli_list_push(cli_list *l, const char *s);
void cli_list_free(cli_list *l);

/* ---- errors and output -------------------------------------------------- */

/* Print "nnkit: <library message>" to stderr; return CLI_ERR. */
int cli_fail(nk_ctx *ctx);
/* Print "nnkit: <message>" to stderr; return CLI_ERR. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "nnkit NAME: <message>" and a --help hint; return CLI_USAGE. */
int cli_usage_error(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Whether stdout / stderr is a terminal (progress and noise only then). */
int cli_stdout_tty(void);
int cli_stderr_tty(void);

/* Write s as a JSON string literal (quoted, escaped); NULL prints null. */
void cli_json_str(FILE *f, const char *s);

/* "[batch, 3, 224, 224]" of a tensor into buf. */
char *cli_shape_str(const nk_tensor *t, char *buf, size_t n);

/* Parse a non-negative / positive integer option value strictly. */
int cli_parse_int(const char *s, long long *out);

#endif /* NK_CLI_H */
