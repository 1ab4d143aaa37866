/*
 * json.c — json-c helpers: parse with a message that names the file and
 * position, and typed member lookups that treat a wrong type as absent.
 */
#include "hub/hub.h"

#include <string.h>

#define HUB_JSON_MAX (64u << 20)

nk_status hub_json_parse(nk_ctx *ctx, const char *what, const char *text,
                         size_t len, json_object **out)
{
    if (len > HUB_JSON_MAX)
        return nk_fail(ctx, NK_FORMAT, "%s: %zu bytes of JSON, limit %u",
                       what, len, HUB_JSON_MAX);
    json_tokener *tok = json_tokener_new_ex(64);
    if (!tok)
        return nk_fail(ctx, NK_NOMEM, "%s: out of memory", what);
    json_object *o = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error err = json_tokener_get_error(tok);
    size_t off = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (err != json_tokener_success || !o) {
        json_object_put(o);
        return nk_fail(ctx, NK_FORMAT, "%s: invalid JSON at byte %zu: %s",
                       what, off,
                       err == json_tokener_continue
                           ? "unexpected end of input"
                           : json_tokener_error_desc(err));
    }
    *out = o;
    return NK_OK;
}

nk_status hub_json_load(nk_ctx *ctx, const char *path, json_object **out)
{
    uint8_t *data = NULL;
    size_t len = 0;
    nk_status st = nk_file_read(ctx, path, &data, &len);
    if (st)
        return st;
    st = hub_json_parse(ctx, path, (const char *)data, len, out);
    nk_free(data);
    return st;
}

const char *hub_json_str(json_object *o, const char *key)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

json_object *hub_json_obj(json_object *o, const char *key)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, json_type_object))
        return NULL;
    return v;
}

json_object *hub_json_arr(json_object *o, const char *key)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, json_type_array))
        return NULL;
    return v;
}
