/*
 * `lunar-nova store`: the job store's own commands. For now one:
 *
 *   lunar-nova store import [--outputs DIR] --store postgres://...
 *
 * copies a server's history (outputs/jobs.json, the job folders' records
 * and files) into a PostgreSQL job store, creating or migrating its schema
 * first (docs/postgres.md). Run again, it adds only what is missing.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "ln_fs.h"
#include "ln_pg.h"

static void ln__store_usage(FILE *f)
{
    fputs("Usage: lunar-nova store import [--outputs DIR] --store URL\n"
          "\n"
          "Copies the job history of a server's outputs folder (jobs.json, each job's\n"
          "record and files) into a PostgreSQL job store, creating or migrating its\n"
          "tables first. Jobs the database has already are left as they are there, so\n"
          "an import cut short is finished by running it again; queued or running jobs\n"
          "go in queued, for a worker. The outputs folder is not changed.\n"
          "\n"
          "  --outputs DIR   the server's outputs folder (default: outputs)\n"
          "  --store URL     postgres://user@host/database or a libpq connection\n"
          "                  string (LUNAR_NOVA_STORE)\n",
          f);
}

static int ln__store_import(int argc, char **argv)
{
    const char *outputs = "outputs";
    const char *store = getenv("LUNAR_NOVA_STORE");
    static const struct option opts[] = {
        {"outputs", required_argument, NULL, 'o'},
        {"store", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            outputs = optarg;
            break;
        case 's':
            store = optarg;
            break;
        case 'h':
            ln__store_usage(stdout);
            return LN_EXIT_OK;
        default:
            ln__store_usage(stderr);
            return LN_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "lunar-nova store import: unexpected argument '%s'\n", argv[optind]);
        return LN_EXIT_USAGE;
    }
    if (!store || !*store) {
        fprintf(stderr, "lunar-nova store import: no --store given (nor LUNAR_NOVA_STORE)\n");
        return LN_EXIT_USAGE;
    }
    struct ln_error err = {0};
    struct ln_path_info info;
    if (ln_path_stat(outputs, 0, &info, NULL) != LN_OK || info.kind != LN_PATH_DIR) {
        fprintf(stderr, "lunar-nova store import: %s is not a folder (--outputs names the "
                        "server's outputs folder)\n", outputs);
        return LN_EXIT_USAGE;
    }
    struct ln_pg *pg;
    int from = 0, to = 0;
    int rc = ln_pg_open(store, &pg, &err);
    if (rc == LN_OK && (rc = ln_pg_migrate(pg, &from, &to, &err)) < 0)
        ln_pg_close(pg);
    if (rc < 0) {
        fprintf(stderr, "lunar-nova store import: %s\n", err.message);
        return LN_EXIT_USAGE;
    }
    if (from != to)
        printf("database schema: version %d -> %d\n", from, to);
    struct ln_pg_import_report rep;
    rc = ln_pg_import_outputs(pg, outputs, &rep, &err);
    ln_pg_close(pg);
    printf("imported %zu job%s (%zu file%s, %.1f MB) from %s; %zu already in the store",
           rep.jobs, rep.jobs == 1 ? "" : "s", rep.files, rep.files == 1 ? "" : "s",
           (double)rep.bytes / 1e6, outputs, rep.present);
    if (rep.requeued)
        printf("; %zu queued again", rep.requeued);
    if (rep.deleting)
        printf("; %zu being deleted left out", rep.deleting);
    printf("\n");
    if (rc < 0) {
        fprintf(stderr, "lunar-nova store import: %s (run it again to add the rest)\n",
                err.message);
        return ln_app_exit_for(rc);
    }
    return LN_EXIT_OK;
}

int ln_app_store(int argc, char **argv)
{
    if (argc < 2) {
        ln__store_usage(stderr);
        return LN_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        ln__store_usage(stdout);
        return LN_EXIT_OK;
    }
    if (strcmp(sub, "import") == 0)
        return ln__store_import(argc - 1, argv + 1);
    fprintf(stderr, "lunar-nova store: unknown command '%s' (import)\n", sub);
    return LN_EXIT_USAGE;
}
