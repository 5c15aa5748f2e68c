/* Unit tests of the sculpt engine: one silhouette (a disc must become a
 * closed sphere, coloured from the image in front and plausibly behind; an
 * upright cylinder seen from above must come back upright, of its own
 * volume) and visual hulls from several views,
 * checked against shapes whose hulls are known in closed form (Steinmetz
 * bi- and tricylinders), against per-view colours, contradicting and
 * disjoint views, perspective cameras and injected allocation failures.
 * Grids are small (64-96) so the sanitizer build stays quick; set
 * LN_SCULPT_BENCH=1 to time the engine at resolution 256. */
#include "testutil.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_camera.h"
#include "ln_engine.h"
#include "ln_image.h"
#include "ln_mesh.h"

#define PI 3.14159265358979323846

/* ---- inputs ------------------------------------------------------------ */

/* A disc of radius r pixels centred in a side x side image, alpha
 * anti-aliased by 4 x 4 supersampling; colour varies left to right. */
static void make_disc(struct ln_image *img, int side, float r)
{
    assert_int_equal(ln_image_alloc(img, side, side, 4, NULL), 0);
    float c = 0.5f * (float)side;
    for (int y = 0; y < side; y++) {
        for (int x = 0; x < side; x++) {
            int hits = 0;
            for (int sy = 0; sy < 4; sy++)
                for (int sx = 0; sx < 4; sx++) {
                    float dx = (float)x + (sx + 0.5f) / 4.0f - c;
                    float dy = (float)y + (sy + 0.5f) / 4.0f - c;
                    hits += dx * dx + dy * dy <= r * r;
                }
            uint8_t *p = img->data + ((size_t)y * side + x) * 4;
            float t = ((float)x + 0.5f - (c - r)) / (2.0f * r); /* 0..1 across the disc */
            t = t < 0 ? 0 : (t > 1 ? 1 : t);
            p[0] = 230;
            p[1] = (uint8_t)(50.0f + 150.0f * t);
            p[2] = 40;
            p[3] = (uint8_t)(hits * 255 / 16);
        }
    }
}

/* The disc's colour at normalised position t across it (0 left, 1 right). */
static void disc_colour(float t, float out[3])
{
    out[0] = 230.0f / 255.0f;
    out[1] = (50.0f + 150.0f * t) / 255.0f;
    out[2] = 40.0f / 255.0f;
}

/* Silhouette of a sphere (centre, radius) seen by a camera, rendered by
 * casting the camera's rays (4 x 4 per pixel), in a uniform colour. The
 * background is transparent. */
static void render_sphere(struct ln_image *img, int side, const struct ln_view *view,
                          const struct ln_camera_options *copt, const float centre[3], float r,
                          const uint8_t rgb[3])
{
    struct ln_camera cam;
    ln_camera_init(&cam, view, copt);
    assert_int_equal(ln_image_alloc(img, side, side, 4, NULL), 0);
    for (int y = 0; y < side; y++) {
        for (int x = 0; x < side; x++) {
            int hits = 0;
            for (int sy = 0; sy < 4; sy++)
                for (int sx = 0; sx < 4; sx++) {
                    float u = ((float)x + (sx + 0.5f) / 4.0f) / (float)side;
                    float v = ((float)y + (sy + 0.5f) / 4.0f) / (float)side;
                    float o[3], d[3];
                    ln_camera_ray(&cam, u, v, o, d);
                    float oc[3] = {o[0] - centre[0], o[1] - centre[1], o[2] - centre[2]};
                    float b = oc[0] * d[0] + oc[1] * d[1] + oc[2] * d[2];
                    float c = oc[0] * oc[0] + oc[1] * oc[1] + oc[2] * oc[2] - r * r;
                    hits += b * b - c >= 0.0f;
                }
            uint8_t *p = img->data + ((size_t)y * side + x) * 4;
            p[0] = rgb[0];
            p[1] = rgb[1];
            p[2] = rgb[2];
            p[3] = (uint8_t)(hits * 255 / 16);
        }
    }
}

struct run {
    struct ln_mesh mesh;
    struct ln_generate_report rep;
    struct ln_error err;
    int rc;
};

static int run_engine(const struct ln_image *imgs, size_t n, const struct ln_view *views,
                      const struct ln_generate_options *opt, const struct ln_progress *progress,
                      struct run *r)
{
    struct ln_engine *eng = NULL;
    assert_int_equal(ln_engine_sculpt_new(&eng, NULL), 0);
    assert_string_equal(ln_engine_name(eng), "sculpt");
    memset(r, 0, sizeof *r);
    struct ln_engine_input in = {.images = imgs, .n_images = n, .views = views};
    r->rc = eng->ops->run(eng, &in, opt, progress, &r->mesh, NULL, &r->rep, &r->err);
    ln_engine_free(eng);
    return r->rc;
}

static void opts(struct ln_generate_options *opt, int res)
{
    ln_generate_options_default(opt);
    opt->resolution = res;
}

static void stats(const struct ln_mesh *m, struct ln_mesh_stats *st)
{
    struct ln_error err = {0};
    assert_int_equal(ln_mesh_stats(m, st, &err), 0);
}

/* ---- one image ------------------------------------------------------- */

static void test_single_disc(void **state)
{
    const int res = 96;
    struct ln_image img = {0};
    make_disc(&img, 200, 70.0f);
    struct ln_generate_options opt;
    opts(&opt, res);
    struct run r;
    assert_int_equal(run_engine(&img, 1, NULL, &opt, NULL, &r), 0);
    struct ln_mesh_stats st;
    stats(&r.mesh, &st);
    assert_true(st.watertight);
    assert_int_equal(st.n_components, 1);
    assert_non_null(r.mesh.colors);

    const float vox = 1.0f / res;
    float ex = st.bbox_max[0] - st.bbox_min[0], ey = st.bbox_max[1] - st.bbox_min[1];
    float ez = st.bbox_max[2] - st.bbox_min[2];
    assert_near(st.bbox_max[2], -st.bbox_min[2], 2 * vox);
    assert_near(ex, ey, 2 * vox);
    /* The disc spans the foreground ratio of the window, and a disc is the
     * outline of a sphere from every side, so the body of revolution about
     * the upright axis is that sphere (the camera's assumed elevation does
     * not matter): as deep as wide, with a sphere's volume. */
    assert_near(ex, 0.85, 1.5 * vox);
    assert_near(ez / ex, 1.0, 0.03);
    double sphere = 4.0 / 3.0 * PI * pow(0.85 / 2, 3);
    assert_near(st.volume, sphere, 0.04 * sphere);

    /* Front: the image's colours; back: shaded but neither black nor a
     * flat grey. */
    int n_front = 0, n_back = 0;
    double back_min_g = 1.0, back_max_g = 0.0, back_sat = 0.0;
    for (size_t v = 0; v < r.mesh.n_vertices; v++) {
        const float *p = r.mesh.positions + 3 * v;
        const float *c = r.mesh.colors + 3 * v;
        float t = (p[0] + 0.5f * ex) / ex;
        if (p[2] > 0.6f * st.bbox_max[2] && t > 0.15f && t < 0.85f) {
            float want[3];
            disc_colour(t, want);
            for (int a = 0; a < 3; a++)
                assert_near(c[a], want[a], 0.05);
            n_front++;
        }
        if (p[2] < 0.6f * st.bbox_min[2]) {
            assert_true(c[0] + c[1] + c[2] > 0.3f);
            float mx = fmaxf(c[0], fmaxf(c[1], c[2])), mn = fminf(c[0], fminf(c[1], c[2]));
            back_sat += mx - mn;
            back_min_g = fmin(back_min_g, c[1]);
            back_max_g = fmax(back_max_g, c[1]);
            n_back++;
        }
    }
    assert_true(n_front > 100);
    assert_true(n_back > 100);
    assert_true(back_sat / n_back > 0.3);
    assert_true(back_max_g - back_min_g > 0.1);

    /* Through the whole pipeline too. */
    struct ln_engine *eng;
    assert_int_equal(ln_engine_sculpt_new(&eng, NULL), 0);
    struct ln_engine_input in = {.images = &img, .n_images = 1};
    struct ln_mesh out = {0};
    struct ln_generate_report rep;
    struct ln_error err = {0};
    int rc = ln_generate(eng, &in, &opt, NULL, &out, &rep, &err);
    if (rc < 0)
        fail_msg("%s", err.message);
    assert_true(rep.stats.watertight);
    assert_int_equal(rep.stats.n_components, 1);
    ln_mesh_free(&out);
    ln_engine_free(eng);

    ln_mesh_free(&r.mesh);
    ln_image_free(&img);
}

/* The outline of an upright cylinder (radius r, height h pixels) seen
 * orthographically from elevation e: a rectangle closed above and below by
 * half ellipses of semi-axes r and r sin e. 4 x 4 supersampled, grey. */
static void make_cylinder_outline(struct ln_image *img, int side, float r, float h, float e_deg)
{
    assert_int_equal(ln_image_alloc(img, side, side, 4, NULL), 0);
    const float c = 0.5f * (float)side, se = sinf((float)(e_deg * PI / 180.0)),
                ce = cosf((float)(e_deg * PI / 180.0));
    for (int y = 0; y < side; y++) {
        for (int x = 0; x < side; x++) {
            int hits = 0;
            for (int sy = 0; sy < 4; sy++)
                for (int sx = 0; sx < 4; sx++) {
                    float dx = (float)x + (sx + 0.5f) / 4.0f - c;
                    float dy = (float)y + (sy + 0.5f) / 4.0f - c;
                    float q = 1.0f - (dx / r) * (dx / r);
                    hits += q >= 0.0f && fabsf(dy) <= 0.5f * h * ce + r * se * sqrtf(q);
                }
            uint8_t *p = img->data + ((size_t)y * side + x) * 4;
            p[0] = p[1] = p[2] = 128;
            p[3] = (uint8_t)(hits * 255 / 16);
        }
    }
}

/* One photo of an upright cylinder from 30 degrees above, with its view
 * given: the body comes back as that cylinder, upright in the world and so
 * tilted toward the camera in the camera's frame: its depth is
 * h sin e + 2 r cos e and its volume the cylinder's with two flat cones
 * (an outline inflated in the camera's frame would be symmetric in depth
 * and as deep as it is wide, whatever the elevation). */
static void test_single_upright_cylinder(void **state)
{
    const int res = 96;
    const float r = 40.0f, h = 100.0f, e = 30.0f;
    struct ln_image img = {0};
    make_cylinder_outline(&img, 200, r, h, e);
    struct ln_generate_options opt;
    opts(&opt, res);
    const struct ln_view view = {0.0f, e};
    struct run run;
    assert_int_equal(run_engine(&img, 1, &view, &opt, NULL, &run), 0);
    struct ln_mesh_stats st;
    stats(&run.mesh, &st);
    assert_true(st.watertight);
    assert_int_equal(st.n_components, 1);

    /* The framing scales the outline's larger side (its height) to 0.85;
     * the radius and height below are read back from the outline the
     * engine kept (its width and height), so that the edge's placement
     * on the raster does not count against the shape. */
    const double se = sin(e * PI / 180.0), ce = cos(e * PI / 180.0);
    const double s = 0.85 / (h * ce + 2.0 * r * se);
    const double vox = 1.0 / res;
    double ex = st.bbox_max[0] - st.bbox_min[0], ey = st.bbox_max[1] - st.bbox_min[1];
    double ez = st.bbox_max[2] - st.bbox_min[2];
    assert_near(ex, 2.0 * r * s, 2 * vox);
    assert_near(ey, 0.85, 2 * vox);
    double rm = 0.5 * ex, hm = (ey - 2.0 * rm * se) / ce;
    assert_near(ez, hm * se + 2.0 * rm * ce, 2 * vox);
    /* Every side view from this elevation sees the same outline, so the
     * body is their visual hull: the cylinder and, over its top and under
     * its bottom, a cone of height r tan e (a point there hides behind the
     * far rim from all around). */
    double cylinder = PI * rm * rm * hm, cones = 2.0 * PI * rm * rm * (rm * se / ce) / 3.0;
    assert_near(st.volume, cylinder + cones, 0.03 * (cylinder + cones));
    ln_mesh_free(&run.mesh);
    ln_image_free(&img);
}

static void test_single_empty_and_canceled(void **state)
{
    struct ln_image img = {0};
    assert_int_equal(ln_image_alloc(&img, 64, 64, 4, NULL), 0); /* all transparent */
    struct ln_generate_options opt;
    opts(&opt, 32);
    struct run r;
    assert_true(run_engine(&img, 1, NULL, &opt, NULL, &r) < 0);
    assert_int_equal(r.err.code, LN_EUNUSABLE);
    assert_int_equal(r.mesh.n_faces, 0);
    ln_image_free(&img);

    make_disc(&img, 64, 20.0f);
    atomic_int cancel = 1;
    struct ln_progress p = {.cancel = &cancel};
    assert_int_equal(run_engine(&img, 1, NULL, &opt, &p, &r), LN_ECANCELED);
    assert_null(r.mesh.positions);
    opt.resolution = 1000;
    assert_int_equal(run_engine(&img, 1, NULL, &opt, NULL, &r), LN_EINVAL);
    ln_image_free(&img);
}

/* ---- several images ---------------------------------------------------- */

static const uint8_t grey[3] = {128, 128, 128};

static void render_views(struct ln_image *imgs, const struct ln_view *views, int n, int side,
                         const struct ln_camera_options *copt, float r)
{
    const float o[3] = {0, 0, 0};
    for (int i = 0; i < n; i++)
        render_sphere(&imgs[i], side, &views[i], copt, o, r, grey);
}

static void free_images(struct ln_image *imgs, int n)
{
    for (int i = 0; i < n; i++)
        ln_image_free(&imgs[i]);
}

static void test_hull_steinmetz(void **state)
{
    const int res = 80;
    const float r = 0.4f;
    struct ln_generate_options opt;
    opts(&opt, res);
    struct ln_view views[5] = {{0, 0}, {90, 0}, {180, 0}, {270, 0}, {0, 90}};
    struct ln_image imgs[5] = {{0}};
    render_views(imgs, views, 5, 2 * res, &opt.camera, r);

    struct run run;
    struct ln_mesh_stats st;
    assert_int_equal(run_engine(imgs, 4, views, &opt, NULL, &run), 0);
    stats(&run.mesh, &st);
    assert_true(st.watertight);
    assert_int_equal(st.n_components, 1);
    assert_int_equal(run.rep.n_warnings, 0);
    double bicylinder = 16.0 / 3.0 * r * r * r;
    assert_near(st.volume, bicylinder, 0.03 * bicylinder);
    /* Extents: 2r along every axis. */
    for (int a = 0; a < 3; a++)
        assert_near(st.bbox_max[a] - st.bbox_min[a], 2 * r, 2 * 1.25 / res);
    ln_mesh_free(&run.mesh);

    assert_int_equal(run_engine(imgs, 5, views, &opt, NULL, &run), 0);
    stats(&run.mesh, &st);
    assert_true(st.watertight);
    double tricylinder = 8.0 * (2.0 - sqrt(2.0)) * r * r * r;
    assert_near(st.volume, tricylinder, 0.03 * tricylinder);
    assert_int_equal(run.rep.n_warnings, 0);
    ln_mesh_free(&run.mesh);

    /* Without explicit views, four images are taken as az 0, 90, 180, 270. */
    assert_int_equal(run_engine(imgs, 4, NULL, &opt, NULL, &run), 0);
    stats(&run.mesh, &st);
    assert_near(st.volume, bicylinder, 0.03 * bicylinder);
    ln_mesh_free(&run.mesh);
    free_images(imgs, 5);
}

static void test_hull_colours(void **state)
{
    const int res = 64;
    const float r = 0.4f, o[3] = {0, 0, 0};
    const uint8_t cols[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 0}};
    /* The axis each view's camera sits on. */
    const float axes[4][3] = {{0, 0, 1}, {1, 0, 0}, {0, 0, -1}, {-1, 0, 0}};
    struct ln_generate_options opt;
    opts(&opt, res);
    struct ln_view views[4] = {{0, 0}, {90, 0}, {180, 0}, {270, 0}};
    struct ln_image imgs[4] = {{0}};
    for (int i = 0; i < 4; i++)
        render_sphere(&imgs[i], 2 * res, &views[i], &opt.camera, o, r, cols[i]);
    struct run run;
    assert_int_equal(run_engine(imgs, 4, views, &opt, NULL, &run), 0);
    int checked[4] = {0};
    for (size_t v = 0; v < run.mesh.n_vertices; v++) {
        const float *p = run.mesh.positions + 3 * v;
        const float *c = run.mesh.colors + 3 * v;
        float len = sqrtf(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]);
        for (int i = 0; i < 4; i++) {
            float cosang = (p[0] * axes[i][0] + p[1] * axes[i][1] + p[2] * axes[i][2]) / len;
            if (cosang > 0.9f) {
                for (int a = 0; a < 3; a++)
                    assert_near(c[a], cols[i][a] / 255.0f, 0.1);
                checked[i]++;
            }
        }
    }
    for (int i = 0; i < 4; i++)
        assert_true(checked[i] > 20);
    assert_null(run.mesh.normals);
    ln_mesh_free(&run.mesh);
    free_images(imgs, 4);
}

static void test_hull_contradicting_view(void **state)
{
    const int res = 64;
    const float r = 0.4f, o[3] = {0, 0, 0};
    struct ln_generate_options opt;
    opts(&opt, res);
    struct ln_view views[4] = {{0, 0}, {90, 0}, {180, 0}, {270, 0}};
    struct ln_image imgs[4] = {{0}};
    for (int i = 0; i < 4; i++) {
        /* View 3 sees the sphere moved sideways by more than half its
         * radius. */
        float shifted[3] = {0.0f, 0.0f, 0.0f};
        if (i == 2)
            shifted[0] = -0.3f;
        render_sphere(&imgs[i], 2 * res, &views[i], &opt.camera, i == 2 ? shifted : o, r, grey);
    }
    struct run run;
    assert_int_equal(run_engine(imgs, 4, views, &opt, NULL, &run), 0);
    assert_true(run.mesh.n_faces > 0);
    assert_true(run.rep.n_warnings >= 1);
    assert_non_null(strstr(run.rep.warnings[0], "disagrees with the others"));
    assert_non_null(strstr(run.rep.warnings[0], "view "));
    ln_mesh_free(&run.mesh);
    free_images(imgs, 4);
}

/* Inside the perspective hull of a sphere: every camera's ray through the
 * point meets the sphere, i.e. the point is within the tangent cone. */
static int in_perspective_hull(const float p[3], const struct ln_camera *cams, int n, float r)
{
    for (int i = 0; i < n; i++) {
        const float *c = cams[i].center;
        float q[3] = {p[0] - c[0], p[1] - c[1], p[2] - c[2]};
        float dist2 = c[0] * c[0] + c[1] * c[1] + c[2] * c[2];
        float ql = sqrtf(q[0] * q[0] + q[1] * q[1] + q[2] * q[2]);
        float cosang = -(q[0] * c[0] + q[1] * c[1] + q[2] * c[2]) / (ql * sqrtf(dist2));
        float cos_cone = sqrtf(1.0f - r * r / dist2);
        if (cosang < cos_cone)
            return 0;
    }
    return 1;
}

static void test_hull_perspective(void **state)
{
    const int res = 80;
    const float r = 0.4f;
    struct ln_generate_options opt;
    opts(&opt, res);
    opt.camera.projection = LN_PROJECTION_PERSPECTIVE;
    struct ln_view views[4] = {{0, 0}, {90, 0}, {180, 0}, {270, 0}};
    struct ln_image imgs[4] = {{0}};
    render_views(imgs, views, 4, 2 * res, &opt.camera, r);
    struct run run;
    assert_int_equal(run_engine(imgs, 4, views, &opt, NULL, &run), 0);
    struct ln_mesh_stats st;
    stats(&run.mesh, &st);
    assert_true(st.watertight);
    assert_int_equal(run.rep.n_warnings, 0);

    /* The expected hull volume, by sampling the analytic cones. */
    struct ln_camera cams[4];
    for (int i = 0; i < 4; i++)
        ln_camera_init(&cams[i], &views[i], &opt.camera);
    const int g = 160;
    const float lo = -0.7f, step = 1.4f / g;
    long hits = 0;
    for (int i = 0; i < g; i++)
        for (int j = 0; j < g; j++)
            for (int k = 0; k < g; k++) {
                float p[3] = {lo + (i + 0.5f) * step, lo + (j + 0.5f) * step,
                              lo + (k + 0.5f) * step};
                hits += in_perspective_hull(p, cams, 4, r);
            }
    double expected = (double)hits * step * step * step;
    double sphere = 4.0 / 3.0 * PI * r * r * r;
    assert_true(st.volume >= sphere);
    assert_near(st.volume, expected, 0.05 * expected);
    /* The hull contains the sphere (to within a voxel). */
    float side = 0.9f * opt.camera.distance * 2.0f * tanf(0.5f * opt.camera.fov_deg * PI / 180);
    float vox = side / res;
    for (size_t v = 0; v < run.mesh.n_vertices; v++) {
        const float *p = run.mesh.positions + 3 * v;
        assert_true(sqrtf(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]) > r - vox);
    }
    ln_mesh_free(&run.mesh);
    free_images(imgs, 4);
}

static void test_hull_empty(void **state)
{
    struct ln_generate_options opt;
    opts(&opt, 48);
    struct ln_view views[2] = {{0, 0}, {90, 0}};
    struct ln_image imgs[2] = {{0}};
    const float above[3] = {0.0f, 0.35f, 0.0f}, below[3] = {0.0f, -0.35f, 0.0f};
    render_sphere(&imgs[0], 96, &views[0], &opt.camera, above, 0.1f, grey);
    render_sphere(&imgs[1], 96, &views[1], &opt.camera, below, 0.1f, grey);
    struct run run;
    assert_int_equal(run_engine(imgs, 2, views, &opt, NULL, &run), LN_EUNUSABLE);
    assert_non_null(strstr(run.err.message, "no common volume"));
    assert_null(run.mesh.positions);
    free_images(imgs, 2);
}

/* ---- out of memory ------------------------------------------------------ */

static void fault_sweep(const struct ln_image *imgs, size_t n, const struct ln_view *views,
                        const struct ln_generate_options *opt)
{
    struct run run;
    ln_alloc_fail_after(0);
    assert_int_equal(run_engine(imgs, n, views, opt, NULL, &run), 0);
    ln_mesh_free(&run.mesh);
    long count = ln_alloc_fail_after(0);
    assert_true(count > 5);
    for (long i = 1; i <= count; i++) {
        ln_alloc_fail_after(i);
        int rc = run_engine(imgs, n, views, opt, NULL, &run);
        ln_alloc_fail_after(0);
        if (rc < 0) {
            assert_int_equal(run.err.code, LN_ENOMEM);
            assert_int_equal(rc, LN_ENOMEM);
            assert_null(run.mesh.positions);
            assert_int_equal(run.mesh.n_faces, 0);
        } else {
            ln_mesh_free(&run.mesh);
        }
    }
    /* One past the last: the sweep covered every allocation. */
    ln_alloc_fail_after(count + 1);
    int rc = run_engine(imgs, n, views, opt, NULL, &run);
    ln_alloc_fail_after(0);
    assert_int_equal(rc, 0);
    ln_mesh_free(&run.mesh);
}

static void test_out_of_memory(void **state)
{
    struct ln_generate_options opt;
    opts(&opt, 32);
    struct ln_image disc = {0};
    make_disc(&disc, 64, 20.0f);
    fault_sweep(&disc, 1, NULL, &opt);
    ln_image_free(&disc);

    struct ln_view views[3] = {{0, 0}, {120, 0}, {240, 0}};
    struct ln_image imgs[3] = {{0}};
    render_views(imgs, views, 3, 64, &opt.camera, 0.4f);
    fault_sweep(imgs, 3, views, &opt);
    free_images(imgs, 3);
}

/* ---- timings (LN_SCULPT_BENCH=1) ----------------------------------------- */

static void print_stages(const char *what, const struct run *run)
{
    printf("%s:", what);
    for (int i = 0; i < run->rep.n_stages; i++)
        printf(" %s %.3f s", run->rep.stages[i].name, run->rep.stages[i].seconds);
    printf(" (%zu vertices)\n", run->mesh.n_vertices);
}

static void test_bench(void **state)
{
    if (!getenv("LN_SCULPT_BENCH"))
        skip();
    const int res = 256;
    struct ln_generate_options opt;
    opts(&opt, res);
    struct run run;
    struct ln_image disc = {0};
    make_disc(&disc, 1024, 380.0f);
    assert_int_equal(run_engine(&disc, 1, NULL, &opt, NULL, &run), 0);
    print_stages("one image, resolution 256", &run);
    ln_mesh_free(&run.mesh);
    ln_image_free(&disc);

    struct ln_view views[4] = {{0, 0}, {90, 0}, {180, 0}, {270, 0}};
    struct ln_image imgs[4] = {{0}};
    render_views(imgs, views, 4, 512, &opt.camera, 0.4f);
    assert_int_equal(run_engine(imgs, 4, views, &opt, NULL, &run), 0);
    print_stages("4 views, resolution 256", &run);
    ln_mesh_free(&run.mesh);
    free_images(imgs, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_disc),
        cmocka_unit_test(test_single_upright_cylinder),
        cmocka_unit_test(test_single_empty_and_canceled),
        cmocka_unit_test(test_hull_steinmetz),
        cmocka_unit_test(test_hull_colours),
        cmocka_unit_test(test_hull_contradicting_view),
        cmocka_unit_test(test_hull_perspective),
        cmocka_unit_test(test_hull_empty),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_bench),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
