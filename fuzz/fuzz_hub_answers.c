/*
 * libFuzzer target for what the model downloader reads from a Hugging Face
 * hub (or whatever HF_ENDPOINT names): the input is a response's header
 * lines up to the first empty line, then the body of a revision answer.
 * The lines go one by one through the header parser as libcurl hands them
 * over, then through the check of a file's HEAD answer; the body through
 * the revision parser, and each listed file name through the name check
 * and, when accepted, the snapshot link it would get. Whatever is accepted
 * must be safe to use as a file name in the cache: an etag or commit with
 * no separator and not "." or "..", a size that is not negative, a link
 * that stays inside the repo's folder.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ln_hf.h"
#include "ln_hub.h"
#include "ln_hub_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int ln__safe(const char *s)
{
    return *s && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && !strchr(s, '/') &&
           !strchr(s, '\\') && !strchr(s, ':');
}

/* The link from snapshots/<commit>/<file> climbs exactly out of the
 * snapshot: one "../" per folder of file, two more, then blobs/<etag>. */
static void ln__check_link(const char *file)
{
    char link[8192];
    if (ln_hub_blob_link(file, "0123abcd", link, sizeof link) < 0)
        return;
    size_t depth = 2;
    for (const char *p = file; *p; p++)
        depth += *p == '/';
    for (size_t i = 0; i < depth; i++)
        if (strncmp(link + 3 * i, "../", 3) != 0)
            __builtin_trap();
    if (strcmp(link + 3 * depth, "blobs/0123abcd") != 0)
        __builtin_trap();
    /* Nothing Windows reads as a separator, a drive or a stream, and no
     * control character; no component climbs or stays in place. */
    for (const char *p = file; *p; p++)
        if (*p == '\\' || *p == ':' || (unsigned char)*p < 0x20 || *p == 0x7f)
            __builtin_trap();
    for (const char *p = file; p; p = strchr(p, '/') ? strchr(p, '/') + 1 : NULL)
        if ((p[0] == '.' && (p[1] == '/' || p[1] == 0)) ||
            (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == 0)) || p[0] == '/' || !p[0])
            __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct ln__hub_resp resp;
    ln__hub_resp_reset(&resp);
    resp.status = 200;
    size_t at = 0;
    while (at < size) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        const size_t len = nl ? (size_t)(nl - (data + at)) + 1 : size - at;
        /* libcurl hands over each line with its line end; an empty line
         * ends the headers. */
        const size_t bare = len - (nl != NULL) - (len >= 2 && nl && data[at + len - 2] == '\r');
        if (bare == 0 && nl) {
            at += len;
            break;
        }
        ln__hub_resp_header(&resp, text + at, len);
        if (strlen(resp.location) >= sizeof resp.location ||
            strlen(resp.error_code) >= sizeof resp.error_code)
            __builtin_trap();
        at += len;
        if (resp.status == 0)
            resp.status = 200; /* the status line's code is libcurl's */
    }

    char etag[LN_HUB_COMMIT_MAX];
    long long fsize = 0;
    struct ln_error err = {0};
    if (ln__hub_file_answer(&resp, "owner/name", "0123456789abcdef0123456789abcdef01234567",
                            "owner/name/file", etag, &fsize, &err) == 0) {
        if (!ln__safe(etag) || fsize < 0 || strlen(etag) >= LN_HUB_COMMIT_MAX)
            __builtin_trap();
    } else if (!err.message[0]) {
        __builtin_trap(); /* a refusal always says why */
    }

    char commit[LN_HUB_COMMIT_MAX];
    json_t *sib = NULL;
    memset(&err, 0, sizeof err);
    if (ln__hub_parse_revision(text + at, size - at, "owner/name", "main", commit, sizeof commit,
                               &sib, &err) == 0) {
        if (!ln__safe(commit) || !json_is_array(sib))
            __builtin_trap();
        size_t i;
        json_t *e;
        json_array_foreach(sib, i, e)
        {
            json_t *name = json_object_get(e, "rfilename");
            if (json_is_string(name) && ln_hf_valid_filename(json_string_value(name)))
                ln__check_link(json_string_value(name));
        }
        json_decref(sib);
    } else if (!err.message[0]) {
        __builtin_trap();
    }
    return 0;
}
