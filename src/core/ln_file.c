/*
 * File helpers, written once for every system on top of the file-system
 * layer (ln_fs.h). The atomic writer follows the classic recipe: a unique
 * temporary name in the same folder (so the rename is atomic), a sync of
 * the data, the rename over the target, then a sync of the folder so the
 * new name survives a crash (on Windows the rename itself is written
 * through).
 */
#include "ln_file.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_fs.h"

int ln_file_read(const char *path, size_t max_size, uint8_t **data, size_t *len,
                 struct ln_error *err)
{
    *data = NULL;
    *len = 0;
    struct ln_file f;
    int rc = ln_file_open(&f, path, LN_FILE_READ, err);
    if (rc < 0)
        return rc;
    struct ln_path_info info;
    if (ln_file_stat(&f, &info, NULL) < 0 || info.kind != LN_PATH_FILE) {
        ln_file_close(&f, NULL);
        return ln_error_set(err, LN_EIO, "%s is not a regular file", path);
    }
    if (info.size > max_size) {
        ln_file_close(&f, NULL);
        return ln_error_set(err, LN_ETOOBIG, "%s is too large (%llu bytes, limit %zu)", path,
                            (unsigned long long)info.size, max_size);
    }
    size_t size = (size_t)info.size;
    uint8_t *buf = ln_malloc(size + 1);
    if (!buf) {
        ln_file_close(&f, NULL);
        return ln_error_set(err, LN_ENOMEM, "out of memory reading %s", path);
    }
    size_t got = 0;
    while (got < size) {
        size_t n = 0;
        struct ln_error rerr = {0};
        if (ln_file_read_some(&f, buf + got, size - got, &n, &rerr) < 0 || n == 0) {
            free(buf);
            ln_file_close(&f, NULL);
            return ln_error_set(err, LN_EIO, "cannot read %s: %s", path,
                                n == 0 && rerr.code == LN_OK ? "the file got shorter"
                                                             : rerr.message);
        }
        got += n;
    }
    ln_file_close(&f, NULL);
    buf[size] = 0;
    *data = buf;
    *len = size;
    return LN_OK;
}

int ln_file_sync_parent(const char *path, struct ln_error *err)
{
    return ln_dir_sync_parent(path, err);
}

int ln_file_atomic_open(struct ln_file_atomic *a, const char *path, struct ln_error *err)
{
    a->path = path;
    a->f.h = -1;
    return ln_file_create_temp(&a->f, path, &a->tmp, err);
}

void ln_file_atomic_abort(struct ln_file_atomic *a)
{
    ln_file_close(&a->f, NULL);
    if (a->tmp)
        ln_path_remove(a->tmp, NULL);
    free(a->tmp);
    a->tmp = NULL;
}

int ln_file_atomic_write(struct ln_file_atomic *a, const void *data, size_t len,
                         struct ln_error *err)
{
    struct ln_error werr = {0};
    if (ln_file_write_all(&a->f, data, len, &werr) < 0)
        return ln_error_set(err, LN_EIO, "cannot write %s: %s", a->path, werr.message);
    return LN_OK;
}

int ln_file_atomic_commit(struct ln_file_atomic *a, struct ln_error *err)
{
    struct ln_error serr = {0};
    if (ln_file_sync(&a->f, &serr) < 0 || ln_file_close(&a->f, &serr) < 0 ||
        ln_path_rename(a->tmp, a->path, &serr) < 0) {
        const char *path = a->path;
        ln_file_atomic_abort(a);
        return ln_error_set(err, LN_EIO, "cannot write %s: %s", path, serr.message);
    }
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

/* The length of path's root, which is never made or removed: the leading
 * slash on POSIX; on Windows also a drive ("C:" with its separator), a
 * share (two backslashes, server, share and its separator), and either
 * behind the long-path prefix. 0 for a relative path. */
static size_t ln__root_len(const char *path)
{
#ifdef _WIN32
    size_t at = 0;
    int share = 0;
    if (strncmp(path, "\\\\?\\UNC\\", 8) == 0) {
        at = 8;
        share = 1;
    } else if (strncmp(path, "\\\\?\\", 4) == 0) {
        at = 4;
    } else if (LN_PATH_IS_SEP(path[0]) && LN_PATH_IS_SEP(path[1])) {
        at = 2;
        share = 1;
    }
    if (share) {
        for (int part = 0; part < 2; part++) { /* the server, then the share */
            while (path[at] && !LN_PATH_IS_SEP(path[at]))
                at++;
            if (path[at])
                at++;
        }
        return at;
    }
    const char *p = path + at;
    if (p[0] && p[1] == ':')
        return at + (LN_PATH_IS_SEP(p[2]) ? 3 : 2);
    return LN_PATH_IS_SEP(p[0]) ? at + 1 : at;
#else
    return path[0] == '/' ? 1 : 0;
#endif
}

char *ln_path_parent(const char *path)
{
    size_t n = strlen(path);
    size_t root = ln__root_len(path);
    while (n > root && LN_PATH_IS_SEP(path[n - 1]))
        n--; /* trailing separators */
    while (n > root && !LN_PATH_IS_SEP(path[n - 1]))
        n--; /* the last part */
    while (n > root && LN_PATH_IS_SEP(path[n - 1]))
        n--; /* the separators before it */
    if (n == 0)
        return ln_xstrdup(root ? "/" : ".");
    char *p = ln_xmalloc(n + 1);
    memcpy(p, path, n);
    p[n] = 0;
    return p;
}

int ln_file_mkdirs(const char *path, struct ln_error *err)
{
    char *copy = ln_xstrdup(path);
    /* The root is there: the first folder to make ends after it. */
    size_t root = ln__root_len(copy);
    for (char *s = copy + (root ? root : 1);; s++) {
        if (s > copy + strlen(path))
            break; /* an empty path */
        if (LN_PATH_IS_SEP(*s) || *s == 0) {
            char c = *s;
            *s = 0;
            int rc = ln_dir_make(copy, err);
            if (rc < 0) {
                free(copy);
                return rc == LN_ENOTFOUND ? LN_EIO : rc;
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
