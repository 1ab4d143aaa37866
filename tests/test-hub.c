/*
 * test-hub.c — unit tests of the hub's pure parts: SHA-256 against known
 * vectors, torch.hub's file-name hash rule, cache keys, safe extraction of
 * hostile archives, and the shipped index and manifest parsing.
 */
#include "harness.h"
#include "hub/hub.h"

#include <archive.h>
#include <archive_entry.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_sha256(void)
{
    char hex[HUB_SHA256_HEX];
    hub_sha256_mem("abc", 3, hex);
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    hub_sha256_mem("", 0, hex);
    CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    const char *dir = nk_test_tmpdir("hub-sha");
    char path[512];
    snprintf(path, sizeof path, "%s/f", dir);
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    /* 1 MB of 'a' crosses the read buffer many times. */
    for (int i = 0; i < 1 << 20; i++)
        fputc('a', f);
    fclose(f);
    nk_ctx *ctx;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    CHECK_OK(ctx, hub_sha256_file(ctx, path, hex));
    CHECK(!strcmp(hex, "9bc1b2a288b26af7257a36277ae3816a7d4f16e89c1e7e77d0a5c48bad62b360"));
    CHECK(hub_sha256_file(ctx, "/nonexistent/x", hex) == NK_IO);
    CHECK(strstr(nk_errmsg(ctx), "/nonexistent/x") != NULL);
    nk_ctx_free(ctx);
}

static void test_hash_rule(void)
{
    char h[HUB_SHA256_HEX];
    hub_hash_from_url("https://download.pytorch.org/models/resnet18-f37072fd.pth", h);
    CHECK(!strcmp(h, "f37072fd"));
    hub_hash_from_url("https://x/vgg16_features-amdegroot-88682ab5.pth", h);
    CHECK(!strcmp(h, "88682ab5"));
    hub_hash_from_url("https://x/model.pth", h);
    CHECK(h[0] == 0);
    CHECK(hub_hash_has_prefix("f37072fd0123", "f37072fd"));
    CHECK(hub_hash_has_prefix("f37072fd0123", "F37072FD"));
    CHECK(!hub_hash_has_prefix("f37072fd0123", "f37072fe"));
    CHECK(!hub_hash_has_prefix("f37072fd0123", ""));
    CHECK(hub_is_hex("abcDEF09", false) && !hub_is_hex("abcDEF09", true));
    CHECK(!hub_is_hex("xyz", false) && !hub_is_hex("", false));
}

static void test_keys(void)
{
    char *k = hub_cache_key("owner/repo:main/model");
    CHECK(k && !strcmp(k, "owner%2Frepo%3Amain%2Fmodel"));
    nk_free(k);
    k = hub_cache_key("../x");
    CHECK(k && !strchr(k, '/') && strncmp(k, "..", 2) != 0);
    nk_free(k);
    CHECK(hub_valid_name("pytorch") && hub_valid_name("my-repo.v2"));
    CHECK(!hub_valid_name("..") && !hub_valid_name("a/b") && !hub_valid_name(""));
}

/* Write a tar.gz with the given entries (type 'f' file, 'l' symlink, 'h'
 * hard link, 'c' char device). */
typedef struct tentry {
    const char *name;
    char type;
    const char *target;
    size_t size;
} tentry;

static void make_tgz(const char *path, const tentry *e, int n)
{
    struct archive *a = archive_write_new();
    archive_write_add_filter_gzip(a);
    archive_write_set_format_pax_restricted(a);
    archive_write_open_filename(a, path);
    static char zeros[1 << 16];
    for (int i = 0; i < n; i++) {
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname(ae, e[i].name);
        archive_entry_set_perm(ae, 0644);
        switch (e[i].type) {
        case 'l':
            archive_entry_set_filetype(ae, AE_IFLNK);
            archive_entry_set_symlink(ae, e[i].target);
            break;
        case 'h':
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_hardlink(ae, e[i].target);
            break;
        case 'c':
            archive_entry_set_filetype(ae, AE_IFCHR);
            archive_entry_set_rdev(ae, 0x0103);
            break;
        default:
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_size(ae, (la_int64_t)e[i].size);
        }
        archive_write_header(a, ae);
        for (size_t left = e[i].type == 'f' ? e[i].size : 0; left;) {
            size_t c = left < sizeof zeros ? left : sizeof zeros;
            archive_write_data(a, zeros, c);
            left -= c;
        }
        archive_entry_free(ae);
    }
    archive_write_close(a);
    archive_write_free(a);
}

static nk_status extract(nk_ctx *ctx, const char *name, const tentry *e,
                         int n, uint64_t limit, char **root)
{
    const char *dir = nk_test_tmpdir(name);
    char tgz[512], out[512];
    snprintf(tgz, sizeof tgz, "%s/a.tar.gz", dir);
    snprintf(out, sizeof out, "%s/x", dir);
    make_tgz(tgz, e, n);
    hub_rmtree(out); /* from an earlier run */
    *root = NULL;
    return hub_extract(ctx, tgz, out, limit, root);
}

static void test_archives(void)
{
    nk_ctx *ctx;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    char *root = NULL;
    const tentry good[] = {{"repo-main/", 'd', NULL, 0},
                           {"repo-main/nnkit-hub.json", 'f', NULL, 10},
                           {"repo-main/sub/a.bin", 'f', NULL, 100},
                           {"repo-main/sub/link", 'l', "a.bin", 0},
                           {"repo-main/up", 'l', "../repo-main/sub", 0}};
    CHECK_OK(ctx, extract(ctx, "hub-ar-good", good, 5, 1 << 20, &root));
    CHECK(root && strstr(root, "/x/repo-main") != NULL);
    if (root) {
        char p[600];
        struct stat sb;
        snprintf(p, sizeof p, "%s/sub/a.bin", root);
        CHECK(stat(p, &sb) == 0 && sb.st_size == 100);
        snprintf(p, sizeof p, "%s/nnkit-hub.json", root);
        CHECK(stat(p, &sb) == 0 && sb.st_size == 10);
    }
    nk_free(root);

    struct {
        const char *name, *needle;
        tentry e[2];
    } bad[] = {
        {"hub-ar-dotdot", "'..'", {{"r/a", 'f', NULL, 1}, {"r/../../evil", 'f', NULL, 1}}},
        {"hub-ar-abs", "absolute", {{"r/a", 'f', NULL, 1}, {"/tmp/nnkit-evil", 'f', NULL, 1}}},
        {"hub-ar-link", "symbolic link", {{"r/a", 'f', NULL, 1}, {"r/l", 'l', "../../etc", 0}}},
        {"hub-ar-abslink", "symbolic link", {{"r/a", 'f', NULL, 1}, {"r/l", 'l', "/etc/passwd", 0}}},
        {"hub-ar-hard", "hard link", {{"r/a", 'f', NULL, 1}, {"r/h", 'h', "../../etc/passwd", 0}}},
        {"hub-ar-dev", "device", {{"r/a", 'f', NULL, 1}, {"r/null", 'c', NULL, 0}}},
        {"hub-ar-big", "size limit", {{"r/a", 'f', NULL, 1}, {"r/big", 'f', NULL, 300000}}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nk_status st = extract(ctx, bad[i].name, bad[i].e, 2, 200000, &root);
        CHECKF(st == NK_FORMAT && strstr(nk_errmsg(ctx), bad[i].needle),
               "%s: %s: %s", bad[i].name, nk_status_name(st), nk_errmsg(ctx));
        nk_free(root);
    }
    CHECK(access("/tmp/nnkit-evil", F_OK) != 0);
    /* Not an archive at all. */
    const char *dir = nk_test_tmpdir("hub-ar-junk");
    char junk[512], out[512];
    snprintf(junk, sizeof junk, "%s/j.tar.gz", dir);
    snprintf(out, sizeof out, "%s/x", dir);
    FILE *f = fopen(junk, "wb");
    REQUIRE(f);
    fputs("this is not an archive", f);
    fclose(f);
    hub_rmtree(out);
    CHECK(hub_extract(ctx, junk, out, 1 << 20, &root) == NK_FORMAT);
    nk_ctx_free(ctx);
}

static void test_index(void)
{
    nk_ctx *ctx;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    const char *src = getenv("NNKIT_SRC");
    char path[1024];
    snprintf(path, sizeof path, "%s/hub/index.json", src ? src : ".");
    json_object *idx = NULL;
    REQUIRE_OK(ctx, hub_json_load(ctx, path, &idx));
    json_object *models = hub_json_obj(idx, "models");
    REQUIRE(models);
    const char *names[] = {"resnet18", "resnet34", "resnet50", "resnet101",
                           "resnet152", "vgg11", "vgg13", "vgg16", "vgg19",
                           "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
                           "mobilenet_v2", "mobilenet_v3_small",
                           "mobilenet_v3_large"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        hub_model m;
        json_object *e = hub_json_obj(models, names[i]);
        CHECKF(e != NULL, "index lacks %s", names[i]);
        if (!e)
            continue;
        CHECK_OK(ctx, hub_model_parse(ctx, names[i], e, true, &m));
        CHECK(m.arch && !strcmp(m.arch, names[i]));
        CHECK(m.weights_url && !strncmp(m.weights_url,
                                        "https://download.pytorch.org/models/", 36));
        char h[HUB_SHA256_HEX];
        hub_hash_from_url(m.weights_url, h);
        CHECKF(h[0] && !strcmp(h, m.weights_sha), "%s: %s vs %s", names[i], h,
               m.weights_sha);
        /* The zoo knows the architecture. */
        int found = 0;
        for (int z = 0; z < nk_zoo_count(); z++)
            found |= !strcmp(nk_zoo_name(z), m.arch);
        CHECKF(found, "%s is not a zoo architecture", m.arch);
    }
    json_object_put(idx);

    /* Manifest rules. */
    const struct {
        const char *json, *needle;
    } cases[] = {
        {"{\"arch\": \"lenet5\", \"file\": \"m.nnk\"}", "exactly one"},
        {"{\"arch\": \"lenet5\", \"weights\": {\"url\": \"https://x/w.pth\"}}", "sha256"},
        {"{\"arch\": \"lenet5\", \"weights\": {\"url\": \"u\", \"sha256\": \"12\"}}", "64 hex"},
        {"{\"arch\": \"lenet5\", \"args\": {\"classes\": -3}}", "classes"},
        {"{\"arch\": \"lenet5\", \"preprocessing\": 7}", "object"},
        {"[1]", "object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_object *o = NULL;
        hub_model m;
        REQUIRE_OK(ctx, hub_json_parse(ctx, "case", cases[i].json,
                                       strlen(cases[i].json), &o));
        nk_status st = hub_model_parse(ctx, "m.json", o, false, &m);
        CHECKF(st == NK_FORMAT && strstr(nk_errmsg(ctx), cases[i].needle),
               "case %zu: %s", i, nk_errmsg(ctx));
        json_object_put(o);
    }
    json_object *o = NULL;
    CHECK(hub_json_parse(ctx, "broken.json", "{\"a\": ", 6, &o) == NK_FORMAT);
    CHECK(strstr(nk_errmsg(ctx), "broken.json") != NULL);
    nk_ctx_free(ctx);
}

static void test_paths(void)
{
    nk_ctx *ctx;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    const char *dir = nk_test_tmpdir("hub-paths");
    char p[512];
    snprintf(p, sizeof p, "%s/ok.txt", dir);
    FILE *f = fopen(p, "w");
    REQUIRE(f);
    fclose(f);
    snprintf(p, sizeof p, "%s/out", dir);
    symlink("/etc", p);
    char *r = NULL;
    CHECK_OK(ctx, hub_path_inside(ctx, "m", dir, "ok.txt", &r));
    nk_free(r);
    CHECK(hub_path_inside(ctx, "m", dir, "../x", &r) == NK_FORMAT);
    CHECK(hub_path_inside(ctx, "m", dir, "/etc/passwd", &r) == NK_FORMAT);
    CHECK(hub_path_inside(ctx, "m", dir, "out/passwd", &r) == NK_FORMAT);
    CHECK(strstr(nk_errmsg(ctx), "outside") != NULL);
    nk_ctx_free(ctx);
}

static void test_offline_api(void)
{
    nk_ctx *ctx;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    nk_hub_opts o = {0};
    o.home = nk_test_tmpdir("hub-offline");
    o.offline = 1;
    nk_hub_entry e;
    nk_status st = nk_hub_pull(ctx, &o, "resnet18", NULL, &e);
    CHECK(st == NK_NOT_FOUND && strstr(nk_errmsg(ctx), "offline"));
    CHECK(nk_hub_pull(ctx, &o, "a/b", NULL, &e) == NK_INVALID_ARG);
    CHECK(nk_hub_pull(ctx, &o, "a/b:../x", "m", &e) == NK_INVALID_ARG);
    CHECK(nk_hub_pull(ctx, &o, "resnet18", "extra", &e) == NK_INVALID_ARG);
    o.sha256 = "12";
    CHECK(nk_hub_pull(ctx, &o, "a/b@v1", "x", &e) == NK_INVALID_ARG);
    CHECK(nk_hub_info(ctx, &o, "resnet18", &e) == NK_NOT_FOUND);
    CHECK(nk_hub_rm(ctx, &o, "resnet18") == NK_NOT_FOUND);
    int bad = -1;
    CHECK_OK(ctx, nk_hub_verify(ctx, &o, NULL, NULL, &bad));
    CHECK(bad == 0);
    char buf[8];
    CHECK(nk_hub_home(ctx, &o, buf, sizeof buf) == NK_INVALID_ARG);
    nk_ctx_free(ctx);
}

int main(int argc, char **argv)
{
    const nk_test_case cases[] = {
        {"sha256", test_sha256},     {"hash_rule", test_hash_rule},
        {"keys", test_keys},         {"archives", test_archives},
        {"index", test_index},       {"paths", test_paths},
        {"offline_api", test_offline_api},
    };
    return nk_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
