/*
 * What the foreground separation's files share inside the image floor: the
 * colour-model refinement for backgrounds that are not plain
 * (ln_foreground_grabcut.c), called by ln_foreground.c, which cleans its
 * mask (largest component, holes) the same way as its own.
 */
#ifndef LN_FOREGROUND_INTERNAL_H
#define LN_FOREGROUND_INTERNAL_H

#include <stdint.h>

#include "ln_error.h"
#include "ln_image.h"

/* The message for an image in which nothing stands apart from the
 * background seen at its border. */
extern const char *const ln__fg_fills_frame;

/*
 * Segments a 1-, 3- or 4-channel image (alpha ignored) whose background is
 * not plain: colour models of object and background (Gaussian mixtures in
 * RGB) and a graph cut with a centre prior, iterated, on a copy whose long
 * side is at most 320 pixels; the result is scaled back up and its boundary
 * decided again at full resolution. The border band is background.
 * mask (width x height bytes) receives 1 for object, 0 for background.
 * Returns 0, LN_EUNUSABLE when nothing in the image stands apart from the
 * border's colours (message ln__fg_fills_frame) or LN_ENOMEM.
 */
int ln__fg_grabcut(const struct ln_image *img, uint8_t *mask, struct ln_error *err);

#endif
