/*
 * Internal interface of the triposr engine (triposr.c), exposed for its
 * tests and the benchmark: the run.py preprocessing, the density grid of
 * docs/TRIPOSR.md section 11 (dense, and coarse to fine), marching cubes
 * at the threshold, and the conversion into the product frame. The
 * engine's run() is these steps in order.
 *
 * Grid conventions (section 11): R points per axis at linspace(0, 1, R)
 * mapped to [-r, r] (r = the renderer radius); point (i, j, k) is field
 * index (i * R + j) * R + k (k fastest) at TripoSR (x, y, z). Inside is
 * density_act > 25.
 *
 * Everything here is reentrant; the network is only read.
 */
#ifndef LN_TRIPOSR_INTERNAL_H
#define LN_TRIPOSR_INTERNAL_H

#include <stddef.h>

#include "ln_engine.h"
#include "ln_triposr.h"

/* Level set of the density (run.py's default threshold). */
#define LN__TSR_THRESHOLD 25.0f
/* Default coarse step of the coarse-to-fine density grid. */
#define LN__TSR_COARSE_STEP 4

/* What the density stage did. */
struct ln__tsr_density_stats {
    size_t n_points;      /* R^3 */
    size_t n_evaluated;   /* points whose density was computed, coarse ones included */
    size_t n_coarse;      /* points of the coarse pass */
    size_t n_cells;       /* coarse cells */
    size_t n_cells_fine;  /* coarse cells evaluated at full resolution */
    int step;             /* coarse step; 1 for the dense grid */
};

/* The network of a triposr engine (NULL for another engine). */
const struct ln_triposr *ln__engine_triposr_net(const struct ln_engine *eng);

/* run.py's preprocessing of one decoded RGBA image (section 3) into the
 * normalised [3, S, S] network input: with remove_bg, the cut-out of
 * ln_background_cutout (the input alpha when meaningful; the method goes to
 * rep->background, rep may be NULL), resize_foreground(ratio), grey
 * compositing; without, the RGB channels as they are; then the
 * antialiased resize to cond_image_size and ImageNet normalisation. */
int ln__triposr_preprocess(const struct ln_triposr *net, const struct ln_image *img, int remove_bg,
                           struct ln_generate_report *rep, float ratio, float *chw,
                           struct ln_error *err);

/* The R world coordinates of one grid axis, as upstream computes them in
 * float32: linspace(0, 1, R) * (r - (-r)) + (-r). */
void ln__triposr_grid_axis(int R, float radius, float *coord);

/* Evaluates a scalar field (here the density) at n points [n, 3]. */
typedef int (*ln__tsr_eval_fn)(void *user, const float *pts, size_t n, float *out,
                               struct ln_error *err);

/* The grid of any field: every point (dense), or coarse to fine as
 * described below. The network versions below are these with
 * ln_triposr_query's density_act. */
int ln__tsr_grid_dense(int R, float radius, ln__tsr_eval_fn eval, void *user, float *field,
                       struct ln__tsr_density_stats *stats, const struct ln_progress *progress,
                       struct ln_error *err);
int ln__tsr_grid_coarse_fine(int R, float radius, int step, ln__tsr_eval_fn eval, void *user,
                             float *field, struct ln__tsr_density_stats *stats,
                             const struct ln_progress *progress, struct ln_error *err);

/* density_act at every grid point into field[R^3]. */
int ln__triposr_density_dense(const struct ln_triposr *net, const float *scene, int R, float *field,
                              struct ln__tsr_density_stats *stats,
                              const struct ln_progress *progress, struct ln_error *err);

/* The same field, evaluated coarse to fine: every step-th point first
 * (plus the last), then every point of the coarse cells whose corners
 * straddle the threshold or come near it, then, wave by wave, of the
 * neighbouring cells the surface enters or that lie near the threshold
 * next to a rough refined cell. The other points hold a value on the same
 * side of the threshold as their cell's corners (not the density), so
 * marching cubes at the threshold gives the dense grid's surface wherever
 * no piece of it lies wholly inside cells left coarse. step 0 means
 * LN__TSR_COARSE_STEP; stats may be NULL. */
int ln__triposr_density_coarse_fine(const struct ln_triposr *net, const float *scene, int R,
                                    int step, float *field, struct ln__tsr_density_stats *stats,
                                    const struct ln_progress *progress, struct ln_error *err);

/* Marching cubes of field at LN__TSR_THRESHOLD: vertices in the TripoSR
 * frame (fractional grid index (i, j, k) mapped to [-r, r]), faces
 * counter-clockwise seen from outside, no colours. */
int ln__triposr_mesh_field(const float *field, int R, float radius, struct ln_mesh *out,
                           struct ln_error *err);

/* Section 13: (X, Y, Z)_product = (y, z, x)_TripoSR, in place. A cyclic
 * permutation of the axes is a rotation, so faces stay outward. */
void ln__triposr_to_product_frame(struct ln_mesh *m);

/* A colorizer (ln_engine.h) over the network's colour field for the scene
 * codes scene (malloc'd; the colorizer owns it from here): what a run with
 * a texture hands to the baker, and what bench-triposr times. */
void ln__triposr_colorizer(const struct ln_triposr *net, float *scene, struct ln_colorizer *out);

#endif
