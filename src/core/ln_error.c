/*
 * The error table and the helpers that fill struct ln_error. Messages are
 * truncated to one line so they can go straight into a log, a job record or
 * a JSON body.
 */
#include "ln_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void ln__one_line(char *s)
{
    for (; *s; s++)
        if (*s == '\n' || *s == '\r')
            *s = ' ';
}

int ln_error_set(struct ln_error *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    ln__one_line(err->message);
    return code;
}

int ln_error_prefix(struct ln_error *err, const char *fmt, ...)
{
    if (!err)
        return LN_EINTERNAL;
    char prefix[LN_ERROR_MESSAGE_MAX];
    char old[LN_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof old);
    /* Both parts are bounded by the buffer; truncation is intended. */
    size_t n = strlen(prefix);
    if (n > sizeof err->message - 3)
        n = sizeof err->message - 3;
    memcpy(err->message, prefix, n);
    memcpy(err->message + n, ": ", 2);
    size_t room = sizeof err->message - n - 2;
    size_t m = strnlen(old, room - 1);
    memcpy(err->message + n + 2, old, m);
    err->message[n + 2 + m] = 0;
    ln__one_line(err->message);
    return err->code;
}

const char *ln_status_name(int code)
{
    switch (code) {
#define LN__ERR_NAME(name, value, http, desc)                                                  \
    case value:                                                                                \
        return #name;
        LN_ERROR_MAP(LN__ERR_NAME)
#undef LN__ERR_NAME
    }
    return "UNKNOWN";
}

const char *ln_status_string(int code)
{
    switch (code) {
#define LN__ERR_DESC(name, value, http, desc)                                                  \
    case value:                                                                                \
        return desc;
        LN_ERROR_MAP(LN__ERR_DESC)
#undef LN__ERR_DESC
    }
    return "unknown error";
}

int ln_status_http(int code)
{
    switch (code) {
#define LN__ERR_HTTP(name, value, http, desc)                                                  \
    case value:                                                                                \
        return http;
        LN_ERROR_MAP(LN__ERR_HTTP)
#undef LN__ERR_HTTP
    }
    return 500;
}

int ln_status_is_input_error(int code)
{
    int http = ln_status_http(code);
    return http >= 400 && http < 500 && code != LN_ECANCELED;
}

void ln__require_failed(const char *what, const char *file, int line)
{
    fprintf(stderr, "lunar-nova: internal error at %s:%d: %s does not hold\n", file, line, what);
    abort();
}
