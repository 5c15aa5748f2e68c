/* Unit tests of the triposr engine on the tiny golden model
 * (tests/data/triposr-tiny, docs/TRIPOSR.md section 17): the grid layout
 * and density path against the golden 32^3 grid, run.py preprocessing
 * against the golden network input, the coarse-to-fine density grid
 * against the dense one (same mesh), the turn into the product frame,
 * one whole run through ln_generate from input.png with the model found in
 * the fixture's Hugging Face cache, intermediate arrays through a tap, the
 * .npy writer, and the errors a caller can meet. The random model's
 * density field is arbitrary, so the end-to-end run is judged on
 * structure, not shape. */
#include "testutil.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ln_alloc.h"
#include "ln_camera.h"
#include "ln_engine.h"
#include "ln_file.h"
#include "ln_image.h"
#include "ln_mesh.h"
#include "ln_npy.h"
#include "ln_sys.h"
#include "ln_threads.h"
#include "ln_triposr.h"
#include "triposr_internal.h"
#include "test_cpu.h"
#include "bake_check.h"
#include "triposr_golden.h"

#define IMG (3 * 64 * 64)
#define SCENE (3 * 8 * 16 * 16)
#define N_GRID 32768
#define MODEL "golden/triposr-tiny"

static struct ln_engine *g_eng;

static int setup(void **state)
{
    golden_use_fixture_cache();
    struct ln_error err = {0};
    if (ln_engine_triposr_new(MODEL, &g_eng, &err) < 0) {
        fprintf(stderr, "loading %s: %s\n", MODEL, err.message);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    ln_engine_free(g_eng);
    ln_threads_set(0);
    return 0;
}

static const struct ln_triposr *net(void)
{
    return ln__engine_triposr_net(g_eng);
}

/* ------------------------------------------------------------ grid and density */

static void test_engine_identity(void **state)
{
    assert_string_equal(ln_engine_name(g_eng), "triposr");
    printf("  %s\n", ln_engine_description(g_eng));
    assert_non_null(strstr(ln_engine_description(g_eng), "weights from Hugging Face cache"));
    assert_non_null(strstr(ln_engine_description(g_eng), MODEL));
    struct ln_engine *sculpt;
    assert_int_equal(ln_engine_sculpt_new(&sculpt, NULL), 0);
    assert_null(ln__engine_triposr_net(sculpt));
    assert_string_equal(ln_engine_description(sculpt), "");
    ln_engine_free(sculpt);
}

/* Grid coordinates exactly as upstream: row n = (x_i, y_j, z_k). */
static void test_grid_axis(void **state)
{
    float *pos = golden("grid_positions", N_GRID * 3);
    float axis[32];
    ln__triposr_grid_axis(32, 0.87f, axis);
    for (int i = 0; i < 32; i++)
        for (int j = 0; j < 32; j++)
            for (int k = 0; k < 32; k++) {
                const float *p = pos + ((size_t)(i * 32 + j) * 32 + (size_t)k) * 3;
                if (p[0] != axis[i] || p[1] != axis[j] || p[2] != axis[k])
                    fail_msg("grid point (%d, %d, %d): (%.9g, %.9g, %.9g) vs (%.9g, %.9g, %.9g)", i,
                             j, k, (double)p[0], (double)p[1], (double)p[2], (double)axis[i],
                             (double)axis[j], (double)axis[k]);
            }
    free(pos);
}

/* The dense grid from the golden scene code, and from the scene code the
 * network computes from the golden network input: the grid layout and the
 * density path end to end. */
static void test_dense_grid_golden(void **state)
{
    float *want = golden("grid_density_act", N_GRID);
    float *scene = golden("scene_codes", SCENE);
    float *in = golden("vit_input", IMG);
    float *field = malloc(N_GRID * sizeof(float));
    struct ln_error err = {0};
    struct ln__tsr_density_stats st;
    assert_int_equal(ln__triposr_density_dense(net(), scene, 32, field, &st, NULL, &err), 0);
    double w = worst_rel(field, want, N_GRID, 0.0, NULL);
    printf("  golden scene code: density_act worst relative error %.3g\n", w);
    assert_true(w <= 1e-4);
    assert_int_equal(st.n_evaluated, N_GRID);
    assert_int_equal(ln_triposr_scene_code(net(), in, scene, NULL, NULL, &err), 0);
    assert_int_equal(ln__triposr_density_dense(net(), scene, 32, field, NULL, NULL, &err), 0);
    w = worst_rel(field, want, N_GRID, 0.0, NULL);
    printf("  scene code from vit_input: density_act worst relative error %.3g\n", w);
    assert_true(w <= 1e-4);
    free(field);
    free(in);
    free(scene);
    free(want);
}

/* run.py's preprocessing of input.png (meaningful alpha, so it is kept):
 * the golden network input. */
static void test_preprocess_golden(void **state)
{
    struct ln_image img = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_image_load(ln_test_data("triposr-tiny/input.png"), NULL, &img, &err), 0);
    float *want = golden("vit_input", IMG);
    float *got = malloc(IMG * sizeof(float));
    assert_int_equal(ln__triposr_preprocess(net(), &img, 1, NULL, 0.85f, got, &err), 0);
    const double w = worst_rel(got, want, IMG, 1e-2, NULL);
    printf("  network input worst relative error %.3g\n", w);
    assert_true(w <= 1e-4);
    /* Without background removal the RGB goes straight to the resize: the
     * magenta under alpha 0 shows. */
    assert_int_equal(ln__triposr_preprocess(net(), &img, 0, NULL, 0.85f, got, &err), 0);
    const float magenta_r = (1.0f - 0.485f) / 0.229f, magenta_g = (0.0f - 0.456f) / 0.224f;
    assert_near(got[0], magenta_r, 1e-4);            /* R of the corner pixel */
    assert_near(got[64 * 64], magenta_g, 1e-4);      /* G */
    free(got);
    free(want);
    ln_image_free(&img);
}

struct mesh_pair {
    struct ln_mesh dense, c2f;
    struct ln__tsr_density_stats st;
};

static void mesh_both(const float *scene, int R, int step, struct mesh_pair *mp)
{
    const size_t n = (size_t)R * R * R;
    float *fd = malloc(n * sizeof(float)), *fc = malloc(n * sizeof(float));
    struct ln_error err = {0};
    memset(mp, 0, sizeof *mp);
    assert_int_equal(ln__triposr_density_dense(net(), scene, R, fd, NULL, NULL, &err), 0);
    assert_int_equal(ln__triposr_density_coarse_fine(net(), scene, R, step, fc, &mp->st, NULL, &err),
                     0);
    /* Where evaluated, the coarse-to-fine field is the density itself;
     * elsewhere it lies on the same side of the threshold. */
    size_t exact = 0;
    for (size_t i = 0; i < n; i++) {
        if (fc[i] == fd[i])
            exact++;
        else if ((fc[i] > LN__TSR_THRESHOLD) != (fd[i] > LN__TSR_THRESHOLD))
            fail_msg("R %d: point %zu on the wrong side (%.6g vs %.6g)", R, i, (double)fc[i],
                     (double)fd[i]);
    }
    assert_true(exact >= mp->st.n_evaluated);
    assert_int_equal(ln__triposr_mesh_field(fd, R, 0.87f, &mp->dense, &err), 0);
    assert_int_equal(ln__triposr_mesh_field(fc, R, 0.87f, &mp->c2f, &err), 0);
    free(fc);
    free(fd);
}

static void assert_same_mesh(const struct ln_mesh *a, const struct ln_mesh *b, int R)
{
    assert_int_equal(a->n_vertices, b->n_vertices);
    assert_int_equal(a->n_faces, b->n_faces);
    for (size_t i = 0; i < 3 * a->n_vertices; i++)
        if (!(fabsf(a->positions[i] - b->positions[i]) <= 1e-5f))
            fail_msg("R %d: vertex %zu differs (%.9g vs %.9g)", R, i / 3, (double)a->positions[i],
                     (double)b->positions[i]);
    assert_memory_equal(a->indices, b->indices, 3 * a->n_faces * sizeof(uint32_t));
}

/* The random model's surface is as rough as its triplane texels: it
 * passes through nearly every coarse cell at these sizes, so nearly every
 * point is evaluated; the meshes must still be equal. */
static void check_coarse_fine(const char *label, const float *scene)
{
    const int rs[] = {32, 64, 128};
    for (size_t t = 0; t < sizeof rs / sizeof rs[0]; t++) {
        const int R = rs[t];
        struct mesh_pair mp;
        mesh_both(scene, R, 0, &mp);
        const double frac = (double)mp.st.n_evaluated / (double)mp.st.n_points;
        printf("  %s, R %3d: %zu vertices, %zu faces; %zu of %zu points evaluated (%.1f%%), "
               "%zu of %zu coarse cells refined\n",
               label, R, mp.dense.n_vertices, mp.dense.n_faces, mp.st.n_evaluated, mp.st.n_points,
               100.0 * frac, mp.st.n_cells_fine, mp.st.n_cells);
        assert_true(mp.dense.n_faces > 0);
        assert_same_mesh(&mp.dense, &mp.c2f, R);
        ln_mesh_free(&mp.dense);
        ln_mesh_free(&mp.c2f);
    }
}

static void test_coarse_fine_equals_dense(void **state)
{
    float *scene = golden("scene_codes", SCENE);
    check_coarse_fine("golden scene code", scene);
    free(scene);
}

/* The same on the scene code of the engine's own pipeline from input.png. */
static void test_coarse_fine_pipeline(void **state)
{
    struct ln_image img = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_image_load(ln_test_data("triposr-tiny/input.png"), NULL, &img, &err), 0);
    float *chw = malloc(IMG * sizeof(float)), *scene = malloc(SCENE * sizeof(float));
    assert_int_equal(ln__triposr_preprocess(net(), &img, 1, NULL, 0.85f, chw, &err), 0);
    assert_int_equal(ln_triposr_scene_code(net(), chw, scene, NULL, NULL, &err), 0);
    check_coarse_fine("pipeline scene code", scene);
    free(scene);
    free(chw);
    ln_image_free(&img);
}

/* A smooth density, as a trained model's is around an object: a bumpy
 * ball, 25 exp(6 s) with s its signed distance (positive inside). */
static int blob_density(void *user, const float *pts, size_t n, float *out, struct ln_error *err)
{
    const float *c = user;
    for (size_t i = 0; i < n; i++) {
        const float x = pts[3 * i] - c[0], y = pts[3 * i + 1] - c[1], z = pts[3 * i + 2] - c[2];
        const float s = 0.45f - sqrtf(x * x + y * y + z * z) +
                        0.06f * sinf(7.0f * x) * sinf(6.0f * y) * sinf(5.0f * z + 0.3f);
        out[i] = LN__TSR_THRESHOLD * expf(6.0f * s);
    }
    return 0;
}

static void test_coarse_fine_smooth(void **state)
{
    float centre[3] = {0.05f, -0.1f, 0.07f};
    const int rs[] = {32, 64, 128, 256};
    for (size_t t = 0; t < sizeof rs / sizeof rs[0]; t++) {
        const int R = rs[t];
        const size_t n = (size_t)R * R * R;
        float *fd = malloc(n * sizeof(float)), *fc = malloc(n * sizeof(float));
        struct ln_error err = {0};
        struct ln__tsr_density_stats st;
        struct ln_mesh md = {0}, mc = {0};
        assert_int_equal(ln__tsr_grid_dense(R, 0.87f, blob_density, centre, fd, NULL, NULL, &err), 0);
        assert_int_equal(
            ln__tsr_grid_coarse_fine(R, 0.87f, 0, blob_density, centre, fc, &st, NULL, &err), 0);
        assert_int_equal(ln__triposr_mesh_field(fd, R, 0.87f, &md, &err), 0);
        assert_int_equal(ln__triposr_mesh_field(fc, R, 0.87f, &mc, &err), 0);
        const double frac = (double)st.n_evaluated / (double)st.n_points;
        printf("  bumpy ball, R %3d: %zu faces; %zu of %zu points evaluated (%.1f%%)\n", R,
               md.n_faces, st.n_evaluated, st.n_points, 100.0 * frac);
        assert_true(md.n_faces > 0);
        assert_same_mesh(&md, &mc, R);
        if (R == 64)
            assert_true(frac < 0.4);
        if (R >= 128)
            assert_true(frac < 0.2);
        ln_mesh_free(&md);
        ln_mesh_free(&mc);
        free(fc);
        free(fd);
    }
}

/* A ball whose surface ripples at the scale of a few grid cells (like a
 * trained model's fine texture): followed cell by cell, the same mesh. */
static int ripple_density(void *user, const float *pts, size_t n, float *out, struct ln_error *err)
{
    const float *w = user; /* wavenumber, amplitude */
    for (size_t i = 0; i < n; i++) {
        const float x = pts[3 * i], y = pts[3 * i + 1], z = pts[3 * i + 2];
        const float s = 0.4f - sqrtf(x * x + y * y + z * z) +
                        w[1] * sinf(w[0] * x) * sinf(1.1f * w[0] * y + 0.4f) * sinf(0.9f * w[0] * z);
        out[i] = LN__TSR_THRESHOLD * expf(6.0f * s);
    }
    return 0;
}

static void test_coarse_fine_ripples(void **state)
{
    const int rs[] = {128, 256};
    for (size_t t = 0; t < sizeof rs / sizeof rs[0]; t++) {
        const int R = rs[t];
        const float cell = 1.74f / (float)(R - 1);
        /* Wavelength 4 cells with amplitude 2 cells, 8 cells with 1.5. */
        const float waves[2][2] = {{6.2832f / (4.0f * cell), 2.0f * cell},
                                   {6.2832f / (8.0f * cell), 1.5f * cell}};
        const size_t n = (size_t)R * R * R;
        float *fd = malloc(n * sizeof(float)), *fc = malloc(n * sizeof(float));
        for (int w = 0; w < 2; w++) {
            struct ln_error err = {0};
            struct ln__tsr_density_stats st;
            struct ln_mesh md = {0}, mc = {0};
            void *user = (void *)waves[w];
            assert_int_equal(ln__tsr_grid_dense(R, 0.87f, ripple_density, user, fd, NULL, NULL, &err),
                             0);
            assert_int_equal(
                ln__tsr_grid_coarse_fine(R, 0.87f, 0, ripple_density, user, fc, &st, NULL, &err), 0);
            assert_int_equal(ln__triposr_mesh_field(fd, R, 0.87f, &md, &err), 0);
            assert_int_equal(ln__triposr_mesh_field(fc, R, 0.87f, &mc, &err), 0);
            printf("  rippled ball (wavelength %d cells), R %3d: %zu faces; %.1f%% evaluated\n",
                   4 << w, R, md.n_faces, 100.0 * (double)st.n_evaluated / (double)st.n_points);
            assert_true(md.n_faces > 0);
            assert_same_mesh(&md, &mc, R);
            ln_mesh_free(&md);
            ln_mesh_free(&mc);
        }
        free(fc);
        free(fd);
    }
}

/* Other coarse steps on the smooth field: the same mesh; a step as large
 * as the grid falls back to the dense grid. */
static void test_coarse_steps(void **state)
{
    float centre[3] = {-0.03f, 0.02f, 0.04f};
    const int rs[] = {64, 128, 256};
    const int steps[] = {2, 3, 4, 6, 8, 255};
    for (size_t r = 0; r < sizeof rs / sizeof rs[0]; r++) {
        const int R = rs[r];
        const size_t n = (size_t)R * R * R;
        float *fd = malloc(n * sizeof(float)), *fc = malloc(n * sizeof(float));
        struct ln_error err = {0};
        struct ln_mesh md = {0};
        assert_int_equal(ln__tsr_grid_dense(R, 0.87f, blob_density, centre, fd, NULL, NULL, &err), 0);
        assert_int_equal(ln__triposr_mesh_field(fd, R, 0.87f, &md, &err), 0);
        printf("  R %3d:", R);
        for (size_t t = 0; t < sizeof steps / sizeof steps[0]; t++) {
            struct ln__tsr_density_stats st;
            struct ln_mesh mc = {0};
            assert_int_equal(ln__tsr_grid_coarse_fine(R, 0.87f, steps[t], blob_density, centre, fc,
                                                      &st, NULL, &err),
                             0);
            assert_int_equal(ln__triposr_mesh_field(fc, R, 0.87f, &mc, &err), 0);
            printf(" step %d %.1f%%", steps[t],
                   100.0 * (double)st.n_evaluated / (double)st.n_points);
            assert_same_mesh(&md, &mc, R);
            ln_mesh_free(&mc);
        }
        printf("\n");
        ln_mesh_free(&md);
        free(fc);
        free(fd);
    }
}

/* (X, Y, Z) = (y, z, x): a rotation, so the enclosed volume keeps its
 * (positive, outward) sign. */
static void test_product_frame(void **state)
{
    float *scene = golden("scene_codes", SCENE);
    float *field = malloc(32 * 32 * 32 * sizeof(float));
    struct ln_error err = {0};
    struct ln_mesh m = {0};
    assert_int_equal(ln__triposr_density_dense(net(), scene, 32, field, NULL, NULL, &err), 0);
    assert_int_equal(ln__triposr_mesh_field(field, 32, 0.87f, &m, &err), 0);
    struct ln_mesh copy = {0};
    assert_int_equal(ln_mesh_copy(&m, &copy, &err), 0);
    struct ln_mesh_stats before, after;
    assert_int_equal(ln_mesh_stats(&m, &before, &err), 0);
    ln__triposr_to_product_frame(&copy);
    assert_int_equal(ln_mesh_stats(&copy, &after, &err), 0);
    for (size_t v = 0; v < m.n_vertices; v++) {
        assert_true(copy.positions[3 * v + 0] == m.positions[3 * v + 1]);
        assert_true(copy.positions[3 * v + 1] == m.positions[3 * v + 2]);
        assert_true(copy.positions[3 * v + 2] == m.positions[3 * v + 0]);
    }
    printf("  volume %.6f before, %.6f after\n", before.volume, after.volume);
    assert_near(after.volume, before.volume, 1e-6 * fabs(before.volume) + 1e-9);
    ln_mesh_free(&copy);
    ln_mesh_free(&m);
    free(field);
    free(scene);
}

/* The frame turn checked against the reference implementation's own
 * camera, not against the permutation: the golden render rays are
 * upstream's camera for the view azimuth 45, elevation 20, distance 1.9,
 * fovy 40 (32 x 32 rays, row 0 at the top), in TripoSR's frame. Turned into
 * the product frame they must be the camera that ln_camera (the product's
 * view convention, written separately) makes for the same view: the same
 * centre, the same viewing direction and the same image up. */
static void vec_unit(float v[3])
{
    float n = sqrtf(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    for (int k = 0; k < 3; k++)
        v[k] /= n;
}

static void test_product_frame_is_upstream_camera(void **state)
{
    enum { S = 32 };
    float *o = golden("render_rays_o", S * S * 3), *d = golden("render_rays_d", S * S * 3);
    /* Three vectors of upstream's camera, as the positions of a mesh. */
    struct ln_mesh m = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_mesh_alloc(&m, 3, 1, 0, &err), 0);
    float fwd[3] = {0, 0, 0}, up[3];
    for (int k = 0; k < 3; k++) {
        /* The centre of the image: the mean of the four middle rays. */
        for (int r = S / 2 - 1; r <= S / 2; r++)
            for (int c = S / 2 - 1; c <= S / 2; c++)
                fwd[k] += d[(r * S + c) * 3 + k];
        /* Top row minus bottom row, in the middle columns: along up. */
        up[k] = d[(0 * S + S / 2 - 1) * 3 + k] + d[(0 * S + S / 2) * 3 + k] -
                d[((S - 1) * S + S / 2 - 1) * 3 + k] - d[((S - 1) * S + S / 2) * 3 + k];
        m.positions[k] = o[k];
        m.positions[3 + k] = fwd[k];
        m.positions[6 + k] = up[k];
    }
    m.indices[0] = 0, m.indices[1] = 1, m.indices[2] = 2;
    ln__triposr_to_product_frame(&m);

    struct ln_camera_options copt;
    ln_camera_options_default(&copt);
    copt.projection = LN_PROJECTION_PERSPECTIVE;
    copt.distance = 1.9f;
    copt.fov_deg = 40.0f;
    struct ln_view view = {45.0f, 20.0f};
    struct ln_camera cam;
    ln_camera_init(&cam, &view, &copt);
    vec_unit(&m.positions[3]);
    vec_unit(&m.positions[6]);
    for (int k = 0; k < 3; k++) {
        assert_near(m.positions[k], cam.center[k], 1e-4);
        assert_near(m.positions[3 + k], cam.forward[k], 1e-4);
        assert_near(m.positions[6 + k], cam.up[k], 1e-4);
    }
    ln_mesh_free(&m);
    free(d);
    free(o);
}

/* ------------------------------------------------------------------ end to end */

struct tap_log {
    int n_scene, n_density;
    float *scene;
    float *density;
    size_t scene_shape[5], density_shape[3];
    int fail_on_scene;
};

static int tap_fn(void *user, const char *name, const float *data, const size_t *shape, int ndim,
                  struct ln_error *err)
{
    struct tap_log *t = user;
    if (strcmp(name, "scene_codes") == 0) {
        assert_int_equal(ndim, 5);
        memcpy(t->scene_shape, shape, sizeof t->scene_shape);
        t->n_scene++;
        if (t->fail_on_scene)
            return ln_error_set(err, LN_EIO, "cannot write scene.npy: disk full");
        t->scene = malloc(SCENE * sizeof(float));
        memcpy(t->scene, data, SCENE * sizeof(float));
    } else if (strcmp(name, "density") == 0) {
        assert_int_equal(ndim, 3);
        memcpy(t->density_shape, shape, sizeof t->density_shape);
        t->n_density++;
        const size_t n = shape[0] * shape[1] * shape[2];
        t->density = malloc(n * sizeof(float));
        memcpy(t->density, data, n * sizeof(float));
    } else {
        fail_msg("unexpected tap %s", name);
    }
    return 0;
}

static void load_input(struct ln_image *img)
{
    struct ln_error err = {0};
    memset(img, 0, sizeof *img);
    assert_int_equal(ln_image_load(ln_test_data("triposr-tiny/input.png"), NULL, img, &err), 0);
}

static void test_generate_end_to_end(void **state)
{
    struct ln_image img;
    load_input(&img);
    struct ln_generate_options opt;
    ln_generate_options_default(&opt);
    opt.resolution = 32;
    struct ln_engine_input in = {.images = &img, .n_images = 1};
    struct ln_mesh mesh = {0};
    struct ln_generate_report rep;
    struct ln_error err = {0};
    int rc = ln_generate(g_eng, &in, &opt, NULL, &mesh, &rep, &err);
    if (rc < 0)
        fail_msg("ln_generate: %s", err.message);
    assert_string_equal(rep.engine, "triposr");
    /* Non-empty, finite, coloured, placed (largest extent 1, centred). */
    assert_true(mesh.n_faces > 0 && mesh.n_vertices > 0);
    assert_non_null(mesh.colors);
    assert_non_null(mesh.normals);
    for (size_t i = 0; i < 3 * mesh.n_vertices; i++) {
        assert_true(isfinite(mesh.positions[i]));
        assert_true(mesh.colors[i] >= 0.0f && mesh.colors[i] <= 1.0f);
    }
    for (size_t i = 0; i < 3 * mesh.n_faces; i++)
        assert_true(mesh.indices[i] < mesh.n_vertices);
    const struct ln_mesh_stats *st = &rep.stats;
    float ext = 0.0f;
    for (int a = 0; a < 3; a++) {
        const float e = st->bbox_max[a] - st->bbox_min[a];
        ext = e > ext ? e : ext;
        assert_near(st->bbox_max[a] + st->bbox_min[a], 0.0, 1e-4);
    }
    assert_near(ext, 1.0, 1e-4);
    printf("  %zu vertices, %zu faces, %s; stages:", st->n_vertices, st->n_faces,
           st->watertight ? "watertight" : "not watertight");
    static const char *const want[] = {"preprocess", "image encoder", "backbone",
                                       "density",    "meshing",       "colouring"};
    for (int i = 0; i < rep.n_stages; i++)
        printf(" %s %.4f", rep.stages[i].name, rep.stages[i].seconds);
    printf("\n");
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        int found = 0;
        for (int i = 0; i < rep.n_stages; i++)
            found |= strcmp(rep.stages[i].name, want[w]) == 0;
        if (!found)
            fail_msg("stage %s not reported", want[w]);
    }
    ln_mesh_free(&mesh);
    ln_image_free(&img);
}

/* A baked texture: the colour field queried at each texel's point, so at
 * each vertex's UV it agrees with the vertex colour the same run gives
 * without a texture, up to the colour field's change over about a texel. */
static void test_generate_textured(void **state)
{
    (void)state;
    struct ln_image img;
    load_input(&img);
    struct ln_generate_options opt;
    ln_generate_options_default(&opt);
    opt.resolution = 32;
    struct ln_engine_input in = {.images = &img, .n_images = 1};
    struct ln_mesh plain = {0}, tex = {0};
    struct ln_generate_report rep;
    struct ln_error err = {0};
    assert_int_equal(ln_generate(g_eng, &in, &opt, NULL, &plain, NULL, &err), 0);
    opt.texture_size = 256;
    if (ln_generate(g_eng, &in, &opt, NULL, &tex, &rep, &err) < 0)
        fail_msg("ln_generate: %s", err.message);
    assert_non_null(tex.uvs);
    assert_non_null(tex.texture.data);
    assert_int_equal(rep.texture_size, 256);
    double mean = ln_test_texture_vs_vertex_colours(&plain, &tex);
    printf("  texture %d, %zu charts: mean |texture - vertex colour| %.4f\n", rep.texture_size,
           rep.texture_charts, mean);
    assert_true(mean < 0.03);
    ln_mesh_free(&plain);
    ln_mesh_free(&tex);
    ln_image_free(&img);
}

/* The tap: the scene code the network computes from input.png and the
 * dense density grid, which the mesh then comes from. */
static void test_generate_tap(void **state)
{
    struct ln_image img;
    load_input(&img);
    struct tap_log t = {0};
    struct ln_engine_tap tap = {tap_fn, &t, 1};
    struct ln_generate_options opt;
    ln_generate_options_default(&opt);
    opt.resolution = 32;
    opt.tap = &tap;
    struct ln_engine_input in = {.images = &img, .n_images = 1};
    struct ln_mesh mesh = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_generate(g_eng, &in, &opt, NULL, &mesh, NULL, &err), 0);
    assert_int_equal(t.n_scene, 1);
    assert_int_equal(t.n_density, 1);
    const size_t scene_shape[5] = {1, 3, 8, 16, 16}, grid_shape[3] = {32, 32, 32};
    assert_memory_equal(t.scene_shape, scene_shape, sizeof scene_shape);
    assert_memory_equal(t.density_shape, grid_shape, sizeof grid_shape);
    /* The preprocessing matches the golden input, so the scene code is the
     * golden one and the grid the golden grid. */
    float *want_scene = golden("scene_codes", SCENE);
    float *want_grid = golden("grid_density_act", N_GRID);
    const double ws = worst_rel(t.scene, want_scene, SCENE, 1e-2, NULL);
    const double wg = worst_rel(t.density, want_grid, N_GRID, 0.0, NULL);
    printf("  scene code worst relative error %.3g, density grid %.3g\n", ws, wg);
    assert_true(ws <= 1e-4);
    assert_true(wg <= 1e-3);
    ln_mesh_free(&mesh);

    /* A failing tap ends the run with its error. */
    free(t.scene);
    free(t.density);
    memset(&t, 0, sizeof t);
    t.fail_on_scene = 1;
    assert_int_equal(ln_generate(g_eng, &in, &opt, NULL, &mesh, NULL, &err), LN_EIO);
    assert_string_equal(err.message, "cannot write scene.npy: disk full");
    assert_int_equal(t.n_density, 0);
    assert_int_equal(mesh.n_vertices, 0);
    free(want_grid);
    free(want_scene);
    ln_image_free(&img);
}

struct cancel_at {
    atomic_int flag;
    const char *stage;
    int reports;
};

static void cancel_at_stage(void *user, const char *stage, double fraction)
{
    struct cancel_at *c = user;
    c->reports++;
    if (strcmp(stage, c->stage) == 0)
        atomic_store(&c->flag, 1);
}

static void test_errors_and_cancel(void **state)
{
    struct ln_image img;
    load_input(&img);
    struct ln_generate_options opt;
    ln_generate_options_default(&opt);
    opt.resolution = 32;
    struct ln_mesh mesh = {0};
    struct ln_error err = {0};

    /* Two images. */
    struct ln_image two[2] = {img, img};
    struct ln_engine_input in2 = {.images = two, .n_images = 2};
    assert_int_equal(ln_generate(g_eng, &in2, &opt, NULL, &mesh, NULL, &err), LN_EINVAL);
    assert_string_equal(err.message,
                        "the triposr engine takes one image; use the sculpt engine for several views");

    /* Canceled at each stage. */
    static const char *const stages[] = {"preprocess", "image encoder", "backbone", "density",
                                         "meshing"};
    struct ln_engine_input in = {.images = &img, .n_images = 1};
    for (size_t s = 0; s < sizeof stages / sizeof stages[0]; s++) {
        struct cancel_at c = {.stage = stages[s]};
        atomic_init(&c.flag, 0);
        struct ln_progress p = {cancel_at_stage, &c, &c.flag, 0.0, 0.0};
        assert_int_equal(ln_generate(g_eng, &in, &opt, &p, &mesh, NULL, &err), LN_ECANCELED);
        printf("  canceled at %s: %s\n", stages[s], err.message);
        assert_int_equal(mesh.n_vertices, 0);
    }

    /* No model, and a damaged one. */
    struct ln_engine *eng = (struct ln_engine *)&err;
    assert_int_equal(ln_engine_triposr_new("golden/no-such-model", &eng, &err), LN_ENOTFOUND);
    assert_null(eng);
    printf("  missing: %s\n", err.message);
    assert_int_equal(ln_engine_triposr_new("/nonexistent/model.ckpt", &eng, &err), LN_ENOTFOUND);
    const char *dir = ln_test_tmpdir("triposr_damaged");
    char *cfg = ln_test_path(dir, "config.yaml"), *ckpt = ln_test_path(dir, "model.ckpt");
    size_t len;
    uint8_t *bytes = ln_test_read(ln_test_data("triposr-tiny/config.yaml"), &len);
    assert_int_equal(ln_file_write_atomic(cfg, bytes, len, &err), 0);
    free(bytes);
    bytes = ln_test_read(ln_test_data("triposr-tiny/model.ckpt"), &len);
    assert_int_equal(ln_file_write_atomic(ckpt, bytes, len / 2, &err), 0);
    free(bytes);
    assert_int_equal(ln_engine_triposr_new(dir, &eng, &err), LN_EMODEL);
    assert_null(eng);
    printf("  damaged: %s\n", err.message);
    assert_null(strchr(err.message, '\n'));
    free(ckpt);
    free(cfg);

    /* Every large allocation of a run failed in turn. */
    ln_alloc_fail_after(0);
    assert_int_equal(ln_generate(g_eng, &in, &opt, NULL, &mesh, NULL, &err), 0);
    ln_mesh_free(&mesh);
    const long n_allocs = ln_alloc_fail_after(0);
    int n_failed = 0;
    for (long k = 1; k <= n_allocs; k++) {
        ln_alloc_fail_after(k);
        const int rc = ln_generate(g_eng, &in, &opt, NULL, &mesh, NULL, &err);
        if (rc == LN_ENOMEM)
            n_failed++;
        else
            assert_int_equal(rc, 0);
        ln_mesh_free(&mesh);
    }
    /* One past the last: the sweep covered every allocation. */
    ln_alloc_fail_after(n_allocs + 1);
    assert_int_equal(ln_generate(g_eng, &in, &opt, NULL, &mesh, NULL, &err), 0);
    ln_mesh_free(&mesh);
    ln_alloc_fail_after(0);
    printf("  %d of %ld large allocations failed cleanly\n", n_failed, n_allocs);
    assert_true(n_failed > 10);
    ln_image_free(&img);
}

/* ----------------------------------------------------------------- .npy files */

static void test_npy(void **state)
{
    const char *dir = ln_test_tmpdir("triposr_npy");
    char *path = ln_test_path(dir, "a.npy");
    const float data[6] = {1.0f, -2.5f, 3.0f, 0.0f, 1e30f, -1e-30f};
    const size_t shape[2] = {2, 3};
    struct ln_error err = {0};
    assert_int_equal(ln_npy_write_f32(path, data, shape, 2, &err), 0);
    size_t len;
    uint8_t *bytes = ln_test_read(path, &len);
    /* numpy.save writes the same 128-byte header for this array. */
    assert_int_equal(len, 128 + sizeof data);
    assert_memory_equal(bytes, "\x93NUMPY\x01\x00", 8);
    assert_int_equal(bytes[8] | bytes[9] << 8, 128 - 10);
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    assert_memory_equal(bytes + 10, dict, strlen(dict));
    for (size_t i = 10 + strlen(dict); i < 127; i++)
        assert_int_equal(bytes[i], ' ');
    assert_int_equal(bytes[127], '\n');
    assert_memory_equal(bytes + 128, data, sizeof data);
    free(bytes);

    /* One dimension keeps the tuple's comma; a long shape grows the header
     * in steps of 64. */
    char header[1024];
    size_t n = ln_npy_header_f32((const size_t[]){256}, 1, header, sizeof header);
    assert_int_equal(n, 128);
    assert_non_null(strstr(header + 10, "'shape': (256,), }"));
    const size_t big[5] = {1, 3, 40, 64, 64};
    n = ln_npy_header_f32(big, 5, header, sizeof header);
    assert_int_equal(n % 64, 0);
    assert_non_null(strstr(header + 10, "'shape': (1, 3, 40, 64, 64), }"));
    assert_int_equal(ln_npy_header_f32(big, 9, header, sizeof header), 0);

    /* An unwritable place: an error naming the file, nothing left behind. */
    char *bad = ln_test_path(dir, "missing/b.npy");
    assert_int_equal(ln_npy_write_f32(bad, data, shape, 2, &err), LN_EIO);
    assert_non_null(strstr(err.message, "missing/b.npy"));
    free(bad);
    free(path);
}

int main(void)
{
    ln_test_kernel_set_or_skip();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_identity),
        cmocka_unit_test(test_generate_textured),
        cmocka_unit_test(test_grid_axis),
        cmocka_unit_test(test_dense_grid_golden),
        cmocka_unit_test(test_preprocess_golden),
        cmocka_unit_test(test_coarse_fine_equals_dense),
        cmocka_unit_test(test_coarse_fine_pipeline),
        cmocka_unit_test(test_coarse_fine_smooth),
        cmocka_unit_test(test_coarse_fine_ripples),
        cmocka_unit_test(test_coarse_steps),
        cmocka_unit_test(test_product_frame),
        cmocka_unit_test(test_product_frame_is_upstream_camera),
        cmocka_unit_test(test_generate_end_to_end),
        cmocka_unit_test(test_generate_tap),
        cmocka_unit_test(test_errors_and_cancel),
        cmocka_unit_test(test_npy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
