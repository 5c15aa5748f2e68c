/*
 * The decode front end: format detection from magic numbers, the limits
 * check every decoder runs on the header before it allocates pixels, and
 * image allocation. The codecs themselves live in ln_image_png.c,
 * ln_image_jpeg.c and ln_image_webp.c, each behind the same internal entry
 * point, so this file is the one place that decides which runs.
 */
#include "ln_image.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"

static const uint8_t ln__png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
static const uint8_t ln__jpeg_magic[3] = {0xff, 0xd8, 0xff};

struct ln_image_limits ln_image_limits_default(void)
{
    struct ln_image_limits lim = {
        .max_bytes = LN_IMAGE_DEFAULT_MAX_BYTES,
        .max_side = LN_IMAGE_DEFAULT_MAX_SIDE,
        .max_pixels = LN_IMAGE_DEFAULT_MAX_PIXELS,
        .max_jpeg_scans = LN_IMAGE_DEFAULT_MAX_JPEG_SCANS,
    };
    return lim;
}

enum ln_image_format ln_image_sniff(const uint8_t *data, size_t len)
{
    if (!data)
        return LN_IMAGE_FORMAT_UNKNOWN;
    if (len >= sizeof ln__png_magic && memcmp(data, ln__png_magic, sizeof ln__png_magic) == 0)
        return LN_IMAGE_FORMAT_PNG;
    if (len >= sizeof ln__jpeg_magic && memcmp(data, ln__jpeg_magic, sizeof ln__jpeg_magic) == 0)
        return LN_IMAGE_FORMAT_JPEG;
    if (len >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WEBP", 4) == 0)
        return LN_IMAGE_FORMAT_WEBP;
    return LN_IMAGE_FORMAT_UNKNOWN;
}

const char *ln_image_format_name(enum ln_image_format fmt)
{
    switch (fmt) {
    case LN_IMAGE_FORMAT_PNG:
        return "PNG";
    case LN_IMAGE_FORMAT_JPEG:
        return "JPEG";
    case LN_IMAGE_FORMAT_WEBP:
        return "WebP";
    case LN_IMAGE_FORMAT_UNKNOWN:
        break;
    }
    return "unknown";
}

/* A file cut inside its signature is still recognisable; naming the format
 * then tells the user more than "not an image" would. */
static enum ln_image_format ln__sniff_prefix(const uint8_t *data, size_t len)
{
    if (len < sizeof ln__png_magic && memcmp(data, ln__png_magic, len) == 0)
        return LN_IMAGE_FORMAT_PNG;
    if (len < sizeof ln__jpeg_magic && memcmp(data, ln__jpeg_magic, len) == 0)
        return LN_IMAGE_FORMAT_JPEG;
    if (len < 12 && memcmp(data, "RIFF", len < 4 ? len : 4) == 0 &&
        (len <= 8 || memcmp(data + 8, "WEBP", len - 8) == 0))
        return LN_IMAGE_FORMAT_WEBP;
    return LN_IMAGE_FORMAT_UNKNOWN;
}

int ln__image_check_size(const char *fmt, uint64_t width, uint64_t height,
                         const struct ln_image_limits *lim, struct ln_error *err)
{
    if (width == 0 || height == 0)
        return ln_error_set(err, LN_EFORMAT, "corrupt %s: the header gives a size of %llux%llu",
                            fmt, (unsigned long long)width, (unsigned long long)height);
    uint64_t max_side = lim->max_side > 0 ? (uint64_t)lim->max_side : 0;
    if (width > max_side || height > max_side)
        return ln_error_set(err, LN_ETOOBIG,
                            "image is %llux%llu pixels, larger than the limit of %llu pixels "
                            "per side",
                            (unsigned long long)width, (unsigned long long)height,
                            (unsigned long long)max_side);
    /* Both sides are at most INT_MAX here, so the product fits 64 bits. */
    uint64_t n_pixels = width * height;
    if (n_pixels > lim->max_pixels)
        return ln_error_set(err, LN_ETOOBIG,
                            "image is %llux%llu = %llu pixels, above the limit of %llu pixels",
                            (unsigned long long)width, (unsigned long long)height,
                            (unsigned long long)n_pixels, (unsigned long long)lim->max_pixels);
    size_t bytes;
    if (n_pixels > SIZE_MAX || ln_size_mul((size_t)n_pixels, 4, &bytes) < 0)
        return ln_error_set(err, LN_ETOOBIG, "image is %llux%llu pixels, too large to hold",
                            (unsigned long long)width, (unsigned long long)height);
    return LN_OK;
}

int ln_image_decode(const uint8_t *data, size_t len, const struct ln_image_limits *lim,
                    struct ln_image *out, struct ln_error *err)
{
    struct ln_image_limits def = ln_image_limits_default();
    if (!out)
        return ln_error_set(err, LN_EINVAL, "no output image given");
    memset(out, 0, sizeof *out);
    if (!lim)
        lim = &def;
    if (!data || len == 0)
        return ln_error_set(err, LN_EFORMAT, "empty file");
    if (len > lim->max_bytes)
        return ln_error_set(err, LN_ETOOBIG, "file is %zu bytes, above the limit of %zu", len,
                            lim->max_bytes);

    enum ln_image_format fmt = ln_image_sniff(data, len);
    int rc;
    switch (fmt) {
    case LN_IMAGE_FORMAT_PNG:
        rc = ln__image_decode_png(data, len, lim, out, err);
        break;
    case LN_IMAGE_FORMAT_JPEG:
        rc = ln__image_decode_jpeg(data, len, lim, out, err);
        break;
    case LN_IMAGE_FORMAT_WEBP:
        rc = ln__image_decode_webp(data, len, lim, out, err);
        break;
    default:
        fmt = ln__sniff_prefix(data, len);
        if (fmt != LN_IMAGE_FORMAT_UNKNOWN)
            return ln_error_set(err, LN_EFORMAT, "truncated %s: the file is only %zu bytes",
                                ln_image_format_name(fmt), len);
        return ln_error_set(err, LN_EFORMAT, "not a PNG, JPEG or WebP image");
    }
    if (rc < 0)
        ln_image_free(out);
    return rc;
}

int ln_image_load(const char *path, const struct ln_image_limits *lim, struct ln_image *out,
                  struct ln_error *err)
{
    struct ln_image_limits def = ln_image_limits_default();
    uint8_t *data = NULL;
    size_t len = 0;
    if (!out)
        return ln_error_set(err, LN_EINVAL, "no output image given");
    memset(out, 0, sizeof *out);
    if (!path)
        return ln_error_set(err, LN_EINVAL, "no image path given");
    if (!lim)
        lim = &def;

    /* ln_file_read's messages already name the file. */
    int rc = ln_file_read(path, lim->max_bytes, &data, &len, err);
    if (rc < 0)
        return rc;
    rc = ln_image_decode(data, len, lim, out, err);
    if (rc < 0)
        ln_error_prefix(err, "%s", path);
    free(data);
    return rc;
}

int ln_image_alloc(struct ln_image *img, int width, int height, int channels, struct ln_error *err)
{
    if (!img)
        return ln_error_set(err, LN_EINVAL, "no image given");
    memset(img, 0, sizeof *img);
    if (width <= 0 || height <= 0)
        return ln_error_set(err, LN_EINVAL, "invalid image size %dx%d", width, height);
    if (channels != 1 && channels != 3 && channels != 4)
        return ln_error_set(err, LN_EINVAL, "invalid channel count %d", channels);
    size_t n;
    if (ln_size_mul3((size_t)width, (size_t)height, (size_t)channels, &n) < 0)
        return ln_error_set(err, LN_ETOOBIG, "image of %dx%dx%d is too large", width, height,
                            channels);
    /* The size is checked above, so the only failure left is memory. */
    img->data = ln_alloc_array(n, 1, 1, "image pixels", err);
    if (!img->data)
        return LN_ENOMEM;
    img->width = width;
    img->height = height;
    img->channels = channels;
    return LN_OK;
}

void ln_image_free(struct ln_image *img)
{
    if (!img)
        return;
    free(img->data);
    memset(img, 0, sizeof *img);
}

int ln_image_alpha_is_meaningful(const struct ln_image *img)
{
    if (!img || !img->data || img->channels != 4 || img->width <= 0 || img->height <= 0)
        return 0;
    size_t n = (size_t)img->width * (size_t)img->height;
    const uint8_t *p = img->data + 3;
    for (size_t i = 0; i < n; i++, p += 4)
        if (*p < 255)
            return 1;
    return 0;
}
