/* Unit tests of the PostgreSQL job queue (ln_pg.h) against a real
 * PostgreSQL that the test starts itself: initdb into a temporary folder,
 * a server on a free port of 127.0.0.1 (as the unprivileged user
 * "postgres" when the tests run as root, which initdb refuses), stopped
 * and removed at the end. Each test works in a database of its own.
 *
 * Skipped (exit 77, with the reason) when PostgreSQL's programs are not
 * installed (Debian's postgresql package) or, as root, there is no
 * "postgres" user to run them as. */
#include "testutil.h"

#include <arpa/inet.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "ln_file.h"
#include "ln_folder.h"
#include "ln_job.h"
#include "ln_jobs.h"
#include "ln_image.h"
#include "ln_pg.h"
#include "ln_pg_worker.h"
#include "ln_store.h"

static char g_bindir[256];
static char g_dir[128]; /* the cluster's folder, also its socket folder */
static char g_as[64];   /* "runuser -u postgres -- " as root, else "" */
static int g_port;

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

static void skip_all(const char *why)
{
    printf("test_pg: SKIPPED: %s\n", why);
    fflush(stdout);
    exit(77);
}

/* A port nobody listens on now (the kernel's choice for port 0). */
static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) < 0)
        skip_all("cannot find a free port on 127.0.0.1");
    close(s);
    return ntohs(a.sin_port);
}

static void start_cluster(void)
{
    FILE *p = popen("pg_config --bindir 2>/dev/null", "r");
    if (!p || !fgets(g_bindir, sizeof g_bindir, p))
        g_bindir[0] = 0;
    if (p)
        pclose(p);
    g_bindir[strcspn(g_bindir, "\n")] = 0;
    char initdb[300];
    snprintf(initdb, sizeof initdb, "%s/initdb", g_bindir);
    if (!g_bindir[0] || access(initdb, X_OK) != 0)
        skip_all("PostgreSQL's initdb was not found (Debian's postgresql package)");
    snprintf(g_dir, sizeof g_dir, "/tmp/ln-test-pg-XXXXXX");
    if (!mkdtemp(g_dir))
        skip_all("cannot make a temporary folder");
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        if (!pw)
            skip_all("running as root and there is no user \"postgres\" to run PostgreSQL as");
        if (chown(g_dir, pw->pw_uid, pw->pw_gid) != 0)
            skip_all("cannot hand the temporary folder to the user postgres");
        snprintf(g_as, sizeof g_as, "runuser -u postgres -- ");
    }
    g_port = free_port();
    if (run("%s%s/initdb -D %s/data -U lunar --auth=trust -E UTF8 --no-sync >%s/initdb.log 2>&1",
            g_as, g_bindir, g_dir, g_dir) != 0) {
        run("cat %s/initdb.log", g_dir);
        fail_msg("initdb failed");
    }
    if (run("%s%s/pg_ctl -D %s/data -l %s/server.log -w -t 60 -o \"-p %d -k %s "
            "-c listen_addresses=127.0.0.1 -c fsync=off\" start >/dev/null 2>&1",
            g_as, g_bindir, g_dir, g_dir, g_port, g_dir) != 0) {
        run("cat %s/server.log", g_dir);
        fail_msg("the PostgreSQL server did not start");
    }
}

static void stop_cluster(void)
{
    run("%s%s/pg_ctl -D %s/data -m immediate -w stop >/dev/null 2>&1", g_as, g_bindir, g_dir);
    run("rm -rf %s", g_dir);
}

/* A fresh database for one test; its connection string into conninfo. */
static void fresh_db(const char *name, char conninfo[256])
{
    char admin[256];
    snprintf(admin, sizeof admin,
             "host=127.0.0.1 port=%d user=lunar dbname=postgres"
             " options='-c client_min_messages=warning'",
             g_port);
    PGconn *c = PQconnectdb(admin);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", name);
    PQclear(PQexec(c, sql));
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    PGresult *r = PQexec(c, sql);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(c);
    snprintf(conninfo, 256, "host=127.0.0.1 port=%d user=lunar dbname=%s", g_port, name);
}

static struct ln_pg *open_migrated(const char *name)
{
    char conninfo[256];
    fresh_db(name, conninfo);
    struct ln_pg *pg;
    struct ln_error err = {0};
    assert_ok(ln_pg_open(conninfo, &pg, &err), err);
    assert_ok(ln_pg_migrate(pg, NULL, NULL, &err), err);
    return pg;
}

static void sql(const char *conninfo, const char *text)
{
    PGconn *c = PQconnectdb(conninfo);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, text);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", text, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

static void record_for(const char *id, char *buf, size_t n)
{
    snprintf(buf, n, "{\"id\": \"%s\", \"status\": \"queued\", \"stage\": \"queued\"}", id);
}

/* ---- tests -------------------------------------------------------------- */

struct migrate_arg {
    const char *conninfo;
    int rc, from, to;
};

static void *migrate_thread(void *p)
{
    struct migrate_arg *a = p;
    struct ln_pg *pg;
    struct ln_error err = {0};
    a->rc = ln_pg_open(a->conninfo, &pg, &err);
    if (a->rc == LN_OK) {
        a->rc = ln_pg_migrate(pg, &a->from, &a->to, &err);
        ln_pg_close(pg);
    }
    return NULL;
}

/* A fresh database is brought to the program's version, a second run
 * changes nothing, two programs starting at once migrate once, and a
 * database of a newer version is refused and left as it was. */
static void test_migrate(void **state)
{
    (void)state;
    char conninfo[256];
    fresh_db("ln_migrate", conninfo);
    struct ln_pg *pg;
    struct ln_error err = {0};
    assert_ok(ln_pg_open(conninfo, &pg, &err), err);
    int v = -1, from = -1, to = -1;
    assert_ok(ln_pg_schema_version(pg, &v, &err), err);
    assert_int_equal(v, 0);
    assert_ok(ln_pg_migrate(pg, &from, &to, &err), err);
    assert_int_equal(from, 0);
    assert_int_equal(to, LN_PG_SCHEMA_VERSION);
    assert_ok(ln_pg_migrate(pg, &from, &to, &err), err);
    assert_int_equal(from, LN_PG_SCHEMA_VERSION);
    assert_ok(ln_pg_schema_version(pg, &v, &err), err);
    assert_int_equal(v, LN_PG_SCHEMA_VERSION);

    sql(conninfo, "UPDATE ln_schema SET version = 99");
    assert_int_equal(ln_pg_migrate(pg, &from, &to, &err), LN_EINVAL);
    assert_non_null(strstr(err.message, "newer than this program's"));
    assert_ok(ln_pg_schema_version(pg, &v, &err), err);
    assert_int_equal(v, 99);
    ln_pg_close(pg);

    fresh_db("ln_migrate2", conninfo);
    struct migrate_arg a[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct migrate_arg){.conninfo = conninfo, .rc = -99};
        pthread_create(&t[i], NULL, migrate_thread, &a[i]);
    }
    int migrated = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].rc, LN_OK);
        assert_int_equal(a[i].to, LN_PG_SCHEMA_VERSION);
        migrated += a[i].from == 0;
    }
    assert_int_equal(migrated, 1);
}

/* Submit, claim in order, renew with progress, finish with a result; the
 * files come back byte for byte; a second submission of an id is refused. */
static void test_submit_claim_finish(void **state)
{
    (void)state;
    struct ln_pg *pg = open_migrated("ln_flow");
    struct ln_error err = {0};
    uint8_t png[300];
    for (size_t i = 0; i < sizeof png; i++)
        png[i] = (uint8_t)(i * 7); /* zero bytes included */
    const char *ids[3] = {"job-a", "job-b", "job-c"};
    for (int i = 0; i < 3; i++) {
        char rec[128];
        record_for(ids[i], rec, sizeof rec);
        struct ln_pg_file in = {"input-0.png", "image/png", png, sizeof png - (size_t)i};
        assert_ok(ln_pg_submit(pg, ids[i], rec, &in, 1, &err), err);
    }
    char rec[128];
    record_for("job-a", rec, sizeof rec);
    assert_int_equal(ln_pg_submit(pg, "job-a", rec, NULL, 0, &err), LN_EINVAL);
    assert_non_null(strstr(err.message, "exists"));

    struct ln_pg_lease l;
    assert_ok(ln_pg_claim(pg, "w1", 30, &l, &err), err);
    assert_string_equal(l.id, "job-a");
    assert_int_equal(l.attempts, 1);
    assert_non_null(strstr(l.record, "\"status\": \"running\""));
    int cancel = -1;
    assert_ok(ln_pg_renew(pg, &l, 30, "{\"id\": \"job-a\", \"stage\": \"mesh\", \"progress\": 0.5}",
                          &cancel, &err),
              err);
    assert_int_equal(cancel, 0);
    char *got, status[16];
    assert_ok(ln_pg_get(pg, "job-a", &got, status, &err), err);
    assert_string_equal(status, "running");
    assert_non_null(strstr(got, "\"stage\": \"mesh\""));
    assert_non_null(strstr(got, "\"status\": \"running\""));
    free(got);

    const char glb[] = "glTF\0\0\0binary";
    struct ln_pg_file out = {"model.glb", "model/gltf-binary", glb, sizeof glb};
    assert_ok(ln_pg_finish(pg, &l, "succeeded", "{\"id\": \"job-a\", \"stage\": \"done\"}", &out,
                           1, &err),
              err);
    ln_pg_lease_free(&l);
    assert_ok(ln_pg_get(pg, "job-a", &got, status, &err), err);
    assert_string_equal(status, "succeeded");
    assert_non_null(strstr(got, "\"status\": \"succeeded\""));
    free(got);
    void *data;
    size_t size;
    char type[128];
    assert_ok(ln_pg_file_get(pg, "job-a", "model.glb", &data, &size, type, &err), err);
    assert_int_equal(size, sizeof glb);
    assert_memory_equal(data, glb, size);
    assert_string_equal(type, "model/gltf-binary");
    free(data);
    assert_ok(ln_pg_file_get(pg, "job-b", "input-0.png", &data, &size, type, &err), err);
    assert_int_equal(size, sizeof png - 1);
    assert_memory_equal(data, png, size);
    free(data);
    assert_int_equal(ln_pg_file_get(pg, "job-a", "model.obj", &data, &size, type, &err),
                     LN_ENOTFOUND);

    assert_ok(ln_pg_claim(pg, "w1", 30, &l, &err), err);
    assert_string_equal(l.id, "job-b");
    ln_pg_lease_free(&l);
    int64_t counts[5];
    assert_ok(ln_pg_counts(pg, counts, &err), err);
    assert_int_equal(counts[0], 1); /* queued: job-c */
    assert_int_equal(counts[1], 1); /* running: job-b */
    assert_int_equal(counts[2], 1); /* succeeded: job-a */
    assert_int_equal(ln_pg_finish(pg, &l, "running", "{}", NULL, 0, &err), LN_EINVAL);
    ln_pg_close(pg);
}

#define RACE_JOBS 500
#define RACE_WORKERS 8

struct race {
    const char *conninfo;
    atomic_int claims[RACE_JOBS];
    atomic_int finished;
    atomic_int errors;
};

static void *race_worker(void *p)
{
    struct race *r = p;
    struct ln_pg *pg;
    struct ln_error err = {0};
    if (ln_pg_open(r->conninfo, &pg, &err) != LN_OK) {
        atomic_fetch_add(&r->errors, 1);
        return NULL;
    }
    char name[16];
    snprintf(name, sizeof name, "w%p", (void *)pthread_self());
    for (;;) {
        struct ln_pg_lease l;
        int rc = ln_pg_claim(pg, name, 60, &l, &err);
        if (rc == LN_ENOTFOUND)
            break;
        if (rc != LN_OK) {
            atomic_fetch_add(&r->errors, 1);
            break;
        }
        int k = atoi(l.id + 4);
        atomic_fetch_add(&r->claims[k], 1);
        if (ln_pg_finish(pg, &l, "succeeded", l.record, NULL, 0, &err) == LN_OK)
            atomic_fetch_add(&r->finished, 1);
        else
            atomic_fetch_add(&r->errors, 1);
        ln_pg_lease_free(&l);
    }
    ln_pg_close(pg);
    return NULL;
}

/* 8 workers, each with its own connection, race for 500 jobs: every job
 * is claimed exactly once and finished. */
static void test_claim_race(void **state)
{
    (void)state;
    struct ln_pg *pg = open_migrated("ln_race");
    struct ln_error err = {0};
    for (int i = 0; i < RACE_JOBS; i++) {
        char id[32], rec[128];
        snprintf(id, sizeof id, "job-%d", i);
        record_for(id, rec, sizeof rec);
        assert_ok(ln_pg_submit(pg, id, rec, NULL, 0, &err), err);
    }
    static struct race r;
    memset(&r, 0, sizeof r);
    char conninfo[256];
    snprintf(conninfo, sizeof conninfo, "host=127.0.0.1 port=%d user=lunar dbname=ln_race",
             g_port);
    r.conninfo = conninfo;
    pthread_t t[RACE_WORKERS];
    for (int i = 0; i < RACE_WORKERS; i++)
        pthread_create(&t[i], NULL, race_worker, &r);
    for (int i = 0; i < RACE_WORKERS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&r.errors), 0);
    assert_int_equal(atomic_load(&r.finished), RACE_JOBS);
    for (int i = 0; i < RACE_JOBS; i++)
        if (atomic_load(&r.claims[i]) != 1)
            fail_msg("job-%d was claimed %d times", i, atomic_load(&r.claims[i]));
    int64_t counts[5];
    assert_ok(ln_pg_counts(pg, counts, &err), err);
    assert_int_equal(counts[2], RACE_JOBS);
    ln_pg_close(pg);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A lease that runs out is claimed again by another worker with a new
 * token; the first worker's renew and finish then change nothing, and the
 * second worker's result is the one kept. */
static void test_lease_fencing(void **state)
{
    (void)state;
    struct ln_pg *pg = open_migrated("ln_lease");
    struct ln_error err = {0};
    char rec[128];
    record_for("slow", rec, sizeof rec);
    assert_ok(ln_pg_submit(pg, "slow", rec, NULL, 0, &err), err);
    struct ln_pg_lease a, b;
    assert_ok(ln_pg_claim(pg, "w-a", 0.3, &a, &err), err);
    assert_int_equal(ln_pg_claim(pg, "w-b", 30, &b, &err), LN_ENOTFOUND); /* still held */
    sleep_ms(600);
    assert_ok(ln_pg_claim(pg, "w-b", 30, &b, &err), err);
    assert_string_equal(b.id, "slow");
    assert_int_equal(b.attempts, 2);
    assert_true(b.token != a.token);
    assert_int_equal(ln_pg_renew(pg, &a, 30, NULL, NULL, &err), LN_ECANCELED);
    struct ln_pg_file fa = {"model.glb", "model/gltf-binary", "A", 1};
    assert_int_equal(ln_pg_finish(pg, &a, "succeeded", "{\"by\": \"a\"}", &fa, 1, &err),
                     LN_ECANCELED);
    struct ln_pg_file fb = {"model.glb", "model/gltf-binary", "B", 1};
    assert_ok(ln_pg_finish(pg, &b, "succeeded", "{\"by\": \"b\"}", &fb, 1, &err), err);
    assert_int_equal(ln_pg_finish(pg, &a, "failed", "{\"by\": \"a\"}", NULL, 0, &err),
                     LN_ECANCELED);
    char *got, status[16];
    assert_ok(ln_pg_get(pg, "slow", &got, status, &err), err);
    assert_string_equal(status, "succeeded");
    assert_non_null(strstr(got, "\"by\": \"b\""));
    free(got);
    void *data;
    size_t size;
    assert_ok(ln_pg_file_get(pg, "slow", "model.glb", &data, &size, NULL, &err), err);
    assert_int_equal(size, 1);
    assert_memory_equal(data, "B", 1);
    free(data);
    ln_pg_lease_free(&a);
    ln_pg_lease_free(&b);
    ln_pg_close(pg);
}

/* Cancel: a queued job at once, a running one through its worker's next
 * renew; a finished or unknown job is refused; a job whose worker vanished
 * after a cancel was asked for ends canceled instead of running again. */
static void test_cancel(void **state)
{
    (void)state;
    struct ln_pg *pg = open_migrated("ln_cancel");
    struct ln_error err = {0};
    const char *ids[3] = {"q", "r", "lost"};
    for (int i = 0; i < 3; i++) {
        char rec[128];
        record_for(ids[i], rec, sizeof rec);
        assert_ok(ln_pg_submit(pg, ids[i], rec, NULL, 0, &err), err);
    }
    int now = -1;
    assert_ok(ln_pg_cancel(pg, "q", &now, &err), err);
    assert_int_equal(now, 1);
    char *got, status[16];
    assert_ok(ln_pg_get(pg, "q", &got, status, &err), err);
    assert_string_equal(status, "canceled");
    assert_non_null(strstr(got, "\"status\": \"canceled\""));
    free(got);
    assert_int_equal(ln_pg_cancel(pg, "q", &now, &err), LN_EINVAL);
    assert_int_equal(ln_pg_cancel(pg, "nope", &now, &err), LN_ENOTFOUND);

    struct ln_pg_lease l, m;
    assert_ok(ln_pg_claim(pg, "w", 30, &l, &err), err);
    assert_string_equal(l.id, "r");
    assert_ok(ln_pg_cancel(pg, "r", &now, &err), err);
    assert_int_equal(now, 0);
    int cancel = 0;
    assert_ok(ln_pg_renew(pg, &l, 30, NULL, &cancel, &err), err);
    assert_int_equal(cancel, 1);
    assert_ok(ln_pg_finish(pg, &l, "canceled", l.record, NULL, 0, &err), err);
    ln_pg_lease_free(&l);

    assert_ok(ln_pg_claim(pg, "w", 0.2, &l, &err), err);
    assert_string_equal(l.id, "lost");
    assert_ok(ln_pg_cancel(pg, "lost", &now, &err), err);
    sleep_ms(500);
    assert_int_equal(ln_pg_claim(pg, "w2", 30, &m, &err), LN_ENOTFOUND);
    assert_ok(ln_pg_get(pg, "lost", &got, status, &err), err);
    assert_string_equal(status, "canceled");
    free(got);
    ln_pg_lease_free(&l);
    ln_pg_close(pg);
}

/* Delete takes the job's files with it. */
static void test_delete(void **state)
{
    (void)state;
    struct ln_pg *pg = open_migrated("ln_delete");
    struct ln_error err = {0};
    char rec[128];
    record_for("d", rec, sizeof rec);
    struct ln_pg_file in = {"input-0.png", "image/png", "x", 1};
    assert_ok(ln_pg_submit(pg, "d", rec, &in, 1, &err), err);
    assert_ok(ln_pg_delete(pg, "d", &err), err);
    assert_int_equal(ln_pg_delete(pg, "d", &err), LN_ENOTFOUND);
    void *data;
    size_t size;
    assert_int_equal(ln_pg_file_get(pg, "d", "input-0.png", &data, &size, NULL, &err),
                     LN_ENOTFOUND);
    char conninfo[256];
    snprintf(conninfo, sizeof conninfo, "host=127.0.0.1 port=%d user=lunar dbname=ln_delete",
             g_port);
    PGconn *c = PQconnectdb(conninfo);
    PGresult *r = PQexec(c, "SELECT count(*) FROM ln_job_files");
    assert_string_equal(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    PQfinish(c);
    ln_pg_close(pg);
}

/* A database that cannot be reached: one line, no password in it. After a
 * server restart an open connection is made again by the next call. */
static void test_connection_errors(void **state)
{
    (void)state;
    struct ln_pg *pg;
    struct ln_error err = {0};
    char conninfo[256];
    snprintf(conninfo, sizeof conninfo,
             "host=127.0.0.1 port=%d user=lunar password=s3cr3t dbname=x connect_timeout=5",
             free_port());
    assert_int_equal(ln_pg_open(conninfo, &pg, &err), LN_EIO);
    assert_non_null(strstr(err.message, "cannot connect"));
    assert_null(strchr(err.message, '\n'));
    assert_null(strstr(err.message, "s3cr3t"));
    assert_int_equal(ln_pg_open("", &pg, &err), LN_EINVAL);

    pg = open_migrated("ln_restart");
    char rec[128];
    record_for("after", rec, sizeof rec);
    assert_int_equal(run("%s%s/pg_ctl -D %s/data -m fast -w restart >/dev/null 2>&1", g_as,
                         g_bindir, g_dir),
                     0);
    /* the first statement on the dead connection fails or reconnects;
     * the next one works either way */
    if (ln_pg_submit(pg, "after", rec, NULL, 0, &err) != LN_OK)
        assert_ok(ln_pg_submit(pg, "after", rec, NULL, 0, &err), err);
    char *got, status[16];
    assert_ok(ln_pg_get(pg, "after", &got, status, &err), err);
    assert_string_equal(status, "queued");
    free(got);
    ln_pg_close(pg);
}

/* A job of the outputs folder made for the import test. */
static void put_job(const char *outputs, json_t *history, const char *id,
                    enum ln_job_status status, double created, int record, int in_history)
{
    struct ln_job job;
    memset(&job, 0, sizeof job);
    snprintf(job.id, sizeof job.id, "%s", id);
    job.status = status;
    snprintf(job.stage, sizeof job.stage, "%s", ln_job_status_is_final(status) ? "done" : "mesh");
    job.created_at = created;
    job.attempts = status == LN_JOB_STATUS_QUEUED ? 0 : 1;
    snprintf(job.engine, sizeof job.engine, "sculpt");
    ln_generate_options_default(&job.options);
    job.n_inputs = 1;
    snprintf(job.inputs[0].name, sizeof job.inputs[0].name, "mug.png");
    snprintf(job.inputs[0].file, sizeof job.inputs[0].file, "input-0.png");
    snprintf(job.inputs[0].content_type, sizeof job.inputs[0].content_type, "image/png");
    job.inputs[0].bytes = 5;
    char *dir = ln_test_path(outputs, id);
    struct ln_error err = {0};
    assert_ok(ln_file_mkdirs(dir, &err), err);
    char *in = ln_test_path(dir, "input-0.png");
    assert_ok(ln_file_write_atomic(in, id, 5, &err), err);
    free(in);
    if (status == LN_JOB_STATUS_SUCCEEDED) {
        char *glb = ln_test_path(dir, "model.glb");
        assert_ok(ln_file_write_atomic(glb, "glTF-model", 10, &err), err);
        free(glb);
    }
    json_t *obj = ln_job_to_json(&job);
    if (record)
        assert_ok(ln_folder_record_write(outputs, id, obj, &err), err);
    if (in_history)
        json_object_set(history, id, obj);
    json_decref(obj);
    free(dir);
}

/* store import: a history of every kind goes into the database oldest
 * first, files byte for byte, unfinished jobs queued again, a job being
 * deleted left out, a folder record the history lacks taken in; a second
 * run adds nothing. */
static void test_import(void **state)
{
    (void)state;
    const char *outputs = ln_test_tmpdir("pg_import");
    json_t *history = json_object();
    put_job(outputs, history, "aaaaaaaaaaaaaaaaaaaaaa01", LN_JOB_STATUS_SUCCEEDED, 1000, 1, 1);
    put_job(outputs, history, "aaaaaaaaaaaaaaaaaaaaaa02", LN_JOB_STATUS_RUNNING, 1001, 1, 1);
    put_job(outputs, history, "aaaaaaaaaaaaaaaaaaaaaa03", LN_JOB_STATUS_QUEUED, 1002, 1, 1);
    put_job(outputs, history, "aaaaaaaaaaaaaaaaaaaaaa04", LN_JOB_STATUS_FAILED, 999, 1, 0);
    put_job(outputs, history, "aaaaaaaaaaaaaaaaaaaaaa05", LN_JOB_STATUS_SUCCEEDED, 1003, 1, 1);
    struct ln_error err = {0};
    assert_ok(ln_folder_record_drop(outputs, "aaaaaaaaaaaaaaaaaaaaaa05", &err), err);
    struct ln_store *st;
    assert_ok(ln_store_open(outputs, &st, &err), err);
    assert_ok(ln_store_save(st, history, &err), err);
    ln_store_free(st);
    json_decref(history);

    struct ln_pg *pg = open_migrated("ln_import");
    struct ln_pg_import_report rep;
    assert_ok(ln_pg_import_outputs(pg, outputs, &rep, &err), err);
    assert_int_equal(rep.jobs, 4);
    assert_int_equal(rep.requeued, 2);
    assert_int_equal(rep.deleting, 1);
    assert_int_equal(rep.present, 0);
    assert_int_equal(rep.files, 5); /* four inputs, one model */
    int64_t counts[5];
    assert_ok(ln_pg_counts(pg, counts, &err), err);
    assert_int_equal(counts[0], 2); /* queued: the running and the queued one */
    assert_int_equal(counts[2], 1);
    assert_int_equal(counts[3], 1);
    void *data;
    size_t size;
    char type[128];
    assert_ok(ln_pg_file_get(pg, "aaaaaaaaaaaaaaaaaaaaaa01", "model.glb", &data, &size, type,
                             &err),
              err);
    assert_int_equal(size, 10);
    assert_memory_equal(data, "glTF-model", 10);
    assert_string_equal(type, "model/gltf-binary");
    free(data);
    assert_int_equal(ln_pg_file_get(pg, "aaaaaaaaaaaaaaaaaaaaaa01", "job.json", &data, &size,
                                    type, &err),
                     LN_ENOTFOUND);
    char *rec, status[16];
    assert_int_equal(ln_pg_get(pg, "aaaaaaaaaaaaaaaaaaaaaa05", &rec, status, &err), LN_ENOTFOUND);
    assert_ok(ln_pg_get(pg, "aaaaaaaaaaaaaaaaaaaaaa02", &rec, status, &err), err);
    assert_string_equal(status, "queued");
    free(rec);
    /* oldest first: the claims follow the history's order */
    struct ln_pg_lease l;
    assert_ok(ln_pg_claim(pg, "w", 30, &l, &err), err);
    assert_string_equal(l.id, "aaaaaaaaaaaaaaaaaaaaaa02");
    assert_int_equal(l.attempts, 2);
    ln_pg_lease_free(&l);

    assert_ok(ln_pg_import_outputs(pg, outputs, &rep, &err), err);
    assert_int_equal(rep.jobs, 0);
    assert_int_equal(rep.present, 4);
    ln_pg_close(pg);
}

/* A job for the worker tests: one PNG of a red disk on white, 160 x 160,
 * generated by sculpt at grid 48. */
static void submit_disk_job(struct ln_pg *pg, const char *id)
{
    enum { N = 160 };
    static uint8_t px[N * N * 3];
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++) {
            int in = (x - 80) * (x - 80) + (y - 80) * (y - 80) < 50 * 50;
            uint8_t *p = px + (y * N + x) * 3;
            p[0] = in ? 200 : 250;
            p[1] = in ? 40 : 250;
            p[2] = in ? 30 : 250;
        }
    struct ln_image img = {.width = N, .height = N, .channels = 3, .data = px};
    struct ln_buf png = {0};
    struct ln_error err = {0};
    assert_ok(ln_image_encode_png(&img, &png, &err), err);
    struct ln_job job;
    memset(&job, 0, sizeof job);
    snprintf(job.id, sizeof job.id, "%s", id);
    job.status = LN_JOB_STATUS_QUEUED;
    snprintf(job.stage, sizeof job.stage, "queued");
    job.created_at = 1.7e9;
    snprintf(job.engine, sizeof job.engine, "sculpt");
    ln_generate_options_default(&job.options);
    job.options.resolution = 48;
    job.n_inputs = 1;
    snprintf(job.inputs[0].name, sizeof job.inputs[0].name, "disk.png");
    snprintf(job.inputs[0].file, sizeof job.inputs[0].file, "input-0.png");
    snprintf(job.inputs[0].content_type, sizeof job.inputs[0].content_type, "image/png");
    job.inputs[0].bytes = png.len;
    json_t *obj = ln_job_to_json(&job);
    char *rec = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    struct ln_pg_file in = {"input-0.png", "image/png", png.data, png.len};
    assert_ok(ln_pg_submit(pg, id, rec, &in, 1, &err), err);
    free(rec);
    ln_buf_free(&png);
}

/* A worker takes the job from the database, runs the sculpt engine on its
 * input in a scratch folder, and stores the model, the preview and the
 * finished record; the scratch folder is left empty. A worker asked to
 * stop gives its job back, queued for another. */
static void test_worker(void **state)
{
    (void)state;
    struct ln_pg *pg = open_migrated("ln_worker");
    struct ln_error err = {0};
    submit_disk_job(pg, "bbbbbbbbbbbbbbbbbbbbbb01");
    struct ln_engine *sculpt;
    assert_ok(ln_engine_sculpt_new(&sculpt, &err), err);
    struct ln_engine_set set = {{sculpt}, 1};
    struct ln_image_limits limits = ln_image_limits_default();
    struct ln_job_run_env env = {.engines = &set, .limits = &limits};
    const char *scratch = ln_test_tmpdir("pg_worker");
    char conninfo[256];
    snprintf(conninfo, sizeof conninfo, "host=127.0.0.1 port=%d user=lunar dbname=ln_worker",
             g_port);
    struct ln_pg_worker_options opt = {.name = "test-worker", .scratch = scratch, .lease_s = 5};
    struct ln_pg_worker *w;
    assert_ok(ln_pg_worker_new(conninfo, &opt, &env, &w, &err), err);
    int ran = -1;
    assert_ok(ln_pg_worker_step(w, &ran, &err), err);
    assert_int_equal(ran, 1);
    char *rec, status[16];
    assert_ok(ln_pg_get(pg, "bbbbbbbbbbbbbbbbbbbbbb01", &rec, status, &err), err);
    assert_string_equal(status, "succeeded");
    json_error_t je;
    json_t *obj = json_loads(rec, 0, &je);
    struct ln_job done;
    assert_ok(ln_job_from_json(obj, &done, &err), err);
    json_decref(obj);
    free(rec);
    assert_int_equal(done.status, LN_JOB_STATUS_SUCCEEDED);
    assert_int_equal(done.attempts, 1);
    assert_true(done.has_mesh && done.mesh.n_faces > 100);
    assert_true(done.finished_at >= done.started_at && done.started_at > 0);
    void *data;
    size_t size;
    assert_ok(ln_pg_file_get(pg, done.id, "model.glb", &data, &size, NULL, &err), err);
    assert_true(size > 1000);
    assert_memory_equal(data, "glTF", 4);
    free(data);
    assert_ok(ln_pg_file_get(pg, done.id, "preview.png", &data, &size, NULL, &err), err);
    assert_memory_equal(data, "\x89PNG", 4);
    free(data);
    char *left = ln_test_path(scratch, done.id);
    struct ln_path_info info;
    assert_int_equal(ln_path_stat(left, 0, &info, NULL), LN_ENOTFOUND);
    free(left);
    assert_ok(ln_pg_worker_step(w, &ran, &err), err);
    assert_int_equal(ran, 0);

    submit_disk_job(pg, "bbbbbbbbbbbbbbbbbbbbbb02");
    ln_pg_worker_stop(w);
    assert_ok(ln_pg_worker_step(w, &ran, &err), err);
    assert_int_equal(ran, 1);
    assert_ok(ln_pg_get(pg, "bbbbbbbbbbbbbbbbbbbbbb02", &rec, status, &err), err);
    assert_string_equal(status, "queued");
    free(rec);
    struct ln_pg_lease l;
    assert_ok(ln_pg_claim(pg, "other", 30, &l, &err), err);
    assert_string_equal(l.id, "bbbbbbbbbbbbbbbbbbbbbb02");
    assert_int_equal(l.attempts, 2);
    ln_pg_lease_free(&l);
    ln_pg_worker_free(w);
    ln_engine_free(sculpt);
    ln_pg_close(pg);
}

/* `lunar-nova worker` processes killed (SIGKILL) at random moments and
 * started again while they work through 24 jobs: every job ends succeeded,
 * with its model, and no job is finished by two workers (its "job <id>
 * succeeded" line appears at most once across all the workers' logs: a
 * worker killed right after its result was stored may not have logged it).
 * Needs the program (LN_BIN); skipped without it. */
#define KILL_JOBS 24
#define KILL_WORKERS 3

extern char **environ;

static pid_t start_worker(const char *bin, const char *conninfo, const char *dir, int k, int n)
{
    char name[32], scratch[512], log[512];
    snprintf(name, sizeof name, "w%d", k);
    snprintf(scratch, sizeof scratch, "%s/scratch-%d", dir, k);
    snprintf(log, sizeof log, "%s/w%d-%d.log", dir, k, n);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    char *argv[] = {(char *)bin, "worker", "--store", (char *)conninfo, "--lease", "3",
                    "--name", name, "--scratch", scratch, "--threads", "1", NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, bin, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(rc, 0);
    return pid;
}

static void test_worker_kills(void **state)
{
    (void)state;
    const char *bin = getenv("LN_BIN");
    if (!bin || !*bin) {
        printf("SKIPPED test_worker_kills: LN_BIN (the lunar-nova program) is not set\n");
        skip();
    }
    struct ln_pg *pg = open_migrated("ln_kills");
    struct ln_error err = {0};
    for (int i = 0; i < KILL_JOBS; i++) {
        char id[48]; /* room for any int: -O1 cannot bound i */
        snprintf(id, sizeof id, "cccccccccccccccccccccc%02d", i);
        submit_disk_job(pg, id);
    }
    char conninfo[256];
    snprintf(conninfo, sizeof conninfo, "host=127.0.0.1 port=%d user=lunar dbname=ln_kills",
             g_port);
    const char *dir = ln_test_tmpdir("pg_worker_kills");
    pid_t pids[KILL_WORKERS];
    int starts[KILL_WORKERS] = {0};
    for (int k = 0; k < KILL_WORKERS; k++)
        pids[k] = start_worker(bin, conninfo, dir, k, starts[k]++);
    unsigned seed = 12345;
    int kills = 0;
    int64_t counts[5] = {0};
    const int rounds = (int)(1200 * ln_test_slow()); /* 2 minutes, longer under sanitizers */
    for (int round = 0; round < rounds; round++) {
        sleep_ms(100);
        assert_ok(ln_pg_counts(pg, counts, &err), err);
        if (counts[2] + counts[3] + counts[4] == KILL_JOBS)
            break;
        seed = seed * 1103515245u + 12345u;
        if ((seed >> 16) % 5 == 0) { /* about every half second */
            int k = (int)((seed >> 8) % KILL_WORKERS);
            kill(pids[k], SIGKILL);
            waitpid(pids[k], NULL, 0);
            kills++;
            pids[k] = start_worker(bin, conninfo, dir, k, starts[k]++);
        }
    }
    for (int k = 0; k < KILL_WORKERS; k++) {
        kill(pids[k], SIGTERM);
        waitpid(pids[k], NULL, 0);
    }
    printf("%d workers killed and started again\n", kills);
    assert_int_equal(counts[2], KILL_JOBS);
    assert_true(kills > 0);
    for (int i = 0; i < KILL_JOBS; i++) {
        char id[48], line[128];
        snprintf(id, sizeof id, "cccccccccccccccccccccc%02d", i);
        void *data;
        size_t size;
        assert_ok(ln_pg_file_get(pg, id, "model.glb", &data, &size, NULL, &err), err);
        free(data);
        /* never finished twice: at most one "succeeded" line in all logs */
        snprintf(line, sizeof line, "job %s succeeded", id);
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "cat %s/w*.log | grep -c '%s' > %s/count.txt", dir, line, dir);
        assert_int_equal(system(cmd) == -1, 0);
        char *count_path = ln_test_path(dir, "count.txt");
        size_t len;
        uint8_t *text = ln_test_read(count_path, &len);
        free(count_path);
        if (atoi((const char *)text) > 1)
            fail_msg("job %s was finished by %d workers", id, atoi((const char *)text));
        free(text);
    }
    ln_pg_close(pg);
}

static int group_setup(void **state)
{
    (void)state;
    start_cluster();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    stop_cluster();
    return 0;
}

/* Waits (up to 10 s) until the manager's copy of job id has status want
 * ("gone": no such job); returns its snapshot. */
static struct ln_job wait_status(struct ln_jobs *jobs, const char *id, const char *want)
{
    struct ln_job job;
    memset(&job, 0, sizeof job);
    uint64_t seen = ln_jobs_wait_any(jobs, 0, 0);
    for (int i = 0; i < 100; i++) {
        struct ln_error err = {0};
        int rc = ln_jobs_get(jobs, id, &job, &err);
        if (strcmp(want, "gone") == 0 ? rc == LN_ENOTFOUND
                                      : rc == LN_OK &&
                                            strcmp(ln_job_status_name(job.status), want) == 0)
            return job;
        seen = ln_jobs_wait_any(jobs, seen, 0.1);
    }
    fail_msg("job %s never became %s", id, want);
    return job;
}

/* A fresh database `db` (its conninfo filled) and a job manager's
 * configuration on it: API only (no local workers), outputs in the scratch
 * folder `tmp`; cfg->store points into uri. */
static void manager_config(const char *db, const char *tmp, char conninfo[256], char uri[160],
                           struct ln_jobs_config *cfg)
{
    fresh_db(db, conninfo);
    snprintf(uri, 160, "postgres://lunar@127.0.0.1:%d/%s", g_port, db);
    ln_jobs_config_default(cfg);
    cfg->outputs_dir = ln_test_tmpdir(tmp);
    cfg->store = uri;
    cfg->workers = 0;
}

/* The job manager on the PostgreSQL store (serve --store postgres://...):
 * it creates the schema, follows changes that another process makes in
 * the database (a submit, a claim, progress, a finish, a deletion: what a
 * `lunar-nova worker` and other servers do), reads result files through
 * its cache, cancels and deletes in the database; a newer schema is
 * refused. */
static void test_manager(void **state)
{
    (void)state;
    char conninfo[256], uri[160];
    struct ln_jobs_config cfg;
    manager_config("ln_manager", "pg_manager", conninfo, uri, &cfg);
    struct ln_engine *sculpt;
    struct ln_error err = {0};
    assert_ok(ln_engine_sculpt_new(&sculpt, &err), err);
    struct ln_engine_set set = {{sculpt}, 1};
    struct ln_jobs *jobs;
    assert_ok(ln_jobs_open(&cfg, &set, &jobs, &err), err);
    assert_ok(ln_jobs_start(jobs, &err), err);
    struct ln_pg *pg;
    assert_ok(ln_pg_open(conninfo, &pg, &err), err);
    int version = 0;
    assert_ok(ln_pg_schema_version(pg, &version, &err), err);
    assert_int_equal(version, LN_PG_SCHEMA_VERSION);

    /* Another process submits, claims, reports progress and finishes. */
    const char *a = "cccccccccccccccccccccc01", *b = "cccccccccccccccccccccc02";
    submit_disk_job(pg, a);
    struct ln_job job = wait_status(jobs, a, "queued");
    struct ln_jobs_queue_stats q;
    ln_jobs_queue_stats(jobs, &q);
    assert_int_equal(q.depth, 1);
    assert_int_equal(q.workers, 0);
    struct ln_pg_lease l;
    assert_ok(ln_pg_claim(pg, "elsewhere", 30, &l, &err), err);
    assert_string_equal(l.id, a);
    ln_job_set_started(&job, 1, 1.8e9);
    snprintf(job.stage, sizeof job.stage, "carving");
    job.progress = 0.5;
    json_t *obj = ln_job_to_json(&job);
    char *rec = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    assert_ok(ln_pg_renew(pg, &l, 30, rec, NULL, &err), err);
    free(rec);
    job = wait_status(jobs, a, "running");
    for (int i = 0; i < 100 && strcmp(job.stage, "carving") != 0; i++) {
        ln_jobs_wait_any(jobs, ln_jobs_wait_any(jobs, 0, 0), 0.1);
        assert_ok(ln_jobs_get(jobs, a, &job, &err), err);
    }
    assert_string_equal(job.stage, "carving");
    assert_true(job.progress == 0.5);
    ln_jobs_queue_stats(jobs, &q);
    assert_int_equal(q.depth, 0);
    assert_int_equal(q.running, 1);
    static const char glb[] = "glTF-not-really-a-model";
    struct ln_pg_file model = {"model.glb", "model/gltf-binary", glb, sizeof glb};
    ln_job_set_outcome(&job, LN_OK, "", 1.8e9 + 2.5);
    obj = ln_job_to_json(&job);
    rec = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    assert_ok(ln_pg_finish(pg, &l, "succeeded", rec, &model, 1, &err), err);
    free(rec);
    ln_pg_lease_free(&l);
    wait_status(jobs, a, "succeeded");
    char path[4096];
    assert_ok(ln_jobs_path(jobs, a, "model.glb", path, sizeof path, &err), err);
    uint8_t *bytes;
    size_t len;
    assert_ok(ln_file_read(path, 1 << 20, &bytes, &len, &err), err);
    assert_int_equal(len, sizeof glb);
    assert_memory_equal(bytes, glb, len);
    free(bytes);
    assert_ok(ln_jobs_path(jobs, a, "input-0.png", path, sizeof path, &err), err);
    assert_ok(ln_file_read(path, 1 << 20, &bytes, &len, &err), err);
    assert_memory_equal(bytes, "\x89PNG", 4);
    free(bytes);
    struct ln_jobs_metrics m;
    ln_jobs_metrics(jobs, &m);
    assert_int_equal(m.by_status[LN_JOB_STATUS_SUCCEEDED], 1);
    assert_int_equal(m.duration_count, 1);
    assert_true(m.duration_sum > 2.49 && m.duration_sum < 2.51);

    /* Cancel and delete through the manager reach the database. */
    submit_disk_job(pg, b);
    wait_status(jobs, b, "queued");
    assert_ok(ln_jobs_cancel(jobs, b, &job, &err), err);
    assert_int_equal(job.status, LN_JOB_STATUS_CANCELED);
    assert_string_equal(job.stage, "canceled");
    assert_true(job.finished_at > 0);
    char status[16];
    assert_ok(ln_pg_get(pg, b, &rec, status, &err), err);
    assert_string_equal(status, "canceled");
    free(rec);
    assert_int_equal(ln_jobs_cancel(jobs, b, &job, &err), LN_EINVAL);
    assert_ok(ln_jobs_delete(jobs, a, &err), err);
    assert_int_equal(ln_pg_get(pg, a, &rec, status, &err), LN_ENOTFOUND);
    assert_int_equal(ln_jobs_get(jobs, a, &job, &err), LN_ENOTFOUND);
    assert_int_equal(ln_jobs_delete(jobs, a, &err), LN_ENOTFOUND);
    /* A deletion elsewhere leaves the manager's table too. */
    assert_ok(ln_pg_delete(pg, b, &err), err);
    wait_status(jobs, b, "gone");
    ln_jobs_shutdown(jobs, 1);
    ln_jobs_free(jobs);

    /* A role that may change rows but not create tables opens a current
     * store (servers and workers under least privilege). */
    sql(conninfo, "DROP ROLE IF EXISTS ln_app; CREATE ROLE ln_app LOGIN;"
                  " REVOKE CREATE ON SCHEMA public FROM PUBLIC;"
                  " GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ln_app;"
                  " GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO ln_app");
    char app[160];
    snprintf(app, sizeof app, "postgres://ln_app@127.0.0.1:%d/ln_manager", g_port);
    cfg.store = app;
    assert_ok(ln_jobs_open(&cfg, &set, &jobs, &err), err);
    ln_jobs_free(jobs);
    cfg.store = uri;

    /* A database newer than the program is refused, and left as it is. */
    sql(conninfo, "UPDATE ln_schema SET version = 99");
    assert_int_equal(ln_jobs_open(&cfg, &set, &jobs, &err), LN_EINVAL);
    assert_non_null(strstr(err.message, "newer"));
    assert_ok(ln_pg_schema_version(pg, &version, &err), err);
    assert_int_equal(version, 99);
    ln_pg_close(pg);
    ln_engine_free(sculpt);
}

/* Retention on the PostgreSQL store: the oldest finished jobs beyond
 * keep_jobs leave the database and the manager's table, queued ones stay. */
static void test_manager_retention(void **state)
{
    (void)state;
    char conninfo[256], uri[160];
    struct ln_jobs_config cfg;
    manager_config("ln_retain", "pg_retain", conninfo, uri, &cfg);
    cfg.keep_jobs = 2;
    struct ln_engine *sculpt;
    struct ln_error err = {0};
    assert_ok(ln_engine_sculpt_new(&sculpt, &err), err);
    struct ln_engine_set set = {{sculpt}, 1};
    struct ln_jobs *jobs;
    assert_ok(ln_jobs_open(&cfg, &set, &jobs, &err), err);
    struct ln_pg *pg;
    assert_ok(ln_pg_open(conninfo, &pg, &err), err);
    const char *ids[5] = {"dddddddddddddddddddddd01", "dddddddddddddddddddddd02",
                          "dddddddddddddddddddddd03", "dddddddddddddddddddddd04",
                          "dddddddddddddddddddddd05"};
    for (int i = 0; i < 5; i++)
        submit_disk_job(pg, ids[i]);
    for (int i = 0; i < 4; i++) { /* the fifth stays queued */
        struct ln_pg_lease l;
        assert_ok(ln_pg_claim(pg, "elsewhere", 30, &l, &err), err);
        assert_string_equal(l.id, ids[i]);
        assert_ok(ln_pg_finish(pg, &l, "failed", l.record, NULL, 0, &err), err);
        ln_pg_lease_free(&l);
    }
    wait_status(jobs, ids[0], "gone");
    wait_status(jobs, ids[1], "gone");
    wait_status(jobs, ids[2], "failed");
    wait_status(jobs, ids[3], "failed");
    wait_status(jobs, ids[4], "queued");
    int64_t counts[5];
    for (int i = 0; i < 100; i++) {
        assert_ok(ln_pg_counts(pg, counts, &err), err);
        if (counts[3] == 2)
            break;
        sleep_ms(100);
    }
    assert_int_equal(counts[0], 1);
    assert_int_equal(counts[3], 2);
    ln_jobs_free(jobs);
    ln_pg_close(pg);
    ln_engine_free(sculpt);
}

/* One upload staged in a manager's staging folder: a small PNG. */
static void stage_png(struct ln_jobs *jobs, struct ln_job_request *req, char path[4096],
                      const char *key)
{
    enum { N = 32 };
    static uint8_t px[N * N * 3];
    memset(px, 200, sizeof px);
    struct ln_image img = {.width = N, .height = N, .channels = 3, .data = px};
    struct ln_buf png = {0};
    struct ln_error err = {0};
    assert_ok(ln_image_encode_png(&img, &png, &err), err);
    char dir[2048];
    assert_ok(ln_jobs_staging_dir(jobs, dir, sizeof dir, &err), err);
    snprintf(path, 4096, "%s/upload-0", dir);
    assert_ok(ln_file_write_atomic(path, png.data, png.len, &err), err);
    memset(req, 0, sizeof *req);
    req->n_inputs = 1;
    req->staged_paths[0] = path;
    snprintf(req->inputs[0].name, sizeof req->inputs[0].name, "grey.png");
    snprintf(req->inputs[0].content_type, sizeof req->inputs[0].content_type, "image/png");
    req->inputs[0].bytes = png.len;
    ln_generate_options_default(&req->options);
    req->idempotency_key = key;
    ln_buf_free(&png);
}

/* Two servers on one store given the same idempotency key queue one job:
 * both answer with it, whichever saw it first. */
static void test_manager_idempotency(void **state)
{
    (void)state;
    char conninfo[256], uri[160];
    struct ln_jobs_config cfg;
    manager_config("ln_keys", "pg_keys_a", conninfo, uri, &cfg);
    struct ln_engine *sculpt;
    struct ln_error err = {0};
    assert_ok(ln_engine_sculpt_new(&sculpt, &err), err);
    struct ln_engine_set set = {{sculpt}, 1};
    struct ln_jobs *a, *b;
    assert_ok(ln_jobs_open(&cfg, &set, &a, &err), err);
    cfg.outputs_dir = ln_test_tmpdir("pg_keys_b");
    assert_ok(ln_jobs_open(&cfg, &set, &b, &err), err);
    for (int round = 0; round < 5; round++) {
        char key[32], pa[4096], pb[4096];
        snprintf(key, sizeof key, "batch-%d", round);
        struct ln_job_request ra, rb;
        stage_png(a, &ra, pa, key);
        stage_png(b, &rb, pb, key);
        struct ln_job ja, jb;
        int ea = -1, eb = -1;
        assert_ok(ln_jobs_submit(a, &ra, &ja, &ea, &err), err);
        assert_ok(ln_jobs_submit(b, &rb, &jb, &eb, &err), err);
        assert_string_equal(ja.id, jb.id);
        assert_int_equal(ea, 0);
        assert_int_equal(eb, 1);
        assert_string_equal(jb.idempotency_key, key);
    }
    struct ln_pg *pg;
    assert_ok(ln_pg_open(conninfo, &pg, &err), err);
    int64_t counts[5];
    assert_ok(ln_pg_counts(pg, counts, &err), err);
    assert_int_equal(counts[0], 5);
    /* In the database itself: a second submission with a key is refused. */
    char existing[64];
    assert_ok(ln_pg_submit_once(pg, "eeeeeeeeeeeeeeeeeeeeee01",
                                "{\"id\": \"eeeeeeeeeeeeeeeeeeeeee01\", \"idempotency_key\": \"k\"}",
                                "k", NULL, 0, existing, &err),
              err);
    assert_string_equal(existing, "");
    assert_ok(ln_pg_submit_once(pg, "eeeeeeeeeeeeeeeeeeeeee02",
                                "{\"id\": \"eeeeeeeeeeeeeeeeeeeeee02\", \"idempotency_key\": \"k\"}",
                                "k", NULL, 0, existing, &err),
              err);
    assert_string_equal(existing, "eeeeeeeeeeeeeeeeeeeeee01");
    char *rec, status[16];
    assert_int_equal(ln_pg_get(pg, "eeeeeeeeeeeeeeeeeeeeee02", &rec, status, &err), LN_ENOTFOUND);
    /* A key queued elsewhere an instant before (usually before the
     * manager's table has it: the database answers). */
    char pc[4096];
    struct ln_job_request rc;
    stage_png(a, &rc, pc, "late");
    submit_disk_job(pg, "eeeeeeeeeeeeeeeeeeeeee03");
    sql(conninfo, "UPDATE ln_jobs SET record = record || '{\"idempotency_key\": \"late\"}'"
                  " WHERE id = 'eeeeeeeeeeeeeeeeeeeeee03'");
    struct ln_job jc;
    int ec = -1;
    assert_ok(ln_jobs_submit(a, &rc, &jc, &ec, &err), err);
    assert_string_equal(jc.id, "eeeeeeeeeeeeeeeeeeeeee03");
    assert_int_equal(ec, 1);
    ln_pg_close(pg);
    ln_jobs_free(a);
    ln_jobs_free(b);
    ln_engine_free(sculpt);
}

int main(void)
{
    if (!ln_pg_available())
        skip_all("this build has no PostgreSQL support");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate),
        cmocka_unit_test(test_submit_claim_finish),
        cmocka_unit_test(test_claim_race),
        cmocka_unit_test(test_lease_fencing),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_connection_errors),
        cmocka_unit_test(test_import),
        cmocka_unit_test(test_worker),
        cmocka_unit_test(test_worker_kills),
        cmocka_unit_test(test_manager),
        cmocka_unit_test(test_manager_retention),
        cmocka_unit_test(test_manager_idempotency),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
