/*
 * Mesh files: format names, the encode/decode dispatch, saving and loading,
 * and the sRGB transfer functions. Each format lives in its own file
 * (ln_export_glb.c, ln_export_obj.c, ln_export_ply.c, ln_export_stl.c) behind
 * the private interface in ln_export_int.h; this file checks the mesh once
 * before any writer sees it, so the writers can trust their input.
 *
 * Saving encodes the whole file into memory first and then replaces the
 * destination atomically, so a failed save never leaves a partial file.
 */
#include "ln_export.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ln_alloc.h"
#include "ln_export_int.h"

/* Mesh files are read whole; GLB cannot exceed 4 GiB and the others are
 * refused above 2 GiB rather than risk the memory. */
#define LN__MESH_FILE_MAX ((size_t)2 << 30)

static const char *const ln__format_ext[LN_MESH_FORMAT_COUNT] = {"glb", "obj", "ply", "stl"};
static const char *const ln__format_mime[LN_MESH_FORMAT_COUNT] = {"model/gltf-binary", "model/obj",
                                                                  "application/x-ply", "model/stl"};

int ln_mesh_format_parse(const char *name)
{
    if (!name)
        return -1;
    for (int f = 0; f < LN_MESH_FORMAT_COUNT; f++)
        if (strcasecmp(name, ln__format_ext[f]) == 0)
            return f;
    return -1;
}

int ln_mesh_format_from_path(const char *path)
{
    if (!path)
        return -1;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    return dot ? ln_mesh_format_parse(dot + 1) : -1;
}

const char *ln_mesh_format_ext(enum ln_mesh_format fmt)
{
    return (unsigned)fmt < LN_MESH_FORMAT_COUNT ? ln__format_ext[fmt] : "bin";
}

const char *ln_mesh_format_mime(enum ln_mesh_format fmt)
{
    return (unsigned)fmt < LN_MESH_FORMAT_COUNT ? ln__format_mime[fmt] : "application/octet-stream";
}

/* IEC 61966-2-1: a linear segment near black, then a 2.4 power curve;
 * evaluated in double so a round trip stays within float precision. */
float ln_srgb_to_linear(float c)
{
    double x = c;
    if (x <= 0.04045)
        return (float)(x / 12.92);
    return (float)pow((x + 0.055) / 1.055, 2.4);
}

float ln_linear_to_srgb(float c)
{
    double x = c;
    if (x <= 0.0031308)
        return (float)(x * 12.92);
    return (float)(1.055 * pow(x, 1.0 / 2.4) - 0.055);
}

float ln__clamp01(float c)
{
    /* Written so that NaN becomes 0. */
    return c > 0.0f ? (c < 1.0f ? c : 1.0f) : 0.0f;
}

void ln__unit3(const float *in, float *out)
{
    double len = sqrt((double)in[0] * in[0] + (double)in[1] * in[1] + (double)in[2] * in[2]);
    if (len > 0.0 && isfinite(len)) {
        out[0] = (float)(in[0] / len);
        out[1] = (float)(in[1] / len);
        out[2] = (float)(in[2] / len);
    } else {
        out[0] = 0.0f; /* any unit vector will do for a degenerate normal */
        out[1] = 1.0f;
        out[2] = 0.0f;
    }
}

uint32_t ln__u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

float ln__f32le(const uint8_t *p)
{
    uint32_t u = ln__u32le(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

int ln__text_copy(const uint8_t *data, size_t len, const char *format, char **out,
                  struct ln_error *err)
{
    *out = NULL;
    if (memchr(data, 0, len))
        return ln_error_set(err, LN_EFORMAT, "%s: binary data in a text file", format);
    if (len == SIZE_MAX)
        return ln_error_set(err, LN_ETOOBIG, "%s: file is too large", format);
    char *t = ln_alloc_array(len + 1, 1, 0, "mesh file text", err);
    if (!t)
        return err ? err->code : LN_ENOMEM;
    memcpy(t, data, len);
    t[len] = 0;
    *out = t;
    return LN_OK;
}

int ln__is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

char *ln__skip_space(char *s)
{
    while (ln__is_space(*s))
        s++;
    return s;
}

int ln__parse_double(char **s, double *v)
{
    char *p = ln__skip_space(*s);
    char *e;
    double x = strtod(p, &e);
    if (e == p || (*e && !ln__is_space(*e)))
        return -1;
    *v = x;
    *s = e;
    return 0;
}

/* The writers rely on every index being in range and every position
 * finite: a file with either would be invalid (and glTF validators reject
 * it), so such a mesh is refused here rather than written. */
int ln__mesh_check(const struct ln_mesh *m, struct ln_error *err)
{
    if (!m || m->n_faces == 0)
        return ln_error_set(err, LN_EINVAL, "the mesh is empty");
    if (!m->positions || !m->indices)
        return ln_error_set(err, LN_EINVAL, "the mesh has no vertex or face arrays");
    if (m->n_vertices > UINT32_MAX)
        return ln_error_set(err, LN_ETOOBIG, "the mesh has too many vertices (%zu)", m->n_vertices);
    size_t n_idx;
    if (ln_size_mul(m->n_faces, 3, &n_idx) < 0)
        return ln_error_set(err, LN_ETOOBIG, "the mesh has too many faces (%zu)", m->n_faces);
    for (size_t i = 0; i < n_idx; i++)
        if (m->indices[i] >= m->n_vertices)
            return ln_error_set(err, LN_EINVAL, "face %zu refers to vertex %u of %zu", i / 3,
                                m->indices[i], m->n_vertices);
    for (size_t i = 0; i < m->n_vertices * 3; i++)
        if (!isfinite(m->positions[i]))
            return ln_error_set(err, LN_EINVAL, "vertex %zu has a non-finite position", i / 3);
    for (size_t i = 0; m->uvs && i < m->n_vertices * 2; i++)
        if (!isfinite(m->uvs[i]))
            return ln_error_set(err, LN_EINVAL, "vertex %zu has non-finite texture coordinates",
                                i / 2);
    return LN_OK;
}

int ln_mesh_encode(const struct ln_mesh *m, enum ln_mesh_format fmt, struct ln_buf *out,
                   struct ln_error *err)
{
    if ((unsigned)fmt >= LN_MESH_FORMAT_COUNT)
        return ln_error_set(err, LN_EINVAL, "unknown mesh format %d", (int)fmt);
    int rc = ln__mesh_check(m, err);
    if (rc < 0)
        return rc;
    if (out->failed)
        return ln_error_set(err, LN_ENOMEM, "out of memory encoding the %s file",
                            ln__format_ext[fmt]);

    /* The view shares the caller's arrays; only normals computed here are
     * owned (STL stores face normals and needs none). */
    struct ln_mesh view = *m;
    float *own_normals = NULL;
    if (!view.normals && fmt != LN_MESH_FORMAT_STL) {
        rc = ln_mesh_compute_normals(&view, err);
        if (rc < 0)
            return rc;
        own_normals = view.normals;
    }

    size_t start = out->len;
    switch (fmt) {
    case LN_MESH_FORMAT_GLB:
        rc = ln__glb_encode(&view, out, err);
        break;
    case LN_MESH_FORMAT_OBJ:
        rc = ln__obj_encode(&view, NULL, out, err);
        break;
    case LN_MESH_FORMAT_PLY:
        rc = ln__ply_encode(&view, out, err);
        break;
    default:
        rc = ln__stl_encode(&view, out, err);
        break;
    }
    if (rc == LN_OK && out->failed)
        rc =
            ln_error_set(err, LN_ENOMEM, "out of memory encoding the %s file", ln__format_ext[fmt]);
    if (rc < 0 && !out->failed)
        out->len = start;
    free(own_normals);
    return rc;
}

int ln_mesh_decode(const uint8_t *data, size_t len, enum ln_mesh_format fmt, struct ln_mesh *out,
                   struct ln_error *err)
{
    memset(out, 0, sizeof *out);
    if ((unsigned)fmt >= LN_MESH_FORMAT_COUNT)
        return ln_error_set(err, LN_EINVAL, "unknown mesh format %d", (int)fmt);
    if (!data && len > 0)
        return ln_error_set(err, LN_EINVAL, "no data to decode");
    static const uint8_t none[1];
    if (!data)
        data = none;
    int rc;
    switch (fmt) {
    case LN_MESH_FORMAT_GLB:
        rc = ln__glb_decode(data, len, out, err);
        break;
    case LN_MESH_FORMAT_OBJ:
        rc = ln__obj_decode(data, len, out, err);
        break;
    case LN_MESH_FORMAT_PLY:
        rc = ln__ply_decode(data, len, out, err);
        break;
    default:
        rc = ln__stl_decode(data, len, out, err);
        break;
    }
    if (rc < 0)
        ln_mesh_free(out);
    return rc;
}

/* A textured mesh's OBJ files named after stem (stem_len bytes of it):
 * stem.mtl naming stem.png or stem.jpg as map_Kd, and the OBJ text that
 * uses that material. mtl_name and img_name get the two names. */
int ln__obj_textured_parts(const struct ln_mesh *m, const char *stem, size_t stem_len,
                            char mtl_name[512], char img_name[512], struct ln_buf *mtl,
                            struct ln_buf *obj, struct ln_error *err)
{
    if (stem_len + 5 > 512)
        return ln_error_set(err, LN_EINVAL, "%.*s: the name is too long", (int)stem_len, stem);
    snprintf(mtl_name, 512, "%.*s.mtl", (int)stem_len, stem);
    snprintf(img_name, 512, "%.*s%s", (int)stem_len, stem, m->texture.jpeg ? ".jpg" : ".png");
    ln_buf_printf(mtl,
                  "# Lunar Nova %s\nnewmtl baked\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\nd 1\n"
                  "illum 1\nmap_Kd %s\n",
                  LN_VERSION_STRING, img_name);
    if (mtl->failed)
        return ln_error_set(err, LN_ENOMEM, "out of memory writing %s", mtl_name);
    struct ln_mesh view = *m;
    float *own_normals = NULL;
    int rc = LN_OK;
    if (!view.normals) {
        rc = ln_mesh_compute_normals(&view, err);
        own_normals = view.normals;
    }
    if (rc == LN_OK && (rc = ln__obj_encode(&view, mtl_name, obj, err)) == LN_OK && obj->failed)
        rc = ln_error_set(err, LN_ENOMEM, "out of memory encoding the obj file");
    free(own_normals);
    return rc;
}

/* A textured mesh as OBJ: the image and NAME.mtl beside the OBJ, written
 * before it, so an OBJ on disk always finds its material and texture. */
static int ln__obj_save_textured(const struct ln_mesh *m, const char *path, struct ln_error *err)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    size_t dir_len = (size_t)(name - path), stem_len = strlen(name);
    if (stem_len > 4 && strcasecmp(name + stem_len - 4, ".obj") == 0)
        stem_len -= 4;
    char mtl_name[512], img_name[512], mtl_path[4096], img_path[4096];
    if (dir_len + stem_len + 5 > sizeof mtl_path)
        return ln_error_set(err, LN_EINVAL, "%s: the path is too long", path);
    struct ln_buf mtl = {0}, obj = {0};
    int rc = ln__obj_textured_parts(m, name, stem_len, mtl_name, img_name, &mtl, &obj, err);
    snprintf(mtl_path, sizeof mtl_path, "%.*s%s", (int)dir_len, path, mtl_name);
    snprintf(img_path, sizeof img_path, "%.*s%s", (int)dir_len, path, img_name);
    if (rc == LN_OK)
        rc = ln_file_write_atomic(img_path, m->texture.data, m->texture.size, err);
    if (rc == LN_OK)
        rc = ln_file_write_atomic(mtl_path, mtl.data, mtl.len, err);
    if (rc == LN_OK)
        rc = ln_file_write_atomic(path, obj.data, obj.len, err);
    ln_buf_free(&mtl);
    ln_buf_free(&obj);
    return rc;
}

int ln_mesh_save(const struct ln_mesh *m, const char *path, enum ln_mesh_format fmt,
                 struct ln_error *err)
{
    if (fmt == LN_MESH_FORMAT_OBJ && m && m->uvs && m->texture.data) {
        int rc = ln__mesh_check(m, err);
        return rc < 0 ? rc : ln__obj_save_textured(m, path, err);
    }
    struct ln_buf b = {0};
    int rc = ln_mesh_encode(m, fmt, &b, err);
    if (rc == LN_OK)
        rc = ln_file_write_atomic(path, b.data, b.len, err);
    ln_buf_free(&b);
    return rc;
}

int ln_mesh_load(const char *path, struct ln_mesh *out, struct ln_error *err)
{
    memset(out, 0, sizeof *out);
    int fmt = ln_mesh_format_from_path(path);
    if (fmt < 0)
        return ln_error_set(err, LN_EINVAL,
                            "%s: unknown mesh file extension (expected .glb, .obj, .ply or .stl)",
                            path);
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = ln_file_read(path, LN__MESH_FILE_MAX, &data, &len, err);
    if (rc < 0)
        return rc;
    rc = ln_mesh_decode(data, len, (enum ln_mesh_format)fmt, out, err);
    if (rc < 0)
        ln_error_prefix(err, "%s", path);
    free(data);
    return rc;
}
