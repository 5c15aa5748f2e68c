/*
 * bench-pg-claims: the PostgreSQL job queue's own speed, without any
 * generation: N jobs submitted, then W workers (threads, a connection
 * each) claim and finish them with an empty result as fast as they can,
 * for W = 1, 2, 4, 8. Prints jobs per second for the submissions and for
 * each worker count. bench/pg_claims.sh starts a PostgreSQL of its own and
 * runs this against it; by hand:
 *
 *   bench-pg-claims CONNINFO [JOBS]      (default 2000 jobs per round)
 *
 * Every round starts from an empty queue (the ln_jobs table is emptied).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "ln_pg.h"
#include "ln_time.h"

struct ln__round {
    const char *conninfo;
    atomic_int done, errors;
};

static void ln__die(const char *what, const struct ln_error *err)
{
    fprintf(stderr, "bench-pg-claims: %s: %s\n", what, err ? err->message : "failed");
    exit(1);
}

static void *ln__worker(void *arg)
{
    struct ln__round *r = arg;
    struct ln_pg *pg;
    struct ln_error err = {0};
    if (ln_pg_open(r->conninfo, &pg, &err) < 0)
        ln__die("connecting", &err);
    for (;;) {
        struct ln_pg_lease l;
        int rc = ln_pg_claim(pg, "bench", 60, &l, &err);
        if (rc == LN_ENOTFOUND)
            break;
        if (rc < 0) {
            atomic_fetch_add(&r->errors, 1);
            break;
        }
        if (ln_pg_finish(pg, &l, "succeeded", l.record, NULL, 0, &err) == LN_OK)
            atomic_fetch_add(&r->done, 1);
        else
            atomic_fetch_add(&r->errors, 1);
        ln_pg_lease_free(&l);
    }
    ln_pg_close(pg);
    return NULL;
}

static void ln__empty(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    PGresult *res = PQexec(c, "SET client_min_messages = warning; TRUNCATE ln_jobs CASCADE");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fprintf(stderr, "bench-pg-claims: emptying the queue: %s", PQresultErrorMessage(res));
        exit(1);
    }
    PQclear(res);
    PQfinish(c);
}

static double ln__submit(struct ln_pg *pg, int round, int n)
{
    struct ln_error err = {0};
    double t0 = ln_time_now();
    for (int i = 0; i < n; i++) {
        char id[32], rec[128];
        snprintf(id, sizeof id, "r%d-%06d", round, i);
        snprintf(rec, sizeof rec, "{\"id\": \"%s\", \"status\": \"queued\"}", id);
        if (ln_pg_submit(pg, id, rec, NULL, 0, &err) < 0)
            ln__die("submitting", &err);
    }
    return ln_time_now() - t0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("usage: bench-pg-claims CONNINFO [JOBS]\n", stderr);
        return 2;
    }
    const char *conninfo = argv[1];
    const int n = argc > 2 ? atoi(argv[2]) : 2000;
    struct ln_pg *pg;
    struct ln_error err = {0};
    if (ln_pg_open(conninfo, &pg, &err) < 0 || ln_pg_migrate(pg, NULL, NULL, &err) < 0)
        ln__die(conninfo, &err);
    printf("%d jobs per round; claim + finish with no generation\n\n", n);
    printf("workers   submit jobs/s   claim+finish jobs/s\n");
    const int counts[] = {1, 2, 4, 8};
    for (int k = 0; k < 4; k++) {
        ln__empty(conninfo);
        double ts = ln__submit(pg, k, n);
        struct ln__round r = {.conninfo = conninfo};
        pthread_t t[8];
        double t0 = ln_time_now();
        for (int i = 0; i < counts[k]; i++)
            pthread_create(&t[i], NULL, ln__worker, &r);
        for (int i = 0; i < counts[k]; i++)
            pthread_join(t[i], NULL);
        double tc = ln_time_now() - t0;
        if (atomic_load(&r.done) != n || atomic_load(&r.errors))
            fprintf(stderr, "bench-pg-claims: %d of %d finished, %d errors\n",
                    atomic_load(&r.done), n, atomic_load(&r.errors));
        printf("%7d %15.0f %21.0f\n", counts[k], n / ts, atomic_load(&r.done) / tc);
    }
    ln_pg_close(pg);
    return 0;
}
