/*
 * Files: read a whole file with a size cap, and replace a file atomically
 * (write a temporary file beside it, fsync, rename over, fsync the folder)
 * so that a reader or a crash sees either the old or the new content, never
 * a mix. Also a growable byte buffer used by the exporters and writers.
 *
 *     struct ln_buf b = {0};
 *     ln_buf_printf(&b, "v %f %f %f\n", x, y, z);
 *     if (ln_file_write_atomic("out.obj", b.data, b.len, &err) < 0) ...
 *     ln_buf_free(&b);
 *
 * Thread-safe as long as two threads do not write the same path.
 */
#ifndef LN_FILE_H
#define LN_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "ln_error.h"
#include "ln_fs.h"

/* Reads path into a new buffer (NUL-terminated for convenience, the NUL not
 * counted in *len). Refuses files larger than max_size with LN_ETOOBIG;
 * a missing file is LN_ENOTFOUND. The caller frees *data. */
int ln_file_read(const char *path, size_t max_size, uint8_t **data, size_t *len,
                 struct ln_error *err);

/* Replaces path with data atomically and durably. On failure path is left
 * as it was and no temporary file remains. */
int ln_file_write_atomic(const char *path, const void *data, size_t len, struct ln_error *err);

/* The same, streamed: for output too large to assemble in memory first.
 *
 *     struct ln_file_atomic a;
 *     if (ln_file_atomic_open(&a, path, &err) < 0) return err.code;
 *     if (ln_file_atomic_write(&a, header, n, &err) < 0 ||
 *         ln_file_atomic_write(&a, body, m, &err) < 0)
 *         return ln_file_atomic_abort(&a), err.code;
 *     return ln_file_atomic_commit(&a, &err);
 *
 * commit makes the content durable and renames it over path; on a commit
 * failure, and on abort, the temporary file is removed and path is
 * unchanged. */
struct ln_file_atomic {
    struct ln_file f;
    char *tmp;
    const char *path;
};
int ln_file_atomic_open(struct ln_file_atomic *a, const char *path, struct ln_error *err);
int ln_file_atomic_write(struct ln_file_atomic *a, const void *data, size_t len,
                         struct ln_error *err);
int ln_file_atomic_commit(struct ln_file_atomic *a, struct ln_error *err);
void ln_file_atomic_abort(struct ln_file_atomic *a);

/* fsyncs the folder that holds path (so a rename in it is durable). */
int ln_file_sync_parent(const char *path, struct ln_error *err);

/* The folder that holds path, as dirname(3) says it ("." for a bare name,
 * "/" for the root), with either separator and a drive's root ("C:\\")
 * on Windows; a new string. */
char *ln_path_parent(const char *path);

/* Creates a folder and its parents (like mkdir -p). */
int ln_file_mkdirs(const char *path, struct ln_error *err);

/* A growable byte buffer. Allocation failures are sticky: after one, every
 * append is ignored and failed stays set; check it once at the end. */
struct ln_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    int failed;
};

void ln_buf_append(struct ln_buf *b, const void *data, size_t len);
void ln_buf_printf(struct ln_buf *b, const char *fmt, ...) LN_PRINTF(2, 3);
void ln_buf_u32le(struct ln_buf *b, uint32_t v);
void ln_buf_f32le(struct ln_buf *b, float v);
/* Makes sure len + extra bytes fit; returns 0 or -1 (and sets failed). */
int ln_buf_reserve(struct ln_buf *b, size_t extra);
void ln_buf_free(struct ln_buf *b);

#endif
