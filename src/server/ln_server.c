/*
 * The HTTP server on libmicrohttpd: the daemon, the table of routes, the
 * access handler that keeps each request's state in the connection pointer,
 * authentication, readiness, the response helpers and the one log line per
 * request written by the completed callback.
 *
 * DESIGN: how the threads meet. libmicrohttpd runs a small pool of
 * event-driven threads (cfg.threads, default 4; epoll on Linux), each
 * serving many connections, so nothing may block a pool thread for long:
 * a request that waits holds up every connection of its thread. HTTP
 * threads only validate requests, write uploads into a staging folder as
 * the body arrives and call the job manager, which takes its own lock
 * briefly and hands back snapshots; generation runs on the job manager's
 * workers, never here. An event stream with nothing to send suspends its
 * connection (MHD_suspend_connection) and returns to the pool; one
 * notifier thread, started and stopped with the server, sleeps in
 * ln_jobs_wait_any and resumes the streams whose job changed, and quiet
 * ones every 15 s for a keep-alive (ln_server_jobs.c). The end of an
 * upload (decoding the images to check them, the fsyncs of the inputs and
 * of the history: tens of milliseconds) runs on one of two helper threads
 * while the upload's connection is suspended; the helper resumes it and
 * the pool thread sends the verdict (ln_server_upload.c). A DELETE and the
 * first download of a model in another format (the deletion's fsyncs and
 * folder removal, a conversion) run the same way on two helpers of their
 * own (ln_server_slow.c). Files are sent
 * from their descriptor by libmicrohttpd. The server's shared fields are
 * either set before the daemon starts and read-only afterwards, or
 * atomics: `jobs` (published by ln_server_set_ready), `stopping`,
 * `in_flight` and the per-status request counters behind /metrics; the
 * event streams' list is under ev_mu, each helper pool's queue under its
 * own mutex (ln_server_pool.c).
 * ln_server_stop answers new requests 503, ends every event stream
 * (resuming the suspended ones), lets requests in flight finish, stops the
 * upload helpers (which finish what is queued and resume it) and the
 * notifier, and then the daemon, which joins the pool: libmicrohttpd must
 * find no connection suspended by then.
 */
#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "ln_alloc.h"
#include "ln_log.h"
#include "ln_server_int.h"
#include "ln_sys.h"
#include "ln_threads.h"
#include "ln_time.h"

/* Connections beyond this many are refused by the daemon. */
#define LN__CONNECTION_LIMIT 1024
/* Connections waiting to be accepted: a burst of new clients must not
 * overflow it, or their SYNs are dropped and retried a second later. */
#define LN__LISTEN_BACKLOG 1024
/* Per-connection buffer for the request line, headers and body pieces;
 * libmicrohttpd clears it for each request of a kept-alive connection
 * (at 128 KiB that was a quarter of the CPU time of GET /health). */
#define LN__CONNECTION_MEMORY (16 * 1024)
/* How long ln_server_stop lets requests in flight finish. */
#define LN__STOP_DRAIN_S 5.0
/* The most body read and dropped on a route that takes none. */
#define LN__DROP_LIMIT (1024 * 1024)

void ln_server_config_default(struct ln_server_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->host = "127.0.0.1";
    cfg->port = 8000;
    cfg->web_dir = "web";
    cfg->api_token = NULL;
    cfg->max_file_bytes = (size_t)32 << 20;
    cfg->max_request_bytes = (size_t)128 << 20;
    cfg->image_limits = ln_image_limits_default();
    cfg->max_images = 8;
    cfg->timeout_s = 30;
    /* One per core measured best under load (bench/README.md); two at
     * least, so one slow request never holds up every connection. */
    int cores = ln_threads_default();
    cfg->threads = cores < 2 ? 2 : cores > 8 ? 8 : cores;
}

struct ln_jobs *ln__server_jobs(struct ln_server *srv)
{
    return atomic_load_explicit(&srv->jobs, memory_order_acquire);
}

/* ---- routes ------------------------------------------------------------ */

enum {
    LN__ROUTE_PUBLIC = 1, /* no API token needed */
    LN__ROUTE_JOBS = 2,   /* needs the job manager: 503 until ready */
    LN__ROUTE_UPLOAD = 4, /* streamed multipart body */
    LN__ROUTE_MULTI = 8,  /* several views */
};

static const struct ln__route ln__routes[] = {
    {"GET", "/health", ln__h_health, LN__ROUTE_PUBLIC},
    {"GET", "/metrics", ln__h_metrics, 0},
    {"GET", "/options", ln__h_options, LN__ROUTE_PUBLIC},
    {"POST", "/generate", NULL, LN__ROUTE_JOBS | LN__ROUTE_UPLOAD},
    {"POST", "/generate/multi", NULL, LN__ROUTE_JOBS | LN__ROUTE_UPLOAD | LN__ROUTE_MULTI},
    {"GET", "/jobs", ln__h_jobs_list, LN__ROUTE_JOBS},
    {"GET", "/jobs/{id}", ln__h_job_get, LN__ROUTE_JOBS},
    {"DELETE", "/jobs/{id}", ln__h_job_delete, LN__ROUTE_JOBS},
    {"POST", "/jobs/{id}/cancel", ln__h_job_cancel, LN__ROUTE_JOBS},
    {"GET", "/jobs/{id}/events", ln__h_job_events, LN__ROUTE_JOBS},
    {"GET", "/jobs/{id}/model.glb", ln__h_job_file, LN__ROUTE_JOBS},
    {"GET", "/jobs/{id}/model.obj", ln__h_job_file, LN__ROUTE_JOBS},
    {"GET", "/jobs/{id}/model.ply", ln__h_job_file, LN__ROUTE_JOBS},
    {"GET", "/jobs/{id}/model.stl", ln__h_job_file, LN__ROUTE_JOBS},
    {"GET", "/jobs/{id}/model.zip", ln__h_job_file, LN__ROUTE_JOBS},
    {"GET", "/jobs/{id}/preview.png", ln__h_job_file, LN__ROUTE_JOBS},
    {"GET", "/jobs/{id}/inputs/{n}", ln__h_job_input, LN__ROUTE_JOBS},
};
#define LN__N_ROUTES (sizeof ln__routes / sizeof ln__routes[0])

/* Matches url against pattern segment by segment, capturing {…} segments
 * into params. A captured segment must be non-empty and fit a param. */
static int ln__route_match(const char *pattern, const char *url,
                           char params[LN__MAX_PARAMS][LN__PARAM_MAX])
{
    int n_params = 0;
    const char *p = pattern, *u = url;
    while (*p && *u) {
        if (*p != '/' || *u != '/')
            return 0;
        p++;
        u++;
        size_t plen = strcspn(p, "/"), ulen = strcspn(u, "/");
        if (plen >= 2 && p[0] == '{') {
            if (ulen == 0 || ulen >= LN__PARAM_MAX || n_params == LN__MAX_PARAMS)
                return 0;
            memcpy(params[n_params], u, ulen);
            params[n_params][ulen] = 0;
            n_params++;
        } else if (plen != ulen || memcmp(p, u, plen) != 0) {
            return 0;
        }
        p += plen;
        u += ulen;
    }
    return *p == 0 && *u == 0;
}

static int ln__method_is(const char *method, const char *want)
{
    if (strcmp(method, want) == 0)
        return 1;
    return strcmp(want, "GET") == 0 && strcmp(method, "HEAD") == 0;
}

/* ---- responses --------------------------------------------------------- */

enum MHD_Result ln__send(struct ln__req *req, int status, struct MHD_Response *resp)
{
    if (!resp) {
        ln_log_error("%s %s: cannot create a response", req->method, req->path);
        return MHD_NO;
    }
    ln__guard_headers(req->srv, resp);
    enum MHD_Result r = MHD_queue_response(req->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    if (r == MHD_YES) {
        req->status = status;
        /* Counted when queued, not in the completed callback: a client that
         * has read the answer may ask /metrics before that callback runs. */
        if (status > 0 && status < LN__HTTP_CODES)
            atomic_fetch_add(&req->srv->http_count[status], 1);
    }
    return r;
}

struct MHD_Response *ln__json_response(json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return NULL;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return NULL;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return resp;
}

enum MHD_Result ln__send_json(struct ln__req *req, int status, json_t *body)
{
    struct MHD_Response *resp = ln__json_response(body);
    if (resp && status == MHD_HTTP_SERVICE_UNAVAILABLE)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "5");
    if (resp && status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    return ln__send(req, status, resp);
}

enum MHD_Result ln__send_error(struct ln__req *req, int status, const char *code,
                               const char *fmt, ...)
{
    char msg[LN_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *body = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
    if (!body) /* a message that is not UTF-8 (it quotes the client) */
        body = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", "bad request");
    return ln__send_json(req, status, body);
}

enum MHD_Result ln__send_lnerr(struct ln__req *req, const struct ln_error *err)
{
    int code = err->code < 0 ? err->code : LN_EINTERNAL;
    return ln__send_error(req, ln_status_http(code), ln_status_name(code), "%s",
                          err->message[0] ? err->message : ln_status_string(code));
}

enum MHD_Result ln__send_file(struct ln__req *req, struct ln_file *f, const char *content_type,
                              const char *disposition, const char *cache_control)
{
    struct ln_path_info info;
    if (ln_file_stat(f, &info, NULL) != LN_OK || info.kind != LN_PATH_FILE) {
        ln_file_close(f, NULL);
        return ln__send_error(req, MHD_HTTP_NOT_FOUND, "ENOTFOUND", "no such file");
    }
    /* libmicrohttpd reads the file by its C runtime descriptor (on
     * Windows through its handle, in binary) and closes it when sent. */
    int fd = ln_file_release_fd(f);
    if (fd < 0)
        return ln__send(req, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL);
    struct MHD_Response *resp = MHD_create_response_from_fd64(info.size, fd);
    if (!resp) {
        close(fd);
        return ln__send(req, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL);
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (disposition)
        MHD_add_response_header(resp, "Content-Disposition", disposition);
    if (cache_control)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, cache_control);
    return ln__send(req, MHD_HTTP_OK, resp);
}

/* ---- authentication ------------------------------------------------------ */

/*
 * DESIGN: the API token. With --api-token, every route but the public ones
 * (GET /health, GET /options, the static UI) needs the token, from any one
 * of:
 *   - `Authorization: Bearer <token>` or `X-API-Token: <token>`, for scripts;
 *   - the cookie `lunar_nova_token=<token>`, for the web UI: a browser
 *     cannot add headers to an EventSource, an <img> or a download link, but
 *     it sends a cookie with all of them. The value is the token as
 *     encodeURIComponent writes it (%XX escapes are decoded here; a token of
 *     letters, digits and -._~ is sent as it is).
 * Each candidate is compared in constant time (ln__token_equal).
 * Why the cookie is safe enough: the UI sets it with SameSite=Strict and
 * Path=/ (and Secure on https), so the browser never attaches it to a
 * request that another site's page starts: no cross-site request forgery
 * through a form or an image. A page of the same site on another port
 * (same-site, not same-origin) would still get the cookie attached, so a
 * request whose Sec-Fetch-Site says it came from anywhere but this origin
 * (or from the person typing the address: "none") has its cookie ignored;
 * the headers, which such a page cannot send without the token, still
 * count. Cookies do not keep ports apart, and one set by a script cannot be
 * HttpOnly: a page of the same host name could read it, which the
 * operations guide warns about. The token never travels in a URL (URLs
 * reach access logs, proxies and the browser's history), and the server
 * never logs a header, a cookie or the token: the request log line is the
 * method, the path without its query, the status and the time.
 */

#define LN__TOKEN_COOKIE "lunar_nova_token"

/* Compares without an early exit, so the time taken does not reveal how
 * much of the token a guess got right. */
static int ln__token_equal(const char *given, const char *want)
{
    size_t n = strlen(given), m = strlen(want);
    unsigned diff = n != m;
    for (size_t i = 0; i < m; i++)
        diff |= (unsigned)((unsigned char)want[i] ^ (unsigned char)(i < n ? given[i] : 0));
    return diff == 0;
}

static int ln__hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Whether a cookie value (n bytes, not terminated), its %XX escapes
 * decoded, is the token: decoded into a scratch copy, compared by
 * ln__token_equal, and wiped. A value with a NUL (%00) never matches: the
 * copy would end there and compare as a prefix. */
static int ln__cookie_token_equal(const char *given, size_t n, const char *want)
{
    char *plain = ln_xmalloc(n + 1);
    size_t w = 0;
    int nul = 0;
    for (size_t g = 0; g < n; g++) {
        int hi = given[g] == '%' && g + 2 < n ? ln__hexval(given[g + 1]) : -1;
        int lo = hi >= 0 ? ln__hexval(given[g + 2]) : -1;
        if (lo >= 0) {
            plain[w++] = (char)(hi * 16 + lo);
            nul |= hi == 0 && lo == 0;
            g += 2;
        } else {
            plain[w++] = given[g];
        }
    }
    plain[w] = 0;
    int ok = ln__token_equal(plain, want) && !nul;
    ln_wipe(plain, n + 1);
    free(plain);
    return ok;
}

struct ln__cookie_scan {
    const char *want;
    int ok;
};

/* Looks through one Cookie header ("a=1; b=2") for the token cookie; every
 * occurrence is compared, so a stale cookie of the same name beside the
 * right one does no harm. */
static enum MHD_Result ln__cookie_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                         const char *value)
{
    (void)kind;
    struct ln__cookie_scan *scan = cls;
    if (!key || !value || strcasecmp(key, MHD_HTTP_HEADER_COOKIE) != 0)
        return MHD_YES;
    static const char name[] = LN__TOKEN_COOKIE;
    const char *p = value;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        size_t len = strcspn(p, ";");
        if (len > sizeof name && memcmp(p, name, sizeof name - 1) == 0 && p[sizeof name - 1] == '=') {
            const char *v = p + sizeof name;
            size_t vlen = len - sizeof name;
            while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;
            if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
                v++;
                vlen -= 2;
            }
            if (ln__cookie_token_equal(v, vlen, scan->want))
                scan->ok = 1;
        }
        p += len;
    }
    return MHD_YES;
}

/* Whether the browser says this request comes from a page of this very
 * origin, or from the person (an address typed, a bookmark). Without the
 * header (curl, an older browser) the SameSite attribute is what holds. */
static int ln__cookie_allowed(struct MHD_Connection *conn)
{
    const char *site = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
    return !site || strcasecmp(site, "same-origin") == 0 || strcasecmp(site, "none") == 0;
}

static int ln__authorized(struct ln__req *req)
{
    const char *want = req->srv->api_token;
    if (!want || !*want)
        return 1;
    const char *h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-API-Token");
    if (h && ln__token_equal(h, want))
        return 1;
    h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h && strncasecmp(h, "Bearer ", 7) == 0) {
        h += 7;
        while (*h == ' ')
            h++;
        if (ln__token_equal(h, want))
            return 1;
    }
    if (!ln__cookie_allowed(req->conn))
        return 0;
    struct ln__cookie_scan scan = {want, 0};
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, ln__cookie_header, &scan);
    return scan.ok;
}

/* ---- the access handler -------------------------------------------------- */

static void ln__copy_printable(char *dst, size_t n, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < n; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    dst[i] = 0;
}

/* Finds the route of url and method (req->route stays NULL when none) and
 * whether some route has this path with another method. */
static int ln__route_find(struct ln__req *req, const char *url, const char *method)
{
    int path_match = 0;
    char params[LN__MAX_PARAMS][LN__PARAM_MAX];
    for (size_t i = 0; i < LN__N_ROUTES; i++) {
        if (!ln__route_match(ln__routes[i].pattern, url, params))
            continue;
        path_match = 1;
        if (ln__method_is(method, ln__routes[i].method)) {
            req->route = &ln__routes[i];
            memcpy(req->params, params, sizeof params);
            break;
        }
    }
    return path_match;
}

static enum MHD_Result ln__dispatch(struct ln__req *req, const char *url, const char *method,
                                    const char *version)
{
    struct ln_server *srv = req->srv;
    char params[LN__MAX_PARAMS][LN__PARAM_MAX];
    int path_match = ln__route_find(req, url, method);
    const char *code = NULL, *message = NULL;
    int refuse = ln__guard_check(req, method, version, &code, &message);
    if (refuse) {
        if (req->route && (req->route->flags & LN__ROUTE_UPLOAD))
            return ln__upload_refuse(req, refuse, code, message);
        return ln__send_error(req, refuse, code, "%s", message);
    }
    if (atomic_load(&srv->stopping)) {
        /* Requests that began before the stop finish; later ones are told
         * why, and MHD_stop_daemon closes their connections. */
        return ln__send_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "EBUSY",
                              "the server is stopping");
    }
    if (!req->route) {
        if (path_match || (strcmp(url, "/") == 0 && !ln__method_is(method, "GET"))) {
            /* The methods of every route on this path, each once; the
             * buffer holds all of ln__routes' methods, and a method that
             * would not fit is left out rather than written past it. */
            char allow[64] = "";
            size_t used = 0;
            for (size_t i = 0; i < LN__N_ROUTES; i++) {
                if (!ln__route_match(ln__routes[i].pattern, url, params) ||
                    strstr(allow, ln__routes[i].method))
                    continue;
                int head = strcmp(ln__routes[i].method, "GET") == 0;
                int w = snprintf(allow + used, sizeof allow - used, "%s%s%s",
                                 used ? ", " : "", ln__routes[i].method, head ? ", HEAD" : "");
                if (w < 0 || (size_t)w >= sizeof allow - used)
                    allow[used] = 0;
                else
                    used += (size_t)w;
            }
            struct MHD_Response *resp = ln__json_response(
                json_pack("{s:{s:s, s:s}}", "error", "code", "EMETHOD", "message",
                          "this method is not allowed on this path"));
            if (!resp)
                return ln__send(req, MHD_HTTP_METHOD_NOT_ALLOWED, NULL);
            MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow[0] ? allow : "GET, HEAD");
            return ln__send(req, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
        }
        if (ln__method_is(method, "GET"))
            return ln__h_static(req, url);
        return ln__send_error(req, MHD_HTTP_NOT_FOUND, "ENOTFOUND", "no such path: %s",
                              req->path);
    }
    int upload = (req->route->flags & LN__ROUTE_UPLOAD) != 0;
    if (!(req->route->flags & LN__ROUTE_PUBLIC) && !ln__authorized(req)) {
        static const char msg[] = "an API token is required: send 'Authorization: Bearer "
                                  "<token>' or 'X-API-Token: <token>' (the web UI asks for "
                                  "it and sends it as the cookie " LN__TOKEN_COOKIE ")";
        if (upload)
            return ln__upload_refuse(req, MHD_HTTP_UNAUTHORIZED, "EAUTH", msg);
        return ln__send_error(req, MHD_HTTP_UNAUTHORIZED, "EAUTH", "%s", msg);
    }
    if ((req->route->flags & LN__ROUTE_JOBS) && !ln__server_jobs(srv)) {
        static const char msg[] = "the server is starting: the engine is not ready yet";
        if (upload)
            return ln__upload_refuse(req, MHD_HTTP_SERVICE_UNAVAILABLE, "EBUSY", msg);
        return ln__send_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "EBUSY", "%s", msg);
    }
    if (req->route->flags & LN__ROUTE_UPLOAD)
        return ln__upload_begin(req, (req->route->flags & LN__ROUTE_MULTI) != 0);
    return req->route->fn(req);
}

static enum MHD_Result ln__access(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct ln_server *srv = cls;
    struct ln__req *req = *con_cls;
    if (!req) {
        req = ln_xcalloc(1, sizeof *req);
        req->srv = srv;
        req->conn = conn;
        req->t0 = ln_time_now();
        ln__copy_printable(req->method, sizeof req->method, method);
        ln__copy_printable(req->path, sizeof req->path, url);
        *con_cls = req;
        atomic_fetch_add(&srv->in_flight, 1);
        /* An upload is checked on its headers, before any of the body is
         * read (413 for a declared length over the limit, 415, 401, 503).
         * Everything else is answered once the request is complete, which
         * keeps the connection alive for the next request. */
        ln__route_find(req, url, method);
        if (req->route && (req->route->flags & LN__ROUTE_UPLOAD))
            return ln__dispatch(req, url, method, version);
        req->route = NULL;
        return MHD_YES;
    }
    req->conn = conn;
    if (req->upload) {
        if (*upload_data_size > 0) {
            enum MHD_Result r = ln__upload_data(req, upload_data, *upload_data_size);
            *upload_data_size = 0;
            return r;
        }
        return ln__upload_finish(req);
    }
    if (*upload_data_size > 0) {
        /* A body where none is expected is read and dropped, up to a bound. */
        req->dropped += *upload_data_size;
        *upload_data_size = 0;
        return req->dropped > LN__DROP_LIMIT ? MHD_NO : MHD_YES;
    }
    return ln__dispatch(req, url, method, version);
}

static void ln__completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
    struct ln_server *srv = cls;
    struct ln__req *req = *con_cls;
    if (!req)
        return;
    *con_cls = NULL;
    if (req->upload)
        ln__upload_free(req->upload);
    ln__slow_free(req->slow);
    double ms = (ln_time_now() - req->t0) * 1000.0;
    /* Monitors poll /health and /metrics every few seconds; their successful
     * answers are logged at debug level so they do not drown the log (and
     * cost nothing there when it is off). Everything else, and any failed
     * probe, is one info line. */
    int probe = req->status > 0 && req->status < 400 &&
                (strcmp(req->path, "/health") == 0 || strcmp(req->path, "/metrics") == 0);
    ln_log(probe ? LN_LOG_LEVEL_DEBUG : LN_LOG_LEVEL_INFO, "%s %s %d %.1f ms%s", req->method,
           req->path, req->status, ms,
           toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed)");
    free(req);
    atomic_fetch_sub(&srv->in_flight, 1);
}

/* Decodes %XX escapes in place, except %00: a NUL would cut the path short
 * and hide what follows, so it stays literal and such a path matches
 * nothing. */
static size_t ln__unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    char *w = s;
    for (const char *r = s; *r;) {
        if (r[0] == '%' && r[1] && r[2]) {
            char hex[3] = {r[1], r[2], 0};
            char *end;
            unsigned long v = strtoul(hex, &end, 16);
            if (*end == 0 && hex[0] != '-' && hex[0] != '+' && hex[0] != ' ' && v != 0) {
                *w++ = (char)v;
                r += 3;
                continue;
            }
        }
        *w++ = *r++;
    }
    *w = 0;
    return (size_t)(w - s);
}

static void ln__mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = 0;
    ln_log_debug("http: %s", line);
}

/* ---- start and stop ---------------------------------------------------- */

static char *ln__strdup_or_null(const char *s)
{
    return s ? ln_xstrdup(s) : NULL;
}

/* The listening socket's system calls, the server floor being the only
 * one with sockets: BSD sockets, or Winsock on Windows. A socket opens
 * non-blocking and not inherited by child processes; its address is this
 * program's alone while it listens (SO_REUSEADDR lets a restart bind
 * while old connections linger in TIME_WAIT; Windows' SO_REUSEADDR would
 * let another program take the port too, SO_EXCLUSIVEADDRUSE does not and
 * needs no such help). The reason of the last failure goes into msg. */
#ifdef _WIN32
static int ln__wsa_status = -1;

static void ln__wsa_start(void)
{
    WSADATA wsa;
    ln__wsa_status = WSAStartup(MAKEWORD(2, 2), &wsa);
}

static const char *ln__sock_reason(char *msg, size_t size)
{
    return ln_sys_strerror((long)WSAGetLastError(), msg, size);
}

static MHD_socket ln__sock_open(int family, char *msg, size_t size)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, ln__wsa_start); /* libmicrohttpd's own comes later */
    if (ln__wsa_status != 0) {
        ln_sys_strerror((long)ln__wsa_status, msg, size);
        return MHD_INVALID_SOCKET;
    }
    SOCKET fd = WSASocketW(family, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
                           WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    if (fd == INVALID_SOCKET) {
        ln__sock_reason(msg, size);
        return MHD_INVALID_SOCKET;
    }
    u_long nonblocking = 1;
    BOOL exclusive = TRUE;
    if (ioctlsocket(fd, FIONBIO, &nonblocking) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&exclusive,
                   sizeof exclusive) != 0) {
        ln__sock_reason(msg, size);
        closesocket(fd);
        return MHD_INVALID_SOCKET;
    }
    return fd;
}

static void ln__sock_close(MHD_socket fd)
{
    closesocket(fd);
}
#else
static const char *ln__sock_reason(char *msg, size_t size)
{
    snprintf(msg, size, "%s", strerror(errno));
    return msg;
}

static MHD_socket ln__sock_open(int family, char *msg, size_t size)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        ln__sock_reason(msg, size);
        return MHD_INVALID_SOCKET;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    return fd;
}

static void ln__sock_close(MHD_socket fd)
{
    close(fd);
}
#endif

/* A listening socket on host:port, so that a bind failure is reported with
 * its own reason (the daemon then takes the socket over). */
static int ln__listen(const char *host, int port, int *family, MHD_socket *out,
                      struct ln_error *err)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    char h[INET6_ADDRSTRLEN + 2];
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']' && hl - 2 < sizeof h) {
        memcpy(h, host + 1, hl - 2);
        h[hl - 2] = 0;
    } else {
        snprintf(h, sizeof h, "%s", host);
    }
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, h, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        len = sizeof *v4;
    } else if (inet_pton(AF_INET6, h, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        len = sizeof *v6;
    } else {
        return ln_error_set(err, LN_EINVAL, "'%s' is not an IPv4 or IPv6 address", host);
    }
    if (port < 0 || port > 65535)
        return ln_error_set(err, LN_EINVAL, "port %d is out of range", port);
    *family = ss.ss_family;
    char msg[160];
    MHD_socket fd = ln__sock_open(ss.ss_family, msg, sizeof msg);
    if (fd == MHD_INVALID_SOCKET)
        return ln_error_set(err, LN_EIO, "cannot create a socket: %s", msg);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, LN__LISTEN_BACKLOG) != 0) {
        ln__sock_reason(msg, sizeof msg);
        ln__sock_close(fd);
        return ln_error_set(err, LN_EIO, "cannot listen on %s port %d: %s", host, port, msg);
    }
    *out = fd;
    return 0;
}

int ln_server_start(const struct ln_server_config *cfg, struct ln_server **out,
                    struct ln_error *err)
{
    *out = NULL;
    if (!MHD_is_feature_supported(MHD_FEATURE_THREADS))
        return ln_error_set(err, LN_EINTERNAL, "libmicrohttpd lacks thread support");
    if (cfg->max_images < 2 || cfg->max_images > LN_MAX_VIEWS)
        return ln_error_set(err, LN_EINVAL,
                            "images per multi-view job must be 2 to %d (got %d)", LN_MAX_VIEWS,
                            cfg->max_images);
    int family = AF_INET;
    MHD_socket fd = MHD_INVALID_SOCKET;
    int lrc = ln__listen(cfg->host ? cfg->host : "127.0.0.1", cfg->port, &family, &fd, err);
    if (lrc < 0)
        return lrc;
    struct sockaddr_storage bound;
    socklen_t bound_len = sizeof bound;
    int port = cfg->port;
    if (getsockname(fd, (struct sockaddr *)&bound, &bound_len) == 0)
        port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                 : ((struct sockaddr_in *)&bound)->sin_port);

    struct ln_server *srv = ln_xcalloc(1, sizeof *srv);
    srv->cfg = *cfg;
    srv->host = ln_xstrdup(cfg->host ? cfg->host : "127.0.0.1");
    srv->web_dir = ln_xstrdup(cfg->web_dir ? cfg->web_dir : "web");
    srv->api_token = ln__strdup_or_null(cfg->api_token);
    srv->cfg.host = srv->host;
    srv->cfg.web_dir = srv->web_dir;
    srv->cfg.api_token = srv->api_token;
    /* The names are copied here; the caller's lists are not kept. */
    ln__guard_init(srv, port);
    srv->cfg.public_hosts = srv->cfg.allow_origins = NULL;
    srv->cfg.n_public_hosts = srv->cfg.n_allow_origins = 0;
    srv->started_at = ln_time_now();
    atomic_init(&srv->jobs, NULL);
    atomic_init(&srv->stopping, 0);
    atomic_init(&srv->in_flight, 0);
    for (int i = 0; i < LN__HTTP_CODES; i++)
        atomic_init(&srv->http_count[i], 0);
    if (srv->cfg.threads < 1)
        srv->cfg.threads = 1;
    if (srv->cfg.threads > LN_SERVER_MAX_THREADS)
        srv->cfg.threads = LN_SERVER_MAX_THREADS;
    int rc;
    if (ln__events_init(srv) < 0 || ln__uploads_init(srv) < 0 || ln__slow_init(srv) < 0) {
        rc = ln_error_set(err, LN_EINTERNAL, "cannot start the server's threads");
        goto fail;
    }

    /* The best polling of the system (epoll on Linux) on internal threads;
     * suspend and resume for event streams. */
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, ln__access, srv, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)srv->cfg.threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)LN__CONNECTION_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(cfg->timeout_s ? cfg->timeout_s : 30),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)LN__CONNECTION_MEMORY,
        MHD_OPTION_NOTIFY_COMPLETED, ln__completed, srv, MHD_OPTION_UNESCAPE_CALLBACK,
        ln__unescape, srv, MHD_OPTION_EXTERNAL_LOGGER, ln__mhd_log, srv, MHD_OPTION_END);
    if (!srv->daemon) {
        rc = ln_error_set(err, LN_EIO, "cannot start the HTTP server on %s port %d",
                          cfg->host ? cfg->host : "127.0.0.1", cfg->port);
        goto fail;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? (int)info->port : cfg->port;
    *out = srv;
    return 0;

fail: /* joining and destroying tolerate helpers that never started */
    ln__slow_join(srv);
    ln__slow_destroy(srv);
    ln__uploads_join(srv);
    ln__uploads_destroy(srv);
    ln__events_join(srv);
    ln__events_destroy(srv);
    ln__sock_close(fd);
    ln__guard_free(srv);
    free(srv->host);
    free(srv->web_dir);
    free(srv->api_token);
    free(srv);
    return rc;
}

int ln_server_port(const struct ln_server *srv)
{
    return srv->port;
}

void ln_server_set_ready(struct ln_server *srv, struct ln_jobs *jobs)
{
    atomic_store_explicit(&srv->jobs, jobs, memory_order_release);
}

void ln_server_set_download_probe(struct ln_server *srv,
                                  void (*probe)(void *user, struct ln_server_download *out),
                                  void *user)
{
    srv->download_probe = probe;
    srv->download_user = user;
}

void ln_server_stop(struct ln_server *srv)
{
    if (!srv)
        return;
    /* DESIGN: new requests are answered 503 from here on (ln__dispatch)
     * while those in flight finish; MHD_stop_daemon then joins the pool and
     * closes the listening socket. MHD_quiesce_daemon would refuse
     * connections sooner, but libmicrohttpd 0.9.75 (Debian 12) takes the
     * listening socket out of each pool thread's epoll set from this thread
     * while that pool thread may be doing the same: the loser's epoll_ctl
     * fails and libmicrohttpd aborts the process ("Failed to remove listen
     * FD from epoll set", daemon.c), which a stop under load has hit. */
    atomic_store(&srv->stopping, 1);
    ln__events_end_all(srv);
    double until = ln_time_now() + LN__STOP_DRAIN_S;
    while (atomic_load(&srv->in_flight) > 0 && ln_time_now() < until) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ln__uploads_join(srv);
    ln__slow_join(srv);
    ln__events_join(srv);
    MHD_stop_daemon(srv->daemon);
    ln__uploads_destroy(srv);
    ln__slow_destroy(srv);
    ln__events_destroy(srv);
    ln__guard_free(srv);
    free(srv->host);
    free(srv->web_dir);
    free(srv->api_token);
    free(srv);
}
