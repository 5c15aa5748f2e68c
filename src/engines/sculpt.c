/*
 * The sculpt engine (docs/ARCHITECTURE.md §5): classical reconstruction that
 * needs no weights. This file holds the engine object and the raster tools
 * both of its paths share; one image is turned about an upright axis and
 * inflated (sculpt_single.c), several are carved into a visual hull
 * (sculpt_multi.c).
 *
 * The raster tools work on float images no larger than twice the grid
 * resolution, so they stay cheap next to the 3-D work: an exact separable
 * Euclidean distance transform (Felzenszwalb and Huttenlocher, "Distance
 * Transforms of Sampled Functions", 2012), an area-exact resampler that
 * reads 8-bit input directly (no full-size float copy of a large photo),
 * a colour extension that keeps background colours out of the object, and
 * running-sum box blurs.
 */
#include "sculpt_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_background.h"
#include "ln_foreground.h"
#include "ln_threads.h"
#include "ln_time.h"

double ln__sculpt_stage_done(struct ln_generate_report *rep, const char *name, double t0)
{
    double t1 = ln_time_now();
    ln_report_stage(rep, name, t1 - t0);
    return t1;
}

int ln__sculpt_cutout(const struct ln_image *img, int remove_bg, struct ln_image *cut,
                      const struct ln_image **use, struct ln_generate_report *rep,
                      struct ln_error *err)
{
    if (img->channels != 4 || !img->data)
        return ln_error_set(err, LN_EINVAL, "the sculpt engine needs decoded RGBA images");
    struct ln_background_info bg = {"off", 1.0};
    if (remove_bg != LN_REMOVE_BG_OFF) {
        int rc = ln_background_cutout(img, remove_bg, cut, &bg, err);
        if (rc < 0)
            return rc;
        *use = cut;
    } else {
        /* Without a meaningful alpha the decoded alpha is all opaque, which
         * is exactly "the whole frame is the object". */
        *use = img;
    }
    ln_report_background(rep, bg.method);
    return LN_OK;
}

/* ---- sub-pixel edges -------------------------------------------------- */

/* DESIGN (sub-pixel silhouette edges). The colour separations give a
 * binary mask, and a pixel on the object's outline that the object only
 * partly covers (anti-aliasing, lens blur, JPEG's ringing next to a
 * high-contrast edge) differs from the background by more than the
 * separation's tolerance, so it counts as object: the mask's edge lies at
 * the outer side of the mixed pixels, up to a pixel outside the true
 * outline, all around. The visual hull is the intersection of the views'
 * silhouettes, so every view's dilation adds up where the views meet; on
 * bench-shapes' standing torus the side views' outlines were a pixel wider
 * on each side than the rendered object, the ring came out 2.4% too thick,
 * and its surface lay beyond the exact hull's (docs/quality.md). A mixed
 * pixel's colour is c = a F + (1 - a) B for coverage a, the object's
 * colour F and the background's B next to it. B is the mean colour of the
 * mask's exterior pixels (those whose whole 3 x 3 neighbourhood is
 * background) within two pixels, which is smooth where a colour
 * separation found it; the object's colour varies along its outline
 * (texture, and shading that darkens towards the limb), so F is the one
 * of its interior pixels within two pixels that, mixed with B, comes
 * closest to c, and a is c's projection onto the segment from B to that F.
 * Only pixels on the mask's edge change, only where F and B differ
 * clearly (else the mask stays as it is), and a thin part with no
 * interior pixel nearby keeps its mask, so thin parts stay. The signed
 * distance map then places the outline inside the pixel
 * (ln__sculpt_signed_distance). */

/* Contrast between the object's and the background's colours (RGB
 * distance, 0..255 scale) below which a mask edge is kept as it is. */
#define LN__EDGE_CONTRAST 24.0f

struct ln__edge {
    const uint8_t *px; /* the input's RGBA */
    const uint8_t *in; /* the binary mask: 1 object */
    uint8_t *alpha;    /* the cut-out's RGBA, its alpha rewritten */
    int w, h;
};

/* 1 when the 3 x 3 neighbourhood of (x, y) is all `side` (outside the
 * image counts as background). */
static int ln__edge_core(const struct ln__edge *e, int x, int y, int side)
{
    for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++) {
            int u = x + dx, v = y + dy;
            int in = u >= 0 && v >= 0 && u < e->w && v < e->h ? e->in[(size_t)v * e->w + u] : 0;
            if (in != side)
                return 0;
        }
    return 1;
}

static void ln__edge_rows(void *ctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct ln__edge *e = ctx;
    const int w = e->w, h = e->h;
    for (size_t yy = begin; yy < end; yy++) {
        const int y = (int)yy;
        for (int x = 0; x < w; x++) {
            const size_t i = (size_t)y * w + x;
            const int self = e->in[i];
            int edge = 0;
            for (int d = 0; d < 4 && !edge; d++) {
                int u = x + (d == 0) - (d == 1), v = y + (d == 2) - (d == 3);
                int in = u >= 0 && v >= 0 && u < w && v < h ? e->in[(size_t)v * w + u] : 0;
                edge = in != self;
            }
            if (!edge)
                continue;
            /* The interior colours one by one (shading and texture vary
             * along the outline), the background's as their mean (it is
             * smooth where a colour separation found it). */
            float fc[25][3], b[3] = {0, 0, 0};
            int nf = 0, nb = 0;
            for (int v = y - 2; v <= y + 2; v++)
                for (int u = x - 2; u <= x + 2; u++) {
                    if (u < 0 || v < 0 || u >= w || v >= h)
                        continue;
                    int side = e->in[(size_t)v * w + u];
                    if (!ln__edge_core(e, u, v, side))
                        continue;
                    const uint8_t *q = e->px + ((size_t)v * w + u) * 4;
                    for (int k = 0; k < 3; k++) {
                        if (side)
                            fc[nf][k] = (float)q[k];
                        else
                            b[k] += (float)q[k];
                    }
                    nf += side;
                    nb += !side;
                }
            if (nf == 0 || nb == 0)
                continue;
            const uint8_t *c = e->px + i * 4;
            float cb[3];
            for (int k = 0; k < 3; k++) {
                b[k] /= (float)nb;
                cb[k] = (float)c[k] - b[k];
            }
            /* The interior colour that, mixed with the background's,
             * comes closest to the pixel's own. */
            float a = -1.0f, best = 0.0f;
            for (int t = 0; t < nf; t++) {
                float fb[3], fb2 = 0.0f, dot = 0.0f;
                for (int k = 0; k < 3; k++) {
                    fb[k] = fc[t][k] - b[k];
                    fb2 += fb[k] * fb[k];
                    dot += fb[k] * cb[k];
                }
                if (fb2 < LN__EDGE_CONTRAST * LN__EDGE_CONTRAST)
                    continue;
                float at = dot / fb2;
                at = at < 0.0f ? 0.0f : (at > 1.0f ? 1.0f : at);
                float res = 0.0f;
                for (int k = 0; k < 3; k++) {
                    float d = cb[k] - at * fb[k];
                    res += d * d;
                }
                if (a < 0.0f || res < best) {
                    a = at;
                    best = res;
                }
            }
            if (a < 0.0f)
                continue;
            e->alpha[i * 4 + 3] = (uint8_t)lrintf(a * 255.0f);
        }
    }
}

int ln__sculpt_edge_coverage(const struct ln_image *cut, const struct ln_image *img,
                             struct ln_image *out, struct ln_error *err)
{
    if (cut->channels != 4 || img->channels != 4 || cut->width != img->width ||
        cut->height != img->height)
        return 0;
    const size_t n = (size_t)cut->width * (size_t)cut->height;
    for (size_t i = 0; i < n; i++) {
        uint8_t a = cut->data[i * 4 + 3];
        if (a != 0 && a != 255)
            return 0; /* a soft matte already places its edges */
    }
    uint8_t *in = ln_alloc_array(n, 1, 0, "object mask", err);
    if (!in)
        return err ? err->code : LN_ENOMEM;
    int rc = ln_image_alloc(out, cut->width, cut->height, 4, err);
    if (rc < 0) {
        free(in);
        return rc;
    }
    memcpy(out->data, cut->data, n * 4);
    for (size_t i = 0; i < n; i++)
        in[i] = cut->data[i * 4 + 3] != 0;
    struct ln__edge e = {
        .px = img->data, .in = in, .alpha = out->data, .w = cut->width, .h = cut->height};
    ln_parallel_for((size_t)cut->height, 16, ln__edge_rows, &e);
    free(in);
    return 1;
}

/* ---- resampling ------------------------------------------------------- */

/* Footprint of each output pixel along one axis of the padded square: the
 * square cells [first, first + count) with weights, already divided by the
 * footprint length so that the weights of one output pixel sum to one. */
struct ln__axis {
    int *first;
    int *count;
    float *weight;
    int stride; /* weights per output pixel */
};

struct ln__resample {
    const struct ln_image *img;
    int side, ox, oy, m;
    struct ln__axis ax;
    float *tmp; /* h x m x 4, rows of the image filtered horizontally */
    float *out;
};

static void ln__premul(const uint8_t *restrict px, float *restrict v)
{
    float a = (float)px[3] * (1.0f / 255.0f);
    float s = a * (1.0f / 255.0f);
    v[0] = (float)px[0] * s;
    v[1] = (float)px[1] * s;
    v[2] = (float)px[2] * s;
    v[3] = a;
}

static void ln__shrink_rows(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ln__resample *r = ctx;
    const int w = r->img->width, m = r->m, ox = r->ox;
    for (size_t y = begin; y < end; y++) {
        const uint8_t *restrict row = r->img->data + y * (size_t)w * 4;
        float *restrict dst = r->tmp + y * (size_t)m * 4;
        for (int x = 0; x < m; x++) {
            float acc[4] = {0, 0, 0, 0};
            const float *wt = r->ax.weight + (size_t)x * r->ax.stride;
            for (int t = 0; t < r->ax.count[x]; t++) {
                int c = r->ax.first[x] + t - ox;
                if (c < 0 || c >= w)
                    continue;
                float v[4];
                ln__premul(row + (size_t)c * 4, v);
                for (int ch = 0; ch < 4; ch++)
                    acc[ch] += wt[t] * v[ch];
            }
            memcpy(dst + (size_t)x * 4, acc, sizeof acc);
        }
    }
}

static void ln__shrink_cols(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ln__resample *r = ctx;
    const int h = r->img->height, m = r->m, oy = r->oy;
    for (size_t y = begin; y < end; y++) {
        float *restrict dst = r->out + y * (size_t)m * 4;
        memset(dst, 0, (size_t)m * 4 * sizeof(float));
        const float *wt = r->ax.weight + y * (size_t)r->ax.stride;
        for (int t = 0; t < r->ax.count[y]; t++) {
            int row = r->ax.first[y] + t - oy;
            if (row < 0 || row >= h)
                continue;
            const float *restrict src = r->tmp + (size_t)row * m * 4;
            const float wv = wt[t];
            for (int i = 0; i < m * 4; i++)
                dst[i] += wv * src[i];
        }
    }
}

/* Bilinear tap of the padded square at square coordinates (clamped to the
 * square like PyTorch's align_corners=False; transparent in the padding). */
static void ln__square_tap(const struct ln__resample *r, int sx, int sy, float *v)
{
    int ix = sx - r->ox, iy = sy - r->oy;
    if (ix < 0 || iy < 0 || ix >= r->img->width || iy >= r->img->height) {
        v[0] = v[1] = v[2] = v[3] = 0.0f;
        return;
    }
    ln__premul(r->img->data + ((size_t)iy * r->img->width + ix) * 4, v);
}

static void ln__enlarge_rows(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ln__resample *r = ctx;
    const int m = r->m, side = r->side;
    const float f = (float)side / (float)m;
    for (size_t y = begin; y < end; y++) {
        float sy = ((float)y + 0.5f) * f - 0.5f;
        sy = sy < 0.0f ? 0.0f : (sy > (float)(side - 1) ? (float)(side - 1) : sy);
        int y0 = (int)sy, y1 = y0 + 1 < side ? y0 + 1 : y0;
        float fy = sy - (float)y0;
        for (int x = 0; x < m; x++) {
            float sx = ((float)x + 0.5f) * f - 0.5f;
            sx = sx < 0.0f ? 0.0f : (sx > (float)(side - 1) ? (float)(side - 1) : sx);
            int x0 = (int)sx, x1 = x0 + 1 < side ? x0 + 1 : x0;
            float fx = sx - (float)x0;
            float a[4], b[4], c[4], d[4];
            ln__square_tap(r, x0, y0, a);
            ln__square_tap(r, x1, y0, b);
            ln__square_tap(r, x0, y1, c);
            ln__square_tap(r, x1, y1, d);
            float *dst = r->out + (y * (size_t)m + x) * 4;
            for (int ch = 0; ch < 4; ch++) {
                float top = a[ch] + fx * (b[ch] - a[ch]);
                float bot = c[ch] + fx * (d[ch] - c[ch]);
                dst[ch] = top + fy * (bot - top);
            }
        }
    }
}

int ln__sculpt_resample_square(const struct ln_image *rgba, int m, float *out, struct ln_error *err)
{
    struct ln__resample r = {.img = rgba, .m = m, .out = out};
    int rc = LN_OK;
    r.side = rgba->width > rgba->height ? rgba->width : rgba->height;
    r.ox = (r.side - rgba->width) / 2;
    r.oy = (r.side - rgba->height) / 2;
    if (r.side < m) {
        ln_parallel_for((size_t)m, 8, ln__enlarge_rows, &r);
        return LN_OK;
    }

    /* Area filter: output pixel x covers square cells [x f, (x + 1) f). */
    const double f = (double)r.side / (double)m;
    r.ax.stride = (int)ceil(f) + 2;
    r.ax.first = ln_alloc_array((size_t)m, sizeof(int), 0, "resampling table", err);
    r.ax.count = ln_alloc_array((size_t)m, sizeof(int), 0, "resampling table", err);
    r.ax.weight =
        ln_alloc_array((size_t)m * (size_t)r.ax.stride, sizeof(float), 0, "resampling table", err);
    r.tmp = ln_alloc_array((size_t)rgba->height * (size_t)m, 4 * sizeof(float), 0,
                           "resampled image", err);
    if (!r.ax.first || !r.ax.count || !r.ax.weight || !r.tmp) {
        rc = err ? err->code : LN_ENOMEM;
        goto cleanup;
    }
    for (int x = 0; x < m; x++) {
        double a = x * f, b = (x + 1) * f;
        int c0 = (int)floor(a), c1 = (int)ceil(b);
        if (c1 > r.side)
            c1 = r.side;
        if (c1 - c0 > r.ax.stride)
            c1 = c0 + r.ax.stride;
        r.ax.first[x] = c0;
        r.ax.count[x] = c1 - c0;
        for (int c = c0; c < c1; c++) {
            double lo = c > a ? c : a, hi = c + 1 < b ? c + 1 : b;
            r.ax.weight[(size_t)x * r.ax.stride + (c - c0)] = (float)((hi - lo) / f);
        }
    }
    ln_parallel_for((size_t)rgba->height, 16, ln__shrink_rows, &r);
    ln_parallel_for((size_t)m, 8, ln__shrink_cols, &r);

cleanup:
    free(r.tmp);
    free(r.ax.weight);
    free(r.ax.count);
    free(r.ax.first);
    return rc;
}

/* ---- distance transforms -------------------------------------------- */

#define LN__EDT_FAR 1e20

/* Lower envelope of parabolas rooted at (q, f[q]): d[q] = min_p (q - p)^2 +
 * f[p], in O(n). v and z are scratch of n and n + 1 entries. */
static void ln__edt_1d(const double *restrict f, int n, double *restrict d, int *restrict v,
                       double *restrict z)
{
    int k = 0;
    v[0] = 0;
    z[0] = -HUGE_VAL;
    z[1] = HUGE_VAL;
    for (int q = 1; q < n; q++) {
        double s;
        /* z[0] is minus infinity, so the first parabola is never popped. */
        for (;;) {
            int p = v[k];
            s = ((f[q] + (double)q * q) - (f[p] + (double)p * p)) / (2.0 * (q - p));
            if (s > z[k])
                break;
            k--;
        }
        k++;
        v[k] = q;
        z[k] = s;
        z[k + 1] = HUGE_VAL;
    }
    k = 0;
    for (int q = 0; q < n; q++) {
        while (z[k + 1] < q)
            k++;
        double dq = q - v[k];
        d[q] = dq * dq + f[v[k]];
    }
}

struct ln__edt {
    const uint8_t *seed; /* 1 where the distance is zero */
    float *dist2;        /* w x h squared distances */
    int w, h;
    double *scratch; /* per thread: 4 n + 2 doubles and n ints (as doubles) */
    size_t scratch_per_thread;
};

static void ln__edt_cols(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ln__edt *e = ctx;
    const int w = e->w, h = e->h;
    double *f = e->scratch + (size_t)thread * e->scratch_per_thread;
    double *d = f + h, *z = d + h;
    int *v = (int *)(z + h + 1);
    for (size_t x = begin; x < end; x++) {
        for (int y = 0; y < h; y++)
            f[y] = e->seed[(size_t)y * w + x] ? 0.0 : LN__EDT_FAR;
        ln__edt_1d(f, h, d, v, z);
        for (int y = 0; y < h; y++)
            e->dist2[(size_t)y * w + x] = (float)(d[y] < LN__EDT_FAR ? d[y] : LN__EDT_FAR);
    }
}

static void ln__edt_rows(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ln__edt *e = ctx;
    const int w = e->w;
    double *f = e->scratch + (size_t)thread * e->scratch_per_thread;
    double *d = f + w, *z = d + w;
    int *v = (int *)(z + w + 1);
    for (size_t y = begin; y < end; y++) {
        float *row = e->dist2 + y * (size_t)w;
        for (int x = 0; x < w; x++)
            f[x] = row[x];
        ln__edt_1d(f, w, d, v, z);
        for (int x = 0; x < w; x++)
            row[x] = (float)d[x];
    }
}

/* Squared distance from every pixel to the nearest seed pixel centre. */
static int ln__edt_2d(const uint8_t *seed, int w, int h, float *dist2, struct ln_error *err)
{
    int n = w > h ? w : h;
    int threads = ln_threads_get();
    struct ln__edt e = {.seed = seed, .dist2 = dist2, .w = w, .h = h};
    /* f, d, z (n + 1) and v (n ints, stored in n doubles). */
    e.scratch_per_thread = 4 * (size_t)n + 2;
    e.scratch = ln_alloc_array((size_t)threads, e.scratch_per_thread * sizeof(double), 0,
                               "distance transform", err);
    if (!e.scratch)
        return err ? err->code : LN_ENOMEM;
    ln_parallel_for_at((size_t)w, 16, threads, ln__edt_cols, &e);
    ln_parallel_for_at((size_t)h, 16, threads, ln__edt_rows, &e);
    free(e.scratch);
    return LN_OK;
}

int ln__sculpt_signed_distance(const float *alpha, int alpha_stride, int w, int h, float *sd,
                               struct ln_error *err)
{
    int rc = LN_OK;
    size_t n = (size_t)w * (size_t)h;
    uint8_t *seed = ln_alloc_array(n, 1, 0, "object mask", err);
    float *other = ln_alloc_array(n, sizeof(float), 0, "distance map", err);
    if (!seed || !other) {
        rc = err ? err->code : LN_ENOMEM;
        goto cleanup;
    }
    /* Distance to the outside, for the inside pixels. */
    for (size_t i = 0; i < n; i++)
        seed[i] = alpha[i * alpha_stride] < 0.5f;
    if ((rc = ln__edt_2d(seed, w, h, sd, err)) < 0)
        goto cleanup;
    /* Distance to the inside, for the outside pixels. */
    for (size_t i = 0; i < n; i++)
        seed[i] = !seed[i];
    if ((rc = ln__edt_2d(seed, w, h, other, err)) < 0)
        goto cleanup;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            float a = alpha[i * alpha_stride];
            float v;
            if (a >= 0.5f) {
                /* The raster's own edge bounds the object too. */
                float edge = (float)(x < w - 1 - x ? x : w - 1 - x);
                float edge_y = (float)(y < h - 1 - y ? y : h - 1 - y);
                edge = (edge < edge_y ? edge : edge_y) + 0.5f;
                v = sqrtf(sd[i]) - 0.5f;
                if (v > edge)
                    v = edge;
                /* Next to the boundary, fractional alpha places the edge
                 * inside the pixel: coverage a puts it a - 0.5 from the
                 * centre for a straight edge. */
                if (v <= 0.5f && a < 1.0f)
                    v = a - 0.5f;
            } else {
                v = -(sqrtf(other[i]) - 0.5f);
                if (v >= -0.5f && a > 0.0f)
                    v = a - 0.5f;
            }
            sd[i] = v;
        }
    }
cleanup:
    free(other);
    free(seed);
    return rc;
}

/* ---- colour --------------------------------------------------------- */

#define LN__ALPHA_VALID 1e-3f

/* Texel states of ln__sculpt_colour_extend. */
enum { LN__EXT_EMPTY, LN__EXT_VALID, LN__EXT_NEW, LN__EXT_QUEUED };

/* Queues the empty 8-neighbours of pixel i (side m) for the next ring. */
static void ln__extend_queue(uint8_t *state, int m, size_t i, uint32_t *next, size_t *n_next)
{
    int y = (int)(i / (size_t)m), x = (int)(i % (size_t)m);
    for (int dy = -1; dy <= 1; dy++) {
        int yy = y + dy;
        if (yy < 0 || yy >= m)
            continue;
        for (int dx = -1; dx <= 1; dx++) {
            int xx = x + dx;
            if (xx < 0 || xx >= m)
                continue;
            size_t j = (size_t)yy * (size_t)m + (size_t)xx;
            if (state[j] == LN__EXT_EMPTY) {
                state[j] = LN__EXT_QUEUED;
                next[(*n_next)++] = (uint32_t)j;
            }
        }
    }
}

int ln__sculpt_colour_extend(const float *prem, int m, int rings, float *rgb, struct ln_error *err)
{
    size_t n = (size_t)m * (size_t)m;
    uint8_t *state = ln_alloc_array(n, 1, 0, "colour mask", err);
    uint32_t *cur = ln_alloc_array(n, sizeof *cur, 0, "colour mask", err);
    uint32_t *next = ln_alloc_array(n, sizeof *next, 0, "colour mask", err);
    if (!state || !cur || !next) {
        free(state);
        free(cur);
        free(next);
        return err ? err->code : LN_ENOMEM;
    }
    double mean[3] = {0, 0, 0}, wsum = 0.0;
    for (size_t i = 0; i < n; i++) {
        float a = prem[4 * i + 3];
        int valid = a > LN__ALPHA_VALID;
        state[i] = valid ? LN__EXT_VALID : LN__EXT_EMPTY;
        for (int c = 0; c < 3; c++)
            rgb[3 * i + c] = valid ? prem[4 * i + c] / a : 0.0f;
        if (valid) {
            for (int c = 0; c < 3; c++)
                mean[c] += prem[4 * i + c];
            wsum += a;
        }
    }
    for (int c = 0; c < 3; c++)
        mean[c] = wsum > 0.0 ? mean[c] / wsum : 0.5;
    /* Ring by ring: an empty pixel next to a valid one takes the mean of
     * its valid 8-neighbours. A ring reads only the pixels valid before it
     * (the ring's own are NEW until it ends), so the order within a ring
     * does not matter; only the empty neighbours of the last ring's pixels
     * are looked at (the first ring's: of every valid pixel). */
    size_t n_cur = 0;
    if (rings > 0)
        for (size_t i = 0; i < n; i++)
            if (state[i] == LN__EXT_VALID)
                ln__extend_queue(state, m, i, cur, &n_cur);
    for (int ring = 0; ring < rings && n_cur > 0; ring++) {
        for (size_t k = 0; k < n_cur; k++) {
            size_t i = cur[k];
            int y = (int)(i / (size_t)m), x = (int)(i % (size_t)m);
            float acc[3] = {0, 0, 0};
            int cnt = 0;
            for (int dy = -1; dy <= 1; dy++) {
                int yy = y + dy;
                if (yy < 0 || yy >= m)
                    continue;
                for (int dx = -1; dx <= 1; dx++) {
                    int xx = x + dx;
                    if (xx < 0 || xx >= m)
                        continue;
                    size_t j = (size_t)yy * (size_t)m + (size_t)xx;
                    if (state[j] == LN__EXT_VALID) {
                        for (int c = 0; c < 3; c++)
                            acc[c] += rgb[3 * j + c];
                        cnt++;
                    }
                }
            }
            /* queued beside a valid pixel, so cnt > 0 */
            for (int c = 0; c < 3; c++)
                rgb[3 * i + c] = acc[c] / (float)cnt;
            state[i] = LN__EXT_NEW;
        }
        for (size_t k = 0; k < n_cur; k++)
            state[cur[k]] = LN__EXT_VALID;
        size_t n_next = 0;
        if (ring + 1 < rings)
            for (size_t k = 0; k < n_cur; k++)
                ln__extend_queue(state, m, cur[k], next, &n_next);
        uint32_t *t = cur;
        cur = next;
        next = t;
        n_cur = n_next;
    }
    for (size_t i = 0; i < n; i++)
        if (state[i] != LN__EXT_VALID)
            for (int c = 0; c < 3; c++)
                rgb[3 * i + c] = (float)mean[c];
    free(state);
    free(cur);
    free(next);
    return LN_OK;
}

struct ln__blur {
    const float *src;
    float *dst;
    int w, h, c, r;
};

static void ln__blur_rows(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ln__blur *b = ctx;
    const int w = b->w, c = b->c, r = b->r;
    const float norm = 1.0f / (float)(2 * r + 1);
    for (size_t y = begin; y < end; y++) {
        const float *restrict s = b->src + y * (size_t)w * c;
        float *restrict d = b->dst + y * (size_t)w * c;
        for (int ch = 0; ch < c; ch++) {
            float acc = 0.0f;
            for (int x = 0; x <= r && x < w; x++)
                acc += s[(size_t)x * c + ch];
            for (int x = 0; x < w; x++) {
                d[(size_t)x * c + ch] = acc * norm;
                int add = x + r + 1, sub = x - r;
                if (add < w)
                    acc += s[(size_t)add * c + ch];
                if (sub >= 0)
                    acc -= s[(size_t)sub * c + ch];
            }
        }
    }
}

#define LN__BLUR_BLOCK 64

/* Vertical pass over blocks of columns, with one running sum per column. */
static void ln__blur_cols(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ln__blur *b = ctx;
    const int w = b->w, h = b->h, c = b->c, r = b->r;
    const size_t stride = (size_t)w * c;
    const float norm = 1.0f / (float)(2 * r + 1);
    float acc[LN__BLUR_BLOCK * 4];
    for (size_t blk = begin; blk < end; blk++) {
        size_t x0 = blk * LN__BLUR_BLOCK * c;
        size_t nx = (size_t)LN__BLUR_BLOCK * c;
        if (x0 + nx > stride)
            nx = stride - x0;
        memset(acc, 0, sizeof acc);
        for (int y = 0; y <= r && y < h; y++)
            for (size_t i = 0; i < nx; i++)
                acc[i] += b->src[(size_t)y * stride + x0 + i];
        for (int y = 0; y < h; y++) {
            float *restrict d = b->dst + (size_t)y * stride + x0;
            for (size_t i = 0; i < nx; i++)
                d[i] = acc[i] * norm;
            int add = y + r + 1, sub = y - r;
            if (add < h)
                for (size_t i = 0; i < nx; i++)
                    acc[i] += b->src[(size_t)add * stride + x0 + i];
            if (sub >= 0)
                for (size_t i = 0; i < nx; i++)
                    acc[i] -= b->src[(size_t)sub * stride + x0 + i];
        }
    }
}

void ln__sculpt_box_blur(float *data, int w, int h, int c, int radius, int passes, float *scratch)
{
    if (radius < 1 || c > 4)
        return;
    size_t blocks = ((size_t)w + LN__BLUR_BLOCK - 1) / LN__BLUR_BLOCK;
    for (int p = 0; p < passes; p++) {
        struct ln__blur h_pass = {.src = data, .dst = scratch, .w = w, .h = h, .c = c, .r = radius};
        ln_parallel_for((size_t)h, 16, ln__blur_rows, &h_pass);
        struct ln__blur v_pass = {.src = scratch, .dst = data, .w = w, .h = h, .c = c, .r = radius};
        ln_parallel_for(blocks, 1, ln__blur_cols, &v_pass);
    }
}

/* ---- the engine ----------------------------------------------------- */

static int ln__sculpt_run(const struct ln_engine *eng, const struct ln_engine_input *in,
                          const struct ln_generate_options *opt, const struct ln_progress *progress,
                          struct ln_mesh *out, struct ln_colorizer *bake,
                          struct ln_generate_report *rep, struct ln_error *err)
{
    int res = opt->resolution ? opt->resolution : 256;
    if (res < LN__SCULPT_MIN_RESOLUTION || res > LN__SCULPT_MAX_RESOLUTION)
        return ln_error_set(err, LN_EINVAL,
                            "the sculpt engine works at resolutions %d to %d (got %d)",
                            LN__SCULPT_MIN_RESOLUTION, LN__SCULPT_MAX_RESOLUTION, res);
    if (in->n_images < 1 || in->n_images > LN_MAX_VIEWS)
        return ln_error_set(err, LN_EINVAL, "between 1 and %d images are needed (got %zu)",
                            LN_MAX_VIEWS, in->n_images);
    if (in->n_images == 1)
        return ln__sculpt_run_single(in, opt, res, progress, out, bake, rep, err);
    return ln__sculpt_run_multi(in, opt, res, progress, out, bake, rep, err);
}

static void ln__sculpt_destroy(struct ln_engine *eng)
{
    free(eng);
}

static const struct ln_engine_ops ln__sculpt_ops = {
    .name = "sculpt",
    .max_images = LN_MAX_VIEWS,
    .run = ln__sculpt_run,
    .destroy = ln__sculpt_destroy,
};

int ln_engine_sculpt_new(struct ln_engine **out, struct ln_error *err)
{
    struct ln_engine *eng = ln_xcalloc(1, sizeof *eng);
    eng->ops = &ln__sculpt_ops;
    eng->impl = NULL;
    *out = eng;
    return LN_OK;
}
