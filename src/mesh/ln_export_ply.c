/*
 * Stanford PLY. The writer emits binary little-endian with float
 * positions and normals, uchar sRGB colours and "list uchar uint" faces,
 * the layout MeshLab, Blender and CloudCompare all read.
 *
 * The reader is driven by the header: any element order, any scalar type
 * for any property, ASCII or binary in either byte order. Each element's
 * claimed count is checked against the bytes left before anything is
 * allocated, every value read is bounds-checked, and properties the mesh
 * does not use (and whole other elements) are read past.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_export.h"
#include "ln_export_int.h"

int ln__ply_encode(const struct ln_mesh *m, struct ln_buf *out, struct ln_error *err)
{
    ln_buf_printf(out,
                  "ply\nformat binary_little_endian 1.0\ncomment Lunar Nova %s\n"
                  "element vertex %zu\n"
                  "property float x\nproperty float y\nproperty float z\n"
                  "property float nx\nproperty float ny\nproperty float nz\n",
                  LN_VERSION_STRING, m->n_vertices);
    if (m->colors)
        ln_buf_printf(out, "property uchar red\nproperty uchar green\nproperty uchar blue\n");
    ln_buf_printf(out, "element face %zu\nproperty list uchar uint vertex_indices\nend_header\n",
                  m->n_faces);

    size_t per_vertex = m->colors ? 27 : 24;
    size_t vbytes, fbytes;
    if (ln_size_mul(m->n_vertices, per_vertex, &vbytes) < 0 ||
        ln_size_mul(m->n_faces, 13, &fbytes) < 0 || vbytes + fbytes < vbytes)
        return ln_error_set(err, LN_ETOOBIG, "the mesh is too large for a PLY file");
    if (ln_buf_reserve(out, vbytes + fbytes) < 0)
        return LN_OK; /* the dispatcher reports the failed buffer */

    for (size_t i = 0; i < m->n_vertices; i++) {
        float n[3];
        ln__unit3(m->normals + 3 * i, n);
        for (int k = 0; k < 3; k++)
            ln_buf_f32le(out, m->positions[3 * i + k]);
        for (int k = 0; k < 3; k++)
            ln_buf_f32le(out, n[k]);
        if (m->colors) {
            uint8_t rgb[3];
            for (int k = 0; k < 3; k++)
                rgb[k] = (uint8_t)lrintf(ln__clamp01(m->colors[3 * i + k]) * 255.0f);
            ln_buf_append(out, rgb, 3);
        }
    }
    for (size_t f = 0; f < m->n_faces; f++) {
        uint8_t three = 3;
        ln_buf_append(out, &three, 1);
        for (int k = 0; k < 3; k++)
            ln_buf_u32le(out, m->indices[3 * f + k]);
    }
    return LN_OK;
}

/* ---- reader ---------------------------------------------------------- */

enum ln__ply_format { LN__PLY_ASCII, LN__PLY_LE, LN__PLY_BE };

enum ln__ply_type {
    LN__PLY_CHAR,
    LN__PLY_UCHAR,
    LN__PLY_SHORT,
    LN__PLY_USHORT,
    LN__PLY_INT,
    LN__PLY_UINT,
    LN__PLY_FLOAT,
    LN__PLY_DOUBLE,
};

static const size_t ln__ply_size[8] = {1, 1, 2, 2, 4, 4, 4, 8};
static const char *const ln__ply_names[16] = {
    "char", "uchar", "short", "ushort", "int",   "uint",   "float",   "double",
    "int8", "uint8", "int16", "uint16", "int32", "uint32", "float32", "float64"};

#define LN__PLY_MAX_ELEMENTS 16
#define LN__PLY_MAX_PROPS 512
#define LN__PLY_NAME 32
#define LN__PLY_LINE 256

struct ln__ply_prop {
    char name[LN__PLY_NAME];
    int type;       /* the value type, or the item type of a list */
    int count_type; /* the list count type, or -1 for a scalar */
};

struct ln__ply_elem {
    char name[LN__PLY_NAME];
    size_t count;
    size_t first, n_props; /* a range of the header's property table */
};

struct ln__ply_header {
    int format;
    size_t n_elems, n_props;
    struct ln__ply_elem elems[LN__PLY_MAX_ELEMENTS];
    struct ln__ply_prop props[LN__PLY_MAX_PROPS];
};

/* The body cursor: raw bytes for binary, a NUL-terminated copy for ASCII
 * (p and end then point into that copy). */
struct ln__ply_in {
    int format;
    const uint8_t *p, *end;
};

static int ln__ply_type(const char *name)
{
    for (int i = 0; i < 16; i++)
        if (strcmp(name, ln__ply_names[i]) == 0)
            return i % 8;
    return -1;
}

/* Splits s at white space into at most max tokens; returns the count, or
 * max + 1 when there are more. */
static int ln__split(char *s, char **tok, int max)
{
    int n = 0;
    for (;;) {
        s = ln__skip_space(s);
        if (!*s)
            return n;
        if (n == max)
            return max + 1;
        tok[n++] = s;
        while (*s && !ln__is_space(*s))
            s++;
        if (*s)
            *s++ = 0;
    }
}

static void ln__copy_name(char *dst, const char *src)
{
    size_t n = strlen(src);
    if (n >= LN__PLY_NAME)
        n = LN__PLY_NAME - 1; /* long names are kept truncated; only short ones matter */
    memcpy(dst, src, n);
    dst[n] = 0;
}

static int ln__parse_size(const char *s, size_t *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    char *e;
    errno = 0;
    unsigned long long v = strtoull(s, &e, 10);
    if (*e || errno == ERANGE || v > SIZE_MAX)
        return -1;
    *out = (size_t)v;
    return 0;
}

/* Parses the header; *body_offset is where the data starts. */
static int ln__ply_header(const uint8_t *data, size_t len, struct ln__ply_header *h,
                          size_t *body_offset, struct ln_error *err)
{
    size_t pos = 0;
    int format = -1;
    for (int line = 1;; line++) {
        const uint8_t *nl = pos < len ? memchr(data + pos, '\n', len - pos) : NULL;
        if (!nl)
            return ln_error_set(err, LN_EFORMAT, "PLY: the header has no end_header");
        size_t n = (size_t)(nl - (data + pos));
        const char *raw = (const char *)data + pos;
        pos += n + 1;
        if (n > 0 && raw[n - 1] == '\r')
            n--;
        if (line == 1) {
            if (n != 3 || memcmp(raw, "ply", 3) != 0)
                return ln_error_set(err, LN_EFORMAT, "not a PLY file (no \"ply\" line)");
            continue;
        }
        if ((n >= 7 && memcmp(raw, "comment", 7) == 0) ||
            (n >= 8 && memcmp(raw, "obj_info", 8) == 0))
            continue;
        if (n >= LN__PLY_LINE)
            return ln_error_set(err, LN_EFORMAT, "PLY: header line %d is too long", line);
        char buf[LN__PLY_LINE];
        memcpy(buf, raw, n);
        buf[n] = 0;
        if (memchr(buf, 0, n))
            return ln_error_set(err, LN_EFORMAT, "PLY: binary data in the header");
        char *tok[6];
        int nt = ln__split(buf, tok, 5);
        if (nt == 0)
            continue;
        if (strcmp(tok[0], "end_header") == 0 && nt == 1) {
            break;
        } else if (strcmp(tok[0], "format") == 0 && nt == 3) {
            if (strcmp(tok[2], "1.0") != 0)
                return ln_error_set(err, LN_EFORMAT, "PLY: version %s is not supported", tok[2]);
            if (strcmp(tok[1], "ascii") == 0)
                format = LN__PLY_ASCII;
            else if (strcmp(tok[1], "binary_little_endian") == 0)
                format = LN__PLY_LE;
            else if (strcmp(tok[1], "binary_big_endian") == 0)
                format = LN__PLY_BE;
            else
                return ln_error_set(err, LN_EFORMAT, "PLY: unknown format \"%.32s\"", tok[1]);
        } else if (strcmp(tok[0], "element") == 0 && nt == 3) {
            if (h->n_elems == LN__PLY_MAX_ELEMENTS)
                return ln_error_set(err, LN_EFORMAT, "PLY: too many elements");
            struct ln__ply_elem *e = &h->elems[h->n_elems++];
            ln__copy_name(e->name, tok[1]);
            if (ln__parse_size(tok[2], &e->count) < 0)
                return ln_error_set(err, LN_EFORMAT, "PLY: element %s has an invalid count",
                                    e->name);
            e->first = h->n_props;
        } else if (strcmp(tok[0], "property") == 0 && (nt == 3 || nt == 5)) {
            if (h->n_elems == 0)
                return ln_error_set(err, LN_EFORMAT, "PLY: a property precedes every element");
            if (h->n_props == LN__PLY_MAX_PROPS)
                return ln_error_set(err, LN_EFORMAT, "PLY: too many properties");
            struct ln__ply_prop *p = &h->props[h->n_props];
            if (nt == 3) {
                p->count_type = -1;
                p->type = ln__ply_type(tok[1]);
            } else {
                if (strcmp(tok[1], "list") != 0)
                    return ln_error_set(err, LN_EFORMAT, "PLY: malformed property line %d", line);
                p->count_type = ln__ply_type(tok[2]);
                p->type = ln__ply_type(tok[3]);
                if (p->count_type == LN__PLY_FLOAT || p->count_type == LN__PLY_DOUBLE)
                    return ln_error_set(err, LN_EFORMAT,
                                        "PLY: a list count must be an integer type");
            }
            if (p->type < 0 || (nt == 5 && p->count_type < 0))
                return ln_error_set(err, LN_EFORMAT, "PLY: unknown type on header line %d", line);
            ln__copy_name(p->name, tok[nt - 1]);
            h->n_props++;
            h->elems[h->n_elems - 1].n_props++;
        } else {
            return ln_error_set(err, LN_EFORMAT, "PLY: unexpected header line %d", line);
        }
    }
    if (format < 0)
        return ln_error_set(err, LN_EFORMAT, "PLY: the header has no format line");
    h->format = format;
    *body_offset = pos;
    return LN_OK;
}

/* Reads one value of the given type; -1 when the data ends or (ASCII) the
 * token is not a number. */
static int ln__ply_read(struct ln__ply_in *in, int type, double *v)
{
    if (in->format == LN__PLY_ASCII) {
        char *s = (char *)in->p;
        if (!*ln__skip_space(s) || ln__parse_double(&s, v) < 0)
            return -1;
        in->p = (const uint8_t *)s;
        return 0;
    }
    size_t size = ln__ply_size[type];
    if ((size_t)(in->end - in->p) < size)
        return -1;
    uint8_t b[8];
    for (size_t i = 0; i < size; i++)
        b[i] = in->format == LN__PLY_BE ? in->p[size - 1 - i] : in->p[i];
    in->p += size;
    uint32_t u32 =
        (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    switch (type) {
    case LN__PLY_CHAR:
        *v = (int8_t)b[0];
        break;
    case LN__PLY_UCHAR:
        *v = b[0];
        break;
    case LN__PLY_SHORT:
        *v = (int16_t)(uint16_t)(b[0] | b[1] << 8);
        break;
    case LN__PLY_USHORT:
        *v = (uint16_t)(b[0] | b[1] << 8);
        break;
    case LN__PLY_INT:
        *v = (int32_t)u32;
        break;
    case LN__PLY_UINT:
        *v = u32;
        break;
    case LN__PLY_FLOAT: {
        float f;
        memcpy(&f, &u32, 4);
        *v = f;
        break;
    }
    default: {
        uint64_t u = 0;
        for (int i = 7; i >= 0; i--)
            u = u << 8 | b[i];
        double d;
        memcpy(&d, &u, 8);
        *v = d;
        break;
    }
    }
    return 0;
}

/* An integer value in [0, max]. */
static int ln__ply_integer(double v, double max)
{
    return v >= 0.0 && v <= max && v == floor(v);
}

/* Colour components: integers are scaled by their type's full range. */
static float ln__ply_color(double v, int type)
{
    double scale = type == LN__PLY_USHORT                              ? 65535.0
                   : (type == LN__PLY_FLOAT || type == LN__PLY_DOUBLE) ? 1.0
                                                                       : 255.0;
    return ln__clamp01((float)(v / scale));
}

/* Where the mesh's properties sit inside the vertex element (-1: absent). */
struct ln__ply_vertex_map {
    int pos[3], nrm[3], col[3];
};

static void ln__ply_map_vertex(const struct ln__ply_header *h, const struct ln__ply_elem *e,
                               struct ln__ply_vertex_map *vm)
{
    static const char *const names[9] = {"x", "y", "z", "nx", "ny", "nz", "red", "green", "blue"};
    int *slot[9] = {&vm->pos[0], &vm->pos[1], &vm->pos[2], &vm->nrm[0], &vm->nrm[1],
                    &vm->nrm[2], &vm->col[0], &vm->col[1], &vm->col[2]};
    for (int k = 0; k < 9; k++) {
        *slot[k] = -1;
        for (size_t j = 0; j < e->n_props; j++) {
            const struct ln__ply_prop *p = &h->props[e->first + j];
            if (p->count_type < 0 && strcmp(p->name, names[k]) == 0)
                *slot[k] = (int)j;
        }
    }
}

/* The state of one body read: where the values go, the triangles met so
 * far and what the vertex element declared. */
struct ln__ply_reader {
    const struct ln__ply_header *h;
    struct ln__ply_in *in;
    struct ln_mesh *out;
    struct ln_buf idx; /* triangles, three uint32 each, fanned from the polygons */
    int have_vertices, have_faces;
    int has_nrm, has_col; /* the vertices carry normals, colours */
    size_t nv;            /* vertices declared */
};

static int ln__ply_truncated(struct ln_error *err)
{
    return ln_error_set(err, LN_EFORMAT, "PLY: the data ends early or holds a bad value");
}

/* Refuses an element that claims more items than the bytes left could
 * hold: each item takes at least one byte per scalar (or list count) in
 * binary, and two characters per value in ASCII. e has properties. */
static int ln__ply_check_count(const struct ln__ply_reader *r, const struct ln__ply_elem *e,
                               struct ln_error *err)
{
    const struct ln__ply_prop *props = &r->h->props[e->first];
    size_t min_item = 0;
    for (size_t j = 0; j < e->n_props; j++)
        min_item +=
            r->in->format == LN__PLY_ASCII
                ? 2
                : ln__ply_size[props[j].count_type >= 0 ? props[j].count_type : props[j].type];
    size_t left = (size_t)(r->in->end - r->in->p);
    if (e->count > (left + 1) / min_item)
        return ln_error_set(err, LN_EFORMAT,
                            "PLY: element %s claims %zu items but only %zu bytes remain", e->name,
                            e->count, left);
    return LN_OK;
}

/* Maps the vertex element's properties into vm and allocates the mesh's
 * vertex arrays for its items (normals and colours when it has them). */
static int ln__ply_begin_vertices(struct ln__ply_reader *r, const struct ln__ply_elem *e,
                                  struct ln__ply_vertex_map *vm, struct ln_error *err)
{
    ln__ply_map_vertex(r->h, e, vm);
    if (vm->pos[0] < 0 || vm->pos[1] < 0 || vm->pos[2] < 0)
        return ln_error_set(err, LN_EFORMAT, "PLY: vertices have no x, y, z");
    r->has_nrm = vm->nrm[0] >= 0 && vm->nrm[1] >= 0 && vm->nrm[2] >= 0;
    r->has_col = vm->col[0] >= 0 && vm->col[1] >= 0 && vm->col[2] >= 0;
    if (e->count > UINT32_MAX)
        return ln_error_set(err, LN_EFORMAT, "PLY: too many vertices (%zu)", e->count);
    r->nv = e->count;
    int rc = ln_mesh_alloc(r->out, r->nv, 0, r->has_col, err);
    if (rc < 0)
        return rc;
    if (r->has_nrm) {
        r->out->normals = ln_alloc_array(r->nv, 3 * sizeof(float), 0, "mesh normals", err);
        if (!r->out->normals)
            return err ? err->code : LN_ENOMEM;
    }
    r->have_vertices = 1;
    return LN_OK;
}

/* Finds the face element's index list; its position among the element's
 * properties into *face_list. */
static int ln__ply_begin_faces(struct ln__ply_reader *r, const struct ln__ply_elem *e,
                               int *face_list, struct ln_error *err)
{
    const struct ln__ply_prop *props = &r->h->props[e->first];
    for (size_t j = 0; j < e->n_props; j++)
        if (props[j].count_type >= 0 && (strcmp(props[j].name, "vertex_indices") == 0 ||
                                         strcmp(props[j].name, "vertex_index") == 0))
            *face_list = (int)j;
    if (*face_list < 0)
        return ln_error_set(err, LN_EFORMAT, "PLY: faces have no vertex_indices list");
    r->have_faces = 1;
    return LN_OK;
}

/* Reads one list property of item i of e; when it is the face index list
 * (is_index), fans the polygon into triangles appended to r->idx. */
static int ln__ply_read_list(struct ln__ply_reader *r, const struct ln__ply_elem *e,
                             const struct ln__ply_prop *pr, size_t i, int is_index,
                             struct ln_error *err)
{
    double count, v;
    if (ln__ply_read(r->in, pr->count_type, &count) < 0)
        return ln__ply_truncated(err);
    if (!ln__ply_integer(count, 4294967295.0))
        return ln_error_set(err, LN_EFORMAT, "PLY: %s %zu has an invalid list count", e->name, i);
    if (is_index && count < 3)
        return ln_error_set(err, LN_EFORMAT, "PLY: face %zu has %.0f vertices", i, count);
    uint32_t first = 0, prev = 0;
    for (double k = 0; k < count; k++) {
        if (ln__ply_read(r->in, pr->type, &v) < 0)
            return ln__ply_truncated(err);
        if (!is_index)
            continue;
        if (!ln__ply_integer(v, 4294967294.0))
            return ln_error_set(err, LN_EFORMAT, "PLY: face %zu has an invalid index", i);
        uint32_t cur = (uint32_t)v;
        if (k == 0)
            first = cur;
        if (k >= 2) {
            uint32_t tri[3] = {first, prev, cur};
            ln_buf_append(&r->idx, tri, sizeof tri);
        }
        prev = cur;
    }
    if (r->idx.failed)
        return ln_error_set(err, LN_ENOMEM, "out of memory reading the PLY file");
    return LN_OK;
}

/* Stores vertex i: a finite position, a unit normal and a colour when the
 * vertices carry them. */
static int ln__ply_store_vertex(struct ln__ply_reader *r, size_t i, const float *p, const float *n,
                                const float *c, struct ln_error *err)
{
    struct ln_mesh *out = r->out;
    for (int k = 0; k < 3; k++) {
        if (!isfinite(p[k]))
            return ln_error_set(err, LN_EFORMAT, "PLY: vertex %zu has a non-finite position", i);
        out->positions[3 * i + k] = p[k];
    }
    if (r->has_nrm)
        ln__unit3(n, out->normals + 3 * i);
    if (r->has_col)
        memcpy(out->colors + 3 * i, c, 3 * sizeof(float));
    return LN_OK;
}

/* Reads item i of e, property by property. vm is the vertex map when e is
 * the vertex element (else NULL); face_list the index list's position
 * when e is the face element (else -1). */
static int ln__ply_read_item(struct ln__ply_reader *r, const struct ln__ply_elem *e, size_t i,
                             const struct ln__ply_vertex_map *vm, int face_list,
                             struct ln_error *err)
{
    const struct ln__ply_prop *props = &r->h->props[e->first];
    float p[3] = {0}, n[3] = {0}, c[3] = {0};
    for (size_t j = 0; j < e->n_props; j++) {
        const struct ln__ply_prop *pr = &props[j];
        int rc;
        if (pr->count_type >= 0) {
            if ((rc = ln__ply_read_list(r, e, pr, i, (int)j == face_list, err)) < 0)
                return rc;
            continue;
        }
        double v;
        if (ln__ply_read(r->in, pr->type, &v) < 0)
            return ln__ply_truncated(err);
        if (!vm)
            continue;
        for (int k = 0; k < 3; k++) {
            if (vm->pos[k] == (int)j)
                p[k] = (float)v;
            if (vm->nrm[k] == (int)j)
                n[k] = (float)v;
            if (vm->col[k] == (int)j)
                c[k] = ln__ply_color(v, pr->type);
        }
    }
    return vm ? ln__ply_store_vertex(r, i, p, n, c, err) : LN_OK;
}

/* Reads every item of element e: vertices into the mesh, faces into
 * r->idx, any other element read past. */
static int ln__ply_read_element(struct ln__ply_reader *r, const struct ln__ply_elem *e,
                                struct ln_error *err)
{
    int is_vertex = strcmp(e->name, "vertex") == 0;
    int is_face = strcmp(e->name, "face") == 0;
    if ((is_vertex && r->have_vertices) || (is_face && r->have_faces))
        return ln_error_set(err, LN_EFORMAT, "PLY: element %s appears twice", e->name);
    if (e->n_props == 0)
        return LN_OK; /* items without properties occupy no bytes */
    int rc = ln__ply_check_count(r, e, err);
    if (rc < 0)
        return rc;
    struct ln__ply_vertex_map vm;
    int face_list = -1;
    if (is_vertex)
        rc = ln__ply_begin_vertices(r, e, &vm, err);
    else if (is_face)
        rc = ln__ply_begin_faces(r, e, &face_list, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < e->count; i++)
        if ((rc = ln__ply_read_item(r, e, i, is_vertex ? &vm : NULL, face_list, err)) < 0)
            return rc;
    return LN_OK;
}

/* Checks the triangles against the vertices and hands them over as the
 * mesh's faces (they were unknown when the vertices were allocated). */
static int ln__ply_finish(struct ln__ply_reader *r, struct ln_error *err)
{
    if (!r->have_vertices || !r->have_faces || r->idx.len == 0)
        return ln_error_set(err, LN_EFORMAT, "PLY: the file holds no faces");
    size_t n_idx = r->idx.len / sizeof(uint32_t);
    const uint32_t *ix = (const uint32_t *)r->idx.data;
    for (size_t i = 0; i < n_idx; i++)
        if (ix[i] >= r->nv)
            return ln_error_set(err, LN_EFORMAT, "PLY: face %zu refers to vertex %u of %zu", i / 3,
                                ix[i], r->nv);
    free(r->out->indices);
    r->out->indices = (uint32_t *)r->idx.data;
    r->out->n_faces = n_idx / 3;
    r->idx.data = NULL;
    r->idx.len = r->idx.cap = 0;
    return LN_OK;
}

static int ln__ply_body(const struct ln__ply_header *h, struct ln__ply_in *in, struct ln_mesh *out,
                        struct ln_error *err)
{
    struct ln__ply_reader r = {.h = h, .in = in, .out = out};
    int rc = LN_OK;
    for (size_t ei = 0; ei < h->n_elems && rc >= 0; ei++)
        rc = ln__ply_read_element(&r, &h->elems[ei], err);
    if (rc >= 0)
        rc = ln__ply_finish(&r, err);
    ln_buf_free(&r.idx);
    return rc;
}

int ln__ply_decode(const uint8_t *data, size_t len, struct ln_mesh *out, struct ln_error *err)
{
    char *text = NULL;
    size_t body = 0;
    struct ln__ply_header *h = ln_alloc_array(1, sizeof *h, 1, "PLY header", err);
    if (!h)
        return err ? err->code : LN_ENOMEM;
    int rc = ln__ply_header(data, len, h, &body, err);
    if (rc < 0)
        goto cleanup;

    struct ln__ply_in in = {h->format, data + body, data + len};
    if (h->format == LN__PLY_ASCII) {
        rc = ln__text_copy(data + body, len - body, "PLY", &text, err);
        if (rc < 0)
            goto cleanup;
        in.p = (const uint8_t *)text;
        in.end = (const uint8_t *)text + (len - body);
    }
    rc = ln__ply_body(h, &in, out, err);

cleanup:
    free(text);
    free(h);
    return rc;
}
