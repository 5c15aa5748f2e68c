/*
 * The pipeline shared by every engine: check the request, run the engine,
 * then post-process the raw surface (main component, small holes, Taubin
 * smoothing, simplification, placement, normals) and report per-stage
 * timings and mesh statistics. Engines stay small because everything that
 * is not specific to them lives here.
 */
#include "ln_bake.h"
#include "ln_engine.h"
#include "ln_options.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_log.h"
#include "ln_time.h"

void ln_generate_options_default(struct ln_generate_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->resolution = 256;
    opt->foreground_ratio = 0.85f;
    opt->remove_bg = 1;
    ln_camera_options_default(&opt->camera);
    opt->keep_main_component = 1;
    opt->fill_holes = 100;
    opt->smooth_iterations = 8;
    opt->target_faces = 100000;
    opt->size = 1.0f;
    opt->origin = LN_MESH_ORIGIN_CENTER;
    opt->photo_consistency = 1;
}

void ln_report_stage(struct ln_generate_report *rep, const char *name, double seconds)
{
    if (!rep)
        return;
    for (int i = 0; i < rep->n_stages; i++) {
        if (strcmp(rep->stages[i].name, name) == 0) {
            rep->stages[i].seconds += seconds;
            return;
        }
    }
    if (rep->n_stages == LN_REPORT_MAX_STAGES) {
        rep->stages[LN_REPORT_MAX_STAGES - 1].seconds += seconds;
        return;
    }
    rep->stages[rep->n_stages].name = name;
    rep->stages[rep->n_stages].seconds = seconds;
    rep->n_stages++;
}

void ln_report_background(struct ln_generate_report *rep, const char *method)
{
    if (!rep || !method || !method[0])
        return;
    /* Already listed: as the whole list, its start, or after ", ". */
    size_t len = strlen(rep->background), ml = strlen(method);
    for (const char *p = rep->background; (p = strstr(p, method)) != NULL; p += ml)
        if ((p == rep->background || (p >= rep->background + 2 && p[-2] == ',')) &&
            (p[ml] == 0 || p[ml] == ','))
            return;
    snprintf(rep->background + len, sizeof rep->background - len, "%s%s", len ? ", " : "",
             method);
}

void ln_report_warn(struct ln_generate_report *rep, const char *fmt, ...)
{
    char msg[LN_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ln_log_warn("%s", msg);
    if (rep && rep->n_warnings < LN_REPORT_MAX_WARNINGS)
        memcpy(rep->warnings[rep->n_warnings++], msg, sizeof msg);
}

const char *ln_engine_name(const struct ln_engine *eng)
{
    return eng->ops->name;
}

void ln_engine_free(struct ln_engine *eng)
{
    if (eng)
        eng->ops->destroy(eng);
}

static int ln__check_range(double v, double lo, double hi, const char *name,
                           struct ln_error *err)
{
    if (!(v >= lo && v <= hi) || !isfinite(v))
        return ln_error_set(err, LN_EINVAL, "%s must be between %g and %g (got %g)", name, lo, hi,
                            v);
    return LN_OK;
}

static int ln__check_request(const struct ln_engine_input *in,
                             const struct ln_generate_options *opt, struct ln_error *err)
{
    int rc;
    if (in->n_images < 1 || in->n_images > LN_MAX_VIEWS)
        return ln_error_set(err, LN_EINVAL, "between 1 and %d images are needed (got %zu)",
                            LN_MAX_VIEWS, in->n_images);
    for (size_t i = 0; i < in->n_images; i++) {
        const struct ln_image *im = &in->images[i];
        if (im->channels != 4 || !im->data || im->width < 1 || im->height < 1)
            return ln_error_set(err, LN_EINVAL, "image %zu is not a decoded RGBA image", i + 1);
        if (im->width < 8 || im->height < 8)
            return ln_error_set(err, LN_EUNUSABLE, "image %zu is too small (%dx%d, at least 8x8)",
                                i + 1, im->width, im->height);
    }
    if (in->views) {
        for (size_t i = 0; i < in->n_images; i++) {
            if ((rc = ln__check_range(in->views[i].azimuth, -3600, 3600, "azimuth", err)) < 0 ||
                (rc = ln__check_range(in->views[i].elevation, -90, 90, "elevation", err)) < 0)
                return rc;
        }
    }
    /* The options' ranges are their table's (ln_options.h); the hole size
     * is the switch's value underneath, not a row of its own. */
    if ((rc = ln_generate_options_check(opt, err)) < 0 ||
        (rc = ln__check_range(opt->fill_holes, 0, 1000000, "hole size", err)) < 0)
        return rc;
    return LN_OK;
}

/* The mesh's statistics. A textured mesh has its vertices doubled along
 * the atlas's seams, which would count as borders: its shape is measured
 * on a copy with them welded back (exact positions), its vertex count as
 * it is. */
static int ln__stats(const struct ln_mesh *m, struct ln_mesh_stats *st, struct ln_error *err)
{
    if (!m->uvs)
        return ln_mesh_stats(m, st, err);
    struct ln_mesh welded = {0};
    int rc = ln_mesh_copy(m, &welded, err);
    if (rc == LN_OK)
        rc = ln_mesh_weld(&welded, 0.0f, err);
    if (rc == LN_OK)
        rc = ln_mesh_stats(&welded, st, err);
    ln_mesh_free(&welded);
    if (rc == LN_OK)
        st->n_vertices = m->n_vertices;
    return rc;
}

/* Runs one post-processing step, timing it and checking for cancellation. */
#define LN__STEP(name, call)                                                                   \
    do {                                                                                       \
        if (ln_progress_canceled(progress)) {                                                  \
            rc = ln_error_set(err, LN_ECANCELED, "canceled");                                  \
            goto fail;                                                                         \
        }                                                                                      \
        double t0_ = ln_time_now();                                                            \
        rc = (call);                                                                           \
        if (rc < 0)                                                                            \
            goto fail;                                                                         \
        ln_report_stage(rep, name, ln_time_now() - t0_);                                       \
    } while (0)

int ln_generate(const struct ln_engine *eng, const struct ln_engine_input *in,
                const struct ln_generate_options *opt, const struct ln_progress *progress,
                struct ln_mesh *out, struct ln_generate_report *rep, struct ln_error *err)
{
    struct ln_generate_report local;
    if (!rep)
        rep = &local;
    memset(rep, 0, sizeof *rep);
    rep->engine = eng->ops->name;
    double t_start = ln_time_now();

    int rc = ln__check_request(in, opt, err);
    if (rc < 0)
        return rc;

    struct ln_progress engine_span = ln_progress_span(progress, 0.0, 0.85);
    struct ln_colorizer bake = {0};
    rc = eng->ops->run(eng, in, opt, &engine_span, out, opt->texture_size > 0 ? &bake : NULL, rep,
                       err);
    if (rc < 0)
        goto fail;
    if (rep->background[0])
        ln_log_info("background separated by: %s", rep->background);
    if (out->n_faces == 0) {
        rc = ln_error_set(err, LN_EUNUSABLE, "no surface was found in the input");
        goto fail;
    }

    struct ln_progress post = ln_progress_span(progress, 0.85, 1.0);
    ln_progress_report(&post, "cleaning", 0.0);
    if (opt->keep_main_component)
        LN__STEP("components", ln_mesh_keep_main_component(out, err));
    if (opt->fill_holes > 0)
        LN__STEP("holes", ln_mesh_fill_holes(out, opt->fill_holes, err));
    ln_progress_report(&post, "smoothing", 0.25);
    if (opt->smooth_iterations > 0)
        LN__STEP("smoothing", ln_mesh_smooth_taubin(out, opt->smooth_iterations, 0.5f, -0.53f,
                                                    err));
    ln_progress_report(&post, "simplifying", 0.5);
    if (opt->target_faces > 0)
        LN__STEP("simplify", ln_mesh_simplify(out, opt->target_faces, err));
    /* Baked in the engine's frame, before placement moves the mesh. */
    if (opt->texture_size > 0) {
        ln_progress_report(&post, "texturing", 0.7);
        LN__STEP("texture",
                 ln__bake(out, &bake, opt->texture_size, opt->texture_jpeg, rep, err));
    }
    LN__STEP("finish", ln_mesh_place(out, opt->size, opt->origin, err));
    LN__STEP("finish", ln_mesh_compute_normals(out, err));
    LN__STEP("finish", ln__stats(out, &rep->stats, err));
    ln_progress_report(&post, "done", 1.0);
    rep->total_seconds = ln_time_now() - t_start;
    if (bake.free)
        bake.free(bake.state);
    return LN_OK;

fail:
    if (bake.free)
        bake.free(bake.state);
    ln_mesh_free(out);
    return rc;
}
