/*
 * The option table: each entry names an option, the kind of value it takes
 * and its range, and one setter applies it. Front ends only map their own
 * syntax (flags, form fields) onto these names.
 */
#include "ln_options.h"

#include "ln_background.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum ln__opt_kind { LN__OPT_INT, LN__OPT_REAL, LN__OPT_BOOL, LN__OPT_WORD };

struct ln__opt {
    const char *name;
    enum ln__opt_kind kind;
    double lo, hi;    /* numeric range, inclusive */
    const char *want; /* how the message describes a valid value */
};

static const struct ln__opt ln__opts[] = {
    {"resolution", LN__OPT_INT, 32, 512, "32 to 512"},
    {"faces", LN__OPT_INT, 0, 100000000, "0 (off) or at least 4"},
    {"foreground_ratio", LN__OPT_REAL, 0.1, 1.0, "0.1 to 1"},
    {"remove_bg", LN__OPT_WORD, 0, 0, "auto, model, classic or off"},
    {"projection", LN__OPT_WORD, 0, 0, "ortho or perspective"},
    {"ortho_size", LN__OPT_REAL, 1e-3, 1e3, "a positive number up to 1000"},
    {"fov", LN__OPT_REAL, 1, 150, "degrees between 1 and 150"},
    {"distance", LN__OPT_REAL, 1e-3, 1e3, "a positive number up to 1000"},
    {"size", LN__OPT_REAL, 1e-6, 1e6, "a positive number of metres"},
    {"origin", LN__OPT_WORD, 0, 0, "center or bottom"},
    {"smooth", LN__OPT_INT, 0, 1000, "0 to 1000 iterations"},
    {"keep_floaters", LN__OPT_BOOL, 0, 1, "true or false"},
    {"fill_holes", LN__OPT_BOOL, 0, 1, "true or false"},
};

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

static const struct ln__opt *ln__find(const char *name)
{
    char canon[32];
    if (ln__canon(name, canon, sizeof canon) < 0)
        return NULL;
    for (size_t i = 0; i < sizeof ln__opts / sizeof ln__opts[0]; i++)
        if (strcmp(ln__opts[i].name, canon) == 0)
            return &ln__opts[i];
    return NULL;
}

int ln_generate_option_known(const char *name)
{
    return ln__find(name) != NULL;
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

/* Applies a parsed value; returns -1 when the value is out of its domain. */
static int ln__apply(struct ln_generate_options *opt, const struct ln__opt *o, double v, int b,
                     const char *word)
{
    const char *n = o->name;
    if (strcmp(n, "resolution") == 0)
        opt->resolution = (int)v;
    else if (strcmp(n, "faces") == 0) {
        if (v > 0 && v < 4)
            return -1;
        opt->target_faces = (size_t)v;
    } else if (strcmp(n, "foreground_ratio") == 0)
        opt->foreground_ratio = (float)v;
    else if (strcmp(n, "remove_bg") == 0) {
        if (ln_remove_bg_parse(word, &opt->remove_bg) < 0)
            return -1;
    }
    else if (strcmp(n, "projection") == 0) {
        if (strcmp(word, "ortho") == 0 || strcmp(word, "orthographic") == 0)
            opt->camera.projection = LN_PROJECTION_ORTHO;
        else if (strcmp(word, "perspective") == 0)
            opt->camera.projection = LN_PROJECTION_PERSPECTIVE;
        else
            return -1;
    } else if (strcmp(n, "ortho_size") == 0)
        opt->camera.ortho_size = (float)v;
    else if (strcmp(n, "fov") == 0)
        opt->camera.fov_deg = (float)v;
    else if (strcmp(n, "distance") == 0)
        opt->camera.distance = (float)v;
    else if (strcmp(n, "size") == 0)
        opt->size = (float)v;
    else if (strcmp(n, "origin") == 0) {
        if (strcmp(word, "center") == 0 || strcmp(word, "centre") == 0)
            opt->origin = LN_MESH_ORIGIN_CENTER;
        else if (strcmp(word, "bottom") == 0)
            opt->origin = LN_MESH_ORIGIN_BOTTOM;
        else
            return -1;
    } else if (strcmp(n, "smooth") == 0)
        opt->smooth_iterations = (int)v;
    else if (strcmp(n, "keep_floaters") == 0)
        opt->keep_main_component = !b;
    else if (strcmp(n, "fill_holes") == 0) {
        struct ln_generate_options def;
        ln_generate_options_default(&def);
        opt->fill_holes = b ? def.fill_holes : 0;
    }
    return 0;
}

int ln_generate_option_set(struct ln_generate_options *opt, const char *name, const char *value,
                           struct ln_error *err)
{
    const struct ln__opt *o = ln__find(name);
    if (!o)
        return ln_error_set(err, LN_ENOTFOUND, "unknown option '%.64s'", name);
    double v = 0.0;
    int b = 0, ok;
    switch (o->kind) {
    case LN__OPT_INT:
        ok = ln__int(value, &v) == 0 && v >= o->lo && v <= o->hi;
        break;
    case LN__OPT_REAL:
        ok = ln__real(value, &v) == 0 && v >= o->lo && v <= o->hi;
        break;
    case LN__OPT_BOOL:
        ok = ln_bool_parse(value, &b) == 0;
        break;
    default:
        ok = 1;
        break;
    }
    if (ok)
        ok = ln__apply(opt, o, v, b, value) == 0;
    if (!ok)
        return ln_error_set(err, LN_EINVAL, "%.64s wants %s (got '%.64s')", name, o->want, value);
    return LN_OK;
}
