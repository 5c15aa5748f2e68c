/*
 * The reconstruction-quality bench (bench-shapes, docs/quality.md): objects
 * built from analytic parts, rendered with texture and light through the
 * product's camera convention, and the metrics that compare any mesh with
 * the truth. Bench code, not part of the program: it uses the engines'
 * public interface and the mesh floor only.
 *
 *     struct ln_mesh truth = {0};
 *     ln_shapes_build(&ln_shapes_objects[0], 256, &truth, &err);  // cup
 *     struct ln_shapes_points a = {0}, b = {0};
 *     ln_shapes_sample(&truth, 100000, 1, &a, &err);
 *     ln_shapes_sample(&other, 100000, 2, &b, &err);
 *     struct ln_shapes_score s;
 *     ln_shapes_compare(&a, &b, 0.05, &s, &err);   // s.chamfer, s.fscore
 *
 * Every result depends on its inputs and seeds only, never on the thread
 * count: parallel loops write per-index outputs and sums are taken in index
 * order afterwards. Reentrant.
 */
#ifndef LN_BENCH_SHAPES_H
#define LN_BENCH_SHAPES_H

#include <stddef.h>
#include <stdint.h>

#include "ln_camera.h"
#include "ln_engine.h"
#include "ln_error.h"
#include "ln_image.h"
#include "ln_mesh.h"

/* ---- objects (shapes_objects.c) ---------------------------------------- */

/* An object as a signed distance (negative inside) in its own units, with a
 * box that holds it. */
struct ln_shapes_object {
    const char *name;
    /* Has a cavity or a gap that the bench's silhouettes cannot see (the
     * cup's inside, the bowl's, the space under the chair's seat, the
     * lying torus's hole). The standing torus's hole is seen through from
     * the front, so its hull keeps it: it counts with the others. */
    int concave;
    float (*sdf)(const float p[3]);
    float lo[3], hi[3];
};

extern const struct ln_shapes_object ln_shapes_objects[];
extern const int ln_shapes_n_objects;
/* The object of that name, or NULL. */
const struct ln_shapes_object *ln_shapes_find(const char *name);

/* The truth mesh of obj: its surface by marching cubes on a grid of `res`
 * cells along the box's largest side, then moved so its bounding box is
 * centred on the origin and scaled so that the box's half diagonal is
 * LN_SHAPES_RADIUS (every view of the default orthographic window, side
 * 1.25, holds it whole) or its largest extent 0.8, whichever is smaller.
 * Normals are set. */
#define LN_SHAPES_RADIUS 0.55f
int ln_shapes_build(const struct ln_shapes_object *obj, int res, struct ln_mesh *out,
                    struct ln_error *err);

/* Albedo (linear-ish RGB in [0, 1]) of the surface at p: checks, stripes
 * and value noise in object space, so every part of the surface looks
 * different from its neighbours a few centimetres away. */
void ln_shapes_albedo(const float p[3], float rgb[3]);

/* A sphere of radius r centred at c (icosphere, `level` subdivisions;
 * level 5: 20 480 faces), and an axis-aligned box of half sides h (each
 * face split into n x n squares), for the metric checks. */
int ln_shapes_sphere(const float c[3], float r, int level, struct ln_mesh *out,
                     struct ln_error *err);
int ln_shapes_box(const float h[3], int n, struct ln_mesh *out, struct ln_error *err);
/* The ellipsoid of half axes h centred at c (a stretched level-5 sphere). */
int ln_shapes_ellipsoid(const float c[3], const float h[3], struct ln_mesh *out,
                        struct ln_error *err);

/* ---- rendering (shapes_render.c) --------------------------------------- */

/* A shaded view of mesh (normals set) through cam: side x side RGB on a
 * light background, Lambert plus ambient from a fixed world light,
 * texture from ln_shapes_albedo, `ss` x `ss` samples per pixel. */
int ln_shapes_render(const struct ln_mesh *mesh, const struct ln_camera *cam, int side, int ss,
                     struct ln_image *out, struct ln_error *err);
/* Another lighting for one view (bench-shapes --lighting): a gain per
 * channel on the stored sRGB values and the world light's direction. */
struct ln_shapes_light {
    float gain[3];
    float dir[3];
};
/* View number `view`'s lighting, from a fixed table (0.85 to 1.15 per
 * channel, the light turned by 5 to 12 degrees about the vertical). */
void ln_shapes_lighting(int view, struct ln_shapes_light *out);
/* ln_shapes_render with light (NULL: the usual one). */
int ln_shapes_render_lit(const struct ln_mesh *mesh, const struct ln_camera *cam, int side, int ss,
                         const struct ln_shapes_light *light, struct ln_image *out,
                         struct ln_error *err);
/* The silhouette of mesh through cam: side x side bytes, 1 where a pixel
 * centre is covered by a face, else 0. */
int ln_shapes_mask(const struct ln_mesh *mesh, const struct ln_camera *cam, int side, uint8_t *mask,
                   struct ln_error *err);
/* RGB through a JPEG of the given quality and back: out is the decoded
 * RGBA image, as the command line would read the file. */
int ln_shapes_jpeg_roundtrip(const struct ln_image *rgb, int quality, struct ln_image *out,
                             size_t *jpeg_bytes, struct ln_error *err);

/* ---- metrics (shapes_metrics.c) ---------------------------------------- */

struct ln_shapes_points {
    size_t n;
    float *xyz; /* 3 per point */
};
void ln_shapes_points_free(struct ln_shapes_points *p);

/* Centres mesh on its bounding box and scales it to a largest extent of 1. */
void ln_shapes_normalise(struct ln_mesh *mesh);

/* n points area-uniformly on the faces of mesh, from a generator seeded
 * with seed (the same seed gives the same points). */
int ln_shapes_sample(const struct ln_mesh *mesh, size_t n, uint64_t seed,
                     struct ln_shapes_points *out, struct ln_error *err);

struct ln_shapes_score {
    double chamfer;   /* (mean_a d(a, B) + mean_b d(b, A)) / 2, Euclidean, not squared */
    double precision; /* share of b (the reconstruction) within tau of a (the truth) */
    double recall;    /* share of a within tau of b */
    double fscore;    /* 2 P R / (P + R), 0 when both are 0 */
};
/* Compares reconstruction points b with truth points a (nearest
 * neighbours by k-d tree, exact). */
int ln_shapes_compare(const struct ln_shapes_points *truth, const struct ln_shapes_points *recon,
                      double tau, struct ln_shapes_score *out, struct ln_error *err);

/* The exact visual hull (up to the grid) of mesh seen from views: each
 * view's silhouette rendered at `mask_side` pixels from the mesh itself,
 * a grid of `res` voxels per side over the cube the views' window covers
 * (as the sculpt engine's), voxels kept whose centre projects inside every
 * silhouette, surface by marching cubes. */
int ln_shapes_visual_hull(const struct ln_mesh *mesh, const struct ln_view *views, int n_views,
                          const struct ln_camera_options *cam, int res, int mask_side,
                          struct ln_mesh *out, struct ln_error *err);

#endif
