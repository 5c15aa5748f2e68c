/*
 * libFuzzer target for the image decode front end: arbitrary bytes go
 * through format detection and the PNG, JPEG and WebP decoders. Limits are
 * small so that headers claiming large images are refused quickly rather
 * than spending the run decoding them; anything that decodes must be a
 * well-formed RGBA image.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ln_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct ln_image_limits lim = {
        .max_bytes = (size_t)1 << 20,
        .max_side = 4096,
        .max_pixels = (uint64_t)4 << 20,
    };
    struct ln_image img = {0};
    struct ln_error err = {0};
    if (ln_image_decode(data, size, &lim, &img, &err) == 0) {
        if (!img.data || img.channels != 4 || img.width <= 0 || img.height <= 0 ||
            img.width > lim.max_side || img.height > lim.max_side)
            abort();
        /* Touch the last byte: a short buffer shows up under ASan. */
        volatile uint8_t last = img.data[(size_t)img.width * (size_t)img.height * 4 - 1];
        (void)last;
        (void)ln_image_alpha_is_meaningful(&img);
    } else if (img.data || err.message[0] == 0) {
        abort();
    }
    ln_image_free(&img);
    return 0;
}
