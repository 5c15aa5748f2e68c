/*
 * Logging: one line per event on stderr (or a chosen FILE), with a level.
 * Three styles: "plain" ("warning: ...", for the command line), "text"
 * (timestamp, level, message: for the server) and "json" (one object per
 * line, for log shippers). Thread-safe: lines from different threads never
 * interleave.
 *
 *     ln_log_info("Model initialized.");
 *     ln_log_warn("view %d contradicts the others", i);
 *
 * A server may also append every line to a log file (ln_log_open_file:
 * one write per line, so a reader following the file sees whole lines as
 * they happen) and hand its warnings, errors and notices (the start and
 * stop lines, ln_log_notice) to a mirror, which the Windows service turns
 * into entries of the Windows event log.
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
/* An info line that is also a milestone an operator looks for in a system
 * log (started, listening, stopping, stopped): the mirror gets it too. */
void ln_log_notice(const char *fmt, ...) LN_PRINTF(1, 2);

/* Appends every line, besides stderr (or the sink), to the file at path
 * (UTF-8; made if missing, never truncated), one write per line through
 * the platform layer, so each line is on disk's way as it is logged and
 * lines of several threads never interleave. Replaces a file opened
 * before. Returns 0, or the file layer's error (LN_ENOTFOUND, LN_EIO)
 * naming the path. ln_log_close_file closes it; both only while no other
 * thread logs (at start-up and after the last thread stopped). */
int ln_log_open_file(const char *path, struct ln_error *err);
void ln_log_close_file(void);

/* Gets each warning, error and notice line that passes the level, as its
 * message without stamp or level (NULL removes it). Called on the logging
 * thread, outside any lock: fn must be thread-safe. Set it while no other
 * thread logs. */
void ln_log_set_mirror(void (*fn)(void *user, enum ln_log_level level, const char *msg),
                       void *user);

#define ln_log_debug(...) ln_log(LN_LOG_LEVEL_DEBUG, __VA_ARGS__)
#define ln_log_info(...) ln_log(LN_LOG_LEVEL_INFO, __VA_ARGS__)
#define ln_log_warn(...) ln_log(LN_LOG_LEVEL_WARN, __VA_ARGS__)
#define ln_log_error(...) ln_log(LN_LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
