/*
 * Running one job: what a worker does between taking a job and recording
 * its result, the same for the file store and the PostgreSQL store.
 *
 *     struct ln_job_run_env env = {.engines = &set, .limits = &limits};
 *     rc = ln_job_run(&env, "outputs/<id>", &job, &progress, &err);
 *
 * The job's folder holds its inputs (job.inputs[i].file); the run writes
 * model.glb and preview.png there (a missing preview is a warning, not a
 * failure) and fills the job's report fields (mesh statistics, timings,
 * warnings, background, texture, and the device that computed it). The
 * engine named at submission runs, or, when this worker has not loaded it,
 * the default one for the image count (with a warning saying so). progress gets the stages and fractions and
 * carries the cancel flag the engine polls.
 */
#ifndef LN_JOB_RUN_H
#define LN_JOB_RUN_H

#include "ln_engine.h"
#include "ln_error.h"
#include "ln_image.h"
#include "ln_job.h"
#include "ln_progress.h"

/* Side of the preview image, in pixels. */
#define LN_JOB_PREVIEW_SIZE 256

struct ln_job_run_env {
    const struct ln_engine_set *engines;
    const struct ln_image_limits *limits;
};

int ln_job_run(const struct ln_job_run_env *env, const char *folder, struct ln_job *job,
               struct ln_progress *progress, struct ln_error *err);

#endif
