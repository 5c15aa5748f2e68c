/*
 * The server's boundary toward web pages: which Host names it answers to,
 * which browser pages may change anything, and the security headers of
 * every response.
 *
 * DESIGN: a loopback server without a token is reachable by every web page
 * the user opens. Two attacks are closed here:
 *   - DNS rebinding: a page of evil.example whose name then resolves to
 *     127.0.0.1 is same-origin with the server and could read /jobs or
 *     delete jobs. Its requests carry `Host: evil.example[:port]`, so a
 *     request is answered only when its Host is one of the names the
 *     server is reached by: the listen address, localhost, 127.0.0.1 and
 *     [::1], each with the server's port (without a port only when the
 *     server listens on 80, the one case where browsers leave it out), and
 *     every --public-host NAME (NAME[:PORT]; NAME without a port matches
 *     Host NAME, what browsers send for the default port of a proxy, and
 *     NAME:<the server's port>). Anything else is 421 Misdirected Request;
 *     an HTTP/1.1 request without Host is 400.
 *   - Cross-site requests: any page can POST a multipart form (no
 *     preflight) to http://127.0.0.1:8000/generate. A request that can
 *     change something (every method but GET and HEAD) is refused with 403
 *     when the browser says it comes from elsewhere: an Origin that is not
 *     one of the server's own origins (http:// or https:// followed by an
 *     allowed Host; "null" never is) nor an --allow-origin, or
 *     Sec-Fetch-Site cross-site or same-site (another port of the same
 *     host is another site's page too), unless its Origin is listed with
 *     --allow-origin. Clients that send neither header (curl, scripts)
 *     are not browsers acting for a page and are let through.
 * The Content-Security-Policy allows the UI's own files and, for the inline
 * import map of index.html (import maps cannot be external), its SHA-256
 * hash, computed here at start-up from the file served, so that editing
 * index.html cannot silently break the page.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ln_alloc.h"
#include "ln_file.h"
#include "ln_log.h"
#include "ln_server_int.h"

/* ---- SHA-256 (FIPS 180-4) and base64, for the CSP hashes ----------------- */

static const uint32_t ln__k256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
};

#define LN__ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void ln__sha256_block(uint32_t h[8], const unsigned char *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = LN__ROR(w[i - 15], 7) ^ LN__ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = LN__ROR(w[i - 2], 17) ^ LN__ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = k + (LN__ROR(e, 6) ^ LN__ROR(e, 11) ^ LN__ROR(e, 25)) +
                      ((e & f) ^ (~e & g)) + ln__k256[i] + w[i];
        uint32_t t2 = (LN__ROR(a, 2) ^ LN__ROR(a, 13) ^ LN__ROR(a, 22)) +
                      ((a & b) ^ (a & c) ^ (b & c));
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += k;
}

static void ln__sha256(const void *data, size_t n, unsigned char out[32])
{
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    const unsigned char *p = data;
    size_t left = n;
    for (; left >= 64; left -= 64, p += 64)
        ln__sha256_block(h, p);
    unsigned char tail[128] = {0};
    memcpy(tail, p, left);
    tail[left] = 0x80;
    size_t tn = left + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)n * 8;
    for (int i = 0; i < 8; i++)
        tail[tn - 1 - i] = (unsigned char)(bits >> (8 * i));
    ln__sha256_block(h, tail);
    if (tn == 128)
        ln__sha256_block(h, tail + 64);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(h[i] >> 8);
        out[4 * i + 3] = (unsigned char)h[i];
    }
}

/* out needs 4 * ((n + 2) / 3) + 1 bytes. */
static void ln__base64(const unsigned char *in, size_t n, char *out)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = 0;
}

/* ---- the Content-Security-Policy ------------------------------------------ */

/* connect-src allows blob: because three.js's GLTFLoader fetches a GLB's
 * embedded texture image through a blob: URL it makes itself (a
 * same-document object, never a network address). */
#define LN__CSP_HEAD "default-src 'self'; script-src 'self'"
#define LN__CSP_TAIL                                                                          \
    "; style-src 'self'; img-src 'self' data: blob:; connect-src 'self' blob:; object-src "  \
    "'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
/* Inline scripts of index.html whose hashes the policy lists, at most. */
#define LN__CSP_MAX_HASHES 8

/* Reads the whole file (NUL-terminated) or returns NULL. */
static char *ln__read_small_file(const char *path, size_t max, size_t *len)
{
    uint8_t *data = NULL;
    if (ln_file_read(path, max, &data, len, NULL) < 0)
        return NULL;
    return (char *)data;
}

/* The policy for the UI in web_dir: the hash of every inline <script> (one
 * without a src attribute) of index.html, as the browser hashes it: the
 * exact text between the tag's '>' and "</script>". */
static char *ln__csp_build(const char *web_dir)
{
    char path[4096];
    char hashes[LN__CSP_MAX_HASHES * 60] = "";
    int n_hashes = 0;
    size_t len = 0;
    int w = snprintf(path, sizeof path, "%s/index.html", web_dir);
    char *html = w > 0 && (size_t)w < sizeof path ? ln__read_small_file(path, 1 << 20, &len)
                                                  : NULL;
    for (const char *p = html; p && (p = strstr(p, "<script")) != NULL;) {
        const char *gt = strchr(p, '>');
        if (!gt)
            break;
        const char *end = strstr(gt + 1, "</script>");
        if (!end)
            break;
        int has_src = 0;
        for (const char *a = p + 7; a + 4 <= gt; a++)
            if ((a[-1] == ' ' || a[-1] == '\t' || a[-1] == '\n') && strncasecmp(a, "src=", 4) == 0)
                has_src = 1;
        if (!has_src && end > gt + 1) {
            if (n_hashes == LN__CSP_MAX_HASHES) {
                ln_log_warn("web UI: %s has more than %d inline scripts; the page's policy "
                            "allows the first %d", path, LN__CSP_MAX_HASHES, LN__CSP_MAX_HASHES);
                break;
            }
            unsigned char digest[32];
            char b64[48];
            ln__sha256(gt + 1, (size_t)(end - (gt + 1)), digest);
            ln__base64(digest, sizeof digest, b64);
            size_t hl = strlen(hashes);
            snprintf(hashes + hl, sizeof hashes - hl, " 'sha256-%s'", b64);
            n_hashes++;
        }
        p = end + 9;
    }
    free(html);
    size_t n = sizeof LN__CSP_HEAD + strlen(hashes) + sizeof LN__CSP_TAIL;
    char *csp = ln_xmalloc(n);
    snprintf(csp, n, "%s%s%s", LN__CSP_HEAD, hashes, LN__CSP_TAIL);
    return csp;
}

/* ---- allowed Host names --------------------------------------------------- */

static void ln__hosts_add(struct ln_server *srv, const char *fmt, const char *name, int port)
{
    if (srv->n_hosts == LN__MAX_HOSTS)
        return;
    char buf[300];
    snprintf(buf, sizeof buf, fmt, name, port);
    for (int i = 0; i < srv->n_hosts; i++)
        if (strcasecmp(srv->hosts[i], buf) == 0)
            return;
    srv->hosts[srv->n_hosts++] = ln_xstrdup(buf);
}

/* True when name ends with ":digits" after any IPv6 literal. */
static int ln__has_port(const char *name)
{
    const char *colon = strrchr(name, ':');
    const char *bracket = strrchr(name, ']');
    if (!colon || (bracket && colon < bracket) || !colon[1])
        return 0;
    if (!bracket && strchr(name, ':') != colon)
        return 0; /* a bare IPv6 address */
    for (const char *p = colon + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return 1;
}

void ln__guard_init(struct ln_server *srv, int port)
{
    const char *bases[4] = {srv->host, "localhost", "127.0.0.1", "[::1]"};
    char listen[300];
    if (strchr(srv->host, ':') && srv->host[0] != '[') {
        snprintf(listen, sizeof listen, "[%s]", srv->host);
        bases[0] = listen;
    }
    for (int i = 0; i < 4; i++) {
        ln__hosts_add(srv, "%s:%d", bases[i], port);
        if (port == 80)
            ln__hosts_add(srv, "%s", bases[i], port);
    }
    for (int i = 0; i < srv->cfg.n_public_hosts; i++) {
        const char *name = srv->cfg.public_hosts[i];
        if (!name || !*name)
            continue;
        ln__hosts_add(srv, "%s", name, port);
        if (!ln__has_port(name))
            ln__hosts_add(srv, "%s:%d", name, port);
    }
    srv->n_origins = 0;
    for (int i = 0; i < srv->cfg.n_allow_origins && srv->n_origins < LN__MAX_HOSTS; i++) {
        const char *o = srv->cfg.allow_origins[i];
        if (!o || !*o)
            continue;
        char *copy = ln_xstrdup(o);
        size_t n = strlen(copy);
        while (n > 0 && copy[n - 1] == '/')
            copy[--n] = 0;
        srv->origins[srv->n_origins++] = copy;
    }
    srv->csp = ln__csp_build(srv->web_dir);
    /* The operator sees which names and pages the server accepts. */
    char names[1024] = "";
    for (int i = 0; i < srv->n_hosts; i++) {
        size_t n = strlen(names);
        snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "", srv->hosts[i]);
    }
    ln_log_info("answering Host %s; pages of other origins may not send POST or DELETE%s",
                names, srv->n_origins ? " except those of --allow-origin" : "");
}

void ln__guard_free(struct ln_server *srv)
{
    for (int i = 0; i < srv->n_hosts; i++)
        free(srv->hosts[i]);
    for (int i = 0; i < srv->n_origins; i++)
        free(srv->origins[i]);
    srv->n_hosts = srv->n_origins = 0;
    free(srv->csp);
    srv->csp = NULL;
}

static int ln__host_allowed(const struct ln_server *srv, const char *host)
{
    for (int i = 0; i < srv->n_hosts; i++)
        if (strcasecmp(srv->hosts[i], host) == 0)
            return 1;
    return 0;
}

static int ln__origin_allowed(const struct ln_server *srv, const char *origin, int listed_only)
{
    for (int i = 0; i < srv->n_origins; i++)
        if (strcasecmp(srv->origins[i], origin) == 0)
            return 1;
    if (listed_only)
        return 0;
    const char *authority = NULL;
    if (strncasecmp(origin, "http://", 7) == 0)
        authority = origin + 7;
    else if (strncasecmp(origin, "https://", 8) == 0)
        authority = origin + 8;
    return authority && ln__host_allowed(srv, authority);
}

int ln__guard_check(struct ln__req *req, const char *method, const char *version,
                    const char **code, const char **message)
{
    struct ln_server *srv = req->srv;
    struct MHD_Connection *conn = req->conn;
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (!host) {
        if (version && strcmp(version, MHD_HTTP_VERSION_1_0) == 0)
            goto origin; /* HTTP/1.0 had no Host: no browser sends such a request */
        *code = "EINVAL";
        *message = "the request has no Host header";
        return MHD_HTTP_BAD_REQUEST;
    }
    if (!ln__host_allowed(srv, host)) {
        *code = "EHOST";
        *message = "this server does not answer to that Host name (a server behind a proxy "
                   "or reached by name needs --public-host NAME)";
        return MHD_HTTP_MISDIRECTED_REQUEST;
    }
origin:
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
        return 0;
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    const char *site = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
    int foreign_site =
        site && (strcasecmp(site, "cross-site") == 0 || strcasecmp(site, "same-site") == 0);
    int refused = 0;
    if (origin)
        refused = !ln__origin_allowed(srv, origin, foreign_site);
    else
        refused = foreign_site;
    if (refused) {
        *code = "EORIGIN";
        *message = "a request from another site's page is refused (a page served elsewhere "
                   "that should reach this server needs --allow-origin ORIGIN)";
        return MHD_HTTP_FORBIDDEN;
    }
    return 0;
}

void ln__guard_headers(const struct ln_server *srv, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
    /* No other site's page may embed an answer (a user's photo as an
     * <img>, a model as a <script>): only fetch with the server's consent. */
    MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    if (srv->csp)
        MHD_add_response_header(resp, "Content-Security-Policy", srv->csp);
}
