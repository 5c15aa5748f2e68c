/*
 * Synthetic inputs drawn analytically, for the end-to-end tests, the
 * benchmarks and the bundled example: a "product photo" of a mug on a plain
 * noisy background, and N views of a box with coloured faces (half-extents
 * 0.35 x 0.25 x 0.2, +X red, -X green, +Y yellow, -Y brown, +Z blue,
 * -Z magenta) on white, rendered with the product's camera convention.
 * Deterministic: the same calls make the same pixels.
 */
#ifndef LN_SYNTH_H
#define LN_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "ln_image.h"

/* A size x size RGBA photo. Returns 0, or 1 if out of memory. */
int ln_synth_photo(struct ln_image *out, int size);
/* n views (az = i * 360 / n, el 0) into out[0..n-1]; orthographic with the
 * default window, or perspective with the default camera. */
int ln_synth_box_views(struct ln_image *out, int n, int size, int perspective);
/* A plain noisy background with no object (left empty if out of memory). */
void ln_synth_blank(struct ln_image *out, int size);
/* A progressive greyscale JPEG of a flat side x side image with n_scans
 * scans, the last one repeated (ln_synth_scans.c): a decoding denial of
 * service for the work-limit tests. *out is malloc'd. Returns 0, or 1. */
int ln_synth_jpeg_scans(int side, int n_scans, uint8_t **out, size_t *out_len);

/* A baseline JPEG of an 8-bit image (grey or RGB; RGBA loses its alpha)
 * at quality 90, in a malloc'd buffer: a photo as a camera would save
 * it, for the tests of JPEG input. 0 on success. */
int ln_synth_jpeg_encode(const struct ln_image *img, uint8_t **out, size_t *out_len);
/* Uniform noise in [-0.5, 0.5]. */
float ln_synth_noise(void);
/* Rounds and clamps to 0..255. */
uint8_t ln_synth_u8(float v);

#endif
