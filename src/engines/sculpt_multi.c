/*
 * Sculpt from several images with known views: silhouette carving (the
 * visual hull), then photo-consistency (space the views' colours show to
 * be empty is carved away), and colouring from the best-facing view that
 * sees each vertex.
 *
 * Carving evaluates, at every voxel centre, the smallest over the views of
 * the signed distance (world units, positive inside) from the voxel's
 * projection to that view's silhouette boundary, read bilinearly from an
 * exact 2-D signed distance map. Its zero set is the visual hull with
 * sub-voxel accuracy, so marching cubes gives a smooth surface instead of
 * voxel terraces. Only values near the surface matter, so the field is
 * clamped to +-3 voxels, which lets a voxel stop at the first view that
 * puts it clearly outside. Along a grid row the projection is affine in
 * the row index (orthographic) or a ratio of affine terms (perspective), so
 * the inner loop is a few multiply-adds and one bilinear read per view.
 *
 * Photo-consistency then carves what the views' colours show to be empty
 * (DESIGN comment at its section below).
 *
 * Last, the field is carved once more with each view's outline placed
 * inside its pixels (ln__sculpt_edge_coverage, DESIGN comment in
 * sculpt.c), where a colour separation gave a binary mask: the mask's edge
 * lies up to a pixel outside the object, and the hull of several such
 * masks is too large where they meet. Carving and photo-consistency run on
 * the masks as they are (their thresholds near the outline were measured
 * with them, and a bowl's inside opened less on the finer outlines: 0.584
 * against 0.622 on bench-shapes); the trim only lowers the field, so
 * everything they removed stays removed and the result is the
 * intersection of both.
 *
 * Colouring rasterises the hull into a depth buffer per view; a vertex is
 * seen by a view when it is within a small tolerance of that buffer, and
 * takes its colour from the seeing views, weighted sharply toward the most
 * frontal one so that seams between views are short gradients. The same
 * buffers give each view's reprojected hull, whose overlap with the view's
 * own silhouette reveals a view that contradicts the others.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_log.h"
#include "ln_mc.h"
#include "ln_threads.h"
#include "ln_time.h"
#include "sculpt_internal.h"

/* Field clamp in voxels. */
#define LN__CARVE_BAND 3.0f
/* A view whose silhouette overlaps the reprojected hull less than this
 * (intersection over union) contradicts the others. */
#define LN__IOU_WARN 0.8
/* For a baked texture, colours are sampled from the input at its own
 * resolution up to this side (the silhouette raster is at most twice the
 * grid, which is all vertex colours need). */
#define LN__COLOUR_MAX_SIDE 2048
/* Colour blending temperature over the cosine of the viewing angle. */
#define LN__VIEW_SOFTNESS 0.08f

struct ln__view {
    struct ln_camera cam;
    struct ln_view view;
    int m;           /* raster side */
    int mc;          /* side of rgb_full: the input's own, m to LN__COLOUR_MAX_SIDE */
    float *sd;       /* m x m signed distance to the silhouette, pixels */
    float *sd_fine;  /* the same with the outline placed inside its pixels
                      * (ln__sculpt_edge_coverage), NULL when the mask was
                      * soft; the final trim swaps it into sd */
    float *rgb;      /* m x m x 3 straight colour, extended past the edge */
    float *rgb_full; /* mc x mc x 3 the same at the input's resolution, for a baked
                      * texture only (NULL: none, or mc == m) */
    float *zbuf;     /* m x m depth buffer of the hull */
    /* Camera coordinates of world point p: x = dot(right, p) + x0, etc. */
    float x0, y0, z0;
    float ms; /* m * camera scale: pixels per world unit (per unit x/z) */
    /* Photo-consistency compares rgb times gain: this view's exposure and
     * white balance brought to the others' (ln__photo_gains). */
    float gain[3];
    /* The backdrop behind the object (ln__view_backdrop): the median
     * colour of the pixels the separation called background, per
     * channel, when they are one even colour; backdrop_ok 0 otherwise. */
    float backdrop[3];
    int backdrop_ok;
    double iou, explained;
};

static void ln__view_setup(struct ln__view *v)
{
    const struct ln_camera *c = &v->cam;
    v->x0 = -(c->center[0] * c->right[0] + c->center[1] * c->right[1] + c->center[2] * c->right[2]);
    v->y0 = -(c->center[0] * c->up[0] + c->center[1] * c->up[1] + c->center[2] * c->up[2]);
    v->z0 = -(c->center[0] * c->forward[0] + c->center[1] * c->forward[1] +
              c->center[2] * c->forward[2]);
    v->ms = (float)v->m * c->scale;
}

/* Pixel coordinates and depth of world point p; returns 0 when p is behind
 * a perspective camera. Always inlined: the colour loops call it for every
 * view of millions of points (a baked texture). */
static inline __attribute__((always_inline)) int ln__view_project(const struct ln__view *v,
                                                                  int perspective, const float *p,
                                                                  float *px, float *py,
                                                                  float *depth)
{
    const struct ln_camera *c = &v->cam;
    float x = c->right[0] * p[0] + c->right[1] * p[1] + c->right[2] * p[2] + v->x0;
    float y = c->up[0] * p[0] + c->up[1] * p[1] + c->up[2] * p[2] + v->y0;
    float z = c->forward[0] * p[0] + c->forward[1] * p[1] + c->forward[2] * p[2] + v->z0;
    *depth = z;
    if (perspective) {
        if (z <= 1e-6f)
            return 0;
        x /= z;
        y /= z;
    }
    const float half = 0.5f * (float)v->m - 0.5f;
    *px = half + x * v->ms;
    *py = half - y * v->ms;
    return 1;
}

/* Bilinear read of a signed distance map; beyond the raster the distance
 * keeps falling with the distance to the raster (L1, a safe lower bound
 * for a quantity only needed near the surface). */
static inline float ln__sd_read(const float *restrict sd, int m, float px, float py)
{
    const float lim = (float)(m - 1);
    float cx = px < 0.0f ? 0.0f : (px > lim ? lim : px);
    float cy = py < 0.0f ? 0.0f : (py > lim ? lim : py);
    float extra = fabsf(px - cx) + fabsf(py - cy);
    int x0 = (int)cx, y0 = (int)cy;
    if (x0 > m - 2)
        x0 = m - 2;
    if (y0 > m - 2)
        y0 = m - 2;
    float fx = cx - (float)x0, fy = cy - (float)y0;
    const float *r0 = sd + (size_t)y0 * m + x0, *r1 = r0 + m;
    float a = r0[0] + fx * (r0[1] - r0[0]);
    float b = r1[0] + fx * (r1[1] - r1[0]);
    return a + fy * (b - a) - extra;
}

/* ---- carving -------------------------------------------------------- */

struct ln__carve {
    const struct ln__view *views;
    int order[LN_MAX_VIEWS]; /* views looking along the rows first */
    int n_views;
    int perspective;
    float *field; /* n^3, (i * n + j) * n + k */
    int n;        /* grid points per axis, W + 2 with the padding */
    float origin; /* grid point (i, j, k) is at origin + (i, j, k) * h */
    float h;
    size_t i_offset;
    size_t *inside; /* per thread: voxels with a positive value */
    int trim;       /* 1: rows start from the field as it is (a second pass
                     * that only lowers values) */
};

static void ln__carve_row(const struct ln__carve *c, int i, int j, float *restrict row,
                          size_t *inside)
{
    const int n = c->n;
    const float h = c->h, band = LN__CARVE_BAND * h;
    const float p0[3] = {c->origin + (float)i * h, c->origin + (float)j * h, c->origin};
    row[0] = row[n - 1] = -band;
    int alive = n - 2;
    if (c->trim) {
        for (int k = 1; k < n - 1; k++)
            alive -= row[k] <= -band;
    } else {
        for (int k = 1; k < n - 1; k++)
            row[k] = band;
    }
    for (int oi = 0; oi < c->n_views && alive > 0; oi++) {
        const struct ln__view *v = &c->views[c->order[oi]];
        const struct ln_camera *cam = &v->cam;
        const float *restrict sd = v->sd;
        const int m = v->m;
        const float half = 0.5f * (float)m - 0.5f;
        /* Camera coordinates at k = 0 and their step along k. */
        float x = cam->right[0] * p0[0] + cam->right[1] * p0[1] + cam->right[2] * p0[2] + v->x0;
        float y = cam->up[0] * p0[0] + cam->up[1] * p0[1] + cam->up[2] * p0[2] + v->y0;
        float z =
            cam->forward[0] * p0[0] + cam->forward[1] * p0[1] + cam->forward[2] * p0[2] + v->z0;
        const float dx = cam->right[2] * h, dy = cam->up[2] * h, dz = cam->forward[2] * h;
        if (!c->perspective) {
            const float wpp = 1.0f / v->ms;
            const float ax = half + x * v->ms, ay = half - y * v->ms;
            const float sx = dx * v->ms, sy = -dy * v->ms;
            if (fabsf(sx) + fabsf(sy) < 1e-5f) {
                /* The row runs along this view's axis: one value for all. */
                float s = ln__sd_read(sd, m, ax, ay) * wpp;
                s = s < -band ? -band : s;
                for (int k = 1; k < n - 1; k++) {
                    if (row[k] > -band && s < row[k]) {
                        alive -= s <= -band;
                        row[k] = s;
                    }
                }
                continue;
            }
            for (int k = 1; k < n - 1; k++) {
                if (row[k] <= -band)
                    continue;
                float s = ln__sd_read(sd, m, ax + (float)k * sx, ay + (float)k * sy) * wpp;
                if (s < row[k]) {
                    if (s <= -band) {
                        s = -band;
                        alive--;
                    }
                    row[k] = s;
                }
            }
        } else {
            const float inv_ms = 1.0f / v->ms;
            for (int k = 1; k < n - 1; k++) {
                if (row[k] <= -band)
                    continue;
                float zk = z + (float)k * dz;
                float s;
                if (zk <= 1e-6f) {
                    s = -band;
                } else {
                    float iz = 1.0f / zk;
                    float px = half + (x + (float)k * dx) * iz * v->ms;
                    float py = half - (y + (float)k * dy) * iz * v->ms;
                    s = ln__sd_read(sd, m, px, py) * zk * inv_ms;
                }
                if (s < row[k]) {
                    if (s <= -band) {
                        s = -band;
                        alive--;
                    }
                    row[k] = s;
                }
            }
        }
    }
    size_t cnt = 0;
    for (int k = 1; k < n - 1; k++)
        cnt += row[k] > 0.0f;
    *inside += cnt;
}

static void ln__carve_body(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ln__carve *c = ctx;
    const int n = c->n;
    const float band = LN__CARVE_BAND * c->h;
    for (size_t ii = begin; ii < end; ii++) {
        int i = (int)(ii + c->i_offset);
        for (int j = 0; j < n; j++) {
            float *row = c->field + ((size_t)i * n + j) * n;
            if (i == 0 || i == n - 1 || j == 0 || j == n - 1) {
                for (int k = 0; k < n; k++)
                    row[k] = -band;
                continue;
            }
            ln__carve_row(c, i, j, row, &c->inside[thread]);
        }
    }
}

/* ---- depth buffers and colours ---------------------------------------- */

struct ln__shade {
    struct ln__view *views;
    int n_views;
    int perspective;
    const struct ln_mesh *mesh; /* the hull the depth buffers are made of */
    const float *points;        /* what to colour: 3 per point, */
    const float *normals;       /* unit normals, 3 per point, */
    float *colors;              /* and its colours, 3 per point */
    float tol;                  /* depth tolerance of the visibility test, world units */
    int full;                   /* read the views' full-resolution colours (a baked texture) */
};

/* Rasterises the hull into one view's depth buffer (pixel centres inside
 * or on a triangle), then measures how well the hull explains the view's
 * silhouette. Triangles facing away are skipped: they are always behind a
 * facing one on a closed surface. A counter-clockwise face seen from
 * outside is clockwise in pixel coordinates, whose v axis points down, so
 * facing triangles have a negative signed area there. */
static void ln__raster_body(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ln__shade *s = ctx;
    const struct ln_mesh *mesh = s->mesh;
    for (size_t vi = begin; vi < end; vi++) {
        struct ln__view *v = &s->views[vi];
        const int m = v->m;
        float *restrict zb = v->zbuf;
        for (size_t i = 0; i < (size_t)m * m; i++)
            zb[i] = FLT_MAX;
        for (size_t f = 0; f < mesh->n_faces; f++) {
            const uint32_t *t = mesh->indices + 3 * f;
            float x[3], y[3], z[3];
            int ok = 1;
            for (int a = 0; a < 3; a++)
                ok &= ln__view_project(v, s->perspective, mesh->positions + 3 * (size_t)t[a], &x[a],
                                       &y[a], &z[a]);
            if (!ok)
                continue;
            float area = (x[1] - x[0]) * (y[2] - y[0]) - (x[2] - x[0]) * (y[1] - y[0]);
            if (!(area < 0.0f))
                continue;
            float fxmin = fminf(x[0], fminf(x[1], x[2])), fxmax = fmaxf(x[0], fmaxf(x[1], x[2]));
            float fymin = fminf(y[0], fminf(y[1], y[2])), fymax = fmaxf(y[0], fmaxf(y[1], y[2]));
            int xmin = (int)ceilf(fxmin), xmax = (int)floorf(fxmax);
            int ymin = (int)ceilf(fymin), ymax = (int)floorf(fymax);
            if (xmin < 0)
                xmin = 0;
            if (ymin < 0)
                ymin = 0;
            if (xmax > m - 1)
                xmax = m - 1;
            if (ymax > m - 1)
                ymax = m - 1;
            const float inv = 1.0f / area;
            for (int py = ymin; py <= ymax; py++) {
                for (int px = xmin; px <= xmax; px++) {
                    float X = (float)px, Y = (float)py;
                    float w0 = (x[2] - x[1]) * (Y - y[1]) - (y[2] - y[1]) * (X - x[1]);
                    float w1 = (x[0] - x[2]) * (Y - y[2]) - (y[0] - y[2]) * (X - x[2]);
                    float w2 = (x[1] - x[0]) * (Y - y[0]) - (y[1] - y[0]) * (X - x[0]);
                    if (w0 > 0.0f || w1 > 0.0f || w2 > 0.0f)
                        continue;
                    float d = (w0 * z[0] + w1 * z[1] + w2 * z[2]) * inv;
                    float *dst = zb + (size_t)py * m + px;
                    if (d < *dst)
                        *dst = d;
                }
            }
        }
        size_t inter = 0, uni = 0, sil = 0;
        for (size_t i = 0; i < (size_t)m * m; i++) {
            int cov = zb[i]<FLT_MAX, in = v->sd[i]> 0.0f;
            inter += cov && in;
            uni += cov || in;
            sil += in;
        }
        v->iou = uni ? (double)inter / (double)uni : 1.0;
        v->explained = sil ? (double)inter / (double)sil : 1.0;
    }
}

static void ln__shade_body(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ln__shade *s = ctx;
    float dots[LN_MAX_VIEWS];
    int seen[LN_MAX_VIEWS];
    float pxs[LN_MAX_VIEWS], pys[LN_MAX_VIEWS];
    for (size_t vtx = begin; vtx < end; vtx++) {
        const float *p = s->points + 3 * vtx;
        const float *nrm = s->normals + 3 * vtx;
        float best_seen = -FLT_MAX, best_any = -FLT_MAX;
        for (int vi = 0; vi < s->n_views; vi++) {
            const struct ln__view *v = &s->views[vi];
            const struct ln_camera *cam = &v->cam;
            float px, py, depth;
            seen[vi] = 0;
            if (!ln__view_project(v, s->perspective, p, &px, &py, &depth)) {
                dots[vi] = -FLT_MAX;
                continue;
            }
            float dir[3] = {-cam->forward[0], -cam->forward[1], -cam->forward[2]};
            if (s->perspective) {
                float len = 0.0f;
                for (int a = 0; a < 3; a++) {
                    dir[a] = cam->center[a] - p[a];
                    len += dir[a] * dir[a];
                }
                len = sqrtf(len);
                for (int a = 0; a < 3; a++)
                    dir[a] /= len;
            }
            dots[vi] = nrm[0] * dir[0] + nrm[1] * dir[1] + nrm[2] * dir[2];
            pxs[vi] = px;
            pys[vi] = py;
            int ix = ln__floor_int(px + 0.5f), iy = ln__floor_int(py + 0.5f);
            if (ix >= 0 && iy >= 0 && ix < v->m && iy < v->m) {
                float zb = v->zbuf[(size_t)iy * v->m + ix];
                seen[vi] = zb == FLT_MAX || depth <= zb + s->tol;
            }
            if (dots[vi] > best_any)
                best_any = dots[vi];
            if (seen[vi] && dots[vi] > best_seen)
                best_seen = dots[vi];
        }
        /* Seen by none (a fold hidden from every camera): the most frontal
         * view still gives a plausible colour. */
        int use_all = best_seen == -FLT_MAX;
        float best = use_all ? best_any : best_seen;
        float acc[3] = {0, 0, 0}, wsum = 0.0f;
        for (int vi = 0; vi < s->n_views; vi++) {
            if ((!use_all && !seen[vi]) || dots[vi] == -FLT_MAX)
                continue;
            float e = (dots[vi] - best) / LN__VIEW_SOFTNESS;
            if (e < -8.0f)
                continue;
            float w = e == 0.0f ? 1.0f : expf(e); /* the best view: exactly 1 */
            float c[3];
            const struct ln__view *v = &s->views[vi];
            if (s->full && v->rgb_full) {
                /* the same point of the view at the input's resolution */
                float k = (float)v->mc / (float)v->m;
                ln__sculpt_sample(v->rgb_full, v->mc, v->mc, 3, (pxs[vi] + 0.5f) * k - 0.5f,
                                  (pys[vi] + 0.5f) * k - 0.5f, c);
            } else {
                ln__sculpt_sample(v->rgb, v->m, v->m, 3, pxs[vi], pys[vi], c);
            }
            for (int a = 0; a < 3; a++)
                acc[a] += w * c[a];
            wsum += w;
        }
        float *out = s->colors + 3 * vtx;
        for (int a = 0; a < 3; a++) {
            float x = wsum > 0.0f ? acc[a] / wsum : 0.5f;
            out[a] = x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x);
        }
    }
}

/* ---- the run ---------------------------------------------------------- */

/* A backdrop counts when at least LN__BACKDROP_MIN of the frame is
 * background and LN__BACKDROP_SHARE of those pixels lie within
 * LN__BACKDROP_NEAR of its median in every channel (DESIGN comment
 * "lighting, the backdrop"). */
#define LN__BACKDROP_MIN 0.05
#define LN__BACKDROP_NEAR 10 /* of 255 */
#define LN__BACKDROP_SHARE 0.9

/* The median colour of cut's background (alpha 0: the separation's, with
 * the input's colours) into v->backdrop, and whether it is one even
 * colour. A photo that came with its own transparency (img's alpha) has
 * no backdrop: what lies under its transparent pixels is not a scene. */
static void ln__view_backdrop(const struct ln_image *img, const struct ln_image *cut,
                              struct ln__view *v)
{
    v->backdrop_ok = 0;
    size_t hist[3][256] = {{0}}, n = 0;
    const size_t px = (size_t)cut->width * (size_t)cut->height;
    for (size_t i = 0; i < px; i++)
        if (img->data[4 * i + 3] != 255)
            return;
    for (size_t i = 0; i < px; i++) {
        const uint8_t *p = cut->data + 4 * i;
        if (p[3] != 0)
            continue;
        n++;
        for (int c = 0; c < 3; c++)
            hist[c][p[c]]++;
    }
    if (n == 0 || (double)n < LN__BACKDROP_MIN * (double)px)
        return;
    int med[3];
    for (int c = 0; c < 3; c++) {
        size_t acc = 0;
        int b = 0;
        while (b < 255 && (acc += hist[c][b]) * 2 < n)
            b++;
        med[c] = b;
        v->backdrop[c] = (float)b / 255.0f;
    }
    size_t near = 0;
    for (size_t i = 0; i < px; i++) {
        const uint8_t *p = cut->data + 4 * i;
        if (p[3] == 0 && abs(p[0] - med[0]) <= LN__BACKDROP_NEAR &&
            abs(p[1] - med[1]) <= LN__BACKDROP_NEAR && abs(p[2] - med[2]) <= LN__BACKDROP_NEAR)
            near++;
    }
    v->backdrop_ok = (double)near >= LN__BACKDROP_SHARE * (double)n;
}

/* Prepares view i: cut-out, square raster, signed distance, colours. */
/* full_colour: colours at the image's own resolution (for a baked
 * texture); else at the silhouette raster's, which is all vertex colours
 * need and costs a fraction. */
static int ln__view_prepare(const struct ln_image *img, int remove_bg, int res, int full_colour,
                            struct ln__view *v, int index, struct ln_generate_report *rep,
                            struct ln_error *err)
{
    struct ln_image cut = {0}, edge = {0};
    const struct ln_image *use = NULL;
    float *prem = NULL, *prem_c = NULL;
    int rc = ln__sculpt_cutout(img, remove_bg, &cut, &use, rep, err);
    int refined = 0;
    if (rc == LN_OK && use == &cut) {
        ln__view_backdrop(img, &cut, v);
        rc = refined = ln__sculpt_edge_coverage(&cut, img, &edge, err);
    }
    if (rc < 0)
        goto cleanup;
    /* The raster is never coarser than the voxels and at most twice finer. */
    int side = img->width > img->height ? img->width : img->height;
    int m = side < res ? res : (side > 2 * res ? 2 * res : side);
    size_t n = (size_t)m * m;
    v->m = m;
    int mc = side < m ? m : (side > LN__COLOUR_MAX_SIDE ? LN__COLOUR_MAX_SIDE : side);
    mc = mc < m || !full_colour ? m : mc;
    v->mc = mc;
    prem = ln_alloc_array(n, 4 * sizeof(float), 0, "view raster", err);
    v->sd = ln_alloc_array(n, sizeof(float), 0, "view distance map", err);
    v->rgb = ln_alloc_array(n, 3 * sizeof(float), 0, "view colours", err);
    if (mc != m) {
        prem_c = ln_alloc_array((size_t)mc * (size_t)mc, 4 * sizeof(float), 0, "view colours", err);
        v->rgb_full =
            ln_alloc_array((size_t)mc * (size_t)mc, 3 * sizeof(float), 0, "view colours", err);
    }
    if (!prem || !v->sd || !v->rgb || (mc != m && (!prem_c || !v->rgb_full))) {
        rc = err ? err->code : LN_ENOMEM;
        goto cleanup;
    }
    /* The outline with its edges placed inside their pixels, for the
     * final trim (ln__multi_trim); then the mask as the separation gave
     * it, for carving, photo-consistency and the colours. */
    if (refined) {
        v->sd_fine = ln_alloc_array(n, sizeof(float), 0, "view distance map", err);
        if (!v->sd_fine) {
            rc = err ? err->code : LN_ENOMEM;
            goto cleanup;
        }
        if ((rc = ln__sculpt_resample_square(&edge, m, prem, err)) < 0 ||
            (rc = ln__sculpt_signed_distance(prem + 3, 4, m, m, v->sd_fine, err)) < 0)
            goto cleanup;
    }
    if ((rc = ln__sculpt_resample_square(use, m, prem, err)) < 0 ||
        (rc = ln__sculpt_signed_distance(prem + 3, 4, m, m, v->sd, err)) < 0)
        goto cleanup;
    /* the colours; for a texture also at the input's resolution (the same
     * square, finer), which only the baker reads: the shape and the vertex
     * colours never depend on whether a texture was asked for */
    rc = ln__sculpt_colour_extend(prem, m, 4, v->rgb, err);
    if (rc == LN_OK && mc != m && (rc = ln__sculpt_resample_square(use, mc, prem_c, err)) == LN_OK)
        rc = ln__sculpt_colour_extend(prem_c, mc, 4 * mc / m, v->rgb_full, err);
    if (rc < 0)
        goto cleanup;
    size_t inside = 0;
    for (size_t i = 0; i < n; i++)
        inside += v->sd[i] > 0.0f;
    if (inside == 0)
        rc = ln_error_set(err, LN_EUNUSABLE, "no object was found in the image");
cleanup:
    if (rc < 0 && err)
        ln_error_prefix(err, "view %d (az %g, el %g)", index + 1, (double)v->view.azimuth,
                        (double)v->view.elevation);
    free(prem);
    free(prem_c);
    ln_image_free(&edge);
    ln_image_free(&cut);
    return rc;
}

/* Orders views by how badly they agree with the hull, worst first. */
static int ln__by_iou(const void *a, const void *b, const struct ln__view *views)
{
    double ia = views[*(const int *)a].iou, ib = views[*(const int *)b].iou;
    return ia < ib ? -1 : (ia > ib ? 1 : *(const int *)a - *(const int *)b);
}

static void ln__warn_disagreeing(const struct ln__view *views, int n_views,
                                 struct ln_generate_report *rep)
{
    int order[LN_MAX_VIEWS];
    for (int i = 0; i < n_views; i++)
        order[i] = i;
    /* Insertion sort: at most LN_MAX_VIEWS entries. */
    for (int i = 1; i < n_views; i++)
        for (int j = i; j > 0 && ln__by_iou(&order[j], &order[j - 1], views) < 0; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (int r = 0; r < n_views; r++) {
        const struct ln__view *v = &views[order[r]];
        if (v->iou >= LN__IOU_WARN)
            break;
        ln_report_warn(rep,
                       "view %d (az %g, el %g) disagrees with the others: only %.0f%% of its "
                       "silhouette is explained; check its azimuth",
                       order[r] + 1, (double)v->view.azimuth, (double)v->view.elevation,
                       100.0 * v->explained);
    }
}

/* The state of one run, handed from step to step: the views, and the
 * carving grid whose field and per-thread counts the run owns. */
struct ln__multi {
    struct ln__view views[LN_MAX_VIEWS];
    int n_views;
    int perspective;
    const struct ln_progress *progress;
    struct ln__carve carve;
};

static int ln__multi_canceled(const struct ln__multi *s, struct ln_error *err)
{
    return ln_progress_canceled(s->progress) ? ln_error_set(err, LN_ECANCELED, "canceled") : LN_OK;
}

/* Cameras of the given views (or the default ring), then each view's
 * silhouette, distance map and colours. */
static int ln__multi_views(struct ln__multi *s, const struct ln_engine_input *in,
                           const struct ln_generate_options *opt, int res,
                           struct ln_generate_report *rep, struct ln_error *err)
{
    struct ln_view defaults[LN_MAX_VIEWS];
    ln_views_default(defaults, s->n_views);
    for (int i = 0; i < s->n_views; i++) {
        s->views[i].view = in->views ? in->views[i] : defaults[i];
        ln_camera_init(&s->views[i].cam, &s->views[i].view, &opt->camera);
    }
    for (int i = 0; i < s->n_views; i++) {
        ln_progress_report(s->progress, "foreground", 0.15 * i / s->n_views);
        int rc = ln__view_prepare(&in->images[i], opt->remove_bg, res, opt->texture_size > 0,
                                  &s->views[i], i, rep, err);
        if (rc < 0)
            return rc;
        ln__view_setup(&s->views[i]);
        if ((rc = ln__multi_canceled(s, err)) < 0)
            return rc;
    }
    return LN_OK;
}

/* Sets up s->carve on a cube that the views' windows cover: the
 * orthographic window itself, or for perspective a cube a little narrower
 * than the frustum at the origin and small enough to stay in front of
 * every camera. Allocates the field and the per-thread counts of inside
 * voxels (threads of them). */
static int ln__multi_grid(struct ln__multi *s, const struct ln_generate_options *opt, int res,
                          int threads, struct ln_error *err)
{
    struct ln__view *views = s->views;
    struct ln__carve *carve = &s->carve;
    float side = opt->camera.ortho_size;
    if (s->perspective) {
        float d = opt->camera.distance;
        side = 0.9f * d / views[0].cam.scale;
        if (side > d)
            side = d;
    }
    const int n = res + 2;
    const float h = side / (float)res;
    size_t n_field;
    if (ln_size_mul3((size_t)n, (size_t)n, (size_t)n, &n_field) < 0)
        return ln_error_set(err, LN_ETOOBIG, "carving grid is too large");
    /* On huge pages, as the other grids (ln_alloc.h): the carving stage of
     * four views at 256 took 0.11-0.16 s on 4 KB pages, 0.05 s on these. */
    carve->field = ln_alloc_array(n_field, sizeof(float), LN_ALLOC_HUGE, "carving grid", err);
    if (!carve->field)
        return err ? err->code : LN_ENOMEM;
    carve->inside = ln_xcalloc((size_t)threads, sizeof *carve->inside);
    carve->views = views;
    carve->n_views = s->n_views;
    carve->perspective = s->perspective;
    carve->n = n;
    carve->origin = -0.5f * side - 0.5f * h;
    carve->h = h;
    /* Views that look along the grid rows (z) cost one read per row and
     * reject most rows outright, so they go first. */
    int n_order = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < s->n_views; i++)
            if ((fabsf(views[i].cam.forward[2]) > 0.999f) == (pass == 0))
                carve->order[n_order++] = i;
    return LN_OK;
}

/* Carves the field of s->carve, slab by slab on the given threads,
 * reporting progress from p0 to p1. Fails with LN_EUNUSABLE when no voxel
 * is inside every silhouette. */
static int ln__multi_carve(struct ln__multi *s, int threads, double p0, double p1,
                           struct ln_error *err)
{
    struct ln__carve *carve = &s->carve;
    const int n = carve->n;
    /* Slabs in a few chunks, so progress and cancellation are seen from the
     * job's own thread. */
    const int chunks = 8;
    for (int c = 0; c < chunks; c++) {
        size_t lo = (size_t)n * c / chunks, hi = (size_t)n * (c + 1) / chunks;
        carve->i_offset = lo;
        ln_parallel_for_at(hi - lo, 1, threads, ln__carve_body, carve);
        ln_progress_report(s->progress, "carving", p0 + (p1 - p0) * (c + 1) / chunks);
        int rc = ln__multi_canceled(s, err);
        if (rc < 0)
            return rc;
    }
    size_t n_inside = 0;
    for (int t = 0; t < threads; t++)
        n_inside += carve->inside[t];
    if (n_inside == 0)
        return ln_error_set(err, LN_EUNUSABLE,
                            "the views' silhouettes have no common volume: check the views and "
                            "their order");
    return LN_OK;
}

/* Carves the field once more with the views' finer outlines (sd_fine),
 * keeping what carving and photo-consistency removed: the result is the
 * intersection of the two, and sd holds the finer outline afterwards. */
static int ln__multi_trim(struct ln__multi *s, int threads, struct ln_error *err)
{
    int any = 0;
    for (int i = 0; i < s->n_views; i++) {
        struct ln__view *v = &s->views[i];
        if (!v->sd_fine)
            continue;
        float *t = v->sd;
        v->sd = v->sd_fine;
        v->sd_fine = t;
        any = 1;
    }
    if (!any)
        return LN_OK;
    s->carve.trim = 1;
    memset(s->carve.inside, 0, (size_t)threads * sizeof *s->carve.inside);
    int rc = ln__multi_carve(s, threads, 0.65, 0.7, err);
    s->carve.trim = 0;
    for (int i = 0; i < s->n_views; i++) {
        free(s->views[i].sd_fine);
        s->views[i].sd_fine = NULL;
    }
    return rc;
}

/* ---- photo-consistency ---------------------------------------------- */

/* DESIGN (photo-consistency). Silhouettes alone leave every region that
 * no outline reveals: the corners a few views leave around a round body,
 * the caps over flat tops, a cup's inside. Two steps carve them, both only
 * ever removing voxels that are inside the hull, so the hull stays an
 * outer bound:
 *
 * 1. Free space in front of matched surfaces (a plane sweep). Each view's
 *    pixels look, along their rays through the hull, for the depth whose
 *    colour another view confirms (small fronto-parallel patches). Where
 *    the best depth is clearly better than the rest of the ray and not far
 *    behind the hull's surface, the space in front of it is empty as far
 *    as that view can tell; a voxel is carved when two views say so and
 *    the carved space reaches the outside. This finds thin wedges at once
 *    but cannot see through a lid the hull leaves: the surface behind it
 *    is seen by one view only, so nothing confirms it.
 *
 * 2. Inconsistent surface voxels, with visibility from the volume as it is
 *    carved (voxel colouring). Each round every view finds where its rays
 *    enter the current volume; a voxel there is also seen by another view
 *    when that view's ray enters the volume at the same place. A
 *    Lambertian surface point shows the same colour to every view that
 *    sees it (once each view's exposure and white balance are evened out,
 *    or tolerated where they cannot be: "lighting between views" and
 *    "lighting, where no gains can be set" below), so when every other
 *    view that sees the voxel shows another colour (patch difference over
 *    LN__PHOTO_DIFFER), no surface is there and it is carved; the next
 *    round sees the voxels it hid. This opens a cup from above layer by
 *    layer, down to where the side views stop
 *    seeing into it. A voxel that only one view sees is kept: one view's
 *    colour does not tell how deep the surface it shows lies, so a cup's
 *    floor seen only from above is not placed (docs/quality.md). With two
 *    views of a two-coloured texture, chance agreements stop single rays
 *    early and leave spikes; spikes between voxels the rounds carved (four
 *    of six face neighbours) are carved after them, a few passes. Only
 *    space the colours opened is eroded that way, never a surface the
 *    silhouettes made, so thin parts stay.
 *
 * Each view's answers are per pixel, and every carving is applied in one
 * order on one thread after all views looked at the same volume, so the
 * result does not depend on the thread count. Cost: step 1 is most of it;
 * each round of step 2 is one march per ray from the cube's edge to the
 * volume and a few colour reads per ray, a few milliseconds at 128 rays
 * across, at most LN__PHOTO_ROUNDS rounds (bench-shapes, docs/quality.md,
 * measures what it gains). */

/* The best patch cost (mean absolute colour difference, colours in [0, 1])
 * that counts as a match, and how much better than the ray's mean cost it
 * must be. */
#define LN__PHOTO_MATCH 0.06f
#define LN__PHOTO_DISTINCT 0.3f
/* Where gains are set, the sweep fits one brightness factor per patch
 * within LN__PHOTO_SHADE, and the best cost must be under
 * LN__PHOTO_SHADE_DISTINCT of the ray's mean (DESIGN comment "lighting,
 * the light's turn"). */
#define LN__PHOTO_SHADE 1.1f
#define LN__PHOTO_SHADE_DISTINCT 0.45f
/* How deep behind the hull's surface a matched surface may lie, as a
 * share of the carving cube's side. */
#define LN__PHOTO_REACH 0.125f
/* Patch sample spacing in view pixels; carving margin in voxels. */
#define LN__PHOTO_PATCH 2.0f
#define LN__PHOTO_MARGIN 2.0f
/* Where the exposure may differ, the rounds' colours also agree when the
 * hue of the two patches differs by at most LN__PHOTO_HUE (the spread
 * over the channels of their log colour ratio), colours lifted by
 * LN__HUE_FLOOR first (DESIGN comment "lighting, hue where no gains can
 * be set"). */
#define LN__PHOTO_HUE 1.2f
#define LN__HUE_FLOOR 0.05f

struct ln__sweep {
    const struct ln__view *views;
    const float *field;
    int n_views, perspective, n, res;
    float origin, h;
    int ref; /* the view whose rays are swept */
    /* Where no gains could be set and the exposure may differ: the
     * rounds' tolerance (LN__PHOTO_TOLERANT), as ln__patch_diff takes
     * it, and the hue spread under which the rounds' colours agree
     * (LN__PHOTO_HUE); 0 otherwise. */
    float tol, hue;
    /* The sweep's largest brightness factor fitted per patch, as
     * ln__patch_diff takes it, with its distinctness bound: where gains
     * are set LN__PHOTO_SHADE ("lighting, the light's turn"), where the
     * exposure may differ LN__PHOTO_FIT ("lighting, where no gains can be
     * set"); 0 otherwise. */
    float shade;
    float *depth; /* res x res: depth of the matched surface, or -1 */
    float *enter; /* res x res: the ray parameter where the ray enters the
                   * hull, -1 where it misses it, -2 where it was not
                   * followed (near the outline) */
};

/* Where the rays of each view enter the current volume, for the
 * inconsistency rounds: per view res x res, the depth (as
 * ln__view_project gives it, FLT_MAX where the ray misses) and the ray
 * parameter there (-1 where it misses). */
struct ln__entries {
    float *depth[LN_MAX_VIEWS];
    float *t[LN_MAX_VIEWS];
};

/* The field's value at the voxel nearest to q; outside the grid: -1. */
static float ln__field_at(const struct ln__sweep *s, const float q[3])
{
    int idx[3];
    for (int a = 0; a < 3; a++) {
        float g = (q[a] - s->origin) / s->h;
        if (!(g >= 0.0f && g <= (float)(s->n - 1)))
            return -1.0f;
        idx[a] = (int)lrintf(g);
    }
    return s->field[((size_t)idx[0] * s->n + idx[1]) * s->n + idx[2]];
}

/* Projects q into view v and finds its cell of the res x res ray grid
 * laid over the view's raster: the pixel coordinates and depth in px, py,
 * depth and the cell's index in *cell; 0 when q is behind a perspective
 * camera or outside the grid. */
static int ln__view_cell(const struct ln__view *v, int perspective, int res, const float q[3],
                         float *px, float *py, float *depth, size_t *cell)
{
    if (!ln__view_project(v, perspective, q, px, py, depth))
        return 0;
    int a = (int)lrintf((*px + 0.5f) * (float)res / (float)v->m - 0.5f);
    int b = (int)lrintf((*py + 0.5f) * (float)res / (float)v->m - 0.5f);
    if (a < 0 || b < 0 || a >= res || b >= res)
        return 0;
    *cell = (size_t)b * (size_t)res + (size_t)a;
    return 1;
}

/* Whether view w sees q on the carved volume's surface: q falls in one of
 * its ray-grid cells whose entry depth (entry[], FLT_MAX: the ray meets
 * nothing) is no more than tol in front of q, at least margin pixels
 * inside its outline (sd: distance to it). */
static int ln__view_sees(const struct ln__view *w, int perspective, int res, const float q[3],
                         const float *entry, float tol, float margin)
{
    float wx, wy, depth;
    size_t cell;
    if (!ln__view_cell(w, perspective, res, q, &wx, &wy, &depth, &cell))
        return 0;
    const float e = entry[cell];
    return !(e == FLT_MAX || depth > e + tol || ln__sd_read(w->sd, w->m, wx, wy) < margin);
}

/* The photo-consistency patch: the centre and its four neighbours, in
 * units of LN__PHOTO_PATCH pixels (reference view) or of the world
 * offsets du, dv (another view). */
static const float ln__patch_off[5][2] = {{0, 0}, {-1, 0}, {1, 0}, {0, -1}, {0, 1}};

/* The reference view's patch at pixel (px, py). */
static void ln__patch_ref(const struct ln__view *v, float px, float py, float ref[5][3])
{
    for (int k = 0; k < 5; k++) {
        ln__sculpt_sample(v->rgb, v->m, v->m, 3, px + ln__patch_off[k][0] * LN__PHOTO_PATCH,
                          py - ln__patch_off[k][1] * LN__PHOTO_PATCH, ref[k]);
        for (int c = 0; c < 3; c++)
            ref[k][c] *= v->gain[c];
    }
}

/* View w's colours (times its gain) at the patch of points q + off du +
 * off dv against ref: the sum of the 15 absolute differences in *diff;
 * 0 when a point is behind a perspective camera. With shade > 1 (the
 * sweep, where gains are set or the exposure may differ), w's colours are
 * first scaled by one factor for all three channels, to the patch's
 * summed colour of ref, between 1 / shade and shade; with tol > 0 (the
 * rounds, where the exposure may differ), each difference counts only
 * beyond tol times the larger of its two colours. */
static int ln__patch_diff(const struct ln__view *w, int perspective, const float q[3],
                          const float du[3], const float dv[3], const float ref[5][3], float shade,
                          float tol, float *diff)
{
    float col[5][3];
    for (int k = 0; k < 5; k++) {
        float p[3], px, py, depth;
        for (int a = 0; a < 3; a++)
            p[a] = q[a] + ln__patch_off[k][0] * du[a] + ln__patch_off[k][1] * dv[a];
        if (!ln__view_project(w, perspective, p, &px, &py, &depth))
            return 0;
        ln__sculpt_sample(w->rgb, w->m, w->m, 3, px, py, col[k]);
        for (int a = 0; a < 3; a++)
            col[k][a] *= w->gain[a];
    }
    if (shade > 1.0f) {
        float sum_w = 0.0f, sum_r = 0.0f;
        for (int k = 0; k < 5; k++)
            for (int a = 0; a < 3; a++) {
                sum_w += col[k][a];
                sum_r += ref[k][a];
            }
        float g = sum_w > 1e-3f ? sum_r / sum_w : 1.0f;
        g = g > shade ? shade : (g < 1.0f / shade ? 1.0f / shade : g);
        for (int k = 0; k < 5; k++)
            for (int a = 0; a < 3; a++)
                col[k][a] *= g;
    }
    float c = 0.0f;
    for (int k = 0; k < 5; k++) {
        float d[3];
        for (int a = 0; a < 3; a++) {
            d[a] = fabsf(col[k][a] - ref[k][a]);
            if (tol > 0.0f)
                d[a] = fmaxf(d[a] - tol * fmaxf(col[k][a], ref[k][a]), 0.0f);
        }
        c += d[0] + d[1] + d[2];
    }
    *diff = c;
    return 1;
}

/* How far the hue of view w's patch at q (offsets du, dv) lies from that
 * of ref whatever the brightness ("lighting, hue where no gains can be
 * set"): the spread over the three channels of the log ratio of the two
 * patches' mean colours (each lifted by LN__HUE_FLOOR, so that dark
 * colours count little), which no common factor on all three channels
 * changes. 0 when a point is behind a perspective camera. */
static float ln__patch_hue(const struct ln__view *w, int perspective, const float q[3],
                           const float du[3], const float dv[3], const float ref[5][3])
{
    float mw[3] = {0, 0, 0}, mr[3] = {0, 0, 0};
    for (int k = 0; k < 5; k++) {
        float p[3], px, py, depth, col[3];
        for (int a = 0; a < 3; a++)
            p[a] = q[a] + ln__patch_off[k][0] * du[a] + ln__patch_off[k][1] * dv[a];
        if (!ln__view_project(w, perspective, p, &px, &py, &depth))
            return 0.0f;
        ln__sculpt_sample(w->rgb, w->m, w->m, 3, px, py, col);
        for (int a = 0; a < 3; a++) {
            mw[a] += 0.2f * col[a] * w->gain[a];
            mr[a] += 0.2f * ref[k][a];
        }
    }
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int a = 0; a < 3; a++) {
        float d = logf((mw[a] + LN__HUE_FLOOR) / (mr[a] + LN__HUE_FLOOR));
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    return hi - lo;
}

/* The cost of surface point q seen by the reference view with the patch
 * ref[5][3] (offsets du, dv in world units along the reference camera's
 * right and up): the mean absolute difference over the patch in the other
 * view that agrees best. A point is often seen by one other view only, so
 * the others may not veto it; chance agreements are kept out by the
 * distinctness test and by the two views a carved voxel needs. FLT_MAX
 * when no other view can project it. */
static float ln__sweep_cost(const struct ln__sweep *s, const float q[3], const float du[3],
                            const float dv[3], const float ref[5][3])
{
    float best = FLT_MAX;
    for (int j = 0; j < s->n_views; j++) {
        if (j == s->ref)
            continue;
        float c;
        int ok = ln__patch_diff(&s->views[j], s->perspective, q, du, dv, ref, s->shade, 0.0f, &c);
        if (ok && c / 15.0f < best)
            best = c / 15.0f;
    }
    return best;
}

/* The entry and exit parameters of the ray (o, d) through the grid's cube. */
static int ln__ray_box(const struct ln__sweep *s, const float o[3], const float d[3], float *t0,
                       float *t1)
{
    float lo = -FLT_MAX, hi = FLT_MAX;
    const float b0 = s->origin, b1 = s->origin + (float)(s->n - 1) * s->h;
    for (int a = 0; a < 3; a++) {
        if (fabsf(d[a]) < 1e-9f) {
            if (o[a] < b0 || o[a] > b1)
                return 0;
            continue;
        }
        float ta = (b0 - o[a]) / d[a], tb = (b1 - o[a]) / d[a];
        if (ta > tb) {
            float t = ta;
            ta = tb;
            tb = t;
        }
        lo = ta > lo ? ta : lo;
        hi = tb < hi ? tb : hi;
    }
    *t0 = lo > 0.0f ? lo : 0.0f;
    *t1 = hi;
    return *t1 > *t0;
}

static void ln__sweep_body(void *ctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct ln__sweep *s = ctx;
    const struct ln__view *v = &s->views[s->ref];
    const int res = s->res, m = v->m;
    /* Steps of a voxel, at most 256 across the cube (finer grids gain
     * nothing here: the carved surface is smoothed afterwards). */
    const float side = (float)(s->n - 2) * s->h;
    const float dt = s->h > side / 256.0f ? s->h : side / 256.0f;
    for (size_t b = begin; b < end; b++)
        for (int a = 0; a < res; a++) {
            float *out = &s->depth[b * res + a];
            float *enter_t = &s->enter[b * res + a];
            *out = -1.0f;
            *enter_t = -2.0f;
            /* The ray through this cell's centre in the view's raster. */
            float px = ((float)a + 0.5f) * (float)m / (float)res - 0.5f;
            float py = ((float)b + 0.5f) * (float)m / (float)res - 0.5f;
            if (v->sd[(size_t)lrintf(py) * m + lrintf(px)] < LN__PHOTO_PATCH + 1.0f)
                continue;
            float o[3], d[3], t0, t1;
            ln_camera_ray(&v->cam, (px + 0.5f) / (float)m, (py + 0.5f) / (float)m, o, d);
            *enter_t = -1.0f;
            if (!ln__ray_box(s, o, d, &t0, &t1))
                continue;
            float ref[5][3];
            ln__patch_ref(v, px, py, ref);
            /* The first stretch of the ray inside the hull. */
            float t = t0, enter = -1.0f;
            for (; t < t1; t += dt) {
                float q[3] = {o[0] + t * d[0], o[1] + t * d[1], o[2] + t * d[2]};
                if (ln__field_at(s, q) > 0.0f) {
                    enter = t;
                    break;
                }
            }
            *enter_t = enter;
            if (enter < 0.0f)
                continue;
            float best = FLT_MAX, best_t = enter, sum = 0.0f;
            int count = 0;
            for (t = enter; t < t1; t += dt) {
                float q[3] = {o[0] + t * d[0], o[1] + t * d[1], o[2] + t * d[2]};
                if (ln__field_at(s, q) <= 0.0f)
                    break;
                /* World size of a patch step at this depth. */
                float fwd =
                    d[0] * v->cam.forward[0] + d[1] * v->cam.forward[1] + d[2] * v->cam.forward[2];
                float step = LN__PHOTO_PATCH / v->ms * (s->perspective ? t * fwd : 1.0f);
                float du[3], dv[3];
                for (int c = 0; c < 3; c++) {
                    du[c] = step * v->cam.right[c];
                    dv[c] = step * v->cam.up[c];
                }
                float c = ln__sweep_cost(s, q, du, dv, ref);
                if (c == FLT_MAX)
                    continue;
                sum += c;
                count++;
                if (c < best) {
                    best = c;
                    best_t = t;
                }
            }
            /* A surface found deep behind the hull's own would empty a
             * long tunnel into a cavity that the other views cannot see
             * into, which leaves more wrong surface than it removes. */
            if (best_t - enter > LN__PHOTO_REACH * (float)(s->n - 2) * s->h)
                continue;
            const float distinct = s->shade > 1.0f ? LN__PHOTO_SHADE_DISTINCT : LN__PHOTO_DISTINCT;
            if (count < 3 || best > LN__PHOTO_MATCH || best > distinct * sum / count)
                continue;
            /* Depth along the view's axis, as ln__view_project gives it. */
            float q[3] = {o[0] + best_t * d[0], o[1] + best_t * d[1], o[2] + best_t * d[2]};
            float ppx, ppy, depth;
            ln__view_project(v, s->perspective, q, &ppx, &ppy, &depth);
            *out = depth;
        }
}

/* ---- photo-consistency, second step: inconsistent surface voxels ---- */

/* The mean absolute colour difference (colours in [0, 1]) above which
 * two views that both see a surface voxel show two different surfaces.
 * JPEG noise and resampling stay under 0.03 on a patch; a voxel's offset
 * from the true surface moves a textured pattern by a fraction of a
 * stripe. */
#define LN__PHOTO_DIFFER 0.1f
/* At most this many rounds (each carves at most one layer of ray cells,
 * two voxels, of the volume as each view sees it), and how far behind a
 * view's entry a voxel still counts as seen by it, in voxels. The rounds
 * bound the time; they also stop a deep cavity that the views see only
 * partly from being half opened (the bench's cup at grid 256: F@0.05 with
 * 4 views 0.691 after 32 rounds, 0.692 after 16, 0.696 after 8; with
 * 3 + top 0.861, 0.864, 0.879), while 12 still open the test's cup seen
 * from elevation 45 at grid 80 (8 do not). */
#define LN__PHOTO_ROUNDS 12
#define LN__PHOTO_SEEN 1.5f

struct ln__entry {
    const struct ln__sweep *sw; /* views, field, grid; sw->ref is the view */
    float *depth, *t;           /* that view's maps in struct ln__entries */
    /* t holds where each ray entered the volume before (-1: it missed it,
     * -2: not known): carving only removes, so each ray goes on from
     * there */
    int resume;
};

/* Where the rays of one view enter the current volume (the first sample
 * inside, a voxel apart as the sweep steps). */
static void ln__entry_body(void *ctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct ln__entry *e = ctx;
    const struct ln__sweep *s = e->sw;
    const struct ln__view *v = &s->views[s->ref];
    const int res = s->res, m = v->m;
    const float side = (float)(s->n - 2) * s->h;
    const float dt = s->h > side / 256.0f ? s->h : side / 256.0f;
    for (size_t b = begin; b < end; b++)
        for (int a = 0; a < res; a++) {
            const size_t cell = b * (size_t)res + (size_t)a;
            const float last = e->t[cell];
            if (e->resume && last == -1.0f)
                continue;
            e->depth[cell] = FLT_MAX;
            e->t[cell] = -1.0f;
            float px = ((float)a + 0.5f) * (float)m / (float)res - 0.5f;
            float py = ((float)b + 0.5f) * (float)m / (float)res - 0.5f;
            float o[3], d[3], t0, t1;
            ln_camera_ray(&v->cam, (px + 0.5f) / (float)m, (py + 0.5f) / (float)m, o, d);
            if (!ln__ray_box(s, o, d, &t0, &t1))
                continue;
            if (e->resume && last >= 0.0f)
                t0 = last;
            for (float t = t0; t < t1; t += dt) {
                float q[3] = {o[0] + t * d[0], o[1] + t * d[1], o[2] + t * d[2]};
                if (ln__field_at(s, q) > 0.0f) {
                    float ppx, ppy, depth;
                    ln__view_project(v, s->perspective, q, &ppx, &ppy, &depth);
                    e->depth[cell] = depth;
                    e->t[cell] = t;
                    break;
                }
            }
        }
}

struct ln__incons {
    const struct ln__sweep *sw; /* views, field, grid; sw->ref is the view */
    const struct ln__entries *en;
    uint32_t *marks; /* res x res for sw->ref: voxel to carve, or UINT32_MAX */
};

/* For each ray of view sw->ref: the voxel where it enters the current
 * volume, compared with every other view that sees that voxel too (its own
 * ray enters the volume there, within LN__PHOTO_SEEN voxels). A Lambertian
 * surface point shows one colour to every view that sees it, so when none
 * of those views shows this one's colour, no surface is there and the
 * voxel is empty (one that agrees keeps it: with few views, a view at a
 * grazing angle is often the only other one). A voxel no other view sees
 * is kept: one view
 * alone cannot tell how deep the surface it shows lies. Marks the lowest
 * corner of the 2 x 2 x 2 voxels around the entry point (a ray cell is
 * about two voxels across). */
static void ln__incons_body(void *ctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct ln__incons *ic = ctx;
    const struct ln__sweep *s = ic->sw;
    const struct ln__view *v = &s->views[s->ref];
    const int res = s->res, m = v->m;
    const float seen_tol = LN__PHOTO_SEEN * s->h;
    for (size_t b = begin; b < end; b++)
        for (int a = 0; a < res; a++) {
            const size_t cell = b * (size_t)res + (size_t)a;
            ic->marks[cell] = UINT32_MAX;
            float t = ic->en->t[s->ref][cell];
            if (t < 0.0f)
                continue;
            float px = ((float)a + 0.5f) * (float)m / (float)res - 0.5f;
            float py = ((float)b + 0.5f) * (float)m / (float)res - 0.5f;
            /* Colours right at the outline mix in the background. */
            if (v->sd[(size_t)lrintf(py) * m + lrintf(px)] < LN__PHOTO_PATCH + 1.0f)
                continue;
            float o[3], d[3];
            ln_camera_ray(&v->cam, (px + 0.5f) / (float)m, (py + 0.5f) / (float)m, o, d);
            const float q[3] = {o[0] + t * d[0], o[1] + t * d[1], o[2] + t * d[2]};
            float ref[5][3];
            ln__patch_ref(v, px, py, ref);
            float fwd =
                d[0] * v->cam.forward[0] + d[1] * v->cam.forward[1] + d[2] * v->cam.forward[2];
            float step = LN__PHOTO_PATCH / v->ms * (s->perspective ? t * fwd : 1.0f);
            float du[3], dv[3];
            for (int c = 0; c < 3; c++) {
                du[c] = step * v->cam.right[c];
                dv[c] = step * v->cam.up[c];
            }
            int seen = 0, agree = 0;
            for (int j = 0; j < s->n_views; j++) {
                if (j == s->ref)
                    continue;
                const struct ln__view *w = &s->views[j];
                if (!ln__view_sees(w, s->perspective, res, q, ic->en->depth[j], seen_tol,
                                   LN__PHOTO_PATCH + 1.0f))
                    continue;
                float c;
                int ok = ln__patch_diff(w, s->perspective, q, du, dv, ref, 0.0f, s->tol, &c);
                if (!ok)
                    continue;
                seen++;
                /* where the exposure may differ, also alike in hue */
                agree +=
                    c / 15.0f <= LN__PHOTO_DIFFER ||
                    (s->hue > 0.0f && ln__patch_hue(w, s->perspective, q, du, dv, ref) <= s->hue);
            }
            if (seen == 0 || agree > 0)
                continue;
            int idx[3];
            for (int c3 = 0; c3 < 3; c3++) {
                int g = (int)floorf((q[c3] - s->origin) / s->h - 0.5f);
                idx[c3] = g < 1 ? 1 : (g > s->n - 3 ? s->n - 3 : g);
            }
            ic->marks[cell] = (uint32_t)(((size_t)idx[0] * s->n + idx[1]) * s->n + idx[2]);
        }
}

/* ---- photo-consistency: the views' exposure and white balance -------- */

/* DESIGN (lighting between views). Photos taken one after another rarely
 * share exposure and white balance: a phone meters each view anew, a
 * light may be nearer one side. Both steps above compare plain colours
 * against thresholds of a few hundredths, so a view 15% brighter than the
 * next would match nothing in the sweep and have true surface carved by
 * the rounds. Each view's colours are therefore scaled by a gain per
 * channel before any comparison, estimated from the object itself: four
 * rays of each ray cell of view i meet the hull at points q; each other
 * view j whose own ray enters the hull there too (within LN__GAIN_SEEN
 * voxels) sees q as well, and the two views' mean colours over a patch
 * give one log ratio per channel. Where the hull is true surface (along
 * every outline's contour, and most of a convex body) the three ratios
 * are the two photos' gain ratios plus noise; where it lies in front of
 * the surface (a cup's lid, the corners few views leave) they are what two
 * unrelated colours give, spread wide. So each pair's ratio is read at
 * the mode of its joint (three-channel) histogram, and only where that
 * mode holds enough samples and a fair share of them; the views' gains
 * are the least-squares fit of all pairs' ratios, their geometric mean
 * 1. When the pairs with a clear mode do not tie every view to the others
 * (four views around a cup or a bowl: the hull two neighbours share is
 * mostly lid), no gain is set at all: a guessed gain does more harm than
 * none (bench-shapes --lighting, docs/quality.md).
 *
 * Gains, rather than normalised cross-correlation or zero-mean patches,
 * because the rounds carve on a difference of plain colour: a cup's
 * inside is opened where a side view shows the red outside wall and the
 * top view shows the blue floor, two patches that are both nearly flat;
 * zero-mean colours would call them alike and open nothing. A gain keeps
 * that contrast and removes only what one photo does to all its pixels.
 * What differs point by point (a light that moved and so shades each
 * normal differently) is left to the thresholds, as before.
 *
 * Gains within LN__GAIN_QUIET of 1 (in log) are set to 1: that much comes
 * from JPEG and resampling alone on photos taken under one light (the
 * bench's views estimate within 0.01 there), and a correction of noise
 * would only move results by chance; photos under one light so give the
 * same mesh as before, bit for bit. Cost: one march per ray cell and view
 * to the hull, four patch pairs per cell and view pair, and a 33^3
 * histogram per pair, a few tens of milliseconds at grid 256. */

/* DESIGN (lighting, where no gains can be set). Four views around a cup,
 * a bowl or a chair share mostly the hull's lid over the opening or the
 * space under the seat: no pair's ratios have a clear mode, no gain is
 * set, and plain colours compared under thresholds of a few hundredths
 * carve true surface wherever one photo is brighter than its neighbour
 * (the cup from four views fell below its hull on bench-shapes
 * --lighting). Whether the exposure differs is still told by the same
 * histograms: under one light the ratios of the surface two views do
 * share pile up at 1 (on the bench, of the samples in the pairs' fullest
 * windows 56% to 99% also fall in the window about 1), while under
 * different exposures that window stays nearly empty (0% to 4%); so
 * unless at least LN__GAIN_ZERO_MIN samples and LN__GAIN_ZERO of the
 * modes' samples lie about 1, the exposure may differ (also when there
 * is too little shared surface to tell: the safe side).
 *
 * Then both steps compare colours in a way that a gain per photo does
 * not upset, each as it errs safely. Photos that each lie within 15% of
 * one exposure differ by a ratio up to 1.15 / 0.85 = 1.35 per channel.
 *
 * The sweep carves in front of what it matches, so it must not match
 * more than before: each view's white balance is first evened out from
 * its mean colour ("lighting, white balance from the views' means"
 * below), then the other view's patch is scaled by one factor for all
 * channels to the reference patch, between 1 / LN__PHOTO_FIT and
 * LN__PHOTO_FIT (1.35), and compared as before, with the distinctness
 * bound of "lighting, the light's turn". An exposure within that range
 * is undone exactly, and the patch's texture still has to line up under
 * the thresholds as they were. (Until 2026-12-07 the patch was scaled
 * per channel, without the white balance, which let chance matches of
 * other hues through; forgiving a share of each colour instead, as the
 * rounds do, let chance matches behind a thin part carve it: the
 * standing torus from four perspective views fell from 0.998 to 0.981,
 * bench-shapes --lighting.)
 *
 * The rounds carve where colours disagree, so they must disagree less:
 * per channel, a difference counts only beyond LN__PHOTO_TOLERANT of the
 * larger of the two values. Why 0.2: the same surface shows x and
 * 1.35 x, a difference of 0.26 of the larger; 0.2 of it is forgiven and
 * the remaining 0.06 of a colour of at most 1 stays well within
 * LN__PHOTO_DIFFER. A fit per patch would not do here: the rounds carve
 * a lid where one view shows a nearly flat red wall and the other a
 * nearly flat, darker red floor, and a fitted gain makes any two flat
 * patches of one hue alike. What the tolerance keeps: surfaces of
 * different hue stay apart (the bench's red, 0.78 / 0.30 / 0.18, against
 * its blue, 0.16 / 0.36 / 0.68, still differ by 0.28 a channel on
 * average, over the rounds' 0.1). What it gives up: two surfaces that
 * differ only in brightness, by a ratio under 1.25 (more in dark colours,
 * where the threshold adds to it), are no longer told apart, so less of a
 * lid over a cavity is opened than under one light. Per channel rather
 * than chromaticity with a loose brightness test, because white balance
 * moves chromaticity by as much as exposure moves brightness. Under one
 * light (the window about 1 full) nothing changes, bit for bit. */

/* DESIGN (lighting, pairs that agree). Before falling back to the
 * tolerant comparisons above, the pairs are read once more with a lower
 * bar: a pair (i, j) counts when both of its directions hold at least
 * LN__GAIN_WEAK_MIN samples and LN__GAIN_WEAK_PEAK of their samples at
 * their modes (half the bar of a clear mode), and the two directions
 * agree: the mode of j over i and that of i over j are two estimates of
 * one ratio from two different sets of rays (each view's rays that meet
 * the other), so on true surface they are each other's inverse, while
 * two chance peaks in the lid's spread rarely are (within
 * LN__GAIN_WEAK_AGREE, 10%, in every channel). When such pairs tie every
 * view, the gains are fitted from them as above and colours are compared
 * as under one light, with the thresholds as they were: the cup's four
 * neighbours on bench-shapes --lighting give modes within 7% of the
 * photos' true gain ratios (the light turned by a few degrees makes the
 * rest), and that is what the per-view gains of the tori and the figure
 * leave too. Only when they do not (the bowl: one pair's directions say
 * 1.22 and 0.86 for one ratio; the chair: too little shared surface) are
 * the colours compared tolerantly. Partial ties (three views of four)
 * were tried: the bowl then fell from 0.552 to 0.543, its gains from
 * a shaded inside being 10% off, so either every view is tied or none is.
 * Under one light, where the window about ratio 1 is full, this is
 * never reached; where too little surface is shared to tell (the safe
 * side above), the weaker pairs are read as well, and they tie the views
 * only where they agree (on bench-shapes every run under one light is
 * unchanged). */
/* DESIGN (lighting, hue where no gains can be set). Where no gains are
 * set and the exposure may differ (four perspective views around the
 * cup, the bowl or the figure share 76 to 156 samples at the pairs'
 * modes; the pairs that agree do not tie four orthographic views around
 * the bowl), the tolerant rounds above still scored under the exact hull
 * on bench-shapes --lighting. Measured first (docs/quality.md, "Hue
 * where no gains can be set"): the true surface is not what they lose.
 * Against the engine without photo-consistency, recall rises in every
 * such run (perspective bowl 0.665 to 0.684, orthographic bowl 0.551 to
 * 0.592) and precision falls (0.735 to 0.693, 0.552 to 0.518): the
 * rounds carve pits into the hull's lid (a bowl's from four perspective
 * views: one region of 7 400 voxels and 60 of 8 to 500), where two views
 * see two unrelated points of one texture whose colours differ mostly in
 * brightness (a red check lit and a red check shaded), and a
 * pitted lid has more surface far from the object than a plain one. On
 * the test's cup no lattice point of the wall or floor is lost either
 * way.
 *
 * So where the exposure may differ the rounds carve only what differs in
 * hue too: a voxel's colours also agree when the spread over the three
 * channels of the log ratio of the two patches' mean colours is at most
 * LN__PHOTO_HUE. A gain per channel within 15% of one exposure moves that
 * spread by at most 2 ln 1.35 = 0.6, and a common factor (exposure, or a
 * light that moved and shades the point differently) not at all; 1.2
 * leaves as much again for JPEG's coarser colour and a patch a voxel off.
 * The bench's red and blue checks (0.78 / 0.30 / 0.18 against 0.16 /
 * 0.36 / 0.68) differ by 2.5, the test cup's colour waves (each channel
 * 0.1 to 0.9) by up to 3.7. What it gives up: lids whose colours
 * differ from the surface below in brightness only stay, as they do
 * where the sweep cannot confirm them. Deciding by region instead
 * (putting back every connected region the rounds carved under a size,
 * the hull's values recomputed by the carving) was measured and not
 * kept: at 1 024 voxels the perspective bowl rose 0.688 to 0.693, but the
 * figure fell 0.976 to 0.975 and the chair 0.944 to 0.935, and a pit is
 * no smaller than a real opening's first layers. Under one light, and
 * where gains are set, nothing changes, bit for bit. */
/* DESIGN (lighting, the light's turn). Gains even out what a camera does
 * to a whole photo; a light that moved between two photos (turned by a
 * few degrees about the object, or the photographer's shadow) shades
 * each point by its normal, so the same point still differs between two
 * views by a factor of its own, the same on all three channels. On
 * bench-shapes --lighting (lights turned by -12 to 12 degrees) that
 * factor reaches about 0.15 in linear light between two views, and the
 * sweep, whose matches must lie under LN__PHOTO_MATCH, lost most of its
 * matches on the orthographic cup although its gains were estimated
 * within 3%: 12 949 voxels emptied against 33 154 under one light and
 * 29 018 with the gains alone (docs/quality.md, "What differing light
 * costs, taken apart"). So where gains are set, the sweep scales the
 * other view's patch by one factor for all channels, to the reference
 * patch's summed colour, within LN__PHOTO_SHADE (1.1; the cup's F@0.05
 * at 1.05 / 1.1 / 1.15 was 0.675 / 0.679 / 0.657 with the bound below,
 * and at 1.3 0.564 with the old one: more lets the lid's chance matches
 * through). The factor lowers the cost of every depth along a
 * ray, the true one and the others alike, so the distinctness test is
 * loosened with it: the best under LN__PHOTO_SHADE_DISTINCT (0.45) of
 * the ray's mean instead of 0.3. On the cup the sweep then empties 29 988
 * voxels, about what one light gives (18 867 at 0.3, 23 725 at 0.4;
 * 31 741 at 0.5, which lowers the egg and the figure from 3 + top).
 * One factor, not one per channel: the gains have taken out what differs
 * per channel, and a fit per channel let chance matches of other hues
 * through (the cup 0.560 at 1.2). Under one light no gain is set, so
 * nothing changes, bit for bit. Where no gains can be set, the same fit
 * runs after a white balance, within the exposure's range ("lighting,
 * white balance from the views' means"). */
/* DESIGN (lighting, white balance from the views' means). Where no gains
 * can be set, what a photo does to its colours is still half known: the
 * mean log colour of each view over the object differs from the others'
 * by the photos' gains plus what each view sees (another side, lit
 * otherwise). On bench-shapes --lighting that difference's brightness
 * (the same on all channels) was off the photos' by up to 0.4 in log,
 * the views seeing sides lit differently, while its colour (each
 * channel's part once the brightness is taken out) was within 0.02 to
 * 0.07 of the photos' (the cup, bowl, chair and figure, orthographic and
 * perspective; docs/quality.md). So there each view gets gains from its
 * mean colour with the brightness taken out, the views' mean taken as
 * neutral, each channel within LN__WB_MAX (20%) in log: white balance,
 * not exposure. What remains between two photos of one point is a factor
 * on all channels (exposure, and a light that moved), which the sweep
 * fits per patch within LN__PHOTO_FIT and the rounds' tolerance and hue
 * test forgive. Against the fit per channel it replaced (four views,
 * F@0.05): orthographic bowl 0.557 to 0.581, chair 0.949 to 0.950;
 * perspective cup 0.725 to 0.742 (its hull 0.740), bowl 0.702 to 0.727,
 * chair 0.939 to 0.960, figure 0.97579 to 0.97589; from 3 + top in
 * perspective the bowl 0.587 to 0.601 and the chair 0.756 to 0.782, the
 * cup 0.767 to 0.764 and the figure 0.988 to 0.986. Where the views do
 * see differently coloured sides (a mug red on one side, white on the
 * other), the means are wrong by up to the clamp: the rounds then
 * forgive the error (a 20% channel is within their tolerance and hue
 * test) and the sweep matches less, the safe side for both. Under one
 * light, and where gains are set, this never runs. */
/* DESIGN (lighting, the backdrop). Where the object gives no gains (its
 * views share too little true surface), the photos often still share
 * something else: the backdrop. A turntable, a sheet of paper, a light
 * box, a wall: one even surface behind the object in every view, which a
 * camera's exposure and white balance change exactly as they change the
 * object. Its colour in each photo (the median of the pixels the
 * separation called background, with the input's colours; none where
 * the photo came with its own transparency) gives the photos' gain
 * ratios per channel directly, wherever the channel is not clipped: a
 * light backdrop under a brighter exposure reaches 255 (on bench-shapes
 * --lighting the backdrop, 0.93 of white, clips in 4 of the 12 channels
 * of four views). A clipped channel's gain is estimated as e[v] +
 * wb[v][c] (log), an exposure per view on the white balance from the
 * views' means (above), e fitted by least squares to the unclipped
 * channels (-log backdrop + k[c] = e[v] + wb[v][c], k a constant per
 * channel), and never beyond what the clipping allows where another view
 * shows the channel (the backdrop there is at least LN__BACKDROP_CLIP).
 * The views then count as one exposure's photos: the gains are set as
 * the object's would be, and both steps compare as they do there (the
 * sweep's factor within LN__PHOTO_SHADE, the rounds without the tolerance
 * and the hue test).
 *
 * Used only when every view has a backdrop (LN__BACKDROP_MIN of the frame
 * is background, LN__BACKDROP_SHARE of it within LN__BACKDROP_NEAR levels
 * of the median in every channel: a room behind the object, or a backdrop
 * of two colours, is not one), the views are tied by channels unclipped
 * in both, and the unclipped values differ between views by at most
 * LN__BACKDROP_RANGE (1.5, beyond the 1.35 of exposures within 15% of one:
 * a sanity bound). A different even backdrop in one view is not told from
 * another exposure or white balance (the means' colour balance cannot
 * tell it either: on test_sculpt's cup, whose sides differ in colour, the
 * means are 0.13 off the true balance in log). Measured (bench-shapes
 * --lighting, four views, F@0.05): orthographic bowl 0.581 to 0.630,
 * chair 0.950 to 0.957; in perspective the cup 0.742 to 0.764, the chair
 * 0.960 to 0.967, the figure 0.976 to 0.975, 0.0008 under its hull (the
 * light's turn, which the sweep's narrower factor forgives less;
 * docs/quality.md, "Gains from the backdrop"). Under one
 * light nothing changes where the views share enough surface (no gains
 * are needed; every bench-shapes run under one light is the same, digit
 * for digit); where they share too little to tell and the views'
 * backdrops are even and tie them through unclipped channels, the
 * backdrop now says the exposure is the same, and the colours are
 * compared as under one light instead of tolerantly (the synthetic box's
 * views are on white, every channel clipped, nothing ties them: they are
 * compared tolerantly as before). */
#define LN__PHOTO_FIT 1.35f
#define LN__PHOTO_TOLERANT 0.2f
#define LN__WB_MAX 0.18 /* ln 1.2 */
#define LN__WB_DARK 0.02
/* A backdrop channel at or above LN__BACKDROP_CLIP may be clipped, one under
 * LN__BACKDROP_DARK is too dark to measure a ratio, and two views' values
 * of a channel differ by at most LN__BACKDROP_RANGE (DESIGN comment
 * "lighting, the backdrop"). */
#define LN__BACKDROP_CLIP (250.0f / 255.0f)
#define LN__BACKDROP_DARK 0.1f
#define LN__BACKDROP_RANGE 1.5f

#define LN__GAIN_BINS 33        /* per channel: log ratio -0.4 .. 0.4 */
#define LN__GAIN_BIN 0.025f     /* bin width */
#define LN__GAIN_MIN_SAMPLES 48 /* a pair needs this many near its mode */
#define LN__GAIN_PEAK 0.1f      /* and this share of its samples there */
#define LN__GAIN_QUIET 0.02f
/* Where those pairs do not tie every view and the exposure may differ,
 * a pair counts when both its directions hold this many samples and this
 * share of them at their modes, and the two modes agree (log ratio of j
 * over i against that of i over j) within LN__GAIN_WEAK_AGREE a channel. */
#define LN__GAIN_WEAK_MIN 24
#define LN__GAIN_WEAK_PEAK 0.05f
#define LN__GAIN_WEAK_AGREE 0.1f
/* Without gains, the exposure is taken to be the same only when the
 * window about ratio 1 (3 x 3 x 3 bins) holds at least this share of the
 * samples in the pairs' fullest windows, and this many samples. */
#define LN__GAIN_ZERO 0.25f
#define LN__GAIN_ZERO_MIN 12
/* The patches' sample spacing in pixels: wider than the comparisons',
 * so that their mean colour moves little when q is a voxel off. */
#define LN__GAIN_PATCH (2.0f * LN__PHOTO_PATCH)
/* How far behind another view's entry a point still counts as seen by
 * it, in voxels: more than the rounds allow (a ray cell's entry is that
 * of its centre, and an oblique surface moves by more across it); the
 * histogram's mode keeps out what is not the same point. */
#define LN__GAIN_SEEN 4.0f
/* Colours below this (in any channel) say little about a ratio. */
#define LN__GAIN_DARK 0.04f

struct ln__gain_pass {
    const struct ln__sweep *sw; /* sw->ref: the view */
    const struct ln__entries *en;
    float *ratio; /* res x res x 4 x LN_MAX_VIEWS x 3 log ratios, NAN where none */
};

static void ln__gain_body(void *ctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct ln__gain_pass *g = ctx;
    const struct ln__sweep *s = g->sw;
    const struct ln__view *v = &s->views[s->ref];
    const int res = s->res, m = v->m;
    const float seen_tol = LN__GAIN_SEEN * s->h;
    for (size_t b = begin; b < end; b++)
        for (int sub = 0; sub < 4 * res; sub++) {
            /* Four rays per cell, at the cell's entry parameter (an
             * oblique surface moves by less than LN__GAIN_SEEN). */
            const int a = sub / 4;
            const size_t cell = b * (size_t)res + (size_t)a;
            float *out = g->ratio + (cell * 4 + (size_t)(sub & 3)) * LN_MAX_VIEWS * 3;
            for (int k = 0; k < LN_MAX_VIEWS * 3; k++)
                out[k] = NAN;
            float t = g->en->t[s->ref][cell];
            if (t < 0.0f)
                continue;
            float px = ((float)a + 0.25f + 0.5f * (float)(sub & 1)) * (float)m / (float)res - 0.5f;
            float py =
                ((float)b + 0.25f + 0.5f * (float)((sub >> 1) & 1)) * (float)m / (float)res - 0.5f;
            if (v->sd[(size_t)lrintf(py) * m + lrintf(px)] < LN__GAIN_PATCH + 1.0f)
                continue;
            float o[3], d[3];
            ln_camera_ray(&v->cam, (px + 0.5f) / (float)m, (py + 0.5f) / (float)m, o, d);
            const float q[3] = {o[0] + t * d[0], o[1] + t * d[1], o[2] + t * d[2]};
            float ref[5][3], mine[3] = {0, 0, 0};
            for (int k = 0; k < 5; k++)
                ln__sculpt_sample(v->rgb, v->m, v->m, 3, px + ln__patch_off[k][0] * LN__GAIN_PATCH,
                                  py - ln__patch_off[k][1] * LN__GAIN_PATCH, ref[k]);
            for (int k = 0; k < 5; k++)
                for (int c = 0; c < 3; c++)
                    mine[c] += ref[k][c] * 0.2f;
            if (mine[0] < LN__GAIN_DARK || mine[1] < LN__GAIN_DARK || mine[2] < LN__GAIN_DARK)
                continue;
            float fwd =
                d[0] * v->cam.forward[0] + d[1] * v->cam.forward[1] + d[2] * v->cam.forward[2];
            float step = LN__GAIN_PATCH / v->ms * (s->perspective ? t * fwd : 1.0f);
            for (int j = 0; j < s->n_views; j++) {
                if (j == s->ref)
                    continue;
                const struct ln__view *w = &s->views[j];
                if (!ln__view_sees(w, s->perspective, res, q, g->en->depth[j], seen_tol,
                                   LN__GAIN_PATCH + 1.0f))
                    continue;
                float col[3], theirs[3] = {0, 0, 0};
                int ok = 1;
                for (int k = 0; k < 5 && ok; k++) {
                    float p[3], ppx, ppy, dd;
                    for (int c = 0; c < 3; c++)
                        p[c] = q[c] + step * (ln__patch_off[k][0] * v->cam.right[c] +
                                              ln__patch_off[k][1] * v->cam.up[c]);
                    ok = ln__view_project(w, s->perspective, p, &ppx, &ppy, &dd);
                    if (ok) {
                        ln__sculpt_sample(w->rgb, w->m, w->m, 3, ppx, ppy, col);
                        for (int c = 0; c < 3; c++)
                            theirs[c] += col[c] * 0.2f;
                    }
                }
                if (!ok || theirs[0] < LN__GAIN_DARK || theirs[1] < LN__GAIN_DARK ||
                    theirs[2] < LN__GAIN_DARK)
                    continue;
                for (int c = 0; c < 3; c++)
                    out[j * 3 + c] = logf(theirs[c] / mine[c]);
            }
        }
}

/* The mode of a pair's joint histogram of log ratios (LN__GAIN_BINS^3
 * bins of LN__GAIN_BIN per channel): the fullest 3 x 3 x 3 window, its
 * centre of mass per channel in mode; returns the count in the window. */
static long ln__gain_mode(const uint32_t *hist, float mode[3])
{
    const int nb = LN__GAIN_BINS;
    long best = 0;
    int at[3] = {0, 0, 0};
    for (int r = 1; r < nb - 1; r++)
        for (int g = 1; g < nb - 1; g++)
            for (int b = 1; b < nb - 1; b++) {
                if (hist[((size_t)r * nb + g) * nb + b] == 0)
                    continue;
                long sum = 0;
                for (int dr = -1; dr <= 1; dr++)
                    for (int dg = -1; dg <= 1; dg++)
                        for (int db = -1; db <= 1; db++)
                            sum += hist[((size_t)(r + dr) * nb + (g + dg)) * nb + (b + db)];
                if (sum > best) {
                    best = sum;
                    at[0] = r;
                    at[1] = g;
                    at[2] = b;
                }
            }
    double acc[3] = {0, 0, 0};
    for (int dr = -1; dr <= 1; dr++)
        for (int dg = -1; dg <= 1; dg++)
            for (int db = -1; db <= 1; db++) {
                const int k[3] = {at[0] + dr, at[1] + dg, at[2] + db};
                double cnt = best > 0 ? hist[((size_t)k[0] * nb + k[1]) * nb + k[2]] : 0.0;
                for (int c = 0; c < 3; c++)
                    acc[c] += cnt * (double)((float)(k[c] - nb / 2) * LN__GAIN_BIN);
            }
    for (int c = 0; c < 3; c++)
        mode[c] = best > 0 ? (float)(acc[c] / (double)best) : 0.0f;
    return best;
}

/* How many views the pairs of weight w > 0 tie to view 0. */
static int ln__gain_tied(float w[LN_MAX_VIEWS][LN_MAX_VIEWS], int nv)
{
    int reached[LN_MAX_VIEWS] = {1}, n_reached = 1;
    for (int grew = 1; grew;) {
        grew = 0;
        for (int i = 0; i < nv; i++)
            for (int j = 0; j < nv; j++)
                if (reached[i] && !reached[j] && w[i][j] > 0.0f) {
                    reached[j] = 1;
                    n_reached++;
                    grew = 1;
                }
    }
    return n_reached;
}

/* Sets every view's gain (struct ln__view) from the hull in sw's field:
 * en holds res x res entry maps per view, overwritten here. */
static int ln__photo_gains(struct ln__multi *s, struct ln__sweep *sw, struct ln__entries *en,
                           int *differ, struct ln_error *err)
{
    *differ = 0;
    const int nv = s->n_views, nb = LN__GAIN_BINS;
    const size_t cells = (size_t)sw->res * (size_t)sw->res, nb3 = (size_t)nb * nb * nb;
    for (int vi = 0; vi < nv; vi++)
        for (int c = 0; c < 3; c++)
            s->views[vi].gain[c] = 1.0f;
    if (nv < 2)
        return LN_OK;
    float *ratio =
        ln_alloc_array(cells * 4 * LN_MAX_VIEWS * 3, sizeof(float), 0, "colour ratios", err);
    uint32_t *hist =
        ln_alloc_array((size_t)nv * nv * nb3, sizeof(uint32_t), 1, "colour ratios", err);
    if (!ratio || !hist) {
        free(ratio);
        free(hist);
        return err ? err->code : LN_ENOMEM;
    }
    for (int vi = 0; vi < nv; vi++) {
        sw->ref = vi;
        struct ln__entry e = {.sw = sw, .depth = en->depth[vi], .t = en->t[vi], .resume = 0};
        ln_parallel_for((size_t)sw->res, 4, ln__entry_body, &e);
    }
    /* Per pair (i, j): the joint histogram of log(j's colour / i's), and
     * how many samples it holds. */
    long total[LN_MAX_VIEWS][LN_MAX_VIEWS] = {{0}};
    for (int vi = 0; vi < nv; vi++) {
        sw->ref = vi;
        struct ln__gain_pass g = {.sw = sw, .en = en, .ratio = ratio};
        ln_parallel_for((size_t)sw->res, 4, ln__gain_body, &g);
        for (size_t cell = 0; cell < cells * 4; cell++)
            for (int j = 0; j < nv; j++) {
                const float *r = &ratio[(cell * LN_MAX_VIEWS + (size_t)j) * 3];
                if (isnan(r[0]))
                    continue;
                int bin[3];
                for (int c = 0; c < 3; c++)
                    bin[c] = (int)lrintf(r[c] / LN__GAIN_BIN) + nb / 2;
                if (bin[0] < 0 || bin[1] < 0 || bin[2] < 0 || bin[0] >= nb || bin[1] >= nb ||
                    bin[2] >= nb)
                    continue;
                hist[(size_t)(vi * nv + j) * nb3 + ((size_t)bin[0] * nb + bin[1]) * nb + bin[2]]++;
                total[vi][j]++;
            }
    }
    /* Both directions of a pair measure one ratio: r[i][j] = log of j's
     * colour over i's, weight w[i][j] (0: the pair shares too little, or
     * its ratios have no clear mode). */
    float r[LN_MAX_VIEWS][LN_MAX_VIEWS][3] = {{{0}}};
    float w[LN_MAX_VIEWS][LN_MAX_VIEWS] = {{0}};
    float mode[LN_MAX_VIEWS][LN_MAX_VIEWS][3] = {{{0}}};
    long peak[LN_MAX_VIEWS][LN_MAX_VIEWS] = {{0}};
    long modes = 0, zeros = 0;
    long count[LN_MAX_VIEWS][LN_MAX_VIEWS] = {{0}};
    int solid[LN_MAX_VIEWS][LN_MAX_VIEWS] = {{0}};
    for (int i = 0; i < nv; i++)
        for (int j = 0; j < nv; j++) {
            if (i == j)
                continue;
            const uint32_t *h = hist + (size_t)(i * nv + j) * nb3;
            peak[i][j] = ln__gain_mode(h, mode[i][j]);
            modes += peak[i][j];
            for (int dr = -1; dr <= 1; dr++)
                for (int dg = -1; dg <= 1; dg++)
                    for (int db = -1; db <= 1; db++)
                        zeros +=
                            h[((size_t)(nb / 2 + dr) * nb + (nb / 2 + dg)) * nb + (nb / 2 + db)];
            count[i][j] = peak[i][j];
            solid[i][j] = peak[i][j] >= LN__GAIN_WEAK_MIN &&
                          (float)peak[i][j] >= LN__GAIN_WEAK_PEAK * (float)total[i][j];
            if (peak[i][j] < LN__GAIN_MIN_SAMPLES ||
                (float)peak[i][j] < LN__GAIN_PEAK * (float)total[i][j])
                peak[i][j] = 0;
        }
    for (int i = 0; i < nv; i++)
        for (int j = 0; j < nv; j++) {
            long n_ij = peak[i][j], n_ji = peak[j][i];
            w[i][j] = (float)(n_ij + n_ji);
            for (int c = 0; c < 3; c++)
                r[i][j][c] = n_ij + n_ji > 0
                                 ? ((float)n_ij * mode[i][j][c] - (float)n_ji * mode[j][i][c]) /
                                       (float)(n_ij + n_ji)
                                 : 0.0f;
        }
    /* Every view must be tied to the others through pairs with a clear
     * mode; where one is not, its gain would be a guess, and no gains are
     * set (the colours are compared as they are), unless the exposure may
     * differ and the weaker pairs whose two directions agree tie them
     * (DESIGN comment "lighting, pairs that agree"). */
    int n_reached = ln__gain_tied(w, nv);
    if (n_reached < nv) {
        *differ = !(zeros >= LN__GAIN_ZERO_MIN && (float)zeros >= LN__GAIN_ZERO * (float)modes);
        float w_weak[LN_MAX_VIEWS][LN_MAX_VIEWS] = {{0}},
              r_weak[LN_MAX_VIEWS][LN_MAX_VIEWS][3] = {{{0}}};
        for (int i = 0; i < nv; i++)
            for (int j = 0; j < nv; j++) {
                if (i == j || !solid[i][j] || !solid[j][i])
                    continue;
                int agree = 1;
                for (int c = 0; c < 3; c++)
                    agree &= fabsf(mode[i][j][c] + mode[j][i][c]) <= LN__GAIN_WEAK_AGREE;
                if (!agree)
                    continue;
                const long n_ij = count[i][j], n_ji = count[j][i];
                w_weak[i][j] = (float)(n_ij + n_ji);
                for (int c = 0; c < 3; c++)
                    r_weak[i][j][c] = ((float)n_ij * mode[i][j][c] - (float)n_ji * mode[j][i][c]) /
                                      (float)(n_ij + n_ji);
            }
        int n_weak = *differ ? ln__gain_tied(w_weak, nv) : 0;
        ln_log_info("photo-consistency: colour gains %s (%d of %d views tied by shared surface, "
                    "%d by pairs that agree); %ld of %ld ratios at the pairs' modes are at 1: "
                    "exposure %s",
                    n_weak == nv ? "from pairs that agree" : "not set", n_reached, nv, n_weak,
                    zeros, modes, *differ ? "may differ" : "the same");
        if (n_weak < nv) {
            free(ratio);
            free(hist);
            return LN_OK;
        }
        *differ = 0;
        memcpy(w, w_weak, sizeof w);
        memcpy(r, r_weak, sizeof r);
    }
    /* Log gains lg with lg[j] - lg[i] = -r[i][j] in the least-squares
     * sense (Gauss-Seidel, a fixed number of sweeps), then centred. */
    float lg[LN_MAX_VIEWS][3] = {{0}};
    for (int c = 0; c < 3; c++) {
        for (int it = 0; it < 100; it++)
            for (int j = 0; j < nv; j++) {
                float num = 0.0f, den = 0.0f;
                for (int i = 0; i < nv; i++)
                    if (w[i][j] > 0.0f) {
                        num += w[i][j] * (lg[i][c] - r[i][j][c]);
                        den += w[i][j];
                    }
                if (den > 0.0f)
                    lg[j][c] = num / den;
            }
        float mean = 0.0f;
        for (int j = 0; j < nv; j++)
            mean += lg[j][c] / (float)nv;
        for (int j = 0; j < nv; j++)
            lg[j][c] -= mean;
    }
    for (int j = 0; j < nv; j++) {
        for (int c = 0; c < 3; c++)
            if (fabsf(lg[j][c]) > LN__GAIN_QUIET)
                s->views[j].gain[c] = expf(lg[j][c]);
        ln_log_info("photo-consistency: view %d colour gains %.3f %.3f %.3f (estimated %.3f %.3f "
                    "%.3f)",
                    j, (double)s->views[j].gain[0], (double)s->views[j].gain[1],
                    (double)s->views[j].gain[2], exp((double)lg[j][0]), exp((double)lg[j][1]),
                    exp((double)lg[j][2]));
    }
    free(ratio);
    free(hist);
    return LN_OK;
}

/* Where no gains are set and the exposure may differ: every view's white
 * balance from its mean log colour over the object (DESIGN comment
 * "lighting, white balance from the views' means"), as log gains. */
static void ln__photo_white_balance(const struct ln__multi *s, double wb[LN_MAX_VIEWS][3])
{
    const int nv = s->n_views;
    double chroma[LN_MAX_VIEWS][3], mean[3] = {0.0, 0.0, 0.0};
    for (int vi = 0; vi < nv; vi++) {
        const struct ln__view *v = &s->views[vi];
        const size_t n = (size_t)v->m * (size_t)v->m;
        double acc[3] = {0.0, 0.0, 0.0};
        size_t count = 0;
        for (size_t p = 0; p < n; p++)
            if (v->sd[p] > LN__PHOTO_PATCH + 1.0f) {
                for (int c = 0; c < 3; c++)
                    acc[c] += log(fmax((double)v->rgb[3 * p + c], LN__WB_DARK));
                count++;
            }
        const double k = count ? 1.0 / (double)count : 0.0;
        const double grey = (acc[0] + acc[1] + acc[2]) * k / 3.0;
        for (int c = 0; c < 3; c++) {
            chroma[vi][c] = acc[c] * k - grey;
            mean[c] += chroma[vi][c] / nv;
        }
    }
    for (int vi = 0; vi < nv; vi++)
        for (int c = 0; c < 3; c++) {
            const double lg = mean[c] - chroma[vi][c];
            wb[vi][c] = lg > LN__WB_MAX ? LN__WB_MAX : (lg < -LN__WB_MAX ? -LN__WB_MAX : lg);
        }
}

/* Where no gains are set and the exposure may differ, and every view has
 * an even backdrop: the views' gains from it (DESIGN comment "lighting,
 * the backdrop") into lg. Returns 0 (lg untouched) where the backdrops
 * cannot give them. */
static int ln__photo_backdrop_gains(const struct ln__multi *s, const double wb[LN_MAX_VIEWS][3],
                                    double lg[LN_MAX_VIEWS][3], double *misfit)
{
    *misfit = -1.0;
    const int nv = s->n_views;
    int lit[LN_MAX_VIEWS][3]; /* unclipped channels */
    double y[LN_MAX_VIEWS][3];
    for (int vi = 0; vi < nv; vi++) {
        const struct ln__view *v = &s->views[vi];
        if (!v->backdrop_ok)
            return 0;
        int any = 0;
        for (int c = 0; c < 3; c++) {
            lit[vi][c] = v->backdrop[c] < LN__BACKDROP_CLIP && v->backdrop[c] > LN__BACKDROP_DARK;
            any |= lit[vi][c];
            y[vi][c] = lit[vi][c] ? -log((double)v->backdrop[c]) - wb[vi][c] : 0.0;
        }
        if (!any)
            return 0;
    }
    /* One backdrop, seen under exposures: its unclipped values differ
     * between views by at most LN__BACKDROP_RANGE. */
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < nv; i++)
            for (int j = 0; j < nv; j++)
                if (lit[i][c] && lit[j][c] &&
                    s->views[i].backdrop[c] > LN__BACKDROP_RANGE * s->views[j].backdrop[c])
                    return 0;
    /* Views tied by a channel unclipped in both must reach every view. */
    float w[LN_MAX_VIEWS][LN_MAX_VIEWS];
    for (int i = 0; i < nv; i++)
        for (int j = 0; j < nv; j++)
            w[i][j] = (float)((lit[i][0] && lit[j][0]) + (lit[i][1] && lit[j][1]) +
                              (lit[i][2] && lit[j][2]));
    if (ln__gain_tied(w, nv) < nv)
        return 0;
    /* log gain of view v, channel c = e[v] + wb[v][c] (an exposure per view
     * on the white balance from the means), with -log backdrop + k[c] = that
     * where the channel is unclipped: least squares for e and k
     * (alternating, a fixed number of sweeps), e centred. */
    double e[LN_MAX_VIEWS] = {0.0}, k[3] = {0.0, 0.0, 0.0};
    for (int it = 0; it < 200; it++) {
        for (int c = 0; c < 3; c++) {
            double num = 0.0;
            int cnt = 0;
            for (int vi = 0; vi < nv; vi++)
                if (lit[vi][c]) {
                    num += e[vi] - y[vi][c];
                    cnt++;
                }
            k[c] = cnt ? num / cnt : 0.0;
        }
        for (int vi = 0; vi < nv; vi++) {
            double num = 0.0;
            int cnt = 0;
            for (int c = 0; c < 3; c++)
                if (lit[vi][c]) {
                    num += y[vi][c] + k[c];
                    cnt++;
                }
            e[vi] = num / cnt;
        }
    }
    double mean = 0.0;
    for (int vi = 0; vi < nv; vi++)
        mean += e[vi] / nv;
    for (int vi = 0; vi < nv; vi++)
        e[vi] -= mean;
    for (int c = 0; c < 3; c++)
        k[c] -= mean;
    /* How far the backdrop's colour balance is from the means' (logged:
     * the means err where the views see differently coloured sides). */
    double worst = 0.0;
    for (int vi = 0; vi < nv; vi++)
        for (int c = 0; c < 3; c++)
            if (lit[vi][c]) {
                const double d = fabs(e[vi] - k[c] - y[vi][c]);
                worst = d > worst ? d : worst;
            }
    *misfit = worst;
    /* Unclipped channels take the backdrop's ratio itself; clipped ones
     * the exposure and the white balance, but no more than the clipping
     * allows where another view shows the channel: the backdrop there is
     * at least LN__BACKDROP_CLIP. */
    for (int vi = 0; vi < nv; vi++)
        for (int c = 0; c < 3; c++) {
            if (lit[vi][c]) {
                lg[vi][c] = -log((double)s->views[vi].backdrop[c]) + k[c];
                continue;
            }
            lg[vi][c] = e[vi] + wb[vi][c];
            int shown = 0;
            for (int vj = 0; vj < nv; vj++)
                shown |= lit[vj][c];
            const double most = -log((double)LN__BACKDROP_CLIP) + k[c];
            if (shown && lg[vi][c] > most)
                lg[vi][c] = most;
        }
    return 1;
}

/* The rounds of the second step on sw's field: entries, marks, carving,
 * until a round carves nothing. marks holds res x res per view. Returns
 * the number of voxels carved. */
static long ln__incons_rounds(struct ln__multi *s, struct ln__sweep *sw,
                              const struct ln__entries *en, uint32_t *marks, uint8_t *carved,
                              int *rounds)
{
    struct ln__carve *carve = &s->carve;
    const size_t n = (size_t)carve->n, cells = (size_t)sw->res * (size_t)sw->res;
    const float out_value = -0.5f * carve->h;
    long total = 0;
    *rounds = 0;
    for (int round = 0; round < LN__PHOTO_ROUNDS && !ln_progress_canceled(s->progress); round++) {
        ++*rounds;
        for (int vi = 0; vi < s->n_views; vi++) {
            sw->ref = vi;
            struct ln__entry e = {.sw = sw, .depth = en->depth[vi], .t = en->t[vi], .resume = 1};
            ln_parallel_for((size_t)sw->res, 4, ln__entry_body, &e);
        }
        for (int vi = 0; vi < s->n_views; vi++) {
            sw->ref = vi;
            struct ln__incons ic = {.sw = sw, .en = en, .marks = marks + (size_t)vi * cells};
            ln_parallel_for((size_t)sw->res, 4, ln__incons_body, &ic);
        }
        /* Applied in one order on one thread, after every view has
         * looked at the same volume. */
        long got = 0;
        for (size_t i = 0; i < cells * (size_t)s->n_views; i++) {
            if (marks[i] == UINT32_MAX)
                continue;
            for (size_t dz = 0; dz < 2; dz++)
                for (size_t dy = 0; dy < 2; dy++)
                    for (size_t dx = 0; dx < 2; dx++) {
                        size_t vx = marks[i] + dz * n * n + dy * n + dx;
                        if (carve->field[vx] > 0.0f) {
                            carve->field[vx] = out_value;
                            carved[vx] = 3;
                            got++;
                        }
                    }
        }
        total += got;
        if (got == 0)
            break;
    }
    return total;
}

/* Chance agreements (two views that happen to show alike colours there)
 * stop single rays early and leave spikes between carved neighbours: a
 * voxel inside with at least LN__PHOTO_SPIKE of its six face neighbours
 * carved by the rounds is carved too, a few passes. A surface the silhouettes
 * made is never eroded this way, only space the colours already opened. */
#define LN__PHOTO_SPIKE 4
#define LN__PHOTO_SPIKE_PASSES 3

struct ln__spike {
    float *field;          /* a voxel to carve gets mark here */
    const uint8_t *carved; /* 3: carved by the rounds (read only in a pass) */
    int n;
    float mark;
};

static void ln__spike_body(void *ctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct ln__spike *sp = ctx;
    const size_t n = (size_t)sp->n;
    const uint8_t *restrict cv = sp->carved;
    for (size_t i = begin; i < end; i++) {
        if (i == 0 || i == n - 1)
            continue;
        for (size_t j = 1; j < n - 1; j++)
            for (size_t k = 1; k < n - 1; k++) {
                size_t v = (i * n + j) * n + k;
                if (sp->field[v] <= 0.0f)
                    continue;
                int c = (cv[v - n * n] == 3) + (cv[v + n * n] == 3) + (cv[v - n] == 3) +
                        (cv[v + n] == 3) + (cv[v - 1] == 3) + (cv[v + 1] == 3);
                if (c >= LN__PHOTO_SPIKE)
                    sp->field[v] = sp->mark;
            }
    }
}

/* The spike passes; each pass reads the carved marks of the one before,
 * so the result does not depend on how the slabs are split. */
static long ln__spikes(struct ln__carve *carve, uint8_t *carved)
{
    const size_t n = (size_t)carve->n, n3 = n * n * n;
    /* No field value is ever this low: the field is clamped to the band. */
    const float out_value = -0.5f * carve->h, mark = -FLT_MAX;
    long total = 0;
    for (int pass = 0; pass < LN__PHOTO_SPIKE_PASSES; pass++) {
        struct ln__spike sp = {
            .field = carve->field, .carved = carved, .n = carve->n, .mark = mark};
        ln_parallel_for(n, 1, ln__spike_body, &sp);
        long got = 0;
        for (size_t v = 0; v < n3; v++)
            if (carve->field[v] == mark) {
                carved[v] = 3;
                carve->field[v] = out_value;
                got++;
            }
        total += got;
        if (got == 0)
            break;
    }
    return total;
}

struct ln__free {
    const struct ln__sweep *sw;
    float *const *depth; /* per view, res x res */
    const float *field;
    uint8_t *voted; /* n^3: 1 where two views see the voxel as empty */
};

static void ln__free_body(void *ctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct ln__free *f = ctx;
    const struct ln__sweep *s = f->sw;
    const int n = s->n, res = s->res;
    const float margin = LN__PHOTO_MARGIN * s->h;
    for (size_t i = begin; i < end; i++)
        for (int j = 0; j < n; j++) {
            const size_t base = (i * (size_t)n + (size_t)j) * n;
            for (int k = 0; k < n; k++) {
                f->voted[base + k] = 0;
                if (f->field[base + k] <= 0.0f)
                    continue;
                float q[3] = {s->origin + (float)i * s->h, s->origin + (float)j * s->h,
                              s->origin + (float)k * s->h};
                int votes = 0;
                for (int vi = 0; vi < s->n_views && votes < 2; vi++) {
                    const struct ln__view *v = &s->views[vi];
                    float px, py, depth;
                    size_t cell;
                    if (!ln__view_cell(v, s->perspective, res, q, &px, &py, &depth, &cell))
                        continue;
                    float surf = f->depth[vi][cell];
                    votes += surf > 0.0f && depth < surf - margin;
                }
                f->voted[base + k] = votes >= 2;
            }
        }
}

/* Keeps only the voted voxels that the outside reaches through voted
 * voxels (face neighbours): empty space seen by the cameras is connected
 * to them, while a pocket voted empty deep inside would leave a closed
 * bubble that no view can have seen into. Marks them 2; returns their
 * count, or a negative error. One thread, breadth first. */
static long ln__free_connected(uint8_t *voted, const float *field, int n_, struct ln_error *err)
{
    const size_t n = (size_t)n_, n3 = n * n * n;
    size_t n_voted = 0;
    for (size_t v = 0; v < n3; v++)
        n_voted += voted[v] == 1;
    if (n_voted == 0)
        return 0;
    uint32_t *queue = ln_alloc_array(n_voted, sizeof(uint32_t), 0, "carving queue", err);
    if (!queue)
        return err ? err->code : LN_ENOMEM;
    size_t head = 0, tail = 0;
    const size_t step[3] = {n * n, n, 1};
    for (size_t v = 0; v < n3; v++) {
        if (voted[v] != 1)
            continue;
        size_t c[3] = {v / (n * n), (v / n) % n, v % n};
        int seed = 0;
        for (int a = 0; a < 3 && !seed; a++)
            seed = (c[a] > 0 && field[v - step[a]] <= 0.0f) ||
                   (c[a] < n - 1 && field[v + step[a]] <= 0.0f);
        if (seed) {
            voted[v] = 2;
            queue[tail++] = (uint32_t)v;
        }
    }
    while (head < tail) {
        size_t v = queue[head++];
        size_t c[3] = {v / (n * n), (v / n) % n, v % n};
        for (int a = 0; a < 3; a++) {
            if (c[a] > 0 && voted[v - step[a]] == 1) {
                voted[v - step[a]] = 2;
                queue[tail++] = (uint32_t)(v - step[a]);
            }
            if (c[a] < n - 1 && voted[v + step[a]] == 1) {
                voted[v + step[a]] = 2;
                queue[tail++] = (uint32_t)(v + step[a]);
            }
        }
    }
    free(queue);
    return (long)tail;
}

/* Carves the space that the views' colours show to be empty out of
 * s->carve's field (value > 0 inside): those voxels get a small negative
 * value, the others keep their sub-voxel distances. */
static int ln__multi_photo(struct ln__multi *s, struct ln_error *err)
{
    struct ln__carve *carve = &s->carve;
    /* One ray per two voxels across (each voxel is still seen by a ray
     * cell of every view, at a quarter of the work), 32 to 128 rays. */
    int res = (carve->n - 2) / 2;
    res = res < 32 ? 32 : (res > 128 ? 128 : res);
    float *depth[LN_MAX_VIEWS] = {0};
    uint8_t *voted = NULL;
    uint32_t *marks = NULL;
    struct ln__entries en;
    memset(&en, 0, sizeof en);
    struct ln__sweep sw = {.views = s->views,
                           .field = carve->field,
                           .n_views = s->n_views,
                           .perspective = s->perspective,
                           .n = carve->n,
                           .res = res,
                           .origin = carve->origin,
                           .h = carve->h};
    int rc = LN_OK;
    const size_t cells = (size_t)res * (size_t)res;
    for (int vi = 0; vi < s->n_views; vi++) {
        depth[vi] = ln_alloc_array(cells, sizeof(float), 0, "depth map", err);
        en.depth[vi] = ln_alloc_array(cells, sizeof(float), 0, "entry map", err);
        en.t[vi] = ln_alloc_array(cells, sizeof(float), 0, "entry map", err);
        if (!depth[vi] || !en.depth[vi] || !en.t[vi]) {
            rc = err ? err->code : LN_ENOMEM;
            goto done;
        }
    }
    int exposure_differs;
    if ((rc = ln__photo_gains(s, &sw, &en, &exposure_differs, err)) < 0)
        goto done;
    /* No gains set and the exposure may differ: gains from an even
     * backdrop where every view has one, else the white balance from the
     * views' means and the tolerant comparisons. */
    int tolerant = 0;
    if (exposure_differs) {
        double wb[LN_MAX_VIEWS][3], lg[LN_MAX_VIEWS][3], misfit;
        ln__photo_white_balance(s, wb);
        if (ln__photo_backdrop_gains(s, wb, lg, &misfit)) {
            ln_log_info("photo-consistency: gains from the backdrop (its colour balance %.3f "
                        "from the views' means)",
                        misfit);
            for (int vi = 0; vi < s->n_views; vi++) {
                for (int c = 0; c < 3; c++)
                    if (fabs(lg[vi][c]) > LN__GAIN_QUIET)
                        s->views[vi].gain[c] = (float)exp(lg[vi][c]);
                ln_log_info("photo-consistency: view %d colour gains %.3f %.3f %.3f (from the "
                            "backdrop %.3f %.3f %.3f)",
                            vi, (double)s->views[vi].gain[0], (double)s->views[vi].gain[1],
                            (double)s->views[vi].gain[2], (double)s->views[vi].backdrop[0],
                            (double)s->views[vi].backdrop[1], (double)s->views[vi].backdrop[2]);
            }
        } else {
            tolerant = 1;
            for (int vi = 0; vi < s->n_views; vi++) {
                for (int c = 0; c < 3; c++)
                    s->views[vi].gain[c] = (float)exp(wb[vi][c]);
                ln_log_info("photo-consistency: view %d white balance %.3f %.3f %.3f (from its "
                            "mean colour)",
                            vi, (double)s->views[vi].gain[0], (double)s->views[vi].gain[1],
                            (double)s->views[vi].gain[2]);
            }
            sw.shade = LN__PHOTO_FIT;
            sw.tol = LN__PHOTO_TOLERANT;
            sw.hue = LN__PHOTO_HUE;
        }
    }
    if (!tolerant) {
        for (int vi = 0; vi < s->n_views; vi++)
            for (int c = 0; c < 3; c++)
                if (s->views[vi].gain[c] != 1.0f)
                    sw.shade = LN__PHOTO_SHADE;
    }
    for (int vi = 0; vi < s->n_views; vi++) {
        sw.ref = vi;
        sw.depth = depth[vi];
        /* where the rays enter the hull: the second step's rounds go on
         * from there */
        sw.enter = en.t[vi];
        ln_parallel_for((size_t)res, 4, ln__sweep_body, &sw);
        ln_progress_report(s->progress, "photo-consistency", 0.55 + 0.1 * (vi + 1) / s->n_views);
        if ((rc = ln__multi_canceled(s, err)) < 0)
            goto done;
    }
    const size_t n = (size_t)carve->n, n3 = n * n * n;
    voted = ln_alloc_array(n3, 1, LN_ALLOC_HUGE, "carving votes", err);
    if (!voted) {
        rc = err ? err->code : LN_ENOMEM;
        goto done;
    }
    struct ln__free fr = {.sw = &sw, .depth = depth, .field = carve->field, .voted = voted};
    ln_parallel_for(n, 1, ln__free_body, &fr);
    long carved = ln__free_connected(voted, carve->field, carve->n, err);
    if (carved < 0) {
        rc = (int)carved;
        goto done;
    }
    const float out_value = -0.5f * carve->h;
    for (size_t v = 0; v < n3; v++)
        if (voted[v] == 2)
            carve->field[v] = out_value;
    if (carved > 0)
        ln_log_info("photo-consistency: %ld voxels found empty", carved);

    /* Second step: inconsistent surface voxels, with visibility from the
     * volume as it is carved. */
    marks = ln_alloc_array(cells * (size_t)s->n_views, sizeof(uint32_t), 0, "carving marks", err);
    if (!marks) {
        rc = err ? err->code : LN_ENOMEM;
        goto done;
    }
    int rounds;
    memset(voted, 0, n3);
    long differ = ln__incons_rounds(s, &sw, &en, marks, voted, &rounds);
    if (differ > 0)
        differ += ln__spikes(carve, voted);
    if (differ > 0)
        ln_log_info("photo-consistency: %ld voxels with differing colours (%d rounds)", differ,
                    rounds);
    rc = ln__multi_canceled(s, err);
done:
    free(marks);
    free(voted);
    for (int vi = 0; vi < s->n_views; vi++) {
        free(depth[vi]);
        free(en.depth[vi]);
        free(en.t[vi]);
    }
    return rc;
}

/* The surface of the carved field into out; frees the field. Fails with
 * LN_EUNUSABLE when there is none. */
static int ln__multi_mesh(struct ln__multi *s, struct ln_mesh *out, struct ln_error *err)
{
    struct ln__carve *carve = &s->carve;
    const float origin[3] = {carve->origin, carve->origin, carve->origin};
    const float spacing[3] = {carve->h, carve->h, carve->h};
    const int n = carve->n;
    int rc = ln_mc_extract(carve->field, n, n, n, 0.0f, origin, spacing, out, err);
    if (rc < 0)
        return rc;
    free(carve->field);
    carve->field = NULL;
    if (out->n_faces == 0)
        return ln_error_set(err, LN_EUNUSABLE,
                            "the views' silhouettes have no common volume: check the views and "
                            "their order");
    return LN_OK;
}

/* Visibility, consistency and colours: each view's depth buffer of the
 * hull, a warning for views that disagree, and the vertex colours of out
 * from the views that see each vertex. */
static int ln__multi_colour(struct ln__multi *s, struct ln_mesh *out,
                            struct ln_generate_report *rep, struct ln_error *err)
{
    struct ln__view *views = s->views;
    for (int i = 0; i < s->n_views; i++) {
        views[i].zbuf =
            ln_alloc_array((size_t)views[i].m * views[i].m, sizeof(float), 0, "depth buffer", err);
        if (!views[i].zbuf)
            return err ? err->code : LN_ENOMEM;
    }
    int rc = ln_mesh_compute_normals(out, err);
    if (rc < 0)
        return rc;
    if (!out->colors) {
        out->colors = ln_alloc_array(out->n_vertices, 3 * sizeof(float), 0, "mesh colours", err);
        if (!out->colors)
            return err ? err->code : LN_ENOMEM;
    }
    struct ln__shade shade = {
        .views = views,
        .n_views = s->n_views,
        .perspective = s->perspective,
        .mesh = out,
        .points = out->positions,
        .normals = out->normals,
        .colors = out->colors,
        .tol = 2.0f * s->carve.h,
    };
    ln_parallel_for((size_t)s->n_views, 1, ln__raster_body, &shade);
    ln__warn_disagreeing(views, s->n_views, rep);
    ln_parallel_for(out->n_vertices, 4096, ln__shade_body, &shade);
    /* The raw mesh carries no normals: the pipeline computes them after
     * smoothing and simplification. */
    free(out->normals);
    out->normals = NULL;
    return LN_OK;
}

/* The baker's colours: the views (cameras, colours, depth buffers of the
 * hull), kept past the run and owned by the colorizer. */
struct ln__multi_bake {
    struct ln__view views[LN_MAX_VIEWS];
    int n_views;
    int perspective;
    float tol;
};

static int ln__multi_bake_color(void *state, const float *points, const float *normals, size_t n,
                                float *rgb, struct ln_error *err)
{
    (void)err;
    struct ln__multi_bake *b = state;
    struct ln__shade shade = {
        .views = b->views,
        .n_views = b->n_views,
        .perspective = b->perspective,
        .points = points,
        .normals = normals,
        .colors = rgb,
        .tol = b->tol,
        .full = 1,
    };
    ln_parallel_for(n, 4096, ln__shade_body, &shade);
    return LN_OK;
}

static void ln__multi_bake_free(void *state)
{
    struct ln__multi_bake *b = state;
    for (int i = 0; i < b->n_views; i++) {
        free(b->views[i].zbuf);
        free(b->views[i].rgb);
        free(b->views[i].rgb_full);
        free(b->views[i].sd);
    }
    free(b);
}

/* Hands the views over to a colorizer (the run then frees none of them). */
static void ln__multi_keep(struct ln__multi *s, struct ln_colorizer *bake)
{
    struct ln__multi_bake *b = ln_xcalloc(1, sizeof *b);
    memcpy(b->views, s->views, sizeof b->views);
    b->n_views = s->n_views;
    b->perspective = s->perspective;
    b->tol = 2.0f * s->carve.h;
    memset(s->views, 0, sizeof s->views);
    *bake = (struct ln_colorizer){
        .color = ln__multi_bake_color, .free = ln__multi_bake_free, .state = b};
}

int ln__sculpt_run_multi(const struct ln_engine_input *in, const struct ln_generate_options *opt,
                         int res, const struct ln_progress *progress, struct ln_mesh *out,
                         struct ln_colorizer *bake, struct ln_generate_report *rep,
                         struct ln_error *err)
{
    struct ln__multi s;
    memset(&s, 0, sizeof s);
    s.n_views = (int)in->n_images;
    s.perspective = opt->camera.projection == LN_PROJECTION_PERSPECTIVE;
    s.progress = progress;
    int rc;
    double t0 = ln_time_now();

    if ((rc = ln__multi_views(&s, in, opt, res, rep, err)) < 0)
        goto cleanup;
    t0 = ln__sculpt_stage_done(rep, "foreground", t0);

    const int threads = ln_threads_get();
    if ((rc = ln__multi_grid(&s, opt, res, threads, err)) < 0 ||
        (rc = ln__multi_carve(&s, threads, 0.15, 0.55, err)) < 0)
        goto cleanup;
    t0 = ln__sculpt_stage_done(rep, "carving", t0);

    if (opt->photo_consistency && (rc = ln__multi_photo(&s, err)) < 0)
        goto cleanup;
    t0 = ln__sculpt_stage_done(rep, "photo", t0);
    if ((rc = ln__multi_trim(&s, threads, err)) < 0)
        goto cleanup;
    t0 = ln__sculpt_stage_done(rep, "trim", t0);

    ln_progress_report(progress, "meshing", 0.7);
    if ((rc = ln__multi_mesh(&s, out, err)) < 0)
        goto cleanup;
    t0 = ln__sculpt_stage_done(rep, "meshing", t0);
    if ((rc = ln__multi_canceled(&s, err)) < 0)
        goto cleanup;

    ln_progress_report(progress, "colouring", 0.75);
    if ((rc = ln__multi_colour(&s, out, rep, err)) < 0)
        goto cleanup;
    ln__sculpt_stage_done(rep, "colouring", t0);
    ln_progress_report(progress, "colouring", 1.0);
    if (bake)
        ln__multi_keep(&s, bake);

cleanup:
    if (rc < 0)
        ln_mesh_free(out);
    for (int i = 0; i < s.n_views; i++) {
        free(s.views[i].zbuf);
        free(s.views[i].rgb);
        free(s.views[i].rgb_full);
        free(s.views[i].sd);
        free(s.views[i].sd_fine);
    }
    free(s.carve.inside);
    free(s.carve.field);
    return rc;
}
