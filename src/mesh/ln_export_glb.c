/*
 * glTF 2.0 binary (.glb): the primary export. The writer lays out one
 * buffer holding tightly packed POSITION, NORMAL, optional COLOR_0 (linear
 * float RGB) or TEXCOORD_0, uint32 indices, and a textured mesh's image;
 * every element is 4 bytes wide, so every buffer view starts 4-byte
 * aligned as glTF requires. The JSON is built and
 * parsed with jansson so escaping and number formatting are always valid;
 * floats go out with 17 significant digits, so accessor min/max equal the
 * stored float32 values exactly (the validator compares them).
 *
 * The reader gathers every triangle primitive of every mesh (node
 * transforms are not applied; consecutive primitives over the same vertex
 * accessors share vertices) and checks each accessor against its buffer
 * view and the BIN chunk before touching a byte.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ln_alloc.h"
#include "ln_export.h"
#include "ln_export_int.h"

#define LN__GLB_MAGIC 0x46546C67u /* "glTF" */
#define LN__GLB_CHUNK_JSON 0x4E4F534Au
#define LN__GLB_CHUNK_BIN 0x004E4942u

#define LN__GL_BYTE 5120
#define LN__GL_UNSIGNED_BYTE 5121
#define LN__GL_SHORT 5122
#define LN__GL_UNSIGNED_SHORT 5123
#define LN__GL_UNSIGNED_INT 5125
#define LN__GL_FLOAT 5126
#define LN__GL_ARRAY_BUFFER 34962
#define LN__GL_ELEMENT_ARRAY_BUFFER 34963
#define LN__GL_TRIANGLES 4

/* A file whose primitives use the same bytes more often than this is
 * refused: it would let a small file demand an enormous mesh. */
#define LN__GLB_MAX_REUSE 16

/* ---- writer ---------------------------------------------------------- */

static int ln__glb_add_view(json_t *views, size_t offset, size_t length, int target)
{
    return json_array_append_new(views, json_pack("{s:i, s:I, s:I, s:i}", "buffer", 0, "byteOffset",
                                                  (json_int_t)offset, "byteLength",
                                                  (json_int_t)length, "target", target));
}

/* What the BIN chunk holds, in order: POSITION, NORMAL, the vertex
 * colours, TEXCOORD_0, the indices, and the texture's image, each starting
 * 4-byte aligned. A textured mesh's colours come from its texture (glTF
 * would multiply COLOR_0 into it), so its vertex colours, when it has
 * them, go out as the application-specific _COLOR_0: viewers ignore it, a
 * viewer that offers the choice (ours) and our reader use it. */
struct ln__glb_layout {
    int textured;
    int colored;            /* vertex colours written, as COLOR_0 or _COLOR_0 */
    size_t n_attr;          /* vertex attributes written */
    size_t attr_bytes[4];   /* bytes of each */
    int attr_name[4];       /* each one's name in ln__glb_attr_names */
    size_t ibytes;          /* indices */
    size_t image_offset;    /* where the image starts */
    size_t bin_len;
};

static int ln__glb_layout(const struct ln_mesh *m, struct ln__glb_layout *l, struct ln_error *err)
{
    memset(l, 0, sizeof *l);
    size_t nv = m->n_vertices, vbytes, uvbytes;
    l->textured = m->uvs && m->texture.data && m->texture.size > 0;
    l->colored = m->colors != NULL;
    if (ln_size_mul(nv, 12, &vbytes) < 0 || ln_size_mul(nv, 8, &uvbytes) < 0 ||
        ln_size_mul(m->n_faces, 12, &l->ibytes) < 0)
        return ln_error_set(err, LN_ETOOBIG, "the mesh is too large for a GLB file (4 GiB)");
    l->attr_name[l->n_attr] = 0;
    l->attr_bytes[l->n_attr++] = vbytes;
    l->attr_name[l->n_attr] = 1;
    l->attr_bytes[l->n_attr++] = vbytes;
    if (l->colored) {
        l->attr_name[l->n_attr] = l->textured ? 4 : 2;
        l->attr_bytes[l->n_attr++] = vbytes;
    }
    if (l->textured) {
        l->attr_name[l->n_attr] = 3;
        l->attr_bytes[l->n_attr++] = uvbytes;
    }
    uint64_t total = l->ibytes;
    for (size_t a = 0; a < l->n_attr; a++)
        total += l->attr_bytes[a];
    l->image_offset = (size_t)total;
    if (l->textured)
        total += m->texture.size + (4 - m->texture.size % 4) % 4;
    if (total > UINT32_MAX - 4096)
        return ln_error_set(err, LN_ETOOBIG, "the mesh is too large for a GLB file (4 GiB)");
    l->bin_len = (size_t)total;
    return LN_OK;
}

/* The document for a mesh laid out as l says. NULL when jansson runs out
 * of memory. */
static json_t *ln__glb_document(const struct ln_mesh *m, const struct ln__glb_layout *l)
{
    float mn[3], mx[3];
    ln_mesh_bounds(m, mn, mx);
    json_int_t nv = (json_int_t)m->n_vertices;
    json_int_t n_idx = (json_int_t)m->n_faces * 3;
    static const char *const names[] = {"POSITION", "NORMAL", "COLOR_0", "TEXCOORD_0",
                                        "_COLOR_0"};

    json_t *views = json_array();
    json_t *accessors = json_array();
    json_t *attributes = json_object();
    int bad = !views || !accessors || !attributes;
    size_t offset = 0;
    for (size_t a = 0; a < l->n_attr && !bad; a++) {
        bad |= ln__glb_add_view(views, offset, l->attr_bytes[a], LN__GL_ARRAY_BUFFER) < 0;
        offset += l->attr_bytes[a];
        json_t *acc = json_pack("{s:i, s:i, s:I, s:s}", "bufferView", (int)a, "componentType",
                                LN__GL_FLOAT, "count", nv, "type",
                                l->attr_name[a] == 3 ? "VEC2" : "VEC3");
        if (acc && a == 0)
            bad |= json_object_set_new(acc, "min", json_pack("[f, f, f]", (double)mn[0],
                                                             (double)mn[1], (double)mn[2])) < 0 ||
                   json_object_set_new(acc, "max", json_pack("[f, f, f]", (double)mx[0],
                                                             (double)mx[1], (double)mx[2])) < 0;
        bad |= json_array_append_new(accessors, acc) < 0;
        bad |= json_object_set_new(attributes, names[l->attr_name[a]],
                                   json_integer((json_int_t)a)) < 0;
    }
    if (!bad)
        bad |= ln__glb_add_view(views, offset, l->ibytes, LN__GL_ELEMENT_ARRAY_BUFFER) < 0 ||
               json_array_append_new(accessors,
                                     json_pack("{s:i, s:i, s:I, s:s}", "bufferView",
                                               (int)l->n_attr, "componentType",
                                               LN__GL_UNSIGNED_INT, "count", n_idx, "type",
                                               "SCALAR")) < 0;
    json_t *pbr = json_pack("{s:[f, f, f, f], s:f, s:f}", "baseColorFactor", 1.0, 1.0, 1.0, 1.0,
                            "metallicFactor", 0.0, "roughnessFactor", 1.0);
    bad |= !pbr;
    json_t *extra = json_object(); /* images, samplers, textures of a textured mesh */
    bad |= !extra;
    if (!bad && l->textured) {
        /* The image's view has no target (it is not vertex data). */
        bad |= json_array_append_new(views, json_pack("{s:i, s:I, s:I}", "buffer", 0,
                                                      "byteOffset", (json_int_t)l->image_offset,
                                                      "byteLength",
                                                      (json_int_t)m->texture.size)) < 0 ||
               json_object_set_new(extra, "images",
                                   json_pack("[{s:i, s:s}]", "bufferView", (int)l->n_attr + 1,
                                             "mimeType",
                                             m->texture.jpeg ? "image/jpeg" : "image/png")) < 0 ||
               /* linear filtering with mipmaps; clamped, so a chart at the
                * border never samples the opposite side */
               json_object_set_new(extra, "samplers",
                                   json_pack("[{s:i, s:i, s:i, s:i}]", "magFilter", 9729,
                                             "minFilter", 9987, "wrapS", 33071, "wrapT",
                                             33071)) < 0 ||
               json_object_set_new(extra, "textures",
                                   json_pack("[{s:i, s:i}]", "sampler", 0, "source", 0)) < 0 ||
               json_object_set_new(pbr, "baseColorTexture", json_pack("{s:i}", "index", 0)) < 0;
    }
    if (bad) {
        json_decref(views);
        json_decref(accessors);
        json_decref(attributes);
        json_decref(pbr);
        json_decref(extra);
        return NULL;
    }

    /* An explicit material: glTF's default is fully metallic, which renders
     * vertex colours almost black. "o" hands over the references. */
    json_t *doc = json_pack(
        "{s:{s:s, s:s}, s:i, s:[{s:[i]}], s:[{s:i}],"
        " s:[{s:[{s:o, s:i, s:i, s:i}]}],"
        " s:[{s:s, s:o, s:b}],"
        " s:[{s:I}], s:o, s:o}",
        "asset", "version", "2.0", "generator", "Lunar Nova " LN_VERSION_STRING, "scene", 0,
        "scenes", "nodes", 0, "nodes", "mesh", 0, "meshes", "primitives", "attributes",
        attributes, "indices", (int)l->n_attr, "material", 0, "mode", LN__GL_TRIANGLES,
        "materials", "name", l->textured ? "baked texture" : "vertex colour",
        "pbrMetallicRoughness", pbr, "doubleSided", 0, "buffers", "byteLength",
        (json_int_t)l->bin_len, "bufferViews", views, "accessors", accessors);
    if (doc && json_object_update(doc, extra) < 0) {
        json_decref(doc);
        doc = NULL;
    }
    json_decref(extra);
    return doc;
}

int ln__glb_encode(const struct ln_mesh *m, struct ln_buf *out, struct ln_error *err)
{
    size_t nv = m->n_vertices, nf = m->n_faces;
    struct ln__glb_layout l;
    int rc = ln__glb_layout(m, &l, err);
    if (rc < 0)
        return rc;

    json_t *doc = ln__glb_document(m, &l);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text)
        return ln_error_set(err, LN_ENOMEM, "out of memory writing the GLB document");

    size_t json_len = strlen(text);
    size_t json_pad = (4 - json_len % 4) % 4;
    uint64_t total = 12 + 8 + (uint64_t)json_len + json_pad + 8 + l.bin_len;
    if (total > UINT32_MAX) {
        rc = ln_error_set(err, LN_ETOOBIG, "the mesh is too large for a GLB file (4 GiB)");
        goto cleanup;
    }
    if (ln_buf_reserve(out, (size_t)total) < 0)
        goto cleanup; /* the dispatcher reports the failed buffer */

    ln_buf_u32le(out, LN__GLB_MAGIC);
    ln_buf_u32le(out, 2);
    ln_buf_u32le(out, (uint32_t)total);
    ln_buf_u32le(out, (uint32_t)(json_len + json_pad));
    ln_buf_u32le(out, LN__GLB_CHUNK_JSON);
    ln_buf_append(out, text, json_len);
    ln_buf_append(out, "   ", json_pad); /* the JSON chunk is padded with spaces */
    ln_buf_u32le(out, (uint32_t)l.bin_len);
    ln_buf_u32le(out, LN__GLB_CHUNK_BIN);

    for (size_t i = 0; i < nv * 3; i++)
        ln_buf_f32le(out, m->positions[i]);
    for (size_t i = 0; i < nv; i++) {
        float n[3];
        ln__unit3(m->normals + 3 * i, n); /* the validator insists on unit length */
        for (int k = 0; k < 3; k++)
            ln_buf_f32le(out, n[k]);
    }
    if (l.colored)
        for (size_t i = 0; i < nv * 3; i++)
            ln_buf_f32le(out, ln_srgb_to_linear(ln__clamp01(m->colors[i])));
    if (l.textured)
        for (size_t i = 0; i < nv * 2; i++)
            ln_buf_f32le(out, m->uvs[i]);
    for (size_t i = 0; i < nf * 3; i++)
        ln_buf_u32le(out, m->indices[i]);
    if (l.textured) {
        ln_buf_append(out, m->texture.data, m->texture.size);
        ln_buf_append(out, "\0\0\0", (4 - m->texture.size % 4) % 4);
    }

cleanup:
    free(text);
    return rc;
}

/* ---- reader ---------------------------------------------------------- */

struct ln__glb {
    const json_t *root;
    const uint8_t *bin; /* the buffer's bytes inside the BIN chunk, or NULL */
    size_t bin_len;
    int external; /* buffer 0 names a uri: data outside the file */
};

struct ln__accessor {
    const uint8_t *data; /* first element */
    size_t count;
    size_t stride;
    size_t comp_size;
    int component_type;
    int n_components;
    int normalized;
};

struct ln__glb_prim {
    struct ln__accessor pos, nrm, col, uv, idx;
    int has_nrm, has_col, has_uv, has_idx;
    size_t n_faces;
    const json_t *vertex_keys[4]; /* POSITION, NORMAL, COLOR_0, TEXCOORD_0 accessor indices */
    const json_t *material;       /* its index, or NULL */
};

/* v as a size: a non-negative JSON integer. */
static int ln__json_size(const json_t *v, size_t *out)
{
    if (!json_is_integer(v))
        return -1;
    json_int_t i = json_integer_value(v);
    if (i < 0 || (unsigned long long)i > SIZE_MAX)
        return -1;
    *out = (size_t)i;
    return 0;
}

/* obj[key] as a size, def when absent; -1 when present but invalid. */
static int ln__json_member(const json_t *obj, const char *key, size_t def, size_t *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) {
        *out = def;
        return 0;
    }
    return ln__json_size(v, out);
}

/* root[key][index], which must exist and be an object; NULL otherwise. */
static const json_t *ln__json_item(const json_t *root, const char *key, const json_t *index)
{
    const json_t *arr = json_object_get(root, key);
    size_t i;
    if (!json_is_array(arr) || ln__json_size(index, &i) < 0 || i >= json_array_size(arr))
        return NULL;
    const json_t *item = json_array_get(arr, i);
    return json_is_object(item) ? item : NULL;
}

static int ln__glb_accessor(const struct ln__glb *g, const json_t *index, const char *what,
                            struct ln__accessor *a, struct ln_error *err)
{
    memset(a, 0, sizeof *a);
    const json_t *acc = ln__json_item(g->root, "accessors", index);
    if (!acc)
        return ln_error_set(err, LN_EFORMAT, "GLB: the %s accessor index is invalid", what);
    if (json_object_get(acc, "sparse"))
        return ln_error_set(err, LN_EFORMAT, "GLB: sparse accessors (%s) are not supported", what);

    const char *type = json_string_value(json_object_get(acc, "type"));
    static const char *const types[] = {"SCALAR", "VEC2", "VEC3", "VEC4"};
    for (int i = 0; i < 4 && type; i++)
        if (strcmp(type, types[i]) == 0)
            a->n_components = i + 1;
    if (a->n_components == 0)
        return ln_error_set(err, LN_EFORMAT, "GLB: the %s accessor has an unsupported type", what);

    size_t ct;
    if (ln__json_member(acc, "componentType", 0, &ct) < 0)
        ct = 0;
    switch (ct) {
    case LN__GL_BYTE:
    case LN__GL_UNSIGNED_BYTE:
        a->comp_size = 1;
        break;
    case LN__GL_SHORT:
    case LN__GL_UNSIGNED_SHORT:
        a->comp_size = 2;
        break;
    case LN__GL_UNSIGNED_INT:
    case LN__GL_FLOAT:
        a->comp_size = 4;
        break;
    default:
        return ln_error_set(err, LN_EFORMAT, "GLB: the %s accessor has an invalid component type",
                            what);
    }
    a->component_type = (int)ct;
    const json_t *norm = json_object_get(acc, "normalized");
    if (norm && !json_is_boolean(norm))
        return ln_error_set(err, LN_EFORMAT, "GLB: the %s accessor's normalized is not true or false",
                            what);
    a->normalized = json_is_true(norm);

    size_t count, offset;
    if (!json_object_get(acc, "count") || ln__json_member(acc, "count", 0, &count) < 0 ||
        count == 0)
        return ln_error_set(err, LN_EFORMAT, "GLB: the %s accessor has an invalid count", what);
    if (ln__json_member(acc, "byteOffset", 0, &offset) < 0)
        return ln_error_set(err, LN_EFORMAT, "GLB: the %s accessor has an invalid byteOffset",
                            what);

    const json_t *bv = ln__json_item(g->root, "bufferViews", json_object_get(acc, "bufferView"));
    if (!bv)
        return ln_error_set(err, LN_EFORMAT, "GLB: the %s accessor has no valid buffer view", what);
    size_t buffer, bv_offset, bv_length, stride;
    if (ln__json_member(bv, "buffer", SIZE_MAX, &buffer) < 0 || buffer != 0)
        return ln_error_set(err, LN_EFORMAT, "GLB: buffer views must use buffer 0");
    if (!json_object_get(bv, "byteLength") ||
        ln__json_member(bv, "byteLength", 0, &bv_length) < 0 ||
        ln__json_member(bv, "byteOffset", 0, &bv_offset) < 0 ||
        ln__json_member(bv, "byteStride", 0, &stride) < 0)
        return ln_error_set(err, LN_EFORMAT, "GLB: a buffer view has invalid numbers");
    if (g->external)
        return ln_error_set(err, LN_EFORMAT, "GLB: external buffers are not supported");
    if (!g->bin)
        return ln_error_set(err, LN_EFORMAT, "GLB: the file has no binary chunk");
    if (bv_offset > g->bin_len || bv_length > g->bin_len - bv_offset)
        return ln_error_set(err, LN_EFORMAT, "GLB: a buffer view runs past the binary chunk");

    size_t elem = a->comp_size * (size_t)a->n_components;
    if (stride == 0)
        stride = elem;
    else if (stride < elem || stride > 252)
        return ln_error_set(err, LN_EFORMAT, "GLB: a buffer view has an invalid byteStride");
    /* Last element: offset + (count - 1) * stride + elem <= bv_length. */
    if (offset > bv_length || bv_length - offset < elem ||
        count - 1 > (bv_length - offset - elem) / stride)
        return ln_error_set(err, LN_EFORMAT, "GLB: the %s accessor runs past its buffer view",
                            what);
    a->data = g->bin + bv_offset + offset;
    a->count = count;
    a->stride = stride;
    return LN_OK;
}

/* Component k of element i (both in range), as a number; normalized
 * integers map to [0, 1] or [-1, 1] as glTF defines. */
static double ln__accessor_get(const struct ln__accessor *a, size_t i, int k)
{
    const uint8_t *p = a->data + i * a->stride + (size_t)k * a->comp_size;
    switch (a->component_type) {
    case LN__GL_BYTE: {
        double v = (int8_t)p[0];
        return a->normalized ? fmax(v / 127.0, -1.0) : v;
    }
    case LN__GL_UNSIGNED_BYTE:
        return a->normalized ? p[0] / 255.0 : p[0];
    case LN__GL_SHORT: {
        double v = (int16_t)(uint16_t)(p[0] | p[1] << 8);
        return a->normalized ? fmax(v / 32767.0, -1.0) : v;
    }
    case LN__GL_UNSIGNED_SHORT: {
        double v = (uint16_t)(p[0] | p[1] << 8);
        return a->normalized ? v / 65535.0 : v;
    }
    case LN__GL_UNSIGNED_INT:
        return ln__u32le(p);
    default:
        return ln__f32le(p);
    }
}

/* Returns 1 for a usable triangle primitive, 0 for one to skip (points,
 * lines, strips), or a negative error. */
static int ln__glb_primitive(const struct ln__glb *g, const json_t *prim, struct ln__glb_prim *p,
                             struct ln_error *err)
{
    memset(p, 0, sizeof *p);
    size_t mode;
    if (!json_is_object(prim) || ln__json_member(prim, "mode", LN__GL_TRIANGLES, &mode) < 0)
        return ln_error_set(err, LN_EFORMAT, "GLB: a mesh primitive is invalid");
    if (mode != LN__GL_TRIANGLES)
        return 0;
    const json_t *attrs = json_object_get(prim, "attributes");
    if (!json_is_object(attrs) || !json_object_get(attrs, "POSITION"))
        return ln_error_set(err, LN_EFORMAT, "GLB: a mesh primitive has no POSITION");
    p->vertex_keys[0] = json_object_get(attrs, "POSITION");
    p->vertex_keys[1] = json_object_get(attrs, "NORMAL");
    /* a textured mesh of ours keeps its vertex colours as _COLOR_0 */
    const json_t *col = json_object_get(attrs, "COLOR_0");
    if (!col)
        col = json_object_get(attrs, "_COLOR_0");
    p->vertex_keys[2] = col;
    p->vertex_keys[3] = json_object_get(attrs, "TEXCOORD_0");
    p->material = json_object_get(prim, "material");

    int rc = ln__glb_accessor(g, json_object_get(attrs, "POSITION"), "POSITION", &p->pos, err);
    if (rc < 0)
        return rc;
    if (p->pos.n_components != 3 || p->pos.component_type != LN__GL_FLOAT)
        return ln_error_set(err, LN_EFORMAT, "GLB: POSITION must be float VEC3");

    const json_t *nrm = json_object_get(attrs, "NORMAL");
    if (nrm) {
        rc = ln__glb_accessor(g, nrm, "NORMAL", &p->nrm, err);
        if (rc < 0)
            return rc;
        if (p->nrm.n_components != 3 || p->nrm.component_type != LN__GL_FLOAT ||
            p->nrm.count != p->pos.count)
            return ln_error_set(err, LN_EFORMAT,
                                "GLB: NORMAL must be float VEC3 with one per vertex");
        p->has_nrm = 1;
    }

    if (col) {
        rc = ln__glb_accessor(g, col, "COLOR_0", &p->col, err);
        if (rc < 0)
            return rc;
        int ct = p->col.component_type;
        int ok_type =
            ct == LN__GL_FLOAT ||
            (p->col.normalized && (ct == LN__GL_UNSIGNED_BYTE || ct == LN__GL_UNSIGNED_SHORT));
        if (p->col.n_components < 3 || !ok_type || p->col.count != p->pos.count)
            return ln_error_set(err, LN_EFORMAT,
                                "GLB: COLOR_0 must be VEC3 or VEC4 with one per vertex");
        p->has_col = 1;
    }

    const json_t *uv = json_object_get(attrs, "TEXCOORD_0");
    if (uv) {
        rc = ln__glb_accessor(g, uv, "TEXCOORD_0", &p->uv, err);
        if (rc < 0)
            return rc;
        int ct = p->uv.component_type;
        int ok_type =
            ct == LN__GL_FLOAT ||
            (p->uv.normalized && (ct == LN__GL_UNSIGNED_BYTE || ct == LN__GL_UNSIGNED_SHORT));
        if (p->uv.n_components != 2 || !ok_type || p->uv.count != p->pos.count)
            return ln_error_set(err, LN_EFORMAT,
                                "GLB: TEXCOORD_0 must be VEC2 with one per vertex");
        p->has_uv = 1;
    }

    const json_t *idx = json_object_get(prim, "indices");
    if (idx) {
        rc = ln__glb_accessor(g, idx, "indices", &p->idx, err);
        if (rc < 0)
            return rc;
        int ct = p->idx.component_type;
        if (p->idx.n_components != 1 || p->idx.normalized ||
            (ct != LN__GL_UNSIGNED_BYTE && ct != LN__GL_UNSIGNED_SHORT &&
             ct != LN__GL_UNSIGNED_INT))
            return ln_error_set(err, LN_EFORMAT, "GLB: indices must be unsigned integers");
        if (p->idx.count % 3 != 0)
            return ln_error_set(err, LN_EFORMAT, "GLB: the index count is not a multiple of 3");
        p->has_idx = 1;
        p->n_faces = p->idx.count / 3;
    } else {
        if (p->pos.count % 3 != 0)
            return ln_error_set(err, LN_EFORMAT,
                                "GLB: the vertex count of an unindexed primitive is not a "
                                "multiple of 3");
        p->n_faces = p->pos.count / 3;
    }
    return 1;
}

/* Copies one primitive's faces into out at face base f0, and its vertices
 * at vertex base v0 unless an earlier primitive already placed them. */
static int ln__glb_fill(const struct ln__glb_prim *p, struct ln_mesh *out, size_t v0, size_t f0,
                        int with_vertices, struct ln_error *err)
{
    for (size_t i = 0; i < p->pos.count && with_vertices; i++) {
        float *dst = out->positions + 3 * (v0 + i);
        for (int k = 0; k < 3; k++) {
            dst[k] = (float)ln__accessor_get(&p->pos, i, k);
            if (!isfinite(dst[k]))
                return ln_error_set(err, LN_EFORMAT, "GLB: vertex %zu has a non-finite position",
                                    i);
        }
        if (out->normals) {
            float n[3];
            for (int k = 0; k < 3; k++)
                n[k] = (float)ln__accessor_get(&p->nrm, i, k);
            ln__unit3(n, out->normals + 3 * (v0 + i));
        }
        if (out->colors) {
            float *c = out->colors + 3 * (v0 + i);
            for (int k = 0; k < 3; k++)
                c[k] = p->has_col
                           ? ln_linear_to_srgb(ln__clamp01((float)ln__accessor_get(&p->col, i, k)))
                           : 1.0f;
        }
        if (out->uvs)
            for (int k = 0; k < 2; k++) {
                float t = (float)ln__accessor_get(&p->uv, i, k);
                if (!isfinite(t))
                    return ln_error_set(err, LN_EFORMAT,
                                        "GLB: vertex %zu has non-finite texture coordinates", i);
                out->uvs[2 * (v0 + i) + (size_t)k] = t;
            }
    }
    uint32_t *dst = out->indices + 3 * f0;
    for (size_t i = 0; i < p->n_faces * 3; i++) {
        double v = p->has_idx ? ln__accessor_get(&p->idx, i, 0) : (double)i;
        if (v >= (double)p->pos.count)
            return ln_error_set(err, LN_EFORMAT, "GLB: index %.0f is out of range (%zu vertices)",
                                v, p->pos.count);
        dst[i] = (uint32_t)(v0 + (size_t)v);
    }
    return LN_OK;
}

/* Whether two primitives read their vertices from the same accessors. */
static int ln__glb_same_vertices(const struct ln__glb_prim *a, const struct ln__glb_prim *b)
{
    for (int k = 0; k < 4; k++) {
        const json_t *x = a->vertex_keys[k], *y = b->vertex_keys[k];
        if ((x || y) && !(x && y && json_equal(x, y)))
            return 0;
    }
    return 1;
}

/* Walks every primitive of every mesh; with out == NULL it only validates
 * and counts, otherwise it fills out. */
struct ln__glb_counts {
    size_t n_vertices, n_faces;
    int all_normals, any_colors, all_uvs;
    const json_t *material; /* the first primitive's material */
    int one_material;       /* every primitive names that material */
};

static int ln__glb_walk(const struct ln__glb *g, struct ln_mesh *out, struct ln__glb_counts *c,
                        struct ln_error *err)
{
    const json_t *meshes = json_object_get(g->root, "meshes");
    if (!json_is_array(meshes) || json_array_size(meshes) == 0)
        return ln_error_set(err, LN_EFORMAT, "GLB: the file holds no meshes");
    size_t nv = 0, nf = 0, prev_v0 = 0;
    int normals = 1, colors = 0, uvs = 1, have_prev = 0, one_material = 1, first = 1;
    const json_t *material = NULL;
    struct ln__glb_prim prev;
    for (size_t mi = 0; mi < json_array_size(meshes); mi++) {
        const json_t *prims = json_object_get(json_array_get(meshes, mi), "primitives");
        if (!json_is_array(prims))
            return ln_error_set(err, LN_EFORMAT, "GLB: mesh %zu has no primitives", mi);
        for (size_t pi = 0; pi < json_array_size(prims); pi++) {
            struct ln__glb_prim p;
            int rc = ln__glb_primitive(g, json_array_get(prims, pi), &p, err);
            if (rc < 0)
                return rc;
            if (rc == 0)
                continue;
            /* Primitives that differ only in material usually follow one
             * another and share their vertex accessors: they share the
             * mesh's vertices too. */
            int shared = have_prev && ln__glb_same_vertices(&p, &prev);
            size_t v0 = shared ? prev_v0 : nv;
            if (out) {
                rc = ln__glb_fill(&p, out, v0, nf, !shared, err);
                if (rc < 0)
                    return rc;
            }
            /* Each count is bounded by the BIN chunk, so these sums cannot
             * wrap before the reuse limit below stops them. */
            if (!shared)
                nv += p.pos.count;
            nf += p.n_faces;
            prev = p;
            prev_v0 = v0;
            have_prev = 1;
            if (nv / LN__GLB_MAX_REUSE > g->bin_len / 12 || nf / LN__GLB_MAX_REUSE > g->bin_len / 3)
                return ln_error_set(err, LN_EFORMAT,
                                    "GLB: primitives reuse the same data too many times");
            normals &= p.has_nrm;
            colors |= p.has_col;
            uvs &= p.has_uv;
            if (first)
                material = p.material, first = 0;
            else if (!(material && p.material && json_equal(material, p.material)))
                one_material = 0;
        }
    }
    if (nf == 0)
        return ln_error_set(err, LN_EFORMAT, "GLB: the file holds no triangles");
    if (nv > UINT32_MAX)
        return ln_error_set(err, LN_EFORMAT, "GLB: too many vertices (%zu)", nv);
    c->n_vertices = nv;
    c->n_faces = nf;
    c->all_normals = normals;
    c->any_colors = colors;
    c->all_uvs = uvs;
    c->material = material;
    c->one_material = one_material && material;
    return LN_OK;
}

/* The base colour image of the one material every primitive uses, when it
 * is a PNG or JPEG inside the file: copied into out->texture. Anything else
 * (no texture, an image by URI, several materials) leaves none. */
static int ln__glb_texture(const struct ln__glb *g, const struct ln__glb_counts *c,
                           struct ln_mesh *out, struct ln_error *err)
{
    if (!c->one_material || !c->all_uvs)
        return LN_OK;
    const json_t *mat = ln__json_item(g->root, "materials", c->material);
    const json_t *bct =
        json_object_get(json_object_get(mat, "pbrMetallicRoughness"), "baseColorTexture");
    size_t tex_coord;
    if (!json_is_object(bct) || ln__json_member(bct, "texCoord", 0, &tex_coord) < 0 ||
        tex_coord != 0)
        return LN_OK;
    const json_t *tex = ln__json_item(g->root, "textures", json_object_get(bct, "index"));
    const json_t *img = tex ? ln__json_item(g->root, "images", json_object_get(tex, "source"))
                            : NULL;
    const char *mime = json_string_value(json_object_get(img, "mimeType"));
    const json_t *bv = img ? ln__json_item(g->root, "bufferViews",
                                           json_object_get(img, "bufferView"))
                           : NULL;
    size_t off, len, buf;
    if (!bv || !mime || (strcmp(mime, "image/png") != 0 && strcmp(mime, "image/jpeg") != 0) ||
        !g->bin || ln__json_member(bv, "buffer", SIZE_MAX, &buf) < 0 || buf != 0 ||
        ln__json_member(bv, "byteOffset", 0, &off) < 0 ||
        ln__json_member(bv, "byteLength", SIZE_MAX, &len) < 0)
        return LN_OK;
    if (off > g->bin_len || len > g->bin_len - off || len == 0)
        return ln_error_set(err, LN_EFORMAT, "GLB: the texture's image runs past the buffer");
    out->texture.data = ln_alloc_array(len, 1, 0, "mesh texture", err);
    if (!out->texture.data)
        return err ? err->code : LN_ENOMEM;
    memcpy(out->texture.data, g->bin + off, len);
    out->texture.size = len;
    out->texture.jpeg = strcmp(mime, "image/jpeg") == 0;
    return LN_OK;
}

static int ln__glb_decode_document(struct ln__glb *g, struct ln_mesh *out, struct ln_error *err)
{
    const json_t *root = g->root;
    if (!json_is_object(root))
        return ln_error_set(err, LN_EFORMAT, "GLB: the JSON chunk is not an object");
    const char *version =
        json_string_value(json_object_get(json_object_get(root, "asset"), "version"));
    if (!version || strncmp(version, "2.", 2) != 0)
        return ln_error_set(err, LN_EFORMAT, "GLB: not a glTF 2.0 asset");

    /* Geometry compression changes what accessors mean; refuse it rather
     * than read garbage. Other required extensions (materials) do not
     * affect the mesh. */
    static const char *const unsupported[] = {"KHR_draco_mesh_compression",
                                              "EXT_meshopt_compression", "KHR_mesh_quantization"};
    const json_t *required = json_object_get(root, "extensionsRequired");
    for (size_t i = 0; i < json_array_size(required); i++) {
        const char *name = json_string_value(json_array_get(required, i));
        for (size_t k = 0; name && k < sizeof unsupported / sizeof *unsupported; k++)
            if (strcmp(name, unsupported[k]) == 0)
                return ln_error_set(err, LN_EFORMAT, "GLB: extension %s is not supported", name);
    }

    const json_t *buffer = json_array_get(json_object_get(root, "buffers"), 0);
    if (json_is_object(buffer)) {
        size_t blen;
        if (json_object_get(buffer, "uri")) {
            g->external = 1;
        } else if (ln__json_member(buffer, "byteLength", SIZE_MAX, &blen) < 0 || !g->bin ||
                   blen > g->bin_len) {
            return ln_error_set(err, LN_EFORMAT, "GLB: buffer 0 does not match the binary chunk");
        } else {
            g->bin_len = blen;
        }
    } else {
        g->bin = NULL;
        g->bin_len = 0;
    }

    struct ln__glb_counts c;
    int rc = ln__glb_walk(g, NULL, &c, err);
    if (rc < 0)
        return rc;
    rc = ln_mesh_alloc(out, c.n_vertices, c.n_faces, c.any_colors, err);
    if (rc < 0)
        return rc;
    if (c.all_normals) {
        out->normals = ln_alloc_array(c.n_vertices, 3 * sizeof(float), 0, "mesh normals", err);
        if (!out->normals)
            return err ? err->code : LN_ENOMEM;
    }
    if (c.all_uvs) {
        out->uvs = ln_alloc_array(c.n_vertices, 2 * sizeof(float), 0, "mesh UVs", err);
        if (!out->uvs)
            return err ? err->code : LN_ENOMEM;
    }
    rc = ln__glb_walk(g, out, &c, err);
    if (rc < 0)
        return rc;
    return ln__glb_texture(g, &c, out, err);
}

int ln__glb_decode(const uint8_t *data, size_t len, struct ln_mesh *out, struct ln_error *err)
{
    if (len < 12)
        return ln_error_set(err, LN_EFORMAT, "GLB: the file is too short for a header");
    if (ln__u32le(data) != LN__GLB_MAGIC)
        return ln_error_set(err, LN_EFORMAT, "not a GLB file (bad magic number)");
    if (ln__u32le(data + 4) != 2)
        return ln_error_set(err, LN_EFORMAT, "GLB: version %u is not supported",
                            ln__u32le(data + 4));
    if (ln__u32le(data + 8) != len)
        return ln_error_set(err, LN_EFORMAT, "GLB: the header says %u bytes but the file has %zu",
                            ln__u32le(data + 8), len);

    const uint8_t *json = NULL;
    size_t json_len = 0;
    struct ln__glb g = {0};
    size_t pos = 12;
    for (int chunk = 0; pos < len; chunk++) {
        if (len - pos < 8)
            return ln_error_set(err, LN_EFORMAT, "GLB: chunk %d is truncated", chunk);
        size_t clen = ln__u32le(data + pos);
        uint32_t ctype = ln__u32le(data + pos + 4);
        if (clen > len - pos - 8)
            return ln_error_set(err, LN_EFORMAT, "GLB: chunk %d runs past the end of the file",
                                chunk);
        const uint8_t *body = data + pos + 8;
        if (chunk == 0) {
            if (ctype != LN__GLB_CHUNK_JSON)
                return ln_error_set(err, LN_EFORMAT, "GLB: the first chunk is not JSON");
            json = body;
            json_len = clen;
        } else if (chunk == 1 && ctype == LN__GLB_CHUNK_BIN) {
            g.bin = body;
            g.bin_len = clen;
        }
        pos += 8 + clen;
    }
    if (!json)
        return ln_error_set(err, LN_EFORMAT, "GLB: the file has no JSON chunk");
    while (json_len > 0 && json[json_len - 1] == 0)
        json_len--; /* some writers pad with NULs instead of spaces */

    json_error_t jerr;
    json_t *root = json_loadb((const char *)json, json_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return ln_error_set(err, LN_EFORMAT, "GLB: invalid JSON at line %d: %s", jerr.line,
                            jerr.text);
    g.root = root;
    int rc = ln__glb_decode_document(&g, out, err);
    json_decref(root);
    return rc;
}
