/* Unit tests of the job manager with the real sculpt engine on tiny inputs
 * and with a fake engine whose speed and outcome the test controls:
 * the job life cycle, cancel and delete, listing, idempotency, the bounded
 * queue, recovery after a restart, retention, waits, model conversion and
 * shutdown. */
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ln_export.h"
#include "ln_file.h"
#include "ln_jobs.h"
#include "ln_log.h"
#include "ln_store.h"
#include "ln_time.h"

/* ---- a fake engine ---- */

enum { LN__FAKE_OK, LN__FAKE_FAIL };

struct ln__fake {
    int mode;
    int steps; /* 5 ms sleeps, checking cancellation between them */
    atomic_int runs;
};

static int ln__fake_run(const struct ln_engine *eng, const struct ln_engine_input *in,
                        const struct ln_generate_options *opt, const struct ln_progress *progress,
                        struct ln_mesh *out, struct ln_colorizer *bake,
                        struct ln_generate_report *rep, struct ln_error *err)
{
    (void)bake; /* no texture: the texture is baked from the vertex colours */
    struct ln__fake *f = eng->impl;
    atomic_fetch_add(&f->runs, 1);
    if (f->mode == LN__FAKE_FAIL)
        return ln_error_set(err, LN_EUNUSABLE, "the fake engine found nothing to model");
    for (int i = 0; i < f->steps; i++) {
        if (ln_progress_canceled(progress))
            return ln_error_set(err, LN_ECANCELED, "canceled");
        ln_progress_report(progress, "waiting", i / (double)f->steps);
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    /* An octahedron: closed, faces counter-clockwise from outside. */
    static const float pos[18] = {1, 0, 0, -1, 0, 0, 0, 1, 0, 0, -1, 0, 0, 0, 1, 0, 0, -1};
    static const uint32_t idx[24] = {0, 2, 4, 2, 1, 4, 1, 3, 4, 3, 0, 4,
                                     2, 0, 5, 1, 2, 5, 3, 1, 5, 0, 3, 5};
    int rc = ln_mesh_alloc(out, 6, 8, 1, err);
    if (rc < 0)
        return rc;
    memcpy(out->positions, pos, sizeof pos);
    memcpy(out->indices, idx, sizeof idx);
    for (int i = 0; i < 18; i++)
        out->colors[i] = 0.5f;
    return LN_OK;
}

static void ln__fake_destroy(struct ln_engine *eng)
{
}

static const struct ln_engine_ops ln__fake_ops = {
    .name = "fake", .run = ln__fake_run, .destroy = ln__fake_destroy};
/* The same fake, taking one image per run (like triposr). */
static const struct ln_engine_ops ln__fake_one_ops = {
    .name = "one", .max_images = 1, .run = ln__fake_run, .destroy = ln__fake_destroy};

/* ---- helpers ---- */

struct ln__req {
    struct ln_job_request req;
    char staging[2048];
    char paths[LN_MAX_VIEWS][4096];
};

/* A w x h RGBA PNG of an opaque disc on a transparent background. */
static void ln__disc_png(const char *path, int w, int h)
{
    struct ln_image img = {0};
    struct ln_error err = {0};
    if (ln_image_alloc(&img, w, h, 4, &err) < 0)
        fail_msg("%s", err.message);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            uint8_t *p = img.data + 4 * ((size_t)y * w + x);
            double dx = (x + 0.5 - w / 2.0) / (w * 0.35), dy = (y + 0.5 - h / 2.0) / (h * 0.35);
            int in = dx * dx + dy * dy <= 1.0;
            p[0] = 200;
            p[1] = (uint8_t)(60 + x);
            p[2] = 40;
            p[3] = in ? 255 : 0;
        }
    }
    if (ln_image_save_png(&img, path, &err) < 0)
        fail_msg("%s", err.message);
    ln_image_free(&img);
}

/* Stages n disc images and fills a request with fast options. */
static void ln__stage(struct ln_jobs *J, struct ln__req *r, int n, const char *key)
{
    struct ln_error err = {0};
    memset(r, 0, sizeof *r);
    if (ln_jobs_staging_dir(J, r->staging, sizeof r->staging, &err) < 0)
        fail_msg("%s", err.message);
    r->req.n_inputs = n;
    for (int i = 0; i < n; i++) {
        snprintf(r->paths[i], sizeof r->paths[i], "%s/upload-%d", r->staging, i);
        ln__disc_png(r->paths[i], 64, 64);
        r->req.staged_paths[i] = r->paths[i];
        snprintf(r->req.inputs[i].name, sizeof r->req.inputs[i].name, "disc %d.png", i);
        strcpy(r->req.inputs[i].content_type, "image/png");
        struct stat st;
        stat(r->paths[i], &st);
        r->req.inputs[i].bytes = (uint64_t)st.st_size;
    }
    ln_generate_options_default(&r->req.options);
    r->req.options.resolution = 48;
    r->req.options.target_faces = 0;
    r->req.options.smooth_iterations = 0;
    r->req.idempotency_key = key;
}

static void ln__unstage(struct ln__req *r)
{
    for (int i = 0; i < r->req.n_inputs; i++)
        unlink(r->paths[i]);
    rmdir(r->staging);
}

static void ln__submit(struct ln_jobs *J, struct ln_job *job, const char *key)
{
    struct ln__req r;
    struct ln_error err = {0};
    int existed = -1;
    ln__stage(J, &r, 1, key);
    if (ln_jobs_submit(J, &r.req, job, &existed, &err) < 0)
        fail_msg("submit: %s", err.message);
    assert_int_equal(existed, 0);
    ln__unstage(&r);
}

static struct ln_jobs *ln__open(const char *dir, const struct ln_engine *eng, int workers,
                                size_t max_queue, size_t keep_jobs)
{
    struct ln_jobs_config cfg;
    ln_jobs_config_default(&cfg);
    cfg.outputs_dir = dir;
    cfg.workers = workers;
    cfg.max_queue = max_queue;
    cfg.keep_jobs = keep_jobs;
    struct ln_jobs *J = NULL;
    struct ln_error err = {0};
    struct ln_engine_set set = {{eng}, 1};
    if (ln_jobs_open(&cfg, &set, &J, &err) < 0)
        fail_msg("open: %s", err.message);
    return J;
}

static void ln__start(struct ln_jobs *J)
{
    struct ln_error err = {0};
    if (ln_jobs_start(J, &err) < 0)
        fail_msg("start: %s", err.message);
}

/* Waits (through ln_jobs_wait) until pred(job) holds. */
static void ln__wait_for(struct ln_jobs *J, const char *id, int (*pred)(const struct ln_job *),
                         double timeout_s, struct ln_job *job)
{
    struct ln_error err = {0};
    timeout_s *= ln_test_slow(); /* a deadlock guard: longer under the sanitizers */
    double end = ln_time_now() + timeout_s;
    if (ln_jobs_get(J, id, job, &err) < 0)
        fail_msg("%s", err.message);
    while (!pred(job)) {
        if (ln_time_now() > end)
            fail_msg("job %s still %s (%s) after %.0f s", id, ln_job_status_name(job->status),
                     job->stage, timeout_s);
        if (ln_jobs_wait(J, id, job->version, 0.5, job, &err) < 0)
            fail_msg("%s", err.message);
    }
}

static int ln__is_final(const struct ln_job *j)
{
    return ln_job_status_is_final(j->status);
}

static int ln__is_running(const struct ln_job *j)
{
    return j->status == LN_JOB_STATUS_RUNNING && j->progress > 0.0;
}

static int ln__exists(const char *dir, const char *id, const char *name)
{
    char p[4096];
    if (snprintf(p, sizeof p, "%s/%s%s%s", dir, id, name ? "/" : "", name ? name : "") >=
        (int)sizeof p)
        fail_msg("path too long");
    return access(p, F_OK) == 0;
}

/* The status jobs.json holds for id ("" when absent). */
static const char *ln__stored_status(const char *dir, const char *id, char buf[32])
{
    char p[4096];
    snprintf(p, sizeof p, "%s/jobs.json", dir);
    json_t *all = json_load_file(p, 0, NULL);
    assert_non_null(all);
    json_t *s = json_object_get(json_object_get(all, id), "status");
    snprintf(buf, 32, "%s", s ? json_string_value(s) : "");
    json_decref(all);
    return buf;
}

/* outputs/<id>/job.json, parsed; NULL when there is none. */
static json_t *ln__record(const char *dir, const char *id)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s/job.json", dir, id);
    if (access(p, F_OK) != 0)
        return NULL;
    json_t *rec = json_load_file(p, JSON_REJECT_DUPLICATES, NULL);
    if (!rec)
        fail_msg("%s does not parse", p);
    return rec;
}

/* The status the job's folder record holds ("" when there is none). */
static const char *ln__record_status(const char *dir, const char *id, char buf[32])
{
    json_t *rec = ln__record(dir, id);
    json_t *s = json_object_get(rec, "status");
    snprintf(buf, 32, "%s", s ? json_string_value(s) : "");
    json_decref(rec);
    return buf;
}

/* The job's folder record is the job as the API shows it. */
static void ln__assert_record_is(const char *dir, const struct ln_job *job)
{
    json_t *rec = ln__record(dir, job->id), *api = ln_job_to_json(job);
    assert_non_null(rec);
    size_t flags = JSON_SORT_KEYS | JSON_REAL_PRECISION(12) | JSON_COMPACT;
    char *a = json_dumps(rec, flags), *b = json_dumps(api, flags);
    assert_string_equal(a, b);
    free(a);
    free(b);
    json_decref(rec);
    json_decref(api);
}

/* Writes dir/name (a path inside outputs) with text. */
static void ln__write(const char *dir, const char *name, const char *text)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *fp = fopen(p, "w");
    if (!fp)
        fail_msg("cannot write %s", p);
    fputs(text, fp);
    fclose(fp);
}

static void ln__mkdir(const char *dir, const char *name)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    assert_int_equal(ln_dir_make(p, NULL), 0);
}

static void ln__unlink(const char *dir, const char *name)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    assert_int_equal(unlink(p), 0);
}

/* ---- tests ---- */

static void test_sculpt_job_succeeds(void **state)
{
    const char *dir = ln_test_tmpdir("jobs_sculpt");
    struct ln_engine *eng;
    struct ln_error err = {0};
    assert_int_equal(ln_engine_sculpt_new(&eng, &err), LN_OK);
    struct ln_jobs *J = ln__open(dir, eng, 1, 8, 0);
    ln__start(J);

    struct ln__req r;
    struct ln_job job;
    int existed = -1;
    ln__stage(J, &r, 1, NULL);
    assert_int_equal(ln_jobs_submit(J, &r.req, &job, &existed, &err), LN_OK);
    assert_int_equal(existed, 0);
    assert_true(ln_job_id_valid(job.id));
    assert_string_equal(job.engine, "sculpt");
    assert_string_equal(job.inputs[0].file, "input-0.png");
    assert_string_equal(job.inputs[0].name, "disc 0.png");
    assert_true(job.created_at > 0);
    assert_int_equal(access(r.paths[0], F_OK), -1); /* moved, not copied */
    assert_true(ln__exists(dir, job.id, "input-0.png"));
    char st[32];
    assert_string_not_equal(ln__stored_status(dir, job.id, st), ""); /* durable at once */
    ln__unstage(&r);

    ln__wait_for(J, job.id, ln__is_final, 20, &job);
    if (job.status != LN_JOB_STATUS_SUCCEEDED)
        fail_msg("job %s: %s", ln_job_status_name(job.status), job.error);
    assert_true(ln__exists(dir, job.id, "model.glb"));
    assert_true(ln__exists(dir, job.id, "preview.png"));
    assert_string_equal(ln__stored_status(dir, job.id, st), "succeeded");
    assert_int_equal(job.attempts, 1);
    assert_true(job.has_mesh);
    assert_true(job.mesh.n_faces > 100);
    assert_true(job.started_at >= job.created_at && job.finished_at >= job.started_at);
    assert_near(job.progress, 1.0, 1e-9);
    assert_string_equal(job.stage, "done");
    assert_string_equal(job.timings[0].name, "decode");
    assert_string_equal(job.timings[job.n_timings - 1].name, "total");

    /* The preview is a 256 px image. */
    char p[4096];
    struct ln_image img = {0};
    assert_int_equal(ln_jobs_path(J, job.id, "preview.png", p, sizeof p, &err), LN_OK);
    assert_int_equal(ln_image_load(p, NULL, &img, &err), LN_OK);
    assert_int_equal(img.width, 256);
    ln_image_free(&img);

    /* Conversions: written on first request, then served as they are. */
    for (int f = LN_MESH_FORMAT_OBJ; f < LN_MESH_FORMAT_COUNT; f++) {
        char path[4096];
        assert_int_equal(ln_jobs_model(J, job.id, (enum ln_mesh_format)f, path, sizeof path,
                                       &err),
                         LN_OK);
        struct stat s1, s2;
        assert_int_equal(stat(path, &s1), 0);
        struct ln_mesh m = {0};
        assert_int_equal(ln_mesh_load(path, &m, &err), LN_OK);
        assert_int_equal(m.n_faces, job.mesh.n_faces);
        ln_mesh_free(&m);
        assert_int_equal(ln_jobs_model(J, job.id, (enum ln_mesh_format)f, path, sizeof path,
                                       &err),
                         LN_OK);
        assert_int_equal(stat(path, &s2), 0);
        assert_int_equal(s1.st_ino, s2.st_ino); /* not rewritten */
    }
    char path[4096];
    assert_int_equal(ln_jobs_model(J, job.id, LN_MESH_FORMAT_GLB, path, sizeof path, &err),
                     LN_OK);
    assert_non_null(strstr(path, "model.glb"));

    struct ln_jobs_metrics m;
    ln_jobs_metrics(J, &m);
    assert_int_equal(m.by_status[LN_JOB_STATUS_SUCCEEDED], 1);
    assert_int_equal(m.duration_count, 1);
    assert_int_equal(m.bucket_counts[LN_JOBS_DURATION_BUCKETS - 1], 1);
    assert_near(m.bucket_bounds[0], 0.5, 0);
    assert_near(m.bucket_bounds[LN_JOBS_DURATION_BUCKETS - 1], 600, 0);
    assert_int_equal(m.queue_capacity, 8);
    assert_int_equal(m.workers, 1);

    ln_jobs_shutdown(J, 5);
    ln_jobs_free(J);
    ln_engine_free(eng);
}

static void test_failure_is_recorded(void **state)
{
    const char *dir = ln_test_tmpdir("jobs_fail");
    struct ln__fake f = {.mode = LN__FAKE_FAIL};
    struct ln_engine eng = {.ops = &ln__fake_ops, .impl = &f};
    struct ln_jobs *J = ln__open(dir, &eng, 1, 8, 0);
    ln__start(J);
    struct ln_job job;
    ln__submit(J, &job, NULL);
    ln__wait_for(J, job.id, ln__is_final, 10, &job);
    assert_int_equal(job.status, LN_JOB_STATUS_FAILED);
    assert_int_equal(job.error_code, LN_EUNUSABLE);
    assert_non_null(strstr(job.error, "nothing to model"));
    assert_false(ln__exists(dir, job.id, "model.glb"));
    char st[32];
    assert_string_equal(ln__stored_status(dir, job.id, st), "failed");
    struct ln_error err = {0};
    char path[4096];
    assert_int_equal(ln_jobs_model(J, job.id, LN_MESH_FORMAT_OBJ, path, sizeof path, &err),
                     LN_ENOTFOUND);
    ln_jobs_free(J);
}

/* A job decodes its inputs with the limits it was configured with (the
 * server's --max-pixels and upload size), not the library's defaults. */
static void test_image_limits_apply(void **state)
{
    const char *dir = ln_test_tmpdir("jobs_limits");
    struct ln__fake f = {.mode = LN__FAKE_OK};
    struct ln_engine eng = {.ops = &ln__fake_ops, .impl = &f};
    struct ln_jobs_config cfg;
    ln_jobs_config_default(&cfg);
    assert_int_equal(cfg.image_limits.max_pixels, LN_IMAGE_DEFAULT_MAX_PIXELS);
    cfg.outputs_dir = dir;
    cfg.image_limits.max_pixels = 64 * 63; /* the test's inputs are 64 x 64 */
    struct ln_jobs *J = NULL;
    struct ln_error err = {0};
    struct ln_engine_set set = {{&eng}, 1};
    assert_int_equal(ln_jobs_open(&cfg, &set, &J, &err), LN_OK);
    ln__start(J);
    struct ln_job job;
    ln__submit(J, &job, NULL);
    ln__wait_for(J, job.id, ln__is_final, 10, &job);
    assert_int_equal(job.status, LN_JOB_STATUS_FAILED);
    assert_non_null(strstr(job.error, "4032"));
    assert_int_equal(atomic_load(&f.runs), 0);
    ln_jobs_free(J);
}

static void test_cancel(void **state)
{
    const char *dir = ln_test_tmpdir("jobs_cancel");
    struct ln__fake f = {.mode = LN__FAKE_OK, .steps = 2000};
    struct ln_engine eng = {.ops = &ln__fake_ops, .impl = &f};
    struct ln_jobs *J = ln__open(dir, &eng, 1, 8, 0);
    ln__start(J);
    struct ln_job a, b, snap;
    struct ln_error err = {0};
    ln__submit(J, &a, NULL);
    ln__wait_for(J, a.id, ln__is_running, 10, &a);
    ln__submit(J, &b, NULL);

    /* Queued: canceled at once, durably, and never run. */
    assert_int_equal(ln_jobs_cancel(J, b.id, &snap, &err), LN_OK);
    assert_int_equal(snap.status, LN_JOB_STATUS_CANCELED);
    char st[32];
    assert_string_equal(ln__stored_status(dir, b.id, st), "canceled");

    /* Running: stops at the next check. */
    assert_int_equal(ln_jobs_cancel(J, a.id, &snap, &err), LN_OK);
    assert_string_equal(snap.stage, "canceling");
    ln__wait_for(J, a.id, ln__is_final, 10, &a);
    assert_int_equal(a.status, LN_JOB_STATUS_CANCELED);
    assert_string_equal(ln__stored_status(dir, a.id, st), "canceled");
    assert_int_equal(atomic_load(&f.runs), 1);

    /* Finished: refused. */
    assert_int_equal(ln_jobs_cancel(J, a.id, &snap, &err), LN_EINVAL);
    assert_non_null(strstr(err.message, "already canceled"));
    assert_int_equal(ln_jobs_cancel(J, "0123456789abcdef01234567", &snap, &err), LN_ENOTFOUND);
    ln_jobs_free(J);
}

static void test_delete(void **state)
{
    const char *dir = ln_test_tmpdir("jobs_delete");
    struct ln__fake f = {.mode = LN__FAKE_OK, .steps = 0};
    struct ln_engine eng = {.ops = &ln__fake_ops, .impl = &f};
    struct ln_jobs *J = ln__open(dir, &eng, 1, 8, 0);
    ln__start(J);
    struct ln_job job;
    struct ln_error err = {0};
    ln__submit(J, &job, NULL);
    ln__wait_for(J, job.id, ln__is_final, 10, &job);
    assert_int_equal(job.status, LN_JOB_STATUS_SUCCEEDED);
    assert_true(ln__exists(dir, job.id, NULL));
    assert_int_equal(ln_jobs_delete(J, job.id, &err), LN_OK);
    assert_false(ln__exists(dir, job.id, NULL));
    assert_int_equal(ln_jobs_get(J, job.id, &job, &err), LN_ENOTFOUND);
    assert_int_equal(ln_jobs_delete(J, job.id, &err), LN_ENOTFOUND);
    char st[32];
    assert_string_equal(ln__stored_status(dir, job.id, st), "");

    /* A running job: gone at once, its folder once the engine stops. */
    f.steps = 2000;
    ln__submit(J, &job, NULL);
    ln__wait_for(J, job.id, ln__is_running, 10, &job);
    assert_int_equal(ln_jobs_delete(J, job.id, &err), LN_OK);
    assert_int_equal(ln_jobs_get(J, job.id, &job, &err), LN_ENOTFOUND);
    ln_jobs_shutdown(J, 10);
    assert_false(ln__exists(dir, job.id, NULL));
    ln_jobs_free(J);
}

/* Deletions write the history racing with submissions and workers that
 * save it too: whatever the
 * order, the history on disk ends without every deleted job (an older
 * snapshot never replaces a newer one) and with every other job, and no
 * deleted job comes back at the next start. */
struct ln__deleter {
    struct ln_jobs *J;
    const struct ln_job *jobs;
    int from, n;
    int failures;
};

static void *ln__delete_some(void *arg)
{
    struct ln__deleter *d = arg;
    for (int i = d->from; i < d->from + d->n; i++) {
        struct ln_error err = {0};
        if (ln_jobs_delete(d->J, d->jobs[i].id, &err) != LN_OK)
            d->failures++;
    }
    return NULL;
}

static void test_delete_snapshot_order(void **state)
{
    const char *dir = ln_test_tmpdir("jobs_delete_order");
    struct ln__fake f = {.mode = LN__FAKE_OK, .steps = 0};
    struct ln_engine eng = {.ops = &ln__fake_ops, .impl = &f};
    struct ln_jobs *J = ln__open(dir, &eng, 2, 64, 0);
    ln__start(J);
    struct ln_job jobs[16], more[4];
    for (int i = 0; i < 16; i++)
        ln__submit(J, &jobs[i], NULL);
    for (int i = 0; i < 16; i++)
        ln__wait_for(J, jobs[i].id, ln__is_final, 10, &jobs[i]);
    struct ln__deleter d[4];
    pthread_t t[4];
    for (int k = 0; k < 4; k++) {
        d[k] = (struct ln__deleter){.J = J, .jobs = jobs, .from = 3 * k, .n = 3};
        assert_int_equal(pthread_create(&t[k], NULL, ln__delete_some, &d[k]), 0);
    }
    for (int i = 0; i < 4; i++) /* saved under the save lock, finished by the workers */
        ln__submit(J, &more[i], NULL);
    for (int k = 0; k < 4; k++) {
        pthread_join(t[k], NULL);
        assert_int_equal(d[k].failures, 0);
    }
    for (int i = 0; i < 4; i++)
        ln__wait_for(J, more[i].id, ln__is_final, 10, &more[i]);
    char st[32];
    for (int i = 0; i < 16; i++) {
        int deleted = i < 12;
        assert_string_equal(ln__stored_status(dir, jobs[i].id, st), deleted ? "" : "succeeded");
        assert_int_equal(ln__exists(dir, jobs[i].id, NULL), !deleted);
    }
    for (int i = 0; i < 4; i++)
        assert_string_equal(ln__stored_status(dir, more[i].id, st), "succeeded");
    ln_jobs_shutdown(J, 10);
    ln_jobs_free(J);

    J = ln__open(dir, &eng, 1, 64, 0);
    struct ln_job snap;
    struct ln_error err = {0};
    for (int i = 0; i < 16; i++)
        assert_int_equal(ln_jobs_get(J, jobs[i].id, &snap, &err), i < 12 ? LN_ENOTFOUND : LN_OK);
    ln_jobs_free(J);
}

/* Submissions, cancels and deletions from four threads while two workers
 * start and finish jobs and retention trims the history: afterwards the
 * table, jobs.json and every job's folder record agree, and a restart
 * gives back the same jobs with the same statuses. */
struct ln__churner {
    struct ln_jobs *J;
    char ids[8][LN_JOB_ID_LEN + 1];
    int deleted[8];
    int failures;
};

static void *ln__churn(void *arg)
{
    struct ln__churner *c = arg;
    for (int i = 0; i < 8; i++) {
        struct ln__req r;
        struct ln_job job;
        struct ln_error err = {0};
        ln__stage(c->J, &r, 1, NULL);
        if (ln_jobs_submit(c->J, &r.req, &job, NULL, &err) < 0) {
            c->failures++;
            ln__unstage(&r);
            continue;
        }
        ln__unstage(&r);
        memcpy(c->ids[i], job.id, sizeof c->ids[i]);
        /* A cancel may find the job already finished: that is no failure. */
        if (i % 3 == 0 && ln_jobs_cancel(c->J, job.id, &job, &err) < 0 && err.code != LN_EINVAL)
            c->failures++;
        if (i % 4 == 1) {
            if (ln_jobs_delete(c->J, job.id, &err) < 0)
                c->failures++;
            else
                c->deleted[i] = 1;
        }
    }
    return NULL;
}

static void test_concurrent_changes(void **state)
{
    const char *dir = ln_test_tmpdir("jobs_churn");
    struct ln__fake f = {.mode = LN__FAKE_OK, .steps = 2};
    struct ln_engine eng = {.ops = &ln__fake_ops, .impl = &f};
    struct ln_jobs *J = ln__open(dir, &eng, 2, 64, 10);
    ln__start(J);
    struct ln__churner c[4];
    pthread_t t[4];
    for (int k = 0; k < 4; k++) {
        memset(&c[k], 0, sizeof c[k]);
        c[k].J = J;
        assert_int_equal(pthread_create(&t[k], NULL, ln__churn, &c[k]), 0);
    }
    for (int k = 0; k < 4; k++) {
        pthread_join(t[k], NULL);
        assert_int_equal(c[k].failures, 0);
    }
    /* Every job still listed ends; retention may take finished ones. */
    struct ln_error err = {0};
    for (int k = 0; k < 4; k++) {
        for (int i = 0; i < 8; i++) {
            struct ln_job job;
            if (c[k].deleted[i]) {
                assert_int_equal(ln_jobs_get(J, c[k].ids[i], &job, &err), LN_ENOTFOUND);
                continue;
            }
            double end = ln_time_now() + 10;
            while (ln_jobs_get(J, c[k].ids[i], &job, &err) == LN_OK &&
                   !ln_job_status_is_final(job.status) && ln_time_now() < end)
                ln_jobs_wait(J, job.id, job.version, 0.5, &job, &err);
            if (ln_jobs_get(J, c[k].ids[i], &job, &err) == LN_OK)
                assert_true(ln_job_status_is_final(job.status));
        }
    }
    /* Retention runs just after a job's result is recorded. */
    struct ln_job *list = NULL;
    size_t n = 0, total = 0;
    for (int i = 0; i < 500; i++) {
        free(list);
        assert_int_equal(ln_jobs_list(J, -1, 0, 0, &list, &n, &total, &err), LN_OK);
        if (n <= 10)
            break;
        usleep(10000);
    }
    assert_true(n <= 10);
    ln_jobs_shutdown(J, 10);
    char st[32], rs[32];
    for (size_t i = 0; i < n; i++) {
        const char *name = ln_job_status_name(list[i].status);
        assert_string_equal(ln__stored_status(dir, list[i].id, st), name);
        assert_string_equal(ln__record_status(dir, list[i].id, rs), name);
    }
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 8; i++) {
            int listed = 0;
            for (size_t j = 0; j < n; j++)
                listed |= strcmp(list[j].id, c[k].ids[i]) == 0;
            /* Deleted or trimmed: gone from the history and the disk. */
            if (!listed) {
                assert_string_equal(ln__stored_status(dir, c[k].ids[i], st), "");
                assert_int_equal(ln__exists(dir, c[k].ids[i], NULL), 0);
            }
        }
    ln_jobs_free(J);

    J = ln__open(dir, &eng, 1, 64, 10);
    struct ln_job *again = NULL;
    size_t n2 = 0;
    assert_int_equal(ln_jobs_list(J, -1, 0, 0, &again, &n2, &total, &err), LN_OK);
    assert_int_equal(n2, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(again[i].id, list[i].id);
        assert_int_equal(again[i].status, list[i].status);
    }
    free(again);
    free(list);
    ln_jobs_free(J);
}

/* A gate for the history's writes (ln_store_set_write_hook): the first
 * `allowed` writes pass, the next one waits until the test raises
 * `allowed` or 10 s have passed (so a bug cannot hang the test; the test
 * then fails on `timed_out`). */
struct ln__gate {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int arrived; /* writes that reached the hook */
    int allowed;
    int timed_out;
};

static void ln__gate_hook(void *user)
{
    struct ln__gate *g = user;
    pthread_mutex_lock(&g->mu);
    int me = ++g->arrived;
    pthread_cond_broadcast(&g->cond);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    while (me > g->allowed)
        if (pthread_cond_timedwait(&g->cond, &g->mu, &until) != 0) {
            g->timed_out = 1;
            break;
        }
    pthread_mutex_unlock(&g->mu);
}

/* Waits until n writes have reached the gate. */
static void ln__gate_wait_arrived(struct ln__gate *g, int n)
{
    double end = ln_time_now() + 10;
    pthread_mutex_lock(&g->mu);
    while (g->arrived < n && ln_time_now() < end) {
        pthread_mutex_unlock(&g->mu);
        usleep(1000);
        pthread_mutex_lock(&g->mu);
    }
    int arrived = g->arrived;
    pthread_mutex_unlock(&g->mu);
    assert_int_equal(arrived, n);
}

static void ln__gate_allow(struct ln__gate *g, int allowed)
{
    pthread_mutex_lock(&g->mu);
    g->allowed = allowed;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->mu);
}

/* The gate of test_saves_leave_table_free, and its teardown: the hook is
 * removed even when the test fails half-way. */
static struct ln__gate ln__the_gate = {.mu = PTHREAD_MUTEX_INITIALIZER,
                                       .cond = PTHREAD_COND_INITIALIZER};

static int ln__gate_teardown(void **state)
{
    (void)state;
    ln__gate_allow(&ln__the_gate, 1 << 30);
    ln_store_set_write_hook(NULL, NULL);
    return 0;
}

struct ln__submitter {
    struct ln_jobs *J;
    struct ln_job job;
    int rc;
};

static void *ln__submit_one(void *arg)
{
    struct ln__submitter *s = arg;
    struct ln__req r;
    struct ln_error err = {0};
    ln__stage(s->J, &r, 1, NULL);
    s->rc = ln_jobs_submit(s->J, &r.req, &s->job, NULL, &err);
    ln__unstage(&r);
    return NULL;
}

/* While a submission's jobs.json write is held up, every reader of the
 * table (get, list, wait, metrics, a refused cancel) answers at once, and
 * none sees the job before that write is done; while the write that
 * records a job's result is held up, the job's folder record already says
 * succeeded, jobs.json and the table still say running, and only after
 * the write does anyone see it succeeded. */
static void test_saves_leave_table_free(void **state)
{
    const char *dir = ln_test_tmpdir("jobs_save_unlocked");
    struct ln__fake f = {.mode = LN__FAKE_OK, .steps = 1};
    struct ln_engine eng = {.ops = &ln__fake_ops, .impl = &f};
    struct ln_jobs *J = ln__open(dir, &eng, 1, 64, 0);
    ln__start(J);
    struct ln_job a, got;
    struct ln_error err = {0};
    ln__submit(J, &a, NULL);
    ln__wait_for(J, a.id, ln__is_final, 10, &a);
    assert_int_equal(a.status, LN_JOB_STATUS_SUCCEEDED);

    struct ln__gate *g = &ln__the_gate;
    ln_store_set_write_hook(ln__gate_hook, g);
    uint64_t changes = ln_jobs_wait_any(J, 0, 0);

    /* 1: the submission's history write waits at the gate. */
    struct ln__submitter sub = {.J = J};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, ln__submit_one, &sub), 0);
    ln__gate_wait_arrived(g, 1);
    assert_int_equal(ln_jobs_get(J, a.id, &got, &err), LN_OK);
    assert_int_equal(got.status, LN_JOB_STATUS_SUCCEEDED);
    struct ln_job *list = NULL;
    size_t n = 0, total = 0;
    assert_int_equal(ln_jobs_list(J, -1, 0, 0, &list, &n, &total, &err), LN_OK);
    assert_int_equal(n, 1); /* not the new job: it is not yet durable */
    assert_string_equal(list[0].id, a.id);
    free(list);
    struct ln_jobs_metrics m;
    ln_jobs_metrics(J, &m);
    assert_int_equal(m.queue_depth, 0);
    assert_int_equal(ln_jobs_cancel(J, a.id, &got, &err), LN_EINVAL);
    assert_true(ln_jobs_wait_any(J, changes, 0.05) >= changes);
    pthread_mutex_lock(&g->mu);
    int held = g->arrived == 1 && !g->timed_out;
    pthread_mutex_unlock(&g->mu);
    /* All of the above ran while the write was held up: a call that had
     * waited for it would have waited out the gate's 10 s (timed_out). */
    assert_true(held);

    /* 2: the submission's and the claim's writes pass, the result's waits. */
    ln__gate_allow(g, 2);
    pthread_join(t, NULL);
    assert_int_equal(sub.rc, LN_OK);
    ln__gate_wait_arrived(g, 3);
    char st[32], rs[32];
    assert_string_equal(ln__record_status(dir, sub.job.id, rs), "succeeded");
    assert_string_equal(ln__stored_status(dir, sub.job.id, st), "running");
    assert_int_equal(ln_jobs_get(J, sub.job.id, &got, &err), LN_OK);
    assert_int_equal(got.status, LN_JOB_STATUS_RUNNING);
    assert_int_equal(ln_jobs_wait(J, sub.job.id, got.version, 0.05, &got, &err), LN_OK);
    assert_int_equal(got.status, LN_JOB_STATUS_RUNNING);

    ln__gate_allow(g, 1 << 30);
    ln__wait_for(J, sub.job.id, ln__is_final, 10, &got);
    assert_int_equal(got.status, LN_JOB_STATUS_SUCCEEDED);
    assert_string_equal(ln__stored_status(dir, sub.job.id, st), "succeeded");
    ln_jobs_shutdown(J, 10);
    assert_int_equal(g->timed_out, 0);
    ln_jobs_free(J);
}

static void test_list(void **state)
{
    const char *dir = ln_test_tmpdir("jobs_list");
    struct ln__fake f = {.mode = LN__FAKE_OK};
    struct ln_engine eng = {.ops = &ln__fake_ops, .impl = &f};
    struct ln_jobs *J = ln__open(dir, &eng, 1, 8, 0); /* not started: all stay queued */
    struct ln_job jobs[5], snap;
    struct ln_error err = {0};
    for (int i = 0; i < 5; i++)
        ln__submit(J, &jobs[i], NULL);
    assert_int_equal(ln_jobs_cancel(J, jobs[1].id, &snap, &err), LN_OK);
    assert_int_equal(ln_jobs_cancel(J, jobs[3].id, &snap, &err), LN_OK);

    struct ln_job *out;
    size_t n, total;
    assert_int_equal(ln_jobs_list(J, -1, 0, 0, &out, &n, &total, &err), LN_OK);
    assert_int_equal(total, 5);
    assert_int_equal(n, 5);
    for (int i = 0; i < 5; i++)
        assert_string_equal(out[i].id, jobs[4 - i].id);
    free(out);

    assert_int_equal(ln_jobs_list(J, LN_JOB_STATUS_CANCELED, 0, 10, &out, &n, &total, &err),
                     LN_OK);
    assert_int_equal(total, 2);
    assert_int_equal(n, 2);
    assert_string_equal(out[0].id, jobs[3].id);
    assert_string_equal(out[1].id, jobs[1].id);
    free(out);

    assert_int_equal(ln_jobs_list(J, -1, 1, 2, &out, &n, &total, &err), LN_OK);
    assert_int_equal(total, 5);
    assert_int_equal(n, 2);
    assert_string_equal(out[0].id, jobs[3].id);
    assert_string_equal(out[1].id, jobs[2].id);
    free(out);

    assert_int_equal(ln_jobs_list(J, LN_JOB_STATUS_QUEUED, 5, 2, &out, &n, &total, &err),
                     LN_OK);
    assert_int_equal(total, 3);
    assert_int_equal(n, 0);
    free(out);

    struct ln_jobs_metrics m;
    ln_jobs_metrics(J, &m);
    assert_int_equal(m.by_status[LN_JOB_STATUS_QUEUED], 3);
    assert_int_equal(m.by_status[LN_JOB_STATUS_CANCELED], 2);
    assert_int_equal(m.queue_depth, 3);
    ln_jobs_free(J);
}

static void test_idempotency_key(void **state)
{
    const char *dir = ln_test_tmpdir("jobs_idem");
    struct ln__fake f = {.mode = LN__FAKE_OK};
    struct ln_engine eng = {.ops = &ln__fake_ops, .impl = &f};
    struct ln_jobs *J = ln__open(dir, &eng, 1, 8, 0);
    struct ln_job a, b;
    struct ln_error err = {0};
    ln__submit(J, &a, "order-17");
    assert_string_equal(a.idempotency_key, "order-17");

    struct ln__req r;
    int existed = 0;
    ln__stage(J, &r, 1, "order-17");
    assert_int_equal(ln_jobs_submit(J, &r.req, &b, &existed, &err), LN_OK);
    assert_int_equal(existed, 1);
    assert_string_equal(b.id, a.id);
    assert_int_equal(access(r.paths[0], F_OK), -1); /* staged file removed */
    ln__unstage(&r);

    /* A different key is a new job. */
    ln__submit(J, &b, "order-18");
    assert_string_not_equal(b.id, a.id);
    ln_jobs_free(J);

    /* The keys survive a restart. */
    J = ln__open(dir, &eng, 1, 8, 0);
    ln__stage(J, &r, 1, "order-17");
    assert_int_equal(ln_jobs_submit(J, &r.req, &b, &existed, &err), LN_OK);
    assert_int_equal(existed, 1);
    assert_string_equal(b.id, a.id);
    ln__unstage(&r);
    ln_jobs_free(J);
}

static void test_queue_full(void **state)
{
    const char *dir = ln_test_tmpdir("jobs_full");
    struct ln__fake f = {.mode = LN__FAKE_OK};
    struct ln_engine eng = {.ops = &ln__fake_ops, .impl = &f};
    struct ln_jobs *J = ln__open(dir, &eng, 1, 2, 0);
    struct ln_job a, b, c;
    struct ln_error err = {0};
    ln__submit(J, &a, NULL);
    ln__submit(J, &b, NULL);
    struct ln__req r;
    int existed = 0;
    ln__stage(J, &r, 1, NULL);
    assert_int_equal(ln_jobs_submit(J, &r.req, &c, &existed, &err), LN_EBUSY);
    assert_string_equal(err.message, "the queue is full (2 jobs waiting)");
    assert_int_equal(access(r.paths[0], F_OK), 0); /* the caller's to remove */
    ln__unstage(&r);
    struct ln_job *out;
    size_t n, total;
    assert_int_equal(ln_jobs_list(J, -1, 0, 0, &out, &n, &total, &err), LN_OK);
    assert_int_equal(total, 2);
    free(out);
    ln_jobs_free(J);
}

static void test_restart_requeues_running(void **state)
{
    const char *dir = ln_test_tmpdir("jobs_restart");
    struct ln__fake f = {.mode = LN__FAKE_OK};
    struct ln_engine eng = {.ops = &ln__fake_ops, .impl = &f};
    struct ln_jobs *J = ln__open(dir, &eng, 1, 8, 0);
    struct ln_job job;
    struct ln_error err = {0};
    ln__submit(J, &job, NULL);
    ln_jobs_free(J);

    /* As a crash mid-job leaves it: running, one attempt made; plus a
     * staging folder from an interrupted upload. */
    char p[4096];
    snprintf(p, sizeof p, "%s/jobs.json", dir);
    json_t *all = json_load_file(p, 0, NULL);
    json_t *j = json_object_get(all, job.id);
    json_object_set_new(j, "status", json_string("running"));
    json_object_set_new(j, "stage", json_string("carving"));
    json_object_set_new(j, "attempts", json_integer(1));
    json_object_set_new(j, "started_at", json_string("2026-11-27T01:02:03.456Z"));
    assert_int_equal(json_dump_file(all, p, 0), 0);
    json_decref(all);
    snprintf(p, sizeof p, "%s/.staging-leftover", dir);
    assert_int_equal(ln_dir_make(p, NULL), 0);
    snprintf(p, sizeof p, "%s/.staging-leftover/upload-0", dir);
    FILE *fp = fopen(p, "w");
    fputs("partial", fp);
    fclose(fp);

    J = ln__open(dir, &eng, 1, 8, 0);
    assert_int_equal(ln_jobs_get(J, job.id, &job, &err), LN_OK);
    assert_int_equal(job.status, LN_JOB_STATUS_QUEUED);
    char st[32];
    assert_string_equal(ln__stored_status(dir, job.id, st), "queued");
    snprintf(p, sizeof p, "%s/.staging-leftover", dir);
    assert_int_equal(access(p, F_OK), -1);

    ln__start(J);
    ln__wait_for(J, job.id, ln__is_final, 10, &job);
    assert_int_equal(job.status, LN_JOB_STATUS_SUCCEEDED);
    assert_int_equal(job.attempts, 2);
    assert_true(ln__exists(dir, job.id, "model.glb"));
    ln_jobs_free(J);
}

static void test_open_repairs_history(void **state)
{
    const char *dir = ln_test_tmpdir("jobs_repair");
    struct ln__fake f = {.mode = LN__FAKE_OK};
    struct ln_engine eng = {.ops = &ln__fake_ops, .impl = &f};
    struct ln_jobs *J = ln__open(dir, &eng, 1, 8, 0);
    struct ln_job a, b;
    struct ln_error err = {0};
    ln__submit(J, &a, NULL);
    ln__submit(J, &b, NULL); /* jobs.json: a and b; jobs.json.bak: a */
    ln_jobs_free(J);

    /* A torn or hand-damaged jobs.json: the .bak's history is used and
     * jobs.json is written again at once, no operator needed. */
    char p[4096];
    snprintf(p, sizeof p, "%s/jobs.json", dir);
    FILE *fp = fopen(p, "w");
    fputs("{\"", fp);
    fclose(fp);
    J = ln__open(dir, &eng, 1, 8, 0);
    assert_int_equal(ln_jobs_get(J, a.id, &a, &err), LN_OK);
    /* b, which only the damaged file held, comes back from its folder. */
    assert_int_equal(ln_jobs_get(J, b.id, &b, &err), LN_OK);
    char st[32];
    assert_string_equal(ln__stored_status(dir, a.id, st), "queued");
    assert_string_equal(ln__stored_status(dir, b.id, st), "queued");
    ln__start(J);
    ln__wait_for(J, a.id, ln__is_final, 10, &a);
    ln__wait_for(J, b.id, ln__is_final, 10, &b);
    assert_int_equal(a.status, LN_JOB_STATUS_SUCCEEDED);
    assert_int_equal(b.status, LN_JOB_STATUS_SUCCEEDED);
    ln_jobs_free(J);
    DIR *d = opendir(dir);
    int corrupt = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        corrupt += strncmp(e->d_name, "jobs.json.corrupt-", 18) == 0;
    closedir(d);
    assert_int_equal(corrupt, 1);
}

static void test_retention(void **state)
{
    const char *dir = ln_test_tmpdir("jobs_retention");
    struct ln__fake f = {.mode = LN__FAKE_OK};
    struct ln_engine eng = {.ops = &ln__fake_ops, .impl = &f};
    struct ln_jobs *J = ln__open(dir, &eng, 1, 8, 2);
    ln__start(J);
    struct ln_job jobs[4];
    for (int i = 0; i < 4; i++) {
        ln__submit(J, &jobs[i], NULL);
        ln__wait_for(J, jobs[i].id, ln__is_final, 10, &jobs[i]);
        assert_int_equal(jobs[i].status, LN_JOB_STATUS_SUCCEEDED);
    }
    struct ln_job *out;
    size_t n, total;
    struct ln_error err = {0};
    /* Retention runs on the worker just after the last job is recorded. */
    for (int t = 0; t < 500; t++) {
        assert_int_equal(ln_jobs_list(J, -1, 0, 0, &out, &n, &total, &err), LN_OK);
        if (total <= 2)
            break;
        free(out);
        usleep(10000);
    }
    assert_int_equal(total, 2);
    assert_string_equal(out[0].id, jobs[3].id);
    assert_string_equal(out[1].id, jobs[2].id);
    free(out);
    /* The folders go just after the lock is released (ln__remove_doomed). */
    for (int t = 0; t < 500 && (ln__exists(dir, jobs[0].id, NULL) ||
                                ln__exists(dir, jobs[1].id, NULL)); t++)
        usleep(10000);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ln__exists(dir, jobs[i].id, NULL), i >= 2);
    char st[32];
    assert_string_equal(ln__stored_status(dir, jobs[0].id, st), "");
    ln_jobs_free(J);

    /* By age, at open. */
    struct ln_jobs_config cfg;
    ln_jobs_config_default(&cfg);
    cfg.outputs_dir = dir;
    cfg.keep_jobs = 0;
    cfg.keep_seconds = 0.001;
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
    struct ln_engine_set set = {{&eng}, 1};
    assert_int_equal(ln_jobs_open(&cfg, &set, &J, &err), LN_OK);
    assert_int_equal(ln_jobs_list(J, -1, 0, 0, &out, &n, &total, &err), LN_OK);
    assert_int_equal(total, 0);
    free(out);
    assert_false(ln__exists(dir, jobs[3].id, NULL));
    ln_jobs_free(J);
}

struct ln__canceler {
    struct ln_jobs *J;
    const char *id;
};

static void *ln__cancel_later(void *arg)
{
    struct ln__canceler *c = arg;
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    struct ln_job snap;
    ln_jobs_cancel(c->J, c->id, &snap, NULL);
    return NULL;
}

static void test_wait(void **state)
{
    const char *dir = ln_test_tmpdir("jobs_wait");
    struct ln__fake f = {.mode = LN__FAKE_OK};
    struct ln_engine eng = {.ops = &ln__fake_ops, .impl = &f};
    struct ln_jobs *J = ln__open(dir, &eng, 1, 8, 0);
    struct ln_job job, after;
    struct ln_error err = {0};
    ln__submit(J, &job, NULL);

    double t0 = ln_time_now();
    assert_int_equal(ln_jobs_wait(J, job.id, job.version, 0.1, &after, &err), LN_OK);
    double waited = ln_time_now() - t0;
    assert_true(waited >= 0.09 && waited < 2.0);
    assert_int_equal(after.version, job.version);

    /* An old version returns at once. */
    t0 = ln_time_now();
    assert_int_equal(ln_jobs_wait(J, job.id, job.version - 1, 5, &after, &err), LN_OK);
    assert_true(ln_time_now() - t0 < 1.0);

    pthread_t t;
    struct ln__canceler c = {J, job.id};
    assert_int_equal(pthread_create(&t, NULL, ln__cancel_later, &c), 0);
    t0 = ln_time_now();
    assert_int_equal(ln_jobs_wait(J, job.id, job.version, 10, &after, &err), LN_OK);
    assert_true(ln_time_now() - t0 < 5.0);
    assert_true(after.version != job.version);
    assert_int_equal(after.status, LN_JOB_STATUS_CANCELED);
    pthread_join(t, NULL);

    assert_int_equal(ln_jobs_wait(J, "0123456789abcdef01234567", 0, 0.01, &after, &err),
                     LN_ENOTFOUND);
    ln_jobs_free(J);
}

static void test_wait_any(void **state)
{
    const char *dir = ln_test_tmpdir("jobs_wait_any");
    struct ln__fake f = {.mode = LN__FAKE_OK};
    struct ln_engine eng = {.ops = &ln__fake_ops, .impl = &f};
    struct ln_jobs *J = ln__open(dir, &eng, 1, 8, 0);
    struct ln_job job;
    uint64_t c0 = ln_jobs_wait_any(J, 0, 0);
    ln__submit(J, &job, NULL);
    uint64_t c1 = ln_jobs_wait_any(J, c0, 0);
    assert_true(c1 > c0);

    /* Nothing changes: the whole timeout passes and the count stays. */
    double t0 = ln_time_now();
    assert_int_equal(ln_jobs_wait_any(J, c1, 0.1), c1);
    double waited = ln_time_now() - t0;
    assert_true(waited >= 0.09 && waited < 2.0);

    /* An old count returns at once. */
    t0 = ln_time_now();
    assert_int_equal(ln_jobs_wait_any(J, c0, 5), c1);
    assert_true(ln_time_now() - t0 < 1.0);

    /* A change made by another thread ends the wait. */
    pthread_t t;
    struct ln__canceler c = {J, job.id};
    assert_int_equal(pthread_create(&t, NULL, ln__cancel_later, &c), 0);
    t0 = ln_time_now();
    uint64_t c2 = ln_jobs_wait_any(J, c1, 10);
    assert_true(ln_time_now() - t0 < 5.0);
    assert_true(c2 > c1);
    pthread_join(t, NULL);

    /* So does a removal. */
    struct ln_error err = {0};
    c2 = ln_jobs_wait_any(J, 0, 0);
    assert_int_equal(ln_jobs_delete(J, job.id, &err), LN_OK);
    assert_true(ln_jobs_wait_any(J, c2, 0) > c2);
    ln_jobs_free(J);
}

static void test_shutdown_requeues_running(void **state)
{
    const char *dir = ln_test_tmpdir("jobs_shutdown");
    struct ln__fake f = {.mode = LN__FAKE_OK, .steps = 2000};
    struct ln_engine eng = {.ops = &ln__fake_ops, .impl = &f};
    struct ln_jobs *J = ln__open(dir, &eng, 1, 8, 0);
    ln__start(J);
    struct ln_job job, queued;
    struct ln_error err = {0};
    ln__submit(J, &job, NULL);
    ln__wait_for(J, job.id, ln__is_running, 10, &job);
    ln__submit(J, &queued, NULL);

    double t0 = ln_time_now();
    ln_jobs_shutdown(J, 0.1);
    assert_true(ln_time_now() - t0 < 5.0);
    ln_jobs_shutdown(J, 0.1); /* idempotent */
    assert_int_equal(ln_jobs_get(J, job.id, &job, &err), LN_OK);
    assert_int_equal(job.status, LN_JOB_STATUS_QUEUED);
    char st[32];
    assert_string_equal(ln__stored_status(dir, job.id, st), "queued");
    assert_string_equal(ln__stored_status(dir, queued.id, st), "queued");
    struct ln__req r;
    int existed;
    ln__stage(J, &r, 1, NULL);
    assert_int_equal(ln_jobs_submit(J, &r.req, &queued, &existed, &err), LN_EBUSY);
    ln__unstage(&r);
    ln_jobs_free(J);

    /* The next start finishes both, the interrupted one first. */
    f.steps = 0;
    J = ln__open(dir, &eng, 1, 8, 0);
    ln__start(J);
    ln__wait_for(J, job.id, ln__is_final, 10, &job);
    ln__wait_for(J, queued.id, ln__is_final, 10, &queued);
    assert_int_equal(job.status, LN_JOB_STATUS_SUCCEEDED);
    assert_int_equal(job.attempts, 2);
    assert_int_equal(queued.status, LN_JOB_STATUS_SUCCEEDED);
    assert_true(queued.started_at >= job.started_at);
    ln_jobs_free(J);
}

static void test_paths_and_bad_ids(void **state)
{
    const char *dir = ln_test_tmpdir("jobs_paths");
    struct ln__fake f = {.mode = LN__FAKE_OK};
    struct ln_engine eng = {.ops = &ln__fake_ops, .impl = &f};
    struct ln_jobs *J = ln__open(dir, &eng, 2, 8, 0);
    struct ln_error err = {0};
    char p[4096];
    const char *id = "0123456789abcdef01234567";
    assert_int_equal(ln_jobs_path(J, id, "preview.png", p, sizeof p, &err), LN_OK);
    char want[4096];
    snprintf(want, sizeof want, "%s/%s/preview.png", dir, id);
    assert_string_equal(p, want);
    assert_int_equal(ln_jobs_path(J, id, "../jobs.json", p, sizeof p, &err), LN_EINVAL);
    assert_int_equal(ln_jobs_path(J, id, "..", p, sizeof p, &err), LN_EINVAL);
    assert_int_equal(ln_jobs_path(J, "../../etc", "passwd", p, sizeof p, &err), LN_ENOTFOUND);
    struct ln_job job;
    assert_int_equal(ln_jobs_get(J, "../../etc", &job, &err), LN_ENOTFOUND);
    assert_int_equal(ln_jobs_delete(J, "../../etc", &err), LN_ENOTFOUND);
    assert_int_equal(ln_jobs_model(J, id, LN_MESH_FORMAT_STL, p, sizeof p, &err), LN_ENOTFOUND);

    /* A request that cannot be a job changes nothing. */
    struct ln_job_request bad;
    memset(&bad, 0, sizeof bad);
    int existed;
    assert_int_equal(ln_jobs_submit(J, &bad, &job, &existed, &err), LN_EINVAL);
    struct ln__req r;
    ln__stage(J, &r, 1, NULL);
    strcpy(r.req.inputs[0].content_type, "image/gif");
    assert_int_equal(ln_jobs_submit(J, &r.req, &job, &existed, &err), LN_EINVAL);
    ln__unstage(&r);
    struct ln_job *out;
    size_t n, total;
    assert_int_equal(ln_jobs_list(J, -1, 0, 0, &out, &n, &total, &err), LN_OK);
    assert_int_equal(total, 0);
    free(out);
    ln_jobs_free(J);
}

static void test_multi_view_job(void **state)
{
    const char *dir = ln_test_tmpdir("jobs_multi");
    struct ln_engine *eng;
    struct ln_error err = {0};
    assert_int_equal(ln_engine_sculpt_new(&eng, &err), LN_OK);
    struct ln_jobs *J = ln__open(dir, eng, 1, 8, 0);
    ln__start(J);
    struct ln__req r;
    struct ln_job job;
    int existed;
    ln__stage(J, &r, 3, NULL);
    r.req.has_views = 1;
    ln_views_default(r.req.views, 3);
    assert_int_equal(ln_jobs_submit(J, &r.req, &job, &existed, &err), LN_OK);
    ln__unstage(&r);
    assert_int_equal(job.n_inputs, 3);
    assert_string_equal(job.inputs[2].file, "input-2.png");
    assert_true(job.has_views);
    ln__wait_for(J, job.id, ln__is_final, 20, &job);
    if (job.status != LN_JOB_STATUS_SUCCEEDED)
        fail_msg("job %s: %s", ln_job_status_name(job.status), job.error);
    assert_true(job.mesh.n_faces > 100);
    ln_jobs_free(J);
    ln_engine_free(eng);
}

/* Each job runs on the engine chosen at submit: named, or the first of the
 * set that takes its image count. A job whose engine is gone after a
 * restart runs on the default for its count, with a warning. */
static void test_engine_set_routes_jobs(void **state)
{
    const char *dir = ln_test_tmpdir("jobs_engine_set");
    struct ln__fake f1 = {.mode = LN__FAKE_OK}, fm = {.mode = LN__FAKE_OK};
    atomic_init(&f1.runs, 0);
    atomic_init(&fm.runs, 0);
    struct ln_engine one = {.ops = &ln__fake_one_ops, .impl = &f1};
    struct ln_engine multi = {.ops = &ln__fake_ops, .impl = &fm};
    struct ln_jobs_config cfg;
    ln_jobs_config_default(&cfg);
    cfg.outputs_dir = dir;
    struct ln_engine_set both = {{&one, &multi}, 2};
    struct ln_jobs *J = NULL;
    struct ln_error err = {0};
    assert_int_equal(ln_jobs_open(&cfg, &both, &J, &err), LN_OK);

    struct ln__req r;
    struct ln_job single, several, named, queued;
    int existed;
    ln__stage(J, &r, 1, NULL);
    assert_int_equal(ln_jobs_submit(J, &r.req, &single, &existed, &err), LN_OK);
    ln__unstage(&r);
    assert_string_equal(single.engine, "one");
    ln__stage(J, &r, 2, NULL);
    assert_int_equal(ln_jobs_submit(J, &r.req, &several, &existed, &err), LN_OK);
    ln__unstage(&r);
    assert_string_equal(several.engine, "fake");
    ln__stage(J, &r, 1, NULL);
    r.req.engine = "fake";
    assert_int_equal(ln_jobs_submit(J, &r.req, &named, &existed, &err), LN_OK);
    ln__unstage(&r);
    assert_string_equal(named.engine, "fake");
    /* Refused before anything is queued. */
    ln__stage(J, &r, 2, NULL);
    r.req.engine = "one";
    assert_int_equal(ln_jobs_submit(J, &r.req, &queued, &existed, &err), LN_EINVAL);
    assert_string_equal(err.message, "the one engine takes one image");
    r.req.engine = "other";
    assert_int_equal(ln_jobs_submit(J, &r.req, &queued, &existed, &err), LN_EINVAL);
    assert_string_equal(err.message, "engine 'other' is not available (available: one, fake)");
    ln__unstage(&r);
    ln__start(J);
    const struct ln_job *ids[3] = {&single, &several, &named};
    for (int i = 0; i < 3; i++) {
        struct ln_job done;
        ln__wait_for(J, ids[i]->id, ln__is_final, 10, &done);
        assert_int_equal(done.status, LN_JOB_STATUS_SUCCEEDED);
        assert_string_equal(done.engine, ids[i]->engine);
        assert_int_equal(done.n_warnings, 0);
    }
    ln_jobs_free(J);

    /* Queued for "one", then the server restarts without it. */
    assert_int_equal(ln_jobs_open(&cfg, &both, &J, &err), LN_OK);
    ln__stage(J, &r, 1, NULL);
    assert_int_equal(ln_jobs_submit(J, &r.req, &queued, &existed, &err), LN_OK);
    ln__unstage(&r);
    assert_string_equal(queued.engine, "one");
    ln_jobs_free(J);
    struct ln_engine_set rest = {{&multi}, 1};
    assert_int_equal(ln_jobs_open(&cfg, &rest, &J, &err), LN_OK);
    ln__start(J);
    struct ln_job done;
    ln__wait_for(J, queued.id, ln__is_final, 10, &done);
    assert_int_equal(done.status, LN_JOB_STATUS_SUCCEEDED);
    assert_string_equal(done.engine, "fake");
    int warned = 0;
    for (int i = 0; i < done.n_warnings; i++)
        warned |= strstr(done.warnings[i], "the one engine is not loaded") != NULL;
    assert_true(warned);
    ln_jobs_free(J);
    assert_int_equal(atomic_load(&f1.runs), 1);
    assert_int_equal(atomic_load(&fm.runs), 3);
}

/* The record in each job folder: there when submit returns (so before the
 * HTTP layer can answer 202), the job as the API shows it, and following
 * every change of status; a deleted job's folder goes with it. */
static void test_folder_record_follows_job(void **state)
{
    const char *dir = ln_test_tmpdir("jobs_record");
    struct ln__fake f = {.mode = LN__FAKE_OK, .steps = 2000};
    struct ln_engine eng = {.ops = &ln__fake_ops, .impl = &f};
    struct ln_jobs *J = ln__open(dir, &eng, 1, 8, 0);
    struct ln_job a, b, snap;
    struct ln_error err = {0};
    char st[32];
    ln__submit(J, &a, "key-a");
    ln__assert_record_is(dir, &a);
    assert_string_equal(ln__record_status(dir, a.id, st), "queued");

    ln__start(J);
    ln__wait_for(J, a.id, ln__is_running, 10, &a);
    assert_string_equal(ln__record_status(dir, a.id, st), "running");
    json_t *rec = ln__record(dir, a.id);
    assert_int_equal(json_integer_value(json_object_get(rec, "attempts")), 1);
    json_decref(rec);
    assert_int_equal(ln_jobs_cancel(J, a.id, &snap, &err), LN_OK);
    ln__wait_for(J, a.id, ln__is_final, 10, &a);
    assert_int_equal(a.status, LN_JOB_STATUS_CANCELED);
    ln__assert_record_is(dir, &a);

    f.steps = 0;
    ln__submit(J, &b, NULL);
    ln__wait_for(J, b.id, ln__is_final, 10, &b);
    assert_int_equal(b.status, LN_JOB_STATUS_SUCCEEDED);
    ln__assert_record_is(dir, &b);
    assert_int_equal(ln_jobs_delete(J, b.id, &err), LN_OK);
    assert_false(ln__exists(dir, b.id, NULL));
    ln_jobs_free(J);

    /* A queued job canceled before it ran. */
    J = ln__open(dir, &eng, 1, 8, 0);
    ln__submit(J, &b, NULL);
    assert_int_equal(ln_jobs_cancel(J, b.id, &snap, &err), LN_OK);
    ln__assert_record_is(dir, &snap);
    assert_string_equal(ln__record_status(dir, b.id, st), "canceled");
    ln_jobs_free(J);
}

enum { LN__LOSE_BOTH_FILES, LN__LOSE_TO_EMPTY_OBJECT, LN__LOSE_TO_DAMAGE };

/* Finished, canceled and queued jobs, then the history lost in one of the
 * ways above: every job comes back from its folder as it was, the finished
 * one with its files and without running again. */
static void ln__history_lost(const char *name, int how)
{
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", ln_test_tmpdir(name));
    struct ln__fake f = {.mode = LN__FAKE_OK};
    struct ln_engine eng = {.ops = &ln__fake_ops, .impl = &f};
    struct ln_error err = {0};
    struct ln_job done, queued, canceled, snap;
    struct ln_jobs *J = ln__open(dir, &eng, 1, 8, 0);
    ln__start(J);
    ln__submit(J, &done, "key-done");
    ln__wait_for(J, done.id, ln__is_final, 10, &done);
    assert_int_equal(done.status, LN_JOB_STATUS_SUCCEEDED);
    ln_jobs_free(J);
    J = ln__open(dir, &eng, 1, 8, 0); /* not started: the next two never run */
    ln__submit(J, &queued, NULL);
    ln__submit(J, &canceled, NULL);
    assert_int_equal(ln_jobs_cancel(J, canceled.id, &canceled, &err), LN_OK);
    ln_jobs_free(J);
    assert_int_equal(atomic_load(&f.runs), 1);

    switch (how) {
    case LN__LOSE_BOTH_FILES:
        ln__unlink(dir, "jobs.json");
        ln__unlink(dir, "jobs.json.bak");
        break;
    case LN__LOSE_TO_EMPTY_OBJECT: /* the old manual's "restore empty state" */
        ln__write(dir, "jobs.json", "{}\n");
        ln__unlink(dir, "jobs.json.bak");
        break;
    default: /* both damaged: the store starts empty */
        ln__write(dir, "jobs.json", "{\"");
        ln__write(dir, "jobs.json.bak", "not json");
        break;
    }

    J = ln__open(dir, &eng, 1, 8, 0);
    assert_int_equal(ln_jobs_get(J, done.id, &snap, &err), LN_OK);
    assert_int_equal(snap.status, LN_JOB_STATUS_SUCCEEDED);
    assert_int_equal(snap.attempts, 1);
    assert_true(snap.has_mesh);
    assert_int_equal(snap.mesh.n_faces, done.mesh.n_faces);
    assert_string_equal(snap.idempotency_key, "key-done");
    assert_near(snap.finished_at, done.finished_at, 1e-3);
    char path[4096];
    assert_int_equal(ln_jobs_model(J, done.id, LN_MESH_FORMAT_GLB, path, sizeof path, &err),
                     LN_OK);
    assert_int_equal(ln_jobs_model(J, done.id, LN_MESH_FORMAT_OBJ, path, sizeof path, &err),
                     LN_OK);
    assert_true(ln__exists(dir, done.id, "preview.png"));
    assert_true(ln__exists(dir, done.id, "input-0.png"));
    assert_int_equal(ln_jobs_get(J, canceled.id, &snap, &err), LN_OK);
    assert_int_equal(snap.status, LN_JOB_STATUS_CANCELED);
    assert_int_equal(ln_jobs_get(J, queued.id, &snap, &err), LN_OK);
    assert_int_equal(snap.status, LN_JOB_STATUS_QUEUED);

    /* Listed newest first as before, and written back to jobs.json at once. */
    struct ln_job *list;
    size_t n, total;
    assert_int_equal(ln_jobs_list(J, -1, 0, 0, &list, &n, &total, &err), LN_OK);
    assert_int_equal(total, 3);
    assert_string_equal(list[0].id, canceled.id);
    assert_string_equal(list[1].id, queued.id);
    assert_string_equal(list[2].id, done.id);
    free(list);
    char st[32];
    assert_string_equal(ln__stored_status(dir, done.id, st), "succeeded");
    assert_string_equal(ln__stored_status(dir, queued.id, st), "queued");
    assert_string_equal(ln__stored_status(dir, canceled.id, st), "canceled");

    /* The idempotency key still answers with the adopted job. */
    struct ln__req r;
    int existed = 0;
    ln__stage(J, &r, 1, "key-done");
    assert_int_equal(ln_jobs_submit(J, &r.req, &snap, &existed, &err), LN_OK);
    assert_int_equal(existed, 1);
    assert_string_equal(snap.id, done.id);
    ln__unstage(&r);

    ln__start(J);
    ln__wait_for(J, queued.id, ln__is_final, 10, &snap);
    assert_int_equal(snap.status, LN_JOB_STATUS_SUCCEEDED);
    ln_jobs_shutdown(J, 5);
    assert_int_equal(atomic_load(&f.runs), 2); /* the queued job, and only it */
    ln_jobs_free(J);
}

static void test_history_deleted_jobs_adopted(void **state)
{
    ln__history_lost("jobs_lost_deleted", LN__LOSE_BOTH_FILES);
}

static void test_history_emptied_jobs_adopted(void **state)
{
    ln__history_lost("jobs_lost_emptied", LN__LOSE_TO_EMPTY_OBJECT);
}

static void test_history_damaged_no_bak_jobs_adopted(void **state)
{
    ln__history_lost("jobs_lost_damaged", LN__LOSE_TO_DAMAGE);
}

/* The .bak is one save behind jobs.json: after a job's last save it still
 * says running. Recovering from it, or from a jobs.json one save behind
 * (a kill between the record and the history), must not run the job again. */
static void test_history_behind_job_not_rerun(void **state)
{
    const char *dir = ln_test_tmpdir("jobs_behind");
    struct ln__fake f = {.mode = LN__FAKE_OK};
    struct ln_engine eng = {.ops = &ln__fake_ops, .impl = &f};
    struct ln_error err = {0};
    struct ln_job job, snap;
    struct ln_jobs *J = ln__open(dir, &eng, 1, 8, 0);
    ln__start(J);
    ln__submit(J, &job, NULL);
    ln__wait_for(J, job.id, ln__is_final, 10, &job);
    assert_int_equal(job.status, LN_JOB_STATUS_SUCCEEDED);
    ln_jobs_free(J);

    char p[4096];
    snprintf(p, sizeof p, "%s/jobs.json.bak", dir);
    json_t *bak = json_load_file(p, 0, NULL);
    assert_non_null(bak);
    assert_string_equal(json_string_value(json_object_get(json_object_get(bak, job.id), "status")),
                        "running");
    json_decref(bak);
    ln__write(dir, "jobs.json", "{\"");

    J = ln__open(dir, &eng, 1, 8, 0);
    assert_int_equal(ln_jobs_get(J, job.id, &snap, &err), LN_OK);
    assert_int_equal(snap.status, LN_JOB_STATUS_SUCCEEDED);
    assert_int_equal(snap.attempts, 1);
    assert_true(snap.has_mesh);
    struct ln_jobs_queue_stats q;
    ln_jobs_queue_stats(J, &q);
    assert_int_equal(q.depth, 0);
    char st[32];
    assert_string_equal(ln__stored_status(dir, job.id, st), "succeeded");
    ln__start(J);
    ln_jobs_shutdown(J, 5);
    ln_jobs_free(J);
    assert_int_equal(atomic_load(&f.runs), 1);

    /* jobs.json itself one save behind: running, one attempt. */
    snprintf(p, sizeof p, "%s/jobs.json", dir);
    json_t *all = json_load_file(p, 0, NULL);
    json_t *j = json_object_get(all, job.id);
    json_object_set_new(j, "status", json_string("running"));
    json_object_set_new(j, "stage", json_string("carving"));
    json_object_set_new(j, "finished_at", json_null());
    json_object_set_new(j, "mesh", json_null());
    assert_int_equal(json_dump_file(all, p, 0), 0);
    json_decref(all);
    J = ln__open(dir, &eng, 1, 8, 0);
    assert_int_equal(ln_jobs_get(J, job.id, &snap, &err), LN_OK);
    assert_int_equal(snap.status, LN_JOB_STATUS_SUCCEEDED);
    assert_true(snap.has_mesh);
    assert_string_equal(ln__stored_status(dir, job.id, st), "succeeded");
    ln__start(J);
    ln_jobs_shutdown(J, 5);
    ln_jobs_free(J);
    assert_int_equal(atomic_load(&f.runs), 1);
}

/* Folders outside the history at start-up: one with only the uploads of a
 * submission cut off before its record (never acknowledged) is removed;
 * anything with a record or other files is left alone; a job folder from
 * before records were kept gets its record from the history. */
static void test_unacknowledged_folders_removed(void **state)
{
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", ln_test_tmpdir("jobs_unacked"));
    struct ln__fake f = {.mode = LN__FAKE_OK};
    struct ln_engine eng = {.ops = &ln__fake_ops, .impl = &f};
    struct ln_error err = {0};
    struct ln_job kept, snap;
    struct ln_jobs *J = ln__open(dir, &eng, 1, 8, 0);
    ln__submit(J, &kept, NULL);
    ln_jobs_free(J);
    char rec[64];
    snprintf(rec, sizeof rec, "%s/job.json", kept.id);
    ln__unlink(dir, rec); /* as an earlier version left it */

    const char *inputs_only = "aaaaaaaaaaaaaaaaaaaaaaaa", *empty = "bbbbbbbbbbbbbbbbbbbbbbbb",
               *with_model = "cccccccccccccccccccccccc", *bad_record = "dddddddddddddddddddddddd";
    ln__mkdir(dir, inputs_only);
    ln__write(dir, "aaaaaaaaaaaaaaaaaaaaaaaa/input-0.png", "png bytes");
    ln__write(dir, "aaaaaaaaaaaaaaaaaaaaaaaa/input-1.webp", "webp bytes");
    ln__write(dir, "aaaaaaaaaaaaaaaaaaaaaaaa/job.json.tmp-Ab12Cd", "{\"id");
    ln__mkdir(dir, empty);
    ln__mkdir(dir, with_model);
    ln__write(dir, "cccccccccccccccccccccccc/input-0.png", "png bytes");
    ln__write(dir, "cccccccccccccccccccccccc/model.glb", "glTF");
    ln__mkdir(dir, bad_record);
    ln__write(dir, "dddddddddddddddddddddddd/input-0.png", "png bytes");
    ln__write(dir, "dddddddddddddddddddddddd/job.json", "{\"id\": \"dd");
    ln__mkdir(dir, "notes");
    ln__write(dir, "notes/readme.txt", "an operator's notes");
    ln__write(dir, "eeeeeeeeeeeeeeeeeeeeeeee", "a file named like a job");

    J = ln__open(dir, &eng, 1, 8, 0);
    assert_false(ln__exists(dir, inputs_only, NULL));
    assert_false(ln__exists(dir, empty, NULL));
    assert_true(ln__exists(dir, with_model, "model.glb"));
    assert_true(ln__exists(dir, with_model, "input-0.png"));
    assert_true(ln__exists(dir, bad_record, "job.json"));
    assert_true(ln__exists(dir, bad_record, "input-0.png"));
    assert_true(ln__exists(dir, "notes", "readme.txt"));
    assert_true(ln__exists(dir, "eeeeeeeeeeeeeeeeeeeeeeee", NULL));
    assert_int_equal(ln_jobs_get(J, with_model, &snap, &err), LN_ENOTFOUND);
    assert_int_equal(ln_jobs_get(J, bad_record, &snap, &err), LN_ENOTFOUND);
    struct ln_job *list;
    size_t n, total;
    assert_int_equal(ln_jobs_list(J, -1, 0, 0, &list, &n, &total, &err), LN_OK);
    assert_int_equal(total, 1);
    free(list);
    assert_int_equal(ln_jobs_get(J, kept.id, &snap, &err), LN_OK);
    ln__assert_record_is(dir, &snap);
    ln_jobs_free(J);
}

/* A job folder with its record, brought from elsewhere (a backup of the
 * folders, another outputs folder) while the server is stopped, is adopted
 * with its files as they are and not run again. */
static void test_folder_with_record_adopted(void **state)
{
    char src[1100], dst[1100], from[4096], to[4096];
    snprintf(src, sizeof src, "%s", ln_test_tmpdir("jobs_adopt_src"));
    snprintf(dst, sizeof dst, "%s", ln_test_tmpdir("jobs_adopt_dst"));
    struct ln__fake f = {.mode = LN__FAKE_OK};
    struct ln_engine eng = {.ops = &ln__fake_ops, .impl = &f};
    struct ln_error err = {0};
    struct ln_job moved, local, snap;
    struct ln_jobs *J = ln__open(src, &eng, 1, 8, 0);
    ln__start(J);
    ln__submit(J, &moved, NULL);
    ln__wait_for(J, moved.id, ln__is_final, 10, &moved);
    assert_int_equal(moved.status, LN_JOB_STATUS_SUCCEEDED);
    ln_jobs_free(J);
    J = ln__open(dst, &eng, 1, 8, 0);
    ln__start(J);
    ln__submit(J, &local, NULL);
    ln__wait_for(J, local.id, ln__is_final, 10, &local);
    ln_jobs_free(J);
    assert_int_equal(atomic_load(&f.runs), 2);

    snprintf(from, sizeof from, "%s/%s", src, moved.id);
    snprintf(to, sizeof to, "%s/%s", dst, moved.id);
    assert_int_equal(rename(from, to), 0);
    J = ln__open(dst, &eng, 1, 8, 0);
    assert_int_equal(ln_jobs_get(J, moved.id, &snap, &err), LN_OK);
    assert_int_equal(snap.status, LN_JOB_STATUS_SUCCEEDED);
    assert_int_equal(snap.mesh.n_faces, moved.mesh.n_faces);
    assert_int_equal(ln_jobs_get(J, local.id, &snap, &err), LN_OK);
    char path[4096];
    assert_int_equal(ln_jobs_model(J, moved.id, LN_MESH_FORMAT_PLY, path, sizeof path, &err),
                     LN_OK);
    struct ln_mesh m = {0};
    assert_int_equal(ln_mesh_load(path, &m, &err), LN_OK);
    assert_int_equal(m.n_faces, moved.mesh.n_faces);
    ln_mesh_free(&m);
    char st[32];
    assert_string_equal(ln__stored_status(dst, moved.id, st), "succeeded");
    ln__start(J);
    ln_jobs_shutdown(J, 5);
    ln_jobs_free(J);
    assert_int_equal(atomic_load(&f.runs), 2);
}

/* When the history cannot be saved the change is refused, and the job's
 * record says what the history says: no folder for a refused submission,
 * the old state for a refused cancel or delete. */
static void test_refused_change_leaves_record(void **state)
{
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", ln_test_tmpdir("jobs_refused"));
    struct ln__fake f = {.mode = LN__FAKE_OK};
    struct ln_engine eng = {.ops = &ln__fake_ops, .impl = &f};
    struct ln_error err = {0};
    struct ln_job job, snap;
    struct ln_jobs *J = ln__open(dir, &eng, 1, 8, 0);
    ln__submit(J, &job, NULL);

    /* jobs.json becomes a folder that is not empty: no rename can replace it. */
    char p[4096], q[4096];
    snprintf(p, sizeof p, "%s/jobs.json", dir);
    snprintf(q, sizeof q, "%s/jobs.json.aside", dir);
    assert_int_equal(rename(p, q), 0);
    ln__mkdir(dir, "jobs.json");
    ln__write(dir, "jobs.json/keep", "x");

    struct ln__req r;
    int existed = 0;
    ln__stage(J, &r, 1, NULL);
    assert_int_equal(ln_jobs_submit(J, &r.req, &snap, &existed, &err), LN_EIO);
    ln__unstage(&r);
    DIR *d = opendir(dir);
    struct dirent *e;
    int folders = 0;
    while ((e = readdir(d)))
        folders += ln_job_id_valid(e->d_name);
    closedir(d);
    assert_int_equal(folders, 1);

    assert_int_equal(ln_jobs_cancel(J, job.id, &snap, &err), LN_EIO);
    char st[32];
    assert_string_equal(ln__record_status(dir, job.id, st), "queued");
    assert_int_equal(ln_jobs_delete(J, job.id, &err), LN_EIO);
    assert_string_equal(ln__record_status(dir, job.id, st), "queued");
    assert_false(ln__exists(dir, job.id, "job.json.deleted"));
    assert_true(ln__exists(dir, job.id, "input-0.png"));
    assert_int_equal(ln_jobs_get(J, job.id, &snap, &err), LN_OK);
    assert_int_equal(snap.status, LN_JOB_STATUS_QUEUED);
    ln_jobs_free(J);
    ln__unlink(dir, "jobs.json/keep");
    assert_int_equal(rmdir(p), 0);
    assert_int_equal(rename(q, p), 0);
}

/* A deletion (through the API or by retention) cut short by a crash: the
 * record had become a deletion mark. Out of the history, the folder goes,
 * results and all; still in the history, the job stays with its record. A
 * job whose folder was removed by hand can still be deleted. */
static void test_deletion_cut_short(void **state)
{
    char dir[1100], p[4096];
    snprintf(dir, sizeof dir, "%s", ln_test_tmpdir("jobs_delete_cut"));
    struct ln__fake f = {.mode = LN__FAKE_OK};
    struct ln_engine eng = {.ops = &ln__fake_ops, .impl = &f};
    struct ln_error err = {0};
    struct ln_job gone, stays, hand, snap;
    struct ln_jobs *J = ln__open(dir, &eng, 1, 8, 0);
    ln__start(J);
    ln__submit(J, &gone, NULL);
    ln__submit(J, &stays, NULL);
    ln__submit(J, &hand, NULL);
    ln__wait_for(J, gone.id, ln__is_final, 10, &gone);
    ln__wait_for(J, stays.id, ln__is_final, 10, &stays);
    ln__wait_for(J, hand.id, ln__is_final, 10, &hand);
    snprintf(p, sizeof p, "%s/%s", dir, hand.id);
    assert_int_equal(ln_dir_remove_tree(p, &err), LN_OK);
    assert_int_equal(ln_jobs_delete(J, hand.id, &err), LN_OK);
    ln_jobs_free(J);

    /* gone: the history saved without it, the folder not yet removed. */
    snprintf(p, sizeof p, "%s/jobs.json", dir);
    json_t *all = json_load_file(p, 0, NULL);
    assert_int_equal(json_object_del(all, gone.id), 0);
    assert_int_equal(json_dump_file(all, p, 0), 0);
    json_decref(all);
    char from[128], to[128];
    snprintf(from, sizeof from, "%s/job.json", gone.id);
    snprintf(to, sizeof to, "%s/job.json.deleted", gone.id);
    char a[4096], b[4096];
    snprintf(a, sizeof a, "%s/%s", dir, from);
    snprintf(b, sizeof b, "%s/%s", dir, to);
    assert_int_equal(rename(a, b), 0);
    /* stays: marked, but the history was never saved without it. */
    snprintf(from, sizeof from, "%s/job.json", stays.id);
    snprintf(to, sizeof to, "%s/job.json.deleted", stays.id);
    snprintf(a, sizeof a, "%s/%s", dir, from);
    snprintf(b, sizeof b, "%s/%s", dir, to);
    assert_int_equal(rename(a, b), 0);

    J = ln__open(dir, &eng, 1, 8, 0);
    assert_false(ln__exists(dir, gone.id, NULL));
    assert_int_equal(ln_jobs_get(J, gone.id, &snap, &err), LN_ENOTFOUND);
    assert_int_equal(ln_jobs_get(J, stays.id, &snap, &err), LN_OK);
    assert_int_equal(snap.status, LN_JOB_STATUS_SUCCEEDED);
    assert_false(ln__exists(dir, stays.id, "job.json.deleted"));
    assert_true(ln__exists(dir, stays.id, "model.glb"));
    ln__assert_record_is(dir, &snap);
    ln_jobs_free(J);
    assert_int_equal(atomic_load(&f.runs), 3);
}

int main(void)
{
    ln_log_set_level(LN_LOG_LEVEL_OFF);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sculpt_job_succeeds),
        cmocka_unit_test(test_multi_view_job),
        cmocka_unit_test(test_failure_is_recorded),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_delete_snapshot_order),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_idempotency_key),
        cmocka_unit_test(test_queue_full),
        cmocka_unit_test(test_restart_requeues_running),
        cmocka_unit_test(test_open_repairs_history),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_wait),
        cmocka_unit_test(test_wait_any),
        cmocka_unit_test(test_shutdown_requeues_running),
        cmocka_unit_test(test_paths_and_bad_ids),
        cmocka_unit_test(test_engine_set_routes_jobs),
        cmocka_unit_test(test_folder_record_follows_job),
        cmocka_unit_test(test_history_deleted_jobs_adopted),
        cmocka_unit_test(test_history_emptied_jobs_adopted),
        cmocka_unit_test(test_history_damaged_no_bak_jobs_adopted),
        cmocka_unit_test(test_history_behind_job_not_rerun),
        cmocka_unit_test(test_unacknowledged_folders_removed),
        cmocka_unit_test(test_folder_with_record_adopted),
        cmocka_unit_test(test_refused_change_leaves_record),
        cmocka_unit_test(test_deletion_cut_short),
        cmocka_unit_test(test_concurrent_changes),
        cmocka_unit_test_teardown(test_saves_leave_table_free, ln__gate_teardown),
        cmocka_unit_test(test_image_limits_apply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
