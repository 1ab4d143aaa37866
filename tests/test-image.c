/*
 * test-image.c — JPEG/PNG decoding and preprocessing against PIL and
 * PyTorch references made at run time by tests/gen-images.py.
 */
#include "harness.h"
#include "train/image.h"

#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *dir; /* generated images and references */

/* Generate the images and references once, on first use. */
static void setup(void)
{
    static char buf[1024];
    const char *py = getenv("NK_PYTHON");
    const char *src = getenv("NNKIT_SRC");
    snprintf(buf, sizeof buf, "%s", nk_test_tmpdir("image"));
    dir = buf;
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' '%s/tests/gen-images.py' '%s' >/dev/null",
             py ? py : "/usr/bin/python3", src ? src : ".", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "test-image: %s failed\n", cmd);
        exit(1);
    }
}

static const char *at(const char *name)
{
    static char buf[8][1024];
    static int k;
    if (!dir)
        setup();
    char *b = buf[k++ % 8];
    snprintf(b, 1024, "%s/%s", dir, name);
    return b;
}

static void *read_all(const char *name, size_t *len)
{
    FILE *f = fopen(at(name), "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc(n > 0 ? (size_t)n : 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return p;
}

/* Decode `img` and compare with the raw reference pixels in `ref`. */
static void check_pixels(const char *img, int want, const char *ref, int w,
                         int h, int tol)
{
    nk_ctx *ctx;
    nk_image *im = NULL;
    size_t n = 0;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    uint8_t *exp = read_all(ref, &n);
    CHECKF(exp != NULL, "missing reference %s", ref);
    CHECK_OK(ctx, nk_image_load(ctx, at(img), want, &im));
    if (im && exp) {
        int c = want == 1 ? 1 : 3;
        CHECKF(nk_image_width(im) == w && nk_image_height(im) == h &&
                   nk_image_channels(im) == c,
               "%s: %dx%dx%d, expected %dx%dx%d", img, nk_image_width(im),
               nk_image_height(im), nk_image_channels(im), w, h, c);
        size_t ref_c = n / ((size_t)w * h);
        int worst = 0;
        const uint8_t *px = nk_image_pixels(im);
        for (size_t i = 0; i < (size_t)w * h; i++)
            for (int k = 0; k < c; k++) {
                /* A gray reference expands to RGB when 3 are wanted. */
                int e = exp[i * ref_c + (ref_c == 1 ? 0 : (size_t)k)];
                int d = abs((int)px[i * c + k] - e);
                if (d > worst)
                    worst = d;
            }
        CHECKF(worst <= tol, "%s: max pixel difference %d > %d", img, worst,
               tol);
    }
    free(exp);
    nk_image_free(im);
    nk_ctx_free(ctx);
}

/* PNG pixels are exact (known data); JPEG against PIL's libjpeg decode. */
static void test_png_rgb(void) { check_pixels("rgb.png", 3, "rgb.png.rgb", 97, 61, 0); }
static void test_png_gray(void)
{
    check_pixels("gray.png", 1, "gray.png.gray", 17, 13, 0);
    check_pixels("gray.png", 3, "gray.png.gray", 17, 13, 0);
}
static void test_png_gray_alpha(void) { check_pixels("graya.png", 1, "graya.png.gray", 11, 9, 0); }
static void test_png_rgba(void) { check_pixels("rgba.png", 3, "rgba.png.rgb", 12, 10, 0); }
static void test_png_palette(void) { check_pixels("palette.png", 3, "palette.png.rgb", 8, 7, 0); }
static void test_png_16bit(void)
{
    check_pixels("rgb16.png", 3, "rgb16.png.rgb", 6, 5, 0);
    check_pixels("gray16.png", 1, "gray16.png.gray", 9, 4, 0);
}
/* Same libjpeg underneath, but allow 1 for a different IDCT/upsampler. */
static void test_jpeg_rgb(void) { check_pixels("rgb.jpg", 3, "rgb.jpg.rgb", 97, 61, 1); }
static void test_jpeg_to_gray(void) { check_pixels("rgb.jpg", 1, "rgb.jpg.gray", 97, 61, 1); }
static void test_jpeg_gray(void) { check_pixels("gray.jpg", 1, "gray.jpg.gray", 17, 13, 1); }

static void test_jpeg_dct_scaling(void)
{
    nk_ctx *ctx;
    nk_image *im = NULL;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    /* 800x600 with a 100 px target: scale 3/8 keeps >= 2x (225 px). */
    CHECK_OK(ctx, nk_image_load_sized(ctx, at("big.jpg"), 3, 100, &im));
    if (im) {
        CHECK(nk_image_width(im) == 300);
        CHECK(nk_image_height(im) == 225);
    }
    nk_image_free(im);
    im = NULL;
    CHECK_OK(ctx, nk_image_load_sized(ctx, at("big.jpg"), 3, 400, &im));
    if (im)
        CHECK(nk_image_width(im) == 800 && nk_image_height(im) == 600);
    nk_image_free(im);
    nk_ctx_free(ctx);
}

/* Broken and foreign files fail with NK_IO/NK_FORMAT naming the file and
 * print nothing on stdout or stderr. */
static void test_bad_files(void)
{
    static const struct {
        const char *name;
        nk_status st;
    } cases[] = {
        {"truncated.jpg", NK_FORMAT}, {"truncated.png", NK_FORMAT},
        {"corrupt.png", NK_FORMAT},   {"garbage.jpg", NK_FORMAT},
        {"notimage.txt", NK_FORMAT},  {"empty.png", NK_FORMAT},
        {"does-not-exist.jpg", NK_IO},
    };
    nk_ctx *ctx;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    const char *cap = at("captured.txt");
    fflush(stdout);
    fflush(stderr);
    int fd = open(cap, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    REQUIRE(fd >= 0);
    int saved_out = dup(1), saved_err = dup(2);
    dup2(fd, 1);
    dup2(fd, 2);
    nk_status got[sizeof cases / sizeof cases[0]];
    char msgs[sizeof cases / sizeof cases[0]][512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nk_image *im = NULL;
        got[i] = nk_image_load(ctx, at(cases[i].name), 3, &im);
        snprintf(msgs[i], sizeof msgs[i], "%s", nk_errmsg(ctx));
        nk_image_free(im);
    }
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    close(fd);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECKF(got[i] == cases[i].st, "%s: %s, expected %s (%s)",
               cases[i].name, nk_status_name(got[i]),
               nk_status_name(cases[i].st), msgs[i]);
        CHECKF(strstr(msgs[i], cases[i].name) != NULL,
               "message does not name %s: %s", cases[i].name, msgs[i]);
    }
    struct stat st;
    CHECK(stat(cap, &st) == 0);
    CHECKF(st.st_size == 0, "decoders printed %lld bytes", (long long)st.st_size);
    nk_ctx_free(ctx);
}

/* Keep in sync with CASES in gen-images.py. */
static const struct {
    int resize, ch, cw, channels, bgr, nhwc;
    float mean[3], std[3];
} prep_cases[] = {
    {32, 28, 28, 3, 0, 0, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}},
    {128, 112, 100, 3, 0, 1, {0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f}},
    {40, 36, 36, 3, 1, 0, {0.1f, 0.2f, 0.3f}, {0.3f, 0.2f, 0.1f}},
    {30, 32, 57, 1, 0, 0, {0.5f}, {0.5f}},
    {0, 61, 97, 3, 0, 0, {0, 0, 0}, {1, 1, 1}},
    {61, 50, 50, 3, 0, 0, {0, 0, 0}, {1, 1, 1}},
};

/* nk_image_to_input against torchvision's pipeline on a uint8 tensor
 * (F.interpolate bilinear, antialias off, rounded; CenterCrop; Normalize).
 * Tolerance: 1/255 of a pixel divided by the smallest std, since a value
 * exactly at .5 may round the other way in float. Batch slot 1 of 2 is
 * written; slot 0 must stay untouched. */
static void test_to_input(void)
{
    nk_ctx *ctx;
    nk_image *im = NULL;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    REQUIRE_OK(ctx, nk_image_load(ctx, at("rgb.png"), 3, &im));
    for (int k = 0; k < (int)(sizeof prep_cases / sizeof prep_cases[0]); k++) {
        nk_preproc p;
        memset(&p, 0, sizeof p);
        p.valid = 1;
        p.resize = prep_cases[k].resize;
        p.crop_h = prep_cases[k].ch;
        p.crop_w = prep_cases[k].cw;
        p.scale = 1.0f / 255.0f;
        p.channels = prep_cases[k].channels;
        p.bgr = prep_cases[k].bgr;
        p.nhwc = prep_cases[k].nhwc;
        float minstd = 1e9f;
        for (int c = 0; c < 3; c++) {
            p.mean[c] = prep_cases[k].mean[c];
            p.std[c] = prep_cases[k].std[c];
            if (c < p.channels && p.std[c] < minstd)
                minstd = p.std[c];
        }
        int64_t dims[4] = {2, p.channels, p.crop_h, p.crop_w};
        if (p.nhwc) {
            dims[1] = p.crop_h;
            dims[2] = p.crop_w;
            dims[3] = p.channels;
        }
        nk_tensor *t = NULL;
        REQUIRE_OK(ctx, nk_tensor_new(ctx, NK_F32, 4, dims, &t));
        CHECK_OK(ctx, nk_image_to_input(ctx, im, &p, t, 1));
        char name[32];
        snprintf(name, sizeof name, "prep-%d.f32", k);
        size_t n = 0;
        float *ref = read_all(name, &n);
        size_t per = (size_t)p.channels * p.crop_h * p.crop_w;
        CHECKF(ref && n == per * sizeof(float), "%s: %zu bytes", name, n);
        if (ref && n == per * sizeof(float)) {
            const float *d = nk_tensor_data(t);
            double worst = 0, zeros = 0;
            for (size_t i = 0; i < per; i++) {
                double e = fabs((double)d[per + i] - ref[i]);
                if (e > worst)
                    worst = e;
                zeros += fabs(d[i]);
            }
            CHECKF(worst <= 1.0 / 255 / minstd + 1e-5,
                   "case %d: max difference %g from torch", k, worst);
            CHECKF(zeros == 0, "case %d: batch slot 0 was written", k);
        }
        free(ref);
        /* A wrong crop is a shape error, not a crash. */
        p.crop_h += 1;
        CHECK(nk_image_to_input(ctx, im, &p, t, 1) == NK_SHAPE);
        p.crop_h -= 1;
        CHECK(nk_image_to_input(ctx, im, &p, t, 2) == NK_INVALID_ARG);
        nk_tensor_free(t);
    }
    nk_image_free(im);
    nk_ctx_free(ctx);
}

/* The float resize against F.interpolate (no rounding): tight tolerance. */
static void test_resize_f32(void)
{
    static const int sizes[][2] = {{50, 40}, {150, 90}};
    nk_ctx *ctx;
    nk_image *im = NULL;
    REQUIRE(nk_ctx_new(&ctx) == NK_OK);
    REQUIRE_OK(ctx, nk_image_load(ctx, at("rgb.png"), 3, &im));
    for (int k = 0; k < 2; k++) {
        int w = sizes[k][0], h = sizes[k][1];
        char name[64];
        size_t n = 0;
        snprintf(name, sizeof name, "resize-%dx%d.f32", w, h);
        float *ref = read_all(name, &n);
        float *got = malloc(sizeof(float) * 3 * w * h);
        REQUIRE(ref && got && n == sizeof(float) * 3 * w * h);
        CHECK_OK(ctx, nk_image_resize_bilinear_f32(ctx, im, w, h, got));
        double worst = 0;
        for (int i = 0; i < 3 * w * h; i++)
            if (fabs(got[i] - ref[i]) > worst)
                worst = fabs(got[i] - ref[i]);
        CHECKF(worst < 1e-3, "%s: max difference %g", name, worst);
        free(ref);
        free(got);
    }
    nk_image_free(im);
    nk_ctx_free(ctx);
}

static void test_geometry(void)
{
    int w, h;
    nk_image_resized_size(97, 61, 32, &w, &h);
    CHECK(w == 50 && h == 32); /* int(32 * 97 / 61) = 50 */
    nk_image_resized_size(61, 97, 32, &w, &h);
    CHECK(w == 32 && h == 50);
    CHECK(nk_image_crop_offset(256, 224) == 16);
    CHECK(nk_image_crop_offset(5, 2) == 2);  /* round(1.5) = 2 */
    CHECK(nk_image_crop_offset(6, 1) == 2);  /* round(2.5) = 2 */
    CHECK(nk_image_crop_offset(4, 1) == 2);  /* round(1.5) = 2 */
    CHECK(nk_image_crop_offset(3, 2) == 0);  /* round(0.5) = 0 */
    CHECK(nk_image_crop_offset(47, 57) == -5);
}

NK_TESTS(T(test_geometry), T(test_png_rgb), T(test_png_gray),
         T(test_png_gray_alpha), T(test_png_rgba), T(test_png_palette),
         T(test_png_16bit), T(test_jpeg_rgb), T(test_jpeg_to_gray),
         T(test_jpeg_gray), T(test_jpeg_dct_scaling), T(test_bad_files),
         T(test_to_input), T(test_resize_f32))
