/*
 * Mesh clean-up between extraction and export: welding, keeping the main
 * component, filling small holes, Taubin smoothing and simplification.
 * Every operation allocates all it needs before it changes the mesh, so an
 * out-of-memory failure leaves the mesh as it was. Adjacency is built as
 * compressed per-vertex lists (offsets + targets) rather than hash maps:
 * two flat arrays, cache-friendly and deterministic.
 */
#include "ln_mesh.h"

#include <float.h>
#include <math.h>
#include <meshoptimizer.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_mesh_util.h"
#include "ln_threads.h"

#define LN__NONE UINT32_MAX

/* Normals are kept only if the mesh had them; they cannot fail to
 * recompute because the array already exists. */
static void ln__ops_refresh_normals(struct ln_mesh *m)
{
    if (m->normals)
        ln_mesh_compute_normals(m, NULL);
}

/* ---- weld ---- */

static uint64_t ln__hash3(int64_t x, int64_t y, int64_t z)
{
    uint64_t h = (uint64_t)x * 0x9e3779b97f4a7c15ull;
    h ^= (uint64_t)y * 0xc2b2ae3d27d4eb4full + (h << 6) + (h >> 2);
    h ^= (uint64_t)z * 0x165667b19e3779f9ull + (h << 6) + (h >> 2);
    return h ^ (h >> 29);
}

static int64_t ln__cell(float v, float inv)
{
    double c = floor((double)v * inv);
    if (!(c > -4e18))
        return INT64_MIN / 2; /* also NaN */
    if (c > 4e18)
        return INT64_MAX / 2;
    return (int64_t)c;
}

/* Bit pattern of a coordinate with -0 folded onto +0, for exact welding. */
static int64_t ln__exact_key(float v)
{
    uint32_t u;
    if (v == 0.0f)
        v = 0.0f;
    memcpy(&u, &v, sizeof u);
    return (int64_t)u;
}

int ln_mesh_weld(struct ln_mesh *m, float eps, struct ln_error *err)
{
    struct ln_error local;
    if (!err)
        err = &local;
    if (!(eps >= 0.0f) || !isfinite(eps))
        return ln_error_set(err, LN_EINVAL, "weld distance must be a finite number >= 0");
    int rc = ln__mesh_check_indices(m, err);
    if (rc < 0)
        return rc;
    const size_t nv = m->n_vertices;
    if (nv == 0)
        return LN_OK;
    size_t n_slots = 1;
    while (n_slots < 2 * nv)
        n_slots <<= 1;
    uint32_t *remap = ln_alloc_array(nv, sizeof(uint32_t), 0, "weld map", err);
    uint32_t *next = ln_alloc_array(nv, sizeof(uint32_t), 0, "weld chains", err);
    uint32_t *count = ln_alloc_array(nv, sizeof(uint32_t), 1, "weld counts", err);
    uint32_t *head = ln_alloc_array(n_slots, sizeof(uint32_t), 0, "weld table", err);
    if (!remap || !next || !count || !head) {
        rc = err->code;
        goto done;
    }
    for (size_t s = 0; s < n_slots; s++)
        head[s] = LN__NONE;
    const uint64_t slot_mask = n_slots - 1;
    const float inv = eps > 0.0f ? 1.0f / eps : 0.0f;
    const double eps2 = (double)eps * eps;
    float *pos = m->positions;

    /* Representatives are the first vertex of each cluster, in input order.
     * Each takes the next new id, never larger than its old one, and its
     * data moves to that slot at once (every slot below v has been read
     * already), so candidates are compared at their new ids. */
    size_t n_reps = 0;
    for (size_t v = 0; v < nv; v++) {
        const float *p = pos + 3 * v;
        uint32_t found = LN__NONE;
        int64_t c[3];
        if (eps == 0.0f) {
            for (int a = 0; a < 3; a++)
                c[a] = ln__exact_key(p[a]);
            for (uint32_t r = head[ln__hash3(c[0], c[1], c[2]) & slot_mask]; r != LN__NONE;
                 r = next[r]) {
                const float *q = pos + 3 * (size_t)r;
                if (q[0] == p[0] && q[1] == p[1] && q[2] == p[2]) {
                    found = r;
                    break;
                }
            }
        } else {
            for (int a = 0; a < 3; a++)
                c[a] = ln__cell(p[a], inv);
            for (int d = 0; d < 27 && found == LN__NONE; d++) {
                uint64_t h = ln__hash3(c[0] + d % 3 - 1, c[1] + d / 3 % 3 - 1, c[2] + d / 9 - 1);
                for (uint32_t r = head[h & slot_mask]; r != LN__NONE; r = next[r]) {
                    const float *q = pos + 3 * (size_t)r;
                    double dx = (double)q[0] - p[0], dy = (double)q[1] - p[1],
                           dz = (double)q[2] - p[2];
                    if (dx * dx + dy * dy + dz * dz < eps2) {
                        found = r;
                        break;
                    }
                }
            }
        }
        if (found != LN__NONE) {
            remap[v] = found;
            count[found]++;
            for (int a = 0; a < 3; a++) {
                if (m->colors)
                    m->colors[3 * (size_t)found + a] += m->colors[3 * v + a];
                if (m->normals)
                    m->normals[3 * (size_t)found + a] += m->normals[3 * v + a];
            }
            continue;
        }
        uint32_t r = (uint32_t)n_reps++;
        if (r != v) {
            memcpy(pos + 3 * (size_t)r, p, 3 * sizeof(float));
            if (m->colors)
                memcpy(m->colors + 3 * (size_t)r, m->colors + 3 * v, 3 * sizeof(float));
            if (m->normals)
                memcpy(m->normals + 3 * (size_t)r, m->normals + 3 * v, 3 * sizeof(float));
        }
        remap[v] = r;
        count[r] = 1;
        uint64_t h = ln__hash3(c[0], c[1], c[2]) & slot_mask;
        next[r] = head[h];
        head[h] = r;
    }
    for (size_t r = 0; r < n_reps; r++) {
        float k = 1.0f / (float)count[r];
        for (int a = 0; a < 3; a++)
            if (m->colors)
                m->colors[3 * r + a] *= k;
        if (m->normals) {
            float *n = m->normals + 3 * r;
            float len = sqrtf(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
            if (len > 0.0f)
                for (int a = 0; a < 3; a++)
                    n[a] /= len;
        }
    }
    /* merged vertices may have had different texture coordinates */
    ln_mesh_drop_uvs(m);
    for (size_t i = 0; i < 3 * m->n_faces; i++)
        m->indices[i] = remap[m->indices[i]];
    m->n_vertices = n_reps;
    ln__mesh_compact_in_place(m, remap);
    rc = LN_OK;
done:
    free(head);
    free(count);
    free(next);
    free(remap);
    return rc;
}

/* ---- main component ---- */

int ln_mesh_keep_main_component(struct ln_mesh *m, struct ln_error *err)
{
    struct ln_error local;
    if (!err)
        err = &local;
    int rc = ln__mesh_check_indices(m, err);
    if (rc < 0)
        return rc;
    const size_t nv = m->n_vertices, nf = m->n_faces;
    if (nf == 0)
        return LN_OK;
    uint32_t *parent = ln_alloc_array(nv, sizeof(uint32_t), 0, "component labels", err);
    double *area = ln_alloc_array(nv, sizeof(double), 1, "component areas", err);
    if (!parent || !area) {
        rc = err->code;
        goto done;
    }
    const uint32_t *idx = m->indices;
    for (size_t v = 0; v < nv; v++)
        parent[v] = (uint32_t)v;
    for (size_t f = 0; f < nf; f++) {
        ln__uf_union(parent, idx[3 * f], idx[3 * f + 1]);
        ln__uf_union(parent, idx[3 * f + 1], idx[3 * f + 2]);
    }
    for (size_t f = 0; f < nf; f++) {
        const float *a = m->positions + 3 * idx[3 * f];
        const float *b = m->positions + 3 * idx[3 * f + 1];
        const float *c = m->positions + 3 * idx[3 * f + 2];
        double e1[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
        double e2[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
        double n[3] = {e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2],
                       e1[0] * e2[1] - e1[1] * e2[0]};
        area[ln__uf_find(parent, idx[3 * f])] += sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
    }
    uint32_t best = ln__uf_find(parent, idx[0]);
    for (size_t v = 0; v < nv; v++)
        if (parent[v] == v && area[v] > area[best])
            best = (uint32_t)v;
    size_t kept = 0;
    uint32_t *out = m->indices;
    for (size_t f = 0; f < nf; f++) {
        if (ln__uf_find(parent, idx[3 * f]) != best)
            continue;
        memmove(out + 3 * kept, idx + 3 * f, 3 * sizeof(uint32_t));
        kept++;
    }
    m->n_faces = kept;
    ln__mesh_compact_in_place(m, parent);
    rc = LN_OK;
done:
    free(area);
    free(parent);
    return rc;
}

/* ---- hole filling ---- */

/* Grows one mesh array to n elements of 3 floats or indices; on failure the
 * old array stays in place (the mesh is still valid with its old counts). */
static int ln__grow(void **p, size_t n, size_t elem, const char *what, struct ln_error *err)
{
    size_t bytes;
    if (ln_size_mul(n, elem, &bytes) < 0)
        return ln_error_set(err, LN_ETOOBIG, "%s is too large", what);
    void *q = ln_realloc(*p, bytes);
    if (!q)
        return ln_error_set(err, LN_ENOMEM, "out of memory growing %s", what);
    *p = q;
    return LN_OK;
}

/* The state of one hole filling: the half-edges as compressed per-vertex
 * lists, their state, and the loops short enough to close. */
struct ln__holes {
    size_t *off;     /* [nv + 1] first half-edge leaving each vertex */
    uint32_t *to;    /* [3 nf] half-edge targets */
    uint8_t *state;  /* [3 nf] 1 boundary half-edge (its twin is missing), 2 traced */
    uint32_t *loops; /* [3 nf] the vertices of the recorded loops, one after another */
    size_t *starts;  /* [n_loops + 1] where each loop starts in loops */
    size_t n_boundary, n_loops;
    size_t add_v, add_f; /* vertices and faces closing the loops adds */
};

/* Marks the boundary half-edges of m in hs->state and counts them. */
static void ln__holes_mark_boundary(const struct ln_mesh *m, struct ln__holes *hs)
{
    const size_t *off = hs->off;
    const uint32_t *to = hs->to;
    for (size_t a = 0; a < m->n_vertices; a++)
        for (size_t h = off[a]; h < off[a + 1]; h++) {
            uint32_t b = to[h];
            if (ln__u32_count(to + off[b], off[b + 1] - off[b], (uint32_t)a) == 0) {
                hs->state[h] = 1;
                hs->n_boundary++;
            }
        }
}

/* Walks the boundary from half-edge h0 leaving a: from a boundary
 * half-edge continue with an untraced boundary half-edge leaving its
 * target, until the walk returns to a. Marks the half-edges traced,
 * writes the first max_edges vertices at loops + base and the length into
 * *len; returns whether the loop closed. */
static int ln__holes_walk(struct ln__holes *hs, uint32_t a, size_t h0, int max_edges, size_t base,
                          size_t *len)
{
    const size_t *off = hs->off;
    const uint32_t *to = hs->to;
    uint8_t *state = hs->state;
    uint32_t cur = a;
    size_t h = h0, n = 0;
    int closed = 0;
    for (;;) {
        state[h] = 2;
        if (n < (size_t)max_edges)
            hs->loops[base + n] = cur;
        n++;
        cur = to[h];
        if (cur == a) {
            closed = 1;
            break;
        }
        size_t hn = off[cur + 1];
        for (size_t g = off[cur]; g < off[cur + 1]; g++)
            if (state[g] == 1) {
                hn = g;
                break;
            }
        if (hn == off[cur + 1])
            break; /* a non-manifold tangle: leave it open */
        h = hn;
    }
    *len = n;
    return closed;
}

/* Traces every boundary loop; records those closed and of 3 to max_edges
 * edges in hs->loops and hs->starts, and what closing them adds. */
static void ln__holes_trace(const struct ln_mesh *m, int max_edges, struct ln__holes *hs)
{
    size_t n_loop_verts = 0;
    hs->starts[0] = 0;
    for (size_t a = 0; a < m->n_vertices; a++) {
        for (size_t h0 = hs->off[a]; h0 < hs->off[a + 1]; h0++) {
            if (hs->state[h0] != 1)
                continue;
            size_t len;
            int closed = ln__holes_walk(hs, (uint32_t)a, h0, max_edges, n_loop_verts, &len);
            if (!closed || len < 3 || len > (size_t)max_edges)
                continue;
            n_loop_verts += len;
            hs->starts[++hs->n_loops] = n_loop_verts;
            hs->add_v += len > 3;
            hs->add_f += len > 3 ? len : 1;
        }
    }
}

/* Grows the arrays of m to new_nv vertices and new_nf faces; on failure
 * the mesh keeps its counts and stays valid. */
static int ln__holes_grow(struct ln_mesh *m, size_t new_nv, size_t new_nf, struct ln_error *err)
{
    int rc;
    if (new_nv > UINT32_MAX)
        return ln_error_set(err, LN_ETOOBIG, "mesh has too many vertices (%zu)", new_nv);
    if ((rc = ln__grow((void **)&m->positions, new_nv, 3 * sizeof(float), "mesh vertices", err)) <
            0 ||
        (rc = ln__grow((void **)&m->indices, new_nf, 3 * sizeof(uint32_t), "mesh faces", err)) <
            0 ||
        (m->colors && (rc = ln__grow((void **)&m->colors, new_nv, 3 * sizeof(float), "mesh colours",
                                     err)) < 0) ||
        (m->normals &&
         (rc = ln__grow((void **)&m->normals, new_nv, 3 * sizeof(float), "mesh normals", err)) < 0))
        return rc;
    return LN_OK;
}

/* Closes the recorded loops into the grown arrays of m, after its nv
 * vertices and nf faces: a triangle closes a loop of three, a fan around a
 * new vertex at the centroid (position and colour) a longer one. */
static void ln__holes_close(struct ln_mesh *m, size_t nv, size_t nf, const struct ln__holes *hs)
{
    size_t v_out = nv, f_out = nf;
    for (size_t l = 0; l < hs->n_loops; l++) {
        const uint32_t *loop = hs->loops + hs->starts[l];
        size_t n = hs->starts[l + 1] - hs->starts[l];
        uint32_t *t = m->indices + 3 * f_out;
        if (n == 3) {
            /* Reverse of the loop, so each new edge pairs with its twin. */
            t[0] = loop[2];
            t[1] = loop[1];
            t[2] = loop[0];
            f_out++;
            continue;
        }
        double c[3] = {0, 0, 0}, col[3] = {0, 0, 0};
        for (size_t i = 0; i < n; i++)
            for (int a = 0; a < 3; a++) {
                c[a] += m->positions[3 * (size_t)loop[i] + a];
                if (m->colors)
                    col[a] += m->colors[3 * (size_t)loop[i] + a];
            }
        for (int a = 0; a < 3; a++) {
            m->positions[3 * v_out + a] = (float)(c[a] / (double)n);
            if (m->colors)
                m->colors[3 * v_out + a] = (float)(col[a] / (double)n);
        }
        for (size_t i = 0; i < n; i++) {
            t[3 * i] = (uint32_t)v_out;
            t[3 * i + 1] = loop[(i + 1) % n];
            t[3 * i + 2] = loop[i];
        }
        f_out += n;
        v_out++;
    }
}

int ln_mesh_fill_holes(struct ln_mesh *m, int max_edges, struct ln_error *err)
{
    struct ln_error local;
    if (!err)
        err = &local;
    int rc = ln__mesh_check_indices(m, err);
    if (rc < 0)
        return rc;
    const size_t nv = m->n_vertices, nf = m->n_faces;
    if (nf == 0 || max_edges < 3)
        return 0;
    struct ln__holes hs = {0};
    hs.off = ln_alloc_array(nv + 1, sizeof(size_t), 0, "hole edge offsets", err);
    hs.to = ln_alloc_array(nf, 3 * sizeof(uint32_t), 0, "hole edges", err);
    hs.state = ln_alloc_array(nf, 3, 1, "hole edge flags", err);
    hs.loops = ln_alloc_array(nf, 3 * sizeof(uint32_t), 0, "hole loops", err);
    if (!hs.off || !hs.to || !hs.state || !hs.loops) {
        rc = err->code;
        goto done;
    }
    ln__mesh_half_edges(m, hs.off, hs.to);
    ln__holes_mark_boundary(m, &hs);
    if (hs.n_boundary == 0) {
        rc = 0;
        goto done;
    }
    hs.starts = ln_alloc_array(hs.n_boundary + 1, sizeof(size_t), 0, "hole list", err);
    if (!hs.starts) {
        rc = err->code;
        goto done;
    }
    ln__holes_trace(m, max_edges, &hs);
    if (hs.n_loops == 0) {
        rc = 0;
        goto done;
    }
    if ((rc = ln__holes_grow(m, nv + hs.add_v, nf + hs.add_f, err)) < 0)
        goto done;
    ln__holes_close(m, nv, nf, &hs);
    ln_mesh_drop_uvs(m); /* the new faces have none */
    m->n_vertices = nv + hs.add_v;
    m->n_faces = nf + hs.add_f;
    ln__ops_refresh_normals(m);
    rc = (int)(hs.n_loops > INT32_MAX ? INT32_MAX : hs.n_loops);
done:
    free(hs.starts);
    free(hs.loops);
    free(hs.state);
    free(hs.to);
    free(hs.off);
    return rc;
}

/* ---- Taubin smoothing ---- */

struct ln__smooth_ctx {
    const float *src;
    float *dst;
    const size_t *off;
    const uint32_t *adj;
    const uint8_t *fixed;
    float factor;
};

static void ln__smooth_step(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__smooth_ctx *c = vctx;
    const float *restrict src = c->src;
    float *restrict dst = c->dst;
    const size_t *restrict off = c->off;
    const uint32_t *restrict adj = c->adj;
    const float f = c->factor;
    for (size_t v = begin; v < end; v++) {
        const float *p = src + 3 * v;
        size_t n = off[v + 1] - off[v];
        if (c->fixed[v] || n == 0) {
            dst[3 * v] = p[0];
            dst[3 * v + 1] = p[1];
            dst[3 * v + 2] = p[2];
            continue;
        }
        float s[3] = {0, 0, 0};
        for (size_t e = off[v]; e < off[v + 1]; e++) {
            const float *q = src + 3 * (size_t)adj[e];
            s[0] += q[0];
            s[1] += q[1];
            s[2] += q[2];
        }
        float inv = 1.0f / (float)n;
        for (int a = 0; a < 3; a++)
            dst[3 * v + a] = p[a] + f * (s[a] * inv - p[a]);
    }
}

int ln_mesh_smooth_taubin(struct ln_mesh *m, int iterations, float lambda, float mu,
                          struct ln_error *err)
{
    struct ln_error local;
    if (!err)
        err = &local;
    if (iterations < 0 || !(lambda > 0.0f) || !(mu < -lambda) || !isfinite(mu))
        return ln_error_set(err, LN_EINVAL,
                            "Taubin smoothing needs iterations >= 0, lambda > 0, mu < -lambda");
    int rc = ln__mesh_check_indices(m, err);
    if (rc < 0)
        return rc;
    const size_t nv = m->n_vertices, nf = m->n_faces;
    if (iterations == 0 || nf == 0)
        return LN_OK;
    size_t *off = ln_alloc_array(nv + 1, sizeof(size_t), 1, "smoothing offsets", err);
    uint32_t *adj = ln_alloc_array(nf, 6 * sizeof(uint32_t), 0, "smoothing adjacency", err);
    uint8_t *fixed = ln_alloc_array(nv, 1, 1, "smoothing flags", err);
    float *tmp = ln_alloc_array(nv, 3 * sizeof(float), 0, "smoothing positions", err);
    if (!off || !adj || !fixed || !tmp) {
        rc = err->code;
        goto done;
    }
    /* Each undirected edge is listed at both ends once per face using it:
     * twice inside a closed surface, once on a boundary. */
    const uint32_t *idx = m->indices;
    for (size_t i = 0; i < 3 * nf; i++)
        off[idx[i] + 1] += 2;
    for (size_t v = 0; v < nv; v++)
        off[v + 1] += off[v];
    for (size_t f = 0; f < nf; f++)
        for (int t = 0; t < 3; t++) {
            uint32_t a = idx[3 * f + t], b = idx[3 * f + (t + 1) % 3];
            adj[off[a]++] = b;
            adj[off[b]++] = a;
        }
    for (size_t v = nv; v > 0; v--)
        off[v] = off[v - 1];
    off[0] = 0;
    /* Sort each list, mark both ends of edges used other than twice, and
     * drop the repeats in place; the write position never passes the read
     * one, and `begin` keeps each list's old start once off[] is rewritten. */
    size_t w = 0, begin = 0;
    for (size_t v = 0; v < nv; v++) {
        size_t end = off[v + 1];
        ln__u32_sort(adj + begin, end - begin);
        off[v] = w;
        for (size_t i = begin; i < end;) {
            size_t run = 1;
            while (i + run < end && adj[i + run] == adj[i])
                run++;
            if (run != 2) {
                fixed[v] = 1;
                fixed[adj[i]] = 1;
            }
            adj[w++] = adj[i];
            i += run;
        }
        begin = end;
    }
    off[nv] = w;

    struct ln__smooth_ctx c = {.off = off, .adj = adj, .fixed = fixed};
    float *a = m->positions, *b = tmp;
    for (int it = 0; it < iterations; it++) {
        for (int s = 0; s < 2; s++) {
            c.src = a;
            c.dst = b;
            c.factor = s == 0 ? lambda : mu;
            ln_parallel_for(nv, 4096, ln__smooth_step, &c);
            float *t = a;
            a = b;
            b = t;
        }
    }
    /* An even number of steps ends in the original array. */
    ln__ops_refresh_normals(m);
    rc = LN_OK;
done:
    free(tmp);
    free(fixed);
    free(adj);
    free(off);
    return rc;
}

/* ---- simplification ---- */

/* Face key for finding coincident faces: the sorted vertex triple. */
struct ln__face_key {
    uint32_t v[3];
    uint32_t face;
};

static int ln__face_key_cmp(const void *pa, const void *pb)
{
    const struct ln__face_key *a = pa, *b = pb;
    for (int k = 0; k < 3; k++)
        if (a->v[k] != b->v[k])
            return a->v[k] < b->v[k] ? -1 : 1;
    return 0;
}

/* Edge collapses can fold a thin part flat, leaving two faces on the same
 * three vertices (a zero-volume flap) whose edges are then used four times.
 * Removing every face that shares its vertex set with another restores a
 * manifold surface there. Returns the number of faces removed, or -1 when
 * out of memory (the mesh is then unchanged). */
static long ln__remove_flaps(struct ln_mesh *m)
{
    size_t nf = m->n_faces;
    struct ln__face_key *keys = ln_malloc(nf * sizeof *keys + 1);
    if (!keys)
        return -1;
    for (size_t f = 0; f < nf; f++) {
        uint32_t a = m->indices[3 * f], b = m->indices[3 * f + 1], c = m->indices[3 * f + 2];
        uint32_t t;
        if (a > b) {
            t = a;
            a = b;
            b = t;
        }
        if (b > c) {
            t = b;
            b = c;
            c = t;
        }
        if (a > b) {
            t = a;
            a = b;
            b = t;
        }
        keys[f] = (struct ln__face_key){{a, b, c}, (uint32_t)f};
    }
    qsort(keys, nf, sizeof *keys, ln__face_key_cmp);
    long removed = 0;
    for (size_t i = 0; i < nf;) {
        size_t j = i + 1;
        while (j < nf && ln__face_key_cmp(&keys[i], &keys[j]) == 0)
            j++;
        if (j - i > 1) {
            for (size_t k = i; k < j; k++) {
                uint32_t *t = m->indices + 3 * keys[k].face;
                t[1] = t[2] = t[0]; /* degenerate: dropped by the compaction below */
                removed++;
            }
        }
        i = j;
    }
    free(keys);
    if (removed > 0) {
        size_t w = 0;
        for (size_t f = 0; f < nf; f++) {
            const uint32_t *t = m->indices + 3 * f;
            if (t[0] == t[1] && t[1] == t[2])
                continue;
            memmove(m->indices + 3 * w, t, 3 * sizeof(uint32_t));
            w++;
        }
        m->n_faces = w;
    }
    return removed;
}

/* Counts the directed edges a -> b (grouped by their count) that are not
 * exactly one with exactly one opposite twin, and degenerate ones (the
 * test of ln_mesh_stats' watertightness), over the sorted half-edge lists
 * of ln__mesh_half_edges: 6.5 MB for 400 000 faces where a hash table of
 * the edges was 48 MB of scattered reads and new pages. The vertices are
 * counted in parallel, each range's count added to one total (a sum of
 * integers: the same on any thread count). Returns -1 when out of
 * memory. */
struct ln__unpaired {
    const size_t *off;
    const uint32_t *to;
    atomic_long bad;
};

static void ln__unpaired_body(void *vctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    struct ln__unpaired *c = vctx;
    const size_t *off = c->off;
    const uint32_t *to = c->to;
    long bad = 0;
    for (size_t a = begin; a < end; a++) {
        const uint32_t *list = to + off[a];
        const size_t n = off[a + 1] - off[a];
        for (size_t i = 0; i < n;) {
            const uint32_t b = list[i];
            size_t ab = 1;
            while (i + ab < n && list[i + ab] == b)
                ab++;
            i += ab;
            bad += b == a || ab != 1 ||
                   ln__u32_count(to + off[b], off[b + 1] - off[b], (uint32_t)a) != 1;
        }
    }
    atomic_fetch_add_explicit(&c->bad, bad, memory_order_relaxed);
}

static long ln__count_unpaired_edges(const uint32_t *idx, size_t nf, size_t nv)
{
    size_t *off = ln_malloc((nv + 1) * sizeof *off);
    uint32_t *to = ln_malloc_huge(nf * 3 * sizeof *to);
    if (!off || !to) {
        free(off);
        free(to);
        return -1;
    }
    const struct ln_mesh faces = {.indices = (uint32_t *)idx, .n_faces = nf, .n_vertices = nv};
    ln__mesh_half_edges(&faces, off, to);
    struct ln__unpaired c = {off, to, 0};
    ln_parallel_for(nv, 16384, ln__unpaired_body, &c);
    free(off);
    free(to);
    return atomic_load(&c.bad);
}

/* ---- two sheets pinched along an edge ----
 *
 * Collapses in a thin part can bring two sheets of the surface together
 * along an edge a-b: four faces on it, two in each direction, where a
 * closed surface has two. Around a, the faces then form two fans (each
 * sheet's, joined to each other only through a-b), and the same around
 * b. Giving each fan but the first its own copy of the vertex separates
 * the sheets again: each copy of a-b has two faces, as everywhere else;
 * the sheets still touch there, as they did. A fan is a set of faces
 * around the vertex joined through edges that have exactly two faces in
 * opposite directions. */
/* Whether edge a-b has one face each way: a -> b once in a's sorted
 * half-edge list and b -> a once in b's. */
static int ln__once_each_way(const size_t *off, const uint32_t *to, uint32_t a, uint32_t b)
{
    return ln__u32_count(to + off[a], off[a + 1] - off[a], b) == 1 &&
           ln__u32_count(to + off[b], off[b + 1] - off[b], a) == 1;
}

/* The faces around v in inc[0 .. d) (face number * 3 + corner, in face
 * order) fall into fans, read from the faces as they were (orig); every
 * fan but the one of the first face gets a new vertex (nv + p->n onwards)
 * in idx. parent is scratch of d entries. */
static void ln__unpinch_vertex(const uint32_t *orig, uint32_t *idx, uint32_t v, const uint32_t *inc,
                               uint32_t d, const size_t *off, const uint32_t *to, uint32_t *parent,
                               size_t nv, struct ln__pinch *p)
{
    for (uint32_t i = 0; i < d; i++)
        parent[i] = i;
    for (uint32_t i = 0; i < d; i++) {
        const uint32_t fi = inc[i] / 3, ci = inc[i] % 3;
        const uint32_t ni = orig[3 * fi + (ci + 1) % 3], pi = orig[3 * fi + (ci + 2) % 3];
        for (uint32_t j = i + 1; j < d; j++) {
            const uint32_t fj = inc[j] / 3, cj = inc[j] % 3;
            const uint32_t nj = orig[3 * fj + (cj + 1) % 3], pj = orig[3 * fj + (cj + 2) % 3];
            /* fi has v -> ni and fj ni -> v, or fj v -> nj and fi nj -> v */
            const uint32_t x = pj == ni ? ni : (pi == nj ? nj : LN__NONE);
            if (x == LN__NONE || x == v)
                continue;
            if (ln__once_each_way(off, to, v, x))
                ln__uf_union(parent, i, j);
        }
    }
    /* ln__uf_union keeps the smaller root: a fan's root is its first face. */
    for (uint32_t i = 1; i < d; i++) {
        if (ln__uf_find(parent, i) != i)
            continue;
        const uint32_t nid = (uint32_t)(nv + p->n);
        p->src[p->n++] = v;
        for (uint32_t j = i; j < d; j++)
            if (ln__uf_find(parent, j) == i)
                idx[inc[j]] = nid;
    }
}

int ln__mesh_unpinch(uint32_t *idx, size_t nf, size_t nv, struct ln__pinch *p)
{
    int rc = LN_ENOMEM;
    size_t *off = ln_malloc((nv + 1) * sizeof *off);
    uint32_t *to = ln_malloc_huge(3 * nf * sizeof *to + 1);
    uint8_t *mark = ln_malloc(nv + 1);
    size_t *ioff = ln_calloc(nv + 2, sizeof *ioff);
    uint32_t *orig = ln_malloc_huge(3 * nf * sizeof *orig + 1);
    uint32_t *inc = NULL, *parent = NULL;
    memset(p, 0, sizeof *p);
    if (!off || !to || !mark || !ioff || !orig)
        goto done;
    const struct ln_mesh faces = {.indices = idx, .n_faces = nf, .n_vertices = nv};
    ln__mesh_half_edges(&faces, off, to);
    /* The ends of the edges that are not one face each way. */
    memset(mark, 0, nv);
    for (size_t a = 0; a < nv; a++)
        for (size_t i = off[a]; i < off[a + 1]; i++) {
            const uint32_t b = to[i];
            if (!ln__once_each_way(off, to, (uint32_t)a, b))
                mark[a] = mark[b] = 1;
        }
    /* The corners at the marked vertices, grouped by vertex, each group
     * in face order (ioff[v + 2] counts, then ioff[v + 1] fills). */
    size_t n_inc = 0;
    for (size_t k = 0; k < 3 * nf; k++)
        if (mark[idx[k]]) {
            ioff[idx[k] + 2]++;
            n_inc++;
        }
    for (size_t v = 1; v <= nv; v++)
        ioff[v + 1] += ioff[v];
    inc = ln_malloc(n_inc * sizeof *inc + 1);
    parent = ln_malloc(n_inc * sizeof *parent + 1);
    p->cap = n_inc; /* at most one new vertex per corner */
    p->src = ln_malloc(p->cap * sizeof *p->src + 1);
    if (!inc || !parent || !p->src)
        goto done;
    for (size_t k = 0; k < 3 * nf; k++)
        if (mark[idx[k]])
            inc[ioff[idx[k] + 1]++] = (uint32_t)k;
    memcpy(orig, idx, 3 * nf * sizeof *orig);
    for (size_t v = 0; v < nv; v++) {
        const uint32_t d = (uint32_t)(ioff[v + 1] - ioff[v]);
        if (d > 1)
            ln__unpinch_vertex(orig, idx, (uint32_t)v, inc + ioff[v], d, off, to, parent, nv, p);
    }
    rc = LN_OK;
done:
    if (rc < 0) {
        free(p->src);
        memset(p, 0, sizeof *p);
    }
    free(parent);
    free(inc);
    free(orig);
    free(ioff);
    free(mark);
    free(to);
    free(off);
    return rc;
}

/* Declared and described in ln_mesh_util.h. Two union-finds over the
 * faces: the components after the separation, and before it (a copy
 * counted as the vertex it copies); then each part's largest piece. */
void ln__mesh_drop_pockets(uint32_t *idx, size_t *nf, size_t nv, const struct ln__pinch *p,
                           uint32_t *parent, size_t *count)
{
    const size_t nt = nv + p->n, n = *nf;
    uint32_t *pre = parent + nt, *best = parent + 2 * nt;
    size_t *pre_count = count + nt, *best_count = count + 2 * nt;
    for (size_t v = 0; v < nt; v++) {
        parent[v] = pre[v] = (uint32_t)v;
        count[v] = pre_count[v] = best_count[v] = 0;
        best[v] = LN__NONE;
    }
    for (size_t f = 0; f < n; f++) {
        uint32_t t[3];
        for (int e = 0; e < 3; e++) {
            const uint32_t v = idx[3 * f + (size_t)e];
            t[e] = v < nv ? v : p->src[v - nv];
        }
        ln__uf_union(parent, idx[3 * f], idx[3 * f + 1]);
        ln__uf_union(parent, idx[3 * f], idx[3 * f + 2]);
        ln__uf_union(pre, t[0], t[1]);
        ln__uf_union(pre, t[0], t[2]);
    }
    for (size_t f = 0; f < n; f++)
        count[ln__uf_find(parent, idx[3 * f])]++;
    /* The largest piece of each part as it was before (of equal ones, the
     * one whose root is the smallest vertex). */
    for (size_t f = 0; f < n; f++) {
        const uint32_t v = idx[3 * f], r = ln__uf_find(parent, v);
        const uint32_t q = ln__uf_find(pre, v < nv ? v : p->src[v - nv]);
        if (count[r] > best_count[q] || (count[r] == best_count[q] && r < best[q])) {
            best_count[q] = count[r];
            best[q] = r;
        }
    }
    size_t w = 0;
    for (size_t f = 0; f < n; f++) {
        const uint32_t v = idx[3 * f], r = ln__uf_find(parent, v);
        const uint32_t q = ln__uf_find(pre, v < nv ? v : p->src[v - nv]);
        if (r != best[q] && count[r] * 100 < n)
            continue;
        memmove(idx + 3 * w, idx + 3 * f, 3 * sizeof *idx);
        w++;
    }
    *nf = w;
}

/* meshoptimizer's working memory (tens of MB for 400 000 faces) on huge
 * pages: a new 4 KB page costs about 10 us to fault in on the development
 * machine, and the simplify stage took 0.16-0.33 s with its tables on
 * them. Its allocator cannot report a failure (it would throw in C++), so
 * running out of memory there ends the process, as it did before. */
static void *MESHOPTIMIZER_ALLOC_CALLCONV ln__meshopt_alloc(size_t size)
{
    return ln_xmalloc_huge(size);
}

static void MESHOPTIMIZER_ALLOC_CALLCONV ln__meshopt_free(void *p)
{
    free(p);
}

static void ln__meshopt_init(void)
{
    meshopt_setAllocator(ln__meshopt_alloc, ln__meshopt_free);
}

/* ---- simplification in two halves ----
 *
 * DESIGN: meshoptimizer simplifies on one thread. A large closed mesh
 * (marching cubes at grid 256: 400 000 faces) is cut in two by a plane
 * across its longest side, at the median of the faces' centres. The
 * faces that touch the cut (a vertex used by both halves) form a strip
 * that waits; each half without it is simplified on a thread of its own
 * with its border locked (meshopt_SimplifyLockBorder), so the halves
 * share no vertex and cannot both make the same new edge. Then a band of
 * faces (the strip and the ring of faces around it) is simplified once
 * more with its outer edges locked, which coarsens the cut to the
 * density around it. Each half gets its share of the target (and what
 * its locked border keeps beyond it), the band the rest. Every step is
 * its own meshoptimizer call on its own copy of the faces: the two
 * halves share only the mesh they read, and the caller reads their
 * results after the loop has joined. The cut, the halves and the band do
 * not depend on the thread count (one thread runs the halves one after
 * the other), so neither does the result. Each part is given the whole
 * mesh's bounding box (two unreferenced vertices at its corners), so
 * meshoptimizer's error bound, relative to the extent of the vertices it
 * is given, means the same as for the whole mesh. Where a part cannot
 * reach its share within that bound, or the total would exceed the
 * target, the whole mesh is simplified at once instead. On the
 * development machine: 400 000 faces to 100 000 in 0.11-0.15 s against
 * 0.17-0.20 s at once, as close to the input (Chamfer distance within
 * 0.000002 of its size, F-score at 0.002 of it within 0.0003). */
#define LN__SPLIT_MIN_FACES 65536

struct ln__simp_part {
    const struct ln_mesh *m;
    const float *box;      /* [6] the whole mesh's bounding box */
    const uint32_t *faces; /* [3 nf] global vertex numbers */
    size_t nf, target;     /* faces in, faces wanted */
    uint32_t *out;         /* [3 nf] simplified faces, global vertex numbers */
    size_t n_out;          /* faces out */
    int rc;                /* LN_OK, LN_ENOMEM, or 1 when the target is out of reach */
};

/* Simplifies one part, its border locked, in a numbering of its own
 * (meshoptimizer's tables are then as large as the part, not the mesh). */
static void ln__simp_part_run(struct ln__simp_part *p)
{
    const size_t n = 3 * p->nf, nv = p->m->n_vertices;
    const size_t cap = (n < nv ? n : nv) + 2; /* the part's vertices, and the box's two */
    uint32_t *local = ln_malloc_huge(nv * sizeof *local + 1);
    uint32_t *global = ln_malloc_huge(cap * sizeof *global);
    uint32_t *idx = ln_malloc_huge(n * sizeof *idx + 1);
    float *pos = ln_malloc_huge(cap * 3 * sizeof *pos);
    if (!local || !global || !idx || !pos) {
        p->rc = LN_ENOMEM;
        goto done;
    }
    memset(local, 0xff, nv * sizeof *local);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const uint32_t v = p->faces[i];
        if (local[v] == LN__NONE) {
            local[v] = (uint32_t)k;
            global[k] = v;
            memcpy(pos + 3 * k, p->m->positions + 3 * (size_t)v, 3 * sizeof(float));
            k++;
        }
        idx[i] = local[v];
    }
    memcpy(pos + 3 * k, p->box, 6 * sizeof(float));
    float result_error = 0.0f;
    const size_t got =
        meshopt_simplify(p->out, idx, n, pos, k + 2, 3 * sizeof(float), 3 * p->target, 1e-2f,
                         meshopt_SimplifyLockBorder, &result_error);
    for (size_t i = 0; i < got; i++)
        p->out[i] = global[p->out[i]];
    p->n_out = got / 3;
    p->rc = p->n_out > p->target ? 1 : LN_OK;
done:
    free(pos);
    free(idx);
    free(global);
    free(local);
}

static void ln__simp_part_body(void *vctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    struct ln__simp_part *parts = vctx;
    for (size_t i = begin; i < end; i++)
        ln__simp_part_run(&parts[i]);
}

/* The histogram bin of face f's centre along the cut's axis. */
static size_t ln__cut_bin(const struct ln_mesh *m, size_t f, int axis, float lo, float scale,
                          size_t bins)
{
    const uint32_t *t = m->indices + 3 * f;
    const float c = m->positions[3 * (size_t)t[0] + (size_t)axis] +
                    m->positions[3 * (size_t)t[1] + (size_t)axis] +
                    m->positions[3 * (size_t)t[2] + (size_t)axis] - 3.0f * lo;
    const size_t b = (size_t)(c * scale);
    return b < bins ? b : bins - 1;
}

/* The cut: the axis of the longest side, and the median of the faces'
 * centres along it (from a histogram of 4096 bins: the halves differ by
 * well under 1 % of the faces). side[f] is 0 or 1. */
static void ln__simp_cut(const struct ln_mesh *m, const float *box, uint8_t *side, size_t *hist)
{
    int axis = 0;
    for (int a = 1; a < 3; a++)
        if (box[3 + a] - box[a] > box[3 + axis] - box[axis])
            axis = a;
    const float lo = box[axis], span = box[3 + axis] - box[axis];
    const size_t bins = 4096, nf = m->n_faces;
    const float scale = span > 0.0f ? (float)bins / (3.0f * span) : 0.0f;
    memset(hist, 0, bins * sizeof *hist);
    for (size_t f = 0; f < nf; f++)
        hist[ln__cut_bin(m, f, axis, lo, scale, bins)]++;
    size_t median = 0;
    for (size_t b = 0, below = 0; b < bins; b++) {
        below += hist[b];
        if (below >= nf / 2) {
            median = b;
            break;
        }
    }
    /* At or below the median bin is half 0. */
    for (size_t f = 0; f < nf; f++)
        side[f] = ln__cut_bin(m, f, axis, lo, scale, bins) > median;
}

long ln__mesh_simplify_split(const struct ln_mesh *m, size_t target, uint32_t *dst)
{
    const size_t nf = m->n_faces, nv = m->n_vertices;
    long result = -1;
    float box[6];
    ln_mesh_bounds(m, box, box + 3);
    uint8_t *side = ln_malloc(nf + 1);
    uint8_t *mark = ln_malloc(nv + 1);
    size_t *hist = ln_malloc(4096 * sizeof *hist);
    uint32_t *faces = ln_malloc_huge(3 * nf * sizeof *faces + 1);
    uint32_t *outs = ln_malloc_huge(3 * nf * sizeof *outs + 1);
    uint32_t *band = ln_malloc_huge(3 * nf * sizeof *band + 1);
    if (!side || !mark || !hist || !faces || !outs || !band)
        goto done;
    ln__simp_cut(m, box, side, hist);
    /* mark: bit h set when half h uses the vertex, so 3 on the cut; then
     * bit 2 (4) on the vertices of the faces that touch the cut. */
    memset(mark, 0, nv);
    for (size_t f = 0; f < nf; f++)
        for (int e = 0; e < 3; e++)
            mark[m->indices[3 * f + (size_t)e]] |= (uint8_t)(1u << side[f]);
    size_t count[3] = {0, 0, 0}; /* faces of half 0, of half 1, touching the cut */
    for (size_t f = 0; f < nf; f++) {
        const uint32_t *t = m->indices + 3 * f;
        const int strip = mark[t[0]] == 3 || mark[t[1]] == 3 || mark[t[2]] == 3;
        side[f] = strip ? 2 : side[f];
        count[side[f]]++;
    }
    for (size_t f = 0; f < nf; f++)
        if (side[f] == 2)
            for (int e = 0; e < 3; e++)
                mark[m->indices[3 * f + (size_t)e]] |= 4;
    /* The halves' faces, half 0 first, then the strip along the cut. */
    size_t at[3] = {0, count[0], count[0] + count[1]};
    for (size_t f = 0; f < nf; f++)
        memcpy(faces + 3 * at[side[f]]++, m->indices + 3 * f, 3 * sizeof(uint32_t));
    /* Each half without its strip: the strip's other vertices are then its
     * border, locked, so the halves share no vertex (and cannot both make
     * the same new edge, which would be used four times). Each gets its
     * share of the target, and what its locked border keeps beyond that:
     * along the border's c vertices, about c faces where the rest of the
     * half has edges sqrt(target / faces) as many, so
     * c (1 - sqrt(target / faces)) more (measured: within 20 % on a
     * marching-cubes mesh of 400 000 faces to 100 000 and of 97 000 to
     * 2 000). The band below takes them off. */
    size_t n_border[2] = {0, 0};
    for (size_t v = 0; v < nv; v++)
        if (mark[v] == 5 || mark[v] == 6)
            n_border[mark[v] - 5]++;
    const double keep = 1.0 - sqrt((double)target / (double)nf);
    size_t tgt[2];
    for (int h = 0; h < 2; h++)
        tgt[h] =
            (size_t)((double)target * (double)count[h] / (double)nf + (double)n_border[h] * keep);
    struct ln__simp_part parts[2] = {
        {m, box, faces, count[0], tgt[0], outs, 0, LN_OK},
        {m, box, faces + 3 * count[0], count[1], tgt[1], outs + 3 * count[0], 0, LN_OK},
    };
    ln_parallel_for(2, 1, ln__simp_part_body, parts);
    if (parts[0].rc == LN_ENOMEM || parts[1].rc == LN_ENOMEM)
        goto done;
    if (parts[0].rc || parts[1].rc) {
        result = 0;
        goto done;
    }
    /* The halves' faces and the strip; then the band: the faces that touch
     * a vertex marked 4 (the strip and a ring of faces around it). */
    uint32_t *merged = faces; /* the halves' input faces are spent */
    const size_t n_a = parts[0].n_out, n_b = parts[1].n_out, n_s = count[2];
    memcpy(merged, outs, 3 * n_a * sizeof *merged);
    memcpy(merged + 3 * n_a, outs + 3 * count[0], 3 * n_b * sizeof *merged);
    memmove(merged + 3 * (n_a + n_b), faces + 3 * (count[0] + count[1]), 3 * n_s * sizeof *merged);
    const size_t nm = n_a + n_b + n_s;
    size_t nb = 0, nk = 0;
    double area_rest = 0.0, area_band = 0.0;
    for (size_t f = 0; f < nm; f++) {
        const uint32_t *t = merged + 3 * f;
        const double a = ln__mesh_face_area(m->positions, t);
        if (mark[t[0]] & 4 || mark[t[1]] & 4 || mark[t[2]] & 4) {
            memcpy(band + 3 * nb++, t, 3 * sizeof *t);
            area_band += a;
        } else {
            memcpy(dst + 3 * nk++, t, 3 * sizeof *t);
            area_rest += a;
        }
    }
    if (nk >= target) {
        result = 0;
        goto done;
    }
    /* The band at the density of the rest, within the target. */
    size_t tb = area_rest > 0.0 ? (size_t)((double)nk * area_band / area_rest) : nb;
    tb = tb < target - nk ? tb : target - nk;
    tb = tb < nb ? tb : nb;
    tb = tb > 0 ? tb : 1;
    struct ln__simp_part b = {m, box, band, nb, tb, outs, 0, LN_OK};
    if (nb > tb) {
        ln__simp_part_run(&b);
    } else {
        memcpy(outs, band, 3 * nb * sizeof *band);
        b.n_out = nb;
    }
    if (b.rc == LN_ENOMEM)
        goto done;
    if (b.rc) {
        result = 0;
        goto done;
    }
    memcpy(dst + 3 * nk, outs, 3 * b.n_out * sizeof *outs);
    result = nk + b.n_out <= target ? (long)(nk + b.n_out) : 0;
done:
    free(band);
    free(outs);
    free(faces);
    free(hist);
    free(mark);
    free(side);
    return result;
}

/* One simplification of m's faces into dst at a target of `target`
 * indices: meshoptimizer's, its sloppy form when the error bound stops it
 * short. Returns the indices written. */
static size_t ln__simplify_once(const struct ln_mesh *m, size_t target, uint32_t *dst)
{
    const size_t ni = 3 * m->n_faces;
    /* Relative to the mesh's extent: 1e-2 is 1% of its size, generous
     * enough to reach typical targets while keeping the topology. */
    float result_error = 0.0f;
    size_t n = meshopt_simplify(dst, m->indices, ni, m->positions, m->n_vertices, 3 * sizeof(float),
                                target, 1e-2f, 0, &result_error);
    if (n > target)
        n = meshopt_simplifySloppy(dst, m->indices, ni, m->positions, m->n_vertices,
                                   3 * sizeof(float), target, FLT_MAX, &result_error);
    return n;
}

/* The first simplification and the count of the input's unpaired edges,
 * side by side.
 * DESIGN: meshoptimizer simplifies on one thread. The check of the input
 * (is it closed and manifold, so that the result must be too?) is a
 * question of its own, answered on another thread meanwhile: task 0
 * writes n and dst, task 1 writes before; both only read the mesh. The
 * caller reads them after the loop has joined. */
struct ln__simplify_first {
    const struct ln_mesh *m;
    size_t target;
    uint32_t *dst;
    size_t n;
    long before;
};

static void ln__simplify_first_body(void *vctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    struct ln__simplify_first *c = vctx;
    for (size_t task = begin; task < end; task++) {
        if (task == 0)
            c->n = ln__simplify_once(c->m, c->target, c->dst);
        else
            c->before = ln__count_unpaired_edges(c->m->indices, c->m->n_faces, c->m->n_vertices);
    }
}

static atomic_int ln__simplify_rejects;

void ln__mesh_simplify_reject_next(int n)
{
    atomic_store(&ln__simplify_rejects, n);
}

/* Whether a test asked for this closed result to count as open. */
static int ln__simplify_rejected(void)
{
    int n = atomic_load(&ln__simplify_rejects);
    while (n > 0 && !atomic_compare_exchange_weak(&ln__simplify_rejects, &n, n - 1))
        ;
    return n > 0;
}

int ln_mesh_simplify(struct ln_mesh *m, size_t target_faces, struct ln_error *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, ln__meshopt_init);
    struct ln_error local;
    if (!err)
        err = &local;
    if (target_faces == 0)
        return ln_error_set(err, LN_EINVAL, "target face count must be at least 1");
    int rc = ln__mesh_check_indices(m, err);
    if (rc < 0)
        return rc;
    const size_t nf = m->n_faces, nv = m->n_vertices;
    if (nf <= target_faces)
        return LN_OK;
    struct ln__pinch pinch = {0};
    uint32_t *dst = ln_alloc_array(nf, 3 * sizeof(uint32_t), 0, "simplified faces", err);
    uint32_t *remap = ln_alloc_array(nv, sizeof(uint32_t), 0, "simplify vertex map", err);
    if (!dst || !remap) {
        rc = err->code;
        goto done;
    }
    /* Edge collapses occasionally pinch two sheets together along an edge.
     * When the input was closed and manifold, try slightly lower targets
     * (which collapse in a different order) before accepting such a result. */
    static const float factors[] = {1.0f, 0.97f, 0.9f};
    long before;
    size_t n = 0;
    if (nf < LN__SPLIT_MIN_FACES) {
        struct ln__simplify_first first = {m, 3 * target_faces, dst, 0, 0};
        ln_parallel_for(2, 1, ln__simplify_first_body, &first);
        before = first.before;
        n = first.n;
    } else {
        /* in two halves if closed: the check first */
        before = ln__count_unpaired_edges(m->indices, nf, nv);
    }
    if (before < 0) {
        rc = ln_error_set(err, LN_ENOMEM, "out of memory checking the mesh");
        goto done;
    }
    for (size_t attempt = 0; attempt < sizeof factors / sizeof factors[0]; attempt++) {
        free(pinch.src);
        memset(&pinch, 0, sizeof pinch);
        if (attempt > 0 || nf >= LN__SPLIT_MIN_FACES) {
            const size_t target = (size_t)((double)target_faces * factors[attempt]);
            const long split = before == 0 && nf >= LN__SPLIT_MIN_FACES
                                   ? ln__mesh_simplify_split(m, target, dst)
                                   : 0;
            if (split < 0) {
                rc = ln_error_set(err, LN_ENOMEM, "out of memory simplifying the mesh");
                goto done;
            }
            n = split > 0 ? 3 * (size_t)split : ln__simplify_once(m, 3 * target, dst);
        }
        struct ln_mesh trial = *m;
        trial.indices = dst;
        trial.n_faces = n / 3;
        if (ln__remove_flaps(&trial) < 0) {
            rc = ln_error_set(err, LN_ENOMEM, "out of memory cleaning the simplified mesh");
            goto done;
        }
        n = 3 * trial.n_faces;
        long after = before == 0 ? ln__count_unpaired_edges(dst, trial.n_faces, nv) : 0;
        if (after > 0) {
            /* Sheets pinched along an edge: separated, the surface is
             * closed again without another simplification. */
            if (ln__mesh_unpinch(dst, trial.n_faces, nv, &pinch) < 0) {
                rc = ln_error_set(err, LN_ENOMEM, "out of memory separating pinched sheets");
                goto done;
            }
            uint32_t *parent = ln_malloc(3 * (nv + pinch.n) * sizeof *parent);
            size_t *count = ln_malloc(3 * (nv + pinch.n) * sizeof *count);
            if (parent && count)
                ln__mesh_drop_pockets(dst, &trial.n_faces, nv, &pinch, parent, count);
            free(count);
            free(parent);
            if (!parent || !count) {
                rc = ln_error_set(err, LN_ENOMEM, "out of memory separating pinched sheets");
                goto done;
            }
            n = 3 * trial.n_faces;
            after = ln__count_unpaired_edges(dst, trial.n_faces, nv + pinch.n);
        }
        if (after < 0) {
            rc = ln_error_set(err, LN_ENOMEM, "out of memory checking the mesh");
            goto done;
        }
        if (after == 0 && before == 0 && ln__simplify_rejected())
            after = 1;
        if (after == 0)
            break;
    }
    if (pinch.n > 0) {
        /* The copies of the pinched vertices: room first (the mesh stays
         * as it was when that fails), then their attributes. */
        const size_t nv2 = nv + pinch.n;
        uint32_t *remap2 = ln_realloc(remap, nv2 * sizeof *remap2);
        if (!remap2) {
            rc = ln_error_set(err, LN_ENOMEM, "out of memory separating pinched sheets");
            goto done;
        }
        remap = remap2;
        if ((rc = ln__grow((void **)&m->positions, nv2, 3 * sizeof(float), "mesh vertices", err)) <
                0 ||
            (m->normals && (rc = ln__grow((void **)&m->normals, nv2, 3 * sizeof(float),
                                          "mesh normals", err)) < 0) ||
            (m->colors && (rc = ln__grow((void **)&m->colors, nv2, 3 * sizeof(float),
                                         "mesh colours", err)) < 0) ||
            (m->uvs &&
             (rc = ln__grow((void **)&m->uvs, nv2, 2 * sizeof(float), "mesh UVs", err)) < 0))
            goto done;
        for (size_t k = 0; k < pinch.n; k++)
            ln__mesh_copy_vertex(m, nv + k, pinch.src[k]);
        m->n_vertices = nv2;
    }
    memcpy(m->indices, dst, n * sizeof(uint32_t));
    m->n_faces = n / 3;
    ln__mesh_compact_in_place(m, remap);
    ln__ops_refresh_normals(m);
    rc = LN_OK;
done:
    free(pinch.src);
    free(remap);
    free(dst);
    return rc;
}
