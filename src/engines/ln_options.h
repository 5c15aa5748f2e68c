/*
 * Generation options: one table (ln_option_table) names every option once,
 * with its command-line forms, its API field, its type and range, its help
 * line, the engines that use it and how it is read from and written into
 * struct ln_generate_options. Every front end is generic code over this
 * table: `lunar-nova generate` builds its getopt entries and its help from
 * it, the HTTP upload takes its form fields from it, the job record writes
 * and reads its "options" object through it, and GET /options serves it to
 * the web UI. Adding an option is adding one row (docs/ARCHITECTURE.md).
 *
 *     if (ln_generate_option_set(&opt, "--foreground-ratio", "0.9", &err) < 0)
 *         puts(err.message);   // "--foreground-ratio wants 0.1 to 1 (got '...')"
 *
 *     for (size_t i = 0; i < ln_option_count; i++)
 *         puts(ln_option_table[i].name);
 *
 * The table is constant; every function is reentrant.
 */
#ifndef LN_OPTIONS_H
#define LN_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

#include "ln_camera.h"
#include "ln_engine.h"
#include "ln_error.h"

enum ln_option_type {
    LN_OPTION_INT,  /* a whole number in [min, max] */
    LN_OPTION_REAL, /* a finite number in [min, max] */
    LN_OPTION_BOOL, /* 1/0, true/false, yes/no, on/off */
    LN_OPTION_ENUM, /* one of choices */
    LN_OPTION_VIEW, /* "AZ[,EL]" in degrees (ln_view_parse) */
};

enum ln_option_flags {
    /* 0 is accepted too, below min, and means "off". */
    LN_OPTION_ZERO_OFF = 1,
    /* Given once per image (multi-view uploads and the CLI's --view). */
    LN_OPTION_PER_VIEW = 2,
    /* Not a member of ln_generate_options: the front end reads it itself
     * (the engine's name, the views); get and set are NULL. */
    LN_OPTION_FRONT_END = 4,
    /* No form field of POST /generate. */
    LN_OPTION_NO_API = 8,
    /* Not written into the job record's "options" object. */
    LN_OPTION_NO_RECORD = 16,
    /* Added after job records existed: a record without it (written by an
     * earlier version) reads as the default. */
    LN_OPTION_RECORD_LATER = 32,
};

/* Where `generate --help` lists an option. */
enum ln_option_group {
    LN_OPTION_GROUP_INPUT, /* "Input and engine:" */
    LN_OPTION_GROUP_MESH,  /* "Mesh:" */
};

/* A value in transit: number for INT, REAL and BOOL (0 or 1; a BOOL of
 * fill_holes may carry a hole size), word for ENUM. */
struct ln_option_value {
    double number;
    const char *word;
};

struct ln_option {
    const char *name;    /* API field and job-record key: "foreground_ratio" */
    const char *label;   /* a person's name for it, for forms: "Foreground ratio" */
    const char *cli;     /* long flag without dashes, "foreground-ratio"; a
                          * BOOL's flag takes no value and turns it on; NULL: none */
    const char *cli_off; /* a flag without value that turns it off; NULL: none */
    const char *metavar; /* the value in the help: "R", "ortho|perspective" */
    enum ln_option_type type;
    double min, max;            /* INT and REAL, inclusive */
    const char *const *choices; /* ENUM: the names, NULL-terminated; NULL: known at run time */
    const char *want;           /* what a valid value is, for messages: "0.1 to 1" */
    const char *help;           /* one sentence for --help and the UI */
    const char *help_off;       /* the help of cli_off */
    const char *const *engines; /* the engines that use it, NULL-terminated */
    unsigned flags;             /* enum ln_option_flags */
    enum ln_option_group group;
    /* Reads the option's value out of opt (NULL for FRONT_END rows). */
    void (*get)(const struct ln_generate_options *opt, struct ln_option_value *v);
    /* Stores a value already checked against type and range; returns -1
     * when it is outside the option's domain all the same (an unknown
     * word), leaving opt unchanged. */
    int (*set)(struct ln_generate_options *opt, const struct ln_option_value *v);
};

extern const struct ln_option ln_option_table[];
extern const size_t ln_option_count;

/* The row named name (leading dashes ignored, '-' and '_' equivalent), or
 * NULL. Finds FRONT_END rows too. */
const struct ln_option *ln_option_find(const char *name);

/* The option type's name in the API: "int", "real", "bool", "enum", "view". */
const char *ln_option_type_name(enum ln_option_type type);

/* Checks value against the row's type and range and stores it. Returns 0,
 * or LN_EINVAL with "<label> wants <want> (got '<value>')" and opt
 * unchanged; label NULL means the row's name. */
int ln_option_parse(const struct ln_option *o, const char *label, const char *value,
                    struct ln_generate_options *opt, struct ln_error *err);

/* Checks a number (INT, REAL, or BOOL as 0/1) against the row's range;
 * returns 1 when it is accepted. */
int ln_option_in_range(const struct ln_option *o, double v);

/* Checks every numeric option of opt against its row's range (what a run
 * checks before it starts). Returns 0, or LN_EINVAL with "<name> wants
 * <want> (got <value>)". */
int ln_generate_options_check(const struct ln_generate_options *opt, struct ln_error *err);

/* The row's value in opt as text ("256", "0.85", "true", "ortho"); "" for
 * FRONT_END rows. Returns buf. */
const char *ln_option_format(const struct ln_option *o, const struct ln_generate_options *opt,
                             char *buf, size_t n);

/* Prints the help lines of one group's options, each flag with its value
 * and help, wrapped to 80 columns, defaults from ln_generate_options_default. */
void ln_options_help(FILE *out, enum ln_option_group group);

/* By name, as ln_option_parse: LN_ENOTFOUND ("unknown option") for an
 * unknown name or a FRONT_END row; LN_EINVAL for a bad value, the message
 * being "<name as given> wants <what> (got '<value>')". */
int ln_generate_option_set(struct ln_generate_options *opt, const char *name, const char *value,
                           struct ln_error *err);

/* True when name is an option ln_generate_option_set takes. */
int ln_generate_option_known(const char *name);

/* Parses "AZ[,EL]" in degrees (-3600..3600, -90..90). Returns 0 or -1. */
int ln_view_parse(const char *text, struct ln_view *view);

/* Parses a boolean as above. Returns 0 or -1. */
int ln_bool_parse(const char *text, int *out);

#endif
