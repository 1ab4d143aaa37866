/*
 * pth.h — internal API of the PyTorch checkpoint reader: read a torch.save
 * zip checkpoint's state dict into a flat list of (name, dtype, shape,
 * data) entries whose data points into a read-only mapping of the file.
 */
#ifndef NK_PTH_H
#define NK_PTH_H

#include "engine/ctx.h"
#include "formats/pth/unpickle.h"
#include "formats/pth/zip.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct nk_pth_tensor {
    const char *name;     /* state dict key (owned by the state) */
    nk_pth_dtype dtype;
    int rank;
    int64_t shape[NK_MAX_RANK];
    int64_t numel;
    const void *data;     /* into the mapping; not necessarily aligned */
    size_t nbytes;        /* numel * element size */
} nk_pth_tensor;

typedef struct nk_pth_state {
    void *map;
    size_t map_len;
    nk_zip zip;
    nk_pickle pickle;
    char *where;          /* "PATH: data.pkl" */
    nk_pth_tensor *tensors;
    int n;
    const char *container; /* "" or the key the state dict was under */
} nk_pth_state;

/*
 * nk_pth_read — map `path`, parse its zip container, unpickle data.pkl
 * with the restricted unpickler and resolve every tensor of the state dict
 * (the top-level dict, or the dict under "state_dict" or "model"; entries
 * that are not tensors are skipped). Each tensor must be contiguous
 * (NK_UNSUPPORTED naming the key otherwise) and lie inside its storage
 * entry (NK_FORMAT). Legacy (pre-1.6) files fail with NK_UNSUPPORTED.
 * The caller owns *out (nk_pth_free); tensor data stays valid until then.
 */
nk_status nk_pth_read(nk_ctx *ctx, const char *path, nk_pth_state **out);
void nk_pth_free(nk_pth_state *s);

/* The nk_dtype with the same element type, or false (f64, i16). */
bool nk_pth_to_nk_dtype(nk_pth_dtype src, nk_dtype *out);

/* Whether values of src can be copied into a dst tensor: same type, any
 * float into f32/f16/bf16, any integer/bool into i64 (and narrower ones
 * into i32). */
bool nk_pth_can_convert(nk_pth_dtype src, nk_dtype dst);

/* Copy t's elements into dst (t->numel elements of type dst_dt),
 * converting as nk_pth_can_convert allows. Same-type copies are
 * bit-exact. NK_INVALID_ARG if the conversion is not allowed. */
nk_status nk_pth_convert(nk_ctx *ctx, const nk_pth_tensor *t,
                         nk_dtype dst_dt, void *dst);

#endif /* NK_PTH_H */
