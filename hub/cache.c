/*
 * cache.c — the hub cache: entry records, lock files, verified downloads
 * stored by their SHA-256, trusted owners, and the public list / info /
 * rm / verify calls. Layout (docs/hub.md):
 *   entries/<key>.json  models/<key>.nnk  blobs/sha256/<hex>
 *   downloads/<sha256(url)>.part  locks/<key>.lock  trusted_owners  tmp/
 */
#include "hub/hub.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const kind_names[NK_HUB_KIND_COUNT] = {
    [NK_HUB_INDEX] = "index", [NK_HUB_REPO] = "repo",
    [NK_HUB_ASSET] = "asset"};

const char *nk_hub_kind_name(nk_hub_kind k)
{
    return (unsigned)k < NK_HUB_KIND_COUNT ? kind_names[k] : "?";
}

void nk_hub_entry_clear(nk_hub_entry *e)
{
    if (!e)
        return;
    nk_free(e->name);
    nk_free(e->path);
    nk_free(e->sha256);
    nk_free(e->source);
    nk_free(e->source_sha256);
    nk_free(e->arch);
    memset(e, 0, sizeof *e);
}

char *hub_cache_key(const char *name)
{
    /* Unreserved characters stay; everything else (the '/' and ':' of
     * repository names) becomes %XX, so distinct names get distinct,
     * reversible file names. */
    size_t n = strlen(name);
    char *k = nk_malloc(3 * n + 1), *o = k;
    if (!k)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
            *p == '-' || *p == '@') {
            if (p == (const unsigned char *)name && *p == '.')
                o += sprintf(o, "%%2E");
            else
                *o++ = (char)*p;
        } else {
            o += sprintf(o, "%%%02X", *p);
        }
    }
    *o = 0;
    return k;
}

char *hub_cache_path(const hub_env *env, const char *sub, const char *name,
                     const char *suffix)
{
    char *k = hub_cache_key(name);
    if (!k)
        return NULL;
    char *p = hub_strf("%s/%s/%s%s", env->home, sub, k, suffix);
    nk_free(k);
    return p;
}

static nk_status lock_path(nk_ctx *ctx, const char *path, int *fd)
{
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0)
        return nk_fail(ctx, NK_IO, "%s: cannot open lock file: %s", path,
                       strerror(errno));
    while (flock(f, LOCK_EX) != 0) {
        if (errno != EINTR) {
            nk_status st = nk_fail(ctx, NK_IO, "%s: cannot lock: %s", path,
                                   strerror(errno));
            close(f);
            return st;
        }
    }
    *fd = f;
    return NK_OK;
}

nk_status hub_lock(nk_ctx *ctx, const hub_env *env, const char *name,
                   int *fd)
{
    char *dir = hub_strf("%s/locks", env->home);
    char *p = hub_cache_path(env, "locks", name, ".lock");
    nk_status st = !dir || !p ? nk_fail(ctx, NK_NOMEM, "hub: out of memory")
                              : hub_mkdirs(ctx, dir);
    if (st == NK_OK)
        st = lock_path(ctx, p, fd);
    nk_free(dir);
    nk_free(p);
    return st;
}

void hub_unlock(int fd)
{
    if (fd >= 0) {
        flock(fd, LOCK_UN);
        close(fd);
    }
}

/* ---- records ------------------------------------------------------------ */

static char *dup_or_empty(const char *s) { return nk_strdup(s ? s : ""); }

static nk_status record_parse(nk_ctx *ctx, const hub_env *env,
                              const char *file, nk_hub_entry *out)
{
    json_object *o = NULL;
    nk_status st = hub_json_load(ctx, file, &o);
    if (st)
        return st;
    memset(out, 0, sizeof *out);
    const char *name = hub_json_str(o, "name"), *path = hub_json_str(o, "path"),
               *kind = hub_json_str(o, "kind"), *sha = hub_json_str(o, "sha256");
    if (!name || !path || !kind || !hub_is_hex(sha, true) || path[0] == '/' ||
        strstr(path, "..")) {
        json_object_put(o);
        return nk_fail(ctx, NK_FORMAT, "%s: not a valid cache record (needs "
                       "name, kind, a relative path and a sha256)", file);
    }
    out->kind = NK_HUB_KIND_COUNT;
    for (int k = 0; k < NK_HUB_KIND_COUNT; k++)
        if (!strcmp(kind, kind_names[k]))
            out->kind = (nk_hub_kind)k;
    json_object *v;
    out->name = nk_strdup(name);
    out->path = hub_strf("%s/%s", env->home, path);
    out->sha256 = nk_strdup(sha);
    out->source = dup_or_empty(hub_json_str(o, "source"));
    out->source_sha256 = dup_or_empty(hub_json_str(o, "source_sha256"));
    out->arch = dup_or_empty(hub_json_str(o, "arch"));
    if (json_object_object_get_ex(o, "size", &v))
        out->size = (uint64_t)json_object_get_int64(v);
    if (json_object_object_get_ex(o, "created", &v))
        out->created = json_object_get_int64(v);
    if (json_object_object_get_ex(o, "verified", &v))
        out->verified = json_object_get_boolean(v);
    json_object_put(o);
    if (!out->name || !out->path || !out->sha256 || !out->source ||
        !out->source_sha256 || !out->arch) {
        nk_hub_entry_clear(out);
        return nk_fail(ctx, NK_NOMEM, "%s: out of memory", file);
    }
    if (out->kind == NK_HUB_KIND_COUNT) {
        nk_hub_entry_clear(out);
        return nk_fail(ctx, NK_FORMAT, "%s: unknown kind '%s'", file, kind);
    }
    return NK_OK;
}

nk_status hub_record_read(nk_ctx *ctx, const hub_env *env, const char *name,
                          nk_hub_entry *out)
{
    char *file = hub_cache_path(env, "entries", name, ".json");
    if (!file)
        return nk_fail(ctx, NK_NOMEM, "hub: out of memory");
    nk_status st;
    if (access(file, F_OK) != 0)
        st = nk_fail(ctx, NK_NOT_FOUND, "hub: '%s' is not in the cache (%s)",
                     name, env->home);
    else
        st = record_parse(ctx, env, file, out);
    nk_free(file);
    return st;
}

nk_status hub_record_write(nk_ctx *ctx, const hub_env *env,
                           const nk_hub_entry *e)
{
    size_t hl = strlen(env->home);
    if (strncmp(e->path, env->home, hl) != 0 || e->path[hl] != '/')
        return nk_fail(ctx, NK_INTERNAL, "hub: %s is outside the cache %s",
                       e->path, env->home);
    json_object *o = json_object_new_object();
    if (!o)
        return nk_fail(ctx, NK_NOMEM, "hub: out of memory");
    json_object_object_add(o, "name", json_object_new_string(e->name));
    json_object_object_add(o, "kind",
                           json_object_new_string(nk_hub_kind_name(e->kind)));
    json_object_object_add(o, "path", json_object_new_string(e->path + hl + 1));
    json_object_object_add(o, "sha256", json_object_new_string(e->sha256));
    json_object_object_add(o, "size", json_object_new_int64((int64_t)e->size));
    json_object_object_add(o, "source",
                           json_object_new_string(e->source ? e->source : ""));
    json_object_object_add(
        o, "source_sha256",
        json_object_new_string(e->source_sha256 ? e->source_sha256 : ""));
    json_object_object_add(o, "verified", json_object_new_boolean(e->verified));
    json_object_object_add(o, "arch",
                           json_object_new_string(e->arch ? e->arch : ""));
    json_object_object_add(o, "created", json_object_new_int64(e->created));
    const char *text =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                              JSON_C_TO_STRING_NOSLASHESCAPE);
    char *dir = hub_strf("%s/entries", env->home);
    char *file = hub_cache_path(env, "entries", e->name, ".json");
    nk_status st = !dir || !file || !text
                       ? nk_fail(ctx, NK_NOMEM, "hub: out of memory")
                       : hub_mkdirs(ctx, dir);
    if (st == NK_OK)
        st = nk_file_write_atomic(ctx, file, text, strlen(text));
    json_object_put(o);
    nk_free(dir);
    nk_free(file);
    return st;
}

bool hub_cached(nk_ctx *ctx, const hub_env *env, const char *name,
                nk_hub_entry *out)
{
    nk_hub_entry e;
    if (hub_record_read(ctx, env, name, &e) != NK_OK)
        return false;
    struct stat sb;
    if (stat(e.path, &sb) != 0 || (uint64_t)sb.st_size != e.size) {
        nk_hub_entry_clear(&e);
        return false;
    }
    *out = e;
    return true;
}

/* ---- verified downloads ------------------------------------------------- */

nk_status hub_download_verified(nk_ctx *ctx, const hub_env *env,
                                const char *url, const char *want,
                                const char *label, char got[HUB_SHA256_HEX],
                                char **blob)
{
    char uh[HUB_SHA256_HEX];
    hub_sha256_mem(url, strlen(url), uh);
    char *ddir = hub_strf("%s/downloads", env->home);
    char *bdir = hub_strf("%s/blobs/sha256", env->home);
    char *part = hub_strf("%s/downloads/%s.part", env->home, uh);
    char *lockp = hub_strf("%s/downloads/%s.lock", env->home, uh);
    char *dst = NULL;
    int lfd = -1;
    nk_status st = NK_OK;
    if (!ddir || !bdir || !part || !lockp) {
        st = nk_fail(ctx, NK_NOMEM, "hub: out of memory");
        goto done;
    }
    if (want[0] && hub_is_hex(want, true)) {
        /* Already downloaded and verified under its hash. */
        dst = hub_strf("%s/%s", bdir, want);
        if (dst && access(dst, F_OK) == 0) {
            memcpy(got, want, HUB_SHA256_HEX);
            for (char *p = got; *p; p++)
                if (*p >= 'A' && *p <= 'F')
                    *p = (char)(*p - 'A' + 'a');
            nk_free(dst);
            dst = hub_strf("%s/%s", bdir, got);
            goto done;
        }
        nk_free(dst);
        dst = NULL;
    }
    if ((st = hub_mkdirs(ctx, ddir)) || (st = hub_mkdirs(ctx, bdir)) ||
        (st = lock_path(ctx, lockp, &lfd)))
        goto done;
    if ((st = hub_fetch_file(ctx, env, url, part, true, label)))
        goto done;
    if ((st = hub_sha256_file(ctx, part, got)))
        goto done;
    bool full = strlen(want) == 64;
    if (want[0] && (full ? strcasecmp(want, got) != 0
                         : !hub_hash_has_prefix(got, want))) {
        unlink(part);
        st = nk_fail(ctx, NK_CHECKSUM,
                     "%s: SHA-256 mismatch: expected %s%s, got %s; the "
                     "download was deleted",
                     url, want, full ? "" : "... (prefix)", got);
        goto done;
    }
    dst = hub_strf("%s/%s", bdir, got);
    if (!dst) {
        st = nk_fail(ctx, NK_NOMEM, "hub: out of memory");
        goto done;
    }
    if (rename(part, dst) != 0) {
        st = nk_fail(ctx, NK_IO, "%s: cannot move into the cache as %s: %s",
                     part, dst, strerror(errno));
        goto done;
    }
    int dfd = open(bdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
done:
    hub_unlock(lfd); /* the lock file stays: unlinking it races */
    if (st == NK_OK)
        *blob = dst;
    else
        nk_free(dst);
    nk_free(ddir);
    nk_free(bdir);
    nk_free(part);
    nk_free(lockp);
    return st;
}

nk_status hub_copy_file(nk_ctx *ctx, const char *src, const char *dst)
{
    FILE *f = fopen(src, "rb");
    if (!f)
        return nk_fail(ctx, NK_IO, "%s: cannot open: %s", src,
                       strerror(errno));
    nk_writer w;
    nk_status st = nk_writer_open(ctx, &w, dst);
    if (st) {
        fclose(f);
        return st;
    }
    char buf[1 << 14];
    size_t n;
    while (st == NK_OK && (n = fread(buf, 1, sizeof buf, f)) > 0)
        st = nk_writer_write(ctx, &w, buf, n);
    if (st == NK_OK && ferror(f))
        st = nk_fail(ctx, NK_IO, "%s: read error", src);
    fclose(f);
    if (st) {
        nk_writer_abort(&w);
        return st;
    }
    return nk_writer_commit(ctx, &w);
}

/* ---- trusted owners ----------------------------------------------------- */

bool hub_owner_trusted(const hub_env *env, const char *owner)
{
    char *p = hub_strf("%s/trusted_owners", env->home);
    FILE *f = p ? fopen(p, "r") : NULL;
    nk_free(p);
    if (!f)
        return false;
    char line[256];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        /* GitHub owner names are case-insensitive. */
        found = strcasecmp(line, owner) == 0;
    }
    fclose(f);
    return found;
}

nk_status hub_owner_trust(nk_ctx *ctx, const hub_env *env, const char *owner)
{
    if (hub_owner_trusted(env, owner))
        return NK_OK;
    int fd = -1;
    nk_status st = hub_lock(ctx, env, ":trusted_owners", &fd);
    if (st)
        return st;
    char *p = hub_strf("%s/trusted_owners", env->home);
    if (!p) {
        hub_unlock(fd);
        return nk_fail(ctx, NK_NOMEM, "hub: out of memory");
    }
    uint8_t *old = NULL;
    size_t n = 0;
    if (access(p, F_OK) == 0 && (st = nk_file_read(ctx, p, &old, &n))) {
        nk_free(p);
        hub_unlock(fd);
        return st;
    }
    char *text = hub_strf("%.*s%s%s\n", (int)n, old ? (char *)old : "",
                          n && old[n - 1] != '\n' ? "\n" : "", owner);
    st = text ? nk_file_write_atomic(ctx, p, text, strlen(text))
              : nk_fail(ctx, NK_NOMEM, "hub: out of memory");
    nk_free(text);
    nk_free(old);
    nk_free(p);
    hub_unlock(fd);
    return st;
}

int nk_hub_owner_trusted(nk_ctx *ctx, const nk_hub_opts *opts,
                         const char *owner)
{
    hub_env env;
    if (!owner || hub_env_init(ctx, opts, &env) != NK_OK)
        return 0;
    int t = hub_owner_trusted(&env, owner);
    hub_env_clear(&env);
    return t;
}

/* ---- list / info / rm / verify ----------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The record files of the cache, sorted; *names owned by the caller. */
static nk_status list_records(nk_ctx *ctx, const hub_env *env, char ***names,
                              int *count)
{
    *names = NULL;
    *count = 0;
    char *dir = hub_strf("%s/entries", env->home);
    if (!dir)
        return nk_fail(ctx, NK_NOMEM, "hub: out of memory");
    DIR *d = opendir(dir);
    if (!d) {
        nk_free(dir);
        return NK_OK; /* no entries yet */
    }
    char **v = NULL;
    int n = 0, cap = 0;
    struct dirent *de;
    nk_status st = NK_OK;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 6 || strcmp(de->d_name + l - 5, ".json") != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = nk_realloc(v, (size_t)cap * sizeof *v);
            if (!nv) {
                st = nk_fail(ctx, NK_NOMEM, "hub: out of memory");
                break;
            }
            v = nv;
        }
        if (!(v[n] = hub_strf("%s/%s", dir, de->d_name))) {
            st = nk_fail(ctx, NK_NOMEM, "hub: out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    nk_free(dir);
    if (n > 1)
        qsort(v, (size_t)n, sizeof *v, cmp_str);
    *names = v;
    *count = n;
    return st;
}

static void free_list(char **v, int n)
{
    for (int i = 0; i < n; i++)
        nk_free(v[i]);
    nk_free(v);
}

nk_status nk_hub_list(nk_ctx *ctx, const nk_hub_opts *opts,
                      nk_hub_entry_fn fn, void *user)
{
    hub_env env;
    nk_status st = hub_env_init(ctx, opts, &env);
    if (st)
        return st;
    char **files;
    int n;
    st = list_records(ctx, &env, &files, &n);
    for (int i = 0; st == NK_OK && i < n; i++) {
        nk_hub_entry e;
        if (record_parse(ctx, &env, files[i], &e) != NK_OK)
            continue; /* `hub verify` reports broken records */
        int stop = fn ? fn(user, &e) : 0;
        nk_hub_entry_clear(&e);
        if (stop)
            break;
    }
    free_list(files, n);
    hub_env_clear(&env);
    return st;
}

nk_status nk_hub_info(nk_ctx *ctx, const nk_hub_opts *opts, const char *name,
                      nk_hub_entry *out)
{
    if (!name || !out)
        return nk_fail(ctx, NK_INVALID_ARG, "hub info: no name given");
    hub_env env;
    nk_status st = hub_env_init(ctx, opts, &env);
    if (st)
        return st;
    st = hub_record_read(ctx, &env, name, out);
    hub_env_clear(&env);
    return st;
}

/* Whether any record other than `except` uses blob hex. */
static bool blob_used(nk_ctx *ctx, const hub_env *env, const char *hex,
                      const char *except)
{
    char **files;
    int n;
    bool used = false;
    if (list_records(ctx, env, &files, &n) != NK_OK)
        return true;
    for (int i = 0; !used && i < n; i++) {
        nk_hub_entry e;
        if (record_parse(ctx, env, files[i], &e) != NK_OK)
            continue;
        used = strcmp(e.name, except) != 0 &&
               (!strcmp(e.source_sha256, hex) || !strcmp(e.sha256, hex));
        nk_hub_entry_clear(&e);
    }
    free_list(files, n);
    return used;
}

/* Remove the record and the files of entry e (lock held by the caller). */
static void remove_entry(nk_ctx *ctx, const hub_env *env,
                         const nk_hub_entry *e)
{
    char *rec = hub_cache_path(env, "entries", e->name, ".json");
    if (rec)
        unlink(rec);
    nk_free(rec);
    char *models = hub_strf("%s/models/", env->home);
    if (models && !strncmp(e->path, models, strlen(models)))
        unlink(e->path);
    nk_free(models);
    const char *blobs[2] = {e->source_sha256, e->sha256};
    for (int i = 0; i < 2; i++) {
        if (!hub_is_hex(blobs[i], true) || blob_used(ctx, env, blobs[i], e->name))
            continue;
        char *b = hub_strf("%s/blobs/sha256/%s", env->home, blobs[i]);
        if (b)
            unlink(b);
        nk_free(b);
    }
}

nk_status nk_hub_rm(nk_ctx *ctx, const nk_hub_opts *opts, const char *name)
{
    if (!name)
        return nk_fail(ctx, NK_INVALID_ARG, "hub rm: no name given");
    hub_env env;
    nk_status st = hub_env_init(ctx, opts, &env);
    if (st)
        return st;
    int fd = -1;
    nk_hub_entry e;
    memset(&e, 0, sizeof e);
    if ((st = hub_lock(ctx, &env, name, &fd)) == NK_OK &&
        (st = hub_record_read(ctx, &env, name, &e)) == NK_OK)
        remove_entry(ctx, &env, &e);
    nk_hub_entry_clear(&e);
    hub_unlock(fd);
    hub_env_clear(&env);
    return st;
}

nk_status nk_hub_verify(nk_ctx *ctx, const nk_hub_opts *opts,
                        nk_hub_verify_fn fn, void *user, int *n_bad)
{
    hub_env env;
    nk_status st = hub_env_init(ctx, opts, &env);
    if (st)
        return st;
    int bad = 0;
    char **files;
    int n;
    st = list_records(ctx, &env, &files, &n);
    char msg[NK_ERRMSG_MAX];
    for (int i = 0; st == NK_OK && i < n; i++) {
        nk_hub_entry e;
        if (record_parse(ctx, &env, files[i], &e) != NK_OK) {
            snprintf(msg, sizeof msg, "%s", nk_errmsg(ctx));
            unlink(files[i]);
            bad++;
            if (fn)
                fn(user, files[i], NK_FORMAT, msg);
            continue;
        }
        int fd = -1;
        if (hub_lock(ctx, &env, e.name, &fd) != NK_OK) {
            nk_hub_entry_clear(&e);
            continue;
        }
        char got[HUB_SHA256_HEX];
        nk_status vs = hub_sha256_file(ctx, e.path, got);
        if (vs == NK_OK && strcmp(got, e.sha256) != 0)
            vs = nk_fail(ctx, NK_CHECKSUM, "%s: SHA-256 mismatch: expected "
                         "%s, got %s", e.path, e.sha256, got);
        snprintf(msg, sizeof msg, "%s", vs == NK_OK ? "ok" : nk_errmsg(ctx));
        if (vs != NK_OK) {
            remove_entry(ctx, &env, &e);
            bad++;
        }
        if (fn)
            fn(user, e.name, vs, msg);
        hub_unlock(fd);
        nk_hub_entry_clear(&e);
    }
    free_list(files, n);
    /* Downloads are named by their hash: re-hash each. */
    char *bdir = hub_strf("%s/blobs/sha256", env.home);
    DIR *d = bdir ? opendir(bdir) : NULL;
    struct dirent *de;
    while (st == NK_OK && d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char *p = hub_strf("%s/%s", bdir, de->d_name);
        char got[HUB_SHA256_HEX];
        if (p && hub_sha256_file(ctx, p, got) == NK_OK &&
            strcmp(got, de->d_name) != 0) {
            snprintf(msg, sizeof msg, "%s: SHA-256 mismatch: expected %s, "
                     "got %s; removed", p, de->d_name, got);
            unlink(p);
            bad++;
            if (fn)
                fn(user, p, NK_CHECKSUM, msg);
        }
        nk_free(p);
    }
    if (d)
        closedir(d);
    nk_free(bdir);
    hub_env_clear(&env);
    if (n_bad)
        *n_bad = bad;
    return st;
}
