/*
 * Slow answers off the pool: DELETE /jobs/{id} (the deletion mark, the
 * history and the folder's removal: several fsyncs and a tree to unlink)
 * and the first download of a model in OBJ, PLY or STL (a conversion from
 * the GLB, up to a second for a large mesh).
 *
 * DESIGN: the handler looks the job up on the pool thread (an unknown job
 * is answered there at once), then suspends the connection and queues the
 * work; one of LN__SLOW_HELPERS threads takes it, runs it without any
 * server lock, stores the outcome in the request's ln__slow and resumes
 * the connection. libmicrohttpd then calls the handler again on a pool
 * thread, which finds the outcome and answers: 204 for a delete, the file
 * for a download, as when they ran inline. A suspended connection cannot
 * be closed by libmicrohttpd, so req and its ln__slow stay valid until the
 * helper resumes it; the completed callback frees the ln__slow. The queue
 * is under slow_mu; its length is bounded by the connection limit (one
 * entry per suspended connection). Stopping: the helpers finish what is
 * queued, resume it, and exit (ln__slow_join, before the daemon stops).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_server_int.h"

struct ln__slow {
    struct ln__req *req;
    int kind; /* LN__SLOW_DELETE or LN__SLOW_MODEL */
    char id[LN_JOB_ID_LEN + 1];
    int fmt;
    /* written by the helper before it resumes, read by the pool after */
    int done;
    int rc;
    struct ln_error err;
    char path[4096];
    struct ln__slow *next; /* in the helpers' queue */
};

int ln__slow_start(struct ln__req *req, int kind, const char *id, int fmt)
{
    struct ln_server *srv = req->srv;
    struct ln__slow *s = ln_xcalloc(1, sizeof *s);
    s->req = req;
    s->kind = kind;
    snprintf(s->id, sizeof s->id, "%s", id);
    s->fmt = fmt;
    req->slow = s;
    pthread_mutex_lock(&srv->slow_mu);
    MHD_suspend_connection(req->conn);
    if (srv->slow_tail)
        srv->slow_tail->next = s;
    else
        srv->slow_head = s;
    srv->slow_tail = s;
    pthread_cond_signal(&srv->slow_cond);
    pthread_mutex_unlock(&srv->slow_mu);
    return 0;
}

int ln__slow_result(const struct ln__req *req, const char **path, const struct ln_error **err)
{
    const struct ln__slow *s = req->slow;
    if (!s || !s->done)
        return 1;
    *path = s->path;
    *err = &s->err;
    return s->rc;
}

void ln__slow_free(struct ln__slow *s)
{
    free(s);
}

static void ln__slow_run(struct ln_server *srv, struct ln__slow *s)
{
    struct ln_jobs *jobs = ln__server_jobs(srv);
    if (s->kind == LN__SLOW_DELETE)
        s->rc = ln_jobs_delete(jobs, s->id, &s->err);
    else
        s->rc = ln_jobs_model(jobs, s->id, (enum ln_mesh_format)s->fmt, s->path,
                              sizeof s->path, &s->err);
    s->done = 1;
}

static void *ln__slow_helper(void *arg)
{
    struct ln_server *srv = arg;
    pthread_mutex_lock(&srv->slow_mu);
    for (;;) {
        struct ln__slow *s = srv->slow_head;
        if (!s) {
            if (srv->slow_quit)
                break;
            pthread_cond_wait(&srv->slow_cond, &srv->slow_mu);
            continue;
        }
        srv->slow_head = s->next;
        if (!srv->slow_head)
            srv->slow_tail = NULL;
        pthread_mutex_unlock(&srv->slow_mu);
        struct MHD_Connection *conn = s->req->conn;
        ln__slow_run(srv, s);
        MHD_resume_connection(conn); /* s and its req may go from here on */
        pthread_mutex_lock(&srv->slow_mu);
    }
    pthread_mutex_unlock(&srv->slow_mu);
    return NULL;
}

int ln__slow_init(struct ln_server *srv)
{
    pthread_mutex_init(&srv->slow_mu, NULL);
    pthread_cond_init(&srv->slow_cond, NULL);
    srv->slow_head = srv->slow_tail = NULL;
    srv->slow_quit = 0;
    srv->slow_started = 0;
    for (int i = 0; i < LN__SLOW_HELPERS; i++) {
        if (pthread_create(&srv->slow_threads[i], NULL, ln__slow_helper, srv) != 0)
            return -1;
        srv->slow_started++;
    }
    return 0;
}

void ln__slow_join(struct ln_server *srv)
{
    pthread_mutex_lock(&srv->slow_mu);
    srv->slow_quit = 1;
    pthread_cond_broadcast(&srv->slow_cond);
    pthread_mutex_unlock(&srv->slow_mu);
    for (int i = 0; i < srv->slow_started; i++)
        pthread_join(srv->slow_threads[i], NULL);
    srv->slow_started = 0;
}

void ln__slow_destroy(struct ln_server *srv)
{
    pthread_cond_destroy(&srv->slow_cond);
    pthread_mutex_destroy(&srv->slow_mu);
}
