/*
 * Wavefront OBJ with per-vertex colour ("v x y z r g b", sRGB, the
 * extension MeshLab and most tools read) and vertex normals. Six decimals
 * keep a unit-sized mesh to a micrometre while staying readable.
 *
 * The reader works line by line on a NUL-terminated copy of the text. OBJ
 * vertices become mesh vertices one for one, so indices survive a round
 * trip; a face corner's normal is attached to its vertex. Negative indices
 * count back from the last element defined so far; polygons are fanned.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_export.h"
#include "ln_export_int.h"

int ln__obj_encode(const struct ln_mesh *m, struct ln_buf *out, struct ln_error *err)
{
    ln_buf_printf(out, "# Lunar Nova %s\n# %zu vertices, %zu faces%s\n", LN_VERSION_STRING,
                  m->n_vertices, m->n_faces, m->colors ? "; vertex colours are sRGB" : "");
    for (size_t i = 0; i < m->n_vertices; i++) {
        const float *p = m->positions + 3 * i;
        if (m->colors) {
            const float *c = m->colors + 3 * i;
            ln_buf_printf(out, "v %.6f %.6f %.6f %.6f %.6f %.6f\n", p[0], p[1], p[2],
                          ln__clamp01(c[0]), ln__clamp01(c[1]), ln__clamp01(c[2]));
        } else {
            ln_buf_printf(out, "v %.6f %.6f %.6f\n", p[0], p[1], p[2]);
        }
    }
    for (size_t i = 0; i < m->n_vertices; i++) {
        float n[3];
        ln__unit3(m->normals + 3 * i, n);
        ln_buf_printf(out, "vn %.6f %.6f %.6f\n", n[0], n[1], n[2]);
    }
    for (size_t f = 0; f < m->n_faces; f++) {
        const uint32_t *t = m->indices + 3 * f;
        unsigned long a = t[0] + 1UL, b = t[1] + 1UL, c = t[2] + 1UL;
        ln_buf_printf(out, "f %lu//%lu %lu//%lu %lu//%lu\n", a, a, b, b, c, c);
    }
    return LN_OK;
}

#define LN__OBJ_NONE UINT32_MAX

/* One face corner after index resolution (0-based). */
struct ln__obj_corner {
    uint32_t v, n;
};

/* Parses one index at *s: 1-based, or negative counting back from count.
 * Returns 0 with a 0-based index, or -1. Positive indices are checked
 * against the final count later (a file may use them before defining). */
static int ln__obj_index(char **s, size_t count, uint32_t *out)
{
    char *e;
    long long x = strtoll(*s, &e, 10);
    if (e == *s)
        return -1;
    *s = e;
    if (x > 0 && x <= (long long)UINT32_MAX - 1) {
        *out = (uint32_t)(x - 1);
        return 0;
    }
    if (x < 0 && x >= -(long long)count) {
        *out = (uint32_t)((long long)count + x);
        return 0;
    }
    return -1;
}

/* "v", "v/t", "v//n" or "v/t/n". */
static int ln__obj_corner(char **s, size_t n_v, size_t n_vt, size_t n_vn, struct ln__obj_corner *c,
                          uint32_t *t)
{
    char *p = *s;
    c->n = LN__OBJ_NONE;
    *t = LN__OBJ_NONE;
    if (ln__obj_index(&p, n_v, &c->v) < 0)
        return -1;
    if (*p == '/') {
        p++;
        if (*p != '/' && ln__obj_index(&p, n_vt, t) < 0)
            return -1;
        if (*p == '/') {
            p++;
            if (ln__obj_index(&p, n_vn, &c->n) < 0)
                return -1;
        }
    }
    if (*p && !ln__is_space(*p))
        return -1;
    *s = p;
    return 0;
}

/* A keyword this reader does not use: grouping, materials, curves. Lines
 * that start with anything else than letters are malformed. */
static int ln__obj_is_keyword(const char *kw, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = kw[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'))
            return 0;
    }
    return 1;
}

static int ln__obj_kw(const char *kw, size_t n, const char *name)
{
    return strlen(name) == n && memcmp(kw, name, n) == 0;
}

int ln__obj_decode(const uint8_t *data, size_t len, struct ln_mesh *out, struct ln_error *err)
{
    char *text = NULL;
    struct ln_buf pos = {0}, col = {0}, nrm = {0}, corners = {0};
    size_t n_v = 0, n_vt = 0, n_vn = 0, n_colored = 0, line = 0;
    int rc = ln__text_copy(data, len, "OBJ", &text, err);
    if (rc < 0)
        goto cleanup;

    char *next;
    for (char *s = text; *s; s = next) {
        line++;
        char *eol = strchr(s, '\n');
        if (eol) {
            *eol = 0;
            next = eol + 1;
        } else {
            next = s + strlen(s);
        }
        char *hash = strchr(s, '#');
        if (hash)
            *hash = 0;
        s = ln__skip_space(s);
        if (!*s)
            continue;
        char *kw = s;
        while (*s && !ln__is_space(*s))
            s++;
        size_t kwlen = (size_t)(s - kw);

        if (ln__obj_kw(kw, kwlen, "v")) {
            double v[7];
            int n = 0;
            while (*ln__skip_space(s) && n < 7 && ln__parse_double(&s, &v[n]) == 0)
                n++;
            if (*ln__skip_space(s) || n < 3 || n == 5) {
                rc = ln_error_set(err, LN_EFORMAT, "OBJ line %zu: malformed vertex", line);
                goto cleanup;
            }
            float p[3] = {(float)v[0], (float)v[1], (float)v[2]};
            if (!isfinite(p[0]) || !isfinite(p[1]) || !isfinite(p[2])) {
                rc = ln_error_set(err, LN_EFORMAT, "OBJ line %zu: non-finite vertex", line);
                goto cleanup;
            }
            /* Three numbers after the position are sRGB colour; a single
             * one is the optional weight w. */
            float c[3] = {1.0f, 1.0f, 1.0f};
            if (n >= 6) {
                for (int k = 0; k < 3; k++)
                    c[k] = ln__clamp01((float)v[3 + k]);
                n_colored++;
            }
            ln_buf_append(&pos, p, sizeof p);
            ln_buf_append(&col, c, sizeof c);
            n_v++;
        } else if (ln__obj_kw(kw, kwlen, "vn")) {
            double v[3];
            int n = 0;
            while (*ln__skip_space(s) && n < 3 && ln__parse_double(&s, &v[n]) == 0)
                n++;
            if (*ln__skip_space(s) || n != 3) {
                rc = ln_error_set(err, LN_EFORMAT, "OBJ line %zu: malformed normal", line);
                goto cleanup;
            }
            float fn[3] = {(float)v[0], (float)v[1], (float)v[2]};
            ln__unit3(fn, fn);
            ln_buf_append(&nrm, fn, sizeof fn);
            n_vn++;
        } else if (ln__obj_kw(kw, kwlen, "vt")) {
            double v[3];
            int n = 0;
            while (*ln__skip_space(s) && n < 3 && ln__parse_double(&s, &v[n]) == 0)
                n++;
            if (*ln__skip_space(s) || n < 1) {
                rc = ln_error_set(err, LN_EFORMAT, "OBJ line %zu: malformed texture coordinate",
                                  line);
                goto cleanup;
            }
            n_vt++;
        } else if (ln__obj_kw(kw, kwlen, "f")) {
            struct ln__obj_corner first = {0}, prev = {0}, c;
            int k = 0;
            for (s = ln__skip_space(s); *s; s = ln__skip_space(s), k++) {
                uint32_t t;
                if (ln__obj_corner(&s, n_v, n_vt, n_vn, &c, &t) < 0 ||
                    (t != LN__OBJ_NONE && t >= n_vt)) {
                    rc = ln_error_set(err, LN_EFORMAT, "OBJ line %zu: malformed face", line);
                    goto cleanup;
                }
                if (k == 0)
                    first = c;
                if (k >= 2) {
                    struct ln__obj_corner tri[3] = {first, prev, c};
                    ln_buf_append(&corners, tri, sizeof tri);
                }
                prev = c;
            }
            if (k < 3) {
                rc = ln_error_set(err, LN_EFORMAT, "OBJ line %zu: a face needs 3 vertices", line);
                goto cleanup;
            }
        } else if (!ln__obj_is_keyword(kw, kwlen)) {
            rc = ln_error_set(err, LN_EFORMAT, "OBJ line %zu: unexpected \"%.*s\"", line,
                              (int)(kwlen < 20 ? kwlen : 20), kw);
            goto cleanup;
        }
        if (pos.failed || col.failed || nrm.failed || corners.failed) {
            rc = ln_error_set(err, LN_ENOMEM, "out of memory reading the OBJ file");
            goto cleanup;
        }
    }

    size_t n_corners = corners.len / sizeof(struct ln__obj_corner);
    const struct ln__obj_corner *cs = (const struct ln__obj_corner *)corners.data;
    if (n_corners == 0) {
        rc = ln_error_set(err, LN_EFORMAT, "OBJ: the file holds no faces");
        goto cleanup;
    }
    if (n_v > UINT32_MAX) {
        rc = ln_error_set(err, LN_EFORMAT, "OBJ: too many vertices (%zu)", n_v);
        goto cleanup;
    }
    int all_normals = 1;
    for (size_t i = 0; i < n_corners; i++) {
        if (cs[i].v >= n_v || (cs[i].n != LN__OBJ_NONE && cs[i].n >= n_vn)) {
            rc = ln_error_set(err, LN_EFORMAT, "OBJ: face %zu refers to a missing %s", i / 3,
                              cs[i].v >= n_v ? "vertex" : "normal");
            goto cleanup;
        }
        all_normals &= cs[i].n != LN__OBJ_NONE;
    }

    rc = ln_mesh_alloc(out, n_v, n_corners / 3, n_colored > 0, err);
    if (rc < 0)
        goto cleanup;
    memcpy(out->positions, pos.data, pos.len);
    if (out->colors)
        memcpy(out->colors, col.data, col.len);
    for (size_t i = 0; i < n_corners; i++)
        out->indices[i] = cs[i].v;
    if (all_normals) {
        out->normals = ln_alloc_array(n_v, 3 * sizeof(float), 0, "mesh normals", err);
        if (!out->normals) {
            rc = err ? err->code : LN_ENOMEM;
            goto cleanup;
        }
        /* A vertex no face uses keeps an arbitrary unit normal; a vertex
         * used with several normals keeps the last one. */
        for (size_t i = 0; i < n_v; i++) {
            out->normals[3 * i] = 0.0f;
            out->normals[3 * i + 1] = 1.0f;
            out->normals[3 * i + 2] = 0.0f;
        }
        const float *vn = (const float *)nrm.data;
        for (size_t i = 0; i < n_corners; i++)
            memcpy(out->normals + 3 * (size_t)cs[i].v, vn + 3 * (size_t)cs[i].n, 3 * sizeof(float));
    }

cleanup:
    free(text);
    ln_buf_free(&pos);
    ln_buf_free(&col);
    ln_buf_free(&nrm);
    ln_buf_free(&corners);
    return rc;
}
