/*
 * `serve --pull-models`: the TripoSR weights that are missing come down in
 * one background thread while the server already answers with the sculpt
 * engine; /health (and through it the web UI) shows the download's
 * progress and how it ended. When the weights are in, the engine is loaded
 * from them and handed to the server (the ready callback), which from then
 * on gives single-image jobs to TripoSR: no restart.
 *
 * DESIGN: the puller thread owns the download; it writes its progress into
 * struct ln_app_puller under mu, which HTTP threads read through the probe.
 * ln_app_puller_stop sets cancel (the download checks it about once a
 * second) and joins.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "ln_alloc.h"
#include "ln_engine.h"
#include "ln_hub.h"
#include "ln_log.h"
#include "ln_server.h"
#include "ln_time.h"

struct ln_app_puller {
    char repo[256];
    void (*ready)(void *user, struct ln_engine *engine);
    void *ready_user;
    pthread_t thread;
    atomic_int cancel;
    pthread_mutex_t mu;
    const char *state; /* "downloading", "ready", "failed" */
    char file[256], message[256];
    unsigned long long done, total;
    double last_log;
};

static void ln__puller_progress(void *user, const char *file, uint64_t done, uint64_t total)
{
    struct ln_app_puller *p = user;
    pthread_mutex_lock(&p->mu);
    snprintf(p->file, sizeof p->file, "%s", file);
    p->done = done;
    p->total = total;
    pthread_mutex_unlock(&p->mu);
    /* The log gets a line every 10 s, not every block. */
    const double now = ln_time_now();
    if (now - p->last_log >= 10.0) {
        p->last_log = now;
        if (total)
            ln_log_info("models: %s %.0f%% (%.1f of %.1f MB)", file,
                        100.0 * (double)done / (double)total, (double)done / 1e6,
                        (double)total / 1e6);
    }
}

static void ln__puller_note(void *user, const char *line)
{
    ln_log_info("models: %s", line);
}

static void ln__puller_finish(struct ln_app_puller *p, const char *state, const char *msg)
{
    pthread_mutex_lock(&p->mu);
    p->state = state;
    snprintf(p->message, sizeof p->message, "%s", msg);
    pthread_mutex_unlock(&p->mu);
}

static void *ln__puller_main(void *arg)
{
    struct ln_app_puller *p = arg;
    struct ln_hub_pull *pull = ln_xcalloc(1, sizeof *pull);
    pull->progress = ln__puller_progress;
    pull->note = ln__puller_note;
    pull->user = p;
    pull->cancel = &p->cancel;
    struct ln_error err = {0};
    char msg[256];
    ln_log_info("models: downloading %s into the Hugging Face cache in the background; sculpt "
                "serves meanwhile",
                p->repo);
    if (ln_hub_pull_model(p->repo, pull, &err) < 0) {
        if (err.code == LN_ECANCELED) {
            ln__puller_finish(p, "failed", "stopped with the server; it resumes at the next start");
        } else {
            ln_log_warn("models: %s could not be downloaded: %s", p->repo, err.message);
            ln__puller_finish(p, "failed", err.message);
        }
        free(pull);
        return NULL;
    }
    /* The weights are in: the engine loads from them and joins the set. */
    struct ln_engine *eng = NULL;
    if (ln_engine_triposr_new(p->repo, &eng, &err) < 0) {
        snprintf(msg, sizeof msg, "downloaded, but the engine does not load: %.200s", err.message);
        ln_log_warn("models: %s %s", p->repo, msg);
        ln__puller_finish(p, "failed", msg);
    } else {
        snprintf(msg, sizeof msg,
                 "TripoSR weights downloaded (%.1f MB) and verified: the triposr engine now "
                 "takes single images",
                 (double)pull->bytes_downloaded / 1e6);
        ln_log_info("models: %s %s", p->repo, msg);
        p->ready(p->ready_user, eng);
        ln__puller_finish(p, "ready", msg);
    }
    free(pull);
    return NULL;
}

int ln_app_puller_start(const char *repo, void (*ready)(void *user, struct ln_engine *engine),
                        void *user, struct ln_app_puller **out, struct ln_error *err)
{
    int rc = ln_hub_global_init(err);
    if (rc < 0)
        return rc;
    struct ln_app_puller *p = ln_xcalloc(1, sizeof *p);
    snprintf(p->repo, sizeof p->repo, "%s", repo);
    p->ready = ready;
    p->ready_user = user;
    pthread_mutex_init(&p->mu, NULL);
    p->state = "downloading";
    if (pthread_create(&p->thread, NULL, ln__puller_main, p) != 0) {
        pthread_mutex_destroy(&p->mu);
        free(p);
        return ln_error_set(err, LN_EINTERNAL, "cannot start the download thread");
    }
    *out = p;
    return LN_OK;
}

void ln_app_puller_probe(void *user, struct ln_server_download *out)
{
    struct ln_app_puller *p = user;
    pthread_mutex_lock(&p->mu);
    out->state = p->state;
    snprintf(out->model, sizeof out->model, "%s", p->repo);
    snprintf(out->file, sizeof out->file, "%s", p->file);
    snprintf(out->message, sizeof out->message, "%s", p->message);
    out->done = p->done;
    out->total = p->total;
    out->restart_needed = 0;
    pthread_mutex_unlock(&p->mu);
}

void ln_app_puller_stop(struct ln_app_puller *p)
{
    if (!p)
        return;
    atomic_store(&p->cancel, 1);
    pthread_join(p->thread, NULL);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
