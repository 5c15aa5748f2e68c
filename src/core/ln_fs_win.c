/*
 * The file-system layer (ln_fs.h) on Windows, with the wide-character API:
 * every UTF-8 path is converted at the call (MB_ERR_INVALID_CHARS: a path
 * that is not UTF-8 is refused, never guessed), made `\\?\`-absolute when
 * longer than MAX_PATH allows, and every name read back is UTF-8. Files
 * are opened binary, not inherited, and shared for reading, writing and
 * deletion, so that a file being read can be renamed over (the atomic
 * replace) as on Linux. Reparse points (symbolic links, junctions) are
 * never followed by the tree removal: they are removed themselves.
 */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0A00 /* Windows 10 */
#endif

#include "ln_fs.h"

#include <windows.h>
#include <winioctl.h>
#include <bcrypt.h>
#include <fcntl.h>
#include <io.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"

#ifndef ERROR_DISK_QUOTA_EXCEEDED
#define ERROR_DISK_QUOTA_EXCEEDED 1295L /* winerror.h of newer SDKs */
#endif
#ifndef SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE
#define SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE 0x2
#endif

#define LN__SHARE_ALL (FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)

/* Paths at least this long get the \\?\ prefix: CreateDirectoryW's limit
 * (MAX_PATH less room for an 8.3 name) is the lowest of the calls used. */
#define LN__LONG_PATH 240

/* ---- strings and errors ---- */

/* UTF-8 to a new UTF-16 string, NULL when s is not valid UTF-8. */
static wchar_t *ln__wide(const char *s)
{
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
    if (n <= 0)
        return NULL;
    wchar_t *w = ln_xmalloc((size_t)n * sizeof *w);
    if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n) != n) {
        free(w);
        return NULL;
    }
    return w;
}

/* UTF-16 (n characters, or -1: NUL-terminated) to a new UTF-8 string. */
static char *ln__utf8(const wchar_t *w, int n)
{
    int len = WideCharToMultiByte(CP_UTF8, 0, w, n, NULL, 0, NULL, NULL);
    if (len < 0)
        len = 0;
    char *s = ln_xmalloc((size_t)len + 1);
    if (len > 0)
        WideCharToMultiByte(CP_UTF8, 0, w, n, s, len, NULL, NULL);
    s[len] = 0;
    if (n < 0 && len > 0)
        s[len - 1] = 0; /* the converted NUL */
    return s;
}

/* The path as the wide API takes it: converted, and for a long path made
 * absolute, with backslashes, behind \\?\ (or \\?\UNC\ for \\server\share).
 * NULL when the path is not UTF-8. */
static wchar_t *ln__wpath(const char *path)
{
    wchar_t *w = ln__wide(path);
    if (!w || wcslen(w) < LN__LONG_PATH || wcsncmp(w, L"\\\\?\\", 4) == 0)
        return w;
    DWORD n = GetFullPathNameW(w, 0, NULL, NULL);
    if (n == 0)
        return w;
    wchar_t *full = ln_xmalloc(((size_t)n + 8) * sizeof *full);
    DWORD got = GetFullPathNameW(w, n, full + 8, NULL);
    if (got == 0 || got >= n) {
        free(full);
        return w;
    }
    free(w);
    wchar_t *p = full + 8;
    for (wchar_t *c = p; *c; c++)
        if (*c == L'/')
            *c = L'\\';
    if (p[0] == L'\\' && p[1] == L'\\') { /* \\server\share\... */
        /* The two leading backslashes give way to the 8 of \\?\UNC\. */
        memcpy(full + 2, L"\\\\?\\UNC\\", 8 * sizeof *full);
        memmove(full, full + 2, (wcslen(full + 2) + 1) * sizeof *full);
        return full;
    }
    memcpy(full + 4, L"\\\\?\\", 4 * sizeof *full);
    memmove(full, full + 4, (wcslen(full + 4) + 1) * sizeof *full);
    return full;
}

static int ln__code(DWORD e)
{
    switch (e) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_BAD_NETPATH:
    case ERROR_BAD_NET_NAME:
    case ERROR_INVALID_DRIVE:
        return LN_ENOTFOUND;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
        return LN_ENOMEM;
    default:
        return LN_EIO;
    }
}

/* FormatMessageW's text for e, in UTF-8, without its final period and
 * line end. */
static void ln__sys_text(DWORD e, char *out, size_t n)
{
    wchar_t buf[256];
    DWORD len = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, e,
                               0, buf, sizeof buf / sizeof *buf, NULL);
    while (len > 0 && (buf[len - 1] == L'\r' || buf[len - 1] == L'\n' || buf[len - 1] == L' ' ||
                       buf[len - 1] == L'.'))
        len--;
    if (len == 0) {
        snprintf(out, n, "Windows error %lu", (unsigned long)e);
        return;
    }
    char *s = ln__utf8(buf, (int)len);
    snprintf(out, n, "%s", s);
    free(s);
}

static int ln__fail_code(struct ln_error *err, DWORD e, const char *what, const char *path)
{
    char text[200];
    ln__sys_text(e, text, sizeof text);
    return ln_error_set(err, ln__code(e), "cannot %s %s: %s", what, path, text);
}

static int ln__fail(struct ln_error *err, const char *what, const char *path)
{
    return ln__fail_code(err, GetLastError(), what, path);
}

static int ln__not_utf8(struct ln_error *err, const char *path)
{
    return ln_error_set(err, LN_EINVAL, "%s: not a valid UTF-8 path", path);
}

/* Random bytes from the system's generator. */
static int ln__random(void *buf, size_t n)
{
    return BCryptGenRandom(NULL, buf, (ULONG)n, BCRYPT_USE_SYSTEM_PREFERRED_RNG) == 0 ? 0 : -1;
}

/* Six characters of [0-9A-Za-z] into out (mkstemp's XXXXXX). */
static void ln__random_name(char out[7])
{
    static const char set[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    unsigned char r[6];
    if (ln__random(r, sizeof r) < 0) {
        /* No generator: unique enough with the retries on a taken name. */
        LARGE_INTEGER t;
        QueryPerformanceCounter(&t);
        uint64_t x = (uint64_t)t.QuadPart ^ ((uint64_t)GetCurrentThreadId() << 32);
        for (int i = 0; i < 6; i++, x >>= 8)
            r[i] = (unsigned char)(x * 0x9E3779B97F4A7C15ull >> 56);
    }
    for (int i = 0; i < 6; i++)
        out[i] = set[r[i] % 62];
    out[6] = 0;
}

/* ---- paths ---- */

static int64_t ln__unix_time(FILETIME ft)
{
    uint64_t t = ((uint64_t)ft.dwHighDateTime << 32) | ft.dwLowDateTime;
    /* 100 ns ticks since 1601-01-01; 11644473600 s from then to 1970. */
    return (int64_t)(t / 10000000u) - INT64_C(11644473600);
}

/* The kind of an entry by its attributes and reparse tag: a directory
 * reparse point (junction, folder link) or a symbolic link is a link;
 * other reparse points (deduplicated or cloud files) are their files. */
static enum ln_path_kind ln__kind(DWORD attr, DWORD tag)
{
    if (attr & FILE_ATTRIBUTE_REPARSE_POINT) {
        if ((attr & FILE_ATTRIBUTE_DIRECTORY) || tag == IO_REPARSE_TAG_SYMLINK ||
            tag == IO_REPARSE_TAG_MOUNT_POINT)
            return LN_PATH_LINK;
    }
    if (attr & FILE_ATTRIBUTE_DIRECTORY)
        return LN_PATH_DIR;
    if (attr & FILE_ATTRIBUTE_DEVICE)
        return LN_PATH_OTHER;
    return LN_PATH_FILE;
}

static void ln__info_from_handle(const BY_HANDLE_FILE_INFORMATION *bi, struct ln_path_info *info)
{
    info->kind = (bi->dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) ? LN_PATH_DIR : LN_PATH_FILE;
    info->size = ((uint64_t)bi->nFileSizeHigh << 32) | bi->nFileSizeLow;
    info->mtime_s = ln__unix_time(bi->ftLastWriteTime);
    info->mode = -1;
}

int ln_path_stat(const char *path, int flags, struct ln_path_info *info, struct ln_error *err)
{
    memset(info, 0, sizeof *info);
    wchar_t *w = ln__wpath(path);
    if (!w)
        return ln__not_utf8(err, path);
    int rc = LN_OK;
    if (flags & LN_PATH_NOFOLLOW) {
        WIN32_FILE_ATTRIBUTE_DATA a;
        if (!GetFileAttributesExW(w, GetFileExInfoStandard, &a)) {
            rc = ln__fail(err, "find", path);
            goto done;
        }
        DWORD tag = 0;
        if (a.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) {
            WIN32_FIND_DATAW fd;
            HANDLE h = FindFirstFileExW(w, FindExInfoBasic, &fd, FindExSearchNameMatch, NULL, 0);
            if (h != INVALID_HANDLE_VALUE) {
                tag = fd.dwReserved0;
                FindClose(h);
            }
        }
        info->kind = ln__kind(a.dwFileAttributes, tag);
        info->size = ((uint64_t)a.nFileSizeHigh << 32) | a.nFileSizeLow;
        info->mtime_s = ln__unix_time(a.ftLastWriteTime);
        info->mode = -1;
        goto done;
    }
    /* Following links: open what the path leads to (BACKUP_SEMANTICS lets
     * a folder be opened) and ask the handle. */
    HANDLE h = CreateFileW(w, 0, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                           OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        rc = ln__fail(err, "find", path);
        goto done;
    }
    BY_HANDLE_FILE_INFORMATION bi;
    if (!GetFileInformationByHandle(h, &bi))
        rc = ln__fail(err, "stat", path);
    else
        ln__info_from_handle(&bi, info);
    CloseHandle(h);
done:
    free(w);
    return rc;
}

int ln_path_real(const char *path, char **out, struct ln_error *err)
{
    *out = NULL;
    wchar_t *w = ln__wpath(path);
    if (!w)
        return ln__not_utf8(err, path);
    HANDLE h = CreateFileW(w, 0, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                           OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, NULL);
    free(w);
    if (h == INVALID_HANDLE_VALUE)
        return ln__fail(err, "resolve", path);
    int rc = LN_OK;
    DWORD n = GetFinalPathNameByHandleW(h, NULL, 0, FILE_NAME_NORMALIZED | VOLUME_NAME_DOS);
    wchar_t *buf = n ? ln_xmalloc(((size_t)n + 1) * sizeof *buf) : NULL;
    DWORD got =
        buf ? GetFinalPathNameByHandleW(h, buf, n + 1, FILE_NAME_NORMALIZED | VOLUME_NAME_DOS) : 0;
    if (got == 0 || got > n) {
        rc = ln__fail(err, "resolve", path);
    } else {
        /* \\?\C:\x -> C:\x and \\?\UNC\server\share -> \\server\share,
         * the forms other programs (and a user) expect, when short
         * enough to work without the prefix. */
        wchar_t *p = buf;
        if (got < LN__LONG_PATH && wcsncmp(p, L"\\\\?\\UNC\\", 8) == 0) {
            p += 6;
            p[0] = L'\\';
        } else if (got < LN__LONG_PATH && wcsncmp(p, L"\\\\?\\", 4) == 0) {
            p += 4;
        }
        *out = ln__utf8(p, -1);
    }
    free(buf);
    CloseHandle(h);
    return rc;
}

int ln_path_self(char **out, struct ln_error *err)
{
    *out = NULL;
    for (DWORD cap = MAX_PATH; cap <= 32768; cap *= 2) {
        wchar_t *buf = ln_xmalloc(cap * sizeof *buf);
        DWORD n = GetModuleFileNameW(NULL, buf, cap);
        if (n == 0) {
            free(buf);
            return ln__fail(err, "find", "the program's own path");
        }
        if (n < cap) {
            wchar_t *p = buf;
            if (wcsncmp(p, L"\\\\?\\", 4) == 0 && n < LN__LONG_PATH + 4)
                p += 4;
            *out = ln__utf8(p, -1);
            free(buf);
            return LN_OK;
        }
        free(buf);
    }
    return ln_error_set(err, LN_EIO, "cannot find the program's own path: too long");
}

/* REPARSE_DATA_BUFFER's symbolic-link and mount-point forms (ntifs.h,
 * which user-mode headers lack). */
struct ln__reparse {
    ULONG tag;
    USHORT data_len, reserved;
    USHORT sub_off, sub_len, print_off, print_len;
    union {
        struct {
            ULONG flags;
            WCHAR path[1];
        } link;
        struct {
            WCHAR path[1];
        } mount;
    } u;
};
#define LN__SYMLINK_FLAG_RELATIVE 0x1

int ln_path_read_link(const char *path, char **target, struct ln_error *err)
{
    *target = NULL;
    wchar_t *w = ln__wpath(path);
    if (!w)
        return ln__not_utf8(err, path);
    HANDLE h = CreateFileW(w, 0, LN__SHARE_ALL, NULL, OPEN_EXISTING,
                           FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS, NULL);
    free(w);
    if (h == INVALID_HANDLE_VALUE)
        return ln__fail(err, "read the link", path);
    /* MAXIMUM_REPARSE_DATA_BUFFER_SIZE */
    union {
        struct ln__reparse r;
        uint8_t bytes[16 * 1024];
    } *buf = ln_xmalloc(sizeof *buf);
    DWORD got = 0;
    int rc = LN_OK;
    if (!DeviceIoControl(h, FSCTL_GET_REPARSE_POINT, NULL, 0, buf, sizeof *buf, &got, NULL)) {
        DWORD e = GetLastError();
        rc = e == ERROR_NOT_A_REPARSE_POINT
                 ? ln_error_set(err, LN_EUNUSABLE, "%s is not a link", path)
                 : ln__fail_code(err, e, "read the link", path);
    } else {
        const struct ln__reparse *r = &buf->r;
        const WCHAR *base;
        if (r->tag == IO_REPARSE_TAG_SYMLINK)
            base = r->u.link.path;
        else if (r->tag == IO_REPARSE_TAG_MOUNT_POINT)
            base = r->u.mount.path;
        else
            base = NULL;
        /* The print name is what the link was made with; some tools leave
         * it empty, and then the substitute name (absolute ones behind
         * \??\) is used. The offsets are checked against what the system
         * returned. */
        USHORT off = r->print_off, len = r->print_len;
        if (len == 0) {
            off = r->sub_off;
            len = r->sub_len;
        }
        size_t end = base ? (size_t)((const uint8_t *)base - buf->bytes) + off + len : 0;
        if (!base || end > got || (len & 1) || (off & 1)) {
            rc = ln_error_set(err, LN_EUNUSABLE, "%s is not a link", path);
        } else {
            const WCHAR *t = base + off / sizeof(WCHAR);
            int n = (int)(len / sizeof(WCHAR));
            if (n >= 4 && wcsncmp(t, L"\\??\\", 4) == 0) {
                t += 4;
                n -= 4;
            }
            *target = ln__utf8(t, n);
        }
    }
    free(buf);
    CloseHandle(h);
    return rc;
}

int ln_path_free_space(const char *path, uint64_t *avail, struct ln_error *err)
{
    *avail = 0;
    wchar_t *w = ln__wpath(path);
    if (!w)
        return ln__not_utf8(err, path);
    ULARGE_INTEGER free_to_caller;
    int rc = GetDiskFreeSpaceExW(w, &free_to_caller, NULL, NULL)
                 ? LN_OK
                 : ln__fail(err, "measure the free space of", path);
    if (rc == LN_OK)
        *avail = free_to_caller.QuadPart;
    free(w);
    return rc;
}

char *ln_path_home(void)
{
    /* The wide form: getenv's would be in the ANSI code page. */
    const wchar_t *h = _wgetenv(L"" LN_PATH_HOME_VAR);
    return h && *h ? ln__utf8(h, -1) : NULL;
}

/* Removes one entry by its wide path; a read-only file is made writable
 * first (Windows refuses to delete it, POSIX does not care). */
/* Deletes w with POSIX semantics (Windows 10 1709 and later, NTFS): its
 * name goes at once even while a reader still has it open (a result being
 * sent), so the folder that held it can be removed next, as on Linux.
 * FALSE where the system cannot; the caller then deletes the classic way,
 * where the name stays until the last reader closes. A link is deleted
 * itself, never its target. */
static BOOL ln__remove_posix(const wchar_t *w)
{
    HANDLE h = CreateFileW(w, DELETE, LN__SHARE_ALL, NULL, OPEN_EXISTING,
                           FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS, NULL);
    if (h == INVALID_HANDLE_VALUE)
        return FALSE;
    /* FILE_DISPOSITION_INFO_EX: DELETE | POSIX_SEMANTICS |
     * IGNORE_READONLY_ATTRIBUTE, by FileDispositionInfoEx (21). */
    DWORD flags = 0x1 | 0x2 | 0x10;
    BOOL ok = SetFileInformationByHandle(h, (FILE_INFO_BY_HANDLE_CLASS)21, &flags, sizeof flags);
    CloseHandle(h);
    return ok;
}

static BOOL ln__remove_w(const wchar_t *w)
{
    DWORD attr = GetFileAttributesW(w);
    if (attr == INVALID_FILE_ATTRIBUTES)
        return FALSE;
    if (ln__remove_posix(w))
        return TRUE;
    /* A link to a folder is removed as a folder (the link, not its target). */
    if (attr & FILE_ATTRIBUTE_DIRECTORY)
        return RemoveDirectoryW(w);
    if (DeleteFileW(w))
        return TRUE;
    if (GetLastError() == ERROR_ACCESS_DENIED && (attr & FILE_ATTRIBUTE_READONLY) &&
        SetFileAttributesW(w, attr & ~(DWORD)FILE_ATTRIBUTE_READONLY))
        return DeleteFileW(w);
    return FALSE;
}

int ln_path_remove(const char *path, struct ln_error *err)
{
    wchar_t *w = ln__wpath(path);
    if (!w)
        return ln__not_utf8(err, path);
    int rc = ln__remove_w(w) ? LN_OK : ln__fail(err, "remove", path);
    free(w);
    return rc;
}

/* Renames a file over another with POSIX semantics (Windows 10 1709 and
 * later, NTFS): the replaced file may be open in another reader, who
 * keeps reading the old content, as on Linux. MoveFileExW refuses that
 * with ERROR_ACCESS_DENIED. 0 where the system or file system cannot; the
 * caller then tries MoveFileExW, which writes the rename through. */
/* FILE_RENAME_INFO as FileRenameInfoEx reads it (Flags where
 * ReplaceIfExists was); MinGW declares that form only for newer targets. */
struct ln__rename_info {
    DWORD flags;
    HANDLE root;
    DWORD name_len;
    WCHAR name[1];
};
#define LN__RENAME_REPLACE_IF_EXISTS 0x1
#define LN__RENAME_POSIX_SEMANTICS 0x2
#define LN__FILE_RENAME_INFO_EX ((FILE_INFO_BY_HANDLE_CLASS)22)

static int ln__rename_posix(const wchar_t *wf, const wchar_t *wt)
{
    size_t n = wcslen(wt);
    size_t size = offsetof(struct ln__rename_info, name) + (n + 1) * sizeof(wchar_t);
    struct ln__rename_info *ri = ln_xmalloc(size);
    memset(ri, 0, size);
    ri->flags = LN__RENAME_REPLACE_IF_EXISTS | LN__RENAME_POSIX_SEMANTICS;
    ri->name_len = (DWORD)(n * sizeof(wchar_t));
    memcpy(ri->name, wt, n * sizeof(wchar_t));
    int ok = 0;
    /* Write access for the flush that makes the rename durable, as
     * MOVEFILE_WRITE_THROUGH does for MoveFileExW; a link is renamed
     * itself, never the file it points to. */
    HANDLE h = CreateFileW(wf, DELETE | SYNCHRONIZE | GENERIC_WRITE, LN__SHARE_ALL, NULL,
                           OPEN_EXISTING, FILE_FLAG_OPEN_REPARSE_POINT, NULL);
    if (h != INVALID_HANDLE_VALUE) {
        ok = SetFileInformationByHandle(h, LN__FILE_RENAME_INFO_EX, ri, (DWORD)size) != 0;
        if (ok)
            FlushFileBuffers(h);
        CloseHandle(h);
    }
    free(ri);
    return ok;
}

/* The last resort for a file over an open target where neither POSIX
 * semantics nor ReplaceFileW can (Wine): the target is renamed aside
 * (allowed, its readers share deletion), the new file renamed in, and
 * the old one deleted (gone when its last reader closes). Between the two
 * renames the target is missing; a failed second rename puts it back. */
static int ln__replace_aside(const wchar_t *wf, const wchar_t *wt)
{
    size_t n = wcslen(wt);
    wchar_t *aside = ln_xmalloc((n + 16) * sizeof *aside);
    char r[7];
    ln__random_name(r);
    swprintf(aside, n + 16, L"%ls.old-%hs", wt, r);
    int ok = 0;
    if (MoveFileExW(wt, aside, MOVEFILE_WRITE_THROUGH)) {
        if (MoveFileExW(wf, wt, MOVEFILE_WRITE_THROUGH)) {
            ln__remove_w(aside);
            ok = 1;
        } else {
            MoveFileExW(aside, wt, MOVEFILE_WRITE_THROUGH);
        }
    }
    free(aside);
    return ok;
}

int ln_path_rename(const char *from, const char *to, struct ln_error *err)
{
    wchar_t *wf = ln__wpath(from);
    wchar_t *wt = ln__wpath(to);
    int rc = LN_OK;
    if (!wf || !wt) {
        rc = ln__not_utf8(err, !wf ? from : to);
        goto done;
    }
    DWORD attr = GetFileAttributesW(wf);
    int is_file = attr != INVALID_FILE_ATTRIBUTES && !(attr & FILE_ATTRIBUTE_DIRECTORY);
    /* A file never replaces a folder (POSIX: EISDIR). Windows refuses it
     * too, but the fallbacks below would move the folder aside. A link to
     * a folder is replaced, as on POSIX. */
    DWORD tattr = GetFileAttributesW(wt);
    if (is_file && tattr != INVALID_FILE_ATTRIBUTES && (tattr & FILE_ATTRIBUTE_DIRECTORY) &&
        !(tattr & FILE_ATTRIBUTE_REPARSE_POINT)) {
        rc = ln_error_set(err, LN_EIO, "cannot rename %s to %s: the target is a folder", from,
                          to);
        goto done;
    }
    if (is_file && ln__rename_posix(wf, wt))
        goto done;
    DWORD flags = MOVEFILE_WRITE_THROUGH;
    if (is_file)
        flags |= MOVEFILE_REPLACE_EXISTING;
    if (!MoveFileExW(wf, wt, flags)) {
        DWORD e = GetLastError();
        /* Without POSIX semantics (older Windows, FAT, Wine) a target that
         * someone has open cannot be renamed over, but ReplaceFileW can
         * swap it out (a reader keeps the old file): not one atomic step,
         * it restores the target where it fails half way. */
        if (is_file && (e == ERROR_ACCESS_DENIED || e == ERROR_SHARING_VIOLATION) &&
            (ReplaceFileW(wt, wf, NULL, REPLACEFILE_IGNORE_MERGE_ERRORS, NULL, NULL) ||
             ln__replace_aside(wf, wt)))
            goto done;
        char text[200];
        ln__sys_text(e, text, sizeof text);
        rc = ln_error_set(err, ln__code(e), "cannot rename %s to %s: %s", from, to, text);
    }
done:
    free(wf);
    free(wt);
    return rc;
}

int ln_path_link(const char *target, const char *path, struct ln_error *err)
{
    /* A relative target is relative to the link's folder, with
     * backslashes (Windows does not resolve '/' in a relative link). */
    char *t = ln_xstrdup(target);
    for (char *c = t; *c; c++)
        if (*c == '/')
            *c = '\\';
    int absolute = (t[0] && t[1] == ':') || t[0] == '\\';
    char *probe;
    if (absolute) {
        probe = ln_xstrdup(t);
    } else {
        size_t dl = strlen(path);
        while (dl > 0 && !LN_PATH_IS_SEP(path[dl - 1]))
            dl--;
        probe = ln_xmalloc(dl + strlen(t) + 1);
        memcpy(probe, path, dl);
        strcpy(probe + dl, t);
    }
    wchar_t *wt = ln__wide(t);
    wchar_t *wp = ln__wpath(path);
    wchar_t *wprobe = ln__wpath(probe);
    int rc = LN_OK;
    if (!wt || !wp || !wprobe) {
        rc = ln__not_utf8(err, !wp ? path : target);
        goto done;
    }
    DWORD attr = GetFileAttributesW(wprobe);
    DWORD flags = SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE;
    if (attr != INVALID_FILE_ATTRIBUTES && (attr & FILE_ATTRIBUTE_DIRECTORY))
        flags |= SYMBOLIC_LINK_FLAG_DIRECTORY;
    if (!CreateSymbolicLinkW(wp, wt, flags)) {
        DWORD e = GetLastError();
        char text[200];
        ln__sys_text(e, text, sizeof text);
        rc = ln_error_set(err, e == ERROR_PRIVILEGE_NOT_HELD ? LN_EUNUSABLE : ln__code(e),
                          "cannot make the link %s: %s", path, text);
    } else if (GetFileAttributesW(wp) == INVALID_FILE_ATTRIBUTES) {
        /* Wine 8 answers success and makes nothing: refused, in effect. */
        rc = ln_error_set(err, LN_EUNUSABLE,
                          "cannot make the link %s: the system said yes but made none", path);
    }
done:
    free(wt);
    free(wp);
    free(wprobe);
    free(probe);
    free(t);
    return rc;
}

int ln_path_writable(const char *dir)
{
    wchar_t *w = ln__wpath(dir);
    if (!w)
        return 0;
    DWORD attr = GetFileAttributesW(w);
    free(w);
    /* A folder's read-only attribute means nothing to Windows (Explorer
     * uses it for customised folders): an existing folder passes. */
    return attr != INVALID_FILE_ATTRIBUTES && (attr & FILE_ATTRIBUTE_DIRECTORY);
}

/* ---- open files ---- */

int ln_file_open(struct ln_file *f, const char *path, int flags, struct ln_error *err)
{
    f->h = -1;
    wchar_t *w = ln__wpath(path);
    if (!w)
        return ln__not_utf8(err, path);
    DWORD access = 0;
    if ((flags & LN_FILE_READ) || !(flags & LN_FILE_WRITE))
        access |= GENERIC_READ;
    if (flags & LN_FILE_APPEND)
        access |= FILE_APPEND_DATA; /* without FILE_WRITE_DATA: every write at the end */
    else if (flags & LN_FILE_WRITE)
        access |= GENERIC_WRITE;
    DWORD disp;
    if ((flags & LN_FILE_CREATE) && (flags & LN_FILE_EXCL))
        disp = CREATE_NEW;
    else if ((flags & LN_FILE_CREATE) && (flags & LN_FILE_TRUNC))
        disp = CREATE_ALWAYS;
    else if (flags & LN_FILE_CREATE)
        disp = OPEN_ALWAYS;
    else if (flags & LN_FILE_TRUNC)
        disp = TRUNCATE_EXISTING;
    else
        disp = OPEN_EXISTING;
    /* No SECURITY_ATTRIBUTES: the handle is not inherited. */
    HANDLE h = CreateFileW(w, access, LN__SHARE_ALL, NULL, disp, FILE_ATTRIBUTE_NORMAL, NULL);
    int rc = LN_OK;
    if (h == INVALID_HANDLE_VALUE) {
        DWORD e = GetLastError();
        DWORD attr = GetFileAttributesW(w);
        if (e == ERROR_ACCESS_DENIED && attr != INVALID_FILE_ATTRIBUTES &&
            (attr & FILE_ATTRIBUTE_DIRECTORY))
            rc = ln_error_set(err, LN_EIO, "cannot open %s: it is a folder", path);
        else
            rc = ln__fail_code(err, e, "open", path);
    } else {
        f->h = (intptr_t)h;
    }
    free(w);
    return rc;
}

int ln_file_read_some(struct ln_file *f, void *buf, size_t n, size_t *got, struct ln_error *err)
{
    DWORD want = n > (1u << 30) ? (1u << 30) : (DWORD)n;
    DWORD r = 0;
    *got = 0;
    if (!ReadFile((HANDLE)f->h, buf, want, &r, NULL)) {
        if (GetLastError() == ERROR_HANDLE_EOF || GetLastError() == ERROR_BROKEN_PIPE)
            return LN_OK;
        return ln__fail(err, "read", "a file");
    }
    *got = r;
    return LN_OK;
}

/* A full disk or quota is LN_ETOOBIG (see ln_fs.h). */
static int ln__write_fail(struct ln_error *err)
{
    DWORD e = GetLastError();
    if (e == ERROR_DISK_FULL || e == ERROR_HANDLE_DISK_FULL || e == ERROR_DISK_QUOTA_EXCEEDED) {
        char text[200];
        ln__sys_text(e, text, sizeof text);
        return ln_error_set(err, LN_ETOOBIG, "cannot write: %s", text);
    }
    return ln__fail_code(err, e, "write", "a file");
}

int ln_file_write_all(struct ln_file *f, const void *data, size_t n, struct ln_error *err)
{
    const uint8_t *p = data;
    while (n > 0) {
        DWORD want = n > (1u << 30) ? (1u << 30) : (DWORD)n;
        DWORD w = 0;
        if (!WriteFile((HANDLE)f->h, p, want, &w, NULL))
            return ln__write_fail(err);
        if (w == 0)
            return ln_error_set(err, LN_EIO, "cannot write a file: nothing written");
        p += w;
        n -= w;
    }
    return LN_OK;
}

int ln_file_write_at(struct ln_file *f, const void *data, size_t n, uint64_t offset,
                     struct ln_error *err)
{
    /* On a handle opened without FILE_FLAG_OVERLAPPED an OVERLAPPED offset
     * moves the position: it is put back afterwards, as pwrite leaves it. */
    LARGE_INTEGER zero = {0}, pos;
    if (!SetFilePointerEx((HANDLE)f->h, zero, &pos, FILE_CURRENT))
        return ln__fail(err, "write", "a file");
    const uint8_t *p = data;
    int rc = LN_OK;
    while (n > 0) {
        DWORD want = n > (1u << 30) ? (1u << 30) : (DWORD)n;
        DWORD w = 0;
        OVERLAPPED ov = {0};
        ov.Offset = (DWORD)offset;
        ov.OffsetHigh = (DWORD)(offset >> 32);
        if (!WriteFile((HANDLE)f->h, p, want, &w, &ov) || w == 0) {
            rc = ln__write_fail(err);
            break;
        }
        p += w;
        n -= w;
        offset += w;
    }
    SetFilePointerEx((HANDLE)f->h, pos, NULL, FILE_BEGIN);
    return rc;
}

int ln_file_set_size(struct ln_file *f, uint64_t size, struct ln_error *err)
{
    /* Sparse first, so that growing takes no disk space on NTFS; a file
     * system without sparse files says no and the size is set anyway. */
    DWORD ret = 0;
    DeviceIoControl((HANDLE)f->h, FSCTL_SET_SPARSE, NULL, 0, NULL, 0, &ret, NULL);
    FILE_END_OF_FILE_INFO eof;
    eof.EndOfFile.QuadPart = (LONGLONG)size;
    if (size > (uint64_t)INT64_MAX ||
        !SetFileInformationByHandle((HANDLE)f->h, FileEndOfFileInfo, &eof, sizeof eof))
        return ln__fail(err, "set the size of", "a file");
    return LN_OK;
}

int ln_file_seek(struct ln_file *f, uint64_t offset, struct ln_error *err)
{
    LARGE_INTEGER to;
    to.QuadPart = (LONGLONG)offset;
    if (offset > (uint64_t)INT64_MAX || !SetFilePointerEx((HANDLE)f->h, to, NULL, FILE_BEGIN))
        return ln__fail(err, "seek in", "a file");
    return LN_OK;
}

int ln_file_lock(struct ln_file *f, int wait, struct ln_error *err)
{
    OVERLAPPED ov = {0};
    DWORD flags = LOCKFILE_EXCLUSIVE_LOCK | (wait ? 0 : LOCKFILE_FAIL_IMMEDIATELY);
    if (LockFileEx((HANDLE)f->h, flags, 0, MAXDWORD, MAXDWORD, &ov))
        return LN_OK;
    if (GetLastError() == ERROR_LOCK_VIOLATION)
        return ln_error_set(err, LN_EBUSY, "the file is locked by another program");
    return ln__fail(err, "lock", "a file");
}

int ln_file_stat(struct ln_file *f, struct ln_path_info *info, struct ln_error *err)
{
    memset(info, 0, sizeof *info);
    BY_HANDLE_FILE_INFORMATION bi;
    if (!GetFileInformationByHandle((HANDLE)f->h, &bi))
        return ln__fail(err, "stat", "an open file");
    ln__info_from_handle(&bi, info);
    return LN_OK;
}

int ln_file_sync(struct ln_file *f, struct ln_error *err)
{
    if (!FlushFileBuffers((HANDLE)f->h))
        return ln__write_fail(err);
    return LN_OK;
}

int ln_file_close(struct ln_file *f, struct ln_error *err)
{
    if (f->h == -1)
        return LN_OK;
    HANDLE h = (HANDLE)f->h;
    f->h = -1;
    if (!CloseHandle(h))
        return ln__fail(err, "close", "a file");
    return LN_OK;
}

int ln_file_release_fd(struct ln_file *f)
{
    /* libmicrohttpd reads a file response on Windows through
     * _get_osfhandle and ReadFile, and closes it with close(). */
    int fd = _open_osfhandle(f->h, _O_RDONLY | _O_BINARY | _O_NOINHERIT);
    if (fd < 0)
        CloseHandle((HANDLE)f->h);
    f->h = -1;
    return fd;
}

int ln_file_create_temp(struct ln_file *f, const char *path, char **tmp, struct ln_error *err)
{
    size_t n = strlen(path) + 16;
    char *t = ln_xmalloc(n);
    f->h = -1;
    *tmp = NULL;
    for (int attempt = 0; attempt < 100; attempt++) {
        char r[7];
        ln__random_name(r);
        snprintf(t, n, "%s.tmp-%s", path, r);
        wchar_t *w = ln__wpath(t);
        if (!w) {
            free(t);
            return ln__not_utf8(err, path);
        }
        HANDLE h = CreateFileW(w, GENERIC_READ | GENERIC_WRITE, LN__SHARE_ALL, NULL, CREATE_NEW,
                               FILE_ATTRIBUTE_NORMAL, NULL);
        DWORD e = GetLastError();
        free(w);
        if (h != INVALID_HANDLE_VALUE) {
            f->h = (intptr_t)h;
            *tmp = t;
            return LN_OK;
        }
        if (e != ERROR_FILE_EXISTS && e != ERROR_ALREADY_EXISTS) {
            /* LN_EIO whatever the cause, as on POSIX: a missing folder
             * here is a failed write, not a missing input. */
            char text[200];
            ln__sys_text(e, text, sizeof text);
            int rc = ln_error_set(err, LN_EIO, "cannot create a file beside %s: %s", path, text);
            free(t);
            return rc;
        }
    }
    free(t);
    return ln_error_set(err, LN_EIO, "cannot create a file beside %s: every name tried is taken",
                        path);
}

/* ---- folders ---- */

int ln_dir_make(const char *path, struct ln_error *err)
{
    wchar_t *w = ln__wpath(path);
    if (!w)
        return ln__not_utf8(err, path);
    int rc = LN_OK;
    if (!CreateDirectoryW(w, NULL)) {
        DWORD e = GetLastError();
        /* "C:" and "\\server\share" are not made, they are there. */
        if (e == ERROR_ALREADY_EXISTS || e == ERROR_ACCESS_DENIED)
            rc = GetFileAttributesW(w) != INVALID_FILE_ATTRIBUTES
                     ? 1
                     : ln__fail_code(err, e, "create folder", path);
        else
            rc = ln__fail_code(err, e, "create folder", path);
    }
    free(w);
    return rc;
}

int ln_dir_make_temp(const char *parent, const char *prefix, char **out, struct ln_error *err)
{
    size_t n = strlen(parent) + strlen(prefix) + 16;
    char *t = ln_xmalloc(n);
    *out = NULL;
    for (int attempt = 0; attempt < 100; attempt++) {
        char r[7];
        ln__random_name(r);
        snprintf(t, n, "%s/%s%s", parent, prefix, r);
        int rc = ln_dir_make(t, err);
        if (rc == LN_OK) {
            *out = t;
            return LN_OK;
        }
        if (rc < 0) {
            free(t);
            return rc;
        }
    }
    free(t);
    return ln_error_set(err, LN_EIO, "cannot create a folder in %s: every name tried is taken",
                        parent);
}

int ln_dir_sync_parent(const char *path, struct ln_error *err)
{
    /* Windows cannot flush a folder; MOVEFILE_WRITE_THROUGH made the
     * rename durable before it returned. */
    return LN_OK;
}

struct ln_dir {
    HANDLE h;
    WIN32_FIND_DATAW fd;
    int have; /* fd holds an entry not yet returned */
    char *name;
};

int ln_dir_open(struct ln_dir **d, const char *path, struct ln_error *err)
{
    *d = NULL;
    size_t n = strlen(path);
    char *pattern = ln_xmalloc(n + 3);
    memcpy(pattern, path, n);
    if (n > 0 && !LN_PATH_IS_SEP(path[n - 1]))
        pattern[n++] = '\\';
    pattern[n++] = '*';
    pattern[n] = 0;
    wchar_t *w = ln__wpath(pattern);
    free(pattern);
    if (!w)
        return ln__not_utf8(err, path);
    struct ln_dir *dd = ln_xmalloc(sizeof *dd);
    memset(dd, 0, sizeof *dd);
    dd->h = FindFirstFileExW(w, FindExInfoBasic, &dd->fd, FindExSearchNameMatch, NULL,
                             FIND_FIRST_EX_LARGE_FETCH);
    DWORD e = GetLastError();
    free(w);
    if (dd->h == INVALID_HANDLE_VALUE) {
        free(dd);
        return ln__fail_code(err, e, "list", path);
    }
    dd->have = 1;
    *d = dd;
    return LN_OK;
}

int ln_dir_next(struct ln_dir *d, struct ln_dir_entry *e, struct ln_error *err)
{
    for (;;) {
        if (!d->have) {
            if (!FindNextFileW(d->h, &d->fd)) {
                if (GetLastError() == ERROR_NO_MORE_FILES)
                    return 0;
                return ln__fail(err, "list", "a folder");
            }
        }
        d->have = 0;
        const wchar_t *nm = d->fd.cFileName;
        if (wcscmp(nm, L".") == 0 || wcscmp(nm, L"..") == 0)
            continue;
        free(d->name);
        d->name = ln__utf8(nm, -1);
        e->name = d->name;
        e->kind = ln__kind(d->fd.dwFileAttributes, d->fd.dwReserved0);
        return 1;
    }
}

void ln_dir_close(struct ln_dir *d)
{
    if (!d)
        return;
    FindClose(d->h);
    free(d->name);
    free(d);
}

/* Depth first; a link or junction is removed as an entry, its target
 * never entered. Keeps going past failures, returning the first. */
static int ln__remove_tree(const char *path, struct ln_error *err)
{
    struct ln_dir *d;
    int first = LN_OK;
    int rc = ln_dir_open(&d, path, err);
    if (rc < 0)
        return rc;
    struct ln_dir_entry e;
    struct ln_error sub = {0};
    while ((rc = ln_dir_next(d, &e, &sub)) > 0) {
        size_t n = strlen(path) + strlen(e.name) + 2;
        char *child = ln_xmalloc(n);
        snprintf(child, n, "%s\\%s", path, e.name);
        int r = e.kind == LN_PATH_DIR ? ln__remove_tree(child, &sub) : ln_path_remove(child, &sub);
        if (r < 0 && r != LN_ENOTFOUND && first == LN_OK)
            first = ln_error_set(err, r, "%s", sub.message);
        free(child);
    }
    if (rc < 0 && first == LN_OK)
        first = ln_error_set(err, rc, "%s", sub.message);
    ln_dir_close(d);
    rc = ln_path_remove(path, &sub);
    if (rc < 0 && rc != LN_ENOTFOUND && first == LN_OK)
        first = ln_error_set(err, rc, "%s", sub.message);
    return first;
}

int ln_dir_remove_tree(const char *path, struct ln_error *err)
{
    struct ln_path_info info;
    int rc = ln_path_stat(path, LN_PATH_NOFOLLOW, &info, err);
    if (rc == LN_ENOTFOUND)
        return LN_OK;
    if (rc < 0)
        return rc;
    if (info.kind != LN_PATH_DIR)
        return ln_path_remove(path, err);
    return ln__remove_tree(path, err);
}

/* ---- mapped files ---- */

int ln_map_file(struct ln_map *m, const char *path, struct ln_error *err)
{
    memset(m, 0, sizeof *m);
    struct ln_path_info pre;
    int rc = ln_path_stat(path, 0, &pre, err);
    if (rc < 0)
        return rc;
    if (pre.kind != LN_PATH_FILE)
        return ln_error_set(err, LN_EUNUSABLE, "%s is not a regular file", path);
    struct ln_file f;
    rc = ln_file_open(&f, path, LN_FILE_READ, err);
    if (rc < 0)
        return rc;
    struct ln_path_info info;
    if ((rc = ln_file_stat(&f, &info, err)) < 0)
        goto done;
    if (info.kind != LN_PATH_FILE) {
        rc = ln_error_set(err, LN_EUNUSABLE, "%s is not a regular file", path);
        goto done;
    }
    if (info.size > (uint64_t)SIZE_MAX) {
        rc = ln_error_set(err, LN_ETOOBIG, "%s is too large to map", path);
        goto done;
    }
    if (info.size == 0)
        goto done;
    HANDLE map = CreateFileMappingW((HANDLE)f.h, NULL, PAGE_READONLY, 0, 0, NULL);
    if (!map) {
        rc = ln__fail(err, "map", path);
        goto done;
    }
    void *p = MapViewOfFile(map, FILE_MAP_READ, 0, 0, 0);
    if (!p) {
        rc = ln__fail(err, "map", path);
        CloseHandle(map);
        goto done;
    }
    m->data = p;
    m->size = info.size;
    m->h = (intptr_t)map;
done:
    ln_file_close(&f, NULL);
    return rc;
}

void ln_map_release(const struct ln_map *m, const void *p, size_t bytes)
{
    const uintptr_t lo = (uintptr_t)m->data, hi = lo + (uintptr_t)m->size;
    uintptr_t a = (uintptr_t)p, b = a + bytes;
    if (!m->data || a < lo || b > hi || b < a)
        return;
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    const uintptr_t page = si.dwPageSize;
    a = (a + page - 1) / page * page;
    b = b / page * page;
    /* Pages that are not locked leave the working set (and the call
     * reports ERROR_NOT_LOCKED, which is what is wanted here). */
    if (b > a)
        (void)VirtualUnlock((void *)a, b - a);
}

void ln_unmap(struct ln_map *m)
{
    if (m->data)
        UnmapViewOfFile((void *)m->data);
    if (m->h)
        CloseHandle((HANDLE)m->h);
    memset(m, 0, sizeof *m);
}
