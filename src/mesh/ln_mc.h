/*
 * Marching cubes on a regular grid. The case table is derived at first use
 * from the cube's topology (no copied table): on each face the iso-contour
 * segments are chosen with a fixed rule for ambiguous faces that depends
 * only on the face's four corners, so two cells that share a face always
 * agree and the surface is crack-free; segments are chained into polygons
 * and fanned into triangles. Vertices on a grid edge are created once and
 * shared by every cell around that edge, so the output is welded and
 * deterministic (independent of the thread count).
 *
 *     // field[(i * ny + j) * nz + k], k fastest (TripoSR's order)
 *     ln_mc_extract(field, nx, ny, nz, iso, origin, spacing, &mesh, &err);
 *
 * Reentrant; uses ln_parallel_for over slabs.
 */
#ifndef LN_MC_H
#define LN_MC_H

#include "ln_error.h"
#include "ln_mesh.h"

/* Extracts the surface {field = iso}, with "inside" where field > iso.
 * Grid point (i, j, k) sits at origin + (i, j, k) * spacing (x, y, z).
 * Faces are counter-clockwise seen from outside (their normal points
 * toward lower values). A surface that reaches the grid's edge is left open
 * there: pad the field with outside values to get a closed mesh. The mesh
 * has no colours or normals. Errors: LN_EINVAL for dimensions < 2,
 * LN_ENOMEM, LN_ETOOBIG. */
int ln_mc_extract(const float *field, int nx, int ny, int nz, float iso, const float origin[3],
                  const float spacing[3], struct ln_mesh *out, struct ln_error *err);

#endif
