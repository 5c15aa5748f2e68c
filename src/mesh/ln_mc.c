/*
 * Marching cubes. The 256-case table is derived once from the cube's
 * topology: each face's iso-segments are chosen from that face's corners
 * alone (an ambiguous face always separates its inside corners), so cells
 * sharing a face agree and the surface has no cracks; the segments are
 * chained into oriented polygons and triangulated with the shortest set of
 * diagonals that never joins two vertices of one face (such a diagonal could
 * be produced by the neighbouring cell as well).
 *
 * Extraction works on a bit-packed inside/outside grid (one bit per point),
 * which lets whole runs of 64 uniform cells be skipped with a few word
 * operations. It runs in three parallel passes over x-slabs: pack the bits
 * and count vertices per plane, count triangles per slab, then write
 * vertices and triangles at offsets fixed by prefix sums. Vertices are
 * numbered plane 0, slab 0, plane 1, slab 1, ... so the output does not
 * depend on the thread count.
 */
#include "ln_mc.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_threads.h"

/* Corner c of a cell sits at offset (c >> 2 & 1, c >> 1 & 1, c & 1) in
 * (x, y, z), so the four corners of the lower x-plane are bits 0..3 of a
 * case and the upper ones bits 4..7. */
#define LN__MC_MAX_TRIS 12

struct ln__mc_edge {
    uint8_t c0, c1; /* corners, c0 < c1 */
    uint8_t axis;   /* 0 x, 1 y, 2 z */
    uint8_t sel;    /* id array: 0 X, 1 Y lower plane, 2 Y upper, 3 Z lower, 4 Z upper */
    uint8_t dy, dz; /* offset of the edge's row and column inside the id arrays */
};

struct ln__mc_table {
    struct ln__mc_edge edges[12];
    uint8_t n_tris[256];
    uint8_t tris[256][3 * LN__MC_MAX_TRIS];
};

static struct ln__mc_table ln__mc;
static pthread_once_t ln__mc_once = PTHREAD_ONCE_INIT;

static void ln__mc_corner_pos(int c, float p[3])
{
    p[0] = (float)(c >> 2 & 1);
    p[1] = (float)(c >> 1 & 1);
    p[2] = (float)(c & 1);
}

static void ln__mc_edge_mid(int e, float p[3])
{
    float a[3], b[3];
    ln__mc_corner_pos(ln__mc.edges[e].c0, a);
    ln__mc_corner_pos(ln__mc.edges[e].c1, b);
    for (int t = 0; t < 3; t++)
        p[t] = 0.5f * (a[t] + b[t]);
}

/* Bit mask of the faces (axis * 2 + side) that contain edge e. */
static unsigned ln__mc_edge_faces(int e)
{
    const struct ln__mc_edge *ed = &ln__mc.edges[e];
    unsigned mask = 0;
    for (int a = 0; a < 3; a++) {
        if (a == ed->axis)
            continue;
        int side = ed->c0 >> (2 - a) & 1;
        mask |= 1u << (2 * a + side);
    }
    return mask;
}

/* Triangulates polygon poly[0..n-1] (counter-clockwise seen from outside)
 * with the minimum total diagonal length, never using a diagonal between
 * two vertices on one cube face. Appends triangles to out; returns their
 * count, or -1 if no such triangulation exists. */
static int ln__mc_triangulate(const int *poly, int n, uint8_t *out)
{
    enum { N = 12 };
    float cost[N][N];
    int split[N][N];
    float mid[N][3];
    unsigned faces[N];
    const float inf = 1e30f;
    for (int i = 0; i < n; i++) {
        ln__mc_edge_mid(poly[i], mid[i]);
        faces[i] = ln__mc_edge_faces(poly[i]);
    }
    for (int len = 1; len < n; len++) {
        for (int i = 0; i + len < n; i++) {
            int j = i + len;
            split[i][j] = -1;
            if (len == 1) {
                cost[i][j] = 0.0f;
                continue;
            }
            cost[i][j] = inf;
            for (int k = i + 1; k < j; k++) {
                float c = cost[i][k] + cost[k][j];
                int pairs[2][2] = {{i, k}, {k, j}};
                for (int p = 0; p < 2; p++) {
                    int a = pairs[p][0], b = pairs[p][1];
                    if (b == a + 1)
                        continue;
                    if (faces[a] & faces[b]) {
                        c = inf;
                        break;
                    }
                    float d[3] = {mid[a][0] - mid[b][0], mid[a][1] - mid[b][1],
                                  mid[a][2] - mid[b][2]};
                    c += sqrtf(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
                }
                if (c < cost[i][j]) {
                    cost[i][j] = c;
                    split[i][j] = k;
                }
            }
        }
    }
    if (n >= 3 && cost[0][n - 1] >= inf)
        return -1;
    /* Unwind the split table with an explicit stack of sub-polygons. */
    int stack[N][2], top = 0, count = 0;
    stack[top][0] = 0;
    stack[top][1] = n - 1;
    top++;
    while (top > 0) {
        top--;
        int i = stack[top][0], j = stack[top][1];
        if (j - i < 2)
            continue;
        int k = split[i][j];
        out[3 * count + 0] = (uint8_t)poly[i];
        out[3 * count + 1] = (uint8_t)poly[k];
        out[3 * count + 2] = (uint8_t)poly[j];
        count++;
        stack[top][0] = i;
        stack[top][1] = k;
        top++;
        stack[top][0] = k;
        stack[top][1] = j;
        top++;
    }
    return count;
}

static void ln__mc_build_case(int cs)
{
    int next[12];
    for (int e = 0; e < 12; e++)
        next[e] = -1;
    for (int a = 0; a < 3; a++) {
        for (int side = 0; side < 2; side++) {
            int fe[4], n_fe = 0;
            for (int e = 0; e < 12; e++) {
                const struct ln__mc_edge *ed = &ln__mc.edges[e];
                int on_face = ed->axis != a && (ed->c0 >> (2 - a) & 1) == side;
                int crosses = (cs >> ed->c0 & 1) != (cs >> ed->c1 & 1);
                if (on_face && crosses)
                    fe[n_fe++] = e;
            }
            int seg[2][2], n_seg = 0;
            if (n_fe == 2) {
                seg[0][0] = fe[0];
                seg[0][1] = fe[1];
                n_seg = 1;
            } else if (n_fe == 4) {
                /* Ambiguous face: cut off each inside corner on its own. */
                for (int c = 0; c < 8; c++) {
                    if ((c >> (2 - a) & 1) != side || !(cs >> c & 1))
                        continue;
                    int m = 0;
                    for (int t = 0; t < 4; t++)
                        if (ln__mc.edges[fe[t]].c0 == c || ln__mc.edges[fe[t]].c1 == c)
                            seg[n_seg][m++] = fe[t];
                    assert(m == 2);
                    n_seg++;
                }
                assert(n_seg == 2);
            } else {
                assert(n_fe == 0);
            }
            for (int s = 0; s < n_seg; s++) {
                int e1 = seg[s][0], e2 = seg[s][1];
                float p[3], q[3], in[3], nf[3] = {0, 0, 0};
                ln__mc_edge_mid(e1, p);
                ln__mc_edge_mid(e2, q);
                const struct ln__mc_edge *ed = &ln__mc.edges[e1];
                ln__mc_corner_pos((cs >> ed->c0 & 1) ? ed->c0 : ed->c1, in);
                nf[a] = side ? 1.0f : -1.0f;
                float d[3] = {q[0] - p[0], q[1] - p[1], q[2] - p[2]};
                float g[3] = {nf[1] * d[2] - nf[2] * d[1], nf[2] * d[0] - nf[0] * d[2],
                              nf[0] * d[1] - nf[1] * d[0]};
                /* Seen from outside the surface, the polygon runs
                 * counter-clockwise when face-normal x direction points
                 * away from the inside corner. */
                float dot = g[0] * (in[0] - p[0]) + g[1] * (in[1] - p[1]) + g[2] * (in[2] - p[2]);
                if (dot > 0.0f) {
                    int t = e1;
                    e1 = e2;
                    e2 = t;
                }
                assert(next[e1] < 0);
                next[e1] = e2;
            }
        }
    }
    int visited[12] = {0};
    int n_tris = 0;
    for (int e = 0; e < 12; e++) {
        if (next[e] < 0 || visited[e])
            continue;
        int poly[12], n = 0;
        for (int v = e; !visited[v]; v = next[v]) {
            assert(next[v] >= 0);
            visited[v] = 1;
            poly[n++] = v;
        }
        int t = ln__mc_triangulate(poly, n, ln__mc.tris[cs] + 3 * n_tris);
        assert(t == n - 2);
        n_tris += t;
        assert(n_tris <= LN__MC_MAX_TRIS);
    }
    ln__mc.n_tris[cs] = (uint8_t)n_tris;
}

static void ln__mc_build_table(void)
{
    int e = 0;
    for (int a = 0; a < 3; a++) {
        int bit = 4 >> a;
        for (int c = 0; c < 8; c++) {
            if (c & bit)
                continue;
            struct ln__mc_edge *ed = &ln__mc.edges[e++];
            ed->c0 = (uint8_t)c;
            ed->c1 = (uint8_t)(c | bit);
            ed->axis = (uint8_t)a;
            int dx = c >> 2 & 1, dy = c >> 1 & 1, dz = c & 1;
            ed->sel = (uint8_t)(a == 0 ? 0 : a == 1 ? 1 + dx : 3 + dx);
            ed->dy = (uint8_t)dy;
            ed->dz = (uint8_t)dz;
        }
    }
    for (int cs = 0; cs < 256; cs++)
        ln__mc_build_case(cs);
}

/* Shared, read-only state of one extraction. */
struct ln__mc_ctx {
    const float *field;
    int nx, ny, nz;
    size_t words; /* 64-bit words per row of bits */
    float iso;
    float origin[3], spacing[3];
    int flip;            /* the grid is left-handed: reverse triangles */
    uint64_t *bits;      /* [(i * ny + j) * words + w], inside = 1 */
    uint64_t last_mask;  /* valid cells (k < nz - 1) in the last word */
    size_t *plane_verts; /* per plane i: y- and z-edge vertices */
    size_t *slab_verts;  /* per slab i: x-edge vertices */
    size_t *slab_tris;
    size_t *plane_off, *slab_off, *tri_off;
    float *positions;
    uint32_t *indices;
    uint32_t *scratch; /* per worker: 5 id arrays of ny * nz */
    size_t n_scratch;
    atomic_size_t next_slab; /* the emit pass hands out slabs from here */
};

static inline const uint64_t *ln__mc_row(const struct ln__mc_ctx *c, int i, int j)
{
    return c->bits + ((size_t)i * (size_t)c->ny + (size_t)j) * c->words;
}

/* Bit k of the result is bit k + 1 of the row. */
static inline uint64_t ln__mc_shift(const uint64_t *row, size_t w, size_t words)
{
    uint64_t next = w + 1 < words ? row[w + 1] : 0;
    return (row[w] >> 1) | (next << 63);
}

static inline uint64_t ln__mc_cell_mask(const struct ln__mc_ctx *c, size_t w)
{
    return w + 1 == c->words ? c->last_mask : ~(uint64_t)0;
}

static void ln__mc_pack(void *vctx, size_t begin, size_t end, int thread)
{
    struct ln__mc_ctx *c = vctx;
    const int ny = c->ny, nz = c->nz;
    const float iso = c->iso;
    const size_t words = c->words;
    for (size_t i = begin; i < end; i++) {
        size_t verts = 0;
        for (int j = 0; j < ny; j++) {
            const float *restrict f = c->field + (i * (size_t)ny + (size_t)j) * (size_t)nz;
            uint64_t *restrict row = c->bits + (i * (size_t)ny + (size_t)j) * words;
            for (size_t w = 0; w < words; w++) {
                int k0 = (int)(w * 64);
                int k1 = k0 + 64 < nz ? k0 + 64 : nz;
                uint64_t bitsw = 0;
                for (int k = k0; k < k1; k++)
                    bitsw |= (uint64_t)(f[k] > iso) << (k - k0);
                row[w] = bitsw;
            }
            for (size_t w = 0; w < words; w++)
                verts += (size_t)__builtin_popcountll((row[w] ^ ln__mc_shift(row, w, words)) &
                                                      ln__mc_cell_mask(c, w));
            if (j > 0) {
                const uint64_t *prev = row - words;
                for (size_t w = 0; w < words; w++)
                    verts += (size_t)__builtin_popcountll(prev[w] ^ row[w]);
            }
        }
        c->plane_verts[i] = verts;
    }
}

/* The cells of word w of cell row (i, j) that are neither all inside nor
 * all outside, and the eight corner words used to form their cases. */
struct ln__mc_rows {
    uint64_t r[4], s[4]; /* rows (x, y) = 00, 01, 10, 11; s: shifted by one in z */
};

static inline uint64_t ln__mc_active(const struct ln__mc_ctx *c, const uint64_t *const rows[4],
                                     size_t w, struct ln__mc_rows *out)
{
    for (int t = 0; t < 4; t++) {
        out->r[t] = rows[t][w];
        out->s[t] = ln__mc_shift(rows[t], w, c->words);
    }
    uint64_t o = out->r[0] | out->r[1] | out->r[2] | out->r[3];
    uint64_t a = out->r[0] & out->r[1] & out->r[2] & out->r[3];
    uint64_t os = out->s[0] | out->s[1] | out->s[2] | out->s[3];
    uint64_t as = out->s[0] & out->s[1] & out->s[2] & out->s[3];
    return ((o ^ a) | (os ^ as) | (a ^ as)) & ln__mc_cell_mask(c, w);
}

static inline unsigned ln__mc_case(const struct ln__mc_rows *r, int b)
{
    return (unsigned)((r->r[0] >> b & 1) | (r->s[0] >> b & 1) << 1 | (r->r[1] >> b & 1) << 2 |
                      (r->s[1] >> b & 1) << 3 | (r->r[2] >> b & 1) << 4 | (r->s[2] >> b & 1) << 5 |
                      (r->r[3] >> b & 1) << 6 | (r->s[3] >> b & 1) << 7);
}

static void ln__mc_count(void *vctx, size_t begin, size_t end, int thread)
{
    struct ln__mc_ctx *c = vctx;
    const int ny = c->ny;
    const size_t words = c->words;
    for (size_t i = begin; i < end; i++) {
        size_t tris = 0, verts = 0;
        for (int j = 0; j < ny; j++) {
            const uint64_t *lo = ln__mc_row(c, (int)i, j), *hi = ln__mc_row(c, (int)i + 1, j);
            for (size_t w = 0; w < words; w++)
                verts += (size_t)__builtin_popcountll(lo[w] ^ hi[w]);
            if (j + 1 == ny)
                continue;
            const uint64_t *rows[4] = {lo, ln__mc_row(c, (int)i, j + 1), hi,
                                       ln__mc_row(c, (int)i + 1, j + 1)};
            for (size_t w = 0; w < words; w++) {
                struct ln__mc_rows r;
                uint64_t m = ln__mc_active(c, rows, w, &r);
                while (m) {
                    int b = __builtin_ctzll(m);
                    m &= m - 1;
                    tris += ln__mc.n_tris[ln__mc_case(&r, b)];
                }
            }
        }
        c->slab_verts[i] = verts;
        c->slab_tris[i] = tris;
    }
}

/* Position of the iso-crossing between grid values f0 and f1, as a
 * fraction of the way from f0. Exactly one of them is inside, so they
 * differ; non-finite values fall back to the midpoint. */
static inline float ln__mc_lerp_t(float f0, float f1, float iso)
{
    float t = (iso - f0) / (f1 - f0);
    if (!(t >= 0.0f))
        t = isnan(t) ? 0.5f : 0.0f;
    else if (t > 1.0f)
        t = 1.0f;
    return t;
}

/* Numbers the y- and z-edge crossings of plane i in the order rows j, then
 * y-edges before z-edges, then k, writing ids into ys/zs and, when write_pos is
 * set, positions. */
static void ln__mc_plane_ids(const struct ln__mc_ctx *c, int i, uint32_t *restrict ys,
                             uint32_t *restrict zs, int write_pos)
{
    const int ny = c->ny, nz = c->nz;
    const size_t words = c->words;
    const float iso = c->iso;
    float *restrict pos = c->positions;
    uint32_t id = (uint32_t)c->plane_off[i];
    const float x = c->origin[0] + c->spacing[0] * (float)i;
    for (int j = 0; j < ny; j++) {
        const uint64_t *row = ln__mc_row(c, i, j);
        const float *f = c->field + ((size_t)i * (size_t)ny + (size_t)j) * (size_t)nz;
        const float y = c->origin[1] + c->spacing[1] * (float)j;
        if (j + 1 < ny) {
            const uint64_t *up = row + words;
            for (size_t w = 0; w < words; w++) {
                uint64_t m = row[w] ^ up[w];
                while (m) {
                    int k = (int)(w * 64) + __builtin_ctzll(m);
                    m &= m - 1;
                    if (write_pos) {
                        float t = ln__mc_lerp_t(f[k], f[k + nz], iso);
                        float *p = pos + 3 * (size_t)id;
                        p[0] = x;
                        p[1] = c->origin[1] + c->spacing[1] * ((float)j + t);
                        p[2] = c->origin[2] + c->spacing[2] * (float)k;
                    }
                    ys[(size_t)j * (size_t)nz + (size_t)k] = id++;
                }
            }
        }
        for (size_t w = 0; w < words; w++) {
            uint64_t m = (row[w] ^ ln__mc_shift(row, w, words)) & ln__mc_cell_mask(c, w);
            while (m) {
                int k = (int)(w * 64) + __builtin_ctzll(m);
                m &= m - 1;
                if (write_pos) {
                    float t = ln__mc_lerp_t(f[k], f[k + 1], iso);
                    float *p = pos + 3 * (size_t)id;
                    p[0] = x;
                    p[1] = y;
                    p[2] = c->origin[2] + c->spacing[2] * ((float)k + t);
                }
                zs[(size_t)j * (size_t)nz + (size_t)k] = id++;
            }
        }
    }
}

/* One worker per scratch set (index `worker`), taking slabs in turn until
 * none are left. Indexing scratch by worker rather than by thread keeps it
 * in bounds whatever the thread count is when the loop starts. */
static void ln__mc_emit_slab(struct ln__mc_ctx *c, size_t worker, size_t si);

static void ln__mc_emit(void *vctx, size_t begin, size_t end, int thread)
{
    struct ln__mc_ctx *c = vctx;
    for (size_t worker = begin; worker < end; worker++) {
        for (;;) {
            size_t si = atomic_fetch_add(&c->next_slab, 1);
            if (si + 1 >= (size_t)c->nx)
                break;
            ln__mc_emit_slab(c, worker, si);
        }
    }
}

static void ln__mc_emit_slab(struct ln__mc_ctx *c, size_t worker, size_t si)
{
    const int nx = c->nx, ny = c->ny, nz = c->nz;
    const size_t words = c->words, plane = (size_t)ny * (size_t)nz;
    const float iso = c->iso;
    uint32_t *arr[5];
    for (int t = 0; t < 5; t++)
        arr[t] = c->scratch + (worker * 5 + (size_t)t) * plane;
    const int i = (int)si;
    ln__mc_plane_ids(c, i, arr[1], arr[3], 1);
    ln__mc_plane_ids(c, i + 1, arr[2], arr[4], i + 2 == nx);

    /* x-edge crossings of this slab. */
    uint32_t id = (uint32_t)c->slab_off[i];
    float *restrict pos = c->positions;
    for (int j = 0; j < ny; j++) {
        const uint64_t *lo = ln__mc_row(c, i, j), *hi = ln__mc_row(c, i + 1, j);
        const float *f = c->field + ((size_t)i * (size_t)ny + (size_t)j) * (size_t)nz;
        for (size_t w = 0; w < words; w++) {
            uint64_t m = lo[w] ^ hi[w];
            while (m) {
                int k = (int)(w * 64) + __builtin_ctzll(m);
                m &= m - 1;
                float t = ln__mc_lerp_t(f[k], f[k + plane], iso);
                float *p = pos + 3 * (size_t)id;
                p[0] = c->origin[0] + c->spacing[0] * ((float)i + t);
                p[1] = c->origin[1] + c->spacing[1] * (float)j;
                p[2] = c->origin[2] + c->spacing[2] * (float)k;
                arr[0][(size_t)j * (size_t)nz + (size_t)k] = id++;
            }
        }
    }

    const uint32_t *base[12];
    for (int e = 0; e < 12; e++) {
        const struct ln__mc_edge *ed = &ln__mc.edges[e];
        base[e] = arr[ed->sel] + (size_t)ed->dy * (size_t)nz + ed->dz;
    }
    uint32_t *restrict out = c->indices + 3 * c->tri_off[i];
    const int v1 = c->flip ? 2 : 1, v2 = c->flip ? 1 : 2;
    for (int j = 0; j + 1 < ny; j++) {
        const uint64_t *rows[4] = {ln__mc_row(c, i, j), ln__mc_row(c, i, j + 1),
                                   ln__mc_row(c, i + 1, j), ln__mc_row(c, i + 1, j + 1)};
        for (size_t w = 0; w < words; w++) {
            struct ln__mc_rows r;
            uint64_t m = ln__mc_active(c, rows, w, &r);
            while (m) {
                int b = __builtin_ctzll(m);
                m &= m - 1;
                unsigned cs = ln__mc_case(&r, b);
                size_t cell = (size_t)j * (size_t)nz + w * 64 + (size_t)b;
                const uint8_t *tri = ln__mc.tris[cs];
                for (int t = 0; t < ln__mc.n_tris[cs]; t++) {
                    out[0] = base[tri[3 * t]][cell];
                    out[v1] = base[tri[3 * t + 1]][cell];
                    out[v2] = base[tri[3 * t + 2]][cell];
                    out += 3;
                }
            }
        }
    }
    assert(out == c->indices + 3 * (c->tri_off[i] + c->slab_tris[i]));
}

int ln_mc_extract(const float *field, int nx, int ny, int nz, float iso, const float origin[3],
                  const float spacing[3], struct ln_mesh *out, struct ln_error *err)
{
    struct ln_error local;
    if (!err)
        err = &local;
    memset(out, 0, sizeof *out);
    if (nx < 2 || ny < 2 || nz < 2)
        return ln_error_set(err, LN_EINVAL, "marching-cubes grid must be at least 2x2x2 (%dx%dx%d)",
                            nx, ny, nz);
    if (!field || !origin || !spacing)
        return ln_error_set(err, LN_EINVAL, "marching cubes needs a field, origin and spacing");
    pthread_once(&ln__mc_once, ln__mc_build_table);

    int rc = LN_OK;
    struct ln__mc_ctx c = {.field = field, .nx = nx, .ny = ny, .nz = nz, .iso = iso};
    for (int a = 0; a < 3; a++) {
        c.origin[a] = origin[a];
        c.spacing[a] = spacing[a];
    }
    c.flip = (spacing[0] < 0.0f) ^ (spacing[1] < 0.0f) ^ (spacing[2] < 0.0f);
    c.words = ((size_t)nz + 63) / 64;
    int last_cells = (nz - 1) - (int)((c.words - 1) * 64); /* 0 .. 64 */
    c.last_mask = last_cells >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << last_cells) - 1);
    size_t n_rows, plane, n_scratch;
    if (ln_size_mul((size_t)nx, (size_t)ny, &n_rows) < 0 ||
        ln_size_mul((size_t)ny, (size_t)nz, &plane) < 0)
        return ln_error_set(err, LN_ETOOBIG, "marching-cubes grid is too large");
    c.n_scratch = (size_t)ln_threads_get();
    if (c.n_scratch > (size_t)nx - 1)
        c.n_scratch = (size_t)nx - 1;
    atomic_init(&c.next_slab, 0);
    if (ln_size_mul(plane, 5 * c.n_scratch, &n_scratch) < 0)
        return ln_error_set(err, LN_ETOOBIG, "marching-cubes grid is too large");

    size_t *counts = NULL;
    c.bits = ln_alloc_array(n_rows, c.words * sizeof(uint64_t), 0, "marching-cubes bits", err);
    if (!c.bits)
        goto fail;
    counts = ln_alloc_array((size_t)nx, 6 * sizeof(size_t), 1, "marching-cubes counts", err);
    if (!counts)
        goto fail;
    c.plane_verts = counts;
    c.slab_verts = counts + nx;
    c.slab_tris = counts + 2 * (size_t)nx;
    c.plane_off = counts + 3 * (size_t)nx;
    c.slab_off = counts + 4 * (size_t)nx;
    c.tri_off = counts + 5 * (size_t)nx;

    ln_parallel_for((size_t)nx, 4, ln__mc_pack, &c);
    ln_parallel_for((size_t)nx - 1, 2, ln__mc_count, &c);

    size_t nv = 0, nt = 0;
    for (int i = 0; i < nx; i++) {
        c.plane_off[i] = nv;
        nv += c.plane_verts[i];
        if (i + 1 < nx) {
            c.slab_off[i] = nv;
            nv += c.slab_verts[i];
            c.tri_off[i] = nt;
            nt += c.slab_tris[i];
        }
    }
    if (nv > UINT32_MAX) {
        rc = ln_error_set(err, LN_ETOOBIG, "surface has too many vertices (%zu)", nv);
        goto fail_rc;
    }
    c.scratch = ln_alloc_array(n_scratch, sizeof(uint32_t), 0, "marching-cubes edge ids", err);
    if (!c.scratch)
        goto fail;
    rc = ln_mesh_alloc(out, nv, nt, 0, err);
    if (rc < 0)
        goto fail_rc;
    c.positions = out->positions;
    c.indices = out->indices;
    ln_parallel_for(c.n_scratch, 1, ln__mc_emit, &c);

    free(c.scratch);
    free(counts);
    free(c.bits);
    return LN_OK;

fail:
    rc = err->code;
fail_rc:
    free(c.scratch);
    free(counts);
    free(c.bits);
    ln_mesh_free(out);
    return rc;
}
