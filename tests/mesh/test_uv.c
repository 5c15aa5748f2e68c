/* Unit tests of the UV atlas on analytic meshes (a latitude-longitude
 * sphere, a torus, a subdivided cube, a long thin cylinder, a marching-cubes
 * sphere and a spiral ramp that folds over itself in projection). Each
 * atlas is checked against the mesh, not against the atlas's own
 * bookkeeping: faces rasterised at 2048 x 2048 samples never cover a sample
 * twice, charts' boxes keep the padding apart, every UV is inside the
 * texture, no face is mirrored or stretched beyond the 60-degree bound,
 * positions and faces map back to the input exactly, and faces that share
 * an edge in one chart share its vertices. Then bad input and every
 * allocation failing in turn. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_mc.h"
#include "ln_mesh.h"
#include "ln_threads.h"
#include "ln_uv.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define RASTER 2048

/* ---- meshes ---- */

/* A grid of (nu + 1) x (nv + 1) points from f, faces counter-clockwise seen
 * from where f's normal points, then welded (poles and wrapped seams
 * become one vertex). */
typedef void (*surface_fn)(double u, double v, double p[3]);

static struct ln_mesh grid_mesh(surface_fn f, int nu, int nv)
{
    struct ln_mesh m = {0};
    struct ln_error err = {0};
    size_t np = (size_t)(nu + 1) * (size_t)(nv + 1);
    assert_int_equal(ln_mesh_alloc(&m, np, (size_t)nu * (size_t)nv * 2, 0, &err), 0);
    for (int j = 0; j <= nv; j++)
        for (int i = 0; i <= nu; i++) {
            double p[3];
            f((double)i / nu, (double)j / nv, p);
            for (int a = 0; a < 3; a++)
                m.positions[3 * ((size_t)j * (nu + 1) + i) + a] = (float)p[a];
        }
    size_t t = 0;
    for (int j = 0; j < nv; j++)
        for (int i = 0; i < nu; i++) {
            uint32_t a = (uint32_t)(j * (nu + 1) + i), b = a + 1, c = a + (uint32_t)nu + 1,
                     d = c + 1;
            uint32_t *o = m.indices + 6 * t++;
            o[0] = a, o[1] = b, o[2] = d, o[3] = a, o[4] = d, o[5] = c;
        }
    if (ln_mesh_weld(&m, 1e-6f, &err) < 0)
        fail_msg("weld: %s", err.message);
    return m;
}

/* u: longitude, v: latitude from the south pole; outward normals. */
static void sphere_fn(double u, double v, double p[3])
{
    double th = 2 * M_PI * u, ph = M_PI * (v - 0.5);
    p[0] = cos(ph) * sin(th);
    p[1] = sin(ph);
    p[2] = cos(ph) * cos(th);
}

static void torus_fn(double u, double v, double p[3])
{
    double th = 2 * M_PI * u, ph = 2 * M_PI * v, r = 1.0 + 0.35 * cos(ph);
    p[0] = r * sin(th);
    p[1] = 0.35 * sin(ph);
    p[2] = r * cos(th);
}

/* A closed cylinder of radius 0.05 and length 2 along Y (caps squeezed
 * onto the axis at both ends, so one grid gives the whole closed tube). */
static void cylinder_fn(double u, double v, double p[3])
{
    double th = 2 * M_PI * u, r, y;
    if (v < 0.05) {
        r = 0.05 * v / 0.05;
        y = -1.0;
    } else if (v > 0.95) {
        r = 0.05 * (1.0 - v) / 0.05;
        y = 1.0;
    } else {
        r = 0.05;
        y = -1.0 + 2.0 * (v - 0.05) / 0.9;
    }
    p[0] = r * sin(th);
    p[1] = y;
    p[2] = r * cos(th);
}

/* A spiral ramp, two turns, rising slowly: seen from above it covers the
 * same ring twice, so one chart cannot hold it. */
static void ramp_fn(double u, double v, double p[3])
{
    double th = 4 * M_PI * u, r = 0.5 + 0.5 * v;
    p[0] = r * cos(th);
    p[1] = 0.05 * th;
    p[2] = -r * sin(th);
}

/* Six faces of n x n squares each, welded into a closed cube. */
static struct ln_mesh cube_mesh(int n)
{
    struct ln_mesh m = {0};
    struct ln_error err = {0};
    size_t per = (size_t)(n + 1) * (n + 1);
    assert_int_equal(ln_mesh_alloc(&m, 6 * per, 6 * (size_t)n * n * 2, 0, &err), 0);
    static const int axes[6][3][3] = {
        /* normal, s, t with s x t = normal */
        {{1, 0, 0}, {0, 0, -1}, {0, 1, 0}}, {{-1, 0, 0}, {0, 0, 1}, {0, 1, 0}},
        {{0, 1, 0}, {1, 0, 0}, {0, 0, -1}}, {{0, -1, 0}, {1, 0, 0}, {0, 0, 1}},
        {{0, 0, 1}, {1, 0, 0}, {0, 1, 0}},  {{0, 0, -1}, {-1, 0, 0}, {0, 1, 0}},
    };
    size_t t = 0;
    for (int f = 0; f < 6; f++) {
        for (int j = 0; j <= n; j++)
            for (int i = 0; i <= n; i++) {
                double s = -1.0 + 2.0 * i / n, tt = -1.0 + 2.0 * j / n;
                for (int a = 0; a < 3; a++)
                    m.positions[3 * (f * per + (size_t)j * (n + 1) + i) + a] =
                        (float)(axes[f][0][a] + s * axes[f][1][a] + tt * axes[f][2][a]);
            }
        for (int j = 0; j < n; j++)
            for (int i = 0; i < n; i++) {
                uint32_t a = (uint32_t)(f * per + (size_t)j * (n + 1) + i), b = a + 1,
                         c = a + (uint32_t)n + 1, d = c + 1;
                uint32_t *o = m.indices + 6 * t++;
                o[0] = a, o[1] = b, o[2] = d, o[3] = a, o[4] = d, o[5] = c;
            }
    }
    if (ln_mesh_weld(&m, 1e-6f, &err) < 0)
        fail_msg("weld: %s", err.message);
    return m;
}

/* A marching-cubes sphere of radius 0.8 on an n^3 grid over [-1, 1]^3;
 * bumps > 0 adds that many lobes of height 0.1 (a lumpy surface whose
 * charts are many and small). */
static struct ln_mesh mc_lumpy(int n, int bumps)
{
    float *f = malloc((size_t)n * n * n * sizeof(float));
    assert_non_null(f);
    double h = 2.0 / (n - 1);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            for (int k = 0; k < n; k++) {
                double x = -1 + i * h, y = -1 + j * h, z = -1 + k * h;
                double r = 0.8 + (bumps ? 0.1 * sin(bumps * x) * sin(bumps * y) * sin(bumps * z)
                                        : 0.0);
                f[((size_t)i * n + j) * n + k] = (float)(r - sqrt(x * x + y * y + z * z));
            }
    const float origin[3] = {-1, -1, -1}, spacing[3] = {(float)h, (float)h, (float)h};
    struct ln_mesh m = {0};
    struct ln_error err = {0};
    if (ln_mc_extract(f, n, n, n, 0.0f, origin, spacing, &m, &err) < 0)
        fail_msg("%s", err.message);
    free(f);
    return m;
}

static struct ln_mesh mc_sphere(int n)
{
    return mc_lumpy(n, 0);
}

/* ---- checks ---- */

static double area3(const float *a, const float *b, const float *c)
{
    double e1[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
    double e2[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
    double n[3] = {e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2],
                   e1[0] * e2[1] - e1[1] * e2[0]};
    return 0.5 * sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
}

/* Twice the signed area in (u, v) with v downward: negative for a face that
 * is counter-clockwise as seen in the texture image. */
static double signed2(const float *uv, const uint32_t *f)
{
    const float *a = uv + 2 * (size_t)f[0], *b = uv + 2 * (size_t)f[1], *c = uv + 2 * (size_t)f[2];
    return ((double)b[0] - a[0]) * ((double)c[1] - a[1]) - ((double)c[0] - a[0]) * ((double)b[1] - a[1]);
}

struct edge_rec {
    uint32_t lo, hi, face;
};

static int edge_cmp(const void *pa, const void *pb)
{
    const struct edge_rec *a = pa, *b = pb;
    if (a->lo != b->lo)
        return a->lo < b->lo ? -1 : 1;
    if (a->hi != b->hi)
        return a->hi < b->hi ? -1 : 1;
    return (a->face > b->face) - (a->face < b->face);
}

static void check_atlas(const struct ln_mesh *in, const struct ln_uv_options *o,
                        const struct ln_uv_atlas *a, const char *name)
{
    const struct ln_mesh *m = &a->mesh;
    double pad = (double)o->padding / o->texture_size;
    assert_int_equal(m->n_faces, in->n_faces);
    assert_true(a->stats.n_charts >= 1);

    /* Positions and faces map back to the input exactly. */
    for (size_t v = 0; v < m->n_vertices; v++) {
        assert_true(a->source[v] < in->n_vertices);
        assert_memory_equal(m->positions + 3 * v, in->positions + 3 * (size_t)a->source[v],
                            3 * sizeof(float));
        for (int k = 0; k < 2; k++) {
            float x = a->mesh.uvs[2 * v + (size_t)k];
            if (!(x >= pad - 1e-6 && x <= 1.0 - pad + 1e-6))
                fail_msg("%s: vertex %zu has uv %g outside [%g, %g]", name, v, x, pad, 1 - pad);
        }
    }
    for (size_t i = 0; i < 3 * m->n_faces; i++)
        assert_int_equal(a->source[m->indices[i]], in->indices[i]);

    /* No face mirrored; none stretched beyond 1 / cos 70 degrees against
     * the atlas's scale (60 for all but small charts' faces); the faces of
     * a chart share one scale. */
    double k = a->stats.texels_per_m / o->texture_size, lo_ratio = 2.0, hi_ratio = 0.0;
    for (size_t f = 0; f < m->n_faces; f++) {
        const uint32_t *fi = m->indices + 3 * f;
        double a3 = area3(m->positions + 3 * (size_t)fi[0], m->positions + 3 * (size_t)fi[1],
                          m->positions + 3 * (size_t)fi[2]);
        double s2 = signed2(a->mesh.uvs, fi);
        if (a3 < 1e-12)
            continue;
        if (s2 > 0.0)
            fail_msg("%s: face %zu is mirrored in the atlas", name, f);
        double r = -0.5 * s2 / (k * k * a3);
        lo_ratio = r < lo_ratio ? r : lo_ratio;
        hi_ratio = r > hi_ratio ? r : hi_ratio;
        assert_true(a->chart[f] < a->stats.n_charts);
    }
    if (!(lo_ratio >= 0.34 - 1e-3 && hi_ratio <= 1.0 + 1e-3))
        fail_msg("%s: UV area / surface area from %g to %g (want 0.34 .. 1)", name, lo_ratio,
                 hi_ratio);

    /* Rasterised, no sample is inside two faces. */
    int32_t *owner = malloc((size_t)RASTER * RASTER * sizeof *owner);
    assert_non_null(owner);
    memset(owner, 0xff, (size_t)RASTER * RASTER * sizeof *owner);
    size_t covered = 0;
    for (size_t f = 0; f < m->n_faces; f++) {
        const uint32_t *fi = m->indices + 3 * f;
        double x[3], y[3];
        for (int c = 0; c < 3; c++) {
            x[c] = a->mesh.uvs[2 * (size_t)fi[c]] * RASTER;
            y[c] = a->mesh.uvs[2 * (size_t)fi[c] + 1] * RASTER;
        }
        double s2 = (x[1] - x[0]) * (y[2] - y[0]) - (x[2] - x[0]) * (y[1] - y[0]);
        if (s2 == 0.0)
            continue;
        int x0 = (int)floor(fmin(x[0], fmin(x[1], x[2]))), x1 = (int)ceil(fmax(x[0], fmax(x[1], x[2])));
        int y0 = (int)floor(fmin(y[0], fmin(y[1], y[2]))), y1 = (int)ceil(fmax(y[0], fmax(y[1], y[2])));
        for (int py = y0 < 0 ? 0 : y0; py <= y1 && py < RASTER; py++)
            for (int px = x0 < 0 ? 0 : x0; px <= x1 && px < RASTER; px++) {
                double sx = px + 0.5, sy = py + 0.5;
                int inside = 1;
                for (int e = 0; e < 3 && inside; e++) {
                    int n = (e + 1) % 3;
                    double w = (x[n] - x[e]) * (sy - y[e]) - (y[n] - y[e]) * (sx - x[e]);
                    inside = s2 > 0 ? w > 0 : w < 0;
                }
                if (!inside)
                    continue;
                size_t at = (size_t)py * RASTER + (size_t)px;
                if (owner[at] >= 0)
                    fail_msg("%s: faces %d and %zu overlap at texel (%d, %d)", name, owner[at], f,
                             px, py);
                owner[at] = (int32_t)f;
                covered++;
            }
    }
    free(owner);

    /* Charts' boxes are at least the padding apart. */
    size_t nc = a->stats.n_charts;
    double *box = malloc(nc * 4 * sizeof *box);
    assert_non_null(box);
    for (size_t c = 0; c < nc; c++)
        box[4 * c] = box[4 * c + 1] = INFINITY, box[4 * c + 2] = box[4 * c + 3] = -INFINITY;
    for (size_t f = 0; f < m->n_faces; f++)
        for (int c = 0; c < 3; c++) {
            const float *uv = a->mesh.uvs + 2 * (size_t)m->indices[3 * f + (size_t)c];
            double *b = box + 4 * a->chart[f];
            b[0] = fmin(b[0], uv[0]), b[1] = fmin(b[1], uv[1]);
            b[2] = fmax(b[2], uv[0]), b[3] = fmax(b[3], uv[1]);
        }
    for (size_t c = 0; c < nc; c++)
        for (size_t d = c + 1; d < nc; d++) {
            const double *p = box + 4 * c, *q = box + 4 * d;
            double gap = fmax(fmax(q[0] - p[2], p[0] - q[2]), fmax(q[1] - p[3], p[1] - q[3]));
            if (gap < pad - 1e-6)
                fail_msg("%s: charts %zu and %zu are %g texels apart (padding %d)", name, c, d,
                         gap * o->texture_size, o->padding);
        }
    free(box);

    /* Faces sharing an edge in the input share the edge's two vertices in
     * the atlas when they are in one chart, and none of them when not. */
    size_t ne = 3 * in->n_faces;
    struct edge_rec *er = malloc(ne * sizeof *er);
    assert_non_null(er);
    for (size_t h = 0; h < ne; h++) {
        uint32_t p = in->indices[h], q = in->indices[h - h % 3 + (h % 3 + 1) % 3];
        er[h] = (struct edge_rec){p < q ? p : q, p < q ? q : p, (uint32_t)(h / 3)};
    }
    qsort(er, ne, sizeof *er, edge_cmp);
    size_t seams = 0;
    for (size_t i = 0; i + 1 < ne; i++) {
        if (er[i].lo != er[i + 1].lo || er[i].hi != er[i + 1].hi)
            continue;
        uint32_t f = er[i].face, g = er[i + 1].face;
        for (int end = 0; end < 2; end++) {
            uint32_t v = end ? er[i].hi : er[i].lo, vf = UINT32_MAX, vg = UINT32_MAX;
            for (int c = 0; c < 3; c++) {
                if (in->indices[3 * (size_t)f + (size_t)c] == v)
                    vf = m->indices[3 * (size_t)f + (size_t)c];
                if (in->indices[3 * (size_t)g + (size_t)c] == v)
                    vg = m->indices[3 * (size_t)g + (size_t)c];
            }
            if (a->chart[f] == a->chart[g])
                assert_int_equal(vf, vg);
            else
                assert_int_not_equal(vf, vg);
        }
        seams += a->chart[f] != a->chart[g];
    }
    free(er);
    printf("# %s: %zu faces, %zu charts, %zu seam edges, %.1f%% of the texture used "
           "(%.1f%% by the check's samples), %.0f texels/m, chart density %.2f..%.2f, "
           "worst stretch %.2f\n",
           name, m->n_faces, nc, seams, 100.0 * a->stats.utilisation,
           100.0 * covered / ((double)RASTER * RASTER), a->stats.texels_per_m,
           a->stats.density_min, a->stats.density_max, a->stats.worst_stretch);
    assert_true(a->stats.density_min >= 0.5 - 1e-6 && a->stats.density_max <= 1.0 + 1e-6);
    assert_true(a->stats.worst_stretch <= 1.0 / 0.34 + 1e-6);
}

static void build_and_check(struct ln_mesh *m, int size, const char *name, size_t max_charts,
                            double min_used)
{
    struct ln_uv_options o;
    ln_uv_options_default(&o, size);
    struct ln_uv_atlas a = {0}, b = {0};
    struct ln_error err = {0};
    if (ln_uv_atlas_build(m, &o, &a, &err) < 0)
        fail_msg("%s: %s", name, err.message);
    check_atlas(m, &o, &a, name);
    if (a.stats.n_charts > max_charts)
        fail_msg("%s: %zu charts (at most %zu expected)", name, a.stats.n_charts, max_charts);
    if (a.stats.utilisation < min_used)
        fail_msg("%s: %.1f%% of the texture used (at least %.0f%% expected)", name,
                 100.0 * a.stats.utilisation, 100.0 * min_used);
    /* The same input gives the same atlas. */
    assert_int_equal(ln_uv_atlas_build(m, &o, &b, &err), 0);
    assert_int_equal(a.mesh.n_vertices, b.mesh.n_vertices);
    assert_memory_equal(a.mesh.uvs, b.mesh.uvs, 2 * a.mesh.n_vertices * sizeof(float));
    assert_memory_equal(a.mesh.indices, b.mesh.indices, 3 * a.mesh.n_faces * sizeof(uint32_t));
    ln_uv_atlas_free(&a);
    ln_uv_atlas_free(&b);
}

/* n separate triangles of random shapes and tilts, one per unit cell of
 * a 40 x 40 grid: every triangle is a chart of its own. */
static struct ln_mesh soup_mesh(size_t n)
{
    struct ln_mesh m = {0};
    assert_int_equal(ln_mesh_alloc(&m, 3 * n, n, 0, NULL), 0);
    uint32_t r = 7;
    for (size_t f = 0; f < n; f++) {
        float cell[3] = {(float)(f % 40), (float)(f / 40 % 40), (float)(f / 1600)};
        for (int k = 0; k < 3; k++) {
            for (int a = 0; a < 3; a++) {
                r = r * 1664525u + 1013904223u;
                m.positions[3 * (3 * f + (size_t)k) + (size_t)a] =
                    cell[a] + (float)(r >> 8 & 1023) / 1024.0f;
            }
            m.indices[3 * f + (size_t)k] = (uint32_t)(3 * f + (size_t)k);
        }
    }
    return m;
}

/* ---- tests ---- */

/* Many charts alike: 600 (the skyline and the shelves both tried) and
 * 1 500 (shelves alone, past LN__SKYLINE_MAX_CHARTS in ln_uv.c) separate
 * triangles pack without overlap, a fifth of the texture used (each
 * chart has its padding: about 28 % and 25 % are). */
static void test_many_charts(void **state)
{
    (void)state;
    size_t counts[2] = {600, 1500};
    for (int i = 0; i < 2; i++) {
        struct ln_mesh m = soup_mesh(counts[i]);
        build_and_check(&m, 1024, i ? "1500 triangles" : "600 triangles", counts[i], 0.2);
        ln_mesh_free(&m);
    }
}

static void test_sphere(void **state)
{
    (void)state;
    struct ln_mesh m = grid_mesh(sphere_fn, 64, 32);
    build_and_check(&m, 1024, "sphere", 40, 0.45);
    ln_mesh_free(&m);
}

static void test_torus(void **state)
{
    (void)state;
    struct ln_mesh m = grid_mesh(torus_fn, 96, 32);
    build_and_check(&m, 1024, "torus", 80, 0.4);
    ln_mesh_free(&m);
}

/* A cube's faces are its charts: six of them, each an undistorted square. */
static void test_cube(void **state)
{
    (void)state;
    struct ln_mesh m = cube_mesh(8);
    struct ln_uv_options o;
    ln_uv_options_default(&o, 512);
    struct ln_uv_atlas a = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_uv_atlas_build(&m, &o, &a, &err), 0);
    check_atlas(&m, &o, &a, "cube");
    assert_int_equal(a.stats.n_charts, 6);
    assert_near(a.stats.density_min, 1.0, 1e-6);
    assert_near(a.stats.worst_stretch, 1.0, 1e-6);
    /* Six equal squares on shelves of three: the scale is bounded by the
     * room across, (1 - 4 pads) / 3 per side of 2 m. */
    double pad = (double)o.padding / o.texture_size;
    assert_near(a.stats.texels_per_m / o.texture_size, (1.0 - 4 * pad) / 3.0 / 2.0, 1e-6);
    ln_uv_atlas_free(&a);
    ln_mesh_free(&m);
}

static void test_thin_cylinder(void **state)
{
    (void)state;
    struct ln_mesh m = grid_mesh(cylinder_fn, 48, 60);
    /* 2 m long, 0.1 m across: whole, its sides would fill a sixth of the
     * texture; cut across, more than half. */
    build_and_check(&m, 2048, "thin cylinder", 40, 0.5);
    ln_mesh_free(&m);
}

static void test_marching_cubes_sphere(void **state)
{
    (void)state;
    struct ln_mesh m = mc_sphere(48);
    build_and_check(&m, 2048, "marching-cubes sphere", 2000, 0.45);
    ln_mesh_free(&m);
}

/* Two turns of a ramp seen from above: one chart would cover the ring
 * twice, so the atlas cuts it (and the check finds no overlap). */
static void test_spiral_is_cut(void **state)
{
    (void)state;
    struct ln_mesh m = grid_mesh(ramp_fn, 128, 8);
    struct ln_uv_options o;
    ln_uv_options_default(&o, 1024);
    struct ln_uv_atlas a = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_uv_atlas_build(&m, &o, &a, &err), 0);
    check_atlas(&m, &o, &a, "spiral ramp");
    assert_true(a.stats.n_charts >= 2);
    ln_uv_atlas_free(&a);
    ln_mesh_free(&m);
}

/* Every texel a face covers or touches stands for a point of that face:
 * for a covered centre the point's UV is the centre itself, for a touched
 * texel it is the face's point nearest the centre (within the texel's half
 * diagonal); on the cube every such point lies on the cube's surface. The
 * covered texels add up to the atlas's share of the texture. */
static void test_texels_of_cube(void **state)
{
    (void)state;
    struct ln_mesh m = cube_mesh(4);
    struct ln_uv_options o;
    ln_uv_options_default(&o, 256);
    struct ln_uv_atlas a = {0};
    struct ln_uv_texels t = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_uv_atlas_build(&m, &o, &a, &err), 0);
    assert_int_equal(ln_uv_texels_build(&a, 256, &t, &err), 0);
    size_t inside = 0, touched = 0;
    for (size_t i = 0; i < (size_t)256 * 256; i++) {
        if (t.face[i] == LN_UV_EMPTY)
            continue;
        const uint32_t *fi = a.mesh.indices + 3 * (size_t)t.face[i];
        double w1 = t.bary[2 * i], w2 = t.bary[2 * i + 1], w0 = 1.0 - w1 - w2;
        assert_true(w0 >= -1e-5 && w1 >= -1e-5 && w2 >= -1e-5);
        double uv[2];
        for (int k = 0; k < 2; k++)
            uv[k] = 256.0 * (w0 * a.mesh.uvs[2 * (size_t)fi[0] + (size_t)k] +
                             w1 * a.mesh.uvs[2 * (size_t)fi[1] + (size_t)k] +
                             w2 * a.mesh.uvs[2 * (size_t)fi[2] + (size_t)k]);
        double dx = uv[0] - (double)(i % 256) - 0.5, dy = uv[1] - (double)(i / 256) - 0.5;
        double d = sqrt(dx * dx + dy * dy);
        if (d < 1e-3)
            inside++;
        else if (d <= sqrt(0.5) + 1e-3)
            touched++;
        else
            fail_msg("texel %zu samples a point %g texels from its centre", i, d);
        float p[3];
        ln_uv_texels_position(&a, &t, i, p);
        double far = fmax(fabs(p[0]), fmax(fabs(p[1]), fabs(p[2])));
        assert_near(far, 1.0, 1e-5);
    }
    assert_int_equal(inside, t.n_inside);
    assert_int_equal(touched, t.n_touched);
    assert_true(t.n_touched > 0);
    /* six squares of 2 x 2 m at the atlas's scale, in texels */
    double side = a.stats.texels_per_m * 2.0 * 256.0 / o.texture_size;
    assert_near((double)t.n_inside, 6.0 * side * side, 6.0 * 4.0 * side);
    ln_uv_texels_free(&t);
    /* each of its allocations failing in turn */
    for (long i = 1; i <= 6; i++) {
        ln_alloc_fail_after(i);
        assert_int_equal(ln_uv_texels_build(&a, 256, &t, &err), LN_ENOMEM);
        ln_alloc_fail_after(0);
        assert_null(t.face);
        assert_null(t.bary);
    }
    assert_int_equal(ln_uv_texels_build(&a, 0, &t, &err), LN_EINVAL);
    ln_uv_atlas_free(&a);
    ln_mesh_free(&m);
}

/* The texel table is made in bands spread over threads: the same table,
 * bit for bit, with 1, 2 and 5 threads. */
static void test_texels_any_thread_count(void **state)
{
    (void)state;
    struct ln_mesh m = mc_sphere(40);
    struct ln_uv_options o;
    ln_uv_options_default(&o, 1024);
    struct ln_uv_atlas a = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_uv_atlas_build(&m, &o, &a, &err), 0);
    struct ln_uv_texels one = {0};
    ln_threads_set(1);
    assert_int_equal(ln_uv_texels_build(&a, 1024, &one, &err), 0);
    int counts[2] = {2, 5};
    for (int c = 0; c < 2; c++) {
        ln_threads_set(counts[c]);
        struct ln_uv_texels many = {0};
        assert_int_equal(ln_uv_texels_build(&a, 1024, &many, &err), 0);
        assert_memory_equal(many.face, one.face, (size_t)1024 * 1024 * sizeof *one.face);
        assert_memory_equal(many.bary, one.bary, (size_t)1024 * 1024 * 2 * sizeof *one.bary);
        assert_int_equal(many.n_inside, one.n_inside);
        assert_int_equal(many.n_touched, one.n_touched);
        ln_uv_texels_free(&many);
    }
    ln_threads_set(0);
    ln_uv_texels_free(&one);
    ln_uv_atlas_free(&a);
    ln_mesh_free(&m);
}

/* Charts of the six directions grow on several threads at once: the
 * same atlas, bit for bit, with 1, 2, 3 and 6 threads, on a lumpy
 * marching-cubes sphere (staircase charts that small-chart merging
 * reworks) and on a
 * scattered soup (thousands of charts of every direction); and the
 * charts are numbered by their lowest face, in face order, as growing
 * them one after another from the lowest free face numbers them. */
static void test_atlas_any_thread_count(void **state)
{
    (void)state;
    struct ln_mesh meshes[2] = {mc_lumpy(64, 9), soup_mesh(3000)};
    for (int k = 0; k < 2; k++) {
        struct ln_mesh *m = &meshes[k];
        struct ln_uv_options o;
        ln_uv_options_default(&o, 1024);
        struct ln_error err = {0};
        struct ln_uv_atlas one = {0};
        ln_threads_set(1);
        assert_int_equal(ln_uv_atlas_build(m, &o, &one, &err), 0);
        size_t nc = one.stats.n_charts;
        assert_true(nc > 6);
        uint32_t *first = malloc(nc * sizeof *first);
        assert_non_null(first);
        for (size_t c = 0; c < nc; c++)
            first[c] = UINT32_MAX;
        for (size_t f = 0; f < m->n_faces; f++)
            if (first[one.chart[f]] == UINT32_MAX)
                first[one.chart[f]] = (uint32_t)f;
        for (size_t c = 1; c < nc; c++)
            assert_true(first[c - 1] < first[c]);
        free(first);
        int counts[3] = {2, 3, 6};
        for (int c = 0; c < 3; c++) {
            ln_threads_set(counts[c]);
            struct ln_uv_atlas many = {0};
            assert_int_equal(ln_uv_atlas_build(m, &o, &many, &err), 0);
            assert_int_equal(many.stats.n_charts, nc);
            assert_int_equal(many.mesh.n_vertices, one.mesh.n_vertices);
            assert_int_equal(many.mesh.n_faces, one.mesh.n_faces);
            size_t nv = one.mesh.n_vertices, nf = one.mesh.n_faces;
            assert_memory_equal(many.chart, one.chart, nf * sizeof *one.chart);
            assert_memory_equal(many.source, one.source, nv * sizeof *one.source);
            assert_memory_equal(many.mesh.indices, one.mesh.indices, 3 * nf * sizeof(uint32_t));
            assert_memory_equal(many.mesh.positions, one.mesh.positions, 3 * nv * sizeof(float));
            assert_memory_equal(many.mesh.uvs, one.mesh.uvs, 2 * nv * sizeof(float));
            ln_uv_atlas_free(&many);
        }
        ln_threads_set(0);
        ln_uv_atlas_free(&one);
        ln_mesh_free(m);
    }
}

/* The pull-push fill runs its levels' rows on all threads: the same bytes
 * with 1, 2 and 3 threads, on a 517 x 517 texture (odd sides at every
 * level) with scattered filled texels. */
static void test_fill_rest_any_thread_count(void **state)
{
    (void)state;
    enum { N = 517 };
    static uint8_t px0[N * N * 3], filled[N * N], ref[N * N * 3], px[N * N * 3];
    uint32_t rng = 777;
    for (size_t i = 0; i < (size_t)N * N; i++) {
        rng = rng * 1664525u + 1013904223u;
        filled[i] = (rng >> 24) < 8; /* about 3 % */
        for (int c = 0; c < 3; c++)
            px0[3 * i + (size_t)c] = filled[i] ? (uint8_t)(rng >> (8 * c)) : 0;
    }
    struct ln_error err = {0};
    int threads[3] = {1, 2, 3};
    for (int k = 0; k < 3; k++) {
        ln_threads_set(threads[k]);
        memcpy(px, px0, sizeof px0);
        assert_int_equal(ln_uv_fill_rest(px, 3, filled, N, &err), 0);
        if (k == 0) {
            memcpy(ref, px, sizeof px);
            for (size_t i = 0; i < (size_t)N * N; i++)
                if (filled[i]) /* the filled texels stay as they were */
                    assert_memory_equal(px + 3 * i, px0 + 3 * i, 3);
        } else {
            assert_memory_equal(px, ref, sizeof ref);
        }
    }
    ln_threads_set(0);
}

/* One red and one blue texel in an empty 9 x 9 texture: each ring of the
 * gutter fill reaches one texel further, a texel between them takes their
 * mean, and texels beyond the last ring stay empty. */
static void test_dilate(void **state)
{
    (void)state;
    uint8_t px[81 * 3] = {0}, filled[81] = {0};
    px[3 * (4 * 9 + 1)] = 200; /* red at (1, 4) */
    px[3 * (4 * 9 + 7) + 2] = 100; /* blue at (7, 4) */
    filled[4 * 9 + 1] = filled[4 * 9 + 7] = 1;
    struct ln_error err = {0};
    ln_alloc_fail_after(1);
    assert_int_equal(ln_uv_dilate(px, 3, filled, 9, 3, &err), LN_ENOMEM);
    ln_alloc_fail_after(0);
    assert_int_equal(filled[4 * 9 + 2], 0);
    assert_int_equal(ln_uv_dilate(px, 3, filled, 9, 3, &err), 0);
    assert_int_equal(filled[4 * 9 + 2], 2);
    assert_int_equal(px[3 * (4 * 9 + 2)], 200);
    assert_int_equal(filled[4 * 9 + 3], 3);
    assert_int_equal(filled[4 * 9 + 4], 4); /* the middle: reached by both in ring 3 */
    assert_int_equal(px[3 * (4 * 9 + 4)], 100);
    assert_int_equal(px[3 * (4 * 9 + 4) + 2], 50);
    assert_int_equal(filled[0 * 9 + 8], 0); /* four rings away from blue */
    assert_int_equal(filled[8 * 9 + 1], 0);
    assert_int_equal(filled[7 * 9 + 1], 4);
}

/* The gutter fill of a 300 x 300 texture with scattered filled discs, 6
 * rings, against the definition computed directly (each ring: every empty
 * texel beside a texel filled before it takes the rounded mean of those),
 * with 1 and with 2 threads: the same bytes. */
static void test_dilate_matches_definition(void **state)
{
    (void)state;
    enum { N = 300, RINGS = 6 };
    static uint8_t px0[N * N * 3], filled0[N * N], ref_px[N * N * 3], ref_f[N * N];
    static uint8_t px[N * N * 3], filled[N * N];
    memset(filled0, 0, sizeof filled0);
    memset(px0, 0, sizeof px0);
    uint32_t rng = 12345;
    for (int d = 0; d < 40; d++) {
        rng = rng * 1664525u + 1013904223u;
        int cx = (int)(rng >> 8) % N, cy = (int)(rng >> 20) % N, r = 3 + (int)(rng % 9);
        for (int y = cy - r; y <= cy + r; y++)
            for (int x = cx - r; x <= cx + r; x++) {
                if (x < 0 || y < 0 || x >= N || y >= N ||
                    (x - cx) * (x - cx) + (y - cy) * (y - cy) > r * r)
                    continue;
                size_t at = (size_t)y * N + (size_t)x;
                filled0[at] = 1;
                for (int c = 0; c < 3; c++)
                    px0[3 * at + (size_t)c] = (uint8_t)(x * (c + 1) + y * (3 - c) + d * 17);
            }
    }
    memcpy(ref_px, px0, sizeof px0);
    memcpy(ref_f, filled0, sizeof filled0);
    for (int r = 1; r <= RINGS; r++) {
        static uint8_t ring[N * N];
        memset(ring, 0, sizeof ring);
        for (int y = 0; y < N; y++)
            for (int x = 0; x < N; x++) {
                size_t at = (size_t)y * N + (size_t)x;
                if (ref_f[at] != 0)
                    continue;
                unsigned sum[3] = {0, 0, 0}, count = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        int nx = x + dx, ny = y + dy;
                        if (nx < 0 || ny < 0 || nx >= N || ny >= N)
                            continue;
                        size_t nb = (size_t)ny * N + (size_t)nx;
                        if (ref_f[nb] == 0 || ref_f[nb] > r)
                            continue;
                        for (int c = 0; c < 3; c++)
                            sum[c] += ref_px[3 * nb + (size_t)c];
                        count++;
                    }
                if (count == 0)
                    continue;
                ring[at] = 1;
                for (int c = 0; c < 3; c++)
                    ref_px[3 * at + (size_t)c] = (uint8_t)((sum[c] + count / 2) / count);
            }
        for (size_t i = 0; i < (size_t)N * N; i++)
            if (ring[i])
                ref_f[i] = (uint8_t)(r + 1);
    }
    struct ln_error err = {0};
    int threads[2] = {1, 2};
    for (int k = 0; k < 2; k++) {
        ln_threads_set(threads[k]);
        memcpy(px, px0, sizeof px0);
        memcpy(filled, filled0, sizeof filled0);
        assert_int_equal(ln_uv_dilate(px, 3, filled, N, RINGS, &err), 0);
        assert_memory_equal(filled, ref_f, sizeof ref_f);
        assert_memory_equal(px, ref_px, sizeof ref_px);
    }
    ln_threads_set(0);
}

/* The rest of the texture from a pyramid: one red texel in the top-left
 * quarter and one blue in the bottom-right; every empty texel takes the
 * colour of the nearest scale that has one, so the top-left quarter is
 * red, the bottom-right blue, and the two others their mean. The filled
 * texels stay as they were. */
static void test_fill_rest(void **state)
{
    (void)state;
    uint8_t px[16 * 16 * 3] = {0}, filled[256] = {0};
    px[3 * (2 * 16 + 2)] = 200;
    px[3 * (12 * 16 + 12) + 2] = 100;
    filled[2 * 16 + 2] = filled[12 * 16 + 12] = 1;
    struct ln_error err = {0};
    ln_alloc_fail_after(1);
    assert_int_equal(ln_uv_fill_rest(px, 3, filled, 16, &err), LN_ENOMEM);
    ln_alloc_fail_after(0);
    assert_int_equal(px[0], 0);
    assert_int_equal(ln_uv_fill_rest(px, 3, filled, 16, &err), 0);
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++) {
            const uint8_t *p = px + 3 * (y * 16 + x);
            uint8_t want[3] = {0, 0, 0};
            if (x < 8 && y < 8)
                want[0] = 200;
            else if (x >= 8 && y >= 8)
                want[2] = 100;
            else
                want[0] = 100, want[2] = 50;
            assert_memory_equal(p, want, 3);
        }
    assert_int_equal(filled[0], 0); /* the mask is only read */
    assert_int_equal(ln_uv_fill_rest(px, 5, filled, 16, &err), LN_EINVAL);
}

static void test_bad_input(void **state)
{
    (void)state;
    struct ln_mesh m = cube_mesh(2);
    struct ln_uv_options o;
    struct ln_uv_atlas a = {0};
    struct ln_error err = {0};
    ln_uv_options_default(&o, 8);
    assert_int_equal(ln_uv_atlas_build(&m, &o, &a, &err), LN_EINVAL);
    assert_null(a.mesh.uvs);
    ln_uv_options_default(&o, 1024);
    o.padding = -1;
    assert_int_equal(ln_uv_atlas_build(&m, &o, &a, &err), LN_EINVAL);
    ln_uv_options_default(&o, 1024);
    m.indices[5] = (uint32_t)m.n_vertices;
    assert_int_equal(ln_uv_atlas_build(&m, &o, &a, &err), LN_EINVAL);
    m.indices[5] = 0;
    size_t nf = m.n_faces;
    m.n_faces = 0;
    assert_int_equal(ln_uv_atlas_build(&m, &o, &a, &err), LN_EINVAL);
    m.n_faces = nf;
    ln_mesh_free(&m);

    /* Hundreds of charts cannot keep 4 texels apart in 16 x 16. */
    struct ln_mesh s = mc_sphere(32);
    o.texture_size = 16;
    o.padding = 4;
    assert_int_equal(ln_uv_atlas_build(&s, &o, &a, &err), LN_ETOOBIG);
    assert_non_null(strstr(err.message, "charts"));
    assert_null(a.mesh.uvs);
    assert_null(a.mesh.positions);
    ln_mesh_free(&s);
}

static void test_out_of_memory(void **state)
{
    (void)state;
    struct ln_mesh m = grid_mesh(ramp_fn, 64, 4);
    struct ln_uv_options o;
    ln_uv_options_default(&o, 512);
    struct ln_uv_atlas a = {0};
    struct ln_error err = {0};
    ln_alloc_fail_after(0);
    assert_int_equal(ln_uv_atlas_build(&m, &o, &a, &err), 0);
    long n = ln_alloc_fail_after(0);
    ln_uv_atlas_free(&a);
    assert_true(n > 10);
    for (long i = 1; i <= n; i++) {
        ln_alloc_fail_after(i);
        int rc = ln_uv_atlas_build(&m, &o, &a, &err);
        ln_alloc_fail_after(0);
        if (rc != LN_ENOMEM)
            fail_msg("allocation %ld of %ld: %d (%s)", i, n, rc, err.message);
        assert_null(a.mesh.uvs);
        assert_null(a.mesh.positions);
    }
    /* and with nothing failing, it works again */
    assert_int_equal(ln_uv_atlas_build(&m, &o, &a, &err), 0);
    check_atlas(&m, &o, &a, "ramp after the sweep");
    ln_uv_atlas_free(&a);
    ln_mesh_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sphere),
        cmocka_unit_test(test_torus),
        cmocka_unit_test(test_cube),
        cmocka_unit_test(test_thin_cylinder),
        cmocka_unit_test(test_marching_cubes_sphere),
        cmocka_unit_test(test_spiral_is_cut),
        cmocka_unit_test(test_texels_of_cube),
        cmocka_unit_test(test_texels_any_thread_count),
        cmocka_unit_test(test_atlas_any_thread_count),
        cmocka_unit_test(test_many_charts),
        cmocka_unit_test(test_dilate),
        cmocka_unit_test(test_dilate_matches_definition),
        cmocka_unit_test(test_fill_rest),
        cmocka_unit_test(test_fill_rest_any_thread_count),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
