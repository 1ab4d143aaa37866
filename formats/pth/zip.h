/*
 * zip.h — a bounds-checked, read-only view of a zip archive held in memory
 * (the container torch.save writes since 1.6). Only STORED entries are
 * accepted, so entry data is used in place from the caller's mapping.
 */
#ifndef NK_PTH_ZIP_H
#define NK_PTH_ZIP_H

#include "engine/ctx.h"

#include <stddef.h>
#include <stdint.h>

typedef struct nk_zip_entry {
    char *name;          /* NUL-terminated copy (owned by the nk_zip) */
    const uint8_t *data; /* points into the archive bytes */
    uint64_t size;       /* bytes at data, inside the archive */
} nk_zip_entry;

typedef struct nk_zip {
    const uint8_t *base;
    size_t len;
    nk_zip_entry *entries;
    size_t n;
} nk_zip;

/* True when the bytes begin like a zip archive (local header or empty
 * archive signature). */
bool nk_zip_probe(const void *data, size_t len);

/*
 * nk_zip_open — parse the end-of-central-directory record (zip64 too), the
 * central directory and every local header of the archive in data[0..len).
 * Every offset and size is checked against len. Entries that are not
 * STORED (method 0) or are encrypted fail with NK_UNSUPPORTED naming the
 * entry; structural damage is NK_FORMAT. `path` is only used in messages.
 * The archive bytes must outlive z. Free with nk_zip_close.
 */
nk_status nk_zip_open(nk_ctx *ctx, const char *path, const void *data,
                      size_t len, nk_zip *z);
void nk_zip_close(nk_zip *z);

/* The entry named exactly `name`, or NULL. */
const nk_zip_entry *nk_zip_find(const nk_zip *z, const char *name);

#endif /* NK_PTH_ZIP_H */
