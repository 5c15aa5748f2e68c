/*
 * The texture baker shared by every engine (engines floor, not public):
 * after post-processing, the mesh gets a UV atlas (src/mesh/ln_uv.h) and
 * each texel its colour from the engine's colorizer (struct ln_colorizer in
 * ln_engine.h), or from the vertex colours when the engine gave none; the
 * gutters are filled and the texture encoded as PNG into the mesh.
 */
#ifndef LN_BAKE_H
#define LN_BAKE_H

#include "ln_engine.h"

/* Replaces *m by its atlas mesh with the baked texture (m's positions,
 * normals and colours carried over, seams duplicated). size: texels per
 * side. On failure m keeps its geometry (its normals may have been
 * computed). */
int ln__bake(struct ln_mesh *m, const struct ln_colorizer *colorizer, int size, int jpeg,
             struct ln_generate_report *rep, struct ln_error *err);

#endif
