/*
 * The logger. A single mutex serialises lines; the message is formatted
 * before taking it so a slow formatter never holds other threads back.
 */
#include "ln_log.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static pthread_mutex_t ln__log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum ln_log_level ln__log_level = LN_LOG_LEVEL_INFO;
static enum ln_log_style ln__log_style = LN_LOG_STYLE_PLAIN;
static FILE *ln__log_sink;
static void (*ln__log_before)(void *);
static void *ln__log_before_user;

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

int ln_log_level_parse(const char *s)
{
    for (int i = 0; i <= LN_LOG_LEVEL_OFF; i++)
        if (strcmp(s, ln__level_names[i]) == 0)
            return i;
    if (strcmp(s, "warning") == 0)
        return LN_LOG_LEVEL_WARN;
    return -1;
}

/* Writes s as a JSON string body (without quotes). */
static void ln__json_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
}

void ln_log(enum ln_log_level level, const char *fmt, ...)
{
    if (level < ln__log_level || level >= LN_LOG_LEVEL_OFF)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char stamp[64];
    snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(tv.tv_usec / 1000));

    pthread_mutex_lock(&ln__log_lock);
    FILE *f = ln__log_sink ? ln__log_sink : stderr;
    if (ln__log_before)
        ln__log_before(ln__log_before_user);
    switch (ln__log_style) {
    case LN_LOG_STYLE_PLAIN:
        if (level == LN_LOG_LEVEL_INFO)
            fprintf(f, "%s\n", msg);
        else
            fprintf(f, "%s: %s\n", level == LN_LOG_LEVEL_WARN ? "warning" : ln__level_names[level],
                    msg);
        break;
    case LN_LOG_STYLE_TEXT:
        fprintf(f, "%s %-5s %s\n", stamp, ln__level_names[level], msg);
        break;
    case LN_LOG_STYLE_JSON:
        fprintf(f, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"", stamp, ln__level_names[level]);
        ln__json_escape(f, msg);
        fputs("\"}\n", f);
        break;
    }
    fflush(f);
    pthread_mutex_unlock(&ln__log_lock);
}
