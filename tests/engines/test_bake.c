/* Unit tests of texture baking through ln_generate: an engine whose colour
 * is a known function of position must come back in the texture (read at
 * each vertex's UV from the decoded PNG) within a stated error, whether the
 * engine colours the texels itself or leaves it to its vertex colours; the
 * sculpt engine's texture must agree with its own vertex colours; bad sizes
 * are refused; every allocation failing in turn fails cleanly. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_engine.h"
#include "ln_image.h"
#include "ln_mesh.h"

#include "bake_check.h"

#define PI 3.14159265358979323846

/* The colour the fake engine paints: linear in position, so interpolation
 * over flat faces is exact and any error is the baker's. */
static void paint(const float *p, float *rgb)
{
    rgb[0] = 0.5f + 0.45f * p[0];
    rgb[1] = 0.5f + 0.45f * p[1];
    rgb[2] = 0.5f + 0.45f * p[2];
}

/* A closed latitude-longitude sphere of radius 1 with painted vertices. */
static int make_sphere(struct ln_mesh *m, struct ln_error *err)
{
    const int stacks = 24, slices = 48;
    size_t nv = 2 + (size_t)(stacks - 1) * slices, nf = 2 * (size_t)slices * (stacks - 1);
    int rc = ln_mesh_alloc(m, nv, nf, 1, err);
    if (rc < 0)
        return rc;
    float *p = m->positions;
    p[0] = 0, p[1] = 1, p[2] = 0;
    size_t v = 1;
    for (int i = 1; i < stacks; i++)
        for (int j = 0; j < slices; j++, v++) {
            double th = PI * i / stacks, ph = 2 * PI * j / slices;
            p[3 * v] = (float)(sin(th) * sin(ph));
            p[3 * v + 1] = (float)cos(th);
            p[3 * v + 2] = (float)(sin(th) * cos(ph));
        }
    p[3 * v] = 0, p[3 * v + 1] = -1, p[3 * v + 2] = 0;
    uint32_t *t = m->indices, south = (uint32_t)v;
#define RING(i, j) ((uint32_t)(1 + ((i)-1) * slices + ((j) % slices)))
    for (int j = 0; j < slices; j++) {
        *t++ = 0, *t++ = RING(1, j), *t++ = RING(1, j + 1);
        for (int i = 1; i < stacks - 1; i++) {
            uint32_t a = RING(i, j), b = RING(i + 1, j), c = RING(i + 1, j + 1), d = RING(i, j + 1);
            *t++ = a, *t++ = b, *t++ = c;
            *t++ = a, *t++ = c, *t++ = d;
        }
        *t++ = RING(stacks - 1, j), *t++ = south, *t++ = RING(stacks - 1, j + 1);
    }
#undef RING
    for (size_t i = 0; i < nv; i++)
        paint(p + 3 * i, m->colors + 3 * i);
    return LN_OK;
}

static int painter_color(void *state, const float *points, const float *normals, size_t n,
                         float *rgb, struct ln_error *err)
{
    (void)normals;
    (void)err;
    (*(int *)state)++;
    for (size_t i = 0; i < n; i++)
        paint(points + 3 * i, rgb + 3 * i);
    return LN_OK;
}

static void painter_free(void *state)
{
    free(state);
}

/* with_colorizer: paints texels itself; otherwise only vertex colours. */
struct fake {
    int with_colorizer;
    int *colored; /* where the last colorizer counts its calls */
};

static int fake_run(const struct ln_engine *eng, const struct ln_engine_input *in,
                    const struct ln_generate_options *opt, const struct ln_progress *progress,
                    struct ln_mesh *out, struct ln_colorizer *bake, struct ln_generate_report *rep,
                    struct ln_error *err)
{
    (void)in, (void)opt, (void)progress, (void)rep;
    struct fake *f = eng->impl;
    int rc = make_sphere(out, err);
    if (rc < 0)
        return rc;
    if (bake && f->with_colorizer) {
        int *calls = ln_xcalloc(1, sizeof *calls);
        f->colored = calls;
        *bake = (struct ln_colorizer){.color = painter_color, .free = painter_free, .state = calls};
    }
    return LN_OK;
}

static void fake_destroy(struct ln_engine *eng)
{
    (void)eng;
}

static const struct ln_engine_ops fake_ops = {
    .name = "painter", .run = fake_run, .destroy = fake_destroy};

/* The texture's colour at each vertex's UV (nearest texel) against paint()
 * at the vertex's place in the engine's frame (out = engine * scale). */
static double worst_error(const struct ln_mesh *m, double scale)
{
    struct ln_image img = {0};
    struct ln_error err = {0};
    if (ln_image_decode(m->texture.data, m->texture.size, NULL, &img, &err) < 0)
        fail_msg("texture: %s", err.message);
    double worst = 0.0;
    for (size_t v = 0; v < m->n_vertices; v++) {
        int x = (int)floorf(m->uvs[2 * v] * (float)img.width);
        int y = (int)floorf(m->uvs[2 * v + 1] * (float)img.height);
        assert_true(x >= 0 && y >= 0 && x < img.width && y < img.height);
        const uint8_t *px = img.data + ((size_t)y * img.width + x) * img.channels;
        float p[3], want[3];
        for (int k = 0; k < 3; k++)
            p[k] = (float)(m->positions[3 * v + (size_t)k] / scale);
        paint(p, want);
        for (int k = 0; k < 3; k++)
            worst = fmax(worst, fabs(px[k] / 255.0 - want[k]));
    }
    ln_image_free(&img);
    return worst;
}

static void bake_fake(int with_colorizer, int size, int jpeg)
{
    struct fake f = {.with_colorizer = with_colorizer};
    struct ln_engine eng = {.ops = &fake_ops, .impl = &f};
    struct ln_image img = {0};
    assert_int_equal(ln_image_alloc(&img, 8, 8, 4, NULL), 0);
    struct ln_engine_input in = {.images = &img, .n_images = 1};
    struct ln_generate_options opt;
    ln_generate_options_default(&opt);
    opt.texture_size = size;
    opt.texture_jpeg = jpeg;
    opt.target_faces = 0;
    opt.smooth_iterations = 0;
    struct ln_mesh m = {0};
    struct ln_generate_report rep;
    struct ln_error err = {0};
    if (ln_generate(&eng, &in, &opt, NULL, &m, &rep, &err) < 0)
        fail_msg("%s", err.message);
    assert_non_null(m.uvs);
    assert_non_null(m.texture.data);
    assert_int_equal(m.texture.jpeg, jpeg);
    assert_int_equal(rep.texture_size, size);
    assert_true(rep.texture_charts >= 6 && rep.texture_fill > 0.3);
    /* The sphere of radius 1 is placed with a largest extent of 1 (scale
     * 0.5). The texel a vertex falls in samples a point within half a
     * texel's diagonal of it: the colour's slope (0.45 per metre) times
     * that distance at the most stretched edge's metres per texel, plus
     * 8-bit rounding. */
    double m_per_texel = 0.0;
    for (size_t fc = 0; fc < m.n_faces; fc++)
        for (int e = 0; e < 3; e++) {
            uint32_t a = m.indices[3 * fc + (size_t)e],
                     b = m.indices[3 * fc + (size_t)(e + 1) % 3];
            double d3 = 0.0, duv = 0.0;
            for (int k = 0; k < 3; k++)
                d3 += pow((m.positions[3 * a + (size_t)k] - m.positions[3 * b + (size_t)k]) / 0.5,
                          2);
            for (int k = 0; k < 2; k++)
                duv += pow((m.uvs[2 * a + (size_t)k] - m.uvs[2 * b + (size_t)k]) * size, 2);
            if (duv > 0.0)
                m_per_texel = fmax(m_per_texel, sqrt(d3 / duv));
        }
    /* JPEG at quality 90 (4:4:4) adds its own quantisation error: up to
     * about 12 levels next to a chart's edge */
    double tol = 0.45 * 0.75 * m_per_texel + (jpeg ? 12.0 : 1.0) / 255.0;
    double worst = worst_error(&m, 0.5);
    printf("# %s, %s, %d texels: %zu charts, %.0f%% filled, worst colour error %.4f (allowed %.4f)\n",
           with_colorizer ? "engine colours" : "vertex colours", jpeg ? "JPEG" : "PNG", size,
           rep.texture_charts,
           100.0 * rep.texture_fill, worst, tol);
    assert_true(worst <= tol);
    for (int i = 0; i < rep.n_stages; i++)
        if (!strcmp(rep.stages[i].name, "texture"))
            goto found;
    fail_msg("no texture stage in the report");
found:
    ln_mesh_free(&m);
    ln_image_free(&img);
}

static void test_engine_colours(void **state)
{
    (void)state;
    bake_fake(1, 256, 0);
    bake_fake(1, 256, 1);
}

static void test_vertex_colours(void **state)
{
    (void)state;
    bake_fake(0, 512, 0);
}

static void test_bad_sizes(void **state)
{
    (void)state;
    struct fake f = {0};
    struct ln_engine eng = {.ops = &fake_ops, .impl = &f};
    struct ln_image img = {0};
    assert_int_equal(ln_image_alloc(&img, 8, 8, 4, NULL), 0);
    struct ln_engine_input in = {.images = &img, .n_images = 1};
    struct ln_generate_options opt;
    ln_generate_options_default(&opt);
    struct ln_mesh m = {0};
    struct ln_error err = {0};
    int sizes[] = {-1, 1, 63, 8193};
    for (int i = 0; i < 4; i++) {
        opt.texture_size = sizes[i];
        assert_int_equal(ln_generate(&eng, &in, &opt, NULL, &m, NULL, &err), LN_EINVAL);
        assert_non_null(strstr(err.message, "texture"));
        assert_null(m.positions);
    }
    ln_image_free(&img);
}

/* Every allocation of a textured run failing in turn: LN_ENOMEM, no mesh,
 * and (under the sanitizer) nothing leaked, the colorizer freed. */
static void test_out_of_memory(void **state)
{
    (void)state;
    struct fake f = {.with_colorizer = 1};
    struct ln_engine eng = {.ops = &fake_ops, .impl = &f};
    struct ln_image img = {0};
    assert_int_equal(ln_image_alloc(&img, 8, 8, 4, NULL), 0);
    struct ln_engine_input in = {.images = &img, .n_images = 1};
    struct ln_generate_options opt;
    ln_generate_options_default(&opt);
    opt.texture_size = 64;
    struct ln_mesh m = {0};
    struct ln_error err = {0};
    ln_alloc_fail_after(0);
    assert_int_equal(ln_generate(&eng, &in, &opt, NULL, &m, NULL, &err), 0);
    long n = ln_alloc_fail_after(0);
    ln_mesh_free(&m);
    assert_true(n > 10);
    for (long i = 1; i <= n; i++) {
        ln_alloc_fail_after(i);
        int rc = ln_generate(&eng, &in, &opt, NULL, &m, NULL, &err);
        ln_alloc_fail_after(0);
        if (rc != LN_ENOMEM)
            fail_msg("allocation %ld of %ld: %d (%s)", i, n, rc, err.message);
        assert_null(m.positions);
    }
    assert_int_equal(ln_generate(&eng, &in, &opt, NULL, &m, NULL, &err), 0);
    assert_non_null(m.texture.data);
    ln_mesh_free(&m);
    ln_image_free(&img);
}

/* ---- the sculpt engine ---- */

/* A disc of radius r in a side x side RGBA image, green growing left to
 * right and blue with the view's number, so the views' colours differ. */
static void make_disc(struct ln_image *img, int side, float r, int view)
{
    assert_int_equal(ln_image_alloc(img, side, side, 4, NULL), 0);
    float c = 0.5f * (float)side;
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++) {
            float dx = (float)x + 0.5f - c, dy = (float)y + 0.5f - c;
            uint8_t *p = img->data + ((size_t)y * side + x) * 4;
            float t = ((float)x + 0.5f - (c - r)) / (2.0f * r);
            t = t < 0 ? 0 : (t > 1 ? 1 : t);
            p[0] = 220;
            p[1] = (uint8_t)(40.0f + 170.0f * t);
            p[2] = (uint8_t)(30 + 50 * view);
            p[3] = dx * dx + dy * dy <= r * r ? 255 : 0;
        }
}

/* One view and four: the texture at each vertex agrees with the vertex
 * colours the same engine gives without a texture (same points, same
 * colouring), up to the texel's distance from the vertex. */
static void sculpt_agrees(int n_views)
{
    struct ln_engine *eng = NULL;
    assert_int_equal(ln_engine_sculpt_new(&eng, NULL), 0);
    struct ln_image imgs[4] = {{0}};
    for (int i = 0; i < n_views; i++)
        make_disc(&imgs[i], 128, 48.0f, i);
    struct ln_engine_input in = {.images = imgs, .n_images = (size_t)n_views};
    struct ln_generate_options opt;
    ln_generate_options_default(&opt);
    opt.resolution = 64;
    opt.target_faces = 0;
    struct ln_mesh plain = {0}, tex = {0};
    struct ln_error err = {0};
    if (ln_generate(eng, &in, &opt, NULL, &plain, NULL, &err) < 0)
        fail_msg("%s", err.message);
    opt.texture_size = 512;
    struct ln_generate_report rep;
    if (ln_generate(eng, &in, &opt, NULL, &tex, &rep, &err) < 0)
        fail_msg("%s", err.message);
    double mean = ln_test_texture_vs_vertex_colours(&plain, &tex);
    printf("# sculpt, %d view(s): %zu charts, mean |texture - vertex colour| %.4f\n", n_views,
           rep.texture_charts, mean);
    assert_true(mean < 0.02);
    ln_mesh_free(&plain);
    ln_mesh_free(&tex);
    for (int i = 0; i < n_views; i++)
        ln_image_free(&imgs[i]);
    ln_engine_free(eng);
}

static void test_sculpt_one_view(void **state)
{
    (void)state;
    sculpt_agrees(1);
}

static void test_sculpt_four_views(void **state)
{
    (void)state;
    sculpt_agrees(4);
}

/* The texels of a baked texture that are plainly red or blue (a stripe
 * kept apart), and those purple (stripes averaged together). */
static void count_stripe_texels(const struct ln_mesh *m, size_t *pure, size_t *mixed)
{
    struct ln_image t = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_image_decode(m->texture.data, m->texture.size, NULL, &t, &err), 0);
    *pure = *mixed = 0;
    for (size_t i = 0; i < (size_t)t.width * t.height; i++) {
        const uint8_t *p = t.data + i * (size_t)t.channels;
        int hi = p[0] > p[2] ? p[0] : p[2], lo = p[0] > p[2] ? p[2] : p[0];
        if (hi > 180 && lo < 70)
            (*pure)++;
        else if (p[0] > 80 && p[0] < 170 && p[2] > 80 && p[2] < 170)
            (*mixed)++;
    }
    ln_image_free(&t);
}

/* Four views of a disc painted in red and blue stripes 4 pixels wide,
 * 512 pixels across, sculpted at grid 64: the silhouettes are read at 128
 * pixels, where the stripes would average to purple; the colours come from
 * the views at their own resolution, so the texture keeps them apart. */
static void test_sculpt_full_resolution(void **state)
{
    (void)state;
    struct ln_engine *eng = NULL;
    assert_int_equal(ln_engine_sculpt_new(&eng, NULL), 0);
    struct ln_image imgs[4] = {{0}};
    for (int i = 0; i < 4; i++) {
        make_disc(&imgs[i], 512, 200.0f, i);
        for (int y = 0; y < 512; y++)
            for (int x = 0; x < 512; x++) {
                uint8_t *p = imgs[i].data + ((size_t)y * 512 + x) * 4;
                int red = (x / 4) % 2 == 0;
                p[0] = red ? 230 : 20;
                p[1] = 20;
                p[2] = red ? 20 : 230;
            }
    }
    struct ln_engine_input in = {.images = imgs, .n_images = 4};
    struct ln_generate_options opt;
    ln_generate_options_default(&opt);
    opt.resolution = 64;
    opt.texture_size = 1024;
    struct ln_mesh m = {0};
    struct ln_error err = {0};
    if (ln_generate(eng, &in, &opt, NULL, &m, NULL, &err) < 0)
        fail_msg("%s", err.message);
    size_t pure = 0, mixed = 0;
    count_stripe_texels(&m, &pure, &mixed);
    printf("# stripes: %zu texels plainly red or blue, %zu purple\n", pure, mixed);
    /* Read at the silhouettes' 128 pixels the same views give about 354 000
     * plain and 601 000 purple texels; at their own 512, about 669 000 and
     * 342 000 (the purple ones are mostly the filled space between charts) */
    assert_true(pure > 1.4 * mixed);
    ln_mesh_free(&m);
    for (int i = 0; i < 4; i++)
        ln_image_free(&imgs[i]);
    ln_engine_free(eng);
}

/* One photo of a disc painted in red and blue stripes 4 pixels wide,
 * 1024 pixels across, sculpted at grid 64: the grid's colour maps are 64
 * pixels, where the stripes would average to purple; the front comes from
 * the photo at its own resolution, so a 2048 texture keeps the stripes
 * apart there (the back is the documented blur of the front, purple). */
static void test_sculpt_one_photo_full_resolution(void **state)
{
    (void)state;
    struct ln_engine *eng = NULL;
    assert_int_equal(ln_engine_sculpt_new(&eng, NULL), 0);
    struct ln_image img = {0};
    make_disc(&img, 1024, 400.0f, 0);
    for (int y = 0; y < 1024; y++)
        for (int x = 0; x < 1024; x++) {
            uint8_t *p = img.data + ((size_t)y * 1024 + x) * 4;
            int red = (x / 4) % 2 == 0;
            p[0] = red ? 230 : 20;
            p[1] = 20;
            p[2] = red ? 20 : 230;
        }
    struct ln_engine_input in = {.images = &img, .n_images = 1};
    struct ln_generate_options opt;
    ln_generate_options_default(&opt);
    opt.resolution = 64;
    opt.texture_size = 2048;
    struct ln_mesh m = {0};
    struct ln_error err = {0};
    if (ln_generate(eng, &in, &opt, NULL, &m, NULL, &err) < 0)
        fail_msg("%s", err.message);
    size_t pure = 0, mixed = 0;
    count_stripe_texels(&m, &pure, &mixed);
    printf("# one photo's stripes: %zu texels plainly red or blue, %zu purple\n", pure, mixed);
    /* Read from the grid's 64-pixel maps: no plain texel at all (4 194 304
     * purple); from the photo's own 1024: about 1 411 000 plain and
     * 2 542 000 purple (the back, and the filled space between charts) */
    assert_true(pure > mixed / 3);
    ln_mesh_free(&m);
    ln_image_free(&img);
    ln_engine_free(eng);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_colours),
        cmocka_unit_test(test_vertex_colours),
        cmocka_unit_test(test_bad_sizes),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_sculpt_one_view),
        cmocka_unit_test(test_sculpt_four_views),
        cmocka_unit_test(test_sculpt_full_resolution),
        cmocka_unit_test(test_sculpt_one_photo_full_resolution),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
