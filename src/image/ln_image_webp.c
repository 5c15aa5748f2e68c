/*
 * WebP decoding with libwebp: the header is read with WebPGetFeatures, the
 * size checked against the limits, and only then are pixels decoded, into a
 * buffer we allocate (libwebp's external-memory mode) so that large
 * allocations go through the fallible allocator like every other format.
 * Animated WebP is refused: a product photo is one frame.
 */
#include "ln_image.h"

#include <string.h>

#include <webp/decode.h>

static const char *ln__webp_status(VP8StatusCode st)
{
    switch (st) {
    case VP8_STATUS_OK:
        return "ok";
    case VP8_STATUS_OUT_OF_MEMORY:
        return "out of memory";
    case VP8_STATUS_INVALID_PARAM:
        return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR:
        return "corrupt bitstream";
    case VP8_STATUS_UNSUPPORTED_FEATURE:
        return "unsupported feature";
    case VP8_STATUS_SUSPENDED:
    case VP8_STATUS_NOT_ENOUGH_DATA:
        return "unexpected end of file";
    case VP8_STATUS_USER_ABORT:
        return "aborted";
    }
    return "unknown error";
}

static int ln__webp_fail(VP8StatusCode st, struct ln_error *err)
{
    if (st == VP8_STATUS_OUT_OF_MEMORY)
        return ln_error_set(err, LN_ENOMEM, "out of memory decoding a WebP image");
    return ln_error_set(err, LN_EFORMAT, "truncated or corrupt WebP: %s", ln__webp_status(st));
}

int ln__image_decode_webp(const uint8_t *data, size_t len, const struct ln_image_limits *lim,
                          struct ln_image *out, struct ln_error *err)
{
    WebPDecoderConfig config;
    if (!WebPInitDecoderConfig(&config))
        return ln_error_set(err, LN_EINTERNAL, "libwebp version mismatch");

    VP8StatusCode st = WebPGetFeatures(data, len, &config.input);
    if (st != VP8_STATUS_OK)
        return ln__webp_fail(st, err);
    if (config.input.has_animation)
        return ln_error_set(err, LN_EFORMAT,
                            "animated WebP is not supported: use a single still image");
    if (config.input.width < 0 || config.input.height < 0)
        return ln_error_set(err, LN_EFORMAT, "corrupt WebP: negative size in the header");
    int rc = ln__image_check_size("WebP", (uint64_t)config.input.width,
                                  (uint64_t)config.input.height, lim, err);
    if (rc < 0)
        return rc;

    rc = ln_image_alloc(out, config.input.width, config.input.height, 4, err);
    if (rc < 0)
        return rc;
    size_t stride = (size_t)out->width * 4;
    config.output.colorspace = MODE_RGBA;
    config.output.is_external_memory = 1;
    config.output.u.RGBA.rgba = out->data;
    config.output.u.RGBA.stride = (int)stride;
    config.output.u.RGBA.size = stride * (size_t)out->height;
    st = WebPDecode(data, len, &config);
    /* With external memory this frees only libwebp's own bookkeeping. */
    WebPFreeDecBuffer(&config.output);
    if (st != VP8_STATUS_OK) {
        ln_image_free(out);
        return ln__webp_fail(st, err);
    }
    return LN_OK;
}
