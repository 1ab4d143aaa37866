/*
 * nnkit.h — the public API of libnnkit, and the whole of it.
 *
 * If a function or type is not declared here it is not published: the CLI
 * (cli/) uses nothing else, and neither should any other program.
 *
 * Conventions
 *  - Every fallible call returns nk_status (NK_OK = 0, negative on error)
 *    and leaves a human-readable message in the context: nk_errmsg(ctx).
 *  - Constructors return their object through an out-parameter; every
 *    nk_*_free(NULL) is a no-op.
 *  - A context is used by one thread at a time. Distinct contexts and the
 *    objects created through them may be used from distinct threads.
 */
#ifndef NNKIT_H
#define NNKIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NNKIT_VERSION_MAJOR 0
#define NNKIT_VERSION_MINOR 1
#define NNKIT_VERSION_PATCH 0
#define NNKIT_VERSION "0.1.0"

#if defined(__GNUC__) && !defined(NK_STATIC_DEFINE)
#define NK_API __attribute__((visibility("default")))
#else
#define NK_API
#endif

/* ---------------------------------------------------------------------
 * Status codes and context
 * ------------------------------------------------------------------- */

typedef enum nk_status {
    NK_OK = 0,
    NK_NOMEM = -1,       /* an allocation failed */
    NK_IO = -2,          /* a file could not be read or written */
    NK_FORMAT = -3,      /* a file is malformed */
    NK_UNSUPPORTED = -4, /* valid input that nnkit does not handle */
    NK_INVALID_ARG = -5, /* the caller passed something wrong */
    NK_SHAPE = -6,       /* shapes do not fit together */
    NK_NET = -7,         /* a network transfer failed */
    NK_CHECKSUM = -8,    /* a hash did not match */
    NK_NOT_FOUND = -9,   /* a named thing does not exist */
    NK_INTERNAL = -10,   /* a bug in nnkit */
    NK_STATUS_COUNT = 11
} nk_status;

typedef struct nk_ctx nk_ctx;

/*
 * nk_ctx_new — create a context: the error-message buffer, the thread
 * count and the CPU features chosen for kernels. The caller owns *out and
 * frees it with nk_ctx_free. Fails only with NK_NOMEM.
 */
NK_API nk_status nk_ctx_new(nk_ctx **out);
NK_API void nk_ctx_free(nk_ctx *ctx);

/* The message of the last failure in ctx ("" if none). Valid until the
 * next call that uses ctx. */
NK_API const char *nk_errmsg(const nk_ctx *ctx);

/* A short name for a status code ("NK_FORMAT"). Static storage. */
NK_API const char *nk_status_name(nk_status st);

/* Number of threads used by plans created after this call; 0 = number of
 * online CPUs (the default). */
NK_API void nk_ctx_set_threads(nk_ctx *ctx, int n);
NK_API int nk_ctx_threads(const nk_ctx *ctx);

/* The library version string ("0.1.0"). Static storage. */
NK_API const char *nk_version(void);

/* ---------------------------------------------------------------------
 * Data types
 * ------------------------------------------------------------------- */

typedef enum nk_dtype {
    NK_F32 = 0,
    NK_F16,
    NK_BF16,
    NK_I8,
    NK_U8,
    NK_I32,
    NK_I64,
    NK_BOOL,
    NK_DTYPE_COUNT
} nk_dtype;

/* "f32", "f16", ... Static storage; "?" for an invalid value. */
NK_API const char *nk_dtype_name(nk_dtype dt);
/* Size of one element in bytes; 0 for an invalid value. */
NK_API size_t nk_dtype_size(nk_dtype dt);

#define NK_MAX_RANK 8

/* ---------------------------------------------------------------------
 * Tensors (values exchanged with the library)
 * ------------------------------------------------------------------- */

typedef struct nk_tensor nk_tensor;

/*
 * nk_tensor_new — a zero-filled tensor of the given dtype and shape. The
 * caller owns *out (nk_tensor_free). NK_INVALID_ARG for a bad rank or a
 * negative dim, NK_NOMEM when the data cannot be allocated.
 */
NK_API nk_status nk_tensor_new(nk_ctx *ctx, nk_dtype dt, int rank,
                               const int64_t *dims, nk_tensor **out);
NK_API void nk_tensor_free(nk_tensor *t);

NK_API const char *nk_tensor_name(const nk_tensor *t);
NK_API nk_dtype nk_tensor_dtype(const nk_tensor *t);
NK_API int nk_tensor_rank(const nk_tensor *t);
/* Size of dim i; -1 when the dim is symbolic (only in graph I/O info). */
NK_API int64_t nk_tensor_dim(const nk_tensor *t, int i);
/* Name of a symbolic dim ("batch"), or NULL when dim i is static. */
NK_API const char *nk_tensor_dim_name(const nk_tensor *t, int i);
NK_API int64_t nk_tensor_numel(const nk_tensor *t);
NK_API size_t nk_tensor_nbytes(const nk_tensor *t);
/* The element data (row-major), or NULL for a tensor without data. */
NK_API void *nk_tensor_data(const nk_tensor *t);

/*
 * nk_npy_load / nk_npy_save — NumPy .npy files (format 1.0-3.0, C order,
 * little-endian f32 f16 i8 u8 i32 i64 bool). Load: the caller owns *out.
 * Save writes PATH.tmp, syncs and renames, so no partial file is left.
 */
NK_API nk_status nk_npy_load(nk_ctx *ctx, const char *path, nk_tensor **out);
NK_API nk_status nk_npy_save(nk_ctx *ctx, const nk_tensor *t,
                             const char *path);

/* ---------------------------------------------------------------------
 * Models (graphs)
 * ------------------------------------------------------------------- */

typedef struct nk_graph nk_graph;

typedef enum nk_format {
    NK_FORMAT_AUTO = 0, /* by content, then by extension */
    NK_FORMAT_NNK,
    NK_FORMAT_ONNX,
    NK_FORMAT_TFLITE,
    NK_FORMAT_PTH, /* read only: a state dict, not a graph */
    NK_FORMAT_COUNT
} nk_format;

NK_API const char *nk_format_name(nk_format f);
/* The format a path names by its extension; NK_FORMAT_AUTO if unknown. */
NK_API nk_format nk_format_from_path(const char *path);

/*
 * nk_model_load — read a model file. The format is found from the file's
 * content (the extension is only a hint). Weights of .nnk files are
 * borrowed from a read-only mmap that lives as long as the graph. Shapes
 * are inferred and the graph is validated; errors name the file and the
 * node, tensor or field at fault. The caller owns *out (nk_graph_free).
 */
NK_API nk_status nk_model_load(nk_ctx *ctx, const char *path, nk_graph **out);

/*
 * nk_model_save — write a graph. fmt NK_FORMAT_AUTO picks the format from
 * the path's extension. The file is written to PATH.tmp, synced and
 * renamed: on error no file (and no partial file) is left at path.
 */
NK_API nk_status nk_model_save(nk_ctx *ctx, const nk_graph *g,
                               const char *path, nk_format fmt);

/* Options of nk_model_save_opts; zero-initialise and set what you need.
 * A field set for a format that does not use it is NK_INVALID_ARG (so a
 * request is never silently dropped). */
typedef struct nk_save_opts {
    int onnx_opset; /* ONNX opset to write, 11..17; 0 = 13 */
    /* ONNX: when the initializers total more than this many bytes, they
     * are written beside the model as external data (PATH.data, 4096-byte
     * aligned). 0 = the default, 2,000,000,000 (protobuf's 2 GiB limit). */
    int64_t onnx_external_threshold;
    /* TFLite: store float weights as float16, each followed by a
     * DEQUANTIZE op to float32 (as the TFLite converter's float16
     * quantization does): half the size, float32 compute. */
    int fp16_weights;
    /* TFLite: keep the graph's NCHW inputs and outputs as they are (one
     * TRANSPOSE at each rank-4 boundary) instead of making them NHWC. */
    int keep_nchw_io;
} nk_save_opts;

/*
 * nk_model_save_opts — nk_model_save with options (opts NULL = defaults,
 * which is what nk_model_save does). NK_INVALID_ARG for an opset out of
 * range or an option the chosen format does not have; NK_UNSUPPORTED,
 * naming the node, when the graph cannot be expressed in the format (at
 * the requested opset). No file is left at path (or PATH.data) on error.
 */
NK_API nk_status nk_model_save_opts(nk_ctx *ctx, const nk_graph *g,
                                    const char *path, nk_format fmt,
                                    const nk_save_opts *opts);

NK_API void nk_graph_free(nk_graph *g);

/* Graph inputs and outputs. The returned tensors describe name, dtype and
 * shape (symbolic dims report -1); they carry no data and are owned by the
 * graph. */
NK_API int nk_graph_num_inputs(const nk_graph *g);
NK_API const nk_tensor *nk_graph_input(const nk_graph *g, int i);
NK_API int nk_graph_num_outputs(const nk_graph *g);
NK_API const nk_tensor *nk_graph_output(const nk_graph *g, int i);

/* Total number of elements in the graph's trainable parameters (float
 * initializers) and of all initializers. */
NK_API int64_t nk_graph_param_count(const nk_graph *g);

/* One row of a layer summary: a node, its op and its parameters. */
typedef struct nk_node_info {
    const char *name;    /* node name (may be "") */
    const char *op_type; /* ONNX op type, e.g. "Conv" */
    const char *fused;   /* fused activation name, or NULL */
    const nk_tensor *output; /* first output: name, dtype, shape */
    int64_t params;      /* elements in initializer inputs */
} nk_node_info;

NK_API int nk_graph_num_nodes(const nk_graph *g);
/* Fills *info for node i; pointers stay valid while g is unchanged. */
NK_API nk_status nk_graph_node_info(const nk_graph *g, int i,
                                    nk_node_info *info);

/* ---------------------------------------------------------------------
 * Metadata: labels, preprocessing, provenance
 * ------------------------------------------------------------------- */

typedef enum nk_resize_mode {
    NK_RESIZE_BILINEAR = 0,
    NK_RESIZE_NEAREST,
    NK_RESIZE_COUNT
} nk_resize_mode;

/* How an image becomes the model's input tensor. */
typedef struct nk_preproc {
    int valid;        /* 0: the model carries no preprocessing */
    int resize;       /* shorter side resized to this (0 = none) */
    int crop_h, crop_w; /* center crop = input size */
    nk_resize_mode resize_mode;
    float scale;      /* pixel values are multiplied by this (1/255) */
    float mean[4], std[4]; /* per channel, applied after scale */
    int channels;     /* 1 (gray) or 3 */
    int bgr;          /* channel order BGR instead of RGB */
    int nhwc;         /* input layout NHWC instead of NCHW */
} nk_preproc;

/* The model's preprocessing (zeroed, valid = 0, if absent). */
NK_API nk_preproc nk_graph_preproc(const nk_graph *g);
NK_API void nk_graph_set_preproc(nk_graph *g, const nk_preproc *p);

/* Class labels: count and the i-th name (NULL when out of range). */
NK_API int nk_graph_num_labels(const nk_graph *g);
NK_API const char *nk_graph_label(const nk_graph *g, int i);
/* Replace the labels with a copy of names[0..n). */
NK_API nk_status nk_graph_set_labels(nk_ctx *ctx, nk_graph *g, int n,
                                     const char *const *names);

/* Free-form string metadata (provenance: "source", "sha256",
 * "converter", "arch", ...). Get returns NULL when absent. */
NK_API const char *nk_graph_meta_get(const nk_graph *g, const char *key);
NK_API nk_status nk_graph_meta_set(nk_ctx *ctx, nk_graph *g, const char *key,
                                   const char *value);
NK_API int nk_graph_meta_count(const nk_graph *g);
/* The i-th key/value pair; NK_NOT_FOUND when out of range. */
NK_API nk_status nk_graph_meta_at(const nk_graph *g, int i, const char **key,
                                  const char **value);

/* ---------------------------------------------------------------------
 * Model zoo
 * ------------------------------------------------------------------- */

typedef struct nk_zoo_opts {
    int classes;        /* number of output classes; 0 = the default */
    float width_mult;   /* MobileNet width multiplier; 0 = 1.0 */
    uint64_t seed;      /* seed of the parameter initialisation */
    int input_size;     /* input height = width; 0 = the default (224, LeNet
                         * 28). Any size in [32, 4096] for the networks
                         * with a global-pool head (ResNet, MobileNet);
                         * VGG takes only 224 and LeNet only 28. */
} nk_zoo_opts;

/* Number of architectures and their names ("resnet18") and one-line
 * descriptions. Static storage; NULL when out of range. */
NK_API int nk_zoo_count(void);
NK_API const char *nk_zoo_name(int i);
NK_API const char *nk_zoo_description(int i);
NK_API int nk_zoo_default_classes(int i);
/* The default input size (224, LeNet 28) and whether nk_zoo_opts
 * input_size may choose another (1) or not (0); 0 when out of range. */
NK_API int nk_zoo_default_input_size(int i);
NK_API int nk_zoo_input_size_free(int i);

/*
 * nk_zoo_create — build architecture `arch` with parameters initialised
 * as torchvision initialises them (seeded), torchvision state_dict names,
 * ImageNet labels (when classes == 1000) and preprocessing metadata:
 * ImageNet's mean/std, resize to round(S * 256 / 224) and center crop S
 * for input size S (256 and 224 by default; LeNet: 28x28 gray, mean and
 * std 0.5). NK_NOT_FOUND for an unknown name, NK_INVALID_ARG for an
 * option out of range. The caller owns *out.
 */
NK_API nk_status nk_zoo_create(nk_ctx *ctx, const char *arch,
                               const nk_zoo_opts *opts, nk_graph **out);

/* ---------------------------------------------------------------------
 * PyTorch weights
 * ------------------------------------------------------------------- */

/* What loading a state dict found, like torch's load_state_dict. */
typedef struct nk_load_report {
    int n_loaded;
    int n_missing;    /* parameters of the graph absent from the file */
    int n_unexpected; /* keys of the file absent from the graph */
    int n_mismatched; /* present in both, with different shapes */
    char *text;       /* human-readable listing; owned by the report */
} nk_load_report;

/*
 * nk_graph_load_pth — read a torch.save checkpoint (zip format; a state
 * dict directly or under "state_dict"/"model") with a restricted unpickler
 * that never runs code, and copy its tensors into g's initializers of the
 * same name. With strict != 0 any missing, unexpected or mis-shaped key is
 * an error (NK_FORMAT) whose message lists them. report may be NULL; if
 * given, free it with nk_load_report_clear.
 */
NK_API nk_status nk_graph_load_pth(nk_ctx *ctx, nk_graph *g, const char *path,
                                   int strict, nk_load_report *report);
NK_API void nk_load_report_clear(nk_load_report *r);

/* ---------------------------------------------------------------------
 * Running: plans
 * ------------------------------------------------------------------- */

typedef struct nk_plan nk_plan;

typedef struct nk_plan_opts {
    int64_t batch;   /* value of symbolic batch dims; 0 = 1 */
    int threads;     /* 0 = the context's setting */
    int training;    /* 1: train mode (BatchNorm batch stats, Dropout) */
    int reference;   /* 1: reference kernels only (also NNKIT_REFERENCE=1) */
} nk_plan_opts;

/*
 * nk_plan_create — bind symbolic dims, infer concrete shapes, pick a kernel
 * per node, assign every activation an offset in one arena (by liveness)
 * and allocate it. The plan borrows g (keep g alive and unchanged while
 * the plan exists). Running it allocates nothing. opts may be NULL.
 */
NK_API nk_status nk_plan_create(nk_ctx *ctx, nk_graph *g,
                                const nk_plan_opts *opts, nk_plan **out);
NK_API void nk_plan_free(nk_plan *p);

/* The plan's input / output tensors, with concrete shapes and data in the
 * plan's arena. Write inputs before nk_plan_run; read outputs after. A run
 * leaves the inputs as they were (running again computes the same
 * outputs). The pointers are owned by the plan. */
NK_API int nk_plan_num_inputs(const nk_plan *p);
NK_API nk_tensor *nk_plan_input(nk_plan *p, int i);
NK_API int nk_plan_num_outputs(const nk_plan *p);
NK_API nk_tensor *nk_plan_output(nk_plan *p, int i);

/* Execute the plan once. */
NK_API nk_status nk_plan_run(nk_ctx *ctx, nk_plan *p);

/* Bytes of the activation arena, and the number of nodes executed. */
NK_API size_t nk_plan_arena_bytes(const nk_plan *p);

/* Which kernel the plan chose for node i ("conv2d_im2col_gemm"). */
NK_API const char *nk_plan_kernel_name(const nk_plan *p, int i);
NK_API int nk_plan_num_steps(const nk_plan *p);

/*
 * Step profiling: nk_plan_set_profiling(p, 1) makes every later
 * nk_plan_run add each step's wall time to a per-step total (cleared by
 * the call). nk_plan_step_ms returns step i's total; nk_plan_step_desc
 * writes "op node -> output shape" for step i into buf.
 */
NK_API nk_status nk_plan_set_profiling(nk_ctx *ctx, nk_plan *p, int on);
NK_API double nk_plan_step_ms(const nk_plan *p, int i);
NK_API const char *nk_plan_step_desc(const nk_plan *p, int i, char *buf,
                                     size_t n);

/* Floating-point operations of one nk_plan_run (a multiply-add counts
 * two; convolutions and matrix products exactly, other ops one per output
 * element), for reporting achieved GFLOP/s. */
NK_API double nk_plan_flops(const nk_plan *p);

/*
 * nk_cpu_peak_gflops — the f32 arithmetic peak of ONE core, measured by a
 * built-in probe: independent FMA chains on the widest vector unit the
 * kernels may use (after NNKIT_ISA), best of five short runs (~0.1 s in
 * all). Multiply by the thread count for the machine's peak. Thread safe;
 * not cached.
 */
NK_API double nk_cpu_peak_gflops(void);

/* Name of the widest ISA the kernels may use here ("avx512", "avx2",
 * "generic"), after NNKIT_ISA. Static storage. */
NK_API const char *nk_cpu_isa_name(void);

/* ---------------------------------------------------------------------
 * Graph passes
 * ------------------------------------------------------------------- */

typedef enum nk_pass {
    NK_PASS_PRUNE = 0,     /* drop nodes no output depends on */
    NK_PASS_FOLD_CONSTANTS,/* evaluate nodes whose inputs are constant */
    NK_PASS_FOLD_BATCHNORM,/* fold inference BatchNorm into Conv/Gemm */
    NK_PASS_FUSE_ACTIVATIONS, /* Conv/Gemm + Relu/Clip/... into one node */
    NK_PASS_REMOVE_IDENTITY,  /* drop Identity and inference Dropout */
    NK_PASS_COUNT
} nk_pass;

NK_API const char *nk_pass_name(nk_pass p);
/* Apply one pass in place. Outputs of the graph are unchanged. */
NK_API nk_status nk_graph_apply_pass(nk_ctx *ctx, nk_graph *g, nk_pass p);
/* Apply the standard inference pipeline (all of the above, in order). */
NK_API nk_status nk_graph_optimize(nk_ctx *ctx, nk_graph *g);

/* ---------------------------------------------------------------------
 * Images
 * ------------------------------------------------------------------- */

typedef struct nk_image nk_image;

/*
 * nk_image_load — decode a JPEG or PNG file (chosen by content) to 8-bit
 * RGB (grayscale and RGBA are converted; channels = 3) or, with
 * want_channels == 1, to grayscale. NK_IO / NK_FORMAT name the file.
 * The caller owns *out.
 */
NK_API nk_status nk_image_load(nk_ctx *ctx, const char *path,
                               int want_channels, nk_image **out);
NK_API void nk_image_free(nk_image *img);
NK_API int nk_image_width(const nk_image *img);
NK_API int nk_image_height(const nk_image *img);
NK_API int nk_image_channels(const nk_image *img);
NK_API const uint8_t *nk_image_pixels(const nk_image *img);

/*
 * nk_image_to_input — apply preprocessing p (resize shorter side, center
 * crop, scale, mean/std, layout) and write one image into batch slot
 * `index` of input tensor t (f32, rank 4). NK_SHAPE if t's size does not
 * match p's crop.
 */
NK_API nk_status nk_image_to_input(nk_ctx *ctx, const nk_image *img,
                                   const nk_preproc *p, nk_tensor *t,
                                   int64_t index);

/* ---------------------------------------------------------------------
 * Hub: pulling pretrained models (torch.hub style), cache and verification
 *
 * Three kinds of pulls (docs/hub.md):
 *   nk_hub_pull(ctx, o, "resnet18", NULL, &e)          nnkit's index
 *   nk_hub_pull(ctx, o, "owner/repo[:ref]", "model", &e) a repository's
 *                                                       nnkit-hub.json
 *   nk_hub_pull(ctx, o, "owner/repo@tag", "asset", &e)  a release asset
 * Downloads are verified by SHA-256 before they enter the cache, retried on
 * transient errors, resumed with HTTP Range, and TLS is always verified.
 * The environment (NNKIT_HOME, NNKIT_OFFLINE, NNKIT_GITHUB_URL,
 * NNKIT_GITHUB_API_URL, NNKIT_HUB_INDEX, NNKIT_HUB_MIRROR,
 * NNKIT_HUB_TIMEOUT, GITHUB_TOKEN, CURL_CA_BUNDLE, proxies) is read at each
 * call. Concurrent pulls of one entry, from threads or processes, are
 * serialised by a lock file: all succeed and one entry is kept.
 * ------------------------------------------------------------------- */

/* Download progress: bytes done and total (0 if unknown) of `what`. */
typedef void (*nk_hub_progress_fn)(void *user, const char *what,
                                   uint64_t done, uint64_t total);

typedef struct nk_hub_opts {
    const char *home;   /* cache root; NULL = NNKIT_HOME, else
                           $XDG_CACHE_HOME/nnkit, else ~/.cache/nnkit */
    int offline;        /* 1: never use the network (also NNKIT_OFFLINE=1) */
    int trust;          /* 1: trust the repository's owner (remembered) */
    int force;          /* 1: download and rebuild even when cached */
    const char *sha256; /* asset pulls: expected SHA-256 (64 hex digits) */
    const char *output; /* also write the result here: models in the
                           format of the extension, assets byte for byte */
    nk_hub_progress_fn progress; /* NULL: silent */
    void *progress_user;
} nk_hub_opts;

typedef enum nk_hub_kind {
    NK_HUB_INDEX = 0, /* a model of nnkit's index */
    NK_HUB_REPO,      /* a model of a repository's manifest */
    NK_HUB_ASSET,     /* a release asset, kept as downloaded */
    NK_HUB_KIND_COUNT
} nk_hub_kind;

/* A cache entry. Strings are owned by the entry (nk_hub_entry_clear). */
typedef struct nk_hub_entry {
    char *name;          /* "resnet18", "owner/repo:ref/model",
                            "owner/repo@tag/asset" */
    nk_hub_kind kind;
    char *path;          /* the cached file: .nnk model or the asset */
    char *sha256;        /* SHA-256 of that file */
    uint64_t size;       /* its size in bytes */
    char *source;        /* URL of the weights or asset ("" if none) */
    char *source_sha256; /* SHA-256 of the downloaded weights/asset */
    int verified;        /* 1: checked against a published hash; 0: no
                            hash was published, the one got is recorded */
    char *arch;          /* zoo architecture ("" for assets) */
    int64_t created;     /* Unix time of the pull */
} nk_hub_entry;

/* Frees the strings of e and zeroes it; NULL and zeroed entries are fine. */
NK_API void nk_hub_entry_clear(nk_hub_entry *e);
NK_API const char *nk_hub_kind_name(nk_hub_kind k); /* "index", ... */

/*
 * nk_hub_pull — pull `spec` (and `model`, for repository and release
 * pulls) into the cache and fill *out. A cached entry is used as is
 * (unless opts->force). Errors: NK_NOT_FOUND (unknown name, missing
 * entry offline, HTTP 404), NK_NET (network, TLS, timeouts after the
 * retries), NK_CHECKSUM (the message gives the expected and the got
 * hash; nothing is left in the cache), NK_FORMAT (bad index, manifest or
 * archive, a refused archive entry), NK_INVALID_ARG (an owner not yet
 * trusted without opts->trust, a malformed spec). opts may be NULL.
 */
NK_API nk_status nk_hub_pull(nk_ctx *ctx, const nk_hub_opts *opts,
                             const char *spec, const char *model,
                             nk_hub_entry *out);

/* The cache entry `name` (as nk_hub_entry.name); NK_NOT_FOUND if none. */
NK_API nk_status nk_hub_info(nk_ctx *ctx, const nk_hub_opts *opts,
                             const char *name, nk_hub_entry *out);

/* Call fn for each cache entry, sorted by name; fn returns non-zero to
 * stop. The entry is valid during the call only. */
typedef int (*nk_hub_entry_fn)(void *user, const nk_hub_entry *e);
NK_API nk_status nk_hub_list(nk_ctx *ctx, const nk_hub_opts *opts,
                             nk_hub_entry_fn fn, void *user);

/* Remove entry `name` and the downloads only it used. NK_NOT_FOUND if
 * absent. */
NK_API nk_status nk_hub_rm(nk_ctx *ctx, const nk_hub_opts *opts,
                           const char *name);

/*
 * nk_hub_verify — re-hash every file of the cache. Entries whose file is
 * missing or does not match are removed, as are corrupt downloads; fn
 * (may be NULL) is called for every entry with NK_OK or the failure and
 * its message. *n_bad (may be NULL) counts the removed items.
 */
typedef void (*nk_hub_verify_fn)(void *user, const char *name,
                                 nk_status st, const char *msg);
NK_API nk_status nk_hub_verify(nk_ctx *ctx, const nk_hub_opts *opts,
                               nk_hub_verify_fn fn, void *user, int *n_bad);

/* Whether repository owner `owner` is trusted (1) or not (0). */
NK_API int nk_hub_owner_trusted(nk_ctx *ctx, const nk_hub_opts *opts,
                                const char *owner);

/* The cache root the options and environment select, into buf (size n);
 * NK_INVALID_ARG if it does not fit or no home can be found. */
NK_API nk_status nk_hub_home(nk_ctx *ctx, const nk_hub_opts *opts,
                             char *buf, size_t n);

/* ---------------------------------------------------------------------
 * Training: fine-tuning on an image folder, and evaluation
 * ------------------------------------------------------------------- */

typedef enum nk_optimizer {
    NK_OPTIMIZER_SGD = 0,  /* momentum, nesterov, weight decay */
    NK_OPTIMIZER_ADAM,
    NK_OPTIMIZER_ADAMW,
    NK_OPTIMIZER_COUNT
} nk_optimizer;

typedef enum nk_schedule {
    NK_SCHEDULE_CONSTANT = 0,
    NK_SCHEDULE_STEP,      /* lr * gamma every step_epochs epochs */
    NK_SCHEDULE_COSINE,    /* cosine to 0 over the run, per iteration */
    NK_SCHEDULE_COUNT
} nk_schedule;

/* "sgd", "adam", "adamw" / "constant", "step", "cosine"; static storage,
 * NULL when out of range. Parse: NK_INVALID_ARG for an unknown name. */
NK_API const char *nk_optimizer_name(nk_optimizer o);
NK_API nk_status nk_optimizer_parse(nk_ctx *ctx, const char *s,
                                    nk_optimizer *out);
NK_API const char *nk_schedule_name(nk_schedule s);
NK_API nk_status nk_schedule_parse(nk_ctx *ctx, const char *s,
                                   nk_schedule *out);

/*
 * What nk_finetune does. Set the defaults with nk_finetune_opts_init,
 * then change fields. Strings are borrowed for the duration of the call.
 */
typedef struct nk_finetune_opts {
    const char *data;      /* training images: DATA/CLASS/IMAGE.jpg|jpeg|png */
    const char *val;       /* validation folder (same class names), or NULL */
    double val_split;      /* without val: fraction of data held out,
                              stratified and seeded (0 = no validation) */
    const char *output;    /* model written at the end (.nnk ...), or NULL */
    const char *logdir;    /* checkpoint, TensorBoard events, report.html;
                              NULL = "<output>.logs" (none without output) */
    int epochs;            /* 2 */
    int batch;             /* 64 */
    float lr;              /* 1e-3 */
    nk_optimizer optimizer;/* Adam */
    float momentum;        /* SGD: 0.9 */
    int nesterov;          /* SGD: 0 */
    float weight_decay;    /* 0 (AdamW: 0.01) */
    nk_schedule schedule;  /* constant */
    int step_epochs;       /* STEP: epochs between decays (1) */
    float gamma;           /* STEP: decay factor (0.1) */
    int warmup_epochs;     /* linear warm-up from lr/steps to lr (0) */
    const char *train_layers; /* "head" (default), "last:N" or "all" */
    int augment;           /* random resized crop + horizontal flip */
    int vflip;             /* with augment: random vertical flip too */
    uint64_t seed;         /* head init, shuffling, augmentation, split */
    int resume;            /* continue from logdir's checkpoint */
    int workers;           /* decoding threads; 0 = the context's threads */
    int feature_cache;     /* frozen backbone and no augmentation: compute
                              features once (1, default); 0 = never */
} nk_finetune_opts;

NK_API void nk_finetune_opts_init(nk_finetune_opts *o);

typedef enum nk_train_event {
    NK_TRAIN_START = 0, /* datasets, head and mode are known */
    NK_TRAIN_BATCH,     /* a training batch is done */
    NK_TRAIN_EPOCH,     /* an epoch is done (validation included) */
    NK_TRAIN_WARNING,   /* message: an image skipped, and why */
    NK_TRAIN_INFO,      /* message: what is happening (e.g. features) */
    NK_TRAIN_EVENT_COUNT
} nk_train_event;

/* One progress report; pointers valid during the callback only. */
typedef struct nk_train_progress {
    nk_train_event event;
    int epoch, epochs;      /* epoch is 1-based */
    int64_t batch, batches; /* batch is 1-based within the epoch */
    int64_t images;         /* training images seen this epoch */
    double images_per_sec;  /* this epoch so far */
    double loss, accuracy;  /* training, running over this epoch */
    double lr;              /* the current learning rate */
    int has_val;
    double val_loss, val_accuracy; /* NK_TRAIN_EPOCH with has_val */
    int is_best;            /* this epoch is the best so far */
    int64_t skipped;        /* unreadable images found so far */
    /* NK_TRAIN_START: */
    int n_classes;
    int64_t n_train, n_val;
    const char *head;       /* how the classifier was found: "fc", ... */
    int64_t trainable;      /* trainable parameter elements */
    int feature_cache;      /* training the head on cached features */
    int resumed_epoch;      /* epochs already done (resume), else 0 */
    const char *message;    /* WARNING / INFO */
} nk_train_progress;

typedef void (*nk_train_cb)(void *user, const nk_train_progress *p);

/* What a fine-tuning run achieved. */
typedef struct nk_finetune_result {
    int epochs_run;         /* epochs run by this call */
    int best_epoch;         /* 1-based; the model kept (last without val) */
    double best_val_accuracy; /* -1 without validation */
    double train_loss, train_accuracy; /* last epoch */
    double images_per_sec;  /* last epoch's training throughput */
    int64_t skipped;        /* unreadable images */
    int n_classes;
} nk_finetune_result;

/*
 * nk_finetune — transfer learning on an image folder. Replaces g's
 * classifier (ResNet `fc`, VGG/MobileNet `classifier[-1]`, or the last
 * Gemm/MatMul) with a new layer sized to the folder's classes, freezes
 * what opts->train_layers leaves out, trains (forward + backward + the
 * optimiser) with the model's preprocessing, validates every epoch, writes
 * a checkpoint (weights, optimiser and schedule state) atomically after
 * every epoch, TensorBoard events and report.html to the logdir, and
 * finally leaves in g — and writes to opts->output — the best model by
 * validation accuracy, with the class names as labels.
 *
 * With opts->resume, the run continues from the logdir's checkpoint (it
 * must have been made with the same data and settings) and ends with the
 * same weights as an uninterrupted run: an epoch cut short is run again
 * from its start. Unreadable images are skipped (one NK_TRAIN_WARNING
 * each) and counted. cb may be NULL; it runs on the calling thread.
 *
 * Errors name the file or folder: an empty class folder or fewer than two
 * classes (NK_FORMAT), no classifier to replace (NK_NOT_FOUND), a model
 * without preprocessing metadata (NK_INVALID_ARG), ... res may be NULL.
 */
NK_API nk_status nk_finetune(nk_ctx *ctx, nk_graph *g,
                             const nk_finetune_opts *opts, nk_train_cb cb,
                             void *user, nk_finetune_result *res);

/* Evaluation of a classifier on an image folder. */
typedef struct nk_eval_result {
    int n_classes;          /* the model's outputs */
    char **classes;         /* n_classes names (labels or "0", "1", ...) */
    int64_t n;              /* images evaluated */
    int64_t correct;
    double accuracy;        /* correct / n */
    double loss;            /* mean cross-entropy */
    int64_t *per_class_n;   /* images whose true class is c */
    double *per_class_accuracy; /* -1 where per_class_n is 0 */
    int64_t *confusion;     /* [true * n_classes + predicted] */
    int64_t skipped;        /* unreadable images */
    char *warnings;         /* one line per skipped image ("" if none) */
} nk_eval_result;

/*
 * nk_eval — run g over every image of DIR/CLASS/IMAGE with its
 * preprocessing and count. Folder names are matched to g's labels; a model
 * without labels takes the folders in sorted order as classes 0, 1, ...
 * A folder that names no class of the model is NK_NOT_FOUND. batch 0 =
 * 64. Free the result with nk_eval_result_clear.
 */
NK_API nk_status nk_eval(nk_ctx *ctx, nk_graph *g, const char *dir, int batch,
                         nk_eval_result *res);
NK_API void nk_eval_result_clear(nk_eval_result *res);

#ifdef __cplusplus
}
#endif

#endif /* NNKIT_H */
