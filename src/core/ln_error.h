/*
 * Errors as values. Every fallible function in Lunar Nova returns 0 on
 * success or a negative LN_E* code, and fills an optional struct ln_error
 * with one human-readable line: that line is what the CLI prints, what a
 * job records and what the HTTP error body carries. Codes, their names and
 * their HTTP/CLI meaning come from one X-macro list so they cannot drift.
 *
 *     struct ln_error err = {0};
 *     if (ln_image_load(path, NULL, &img, &err) < 0)
 *         fprintf(stderr, "%s\n", err.message);
 *
 * Thread-safety: everything here is reentrant; an ln_error belongs to its
 * caller.
 */
#ifndef LN_ERROR_H
#define LN_ERROR_H

#include <stddef.h>

/* X(name, value, http status, short description) */
#define LN_ERROR_MAP(X)                                                                        \
    X(OK, 0, 200, "ok")                                                                        \
    X(EINVAL, -1, 400, "invalid argument")                                                     \
    X(ENOMEM, -2, 500, "out of memory")                                                        \
    X(EIO, -3, 500, "input/output error")                                                      \
    X(EFORMAT, -4, 415, "unsupported or corrupt data")                                         \
    X(ETOOBIG, -5, 413, "too large")                                                           \
    X(EUNUSABLE, -6, 422, "unusable input")                                                    \
    X(ENOTFOUND, -7, 404, "not found")                                                         \
    X(ECANCELED, -8, 409, "canceled")                                                          \
    X(EBUSY, -9, 503, "busy")                                                                  \
    X(EMODEL, -10, 500, "model unavailable")                                                   \
    X(EINTERNAL, -11, 500, "internal error")

enum ln_status {
#define LN__ERR_ENUM(name, value, http, desc) LN_##name = value,
    LN_ERROR_MAP(LN__ERR_ENUM)
#undef LN__ERR_ENUM
};

/* printf-style format checking by the rules of the printf that runs: GNU's
 * (C99: %zu, %lld) everywhere. On MinGW-w64 the plain `printf` archetype
 * would check Microsoft's rules, so GCC is told `gnu_printf` there (and the
 * Windows build defines __USE_MINGW_ANSI_STDIO=1 so the C99 printf runs). */
#if defined(__MINGW32__) && !defined(__clang__)
#define LN_PRINTF(fmt, first) __attribute__((format(gnu_printf, fmt, first)))
#else
#define LN_PRINTF(fmt, first) __attribute__((format(printf, fmt, first)))
#endif

#define LN_ERROR_MESSAGE_MAX 256

struct ln_error {
    int code;                           /* one of enum ln_status */
    char message[LN_ERROR_MESSAGE_MAX]; /* one line, no trailing newline */
};

/* Records code and a printf-formatted message in err (if non-NULL) and
 * returns code, so callers can write `return ln_error_set(err, ...)`.
 * An earlier message is overwritten. */
int ln_error_set(struct ln_error *err, int code, const char *fmt, ...)
    LN_PRINTF(3, 4);

/* Prefixes the message already in err with "prefix: " (for context such as
 * a file name). Returns err->code, or LN_EINTERNAL if err is NULL. */
int ln_error_prefix(struct ln_error *err, const char *fmt, ...)
    LN_PRINTF(2, 3);

/* "EFORMAT" etc.; "UNKNOWN" for an unknown code. */
const char *ln_status_name(int code);
/* The short description of the code. */
const char *ln_status_string(int code);
/* The HTTP status that reports this code (200 for LN_OK). */
int ln_status_http(int code);
/* True when the code means the caller's input was at fault (CLI exit 2). */
int ln_status_is_input_error(int code);

/* A condition the code relies on that no input can break (a size that
 * must fit a BLAS int, say): kept in release builds, unlike assert; when
 * it fails the process prints what failed and where, and aborts. */
#define LN_REQUIRE(cond)                                                                       \
    ((cond) ? (void)0 : ln__require_failed(#cond, __FILE__, __LINE__))
_Noreturn void ln__require_failed(const char *what, const char *file, int line);

#endif
