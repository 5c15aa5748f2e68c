/*
 * The job record as JSON: one schema for outputs/jobs.json and for the HTTP
 * API (see ln_job.h). Parsing is strict about types and sizes because the
 * file can be edited by hand or damaged, and its values become folder and
 * file names; a bad field is reported by name so the log says what is wrong.
 */
#include "ln_job.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ln_background.h"
#include "ln_log.h"
#include "ln_options.h"
#include "ln_sys.h"
#include "ln_time.h"

static const char *const ln__status_names[LN_JOB_STATUS_COUNT] = {
    "queued", "running", "succeeded", "failed", "canceled",
};

const char *ln_job_status_name(enum ln_job_status s)
{
    if ((int)s < 0 || s >= LN_JOB_STATUS_COUNT)
        return "unknown";
    return ln__status_names[s];
}

int ln_job_status_parse(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < LN_JOB_STATUS_COUNT; i++)
        if (strcmp(name, ln__status_names[i]) == 0)
            return i;
    return -1;
}

int ln_job_status_is_final(enum ln_job_status s)
{
    return s == LN_JOB_STATUS_SUCCEEDED || s == LN_JOB_STATUS_FAILED ||
           s == LN_JOB_STATUS_CANCELED;
}

int ln_job_id_valid(const char *id)
{
    if (!id)
        return 0;
    size_t i = 0;
    for (; id[i]; i++) {
        if (i >= LN_JOB_ID_LEN)
            return 0;
        char c = id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return i == LN_JOB_ID_LEN;
}

/* splitmix64, only for the fallback below. */
static uint64_t ln__mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void ln_job_id_new(char id[LN_JOB_ID_LEN + 1])
{
    unsigned char raw[LN_JOB_ID_LEN / 2];
    int have = ln_random_bytes(raw, sizeof raw, NULL) == 0;
    if (!have) {
        /* No system randomness (a chroot without /dev, say): ids need to
         * be unique, not secret, so the clock, the process and a counter
         * will do. */
        static atomic_uint_fast64_t counter;
        uint64_t c = atomic_fetch_add(&counter, 1);
        uint64_t a = ln__mix64((uint64_t)(ln_time_wall() * 1e6) ^ ((uint64_t)ln_sys_pid() << 40));
        uint64_t b = ln__mix64(a ^ c ^ (uint64_t)(ln_time_now() * 1e9));
        for (size_t i = 0; i < sizeof raw; i++)
            raw[i] = (unsigned char)(i < 8 ? a >> (8 * i) : b >> (8 * (i - 8)));
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof raw; i++) {
        id[2 * i] = hex[raw[i] >> 4];
        id[2 * i + 1] = hex[raw[i] & 15];
    }
    id[LN_JOB_ID_LEN] = 0;
}

/* ---- times: ISO-8601 UTC with milliseconds, null when not set ---- */

static json_t *ln__time_json(double t)
{
    if (!(t > 0.0) || !isfinite(t))
        return json_null();
    double whole = floor(t);
    int ms = (int)llround((t - whole) * 1000.0);
    int64_t s = (int64_t)whole;
    if (ms >= 1000) {
        ms -= 1000;
        s += 1;
    }
    struct tm tm;
    if (ln_time_utc(s, &tm) < 0)
        return json_null();
    char buf[80];
    snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    return json_string(buf);
}

/* Parses "YYYY-MM-DDTHH:MM:SS[.fff]Z"; returns 0 or -1. */
static int ln__time_parse(const char *s, double *out)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
        return -1;
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        sec > 60 || h < 0 || mi < 0 || sec < 0)
        return -1;
    const char *p = s + n;
    double frac = 0.0, scale = 0.1;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9') {
            frac += (*p - '0') * scale;
            scale /= 10.0;
            p++;
        }
    }
    if (p[0] != 'Z' || p[1] != 0)
        return -1;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    int64_t t;
    if (ln_time_from_utc(&tm, &t) < 0)
        return -1;
    *out = (double)t + frac;
    return 0;
}

/* Options hold floats; printing them through 7 significant digits keeps
 * 0.85f as 0.85 in the file instead of 0.8500000238. */
static json_t *ln__float_json(float f)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%.7g", (double)f);
    return json_real(strtod(buf, NULL));
}

/* ---- serialisation ---- */

/* The options object: one member per row of the option table, typed as
 * the table says. */
static json_t *ln__options_json(const struct ln_generate_options *o)
{
    json_t *j = json_object();
    for (size_t i = 0; i < ln_option_count; i++) {
        const struct ln_option *row = &ln_option_table[i];
        if (!row->get || (row->flags & LN_OPTION_NO_RECORD))
            continue;
        struct ln_option_value v = {0.0, ""};
        row->get(o, &v);
        json_t *x;
        switch (row->type) {
        case LN_OPTION_INT:
            x = json_integer((json_int_t)v.number);
            break;
        case LN_OPTION_REAL:
            x = ln__float_json((float)v.number);
            break;
        case LN_OPTION_BOOL:
            x = json_boolean(v.number != 0);
            break;
        default:
            x = json_string(v.word ? v.word : "");
            break;
        }
        json_object_set_new(j, row->name, x);
    }
    return j;
}

json_t *ln_job_to_json(const struct ln_job *job)
{
    json_t *j = json_object();
    json_object_set_new(j, "id", json_string(job->id));
    json_object_set_new(j, "status", json_string(ln_job_status_name(job->status)));
    json_object_set_new(j, "stage", json_string(job->stage));
    json_object_set_new(j, "progress", json_real(job->progress));
    json_object_set_new(j, "created_at", ln__time_json(job->created_at));
    json_object_set_new(j, "started_at", ln__time_json(job->started_at));
    json_object_set_new(j, "finished_at", ln__time_json(job->finished_at));
    json_object_set_new(j, "engine", json_string(job->engine));
    json_object_set_new(j, "attempts", json_integer(job->attempts));

    json_t *inputs = json_array();
    for (int i = 0; i < job->n_inputs; i++) {
        const struct ln_job_input *in = &job->inputs[i];
        json_array_append_new(inputs, json_pack("{s:s, s:s, s:s, s:I}", "name", in->name, "file",
                                                in->file, "content_type", in->content_type,
                                                "bytes", (json_int_t)in->bytes));
    }
    json_object_set_new(j, "inputs", inputs);

    if (job->has_views) {
        json_t *views = json_array();
        for (int i = 0; i < job->n_inputs; i++) {
            json_t *v = json_object();
            json_object_set_new(v, "azimuth", ln__float_json(job->views[i].azimuth));
            json_object_set_new(v, "elevation", ln__float_json(job->views[i].elevation));
            json_array_append_new(views, v);
        }
        json_object_set_new(j, "views", views);
    }

    json_object_set_new(j, "options", ln__options_json(&job->options));

    json_t *timings = json_object();
    for (int i = 0; i < job->n_timings; i++)
        json_object_set_new(timings, job->timings[i].name, json_real(job->timings[i].seconds));
    json_object_set_new(j, "timings", timings);

    if (job->has_mesh) {
        const struct ln_mesh_stats *m = &job->mesh;
        json_object_set_new(
            j, "mesh",
            json_pack("{s:I, s:I, s:[o,o,o], s:[o,o,o], s:b, s:I}", "vertices",
                      (json_int_t)m->n_vertices, "faces", (json_int_t)m->n_faces, "bbox_min",
                      ln__float_json(m->bbox_min[0]), ln__float_json(m->bbox_min[1]),
                      ln__float_json(m->bbox_min[2]), "bbox_max", ln__float_json(m->bbox_max[0]),
                      ln__float_json(m->bbox_max[1]), ln__float_json(m->bbox_max[2]),
                      "watertight", m->watertight, "components", (json_int_t)m->n_components));
        if (job->texture_size > 0)
            json_object_set_new(json_object_get(j, "mesh"), "texture",
                                json_pack("{s:i, s:s, s:I}", "size", job->texture_size, "format",
                                          job->options.texture_jpeg ? "jpeg" : "png", "charts",
                                          (json_int_t)job->texture_charts));
    } else {
        json_object_set_new(j, "mesh", json_null());
    }

    json_t *warnings = json_array();
    for (int i = 0; i < job->n_warnings; i++)
        json_array_append_new(warnings, json_string(job->warnings[i]));
    json_object_set_new(j, "warnings", warnings);
    if (job->background[0])
        json_object_set_new(j, "background", json_string(job->background));
    if (job->device[0])
        json_object_set_new(j, "device", json_string(job->device));

    if (job->error_code != LN_OK)
        json_object_set_new(j, "error", json_pack("{s:s, s:s}", "code",
                                                  ln_status_name(job->error_code), "message",
                                                  job->error));
    if (job->idempotency_key[0])
        json_object_set_new(j, "idempotency_key", json_string(job->idempotency_key));
    return j;
}

/* ---- parsing ---- */

static int ln__bad(struct ln_error *err, const char *field, const char *what)
{
    return ln_error_set(err, LN_EFORMAT, "job field \"%s\" %s", field, what);
}

/* The member `key` of obj; 0 with *out NULL when absent and optional. */
static int ln__member(const json_t *obj, const char *key, int required, json_t **out,
                      struct ln_error *err)
{
    *out = json_object_get(obj, key);
    if (!*out && required)
        return ln__bad(err, key, "is missing");
    return LN_OK;
}

static int ln__get_string(const json_t *obj, const char *key, int required, char *dst,
                          size_t cap, struct ln_error *err)
{
    json_t *v;
    int rc = ln__member(obj, key, required, &v, err);
    if (rc < 0 || !v)
        return rc;
    if (!json_is_string(v))
        return ln__bad(err, key, "is not a string");
    if (json_string_length(v) >= cap || strlen(json_string_value(v)) != json_string_length(v))
        return ln__bad(err, key, "is too long or holds a NUL character");
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return LN_OK;
}

static int ln__get_number(const json_t *obj, const char *key, int required, double lo, double hi,
                          double *dst, struct ln_error *err)
{
    json_t *v;
    int rc = ln__member(obj, key, required, &v, err);
    if (rc < 0 || !v)
        return rc;
    if (!json_is_number(v))
        return ln__bad(err, key, "is not a number");
    double d = json_number_value(v);
    if (!isfinite(d) || d < lo || d > hi)
        return ln__bad(err, key, "is out of range");
    *dst = d;
    return LN_OK;
}

static int ln__get_float(const json_t *obj, const char *key, int required, double lo, double hi,
                         float *dst, struct ln_error *err)
{
    double d = *dst;
    /* Stored as float: nothing beyond float range (it would become inf). */
    int rc = ln__get_number(obj, key, required, lo > -FLT_MAX ? lo : -FLT_MAX,
                            hi < FLT_MAX ? hi : FLT_MAX, &d, err);
    *dst = (float)d;
    return rc;
}

static int ln__get_int(const json_t *obj, const char *key, int required, json_int_t lo,
                       json_int_t hi, json_int_t *dst, struct ln_error *err)
{
    json_t *v;
    int rc = ln__member(obj, key, required, &v, err);
    if (rc < 0 || !v)
        return rc;
    if (!json_is_integer(v))
        return ln__bad(err, key, "is not an integer");
    json_int_t i = json_integer_value(v);
    if (i < lo || i > hi)
        return ln__bad(err, key, "is out of range");
    *dst = i;
    return LN_OK;
}

static int ln__get_bool(const json_t *obj, const char *key, int required, int *dst,
                        struct ln_error *err)
{
    json_t *v;
    int rc = ln__member(obj, key, required, &v, err);
    if (rc < 0 || !v)
        return rc;
    if (!json_is_boolean(v))
        return ln__bad(err, key, "is not true or false");
    *dst = json_is_true(v);
    return LN_OK;
}

static int ln__get_time(const json_t *obj, const char *key, int required, double *dst,
                        struct ln_error *err)
{
    json_t *v;
    int rc = ln__member(obj, key, required, &v, err);
    if (rc < 0)
        return rc;
    *dst = 0.0;
    if (!v || json_is_null(v)) {
        if (required)
            return ln__bad(err, key, "is not set");
        return LN_OK;
    }
    if (!json_is_string(v) || ln__time_parse(json_string_value(v), dst) < 0)
        return ln__bad(err, key, "is not an ISO-8601 UTC time such as 2026-11-27T01:02:03.456Z");
    return LN_OK;
}

/* Stored input names become paths inside the job folder: only
 * input-<n>.<png|jpg|webp> is accepted. */
int ln_job_input_name_valid(const char *f)
{
    if (strncmp(f, "input-", 6) != 0)
        return 0;
    const char *p = f + 6;
    if (*p < '0' || *p > '9')
        return 0;
    while (*p >= '0' && *p <= '9')
        p++;
    return strcmp(p, ".png") == 0 || strcmp(p, ".jpg") == 0 || strcmp(p, ".webp") == 0;
}

/* One row of the option table out of the record's options object, with
 * the table's type and range: a number, a switch, a name. Records of
 * earlier versions hold remove_bg as true/false and fill_holes as the
 * largest hole (an integer); both are still read. */
static int ln__option_from_json(const json_t *o, const struct ln_option *row,
                                struct ln_generate_options *opt, struct ln_error *err)
{
    json_t *v;
    int rc = ln__member(o, row->name, !(row->flags & LN_OPTION_RECORD_LATER), &v, err);
    if (rc < 0 || !v)
        return rc; /* absent and optional: the default stays */
    struct ln_option_value val = {0.0, NULL};
    switch (row->type) {
    case LN_OPTION_INT:
        if (!json_is_integer(v))
            return ln__bad(err, row->name, "is not an integer");
        val.number = (double)json_integer_value(v);
        if (!ln_option_in_range(row, val.number))
            return ln__bad(err, row->name, "is out of range");
        break;
    case LN_OPTION_REAL:
        if (!json_is_number(v))
            return ln__bad(err, row->name, "is not a number");
        val.number = json_number_value(v);
        if (!ln_option_in_range(row, val.number))
            return ln__bad(err, row->name, "is out of range");
        break;
    case LN_OPTION_BOOL:
        if (json_is_boolean(v))
            val.number = json_is_true(v);
        else if (json_is_integer(v) && json_integer_value(v) >= 0 &&
                 json_integer_value(v) <= 1000000)
            val.number = (double)json_integer_value(v);
        else
            return ln__bad(err, row->name, "is not true or false");
        break;
    default:
        if (json_is_boolean(v))
            val.word = json_is_true(v) ? "true" : "false";
        else if (json_is_string(v))
            val.word = json_string_value(v);
        else
            return ln__bad(err, row->name, "is not a string");
        break;
    }
    if (row->set(opt, &val) < 0)
        return ln_error_set(err, LN_EFORMAT, "job field \"%s\" is not %s", row->name, row->want);
    return LN_OK;
}

static int ln__options_from_json(const json_t *o, struct ln_generate_options *opt,
                                 struct ln_error *err)
{
    ln_generate_options_default(opt);
    for (size_t i = 0; i < ln_option_count; i++) {
        const struct ln_option *row = &ln_option_table[i];
        if (!row->set || (row->flags & LN_OPTION_NO_RECORD))
            continue;
        int rc = ln__option_from_json(o, row, opt, err);
        if (rc < 0)
            return rc;
    }
    return LN_OK;
}

static int ln__inputs_from_json(const json_t *obj, struct ln_job *job, struct ln_error *err)
{
    json_t *arr = json_object_get(obj, "inputs");
    if (!arr)
        return ln__bad(err, "inputs", "is missing");
    if (!json_is_array(arr))
        return ln__bad(err, "inputs", "is not an array");
    size_t n = json_array_size(arr);
    if (n < 1 || n > LN_MAX_VIEWS)
        return ln__bad(err, "inputs", "does not hold 1 to 8 images");
    job->n_inputs = (int)n;
    for (size_t k = 0; k < n; k++) {
        json_t *e = json_array_get(arr, k);
        struct ln_job_input *in = &job->inputs[k];
        int rc;
        json_int_t bytes = 0;
        if (!json_is_object(e))
            return ln__bad(err, "inputs", "holds an entry that is not an object");
        if ((rc = ln__get_string(e, "name", 1, in->name, sizeof in->name, err)) < 0 ||
            (rc = ln__get_string(e, "file", 1, in->file, sizeof in->file, err)) < 0 ||
            (rc = ln__get_string(e, "content_type", 1, in->content_type,
                                 sizeof in->content_type, err)) < 0 ||
            (rc = ln__get_int(e, "bytes", 1, 0, INT64_MAX, &bytes, err)) < 0)
            return ln_error_prefix(err, "input %zu", k);
        if (!ln_job_input_name_valid(in->file))
            return ln__bad(err, "file", "is not input-<n>.<png|jpg|webp>");
        in->bytes = (uint64_t)bytes;
    }
    return LN_OK;
}

static int ln__views_from_json(const json_t *obj, struct ln_job *job, struct ln_error *err)
{
    json_t *arr = json_object_get(obj, "views");
    if (!arr || json_is_null(arr))
        return LN_OK;
    if (!json_is_array(arr))
        return ln__bad(err, "views", "is not an array");
    if ((int)json_array_size(arr) != job->n_inputs)
        return ln__bad(err, "views", "does not hold one view per input");
    job->has_views = 1;
    for (int k = 0; k < job->n_inputs; k++) {
        json_t *e = json_array_get(arr, (size_t)k);
        int rc;
        if (!json_is_object(e))
            return ln__bad(err, "views", "holds an entry that is not an object");
        if ((rc = ln__get_float(e, "azimuth", 1, -1e6, 1e6, &job->views[k].azimuth, err)) < 0 ||
            (rc = ln__get_float(e, "elevation", 1, -1e6, 1e6, &job->views[k].elevation, err)) <
                0)
            return rc;
    }
    return LN_OK;
}

static int ln__mesh_from_json(const json_t *obj, struct ln_job *job, struct ln_error *err)
{
    json_t *m = json_object_get(obj, "mesh");
    if (!m || json_is_null(m))
        return LN_OK;
    if (!json_is_object(m))
        return ln__bad(err, "mesh", "is not an object");
    json_int_t v = 0, f = 0, c = 0;
    int rc, wt = 0;
    if ((rc = ln__get_int(m, "vertices", 1, 0, INT64_MAX, &v, err)) < 0 ||
        (rc = ln__get_int(m, "faces", 1, 0, INT64_MAX, &f, err)) < 0 ||
        (rc = ln__get_bool(m, "watertight", 1, &wt, err)) < 0 ||
        (rc = ln__get_int(m, "components", 0, 0, INT64_MAX, &c, err)) < 0)
        return rc;
    const char *names[2] = {"bbox_min", "bbox_max"};
    float *dst[2] = {job->mesh.bbox_min, job->mesh.bbox_max};
    for (int b = 0; b < 2; b++) {
        json_t *a = json_object_get(m, names[b]);
        if (!a)
            return ln__bad(err, names[b], "is missing");
        if (!json_is_array(a) || json_array_size(a) != 3)
            return ln__bad(err, names[b], "is not an array of three numbers");
        for (size_t k = 0; k < 3; k++) {
            json_t *x = json_array_get(a, k);
            if (!json_is_number(x) || !(fabs(json_number_value(x)) <= FLT_MAX))
                return ln__bad(err, names[b], "is not an array of three numbers");
            dst[b][k] = (float)json_number_value(x);
        }
    }
    job->has_mesh = 1;
    job->mesh.n_vertices = (size_t)v;
    job->mesh.n_faces = (size_t)f;
    job->mesh.watertight = wt;
    job->mesh.n_components = (size_t)c;
    json_t *tex = json_object_get(m, "texture");
    if (tex) {
        json_int_t size = 0, charts = 0;
        if (!json_is_object(tex))
            return ln__bad(err, "texture", "is not an object");
        if ((rc = ln__get_int(tex, "size", 1, 64, 8192, &size, err)) < 0 ||
            (rc = ln__get_int(tex, "charts", 0, 0, INT64_MAX, &charts, err)) < 0)
            return rc;
        job->texture_size = (int)size;
        job->texture_charts = (size_t)charts;
    }
    return LN_OK;
}

static int ln__report_from_json(const json_t *obj, struct ln_job *job, struct ln_error *err)
{
    json_t *t = json_object_get(obj, "timings");
    if (t && !json_is_null(t)) {
        if (!json_is_object(t))
            return ln__bad(err, "timings", "is not an object");
        const char *key;
        json_t *val;
        json_object_foreach(t, key, val)
        {
            if (!json_is_number(val) || !isfinite(json_number_value(val)))
                return ln__bad(err, "timings", "holds a value that is not a number");
            if (job->n_timings == LN_JOB_MAX_TIMINGS ||
                strlen(key) >= sizeof job->timings[0].name)
                return ln__bad(err, "timings", "holds too many or too long entries");
            strcpy(job->timings[job->n_timings].name, key);
            job->timings[job->n_timings++].seconds = json_number_value(val);
        }
    }
    json_t *w = json_object_get(obj, "warnings");
    if (w && !json_is_null(w)) {
        if (!json_is_array(w) || json_array_size(w) > LN_REPORT_MAX_WARNINGS)
            return ln__bad(err, "warnings", "is not an array of at most 8 strings");
        for (size_t k = 0; k < json_array_size(w); k++) {
            json_t *s = json_array_get(w, k);
            if (!json_is_string(s))
                return ln__bad(err, "warnings", "holds a value that is not a string");
            snprintf(job->warnings[k], sizeof job->warnings[k], "%s", json_string_value(s));
            job->n_warnings++;
        }
    }
    int brc = ln__get_string(obj, "background", 0, job->background, sizeof job->background, err);
    if (brc < 0)
        return brc;
    if ((brc = ln__get_string(obj, "device", 0, job->device, sizeof job->device, err)) < 0)
        return brc;
    json_t *e = json_object_get(obj, "error");
    if (e && !json_is_null(e)) {
        char code[24];
        int rc;
        if (!json_is_object(e))
            return ln__bad(err, "error", "is not an object");
        if ((rc = ln__get_string(e, "code", 1, code, sizeof code, err)) < 0 ||
            (rc = ln__get_string(e, "message", 1, job->error, sizeof job->error, err)) < 0)
            return rc;
        job->error_code = LN_EINTERNAL;
        for (int c = LN_EINVAL; c >= LN_EINTERNAL; c--)
            if (strcmp(ln_status_name(c), code) == 0)
                job->error_code = c;
    }
    return LN_OK;
}

int ln_job_from_json(const json_t *obj, struct ln_job *job, struct ln_error *err)
{
    int rc;
    char status[16];
    json_int_t attempts = 0;
    memset(job, 0, sizeof *job);
    if (!json_is_object(obj))
        return ln_error_set(err, LN_EFORMAT, "a job is not a JSON object");
    if ((rc = ln__get_string(obj, "id", 1, job->id, sizeof job->id, err)) < 0)
        return rc;
    if (!ln_job_id_valid(job->id))
        return ln__bad(err, "id", "is not 24 lowercase hexadecimal digits");
    if ((rc = ln__get_string(obj, "status", 1, status, sizeof status, err)) < 0)
        return rc;
    int s = ln_job_status_parse(status);
    if (s < 0)
        return ln__bad(err, "status", "is not a known status");
    job->status = (enum ln_job_status)s;
    if ((rc = ln__get_string(obj, "stage", 0, job->stage, sizeof job->stage, err)) < 0 ||
        (rc = ln__get_number(obj, "progress", 0, 0.0, 1.0, &job->progress, err)) < 0 ||
        (rc = ln__get_time(obj, "created_at", 1, &job->created_at, err)) < 0 ||
        (rc = ln__get_time(obj, "started_at", 0, &job->started_at, err)) < 0 ||
        (rc = ln__get_time(obj, "finished_at", 0, &job->finished_at, err)) < 0 ||
        (rc = ln__get_string(obj, "engine", 1, job->engine, sizeof job->engine, err)) < 0 ||
        (rc = ln__get_int(obj, "attempts", 0, 0, 1000000, &attempts, err)) < 0)
        return rc;
    job->attempts = (int)attempts;
    if ((rc = ln__inputs_from_json(obj, job, err)) < 0 ||
        (rc = ln__views_from_json(obj, job, err)) < 0)
        return rc;
    json_t *o = json_object_get(obj, "options");
    if (!o)
        return ln__bad(err, "options", "is missing");
    if (!json_is_object(o))
        return ln__bad(err, "options", "is not an object");
    if ((rc = ln__options_from_json(o, &job->options, err)) < 0 ||
        (rc = ln__mesh_from_json(obj, job, err)) < 0 ||
        (rc = ln__report_from_json(obj, job, err)) < 0 ||
        (rc = ln__get_string(obj, "idempotency_key", 0, job->idempotency_key,
                             sizeof job->idempotency_key, err)) < 0)
        return rc;
    if (job->status == LN_JOB_STATUS_FAILED && job->error_code == LN_OK)
        job->error_code = LN_EINTERNAL;
    return LN_OK;
}

void ln_job_copy_report(struct ln_job *dst, const struct ln_job *src)
{
    snprintf(dst->engine, sizeof dst->engine, "%s", src->engine);
    dst->n_timings = src->n_timings;
    memcpy(dst->timings, src->timings, sizeof dst->timings);
    dst->has_mesh = src->has_mesh;
    dst->mesh = src->mesh;
    dst->texture_size = src->texture_size;
    dst->texture_charts = src->texture_charts;
    dst->n_warnings = src->n_warnings;
    memcpy(dst->warnings, src->warnings, sizeof dst->warnings);
    memcpy(dst->background, src->background, sizeof dst->background);
    memcpy(dst->device, src->device, sizeof dst->device);
}

void ln_job_set_report(struct ln_job *job, const struct ln_generate_report *rep)
{
    if (rep->engine)
        snprintf(job->engine, sizeof job->engine, "%s", rep->engine);
    job->n_timings = 0;
    for (int i = 0; i < rep->n_stages && job->n_timings < LN_JOB_MAX_TIMINGS - 1; i++) {
        snprintf(job->timings[job->n_timings].name, sizeof job->timings[0].name, "%s",
                 rep->stages[i].name ? rep->stages[i].name : "stage");
        job->timings[job->n_timings++].seconds = rep->stages[i].seconds;
    }
    strcpy(job->timings[job->n_timings].name, "total");
    job->timings[job->n_timings++].seconds = rep->total_seconds;
    job->has_mesh = 1;
    job->mesh = rep->stats;
    job->texture_size = rep->texture_size;
    job->texture_charts = rep->texture_charts;
    job->n_warnings = rep->n_warnings < LN_REPORT_MAX_WARNINGS ? rep->n_warnings
                                                                : LN_REPORT_MAX_WARNINGS;
    for (int i = 0; i < job->n_warnings; i++)
        memcpy(job->warnings[i], rep->warnings[i], sizeof job->warnings[i]);
    snprintf(job->background, sizeof job->background, "%s", rep->background);
}

void ln_job_set_started(struct ln_job *job, int attempts, double now)
{
    job->status = LN_JOB_STATUS_RUNNING;
    job->attempts = attempts;
    job->started_at = now;
    job->finished_at = 0.0;
    snprintf(job->stage, sizeof job->stage, "starting");
    job->progress = 0.0;
    job->error_code = LN_OK;
    job->error[0] = 0;
    job->device[0] = 0;
}

void ln_job_set_outcome(struct ln_job *job, int rc, const char *message, double now)
{
    job->finished_at = now;
    if (rc == LN_OK) {
        job->status = LN_JOB_STATUS_SUCCEEDED;
        snprintf(job->stage, sizeof job->stage, "done");
        job->progress = 1.0;
    } else if (rc == LN_ECANCELED) {
        job->status = LN_JOB_STATUS_CANCELED;
        snprintf(job->stage, sizeof job->stage, "canceled");
    } else {
        job->status = LN_JOB_STATUS_FAILED;
        snprintf(job->stage, sizeof job->stage, "failed");
        job->error_code = rc;
        snprintf(job->error, sizeof job->error, "%s",
                 message && message[0] ? message : ln_status_string(rc));
    }
}
