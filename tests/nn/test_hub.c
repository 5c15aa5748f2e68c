/* Unit tests of the downloader's local half (the network half is
 * tests/models/pull.test.mjs against a hub of its own): etag and link
 * names as huggingface_hub forms them, the cache root's precedence, names
 * from outside refused, verify on caches built here (good, damaged,
 * missing and absolute links), offline pulls that never touch the network,
 * and rembg's checksums with a mirror's override. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_file.h"
#include "ln_fs.h"
#include "ln_hash.h"
#include "ln_hub.h"
#include "ln_hub_internal.h"
#include "ln_sys.h"

static void clean_env(const char *home)
{
    static const char *const vars[] = {"HF_HUB_CACHE",
                                       "HUGGINGFACE_HUB_CACHE",
                                       "HF_HOME",
                                       "XDG_CACHE_HOME",
                                       "TRANSFORMERS_CACHE",
                                       "HF_HUB_OFFLINE",
                                       "HF_TOKEN",
                                       "HF_TOKEN_PATH",
                                       "U2NET_HOME",
                                       "XDG_DATA_HOME",
                                       "LUNAR_NOVA_REMBG_CHECKSUMS",
                                       "HF_ENDPOINT"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        ln_env_set(vars[i], NULL);
    ln_env_set(LN_PATH_HOME_VAR, home);
}

/* dir/name in one of four static buffers (ln_test_path's result is the
 * caller's to free; these tests keep several alive in one call). */
static const char *at(const char *dir, const char *name)
{
    static char bufs[4][4096];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

static void put(const char *path, const void *data, size_t n)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    struct ln_error err = {0};
    assert_int_equal(ln_file_mkdirs(dir, &err), 0);
    assert_int_equal(ln_file_write_atomic(path, data, n, &err), 0);
}

/* The hub's answers as libcurl hands them over, line by line: the last
 * response after a redirect counts, sizes are plain decimals or nothing,
 * etags and commits must be usable as file names. */
static void header(struct ln__hub_resp *r, const char *line)
{
    ln__hub_resp_header(r, line, strlen(line));
}

static void test_answers(void **state)
{
    (void)state;
    const char *commit = "0123456789abcdef0123456789abcdef01234567";
    struct ln__hub_resp r;
    struct ln_error err = {0};
    char etag[LN_HUB_COMMIT_MAX];
    long long size = 0;
    ln__hub_resp_reset(&r);
    header(&r, "HTTP/1.1 302 Found\r\n");
    header(&r, "Location: /other\r\n");
    header(&r, "HTTP/1.1 200 OK\r\n");
    r.status = 200;
    assert_string_equal(r.location, "");
    header(&r, "etag: W/\"abc123\"\r\n");
    header(&r, "Content-Length: 705\r\n");
    header(&r, "X-Repo-Commit: 0123456789abcdef0123456789abcdef01234567\r\n");
    assert_int_equal(ln__hub_file_answer(&r, "o/m", commit, "o/m/f", etag, &size, &err), 0);
    assert_string_equal(etag, "abc123");
    assert_int_equal(size, 705);
    /* The LFS answer: X-Linked-* win over the pointer file's. */
    header(&r, "X-Linked-Etag: \"ff00\"\r\n");
    header(&r, "X-Linked-Size: 1676245567\r\n");
    assert_int_equal(ln__hub_file_answer(&r, "o/m", commit, "o/m/f", etag, &size, &err), 0);
    assert_string_equal(etag, "ff00");
    assert_int_equal(size, 1676245567LL);
    /* Signs, spaces, overflow: no size. */
    const char *bad_sizes[] = {"X-Linked-Size: -5\r\n", "X-Linked-Size: 1 2\r\n",
                               "X-Linked-Size: 99999999999999999999\r\n", "X-Linked-Size: +7\r\n"};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        header(&r, "X-Linked-Size: 12\r\n");
        header(&r, bad_sizes[i]);
        assert_int_equal(r.linked_size, -1);
    }
    header(&r, "Content-Length: -1\r\n");
    assert_int_equal(ln__hub_file_answer(&r, "o/m", commit, "o/m/f", etag, &size, &err), LN_EIO);
    assert_non_null(strstr(err.message, "no usable ETag or size"));
    /* An etag that would leave blobs/. */
    ln__hub_resp_reset(&r);
    r.status = 200;
    header(&r, "ETag: \"../../x\"\r\n");
    header(&r, "Content-Length: 3\r\n");
    assert_int_equal(ln__hub_file_answer(&r, "o/m", commit, "o/m/f", etag, &size, &err), LN_EIO);
    /* Another commit than the one resolved. */
    header(&r, "ETag: \"abc\"\r\n");
    header(&r, "X-Repo-Commit: ffff\r\n");
    assert_int_equal(ln__hub_file_answer(&r, "o/m", commit, "o/m/f", etag, &size, &err), LN_EIO);
    assert_non_null(strstr(err.message, "moved o/m"));

    char c[LN_HUB_COMMIT_MAX];
    json_t *sib = NULL;
    const char *good = "{\"sha\":\"0123abcd\",\"siblings\":[{\"rfilename\":\"a.bin\"}]}";
    assert_int_equal(
        ln__hub_parse_revision(good, strlen(good), "o/m", "main", c, sizeof c, &sib, &err), 0);
    assert_string_equal(c, "0123abcd");
    assert_int_equal(json_array_size(sib), 1);
    json_decref(sib);
    const char *bad[] = {"[]",
                         "{\"sha\":\"../x\",\"siblings\":[]}",
                         "{\"sha\":\"ab\"}",
                         "{\"sha\":7,\"siblings\":[]}",
                         "{",
                         ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sib = NULL;
        assert_int_equal(
            ln__hub_parse_revision(bad[i], strlen(bad[i]), "o/m", "main", c, sizeof c, &sib, &err),
            LN_EIO);
        assert_null(sib);
    }
}

static void test_names(void **state)
{
    (void)state;
    char out[256];
    ln_hub_normalize_etag("W/\"abc123\"", out, sizeof out);
    assert_string_equal(out, "abc123");
    ln_hub_normalize_etag("\"e3b0c442\"", out, sizeof out);
    assert_string_equal(out, "e3b0c442");
    ln_hub_normalize_etag("plain", out, sizeof out);
    assert_string_equal(out, "plain");
    assert_int_equal(ln_hub_blob_link("model.ckpt", "ff00", out, sizeof out), 0);
    assert_string_equal(out, "../../blobs/ff00");
    assert_int_equal(ln_hub_blob_link("sub/dir/w.bin", "ff00", out, sizeof out), 0);
    assert_string_equal(out, "../../../../blobs/ff00");
    assert_int_equal(ln_hub_blob_link("model.ckpt", "ff00", out, 10), -1);

    assert_true(ln_hf_valid_filename("a/b.bin"));
    assert_false(ln_hf_valid_filename("../x"));
    assert_false(ln_hf_valid_filename("a//b"));
    assert_false(ln_hf_valid_filename("a/./b"));
    assert_false(ln_hf_valid_filename("/etc/passwd"));
    /* Windows separators, drives and streams; control characters. */
    assert_false(ln_hf_valid_filename("a\\..\\..\\b"));
    assert_false(ln_hf_valid_filename("C:evil"));
    assert_false(ln_hf_valid_filename("a/b:stream"));
    assert_false(ln_hf_valid_filename("a\nb"));
    assert_false(ln_hf_valid_repo("a/b/c"));
    assert_true(ln_hf_valid_repo("stabilityai/TripoSR"));
    assert_int_equal(ln_hf_repo_folder("stabilityai/TripoSR", out, sizeof out), 0);
    assert_string_equal(out, "models--stabilityai--TripoSR");
}

/* huggingface_hub's order: HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME/hub,
 * XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub. */
static void test_cache_dir(void **state)
{
    (void)state;
    char out[4096];
    clean_env("/home/u");
    assert_int_equal(ln_hf_cache_dir(out, sizeof out, NULL), 0);
    assert_string_equal(out, "/home/u/.cache/huggingface/hub");
    assert_int_equal(ln_hf_home(out, sizeof out, NULL), 0);
    assert_string_equal(out, "/home/u/.cache/huggingface");
    ln_env_set("XDG_CACHE_HOME", "/xdg");
    assert_int_equal(ln_hf_cache_dir(out, sizeof out, NULL), 0);
    assert_string_equal(out, "/xdg/huggingface/hub");
    ln_env_set("HF_HOME", "/hf");
    assert_int_equal(ln_hf_cache_dir(out, sizeof out, NULL), 0);
    assert_string_equal(out, "/hf/hub");
    ln_env_set("HUGGINGFACE_HUB_CACHE", "/old");
    assert_int_equal(ln_hf_cache_dir(out, sizeof out, NULL), 0);
    assert_string_equal(out, "/old");
    ln_env_set("HF_HUB_CACHE", "/new");
    assert_int_equal(ln_hf_cache_dir(out, sizeof out, NULL), 0);
    assert_string_equal(out, "/new");
    clean_env("/home/u");
}

static void test_offline_flag(void **state)
{
    (void)state;
    clean_env("/home/u");
    assert_false(ln_hub_offline());
    ln_env_set("HF_HUB_OFFLINE", "1");
    assert_true(ln_hub_offline());
    ln_env_set("HF_HUB_OFFLINE", "True");
    assert_true(ln_hub_offline());
    ln_env_set("HF_HUB_OFFLINE", "0");
    assert_false(ln_hub_offline());
    ln_env_set("HF_HUB_OFFLINE", NULL);
}

struct tally {
    int n, bad;
    char last_problem[512];
};

static void on_file(void *user, const struct ln_hub_file_report *r)
{
    struct tally *t = user;
    t->n++;
    if (!r->ok) {
        t->bad++;
        snprintf(t->last_problem, sizeof t->last_problem, "%s: %s", r->file, r->problem);
    }
}

/* A link, or the test is skipped with the reason printed where the
 * system refuses links (Windows without Developer Mode). */
static void make_link(const char *target, const char *path)
{
    struct ln_error err = {0};
    int rc = ln_path_link(target, path, &err);
    if (rc == LN_EUNUSABLE) {
        print_message("skipped: this system refuses symbolic links (%s)\n", err.message);
        skip();
    }
    if (rc < 0)
        fail_msg("%s", err.message);
}

/* A cache laid out as huggingface_hub leaves it: an LFS blob named by its
 * sha256, a small file by its git name, relative links, refs/main. */
static void build_cache(const char *home, char *repo_dir, size_t n)
{
    const char *commit = "1111111111111111111111111111111111111111";
    snprintf(repo_dir, n, "%s/.cache/huggingface/hub/models--o--m", home);
    char path[4096], hex[LN_HASH_HEX_MAX], link[512];
    struct ln_error err = {0};
    const char *big = "weights weights weights";
    const char *small = "hidden_size: 4\n";
    put(at(home, "tmp_big"), big, strlen(big));
    put(at(home, "tmp_small"), small, strlen(small));
    assert_int_equal(ln_hash_file(at(home, "tmp_big"), LN_HASH_SHA256, NULL, 0, hex, &err), 0);
    snprintf(path, sizeof path, "%s/blobs/%s", repo_dir, hex);
    put(path, big, strlen(big));
    snprintf(path, sizeof path, "%s/snapshots/%s/sub/w.bin", repo_dir, commit);
    put(path, "", 0);
    assert_int_equal(ln_path_remove(path, &err), 0);
    assert_int_equal(ln_hub_blob_link("sub/w.bin", hex, link, sizeof link), 0);
    make_link(link, path);
    assert_int_equal(ln_hash_git_blob(at(home, "tmp_small"), hex, &err), 0);
    snprintf(path, sizeof path, "%s/blobs/%s", repo_dir, hex);
    put(path, small, strlen(small));
    snprintf(path, sizeof path, "%s/snapshots/%s/cfg.yaml", repo_dir, commit);
    assert_int_equal(ln_hub_blob_link("cfg.yaml", hex, link, sizeof link), 0);
    make_link(link, path);
    snprintf(path, sizeof path, "%s/refs/main", repo_dir);
    put(path, commit, strlen(commit));
}

static void test_verify(void **state)
{
    (void)state;
    const char *home = ln_test_tmpdir("hub_verify");
    char repo_dir[4096], path[4200];
    clean_env(home);
    build_cache(home, repo_dir, sizeof repo_dir);
    struct tally t = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_hub_verify("o/m", NULL, 1, on_file, &t, &err), LN_OK);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.bad, 0);

    /* The small file's blob changes: its git name no longer matches. */
    snprintf(path, sizeof path, "%s/snapshots/1111111111111111111111111111111111111111/cfg.yaml",
             repo_dir);
    char *real;
    assert_int_equal(ln_path_real(path, &real, &err), 0);
    put(real, "hidden_size: 5\n", 15);
    memset(&t, 0, sizeof t);
    assert_int_equal(ln_hub_verify("o/m", NULL, 1, on_file, &t, &err), LN_EFORMAT);
    assert_int_equal(t.bad, 1);
    assert_non_null(strstr(t.last_problem, "cfg.yaml: content does not match"));
    /* Layout only (list): sizes and links, no hashing, so it passes. */
    memset(&t, 0, sizeof t);
    assert_int_equal(ln_hub_verify("o/m", NULL, 0, on_file, &t, &err), LN_OK);

    /* A missing blob and an absolute link are named. */
    assert_int_equal(ln_path_remove(real, &err), 0);
    free(real);
    memset(&t, 0, sizeof t);
    assert_int_equal(ln_hub_verify("o/m", NULL, 0, on_file, &t, &err), LN_EFORMAT);
    assert_non_null(strstr(t.last_problem, "links to a missing blob"));
    assert_non_null(strstr(err.message, "1 of 2 files"));
    assert_int_equal(ln_path_remove(path, &err), 0);
    char *absolute; /* a file that exists, named from the root (or a drive) */
    assert_int_equal(ln_path_real(at(home, "tmp_small"), &absolute, &err), 0);
    make_link(absolute, path);
    free(absolute);
    memset(&t, 0, sizeof t);
    assert_int_equal(ln_hub_verify("o/m", NULL, 0, on_file, &t, &err), LN_EFORMAT);
    assert_non_null(strstr(t.last_problem, "absolute link"));

    assert_int_equal(ln_hub_verify("o/none", NULL, 1, on_file, &t, &err), LN_ENOTFOUND);
    assert_non_null(strstr(err.message, "`lunar-nova models pull o/none`"));
    assert_int_equal(ln_hub_verify("o/m", "v2", 1, on_file, &t, &err), LN_ENOTFOUND);
    assert_int_equal(ln_hub_verify("../m", NULL, 1, on_file, &t, &err), LN_EINVAL);
}

/* Where links are refused the snapshot holds copies of its blobs (as
 * huggingface_hub makes there): they verify, and the blobs beside them are
 * not taken for blobs whose link was lost. Runs on every system. */
static void test_verify_copies(void **state)
{
    (void)state;
    const char *home = ln_test_tmpdir("hub_verify_copies");
    const char *commit = "2222222222222222222222222222222222222222";
    const char *content = "weights, copied\n";
    char repo_dir[4096], path[4300], hex[LN_HASH_HEX_MAX];
    struct ln_error err = {0};
    clean_env(home);
    snprintf(repo_dir, sizeof repo_dir, "%s/.cache/huggingface/hub/models--o--c", home);
    put(at(home, "tmp_copy"), content, strlen(content));
    assert_int_equal(ln_hash_file(at(home, "tmp_copy"), LN_HASH_SHA256, NULL, 0, hex, &err), 0);
    snprintf(path, sizeof path, "%s/blobs/%s", repo_dir, hex);
    put(path, content, strlen(content));
    snprintf(path, sizeof path, "%s/snapshots/%s/w.bin", repo_dir, commit);
    put(path, content, strlen(content));
    snprintf(path, sizeof path, "%s/refs/main", repo_dir);
    put(path, commit, strlen(commit));
    struct tally t = {0};
    assert_int_equal(ln_hub_verify("o/c", NULL, 1, on_file, &t, &err), LN_OK);
    assert_int_equal(t.n, 1);
    assert_int_equal(t.bad, 0);
}

/* HF_HUB_OFFLINE: the cache answers, or a clear no; HF_ENDPOINT points at
 * a port nobody listens on, so any network attempt would fail loudly. */
static void test_offline_pull(void **state)
{
    (void)state;
    const char *home = ln_test_tmpdir("hub_offline");
    char repo_dir[4096];
    clean_env(home);
    build_cache(home, repo_dir, sizeof repo_dir);
    ln_env_set("HF_HUB_OFFLINE", "1");
    ln_env_set("HF_ENDPOINT", "http://127.0.0.1:1");
    struct ln_hub_pull p;
    memset(&p, 0, sizeof p);
    struct ln_error err = {0};
    assert_int_equal(ln_hub_pull_model("o/m", &p, &err), LN_OK);
    assert_string_equal(p.commit, "1111111111111111111111111111111111111111");
    assert_int_equal(p.n_downloaded, 0);
    memset(&p, 0, sizeof p);
    assert_int_equal(ln_hub_pull_model("o/absent", &p, &err), LN_ENOTFOUND);
    assert_non_null(strstr(err.message, "HF_HUB_OFFLINE is set"));
    memset(&p, 0, sizeof p);
    p.revision = "../../etc";
    assert_int_equal(ln_hub_pull_model("o/m", &p, &err), LN_EINVAL);
    ln_env_set("U2NET_HOME", at(home, "u2net"));
    memset(&p, 0, sizeof p);
    assert_int_equal(ln_hub_pull_model("u2net", &p, &err), LN_ENOTFOUND);
    assert_non_null(strstr(err.message, "u2net.onnx"));
    ln_env_set("HF_HUB_OFFLINE", NULL);
    ln_env_set("HF_ENDPOINT", NULL);
    ln_env_set("HF_ENDPOINT", "ftp://mirror");
    memset(&p, 0, sizeof p);
    assert_int_equal(ln_hub_pull_model("o/m", &p, &err), LN_EINVAL);
    assert_non_null(strstr(err.message, "HF_ENDPOINT"));
    ln_env_set("HF_ENDPOINT", NULL);
}

/* rembg's checksum from the table, or the mirror's own. */
static void test_rembg_verify(void **state)
{
    (void)state;
    const char *home = ln_test_tmpdir("hub_rembg");
    clean_env(home);
    ln_env_set("U2NET_HOME", home);
    put(at(home, "u2netp.onnx"), "abc", 3);
    struct tally t = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_hub_verify("u2netp", NULL, 1, on_file, &t, &err), LN_EFORMAT);
    assert_non_null(strstr(err.message, "8e83ca70e441ab06"));
    /* md5("abc") from RFC 1321. */
    ln_env_set("LUNAR_NOVA_REMBG_CHECKSUMS", "u2net=md5:00000000000000000000000000000000,"
                                             "u2netp=md5:900150983cd24fb0d6963f7d28e17f72");
    memset(&t, 0, sizeof t);
    assert_int_equal(ln_hub_verify("u2netp", NULL, 1, on_file, &t, &err), LN_OK);
    assert_int_equal(t.n, 1);
    assert_int_equal(ln_hub_verify("u2net", NULL, 1, on_file, &t, &err), LN_ENOTFOUND);
    ln_env_set("LUNAR_NOVA_REMBG_CHECKSUMS", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_cache_dir),    cmocka_unit_test(test_offline_flag),
        cmocka_unit_test(test_verify),       cmocka_unit_test(test_offline_pull),
        cmocka_unit_test(test_rembg_verify), cmocka_unit_test(test_verify_copies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
