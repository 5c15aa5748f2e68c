/*
 * Wavefront OBJ with per-vertex colour ("v x y z r g b", sRGB, the
 * extension MeshLab and most tools read), vertex normals, and for a mesh
 * with UVs "vt" lines (v flipped: OBJ's origin is the image's bottom-left).
 * Saved to a file, a textured mesh also gets NAME.mtl naming the texture
 * as map_Kd and the image itself beside it. Six decimals keep a unit-sized
 * mesh to a micrometre while staying readable.
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

int ln__obj_encode(const struct ln_mesh *m, const char *mtl, struct ln_buf *out,
                   struct ln_error *err)
{
    ln_buf_printf(out, "# Lunar Nova %s\n# %zu vertices, %zu faces%s\n", LN_VERSION_STRING,
                  m->n_vertices, m->n_faces, m->colors ? "; vertex colours are sRGB" : "");
    if (mtl)
        ln_buf_printf(out, "mtllib %s\nusemtl baked\n", mtl);
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
    /* OBJ's texture coordinates start at the image's bottom-left corner */
    for (size_t i = 0; m->uvs && i < m->n_vertices; i++)
        ln_buf_printf(out, "vt %.7f %.7f\n", m->uvs[2 * i], 1.0f - m->uvs[2 * i + 1]);
    for (size_t f = 0; f < m->n_faces; f++) {
        const uint32_t *t = m->indices + 3 * f;
        unsigned long a = t[0] + 1UL, b = t[1] + 1UL, c = t[2] + 1UL;
        if (m->uvs)
            ln_buf_printf(out, "f %lu/%lu/%lu %lu/%lu/%lu %lu/%lu/%lu\n", a, a, a, b, b, b, c, c,
                          c);
        else
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

/* The state of one read: the elements met so far, in file order, and the
 * line being read (for messages). */
struct ln__obj_reader {
    struct ln_buf pos, col, nrm; /* 3 floats per v (col: white if none), per vn */
    struct ln_buf corners;       /* struct ln__obj_corner, 3 per triangle */
    size_t n_v, n_vt, n_vn, n_colored, line;
};

/* "v x y z", "v x y z w" or "v x y z r g b" after the keyword, at s. */
static int ln__obj_vertex(struct ln__obj_reader *r, char *s, struct ln_error *err)
{
    double v[7];
    int n = 0;
    while (*ln__skip_space(s) && n < 7 && ln__parse_double(&s, &v[n]) == 0)
        n++;
    if (*ln__skip_space(s) || n < 3 || n == 5)
        return ln_error_set(err, LN_EFORMAT, "OBJ line %zu: malformed vertex", r->line);
    float p[3] = {(float)v[0], (float)v[1], (float)v[2]};
    if (!isfinite(p[0]) || !isfinite(p[1]) || !isfinite(p[2]))
        return ln_error_set(err, LN_EFORMAT, "OBJ line %zu: non-finite vertex", r->line);
    /* Three numbers after the position are sRGB colour; a single one is
     * the optional weight w. */
    float c[3] = {1.0f, 1.0f, 1.0f};
    if (n >= 6) {
        for (int k = 0; k < 3; k++)
            c[k] = ln__clamp01((float)v[3 + k]);
        r->n_colored++;
    }
    ln_buf_append(&r->pos, p, sizeof p);
    ln_buf_append(&r->col, c, sizeof c);
    r->n_v++;
    return LN_OK;
}

/* "vn x y z" after the keyword, at s: kept as a unit vector. */
static int ln__obj_normal(struct ln__obj_reader *r, char *s, struct ln_error *err)
{
    double v[3];
    int n = 0;
    while (*ln__skip_space(s) && n < 3 && ln__parse_double(&s, &v[n]) == 0)
        n++;
    if (*ln__skip_space(s) || n != 3)
        return ln_error_set(err, LN_EFORMAT, "OBJ line %zu: malformed normal", r->line);
    float fn[3] = {(float)v[0], (float)v[1], (float)v[2]};
    ln__unit3(fn, fn);
    ln_buf_append(&r->nrm, fn, sizeof fn);
    r->n_vn++;
    return LN_OK;
}

/* "vt u [v [w]]" after the keyword, at s: only counted, for the faces'
 * references. */
static int ln__obj_texcoord(struct ln__obj_reader *r, char *s, struct ln_error *err)
{
    double v[3];
    int n = 0;
    while (*ln__skip_space(s) && n < 3 && ln__parse_double(&s, &v[n]) == 0)
        n++;
    if (*ln__skip_space(s) || n < 1)
        return ln_error_set(err, LN_EFORMAT, "OBJ line %zu: malformed texture coordinate", r->line);
    r->n_vt++;
    return LN_OK;
}

/* "f" and its corners after the keyword, at s: the polygon fanned into
 * triangles appended to r->corners. */
static int ln__obj_face(struct ln__obj_reader *r, char *s, struct ln_error *err)
{
    struct ln__obj_corner first = {0}, prev = {0}, c;
    int k = 0;
    for (s = ln__skip_space(s); *s; s = ln__skip_space(s), k++) {
        uint32_t t;
        if (ln__obj_corner(&s, r->n_v, r->n_vt, r->n_vn, &c, &t) < 0 ||
            (t != LN__OBJ_NONE && t >= r->n_vt))
            return ln_error_set(err, LN_EFORMAT, "OBJ line %zu: malformed face", r->line);
        if (k == 0)
            first = c;
        if (k >= 2) {
            struct ln__obj_corner tri[3] = {first, prev, c};
            ln_buf_append(&r->corners, tri, sizeof tri);
        }
        prev = c;
    }
    if (k < 3)
        return ln_error_set(err, LN_EFORMAT, "OBJ line %zu: a face needs 3 vertices", r->line);
    return LN_OK;
}

/* One line, its comment already cut off: blank, an element this reader
 * keeps, or a keyword it passes over. */
static int ln__obj_line(struct ln__obj_reader *r, char *s, struct ln_error *err)
{
    s = ln__skip_space(s);
    if (!*s)
        return LN_OK;
    char *kw = s;
    while (*s && !ln__is_space(*s))
        s++;
    size_t kwlen = (size_t)(s - kw);
    int rc = LN_OK;
    if (ln__obj_kw(kw, kwlen, "v"))
        rc = ln__obj_vertex(r, s, err);
    else if (ln__obj_kw(kw, kwlen, "vn"))
        rc = ln__obj_normal(r, s, err);
    else if (ln__obj_kw(kw, kwlen, "vt"))
        rc = ln__obj_texcoord(r, s, err);
    else if (ln__obj_kw(kw, kwlen, "f"))
        rc = ln__obj_face(r, s, err);
    else if (!ln__obj_is_keyword(kw, kwlen))
        rc = ln_error_set(err, LN_EFORMAT, "OBJ line %zu: unexpected \"%.*s\"", r->line,
                          (int)(kwlen < 20 ? kwlen : 20), kw);
    if (rc < 0)
        return rc;
    if (r->pos.failed || r->col.failed || r->nrm.failed || r->corners.failed)
        return ln_error_set(err, LN_ENOMEM, "out of memory reading the OBJ file");
    return LN_OK;
}

/* Checks that there are faces and that every corner refers to a vertex
 * and normal the file defines; *all_normals says whether every corner
 * names a normal. */
static int ln__obj_check(const struct ln__obj_reader *r, int *all_normals, struct ln_error *err)
{
    size_t n_corners = r->corners.len / sizeof(struct ln__obj_corner);
    const struct ln__obj_corner *cs = (const struct ln__obj_corner *)r->corners.data;
    if (n_corners == 0)
        return ln_error_set(err, LN_EFORMAT, "OBJ: the file holds no faces");
    if (r->n_v > UINT32_MAX)
        return ln_error_set(err, LN_EFORMAT, "OBJ: too many vertices (%zu)", r->n_v);
    *all_normals = 1;
    for (size_t i = 0; i < n_corners; i++) {
        if (cs[i].v >= r->n_v || (cs[i].n != LN__OBJ_NONE && cs[i].n >= r->n_vn))
            return ln_error_set(err, LN_EFORMAT, "OBJ: face %zu refers to a missing %s", i / 3,
                                cs[i].v >= r->n_v ? "vertex" : "normal");
        *all_normals &= cs[i].n != LN__OBJ_NONE;
    }
    return LN_OK;
}

/* The mesh from the checked elements: OBJ vertices one for one, colours
 * when any vertex has one, normals when every corner names one. */
static int ln__obj_build(const struct ln__obj_reader *r, int all_normals, struct ln_mesh *out,
                         struct ln_error *err)
{
    const size_t n_v = r->n_v, n_corners = r->corners.len / sizeof(struct ln__obj_corner);
    const struct ln__obj_corner *cs = (const struct ln__obj_corner *)r->corners.data;
    int rc = ln_mesh_alloc(out, n_v, n_corners / 3, r->n_colored > 0, err);
    if (rc < 0)
        return rc;
    memcpy(out->positions, r->pos.data, r->pos.len);
    if (out->colors)
        memcpy(out->colors, r->col.data, r->col.len);
    for (size_t i = 0; i < n_corners; i++)
        out->indices[i] = cs[i].v;
    if (!all_normals)
        return LN_OK;
    out->normals = ln_alloc_array(n_v, 3 * sizeof(float), 0, "mesh normals", err);
    if (!out->normals)
        return err ? err->code : LN_ENOMEM;
    /* A vertex no face uses keeps an arbitrary unit normal; a vertex used
     * with several normals keeps the last one. */
    for (size_t i = 0; i < n_v; i++) {
        out->normals[3 * i] = 0.0f;
        out->normals[3 * i + 1] = 1.0f;
        out->normals[3 * i + 2] = 0.0f;
    }
    const float *vn = (const float *)r->nrm.data;
    for (size_t i = 0; i < n_corners; i++)
        memcpy(out->normals + 3 * (size_t)cs[i].v, vn + 3 * (size_t)cs[i].n, 3 * sizeof(float));
    return LN_OK;
}

int ln__obj_decode(const uint8_t *data, size_t len, struct ln_mesh *out, struct ln_error *err)
{
    char *text = NULL;
    struct ln__obj_reader r = {0};
    int all_normals = 0;
    int rc = ln__text_copy(data, len, "OBJ", &text, err);
    if (rc < 0)
        goto cleanup;

    char *next;
    for (char *s = text; *s; s = next) {
        r.line++;
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
        if ((rc = ln__obj_line(&r, s, err)) < 0)
            goto cleanup;
    }
    if ((rc = ln__obj_check(&r, &all_normals, err)) < 0)
        goto cleanup;
    rc = ln__obj_build(&r, all_normals, out, err);

cleanup:
    free(text);
    ln_buf_free(&r.pos);
    ln_buf_free(&r.col);
    ln_buf_free(&r.nrm);
    ln_buf_free(&r.corners);
    return rc;
}
