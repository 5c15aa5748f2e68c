/*
 * A small software renderer for result thumbnails (GET /jobs/{id}/preview.png)
 * and for tests that look at a model: a z-buffered triangle rasteriser with
 * vertex colours and simple shading (a key light from the upper left of the
 * camera plus ambient), over a neutral background, 2x2 supersampled.
 *
 *     struct ln_image png = {0};
 *     ln_render_preview(&mesh, 256, &png, &err);   // three-quarter view
 *     ln_image_save_png(&png, "preview.png", &err);
 *
 * Reentrant; the mesh is only read.
 */
#ifndef LN_RENDER_H
#define LN_RENDER_H

#include "ln_camera.h"
#include "ln_error.h"
#include "ln_image.h"
#include "ln_mesh.h"

struct ln_render_options {
    int size;                /* output side in pixels (square) */
    struct ln_view view;     /* camera direction */
    float background[3];     /* sRGB 0..1 */
    int supersample;         /* 1 or 2 */
};

/* Defaults: 256 px, a three-quarter view (azimuth 35, elevation 20),
 * light grey background, 2x supersampling. */
void ln_render_options_default(struct ln_render_options *opt);

/* Renders the mesh framed to fill about 85% of the image (orthographic,
 * fitted to the mesh's bounding sphere) into out (RGB, 3 channels). Meshes
 * without colours are drawn light grey; without normals, normals are
 * computed on the fly. An empty mesh gives the plain background. */
int ln_render_mesh(const struct ln_mesh *mesh, const struct ln_render_options *opt,
                   struct ln_image *out, struct ln_error *err);

/* ln_render_mesh with the defaults and the given size. */
int ln_render_preview(const struct ln_mesh *mesh, int size, struct ln_image *out,
                      struct ln_error *err);

#endif
