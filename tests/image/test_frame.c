/* Unit tests of framing and resampling against the TripoSR golden data in
 * tests/data/triposr-tiny (see its README): foreground crop and padding and
 * grey compositing byte for byte, the antialiased resize to float32
 * rounding (2e-7), plus square padding and the error cases. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_frame.h"
#include "ln_image.h"
#include "ln_threads.h"

static void load(const char *name, struct ln_image *img)
{
    struct ln_error err = {0};
    if (ln_image_load(ln_test_data(name), NULL, img, &err) < 0)
        fail_msg("%s", err.message);
}

static void assert_images_equal(const struct ln_image *a, const struct ln_image *b)
{
    assert_int_equal(a->width, b->width);
    assert_int_equal(a->height, b->height);
    assert_int_equal(a->channels, b->channels);
    const size_t n = (size_t)a->width * a->height * a->channels;
    size_t n_diff = 0, first = 0;
    for (size_t i = 0; i < n; i++) {
        if (a->data[i] != b->data[i] && n_diff++ == 0)
            first = i;
    }
    if (n_diff > 0)
        fail_msg("%zu bytes differ; first at pixel %zu channel %zu: %d vs %d", n_diff,
                 first / a->channels, first % a->channels, a->data[first], b->data[first]);
}

/* Resizes a u8 image (as float / 255) and compares with a float32 file. */
static void check_resize(const struct ln_image *img, int ow, int oh, const char *golden)
{
    const size_t n_in = (size_t)img->width * img->height * img->channels;
    const size_t n_out = (size_t)ow * oh * img->channels;
    float *in = malloc(n_in * sizeof(float));
    float *out = malloc(n_out * sizeof(float));
    ln_image_to_float(img, in);
    struct ln_error err = {0};
    assert_int_equal(ln_resize_aa(in, img->width, img->height, img->channels, out, ow, oh, &err),
                     0);
    float *want = ln_test_read_f32(ln_test_data(golden), n_out);
    double worst = 0.0;
    size_t worst_i = 0;
    for (size_t i = 0; i < n_out; i++) {
        const double d = fabs((double)out[i] - (double)want[i]);
        if (d > worst) {
            worst = d;
            worst_i = i;
        }
    }
    printf("  %s: worst |error| %.3g at index %zu\n", golden, worst, worst_i);
    assert_near(out[worst_i], want[worst_i], 2e-7);
    free(want);
    free(out);
    free(in);
}

static void test_resize_foreground_golden(void **state)
{
    struct ln_image in = {0}, want = {0}, got = {0};
    struct ln_error err = {0};
    load("triposr-tiny/input.png", &in);
    load("triposr-tiny/fg_resized.png", &want);
    assert_int_equal(in.channels, 4);
    assert_int_equal(ln_frame_resize_foreground(&in, 0.85f, &got, &err), 0);
    assert_images_equal(&got, &want);
    ln_image_free(&got);
    ln_image_free(&want);
    ln_image_free(&in);
}

static void test_composite_golden(void **state)
{
    struct ln_image fg = {0}, want = {0}, got = {0};
    struct ln_error err = {0};
    load("triposr-tiny/fg_resized.png", &fg);
    load("triposr-tiny/input_composited.png", &want);
    assert_int_equal(ln_frame_composite_grey(&fg, &got, &err), 0);
    /* The PNG decoder hands out RGBA; the composite is RGB. */
    struct ln_image want_rgb = {0};
    assert_int_equal(ln_image_alloc(&want_rgb, want.width, want.height, 3, &err), 0);
    for (size_t i = 0; i < (size_t)want.width * want.height; i++)
        memcpy(want_rgb.data + i * 3, want.data + i * want.channels, 3);
    assert_images_equal(&got, &want_rgb);
    /* A fully transparent pixel becomes 127 (truncation), not 128. */
    assert_int_equal(fg.data[3], 0);
    assert_int_equal(got.data[0], 127);
    ln_image_free(&want_rgb);
    ln_image_free(&got);
    ln_image_free(&want);
    ln_image_free(&fg);
}

/* The decoder returns RGBA; the resize tests run on the RGB channels. */
static void load_rgb(const char *name, struct ln_image *rgb)
{
    struct ln_image img = {0};
    struct ln_error err = {0};
    load(name, &img);
    assert_int_equal(ln_image_alloc(rgb, img.width, img.height, 3, &err), 0);
    for (size_t i = 0; i < (size_t)img.width * img.height; i++)
        memcpy(rgb->data + i * 3, img.data + i * img.channels, 3);
    ln_image_free(&img);
}

static void test_resize_golden(void **state)
{
    struct ln_image img = {0};
    load_rgb("triposr-tiny/input_composited.png", &img);
    assert_int_equal(img.width, 96);
    check_resize(&img, 64, 64, "triposr-tiny/preprocessed.bin");
    ln_image_free(&img);

    load_rgb("triposr-tiny/resize_up_input.png", &img);
    assert_int_equal(img.width, 24);
    check_resize(&img, 64, 64, "triposr-tiny/resize_up_output.bin");
    ln_image_free(&img);

    load_rgb("triposr-tiny/resize_down_input.png", &img);
    assert_int_equal(img.width, 93);
    check_resize(&img, 64, 64, "triposr-tiny/resize_down_output.bin");
    ln_image_free(&img);
}

/* The same result with one thread and with several (rows are split). */
static void test_resize_threads_agree(void **state)
{
    const int w = 131, h = 77, c = 3, ow = 50, oh = 190;
    float *in = malloc(sizeof(float) * w * h * c);
    float *a = malloc(sizeof(float) * ow * oh * c);
    float *b = malloc(sizeof(float) * ow * oh * c);
    for (int i = 0; i < w * h * c; i++)
        in[i] = (float)((i * 7919) % 256) / 255.0f;
    ln_threads_set(1);
    assert_int_equal(ln_resize_aa(in, w, h, c, a, ow, oh, NULL), 0);
    ln_threads_set(4);
    assert_int_equal(ln_resize_aa(in, w, h, c, b, ow, oh, NULL), 0);
    ln_threads_set(0);
    assert_memory_equal(a, b, sizeof(float) * ow * oh * c);
    /* A constant image stays constant (weights sum to one). */
    for (int i = 0; i < w * h * c; i++)
        in[i] = 0.25f;
    assert_int_equal(ln_resize_aa(in, w, h, c, a, ow, oh, NULL), 0);
    for (int i = 0; i < ow * oh * c; i++)
        assert_near(a[i], 0.25f, 1e-7);
    free(b);
    free(a);
    free(in);
}

static void fill_rgba(struct ln_image *img, int w, int h)
{
    struct ln_error err = {0};
    assert_int_equal(ln_image_alloc(img, w, h, 4, &err), 0);
    for (size_t i = 0; i < (size_t)w * h * 4; i++)
        img->data[i] = (uint8_t)(1 + i % 251);
}

static void test_pad_square(void **state)
{
    struct ln_error err = {0};
    struct ln_image in = {0}, out = {0};

    /* Wide, odd difference: 7 rows missing, 3 above, 4 below. */
    fill_rgba(&in, 9, 2);
    assert_int_equal(ln_frame_pad_square(&in, &out, &err), 0);
    assert_int_equal(out.width, 9);
    assert_int_equal(out.height, 9);
    for (int y = 0; y < 9; y++) {
        for (int x = 0; x < 9; x++) {
            const uint8_t *p = out.data + ((size_t)y * 9 + x) * 4;
            if (y >= 3 && y < 5) {
                assert_memory_equal(p, in.data + ((size_t)(y - 3) * 9 + x) * 4, 4);
            } else {
                const uint8_t zero[4] = {0};
                assert_memory_equal(p, zero, 4);
            }
        }
    }
    ln_image_free(&out);
    ln_image_free(&in);

    /* Tall: 5 columns missing, 2 left, 3 right. */
    fill_rgba(&in, 3, 8);
    assert_int_equal(ln_frame_pad_square(&in, &out, &err), 0);
    assert_int_equal(out.width, 8);
    assert_int_equal(out.height, 8);
    for (int y = 0; y < 8; y++) {
        for (int x = 0; x < 8; x++) {
            const uint8_t *p = out.data + ((size_t)y * 8 + x) * 4;
            if (x >= 2 && x < 5)
                assert_memory_equal(p, in.data + ((size_t)y * 3 + x - 2) * 4, 4);
            else
                assert_int_equal(p[3], 0);
        }
    }
    ln_image_free(&out);
    ln_image_free(&in);

    /* Square: a copy. */
    fill_rgba(&in, 5, 5);
    assert_int_equal(ln_frame_pad_square(&in, &out, &err), 0);
    assert_int_equal(out.width, 5);
    assert_memory_equal(out.data, in.data, 5 * 5 * 4);
    ln_image_free(&out);
    ln_image_free(&in);
}

static void test_resize_foreground_geometry(void **state)
{
    struct ln_error err = {0};
    struct ln_image in = {0}, out = {0};
    assert_int_equal(ln_image_alloc(&in, 40, 30, 4, &err), 0);
    /* Foreground rows 5..21, columns 10..27: the crop keeps rows 5..20 and
     * columns 10..26 (16 x 17), m = 17, s = int(17 / 0.85) = 20 exactly as
     * Python computes it (17 / 0.85f in float would give 19). */
    for (int y = 5; y <= 21; y++)
        for (int x = 10; x <= 27; x++)
            in.data[((size_t)y * 40 + x) * 4 + 3] = 200;
    assert_int_equal(ln_frame_resize_foreground(&in, 0.85f, &out, &err), 0);
    assert_int_equal(out.width, 20);
    assert_int_equal(out.height, 20);
    /* Rows: (17 - 16) / 2 = 0 then (20 - 17) / 2 = 1 on top; columns: 0 + 1. */
    size_t n_fg = 0;
    for (int y = 0; y < 20; y++)
        for (int x = 0; x < 20; x++) {
            const int inside = y >= 1 && y < 17 && x >= 1 && x < 18;
            assert_int_equal(out.data[((size_t)y * 20 + x) * 4 + 3] != 0, inside);
            n_fg += inside;
        }
    assert_int_equal(n_fg, 16 * 17);
    ln_image_free(&out);
    ln_image_free(&in);
}

static void test_errors(void **state)
{
    struct ln_error err = {0};
    struct ln_image in = {0}, out = {0};

    /* No foreground at all. */
    assert_int_equal(ln_image_alloc(&in, 16, 16, 4, &err), 0);
    assert_int_equal(ln_frame_resize_foreground(&in, 0.85f, &out, &err), LN_EUNUSABLE);
    assert_int_equal(err.code, LN_EUNUSABLE);
    assert_null(out.data);

    /* One foreground column: the crop drops it. */
    for (int y = 2; y < 10; y++)
        in.data[((size_t)y * 16 + 7) * 4 + 3] = 255;
    assert_int_equal(ln_frame_resize_foreground(&in, 0.85f, &out, &err), LN_EUNUSABLE);
    assert_null(out.data);

    /* Bad arguments. */
    in.data[(7 * 16 + 9) * 4 + 3] = 255;
    assert_int_equal(ln_frame_resize_foreground(&in, 0.0f, &out, &err), LN_EINVAL);
    assert_int_equal(ln_frame_resize_foreground(&in, 1.5f, &out, &err), LN_EINVAL);
    assert_int_equal(ln_frame_resize_foreground(&in, 0.85f, &out, &err), 0);
    ln_image_free(&out);
    ln_image_free(&in);

    assert_int_equal(ln_image_alloc(&in, 4, 4, 3, &err), 0);
    assert_int_equal(ln_frame_resize_foreground(&in, 0.85f, &out, &err), LN_EINVAL);
    assert_int_equal(ln_frame_composite_grey(&in, &out, &err), LN_EINVAL);
    assert_int_equal(ln_frame_pad_square(&in, &out, &err), LN_EINVAL);
    ln_image_free(&in);

    float f[4] = {0};
    assert_int_equal(ln_resize_aa(f, 0, 2, 1, f, 2, 2, &err), LN_EINVAL);
    assert_int_equal(ln_resize_aa(f, 2, 2, 1, f, 2, -1, &err), LN_EINVAL);
}

/* Every large allocation failing in turn gives ENOMEM and leaks nothing. */
static void test_out_of_memory(void **state)
{
    const int w = 37, h = 23, c = 3;
    float *in = calloc((size_t)w * h * c, sizeof(float));
    float *out = calloc((size_t)64 * 64 * c, sizeof(float));
    ln_alloc_fail_after(0);
    assert_int_equal(ln_resize_aa(in, w, h, c, out, 64, 64, NULL), 0);
    const long n_alloc = ln_alloc_fail_after(0);
    assert_true(n_alloc > 0);
    for (long k = 1; k <= n_alloc; k++) {
        struct ln_error err = {0};
        ln_alloc_fail_after(k);
        assert_int_equal(ln_resize_aa(in, w, h, c, out, 64, 64, &err), LN_ENOMEM);
        assert_int_equal(err.code, LN_ENOMEM);
    }
    ln_alloc_fail_after(n_alloc + 1); /* one past the last: it succeeds */
    assert_int_equal(ln_resize_aa(in, w, h, c, out, 64, 64, NULL), 0);
    ln_alloc_fail_after(0);
    free(out);
    free(in);

    struct ln_image img = {0}, res = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_image_alloc(&img, 12, 10, 4, &err), 0);
    for (int y = 2; y < 8; y++)
        for (int x = 3; x < 9; x++)
            img.data[((size_t)y * 12 + x) * 4 + 3] = 255;
    ln_alloc_fail_after(1);
    assert_int_equal(ln_frame_resize_foreground(&img, 0.85f, &res, &err), LN_ENOMEM);
    assert_null(res.data);
    ln_alloc_fail_after(1);
    assert_int_equal(ln_frame_composite_grey(&img, &res, &err), LN_ENOMEM);
    ln_alloc_fail_after(1);
    assert_int_equal(ln_frame_pad_square(&img, &res, &err), LN_ENOMEM);
    ln_alloc_fail_after(0);
    ln_image_free(&img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resize_foreground_golden),
        cmocka_unit_test(test_composite_golden),
        cmocka_unit_test(test_resize_golden),
        cmocka_unit_test(test_resize_threads_agree),
        cmocka_unit_test(test_pad_square),
        cmocka_unit_test(test_resize_foreground_geometry),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
