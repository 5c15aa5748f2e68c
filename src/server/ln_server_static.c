/*
 * The web UI's static files: GET / is web/index.html, GET /<path> a file
 * under the web folder when there is one. A path is refused (404) unless
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

enum MHD_Result ln__h_static(struct ln__req *req, const char *url)
{
    const char *rel = strcmp(url, "/") == 0 ? "/index.html" : url;
    if (!ln__static_path_ok(rel))
        return ln__send_error(req, MHD_HTTP_NOT_FOUND, "ENOTFOUND", "no such path");
    char path[4096];
    int len = snprintf(path, sizeof path, "%s%s", req->srv->web_dir, rel);
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
    const char *mime = ln__mime_for(rel);
    int html = strncmp(mime, "text/html", 9) == 0;
    return ln__send_fd(req, fd, mime, NULL, html ? "no-cache" : "public, max-age=3600");
}
