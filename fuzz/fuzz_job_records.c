/*
 * libFuzzer target for job records: outputs/jobs.json and each job
 * folder's job.json are files an operator may edit by hand, and the server
 * reads them at every start. The input is parsed as JSON the way the store
 * does; the document and, when it is an object, each of its members (a
 * history maps ids to jobs) are read with ln_job_from_json. A job that is
 * accepted is written back with ln_job_to_json, which must be read again
 * and give the same JSON: whatever the server accepts, it can store and
 * read back.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ln_job.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ln__check_job(const json_t *obj)
{
    static struct ln_job job, again;
    struct ln_error err = {0};
    if (ln_job_from_json(obj, &job, &err) < 0)
        return;
    json_t *out = ln_job_to_json(&job);
    if (!out || ln_job_from_json(out, &again, &err) < 0)
        __builtin_trap();
    json_t *out2 = ln_job_to_json(&again);
    if (!out2 || !json_equal(out, out2))
        __builtin_trap();
    json_decref(out2);
    json_decref(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return 0;
    ln__check_job(doc);
    if (json_is_object(doc)) {
        const char *key;
        json_t *value;
        json_object_foreach(doc, key, value) ln__check_job(value);
    }
    json_decref(doc);
    return 0;
}
