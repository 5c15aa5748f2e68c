/*
 * STL for 3D printing. The writer emits binary STL (80-byte header that
 * does not start with "solid", so no reader mistakes it for ASCII; face
 * normal, three corners, zero attribute word per face).
 *
 * The reader accepts binary and ASCII STL. STL stores every corner of
 * every triangle separately; the reader welds corners with bit-identical
 * positions (a hash table, exact comparison, -0 equal to +0) so the result
 * is an indexed mesh with shared vertices, as the rest of the pipeline
 * expects.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ln_alloc.h"
#include "ln_export.h"
#include "ln_export_int.h"

int ln__stl_encode(const struct ln_mesh *m, struct ln_buf *out, struct ln_error *err)
{
    if (m->n_faces > UINT32_MAX)
        return ln_error_set(err, LN_ETOOBIG, "the mesh has too many faces for STL (%zu)",
                            m->n_faces);
    size_t body;
    if (ln_size_mul(m->n_faces, 50, &body) < 0 || body > SIZE_MAX - 84)
        return ln_error_set(err, LN_ETOOBIG, "the mesh is too large for an STL file");
    if (ln_buf_reserve(out, 84 + body) < 0)
        return LN_OK; /* the dispatcher reports the failed buffer */

    char header[80] = {0};
    snprintf(header, sizeof header, "Lunar Nova %s binary STL", LN_VERSION_STRING);
    ln_buf_append(out, header, sizeof header);
    ln_buf_u32le(out, (uint32_t)m->n_faces);
    for (size_t f = 0; f < m->n_faces; f++) {
        const float *v[3];
        for (int k = 0; k < 3; k++)
            v[k] = m->positions + 3 * (size_t)m->indices[3 * f + k];
        float e1[3] = {v[1][0] - v[0][0], v[1][1] - v[0][1], v[1][2] - v[0][2]};
        float e2[3] = {v[2][0] - v[0][0], v[2][1] - v[0][1], v[2][2] - v[0][2]};
        float n[3] = {e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2],
                      e1[0] * e2[1] - e1[1] * e2[0]};
        float len = sqrtf(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
        for (int k = 0; k < 3; k++)
            ln_buf_f32le(out, len > 0.0f ? n[k] / len : 0.0f); /* 0: degenerate face */
        for (int k = 0; k < 3; k++)
            for (int a = 0; a < 3; a++)
                ln_buf_f32le(out, v[k][a]);
        ln_buf_append(out, "\0", 2);
    }
    return LN_OK;
}

/* Builds out from n_faces * 3 corners (xyz each) by exact welding. */
static int ln__stl_weld(const float *corners, size_t n_faces, struct ln_mesh *out,
                        struct ln_error *err)
{
    size_t n_corners = n_faces * 3; /* the callers bound n_faces */
    if (n_corners >= UINT32_MAX)
        return ln_error_set(err, LN_ETOOBIG, "STL: too many triangles (%zu)", n_faces);
    size_t cap = 16;
    while (cap < 2 * n_corners)
        cap *= 2;
    /* Slots hold vertex + 1, so zero means empty. */
    uint32_t *table = ln_alloc_array(cap, sizeof(uint32_t), 1, "vertex welding table", err);
    if (!table)
        return err ? err->code : LN_ENOMEM;
    int rc = ln_mesh_alloc(out, n_corners, n_faces, 0, err);
    if (rc < 0)
        goto cleanup;

    size_t nv = 0;
    for (size_t c = 0; c < n_corners; c++) {
        /* Adding +0 turns -0 into +0, so the two compare equal bitwise. */
        float p[3] = {corners[3 * c] + 0.0f, corners[3 * c + 1] + 0.0f, corners[3 * c + 2] + 0.0f};
        uint32_t b[3];
        memcpy(b, p, sizeof b);
        uint64_t hash = ((uint64_t)b[0] * 0x9E3779B97F4A7C15ull) ^
                        ((uint64_t)b[1] * 0xC2B2AE3D27D4EB4Full) ^
                        ((uint64_t)b[2] * 0x165667B19E3779F9ull);
        hash ^= hash >> 29;
        size_t slot = (size_t)hash & (cap - 1);
        uint32_t v;
        for (;;) {
            if (table[slot] == 0) {
                v = (uint32_t)nv++;
                memcpy(out->positions + 3 * (size_t)v, p, sizeof p);
                table[slot] = v + 1;
                break;
            }
            v = table[slot] - 1;
            if (memcmp(out->positions + 3 * (size_t)v, p, sizeof p) == 0)
                break;
            slot = (slot + 1) & (cap - 1);
        }
        out->indices[c] = v;
    }
    out->n_vertices = nv;
    /* Give back the room reserved for unwelded corners; keeping it is
     * harmless if the shrink fails. */
    float *shrunk = ln_realloc(out->positions, nv * 3 * sizeof(float));
    if (shrunk)
        out->positions = shrunk;

cleanup:
    free(table);
    return rc;
}

static int ln__stl_binary(const uint8_t *data, size_t n_faces, struct ln_mesh *out,
                          struct ln_error *err)
{
    if (n_faces == 0)
        return ln_error_set(err, LN_EFORMAT, "STL: the file holds no triangles");
    float *corners = ln_alloc_array(n_faces, 9 * sizeof(float), 0, "STL corners", err);
    if (!corners)
        return err ? err->code : LN_ENOMEM;
    int rc = LN_OK;
    for (size_t f = 0; f < n_faces; f++) {
        const uint8_t *rec = data + 84 + 50 * f + 12; /* past the face normal */
        for (int k = 0; k < 9; k++) {
            float x = ln__f32le(rec + 4 * k);
            if (!isfinite(x)) {
                rc = ln_error_set(err, LN_EFORMAT, "STL: triangle %zu has a non-finite vertex", f);
                goto cleanup;
            }
            corners[9 * f + k] = x;
        }
    }
    rc = ln__stl_weld(corners, n_faces, out, err);
cleanup:
    free(corners);
    return rc;
}

/* The next white-space separated token, NUL-terminated in place, or NULL
 * at the end of the text. */
static char *ln__stl_token(char **s)
{
    char *p = ln__skip_space(*s);
    if (!*p)
        return NULL;
    char *t = p;
    while (*p && !ln__is_space(*p))
        p++;
    if (*p)
        *p++ = 0;
    *s = p;
    return t;
}

static void ln__stl_skip_line(char **s)
{
    char *nl = strchr(*s, '\n');
    *s = nl ? nl + 1 : *s + strlen(*s);
}

static int ln__stl_expect(char **s, const char *word)
{
    char *t = ln__stl_token(s);
    return t && strcasecmp(t, word) == 0 ? 0 : -1;
}

static int ln__stl_ascii(const uint8_t *data, size_t len, struct ln_mesh *out, struct ln_error *err)
{
    char *text = NULL;
    struct ln_buf corners = {0};
    int rc = ln__text_copy(data, len, "STL", &text, err);
    if (rc < 0)
        return rc;
    char *s = text;
    if (ln__stl_expect(&s, "solid") < 0) {
        rc = ln_error_set(err, LN_EFORMAT, "not an STL file");
        goto cleanup;
    }
    ln__stl_skip_line(&s); /* the solid's name, if any */
    size_t facet = 0;
    for (;; facet++) {
        char *t = ln__stl_token(&s);
        if (!t) {
            rc = ln_error_set(err, LN_EFORMAT, "STL: the file ends without endsolid");
            goto cleanup;
        }
        if (strcasecmp(t, "endsolid") == 0) {
            /* The solid's name ends the line; another solid may follow. */
            ln__stl_skip_line(&s);
            char *after = s;
            t = ln__stl_token(&after);
            if (!t)
                break;
            if (strcasecmp(t, "solid") != 0)
                goto malformed;
            s = after;
            ln__stl_skip_line(&s);
            continue;
        }
        if (strcasecmp(t, "facet") != 0 || ln__stl_expect(&s, "normal") < 0)
            goto malformed;
        double v[3];
        for (int k = 0; k < 3; k++)
            if (ln__parse_double(&s, &v[k]) < 0)
                goto malformed;
        if (ln__stl_expect(&s, "outer") < 0 || ln__stl_expect(&s, "loop") < 0)
            goto malformed;
        /* Polygons beyond triangles are fanned from the first corner. */
        float first[3] = {0}, prev[3] = {0};
        int k;
        for (k = 0;; k++) {
            t = ln__stl_token(&s);
            if (t && strcasecmp(t, "endloop") == 0)
                break;
            if (!t || strcasecmp(t, "vertex") != 0)
                goto malformed;
            float p[3];
            for (int a = 0; a < 3; a++) {
                if (ln__parse_double(&s, &v[a]) < 0)
                    goto malformed;
                p[a] = (float)v[a];
                if (!isfinite(p[a])) {
                    rc = ln_error_set(err, LN_EFORMAT, "STL: facet %zu has a non-finite vertex",
                                      facet);
                    goto cleanup;
                }
            }
            if (k == 0)
                memcpy(first, p, sizeof p);
            if (k >= 2) {
                ln_buf_append(&corners, first, sizeof first);
                ln_buf_append(&corners, prev, sizeof prev);
                ln_buf_append(&corners, p, sizeof p);
            }
            memcpy(prev, p, sizeof p);
        }
        if (k < 3 || ln__stl_expect(&s, "endfacet") < 0)
            goto malformed;
        if (corners.failed) {
            rc = ln_error_set(err, LN_ENOMEM, "out of memory reading the STL file");
            goto cleanup;
        }
    }
    size_t n_faces = corners.len / (9 * sizeof(float));
    if (n_faces == 0) {
        rc = ln_error_set(err, LN_EFORMAT, "STL: the file holds no triangles");
        goto cleanup;
    }
    rc = ln__stl_weld((const float *)corners.data, n_faces, out, err);
    goto cleanup;

malformed:
    rc = ln_error_set(err, LN_EFORMAT, "STL: facet %zu is malformed", facet);
cleanup:
    free(text);
    ln_buf_free(&corners);
    return rc;
}

int ln__stl_decode(const uint8_t *data, size_t len, struct ln_mesh *out, struct ln_error *err)
{
    /* A binary file is recognised by its size matching its face count:
     * some binary writers also start the header with "solid". */
    if (len >= 84) {
        size_t n = ln__u32le(data + 80);
        if (n <= (len - 84) / 50 && (len - 84) == n * 50)
            return ln__stl_binary(data, n, out, err);
    }
    if (len >= 5 && strncasecmp((const char *)data, "solid", 5) == 0)
        return ln__stl_ascii(data, len, out, err);
    if (len < 84)
        return ln_error_set(err, LN_EFORMAT, "STL: the file is too short");
    return ln_error_set(err, LN_EFORMAT,
                        "STL: the header claims %u triangles but the file has %zu bytes",
                        ln__u32le(data + 80), len);
}
