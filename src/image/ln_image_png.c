/*
 * PNG decoding and encoding with libpng. Every colour type and bit depth is
 * turned into 8-bit RGBA by libpng's own transforms (expand, scale_16,
 * gray_to_rgb, add_alpha), so no pixel conversion is written here.
 *
 * libpng reports errors by longjmp. Each setjmp sits in a small function
 * whose caller owns every resource in a context struct, so nothing that
 * needs freeing lives in a local of the frame that setjmp returns to twice
 * (C11 7.13.2.1: such locals would be indeterminate).
 */
#include "ln_image.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ln_alloc.h"
#include "ln_file.h"

struct ln__png_read {
    const uint8_t *data;
    size_t len;
    size_t pos;
    const struct ln_image_limits *lim;
    struct ln_image *out;
    struct ln_error *err;
    png_structp png;
    png_infop info;
    png_bytep *rows;
    char msg[160];
};

struct ln__png_write {
    struct ln_buf *out;
    const struct ln_image *img;
    struct ln_error *err;
    png_structp png;
    png_infop info;
    int oom;
    int fast; /* the Up filter and run-length coding (ln_image_encode_png_fast) */
    char msg[160];
};

/* Chunks whose content never affects the pixels we produce; skipping them
 * (their CRC is still checked) keeps the zlib text and ICC parsers out of
 * reach of untrusted input. Each name takes 5 bytes, NUL included. */
static const png_byte ln__png_skipped[] = "iCCP\0iTXt\0tEXt\0zTXt\0sPLT\0eXIf";

static void ln__png_error_fn(png_structp png, png_const_charp msg)
{
    struct ln__png_read *ctx = png_get_error_ptr(png);
    snprintf(ctx->msg, sizeof ctx->msg, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

static void ln__png_write_error_fn(png_structp png, png_const_charp msg)
{
    struct ln__png_write *ctx = png_get_error_ptr(png);
    snprintf(ctx->msg, sizeof ctx->msg, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

/* Warnings (unknown sRGB profiles, bad ancillary CRCs) leave the pixels
 * intact; they are not worth a line per uploaded image. */
static void ln__png_warning_fn(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void ln__png_read_fn(png_structp png, png_bytep buf, size_t n)
{
    struct ln__png_read *ctx = png_get_io_ptr(png);
    if (n > ctx->len - ctx->pos)
        png_error(png, "unexpected end of file");
    memcpy(buf, ctx->data + ctx->pos, n);
    ctx->pos += n;
}

static int ln__png_read_run(struct ln__png_read *ctx)
{
    png_structp png = ctx->png;
    png_infop info = ctx->info;
    if (setjmp(png_jmpbuf(png)))
        return ln_error_set(ctx->err, LN_EFORMAT, "truncated or corrupt PNG: %s", ctx->msg);

    /* Our limits decide what is too big, with their own error code, so
     * libpng's default caps (1000000 per side) must not answer first. */
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    /* The work of a PNG is bounded by its bytes and its pixels: the
     * chunks below are skipped unparsed, unknown ones never kept, and no
     * chunk but IDAT (which libpng streams) may need more than 8 MB; at
     * most 128 ancillary chunks are stored, whatever libpng's build says. */
    png_set_chunk_cache_max(png, 128);
    png_set_chunk_malloc_max(png, 8000000);
    /* A CRC error fails the image even in an ancillary chunk: libpng would
     * otherwise drop, say, a damaged tRNS and decode with the wrong alpha. */
    png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, 0);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, ln__png_skipped,
                                (int)(sizeof ln__png_skipped / 5));
    png_read_info(png, info);

    png_uint_32 width = png_get_image_width(png, info);
    png_uint_32 height = png_get_image_height(png, info);
    int rc = ln__image_check_size("PNG", width, height, ctx->lim, ctx->err);
    if (rc < 0)
        return rc;

    int color = png_get_color_type(png, info);
    png_set_expand(png);
    png_set_scale_16(png);
    if (!(color & PNG_COLOR_MASK_COLOR))
        png_set_gray_to_rgb(png);
    if (!(color & PNG_COLOR_MASK_ALPHA) && !png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_add_alpha(png, 0xff, PNG_FILLER_AFTER);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    /* The transforms above always give RGBA8; anything else means a file
     * libpng accepted in a form they do not cover, refused rather than
     * read past a row. */
    size_t row_bytes = (size_t)width * 4;
    if (png_get_bit_depth(png, info) != 8 || png_get_channels(png, info) != 4 ||
        png_get_rowbytes(png, info) != row_bytes)
        return ln_error_set(ctx->err, LN_EFORMAT,
                            "unsupported PNG layout (colour type %d, bit depth %d)", color,
                            png_get_bit_depth(png, info));

    rc = ln_image_alloc(ctx->out, (int)width, (int)height, 4, ctx->err);
    if (rc < 0)
        return rc;
    ctx->rows = ln_alloc_array(height, sizeof *ctx->rows, 0, "PNG row table", ctx->err);
    if (!ctx->rows)
        return LN_ENOMEM;
    for (png_uint_32 y = 0; y < height; y++)
        ctx->rows[y] = ctx->out->data + (size_t)y * row_bytes;
    png_read_image(png, ctx->rows);
    /* Reading to IEND checks the last IDAT CRC and catches a cut file. */
    png_read_end(png, NULL);
    return LN_OK;
}

int ln__image_decode_png(const uint8_t *data, size_t len, const struct ln_image_limits *lim,
                         struct ln_image *out, struct ln_error *err)
{
    struct ln__png_read ctx = {.data = data, .len = len, .lim = lim, .out = out, .err = err};
    int rc;

    ctx.png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, ln__png_error_fn, ln__png_warning_fn);
    if (!ctx.png)
        return ln_error_set(err, LN_ENOMEM, "out of memory starting the PNG decoder");
    ctx.info = png_create_info_struct(ctx.png);
    if (!ctx.info) {
        rc = ln_error_set(err, LN_ENOMEM, "out of memory starting the PNG decoder");
        goto cleanup;
    }
    png_set_read_fn(ctx.png, &ctx, ln__png_read_fn);
    rc = ln__png_read_run(&ctx);

cleanup:
    free(ctx.rows);
    png_destroy_read_struct(&ctx.png, ctx.info ? &ctx.info : NULL, NULL);
    if (rc < 0)
        ln_image_free(out);
    return rc;
}

static void ln__png_write_fn(png_structp png, png_bytep data, size_t n)
{
    struct ln__png_write *ctx = png_get_io_ptr(png);
    ln_buf_append(ctx->out, data, n);
    if (ctx->out->failed) {
        ctx->oom = 1;
        png_error(png, "out of memory");
    }
}

static void ln__png_flush_fn(png_structp png)
{
    (void)png;
}

static int ln__png_write_run(struct ln__png_write *ctx)
{
    png_structp png = ctx->png;
    png_infop info = ctx->info;
    const struct ln_image *img = ctx->img;
    if (setjmp(png_jmpbuf(png))) {
        if (ctx->oom)
            return ln_error_set(ctx->err, LN_ENOMEM, "out of memory encoding a PNG");
        return ln_error_set(ctx->err, LN_EINTERNAL, "PNG encoding failed: %s", ctx->msg);
    }

    int color = img->channels == 1   ? PNG_COLOR_TYPE_GRAY
                : img->channels == 3 ? PNG_COLOR_TYPE_RGB
                                     : PNG_COLOR_TYPE_RGB_ALPHA;
    png_set_write_fn(png, ctx, ln__png_write_fn, ln__png_flush_fn);
    if (ctx->fast) {
        png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_UP);
        png_set_compression_strategy(png, Z_RLE);
    }
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8, color,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    size_t stride = (size_t)img->width * (size_t)img->channels;
    for (int y = 0; y < img->height; y++)
        png_write_row(png, img->data + (size_t)y * stride);
    png_write_end(png, NULL);
    return LN_OK;
}

static int ln__png_encode(const struct ln_image *img, int fast, struct ln_buf *out,
                          struct ln_error *err);

int ln_image_encode_png(const struct ln_image *img, struct ln_buf *out, struct ln_error *err)
{
    return ln__png_encode(img, 0, out, err);
}

int ln_image_encode_png_fast(const struct ln_image *img, struct ln_buf *out, struct ln_error *err)
{
    return ln__png_encode(img, 1, out, err);
}

static int ln__png_encode(const struct ln_image *img, int fast, struct ln_buf *out,
                          struct ln_error *err)
{
    if (!img || !out || !img->data || img->width <= 0 || img->height <= 0)
        return ln_error_set(err, LN_EINVAL, "cannot encode an empty image as PNG");
    if (img->channels != 1 && img->channels != 3 && img->channels != 4)
        return ln_error_set(err, LN_EINVAL, "cannot encode a %d-channel image as PNG",
                            img->channels);
    if (out->failed)
        return ln_error_set(err, LN_ENOMEM, "out of memory encoding a PNG");

    struct ln__png_write ctx = {.out = out, .img = img, .err = err, .fast = fast};
    size_t start = out->len;
    int rc;

    ctx.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, ln__png_write_error_fn,
                                      ln__png_warning_fn);
    if (!ctx.png)
        return ln_error_set(err, LN_ENOMEM, "out of memory starting the PNG encoder");
    ctx.info = png_create_info_struct(ctx.png);
    if (!ctx.info) {
        rc = ln_error_set(err, LN_ENOMEM, "out of memory starting the PNG encoder");
        goto cleanup;
    }
    rc = ln__png_write_run(&ctx);

cleanup:
    png_destroy_write_struct(&ctx.png, ctx.info ? &ctx.info : NULL);
    /* A failed encode leaves no partial PNG behind in the caller's buffer. */
    if (rc < 0 && !out->failed)
        out->len = start;
    return rc;
}

int ln_image_save_png(const struct ln_image *img, const char *path, struct ln_error *err)
{
    struct ln_buf buf = {0};
    if (!path)
        return ln_error_set(err, LN_EINVAL, "no path given to save a PNG");
    int rc = ln_image_encode_png(img, &buf, err);
    if (rc < 0) {
        ln_error_prefix(err, "%s", path);
        goto cleanup;
    }
    rc = ln_file_write_atomic(path, buf.data, buf.len, err);

cleanup:
    ln_buf_free(&buf);
    return rc;
}
