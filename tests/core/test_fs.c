/* Unit tests of the file-system layer (ln_fs.h), written once for every
 * system: they run on Linux in every build and, cross-built, on Windows
 * (or under Wine), where they check the wide-character forms: UTF-8 names,
 * long paths, replacing a file that is open, links not followed. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_error.h"
#include "ln_file.h"
#include "ln_fs.h"

#ifdef _WIN32
#include <windows.h>
#endif

/* 1 under Wine, whose file functions lack a few of Windows' abilities
 * (each use says which). */
static int under_wine(void)
{
#ifdef _WIN32
    HMODULE ntdll = GetModuleHandleA("ntdll.dll");
    return ntdll && GetProcAddress(ntdll, "wine_get_version") != NULL;
#else
    return 0;
#endif
}

/* Fails the test with the layer's message unless expr (a call that fills
 * err) returns LN_OK. */
static void write_file(const char *path, const char *text)
{
    struct ln_error err = {0};
    if (ln_file_write_atomic(path, text, strlen(text), &err) < 0)
        fail_msg("%s", err.message);
}

static void assert_content(const char *path, const char *text)
{
    size_t len;
    uint8_t *data = ln_test_read(path, &len);
    assert_int_equal(len, strlen(text));
    assert_memory_equal(data, text, len);
    free(data);
}

static int count_entries(const char *dir)
{
    struct ln_dir *d;
    struct ln_dir_entry e;
    struct ln_error err = {0};
    if (ln_dir_open(&d, dir, &err) < 0)
        fail_msg("%s", err.message);
    int n = 0, rc;
    while ((rc = ln_dir_next(d, &e, &err)) > 0)
        n++;
    assert_int_equal(rc, 0);
    ln_dir_close(d);
    return n;
}

static void test_open_read_write_stat(void **state)
{
    const char *dir = ln_test_tmpdir("fs_open");
    char *path = ln_test_path(dir, "a.bin");
    struct ln_error err = {0};
    struct ln_file f;
    /* Bytes that text mode would change: CR LF, LF, and Ctrl-Z (0x1A). */
    const char bytes[] = {'a', '\r', '\n', 'b', '\n', 0x1a, 'c', 0};
    assert_int_equal(ln_file_open(&f, path, LN_FILE_WRITE | LN_FILE_CREATE | LN_FILE_EXCL, &err),
                     0);
    assert_ok(ln_file_write_all(&f, bytes, sizeof bytes, &err), err);
    assert_ok(ln_file_write_at(&f, "B", 1, 3, &err), err);
    assert_ok(ln_file_write_all(&f, "!", 1, &err), err); /* the position did not move */
    assert_ok(ln_file_sync(&f, &err), err);
    assert_ok(ln_file_close(&f, &err), err);
    assert_int_equal(f.h, -1);
    /* EXCL on an existing file fails. */
    assert_true(ln_file_open(&f, path, LN_FILE_WRITE | LN_FILE_CREATE | LN_FILE_EXCL, &err) < 0);

    struct ln_path_info info;
    assert_ok(ln_path_stat(path, 0, &info, &err), err);
    assert_int_equal(info.kind, LN_PATH_FILE);
    assert_int_equal(info.size, sizeof bytes + 1);
    assert_true(info.mtime_s > 1700000000);

    assert_ok(ln_file_open(&f, path, LN_FILE_READ, &err), err);
    char buf[64];
    size_t got = 0, total = 0;
    do {
        assert_ok(ln_file_read_some(&f, buf + total, sizeof buf - total, &got, &err), err);
        total += got;
    } while (got > 0);
    assert_int_equal(total, sizeof bytes + 1);
    assert_memory_equal(buf, "a\r\nB\n\032c\0!", total); /* \032: Ctrl-Z */
    assert_ok(ln_file_stat(&f, &info, &err), err);
    assert_int_equal(info.size, total);
    /* Handed over as a C runtime descriptor, the file reads the same. */
    int fd = ln_file_release_fd(&f);
    assert_true(fd >= 0);
    assert_int_equal(f.h, -1);
    FILE *fp = fdopen(fd, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_SET), 0); /* it was read to the end */
    assert_int_equal(fread(buf, 1, sizeof buf, fp), total);
    assert_memory_equal(buf, "a\r\nB\n\032c\0!", total); /* \032: Ctrl-Z */
    fclose(fp);

    /* Appending, and truncating. */
    assert_ok(ln_file_open(&f, path, LN_FILE_WRITE | LN_FILE_APPEND, &err), err);
    assert_ok(ln_file_write_all(&f, "++", 2, &err), err);
    assert_ok(ln_file_close(&f, &err), err);
    assert_ok(ln_path_stat(path, 0, &info, &err), err);
    assert_int_equal(info.size, total + 2);
    assert_ok(ln_file_open(&f, path, LN_FILE_WRITE | LN_FILE_TRUNC, &err), err);
    assert_ok(ln_file_close(&f, &err), err);
    assert_ok(ln_path_stat(path, 0, &info, &err), err);
    assert_int_equal(info.size, 0);

    /* Missing paths, and a folder where a file is expected. */
    char *missing = ln_test_path(dir, "missing/x");
    assert_int_equal(ln_file_open(&f, missing, LN_FILE_READ, &err), LN_ENOTFOUND);
    assert_non_null(strstr(err.message, "missing"));
    assert_int_equal(ln_path_stat(missing, 0, &info, NULL), LN_ENOTFOUND);
    assert_int_equal(info.kind, LN_PATH_MISSING);
    assert_int_equal(ln_file_open(&f, dir, LN_FILE_READ, &err), LN_EIO);
    uint8_t *data;
    size_t len;
    assert_true(ln_file_read(dir, 100, &data, &len, &err) < 0);
    assert_ok(ln_path_stat(dir, 0, &info, &err), err);
    assert_int_equal(info.kind, LN_PATH_DIR);
    free(missing);
    free(path);
}

/* A reader holding the old file while it is replaced keeps reading the
 * old content; a new reader gets the new one. On Windows this needs the
 * reader's FILE_SHARE_DELETE. */
static void test_replace_while_open(void **state)
{
    const char *dir = ln_test_tmpdir("fs_replace_open");
    char *path = ln_test_path(dir, "jobs.json");
    struct ln_error err = {0};
    write_file(path, "old content");
    struct ln_file reader;
    assert_ok(ln_file_open(&reader, path, LN_FILE_READ, &err), err);
    char buf[32];
    size_t got;
    assert_ok(ln_file_read_some(&reader, buf, 4, &got, &err), err);
    assert_int_equal(got, 4);
    if (ln_file_write_atomic(path, "new content!", 12, &err) < 0)
        fail_msg("replacing an open file: %s", err.message);
    assert_ok(ln_file_read_some(&reader, buf + 4, sizeof buf - 4, &got, &err), err);
    assert_int_equal(4 + got, 11);
    assert_memory_equal(buf, "old content", 11);
    assert_ok(ln_file_close(&reader, &err), err);
    assert_content(path, "new content!");
    assert_int_equal(count_entries(dir), 1); /* no temporary left behind */

    /* The streamed form: aborted, nothing changes and nothing is left. */
    struct ln_file_atomic a;
    assert_ok(ln_file_atomic_open(&a, path, &err), err);
    assert_ok(ln_file_atomic_write(&a, "partial", 7, &err), err);
    assert_int_equal(count_entries(dir), 2);
    ln_file_atomic_abort(&a);
    assert_int_equal(count_entries(dir), 1);
    assert_content(path, "new content!");
    free(path);
}

/* A file a reader holds open can be removed, and then its folder: a job
 * deleted while one of its results is being sent. */
static void test_remove_while_open(void **state)
{
    const char *dir = ln_test_tmpdir("fs_remove_open");
    char *sub = ln_test_path(dir, "job");
    char *path = ln_test_path(sub, "model.glb");
    struct ln_error err = {0};
    assert_ok(ln_dir_make(sub, &err), err);
    write_file(path, "glTF");
    if (under_wine()) {
        /* Wine 8 deletes the classic Windows way: the name of a file
         * still open stays until it is closed, so its folder is not
         * empty yet. Windows 10 1709 and later on NTFS delete with POSIX
         * semantics, which this checks. */
        print_message("skipped: Wine has no POSIX deletion semantics\n");
        free(path);
        free(sub);
        skip();
    }
    struct ln_file reader;
    assert_ok(ln_file_open(&reader, path, LN_FILE_READ, &err), err);
    assert_ok(ln_dir_remove_tree(sub, &err), err);
    struct ln_path_info info;
    assert_int_equal(ln_path_stat(sub, LN_PATH_NOFOLLOW, &info, NULL), LN_ENOTFOUND);
    char buf[8];
    size_t got;
    assert_ok(ln_file_read_some(&reader, buf, sizeof buf, &got, &err), err);
    assert_int_equal(got, 4);
    assert_memory_equal(buf, "glTF", 4);
    assert_ok(ln_file_close(&reader, &err), err);
    free(path);
    free(sub);
}

static void test_rename_over_existing(void **state)
{
    const char *dir = ln_test_tmpdir("fs_rename");
    char *a = ln_test_path(dir, "a.txt");
    char *b = ln_test_path(dir, "b.txt");
    char *sub = ln_test_path(dir, "sub");
    char *sub2 = ln_test_path(dir, "sub2");
    struct ln_error err = {0};
    write_file(a, "from a");
    write_file(b, "from b");
    assert_ok(ln_path_rename(a, b, &err), err);
    assert_content(b, "from a");
    struct ln_path_info info;
    assert_int_equal(ln_path_stat(a, 0, &info, NULL), LN_ENOTFOUND);
    assert_int_equal(ln_path_rename(a, b, &err), LN_ENOTFOUND);
    /* Folders: made (a second make says it exists), renamed, removed. */
    assert_ok(ln_dir_make(sub, &err), err);
    assert_int_equal(ln_dir_make(sub, &err), 1);
    char *inner = ln_test_path(sub, "x");
    write_file(inner, "x");
    free(inner);
    assert_ok(ln_path_rename(sub, sub2, &err), err);
    inner = ln_test_path(sub2, "x");
    assert_content(inner, "x");
    /* A file never replaces a folder (POSIX: EISDIR): LN_EIO, both stay. */
    assert_int_equal(ln_path_rename(b, sub2, &err), LN_EIO);
    assert_content(b, "from a");
    assert_content(inner, "x");
    assert_true(ln_path_remove(sub2, &err) < 0); /* not empty */
    assert_ok(ln_path_remove(inner, &err), err);
    assert_int_equal(ln_path_remove(inner, &err), LN_ENOTFOUND);
    assert_ok(ln_path_remove(sub2, &err), err);
    assert_int_equal(count_entries(dir), 1);
    /* mkdirs makes the parents, and accepts what exists. */
    char *deep = ln_test_path(dir, "p/q/r");
    assert_ok(ln_file_mkdirs(deep, &err), err);
    assert_ok(ln_file_mkdirs(deep, &err), err);
    assert_ok(ln_path_stat(deep, 0, &info, &err), err);
    assert_int_equal(info.kind, LN_PATH_DIR);
    free(deep);
    free(inner);
    free(a);
    free(b);
    free(sub);
    free(sub2);
}

static void test_temp_folder(void **state)
{
    const char *dir = ln_test_tmpdir("fs_temp");
    struct ln_error err = {0};
    char *t1, *t2;
    assert_ok(ln_dir_make_temp(dir, ".staging-", &t1, &err), err);
    assert_ok(ln_dir_make_temp(dir, ".staging-", &t2, &err), err);
    assert_string_not_equal(t1, t2);
    const char *base = t1 + strlen(dir) + 1;
    assert_int_equal(strncmp(base, ".staging-", 9), 0);
    assert_int_equal(strlen(base), 9 + 6);
    struct ln_path_info info;
    assert_ok(ln_path_stat(t1, 0, &info, &err), err);
    assert_int_equal(info.kind, LN_PATH_DIR);
    assert_true(ln_path_writable(t1));
    assert_int_equal(count_entries(dir), 2);
    char *missing = ln_test_path(dir, "missing");
    char *t3 = NULL;
    assert_true(ln_dir_make_temp(missing, "x", &t3, &err) < 0);
    assert_null(t3);
    free(missing);
    free(t1);
    free(t2);
}

/* Makes a link, or skips the test (cmocka's skip, with the reason
 * printed) where the system refuses: Windows without Developer Mode or
 * administrator rights. */
static void link_or_skip(const char *target, const char *path)
{
    struct ln_error err = {0};
    int rc = ln_path_link(target, path, &err);
    if (rc == LN_EUNUSABLE) {
        print_message("skipped: this system refuses symbolic links here (%s)\n", err.message);
        skip();
    }
    if (rc < 0)
        fail_msg("%s", err.message);
}

/* The removal of a tree removes a link inside it, never what it points
 * to, even when that is a folder full of files. */
static void test_remove_tree_keeps_link_target(void **state)
{
    const char *dir = ln_test_tmpdir("fs_remove_tree");
    struct ln_error err = {0};
    char *keep = ln_test_path(dir, "keep");
    char *keep_file = ln_test_path(keep, "precious.txt");
    char *tree = ln_test_path(dir, "tree");
    char *deep = ln_test_path(tree, "a/b/c");
    char *deep_file = ln_test_path(deep, "f.bin");
    char *link_dir = ln_test_path(tree, "a/to-keep");
    char *link_file = ln_test_path(tree, "a/b/to-precious");
    assert_ok(ln_file_mkdirs(keep, &err), err);
    write_file(keep_file, "do not remove");
    assert_ok(ln_file_mkdirs(deep, &err), err);
    write_file(deep_file, "x");

    /* Relative targets, as the Hugging Face cache has them. */
    link_or_skip("../../keep", link_dir);
    link_or_skip("../../../keep/precious.txt", link_file);
    struct ln_path_info info;
    assert_ok(ln_path_stat(link_dir, LN_PATH_NOFOLLOW, &info, &err), err);
    assert_int_equal(info.kind, LN_PATH_LINK);
    assert_ok(ln_path_stat(link_dir, 0, &info, &err), err);
    assert_int_equal(info.kind, LN_PATH_DIR);
    assert_ok(ln_path_stat(link_file, 0, &info, &err), err);
    assert_int_equal(info.kind, LN_PATH_FILE);
    assert_int_equal(info.size, 13);
    /* Listing names the link as a link. */
    char *a = ln_test_path(tree, "a");
    struct ln_dir *d;
    struct ln_dir_entry e;
    int n_links = 0, n_dirs = 0, rc;
    assert_ok(ln_dir_open(&d, a, &err), err);
    while ((rc = ln_dir_next(d, &e, &err)) > 0) {
        n_links += e.kind == LN_PATH_LINK && strcmp(e.name, "to-keep") == 0;
        n_dirs += e.kind == LN_PATH_DIR && strcmp(e.name, "b") == 0;
    }
    assert_int_equal(rc, 0);
    ln_dir_close(d);
    assert_int_equal(n_links, 1);
    assert_int_equal(n_dirs, 1);
    /* The link reads back as it was written (with backslashes on
     * Windows). */
    char *target;
    assert_ok(ln_path_read_link(link_file, &target, &err), err);
    for (char *c = target; *c; c++)
        if (*c == '\\')
            *c = '/';
    assert_string_equal(target, "../../../keep/precious.txt");
    free(target);
    assert_int_equal(ln_path_read_link(keep_file, &target, &err), LN_EUNUSABLE);
    /* The resolved path of the link is the target's. */
    char *real_link, *real_target;
    assert_ok(ln_path_real(link_file, &real_link, &err), err);
    assert_ok(ln_path_real(keep_file, &real_target, &err), err);
    assert_string_equal(real_link, real_target);
    free(real_link);
    free(real_target);

    assert_ok(ln_dir_remove_tree(tree, &err), err);
    assert_int_equal(ln_path_stat(tree, LN_PATH_NOFOLLOW, &info, NULL), LN_ENOTFOUND);
    assert_content(keep_file, "do not remove");
    assert_int_equal(count_entries(keep), 1);
    /* Removing what is not there is no error. */
    assert_ok(ln_dir_remove_tree(tree, &err), err);
    free(a);
    free(keep);
    free(keep_file);
    free(tree);
    free(deep);
    free(deep_file);
    free(link_dir);
    free(link_file);
}

/* Names outside ASCII round-trip through make, list, stat and open. */
static void test_utf8_names(void **state)
{
    const char *dir = ln_test_tmpdir("fs_utf8");
    struct ln_error err = {0};
    /* "Modèle", "模型" (Chinese), "αβγ", and an emoji outside the BMP
     * (a surrogate pair in UTF-16). */
    const char *names[] = {"Mod\xc3\xa8le.glb", "\xe6\xa8\xa1\xe5\x9e\x8b",
                           "\xce\xb1\xce\xb2\xce\xb3", "\xf0\x9f\x97\xbf.txt"};
    const size_t n_names = sizeof names / sizeof *names;
    for (size_t i = 0; i < n_names; i++) {
        char *p = ln_test_path(dir, names[i]);
        if (i == 1) {
            assert_ok(ln_dir_make(p, &err), err);
        } else {
            write_file(p, names[i]);
        }
        free(p);
    }
    struct ln_dir *d;
    struct ln_dir_entry e;
    int seen[4] = {0};
    int rc;
    assert_ok(ln_dir_open(&d, dir, &err), err);
    while ((rc = ln_dir_next(d, &e, &err)) > 0) {
        int found = 0;
        for (size_t i = 0; i < n_names; i++) {
            if (strcmp(e.name, names[i]) == 0) {
                seen[i]++;
                found = 1;
                assert_int_equal(e.kind, i == 1 ? LN_PATH_DIR : LN_PATH_FILE);
            }
        }
        if (!found)
            fail_msg("unexpected name \"%s\" in the listing", e.name);
    }
    assert_int_equal(rc, 0);
    ln_dir_close(d);
    for (size_t i = 0; i < n_names; i++) {
        assert_int_equal(seen[i], 1);
        char *p = ln_test_path(dir, names[i]);
        struct ln_path_info info;
        assert_ok(ln_path_stat(p, 0, &info, &err), err);
        if (i != 1)
            assert_content(p, names[i]);
        free(p);
    }
    /* Bytes that are not UTF-8 are refused on Windows (never guessed);
     * POSIX takes any bytes. */
    char bad[64];
    snprintf(bad, sizeof bad, "%s/\xff\xfe", dir);
#ifdef _WIN32
    struct ln_file f;
    assert_int_equal(ln_file_open(&f, bad, LN_FILE_WRITE | LN_FILE_CREATE, &err), LN_EINVAL);
#endif
    (void)bad;
}

/* A path longer than Windows' MAX_PATH (260) works through every call. */
static void test_long_path(void **state)
{
    const char *dir = ln_test_tmpdir("fs_long");
    struct ln_error err = {0};
    char part[61];
    memset(part, 'd', 60);
    part[60] = 0;
    size_t cap = strlen(dir) + 6 * 62 + 32;
    char *deep = malloc(cap);
    snprintf(deep, cap, "%s", dir);
    for (int i = 0; i < 5; i++) {
        part[0] = (char)('0' + i);
        strcat(deep, "/");
        strcat(deep, part);
    }
    assert_true(strlen(deep) > 300);
    assert_ok(ln_file_mkdirs(deep, &err), err);
    char *file = ln_test_path(deep, "a-result-with-a-long-name.glb");
    write_file(file, "long");
    assert_content(file, "long");
    struct ln_path_info info;
    assert_ok(ln_path_stat(file, 0, &info, &err), err);
    assert_int_equal(info.size, 4);
    assert_int_equal(count_entries(deep), 1);
    char *real;
    if (under_wine()) {
        /* Wine 8's GetFinalPathNameByHandleW answers ERROR_MORE_DATA past
         * MAX_PATH, whatever the buffer. */
        print_message("not checked under Wine: ln_path_real of a long path\n");
    } else {
        assert_ok(ln_path_real(file, &real, &err), err);
        assert_true(strlen(real) > 300);
        free(real);
    }
    struct ln_map m;
    assert_ok(ln_map_file(&m, file, &err), err);
    assert_int_equal(m.size, 4);
    assert_memory_equal(m.data, "long", 4);
    ln_unmap(&m);
    size_t top_cap = strlen(dir) + 64;
    char *top = malloc(top_cap);
    snprintf(top, top_cap, "%s/0%s", dir, part + 1); /* the first level */
    assert_ok(ln_dir_remove_tree(top, &err), err);
    assert_int_equal(count_entries(dir), 0);
    free(top);
    free(file);
    free(deep);
}

/* Sizes are 64-bit: a sparse file of 5 GiB reports 5 GiB. Skipped where
 * the file system cannot hold it. */
static void test_size_over_4gib(void **state)
{
    const char *dir = ln_test_tmpdir("fs_big");
    char *path = ln_test_path(dir, "sparse.bin");
    struct ln_error err = {0};
    struct ln_file f;
    const uint64_t size = UINT64_C(5) << 30;
    assert_ok(ln_file_open(&f, path, LN_FILE_WRITE | LN_FILE_CREATE, &err), err);
    if (ln_file_set_size(&f, size, &err) < 0) {
        ln_file_close(&f, NULL);
        ln_path_remove(path, NULL);
        print_message("skipped: no 5 GiB file here (%s)\n", err.message);
        free(path);
        skip();
    }
    assert_ok(ln_file_write_at(&f, "end", 3, size - 3, &err), err);
    struct ln_path_info info;
    assert_ok(ln_file_stat(&f, &info, &err), err);
    assert_true(info.size == size);
    assert_ok(ln_file_close(&f, &err), err);
    assert_ok(ln_path_stat(path, 0, &info, &err), err);
    assert_true(info.size == size);
    /* ln_file_read refuses it by its real size, not a wrapped one. */
    uint8_t *data;
    size_t len;
    assert_int_equal(ln_file_read(path, 1 << 20, &data, &len, &err), LN_ETOOBIG);
    assert_non_null(strstr(err.message, "5368709120"));
    assert_ok(ln_path_remove(path, &err), err);
    free(path);
}

static void test_map_file(void **state)
{
    const char *dir = ln_test_tmpdir("fs_map");
    char *path = ln_test_path(dir, "weights.bin");
    char *empty = ln_test_path(dir, "empty.bin");
    struct ln_error err = {0};
    uint8_t bytes[70000];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (uint8_t)(i * 7 + (i >> 8));
    assert_ok(ln_file_write_atomic(path, bytes, sizeof bytes, &err), err);
    assert_ok(ln_file_write_atomic(empty, "", 0, &err), err);
    struct ln_map m;
    assert_ok(ln_map_file(&m, path, &err), err);
    assert_int_equal(m.size, sizeof bytes);
    assert_memory_equal(m.data, bytes, sizeof bytes);
    /* Let go of the pages a reader has copied: they read the same again,
     * from the file; a range not inside the mapping is left alone. */
    ln_map_release(&m, m.data + 1000, 60000);
    ln_map_release(&m, m.data + 60000, 20000);
    ln_map_release(&m, bytes, sizeof bytes);
    assert_memory_equal(m.data, bytes, sizeof bytes);
    ln_unmap(&m);
    assert_null(m.data);
    assert_ok(ln_map_file(&m, empty, &err), err);
    assert_null(m.data);
    assert_int_equal(m.size, 0);
    ln_unmap(&m);
    assert_int_equal(ln_map_file(&m, dir, &err), LN_EUNUSABLE);
    char *missing = ln_test_path(dir, "missing.bin");
    assert_int_equal(ln_map_file(&m, missing, &err), LN_ENOTFOUND);
    assert_non_null(strstr(err.message, "missing.bin"));
    free(missing);
    free(path);
    free(empty);
}

/* ln_map_release lets the process's pages of a mapped range go (Linux:
 * the mapping's resident size in /proc/self/smaps drops by the range's
 * whole pages), and they read the same again from the file. Skipped where
 * the system keeps no such account (Windows, an emulator's smaps). */
static void test_map_release_lets_go(void **state)
{
    (void)state;
    const char *dir = ln_test_tmpdir("fs_map_release");
    char *path = ln_test_path(dir, "weights.bin");
    struct ln_error err = {0};
    const size_t n = (size_t)1 << 20;
    uint8_t *bytes = malloc(n);
    assert_non_null(bytes);
    for (size_t i = 0; i < n; i++)
        bytes[i] = (uint8_t)(i * 13 + (i >> 9));
    assert_ok(ln_file_write_atomic(path, bytes, n, &err), err);
    struct ln_map m;
    assert_ok(ln_map_file(&m, path, &err), err);
    assert_memory_equal(m.data, bytes, n); /* every page read: resident */
    struct ln_test_smaps before, after;
    if (ln_test_smaps(m.data, &before) < 0 || before.rss_kb < (long)(n >> 10)) {
        ln_unmap(&m);
        free(bytes);
        free(path);
        printf("# skipped: no resident-size account of the mapping here (%ld kB of %zu)\n",
               before.rss_kb, n >> 10);
        skip();
    }
    /* [64 KB, 1 MB - 64 KB): whole pages for any page size up to 64 KB */
    const size_t lo = 65536, hi = n - 65536;
    ln_map_release(&m, m.data + lo, hi - lo);
    assert_int_equal(ln_test_smaps(m.data, &after), 0);
    if (after.rss_kb > before.rss_kb - (long)((hi - lo) >> 10))
        fail_msg("resident %ld kB before, %ld kB after letting %zu kB go", before.rss_kb,
                 after.rss_kb, (hi - lo) >> 10);
    assert_memory_equal(m.data, bytes, n);
    ln_unmap(&m);
    free(bytes);
    free(path);
}

/* Seek, an exclusive lock that a second opener sees, free space, the
 * mode bits (POSIX only), the parent of a path and the home folder. */
static void test_seek_lock_space(void **state)
{
    const char *dir = ln_test_tmpdir("fs_lock");
    char *path = ln_test_path(dir, "x.lock");
    struct ln_error err = {0};
    struct ln_file a, b;
    assert_ok(ln_file_open(&a, path, LN_FILE_READ | LN_FILE_WRITE | LN_FILE_CREATE, &err), err);
    assert_ok(ln_file_write_all(&a, "0123456789", 10, &err), err);
    assert_ok(ln_file_seek(&a, 4, &err), err);
    char buf[8];
    size_t got;
    assert_ok(ln_file_read_some(&a, buf, 3, &got, &err), err);
    assert_int_equal(got, 3);
    assert_memory_equal(buf, "456", 3);
    assert_ok(ln_file_set_size(&a, 5, &err), err);
    struct ln_path_info info;
    assert_ok(ln_file_stat(&a, &info, &err), err);
    assert_int_equal(info.size, 5);
#ifndef _WIN32
    /* Created 0644 less the umask's bits: the owner reads and writes. */
    assert_int_equal(info.mode & 0600, 0600);
    assert_int_equal(info.mode & ~0644, 0);
#else
    assert_int_equal(info.mode, -1);
#endif
    assert_ok(ln_file_lock(&a, 0, &err), err);
    assert_ok(ln_file_open(&b, path, LN_FILE_READ | LN_FILE_WRITE, &err), err);
    assert_int_equal(ln_file_lock(&b, 0, &err), LN_EBUSY);
    assert_ok(ln_file_close(&a, &err), err); /* closing lets the lock go */
    assert_ok(ln_file_lock(&b, 1, &err), err);
    assert_ok(ln_file_close(&b, &err), err);

    uint64_t avail = 0;
    assert_ok(ln_path_free_space(dir, &avail, &err), err);
    assert_true(avail > 0);
    char *missing = ln_test_path(dir, "missing");
    assert_int_equal(ln_path_free_space(missing, &avail, &err), LN_ENOTFOUND);
    free(missing);

    static const char *const parents[][2] = {{"a/b/c", "a/b"}, {"a/b/", "a"}, {"a", "."},
                                             {"/a", "/"},      {"/", "/"},    {"", "."}};
    for (size_t i = 0; i < sizeof parents / sizeof parents[0]; i++) {
        char *p = ln_path_parent(parents[i][0]);
        assert_string_equal(p, parents[i][1]);
        free(p);
    }
#ifdef _WIN32
    char *p = ln_path_parent("C:\\models\\model.ckpt");
    assert_string_equal(p, "C:\\models");
    free(p);
    p = ln_path_parent("C:\\model.ckpt");
    assert_string_equal(p, "C:\\");
    free(p);
    p = ln_path_parent("\\\\server\\share\\outputs");
    assert_string_equal(p, "\\\\server\\share\\");
    free(p);
    /* mkdirs under a drive letter: the drive itself is not made. */
    char *real, *deep;
    assert_ok(ln_path_real(dir, &real, &err), err);
    assert_true(real[1] == ':');
    deep = ln_test_path(real, "d1\\d2");
    assert_ok(ln_file_mkdirs(deep, &err), err);
    assert_ok(ln_path_stat(deep, 0, &info, &err), err);
    assert_int_equal(info.kind, LN_PATH_DIR);
    free(deep);
    free(real);
#endif
    char *home = ln_path_home();
    assert_non_null(home);
    assert_ok(ln_path_stat(home, 0, &info, &err), err);
    assert_int_equal(info.kind, LN_PATH_DIR);
    free(home);
    free(path);
}

static void test_program_path(void **state)
{
    struct ln_error err = {0};
    char *self = NULL;
    assert_ok(ln_path_self(&self, &err), err);
    assert_non_null(strstr(self, "test_fs"));
    struct ln_path_info info;
    assert_ok(ln_path_stat(self, 0, &info, &err), err);
    assert_int_equal(info.kind, LN_PATH_FILE);
    assert_true(info.size > 1000);
    free(self);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_read_write_stat),
        cmocka_unit_test(test_replace_while_open),
        cmocka_unit_test(test_remove_while_open),
        cmocka_unit_test(test_rename_over_existing),
        cmocka_unit_test(test_temp_folder),
        cmocka_unit_test(test_remove_tree_keeps_link_target),
        cmocka_unit_test(test_utf8_names),
        cmocka_unit_test(test_long_path),
        cmocka_unit_test(test_size_over_4gib),
        cmocka_unit_test(test_map_file),
        cmocka_unit_test(test_map_release_lets_go),
        cmocka_unit_test(test_seek_lock_space),
        cmocka_unit_test(test_program_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
