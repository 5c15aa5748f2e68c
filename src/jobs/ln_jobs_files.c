/*
 * The files of a job: paths of its outputs, the staging folders of
 * uploads, and models in other formats converted from model.glb on first
 * request, the OBJ zip with its material and texture among them (outside
 * every lock: the HTTP server calls this on a helper thread).
 */
#include "ln_jobs_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_fs.h"

int ln_jobs_path(struct ln_jobs *J, const char *id, const char *name, char *buf, size_t n,
                 struct ln_error *err)
{
    if (!ln_job_id_valid(id))
        return ln_error_set(err, LN_ENOTFOUND, "no job with id %.40s", id ? id : "");
    if (!name || !name[0] || strchr(name, '/') || strchr(name, '\\') || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0)
        return ln_error_set(err, LN_EINVAL, "\"%.40s\" is not a file name", name ? name : "");
    if (ln__job_file(J, id, name, buf, n) < 0)
        return ln_error_set(err, LN_EINVAL, "the path of %s in job %s is too long", name, id);
    if (J->pg)
        ln__pg_fetch(J, id, name);
    return LN_OK;
}

/* The shared start of a download in another form: the job has succeeded,
 * buf gets the path of its file `name` and glb that of model.glb. Returns
 * 1 when name is there already (or is the GLB), 0 when it is to be made
 * from the GLB, or an error. */
static int ln__model_paths(struct ln_jobs *J, const char *id, const char *name, char *buf,
                           size_t n, char glb[4096], struct ln_error *err)
{
    pthread_mutex_lock(&J->mu);
    const struct ln_job *job = ln__find(J, id);
    int rc = LN_OK;
    if (!job)
        rc = ln_error_set(err, LN_ENOTFOUND, "no job with id %.40s", id ? id : "");
    else if (job->status != LN_JOB_STATUS_SUCCEEDED)
        rc = ln_error_set(err, LN_ENOTFOUND, "job %s has no model (it is %s)", job->id,
                          ln_job_status_name(job->status));
    pthread_mutex_unlock(&J->mu);
    if (rc < 0)
        return rc;
    if ((rc = ln_jobs_path(J, id, name, buf, n, err)) < 0 ||
        (rc = ln_jobs_path(J, id, "model.glb", glb, 4096, err)) < 0)
        return rc;
    struct ln_path_info info;
    if (ln_path_stat(glb, 0, &info, NULL) < 0)
        return ln_error_set(err, LN_ENOTFOUND, "the model of job %s is missing", id);
    return strcmp(name, "model.glb") == 0 || ln_path_stat(buf, 0, &info, NULL) == LN_OK;
}

int ln_jobs_model(struct ln_jobs *J, const char *id, enum ln_mesh_format fmt, char *buf, size_t n,
                  struct ln_error *err)
{
    char glb[4096], name[16];
    if ((int)fmt < 0 || fmt >= LN_MESH_FORMAT_COUNT)
        return ln_error_set(err, LN_EINVAL, "unknown model format");
    snprintf(name, sizeof name, "model.%s", ln_mesh_format_ext(fmt));
    int rc = ln__model_paths(J, id, name, buf, n, glb, err);
    if (rc != 0)
        return rc < 0 ? rc : LN_OK;

    /* Converted outside the lock; two requests racing both write the same
     * bytes atomically, so either file is whole. */
    struct ln_mesh mesh = {0};
    rc = ln_mesh_load(glb, &mesh, err);
    if (rc == LN_OK)
        rc = ln_mesh_save(&mesh, buf, fmt, err);
    ln_mesh_free(&mesh);
    if (rc < 0)
        return ln_error_prefix(err, "converting the model of job %s", id);
    return LN_OK;
}

int ln_jobs_model_zip(struct ln_jobs *J, const char *id, char *buf, size_t n,
                      struct ln_error *err)
{
    char glb[4096];
    int rc = ln__model_paths(J, id, "model.zip", buf, n, glb, err);
    if (rc != 0)
        return rc < 0 ? rc : LN_OK;
    /* As above: made outside the lock, written atomically. The entries are
     * named after the job, so archives of several jobs unpack side by side. */
    struct ln_mesh mesh = {0};
    struct ln_buf zip = {0};
    rc = ln_mesh_load(glb, &mesh, err);
    if (rc == LN_OK)
        rc = ln_mesh_encode_obj_zip(&mesh, id, &zip, err);
    if (rc == LN_OK)
        rc = ln_file_write_atomic(buf, zip.data, zip.len, err);
    ln_mesh_free(&mesh);
    ln_buf_free(&zip);
    if (rc < 0)
        return ln_error_prefix(err, "packing the model of job %s", id);
    return LN_OK;
}

int ln_jobs_staging_dir(struct ln_jobs *J, char *buf, size_t n, struct ln_error *err)
{
    int w = snprintf(buf, n, "%s/" LN__STAGING_PREFIX "XXXXXX", J->outputs);
    if (w < 0 || (size_t)w >= n)
        return ln_error_set(err, LN_EINVAL, "the staging path is too long");
    char *dir;
    struct ln_error terr = {0};
    if (ln_dir_make_temp(J->outputs, LN__STAGING_PREFIX, &dir, &terr) < 0)
        return ln_error_set(err, LN_EIO, "cannot create an upload folder in %s: %s", J->outputs,
                            terr.message);
    snprintf(buf, n, "%s", dir); /* the same length as the template checked above */
    free(dir);
    return LN_OK;
}
