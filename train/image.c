/*
 * image.c — JPEG (libjpeg-turbo) and PNG (libpng) decoding to 8-bit RGB or
 * gray, and the preprocessing that turns an image into a model input
 * (shorter-side bilinear resize, center crop, scale/mean/std, NCHW/NHWC).
 */
#include "train/image.h"
#include "engine/ctx.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

/* Larger images are refused rather than risking a huge allocation. */
#define NK_IMAGE_MAX_DIM 65535
#define NK_IMAGE_MAX_PIXELS ((size_t)1 << 28)

/* ---- allocation ---------------------------------------------------------- */

nk_status nk_image_alloc(nk_ctx *ctx, int w, int h, int c, nk_image **out)
{
    size_t n;
    *out = NULL;
    if (w <= 0 || h <= 0 || (c != 1 && c != 3) || w > NK_IMAGE_MAX_DIM ||
        h > NK_IMAGE_MAX_DIM)
        return nk_fail(ctx, NK_INVALID_ARG,
                       "image size %dx%dx%d out of range", w, h, c);
    if (!nk_mul_size((size_t)w, (size_t)h, &n) || n > NK_IMAGE_MAX_PIXELS ||
        !nk_mul_size(n, (size_t)c, &n))
        return nk_fail(ctx, NK_UNSUPPORTED,
                       "image of %dx%d pixels is too large", w, h);
    nk_image *img = nk_calloc(1, sizeof *img);
    if (!img)
        return nk_fail(ctx, NK_NOMEM, "out of memory for an image");
    img->px = nk_calloc(n, 1);
    if (!img->px) {
        nk_free(img);
        return nk_fail(ctx, NK_NOMEM, "out of memory for a %dx%d image", w,
                       h);
    }
    img->w = w;
    img->h = h;
    img->c = c;
    *out = img;
    return NK_OK;
}

void nk_image_free(nk_image *img)
{
    if (!img)
        return;
    nk_free(img->px);
    nk_free(img);
}

int nk_image_width(const nk_image *img) { return img ? img->w : 0; }
int nk_image_height(const nk_image *img) { return img ? img->h : 0; }
int nk_image_channels(const nk_image *img) { return img ? img->c : 0; }
const uint8_t *nk_image_pixels(const nk_image *img)
{
    return img ? img->px : NULL;
}

/* RGB -> gray in place with PIL's convert("L") (ITU-R 601-2 luma, 16-bit
 * fixed point, rounded). */
static void rgb_to_gray(nk_image *img)
{
    size_t n = (size_t)img->w * (size_t)img->h;
    const uint8_t *s = img->px;
    uint8_t *d = img->px;
    for (size_t i = 0; i < n; i++, s += 3)
        d[i] = (uint8_t)((s[0] * 19595u + s[1] * 38470u + s[2] * 7471u +
                          0x8000u) >> 16);
    img->c = 1;
}

/* Gray -> RGB; reallocates. */
static nk_status gray_to_rgb(nk_ctx *ctx, nk_image *img)
{
    size_t n = (size_t)img->w * (size_t)img->h;
    uint8_t *px = nk_malloc(n * 3);
    if (!px)
        return nk_fail(ctx, NK_NOMEM, "out of memory for a %dx%d image",
                       img->w, img->h);
    for (size_t i = 0; i < n; i++)
        px[3 * i] = px[3 * i + 1] = px[3 * i + 2] = img->px[i];
    nk_free(img->px);
    img->px = px;
    img->c = 3;
    return NK_OK;
}

/* ---- JPEG ---------------------------------------------------------------- */

typedef struct jpeg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    int eof_warning; /* premature end of data: the file is truncated */
} jpeg_err;

static void jpeg_on_error(j_common_ptr cinfo)
{
    jpeg_err *e = (jpeg_err *)cinfo->err;
    longjmp(e->jb, 1);
}

/* Never print; remember truncation, which libjpeg only warns about. */
static void jpeg_on_message(j_common_ptr cinfo, int level)
{
    jpeg_err *e = (jpeg_err *)cinfo->err;
    if (level < 0 && e->pub.msg_code == JWRN_JPEG_EOF)
        e->eof_warning = 1;
    if (level < 0)
        e->pub.num_warnings++;
}

static void jpeg_silent_output(j_common_ptr cinfo) { (void)cinfo; }

static nk_status load_jpeg(nk_ctx *ctx, const char *path, FILE *f,
                           int min_short, nk_image **out)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_err err;
    nk_image *volatile img = NULL;
    volatile nk_status st = NK_OK;

    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpeg_on_error;
    err.pub.emit_message = jpeg_on_message;
    err.pub.output_message = jpeg_silent_output;
    err.eof_warning = 0;
    if (setjmp(err.jb)) {
        char buf[JMSG_LENGTH_MAX];
        err.pub.format_message((j_common_ptr)&cinfo, buf);
        jpeg_destroy_decompress(&cinfo);
        nk_image_free(img);
        if (st != NK_OK)
            return st;
        return nk_fail(ctx, NK_FORMAT, "%s: corrupt JPEG: %s", path, buf);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, f);
    jpeg_read_header(&cinfo, TRUE);
    /* CMYK/YCCK would need inversion handling; everything else goes to
     * RGB and then to gray like PIL's convert("L"). */
    if (cinfo.jpeg_color_space == JCS_GRAYSCALE)
        cinfo.out_color_space = JCS_GRAYSCALE;
    else if (cinfo.jpeg_color_space == JCS_CMYK ||
             cinfo.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&cinfo);
        return nk_fail(ctx, NK_UNSUPPORTED,
                       "%s: CMYK JPEG images are not supported", path);
    } else
        cinfo.out_color_space = JCS_RGB;
    if (min_short > 0) {
        unsigned shorter = cinfo.image_width < cinfo.image_height
                               ? cinfo.image_width
                               : cinfo.image_height;
        unsigned num = 8;
        /* The smallest scale that still leaves 2x the needed size. */
        while (num > 1 && (uint64_t)shorter * (num - 1) / 8 >=
                              (uint64_t)min_short * 2)
            num--;
        cinfo.scale_num = num;
        cinfo.scale_denom = 8;
    }
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_width > NK_IMAGE_MAX_DIM ||
        cinfo.output_height > NK_IMAGE_MAX_DIM ||
        (cinfo.output_components != 1 && cinfo.output_components != 3)) {
        st = nk_fail(ctx, NK_UNSUPPORTED,
                     "%s: JPEG of %ux%u with %d components is not supported",
                     path, cinfo.output_width, cinfo.output_height,
                     cinfo.output_components);
        longjmp(err.jb, 1);
    }
    nk_image *im = NULL;
    st = nk_image_alloc(ctx, (int)cinfo.output_width,
                        (int)cinfo.output_height, cinfo.output_components,
                        &im);
    if (st != NK_OK) {
        nk_errmsg_prefix(ctx, "%s", path);
        longjmp(err.jb, 1);
    }
    img = im;
    size_t stride = (size_t)im->w * (size_t)im->c;
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = im->px + (size_t)cinfo.output_scanline * stride;
        jpeg_read_scanlines(&cinfo, &row, 1);
        if (err.eof_warning)
            break;
    }
    if (err.eof_warning) {
        st = nk_fail(ctx, NK_FORMAT,
                     "%s: truncated JPEG (data ends at row %u of %u)", path,
                     cinfo.output_scanline, cinfo.output_height);
        longjmp(err.jb, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    *out = im;
    return NK_OK;
}

/* ---- PNG ----------------------------------------------------------------- */

typedef struct png_err {
    jmp_buf jb;
    char msg[256];
} png_err;

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_err *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg ? msg : "error");
    longjmp(e->jb, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static nk_status load_png(nk_ctx *ctx, const char *path, FILE *f,
                          nk_image **out)
{
    png_err err;
    png_structp png;
    png_infop info = NULL;
    nk_image *volatile img = NULL;
    png_bytep *volatile rows = NULL;
    volatile nk_status st = NK_OK;

    err.msg[0] = 0;
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &err, png_on_error,
                                 png_on_warning);
    if (!png)
        return nk_fail(ctx, NK_NOMEM, "%s: out of memory for PNG decoder",
                       path);
    info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return nk_fail(ctx, NK_NOMEM, "%s: out of memory for PNG decoder",
                       path);
    }
    if (setjmp(err.jb)) {
        png_destroy_read_struct(&png, &info, NULL);
        nk_free(rows);
        nk_image_free(img);
        if (st != NK_OK)
            return st;
        return nk_fail(ctx, NK_FORMAT, "%s: corrupt PNG: %s", path, err.msg);
    }
    png_set_user_limits(png, NK_IMAGE_MAX_DIM, NK_IMAGE_MAX_DIM);
    png_init_io(png, f);
    png_read_info(png, info);

    int color = png_get_color_type(png, info);
    int depth = png_get_bit_depth(png, info);
    /* Palette -> RGB, gray < 8 bit -> 8 bit, tRNS -> alpha; 16 -> 8 bit
     * keeping the high byte (as PIL does); then drop any alpha. */
    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_tRNS_to_alpha(png);
    if (depth == 16)
        png_set_strip_16(png);
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int w = (int)png_get_image_width(png, info);
    int h = (int)png_get_image_height(png, info);
    int ch = png_get_channels(png, info);
    if ((ch != 1 && ch != 3) || png_get_bit_depth(png, info) != 8) {
        st = nk_fail(ctx, NK_UNSUPPORTED,
                     "%s: PNG with %d channels of %d bits after conversion",
                     path, ch, png_get_bit_depth(png, info));
        longjmp(err.jb, 1);
    }
    nk_image *im = NULL;
    st = nk_image_alloc(ctx, w, h, ch, &im);
    if (st != NK_OK) {
        nk_errmsg_prefix(ctx, "%s", path);
        longjmp(err.jb, 1);
    }
    img = im;
    if (png_get_rowbytes(png, info) != (size_t)w * (size_t)ch) {
        st = nk_fail(ctx, NK_FORMAT, "%s: PNG row has %zu bytes, expected %zu",
                     path, (size_t)png_get_rowbytes(png, info),
                     (size_t)w * (size_t)ch);
        longjmp(err.jb, 1);
    }
    png_bytep *r = nk_malloc((size_t)h * sizeof *r);
    if (!r) {
        st = nk_fail(ctx, NK_NOMEM, "%s: out of memory", path);
        longjmp(err.jb, 1);
    }
    rows = r;
    for (int y = 0; y < h; y++)
        r[y] = im->px + (size_t)y * (size_t)w * (size_t)ch;
    png_read_image(png, r);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    nk_free(r);
    *out = im;
    return NK_OK;
}

/* ---- loading ------------------------------------------------------------- */

nk_status nk_image_load_sized(nk_ctx *ctx, const char *path,
                              int want_channels, int min_short,
                              nk_image **out)
{
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G',
                                         0x0d, 0x0a, 0x1a, 0x0a};
    uint8_t head[8];
    nk_image *img = NULL;
    nk_status st;

    if (!out)
        return nk_fail(ctx, NK_INVALID_ARG, "nk_image_load: out is NULL");
    *out = NULL;
    if (!path)
        return nk_fail(ctx, NK_INVALID_ARG, "nk_image_load: path is NULL");
    if (want_channels != 0 && want_channels != 1 && want_channels != 3)
        return nk_fail(ctx, NK_INVALID_ARG,
                       "%s: want_channels is %d, expected 1 or 3", path,
                       want_channels);
    FILE *f = fopen(path, "rb");
    if (!f)
        return nk_fail(ctx, NK_IO, "%s: cannot open: %s", path,
                       strerror(errno));
    size_t n = fread(head, 1, sizeof head, f);
    if (ferror(f)) {
        int e = errno;
        fclose(f);
        return nk_fail(ctx, NK_IO, "%s: cannot read: %s", path, strerror(e));
    }
    rewind(f);
    if (n >= 3 && head[0] == 0xff && head[1] == 0xd8 && head[2] == 0xff)
        st = load_jpeg(ctx, path, f, min_short, &img);
    else if (n == 8 && memcmp(head, png_magic, 8) == 0)
        st = load_png(ctx, path, f, &img);
    else
        st = nk_fail(ctx, NK_FORMAT,
                     "%s: not a JPEG or PNG image (%s)", path,
                     n == 0 ? "the file is empty" : "unknown signature");
    fclose(f);
    if (st != NK_OK)
        return st;
    if (want_channels == 1 && img->c == 3)
        rgb_to_gray(img);
    else if (want_channels != 1 && img->c == 1) {
        st = gray_to_rgb(ctx, img);
        if (st != NK_OK) {
            nk_image_free(img);
            return st;
        }
    }
    *out = img;
    return NK_OK;
}

nk_status nk_image_load(nk_ctx *ctx, const char *path, int want_channels,
                        nk_image **out)
{
    return nk_image_load_sized(ctx, path, want_channels, 0, out);
}

/* ---- geometry ------------------------------------------------------------ */

void nk_image_resized_size(int w, int h, int shorter, int *rw, int *rh)
{
    /* torchvision: new_long = int(shorter * long / short), width is the
     * short side when w <= h. */
    if (shorter <= 0) {
        *rw = w;
        *rh = h;
    } else if (w <= h) {
        *rw = shorter;
        *rh = (int)((double)shorter * h / w);
    } else {
        *rh = shorter;
        *rw = (int)((double)shorter * w / h);
    }
}

int nk_image_crop_offset(int size, int crop)
{
    if (crop > size)
        return -((crop - size) / 2); /* torchvision pads left = d // 2 */
    int d = size - crop, half = d / 2;
    if (d % 2 == 0)
        return half;
    return (half % 2 == 0) ? half : half + 1; /* x.5 rounds to even */
}

/* Source index and weight of torch's bilinear (align_corners=False). */
typedef struct lerp_tap {
    int i0, i1;
    float l1;
} lerp_tap;

static void lerp_taps(int in, int outn, int offset, int n, lerp_tap *taps)
{
    float scale = (float)in / (float)outn;
    for (int k = 0; k < n; k++) {
        int dst = k + offset;
        if (dst < 0 || dst >= outn) {
            taps[k].i0 = -1; /* padding */
            continue;
        }
        float src = scale * ((float)dst + 0.5f) - 0.5f;
        if (src < 0)
            src = 0;
        int i0 = (int)src;
        if (i0 > in - 1)
            i0 = in - 1;
        taps[k].i0 = i0;
        taps[k].i1 = i0 < in - 1 ? i0 + 1 : i0;
        taps[k].l1 = src - (float)i0;
    }
}

static float sample(const nk_image *s, const lerp_tap *ty, const lerp_tap *tx,
                    int c)
{
    size_t st = (size_t)s->w * (size_t)s->c;
    const uint8_t *r0 = s->px + (size_t)ty->i0 * st;
    const uint8_t *r1 = s->px + (size_t)ty->i1 * st;
    float l1 = tx->l1, l0 = 1.0f - l1, h1 = ty->l1, h0 = 1.0f - h1;
    size_t a = (size_t)tx->i0 * (size_t)s->c + (size_t)c;
    size_t b = (size_t)tx->i1 * (size_t)s->c + (size_t)c;
    return h0 * (l0 * r0[a] + l1 * r0[b]) + h1 * (l0 * r1[a] + l1 * r1[b]);
}

nk_status nk_image_resize_bilinear_f32(nk_ctx *ctx, const nk_image *src,
                                       int dw, int dh, float *dst)
{
    if (!src || !dst || dw <= 0 || dh <= 0)
        return nk_fail(ctx, NK_INVALID_ARG, "resize to %dx%d: bad argument",
                       dw, dh);
    lerp_tap *tx = nk_malloc(sizeof *tx * (size_t)dw);
    lerp_tap *ty = nk_malloc(sizeof *ty * (size_t)dh);
    if (!tx || !ty) {
        nk_free(tx);
        nk_free(ty);
        return nk_fail(ctx, NK_NOMEM, "out of memory resizing to %dx%d", dw,
                       dh);
    }
    lerp_taps(src->w, dw, 0, dw, tx);
    lerp_taps(src->h, dh, 0, dh, ty);
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++)
            for (int c = 0; c < src->c; c++)
                dst[((size_t)y * dw + x) * src->c + c] =
                    sample(src, &ty[y], &tx[x], c);
    nk_free(tx);
    nk_free(ty);
    return NK_OK;
}

/* ---- image -> input tensor ---------------------------------------------- */

nk_status nk_image_to_input(nk_ctx *ctx, const nk_image *img,
                            const nk_preproc *p, nk_tensor *t, int64_t index)
{
    if (!img || !p || !t)
        return nk_fail(ctx, NK_INVALID_ARG,
                       "nk_image_to_input: NULL argument");
    if (nk_tensor_dtype(t) != NK_F32 || nk_tensor_rank(t) != 4)
        return nk_fail(ctx, NK_SHAPE,
                       "input '%s': expected a rank-4 f32 tensor, found "
                       "rank %d %s", nk_tensor_name(t) ? nk_tensor_name(t) : "",
                       nk_tensor_rank(t), nk_dtype_name(nk_tensor_dtype(t)));
    float *data = nk_tensor_data(t);
    int64_t n = nk_tensor_dim(t, 0);
    int64_t tc = nk_tensor_dim(t, p->nhwc ? 3 : 1);
    int64_t th = nk_tensor_dim(t, p->nhwc ? 1 : 2);
    int64_t tw = nk_tensor_dim(t, p->nhwc ? 2 : 3);
    const char *tname = nk_tensor_name(t) ? nk_tensor_name(t) : "";
    if (!data)
        return nk_fail(ctx, NK_INVALID_ARG, "input '%s' has no data", tname);
    if (index < 0 || index >= n)
        return nk_fail(ctx, NK_INVALID_ARG,
                       "input '%s': batch index %lld out of range [0, %lld)",
                       tname, (long long)index, (long long)n);
    int ch = p->crop_h > 0 ? p->crop_h : (int)th;
    int cw = p->crop_w > 0 ? p->crop_w : (int)tw;
    int cc = p->channels > 0 ? p->channels : (int)tc;
    if (th != ch || tw != cw || tc != cc || (cc != 1 && cc != 3))
        return nk_fail(ctx, NK_SHAPE,
                       "input '%s': tensor is %lldx%lld with %lld channels, "
                       "preprocessing gives %dx%d with %d channels",
                       tname, (long long)th, (long long)tw, (long long)tc,
                       ch, cw, cc);
    for (int c = 0; c < cc; c++)
        if (!(p->std[c] != 0.0f) || !isfinite(p->std[c]))
            return nk_fail(ctx, NK_INVALID_ARG,
                           "preprocessing std[%d] is %g, expected non-zero",
                           c, (double)p->std[c]);
    if (p->resize_mode != NK_RESIZE_BILINEAR &&
        p->resize_mode != NK_RESIZE_NEAREST)
        return nk_fail(ctx, NK_INVALID_ARG, "preprocessing resize mode %d",
                       (int)p->resize_mode);

    /* Channel conversion first, on a copy when needed. */
    nk_image *conv = NULL;
    const nk_image *src = img;
    if (img->c != cc) {
        nk_status st = nk_image_alloc(ctx, img->w, img->h, img->c, &conv);
        if (st != NK_OK)
            return st;
        memcpy(conv->px, img->px,
               (size_t)img->w * (size_t)img->h * (size_t)img->c);
        if (cc == 1)
            rgb_to_gray(conv);
        else if ((st = gray_to_rgb(ctx, conv)) != NK_OK) {
            nk_image_free(conv);
            return st;
        }
        src = conv;
    }

    int rw, rh;
    nk_image_resized_size(src->w, src->h, p->resize, &rw, &rh);
    int top = nk_image_crop_offset(rh, ch);
    int left = nk_image_crop_offset(rw, cw);
    lerp_tap *tx = nk_malloc(sizeof *tx * (size_t)cw);
    lerp_tap *ty = nk_malloc(sizeof *ty * (size_t)ch);
    if (!tx || !ty) {
        nk_free(tx);
        nk_free(ty);
        nk_image_free(conv);
        return nk_fail(ctx, NK_NOMEM, "out of memory preprocessing an image");
    }
    lerp_taps(src->w, rw, left, cw, tx);
    lerp_taps(src->h, rh, top, ch, ty);
    if (p->resize_mode == NK_RESIZE_NEAREST) {
        /* torch "nearest": floor(dst * in / out), no interpolation. */
        for (int k = 0; k < cw; k++)
            if (tx[k].i0 >= 0) {
                int i = (int)floorf((float)(k + left) * src->w / rw);
                tx[k].i0 = tx[k].i1 = i < src->w ? i : src->w - 1;
                tx[k].l1 = 0;
            }
        for (int k = 0; k < ch; k++)
            if (ty[k].i0 >= 0) {
                int i = (int)floorf((float)(k + top) * src->h / rh);
                ty[k].i0 = ty[k].i1 = i < src->h ? i : src->h - 1;
                ty[k].l1 = 0;
            }
    }
    int resized = rw != src->w || rh != src->h;
    size_t plane = (size_t)ch * (size_t)cw;
    float *base = data + (size_t)index * plane * (size_t)cc;
    for (int y = 0; y < ch; y++)
        for (int x = 0; x < cw; x++)
            for (int c = 0; c < cc; c++) {
                float v = 0.0f; /* CenterCrop pads with zeros */
                if (ty[y].i0 >= 0 && tx[x].i0 >= 0) {
                    v = sample(src, &ty[y], &tx[x], c);
                    /* A uint8 Resize rounds its result (torch.round). */
                    if (resized)
                        v = nearbyintf(v < 0 ? 0 : v > 255 ? 255 : v);
                }
                int oc = (p->bgr && cc == 3) ? 2 - c : c;
                float o = (v * p->scale - p->mean[oc]) / p->std[oc];
                size_t at = p->nhwc
                                ? ((size_t)y * cw + x) * cc + oc
                                : (size_t)oc * plane + (size_t)y * cw + x;
                base[at] = o;
            }
    nk_free(tx);
    nk_free(ty);
    nk_image_free(conv);
    return NK_OK;
}
