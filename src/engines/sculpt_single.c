/*
 * Sculpt from one image: the silhouette becomes a closed body, the union of
 * a body of revolution about an upright axis and the silhouette inflated by
 * its local width, coloured from the image in front and from a blurred,
 * darker version of it behind.
 *
 * DESIGN: the depth prior. One outline leaves depth unknown; the prior
 * decides it. Inflation alone (the body as deep as it is locally wide,
 * symmetric about the image plane) scored below an ellipsoid fitted to
 * the true bounding box on bench-shapes (docs/quality.md): a photo is
 * taken from a little above, so an upright object is tilted in the
 * camera's frame, and a cup's or a bowl's depth follows its round
 * cross-section, not its outline's local width. Most photographed things
 * stand upright and many are round about a vertical axis (cups, bowls,
 * vases, bottles, lamps, figures roughly), and a body of revolution shows
 * the same outline from every azimuth. So the main body is the visual hull
 * of the outline repeated around an upright axis: a point belongs to it
 * when the circle about the axis through it projects inside the
 * silhouette, all around. For the camera's elevation e (the view's when
 * one is given, else LN__SINGLE_ELEVATION) the field is a table over
 * (height along the axis, radius) of the smallest signed distance along
 * the circle's image, an ellipse of semi-axes rho and rho sin e; each
 * voxel reads it at its own height and radius. The axis is the median
 * over rows of the middle of each row's longest run inside the outline; a
 * disc becomes a sphere, a cylinder's outline that cylinder.
 *
 * Flat ends. Seen from above, the far rim of a flat top hides whatever
 * stands over the top, so the hull of revolution puts a cone over every
 * flat top and under every flat bottom (height r tan e, its slope set by
 * the camera's elevation alone) and a lid over every opening (a cup's, a
 * bowl's, a lying ring's hole). No object is built that way: a rim is a
 * flat end, a lid or an opening. In the table such a cap is a run of rows,
 * from the top down (or the bottom up), whose largest radius grows by the
 * cone's cot e per row; those rows are emptied. A rounded end (a ball, a
 * head) has a small cap of the same slope above the latitude e; flat, it
 * would cut the end by as much as the cap adds, so a cap is flattened only
 * where its rim is a crease (the radius stops growing past it) or it is
 * as wide as a lid (2 sin e of the widest radius or more). Where the flat
 * end's far rim is the outline's end, the inflated body below is cut there
 * too (over the rim's disc); elsewhere (a torso over a figure's legs) the
 * inflated body keeps what the revolution cannot explain.
 *
 * Rings. An outline with a hole is not the outline of a body of
 * revolution about a vertical axis unless the ring lies flat; a ring on
 * its edge becomes a fat disc with a slot. When the largest hole is a
 * tenth of the filled outline or more and sits at its middle, the object is
 * taken for a ring: a circle of radius R seen at angle a to its axis is an
 * ellipse of semi-axes R and R cos a, and the middle circle of a tube of
 * constant width lies halfway between the hole's ellipse and the outline's
 * (found from their second moments), so its aspect gives cos a and its
 * minor axis the direction the plane tilts. Of the two mirror planes with
 * that tilt the one nearer upright or lying in the world is taken (things
 * stand or lie); from a little above, they differ: the ellipse is sheared
 * one way for one of them. A lying ring is left to the revolution, which
 * shows its hole; any other ring becomes the inflated outline about its
 * plane instead of the image plane, the tube's depth made round (the
 * inflated height over LN__SCULPT_DEPTH) and longer where the ray meets
 * the tube at a slant (1 / sqrt(1 - cos^2 p sin^2 a), p the angle round
 * the ring from its major axis).
 *
 * Parts a revolution cannot explain (a handle, arms, a chair's legs and
 * back) vanish from it, so the inflated body is added (the larger field
 * wins), turned upright by the same elevation and clipped to the
 * silhouette's cone so the outline stays the photo's. Its height profile:
 * with d the distance to the silhouette and R the local half-width,
 * h = sqrt(2 R d - d^2) is the circle of radius R rising from the
 * silhouette. R at a pixel is the radius of the largest inscribed disc
 * that covers it (the "local thickness"), found by propagating disc
 * centres in raster passes, as a distance transform propagates nearest
 * points. On the medial axis R = d, where dh/dd = (R - d) / h vanishes, so
 * the profile has no crease along the ridge even though d has one. R jumps
 * where a big disc ends at a narrow neck; a normalised box blur of R (kept
 * >= d) turns those steps into shoulders. Depth is scaled by
 * LN__SCULPT_DEPTH.
 *
 * Measured on bench-shapes' single view (az 45, el 20, no view given) the
 * union beats either part alone, and flat ends and rings beat the
 * ellipsoid fitted to the true box on average (docs/quality.md); the
 * assumed elevation matters (assuming 0 or 35 for a photo from 20 loses
 * much of the gain), which is why a view given with the image is used.
 * Shading cues were not used: the bench's texture hides shading, and real
 * photos' lighting is unknown.
 *
 * The field lives on the W x W pixel grid of the working raster (voxel
 * centres are pixel centres) with as many layers in z as the two bodies
 * reach.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_frame.h"
#include "ln_mc.h"
#include "ln_threads.h"
#include "ln_time.h"
#include "sculpt_internal.h"

/* Depth of the inflated body relative to its width. */
#define LN__SCULPT_DEPTH 0.8f
/* The camera's elevation assumed when the image comes without a view:
 * degrees above the object's horizon, as a photo taken from a little above
 * (standing, or an object on a table). */
#define LN__SINGLE_ELEVATION 20.0f
/* Back colours: blur radius as a fraction of the raster, brightness and
 * saturation kept. */
#define LN__BACK_BLUR_FRACTION 16
#define LN__BACK_SHADE 0.85f
#define LN__BACK_SATURATION 0.8f
/* A baked texture's front colours: at the framed photo's own resolution,
 * up to this side. */
#define LN__FRONT_MAX_SIDE 2048

/* Local thickness: for each inside pixel the largest inscribed disc that
 * covers it, by forward and backward raster passes over 8-neighbours; two
 * rounds catch the paths that bend against one scan order. */
static void ln__local_thickness(const float *d, int w, int h, int *best, float *r_out)
{
    static const int fwd[4][2] = {{-1, 0}, {-1, -1}, {0, -1}, {1, -1}};
    size_t n = (size_t)w * h;
    for (size_t i = 0; i < n; i++)
        best[i] = d[i] > 0.0f ? (int)i : -1;
    for (int round = 0; round < 2; round++) {
        for (int dir = 0; dir < 2; dir++) {
            int sgn = dir ? -1 : 1;
            for (int yy = 0; yy < h; yy++) {
                int y = dir ? h - 1 - yy : yy;
                for (int xx = 0; xx < w; xx++) {
                    int x = dir ? w - 1 - xx : xx;
                    size_t i = (size_t)y * w + x;
                    if (best[i] < 0)
                        continue;
                    float cur = d[best[i]];
                    for (int t = 0; t < 4; t++) {
                        int nx = x + sgn * fwd[t][0], ny = y + sgn * fwd[t][1];
                        if (nx < 0 || ny < 0 || nx >= w || ny >= h)
                            continue;
                        int c = best[(size_t)ny * w + nx];
                        if (c < 0 || d[c] <= cur)
                            continue;
                        float dx = (float)(x - c % w), dy = (float)(y - c / w);
                        float rc = d[c] + 0.5f;
                        if (dx * dx + dy * dy <= rc * rc) {
                            best[i] = c;
                            cur = d[c];
                        }
                    }
                }
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        r_out[i] = best[i] >= 0 ? d[best[i]] : 0.0f;
}

/* One red-black half-sweep of successive over-relaxation for -lap u = f
 * on the object's pixels (the others hold fixed boundary values). Pixels of
 * one colour only read the other colour, so rows split across threads. */
struct ln__sor {
    float *u;
    const float *sd;
    const float *f;
    int w, colour;
};

#define LN__SOR_OMEGA 1.8f

static void ln__sor_rows(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ln__sor *s = ctx;
    const int w = s->w;
    for (size_t r = begin; r < end; r++) {
        int y = (int)r + 1;
        float *restrict row = s->u + (size_t)y * w;
        const float *restrict sdr = s->sd + (size_t)y * w;
        const float *restrict fr = s->f + (size_t)y * w;
        for (int x = 1 + ((y + s->colour) & 1); x < w - 1; x += 2) {
            if (sdr[x] <= 0.0f)
                continue;
            float gs = 0.25f * (row[x - 1] + row[x + 1] + row[x - w] + row[x + w] + fr[x]);
            row[x] += LN__SOR_OMEGA * (gs - row[x]);
        }
    }
}

/* The body of revolution (see the DESIGN comment). Geometry in pixels of
 * the working raster: camera frame x right (pixel column), y up (minus the
 * pixel row, from the pivot row yc), z toward the camera. The world's up is
 * (0, cos e, sin e) there, and the axis runs along it through (xa, yc, 0). */
struct ln__revolve {
    const float *sd; /* W x W signed distance to the silhouette, pixels */
    int w;
    float xa, yc; /* axis column, pivot row */
    float ce, se; /* cos and sin of the elevation */
    float t0;     /* height along the axis of table row 0 */
    int n_rho, n_t;
    float *table; /* n_t x n_rho: smallest sd over the circle's outline */
    /* The caps emptied over the top ([0]) and under the bottom ([1]): the
     * height of the flat end and its radius (pixels), or cap_rho < 0. */
    float cap_t[2], cap_rho[2];
    int cap_carve[2];        /* the cap is the outline's end: the inflated body is cut there too */
    int row_top, row_bottom; /* the outline's first and last rows */
};

#define LN__REVOLVE_FLOOR (-2.0f)

/* Bilinear sample of a w x w single-channel raster at pixel coordinates
 * (x, y), clamped to it: ln__sculpt_sample for one channel, inlined in the
 * hot loops below. */
static inline float ln__sample1(const float *restrict data, int w, float x, float y)
{
    const float hi = (float)(w - 1);
    x = x < 0.0f ? 0.0f : (x > hi ? hi : x);
    y = y < 0.0f ? 0.0f : (y > hi ? hi : y);
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < w ? y0 + 1 : y0;
    float fx = x - (float)x0, fy = y - (float)y0;
    const float *a = data + (size_t)y0 * w, *b = data + (size_t)y1 * w;
    float top = a[x0] + fx * (a[x1] - a[x0]), bot = b[x0] + fx * (b[x1] - b[x0]);
    return top + fy * (bot - top);
}

static void ln__revolve_rows(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ln__revolve *r = ctx;
    const int w = r->w;
    for (size_t jt = begin; jt < end; jt++) {
        float t = r->t0 + (float)jt;
        float *out = r->table + jt * (size_t)r->n_rho;
        for (int ir = 0; ir < r->n_rho; ir++) {
            float rho = (float)ir;
            /* Samples at most a pixel apart along the circle's image. */
            int k = (int)ceilf(6.2831853f * rho);
            if (k < 16)
                k = 16;
            float best = 1e30f;
            /* cos and sin of the sample's angle by rotation (no sinf or
             * cosf in the loop; the drift over a circle stays near 1e-5). */
            const float dc = cosf(6.2831853f / (float)k), ds = sinf(6.2831853f / (float)k);
            float c = 1.0f, sn = 0.0f;
            for (int q = 0; q < k; q++) {
                float px = r->xa + rho * c;
                float py = r->yc - (t * r->ce - rho * sn * r->se);
                float c2 = c * dc - sn * ds;
                sn = sn * dc + c * ds;
                c = c2;
                float v;
                if (px < -1.0f || py < -1.0f || px > (float)w || py > (float)w)
                    v = LN__REVOLVE_FLOOR;
                else
                    v = ln__sample1(r->sd, w, px, py);
                if (v < best) {
                    best = v;
                    if (best <= LN__REVOLVE_FLOOR)
                        break;
                }
            }
            out[ir] = best < LN__REVOLVE_FLOOR ? LN__REVOLVE_FLOOR : best;
        }
    }
}

/* The revolution's field (pixels, positive inside) at camera-frame pixel
 * (px, py) and depth z, interpolated in the (height, radius) table. */
static float ln__revolve_at(const struct ln__revolve *r, float px, float py, float z)
{
    float yu = r->yc - py;
    float t = yu * r->ce + z * r->se - r->t0;
    float rh = -yu * r->se + z * r->ce, dx = px - r->xa;
    float rho = sqrtf(dx * dx + rh * rh);
    if (t < 0.0f || t > (float)(r->n_t - 1) || rho > (float)(r->n_rho - 1))
        return LN__REVOLVE_FLOOR;
    int j = (int)t, i = (int)rho;
    int j1 = j + 1 < r->n_t ? j + 1 : j, i1 = i + 1 < r->n_rho ? i + 1 : i;
    float ft = t - (float)j, fr = rho - (float)i;
    const float *a = r->table + (size_t)j * r->n_rho, *b = r->table + (size_t)j1 * r->n_rho;
    float top = a[i] + fr * (a[i1] - a[i]), bot = b[i] + fr * (b[i1] - b[i]);
    return top + ft * (bot - top);
}

/* How far camera-frame pixel (px, py) and depth z lies inside the space
 * that a flat end at the outline's end keeps empty (pixels; negative
 * outside): beyond the flat end, over its rim's disc (2 pixels wider, so
 * that nothing of the inflated body is left in thin slivers around it). */
static float ln__revolve_cap_at(const struct ln__revolve *r, float px, float py, float z)
{
    float best = -1e30f;
    if (!r->cap_carve[0] && !r->cap_carve[1])
        return best;
    float yu = r->yc - py;
    float t = yu * r->ce + z * r->se;
    float rh = -yu * r->se + z * r->ce, dx = px - r->xa;
    float rho = sqrtf(dx * dx + rh * rh);
    for (int e = 0; e < 2; e++) {
        if (r->cap_rho[e] < 0.0f || !r->cap_carve[e])
            continue;
        float above = e ? r->cap_t[e] - t : t - r->cap_t[e];
        float in = fminf(above, r->cap_rho[e] + 2.0f - rho);
        best = fmaxf(best, in);
    }
    return best;
}

/* Writes the field slab by slab (the grid is large: filling it in parallel
 * also spreads its first-touch page faults): the larger of the inflated
 * body's h - |z|, built upright (evaluated at the point turned back by the
 * elevation about the pivot row), and the body of revolution's field. All
 * in world units. */
struct ln__fill {
    float *field;
    const float *height; /* W x W, world units, pixel rows top to bottom */
    const float *cone;   /* W x W signed distance, world units */
    int w, kz;
    const struct ln__revolve *rev;
    int ring;           /* the ring's body instead (the revolution is not used) */
    const float *plane; /* its plane: z = plane[0] x + plane[1] y + plane[2] */
    float ring_depth;   /* the height map's scale there */
    const float *axes;  /* the ring's centre x, y, its major axis x, y, 1 / a, 1 / b, sin tilt */
    size_t x0;          /* the first grid column of this piece */
};

static void ln__fill_slabs(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ln__fill *f = ctx;
    const struct ln__revolve *r = f->rev;
    const int w = f->w, ny = w + 2, nz = 2 * f->kz + 1;
    const float fw = (float)w, inv_w = 1.0f / fw;
    for (size_t i = f->x0 + begin; i < f->x0 + end; i++) {
        /* Grid column i is pixel column i - 1; grid row j (y up) is pixel
         * row w - j; layer k is depth k - kz pixels. */
        const float px = (float)i - 1.0f;
        for (int j = 0; j < ny; j++) {
            float *restrict row = f->field + (i * ny + j) * nz;
            const float yu = r->yc - (float)(w - j);
            /* Both bodies lie inside the silhouette's cone (a circle's
             * image passes through the point's own pixel): two pixels
             * outside it, the cone's value is the field's sign, and no
             * surface passes between this column and its neighbours. */
            const float c = px >= 0.0f && px <= fw - 1.0f && j >= 1 && j <= w
                                ? f->cone[(size_t)(w - j) * w + (size_t)px]
                                : -inv_w;
            if (c < -2.0f * inv_w) {
                for (int k = 0; k < nz; k++)
                    row[k] = c;
                continue;
            }
            if (f->ring) {
                /* The inflated outline about the ring's plane, clipped to
                 * the silhouette's cone like the upright one. */
                const float xw = (px + 0.5f) * inv_w - 0.5f;
                const float yw = 0.5f - ((float)(w - j) + 0.5f) * inv_w;
                const float zc = f->plane[0] * xw + f->plane[1] * yw + f->plane[2];
                const float *ax = f->axes;
                const float pa = ((xw - ax[0]) * ax[2] + (yw - ax[1]) * ax[3]) * ax[4];
                const float pb = ((ax[1] - yw) * ax[2] + (xw - ax[0]) * ax[3]) * ax[5];
                const float ca2 = pa * pa / (pa * pa + pb * pb + 1e-12f);
                const float scale = f->ring_depth / sqrtf(1.0f - ca2 * ax[6] * ax[6]);
                const float h = px >= 0.0f && px <= fw - 1.0f && j >= 1 && j <= w
                                    ? f->height[(size_t)(w - j) * w + (size_t)px]
                                    : -inv_w;
                for (int k = 0; k < nz; k++) {
                    float v = h * scale - fabsf((float)(k - f->kz) * inv_w - zc);
                    row[k] = c < v ? c : v;
                }
                continue;
            }
            for (int k = 0; k < nz; k++) {
                const float z = (float)(k - f->kz);
                const float y2 = yu * r->ce + z * r->se, z2 = -yu * r->se + z * r->ce;
                const float py2 = r->yc - y2;
                float h = -inv_w;
                if (px >= -1.0f && px <= fw && py2 >= -1.0f && py2 <= fw)
                    h = ln__sample1(f->height, w, px, py2);
                float v = h - fabsf(z2) * inv_w;
                /* Turned, it would stick out of the outline: clipped to
                 * the silhouette's cone. */
                v = c < v ? c : v;
                float rv = ln__revolve_at(r, px, (float)(w - j), z) * inv_w;
                v = rv > v ? rv : v;
                /* Nor does the inflated body fill the caps. */
                float cap = ln__revolve_cap_at(r, px, (float)(w - j), z) * inv_w;
                row[k] = -cap < v ? -cap : v;
            }
        }
    }
}

struct ln__single_colour {
    const float *points; /* 3 per point */
    float *colors;       /* 3 per point */
    const float *front;  /* W x W x 3 */
    const float *back;   /* W x W x 3 */
    const float *thick;  /* W x W local half-width in pixels */
    int w;
    const float *front_full; /* MC x MC x 3, the front at the photo's resolution, or NULL */
    int mc;
    const float *plane; /* front and back meet on z = plane[0] x + plane[1] y + plane[2] */
};

static float ln__smoothstep(float e0, float e1, float x)
{
    float t = (x - e0) / (e1 - e0);
    t = t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
    return t * t * (3.0f - 2.0f * t);
}

static void ln__single_colour_body(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ln__single_colour *c = ctx;
    const int w = c->w;
    const float fw = (float)w;
    for (size_t v = begin; v < end; v++) {
        const float *p = c->points + 3 * v;
        float px = (p[0] + 0.5f) * fw - 0.5f, py = (0.5f - p[1]) * fw - 0.5f;
        float front[3], back[3], thick;
        if (c->front_full) /* the same point of the photo, finer */
            ln__sculpt_sample(c->front_full, c->mc, c->mc, 3, (p[0] + 0.5f) * (float)c->mc - 0.5f,
                              (0.5f - p[1]) * (float)c->mc - 0.5f, front);
        else
            ln__sculpt_sample(c->front, w, w, 3, px, py, front);
        ln__sculpt_sample(c->back, w, w, 3, px, py, back);
        ln__sculpt_sample(c->thick, w, w, 1, px, py, &thick);
        /* Blend across the rim over a band proportional to the local depth,
         * so the seam is a soft gradient where the surface turns away. */
        float band = 0.25f * LN__SCULPT_DEPTH * thick / fw;
        if (band < 1.5f / fw)
            band = 1.5f / fw;
        const float zc = c->plane[0] * p[0] + c->plane[1] * p[1] + c->plane[2];
        float t = ln__smoothstep(-band, band, p[2] - zc);
        float *out = c->colors + 3 * v;
        for (int ch = 0; ch < 3; ch++) {
            float x = back[ch] + t * (front[ch] - back[ch]);
            out[ch] = x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x);
        }
    }
}

/* The state of one run, handed from step to step. Every buffer is W x W
 * (times channels) unless said otherwise; each is freed by the run's one
 * cleanup, or earlier by the step that spends it. */
struct ln__single {
    int w;                  /* raster side, pixels: the requested resolution */
    size_t n;               /* w * w */
    float *prem;            /* x 4, premultiplied working image */
    float *sd;              /* signed distance to the silhouette; then the height map */
    float *dist;            /* distance inside (0 outside); then the squared height u */
    float *thick;           /* local half-width; then its blurred value, kept >= d */
    float *tmp;             /* x 4, box blur scratch */
    float *blur;            /* x 2, weighted sums for the normalised blurs */
    int *best;              /* disc centre of each pixel (local thickness) */
    float max_h;            /* deepest point of the body, world units */
    float *field;           /* (w + 2)^2 x (2 kz + 1), the union field */
    int kz;                 /* field layers on each side of z = 0 */
    float *front;           /* x 3, colours in front */
    float *back;            /* x 3, colours behind */
    float elevation;        /* degrees, the camera's assumed elevation */
    struct ln__revolve rev; /* its table is freed by the run's cleanup */
    float *cone;            /* signed distance to the silhouette, world units */
    int full;               /* a texture is baked: keep the front at the photo's resolution */
    int mc;                 /* side of front_full */
    float *front_full;      /* mc x mc x 3, or NULL (mc <= w, or no texture) */
    int ring;               /* the outline is a ring not lying flat: the body follows its plane */
    float plane[3];         /* z of that plane = plane[0] x + plane[1] y + plane[2], world units */
    float ring_depth;       /* the inflated height's scale about that plane */
    float ring_axes[7];     /* see struct ln__fill */
};

/* For a baked texture, the front colours at the framed photo's own
 * resolution (the same square as s->prem, finer; up to
 * LN__FRONT_MAX_SIDE), extended past the silhouette as the W x W ones
 * are. Only the baker reads them: the shape and the vertex colours never
 * depend on whether a texture was asked for. */
static int ln__single_full_colour(struct ln__single *s, const struct ln_image *square,
                                  struct ln_error *err)
{
    int side = square->width > square->height ? square->width : square->height;
    int mc = side > LN__FRONT_MAX_SIDE ? LN__FRONT_MAX_SIDE : side;
    if (!s->full || mc <= s->w)
        return LN_OK;
    float *prem = ln_alloc_array((size_t)mc * (size_t)mc, 4 * sizeof(float), 0, "colour map", err);
    s->front_full =
        ln_alloc_array((size_t)mc * (size_t)mc, 3 * sizeof(float), 0, "colour map", err);
    int rc = prem && s->front_full ? LN_OK : (err ? err->code : LN_ENOMEM);
    if (rc == LN_OK && (rc = ln__sculpt_resample_square(square, mc, prem, err)) == LN_OK)
        rc = ln__sculpt_colour_extend(prem, mc, 4 * mc / s->w, s->front_full, err);
    free(prem);
    s->mc = mc;
    return rc;
}

static int ln__single_canceled(const struct ln_progress *progress, struct ln_error *err)
{
    return ln_progress_canceled(progress) ? ln_error_set(err, LN_ECANCELED, "canceled") : LN_OK;
}

/* Reports progress within a stage and hears a cancellation. */
static int ln__single_step(const struct ln_progress *progress, const char *stage, double fraction,
                           struct ln_error *err)
{
    ln_progress_report(progress, stage, fraction);
    return ln__single_canceled(progress, err);
}

static int ln__single_nomem(struct ln_error *err)
{
    return err ? err->code : LN_ENOMEM;
}

/* Foreground, framed as TripoSR frames it, into s->prem on the W x W
 * raster. Fails with LN_EUNUSABLE when no pixel is inside. */
static int ln__single_foreground(const struct ln_engine_input *in,
                                 const struct ln_generate_options *opt, struct ln__single *s,
                                 struct ln_generate_report *rep, struct ln_error *err)
{
    struct ln_image cut = {0}, square = {0};
    const struct ln_image *use = NULL;
    int rc;
    if ((rc = ln__sculpt_cutout(&in->images[0], opt->remove_bg, &cut, &use, rep, err)) < 0)
        goto done;
    float ratio = opt->foreground_ratio > 0.0f ? opt->foreground_ratio : 0.85f;
    if ((rc = ln_frame_resize_foreground(use, ratio, &square, err)) < 0)
        goto done;
    ln_image_free(&cut);
    s->prem = ln_alloc_array(s->n, 4 * sizeof(float), 0, "working image", err);
    if (!s->prem) {
        rc = ln__single_nomem(err);
        goto done;
    }
    if ((rc = ln__sculpt_resample_square(&square, s->w, s->prem, err)) < 0 ||
        (rc = ln__single_full_colour(s, &square, err)) < 0)
        goto done;
    ln_image_free(&square);
    size_t n_inside = 0;
    for (size_t i = 0; i < s->n; i++)
        n_inside += s->prem[4 * i + 3] >= 0.5f;
    if (n_inside == 0)
        rc = ln_error_set(err, LN_EUNUSABLE, "the object is too thin to model at resolution %d",
                          s->w);
done:
    ln_image_free(&square);
    ln_image_free(&cut);
    return rc;
}

/* Allocates the maps of the height profile, and fills s->sd (signed
 * distance), s->dist (its positive part) and s->thick (local thickness). */
static int ln__single_thickness(struct ln__single *s, struct ln_error *err)
{
    const size_t n = s->n;
    s->sd = ln_alloc_array(n, sizeof(float), 0, "distance map", err);
    s->dist = ln_alloc_array(n, sizeof(float), 0, "distance map", err);
    s->thick = ln_alloc_array(n, sizeof(float), 0, "thickness map", err);
    s->tmp = ln_alloc_array(n, 4 * sizeof(float), 0, "blur scratch", err);
    s->best = ln_alloc_array(n, sizeof(int), 0, "thickness map", err);
    if (!s->sd || !s->dist || !s->thick || !s->tmp || !s->best)
        return ln__single_nomem(err);
    int rc = ln__sculpt_signed_distance(s->prem + 3, 4, s->w, s->w, s->sd, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        s->dist[i] = s->sd[i] > 0.0f ? s->sd[i] : 0.0f;
    ln__local_thickness(s->dist, s->w, s->w, s->best, s->thick);
    free(s->best);
    s->best = NULL;
    return LN_OK;
}

/* The squared height u = 2 R d - d^2 into s->dist, and s->thick turned
 * into the blurred thickness (at least d) that sets the colour band. */
static int ln__single_squared_height(struct ln__single *s, struct ln_error *err)
{
    const int w = s->w;
    const size_t n = s->n;
    float *dist = s->dist, *thick = s->thick, *sd = s->sd;
    /* Blurred thickness (normalised over the object, so it also reaches a
     * little outside): the colour blend band, and the slope of the squared
     * height continued past the silhouette. */
    float *blur = s->blur = ln_alloc_array(n, 2 * sizeof(float), 0, "thickness map", err);
    if (!blur)
        return ln__single_nomem(err);
    for (size_t i = 0; i < n; i++) {
        float m = dist[i] > 0.0f ? 1.0f : 0.0f;
        blur[2 * i] = thick[i] * m;
        blur[2 * i + 1] = m;
    }
    int radius = w / 32 > 2 ? w / 32 : 2;
    ln__sculpt_box_blur(blur, w, w, 2, radius, 2, s->tmp);
    /* Squared height u = 2 R d - d^2, continued outside as the tangent
     * 2 R sd so that the silhouette stays where the distance map put it. */
    float *u = dist;
    for (size_t i = 0; i < n; i++) {
        float rb = blur[2 * i + 1] > 1e-6f ? blur[2 * i] / blur[2 * i + 1] : 1.0f;
        float d = dist[i];
        if (d > 0.0f) {
            float r = thick[i] > d ? thick[i] : d;
            u[i] = 2.0f * r * d - d * d;
        } else {
            u[i] = 2.0f * fmaxf(rb, 1.0f) * sd[i];
        }
        thick[i] = rb > d ? rb : d;
    }
    return LN_OK;
}

static int ln__cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Second moments of a pixel set (y up), and the ellipse they describe. */
struct ln__moments {
    double n, x, y, xx, yy, xy;
};

static void ln__moments_add(struct ln__moments *m, double x, double y)
{
    m->n += 1.0;
    m->x += x;
    m->y += y;
    m->xx += x * x;
    m->yy += y * y;
    m->xy += x * y;
}

/* Centre, semi-axes (a >= b) and the major axis's angle of the ellipse of
 * the same second moments (a filled ellipse gives back its own). */
static void ln__moments_ellipse(const struct ln__moments *m, double *cx, double *cy, double *a,
                                double *b, double *cxx, double *cyy, double *cxy)
{
    *cx = m->x / m->n;
    *cy = m->y / m->n;
    *cxx = m->xx / m->n - *cx * *cx;
    *cyy = m->yy / m->n - *cy * *cy;
    *cxy = m->xy / m->n - *cx * *cy;
    double mean = 0.5 * (*cxx + *cyy),
           dev = sqrt(0.25 * (*cxx - *cyy) * (*cxx - *cyy) + *cxy * *cxy);
    *a = 2.0 * sqrt(fmax(mean + dev, 0.0));
    *b = 2.0 * sqrt(fmax(mean - dev, 0.0));
}

/* A ring (see the DESIGN comment): finds the largest hole of the outline
 * (background that the raster's border does not reach); when it is a
 * tenth of the filled outline or more and at its middle, the circle
 * between the hole's ellipse and the outline's gives the ring's plane, of
 * the two mirror solutions the one nearer an upright or a lying plane.
 * A lying ring is left to the body of revolution; any other sets s->ring
 * and s->plane. Uses s->sd (signed distance, positive inside). */
#define LN__RING_MIN_HOLE 0.1
#define LN__RING_MAX_OFFSET 0.1
#define LN__RING_MIN_COS 0.2

static int ln__single_ring(struct ln__single *s, struct ln_error *err)
{
    const int w = s->w;
    const size_t n = s->n;
    unsigned char *mark = ln_alloc_array(n, 1, 0, "outline holes", err);
    int *stack = ln_alloc_array(n, sizeof(int), 0, "outline holes", err);
    if (!mark || !stack) {
        free(mark);
        free(stack);
        return ln__single_nomem(err);
    }
    /* 0: background not yet reached, 1: inside, 2: outer background,
     * 3: a hole already measured. */
    size_t top = 0;
    for (size_t i = 0; i < n; i++) {
        int x = (int)(i % (size_t)w), y = (int)(i / (size_t)w);
        mark[i] = s->sd[i] > 0.0f ? 1 : 0;
        if (!mark[i] && (x == 0 || y == 0 || x == w - 1 || y == w - 1)) {
            mark[i] = 2;
            stack[top++] = (int)i;
        }
    }
    struct ln__moments filled = {0}, hole = {0};
    for (int pass = 0; pass < 2; pass++) {
        /* Pass 0 floods the outer background; pass 1 each hole in turn. */
        for (size_t seed = 0; seed < (pass ? n : 1); seed++) {
            struct ln__moments cur = {0};
            if (pass) {
                if (mark[seed] != 0)
                    continue;
                mark[seed] = 3;
                stack[top++] = (int)seed;
            }
            while (top > 0) {
                int i = stack[--top], x = i % w, y = i / w;
                if (pass)
                    ln__moments_add(&cur, x, -y);
                const int nb[4][2] = {{x - 1, y}, {x + 1, y}, {x, y - 1}, {x, y + 1}};
                for (int t = 0; t < 4; t++) {
                    if (nb[t][0] < 0 || nb[t][1] < 0 || nb[t][0] >= w || nb[t][1] >= w)
                        continue;
                    int j = nb[t][1] * w + nb[t][0];
                    if (mark[j] == 0) {
                        mark[j] = (unsigned char)(pass ? 3 : 2);
                        stack[top++] = j;
                    }
                }
            }
            if (cur.n > hole.n)
                hole = cur;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (mark[i] != 2)
            ln__moments_add(&filled, (double)(i % (size_t)w), -(double)(i / (size_t)w));
    free(mark);
    free(stack);
    if (hole.n < LN__RING_MIN_HOLE * filled.n || hole.n < 16.0)
        return LN_OK;
    double hx, hy, ha, hb, hxx, hyy, hxy, ox, oy, oa, ob, oxx, oyy, oxy;
    ln__moments_ellipse(&hole, &hx, &hy, &ha, &hb, &hxx, &hyy, &hxy);
    ln__moments_ellipse(&filled, &ox, &oy, &oa, &ob, &oxx, &oyy, &oxy);
    if (hypot(hx - ox, hy - oy) > LN__RING_MAX_OFFSET * oa)
        return LN_OK; /* a hole to one side: a handle's, a part's */
    /* The ring's middle circle: semi-axes halfway between the hole's and
     * the outline's (a tube of constant width adds its radius to one and
     * takes it from the other); its minor axis m, its aspect cos tilt. */
    double c = (hb + ob) / (ha + oa);
    c = c > 1.0 ? 1.0 : (c < LN__RING_MIN_COS ? LN__RING_MIN_COS : c);
    double theta = 0.5 * atan2(2.0 * (hxy + oxy), (hxx + oxx) - (hyy + oyy));
    double mx = -sin(theta), my = cos(theta), sn = sqrt(1.0 - c * c);
    /* Of the normals (sn m, +c) and (sn m, -c), the one whose plane is
     * nearer upright or lying in the world (up is (0, cos e, sin e)). */
    const double ce = cos(s->elevation * 0.017453293), se = sin(s->elevation * 0.017453293);
    double best_dev = 2.0, nrm[3] = {0.0, 0.0, 1.0}, best_up = 0.0;
    for (int sign = -1; sign <= 1; sign += 2) {
        double cand[3] = {sn * mx, sn * my, sign * c};
        double up = fabs(cand[1] * ce + cand[2] * se);
        double dev = fmin(up, sqrt(fmax(1.0 - up * up, 0.0)));
        if (dev < best_dev) {
            best_dev = dev;
            best_up = up;
            memcpy(nrm, cand, sizeof nrm);
        }
    }
    if (best_up > 0.9)
        return LN_OK; /* lying: a body of revolution shows its hole */
    /* z = -(nx (x - ox) + ny (y - oy)) / nz, world units, y up. */
    const double fw = (double)w;
    double cxw = (ox + 0.5) / fw - 0.5, cyw = 0.5 + (oy - 0.5) / fw;
    s->ring = 1;
    s->ring_depth = 1.0f / LN__SCULPT_DEPTH;
    s->ring_axes[0] = (float)cxw;
    s->ring_axes[1] = (float)cyw;
    s->ring_axes[2] = (float)cos(theta);
    s->ring_axes[3] = (float)sin(theta);
    s->ring_axes[4] = (float)(2.0 * fw / (ha + oa));
    s->ring_axes[5] = (float)(2.0 * fw / (hb + ob));
    s->ring_axes[6] = (float)sn;
    s->plane[0] = (float)(-nrm[0] / nrm[2]);
    s->plane[1] = (float)(-nrm[1] / nrm[2]);
    s->plane[2] = (float)((nrm[0] * cxw + nrm[1] * cyw) / nrm[2]);
    return LN_OK;
}

/* The largest radius inside the revolution at table row jt (pixels,
 * interpolated to the zero crossing), or -1 where no circle is inside. */
static float ln__revolve_radius(const struct ln__revolve *r, int jt)
{
    const float *row = r->table + (size_t)jt * r->n_rho;
    for (int ir = r->n_rho - 1; ir >= 0; ir--) {
        if (row[ir] <= 0.0f)
            continue;
        if (ir + 1 >= r->n_rho)
            return (float)ir;
        return (float)ir + row[ir] / (row[ir] - row[ir + 1]);
    }
    return -1.0f;
}

/* Flat ends (see the DESIGN comment): from the top row down, and from the
 * bottom row up, the rows where the largest radius grows as the cone's
 * does (0.7 to 1.6 of cot e each row, and LN__CONE_SLOPE of it on average
 * less 2 pixels of noise) belong to a cap the outline cannot rule out;
 * they are emptied when the cap's base is a crease or as wide as a lid,
 * so the body ends flat there. Records the caps in r->cap_*. */
#define LN__CONE_SLOPE 0.9f
#define LN__CREASE_ROWS 3
#define LN__CREASE_GROWTH 0.3f

static void ln__revolve_flat_ends(struct ln__revolve *r)
{
    r->cap_rho[0] = r->cap_rho[1] = -1.0f;
    if (r->se < 0.05f)
        return; /* seen from the side: no caps */
    const float cot = r->ce / r->se;
    float widest = 0.0f;
    for (int jt = 0; jt < r->n_t; jt++)
        widest = fmaxf(widest, ln__revolve_radius(r, jt));
    for (int dir = 0; dir < 2; dir++) {
        int first = -1;
        for (int k = 0; k < r->n_t; k++) {
            int jt = dir ? k : r->n_t - 1 - k; /* dir 0: from the top */
            if (ln__revolve_radius(r, jt) >= 0.0f) {
                first = k;
                break;
            }
        }
        if (first < 0)
            return;
        int k = first;
        const float start = ln__revolve_radius(r, dir ? k : r->n_t - 1 - k);
        float prev = start;
        while (k + 1 < r->n_t) {
            float next = ln__revolve_radius(r, dir ? k + 1 : r->n_t - 2 - k);
            float grow = next - prev;
            if (next - start < LN__CONE_SLOPE * cot * (float)(k + 1 - first) - 2.0f ||
                grow < 0.7f * cot || grow > 1.6f * cot)
                break;
            prev = next;
            k++;
        }
        /* Rows first .. k - 1 are the cap (row k is its base, kept). */
        if (k == first)
            continue;
        const int base = dir ? k : r->n_t - 1 - k;
        const float rho_base = ln__revolve_radius(r, base);
        /* A rim (the radius stops growing past the base: a crease) or a
         * cap as wide as a lid gets a flat end; a narrow cap on a rounded
         * end (a ball's, a head's) is kept: flat, it would cut the end. */
        int inner = dir ? k + LN__CREASE_ROWS : r->n_t - 1 - k - LN__CREASE_ROWS;
        float rho_in = inner >= 0 && inner < r->n_t ? ln__revolve_radius(r, inner) : rho_base;
        int crease = rho_in - rho_base < LN__CREASE_GROWTH * cot * (float)LN__CREASE_ROWS;
        if (!crease && rho_base < 2.0f * r->se * widest)
            continue;
        r->cap_t[dir] = r->t0 + (float)base;
        r->cap_rho[dir] = rho_base;
        /* The far rim of the flat end, seen: the outline's end? */
        float rim = r->yc - (r->cap_t[dir] * r->ce + (dir ? -1.0f : 1.0f) * rho_base * r->se);
        r->cap_carve[dir] = fabsf(rim - (float)(dir ? r->row_bottom : r->row_top)) <= 3.0f;
        for (int q = first; q < k; q++) {
            float *row = r->table + (size_t)(dir ? q : r->n_t - 1 - q) * r->n_rho;
            for (int ir = 0; ir < r->n_rho; ir++)
                row[ir] = LN__REVOLVE_FLOOR;
        }
    }
}

/* The body of revolution's table from s->sd (before it becomes the height
 * map). The axis is the median over rows of the midpoint of each row's
 * longest run inside the silhouette, so a handle or an arm on one side
 * moves it only where it widens more than half of the rows; the pivot is
 * the silhouette's middle row. */
static int ln__single_revolve(struct ln__single *s, struct ln_error *err)
{
    const int w = s->w;
    s->cone = ln_alloc_array(s->n, sizeof(float), 0, "distance map", err);
    if (!s->cone)
        return ln__single_nomem(err);
    for (size_t i = 0; i < s->n; i++)
        s->cone[i] = s->sd[i] / (float)w;
    float *mid = ln_alloc_array((size_t)w, sizeof(float), 0, "revolution axis", err);
    if (!mid)
        return ln__single_nomem(err);
    int n_mid = 0, top = -1, bottom = -1;
    for (int y = 0; y < w; y++) {
        const float *sr = s->sd + (size_t)y * w;
        int best0 = -1, best1 = -1, x = 0;
        while (x < w) {
            if (sr[x] <= 0.0f) {
                x++;
                continue;
            }
            int x0 = x;
            while (x < w && sr[x] > 0.0f)
                x++;
            if (best0 < 0 || x - x0 > best1 - best0) {
                best0 = x0;
                best1 = x;
            }
        }
        if (best0 >= 0) {
            mid[n_mid++] = 0.5f * (float)(best0 + best1 - 1);
            if (top < 0)
                top = y;
            bottom = y;
        }
    }
    qsort(mid, (size_t)n_mid, sizeof(float), ln__cmp_float);
    struct ln__revolve *r = &s->rev;
    r->xa = n_mid ? mid[n_mid / 2] : 0.5f * (float)(w - 1);
    r->yc = top >= 0 ? 0.5f * (float)(top + bottom) : 0.5f * (float)(w - 1);
    r->row_top = top;
    r->row_bottom = bottom;
    free(mid);
    float e = s->elevation * 0.017453293f;
    r->sd = s->sd;
    r->w = w;
    r->ce = cosf(e);
    r->se = sinf(e);
    /* Heights the grid can ask for: y up in [yc - w, yc + 1], |z| <= w. */
    float ylo = r->yc - (float)w, yhi = r->yc + 1.0f, zs = (float)w * fabsf(r->se);
    float tlo = fminf(ylo * r->ce, yhi * r->ce) - zs, thi = fmaxf(ylo * r->ce, yhi * r->ce) + zs;
    r->t0 = floorf(tlo) - 1.0f;
    r->n_t = (int)(ceilf(thi) - r->t0) + 2;
    r->n_rho = w + 2;
    if (s->ring) {
        r->n_t = 0; /* not used: the ring's body replaces it */
        r->cap_rho[0] = r->cap_rho[1] = -1.0f;
        return LN_OK;
    }
    r->table = ln_alloc_array((size_t)r->n_t * (size_t)r->n_rho, sizeof(float), 0,
                              "revolution table", err);
    if (!r->table)
        return ln__single_nomem(err);
    ln_parallel_for((size_t)r->n_t, 4, ln__revolve_rows, r);
    ln__revolve_flat_ends(r);
    return LN_OK;
}

/* Smoothing: u is relaxed toward the solution of the Poisson problem
 * -lap u = f, where f is the Laplacian of u itself, blurred. A smooth f
 * gives a smooth u, while the local depth scale (the low frequencies of
 * f) stays that of the circular profile: the ridges of the distance map
 * and the steps of R where a wide part meets a narrow one, which are
 * concentrated in f, are spread out, and nothing else changes (a disc's f
 * is constant, so its sphere is kept exactly). Reuses s->blur for f. */
static int ln__single_relax(struct ln__single *s, const struct ln_progress *progress,
                            struct ln_error *err)
{
    const int w = s->w;
    const size_t n = s->n;
    float *u = s->dist, *blur = s->blur;
    const float *sd = s->sd;
    for (int y = 0; y < w; y++) {
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            float m = sd[i] > 0.0f ? 1.0f : 0.0f;
            float l = u[x > 0 ? i - 1 : i] + u[x < w - 1 ? i + 1 : i] + u[y > 0 ? i - w : i] +
                      u[y < w - 1 ? i + w : i];
            blur[2 * i] = m * (4.0f * u[i] - l);
            blur[2 * i + 1] = m;
        }
    }
    int f_radius = w / 16 > 2 ? w / 16 : 2;
    ln__sculpt_box_blur(blur, w, w, 2, f_radius, 2, s->tmp);
    for (size_t i = 0; i < n; i++)
        blur[i] = blur[2 * i + 1] > 1e-6f ? blur[2 * i] / blur[2 * i + 1] : 0.0f;
    struct ln__sor sor = {.u = u, .sd = sd, .f = blur, .w = w};
    const int sweeps = w / 2 > 64 ? w / 2 : 64;
    for (int it = 0; it < sweeps; it++) {
        for (sor.colour = 0; sor.colour < 2; sor.colour++)
            ln_parallel_for((size_t)(w - 2), 16, ln__sor_rows, &sor);
        /* Hundreds of sweeps at large grids: a cancellation is heard. */
        if (it % 32 == 31 &&
            ln__single_step(progress, "inflating", 0.31 + 0.03 * it / sweeps, err) < 0)
            return LN_ECANCELED;
    }
    return LN_OK;
}

/* Height in world units into s->sd, its maximum into s->max_h; frees the
 * squared height and the blur. Outside, the negative mirror of the
 * profile: with the same steepness on both sides of the silhouette,
 * marching cubes puts the rim where the distance map crosses zero. */
static void ln__single_height(struct ln__single *s)
{
    const float fw = (float)s->w;
    const float *u = s->dist;
    float *sd = s->sd;
    float max_h = 0.0f;
    for (size_t i = 0; i < s->n; i++) {
        float h = LN__SCULPT_DEPTH * sqrtf(fabsf(u[i])) / fw;
        if (sd[i] > 0.0f) {
            sd[i] = u[i] > 0.0f ? h : 0.0f;
            if (h > max_h)
                max_h = h;
        } else {
            sd[i] = -h;
        }
    }
    s->max_h = max_h;
    free(s->blur);
    s->blur = NULL;
    free(s->dist);
    s->dist = NULL;
}

/* Field h - |z| into s->field on the pixel grid, one padding layer around
 * x and y and two empty layers beyond the deepest point in z. */
static int ln__single_field(struct ln__single *s, const struct ln_progress *progress,
                            struct ln_error *err)
{
    const int w = s->w;
    const float fw = (float)w;
    /* Depth the two bodies reach: the inflated one turned by e, and each
     * circle of the revolution inside the silhouette. */
    const struct ln__revolve *r = &s->rev;
    float reach = s->max_h * fw * r->ce + fmaxf(r->yc, fw - r->yc) * fabsf(r->se);
    for (int jt = 0; jt < r->n_t; jt++) {
        const float *tr = r->table + (size_t)jt * r->n_rho;
        for (int ir = 0; ir < r->n_rho; ir++)
            if (tr[ir] > 0.0f)
                reach = fmaxf(reach, fabsf(r->t0 + (float)jt) * fabsf(r->se) + (float)ir * r->ce);
    }
    if (s->ring) {
        /* The inflated outline about the ring's plane, wherever it is inside. */
        reach = 0.0f;
        const float ring_cos = sqrtf(fmaxf(1.0f - s->ring_axes[6] * s->ring_axes[6], 0.04f));
        for (size_t i = 0; i < s->n; i++) {
            if (s->cone[i] <= 0.0f)
                continue;
            float xw = ((float)(i % (size_t)w) + 0.5f) / fw - 0.5f;
            float yw = 0.5f - ((float)(i / (size_t)w) + 0.5f) / fw;
            float zc = s->plane[0] * xw + s->plane[1] * yw + s->plane[2];
            reach = fmaxf(reach, (fabsf(zc) + s->ring_depth / ring_cos * s->sd[i]) * fw);
        }
    }
    s->kz = (int)ceilf(reach) + 2;
    if (s->kz > w)
        s->kz = w;
    const int nx = w + 2, ny = w + 2, nz = 2 * s->kz + 1;
    size_t n_field;
    if (ln_size_mul3((size_t)nx, (size_t)ny, (size_t)nz, &n_field) < 0)
        return ln_error_set(err, LN_ETOOBIG, "inflation grid is too large");
    /* On huge pages (ln_alloc.h): inflating at 256 took 0.17-0.22 s on
     * 4 KB pages, 0.11-0.14 s on these. */
    s->field = ln_alloc_array(n_field, sizeof(float), LN_ALLOC_HUGE, "inflation grid", err);
    if (!s->field)
        return ln__single_nomem(err);
    struct ln__fill fill = {.field = s->field,
                            .height = s->sd,
                            .w = w,
                            .kz = s->kz,
                            .rev = r,
                            .cone = s->cone,
                            .ring = s->ring,
                            .plane = s->plane,
                            .ring_depth = s->ring_depth,
                            .axes = s->ring_axes};
    /* In pieces of 64 columns (each column's values do not depend on the
     * piece): seconds at large grids, so a cancellation is heard. */
    for (fill.x0 = 0; fill.x0 < (size_t)nx; fill.x0 += 64) {
        const size_t cols = (size_t)nx - fill.x0 < 64 ? (size_t)nx - fill.x0 : 64;
        ln_parallel_for(cols, 4, ln__fill_slabs, &fill);
        if (ln__single_step(progress, "inflating", 0.34 + 0.06 * (double)fill.x0 / nx, err) < 0)
            return LN_ECANCELED;
    }
    return LN_OK;
}

/* The surface of s->field into out (voxel centres are pixel centres);
 * frees the field. Fails with LN_EUNUSABLE when there is none. */
static int ln__single_mesh(struct ln__single *s, struct ln_mesh *out, struct ln_error *err)
{
    const int w = s->w, kz = s->kz;
    const float fw = (float)w;
    const float origin[3] = {-0.5f - 0.5f / fw, -0.5f - 0.5f / fw, -(float)kz / fw};
    const float spacing[3] = {1.0f / fw, 1.0f / fw, 1.0f / fw};
    int rc = ln_mc_extract(s->field, w + 2, w + 2, 2 * kz + 1, 0.0f, origin, spacing, out, err);
    if (rc < 0)
        return rc;
    free(s->field);
    s->field = NULL;
    if (out->n_faces == 0)
        return ln_error_set(err, LN_EUNUSABLE, "the object is too thin to model at resolution %d",
                            w);
    return LN_OK;
}

/* Vertex colours of out: the image in front; behind, the object's colours
 * blurred (normalised over the object, so nothing from the background
 * comes in at the edge), a little darker and less saturated. Blurs
 * s->prem in place. */
static int ln__single_colours(struct ln__single *s, struct ln_mesh *out, struct ln_error *err)
{
    const int w = s->w;
    const size_t n = s->n;
    s->front = ln_alloc_array(n, 3 * sizeof(float), 0, "colour map", err);
    s->back = ln_alloc_array(n, 3 * sizeof(float), 0, "colour map", err);
    if (!s->front || !s->back)
        return ln__single_nomem(err);
    float *prem = s->prem, *front = s->front, *back = s->back;
    int rc = ln__sculpt_colour_extend(prem, w, 4, front, err);
    if (rc < 0)
        return rc;
    int back_radius = w / LN__BACK_BLUR_FRACTION > 2 ? w / LN__BACK_BLUR_FRACTION : 2;
    ln__sculpt_box_blur(prem, w, w, 4, back_radius, 2, s->tmp);
    for (size_t i = 0; i < n; i++) {
        float a = prem[4 * i + 3];
        float c[3];
        for (int ch = 0; ch < 3; ch++)
            c[ch] = a > 1e-4f ? prem[4 * i + ch] / a : front[3 * i + ch];
        float luma = 0.299f * c[0] + 0.587f * c[1] + 0.114f * c[2];
        for (int ch = 0; ch < 3; ch++)
            back[3 * i + ch] = LN__BACK_SHADE * (luma + LN__BACK_SATURATION * (c[ch] - luma));
    }
    if (!out->colors) {
        out->colors = ln_alloc_array(out->n_vertices, 3 * sizeof(float), 0, "mesh colours", err);
        if (!out->colors)
            return ln__single_nomem(err);
    }
    struct ln__single_colour col = {.points = out->positions,
                                    .colors = out->colors,
                                    .front = front,
                                    .back = back,
                                    .thick = s->thick,
                                    .w = w,
                                    .plane = s->plane};
    ln_parallel_for(out->n_vertices, 4096, ln__single_colour_body, &col);
    return LN_OK;
}

/* The baker's colours: the same maps as the vertex colours, kept past the
 * run (the colorizer owns them). */
struct ln__single_bake {
    float *front, *back, *thick;
    int w;
    float plane[3];
    float *front_full; /* or NULL */
    int mc;
};

static int ln__single_bake_color(void *state, const float *points, const float *normals, size_t n,
                                 float *rgb, struct ln_error *err)
{
    (void)normals;
    (void)err;
    const struct ln__single_bake *b = state;
    struct ln__single_colour col = {.points = points,
                                    .colors = rgb,
                                    .front = b->front,
                                    .back = b->back,
                                    .thick = b->thick,
                                    .w = b->w,
                                    .front_full = b->front_full,
                                    .mc = b->mc,
                                    .plane = b->plane};
    ln_parallel_for(n, 4096, ln__single_colour_body, &col);
    return LN_OK;
}

static void ln__single_bake_free(void *state)
{
    struct ln__single_bake *b = state;
    free(b->front);
    free(b->back);
    free(b->thick);
    free(b->front_full);
    free(b);
}

/* Hands the colour maps over to a colorizer (they are then not freed by
 * the run). Cannot fail: the small state is bookkeeping. */
static void ln__single_keep(struct ln__single *s, struct ln_colorizer *bake)
{
    struct ln__single_bake *b = ln_xcalloc(1, sizeof *b);
    b->front = s->front;
    b->back = s->back;
    b->thick = s->thick;
    b->w = s->w;
    memcpy(b->plane, s->plane, sizeof b->plane);
    b->front_full = s->front_full;
    b->mc = s->mc;
    s->front = s->back = s->thick = s->front_full = NULL;
    *bake = (struct ln_colorizer){
        .color = ln__single_bake_color, .free = ln__single_bake_free, .state = b};
}

int ln__sculpt_run_single(const struct ln_engine_input *in, const struct ln_generate_options *opt,
                          int res, const struct ln_progress *progress, struct ln_mesh *out,
                          struct ln_colorizer *bake, struct ln_generate_report *rep,
                          struct ln_error *err)
{
    struct ln__single s = {.w = res, .n = (size_t)res * res, .full = bake != NULL};
    s.elevation = in->views ? in->views[0].elevation : LN__SINGLE_ELEVATION;
    int rc;
    double t0 = ln_time_now();

    ln_progress_report(progress, "foreground", 0.0);
    if ((rc = ln__single_foreground(in, opt, &s, rep, err)) < 0)
        goto cleanup;
    t0 = ln__sculpt_stage_done(rep, "foreground", t0);
    if ((rc = ln__single_canceled(progress, err)) < 0)
        goto cleanup;

    /* Inflating takes seconds at large grids: a cancellation (a deleted
     * job) is heard between its steps. */
    ln_progress_report(progress, "inflating", 0.15);
    if ((rc = ln__single_thickness(&s, err)) < 0 ||
        (rc = ln__single_step(progress, "inflating", 0.2, err)) < 0 ||
        (rc = ln__single_squared_height(&s, err)) < 0 ||
        (rc = ln__single_step(progress, "inflating", 0.25, err)) < 0)
        goto cleanup;
    if ((rc = ln__single_ring(&s, err)) < 0 ||
        (rc = ln__single_step(progress, "inflating", 0.28, err)) < 0 ||
        (rc = ln__single_revolve(&s, err)) < 0 ||
        (rc = ln__single_step(progress, "inflating", 0.31, err)) < 0)
        goto cleanup;
    if ((rc = ln__single_relax(&s, progress, err)) < 0)
        goto cleanup;
    ln__single_height(&s);
    if ((rc = ln__single_step(progress, "inflating", 0.34, err)) < 0 ||
        (rc = ln__single_field(&s, progress, err)) < 0)
        goto cleanup;
    t0 = ln__sculpt_stage_done(rep, "inflating", t0);
    if ((rc = ln__single_canceled(progress, err)) < 0)
        goto cleanup;

    ln_progress_report(progress, "meshing", 0.4);
    if ((rc = ln__single_mesh(&s, out, err)) < 0)
        goto cleanup;
    t0 = ln__sculpt_stage_done(rep, "meshing", t0);
    if ((rc = ln__single_canceled(progress, err)) < 0)
        goto cleanup;

    ln_progress_report(progress, "colouring", 0.7);
    if ((rc = ln__single_colours(&s, out, err)) < 0)
        goto cleanup;
    ln__sculpt_stage_done(rep, "colouring", t0);
    ln_progress_report(progress, "colouring", 1.0);
    if (bake)
        ln__single_keep(&s, bake);

cleanup:
    if (rc < 0)
        ln_mesh_free(out);
    free(s.rev.table);
    free(s.cone);
    free(s.back);
    free(s.front);
    free(s.front_full);
    free(s.field);
    free(s.blur);
    free(s.best);
    free(s.tmp);
    free(s.thick);
    free(s.dist);
    free(s.sd);
    free(s.prem);
    return rc;
}
