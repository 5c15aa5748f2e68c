/*
 * One job's run, wherever its files are kept (see ln_job_run.h): the
 * inputs decoded from its folder, the engine, model.glb and preview.png
 * written there, the report fields of the job filled. The file store's
 * workers and the PostgreSQL workers both call it.
 */
#include "ln_job_run.h"

#include <stdio.h>
#include <string.h>

#include "ln_export.h"
#include "ln_gpu.h"
#include "ln_log.h"
#include "ln_render.h"
#include "ln_time.h"

/* folder/name into buf; -1 when it does not fit. */
static int ln__path_in(const char *folder, const char *name, char *buf, size_t n)
{
    int w = snprintf(buf, n, "%s/%s", folder, name);
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

static void ln__add_timing(struct ln_job *job, const char *name, double seconds, int first)
{
    if (job->n_timings >= LN_JOB_MAX_TIMINGS)
        return;
    int at = first ? 0 : job->n_timings;
    /* "total" stays last */
    if (!first && at > 0 && strcmp(job->timings[at - 1].name, "total") == 0)
        at--;
    memmove(&job->timings[at + 1], &job->timings[at],
            (size_t)(job->n_timings - at) * sizeof job->timings[0]);
    snprintf(job->timings[at].name, sizeof job->timings[at].name, "%s", name);
    job->timings[at].seconds = seconds;
    job->n_timings++;
}

/* What computes a run of engine, for the job record: the process's device
 * (ln_gpu.h, --device) for the engine whose network has GPU stages,
 * TripoSR's (docs/vulkan.md section 3); the CPU for the others (sculpt),
 * whatever the worker's device, until their report says a matting network
 * separated the object (ln__device_after): that network runs on the
 * device too (docs/vulkan.md section 9). */
static const char *ln__device_of(const struct ln_engine *engine)
{
    return strcmp(ln_engine_name(engine), "triposr") == 0 ? ln_gpu_current_name() : "cpu";
}

/* rep->background lists how each view was separated ("alpha, u2net"):
 * any word but alpha, classic and off names a matting network. */
static const char *ln__device_after(const char *before, const struct ln_generate_report *rep)
{
    if (!ln_gpu_current())
        return before;
    const char *p = rep->background;
    while (*p) {
        const size_t n = strcspn(p, ", ");
        if (n > 0 && !(n == 5 && strncmp(p, "alpha", 5) == 0) &&
            !(n == 7 && strncmp(p, "classic", 7) == 0) && !(n == 3 && strncmp(p, "off", 3) == 0))
            return ln_gpu_current_name();
        p += n;
        p += strspn(p, ", ");
    }
    return before;
}

int ln_job_run(const struct ln_job_run_env *env, const char *folder, struct ln_job *job,
               struct ln_progress *progress_in, struct ln_error *err)
{
    struct ln_image images[LN_MAX_VIEWS];
    struct ln_mesh mesh = {0};
    struct ln_image preview = {0};
    struct ln_generate_report rep;
    char path[4096];
    int n_loaded = 0, rc;
    double t0 = ln_time_now();
    memset(images, 0, sizeof images);
    struct ln_progress progress = *progress_in;

    ln_progress_report(&progress, "decoding", 0.0);
    for (int i = 0; i < job->n_inputs; i++) {
        if (ln__path_in(folder, job->inputs[i].file, path, sizeof path) < 0) {
            rc = ln_error_set(err, LN_EINTERNAL, "the outputs path is too long");
            goto done;
        }
        rc = ln_image_load(path, env->limits, &images[i], err);
        if (rc < 0) {
            /* The message starts with our path; the client knows its name. */
            size_t pl = strlen(path);
            char msg[LN_ERROR_MESSAGE_MAX];
            const char *m = err->message;
            if (strncmp(m, path, pl) == 0 && strncmp(m + pl, ": ", 2) == 0)
                m += pl + 2;
            snprintf(msg, sizeof msg, "%s", m);
            ln_error_set(err, rc, "image %d (%s): %s", i + 1, job->inputs[i].name, msg);
            goto done;
        }
        n_loaded++;
    }
    double t_decode = ln_time_now() - t0;
    if (ln_progress_canceled(&progress)) {
        rc = ln_error_set(err, LN_ECANCELED, "canceled");
        goto done;
    }

    struct ln_engine_input in = {
        .images = images,
        .n_images = (size_t)job->n_inputs,
        .views = job->has_views ? job->views : NULL,
    };
    /* The engine chosen at submit may be gone after a restart (its weights
     * removed): the job then runs on the default engine for its image
     * count, and says so, rather than failing a request that was valid. */
    char fallback[LN_ERROR_MESSAGE_MAX] = "";
    const struct ln_engine_set *engines = env->engines;
    const struct ln_engine *engine = ln_engine_set_find(engines, job->engine);
    if (!engine || !ln_engine_accepts(engine, (size_t)job->n_inputs)) {
        engine = ln_engine_set_pick(engines, NULL, (size_t)job->n_inputs, err);
        if (!engine) {
            rc = LN_EINVAL;
            goto done;
        }
        snprintf(fallback, sizeof fallback,
                 "the %.16s engine is not loaded on this server: generated with %s",
                 job->engine[0] ? job->engine : "chosen", ln_engine_name(engine));
        ln_log_warn("job %s: %s", job->id, fallback);
    }
    snprintf(job->device, sizeof job->device, "%s", ln__device_of(engine));
    struct ln_progress gen = ln_progress_span(&progress, 0.05, 0.95);
    rc = ln_generate(engine, &in, &job->options, &gen, &mesh, &rep, err);
    if (rc < 0)
        goto done;
    const char *device = ln__device_after(job->device, &rep);
    if (device != job->device)
        snprintf(job->device, sizeof job->device, "%s", device);
    for (int i = 0; i < n_loaded; i++)
        ln_image_free(&images[i]);
    n_loaded = 0;

    ln_progress_report(&progress, "saving", 0.95);
    double t_save = ln_time_now();
    if (ln__path_in(folder, "model.glb", path, sizeof path) < 0) {
        rc = ln_error_set(err, LN_EINTERNAL, "the outputs path is too long");
        goto done;
    }
    rc = ln_mesh_save(&mesh, path, LN_MESH_FORMAT_GLB, err);
    if (rc < 0)
        goto done;
    ln_job_set_report(job, &rep);
    if (fallback[0] && job->n_warnings < LN_REPORT_MAX_WARNINGS)
        snprintf(job->warnings[job->n_warnings++], sizeof job->warnings[0], "%s", fallback);

    /* The model is what was asked for; a missing thumbnail is a warning. */
    struct ln_error perr = {0};
    if (ln__path_in(folder, "preview.png", path, sizeof path) < 0 ||
        ln_render_preview(&mesh, LN_JOB_PREVIEW_SIZE, &preview, &perr) < 0 ||
        ln_image_save_png(&preview, path, &perr) < 0) {
        ln_log_warn("job %s: no preview: %s", job->id, perr.message);
        if (job->n_warnings < LN_REPORT_MAX_WARNINGS)
            snprintf(job->warnings[job->n_warnings++], sizeof job->warnings[0],
                     "no preview image: %.200s", perr.message);
    }
    ln__add_timing(job, "decode", t_decode, 1);
    ln__add_timing(job, "save", ln_time_now() - t_save, 0);
    if (job->n_timings > 0 && strcmp(job->timings[job->n_timings - 1].name, "total") == 0)
        job->timings[job->n_timings - 1].seconds = ln_time_now() - t0;
    rc = LN_OK;

done:
    ln_image_free(&preview);
    ln_mesh_free(&mesh);
    for (int i = 0; i < n_loaded; i++)
        ln_image_free(&images[i]);
    return rc;
}

