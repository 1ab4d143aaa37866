/*
 * hub.h — internals of the hub module shared by its files: environment
 * settings, SHA-256, the libcurl fetcher, the cache, safe archive
 * extraction, JSON helpers, the index, manifests and the releases API.
 */
#ifndef NK_HUB_H
#define NK_HUB_H

#include "engine/ctx.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

/* ---- settings (env.c) -------------------------------------------------- */

/* Everything the environment configures, read once per public call. */
typedef struct hub_env {
    char *home;          /* cache root (absolute) */
    const char *github_url;   /* NNKIT_GITHUB_URL, no trailing '/' */
    const char *api_url;      /* NNKIT_GITHUB_API_URL */
    const char *mirror;       /* NNKIT_HUB_MIRROR or NULL */
    const char *index;        /* NNKIT_HUB_INDEX or NULL */
    const char *token;        /* GITHUB_TOKEN or NULL: never printed */
    const char *ca_file;      /* CURL_CA_BUNDLE, else SSL_CERT_FILE */
    long timeout;        /* seconds: connect, and low-speed window */
    int retries;         /* attempts after the first */
    long backoff_ms;     /* first retry delay; doubled each time */
    uint64_t max_download; /* bytes of one download */
    uint64_t max_extract;  /* bytes an archive may expand to */
    bool offline;
    nk_hub_progress_fn progress;
    void *progress_user;
    /* owned copies of the trimmed URLs */
    char *github_buf, *api_buf, *mirror_buf;
} hub_env;

nk_status hub_env_init(nk_ctx *ctx, const nk_hub_opts *opts, hub_env *env);
void hub_env_clear(hub_env *env);

/* ---- small helpers (env.c) -------------------------------------------- */

/* printf into a new nk_malloc'd string; NULL when out of memory. */
char *hub_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* mkdir -p (mode 0755); NK_IO naming the path. */
nk_status hub_mkdirs(nk_ctx *ctx, const char *path);
/* rm -r without following symlinks; best effort. */
void hub_rmtree(const char *path);
/* Whether s is a name GitHub allows for owners/repos ([A-Za-z0-9._-],
 * not "." or ".."). */
bool hub_valid_name(const char *s);

/* ---- SHA-256 (sha256.c) ------------------------------------------------- */

#define HUB_SHA256_HEX 65 /* 64 hex digits + NUL */

nk_status hub_sha256_file(nk_ctx *ctx, const char *path,
                          char hex[HUB_SHA256_HEX]);
void hub_sha256_mem(const void *data, size_t n, char hex[HUB_SHA256_HEX]);
/* Whether s is 1..64 lowercase-or-uppercase hex digits (full = exactly 64). */
bool hub_is_hex(const char *s, bool full);
/* Whether the hex digest starts with prefix (case-insensitive). */
bool hub_hash_has_prefix(const char *digest, const char *prefix);
/* torch.hub's HASH_REGEX: the hex after the last '-' before the first '.'
 * of the URL's file name ("resnet18-f37072fd.pth" -> "f37072fd"); writes
 * "" when there is none. */
void hub_hash_from_url(const char *url, char out[HUB_SHA256_HEX]);

/* ---- fetching (fetch.c) ------------------------------------------------- */

/*
 * hub_fetch_file — download url into part_path, resuming from the bytes
 * already there (HTTP Range) when resume is true, else starting over.
 * Transient failures are retried with backoff; redirects followed; TLS
 * verified. On success the file is fsynced and left at part_path.
 */
nk_status hub_fetch_file(nk_ctx *ctx, const hub_env *env, const char *url,
                         const char *part_path, bool resume,
                         const char *label);
/* GET url into memory (at most max bytes); *body is NUL-terminated and
 * owned by the caller (nk_free). */
nk_status hub_fetch_mem(nk_ctx *ctx, const hub_env *env, const char *url,
                        size_t max, char **body, size_t *len);
/* NNKIT_HUB_MIRROR applied to a weight URL ("scheme://host" replaced by
 * the mirror prefix); a new string or NULL when out of memory. */
char *hub_mirror_url(const hub_env *env, const char *url);

/* ---- cache (cache.c) ---------------------------------------------------- */

/* File-system name of a cache entry name (percent-encoded). */
char *hub_cache_key(const char *name);
/* Take the exclusive lock of entry `name` (blocks); *fd to unlock. */
nk_status hub_lock(nk_ctx *ctx, const hub_env *env, const char *name,
                   int *fd);
void hub_unlock(int fd);
/* The record of an entry; NK_NOT_FOUND if none. Paths are absolute. */
nk_status hub_record_read(nk_ctx *ctx, const hub_env *env, const char *name,
                          nk_hub_entry *out);
/* Write the record atomically (path must be inside env->home). */
nk_status hub_record_write(nk_ctx *ctx, const hub_env *env,
                           const nk_hub_entry *e);
/* Path of a file inside the cache: home/sub/key+suffix (new string). */
char *hub_cache_path(const hub_env *env, const char *sub, const char *name,
                     const char *suffix);
/*
 * hub_download_verified — fetch url to a partial file under downloads/,
 * check its SHA-256 against want (a full digest or a prefix; "" = accept
 * and record), and move it to blobs/sha256/<hex>. On a mismatch the
 * partial file is deleted and NK_CHECKSUM names both hashes. got receives
 * the full digest; *blob the blob's path (caller frees).
 */
nk_status hub_download_verified(nk_ctx *ctx, const hub_env *env,
                                const char *url, const char *want,
                                const char *label, char got[HUB_SHA256_HEX],
                                char **blob);
/* Trusted owners (home/trusted_owners, one per line). */
bool hub_owner_trusted(const hub_env *env, const char *owner);
nk_status hub_owner_trust(nk_ctx *ctx, const hub_env *env, const char *owner);
/* Whether an already-complete entry exists; fills *out then. */
bool hub_cached(nk_ctx *ctx, const hub_env *env, const char *name,
                nk_hub_entry *out);
/* Copy a file atomically (tmp + fsync + rename). */
nk_status hub_copy_file(nk_ctx *ctx, const char *src, const char *dst);

/* ---- archives (archive.c) ----------------------------------------------- */

/*
 * hub_extract — unpack the tar.gz / zip at path into the new directory
 * dir. Refuses (NK_FORMAT naming the entry) absolute paths, ".."
 * components, links leaving dir, device/fifo/socket entries and a total
 * size above max_bytes. *root receives dir itself, or its only
 * subdirectory when the archive has one top folder (GitHub's
 * "REPO-REF/"); caller frees.
 */
nk_status hub_extract(nk_ctx *ctx, const char *path, const char *dir,
                      uint64_t max_bytes, char **root);

/* ---- JSON (json.c) ------------------------------------------------------ */

/* Parse text (len bytes) as JSON; NK_FORMAT names `what` and the error. */
nk_status hub_json_parse(nk_ctx *ctx, const char *what, const char *text,
                         size_t len, json_object **out);
nk_status hub_json_load(nk_ctx *ctx, const char *path, json_object **out);
/* Member helpers: NULL / default when absent or of another type. */
const char *hub_json_str(json_object *o, const char *key);
json_object *hub_json_obj(json_object *o, const char *key);
json_object *hub_json_arr(json_object *o, const char *key);

/* ---- model description shared by index and manifest (model.c) ----------- */

typedef struct hub_model {
    const char *arch;     /* zoo name, or NULL with file */
    const char *file;     /* model file inside the repository */
    int classes;          /* 0 = default */
    float width_mult;     /* 0 = default */
    const char *weights_url;  /* NULL = no download */
    const char *weights_file; /* weights inside the repository */
    const char *weights_sha;  /* full digest or prefix ("" none) */
    json_object *labels;      /* "imagenet", [..], {"file": ..} or NULL */
    json_object *preproc;     /* object or NULL */
    const char *description;
} hub_model;

/* Read one entry of an index or manifest (the JSON stays owned by the
 * caller's tree). where names the file and entry for messages. */
nk_status hub_model_parse(nk_ctx *ctx, const char *where, json_object *o,
                          bool in_index, hub_model *m);
/*
 * hub_model_build — make the graph: the zoo architecture (or the model
 * file under repo_dir), the weights (a verified .pth blob, strict), then
 * labels and preprocessing. The caller owns *out.
 */
nk_status hub_model_build(nk_ctx *ctx, const char *where, const hub_model *m,
                          const char *repo_dir, const char *weights_path,
                          nk_graph **out);
/* Resolve rel inside dir, refusing absolute paths, ".." and symlinks that
 * leave dir; new string. */
nk_status hub_path_inside(nk_ctx *ctx, const char *where, const char *dir,
                          const char *rel, char **out);

/* ---- index (index.c), releases API (github.c) --------------------------- */

/* Load the index (NNKIT_HUB_INDEX path/URL, else the installed one). */
nk_status hub_index_load(nk_ctx *ctx, const hub_env *env, json_object **out,
                         char **where);
/* Default index location next to the binary / install prefix. */
char *hub_index_default_path(void);

typedef struct hub_asset {
    char *url;       /* browser_download_url */
    char *sha256;    /* from "digest": "sha256:<hex>", or NULL */
    int64_t size;    /* -1 unknown */
} hub_asset;
nk_status hub_release_asset(nk_ctx *ctx, const hub_env *env,
                            const char *owner, const char *repo,
                            const char *tag, const char *asset,
                            hub_asset *out);
void hub_asset_clear(hub_asset *a);

#endif /* NK_HUB_H */
