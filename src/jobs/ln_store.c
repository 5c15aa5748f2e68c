/*
 * outputs/jobs.json with its safety copy jobs.json.bak. A save first
 * writes the previous content to jobs.json.bak (atomically), then replaces
 * jobs.json (atomically), so at every instant at least one of the two holds
 * a complete history that parses. Loading repairs what it finds instead of
 * asking an operator to copy files by hand: a damaged jobs.json is kept
 * aside for inspection and the .bak is used, and the log says so.
 */
#include "ln_store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ln_alloc.h"
#include "ln_file.h"
#include "ln_fs.h"
#include "ln_job.h"
#include "ln_log.h"
#include "ln_time.h"

#define LN__STORE_MAX_BYTES ((size_t)256 << 20)

struct ln_store {
    char *path;      /* outputs/jobs.json */
    char *bak_path;  /* outputs/jobs.json.bak */
    json_t *jobs;    /* id -> job object */
    int recovered;
    atomic_uint_least64_t next_seq; /* the number of the last snapshot taken */
    /* DESIGN: saves outside the job manager's lock. A snapshot is numbered
     * under that lock, so the numbers follow the changes; the writes (two
     * fsyncs each) run on whatever thread took it, without that lock, one
     * at a time under wmu. A write finding a higher number already on disk
     * skips: that snapshot holds every change of the older one, and
     * writing the older one after it would bring back a deleted job. Only
     * wmu's holders touch the fields below. */
    pthread_mutex_t wmu;
    uint64_t written_seq; /* the snapshot jobs.json holds */
    /* What jobs.json holds now (NULL when it holds no valid history), so a
     * save can write it to the .bak without reading it back. */
    char *current;
    /* The .bak already holds `current` (after a recovery from it). */
    int bak_is_current;
};

/* ln_store_set_write_hook's hook; atomics, as the writing threads read
 * them without a lock. */
static _Atomic(void (*)(void *)) ln__write_hook;
static _Atomic(void *) ln__write_hook_user;

void ln_store_set_write_hook(void (*hook)(void *user), void *user)
{
    atomic_store(&ln__write_hook_user, user);
    atomic_store(&ln__write_hook, hook);
}

static char *ln__join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = ln_xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Reads and validates one history file. Returns LN_OK with *jobs and *text,
 * LN_ENOTFOUND when the file does not exist, LN_EFORMAT (message in err)
 * when it is not a valid history, LN_EIO when it cannot be read. */
static int ln__load_file(const char *path, json_t **jobs, char **text, struct ln_error *err)
{
    uint8_t *data = NULL;
    size_t len = 0;
    *jobs = NULL;
    *text = NULL;
    int rc = ln_file_read(path, LN__STORE_MAX_BYTES, &data, &len, err);
    if (rc == LN_ETOOBIG)
        rc = LN_EFORMAT; /* nothing this large was written by us */
    if (rc < 0)
        goto done;
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        rc = ln_error_set(err, LN_EFORMAT, "not valid JSON (line %d: %s)", jerr.line,
                          jerr.text);
        goto done;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        rc = ln_error_set(err, LN_EFORMAT, "not a JSON object keyed by job id");
        goto done;
    }
    const char *key;
    json_t *val;
    void *iter_tmp;
    json_object_foreach_safe(root, iter_tmp, key, val)
    {
        if (!ln_job_id_valid(key)) {
            ln_log_warn("%s: dropped the entry \"%.40s\": its key is not a job id", path, key);
            json_object_del(root, key);
            continue;
        }
        struct ln_job *job = ln_xmalloc(sizeof *job);
        struct ln_error jerr2 = {0};
        int jrc = ln_job_from_json(val, job, &jerr2);
        if (jrc == LN_OK && strcmp(job->id, key) != 0)
            jrc = ln_error_set(&jerr2, LN_EFORMAT, "its \"id\" differs from its key");
        free(job);
        if (jrc < 0) {
            rc = ln_error_set(err, LN_EFORMAT, "job %s is not valid: %s", key, jerr2.message);
            json_decref(root);
            goto done;
        }
    }
    *jobs = root;
    *text = (char *)data;
    data = NULL;
    rc = LN_OK;
done:
    free(data);
    return rc;
}

/* Renames path to path.corrupt-<UTC time> (another suffix if taken);
 * returns the new name (caller frees) or NULL. */
static char *ln__move_aside(const char *path)
{
    struct tm tm;
    char stamp[32] = "unknown";
    if (ln_time_utc((int64_t)ln_time_wall(), &tm) == 0)
        strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    size_t n = strlen(path) + 64;
    char *dst = ln_xmalloc(n);
    for (int i = 0; i < 1000; i++) {
        if (i == 0)
            snprintf(dst, n, "%s.corrupt-%s", path, stamp);
        else
            snprintf(dst, n, "%s.corrupt-%s-%d", path, stamp, i);
        struct ln_path_info info;
        if (ln_path_stat(dst, 0, &info, NULL) == LN_OK)
            continue;
        struct ln_error err = {0};
        if (ln_path_rename(path, dst, &err) == LN_OK) {
            ln_file_sync_parent(dst, NULL);
            return dst;
        }
        ln_log_error("cannot move %s aside: %s", path, err.message);
        break;
    }
    free(dst);
    return NULL;
}

/* A save cut short by a crash leaves its temporary file (jobs.json.tmp-XXXXXX
 * or jobs.json.bak.tmp-XXXXXX, see ln_file_write_atomic) behind; nothing
 * reads them, so they are removed before they pile up. */
static void ln__remove_temporaries(const char *outputs_dir)
{
    static const char *const prefixes[] = {"jobs.json.tmp-", "jobs.json.bak.tmp-"};
    struct ln_dir *d;
    if (ln_dir_open(&d, outputs_dir, NULL) < 0)
        return;
    size_t n_removed = 0;
    struct ln_dir_entry e;
    while (ln_dir_next(d, &e, NULL) > 0) {
        for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
            size_t pl = strlen(prefixes[i]);
            if (strncmp(e.name, prefixes[i], pl) != 0 || strlen(e.name) != pl + 6)
                continue;
            char *path = ln__join(outputs_dir, e.name);
            struct ln_error err = {0};
            int rc = ln_path_remove(path, &err);
            if (rc == LN_OK)
                n_removed++;
            else if (rc != LN_ENOTFOUND)
                ln_log_warn("%s", err.message);
            free(path);
        }
    }
    ln_dir_close(d);
    if (n_removed)
        ln_log_info("removed %zu unfinished job history write%s from %s", n_removed,
                    n_removed == 1 ? "" : "s", outputs_dir);
}

static const char *ln__base(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

int ln_store_open(const char *outputs_dir, struct ln_store **out, struct ln_error *err)
{
    struct ln_store *st = ln_xcalloc(1, sizeof *st);
    pthread_mutex_init(&st->wmu, NULL);
    atomic_init(&st->next_seq, 0);
    struct ln_error e1 = {0}, e2 = {0};
    char *aside = NULL;
    int rc;
    *out = NULL;
    st->path = ln__join(outputs_dir, "jobs.json");
    st->bak_path = ln__join(outputs_dir, "jobs.json.bak");
    ln__remove_temporaries(outputs_dir);

    rc = ln__load_file(st->path, &st->jobs, &st->current, &e1);
    if (rc == LN_OK)
        goto done;
    if (rc != LN_ENOTFOUND && rc != LN_EFORMAT) {
        /* Unreadable for another reason (permissions, I/O): repairing
         * would hide the problem and could lose the history. */
        rc = ln_error_prefix(&e1, "job history");
        goto fail;
    }
    if (rc == LN_EFORMAT)
        aside = ln__move_aside(st->path);

    int brc = ln__load_file(st->bak_path, &st->jobs, &st->current, &e2);
    if (brc == LN_OK) {
        st->recovered = 1;
        st->bak_is_current = 1;
        size_t n = json_object_size(st->jobs);
        if (rc == LN_EFORMAT)
            ln_log_warn("%s is damaged (%s): kept as %s; the job history was loaded from %s "
                        "(%zu job%s)",
                        st->path, e1.message, aside ? ln__base(aside) : "(not moved)",
                        st->bak_path, n, n == 1 ? "" : "s");
        else
            ln_log_warn("%s is missing: the job history was loaded from %s (%zu job%s)",
                        st->path, st->bak_path, n, n == 1 ? "" : "s");
        rc = LN_OK;
        goto done;
    }
    if (brc != LN_ENOTFOUND && brc != LN_EFORMAT) {
        rc = ln_error_prefix(&e2, "job history backup");
        goto fail;
    }
    if (rc == LN_ENOTFOUND && brc == LN_ENOTFOUND) {
        st->jobs = json_object(); /* a first start */
        rc = LN_OK;
        goto done;
    }
    char *bak_aside = brc == LN_EFORMAT ? ln__move_aside(st->bak_path) : NULL;
    st->jobs = json_object();
    st->recovered = 2;
    ln_log_error("the job history could not be recovered, starting with an empty history: "
                 "%s: %s%s%s; %s: %s%s%s",
                 st->path, rc == LN_EFORMAT ? e1.message : "missing",
                 aside ? ", kept as " : "", aside ? ln__base(aside) : "", st->bak_path,
                 brc == LN_EFORMAT ? e2.message : "missing", bak_aside ? ", kept as " : "",
                 bak_aside ? ln__base(bak_aside) : "");
    free(bak_aside);
    rc = LN_OK;

done:
    free(aside);
    *out = st;
    return LN_OK;

fail:
    free(aside);
    if (err)
        *err = e1.code ? e1 : e2;
    ln_store_free(st);
    return rc;
}

json_t *ln_store_jobs(struct ln_store *st)
{
    return st->jobs;
}

int ln_store_recovered(const struct ln_store *st)
{
    return st->recovered;
}

char *ln_store_snapshot(struct ln_store *st, const json_t *jobs, uint64_t *seq)
{
    /* Compact: an indented history of a thousand jobs is a third larger
     * and slower to write, and nobody edits it by hand. */
    char *text = json_dumps(jobs, JSON_COMPACT | JSON_REAL_PRECISION(12));
    *seq = atomic_fetch_add(&st->next_seq, 1) + 1;
    return text;
}

int ln_store_write(struct ln_store *st, char *text, uint64_t seq, struct ln_error *err)
{
    int rc;
    if (!text)
        return ln_error_set(err, LN_ENOMEM, "job history not saved: cannot serialise it");
    size_t len = strlen(text);
    pthread_mutex_lock(&st->wmu);
    if (seq <= st->written_seq) {
        pthread_mutex_unlock(&st->wmu);
        free(text);
        return LN_OK;
    }
    void (*hook)(void *) = atomic_load(&ln__write_hook);
    if (hook)
        hook(atomic_load(&ln__write_hook_user));
    /* The .bak is complete before jobs.json is replaced: a crash between
     * the two renames leaves two good files (old, old) or (old, new). */
    if (st->current && !st->bak_is_current) {
        rc = ln_file_write_atomic(st->bak_path, st->current, strlen(st->current), err);
        if (rc < 0)
            goto fail;
        st->bak_is_current = 1;
    }
    rc = ln_file_write_atomic(st->path, text, len, err);
    if (rc < 0)
        goto fail;
    free(st->current);
    st->current = text;
    st->bak_is_current = 0;
    st->written_seq = seq;
    pthread_mutex_unlock(&st->wmu);
    return LN_OK;

fail:
    pthread_mutex_unlock(&st->wmu);
    free(text);
    return ln_error_prefix(err, "job history not saved");
}

int ln_store_save(struct ln_store *st, const json_t *jobs, struct ln_error *err)
{
    uint64_t seq;
    char *text = ln_store_snapshot(st, jobs, &seq);
    return ln_store_write(st, text, seq, err);
}

void ln_store_free(struct ln_store *st)
{
    if (!st)
        return;
    json_decref(st->jobs);
    free(st->current);
    free(st->bak_path);
    free(st->path);
    pthread_mutex_destroy(&st->wmu);
    free(st);
}
