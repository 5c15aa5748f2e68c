/*
 * The bench's objects: each is a signed distance built from analytic parts
 * (spheres, ellipsoids, boxes, cylinders, tori, capsules) by union and
 * subtraction, so the truth is one closed outer surface with no hidden
 * inner faces where parts overlap; marching cubes on a fine grid turns it
 * into the truth mesh. Their texture is a function of position, so every
 * renderer and every view agree on the colour of a point.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_mc.h"
#include "ln_threads.h"
#include "shapes_common.h"

/* ---- distance primitives (negative inside) ---------------------------- */

static float ln__len3(float x, float y, float z)
{
    return sqrtf(x * x + y * y + z * z);
}

static float ln__sphere(const float p[3], float cx, float cy, float cz, float r)
{
    return ln__len3(p[0] - cx, p[1] - cy, p[2] - cz) - r;
}

/* A close bound for an ellipsoid's distance (exact on the axes). */
static float ln__ellipsoid(const float p[3], float cx, float cy, float cz, float rx, float ry,
                           float rz)
{
    float x = p[0] - cx, y = p[1] - cy, z = p[2] - cz;
    float k0 = ln__len3(x / rx, y / ry, z / rz);
    float k1 = ln__len3(x / (rx * rx), y / (ry * ry), z / (rz * rz));
    if (k1 < 1e-12f)
        return -fminf(rx, fminf(ry, rz));
    return k0 * (k0 - 1.0f) / k1;
}

static float ln__box(const float p[3], float cx, float cy, float cz, float hx, float hy, float hz)
{
    float qx = fabsf(p[0] - cx) - hx, qy = fabsf(p[1] - cy) - hy, qz = fabsf(p[2] - cz) - hz;
    float out = ln__len3(fmaxf(qx, 0.0f), fmaxf(qy, 0.0f), fmaxf(qz, 0.0f));
    return out + fminf(fmaxf(qx, fmaxf(qy, qz)), 0.0f);
}

/* Cylinder along y: radius r, y in [y0, y1]. */
static float ln__cylinder(const float p[3], float r, float y0, float y1)
{
    float dr = sqrtf(p[0] * p[0] + p[2] * p[2]) - r;
    float dy = fabsf(p[1] - 0.5f * (y0 + y1)) - 0.5f * (y1 - y0);
    return fminf(fmaxf(dr, dy), 0.0f) +
           sqrtf(fmaxf(dr, 0.0f) * fmaxf(dr, 0.0f) + fmaxf(dy, 0.0f) * fmaxf(dy, 0.0f));
}

/* Torus of radii R and r around the axis through c along `axis` (0 x,
 * 1 y, 2 z). */
static float ln__torus(const float p[3], float cx, float cy, float cz, int axis, float R, float r)
{
    float q[3] = {p[0] - cx, p[1] - cy, p[2] - cz};
    float a = q[axis], b = q[(axis + 1) % 3], c = q[(axis + 2) % 3];
    float ring = sqrtf(b * b + c * c) - R;
    return sqrtf(ring * ring + a * a) - r;
}

static float ln__capsule(const float p[3], const float a[3], const float b[3], float r)
{
    float pa[3] = {p[0] - a[0], p[1] - a[1], p[2] - a[2]};
    float ba[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
    float t = (pa[0] * ba[0] + pa[1] * ba[1] + pa[2] * ba[2]) /
              (ba[0] * ba[0] + ba[1] * ba[1] + ba[2] * ba[2]);
    t = fminf(fmaxf(t, 0.0f), 1.0f);
    return ln__len3(pa[0] - t * ba[0], pa[1] - t * ba[1], pa[2] - t * ba[2]) - r;
}

/* Polynomial smooth minimum (blend width k), for the figure's joints. */
static float ln__smin(float a, float b, float k)
{
    float h = fmaxf(k - fabsf(a - b), 0.0f) / k;
    return fminf(a, b) - h * h * k * 0.25f;
}

/* ---- the objects ------------------------------------------------------ */

/* A cup: an open cylinder with a 5 cm wall and a 7 cm bottom, and a torus
 * handle on +x whose inner half is cut away by the cavity. */
static float ln__cup(const float p[3])
{
    float outer = ln__cylinder(p, 0.34f, -0.4f, 0.4f);
    float cavity = ln__cylinder(p, 0.29f, -0.33f, 0.6f);
    float handle = ln__torus(p, 0.47f, 0.02f, 0.0f, 2, 0.15f, 0.04f);
    return fmaxf(fminf(outer, handle), -cavity);
}

/* A bowl: a spherical shell cut below its equator, on a foot ring. */
static float ln__bowl(const float p[3])
{
    float outer = ln__sphere(p, 0.0f, 0.3f, 0.0f, 0.5f);
    float inner = ln__sphere(p, 0.0f, 0.3f, 0.0f, 0.455f);
    float shell = fmaxf(fmaxf(outer, -inner), p[1] - 0.2f);
    float foot = ln__cylinder(p, 0.2f, -0.25f, -0.12f);
    return fminf(shell, fmaxf(foot, -inner));
}

/* A chair: seat, four legs, back on -z. */
static float ln__chair(const float p[3])
{
    float d = ln__box(p, 0.0f, 0.0f, 0.0f, 0.25f, 0.03f, 0.25f);
    for (int i = 0; i < 4; i++) {
        float x = (i & 1) ? 0.21f : -0.21f, z = (i & 2) ? 0.21f : -0.21f;
        d = fminf(d, ln__box(p, x, -0.25f, z, 0.03f, 0.23f, 0.03f));
    }
    d = fminf(d, ln__box(p, 0.0f, 0.28f, -0.22f, 0.25f, 0.26f, 0.03f));
    return d;
}

/* A torus standing on its rim (ring in the x-y plane, facing the front). */
static float ln__torus_standing(const float p[3])
{
    return ln__torus(p, 0.0f, 0.0f, 0.0f, 2, 0.35f, 0.12f);
}

static float ln__torus_lying(const float p[3])
{
    return ln__torus(p, 0.0f, 0.0f, 0.0f, 1, 0.35f, 0.12f);
}

/* A figure: ellipsoid torso, head, arms and legs, blended at the joints. */
static float ln__figure(const float p[3])
{
    static const float limbs[4][2][3] = {
        {{0.15f, 0.2f, 0.0f}, {0.36f, -0.07f, 0.08f}},
        {{-0.15f, 0.2f, 0.0f}, {-0.36f, -0.07f, -0.05f}},
        {{0.09f, -0.15f, 0.0f}, {0.13f, -0.55f, 0.03f}},
        {{-0.09f, -0.15f, 0.0f}, {-0.13f, -0.55f, -0.02f}},
    };
    float d = ln__ellipsoid(p, 0.0f, 0.05f, 0.0f, 0.18f, 0.26f, 0.13f);
    d = ln__smin(d, ln__sphere(p, 0.0f, 0.43f, 0.01f, 0.12f), 0.06f);
    for (int i = 0; i < 4; i++)
        d = ln__smin(d, ln__capsule(p, limbs[i][0], limbs[i][1], i < 2 ? 0.05f : 0.065f), 0.05f);
    return d;
}

/* The convex control: the hull of a convex object is close to it. */
static float ln__egg(const float p[3])
{
    return ln__ellipsoid(p, 0.0f, 0.0f, 0.0f, 0.3f, 0.42f, 0.25f);
}

const struct ln_shapes_object ln_shapes_objects[] = {
    {"cup", 1, ln__cup, {-0.4f, -0.45f, -0.4f}, {0.7f, 0.45f, 0.4f}},
    {"bowl", 1, ln__bowl, {-0.55f, -0.3f, -0.55f}, {0.55f, 0.25f, 0.55f}},
    {"chair", 1, ln__chair, {-0.3f, -0.52f, -0.3f}, {0.3f, 0.58f, 0.3f}},
    {"torus-standing", 0, ln__torus_standing, {-0.5f, -0.5f, -0.15f}, {0.5f, 0.5f, 0.15f}},
    {"torus-lying", 1, ln__torus_lying, {-0.5f, -0.15f, -0.5f}, {0.5f, 0.15f, 0.5f}},
    {"figure", 0, ln__figure, {-0.48f, -0.66f, -0.2f}, {0.48f, 0.6f, 0.2f}},
    {"egg", 0, ln__egg, {-0.35f, -0.47f, -0.3f}, {0.35f, 0.47f, 0.3f}},
};
const int ln_shapes_n_objects = (int)(sizeof ln_shapes_objects / sizeof ln_shapes_objects[0]);

const struct ln_shapes_object *ln_shapes_find(const char *name)
{
    for (int i = 0; i < ln_shapes_n_objects; i++)
        if (strcmp(ln_shapes_objects[i].name, name) == 0)
            return &ln_shapes_objects[i];
    return NULL;
}

/* ---- the truth mesh --------------------------------------------------- */

struct ln__field {
    const struct ln_shapes_object *obj;
    float *f;
    int n[3];
    float origin[3], h;
};

static void ln__field_body(void *ctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct ln__field *c = ctx;
    for (size_t i = begin; i < end; i++)
        for (int j = 0; j < c->n[1]; j++) {
            float *row = c->f + (i * (size_t)c->n[1] + (size_t)j) * (size_t)c->n[2];
            for (int k = 0; k < c->n[2]; k++) {
                float p[3] = {c->origin[0] + (float)i * c->h, c->origin[1] + (float)j * c->h,
                              c->origin[2] + (float)k * c->h};
                row[k] = -c->obj->sdf(p);
            }
        }
}

int ln_shapes_build(const struct ln_shapes_object *obj, int res, struct ln_mesh *out,
                    struct ln_error *err)
{
    float ext = 0.0f;
    for (int a = 0; a < 3; a++)
        ext = fmaxf(ext, obj->hi[a] - obj->lo[a]);
    struct ln__field c = {.obj = obj, .h = ext / (float)res};
    for (int a = 0; a < 3; a++) {
        /* Two cells of margin, so the surface closes inside the grid. */
        c.origin[a] = obj->lo[a] - 2.0f * c.h;
        c.n[a] = (int)ceilf((obj->hi[a] - obj->lo[a]) / c.h) + 5;
    }
    size_t n_field;
    if (ln_size_mul3((size_t)c.n[0], (size_t)c.n[1], (size_t)c.n[2], &n_field) < 0)
        return ln_error_set(err, LN_ETOOBIG, "truth grid too large");
    c.f = ln_alloc_array(n_field, sizeof(float), 0, "truth grid", err);
    if (!c.f)
        return err ? err->code : LN_ENOMEM;
    ln_parallel_for((size_t)c.n[0], 2, ln__field_body, &c);
    const float spacing[3] = {c.h, c.h, c.h};
    int rc = ln_mc_extract(c.f, c.n[0], c.n[1], c.n[2], 0.0f, c.origin, spacing, out, err);
    free(c.f);
    if (rc < 0)
        return rc;
    float lo[3], hi[3];
    ln_mesh_bounds(out, lo, hi);
    float mid[3], diag = 0.0f, big = 0.0f;
    for (int a = 0; a < 3; a++) {
        mid[a] = 0.5f * (lo[a] + hi[a]);
        diag += (hi[a] - lo[a]) * (hi[a] - lo[a]);
        big = fmaxf(big, hi[a] - lo[a]);
    }
    float s = fminf(LN_SHAPES_RADIUS / (0.5f * sqrtf(diag)), 0.8f / big);
    for (size_t v = 0; v < out->n_vertices; v++)
        for (int a = 0; a < 3; a++)
            out->positions[3 * v + a] = (out->positions[3 * v + a] - mid[a]) * s;
    return ln_mesh_compute_normals(out, err);
}

/* ---- texture ---------------------------------------------------------- */

static float ln__hash(int x, int y, int z)
{
    uint32_t h = (uint32_t)x * 73856093u ^ (uint32_t)y * 19349663u ^ (uint32_t)z * 83492791u;
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    return (float)(h & 0xffffu) / 65535.0f;
}

/* Trilinear value noise of period one cell. */
static float ln__noise(float x, float y, float z)
{
    float fx = floorf(x), fy = floorf(y), fz = floorf(z);
    int ix = (int)fx, iy = (int)fy, iz = (int)fz;
    float tx = x - fx, ty = y - fy, tz = z - fz;
    float v = 0.0f;
    for (int c = 0; c < 8; c++) {
        int dx = c & 1, dy = (c >> 1) & 1, dz = c >> 2;
        float w = (dx ? tx : 1 - tx) * (dy ? ty : 1 - ty) * (dz ? tz : 1 - tz);
        v += w * ln__hash(ix + dx, iy + dy, iz + dz);
    }
    return v;
}

void ln_shapes_albedo(const float p[3], float rgb[3])
{
    /* Checks of 12.5 cm tinted red and blue, stripes across them, and
     * noise: every colour stays well below the light background. */
    static const float a[3] = {0.78f, 0.30f, 0.18f}, b[3] = {0.16f, 0.36f, 0.68f};
    int check =
        ((int)floorf(p[0] * 8.0f) + (int)floorf(p[1] * 8.0f) + (int)floorf(p[2] * 8.0f)) & 1;
    float stripe = 0.5f + 0.5f * sinf(25.0f * p[1] + 9.0f * p[0] + 5.0f * p[2]);
    float n = ln__noise(p[0] * 14.0f + 3.0f, p[1] * 14.0f + 5.0f, p[2] * 14.0f + 7.0f);
    const float *base = check ? a : b;
    for (int c = 0; c < 3; c++)
        rgb[c] = fminf(0.85f, base[c] * (0.65f + 0.35f * stripe) + 0.18f * (n - 0.5f) +
                                  (c == 1 ? 0.12f * stripe : 0.0f));
    for (int c = 0; c < 3; c++)
        rgb[c] = fmaxf(rgb[c], 0.03f);
}

/* ---- simple meshes for the metric checks ------------------------------ */

/* Midpoint of edge (a, b), created once: a small open-addressing table
 * keyed by the vertex pair. */
struct ln__mid {
    uint64_t *keys;
    uint32_t *vals;
    size_t cap;
};

static uint32_t ln__midpoint(struct ln__mid *t, float *pos, size_t *nv, uint32_t a, uint32_t b)
{
    uint64_t key = a < b ? ((uint64_t)a << 32 | b) : ((uint64_t)b << 32 | a);
    size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) % t->cap;
    while (t->keys[i] != UINT64_MAX) {
        if (t->keys[i] == key)
            return t->vals[i];
        i = (i + 1) % t->cap;
    }
    uint32_t v = (uint32_t)(*nv)++;
    float m[3], l = 0.0f;
    for (int c = 0; c < 3; c++) {
        m[c] = 0.5f * (pos[3 * a + c] + pos[3 * b + c]);
        l += m[c] * m[c];
    }
    l = sqrtf(l);
    for (int c = 0; c < 3; c++)
        pos[3 * v + c] = m[c] / l;
    t->keys[i] = key;
    t->vals[i] = v;
    return v;
}

int ln_shapes_sphere(const float c[3], float r, int level, struct ln_mesh *out,
                     struct ln_error *err)
{
    static const int ico_f[20][3] = {{0, 11, 5}, {0, 5, 1},  {0, 1, 7},   {0, 7, 10}, {0, 10, 11},
                                     {1, 5, 9},  {5, 11, 4}, {11, 10, 2}, {10, 7, 6}, {7, 1, 8},
                                     {3, 9, 4},  {3, 4, 2},  {3, 2, 6},   {3, 6, 8},  {3, 8, 9},
                                     {4, 9, 5},  {2, 4, 11}, {6, 2, 10},  {8, 6, 7},  {9, 8, 1}};
    const float t = (1.0f + sqrtf(5.0f)) / 2.0f;
    const float ico_v[12][3] = {{-1, t, 0}, {1, t, 0}, {-1, -t, 0}, {1, -t, 0},
                                {0, -1, t}, {0, 1, t}, {0, -1, -t}, {0, 1, -t},
                                {t, 0, -1}, {t, 0, 1}, {-t, 0, -1}, {-t, 0, 1}};
    if (level < 0 || level > 7)
        return ln_error_set(err, LN_EINVAL, "sphere level %d out of range", level);
    size_t nf = 20, nv = 12;
    for (int l = 0; l < level; l++)
        nf *= 4;
    size_t max_v = nf / 2 + 2;
    float *pos = ln_xmalloc(max_v * 3 * sizeof(float));
    uint32_t *f = ln_xmalloc(nf * 3 * sizeof(uint32_t));
    uint32_t *g = ln_xmalloc(nf * 3 * sizeof(uint32_t));
    for (int v = 0; v < 12; v++) {
        float l = ln__len3(ico_v[v][0], ico_v[v][1], ico_v[v][2]);
        for (int a = 0; a < 3; a++)
            pos[3 * v + a] = ico_v[v][a] / l;
    }
    size_t cur = 20;
    for (size_t i = 0; i < 20; i++)
        for (int a = 0; a < 3; a++)
            f[3 * i + a] = (uint32_t)ico_f[i][a];
    struct ln__mid t_mid = {0};
    for (int l = 0; l < level; l++) {
        t_mid.cap = cur * 4 + 17;
        t_mid.keys = ln_xmalloc(t_mid.cap * sizeof(uint64_t));
        t_mid.vals = ln_xmalloc(t_mid.cap * sizeof(uint32_t));
        memset(t_mid.keys, 0xff, t_mid.cap * sizeof(uint64_t));
        for (size_t i = 0; i < cur; i++) {
            uint32_t a = f[3 * i], b = f[3 * i + 1], cc = f[3 * i + 2];
            uint32_t ab = ln__midpoint(&t_mid, pos, &nv, a, b);
            uint32_t bc = ln__midpoint(&t_mid, pos, &nv, b, cc);
            uint32_t ca = ln__midpoint(&t_mid, pos, &nv, cc, a);
            uint32_t quad[4][3] = {{a, ab, ca}, {b, bc, ab}, {cc, ca, bc}, {ab, bc, ca}};
            memcpy(g + 12 * i, quad, sizeof quad);
        }
        free(t_mid.keys);
        free(t_mid.vals);
        cur *= 4;
        uint32_t *tmp = f;
        f = g;
        g = tmp;
    }
    int rc = ln_mesh_alloc(out, nv, cur, 0, err);
    if (rc == LN_OK) {
        for (size_t v = 0; v < nv; v++)
            for (int a = 0; a < 3; a++)
                out->positions[3 * v + a] = c[a] + r * pos[3 * v + a];
        memcpy(out->indices, f, cur * 3 * sizeof(uint32_t));
    }
    free(pos);
    free(f);
    free(g);
    return rc;
}

int ln_shapes_ellipsoid(const float c[3], const float h[3], struct ln_mesh *out,
                        struct ln_error *err)
{
    const float zero[3] = {0.0f, 0.0f, 0.0f};
    int rc = ln_shapes_sphere(zero, 1.0f, 5, out, err);
    if (rc < 0)
        return rc;
    for (size_t v = 0; v < out->n_vertices; v++)
        for (int a = 0; a < 3; a++)
            out->positions[3 * v + a] = c[a] + h[a] * out->positions[3 * v + a];
    return LN_OK;
}

int ln_shapes_box(const float h[3], int n, struct ln_mesh *out, struct ln_error *err)
{
    /* Six faces, each an (n + 1)^2 vertex sheet; vertices are not shared
     * between faces, which does not matter for sampling or rendering. */
    size_t per_v = (size_t)(n + 1) * (n + 1), per_f = (size_t)n * n * 2;
    int rc = ln_mesh_alloc(out, 6 * per_v, 6 * per_f, 0, err);
    if (rc < 0)
        return rc;
    size_t vi = 0, fi = 0;
    for (int axis = 0; axis < 3; axis++)
        for (int side = -1; side <= 1; side += 2) {
            int ua = (axis + 1) % 3, va = (axis + 2) % 3;
            size_t base = vi;
            for (int j = 0; j <= n; j++)
                for (int i = 0; i <= n; i++) {
                    float *p = out->positions + 3 * vi++;
                    p[axis] = (float)side * h[axis];
                    p[ua] = h[ua] * (2.0f * (float)i / (float)n - 1.0f);
                    p[va] = h[va] * (2.0f * (float)j / (float)n - 1.0f);
                }
            for (int j = 0; j < n; j++)
                for (int i = 0; i < n; i++) {
                    uint32_t a = (uint32_t)(base + (size_t)j * (n + 1) + i);
                    uint32_t b = a + 1, c = a + (uint32_t)(n + 1), d = c + 1;
                    /* u x v points along +axis: counter-clockwise seen from
                     * outside on the + side, reversed on the - side. */
                    uint32_t *f = out->indices + 3 * fi;
                    if (side > 0) {
                        f[0] = a, f[1] = b, f[2] = d, f[3] = a, f[4] = d, f[5] = c;
                    } else {
                        f[0] = a, f[1] = d, f[2] = b, f[3] = a, f[4] = c, f[5] = d;
                    }
                    fi += 2;
                }
        }
    return LN_OK;
}
