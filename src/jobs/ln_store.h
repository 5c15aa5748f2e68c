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
 * jobs.json is written compact (one line, no indentation); the reader takes
 * the indented files of earlier versions as well.
 *
 * Thread-safety: open, jobs and free are not; the job manager calls them
 * under its lock. Saves are: ln_store_snapshot is taken under the caller's
 * lock (the one that orders the changes to the history), ln_store_write
 * may then run outside it, and the store's own write lock keeps an older
 * snapshot from replacing a newer one.
 */
#ifndef LN_STORE_H
#define LN_STORE_H

#include <jansson.h>
#include <stdint.h>

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
/* The same save in two steps. ln_store_snapshot serialises jobs and numbers
 * the snapshot (*seq, counting up from 1); call it under the lock that
 * orders the changes to jobs. It returns the text (NULL when out of memory).
 * ln_store_write then takes the text (freed in every case) and writes it,
 * fsyncs included, unless a snapshot with a higher number has already been
 * written (it holds this change too: LN_OK without writing). */
char *ln_store_snapshot(struct ln_store *st, const json_t *jobs, uint64_t *seq);
int ln_store_write(struct ln_store *st, char *text, uint64_t seq, struct ln_error *err);
void ln_store_free(struct ln_store *st);

/* For tests, process-wide: hook(user) runs in every write that goes to
 * disk, on the writing thread, just before its files are written (the
 * store's write lock held, the job manager's table lock not). A test that
 * makes it wait can look at the job manager while a save is under way.
 * NULL removes it; set it while no save runs. */
void ln_store_set_write_hook(void (*hook)(void *user), void *user);

#endif
