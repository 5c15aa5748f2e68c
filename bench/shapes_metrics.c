/*
 * The bench's measures: area-uniform surface samples, exact nearest
 * neighbours through a k-d tree, Chamfer distance and F-score, and the
 * exact visual hull that a silhouette-only method cannot beat. Nearest
 * distances are computed per query point in parallel and summed in index
 * order afterwards, so a score is the same for every thread count.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_mc.h"
#include "ln_threads.h"
#include "shapes_common.h"

void ln_shapes_points_free(struct ln_shapes_points *p)
{
    free(p->xyz);
    p->xyz = NULL;
    p->n = 0;
}

void ln_shapes_normalise(struct ln_mesh *mesh)
{
    float lo[3], hi[3], mid[3], big = 0.0f;
    ln_mesh_bounds(mesh, lo, hi);
    for (int a = 0; a < 3; a++) {
        mid[a] = 0.5f * (lo[a] + hi[a]);
        big = fmaxf(big, hi[a] - lo[a]);
    }
    float s = big > 0.0f ? 1.0f / big : 1.0f;
    for (size_t v = 0; v < mesh->n_vertices; v++)
        for (int a = 0; a < 3; a++)
            mesh->positions[3 * v + a] = (mesh->positions[3 * v + a] - mid[a]) * s;
}

/* ---- sampling --------------------------------------------------------- */

/* splitmix64 (Steele, Lea and Flood, "Fast Splittable Pseudorandom Number
 * Generators", 2014): small, seedable, good enough for sampling. */
static uint64_t ln__next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double ln__uniform(uint64_t *s)
{
    return (double)(ln__next(s) >> 11) * (1.0 / 9007199254740992.0);
}

int ln_shapes_sample(const struct ln_mesh *mesh, size_t n, uint64_t seed,
                     struct ln_shapes_points *out, struct ln_error *err)
{
    if (mesh->n_faces == 0)
        return ln_error_set(err, LN_EINVAL, "sample: the mesh has no faces");
    double *cdf = ln_alloc_array(mesh->n_faces, sizeof(double), 0, "area table", err);
    out->xyz = ln_alloc_array(n, 3 * sizeof(float), 0, "sample points", err);
    if (!cdf || !out->xyz) {
        free(cdf);
        ln_shapes_points_free(out);
        return err ? err->code : LN_ENOMEM;
    }
    double total = 0.0;
    for (size_t f = 0; f < mesh->n_faces; f++) {
        const float *a = mesh->positions + 3 * mesh->indices[3 * f];
        const float *b = mesh->positions + 3 * mesh->indices[3 * f + 1];
        const float *c = mesh->positions + 3 * mesh->indices[3 * f + 2];
        double u[3], v[3];
        for (int k = 0; k < 3; k++) {
            u[k] = (double)b[k] - a[k];
            v[k] = (double)c[k] - a[k];
        }
        double x = u[1] * v[2] - u[2] * v[1], y = u[2] * v[0] - u[0] * v[2],
               z = u[0] * v[1] - u[1] * v[0];
        total += 0.5 * sqrt(x * x + y * y + z * z);
        cdf[f] = total;
    }
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        double r = ln__uniform(&s) * total;
        size_t lo = 0, hi = mesh->n_faces - 1;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (cdf[mid] > r)
                hi = mid;
            else
                lo = mid + 1;
        }
        /* Uniform in the triangle: sqrt(r1) along the median (Osada et
         * al., "Shape Distributions", 2002). */
        double r1 = sqrt(ln__uniform(&s)), r2 = ln__uniform(&s);
        double w0 = 1.0 - r1, w1 = r1 * (1.0 - r2), w2 = r1 * r2;
        const float *a = mesh->positions + 3 * mesh->indices[3 * lo];
        const float *b = mesh->positions + 3 * mesh->indices[3 * lo + 1];
        const float *c = mesh->positions + 3 * mesh->indices[3 * lo + 2];
        for (int k = 0; k < 3; k++)
            out->xyz[3 * i + k] = (float)(w0 * a[k] + w1 * b[k] + w2 * c[k]);
    }
    out->n = n;
    free(cdf);
    return LN_OK;
}

/* ---- k-d tree --------------------------------------------------------- */

/* An implicit balanced tree over a reordered copy of the points: the node
 * of range [lo, hi) is its median point mid = (lo + hi) / 2, split on
 * axis[mid]; ranges of LN__LEAF points or fewer are searched in full. */
#define LN__LEAF 8

struct ln__kdtree {
    float *p; /* 3 per point, reordered */
    uint8_t *axis;
    size_t n;
};

static void ln__swap(float *p, size_t i, size_t j)
{
    for (int k = 0; k < 3; k++) {
        float t = p[3 * i + k];
        p[3 * i + k] = p[3 * j + k];
        p[3 * j + k] = t;
    }
}

/* Reorders p[lo, hi) so that p[k] has the k-th smallest coordinate on
 * axis a, smaller or equal ones before it, larger or equal after: Hoare's
 * selection with a median-of-three pivot (no randomness) and a three-way
 * partition, so the many equal coordinates of a flat face cost nothing. */
static void ln__select(float *p, size_t lo, size_t hi, size_t k, int a)
{
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2, last = hi - 1;
        float x = p[3 * lo + a], y = p[3 * mid + a], z = p[3 * last + a];
        float pv = (x < y) == (y < z) ? y : ((y < x) == (x < z) ? x : z);
        /* [lo, lt) < pv, [lt, i) == pv, (gt, hi) > pv. */
        size_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            float v = p[3 * i + a];
            if (v < pv)
                ln__swap(p, i++, lt++);
            else if (v > pv)
                ln__swap(p, i, --gt);
            else
                i++;
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return;
    }
}

static void ln__kd_build(struct ln__kdtree *t, size_t lo, size_t hi)
{
    while (hi - lo > LN__LEAF) {
        float mn[3] = {INFINITY, INFINITY, INFINITY}, mx[3] = {-INFINITY, -INFINITY, -INFINITY};
        for (size_t i = lo; i < hi; i++)
            for (int k = 0; k < 3; k++) {
                mn[k] = fminf(mn[k], t->p[3 * i + k]);
                mx[k] = fmaxf(mx[k], t->p[3 * i + k]);
            }
        int a = 0;
        for (int k = 1; k < 3; k++)
            if (mx[k] - mn[k] > mx[a] - mn[a])
                a = k;
        size_t mid = lo + (hi - lo) / 2;
        ln__select(t->p, lo, hi, mid, a);
        t->axis[mid] = (uint8_t)a;
        ln__kd_build(t, lo, mid);
        lo = mid + 1;
    }
}

static void ln__kd_nearest(const struct ln__kdtree *t, size_t lo, size_t hi, const float q[3],
                           float *best)
{
    while (hi - lo > LN__LEAF) {
        size_t mid = lo + (hi - lo) / 2;
        const float *m = t->p + 3 * mid;
        float dx = q[0] - m[0], dy = q[1] - m[1], dz = q[2] - m[2];
        float d2 = dx * dx + dy * dy + dz * dz;
        if (d2 < *best)
            *best = d2;
        float d = q[t->axis[mid]] - m[t->axis[mid]];
        if (d < 0.0f) {
            ln__kd_nearest(t, lo, mid, q, best);
            if (d * d >= *best)
                return;
            lo = mid + 1;
        } else {
            ln__kd_nearest(t, mid + 1, hi, q, best);
            if (d * d >= *best)
                return;
            hi = mid;
        }
    }
    for (size_t i = lo; i < hi; i++) {
        const float *m = t->p + 3 * i;
        float dx = q[0] - m[0], dy = q[1] - m[1], dz = q[2] - m[2];
        float d2 = dx * dx + dy * dy + dz * dz;
        if (d2 < *best)
            *best = d2;
    }
}

static int ln__kd_new(const struct ln_shapes_points *pts, struct ln__kdtree *t,
                      struct ln_error *err)
{
    t->n = pts->n;
    t->p = ln_alloc_array(pts->n, 3 * sizeof(float), 0, "k-d tree", err);
    t->axis = ln_alloc_array(pts->n, 1, 1, "k-d tree", err);
    if (!t->p || !t->axis) {
        free(t->p);
        free(t->axis);
        return err ? err->code : LN_ENOMEM;
    }
    memcpy(t->p, pts->xyz, pts->n * 3 * sizeof(float));
    ln__kd_build(t, 0, t->n);
    return LN_OK;
}

struct ln__nn_job {
    const struct ln__kdtree *tree;
    const float *q;
    double *dist;
};

static void ln__nn_body(void *ctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct ln__nn_job *j = ctx;
    for (size_t i = begin; i < end; i++) {
        float best = INFINITY;
        ln__kd_nearest(j->tree, 0, j->tree->n, j->q + 3 * i, &best);
        j->dist[i] = sqrt((double)best);
    }
}

/* Distance from every point of q to its nearest point of the tree. */
static void ln__nearest_all(const struct ln__kdtree *t, const struct ln_shapes_points *q,
                            double *dist)
{
    struct ln__nn_job j = {t, q->xyz, dist};
    ln_parallel_for(q->n, 2048, ln__nn_body, &j);
}

int ln_shapes_compare(const struct ln_shapes_points *truth, const struct ln_shapes_points *recon,
                      double tau, struct ln_shapes_score *out, struct ln_error *err)
{
    if (truth->n == 0 || recon->n == 0)
        return ln_error_set(err, LN_EINVAL, "compare: empty point set");
    struct ln__kdtree ta = {0}, tb = {0};
    size_t nmax = truth->n > recon->n ? truth->n : recon->n;
    double *dist = ln_alloc_array(nmax, sizeof(double), 0, "distances", err);
    int rc = dist ? LN_OK : (err ? err->code : LN_ENOMEM);
    if (rc == LN_OK)
        rc = ln__kd_new(truth, &ta, err);
    if (rc == LN_OK)
        rc = ln__kd_new(recon, &tb, err);
    if (rc < 0)
        goto done;
    /* Reconstruction to truth: accuracy and precision. */
    ln__nearest_all(&ta, recon, dist);
    double sum_b = 0.0;
    size_t in_b = 0;
    for (size_t i = 0; i < recon->n; i++) {
        sum_b += dist[i];
        in_b += dist[i] < tau;
    }
    /* Truth to reconstruction: completeness and recall. */
    ln__nearest_all(&tb, truth, dist);
    double sum_a = 0.0;
    size_t in_a = 0;
    for (size_t i = 0; i < truth->n; i++) {
        sum_a += dist[i];
        in_a += dist[i] < tau;
    }
    out->chamfer = 0.5 * (sum_a / (double)truth->n + sum_b / (double)recon->n);
    out->precision = (double)in_b / (double)recon->n;
    out->recall = (double)in_a / (double)truth->n;
    double pr = out->precision + out->recall;
    out->fscore = pr > 0.0 ? 2.0 * out->precision * out->recall / pr : 0.0;
done:
    free(ta.p);
    free(ta.axis);
    free(tb.p);
    free(tb.axis);
    free(dist);
    return rc;
}

/* ---- the exact visual hull -------------------------------------------- */

/* One line of Felzenszwalb and Huttenlocher's exact squared distance
 * transform ("Distance Transforms of Sampled Functions", 2012): d[q] =
 * min_p (q - p)^2 + f[p], in O(n) with the lower envelope of parabolas.
 * v (n ints) and z (n + 1) are scratch. */
static void ln__edt_line(const float *f, size_t stride, int n, float *d, int *v, double *z)
{
    int k = 0;
    v[0] = 0;
    z[0] = -INFINITY;
    z[1] = INFINITY;
    for (int q = 1; q < n; q++) {
        double fq = (double)f[(size_t)q * stride] + (double)q * q, s;
        for (;;) {
            int p = v[k];
            s = (fq - ((double)f[(size_t)p * stride] + (double)p * p)) / (2.0 * (q - p));
            if (s > z[k] || k == 0)
                break;
            k--;
        }
        if (s <= z[k]) {
            /* Only when k == 0 and the new parabola is lower everywhere. */
            v[0] = q;
            z[1] = INFINITY;
            continue;
        }
        k++;
        v[k] = q;
        z[k] = s;
        z[k + 1] = INFINITY;
    }
    k = 0;
    for (int q = 0; q < n; q++) {
        while (z[k + 1] < q)
            k++;
        double dq = (double)(q - v[k]);
        d[q] = (float)(dq * dq + (double)f[(size_t)v[k] * stride]);
    }
}

struct ln__edt {
    float *g; /* side x side, in: 0 at sites, LN__FAR elsewhere; out: squared distance */
    int side;
    float *line; /* threads x side */
    int *v;      /* threads x side */
    double *z;   /* threads x (side + 1) */
    int columns; /* 1: transform columns, 0: rows */
};

#define LN__FAR 1e20f

static void ln__edt_body(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ln__edt *e = ctx;
    const int n = e->side;
    float *line = e->line + (size_t)thread * n;
    int *v = e->v + (size_t)thread * n;
    double *z = e->z + (size_t)thread * (n + 1);
    for (size_t i = begin; i < end; i++) {
        float *start = e->columns ? e->g + i : e->g + i * (size_t)n;
        size_t stride = e->columns ? (size_t)n : 1;
        ln__edt_line(start, stride, n, line, v, z);
        for (int q = 0; q < n; q++)
            start[(size_t)q * stride] = line[q];
    }
}

/* Squared distance of every pixel to the nearest pixel whose mask equals
 * `site`, into g. */
static void ln__edt(const uint8_t *mask, int side, uint8_t site, struct ln__edt *e)
{
    size_t n = (size_t)side * (size_t)side;
    for (size_t i = 0; i < n; i++)
        e->g[i] = mask[i] == site ? 0.0f : LN__FAR;
    int threads = ln_threads_get();
    for (e->columns = 1; e->columns >= 0; e->columns--)
        ln_parallel_for_at((size_t)side, 16, threads, ln__edt_body, e);
}

/* The signed distance in pixels to the silhouette's outline, positive
 * inside, with the outline halfway between an inside and an outside
 * pixel centre. */
static int ln__signed_distance(const uint8_t *mask, int side, float *sd, struct ln_error *err)
{
    size_t n = (size_t)side * (size_t)side;
    int threads = ln_threads_get();
    struct ln__edt e = {.side = side};
    e.g = ln_alloc_array(n, sizeof(float), 0, "distance map", err);
    e.line = ln_alloc_array((size_t)threads * side, sizeof(float), 0, "distance map", err);
    e.v = ln_alloc_array((size_t)threads * side, sizeof(int), 0, "distance map", err);
    e.z = ln_alloc_array((size_t)threads * (side + 1), sizeof(double), 0, "distance map", err);
    int rc = LN_OK;
    if (!e.g || !e.line || !e.v || !e.z) {
        rc = err ? err->code : LN_ENOMEM;
        goto done;
    }
    ln__edt(mask, side, 1, &e); /* outside pixels: distance to the object */
    for (size_t i = 0; i < n; i++)
        sd[i] = mask[i] ? 0.0f : 0.5f - sqrtf(e.g[i]);
    ln__edt(mask, side, 0, &e); /* inside pixels: distance to the background */
    for (size_t i = 0; i < n; i++)
        if (mask[i])
            sd[i] = sqrtf(e.g[i]) - 0.5f;
done:
    free(e.g);
    free(e.line);
    free(e.v);
    free(e.z);
    return rc;
}

struct ln__hull {
    const struct ln_camera *cams;
    float *const *sd;
    int n_views, side, n;
    float origin, h;
    float band; /* pixels: past this far outside one view, a voxel is out */
    float *field;
};

/* Bilinear read of a view's signed distance at pixel coordinates (x, y);
 * outside the picture is outside the object. */
static float ln__sd_at(const float *sd, int side, float x, float y, float far)
{
    if (!(x >= 0.0f && y >= 0.0f && x <= (float)(side - 1) && y <= (float)(side - 1)))
        return far;
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 + 1 < side ? x0 + 1 : x0, y1 = y0 + 1 < side ? y0 + 1 : y0;
    float tx = x - (float)x0, ty = y - (float)y0;
    const float *r0 = sd + (size_t)y0 * side, *r1 = sd + (size_t)y1 * side;
    return (1 - ty) * ((1 - tx) * r0[x0] + tx * r0[x1]) + ty * ((1 - tx) * r1[x0] + tx * r1[x1]);
}

static void ln__hull_body(void *ctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct ln__hull *c = ctx;
    const int n = c->n, side = c->side;
    for (size_t i = begin; i < end; i++)
        for (int j = 0; j < n; j++) {
            float *row = c->field + (i * (size_t)n + (size_t)j) * (size_t)n;
            for (int k = 0; k < n; k++) {
                float p[3] = {c->origin + (float)i * c->h, c->origin + (float)j * c->h,
                              c->origin + (float)k * c->h};
                float best = INFINITY;
                for (int v = 0; v < c->n_views && best > -c->band; v++) {
                    float u, w, d;
                    float s = -c->band;
                    if (ln_camera_project(&c->cams[v], p, &u, &w, &d) == 0)
                        s = ln__sd_at(c->sd[v], side, u * (float)side - 0.5f,
                                      w * (float)side - 0.5f, -c->band);
                    best = fminf(best, s);
                }
                row[k] = fmaxf(best, -c->band);
            }
        }
}

int ln_shapes_visual_hull(const struct ln_mesh *mesh, const struct ln_view *views, int n_views,
                          const struct ln_camera_options *opt, int res, int mask_side,
                          struct ln_mesh *out, struct ln_error *err)
{
    if (n_views < 1 || n_views > LN_MAX_VIEWS)
        return ln_error_set(err, LN_EINVAL, "visual hull: 1 to %d views", LN_MAX_VIEWS);
    struct ln_camera cams[LN_MAX_VIEWS];
    float *sd[LN_MAX_VIEWS] = {0};
    uint8_t *mask = NULL;
    struct ln__hull c = {.cams = cams, .sd = sd, .n_views = n_views, .side = mask_side};
    size_t n_px = (size_t)mask_side * (size_t)mask_side;
    int rc = LN_OK;
    mask = ln_alloc_array(n_px, 1, 0, "silhouette", err);
    if (!mask) {
        rc = err ? err->code : LN_ENOMEM;
        goto done;
    }
    for (int v = 0; v < n_views; v++) {
        ln_camera_init(&cams[v], &views[v], opt);
        sd[v] = ln_alloc_array(n_px, sizeof(float), 0, "distance map", err);
        if (!sd[v]) {
            rc = err ? err->code : LN_ENOMEM;
            goto done;
        }
        if ((rc = ln_shapes_mask(mesh, &cams[v], mask_side, mask, err)) < 0 ||
            (rc = ln__signed_distance(mask, mask_side, sd[v], err)) < 0)
            goto done;
    }
    /* The cube the sculpt engine carves: the orthographic window, or for
     * perspective a cube a little narrower than the frustum at the origin
     * (src/engines/sculpt_multi.c), so both see the same space. */
    float side = opt->ortho_size;
    if (opt->projection == LN_PROJECTION_PERSPECTIVE) {
        side = 0.9f * opt->distance / cams[0].scale;
        if (side > opt->distance)
            side = opt->distance;
    }
    c.n = res + 2;
    c.h = side / (float)res;
    c.origin = -0.5f * side - 0.5f * c.h;
    /* Three voxels in pixels of the views (at the origin's depth for
     * perspective): only values near the surface reach marching cubes. */
    c.band = 3.0f * c.h * (float)mask_side * cams[0].scale *
             (opt->projection == LN_PROJECTION_PERSPECTIVE ? 1.0f / opt->distance : 1.0f);
    size_t n_field;
    if (ln_size_mul3((size_t)c.n, (size_t)c.n, (size_t)c.n, &n_field) < 0) {
        rc = ln_error_set(err, LN_ETOOBIG, "visual hull grid too large");
        goto done;
    }
    c.field = ln_alloc_array(n_field, sizeof(float), 0, "visual hull grid", err);
    if (!c.field) {
        rc = err ? err->code : LN_ENOMEM;
        goto done;
    }
    ln_parallel_for((size_t)c.n, 1, ln__hull_body, &c);
    const float origin[3] = {c.origin, c.origin, c.origin};
    const float spacing[3] = {c.h, c.h, c.h};
    rc = ln_mc_extract(c.field, c.n, c.n, c.n, 0.0f, origin, spacing, out, err);
    if (rc == LN_OK && out->n_faces == 0)
        rc = ln_error_set(err, LN_EUNUSABLE, "visual hull is empty");
done:
    free(c.field);
    free(mask);
    for (int v = 0; v < n_views; v++)
        free(sd[v]);
    return rc;
}
