/*
 * cmd-convert.c — `nnkit convert IN OUT [--verify] [--opset N] [--arch A]
 * [--fp16-weights] [--keep-nchw-io]`: read a model (format by content; a
 * .pth state dict with --arch), write it (format by OUT's extension), and
 * optionally check that both files compute the same thing.
 */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define VERIFY_REL_TOL 1e-4
/* float16 weights change the model by about 2^-11 per weight */
#define VERIFY_REL_TOL_FP16 1e-2

/* splitmix64: a seeded source for the verification input. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* 1 when a is [N,C,H,W] and b the same values as [N,H,W,C], 2 for the
 * reverse, 0 otherwise (same shape, or unrelated): a .tflite OUT is NHWC
 * at its boundaries. */
static int layout_pair(const nk_tensor *a, const nk_tensor *b)
{
    if (nk_tensor_rank(a) != 4 || nk_tensor_rank(b) != 4)
        return 0;
    int64_t d[4], e[4];
    int same = 1;
    for (int i = 0; i < 4; i++) {
        d[i] = nk_tensor_dim(a, i);
        e[i] = nk_tensor_dim(b, i);
        same &= d[i] == e[i];
    }
    if (same || d[0] != e[0])
        return 0;
    if (d[1] == e[3] && d[2] == e[1] && d[3] == e[2])
        return 1;
    if (d[1] == e[2] && d[2] == e[3] && d[3] == e[1])
        return 2;
    return 0;
}

/* Copy f32 data between NCHW and NHWC: dir 1 = src NCHW to dst NHWC,
 * 2 = src NHWC to dst NCHW; dims are src's. */
static void relayout(const float *src, float *dst, const nk_tensor *s,
                     int dir)
{
    int64_t n = nk_tensor_dim(s, 0), d1 = nk_tensor_dim(s, 1),
            d2 = nk_tensor_dim(s, 2), d3 = nk_tensor_dim(s, 3);
    for (int64_t i = 0; i < n; i++)
        for (int64_t a = 0; a < d1; a++)
            for (int64_t b = 0; b < d2; b++)
                for (int64_t c = 0; c < d3; c++) {
                    int64_t from = ((i * d1 + a) * d2 + b) * d3 + c;
                    /* NCHW (a=C,b=H,c=W) -> NHWC index (H,W,C) and
                     * NHWC (a=H,b=W,c=C) -> NCHW index (C,H,W) */
                    int64_t to = dir == 1 ? ((i * d2 + b) * d3 + c) * d1 + a
                                          : ((i * d3 + c) * d1 + a) * d2 + b;
                    dst[to] = src[from];
                }
}

static int fill_inputs(nk_plan *a, nk_plan *b, uint64_t seed)
{
    uint64_t s = seed;
    if (nk_plan_num_inputs(a) != nk_plan_num_inputs(b))
        return cli_error("verify: the models have %d and %d inputs",
                         nk_plan_num_inputs(a), nk_plan_num_inputs(b));
    for (int i = 0; i < nk_plan_num_inputs(a); i++) {
        nk_tensor *ta = nk_plan_input(a, i), *tb = nk_plan_input(b, i);
        if (nk_tensor_nbytes(ta) != nk_tensor_nbytes(tb) ||
            nk_tensor_dtype(ta) != nk_tensor_dtype(tb))
            return cli_error("verify: input '%s' differs between the models",
                             nk_tensor_name(ta));
        if (nk_tensor_dtype(ta) == NK_F32) {
            float *v = nk_tensor_data(ta);
            for (int64_t k = 0; k < nk_tensor_numel(ta); k++)
                v[k] = (float)((double)(next_u64(&s) >> 11) * 0x1.0p-53 * 2.0 -
                               1.0);
        } else {
            memset(nk_tensor_data(ta), 0, nk_tensor_nbytes(ta));
        }
        int lp = nk_tensor_dtype(ta) == NK_F32 ? layout_pair(ta, tb) : 0;
        if (lp)
            relayout(nk_tensor_data(ta), nk_tensor_data(tb), ta, lp);
        else
            memcpy(nk_tensor_data(tb), nk_tensor_data(ta),
                   nk_tensor_nbytes(ta));
    }
    return CLI_OK;
}

static int verify(nk_ctx *ctx, nk_graph *ga, const char *out_path,
                  double tol)
{
    nk_graph *gb = NULL;
    nk_plan *pa = NULL, *pb = NULL;
    nk_plan_opts po = {1, 0, 0, 0};
    int rc = CLI_OK;
    if (nk_model_load(ctx, out_path, &gb) != NK_OK ||
        nk_plan_create(ctx, ga, &po, &pa) != NK_OK ||
        nk_plan_create(ctx, gb, &po, &pb) != NK_OK) {
        rc = cli_fail(ctx);
        goto done;
    }
    if ((rc = fill_inputs(pa, pb, 20240601)) != CLI_OK)
        goto done;
    if (nk_plan_run(ctx, pa) != NK_OK || nk_plan_run(ctx, pb) != NK_OK) {
        rc = cli_fail(ctx);
        goto done;
    }
    if (nk_plan_num_outputs(pa) != nk_plan_num_outputs(pb)) {
        rc = cli_error("verify: %d outputs before, %d after",
                       nk_plan_num_outputs(pa), nk_plan_num_outputs(pb));
        goto done;
    }
    for (int i = 0; i < nk_plan_num_outputs(pa); i++) {
        nk_tensor *ta = nk_plan_output(pa, i), *tb = nk_plan_output(pb, i);
        if (nk_tensor_dtype(ta) != NK_F32 || nk_tensor_dtype(tb) != NK_F32 ||
            nk_tensor_numel(ta) != nk_tensor_numel(tb)) {
            rc = cli_error("verify: output '%s' differs in type or size",
                           nk_tensor_name(ta));
            goto done;
        }
        const float *a = nk_tensor_data(ta), *b = nk_tensor_data(tb);
        float *tmp = NULL;
        int lp = layout_pair(ta, tb);
        if (lp) {
            tmp = malloc(nk_tensor_nbytes(tb));
            if (!tmp) {
                rc = cli_error("verify: out of memory");
                goto done;
            }
            relayout(b, tmp, tb, lp == 1 ? 2 : 1);
            b = tmp;
        }
        double max_abs = 0, max_ref = 0;
        for (int64_t k = 0; k < nk_tensor_numel(ta); k++) {
            double d = fabs((double)a[k] - (double)b[k]);
            if (!(d <= max_abs)) /* NaN counts as a difference */
                max_abs = isnan(d) ? INFINITY : d;
            if (fabs(a[k]) > max_ref)
                max_ref = fabs(a[k]);
        }
        /* Relative to the output's magnitude, so values near zero do not
         * dominate. */
        free(tmp);
        double rel = max_ref > 0 ? max_abs / max_ref : max_abs;
        int bad = !(rel <= tol);
        printf("verify %s: max abs diff %.3g, max rel diff %.3g  %s\n",
               nk_tensor_name(ta), max_abs, rel, bad ? "FAIL" : "ok");
        if (bad)
            rc = CLI_ERR;
    }
    if (rc == CLI_ERR)
        cli_error("verify: outputs differ by more than %g (relative)", tol);
done:
    nk_plan_free(pa);
    nk_plan_free(pb);
    nk_graph_free(gb);
    return rc;
}

/* IN as a .pth state dict: build `arch` from the zoo and load IN into it
 * (strictly: every key must match). */
static int load_pth(nk_ctx *ctx, const char *in, const char *arch,
                    long long classes, nk_graph **g)
{
    nk_zoo_opts zo = {.classes = (int)classes};
    if (nk_zoo_create(ctx, arch, &zo, g) != NK_OK)
        return cli_fail(ctx);
    nk_load_report rep;
    memset(&rep, 0, sizeof rep);
    if (nk_graph_load_pth(ctx, *g, in, 1, &rep) != NK_OK) {
        int rc = cli_fail(ctx);
        nk_load_report_clear(&rep);
        nk_graph_free(*g);
        *g = NULL;
        return rc;
    }
    nk_load_report_clear(&rep);
    return CLI_OK;
}

int cmd_convert(nk_ctx *ctx, int argc, char **argv)
{
    int do_verify = 0, fp16 = 0, keep_nchw = 0;
    long long opset = 0, classes = 0;
    const char *arch = NULL;
    const cli_opt opts[] = {
        {"verify", 0, CLI_FLAG, NULL, "run IN and OUT on the same random "
         "input and compare (fails above 1e-4 relative; 1e-2 with "
         "--fp16-weights)", &do_verify},
        {"opset", 0, CLI_INT, "N", "ONNX opset of a .onnx OUT, 11..17 "
         "(default 13)", &opset},
        {"arch", 0, CLI_STRING, "ARCH", "IN is a PyTorch .pth state dict of "
         "this zoo architecture (see `nnkit zoo list`)", &arch},
        {"classes", 0, CLI_INT, "N", "with --arch: number of classes "
         "(default: the architecture's)", &classes},
        {"fp16-weights", 0, CLI_FLAG, NULL, "TFLite OUT: store float "
         "weights as float16 (DEQUANTIZE to float32 at load)", &fp16},
        {"keep-nchw-io", 0, CLI_FLAG, NULL, "TFLite OUT: keep NCHW inputs "
         "and outputs (one TRANSPOSE at each) instead of NHWC", &keep_nchw},
        {0},
    };
    const cli_spec spec = {
        "convert", "IN OUT [--verify] [--opset N] [--arch ARCH] "
        "[--fp16-weights] [--keep-nchw-io]",
        "Convert a model. IN's format is found from its content, OUT's from\n"
        "its extension (.nnk, .onnx, .tflite). A .pth IN holds weights only:\n"
        "name its architecture with --arch. A .tflite OUT is NHWC inside and\n"
        "at its inputs and outputs (see --keep-nchw-io).",
        opts, 2, 2};
    cli_list pos = {0};
    int rc = cli_parse(&spec, argc, argv, &pos);
    const char *in = pos.n > 0 ? pos.v[0] : NULL;
    const char *out = pos.n > 1 ? pos.v[1] : NULL;
    cli_list_free(&pos);
    if (rc >= 0)
        return rc;
    nk_format fmt = nk_format_from_path(out);
    if (fmt == NK_FORMAT_AUTO || fmt == NK_FORMAT_PTH)
        return cli_usage_error(spec.name, "cannot write '%s': use a .nnk, "
                               ".onnx or .tflite extension", out);
    if (opset && fmt != NK_FORMAT_ONNX)
        return cli_usage_error(spec.name, "--opset applies only to .onnx "
                               "output");
    if ((fp16 || keep_nchw) && fmt != NK_FORMAT_TFLITE)
        return cli_usage_error(spec.name, "--%s applies only to .tflite "
                               "output", fp16 ? "fp16-weights"
                                              : "keep-nchw-io");
    if (opset && (opset < 11 || opset > 17))
        return cli_usage_error(spec.name, "--opset %lld: nnkit writes ONNX "
                               "opsets 11 to 17", opset);
    if (classes && !arch)
        return cli_usage_error(spec.name, "--classes needs --arch");
    if (classes < 0 || classes > 1000000)
        return cli_usage_error(spec.name, "--classes %lld out of range",
                               classes);
    nk_graph *g = NULL;
    if (arch) {
        if ((rc = load_pth(ctx, in, arch, classes, &g)) != CLI_OK)
            return rc;
    } else if (nk_model_load(ctx, in, &g) != NK_OK) {
        rc = cli_fail(ctx);
        if (nk_format_from_path(in) == NK_FORMAT_PTH ||
            strstr(nk_errmsg(ctx), ".pth"))
            fprintf(stderr, "nnkit: hint: a .pth file has no graph; convert "
                    "it with `nnkit convert %s %s --arch ARCH` or `nnkit zoo "
                    "create ARCH --weights %s -o %s`\n", in, out, in, out);
        return rc;
    }
    nk_save_opts so;
    memset(&so, 0, sizeof so);
    so.onnx_opset = (int)opset;
    so.fp16_weights = fp16;
    so.keep_nchw_io = keep_nchw;
    if (nk_model_save_opts(ctx, g, out, fmt, &so) != NK_OK)
        rc = cli_fail(ctx);
    else if (do_verify)
        rc = verify(ctx, g, out,
                    fp16 ? VERIFY_REL_TOL_FP16 : VERIFY_REL_TOL);
    else
        rc = CLI_OK;
    if (rc == CLI_OK && cli_stdout_tty())
        printf("wrote %s (%s)\n", out, nk_format_name(fmt));
    nk_graph_free(g);
    return rc;
}
