/*
 * ln_pg.h in a build made without libpq (the Windows build: Debian has no
 * Windows libpq to cross-build from yet): every call refuses with one line
 * saying so, and the file store is the only store.
 */
#include "ln_pg.h"

#include <string.h>

static int ln__pg_none(struct ln_error *err)
{
    return ln_error_set(err, LN_EINVAL,
                        "this build of lunar-nova has no PostgreSQL support (built without "
                        "libpq): use the file store");
}

int ln_pg_available(void)
{
    return 0;
}

int ln_pg_open(const char *conninfo, struct ln_pg **out, struct ln_error *err)
{
    (void)conninfo;
    *out = NULL;
    return ln__pg_none(err);
}

void ln_pg_close(struct ln_pg *pg)
{
    (void)pg;
}

int ln_pg_schema_version(struct ln_pg *pg, int *version, struct ln_error *err)
{
    (void)pg;
    *version = 0;
    return ln__pg_none(err);
}

int ln_pg_migrate(struct ln_pg *pg, int *from, int *to, struct ln_error *err)
{
    (void)pg, (void)from, (void)to;
    return ln__pg_none(err);
}

int ln_pg_submit(struct ln_pg *pg, const char *id, const char *record,
                 const struct ln_pg_file *inputs, size_t n_inputs, struct ln_error *err)
{
    (void)pg, (void)id, (void)record, (void)inputs, (void)n_inputs;
    return ln__pg_none(err);
}

int ln_pg_import(struct ln_pg *pg, const char *id, const char *status, const char *record,
                 double created, int attempts, const struct ln_pg_file *files, size_t n_files,
                 int *added, struct ln_error *err)
{
    (void)pg, (void)id, (void)status, (void)record, (void)created, (void)attempts;
    (void)files, (void)n_files;
    *added = 0;
    return ln__pg_none(err);
}

int ln_pg_claim(struct ln_pg *pg, const char *worker, double lease_s, struct ln_pg_lease *out,
                struct ln_error *err)
{
    (void)pg, (void)worker, (void)lease_s;
    memset(out, 0, sizeof *out);
    return ln__pg_none(err);
}

int ln_pg_renew(struct ln_pg *pg, const struct ln_pg_lease *lease, double lease_s,
                const char *record, int *cancel, struct ln_error *err)
{
    (void)pg, (void)lease, (void)lease_s, (void)record, (void)cancel;
    return ln__pg_none(err);
}

int ln_pg_finish(struct ln_pg *pg, const struct ln_pg_lease *lease, const char *status,
                 const char *record, const struct ln_pg_file *results, size_t n_results,
                 struct ln_error *err)
{
    (void)pg, (void)lease, (void)status, (void)record, (void)results, (void)n_results;
    return ln__pg_none(err);
}

int ln_pg_release(struct ln_pg *pg, const struct ln_pg_lease *lease, struct ln_error *err)
{
    (void)pg, (void)lease;
    return ln__pg_none(err);
}

void ln_pg_lease_free(struct ln_pg_lease *lease)
{
    (void)lease;
}

int ln_pg_cancel(struct ln_pg *pg, const char *id, int *now, struct ln_error *err)
{
    (void)pg, (void)id, (void)now;
    return ln__pg_none(err);
}

int ln_pg_delete(struct ln_pg *pg, const char *id, struct ln_error *err)
{
    (void)pg, (void)id;
    return ln__pg_none(err);
}

int ln_pg_get(struct ln_pg *pg, const char *id, char **record, char status[16],
              struct ln_error *err)
{
    (void)pg, (void)id, (void)status;
    *record = NULL;
    return ln__pg_none(err);
}

int ln_pg_file_get(struct ln_pg *pg, const char *id, const char *name, void **data,
                   size_t *size, char content_type[128], struct ln_error *err)
{
    (void)pg, (void)id, (void)name, (void)content_type;
    *data = NULL;
    *size = 0;
    return ln__pg_none(err);
}

int ln_pg_counts(struct ln_pg *pg, int64_t counts[5], struct ln_error *err)
{
    (void)pg;
    memset(counts, 0, 5 * sizeof counts[0]);
    return ln__pg_none(err);
}

int ln_pg_list(struct ln_pg *pg,
               void (*each)(void *user, const char *id, const char *status, const char *record),
               void *user, struct ln_error *err)
{
    (void)pg, (void)each, (void)user;
    return ln__pg_none(err);
}

int ln_pg_listen(struct ln_pg *pg, struct ln_error *err)
{
    (void)pg;
    return ln__pg_none(err);
}

int ln_pg_notified(struct ln_pg *pg, double timeout_s, void (*each)(void *user, const char *id),
                   void *user, size_t *n, struct ln_error *err)
{
    (void)pg, (void)timeout_s, (void)each, (void)user;
    if (n)
        *n = 0;
    return ln__pg_none(err);
}

int ln_pg_submit_once(struct ln_pg *pg, const char *id, const char *record, const char *key,
                      const struct ln_pg_file *inputs, size_t n_inputs, char existing[64],
                      struct ln_error *err)
{
    (void)pg, (void)id, (void)record, (void)key, (void)inputs, (void)n_inputs;
    existing[0] = 0;
    return ln__pg_none(err);
}
