/*
 * Slow answers off the pool: DELETE /jobs/{id} (the deletion mark, the
 * history and the folder's removal: several fsyncs and a tree to unlink)
 * and the first download of a model in OBJ, PLY, STL or as the OBJ zip (a
 * conversion from the GLB, up to a second for a large mesh).
 *
 * DESIGN: the handler looks the job up on the HTTP thread (an unknown job
 * is answered there at once), then hands the work to the helper pool
 * (ln_server_pool.c, LN__SLOW_HELPERS threads), which runs it without any
 * server lock and stores the outcome in the request's ln__slow before it
 * resumes the connection; the handler, called again, answers: 204 for a
 * delete, the file for a download, as when they ran inline. The completed
 * callback frees the ln__slow. The queue has no bound of its own: one
 * entry per suspended connection, so the connection limit bounds it.
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
    struct ln__pool_item item; /* in the helpers' queue */
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
    s->item = (struct ln__pool_item){.req = req, .work = s};
    ln__pool_submit(&srv->slow_pool, &s->item);
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

static void ln__slow_run(void *work)
{
    struct ln__slow *s = work;
    struct ln_jobs *jobs = ln__server_jobs(s->req->srv);
    if (s->kind == LN__SLOW_DELETE)
        s->rc = ln_jobs_delete(jobs, s->id, &s->err);
    else if (s->fmt == LN__FORMAT_ZIP)
        s->rc = ln_jobs_model_zip(jobs, s->id, s->path, sizeof s->path, &s->err);
    else
        s->rc = ln_jobs_model(jobs, s->id, (enum ln_mesh_format)s->fmt, s->path,
                              sizeof s->path, &s->err);
    s->done = 1;
}

int ln__slow_init(struct ln_server *srv)
{
    return ln__pool_init(&srv->slow_pool, LN__SLOW_HELPERS, 0, ln__slow_run);
}

void ln__slow_join(struct ln_server *srv)
{
    ln__pool_join(&srv->slow_pool);
}

void ln__slow_destroy(struct ln_server *srv)
{
    ln__pool_destroy(&srv->slow_pool);
}
