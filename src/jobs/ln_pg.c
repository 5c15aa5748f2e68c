/*
 * The PostgreSQL job queue through libpq (Debian's libpq-dev): the schema
 * and its migrations, and each operation of ln_pg.h as one statement or
 * one transaction. Parameters always travel separately from the SQL text
 * (PQexecParams), bytea in binary form.
 */
#include "ln_pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>
#include <sys/select.h>

#include <libpq-fe.h>

#include "ln_alloc.h"

struct ln_pg {
    PGconn *conn;
};

/* An arbitrary constant: the advisory lock that serialises migrations. */
#define LN__PG_MIGRATE_LOCK "7411603512"
/* The first half of the two-part advisory locks of idempotency keys. */
#define LN__PG_KEY_LOCK "741160"

/* Migration k brings the schema from version k to k + 1. Append only:
 * a released migration never changes. */
static const char *const ln__pg_migrations[LN_PG_SCHEMA_VERSION] = {
    /* 1: the queue, the files, the change notifications */
    "CREATE SEQUENCE ln_lease_tokens;"
    "CREATE TABLE ln_jobs ("
    "  id text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 63),"
    "  seq bigserial NOT NULL UNIQUE,"
    "  status text NOT NULL"
    "    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),"
    "  record jsonb NOT NULL,"
    "  cancel_requested boolean NOT NULL DEFAULT false,"
    "  lease_token bigint,"
    "  lease_owner text,"
    "  lease_until timestamptz,"
    "  attempts integer NOT NULL DEFAULT 0,"
    "  created timestamptz NOT NULL DEFAULT now(),"
    "  updated timestamptz NOT NULL DEFAULT now());"
    "CREATE INDEX ln_jobs_claimable ON ln_jobs (seq) WHERE status IN ('queued', 'running');"
    "CREATE TABLE ln_job_files ("
    "  job_id text NOT NULL REFERENCES ln_jobs (id) ON DELETE CASCADE,"
    "  name text NOT NULL,"
    "  content_type text NOT NULL,"
    "  data bytea NOT NULL,"
    "  PRIMARY KEY (job_id, name));"
    "CREATE FUNCTION ln_jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  IF TG_OP = 'DELETE' THEN PERFORM pg_notify('ln_jobs', OLD.id);"
    "  ELSE PERFORM pg_notify('ln_jobs', NEW.id); END IF;"
    "  RETURN NULL;"
    " END $$;"
    "CREATE TRIGGER ln_jobs_notify AFTER INSERT OR UPDATE OR DELETE ON ln_jobs"
    "  FOR EACH ROW EXECUTE FUNCTION ln_jobs_notify();",
};

int ln_pg_available(void)
{
    return 1;
}

static void ln__pg_quiet(void *arg, const char *message)
{
    (void)arg, (void)message;
}

/* The first line of libpq's message, for one-line errors. */
static void ln__pg_message(const char *msg, char *buf, size_t n)
{
    if (!msg || !*msg)
        msg = "unknown error";
    size_t len = strcspn(msg, "\r\n");
    snprintf(buf, n, "%.*s", (int)len, msg);
}

static int ln__pg_conn_error(struct ln_pg *pg, const char *what, struct ln_error *err)
{
    char msg[200];
    ln__pg_message(PQerrorMessage(pg->conn), msg, sizeof msg);
    return ln_error_set(err, LN_EIO, "PostgreSQL: %s: %s", what, msg);
}

/* A connection lost since the last call (the server restarted, the
 * network dropped) is made again once before giving up. */
static int ln__pg_ready(struct ln_pg *pg, struct ln_error *err)
{
    if (PQstatus(pg->conn) == CONNECTION_OK)
        return LN_OK;
    PQreset(pg->conn);
    if (PQstatus(pg->conn) != CONNECTION_OK)
        return ln__pg_conn_error(pg, "cannot reach the database", err);
    return LN_OK;
}

/* Runs one statement. On a result other than `want` the result is freed,
 * err says what failed, and NULL is returned (*sqlstate, when given, gets
 * the server's SQLSTATE or ""). */
static PGresult *ln__pg_run(struct ln_pg *pg, const char *what, ExecStatusType want,
                            const char *sql, int n, const char *const *vals, const int *lens,
                            const int *fmts, int binary_result, char sqlstate[6],
                            struct ln_error *err)
{
    if (sqlstate)
        sqlstate[0] = 0;
    PGresult *r = n || binary_result
                      ? PQexecParams(pg->conn, sql, n, NULL, vals, lens, fmts, binary_result)
                      : PQexec(pg->conn, sql);
    if (r && PQresultStatus(r) == want)
        return r;
    char msg[200];
    if (r) {
        ln__pg_message(PQresultErrorMessage(r), msg, sizeof msg);
        const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (sqlstate && st)
            snprintf(sqlstate, 6, "%s", st);
    } else {
        ln__pg_message(PQerrorMessage(pg->conn), msg, sizeof msg);
    }
    PQclear(r);
    ln_error_set(err, LN_EIO, "PostgreSQL: %s: %s", what, msg);
    return NULL;
}

/* A statement whose result is not needed. */
static int ln__pg_do(struct ln_pg *pg, const char *what, const char *sql, struct ln_error *err)
{
    PGresult *r = ln__pg_run(pg, what, PGRES_COMMAND_OK, sql, 0, NULL, NULL, NULL, 0, NULL, err);
    if (!r)
        return err ? err->code : LN_EIO;
    PQclear(r);
    return LN_OK;
}

static void ln__pg_rollback(struct ln_pg *pg)
{
    PQclear(PQexec(pg->conn, "ROLLBACK"));
}

int ln_pg_open(const char *conninfo, struct ln_pg **out, struct ln_error *err)
{
    *out = NULL;
    if (!conninfo || !*conninfo)
        return ln_error_set(err, LN_EINVAL, "PostgreSQL: no connection string");
    struct ln_pg *pg = ln_xcalloc(1, sizeof *pg);
    pg->conn = PQconnectdb(conninfo);
    if (!pg->conn) {
        free(pg);
        return ln_error_set(err, LN_ENOMEM, "PostgreSQL: out of memory connecting");
    }
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        int rc = ln__pg_conn_error(pg, "cannot connect", err);
        ln_pg_close(pg);
        return rc;
    }
    /* Names and times as this module writes and reads them, whatever the
     * role's defaults; the server's notices ("already exists, skipping")
     * are not errors and not printed (libpq would write them to stderr). */
    PQsetNoticeProcessor(pg->conn, ln__pg_quiet, NULL);
    int rc = ln__pg_do(pg, "setting up the session",
                       "SET client_encoding = 'UTF8'; SET TIME ZONE 'UTC';"
                       " SET client_min_messages = warning",
                       err);
    if (rc < 0) {
        ln_pg_close(pg);
        return rc;
    }
    *out = pg;
    return LN_OK;
}

void ln_pg_close(struct ln_pg *pg)
{
    if (!pg)
        return;
    PQfinish(pg->conn);
    free(pg);
}

/* The version in ln_schema (0 when the table is empty), inside the
 * caller's transaction. */
static int ln__pg_read_version(struct ln_pg *pg, int *version, struct ln_error *err)
{
    PGresult *r = ln__pg_run(pg, "reading the schema version", PGRES_TUPLES_OK,
                             "SELECT max(version) FROM ln_schema", 0, NULL, NULL, NULL, 0, NULL,
                             err);
    if (!r)
        return err ? err->code : LN_EIO;
    *version = PQgetisnull(r, 0, 0) ? 0 : atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return LN_OK;
}

int ln_pg_schema_version(struct ln_pg *pg, int *version, struct ln_error *err)
{
    *version = 0;
    int rc = ln__pg_ready(pg, err);
    if (rc < 0)
        return rc;
    PGresult *r = ln__pg_run(pg, "reading the schema version", PGRES_TUPLES_OK,
                             "SELECT to_regclass('ln_schema') IS NOT NULL", 0, NULL, NULL, NULL,
                             0, NULL, err);
    if (!r)
        return err ? err->code : LN_EIO;
    int exists = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return exists ? ln__pg_read_version(pg, version, err) : LN_OK;
}

int ln_pg_migrate(struct ln_pg *pg, int *from, int *to, struct ln_error *err)
{
    /* A current schema is only read: a role without the right to create
     * tables (servers and workers under least privilege) gets through. */
    int now = 0;
    int rc = ln_pg_schema_version(pg, &now, err);
    if (rc < 0)
        return rc;
    if (now == LN_PG_SCHEMA_VERSION) {
        if (from)
            *from = now;
        if (to)
            *to = now;
        return LN_OK;
    }
    if (now > LN_PG_SCHEMA_VERSION)
        return ln_error_set(err, LN_EINVAL,
                            "PostgreSQL: the database's schema is version %d, newer than this "
                            "program's %d: upgrade lunar-nova (nothing was changed)",
                            now, LN_PG_SCHEMA_VERSION);
    for (int first = 1;; first = 0) {
        int v = 0;
        if ((rc = ln__pg_do(pg, "starting a migration",
                            "BEGIN; SELECT pg_advisory_xact_lock(" LN__PG_MIGRATE_LOCK ");"
                            "CREATE TABLE IF NOT EXISTS ln_schema (version integer NOT NULL)",
                            err)) < 0 ||
            (rc = ln__pg_read_version(pg, &v, err)) < 0) {
            ln__pg_rollback(pg);
            return rc;
        }
        if (first && from)
            *from = v;
        if (v > LN_PG_SCHEMA_VERSION) {
            ln__pg_rollback(pg);
            return ln_error_set(err, LN_EINVAL,
                                "PostgreSQL: the database's schema is version %d, newer than "
                                "this program's %d: upgrade lunar-nova (nothing was changed)",
                                v, LN_PG_SCHEMA_VERSION);
        }
        if (v == LN_PG_SCHEMA_VERSION) {
            if (to)
                *to = v;
            return ln__pg_do(pg, "ending the migration", "COMMIT", err);
        }
        char what[64], set[96];
        snprintf(what, sizeof what, "migrating the schema to version %d", v + 1);
        snprintf(set, sizeof set, "DELETE FROM ln_schema; INSERT INTO ln_schema VALUES (%d)",
                 v + 1);
        if ((rc = ln__pg_do(pg, what, ln__pg_migrations[v], err)) < 0 ||
            (rc = ln__pg_do(pg, what, set, err)) < 0 ||
            (rc = ln__pg_do(pg, what, "COMMIT", err)) < 0) {
            ln__pg_rollback(pg);
            return rc;
        }
    }
}

/* Inserts or replaces files of job id, inside the caller's transaction. */
static int ln__pg_put_files(struct ln_pg *pg, const char *id, const struct ln_pg_file *files,
                            size_t n, struct ln_error *err)
{
    for (size_t i = 0; i < n; i++) {
        if (files[i].size > INT32_MAX)
            return ln_error_set(err, LN_ETOOBIG, "PostgreSQL: %s is too large to store",
                                files[i].name);
        const char *vals[4] = {id, files[i].name, files[i].content_type, files[i].data};
        int lens[4] = {0, 0, 0, (int)files[i].size};
        int fmts[4] = {0, 0, 0, 1};
        PGresult *r = ln__pg_run(
            pg, "storing a file", PGRES_COMMAND_OK,
            "INSERT INTO ln_job_files (job_id, name, content_type, data)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (job_id, name)"
            " DO UPDATE SET content_type = EXCLUDED.content_type, data = EXCLUDED.data",
            4, vals, lens, fmts, 0, NULL, err);
        if (!r)
            return err ? err->code : LN_EIO;
        PQclear(r);
    }
    return LN_OK;
}

/* The insert of ln_pg_submit, inside the caller's transaction (rolled
 * back here on failure). */
static int ln__pg_insert(struct ln_pg *pg, const char *id, const char *record,
                         const struct ln_pg_file *inputs, size_t n_inputs, struct ln_error *err)
{
    int rc;
    const char *vals[2] = {id, record};
    char state[6];
    PGresult *r = ln__pg_run(pg, "submitting a job", PGRES_COMMAND_OK,
                             "INSERT INTO ln_jobs (id, status, record)"
                             " VALUES ($1, 'queued', jsonb_set($2::jsonb, '{status}', '\"queued\"'))",
                             2, vals, NULL, NULL, 0, state, err);
    if (!r) {
        ln__pg_rollback(pg);
        if (strcmp(state, "23505") == 0)
            return ln_error_set(err, LN_EINVAL, "PostgreSQL: a job with id %s exists", id);
        return err ? err->code : LN_EIO;
    }
    PQclear(r);
    if ((rc = ln__pg_put_files(pg, id, inputs, n_inputs, err)) < 0 ||
        (rc = ln__pg_do(pg, "submitting a job", "COMMIT", err)) < 0) {
        ln__pg_rollback(pg);
        return rc;
    }
    return LN_OK;
}

int ln_pg_submit(struct ln_pg *pg, const char *id, const char *record,
                 const struct ln_pg_file *inputs, size_t n_inputs, struct ln_error *err)
{
    int rc = ln__pg_ready(pg, err);
    if (rc < 0 || (rc = ln__pg_do(pg, "submitting a job", "BEGIN", err)) < 0)
        return rc;
    return ln__pg_insert(pg, id, record, inputs, n_inputs, err);
}

int ln_pg_submit_once(struct ln_pg *pg, const char *id, const char *record, const char *key,
                      const struct ln_pg_file *inputs, size_t n_inputs, char existing[64],
                      struct ln_error *err)
{
    existing[0] = 0;
    if (!key || !*key)
        return ln_pg_submit(pg, id, record, inputs, n_inputs, err);
    int rc = ln__pg_ready(pg, err);
    if (rc < 0 || (rc = ln__pg_do(pg, "submitting a job", "BEGIN", err)) < 0)
        return rc;
    /* Submissions with one key wait for each other here (a lock per key,
     * released with the transaction), so the look-up and the insert are
     * one step for them. */
    const char *vals[1] = {key};
    PGresult *r = ln__pg_run(pg, "submitting a job", PGRES_TUPLES_OK,
                             "SELECT pg_advisory_xact_lock(" LN__PG_KEY_LOCK ", hashtext($1))",
                             1, vals, NULL, NULL, 0, NULL, err);
    if (r) {
        PQclear(r);
        r = ln__pg_run(pg, "submitting a job", PGRES_TUPLES_OK,
                       "SELECT id FROM ln_jobs WHERE record->>'idempotency_key' = $1"
                       " ORDER BY seq LIMIT 1",
                       1, vals, NULL, NULL, 0, NULL, err);
    }
    if (!r) {
        ln__pg_rollback(pg);
        return err ? err->code : LN_EIO;
    }
    if (PQntuples(r) == 1) {
        snprintf(existing, 64, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
        ln__pg_rollback(pg);
        return LN_OK;
    }
    PQclear(r);
    return ln__pg_insert(pg, id, record, inputs, n_inputs, err);
}

int ln_pg_import(struct ln_pg *pg, const char *id, const char *status, const char *record,
                 double created, int attempts, const struct ln_pg_file *files, size_t n_files,
                 int *added, struct ln_error *err)
{
    *added = 0;
    int rc = ln__pg_ready(pg, err);
    if (rc < 0 || (rc = ln__pg_do(pg, "importing a job", "BEGIN", err)) < 0)
        return rc;
    char when[40], tries[16];
    snprintf(when, sizeof when, "%.6f", created);
    snprintf(tries, sizeof tries, "%d", attempts);
    const char *vals[5] = {id, status, record, when, tries};
    PGresult *r = ln__pg_run(
        pg, "importing a job", PGRES_COMMAND_OK,
        "INSERT INTO ln_jobs (id, status, record, created, attempts)"
        " VALUES ($1, $2, jsonb_set($3::jsonb, '{status}', to_jsonb($2::text)),"
        "  CASE WHEN $4::double precision > 0 THEN to_timestamp($4::double precision)"
        "  ELSE now() END, $5::integer)"
        " ON CONFLICT (id) DO NOTHING",
        5, vals, NULL, NULL, 0, NULL, err);
    if (!r) {
        ln__pg_rollback(pg);
        return err ? err->code : LN_EIO;
    }
    *added = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    if ((*added && (rc = ln__pg_put_files(pg, id, files, n_files, err)) < 0) ||
        (rc = ln__pg_do(pg, "importing a job", "COMMIT", err)) < 0) {
        ln__pg_rollback(pg);
        *added = 0;
        return rc;
    }
    return LN_OK;
}

int ln_pg_claim(struct ln_pg *pg, const char *worker, double lease_s, struct ln_pg_lease *out,
                struct ln_error *err)
{
    memset(out, 0, sizeof *out);
    int rc = ln__pg_ready(pg, err);
    if (rc < 0)
        return rc;
    /* A job whose worker vanished after a cancel was asked for ends
     * canceled rather than running again. */
    if ((rc = ln__pg_do(pg, "ending canceled jobs of lost workers",
                        "UPDATE ln_jobs SET status = 'canceled',"
                        " record = jsonb_set(record, '{status}', '\"canceled\"'),"
                        " lease_token = NULL, lease_owner = NULL, lease_until = NULL,"
                        " updated = now()"
                        " WHERE status = 'running' AND cancel_requested AND lease_until < now()",
                        err)) < 0)
        return rc;
    char secs[32];
    snprintf(secs, sizeof secs, "%.3f", lease_s);
    const char *vals[2] = {worker, secs};
    PGresult *r = ln__pg_run(
        pg, "claiming a job", PGRES_TUPLES_OK,
        "UPDATE ln_jobs j SET status = 'running',"
        " record = jsonb_set(j.record, '{status}', '\"running\"'),"
        " lease_token = nextval('ln_lease_tokens'), lease_owner = $1,"
        " lease_until = now() + make_interval(secs => $2::double precision),"
        " attempts = j.attempts + 1, updated = now()"
        " FROM (SELECT id FROM ln_jobs"
        "       WHERE (status = 'queued' AND NOT cancel_requested)"
        "          OR (status = 'running' AND lease_until < now())"
        "       ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED) c"
        " WHERE j.id = c.id"
        " RETURNING j.id, j.lease_token, j.attempts, j.record::text",
        2, vals, NULL, NULL, 0, NULL, err);
    if (!r)
        return err ? err->code : LN_EIO;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return ln_error_set(err, LN_ENOTFOUND, "no job to claim");
    }
    snprintf(out->id, sizeof out->id, "%s", PQgetvalue(r, 0, 0));
    out->token = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    out->attempts = atoi(PQgetvalue(r, 0, 2));
    out->record = ln_xstrdup(PQgetvalue(r, 0, 3));
    PQclear(r);
    return LN_OK;
}

int ln_pg_renew(struct ln_pg *pg, const struct ln_pg_lease *lease, double lease_s,
                const char *record, int *cancel, struct ln_error *err)
{
    int rc = ln__pg_ready(pg, err);
    if (rc < 0)
        return rc;
    char token[24], secs[32];
    snprintf(token, sizeof token, "%" PRId64, lease->token);
    snprintf(secs, sizeof secs, "%.3f", lease_s);
    const char *vals[4] = {lease->id, token, secs, record};
    PGresult *r = ln__pg_run(
        pg, "renewing a lease", PGRES_TUPLES_OK,
        "UPDATE ln_jobs SET lease_until = now() + make_interval(secs => $3::double precision),"
        " record = COALESCE(jsonb_set($4::jsonb, '{status}', '\"running\"'), record),"
        " updated = now()"
        " WHERE id = $1 AND lease_token = $2::bigint AND status = 'running'"
        " RETURNING cancel_requested",
        4, vals, NULL, NULL, 0, NULL, err);
    if (!r)
        return err ? err->code : LN_EIO;
    int found = PQntuples(r) == 1;
    if (found && cancel)
        *cancel = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!found)
        return ln_error_set(err, LN_ECANCELED, "the lease on job %s was lost", lease->id);
    return LN_OK;
}

int ln_pg_finish(struct ln_pg *pg, const struct ln_pg_lease *lease, const char *status,
                 const char *record, const struct ln_pg_file *results, size_t n_results,
                 struct ln_error *err)
{
    if (!status || (strcmp(status, "succeeded") && strcmp(status, "failed") &&
                    strcmp(status, "canceled")))
        return ln_error_set(err, LN_EINVAL, "PostgreSQL: \"%s\" is not a final status",
                            status ? status : "");
    int rc = ln__pg_ready(pg, err);
    if (rc < 0 || (rc = ln__pg_do(pg, "finishing a job", "BEGIN", err)) < 0)
        return rc;
    char token[24];
    snprintf(token, sizeof token, "%" PRId64, lease->token);
    const char *vals[4] = {lease->id, token, status, record};
    PGresult *r = ln__pg_run(
        pg, "finishing a job", PGRES_COMMAND_OK,
        "UPDATE ln_jobs SET status = $3,"
        " record = jsonb_set($4::jsonb, '{status}', to_jsonb($3::text)),"
        " lease_token = NULL, lease_owner = NULL, lease_until = NULL, updated = now()"
        " WHERE id = $1 AND lease_token = $2::bigint AND status = 'running'",
        4, vals, NULL, NULL, 0, NULL, err);
    if (!r) {
        ln__pg_rollback(pg);
        return err ? err->code : LN_EIO;
    }
    int found = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    if (!found) {
        ln__pg_rollback(pg);
        return ln_error_set(err, LN_ECANCELED,
                            "the lease on job %s was lost: its result was not stored", lease->id);
    }
    if ((rc = ln__pg_put_files(pg, lease->id, results, n_results, err)) < 0 ||
        (rc = ln__pg_do(pg, "finishing a job", "COMMIT", err)) < 0) {
        ln__pg_rollback(pg);
        return rc;
    }
    return LN_OK;
}

int ln_pg_release(struct ln_pg *pg, const struct ln_pg_lease *lease, struct ln_error *err)
{
    int rc = ln__pg_ready(pg, err);
    if (rc < 0)
        return rc;
    char token[24];
    snprintf(token, sizeof token, "%" PRId64, lease->token);
    const char *vals[2] = {lease->id, token};
    PGresult *r = ln__pg_run(
        pg, "giving a job back", PGRES_COMMAND_OK,
        "UPDATE ln_jobs SET status = 'queued',"
        " record = jsonb_set(jsonb_set(record, '{status}', '\"queued\"'),"
        "   '{stage}', '\"queued\"'),"
        " lease_token = NULL, lease_owner = NULL, lease_until = NULL, updated = now()"
        " WHERE id = $1 AND lease_token = $2::bigint AND status = 'running'",
        2, vals, NULL, NULL, 0, NULL, err);
    if (!r)
        return err ? err->code : LN_EIO;
    int found = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    return found ? LN_OK
                 : ln_error_set(err, LN_ECANCELED, "the lease on job %s was lost", lease->id);
}

void ln_pg_lease_free(struct ln_pg_lease *lease)
{
    if (!lease)
        return;
    free(lease->record);
    lease->record = NULL;
}

/* Whether job id exists (1), does not (0), or an error. */
static int ln__pg_exists(struct ln_pg *pg, const char *id, struct ln_error *err)
{
    const char *vals[1] = {id};
    PGresult *r = ln__pg_run(pg, "looking up a job", PGRES_TUPLES_OK,
                             "SELECT 1 FROM ln_jobs WHERE id = $1", 1, vals, NULL, NULL, 0, NULL,
                             err);
    if (!r)
        return err ? err->code : LN_EIO;
    int n = PQntuples(r);
    PQclear(r);
    return n > 0;
}

int ln_pg_cancel(struct ln_pg *pg, const char *id, int *now, struct ln_error *err)
{
    int rc = ln__pg_ready(pg, err);
    if (rc < 0)
        return rc;
    const char *vals[1] = {id};
    PGresult *r = ln__pg_run(
        pg, "canceling a job", PGRES_TUPLES_OK,
        "UPDATE ln_jobs SET"
        " record = CASE WHEN status = 'queued'"
        "   THEN record || jsonb_build_object('status', 'canceled', 'stage', 'canceled',"
        "     'finished_at', to_char(now(), 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))"
        "   ELSE record || '{\"stage\": \"canceling\"}' END,"
        " cancel_requested = (status = 'running'),"
        " status = CASE WHEN status = 'queued' THEN 'canceled' ELSE status END,"
        " updated = now()"
        " WHERE id = $1 AND status IN ('queued', 'running')"
        " RETURNING status",
        1, vals, NULL, NULL, 0, NULL, err);
    if (!r)
        return err ? err->code : LN_EIO;
    if (PQntuples(r) == 1) {
        if (now)
            *now = strcmp(PQgetvalue(r, 0, 0), "canceled") == 0;
        PQclear(r);
        return LN_OK;
    }
    PQclear(r);
    if ((rc = ln__pg_exists(pg, id, err)) < 0)
        return rc;
    return rc ? ln_error_set(err, LN_EINVAL, "job %s has finished: nothing to cancel", id)
              : ln_error_set(err, LN_ENOTFOUND, "no job with id %.40s", id);
}

int ln_pg_delete(struct ln_pg *pg, const char *id, struct ln_error *err)
{
    int rc = ln__pg_ready(pg, err);
    if (rc < 0)
        return rc;
    const char *vals[1] = {id};
    PGresult *r = ln__pg_run(pg, "deleting a job", PGRES_COMMAND_OK,
                             "DELETE FROM ln_jobs WHERE id = $1", 1, vals, NULL, NULL, 0, NULL,
                             err);
    if (!r)
        return err ? err->code : LN_EIO;
    int found = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    return found ? LN_OK : ln_error_set(err, LN_ENOTFOUND, "no job with id %.40s", id);
}

int ln_pg_get(struct ln_pg *pg, const char *id, char **record, char status[16],
              struct ln_error *err)
{
    *record = NULL;
    int rc = ln__pg_ready(pg, err);
    if (rc < 0)
        return rc;
    const char *vals[1] = {id};
    PGresult *r = ln__pg_run(pg, "reading a job", PGRES_TUPLES_OK,
                             "SELECT record::text, status FROM ln_jobs WHERE id = $1", 1, vals,
                             NULL, NULL, 0, NULL, err);
    if (!r)
        return err ? err->code : LN_EIO;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return ln_error_set(err, LN_ENOTFOUND, "no job with id %.40s", id);
    }
    *record = ln_xstrdup(PQgetvalue(r, 0, 0));
    if (status)
        snprintf(status, 16, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    return LN_OK;
}

int ln_pg_file_get(struct ln_pg *pg, const char *id, const char *name, void **data,
                   size_t *size, char content_type[128], struct ln_error *err)
{
    *data = NULL;
    *size = 0;
    int rc = ln__pg_ready(pg, err);
    if (rc < 0)
        return rc;
    const char *vals[2] = {id, name};
    /* binary results: the bytea as its bytes, the text as its characters */
    PGresult *r = ln__pg_run(pg, "reading a file", PGRES_TUPLES_OK,
                             "SELECT content_type, data FROM ln_job_files"
                             " WHERE job_id = $1 AND name = $2",
                             2, vals, NULL, NULL, 1, NULL, err);
    if (!r)
        return err ? err->code : LN_EIO;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return ln_error_set(err, LN_ENOTFOUND, "job %.40s has no file %.64s", id, name);
    }
    if (content_type)
        snprintf(content_type, 128, "%.*s", PQgetlength(r, 0, 0), PQgetvalue(r, 0, 0));
    size_t n = (size_t)PQgetlength(r, 0, 1);
    *data = ln_xmalloc(n ? n : 1);
    memcpy(*data, PQgetvalue(r, 0, 1), n);
    *size = n;
    PQclear(r);
    return LN_OK;
}

int ln_pg_counts(struct ln_pg *pg, int64_t counts[5], struct ln_error *err)
{
    static const char *const names[5] = {"queued", "running", "succeeded", "failed",
                                         "canceled"};
    memset(counts, 0, 5 * sizeof counts[0]);
    int rc = ln__pg_ready(pg, err);
    if (rc < 0)
        return rc;
    PGresult *r = ln__pg_run(pg, "counting jobs", PGRES_TUPLES_OK,
                             "SELECT status, count(*) FROM ln_jobs GROUP BY status", 0, NULL,
                             NULL, NULL, 0, NULL, err);
    if (!r)
        return err ? err->code : LN_EIO;
    for (int i = 0; i < PQntuples(r); i++)
        for (int k = 0; k < 5; k++)
            if (strcmp(PQgetvalue(r, i, 0), names[k]) == 0)
                counts[k] = strtoll(PQgetvalue(r, i, 1), NULL, 10);
    PQclear(r);
    return LN_OK;
}

int ln_pg_list(struct ln_pg *pg,
               void (*each)(void *user, const char *id, const char *status, const char *record),
               void *user, struct ln_error *err)
{
    int rc = ln__pg_ready(pg, err);
    if (rc < 0)
        return rc;
    PGresult *r = ln__pg_run(pg, "listing the jobs", PGRES_TUPLES_OK,
                             "SELECT id, status, record::text FROM ln_jobs ORDER BY seq", 0, NULL,
                             NULL, NULL, 0, NULL, err);
    if (!r)
        return err ? err->code : LN_EIO;
    for (int i = 0; i < PQntuples(r); i++)
        each(user, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
    PQclear(r);
    return LN_OK;
}

int ln_pg_listen(struct ln_pg *pg, struct ln_error *err)
{
    int rc = ln__pg_ready(pg, err);
    if (rc < 0)
        return rc;
    return ln__pg_do(pg, "listening for changes", "LISTEN ln_jobs", err);
}

int ln_pg_notified(struct ln_pg *pg, double timeout_s, void (*each)(void *user, const char *id),
                   void *user, size_t *n, struct ln_error *err)
{
    if (n)
        *n = 0;
    if (PQstatus(pg->conn) != CONNECTION_OK)
        return ln__pg_conn_error(pg, "the connection was lost", err);
    int sock = PQsocket(pg->conn);
    if (sock < 0)
        return ln__pg_conn_error(pg, "the connection was lost", err);
    /* What arrived with earlier results first, then the socket. */
    if (!PQconsumeInput(pg->conn))
        return ln__pg_conn_error(pg, "reading notifications", err);
    PGnotify *note = PQnotifies(pg->conn);
    if (!note && timeout_s > 0) {
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(sock, &fds);
        struct timeval tv = {(long)timeout_s, (long)((timeout_s - (long)timeout_s) * 1e6)};
        if (select(sock + 1, &fds, NULL, NULL, &tv) < 0 && errno != EINTR)
            return ln_error_set(err, LN_EIO, "PostgreSQL: waiting for notifications: %s",
                                strerror(errno));
        if (!PQconsumeInput(pg->conn))
            return ln__pg_conn_error(pg, "reading notifications", err);
        note = PQnotifies(pg->conn);
    }
    while (note) {
        if (note->extra)
            each(user, note->extra);
        if (n)
            (*n)++;
        PQfreemem(note);
        note = PQnotifies(pg->conn);
    }
    return LN_OK;
}
