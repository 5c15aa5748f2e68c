/* Unit tests of the job record: status names, ids, and the JSON schema
 * shared by jobs.json and the HTTP API (round trip and strict parsing). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_background.h"
#include "ln_job.h"

static void test_status_names(void **state)
{
    for (int s = 0; s < LN_JOB_STATUS_COUNT; s++)
        assert_int_equal(ln_job_status_parse(ln_job_status_name((enum ln_job_status)s)), s);
    assert_string_equal(ln_job_status_name(LN_JOB_STATUS_SUCCEEDED), "succeeded");
    assert_int_equal(ln_job_status_parse("done"), -1);
    assert_int_equal(ln_job_status_parse(NULL), -1);
    assert_false(ln_job_status_is_final(LN_JOB_STATUS_QUEUED));
    assert_false(ln_job_status_is_final(LN_JOB_STATUS_RUNNING));
    assert_true(ln_job_status_is_final(LN_JOB_STATUS_SUCCEEDED));
    assert_true(ln_job_status_is_final(LN_JOB_STATUS_FAILED));
    assert_true(ln_job_status_is_final(LN_JOB_STATUS_CANCELED));
}

static void test_id_validation(void **state)
{
    assert_true(ln_job_id_valid("0123456789abcdef01234567"));
    assert_false(ln_job_id_valid("../../etc"));
    assert_false(ln_job_id_valid("../../etc/passwd/aaaaaaaa"));
    assert_false(ln_job_id_valid("0123456789ABCDEF01234567"));
    assert_false(ln_job_id_valid("0123456789abcdef0123456"));
    assert_false(ln_job_id_valid("0123456789abcdef012345678"));
    assert_false(ln_job_id_valid("0123456789abcdef0123456g"));
    assert_false(ln_job_id_valid(""));
    assert_false(ln_job_id_valid(NULL));

    char a[LN_JOB_ID_LEN + 1], b[LN_JOB_ID_LEN + 1];
    ln_job_id_new(a);
    ln_job_id_new(b);
    assert_true(ln_job_id_valid(a));
    assert_true(ln_job_id_valid(b));
    assert_string_not_equal(a, b);
}

static void ln__full_job(struct ln_job *job)
{
    memset(job, 0, sizeof *job);
    strcpy(job->id, "00112233445566778899aabb");
    job->status = LN_JOB_STATUS_FAILED;
    strcpy(job->stage, "carving");
    job->progress = 0.5;
    job->created_at = 1795741323.456;
    job->started_at = 1795741324.001;
    job->finished_at = 1795741325.999;
    job->attempts = 2;
    strcpy(job->engine, "sculpt");
    ln_generate_options_default(&job->options);
    job->options.resolution = 128;
    job->options.target_faces = 5000;
    job->options.foreground_ratio = 0.7f;
    job->options.remove_bg = 0;
    job->options.camera.projection = LN_PROJECTION_PERSPECTIVE;
    job->options.camera.ortho_size = 1.5f;
    job->options.camera.fov_deg = 35.0f;
    job->options.camera.distance = 3.0f;
    job->options.size = 2.0f;
    job->options.origin = LN_MESH_ORIGIN_BOTTOM;
    job->options.smooth_iterations = 3;
    job->options.fill_holes = 0;
    job->options.keep_main_component = 0;
    job->n_inputs = 2;
    strcpy(job->inputs[0].name, "front.png");
    strcpy(job->inputs[0].file, "input-0.png");
    strcpy(job->inputs[0].content_type, "image/png");
    job->inputs[0].bytes = 12345;
    strcpy(job->inputs[1].name, "side photo.jpg");
    strcpy(job->inputs[1].file, "input-1.jpg");
    strcpy(job->inputs[1].content_type, "image/jpeg");
    job->inputs[1].bytes = 99;
    job->has_views = 1;
    job->views[0] = (struct ln_view){0.0f, 0.0f};
    job->views[1] = (struct ln_view){90.0f, 15.5f};
    job->n_timings = 3;
    strcpy(job->timings[0].name, "decode");
    job->timings[0].seconds = 0.25;
    strcpy(job->timings[1].name, "carving");
    job->timings[1].seconds = 1.5;
    strcpy(job->timings[2].name, "total");
    job->timings[2].seconds = 1.75;
    job->has_mesh = 1;
    job->mesh.n_vertices = 1000;
    job->mesh.n_faces = 1996;
    job->mesh.bbox_min[0] = -0.5f;
    job->mesh.bbox_min[1] = -0.25f;
    job->mesh.bbox_min[2] = -0.125f;
    job->mesh.bbox_max[0] = 0.5f;
    job->mesh.bbox_max[1] = 0.25f;
    job->mesh.bbox_max[2] = 0.125f;
    job->mesh.watertight = 1;
    job->mesh.n_components = 1;
    job->options.texture_size = 2048;
    job->options.texture_jpeg = 1;
    job->texture_size = 2048;
    job->texture_charts = 87;
    job->n_warnings = 2;
    strcpy(job->warnings[0], "view 2 contradicts the others");
    strcpy(job->warnings[1], "second warning");
    job->error_code = LN_EUNUSABLE;
    strcpy(job->error, "no foreground was found");
    strcpy(job->idempotency_key, "key-42");
    strcpy(job->background, "alpha, u2net");
    strcpy(job->device, "vulkan:1 (AMD Radeon RX 7900 XTX (RADV NAVI31))");
}

static void test_json_round_trip(void **state)
{
    struct ln_job job, back;
    ln__full_job(&job);
    json_t *j = ln_job_to_json(&job);
    assert_non_null(j);

    /* The schema's spelling. */
    assert_string_equal(json_string_value(json_object_get(j, "status")), "failed");
    assert_string_equal(json_string_value(json_object_get(j, "created_at")),
                        "2026-11-27T01:02:03.456Z");
    json_t *opt = json_object_get(j, "options");
    assert_int_equal(json_integer_value(json_object_get(opt, "faces")), 5000);
    assert_near(json_real_value(json_object_get(opt, "foreground_ratio")), 0.7, 1e-12);
    assert_string_equal(json_string_value(json_object_get(opt, "remove_bg")), "off");
    assert_string_equal(json_string_value(json_object_get(j, "background")), "alpha, u2net");
    assert_true(json_is_true(json_object_get(opt, "keep_floaters")));
    assert_true(json_is_false(json_object_get(opt, "fill_holes")));
    assert_string_equal(json_string_value(json_object_get(opt, "projection")), "perspective");
    assert_string_equal(json_string_value(json_object_get(opt, "origin")), "bottom");
    json_t *e = json_object_get(j, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "EUNUSABLE");
    assert_near(json_number_value(json_object_get(json_object_get(j, "timings"), "total")),
                1.75, 1e-12);

    /* Through text, as jobs.json stores it. */
    char *text = json_dumps(j, 0);
    json_t *parsed = json_loads(text, 0, NULL);
    struct ln_error err = {0};
    assert_int_equal(ln_job_from_json(parsed, &back, &err), LN_OK);
    json_t *j2 = ln_job_to_json(&back);
    assert_true(json_equal(j, j2));

    assert_string_equal(back.id, job.id);
    assert_int_equal(back.status, job.status);
    assert_near(back.created_at, job.created_at, 1e-3);
    assert_near(back.started_at, job.started_at, 1e-3);
    assert_near(back.finished_at, job.finished_at, 1e-3);
    assert_int_equal(back.attempts, 2);
    assert_int_equal(back.options.resolution, 128);
    assert_int_equal(back.options.target_faces, 5000);
    assert_true(back.options.foreground_ratio == job.options.foreground_ratio);
    assert_int_equal(back.options.camera.projection, LN_PROJECTION_PERSPECTIVE);
    assert_int_equal(back.options.origin, LN_MESH_ORIGIN_BOTTOM);
    assert_int_equal(back.options.keep_main_component, 0);
    assert_int_equal(back.options.fill_holes, 0);
    assert_int_equal(back.n_inputs, 2);
    assert_string_equal(back.inputs[1].name, "side photo.jpg");
    assert_int_equal(back.inputs[0].bytes, 12345);
    assert_true(back.has_views);
    assert_true(back.views[1].elevation == 15.5f);
    assert_int_equal(back.n_timings, 3);
    assert_string_equal(back.timings[2].name, "total");
    assert_int_equal(back.mesh.n_faces, 1996);
    assert_true(back.mesh.bbox_max[2] == 0.125f);
    /* what was asked for, and what was baked */
    assert_int_equal(json_integer_value(json_object_get(opt, "texture")), 2048);
    assert_string_equal(json_string_value(json_object_get(opt, "texture_format")), "jpeg");
    json_t *tex = json_object_get(json_object_get(j, "mesh"), "texture");
    assert_int_equal(json_integer_value(json_object_get(tex, "size")), 2048);
    assert_string_equal(json_string_value(json_object_get(tex, "format")), "jpeg");
    assert_int_equal(back.options.texture_size, 2048);
    assert_int_equal(back.options.texture_jpeg, 1);
    assert_int_equal(back.texture_size, 2048);
    assert_int_equal(back.texture_charts, 87);
    assert_int_equal(back.n_warnings, 2);
    assert_int_equal(back.error_code, LN_EUNUSABLE);
    assert_string_equal(back.error, "no foreground was found");
    assert_string_equal(back.idempotency_key, "key-42");
    assert_string_equal(json_string_value(json_object_get(j, "device")),
                        "vulkan:1 (AMD Radeon RX 7900 XTX (RADV NAVI31))");
    assert_string_equal(back.device, job.device);

    free(text);
    json_decref(parsed);
    json_decref(j);
    json_decref(j2);
}

/* Records of earlier versions hold remove_bg as a boolean: true is auto,
 * false is off; the mode names are read as they are. */
static void test_remove_bg_forms(void **state)
{
    struct ln_job job, back;
    ln__full_job(&job);
    static const struct {
        json_t *(*make)(void);
        int want;
    } forms[] = {{json_true, LN_REMOVE_BG_AUTO}, {json_false, LN_REMOVE_BG_OFF}};
    for (size_t k = 0; k < 2; k++) {
        json_t *j = ln_job_to_json(&job);
        json_object_set_new(json_object_get(j, "options"), "remove_bg", forms[k].make());
        struct ln_error err = {0};
        assert_int_equal(ln_job_from_json(j, &back, &err), LN_OK);
        assert_int_equal(back.options.remove_bg, forms[k].want);
        json_decref(j);
    }
    const char *names[] = {"auto", "model", "classic", "off"};
    const int modes[] = {LN_REMOVE_BG_AUTO, LN_REMOVE_BG_MODEL, LN_REMOVE_BG_CLASSIC,
                         LN_REMOVE_BG_OFF};
    for (size_t k = 0; k < 4; k++) {
        job.options.remove_bg = modes[k];
        json_t *j = ln_job_to_json(&job);
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(j, "options"), "remove_bg")),
            names[k]);
        struct ln_error err = {0};
        assert_int_equal(ln_job_from_json(j, &back, &err), LN_OK);
        assert_int_equal(back.options.remove_bg, modes[k]);
        json_decref(j);
    }
}

/* Records of earlier versions may hold fill_holes as the largest hole
 * closed, an integer: it is kept as it is, and 0 is off. */
static void test_fill_holes_as_size(void **state)
{
    struct ln_job job, back;
    ln__full_job(&job);
    const int sizes[] = {50, 0};
    for (size_t k = 0; k < 2; k++) {
        json_t *j = ln_job_to_json(&job);
        json_object_set_new(json_object_get(j, "options"), "fill_holes", json_integer(sizes[k]));
        struct ln_error err = {0};
        assert_int_equal(ln_job_from_json(j, &back, &err), LN_OK);
        assert_int_equal(back.options.fill_holes, sizes[k]);
        json_decref(j);
    }
}

static void test_json_unset_times_are_null(void **state)
{
    struct ln_job job, back;
    ln__full_job(&job);
    job.status = LN_JOB_STATUS_QUEUED;
    job.started_at = job.finished_at = 0;
    job.error_code = LN_OK;
    job.has_mesh = 0;
    job.has_views = 0;
    job.idempotency_key[0] = 0;
    json_t *j = ln_job_to_json(&job);
    assert_true(json_is_null(json_object_get(j, "started_at")));
    assert_true(json_is_null(json_object_get(j, "finished_at")));
    assert_null(json_object_get(j, "error"));
    assert_null(json_object_get(j, "views"));
    assert_null(json_object_get(j, "idempotency_key"));
    struct ln_error err = {0};
    assert_int_equal(ln_job_from_json(j, &back, &err), LN_OK);
    assert_true(back.started_at == 0.0 && back.finished_at == 0.0);
    assert_false(back.has_views);
    assert_false(back.has_mesh);
    json_decref(j);
}

/* Replaces (or with val NULL removes) one field of a serialised full job,
 * then expects LN_EFORMAT with a message naming `named`. */
static void ln__expect_bad(const char *parent, const char *field, json_t *val, const char *named)
{
    struct ln_job job, back;
    ln__full_job(&job);
    json_t *j = ln_job_to_json(&job);
    json_t *obj = parent ? json_object_get(j, parent) : j;
    if (json_is_array(obj))
        obj = json_array_get(obj, 0);
    if (val)
        json_object_set_new(obj, field, val);
    else
        json_object_del(obj, field);
    struct ln_error err = {0};
    int rc = ln_job_from_json(j, &back, &err);
    if (rc != LN_EFORMAT || !strstr(err.message, named))
        fail_msg("%s.%s: rc %d, message \"%s\" does not name %s", parent ? parent : "", field,
                 rc, err.message, named);
    json_decref(j);
}

/* A record written before the texture and photo-consistency options
 * existed has none of them: it reads with their defaults. */
static void test_record_of_an_earlier_version(void **state)
{
    (void)state;
    struct ln_job job, back;
    ln__full_job(&job);
    json_t *j = ln_job_to_json(&job);
    json_t *opt = json_object_get(j, "options");
    assert_non_null(json_object_get(opt, "photo_consistency"));
    json_object_del(opt, "texture");
    json_object_del(opt, "texture_format");
    json_object_del(opt, "photo_consistency");
    json_object_del(j, "device"); /* before the Vulkan backend */
    struct ln_error err = {0};
    assert_int_equal(ln_job_from_json(j, &back, &err), LN_OK);
    assert_string_equal(back.device, "");
    assert_int_equal(back.options.texture_size, 0);
    assert_int_equal(back.options.texture_jpeg, 0);
    assert_int_equal(back.options.photo_consistency, 1);
    assert_int_equal(back.options.resolution, 128);
    json_decref(j);
}

static void test_json_rejects_bad_fields(void **state)
{
    ln__expect_bad(NULL, "id", NULL, "\"id\"");
    ln__expect_bad(NULL, "id", json_string("../../etc"), "\"id\"");
    ln__expect_bad(NULL, "id", json_integer(5), "\"id\"");
    ln__expect_bad(NULL, "status", json_string("done"), "\"status\"");
    ln__expect_bad(NULL, "status", NULL, "\"status\"");
    ln__expect_bad(NULL, "created_at", NULL, "\"created_at\"");
    ln__expect_bad(NULL, "created_at", json_string("yesterday"), "\"created_at\"");
    ln__expect_bad(NULL, "started_at", json_integer(17), "\"started_at\"");
    ln__expect_bad(NULL, "progress", json_string("half"), "\"progress\"");
    ln__expect_bad(NULL, "progress", json_real(1.5), "\"progress\"");
    ln__expect_bad(NULL, "attempts", json_real(1.5), "\"attempts\"");
    ln__expect_bad(NULL, "engine", json_true(), "\"engine\"");
    ln__expect_bad(NULL, "inputs", NULL, "\"inputs\"");
    ln__expect_bad(NULL, "inputs", json_object(), "\"inputs\"");
    ln__expect_bad(NULL, "inputs", json_array(), "\"inputs\"");
    ln__expect_bad("inputs", "file", json_string("../../etc/passwd"), "\"file\"");
    ln__expect_bad("inputs", "bytes", json_string("12"), "\"bytes\"");
    ln__expect_bad("inputs", "name", NULL, "\"name\"");
    ln__expect_bad(NULL, "options", NULL, "\"options\"");
    ln__expect_bad(NULL, "options", json_array(), "\"options\"");
    ln__expect_bad("options", "resolution", json_string("256"), "\"resolution\"");
    ln__expect_bad("options", "remove_bg", json_integer(1), "\"remove_bg\"");
    ln__expect_bad("options", "projection", json_string("fisheye"), "\"projection\"");
    ln__expect_bad("options", "origin", NULL, "\"origin\"");
    ln__expect_bad("options", "faces", json_integer(-1), "\"faces\"");
    /* The option table's ranges and types hold on read too: the upload
     * refuses these, so a record holding them was edited or damaged. */
    ln__expect_bad("options", "resolution", json_integer(513), "\"resolution\"");
    ln__expect_bad("options", "faces", json_integer(3), "\"faces\"");
    ln__expect_bad("options", "foreground_ratio", json_real(1.5), "\"foreground_ratio\"");
    ln__expect_bad("options", "size", json_string("1"), "\"size\"");
    ln__expect_bad("options", "keep_floaters", json_string("yes"), "\"keep_floaters\"");
    ln__expect_bad("options", "fill_holes", json_integer(-2), "\"fill_holes\"");
    ln__expect_bad(NULL, "views", json_string("0,0"), "\"views\"");
    ln__expect_bad(NULL, "timings", json_array(), "\"timings\"");
    ln__expect_bad(NULL, "mesh", json_integer(3), "\"mesh\"");
    ln__expect_bad("mesh", "bbox_min", json_pack("[f,f]", 0.0, 1.0), "\"bbox_min\"");
    /* Beyond float range: stored as float it would become inf, which the
     * job's JSON could not hold when written back. */
    ln__expect_bad("mesh", "bbox_max", json_pack("[f,f,f]", 0.0, 1.0, -2.8e72), "\"bbox_max\"");
    ln__expect_bad("options", "texture", json_integer(32), "\"texture\"");
    ln__expect_bad("mesh", "texture", json_string("big"), "\"texture\"");
    ln__expect_bad("options", "texture_format", json_string("tiff"), "\"texture_format\"");
    ln__expect_bad(NULL, "warnings", json_string("w"), "\"warnings\"");
    ln__expect_bad(NULL, "device", json_integer(0), "\"device\"");
    char long_name[LN_JOB_DEVICE_MAX + 1];
    memset(long_name, 'x', LN_JOB_DEVICE_MAX);
    long_name[LN_JOB_DEVICE_MAX] = 0;
    ln__expect_bad(NULL, "device", json_string(long_name), "\"device\"");
    ln__expect_bad(NULL, "error", json_string("boom"), "\"error\"");
    ln__expect_bad(NULL, "idempotency_key", json_integer(7), "\"idempotency_key\"");

    struct ln_job back;
    struct ln_error err = {0};
    json_t *arr = json_array();
    assert_int_equal(ln_job_from_json(arr, &back, &err), LN_EFORMAT);
    json_decref(arr);
}

/* A new run starts with no device (ln_job_run names it once the engine
 * is chosen): an earlier attempt's is not left in the record. The device
 * travels with the rest of a run's report. */
static void test_device_of_a_run(void **state)
{
    (void)state;
    struct ln_job job, copy;
    ln__full_job(&job);
    ln_job_set_started(&job, 3, 1.8e9);
    assert_string_equal(job.device, "");
    json_t *j = ln_job_to_json(&job);
    assert_null(json_object_get(j, "device"));
    json_decref(j);
    assert_int_equal(job.status, LN_JOB_STATUS_RUNNING);
    assert_int_equal(job.attempts, 3);
    ln__full_job(&copy);
    ln_job_set_started(&job, 4, 1.8e9);
    ln_job_copy_report(&job, &copy);
    assert_string_equal(job.device, copy.device);
}

static void test_set_report(void **state)
{
    struct ln_generate_report rep;
    memset(&rep, 0, sizeof rep);
    rep.engine = "sculpt";
    ln_report_stage(&rep, "inflate", 0.5);
    ln_report_stage(&rep, "smoothing", 0.25);
    rep.total_seconds = 0.8;
    rep.stats.n_vertices = 10;
    rep.stats.n_faces = 16;
    rep.stats.watertight = 1;
    snprintf(rep.warnings[0], sizeof rep.warnings[0], "a warning");
    rep.n_warnings = 1;
    struct ln_job job;
    memset(&job, 0, sizeof job);
    ln_job_set_report(&job, &rep);
    assert_string_equal(job.engine, "sculpt");
    assert_int_equal(job.n_timings, 3);
    assert_string_equal(job.timings[0].name, "inflate");
    assert_string_equal(job.timings[2].name, "total");
    assert_near(job.timings[2].seconds, 0.8, 1e-12);
    assert_true(job.has_mesh);
    assert_int_equal(job.mesh.n_faces, 16);
    assert_int_equal(job.n_warnings, 1);
    assert_string_equal(job.warnings[0], "a warning");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_id_validation),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_remove_bg_forms),
        cmocka_unit_test(test_fill_holes_as_size),
        cmocka_unit_test(test_json_unset_times_are_null),
        cmocka_unit_test(test_json_rejects_bad_fields),
        cmocka_unit_test(test_device_of_a_run),
        cmocka_unit_test(test_set_report),
        cmocka_unit_test(test_record_of_an_earlier_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
