/*
 * The HTTP server: the API (docs/ARCHITECTURE.md §5) and static UI files, on
 * libmicrohttpd (the only code that includes microhttpd.h). HTTP threads
 * only validate requests, stream uploads to disk and call the job manager;
 * workers do the generation (ln_jobs.h).
 *
 *     struct ln_server *srv;
 *     ln_server_start(&cfg, &srv, &err);        // listening; /health says 503
 *     ...load the engine, open the jobs...
 *     ln_server_set_ready(srv, jobs);           // /health says 200
 *     ...
 *     ln_server_stop(srv);                      // 503 to new requests, close
 *
 * Static files: GET / is <web_dir>/index.html, GET /<path> a file under
 * web_dir, and GET /vendor/three/<path> a file of the three.js package under
 * vendor_dir, so that the UI's 3D viewer loads with no internet access.
 *
 * Beyond docs/ARCHITECTURE.md §5's table: a job's model or preview asked for
 * before the job has finished is 409 (ask again later); after it failed or
 * was canceled, 404. An upload whose declared Content-Length is over
 * max_request_bytes is 413 before any of it is read; a chunked upload that
 * passes the limit has its connection closed (no answer can be sent while
 * a body is still arriving). Routes other than GET /health, GET /metrics
 * and the static UI answer 503 (Retry-After: 5) until ln_server_set_ready.
 * With an API token, everything but GET /health and the static UI needs it.
 * Every request must name the server in its Host header (the listen
 * address, localhost, 127.0.0.1, [::1] with the port, or a public_hosts
 * name; otherwise 421), and one that can change something is refused (403)
 * when a browser says another site's page sent it (Origin, Sec-Fetch-Site),
 * unless allow_origins lists that page's origin; see ln_server_guard.c.
 * Every response carries nosniff, no-referrer, a same-origin opener policy,
 * X-Frame-Options DENY and a Content-Security-Policy limited to the UI's
 * own files (and the hash of index.html's inline import map).
 *
 * Threads: a small pool of event-driven HTTP threads (`threads`), each
 * serving many connections, and one thread that wakes event streams when
 * their job changes; see the DESIGN comment in ln_server.c.
 *
 * Thread-safety: start/stop from one thread; set_ready from any.
 */
#ifndef LN_SERVER_H
#define LN_SERVER_H

#include <stddef.h>

#include "ln_error.h"
#include "ln_image.h"
#include "ln_jobs.h"

struct ln_server_config {
    const char *host;            /* default "127.0.0.1" */
    int port;                    /* default 8000; 0 picks a free port */
    const char *web_dir;         /* static UI files, default "web" */
    const char *vendor_dir;      /* npm packages the UI imports (GET /vendor/three/… is
                                  * <vendor_dir>/three/…); NULL: node_modules beside
                                  * web_dir. Borrowed: must outlive the server */
    const char *api_token;       /* NULL or "": no token required */
    const char *const *public_hosts; /* more Host names answered (NAME or NAME:PORT), e.g.
                                      * the name of a reverse proxy; borrowed */
    int n_public_hosts;
    const char *const *allow_origins; /* pages elsewhere ("https://ui.example.org") that
                                       * may send POST and DELETE requests; borrowed */
    int n_allow_origins;
    size_t max_file_bytes;       /* per uploaded file, default 32 MiB */
    size_t max_request_bytes;    /* per request body, default 128 MiB */
    struct ln_image_limits image_limits; /* decoded size limits of uploads */
    int max_images;              /* per multi-view job, default 8 */
    unsigned timeout_s;          /* idle connection timeout, default 30 */
    int threads;                 /* HTTP threads, each serving many connections: 1 to
                                  * LN_SERVER_MAX_THREADS, default one per CPU core
                                  * (at least 2). More than the cores only helps when
                                  * a request's own work would hold up the others */
};

#define LN_SERVER_MAX_THREADS 64
/* public_hosts and allow_origins beyond this many are ignored. */
#define LN_SERVER_MAX_NAMES 16

void ln_server_config_default(struct ln_server_config *cfg);

struct ln_server;

/* Binds and starts serving. Errors: LN_EIO when the address cannot be bound
 * (the message names it and the reason, e.g. "address already in use"). */
int ln_server_start(const struct ln_server_config *cfg, struct ln_server **out,
                    struct ln_error *err);
/* The port actually bound (useful with port 0). */
int ln_server_port(const struct ln_server *srv);
/* From now on job endpoints work and /health answers 200. jobs is
 * borrowed; its engine set (ln_jobs_engines) is what /health reports (the
 * first engine as the default) and what uploads choose among. */
void ln_server_set_ready(struct ln_server *srv, struct ln_jobs *jobs);
/* What /health says about models being downloaded in the background
 * (serve --pull-models), filled by the probe on each request: state NULL
 * for nothing to say, else "downloading", "ready" or "failed". */
struct ln_server_download {
    const char *state;
    char model[256];   /* the repo or model name */
    char file[256];    /* the file arriving now */
    unsigned long long done, total; /* bytes of that file; total 0 unknown */
    char message[256]; /* one line: what happened, what to do */
    int restart_needed; /* 1: the new engine is used after a restart only */
};
/* Call before ln_server_set_ready (which publishes it); the probe is
 * called from HTTP threads and must be thread-safe. */
void ln_server_set_download_probe(struct ln_server *srv,
                                  void (*probe)(void *user, struct ln_server_download *out),
                                  void *user);
/* Answers new requests 503 (EBUSY, "the server is stopping"), waits up to
 * 5 s for those in flight to end, then closes the listening socket. */
void ln_server_stop(struct ln_server *srv);
/* 0 when every file of the three.js package that the web UI's viewer loads
 * is in the vendor folder; otherwise -1 with the path of the first one
 * missing in missing[n]. */
int ln_server_check_viewer_files(const struct ln_server *srv, char *missing, size_t n);

#endif
