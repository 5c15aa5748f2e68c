/*
 * Generation options from text, one parser for every front end: the
 * command line (--resolution 128), the HTTP upload fields (resolution=128)
 * and anything else that takes options by name, so ranges and spellings
 * cannot drift apart.
 *
 *     if (ln_generate_option_set(&opt, "--foreground-ratio", "0.9", &err) < 0)
 *         puts(err.message);   // "--foreground-ratio wants 0.1 to 1 (got '...')"
 *
 * Reentrant.
 */
#ifndef LN_OPTIONS_H
#define LN_OPTIONS_H

#include "ln_camera.h"
#include "ln_engine.h"
#include "ln_error.h"

/* Names (leading dashes ignored, '-' and '_' equivalent): resolution,
 * faces, foreground_ratio, remove_bg (auto, model, classic, off; a boolean
 * means auto or off), projection, ortho_size, fov,
 * distance, size, origin, smooth, keep_floaters, fill_holes. Booleans take
 * 1/0, true/false, yes/no, on/off. Returns 0; LN_ENOTFOUND for an unknown
 * name; LN_EINVAL for a bad value, the message being "<name as given> wants
 * <what> (got '<value>')". */
int ln_generate_option_set(struct ln_generate_options *opt, const char *name, const char *value,
                           struct ln_error *err);

/* True when name is one of the option names above. */
int ln_generate_option_known(const char *name);

/* Parses "AZ[,EL]" in degrees (-3600..3600, -90..90). Returns 0 or -1. */
int ln_view_parse(const char *text, struct ln_view *view);

/* Parses a boolean as above. Returns 0 or -1. */
int ln_bool_parse(const char *text, int *out);

#endif
