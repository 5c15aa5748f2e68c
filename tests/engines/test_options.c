/* Unit tests of the shared option parser used by the command line and the
 * HTTP upload fields. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
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

/* The table itself: unique names and flags, a CLI form and an API field
 * for every option unless its flags say otherwise, defaults (read from
 * ln_generate_options_default) inside the ranges, and every choice of an
 * enumeration accepted and read back as itself. */
static void test_table_is_consistent(void **state)
{
    struct ln_generate_options def;
    ln_generate_options_default(&def);
    char names[128][40];
    size_t owner[128], n_names = 0;
    assert_true(ln_option_count > 0);
    for (size_t i = 0; i < ln_option_count; i++) {
        const struct ln_option *o = &ln_option_table[i];
        const char *forms[3] = {o->name, o->cli, o->cli_off};
        for (int f = 0; f < 3; f++) {
            if (!forms[f])
                continue;
            char canon[40];
            snprintf(canon, sizeof canon, "%s", forms[f]);
            for (char *p = canon; *p; p++)
                if (*p == '-')
                    *p = '_';
            /* A row's flag may spell its own name; no other row's. */
            for (size_t k = 0; k < n_names; k++)
                if (owner[k] != i && strcmp(names[k], canon) == 0)
                    fail_msg("%s is named twice in the table", forms[f]);
            assert_true(n_names < 128);
            owner[n_names] = i;
            snprintf(names[n_names++], sizeof names[0], "%s", canon);
        }
        assert_ptr_equal(ln_option_find(o->name), o);
        assert_non_null(o->label);
        assert_non_null(o->want);
        assert_non_null(o->help);
        assert_non_null(o->engines);
        /* A CLI form, or none only for options marked API-only (none are). */
        assert_true(o->cli || o->cli_off);
        if (o->cli_off)
            assert_non_null(o->help_off);
        if (o->cli && o->type != LN_OPTION_BOOL)
            assert_non_null(o->metavar);
        /* An API field (the name) unless marked otherwise: the upload
         * takes every row without LN_OPTION_NO_API. */
        assert_true(strlen(o->name) < 24);
        if (o->flags & LN_OPTION_FRONT_END) {
            assert_null(o->get);
            assert_null(o->set);
            continue;
        }
        assert_non_null(o->get);
        assert_non_null(o->set);
        char value[64];
        ln_option_format(o, &def, value, sizeof value);
        struct ln_option_value v = {0.0, ""};
        o->get(&def, &v);
        switch (o->type) {
        case LN_OPTION_INT:
        case LN_OPTION_REAL:
            assert_true(o->min <= o->max);
            if (!ln_option_in_range(o, v.number))
                fail_msg("the default of %s, %s, is outside %g..%g", o->name, value, o->min,
                         o->max);
            /* Both ends of the range, as a client writes them, pass the
             * parser and then the check a run makes (real options are
             * stored as float: 1e-6 once became 9.99999997e-07 and failed
             * the run after the upload had accepted it). */
            for (int end = 0; end < 2; end++) {
                char text[40];
                snprintf(text, sizeof text, o->type == LN_OPTION_INT ? "%.0f" : "%g",
                         end ? o->max : o->min);
                struct ln_generate_options t = def;
                struct ln_error err = {0};
                if (ln_option_parse(o, NULL, text, &t, &err) < 0 ||
                    ln_generate_options_check(&t, &err) < 0)
                    fail_msg("%s=%s: %s", o->name, text, err.message);
            }
            break;
        case LN_OPTION_BOOL:
            assert_true(v.number == 0 || v.number == 1);
            break;
        case LN_OPTION_ENUM: {
            assert_non_null(o->choices);
            int found = 0;
            for (const char *const *c = o->choices; *c; c++) {
                struct ln_generate_options t = def;
                struct ln_error err = {0};
                char back[64];
                assert_int_equal(ln_option_parse(o, NULL, *c, &t, &err), 0);
                assert_string_equal(ln_option_format(o, &t, back, sizeof back), *c);
                found |= strcmp(*c, value) == 0;
            }
            if (!found)
                fail_msg("the default of %s, %s, is not one of its choices", o->name, value);
            break;
        }
        default:
            fail_msg("%s: a view is the front end's", o->name);
        }
        /* The default written as text and parsed again changes nothing. */
        struct ln_generate_options t = def;
        struct ln_error err = {0};
        assert_int_equal(ln_option_parse(o, NULL, value, &t, &err), 0);
        assert_memory_equal(&t, &def, sizeof t);
    }
}

/* Every flag of the table, and no other form of its options, in a help. */
static void ln__expect_every_flag(const char *help)
{
    for (size_t i = 0; i < ln_option_count; i++) {
        const struct ln_option *o = &ln_option_table[i];
        const char *forms[2] = {o->cli, o->cli_off};
        for (int f = 0; f < 2; f++) {
            if (!forms[f])
                continue;
            char flag[64];
            snprintf(flag, sizeof flag, "  --%s%s", forms[f],
                     f == 0 && o->type != LN_OPTION_BOOL ? " " : "");
            if (!strstr(help, flag))
                fail_msg("the help does not list %s", flag);
        }
    }
}

static char *ln__slurp(FILE *f)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t got;
    while ((got = fread(buf + len, 1, cap - 1 - len, f)) > 0) {
        len += got;
        assert_true(len < cap - 1);
    }
    buf[len] = 0;
    return buf;
}

static void test_help_lists_every_option(void **state)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    ln_options_help(f, LN_OPTION_GROUP_INPUT);
    ln_options_help(f, LN_OPTION_GROUP_MESH);
    rewind(f);
    char *help = ln__slurp(f);
    fclose(f);
    ln__expect_every_flag(help);
    /* Lines stay within 80 columns. */
    for (char *line = help, *end; *line; line = end + 1) {
        end = strchr(line, '\n');
        assert_non_null(end);
        assert_true(end - line <= 80);
    }
    free(help);
}

/* `lunar-nova generate --help` (the program named by LN_BIN, as ctest
 * sets it, run through LN_BIN_RUNNER when that is set) lists every flag
 * of the table. */
static void test_program_help_lists_every_option(void **state)
{
    const char *bin = getenv("LN_BIN");
    if (!bin || !*bin) {
        puts("LN_BIN is not set (ctest sets it): skipping the program's help");
        skip();
    }
    char cmd[4096];
#ifdef _WIN32
    /* popen hands the line to cmd.exe /c, which drops the outer pair of
     * quotes and keeps those around the program's path; the path with
     * backslashes, which cmd.exe reads as no switch. */
    char wbin[2048];
    snprintf(wbin, sizeof wbin, "%s", bin);
    for (char *c = wbin; *c; c++)
        if (*c == '/')
            *c = '\\';
    snprintf(cmd, sizeof cmd, "\"\"%s\" generate --help 2>&1\"", wbin);
#else
    /* A cross build runs it through its emulator, as ctest runs this test. */
    const char *runner = getenv("LN_BIN_RUNNER");
    snprintf(cmd, sizeof cmd, "%s '%s' generate --help 2>&1", runner ? runner : "", bin);
#endif
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *help = ln__slurp(p);
    int st = pclose(p);
    if (st != 0 && !strstr(help, "Usage:")) {
        /* A cross build without its emulator cannot start the program. */
        printf("%s did not run (status %d): skipping the program's help\n", bin, st);
        free(help);
        skip();
    }
    assert_int_equal(st, 0);
    ln__expect_every_flag(help);
    free(help);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sets_each_option),
        cmocka_unit_test(test_refuses_bad_values_with_the_name),
        cmocka_unit_test(test_views_and_booleans),
        cmocka_unit_test(test_table_is_consistent),
        cmocka_unit_test(test_help_lists_every_option),
        cmocka_unit_test(test_program_help_lists_every_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
