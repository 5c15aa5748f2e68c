/*
 * POST /generate and POST /generate/multi: a multipart/form-data body is
 * streamed through libmicrohttpd's POST processor; each file part goes
 * straight into a file in a staging folder inside outputs (never whole in
 * memory) and each option field into a small bounded buffer. Only when the
 * body is complete are the images decoded to check them and the options
 * parsed, on a helper thread while the connection is suspended (a pool
 * thread serves many connections and must not wait tens of milliseconds);
 * then the job manager takes the staged files (a rename) and the job is on
 * disk before the 202 goes out.
 *
 * Limits, and what the client sees: a declared Content-Length over the
 * request limit is refused with 413 before any of the body is read. Any
 * other problem found while the body streams (a file over its limit, too
 * many fields, a field too long, an unknown field) stops the parsing; the
 * rest of the body, which the declared length bounds, is read and dropped,
 * and the error is answered after it. A chunked body has no declared
 * length: once it passes the request limit the connection is closed at
 * once, as libmicrohttpd cannot answer while a body is still arriving.
 * Whatever happens, the staging folder is removed when the request ends,
 * so a bad request never changes stored state.
 */
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ln_alloc.h"
#include "ln_background.h"
#include "ln_file.h"
#include "ln_foreground.h"
#include "ln_log.h"
#include "ln_options.h"
#include "ln_server_int.h"

#define LN__MAX_PARTS 64
#define LN__FIELD_MAX 4096
#define LN__PP_BUFFER (32 * 1024)
/* A request refused on its headers still has its body read (and dropped)
 * up to this size, so that the client, still sending, gets the answer
 * rather than a reset connection; a larger declared body is answered at
 * once and the connection closed. */
#define LN__DRAIN_MAX ((size_t)16 << 20)

struct ln__file {
    char name[LN_JOB_NAME_MAX]; /* the client's name, for display */
    char path[4096];
    struct ln_file f; /* h -1 once closed */
    uint64_t bytes;
};

struct ln__field {
    char key[24];
    struct ln_buf value;
};

struct ln__upload {
    struct ln__req *req;
    int multi;
    struct MHD_PostProcessor *pp;
    char staging[4096 - 32]; /* empty until created */
    uint64_t received;
    int declared;       /* the request has a Content-Length */
    size_t drain_limit; /* refused on its headers: the most body read, else 0 */
    int n_parts;
    int cur_file;  /* index into files of the part being received, or -1 */
    int cur_field; /* index into fields, or -1 */
    char cur_key[64];
    uint64_t cur_bytes;
    struct ln__file files[LN_MAX_VIEWS];
    int n_files;
    struct ln__field fields[LN__MAX_PARTS];
    int n_fields;
    char idempotency_key[LN_JOB_KEY_MAX];
    /* the first problem found, answered after the body */
    int failed;
    int fail_status;
    const char *fail_code;
    char fail_message[LN_ERROR_MESSAGE_MAX];
    /* the verdict of a helper thread, sent once the connection resumes */
    struct ln__pool_item item; /* in the helpers' queue */
    int decided;
    int ok_status; /* 202, or 0 when the verdict is the failure above */
    json_t *ok_body;
    char location[64];
    int replayed;
};

static void ln__fail(struct ln__upload *up, int status, const char *code, const char *fmt, ...)
    LN_PRINTF(4, 5);

static void ln__fail(struct ln__upload *up, int status, const char *code, const char *fmt, ...)
{
    if (up->failed)
        return;
    up->failed = 1;
    up->fail_status = status;
    up->fail_code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(up->fail_message, sizeof up->fail_message, fmt, ap);
    va_end(ap);
}

static void ln__fail_lnerr(struct ln__upload *up, const struct ln_error *err)
{
    int code = err->code < 0 ? err->code : LN_EINTERNAL;
    ln__fail(up, ln_status_http(code), ln_status_name(code), "%s",
             err->message[0] ? err->message : ln_status_string(code));
}

/* The client learns that its upload could not be stored, and whether the
 * disk is full, never the server's paths (the log has them). */
static void ln__fail_store(struct ln__upload *up, const struct ln_error *err)
{
    ln__fail(up, MHD_HTTP_INTERNAL_SERVER_ERROR, "EIO", "cannot store the upload: %s",
             err->code == LN_ETOOBIG ? "the server's disk is full"
                                     : "the server could not write it");
}

static void ln__close_files(struct ln__upload *up)
{
    for (int i = 0; i < up->n_files; i++) {
        ln_file_close(&up->files[i].f, NULL);
    }
}

/* Removes the staging folder and whatever is left in it (it is flat). */
static void ln__remove_staging(struct ln__upload *up)
{
    if (!up->staging[0])
        return;
    struct ln_dir *d;
    struct ln_error err = {0};
    if (ln_dir_open(&d, up->staging, NULL) == LN_OK) {
        struct ln_dir_entry e;
        char path[4096 + 256];
        while (ln_dir_next(d, &e, NULL) > 0) {
            snprintf(path, sizeof path, "%s/%s", up->staging, e.name);
            if (ln_path_remove(path, &err) != LN_OK)
                ln_log_warn("%s", err.message);
        }
        ln_dir_close(d);
    }
    int rc = ln_path_remove(up->staging, &err);
    if (rc != LN_OK && rc != LN_ENOTFOUND)
        ln_log_warn("%s", err.message);
    up->staging[0] = 0;
}

void ln__upload_free(struct ln__upload *up)
{
    if (!up)
        return;
    if (up->pp)
        MHD_destroy_post_processor(up->pp);
    ln__close_files(up);
    ln__remove_staging(up);
    for (int i = 0; i < up->n_fields; i++)
        ln_buf_free(&up->fields[i].value);
    json_decref(up->ok_body);
    free(up);
}

/* The client's file name reduced to something safe to show: the last path
 * component, no control characters, valid UTF-8 (else ASCII only). */
static void ln__display_name(char *dst, size_t n, const char *filename, int index)
{
    const char *base = filename;
    for (const char *p = filename; *p; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    size_t i = 0;
    for (; base[i] && i + 1 < n; i++) {
        unsigned char c = (unsigned char)base[i];
        dst[i] = (c < 0x20 || c == 0x7f) ? '_' : (char)c;
    }
    dst[i] = 0;
    json_t *probe = json_string(dst);
    if (!probe) { /* cut inside a multi-byte character, or not UTF-8 at all */
        for (char *p = dst; *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '_';
    }
    json_decref(probe);
    if (!dst[0])
        snprintf(dst, n, "image-%d", index + 1);
}

/* Option fields are the option table's API fields, spelt exactly (no
 * dashes); a per-view field only where there are views. */
static int ln__is_option_field(const char *key, int multi)
{
    const struct ln_option *o = ln_option_find(key);
    if (!o || strcmp(o->name, key) != 0 || (o->flags & LN_OPTION_NO_API))
        return 0;
    return multi || !(o->flags & LN_OPTION_PER_VIEW);
}

/* Starts a new part; returns 0, or -1 after recording why it is refused. */
static int ln__part_begin(struct ln__upload *up, const char *key, const char *filename)
{
    struct ln_server *srv = up->req->srv;
    up->cur_file = up->cur_field = -1;
    up->cur_bytes = 0;
    snprintf(up->cur_key, sizeof up->cur_key, "%s", key);
    if (++up->n_parts > LN__MAX_PARTS) {
        ln__fail(up, MHD_HTTP_CONTENT_TOO_LARGE, "ETOOBIG",
                 "too many form fields (at most %d)", LN__MAX_PARTS);
        return -1;
    }
    const char *file_key = up->multi ? "images" : "image";
    if (filename) {
        if (strcmp(key, file_key) != 0) {
            ln__fail(up, MHD_HTTP_BAD_REQUEST, "EINVAL",
                     "unexpected file field '%.64s': send the image%s in '%s'", key,
                     up->multi ? "s" : "", file_key);
            return -1;
        }
        int limit = up->multi ? srv->cfg.max_images : 1;
        if (up->n_files >= limit) {
            ln__fail(up, MHD_HTTP_BAD_REQUEST, "EINVAL",
                     up->multi ? "too many images (at most %d)"
                               : "one image per job here (%d); use /generate/multi for views",
                     limit);
            return -1;
        }
        struct ln__file *f = &up->files[up->n_files];
        ln__display_name(f->name, sizeof f->name, filename, up->n_files);
        snprintf(f->path, sizeof f->path, "%s/upload-%d", up->staging, up->n_files);
        struct ln_error err = {0};
        if (ln_file_open(&f->f, f->path, LN_FILE_WRITE | LN_FILE_CREATE | LN_FILE_EXCL, &err) < 0) {
            ln_log_error("%s", err.message);
            ln__fail_store(up, &err);
            return -1;
        }
        up->cur_file = up->n_files++;
        return 0;
    }
    /* "views", all views in one field, is the multi-view upload's own. */
    int known = ln__is_option_field(key, up->multi) || (up->multi && strcmp(key, "views") == 0);
    if (!known) {
        if (strcmp(key, file_key) == 0)
            ln__fail(up, MHD_HTTP_BAD_REQUEST, "EINVAL",
                     "the field '%s' must be a file upload", file_key);
        else
            ln__fail(up, MHD_HTTP_BAD_REQUEST, "EINVAL", "unknown field '%.64s'", key);
        return -1;
    }
    if (strcmp(key, "view") != 0) {
        for (int i = 0; i < up->n_fields; i++) {
            if (strcmp(up->fields[i].key, key) == 0) {
                ln__fail(up, MHD_HTTP_BAD_REQUEST, "EINVAL", "the field '%s' is given twice",
                         key);
                return -1;
            }
        }
    }
    struct ln__field *fld = &up->fields[up->n_fields];
    memset(fld, 0, sizeof *fld);
    snprintf(fld->key, sizeof fld->key, "%s", key);
    up->cur_field = up->n_fields++;
    return 0;
}

static enum MHD_Result ln__iterate(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *filename, const char *content_type,
                                   const char *transfer_encoding, const char *data, uint64_t off,
                                   size_t size)
{
    struct ln__upload *up = cls;
    struct ln_server *srv = up->req->srv;
    if (up->failed)
        return MHD_NO;
    if (!key)
        key = "";
    /* A part starts at offset 0; a part announced empty first and then
     * filled also starts there, so a part with no bytes yet continues. */
    int same = (up->cur_file >= 0 || up->cur_field >= 0) && strcmp(key, up->cur_key) == 0 &&
               ((filename != NULL) == (up->cur_file >= 0));
    if (off == 0 && !(same && up->cur_bytes == 0)) {
        if (ln__part_begin(up, key, filename) < 0)
            return MHD_NO;
    }
    up->cur_bytes += size;
    if (size == 0)
        return MHD_YES;
    if (up->cur_file >= 0) {
        struct ln__file *f = &up->files[up->cur_file];
        if (f->bytes + size > srv->cfg.max_file_bytes) {
            ln__fail(up, MHD_HTTP_CONTENT_TOO_LARGE, "ETOOBIG",
                     "image %d (%s) is larger than the limit of %zu bytes per file",
                     up->cur_file + 1, f->name, srv->cfg.max_file_bytes);
            return MHD_NO;
        }
        struct ln_error err = {0};
        if (ln_file_write_all(&f->f, data, size, &err) < 0) {
            ln_log_error("cannot write %s: %s", f->path, err.message);
            ln__fail_store(up, &err);
            return MHD_NO;
        }
        f->bytes += size;
        return MHD_YES;
    }
    struct ln__field *fld = &up->fields[up->cur_field];
    if (fld->value.len + size > LN__FIELD_MAX) {
        ln__fail(up, MHD_HTTP_CONTENT_TOO_LARGE, "ETOOBIG",
                 "the field '%s' is longer than %d bytes", fld->key, LN__FIELD_MAX);
        return MHD_NO;
    }
    ln_buf_append(&fld->value, data, size);
    return fld->value.failed ? MHD_NO : MHD_YES;
}

/* The staging folder goes before the answer does, so that a client who
 * reads the answer never sees a leftover. */
static enum MHD_Result ln__answer_failure(struct ln__req *req)
{
    struct ln__upload *up = req->upload;
    ln__close_files(up);
    ln__remove_staging(up);
    return ln__send_error(req, up->fail_status, up->fail_code, "%s", up->fail_message);
}

static struct ln__upload *ln__upload_new(struct ln__req *req)
{
    struct ln__upload *up = ln_xcalloc(1, sizeof *up);
    up->req = req;
    up->cur_file = up->cur_field = -1;
    req->upload = up;
    return up;
}

enum MHD_Result ln__upload_refuse(struct ln__req *req, int status, const char *code,
                                  const char *message)
{
    struct ln_server *srv = req->srv;
    const char *clen = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_CONTENT_LENGTH);
    size_t drain = srv->cfg.max_request_bytes < LN__DRAIN_MAX ? srv->cfg.max_request_bytes
                                                               : LN__DRAIN_MAX;
    if (clen && strtoull(clen, NULL, 10) > drain)
        return ln__send_error(req, status, code, "%s", message);
    struct ln__upload *up = req->upload ? req->upload : ln__upload_new(req);
    up->drain_limit = drain;
    ln__fail(up, status, code, "%s", message);
    return MHD_YES;
}

enum MHD_Result ln__upload_begin(struct ln__req *req, int multi)
{
    struct ln_server *srv = req->srv;
    struct MHD_Connection *conn = req->conn;
    const char *clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (clen) {
        unsigned long long n = strtoull(clen, NULL, 10);
        if (n > srv->cfg.max_request_bytes)
            return ln__send_error(req, MHD_HTTP_CONTENT_TOO_LARGE, "ETOOBIG",
                                  "the request body is %llu bytes; the limit is %zu", n,
                                  srv->cfg.max_request_bytes);
    }
    char msg[LN_ERROR_MESSAGE_MAX];
    const char *ctype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_CONTENT_TYPE);
    size_t mlen = strlen("multipart/form-data");
    if (!ctype || strncasecmp(ctype, "multipart/form-data", mlen) != 0 ||
        (ctype[mlen] && ctype[mlen] != ';' && ctype[mlen] != ' ')) {
        snprintf(msg, sizeof msg, "the body must be multipart/form-data (got '%.64s')",
                 ctype ? ctype : "no Content-Type");
        return ln__upload_refuse(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "EFORMAT", msg);
    }
    const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Idempotency-Key");
    if (key && *key) {
        size_t n = strlen(key);
        if (n >= LN_JOB_KEY_MAX) {
            snprintf(msg, sizeof msg, "the Idempotency-Key is longer than %d characters",
                     LN_JOB_KEY_MAX - 1);
            return ln__upload_refuse(req, MHD_HTTP_BAD_REQUEST, "EINVAL", msg);
        }
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)key[i] < 0x20 || (unsigned char)key[i] > 0x7e)
                return ln__upload_refuse(req, MHD_HTTP_BAD_REQUEST, "EINVAL",
                                         "the Idempotency-Key must be printable ASCII");
    }

    struct ln__upload *up = ln__upload_new(req);
    up->multi = multi;
    up->declared = clen != NULL;
    if (key)
        snprintf(up->idempotency_key, sizeof up->idempotency_key, "%s", key);
    struct ln_error err = {0};
    if (ln_jobs_staging_dir(ln__server_jobs(srv), up->staging, sizeof up->staging, &err) < 0) {
        up->staging[0] = 0;
        ln_log_error("cannot create a staging folder: %s", err.message);
        int code = err.code < 0 ? err.code : LN_EINTERNAL;
        return ln__upload_refuse(req, ln_status_http(code), ln_status_name(code), err.message);
    }
    up->pp = MHD_create_post_processor(conn, LN__PP_BUFFER, ln__iterate, up);
    if (!up->pp) {
        ln__remove_staging(up);
        return ln__upload_refuse(req, MHD_HTTP_BAD_REQUEST, "EINVAL",
                                 "the multipart/form-data Content-Type has no boundary");
    }
    return MHD_YES;
}

enum MHD_Result ln__upload_data(struct ln__req *req, const char *data, size_t size)
{
    struct ln__upload *up = req->upload;
    struct ln_server *srv = req->srv;
    up->received += size;
    size_t limit = up->drain_limit ? up->drain_limit : srv->cfg.max_request_bytes;
    if (up->received > limit) {
        /* Only a body without a declared length gets here (a declared one
         * was checked against the limit): no answer is possible mid-body,
         * so the connection is closed. */
        ln_log_warn("%s %s: body passed %zu bytes without a Content-Length; closing the "
                    "connection",
                    req->method, req->path, limit);
        req->status = MHD_HTTP_CONTENT_TOO_LARGE;
        return MHD_NO;
    }
    if (up->failed)
        return MHD_YES; /* drop the rest of a refused body */
    if (MHD_post_process(up->pp, data, size) != MHD_YES)
        ln__fail(up, MHD_HTTP_BAD_REQUEST, "EINVAL", "the multipart/form-data body is malformed");
    if (up->failed)
        ln__close_files(up);
    return MHD_YES;
}

/* ---- options, through the parser `lunar-nova generate` uses too ---------- */

/* Applies one option field; returns 0 or -1 after recording a 400 that
 * names the field. */
static int ln__apply_option(struct ln__upload *up, const char *key, const char *val,
                            struct ln_generate_options *opt)
{
    struct ln_error err = {0};
    if (ln_generate_option_set(opt, key, val, &err) == 0)
        return 0;
    /* The message starts with the name as given: "<key> wants ...". */
    const char *rest = err.message;
    if (strncmp(rest, key, strlen(key)) == 0)
        rest += strlen(key) + (rest[strlen(key)] == ' ');
    ln__fail(up, MHD_HTTP_BAD_REQUEST, "EINVAL", "the field '%s' %s", key, rest);
    return -1;
}

/* Option fields and views into the request; -1 after recording a 400. */
static int ln__parse_fields(struct ln__upload *up, struct ln_job_request *jr)
{
    int n_views = 0, has_views_field = 0;
    for (int i = 0; i < up->n_fields; i++) {
        struct ln__field *fld = &up->fields[i];
        ln_buf_append(&fld->value, "", 1); /* NUL-terminate */
        if (fld->value.failed) {
            ln__fail(up, MHD_HTTP_INTERNAL_SERVER_ERROR, "ENOMEM", "out of memory");
            return -1;
        }
        const char *val = (const char *)fld->value.data;
        if (strlen(val) + 1 != fld->value.len) {
            ln__fail(up, MHD_HTTP_BAD_REQUEST, "EINVAL", "the field '%s' contains a NUL byte",
                     fld->key);
            return -1;
        }
        if (strcmp(fld->key, "view") == 0) {
            if (n_views == LN_MAX_VIEWS || ln_view_parse(val, &jr->views[n_views]) < 0) {
                ln__fail(up, MHD_HTTP_BAD_REQUEST, "EINVAL",
                         n_views == LN_MAX_VIEWS
                             ? "the field 'view' is given more than %d times"
                             : "the field 'view' wants AZ,EL in degrees with -90 <= EL <= 90 "
                               "(view %d)",
                         n_views == LN_MAX_VIEWS ? LN_MAX_VIEWS : n_views + 1);
                return -1;
            }
            n_views++;
        } else if (strcmp(fld->key, "views") == 0) {
            has_views_field = 1;
            char buf[LN__FIELD_MAX + 1];
            snprintf(buf, sizeof buf, "%s", val);
            char *save = NULL;
            for (char *tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
                while (*tok == ' ')
                    tok++;
                if (n_views == LN_MAX_VIEWS || ln_view_parse(tok, &jr->views[n_views]) < 0) {
                    ln__fail(up, MHD_HTTP_BAD_REQUEST, "EINVAL",
                             "the field 'views' wants AZ,EL;AZ,EL;… with -90 <= EL <= 90, "
                             "one per image (got '%.64s')",
                             val);
                    return -1;
                }
                n_views++;
            }
        } else if (strcmp(fld->key, "engine") == 0) {
            jr->engine = val; /* lives as long as up; checked below */
        } else if (ln__apply_option(up, fld->key, val, &jr->options) < 0) {
            return -1;
        }
    }
    /* Named or not, the engine must take this many images; the job records
     * the one chosen, so the worker runs what the client was promised. */
    struct ln_error err = {0};
    struct ln_engine_set engines;
    ln_jobs_engines(ln__server_jobs(up->req->srv), &engines);
    const struct ln_engine *eng = ln_engine_set_pick(&engines, jr->engine,
                                                     (size_t)up->n_files, &err);
    if (!eng) {
        ln__fail(up, MHD_HTTP_BAD_REQUEST, "EINVAL", "the field 'engine': %s", err.message);
        return -1;
    }
    jr->engine = ln_engine_name(eng);
    if (has_views_field) {
        for (int i = 0; i < up->n_fields; i++) {
            if (strcmp(up->fields[i].key, "view") == 0) {
                ln__fail(up, MHD_HTTP_BAD_REQUEST, "EINVAL",
                         "give either 'view' fields or one 'views' field, not both");
                return -1;
            }
        }
    }
    if (!up->multi)
        return 0;
    if (n_views > 0 && n_views != up->n_files) {
        ln__fail(up, MHD_HTTP_BAD_REQUEST, "EINVAL",
                 "%d views for %d images: give one view per image, in image order", n_views,
                 up->n_files);
        return -1;
    }
    /* Without views, N images are taken as azimuths 0, 360/N, … at
     * elevation 0 (docs/ARCHITECTURE.md §5); the job records them explicitly. */
    if (n_views == 0) {
        for (int i = 0; i < up->n_files; i++) {
            jr->views[i].azimuth = (float)(360.0 * i / up->n_files);
            jr->views[i].elevation = 0.0f;
        }
    }
    jr->has_views = 1;
    return 0;
}

static const char *ln__image_mime(enum ln_image_format fmt)
{
    switch (fmt) {
    case LN_IMAGE_FORMAT_PNG:
        return "image/png";
    case LN_IMAGE_FORMAT_JPEG:
        return "image/jpeg";
    case LN_IMAGE_FORMAT_WEBP:
        return "image/webp";
    default:
        return "application/octet-stream";
    }
}

/* Decodes one staged file to check it: 415 undecodable, 413 over the pixel
 * limits, 422 too small or (when the background is to be removed without a
 * network) no object to separate. A matting network is not run here: it
 * takes seconds, so its verdict comes with the job. Fills the input record
 * on success. */
static int ln__check_image(struct ln__upload *up, int index, int remove_bg,
                           struct ln_job_input *in)
{
    struct ln_server *srv = up->req->srv;
    struct ln__file *f = &up->files[index];
    struct ln_error err = {0};
    uint8_t *data = NULL;
    size_t len = 0;
    struct ln_image img = {0}, cut = {0};
    int rc = ln_file_read(f->path, srv->cfg.max_file_bytes, &data, &len, &err);
    if (rc < 0)
        goto fail;
    enum ln_image_format fmt = ln_image_sniff(data, len);
    rc = ln_image_decode(data, len, &srv->cfg.image_limits, &img, &err);
    if (rc < 0)
        goto fail;
    if (img.width < 8 || img.height < 8) {
        rc = ln_error_set(&err, LN_EUNUSABLE, "too small (%dx%d pixels, at least 8x8)",
                          img.width, img.height);
        goto fail;
    }
    char model[64];
    if (remove_bg == LN_REMOVE_BG_MODEL && !ln_background_model(model, sizeof model)) {
        rc = ln_error_set(&err, LN_EINVAL,
                          "remove_bg=model, but this server has no background model (its "
                          "operator can run `lunar-nova models pull u2net`)");
        goto fail;
    }
    int classic = remove_bg != LN_REMOVE_BG_OFF && !ln_background_uses_model(&img, remove_bg);
    if (classic && (rc = ln_foreground_extract(&img, NULL, &cut, NULL, &err)) < 0)
        goto fail;
    snprintf(in->name, sizeof in->name, "%s", f->name);
    snprintf(in->content_type, sizeof in->content_type, "%s", ln__image_mime(fmt));
    in->bytes = f->bytes;
    rc = 0;
    goto done;
fail:
    ln_error_prefix(&err, "image %d (%s)", index + 1, f->name);
    ln__fail_lnerr(up, &err);
done:
    ln_image_free(&cut);
    ln_image_free(&img);
    free(data);
    return rc;
}

/* Everything after the body, on a helper thread while the connection is
 * suspended: completes the parsing, flushes the inputs, checks the images
 * and options and submits the job. Leaves the verdict in up (a failure
 * recorded by ln__fail, or the 202) and the staging folder removed. */
static void ln__upload_decide(struct ln__upload *up)
{
    struct ln_server *srv = up->req->srv;
    if (!up->failed) {
        enum MHD_Result ok = MHD_destroy_post_processor(up->pp);
        up->pp = NULL;
        if (ok != MHD_YES)
            ln__fail(up, MHD_HTTP_BAD_REQUEST, "EINVAL",
                     "the multipart/form-data body is incomplete or malformed");
    }
    /* The inputs become part of a durable job: flush them first. */
    for (int i = 0; i < up->n_files && !up->failed; i++) {
        struct ln_error err = {0};
        if (up->files[i].f.h != -1 && ln_file_sync(&up->files[i].f, &err) != LN_OK) {
            ln_log_error("cannot write %s: %s", up->files[i].path, err.message);
            ln__fail_store(up, &err);
        }
    }
    ln__close_files(up);
    if (up->failed)
        goto out;

    const char *file_key = up->multi ? "images" : "image";
    if (!up->multi && up->n_files != 1) {
        ln__fail(up, MHD_HTTP_BAD_REQUEST, "EINVAL",
                 "no image: send one image file in the field 'image'");
        goto out;
    }
    if (up->multi && (up->n_files < 2 || up->n_files > srv->cfg.max_images)) {
        ln__fail(up, MHD_HTTP_BAD_REQUEST, "EINVAL",
                 "%d image%s: send 2 to %d image files in the field '%s'", up->n_files,
                 up->n_files == 1 ? "" : "s", srv->cfg.max_images, file_key);
        goto out;
    }
    for (int i = 0; i < up->n_files; i++) {
        if (up->files[i].bytes == 0) {
            ln__fail(up, MHD_HTTP_BAD_REQUEST, "EINVAL", "image %d (%s) is empty (0 bytes)",
                     i + 1, up->files[i].name);
            goto out;
        }
    }

    struct ln_job_request *jr = ln_xcalloc(1, sizeof *jr);
    struct ln_job *job = ln_xcalloc(1, sizeof *job);
    ln_generate_options_default(&jr->options);
    if (ln__parse_fields(up, jr) < 0)
        goto done;
    for (int i = 0; i < up->n_files; i++) {
        if (ln__check_image(up, i, jr->options.remove_bg, &jr->inputs[i]) < 0)
            goto done;
        jr->staged_paths[i] = up->files[i].path;
    }
    jr->n_inputs = up->n_files;
    jr->idempotency_key = up->idempotency_key[0] ? up->idempotency_key : NULL;

    struct ln_error err = {0};
    int existed = 0;
    if (ln_jobs_submit(ln__server_jobs(srv), jr, job, &existed, &err) < 0) {
        if (err.code != LN_EBUSY)
            ln_log_error("cannot queue a job: %s", err.message);
        ln__fail_lnerr(up, &err);
        goto done;
    }
    up->ok_status = MHD_HTTP_ACCEPTED;
    up->ok_body = ln_job_to_json(job);
    snprintf(up->location, sizeof up->location, "/jobs/%s", job->id);
    up->replayed = existed;
done:
    free(job);
    free(jr);
out:
    /* Empty after a submit; the staged files otherwise. It goes before the
     * answer does, so that a client who reads the answer never sees a
     * leftover. */
    ln__remove_staging(up);
    up->decided = 1;
}

static enum MHD_Result ln__upload_answer(struct ln__req *req)
{
    struct ln__upload *up = req->upload;
    if (!up->ok_status)
        return ln__answer_failure(req);
    struct MHD_Response *resp = ln__json_response(up->ok_body);
    up->ok_body = NULL; /* stolen */
    if (resp) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, up->location);
        if (up->replayed)
            MHD_add_response_header(resp, "Idempotent-Replayed", "true");
    }
    return ln__send(req, up->ok_status, resp);
}

enum MHD_Result ln__upload_finish(struct ln__req *req)
{
    struct ln__upload *up = req->upload;
    struct ln_server *srv = req->srv;
    if (up->decided)
        return ln__upload_answer(req);
    if (up->failed) /* refused while the body arrived: nothing to check */
        return ln__answer_failure(req);
    /* Decoding the images and the fsyncs take tens of milliseconds: not on
     * a pool thread, where they would hold up every other connection of
     * that thread. The connection stays suspended (and req valid) until
     * the helper has decided. */
    up->item = (struct ln__pool_item){.req = req, .work = up};
    if (ln__pool_submit(&srv->up_pool, &up->item) < 0) {
        /* Bounded, so a flood of uploads queues neither memory nor staged
         * files without end: the client tries again (Retry-After), and
         * the staged files go with the answer. */
        ln__fail(up, MHD_HTTP_SERVICE_UNAVAILABLE, "EBUSY",
                 "the server is checking %d other uploads: try again in a few seconds",
                 LN__UPLOAD_QUEUE_MAX);
        return ln__answer_failure(req);
    }
    return MHD_YES;
}

static void ln__upload_run(void *work)
{
    ln__upload_decide(work);
}

int ln__uploads_init(struct ln_server *srv)
{
    return ln__pool_init(&srv->up_pool, LN__UPLOAD_HELPERS, LN__UPLOAD_QUEUE_MAX,
                         ln__upload_run);
}

void ln__uploads_join(struct ln_server *srv)
{
    ln__pool_join(&srv->up_pool);
}

void ln__uploads_destroy(struct ln_server *srv)
{
    ln__pool_destroy(&srv->up_pool);
}
