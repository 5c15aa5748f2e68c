/*
 * The job record: what was asked (inputs, options, views), where it stands
 * (status, stage, progress, timings) and what came out (mesh statistics,
 * warnings, error). The same JSON object is stored in outputs/jobs.json
 * (keyed by id) and returned by the HTTP API, so there is one schema:
 *
 *   {"id": "…", "status": "succeeded", "stage": "done", "progress": 1,
 *    "created_at": "2026-11-27T01:02:03.456Z", "started_at": …, "finished_at": …,
 *    "engine": "sculpt", "attempts": 1,
 *    "inputs": [{"name": "chair.png", "file": "input-0.png",
 *                "content_type": "image/png", "bytes": 12345}],
 *    "views": [{"azimuth": 0, "elevation": 0}, …] (multi-view jobs only),
 *    "options": {"resolution": 256, "faces": 100000, "foreground_ratio": 0.85,
 *                "remove_bg": true, "projection": "ortho", "ortho_size": 1.25,
 *                "fov": 40, "distance": 2.5, "size": 1, "origin": "center",
 *                "smooth": 8, "fill_holes": true, "keep_floaters": false},
 *    "timings": {"decode": 0.01, …, "total": 0.42},
 *    "mesh": {"vertices": …, "faces": …, "bbox_min": […], "bbox_max": […],
 *             "watertight": true, "components": 1},
 *    "warnings": ["…"],
 *    "device": "cpu" or "vulkan:0 (name)" (what computed it; once its
 *              engine ran),
 *    "error": {"code": "EUNUSABLE", "message": "…"} (failed jobs only),
 *    "idempotency_key": "…" (when given)}
 *
 * Plain values, no locking: the job manager (ln_jobs.h) owns the shared
 * copies and hands out snapshots.
 */
#ifndef LN_JOB_H
#define LN_JOB_H

#include <jansson.h>
#include <stdint.h>

#include "ln_engine.h"
#include "ln_error.h"

#define LN_JOB_ID_LEN 24 /* lowercase hex characters */
#define LN_JOB_NAME_MAX 128
#define LN_JOB_KEY_MAX 128
#define LN_JOB_MAX_TIMINGS 20
#define LN_JOB_DEVICE_MAX 300 /* "vulkan:N (" + a Vulkan device name + ")" */

enum ln_job_status {
    LN_JOB_STATUS_QUEUED,
    LN_JOB_STATUS_RUNNING,
    LN_JOB_STATUS_SUCCEEDED,
    LN_JOB_STATUS_FAILED,
    LN_JOB_STATUS_CANCELED,
    LN_JOB_STATUS_COUNT,
};

struct ln_job_input {
    char name[LN_JOB_NAME_MAX]; /* the client's file name, sanitised for display */
    char file[32];              /* stored name inside the job folder: input-<n>.<ext> */
    char content_type[48];      /* image/png, image/jpeg, image/webp (sniffed) */
    uint64_t bytes;
};

struct ln_job {
    char id[LN_JOB_ID_LEN + 1];
    enum ln_job_status status;
    char stage[32];
    double progress;                       /* 0..1 */
    double created_at, started_at, finished_at; /* Unix seconds, 0 = not yet */
    int attempts;                          /* times a worker started it */
    char engine[16];
    struct ln_generate_options options;
    int n_inputs;
    struct ln_job_input inputs[LN_MAX_VIEWS];
    int has_views;                         /* views given (or multi-view defaults filled in) */
    struct ln_view views[LN_MAX_VIEWS];
    int n_timings;
    struct {
        char name[24];
        double seconds;
    } timings[LN_JOB_MAX_TIMINGS];
    int has_mesh;
    struct ln_mesh_stats mesh;
    int texture_size;         /* side of the baked texture, 0: vertex colours only */
    size_t texture_charts;    /* its UV charts */
    int n_warnings;
    char warnings[LN_REPORT_MAX_WARNINGS][LN_ERROR_MESSAGE_MAX];
    char background[64];                   /* how the object was separated ("" = not yet) */
    char device[LN_JOB_DEVICE_MAX];        /* what computed it ("" = no engine ran yet) */
    int error_code;                        /* enum ln_status, LN_OK unless failed */
    char error[LN_ERROR_MESSAGE_MAX];
    char idempotency_key[LN_JOB_KEY_MAX];
    uint64_t version;                      /* bumped on every change (not stored) */
};

const char *ln_job_status_name(enum ln_job_status s);
/* Returns the status, or -1 for an unknown name. */
int ln_job_status_parse(const char *name);
/* True for succeeded, failed and canceled. */
int ln_job_status_is_final(enum ln_job_status s);

/* Exactly LN_JOB_ID_LEN lowercase hex digits: anything else (such as
 * "../../etc") is not an id, so ids are safe to use as folder names. */
int ln_job_id_valid(const char *id);
/* 1 when f is a stored input's file name: input-<n>.<png|jpg|webp>. */
int ln_job_input_name_valid(const char *f);
/* A new random id (from the system's generator, ln_random_bytes). */
void ln_job_id_new(char id[LN_JOB_ID_LEN + 1]);

/* Serialises the job (new reference). */
json_t *ln_job_to_json(const struct ln_job *job);
/* Parses what ln_job_to_json wrote; LN_EFORMAT naming the bad field. */
int ln_job_from_json(const json_t *obj, struct ln_job *job, struct ln_error *err);

/* Records the report of a finished generation into the job. */
void ln_job_set_report(struct ln_job *job, const struct ln_generate_report *rep);
/* Copies what ln_job_set_report and ln_job_run fill (engine, timings, mesh
 * and texture, warnings, background, device) from src into dst: a field added there is added
 * here, in the same file. */
void ln_job_copy_report(struct ln_job *dst, const struct ln_job *src);
/* The start of a run in the job's state: running, its attempts (this one
 * included), started at now, stage "starting", no progress, no error, no
 * device yet (ln_job_run names it once the engine is chosen). */
void ln_job_set_started(struct ln_job *job, int attempts, double now);
/* The end of a run in the job's state: succeeded (rc LN_OK), canceled
 * (LN_ECANCELED) or failed with rc and message (the code's description
 * when message is empty), stage and progress to match, finished at now. */
void ln_job_set_outcome(struct ln_job *job, int rc, const char *message, double now);

#endif
