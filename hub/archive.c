/*
 * archive.c — unpack a repository archive (tar.gz or zip) with libarchive
 * into a fresh directory, treating it as hostile: absolute paths, "..",
 * links that leave the folder, devices/fifos/sockets and archives that
 * expand past a limit are refused before anything is written for them.
 */
#include "hub/hub.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#define HUB_MAX_ENTRIES 200000

/* Whether a relative path stays inside its root when resolved lexically
 * from directory `base` (itself relative to the root, "" for the root). */
static bool stays_inside(const char *base, const char *rel)
{
    if (!rel[0] || rel[0] == '/')
        return false;
    int depth = 0;
    /* Count the components of base, then walk rel. */
    for (const char *p = base; *p;) {
        const char *s = strchr(p, '/');
        size_t l = s ? (size_t)(s - p) : strlen(p);
        if (l == 2 && !strncmp(p, "..", 2))
            return false;
        if (l && !(l == 1 && *p == '.'))
            depth++;
        p += l;
        if (*p == '/')
            p++;
    }
    for (const char *p = rel; *p;) {
        const char *s = strchr(p, '/');
        size_t l = s ? (size_t)(s - p) : strlen(p);
        if (l == 2 && !strncmp(p, "..", 2)) {
            if (--depth < 0)
                return false;
        } else if (l && !(l == 1 && *p == '.')) {
            depth++;
        }
        p += l;
        if (*p == '/')
            p++;
    }
    return true;
}

/* An entry's own path: relative, no ".." component at all. */
static bool safe_path(const char *p)
{
    if (!p || !p[0] || p[0] == '/')
        return false;
    for (const char *c = p; *c;) {
        const char *s = strchr(c, '/');
        size_t l = s ? (size_t)(s - c) : strlen(c);
        if (l == 2 && !strncmp(c, "..", 2))
            return false;
        c += l;
        if (*c == '/')
            c++;
    }
    return true;
}

static nk_status refuse(nk_ctx *ctx, const char *arch, const char *entry,
                        const char *why)
{
    return nk_fail(ctx, NK_FORMAT, "%s: refusing archive entry '%s': %s",
                   arch, entry ? entry : "(no name)", why);
}

static nk_status check_entry(nk_ctx *ctx, const char *path,
                             struct archive_entry *e)
{
    const char *name = archive_entry_pathname(e);
    if (!name || name[0] == '/' || (name[0] && name[1] == ':'))
        return refuse(ctx, path, name, "absolute path");
    if (!safe_path(name))
        return refuse(ctx, path, name, "'..' in the path");
    mode_t type = archive_entry_filetype(e);
    const char *hard = archive_entry_hardlink(e);
    if (hard) {
        if (!safe_path(hard))
            return refuse(ctx, path, name, "hard link leaves the folder");
        return NK_OK;
    }
    switch (type) {
    case AE_IFREG:
    case AE_IFDIR:
        return NK_OK;
    case AE_IFLNK: {
        const char *t = archive_entry_symlink(e);
        char base[4096];
        snprintf(base, sizeof base, "%s", name);
        char *slash = strrchr(base, '/');
        if (slash)
            *slash = 0;
        else
            base[0] = 0;
        if (!t || !stays_inside(base, t))
            return refuse(ctx, path, name, "symbolic link points outside "
                          "the folder");
        return NK_OK;
    }
    default:
        return refuse(ctx, path, name, "device, fifo or socket");
    }
}

/* The directory's only entry when it is a directory (GitHub's top
 * folder), else dir itself. */
static char *find_root(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return nk_strdup(dir);
    struct dirent *de;
    char *only = NULL;
    int n = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (n++ == 0)
            only = nk_strdup(de->d_name);
    }
    closedir(d);
    char *root = NULL;
    if (n == 1 && only) {
        char *p = hub_strf("%s/%s", dir, only);
        struct stat sb;
        if (p && lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            root = p;
        else
            nk_free(p);
    }
    nk_free(only);
    return root ? root : nk_strdup(dir);
}

nk_status hub_extract(nk_ctx *ctx, const char *path, const char *dir,
                      uint64_t max_bytes, char **root)
{
    if (mkdir(dir, 0700) != 0)
        return nk_fail(ctx, NK_IO, "%s: cannot create: %s", dir,
                       strerror(errno));
    struct archive *a = archive_read_new();
    struct archive *w = archive_write_disk_new();
    if (!a || !w) {
        archive_read_free(a);
        archive_write_free(w);
        return nk_fail(ctx, NK_NOMEM, "%s: out of memory", path);
    }
    archive_read_support_filter_gzip(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_zip(a);
    /* Defence in depth behind our own checks: never write through a
     * symlink, never replace a file. (Entry paths are prefixed with dir,
     * so the absolute-path and ".." options cannot be used here.) */
    archive_write_disk_set_options(
        w, ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_NO_OVERWRITE);
    nk_status st = NK_OK;
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
        st = nk_fail(ctx, NK_FORMAT, "%s: not a tar.gz or zip archive: %s",
                     path, archive_error_string(a));
        goto done;
    }
    uint64_t total = 0;
    int count = 0;
    struct archive_entry *e;
    for (;;) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            st = nk_fail(ctx, NK_FORMAT, "%s: %s", path,
                         archive_error_string(a));
            goto done;
        }
        if (++count > HUB_MAX_ENTRIES) {
            st = nk_fail(ctx, NK_FORMAT, "%s: more than %d entries", path,
                         HUB_MAX_ENTRIES);
            goto done;
        }
        if ((st = check_entry(ctx, path, e)))
            goto done;
        const char *name = archive_entry_pathname(e);
        if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0 &&
            (uint64_t)archive_entry_size(e) > max_bytes - total) {
            st = refuse(ctx, path, name, "expands past the size limit "
                        "(NNKIT_HUB_MAX_EXTRACT_MB)");
            goto done;
        }
        char *full = hub_strf("%s/%s", dir, name);
        char *fhard = archive_entry_hardlink(e)
                          ? hub_strf("%s/%s", dir, archive_entry_hardlink(e))
                          : NULL;
        if (!full || (archive_entry_hardlink(e) && !fhard)) {
            nk_free(full);
            nk_free(fhard);
            st = nk_fail(ctx, NK_NOMEM, "%s: out of memory", path);
            goto done;
        }
        archive_entry_set_pathname(e, full);
        if (fhard)
            archive_entry_set_hardlink(e, fhard);
        nk_free(full);
        nk_free(fhard);
        archive_entry_set_perm(e, archive_entry_filetype(e) == AE_IFDIR ||
                                          (archive_entry_perm(e) & 0100)
                                      ? 0755
                                      : 0644);
        if (archive_write_header(w, e) < ARCHIVE_WARN) {
            st = nk_fail(ctx, NK_FORMAT, "%s: cannot extract '%s': %s", path,
                         name, archive_error_string(w));
            goto done;
        }
        const void *buf;
        size_t len;
        la_int64_t off;
        while ((r = archive_read_data_block(a, &buf, &len, &off)) ==
               ARCHIVE_OK) {
            /* Sizes in headers may lie: count what really comes out. */
            if (len > max_bytes - total) {
                st = refuse(ctx, path, name, "expands past the size limit "
                            "(NNKIT_HUB_MAX_EXTRACT_MB)");
                goto done;
            }
            total += len;
            if (archive_write_data_block(w, buf, len, off) < ARCHIVE_WARN) {
                st = nk_fail(ctx, NK_IO, "%s: writing '%s': %s", path, name,
                             archive_error_string(w));
                goto done;
            }
        }
        if (r != ARCHIVE_EOF) {
            st = nk_fail(ctx, NK_FORMAT, "%s: '%s': %s", path, name,
                         archive_error_string(a));
            goto done;
        }
        if (archive_write_finish_entry(w) < ARCHIVE_WARN) {
            st = nk_fail(ctx, NK_IO, "%s: '%s': %s", path, name,
                         archive_error_string(w));
            goto done;
        }
    }
    if (archive_write_close(w) != ARCHIVE_OK) {
        st = nk_fail(ctx, NK_IO, "%s: %s", path, archive_error_string(w));
        goto done;
    }
    *root = find_root(dir);
    if (!*root)
        st = nk_fail(ctx, NK_NOMEM, "%s: out of memory", path);
done:
    archive_read_free(a);
    archive_write_free(w);
    return st;
}
