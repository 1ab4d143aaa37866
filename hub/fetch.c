/*
 * fetch.c — downloads over libcurl: retries with backoff on transient
 * failures (connect errors, timeouts, 5xx, 408, 429 with Retry-After),
 * none on permanent ones (404, 401, TLS), HTTP Range resume, a redirect
 * limit, TLS always verified, low-speed timeouts and GITHUB_TOKEN for
 * GitHub hosts only (it never appears in a message).
 */
#include "hub/hub.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HUB_MAX_REDIRECTS 10
#define HUB_MAX_BACKOFF_MS 30000L
#define HUB_MAX_RETRY_AFTER 120L

typedef struct xfer {
    const hub_env *env;
    const char *label;
    int fd;                /* file download, or -1 */
    char *mem;             /* memory download */
    size_t mem_len, mem_cap;
    uint64_t start;        /* bytes already in the file (range start) */
    uint64_t written;      /* bytes written by this attempt */
    uint64_t max;          /* limit of the whole body */
    long status;           /* status of the latest response */
    long retry_after;      /* seconds; -1 when absent */
    int64_t range_start;   /* from Content-Range; -1 when absent */
    bool checked;          /* first body byte of this attempt handled */
    bool too_big, io_err, bad_range;
} xfer;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void init_curl(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_ALL); }

static size_t on_header(char *p, size_t size, size_t n, void *user)
{
    xfer *x = user;
    size_t len = size * n;
    char line[256];
    size_t l = len < sizeof line - 1 ? len : sizeof line - 1;
    memcpy(line, p, l);
    line[l] = 0;
    if (strncmp(line, "HTTP/", 5) == 0) {
        /* A new response (redirects and 100-continue come through too). */
        const char *sp = strchr(line, ' ');
        x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        x->retry_after = -1;
        x->range_start = -1;
    } else if (strncasecmp(line, "Retry-After:", 12) == 0) {
        char *end;
        long v = strtol(line + 12, &end, 10);
        /* Only delta-seconds; an HTTP date falls back to the backoff. */
        if (end != line + 12 && v >= 0)
            x->retry_after = v > HUB_MAX_RETRY_AFTER ? HUB_MAX_RETRY_AFTER : v;
    } else if (strncasecmp(line, "Content-Range:", 14) == 0) {
        const char *b = strstr(line, "bytes ");
        if (b)
            x->range_start = strtoll(b + 6, NULL, 10);
    }
    return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
    xfer *x = user;
    size_t len = size * n;
    if (!x->checked && x->fd >= 0) {
        x->checked = true;
        if (x->start > 0 && x->status == 200) {
            /* The server ignored the Range: start the file over. */
            if (ftruncate(x->fd, 0) != 0) {
                x->io_err = true;
                return 0;
            }
            x->start = 0;
        } else if (x->start > 0 && x->status == 206 &&
                   x->range_start != (int64_t)x->start) {
            x->bad_range = true;
            return 0;
        }
    }
    if (x->start + x->written + len > x->max) {
        x->too_big = true;
        return 0;
    }
    if (x->fd >= 0) {
        size_t done = 0;
        while (done < len) {
            ssize_t w = write(x->fd, p + done, len - done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                x->io_err = true;
                return 0;
            }
            done += (size_t)w;
        }
    } else {
        if (x->mem_len + len + 1 > x->mem_cap) {
            size_t cap = (x->mem_len + len + 1) * 2;
            char *m = nk_realloc(x->mem, cap);
            if (!m) {
                x->io_err = true;
                return 0;
            }
            x->mem = m;
            x->mem_cap = cap;
        }
        memcpy(x->mem + x->mem_len, p, len);
        x->mem_len += len;
        x->mem[x->mem_len] = 0;
    }
    x->written += len;
    return len;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    xfer *x = user;
    (void)ultotal;
    (void)ulnow;
    if (x->env->progress)
        x->env->progress(x->env->progress_user, x->label,
                         x->start + (uint64_t)dlnow,
                         dltotal > 0 ? x->start + (uint64_t)dltotal : 0);
    return 0;
}

static bool has_prefix(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(s, prefix, n) == 0 && (s[n] == '/' || s[n] == 0);
}

static bool is_file_url(const char *url)
{
    return strncasecmp(url, "file:", 5) == 0;
}

/* One attempt: a fresh easy handle with every safety option. */
static CURLcode perform(xfer *x, const char *url, bool api, char *errbuf)
{
    const hub_env *env = x->env;
    CURL *c = curl_easy_init();
    if (!c)
        return CURLE_OUT_OF_MEMORY;
    struct curl_slist *hdr = NULL;
    char auth[512];
    if (env->token && (has_prefix(url, env->github_url) ||
                       has_prefix(url, env->api_url))) {
        /* curl keeps custom Authorization headers off redirected hosts. */
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", env->token);
        hdr = curl_slist_append(hdr, auth);
    }
    if (api) {
        hdr = curl_slist_append(hdr, "Accept: application/vnd.github+json");
        hdr = curl_slist_append(hdr, "X-GitHub-Api-Version: 2022-11-28");
    }
    errbuf[0] = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "nnkit/" NNKIT_VERSION);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,file");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)HUB_MAX_REDIRECTS);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    /* Verification is always on; only the CA bundle is configurable. */
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (env->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, env->ca_file);
    /* A slow or stalled server cannot hang us: connect timeout, and
     * fewer than 1 byte/s for `timeout` seconds aborts. */
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, env->timeout);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, env->timeout);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "identity");
    char range[48];
    if (x->start > 0) {
        if (is_file_url(url)) {
            curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE,
                             (curl_off_t)x->start);
        } else {
            snprintf(range, sizeof range, "%llu-",
                     (unsigned long long)x->start);
            curl_easy_setopt(c, CURLOPT_RANGE, range);
        }
    }
    x->status = 0;
    x->retry_after = -1;
    x->range_start = -1;
    x->written = 0;
    x->checked = false;
    x->too_big = x->io_err = x->bad_range = false;
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK &&
        code)
        x->status = code;
    curl_easy_cleanup(c);
    curl_slist_free_all(hdr);
    /* Do not leave the token on the stack longer than needed. */
    memset(auth, 0, sizeof auth);
    return rc;
}

typedef enum { ATTEMPT_OK, ATTEMPT_RETRY, ATTEMPT_FAIL } attempt_result;

/* Classify one attempt; on failure leave a message (for the last one). */
static attempt_result classify(nk_ctx *ctx, const char *url, CURLcode rc,
                               const xfer *x, const char *errbuf,
                               nk_status *st)
{
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_OK:
        if (x->status == 0 || (x->status >= 200 && x->status < 300))
            return ATTEMPT_OK;
        *st = nk_fail(ctx, NK_NET, "%s: unexpected HTTP status %ld", url,
                      x->status);
        return ATTEMPT_FAIL;
    case CURLE_HTTP_RETURNED_ERROR:
        if (x->status == 408 || x->status == 429 || x->status >= 500) {
            *st = nk_fail(ctx, NK_NET, "%s: HTTP %ld", url, x->status);
            return ATTEMPT_RETRY;
        }
        if (x->status == 416) {
            *st = nk_fail(ctx, NK_NET, "%s: HTTP 416 (range not "
                          "satisfiable)", url);
            return ATTEMPT_RETRY;
        }
        *st = nk_fail(ctx, x->status == 404 ? NK_NOT_FOUND : NK_NET,
                      "%s: HTTP %ld%s", url, x->status,
                      x->status == 404   ? " (not found)"
                      : x->status == 401 ? " (unauthorized: check GITHUB_TOKEN)"
                      : x->status == 403 ? " (forbidden)"
                                         : "");
        return ATTEMPT_FAIL;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        if (rc == CURLE_OPERATION_TIMEDOUT)
            *st = nk_fail(ctx, NK_NET, "%s: timed out after %ld s without "
                          "data (%s; NNKIT_HUB_TIMEOUT sets the limit)", url,
                          x->env->timeout, why);
        else
            *st = nk_fail(ctx, NK_NET, "%s: %s", url, why);
        return ATTEMPT_RETRY;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
        *st = nk_fail(ctx, NK_NET,
                      "%s: TLS certificate does not verify: %s (point "
                      "CURL_CA_BUNDLE or SSL_CERT_FILE at the CA bundle that "
                      "signs it; verification cannot be disabled)",
                      url, why);
        return ATTEMPT_FAIL;
    case CURLE_WRITE_ERROR:
        if (x->too_big) {
            *st = nk_fail(ctx, NK_NET, "%s: download exceeds the limit of "
                          "%llu bytes (NNKIT_HUB_MAX_DOWNLOAD_MB)", url,
                          (unsigned long long)x->max);
            return ATTEMPT_FAIL;
        }
        if (x->bad_range) {
            *st = nk_fail(ctx, NK_NET, "%s: server answered range %lld-, "
                          "asked for %llu-", url, (long long)x->range_start,
                          (unsigned long long)x->start);
            return ATTEMPT_RETRY;
        }
        *st = nk_fail(ctx, NK_IO, "%s: cannot write the download: %s", url,
                      strerror(errno));
        return ATTEMPT_FAIL;
    default:
        *st = nk_fail(ctx, NK_NET, "%s: %s", url, why);
        return ATTEMPT_FAIL;
    }
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static nk_status run(nk_ctx *ctx, xfer *x, const char *url, bool api)
{
    const hub_env *env = x->env;
    if (env->offline)
        return nk_fail(ctx, NK_NET, "%s: offline (--offline or NNKIT_OFFLINE) "
                       "forbids network access", url);
    pthread_once(&curl_once, init_curl);
    if (curl_init_rc != CURLE_OK)
        return nk_fail(ctx, NK_NET, "libcurl initialisation failed: %s",
                       curl_easy_strerror(curl_init_rc));
    char errbuf[CURL_ERROR_SIZE];
    nk_status st = NK_NET;
    for (int attempt = 0;; attempt++) {
        if (x->fd >= 0) {
            struct stat sb;
            if (fstat(x->fd, &sb) != 0)
                return nk_fail(ctx, NK_IO, "%s: cannot stat the partial "
                               "download: %s", url, strerror(errno));
            x->start = (uint64_t)sb.st_size;
        } else {
            x->mem_len = 0;
        }
        CURLcode rc = perform(x, url, api, errbuf);
        attempt_result r = classify(ctx, url, rc, x, errbuf, &st);
        if (r == ATTEMPT_OK)
            return NK_OK;
        if (r == ATTEMPT_FAIL)
            return st;
        if (x->fd >= 0 && (x->bad_range || x->status == 416) &&
            ftruncate(x->fd, 0) != 0)
            return nk_fail(ctx, NK_IO, "%s: cannot truncate the partial "
                           "download: %s", url, strerror(errno));
        if (attempt >= env->retries) {
            nk_errmsg_prefix(ctx, "gave up after %d attempt%s", attempt + 1,
                             attempt ? "s" : "");
            if (rc == CURLE_COULDNT_RESOLVE_HOST ||
                rc == CURLE_COULDNT_RESOLVE_PROXY ||
                rc == CURLE_COULDNT_CONNECT) {
                char msg[1024];
                snprintf(msg, sizeof msg, "%s", nk_errmsg(ctx));
                nk_fail(ctx, st, "%s (no network? models already in the "
                        "cache load with --offline; NNKIT_HUB_MIRROR=URL "
                        "fetches from a mirror instead)", msg);
            }
            return st;
        }
        long delay = env->backoff_ms;
        for (int i = 0; i < attempt && delay < HUB_MAX_BACKOFF_MS; i++)
            delay *= 2;
        if (delay > HUB_MAX_BACKOFF_MS)
            delay = HUB_MAX_BACKOFF_MS;
        if (x->retry_after >= 0)
            delay = x->retry_after * 1000;
        sleep_ms(delay);
    }
}

nk_status hub_fetch_file(nk_ctx *ctx, const hub_env *env, const char *url,
                         const char *part_path, bool resume,
                         const char *label)
{
    int fd = open(part_path,
                  O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
                      (resume ? 0 : O_TRUNC),
                  0644);
    if (fd < 0)
        return nk_fail(ctx, NK_IO, "%s: cannot create: %s", part_path,
                       strerror(errno));
    xfer x;
    memset(&x, 0, sizeof x);
    x.env = env;
    x.label = label;
    x.fd = fd;
    x.max = env->max_download;
    nk_status st = run(ctx, &x, url, false);
    if (st == NK_OK && fsync(fd) != 0)
        st = nk_fail(ctx, NK_IO, "%s: fsync: %s", part_path, strerror(errno));
    if (close(fd) != 0 && st == NK_OK)
        st = nk_fail(ctx, NK_IO, "%s: close: %s", part_path, strerror(errno));
    return st;
}

nk_status hub_fetch_mem(nk_ctx *ctx, const hub_env *env, const char *url,
                        size_t max, char **body, size_t *len)
{
    xfer x;
    memset(&x, 0, sizeof x);
    x.env = env;
    x.label = url;
    x.fd = -1;
    x.max = max;
    bool api = has_prefix(url, env->api_url);
    nk_status st = run(ctx, &x, url, api);
    if (st) {
        nk_free(x.mem);
        return st;
    }
    if (!x.mem) {
        x.mem = nk_calloc(1, 1);
        if (!x.mem)
            return nk_fail(ctx, NK_NOMEM, "%s: out of memory", url);
    }
    *body = x.mem;
    *len = x.mem_len;
    return NK_OK;
}

char *hub_mirror_url(const hub_env *env, const char *url)
{
    if (!env->mirror)
        return nk_strdup(url);
    /* Keep the path: https://host/a/b.pth -> MIRROR/a/b.pth. */
    const char *p = strstr(url, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    return hub_strf("%s%s", env->mirror, p ? p : "/");
}
