/*
 * What the downloader reads from the hub's answers, apart from the network
 * code so that the parsing of outside bytes can be tested and fuzzed on its
 * own (fuzz/fuzz_hub_answers.c): a response's header lines, what a HEAD on
 * resolve/<commit>/<file> says of a file, and the answer to a revision
 * request. Internal to src/nn/ln_hub.c and its tests; not part of the API.
 */
#ifndef LN_HUB_INTERNAL_H
#define LN_HUB_INTERNAL_H

#include <jansson.h>
#include <stddef.h>

#include "ln_error.h"
#include "ln_hub.h"

#define LN__HUB_URL_MAX 4096

/* What a response said, from its headers (of the last response when curl
 * follows redirects). Sizes are -1 while not given. */
struct ln__hub_resp {
    long status;
    char etag[LN_HUB_COMMIT_MAX], linked_etag[LN_HUB_COMMIT_MAX], commit[LN_HUB_COMMIT_MAX];
    char error_code[64];
    char location[LN__HUB_URL_MAX];
    long long linked_size, content_length, range_total;
};

/* Forgets everything (a new response begins). */
void ln__hub_resp_reset(struct ln__hub_resp *r);

/* One header line as libcurl hands it over: len bytes, not NUL-terminated,
 * usually ending in CRLF; a status line ("HTTP/...") starts a new response.
 * Over-long values are cut (and then refused by their users); numbers that
 * are not plain non-negative decimals are ignored. */
void ln__hub_resp_header(struct ln__hub_resp *r, const char *line, size_t len);

/* What a HEAD on resolve/<commit>/<file> (200, or a redirect to where the
 * bytes are) says of the file: its etag, normalised and safe as a file
 * name, and its size. what names the file in messages. */
int ln__hub_file_answer(const struct ln__hub_resp *r, const char *repo, const char *commit,
                        const char *what, char etag[LN_HUB_COMMIT_MAX], long long *size,
                        struct ln_error *err);

/* The answer to GET /api/models/<repo>/revision/<revision>: the commit
 * (safe as a file name, shorter than n) and the file list (a new reference
 * in *siblings, each entry's "rfilename" still to be checked by its user). */
int ln__hub_parse_revision(const char *body, size_t len, const char *repo, const char *revision,
                           char *commit, size_t n, json_t **siblings, struct ln_error *err);

#endif
