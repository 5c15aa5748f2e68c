/*
 * Helper pools for work that must not run on an HTTP thread (see
 * ln_server_int.h): checking finished uploads (ln_server_upload.c) and
 * deletions and conversions (ln_server_slow.c).
 *
 * DESIGN: a handler fills an item and submits it; the connection is
 * suspended and the item queued under the pool's mutex. A helper takes
 * items in order, runs the pool's function without the mutex and resumes
 * the item's connection; libmicrohttpd then calls the handler again on an
 * HTTP thread, which finds the outcome in the request and answers. A
 * suspended connection cannot be closed by libmicrohttpd, so the request
 * and its item stay valid until the helper resumes it (not after: the
 * connection is read from the item before the function runs). Stopping:
 * the helpers finish what is queued, resume it, and exit (ln__pool_join,
 * before the daemon stops).
 */
#include <assert.h>

#include "ln_server_int.h"

static void *ln__pool_helper(void *arg)
{
    struct ln__pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        struct ln__pool_item *it = p->head;
        if (!it) {
            if (p->quit)
                break;
            pthread_cond_wait(&p->cond, &p->mu);
            continue;
        }
        p->head = it->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        pthread_mutex_unlock(&p->mu);
        struct MHD_Connection *conn = it->req->conn;
        p->run(it->work);
        MHD_resume_connection(conn); /* the item and its req may go from here on */
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int ln__pool_init(struct ln__pool *p, int threads, int max_queued, void (*run)(void *work))
{
    assert(threads > 0 && threads <= LN__POOL_MAX_THREADS);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->head = p->tail = NULL;
    p->queued = 0;
    p->max_queued = max_queued;
    p->quit = 0;
    p->started = 0;
    p->run = run;
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&p->threads[i], NULL, ln__pool_helper, p) != 0)
            return -1;
        p->started++;
    }
    return 0;
}

int ln__pool_submit(struct ln__pool *p, struct ln__pool_item *it)
{
    pthread_mutex_lock(&p->mu);
    if (p->max_queued > 0 && p->queued >= p->max_queued) {
        pthread_mutex_unlock(&p->mu);
        return -1;
    }
    MHD_suspend_connection(it->req->conn);
    it->next = NULL;
    if (p->tail)
        p->tail->next = it;
    else
        p->head = it;
    p->tail = it;
    p->queued++;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

void ln__pool_join(struct ln__pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->started; i++)
        pthread_join(p->threads[i], NULL);
    p->started = 0;
}

void ln__pool_destroy(struct ln__pool *p)
{
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->mu);
}
