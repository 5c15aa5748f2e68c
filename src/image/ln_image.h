/*
 * Decoded raster images and the decode front end. Every input image, whatever
 * its file format (PNG grey/palette/8/16-bit/alpha, JPEG with EXIF
 * orientation, WebP), becomes 8-bit RGBA in memory, upright as a person
 * would see it. The format is detected from the bytes, never the name.
 * Dimensions are checked against limits before any pixel buffer is
 * allocated, so a header claiming 100000x100000 is refused cheaply.
 *
 *     struct ln_image img = {0};
 *     struct ln_error err = {0};
 *     if (ln_image_load("chair.png", NULL, &img, &err) < 0) {
 *         fprintf(stderr, "%s\n", err.message);   // one line, exit 2
 *     }
 *     ...
 *     ln_image_free(&img);
 *
 * An ln_image owns its pixels; functions here are reentrant.
 */
#ifndef LN_IMAGE_H
#define LN_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "ln_error.h"
#include "ln_file.h"

/* 8 bits per channel, rows top to bottom, no padding between rows:
 * pixel (x, y) channel c is data[(y * width + x) * channels + c]. */
struct ln_image {
    int width;
    int height;
    int channels; /* 1 (grey), 3 (RGB) or 4 (RGBA) */
    uint8_t *data;
};

/* Decoding work is bounded too. A progressive JPEG of a few kilobytes can
 * repeat near-empty scans over a large image, each costing a walk over
 * every block: seconds to minutes of CPU. So a JPEG may hold at most
 * max_jpeg_scans scans (0 means LN_IMAGE_DEFAULT_MAX_JPEG_SCANS), and its
 * scans together may visit at most LN_IMAGE_JPEG_WORK_FACTOR times the
 * 8x8 blocks of all its components (at least LN_IMAGE_JPEG_WORK_MIN_BLOCKS,
 * a few tens of milliseconds, so small images are never refused for it).
 * Ordinary files have 1 to about 20 scans visiting each block 4 to 6
 * times. Beyond either limit decoding stops with LN_EUNUSABLE. */
struct ln_image_limits {
    size_t max_bytes;    /* largest encoded file accepted */
    int max_side;        /* largest width or height */
    uint64_t max_pixels; /* largest width * height */
    int max_jpeg_scans;  /* most scans in a JPEG; 0: the default */
};

#define LN_IMAGE_DEFAULT_MAX_BYTES ((size_t)64 << 20)
#define LN_IMAGE_DEFAULT_MAX_SIDE 16384
#define LN_IMAGE_DEFAULT_MAX_PIXELS ((uint64_t)40000000)
#define LN_IMAGE_DEFAULT_MAX_JPEG_SCANS 500
#define LN_IMAGE_JPEG_WORK_FACTOR 16
#define LN_IMAGE_JPEG_WORK_MIN_BLOCKS ((uint64_t)1 << 20)

enum ln_image_format {
    LN_IMAGE_FORMAT_UNKNOWN,
    LN_IMAGE_FORMAT_PNG,
    LN_IMAGE_FORMAT_JPEG,
    LN_IMAGE_FORMAT_WEBP,
};

/* The default limits (the LN_IMAGE_DEFAULT_* values). */
struct ln_image_limits ln_image_limits_default(void);

/* Detects the format from the first bytes. */
enum ln_image_format ln_image_sniff(const uint8_t *data, size_t len);
/* "PNG", "JPEG", "WebP" or "unknown". */
const char *ln_image_format_name(enum ln_image_format fmt);

/* Decodes PNG, JPEG or WebP bytes into RGBA (channels = 4). lim NULL means
 * the defaults. Errors: LN_EFORMAT for empty, unknown, truncated or corrupt
 * data (the message names the format and what is wrong); LN_ETOOBIG when
 * the image exceeds the limits; LN_EUNUSABLE when decoding it would take
 * more work than the limits allow (a JPEG with too many scans); LN_ENOMEM.
 * On error *out is left empty. */
int ln_image_decode(const uint8_t *data, size_t len, const struct ln_image_limits *lim,
                    struct ln_image *out, struct ln_error *err);

/* Reads and decodes a file; error messages start with the file name. */
int ln_image_load(const char *path, const struct ln_image_limits *lim, struct ln_image *out,
                  struct ln_error *err);

/* Allocates a zeroed width x height x channels image (checked sizes). */
int ln_image_alloc(struct ln_image *img, int width, int height, int channels,
                   struct ln_error *err);
void ln_image_free(struct ln_image *img);

/* True when the image has 4 channels and at least one alpha below 255
 * (TripoSR's rule for "already has a background removed"). */
int ln_image_alpha_is_meaningful(const struct ln_image *img);

/* PNG encoding of a 1-, 3- or 4-channel image (previews, debug output, tests). */
int ln_image_encode_png(const struct ln_image *img, struct ln_buf *out, struct ln_error *err);
/* The same with the Up filter on every row and zlib's run-length strategy
 * (repeats of the byte before only): about five times faster on a large
 * smooth image (a baked texture: 0.065 s instead of 0.33 s of CPU at
 * 2048 x 2048), and up to a third larger. On baked textures the runs
 * alone were as fast as zlib level 1's matches and as small or smaller
 * on detailed ones (5.2 against 5.6 MB for one photo's 2048 x 2048
 * texture; a flat 1024 x 1024 one: 78 against 60 kB). */
int ln_image_encode_png_fast(const struct ln_image *img, struct ln_buf *out, struct ln_error *err);
/* Encodes and writes atomically. */
int ln_image_save_png(const struct ln_image *img, const char *path, struct ln_error *err);
/* Baseline JPEG of a 1-, 3- or 4-channel image (alpha dropped) at quality
 * 1..100, with full-resolution chroma (4:4:4). */
int ln_image_encode_jpeg(const struct ln_image *img, int quality, struct ln_buf *out,
                         struct ln_error *err);

/* Internal to the image floor: the per-format decoders behind
 * ln_image_decode (ln_image_png.c, ln_image_jpeg.c, ln_image_webp.c) and
 * the shared header check. Other floors call ln_image_decode. */
int ln__image_check_size(const char *fmt, uint64_t width, uint64_t height,
                         const struct ln_image_limits *lim, struct ln_error *err);
int ln__image_decode_png(const uint8_t *data, size_t len, const struct ln_image_limits *lim,
                         struct ln_image *out, struct ln_error *err);
int ln__image_decode_jpeg(const uint8_t *data, size_t len, const struct ln_image_limits *lim,
                          struct ln_image *out, struct ln_error *err);
int ln__image_decode_webp(const uint8_t *data, size_t len, const struct ln_image_limits *lim,
                          struct ln_image *out, struct ln_error *err);

#endif
