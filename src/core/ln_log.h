/*
 * Logging: one line per event on stderr (or a chosen FILE), with a level.
 * Three styles: "plain" ("warning: ...", for the command line), "text"
 * (timestamp, level, message: for the server) and "json" (one object per
 * line, for log shippers). Thread-safe: lines from different threads never
 * interleave.
 *
 *     ln_log_info("Model initialized.");
 *     ln_log_warn("view %d contradicts the others", i);
 */
#ifndef LN_LOG_H
#define LN_LOG_H

#include <stdio.h>

#include "ln_error.h"

enum ln_log_level {
    LN_LOG_LEVEL_DEBUG,
    LN_LOG_LEVEL_INFO,
    LN_LOG_LEVEL_WARN,
    LN_LOG_LEVEL_ERROR,
    LN_LOG_LEVEL_OFF,
};

enum ln_log_style {
    LN_LOG_STYLE_PLAIN,
    LN_LOG_STYLE_TEXT,
    LN_LOG_STYLE_JSON,
};

void ln_log_set_level(enum ln_log_level level);
enum ln_log_level ln_log_get_level(void);
void ln_log_set_style(enum ln_log_style style);
/* NULL restores stderr. */
void ln_log_set_sink(FILE *sink);
/* Called (under the log lock) before each line is written, e.g. to erase a
 * progress bar; NULL removes it. */
void ln_log_set_before_write(void (*fn)(void *user), void *user);

/* Parses "debug", "info", "warn", "error", "off"; returns -1 if unknown. */
int ln_log_level_parse(const char *s);

void ln_log(enum ln_log_level level, const char *fmt, ...) LN_PRINTF(2, 3);

#define ln_log_debug(...) ln_log(LN_LOG_LEVEL_DEBUG, __VA_ARGS__)
#define ln_log_info(...) ln_log(LN_LOG_LEVEL_INFO, __VA_ARGS__)
#define ln_log_warn(...) ln_log(LN_LOG_LEVEL_WARN, __VA_ARGS__)
#define ln_log_error(...) ln_log(LN_LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
