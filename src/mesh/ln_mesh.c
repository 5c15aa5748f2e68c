/*
 * The mesh type: allocation, copies, bounds, normals, placement and
 * statistics. Statistics walk the edges once through a sorted edge list,
 * which answers watertightness, the Euler characteristic and boundary size
 * together.
 */
#include "ln_mesh.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"

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
    memset(m, 0, sizeof *m);
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
