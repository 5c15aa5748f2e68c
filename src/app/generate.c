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
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "app.h"
#include "ln_alloc.h"
#include "ln_background.h"
#include "ln_engine.h"
#include "ln_export.h"
#include "ln_file.h"
#include "ln_image.h"
#include "ln_hf.h"
#include "ln_log.h"
#include "ln_options.h"
#include "ln_npy.h"
#include "ln_threads.h"
#include "ln_time.h"

/* The generation options' lines come from their table (ln_options.h);
 * the rest are this command's own. */
static void ln__generate_help(void)
{
    puts("Usage: lunar-nova generate [options] IMAGE... -o OUT.{glb,obj,ply,stl}\n"
         "\n"
         "One image: with the TripoSR weights available, the TripoSR network turns it\n"
         "into a coloured mesh; without them (or with --engine sculpt) the object is\n"
         "separated from its background and sculpted into a closed, coloured body.\n"
         "Several images (2-8) of one object from known views: the silhouettes are\n"
         "carved into a visual hull, then the space the photos' colours show to be\n"
         "empty is carved away; coloured from the best view (sculpt engine).\n"
         "\n"
         "Input and engine:");
    ln_options_help(stdout, LN_OPTION_GROUP_INPUT);
    puts("  --model PATH|REPO_ID     TripoSR weights: a folder with config.yaml and\n"
         "                           model.ckpt (or model.safetensors), a weights file with\n"
         "                           config.yaml beside it, or a repo id in the local\n"
         "                           Hugging Face cache (default stabilityai/TripoSR;\n"
         "                           HF_HOME, HF_HUB_CACHE; `lunar-nova models pull` fetches)\n"
         "  --bg-model NAME|PATH     rembg model (u2net, isnet-general-use, ...) in\n"
         "                           U2NET_HOME, XDG_DATA_HOME/.u2net or ~/.u2net, or an\n"
         "                           .onnx file (default: the first of rembg's general\n"
         "                           models found there, u2net first)\n"
         "\n"
         "Mesh:");
    ln_options_help(stdout, LN_OPTION_GROUP_MESH);
    puts("\n"
         "Output and run:\n"
         "  -o, --output FILE        output file; the format comes from its extension\n"
         "  --json                   print the result's statistics as JSON on stdout\n"
         "  --save-scene-codes F.npy triposr: save the scene code (triplanes), float32\n"
         "                           [1, 3, C, H, W]\n"
         "  --save-density F.npy     triposr: save the density grid, float32 [R, R, R]\n"
         "                           (every point evaluated, k fastest)\n"
         "  --threads N              worker threads (default: all cores)\n"
         "  --precision fp32|bf16    triposr: the network on the CPU in float32 (default)\n"
         "                           or its products and attention in bfloat16 (CPUs\n"
         "                           with AVX512_BF16: faster, scene code within\n"
         "                           about 0.13%; the GPU computes in float32;\n"
         "                           docs/TRIPOSR.md)\n"
         "  --device cpu|auto|vulkan[:N]  what runs the network: auto (default) takes\n"
         "                           the first discrete GPU with 3 GiB, else the CPU;\n"
         "                           vulkan:N a Vulkan device by index (docs/vulkan.md)\n"
         "  --quiet                  no progress bar and no summary, only errors\n"
         "  -h, --help               this help\n"
         "\n"
         "Exit status: 0 done, 1 internal failure, 2 bad usage or bad input.");
}

/* getopt values: this command's own options, then two per row of the
 * option table (its flag, and its flag that turns it off). */
enum {
    OPT_BG_MODEL = 256,
    OPT_JSON,
    OPT_THREADS,
    OPT_QUIET,
    OPT_MODEL,
    OPT_SAVE_SCENE,
    OPT_SAVE_DENSITY,
    OPT_DEVICE,
    OPT_PRECISION,
    OPT_TABLE, /* + 2 * row (+ 1 for the row's cli_off) */
};

static const struct option ln__own_options[] = {
    {"bg-model", required_argument, NULL, OPT_BG_MODEL},
    {"output", required_argument, NULL, 'o'},
    {"json", no_argument, NULL, OPT_JSON},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"model", required_argument, NULL, OPT_MODEL},
    {"save-scene-codes", required_argument, NULL, OPT_SAVE_SCENE},
    {"save-density", required_argument, NULL, OPT_SAVE_DENSITY},
    {"device", required_argument, NULL, OPT_DEVICE},
    {"precision", required_argument, NULL, OPT_PRECISION},
    {"help", no_argument, NULL, 'h'},
};
#define LN__N_OWN (sizeof ln__own_options / sizeof ln__own_options[0])
#define LN__MAX_LONGOPTS (LN__N_OWN + 64 + 1)

/* The getopt table: the option table's flags, then this command's. */
static void ln__build_longopts(struct option *out)
{
    size_t n = 0;
    for (size_t i = 0; i < ln_option_count && n + 2 < LN__MAX_LONGOPTS - LN__N_OWN; i++) {
        const struct ln_option *o = &ln_option_table[i];
        if (o->cli)
            out[n++] = (struct option){o->cli,
                                       o->type == LN_OPTION_BOOL ? no_argument
                                                                 : required_argument,
                                       NULL, OPT_TABLE + 2 * (int)i};
        if (o->cli_off)
            out[n++] = (struct option){o->cli_off, no_argument, NULL, OPT_TABLE + 2 * (int)i + 1};
    }
    for (size_t i = 0; i < LN__N_OWN; i++)
        out[n++] = ln__own_options[i];
    out[n] = (struct option){NULL, 0, NULL, 0};
}

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
    char *dir = ln_path_parent(path);
    struct ln_path_info info;
    struct ln_error err = {0};
    int rc = ln_path_stat(dir, 0, &info, &err);
    int ok = rc == LN_OK && info.kind == LN_PATH_DIR && ln_path_writable(dir);
    if (!ok)
        fprintf(stderr, "lunar-nova: cannot write into folder %s: %s\n", dir,
                rc == LN_ENOTFOUND ? "No such file or directory"
                : rc < 0           ? err.message
                                   : "not a writable folder");
    free(dir);
    return ok ? 0 : -1;
}

static void ln__print_summary(const char *out, int fmt, const struct ln_generate_report *rep,
                              int texture_jpeg, int json)
{
    const struct ln_mesh_stats *st = &rep->stats;
    if (!json) {
        printf("%s: %zu vertices, %zu faces, %.3f x %.3f x %.3f m, %s, %s engine, "
               "background: %s, %.2f s\n",
               out, st->n_vertices, st->n_faces, st->bbox_max[0] - st->bbox_min[0],
               st->bbox_max[1] - st->bbox_min[1], st->bbox_max[2] - st->bbox_min[2],
               st->watertight ? "watertight" : "not watertight", rep->engine,
               rep->background[0] ? rep->background : "off", rep->total_seconds);
        if (rep->texture_size > 0)
            printf("  texture %dx%d %s, %zu UV charts covering %.0f%% of it\n", rep->texture_size,
                   rep->texture_size, texture_jpeg ? "JPEG" : "PNG", rep->texture_charts,
                   100.0 * rep->texture_fill);
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
    if (rep->texture_size > 0)
        json_object_set_new(root, "texture",
                            json_pack("{s:i, s:s, s:I, s:f}", "size", rep->texture_size, "format",
                                      texture_jpeg ? "jpeg" : "png", "charts",
                                      (json_int_t)rep->texture_charts, "filled",
                                      rep->texture_fill));
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

/* What the command line asks for, as ln__generate_parse leaves it. */
struct ln__gen_args {
    struct ln_generate_options opt;
    struct ln_view views[LN_MAX_VIEWS];
    int n_views, json, quiet;
    const char *output, *model;
    const char *device; /* --device, NULL: auto */
    enum ln__engine_choice choice;
    struct ln__saves saves;
    int n_images;
    char **images; /* n_images paths */
    int fmt;       /* enum ln_mesh_format of output */
};

/* A row of the option table given on the command line (off: its cli_off
 * flag): the engine and the views are this command's to keep, the rest go
 * into g->opt through the table. */
static int ln__generate_table_option(struct ln__gen_args *g, const struct ln_option *o, int off)
{
    if (strcmp(o->name, "engine") == 0) {
        if (strcmp(optarg, "triposr") == 0)
            g->choice = LN__ENGINE_TRIPOSR;
        else if (strcmp(optarg, "sculpt") == 0)
            g->choice = LN__ENGINE_SCULPT;
        else
            return ln__usage_error("unknown engine '%s' (available: triposr, sculpt)", optarg);
        return LN_EXIT_OK;
    }
    if (o->type == LN_OPTION_VIEW) {
        if (g->n_views == LN_MAX_VIEWS)
            return ln__usage_error("at most 8 views%s", "");
        if (ln_view_parse(optarg, &g->views[g->n_views]) < 0)
            return ln__usage_error(
                "--view wants AZ[,EL] in degrees with -90 <= EL <= 90 (got '%s')", optarg);
        g->n_views++;
        return LN_EXIT_OK;
    }
    /* The message names the flag as given: "--resolution wants ...". A
     * flag without a value is a switch: on for cli, off for cli_off. */
    const char *flag = off ? o->cli_off : o->cli, *value = optarg;
    if (off || o->type == LN_OPTION_BOOL)
        value = off ? "false" : "true";
    struct ln_error perr = {0};
    if (ln_option_parse(o, flag, value, &g->opt, &perr) < 0)
        return ln__usage_error("--%s", perr.message);
    return LN_EXIT_OK;
}

/* One option of the command line into g: LN_EXIT_OK to go on,
 * LN_EXIT_USAGE after its one-line reason, or -1 for --help (printed). */
static int ln__generate_option(struct ln__gen_args *g, int c)
{
    long l;
    if (c >= OPT_TABLE && (size_t)(c - OPT_TABLE) / 2 < ln_option_count)
        return ln__generate_table_option(g, &ln_option_table[(c - OPT_TABLE) / 2],
                                         (c - OPT_TABLE) % 2);
    switch (c) {
    case 'h':
        ln__generate_help();
        return -1;
    case 'o':
        g->output = optarg;
        return LN_EXIT_OK;
    case OPT_MODEL:
        if (!*optarg)
            return ln__usage_error("--model wants a path or a repo id%s", "");
        g->model = optarg;
        return LN_EXIT_OK;
    case OPT_BG_MODEL: {
        struct ln_error berr = {0};
        if (ln_background_set_model(optarg, &berr) < 0)
            return ln__usage_error("--bg-model: %s", berr.message);
        return LN_EXIT_OK;
    }
    case OPT_SAVE_SCENE:
        g->saves.scene = optarg;
        return LN_EXIT_OK;
    case OPT_SAVE_DENSITY:
        g->saves.density = optarg;
        return LN_EXIT_OK;
    case OPT_JSON:
        g->json = 1;
        return LN_EXIT_OK;
    case OPT_THREADS:
        if (ln__parse_long(optarg, 1, 256, &l) < 0)
            return ln__usage_error("--threads wants 1 to 256 (got '%s')", optarg);
        ln_threads_set((int)l);
        return LN_EXIT_OK;
    case OPT_QUIET:
        g->quiet = 1;
        return LN_EXIT_OK;
    case OPT_DEVICE:
        if (ln_app_device_check(optarg, "--device") < 0)
            return LN_EXIT_USAGE;
        g->device = optarg;
        return LN_EXIT_OK;
    case OPT_PRECISION:
        if (ln_app_precision_set(optarg, "--precision") < 0)
            return LN_EXIT_USAGE;
        return LN_EXIT_OK;
    default:
        return ln__usage_error("%s", "bad option");
    }
}

/* The operands after the options, and the checks that need them all:
 * image count, output format and folders, views per image, options that
 * need the triposr engine. LN_EXIT_OK or LN_EXIT_USAGE (reason printed). */
static int ln__generate_operands(struct ln__gen_args *g, int argc, char **argv)
{
    g->n_images = argc - optind;
    g->images = argv + optind;
    if (g->n_images < 1)
        return ln__usage_error("%s", "no input image given");
    if (g->n_images > LN_MAX_VIEWS)
        return ln__usage_error("at most 8 images%s", "");
    if (!g->output)
        return ln__usage_error("%s", "no output given: add -o OUT.glb");
    g->fmt = ln_mesh_format_from_path(g->output);
    if (g->fmt < 0)
        return ln__usage_error("cannot tell the format of '%s': use .glb, .obj, .ply or .stl",
                               g->output);
    if (g->n_views > 0 && g->n_views != g->n_images) {
        fprintf(stderr, "lunar-nova: %d --view given for %d images: give one per image\n",
                g->n_views, g->n_images);
        return LN_EXIT_USAGE;
    }
    if (ln__check_output_folder(g->output) < 0 ||
        (g->saves.scene && ln__check_output_folder(g->saves.scene) < 0) ||
        (g->saves.density && ln__check_output_folder(g->saves.density) < 0))
        return LN_EXIT_USAGE;
    if (g->choice == LN__ENGINE_SCULPT && (g->saves.scene || g->saves.density || g->model))
        return ln__usage_error("%s needs the triposr engine",
                               g->model         ? "--model"
                               : g->saves.scene ? "--save-scene-codes"
                                                : "--save-density");
    return LN_EXIT_OK;
}

/* --device names a device (anything but auto, the default). */
static int ln__device_named(const char *device)
{
    return device && strcmp(device, "auto") != 0;
}

/* Whether a matting network will separate the object of one of the n
 * images under the --remove-bg mode. */
static int ln__matting_runs(const struct ln_image *images, int n, int mode)
{
    for (int i = 0; i < n; i++)
        if (ln_background_uses_model(&images[i], mode))
            return 1;
    return 0;
}

/* Decodes the images, opens the engine, generates and writes the model,
 * then prints the summary. Returns an ln_status code (err filled). */
static int ln__generate_run(struct ln__gen_args *g, struct ln_error *err)
{
    struct ln_image images[LN_MAX_VIEWS] = {{0}};
    struct ln_engine *eng = NULL;
    struct ln_mesh mesh = {0};
    struct ln_generate_report rep;
    struct ln_app_bar *bar = NULL;
    int loaded = 0, rc = LN_OK;

    double t0 = ln_time_now();
    for (; loaded < g->n_images && rc == LN_OK; loaded++)
        if ((rc = ln_image_load(g->images[loaded], NULL, &images[loaded], err)) < 0)
            break;
    double t_decode = ln_time_now() - t0;
    if (rc == LN_OK)
        rc = ln__open_engine(g->choice, g->model, g->n_images, &eng, err);
    /* --device auto: a GPU is looked for only when a network will run on
     * it (the triposr engine, or a matting network separating an object):
     * looking (the Vulkan loader and every installed driver) costs tens of
     * milliseconds that a sculpt run of photos with an alpha channel, or
     * with the classical separation, would pay for nothing. */
    if (rc == LN_OK && !ln__device_named(g->device) &&
        (strcmp(ln_engine_name(eng), "triposr") == 0 ||
         ln__matting_runs(images, g->n_images, g->opt.remove_bg)))
        rc = ln_app_device_select(g->device, 1, err);
    if (rc == LN_OK && (g->saves.scene || g->saves.density) &&
        strcmp(ln_engine_name(eng), "triposr") != 0)
        rc = ln_error_set(err, LN_EINVAL, "%s needs the triposr engine (its weights were not found)",
                          g->saves.scene ? "--save-scene-codes" : "--save-density");
    struct ln_engine_tap tap = {ln__save_tap, &g->saves, g->saves.density != NULL};
    if (g->saves.scene || g->saves.density)
        g->opt.tap = &tap;
    if (rc == LN_OK) {
        bar = ln_app_bar_new(g->quiet);
        struct ln_progress progress = ln_app_bar_progress(bar);
        struct ln_engine_input in = {.images = images,
                                     .n_images = (size_t)g->n_images,
                                     .views = g->n_views ? g->views : NULL};
        rc = ln_generate(eng, &in, &g->opt, &progress, &mesh, &rep, err);
    }
    double t1 = ln_time_now();
    if (rc == LN_OK)
        rc = ln_mesh_save(&mesh, g->output, g->fmt, err);
    ln_app_bar_free(bar);
    if (rc == LN_OK) {
        ln_report_stage(&rep, "decode", t_decode);
        ln_report_stage(&rep, "export", ln_time_now() - t1);
        rep.total_seconds = ln_time_now() - t0;
        if (!g->quiet || g->json)
            ln__print_summary(g->output, g->fmt, &rep, g->opt.texture_jpeg, g->json);
    }
    ln_mesh_free(&mesh);
    ln_engine_free(eng);
    for (int i = 0; i < loaded && i < g->n_images; i++)
        ln_image_free(&images[i]);
    return rc;
}

int ln_app_generate(int argc, char **argv)
{
    struct ln__gen_args g;
    memset(&g, 0, sizeof g);
    ln_generate_options_default(&g.opt);
    g.choice = LN__ENGINE_AUTO;

    struct option longopts[LN__MAX_LONGOPTS];
    ln__build_longopts(longopts);
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        int st = ln__generate_option(&g, c);
        if (st != LN_EXIT_OK)
            return st < 0 ? LN_EXIT_OK : st;
    }
    int st = ln__generate_operands(&g, argc, argv);
    if (st != LN_EXIT_OK)
        return st;
    if (g.quiet)
        ln_log_set_level(LN_LOG_LEVEL_ERROR);

    struct ln_error err = {0};
    /* The CLI's stderr is the user's: a failure there stays one line, so
     * staying on the CPU is not announced (a GPU is). A named device is
     * checked before anything runs; auto looks for one only when the
     * triposr engine runs (ln__generate_run). */
    int rc = ln__device_named(g.device) ? ln_app_device_select(g.device, 1, &err) : LN_OK;
    if (rc == LN_OK)
        rc = ln__generate_run(&g, &err);
    ln_app_device_release();
    if (rc == LN_OK)
        return LN_EXIT_OK;
    fprintf(stderr, "lunar-nova: %s\n", err.message[0] ? err.message : ln_status_string(err.code));
    return ln_app_exit_for(err.code);
}
