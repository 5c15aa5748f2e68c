/* Background removal by mode (ln_background.h): which method each mode
 * picks with and without a rembg model in rembg's folder, that a network's
 * mask reaches the cut-out unchanged, and that the engines record the
 * method. The network is the small U^2-Net-shaped fixture of
 * tests/data/onnx, installed as rembg's u2net.onnx in a scratch folder. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ln_background.h"
#include "ln_engine.h"
#include "ln_image.h"
#include "ln_matting.h"
#include "ln_mesh.h"
#include "ln_sys.h"

/* A 96 x 96 RGBA photo: a warm disc on a cool, slightly graded ground;
 * alpha all opaque, or (with_alpha) the disc opaque and the ground clear. */
static void ln__photo(struct ln_image *img, int with_alpha)
{
    assert_int_equal(ln_image_alloc(img, 96, 96, 4, NULL), 0);
    for (int y = 0; y < 96; y++)
        for (int x = 0; x < 96; x++) {
            uint8_t *p = &img->data[4 * ((size_t)y * 96 + (size_t)x)];
            int in = (x - 48) * (x - 48) + (y - 50) * (y - 50) < 26 * 26;
            p[0] = (uint8_t)(in ? 210 : 40 + x / 8);
            p[1] = (uint8_t)(in ? 120 : 90 + y / 8);
            p[2] = (uint8_t)(in ? 60 : 160);
            p[3] = (uint8_t)(with_alpha && !in ? 0 : 255);
        }
}

/* rembg's folder with the fixture network as u2net.onnx, or empty. */
static void ln__rembg_home(const char *name, int with_model)
{
    const char *dir = ln_test_tmpdir(name);
    if (with_model) {
        char *dst = ln_test_path(dir, "u2net.onnx");
        size_t len;
        uint8_t *data = ln_test_read(ln_test_data("onnx/u2net-tiny-op11.onnx"), &len);
        FILE *f = fopen(dst, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, len, f), len);
        fclose(f);
        free(data);
        free(dst);
    }
    ln_env_set("U2NET_HOME", dir);
    assert_int_equal(ln_background_set_model(NULL, NULL), LN_OK);
}

static void test_modes_parse(void **state)
{
    (void)state;
    int m = -1;
    const char *names[] = {"auto", "model", "classic", "off"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(ln_remove_bg_parse(names[i], &m), 0);
        assert_string_equal(ln_remove_bg_name(m), names[i]);
    }
    assert_int_equal(ln_remove_bg_parse("true", &m), 0);
    assert_int_equal(m, LN_REMOVE_BG_AUTO);
    assert_int_equal(ln_remove_bg_parse("0", &m), 0);
    assert_int_equal(m, LN_REMOVE_BG_OFF);
    assert_int_equal(ln_remove_bg_parse("maybe", &m), -1);
    assert_int_equal(ln_remove_bg_parse(NULL, &m), -1);
}

static void test_without_model(void **state)
{
    (void)state;
    ln__rembg_home("bg_none", 0);
    char buf[64];
    assert_null(ln_background_model(buf, sizeof buf));
    ln_background_models_found(buf, sizeof buf);
    assert_string_equal(buf, "");
    struct ln_image img = {0}, cut = {0};
    struct ln_background_info info;
    struct ln_error err = {0};
    ln__photo(&img, 0);
    /* auto falls back to the classical separation. */
    assert_int_equal(ln_background_cutout(&img, LN_REMOVE_BG_AUTO, &cut, &info, &err), LN_OK);
    assert_string_equal(info.method, "classic");
    ln_image_free(&cut);
    /* model says what is missing and how to get it. */
    assert_int_equal(ln_background_cutout(&img, LN_REMOVE_BG_MODEL, &cut, &info, &err),
                     LN_ENOTFOUND);
    assert_non_null(strstr(err.message, "models pull u2net"));
    assert_null(cut.data);
    /* A name or path that is not there is refused when it is set. */
    assert_int_equal(ln_background_set_model("no-such-model", &err), LN_EINVAL);
    assert_non_null(strstr(err.message, "isnet-general-use"));
    assert_int_equal(ln_background_set_model("/nonexistent/m.onnx", &err), LN_ENOTFOUND);
    /* off: the image as it is, all object. */
    assert_int_equal(ln_background_cutout(&img, LN_REMOVE_BG_OFF, &cut, &info, &err), LN_OK);
    assert_string_equal(info.method, "off");
    assert_memory_equal(cut.data, img.data, (size_t)96 * 96 * 4);
    ln_image_free(&cut);
    ln_image_free(&img);
}

static void test_with_model(void **state)
{
    (void)state;
    ln__rembg_home("bg_model", 1);
    char buf[64];
    assert_non_null(ln_background_model(buf, sizeof buf));
    assert_string_equal(buf, "u2net");
    ln_background_models_found(buf, sizeof buf);
    assert_string_equal(buf, "u2net");

    struct ln_image img = {0}, alpha_img = {0}, cut = {0};
    struct ln_background_info info;
    struct ln_error err = {0};
    ln__photo(&img, 0);
    ln__photo(&alpha_img, 1);

    /* auto on an opaque photo: the network, whose mask is the alpha. */
    assert_int_equal(ln_background_cutout(&img, LN_REMOVE_BG_AUTO, &cut, &info, &err), LN_OK);
    assert_string_equal(info.method, "u2net");
    struct ln_matting *m = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/u2net.onnx", getenv("U2NET_HOME"));
    assert_int_equal(ln_matting_open(path, &m, &err), LN_OK);
    uint8_t *mask = malloc((size_t)96 * 96);
    assert_int_equal(ln_matting_mask(m, img.data, 96, 96, 4, mask, &err), LN_OK);
    for (size_t i = 0; i < (size_t)96 * 96; i++) {
        assert_int_equal(cut.data[4 * i + 3], mask[i]);
        assert_memory_equal(&cut.data[4 * i], &img.data[4 * i], 3);
    }
    ln_matting_free(m);
    free(mask);
    ln_image_free(&cut);

    /* auto with a meaningful alpha keeps it; model runs the network over it
     * (as rembg does); classic never runs it. */
    assert_int_equal(ln_background_cutout(&alpha_img, LN_REMOVE_BG_AUTO, &cut, &info, &err),
                     LN_OK);
    assert_string_equal(info.method, "alpha");
    ln_image_free(&cut);
    assert_int_equal(ln_background_cutout(&alpha_img, LN_REMOVE_BG_MODEL, &cut, &info, &err),
                     LN_OK);
    assert_string_equal(info.method, "u2net");
    ln_image_free(&cut);
    assert_int_equal(ln_background_cutout(&img, LN_REMOVE_BG_CLASSIC, &cut, &info, &err), LN_OK);
    assert_string_equal(info.method, "classic");
    ln_image_free(&cut);

    /* A path chosen explicitly is used, under its file name. */
    assert_int_equal(ln_background_set_model(ln_test_data("onnx/u2net-tiny-op17.onnx"), &err),
                     LN_OK);
    assert_int_equal(ln_background_cutout(&img, LN_REMOVE_BG_MODEL, &cut, &info, &err), LN_OK);
    assert_string_equal(info.method, "u2net-tiny-op17.onnx");
    ln_image_free(&cut);

    ln_image_free(&alpha_img);
    ln_image_free(&img);
    ln_background_release();
}

/* The engines say which method separated the object. */
static void test_engines_record(void **state)
{
    (void)state;
    ln__rembg_home("bg_engine", 1);
    struct ln_engine *eng = NULL;
    struct ln_error err = {0};
    assert_int_equal(ln_engine_sculpt_new(&eng, &err), LN_OK);
    struct ln_image imgs[2] = {{0}, {0}};
    ln__photo(&imgs[0], 0);
    ln__photo(&imgs[1], 1);
    struct ln_generate_options opt;
    ln_generate_options_default(&opt);
    opt.resolution = 48;
    opt.target_faces = 0;
    struct ln_mesh mesh = {0};
    struct ln_generate_report rep;
    struct ln_engine_input in = {.images = imgs, .n_images = 1, .views = NULL};
    assert_int_equal(ln_generate(eng, &in, &opt, NULL, &mesh, &rep, &err), LN_OK);
    assert_string_equal(rep.background, "u2net");
    ln_mesh_free(&mesh);
    /* Two views, one with an alpha channel: both methods are listed. */
    in.n_images = 2;
    assert_int_equal(ln_generate(eng, &in, &opt, NULL, &mesh, &rep, &err), LN_OK);
    assert_string_equal(rep.background, "u2net, alpha");
    ln_mesh_free(&mesh);
    opt.remove_bg = LN_REMOVE_BG_OFF;
    in.n_images = 1;
    assert_int_equal(ln_generate(eng, &in, &opt, NULL, &mesh, &rep, &err), LN_OK);
    assert_string_equal(rep.background, "off");
    ln_mesh_free(&mesh);
    ln_engine_free(eng);
    ln_image_free(&imgs[0]);
    ln_image_free(&imgs[1]);
    ln_background_release();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modes_parse),
        cmocka_unit_test(test_without_model),
        cmocka_unit_test(test_with_model),
        cmocka_unit_test(test_engines_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
