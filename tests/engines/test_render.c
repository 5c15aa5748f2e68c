/* Unit tests of the preview renderer on meshes whose pictures are known: a
 * sphere (disc area from the framing, lighting at the centre, lit upper
 * left), a cube with one colour per face seen from the default three-quarter
 * view (the three faces toward the camera show, the others do not), empty
 * and colourless meshes, an open bowl, bad input, identical bytes whatever
 * the thread count, and every allocation failing in turn. The pictures are
 * written to $LN_TEST_TMP/render/ for a look by eye. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_camera.h"
#include "ln_image.h"
#include "ln_mesh.h"
#include "ln_render.h"
#include "ln_threads.h"
#include "ln_time.h"

#define PI 3.14159265358979323846

static char g_dir[1024];

/* ---- meshes ------------------------------------------------------------- */

/* A UV sphere of radius r around c: n_lat rings by n_lon segments, two
 * triangles per quad (those at the poles have no area), counter-clockwise
 * from outside, with radial normals when with_normals and one colour when
 * rgb is given. */
static void make_sphere(struct ln_mesh *m, const float c[3], float r, int n_lat, int n_lon,
                        const float *rgb, int with_normals)
{
    size_t nv = (size_t)(n_lat + 1) * (size_t)(n_lon + 1);
    size_t nf = 2 * (size_t)n_lat * (size_t)n_lon;
    assert_int_equal(ln_mesh_alloc(m, nv, nf, rgb != NULL, NULL), 0);
    if (with_normals) {
        m->normals = malloc(nv * 3 * sizeof(float));
        assert_non_null(m->normals);
    }
    for (int i = 0; i <= n_lat; i++) {
        double th = PI * i / n_lat;
        for (int j = 0; j <= n_lon; j++) {
            double ph = 2.0 * PI * j / n_lon;
            double d[3] = {sin(th) * sin(ph), cos(th), sin(th) * cos(ph)};
            size_t v = (size_t)i * (size_t)(n_lon + 1) + (size_t)j;
            for (int k = 0; k < 3; k++) {
                m->positions[3 * v + k] = c[k] + (float)(r * d[k]);
                if (with_normals)
                    m->normals[3 * v + k] = (float)d[k];
                if (rgb)
                    m->colors[3 * v + k] = rgb[k];
            }
        }
    }
    uint32_t *t = m->indices;
    for (int i = 0; i < n_lat; i++) {
        for (int j = 0; j < n_lon; j++) {
            uint32_t a = (uint32_t)(i * (n_lon + 1) + j), b = a + (uint32_t)(n_lon + 1);
            *t++ = a, *t++ = b, *t++ = b + 1;
            *t++ = a, *t++ = b + 1, *t++ = a + 1;
        }
    }
}

/* Face colours of the cube: the three faces the default view sees are
 * reddish, greenish and bluish (every channel at least 0.2), the hidden ones
 * pure yellow, cyan and magenta (one channel zero). In linear light no blend
 * of the visible faces and the grey background has a channel below ~3% of
 * its brightest, so a pixel with a channel near zero can only come from a
 * hidden face. */
static const float cube_normal[6][3] = {{0, 0, 1},  {1, 0, 0},  {0, 1, 0},
                                        {0, 0, -1}, {-1, 0, 0}, {0, -1, 0}};
static const float cube_u[6][3] = {{1, 0, 0},  {0, 0, -1}, {1, 0, 0},
                                   {-1, 0, 0}, {0, 0, 1},  {1, 0, 0}};
static const float cube_v[6][3] = {{0, 1, 0}, {0, 1, 0}, {0, 0, -1},
                                   {0, 1, 0}, {0, 1, 0}, {0, 0, 1}};
static const float cube_rgb[6][3] = {{0.9f, 0.2f, 0.2f}, {0.2f, 0.9f, 0.2f}, {0.2f, 0.2f, 0.9f},
                                     {0.9f, 0.9f, 0.0f}, {0.0f, 0.9f, 0.9f}, {0.9f, 0.0f, 0.9f}};

/* A unit cube centred at the origin, four vertices of its own per face. */
static void make_cube(struct ln_mesh *m)
{
    assert_int_equal(ln_mesh_alloc(m, 24, 12, 1, NULL), 0);
    m->normals = malloc(24 * 3 * sizeof(float));
    assert_non_null(m->normals);
    static const float corner[4][2] = {{-1, -1}, {1, -1}, {1, 1}, {-1, 1}};
    for (int f = 0; f < 6; f++) {
        for (int q = 0; q < 4; q++) {
            size_t v = 4 * (size_t)f + (size_t)q;
            for (int k = 0; k < 3; k++) {
                m->positions[3 * v + k] = 0.5f * (cube_normal[f][k] + corner[q][0] * cube_u[f][k] +
                                                  corner[q][1] * cube_v[f][k]);
                m->normals[3 * v + k] = cube_normal[f][k];
                m->colors[3 * v + k] = cube_rgb[f][k];
            }
        }
        uint32_t b = 4 * (uint32_t)f, *t = m->indices + 6 * f;
        t[0] = b, t[1] = b + 1, t[2] = b + 2;
        t[3] = b, t[4] = b + 2, t[5] = b + 3;
    }
}

/* ---- expected values ------------------------------------------------------ */

static double to_linear(double c)
{
    return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
}

static double to_srgb255(double l)
{
    double s = l <= 0.0031308 ? 12.92 * l : 1.055 * pow(l, 1.0 / 2.4) - 0.055;
    return 255.0 * s;
}

/* The renderer's key light for a view: from the upper left, 45 degrees off
 * the view axis, in world coordinates. */
static void key_light(const struct ln_view *view, double l[3])
{
    struct ln_camera cam;
    struct ln_camera_options copt;
    ln_camera_options_default(&copt);
    ln_camera_init(&cam, view, &copt);
    for (int k = 0; k < 3; k++)
        l[k] = -0.5 * cam.right[k] + 0.5 * cam.up[k] - 0.70710678 * cam.forward[k];
}

/* 8-bit sRGB of a surface of sRGB colour rgb with normal n, lit as the
 * renderer lights front faces. */
static void shaded(const float rgb[3], const double n[3], const struct ln_view *view, double out[3])
{
    double l[3];
    key_light(view, l);
    double d = n[0] * l[0] + n[1] * l[1] + n[2] * l[2];
    double lit = 0.35 + 0.65 * (d > 0 ? d : 0);
    for (int k = 0; k < 3; k++)
        out[k] = to_srgb255(to_linear(rgb[k]) * lit);
}

/* The pixel where world point p lands when a mesh with bounding-box centre
 * c and bounding-sphere radius r is framed as the renderer frames it. */
static void pixel_of(const float p[3], const float c[3], float r, const struct ln_view *view,
                     int size, int *x, int *y)
{
    struct ln_camera cam;
    struct ln_camera_options copt;
    ln_camera_options_default(&copt);
    copt.ortho_size = 2.0f * r / 0.85f;
    ln_camera_init(&cam, view, &copt);
    float q[3] = {p[0] - c[0], p[1] - c[1], p[2] - c[2]}, u, v, depth;
    assert_int_equal(ln_camera_project(&cam, q, &u, &v, &depth), 0);
    *x = (int)floorf(u * (float)size);
    *y = (int)floorf(v * (float)size);
}

static const uint8_t *px(const struct ln_image *img, int x, int y)
{
    assert_true(x >= 0 && x < img->width && y >= 0 && y < img->height);
    return img->data + ((size_t)y * (size_t)img->width + (size_t)x) * 3;
}

static int is_bg(const uint8_t *p, const uint8_t bg[3])
{
    return p[0] == bg[0] && p[1] == bg[1] && p[2] == bg[2];
}

static void bg_bytes(const struct ln_render_options *opt, uint8_t bg[3])
{
    for (int k = 0; k < 3; k++)
        bg[k] = (uint8_t)lrint(255.0 * opt->background[k]);
}

static void save(const struct ln_image *img, const char *name)
{
    char *path = ln_test_path(g_dir, name);
    struct ln_error err = {0};
    if (ln_image_save_png(img, path, &err) < 0)
        fail_msg("%s", err.message);
    free(path);
}

static void render_ok(const struct ln_mesh *m, const struct ln_render_options *opt,
                      struct ln_image *img)
{
    struct ln_error err = {0};
    int rc = ln_render_mesh(m, opt, img, &err);
    if (rc != 0)
        fail_msg("render failed: %s", err.message);
    assert_int_equal(img->width, opt->size);
    assert_int_equal(img->height, opt->size);
    assert_int_equal(img->channels, 3);
}

/* ---- tests -------------------------------------------------------------- */

static void test_sphere(void **state)
{
    const float c[3] = {0.1f, -0.2f, 0.3f}, r = 0.7f, rgb[3] = {0.8f, 0.5f, 0.2f};
    struct ln_mesh m = {0};
    make_sphere(&m, c, r, 96, 192, rgb, 1);
    struct ln_mesh_stats st;
    assert_int_equal(ln_mesh_stats(&m, &st, NULL), 0);
    assert_true(st.volume > 0); /* faces wind outward */

    struct ln_render_options opt;
    ln_render_options_default(&opt);
    struct ln_image img = {0};
    render_ok(&m, &opt, &img);
    save(&img, "sphere.png");

    /* Disc area: the bounding sphere spans 85% of the frame. */
    uint8_t bg[3];
    bg_bytes(&opt, bg);
    size_t covered = 0;
    for (int y = 0; y < opt.size; y++)
        for (int x = 0; x < opt.size; x++)
            covered += !is_bg(px(&img, x, y), bg);
    double rad = 0.425 * opt.size;
    double disc = PI * rad * rad;
    assert_near(covered / disc, 1.0, 0.02);

    /* The centre faces the camera: colour times 0.35 + 0.65 (n . l). */
    struct ln_camera cam;
    struct ln_camera_options copt;
    ln_camera_options_default(&copt);
    ln_camera_init(&cam, &opt.view, &copt);
    double n[3] = {-cam.forward[0], -cam.forward[1], -cam.forward[2]}, want[3];
    shaded(rgb, n, &opt.view, want);
    const uint8_t *mid = px(&img, opt.size / 2, opt.size / 2);
    for (int k = 0; k < 3; k++)
        assert_near(mid[k], want[k], 3.0);

    /* The upper left is lit, the lower right only by the ambient term. */
    int h = opt.size / 2, d = (int)(0.45 * rad);
    const uint8_t *ul = px(&img, h - d, h - d), *lr = px(&img, h + d, h + d);
    assert_true(!is_bg(ul, bg) && !is_bg(lr, bg));
    assert_true(ul[0] + ul[1] + ul[2] > lr[0] + lr[1] + lr[2] + 60);

    ln_image_free(&img);
    ln_mesh_free(&m);
}

static void test_cube_faces(void **state)
{
    struct ln_mesh m = {0};
    make_cube(&m);
    struct ln_render_options opt;
    ln_render_options_default(&opt);
    assert_near(opt.view.azimuth, 35.0, 0.0);
    assert_near(opt.view.elevation, 20.0, 0.0);
    struct ln_image img = {0};
    render_ok(&m, &opt, &img);
    save(&img, "cube.png");

    /* Each visible face is flat-lit: its centre shows exactly its shade,
     * and +X lands right of the image centre, +Y above it. */
    const float zero[3] = {0, 0, 0}, r = 0.8660254f;
    for (int f = 0; f < 3; f++) {
        float centre[3];
        double n[3], want[3];
        for (int k = 0; k < 3; k++) {
            centre[k] = 0.5f * cube_normal[f][k];
            n[k] = cube_normal[f][k];
        }
        int x, y;
        pixel_of(centre, zero, r, &opt.view, opt.size, &x, &y);
        if (f == 1)
            assert_true(x > opt.size / 2 + 10);
        if (f == 2)
            assert_true(y < opt.size / 2 - 10);
        shaded(cube_rgb[f], n, &opt.view, want);
        const uint8_t *p = px(&img, x, y);
        for (int k = 0; k < 3; k++)
            assert_near(p[k], want[k], 2.0);
    }

    /* Count pixels by dominant colour; a channel near zero next to a
     * bright one can only be a hidden face. */
    uint8_t bg[3];
    bg_bytes(&opt, bg);
    size_t dominant[3] = {0}, hidden = 0;
    for (int y = 0; y < opt.size; y++) {
        for (int x = 0; x < opt.size; x++) {
            const uint8_t *p = px(&img, x, y);
            if (is_bg(p, bg))
                continue;
            int lo = p[0] < p[1] ? p[0] : p[1], hi = p[0] > p[1] ? p[0] : p[1];
            lo = p[2] < lo ? p[2] : lo;
            hi = p[2] > hi ? p[2] : hi;
            if (lo < 8 && hi > 60)
                hidden++;
            for (int k = 0; k < 3; k++)
                if (p[k] > 2 * p[(k + 1) % 3] && p[k] > 2 * p[(k + 2) % 3])
                    dominant[k]++;
        }
    }
    assert_int_equal(hidden, 0);
    for (int k = 0; k < 3; k++)
        assert_true(dominant[k] > 1500);

    ln_image_free(&img);
    ln_mesh_free(&m);
}

static void test_empty_mesh(void **state)
{
    struct ln_render_options opt;
    ln_render_options_default(&opt);
    opt.size = 64;
    uint8_t bg[3];
    bg_bytes(&opt, bg);

    struct ln_mesh empty = {0};
    struct ln_image img = {0};
    render_ok(&empty, &opt, &img);
    save(&img, "empty.png");
    for (int y = 0; y < opt.size; y++)
        for (int x = 0; x < opt.size; x++)
            assert_true(is_bg(px(&img, x, y), bg));
    ln_image_free(&img);

    /* Vertices without faces draw nothing either. */
    struct ln_mesh pts = {0};
    assert_int_equal(ln_mesh_alloc(&pts, 3, 0, 0, NULL), 0);
    for (int i = 0; i < 9; i++)
        pts.positions[i] = (float)i;
    render_ok(&pts, &opt, &img);
    for (int y = 0; y < opt.size; y++)
        for (int x = 0; x < opt.size; x++)
            assert_true(is_bg(px(&img, x, y), bg));
    ln_image_free(&img);
    ln_mesh_free(&pts);

    /* A chosen background is honoured. */
    opt.background[0] = 0.0f, opt.background[1] = 0.5f, opt.background[2] = 1.0f;
    render_ok(&empty, &opt, &img);
    const uint8_t *p = px(&img, 10, 20);
    assert_int_equal(p[0], 0);
    assert_int_equal(p[1], 128);
    assert_int_equal(p[2], 255);
    ln_image_free(&img);
}

static void test_no_colours_grey(void **state)
{
    const float c[3] = {0, 0, 0};
    struct ln_mesh m = {0};
    make_sphere(&m, c, 1.0f, 48, 96, NULL, 0); /* no colours, no normals */
    struct ln_render_options opt;
    ln_render_options_default(&opt);
    opt.size = 128;
    struct ln_image img = {0};
    render_ok(&m, &opt, &img);
    save(&img, "grey.png");
    uint8_t bg[3];
    bg_bytes(&opt, bg);
    size_t covered = 0;
    for (int y = 0; y < opt.size; y++) {
        for (int x = 0; x < opt.size; x++) {
            const uint8_t *p = px(&img, x, y);
            assert_true(p[0] == p[1] && p[1] == p[2]);
            covered += !is_bg(p, bg);
        }
    }
    assert_true(covered > 1000);
    /* Normals computed on the fly light the centre like radial ones. */
    struct ln_camera cam;
    struct ln_camera_options copt;
    ln_camera_options_default(&copt);
    ln_camera_init(&cam, &opt.view, &copt);
    const float grey[3] = {0.78f, 0.78f, 0.78f};
    double n[3] = {-cam.forward[0], -cam.forward[1], -cam.forward[2]}, want[3];
    shaded(grey, n, &opt.view, want);
    assert_near(px(&img, 64, 64)[0], want[0], 3.0);
    ln_image_free(&img);
    ln_mesh_free(&m);
}

/* The lower half of a sphere, open at the top, seen from above: the inside
 * (back faces) shows, darker than the outside would be but drawn. */
static void test_open_bowl(void **state)
{
    const float c[3] = {0, 0, 0}, rgb[3] = {0.3f, 0.6f, 0.9f};
    struct ln_mesh full = {0};
    make_sphere(&full, c, 1.0f, 48, 96, rgb, 1);
    /* Keep the faces of the lower 24 of the 48 rings (faces run ring by
     * ring, two per segment). */
    size_t half = 2 * 24 * 96;
    memmove(full.indices, full.indices + 3 * half, 3 * half * sizeof(uint32_t));
    full.n_faces = half;
    struct ln_render_options opt;
    ln_render_options_default(&opt);
    opt.view.elevation = 50.0f;
    struct ln_image img = {0};
    render_ok(&full, &opt, &img);
    save(&img, "bowl.png");
    uint8_t bg[3];
    bg_bytes(&opt, bg);
    /* The middle of the picture looks into the bowl: drawn, and darker than
     * a lit outside point of the same colour. */
    const uint8_t *in = px(&img, opt.size / 2, opt.size / 2);
    assert_false(is_bg(in, bg));
    double up[3] = {0, 1, 0}, front[3];
    shaded(rgb, up, &opt.view, front);
    assert_true(in[2] < front[2]);
    ln_image_free(&img);
    ln_mesh_free(&full);
}

static void test_bad_input(void **state)
{
    const float c[3] = {0, 0, 0}, rgb[3] = {1, 1, 1};
    struct ln_mesh m = {0};
    make_sphere(&m, c, 1.0f, 8, 16, rgb, 0);
    struct ln_render_options opt;
    ln_render_options_default(&opt);
    struct ln_image img = {0};
    struct ln_error err = {0};

    opt.size = 0;
    assert_int_equal(ln_render_mesh(&m, &opt, &img, &err), LN_EINVAL);
    assert_null(img.data);
    opt.size = 64;
    opt.supersample = 3;
    assert_int_equal(ln_render_mesh(&m, &opt, &img, &err), LN_EINVAL);
    opt.supersample = 1;

    m.indices[7] = (uint32_t)m.n_vertices;
    assert_int_equal(ln_render_mesh(&m, &opt, &img, &err), LN_EINVAL);
    assert_non_null(strstr(err.message, "vertex"));
    assert_null(img.data);
    m.indices[7] = 0;

    m.positions[4] = NAN;
    assert_int_equal(ln_render_mesh(&m, &opt, &img, &err), LN_EINVAL);
    assert_null(img.data);
    m.positions[4] = 0.5f;

    assert_int_equal(ln_render_mesh(&m, &opt, &img, &err), 0);
    ln_image_free(&img);
    ln_mesh_free(&m);
}

static void test_threads_identical(void **state)
{
    const float c[3] = {0.05f, 0, 0}, rgb[3] = {0.7f, 0.3f, 0.6f};
    struct ln_mesh m = {0};
    make_sphere(&m, c, 0.5f, 64, 128, rgb, 0);
    struct ln_mesh cube = {0};
    make_cube(&cube);
    const struct ln_mesh *meshes[2] = {&m, &cube};
    for (int which = 0; which < 2; which++) {
        for (int ss = 1; ss <= 2; ss++) {
            struct ln_render_options opt;
            ln_render_options_default(&opt);
            opt.size = 200;
            opt.supersample = ss;
            struct ln_image one = {0}, two = {0}, four = {0};
            ln_threads_set(1);
            render_ok(meshes[which], &opt, &one);
            ln_threads_set(2);
            render_ok(meshes[which], &opt, &two);
            ln_threads_set(4);
            render_ok(meshes[which], &opt, &four);
            ln_threads_set(0);
            size_t n = (size_t)opt.size * (size_t)opt.size * 3;
            assert_memory_equal(one.data, two.data, n);
            assert_memory_equal(one.data, four.data, n);
            ln_image_free(&one);
            ln_image_free(&two);
            ln_image_free(&four);
        }
    }
    ln_mesh_free(&cube);
    ln_mesh_free(&m);
}

static void test_out_of_memory(void **state)
{
    const float c[3] = {0, 0, 0}, rgb[3] = {0.5f, 0.5f, 0.5f};
    struct ln_mesh m = {0};
    make_sphere(&m, c, 1.0f, 16, 32, rgb, 0);
    struct ln_render_options opt;
    ln_render_options_default(&opt);
    opt.size = 64;
    struct ln_image img = {0};
    struct ln_error err = {0};

    ln_alloc_fail_after(0);
    assert_int_equal(ln_render_mesh(&m, &opt, &img, &err), 0);
    long n_allocs = ln_alloc_fail_after(0);
    ln_image_free(&img);
    assert_true(n_allocs >= 5);
    for (long n = 1; n <= n_allocs; n++) {
        memset(&err, 0, sizeof err);
        ln_alloc_fail_after(n);
        int rc = ln_render_mesh(&m, &opt, &img, &err);
        ln_alloc_fail_after(0);
        assert_int_equal(rc, LN_ENOMEM);
        assert_int_equal(err.code, LN_ENOMEM);
        assert_non_null(strstr(err.message, "out of memory"));
        assert_null(img.data);
    }
    ln_alloc_fail_after(n_allocs + 1); /* one past the last: it succeeds */
    assert_int_equal(ln_render_mesh(&m, &opt, &img, &err), 0);
    ln_alloc_fail_after(0);
    ln_image_free(&img);
    ln_mesh_free(&m);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "%s", ln_test_tmpdir("render"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sphere),
        cmocka_unit_test(test_cube_faces),
        cmocka_unit_test(test_empty_mesh),
        cmocka_unit_test(test_no_colours_grey),
        cmocka_unit_test(test_open_bowl),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_threads_identical),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
