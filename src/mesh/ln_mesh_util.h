/*
 * Helpers shared inside the mesh floor (not part of its public interface):
 * index checks, in-place compaction, per-vertex half-edge lists, sorted
 * vertex-id lists and union-find. Every function is reentrant.
 */
#ifndef LN_MESH_UTIL_H
#define LN_MESH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "ln_error.h"
#include "ln_mesh.h"

/* LN_EINVAL when a face refers to a vertex that does not exist. */
int ln__mesh_check_indices(const struct ln_mesh *m, struct ln_error *err);

/* The area of triangle t (3 vertex numbers) over positions pos. */
double ln__mesh_face_area(const float *pos, const uint32_t *t);

/* Vertex src's position and attributes (normal, colour, UV where the mesh
 * has them) copied to vertex dst; both within the arrays. */
void ln__mesh_copy_vertex(struct ln_mesh *m, size_t dst, size_t src);

/* Drops degenerate faces and unreferenced vertices using caller-provided
 * scratch of n_vertices entries, so it cannot fail. */
void ln__mesh_compact_in_place(struct ln_mesh *m, uint32_t *remap);

/* Outgoing half-edges per vertex: the targets of vertex v are
 * to[off[v] .. off[v + 1]), sorted. off has n_vertices + 1 entries, to has
 * 3 * n_faces. */
void ln__mesh_half_edges(const struct ln_mesh *m, size_t *off, uint32_t *to);

/* ln_mesh_simplify's way for a large closed mesh (ln_mesh_ops.c): its
 * faces simplified in two halves and a band around their cut, into dst
 * (3 n_faces entries). Returns the faces written (at most target), 0
 * where the halves or the band cannot reach their shares (the mesh is
 * then simplified at once), or -1 when out of memory. */
long ln__mesh_simplify_split(const struct ln_mesh *m, size_t target, uint32_t *dst);

/* For tests: the next n results of ln_mesh_simplify's attempts on closed
 * meshes count as not closed, so that its retries at lower targets run
 * (a real result that stays open is rare and not made on purpose). */
void ln__mesh_simplify_reject_next(int n);

/* Sheets of a surface pinched together along an edge (four faces on it,
 * two each way, as simplification leaves in thin parts) separated again:
 * around each end of such an edge, every fan of faces (joined through
 * edges of one face each way) but the first gets a copy of the vertex.
 * On return the faces idx (nf of them, over nv vertices) use p->n new
 * vertices, numbered from nv, copies of p->src[k]; p->src is malloc'd
 * (free it). Returns LN_OK, or LN_ENOMEM with idx unchanged. */
struct ln__pinch {
    uint32_t *src; /* [cap] the vertex each new vertex copies */
    size_t n, cap; /* new vertices, room */
};
int ln__mesh_unpinch(uint32_t *idx, size_t nf, size_t nv, struct ln__pinch *p);
/* What a pinch leaves once separated: most often a sliver of a few faces
 * (a flat tetrahedron) that the collapses folded out of a thin part and
 * that hung on the surface by the pinched edge alone. Of the pieces the
 * separation p made of one part (a component before it), the largest
 * stays, however small, and so do the others of 1 % of the faces or
 * more; the rest are removed. idx keeps *nf faces. parent and count are
 * scratch of 3 (nv + p->n) entries. */
void ln__mesh_drop_pockets(uint32_t *idx, size_t *nf, size_t nv, const struct ln__pinch *p,
                           uint32_t *parent, size_t *count);

/* Sorts a list of vertex ids ascending. */
void ln__u32_sort(uint32_t *v, size_t n);
/* How many times x occurs in the sorted list v. */
size_t ln__u32_count(const uint32_t *v, size_t n, uint32_t x);

/* Union-find over vertex ids; the smaller root wins, so the result does not
 * depend on the order of the unions. */
uint32_t ln__uf_find(uint32_t *parent, uint32_t x);
void ln__uf_union(uint32_t *parent, uint32_t a, uint32_t b);

#endif
