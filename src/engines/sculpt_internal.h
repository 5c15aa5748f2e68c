/*
 * Internal interface of the sculpt engine (docs/ARCHITECTURE.md §5), shared by
 * its three files: sculpt.c (the engine object, foreground preparation and
 * raster helpers: exact distance transforms, resampling, blurs),
 * sculpt_single.c (one image: a body of revolution about an upright axis
 * joined with the inflated silhouette) and sculpt_multi.c
 * (several images: visual hull with visibility-aware colouring).
 *
 * Rasters here are float, row-major, rows top to bottom, and pixel (x, y)
 * has its centre at image coordinates (x + 0.5, y + 0.5), so a normalised
 * coordinate u in [0, 1] lands at pixel coordinate u * m - 0.5. Nothing
 * here is shared between runs; every function is reentrant.
 */
#ifndef LN_SCULPT_INTERNAL_H
#define LN_SCULPT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ln_engine.h"

#define LN__SCULPT_MIN_RESOLUTION 32
#define LN__SCULPT_MAX_RESOLUTION 512

/* Times a stage and reports it; returns the new start time. */
double ln__sculpt_stage_done(struct ln_generate_report *rep, const char *name, double t0);

/* The object cut-out of one input image (RGBA, alpha = object mask): by
 * ln_background_cutout with remove_bg's mode, or with remove_bg off the
 * input's own alpha, which is all opaque when it carries none (the whole
 * frame is the object). *use points either at img or at *cut; cut must be
 * zeroed and is freed by the caller in both cases. The method used is
 * added to rep->background (rep may be NULL). */
int ln__sculpt_cutout(const struct ln_image *img, int remove_bg, struct ln_image *cut,
                      const struct ln_image **use, struct ln_generate_report *rep,
                      struct ln_error *err);

/* The outline of a binary cut-out (alpha 0 or 255, as the colour
 * separations give) placed inside its pixels: out is a copy of cut whose
 * alpha on the mask's edge is the coverage that the pixel's colour in img
 * (the same size, RGBA) shows between the object's and the background's
 * colours next to it (DESIGN comment in sculpt.c). Returns 1 when it made
 * out, 0 when there is nothing to place (a soft matte, which places its
 * own edges; out untouched), or a negative LN_E* code. */
int ln__sculpt_edge_coverage(const struct ln_image *cut, const struct ln_image *img,
                             struct ln_image *out, struct ln_error *err);

/* Resamples an RGBA image, padded to a square around its centre with
 * transparent pixels (as ln_frame_pad_square does, without the copy), to an
 * m x m float raster of premultiplied colour and alpha in [0, 1]: an exact
 * box (area) filter when shrinking, bilinear when enlarging. */
int ln__sculpt_resample_square(const struct ln_image *rgba, int m, float *out,
                               struct ln_error *err);

/* Signed Euclidean distance in pixels to the boundary of {alpha >= 0.5},
 * positive inside, negative outside, with the boundary placed between
 * pixel centres and refined by fractional alpha where the edge is
 * anti-aliased. Exact separable EDT (Felzenszwalb and Huttenlocher). */
int ln__sculpt_signed_distance(const float *alpha, int alpha_stride, int w, int h, float *sd,
                               struct ln_error *err);

/* Turns premultiplied RGBA (m x m x 4) into straight RGB (m x m x 3) that
 * stays valid a few pixels outside the object: pixels whose alpha is low get
 * the mean of already valid neighbours, ring by ring, `rings` times, and
 * whatever remains takes the object's mean colour. */
int ln__sculpt_colour_extend(const float *prem, int m, int rings, float *rgb, struct ln_error *err);

/* In-place box blur of a w x h x c float raster with the given radius
 * (zero outside the raster), `passes` times; scratch holds w * h * c. */
void ln__sculpt_box_blur(float *data, int w, int h, int c, int radius, int passes, float *scratch);

/* floorf(x) as an int, for x within the int range, without the library
 * call that floorf is on CPUs without SSE4.1 (the baseline build). */
static inline int ln__floor_int(float x)
{
    int i = (int)x;
    return (float)i > x ? i - 1 : i;
}

/* Bilinear sample of channel-interleaved data at pixel coordinates
 * (x, y), clamped to the raster. Inline: the colour loops call it for
 * every view of millions of points (a baked texture), where the call and
 * its general channel count cost as much as the reads. */
static inline void ln__sculpt_sample(const float *data, int w, int h, int c, float x, float y,
                                     float *out)
{
    x = x < 0.0f ? 0.0f : (x > (float)(w - 1) ? (float)(w - 1) : x);
    y = y < 0.0f ? 0.0f : (y > (float)(h - 1) ? (float)(h - 1) : y);
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
    float fx = x - (float)x0, fy = y - (float)y0;
    const float *a = data + ((size_t)y0 * (size_t)w + (size_t)x0) * (size_t)c;
    const float *b = data + ((size_t)y0 * (size_t)w + (size_t)x1) * (size_t)c;
    const float *d0 = data + ((size_t)y1 * (size_t)w + (size_t)x0) * (size_t)c;
    const float *d1 = data + ((size_t)y1 * (size_t)w + (size_t)x1) * (size_t)c;
    for (int ch = 0; ch < c; ch++) {
        float top = a[ch] + fx * (b[ch] - a[ch]);
        float bot = d0[ch] + fx * (d1[ch] - d0[ch]);
        out[ch] = top + fy * (bot - top);
    }
}

/* The two ways of sculpting; bake as in struct ln_engine_ops's run. */
int ln__sculpt_run_single(const struct ln_engine_input *in, const struct ln_generate_options *opt,
                          int res, const struct ln_progress *progress, struct ln_mesh *out,
                          struct ln_colorizer *bake, struct ln_generate_report *rep,
                          struct ln_error *err);

int ln__sculpt_run_multi(const struct ln_engine_input *in, const struct ln_generate_options *opt,
                         int res, const struct ln_progress *progress, struct ln_mesh *out,
                         struct ln_colorizer *bake, struct ln_generate_report *rep,
                         struct ln_error *err);

#endif
