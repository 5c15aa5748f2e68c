/*
 * The file system as the operating system offers it: open, read, write,
 * sync, lock and close a file, rename and remove, make folders (temporary
 * ones too), list a folder, remove a tree, stat a path with 64-bit sizes,
 * make and read links, resolve a path, find the program's own path and
 * the home folder, measure free space, and map a file read-only. For
 * files, every floor above uses these instead of <unistd.h>, <fcntl.h>,
 * <sys/stat.h>, <dirent.h>, <ftw.h>, <sys/mman.h> and <libgen.h>.
 *
 *     struct ln_file f;
 *     if (ln_file_open(&f, path, LN_FILE_READ, &err) < 0) return err.code;
 *     struct ln_path_info info;
 *     size_t got;
 *     if (ln_file_stat(&f, &info, &err) == 0 &&
 *         ln_file_read_some(&f, buf, sizeof buf, &got, &err) == 0) ...
 *     ln_file_close(&f, NULL);
 *
 * DESIGN. A header of its own rather than more of ln_file.h: ln_file.h is
 * the portable helpers every writer uses (read with a cap, the atomic
 * replace, the byte buffer), written once on top of this one; this header
 * is the thin boundary with the system, and it alone has two sources, one
 * per system, side by side: ln_fs_posix.c (Linux and other POSIX systems:
 * what the code did before it existed, unchanged) and ln_fs_win.c
 * (Windows: the wide-character API). The build compiles the one for its
 * target. Paths are UTF-8 `char *` everywhere; the Windows form converts
 * them at each call (invalid UTF-8 is refused, never guessed), adds the
 * `\\?\` prefix to paths longer than MAX_PATH, and returns names in
 * UTF-8. Files are always binary and never inherited by child programs.
 * On Windows every file is opened with FILE_SHARE_READ | FILE_SHARE_WRITE
 * | FILE_SHARE_DELETE, and renames and deletions use POSIX semantics where
 * the system has them, so that, as on Linux, a file being read can be
 * renamed over or removed (without those semantics its name stays taken
 * until the last reader closes it). docs/windows.md says how each call
 * behaves there.
 *
 * Errors: LN_ENOTFOUND when the path (or a folder on it) does not exist,
 * LN_EINVAL for a path the system cannot name (not UTF-8 on Windows),
 * LN_EIO otherwise; the message names the path and gives the system's
 * own text (strerror, or FormatMessageW's on Windows).
 *
 * Every function is thread-safe; a struct ln_file, ln_dir or ln_map is
 * used by one thread at a time.
 */
#ifndef LN_FS_H
#define LN_FS_H

#include <stddef.h>
#include <stdint.h>

#include "ln_error.h"

/* 1 for a character that separates path parts: '/' everywhere, and '\\'
 * too on Windows. */
#ifdef _WIN32
#define LN_PATH_IS_SEP(c) ((c) == '/' || (c) == '\\')
#else
#define LN_PATH_IS_SEP(c) ((c) == '/')
#endif

/* ---- paths ---- */

enum ln_path_kind {
    LN_PATH_MISSING = 0,
    LN_PATH_FILE,  /* a regular file */
    LN_PATH_DIR,   /* a folder */
    LN_PATH_LINK,  /* a symbolic link, or on Windows any reparse point (junction) */
    LN_PATH_OTHER, /* a device, pipe, socket ... */
};

struct ln_path_info {
    enum ln_path_kind kind;
    uint64_t size;   /* bytes, 64-bit on every system */
    int64_t mtime_s; /* last change, seconds since 1970 (UTC) */
    /* The POSIX permission bits (mode & 07777); -1 on Windows, where who
     * may read a file is its ACL's business, not a mode's. */
    int mode;
};

enum {
    /* ln_path_stat describes a link itself, not what it points to. */
    LN_PATH_NOFOLLOW = 1,
};

/* Describes path. A missing path is LN_ENOTFOUND, with info->kind set to
 * LN_PATH_MISSING (err may then be NULL to ask "does it exist"). */
int ln_path_stat(const char *path, int flags, struct ln_path_info *info, struct ln_error *err);

/* The absolute path with every link resolved (realpath), a new string. */
int ln_path_real(const char *path, char **out, struct ln_error *err);

/* The absolute path of the running program (/proc/self/exe,
 * GetModuleFileNameW), a new string. */
int ln_path_self(char **out, struct ln_error *err);

/* The user's home folder as programs of this system find it (HOME on
 * POSIX, USERPROFILE on Windows, as Python's expanduser does), a new
 * UTF-8 string, or NULL when unset. LN_PATH_HOME_VAR names the variable
 * (for a test that points it elsewhere). */
#ifdef _WIN32
#define LN_PATH_HOME_VAR "USERPROFILE"
#else
#define LN_PATH_HOME_VAR "HOME"
#endif
char *ln_path_home(void);

/* What the link at path points to, as it was written (relative or not;
 * on Windows with backslashes), a new string. A path that is not a link
 * is LN_EUNUSABLE. */
int ln_path_read_link(const char *path, char **target, struct ln_error *err);

/* The bytes free for this user on the file system that holds path. */
int ln_path_free_space(const char *path, uint64_t *avail, struct ln_error *err);

/* Removes a file, a link (never its target) or an empty folder. A missing
 * path is LN_ENOTFOUND. */
int ln_path_remove(const char *path, struct ln_error *err);

/* Renames from to to. A file replaces a file already at to, atomically
 * (MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH on Windows); a folder
 * is renamed only where to does not exist. On Windows a folder cannot be
 * renamed while a file inside is open by someone else without
 * FILE_SHARE_DELETE (every file this layer opens has it). */
int ln_path_rename(const char *from, const char *to, struct ln_error *err);

/* Makes a symbolic link at path pointing at target. On Windows it needs
 * Developer Mode or administrator rights: refused, it is LN_EUNUSABLE (so
 * a caller can fall back to a copy, as huggingface_hub does). */
int ln_path_link(const char *target, const char *path, struct ln_error *err);

/* 1 when the folder dir looks writable to this program (access W_OK), 0
 * when not. On Windows only the read-only attribute is seen: a folder
 * whose ACL refuses writing passes, and the first write says so. */
int ln_path_writable(const char *dir);

/* ---- open files ---- */

/* An open file: a descriptor on POSIX, a HANDLE on Windows. Closed: -1. */
struct ln_file {
    intptr_t h;
};

enum {
    LN_FILE_READ = 1,
    LN_FILE_WRITE = 2,
    LN_FILE_CREATE = 4, /* make it if missing (mode 0644 on POSIX) */
    LN_FILE_EXCL = 8,   /* with CREATE: fail if it exists */
    LN_FILE_TRUNC = 16, /* empty it on open */
    LN_FILE_APPEND = 32,
    /* with CREATE: mode 0666 less the umask on POSIX, for files that
     * several users of one cache share (its downloads and locks) */
    LN_FILE_SHARED = 64,
};

/* Opens path with LN_FILE_* flags. A folder opened for reading is refused
 * with LN_EIO ("is a folder"), on every system. */
int ln_file_open(struct ln_file *f, const char *path, int flags, struct ln_error *err);
/* Reads up to n bytes at the current position; *got 0 is the end. */
int ln_file_read_some(struct ln_file *f, void *buf, size_t n, size_t *got, struct ln_error *err);
/* Writes all n bytes at the current position (retrying short writes).
 * Here and in write_at and sync, a full disk or quota is LN_ETOOBIG. */
int ln_file_write_all(struct ln_file *f, const void *data, size_t n, struct ln_error *err);
/* Writes all n bytes at offset, the position unchanged (pwrite). */
int ln_file_write_at(struct ln_file *f, const void *data, size_t n, uint64_t offset,
                     struct ln_error *err);
/* Sets the file's size (ftruncate / SetEndOfFile): grown, the new part reads
 * as zeros and, where the file system can, takes no disk space. */
int ln_file_set_size(struct ln_file *f, uint64_t size, struct ln_error *err);
/* Moves the position to offset bytes from the start. */
int ln_file_seek(struct ln_file *f, uint64_t offset, struct ln_error *err);
int ln_file_stat(struct ln_file *f, struct ln_path_info *info, struct ln_error *err);
/* Takes an exclusive lock on the whole file (flock / LockFileEx), held
 * until the file is closed. With wait 0 a lock held elsewhere is
 * LN_EBUSY at once. Advisory on POSIX, enforced on Windows (another
 * program cannot write the locked bytes: lock files only hold locks). */
int ln_file_lock(struct ln_file *f, int wait, struct ln_error *err);
/* Makes the content durable (fsync / FlushFileBuffers). */
int ln_file_sync(struct ln_file *f, struct ln_error *err);
/* Closes f (a closed f is left alone); a write error the close reports is
 * returned. */
int ln_file_close(struct ln_file *f, struct ln_error *err);
/* Hands f over as a C runtime descriptor (binary mode) that the caller,
 * or the library it is given to, closes with close(): for
 * MHD_create_response_from_fd. f is closed afterwards; -1 on failure. */
int ln_file_release_fd(struct ln_file *f);
/* Creates a new, empty file beside path, named path.tmp-XXXXXX (six
 * random characters), opened for writing, readable by others like any
 * result. *tmp is its name, a new string. */
int ln_file_create_temp(struct ln_file *f, const char *path, char **tmp, struct ln_error *err);

/* ---- folders ---- */

/* Creates one folder (its parent must exist). Returns LN_OK when made, 1
 * when something already has that name, negative on error. */
int ln_dir_make(const char *path, struct ln_error *err);

/* Creates a new private folder in parent named prefix + six random
 * characters (mkdtemp); *out is its path, a new string. */
int ln_dir_make_temp(const char *parent, const char *prefix, char **out, struct ln_error *err);

/* Makes a rename or removal inside the folder that holds path durable
 * (fsync of the folder). On Windows a no-op: MOVEFILE_WRITE_THROUGH
 * already waits for the rename, and folders cannot be flushed. */
int ln_dir_sync_parent(const char *path, struct ln_error *err);

/* Lists one folder, without "." and "..", in the system's order:
 *
 *     struct ln_dir *d;
 *     struct ln_dir_entry e;
 *     if (ln_dir_open(&d, path, &err) < 0) return err.code;
 *     while ((rc = ln_dir_next(d, &e, &err)) > 0) use(e.name, e.kind);
 *     ln_dir_close(d);
 *
 * e.name (UTF-8) is valid until the next call. e.kind is the entry's own
 * kind, links not followed (LN_PATH_LINK for a link or reparse point). */
struct ln_dir;
struct ln_dir_entry {
    const char *name;
    enum ln_path_kind kind;
};
int ln_dir_open(struct ln_dir **d, const char *path, struct ln_error *err);
/* 1 with an entry, 0 at the end, negative on error. */
int ln_dir_next(struct ln_dir *d, struct ln_dir_entry *e, struct ln_error *err);
void ln_dir_close(struct ln_dir *d);

/* Removes path and everything under it, depth first. Links and reparse
 * points inside are removed themselves, never followed, so nothing
 * outside the tree is touched. A missing path is LN_OK. Goes on past an
 * entry it cannot remove and returns the first error. */
int ln_dir_remove_tree(const char *path, struct ln_error *err);

/* ---- mapped files ---- */

/* A whole file mapped read-only (mmap / MapViewOfFile). An empty file maps
 * to data NULL, size 0. While mapped, a file on Windows cannot be removed
 * or replaced (a model update must wait for the program to let go of it);
 * on Linux the mapping keeps the old content. */
struct ln_map {
    const uint8_t *data;
    uint64_t size;
    intptr_t h; /* the Windows mapping object; unused on POSIX */
};
/* A path that is not a regular file is LN_EUNUSABLE; a file larger than
 * the address space is LN_ETOOBIG. On Linux a file of 32 MB or more is
 * mapped with MADV_HUGEPAGE: what is read from disk comes in 2 MB pieces,
 * mapped 2 MB at a time (far fewer TLB misses when a network reads its
 * weights). */
int ln_map_file(struct ln_map *m, const char *path, struct ln_error *err);
void ln_unmap(struct ln_map *m);
/* Lets go of the memory that the whole pages of [p, p + bytes) inside m
 * hold (madvise MADV_DONTNEED; on Windows, VirtualUnlock, which takes
 * unlocked pages out of the working set): for a caller that copied them
 * and will not read them again. The mapping stays valid: a page read
 * again comes back from the file. A range outside m does nothing. */
void ln_map_release(const struct ln_map *m, const void *p, size_t bytes);

#endif
