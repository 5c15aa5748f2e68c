/*
 * The triangle mesh every engine produces and every exporter writes, and the
 * clean-up that runs between them: weld, keep the main component, fill
 * small holes, Taubin smoothing, simplification (meshoptimizer), normals,
 * and placement (--size, --origin).
 *
 * Conventions: positions in metres in the product frame (right-handed, +Y
 * up, +Z toward the viewer of the front image); faces counter-clockwise
 * seen from outside, so (v1 - v0) x (v2 - v0) points outward; colours are
 * sRGB-encoded in [0, 1] (exporters convert where a format wants linear).
 *
 *     struct ln_mesh m = {0};
 *     ln_mc_extract(field, n, n, n, 0.0f, origin, spacing, &m, &err);
 *     ln_mesh_keep_main_component(&m, &err);
 *     ln_mesh_simplify(&m, 50000, &err);
 *     ln_mesh_compute_normals(&m, &err);
 *     ln_mesh_free(&m);
 *
 * A mesh owns its arrays. Functions are reentrant; the heavy ones may use
 * ln_parallel_for internally.
 */
#ifndef LN_MESH_H
#define LN_MESH_H

#include <stddef.h>
#include <stdint.h>

#include "ln_error.h"

/* An encoded image (PNG or JPEG bytes) that a mesh's UVs index: its base
 * colour, sRGB. */
struct ln_mesh_texture {
    uint8_t *data; /* NULL when the mesh has no texture */
    size_t size;
    int jpeg; /* 0: PNG, 1: JPEG */
};

struct ln_mesh {
    size_t n_vertices;
    size_t n_faces;
    float *positions;  /* 3 per vertex */
    float *normals;    /* 3 per vertex, unit length, or NULL */
    float *colors;     /* 3 per vertex, sRGB in [0, 1], or NULL */
    uint32_t *indices; /* 3 per face */
    /* 2 per vertex, or NULL: texture coordinates with glTF's convention,
     * (0, 0) the image's top-left corner, v downward. Made last (ln_uv.h):
     * the operations below that merge vertices or add faces (weld, hole
     * filling) drop them and the texture; the others keep them. */
    float *uvs;
    struct ln_mesh_texture texture;
};

/* Allocates arrays for nv vertices and nf faces (normals not allocated;
 * colours when with_colors). Contents are uninitialised. Any previous
 * arrays of m are not freed: pass a zeroed mesh. */
int ln_mesh_alloc(struct ln_mesh *m, size_t nv, size_t nf, int with_colors, struct ln_error *err);
void ln_mesh_free(struct ln_mesh *m);
/* Deep copy. */
int ln_mesh_copy(const struct ln_mesh *src, struct ln_mesh *dst, struct ln_error *err);
/* Frees the UVs and the texture (the mesh keeps its vertex colours). */
void ln_mesh_drop_uvs(struct ln_mesh *m);

struct ln_mesh_stats {
    size_t n_vertices;
    size_t n_faces;
    float bbox_min[3];
    float bbox_max[3];
    int watertight;      /* every edge shared by exactly two faces, in opposite directions */
    long euler;          /* V - E + F */
    size_t n_components; /* connected by shared vertices */
    size_t n_boundary_edges;
    double area;         /* square metres */
    double volume;       /* signed, positive for outward-facing closed meshes */
};

int ln_mesh_stats(const struct ln_mesh *m, struct ln_mesh_stats *st, struct ln_error *err);

/* Merges vertices closer than eps (eps 0: exact equality), dropping faces
 * that become degenerate. Colours and normals of merged vertices are
 * averaged. */
int ln_mesh_weld(struct ln_mesh *m, float eps, struct ln_error *err);

/* Keeps only the connected component with the largest area (drops
 * floaters). */
int ln_mesh_keep_main_component(struct ln_mesh *m, struct ln_error *err);

/* Closes boundary loops of at most max_edges edges with new triangles
 * (colour of the new area from the loop's vertices). Returns the number of
 * holes filled (>= 0) or a negative error. */
int ln_mesh_fill_holes(struct ln_mesh *m, int max_edges, struct ln_error *err);

/* Taubin lambda|mu smoothing (shrink-free), `iterations` pairs of steps
 * with uniform (umbrella) weights. lambda > 0, mu < -lambda; typical 0.5 and
 * -0.53. Boundary vertices stay fixed. */
int ln_mesh_smooth_taubin(struct ln_mesh *m, int iterations, float lambda, float mu,
                          struct ln_error *err);

/* Simplifies to at most target_faces faces with meshoptimizer (attributes
 * carried), then drops unreferenced vertices. No-op when the mesh already
 * has no more faces. */
int ln_mesh_simplify(struct ln_mesh *m, size_t target_faces, struct ln_error *err);

/* Removes unreferenced vertices and degenerate faces (repeated index). */
int ln_mesh_compact(struct ln_mesh *m, struct ln_error *err);

/* Area-weighted vertex normals (allocates m->normals if needed). */
int ln_mesh_compute_normals(struct ln_mesh *m, struct ln_error *err);

/* Bounding box; zeros for an empty mesh. */
void ln_mesh_bounds(const struct ln_mesh *m, float min[3], float max[3]);

enum ln_mesh_origin {
    LN_MESH_ORIGIN_CENTER, /* bounding-box centre at (0, 0, 0) */
    LN_MESH_ORIGIN_BOTTOM, /* centred in x and z, lowest point at y = 0 */
};

/* Scales uniformly so the largest bounding-box extent is `size`, and moves
 * the mesh per origin. */
int ln_mesh_place(struct ln_mesh *m, float size, enum ln_mesh_origin origin,
                  struct ln_error *err);

#endif
