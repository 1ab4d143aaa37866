/*
 * unpickle.h — a restricted pickle reader for torch.save's data.pkl. It
 * builds a small value tree and never runs code: only an allow-list of
 * globals (OrderedDict, tensor rebuild functions, typed storages) may be
 * named, and only those are "called", by interpretation.
 */
#ifndef NK_PTH_UNPICKLE_H
#define NK_PTH_UNPICKLE_H

#include "engine/ctx.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Element types of torch storages (wider than nk_dtype: f64, i16). */
typedef enum nk_pth_dtype {
    NK_PTH_F32 = 0,
    NK_PTH_F16,
    NK_PTH_BF16,
    NK_PTH_F64,
    NK_PTH_I64,
    NK_PTH_I32,
    NK_PTH_I16,
    NK_PTH_I8,
    NK_PTH_U8,
    NK_PTH_BOOL,
    NK_PTH_DTYPE_COUNT
} nk_pth_dtype;

const char *nk_pth_dtype_name(nk_pth_dtype dt); /* "f32", "f64", ... */
size_t nk_pth_dtype_size(nk_pth_dtype dt);

typedef enum nk_pv_kind {
    NK_PV_NONE = 0,
    NK_PV_BOOL,
    NK_PV_INT,
    NK_PV_FLOAT,
    NK_PV_STR,
    NK_PV_BYTES,
    NK_PV_TUPLE,
    NK_PV_LIST,
    NK_PV_DICT,
    NK_PV_GLOBAL,  /* an allow-listed callable or class */
    NK_PV_STORAGE, /* a persistent-id storage reference */
    NK_PV_TENSOR,  /* a rebuilt tensor (view of a storage) */
    NK_PV_KIND_COUNT
} nk_pv_kind;

typedef struct nk_pv nk_pv;

struct nk_pv {
    nk_pv_kind kind;
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            const char *s; /* NUL-terminated; may hold inner NULs */
            size_t len;
        } str; /* STR, BYTES */
        struct {
            nk_pv **items;
            size_t n, cap;
        } seq; /* TUPLE, LIST */
        struct {
            nk_pv **keys, **vals;
            size_t n, cap;
        } dict;
        int global; /* internal id of the allow-listed global */
        struct {
            nk_pth_dtype dtype;
            const char *key; /* entry name under <archive>/data/ */
            int64_t numel;
        } storage;
        struct {
            const nk_pv *storage;
            int64_t offset;
            int rank;
            int64_t size[NK_MAX_RANK];
            int64_t stride[NK_MAX_RANK];
        } tensor;
    } u;
};

/* The allocations behind one unpickled value tree. */
typedef struct nk_pickle {
    void *allocs; /* linked list, freed by nk_pickle_free */
    size_t n_values;
    nk_pv *root;
} nk_pickle;

/*
 * nk_unpickle — interpret the pickle in data[0..len) (protocols 0-4, the
 * opcodes a torch state dict uses). `where` prefixes messages
 * ("model.pth: data.pkl"). A global outside the allow-list fails with
 * NK_UNSUPPORTED naming it, before anything is built from it; malformed
 * input is NK_FORMAT naming the byte offset. Stack depth, memo size and
 * value count are limited. On success p->root is the result; free with
 * nk_pickle_free (also after failure).
 */
nk_status nk_unpickle(nk_ctx *ctx, const char *where, const uint8_t *data,
                      size_t len, nk_pickle *p);
void nk_pickle_free(nk_pickle *p);

/* The value under string key `key` of dict d, or NULL. */
const nk_pv *nk_pv_dict_get(const nk_pv *d, const char *key);

#endif /* NK_PTH_UNPICKLE_H */
