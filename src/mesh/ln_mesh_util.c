/* Shared mesh-floor helpers; see ln_mesh_util.h. */
#include "ln_mesh_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ln_threads.h"

int ln__mesh_check_indices(const struct ln_mesh *m, struct ln_error *err)
{
    const size_t n = 3 * m->n_faces;
    for (size_t i = 0; i < n; i++)
        if (m->indices[i] >= m->n_vertices)
            return ln_error_set(err, LN_EINVAL, "mesh face %zu refers to vertex %u of %zu", i / 3,
                                (unsigned)m->indices[i], m->n_vertices);
    return LN_OK;
}

/* New vertex ids never exceed old ones, which lets the arrays compact in
 * place. */
double ln__mesh_face_area(const float *pos, const uint32_t *t)
{
    const float *a = pos + 3 * (size_t)t[0], *b = pos + 3 * (size_t)t[1],
                *c = pos + 3 * (size_t)t[2];
    const double u[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
    const double w[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
    const double x = u[1] * w[2] - u[2] * w[1], y = u[2] * w[0] - u[0] * w[2],
                 z = u[0] * w[1] - u[1] * w[0];
    return 0.5 * sqrt(x * x + y * y + z * z);
}

void ln__mesh_copy_vertex(struct ln_mesh *m, size_t dst, size_t src)
{
    memcpy(m->positions + 3 * dst, m->positions + 3 * src, 3 * sizeof(float));
    if (m->normals)
        memcpy(m->normals + 3 * dst, m->normals + 3 * src, 3 * sizeof(float));
    if (m->colors)
        memcpy(m->colors + 3 * dst, m->colors + 3 * src, 3 * sizeof(float));
    if (m->uvs)
        memcpy(m->uvs + 2 * dst, m->uvs + 2 * src, 2 * sizeof(float));
}

void ln__mesh_compact_in_place(struct ln_mesh *m, uint32_t *remap)
{
    const uint32_t unused = UINT32_MAX;
    uint32_t *idx = m->indices;
    size_t nf = 0;
    for (size_t f = 0; f < m->n_faces; f++) {
        uint32_t a = idx[3 * f], b = idx[3 * f + 1], c = idx[3 * f + 2];
        if (a == b || b == c || a == c)
            continue;
        idx[3 * nf] = a;
        idx[3 * nf + 1] = b;
        idx[3 * nf + 2] = c;
        nf++;
    }
    for (size_t v = 0; v < m->n_vertices; v++)
        remap[v] = unused;
    for (size_t i = 0; i < 3 * nf; i++)
        remap[idx[i]] = 0;
    size_t nv = 0;
    for (size_t v = 0; v < m->n_vertices; v++) {
        if (remap[v] == unused)
            continue;
        remap[v] = (uint32_t)nv;
        if (nv != v)
            ln__mesh_copy_vertex(m, nv, v);
        nv++;
    }
    for (size_t i = 0; i < 3 * nf; i++)
        idx[i] = remap[idx[i]];
    m->n_vertices = nv;
    m->n_faces = nf;
}

struct ln__lists {
    const size_t *off;
    uint32_t *to;
};

static void ln__sort_lists(void *vctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct ln__lists *c = vctx;
    for (size_t v = begin; v < end; v++)
        ln__u32_sort(c->to + c->off[v], c->off[v + 1] - c->off[v]);
}

void ln__mesh_half_edges(const struct ln_mesh *m, size_t *off, uint32_t *to)
{
    const size_t nv = m->n_vertices, nf = m->n_faces;
    const uint32_t *idx = m->indices;
    memset(off, 0, (nv + 1) * sizeof *off);
    for (size_t i = 0; i < 3 * nf; i++)
        off[idx[i] + 1]++;
    for (size_t v = 0; v < nv; v++)
        off[v + 1] += off[v];
    for (size_t f = 0; f < nf; f++)
        for (int t = 0; t < 3; t++)
            to[off[idx[3 * f + t]]++] = idx[3 * f + (t + 1) % 3];
    for (size_t v = nv; v > 0; v--)
        off[v] = off[v - 1];
    off[0] = 0;
    /* Each list is sorted on its own: the same lists on any thread count. */
    struct ln__lists c = {off, to};
    ln_parallel_for(nv, 16384, ln__sort_lists, &c);
}

static int ln__u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Adjacency lists are a handful long, so insertion sort wins; the rare long
 * one (a fan centre) goes to qsort. */
void ln__u32_sort(uint32_t *v, size_t n)
{
    if (n > 32) {
        qsort(v, n, sizeof *v, ln__u32_cmp);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        uint32_t x = v[i];
        size_t j = i;
        for (; j > 0 && v[j - 1] > x; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

size_t ln__u32_count(const uint32_t *v, size_t n, uint32_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t c = 0;
    while (lo + c < n && v[lo + c] == x)
        c++;
    return c;
}

uint32_t ln__uf_find(uint32_t *parent, uint32_t x)
{
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

void ln__uf_union(uint32_t *parent, uint32_t a, uint32_t b)
{
    a = ln__uf_find(parent, a);
    b = ln__uf_find(parent, b);
    if (a < b)
        parent[b] = a;
    else if (b < a)
        parent[a] = b;
}
