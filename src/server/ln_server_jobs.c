/*
 * The job endpoints, /health and /metrics. Each handler validates what it
 * was given, asks the job manager for a snapshot or a change and answers;
 * only the event streams share state (their list, under the server's
 * ev_mu). Files
 * (models, previews, inputs) are sent straight from their descriptor. An
 * event stream never waits on a pool thread: its connection is suspended
 * while there is nothing to send and resumed by one notifier thread that
 * watches every job (the section on events below).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_background.h"
#include "ln_export.h"
#include "ln_file.h"
#include "ln_gpu.h"
#include "ln_log.h"
#include "ln_server_int.h"
#include "ln_time.h"
#include "ln_triposr.h"

/* Server-Sent Events: a comment line after this long without a change
 * keeps proxies and clients from timing the stream out. */
#define LN__EVENTS_KEEPALIVE_S 15.0
/* The notifier's waits are sliced so that a stopping server joins it
 * quickly (ln_jobs_wait_any cannot be woken from outside). */
#define LN__EVENTS_SLICE_S 0.25

/* ---- /health and /metrics ------------------------------------------------ */

enum MHD_Result ln__h_health(struct ln__req *req)
{
    struct ln_server *srv = req->srv;
    struct ln_jobs *jobs = ln__server_jobs(srv);
    double uptime = ln_time_now() - srv->started_at;
    if (!jobs)
        return ln__send_json(req, MHD_HTTP_SERVICE_UNAVAILABLE,
                             json_pack("{s:s, s:b, s:f, s:s}", "status", "starting",
                                       "model_loaded", 0, "uptime_s", uptime, "version",
                                       LN_VERSION_STRING));
    struct ln_jobs_queue_stats q;
    ln_jobs_queue_stats(jobs, &q);
    struct ln_engine_set engines;
    ln_jobs_engines(jobs, &engines);
    json_t *names = json_array();
    for (int i = 0; i < engines.n; i++)
        json_array_append_new(names, json_string(ln_engine_name(engines.engines[i])));
    /* Background removal: rembg's models found in its folder, and the one
     * `auto` and `model` use (null: the classical separation). */
    char found[1024], model[64];
    ln_background_models_found(found, sizeof found);
    json_t *models = json_array();
    for (char *s = found, *next; *s; s = next) {
        next = strstr(s, ", ");
        if (next)
            *next = 0, next += 2;
        else
            next = s + strlen(s);
        json_array_append_new(models, json_string(s));
    }
    const char *bg = ln_background_model(model, sizeof model);
    json_t *body = json_pack(
        "{s:s, s:s, s:o, s:b, s:{s:I, s:I, s:I, s:i}, s:f, s:s, s:s, s:{s:o, s:o}}", "status",
        "ok", "engine", engines.n ? ln_engine_name(engines.engines[0]) : "", "engines",
        names, "model_loaded", 1, "queue", "depth", (json_int_t)q.depth, "capacity",
        (json_int_t)q.capacity, "running", (json_int_t)q.running, "workers", q.workers,
        "uptime_s", uptime, "version", LN_VERSION_STRING, "kernels", ln_nn_kernel_set(),
        "background", "models", models, "model", bg ? json_string(bg) : json_null());
    /* What computes the network: "cpu" or "vulkan:N (name)" (--device),
     * and why that one (the reason serve logged: "asked for", "auto: no
     * Vulkan loader (libvulkan) found"...), which the web UI shows. */
    if (body) {
        json_object_set_new(body, "device", json_string(ln_gpu_current_name()));
        json_object_set_new(body, "device_reason", json_string(ln_gpu_current_reason()));
        /* OpenBLAS's kernel family, and why it cannot run here if so. */
        const char *mismatch = ln_nn_blas_mismatch();
        json_object_set_new(body, "blas", json_string(ln_nn_blas_core()));
        json_object_set_new(body, "blas_warning", mismatch ? json_string(mismatch) : json_null());
    }
    if (body && srv->download_probe) {
        struct ln_server_download d;
        memset(&d, 0, sizeof d);
        srv->download_probe(srv->download_user, &d);
        if (d.state)
            json_object_set_new(
                body, "download",
                json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:b}", "state", d.state, "model",
                          d.model, "file", d.file, "done", (json_int_t)d.done, "total",
                          (json_int_t)d.total, "message", d.message, "restart_needed",
                          d.restart_needed));
    }
    return ln__send_json(req, MHD_HTTP_OK, body);
}

enum MHD_Result ln__h_metrics(struct ln__req *req)
{
    struct ln_server *srv = req->srv;
    struct ln_jobs *jobs = ln__server_jobs(srv);
    struct ln_buf b = {0};
    ln_buf_printf(&b,
                  "# HELP lunar_nova_up 1 while the server runs.\n"
                  "# TYPE lunar_nova_up gauge\n"
                  "lunar_nova_up 1\n"
                  "# HELP lunar_nova_ready 1 once the engine is loaded and jobs are accepted.\n"
                  "# TYPE lunar_nova_ready gauge\n"
                  "lunar_nova_ready %d\n"
                  "# HELP lunar_nova_build_info The running version.\n"
                  "# TYPE lunar_nova_build_info gauge\n"
                  "lunar_nova_build_info{version=\"%s\"} 1\n",
                  jobs != NULL, LN_VERSION_STRING);
    if (jobs) {
        struct ln_jobs_metrics m;
        ln_jobs_metrics(jobs, &m);
        ln_buf_printf(&b, "# HELP lunar_nova_jobs Jobs in the history by status.\n"
                          "# TYPE lunar_nova_jobs gauge\n");
        for (int s = 0; s < LN_JOB_STATUS_COUNT; s++)
            ln_buf_printf(&b, "lunar_nova_jobs{status=\"%s\"} %zu\n",
                          ln_job_status_name((enum ln_job_status)s), m.by_status[s]);
        ln_buf_printf(&b,
                      "# HELP lunar_nova_queue_depth Jobs waiting for a worker.\n"
                      "# TYPE lunar_nova_queue_depth gauge\n"
                      "lunar_nova_queue_depth %zu\n"
                      "# HELP lunar_nova_queue_capacity Queued jobs accepted at most.\n"
                      "# TYPE lunar_nova_queue_capacity gauge\n"
                      "lunar_nova_queue_capacity %zu\n"
                      "# HELP lunar_nova_workers Worker threads running the engine.\n"
                      "# TYPE lunar_nova_workers gauge\n"
                      "lunar_nova_workers %d\n"
                      "# HELP lunar_nova_generation_seconds Time from a worker's start of a "
                      "job to its end.\n"
                      "# TYPE lunar_nova_generation_seconds histogram\n",
                      m.queue_depth, m.queue_capacity, m.workers);
        for (int i = 0; i < LN_JOBS_DURATION_BUCKETS; i++) {
            if (!(m.bucket_bounds[i] > 0.0))
                continue;
            ln_buf_printf(&b, "lunar_nova_generation_seconds_bucket{le=\"%g\"} %llu\n",
                          m.bucket_bounds[i], (unsigned long long)m.bucket_counts[i]);
        }
        ln_buf_printf(&b,
                      "lunar_nova_generation_seconds_bucket{le=\"+Inf\"} %llu\n"
                      "lunar_nova_generation_seconds_sum %.6f\n"
                      "lunar_nova_generation_seconds_count %llu\n",
                      (unsigned long long)m.duration_count, m.duration_sum,
                      (unsigned long long)m.duration_count);
    }
    ln_buf_printf(&b, "# HELP lunar_nova_http_requests_total HTTP requests answered, by "
                      "status code.\n"
                      "# TYPE lunar_nova_http_requests_total counter\n");
    for (int code = 100; code < LN__HTTP_CODES; code++) {
        unsigned long long n = atomic_load(&srv->http_count[code]);
        if (n)
            ln_buf_printf(&b, "lunar_nova_http_requests_total{code=\"%d\"} %llu\n", code, n);
    }
    if (b.failed) {
        ln_buf_free(&b);
        return ln__send(req, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL);
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        ln_buf_free(&b);
        return ln__send(req, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL);
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return ln__send(req, MHD_HTTP_OK, resp);
}

/* ---- one job --------------------------------------------------------------- */

/* The snapshot of the job named by the {id} of the path; answers 404 and
 * returns -1 when there is none (an id that is not an id included). */
static int ln__job_lookup(struct ln__req *req, struct ln_job *job, enum MHD_Result *answer)
{
    const char *id = req->params[0];
    struct ln_error err = {0};
    if (!ln_job_id_valid(id)) {
        *answer = ln__send_error(req, MHD_HTTP_NOT_FOUND, "ENOTFOUND",
                                 "no such job: a job id is %d lowercase hex digits",
                                 LN_JOB_ID_LEN);
        return -1;
    }
    if (ln_jobs_get(ln__server_jobs(req->srv), id, job, &err) < 0) {
        if (err.code == LN_ENOTFOUND)
            *answer = ln__send_error(req, MHD_HTTP_NOT_FOUND, "ENOTFOUND", "no job %s", id);
        else
            *answer = ln__send_lnerr(req, &err);
        return -1;
    }
    return 0;
}

enum MHD_Result ln__h_job_get(struct ln__req *req)
{
    struct ln_job *job = ln_xmalloc(sizeof *job);
    enum MHD_Result r;
    if (ln__job_lookup(req, job, &r) == 0)
        r = ln__send_json(req, MHD_HTTP_OK, ln_job_to_json(job));
    free(job);
    return r;
}

static int ln__query_long(struct ln__req *req, const char *name, long lo, long hi, long *out)
{
    const char *s = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
    if (!s)
        return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

enum MHD_Result ln__h_jobs_list(struct ln__req *req)
{
    int status = -1;
    long limit = 50, offset = 0;
    if (MHD_lookup_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND, "status", 6, NULL,
                                      NULL) == MHD_YES) {
        const char *s =
            MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "status");
        status = s ? ln_job_status_parse(s) : -1;
        if (status < 0)
            return ln__send_error(req, MHD_HTTP_BAD_REQUEST, "EINVAL",
                                  "?status= wants queued, running, succeeded, failed or "
                                  "canceled");
    }
    if (ln__query_long(req, "limit", 1, 500, &limit) < 0)
        return ln__send_error(req, MHD_HTTP_BAD_REQUEST, "EINVAL",
                              "?limit= wants a whole number from 1 to 500");
    if (ln__query_long(req, "offset", 0, 1000000000L, &offset) < 0)
        return ln__send_error(req, MHD_HTTP_BAD_REQUEST, "EINVAL",
                              "?offset= wants a whole number from 0");
    struct ln_job *list = NULL;
    size_t n = 0, total = 0;
    struct ln_error err = {0};
    if (ln_jobs_list(ln__server_jobs(req->srv), status, (size_t)offset, (size_t)limit, &list, &n,
                     &total, &err) < 0)
        return ln__send_lnerr(req, &err);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, ln_job_to_json(&list[i]));
    free(list);
    return ln__send_json(req, MHD_HTTP_OK,
                         json_pack("{s:o, s:I, s:I, s:I}", "jobs", arr, "total",
                                   (json_int_t)total, "limit", (json_int_t)limit, "offset",
                                   (json_int_t)offset));
}

enum MHD_Result ln__h_job_cancel(struct ln__req *req)
{
    struct ln_job *job = ln_xmalloc(sizeof *job);
    enum MHD_Result r;
    if (ln__job_lookup(req, job, &r) == 0) {
        struct ln_error err = {0};
        if (ln_jobs_cancel(ln__server_jobs(req->srv), job->id, job, &err) == 0)
            r = ln__send_json(req, MHD_HTTP_OK, ln_job_to_json(job));
        else if (err.code == LN_EINVAL) /* already finished */
            r = ln__send_error(req, MHD_HTTP_CONFLICT, "ECONFLICT", "%s", err.message);
        else
            r = ln__send_lnerr(req, &err);
    }
    free(job);
    return r;
}

enum MHD_Result ln__h_job_delete(struct ln__req *req)
{
    const char *path;
    const struct ln_error *serr;
    int rc = ln__slow_result(req, &path, &serr);
    if (rc <= 0) /* the helper's outcome (ln_server_slow.c) */
        return rc == 0 ? ln__send(req, MHD_HTTP_NO_CONTENT,
                                  MHD_create_response_from_buffer(0, NULL,
                                                                  MHD_RESPMEM_PERSISTENT))
                       : ln__send_lnerr(req, serr);
    struct ln_job *job = ln_xmalloc(sizeof *job);
    enum MHD_Result r;
    if (ln__job_lookup(req, job, &r) == 0) {
        /* The deletion's fsyncs and the folder's removal go to a helper. */
        ln__slow_start(req, LN__SLOW_DELETE, job->id, 0);
        r = MHD_YES;
    }
    free(job);
    return r;
}

/* Opens a file of a job's folder and sends it; 404 when it is not there. */
static enum MHD_Result ln__send_job_file(struct ln__req *req, const char *path,
                                         const char *content_type, const char *disposition)
{
    struct ln_file f;
    struct ln_error err = {0};
    int rc = ln_file_open(&f, path, LN_FILE_READ, &err);
    if (rc < 0) {
        if (rc != LN_ENOTFOUND)
            ln_log_error("%s", err.message);
        return ln__send_error(req, MHD_HTTP_NOT_FOUND, "ENOTFOUND",
                              "job %s has no such file", req->params[0]);
    }
    return ln__send_file(req, &f, content_type, disposition, "no-cache");
}

/* GET /jobs/{id}/model.{glb,obj,ply,stl,zip} and /jobs/{id}/preview.png
 * (model.zip: the OBJ with its material and texture, one archive). A job
 * that has not finished answers 409 (its files are coming: ask again), one
 * that failed or was canceled 404 (they never will). */
enum MHD_Result ln__h_job_file(struct ln__req *req)
{
    const char *name = strrchr(req->route->pattern, '/') + 1;
    struct ln_jobs *jobs = ln__server_jobs(req->srv);
    struct ln_job *job = ln_xmalloc(sizeof *job);
    enum MHD_Result r;
    if (ln__job_lookup(req, job, &r) < 0)
        goto done;
    if (!ln_job_status_is_final(job->status)) {
        r = ln__send_error(req, MHD_HTTP_CONFLICT, "ECONFLICT",
                           "job %s is %s: its model is ready once it has succeeded", job->id,
                           ln_job_status_name(job->status));
        goto done;
    }
    if (job->status != LN_JOB_STATUS_SUCCEEDED) {
        r = ln__send_error(req, MHD_HTTP_NOT_FOUND, "ENOTFOUND", "job %s %s: it has no model",
                           job->id, ln_job_status_name(job->status));
        goto done;
    }
    char path[4096], disposition[96];
    struct ln_error err = {0};
    int fmt = strcmp(name, "model.zip") == 0 ? LN__FORMAT_ZIP : ln_mesh_format_from_path(name);
    if (fmt >= 0) {
        const char *slow_path;
        const struct ln_error *serr;
        int rc = ln__slow_result(req, &slow_path, &serr);
        if (rc == 1) {
            /* A format not converted yet is converted on a helper thread
             * (ln_server_slow.c); the GLB and converted files go at once. */
            if (fmt != LN_MESH_FORMAT_GLB &&
                ln_jobs_path(jobs, job->id, name, path, sizeof path, &err) == 0 &&
                ln_path_stat(path, 0, &(struct ln_path_info){0}, NULL) != LN_OK) {
                ln__slow_start(req, LN__SLOW_MODEL, job->id, fmt);
                r = MHD_YES;
                goto done;
            }
            rc = fmt == LN__FORMAT_ZIP
                     ? ln_jobs_model_zip(jobs, job->id, path, sizeof path, &err)
                     : ln_jobs_model(jobs, job->id, (enum ln_mesh_format)fmt, path, sizeof path,
                                     &err);
            serr = &err;
        } else if (rc == 0) {
            snprintf(path, sizeof path, "%s", slow_path);
        }
        if (rc < 0) {
            if (serr->code != LN_ENOTFOUND)
                ln_log_error("job %s: %s", job->id, serr->message);
            r = ln__send_lnerr(req, serr);
            goto done;
        }
        int zip = fmt == LN__FORMAT_ZIP;
        snprintf(disposition, sizeof disposition, "attachment; filename=\"%s.%s\"", job->id,
                 zip ? "zip" : ln_mesh_format_ext((enum ln_mesh_format)fmt));
        r = ln__send_job_file(req, path,
                              zip ? "application/zip"
                                  : ln_mesh_format_mime((enum ln_mesh_format)fmt),
                              disposition);
        goto done;
    }
    if (ln_jobs_path(jobs, job->id, name, path, sizeof path, &err) < 0) {
        r = ln__send_lnerr(req, &err);
        goto done;
    }
    snprintf(disposition, sizeof disposition, "inline; filename=\"%s-%s\"", job->id, name);
    r = ln__send_job_file(req, path, "image/png", disposition);
done:
    free(job);
    return r;
}

/* GET /jobs/{id}/inputs/{n}: an input as uploaded, 0-based. */
enum MHD_Result ln__h_job_input(struct ln__req *req)
{
    struct ln_job *job = ln_xmalloc(sizeof *job);
    enum MHD_Result r;
    if (ln__job_lookup(req, job, &r) < 0)
        goto done;
    const char *s = req->params[1];
    char *end;
    errno = 0;
    long n = strtol(s, &end, 10);
    if (errno || end == s || *end || s[0] < '0' || s[0] > '9' || n < 0 || n >= job->n_inputs) {
        r = ln__send_error(req, MHD_HTTP_NOT_FOUND, "ENOTFOUND",
                           "job %s has %d input%s, numbered from 0", job->id, job->n_inputs,
                           job->n_inputs == 1 ? "" : "s");
        goto done;
    }
    char path[4096];
    struct ln_error err = {0};
    const struct ln_job_input *in = &job->inputs[n];
    if (ln_jobs_path(ln__server_jobs(req->srv), job->id, in->file, path, sizeof path, &err) < 0) {
        r = ln__send_lnerr(req, &err);
        goto done;
    }
    char disposition[96];
    snprintf(disposition, sizeof disposition, "inline; filename=\"%s\"", in->file);
    r = ln__send_job_file(req, path, in->content_type[0] ? in->content_type
                                                         : "application/octet-stream",
                          disposition);
done:
    free(job);
    return r;
}

/* ---- GET /jobs/{id}/events --------------------------------------------------- */

/*
 * A stream never blocks a pool thread. Its reader sends what it has; with
 * nothing left it suspends the connection (under ev_mu) and returns 0. The
 * notifier thread sleeps in ln_jobs_wait_any; after a change it takes a
 * snapshot of each suspended stream's job and resumes the streams whose
 * job has a new version (or is gone), and every 15 s a quiet one for a
 * keep-alive comment. A stream is in one of three states:
 *   - running: its connection is live and only its reader touches the
 *     message fields;
 *   - suspended: the reader is not called, libmicrohttpd cannot close the
 *     connection (a suspended one neither times out nor sees a hang-up),
 *     so the stream and its connection stay valid until someone resumes it;
 *   - checking: suspended and taken by the notifier, which looks at the job
 *     without ev_mu; only the notifier resumes it.
 * The notifier resumes outside ev_mu, so the only lock order is ev_mu then
 * libmicrohttpd's own (inside MHD_suspend_connection). A change the
 * notifier sees while a stream is running sets `missed`: that stream looks
 * at its job itself before it suspends, so no change falls between.
 */

enum { LN__EV_RUNNING, LN__EV_SUSPENDED, LN__EV_CHECKING };

struct ln__events {
    struct ln_server *srv;
    struct MHD_Connection *conn;
    struct ln__events *prev, *next; /* srv->ev_streams, under ev_mu */
    char id[LN_JOB_ID_LEN + 1];
    /* under ev_mu */
    int state;
    int missed;     /* a change was seen while running */
    char *pending;  /* the next message, prepared by the notifier */
    int end;        /* no message after the current and pending ones */
    /* the reader's while running, the notifier's while checking */
    uint64_t version;    /* of the last snapshot sent */
    double keepalive_at; /* when a quiet stream gets a comment */
    char *buf;           /* the message being sent */
    size_t len, pos;
    struct ln_job job; /* scratch */
};

/* A job snapshot as an event ("id: version"), NULL when out of memory. */
static char *ln__events_message(const struct ln_job *job)
{
    json_t *obj = ln_job_to_json(job);
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    struct ln_buf b = {0};
    ln_buf_printf(&b, "id: %llu\nevent: job\ndata: %s\n\n", (unsigned long long)job->version,
                  text ? text : "{}");
    free(text);
    if (b.failed) {
        ln_buf_free(&b);
        return NULL;
    }
    return (char *)b.data;
}

/* Looks at the stream's job: returns its next message when the version
 * changed (setting *end after the final state) or NULL; *end too when the
 * job is gone. Takes the job manager's lock, never ev_mu. */
static char *ln__events_check(struct ln__events *ev, int *end)
{
    struct ln_error err = {0};
    if (ln_jobs_get(ln__server_jobs(ev->srv), ev->id, &ev->job, &err) < 0) {
        *end = 1; /* deleted */
        return NULL;
    }
    if (ev->job.version == ev->version)
        return NULL;
    ev->version = ev->job.version;
    if (ln_job_status_is_final(ev->job.status))
        *end = 1;
    char *msg = ln__events_message(&ev->job);
    if (!msg)
        *end = 1;
    return msg;
}

/* Sends the current message; with none left takes the next one prepared
 * by the notifier, looks at the job itself after a missed change, ends
 * the stream, or suspends the connection. */
static ssize_t ln__events_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct ln__events *ev = cls;
    struct ln_server *srv = ev->srv;
    (void)pos;
    while (ev->pos == ev->len) {
        free(ev->buf);
        ev->buf = NULL;
        ev->len = ev->pos = 0;
        int check = 0;
        pthread_mutex_lock(&srv->ev_mu);
        if (ev->pending) {
            ev->buf = ev->pending;
            ev->pending = NULL;
        } else if (ev->end || srv->ev_stopping) {
            pthread_mutex_unlock(&srv->ev_mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        } else if (ev->missed) {
            ev->missed = 0;
            check = 1;
        } else {
            /* Nothing to send: off the pool thread until the notifier
             * resumes the connection. */
            ev->state = LN__EV_SUSPENDED;
            MHD_suspend_connection(ev->conn);
            pthread_mutex_unlock(&srv->ev_mu);
            return 0;
        }
        pthread_mutex_unlock(&srv->ev_mu);
        if (check) {
            int end = 0;
            ev->buf = ln__events_check(ev, &end);
            if (end) {
                pthread_mutex_lock(&srv->ev_mu);
                ev->end = 1;
                pthread_mutex_unlock(&srv->ev_mu);
            }
            if (!ev->buf)
                continue;
        }
        ev->len = strlen(ev->buf);
        ev->keepalive_at = ln_time_now() + LN__EVENTS_KEEPALIVE_S;
    }
    size_t n = ev->len - ev->pos < max ? ev->len - ev->pos : max;
    memcpy(out, ev->buf + ev->pos, n);
    ev->pos += n;
    return (ssize_t)n;
}

/* Called by libmicrohttpd when the response goes, on the connection's
 * thread while the stream runs (never while it is suspended). */
static void ln__events_free(void *cls)
{
    struct ln__events *ev = cls;
    struct ln_server *srv = ev->srv;
    pthread_mutex_lock(&srv->ev_mu);
    if (ev->prev)
        ev->prev->next = ev->next;
    else
        srv->ev_streams = ev->next;
    if (ev->next)
        ev->next->prev = ev->prev;
    pthread_mutex_unlock(&srv->ev_mu);
    free(ev->pending);
    free(ev->buf);
    free(ev);
}

/* Resumes the connections of streams taken out of the suspended state. */
static void ln__events_resume(struct MHD_Connection **conns, size_t n)
{
    for (size_t i = 0; i < n; i++)
        MHD_resume_connection(conns[i]);
}

static void *ln__events_main(void *arg)
{
    struct ln_server *srv = arg;
    uint64_t seen = 0;
    struct ln__events **batch = NULL;
    struct MHD_Connection **wake = NULL;
    size_t cap = 0;
    pthread_mutex_lock(&srv->ev_mu);
    while (!srv->ev_quit) {
        if (!srv->ev_streams) {
            pthread_cond_wait(&srv->ev_cond, &srv->ev_mu);
            continue;
        }
        /* Sleep until a change, the first keep-alive due or the end of a
         * slice (so that ln__events_join is answered promptly). */
        double now = ln_time_now(), wait = LN__EVENTS_SLICE_S;
        for (struct ln__events *ev = srv->ev_streams; ev; ev = ev->next)
            if (ev->state == LN__EV_SUSPENDED && ev->keepalive_at - now < wait)
                wait = ev->keepalive_at - now;
        struct ln_jobs *jobs = ln__server_jobs(srv); /* set: a stream exists */
        pthread_mutex_unlock(&srv->ev_mu);
        uint64_t changes = ln_jobs_wait_any(jobs, seen, wait > 0 ? wait : 0);
        int changed = changes != seen;
        seen = changes;

        /* Take the suspended streams that may have something to send. */
        pthread_mutex_lock(&srv->ev_mu);
        now = ln_time_now();
        size_t n = 0;
        for (struct ln__events *ev = srv->ev_streams; ev; ev = ev->next) {
            if (ev->state == LN__EV_RUNNING) {
                ev->missed |= changed;
                continue;
            }
            if (ev->state != LN__EV_SUSPENDED ||
                !(changed || ev->keepalive_at <= now || srv->ev_stopping))
                continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                batch = ln_xrealloc(batch, cap * sizeof *batch);
                wake = ln_xrealloc(wake, cap * sizeof *wake);
            }
            ev->state = LN__EV_CHECKING;
            batch[n++] = ev;
        }
        pthread_mutex_unlock(&srv->ev_mu);

        /* Checking streams are the notifier's alone: no lock needed. */
        for (size_t i = 0; i < n; i++) {
            struct ln__events *ev = batch[i];
            int end = 0;
            char *msg = changed ? ln__events_check(ev, &end) : NULL;
            if (!msg && !end && ev->keepalive_at <= now)
                msg = ln_xstrdup(": keep-alive\n\n");
            pthread_mutex_lock(&srv->ev_mu);
            ev->pending = msg;
            ev->end |= end;
            pthread_mutex_unlock(&srv->ev_mu);
        }

        pthread_mutex_lock(&srv->ev_mu);
        size_t n_wake = 0;
        for (size_t i = 0; i < n; i++) {
            struct ln__events *ev = batch[i];
            if (ev->pending || ev->end || srv->ev_stopping) {
                ev->state = LN__EV_RUNNING;
                wake[n_wake++] = ev->conn;
            } else {
                ev->state = LN__EV_SUSPENDED;
            }
        }
        pthread_mutex_unlock(&srv->ev_mu);
        ln__events_resume(wake, n_wake);
        pthread_mutex_lock(&srv->ev_mu);
    }
    pthread_mutex_unlock(&srv->ev_mu);
    free(batch);
    free(wake);
    return NULL;
}

int ln__events_init(struct ln_server *srv)
{
    pthread_mutex_init(&srv->ev_mu, NULL);
    pthread_cond_init(&srv->ev_cond, NULL);
    srv->ev_streams = NULL;
    srv->ev_stopping = srv->ev_quit = 0;
    if (pthread_create(&srv->ev_thread, NULL, ln__events_main, srv) != 0)
        return -1;
    srv->ev_thread_started = 1;
    return 0;
}

void ln__events_end_all(struct ln_server *srv)
{
    pthread_mutex_lock(&srv->ev_mu);
    srv->ev_stopping = 1;
    size_t n = 0;
    for (struct ln__events *ev = srv->ev_streams; ev; ev = ev->next)
        n += ev->state == LN__EV_SUSPENDED;
    struct MHD_Connection **wake = n ? ln_xmalloc(n * sizeof *wake) : NULL;
    n = 0;
    for (struct ln__events *ev = srv->ev_streams; ev; ev = ev->next) {
        if (ev->state == LN__EV_SUSPENDED) {
            ev->state = LN__EV_RUNNING;
            wake[n++] = ev->conn;
        }
    }
    pthread_mutex_unlock(&srv->ev_mu);
    ln__events_resume(wake, n);
    free(wake);
}

void ln__events_join(struct ln_server *srv)
{
    if (!srv->ev_thread_started)
        return;
    pthread_mutex_lock(&srv->ev_mu);
    srv->ev_quit = 1;
    pthread_cond_signal(&srv->ev_cond);
    pthread_mutex_unlock(&srv->ev_mu);
    pthread_join(srv->ev_thread, NULL);
    srv->ev_thread_started = 0;
}

void ln__events_destroy(struct ln_server *srv)
{
    pthread_cond_destroy(&srv->ev_cond);
    pthread_mutex_destroy(&srv->ev_mu);
}

enum MHD_Result ln__h_job_events(struct ln__req *req)
{
    struct ln_server *srv = req->srv;
    struct ln__events *ev = ln_xcalloc(1, sizeof *ev);
    enum MHD_Result r;
    if (ln__job_lookup(req, &ev->job, &r) < 0) {
        free(ev);
        return r;
    }
    ev->srv = srv;
    ev->conn = req->conn;
    snprintf(ev->id, sizeof ev->id, "%s", ev->job.id);
    ev->version = ev->job.version;
    ev->buf = ln__events_message(&ev->job);
    if (!ev->buf) {
        free(ev);
        return ln__send(req, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL);
    }
    ev->len = strlen(ev->buf);
    ev->keepalive_at = ln_time_now() + LN__EVENTS_KEEPALIVE_S;
    ev->end = ln_job_status_is_final(ev->job.status);
    /* The notifier may have passed over a change made after the snapshot
     * before the stream was listed: the first time it has nothing to send,
     * the stream looks at its job itself. */
    ev->missed = 1;
    ev->state = LN__EV_RUNNING;
    pthread_mutex_lock(&srv->ev_mu);
    ev->next = srv->ev_streams;
    if (ev->next)
        ev->next->prev = ev;
    srv->ev_streams = ev;
    pthread_cond_signal(&srv->ev_cond);
    pthread_mutex_unlock(&srv->ev_mu);
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 16 * 1024, ln__events_read, ev, ln__events_free);
    if (!resp) {
        ln__events_free(ev);
        return ln__send(req, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL);
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    /* A stream is quiet between changes by design: the idle timeout, meant
     * for slow or stalled clients, does not apply (a dead client is found
     * when a keep-alive cannot be written). */
    MHD_set_connection_option(req->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
    return ln__send(req, MHD_HTTP_OK, resp);
}
