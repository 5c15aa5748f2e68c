/*
 * The web UI's static files: GET / is web/index.html, GET /<path> a file
 * under the web folder when there is one, and GET /vendor/three/<path> a
 * file of the three.js npm package (<vendor folder>/three/, by default
 * node_modules beside the web folder; an installed server's is
 * share/lunar-nova/vendor, copied from node_modules by the build), which the
 * UI's viewer imports: the browser needs no internet and nothing
 * third-party is copied into web/. ln_server_check_viewer_files looks for
 * the package's files the UI loads, so that the server can say at start-up
 * what is missing. A path is refused (404) unless
 * every segment is a plain name: no "..", no hidden names, no empty
 * segments, no backslash or percent sign (escapes are already decoded, so a
 * remaining '%' was "%00"), and only regular files are served, never a
 * folder listing.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ln_log.h"
#include "ln_server_int.h"

struct ln__mime {
    const char *ext;
    const char *type;
};

static const struct ln__mime ln__mimes[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"webp", "image/webp"},
    {"svg", "image/svg+xml"},
    {"ico", "image/x-icon"},
    {"wasm", "application/wasm"},
    {"glb", "model/gltf-binary"},
    {"woff2", "font/woff2"},
};

static const char *ln__mime_for(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash)) {
        for (size_t i = 0; i < sizeof ln__mimes / sizeof ln__mimes[0]; i++)
            if (strcasecmp(dot + 1, ln__mimes[i].ext) == 0)
                return ln__mimes[i].type;
    }
    return "application/octet-stream";
}

/* True when url ("/a/b.js") is a safe relative path under the web folder. */
static int ln__static_path_ok(const char *url)
{
    if (url[0] != '/' || url[1] == 0 || url[1] == '/')
        return 0;
    if (strchr(url, '\\') || strchr(url, '%'))
        return 0;
    const char *seg = url + 1;
    for (;;) {
        size_t n = strcspn(seg, "/");
        if (n == 0 || seg[0] == '.')
            return 0; /* empty segment, "..", "." or a hidden name */
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)seg[i] < 0x20)
                return 0;
        if (seg[n] == 0)
            return 1;
        seg += n + 1;
    }
}

/* The prefix of the URLs served from the three.js package. */
#define LN__VENDOR_THREE "/vendor/three/"

/* The files of the three.js package the web UI loads: web/index.html's
 * import map, web/viewer.js's imports and what those import in turn. The
 * build copies the same list (packaging/CMakeLists.txt). */
static const char *const ln__viewer_files[] = {
    "/build/three.module.js",
    "/build/three.core.js",
    "/examples/jsm/loaders/GLTFLoader.js",
    "/examples/jsm/controls/OrbitControls.js",
    "/examples/jsm/helpers/ViewHelper.js",
    "/examples/jsm/utils/BufferGeometryUtils.js",
    "/examples/jsm/utils/SkeletonUtils.js",
};

/* The file of the three.js package at rel ("/build/three.module.js"). */
static int ln__vendor_path(const struct ln_server *srv, const char *rel, char *path, size_t n)
{
    const char *vendor = srv->cfg.vendor_dir;
    if (vendor && *vendor)
        return snprintf(path, n, "%s/three%s", vendor, rel);
    return snprintf(path, n, "%s/../node_modules/three%s", srv->web_dir, rel);
}

int ln_server_check_viewer_files(const struct ln_server *srv, char *missing, size_t n)
{
    for (size_t i = 0; i < sizeof ln__viewer_files / sizeof ln__viewer_files[0]; i++) {
        char path[4096];
        int len = ln__vendor_path(srv, ln__viewer_files[i], path, sizeof path);
        struct ln_path_info info;
        if (len > 0 && (size_t)len < sizeof path && ln_path_stat(path, 0, &info, NULL) == LN_OK &&
            info.kind == LN_PATH_FILE)
            continue;
        if (n)
            snprintf(missing, n, "%s", path);
        return -1;
    }
    return 0;
}

enum MHD_Result ln__h_static(struct ln__req *req, const char *url)
{
    const char *rel = strcmp(url, "/") == 0 ? "/index.html" : url;
    char path[4096];
    int len, vendor = 0;
    if (strncmp(rel, LN__VENDOR_THREE, sizeof LN__VENDOR_THREE - 1) == 0) {
        rel += sizeof LN__VENDOR_THREE - 2; /* keep the slash: "/build/three.module.js" */
        vendor = 1;
        if (!ln__static_path_ok(rel))
            return ln__send_error(req, MHD_HTTP_NOT_FOUND, "ENOTFOUND", "no such path");
        len = ln__vendor_path(req->srv, rel, path, sizeof path);
    } else {
        if (!ln__static_path_ok(rel))
            return ln__send_error(req, MHD_HTTP_NOT_FOUND, "ENOTFOUND", "no such path");
        len = snprintf(path, sizeof path, "%s%s", req->srv->web_dir, rel);
    }
    if (len < 0 || (size_t)len >= sizeof path)
        return ln__send_error(req, MHD_HTTP_NOT_FOUND, "ENOTFOUND", "no such path");
    struct ln_file f;
    struct ln_path_info info;
    /* A folder is no path to serve, and nothing to warn about. */
    if (ln_path_stat(path, 0, &info, NULL) != LN_OK || info.kind != LN_PATH_FILE)
        return ln__send_error(req, MHD_HTTP_NOT_FOUND, "ENOTFOUND", "no such path");
    struct ln_error err = {0};
    int rc = ln_file_open(&f, path, LN_FILE_READ, &err);
    if (rc < 0) {
        if (rc != LN_ENOTFOUND)
            ln_log_warn("%s", err.message);
        return ln__send_error(req, MHD_HTTP_NOT_FOUND, "ENOTFOUND", "no such path");
    }
    /* The UI's own modules are fetched afresh (they must match each other
     * and index.html after an upgrade); the package's files change only with
     * the lockfile. */
    return ln__send_file(req, &f, ln__mime_for(rel), NULL,
                         vendor ? "public, max-age=3600" : "no-cache");
}
