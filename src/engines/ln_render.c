/*
 * The preview renderer: orthographic, z-buffered, deferred. Triangles are
 * binned into bands of 16 sample rows and each band is rasterised on its own
 * (edge functions in 24.8 fixed point, top-left fill rule), keeping only the
 * nearest face per sample; a second pass shades each sample once and box-
 * filters the supersamples into output pixels. Bands never share samples and
 * faces are visited in index order within a band, so the image is the same
 * bytes whatever the thread count.
 *
 * Lighting is done in linear light: interpolated vertex colour (sRGB in the
 * mesh, linearised per vertex) times ambient 0.35 + 0.65 max(0, n.l), with
 * the key light l = (-1/2, 1/2, 1/sqrt 2) in camera coordinates (right, up,
 * toward the viewer): from the upper left, 45 degrees off the view axis.
 * Back faces are shaded with their normal flipped and darkened, so the
 * inside of an open mesh reads as such.
 */
#include "ln_render.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_threads.h"

#define LN__RENDER_FILL 0.85f /* share of the frame the bounding sphere spans */
#define LN__RENDER_AMBIENT 0.35f
#define LN__RENDER_DIFFUSE 0.65f
#define LN__RENDER_BACK 0.55f /* back faces: factor on the lit colour */
#define LN__RENDER_GREY 0.78f /* sRGB colour of meshes without colours */
#define LN__RENDER_BG 0.92f   /* default sRGB background */
#define LN__RENDER_MAX_SIZE 4096
#define LN__BAND 16  /* sample rows per raster band */
#define LN__SUB 256  /* fixed-point units per sample */
#define LN__LUT 1024 /* sRGB-to-linear table steps */
#define LN__NO_FACE UINT32_MAX
#define LN__BACK_BIT 0x80000000u

/* A vertex in sample space: fixed-point position, depth along the view
 * (relative to the framing centre, nearer is smaller), linear colour and
 * world normal (not necessarily unit). */
struct ln__rvert {
    int32_t x, y;
    float z;
    float c[3];
    float n[3];
};

/* One supersample: nearest depth and the face there (LN__BACK_BIT set when
 * it is seen from behind), LN__NO_FACE for background. */
struct ln__sample {
    float z;
    uint32_t face;
};

struct ln__render {
    const struct ln_mesh *mesh;
    int size, ss, side; /* output side, supersampling, sample side */
    float centre[3];
    float right[3], up[3], forward[3];
    float scale; /* samples per world unit */
    float light[3];
    float bg[3]; /* linear */
    struct ln__rvert *verts;
    struct ln__sample *samples;
    size_t n_bands;
    size_t *band_start;  /* n_bands + 1 offsets into band_faces */
    size_t *chunk_count; /* see ln__bin_faces */
    uint32_t *band_faces;
    float srgb_edge[256];         /* linear value where 8-bit sRGB k-1 turns into k */
    float to_linear[LN__LUT + 1]; /* sRGB k / LN__LUT to linear */
    struct ln_image *out;
};

static float ln__srgb_to_linear(float c)
{
    c = fminf(fmaxf(c, 0.0f), 1.0f);
    return c <= 0.04045f ? c / 12.92f : powf((c + 0.055f) / 1.055f, 2.4f);
}

/* The 8-bit sRGB code of a linear value, correctly rounded, by binary search
 * over the code boundaries (exact where a table indexed by value is not). */
static uint8_t ln__linear_to_srgb8(const float *restrict edge, float v)
{
    int lo = 0;
    for (int step = 128; step > 0; step >>= 1)
        if (lo + step <= 255 && v >= edge[lo + step])
            lo += step;
    return (uint8_t)lo;
}

/* sRGB to linear by the table with linear interpolation, for per-vertex
 * colours: the error stays below 1e-6, far under one 8-bit output step. */
static float ln__lut_linear(const float *restrict lut, float c)
{
    float x = fminf(fmaxf(c, 0.0f), 1.0f) * (float)LN__LUT;
    int i = (int)x;
    if (i >= LN__LUT)
        return lut[LN__LUT];
    float t = x - (float)i;
    return lut[i] + t * (lut[i + 1] - lut[i]);
}

static void ln__srgb_edges(float edge[256])
{
    edge[0] = -FLT_MAX;
    for (int k = 1; k < 256; k++)
        edge[k] = ln__srgb_to_linear(((float)k - 0.5f) / 255.0f);
}

static void ln__srgb_tables(float edge[256], float lut[LN__LUT + 1])
{
    for (int k = 0; k <= LN__LUT; k++)
        lut[k] = ln__srgb_to_linear((float)k / (float)LN__LUT);
    ln__srgb_edges(edge);
}

/* ---- vertices --------------------------------------------------------- */

static void ln__vertex_body(void *ctx, size_t begin, size_t end, int thread)
{
    struct ln__render *r = ctx;
    const float *restrict pos = r->mesh->positions;
    const float *restrict nrm = r->mesh->normals;
    const float *restrict col = r->mesh->colors;
    struct ln__rvert *restrict out = r->verts;
    const float cx = r->centre[0], cy = r->centre[1], cz = r->centre[2];
    const float rx = r->right[0], ry = r->right[1], rz = r->right[2];
    const float ux = r->up[0], uy = r->up[1], uz = r->up[2];
    const float fx = r->forward[0], fy = r->forward[1], fz = r->forward[2];
    const float half = 0.5f * (float)r->side, scale = r->scale;
    const float grey = ln__srgb_to_linear(LN__RENDER_GREY);
    const float *restrict lut = r->to_linear;
    for (size_t i = begin; i < end; i++) {
        const float *p = pos + 3 * i;
        float qx = p[0] - cx, qy = p[1] - cy, qz = p[2] - cz;
        float x = qx * rx + qy * ry + qz * rz;
        float y = qx * ux + qy * uy + qz * uz;
        struct ln__rvert *v = &out[i];
        v->x = (int32_t)lrintf((half + x * scale) * (float)LN__SUB);
        v->y = (int32_t)lrintf((half - y * scale) * (float)LN__SUB);
        v->z = qx * fx + qy * fy + qz * fz;
        for (int k = 0; k < 3; k++) {
            v->c[k] = col ? ln__lut_linear(lut, col[3 * i + k]) : grey;
            v->n[k] = nrm ? nrm[3 * i + k] : 0.0f;
        }
    }
}

/* ---- binning ---------------------------------------------------------- */

/* Sample rows [*j0, *j1] whose centres the face's bounding box spans;
 * returns 0 when it spans no sample centre at all (or has no area). */
static int ln__face_rows(const struct ln__render *r, const struct ln__rvert *a,
                         const struct ln__rvert *b, const struct ln__rvert *c, int *j0, int *j1)
{
    int64_t area = (int64_t)(b->x - a->x) * (c->y - a->y) - (int64_t)(b->y - a->y) * (c->x - a->x);
    if (area == 0)
        return 0;
    int32_t minx = a->x < b->x ? a->x : b->x, maxx = a->x > b->x ? a->x : b->x;
    int32_t miny = a->y < b->y ? a->y : b->y, maxy = a->y > b->y ? a->y : b->y;
    minx = c->x < minx ? c->x : minx;
    maxx = c->x > maxx ? c->x : maxx;
    miny = c->y < miny ? c->y : miny;
    maxy = c->y > maxy ? c->y : maxy;
    /* Sample i has its centre at i * LN__SUB + LN__SUB / 2. */
    int64_t i0 =
        minx - LN__SUB / 2 <= 0 ? 0 : ((int64_t)minx - LN__SUB / 2 + LN__SUB - 1) / LN__SUB;
    int64_t i1 = maxx - LN__SUB / 2 < 0 ? -1 : ((int64_t)maxx - LN__SUB / 2) / LN__SUB;
    int64_t y0 =
        miny - LN__SUB / 2 <= 0 ? 0 : ((int64_t)miny - LN__SUB / 2 + LN__SUB - 1) / LN__SUB;
    int64_t y1 = maxy - LN__SUB / 2 < 0 ? -1 : ((int64_t)maxy - LN__SUB / 2) / LN__SUB;
    if (i1 >= r->side)
        i1 = r->side - 1;
    if (y1 >= r->side)
        y1 = r->side - 1;
    if (i0 > i1 || y0 > y1)
        return 0;
    *j0 = (int)y0;
    *j1 = (int)y1;
    return 1;
}

/* Faces are binned in fixed chunks of LN__CHUNK in parallel: each chunk
 * counts its faces per band, the counts become offsets (band-major, chunk
 * order within a band) and each chunk then fills its own slots. A band's
 * list is thus in face order whatever the thread count. Row k of
 * r->chunk_count holds chunk k's n_bands counts, then 1 + the first face of
 * the chunk with an index out of range (0 when none). */
#define LN__CHUNK 8192

static void ln__count_body(void *ctx, size_t begin, size_t end, int thread)
{
    struct ln__render *r = ctx;
    const struct ln_mesh *m = r->mesh;
    const uint32_t *restrict idx = m->indices;
    const struct ln__rvert *restrict v = r->verts;
    const size_t nv = m->n_vertices, stride = r->n_bands + 1;
    for (size_t k = begin; k < end; k++) {
        size_t *restrict count = r->chunk_count + k * stride;
        size_t f1 = (k + 1) * LN__CHUNK < m->n_faces ? (k + 1) * LN__CHUNK : m->n_faces;
        for (size_t f = k * LN__CHUNK; f < f1; f++) {
            const uint32_t *t = idx + 3 * f;
            if (t[0] >= nv || t[1] >= nv || t[2] >= nv) {
                count[r->n_bands] = f + 1;
                break;
            }
            int j0, j1;
            if (!ln__face_rows(r, &v[t[0]], &v[t[1]], &v[t[2]], &j0, &j1))
                continue;
            for (int b = j0 / LN__BAND; b <= j1 / LN__BAND; b++)
                count[b]++;
        }
    }
}

static void ln__fill_body(void *ctx, size_t begin, size_t end, int thread)
{
    struct ln__render *r = ctx;
    const struct ln_mesh *m = r->mesh;
    const uint32_t *restrict idx = m->indices;
    const struct ln__rvert *restrict v = r->verts;
    uint32_t *restrict bins = r->band_faces;
    const size_t stride = r->n_bands + 1;
    for (size_t k = begin; k < end; k++) {
        size_t *restrict cursor = r->chunk_count + k * stride;
        size_t f1 = (k + 1) * LN__CHUNK < m->n_faces ? (k + 1) * LN__CHUNK : m->n_faces;
        for (size_t f = k * LN__CHUNK; f < f1; f++) {
            const uint32_t *t = idx + 3 * f;
            int j0, j1;
            if (!ln__face_rows(r, &v[t[0]], &v[t[1]], &v[t[2]], &j0, &j1))
                continue;
            for (int b = j0 / LN__BAND; b <= j1 / LN__BAND; b++)
                bins[cursor[b]++] = (uint32_t)f;
        }
    }
}

/* Area-weighted vertex normals for a mesh that has none (serial: faces
 * scatter into shared vertices). */
static void ln__accumulate_normals(struct ln__render *r)
{
    const struct ln_mesh *m = r->mesh;
    const uint32_t *restrict idx = m->indices;
    const float *restrict pos = m->positions;
    struct ln__rvert *restrict v = r->verts;
    for (size_t f = 0; f < m->n_faces; f++) {
        const uint32_t *t = idx + 3 * f;
        const float *p0 = pos + 3 * (size_t)t[0], *p1 = pos + 3 * (size_t)t[1];
        const float *p2 = pos + 3 * (size_t)t[2];
        float e1[3] = {p1[0] - p0[0], p1[1] - p0[1], p1[2] - p0[2]};
        float e2[3] = {p2[0] - p0[0], p2[1] - p0[1], p2[2] - p0[2]};
        float n[3] = {e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2],
                      e1[0] * e2[1] - e1[1] * e2[0]};
        for (int k = 0; k < 3; k++) {
            v[t[0]].n[k] += n[k];
            v[t[1]].n[k] += n[k];
            v[t[2]].n[k] += n[k];
        }
    }
}

/* Validates the indices, sorts the faces into bands and, when the mesh has
 * no normals, accumulates them. */
static int ln__bin_faces(struct ln__render *r, struct ln_error *err)
{
    const struct ln_mesh *m = r->mesh;
    const size_t nb = r->n_bands, stride = nb + 1;
    const size_t n_chunks = (m->n_faces + LN__CHUNK - 1) / LN__CHUNK;

    ln_parallel_for(n_chunks, 1, ln__count_body, r);
    for (size_t k = 0; k < n_chunks; k++) {
        size_t bad = r->chunk_count[k * stride + nb];
        if (bad) {
            const uint32_t *t = m->indices + 3 * (bad - 1);
            uint32_t i = t[0] >= m->n_vertices ? t[0] : (t[1] >= m->n_vertices ? t[1] : t[2]);
            return ln_error_set(err, LN_EINVAL, "face %zu refers to vertex %u of %zu", bad - 1, i,
                                m->n_vertices);
        }
    }
    size_t total = 0;
    for (size_t b = 0; b < nb; b++) {
        r->band_start[b] = total;
        for (size_t k = 0; k < n_chunks; k++) {
            size_t c = r->chunk_count[k * stride + b];
            r->chunk_count[k * stride + b] = total;
            total += c;
        }
    }
    r->band_start[nb] = total;

    r->band_faces =
        ln_alloc_array(total ? total : 1, sizeof *r->band_faces, 0, "preview face bins", err);
    if (!r->band_faces)
        return LN_ENOMEM;
    ln_parallel_for(n_chunks, 1, ln__fill_body, r);
    if (!m->normals)
        ln__accumulate_normals(r);
    return LN_OK;
}

/* ---- rasterisation ------------------------------------------------------ */

/* Edge a->b of a triangle with positive area (clockwise on the y-down
 * screen) owns the samples exactly on it when it is a top edge (horizontal,
 * running right) or a left edge (running up). */
static int64_t ln__edge_bias(int32_t ax, int32_t ay, int32_t bx, int32_t by)
{
    int32_t dx = bx - ax, dy = by - ay;
    return (dy < 0 || (dy == 0 && dx > 0)) ? 0 : -1;
}

static void ln__raster_face(const struct ln__render *r, uint32_t f, int band_y0, int band_y1)
{
    const uint32_t *t = r->mesh->indices + 3 * (size_t)f;
    const struct ln__rvert *a = &r->verts[t[0]], *b = &r->verts[t[1]], *c = &r->verts[t[2]];
    int64_t area = (int64_t)(b->x - a->x) * (c->y - a->y) - (int64_t)(b->y - a->y) * (c->x - a->x);
    if (area == 0)
        return;
    /* Counter-clockwise seen from the camera (the mesh's outside) is
     * negative area on the y-down screen. */
    uint32_t id = f;
    if (area > 0) {
        id |= LN__BACK_BIT;
    } else {
        const struct ln__rvert *s = b;
        b = c;
        c = s;
        area = -area;
    }
    int j0, j1;
    if (!ln__face_rows(r, a, b, c, &j0, &j1))
        return;
    if (j0 < band_y0)
        j0 = band_y0;
    if (j1 >= band_y1)
        j1 = band_y1 - 1;
    int32_t minx = a->x < b->x ? a->x : b->x, maxx = a->x > b->x ? a->x : b->x;
    minx = c->x < minx ? c->x : minx;
    maxx = c->x > maxx ? c->x : maxx;
    int i0 = minx - LN__SUB / 2 <= 0 ? 0 : (minx - LN__SUB / 2 + LN__SUB - 1) / LN__SUB;
    int i1 = (maxx - LN__SUB / 2) / LN__SUB;
    if (i1 >= r->side)
        i1 = r->side - 1;

    /* w_a is the edge function of the edge opposite a, and so on; each is
     * area * (barycentric weight of its vertex). */
    const int64_t bias_a = ln__edge_bias(b->x, b->y, c->x, c->y);
    const int64_t bias_b = ln__edge_bias(c->x, c->y, a->x, a->y);
    const int64_t bias_c = ln__edge_bias(a->x, a->y, b->x, b->y);
    const int64_t dxa = (int64_t)(b->y - c->y) * LN__SUB, dya = (int64_t)(c->x - b->x) * LN__SUB;
    const int64_t dxb = (int64_t)(c->y - a->y) * LN__SUB, dyb = (int64_t)(a->x - c->x) * LN__SUB;
    const int64_t dxc = (int64_t)(a->y - b->y) * LN__SUB, dyc = (int64_t)(b->x - a->x) * LN__SUB;
    const int64_t px = (int64_t)i0 * LN__SUB + LN__SUB / 2,
                  py = (int64_t)j0 * LN__SUB + LN__SUB / 2;
    int64_t ra = (int64_t)(c->x - b->x) * (py - b->y) - (int64_t)(c->y - b->y) * (px - b->x);
    int64_t rb = (int64_t)(a->x - c->x) * (py - c->y) - (int64_t)(a->y - c->y) * (px - c->x);
    int64_t rc = (int64_t)(b->x - a->x) * (py - a->y) - (int64_t)(b->y - a->y) * (px - a->x);
    const float inv = 1.0f / (float)area;
    const float za = a->z, kb = (b->z - a->z) * inv, kc = (c->z - a->z) * inv;
    const size_t side = (size_t)r->side;
    struct ln__sample *restrict samples = r->samples;

    for (int j = j0; j <= j1; j++) {
        int64_t wa = ra, wb = rb, wc = rc;
        struct ln__sample *row = samples + (size_t)j * side;
        for (int i = i0; i <= i1; i++) {
            if (((wa + bias_a) | (wb + bias_b) | (wc + bias_c)) >= 0) {
                float z = za + (float)wb * kb + (float)wc * kc;
                if (z < row[i].z) {
                    row[i].z = z;
                    row[i].face = id;
                }
            }
            wa += dxa;
            wb += dxb;
            wc += dxc;
        }
        ra += dya;
        rb += dyb;
        rc += dyc;
    }
}

static void ln__raster_body(void *ctx, size_t begin, size_t end, int thread)
{
    struct ln__render *r = ctx;
    const size_t side = (size_t)r->side;
    for (size_t band = begin; band < end; band++) {
        int y0 = (int)band * LN__BAND;
        int y1 = y0 + LN__BAND < r->side ? y0 + LN__BAND : r->side;
        struct ln__sample *restrict s = r->samples + (size_t)y0 * side;
        for (size_t i = 0; i < (size_t)(y1 - y0) * side; i++) {
            s[i].z = FLT_MAX;
            s[i].face = LN__NO_FACE;
        }
        for (size_t k = r->band_start[band]; k < r->band_start[band + 1]; k++)
            ln__raster_face(r, r->band_faces[k], y0, y1);
    }
}

/* ---- shading ------------------------------------------------------------ */

static void ln__shade_sample(const struct ln__render *r, int si, int sj, float out[3])
{
    uint32_t id = r->samples[(size_t)sj * (size_t)r->side + (size_t)si].face;
    if (id == LN__NO_FACE) {
        out[0] += r->bg[0];
        out[1] += r->bg[1];
        out[2] += r->bg[2];
        return;
    }
    const int back = (id & LN__BACK_BIT) != 0;
    const size_t f = id & ~LN__BACK_BIT;
    const uint32_t *t = r->mesh->indices + 3 * f;
    const struct ln__rvert *a = &r->verts[t[0]], *b = &r->verts[t[1]], *c = &r->verts[t[2]];
    /* Exact integer edge functions at the sample centre: the same signs the
     * rasteriser saw, so the weights lie in [0, 1] and sum to one. */
    const int64_t px = (int64_t)si * LN__SUB + LN__SUB / 2,
                  py = (int64_t)sj * LN__SUB + LN__SUB / 2;
    int64_t area = (int64_t)(b->x - a->x) * (c->y - a->y) - (int64_t)(b->y - a->y) * (c->x - a->x);
    int64_t wb = (int64_t)(a->x - c->x) * (py - c->y) - (int64_t)(a->y - c->y) * (px - c->x);
    int64_t wc = (int64_t)(b->x - a->x) * (py - a->y) - (int64_t)(b->y - a->y) * (px - a->x);
    float lb = (float)wb / (float)area, lc = (float)wc / (float)area;
    float la = 1.0f - lb - lc;

    float col[3], n[3];
    for (int k = 0; k < 3; k++) {
        col[k] = la * a->c[k] + lb * b->c[k] + lc * c->c[k];
        n[k] = la * a->n[k] + lb * b->n[k] + lc * c->n[k];
    }
    float len2 = n[0] * n[0] + n[1] * n[1] + n[2] * n[2];
    if (!(len2 > 1e-30f)) {
        /* Normals cancel (or are missing or not finite): the face's own. */
        const float *pos = r->mesh->positions;
        const float *p0 = pos + 3 * (size_t)t[0], *p1 = pos + 3 * (size_t)t[1];
        const float *p2 = pos + 3 * (size_t)t[2];
        float e1[3] = {p1[0] - p0[0], p1[1] - p0[1], p1[2] - p0[2]};
        float e2[3] = {p2[0] - p0[0], p2[1] - p0[1], p2[2] - p0[2]};
        n[0] = e1[1] * e2[2] - e1[2] * e2[1];
        n[1] = e1[2] * e2[0] - e1[0] * e2[2];
        n[2] = e1[0] * e2[1] - e1[1] * e2[0];
        len2 = n[0] * n[0] + n[1] * n[1] + n[2] * n[2];
    }
    float d = (n[0] * r->light[0] + n[1] * r->light[1] + n[2] * r->light[2]) / sqrtf(len2);
    if (back)
        d = -d;
    float lit = LN__RENDER_AMBIENT + LN__RENDER_DIFFUSE * fmaxf(d, 0.0f);
    if (back)
        lit *= LN__RENDER_BACK;
    for (int k = 0; k < 3; k++)
        out[k] += col[k] * lit;
}

static void ln__shade_body(void *ctx, size_t begin, size_t end, int thread)
{
    struct ln__render *r = ctx;
    const int ss = r->ss, size = r->size;
    const float norm = 1.0f / (float)(ss * ss);
    uint8_t *restrict px = r->out->data;
    for (size_t y = begin; y < end; y++) {
        for (int x = 0; x < size; x++) {
            float acc[3] = {0.0f, 0.0f, 0.0f};
            for (int sj = 0; sj < ss; sj++)
                for (int si = 0; si < ss; si++)
                    ln__shade_sample(r, x * ss + si, (int)y * ss + sj, acc);
            uint8_t *p = px + (y * (size_t)size + (size_t)x) * 3;
            for (int k = 0; k < 3; k++)
                p[k] = ln__linear_to_srgb8(r->srgb_edge, acc[k] * norm);
        }
    }
}

/* ---- entry points ------------------------------------------------------- */

void ln_render_options_default(struct ln_render_options *opt)
{
    opt->size = 256;
    opt->view.azimuth = 35.0f;
    opt->view.elevation = 20.0f;
    for (int k = 0; k < 3; k++)
        opt->background[k] = LN__RENDER_BG;
    opt->supersample = 2;
}

/* Bounding-box centre and the radius of the sphere around it that holds
 * every vertex; fails on positions that are not finite. */
static int ln__frame(const struct ln_mesh *m, float centre[3], float *radius, struct ln_error *err)
{
    float lo[3], hi[3];
    ln_mesh_bounds(m, lo, hi);
    for (int k = 0; k < 3; k++) {
        if (!isfinite(lo[k]) || !isfinite(hi[k]))
            return ln_error_set(err, LN_EINVAL, "mesh has positions that are not finite numbers");
        centre[k] = 0.5f * (lo[k] + hi[k]);
    }
    double r2 = 0.0;
    for (size_t i = 0; i < m->n_vertices; i++) {
        const float *p = m->positions + 3 * i;
        double dx = p[0] - centre[0], dy = p[1] - centre[1], dz = p[2] - centre[2];
        double d2 = dx * dx + dy * dy + dz * dz;
        if (!(d2 <= r2)) {
            if (!isfinite(d2))
                return ln_error_set(err, LN_EINVAL,
                                    "mesh has positions that are not finite numbers");
            r2 = d2;
        }
    }
    *radius = (float)sqrt(r2);
    if (!(*radius > 0.0f) || !isfinite(*radius))
        *radius = 1.0f;
    return LN_OK;
}

int ln_render_mesh(const struct ln_mesh *mesh, const struct ln_render_options *opt,
                   struct ln_image *out, struct ln_error *err)
{
    int rc;
    struct ln__render r;
    struct ln_camera_options copt;
    struct ln_camera cam;
    float radius = 1.0f;
    memset(&r, 0, sizeof r);
    if (!mesh || !opt || !out)
        return ln_error_set(err, LN_EINVAL, "render: missing mesh, options or output image");
    memset(out, 0, sizeof *out);
    if (opt->size < 1 || opt->size > LN__RENDER_MAX_SIZE)
        return ln_error_set(err, LN_EINVAL, "preview size %d is outside 1 to %d", opt->size,
                            LN__RENDER_MAX_SIZE);
    if (opt->supersample != 1 && opt->supersample != 2)
        return ln_error_set(err, LN_EINVAL, "preview supersampling must be 1 or 2, not %d",
                            opt->supersample);
    if (mesh->n_faces > 0 && (!mesh->positions || !mesh->indices))
        return ln_error_set(err, LN_EINVAL, "mesh has faces but no positions or indices");
    if (mesh->n_faces >= LN__BACK_BIT)
        return ln_error_set(err, LN_ETOOBIG, "mesh of %zu faces is too large to preview",
                            mesh->n_faces);

    r.mesh = mesh;
    r.size = opt->size;
    r.ss = opt->supersample;
    r.side = opt->size * opt->supersample;
    r.out = out;
    ln__srgb_tables(r.srgb_edge, r.to_linear);
    for (int k = 0; k < 3; k++)
        r.bg[k] = ln__srgb_to_linear(opt->background[k]);

    rc = ln_image_alloc(out, r.size, r.size, 3, err);
    if (rc < 0)
        goto fail;
    if (mesh->n_faces == 0 || mesh->n_vertices == 0) {
        /* Nothing to draw: every pixel is background (n_faces > 0 here would
         * mean indices into no vertices, which the binning refuses). */
        if (mesh->n_faces > 0) {
            rc = ln_error_set(err, LN_EINVAL, "mesh has %zu faces but no vertices", mesh->n_faces);
            goto fail;
        }
        uint8_t bg[3];
        for (int k = 0; k < 3; k++)
            bg[k] = ln__linear_to_srgb8(r.srgb_edge, r.bg[k]);
        for (size_t i = 0; i < (size_t)r.size * (size_t)r.size; i++)
            memcpy(out->data + 3 * i, bg, 3);
        return LN_OK;
    }

    rc = ln__frame(mesh, r.centre, &radius, err);
    if (rc < 0)
        goto fail;
    ln_camera_options_default(&copt);
    copt.projection = LN_PROJECTION_ORTHO;
    copt.ortho_size = 2.0f * radius / LN__RENDER_FILL;
    ln_camera_init(&cam, &opt->view, &copt);
    for (int k = 0; k < 3; k++) {
        r.right[k] = cam.right[k];
        r.up[k] = cam.up[k];
        r.forward[k] = cam.forward[k];
        /* (-1/2 right + 1/2 up + 1/sqrt 2 toward the viewer) is unit length. */
        r.light[k] = -0.5f * cam.right[k] + 0.5f * cam.up[k] - 0.70710678f * cam.forward[k];
    }
    r.scale = cam.scale * (float)r.side;

    r.verts = ln_alloc_array(mesh->n_vertices, sizeof *r.verts, 0, "preview vertices", err);
    if (!r.verts) {
        rc = LN_ENOMEM;
        goto fail;
    }
    r.samples = ln_alloc_array((size_t)r.side * (size_t)r.side, sizeof *r.samples, 0,
                               "preview depth buffer", err);
    if (!r.samples) {
        rc = LN_ENOMEM;
        goto fail;
    }
    r.n_bands = ((size_t)r.side + LN__BAND - 1) / LN__BAND;
    r.band_start = ln_alloc_array(r.n_bands + 1, sizeof *r.band_start, 0, "preview bands", err);
    if (!r.band_start) {
        rc = LN_ENOMEM;
        goto fail;
    }
    r.chunk_count =
        ln_alloc_array((mesh->n_faces + LN__CHUNK - 1) / LN__CHUNK,
                       (r.n_bands + 1) * sizeof *r.chunk_count, 1, "preview band counts", err);
    if (!r.chunk_count) {
        rc = LN_ENOMEM;
        goto fail;
    }

    ln_parallel_for(mesh->n_vertices, 4096, ln__vertex_body, &r);
    rc = ln__bin_faces(&r, err);
    if (rc < 0)
        goto fail;
    ln_parallel_for(r.n_bands, 1, ln__raster_body, &r);
    ln_parallel_for((size_t)r.size, 8, ln__shade_body, &r);
    rc = LN_OK;
    goto done;

fail:
    ln_image_free(out);
done:
    free(r.band_faces);
    free(r.chunk_count);
    free(r.band_start);
    free(r.samples);
    free(r.verts);
    return rc;
}

int ln_render_preview(const struct ln_mesh *mesh, int size, struct ln_image *out,
                      struct ln_error *err)
{
    struct ln_render_options opt;
    ln_render_options_default(&opt);
    opt.size = size;
    return ln_render_mesh(mesh, &opt, out, err);
}
