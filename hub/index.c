/*
 * index.c — nnkit's index of pretrained models (hub/index.json, installed
 * to share/nnkit/): found beside the binary, in the install prefix, or at
 * NNKIT_HUB_INDEX (a path or a URL).
 */
#include "hub/hub.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef NK_HUB_INDEX_INSTALLED
#define NK_HUB_INDEX_INSTALLED "/usr/local/share/nnkit/index.json"
#endif

#define HUB_INDEX_MAX (16u << 20)

char *hub_index_default_path(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            /* The build tree (bin and share side by side), then an
             * install prefix (bin/../share). */
            const char *rel[] = {"share/nnkit/index.json",
                                 "../share/nnkit/index.json"};
            for (int i = 0; i < 2; i++) {
                char *p = hub_strf("%s/%s", exe, rel[i]);
                if (p && access(p, R_OK) == 0)
                    return p;
                nk_free(p);
            }
        }
    }
    return nk_strdup(NK_HUB_INDEX_INSTALLED);
}

nk_status hub_index_load(nk_ctx *ctx, const hub_env *env, json_object **out,
                         char **where)
{
    nk_status st;
    json_object *o = NULL;
    char *src = env->index ? nk_strdup(env->index) : hub_index_default_path();
    if (!src)
        return nk_fail(ctx, NK_NOMEM, "hub: out of memory");
    if (strstr(src, "://")) {
        char *body = NULL;
        size_t len = 0;
        st = hub_fetch_mem(ctx, env, src, HUB_INDEX_MAX, &body, &len);
        if (st == NK_OK)
            st = hub_json_parse(ctx, src, body, len, &o);
        nk_free(body);
    } else {
        st = hub_json_load(ctx, src, &o);
        if (st == NK_IO)
            nk_errmsg_prefix(ctx, "hub index (set NNKIT_HUB_INDEX)");
    }
    if (st == NK_OK && !hub_json_obj(o, "models")) {
        json_object_put(o);
        st = nk_fail(ctx, NK_FORMAT, "%s: no \"models\" object", src);
    }
    if (st) {
        nk_free(src);
        return st;
    }
    *out = o;
    *where = src;
    return NK_OK;
}
