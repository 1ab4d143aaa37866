/*
 * report.c — writes report.html for a training run: loss and accuracy
 * curves as inline SVG line charts and the validation confusion matrix as
 * an SVG heat map, all in one file with no external resources.
 */
#include "train/report.h"
#include "engine/ctx.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int failed;
} sbuf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void out(sbuf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL,
                          b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->failed = 1;
            return;
        }
        if (b->p && (size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = (b->cap ? b->cap : 4096);
        while (cap < b->n + (size_t)k + 1)
            cap *= 2;
        char *np = nk_realloc(b->p, cap);
        if (!np) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

/* HTML/XML-escaped text. */
static void esc(sbuf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': out(b, "&lt;"); break;
        case '>': out(b, "&gt;"); break;
        case '&': out(b, "&amp;"); break;
        case '"': out(b, "&quot;"); break;
        case '\'': out(b, "&#39;"); break;
        default: out(b, "%c", *s);
        }
    }
}

typedef struct series {
    const char *name, *color;
    double v[4096];
    int n;
} series;

/* A nice tick step for a range. */
static double tick_step(double range)
{
    if (!(range > 0))
        return 1;
    double raw = range / 5, mag = pow(10, floor(log10(raw)));
    double r = raw / mag;
    return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
}

static void line_chart(sbuf *b, const char *title, const series *s, int ns,
                       int n_epochs, int percent)
{
    const int W = 520, H = 300, L = 60, R = 20, T = 34, B = 44;
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < s[k].n; i++)
            if (isfinite(s[k].v[i])) {
                lo = fmin(lo, s[k].v[i]);
                hi = fmax(hi, s[k].v[i]);
            }
    if (!isfinite(lo)) {
        lo = 0;
        hi = 1;
    }
    if (percent) {
        lo = fmax(0, floor(lo * 10) / 10);
        hi = fmin(1, ceil(hi * 10) / 10);
    } else {
        lo = fmin(lo, 0);
    }
    if (hi - lo < 1e-9)
        hi = lo + 1;
    double step = tick_step(hi - lo);
    hi = ceil(hi / step - 1e-9) * step;
    int xs = n_epochs > 1 ? n_epochs - 1 : 1;
#define PX(e) (L + (double)((e) - 1) * (W - L - R) / xs)
#define PY(v) (T + (hi - (v)) * (H - T - B) / (hi - lo))
    out(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
           "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n", W, H, W, H);
    out(b, "<text x=\"%d\" y=\"20\" class=\"t\">", L);
    esc(b, title);
    out(b, "</text>\n");
    for (double v = lo; v <= hi + step * 1e-6; v += step) {
        double y = PY(v);
        out(b, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" "
               "class=\"g\"/>", L, W - R, y, y);
        if (percent)
            out(b, "<text x=\"%d\" y=\"%.1f\" class=\"a\" "
                   "text-anchor=\"end\">%.0f%%</text>\n", L - 6, y + 4,
                v * 100);
        else
            out(b, "<text x=\"%d\" y=\"%.1f\" class=\"a\" "
                   "text-anchor=\"end\">%.3g</text>\n", L - 6, y + 4, v);
    }
    int every = n_epochs > 20 ? (n_epochs + 9) / 10 : 1;
    for (int e = 1; e <= n_epochs; e += every)
        out(b, "<text x=\"%.1f\" y=\"%d\" class=\"a\" "
               "text-anchor=\"middle\">%d</text>", PX(e), H - B + 18, e);
    out(b, "<text x=\"%d\" y=\"%d\" class=\"a\" text-anchor=\"middle\">"
           "epoch</text>\n", (L + W - R) / 2, H - 8);
    out(b, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" class=\"x\"/>",
        L, W - R, H - B, H - B);
    out(b, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" class=\"x\"/>\n",
        L, L, T, H - B);
    for (int k = 0; k < ns; k++) {
        if (s[k].n == 0)
            continue;
        out(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
               "points=\"", s[k].color);
        for (int i = 0; i < s[k].n; i++)
            if (isfinite(s[k].v[i]))
                out(b, "%.1f,%.1f ", PX(i + 1), PY(s[k].v[i]));
        out(b, "\"/>\n");
        for (int i = 0; i < s[k].n; i++)
            if (isfinite(s[k].v[i]))
                out(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\">"
                       "<title>%s, epoch %d: %.4g</title></circle>",
                    PX(i + 1), PY(s[k].v[i]), s[k].color, s[k].name, i + 1,
                    s[k].v[i]);
        int lx = W - R - 110, ly = T + 6 + 16 * k;
        out(b, "\n<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"4\" "
               "fill=\"%s\"/><text x=\"%d\" y=\"%d\" class=\"a\">%s</text>\n",
            lx, ly, s[k].color, lx + 18, ly + 6, s[k].name);
    }
    out(b, "</svg>\n");
#undef PX
#undef PY
}

static void confusion_svg(sbuf *b, const nk_report *r)
{
    int n = r->n_classes;
    int cell = n <= 10 ? 44 : n <= 30 ? 22 : 10;
    int lab = 130, W = lab + n * cell + 20, H = lab + n * cell + 30;
    int numbers = cell >= 22;
    out(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
           "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n", W, H, W, H);
    out(b, "<text x=\"%d\" y=\"%d\" class=\"a\" text-anchor=\"middle\">"
           "predicted</text>\n", lab + n * cell / 2, H - 6);
    out(b, "<text x=\"12\" y=\"%d\" class=\"a\" text-anchor=\"middle\" "
           "transform=\"rotate(-90 12 %d)\">true class</text>\n",
        lab + n * cell / 2, lab + n * cell / 2);
    for (int t = 0; t < n; t++) {
        int64_t row = 0;
        for (int p = 0; p < n; p++)
            row += r->confusion[(size_t)t * n + p];
        if (cell >= 10) {
            out(b, "<text x=\"%d\" y=\"%d\" class=\"a\" text-anchor=\"end\">",
                lab - 6, lab + t * cell + cell / 2 + 4);
            esc(b, r->classes[t]);
            out(b, "</text>");
            int x = lab + t * cell + cell / 2;
            out(b, "<text x=\"%d\" y=\"%d\" class=\"a\" "
                   "transform=\"rotate(-60 %d %d)\">", x, lab - 6, x, lab - 6);
            esc(b, r->classes[t]);
            out(b, "</text>\n");
        }
        for (int p = 0; p < n; p++) {
            int64_t v = r->confusion[(size_t)t * n + p];
            double f = row ? (double)v / (double)row : 0;
            int shade = (int)(255 - 200 * f);
            const char *fill_ok = "#2b8a3e", *fill_bad = "#c92a2a";
            out(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                   "fill=\"rgb(%d,%d,255)\" stroke=\"#ddd\"><title>",
                lab + p * cell, lab + t * cell, cell, cell, shade, shade);
            esc(b, r->classes[t]);
            out(b, " predicted as ");
            esc(b, r->classes[p]);
            out(b, ": %lld (%.1f%%)</title></rect>", (long long)v, 100 * f);
            if (numbers && v > 0)
                out(b, "<text x=\"%d\" y=\"%d\" class=\"n\" fill=\"%s\" "
                       "text-anchor=\"middle\">%lld</text>",
                    lab + p * cell + cell / 2, lab + t * cell + cell / 2 + 4,
                    t == p ? fill_ok : fill_bad, (long long)v);
        }
        out(b, "\n");
    }
    out(b, "</svg>\n");
}

nk_status nk_report_write(nk_ctx *ctx, const char *path, const nk_report *r)
{
    sbuf b = {0};
    int n = r->n_epochs < 4096 ? r->n_epochs : 4096;
    series *s = nk_calloc(4, sizeof *s);
    if (!s)
        return nk_fail(ctx, NK_NOMEM, "%s: out of memory", path);
    s[0].name = "train";
    s[0].color = "#1c7ed6";
    s[1].name = "validation";
    s[1].color = "#e8590c";
    s[2] = s[0];
    s[3] = s[1];
    int any_val = 0;
    for (int i = 0; i < n; i++) {
        const nk_epoch_stats *h = &r->hist[i];
        s[0].v[i] = h->train_loss;
        s[2].v[i] = h->train_acc;
        s[1].v[i] = h->has_val ? h->val_loss : NAN;
        s[3].v[i] = h->has_val ? h->val_acc : NAN;
        any_val |= h->has_val != 0;
    }
    s[0].n = s[2].n = n;
    s[1].n = s[3].n = any_val ? n : 0;

    out(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "\n<title>nnkit training report: ");
    esc(&b, r->title);
    out(&b, "</title>\n<style>\nbody{font:14px/1.4 system-ui,sans-serif;"
            "margin:24px;color:#212529}h1{font-size:20px}h2{font-size:16px;"
            "margin-top:28px}table{border-collapse:collapse}td,th{padding:"
            "3px 10px;border-bottom:1px solid #dee2e6;text-align:right}"
            ".t{font-weight:600;font-size:14px}.a{font-size:11px;fill:#495057}"
            ".n{font-size:11px}.g{stroke:#e9ecef}.x{stroke:#868e96}"
            ".best{background:#fff3bf}\n</style></head><body>\n<h1>Training "
            "report: ");
    esc(&b, r->title);
    out(&b, "</h1>\n<p>");
    esc(&b, r->subtitle);
    out(&b, "</p>\n");
    if (r->best_epoch > 0 && r->best_epoch <= n) {
        const nk_epoch_stats *h = &r->hist[r->best_epoch - 1];
        if (h->has_val)
            out(&b, "<p><b>Best epoch %d</b>: validation accuracy %.2f%%, "
                    "loss %.4f.</p>\n", r->best_epoch, 100 * h->val_acc,
                h->val_loss);
        else
            out(&b, "<p><b>Epoch %d</b> (no validation set): training "
                    "accuracy %.2f%%.</p>\n", r->best_epoch,
                100 * h->train_acc);
    }
    line_chart(&b, "Loss (cross-entropy)", &s[0], 2, n, 0);
    line_chart(&b, "Accuracy", &s[2], 2, n, 1);
    out(&b, "<h2>Epochs</h2>\n<table><tr><th>epoch</th><th>learning rate"
            "</th><th>train loss</th><th>train acc</th><th>val loss</th>"
            "<th>val acc</th><th>images/s</th></tr>\n");
    for (int i = 0; i < n; i++) {
        const nk_epoch_stats *h = &r->hist[i];
        out(&b, "<tr%s><td>%d</td><td>%.3g</td><td>%.4f</td><td>%.2f%%</td>",
            i + 1 == r->best_epoch ? " class=\"best\"" : "", i + 1, h->lr,
            h->train_loss, 100 * h->train_acc);
        if (h->has_val)
            out(&b, "<td>%.4f</td><td>%.2f%%</td>", h->val_loss,
                100 * h->val_acc);
        else
            out(&b, "<td>-</td><td>-</td>");
        out(&b, "<td>%.0f</td></tr>\n", h->images_per_sec);
    }
    out(&b, "</table>\n");
    if (r->confusion && r->n_classes > 0 && r->n_classes <= 200) {
        out(&b, "<h2>Validation confusion matrix (epoch %d)</h2>\n<p>Rows: "
                "true class; columns: predicted class; shading: share of the "
                "row.</p>\n", r->best_epoch);
        confusion_svg(&b, r);
        out(&b, "<table><tr><th style=\"text-align:left\">class</th><th>"
                "images</th><th>accuracy</th></tr>\n");
        for (int t = 0; t < r->n_classes; t++) {
            int64_t row = 0, ok = r->confusion[(size_t)t * r->n_classes + t];
            for (int p = 0; p < r->n_classes; p++)
                row += r->confusion[(size_t)t * r->n_classes + p];
            out(&b, "<tr><td style=\"text-align:left\">");
            esc(&b, r->classes[t]);
            if (row)
                out(&b, "</td><td>%lld</td><td>%.2f%%</td></tr>\n",
                    (long long)row, 100.0 * (double)ok / (double)row);
            else
                out(&b, "</td><td>0</td><td>-</td></tr>\n");
        }
        out(&b, "</table>\n");
    }
    out(&b, "<p style=\"color:#868e96\">Written by nnkit %s.</p>\n"
            "</body></html>\n", nk_version());
    nk_free(s);
    if (b.failed) {
        nk_free(b.p);
        return nk_fail(ctx, NK_NOMEM, "%s: out of memory writing the report",
                       path);
    }
    nk_status st = nk_file_write_atomic(ctx, path, b.p, b.n);
    nk_free(b.p);
    return st;
}
