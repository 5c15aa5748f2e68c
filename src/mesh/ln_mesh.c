/*
 * The mesh type: allocation, copies, bounds, normals, placement, compaction
 * and statistics. Statistics gather each vertex's outgoing half-edges into
 * sorted lists (a compressed adjacency, no hashing), then one walk over
 * them answers watertightness, the Euler characteristic and boundary size
 * together; a union-find over vertices counts components.
 */
#include "ln_mesh.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_mesh_util.h"

int ln_mesh_alloc(struct ln_mesh *m, size_t nv, size_t nf, int with_colors, struct ln_error *err)
{
    memset(m, 0, sizeof *m);
    m->positions = ln_alloc_array(nv, 3 * sizeof(float), 0, "mesh vertices", err);
    m->indices = ln_alloc_array(nf, 3 * sizeof(uint32_t), 0, "mesh faces", err);
    if (with_colors)
        m->colors = ln_alloc_array(nv, 3 * sizeof(float), 0, "mesh colours", err);
    if (!m->positions || !m->indices || (with_colors && !m->colors)) {
        ln_mesh_free(m);
        return err ? err->code : LN_ENOMEM;
    }
    if (nv > UINT32_MAX) {
        ln_mesh_free(m);
        return ln_error_set(err, LN_ETOOBIG, "mesh has too many vertices (%zu)", nv);
    }
    m->n_vertices = nv;
    m->n_faces = nf;
    return LN_OK;
}

void ln_mesh_free(struct ln_mesh *m)
{
    free(m->positions);
    free(m->normals);
    free(m->colors);
    free(m->indices);
    free(m->uvs);
    free(m->texture.data);
    memset(m, 0, sizeof *m);
}

void ln_mesh_drop_uvs(struct ln_mesh *m)
{
    free(m->uvs);
    free(m->texture.data);
    m->uvs = NULL;
    memset(&m->texture, 0, sizeof m->texture);
}

int ln_mesh_copy(const struct ln_mesh *src, struct ln_mesh *dst, struct ln_error *err)
{
    int rc = ln_mesh_alloc(dst, src->n_vertices, src->n_faces, src->colors != NULL, err);
    if (rc < 0)
        return rc;
    memcpy(dst->positions, src->positions, src->n_vertices * 3 * sizeof(float));
    memcpy(dst->indices, src->indices, src->n_faces * 3 * sizeof(uint32_t));
    if (src->colors)
        memcpy(dst->colors, src->colors, src->n_vertices * 3 * sizeof(float));
    if (src->normals) {
        dst->normals = ln_alloc_array(src->n_vertices, 3 * sizeof(float), 0, "mesh normals", err);
        if (!dst->normals) {
            ln_mesh_free(dst);
            return err ? err->code : LN_ENOMEM;
        }
        memcpy(dst->normals, src->normals, src->n_vertices * 3 * sizeof(float));
    }
    if (src->uvs) {
        dst->uvs = ln_alloc_array(src->n_vertices, 2 * sizeof(float), 0, "mesh UVs", err);
        if (!dst->uvs) {
            ln_mesh_free(dst);
            return err ? err->code : LN_ENOMEM;
        }
        memcpy(dst->uvs, src->uvs, src->n_vertices * 2 * sizeof(float));
    }
    if (src->texture.data) {
        dst->texture.data = ln_alloc_array(src->texture.size, 1, 0, "mesh texture", err);
        if (!dst->texture.data) {
            ln_mesh_free(dst);
            return err ? err->code : LN_ENOMEM;
        }
        memcpy(dst->texture.data, src->texture.data, src->texture.size);
        dst->texture.size = src->texture.size;
        dst->texture.jpeg = src->texture.jpeg;
    }
    return LN_OK;
}

void ln_mesh_bounds(const struct ln_mesh *m, float min[3], float max[3])
{
    if (m->n_vertices == 0) {
        for (int a = 0; a < 3; a++)
            min[a] = max[a] = 0.0f;
        return;
    }
    for (int a = 0; a < 3; a++) {
        min[a] = FLT_MAX;
        max[a] = -FLT_MAX;
    }
    for (size_t i = 0; i < m->n_vertices; i++) {
        const float *p = m->positions + 3 * i;
        for (int a = 0; a < 3; a++) {
            if (p[a] < min[a])
                min[a] = p[a];
            if (p[a] > max[a])
                max[a] = p[a];
        }
    }
}

int ln_mesh_compute_normals(struct ln_mesh *m, struct ln_error *err)
{
    if (!m->normals) {
        m->normals = ln_alloc_array(m->n_vertices, 3 * sizeof(float), 0, "mesh normals", err);
        if (!m->normals)
            return err ? err->code : LN_ENOMEM;
    }
    float *n = m->normals;
    memset(n, 0, m->n_vertices * 3 * sizeof(float));
    /* The unnormalised cross product weights each face by its area. */
    for (size_t f = 0; f < m->n_faces; f++) {
        const uint32_t *t = m->indices + 3 * f;
        const float *a = m->positions + 3 * t[0];
        const float *b = m->positions + 3 * t[1];
        const float *c = m->positions + 3 * t[2];
        float e1[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
        float e2[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
        float fn[3] = {e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2],
                       e1[0] * e2[1] - e1[1] * e2[0]};
        for (int k = 0; k < 3; k++)
            for (int a2 = 0; a2 < 3; a2++)
                n[3 * t[k] + a2] += fn[a2];
    }
    for (size_t i = 0; i < m->n_vertices; i++) {
        float *v = n + 3 * i;
        float len = sqrtf(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
        if (len > 0.0f) {
            v[0] /= len;
            v[1] /= len;
            v[2] /= len;
        } else {
            v[0] = 0.0f; /* isolated or degenerate: any unit vector is valid */
            v[1] = 1.0f;
            v[2] = 0.0f;
        }
    }
    return LN_OK;
}

int ln_mesh_place(struct ln_mesh *m, float size, enum ln_mesh_origin origin,
                  struct ln_error *err)
{
    if (!(size > 0.0f) || !isfinite(size))
        return ln_error_set(err, LN_EINVAL, "size must be a positive number of metres");
    if (m->n_vertices == 0)
        return LN_OK;
    float mn[3], mx[3];
    ln_mesh_bounds(m, mn, mx);
    float extent = fmaxf(mx[0] - mn[0], fmaxf(mx[1] - mn[1], mx[2] - mn[2]));
    float s = extent > 0.0f ? size / extent : 1.0f;
    float c[3] = {0.5f * (mn[0] + mx[0]), 0.5f * (mn[1] + mx[1]), 0.5f * (mn[2] + mx[2])};
    float lift = origin == LN_MESH_ORIGIN_BOTTOM ? 0.5f * (mx[1] - mn[1]) * s : 0.0f;
    for (size_t i = 0; i < m->n_vertices; i++) {
        float *p = m->positions + 3 * i;
        for (int a = 0; a < 3; a++)
            p[a] = (p[a] - c[a]) * s;
        p[1] += lift;
    }
    return LN_OK;
}

int ln_mesh_stats(const struct ln_mesh *m, struct ln_mesh_stats *st, struct ln_error *err)
{
    struct ln_error local;
    if (!err)
        err = &local;
    memset(st, 0, sizeof *st);
    st->n_vertices = m->n_vertices;
    st->n_faces = m->n_faces;
    ln_mesh_bounds(m, st->bbox_min, st->bbox_max);
    int rc = ln__mesh_check_indices(m, err);
    if (rc < 0)
        return rc;
    const size_t nv = m->n_vertices, nf = m->n_faces;
    const uint32_t *idx = m->indices;

    double area = 0.0, volume = 0.0;
    for (size_t f = 0; f < nf; f++) {
        const float *a = m->positions + 3 * idx[3 * f];
        const float *b = m->positions + 3 * idx[3 * f + 1];
        const float *c = m->positions + 3 * idx[3 * f + 2];
        area += ln__mesh_face_area(m->positions, idx + 3 * f);
        /* Divergence theorem: the signed tetrahedra from the origin sum to
         * the enclosed volume, a . (b x c) / 6 each. */
        volume += ((double)a[0] * ((double)b[1] * c[2] - (double)b[2] * c[1]) +
                   (double)a[1] * ((double)b[2] * c[0] - (double)b[0] * c[2]) +
                   (double)a[2] * ((double)b[0] * c[1] - (double)b[1] * c[0])) /
                  6.0;
    }
    st->area = area;
    st->volume = volume;
    if (nv == 0)
        return LN_OK;

    size_t *off = ln_alloc_array(nv + 1, sizeof(size_t), 1, "mesh edge offsets", err);
    uint32_t *to = ln_alloc_array(nf, 3 * sizeof(uint32_t), 0, "mesh edges", err);
    uint32_t *parent = ln_alloc_array(nv, sizeof(uint32_t), 0, "mesh components", err);
    if (!off || !to || !parent) {
        rc = err->code;
        goto done;
    }
    ln__mesh_half_edges(m, off, to);

    size_t n_edges = 0, n_used = 0, n_bad = 0, n_boundary = 0;
    for (size_t v = 0; v < nv; v++) {
        parent[v] = (uint32_t)v;
        if (off[v + 1] > off[v])
            n_used++;
    }
    for (size_t a = 0; a < nv; a++) {
        const uint32_t *list = to + off[a];
        size_t n = off[a + 1] - off[a];
        for (size_t i = 0; i < n;) {
            uint32_t b = list[i];
            size_t ab = 1;
            while (i + ab < n && list[i + ab] == b)
                ab++;
            i += ab;
            if (b == a) {
                n_bad++; /* a degenerate face */
                continue;
            }
            ln__uf_union(parent, (uint32_t)a, b);
            size_t ba = ln__u32_count(to + off[b], off[b + 1] - off[b], (uint32_t)a);
            if (a < b || ba == 0)
                n_edges++;
            if (ba == 0 && ab == 1)
                n_boundary++;
            else if (ab != 1 || ba != 1)
                n_bad++;
        }
    }
    size_t n_comp = 0;
    for (size_t v = 0; v < nv; v++)
        if (off[v + 1] > off[v] && ln__uf_find(parent, (uint32_t)v) == v)
            n_comp++;
    st->n_components = n_comp;
    st->n_boundary_edges = n_boundary;
    st->watertight = nf > 0 && n_boundary == 0 && n_bad == 0;
    st->euler = (long)n_used - (long)n_edges + (long)nf;
    rc = LN_OK;
done:
    free(parent);
    free(to);
    free(off);
    return rc;
}

int ln_mesh_compact(struct ln_mesh *m, struct ln_error *err)
{
    struct ln_error local;
    if (!err)
        err = &local;
    int rc = ln__mesh_check_indices(m, err);
    if (rc < 0)
        return rc;
    uint32_t *remap = ln_alloc_array(m->n_vertices, sizeof(uint32_t), 0, "mesh vertex map", err);
    if (!remap && m->n_vertices > 0)
        return err->code;
    if (remap)
        ln__mesh_compact_in_place(m, remap);
    free(remap);
    return LN_OK;
}
