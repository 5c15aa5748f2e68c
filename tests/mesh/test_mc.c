/* Unit tests of marching cubes: closed analytic shapes (sphere, torus)
 * measured against their formulas, every corner pattern of one cell, random
 * neighbourhoods full of ambiguous faces (crack-freedom), determinism
 * across thread counts, open surfaces at the grid's edge, out-of-memory
 * paths, and the speed of a 257^3 extraction. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_mc.h"
#include "ln_mesh.h"
#include "ln_threads.h"
#include "ln_time.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#if defined(__SANITIZE_ADDRESS__)
#define LN_TEST_SANITIZED 1
#else
#define LN_TEST_SANITIZED 0
#endif

/* A grid over [-1, 1]^3 with n points per side. */
struct grid {
    int n;
    float *f;
    float origin[3], spacing[3];
};

enum shape { SHAPE_SPHERE, SHAPE_TORUS };

static struct grid make_grid(int n, enum shape s, double r, double R)
{
    struct grid g = {.n = n};
    g.f = malloc((size_t)n * n * n * sizeof(float));
    assert_non_null(g.f);
    double h = 2.0 / (n - 1);
    for (int a = 0; a < 3; a++) {
        g.origin[a] = -1.0f;
        g.spacing[a] = (float)h;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            for (int k = 0; k < n; k++) {
                double x = -1.0 + i * h, y = -1.0 + j * h, z = -1.0 + k * h;
                double v;
                if (s == SHAPE_SPHERE) {
                    v = r - sqrt(x * x + y * y + z * z);
                } else {
                    double q = sqrt(x * x + z * z) - R;
                    v = r - sqrt(q * q + y * y);
                }
                g.f[((size_t)i * n + j) * n + k] = (float)v;
            }
    return g;
}

static struct ln_mesh extract(const struct grid *g)
{
    struct ln_mesh m = {0};
    struct ln_error err = {0};
    int rc = ln_mc_extract(g->f, g->n, g->n, g->n, 0.0f, g->origin, g->spacing, &m, &err);
    if (rc < 0)
        fail_msg("extract: %s", err.message);
    return m;
}

static struct ln_mesh_stats stats_of(const struct ln_mesh *m)
{
    struct ln_mesh_stats st;
    struct ln_error err = {0};
    if (ln_mesh_stats(m, &st, &err) < 0)
        fail_msg("stats: %s", err.message);
    return st;
}

static void test_sphere_closed_and_accurate(void **state)
{
    const double r = 0.8;
    struct grid g = make_grid(128, SHAPE_SPHERE, r, 0);
    struct ln_mesh m = extract(&g);
    struct ln_mesh_stats st = stats_of(&m);
    assert_true(st.watertight);
    assert_int_equal(st.euler, 2);
    assert_int_equal(st.n_components, 1);
    assert_int_equal(st.n_boundary_edges, 0);
    double vol = 4.0 / 3.0 * M_PI * r * r * r, area = 4.0 * M_PI * r * r;
    printf("sphere 128^3: volume %+.3f%%, area %+.3f%%\n", 100.0 * (st.volume / vol - 1.0),
           100.0 * (st.area / area - 1.0));
    assert_true(st.volume > 0.0);
    assert_near(st.volume, vol, 0.01 * vol);
    assert_near(st.area, area, 0.01 * area);
    double h = g.spacing[0];
    for (size_t v = 0; v < m.n_vertices; v++) {
        const float *p = m.positions + 3 * v;
        double d = sqrt((double)p[0] * p[0] + (double)p[1] * p[1] + (double)p[2] * p[2]);
        assert_near(d, r, 0.5 * h);
    }
    assert_near(st.bbox_min[0], -r, h);
    assert_near(st.bbox_max[1], r, h);
    ln_mesh_free(&m);
    free(g.f);
}

static void test_torus_closed_and_accurate(void **state)
{
    const double R = 0.55, r = 0.25;
    struct grid g = make_grid(128, SHAPE_TORUS, r, R);
    struct ln_mesh m = extract(&g);
    struct ln_mesh_stats st = stats_of(&m);
    assert_true(st.watertight);
    assert_int_equal(st.euler, 0);
    assert_int_equal(st.n_components, 1);
    double vol = 2.0 * M_PI * M_PI * R * r * r, area = 4.0 * M_PI * M_PI * R * r;
    printf("torus 128^3: volume %+.3f%%, area %+.3f%%\n", 100.0 * (st.volume / vol - 1.0),
           100.0 * (st.area / area - 1.0));
    assert_near(st.volume, vol, 0.01 * vol);
    assert_near(st.area, area, 0.01 * area);
    ln_mesh_free(&m);
    free(g.f);
}

/* Single cell, all 256 corner patterns: every triangle edge used by only
 * one triangle lies on a face of the cube, and interior edges are used
 * twice in opposite directions. */
static void test_every_case_borders_on_faces(void **state)
{
    const float origin[3] = {0, 0, 0}, spacing[3] = {1, 1, 1};
    for (int cs = 0; cs < 256; cs++) {
        float f[8];
        for (int c = 0; c < 8; c++)
            f[c] = (cs >> c & 1) ? 1.0f : -1.0f; /* corner c = (x, y, z) bits (4, 2, 1) */
        struct ln_mesh m = {0};
        struct ln_error err = {0};
        assert_int_equal(ln_mc_extract(f, 2, 2, 2, 0.0f, origin, spacing, &m, &err), 0);
        if (cs == 0 || cs == 255)
            assert_int_equal(m.n_faces, 0);
        else
            assert_true(m.n_faces > 0);
        for (size_t t = 0; t < m.n_faces; t++) {
            for (int e = 0; e < 3; e++) {
                uint32_t a = m.indices[3 * t + e], b = m.indices[3 * t + (e + 1) % 3];
                assert_true(a != b);
                int same = 0, opposite = 0;
                for (size_t u = 0; u < m.n_faces; u++)
                    for (int d = 0; d < 3; d++) {
                        uint32_t x = m.indices[3 * u + d], y = m.indices[3 * u + (d + 1) % 3];
                        same += x == a && y == b;
                        opposite += x == b && y == a;
                    }
                assert_int_equal(same, 1);
                if (opposite == 1)
                    continue;
                assert_int_equal(opposite, 0);
                const float *p = m.positions + 3 * a, *q = m.positions + 3 * b;
                int on_face = 0;
                for (int ax = 0; ax < 3; ax++)
                    if (p[ax] == q[ax] && (p[ax] == 0.0f || p[ax] == 1.0f))
                        on_face = 1;
                if (!on_face)
                    fail_msg("case %d: open edge off the cube faces", cs);
            }
        }
        ln_mesh_free(&m);
    }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static double rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Random 6^3 interiors padded with outside: every cell meets neighbours
 * whose faces are often ambiguous, and the union must close. */
static void test_random_grids_are_crack_free(void **state)
{
    enum { N = 8 };
    const float origin[3] = {0, 0, 0}, spacing[3] = {1, 1, 1};
    int trials = LN_TEST_SANITIZED ? 300 : 1500;
    for (int trial = 0; trial < trials; trial++) {
        float f[N * N * N];
        int mode = trial % 3;
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++)
                for (int k = 0; k < N; k++) {
                    float v = -1.0f;
                    if (i > 0 && j > 0 && k > 0 && i < N - 1 && j < N - 1 && k < N - 1) {
                        double u = rnd();
                        if (mode == 0)
                            v = u < 0.5 ? 1.0f : -1.0f;
                        else if (mode == 1)
                            v = (float)(2.0 * u - 1.0);
                        else /* exact zeros (outside) and near-equal values */
                            v = (float)((int)(u * 5.0) - 2) * 0.5f;
                    }
                    f[(i * N + j) * N + k] = v;
                }
        struct ln_mesh m = {0};
        struct ln_error err = {0};
        assert_int_equal(ln_mc_extract(f, N, N, N, 0.0f, origin, spacing, &m, &err), 0);
        if (m.n_faces > 0) {
            struct ln_mesh_stats st = stats_of(&m);
            if (!st.watertight)
                fail_msg("trial %d (mode %d): not watertight, %zu boundary edges", trial, mode,
                         st.n_boundary_edges);
            assert_true(st.volume > 0.0);
            assert_int_equal(st.n_boundary_edges, 0);
        }
        ln_mesh_free(&m);
    }
}

static void test_same_result_for_any_thread_count(void **state)
{
    struct grid g = make_grid(70, SHAPE_TORUS, 0.3, 0.5);
    for (size_t i = 0; i < (size_t)g.n * g.n * g.n; i++)
        g.f[i] += 0.05f * (float)sin((double)i * 0.37); /* bumps and ambiguous faces */
    ln_threads_set(1);
    struct ln_mesh ref = extract(&g);
    assert_true(ref.n_faces > 1000);
    int counts[] = {2, 3, 4, 7};
    for (int t = 0; t < 4; t++) {
        ln_threads_set(counts[t]);
        struct ln_mesh m = extract(&g);
        assert_int_equal(m.n_vertices, ref.n_vertices);
        assert_int_equal(m.n_faces, ref.n_faces);
        assert_memory_equal(m.positions, ref.positions, ref.n_vertices * 3 * sizeof(float));
        assert_memory_equal(m.indices, ref.indices, ref.n_faces * 3 * sizeof(uint32_t));
        ln_mesh_free(&m);
    }
    ln_threads_set(0);
    ln_mesh_free(&ref);
    free(g.f);
}

static void test_open_at_grid_edge_closed_when_padded(void **state)
{
    /* A sphere larger than the box is cut open by the box's faces. */
    struct grid g = make_grid(40, SHAPE_SPHERE, 1.2, 0);
    struct ln_mesh m = extract(&g);
    struct ln_mesh_stats st = stats_of(&m);
    assert_false(st.watertight);
    assert_true(st.n_boundary_edges > 0);
    ln_mesh_free(&m);
    /* The same field with an outside border closes. */
    int n = g.n, p = n + 2;
    float *f = malloc((size_t)p * p * p * sizeof(float));
    assert_non_null(f);
    for (int i = 0; i < p; i++)
        for (int j = 0; j < p; j++)
            for (int k = 0; k < p; k++) {
                int in = i > 0 && j > 0 && k > 0 && i <= n && j <= n && k <= n;
                f[((size_t)i * p + j) * p + k] =
                    in ? g.f[((size_t)(i - 1) * n + (j - 1)) * n + (k - 1)] : -1.0f;
            }
    struct ln_error err = {0};
    assert_int_equal(ln_mc_extract(f, p, p, p, 0.0f, g.origin, g.spacing, &m, &err), 0);
    st = stats_of(&m);
    assert_true(st.watertight);
    assert_int_equal(st.n_boundary_edges, 0);
    assert_int_equal(st.euler, 2);
    assert_true(st.volume > 0.0);
    ln_mesh_free(&m);
    free(f);
    free(g.f);
}

static void test_rejects_bad_grids(void **state)
{
    float f[8] = {0};
    const float o[3] = {0, 0, 0}, s[3] = {1, 1, 1};
    struct ln_mesh m = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_mc_extract(f, 1, 2, 2, 0.0f, o, s, &m, &err), LN_EINVAL);
    assert_int_equal(ln_mc_extract(f, 2, 2, 2, 0.5f, o, s, &m, &err), 0);
    assert_int_equal(m.n_faces, 0);
    ln_mesh_free(&m);
}

/* NaN counts as outside and infinities as far values: the surface stays
 * closed and every vertex finite. */
static void test_non_finite_values(void **state)
{
    enum { N = 10 };
    float f[N * N * N];
    const float o[3] = {0, 0, 0}, s[3] = {1, 1, 1};
    const float special[4] = {NAN, INFINITY, -INFINITY, 0.0f};
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            for (int k = 0; k < N; k++) {
                int in = i > 0 && j > 0 && k > 0 && i < N - 1 && j < N - 1 && k < N - 1;
                float v = in ? (float)(rnd() * 2.0 - 1.0) : -1.0f;
                if (in && rnd() < 0.3)
                    v = special[(int)(rnd() * 4.0) & 3];
                f[(i * N + j) * N + k] = v;
            }
    struct ln_mesh m = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_mc_extract(f, N, N, N, 0.0f, o, s, &m, &err), 0);
    assert_true(m.n_faces > 0);
    for (size_t i = 0; i < 3 * m.n_vertices; i++)
        assert_true(isfinite(m.positions[i]));
    struct ln_mesh_stats st = stats_of(&m);
    assert_true(st.watertight);
    ln_mesh_free(&m);
}

static void test_out_of_memory_is_clean(void **state)
{
    struct grid g = make_grid(24, SHAPE_SPHERE, 0.7, 0);
    ln_alloc_fail_after(0);
    struct ln_mesh m = extract(&g);
    long n_allocs = ln_alloc_fail_after(0);
    assert_true(n_allocs >= 3);
    ln_mesh_free(&m);
    for (long n = 1; n <= n_allocs; n++) {
        struct ln_error err = {0};
        ln_alloc_fail_after(n);
        int rc = ln_mc_extract(g.f, g.n, g.n, g.n, 0.0f, g.origin, g.spacing, &m, &err);
        ln_alloc_fail_after(0);
        assert_int_equal(rc, LN_ENOMEM);
        assert_int_equal(err.code, LN_ENOMEM);
        assert_null(m.positions);
        assert_null(m.indices);
    }
    ln_alloc_fail_after(n_allocs + 1); /* one past the last: it succeeds */
    struct ln_error err = {0};
    assert_int_equal(ln_mc_extract(g.f, g.n, g.n, g.n, 0.0f, g.origin, g.spacing, &m, &err), 0);
    ln_alloc_fail_after(0);
    ln_mesh_free(&m);
    free(g.f);
}

/* A large grid: still one closed sphere (its timing is bench-parts'). */
static void test_large_257(void **state)
{
    struct grid g = make_grid(257, SHAPE_SPHERE, 0.8, 0);
    struct ln_mesh m = extract(&g);
    struct ln_mesh_stats st = stats_of(&m);
    assert_true(st.watertight);
    assert_int_equal(st.euler, 2);
    ln_mesh_free(&m);
    free(g.f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sphere_closed_and_accurate),
        cmocka_unit_test(test_torus_closed_and_accurate),
        cmocka_unit_test(test_every_case_borders_on_faces),
        cmocka_unit_test(test_random_grids_are_crack_free),
        cmocka_unit_test(test_same_result_for_any_thread_count),
        cmocka_unit_test(test_open_at_grid_edge_closed_when_padded),
        cmocka_unit_test(test_rejects_bad_grids),
        cmocka_unit_test(test_non_finite_values),
        cmocka_unit_test(test_out_of_memory_is_clean),
        cmocka_unit_test(test_large_257),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
