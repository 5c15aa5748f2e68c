/*
 * Framing and resampling, exactly as TripoSR's run.py prepares an image
 * (docs/TRIPOSR.md section 3): crop to the foreground and pad to a square
 * in which the object spans `ratio` of the side, composite over grey 0.5
 * with truncation, and resize with PyTorch's antialiased bilinear filter.
 * Multi-view inputs are not cropped: ln_frame_pad_square only pads, so all
 * views keep their common geometry (docs/ARCHITECTURE.md §5, projection).
 *
 * Reentrant; every output image or buffer is owned by the caller.
 */
#ifndef LN_FRAME_H
#define LN_FRAME_H

#include "ln_error.h"
#include "ln_image.h"

/* TripoSR resize_foreground (section 3.2, exact, including the dropped last
 * foreground row and column). rgba must have 4 channels. Errors:
 * LN_EUNUSABLE if no pixel has alpha > 0 or the crop is empty. */
int ln_frame_resize_foreground(const struct ln_image *rgba, float ratio, struct ln_image *out,
                               struct ln_error *err);

/* Composites RGBA over grey 0.5 in float32 with truncation (section 3.3):
 * out is 3-channel RGB. */
int ln_frame_composite_grey(const struct ln_image *rgba, struct ln_image *out,
                            struct ln_error *err);

/* Pads a 4-channel image to a square around its centre with transparent
 * pixels ((side - w) / 2 columns on the left, the rest on the right; the
 * same for rows). A square image is copied. */
int ln_frame_pad_square(const struct ln_image *rgba, struct ln_image *out,
                        struct ln_error *err);

/* PyTorch interpolate(mode="bilinear", align_corners=False, antialias=True)
 * on float HWC data with c channels, width pass first (section 3.4).
 * out must hold ow * oh * c floats. */
int ln_resize_aa(const float *in, int w, int h, int c, float *out, int ow, int oh,
                 struct ln_error *err);

/* u8 -> float in [0, 1] (x / 255), HWC, same channel count.
 * out must hold width * height * channels floats. */
void ln_image_to_float(const struct ln_image *img, float *out);

#endif
