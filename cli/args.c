/*
 * args.c — the option tables: one per command, used both to parse argv and
 * to print --help (in the spirit of llama.cpp's common/arg), plus the
 * small output helpers every command shares.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_list_push(cli_list *l, const char *s)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 8;
        const char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = s;
    return 0;
}

void cli_list_free(cli_list *l)
{
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

int cli_parse_int(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno)
        return -1;
    *out = v;
    return 0;
}

static int parse_float(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

void cli_print_help(const cli_spec *spec, FILE *f)
{
    fprintf(f, "usage: nnkit %s %s\n\n%s\n", spec->name, spec->usage,
            spec->summary);
    fprintf(f, "\noptions:\n");
    const cli_opt *o;
    for (o = spec->opts; o && o->name; o++) {
        char left[96];
        int n = o->short_name
                    ? snprintf(left, sizeof left, "-%c, --%s", o->short_name,
                               o->name)
                    : snprintf(left, sizeof left, "    --%s", o->name);
        if (o->kind != CLI_FLAG && n > 0 && (size_t)n < sizeof left)
            snprintf(left + n, sizeof left - (size_t)n, " %s",
                     o->metavar ? o->metavar : "VALUE");
        fprintf(f, "  %-28s %s%s\n", left, o->help,
                o->kind == CLI_LIST ? " (repeatable)" : "");
    }
    fprintf(f, "  %-28s %s\n", "-h, --help", "show this help and exit");
}

static const cli_opt *find_long(const cli_spec *spec, const char *name,
                                size_t len)
{
    for (const cli_opt *o = spec->opts; o && o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    return NULL;
}

static const cli_opt *find_short(const cli_spec *spec, char c)
{
    for (const cli_opt *o = spec->opts; o && o->name; o++)
        if (o->short_name == c)
            return o;
    return NULL;
}

static int set_value(const cli_spec *spec, const cli_opt *o, const char *v)
{
    switch (o->kind) {
    case CLI_FLAG:
        *(int *)o->dest = 1;
        return 0;
    case CLI_INT:
        if (cli_parse_int(v, (long long *)o->dest) != 0)
            return cli_usage_error(spec->name,
                                   "--%s expects an integer, got '%s'",
                                   o->name, v);
        return 0;
    case CLI_FLOAT:
        if (parse_float(v, (double *)o->dest) != 0)
            return cli_usage_error(spec->name,
                                   "--%s expects a number, got '%s'",
                                   o->name, v);
        return 0;
    case CLI_STRING:
        *(const char **)o->dest = v;
        return 0;
    case CLI_LIST:
        if (cli_list_push((cli_list *)o->dest, v) != 0)
            return cli_error("out of memory");
        return 0;
    }
    return 0;
}

int cli_parse(const cli_spec *spec, int argc, char **argv, cli_list *pos)
{
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const cli_opt *o = NULL;
        const char *val = NULL;
        if (only_pos || a[0] != '-' || a[1] == 0) {
            if (cli_list_push(pos, a) != 0)
                return cli_error("out of memory");
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cli_print_help(spec, stdout);
            return CLI_OK;
        }
        if (a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
            o = find_long(spec, a + 2, len);
            if (!o)
                return cli_usage_error(spec->name, "unknown option '%.*s'",
                                       (int)(len + 2), a);
            if (eq) {
                if (o->kind == CLI_FLAG)
                    return cli_usage_error(spec->name,
                                           "--%s takes no value", o->name);
                val = eq + 1;
            }
        } else {
            o = a[2] == 0 ? find_short(spec, a[1]) : NULL;
            if (!o)
                return cli_usage_error(spec->name, "unknown option '%s'", a);
        }
        if (o->kind != CLI_FLAG && !val) {
            if (i + 1 >= argc)
                return cli_usage_error(spec->name, "%s needs a value (%s)",
                                       a, o->metavar ? o->metavar : "VALUE");
            val = argv[++i];
        }
        int r = set_value(spec, o, val);
        if (r != 0)
            return r;
    }
    if (pos->n < spec->min_pos)
        return cli_usage_error(spec->name, "missing argument (usage: nnkit %s %s)",
                               spec->name, spec->usage);
    if (spec->max_pos >= 0 && pos->n > spec->max_pos)
        return cli_usage_error(spec->name, "unexpected argument '%s'",
                               pos->v[spec->max_pos]);
    return -1;
}

/* ---- errors -------------------------------------------------------------- */

int cli_fail(nk_ctx *ctx)
{
    const char *m = nk_errmsg(ctx);
    fprintf(stderr, "nnkit: %s\n", m && *m ? m : "unknown error");
    return CLI_ERR;
}

int cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("nnkit: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_ERR;
}

int cli_usage_error(const char *name, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "nnkit %s: ", name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'nnkit %s --help'.\n", name);
    return CLI_USAGE;
}

int cli_stdout_tty(void) { return isatty(STDOUT_FILENO); }
int cli_stderr_tty(void) { return isatty(STDERR_FILENO); }

/* ---- output helpers ------------------------------------------------------ */

void cli_json_str(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f); /* UTF-8 passes through */
        }
    }
    fputc('"', f);
}

char *cli_shape_str(const nk_tensor *t, char *buf, size_t n)
{
    size_t at = 0;
    int rank = nk_tensor_rank(t);
    buf[0] = 0;
    at += (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < rank && at < n; i++) {
        const char *sym = nk_tensor_dim_name(t, i);
        int64_t d = nk_tensor_dim(t, i);
        if (sym)
            at += (size_t)snprintf(buf + at, n - at, "%s%s", i ? ", " : "", sym);
        else if (d < 0)
            at += (size_t)snprintf(buf + at, n - at, "%s?", i ? ", " : "");
        else
            at += (size_t)snprintf(buf + at, n - at, "%s%lld", i ? ", " : "",
                                   (long long)d);
    }
    if (at < n)
        snprintf(buf + at, n - at, "]");
    return buf;
}
