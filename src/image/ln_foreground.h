/*
 * Foreground separation: which pixels are the object. Three methods, the
 * one that ran is named in ln_foreground_info.method:
 *   "alpha"   the image carries a meaningful alpha channel: it is the mask,
 *             as it is (TripoSR's rule);
 *   "plain"   the border is near-uniform (a studio sweep, a wall, a plain
 *             table): a smooth colour model of the border, the background
 *             grown inward from it by colour tolerance;
 *   "grabcut" the border is not near-uniform (a desk, a patterned cloth):
 *             Gaussian-mixture colour models of object and background and
 *             an iterated graph cut with a centre prior, on a copy whose
 *             long side is at most 320 pixels, the boundary decided again
 *             at full size.
 * The automatic choice runs "plain" when the border's colour spread and
 * coverage allow it and "grabcut" otherwise; options can force either.
 * Both colour methods then clean the mask the same way (opening and
 * closing, the largest component) and apply one hole rule: a region the
 * object encloses is opened (background) when it is background-coloured
 * and not tiny: at least 1/200 of the object's area and 1/4000 of the
 * frame. "Background-coloured" means, for "plain", that every pixel of it
 * is within the background tolerance and its mean distance within half of
 * it; for "grabcut", that the cut labelled it background. Anything else the
 * object encloses (a dark pupil on a white toy, a small highlight) is
 * filled. docs/foreground.md has the details and the limits.
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
    /* enum ln_foreground_method; 0 (and NULL options) = automatic. */
    int method;
};

enum ln_foreground_method {
    LN_FOREGROUND_AUTO = 0,
    LN_FOREGROUND_PLAIN = 1,   /* refuse a background that is not plain */
    LN_FOREGROUND_GRABCUT = 2, /* colour models and graph cut, always */
};

struct ln_foreground_info {
    int used_alpha;     /* 1 if the input alpha was used */
    const char *method; /* "alpha", "plain" or "grabcut" (static string) */
    double coverage;    /* fraction of the frame that is object */
    int bbox[4];        /* x0, y0, x1, y1 (inclusive) of the object */
};

/* Produces an RGBA image of the same size whose alpha marks the object.
 * Errors: LN_EINVAL (bad image or method); LN_EUNUSABLE when no object is
 * found (the image is all background) or when the object fills the whole
 * frame (no background to separate, or nothing stands apart from the
 * border's colours), with a message saying which; LN_ENOMEM. opt and info
 * may be NULL. A 1024 x 1024 photo takes about 30-70 ms ("plain") or
 * 140-230 ms ("grabcut") on two cores. */
int ln_foreground_extract(const struct ln_image *img, const struct ln_foreground_options *opt,
                          struct ln_image *out, struct ln_foreground_info *info,
                          struct ln_error *err);

#endif
