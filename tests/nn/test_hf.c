/* Unit tests of model location: the golden Hugging Face cache in
 * tests/data/triposr-tiny/hf_home, the order of the cache variables, caches
 * built here (no refs/main, refs/main with a newline, symlinks into blobs/,
 * plain copies where links cannot be made, interrupted downloads), folders
 * and weight files given directly, and the not-found message. Each test
 * sets the environment it needs. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_file.h"
#include "ln_fs.h"
#include "ln_hf.h"
#include "ln_sys.h"

#define TINY_COMMIT "059b2aa0d5a3fbd7594962ec71d273e2c455974d"
#define VIT_COMMIT "2acdd4f76f2edc19a8f0909fb9c48a4ae1f6d654"

/* Only HF_HOME (or nothing) set; HOME pointed at an empty folder so a real
 * cache on the machine never answers. */
static void clean_env(const char *hf_home)
{
    ln_env_set("HF_HUB_CACHE", NULL);
    ln_env_set("HUGGINGFACE_HUB_CACHE", NULL);
    ln_env_set("XDG_CACHE_HOME", NULL);
    ln_env_set("TRANSFORMERS_CACHE", NULL);
    ln_env_set(LN_PATH_HOME_VAR, ln_test_tmpdir("hf_empty_home"));
    if (hf_home)
        ln_env_set("HF_HOME", hf_home);
    else
        ln_env_set("HF_HOME", NULL);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char *path = ln_test_path(dir, name);
    char *slash = strrchr(path, '/');
    *slash = 0;
    struct ln_error err = {0};
    assert_int_equal(ln_file_mkdirs(path, &err), 0);
    *slash = '/';
    assert_int_equal(ln_file_write_atomic(path, text, strlen(text), &err), 0);
    free(path);
}

/* Either separator matches either: a resolved path on Windows has
 * backslashes. */
static void assert_ends_with(const char *s, const char *suffix)
{
    const size_t n = strlen(s), m = strlen(suffix);
    int same = n >= m;
    for (size_t i = 0; same && i < m; i++) {
        char a = s[n - m + i], b = suffix[i];
        same = a == b || (LN_PATH_IS_SEP(a) && LN_PATH_IS_SEP(b));
    }
    if (!same)
        fail_msg("\"%s\" does not end with \"%s\"", s, suffix);
}

/* A resolved path is absolute: from the root, or a drive or share. */
static void assert_absolute(const char *path)
{
    if (!(LN_PATH_IS_SEP(path[0]) || (path[0] && path[1] == ':')))
        fail_msg("\"%s\" is not an absolute path", path);
}

/* A relative link, as huggingface_hub makes them, or the test is skipped
 * with the reason printed where the system refuses links (Windows without
 * Developer Mode; test_copied_snapshot covers that cache). */
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

static void test_golden_cache(void **state)
{
    (void)state;
    char hf_home[1024];
    snprintf(hf_home, sizeof hf_home, "%s", ln_test_data("triposr-tiny/hf_home"));
    clean_env(hf_home);
    char path[LN_HF_PATH_MAX];
    struct ln_error err = {0};
    if (ln_hf_resolve("golden/triposr-tiny", "config.yaml", path, sizeof path, &err) < 0)
        fail_msg("%s", err.message);
    assert_ends_with(path, "models--golden--triposr-tiny/snapshots/" TINY_COMMIT "/config.yaml");
    struct ln_path_info info;
    assert_int_equal(ln_path_stat(path, 0, &info, &err), 0);
    assert_int_equal(info.kind, LN_PATH_FILE);
    assert_int_equal(ln_hf_resolve("golden/triposr-tiny", "model.ckpt", path, sizeof path, &err),
                     0);
    assert_ends_with(path, TINY_COMMIT "/model.ckpt");
    assert_int_equal(ln_hf_resolve("golden/dino-vit-tiny", "config.json", path, sizeof path, &err),
                     0);
    assert_ends_with(path, "models--golden--dino-vit-tiny/snapshots/" VIT_COMMIT "/config.json");

    struct ln_model_files files;
    if (ln_model_locate("golden/triposr-tiny", &files, &err) < 0)
        fail_msg("%s", err.message);
    assert_ends_with(files.config, TINY_COMMIT "/config.yaml");
    assert_ends_with(files.weights, TINY_COMMIT "/model.ckpt");
    assert_non_null(strstr(files.where, "Hugging Face cache "));
    assert_non_null(strstr(files.where, "(golden/triposr-tiny @ " TINY_COMMIT ")"));

    /* Unknown repo: not found, and the message says where it looked. */
    assert_int_equal(ln_hf_resolve("nobody/nothing", "config.yaml", path, sizeof path, &err),
                     LN_ENOTFOUND);
    assert_non_null(strstr(err.message, "nobody/nothing"));
    assert_non_null(strstr(err.message, "hf_home/hub"));
    assert_int_equal(ln_model_locate("nobody/nothing", &files, &err), LN_ENOTFOUND);
    assert_int_equal(ln_model_locate(NULL, &files, &err), LN_ENOTFOUND);
    assert_non_null(strstr(err.message, LN_TRIPOSR_DEFAULT_REPO));
    /* Not a repo id at all. */
    assert_int_equal(ln_hf_resolve("../etc", "passwd", path, sizeof path, &err), LN_EINVAL);
    assert_int_equal(ln_hf_resolve("golden/triposr-tiny", "../../x", path, sizeof path, &err),
                     LN_EINVAL);
}

static void test_precedence(void **state)
{
    (void)state;
    char hf_home[1024];
    snprintf(hf_home, sizeof hf_home, "%s", ln_test_data("triposr-tiny/hf_home"));
    clean_env(hf_home);
    const char *hub = ln_test_tmpdir("hf_precedence");
    char hub_copy[1024];
    snprintf(hub_copy, sizeof hub_copy, "%s", hub);
    write_file(hub_copy, "models--golden--triposr-tiny/refs/main", "abc");
    write_file(hub_copy, "models--golden--triposr-tiny/snapshots/abc/config.yaml", "x: 1\n");
    char path[LN_HF_PATH_MAX];
    struct ln_error err = {0};

    ln_env_set("HF_HUB_CACHE", hub_copy);
    assert_int_equal(ln_hf_resolve("golden/triposr-tiny", "config.yaml", path, sizeof path, &err),
                     0);
    assert_ends_with(path, "snapshots/abc/config.yaml");
    /* A file HF_HUB_CACHE lacks is still found in HF_HOME. */
    assert_int_equal(ln_hf_resolve("golden/triposr-tiny", "model.ckpt", path, sizeof path, &err),
                     0);
    assert_ends_with(path, TINY_COMMIT "/model.ckpt");

    /* The legacy variable comes after HF_HUB_CACHE, before HF_HOME. */
    ln_env_set("HF_HUB_CACHE", NULL);
    ln_env_set("HUGGINGFACE_HUB_CACHE", hub_copy);
    assert_int_equal(ln_hf_resolve("golden/triposr-tiny", "config.yaml", path, sizeof path, &err),
                     0);
    assert_ends_with(path, "snapshots/abc/config.yaml");
    ln_env_set("HUGGINGFACE_HUB_CACHE", NULL);
    assert_int_equal(ln_hf_resolve("golden/triposr-tiny", "config.yaml", path, sizeof path, &err),
                     0);
    assert_ends_with(path, TINY_COMMIT "/config.yaml");

    /* XDG_CACHE_HOME/huggingface/hub when nothing else is set. */
    clean_env(NULL);
    const char *xdg = ln_test_tmpdir("hf_xdg");
    char xdg_copy[1024];
    snprintf(xdg_copy, sizeof xdg_copy, "%s", xdg);
    write_file(xdg_copy, "huggingface/hub/models--a--b/refs/main", "c1\n");
    write_file(xdg_copy, "huggingface/hub/models--a--b/snapshots/c1/f.txt", "hi");
    ln_env_set("XDG_CACHE_HOME", xdg_copy);
    assert_int_equal(ln_hf_resolve("a/b", "f.txt", path, sizeof path, &err), 0);
    assert_ends_with(path, "snapshots/c1/f.txt");
}

static void test_snapshot_choice(void **state)
{
    (void)state;
    clean_env(NULL);
    const char *tmp = ln_test_tmpdir("hf_snapshots");
    char hub[1024];
    snprintf(hub, sizeof hub, "%s", tmp);
    ln_env_set("HF_HUB_CACHE", hub);
    char path[LN_HF_PATH_MAX];
    struct ln_error err = {0};

    /* No refs/main, one snapshot: used. */
    write_file(hub, "models--o--one/snapshots/c0ffee/config.yaml", "a: 1\n");
    assert_int_equal(ln_hf_resolve("o/one", "config.yaml", path, sizeof path, &err), 0);
    assert_ends_with(path, "models--o--one/snapshots/c0ffee/config.yaml");

    /* No refs/main, two snapshots: ambiguous, so not found. */
    write_file(hub, "models--o--two/snapshots/aaa/config.yaml", "a: 1\n");
    write_file(hub, "models--o--two/snapshots/bbb/config.yaml", "a: 2\n");
    assert_int_equal(ln_hf_resolve("o/two", "config.yaml", path, sizeof path, &err), LN_ENOTFOUND);
    assert_non_null(strstr(err.message, "several snapshots"));
    /* refs/main with a trailing newline settles it. */
    write_file(hub, "models--o--two/refs/main", "bbb\n");
    assert_int_equal(ln_hf_resolve("o/two", "config.yaml", path, sizeof path, &err), 0);
    assert_ends_with(path, "snapshots/bbb/config.yaml");
    /* refs/main naming a snapshot that lacks the file. */
    assert_int_equal(ln_hf_resolve("o/two", "model.ckpt", path, sizeof path, &err), LN_ENOTFOUND);
    assert_non_null(strstr(err.message, "model.ckpt"));
}

static void test_symlinked_blobs(void **state)
{
    (void)state;
    clean_env(NULL);
    const char *tmp = ln_test_tmpdir("hf_blobs");
    char hub[1024];
    snprintf(hub, sizeof hub, "%s", tmp);
    ln_env_set("HF_HUB_CACHE", hub);
    const char *repo = "models--stabilityai--TripoSR";
    char dir[1200], link[1400];
    write_file(hub, "models--stabilityai--TripoSR/refs/main", "0123abcd");
    write_file(hub, "models--stabilityai--TripoSR/blobs/e3b0c442", "cond_image_size: 64\n");
    write_file(hub, "models--stabilityai--TripoSR/blobs/9f86d081", "weights");
    write_file(hub, "models--stabilityai--TripoSR/blobs/77aa.incomplete", "half");
    snprintf(dir, sizeof dir, "%s/%s/snapshots/0123abcd", hub, repo);
    struct ln_error err = {0};
    assert_int_equal(ln_file_mkdirs(dir, &err), 0);
    snprintf(link, sizeof link, "%s/config.yaml", dir);
    make_link("../../blobs/e3b0c442", link);
    snprintf(link, sizeof link, "%s/model.ckpt", dir);
    make_link("../../blobs/9f86d081", link);
    snprintf(link, sizeof link, "%s/model.safetensors", dir);
    make_link("../../blobs/77aa.incomplete", link);

    char path[LN_HF_PATH_MAX];
    assert_int_equal(ln_hf_resolve("stabilityai/TripoSR", "config.yaml", path, sizeof path, &err),
                     0);
    assert_ends_with(path, "/blobs/e3b0c442");
    assert_absolute(path);
    /* An interrupted download is never returned. */
    assert_int_equal(
        ln_hf_resolve("stabilityai/TripoSR", "model.safetensors", path, sizeof path, &err),
        LN_ENOTFOUND);
    assert_non_null(strstr(err.message, "incomplete"));

    struct ln_model_files files;
    if (ln_model_locate(NULL, &files, &err) < 0)
        fail_msg("%s", err.message);
    assert_ends_with(files.config, "/blobs/e3b0c442");
    assert_ends_with(files.weights, "/blobs/9f86d081");
    assert_non_null(strstr(files.where, "(stabilityai/TripoSR @ 0123abcd)"));

    /* Only an incomplete weights blob: the repo has no usable weights. */
    snprintf(link, sizeof link, "%s/model.ckpt", dir);
    assert_int_equal(ln_path_remove(link, &err), 0);
    make_link("../../blobs/77aa.incomplete", link);
    assert_int_equal(ln_model_locate(NULL, &files, &err), LN_ENOTFOUND);
    assert_non_null(strstr(err.message, "neither model.ckpt nor model.safetensors"));
}

/* huggingface_hub without link rights (Windows without Developer Mode)
 * keeps the snapshot's files as plain copies: they are found in place. */
static void test_copied_snapshot(void **state)
{
    (void)state;
    clean_env(NULL);
    const char *tmp = ln_test_tmpdir("hf_copies");
    char hub[1024];
    snprintf(hub, sizeof hub, "%s", tmp);
    ln_env_set("HF_HUB_CACHE", hub);
    write_file(hub, "models--stabilityai--TripoSR/refs/main", "0123abcd");
    write_file(hub, "models--stabilityai--TripoSR/snapshots/0123abcd/config.yaml",
               "cond_image_size: 64\n");
    write_file(hub, "models--stabilityai--TripoSR/snapshots/0123abcd/model.ckpt", "weights");
    struct ln_error err = {0};
    char path[LN_HF_PATH_MAX];
    assert_int_equal(ln_hf_resolve("stabilityai/TripoSR", "config.yaml", path, sizeof path, &err),
                     0);
    assert_ends_with(path, "/snapshots/0123abcd/config.yaml");
    assert_absolute(path);
    struct ln_model_files files;
    if (ln_model_locate(NULL, &files, &err) < 0)
        fail_msg("%s", err.message);
    assert_ends_with(files.weights, "/snapshots/0123abcd/model.ckpt");
    uint8_t *data;
    size_t len;
    assert_int_equal(ln_file_read(files.weights, 100, &data, &len, &err), 0);
    assert_int_equal(len, 7);
    assert_memory_equal(data, "weights", 7);
    free(data);
}

static void test_folders_and_files(void **state)
{
    (void)state;
    clean_env(NULL);
    struct ln_model_files files;
    struct ln_error err = {0};
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", ln_test_data("triposr-tiny"));
    if (ln_model_locate(dir, &files, &err) < 0)
        fail_msg("%s", err.message);
    assert_ends_with(files.config, "triposr-tiny/config.yaml");
    assert_ends_with(files.weights, "triposr-tiny/model.ckpt");
    assert_non_null(strstr(files.where, "folder "));

    char weights[1100];
    snprintf(weights, sizeof weights, "%s/model.safetensors", dir);
    if (ln_model_locate(weights, &files, &err) < 0)
        fail_msg("%s", err.message);
    assert_string_equal(files.weights, weights);
    assert_ends_with(files.config, "triposr-tiny/config.yaml");

    /* A folder with the weights but no config.yaml. */
    const char *tmp = ln_test_tmpdir("hf_folder");
    char empty[1024];
    snprintf(empty, sizeof empty, "%s", tmp);
    write_file(empty, "model.ckpt", "x");
    assert_int_equal(ln_model_locate(empty, &files, &err), LN_ENOTFOUND);
    assert_non_null(strstr(err.message, "config.yaml"));
    write_file(empty, "config.yaml", "x: 1\n");
    assert_int_equal(ln_model_locate(empty, &files, &err), 0);
    assert_int_equal(ln_model_locate("/no/such/folder", &files, &err), LN_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_cache),    cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_snapshot_choice), cmocka_unit_test(test_symlinked_blobs),
        cmocka_unit_test(test_copied_snapshot), cmocka_unit_test(test_folders_and_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
