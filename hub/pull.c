/*
 * pull.c — nk_hub_pull: the three pull forms (index name, repository
 * manifest model, release asset), each under the entry's lock so that
 * concurrent pulls agree, with trust checks and offline mode.
 */
#include "hub/hub.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct pull {
    nk_ctx *ctx;
    const nk_hub_opts *opts;
    hub_env env;
    char *name;   /* the entry name */
    char owner[128], repo[128], ref[256];
} pull;

static nk_status nomem(nk_ctx *ctx) { return nk_fail(ctx, NK_NOMEM, "hub: out of memory"); }

static nk_status not_cached(pull *p)
{
    return nk_fail(p->ctx, NK_NOT_FOUND,
                   "'%s' is not in the cache (%s) and offline mode "
                   "(--offline / NNKIT_OFFLINE) forbids downloading it; pull "
                   "it once while online", p->name, p->env.home);
}

static nk_status check_trust(pull *p)
{
    if (hub_owner_trusted(&p->env, p->owner))
        return NK_OK;
    if (p->opts && p->opts->trust)
        return NK_OK;
    return nk_fail(p->ctx, NK_INVALID_ARG,
                   "repository owner '%s' is not trusted yet: review "
                   "%s/%s/%s and pass --trust to pull from it (trusted owners "
                   "are remembered in %s/trusted_owners)",
                   p->owner, p->env.github_url, p->owner, p->repo,
                   p->env.home);
}

/* Save g as the entry's .nnk and write its record; *e is filled. */
static nk_status store_model(pull *p, nk_graph *g, nk_hub_kind kind,
                             const char *source, const char *source_sha,
                             int verified, const char *arch)
{
    nk_ctx *ctx = p->ctx;
    char *dir = hub_strf("%s/models", p->env.home);
    char *path = hub_cache_path(&p->env, "models", p->name, ".nnk");
    nk_status st = !dir || !path ? nomem(ctx) : hub_mkdirs(ctx, dir);
    if (st == NK_OK &&
        ((st = nk_graph_meta_set(ctx, g, "hub", p->name)) ||
         (st = nk_graph_meta_set(ctx, g, "source", source)) ||
         (source_sha[0] && (st = nk_graph_meta_set(ctx, g, "sha256",
                                                    source_sha)))))
        goto done;
    if (st == NK_OK)
        st = nk_model_save(ctx, g, path, NK_FORMAT_NNK);
    char hex[HUB_SHA256_HEX];
    if (st == NK_OK)
        st = hub_sha256_file(ctx, path, hex);
    struct stat sb;
    if (st == NK_OK && stat(path, &sb) != 0)
        st = nk_fail(ctx, NK_IO, "%s: %s", path, strerror(errno));
    if (st == NK_OK) {
        nk_hub_entry e = {.name = p->name, .kind = kind, .path = path,
                          .sha256 = hex, .size = (uint64_t)sb.st_size,
                          .source = (char *)source,
                          .source_sha256 = (char *)source_sha,
                          .verified = verified, .arch = (char *)arch,
                          .created = (int64_t)time(NULL)};
        st = hub_record_write(ctx, &p->env, &e);
    }
done:
    nk_free(dir);
    nk_free(path);
    return st;
}

/* ---- NAME: nnkit's index ------------------------------------------------ */

static nk_status pull_index(pull *p)
{
    nk_ctx *ctx = p->ctx;
    json_object *idx = NULL;
    char *where = NULL, *url = NULL, *blob = NULL, *what = NULL;
    nk_graph *g = NULL;
    nk_status st = hub_index_load(ctx, &p->env, &idx, &where);
    if (st)
        return st;
    json_object *models = hub_json_obj(idx, "models");
    json_object *entry = hub_json_obj(models, p->name);
    if (!entry) {
        char list[1024] = "";
        size_t used = 0;
        json_object_object_foreach(models, k, v)
        {
            (void)v;
            int w = snprintf(list + used, sizeof list - used, "%s%s",
                             used ? ", " : "", k);
            if (w > 0 && (size_t)w < sizeof list - used)
                used += (size_t)w;
        }
        st = nk_fail(ctx, NK_NOT_FOUND, "'%s' is not in the hub index %s "
                     "(it has: %s)", p->name, where, list);
        goto done;
    }
    what = hub_strf("%s: models.%s", where, p->name);
    hub_model m;
    if (!what) {
        st = nomem(ctx);
        goto done;
    }
    if ((st = hub_model_parse(ctx, what, entry, true, &m)))
        goto done;
    /* torch.hub's check_hash: the file name's "-<hex>." is a prefix of the
     * SHA-256 of the file. */
    char want[HUB_SHA256_HEX];
    if (m.weights_sha[0])
        snprintf(want, sizeof want, "%s", m.weights_sha);
    else
        hub_hash_from_url(m.weights_url, want);
    if (!want[0]) {
        st = nk_fail(ctx, NK_FORMAT, "%s: no hash for %s (neither "
                     "weights.sha256 nor a '-<hex>.' in the file name)", what,
                     m.weights_url);
        goto done;
    }
    url = hub_mirror_url(&p->env, m.weights_url);
    char got[HUB_SHA256_HEX];
    if (!url) {
        st = nomem(ctx);
        goto done;
    }
    if ((st = hub_download_verified(ctx, &p->env, url, want, p->name, got,
                                    &blob)) ||
        (st = hub_model_build(ctx, what, &m, NULL, blob, &g)))
        goto done;
    st = store_model(p, g, NK_HUB_INDEX, url, got, 1, m.arch);
done:
    nk_graph_free(g);
    nk_free(blob);
    nk_free(url);
    nk_free(what);
    nk_free(where);
    json_object_put(idx);
    return st;
}

/* ---- OWNER/REPO[:REF] MODEL: a repository's nnkit-hub.json ------------- */

static nk_status pull_repo(pull *p, const char *model)
{
    nk_ctx *ctx = p->ctx;
    nk_status st;
    char *tmpd = hub_strf("%s/tmp", p->env.home);
    char *key = hub_cache_key(p->name);
    char *work = NULL, *arch_path = NULL, *xdir = NULL, *root = NULL;
    char *url = NULL, *mpath = NULL, *what = NULL, *wurl = NULL;
    char *blob = NULL, *wfile = NULL;
    json_object *man = NULL;
    nk_graph *g = NULL;
    if (!tmpd || !key) {
        st = nomem(ctx);
        goto done;
    }
    if ((st = hub_mkdirs(ctx, tmpd)))
        goto done;
    work = hub_strf("%s/%s.%ld", tmpd, key, (long)getpid());
    arch_path = hub_strf("%s.tar.gz", work ? work : "");
    xdir = hub_strf("%s.d", work ? work : "");
    /* GitHub serves /OWNER/REPO/archive/REF.tar.gz (a 302 to codeload);
     * REF "HEAD" is the default branch. */
    url = hub_strf("%s/%s/%s/archive/%s.tar.gz", p->env.github_url, p->owner,
                   p->repo, p->ref);
    if (!work || !arch_path || !xdir || !url) {
        st = nomem(ctx);
        goto done;
    }
    hub_rmtree(xdir);
    if ((st = hub_fetch_file(ctx, &p->env, url, arch_path, false, url)) ||
        (st = hub_extract(ctx, arch_path, xdir, p->env.max_extract, &root)))
        goto done;
    mpath = hub_strf("%s/nnkit-hub.json", root);
    if (!mpath) {
        st = nomem(ctx);
        goto done;
    }
    if (access(mpath, F_OK) != 0) {
        st = nk_fail(ctx, NK_NOT_FOUND, "%s/%s:%s has no nnkit-hub.json at "
                     "its root (docs/hub.md describes the manifest)",
                     p->owner, p->repo, p->ref);
        goto done;
    }
    if ((st = hub_json_load(ctx, mpath, &man)))
        goto done;
    json_object *models = hub_json_obj(man, "models");
    json_object *entry = hub_json_obj(models, model);
    if (!entry) {
        char list[1024] = "";
        size_t used = 0;
        if (models) {
            json_object_object_foreach(models, k, v)
            {
                (void)v;
                int w = snprintf(list + used, sizeof list - used, "%s%s",
                                 used ? ", " : "", k);
                if (w > 0 && (size_t)w < sizeof list - used)
                    used += (size_t)w;
            }
        }
        st = nk_fail(ctx, NK_NOT_FOUND, "%s/%s:%s: nnkit-hub.json has no "
                     "model '%s' (it has: %s)", p->owner, p->repo, p->ref,
                     model, used ? list : "none");
        goto done;
    }
    what = hub_strf("%s/%s:%s: nnkit-hub.json: models.%s", p->owner, p->repo,
                    p->ref, model);
    hub_model m;
    if (!what) {
        st = nomem(ctx);
        goto done;
    }
    if ((st = hub_model_parse(ctx, what, entry, false, &m)))
        goto done;
    char got[HUB_SHA256_HEX] = "";
    int verified = 1;
    const char *weights = NULL;
    if (m.weights_url) {
        if (!(wurl = hub_mirror_url(&p->env, m.weights_url))) {
            st = nomem(ctx);
            goto done;
        }
        if ((st = hub_download_verified(ctx, &p->env, wurl, m.weights_sha,
                                        model, got, &blob)))
            goto done;
        weights = blob;
    } else if (m.weights_file) {
        if ((st = hub_path_inside(ctx, what, root, m.weights_file, &wfile)) ||
            (st = hub_sha256_file(ctx, wfile, got)))
            goto done;
        if (m.weights_sha[0] && strcasecmp(m.weights_sha, got) != 0) {
            st = nk_fail(ctx, NK_CHECKSUM, "%s: %s: SHA-256 mismatch: "
                         "expected %s, got %s", what, m.weights_file,
                         m.weights_sha, got);
            goto done;
        }
        verified = m.weights_sha[0] != 0;
        weights = wfile;
    }
    if ((st = hub_model_build(ctx, what, &m, root, weights, &g)))
        goto done;
    st = store_model(p, g, NK_HUB_REPO, wurl ? wurl : url, got, verified,
                     m.arch ? m.arch : "");
    if (st == NK_OK && p->opts && p->opts->trust)
        st = hub_owner_trust(ctx, &p->env, p->owner);
done:
    nk_graph_free(g);
    json_object_put(man);
    if (arch_path)
        unlink(arch_path);
    if (xdir)
        hub_rmtree(xdir);
    nk_free(tmpd);
    nk_free(key);
    nk_free(work);
    nk_free(arch_path);
    nk_free(xdir);
    nk_free(root);
    nk_free(url);
    nk_free(mpath);
    nk_free(what);
    nk_free(wurl);
    nk_free(blob);
    nk_free(wfile);
    return st;
}

/* ---- OWNER/REPO@TAG ASSET: one release asset ---------------------------- */

static nk_status pull_asset(pull *p, const char *asset)
{
    nk_ctx *ctx = p->ctx;
    const char *given = p->opts ? p->opts->sha256 : NULL;
    hub_asset a;
    nk_status st = hub_release_asset(ctx, &p->env, p->owner, p->repo, p->ref,
                                     asset, &a);
    if (st)
        return st;
    if (given && a.sha256 && strcasecmp(given, a.sha256) != 0) {
        st = nk_fail(ctx, NK_CHECKSUM, "%s: --sha256 %s differs from the "
                     "digest the release reports, sha256:%s", p->name, given,
                     a.sha256);
        hub_asset_clear(&a);
        return st;
    }
    const char *want = given ? given : a.sha256 ? a.sha256 : "";
    char got[HUB_SHA256_HEX];
    char *blob = NULL;
    char *url = hub_mirror_url(&p->env, a.url);
    if (!url)
        st = nomem(ctx);
    if (st == NK_OK)
        st = hub_download_verified(ctx, &p->env, url, want, asset, got, &blob);
    struct stat sb;
    if (st == NK_OK && stat(blob, &sb) != 0)
        st = nk_fail(ctx, NK_IO, "%s: %s", blob, strerror(errno));
    if (st == NK_OK && a.size >= 0 && (int64_t)sb.st_size != a.size) {
        if (!want[0])
            unlink(blob);
        st = nk_fail(ctx, NK_CHECKSUM, "%s: %lld bytes, the release says "
                     "%lld", url, (long long)sb.st_size, (long long)a.size);
    }
    if (st == NK_OK) {
        nk_hub_entry e = {.name = p->name, .kind = NK_HUB_ASSET, .path = blob,
                          .sha256 = got, .size = (uint64_t)sb.st_size,
                          .source = url, .source_sha256 = got,
                          .verified = want[0] != 0, .arch = "",
                          .created = (int64_t)time(NULL)};
        st = hub_record_write(ctx, &p->env, &e);
    }
    if (st == NK_OK && p->opts && p->opts->trust)
        st = hub_owner_trust(ctx, &p->env, p->owner);
    nk_free(blob);
    nk_free(url);
    hub_asset_clear(&a);
    return st;
}

/* ---- spec parsing and the public call ----------------------------------- */

static nk_status parse_spec(pull *p, const char *spec, const char *model,
                            nk_hub_kind *kind)
{
    nk_ctx *ctx = p->ctx;
    const char *slash = strchr(spec, '/');
    if (!slash) {
        if (model)
            return nk_fail(ctx, NK_INVALID_ARG, "hub pull %s: an index name "
                           "takes no MODEL argument ('%s')", spec, model);
        if (!hub_valid_name(spec))
            return nk_fail(ctx, NK_INVALID_ARG, "hub pull: invalid name "
                           "'%s'", spec);
        *kind = NK_HUB_INDEX;
        p->name = nk_strdup(spec);
        return p->name ? NK_OK : nomem(ctx);
    }
    size_t ol = (size_t)(slash - spec);
    const char *rest = slash + 1;
    const char *at = strchr(rest, '@'), *colon = strchr(rest, ':');
    const char *sep = at ? at : colon;
    size_t rl = sep ? (size_t)(sep - rest) : strlen(rest);
    if (ol >= sizeof p->owner || rl >= sizeof p->repo)
        return nk_fail(ctx, NK_INVALID_ARG, "hub pull: '%s': name too long",
                       spec);
    memcpy(p->owner, spec, ol);
    p->owner[ol] = 0;
    memcpy(p->repo, rest, rl);
    p->repo[rl] = 0;
    snprintf(p->ref, sizeof p->ref, "%s", sep ? sep + 1 : "HEAD");
    if (!hub_valid_name(p->owner) || !hub_valid_name(p->repo))
        return nk_fail(ctx, NK_INVALID_ARG, "hub pull: '%s' is not "
                       "OWNER/REPO[:REF] or OWNER/REPO@TAG", spec);
    if (!model || !*model || strchr(model, '/') || !strcmp(model, "..") ||
        !strcmp(model, "."))
        return nk_fail(ctx, NK_INVALID_ARG, "hub pull %s: needs a %s name",
                       spec, at ? "release ASSET" : "MODEL");
    const char *r = p->ref;
    bool ok = *r && r[0] != '-' && !strstr(r, "..") && strlen(r) < 200;
    for (; ok && *r; r++)
        ok = (*r >= 'a' && *r <= 'z') || (*r >= 'A' && *r <= 'Z') ||
             (*r >= '0' && *r <= '9') || strchr("._+-/", *r);
    if (!ok)
        return nk_fail(ctx, NK_INVALID_ARG, "hub pull: invalid %s '%s'",
                       at ? "tag" : "ref", p->ref);
    *kind = at ? NK_HUB_ASSET : NK_HUB_REPO;
    p->name = hub_strf("%s/%s%c%s/%s", p->owner, p->repo, at ? '@' : ':',
                       p->ref, model);
    return p->name ? NK_OK : nomem(ctx);
}

static nk_status write_output(nk_ctx *ctx, const nk_hub_entry *e,
                              const char *out)
{
    if (e->kind == NK_HUB_ASSET)
        return hub_copy_file(ctx, e->path, out);
    nk_graph *g = NULL;
    nk_status st = nk_model_load(ctx, e->path, &g);
    if (st == NK_OK)
        st = nk_model_save(ctx, g, out, NK_FORMAT_AUTO);
    nk_graph_free(g);
    return st;
}

nk_status nk_hub_pull(nk_ctx *ctx, const nk_hub_opts *opts, const char *spec,
                      const char *model, nk_hub_entry *out)
{
    if (!spec || !out)
        return nk_fail(ctx, NK_INVALID_ARG, "hub pull: no name given");
    memset(out, 0, sizeof *out);
    if (opts && opts->sha256 && !hub_is_hex(opts->sha256, true))
        return nk_fail(ctx, NK_INVALID_ARG, "hub pull: --sha256 '%s' is not "
                       "64 hex digits", opts->sha256);
    pull p;
    memset(&p, 0, sizeof p);
    p.ctx = ctx;
    p.opts = opts;
    nk_status st = hub_env_init(ctx, opts, &p.env);
    if (st)
        return st;
    nk_hub_kind kind = NK_HUB_INDEX;
    int lock = -1;
    if ((st = parse_spec(&p, spec, model, &kind)) ||
        (st = hub_mkdirs(ctx, p.env.home)) ||
        (st = hub_lock(ctx, &p.env, p.name, &lock)))
        goto done;
    /* Under the lock: a concurrent pull that finished first left a
     * complete entry, which we use. */
    if (!(opts && opts->force) && hub_cached(ctx, &p.env, p.name, out)) {
        if (opts && opts->sha256 && strcasecmp(opts->sha256,
                                               out->source_sha256) != 0)
            st = nk_fail(ctx, NK_CHECKSUM, "%s: cached with SHA-256 %s, "
                         "--sha256 expects %s", p.name, out->source_sha256,
                         opts->sha256);
        goto output;
    }
    if (p.env.offline) {
        st = not_cached(&p);
        goto done;
    }
    if (kind != NK_HUB_INDEX && (st = check_trust(&p)))
        goto done;
    st = kind == NK_HUB_INDEX  ? pull_index(&p)
         : kind == NK_HUB_REPO ? pull_repo(&p, model)
                               : pull_asset(&p, model);
    if (st == NK_OK)
        st = hub_record_read(ctx, &p.env, p.name, out);
output:
    if (st == NK_OK && opts && opts->output)
        st = write_output(ctx, out, opts->output);
done:
    if (st)
        nk_hub_entry_clear(out);
    hub_unlock(lock);
    nk_free(p.name);
    hub_env_clear(&p.env);
    return st;
}
