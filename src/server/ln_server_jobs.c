/*
 * The job endpoints, /health and /metrics. Each handler validates what it
 * was given, asks the job manager for a snapshot or a change and answers;
 * nothing here holds a lock or shares state with another request. Files
 * (models, previews, inputs) are sent straight from their descriptor, and
 * an event stream blocks in ln_jobs_wait on its own connection thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ln_alloc.h"
#include "ln_export.h"
#include "ln_file.h"
#include "ln_log.h"
#include "ln_server_int.h"
#include "ln_time.h"

/* Server-Sent Events: a comment line after this long without a change
 * keeps proxies and clients from timing the stream out. */
#define LN__EVENTS_KEEPALIVE_S 15.0
/* Waits are sliced so that a stopping server ends its streams quickly. */
#define LN__EVENTS_SLICE_S 1.0

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
    return ln__send_json(
        req, MHD_HTTP_OK,
        json_pack("{s:s, s:s, s:b, s:{s:I, s:I, s:I, s:i}, s:f, s:s}", "status", "ok", "engine",
                  srv->engine, "model_loaded", 1, "queue", "depth", (json_int_t)q.depth,
                  "capacity", (json_int_t)q.capacity, "running", (json_int_t)q.running,
                  "workers", q.workers,
                  "uptime_s", uptime, "version", LN_VERSION_STRING));
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
    struct ln_job *job = ln_xmalloc(sizeof *job);
    enum MHD_Result r;
    if (ln__job_lookup(req, job, &r) == 0) {
        struct ln_error err = {0};
        if (ln_jobs_delete(ln__server_jobs(req->srv), job->id, &err) == 0)
            r = ln__send(req, MHD_HTTP_NO_CONTENT,
                         MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
        else
            r = ln__send_lnerr(req, &err);
    }
    free(job);
    return r;
}

/* Opens a file of a job's folder and sends it; 404 when it is not there. */
static enum MHD_Result ln__send_job_file(struct ln__req *req, const char *path,
                                         const char *content_type, const char *disposition)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            ln_log_error("cannot open %s: %s", path, strerror(errno));
        return ln__send_error(req, MHD_HTTP_NOT_FOUND, "ENOTFOUND",
                              "job %s has no such file", req->params[0]);
    }
    return ln__send_fd(req, fd, content_type, disposition, "no-cache");
}

/* GET /jobs/{id}/model.{glb,obj,ply,stl} and /jobs/{id}/preview.png. A job
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
    int fmt = ln_mesh_format_from_path(name);
    if (fmt >= 0) {
        if (ln_jobs_model(jobs, job->id, (enum ln_mesh_format)fmt, path, sizeof path, &err) < 0) {
            if (err.code != LN_ENOTFOUND)
                ln_log_error("job %s: %s", job->id, err.message);
            r = ln__send_lnerr(req, &err);
            goto done;
        }
        snprintf(disposition, sizeof disposition, "attachment; filename=\"%s.%s\"", job->id,
                 ln_mesh_format_ext((enum ln_mesh_format)fmt));
        r = ln__send_job_file(req, path, ln_mesh_format_mime((enum ln_mesh_format)fmt),
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

struct ln__events {
    struct ln_server *srv;
    struct ln_jobs *jobs;
    char id[LN_JOB_ID_LEN + 1];
    uint64_t version;
    int started;
    int done;
    char *buf; /* the message being sent */
    size_t len, pos;
    struct ln_job job; /* scratch */
};

static void ln__events_message(struct ln__events *ev, const struct ln_job *job)
{
    json_t *obj = ln_job_to_json(job);
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    struct ln_buf b = {0};
    ln_buf_printf(&b, "id: %llu\nevent: job\ndata: %s\n\n", (unsigned long long)job->version,
                  text ? text : "{}");
    free(text);
    ev->version = job->version;
    if (ln_job_status_is_final(job->status))
        ev->done = 1;
    ev->buf = (char *)b.data;
    ev->len = b.failed ? 0 : b.len;
    ev->pos = 0;
}

/* Blocks until there is something to send: the first snapshot, a change,
 * or a keep-alive comment. Ends the stream after the final state, when the
 * job disappears or when the server stops. */
static ssize_t ln__events_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct ln__events *ev = cls;
    if (ev->pos == ev->len) {
        free(ev->buf);
        ev->buf = NULL;
        ev->len = ev->pos = 0;
        if (ev->done || atomic_load(&ev->srv->stopping))
            return MHD_CONTENT_READER_END_OF_STREAM;
        struct ln_error err = {0};
        if (!ev->started) {
            ev->started = 1;
            if (ln_jobs_get(ev->jobs, ev->id, &ev->job, &err) < 0)
                return MHD_CONTENT_READER_END_OF_STREAM;
            ln__events_message(ev, &ev->job);
        } else {
            double until = ln_time_now() + LN__EVENTS_KEEPALIVE_S;
            for (;;) {
                if (atomic_load(&ev->srv->stopping))
                    return MHD_CONTENT_READER_END_OF_STREAM;
                double left = until - ln_time_now();
                if (left <= 0.0) {
                    ev->buf = ln_xstrdup(": keep-alive\n\n");
                    ev->len = strlen(ev->buf);
                    break;
                }
                if (ln_jobs_wait(ev->jobs, ev->id, ev->version,
                                 left < LN__EVENTS_SLICE_S ? left : LN__EVENTS_SLICE_S, &ev->job,
                                 &err) < 0)
                    return MHD_CONTENT_READER_END_OF_STREAM; /* deleted */
                if (ev->job.version != ev->version) {
                    ln__events_message(ev, &ev->job);
                    break;
                }
            }
        }
        if (ev->len == 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = ev->len - ev->pos < max ? ev->len - ev->pos : max;
    memcpy(out, ev->buf + ev->pos, n);
    ev->pos += n;
    return (ssize_t)n;
}

static void ln__events_free(void *cls)
{
    struct ln__events *ev = cls;
    free(ev->buf);
    free(ev);
}

enum MHD_Result ln__h_job_events(struct ln__req *req)
{
    struct ln__events *ev = ln_xcalloc(1, sizeof *ev);
    enum MHD_Result r;
    if (ln__job_lookup(req, &ev->job, &r) < 0) {
        free(ev);
        return r;
    }
    ev->srv = req->srv;
    ev->jobs = ln__server_jobs(req->srv);
    snprintf(ev->id, sizeof ev->id, "%s", ev->job.id);
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, ln__events_read, ev,
                                          ln__events_free);
    if (!resp) {
        free(ev);
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
