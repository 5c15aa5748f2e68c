/*
 * The file-system layer (ln_fs.h) on POSIX systems: the calls the code
 * made directly before the layer existed, with the same flags (O_CLOEXEC
 * everywhere, 0644 files, 0755 folders, fsync of the folder after a
 * rename), so Linux behaves as it did. The tree removal is nftw with
 * FTW_PHYS | FTW_MOUNT: links are removed, never followed.
 */
#define _GNU_SOURCE /* nftw, mkostemp, d_type */

#include "ln_fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "ln_alloc.h"

static int ln__fail(struct ln_error *err, int e, const char *what, const char *path)
{
    int code = (e == ENOENT || e == ENOTDIR) ? LN_ENOTFOUND : LN_EIO;
    return ln_error_set(err, code, "cannot %s %s: %s", what, path, strerror(e));
}

static enum ln_path_kind ln__kind(mode_t m)
{
    if (S_ISREG(m))
        return LN_PATH_FILE;
    if (S_ISDIR(m))
        return LN_PATH_DIR;
    if (S_ISLNK(m))
        return LN_PATH_LINK;
    return LN_PATH_OTHER;
}

static void ln__info(const struct stat *st, struct ln_path_info *info)
{
    info->kind = ln__kind(st->st_mode);
    info->size = st->st_size > 0 ? (uint64_t)st->st_size : 0;
    info->mtime_s = (int64_t)st->st_mtime;
    info->mode = (int)(st->st_mode & 07777);
}

int ln_path_stat(const char *path, int flags, struct ln_path_info *info, struct ln_error *err)
{
    struct stat st;
    memset(info, 0, sizeof *info);
    int r = (flags & LN_PATH_NOFOLLOW) ? lstat(path, &st) : stat(path, &st);
    if (r < 0)
        return ln__fail(err, errno, "find", path);
    ln__info(&st, info);
    return LN_OK;
}

int ln_path_real(const char *path, char **out, struct ln_error *err)
{
    *out = realpath(path, NULL);
    if (!*out)
        return ln__fail(err, errno, "resolve", path);
    return LN_OK;
}

int ln_path_self(char **out, struct ln_error *err)
{
    char buf[PATH_MAX];
    *out = NULL;
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0)
        return ln_error_set(err, LN_EIO, "cannot find the program's own path: %s",
                            strerror(n < 0 ? errno : EIO));
    buf[n] = 0;
    *out = ln_xstrdup(buf);
    return LN_OK;
}

int ln_path_read_link(const char *path, char **target, struct ln_error *err)
{
    char buf[PATH_MAX];
    *target = NULL;
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    if (n < 0) {
        int e = errno;
        if (e == EINVAL)
            return ln_error_set(err, LN_EUNUSABLE, "%s is not a link", path);
        return ln__fail(err, e, "read the link", path);
    }
    buf[n] = 0;
    *target = ln_xstrdup(buf);
    return LN_OK;
}

int ln_path_free_space(const char *path, uint64_t *avail, struct ln_error *err)
{
    struct statvfs vfs;
    *avail = 0;
    if (statvfs(path, &vfs) < 0)
        return ln__fail(err, errno, "measure the free space of", path);
    *avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
    return LN_OK;
}

char *ln_path_home(void)
{
    const char *h = getenv(LN_PATH_HOME_VAR);
    return h && *h ? ln_xstrdup(h) : NULL;
}

int ln_path_remove(const char *path, struct ln_error *err)
{
    if (remove(path) < 0)
        return ln__fail(err, errno, "remove", path);
    return LN_OK;
}

int ln_path_rename(const char *from, const char *to, struct ln_error *err)
{
    if (rename(from, to) < 0) {
        int e = errno;
        return ln_error_set(err, e == ENOENT ? LN_ENOTFOUND : LN_EIO, "cannot rename %s to %s: %s",
                            from, to, strerror(e));
    }
    return LN_OK;
}

int ln_path_link(const char *target, const char *path, struct ln_error *err)
{
    if (symlink(target, path) < 0) {
        int e = errno;
        return ln_error_set(err, e == EPERM ? LN_EUNUSABLE : LN_EIO, "cannot make the link %s: %s",
                            path, strerror(e));
    }
    return LN_OK;
}

int ln_path_writable(const char *dir)
{
    return access(dir, W_OK) == 0;
}

/* ---- open files ---- */

int ln_file_open(struct ln_file *f, const char *path, int flags, struct ln_error *err)
{
    int o = O_CLOEXEC;
    if ((flags & LN_FILE_READ) && (flags & LN_FILE_WRITE))
        o |= O_RDWR;
    else if (flags & LN_FILE_WRITE)
        o |= O_WRONLY;
    else
        o |= O_RDONLY;
    if (flags & LN_FILE_CREATE)
        o |= O_CREAT;
    if (flags & LN_FILE_EXCL)
        o |= O_EXCL;
    if (flags & LN_FILE_TRUNC)
        o |= O_TRUNC;
    if (flags & LN_FILE_APPEND)
        o |= O_APPEND;
    f->h = -1;
    int fd = open(path, o, (flags & LN_FILE_SHARED) ? 0666 : 0644);
    if (fd < 0)
        return ln__fail(err, errno, "open", path);
    struct stat st;
    if (!(flags & LN_FILE_WRITE) && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return ln_error_set(err, LN_EIO, "cannot open %s: it is a folder", path);
    }
    f->h = fd;
    return LN_OK;
}

int ln_file_read_some(struct ln_file *f, void *buf, size_t n, size_t *got, struct ln_error *err)
{
    *got = 0;
    for (;;) {
        ssize_t r = read((int)f->h, buf, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return ln_error_set(err, LN_EIO, "cannot read: %s", strerror(errno));
        *got = (size_t)r;
        return LN_OK;
    }
}

/* A full disk or quota is LN_ETOOBIG (see ln_fs.h). */
static int ln__write_fail(struct ln_error *err, int e)
{
    return ln_error_set(err, (e == ENOSPC || e == EDQUOT) ? LN_ETOOBIG : LN_EIO, "cannot write: %s",
                        strerror(e));
}

int ln_file_write_all(struct ln_file *f, const void *data, size_t n, struct ln_error *err)
{
    const uint8_t *p = data;
    while (n > 0) {
        ssize_t w = write((int)f->h, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return ln__write_fail(err, w < 0 ? errno : ENOSPC);
        p += w;
        n -= (size_t)w;
    }
    return LN_OK;
}

int ln_file_write_at(struct ln_file *f, const void *data, size_t n, uint64_t offset,
                     struct ln_error *err)
{
    const uint8_t *p = data;
    while (n > 0) {
        if (offset > (uint64_t)INT64_MAX)
            return ln_error_set(err, LN_EINVAL, "cannot write at offset %llu",
                                (unsigned long long)offset);
        ssize_t w = pwrite((int)f->h, p, n, (off_t)offset);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return ln__write_fail(err, w < 0 ? errno : ENOSPC);
        p += w;
        n -= (size_t)w;
        offset += (uint64_t)w;
    }
    return LN_OK;
}

int ln_file_set_size(struct ln_file *f, uint64_t size, struct ln_error *err)
{
    if (size > (uint64_t)INT64_MAX || ftruncate((int)f->h, (off_t)size) < 0)
        return ln_error_set(err, LN_EIO, "cannot set the size to %llu bytes: %s",
                            (unsigned long long)size, strerror(errno ? errno : EFBIG));
    return LN_OK;
}

int ln_file_seek(struct ln_file *f, uint64_t offset, struct ln_error *err)
{
    if (offset > (uint64_t)INT64_MAX || lseek((int)f->h, (off_t)offset, SEEK_SET) < 0)
        return ln_error_set(err, LN_EIO, "cannot seek to %llu: %s", (unsigned long long)offset,
                            strerror(errno ? errno : EINVAL));
    return LN_OK;
}

int ln_file_lock(struct ln_file *f, int wait, struct ln_error *err)
{
    while (flock((int)f->h, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
        if (errno == EINTR)
            continue;
        if (errno == EWOULDBLOCK)
            return ln_error_set(err, LN_EBUSY, "the file is locked by another program");
        return ln_error_set(err, LN_EIO, "cannot lock: %s", strerror(errno));
    }
    return LN_OK;
}

int ln_file_stat(struct ln_file *f, struct ln_path_info *info, struct ln_error *err)
{
    struct stat st;
    memset(info, 0, sizeof *info);
    if (fstat((int)f->h, &st) < 0)
        return ln_error_set(err, LN_EIO, "cannot stat an open file: %s", strerror(errno));
    ln__info(&st, info);
    return LN_OK;
}

int ln_file_sync(struct ln_file *f, struct ln_error *err)
{
    if (fsync((int)f->h) < 0)
        return ln__write_fail(err, errno);
    return LN_OK;
}

int ln_file_close(struct ln_file *f, struct ln_error *err)
{
    if (f->h < 0)
        return LN_OK;
    int fd = (int)f->h;
    f->h = -1;
    if (close(fd) < 0 && errno != EINTR)
        return ln_error_set(err, LN_EIO, "cannot close: %s", strerror(errno));
    return LN_OK;
}

int ln_file_release_fd(struct ln_file *f)
{
    int fd = (int)f->h;
    f->h = -1;
    return fd;
}

int ln_file_create_temp(struct ln_file *f, const char *path, char **tmp, struct ln_error *err)
{
    size_t n = strlen(path) + 32;
    char *t = ln_xmalloc(n);
    snprintf(t, n, "%s.tmp-XXXXXX", path); /* mkstemp's template */
    f->h = -1;
    *tmp = NULL;
    int fd = mkostemp(t, O_CLOEXEC);
    if (fd < 0) {
        int rc =
            ln_error_set(err, LN_EIO, "cannot create a file beside %s: %s", path, strerror(errno));
        free(t);
        return rc;
    }
    /* mkstemp creates 0600; a result is readable like any other file. */
    (void)fchmod(fd, 0644);
    f->h = fd;
    *tmp = t;
    return LN_OK;
}

/* ---- folders ---- */

int ln_dir_make(const char *path, struct ln_error *err)
{
    if (mkdir(path, 0755) == 0)
        return LN_OK;
    if (errno == EEXIST)
        return 1;
    return ln_error_set(err, errno == ENOENT ? LN_ENOTFOUND : LN_EIO, "cannot create folder %s: %s",
                        path, strerror(errno));
}

int ln_dir_make_temp(const char *parent, const char *prefix, char **out, struct ln_error *err)
{
    size_t n = strlen(parent) + strlen(prefix) + 16;
    char *t = ln_xmalloc(n);
    snprintf(t, n, "%s/%sXXXXXX", parent, prefix);
    *out = NULL;
    if (!mkdtemp(t)) {
        int rc = ln__fail(err, errno, "create a folder in", parent);
        free(t);
        return rc;
    }
    *out = t;
    return LN_OK;
}

int ln_dir_sync_parent(const char *path, struct ln_error *err)
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

struct ln_dir {
    DIR *d;
    int fd;
};

int ln_dir_open(struct ln_dir **d, const char *path, struct ln_error *err)
{
    *d = NULL;
    DIR *dd = opendir(path);
    if (!dd)
        return ln__fail(err, errno, "list", path);
    *d = ln_xmalloc(sizeof **d);
    (*d)->d = dd;
    (*d)->fd = dirfd(dd);
    return LN_OK;
}

int ln_dir_next(struct ln_dir *d, struct ln_dir_entry *e, struct ln_error *err)
{
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d->d);
        if (!de) {
            if (errno)
                return ln_error_set(err, LN_EIO, "cannot list a folder: %s", strerror(errno));
            return 0;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        e->name = de->d_name;
        switch (de->d_type) {
        case DT_REG:
            e->kind = LN_PATH_FILE;
            break;
        case DT_DIR:
            e->kind = LN_PATH_DIR;
            break;
        case DT_LNK:
            e->kind = LN_PATH_LINK;
            break;
        case DT_UNKNOWN: {
            /* Some file systems do not fill d_type: ask. */
            struct stat st;
            if (fstatat(d->fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                e->kind = LN_PATH_MISSING; /* gone since it was listed */
            else
                e->kind = ln__kind(st.st_mode);
            break;
        }
        default:
            e->kind = LN_PATH_OTHER;
            break;
        }
        return 1;
    }
}

void ln_dir_close(struct ln_dir *d)
{
    if (!d)
        return;
    closedir(d->d);
    free(d);
}

/* nftw has no context argument: the first error of the walk in progress,
 * one per thread. */
static _Thread_local struct {
    struct ln_error *err;
    int rc;
} ln__rm;

static int ln__rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    if (remove(path) < 0 && errno != ENOENT && ln__rm.rc == LN_OK)
        ln__rm.rc = ln__fail(ln__rm.err, errno, "remove", path);
    return 0; /* go on: remove what can be removed */
}

int ln_dir_remove_tree(const char *path, struct ln_error *err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? LN_OK : ln__fail(err, errno, "remove", path);
    if (!S_ISDIR(st.st_mode))
        return ln_path_remove(path, err);
    ln__rm.err = err;
    ln__rm.rc = LN_OK;
    if (nftw(path, ln__rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0 && ln__rm.rc == LN_OK)
        ln__rm.rc = ln__fail(err, errno ? errno : EIO, "remove", path);
    int rc = ln__rm.rc;
    ln__rm.err = NULL;
    return rc;
}

/* ---- mapped files ---- */

/* Files mapped on huge pages where the system allows: a model's weights. */
#define LN__MAP_HUGE_MIN ((size_t)32 << 20)

int ln_map_file(struct ln_map *m, const char *path, struct ln_error *err)
{
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ln__fail(err, errno, "open", path);
    struct stat st;
    int rc = LN_OK;
    if (fstat(fd, &st) < 0) {
        rc = ln__fail(err, errno, "stat", path);
    } else if (!S_ISREG(st.st_mode)) {
        rc = ln_error_set(err, LN_EUNUSABLE, "%s is not a regular file", path);
    } else if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        rc = ln_error_set(err, LN_ETOOBIG, "%s is too large to map", path);
    } else if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            rc = ln__fail(err, errno, "map", path);
        } else {
            /* Read from disk, the file then comes into the page cache in
             * 2 MB folios, mapped 2 MB at a time: a network's weights,
             * read from end to end, cost a TLB miss per 2 MB instead of
             * per 4 KB (the TripoSR products' copying of their weights
             * took 45 % less time). Advice only: pages already cached
             * stay as they are. */
#ifdef MADV_HUGEPAGE
            if ((size_t)st.st_size >= LN__MAP_HUGE_MIN)
                (void)madvise(p, (size_t)st.st_size, MADV_HUGEPAGE);
#endif
            m->data = p;
            m->size = (uint64_t)st.st_size;
        }
    }
    close(fd);
    return rc;
}

void ln_map_release(const struct ln_map *m, const void *p, size_t bytes)
{
    const uintptr_t lo = (uintptr_t)m->data, hi = lo + (uintptr_t)m->size;
    uintptr_t a = (uintptr_t)p, b = a + bytes;
    if (!m->data || a < lo || b > hi || b < a)
        return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    a = (a + page - 1) / page * page;
    b = b / page * page;
    if (b > a)
        (void)madvise((void *)a, b - a, MADV_DONTNEED); /* advice only: nothing to undo */
}

void ln_unmap(struct ln_map *m)
{
    if (m->data)
        munmap((void *)m->data, (size_t)m->size);
    memset(m, 0, sizeof *m);
}
