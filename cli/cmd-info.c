/*
 * cmd-info.c — `nnkit info MODEL [--json]`: a Keras-style summary (layers,
 * output shapes, parameter counts), the graph's inputs and outputs with
 * static and dynamic dims, and its metadata.
 */
#include "cli.h"

#include <string.h>

#define SHAPE_MAX 160

/* 1234567 -> "1,234,567". */
static const char *thousands(long long v, char *buf, size_t n)
{
    char raw[32];
    int len = snprintf(raw, sizeof raw, "%lld", v < 0 ? -v : v);
    size_t at = 0;
    if (v < 0 && at + 1 < n)
        buf[at++] = '-';
    for (int i = 0; i < len && at + 2 < n; i++) {
        if (i && (len - i) % 3 == 0)
            buf[at++] = ',';
        buf[at++] = raw[i];
    }
    buf[at] = 0;
    return buf;
}

static void layer_type(const nk_node_info *ni, char *buf, size_t n)
{
    if (ni->fused && *ni->fused)
        snprintf(buf, n, "%s+%s", ni->op_type, ni->fused);
    else
        snprintf(buf, n, "%s", ni->op_type ? ni->op_type : "?");
}

/* Names of the symbolic dims, "batch" or "batch, h". */
static int dynamic_dims(const nk_tensor *t, char *buf, size_t n)
{
    int count = 0;
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < nk_tensor_rank(t); i++) {
        const char *s = nk_tensor_dim_name(t, i);
        if (!s && nk_tensor_dim(t, i) >= 0)
            continue;
        if (at < n)
            at += (size_t)snprintf(buf + at, n - at, "%s%s", count ? ", " : "",
                                   s ? s : "?");
        count++;
    }
    return count;
}

static void print_io(const char *title, const nk_tensor *const *ts, int n,
                     int wn)
{
    printf("%s:\n", title);
    for (int i = 0; i < n; i++) {
        char shape[SHAPE_MAX], dyn[SHAPE_MAX];
        int nd = dynamic_dims(ts[i], dyn, sizeof dyn);
        printf("  %-*s  %-4s %s", wn, nk_tensor_name(ts[i]),
               nk_dtype_name(nk_tensor_dtype(ts[i])),
               cli_shape_str(ts[i], shape, sizeof shape));
        if (nd)
            printf("  (%s %s dynamic)", dyn, nd > 1 ? "are" : "is");
        printf("\n");
    }
}

static void print_preproc(const nk_preproc *p)
{
    int c = p->channels > 0 && p->channels <= 4 ? p->channels : 3;
    printf("  preprocessing: resize %d (%s), crop %dx%d, scale %g, mean [",
           p->resize, p->resize_mode == NK_RESIZE_NEAREST ? "nearest"
                                                           : "bilinear",
           p->crop_h, p->crop_w, (double)p->scale);
    for (int i = 0; i < c; i++)
        printf("%s%g", i ? ", " : "", (double)p->mean[i]);
    printf("], std [");
    for (int i = 0; i < c; i++)
        printf("%s%g", i ? ", " : "", (double)p->std[i]);
    printf("], %s, %s\n",
           c == 1 ? "gray" : p->bgr ? "BGR" : "RGB", p->nhwc ? "NHWC" : "NCHW");
}

static void print_text(const char *path, const nk_graph *g)
{
    int nn = nk_graph_num_nodes(g);
    int wname = 5, wtype = 4, wshape = 12;
    long long total = 0;
    char buf[SHAPE_MAX], num[48];
    for (int i = 0; i < nn; i++) {
        nk_node_info ni;
        if (nk_graph_node_info(g, i, &ni) != NK_OK)
            continue;
        layer_type(&ni, buf, sizeof buf);
        int l = (int)strlen(buf);
        if (l > wtype)
            wtype = l;
        l = ni.name ? (int)strlen(ni.name) : 0;
        if (l > wname)
            wname = l;
        if (ni.output) {
            l = (int)strlen(cli_shape_str(ni.output, buf, sizeof buf));
            if (l > wshape)
                wshape = l;
        }
        total += ni.params;
    }
    const char *arch = nk_graph_meta_get(g, "arch");
    printf("Model: %s%s%s%s\n", path, arch ? " (" : "", arch ? arch : "",
           arch ? ")" : "");
    int width = wname + wtype + wshape + 6 + 12;
    printf("%-*s  %-*s  %-*s  %12s\n", wname, "Layer", wtype, "Type", wshape,
           "Output shape", "Param #");
    for (int i = 0; i < width; i++)
        putchar('=');
    putchar('\n');
    for (int i = 0; i < nn; i++) {
        nk_node_info ni;
        char type[SHAPE_MAX];
        if (nk_graph_node_info(g, i, &ni) != NK_OK)
            continue;
        layer_type(&ni, type, sizeof type);
        printf("%-*s  %-*s  %-*s  %12s\n", wname,
               ni.name && *ni.name ? ni.name : "-", wtype, type, wshape,
               ni.output ? cli_shape_str(ni.output, buf, sizeof buf) : "?",
               thousands(ni.params, num, sizeof num));
    }
    for (int i = 0; i < width; i++)
        putchar('=');
    putchar('\n');
    printf("Total params: %s\n", thousands(total, num, sizeof num));
    printf("Trainable params: %s\n",
           thousands(nk_graph_param_count(g), num, sizeof num));
    printf("Layers: %d\n\n", nn);

    const nk_tensor *io[64];
    int ni = nk_graph_num_inputs(g), no = nk_graph_num_outputs(g);
    if (ni > 64)
        ni = 64;
    if (no > 64)
        no = 64;
    int wio = 4;
    for (int i = 0; i < ni + no; i++) {
        const nk_tensor *t = i < ni ? nk_graph_input(g, i)
                                    : nk_graph_output(g, i - ni);
        int l = (int)strlen(nk_tensor_name(t));
        if (l > wio)
            wio = l;
    }
    for (int i = 0; i < ni; i++)
        io[i] = nk_graph_input(g, i);
    print_io("Inputs", io, ni, wio);
    for (int i = 0; i < no; i++)
        io[i] = nk_graph_output(g, i);
    print_io("Outputs", io, no, wio);

    printf("\nMetadata:\n");
    printf("  arch: %s\n", arch ? arch : "(unknown)");
    int nl = nk_graph_num_labels(g);
    printf("  labels: %d", nl);
    for (int i = 0; i < nl && i < 5; i++)
        printf("%s%s", i ? ", " : " (", nk_graph_label(g, i));
    if (nl)
        printf("%s)", nl > 5 ? ", ..." : "");
    printf("\n");
    nk_preproc p = nk_graph_preproc(g);
    if (p.valid)
        print_preproc(&p);
    else
        printf("  preprocessing: none\n");
    int nm = nk_graph_meta_count(g);
    if (nm)
        printf("  provenance:\n");
    for (int i = 0; i < nm; i++) {
        const char *k, *v;
        if (nk_graph_meta_at(g, i, &k, &v) == NK_OK)
            printf("    %s: %s\n", k, v);
    }
}

static void json_shape(const nk_tensor *t)
{
    printf("[");
    for (int i = 0; i < nk_tensor_rank(t); i++) {
        const char *s = nk_tensor_dim_name(t, i);
        if (i)
            printf(", ");
        if (s)
            cli_json_str(stdout, s);
        else if (nk_tensor_dim(t, i) < 0)
            printf("null");
        else
            printf("%lld", (long long)nk_tensor_dim(t, i));
    }
    printf("]");
}

static void json_tensor(const nk_tensor *t)
{
    printf("{\"name\": ");
    cli_json_str(stdout, nk_tensor_name(t));
    printf(", \"dtype\": ");
    cli_json_str(stdout, nk_dtype_name(nk_tensor_dtype(t)));
    printf(", \"shape\": ");
    json_shape(t);
    printf("}");
}

static void json_floats(const float *v, int n)
{
    printf("[");
    for (int i = 0; i < n; i++)
        printf("%s%.9g", i ? ", " : "", (double)v[i]);
    printf("]");
}

static void print_json(const char *path, const nk_graph *g)
{
    long long total = 0;
    int nn = nk_graph_num_nodes(g);
    printf("{\n  \"file\": ");
    cli_json_str(stdout, path);
    printf(",\n  \"arch\": ");
    cli_json_str(stdout, nk_graph_meta_get(g, "arch"));
    printf(",\n  \"layers\": [");
    for (int i = 0; i < nn; i++) {
        nk_node_info ni;
        if (nk_graph_node_info(g, i, &ni) != NK_OK)
            continue;
        total += ni.params;
        printf("%s\n    {\"name\": ", i ? "," : "");
        cli_json_str(stdout, ni.name);
        printf(", \"type\": ");
        cli_json_str(stdout, ni.op_type);
        printf(", \"fused\": ");
        cli_json_str(stdout, ni.fused);
        printf(", \"output\": ");
        if (ni.output)
            json_tensor(ni.output);
        else
            printf("null");
        printf(", \"params\": %lld}", (long long)ni.params);
    }
    printf("\n  ],\n  \"total_params\": %lld,\n  \"trainable_params\": %lld,\n",
           total, (long long)nk_graph_param_count(g));
    printf("  \"inputs\": [");
    for (int i = 0; i < nk_graph_num_inputs(g); i++) {
        printf("%s", i ? ", " : "");
        json_tensor(nk_graph_input(g, i));
    }
    printf("],\n  \"outputs\": [");
    for (int i = 0; i < nk_graph_num_outputs(g); i++) {
        printf("%s", i ? ", " : "");
        json_tensor(nk_graph_output(g, i));
    }
    printf("],\n  \"labels\": [");
    for (int i = 0; i < nk_graph_num_labels(g); i++) {
        printf("%s", i ? ", " : "");
        cli_json_str(stdout, nk_graph_label(g, i));
    }
    printf("],\n  \"preprocessing\": ");
    nk_preproc p = nk_graph_preproc(g);
    if (p.valid) {
        int c = p.channels > 0 && p.channels <= 4 ? p.channels : 3;
        printf("{\"resize\": %d, \"resize_mode\": \"%s\", \"crop_h\": %d, "
               "\"crop_w\": %d, \"scale\": %.9g, \"mean\": ",
               p.resize,
               p.resize_mode == NK_RESIZE_NEAREST ? "nearest" : "bilinear",
               p.crop_h, p.crop_w, (double)p.scale);
        json_floats(p.mean, c);
        printf(", \"std\": ");
        json_floats(p.std, c);
        printf(", \"channels\": %d, \"bgr\": %s, \"layout\": \"%s\"}",
               p.channels, p.bgr ? "true" : "false", p.nhwc ? "NHWC" : "NCHW");
    } else {
        printf("null");
    }
    printf(",\n  \"metadata\": {");
    int nm = nk_graph_meta_count(g), first = 1;
    for (int i = 0; i < nm; i++) {
        const char *k, *v;
        if (nk_graph_meta_at(g, i, &k, &v) != NK_OK)
            continue;
        printf("%s", first ? "" : ", ");
        first = 0;
        cli_json_str(stdout, k);
        printf(": ");
        cli_json_str(stdout, v);
    }
    printf("}\n}\n");
}

int cmd_info(nk_ctx *ctx, int argc, char **argv)
{
    int json = 0;
    const cli_opt opts[] = {
        {"json", 0, CLI_FLAG, NULL, "print one JSON object instead of text",
         &json},
        {0},
    };
    const cli_spec spec = {
        "info", "MODEL [--json]",
        "Summarise a model: layers with output shapes and parameter counts,\n"
        "inputs and outputs (static and dynamic dims) and metadata.",
        opts, 1, 1};
    cli_list pos = {0};
    int rc = cli_parse(&spec, argc, argv, &pos);
    const char *path = pos.n ? pos.v[0] : NULL;
    cli_list_free(&pos);
    if (rc >= 0)
        return rc;
    nk_graph *g = NULL;
    if (nk_model_load(ctx, path, &g) != NK_OK)
        return cli_fail(ctx);
    if (json)
        print_json(path, g);
    else
        print_text(path, g);
    nk_graph_free(g);
    return CLI_OK;
}
