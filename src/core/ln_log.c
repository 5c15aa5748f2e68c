/*
 * The logger. Each line is formatted completely, then written with a single
 * write(2): no lock on the common path (no log file). The mutex only guards
 * the settings and the terminal shared with a progress bar. A log file,
 * when one is open, gets the same line with one more write, opened for
 * appending through the file layer (src/core/ln_fs.h: a UTF-8 path on every
 * system), under a lock of its own: appends from several threads are
 * atomic on Linux and Windows, but not under every emulation of Windows'
 * append mode (Wine lost a byte where two threads' lines met).
 */
#include "ln_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ln_fs.h"
#include "ln_time.h"

static pthread_mutex_t ln__log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum ln_log_level ln__log_level = LN_LOG_LEVEL_INFO;
static enum ln_log_style ln__log_style = LN_LOG_STYLE_PLAIN;
static FILE *ln__log_sink;
static void (*ln__log_before)(void *);
static void *ln__log_before_user;
static pthread_mutex_t ln__file_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ln_file ln__log_file = {-1}; /* under ln__file_lock */
static atomic_int ln__file_open;           /* a file is open: take the lock */
static void (*ln__log_mirror)(void *, enum ln_log_level, const char *);
static void *ln__log_mirror_user;

static const char *const ln__level_names[] = {"debug", "info", "warn", "error", "off"};

void ln_log_set_level(enum ln_log_level level)
{
    ln__log_level = level;
}

enum ln_log_level ln_log_get_level(void)
{
    return ln__log_level;
}

void ln_log_set_style(enum ln_log_style style)
{
    ln__log_style = style;
}

void ln_log_set_sink(FILE *sink)
{
    pthread_mutex_lock(&ln__log_lock);
    ln__log_sink = sink;
    pthread_mutex_unlock(&ln__log_lock);
}

void ln_log_set_before_write(void (*fn)(void *user), void *user)
{
    pthread_mutex_lock(&ln__log_lock);
    ln__log_before = fn;
    ln__log_before_user = user;
    pthread_mutex_unlock(&ln__log_lock);
}

int ln_log_open_file(const char *path, struct ln_error *err)
{
    struct ln_file f;
    int rc = ln_file_open(&f, path, LN_FILE_WRITE | LN_FILE_CREATE | LN_FILE_APPEND, err);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&ln__file_lock);
    ln_file_close(&ln__log_file, NULL);
    ln__log_file = f;
    atomic_store(&ln__file_open, 1);
    pthread_mutex_unlock(&ln__file_lock);
    return LN_OK;
}

void ln_log_close_file(void)
{
    pthread_mutex_lock(&ln__file_lock);
    atomic_store(&ln__file_open, 0);
    ln_file_close(&ln__log_file, NULL);
    ln__log_file.h = -1;
    pthread_mutex_unlock(&ln__file_lock);
}

void ln_log_set_mirror(void (*fn)(void *user, enum ln_log_level level, const char *msg),
                       void *user)
{
    ln__log_mirror = fn;
    ln__log_mirror_user = user;
}

int ln_log_level_parse(const char *s)
{
    for (int i = 0; i <= LN_LOG_LEVEL_OFF; i++)
        if (strcmp(s, ln__level_names[i]) == 0)
            return i;
    if (strcmp(s, "warning") == 0)
        return LN_LOG_LEVEL_WARN;
    return -1;
}

/* Appends s as a JSON string body (without quotes) to buf at *len. */
static void ln__json_escape(char *buf, size_t cap, size_t *len, const char *s)
{
    for (; *s && *len + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[(*len)++] = '\\';
            buf[(*len)++] = (char)c;
        } else if (c < 0x20) {
            *len += (size_t)snprintf(buf + *len, cap - *len, "\\u%04x", c);
        } else {
            buf[(*len)++] = (char)c;
        }
    }
}

/* Writes the whole line with one write(2), so lines from different threads
 * never interleave without a lock (appends of one call are atomic for
 * pipes up to PIPE_BUF and for files opened for appending) and a busy
 * server does not serialise its request threads on the logger. */
static void ln__write_line(FILE *f, const char *line, size_t len)
{
    int fd = fileno(f);
    while (len > 0) {
        ssize_t w = write(fd, line, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        line += w;
        len -= (size_t)w;
    }
}

static void ln__log_va(enum ln_log_level level, int notice, const char *fmt, va_list ap)
{
    if (level < ln__log_level || level >= LN_LOG_LEVEL_OFF)
        return;
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);

    /* Milliseconds truncated, as the stamp always had them. */
    long long ms_now = (long long)(ln_time_wall() * 1000.0);
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    ln_time_utc(ms_now / 1000, &tm);
    char stamp[64];
    snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms_now % 1000));

    char line[4096];
    size_t len = 0;
    switch (ln__log_style) {
    case LN_LOG_STYLE_PLAIN:
        if (level == LN_LOG_LEVEL_INFO)
            len = (size_t)snprintf(line, sizeof line, "%s", msg);
        else
            len = (size_t)snprintf(line, sizeof line, "%s: %s",
                                   level == LN_LOG_LEVEL_WARN ? "warning" : ln__level_names[level],
                                   msg);
        break;
    case LN_LOG_STYLE_TEXT:
        len = (size_t)snprintf(line, sizeof line, "%s %-5s %s", stamp, ln__level_names[level], msg);
        break;
    case LN_LOG_STYLE_JSON:
        len = (size_t)snprintf(line, sizeof line, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"",
                               stamp, ln__level_names[level]);
        ln__json_escape(line, sizeof line, &len, msg);
        len += (size_t)snprintf(line + len, sizeof line - len, "\"}");
        break;
    }
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';

    /* The file first: a reader of the file (the service's only output)
     * never lags behind the terminal. */
    if (atomic_load(&ln__file_open)) {
        pthread_mutex_lock(&ln__file_lock);
        if (ln__log_file.h != -1)
            ln_file_write_all(&ln__log_file, line, len, NULL);
        pthread_mutex_unlock(&ln__file_lock);
    }
    if (ln__log_mirror && (notice || level >= LN_LOG_LEVEL_WARN))
        ln__log_mirror(ln__log_mirror_user, level, msg);
    FILE *f = ln__log_sink ? ln__log_sink : stderr;
    if (ln__log_before) {
        /* A progress bar shares the terminal: erase it and write under the
         * lock so the two never interleave. */
        pthread_mutex_lock(&ln__log_lock);
        if (ln__log_before)
            ln__log_before(ln__log_before_user);
        fflush(f);
        ln__write_line(f, line, len);
        pthread_mutex_unlock(&ln__log_lock);
        return;
    }
    ln__write_line(f, line, len);
}

void ln_log(enum ln_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ln__log_va(level, 0, fmt, ap);
    va_end(ap);
}

void ln_log_notice(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ln__log_va(LN_LOG_LEVEL_INFO, 1, fmt, ap);
    va_end(ap);
}
