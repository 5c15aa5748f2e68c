/* Unit tests of the shared option parser used by the command line and the
 * HTTP upload fields. */
#include "testutil.h"

#include <string.h>

#include "ln_background.h"
#include "ln_options.h"

static void test_sets_each_option(void **state)
{
    struct ln_generate_options o;
    ln_generate_options_default(&o);
    struct ln_error err = {0};
    assert_int_equal(ln_generate_option_set(&o, "--resolution", "128", &err), 0);
    assert_int_equal(o.resolution, 128);
    assert_int_equal(ln_generate_option_set(&o, "faces", "5000", &err), 0);
    assert_int_equal(o.target_faces, 5000);
    assert_int_equal(ln_generate_option_set(&o, "foreground-ratio", "0.5", &err), 0);
    assert_near(o.foreground_ratio, 0.5, 1e-7);
    assert_int_equal(ln_generate_option_set(&o, "remove_bg", "false", &err), 0);
    assert_int_equal(o.remove_bg, LN_REMOVE_BG_OFF);
    assert_int_equal(ln_generate_option_set(&o, "remove-bg", "model", &err), 0);
    assert_int_equal(o.remove_bg, LN_REMOVE_BG_MODEL);
    assert_int_equal(ln_generate_option_set(&o, "remove_bg", "classic", &err), 0);
    assert_int_equal(o.remove_bg, LN_REMOVE_BG_CLASSIC);
    assert_int_equal(ln_generate_option_set(&o, "remove_bg", "yes", &err), 0);
    assert_int_equal(o.remove_bg, LN_REMOVE_BG_AUTO);
    assert_int_equal(ln_generate_option_set(&o, "projection", "perspective", &err), 0);
    assert_int_equal(o.camera.projection, LN_PROJECTION_PERSPECTIVE);
    assert_int_equal(ln_generate_option_set(&o, "ortho_size", "2", &err), 0);
    assert_near(o.camera.ortho_size, 2.0, 1e-7);
    assert_int_equal(ln_generate_option_set(&o, "fov", "30", &err), 0);
    assert_near(o.camera.fov_deg, 30.0, 1e-7);
    assert_int_equal(ln_generate_option_set(&o, "distance", "3.5", &err), 0);
    assert_near(o.camera.distance, 3.5, 1e-7);
    assert_int_equal(ln_generate_option_set(&o, "size", "0.25", &err), 0);
    assert_near(o.size, 0.25, 1e-7);
    assert_int_equal(ln_generate_option_set(&o, "origin", "bottom", &err), 0);
    assert_int_equal(o.origin, LN_MESH_ORIGIN_BOTTOM);
    assert_int_equal(ln_generate_option_set(&o, "smooth", "0", &err), 0);
    assert_int_equal(o.smooth_iterations, 0);
    assert_int_equal(ln_generate_option_set(&o, "keep_floaters", "yes", &err), 0);
    assert_int_equal(o.keep_main_component, 0);
    assert_int_equal(ln_generate_option_set(&o, "fill_holes", "off", &err), 0);
    assert_int_equal(o.fill_holes, 0);
    assert_int_equal(ln_generate_option_set(&o, "fill_holes", "on", &err), 0);
    assert_true(o.fill_holes > 0);
}

static void test_refuses_bad_values_with_the_name(void **state)
{
    struct ln_generate_options o, before;
    ln_generate_options_default(&o);
    before = o;
    struct ln_error err = {0};
    static const char *const bad[][2] = {
        {"resolution", "31"},   {"resolution", "513"}, {"resolution", "12x"},
        {"faces", "3"},         {"faces", "-1"},       {"foreground_ratio", "0"},
        {"foreground_ratio", "nan"}, {"remove_bg", "maybe"}, {"projection", "fisheye"},
        {"ortho_size", "-1"},   {"fov", "170"},        {"distance", "0"},
        {"size", "inf"},        {"origin", "top"},     {"smooth", "1001"},
        {"keep_floaters", ""},  {"resolution", ""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ln_generate_option_set(&o, bad[i][0], bad[i][1], &err), LN_EINVAL);
        assert_non_null(strstr(err.message, bad[i][0]));
        assert_non_null(strstr(err.message, "wants"));
    }
    assert_memory_equal(&o, &before, sizeof o); /* nothing changed */
    assert_int_equal(ln_generate_option_set(&o, "colour", "red", &err), LN_ENOTFOUND);
    assert_false(ln_generate_option_known("colour"));
    assert_true(ln_generate_option_known("--ortho-size"));
}

static void test_views_and_booleans(void **state)
{
    struct ln_view v;
    assert_int_equal(ln_view_parse("90", &v), 0);
    assert_near(v.azimuth, 90, 0);
    assert_near(v.elevation, 0, 0);
    assert_int_equal(ln_view_parse("-45,30.5", &v), 0);
    assert_near(v.azimuth, -45, 0);
    assert_near(v.elevation, 30.5, 1e-6);
    assert_int_equal(ln_view_parse("0,91", &v), -1);
    assert_int_equal(ln_view_parse("a,b", &v), -1);
    assert_int_equal(ln_view_parse("", &v), -1);
    assert_int_equal(ln_view_parse("1,2,3", &v), -1);
    int b;
    assert_int_equal(ln_bool_parse("TRUE", &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(ln_bool_parse("0", &b), 0);
    assert_int_equal(b, 0);
    assert_int_equal(ln_bool_parse("2", &b), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sets_each_option),
        cmocka_unit_test(test_refuses_bad_values_with_the_name),
        cmocka_unit_test(test_views_and_booleans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
