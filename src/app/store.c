/*
 * `lunar-nova store`: the job store's own commands.
 *
 *   lunar-nova store migrate --store postgres://...
 *
 * creates the PostgreSQL job store's tables or brings them to this
 * program's version (a newer database is refused, nothing changed);
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
    fputs("Usage: lunar-nova store migrate --store URL\n"
          "       lunar-nova store import [--outputs DIR] --store URL\n"
          "\n"
          "migrate creates the tables of a PostgreSQL job store, or brings them to this\n"
          "program's version; a database of a newer version is refused and left alone.\n"
          "\n"
          "import copies the job history of a server's outputs folder (jobs.json,\n"
          "each job's record and files) into a PostgreSQL job store, creating or\n"
          "migrating its tables first. Jobs the database has already are left as\n"
          "they are there, so an import cut short is finished by running it again;\n"
          "queued or running jobs go in queued, for a worker. The outputs folder is\n"
          "not changed.\n"
          "\n"
          "  --outputs DIR   the server's outputs folder (default: outputs)\n"
          "  --store URL     postgres://user@host/database or a libpq connection\n"
          "                  string (LUNAR_NOVA_STORE)\n",
          f);
}

/* Opens the store and brings its schema to this program's version,
 * saying what it found and did. */
static int ln__store_open(const char *cmd, const char *store, struct ln_pg **pg)
{
    struct ln_error err = {0};
    int from = 0, to = 0;
    int rc = ln_pg_open(store, pg, &err);
    if (rc == LN_OK && (rc = ln_pg_migrate(*pg, &from, &to, &err)) < 0)
        ln_pg_close(*pg);
    if (rc < 0) {
        fprintf(stderr, "lunar-nova store %s: %s\n", cmd, err.message);
        return rc;
    }
    if (from != to)
        printf("database schema: version %d -> %d\n", from, to);
    else
        printf("database schema: version %d, current\n", to);
    return LN_OK;
}

/* The --store option and LUNAR_NOVA_STORE, for both subcommands. */
static const char *ln__store_arg(const char *cmd, int argc, char **argv, const char **outputs,
                                 int *exit_code)
{
    const char *store = getenv("LUNAR_NOVA_STORE");
    static const struct option opts[] = {
        {"outputs", required_argument, NULL, 'o'},
        {"store", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    *exit_code = -1;
    while ((c = getopt_long(argc, argv, "o:s:h", opts, NULL)) != -1) {
        if (c == 'o' && outputs) {
            *outputs = optarg;
        } else if (c == 's') {
            store = optarg;
        } else if (c == 'h') {
            ln__store_usage(stdout);
            *exit_code = LN_EXIT_OK;
            return NULL;
        } else {
            ln__store_usage(stderr);
            *exit_code = LN_EXIT_USAGE;
            return NULL;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "lunar-nova store %s: unexpected argument '%s'\n", cmd, argv[optind]);
        *exit_code = LN_EXIT_USAGE;
        return NULL;
    }
    if (!store || !*store) {
        fprintf(stderr, "lunar-nova store %s: no --store given (nor LUNAR_NOVA_STORE)\n", cmd);
        *exit_code = LN_EXIT_USAGE;
        return NULL;
    }
    return store;
}

static int ln__store_migrate(int argc, char **argv)
{
    int code;
    const char *store = ln__store_arg("migrate", argc, argv, NULL, &code);
    if (!store)
        return code;
    struct ln_pg *pg;
    if (ln__store_open("migrate", store, &pg) < 0)
        return LN_EXIT_USAGE;
    ln_pg_close(pg);
    return LN_EXIT_OK;
}

static int ln__store_import(int argc, char **argv)
{
    const char *outputs = "outputs";
    int code;
    const char *store = ln__store_arg("import", argc, argv, &outputs, &code);
    if (!store)
        return code;
    struct ln_error err = {0};
    struct ln_path_info info;
    if (ln_path_stat(outputs, 0, &info, NULL) != LN_OK || info.kind != LN_PATH_DIR) {
        fprintf(stderr, "lunar-nova store import: %s is not a folder (--outputs names the "
                        "server's outputs folder)\n", outputs);
        return LN_EXIT_USAGE;
    }
    struct ln_pg *pg;
    if (ln__store_open("import", store, &pg) < 0)
        return LN_EXIT_USAGE;
    struct ln_pg_import_report rep;
    int rc = ln_pg_import_outputs(pg, outputs, &rep, &err);
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
    if (strcmp(sub, "migrate") == 0)
        return ln__store_migrate(argc - 1, argv + 1);
    fprintf(stderr, "lunar-nova store: unknown command '%s' (migrate or import)\n", sub);
    return LN_EXIT_USAGE;
}
