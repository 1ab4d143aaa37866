/*
 * github.c — the GitHub releases API: GET /repos/OWNER/REPO/releases/tags/
 * TAG, find an asset by name, and read its download URL, size and the
 * "digest": "sha256:<hex>" GitHub computes for assets.
 */
#include "hub/hub.h"

#include <stdio.h>
#include <string.h>

#define HUB_API_MAX (8u << 20)

void hub_asset_clear(hub_asset *a)
{
    nk_free(a->url);
    nk_free(a->sha256);
    memset(a, 0, sizeof *a);
}

static bool valid_tag(const char *t)
{
    if (!t || !*t || strlen(t) > 200 || t[0] == '-' || strstr(t, ".."))
        return false;
    for (; *t; t++)
        if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') ||
              (*t >= '0' && *t <= '9') || strchr("._+-/", *t)))
            return false;
    return true;
}

nk_status hub_release_asset(nk_ctx *ctx, const hub_env *env,
                            const char *owner, const char *repo,
                            const char *tag, const char *asset,
                            hub_asset *out)
{
    memset(out, 0, sizeof *out);
    if (!valid_tag(tag))
        return nk_fail(ctx, NK_INVALID_ARG, "hub: invalid release tag '%s'",
                       tag);
    char *url = hub_strf("%s/repos/%s/%s/releases/tags/%s", env->api_url,
                         owner, repo, tag);
    if (!url)
        return nk_fail(ctx, NK_NOMEM, "hub: out of memory");
    char *body = NULL;
    size_t len = 0;
    json_object *o = NULL;
    nk_status st = hub_fetch_mem(ctx, env, url, HUB_API_MAX, &body, &len);
    if (st == NK_NOT_FOUND)
        nk_errmsg_prefix(ctx, "no release '%s' in %s/%s", tag, owner, repo);
    if (st == NK_OK)
        st = hub_json_parse(ctx, url, body, len, &o);
    nk_free(body);
    json_object *assets = st == NK_OK ? hub_json_arr(o, "assets") : NULL;
    if (st == NK_OK && !assets)
        st = nk_fail(ctx, NK_FORMAT, "%s: no \"assets\" array", url);
    char names[512] = "";
    size_t used = 0;
    for (size_t i = 0; st == NK_OK && assets &&
                       i < json_object_array_length(assets);
         i++) {
        json_object *a = json_object_array_get_idx(assets, i);
        const char *name = hub_json_str(a, "name");
        if (!name)
            continue;
        if (strcmp(name, asset) != 0) {
            int w = snprintf(names + used, sizeof names - used, "%s%s",
                             used ? ", " : "", name);
            if (w > 0 && (size_t)w < sizeof names - used)
                used += (size_t)w;
            continue;
        }
        const char *dl = hub_json_str(a, "browser_download_url");
        if (!dl) {
            st = nk_fail(ctx, NK_FORMAT, "%s: asset '%s' has no "
                         "browser_download_url", url, asset);
            break;
        }
        json_object *v;
        out->size = json_object_object_get_ex(a, "size", &v)
                        ? json_object_get_int64(v)
                        : -1;
        const char *digest = hub_json_str(a, "digest");
        if (digest && !strncmp(digest, "sha256:", 7)) {
            if (!hub_is_hex(digest + 7, true)) {
                st = nk_fail(ctx, NK_FORMAT, "%s: asset '%s' has a malformed "
                             "digest '%s'", url, asset, digest);
                break;
            }
            out->sha256 = nk_strdup(digest + 7);
            if (!out->sha256)
                st = nk_fail(ctx, NK_NOMEM, "hub: out of memory");
        }
        out->url = nk_strdup(dl);
        if (!out->url)
            st = nk_fail(ctx, NK_NOMEM, "hub: out of memory");
        json_object_put(o);
        nk_free(url);
        if (st)
            hub_asset_clear(out);
        return st;
    }
    if (st == NK_OK)
        st = nk_fail(ctx, NK_NOT_FOUND, "%s/%s@%s has no asset '%s' "
                     "(assets: %s)", owner, repo, tag, asset,
                     used ? names : "none");
    json_object_put(o);
    nk_free(url);
    return st;
}
