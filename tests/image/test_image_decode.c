/* Unit tests of the decode front end. Every input is made here in code with
 * libpng, libjpeg and libwebp directly (or with ln_image_encode_png), so
 * the expected pixels are known exactly: each PNG colour type and depth,
 * JPEG with every EXIF orientation, WebP lossy and lossless, then damaged,
 * oversized and disguised files, limits and allocation failures. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>
#include <webp/decode.h>
#include <webp/encode.h>
#include <libexif/exif-data.h>

#include "ln_alloc.h"
#include "ln_error.h"
#include "ln_file.h"
#include "ln_image.h"
#include "ln_synth.h"

/* Damaged headers may claim any size; these keep such decodes small. */
static const struct ln_image_limits small_limits = {1 << 20, 4096, 1 << 20, 0};

/* ---- helpers: pixels ---------------------------------------------------- */

static void rgba_at(const struct ln_image *img, int x, int y, uint8_t px[4])
{
    memcpy(px, img->data + ((size_t)y * (size_t)img->width + (size_t)x) * 4, 4);
}

static void assert_rgba_near(const struct ln_image *img, int x, int y, const uint8_t want[4],
                             int tol)
{
    uint8_t px[4];
    rgba_at(img, x, y, px);
    for (int c = 0; c < 4; c++) {
        if (abs((int)px[c] - (int)want[c]) > tol)
            fail_msg("pixel (%d,%d) is %d,%d,%d,%d, expected %d,%d,%d,%d (tolerance %d)", x, y,
                     px[0], px[1], px[2], px[3], want[0], want[1], want[2], want[3], tol);
    }
}

/* Decodes and expects failure with code; the image must be left empty. */
static void expect_decode_fails(const uint8_t *data, size_t len, const struct ln_image_limits *lim,
                                int code)
{
    struct ln_image img = {0};
    struct ln_error err = {0};
    int rc = ln_image_decode(data, len, lim, &img, &err);
    if (rc != code)
        fail_msg("decode of %zu bytes gave %s (%s), expected %s", len, ln_status_name(rc),
                 err.message, ln_status_name(code));
    assert_int_equal(err.code, code);
    assert_true(strlen(err.message) > 0);
    assert_null(img.data);
    assert_int_equal(img.width, 0);
}

/* ---- helpers: PNG written with libpng ------------------------------------ */

static void png_to_buf(png_structp png, png_bytep data, size_t n)
{
    ln_buf_append(png_get_io_ptr(png), data, n);
}

static void png_no_flush(png_structp png)
{
    (void)png;
}

struct png_spec {
    int width, height, color_type, depth, interlace;
    const png_color *palette;
    int n_palette;
    const png_byte *trns; /* palette alpha */
    int n_trns;
    const png_color_16 *trns_color; /* grey or RGB key */
};

/* rows: packed raw rows as PNG stores them (16-bit big-endian). */
static void write_png(struct ln_buf *out, const struct png_spec *s, uint8_t **rows)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    assert_non_null(png);
    assert_non_null(info);
    png_set_write_fn(png, out, png_to_buf, png_no_flush);
    png_set_IHDR(png, info, (png_uint_32)s->width, (png_uint_32)s->height, s->depth, s->color_type,
                 s->interlace, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (s->palette)
        png_set_PLTE(png, info, s->palette, s->n_palette);
    if (s->trns || s->trns_color)
        png_set_tRNS(png, info, s->trns, s->n_trns, s->trns_color);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    assert_false(out->failed);
}

static unsigned sample_of(int x, int y, int c, unsigned maxv)
{
    return (unsigned)(x * 37 + y * 101 + c * 59 + x * y * 3 + 11) % (maxv + 1);
}

static void put_sample(uint8_t *row, size_t i, int depth, unsigned v)
{
    if (depth == 16) {
        row[i * 2] = (uint8_t)(v >> 8);
        row[i * 2 + 1] = (uint8_t)v;
    } else if (depth == 8) {
        row[i] = (uint8_t)v;
    } else {
        size_t bit = i * (size_t)depth;
        int shift = 8 - depth - (int)(bit % 8);
        row[bit / 8] |= (uint8_t)(v << shift);
    }
}

static int color_channels(int color_type)
{
    switch (color_type) {
    case PNG_COLOR_TYPE_GRAY:
    case PNG_COLOR_TYPE_PALETTE:
        return 1;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        return 2;
    case PNG_COLOR_TYPE_RGB:
        return 3;
    default:
        return 4;
    }
}

struct png_case {
    const char *name;
    int color_type, depth, interlace, with_trns;
};

/* Writes a 13x7 PNG of the given kind and checks every decoded pixel. */
static void check_png_case(const struct png_case *pc)
{
    const int w = 13, h = 7;
    const int n_ch = color_channels(pc->color_type);
    const unsigned maxv = pc->color_type == PNG_COLOR_TYPE_PALETTE
                              ? (1u << pc->depth) - 1
                              : (pc->depth >= 8 ? 255u : (1u << pc->depth) - 1);
    png_color palette[256];
    png_byte trns[256];
    png_color_16 key = {0};
    struct png_spec spec = {w, h, pc->color_type, pc->depth, pc->interlace, NULL, 0, NULL, 0, NULL};
    if (pc->color_type == PNG_COLOR_TYPE_PALETTE) {
        for (int i = 0; i < 256; i++) {
            palette[i].red = (png_byte)(i * 3);
            palette[i].green = (png_byte)(255 - i);
            palette[i].blue = (png_byte)(i * 7 + 5);
            trns[i] = (png_byte)(i * 53);
        }
        spec.palette = palette;
        spec.n_palette = (int)maxv + 1;
        if (pc->with_trns) {
            spec.trns = trns;
            spec.n_trns = (int)(maxv + 1) / 2 + 1;
        }
    } else if (pc->with_trns) {
        /* The key is pixel (0,0), so at least one pixel is transparent. */
        unsigned mul = pc->depth == 16 ? 257 : 1;
        key.gray = (png_uint_16)(sample_of(0, 0, 0, maxv) * mul);
        key.red = (png_uint_16)(sample_of(0, 0, 0, maxv) * mul);
        key.green = (png_uint_16)(sample_of(0, 0, 1, maxv) * mul);
        key.blue = (png_uint_16)(sample_of(0, 0, 2, maxv) * mul);
        spec.trns_color = &key;
    }

    size_t row_bytes = ((size_t)w * (size_t)n_ch * (size_t)pc->depth + 7) / 8;
    uint8_t *rows[7];
    uint8_t *expected = calloc((size_t)w * h * 4, 1);
    assert_non_null(expected);
    for (int y = 0; y < h; y++) {
        rows[y] = calloc(row_bytes, 1);
        assert_non_null(rows[y]);
        for (int x = 0; x < w; x++) {
            unsigned s[4];
            for (int c = 0; c < n_ch; c++) {
                s[c] = sample_of(x, y, c, maxv);
                put_sample(rows[y], (size_t)x * n_ch + c, pc->depth,
                           pc->depth == 16 ? s[c] * 257 : s[c]);
            }
            uint8_t *e = expected + ((size_t)y * w + x) * 4;
            /* Low depths scale up to the full 8-bit range. */
            unsigned scale =
                pc->depth < 8 && pc->color_type != PNG_COLOR_TYPE_PALETTE ? 255 / maxv : 1;
            switch (pc->color_type) {
            case PNG_COLOR_TYPE_PALETTE:
                e[0] = palette[s[0]].red;
                e[1] = palette[s[0]].green;
                e[2] = palette[s[0]].blue;
                e[3] = pc->with_trns && (int)s[0] < spec.n_trns ? trns[s[0]] : 255;
                break;
            case PNG_COLOR_TYPE_GRAY:
                e[0] = e[1] = e[2] = (uint8_t)(s[0] * scale);
                e[3] = pc->with_trns && s[0] == sample_of(0, 0, 0, maxv) ? 0 : 255;
                break;
            case PNG_COLOR_TYPE_GRAY_ALPHA:
                e[0] = e[1] = e[2] = (uint8_t)s[0];
                e[3] = (uint8_t)s[1];
                break;
            case PNG_COLOR_TYPE_RGB:
                e[0] = (uint8_t)s[0];
                e[1] = (uint8_t)s[1];
                e[2] = (uint8_t)s[2];
                e[3] = pc->with_trns && s[0] == sample_of(0, 0, 0, maxv) &&
                               s[1] == sample_of(0, 0, 1, maxv) && s[2] == sample_of(0, 0, 2, maxv)
                           ? 0
                           : 255;
                break;
            default:
                for (int c = 0; c < 4; c++)
                    e[c] = (uint8_t)s[c];
                break;
            }
        }
    }

    struct ln_buf buf = {0};
    write_png(&buf, &spec, rows);
    struct ln_image img = {0};
    struct ln_error err = {0};
    int rc = ln_image_decode(buf.data, buf.len, NULL, &img, &err);
    if (rc != 0)
        fail_msg("%s: %s", pc->name, err.message);
    assert_int_equal(img.width, w);
    assert_int_equal(img.height, h);
    assert_int_equal(img.channels, 4);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (memcmp(img.data + ((size_t)y * w + x) * 4, expected + ((size_t)y * w + x) * 4, 4) !=
                0) {
                const uint8_t *g = img.data + ((size_t)y * w + x) * 4;
                const uint8_t *e = expected + ((size_t)y * w + x) * 4;
                fail_msg("%s: pixel (%d,%d) is %d,%d,%d,%d, expected %d,%d,%d,%d", pc->name, x, y,
                         g[0], g[1], g[2], g[3], e[0], e[1], e[2], e[3]);
            }
    ln_image_free(&img);
    ln_buf_free(&buf);
    for (int y = 0; y < h; y++)
        free(rows[y]);
    free(expected);
}

static const struct png_case png_cases[] = {
    {"grey 1-bit", PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE, 0},
    {"grey 2-bit", PNG_COLOR_TYPE_GRAY, 2, PNG_INTERLACE_NONE, 0},
    {"grey 4-bit", PNG_COLOR_TYPE_GRAY, 4, PNG_INTERLACE_NONE, 0},
    {"grey 8-bit", PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, 0},
    {"grey 16-bit", PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_NONE, 0},
    {"grey 2-bit tRNS", PNG_COLOR_TYPE_GRAY, 2, PNG_INTERLACE_NONE, 1},
    {"grey 8-bit tRNS", PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, 1},
    {"grey 16-bit tRNS", PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_NONE, 1},
    {"grey+alpha 8-bit", PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE, 0},
    {"grey+alpha 16-bit", PNG_COLOR_TYPE_GRAY_ALPHA, 16, PNG_INTERLACE_NONE, 0},
    {"palette 1-bit", PNG_COLOR_TYPE_PALETTE, 1, PNG_INTERLACE_NONE, 0},
    {"palette 2-bit tRNS", PNG_COLOR_TYPE_PALETTE, 2, PNG_INTERLACE_NONE, 1},
    {"palette 4-bit tRNS", PNG_COLOR_TYPE_PALETTE, 4, PNG_INTERLACE_NONE, 1},
    {"palette 8-bit", PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_NONE, 0},
    {"palette 8-bit tRNS", PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_NONE, 1},
    {"RGB 8-bit", PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, 0},
    {"RGB 16-bit", PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_NONE, 0},
    {"RGB 8-bit tRNS", PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, 1},
    {"RGB 16-bit tRNS", PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_NONE, 1},
    {"RGBA 8-bit", PNG_COLOR_TYPE_RGB_ALPHA, 8, PNG_INTERLACE_NONE, 0},
    {"RGBA 16-bit", PNG_COLOR_TYPE_RGB_ALPHA, 16, PNG_INTERLACE_NONE, 0},
    {"grey 1-bit interlaced", PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_ADAM7, 0},
    {"palette 4-bit tRNS interlaced", PNG_COLOR_TYPE_PALETTE, 4, PNG_INTERLACE_ADAM7, 1},
    {"RGB 16-bit interlaced", PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_ADAM7, 0},
    {"RGBA 8-bit interlaced", PNG_COLOR_TYPE_RGB_ALPHA, 8, PNG_INTERLACE_ADAM7, 0},
    {"grey+alpha 16-bit interlaced", PNG_COLOR_TYPE_GRAY_ALPHA, 16, PNG_INTERLACE_ADAM7, 0},
};

/* A 40x30 RGBA 8-bit PNG, the baseline for the damage tests. */
static void make_png_rgba(struct ln_buf *out, int interlace)
{
    const int w = 40, h = 30;
    uint8_t *rows[30];
    for (int y = 0; y < h; y++) {
        rows[y] = malloc((size_t)w * 4);
        assert_non_null(rows[y]);
        for (int x = 0; x < w * 4; x++)
            rows[y][x] = (uint8_t)sample_of(x, y, 0, 255);
    }
    struct png_spec spec = {w, h, PNG_COLOR_TYPE_RGB_ALPHA, 8, interlace, NULL, 0, NULL, 0, NULL};
    write_png(out, &spec, rows);
    for (int y = 0; y < h; y++)
        free(rows[y]);
}

/* ---- helpers: hand-made PNG chunks --------------------------------------- */

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

static void put32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void append_chunk(struct ln_buf *b, const char *type, const uint8_t *data, uint32_t n)
{
    uint8_t head[8];
    put32be(head, n);
    memcpy(head + 4, type, 4);
    ln_buf_append(b, head, 8);
    ln_buf_append(b, data, n);
    uint8_t *crc_in = malloc((size_t)n + 4);
    assert_non_null(crc_in);
    memcpy(crc_in, type, 4);
    if (n)
        memcpy(crc_in + 4, data, n);
    uint8_t crc[4];
    put32be(crc, crc32_of(crc_in, (size_t)n + 4));
    free(crc_in);
    ln_buf_append(b, crc, 4);
}

/* Signature, an IHDR claiming width x height RGBA8, an empty IDAT, IEND. */
static void make_png_header_only(struct ln_buf *b, uint32_t width, uint32_t height)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t ihdr[13] = {0};
    put32be(ihdr, width);
    put32be(ihdr + 4, height);
    ihdr[8] = 8;
    ihdr[9] = 6;
    ln_buf_append(b, sig, 8);
    append_chunk(b, "IHDR", ihdr, 13);
    append_chunk(b, "IDAT", NULL, 0);
    append_chunk(b, "IEND", NULL, 0);
}

/* ---- helpers: JPEG written with libjpeg ---------------------------------- */

struct jpeg_out {
    unsigned char *data;
    unsigned long len;
};

/* px holds w*h*comps samples in in_space. 4:4:4 sampling keeps colours
 * exact up to quantisation. force_space: write that JPEG colour space
 * instead of libjpeg's default for in_space (JCS_UNKNOWN: default). */
static void write_jpeg(struct jpeg_out *o, const uint8_t *px, int w, int h, int comps,
                       J_COLOR_SPACE in_space, J_COLOR_SPACE force_space, int quality,
                       const uint8_t *app1, size_t app1_len)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    o->data = NULL;
    o->len = 0;
    jpeg_mem_dest(&c, &o->data, &o->len);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = in_space;
    jpeg_set_defaults(&c);
    if (force_space != JCS_UNKNOWN)
        jpeg_set_colorspace(&c, force_space);
    jpeg_set_quality(&c, quality, TRUE);
    for (int i = 0; i < c.num_components; i++) {
        c.comp_info[i].h_samp_factor = 1;
        c.comp_info[i].v_samp_factor = 1;
    }
    jpeg_start_compress(&c, TRUE);
    if (app1)
        jpeg_write_marker(&c, JPEG_APP0 + 1, app1, (unsigned)app1_len);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * (size_t)w * (size_t)comps);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
}

/* An EXIF APP1 payload ("Exif\0\0" + TIFF) with only IFD0 Orientation,
 * written by hand in either byte order. Returns its length (32). */
static size_t make_exif(uint8_t *b, int orientation, int big_endian)
{
    memset(b, 0, 32);
    memcpy(b, "Exif\0\0", 6);
    uint8_t *t = b + 6;
#define PUT16(p, v)                                                                                \
    do {                                                                                           \
        (p)[big_endian ? 0 : 1] = (uint8_t)((v) >> 8);                                             \
        (p)[big_endian ? 1 : 0] = (uint8_t)(v);                                                    \
    } while (0)
    t[0] = t[1] = big_endian ? 'M' : 'I';
    PUT16(t + 2, 42);
    PUT16(t + (big_endian ? 6 : 4), 8); /* IFD0 offset, 32-bit */
    PUT16(t + 8, 1);                    /* one entry */
    PUT16(t + 10, 0x0112);              /* Orientation */
    PUT16(t + 12, 3);                   /* SHORT */
    PUT16(t + (big_endian ? 16 : 14), 1);
    PUT16(t + 18, orientation);
#undef PUT16
    return 32;
}

/* The same payload produced by libexif's writer. Caller frees *out. */
static size_t make_exif_libexif(uint8_t **out, int orientation)
{
    ExifData *ed = exif_data_new();
    assert_non_null(ed);
    exif_data_set_byte_order(ed, EXIF_BYTE_ORDER_INTEL);
    ExifEntry *e = exif_entry_new();
    exif_content_add_entry(ed->ifd[EXIF_IFD_0], e);
    exif_entry_initialize(e, EXIF_TAG_ORIENTATION);
    exif_set_short(e->data, EXIF_BYTE_ORDER_INTEL, (ExifShort)orientation);
    exif_entry_unref(e);
    unsigned char *data = NULL;
    unsigned int len = 0;
    exif_data_save_data(ed, &data, &len);
    exif_data_unref(ed);
    assert_non_null(data);
    *out = data;
    return len;
}

/* 32x16 RGB: red, green / blue, yellow quadrants, each 8x8-block aligned. */
enum { QW = 32, QH = 16 };
static const uint8_t quad_colour[4][4] = {
    {220, 30, 30, 255}, /* top left */
    {30, 200, 40, 255}, /* top right */
    {30, 40, 210, 255}, /* bottom left */
    {230, 220, 40, 255} /* bottom right */
};
enum { TL, TR, BL, BR };

static void quadrant_rgb(uint8_t *px)
{
    for (int y = 0; y < QH; y++)
        for (int x = 0; x < QW; x++) {
            int q = (y >= QH / 2) * 2 + (x >= QW / 2);
            memcpy(px + ((size_t)y * QW + x) * 3, quad_colour[q], 3);
        }
}

static void make_quadrant_jpeg(struct jpeg_out *o, const uint8_t *app1, size_t app1_len)
{
    uint8_t px[QW * QH * 3];
    quadrant_rgb(px);
    write_jpeg(o, px, QW, QH, 3, JCS_RGB, JCS_UNKNOWN, 95, app1, app1_len);
}

/* Checks the centres of img's quadrants hold the given source quadrants. */
static void check_quadrants(const struct ln_image *img, int w, int h, int tl, int tr, int bl,
                            int br)
{
    assert_int_equal(img->width, w);
    assert_int_equal(img->height, h);
    assert_int_equal(img->channels, 4);
    assert_rgba_near(img, w / 4, h / 4, quad_colour[tl], 24);
    assert_rgba_near(img, 3 * w / 4, h / 4, quad_colour[tr], 24);
    assert_rgba_near(img, w / 4, 3 * h / 4, quad_colour[bl], 24);
    assert_rgba_near(img, 3 * w / 4, 3 * h / 4, quad_colour[br], 24);
}

/* A smooth 40x24 RGB gradient. */
static void gradient_rgb(uint8_t *px, int w, int h)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = px + ((size_t)y * w + x) * 3;
            p[0] = (uint8_t)(40 + x * 4);
            p[1] = (uint8_t)(30 + y * 6);
            p[2] = (uint8_t)(200 - x * 2 - y * 2);
        }
}

/* ---- helpers: WebP --------------------------------------------------------- */

static size_t make_webp(uint8_t **out, const uint8_t *rgba, int w, int h, int lossless)
{
    size_t n = lossless ? WebPEncodeLosslessRGBA(rgba, w, h, w * 4, out)
                        : WebPEncodeRGBA(rgba, w, h, w * 4, 90.0f, out);
    assert_true(n > 0);
    return n;
}

static void gradient_rgba(uint8_t *px, int w, int h, int with_alpha)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = px + ((size_t)y * w + x) * 4;
            p[0] = (uint8_t)(40 + x * 4);
            p[1] = (uint8_t)(30 + y * 6);
            p[2] = (uint8_t)(200 - x * 2 - y * 2);
            /* Never 0: the lossless encoder may drop colour under alpha 0. */
            p[3] = with_alpha ? (uint8_t)(x * 6 + y + 1) : 255;
        }
}

/* ---- tests: PNG ------------------------------------------------------------ */

static void test_png_every_colour_type_and_depth(void **state)
{
    for (size_t i = 0; i < sizeof png_cases / sizeof png_cases[0]; i++)
        check_png_case(&png_cases[i]);
}

static void test_png_truncated_fails(void **state)
{
    struct ln_buf png = {0};
    make_png_rgba(&png, PNG_INTERLACE_NONE);
    size_t cuts[] = {3, 8, 20, 33, 50, png.len / 2, png.len - 12, png.len - 4, png.len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        expect_decode_fails(png.data, cuts[i], NULL, LN_EFORMAT);

    struct ln_image img = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_image_decode(png.data, png.len / 2, NULL, &img, &err), LN_EFORMAT);
    assert_non_null(strstr(err.message, "truncated or corrupt PNG"));
    ln_buf_free(&png);
}

static void test_png_corrupt_fails(void **state)
{
    struct ln_buf png = {0};
    make_png_rgba(&png, PNG_INTERLACE_ADAM7);
    /* CRCs cover every chunk: a change anywhere after the signature fails,
     * in the header, in the middle of the pixels or in IEND. */
    size_t where[] = {12, 20, png.len / 3, png.len / 2, png.len / 2 + 7, png.len - 6};
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
        uint8_t *bad = malloc(png.len);
        assert_non_null(bad);
        memcpy(bad, png.data, png.len);
        for (size_t k = 0; k < 3 && where[i] + k < png.len; k++)
            bad[where[i] + k] ^= 0x5a;
        expect_decode_fails(bad, png.len, NULL, LN_EFORMAT);
        free(bad);
    }
    ln_buf_free(&png);

    /* Damage in an ancillary chunk (here tRNS, which carries the alpha)
     * fails too rather than decoding with the chunk dropped. */
    png_color palette[4] = {{10, 20, 30}, {40, 50, 60}, {70, 80, 90}, {100, 110, 120}};
    png_byte trns[4] = {0, 64, 128, 200};
    struct png_spec spec = {8, 4,   PNG_COLOR_TYPE_PALETTE, 2, PNG_INTERLACE_NONE, palette, 4, trns,
                            4, NULL};
    uint8_t row[2] = {0x1b, 0xe4};
    uint8_t *rows[4] = {row, row, row, row};
    struct ln_buf pal = {0};
    write_png(&pal, &spec, rows);
    struct ln_image img = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_image_decode(pal.data, pal.len, NULL, &img, &err), 0);
    assert_true(ln_image_alpha_is_meaningful(&img));
    ln_image_free(&img);
    uint8_t *trns_at = NULL;
    for (size_t i = 0; i + 4 <= pal.len && !trns_at; i++)
        if (memcmp(pal.data + i, "tRNS", 4) == 0)
            trns_at = pal.data + i;
    assert_non_null(trns_at);
    trns_at[5] ^= 0x40;
    expect_decode_fails(pal.data, pal.len, NULL, LN_EFORMAT);
    ln_buf_free(&pal);
}

static void test_png_huge_header_refused_without_allocating(void **state)
{
    struct ln_buf b = {0};
    make_png_header_only(&b, 100000, 100000);
    struct ln_image img = {0};
    struct ln_error err = {0};
    ln_alloc_fail_after(0);
    assert_int_equal(ln_image_decode(b.data, b.len, NULL, &img, &err), LN_ETOOBIG);
    assert_int_equal(ln_alloc_fail_after(0), 0);
    assert_null(img.data);
    assert_non_null(strstr(err.message, "100000x100000"));
    assert_non_null(strstr(err.message, "16384"));
    ln_buf_free(&b);

    /* Beyond libpng's own default cap of 1000000 per side: still our limit. */
    struct ln_buf c = {0};
    make_png_header_only(&c, 2000000, 10);
    expect_decode_fails(c.data, c.len, NULL, LN_ETOOBIG);
    ln_buf_free(&c);
}

/* 150 000 ancillary chunks (text, compressed text, an unknown private
 * chunk) between the header and the pixels: skipped, none stored, so the
 * file decodes in time linear in its bytes and keeps no memory for them. */
static void test_png_many_ancillary_chunks_are_cheap(void **state)
{
    (void)state;
    struct ln_buf png = {0}, many = {0};
    make_png_rgba(&png, 0);
    const size_t after_ihdr = 8 + 25;
    ln_buf_append(&many, png.data, after_ihdr);
    static const uint8_t text[] = {'k', 0, 'v'};
    static const uint8_t ztxt[] = {'k', 0, 0, 0x78, 0x9c, 0x03, 0, 0, 0, 0, 1};
    for (int i = 0; i < 50000; i++) {
        append_chunk(&many, "tEXt", text, sizeof text);
        append_chunk(&many, "zTXt", ztxt, sizeof ztxt);
        append_chunk(&many, "ruSt", text, sizeof text);
    }
    ln_buf_append(&many, png.data + after_ihdr, png.len - after_ihdr);
    struct ln_image img = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_image_decode(many.data, many.len, NULL, &img, &err), 0);
    assert_int_equal(img.width, 40);
    ln_image_free(&img);
    ln_buf_free(&many);
    ln_buf_free(&png);
}

static void test_png_zero_size_header(void **state)
{
    struct ln_buf b = {0};
    make_png_header_only(&b, 0, 10);
    expect_decode_fails(b.data, b.len, NULL, LN_EFORMAT);
    ln_buf_free(&b);
    struct ln_buf c = {0};
    make_png_header_only(&c, 10, 0);
    expect_decode_fails(c.data, c.len, NULL, LN_EFORMAT);
    ln_buf_free(&c);
}

static void test_png_round_trip_1_3_4_channels(void **state)
{
    const int w = 17, h = 9;
    for (int ch = 1; ch <= 4; ch++) {
        if (ch == 2)
            continue;
        struct ln_image src = {0};
        struct ln_error err = {0};
        assert_int_equal(ln_image_alloc(&src, w, h, ch, &err), 0);
        for (size_t i = 0; i < (size_t)w * h * ch; i++)
            src.data[i] = (uint8_t)(i * 7 + 3);
        struct ln_buf buf = {0};
        assert_int_equal(ln_image_encode_png(&src, &buf, &err), 0);
        assert_int_equal(ln_image_sniff(buf.data, buf.len), LN_IMAGE_FORMAT_PNG);
        struct ln_image out = {0};
        assert_int_equal(ln_image_decode(buf.data, buf.len, NULL, &out, &err), 0);
        assert_int_equal(out.width, w);
        assert_int_equal(out.height, h);
        assert_int_equal(out.channels, 4);
        for (int i = 0; i < w * h; i++) {
            const uint8_t *s = src.data + (size_t)i * ch;
            const uint8_t *d = out.data + (size_t)i * 4;
            uint8_t want[4] = {s[0], ch == 1 ? s[0] : s[1], ch == 1 ? s[0] : s[2],
                               ch == 4 ? s[3] : 255};
            assert_memory_equal(d, want, 4);
        }
        ln_image_free(&out);
        ln_buf_free(&buf);
        ln_image_free(&src);
    }
}

/* JPEG encoding: a smooth picture in 1, 3 and 4 channels decodes back to
 * the same size with a PSNR above 35 dB at quality 90 (alpha dropped, so
 * the decoded alpha is opaque); quality 100 is closer still; bad images
 * and qualities are refused and leave the buffer empty. */
static void test_jpeg_encode(void **state)
{
    (void)state;
    const int w = 96, h = 64;
    for (int ch = 1; ch <= 4; ch++) {
        if (ch == 2)
            continue;
        struct ln_image src = {0};
        struct ln_error err = {0};
        assert_int_equal(ln_image_alloc(&src, w, h, ch, &err), 0);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < ch; c++)
                    src.data[((size_t)y * w + x) * ch + c] =
                        (uint8_t)(c == 3 ? 100 : 128 + 100 * sin(0.05 * x + 0.08 * y + c));
        double mse[2];
        int qualities[2] = {90, 100};
        for (int q = 0; q < 2; q++) {
            struct ln_buf buf = {0};
            assert_int_equal(ln_image_encode_jpeg(&src, qualities[q], &buf, &err), 0);
            assert_int_equal(ln_image_sniff(buf.data, buf.len), LN_IMAGE_FORMAT_JPEG);
            struct ln_image out = {0};
            assert_int_equal(ln_image_decode(buf.data, buf.len, NULL, &out, &err), 0);
            assert_int_equal(out.width, w);
            assert_int_equal(out.height, h);
            double sum = 0.0;
            for (size_t i = 0; i < (size_t)w * h; i++)
                for (int c = 0; c < 3; c++) {
                    int want = src.data[i * (size_t)ch + (size_t)(ch == 1 ? 0 : c)];
                    double d = out.data[i * 4 + (size_t)c] - want;
                    sum += d * d;
                }
            for (size_t i = 0; i < (size_t)w * h; i++)
                assert_int_equal(out.data[i * 4 + 3], 255);
            mse[q] = sum / (3.0 * w * h);
            ln_image_free(&out);
            ln_buf_free(&buf);
        }
        double psnr = 10.0 * log10(255.0 * 255.0 / (mse[0] > 1e-12 ? mse[0] : 1e-12));
        if (psnr < 35.0)
            fail_msg("%d channels: PSNR %.1f dB at quality 90", ch, psnr);
        assert_true(mse[1] < mse[0]);
        ln_image_free(&src);
    }
    struct ln_error err = {0};
    struct ln_buf buf = {0};
    struct ln_image img = {0};
    assert_int_equal(ln_image_encode_jpeg(&img, 90, &buf, &err), LN_EINVAL);
    uint8_t px[12] = {0};
    img = (struct ln_image){2, 2, 3, px};
    assert_int_equal(ln_image_encode_jpeg(&img, 0, &buf, &err), LN_EINVAL);
    assert_int_equal(ln_image_encode_jpeg(&img, 101, &buf, &err), LN_EINVAL);
    img.channels = 2;
    assert_int_equal(ln_image_encode_jpeg(&img, 90, &buf, &err), LN_EINVAL);
    assert_int_equal(buf.len, 0);
    ln_buf_free(&buf);
}

static void test_png_encode_rejects_bad_images(void **state)
{
    struct ln_error err = {0};
    struct ln_buf buf = {0};
    struct ln_image img = {0};
    assert_int_equal(ln_image_encode_png(&img, &buf, &err), LN_EINVAL);
    uint8_t px[8] = {0};
    img = (struct ln_image){2, 2, 2, px};
    assert_int_equal(ln_image_encode_png(&img, &buf, &err), LN_EINVAL);
    assert_int_equal(buf.len, 0);
    ln_buf_free(&buf);
}

static void test_png_save_and_load(void **state)
{
    const char *dir = ln_test_tmpdir("png_save_and_load");
    char *path = ln_test_path(dir, "out.png");
    struct ln_image src = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_image_alloc(&src, 5, 4, 4, &err), 0);
    for (int i = 0; i < 5 * 4 * 4; i++)
        src.data[i] = (uint8_t)(i * 11);
    assert_int_equal(ln_image_save_png(&src, path, &err), 0);
    struct ln_image back = {0};
    assert_int_equal(ln_image_load(path, NULL, &back, &err), 0);
    assert_int_equal(back.width, 5);
    assert_int_equal(back.height, 4);
    assert_memory_equal(back.data, src.data, 5 * 4 * 4);
    ln_image_free(&back);
    ln_image_free(&src);
    free(path);
}

/* ---- tests: JPEG ----------------------------------------------------------- */

static void test_jpeg_rgb_within_tolerance(void **state)
{
    enum { W = 40, H = 24 };
    uint8_t px[W * H * 3];
    gradient_rgb(px, W, H);
    struct jpeg_out j;
    write_jpeg(&j, px, W, H, 3, JCS_RGB, JCS_UNKNOWN, 95, NULL, 0);
    assert_int_equal(ln_image_sniff(j.data, j.len), LN_IMAGE_FORMAT_JPEG);
    struct ln_image img = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_image_decode(j.data, j.len, NULL, &img, &err), 0);
    assert_int_equal(img.width, W);
    assert_int_equal(img.height, H);
    assert_int_equal(img.channels, 4);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const uint8_t *s = px + ((size_t)y * W + x) * 3;
            uint8_t want[4] = {s[0], s[1], s[2], 255};
            assert_rgba_near(&img, x, y, want, 8);
        }
    assert_false(ln_image_alpha_is_meaningful(&img));
    ln_image_free(&img);
    free(j.data);
}

static void test_jpeg_grey_becomes_rgba(void **state)
{
    enum { W = 24, H = 16 };
    uint8_t px[W * H];
    for (int i = 0; i < W * H; i++)
        px[i] = (uint8_t)(20 + (i % W) * 8);
    struct jpeg_out j;
    write_jpeg(&j, px, W, H, 1, JCS_GRAYSCALE, JCS_UNKNOWN, 95, NULL, 0);
    struct ln_image img = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_image_decode(j.data, j.len, NULL, &img, &err), 0);
    assert_int_equal(img.channels, 4);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t g = px[y * W + x];
            uint8_t want[4] = {g, g, g, 255};
            assert_rgba_near(&img, x, y, want, 6);
            uint8_t got[4];
            rgba_at(&img, x, y, got);
            assert_int_equal(got[0], got[1]);
            assert_int_equal(got[1], got[2]);
        }
    ln_image_free(&img);
    free(j.data);
}

/* CMYK as Adobe stores it (inverted: 255 = no ink), written both as YCCK
 * (libjpeg's default for CMYK input) and as plain CMYK. */
static void test_jpeg_cmyk_and_ycck_become_rgba(void **state)
{
    enum { W = 16, H = 16 };
    uint8_t px[W * H * 4];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = px + ((size_t)y * W + x) * 4;
            int left = x < W / 2;
            /* left: pure red, no black; right: grey from 50% black. */
            p[0] = left ? 255 : 255;
            p[1] = left ? 0 : 255;
            p[2] = left ? 0 : 255;
            p[3] = left ? 255 : 128;
        }
    J_COLOR_SPACE spaces[2] = {JCS_UNKNOWN, JCS_CMYK};
    for (int s = 0; s < 2; s++) {
        struct jpeg_out j;
        write_jpeg(&j, px, W, H, 4, JCS_CMYK, spaces[s], 95, NULL, 0);
        struct ln_image img = {0};
        struct ln_error err = {0};
        int rc = ln_image_decode(j.data, j.len, NULL, &img, &err);
        if (rc != 0)
            fail_msg("%s", err.message);
        const uint8_t red[4] = {255, 0, 0, 255};
        const uint8_t grey[4] = {128, 128, 128, 255};
        assert_rgba_near(&img, 3, 8, red, 8);
        assert_rgba_near(&img, 12, 8, grey, 8);
        ln_image_free(&img);
        free(j.data);
    }
}

static void test_jpeg_exif_orientations(void **state)
{
    /* Where each source quadrant lands for orientations 1..8 (EXIF 2.3,
     * tag 0x0112): output top-left, top-right, bottom-left, bottom-right. */
    static const int expect[9][4] = {
        {0},
        {TL, TR, BL, BR}, /* 1 normal */
        {TR, TL, BR, BL}, /* 2 mirror left-right */
        {BR, BL, TR, TL}, /* 3 rotate 180 */
        {BL, BR, TL, TR}, /* 4 mirror top-bottom */
        {TL, BL, TR, BR}, /* 5 transpose */
        {BL, TL, BR, TR}, /* 6 rotate 90 clockwise */
        {BR, TR, BL, TL}, /* 7 transverse */
        {TR, BR, TL, BL}, /* 8 rotate 90 counter-clockwise */
    };
    for (int o = 1; o <= 8; o++) {
        for (int be = 0; be < 2; be++) {
            uint8_t exif[32];
            size_t n = make_exif(exif, o, be);
            struct jpeg_out j;
            make_quadrant_jpeg(&j, exif, n);
            struct ln_image img = {0};
            struct ln_error err = {0};
            int rc = ln_image_decode(j.data, j.len, NULL, &img, &err);
            if (rc != 0)
                fail_msg("orientation %d: %s", o, err.message);
            int swap = o >= 5;
            check_quadrants(&img, swap ? QH : QW, swap ? QW : QH, expect[o][0], expect[o][1],
                            expect[o][2], expect[o][3]);
            ln_image_free(&img);
            free(j.data);
        }
    }

    /* The same through libexif's own writer. */
    uint8_t *exif = NULL;
    size_t n = make_exif_libexif(&exif, 6);
    struct jpeg_out j;
    make_quadrant_jpeg(&j, exif, n);
    free(exif);
    struct ln_image img = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_image_decode(j.data, j.len, NULL, &img, &err), 0);
    check_quadrants(&img, QH, QW, BL, TL, BR, TR);
    ln_image_free(&img);
    free(j.data);
}

static void test_jpeg_no_or_bad_exif_is_upright(void **state)
{
    struct ln_image img = {0};
    struct ln_error err = {0};
    struct jpeg_out j;
    make_quadrant_jpeg(&j, NULL, 0);
    assert_int_equal(ln_image_decode(j.data, j.len, NULL, &img, &err), 0);
    check_quadrants(&img, QW, QH, TL, TR, BL, BR);
    ln_image_free(&img);
    free(j.data);

    /* Orientation 9 does not exist; an APP1 that is not EXIF is ignored;
     * a cut EXIF block is not an error either. */
    uint8_t exif[32];
    size_t n = make_exif(exif, 9, 0);
    const uint8_t xmp[] = "http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>";
    const uint8_t *app1[3] = {exif, xmp, exif};
    size_t app1_len[3] = {n, sizeof xmp, 14};
    for (int i = 0; i < 3; i++) {
        make_quadrant_jpeg(&j, app1[i], app1_len[i]);
        assert_int_equal(ln_image_decode(j.data, j.len, NULL, &img, &err), 0);
        check_quadrants(&img, QW, QH, TL, TR, BL, BR);
        ln_image_free(&img);
        free(j.data);
    }
}

static void test_jpeg_truncated_fails(void **state)
{
    enum { W = 40, H = 24 };
    uint8_t px[W * H * 3];
    gradient_rgb(px, W, H);
    uint8_t exif[32];
    size_t n = make_exif(exif, 6, 0);
    struct jpeg_out j;
    write_jpeg(&j, px, W, H, 3, JCS_RGB, JCS_UNKNOWN, 95, exif, n);
    size_t len = j.len;
    /* In the markers, in the tables, in the scan, and without EOI. */
    size_t cuts[] = {2, 4, 20, 60, 200, len / 2, len * 3 / 4, len - 2, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        expect_decode_fails(j.data, cuts[i], NULL, LN_EFORMAT);

    struct ln_image img = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_image_decode(j.data, len / 2, NULL, &img, &err), LN_EFORMAT);
    assert_non_null(strstr(err.message, "truncated or corrupt JPEG"));

    /* Cut in the scan with an end marker stuck on: the scan stops short
     * at a marker instead of at the end of the data. */
    size_t marker_cuts[] = {len / 2, len * 3 / 4, len * 7 / 8, len - 12};
    for (size_t i = 0; i < sizeof marker_cuts / sizeof marker_cuts[0]; i++) {
        size_t cut = marker_cuts[i];
        uint8_t *patched = malloc(cut + 2);
        assert_non_null(patched);
        memcpy(patched, j.data, cut);
        patched[cut] = 0xff;
        patched[cut + 1] = 0xd9;
        expect_decode_fails(patched, cut + 2, NULL, LN_EFORMAT);
        free(patched);
    }
    free(j.data);
}

static void test_jpeg_corrupt_does_not_crash(void **state)
{
    enum { W = 40, H = 24 };
    uint8_t px[W * H * 3];
    gradient_rgb(px, W, H);
    struct jpeg_out j;
    write_jpeg(&j, px, W, H, 3, JCS_RGB, JCS_UNKNOWN, 95, NULL, 0);
    /* Entropy-coded data has no checksum: damage there may decode to wrong
     * pixels, which is acceptable; anything else must be a clean error. */
    for (size_t at = 2; at < j.len; at += 7) {
        uint8_t *bad = malloc(j.len);
        assert_non_null(bad);
        memcpy(bad, j.data, j.len);
        bad[at] ^= 0xff;
        if (at + 1 < j.len)
            bad[at + 1] ^= 0x33;
        struct ln_image img = {0};
        struct ln_error err = {0};
        int rc = ln_image_decode(bad, j.len, &small_limits, &img, &err);
        if (rc == 0) {
            assert_non_null(img.data);
            assert_int_equal(img.channels, 4);
        } else {
            assert_true(rc == LN_EFORMAT || rc == LN_ETOOBIG);
            assert_null(img.data);
        }
        ln_image_free(&img);
        free(bad);
    }
    free(j.data);
}

/* A valid progressive JPEG of 1024x1024 pixels with 10 000 scans (124 KB):
 * libjpeg without limits takes about 6.5 s of CPU on it (16 384 blocks
 * walked per scan). The limit on blocks visited (16 times the frame's, at
 * least 2^20) stops it at scan 65, in about 40 ms; the same picture at
 * 256x256 is stopped by the scan limit at scan 501, and a lower
 * max_jpeg_scans stops it earlier. Ordinary progressive files and one with
 * exactly the limit's scans decode. The refusals' messages name the bound
 * that stopped the work; the time taken is not asserted (it depends on the
 * machine, and an emulated one is many times slower). */
static void test_jpeg_too_many_scans_refused_quickly(void **state)
{
    (void)state;
    uint8_t *data = NULL;
    size_t len = 0;
    struct ln_image img = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_synth_jpeg_scans(1024, 10000, &data, &len), 0);
    assert_int_equal(ln_image_decode(data, len, NULL, &img, &err), LN_EUNUSABLE);
    assert_null(img.data);
    assert_non_null(strstr(err.message, "JPEG scans visit 1064960 blocks, above the limit of "
                                        "1048576: too much work to decode"));
    assert_int_equal(ln_status_http(err.code), 422);
    assert_true(ln_status_is_input_error(err.code));
    free(data);

    assert_int_equal(ln_synth_jpeg_scans(256, 10000, &data, &len), 0);
    assert_int_equal(ln_image_decode(data, len, NULL, &img, &err), LN_EUNUSABLE);
    assert_string_equal(err.message, "JPEG has more than 500 scans: too much work to decode");
    assert_null(img.data);
    struct ln_image_limits lim = ln_image_limits_default();
    lim.max_jpeg_scans = 20;
    assert_int_equal(ln_image_decode(data, len, &lim, &img, &err), LN_EUNUSABLE);
    assert_non_null(strstr(err.message, "more than 20 scans"));
    free(data);

    assert_int_equal(ln_synth_jpeg_scans(1024, 10, &data, &len), 0);
    assert_int_equal(ln_image_decode(data, len, NULL, &img, &err), 0);
    assert_int_equal(img.width, 1024);
    ln_image_free(&img);
    free(data);
    assert_int_equal(ln_synth_jpeg_scans(64, LN_IMAGE_DEFAULT_MAX_JPEG_SCANS, &data, &len), 0);
    assert_int_equal(ln_image_decode(data, len, NULL, &img, &err), 0);
    ln_image_free(&img);
    free(data);
    assert_int_equal(ln_synth_jpeg_scans(64, LN_IMAGE_DEFAULT_MAX_JPEG_SCANS + 1, &data, &len), 0);
    assert_int_equal(ln_image_decode(data, len, NULL, &img, &err), LN_EUNUSABLE);
    free(data);
}

/* Ordinary progressive photos of 3072x2048 pixels (libjpeg's standard
 * script, 10 scans: each block visited about 4.7 times at 4:4:4, 1.4
 * million blocks in all, and 5.3 times at 4:2:0) stay well inside the
 * work limit, here 16 times the frame's blocks rather than the 2^20
 * minimum, and decode. */
static void test_jpeg_ordinary_progressive_decodes(void **state)
{
    (void)state;
    const int w = 3072, h = 2048;
    uint8_t *px = malloc((size_t)w * h * 3);
    assert_non_null(px);
    for (size_t i = 0; i < (size_t)w * h * 3; i++)
        px[i] = (uint8_t)((i * 2654435761u) >> 24); /* noise: every block coded */
    for (int sub = 1; sub <= 2; sub++) {
        struct jpeg_compress_struct c;
        struct jpeg_error_mgr jerr;
        unsigned char *data = NULL;
        unsigned long len = 0;
        c.err = jpeg_std_error(&jerr);
        jpeg_create_compress(&c);
        jpeg_mem_dest(&c, &data, &len);
        c.image_width = (JDIMENSION)w;
        c.image_height = (JDIMENSION)h;
        c.input_components = 3;
        c.in_color_space = JCS_RGB;
        jpeg_set_defaults(&c);
        c.comp_info[0].h_samp_factor = c.comp_info[0].v_samp_factor = sub;
        jpeg_simple_progression(&c);
        jpeg_start_compress(&c, TRUE);
        while (c.next_scanline < c.image_height) {
            JSAMPROW row = px + (size_t)c.next_scanline * (size_t)w * 3;
            jpeg_write_scanlines(&c, &row, 1);
        }
        jpeg_finish_compress(&c);
        jpeg_destroy_compress(&c);
        struct ln_image img = {0};
        struct ln_error err = {0};
        assert_int_equal(ln_image_decode(data, len, NULL, &img, &err), 0);
        assert_int_equal(img.width, w);
        assert_int_equal(img.height, h);
        ln_image_free(&img);
        free(data);
    }
    free(px);
}

static void test_jpeg_huge_header_refused(void **state)
{
    struct jpeg_out j;
    make_quadrant_jpeg(&j, NULL, 0);
    /* Patch the SOF0 frame size to 60000 x 50000. */
    size_t sof = 0;
    for (size_t i = 2; i + 9 < j.len; i++)
        if (j.data[i] == 0xff && j.data[i + 1] == 0xc0) {
            sof = i;
            break;
        }
    assert_true(sof > 0);
    j.data[sof + 5] = 50000 >> 8;
    j.data[sof + 6] = 50000 & 0xff;
    j.data[sof + 7] = 60000 >> 8;
    j.data[sof + 8] = 60000 & 0xff;
    ln_alloc_fail_after(0);
    struct ln_image img = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_image_decode(j.data, j.len, NULL, &img, &err), LN_ETOOBIG);
    assert_int_equal(ln_alloc_fail_after(0), 0);
    assert_non_null(strstr(err.message, "60000x50000"));
    free(j.data);
}

/* ---- tests: WebP ----------------------------------------------------------- */

static void test_webp_lossless_exact(void **state)
{
    enum { W = 21, H = 13 };
    uint8_t px[W * H * 4];
    gradient_rgba(px, W, H, 1);
    uint8_t *webp = NULL;
    size_t n = make_webp(&webp, px, W, H, 1);
    assert_int_equal(ln_image_sniff(webp, n), LN_IMAGE_FORMAT_WEBP);
    struct ln_image img = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_image_decode(webp, n, NULL, &img, &err), 0);
    assert_int_equal(img.width, W);
    assert_int_equal(img.height, H);
    assert_int_equal(img.channels, 4);
    assert_memory_equal(img.data, px, sizeof px);
    assert_true(ln_image_alpha_is_meaningful(&img));
    ln_image_free(&img);
    WebPFree(webp);
}

static void test_webp_lossy_within_tolerance(void **state)
{
    enum { W = 40, H = 24 };
    uint8_t px[W * H * 4];
    gradient_rgba(px, W, H, 0);
    uint8_t *webp = NULL;
    size_t n = make_webp(&webp, px, W, H, 0);
    struct ln_image img = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_image_decode(webp, n, NULL, &img, &err), 0);
    assert_int_equal(img.width, W);
    assert_int_equal(img.height, H);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            assert_rgba_near(&img, x, y, px + ((size_t)y * W + x) * 4, 16);
    assert_false(ln_image_alpha_is_meaningful(&img));
    ln_image_free(&img);
    WebPFree(webp);
}

static void test_webp_truncated_and_corrupt(void **state)
{
    enum { W = 40, H = 24 };
    uint8_t px[W * H * 4];
    gradient_rgba(px, W, H, 1);
    for (int lossless = 0; lossless < 2; lossless++) {
        uint8_t *webp = NULL;
        size_t n = make_webp(&webp, px, W, H, lossless);
        size_t cuts[] = {4, 11, 12, 16, 20, 30, n / 2, n - 10, n - 1};
        for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
            expect_decode_fails(webp, cuts[i], NULL, LN_EFORMAT);

        for (size_t at = 12; at < n; at += 5) {
            uint8_t *bad = malloc(n);
            assert_non_null(bad);
            memcpy(bad, webp, n);
            bad[at] ^= 0xa5;
            struct ln_image img = {0};
            struct ln_error err = {0};
            int rc = ln_image_decode(bad, n, &small_limits, &img, &err);
            if (rc == 0) {
                assert_non_null(img.data);
            } else {
                assert_true(rc == LN_EFORMAT || rc == LN_ETOOBIG);
                assert_null(img.data);
            }
            ln_image_free(&img);
            free(bad);
        }
        WebPFree(webp);
    }
}

static void test_webp_animated_refused(void **state)
{
    /* RIFF, VP8X with the animation flag and a 10x10 canvas, ANIM. */
    uint8_t b[12 + 18 + 14] = {0};
    memcpy(b, "RIFF", 4);
    b[4] = sizeof b - 8;
    memcpy(b + 8, "WEBP", 4);
    memcpy(b + 12, "VP8X", 4);
    b[16] = 10;
    b[20] = 0x02; /* animation */
    b[24] = 9;    /* canvas width - 1 */
    b[27] = 9;    /* canvas height - 1 */
    memcpy(b + 30, "ANIM", 4);
    b[34] = 6;
    struct ln_image img = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_image_decode(b, sizeof b, NULL, &img, &err), LN_EFORMAT);
    assert_non_null(strstr(err.message, "animated WebP"));
    assert_null(img.data);
}

/* ---- tests: front end ------------------------------------------------------ */

static void test_empty_unknown_and_text(void **state)
{
    struct ln_image img = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_image_decode(NULL, 0, NULL, &img, &err), LN_EFORMAT);
    assert_string_equal(err.message, "empty file");
    const uint8_t one = 0;
    assert_int_equal(ln_image_decode(&one, 0, NULL, &img, &err), LN_EFORMAT);
    assert_string_equal(err.message, "empty file");

    const char *text = "solid cube\nfacet normal 0 0 1\n";
    assert_int_equal(ln_image_decode((const uint8_t *)text, strlen(text), NULL, &img, &err),
                     LN_EFORMAT);
    assert_string_equal(err.message, "not a PNG, JPEG or WebP image");
    assert_null(img.data);
    const uint8_t gif[] = "GIF89a\x01\x00\x01\x00";
    expect_decode_fails(gif, sizeof gif - 1, NULL, LN_EFORMAT);
    const uint8_t riff_avi[] = "RIFF\x10\x00\x00\x00"
                               "AVI LIST";
    expect_decode_fails(riff_avi, sizeof riff_avi - 1, NULL, LN_EFORMAT);
    const uint8_t png_start[] = {0x89, 'P', 'N'};
    expect_decode_fails(png_start, sizeof png_start, NULL, LN_EFORMAT);
}

static void test_sniff_and_names(void **state)
{
    const uint8_t png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const uint8_t jpg[3] = {0xff, 0xd8, 0xff};
    const uint8_t webp[12] = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P'};
    assert_int_equal(ln_image_sniff(png, 8), LN_IMAGE_FORMAT_PNG);
    assert_int_equal(ln_image_sniff(png, 7), LN_IMAGE_FORMAT_UNKNOWN);
    assert_int_equal(ln_image_sniff(jpg, 3), LN_IMAGE_FORMAT_JPEG);
    assert_int_equal(ln_image_sniff(jpg, 2), LN_IMAGE_FORMAT_UNKNOWN);
    assert_int_equal(ln_image_sniff(webp, 12), LN_IMAGE_FORMAT_WEBP);
    assert_int_equal(ln_image_sniff(webp, 11), LN_IMAGE_FORMAT_UNKNOWN);
    assert_int_equal(ln_image_sniff(NULL, 0), LN_IMAGE_FORMAT_UNKNOWN);
    assert_string_equal(ln_image_format_name(LN_IMAGE_FORMAT_PNG), "PNG");
    assert_string_equal(ln_image_format_name(LN_IMAGE_FORMAT_JPEG), "JPEG");
    assert_string_equal(ln_image_format_name(LN_IMAGE_FORMAT_WEBP), "WebP");
    assert_string_equal(ln_image_format_name(LN_IMAGE_FORMAT_UNKNOWN), "unknown");
    struct ln_image_limits lim = ln_image_limits_default();
    assert_int_equal(lim.max_bytes, LN_IMAGE_DEFAULT_MAX_BYTES);
    assert_int_equal(lim.max_side, LN_IMAGE_DEFAULT_MAX_SIDE);
    assert_int_equal(lim.max_pixels, LN_IMAGE_DEFAULT_MAX_PIXELS);
    assert_int_equal(lim.max_jpeg_scans, LN_IMAGE_DEFAULT_MAX_JPEG_SCANS);
}

static void test_custom_limits_refuse(void **state)
{
    /* The same 32x16 picture in all three formats. */
    uint8_t rgb[QW * QH * 3];
    uint8_t rgba[QW * QH * 4];
    quadrant_rgb(rgb);
    for (int i = 0; i < QW * QH; i++) {
        memcpy(rgba + i * 4, rgb + i * 3, 3);
        rgba[i * 4 + 3] = 255;
    }
    struct ln_image src = {QW, QH, 4, rgba};
    struct ln_buf png = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_image_encode_png(&src, &png, &err), 0);
    struct jpeg_out j;
    make_quadrant_jpeg(&j, NULL, 0);
    uint8_t *webp = NULL;
    size_t webp_len = make_webp(&webp, rgba, QW, QH, 1);

    const uint8_t *files[3] = {png.data, j.data, webp};
    size_t lens[3] = {png.len, j.len, webp_len};
    struct ln_image_limits side = {LN_IMAGE_DEFAULT_MAX_BYTES, 16, 1000000, 0};
    struct ln_image_limits pixels = {LN_IMAGE_DEFAULT_MAX_BYTES, 100, 300, 0};
    struct ln_image_limits fits = {LN_IMAGE_DEFAULT_MAX_BYTES, 32, 512, 0};
    for (int f = 0; f < 3; f++) {
        struct ln_image img = {0};
        assert_int_equal(ln_image_decode(files[f], lens[f], &side, &img, &err), LN_ETOOBIG);
        assert_non_null(strstr(err.message, "32x16"));
        assert_non_null(strstr(err.message, "16 pixels per side"));
        assert_null(img.data);
        assert_int_equal(ln_image_decode(files[f], lens[f], &pixels, &img, &err), LN_ETOOBIG);
        assert_non_null(strstr(err.message, "512 pixels"));
        assert_non_null(strstr(err.message, "300"));
        assert_int_equal(ln_image_decode(files[f], lens[f], &fits, &img, &err), 0);
        ln_image_free(&img);
    }

    /* max_bytes applies to the bytes given and to the file read. */
    struct ln_image_limits few_bytes = {png.len - 1, 100, 100000, 0};
    struct ln_image small = {0};
    assert_int_equal(ln_image_decode(png.data, png.len, &few_bytes, &small, &err), LN_ETOOBIG);
    assert_null(small.data);

    const char *dir = ln_test_tmpdir("custom_limits_refuse");
    char *path = ln_test_path(dir, "big.png");
    assert_int_equal(ln_file_write_atomic(path, png.data, png.len, &err), 0);
    struct ln_image_limits bytes = {png.len - 1, 100, 100000, 0};
    struct ln_image img = {0};
    assert_int_equal(ln_image_load(path, &bytes, &img, &err), LN_ETOOBIG);
    assert_null(img.data);
    bytes.max_bytes = png.len;
    assert_int_equal(ln_image_load(path, &bytes, &img, &err), 0);
    ln_image_free(&img);

    free(path);
    WebPFree(webp);
    free(j.data);
    ln_buf_free(&png);
}

static void test_load_ignores_the_name(void **state)
{
    const char *dir = ln_test_tmpdir("load_ignores_the_name");
    struct ln_buf png = {0};
    make_png_rgba(&png, PNG_INTERLACE_NONE);
    struct ln_error err = {0};
    char *jpg_path = ln_test_path(dir, "photo.jpg");
    assert_int_equal(ln_file_write_atomic(jpg_path, png.data, png.len, &err), 0);
    struct ln_image img = {0};
    assert_int_equal(ln_image_load(jpg_path, NULL, &img, &err), 0);
    assert_int_equal(img.width, 40);
    assert_int_equal(img.height, 30);
    ln_image_free(&img);

    /* A text file named .png fails, and the message starts with its path. */
    char *txt_path = ln_test_path(dir, "notes.png");
    const char *text = "not an image at all\n";
    assert_int_equal(ln_file_write_atomic(txt_path, text, strlen(text), &err), 0);
    assert_int_equal(ln_image_load(txt_path, NULL, &img, &err), LN_EFORMAT);
    assert_int_equal(strncmp(err.message, txt_path, strlen(txt_path)), 0);
    assert_non_null(strstr(err.message, "not a PNG, JPEG or WebP image"));
    assert_null(img.data);

    /* An empty file. */
    char *empty_path = ln_test_path(dir, "empty.webp");
    assert_int_equal(ln_file_write_atomic(empty_path, "", 0, &err), 0);
    assert_int_equal(ln_image_load(empty_path, NULL, &img, &err), LN_EFORMAT);
    assert_non_null(strstr(err.message, "empty file"));

    char *missing = ln_test_path(dir, "missing.png");
    assert_int_equal(ln_image_load(missing, NULL, &img, &err), LN_ENOTFOUND);
    assert_null(img.data);

    free(missing);
    free(empty_path);
    free(txt_path);
    free(jpg_path);
    ln_buf_free(&png);
}

static void test_alloc_and_alpha(void **state)
{
    struct ln_image img = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_image_alloc(&img, 0, 5, 4, &err), LN_EINVAL);
    assert_int_equal(ln_image_alloc(&img, 5, 5, 2, &err), LN_EINVAL);
    assert_int_equal(ln_image_alloc(&img, 3, 2, 4, &err), 0);
    assert_true(ln_image_alpha_is_meaningful(&img)); /* zeroed: alpha 0 */
    ln_image_free(&img);
    assert_int_equal(ln_image_alloc(&img, 3, 2, 4, &err), 0);
    memset(img.data, 255, 3 * 2 * 4);
    assert_false(ln_image_alpha_is_meaningful(&img));
    img.data[4 * 4 + 3] = 254;
    assert_true(ln_image_alpha_is_meaningful(&img));
    ln_image_free(&img);
    assert_null(img.data);
    ln_image_free(&img); /* twice is harmless */
    assert_int_equal(ln_image_alloc(&img, 3, 2, 3, &err), 0);
    assert_false(ln_image_alpha_is_meaningful(&img));
    ln_image_free(&img);
    assert_false(ln_image_alpha_is_meaningful(NULL));
}

/* Fails each large allocation of a decode in turn: every one must end in
 * LN_ENOMEM with nothing left allocated (ASan reports leaks). */
static void check_fault_injection(const uint8_t *data, size_t len, const char *what)
{
    struct ln_image img = {0};
    struct ln_error err = {0};
    ln_alloc_fail_after(0);
    assert_int_equal(ln_image_decode(data, len, NULL, &img, &err), 0);
    ln_image_free(&img);
    long n_allocs = ln_alloc_fail_after(0);
    assert_true(n_allocs >= 1);
    for (long n = 1; n <= n_allocs; n++) {
        ln_alloc_fail_after(n);
        int rc = ln_image_decode(data, len, NULL, &img, &err);
        ln_alloc_fail_after(0);
        if (rc != LN_ENOMEM)
            fail_msg("%s: failing allocation %ld of %ld gave %s (%s)", what, n, n_allocs,
                     ln_status_name(rc), err.message);
        assert_null(img.data);
    }
}

static void test_out_of_memory_fails_cleanly(void **state)
{
    struct ln_buf png = {0};
    make_png_rgba(&png, PNG_INTERLACE_ADAM7);
    check_fault_injection(png.data, png.len, "PNG");

    uint8_t exif[32];
    size_t n = make_exif(exif, 6, 1);
    struct jpeg_out j;
    make_quadrant_jpeg(&j, exif, n);
    check_fault_injection(j.data, j.len, "JPEG rotated");
    free(j.data);

    uint8_t cmyk[16 * 8 * 4];
    memset(cmyk, 200, sizeof cmyk);
    write_jpeg(&j, cmyk, 16, 8, 4, JCS_CMYK, JCS_UNKNOWN, 90, NULL, 0);
    check_fault_injection(j.data, j.len, "JPEG CMYK");
    free(j.data);

    uint8_t px[21 * 13 * 4];
    gradient_rgba(px, 21, 13, 1);
    uint8_t *webp = NULL;
    size_t webp_len = make_webp(&webp, px, 21, 13, 1);
    check_fault_injection(webp, webp_len, "WebP");
    WebPFree(webp);

    /* Encoding into a growing buffer fails cleanly too. */
    struct ln_image img = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_image_decode(png.data, png.len, NULL, &img, &err), 0);
    ln_alloc_fail_after(0);
    struct ln_buf out = {0};
    assert_int_equal(ln_image_encode_png(&img, &out, &err), 0);
    ln_buf_free(&out);
    long n_allocs = ln_alloc_fail_after(0);
    for (long k = 1; k <= n_allocs; k++) {
        struct ln_buf b = {0};
        ln_alloc_fail_after(k);
        int rc = ln_image_encode_png(&img, &b, &err);
        ln_alloc_fail_after(0);
        assert_int_equal(rc, LN_ENOMEM);
        ln_buf_free(&b);
    }
    ln_image_free(&img);
    ln_buf_free(&png);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_every_colour_type_and_depth),
        cmocka_unit_test(test_png_truncated_fails),
        cmocka_unit_test(test_png_corrupt_fails),
        cmocka_unit_test(test_png_huge_header_refused_without_allocating),
        cmocka_unit_test(test_png_zero_size_header),
        cmocka_unit_test(test_png_many_ancillary_chunks_are_cheap),
        cmocka_unit_test(test_png_round_trip_1_3_4_channels),
        cmocka_unit_test(test_png_encode_rejects_bad_images),
        cmocka_unit_test(test_png_save_and_load),
        cmocka_unit_test(test_jpeg_rgb_within_tolerance),
        cmocka_unit_test(test_jpeg_grey_becomes_rgba),
        cmocka_unit_test(test_jpeg_cmyk_and_ycck_become_rgba),
        cmocka_unit_test(test_jpeg_exif_orientations),
        cmocka_unit_test(test_jpeg_no_or_bad_exif_is_upright),
        cmocka_unit_test(test_jpeg_truncated_fails),
        cmocka_unit_test(test_jpeg_corrupt_does_not_crash),
        cmocka_unit_test(test_jpeg_huge_header_refused),
        cmocka_unit_test(test_jpeg_too_many_scans_refused_quickly),
        cmocka_unit_test(test_jpeg_ordinary_progressive_decodes),
        cmocka_unit_test(test_webp_lossless_exact),
        cmocka_unit_test(test_webp_lossy_within_tolerance),
        cmocka_unit_test(test_webp_truncated_and_corrupt),
        cmocka_unit_test(test_webp_animated_refused),
        cmocka_unit_test(test_empty_unknown_and_text),
        cmocka_unit_test(test_sniff_and_names),
        cmocka_unit_test(test_custom_limits_refuse),
        cmocka_unit_test(test_load_ignores_the_name),
        cmocka_unit_test(test_alloc_and_alpha),
        cmocka_unit_test(test_jpeg_encode),
        cmocka_unit_test(test_out_of_memory_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
