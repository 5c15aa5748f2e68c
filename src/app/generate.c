/*
 * `lunar-nova generate`: flags into ln_generate_options, images decoded from
 * files, the engine chosen (triposr when its weights are found, else
 * sculpt; the log says which and why), one engine run, the mesh saved
 * atomically in the format of the output's extension, and a summary line
 * (or JSON with --json) on stdout. Intermediate arrays of the triposr
 * engine can be saved as .npy files. Every check that can fail on user
 * input runs before the expensive work.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "app.h"
#include "ln_alloc.h"
#include "ln_background.h"
#include "ln_engine.h"
#include "ln_export.h"
#include "ln_image.h"
#include "ln_hf.h"
#include "ln_log.h"
#include "ln_options.h"
#include "ln_npy.h"
#include "ln_threads.h"
#include "ln_time.h"

static void ln__generate_help(void)
{
    puts("Usage: lunar-nova generate [options] IMAGE... -o OUT.{glb,obj,ply,stl}\n"
         "\n"
         "One image: with the TripoSR weights available, the TripoSR network turns it\n"
         "into a coloured mesh; without them (or with --engine sculpt) the object is\n"
         "separated from its background and sculpted into a closed, coloured body.\n"
         "Several images (2-8) of one object from known views: the silhouettes are\n"
         "carved into a visual hull, coloured from the best view (sculpt engine).\n"
         "\n"
         "Input and engine:\n"
         "  --engine triposr|sculpt  engine to use (default: triposr when its weights are\n"
         "                           found, else sculpt; the log says which and why)\n"
         "  --model PATH|REPO_ID     TripoSR weights: a folder with config.yaml and\n"
         "                           model.ckpt (or model.safetensors), a weights file with\n"
         "                           config.yaml beside it, or a repo id in the local\n"
         "                           Hugging Face cache (default stabilityai/TripoSR;\n"
         "                           HF_HOME, HF_HUB_CACHE; `lunar-nova models pull` fetches)\n"
         "  --view AZ[,EL]           view of the next image in degrees, once per image\n"
         "                           (default: azimuths 0, 360/N, ... at elevation 0;\n"
         "                           az 0 = front, az 90 = camera on +X, el 90 = top)\n"
         "  --projection ortho|perspective   multi-view camera model (default ortho)\n"
         "  --ortho-size S           world side spanned by each view's image (default 1.25)\n"
         "  --fov DEG                perspective field of view across the image (default 40)\n"
         "  --distance D             perspective camera distance (default 2.5)\n"
         "  --foreground-ratio R     one image: share of the frame the object spans (0.85)\n"
         "  --remove-bg auto|model|classic|off   separating the object from its\n"
         "                           background: auto (default) uses the alpha channel\n"
         "                           when it has one, else a rembg model when one is\n"
         "                           found, else the classical separation; model and\n"
         "                           classic force one; off keeps the image as it is\n"
         "  --bg-model NAME|PATH     rembg model (u2net, isnet-general-use, ...) in\n"
         "                           U2NET_HOME, XDG_DATA_HOME/.u2net or ~/.u2net, or an\n"
         "                           .onnx file (default: the first of rembg's general\n"
         "                           models found there, u2net first)\n"
         "  --no-remove-bg           the same as --remove-bg off\n"
         "\n"
         "Mesh:\n"
         "  --resolution N           marching-cubes grid per axis, 32 to 512 (default 256)\n"
         "  --faces N                simplify to at most N faces (default 100000, 0 = off)\n"
         "  --smooth N               Taubin smoothing iterations (default 8, 0 = off)\n"
         "  --keep-floaters          keep every part, not only the main one\n"
         "  --no-fill-holes          leave holes open\n"
         "  --size METRES            largest extent of the model (default 1)\n"
         "  --origin center|bottom   centre at the origin, or stand on y = 0 (default center)\n"
         "\n"
         "Output and run:\n"
         "  -o, --output FILE        output file; the format comes from its extension\n"
         "  --json                   print the result's statistics as JSON on stdout\n"
         "  --save-scene-codes F.npy triposr: save the scene code (triplanes), float32\n"
         "                           [1, 3, C, H, W]\n"
         "  --save-density F.npy     triposr: save the density grid, float32 [R, R, R]\n"
         "                           (every point evaluated, k fastest)\n"
         "  --threads N              worker threads (default: all cores)\n"
         "  --quiet                  no progress bar and no summary, only errors\n"
         "  -h, --help               this help\n"
         "\n"
         "Exit status: 0 done, 1 internal failure, 2 bad usage or bad input.");
}

enum {
    OPT_ENGINE = 256,
    OPT_VIEW,
    OPT_PROJECTION,
    OPT_ORTHO_SIZE,
    OPT_FOV,
    OPT_DISTANCE,
    OPT_RATIO,
    OPT_NO_REMOVE_BG,
    OPT_REMOVE_BG,
    OPT_BG_MODEL,
    OPT_RESOLUTION,
    OPT_FACES,
    OPT_SMOOTH,
    OPT_KEEP_FLOATERS,
    OPT_NO_FILL_HOLES,
    OPT_SIZE,
    OPT_ORIGIN,
    OPT_JSON,
    OPT_THREADS,
    OPT_QUIET,
    OPT_MODEL,
    OPT_SAVE_SCENE,
    OPT_SAVE_DENSITY,
};

static const struct option ln__options[] = {
    {"engine", required_argument, NULL, OPT_ENGINE},
    {"view", required_argument, NULL, OPT_VIEW},
    {"projection", required_argument, NULL, OPT_PROJECTION},
    {"ortho-size", required_argument, NULL, OPT_ORTHO_SIZE},
    {"fov", required_argument, NULL, OPT_FOV},
    {"distance", required_argument, NULL, OPT_DISTANCE},
    {"foreground-ratio", required_argument, NULL, OPT_RATIO},
    {"no-remove-bg", no_argument, NULL, OPT_NO_REMOVE_BG},
    {"remove-bg", required_argument, NULL, OPT_REMOVE_BG},
    {"bg-model", required_argument, NULL, OPT_BG_MODEL},
    {"resolution", required_argument, NULL, OPT_RESOLUTION},
    {"faces", required_argument, NULL, OPT_FACES},
    {"smooth", required_argument, NULL, OPT_SMOOTH},
    {"keep-floaters", no_argument, NULL, OPT_KEEP_FLOATERS},
    {"no-fill-holes", no_argument, NULL, OPT_NO_FILL_HOLES},
    {"size", required_argument, NULL, OPT_SIZE},
    {"origin", required_argument, NULL, OPT_ORIGIN},
    {"output", required_argument, NULL, 'o'},
    {"json", no_argument, NULL, OPT_JSON},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"model", required_argument, NULL, OPT_MODEL},
    {"save-scene-codes", required_argument, NULL, OPT_SAVE_SCENE},
    {"save-density", required_argument, NULL, OPT_SAVE_DENSITY},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int ln__usage_error(const char *fmt, const char *arg)
{
    fputs("lunar-nova: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (see lunar-nova generate --help)\n", stderr);
    return LN_EXIT_USAGE;
}

static int ln__parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Fails early, with exit status 2, when the output's folder is missing. */
static int ln__check_output_folder(const char *path)
{
    char *copy = ln_xstrdup(path);
    const char *dir = dirname(copy);
    struct stat st;
    int ok = stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && access(dir, W_OK) == 0;
    if (!ok)
        fprintf(stderr, "lunar-nova: cannot write into folder %s: %s\n", dir,
                errno ? strerror(errno) : "not a writable folder");
    free(copy);
    return ok ? 0 : -1;
}

static void ln__print_summary(const char *out, int fmt, const struct ln_generate_report *rep,
                              int json)
{
    const struct ln_mesh_stats *st = &rep->stats;
    if (!json) {
        printf("%s: %zu vertices, %zu faces, %.3f x %.3f x %.3f m, %s, %s engine, "
               "background: %s, %.2f s\n",
               out, st->n_vertices, st->n_faces, st->bbox_max[0] - st->bbox_min[0],
               st->bbox_max[1] - st->bbox_min[1], st->bbox_max[2] - st->bbox_min[2],
               st->watertight ? "watertight" : "not watertight", rep->engine,
               rep->background[0] ? rep->background : "off", rep->total_seconds);
        return;
    }
    json_t *stages = json_object();
    for (int i = 0; i < rep->n_stages; i++)
        json_object_set_new(stages, rep->stages[i].name, json_real(rep->stages[i].seconds));
    json_t *warnings = json_array();
    for (int i = 0; i < rep->n_warnings; i++)
        json_array_append_new(warnings, json_string(rep->warnings[i]));
    json_t *root = json_pack(
        "{s:s, s:s, s:s, s:I, s:I, s:[f,f,f], s:[f,f,f], s:b, s:I, s:I, s:I, s:f, s:f, s:f, s:o, "
        "s:o}",
        "output", out, "format", ln_mesh_format_ext(fmt), "engine", rep->engine, "vertices",
        (json_int_t)st->n_vertices, "faces", (json_int_t)st->n_faces, "bbox_min",
        (double)st->bbox_min[0], (double)st->bbox_min[1], (double)st->bbox_min[2], "bbox_max",
        (double)st->bbox_max[0], (double)st->bbox_max[1], (double)st->bbox_max[2],
        "watertight", st->watertight, "boundary_edges", (json_int_t)st->n_boundary_edges,
        "euler", (json_int_t)st->euler, "components", (json_int_t)st->n_components, "area",
        st->area, "volume", st->volume, "seconds", rep->total_seconds, "stages", stages,
        "warnings", warnings);
    json_object_set_new(root, "background",
                        json_string(rep->background[0] ? rep->background : "off"));
    char *text = json_dumps(root, JSON_COMPACT);
    puts(text);
    free(text);
    json_decref(root);
}

enum ln__engine_choice {
    LN__ENGINE_AUTO,
    LN__ENGINE_TRIPOSR,
    LN__ENGINE_SCULPT,
};

/* Opens the engine and logs the choice as one line. Without --engine:
 * triposr when ln_model_locate finds weights, else sculpt; a model named
 * with --model must be usable. Errors from the weights are the user's
 * input (exit 2). */
static int ln__open_engine(enum ln__engine_choice choice, const char *model, int n_images,
                           struct ln_engine **eng, struct ln_error *err)
{
    int rc;
    if (choice == LN__ENGINE_SCULPT) {
        if ((rc = ln_engine_sculpt_new(eng, err)) < 0)
            return rc;
        ln_log_info("engine: sculpt (chosen with --engine)");
        return LN_OK;
    }
    if (choice == LN__ENGINE_AUTO && n_images > 1) {
        if ((rc = ln_engine_sculpt_new(eng, err)) < 0)
            return rc;
        ln_log_info("engine: sculpt (%d images: the triposr engine takes one)", n_images);
        return LN_OK;
    }
    if (choice == LN__ENGINE_AUTO && !model) {
        struct ln_model_files files;
        struct ln_error why = {0};
        if (ln_model_locate(NULL, &files, &why) < 0) {
            if ((rc = ln_engine_sculpt_new(eng, err)) < 0)
                return rc;
            ln_log_info("engine: sculpt (TripoSR weights not found: %s)", why.message);
            return LN_OK;
        }
        if ((rc = ln_engine_triposr_new(NULL, eng, &why)) < 0) {
            if (rc == LN_ENOMEM) {
                if (err)
                    *err = why;
                return rc;
            }
            if ((rc = ln_engine_sculpt_new(eng, err)) < 0)
                return rc;
            ln_log_warn("engine: sculpt (TripoSR weights in %s unusable: %s)", files.where,
                        why.message);
            return LN_OK;
        }
    } else if ((rc = ln_engine_triposr_new(model, eng, err)) < 0) {
        if (rc == LN_EMODEL && err)
            err->code = LN_EINVAL;
        return rc == LN_EMODEL ? LN_EINVAL : rc;
    }
    ln_log_info("engine: triposr (%s)", ln_engine_description(*eng));
    return LN_OK;
}

/* Writes the triposr engine's intermediate arrays named on the command
 * line. */
struct ln__saves {
    const char *scene;
    const char *density;
};

static int ln__save_tap(void *user, const char *name, const float *data, const size_t *shape,
                        int ndim, struct ln_error *err)
{
    const struct ln__saves *s = user;
    const char *path = strcmp(name, "scene_codes") == 0 ? s->scene
                       : strcmp(name, "density") == 0   ? s->density
                                                         : NULL;
    if (!path)
        return LN_OK;
    return ln_npy_write_f32(path, data, shape, ndim, err);
}

int ln_app_generate(int argc, char **argv)
{
    struct ln_generate_options opt;
    ln_generate_options_default(&opt);
    struct ln_view views[LN_MAX_VIEWS];
    int n_views = 0, json = 0, quiet = 0;
    const char *output = NULL, *model = NULL;
    enum ln__engine_choice choice = LN__ENGINE_AUTO;
    struct ln__saves saves = {NULL, NULL};
    long l;

    optind = 1;
    int c;
    int long_index = 0;
    while ((c = getopt_long(argc, argv, "o:h", ln__options, &long_index)) != -1) {
        switch (c) {
        case 'h':
            ln__generate_help();
            return LN_EXIT_OK;
        case 'o':
            output = optarg;
            break;
        case OPT_ENGINE:
            if (strcmp(optarg, "triposr") == 0)
                choice = LN__ENGINE_TRIPOSR;
            else if (strcmp(optarg, "sculpt") == 0)
                choice = LN__ENGINE_SCULPT;
            else
                return ln__usage_error("unknown engine '%s' (available: triposr, sculpt)", optarg);
            break;
        case OPT_MODEL:
            if (!*optarg)
                return ln__usage_error("--model wants a path or a repo id%s", "");
            model = optarg;
            break;
        case OPT_BG_MODEL: {
            struct ln_error berr = {0};
            if (ln_background_set_model(optarg, &berr) < 0)
                return ln__usage_error("--bg-model: %s", berr.message);
            break;
        }
        case OPT_SAVE_SCENE:
            saves.scene = optarg;
            break;
        case OPT_SAVE_DENSITY:
            saves.density = optarg;
            break;
        case OPT_VIEW:
            if (n_views == LN_MAX_VIEWS)
                return ln__usage_error("at most 8 views%s", "");
            if (ln_view_parse(optarg, &views[n_views]) < 0)
                return ln__usage_error(
                    "--view wants AZ[,EL] in degrees with -90 <= EL <= 90 (got '%s')", optarg);
            n_views++;
            break;
        case OPT_PROJECTION:
        case OPT_ORTHO_SIZE:
        case OPT_FOV:
        case OPT_DISTANCE:
        case OPT_RATIO:
        case OPT_RESOLUTION:
        case OPT_FACES:
        case OPT_SMOOTH:
        case OPT_SIZE:
        case OPT_ORIGIN:
        case OPT_NO_REMOVE_BG:
        case OPT_REMOVE_BG:
        case OPT_KEEP_FLOATERS:
        case OPT_NO_FILL_HOLES: {
            /* Shared with the HTTP upload fields: same names, same ranges. */
            const char *name = ln__options[long_index].name, *value = optarg;
            if (c == OPT_NO_REMOVE_BG)
                name = "remove-bg", value = "false";
            else if (c == OPT_KEEP_FLOATERS)
                value = "true";
            else if (c == OPT_NO_FILL_HOLES)
                name = "fill-holes", value = "false";
            struct ln_error perr = {0};
            if (ln_generate_option_set(&opt, name, value, &perr) < 0)
                return ln__usage_error("--%s", perr.message);
            break;
        }
        case OPT_JSON:
            json = 1;
            break;
        case OPT_THREADS:
            if (ln__parse_long(optarg, 1, 256, &l) < 0)
                return ln__usage_error("--threads wants 1 to 256 (got '%s')", optarg);
            ln_threads_set((int)l);
            break;
        case OPT_QUIET:
            quiet = 1;
            break;
        default:
            return ln__usage_error("%s", "bad option");
        }
    }

    int n_images = argc - optind;
    if (n_images < 1)
        return ln__usage_error("%s", "no input image given");
    if (n_images > LN_MAX_VIEWS)
        return ln__usage_error("at most 8 images%s", "");
    if (!output)
        return ln__usage_error("%s", "no output given: add -o OUT.glb");
    int fmt = ln_mesh_format_from_path(output);
    if (fmt < 0)
        return ln__usage_error("cannot tell the format of '%s': use .glb, .obj, .ply or .stl",
                               output);
    if (n_views > 0 && n_views != n_images) {
        fprintf(stderr, "lunar-nova: %d --view given for %d images: give one per image\n",
                n_views, n_images);
        return LN_EXIT_USAGE;
    }
    if (ln__check_output_folder(output) < 0 ||
        (saves.scene && ln__check_output_folder(saves.scene) < 0) ||
        (saves.density && ln__check_output_folder(saves.density) < 0))
        return LN_EXIT_USAGE;
    if (choice == LN__ENGINE_SCULPT && (saves.scene || saves.density || model))
        return ln__usage_error("%s needs the triposr engine",
                               model ? "--model" : saves.scene ? "--save-scene-codes" : "--save-density");
    if (quiet)
        ln_log_set_level(LN_LOG_LEVEL_ERROR);

    int status = LN_EXIT_FAILURE;
    struct ln_error err = {0};
    struct ln_image images[LN_MAX_VIEWS] = {{0}};
    struct ln_engine *eng = NULL;
    struct ln_mesh mesh = {0};
    struct ln_generate_report rep;
    struct ln_app_bar *bar = NULL;
    int loaded = 0;

    double t0 = ln_time_now();
    for (; loaded < n_images; loaded++) {
        if (ln_image_load(argv[optind + loaded], NULL, &images[loaded], &err) < 0)
            goto fail;
    }
    double t_decode = ln_time_now() - t0;
    if (ln__open_engine(choice, model, n_images, &eng, &err) < 0)
        goto fail;
    if ((saves.scene || saves.density) && strcmp(ln_engine_name(eng), "triposr") != 0) {
        ln_error_set(&err, LN_EINVAL, "%s needs the triposr engine (its weights were not found)",
                     saves.scene ? "--save-scene-codes" : "--save-density");
        goto fail;
    }
    struct ln_engine_tap tap = {ln__save_tap, &saves, saves.density != NULL};
    if (saves.scene || saves.density)
        opt.tap = &tap;
    bar = ln_app_bar_new(quiet);
    struct ln_progress progress = ln_app_bar_progress(bar);
    struct ln_engine_input in = {
        .images = images, .n_images = (size_t)n_images, .views = n_views ? views : NULL};
    if (ln_generate(eng, &in, &opt, &progress, &mesh, &rep, &err) < 0)
        goto fail;
    double t1 = ln_time_now();
    if (ln_mesh_save(&mesh, output, fmt, &err) < 0)
        goto fail;
    ln_report_stage(&rep, "decode", t_decode);
    ln_report_stage(&rep, "export", ln_time_now() - t1);
    rep.total_seconds = ln_time_now() - t0;
    ln_app_bar_free(bar);
    bar = NULL;
    if (!quiet || json)
        ln__print_summary(output, fmt, &rep, json);
    status = LN_EXIT_OK;
    goto done;

fail:
    ln_app_bar_free(bar);
    bar = NULL;
    fprintf(stderr, "lunar-nova: %s\n", err.message[0] ? err.message : ln_status_string(err.code));
    status = ln_app_exit_for(err.code);
done:
    ln_mesh_free(&mesh);
    ln_engine_free(eng);
    for (int i = 0; i < loaded; i++)
        ln_image_free(&images[i]);
    return status;
}
