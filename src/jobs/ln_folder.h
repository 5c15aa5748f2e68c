/*
 * Job folders: outputs/<id>/ holds a job's inputs and results, and also its
 * own record, outputs/<id>/job.json — the job's JSON as GET /jobs/<id>
 * shows it (ln_job_to_json), written atomically when the job is accepted,
 * before its 202, and again at every change of status. jobs.json stays the
 * history the server reads, and the records let start-up rebuild what that
 * history lost: a jobs.json deleted, replaced by `{}`, damaged without a
 * usable .bak, or one save behind after a recovery from the .bak.
 *
 *     ln_folder_record_write("outputs", job.id, ln_job_to_json(&job), &err);
 *     ...
 *     struct ln_folder_census c;
 *     ln_folder_reconcile("outputs", history, &c, &err);  // at start-up
 *
 * Reconciliation, for every folder whose name is a job id:
 *   - a valid record of a job absent from the history: the job is adopted
 *     (added to the history as the record has it);
 *   - a record more advanced than the history's entry (see
 *     ln_folder_job_ahead): the record replaces the entry, so a job the
 *     record calls finished is never run again; a record behind its entry
 *     is rewritten from the entry;
 *   - no record, and the job is in the history (a folder from an earlier
 *     version): the record is written from the history;
 *   - a deletion mark (a delete or a retention cut short by a crash): when
 *     the history no longer holds the job, the folder is removed; when it
 *     still does, the deletion never happened and the mark goes;
 *   - no record, not in the history, and nothing in it but uploaded inputs
 *     and unfinished temporary files: a submission cut off before it was
 *     acknowledged, so the folder is removed, with a log line naming it;
 *   - anything else (an unreadable record, files that are not inputs) is
 *     left as it is, with a warning naming the folder.
 * Nothing with a record, or with result files and no deletion mark, is ever
 * deleted.
 *
 * Not thread-safe on the same job: the job manager calls it under its lock,
 * except ln_folder_record_drop for a deletion, which runs outside it while
 * the manager keeps every other writer away from that job's record.
 */
#ifndef LN_FOLDER_H
#define LN_FOLDER_H

#include <jansson.h>
#include <stddef.h>

#include "ln_error.h"
#include "ln_job.h"

#define LN_FOLDER_RECORD "job.json"
#define LN_FOLDER_DELETED "job.json.deleted"

/* Replaces outputs/<id>/job.json with the job object atomically and durably,
 * and removes a deletion mark (see ln_folder_record_drop) if there is one.
 * The folder must exist. */
int ln_folder_record_write(const char *outputs, const char *id, const json_t *job,
                           struct ln_error *err);
/* Reads and validates outputs/<id>/job.json into *job. LN_ENOTFOUND when
 * there is none, LN_EFORMAT (naming the problem) when it is not a record of
 * job id, LN_EIO when it cannot be read. */
int ln_folder_record_read(const char *outputs, const char *id, struct ln_job *job,
                          struct ln_error *err);
/* Turns outputs/<id>/job.json into a deletion mark, job.json.deleted,
 * durably (also when there was no record), before a job's entry leaves the
 * history: a job being deleted is never adopted back from its folder, and a
 * start-up that finds the mark on a job the history no longer holds
 * finishes the deletion. ln_folder_record_write takes the mark away. */
int ln_folder_record_drop(const char *outputs, const char *id, struct ln_error *err);

/* Removes outputs/<name> and everything in it. Only a job folder (a valid
 * id) or an upload staging folder (".staging-…") directly inside outputs is
 * accepted, whatever name holds, so a bad record never reaches outside. */
int ln_folder_remove(const char *outputs, const char *name);

/* True when a is further along than b in the life of one job: a finished
 * state is ahead of an unfinished one; among unfinished ones, more attempts
 * are ahead, then running is ahead of queued. Finished states are final,
 * so two of them are never ahead of each other. */
int ln_folder_job_ahead(const struct ln_job *a, const struct ln_job *b);

/* What ln_folder_reconcile did. */
struct ln_folder_census {
    size_t adopted;  /* jobs added to the history from their folder records */
    size_t advanced; /* history entries replaced by a record that was ahead */
    size_t removed;  /* unacknowledged folders (inputs only, no record) removed */
    size_t deleted;  /* folders of deleted jobs (marked, out of the history) removed */
    size_t kept;     /* folders outside the history left alone (see the warnings) */
    size_t written;  /* records written from the history (missing or behind) */
};

/* Reconciles the job folders of outputs with history (an object keyed by
 * job id, every entry valid, as ln_store_jobs gives it), which it updates
 * in place. Logs one line per removed or kept folder, none for the rest:
 * the caller logs the summary. LN_EIO when outputs cannot be listed. */
int ln_folder_reconcile(const char *outputs, json_t *history, struct ln_folder_census *census,
                        struct ln_error *err);

#endif
