/*
 * Private to the server floor: the server object, the per-request state
 * that libmicrohttpd keeps in the connection pointer, the route handlers
 * and the response helpers they share. Only the server's own sources
 * include this (and with it microhttpd.h).
 */
#ifndef LN_SERVER_INT_H
#define LN_SERVER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "ln_fs.h"
#include "ln_server.h"

#define LN__MAX_PARAMS 3
#define LN__PARAM_MAX 64
#define LN__HTTP_CODES 600
/* Threads that finish uploads (decode, check, submit) off the pool. */
#define LN__UPLOAD_HELPERS 2
/* Finished uploads waiting for a helper; one more is answered 503. */
#define LN__UPLOAD_QUEUE_MAX (4 * LN__UPLOAD_HELPERS)
/* Threads that run deletions and model conversions off the pool. */
#define LN__SLOW_HELPERS 2
#define LN__SLOW_DELETE 1
#define LN__SLOW_MODEL 2
/* The fmt of LN__SLOW_MODEL for model.zip (the OBJ with its material and
 * texture), beside the mesh formats. */
#define LN__FORMAT_ZIP LN_MESH_FORMAT_COUNT
/* A helper pool (ln_server_pool.c): helpers take queued items of
 * suspended connections, run `run` on each item's work and resume its
 * connection. */
#define LN__POOL_MAX_THREADS 4
struct ln__req;
struct ln__pool_item {
    struct ln__pool_item *next;
    struct ln__req *req; /* its connection is suspended while queued */
    void *work;          /* what run is given */
};
struct ln__pool {
    pthread_mutex_t mu;
    pthread_cond_t cond; /* an item queued, or the helpers are to quit */
    pthread_t threads[LN__POOL_MAX_THREADS];
    int started, quit;
    struct ln__pool_item *head, *tail;
    int queued, max_queued; /* max_queued 0: no bound */
    void (*run)(void *work);
};
int ln__pool_init(struct ln__pool *p, int threads, int max_queued, void (*run)(void *work));
/* Suspends item->req's connection and queues the item; -1, with nothing
 * done, when max_queued items wait already. */
int ln__pool_submit(struct ln__pool *p, struct ln__pool_item *item);
/* The helpers finish what is queued and exit. */
void ln__pool_join(struct ln__pool *p);
void ln__pool_destroy(struct ln__pool *p);

/* Host names answered: four local names (two forms each) and the public ones. */
#define LN__MAX_HOSTS (8 + 2 * LN_SERVER_MAX_NAMES)

struct ln_server {
    struct ln_server_config cfg; /* strings point at the copies below */
    char *host;
    char *web_dir;
    char *api_token;
    /* The boundary (ln_server_guard.c), set before the daemon starts. */
    char *hosts[LN__MAX_HOSTS]; /* Host header values answered */
    int n_hosts;
    char *origins[LN__MAX_HOSTS]; /* --allow-origin, no trailing slash */
    int n_origins;
    char *csp; /* the Content-Security-Policy of every response */
    struct MHD_Daemon *daemon;
    int port;
    double started_at; /* monotonic seconds */
    /* serve --pull-models: what /health says of the download (set before
     * jobs is published). */
    void (*download_probe)(void *user, struct ln_server_download *out);
    void *download_user;
    _Atomic(struct ln_jobs *) jobs; /* NULL until ln_server_set_ready */
    atomic_int stopping;
    atomic_int in_flight;           /* requests between first call and completion */
    atomic_ullong http_count[LN__HTTP_CODES]; /* responses by status code */
    /* Event streams (ln_server_jobs.c): the notifier thread and the streams
     * it watches, all under ev_mu. */
    pthread_mutex_t ev_mu;
    pthread_cond_t ev_cond; /* a stream registered, or the notifier is to quit */
    pthread_t ev_thread;
    int ev_thread_started;
    struct ln__events *ev_streams; /* doubly linked */
    int ev_stopping; /* streams end; none is suspended again */
    int ev_quit;
    /* The end of uploads (ln_server_upload.c): helpers that check and
     * submit suspended uploads, at most LN__UPLOAD_QUEUE_MAX waiting. */
    struct ln__pool up_pool;
    /* Deletions and conversions (ln_server_slow.c). */
    struct ln__pool slow_pool;
};

struct ln__upload; /* ln_server_upload.c */
struct ln__slow;   /* ln_server_slow.c */
struct ln__events; /* ln_server_jobs.c */
struct ln__req;

typedef enum MHD_Result (*ln__handler_fn)(struct ln__req *req);

/* One row of the table of routes (ln_server.c). */
struct ln__route {
    const char *method;
    const char *pattern; /* segments; {name} captures one segment */
    ln__handler_fn fn;   /* NULL for uploads, which run in three steps */
    unsigned flags;
};

/* One request, from the first call of the access handler to the completed
 * callback, which logs it and frees this. */
struct ln__req {
    struct ln_server *srv;
    struct MHD_Connection *conn;
    double t0;
    char method[16];
    char path[200]; /* for the log line: control characters replaced */
    const struct ln__route *route;
    char params[LN__MAX_PARAMS][LN__PARAM_MAX]; /* captured {id}, {n}, {file} */
    int status;   /* the answer, 0 if none */
    struct ln__upload *upload;
    struct ln__slow *slow; /* a deletion or conversion on a helper thread */
    size_t dropped; /* body bytes of a request that takes none */
};

/* The jobs of a ready server, or NULL while starting. */
struct ln_jobs *ln__server_jobs(struct ln_server *srv);

/* Response helpers: each queues the response, records the status in req and
 * returns what MHD_queue_response returned. The JSON body is stolen. */
enum MHD_Result ln__send(struct ln__req *req, int status, struct MHD_Response *resp);
enum MHD_Result ln__send_json(struct ln__req *req, int status, json_t *body);
/* A JSON response not yet queued (body stolen), for handlers that add
 * headers of their own; NULL when out of memory. */
struct MHD_Response *ln__json_response(json_t *body);
enum MHD_Result ln__send_error(struct ln__req *req, int status, const char *code,
                               const char *fmt, ...) LN_PRINTF(4, 5);
/* An ln_error as its HTTP status (ln_status_http) and code name. */
enum MHD_Result ln__send_lnerr(struct ln__req *req, const struct ln_error *err);
/* A file opened by the caller (f is taken over and closed, also on
 * failure). */
enum MHD_Result ln__send_file(struct ln__req *req, struct ln_file *f, const char *content_type,
                              const char *disposition, const char *cache_control);

/* The boundary (ln_server_guard.c): init builds the allowed Host values for
 * the bound port and the Content-Security-Policy from web_dir/index.html;
 * check returns 0 when the request may go on, else the status to refuse it
 * with (400, 421, 403) and its error code and message; headers adds the
 * security headers to a response. */
void ln__guard_init(struct ln_server *srv, int port);
void ln__guard_free(struct ln_server *srv);
int ln__guard_check(struct ln__req *req, const char *method, const char *version,
                    const char **code, const char **message);
void ln__guard_headers(const struct ln_server *srv, struct MHD_Response *resp);

/* Route handlers. */
enum MHD_Result ln__h_health(struct ln__req *req);
enum MHD_Result ln__h_metrics(struct ln__req *req);
enum MHD_Result ln__h_options(struct ln__req *req);
enum MHD_Result ln__h_jobs_list(struct ln__req *req);
enum MHD_Result ln__h_job_get(struct ln__req *req);
enum MHD_Result ln__h_job_events(struct ln__req *req);
enum MHD_Result ln__h_job_file(struct ln__req *req);
enum MHD_Result ln__h_job_input(struct ln__req *req);
enum MHD_Result ln__h_job_cancel(struct ln__req *req);
enum MHD_Result ln__h_job_delete(struct ln__req *req);
enum MHD_Result ln__h_static(struct ln__req *req, const char *url);

/* The event-stream notifier (ln_server_jobs.c). init before the daemon
 * starts (the thread sleeps until a stream opens; -1 if it cannot start);
 * end_all ends every stream at its next read, suspended ones included, and
 * keeps new ones from waiting; join stops the thread once no request is in
 * flight, before the daemon stops (which must find no connection
 * suspended); destroy frees what init made. */
int ln__events_init(struct ln_server *srv);
void ln__events_end_all(struct ln_server *srv);
void ln__events_join(struct ln_server *srv);
void ln__events_destroy(struct ln_server *srv);

/* Uploads (POST /generate, /generate/multi): begin on the first call (may
 * answer at once, e.g. 413 for a declared length over the limit), data for
 * each piece of body, finish when the body is complete: it suspends the
 * connection and hands the checks and the submission to a helper thread,
 * which resumes it; finish is then called again and sends the verdict. */
enum MHD_Result ln__upload_begin(struct ln__req *req, int multi);
/* Refuses an upload on its headers (401, 503, 415, …): the answer waits
 * until a small body has been read, or goes at once for a large one. */
enum MHD_Result ln__upload_refuse(struct ln__req *req, int status, const char *code,
                                  const char *message);
enum MHD_Result ln__upload_data(struct ln__req *req, const char *data, size_t size);
enum MHD_Result ln__upload_finish(struct ln__req *req);
/* Frees the upload and removes its staging folder (called on completion). */
void ln__upload_free(struct ln__upload *up);
/* The upload helpers: init before the daemon starts (-1 if a thread cannot
 * start); join after the requests in flight, before the daemon stops: it
 * finishes every queued upload (resuming its connection) first. */
int ln__uploads_init(struct ln_server *srv);
void ln__uploads_join(struct ln_server *srv);
void ln__uploads_destroy(struct ln_server *srv);

/* Deletions and conversions on helper threads (ln_server_slow.c): start
 * suspends the connection and queues the work (kind LN__SLOW_DELETE or
 * LN__SLOW_MODEL with fmt); the helper resumes it and the handler, called
 * again, reads the outcome with result: 1 while there is none (no work
 * started), else what ln_jobs_delete, ln_jobs_model or ln_jobs_model_zip
 * returned, with the
 * model's path and the error. free is called on completion; init, join and
 * destroy as for the upload helpers. */
int ln__slow_start(struct ln__req *req, int kind, const char *id, int fmt);
int ln__slow_result(const struct ln__req *req, const char **path, const struct ln_error **err);
void ln__slow_free(struct ln__slow *s);
int ln__slow_init(struct ln_server *srv);
void ln__slow_join(struct ln_server *srv);
void ln__slow_destroy(struct ln_server *srv);

#endif
