/* Unit tests of rembg's background matting in C: the LANCZOS resampler
 * against pictures Pillow resized (tests/data/onnx/resize.safetensors, byte
 * for byte), whole masks of the fixture networks against rembg's session
 * code re-run in Python with the network in PyTorch (matting.safetensors,
 * within one grey level), each model kind's normalisation chosen by the
 * file's name, and the errors: missing, unknown and damaged models, bad
 * arguments, every allocation failed in turn. The fixtures and the script
 * that makes them are described in tests/data/onnx/README.md. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_error.h"
#include "ln_file.h"
#include "ln_matting.h"
#include "ln_sys.h"
#include "ln_threads.h"
#include "ln_weights.h"

/* A U8 tensor of a fixture file, its shape into dims (up to 3). */
static const uint8_t *u8_tensor(const struct ln_weights *w, const char *name, int *ndim,
                                int64_t dims[3])
{
    const struct ln_tensor_info *t = ln_weights_find(w, name);
    if (!t)
        fail_msg("%s is not in the fixture", name);
    assert_int_equal(t->dtype, LN_DTYPE_U8);
    assert_true(t->contiguous);
    assert_true(t->ndim >= 1 && t->ndim <= 3);
    *ndim = t->ndim;
    for (int i = 0; i < t->ndim; i++)
        dims[i] = t->shape[i];
    return (const uint8_t *)t->storage + t->offset;
}

static struct ln_weights *open_fixture(const char *name)
{
    struct ln_weights *w = NULL;
    struct ln_error err = {0};
    if (ln_weights_open(ln_test_data(name), &w, &err) < 0)
        fail_msg("%s: %s", name, err.message);
    return w;
}

/* Every "<source>_<W>x<H>" picture of resize.safetensors is Pillow's
 * resize of src_<source> to W x H; ours must equal it byte for byte, and
 * be the same for any thread count. */
static void test_resize_matches_pillow(void **state)
{
    (void)state;
    struct ln_weights *w = open_fixture("onnx/resize.safetensors");
    int n_cases = 0;
    for (size_t i = 0; i < ln_weights_count(w); i++) {
        const char *name = ln_weights_at(w, i)->name;
        if (strncmp(name, "src_", 4) == 0)
            continue;
        char src_name[64];
        int dw, dh;
        const char *us = strrchr(name, '_');
        assert_non_null(us);
        assert_true((size_t)(us - name) < sizeof src_name - 4);
        snprintf(src_name, sizeof src_name, "src_%.*s", (int)(us - name), name);
        assert_int_equal(sscanf(us + 1, "%dx%d", &dw, &dh), 2);
        int sd, ed;
        int64_t ss[3], es[3];
        const uint8_t *src = u8_tensor(w, src_name, &sd, ss);
        const uint8_t *want = u8_tensor(w, name, &ed, es);
        const int channels = sd == 3 ? (int)ss[2] : 1;
        assert_int_equal(es[0], dh);
        assert_int_equal(es[1], dw);
        const size_t n = (size_t)dw * dh * channels;
        uint8_t *got = malloc(n);
        for (int threads = 1; threads <= 3; threads += 2) {
            struct ln_error err = {0};
            ln_threads_set(threads);
            memset(got, 0xa5, n);
            assert_int_equal(
                ln_matting_resize(src, (int)ss[1], (int)ss[0], channels, got, dw, dh, &err), LN_OK);
            size_t bad = 0, first = 0;
            for (size_t k = 0; k < n; k++)
                if (got[k] != want[k] && bad++ == 0)
                    first = k;
            if (bad)
                fail_msg("%s (%d threads): %zu of %zu samples differ from Pillow's, first at %zu:"
                         " %d, Pillow %d",
                         name, threads, bad, n, first, got[first], want[first]);
        }
        free(got);
        n_cases++;
    }
    ln_threads_set(0);
    assert_int_equal(n_cases, 11);
    ln_weights_close(w);
}

static void test_resize_errors(void **state)
{
    (void)state;
    uint8_t src[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, dst[12] = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_matting_resize(src, 2, 2, 3, dst, 0, 2, &err), LN_EINVAL);
    assert_int_equal(ln_matting_resize(src, -1, 2, 3, dst, 2, 2, &err), LN_EINVAL);
    assert_int_equal(ln_matting_resize(src, 2, 2, 5, dst, 2, 2, &err), LN_EINVAL);
    assert_int_equal(ln_matting_resize(NULL, 2, 2, 3, dst, 2, 2, &err), LN_EINVAL);
    assert_int_equal(ln_matting_resize(src, 2, 2, 3, dst, LN_MATTING_MAX_SIDE + 1, 1, &err),
                     LN_ETOOBIG);
    for (int i = 0; i < 12; i++)
        assert_int_equal(dst[i], 0);
    /* Same size: a copy, as Pillow's. */
    assert_int_equal(ln_matting_resize(src, 2, 2, 3, dst, 2, 2, &err), LN_OK);
    assert_memory_equal(src, dst, 12);
}

/* A flat picture stays flat through the filter (the taps sum to one in
 * fixed point within the rounding Pillow's clip absorbs). */
static void test_resize_flat(void **state)
{
    (void)state;
    uint8_t src[37 * 23], dst[100 * 9];
    struct ln_error err = {0};
    for (int v = 0; v <= 255; v += 51) {
        memset(src, v, sizeof src);
        assert_int_equal(ln_matting_resize(src, 37, 23, 1, dst, 100, 9, &err), LN_OK);
        for (size_t i = 0; i < sizeof dst; i++)
            assert_int_equal(dst[i], v);
        assert_int_equal(ln_matting_resize(src, 37, 23, 1, dst, 5, 2, &err), LN_OK);
        for (size_t i = 0; i < 10; i++)
            assert_int_equal(dst[i], v);
    }
}

/* The fixture's RGBA picture and the alpha-free copy of it. */
struct picture {
    struct ln_weights *w;
    const uint8_t *rgba;
    uint8_t *rgb;
    int width, height;
};

static void picture_open(struct picture *p)
{
    int nd;
    int64_t d[3];
    p->w = open_fixture("onnx/matting.safetensors");
    p->rgba = u8_tensor(p->w, "picture", &nd, d);
    assert_int_equal(nd, 3);
    assert_int_equal(d[2], 4);
    p->height = (int)d[0];
    p->width = (int)d[1];
    const size_t n = (size_t)p->width * p->height;
    p->rgb = malloc(3 * n);
    for (size_t i = 0; i < n; i++)
        memcpy(p->rgb + 3 * i, p->rgba + 4 * i, 3);
}

static void picture_close(struct picture *p)
{
    free(p->rgb);
    ln_weights_close(p->w);
}

/* The mask of `model` for the fixture picture, against rembg's within one
 * grey level (the network runs in another float32 order than PyTorch's,
 * and min-max and the truncation to 8 bits can turn a last-bit difference
 * into one level); the same from RGB as from RGBA, and for any thread
 * count. */
static void check_mask(const char *model, const char *want_name, const char *want_label,
                       int want_side)
{
    struct picture p;
    picture_open(&p);
    int nd;
    int64_t d[3];
    const uint8_t *want = u8_tensor(p.w, want_name, &nd, d);
    assert_int_equal(d[0], p.height);
    assert_int_equal(d[1], p.width);
    struct ln_matting *m = NULL;
    struct ln_error err = {0};
    if (ln_matting_open(model, &m, &err) < 0)
        fail_msg("%s: %s", model, err.message);
    assert_string_equal(ln_matting_name(m), want_label);
    int iw, ih;
    ln_matting_input_size(m, &iw, &ih);
    assert_int_equal(iw, want_side);
    assert_int_equal(ih, want_side);
    const size_t n = (size_t)p.width * p.height;
    uint8_t *mask = malloc(n), *again = malloc(n);
    ln_threads_set(1);
    if (ln_matting_mask(m, p.rgba, p.width, p.height, 4, mask, &err) < 0)
        fail_msg("%s: %s", model, err.message);
    int worst = 0;
    size_t n_off = 0;
    for (size_t i = 0; i < n; i++) {
        const int diff = abs((int)mask[i] - (int)want[i]);
        worst = diff > worst ? diff : worst;
        n_off += diff != 0;
    }
    /* %llu, not %zu: cmocka formats with msvcrt's printf on Windows. */
    print_message("%s: %llu of %llu mask pixels off rembg's by 1, worst %d\n", want_label,
                  (unsigned long long)n_off, (unsigned long long)n, worst);
    assert_in_range(worst, 0, 1);
    ln_threads_set(3);
    assert_int_equal(ln_matting_mask(m, p.rgb, p.width, p.height, 3, again, &err), LN_OK);
    assert_memory_equal(mask, again, n);
    ln_threads_set(0);
    free(mask);
    free(again);
    ln_matting_free(m);
    picture_close(&p);
}

/* A file that is not one of rembg's: u2net's normalisation at the graph's
 * own input size. Opset 11 and 17 exports of the same network. */
static void test_mask_foreign_file(void **state)
{
    (void)state;
    check_mask(ln_test_data("onnx/u2net-tiny-op17.onnx"), "mask_u2net", "u2net-tiny-op17.onnx", 72);
    check_mask(ln_test_data("onnx/u2net-tiny-op11.onnx"), "mask_u2net", "u2net-tiny-op11.onnx", 72);
}

/* Copies a fixture into folder under rembg's file name for a model. */
static void install_as(const char *fixture, const char *dir, const char *file)
{
    size_t len;
    uint8_t *bytes = ln_test_read(ln_test_data(fixture), &len);
    char *path = ln_test_path(dir, file);
    struct ln_error err = {0};
    assert_int_equal(ln_file_write_atomic(path, bytes, len, &err), LN_OK);
    free(path);
    free(bytes);
}

/* Under rembg's names, by name from $U2NET_HOME and by path: IS-Net's
 * mean 0.5 / std 1, and BiRefNet's sigmoid over output 0. */
static void test_mask_rembg_models(void **state)
{
    (void)state;
    const char *home = ln_test_tmpdir("matting_home");
    install_as("onnx/isnet-tiny-op17.onnx", home, "isnet-general-use.onnx");
    install_as("onnx/u2net-tiny-op17.onnx", home, "birefnet-general.onnx");
    ln_env_set("U2NET_HOME", home);
    check_mask("isnet-general-use", "mask_isnet", "isnet-general-use", 96);
    char *path = ln_test_path(home, "birefnet-general.onnx");
    check_mask(path, "mask_birefnet", "birefnet-general", 72);
    free(path);
    ln_env_set("U2NET_HOME", NULL);
}

static void test_open_errors(void **state)
{
    (void)state;
    struct ln_matting *m = (struct ln_matting *)&m;
    struct ln_error err = {0};
    const char *home = ln_test_tmpdir("matting_errors");
    ln_env_set("U2NET_HOME", home);

    /* A rembg model not downloaded: where it was looked for, and how to get it. */
    assert_int_equal(ln_matting_open("u2net", &m, &err), LN_ENOTFOUND);
    assert_null(m);
    assert_non_null(strstr(err.message, home));
    assert_non_null(strstr(err.message, "models pull u2net"));
    assert_int_equal(ln_matting_open("no-such-model", &m, &err), LN_EINVAL);
    assert_non_null(strstr(err.message, "isnet-general-use"));
    char *missing = ln_test_path(home, "missing.onnx");
    assert_int_equal(ln_matting_open(missing, &m, &err), LN_ENOTFOUND);
    assert_non_null(strstr(err.message, missing));
    free(missing);

    /* Damaged files: cut short at several places, and not ONNX at all. */
    size_t len;
    uint8_t *bytes = ln_test_read(ln_test_data("onnx/u2net-tiny-op17.onnx"), &len);
    char *path = ln_test_path(home, "u2net.onnx");
    const size_t cuts[] = {0, 1, 17, len / 3, len / 2, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        assert_int_equal(ln_file_write_atomic(path, bytes, cuts[i], &err), LN_OK);
        memset(&err, 0, sizeof err);
        const int rc = ln_matting_open("u2net", &m, &err);
        if (rc >= 0)
            fail_msg("a copy cut at %zu of %zu bytes was taken", cuts[i], len);
        assert_null(m);
        assert_int_equal(err.code, rc);
        assert_non_null(strstr(err.message, "u2net.onnx"));
    }
    const char junk[] = "this is not a network\n";
    assert_int_equal(ln_file_write_atomic(path, junk, sizeof junk - 1, &err), LN_OK);
    assert_true(ln_matting_open("u2net", &m, &err) < 0);
    assert_null(m);
    assert_non_null(strstr(err.message, "u2net.onnx"));
    free(path);
    free(bytes);
    ln_env_set("U2NET_HOME", NULL);
}

static void test_mask_errors(void **state)
{
    (void)state;
    struct picture p;
    picture_open(&p);
    struct ln_matting *m = NULL;
    struct ln_error err = {0};
    assert_int_equal(ln_matting_open(ln_test_data("onnx/u2net-tiny-op17.onnx"), &m, &err), LN_OK);
    const size_t n = (size_t)p.width * p.height;
    uint8_t *mask = malloc(n);
    memset(mask, 0x5a, n);
    assert_int_equal(ln_matting_mask(m, p.rgba, p.width, p.height, 2, mask, &err), LN_EINVAL);
    assert_int_equal(ln_matting_mask(m, p.rgba, 0, p.height, 4, mask, &err), LN_EINVAL);
    assert_int_equal(ln_matting_mask(m, p.rgba, LN_MATTING_MAX_SIDE + 1, 1, 4, mask, &err),
                     LN_ETOOBIG);

    /* Every large allocation failed in turn: LN_ENOMEM with the mask
     * untouched, or (where the runtime has a way around a scratch buffer
     * it could not get) the same mask as without failures; and the model
     * still works afterwards. */
    ln_alloc_fail_after(0);
    assert_int_equal(ln_matting_mask(m, p.rgba, p.width, p.height, 4, mask, &err), LN_OK);
    const long n_allocs = ln_alloc_fail_after(0);
    assert_true(n_allocs >= 4);
    uint8_t *good = malloc(n), *probe = malloc(n);
    memcpy(good, mask, n);
    long n_failed = 0;
    for (long k = 1; k <= n_allocs; k++) {
        memset(probe, 0x5a, n);
        memset(&err, 0, sizeof err);
        ln_alloc_fail_after(k);
        const int rc = ln_matting_mask(m, p.rgba, p.width, p.height, 4, probe, &err);
        ln_alloc_fail_after(0);
        if (rc == LN_OK) {
            if (memcmp(probe, good, n) != 0)
                fail_msg("allocation %ld of %ld failed, the call succeeded, the mask differs", k,
                         n_allocs);
            continue;
        }
        if (rc != LN_ENOMEM)
            fail_msg("allocation %ld of %ld failed: got %d (%s)", k, n_allocs, rc, err.message);
        n_failed++;
        for (size_t i = 0; i < n; i++)
            if (probe[i] != 0x5a)
                fail_msg("allocation %ld failed but the mask was written", k);
    }
    print_message("%ld of %ld failed allocations gave LN_ENOMEM\n", n_failed, n_allocs);
    /* Ours at least: the RGB copy, the resized picture, the input tensor,
     * the grey mask, and the resampler's taps. */
    assert_true(n_failed >= 5);
    assert_int_equal(ln_matting_mask(m, p.rgba, p.width, p.height, 4, probe, &err), LN_OK);
    assert_memory_equal(probe, good, n);
    free(good);
    free(probe);
    free(mask);
    ln_matting_free(m);
    picture_close(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resize_matches_pillow), cmocka_unit_test(test_resize_errors),
        cmocka_unit_test(test_resize_flat),           cmocka_unit_test(test_mask_foreign_file),
        cmocka_unit_test(test_mask_rembg_models),     cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_mask_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
