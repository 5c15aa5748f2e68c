/* Unit tests of the sculpt engine: one silhouette (a disc must become a
 * closed sphere, coloured from the image in front and plausibly behind; an
 * upright cylinder seen from above must come back upright, of its own
 * volume; a ring on its edge must keep its hole and its plane) and visual
 * hulls from several views,
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
#include "ln_background.h"
#include "ln_camera.h"
#include "ln_engine.h"
#include "ln_image.h"
#include "ln_mesh.h"
#include "ln_synth.h"
#include "ln_threads.h"

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

/* The mug of the synthetic photo (tools/ln_synth.h) sculpted at grid 256:
 * its inflated body meets itself at a sharp rim, where edge collapses
 * pinch the two sheets together along an edge at many targets (with the
 * meshoptimizer of Debian 12 at 40 000 faces, also at the three slightly
 * lower targets tried after it, so the result came out open). With the
 * sheets separated and the slivers they pinched off dropped, every
 * simplification stays closed and in one piece. */
static void test_simplify_stays_closed(void **state)
{
    struct ln_image img = {0};
    assert_int_equal(ln_synth_photo(&img, 1024), 0);
    struct ln_engine *eng;
    assert_int_equal(ln_engine_sculpt_new(&eng, NULL), 0);
    struct ln_engine_input in = {.images = &img, .n_images = 1};
    const size_t targets[] = {100000, 60000, 40000};
    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        struct ln_generate_options opt;
        opts(&opt, 256);
        opt.target_faces = targets[t];
        struct ln_mesh out = {0};
        struct ln_generate_report rep;
        struct ln_error err = {0};
        if (ln_generate(eng, &in, &opt, NULL, &out, &rep, &err) < 0)
            fail_msg("%s", err.message);
        printf("the mug to %zu faces: %zu faces, %zu vertices, %s\n", targets[t], rep.stats.n_faces,
               rep.stats.n_vertices, rep.stats.watertight ? "closed" : "open");
        assert_true(rep.stats.n_faces <= targets[t]);
        assert_true(rep.stats.n_faces >= targets[t] * 9 / 10);
        assert_true(rep.stats.watertight);
        assert_int_equal(rep.stats.n_components, 1);
        ln_mesh_free(&out);
    }
    ln_engine_free(eng);
    ln_image_free(&img);
    (void)state;
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
 * h sin e + 2 r cos e and its volume the cylinder's, ends flat (an
 * outline inflated in the camera's frame would be symmetric in depth and
 * as deep as it is wide, whatever the elevation). */
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
    /* Every side view from this elevation sees the same outline; their
     * visual hull is the cylinder with, over its top and under its bottom,
     * a cone of height r tan e (a point there hides behind the far rim from
     * all around). Those cones are the outline's blind spot, not a shape:
     * the body ends flat at the rims, the cylinder's own volume (the
     * cones would add a third of r tan e / h, 8% here). */
    double cylinder = PI * rm * rm * hm;
    assert_near(st.volume, cylinder, 0.03 * cylinder);
    ln_mesh_free(&run.mesh);
    ln_image_free(&img);
}

/* The outline of a ring (centre circle of radius rr, tube radius rt,
 * pixels) standing upright in a vertical plane turned phi degrees from
 * facing the camera, seen orthographically from elevation e. In the
 * camera's frame (x right, y up, z toward the camera) the world's up is
 * U = (0, cos e, sin e) and the ring's horizontal direction is
 * D = (cos phi, -sin phi sin e, sin phi cos e); the ring is the union of
 * the balls of radius rt on the circle rr (cos t D + sin t U), so its
 * outline is the union of the discs of radius rt on that circle's image.
 * Anti-aliased by the distance to the image of the circle. */
static void make_ring_outline(struct ln_image *img, int side, float rr, float rt, float phi_deg,
                              float e_deg)
{
    enum { N_CIRCLE = 720 };
    const float phi = (float)(phi_deg * PI / 180.0), e = (float)(e_deg * PI / 180.0);
    const float dx = cosf(phi), dy = -sinf(phi) * sinf(e), uy = cosf(e);
    float cx[N_CIRCLE], cy[N_CIRCLE];
    for (int q = 0; q < N_CIRCLE; q++) {
        float t = (float)(2.0 * PI * q / N_CIRCLE);
        cx[q] = rr * cosf(t) * dx;
        cy[q] = rr * (cosf(t) * dy + sinf(t) * uy);
    }
    assert_int_equal(ln_image_alloc(img, side, side, 4, NULL), 0);
    const float c = 0.5f * (float)side;
    for (int y = 0; y < side; y++) {
        for (int x = 0; x < side; x++) {
            float px = (float)x + 0.5f - c, py = c - ((float)y + 0.5f);
            float best = 1e30f;
            for (int q = 0; q < N_CIRCLE; q++) {
                float ddx = px - cx[q], ddy = py - cy[q];
                float d2 = ddx * ddx + ddy * ddy;
                best = d2 < best ? d2 : best;
            }
            float a = rt - sqrtf(best) + 0.5f;
            a = a < 0.0f ? 0.0f : (a > 1.0f ? 1.0f : a);
            uint8_t *p = img->data + ((size_t)y * side + x) * 4;
            p[0] = 90;
            p[1] = 140;
            p[2] = 200;
            p[3] = (uint8_t)(a * 255.0f + 0.5f);
        }
    }
}

/* A ring standing on its edge, turned 35 degrees from the camera, in a
 * photo from the assumed elevation (20 degrees, no view given). A body of
 * revolution about the vertical cannot show the hole in its outline; the
 * ring's own plane can: the hole's and the outline's ellipses give its
 * tilt (the middle circle's aspect is cos of the angle between the ring's
 * axis and the view), and of the two mirror planes with that tilt only one
 * is upright in the world. So the mesh keeps the hole (a torus: one
 * component, V - E + F = 0, nothing inside the hole's image), its
 * vertices lie about the ring's plane (least squares z = a x + b y + c
 * against the plane through the ring's centre with normal D x U), and its
 * depth is the ring's: 2 rr sqrt(sin^2 phi cos^2 e + sin^2 e) + 2 rt,
 * scaled as its width 2 rr cos phi + 2 rt is. */
static void test_single_ring_on_edge(void **state)
{
    const int res = 96;
    const float rr = 60.0f, rt = 16.0f, phi = 35.0f, e = 20.0f;
    struct ln_image img = {0};
    make_ring_outline(&img, 200, rr, rt, phi, e);
    struct ln_generate_options opt;
    opts(&opt, res);
    struct run run;
    assert_int_equal(run_engine(&img, 1, NULL, &opt, NULL, &run), 0);
    struct ln_mesh_stats st;
    stats(&run.mesh, &st);
    assert_true(st.watertight);
    assert_int_equal(st.n_components, 1);
    assert_int_equal(st.euler, 0);

    const double pr = phi * PI / 180.0, er = e * PI / 180.0;
    const double sp = sin(pr), cp = cos(pr), se = sin(er), ce = cos(er);
    double ex = st.bbox_max[0] - st.bbox_min[0], ez = st.bbox_max[2] - st.bbox_min[2];
    const double s = ex / (2.0 * rr * cp + 2.0 * rt);
    const double want_z = s * (2.0 * rr * sqrt(sp * sp * ce * ce + se * se) + 2.0 * rt);
    /* (The inflated tube comes out a little deep at this grid: 8% in all
     * here.) */
    assert_near(ez, want_z, 0.12 * want_z);

    /* The hole's image: an ellipse about the centre, clear of any vertex
     * well inside it (half its inner size, in the width's scale). */
    const double mx = 0.5 * (st.bbox_min[0] + st.bbox_max[0]);
    const double my = 0.5 * (st.bbox_min[1] + st.bbox_max[1]);
    const double inner = s * (rr * cp - rt);
    /* Least squares z = a x + b y + c over the vertices. */
    double m[3][4] = {{0}};
    for (size_t v = 0; v < run.mesh.n_vertices; v++) {
        const float *p = run.mesh.positions + 3 * v;
        double x = p[0] - mx, y = p[1] - my, z = p[2];
        assert_true(hypot(x, y) > 0.5 * inner);
        const double row[4] = {x, y, 1.0, z};
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++)
                m[i][j] += row[i] * row[j];
    }
    for (int i = 0; i < 3; i++) { /* Gauss-Jordan, the matrix is positive definite */
        for (int k = 0; k < 3; k++) {
            if (k == i)
                continue;
            double f = m[k][i] / m[i][i];
            for (int j = 0; j < 4; j++)
                m[k][j] -= f * m[i][j];
        }
    }
    const double a = m[0][3] / m[0][0], b = m[1][3] / m[1][1];
    /* Normal D x U = (-sp, -cp se, cp ce): z = (sp x + cp se y) / (cp ce). */
    assert_near(a, sp / (cp * ce), 0.08);
    assert_near(b, se / ce, 0.08);
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

/* A photo's outline is not binary: a pixel the object partly covers
 * shows a mix of its colour and the background's, and the colour
 * separation's mask counts most such pixels as object. A sphere of radius
 * r rendered with 4 x 4 supersampling, opaque, dark on a light
 * background, from four sides: its outline in every view is the circle of
 * r * scale * side pixels about the image centre. Every vertex of the
 * carved surface must project inside every view's circle within half a
 * pixel (the mask alone put the outline up to a pixel outside), and the
 * surface must reach the circle (within half a pixel) in every view. */
static void test_hull_outline_subpixel(void **state)
{
    const int res = 96, side = 192;
    const float r = 0.4f;
    const uint8_t obj[3] = {50, 90, 140}, bg[3] = {235, 232, 228};
    struct ln_generate_options opt;
    opts(&opt, res);
    opt.remove_bg = LN_REMOVE_BG_CLASSIC;
    struct ln_view views[4] = {{0, 0}, {90, 0}, {180, 0}, {270, 0}};
    struct ln_image imgs[4] = {{0}};
    const float o[3] = {0, 0, 0};
    for (int i = 0; i < 4; i++) {
        render_sphere(&imgs[i], side, &views[i], &opt.camera, o, r, obj);
        const size_t n = (size_t)side * side;
        for (size_t p = 0; p < n; p++) {
            uint8_t *px = imgs[i].data + p * 4;
            float a = (float)px[3] / 255.0f;
            for (int k = 0; k < 3; k++)
                px[k] = (uint8_t)lrintf(a * (float)obj[k] + (1.0f - a) * (float)bg[k]);
            px[3] = 255;
        }
    }
    struct run run;
    assert_int_equal(run_engine(imgs, 4, views, &opt, NULL, &run), 0);
    assert_string_equal(run.rep.background, "classic");
    for (int i = 0; i < 4; i++) {
        struct ln_camera cam;
        ln_camera_init(&cam, &views[i], &opt.camera);
        const double r_px = r * cam.scale * side, c = 0.5 * side;
        double worst = -1e9;
        for (size_t v = 0; v < run.mesh.n_vertices; v++) {
            float u, w, depth;
            assert_int_equal(ln_camera_project(&cam, run.mesh.positions + 3 * v, &u, &w, &depth),
                             0);
            double d = hypot(u * side - c, w * side - c) - r_px;
            worst = d > worst ? d : worst;
        }
        printf("view %d: outermost vertex %+.3f px from the outline\n", i, worst);
        assert_true(worst <= 0.5);
        assert_true(worst >= -0.5);
    }
    ln_mesh_free(&run.mesh);
    free_images(imgs, 4);
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

/* ---- photo-consistency ------------------------------------------------ */

/* A cup standing on y: a wall from radius CUP_RI to CUP_RO, from CUP_Y0 to
 * CUP_Y1, and a floor up to CUP_FLOOR; open above. */
#define CUP_RO 0.30f
#define CUP_RI 0.24f
#define CUP_Y0 (-0.30f)
#define CUP_Y1 0.30f
#define CUP_FLOOR (-0.22f)

/* Signed distance to a cylinder about y of radius r between y0 and y1. */
static float sdf_cylinder(const float p[3], float r, float y0, float y1)
{
    float dx = sqrtf(p[0] * p[0] + p[2] * p[2]) - r;
    float dy = fabsf(p[1] - 0.5f * (y0 + y1)) - 0.5f * (y1 - y0);
    float ox = fmaxf(dx, 0.0f), oy = fmaxf(dy, 0.0f);
    return sqrtf(ox * ox + oy * oy) + fminf(fmaxf(dx, dy), 0.0f);
}

static float sdf_cup(const float p[3])
{
    float outer = sdf_cylinder(p, CUP_RO, CUP_Y0, CUP_Y1);
    float inner = sdf_cylinder(p, CUP_RI, CUP_FLOOR, CUP_Y1 + 1.0f);
    return fmaxf(outer, -inner);
}

/* A ball of radius CUP_RO about the origin. */
static float sdf_ball(const float p[3])
{
    return sqrtf(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]) - CUP_RO;
}

/* The cup that render_cup draws. */
static float (*cup_sdf)(const float p[3]) = sdf_cup;

/* The texture: smooth colour waves of different periods along x, y and z,
 * so that every point of the surface has its own colour in every view,
 * times Lambert light from the upper front left (the same in every view). */
static void cup_colour(const float p[3], const float n[3], float rgb[3])
{
    const float l[3] = {-0.45f, 0.75f, 0.48f};
    float ln = sqrtf(l[0] * l[0] + l[1] * l[1] + l[2] * l[2]);
    float nl = (n[0] * l[0] + n[1] * l[1] + n[2] * l[2]) / ln;
    float shade = 0.45f + 0.55f * fmaxf(nl, 0.0f);
    rgb[0] = shade * (0.5f + 0.4f * sinf(17.0f * p[0] + 5.0f * p[1]));
    rgb[1] = shade * (0.5f + 0.4f * sinf(13.0f * p[2] - 9.0f * p[1] + 1.0f));
    rgb[2] = shade * (0.5f + 0.4f * sinf(11.0f * (p[0] + p[2]) + 19.0f * p[1] + 2.0f));
}

/* The colour of the surface at p, whose field's gradient there is g (not
 * normalised), for render_sdf. */
typedef void (*surface_colour_fn)(const float p[3], const float g[3], const void *user,
                                  float rgb[3]);

/* Renders the surface of sdf by sphere tracing the camera's rays, 2 x 2
 * per pixel, on a transparent background, coloured by colour. */
static void render_sdf(struct ln_image *img, int side, const struct ln_view *view,
                       const struct ln_camera_options *copt, float (*sdf)(const float p[3]),
                       surface_colour_fn colour, const void *user)
{
    struct ln_camera cam;
    ln_camera_init(&cam, view, copt);
    assert_int_equal(ln_image_alloc(img, side, side, 4, NULL), 0);
    for (int y = 0; y < side; y++) {
        for (int x = 0; x < side; x++) {
            float acc[3] = {0, 0, 0};
            int hits = 0;
            for (int sy = 0; sy < 2; sy++)
                for (int sx = 0; sx < 2; sx++) {
                    float o[3], d[3];
                    ln_camera_ray(&cam, ((float)x + (sx + 0.5f) / 2.0f) / (float)side,
                                  ((float)y + (sy + 0.5f) / 2.0f) / (float)side, o, d);
                    /* An orthographic camera stands 10 units out. */
                    float t = 0.0f;
                    for (int it = 0; it < 400 && t < 20.0f; it++) {
                        float p[3] = {o[0] + t * d[0], o[1] + t * d[1], o[2] + t * d[2]};
                        float f = sdf(p);
                        if (f < 1e-4f) {
                            float g[3], c[3];
                            const float e = 1e-3f;
                            for (int a = 0; a < 3; a++) {
                                float q1[3] = {p[0], p[1], p[2]}, q0[3] = {p[0], p[1], p[2]};
                                q1[a] += e;
                                q0[a] -= e;
                                g[a] = sdf(q1) - sdf(q0);
                            }
                            colour(p, g, user, c);
                            for (int a = 0; a < 3; a++)
                                acc[a] += c[a];
                            hits++;
                            break;
                        }
                        t += fmaxf(f, 2e-4f);
                    }
                }
            uint8_t *px = img->data + ((size_t)y * side + x) * 4;
            for (int a = 0; a < 3; a++)
                px[a] = hits ? (uint8_t)(255.0f * fminf(acc[a] / (float)hits, 1.0f) + 0.5f) : 0;
            px[3] = (uint8_t)(hits * 255 / 4);
        }
    }
}

/* cup_colour with the gradient normalised. */
static void cup_colour_plain(const float p[3], const float g[3], const void *user, float rgb[3])
{
    (void)user;
    float n[3] = {g[0], g[1], g[2]};
    float nn = sqrtf(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
    for (int a = 0; a < 3; a++)
        n[a] /= nn > 0.0f ? nn : 1.0f;
    cup_colour(p, n, rgb);
}

/* Renders the cup (cup_sdf) as cup_colour paints it. */
static void render_cup(struct ln_image *img, int side, const struct ln_view *view,
                       const struct ln_camera_options *copt)
{
    render_sdf(img, side, view, copt, cup_sdf, cup_colour_plain, NULL);
}

/* Four views around at elevation 20 and one from straight above. */
static const struct ln_view cup_views[5] = {{0, 20}, {90, 20}, {180, 20}, {270, 20}, {0, 90}};

static void render_cups(struct ln_image *imgs, const struct ln_view *views, int n, int side,
                        const struct ln_camera_options *copt)
{
    for (int i = 0; i < n; i++)
        render_cup(&imgs[i], side, &views[i], copt);
}

/* The cup seen from views (n of them, side pixels) sculpted twice at grid
 * res, as the plain visual hull and with photo-consistency; opt is left as
 * opts gives it, photo-consistency on. */
static void carve_cup(const struct ln_view *views, int n, int res, int side, struct ln_image *imgs,
                      struct ln_generate_options *opt, struct run *hull, struct run *carved)
{
    opts(opt, res);
    render_cups(imgs, views, n, side, &opt->camera);
    opt->photo_consistency = 0;
    assert_int_equal(run_engine(imgs, (size_t)n, views, opt, NULL, hull), 0);
    opt->photo_consistency = 1;
    assert_int_equal(run_engine(imgs, (size_t)n, views, opt, NULL, carved), 0);
}

/* Whether the ray o + t d meets face f of m (Moller-Trumbore), t in *t. */
static int ray_face(const struct ln_mesh *m, size_t f, const float o[3], const float d[3],
                    float *t)
{
    const float *a = m->positions + 3 * m->indices[3 * f];
    const float *b = m->positions + 3 * m->indices[3 * f + 1];
    const float *c = m->positions + 3 * m->indices[3 * f + 2];
    float e1[3], e2[3], pv[3], tv[3], qv[3];
    for (int k = 0; k < 3; k++) {
        e1[k] = b[k] - a[k];
        e2[k] = c[k] - a[k];
        tv[k] = o[k] - a[k];
    }
    pv[0] = d[1] * e2[2] - d[2] * e2[1];
    pv[1] = d[2] * e2[0] - d[0] * e2[2];
    pv[2] = d[0] * e2[1] - d[1] * e2[0];
    float det = e1[0] * pv[0] + e1[1] * pv[1] + e1[2] * pv[2];
    if (fabsf(det) < 1e-12f)
        return 0;
    float u = (tv[0] * pv[0] + tv[1] * pv[1] + tv[2] * pv[2]) / det;
    if (u < 0.0f || u > 1.0f)
        return 0;
    qv[0] = tv[1] * e1[2] - tv[2] * e1[1];
    qv[1] = tv[2] * e1[0] - tv[0] * e1[2];
    qv[2] = tv[0] * e1[1] - tv[1] * e1[0];
    float v = (d[0] * qv[0] + d[1] * qv[1] + d[2] * qv[2]) / det;
    if (v < 0.0f || u + v > 1.0f)
        return 0;
    *t = (e2[0] * qv[0] + e2[1] * qv[1] + e2[2] * qv[2]) / det;
    return 1;
}

/* Height of the first face that a ray straight down the cup's axis meets,
 * or -10 when it meets none. */
static float first_hit_down(const struct ln_mesh *m, float x, float z)
{
    float best = -10.0f, t;
    const float o[3] = {x, 10.0f, z}, d[3] = {0.0f, -1.0f, 0.0f};
    for (size_t f = 0; f < m->n_faces; f++)
        if (ray_face(m, f, o, d, &t) && t > 0.0f && o[1] - t > best)
            best = o[1] - t;
    return best;
}

/* Whether world point p projects within `margin` pixels of a pixel whose
 * alpha is at least one half, in the view's image. */
static int near_silhouette(const struct ln_image *img, const struct ln_camera *cam,
                           const float p[3], int margin)
{
    float u, v, depth;
    if (ln_camera_project(cam, p, &u, &v, &depth) < 0)
        return 0;
    int cx = (int)floorf(u * (float)img->width), cy = (int)floorf(v * (float)img->height);
    for (int y = cy - margin; y <= cy + margin; y++)
        for (int x = cx - margin; x <= cx + margin; x++)
            if (x >= 0 && y >= 0 && x < img->width && y < img->height &&
                img->data[((size_t)y * img->width + x) * 4 + 3] >= 128)
                return 1;
    return 0;
}

/* Carving only removes: every vertex of the photo-consistent result lies
 * inside every view's silhouette (within a voxel and a pixel), so inside
 * the visual hull; and it does remove something here, where the hull's lid
 * over the cup hides an inside that the views' colours contradict. */
static void test_carve_inside_hull(void **state)
{
    const int res = 80, side = 160;
    struct ln_generate_options opt;
    struct ln_image imgs[5] = {{0}};
    struct run carved, hull;
    carve_cup(cup_views, 5, res, side, imgs, &opt, &hull, &carved);

    /* A voxel is 1.25 / res world units, side / 1.25 pixels a unit. */
    const int margin = (int)ceilf((float)side / (float)res) + 1;
    for (int i = 0; i < 5; i++) {
        struct ln_camera cam;
        ln_camera_init(&cam, &cup_views[i], &opt.camera);
        size_t outside = 0;
        for (size_t v = 0; v < carved.mesh.n_vertices; v++)
            outside += !near_silhouette(&imgs[i], &cam, carved.mesh.positions + 3 * v, margin);
        assert_int_equal(outside, 0);
    }
    struct ln_mesh_stats sc, sh;
    stats(&carved.mesh, &sc);
    stats(&hull.mesh, &sh);
    for (int a = 0; a < 3; a++) {
        assert_true(sc.bbox_min[a] >= sh.bbox_min[a] - 1.25f / res);
        assert_true(sc.bbox_max[a] <= sh.bbox_max[a] + 1.25f / res);
    }
    assert_true(sc.volume < sh.volume);
    ln_mesh_free(&carved.mesh);
    ln_mesh_free(&hull.mesh);
    free_images(imgs, 5);
}

/* With photo-consistency on, the same mesh, bit for bit, on 1, 2 and 3
 * threads. */
static void test_carve_threads(void **state)
{
    const int res = 64, side = 128;
    struct ln_generate_options opt;
    opts(&opt, res);
    opt.photo_consistency = 1;
    struct ln_image imgs[4] = {{0}};
    render_cups(imgs, cup_views, 4, side, &opt.camera);
    struct run first;
    int saved = ln_threads_get();
    ln_threads_set(1);
    assert_int_equal(run_engine(imgs, 4, cup_views, &opt, NULL, &first), 0);
    for (int t = 2; t <= 3; t++) {
        ln_threads_set(t);
        struct run again;
        assert_int_equal(run_engine(imgs, 4, cup_views, &opt, NULL, &again), 0);
        assert_int_equal(again.mesh.n_vertices, first.mesh.n_vertices);
        assert_int_equal(again.mesh.n_faces, first.mesh.n_faces);
        assert_memory_equal(again.mesh.positions, first.mesh.positions,
                            first.mesh.n_vertices * 3 * sizeof(float));
        assert_memory_equal(again.mesh.indices, first.mesh.indices,
                            first.mesh.n_faces * 3 * sizeof(*first.mesh.indices));
        assert_non_null(again.mesh.colors);
        assert_memory_equal(again.mesh.colors, first.mesh.colors,
                            first.mesh.n_vertices * 3 * sizeof(float));
        ln_mesh_free(&again.mesh);
    }
    ln_threads_set(saved);
    ln_mesh_free(&first.mesh);
    free_images(imgs, 4);
}

/* A cup from four side views and one from above: the top view sees into
 * it, so the result is open: a ray down the axis passes the rim, where the
 * hull has a lid above it. How deep it gets has an analytic bound: from
 * elevation 20 a side view sees into the cup over its near rim, along a
 * line that reaches the axis at rim - ri tan 20 (0.213); below that only
 * the top view sees the axis, and one view's colour does not tell how
 * deep the surface it shows lies (the floor's depth has no second view to
 * confirm it). So the ray must get at least that deep (within two
 * voxels), and must not pass the floor (the carving only removes what the
 * views show to be empty). */
static void test_carve_cup_open_top(void **state)
{
    const int res = 80, side = 160;
    const float vox = 1.25f / res;
    struct ln_generate_options opt;
    struct ln_image imgs[5] = {{0}};
    struct run carved, hull;
    carve_cup(cup_views, 5, res, side, imgs, &opt, &hull, &carved);
    /* The hull's lid: from elevation 20 a point on the axis up to
     * ro tan 20 above the rim hides behind the far rim in every side view,
     * and the top view cannot see heights. */
    const float lid = CUP_Y1 + CUP_RO * tanf((float)(20.0 * PI / 180.0));
    assert_near(first_hit_down(&hull.mesh, 0.0f, 0.0f), lid, 2 * vox);
    float y = first_hit_down(&carved.mesh, 0.0f, 0.0f);
    const float seen = CUP_Y1 - CUP_RI * tanf((float)(20.0 * PI / 180.0));
    fprintf(stderr,
            "cup, 4 + top: first hit down the axis at y %.3f (side views see down to %.3f, floor "
            "%.3f, rim %.3f)\n",
            y, seen, CUP_FLOOR, CUP_Y1);
    assert_true(y <= seen + 2 * vox);
    assert_true(y >= CUP_FLOOR - 2 * vox);
    ln_mesh_free(&carved.mesh);
    ln_mesh_free(&hull.mesh);
    free_images(imgs, 5);
}

/* Views from elevation 45 look into the cup, and their hull still closes
 * it with a cone over the opening; photo-consistency finds the cavity: at
 * least half of the inside's volume (pi ri^2 (y1 - floor)) is removed from
 * the hull's. */
static void test_carve_cup_cavity(void **state)
{
    const int res = 80, side = 160;
    const struct ln_view views[4] = {{0, 45}, {90, 45}, {180, 45}, {270, 45}};
    struct ln_generate_options opt;
    struct ln_image imgs[4] = {{0}};
    struct run carved, hull;
    carve_cup(views, 4, res, side, imgs, &opt, &hull, &carved);
    struct ln_mesh_stats sc, sh;
    stats(&carved.mesh, &sc);
    stats(&hull.mesh, &sh);
    double inside = PI * CUP_RI * CUP_RI * (CUP_Y1 - CUP_FLOOR);
    fprintf(stderr, "cup, 4 views at el 45: hull volume %.4f, carved %.4f, inside %.4f\n",
            sh.volume, sc.volume, inside);
    assert_true(sh.volume - sc.volume >= 0.5 * inside);
    ln_mesh_free(&carved.mesh);
    ln_mesh_free(&hull.mesh);
    free_images(imgs, 4);
}

/* Whether p is inside the closed mesh m: the number of faces a ray from p
 * straight up crosses is odd. Only the n_f faces in f are tried: those
 * whose extent across x and z holds p's (within rounding), the only ones
 * such a ray can meet; with f NULL, every face of m. */
static int inside_mesh(const struct ln_mesh *m, const size_t *f, size_t n_f, const float p[3])
{
    int crossings = 0;
    float t;
    const float d[3] = {0.0f, 1.0f, 0.0f};
    if (!f)
        n_f = m->n_faces;
    for (size_t k = 0; k < n_f; k++)
        crossings += ray_face(m, f ? f[k] : k, p, d, &t) && t > 0.0f;
    return crossings & 1;
}

/* The lattice's coordinates along one axis: from `from` in steps of step
 * while below `to`, summed in float; their number. */
static int lattice_axis(float from, float step, float to, float *v, int max)
{
    int n = 0;
    for (float a = from; a < to; a += step) {
        assert_true(n < max);
        v[n++] = a;
    }
    return n;
}

/* Of the points of a regular lattice that lie at least `depth` inside
 * the object render_cup draws, how many the mesh leaves outside; the
 * lattice's size in *total. The lattice's columns along y share their
 * faces: each face is listed under the columns its extent across x and z
 * holds (within LATTICE_SLACK, far below a face's size and the lattice's
 * spacing, so that rounding drops no face a ray can meet), so that a
 * point tries a handful of faces rather than all of them. */
#define LATTICE_MAX 64
#define LATTICE_SLACK 1e-4f
static int cup_points_lost(const struct ln_mesh *m, float depth, int *total)
{
    /* Offsets that no face edge of a grid-aligned mesh lines up with. */
    float xs[LATTICE_MAX], ys[LATTICE_MAX], zs[LATTICE_MAX];
    const int nx = lattice_axis(-CUP_RO + 0.0029f, 0.0237f, CUP_RO, xs, LATTICE_MAX);
    const int ny = lattice_axis(CUP_Y0 + 0.0071f, 0.0291f, CUP_Y1, ys, LATTICE_MAX);
    const int nz = lattice_axis(-CUP_RO + 0.0043f, 0.0213f, CUP_RO, zs, LATTICE_MAX);
    const size_t n_cols = (size_t)nx * (size_t)nz;
    /* Column c's faces are list[first[c] .. first[c + 1]): counted in the
     * first pass, written in the second. */
    size_t *first = calloc(n_cols + 1, sizeof *first), *fill = calloc(n_cols, sizeof *fill);
    size_t *list = NULL;
    assert_non_null(first);
    assert_non_null(fill);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t f = 0; f < m->n_faces; f++) {
            float lo[3], hi[3];
            for (int a = 0; a < 3; a++) {
                lo[a] = hi[a] = m->positions[3 * m->indices[3 * f] + a];
                for (int k = 1; k < 3; k++) {
                    const float v = m->positions[3 * m->indices[3 * f + k] + a];
                    lo[a] = fminf(lo[a], v);
                    hi[a] = fmaxf(hi[a], v);
                }
            }
            for (int iz = 0; iz < nz; iz++) {
                if (zs[iz] < lo[2] - LATTICE_SLACK || zs[iz] > hi[2] + LATTICE_SLACK)
                    continue;
                for (int ix = 0; ix < nx; ix++) {
                    if (xs[ix] < lo[0] - LATTICE_SLACK || xs[ix] > hi[0] + LATTICE_SLACK)
                        continue;
                    const size_t c = (size_t)iz * (size_t)nx + (size_t)ix;
                    if (pass == 0)
                        first[c + 1]++;
                    else
                        list[fill[c]++] = f;
                }
            }
        }
        if (pass == 0) {
            for (size_t c = 0; c < n_cols; c++) {
                first[c + 1] += first[c];
                fill[c] = first[c];
            }
            list = malloc((first[n_cols] + 1) * sizeof *list);
            assert_non_null(list);
        }
    }
    int lost = 0;
    *total = 0;
    for (int iy = 0; iy < ny; iy++)
        for (int iz = 0; iz < nz; iz++)
            for (int ix = 0; ix < nx; ix++) {
                const float p[3] = {xs[ix], ys[iy], zs[iz]};
                if (cup_sdf(p) > -depth)
                    continue;
                ++*total;
                const size_t c = (size_t)iz * (size_t)nx + (size_t)ix;
                lost += !inside_mesh(m, list + first[c], first[c + 1] - first[c], p);
            }
    free(list);
    free(fill);
    free(first);
    return lost;
}

/* Another exposure and white balance: n photos' stored colour bytes of
 * side x side pixels times gains[i] per channel, clipped. */
static void scale_photos(struct ln_image *imgs, int n, int side, const float (*gains)[3])
{
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < (size_t)side * side; k++)
            for (int c = 0; c < 3; c++) {
                uint8_t *b = &imgs[i].data[4 * k + c];
                *b = (uint8_t)fminf(255.0f, (float)*b * gains[i][c] + 0.5f);
            }
}

/* What photo-consistency keeps under differing exposure: the object
 * render_cup draws, from four views (side pixels) at grid res, sculpted as
 * the plain visual hull, with photo-consistency from the photos as
 * rendered (plain), and with it from the photos times gains[i] per channel
 * (lit); for each, its stats and how many points of the object's lattice
 * a voxel or more inside it the mesh leaves outside (cup_points_lost). */
struct lighting {
    struct ln_mesh_stats hull, plain, lit;
    int total, lost_plain, lost_lit;
};

static void carve_lighting(const struct ln_view views[4], int res, int side,
                           const float (*gains)[3], struct lighting *out)
{
    struct ln_generate_options opt;
    struct ln_image imgs[4] = {{0}};
    struct run plain, hull, lit;
    carve_cup(views, 4, res, side, imgs, &opt, &hull, &plain);
    scale_photos(imgs, 4, side, gains);
    assert_int_equal(run_engine(imgs, 4, views, &opt, NULL, &lit), 0);
    stats(&hull.mesh, &out->hull);
    stats(&plain.mesh, &out->plain);
    stats(&lit.mesh, &out->lit);
    const float vox = 1.25f / (float)res;
    out->lost_plain = cup_points_lost(&plain.mesh, vox, &out->total);
    out->lost_lit = cup_points_lost(&lit.mesh, vox, &out->total);
    ln_mesh_free(&lit.mesh);
    ln_mesh_free(&plain.mesh);
    ln_mesh_free(&hull.mesh);
    free_images(imgs, 4);
}

/* Photos of one object rarely share exposure and white balance: a ball
 * with the cup's texture from four views around, one photo 15% brighter,
 * one 15% darker and one tinted (red up, blue down), the gains applied to
 * the stored bytes. Photo-consistency must keep the true surface: every
 * lattice point a voxel or more inside the ball stays inside the carved
 * mesh, as it does with the photos as rendered. (Compared as they are,
 * without the per-view gains, the changed photos' colours disagree with
 * the others' on true surface, and the rounds carve 18 of these 7038
 * points out of the ball.) Grid 144 from 288-pixel photos is about the
 * least at which each pair of neighbouring views shares enough surface for
 * a clear mode of its colour ratios (down to 136 on this ball; at 128 the
 * gains come only from pairs that agree, at 96 not at all). */
static void test_carve_lighting(void **state)
{
    const int res = 144, side = 288;
    const struct ln_view views[4] = {{0, 20}, {90, 20}, {180, 20}, {270, 20}};
    const float gains[4][3] = {
        {1.0f, 1.0f, 1.0f}, {1.15f, 1.15f, 1.15f}, {0.85f, 0.85f, 0.85f}, {1.12f, 1.0f, 0.88f}};
    struct lighting l;
    cup_sdf = sdf_ball;
    carve_lighting(views, res, side, gains, &l);
    cup_sdf = sdf_cup;
    fprintf(stderr,
            "ball, 4 views, lighting differs: hull volume %.4f, carved %.4f (same lighting "
            "%.4f), ball %.4f; points of the ball lost %d (same lighting %d) of %d\n",
            l.hull.volume, l.lit.volume, l.plain.volume, 4.0 / 3.0 * PI * CUP_RO * CUP_RO * CUP_RO,
            l.lost_lit, l.lost_plain, l.total);
    assert_true(l.total > 1000);
    assert_int_equal(l.lost_plain, 0);
    assert_int_equal(l.lost_lit, 0);
    /* The carving still removes hull the colours contradict. */
    assert_true(l.lit.volume < l.hull.volume);
}

/* The cup from four views around, one photo 15% brighter and its
 * neighbour 15% darker (a ratio of 1.35 between them), at grid 80 from
 * 160-pixel photos: two neighbouring views share too little surface for
 * gains, and the colours are compared in the ways that a gain per photo
 * does not upset (sculpt_multi.c, "lighting, where no gains can be set").
 *
 * From elevation 20 (the side views see mostly the outside and the
 * hull's lid) no lattice point a voxel or more inside the cup's wall or
 * floor is carved away, with the photos as rendered or changed, and the
 * carving still removes hull. (Colours compared as they are, as before
 * this test, carved away 115 such points of 2325 from the changed photos
 * and 18 from the photos as rendered.)
 *
 * From elevation 45 (the views see into the cup) photo-consistency
 * finds the cavity under one light, as test_carve_cup_cavity asks; with
 * the changed photos it carves less (the price of the tolerance: 0.012
 * of the inside's 0.094 removed, where one light removes 0.053) and
 * carves away no more of the cup than under one light (0 against 29
 * points: at this grid the thin wall seen at a grazing angle loses a few
 * points even under one light). */
static void test_carve_cup_lighting(void **state)
{
    const int res = 80, side = 160;
    const float gains[4][3] = {
        {1.0f, 1.0f, 1.0f}, {1.15f, 1.15f, 1.15f}, {0.85f, 0.85f, 0.85f}, {1.0f, 1.0f, 1.0f}};
    const double inside = PI * CUP_RI * CUP_RI * (CUP_Y1 - CUP_FLOOR);
    for (int e = 0; e < 2; e++) {
        const float el = e ? 45.0f : 20.0f;
        const struct ln_view views[4] = {{0, el}, {90, el}, {180, el}, {270, el}};
        struct lighting l;
        carve_lighting(views, res, side, gains, &l);
        fprintf(stderr,
                "cup, 4 views at el %.0f, one photo 15%% brighter, one 15%% darker: hull volume "
                "%.4f, carved %.4f (same lighting %.4f), inside %.4f; points of the cup lost %d "
                "(same lighting %d) of %d\n",
                (double)el, l.hull.volume, l.lit.volume, l.plain.volume, inside, l.lost_lit,
                l.lost_plain, l.total);
        assert_true(l.total > 1000);
        assert_true(l.lit.volume < l.hull.volume);
        if (e == 0) {
            assert_int_equal(l.lost_plain, 0);
            assert_int_equal(l.lost_lit, 0);
        } else {
            assert_true(l.hull.volume - l.plain.volume >= 0.5 * inside);
            assert_true(l.lost_lit <= l.lost_plain);
        }
    }
}

/* The cup's photos on a backdrop: each rendered view laid over the
 * colour bg (opaque, as a camera takes it), or over bg on its left half
 * and bg2 on its right (a backdrop that is not one even colour). */
static void on_backdrop(struct ln_image *imgs, int n, int side, const uint8_t bg[3],
                        const uint8_t bg2[3])
{
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < (size_t)side * side; k++) {
            uint8_t *px = &imgs[i].data[4 * k];
            const uint8_t *b = bg2 && (int)(k % (size_t)side) >= side / 2 ? bg2 : bg;
            const float a = (float)px[3] / 255.0f;
            for (int c = 0; c < 3; c++)
                px[c] = (uint8_t)lrintf(a * (float)px[c] + (1.0f - a) * (float)b[c]);
            px[3] = 255;
        }
}

/* The cup from four views at elevation 45 (they see into it) on a light
 * backdrop, separated by colour, as a turntable's photos are: under one
 * light, and with one photo 15% brighter, one 15% darker and one tinted
 * (red up, blue down), the backdrop clipped in 3 of those 9 channels.
 * Two neighbouring views share too little surface for gains from the
 * object, so they come from the backdrop (sculpt_multi.c, "lighting, the
 * backdrop"): photo-consistency then opens the cup as far as under one
 * light (1.03 of it) and carves away no more of the cup (36 lattice
 * points a voxel or more inside it, against 39 under one light: the thin
 * wall at a grazing angle at this grid). On a backdrop of two colours the
 * views' gains cannot come from it, and the colours are compared in the
 * ways a gain per photo does not upset ("lighting, where no gains can be
 * set"): less is opened (0.22 of one light's). */
static void test_carve_cup_backdrop(void **state)
{
    const int res = 80, side = 160;
    const float vox = 1.25f / (float)res;
    const struct ln_view views[4] = {{0, 45}, {90, 45}, {180, 45}, {270, 45}};
    const uint8_t light[3] = {232, 226, 214}, bluish[3] = {205, 212, 220};
    const float gains[4][3] = {
        {1.0f, 1.0f, 1.0f}, {1.15f, 1.15f, 1.15f}, {0.85f, 0.85f, 0.85f}, {1.12f, 1.0f, 0.88f}};
    struct ln_generate_options opt;
    opts(&opt, res);
    opt.remove_bg = LN_REMOVE_BG_CLASSIC;
    struct ln_image imgs[4] = {{0}};
    struct run hull, one, lit, two;
    render_cups(imgs, views, 4, side, &opt.camera);
    on_backdrop(imgs, 4, side, light, NULL);
    opt.photo_consistency = 0;
    assert_int_equal(run_engine(imgs, 4, views, &opt, NULL, &hull), 0);
    opt.photo_consistency = 1;
    assert_int_equal(run_engine(imgs, 4, views, &opt, NULL, &one), 0);
    scale_photos(imgs, 4, side, gains);
    assert_int_equal(run_engine(imgs, 4, views, &opt, NULL, &lit), 0);
    free_images(imgs, 4);
    render_cups(imgs, views, 4, side, &opt.camera);
    on_backdrop(imgs, 4, side, light, bluish);
    scale_photos(imgs, 4, side, gains);
    assert_int_equal(run_engine(imgs, 4, views, &opt, NULL, &two), 0);
    free_images(imgs, 4);
    struct ln_mesh_stats sh, so, sl, st;
    stats(&hull.mesh, &sh);
    stats(&one.mesh, &so);
    stats(&lit.mesh, &sl);
    stats(&two.mesh, &st);
    int total = 0;
    const int lost_one = cup_points_lost(&one.mesh, vox, &total);
    const int lost_lit = cup_points_lost(&lit.mesh, vox, &total);
    const int lost_two = cup_points_lost(&two.mesh, vox, &total);
    const double inside = PI * CUP_RI * CUP_RI * (CUP_Y1 - CUP_FLOOR);
    const double opened = sh.volume - so.volume;
    fprintf(stderr,
            "cup on a backdrop, 4 views at el 45: hull volume %.4f, opened under one light "
            "%.4f, with the photos' gains %.4f, on a backdrop of two colours %.4f (inside "
            "%.4f); points of the cup lost %d, %d, %d of %d\n",
            sh.volume, opened, sh.volume - sl.volume, sh.volume - st.volume, inside, lost_one,
            lost_lit, lost_two, total);
    assert_true(total > 1000);
    assert_true(opened >= 0.4 * inside);
    assert_true(sh.volume - sl.volume >= 0.9 * opened);
    assert_true(lost_lit <= lost_one);
    assert_true(sh.volume - st.volume < 0.5 * opened);
    assert_true(lost_two <= lost_one);
    ln_mesh_free(&hull.mesh);
    ln_mesh_free(&one.mesh);
    ln_mesh_free(&lit.mesh);
    ln_mesh_free(&two.mesh);
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

/* cup_colour's texture under the light from user (3 floats, not
 * normalised) in place of cup_colour's own. */
static void cup_colour_lit(const float p[3], const float g[3], const void *user, float rgb[3])
{
    const float *l = user;
    const float ll = sqrtf(l[0] * l[0] + l[1] * l[1] + l[2] * l[2]);
    /* cup_colour's shade of a face looking straight up, which its texture
     * is divided by before this light's shade multiplies it */
    const float l0[3] = {-0.45f, 0.75f, 0.48f};
    const float up[3] = {0.0f, 1.0f, 0.0f};
    const float s0 = 0.45f + 0.55f * l0[1] / sqrtf(l0[0] * l0[0] + l0[1] * l0[1] + l0[2] * l0[2]);
    float nn = 0.0f, nl = 0.0f, c[3];
    for (int a = 0; a < 3; a++)
        nn += g[a] * g[a];
    nn = sqrtf(nn);
    for (int a = 0; a < 3; a++)
        nl += g[a] / (nn > 0.0f ? nn : 1.0f) * l[a] / ll;
    cup_colour(p, up, c);
    float shade = 0.45f + 0.55f * fmaxf(nl, 0.0f);
    for (int a = 0; a < 3; a++)
        rgb[a] = c[a] / s0 * shade;
}

/* render_cup's picture of sdf_cup with the light from l (not normalised)
 * in place of cup_colour's: photos taken under a light that moved between
 * them. */
static void render_cup_lit(struct ln_image *img, int side, const struct ln_view *view,
                           const struct ln_camera_options *copt, const float l[3])
{
    render_sdf(img, side, view, copt, sdf_cup, cup_colour_lit, l);
}

/* The ball of test_carve_lighting, its photos with the same gains, and
 * the light turned about the vertical by 12 degrees one way or the other
 * from view to view, as bench-shapes --lighting draws them: the gains are
 * estimated, and what the turn leaves (a factor of its own at each point,
 * the same on all three channels) the sweep fits per patch
 * (sculpt_multi.c, "lighting, the light's turn"). Every lattice point a
 * voxel or more inside the ball stays inside the carved mesh, and the
 * carving removes at least 0.9 of the hull that it removes from the
 * photos under one light without gains (1.02 of it; without the fit, 0.85,
 * and one point of the ball carved away). */
static void test_carve_light_turned(void **state)
{
    const int res = 144, side = 288;
    const float vox = 1.25f / (float)res, turn = 12.0f * (float)PI / 180.0f;
    const struct ln_view views[4] = {{0, 20}, {90, 20}, {180, 20}, {270, 20}};
    const float gains[4][3] = {
        {1.0f, 1.0f, 1.0f}, {1.15f, 1.15f, 1.15f}, {0.85f, 0.85f, 0.85f}, {1.12f, 1.0f, 0.88f}};
    const float l0[3] = {-0.45f, 0.75f, 0.48f};
    struct ln_generate_options opt;
    opts(&opt, res);
    struct ln_image one[4] = {{0}}, turned[4] = {{0}};
    for (int i = 0; i < 4; i++) {
        const float a = (i & 1 ? -1.0f : 1.0f) * turn;
        const float l[3] = {-0.45f * cosf(a) + 0.48f * sinf(a), 0.75f,
                            0.45f * sinf(a) + 0.48f * cosf(a)};
        render_sdf(&one[i], side, &views[i], &opt.camera, sdf_ball, cup_colour_lit, l0);
        render_sdf(&turned[i], side, &views[i], &opt.camera, sdf_ball, cup_colour_lit, l);
    }
    scale_photos(turned, 4, side, gains);
    struct run hull, plain, lit;
    opt.photo_consistency = 0;
    assert_int_equal(run_engine(one, 4, views, &opt, NULL, &hull), 0);
    opt.photo_consistency = 1;
    assert_int_equal(run_engine(one, 4, views, &opt, NULL, &plain), 0);
    assert_int_equal(run_engine(turned, 4, views, &opt, NULL, &lit), 0);
    struct ln_mesh_stats sh, sp, sl;
    stats(&hull.mesh, &sh);
    stats(&plain.mesh, &sp);
    stats(&lit.mesh, &sl);
    int total;
    cup_sdf = sdf_ball;
    const int lost_plain = cup_points_lost(&plain.mesh, vox, &total);
    const int lost_lit = cup_points_lost(&lit.mesh, vox, &total);
    cup_sdf = sdf_cup;
    fprintf(stderr,
            "ball, 4 views, gains and the light turned: hull volume %.4f, carved %.4f (one "
            "light %.4f); points of the ball lost %d (one light %d) of %d\n",
            sh.volume, sl.volume, sp.volume, lost_lit, lost_plain, total);
    assert_true(total > 1000);
    assert_int_equal(lost_plain, 0);
    assert_int_equal(lost_lit, 0);
    assert_true(sh.volume - sl.volume >= 0.9 * (sh.volume - sp.volume));
    ln_mesh_free(&lit.mesh);
    ln_mesh_free(&plain.mesh);
    ln_mesh_free(&hull.mesh);
    free_images(one, 4);
    free_images(turned, 4);
    (void)state;
}

/* The area of the faces of m whose centroid lies more than d outside the
 * cup: surface where there is none (the hull's lid over the cup, the
 * corners that few views leave, pits carved into them). */
static double cup_false_area(const struct ln_mesh *m, float d)
{
    double area = 0.0;
    for (size_t f = 0; f < m->n_faces; f++) {
        const float *p[3];
        for (int a = 0; a < 3; a++)
            p[a] = m->positions + 3 * (size_t)m->indices[3 * f + a];
        float c[3], u[3], v[3];
        for (int a = 0; a < 3; a++) {
            c[a] = (p[0][a] + p[1][a] + p[2][a]) / 3.0f;
            u[a] = p[1][a] - p[0][a];
            v[a] = p[2][a] - p[0][a];
        }
        if (sdf_cup(c) <= d)
            continue;
        double x = (double)u[1] * v[2] - (double)u[2] * v[1];
        double y = (double)u[2] * v[0] - (double)u[0] * v[2];
        double z = (double)u[0] * v[1] - (double)u[1] * v[0];
        area += 0.5 * sqrt(x * x + y * y + z * z);
    }
    return area;
}

/* The cup from four perspective views around at elevation 20, as
 * bench-shapes --lighting draws its photos: white balances tinted in
 * opposite directions (each channel within 15% of one exposure, so up to
 * 1.35 between neighbours) and the light turned by 12 degrees one way or
 * the other from view to view. The views share too little surface for
 * gains, and colours are compared in ways that a gain per photo does not
 * upset (sculpt_multi.c, "lighting, hue where no gains can be set").
 * No lattice point a voxel or more inside the wall or floor is carved
 * away; nothing outside the plain hull is added (points of a coarse
 * lattice inside the carved mesh are inside the hull's); and the carving
 * does not pit the hull's lid: the surface more than two voxels outside
 * the cup grows by at most a sixth over the hull's (compared by colour
 * and brightness alone, as before the hue test, it grew by 0.23: 0.931
 * against 0.757; with it, by 0.12; with the white balance evened out
 * from the views' means and one factor per patch in the sweep, by 0.14:
 * 0.861). */
static void test_carve_cup_tinted_perspective(void **state)
{
    const int res = 80, side = 160;
    const float vox = 1.25f / res;
    const float k = 0.15f, turn = 12.0f * (float)PI / 180.0f;
    const float gains[4][3] = {{1.0f + k, 1.0f, 1.0f - k},
                               {1.0f - k, 1.0f, 1.0f + k},
                               {1.0f + k, 1.0f - k, 1.0f},
                               {1.0f - k, 1.0f + k, 1.0f}};
    const struct ln_view views[4] = {{0, 20}, {90, 20}, {180, 20}, {270, 20}};
    struct ln_generate_options opt;
    opts(&opt, res);
    opt.camera.projection = LN_PROJECTION_PERSPECTIVE;
    struct ln_image imgs[4] = {{0}};
    for (int i = 0; i < 4; i++) {
        float a = (i & 1 ? -1.0f : 1.0f) * turn;
        const float l[3] = {-0.45f * cosf(a) + 0.48f * sinf(a), 0.75f,
                            0.45f * sinf(a) + 0.48f * cosf(a)};
        render_cup_lit(&imgs[i], side, &views[i], &opt.camera, l);
    }
    scale_photos(imgs, 4, side, gains);
    struct run hull, lit;
    opt.photo_consistency = 0;
    assert_int_equal(run_engine(imgs, 4, views, &opt, NULL, &hull), 0);
    opt.photo_consistency = 1;
    assert_int_equal(run_engine(imgs, 4, views, &opt, NULL, &lit), 0);
    struct ln_mesh_stats sh, sl;
    stats(&hull.mesh, &sh);
    stats(&lit.mesh, &sl);
    int total, lost = cup_points_lost(&lit.mesh, vox, &total);
    double false_hull = cup_false_area(&hull.mesh, 2.0f * vox);
    double false_lit = cup_false_area(&lit.mesh, 2.0f * vox);
    int outside = 0, tested = 0;
    for (float z = -0.39f; z < 0.4f; z += 0.061f)
        for (float y = -0.38f; y < 0.4f; y += 0.059f)
            for (float x = -0.37f; x < 0.4f; x += 0.063f) {
                const float p[3] = {x, y, z};
                if (!inside_mesh(&lit.mesh, NULL, 0, p))
                    continue;
                tested++;
                outside += !inside_mesh(&hull.mesh, NULL, 0, p);
            }
    fprintf(stderr,
            "cup, 4 perspective views, tinted photos, light turned: hull volume %.4f, carved "
            "%.4f; points of the cup lost %d of %d; surface outside the cup %.4f (hull %.4f); "
            "points inside the carved mesh and outside the hull %d of %d\n",
            sh.volume, sl.volume, lost, total, false_lit, false_hull, outside, tested);
    assert_true(total > 1000);
    assert_int_equal(lost, 0);
    assert_true(tested > 100);
    assert_int_equal(outside, 0);
    assert_true(sl.volume < sh.volume);
    assert_true(false_lit <= false_hull * (1.0 + 1.0 / 6.0));
    ln_mesh_free(&lit.mesh);
    ln_mesh_free(&hull.mesh);
    free_images(imgs, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_disc),
        cmocka_unit_test(test_simplify_stays_closed),
        cmocka_unit_test(test_single_upright_cylinder),
        cmocka_unit_test(test_single_ring_on_edge),
        cmocka_unit_test(test_single_empty_and_canceled),
        cmocka_unit_test(test_hull_steinmetz),
        cmocka_unit_test(test_hull_outline_subpixel),
        cmocka_unit_test(test_hull_colours),
        cmocka_unit_test(test_hull_contradicting_view),
        cmocka_unit_test(test_hull_perspective),
        cmocka_unit_test(test_hull_empty),
        cmocka_unit_test(test_carve_inside_hull),
        cmocka_unit_test(test_carve_threads),
        cmocka_unit_test(test_carve_cup_open_top),
        cmocka_unit_test(test_carve_cup_cavity),
        cmocka_unit_test(test_carve_lighting),
        cmocka_unit_test(test_carve_cup_lighting),
        cmocka_unit_test(test_carve_cup_backdrop),
        cmocka_unit_test(test_carve_light_turned),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_bench),
        cmocka_unit_test(test_carve_cup_tinted_perspective),
    };
    /* ctest runs the slowest test as an entry of its own
     * (tests/CMakeLists.txt), beside the rest. */
    if (getenv("LN_TEST_FILTER"))
        cmocka_set_test_filter(getenv("LN_TEST_FILTER"));
    if (getenv("LN_TEST_SKIP"))
        cmocka_set_skip_filter(getenv("LN_TEST_SKIP"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
