/*
 * cmd-convert.c — `nnkit convert IN OUT [--verify] [--opset N]
 * [--fp16-weights] [--keep-nchw-io]`: read a model (format by content),
 * write it (format by OUT's extension), and optionally check that both
 * files compute the same thing.
 */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define VERIFY_REL_TOL 1e-4

/* splitmix64: a seeded source for the verification input. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
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
        memcpy(nk_tensor_data(tb), nk_tensor_data(ta), nk_tensor_nbytes(ta));
    }
    return CLI_OK;
}

static int verify(nk_ctx *ctx, nk_graph *ga, const char *out_path)
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
        double rel = max_ref > 0 ? max_abs / max_ref : max_abs;
        int bad = !(rel <= VERIFY_REL_TOL);
        printf("verify %s: max abs diff %.3g, max rel diff %.3g  %s\n",
               nk_tensor_name(ta), max_abs, rel, bad ? "FAIL" : "ok");
        if (bad)
            rc = CLI_ERR;
    }
    if (rc == CLI_ERR)
        cli_error("verify: outputs differ by more than %g (relative)",
                  VERIFY_REL_TOL);
done:
    nk_plan_free(pa);
    nk_plan_free(pb);
    nk_graph_free(gb);
    return rc;
}

int cmd_convert(nk_ctx *ctx, int argc, char **argv)
{
    int do_verify = 0, fp16 = 0, keep_nchw = 0;
    long long opset = 0;
    const cli_opt opts[] = {
        {"verify", 0, CLI_FLAG, NULL, "run IN and OUT on the same random "
         "input and compare (fails above 1e-4 relative)", &do_verify},
        {"opset", 0, CLI_INT, "N", "ONNX opset of a .onnx OUT", &opset},
        {"fp16-weights", 0, CLI_FLAG, NULL, "TFLite OUT: store float "
         "weights as float16 (DEQUANTIZE to float32 at load)", &fp16},
        {"keep-nchw-io", 0, CLI_FLAG, NULL, "TFLite OUT: keep NCHW inputs "
         "and outputs (one TRANSPOSE at each) instead of NHWC", &keep_nchw},
        {0},
    };
    const cli_spec spec = {
        "convert", "IN OUT [--verify] [--opset N] [--fp16-weights] "
        "[--keep-nchw-io]",
        "Convert a model. IN's format is found from its content, OUT's from\n"
        "its extension (.nnk, .onnx, .tflite). A .tflite OUT is NHWC inside\n"
        "and at its inputs and outputs (see --keep-nchw-io).",
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
    if (opset)
        return cli_error("--opset %lld: choosing the ONNX opset is not "
                         "supported by this libnnkit", opset);
    nk_graph *g = NULL;
    if (nk_model_load(ctx, in, &g) != NK_OK)
        return cli_fail(ctx);
    nk_save_opts so = {0};
    so.fp16_weights = fp16;
    so.keep_nchw_io = keep_nchw;
    if (nk_model_save_opts(ctx, g, out, fmt, &so) != NK_OK)
        rc = cli_fail(ctx);
    else if (do_verify)
        rc = verify(ctx, g, out);
    else
        rc = CLI_OK;
    if (rc == CLI_OK && cli_stdout_tty())
        printf("wrote %s (%s)\n", out, nk_format_name(fmt));
    nk_graph_free(g);
    return rc;
}
