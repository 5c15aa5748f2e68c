/*
 * Foreground separation: which pixels are the object. When the image carries
 * a meaningful alpha channel it is used as it is (TripoSR's rule). Otherwise
 * the background is assumed plain or near-uniform: its colour statistics are
 * estimated from the image border, the background is grown inward from the
 * border by colour tolerance, the mask is cleaned morphologically, only the
 * main component is kept and its holes are filled.
 *
 *     struct ln_image cut = {0};
 *     if (ln_foreground_extract(&img, NULL, &cut, &info, &err) < 0) ...
 *     // cut is RGBA: the input colours, alpha = object mask (soft when the
 *     // input alpha was soft, 0/255 otherwise)
 *
 * Reentrant.
 */
#ifndef LN_FOREGROUND_H
#define LN_FOREGROUND_H

#include "ln_error.h"
#include "ln_image.h"

struct ln_foreground_options {
    /* Colour distance (0..255 scale, in RGB) beyond the border's own
     * spread at which a pixel stops counting as background. 0 = automatic. */
    float tolerance;
    /* 1: trust alpha, 0: ignore alpha and segment by colour,
     * -1 (default when options are NULL): use alpha if meaningful. */
    int use_alpha;
};

struct ln_foreground_info {
    int used_alpha;   /* 1 if the input alpha was used */
    double coverage;  /* fraction of the frame that is object */
    int bbox[4];      /* x0, y0, x1, y1 (inclusive) of the object */
};

/* Produces an RGBA image of the same size whose alpha marks the object.
 * Errors: LN_EUNUSABLE when no object is found (the image is all
 * background) or when the object fills the whole frame (no background to
 * separate), with a message saying which; LN_ENOMEM. opt and info may be
 * NULL. */
int ln_foreground_extract(const struct ln_image *img, const struct ln_foreground_options *opt,
                          struct ln_image *out, struct ln_foreground_info *info,
                          struct ln_error *err);

#endif
