/*
 * The web UI's static files: GET / is web/index.html, GET /<path> a file
 * under the web folder when there is one, and GET /vendor/three/<path> a
 * file of the three.js npm package (vendor folder, by default node_modules
 * beside the web folder), which the UI's viewer imports: the browser needs
 * no internet and nothing third-party is copied into web/. A path is
 * refused (404) unless
 * every segment is a plain name: no "..", no hidden names, no empty
 * segments, no backslash or percent sign (escapes are already decoded, so a
 * remaining '%' was "%00"), and only regular files are served, never a
 * folder listing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

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

enum MHD_Result ln__h_static(struct ln__req *req, const char *url)
{
    const struct ln_server_config *cfg = &req->srv->cfg;
    const char *rel = strcmp(url, "/") == 0 ? "/index.html" : url;
    char path[4096];
    int len, vendor = 0;
    if (strncmp(rel, LN__VENDOR_THREE, sizeof LN__VENDOR_THREE - 1) == 0) {
        rel += sizeof LN__VENDOR_THREE - 2; /* keep the slash: "/build/three.module.js" */
        vendor = 1;
        if (!ln__static_path_ok(rel))
            return ln__send_error(req, MHD_HTTP_NOT_FOUND, "ENOTFOUND", "no such path");
        if (cfg->vendor_dir && *cfg->vendor_dir)
            len = snprintf(path, sizeof path, "%s/three%s", cfg->vendor_dir, rel);
        else
            len = snprintf(path, sizeof path, "%s/../node_modules/three%s", req->srv->web_dir, rel);
    } else {
        if (!ln__static_path_ok(rel))
            return ln__send_error(req, MHD_HTTP_NOT_FOUND, "ENOTFOUND", "no such path");
        len = snprintf(path, sizeof path, "%s%s", req->srv->web_dir, rel);
    }
    if (len < 0 || (size_t)len >= sizeof path)
        return ln__send_error(req, MHD_HTTP_NOT_FOUND, "ENOTFOUND", "no such path");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT && errno != ENOTDIR)
            ln_log_warn("cannot open %s: %s", path, strerror(errno));
        return ln__send_error(req, MHD_HTTP_NOT_FOUND, "ENOTFOUND", "no such path");
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ln__send_error(req, MHD_HTTP_NOT_FOUND, "ENOTFOUND", "no such path");
    }
    /* The UI's own modules are fetched afresh (they must match each other
     * and index.html after an upgrade); the package's files change only with
     * the lockfile. */
    return ln__send_fd(req, fd, ln__mime_for(rel), NULL,
                       vendor ? "public, max-age=3600" : "no-cache");
}
