/*
 * Background matting as rembg does it: a picture's alpha mask from one of
 * rembg's networks (U^2-Net, IS-Net, BiRefNet, ...) run by the ONNX runtime,
 * with rembg's own preparation of the input and reading of the output, so
 * a mask matches what `rembg` gives for the same file and model:
 *
 *   1. RGB (a fourth channel is dropped, as Pillow's convert("RGB"));
 *   2. resized to the network's square with Pillow's LANCZOS filter;
 *   3. divided by the resized picture's own maximum, then per channel
 *      (x - mean) / std, in NCHW float32;
 *   4. output 0, channel 0; a sigmoid for the BiRefNet models; min-max
 *      normalised to 0..1, times 255, truncated to 8 bits;
 *   5. that grey picture resized back to the input's size, Pillow LANCZOS.
 *
 *     struct ln_matting *m;
 *     if (ln_matting_open("u2net", &m, &err) < 0) ...      // or a path
 *     uint8_t *mask = malloc((size_t)w * h);
 *     if (ln_matting_mask(m, rgba, w, h, 4, mask, &err) < 0) ...
 *     ln_matting_free(m);
 *
 * A matting object is one caller's at a time (the runtime keeps its work
 * buffers in the model); the work inside a call is spread over
 * ln_threads_get() threads and the result does not depend on their count.
 * Pixels are raw 8-bit samples: this floor knows nothing of image files.
 */
#ifndef LN_MATTING_H
#define LN_MATTING_H

#include <stddef.h>
#include <stdint.h>

#include "ln_error.h"

/* Largest width or height taken (input pictures and masks). */
#define LN_MATTING_MAX_SIDE 32768

struct ln_matting;

/* Loads a background model: name_or_path as ln_rembg_resolve takes it (a
 * rembg model name looked up in rembg's folder, or a path to an .onnx
 * file). A file that is not one of rembg's is prepared like u2net, at the
 * input size its graph declares (320 when the size is dynamic). Errors:
 * those of ln_rembg_resolve (LN_ENOTFOUND, LN_EINVAL) and ln_onnx_load
 * (LN_EFORMAT for a damaged file, ...), LN_EFORMAT for a graph that does
 * not take one image; the message names the file. */
int ln_matting_open(const char *name_or_path, struct ln_matting **out, struct ln_error *err);
/* rembg's name of the model, or the file name for a foreign file. */
const char *ln_matting_name(const struct ln_matting *m);
/* The network's input width and height. */
void ln_matting_input_size(const struct ln_matting *m, int *w, int *h);

/* The mask of w x h pixels of `channels` (3: RGB, 4: RGBA, alpha ignored)
 * 8-bit samples, row-major, into mask (w * h bytes, 0 background .. 255
 * foreground). A network whose output is one flat value gives an all-zero
 * mask, as rembg does. Errors: LN_EINVAL (sizes, channels), LN_ETOOBIG
 * (side over LN_MATTING_MAX_SIDE), LN_ENOMEM, LN_EFORMAT (the network's
 * output is not a 1xCxHxW map, or holds NaN or infinity), and the
 * runtime's; mask is left unchanged on error. */
int ln_matting_mask(struct ln_matting *m, const uint8_t *pixels, int w, int h, int channels,
                    uint8_t *mask, struct ln_error *err);
void ln_matting_free(struct ln_matting *m);

/* Pillow's Image.resize(..., Image.LANCZOS) on 8-bit samples, to the same
 * byte: src is w x h pixels of `channels` (1..4) interleaved samples, dst
 * gets dw x dh pixels of as many. Each channel is filtered on its own, as
 * Pillow does for "L" and "RGB" pictures (not for RGBA, which Pillow
 * premultiplies first). Errors: LN_EINVAL, LN_ETOOBIG, LN_ENOMEM. */
int ln_matting_resize(const uint8_t *src, int w, int h, int channels, uint8_t *dst, int dw, int dh,
                      struct ln_error *err);

#endif
