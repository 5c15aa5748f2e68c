/*
 * outputs/jobs.json: the job history, an object keyed by job id ("{}" is a
 * valid empty history). Every save is atomic and durable (temporary file,
 * fsync, rename, fsync of the folder) and keeps the previous version as
 * jobs.json.bak. At load, a jobs.json that does not parse is moved aside as
 * jobs.json.corrupt-<UTC time>, the .bak is used instead, and the log says
 * so; a missing file is an empty history. What this history lacks or has
 * behind is then taken back from the job folders' own records (ln_folder.h).
 *
 *     struct ln_store *st;
 *     ln_store_open("outputs", &st, &err);
 *     json_t *all = ln_store_jobs(st);           // borrowed: id -> job object
 *     ln_store_save(st, all_updated, &err);
 *
 * Not thread-safe: the job manager calls it under its lock.
 */
#ifndef LN_STORE_H
#define LN_STORE_H

#include <jansson.h>

#include "ln_error.h"

struct ln_store;

/* Loads outputs/jobs.json with the recovery described above. */
int ln_store_open(const char *outputs_dir, struct ln_store **out, struct ln_error *err);
/* The loaded history (borrowed reference, an object keyed by id). */
json_t *ln_store_jobs(struct ln_store *st);
/* What the load had to do: 0 normal, 1 used the .bak after a corrupt
 * jobs.json, 2 both unreadable so started empty. */
int ln_store_recovered(const struct ln_store *st);
/* Writes jobs (an object keyed by id) as the new jobs.json, the previous
 * content becoming jobs.json.bak. On failure the files are unchanged. */
int ln_store_save(struct ln_store *st, const json_t *jobs, struct ln_error *err);
void ln_store_free(struct ln_store *st);

#endif
