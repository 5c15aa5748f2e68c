/*
 * The model downloader: libcurl against the Hugging Face hub's protocol
 * (revision resolution, HEAD on resolve/<commit>/<file> for the etag, size
 * and where the bytes are, then a GET with Range to resume) and against
 * rembg's release files. Every byte from the network is written to an
 * .incomplete file and hashed on the way; the file takes its final name
 * only after its size and checksum match, so nothing half-written ever
 * looks finished. The cache's layout and names follow huggingface_hub's
 * file_download.py, so `huggingface-cli download` and this program share
 * one cache.
 *
 * DESIGN: no state is shared between pulls except the disk. One pull is
 * one thread's call; two pulls of one file meet at a file lock
 * (ln_file_lock: flock, or LockFileEx on Windows) on
 * .locks/models--owner--name/<etag>.lock (rembg: <file>.lock beside the
 * model), the second waiting, then finding the blob and only linking it.
 * Snapshot links and refs/ are replaced with rename, so a reader sees the
 * old or the new one. Where the system refuses links (Windows without
 * Developer Mode) the snapshot gets a copy of the blob, as huggingface_hub
 * makes there.
 */
#include "ln_hub.h"
#include "ln_hub_internal.h"

#include <curl/curl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h> /* getpid, for a link's temporary name */

#include "ln_alloc.h"
#include "ln_file.h"
#include "ln_fs.h"
#include "ln_hash.h"
#include "ln_time.h"
#include "ln_triposr_config.h"

#define LN__URL_MAX LN__HUB_URL_MAX
#define LN__API_MAX ((size_t)8 << 20) /* a revision answer larger than this is refused */
#define LN__ERRBODY_MAX 2048
#define LN__REDIRECTS_MAX 5

/* Settings ---------------------------------------------------------------- */

static int ln__env_true(const char *name)
{
    const char *v = getenv(name);
    return v && (strcmp(v, "1") == 0 || strcasecmp(v, "on") == 0 || strcasecmp(v, "yes") == 0 ||
                 strcasecmp(v, "true") == 0);
}

int ln_hub_offline(void)
{
    return ln__env_true("HF_HUB_OFFLINE");
}

/* Seconds without a byte before a transfer is abandoned; tests shorten it
 * with LUNAR_NOVA_HUB_TIMEOUT. */
static long ln__stall_seconds(void)
{
    const char *v = getenv("LUNAR_NOVA_HUB_TIMEOUT");
    long s = v ? strtol(v, NULL, 10) : 0;
    return s > 0 && s < 3600 ? s : 30;
}

/* A CA bundle of the user's (a company proxy's or a mirror's own CA), in
 * the variables the Python tools read: requests' REQUESTS_CA_BUNDLE and
 * CURL_CA_BUNDLE, and OpenSSL's SSL_CERT_FILE. NULL: the system's
 * certificates. var receives the variable's name, for messages. */
static const char *ln__ca_bundle(const char **var)
{
    static const char *const vars[] = {"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) {
            *var = vars[i];
            return v;
        }
    }
    *var = NULL;
    return NULL;
}

static int ln__endpoint(char *out, size_t n, struct ln_error *err)
{
    const char *e = getenv("HF_ENDPOINT");
    if (!e || !*e)
        e = "https://huggingface.co";
    size_t len = strlen(e);
    while (len > 0 && e[len - 1] == '/')
        len--;
    if (len + 1 > n || (strncmp(e, "http://", 7) != 0 && strncmp(e, "https://", 8) != 0))
        return ln_error_set(err, LN_EINVAL, "HF_ENDPOINT \"%.100s\" is not an http(s) address", e);
    memcpy(out, e, len);
    out[len] = 0;
    return LN_OK;
}

/* The token: HF_TOKEN, else the file HF_TOKEN_PATH, else $HF_HOME/token
 * (what `huggingface-cli login` writes). Empty when there is none. */
static void ln__token(char *out, size_t n)
{
    out[0] = 0;
    const char *t = getenv("HF_TOKEN");
    char path[LN_HF_PATH_MAX];
    if (t && *t) {
        snprintf(out, n, "%s", t);
    } else {
        const char *tp = getenv("HF_TOKEN_PATH");
        if (tp && *tp)
            snprintf(path, sizeof path, "%s", tp);
        else if (ln_hf_home(path, sizeof path - 8, NULL) < 0)
            return;
        else
            strcat(path, "/token");
        /* A longer file is no token (n is far above any real one). */
        uint8_t *data = NULL;
        size_t got = 0;
        if (ln_file_read(path, n - 1, &data, &got, NULL) < 0)
            return;
        memcpy(out, data, got);
        free(data);
        out[got] = 0;
    }
    /* Spaces and line ends around the token are not part of it; anything
     * that could break the header line ends it. */
    char *s = out;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    size_t len = 0;
    while (s[len] && s[len] != ' ' && s[len] != '\t' && s[len] != '\n' && s[len] != '\r')
        len++;
    memmove(out, s, len);
    out[len] = 0;
}

int ln_hub_global_init(struct ln_error *err)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return ln_error_set(err, LN_EINTERNAL, "libcurl could not start");
    return LN_OK;
}

/* Names ------------------------------------------------------------------- */

void ln_hub_normalize_etag(const char *in, char *out, size_t n)
{
    out[0] = 0;
    if (!in)
        return;
    if (strncmp(in, "W/", 2) == 0)
        in += 2;
    size_t len = strlen(in);
    while (len > 0 && (in[len - 1] == '"' || in[len - 1] == ' '))
        len--;
    while (len > 0 && (*in == '"' || *in == ' ')) {
        in++;
        len--;
    }
    if (len >= n)
        len = 0;
    memcpy(out, in, len);
    out[len] = 0;
}

int ln_hub_blob_link(const char *file, const char *etag, char *out, size_t n)
{
    size_t at = 0;
    int depth = 2; /* out of <file>'s folder, <commit>, snapshots */
    for (const char *p = file; *p; p++)
        depth += *p == '/';
    out[0] = 0;
    for (int i = 0; i < depth; i++) {
        if (at + 4 > n)
            return -1;
        memcpy(out + at, "../", 4);
        at += 3;
    }
    const int w = snprintf(out + at, n - at, "blobs/%s", etag);
    return w < 0 || (size_t)w >= n - at ? -1 : 0;
}

static int ln__is_hex(const char *s, size_t len)
{
    if (strlen(s) != len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* An etag or commit from the network becomes a file name: only this. */
static int ln__safe_name(const char *s)
{
    if (!*s || strlen(s) >= LN_HUB_COMMIT_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              *p == '-' || *p == '_' || *p == '.'))
            return 0;
    return 1;
}

/* A revision names refs/<revision>: branch and tag names, "refs/pr/1". */
static int ln__valid_revision(const char *r)
{
    return r && *r && strlen(r) < 200 && ln_hf_valid_filename(r) && !strchr(r, '\\');
}

static int ln__path(char *out, size_t n, struct ln_error *err, const char *fmt, ...)
    LN_PRINTF(4, 5);
static int ln__path(char *out, size_t n, struct ln_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const int w = vsnprintf(out, n, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= n)
        return ln_error_set(err, LN_EINVAL, "a path in the model cache is too long");
    return LN_OK;
}

static void ln__mb(uint64_t bytes, char *out, size_t n)
{
    if (bytes >= 1000000)
        snprintf(out, n, "%.1f MB", (double)bytes / 1e6);
    else
        snprintf(out, n, "%.1f kB", (double)bytes / 1e3);
}

static void ln__note(struct ln_hub_pull *p, const char *fmt, ...) LN_PRINTF(2, 3);
static void ln__note(struct ln_hub_pull *p, const char *fmt, ...)
{
    if (!p->note)
        return;
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    p->note(p->user, line);
}

/* HTTP -------------------------------------------------------------------- */

/* Where a body goes: a file (download), a bounded buffer (API answers and
 * error bodies) or nowhere (HEAD). */
struct ln__sink {
    struct ln_file f;   /* h -1: no file */
    struct ln_buf *buf; /* NULL: no buffer */
    size_t buf_max;
    struct ln_hash hash; /* of the file's bytes from 0 */
    enum ln_hash_kind kind;
    uint64_t offset;  /* bytes in the file before this request */
    uint64_t written; /* bytes this request added */
    uint64_t total;   /* expected full size, 0 unknown */
    int started, write_failed, disk_full, too_big, stalled;
    char write_error[LN_ERROR_MESSAGE_MAX]; /* why the file could not be written */
    curl_off_t last_now;                    /* bytes seen at last_move */
    double last_move;                       /* when bytes last arrived (monotonic seconds) */
    long stall_s;
    CURL *curl;
    struct ln_hub_pull *p;
    const char *file;
    struct ln_buf errbody; /* an error answer's text, not written to the file */
};

static void ln__header_value(const char *line, size_t len, const char *name, char *out, size_t n)
{
    const size_t m = strlen(name);
    if (len <= m + 1 || strncasecmp(line, name, m) != 0 || line[m] != ':')
        return;
    const char *v = line + m + 1;
    size_t vl = len - m - 1;
    while (vl > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    if (vl >= n)
        vl = n - 1; /* an over-long value is cut, then refused by its user */
    memcpy(out, v, vl);
    out[vl] = 0;
}

/* A size from a header: plain decimal digits, at most 18 of them (no
 * sign, no spaces inside, nothing after), else -1. */
static long long ln__header_number(const char *s)
{
    long long v = 0;
    size_t i = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        if (i >= 18)
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return i > 0 && s[i] == 0 ? v : -1;
}

void ln__hub_resp_reset(struct ln__hub_resp *r)
{
    memset(r, 0, sizeof *r);
    r->linked_size = r->content_length = r->range_total = -1;
}

void ln__hub_resp_header(struct ln__hub_resp *r, const char *data, size_t len)
{
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new response (after a redirect or 100): forget the last one's. */
        ln__hub_resp_reset(r);
        return;
    }
    char num[32] = "";
    ln__header_value(data, len, "ETag", r->etag, sizeof r->etag);
    ln__header_value(data, len, "X-Linked-Etag", r->linked_etag, sizeof r->linked_etag);
    ln__header_value(data, len, "X-Repo-Commit", r->commit, sizeof r->commit);
    ln__header_value(data, len, "X-Error-Code", r->error_code, sizeof r->error_code);
    ln__header_value(data, len, "Location", r->location, sizeof r->location);
    ln__header_value(data, len, "X-Linked-Size", num, sizeof num);
    if (num[0])
        r->linked_size = ln__header_number(num);
    num[0] = 0;
    ln__header_value(data, len, "Content-Length", num, sizeof num);
    if (num[0])
        r->content_length = ln__header_number(num);
    num[0] = 0;
    ln__header_value(data, len, "Content-Range", num, sizeof num);
    const char *slash = num[0] ? strchr(num, '/') : NULL;
    if (slash)
        r->range_total = ln__header_number(slash + 1);
}

static size_t ln__on_header(char *data, size_t size, size_t n, void *user)
{
    ln__hub_resp_header(user, data, size * n);
    return size * n;
}

static size_t ln__on_body(char *data, size_t size, size_t n, void *user)
{
    struct ln__sink *s = user;
    const size_t len = size * n;
    long status = 0;
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status >= 300) {
        /* An error page: keep its start for the message, never the file. */
        if (s->errbody.len < LN__ERRBODY_MAX)
            ln_buf_append(
                &s->errbody, data,
                len < LN__ERRBODY_MAX - s->errbody.len ? len : LN__ERRBODY_MAX - s->errbody.len);
        return len;
    }
    if (s->f.h != -1) {
        if (!s->started) {
            s->started = 1;
            /* The size, when the caller did not know it (rembg's files):
             * from this answer, for the progress report. */
            curl_off_t cl = -1;
            if (s->total == 0 &&
                curl_easy_getinfo(s->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK &&
                cl > 0)
                s->total = (status == 206 ? s->offset : 0) + (uint64_t)cl;
            /* Asked for a range and got the whole file: start over. */
            if (s->offset > 0 && status == 200) {
                struct ln_error werr = {0};
                if (ln_file_set_size(&s->f, 0, &werr) < 0 || ln_file_seek(&s->f, 0, &werr) < 0) {
                    s->write_failed = 1;
                    snprintf(s->write_error, sizeof s->write_error, "%s", werr.message);
                    return 0;
                }
                s->offset = 0;
                ln_hash_init(&s->hash, s->kind);
            }
        }
        struct ln_error werr = {0};
        int wrc = ln_file_write_all(&s->f, data, len, &werr);
        if (wrc < 0) {
            s->write_failed = 1;
            s->disk_full = wrc == LN_ETOOBIG;
            snprintf(s->write_error, sizeof s->write_error, "%s", werr.message);
            return 0;
        }
        ln_hash_update(&s->hash, data, len);
        s->written += len;
        if (s->total && s->offset + s->written > s->total) {
            s->too_big = 1;
            return 0;
        }
        if (s->p && s->p->progress)
            s->p->progress(s->p->user, s->file, s->offset + s->written, s->total);
        if (s->p)
            s->p->bytes_downloaded += len;
        return len;
    }
    if (s->buf) {
        if (s->buf->len + len > s->buf_max) {
            s->too_big = 1;
            return 0;
        }
        ln_buf_append(s->buf, data, len);
    }
    return len;
}

/* Called by libcurl about once a second even when nothing arrives: cancel,
 * and a stall (no byte for stall_s seconds; curl's own low-speed limit
 * averages over a window and lets a trickle hide a stall). */
static int ln__on_xfer(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct ln__sink *s = user;
    if (s->p && s->p->cancel && atomic_load(s->p->cancel))
        return 1;
    const double now = ln_time_now();
    if (dlnow != s->last_now || s->last_move == 0) {
        s->last_now = dlnow;
        s->last_move = now;
    } else if (now - s->last_move > (double)s->stall_s) {
        s->stalled = 1;
        return 1;
    }
    return 0;
}

/* The host part of a URL, for messages and for the same-origin test. */
static void ln__origin(const char *url, char *out, size_t n)
{
    const char *h = strstr(url, "://");
    h = h ? h + 3 : url;
    size_t len = strcspn(h, "/?#");
    const size_t scheme = (size_t)(h - url);
    if (scheme + len >= n)
        len = n - 1 - scheme;
    memcpy(out, url, scheme + len);
    out[scheme + len] = 0;
}

/* One request. method "HEAD" or "GET"; token sent only to the hub itself;
 * follow: let curl follow redirects (downloads from a CDN). Fills resp.
 * Transport failures become one line in err; HTTP statuses are the
 * caller's to judge. */
static int ln__request(const char *method, const char *url, const char *token, int follow,
                       struct ln__sink *sink, struct ln__hub_resp *resp, const char *what,
                       struct ln_error *err)
{
    CURL *c = curl_easy_init();
    if (!c)
        return ln_error_set(err, LN_ENOMEM, "libcurl could not start a transfer");
    char errbuf[CURL_ERROR_SIZE] = "", range[64], auth[600], host[300], endpoint[LN__URL_MAX];
    char eorigin[300] = "";
    struct curl_slist *headers = NULL;
    ln__hub_resp_reset(resp);
    sink->curl = c;
    ln__origin(url, host, sizeof host);
    if (ln__endpoint(endpoint, sizeof endpoint, NULL) == 0)
        ln__origin(endpoint, eorigin, sizeof eorigin);

    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "lunar-nova/" LN_VERSION_STRING);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
    sink->stall_s = ln__stall_seconds();
    sink->last_move = 0;
    const char *ca_var, *ca = ln__ca_bundle(&ca_var);
    if (ca)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, follow ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, ln__on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ln__on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, ln__on_xfer);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, sink);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    /* The hub's sizes are of the stored bytes: no compression. */
    headers = curl_slist_append(headers, "Accept-Encoding: identity");
    if (token && *token && eorigin[0] && strcmp(host, eorigin) == 0) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, auth);
    }
    if (sink->f.h != -1 && sink->offset > 0) {
        snprintf(range, sizeof range, "Range: bytes=%llu-", (unsigned long long)sink->offset);
        headers = curl_slist_append(headers, range);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);

    const CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    sink->curl = NULL;

    const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(cc);
    switch (cc) {
    case CURLE_OK:
        return LN_OK;
    case CURLE_ABORTED_BY_CALLBACK:
        if (sink->stalled)
            return ln_error_set(err, LN_EIO,
                                "timed out talking to %s for %s (nothing for %ld s); run the same "
                                "command again to resume",
                                host, what, sink->stall_s);
        return ln_error_set(err, LN_ECANCELED, "download of %s canceled", what);
    case CURLE_WRITE_ERROR:
        if (sink->too_big)
            return ln_error_set(err, LN_EIO,
                                "%s from %s is larger than announced: the download was refused",
                                what, host);
        if (sink->disk_full)
            return ln_error_set(err, LN_EIO, "disk full while downloading %s", what);
        return ln_error_set(err, LN_EIO, "%s: %s", what,
                            sink->write_failed ? sink->write_error : "cannot write");
    case CURLE_OPERATION_TIMEDOUT:
        return ln_error_set(err, LN_EIO,
                            "timed out talking to %s for %s (%s); run the same command again to "
                            "resume",
                            host, what, detail);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return ln_error_set(err, LN_EIO,
                            "cannot reach %s for %s (%s): no network? HF_ENDPOINT names a mirror, "
                            "HF_HUB_OFFLINE=1 uses the cache only",
                            host, what, detail);
    case CURLE_PEER_FAILED_VERIFICATION:
        if (ca)
            return ln_error_set(err, LN_EIO,
                                "the TLS certificate of %s is not trusted (%s), not even with "
                                "the CA certificates of %s=%s",
                                host, detail, ca_var, ca);
        return ln_error_set(err, LN_EIO,
                            "the TLS certificate of %s is not trusted (%s): if this hub, mirror "
                            "or proxy uses a CA of its own, name its certificate file in "
                            "REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE; else check the clock",
                            host, detail);
    case CURLE_SSL_CACERT_BADFILE:
        if (ca)
            return ln_error_set(err, LN_EIO,
                                "cannot use the CA certificates of %s=%s (%s): is it a PEM file?",
                                ca_var, ca, detail);
        /* fall through */
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_USE_SSL_FAILED:
        return ln_error_set(err, LN_EIO,
                            "TLS error talking to %s (%s): check the system's CA certificates "
                            "(ca-certificates) and the clock",
                            host, detail);
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
        return ln_error_set(err, LN_EIO,
                            "the connection to %s broke during %s (%s); run the same command "
                            "again to resume",
                            host, what, detail);
    default:
        return ln_error_set(err, LN_EIO, "downloading %s from %s failed: %s", what, host, detail);
    }
}

/* One line for an HTTP error status of the hub. */
static int ln__hub_status_error(const struct ln__hub_resp *r, const char *repo,
                                const char *revision, const char *file, int have_token,
                                struct ln_error *err)
{
    char endpoint[LN__URL_MAX] = "https://huggingface.co";
    ln__endpoint(endpoint, sizeof endpoint, NULL);
    if (r->status == 401 && !have_token)
        return ln_error_set(err, LN_EINVAL,
                            "%s: the hub wants a login (HTTP 401): the repo is gated, private or "
                            "does not exist. Accept its terms at %s/%s, then set HF_TOKEN or run "
                            "`huggingface-cli login`",
                            repo, endpoint, repo);
    if (r->status == 401)
        return ln_error_set(err, LN_EINVAL,
                            "%s: the hub refused the token (HTTP 401): it may be wrong or "
                            "expired, or the repo does not exist; check HF_TOKEN or log in again",
                            repo);
    if (r->status == 403)
        return ln_error_set(err, LN_EINVAL,
                            "%s: this token has no access (HTTP 403%s%s): request access at "
                            "%s/%s with the token's account, or log in as an account that has "
                            "it (HF_TOKEN or `huggingface-cli login`)",
                            repo, r->error_code[0] ? ", " : "", r->error_code, endpoint, repo);
    if (r->status == 404) {
        if (strcmp(r->error_code, "RevisionNotFound") == 0)
            return ln_error_set(err, LN_ENOTFOUND, "%s has no revision \"%s\" (HTTP 404)", repo,
                                revision);
        if (file && strcmp(r->error_code, "EntryNotFound") == 0)
            return ln_error_set(err, LN_ENOTFOUND, "%s@%s has no file %s (HTTP 404)", repo,
                                revision, file);
        return ln_error_set(err, LN_ENOTFOUND, "%s not found on %s (HTTP 404%s%s)", repo, endpoint,
                            r->error_code[0] ? ", " : "", r->error_code);
    }
    if (r->status == 429 || r->status >= 500)
        return ln_error_set(err, LN_EIO, "the hub answered HTTP %ld for %s%s%s; try again later",
                            r->status, repo, file ? " " : "", file ? file : "");
    return ln_error_set(err, LN_EIO, "the hub answered HTTP %ld for %s%s%s", r->status, repo,
                        file ? " " : "", file ? file : "");
}

/* Disk and locks ---------------------------------------------------------- */

static int ln__check_space(const char *dir, uint64_t need, const char *what, struct ln_error *err)
{
    uint64_t avail;
    if (need == 0 || ln_path_free_space(dir, &avail, NULL) < 0)
        return LN_OK;
    if (avail < need) {
        char a[32], b[32];
        ln__mb(need, a, sizeof a);
        ln__mb(avail, b, sizeof b);
        return ln_error_set(err, LN_EIO, "disk full: %s needs %s and %s has %s free", what, a, dir,
                            b);
    }
    return LN_OK;
}

/* Takes an exclusive lock on path (created if missing); waits, saying so
 * once, while another pull holds it; a cancel request stops the wait. */
static int ln__lock(const char *path, struct ln_hub_pull *p, const char *what,
                    struct ln_file *lock_out, struct ln_error *err)
{
    struct ln_file f;
    struct ln_error lerr = {0};
    if (ln_file_open(&f, path, LN_FILE_READ | LN_FILE_WRITE | LN_FILE_CREATE | LN_FILE_SHARED,
                     &lerr) < 0)
        return ln_error_set(err, LN_EIO, "%s", lerr.message);
    int said = 0;
    int rc;
    while ((rc = ln_file_lock(&f, 0, &lerr)) < 0) {
        if (rc != LN_EBUSY) {
            ln_file_close(&f, NULL);
            return ln_error_set(err, LN_EIO, "cannot lock %s: %s", path, lerr.message);
        }
        if (!said) {
            ln__note(p, "waiting: another download of %s is running", what);
            said = 1;
        }
        if (p->cancel && atomic_load(p->cancel)) {
            ln_file_close(&f, NULL);
            return ln_error_set(err, LN_ECANCELED, "download of %s canceled", what);
        }
        const struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    *lock_out = f;
    return LN_OK;
}

/* Closing the lock file lets the lock go. */
static void ln__unlock(struct ln_file *lock)
{
    ln_file_close(lock, NULL);
}

static int ln__exists(const char *path)
{
    struct ln_path_info info;
    return ln_path_stat(path, 0, &info, NULL) == LN_OK;
}

/* Downloads url into incomplete (resuming what is there), checks size and
 * checksum, then renames it to final. expected_size -1: unknown.
 * expected_hex: the checksum of kind, "" to skip. On a wrong checksum or
 * a full disk the .incomplete file is removed; on a broken connection it
 * stays for the next try to resume. */
static int ln__fetch(const char *url, const char *token, int follow, const char *incomplete,
                     const char *final, long long expected_size, enum ln_hash_kind kind,
                     const char *expected_hex, const char *what, struct ln_hub_pull *p,
                     struct ln_error *err)
{
    struct ln__sink s;
    memset(&s, 0, sizeof s);
    struct ln_error ferr = {0};
    if (ln_file_open(&s.f, incomplete,
                     LN_FILE_READ | LN_FILE_WRITE | LN_FILE_CREATE | LN_FILE_SHARED, &ferr) < 0)
        return ln_error_set(err, LN_EIO, "%s", ferr.message);
    s.kind = kind;
    s.p = p;
    s.file = what;
    s.total = expected_size > 0 ? (uint64_t)expected_size : 0;
    int rc = LN_OK, drop = 0;
    struct ln_path_info st;
    if (ln_file_stat(&s.f, &st, NULL) < 0)
        st.size = 0;
    if (expected_size >= 0 && st.size > (uint64_t)expected_size) {
        /* More than the file holds: not a start of it. Start over. */
        if (ln_file_set_size(&s.f, 0, &ferr) < 0) {
            rc = ln_error_set(err, LN_EIO, "cannot reset %s: %s", incomplete, ferr.message);
            goto done;
        }
        st.size = 0;
    }
    /* The bytes already there count towards the checksum. */
    ln_hash_init(&s.hash, kind);
    if (st.size > 0) {
        enum { CHUNK = 1 << 20 };
        uint8_t *buf = ln_xmalloc(CHUNK);
        uint64_t at = 0;
        while (at < st.size) {
            size_t got = 0;
            if (ln_file_read_some(&s.f, buf, CHUNK, &got, NULL) < 0 || got == 0)
                break;
            ln_hash_update(&s.hash, buf, got);
            at += got;
        }
        free(buf);
        s.offset = at;
        if (ln_file_seek(&s.f, at, &ferr) < 0 || ln_file_set_size(&s.f, at, &ferr) < 0) {
            rc = ln_error_set(err, LN_EIO, "cannot resume %s: %s", incomplete, ferr.message);
            goto done;
        }
        char mb[32];
        ln__mb(s.offset, mb, sizeof mb);
        ln__note(p, "resuming %s after %s", what, mb);
    }
    {
        char dir[LN_HF_PATH_MAX];
        snprintf(dir, sizeof dir, "%s", incomplete);
        char *slash = NULL;
        for (char *c = dir; *c; c++)
            if (LN_PATH_IS_SEP(*c))
                slash = c;
        if (slash)
            *slash = 0;
        if (expected_size > 0 &&
            (rc = ln__check_space(dir, (uint64_t)expected_size - s.offset, what, err)) < 0) {
            drop = 1;
            goto done;
        }
    }
    if (expected_size < 0 || (long long)s.offset < expected_size) {
        struct ln__hub_resp r;
        rc = ln__request("GET", url, token, follow, &s, &r, what, err);
        if (rc == LN_OK && r.status == 416 && s.offset > 0) {
            /* The server says there is nothing past what we have: check it
             * as it is below; if that fails the partial file goes, so the
             * next try starts from the first byte. */
            drop = 1;
        } else if (rc == LN_OK && (r.status < 200 || r.status >= 300)) {
            rc = ln_error_set(err, r.status == 404 ? LN_ENOTFOUND : LN_EIO,
                              "downloading %s: the server answered HTTP %ld", what, r.status);
        }
        if (rc == LN_OK && s.total == 0 && r.content_length >= 0)
            s.total = s.offset + (uint64_t)r.content_length;
        if (rc < 0) {
            drop = rc != LN_ECANCELED && s.write_failed;
            /* Nothing to resume: an empty .incomplete would only look like
             * a download under way. */
            if (s.too_big || (s.offset == 0 && s.written == 0))
                drop = 1;
            goto done;
        }
    }
    {
        const uint64_t have = s.offset + s.written;
        if (expected_size >= 0 && have != (uint64_t)expected_size) {
            if (have > (uint64_t)expected_size)
                drop = 1;
            rc = ln_error_set(err, LN_EIO,
                              "%s: got %llu bytes, the hub announced %lld; run the same command "
                              "again to resume",
                              what, (unsigned long long)have, expected_size);
            goto done;
        }
        char hex[LN_HASH_HEX_MAX];
        if (kind == LN_HASH_SHA1) {
            /* git's blob name: the header comes before the content, so
             * hash the finished file again (small files only). */
            rc = ln_hash_git_blob(incomplete, hex, err);
            if (rc < 0)
                goto done;
        } else {
            ln_hash_final_hex(&s.hash, hex);
        }
        if (expected_hex && *expected_hex && strcmp(hex, expected_hex) != 0) {
            drop = 1;
            rc = ln_error_set(err, LN_EIO,
                              "%s is corrupt: its %s is %.16s..., expected %.16s...; the "
                              "download was discarded",
                              what,
                              kind == LN_HASH_MD5    ? "md5"
                              : kind == LN_HASH_SHA1 ? "git hash"
                                                     : "sha256",
                              hex, expected_hex);
            goto done;
        }
    }
    int src = ln_file_sync(&s.f, &ferr);
    if (src < 0) {
        rc = ln_error_set(err, LN_EIO, "cannot write %s: %s", incomplete, ferr.message);
        drop = src == LN_ETOOBIG;
        goto done;
    }
    ln_file_close(&s.f, NULL);
    if (ln_path_rename(incomplete, final, &ferr) < 0) {
        rc = ln_error_set(err, LN_EIO, "%s", ferr.message);
        drop = 1;
        goto done;
    }
    ln_file_sync_parent(final, NULL);
    p->n_downloaded++;

done:
    ln_file_close(&s.f, NULL);
    if (rc < 0 && drop)
        ln_path_remove(incomplete, NULL);
    ln_buf_free(&s.errbody);
    return rc;
}

/* Hugging Face -------------------------------------------------------------- */

/* Percent-encodes a revision for a URL path ("refs/pr/1" -> refs%2Fpr%2F1). */
static void ln__quote(const char *in, char *out, size_t n, int keep_slash)
{
    size_t at = 0;
    for (const char *c = in; *c && at + 4 < n; c++) {
        const unsigned char u = (unsigned char)*c;
        if ((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') ||
            u == '-' || u == '_' || u == '.' || u == '~' || (keep_slash && u == '/'))
            out[at++] = (char)u;
        else
            at += (size_t)snprintf(out + at, n - at, "%%%02X", u);
    }
    out[at] = 0;
}

struct ln__repo {
    const char *id;
    char cache[LN_HF_PATH_MAX]; /* the cache root */
    char dir[LN_HF_PATH_MAX];   /* <cache>/models--owner--name */
    char folder[300];           /* models--owner--name */
    char endpoint[LN__URL_MAX];
    char token[512];
};

static int ln__repo_open(struct ln__repo *r, const char *repo_id, struct ln_error *err)
{
    memset(r, 0, sizeof *r);
    r->id = repo_id;
    if (ln_hf_repo_folder(repo_id, r->folder, sizeof r->folder) < 0)
        return ln_error_set(err, LN_EINVAL, "\"%.100s\" is not a Hugging Face repo id (owner/name)",
                            repo_id ? repo_id : "");
    int rc = ln_hf_cache_dir(r->cache, sizeof r->cache, err);
    if (rc < 0)
        return rc;
    if ((rc = ln__path(r->dir, sizeof r->dir, err, "%s/%s", r->cache, r->folder)) < 0)
        return rc;
    if ((rc = ln__endpoint(r->endpoint, sizeof r->endpoint, err)) < 0)
        return rc;
    ln__token(r->token, sizeof r->token);
    return LN_OK;
}

/* Points r at another cache root: cache, or when NULL the first root (in
 * ln_hf_resolve's order) that holds the repo, which is where `--model
 * REPO_ID` reads it; the write cache when none does. */
static int ln__repo_root(struct ln__repo *r, const char *cache, struct ln_error *err)
{
    char(*roots)[LN_HF_PATH_MAX] = NULL;
    int rc = LN_OK;
    if (!cache) {
        roots = ln_xmalloc(LN_HF_ROOTS_MAX * sizeof *roots);
        const int n = ln_hf_cache_roots(roots, LN_HF_ROOTS_MAX);
        char dir[LN_HF_PATH_MAX];
        for (int i = 0; i < n && !cache; i++)
            if (ln__path(dir, sizeof dir, NULL, "%s/%s", roots[i], r->folder) == 0 &&
                ln__exists(dir))
                cache = roots[i];
    }
    if (cache && ((rc = ln__path(r->cache, sizeof r->cache, err, "%s", cache)) < 0 ||
                  (rc = ln__path(r->dir, sizeof r->dir, err, "%s/%s", r->cache, r->folder)) < 0))
        r->dir[0] = 0;
    free(roots);
    return rc;
}

/* The commit a revision names in the cache: the revision itself when it is
 * a commit with a snapshot, else refs/<revision>. */
static int ln__cached_commit(const struct ln__repo *r, const char *revision, char *commit, size_t n)
{
    char path[LN_HF_PATH_MAX];
    if (ln__is_hex(revision, 40)) {
        if (ln__path(path, sizeof path, NULL, "%s/snapshots/%s", r->dir, revision) < 0 ||
            !ln__exists(path))
            return -1;
        snprintf(commit, n, "%s", revision);
        return 0;
    }
    if (ln__path(path, sizeof path, NULL, "%s/refs/%s", r->dir, revision) < 0)
        return -1;
    uint8_t *data = NULL;
    size_t got = 0;
    char buf[LN_HUB_COMMIT_MAX];
    if (ln_file_read(path, sizeof buf - 1, &data, &got, NULL) < 0)
        return -1;
    memcpy(buf, data, got);
    free(data);
    buf[got] = 0;
    while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == '\r' || buf[got - 1] == ' '))
        buf[--got] = 0;
    if (!ln__safe_name(buf) || got >= n)
        return -1;
    memcpy(commit, buf, got + 1);
    return 0;
}

/* True when snapshots/<commit>/<file> leads to a finished file. */
static int ln__snapshot_has(const struct ln__repo *r, const char *commit, const char *file)
{
    char path[LN_HF_PATH_MAX];
    struct ln_path_info info;
    return ln__path(path, sizeof path, NULL, "%s/snapshots/%s/%s", r->dir, commit, file) == 0 &&
           ln_path_stat(path, 0, &info, NULL) == LN_OK && info.kind == LN_PATH_FILE;
}

/* Copies src over dst atomically: the snapshot file where links cannot be
 * made (Windows without Developer Mode), as huggingface_hub does there. */
static int ln__copy_file(const char *src, const char *dst, struct ln_error *err)
{
    struct ln_file in;
    int rc = ln_file_open(&in, src, LN_FILE_READ, err);
    if (rc < 0)
        return rc;
    struct ln_file_atomic a;
    if ((rc = ln_file_atomic_open(&a, dst, err)) < 0) {
        ln_file_close(&in, NULL);
        return rc;
    }
    enum { CHUNK = 1 << 20 };
    uint8_t *buf = ln_xmalloc(CHUNK);
    for (;;) {
        size_t got = 0;
        if ((rc = ln_file_read_some(&in, buf, CHUNK, &got, err)) < 0 || got == 0)
            break;
        if ((rc = ln_file_atomic_write(&a, buf, got, err)) < 0)
            break;
    }
    free(buf);
    ln_file_close(&in, NULL);
    if (rc < 0) {
        ln_file_atomic_abort(&a);
        return rc;
    }
    return ln_file_atomic_commit(&a, err);
}

/* Points snapshots/<commit>/<file> at blobs/<etag> with a relative link,
 * replacing whatever was there in one rename; where the system refuses
 * links, the blob is copied there instead. */
static int ln__link(const struct ln__repo *r, const char *commit, const char *file,
                    const char *etag, struct ln_error *err)
{
    char pointer[LN_HF_PATH_MAX], target[LN_HF_PATH_MAX], tmp[LN_HF_PATH_MAX + 64];
    int rc = ln__path(pointer, sizeof pointer, err, "%s/snapshots/%s/%s", r->dir, commit, file);
    if (rc < 0)
        return rc;
    if (ln_hub_blob_link(file, etag, target, sizeof target) < 0)
        return ln_error_set(err, LN_EINVAL, "a path in the model cache is too long");
    char parent[LN_HF_PATH_MAX];
    snprintf(parent, sizeof parent, "%s", pointer);
    *strrchr(parent, '/') = 0;
    if ((rc = ln_file_mkdirs(parent, err)) < 0)
        return rc;
    static atomic_uint counter;
    snprintf(tmp, sizeof tmp, "%s.%ld.%u.tmp", pointer, (long)getpid(),
             atomic_fetch_add(&counter, 1));
    struct ln_error lerr = {0};
    rc = ln_path_link(target, tmp, &lerr);
    if (rc == LN_EUNUSABLE) {
        char blob[LN_HF_PATH_MAX];
        if ((rc = ln__path(blob, sizeof blob, err, "%s/blobs/%s", r->dir, etag)) < 0)
            return rc;
        return ln__copy_file(blob, pointer, err);
    }
    if (rc < 0)
        return ln_error_set(err, LN_EIO, "cannot link %s: %s", pointer, lerr.message);
    if (ln_path_rename(tmp, pointer, &lerr) < 0) {
        ln_path_remove(tmp, NULL);
        return ln_error_set(err, LN_EIO, "cannot link %s: %s", pointer, lerr.message);
    }
    return LN_OK;
}

/* refs/<revision> := commit (only for a branch or tag name). */
static int ln__write_ref(const struct ln__repo *r, const char *revision, const char *commit,
                         struct ln_error *err)
{
    if (strcmp(revision, commit) == 0)
        return LN_OK;
    char path[LN_HF_PATH_MAX], parent[LN_HF_PATH_MAX];
    int rc = ln__path(path, sizeof path, err, "%s/refs/%s", r->dir, revision);
    if (rc < 0)
        return rc;
    snprintf(parent, sizeof parent, "%s", path);
    *strrchr(parent, '/') = 0;
    if ((rc = ln_file_mkdirs(parent, err)) < 0)
        return rc;
    /* huggingface_hub writes the bare commit, without a line end. */
    return ln_file_write_atomic(path, commit, strlen(commit), err);
}

static void ln__cachedir_tag(const struct ln__repo *r)
{
    static const char tag[] = "Signature: 8a477f597d28d172789f06886806bc55\n"
                              "# This file is a cache directory tag created by huggingface_hub.\n"
                              "# For information about cache directory tags, see:\n"
                              "#\thttps://bford.info/cachedir/\n";
    char path[LN_HF_PATH_MAX];
    if (ln__path(path, sizeof path, NULL, "%s/CACHEDIR.TAG", r->cache) == 0 && !ln__exists(path))
        ln_file_write_atomic(path, tag, sizeof tag - 1, NULL);
}

int ln__hub_parse_revision(const char *body, size_t len, const char *repo, const char *revision,
                           char *commit, size_t n, json_t **siblings, struct ln_error *err)
{
    json_error_t je;
    json_t *root = json_loadb(body, len, 0, &je);
    json_t *sha = json_is_object(root) ? json_object_get(root, "sha") : NULL;
    json_t *sib = json_is_object(root) ? json_object_get(root, "siblings") : NULL;
    int rc = LN_OK;
    if (!json_is_string(sha) || !ln__safe_name(json_string_value(sha)) ||
        strlen(json_string_value(sha)) >= n || !json_is_array(sib)) {
        rc = ln_error_set(err, LN_EIO,
                          "the hub's answer for %s@%.100s is not what it should be (no commit or "
                          "file list)",
                          repo, revision);
    } else {
        snprintf(commit, n, "%s", json_string_value(sha));
        *siblings = json_incref(sib);
    }
    json_decref(root);
    return rc;
}

/* GET /api/models/<repo>/revision/<revision>: the commit and file list. */
static int ln__resolve_revision(const struct ln__repo *r, const char *revision, char *commit,
                                size_t n, json_t **siblings, struct ln_error *err)
{
    char url[LN__URL_MAX], quoted[600];
    ln__quote(revision, quoted, sizeof quoted, 0);
    int rc =
        ln__path(url, sizeof url, err, "%s/api/models/%s/revision/%s", r->endpoint, r->id, quoted);
    if (rc < 0)
        return rc;
    struct ln_buf body = {0};
    struct ln__sink s;
    memset(&s, 0, sizeof s);
    s.f.h = -1;
    s.buf = &body;
    s.buf_max = LN__API_MAX;
    struct ln__hub_resp resp;
    char what[300];
    snprintf(what, sizeof what, "the file list of %s", r->id);
    rc = ln__request("GET", url, r->token, 1, &s, &resp, what, err);
    if (rc == LN_OK && resp.status != 200)
        rc = ln__hub_status_error(&resp, r->id, revision, NULL, r->token[0] != 0, err);
    else if (rc == LN_OK && (body.failed || s.too_big))
        rc = ln_error_set(err, LN_EIO, "the hub's answer for %s is too large", r->id);
    if (rc == LN_OK)
        rc = ln__hub_parse_revision((const char *)body.data, body.len, r->id, revision, commit, n,
                                    siblings, err);
    ln_buf_free(&s.errbody);
    ln_buf_free(&body);
    return rc;
}

static int ln__siblings_has(json_t *sib, const char *file)
{
    size_t i;
    json_t *e;
    json_array_foreach(sib, i, e)
    {
        json_t *name = json_object_get(e, "rfilename");
        if (json_is_string(name) && strcmp(json_string_value(name), file) == 0)
            return 1;
    }
    return 0;
}

/* What the hub says of one file of a commit, before any byte comes. */
struct ln__meta {
    const char *file;
    char url[LN__URL_MAX];      /* resolve/<commit>/<file> on the hub */
    char download[LN__URL_MAX]; /* where the bytes are (the url, or a CDN) */
    char etag[LN_HUB_COMMIT_MAX];
    char what[700]; /* "owner/name/file" for messages */
    long long size;
    int cached; /* the snapshot already has it */
};

int ln__hub_file_answer(const struct ln__hub_resp *r, const char *repo, const char *commit,
                        const char *what, char etag[LN_HUB_COMMIT_MAX], long long *size,
                        struct ln_error *err)
{
    ln_hub_normalize_etag(r->linked_etag[0] ? r->linked_etag : r->etag, etag, LN_HUB_COMMIT_MAX);
    *size = r->linked_size >= 0 ? r->linked_size : r->status == 200 ? r->content_length : -1;
    if (!ln__safe_name(etag) || *size < 0)
        return ln_error_set(err, LN_EIO,
                            "the hub's answer for %s has no usable ETag or size: is HF_ENDPOINT "
                            "a Hugging Face hub?",
                            what);
    if (r->commit[0] && strcmp(r->commit, commit) != 0)
        return ln_error_set(err, LN_EIO,
                            "the hub moved %s from commit %.12s to %.12s during the "
                            "download; run the same command again",
                            repo, commit, ln__safe_name(r->commit) ? r->commit : "(unreadable)");
    return LN_OK;
}

/* HEAD on the file, following only the hub's own (relative) redirects, as
 * huggingface_hub does: an absolute Location is where the bytes are. */
static int ln__file_meta(const struct ln__repo *r, const char *revision, const char *commit,
                         const char *file, struct ln__meta *m, struct ln_error *err)
{
    memset(m, 0, sizeof *m);
    m->file = file;
    if (!ln_hf_valid_filename(file))
        return ln_error_set(err, LN_EIO, "the hub lists a file named \"%.100s\": refused", file);
    if (ln__snapshot_has(r, commit, file)) {
        m->cached = 1;
        return LN_OK;
    }
    char qfile[2048];
    ln__quote(file, qfile, sizeof qfile, 1);
    snprintf(m->what, sizeof m->what, "%s/%s", r->id, file);
    int rc = ln__path(m->url, sizeof m->url, err, "%s/%s/resolve/%s/%s", r->endpoint, r->id, commit,
                      qfile);
    if (rc < 0)
        return rc;
    struct ln__hub_resp resp;
    struct ln__sink s;
    snprintf(m->download, sizeof m->download, "%s", m->url);
    for (int hop = 0;; hop++) {
        memset(&s, 0, sizeof s);
        s.f.h = -1;
        rc = ln__request("HEAD", m->download, r->token, 0, &s, &resp, m->what, err);
        ln_buf_free(&s.errbody);
        if (rc < 0)
            return rc;
        if (resp.status >= 300 && resp.status < 400 && resp.location[0] == '/' &&
            hop < LN__REDIRECTS_MAX) {
            char origin[300];
            ln__origin(m->download, origin, sizeof origin);
            if ((rc = ln__path(m->download, sizeof m->download, err, "%s%s", origin,
                               resp.location)) < 0)
                return rc;
            continue;
        }
        break;
    }
    if (resp.status >= 300 && resp.status < 400 && resp.location[0])
        snprintf(m->download, sizeof m->download, "%s", resp.location);
    else if (resp.status != 200)
        return ln__hub_status_error(&resp, r->id, revision, file, r->token[0] != 0, err);
    return ln__hub_file_answer(&resp, r->id, commit, m->what, m->etag, &m->size, err);
}

/* The bytes still to come for m: 0 when its blob is there, less what an
 * earlier try left in its .incomplete file. */
static uint64_t ln__meta_missing(const struct ln__repo *r, const struct ln__meta *m)
{
    char blob[LN_HF_PATH_MAX + 16];
    struct ln_path_info st;
    if (m->cached || ln__path(blob, sizeof blob, NULL, "%s/blobs/%s", r->dir, m->etag) < 0 ||
        ln__exists(blob))
        return 0;
    strcat(blob, ".incomplete");
    const uint64_t have = ln_path_stat(blob, 0, &st, NULL) == LN_OK ? st.size : 0;
    return (uint64_t)m->size > have ? (uint64_t)m->size - have : 0;
}

/* The file of m into the cache: its blob (downloaded under its lock unless
 * there) and its snapshot link. */
static int ln__file_get(const struct ln__repo *r, const char *commit, const struct ln__meta *m,
                        struct ln_hub_pull *p, struct ln_error *err)
{
    if (m->cached) {
        p->n_cached++;
        return LN_OK;
    }
    char blob[LN_HF_PATH_MAX], incomplete[LN_HF_PATH_MAX + 16], locks[LN_HF_PATH_MAX],
        lock[LN_HF_PATH_MAX + 140], blobs[LN_HF_PATH_MAX];
    int rc;
    if ((rc = ln__path(blobs, sizeof blobs, err, "%s/blobs", r->dir)) < 0 ||
        (rc = ln__path(blob, sizeof blob, err, "%s/%s", blobs, m->etag)) < 0 ||
        (rc = ln__path(incomplete, sizeof incomplete, err, "%s.incomplete", blob)) < 0 ||
        (rc = ln__path(locks, sizeof locks, err, "%s/.locks/%s", r->cache, r->folder)) < 0 ||
        (rc = ln__path(lock, sizeof lock, err, "%s/%s.lock", locks, m->etag)) < 0)
        return rc;
    if ((rc = ln_file_mkdirs(blobs, err)) < 0 || (rc = ln_file_mkdirs(locks, err)) < 0)
        return rc;
    ln__cachedir_tag(r);

    struct ln_file lock_file;
    if ((rc = ln__lock(lock, p, m->what, &lock_file, err)) < 0)
        return rc;
    if (!ln__exists(blob)) {
        /* A 64-hex etag is the file's SHA-256 (LFS); a 40-hex one is git's
         * blob name (small files in git). Anything else cannot be checked
         * and is taken on size alone, as huggingface_hub does. */
        const enum ln_hash_kind kind = ln__is_hex(m->etag, 64) ? LN_HASH_SHA256 : LN_HASH_SHA1;
        const char *expect = ln__is_hex(m->etag, 64) || ln__is_hex(m->etag, 40) ? m->etag : "";
        /* The token goes to the hub only, never to where it redirects. */
        const char *token = strcmp(m->download, m->url) == 0 ? r->token : NULL;
        rc = ln__fetch(m->download, token, 1, incomplete, blob, m->size, kind, expect, m->what, p,
                       err);
    } else {
        p->n_cached++;
    }
    if (rc == LN_OK)
        rc = ln__link(r, commit, m->file, m->etag, err);
    ln__unlock(&lock_file);
    return rc;
}

/* Every file of a commit: first what the hub says of each (so a missing
 * file, a refused token or too little room stops the pull before a byte
 * is written), then the bytes. */
static int ln__pull_list(const struct ln__repo *r, const char *revision, const char *commit,
                         const char *const *names, int n, struct ln_hub_pull *p,
                         struct ln_error *err)
{
    struct ln__meta *metas = ln_xcalloc((size_t)(n > 0 ? n : 1), sizeof *metas);
    uint64_t need = 0;
    int rc = LN_OK;
    for (int i = 0; i < n && rc == LN_OK; i++) {
        rc = ln__file_meta(r, revision, commit, names[i], &metas[i], err);
        if (rc == LN_OK)
            need += ln__meta_missing(r, &metas[i]);
    }
    if (rc == LN_OK && need > 0) {
        /* The room is checked where the blobs go, or the nearest folder
         * above it that exists yet. */
        char dir[LN_HF_PATH_MAX];
        snprintf(dir, sizeof dir, "%s", r->dir);
        char *slash;
        while (!ln__exists(dir) && (slash = strrchr(dir, '/')) && slash != dir)
            *slash = 0;
        rc = ln__check_space(dir, need, r->id, err);
    }
    for (int i = 0; i < n && rc == LN_OK; i++)
        rc = ln__file_get(r, commit, &metas[i], p, err);
    free(metas);
    return rc;
}

/* Unfinished downloads this old are given up when a later pull of the same
 * repo succeeds (an abandoned revision's partial file would otherwise stay
 * for ever). One being resumed is locked by its pull, and new again. */
#define LN__STALE_SECONDS (7 * 24 * 3600)

/* Removes the repo's blobs/<etag>.incomplete files untouched for
 * LN__STALE_SECONDS, each only when no pull holds its lock. */
static void ln__drop_stale(const struct ln__repo *r, struct ln_hub_pull *p)
{
    char blobs[LN_HF_PATH_MAX];
    struct ln_dir *d;
    if (ln__path(blobs, sizeof blobs, NULL, "%s/blobs", r->dir) < 0 ||
        ln_dir_open(&d, blobs, NULL) < 0)
        return;
    const int64_t now = (int64_t)time(NULL);
    struct ln_dir_entry e;
    while (ln_dir_next(d, &e, NULL) > 0) {
        const size_t len = strlen(e.name);
        char path[LN_HF_PATH_MAX], lock[LN_HF_PATH_MAX], etag[LN_HUB_COMMIT_MAX], mb[32];
        struct ln_path_info st;
        struct ln_file f;
        if (e.kind != LN_PATH_FILE || len <= 11 || len - 11 >= sizeof etag ||
            strcmp(e.name + len - 11, ".incomplete") != 0)
            continue;
        memcpy(etag, e.name, len - 11);
        etag[len - 11] = 0;
        if (!ln__safe_name(etag) || ln__path(path, sizeof path, NULL, "%s/%s", blobs, e.name) < 0 ||
            ln__path(lock, sizeof lock, NULL, "%s/.locks/%s/%s.lock", r->cache, r->folder, etag) <
                0 ||
            ln_path_stat(path, 0, &st, NULL) < 0 || now - st.mtime_s < LN__STALE_SECONDS)
            continue;
        if (ln_file_open(&f, lock, LN_FILE_READ | LN_FILE_WRITE | LN_FILE_CREATE | LN_FILE_SHARED,
                         NULL) < 0)
            continue;
        if (ln_file_lock(&f, 0, NULL) == LN_OK && ln_path_remove(path, NULL) == LN_OK) {
            ln__mb(st.size, mb, sizeof mb);
            ln__note(p, "removed an unfinished download untouched for %lld days: %s (%s)",
                     (long long)((now - st.mtime_s) / 86400), e.name, mb);
        }
        ln_file_close(&f, NULL);
    }
    ln_dir_close(d);
}

int ln_hub_pull_files(const char *repo_id, const char *const *files, int n_files,
                      struct ln_hub_pull *p, struct ln_error *err)
{
    struct ln__repo *r = ln_xcalloc(1, sizeof *r);
    json_t *sib = NULL;
    const char *revision = p->revision && *p->revision ? p->revision : "main";
    int rc = ln__repo_open(r, repo_id, err);
    if (rc < 0)
        goto done;
    if (!ln__valid_revision(revision)) {
        rc = ln_error_set(err, LN_EINVAL, "\"%.100s\" is not a revision name", revision);
        goto done;
    }
    if (ln_hub_offline()) {
        /* No network at all: what the cache has, or a clear no. */
        int ok = ln__cached_commit(r, revision, p->commit, sizeof p->commit) == 0;
        for (int i = 0; ok && i < n_files; i++)
            ok = ln__snapshot_has(r, p->commit, files[i]);
        if (!ok) {
            rc = ln_error_set(err, LN_ENOTFOUND,
                              "HF_HUB_OFFLINE is set and %s@%s is not in the cache %s; unset "
                              "it to download",
                              repo_id, revision, r->cache);
            goto done;
        }
        p->n_cached += n_files;
        ln__note(p, "offline (HF_HUB_OFFLINE): %s@%s is in the cache", repo_id, revision);
        goto found;
    }
    if ((rc = ln__resolve_revision(r, revision, p->commit, sizeof p->commit, &sib, err)) < 0)
        goto done;
    if (n_files == 0) {
        /* Every file the hub lists. */
        const size_t n = json_array_size(sib);
        const char **names = ln_xcalloc(n ? n : 1, sizeof *names);
        for (size_t i = 0; i < n && rc == LN_OK; i++) {
            json_t *name = json_object_get(json_array_get(sib, i), "rfilename");
            if (!json_is_string(name))
                rc = ln_error_set(err, LN_EIO, "the hub's file list for %s is malformed", repo_id);
            else
                names[i] = json_string_value(name);
        }
        if (rc == LN_OK)
            rc = ln__pull_list(r, revision, p->commit, names, (int)n, p, err);
        free(names);
        if (rc < 0)
            goto done;
    } else {
        for (int i = 0; i < n_files; i++) {
            if (!ln__siblings_has(sib, files[i])) {
                rc = ln_error_set(err, LN_ENOTFOUND, "%s@%s has no file %s", repo_id, revision,
                                  files[i]);
                goto done;
            }
        }
        if ((rc = ln__pull_list(r, revision, p->commit, files, n_files, p, err)) < 0)
            goto done;
    }
    /* refs/ moves last: until every file is in, it still names the
     * snapshot that was complete. */
    if ((rc = ln__write_ref(r, revision, p->commit, err)) < 0)
        goto done;
    ln__drop_stale(r, p);
found:
    rc = ln__path(p->snapshot, sizeof p->snapshot, err, "%s/snapshots/%s", r->dir, p->commit);
done:
    json_decref(sib);
    free(r);
    return rc;
}

/* The files a TripoSR repo needs, from its file list (or, offline, from its
 * snapshot): config.yaml and one weights file. 0 when it is not one. */
static int ln__triposr_files(json_t *sib, const struct ln__repo *r, const char *commit,
                             const char *files[2])
{
    static const char *const weights[] = {"model.ckpt", "model.safetensors"};
    files[0] = "config.yaml";
    for (int i = 0; i < 2; i++) {
        const int has =
            sib ? ln__siblings_has(sib, weights[i]) : ln__snapshot_has(r, commit, weights[i]);
        const int has_cfg =
            sib ? ln__siblings_has(sib, "config.yaml") : ln__snapshot_has(r, commit, "config.yaml");
        if (has && has_cfg) {
            files[1] = weights[i];
            return 1;
        }
    }
    return 0;
}

static int ln__pull_triposr_or_repo(const char *repo_id, struct ln_hub_pull *p,
                                    struct ln_error *err)
{
    struct ln__repo *r = ln_xcalloc(1, sizeof *r);
    json_t *sib = NULL;
    const char *files[2];
    const char *revision = p->revision && *p->revision ? p->revision : "main";
    int is_triposr = 0;
    int rc = ln__repo_open(r, repo_id, err);
    if (rc < 0)
        goto done;
    if (!ln__valid_revision(revision)) {
        rc = ln_error_set(err, LN_EINVAL, "\"%.100s\" is not a revision name", revision);
        goto done;
    }
    if (ln_hub_offline()) {
        char commit[LN_HUB_COMMIT_MAX];
        is_triposr = ln__cached_commit(r, revision, commit, sizeof commit) == 0 &&
                     ln__triposr_files(NULL, r, commit, files);
    } else {
        char commit[LN_HUB_COMMIT_MAX];
        if ((rc = ln__resolve_revision(r, revision, commit, sizeof commit, &sib, err)) < 0)
            goto done;
        is_triposr = ln__triposr_files(sib, r, commit, files);
    }
    if (!is_triposr) {
        rc = ln_hub_pull_files(repo_id, NULL, 0, p, err);
        goto done;
    }
    if ((rc = ln_hub_pull_files(repo_id, files, 2, p, err)) < 0)
        goto done;
    /* The ViT's config.json, from the repo config.yaml names (the released
     * model: facebook/dino-vitb16), into the same cache. */
    char cfg_path[LN_HF_PATH_MAX + 16];
    snprintf(cfg_path, sizeof cfg_path, "%s/config.yaml", p->snapshot);
    struct ln_triposr_config *cfg = ln_xcalloc(1, sizeof *cfg);
    struct ln_error cfg_err = {0};
    if (ln_triposr_config_load(cfg_path, cfg, &cfg_err) < 0) {
        rc = ln_error_set(err, LN_EMODEL, "%s: its config.yaml is not a TripoSR configuration: %s",
                          repo_id, cfg_err.message);
    } else if (cfg->vit_repo[0] && ln_hf_valid_repo(cfg->vit_repo)) {
        struct ln_hub_pull vp = *p;
        vp.revision = NULL;
        const char *cj = "config.json";
        rc = ln_hub_pull_files(cfg->vit_repo, &cj, 1, &vp, err);
        p->n_downloaded = vp.n_downloaded;
        p->n_cached = vp.n_cached;
        p->bytes_downloaded = vp.bytes_downloaded;
        if (rc < 0)
            ln_error_prefix(err, "the ViT configuration %s named by %s", cfg->vit_repo, repo_id);
    }
    free(cfg);
done:
    json_decref(sib);
    free(r);
    return rc;
}

/* rembg ------------------------------------------------------------------- */

/* The checksum rembg checks for m, as a kind and hex digits (into hex).
 * LUNAR_NOVA_REMBG_CHECKSUMS ("name=md5:<hex>,name=sha256:<hex>") replaces
 * it for a mirror that carries re-exported files of its own. */
static int ln__rembg_expect(const struct ln_rembg_model *m, enum ln_hash_kind *kind,
                            char hex[LN_HASH_HEX_MAX])
{
    const char *spec = m->hash;
    char own[128];
    const char *env = getenv("LUNAR_NOVA_REMBG_CHECKSUMS");
    const size_t nl = strlen(m->name);
    for (const char *e = env; e && *e;) {
        const size_t len = strcspn(e, ",");
        if (len > nl + 1 && len - nl - 1 < sizeof own && strncmp(e, m->name, nl) == 0 &&
            e[nl] == '=') {
            memcpy(own, e + nl + 1, len - nl - 1);
            own[len - nl - 1] = 0;
            spec = own;
        }
        e += len + (e[len] == ',');
    }
    const char *digits;
    if (strncmp(spec, "md5:", 4) == 0 && ln__is_hex(spec + 4, 32)) {
        *kind = LN_HASH_MD5;
        digits = spec + 4;
    } else if (strncmp(spec, "sha256:", 7) == 0 && ln__is_hex(spec + 7, 64)) {
        *kind = LN_HASH_SHA256;
        digits = spec + 7;
    } else {
        return -1;
    }
    snprintf(hex, LN_HASH_HEX_MAX, "%s", digits);
    return 0;
}

int ln_hub_pull_rembg(const struct ln_rembg_model *m, struct ln_hub_pull *p, struct ln_error *err)
{
    char home[LN_HF_PATH_MAX], path[LN_HF_PATH_MAX], incomplete[LN_HF_PATH_MAX + 16];
    char lock[LN_HF_PATH_MAX + 16], url[LN__URL_MAX], hex[LN_HASH_HEX_MAX];
    char expect[LN_HASH_HEX_MAX];
    enum ln_hash_kind kind;
    int rc;
    struct ln_file lock_file;
    if (ln__rembg_expect(m, &kind, expect) < 0)
        return ln_error_set(err, LN_EINVAL,
                            "no usable checksum for %s (LUNAR_NOVA_REMBG_CHECKSUMS?)", m->name);
    if ((rc = ln_rembg_home(home, sizeof home, err)) < 0 ||
        (rc = ln__path(path, sizeof path, err, "%s/%s", home, m->file)) < 0 ||
        (rc = ln__path(incomplete, sizeof incomplete, err, "%s.incomplete", path)) < 0 ||
        (rc = ln__path(lock, sizeof lock, err, "%s.lock", path)) < 0 ||
        (rc = ln_rembg_url(m, url, sizeof url, err)) < 0)
        return rc;
    snprintf(p->snapshot, sizeof p->snapshot, "%s", path);
    snprintf(p->commit, sizeof p->commit, "%s", expect);
    /* rembg (through pooch) keeps a file whose checksum matches and
     * fetches it again otherwise. */
    if (ln__exists(path)) {
        if (ln_hash_file(path, kind, NULL, 0, hex, NULL) == 0 && strcmp(hex, expect) == 0) {
            p->n_cached++;
            return LN_OK;
        }
        if (ln_hub_offline())
            return ln_error_set(
                err, LN_EIO, "%s does not match rembg's checksum and HF_HUB_OFFLINE is set", path);
        ln__note(p, "%s does not match rembg's checksum: downloading it again", path);
    } else if (ln_hub_offline()) {
        return ln_error_set(err, LN_ENOTFOUND,
                            "HF_HUB_OFFLINE is set and %s is not in %s; unset it to download",
                            m->file, home);
    }
    if ((rc = ln_file_mkdirs(home, err)) < 0)
        return rc;
    if ((rc = ln__lock(lock, p, m->file, &lock_file, err)) < 0)
        return rc;
    /* The other pull may have finished while this one waited. */
    if (ln__exists(path) && ln_hash_file(path, kind, NULL, 0, hex, NULL) == 0 &&
        strcmp(hex, expect) == 0) {
        p->n_cached++;
    } else {
        rc = ln__fetch(url, NULL, 1, incomplete, path, -1, kind, expect, m->file, p, err);
    }
    ln__unlock(&lock_file);
    return rc;
}

int ln_hub_pull_model(const char *name, struct ln_hub_pull *p, struct ln_error *err)
{
    const struct ln_rembg_model *m = ln_rembg_model(name);
    if (m)
        return ln_hub_pull_rembg(m, p, err);
    if (!ln_hf_valid_repo(name)) {
        size_t n;
        const struct ln_rembg_model *all = ln_rembg_models(&n);
        char known[400] = "";
        size_t at = 0;
        for (size_t i = 0; i < n && at < sizeof known; i++)
            at +=
                (size_t)snprintf(known + at, sizeof known - at, "%s%s", i ? ", " : "", all[i].name);
        return ln_error_set(err, LN_EINVAL,
                            "\"%.80s\" is neither a Hugging Face repo id (owner/name) nor a rembg "
                            "model (%s)",
                            name, known);
    }
    return ln__pull_triposr_or_repo(name, p, err);
}

/* Verify and list ---------------------------------------------------------- */

struct ln__verify {
    void (*report)(void *user, const struct ln_hub_file_report *r);
    void *user;
    int hash, n_bad, n_files;
    const char *snapshot, *commit;
    int n_copies;                /* plain files: links were refused here */
    int has_config, has_weights; /* a TripoSR snapshot's two files, seen */
    int has_config_json;         /* a transformers repo's configuration */
};

/* The names of the blobs some snapshot links to (every snapshot, not only
 * the one verified: older revisions keep theirs). */
struct ln__linked {
    char **names;
    size_t n, cap;
};

static void ln__linked_walk(struct ln__linked *l, const char *dir, int depth)
{
    struct ln_dir *d;
    if (depth > 16 || ln_dir_open(&d, dir, NULL) < 0)
        return;
    struct ln_dir_entry e;
    while (ln_dir_next(d, &e, NULL) > 0) {
        char path[LN_HF_PATH_MAX];
        if (ln__path(path, sizeof path, NULL, "%s/%s", dir, e.name) < 0)
            continue;
        if (e.kind == LN_PATH_DIR) {
            ln__linked_walk(l, path, depth + 1);
            continue;
        }
        char *t = NULL;
        if (e.kind != LN_PATH_LINK || ln_path_read_link(path, &t, NULL) != LN_OK)
            continue;
        const char *base = t;
        for (const char *c = t; *c; c++)
            if (LN_PATH_IS_SEP(*c))
                base = c + 1;
        if (l->n == l->cap) {
            l->cap = l->cap ? 2 * l->cap : 16;
            l->names = ln_xrealloc(l->names, l->cap * sizeof *l->names);
        }
        l->names[l->n++] = ln_xstrdup(base);
        free(t);
    }
    ln_dir_close(d);
}

/* Reports each finished blob of repo_dir that no snapshot links to: what
 * is left when a snapshot link was deleted (a pull links it again). */
static void ln__verify_unlinked(struct ln__verify *v, const char *repo_dir)
{
    char snaps[LN_HF_PATH_MAX], blobs[LN_HF_PATH_MAX];
    struct ln__linked l = {0};
    struct ln_dir *d;
    if (ln__path(snaps, sizeof snaps, NULL, "%s/snapshots", repo_dir) < 0 ||
        ln__path(blobs, sizeof blobs, NULL, "%s/blobs", repo_dir) < 0)
        return;
    ln__linked_walk(&l, snaps, 0);
    if (ln_dir_open(&d, blobs, NULL) == 0) {
        struct ln_dir_entry e;
        while (ln_dir_next(d, &e, NULL) > 0) {
            const size_t len = strlen(e.name);
            if (e.kind != LN_PATH_FILE || e.name[0] == '.' ||
                (len > 11 && strcmp(e.name + len - 11, ".incomplete") == 0))
                continue;
            int linked = 0;
            for (size_t i = 0; i < l.n && !linked; i++)
                linked = strcmp(l.names[i], e.name) == 0;
            char path[LN_HF_PATH_MAX], file[300];
            struct ln_path_info st;
            if (linked || ln__path(path, sizeof path, NULL, "%s/%s", blobs, e.name) < 0)
                continue;
            snprintf(file, sizeof file, "blobs/%.200s", e.name);
            struct ln_hub_file_report rep = {
                .file = file, .path = path, .commit = v->commit, .unlinked = 1};
            rep.size = ln_path_stat(path, 0, &st, NULL) == LN_OK ? st.size : 0;
            snprintf(rep.problem, sizeof rep.problem,
                     "no snapshot links to this blob: a snapshot link is missing");
            v->n_files++;
            v->n_bad++;
            v->report(v->user, &rep);
        }
        ln_dir_close(d);
    }
    for (size_t i = 0; i < l.n; i++)
        free(l.names[i]);
    free(l.names);
}

/* A TripoSR snapshot needs config.yaml and one weights file: reports the
 * one that is gone (its link deleted, so the walk never met it). */
static void ln__verify_triposr(struct ln__verify *v)
{
    char path[LN_HF_PATH_MAX];
    struct ln_hub_file_report rep = {.path = path, .commit = v->commit};
    if (v->has_weights && !v->has_config && !v->has_config_json) {
        rep.file = "config.yaml";
        snprintf(rep.problem, sizeof rep.problem,
                 "missing: a TripoSR snapshot needs it beside its weights");
    } else if (v->has_config && !v->has_weights) {
        struct ln_triposr_config *cfg = ln_xcalloc(1, sizeof *cfg);
        const int triposr = ln__path(path, sizeof path, NULL, "%s/config.yaml", v->snapshot) == 0 &&
                            ln_triposr_config_load(path, cfg, NULL) == 0;
        free(cfg);
        if (!triposr)
            return;
        rep.file = "model.ckpt";
        snprintf(rep.problem, sizeof rep.problem,
                 "missing: config.yaml is TripoSR's, and neither model.ckpt nor "
                 "model.safetensors is there");
    } else {
        return;
    }
    if (ln__path(path, sizeof path, NULL, "%s/%s", v->snapshot, rep.file) < 0)
        return;
    v->n_files++;
    v->n_bad++;
    v->report(v->user, &rep);
}

static void ln__verify_one(struct ln__verify *v, const char *file, const char *path)
{
    struct ln_hub_file_report rep = {.file = file, .path = path, .commit = v->commit, .ok = 1};
    struct ln_path_info lst, st;
    v->has_config |= strcmp(file, "config.yaml") == 0;
    v->has_weights |= strcmp(file, "model.ckpt") == 0 || strcmp(file, "model.safetensors") == 0;
    v->has_config_json |= strcmp(file, "config.json") == 0;
    char target[LN_HF_PATH_MAX] = "";
    v->n_files++;
    if (ln_path_stat(path, LN_PATH_NOFOLLOW, &lst, NULL) < 0) {
        rep.ok = 0;
        snprintf(rep.problem, sizeof rep.problem, "missing");
    } else if (lst.kind == LN_PATH_LINK) {
        char *t = NULL;
        if (ln_path_read_link(path, &t, NULL) == LN_OK)
            snprintf(target, sizeof target, "%s", t);
        free(t);
        const char *base = target;
        for (const char *c = target; *c; c++)
            if (LN_PATH_IS_SEP(*c))
                base = c + 1;
        char hex[LN_HASH_HEX_MAX];
        /* Absolute: from the root, or on Windows a drive or a share. */
        if (LN_PATH_IS_SEP(target[0]) || (target[0] && target[1] == ':')) {
            rep.ok = 0;
            snprintf(rep.problem, sizeof rep.problem,
                     "absolute link (huggingface_hub writes relative ones)");
        } else if (ln_path_stat(path, 0, &st, NULL) < 0) {
            rep.ok = 0;
            snprintf(rep.problem, sizeof rep.problem, "links to a missing blob %.80s", base);
        } else if ((rep.size = st.size), !v->hash) {
            /* layout only */
        } else if (ln__is_hex(base, 64) || ln__is_hex(base, 40)) {
            struct ln_error e = {0};
            const int rc = ln__is_hex(base, 64)
                               ? ln_hash_file(path, LN_HASH_SHA256, NULL, 0, hex, &e)
                               : ln_hash_git_blob(path, hex, &e);
            if (rc < 0) {
                rep.ok = 0;
                snprintf(rep.problem, sizeof rep.problem, "%.190s", e.message);
            } else if (strcmp(hex, base) != 0) {
                rep.ok = 0;
                snprintf(rep.problem, sizeof rep.problem,
                         "content does not match its name: %s %.16s..., blob %.16s...",
                         ln__is_hex(base, 64) ? "sha256" : "git hash", hex, base);
            }
        }
    } else if (lst.kind == LN_PATH_FILE) {
        rep.size = lst.size; /* a copy, not a link: no etag to check against */
        v->n_copies++;
    } else {
        rep.ok = 0;
        snprintf(rep.problem, sizeof rep.problem, "not a file");
    }
    v->n_bad += !rep.ok;
    v->report(v->user, &rep);
}

/* Walks a snapshot folder (files may sit in sub-folders). */
static void ln__verify_tree(struct ln__verify *v, const char *dir, const char *prefix, int depth)
{
    struct ln_dir *d;
    if (depth > 16 || ln_dir_open(&d, dir, NULL) < 0)
        return;
    struct ln_dir_entry e;
    while (ln_dir_next(d, &e, NULL) > 0) {
        char path[LN_HF_PATH_MAX], name[LN_HF_PATH_MAX];
        if (ln__path(path, sizeof path, NULL, "%s/%s", dir, e.name) < 0 ||
            ln__path(name, sizeof name, NULL, "%s%s%s", prefix, *prefix ? "/" : "", e.name) < 0)
            continue;
        if (e.kind == LN_PATH_DIR)
            ln__verify_tree(v, path, name, depth + 1);
        else
            ln__verify_one(v, name, path);
    }
    ln_dir_close(d);
}

int ln_hub_verify(const char *name, const char *revision, int hash,
                  void (*report)(void *user, const struct ln_hub_file_report *r), void *user,
                  struct ln_error *err)
{
    return ln_hub_verify_at(NULL, name, revision, hash, report, user, err);
}

int ln_hub_verify_at(const char *cache, const char *name, const char *revision, int hash,
                     void (*report)(void *user, const struct ln_hub_file_report *r), void *user,
                     struct ln_error *err)
{
    struct ln__verify v = {report, user, hash, 0, 0, NULL, NULL, 0, 0, 0, 0};
    const struct ln_rembg_model *m = ln_rembg_model(name);
    int rc;
    if (m) {
        char home[LN_HF_PATH_MAX], path[LN_HF_PATH_MAX], hex[LN_HASH_HEX_MAX];
        char expect[LN_HASH_HEX_MAX];
        enum ln_hash_kind kind;
        if ((rc = ln_rembg_home(home, sizeof home, err)) < 0 ||
            (rc = ln__path(path, sizeof path, err, "%s/%s", home, m->file)) < 0)
            return rc;
        struct ln_path_info st;
        if (ln_path_stat(path, 0, &st, NULL) < 0)
            return ln_error_set(err, LN_ENOTFOUND,
                                "%s is not in %s: `lunar-nova models pull %s` downloads it",
                                m->file, home, m->name);
        struct ln_hub_file_report rep = {.file = m->file, .path = path, .ok = 1, .size = st.size};
        if (hash && ln__rembg_expect(m, &kind, expect) == 0) {
            struct ln_error e = {0};
            if (ln_hash_file(path, kind, NULL, 0, hex, &e) < 0) {
                rep.ok = 0;
                snprintf(rep.problem, sizeof rep.problem, "%.190s", e.message);
            } else if (strcmp(hex, expect) != 0) {
                rep.ok = 0;
                snprintf(rep.problem, sizeof rep.problem,
                         "%s %.16s... is not rembg's %.16s...: pull it again",
                         kind == LN_HASH_MD5 ? "md5" : "sha256", hex, expect);
            }
        }
        report(user, &rep);
        return rep.ok ? LN_OK
                      : ln_error_set(err, LN_EFORMAT, "%s is damaged: %s", path, rep.problem);
    }
    struct ln__repo *r = ln_xcalloc(1, sizeof *r);
    char commit[LN_HUB_COMMIT_MAX], snap[LN_HF_PATH_MAX];
    if ((rc = ln__repo_open(r, name, err)) < 0 || (rc = ln__repo_root(r, cache, err)) < 0)
        goto done;
    const char *rev = revision && *revision ? revision : "main";
    if (!ln__exists(r->dir)) {
        rc = ln_error_set(err, LN_ENOTFOUND,
                          "%s is not in the Hugging Face cache %s: `lunar-nova models pull %s` "
                          "downloads it",
                          name, r->cache, name);
        goto done;
    }
    if (!ln__valid_revision(rev) || ln__cached_commit(r, rev, commit, sizeof commit) < 0) {
        rc = ln_error_set(err, LN_ENOTFOUND, "%s has no revision %s in the cache %s%s", name, rev,
                          r->cache, revision ? "" : " (refs/main is missing or malformed)");
        goto done;
    }
    if ((rc = ln__path(snap, sizeof snap, err, "%s/snapshots/%s", r->dir, commit)) < 0)
        goto done;
    if (!ln__exists(snap)) {
        rc = ln_error_set(err, LN_EFORMAT, "%s: refs/%s names %s, which has no snapshot", name, rev,
                          commit);
        goto done;
    }
    v.snapshot = snap;
    v.commit = commit;
    ln__verify_tree(&v, snap, "", 0);
    ln__verify_triposr(&v);
    if (v.n_copies == 0)
        ln__verify_unlinked(&v, r->dir);
    if (v.n_files == 0)
        rc = ln_error_set(err, LN_EFORMAT, "%s: the snapshot %s is empty", name, commit);
    else if (v.n_bad)
        rc = ln_error_set(err, LN_EFORMAT, "%s@%.12s: %d of %d files are damaged or missing", name,
                          commit, v.n_bad, v.n_files);
done:
    free(r);
    return rc;
}

int ln_hub_list_repos(const char *root,
                      void (*fn)(void *user, const char *repo_id, const char *repo_dir), void *user,
                      struct ln_error *err)
{
    char cache[LN_HF_PATH_MAX];
    int rc = root ? ln__path(cache, sizeof cache, err, "%s", root)
                  : ln_hf_cache_dir(cache, sizeof cache, err);
    if (rc < 0)
        return rc;
    struct ln_dir *d;
    if (ln_dir_open(&d, cache, NULL) < 0)
        return LN_OK;
    struct ln_dir_entry e;
    while (ln_dir_next(d, &e, NULL) > 0) {
        /* models--owner--name: the first "--" after the prefix splits. */
        if (strncmp(e.name, "models--", 8) != 0)
            continue;
        const char *rest = e.name + 8, *sep = strstr(rest, "--");
        if (!sep || strlen(e.name) > 250)
            continue;
        char id[260], dir[LN_HF_PATH_MAX];
        snprintf(id, sizeof id, "%.*s/%s", (int)(sep - rest), rest, sep + 2);
        if (!ln_hf_valid_repo(id) || ln__path(dir, sizeof dir, NULL, "%s/%s", cache, e.name) < 0)
            continue;
        fn(user, id, dir);
    }
    ln_dir_close(d);
    return LN_OK;
}
