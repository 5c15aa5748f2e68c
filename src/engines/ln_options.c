/*
 * The option table and the generic code over it: one row per option, with
 * a getter and a setter into struct ln_generate_options, so that parsing,
 * range checks, help lines and defaults are written once. Defaults are not
 * a column: they are read out of ln_generate_options_default with each
 * row's getter, so the help and GET /options can never disagree with what
 * a run uses.
 */
#include "ln_options.h"

#include "ln_background.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- getters and setters, one pair per option -------------------------- */

static void ln__get_resolution(const struct ln_generate_options *o, struct ln_option_value *v)
{
    v->number = o->resolution;
}

static int ln__set_resolution(struct ln_generate_options *o, const struct ln_option_value *v)
{
    o->resolution = (int)v->number;
    return 0;
}

static void ln__get_faces(const struct ln_generate_options *o, struct ln_option_value *v)
{
    v->number = (double)o->target_faces;
}

static int ln__set_faces(struct ln_generate_options *o, const struct ln_option_value *v)
{
    o->target_faces = (size_t)v->number;
    return 0;
}

static void ln__get_ratio(const struct ln_generate_options *o, struct ln_option_value *v)
{
    v->number = o->foreground_ratio;
}

static int ln__set_ratio(struct ln_generate_options *o, const struct ln_option_value *v)
{
    o->foreground_ratio = (float)v->number;
    return 0;
}

static void ln__get_remove_bg(const struct ln_generate_options *o, struct ln_option_value *v)
{
    v->word = ln_remove_bg_name(o->remove_bg);
}

/* A boolean is accepted too (true: auto, false: off). */
static int ln__set_remove_bg(struct ln_generate_options *o, const struct ln_option_value *v)
{
    return ln_remove_bg_parse(v->word, &o->remove_bg);
}

static void ln__get_projection(const struct ln_generate_options *o, struct ln_option_value *v)
{
    v->word = o->camera.projection == LN_PROJECTION_PERSPECTIVE ? "perspective" : "ortho";
}

static int ln__set_projection(struct ln_generate_options *o, const struct ln_option_value *v)
{
    if (strcmp(v->word, "ortho") == 0 || strcmp(v->word, "orthographic") == 0)
        o->camera.projection = LN_PROJECTION_ORTHO;
    else if (strcmp(v->word, "perspective") == 0)
        o->camera.projection = LN_PROJECTION_PERSPECTIVE;
    else
        return -1;
    return 0;
}

static void ln__get_ortho_size(const struct ln_generate_options *o, struct ln_option_value *v)
{
    v->number = o->camera.ortho_size;
}

static int ln__set_ortho_size(struct ln_generate_options *o, const struct ln_option_value *v)
{
    o->camera.ortho_size = (float)v->number;
    return 0;
}

static void ln__get_fov(const struct ln_generate_options *o, struct ln_option_value *v)
{
    v->number = o->camera.fov_deg;
}

static int ln__set_fov(struct ln_generate_options *o, const struct ln_option_value *v)
{
    o->camera.fov_deg = (float)v->number;
    return 0;
}

static void ln__get_distance(const struct ln_generate_options *o, struct ln_option_value *v)
{
    v->number = o->camera.distance;
}

static int ln__set_distance(struct ln_generate_options *o, const struct ln_option_value *v)
{
    o->camera.distance = (float)v->number;
    return 0;
}

static void ln__get_size(const struct ln_generate_options *o, struct ln_option_value *v)
{
    v->number = o->size;
}

static int ln__set_size(struct ln_generate_options *o, const struct ln_option_value *v)
{
    o->size = (float)v->number;
    return 0;
}

static void ln__get_origin(const struct ln_generate_options *o, struct ln_option_value *v)
{
    v->word = o->origin == LN_MESH_ORIGIN_BOTTOM ? "bottom" : "center";
}

static int ln__set_origin(struct ln_generate_options *o, const struct ln_option_value *v)
{
    if (strcmp(v->word, "center") == 0 || strcmp(v->word, "centre") == 0)
        o->origin = LN_MESH_ORIGIN_CENTER;
    else if (strcmp(v->word, "bottom") == 0)
        o->origin = LN_MESH_ORIGIN_BOTTOM;
    else
        return -1;
    return 0;
}

static void ln__get_smooth(const struct ln_generate_options *o, struct ln_option_value *v)
{
    v->number = o->smooth_iterations;
}

static int ln__set_smooth(struct ln_generate_options *o, const struct ln_option_value *v)
{
    o->smooth_iterations = (int)v->number;
    return 0;
}

static void ln__get_floaters(const struct ln_generate_options *o, struct ln_option_value *v)
{
    v->number = !o->keep_main_component;
}

static int ln__set_floaters(struct ln_generate_options *o, const struct ln_option_value *v)
{
    o->keep_main_component = v->number == 0;
    return 0;
}

static void ln__get_fill_holes(const struct ln_generate_options *o, struct ln_option_value *v)
{
    v->number = o->fill_holes > 0;
}

/* A switch in the API; underneath, the largest hole closed (in boundary
 * edges). A record of an earlier version may hold that size instead of
 * true, and keeps it. */
static int ln__set_fill_holes(struct ln_generate_options *o, const struct ln_option_value *v)
{
    if (v->number > 1) {
        o->fill_holes = (int)v->number;
    } else if (v->number == 1) {
        struct ln_generate_options def;
        ln_generate_options_default(&def);
        o->fill_holes = def.fill_holes;
    } else {
        o->fill_holes = 0;
    }
    return 0;
}

static void ln__get_texture(const struct ln_generate_options *o, struct ln_option_value *v)
{
    v->number = o->texture_size;
}

static int ln__set_texture(struct ln_generate_options *o, const struct ln_option_value *v)
{
    o->texture_size = (int)v->number;
    return 0;
}

static void ln__get_texture_format(const struct ln_generate_options *o, struct ln_option_value *v)
{
    v->word = o->texture_jpeg ? "jpeg" : "png";
}

static int ln__set_texture_format(struct ln_generate_options *o, const struct ln_option_value *v)
{
    if (strcmp(v->word, "png") == 0)
        o->texture_jpeg = 0;
    else if (strcmp(v->word, "jpeg") == 0 || strcmp(v->word, "jpg") == 0)
        o->texture_jpeg = 1;
    else
        return -1;
    return 0;
}

static void ln__get_photo(const struct ln_generate_options *o, struct ln_option_value *v)
{
    v->number = o->photo_consistency != 0;
}

static int ln__set_photo(struct ln_generate_options *o, const struct ln_option_value *v)
{
    o->photo_consistency = v->number != 0;
    return 0;
}

/* ---- the table ---------------------------------------------------------- */

static const char *const ln__both[] = {"triposr", "sculpt", NULL};
static const char *const ln__sculpt[] = {"sculpt", NULL};
static const char *const ln__none[] = {NULL};

#define LN__CHOICES(...) ((const char *const[]){__VA_ARGS__, NULL})

const struct ln_option ln_option_table[] = {
    {.name = "engine",
     .label = "Engine",
     .cli = "engine",
     .metavar = "triposr|sculpt",
     .type = LN_OPTION_ENUM,
     .choices = LN__CHOICES("triposr", "sculpt"),
     .want = "triposr or sculpt",
     .help = "engine to use (default: triposr when its weights are found, else sculpt; the "
             "log says which and why)",
     .engines = ln__none,
     .flags = LN_OPTION_FRONT_END | LN_OPTION_NO_RECORD,
     .group = LN_OPTION_GROUP_INPUT},
    {.name = "view",
     .label = "View",
     .cli = "view",
     .metavar = "AZ[,EL]",
     .type = LN_OPTION_VIEW,
     .min = -90,
     .max = 90,
     .want = "AZ,EL in degrees with -90 <= EL <= 90",
     .help = "view of the next image in degrees, once per image (default: azimuths 0, "
             "360/N, ... at elevation 0; azimuth 0 is the front, 90 puts the camera on +X, "
             "elevation 90 looks down)",
     .engines = ln__sculpt,
     .flags = LN_OPTION_FRONT_END | LN_OPTION_PER_VIEW | LN_OPTION_NO_RECORD,
     .group = LN_OPTION_GROUP_INPUT},
    {.name = "projection",
     .label = "Projection",
     .cli = "projection",
     .metavar = "ortho|perspective",
     .type = LN_OPTION_ENUM,
     .choices = LN__CHOICES("ortho", "perspective"),
     .want = "ortho or perspective",
     .help = "multi-view camera model",
     .engines = ln__sculpt,
     .group = LN_OPTION_GROUP_INPUT,
     .get = ln__get_projection,
     .set = ln__set_projection},
    {.name = "ortho_size",
     .label = "Orthographic size",
     .cli = "ortho-size",
     .metavar = "S",
     .type = LN_OPTION_REAL,
     .min = 1e-3,
     .max = 1e3,
     .want = "a positive number up to 1000",
     .help = "world side spanned by each image",
     .engines = ln__sculpt,
     .group = LN_OPTION_GROUP_INPUT,
     .get = ln__get_ortho_size,
     .set = ln__set_ortho_size},
    {.name = "fov",
     .label = "Field of view (degrees)",
     .cli = "fov",
     .metavar = "DEG",
     .type = LN_OPTION_REAL,
     .min = 1,
     .max = 150,
     .want = "degrees between 1 and 150",
     .help = "perspective field of view",
     .engines = ln__sculpt,
     .group = LN_OPTION_GROUP_INPUT,
     .get = ln__get_fov,
     .set = ln__set_fov},
    {.name = "distance",
     .label = "Camera distance",
     .cli = "distance",
     .metavar = "D",
     .type = LN_OPTION_REAL,
     .min = 1e-3,
     .max = 1e3,
     .want = "a positive number up to 1000",
     .help = "perspective camera distance",
     .engines = ln__sculpt,
     .group = LN_OPTION_GROUP_INPUT,
     .get = ln__get_distance,
     .set = ln__set_distance},
    {.name = "foreground_ratio",
     .label = "Foreground ratio",
     .cli = "foreground-ratio",
     .metavar = "R",
     .type = LN_OPTION_REAL,
     .min = 0.1,
     .max = 1.0,
     .want = "0.1 to 1",
     .help = "one image: object's share of the frame",
     .engines = ln__both,
     .group = LN_OPTION_GROUP_INPUT,
     .get = ln__get_ratio,
     .set = ln__set_ratio},
    {.name = "remove_bg",
     .label = "Background",
     .cli = "remove-bg",
     .cli_off = "no-remove-bg",
     .metavar = "auto|model|classic|off",
     .type = LN_OPTION_ENUM,
     .choices = LN__CHOICES("auto", "model", "classic", "off"),
     .want = "auto, model, classic or off",
     .help = "separating the object from its background: auto uses the alpha channel when it "
             "has one, else a rembg model when one is found, else the classical separation; "
             "model and classic force one; off keeps the image as it is",
     .help_off = "the same as --remove-bg off",
     .engines = ln__both,
     .group = LN_OPTION_GROUP_INPUT,
     .get = ln__get_remove_bg,
     .set = ln__set_remove_bg},
    {.name = "photo_consistency",
     .label = "Photo-consistency",
     .cli_off = "no-photo-consistency",
     .type = LN_OPTION_BOOL,
     .min = 0,
     .max = 1,
     .want = "true or false",
     .help = "several views: after the silhouettes, carve the space the photos' colours show "
             "to be empty (a cup's inside, a chair's seat)",
     .help_off = "several views: the visual hull of the silhouettes only",
     .engines = ln__sculpt,
     .flags = LN_OPTION_RECORD_LATER,
     .group = LN_OPTION_GROUP_INPUT,
     .get = ln__get_photo,
     .set = ln__set_photo},
    {.name = "resolution",
     .label = "Resolution",
     .cli = "resolution",
     .metavar = "N",
     .type = LN_OPTION_INT,
     .min = 32,
     .max = 512,
     .want = "32 to 512",
     .help = "marching-cubes grid per axis, 32 to 512",
     .engines = ln__both,
     .group = LN_OPTION_GROUP_MESH,
     .get = ln__get_resolution,
     .set = ln__set_resolution},
    {.name = "faces",
     .label = "Target faces",
     .cli = "faces",
     .metavar = "N",
     .type = LN_OPTION_INT,
     .min = 4,
     .max = 100000000,
     .want = "0 (off) or at least 4",
     .help = "simplify to at most N faces",
     .engines = ln__both,
     .flags = LN_OPTION_ZERO_OFF,
     .group = LN_OPTION_GROUP_MESH,
     .get = ln__get_faces,
     .set = ln__set_faces},
    {.name = "smooth",
     .label = "Smoothing iterations",
     .cli = "smooth",
     .metavar = "N",
     .type = LN_OPTION_INT,
     .min = 0,
     .max = 1000,
     .want = "0 to 1000 iterations",
     .help = "Taubin smoothing iterations",
     .engines = ln__both,
     .flags = LN_OPTION_ZERO_OFF,
     .group = LN_OPTION_GROUP_MESH,
     .get = ln__get_smooth,
     .set = ln__set_smooth},
    {.name = "keep_floaters",
     .label = "Keep floating parts",
     .cli = "keep-floaters",
     .type = LN_OPTION_BOOL,
     .min = 0,
     .max = 1,
     .want = "true or false",
     .help = "keep every part, not only the main one",
     .engines = ln__both,
     .group = LN_OPTION_GROUP_MESH,
     .get = ln__get_floaters,
     .set = ln__set_floaters},
    {.name = "fill_holes",
     .label = "Fill holes",
     .cli_off = "no-fill-holes",
     .type = LN_OPTION_BOOL,
     .min = 0,
     .max = 1,
     .want = "true or false",
     .help = "close the holes of the mesh",
     .help_off = "leave holes open",
     .engines = ln__both,
     .group = LN_OPTION_GROUP_MESH,
     .get = ln__get_fill_holes,
     .set = ln__set_fill_holes},
    {.name = "size",
     .label = "Size",
     .cli = "size",
     .metavar = "METRES",
     .type = LN_OPTION_REAL,
     .min = 1e-6,
     .max = 1e6,
     .want = "a positive number of metres",
     .help = "largest extent of the model",
     .engines = ln__both,
     .group = LN_OPTION_GROUP_MESH,
     .get = ln__get_size,
     .set = ln__set_size},
    {.name = "origin",
     .label = "Origin",
     .cli = "origin",
     .metavar = "center|bottom",
     .type = LN_OPTION_ENUM,
     .choices = LN__CHOICES("center", "bottom"),
     .want = "center or bottom",
     .help = "centre, or stand on y = 0",
     .engines = ln__both,
     .group = LN_OPTION_GROUP_MESH,
     .get = ln__get_origin,
     .set = ln__set_origin},
    {.name = "texture",
     .label = "Texture size",
     .cli = "texture",
     .metavar = "N",
     .type = LN_OPTION_INT,
     .min = 64,
     .max = 8192,
     .want = "0 (vertex colours) or 64 to 8192 texels",
     .help = "bake an N x N colour texture onto a UV atlas (1024 and 2048 are typical); 0 "
             "keeps vertex colours only",
     .engines = ln__both,
     .flags = LN_OPTION_ZERO_OFF | LN_OPTION_RECORD_LATER,
     .group = LN_OPTION_GROUP_MESH,
     .get = ln__get_texture,
     .set = ln__set_texture},
    {.name = "texture_format",
     .label = "Texture format",
     .cli = "texture-format",
     .metavar = "png|jpeg",
     .type = LN_OPTION_ENUM,
     .choices = LN__CHOICES("png", "jpeg"),
     .want = "png or jpeg",
     .help = "the baked texture's image format (JPEG: smaller, quality 90)",
     .engines = ln__both,
     .flags = LN_OPTION_RECORD_LATER,
     .group = LN_OPTION_GROUP_MESH,
     .get = ln__get_texture_format,
     .set = ln__set_texture_format},
};

const size_t ln_option_count = sizeof ln_option_table / sizeof ln_option_table[0];

/* ---- generic code ------------------------------------------------------- */

/* Canonical form of a name: no leading dashes, '-' as '_'. */
static int ln__canon(const char *name, char *out, size_t n)
{
    while (*name == '-')
        name++;
    size_t i = 0;
    for (; name[i]; i++) {
        if (i + 1 >= n)
            return -1;
        out[i] = name[i] == '-' ? '_' : name[i];
    }
    out[i] = 0;
    return 0;
}

const struct ln_option *ln_option_find(const char *name)
{
    char canon[32];
    if (!name || ln__canon(name, canon, sizeof canon) < 0)
        return NULL;
    for (size_t i = 0; i < ln_option_count; i++)
        if (strcmp(ln_option_table[i].name, canon) == 0)
            return &ln_option_table[i];
    return NULL;
}

const char *ln_option_type_name(enum ln_option_type type)
{
    switch (type) {
    case LN_OPTION_INT:
        return "int";
    case LN_OPTION_REAL:
        return "real";
    case LN_OPTION_BOOL:
        return "bool";
    case LN_OPTION_ENUM:
        return "enum";
    case LN_OPTION_VIEW:
        return "view";
    }
    return "unknown";
}

int ln_generate_option_known(const char *name)
{
    const struct ln_option *o = ln_option_find(name);
    return o && o->set;
}

int ln_bool_parse(const char *s, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int ln__real(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static int ln__int(const char *s, double *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = (double)v;
    return 0;
}

int ln_view_parse(const char *text, struct ln_view *view)
{
    char buf[64];
    size_t n = strlen(text);
    if (n >= sizeof buf)
        return -1;
    memcpy(buf, text, n + 1);
    char *comma = strchr(buf, ',');
    double az, el = 0.0;
    if (comma)
        *comma = 0;
    if (ln__real(buf, &az) < 0 || (comma && ln__real(comma + 1, &el) < 0))
        return -1;
    if (az < -3600 || az > 3600 || el < -90 || el > 90)
        return -1;
    view->azimuth = (float)az;
    view->elevation = (float)el;
    return 0;
}

int ln_option_in_range(const struct ln_option *o, double v)
{
    if (!isfinite(v))
        return 0;
    if (v == 0 && (o->flags & LN_OPTION_ZERO_OFF))
        return 1;
    if (o->type == LN_OPTION_INT)
        return v == floor(v) && v >= o->min && v <= o->max;
    /* Real options are stored as float: compared as floats, a bound given
     * in the table (0.1, 1e-6) is inside its range before and after it is
     * stored, so the check of a run agrees with the check of the upload. */
    if (!(fabs(v) <= FLT_MAX))
        return 0;
    float f = (float)v;
    return f >= (float)o->min && f <= (float)o->max;
}

int ln_generate_options_check(const struct ln_generate_options *opt, struct ln_error *err)
{
    for (size_t i = 0; i < ln_option_count; i++) {
        const struct ln_option *o = &ln_option_table[i];
        if (!o->get || (o->type != LN_OPTION_INT && o->type != LN_OPTION_REAL))
            continue;
        struct ln_option_value v = {0.0, ""};
        o->get(opt, &v);
        if (!ln_option_in_range(o, v.number)) {
            char text[32];
            return ln_error_set(err, LN_EINVAL, "%s wants %s (got %s)", o->name, o->want,
                                ln_option_format(o, opt, text, sizeof text));
        }
    }
    return LN_OK;
}

int ln_option_parse(const struct ln_option *o, const char *label, const char *value,
                    struct ln_generate_options *opt, struct ln_error *err)
{
    struct ln_option_value v = {0.0, value};
    int b = 0, ok = o->set != NULL;
    switch (o->type) {
    case LN_OPTION_INT:
        ok = ok && ln__int(value, &v.number) == 0 && ln_option_in_range(o, v.number);
        break;
    case LN_OPTION_REAL:
        ok = ok && ln__real(value, &v.number) == 0 && ln_option_in_range(o, v.number);
        break;
    case LN_OPTION_BOOL:
        ok = ok && ln_bool_parse(value, &b) == 0;
        v.number = b;
        break;
    default:
        break;
    }
    /* The setter stores into a copy, so a refusal leaves opt as it was. */
    struct ln_generate_options tmp = *opt;
    if (ok)
        ok = o->set(&tmp, &v) == 0;
    if (!ok)
        return ln_error_set(err, LN_EINVAL, "%.64s wants %s (got '%.64s')", label ? label : o->name,
                            o->want, value);
    *opt = tmp;
    return LN_OK;
}

int ln_generate_option_set(struct ln_generate_options *opt, const char *name, const char *value,
                           struct ln_error *err)
{
    const struct ln_option *o = ln_option_find(name);
    if (!o || !o->set)
        return ln_error_set(err, LN_ENOTFOUND, "unknown option '%.64s'", name);
    return ln_option_parse(o, name, value, opt, err);
}

const char *ln_option_format(const struct ln_option *o, const struct ln_generate_options *opt,
                             char *buf, size_t n)
{
    struct ln_option_value v = {0.0, ""};
    if (n == 0)
        return buf;
    buf[0] = 0;
    if (!o->get)
        return buf;
    o->get(opt, &v);
    switch (o->type) {
    case LN_OPTION_INT:
        snprintf(buf, n, "%.0f", v.number);
        break;
    case LN_OPTION_REAL:
        /* Options hold floats: 7 significant digits print 0.85f as 0.85. */
        snprintf(buf, n, "%.7g", v.number);
        break;
    case LN_OPTION_BOOL:
        snprintf(buf, n, "%s", v.number != 0 ? "true" : "false");
        break;
    default:
        snprintf(buf, n, "%s", v.word ? v.word : "");
        break;
    }
    return buf;
}

/* Prints "  <flag>" and the help text wrapped at 80 columns, the text
 * starting at column 27 (on the next line when the flag is longer). */
static void ln__help_line(FILE *out, const char *flag, const char *text)
{
    enum { COLUMN = 27, WIDTH = 80 };
    int col = fprintf(out, "  %s", flag);
    if (col + 2 > COLUMN) {
        fputs("   ", out);
        col += 3;
    } else {
        for (; col < COLUMN; col++)
            fputc(' ', out);
    }
    const char *p = text;
    int first = 1;
    while (*p) {
        size_t word = strcspn(p, " ");
        if (first) {
            first = 0;
        } else if (col + 1 + (int)word > WIDTH) {
            fprintf(out, "\n%*s", COLUMN, "");
            col = COLUMN;
        } else {
            fputc(' ', out);
            col++;
        }
        fwrite(p, 1, word, out);
        col += (int)word;
        p += word;
        while (*p == ' ')
            p++;
    }
    fputc('\n', out);
}

void ln_options_help(FILE *out, enum ln_option_group group)
{
    struct ln_generate_options def;
    ln_generate_options_default(&def);
    for (size_t i = 0; i < ln_option_count; i++) {
        const struct ln_option *o = &ln_option_table[i];
        if (o->group != group)
            continue;
        char flag[64], text[512], value[32];
        if (o->cli) {
            if (o->type == LN_OPTION_BOOL)
                snprintf(flag, sizeof flag, "--%s", o->cli);
            else
                snprintf(flag, sizeof flag, "--%s %s", o->cli, o->metavar);
            ln_option_format(o, &def, value, sizeof value);
            if (o->get && o->type != LN_OPTION_BOOL)
                snprintf(text, sizeof text, "%s (default %s%s)", o->help, value,
                         (o->flags & LN_OPTION_ZERO_OFF) ? ", 0 = off" : "");
            else
                snprintf(text, sizeof text, "%s", o->help);
            ln__help_line(out, flag, text);
        }
        if (o->cli_off) {
            snprintf(flag, sizeof flag, "--%s", o->cli_off);
            ln__help_line(out, flag, o->help_off ? o->help_off : o->help);
        }
    }
}
