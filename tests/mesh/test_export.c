/* Unit tests of the mesh files: round trips through every format, the GLB
 * container and document, the sRGB transfer functions, readers fed
 * truncated, lying and random bytes, atomic saves and out-of-memory
 * handling. Also leaves sample GLBs in $LN_TEST_TMP/export_glb/ for the
 * glTF-Validator test (gltf_validator_export), which runs after this one. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <zip.h>

#include "ln_alloc.h"
#include "ln_export.h"
#include "ln_image.h"
#include "ln_uv.h"
#include "ln_file.h"
#include "ln_mesh.h"

static const enum ln_mesh_format all_formats[] = {LN_MESH_FORMAT_GLB, LN_MESH_FORMAT_OBJ,
                                                  LN_MESH_FORMAT_PLY, LN_MESH_FORMAT_STL};

/* ---- meshes ---------------------------------------------------------- */

/* A UV sphere of radius 1: poles plus (stacks - 1) rings of `slices`
 * vertices, faces counter-clockwise seen from outside. Colours follow the
 * position; normals equal the position when with_normals. */
static void make_sphere(struct ln_mesh *m, int stacks, int slices, int colored, int with_normals)
{
    size_t nv = 2 + (size_t)(stacks - 1) * (size_t)slices;
    size_t nf = 2 * (size_t)slices * (size_t)(stacks - 1);
    struct ln_error err = {0};
    assert_ok(ln_mesh_alloc(m, nv, nf, colored, &err), err);
    float *p = m->positions;
    p[0] = 0.0f, p[1] = 1.0f, p[2] = 0.0f;
    size_t v = 1;
    for (int i = 1; i < stacks; i++) {
        double theta = M_PI * i / stacks;
        for (int j = 0; j < slices; j++, v++) {
            double phi = 2.0 * M_PI * j / slices;
            p[3 * v] = (float)(sin(theta) * sin(phi));
            p[3 * v + 1] = (float)cos(theta);
            p[3 * v + 2] = (float)(sin(theta) * cos(phi));
        }
    }
    p[3 * v] = 0.0f, p[3 * v + 1] = -1.0f, p[3 * v + 2] = 0.0f;
    size_t south = v;

    uint32_t *t = m->indices;
#define RING(i, j) ((uint32_t)(1 + ((i)-1) * slices + ((j) % slices)))
    for (int j = 0; j < slices; j++) {
        *t++ = 0, *t++ = RING(1, j), *t++ = RING(1, j + 1);
        for (int i = 1; i < stacks - 1; i++) {
            uint32_t a = RING(i, j), b = RING(i + 1, j), c = RING(i + 1, j + 1), d = RING(i, j + 1);
            *t++ = a, *t++ = b, *t++ = c;
            *t++ = a, *t++ = c, *t++ = d;
        }
        *t++ = RING(stacks - 1, j), *t++ = (uint32_t)south, *t++ = RING(stacks - 1, j + 1);
    }
#undef RING
    assert_int_equal((size_t)(t - m->indices), 3 * nf);
    if (colored)
        for (size_t i = 0; i < nv * 3; i++)
            m->colors[i] = 0.5f + 0.5f * p[i];
    if (with_normals) {
        m->normals = malloc(nv * 3 * sizeof(float));
        memcpy(m->normals, p, nv * 3 * sizeof(float));
    }
}

/* The unit cube around the origin, 8 shared vertices, 12 outward faces. */
static void make_cube(struct ln_mesh *m)
{
    static const float pos[24] = {-0.5f, -0.5f, -0.5f, 0.5f,  -0.5f, -0.5f, 0.5f, 0.5f,
                                  -0.5f, -0.5f, 0.5f,  -0.5f, -0.5f, -0.5f, 0.5f, 0.5f,
                                  -0.5f, 0.5f,  0.5f,  0.5f,  0.5f,  -0.5f, 0.5f, 0.5f};
    static const uint32_t idx[36] = {0, 3, 2, 0, 2, 1, 4, 5, 6, 4, 6, 7, 0, 1, 5, 0, 5, 4,
                                     3, 7, 6, 3, 6, 2, 0, 4, 7, 0, 7, 3, 1, 2, 6, 1, 6, 5};
    struct ln_error err = {0};
    assert_ok(ln_mesh_alloc(m, 8, 12, 0, &err), err);
    memcpy(m->positions, pos, sizeof pos);
    memcpy(m->indices, idx, sizeof idx);
}

static void encode(const struct ln_mesh *m, enum ln_mesh_format fmt, struct ln_buf *b)
{
    struct ln_error err = {0};
    memset(b, 0, sizeof *b);
    assert_ok(ln_mesh_encode(m, fmt, b, &err), err);
    assert_true(b->len > 0);
}

static void roundtrip(const struct ln_mesh *m, enum ln_mesh_format fmt, struct ln_mesh *back)
{
    struct ln_buf b;
    struct ln_error err = {0};
    encode(m, fmt, &b);
    assert_ok(ln_mesh_decode(b.data, b.len, fmt, back, &err), err);
    ln_buf_free(&b);
}

static void assert_same_positions(const struct ln_mesh *a, const struct ln_mesh *b, double tol)
{
    assert_int_equal(a->n_vertices, b->n_vertices);
    for (size_t i = 0; i < a->n_vertices * 3; i++)
        assert_near(b->positions[i], a->positions[i], tol);
}

static void assert_same_indices(const struct ln_mesh *a, const struct ln_mesh *b)
{
    assert_int_equal(a->n_faces, b->n_faces);
    assert_memory_equal(a->indices, b->indices, a->n_faces * 3 * sizeof(uint32_t));
}

static void assert_unit_normals(const struct ln_mesh *m)
{
    assert_non_null(m->normals);
    for (size_t i = 0; i < m->n_vertices; i++) {
        const float *n = m->normals + 3 * i;
        assert_near(sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]), 1.0, 1e-5);
    }
}

/* ---- sRGB ------------------------------------------------------------ */

static void test_srgb_linear(void **state)
{
    assert_near(ln_srgb_to_linear(0.5f), 0.21404, 1e-5);
    assert_near(ln_srgb_to_linear(0.5f), 0.214041140, 1e-6);
    assert_near(ln_srgb_to_linear(0.0f), 0.0, 0.0);
    assert_near(ln_srgb_to_linear(1.0f), 1.0, 1e-7);
    assert_near(ln_srgb_to_linear(0.04045f), 0.04045 / 12.92, 1e-7);
    assert_near(ln_linear_to_srgb(0.0f), 0.0, 0.0);
    assert_near(ln_linear_to_srgb(1.0f), 1.0, 1e-7);
    assert_near(ln_linear_to_srgb(0.214041140f), 0.5, 1e-6);
    assert_near(ln_linear_to_srgb(0.0031308f), 0.04045, 1e-6);
    for (int i = 0; i <= 1000; i++) {
        float c = (float)i / 1000.0f;
        assert_near(ln_linear_to_srgb(ln_srgb_to_linear(c)), c, 1e-6);
        assert_near(ln_srgb_to_linear(ln_linear_to_srgb(c)), c, 1e-6);
    }
    /* Monotonic across the junction of the two pieces. */
    float prev = -1.0f;
    for (int i = 0; i <= 2000; i++) {
        float l = ln_srgb_to_linear(0.03f + (float)i * 0.00001f);
        assert_true(l > prev);
        prev = l;
    }
}

static void test_format_names(void **state)
{
    assert_int_equal(ln_mesh_format_parse("glb"), LN_MESH_FORMAT_GLB);
    assert_int_equal(ln_mesh_format_parse("OBJ"), LN_MESH_FORMAT_OBJ);
    assert_int_equal(ln_mesh_format_parse("Ply"), LN_MESH_FORMAT_PLY);
    assert_int_equal(ln_mesh_format_parse("stl"), LN_MESH_FORMAT_STL);
    assert_int_equal(ln_mesh_format_parse("gltf"), -1);
    assert_int_equal(ln_mesh_format_parse(""), -1);
    assert_int_equal(ln_mesh_format_parse(NULL), -1);
    assert_int_equal(ln_mesh_format_from_path("out/chair.glb"), LN_MESH_FORMAT_GLB);
    assert_int_equal(ln_mesh_format_from_path("CHAIR.STL"), LN_MESH_FORMAT_STL);
    assert_int_equal(ln_mesh_format_from_path("a.b/chair"), -1);
    assert_int_equal(ln_mesh_format_from_path("chair.png"), -1);
    assert_int_equal(ln_mesh_format_from_path("x.tar.ply"), LN_MESH_FORMAT_PLY);
    assert_string_equal(ln_mesh_format_ext(LN_MESH_FORMAT_OBJ), "obj");
    assert_string_equal(ln_mesh_format_mime(LN_MESH_FORMAT_GLB), "model/gltf-binary");
    assert_string_equal(ln_mesh_format_mime(LN_MESH_FORMAT_OBJ), "model/obj");
    assert_string_equal(ln_mesh_format_mime(LN_MESH_FORMAT_PLY), "application/x-ply");
    assert_string_equal(ln_mesh_format_mime(LN_MESH_FORMAT_STL), "model/stl");
}

/* ---- round trips ----------------------------------------------------- */

static void test_roundtrip_glb(void **state)
{
    struct ln_mesh m = {0}, back = {0};
    make_sphere(&m, 12, 20, 1, 1);
    roundtrip(&m, LN_MESH_FORMAT_GLB, &back);
    assert_same_positions(&m, &back, 1e-6);
    assert_same_indices(&m, &back);
    assert_non_null(back.colors);
    for (size_t i = 0; i < m.n_vertices * 3; i++) {
        assert_near(back.colors[i], m.colors[i], 1e-6);
        assert_near(back.normals[i], m.normals[i], 1e-6);
    }
    assert_unit_normals(&back);
    ln_mesh_free(&back);
    ln_mesh_free(&m);
}

static void test_roundtrip_obj(void **state)
{
    struct ln_mesh m = {0}, back = {0};
    make_sphere(&m, 12, 20, 1, 0);
    roundtrip(&m, LN_MESH_FORMAT_OBJ, &back);
    assert_same_positions(&m, &back, 1e-6);
    assert_same_indices(&m, &back);
    assert_non_null(back.colors);
    for (size_t i = 0; i < m.n_vertices * 3; i++)
        assert_near(back.colors[i], m.colors[i], 1e-6);
    assert_unit_normals(&back);
    ln_mesh_free(&back);
    ln_mesh_free(&m);
}

static void test_roundtrip_ply(void **state)
{
    struct ln_mesh m = {0}, back = {0};
    make_sphere(&m, 12, 20, 1, 1);
    roundtrip(&m, LN_MESH_FORMAT_PLY, &back);
    assert_same_positions(&m, &back, 1e-6);
    assert_same_indices(&m, &back);
    assert_non_null(back.colors);
    for (size_t i = 0; i < m.n_vertices * 3; i++) {
        assert_near(back.colors[i], m.colors[i], 1.0 / 255.0);
        assert_near(back.normals[i], m.normals[i], 1e-6);
    }
    ln_mesh_free(&back);
    ln_mesh_free(&m);
}

static void test_roundtrip_stl(void **state)
{
    struct ln_mesh m = {0}, back = {0};
    make_sphere(&m, 12, 20, 1, 0);
    roundtrip(&m, LN_MESH_FORMAT_STL, &back);
    /* Welding restores the shared vertices (the sphere has no duplicate
     * positions) and every face keeps its corners. */
    assert_int_equal(back.n_faces, m.n_faces);
    assert_int_equal(back.n_vertices, m.n_vertices);
    assert_null(back.colors);
    for (size_t f = 0; f < m.n_faces; f++)
        for (int k = 0; k < 3; k++)
            for (int a = 0; a < 3; a++)
                assert_near(back.positions[3 * back.indices[3 * f + k] + a],
                            m.positions[3 * m.indices[3 * f + k] + a], 0.0);
    ln_mesh_free(&back);
    ln_mesh_free(&m);
}

static void test_roundtrip_uncolored(void **state)
{
    struct ln_mesh cube = {0};
    make_cube(&cube);
    for (size_t i = 0; i < 4; i++) {
        struct ln_mesh back = {0};
        roundtrip(&cube, all_formats[i], &back);
        assert_null(back.colors);
        assert_int_equal(back.n_faces, 12);
        assert_int_equal(back.n_vertices, 8);
        if (all_formats[i] != LN_MESH_FORMAT_STL) {
            assert_same_positions(&cube, &back, 1e-6);
            assert_same_indices(&cube, &back);
            assert_unit_normals(&back);
        }
        ln_mesh_free(&back);
    }
    assert_null(cube.normals); /* the encoder computed them on the side */
    ln_mesh_free(&cube);
}

static void test_encode_refuses_bad_meshes(void **state)
{
    struct ln_mesh empty = {0}, cube = {0};
    struct ln_error err = {0};
    for (size_t i = 0; i < 4; i++) {
        struct ln_buf b = {0};
        assert_int_equal(ln_mesh_encode(&empty, all_formats[i], &b, &err), LN_EINVAL);
        assert_string_equal(err.message, "the mesh is empty");
        assert_int_equal(b.len, 0);
        ln_buf_free(&b);
    }
    make_cube(&cube);
    struct ln_buf b = {0};
    cube.indices[7] = 8;
    assert_int_equal(ln_mesh_encode(&cube, LN_MESH_FORMAT_GLB, &b, &err), LN_EINVAL);
    cube.indices[7] = 5;
    cube.positions[4] = NAN;
    assert_int_equal(ln_mesh_encode(&cube, LN_MESH_FORMAT_OBJ, &b, &err), LN_EINVAL);
    assert_int_equal(b.len, 0);
    ln_buf_free(&b);
    ln_mesh_free(&cube);
}

/* ---- GLB layout ------------------------------------------------------ */

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static float rdf(const uint8_t *p)
{
    uint32_t u = rd32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static json_int_t jint(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        fail_msg("\"%s\" is not an integer", key);
    return json_integer_value(v);
}

/* Checks the container and the document of an encoded mesh. */
static void check_glb(const struct ln_mesh *m, const uint8_t *d, size_t len)
{
    assert_true(len >= 28);
    assert_memory_equal(d, "glTF", 4);
    assert_int_equal(rd32(d + 4), 2);
    assert_int_equal(rd32(d + 8), len);
    size_t jlen = rd32(d + 12);
    assert_int_equal(rd32(d + 16), 0x4E4F534A);
    assert_int_equal(jlen % 4, 0);
    assert_true(20 + jlen + 8 <= len);
    const uint8_t *bin_hdr = d + 20 + jlen;
    size_t blen = rd32(bin_hdr);
    assert_int_equal(rd32(bin_hdr + 4), 0x004E4942);
    assert_int_equal(blen % 4, 0);
    assert_int_equal(12 + 8 + jlen + 8 + blen, len);
    const uint8_t *bin = bin_hdr + 8;

    json_error_t jerr;
    json_t *doc = json_loadb((const char *)d + 20, jlen, 0, &jerr);
    if (!doc)
        fail_msg("GLB JSON does not parse: %s", jerr.text);
    const json_t *asset = json_object_get(doc, "asset");
    assert_string_equal(json_string_value(json_object_get(asset, "version")), "2.0");
    assert_string_equal(json_string_value(json_object_get(asset, "generator")),
                        "Lunar Nova " LN_VERSION_STRING);
    assert_int_equal(json_array_size(json_object_get(doc, "buffers")), 1);
    assert_int_equal(jint(json_array_get(json_object_get(doc, "buffers"), 0), "byteLength"), blen);

    const json_t *prim = json_array_get(
        json_object_get(json_array_get(json_object_get(doc, "meshes"), 0), "primitives"), 0);
    const json_t *attrs = json_object_get(prim, "attributes");
    const json_t *accessors = json_object_get(doc, "accessors");
    const json_t *views = json_object_get(doc, "bufferViews");
    assert_int_equal(json_array_size(json_object_get(doc, "meshes")), 1);
    assert_int_equal(json_array_size(json_object_get(doc, "nodes")), 1);
    assert_int_equal(json_array_size(json_object_get(doc, "scenes")), 1);

    /* Every view 4-byte aligned inside the buffer, with its target. */
    for (size_t i = 0; i < json_array_size(views); i++) {
        const json_t *v = json_array_get(views, i);
        assert_int_equal(jint(v, "byteOffset") % 4, 0);
        assert_true((size_t)(jint(v, "byteOffset") + jint(v, "byteLength")) <= blen);
    }
    const json_t *pos = json_array_get(accessors, (size_t)jint(attrs, "POSITION"));
    assert_int_equal(jint(pos, "componentType"), 5126);
    assert_string_equal(json_string_value(json_object_get(pos, "type")), "VEC3");
    assert_int_equal(jint(pos, "count"), m->n_vertices);
    float mn[3], mx[3];
    ln_mesh_bounds(m, mn, mx);
    for (size_t a = 0; a < 3; a++) {
        assert_true(json_real_value(json_array_get(json_object_get(pos, "min"), a)) ==
                    (double)mn[a]);
        assert_true(json_real_value(json_array_get(json_object_get(pos, "max"), a)) ==
                    (double)mx[a]);
    }
    const json_t *pos_view = json_array_get(views, (size_t)jint(pos, "bufferView"));
    assert_int_equal(jint(pos_view, "target"), 34962);
    const uint8_t *pos_data = bin + jint(pos_view, "byteOffset");
    assert_true(rdf(pos_data + 4) == m->positions[1]);

    const json_t *nrm = json_array_get(accessors, (size_t)jint(attrs, "NORMAL"));
    assert_int_equal(jint(nrm, "componentType"), 5126);
    const json_t *idx = json_array_get(accessors, (size_t)jint(prim, "indices"));
    assert_int_equal(jint(idx, "componentType"), 5125);
    assert_string_equal(json_string_value(json_object_get(idx, "type")), "SCALAR");
    assert_int_equal(jint(idx, "count"), 3 * m->n_faces);
    const json_t *idx_view = json_array_get(views, (size_t)jint(idx, "bufferView"));
    assert_int_equal(jint(idx_view, "target"), 34963);
    assert_int_equal(jint(prim, "mode"), 4);

    const json_t *col = json_object_get(attrs, "COLOR_0");
    if (m->colors) {
        const json_t *ca = json_array_get(accessors, (size_t)jint(attrs, "COLOR_0"));
        assert_int_equal(jint(ca, "componentType"), 5126);
        assert_string_equal(json_string_value(json_object_get(ca, "type")), "VEC3");
        const json_t *cv = json_array_get(views, (size_t)jint(ca, "bufferView"));
        const uint8_t *cd = bin + jint(cv, "byteOffset");
        for (size_t i = 0; i < 9; i++) /* linear, converted from the sRGB colours */
            assert_near(rdf(cd + 4 * i), ln_srgb_to_linear(m->colors[i]), 1e-7);
    } else {
        assert_null(col);
    }

    const json_t *mat =
        json_array_get(json_object_get(doc, "materials"), (size_t)jint(prim, "material"));
    const json_t *pbr = json_object_get(mat, "pbrMetallicRoughness");
    assert_non_null(pbr);
    assert_true(json_number_value(json_object_get(pbr, "metallicFactor")) == 0.0);
    assert_true(json_number_value(json_object_get(pbr, "roughnessFactor")) == 1.0);
    for (size_t i = 0; i < 4; i++)
        assert_true(json_number_value(json_array_get(json_object_get(pbr, "baseColorFactor"), i)) ==
                    1.0);
    json_decref(doc);
}

static void test_glb_layout(void **state)
{
    struct ln_mesh sphere = {0}, cube = {0};
    struct ln_buf b;
    make_sphere(&sphere, 8, 13, 1, 0);
    encode(&sphere, LN_MESH_FORMAT_GLB, &b);
    check_glb(&sphere, b.data, b.len);
    ln_buf_free(&b);
    make_cube(&cube);
    encode(&cube, LN_MESH_FORMAT_GLB, &b);
    check_glb(&cube, b.data, b.len);
    ln_buf_free(&b);
    ln_mesh_free(&sphere);
    ln_mesh_free(&cube);
}

static void test_encode_appends(void **state)
{
    struct ln_mesh cube = {0};
    struct ln_error err = {0};
    make_cube(&cube);
    struct ln_buf b = {0};
    ln_buf_append(&b, "prefix", 6);
    assert_ok(ln_mesh_encode(&cube, LN_MESH_FORMAT_STL, &b, &err), err);
    assert_int_equal(b.len, 6 + 84 + 12 * 50);
    assert_memory_equal(b.data, "prefix", 6);
    assert_true(memcmp(b.data + 6, "solid", 5) != 0);
    assert_int_equal(rd32(b.data + 6 + 80), 12);
    ln_buf_free(&b);
    ln_mesh_free(&cube);
}

/* ---- readers of other tools' files ----------------------------------- */

static int decode_text(const char *text, enum ln_mesh_format fmt, struct ln_mesh *m,
                       struct ln_error *err)
{
    /* An exact-size copy, so that any read past the end trips ASan. */
    size_t len = strlen(text);
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, text, len);
    int rc = ln_mesh_decode(copy, len, fmt, m, err);
    free(copy);
    return rc;
}

static void expect_format_error(const char *text, enum ln_mesh_format fmt)
{
    struct ln_mesh m = {0};
    struct ln_error err = {0};
    int rc = decode_text(text, fmt, &m, &err);
    if (rc != LN_EFORMAT)
        fail_msg("decoding %.60s gave %d (%s), expected LN_EFORMAT", text, rc, err.message);
    assert_true(err.message[0] != 0);
    assert_null(m.positions);
}

static void test_obj_reader(void **state)
{
    struct ln_mesh m = {0};
    struct ln_error err = {0};
    const char *obj = "# a comment\n"
                      "\n"
                      "mtllib scene.mtl\n"
                      "o quad\n"
                      "v 0 0 0\n"
                      "v 1 0 0 # trailing comment\n"
                      "v 1 1 0\r\n"
                      "v 0 1 0\n"
                      "vt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\n"
                      "vn 0 0 2\n"
                      "usemtl red\ns off\n"
                      "f 1/1/1 2/2/1 3/3/1 4/4/1\n" /* a quad, fanned */
                      "f -4/-4 -2/-2 -1/-1\n"       /* negative, v/t */
                      "f 1//1 3//1 4//1\n"          /* v//n */
                      "f 2 3 4";                    /* no final newline */
    assert_ok(decode_text(obj, LN_MESH_FORMAT_OBJ, &m, &err), err);
    assert_int_equal(m.n_vertices, 4);
    assert_int_equal(m.n_faces, 5);
    static const uint32_t want[15] = {0, 1, 2, 0, 2, 3, 0, 2, 3, 0, 2, 3, 1, 2, 3};
    assert_memory_equal(m.indices, want, sizeof want);
    assert_null(m.colors);
    assert_null(m.normals); /* not every corner has a normal */
    ln_mesh_free(&m);

    const char *colored = "v 0 0 0 1 0 0\nv 1 0 0 0 1 0\nv 0 1 0 0 0 1\nvn 0 0 1\n"
                          "f 1//1 2//1 3//1\n";
    assert_ok(decode_text(colored, LN_MESH_FORMAT_OBJ, &m, &err), err);
    assert_non_null(m.colors);
    assert_near(m.colors[0], 1.0, 0);
    assert_near(m.colors[4], 1.0, 0);
    assert_non_null(m.normals);
    assert_near(m.normals[2], 1.0, 0);
    ln_mesh_free(&m);

    expect_format_error("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 99\n", LN_MESH_FORMAT_OBJ);
    expect_format_error("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 0 1 2\n", LN_MESH_FORMAT_OBJ);
    expect_format_error("v 0 0 0\nv 1 0 0\nv 0 1 0\nf -4 -2 -1\n", LN_MESH_FORMAT_OBJ);
    expect_format_error("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1/2 2/1 3/1\nvt 0 0\n", LN_MESH_FORMAT_OBJ);
    expect_format_error("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1//2 2//2 3//2\nvn 0 0 1\n",
                        LN_MESH_FORMAT_OBJ);
    expect_format_error("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2\n", LN_MESH_FORMAT_OBJ);
    expect_format_error("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3x\n", LN_MESH_FORMAT_OBJ);
    expect_format_error("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 99999999999999999999\n",
                        LN_MESH_FORMAT_OBJ);
    expect_format_error("v 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", LN_MESH_FORMAT_OBJ);
    expect_format_error("v 0 0 nan\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", LN_MESH_FORMAT_OBJ);
    expect_format_error("v 0 0 0\nv 1 0 0\nv 0 1 0\n", LN_MESH_FORMAT_OBJ);
    expect_format_error("", LN_MESH_FORMAT_OBJ);
    expect_format_error("hello world, this is not a mesh\n", LN_MESH_FORMAT_OBJ);
    expect_format_error("{\"json\": true}\n", LN_MESH_FORMAT_OBJ);
}

static void test_ply_reader(void **state)
{
    struct ln_mesh m = {0};
    struct ln_error err = {0};
    /* ASCII, double positions, float colours, a quad, an extra property and
     * an extra element, int counts and int indices. */
    const char *ascii = "ply\r\nformat ascii 1.0\r\ncomment made by hand\r\n"
                        "element vertex 4\r\n"
                        "property double x\r\nproperty double y\r\nproperty double z\r\n"
                        "property float confidence\r\n"
                        "property float red\r\nproperty float green\r\nproperty float blue\r\n"
                        "element face 1\r\nproperty list int int vertex_index\r\n"
                        "element edge 1\r\nproperty int vertex1\r\nproperty int vertex2\r\n"
                        "end_header\r\n"
                        "0 0 0 0.9 1 0 0\r\n1 0 0 0.9 0 1 0\r\n1 1 0 0.9 0 0 1\r\n"
                        "0 1 0 0.9 0.5 0.5 0.5\r\n4 0 1 2 3\r\n0 1\r\n";
    assert_ok(decode_text(ascii, LN_MESH_FORMAT_PLY, &m, &err), err);
    assert_int_equal(m.n_vertices, 4);
    assert_int_equal(m.n_faces, 2);
    static const uint32_t want[6] = {0, 1, 2, 0, 2, 3};
    assert_memory_equal(m.indices, want, sizeof want);
    assert_non_null(m.colors);
    assert_near(m.colors[1 * 3 + 1], 1.0, 0);
    assert_near(m.colors[3 * 3], 0.5, 0);
    assert_near(m.positions[6], 1.0, 0);
    assert_null(m.normals);
    ln_mesh_free(&m);

    /* Binary big-endian: float x y z, uchar colours, uchar count + uint. */
    struct ln_buf b = {0};
    ln_buf_printf(&b, "ply\nformat binary_big_endian 1.0\nelement vertex 3\n"
                      "property float x\nproperty float y\nproperty float z\n"
                      "property uchar red\nproperty uchar green\nproperty uchar blue\n"
                      "element face 1\nproperty list uchar uint vertex_indices\nend_header\n");
    for (int v = 0; v < 3; v++) {
        float p[3] = {(float)(v == 1), (float)(v == 2), 0.25f};
        for (int k = 0; k < 3; k++) {
            uint32_t u;
            memcpy(&u, &p[k], 4);
            uint8_t be[4] = {(uint8_t)(u >> 24), (uint8_t)(u >> 16), (uint8_t)(u >> 8), (uint8_t)u};
            ln_buf_append(&b, be, 4);
        }
        uint8_t rgb[3] = {255, (uint8_t)(v * 100), 0};
        ln_buf_append(&b, rgb, 3);
    }
    uint8_t face[13] = {3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2};
    ln_buf_append(&b, face, sizeof face);
    assert_ok(ln_mesh_decode(b.data, b.len, LN_MESH_FORMAT_PLY, &m, &err), err);
    assert_int_equal(m.n_vertices, 3);
    assert_int_equal(m.n_faces, 1);
    assert_near(m.positions[3], 1.0, 0);
    assert_near(m.positions[2], 0.25, 0);
    assert_near(m.colors[0], 1.0, 0);
    assert_near(m.colors[7], 200.0 / 255.0, 1e-7);
    assert_int_equal(m.indices[2], 2);
    ln_mesh_free(&m);
    /* The same file claiming an index out of range. */
    b.data[b.len - 1] = 3;
    assert_int_equal(ln_mesh_decode(b.data, b.len, LN_MESH_FORMAT_PLY, &m, &err), LN_EFORMAT);
    ln_buf_free(&b);

    const char *head = "ply\nformat binary_little_endian 1.0\n";
    char text[512];
    snprintf(text, sizeof text,
             "%selement vertex 4000000000\nproperty float x\nproperty float y\n"
             "property float z\nelement face 1\nproperty list uchar uint vertex_indices\n"
             "end_header\n0123456789",
             head);
    expect_format_error(text, LN_MESH_FORMAT_PLY);
    snprintf(text, sizeof text,
             "%selement vertex 18446744073709551615\nproperty float x\nproperty float y\n"
             "property float z\nend_header\n",
             head);
    expect_format_error(text, LN_MESH_FORMAT_PLY);
    snprintf(text, sizeof text,
             "%selement vertex 99999999999999999999999\nproperty float x\nend_header\n", head);
    expect_format_error(text, LN_MESH_FORMAT_PLY);
    expect_format_error("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\n"
                        "property float y\nproperty float z\nelement face 1\n"
                        "property list uchar int vertex_indices\nend_header\n"
                        "0 0 0\n1 0 0\n0 1 0\n3 0 1 3\n",
                        LN_MESH_FORMAT_PLY);
    expect_format_error("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\n"
                        "property float y\nproperty float z\nelement face 1\n"
                        "property list uchar int vertex_indices\nend_header\n"
                        "0 0 0\n1 0 0\n0 1 0\n3 0 1 -1\n",
                        LN_MESH_FORMAT_PLY);
    expect_format_error("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\n"
                        "property float y\nproperty float z\nelement face 1\n"
                        "property list uchar int vertex_indices\nend_header\n"
                        "0 0 0\n1 0 0\n0 1 0\n2 0 1\n",
                        LN_MESH_FORMAT_PLY);
    expect_format_error("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\n"
                        "property float y\nproperty float z\nelement face 1\n"
                        "property list uchar int vertex_indices\nend_header\n"
                        "0 0 0\n1 0 zero\n0 1 0\n3 0 1 2\n",
                        LN_MESH_FORMAT_PLY);
    expect_format_error("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\n"
                        "property float y\nelement face 1\n"
                        "property list uchar int vertex_indices\nend_header\n"
                        "0 0\n1 0\n0 1\n3 0 1 2\n",
                        LN_MESH_FORMAT_PLY);
    expect_format_error("ply\nformat ascii 2.0\nend_header\n", LN_MESH_FORMAT_PLY);
    expect_format_error("ply\nformat ascii 1.0\nproperty float x\nend_header\n",
                        LN_MESH_FORMAT_PLY);
    expect_format_error("ply\nformat ascii 1.0\nelement vertex 1\nproperty quaternion x\n"
                        "end_header\n",
                        LN_MESH_FORMAT_PLY);
    expect_format_error("ply\nformat ascii 1.0\nelement vertex 1\n", LN_MESH_FORMAT_PLY);
    expect_format_error("PLY\n", LN_MESH_FORMAT_PLY);
    expect_format_error("", LN_MESH_FORMAT_PLY);
}

static void test_stl_reader(void **state)
{
    struct ln_mesh m = {0};
    struct ln_error err = {0};
    const char *ascii = "solid cube corner\n"
                        "  facet normal 0 0 1\n    outer loop\n"
                        "      vertex 0 0 0\n      vertex 1 0 0\n      vertex 0 1 0\n"
                        "    endloop\n  endfacet\n"
                        "  FACET NORMAL 0 0 -1\n    OUTER LOOP\n"
                        "      VERTEX -0 0 0\n      VERTEX 0 1 0\n      VERTEX 1.0 0 0\n"
                        "    ENDLOOP\n  ENDFACET\n"
                        "endsolid cube corner\n";
    assert_ok(decode_text(ascii, LN_MESH_FORMAT_STL, &m, &err), err);
    assert_int_equal(m.n_faces, 2);
    assert_int_equal(m.n_vertices, 3); /* welded, -0 equal to 0 */
    static const uint32_t want[6] = {0, 1, 2, 0, 2, 1};
    assert_memory_equal(m.indices, want, sizeof want);
    ln_mesh_free(&m);

    /* A binary file whose header starts with "solid", as some tools write. */
    struct ln_buf b = {0};
    char header[80] = "solid binary but really";
    ln_buf_append(&b, header, 80);
    ln_buf_u32le(&b, 1);
    float rec[12] = {0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0};
    for (int k = 0; k < 12; k++)
        ln_buf_f32le(&b, rec[k]);
    ln_buf_append(&b, "\0", 2);
    assert_ok(ln_mesh_decode(b.data, b.len, LN_MESH_FORMAT_STL, &m, &err), err);
    assert_int_equal(m.n_faces, 1);
    ln_mesh_free(&m);
    /* Claiming 2^32 - 1 triangles. */
    b.data[80] = b.data[81] = b.data[82] = b.data[83] = 0xff;
    assert_int_equal(ln_mesh_decode(b.data, b.len, LN_MESH_FORMAT_STL, &m, &err), LN_EFORMAT);
    assert_int_equal(ln_mesh_decode(b.data, 84, LN_MESH_FORMAT_STL, &m, &err), LN_EFORMAT);
    /* Zero triangles. */
    memset(b.data + 80, 0, 4);
    assert_int_equal(ln_mesh_decode(b.data, 84, LN_MESH_FORMAT_STL, &m, &err), LN_EFORMAT);
    /* A NaN corner. */
    b.data[80] = 1;
    float nan = NAN;
    memcpy(b.data + 84 + 12, &nan, 4);
    assert_int_equal(ln_mesh_decode(b.data, b.len, LN_MESH_FORMAT_STL, &m, &err), LN_EFORMAT);
    ln_buf_free(&b);

    expect_format_error("solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0\n"
                        "endloop\nendfacet\nendsolid x\n",
                        LN_MESH_FORMAT_STL);
    expect_format_error("solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\n"
                        "endloop\nendfacet\nendsolid x\n",
                        LN_MESH_FORMAT_STL);
    expect_format_error("solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\n"
                        "vertex 0 1 0\nendloop\nendfacet\n",
                        LN_MESH_FORMAT_STL);
    expect_format_error("solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 inf\n"
                        "vertex 1 0 0\nvertex 0 1 0\nendloop\nendfacet\nendsolid x\n",
                        LN_MESH_FORMAT_STL);
    expect_format_error("solid x\nendsolid x\n", LN_MESH_FORMAT_STL);
    expect_format_error("solid", LN_MESH_FORMAT_STL);
    expect_format_error("", LN_MESH_FORMAT_STL);
    expect_format_error("not an stl at all", LN_MESH_FORMAT_STL);
}

/* A GLB from a JSON document and binary bytes (padded as the spec says). */
static uint8_t *make_glb(const char *json, const void *bin, size_t bin_len, size_t *len)
{
    size_t jlen = strlen(json), jpad = (4 - jlen % 4) % 4, bpad = (4 - bin_len % 4) % 4;
    struct ln_buf b = {0};
    size_t total = 12 + 8 + jlen + jpad + (bin ? 8 + bin_len + bpad : 0);
    ln_buf_append(&b, "glTF", 4);
    ln_buf_u32le(&b, 2);
    ln_buf_u32le(&b, (uint32_t)total);
    ln_buf_u32le(&b, (uint32_t)(jlen + jpad));
    ln_buf_u32le(&b, 0x4E4F534A);
    ln_buf_append(&b, json, jlen);
    ln_buf_append(&b, "   ", jpad);
    if (bin) {
        ln_buf_u32le(&b, (uint32_t)(bin_len + bpad));
        ln_buf_u32le(&b, 0x004E4942);
        ln_buf_append(&b, bin, bin_len);
        ln_buf_append(&b, "\0\0\0", bpad);
    }
    assert_int_equal(b.len, total);
    *len = b.len;
    return b.data;
}

/* One triangle: 3 float positions (36 bytes), then ubyte RGBA colours
 * (12 bytes), then 3 ushort indices (6 bytes, padded to 8). */
static const char *const tri_json_fmt =
    "{\"asset\":{\"version\":\"2.0\"},"
    "\"meshes\":[{\"primitives\":[{\"attributes\":{\"POSITION\":0,\"COLOR_0\":1},"
    "\"indices\":2}%s]}],"
    "\"buffers\":[{\"byteLength\":56}],"
    "\"bufferViews\":[{\"buffer\":0,\"byteOffset\":0,\"byteLength\":%s},"
    "{\"buffer\":0,\"byteOffset\":36,\"byteLength\":12},"
    "{\"buffer\":0,\"byteOffset\":48,\"byteLength\":6}],"
    "\"accessors\":[{\"bufferView\":0,\"componentType\":5126,\"count\":%s,\"type\":\"VEC3\"},"
    "{\"bufferView\":1,\"componentType\":5121,\"normalized\":true,\"count\":3,"
    "\"type\":\"VEC4\"},"
    "{\"bufferView\":%s,\"componentType\":5123,\"count\":3,\"type\":\"SCALAR\"}]}";

static void tri_bin(uint8_t *bin, uint16_t last_index)
{
    float p[9] = {0, 0, 0, 1, 0, 0, 0, 1, 0};
    memset(bin, 0, 56);
    memcpy(bin, p, sizeof p);
    uint8_t c[12] = {255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 188, 255};
    memcpy(bin + 36, c, sizeof c);
    uint16_t idx[3] = {0, 1, last_index};
    memcpy(bin + 48, idx, sizeof idx);
}

static int decode_glb_variant(const char *extra_prims, const char *view_len, const char *count,
                              const char *idx_view, uint16_t last_index, struct ln_mesh *m,
                              struct ln_error *err)
{
    char json[2048];
    snprintf(json, sizeof json, tri_json_fmt, extra_prims, view_len, count, idx_view);
    uint8_t bin[56];
    tri_bin(bin, last_index);
    size_t len;
    uint8_t *glb = make_glb(json, bin, sizeof bin, &len);
    int rc = ln_mesh_decode(glb, len, LN_MESH_FORMAT_GLB, m, err);
    free(glb);
    return rc;
}

/* An accessor's "normalized" of another type than true/false is refused
 * (it was read as false, turning 0..255 colours into 0..255 floats). */
static void test_glb_normalized_not_boolean(void **state)
{
    char json[2048];
    snprintf(json, sizeof json, tri_json_fmt, "", "36", "3", "2");
    char *at = strstr(json, "\"normalized\":true");
    assert_non_null(at);
    memcpy(at, "\"normalized\":1   ", strlen("\"normalized\":true"));
    uint8_t bin[56];
    tri_bin(bin, 2);
    size_t len;
    uint8_t *glb = make_glb(json, bin, sizeof bin, &len);
    struct ln_mesh m = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_mesh_decode(glb, len, LN_MESH_FORMAT_GLB, &m, &err), LN_EFORMAT);
    assert_non_null(strstr(err.message, "normalized is not true or false"));
    ln_mesh_free(&m);
    free(glb);
}

static void test_glb_reader(void **state)
{
    struct ln_mesh m = {0};
    struct ln_error err = {0};
    /* A hand-made file with ushort indices and normalized ubyte RGBA. */
    assert_ok(decode_glb_variant("", "36", "3", "2", 2, &m, &err), err);
    assert_int_equal(m.n_vertices, 3);
    assert_int_equal(m.n_faces, 1);
    assert_near(m.positions[3], 1.0, 0);
    assert_near(m.colors[0], 1.0, 1e-6);
    assert_near(m.colors[8], ln_linear_to_srgb(188.0f / 255.0f), 1e-6);
    assert_null(m.normals);
    ln_mesh_free(&m);
    /* A second primitive sharing the data, and a points primitive that is
     * skipped. */
    assert_ok(decode_glb_variant(",{\"attributes\":{\"POSITION\":0}},"
                                 "{\"attributes\":{\"POSITION\":0},\"mode\":0}",
                                 "36", "3", "2", 2, &m, &err),
              err);
    assert_int_equal(m.n_vertices, 6);
    assert_int_equal(m.n_faces, 2);
    assert_int_equal(m.indices[5], 5);
    assert_near(m.colors[3 * 3], 1.0, 0); /* white where a primitive has no colour */
    ln_mesh_free(&m);
    /* A second material over the same vertex accessors shares the vertices. */
    assert_ok(decode_glb_variant(",{\"attributes\":{\"COLOR_0\":1,\"POSITION\":0},"
                                 "\"indices\":2,\"material\":1}",
                                 "36", "3", "2", 2, &m, &err),
              err);
    assert_int_equal(m.n_vertices, 3);
    assert_int_equal(m.n_faces, 2);
    assert_memory_equal(m.indices, m.indices + 3, 3 * sizeof(uint32_t));
    ln_mesh_free(&m);

    struct {
        const char *extra, *view_len, *count, *idx_view;
        uint16_t last;
    } bad[] = {
        {"", "36", "3", "2", 3},                     /* index out of range */
        {"", "36", "4000000000", "2", 2},            /* count past the view */
        {"", "36", "4", "2", 2},                     /* one element past the view */
        {"", "36", "0", "2", 2},                     /* zero count */
        {"", "36", "-1", "2", 2},                    /* negative count */
        {"", "36", "3.0", "2", 2},                   /* not an integer */
        {"", "4294967296", "3", "2", 2},             /* view past the buffer */
        {"", "36", "3", "7", 2},                     /* no such view */
        {"", "36", "3", "-1", 2},                    /* negative view index */
        {"", "36", "3", "\"2\"", 2},                 /* view index of the wrong type */
        {",{\"attributes\":{}}", "36", "3", "2", 2}, /* no POSITION */
        {",{\"attributes\":{\"POSITION\":9}}", "36", "3", "2", 2},
        {",{\"attributes\":{\"POSITION\":2}}", "36", "3", "2", 2}, /* wrong type */
        {",{\"attributes\":{\"POSITION\":0},\"indices\":1}", "36", "3", "2", 2},
        {",{\"attributes\":{\"POSITION\":0,\"NORMAL\":1}}", "36", "3", "2", 2},
        {",{\"attributes\":{\"POSITION\":0},\"mode\":\"4\"}", "36", "3", "2", 2},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = decode_glb_variant(bad[i].extra, bad[i].view_len, bad[i].count, bad[i].idx_view,
                                    bad[i].last, &m, &err);
        if (rc != LN_EFORMAT)
            fail_msg("GLB variant %zu gave %d (%s), expected LN_EFORMAT", i, rc, err.message);
        assert_null(m.positions);
    }

    /* Documents that are wrong as a whole. */
    static const char *const docs[] = {
        "not json",
        "[1,2,3]",
        "{\"asset\":{\"version\":\"1.0\"},\"meshes\":[]}",
        "{\"asset\":{\"version\":\"2.0\"}}",
        "{\"asset\":{\"version\":\"2.0\"},\"meshes\":[]}",
        "{\"asset\":{\"version\":\"2.0\"},\"meshes\":[{}]}",
        "{\"asset\":{\"version\":\"2.0\"},\"meshes\":[{\"primitives\":[]}]}",
        "{\"asset\":{\"version\":\"2.0\"},\"meshes\":[{\"primitives\":[7]}]}",
        "{\"asset\":{\"version\":\"2.0\"},\"extensionsRequired\":[\"KHR_draco_mesh_compression\"],"
        "\"meshes\":[{\"primitives\":[{\"attributes\":{\"POSITION\":0}}]}]}",
        "{\"asset\":{\"version\":\"2.0\"},\"asset\":{\"version\":\"2.0\"}}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        size_t len;
        uint8_t *glb = make_glb(docs[i], NULL, 0, &len);
        int rc = ln_mesh_decode(glb, len, LN_MESH_FORMAT_GLB, &m, &err);
        free(glb);
        if (rc != LN_EFORMAT)
            fail_msg("GLB document %zu gave %d (%s), expected LN_EFORMAT", i, rc, err.message);
    }

    /* Container damage. */
    size_t len;
    uint8_t *glb = make_glb("{}", NULL, 0, &len);
    glb[4] = 1; /* version 1 */
    assert_int_equal(ln_mesh_decode(glb, len, LN_MESH_FORMAT_GLB, &m, &err), LN_EFORMAT);
    glb[4] = 2;
    glb[12] = 0xf0; /* JSON chunk longer than the file */
    assert_int_equal(ln_mesh_decode(glb, len, LN_MESH_FORMAT_GLB, &m, &err), LN_EFORMAT);
    glb[12] = 4;
    glb[16] = 'X'; /* first chunk not JSON */
    assert_int_equal(ln_mesh_decode(glb, len, LN_MESH_FORMAT_GLB, &m, &err), LN_EFORMAT);
    free(glb);
}

/* ---- hostile bytes --------------------------------------------------- */

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* Decodes an exact-size copy; returns the status, freeing any mesh. */
static int decode_copy(const uint8_t *data, size_t len, enum ln_mesh_format fmt,
                       struct ln_error *err)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (len)
        memcpy(copy, data, len);
    memset(err, 0, sizeof *err);
    struct ln_mesh m = {0};
    int rc = ln_mesh_decode(copy, len, fmt, &m, err);
    free(copy);
    if (rc == 0) {
        assert_true(m.n_faces > 0);
        for (size_t i = 0; i < m.n_faces * 3; i++)
            assert_true(m.indices[i] < m.n_vertices);
        ln_mesh_free(&m);
    } else {
        assert_null(m.positions);
        assert_true(err->message[0] != 0);
    }
    return rc;
}

/* Every prefix of a file must fail cleanly (binary formats always; text
 * formats may end on a line boundary and still be a valid smaller file). */
static void check_truncations(const uint8_t *data, size_t len, enum ln_mesh_format fmt, int text)
{
    struct ln_error err = {0};
    size_t step = len / 300 + 1;
    for (size_t cut = 0; cut < len; cut += (cut < 300 || cut + 300 > len) ? 1 : step) {
        int rc = decode_copy(data, cut, fmt, &err);
        if (rc != LN_EFORMAT && !(text && rc == 0))
            fail_msg("%s cut at %zu of %zu gave %d (%s)", ln_mesh_format_ext(fmt), cut, len, rc,
                     err.message);
    }
}

static void test_truncated_files(void **state)
{
    struct ln_mesh m = {0};
    make_sphere(&m, 10, 14, 1, 0);
    for (size_t i = 0; i < 4; i++) {
        struct ln_buf b;
        encode(&m, all_formats[i], &b);
        check_truncations(b.data, b.len, all_formats[i], all_formats[i] == LN_MESH_FORMAT_OBJ);
        ln_buf_free(&b);
    }
    ln_mesh_free(&m);

    const char *ascii_stl = "solid t\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\n"
                            "vertex 1 0 0\nvertex 0 1 0\nendloop\nendfacet\nendsolid t\n";
    check_truncations((const uint8_t *)ascii_stl, strlen(ascii_stl), LN_MESH_FORMAT_STL, 1);
    const char *ascii_ply = "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\n"
                            "property float y\nproperty float z\nelement face 1\n"
                            "property list uchar int vertex_indices\nend_header\n"
                            "0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n";
    check_truncations((const uint8_t *)ascii_ply, strlen(ascii_ply), LN_MESH_FORMAT_PLY, 1);
}

static void test_random_and_flipped_bytes(void **state)
{
    struct ln_error err = {0};
    uint32_t seed = 12345;
    size_t cap = 8192;
    uint8_t *junk = malloc(cap);
    for (int round = 0; round < 200; round++) {
        size_t len = lcg(&seed) % cap;
        for (size_t i = 0; i < len; i++)
            junk[i] = (uint8_t)lcg(&seed);
        for (size_t f = 0; f < 4; f++) {
            int rc = decode_copy(junk, len, all_formats[f], &err);
            if (rc != LN_EFORMAT)
                fail_msg("random %zu bytes as %s gave %d", len, ln_mesh_format_ext(all_formats[f]),
                         rc);
        }
    }
    free(junk);

    /* Valid files with a few bytes changed: any status, no crash, no leak,
     * and a decoded mesh is always consistent (decode_copy checks). */
    struct ln_mesh m = {0};
    make_sphere(&m, 6, 9, 1, 0);
    for (size_t f = 0; f < 4; f++) {
        struct ln_buf b;
        encode(&m, all_formats[f], &b);
        uint8_t *copy = malloc(b.len);
        for (int round = 0; round < 400; round++) {
            memcpy(copy, b.data, b.len);
            int flips = 1 + (int)(lcg(&seed) % 4);
            for (int k = 0; k < flips; k++) {
                size_t at = lcg(&seed) % b.len;
                /* Favour the headers and JSON, where the counts live. */
                if (round % 2 == 0)
                    at %= b.len < 1024 ? b.len : 1024;
                copy[at] = (uint8_t)lcg(&seed);
            }
            decode_copy(copy, b.len, all_formats[f], &err);
        }
        free(copy);
        ln_buf_free(&b);
    }
    ln_mesh_free(&m);
}

/* ---- files ----------------------------------------------------------- */

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void test_save_and_load(void **state)
{
    const char *dir = ln_test_tmpdir("export_save");
    struct ln_mesh m = {0};
    struct ln_error err = {0};
    make_sphere(&m, 7, 11, 1, 0);
    for (size_t i = 0; i < 4; i++) {
        char name[32];
        snprintf(name, sizeof name, "mesh.%s", ln_mesh_format_ext(all_formats[i]));
        char *path = ln_test_path(dir, name);
        assert_ok(ln_mesh_save(&m, path, all_formats[i], &err), err);
        assert_ok(ln_mesh_save(&m, path, all_formats[i], &err), err); /* replaces */
        struct ln_mesh back = {0};
        assert_ok(ln_mesh_load(path, &back, &err), err);
        assert_int_equal(back.n_faces, m.n_faces);
        assert_int_equal(back.n_vertices, m.n_vertices);
        ln_mesh_free(&back);
        free(path);
    }
    assert_int_equal(count_entries(dir), 4); /* no temporary files left */

    /* Into a folder that does not exist: an error, and nothing created. */
    char *missing = ln_test_path(dir, "missing");
    char *target = ln_test_path(missing, "mesh.glb");
    int rc = ln_mesh_save(&m, target, LN_MESH_FORMAT_GLB, &err);
    assert_int_equal(rc, LN_EIO);
    assert_true(strstr(err.message, "mesh.glb") != NULL);
    struct stat st;
    assert_int_equal(stat(missing, &st), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(count_entries(dir), 4);

    /* An empty mesh is refused before anything is written. */
    struct ln_mesh empty = {0};
    char *nothing = ln_test_path(dir, "empty.glb");
    assert_int_equal(ln_mesh_save(&empty, nothing, LN_MESH_FORMAT_GLB, &err), LN_EINVAL);
    assert_int_equal(stat(nothing, &st), -1);

    struct ln_mesh back = {0};
    char *unknown = ln_test_path(dir, "mesh.fbx");
    assert_int_equal(ln_mesh_load(unknown, &back, &err), LN_EINVAL);
    char *absent = ln_test_path(dir, "absent.glb");
    assert_int_equal(ln_mesh_load(absent, &back, &err), LN_ENOTFOUND);
    char *bad = ln_test_path(dir, "bad.obj");
    assert_ok(ln_file_write_atomic(bad, "f 1 2 3\n", 8, &err), err);
    assert_int_equal(ln_mesh_load(bad, &back, &err), LN_EFORMAT);
    assert_true(strstr(err.message, "bad.obj") != NULL); /* the message names the file */

    free(bad);
    free(absent);
    free(unknown);
    free(nothing);
    free(target);
    free(missing);
    ln_mesh_free(&m);
}

/* ---- out of memory --------------------------------------------------- */

static void test_allocation_failures(void **state)
{
    struct ln_mesh m = {0};
    make_sphere(&m, 9, 12, 1, 0); /* no normals: the encoder allocates them */
    const char *dir = ln_test_tmpdir("export_oom");
    for (size_t f = 0; f < 4; f++) {
        struct ln_error err = {0};
        char name[32];
        snprintf(name, sizeof name, "oom.%s", ln_mesh_format_ext(all_formats[f]));
        char *path = ln_test_path(dir, name);

        /* Count the large allocations of one save and load... */
        ln_alloc_fail_after(0);
        assert_ok(ln_mesh_save(&m, path, all_formats[f], &err), err);
        struct ln_mesh back = {0};
        assert_ok(ln_mesh_load(path, &back, &err), err);
        ln_mesh_free(&back);
        long n = ln_alloc_fail_after(0);
        assert_true(n > 2);

        /* ...then fail each in turn. */
        for (long i = 1; i <= n + 1; i++) {
            ln_alloc_fail_after(i);
            int rc = ln_mesh_save(&m, path, all_formats[f], &err);
            if (rc == 0)
                rc = ln_mesh_load(path, &back, &err);
            ln_alloc_fail_after(0);
            if (rc == 0) {
                /* Only the optional shrink of the STL welder may fail
                 * without failing the load. */
                assert_true(back.n_faces == m.n_faces);
                ln_mesh_free(&back);
            } else {
                if (rc != LN_ENOMEM)
                    fail_msg("%s allocation %ld: %d (%s)", name, i, rc, err.message);
                assert_null(back.positions);
            }
        }
        free(path);
    }
    ln_mesh_free(&m);
}

/* The sphere with an atlas and a 64 x 64 checkerboard PNG (made by the
 * image floor's encoder, so the glTF-Validator sees a real image). */
static void make_textured_sphere(struct ln_mesh *out)
{
    struct ln_mesh sphere = {0};
    make_sphere(&sphere, 16, 32, 1, 1);
    struct ln_uv_options o;
    ln_uv_options_default(&o, 64);
    struct ln_uv_atlas a = {0};
    struct ln_error err = {0};
    assert_ok(ln_uv_atlas_build(&sphere, &o, &a, &err), err);
    ln_mesh_free(&sphere);
    *out = a.mesh;
    memset(&a.mesh, 0, sizeof a.mesh);
    ln_uv_atlas_free(&a);
    uint8_t px[64 * 64 * 3];
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 64; x++)
            for (int c = 0; c < 3; c++)
                px[(y * 64 + x) * 3 + c] = (uint8_t)(((x / 8 + y / 8) % 2) ? 230 : 40 + 60 * c);
    struct ln_image img = {.width = 64, .height = 64, .channels = 3, .data = px};
    struct ln_buf png = {0};
    assert_ok(ln_image_encode_png(&img, &png, &err), err);
    out->texture.data = png.data;
    out->texture.size = png.len;
    out->texture.jpeg = 0;
}

/* Whether the bytes hold the text (no memmem: not every C library has it). */
static int holds(const struct ln_buf *b, const char *text)
{
    size_t n = strlen(text);
    for (size_t i = 0; i + n <= b->len; i++)
        if (memcmp(b->data + i, text, n) == 0)
            return 1;
    return 0;
}

/* A textured mesh goes out with TEXCOORD_0 and its image, and comes back
 * with the same UVs and the same image bytes; its vertex colours go out as
 * _COLOR_0 (as COLOR_0 glTF would multiply them into the texture) and come
 * back. Simplification keeps UVs, welding drops them. */
static void test_textured_glb(void **state)
{
    (void)state;
    struct ln_mesh m = {0}, back = {0};
    struct ln_error err = {0};
    make_textured_sphere(&m);
    assert_non_null(m.colors);
    struct ln_buf buf = {0};
    assert_ok(ln_mesh_encode(&m, LN_MESH_FORMAT_GLB, &buf, &err), err);
    assert_true(holds(&buf, "\"TEXCOORD_0\""));
    assert_false(holds(&buf, "\"COLOR_0\""));
    assert_true(holds(&buf, "\"_COLOR_0\""));
    assert_true(holds(&buf, "baseColorTexture"));
    assert_ok(ln_mesh_decode((const uint8_t *)buf.data, buf.len, LN_MESH_FORMAT_GLB, &back, &err),
              err);
    assert_int_equal(back.n_vertices, m.n_vertices);
    assert_memory_equal(back.positions, m.positions, 3 * m.n_vertices * sizeof(float));
    assert_non_null(back.uvs);
    assert_memory_equal(back.uvs, m.uvs, 2 * m.n_vertices * sizeof(float));
    assert_int_equal(back.texture.size, m.texture.size);
    assert_memory_equal(back.texture.data, m.texture.data, m.texture.size);
    assert_int_equal(back.texture.jpeg, 0);
    assert_non_null(back.colors);
    for (size_t i = 0; i < 3 * m.n_vertices; i++)
        assert_near(back.colors[i], m.colors[i], 1e-5);
    ln_mesh_free(&back);
    free(buf.data);

    /* a copy carries both */
    struct ln_mesh copy = {0};
    assert_ok(ln_mesh_copy(&m, &copy, &err), err);
    assert_memory_equal(copy.uvs, m.uvs, 2 * m.n_vertices * sizeof(float));
    assert_memory_equal(copy.texture.data, m.texture.data, m.texture.size);
    assert_ok(ln_mesh_simplify(&copy, copy.n_faces / 2, &err), err);
    assert_non_null(copy.uvs);
    assert_non_null(copy.texture.data);
    assert_ok(ln_mesh_weld(&copy, 0.0f, &err), err);
    assert_null(copy.uvs);
    assert_null(copy.texture.data);
    ln_mesh_free(&copy);

    /* a non-finite UV is refused before anything is written */
    m.uvs[7] = NAN;
    buf = (struct ln_buf){0};
    assert_int_equal(ln_mesh_encode(&m, LN_MESH_FORMAT_GLB, &buf, &err), LN_EINVAL);
    assert_non_null(strstr(err.message, "texture coordinates"));
    free(buf.data);
    ln_mesh_free(&m);
}

/* A textured mesh saved as OBJ: the image and NAME.mtl beside it (map_Kd
 * naming the image), "vt" lines with v flipped to OBJ's bottom-left
 * origin, faces with texture indices; the OBJ reads back to the same
 * faces. Encoded to memory (no files beside), the OBJ names no library. */
static void test_textured_obj(void **state)
{
    (void)state;
    struct ln_mesh m = {0}, back = {0};
    struct ln_error err = {0};
    make_textured_sphere(&m);
    const char *dir = ln_test_tmpdir("textured_obj");
    char *obj = ln_test_path(dir, "ball.obj"), *mtl = ln_test_path(dir, "ball.mtl"),
         *png = ln_test_path(dir, "ball.png");
    assert_ok(ln_mesh_save(&m, obj, LN_MESH_FORMAT_OBJ, &err), err);
    size_t len;
    uint8_t *img = ln_test_read(png, &len);
    assert_int_equal(len, m.texture.size);
    assert_memory_equal(img, m.texture.data, len);
    free(img);
    uint8_t *lib = ln_test_read(mtl, &len);
    struct ln_buf lb = {.data = lib, .len = len};
    assert_true(holds(&lb, "newmtl baked\n"));
    assert_true(holds(&lb, "map_Kd ball.png\n"));
    free(lib);
    uint8_t *text = ln_test_read(obj, &len);
    struct ln_buf tb = {.data = text, .len = len};
    assert_true(holds(&tb, "mtllib ball.mtl\nusemtl baked\n"));
    char want[64];
    snprintf(want, sizeof want, "vt %.7f %.7f\n", m.uvs[0], 1.0f - m.uvs[1]);
    assert_true(holds(&tb, want));
    assert_true(holds(&tb, "f 1/1/1 "));
    free(text);
    assert_ok(ln_mesh_load(obj, &back, &err), err);
    assert_int_equal(back.n_faces, m.n_faces);
    assert_memory_equal(back.indices, m.indices, 3 * m.n_faces * sizeof(uint32_t));
    ln_mesh_free(&back);
    struct ln_buf buf = {0};
    assert_ok(ln_mesh_encode(&m, LN_MESH_FORMAT_OBJ, &buf, &err), err);
    assert_false(holds(&buf, "mtllib"));
    assert_true(holds(&buf, "\nvt "));
    ln_buf_free(&buf);
    free(obj);
    free(mtl);
    free(png);
    ln_mesh_free(&m);
}

/* One entry of an archive read back through libzip (a reader that is not
 * ours), as a buffer; fails the test if it is missing. */
static struct ln_buf zip_entry(zip_t *za, const char *name, zip_uint16_t *method)
{
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat(za, name, 0, &st) < 0)
        fail_msg("the archive has no %s", name);
    *method = st.comp_method;
    struct ln_buf b = {0};
    assert_int_equal(ln_buf_reserve(&b, (size_t)st.size + 1), 0);
    zip_file_t *f = zip_fopen(za, name, 0);
    assert_non_null(f);
    assert_int_equal(zip_fread(f, b.data, st.size), (zip_int64_t)st.size);
    zip_fclose(f);
    b.len = (size_t)st.size;
    return b;
}

static zip_t *open_zip(const struct ln_buf *b)
{
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(b->data, b->len, 0, &ze);
    assert_non_null(src);
    zip_t *za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (!za)
        fail_msg("not a zip archive: %s", zip_error_strerror(&ze));
    zip_error_fini(&ze);
    return za;
}

/* The OBJ download as one archive: a textured mesh gives NAME.obj naming
 * NAME.mtl, which names NAME.png, the texture's own bytes (stored, not
 * deflated again); the OBJ in it reads back to the same faces. A mesh
 * without a texture gives the plain OBJ alone. A name with a folder in it
 * is refused. */
static void test_obj_zip(void **state)
{
    (void)state;
    struct ln_mesh m = {0}, back = {0};
    struct ln_error err = {0};
    make_textured_sphere(&m);
    struct ln_buf z = {0};
    assert_ok(ln_mesh_encode_obj_zip(&m, "ball", &z, &err), err);
    zip_t *za = open_zip(&z);
    assert_int_equal(zip_get_num_entries(za, 0), 3);
    zip_uint16_t method;
    struct ln_buf png = zip_entry(za, "ball.png", &method);
    assert_int_equal(method, ZIP_CM_STORE);
    assert_int_equal(png.len, m.texture.size);
    assert_memory_equal(png.data, m.texture.data, png.len);
    struct ln_buf mtl = zip_entry(za, "ball.mtl", &method);
    assert_true(holds(&mtl, "newmtl baked\n"));
    assert_true(holds(&mtl, "map_Kd ball.png\n"));
    struct ln_buf obj = zip_entry(za, "ball.obj", &method);
    assert_int_equal(method, ZIP_CM_DEFLATE);
    assert_true(holds(&obj, "mtllib ball.mtl\nusemtl baked\n"));
    assert_ok(ln_mesh_decode(obj.data, obj.len, LN_MESH_FORMAT_OBJ, &back, &err), err);
    assert_int_equal(back.n_faces, m.n_faces);
    assert_memory_equal(back.indices, m.indices, 3 * m.n_faces * sizeof(uint32_t));
    ln_mesh_free(&back);
    ln_buf_free(&png);
    ln_buf_free(&mtl);
    ln_buf_free(&obj);
    zip_discard(za);
    ln_buf_free(&z);

    struct ln_mesh plain = {0};
    make_sphere(&plain, 8, 16, 1, 1);
    assert_ok(ln_mesh_encode_obj_zip(&plain, "plain", &z, &err), err);
    za = open_zip(&z);
    assert_int_equal(zip_get_num_entries(za, 0), 1);
    struct ln_buf want = {0};
    assert_ok(ln_mesh_encode(&plain, LN_MESH_FORMAT_OBJ, &want, &err), err);
    obj = zip_entry(za, "plain.obj", &method);
    assert_int_equal(obj.len, want.len);
    assert_memory_equal(obj.data, want.data, want.len);
    ln_buf_free(&obj);
    ln_buf_free(&want);
    zip_discard(za);
    ln_buf_free(&z);

    const char *bad[] = {"", "a/b", "a\\b", "..", ".hidden", "c:x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ln_mesh_encode_obj_zip(&m, bad[i], &z, &err), LN_EINVAL);
        assert_int_equal(z.len, 0);
    }
    ln_mesh_free(&plain);
    ln_mesh_free(&m);
}

/* ---- samples for the glTF-Validator ---------------------------------- */

static void save_sample(const struct ln_mesh *m, const char *dir, const char *name)
{
    struct ln_error err = {0};
    char *path = ln_test_path(dir, name);
    assert_ok(ln_mesh_save(m, path, LN_MESH_FORMAT_GLB, &err), err);
    free(path);
}

static void test_write_validator_samples(void **state)
{
    const char *dir = ln_test_tmpdir("export_glb");
    struct ln_mesh sphere = {0}, cube = {0}, large = {0};
    make_sphere(&sphere, 16, 32, 1, 1);
    save_sample(&sphere, dir, "sphere_colored.glb");
    make_cube(&cube);
    save_sample(&cube, dir, "cube_plain.glb");
    make_sphere(&large, 128, 256, 1, 0);
    save_sample(&large, dir, "sphere_large.glb");
    struct ln_mesh textured = {0};
    make_textured_sphere(&textured);
    save_sample(&textured, dir, "sphere_textured.glb");
    ln_mesh_free(&textured);

    /* Colours outside [0, 1] and normals without length: the writer clamps
     * and repairs so that the file stays valid. */
    struct ln_error err = {0};
    ln_mesh_free(&cube);
    make_cube(&cube);
    cube.colors = malloc(8 * 3 * sizeof(float));
    cube.normals = calloc(8 * 3, sizeof(float));
    for (size_t i = 0; i < 24; i++)
        cube.colors[i] = (float)(i % 3) * 0.8f - 0.3f;
    cube.normals[3] = 2.0f;
    save_sample(&cube, dir, "cube_clamped.glb");
    struct ln_mesh back = {0};
    char *path = ln_test_path(dir, "cube_clamped.glb");
    assert_ok(ln_mesh_load(path, &back, &err), err);
    assert_near(back.colors[0], 0.0, 0);
    assert_near(back.colors[2], 1.0, 1e-6);
    assert_unit_normals(&back);
    free(path);
    ln_mesh_free(&back);

    ln_mesh_free(&sphere);
    ln_mesh_free(&cube);
    ln_mesh_free(&large);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_srgb_linear),
        cmocka_unit_test(test_format_names),
        cmocka_unit_test(test_roundtrip_glb),
        cmocka_unit_test(test_roundtrip_obj),
        cmocka_unit_test(test_roundtrip_ply),
        cmocka_unit_test(test_roundtrip_stl),
        cmocka_unit_test(test_roundtrip_uncolored),
        cmocka_unit_test(test_encode_refuses_bad_meshes),
        cmocka_unit_test(test_glb_layout),
        cmocka_unit_test(test_encode_appends),
        cmocka_unit_test(test_obj_reader),
        cmocka_unit_test(test_ply_reader),
        cmocka_unit_test(test_stl_reader),
        cmocka_unit_test(test_glb_reader),
        cmocka_unit_test(test_glb_normalized_not_boolean),
        cmocka_unit_test(test_truncated_files),
        cmocka_unit_test(test_random_and_flipped_bytes),
        cmocka_unit_test(test_save_and_load),
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_textured_glb),
        cmocka_unit_test(test_textured_obj),
        cmocka_unit_test(test_obj_zip),
        cmocka_unit_test(test_write_validator_samples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
