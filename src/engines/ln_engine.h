/*
 * Engines turn decoded images into a coloured triangle mesh, and
 * ln_generate wraps any engine in the shared pipeline: validate the input,
 * run the engine, then post-process (keep the main component, fill small
 * holes, Taubin smoothing, simplification, placement, normals) and report
 * per-stage timings, warnings and mesh statistics.
 *
 *     struct ln_engine *eng;
 *     ln_engine_sculpt_new(&eng, &err);   // or ln_engine_triposr_new(NULL, &eng, &err)
 *     struct ln_generate_options opt;
 *     ln_generate_options_default(&opt);
 *     struct ln_engine_input in = {.images = imgs, .n_images = n, .views = NULL};
 *     struct ln_generate_report rep;
 *     struct ln_mesh mesh = {0};
 *     if (ln_generate(eng, &in, &opt, &progress, &mesh, &rep, &err) < 0) ...
 *     ln_engine_free(eng);
 *
 * An engine is immutable after creation (weights, tables) and may be shared
 * by several threads, each running its own ln_generate: all per-run state
 * lives in the run.
 */
#ifndef LN_ENGINE_H
#define LN_ENGINE_H

#include <stddef.h>

#include "ln_camera.h"
#include "ln_error.h"
#include "ln_image.h"
#include "ln_mesh.h"
#include "ln_progress.h"

#define LN_MAX_VIEWS 8

/* A consumer of an engine's intermediate arrays (float32, C order, shape
 * with ndim entries). The triposr engine offers "scene_codes"
 * [1, 3, C, H, W] and, when dense_density is set, "density" [R, R, R]:
 * density_act on the whole marching-cubes grid in docs/TRIPOSR.md section
 * 11 order (k fastest); the grid is then evaluated densely instead of
 * coarse to fine. fn returns 0, or an LN_E* code with err filled, which
 * ends the run with that error. Called on the thread running the engine;
 * data is valid during the call only. */
struct ln_engine_tap {
    int (*fn)(void *user, const char *name, const float *data, const size_t *shape, int ndim,
              struct ln_error *err);
    void *user;
    int dense_density;
};

struct ln_generate_options {
    int resolution;         /* marching-cubes grid per axis, default 256 */
    float foreground_ratio; /* single image: object's share of the frame, 0.85 */
    int remove_bg;          /* enum ln_remove_bg (ln_background.h), default auto */
    struct ln_camera_options camera;
    /* post-processing */
    int keep_main_component; /* 1: drop floaters */
    int fill_holes;          /* largest hole (boundary edges) to close; 0 = off */
    int smooth_iterations;   /* Taubin iterations; 0 = off */
    size_t target_faces;     /* simplify to at most this many faces; 0 = off */
    float size;              /* largest extent in metres, default 1 */
    enum ln_mesh_origin origin;
    /* 0 (the default): vertex colours only; else the side in texels of a
     * colour texture baked onto a UV atlas (64 .. 8192), which the mesh then
     * carries (ln_mesh's uvs and texture). */
    int texture_size;
    int texture_jpeg; /* 1: the texture is a JPEG (quality 90); 0: PNG */
    /* Several views (sculpt): after the visual hull, carve the space the
     * views' colours show to be empty (default 1). */
    int photo_consistency;
    /* Receives the engine's intermediate arrays; NULL (the default): none. */
    const struct ln_engine_tap *tap;
};

void ln_generate_options_default(struct ln_generate_options *opt);

struct ln_engine_input {
    const struct ln_image *images; /* decoded, RGBA (channels 4) */
    size_t n_images;               /* 1 .. LN_MAX_VIEWS */
    const struct ln_view *views;   /* one per image, or NULL for the defaults */
};

#define LN_REPORT_MAX_STAGES 16
#define LN_REPORT_MAX_WARNINGS 8

struct ln_generate_report {
    const char *engine;
    struct {
        const char *name;
        double seconds;
    } stages[LN_REPORT_MAX_STAGES];
    int n_stages;
    char warnings[LN_REPORT_MAX_WARNINGS][LN_ERROR_MESSAGE_MAX];
    int n_warnings;
    /* What separated the object from its background (ln_background.h):
     * "u2net" or another network, "alpha", "classic", "off"; views that
     * differ are listed ("alpha, u2net"). */
    char background[64];
    /* A baked texture: its side (0: none), charts, and the share of its
     * texels the charts cover. */
    int texture_size;
    size_t texture_charts;
    double texture_fill;
    struct ln_mesh_stats stats;
    double total_seconds;
};

/* Records a stage's time (stages beyond the maximum are merged into the last). */
void ln_report_stage(struct ln_generate_report *rep, const char *name, double seconds);
/* Adds a background-removal method to rep->background unless it is there
 * already ("alpha, u2net" for views that differ). rep may be NULL. */
void ln_report_background(struct ln_generate_report *rep, const char *method);
/* Records a warning and logs it with ln_log_warn. rep may be NULL. */
void ln_report_warn(struct ln_generate_report *rep, const char *fmt, ...)
    LN_PRINTF(2, 3);

/* What a run keeps to colour surface points after post-processing, for a
 * baked texture: the engine fills it when asked, and ln_generate calls
 * color once with every texel's surface point, then free. Points are in
 * the run's own output frame (before placement), with unit normals
 * pointing out; rgb receives 3 sRGB values in [0, 1] per point. color may
 * use ln_parallel_for; its result must not depend on the thread count. */
struct ln_colorizer {
    int (*color)(void *state, const float *points, const float *normals, size_t n, float *rgb,
                 struct ln_error *err);
    void (*free)(void *state);
    void *state;
};

struct ln_engine;

struct ln_engine_ops {
    const char *name;
    /* The most images one run takes; 0: any count up to LN_MAX_VIEWS. */
    int max_images;
    /* Produces the raw mesh in the product frame (sRGB vertex colours,
     * roughly unit size, not yet post-processed). Must check
     * ln_progress_canceled between stages and return LN_ECANCELED. When
     * bake is not NULL (a texture was asked for), the engine may fill it
     * (on success only); left empty, the texture is baked from the vertex
     * colours. */
    int (*run)(const struct ln_engine *eng, const struct ln_engine_input *in,
               const struct ln_generate_options *opt, const struct ln_progress *progress,
               struct ln_mesh *out, struct ln_colorizer *bake, struct ln_generate_report *rep,
               struct ln_error *err);
    void (*destroy)(struct ln_engine *eng);
};

struct ln_engine {
    const struct ln_engine_ops *ops;
    void *impl;
    /* Where the engine's model came from, for the log ("weights from
     * ..."); NULL for engines that need none. Owned by the engine. */
    const char *description;
};

/* The built-in classical engine (docs/ARCHITECTURE.md §5, "Engines"). */
int ln_engine_sculpt_new(struct ln_engine **out, struct ln_error *err);

/* The TripoSR engine (docs/ARCHITECTURE.md §5, docs/TRIPOSR.md): finds the
 * weights with ln_model_locate(model_spec) (NULL: stabilityai/TripoSR in
 * the Hugging Face cache; else a folder, a weights file or a repo id) and
 * loads them once; every run shares them read-only and has its own
 * scratch. One image per run. Errors: LN_ENOTFOUND (no weights where
 * looked, the message says where), LN_EMODEL (weights or configuration
 * unreadable or inconsistent, one line from the loader), LN_ENOMEM. */
int ln_engine_triposr_new(const char *model_spec, struct ln_engine **out, struct ln_error *err);

/* The engine's description ("" when it has none). */
static inline const char *ln_engine_description(const struct ln_engine *eng)
{
    return eng->description ? eng->description : "";
}

const char *ln_engine_name(const struct ln_engine *eng);
void ln_engine_free(struct ln_engine *eng);

/* The engines a server has loaded, in order of preference: the first is
 * the default (what /health reports) and an unnamed job gets the first
 * that accepts its image count. The set borrows the engines, which must
 * outlive it; it is read-only once filled, so any thread may use it.
 *
 *     struct ln_engine_set set = {{triposr, sculpt}, 2};
 *     const struct ln_engine *eng = ln_engine_set_pick(&set, NULL, 3, &err); // sculpt
 */
#define LN_ENGINE_SET_MAX 4
struct ln_engine_set {
    const struct ln_engine *engines[LN_ENGINE_SET_MAX];
    int n;
};

/* Whether eng takes n_images images in one run. */
int ln_engine_accepts(const struct ln_engine *eng, size_t n_images);
/* The engine of that name in the set, or NULL. */
const struct ln_engine *ln_engine_set_find(const struct ln_engine_set *set, const char *name);
/* The engine for a job of n_images images: the one named (NULL or "": the
 * first in the set that accepts n_images). NULL with LN_EINVAL when the
 * name is not in the set ("engine 'x' is not available (available:
 * triposr, sculpt)"), when the named engine takes fewer images ("the
 * triposr engine takes one image") or when no engine takes n_images. */
const struct ln_engine *ln_engine_set_pick(const struct ln_engine_set *set,
                                           const char *name_or_null, size_t n_images,
                                           struct ln_error *err);
/* The set's names joined by ", " into buf (truncated to n). */
void ln_engine_set_names(const struct ln_engine_set *set, char *buf, size_t n);

/* Validates in and opt, runs the engine and the shared post-processing,
 * fills rep (which it zeroes first) and out. out must be a zeroed mesh. */
int ln_generate(const struct ln_engine *eng, const struct ln_engine_input *in,
                const struct ln_generate_options *opt, const struct ln_progress *progress,
                struct ln_mesh *out, struct ln_generate_report *rep, struct ln_error *err);

#endif
