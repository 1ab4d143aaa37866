/*
 * env.c — the hub's settings (options, then environment variables, then
 * defaults) and small file-system helpers shared by the hub's files.
 */
#include "hub/hub.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *hub_strf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = nk_malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static const char *env_str(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static long env_long(const char *name, long def, long lo, long hi)
{
    const char *v = env_str(name);
    if (!v)
        return def;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x < lo || x > hi)
        return def;
    return x;
}

/* A copy of url without trailing slashes. */
static char *trim_url(const char *url)
{
    char *s = nk_strdup(url);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        s[--n] = 0;
    return s;
}

static nk_status find_home(nk_ctx *ctx, const nk_hub_opts *opts, char **out)
{
    const char *h = opts && opts->home ? opts->home : env_str("NNKIT_HOME");
    if (h) {
        *out = nk_strdup(h);
    } else if ((h = env_str("XDG_CACHE_HOME"))) {
        *out = hub_strf("%s/nnkit", h);
    } else if ((h = env_str("HOME"))) {
        *out = hub_strf("%s/.cache/nnkit", h);
    } else {
        return nk_fail(ctx, NK_INVALID_ARG,
                       "hub: no cache directory: set NNKIT_HOME, "
                       "XDG_CACHE_HOME or HOME");
    }
    return *out ? NK_OK : nk_fail(ctx, NK_NOMEM, "hub: out of memory");
}

nk_status hub_env_init(nk_ctx *ctx, const nk_hub_opts *opts, hub_env *env)
{
    memset(env, 0, sizeof *env);
    nk_status st = find_home(ctx, opts, &env->home);
    if (st)
        return st;
    env->github_buf =
        trim_url(env_str("NNKIT_GITHUB_URL") ? env_str("NNKIT_GITHUB_URL")
                                             : "https://github.com");
    env->api_buf = trim_url(env_str("NNKIT_GITHUB_API_URL")
                                ? env_str("NNKIT_GITHUB_API_URL")
                                : "https://api.github.com");
    if (env_str("NNKIT_HUB_MIRROR"))
        env->mirror_buf = trim_url(env_str("NNKIT_HUB_MIRROR"));
    if (!env->github_buf || !env->api_buf ||
        (env_str("NNKIT_HUB_MIRROR") && !env->mirror_buf)) {
        hub_env_clear(env);
        return nk_fail(ctx, NK_NOMEM, "hub: out of memory");
    }
    env->github_url = env->github_buf;
    env->api_url = env->api_buf;
    env->mirror = env->mirror_buf;
    env->index = env_str("NNKIT_HUB_INDEX");
    env->token = env_str("GITHUB_TOKEN");
    env->ca_file = env_str("CURL_CA_BUNDLE") ? env_str("CURL_CA_BUNDLE")
                                             : env_str("SSL_CERT_FILE");
    env->timeout = env_long("NNKIT_HUB_TIMEOUT", 30, 1, 3600);
    env->retries = (int)env_long("NNKIT_HUB_RETRIES", 4, 0, 100);
    env->backoff_ms = env_long("NNKIT_HUB_BACKOFF_MS", 500, 0, 600000);
    env->max_download = (uint64_t)env_long("NNKIT_HUB_MAX_DOWNLOAD_MB",
                                           4096, 1, 1L << 20) << 20;
    env->max_extract = (uint64_t)env_long("NNKIT_HUB_MAX_EXTRACT_MB", 1024,
                                          1, 1L << 20) << 20;
    const char *off = env_str("NNKIT_OFFLINE");
    env->offline = (opts && opts->offline) ||
                   (off && strcmp(off, "0") != 0 && strcmp(off, "") != 0);
    if (opts) {
        env->progress = opts->progress;
        env->progress_user = opts->progress_user;
    }
    return NK_OK;
}

void hub_env_clear(hub_env *env)
{
    nk_free(env->home);
    nk_free(env->github_buf);
    nk_free(env->api_buf);
    nk_free(env->mirror_buf);
    memset(env, 0, sizeof *env);
}

nk_status hub_mkdirs(nk_ctx *ctx, const char *path)
{
    char *p = nk_strdup(path);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "hub: out of memory");
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != 0)
            continue;
        char c = *s;
        *s = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            nk_status st = nk_fail(ctx, NK_IO, "%s: cannot create directory: "
                                   "%s", p, strerror(errno));
            nk_free(p);
            return st;
        }
        *s = c;
        if (!c)
            break;
    }
    nk_free(p);
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return nk_fail(ctx, NK_IO, "%s: not a directory", path);
    return NK_OK;
}

void hub_rmtree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *de;
            while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                    continue;
                char *c = hub_strf("%s/%s", path, de->d_name);
                if (c) {
                    hub_rmtree(c);
                    nk_free(c);
                }
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

bool hub_valid_name(const char *s)
{
    if (!s || !*s || strlen(s) > 100 || !strcmp(s, ".") || !strcmp(s, ".."))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' ||
              *s == '-'))
            return false;
    return true;
}

nk_status nk_hub_home(nk_ctx *ctx, const nk_hub_opts *opts, char *buf,
                      size_t n)
{
    char *h = NULL;
    nk_status st = find_home(ctx, opts, &h);
    if (st)
        return st;
    size_t l = strlen(h);
    if (!buf || l >= n) {
        nk_free(h);
        return nk_fail(ctx, NK_INVALID_ARG,
                       "hub: cache path needs %zu bytes, buffer has %zu",
                       l + 1, n);
    }
    memcpy(buf, h, l + 1);
    nk_free(h);
    return NK_OK;
}
