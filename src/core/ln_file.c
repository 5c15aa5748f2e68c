/*
 * File helpers. The atomic writer follows the classic recipe: a unique
 * temporary name in the same folder (so rename(2) is atomic), fsync of the
 * data, rename, then fsync of the folder so the new name survives a crash.
 */
#include "ln_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ln_alloc.h"

int ln_file_read(const char *path, size_t max_size, uint8_t **data, size_t *len,
                 struct ln_error *err)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ln_error_set(err, errno == ENOENT ? LN_ENOTFOUND : LN_EIO, "cannot open %s: %s",
                            path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ln_error_set(err, LN_EIO, "%s is not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_size) {
        close(fd);
        return ln_error_set(err, LN_ETOOBIG, "%s is too large (%lld bytes, limit %zu)", path,
                            (long long)st.st_size, max_size);
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = ln_malloc(size + 1);
    if (!buf) {
        close(fd);
        return ln_error_set(err, LN_ENOMEM, "out of memory reading %s", path);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            free(buf);
            close(fd);
            return ln_error_set(err, LN_EIO, "cannot read %s: %s", path, strerror(e));
        }
        got += (size_t)n;
    }
    close(fd);
    buf[size] = 0;
    *data = buf;
    *len = size;
    return LN_OK;
}

int ln_file_sync_parent(const char *path, struct ln_error *err)
{
    char *copy = ln_xstrdup(path);
    const char *dir = dirname(copy);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = LN_OK;
    if (fd < 0 || fsync(fd) < 0)
        rc = ln_error_set(err, LN_EIO, "cannot sync folder %s: %s", dir, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(copy);
    return rc;
}

int ln_file_atomic_open(struct ln_file_atomic *a, const char *path, struct ln_error *err)
{
    size_t n = strlen(path) + 32;
    a->path = path;
    a->tmp = ln_xmalloc(n);
    snprintf(a->tmp, n, "%s.tmp-XXXXXX", path); /* mkstemp's template */
    a->fd = mkstemp(a->tmp);
    if (a->fd < 0) {
        int rc = ln_error_set(err, LN_EIO, "cannot create a file beside %s: %s", path,
                              strerror(errno));
        free(a->tmp);
        a->tmp = NULL;
        return rc;
    }
    /* mkstemp creates 0600; a result is readable like any other file. */
    fchmod(a->fd, 0644);
    return LN_OK;
}

void ln_file_atomic_abort(struct ln_file_atomic *a)
{
    if (a->fd >= 0)
        close(a->fd);
    if (a->tmp)
        unlink(a->tmp);
    free(a->tmp);
    a->tmp = NULL;
    a->fd = -1;
}

static int ln__atomic_fail(struct ln_file_atomic *a, struct ln_error *err)
{
    int e = errno ? errno : EIO;
    const char *path = a->path;
    ln_file_atomic_abort(a);
    return ln_error_set(err, LN_EIO, "cannot write %s: %s", path, strerror(e));
}

int ln_file_atomic_write(struct ln_file_atomic *a, const void *data, size_t len,
                         struct ln_error *err)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t w = write(a->fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            return ln_error_set(err, LN_EIO, "cannot write %s: %s", a->path, strerror(e));
        }
        p += w;
        len -= (size_t)w;
    }
    return LN_OK;
}

int ln_file_atomic_commit(struct ln_file_atomic *a, struct ln_error *err)
{
    errno = 0;
    if (fsync(a->fd) < 0)
        return ln__atomic_fail(a, err);
    int fd = a->fd;
    a->fd = -1;
    if (close(fd) < 0 || rename(a->tmp, a->path) < 0)
        return ln__atomic_fail(a, err);
    free(a->tmp);
    a->tmp = NULL;
    return ln_file_sync_parent(a->path, err);
}

int ln_file_write_atomic(const char *path, const void *data, size_t len, struct ln_error *err)
{
    struct ln_file_atomic a;
    int rc = ln_file_atomic_open(&a, path, err);
    if (rc < 0)
        return rc;
    if ((rc = ln_file_atomic_write(&a, data, len, err)) < 0) {
        ln_file_atomic_abort(&a);
        return rc;
    }
    return ln_file_atomic_commit(&a, err);
}

int ln_file_mkdirs(const char *path, struct ln_error *err)
{
    char *copy = ln_xstrdup(path);
    for (char *s = copy + 1;; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            if (mkdir(copy, 0755) < 0 && errno != EEXIST) {
                int rc = ln_error_set(err, LN_EIO, "cannot create folder %s: %s", copy,
                                      strerror(errno));
                free(copy);
                return rc;
            }
            *s = c;
            if (c == 0)
                break;
        }
    }
    free(copy);
    return LN_OK;
}

int ln_buf_reserve(struct ln_buf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (b->len + extra < b->len) {
        b->failed = 1;
        return -1;
    }
    if (b->len + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) {
        if (cap > SIZE_MAX / 2) {
            b->failed = 1;
            return -1;
        }
        cap *= 2;
    }
    uint8_t *d = ln_realloc(b->data, cap);
    if (!d) {
        b->failed = 1;
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

void ln_buf_append(struct ln_buf *b, const void *data, size_t len)
{
    if (len == 0 || ln_buf_reserve(b, len) < 0)
        return;
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

void ln_buf_printf(struct ln_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        ln_buf_append(b, small, (size_t)n);
        return;
    }
    if (ln_buf_reserve(b, (size_t)n + 1) < 0)
        return;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void ln_buf_u32le(struct ln_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    ln_buf_append(b, x, 4);
}

void ln_buf_f32le(struct ln_buf *b, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    ln_buf_u32le(b, u);
}

void ln_buf_free(struct ln_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}
