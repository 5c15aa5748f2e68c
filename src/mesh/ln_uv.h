/*
 * A UV atlas for a baked colour texture: the mesh cut into charts, each
 * chart flattened onto a plane and packed with the others into one square
 * texture.
 *
 *     struct ln_uv_options o;
 *     ln_uv_options_default(&o, 2048);
 *     struct ln_uv_atlas a = {0};
 *     ln_uv_atlas_build(&mesh, &o, &a, &err);
 *     // a.mesh: the input with vertices duplicated along seams and
 *     // a.mesh.uvs set; a.source: the input vertex of each.
 *     ln_uv_atlas_free(&a);
 *
 * Charts follow the six box directions (+X, -X, +Y, -Y, +Z, -Z): each face
 * takes the direction closest to its normal, isolated labels are smoothed
 * away, and a chart is a connected set of faces with one label, projected
 * straight onto that direction's plane. Faces meet the plane at up to 60
 * degrees (70 for the faces of a small chart given to a neighbouring
 * direction), so no face is stretched more than about threefold, none is
 * flipped, and every chart has the same scale (texels per metre): texel
 * density is even up to that tilt. A chart that would fold over itself in
 * projection (a spiral ramp) is cut where the overlap would start.
 *
 * UV coordinates follow glTF: (0, 0) is the top-left corner of the texture
 * image, v grows downward; (u, v) * size is a position in texels. Faces keep
 * their order (face f of a.mesh is face f of the input), so a baker can look
 * up anything it knows per input face.
 *
 * Runs on the calling thread: the result depends only on the mesh and the
 * options. Reentrant; the input is only read.
 */
#ifndef LN_UV_H
#define LN_UV_H

#include <stddef.h>
#include <stdint.h>

#include "ln_error.h"
#include "ln_mesh.h"

struct ln_uv_options {
    int texture_size; /* texels per side of the square texture (16 .. 16384) */
    int padding;      /* empty texels around every chart and at the border */
};

/* padding scales with the texture: max(2, size / 256) texels (4 at 1024,
 * 8 at 2048), enough for the mip levels a viewer samples at a distance. */
void ln_uv_options_default(struct ln_uv_options *opt, int texture_size);

struct ln_uv_stats {
    size_t n_charts;
    double utilisation;    /* chart triangles' area / texture area, 0..1 */
    double texels_per_m;   /* the atlas scale: texels per metre on a face parallel to its plane */
    double density_min;    /* per chart: texels per metre (area-weighted over its faces) */
    double density_max;    /*   relative to texels_per_m, in (0, 1] */
    double worst_stretch;  /* the most tilted face: 1 / cos(tilt), at most about 3 */
};

struct ln_uv_atlas {
    struct ln_mesh mesh; /* the input's faces, vertices duplicated along seams, uvs set */
    uint32_t *source;    /* per vertex of mesh: the input's vertex */
    uint32_t *chart;     /* per face: its chart, 0 .. n_charts - 1 */
    struct ln_uv_stats stats;
};

/* Builds the atlas of a mesh with at least one face. LN_EINVAL for bad
 * options or indices, LN_ENOMEM when memory runs out (nothing is left
 * allocated in out then). */
int ln_uv_atlas_build(const struct ln_mesh *in, const struct ln_uv_options *opt,
                      struct ln_uv_atlas *out, struct ln_error *err);
void ln_uv_atlas_free(struct ln_uv_atlas *a);

/* ---- texels: what a baker colours ---- */

#define LN_UV_EMPTY UINT32_MAX

/* Which face each texel of a size x size texture samples, and where: a
 * texel whose centre lies in a face samples that point; a texel a face only
 * touches (conservative coverage: the border texels bilinear filtering
 * reads) samples the face's point closest to its centre. A centre inside a
 * face wins over a touch; between faces, the lower-numbered face wins. */
struct ln_uv_texels {
    int size;
    uint32_t *face; /* size * size, row-major from the top: a face, or LN_UV_EMPTY */
    float *bary;    /* 2 per texel: weights of the face's second and third corner */
    size_t n_inside;
    size_t n_touched;
};

int ln_uv_texels_build(const struct ln_uv_atlas *a, int size, struct ln_uv_texels *t,
                       struct ln_error *err);
/* The surface point a sampled texel stands for, in the mesh's frame. */
void ln_uv_texels_position(const struct ln_uv_atlas *a, const struct ln_uv_texels *t,
                           size_t texel, float p[3]);
void ln_uv_texels_free(struct ln_uv_texels *t);

/* Fills empty texels from their filled neighbours, one ring per pass (at
 * most 253), so the gutters between charts take the colour beside them and
 * a viewer's mip levels do not blend the empty background into the model's
 * edges. pixels: channels (1 to 4) bytes per texel; filled: per texel, 0
 * when empty, 1 when it holds a colour; texels filled here are marked with
 * the ring that filled them plus one. LN_ENOMEM when its lists cannot grow
 * (the rings filled so far stay). */
int ln_uv_dilate(uint8_t *pixels, int channels, uint8_t *filled, int size, int rings,
                 struct ln_error *err);

/* Gives every texel still empty the mean colour of the filled texels
 * around it at the first scale that has any (a pull-push pyramid), so the
 * whole texture is smooth where no chart is: no hard edge for a JPEG's
 * blocks to ring at, nothing dark for distant mip levels to blend in.
 * filled is as ln_uv_dilate leaves it (nonzero: a colour). An empty
 * texture becomes black. LN_ENOMEM when its pyramid cannot be allocated
 * (a third more than the texture; pixels are then unchanged). */
int ln_uv_fill_rest(uint8_t *pixels, int channels, const uint8_t *filled, int size,
                    struct ln_error *err);

#endif
