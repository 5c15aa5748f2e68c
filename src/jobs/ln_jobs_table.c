/*
 * The job manager's table (job id -> position, oldest first), its FIFO
 * queue and the job folders' removal. Everything here runs under mu except
 * where a comment says otherwise (ln_jobs_int.h).
 */
#include "ln_jobs_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_folder.h"

/* ---- folders ---- */

/* Removes outputs/<name> and everything in it (see ln_folder_remove). */
int ln__remove_folder(const struct ln_jobs *J, const char *name)
{
    return ln_folder_remove(J->outputs, name);
}

/* DESIGN: folders of jobs out of the history (retention, a job deleted
 * while it ran) are not removed under mu, where the unlinking would hold up
 * every reader: under mu their ids go to `doomed`, and the thread that
 * released mu removes them (ln__remove_doomed). The removal still follows
 * the history save that dropped the jobs, and a crash in between leaves
 * deletion marks that the next start finishes. */
void ln__doom(struct ln_jobs *J, const char *id)
{
    json_array_append_new(J->doomed, json_string(id));
}

/* Removes the doomed folders; called without mu. */
void ln__remove_doomed(struct ln_jobs *J)
{
    pthread_mutex_lock(&J->mu);
    json_t *ids = J->doomed;
    J->doomed = json_array();
    pthread_mutex_unlock(&J->mu);
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) ln__remove_folder(J, json_string_value(v));
    json_decref(ids);
}

int ln__job_file(const struct ln_jobs *J, const char *id, const char *name, char *buf, size_t n)
{
    int w = snprintf(buf, n, "%s/%s/%s", J->outputs, id, name);
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

/* ---- the table (under mu) ---- */

struct ln_job *ln__find(struct ln_jobs *J, const char *id)
{
    if (!ln_job_id_valid(id))
        return NULL;
    json_t *pos = json_object_get(J->index, id);
    if (!pos)
        return NULL;
    return &J->table[json_integer_value(pos)];
}

void ln__reindex(struct ln_jobs *J)
{
    json_object_clear(J->index);
    for (size_t i = 0; i < J->n_table; i++)
        json_object_set_new(J->index, J->table[i].id, json_integer((json_int_t)i));
}

void ln__append(struct ln_jobs *J, const struct ln_job *job)
{
    if (J->n_table == J->cap_table) {
        J->cap_table = J->cap_table ? 2 * J->cap_table : 64;
        J->table = ln_xrealloc(J->table, J->cap_table * sizeof *J->table);
    }
    J->table[J->n_table] = *job;
    J->table[J->n_table].version = ++J->version;
    json_object_set_new(J->index, job->id, json_integer((json_int_t)J->n_table));
    if (job->idempotency_key[0])
        json_object_set_new(J->keys, job->idempotency_key, json_string(job->id));
    J->n_table++;
}

/* Drops the job at position i (the caller reindexes). */
void ln__drop(struct ln_jobs *J, size_t i)
{
    const struct ln_job *job = &J->table[i];
    if (job->idempotency_key[0]) {
        json_t *owner = json_object_get(J->keys, job->idempotency_key);
        if (owner && strcmp(json_string_value(owner), job->id) == 0)
            json_object_del(J->keys, job->idempotency_key);
    }
    memmove(&J->table[i], &J->table[i + 1], (J->n_table - i - 1) * sizeof *J->table);
    J->n_table--;
}

/* Wakes everyone who waits for changes (under mu). */
void ln__changed(struct ln_jobs *J)
{
    J->changes++;
    pthread_cond_broadcast(&J->changed);
}

/* Makes a change visible: copies next over the stored job with a new
 * version and wakes everyone who waits for changes. */
void ln__commit(struct ln_jobs *J, struct ln_job *slot, const struct ln_job *next)
{
    *slot = *next;
    slot->version = ++J->version;
    ln__changed(J);
}

void ln__queue_push(struct ln_jobs *J, const char *id, int front)
{
    if (J->n_queue == J->cap_queue) {
        J->cap_queue = J->cap_queue ? 2 * J->cap_queue : 16;
        J->queue = ln_xrealloc(J->queue, J->cap_queue * sizeof *J->queue);
    }
    if (front) {
        memmove(&J->queue[1], &J->queue[0], J->n_queue * sizeof *J->queue);
        memcpy(J->queue[0], id, LN_JOB_ID_LEN + 1);
    } else {
        memcpy(J->queue[J->n_queue], id, LN_JOB_ID_LEN + 1);
    }
    J->n_queue++;
    atomic_store(&J->pub_depth, J->n_queue);
}

void ln__queue_remove(struct ln_jobs *J, const char *id)
{
    for (size_t i = 0; i < J->n_queue; i++) {
        if (strcmp(J->queue[i], id) == 0) {
            memmove(&J->queue[i], &J->queue[i + 1], (J->n_queue - i - 1) * sizeof *J->queue);
            J->n_queue--;
            atomic_store(&J->pub_depth, J->n_queue);
            return;
        }
    }
}

struct ln__worker *ln__worker_of(struct ln_jobs *J, const char *id)
{
    for (int i = 0; i < J->n_workers; i++)
        if (J->workers[i].busy && strcmp(J->workers[i].id, id) == 0)
            return &J->workers[i];
    return NULL;
}
