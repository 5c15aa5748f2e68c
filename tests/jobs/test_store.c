/* Unit tests of the job history file: saves keep the previous version as
 * jobs.json.bak, and loading repairs a damaged jobs.json by itself. */
#include "testutil.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ln_file.h"
#include "ln_job.h"
#include "ln_log.h"
#include "ln_store.h"

/* A history of n small valid jobs whose ids start with `tag`. */
static json_t *ln__history(int n, char tag)
{
    json_t *all = json_object();
    for (int i = 0; i < n; i++) {
        struct ln_job job;
        memset(&job, 0, sizeof job);
        snprintf(job.id, sizeof job.id, "%c%023x", tag, i);
        job.status = LN_JOB_STATUS_SUCCEEDED;
        strcpy(job.stage, "done");
        job.progress = 1;
        job.created_at = 1.7e9 + i;
        strcpy(job.engine, "sculpt");
        ln_generate_options_default(&job.options);
        job.n_inputs = 1;
        strcpy(job.inputs[0].name, "a.png");
        strcpy(job.inputs[0].file, "input-0.png");
        strcpy(job.inputs[0].content_type, "image/png");
        json_object_set_new(all, job.id, ln_job_to_json(&job));
    }
    return all;
}

static void ln__write(const char *dir, const char *name, const char *text, size_t len)
{
    char *p = ln_test_path(dir, name);
    struct ln_error err = {0};
    if (ln_file_write_atomic(p, text, len, &err) < 0)
        fail_msg("%s", err.message);
    free(p);
}

static void ln__write_json(const char *dir, const char *name, const json_t *j)
{
    char *t = json_dumps(j, 0);
    ln__write(dir, name, t, strlen(t));
    free(t);
}

static json_t *ln__read_json(const char *dir, const char *name)
{
    char *p = ln_test_path(dir, name);
    json_t *j = json_load_file(p, 0, NULL);
    if (!j)
        fail_msg("%s does not parse", p);
    free(p);
    return j;
}

static int ln__exists(const char *dir, const char *name)
{
    char *p = ln_test_path(dir, name);
    int e = access(p, F_OK) == 0;
    free(p);
    return e;
}

/* The bytes of the single file named prefix* in dir (NULL if none). */
static uint8_t *ln__read_prefixed(const char *dir, const char *prefix, size_t *len)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    uint8_t *data = NULL;
    int found = 0;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            char *p = ln_test_path(dir, e->d_name);
            data = ln_test_read(p, len);
            free(p);
            found++;
        }
    }
    closedir(d);
    assert_int_equal(found, data ? 1 : 0);
    return data;
}

static void test_missing_is_empty(void **state)
{
    const char *dir = ln_test_tmpdir("store_missing");
    struct ln_store *st;
    struct ln_error err = {0};
    assert_int_equal(ln_store_open(dir, &st, &err), LN_OK);
    assert_int_equal(json_object_size(ln_store_jobs(st)), 0);
    assert_int_equal(ln_store_recovered(st), 0);
    ln_store_free(st);
}

static void test_empty_object_is_valid(void **state)
{
    const char *dir = ln_test_tmpdir("store_empty");
    ln__write(dir, "jobs.json", "{}", 2);
    struct ln_store *st;
    struct ln_error err = {0};
    assert_int_equal(ln_store_open(dir, &st, &err), LN_OK);
    assert_int_equal(json_object_size(ln_store_jobs(st)), 0);
    assert_int_equal(ln_store_recovered(st), 0);
    assert_false(ln__exists(dir, "jobs.json.corrupt-"));
    ln_store_free(st);
}

static void test_save_keeps_previous_as_bak(void **state)
{
    const char *dir = ln_test_tmpdir("store_save");
    struct ln_store *st;
    struct ln_error err = {0};
    json_t *a = ln__history(2, 'a'), *b = ln__history(3, 'b');
    assert_int_equal(ln_store_open(dir, &st, &err), LN_OK);
    assert_int_equal(ln_store_save(st, a, &err), LN_OK);
    assert_false(ln__exists(dir, "jobs.json.bak"));
    assert_int_equal(ln_store_save(st, b, &err), LN_OK);
    json_t *now = ln__read_json(dir, "jobs.json"), *bak = ln__read_json(dir, "jobs.json.bak");
    assert_true(json_equal(now, b));
    assert_true(json_equal(bak, a));
    ln_store_free(st);

    /* Reopened, the newest save is what loads. */
    assert_int_equal(ln_store_open(dir, &st, &err), LN_OK);
    assert_int_equal(ln_store_recovered(st), 0);
    assert_true(json_equal(ln_store_jobs(st), b));
    ln_store_free(st);
    json_decref(now);
    json_decref(bak);
    json_decref(a);
    json_decref(b);
}

/* jobs.json holds `bad` (len bytes), the .bak a good history. */
static void ln__check_recovery(const char *name, const char *bad, size_t len)
{
    const char *dir = ln_test_tmpdir(name);
    json_t *good = ln__history(2, 'c');
    ln__write_json(dir, "jobs.json.bak", good);
    ln__write(dir, "jobs.json", bad, len);

    struct ln_store *st;
    struct ln_error err = {0};
    assert_int_equal(ln_store_open(dir, &st, &err), LN_OK);
    assert_int_equal(ln_store_recovered(st), 1);
    assert_true(json_equal(ln_store_jobs(st), good));
    size_t got_len = 0;
    uint8_t *kept = ln__read_prefixed(dir, "jobs.json.corrupt-", &got_len);
    assert_non_null(kept);
    assert_int_equal(got_len, len);
    assert_memory_equal(kept, bad, len);
    free(kept);
    assert_false(ln__exists(dir, "jobs.json"));

    /* The next save restores jobs.json; the .bak stays the good copy. */
    json_t *next = ln__history(3, 'd');
    assert_int_equal(ln_store_save(st, next, &err), LN_OK);
    json_t *now = ln__read_json(dir, "jobs.json"), *bak = ln__read_json(dir, "jobs.json.bak");
    assert_true(json_equal(now, next));
    assert_true(json_equal(bak, good));
    ln_store_free(st);
    json_decref(now);
    json_decref(bak);
    json_decref(next);
    json_decref(good);
}

static void test_corrupt_uses_bak(void **state)
{
    json_t *h = ln__history(4, 'e');
    char *text = json_dumps(h, 0);
    ln__check_recovery("store_truncated", text, strlen(text) / 2);
    ln__check_recovery("store_garbage", "\x01\x02garbage{{", 11);
    ln__check_recovery("store_array", "[1, 2, 3]", 9);
    ln__check_recovery("store_empty_file", "", 0);
    /* Parses, but an entry is not a job. */
    json_object_set_new(json_object_get(h, "e00000000000000000000001"), "status",
                        json_string("exploded"));
    free(text);
    text = json_dumps(h, 0);
    ln__check_recovery("store_bad_entry", text, strlen(text));
    free(text);
    json_decref(h);
}

static void test_missing_uses_bak(void **state)
{
    const char *dir = ln_test_tmpdir("store_lost");
    json_t *good = ln__history(1, 'f');
    ln__write_json(dir, "jobs.json.bak", good);
    struct ln_store *st;
    struct ln_error err = {0};
    assert_int_equal(ln_store_open(dir, &st, &err), LN_OK);
    assert_int_equal(ln_store_recovered(st), 1);
    assert_true(json_equal(ln_store_jobs(st), good));
    ln_store_free(st);
    json_decref(good);
}

static void test_both_corrupt_start_empty(void **state)
{
    const char *dir = ln_test_tmpdir("store_both");
    ln__write(dir, "jobs.json", "{\"a\":", 5);
    ln__write(dir, "jobs.json.bak", "nonsense", 8);
    struct ln_store *st;
    struct ln_error err = {0};
    assert_int_equal(ln_store_open(dir, &st, &err), LN_OK);
    assert_int_equal(ln_store_recovered(st), 2);
    assert_int_equal(json_object_size(ln_store_jobs(st)), 0);
    size_t len;
    uint8_t *kept = ln__read_prefixed(dir, "jobs.json.corrupt-", &len);
    assert_non_null(kept);
    assert_memory_equal(kept, "{\"a\":", 5);
    free(kept);
    kept = ln__read_prefixed(dir, "jobs.json.bak.corrupt-", &len);
    assert_non_null(kept);
    assert_memory_equal(kept, "nonsense", 8);
    free(kept);
    ln_store_free(st);

    /* Corrupt jobs.json and no .bak at all: also a fresh start. */
    dir = ln_test_tmpdir("store_corrupt_alone");
    ln__write(dir, "jobs.json", "[]", 2);
    assert_int_equal(ln_store_open(dir, &st, &err), LN_OK);
    assert_int_equal(ln_store_recovered(st), 2);
    assert_int_equal(json_object_size(ln_store_jobs(st)), 0);
    ln_store_free(st);
}

static void test_bad_keys_dropped(void **state)
{
    const char *dir = ln_test_tmpdir("store_keys");
    json_t *h = ln__history(2, 'a');
    json_object_set(h, "../../etc", json_object_get(h, "a00000000000000000000000"));
    ln__write_json(dir, "jobs.json", h);
    struct ln_store *st;
    struct ln_error err = {0};
    assert_int_equal(ln_store_open(dir, &st, &err), LN_OK);
    assert_int_equal(ln_store_recovered(st), 0);
    assert_int_equal(json_object_size(ln_store_jobs(st)), 2);
    assert_null(json_object_get(ln_store_jobs(st), "../../etc"));
    ln_store_free(st);
    json_decref(h);
}

/* Whether a folder's mode bits keep this process from writing into it:
 * not for root, which ignores them, and not on Windows, where access is
 * an ACL's business and chmod only sets the read-only attribute. */
static int ln__modes_enforced(void)
{
#ifdef _WIN32
    print_message("not on Windows: the read-only folder case is skipped\n");
    return 0;
#else
    if (geteuid() == 0)
        print_message("running as root: the read-only folder case is skipped\n");
    return geteuid() != 0;
#endif
}

static void test_failed_save_changes_nothing(void **state)
{
    const char *dir = ln_test_tmpdir("store_fail");
    char moved[1100];
    snprintf(moved, sizeof moved, "%s.moved", dir);
    struct ln_error err = {0};
    assert_int_equal(ln_dir_remove_tree(moved, &err), LN_OK);
    struct ln_store *st;
    json_t *a = ln__history(1, 'a'), *b = ln__history(2, 'b'), *c = ln__history(3, 'c');
    assert_int_equal(ln_store_open(dir, &st, &err), LN_OK);
    assert_int_equal(ln_store_save(st, a, &err), LN_OK);
    assert_int_equal(ln_store_save(st, b, &err), LN_OK);

    if (ln__modes_enforced()) {
        /* A read-only folder. */
        assert_int_equal(chmod(dir, 0555), 0);
        assert_int_equal(ln_store_save(st, c, &err), LN_EIO);
        assert_int_equal(chmod(dir, 0755), 0);
        json_t *now = ln__read_json(dir, "jobs.json"), *bak = ln__read_json(dir, "jobs.json.bak");
        assert_true(json_equal(now, b));
        assert_true(json_equal(bak, a));
        json_decref(now);
        json_decref(bak);
    }

    /* The outputs path has become a file. */
    assert_int_equal(rename(dir, moved), 0);
    FILE *f = fopen(dir, "w");
    assert_non_null(f);
    fputs("not a folder", f);
    fclose(f);
    err.code = 0;
    assert_int_equal(ln_store_save(st, c, &err), LN_EIO);
    assert_true(err.message[0] != 0);
    json_t *now = ln__read_json(moved, "jobs.json"), *bak = ln__read_json(moved, "jobs.json.bak");
    assert_true(json_equal(now, b));
    assert_true(json_equal(bak, a));
    size_t len;
    uint8_t *still = ln_test_read(dir, &len);
    assert_int_equal(len, strlen("not a folder"));
    free(still);
    unlink(dir);
    ln_store_free(st);
    json_decref(now);
    json_decref(bak);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

/* jobs.json is written compact, one line without indentation; a history in
 * the indented form of earlier versions still loads. */
static void test_compact_write_reads_indented(void **state)
{
    const char *dir = ln_test_tmpdir("store_compact");
    struct ln_store *st;
    struct ln_error err = {0};
    json_t *a = ln__history(3, 'c');
    assert_int_equal(ln_store_open(dir, &st, &err), LN_OK);
    assert_int_equal(ln_store_save(st, a, &err), LN_OK);
    ln_store_free(st);
    size_t len = 0;
    char *p = ln_test_path(dir, "jobs.json");
    char *text = (char *)ln_test_read(p, &len);
    free(p);
    assert_null(memchr(text, '\n', len));
    assert_null(strstr(text, ": "));
    assert_null(strstr(text, ", "));
    free(text);
    assert_int_equal(ln_store_open(dir, &st, &err), LN_OK);
    assert_true(json_equal(ln_store_jobs(st), a));
    ln_store_free(st);

    /* An indented history from an earlier version. */
    char *old = json_dumps(a, JSON_INDENT(2) | JSON_REAL_PRECISION(12));
    assert_non_null(strchr(old, '\n'));
    ln__write(dir, "jobs.json", old, strlen(old));
    free(old);
    assert_int_equal(ln_store_open(dir, &st, &err), LN_OK);
    assert_int_equal(ln_store_recovered(st), 0);
    assert_true(json_equal(ln_store_jobs(st), a));
    ln_store_free(st);
    json_decref(a);
}

/* Snapshots written out of order: an older one never replaces a newer one
 * (it would bring back a deleted job), and its writer is told the save
 * stands, since the newer snapshot holds its change too. */
static void test_older_snapshot_never_overwrites(void **state)
{
    const char *dir = ln_test_tmpdir("store_order");
    struct ln_store *st;
    struct ln_error err = {0};
    json_t *h = ln__history(3, 'd');
    assert_int_equal(ln_store_open(dir, &st, &err), LN_OK);
    uint64_t s1, s2;
    char *t1 = ln_store_snapshot(st, h, &s1); /* with the job */
    const char *gone = NULL;
    const char *key;
    json_t *v;
    json_object_foreach(h, key, v)
    {
        gone = key;
        break;
    }
    char gone_id[LN_JOB_ID_LEN + 1];
    snprintf(gone_id, sizeof gone_id, "%s", gone);
    json_object_del(h, gone_id); /* the deletion */
    char *t2 = ln_store_snapshot(st, h, &s2);
    assert_true(s2 > s1);
    assert_int_equal(ln_store_write(st, t2, s2, &err), LN_OK);
    assert_int_equal(ln_store_write(st, t1, s1, &err), LN_OK); /* late, skipped */
    json_t *now = ln__read_json(dir, "jobs.json");
    assert_true(json_equal(now, h));
    assert_null(json_object_get(now, gone_id));
    json_decref(now);
    /* the .bak was not touched by the skipped write either */
    assert_false(ln__exists(dir, "jobs.json.bak"));

    /* A plain save after them is newer still and is written. */
    json_t *h3 = ln__history(1, 'e');
    assert_int_equal(ln_store_save(st, h3, &err), LN_OK);
    now = ln__read_json(dir, "jobs.json");
    assert_true(json_equal(now, h3));
    json_decref(now);
    ln_store_free(st);
    json_decref(h3);
    json_decref(h);
}

/* Many threads each take a snapshot under one lock (as the job manager
 * does) and write it outside it: whatever the interleaving, jobs.json ends
 * with the newest snapshot. Run under TSan as well. */
struct ln__writer {
    struct ln_store *st;
    pthread_mutex_t *mu;
    json_t *doc;
    int n;
    int failures;
};

static void *ln__writer_main(void *arg)
{
    struct ln__writer *w = arg;
    for (int i = 0; i < 20; i++) {
        pthread_mutex_lock(w->mu);
        json_object_set_new(w->doc, "n", json_integer(++w->n));
        uint64_t seq;
        char *text = ln_store_snapshot(w->st, w->doc, &seq);
        pthread_mutex_unlock(w->mu);
        struct ln_error err = {0};
        if (ln_store_write(w->st, text, seq, &err) < 0)
            w->failures++;
    }
    return NULL;
}

static void test_concurrent_snapshots_end_newest(void **state)
{
    const char *dir = ln_test_tmpdir("store_concurrent");
    struct ln_store *st;
    struct ln_error err = {0};
    assert_int_equal(ln_store_open(dir, &st, &err), LN_OK);
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    json_t *doc = json_object();
    struct ln__writer shared = {.st = st, .mu = &mu, .doc = doc};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, ln__writer_main, &shared), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(shared.failures, 0);
    char *p = ln_test_path(dir, "jobs.json");
    json_t *now = json_load_file(p, 0, NULL);
    free(p);
    assert_non_null(now);
    assert_int_equal(json_integer_value(json_object_get(now, "n")), 80);
    json_decref(now);
    json_decref(doc);
    ln_store_free(st);
}

int main(void)
{
    ln_log_set_level(LN_LOG_LEVEL_OFF);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_is_empty),
        cmocka_unit_test(test_empty_object_is_valid),
        cmocka_unit_test(test_save_keeps_previous_as_bak),
        cmocka_unit_test(test_corrupt_uses_bak),
        cmocka_unit_test(test_missing_uses_bak),
        cmocka_unit_test(test_both_corrupt_start_empty),
        cmocka_unit_test(test_bad_keys_dropped),
        cmocka_unit_test(test_failed_save_changes_nothing),
        cmocka_unit_test(test_compact_write_reads_indented),
        cmocka_unit_test(test_older_snapshot_never_overwrites),
        cmocka_unit_test(test_concurrent_snapshots_end_newest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
