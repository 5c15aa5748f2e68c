/*
 * Foreground separation for backgrounds that are not plain (a desk, a
 * patterned cloth, a room): GrabCut (Rother, Kolmogorov and Blake,
 * "GrabCut: interactive foreground extraction using iterated graph cuts",
 * SIGGRAPH 2004) with the image border in place of the user's rectangle.
 * Object and background are each a Gaussian mixture in RGB (five full-
 * covariance components, started by k-means); every pixel pays the negative
 * log-likelihood of its label, neighbours pay the contrast-sensitive Potts
 * cost of the paper for differing labels, a mild centre prior makes the
 * frame's middle cheaper as object, and a minimum cut (ln_maxflow.h)
 * relabels; models and cut alternate a few times.
 *
 * It runs on a copy whose long side is at most 320 pixels (block means), so
 * the cost does not grow with the photo: a 1024 x 1024 image needs one pass
 * to shrink it and one over the pixels near the shrunken boundary, which
 * are decided again from their own colours under both mixtures, with the
 * shrunken label's bilinear value as a prior, then smoothed by a 3 x 3
 * majority.
 *
 * Start: the background mixture is fitted to the border band; pixels inside
 * whose colour that mixture explains worse than 95% of the band's own are
 * the first object. At the end the object must mostly be made of such
 * colours, otherwise nothing stands apart from the background and the
 * image is refused (a photo that is all texture, or an object filling the
 * frame).
 */
#include "ln_foreground_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_maxflow.h"
#include "ln_threads.h"

/* Long side of the copy the cut runs on. */
#define LN__GC_MAX_SIDE 320
/* Components per mixture. */
#define LN__GC_K 5
/* Model/cut rounds at most (fewer when the labels stop changing). */
#define LN__GC_ROUNDS 5
/* Potts weight of the paper (gamma = 50) and the scale of costs (nats) to
 * integer capacities. */
#define LN__GC_GAMMA 50.0
#define LN__GC_SCALE 32.0
/* A pixel's data cost is capped (an outlier colour should not dominate). */
#define LN__GC_MAX_COST 30.0
/* Centre prior: labelling a pixel object costs this many nats times its
 * squared distance from the centre (1 at the middle of a side). */
#define LN__GC_CENTRE 1.0
/* Regularisation added to each covariance diagonal (levels squared). */
#define LN__GC_COV_REG 4.0
/* The band whose colours start the background model, as a fraction of the
 * short side (clamped to [3, 12] pixels of the copy), and the ring kept
 * background whatever its colour. */
#define LN__GC_BAND_DIV 24
#define LN__GC_HARD_RING 1
/* Percentile of the band's own costs above which a colour is unlike the
 * border, and the share of the object that must be unlike it. */
#define LN__GC_UNLIKE_PCT 0.95
#define LN__GC_MIN_UNLIKE 0.5
/* A side whose band is this much unlike the other three sides' (share of
 * its pixels) is where the object meets the frame: not background. */
#define LN__GC_SIDE_UNLIKE 0.3
/* A boundary pixel within this squared distance (levels^2) of a segment
 * between an object and a background component mean is a blend of the two,
 * decided by its share; the shrunken label tilts the share by this much. */
#define LN__GC_MIX_R2 (30.0 * 30.0)
#define LN__GC_MIX_PRIOR 0.2
/* Prior weight (nats) of the shrunken label when a boundary pixel is decided
 * again at full resolution. */
#define LN__GC_UPSAMPLE_PRIOR 2.0

struct ln__gmm {
    int k;
    double logw[LN__GC_K]; /* log weight - log sqrt((2 pi)^3 det) */
    double mean[LN__GC_K][3];
    double icov[LN__GC_K][6]; /* inverse covariance: xx xy xz yy yz zz */
};

/* log of the component's density (without the weight's normaliser) at z. */
static inline double ln__gmm_comp(const struct ln__gmm *g, int j, const float z[3])
{
    const double a = z[0] - g->mean[j][0], b = z[1] - g->mean[j][1], c = z[2] - g->mean[j][2];
    const double *m = g->icov[j];
    const double q = a * (m[0] * a + 2.0 * (m[1] * b + m[2] * c)) +
                     b * (m[3] * b + 2.0 * m[4] * c) + c * m[5] * c;
    return g->logw[j] - 0.5 * q;
}

/* Negative log-likelihood of z, capped; *best gets the likeliest component. */
static double ln__gmm_cost(const struct ln__gmm *g, const float z[3], int *best)
{
    double l[LN__GC_K], top = -INFINITY;
    int arg = 0;
    for (int j = 0; j < g->k; j++) {
        l[j] = ln__gmm_comp(g, j, z);
        if (l[j] > top) {
            top = l[j];
            arg = j;
        }
    }
    double s = 0.0;
    for (int j = 0; j < g->k; j++)
        if (l[j] - top > -40.0) /* below that, under 1e-17 of the top */
            s += exp(l[j] - top);
    if (best)
        *best = arg;
    const double c = -(top + log(s));
    return c < LN__GC_MAX_COST ? (c > -LN__GC_MAX_COST ? c : -LN__GC_MAX_COST) : LN__GC_MAX_COST;
}

/* Fits the mixture to the pixels with label[i] == want, component comp[i]
 * each. Components left with too few pixels are dropped. */
static void ln__gmm_fit(struct ln__gmm *g, const float *z, const uint8_t *label, uint8_t want,
                        const uint8_t *comp, size_t n)
{
    double cnt[LN__GC_K] = {0}, s[LN__GC_K][3] = {{0}}, ss[LN__GC_K][6] = {{0}};
    for (size_t i = 0; i < n; i++) {
        if (label[i] != want)
            continue;
        const int j = comp[i];
        const float *p = z + i * 3;
        cnt[j] += 1.0;
        s[j][0] += p[0], s[j][1] += p[1], s[j][2] += p[2];
        ss[j][0] += (double)p[0] * p[0], ss[j][1] += (double)p[0] * p[1];
        ss[j][2] += (double)p[0] * p[2], ss[j][3] += (double)p[1] * p[1];
        ss[j][4] += (double)p[1] * p[2], ss[j][5] += (double)p[2] * p[2];
    }
    double total = 0.0;
    for (int j = 0; j < LN__GC_K; j++)
        total += cnt[j] >= 4.0 ? cnt[j] : 0.0;
    g->k = 0;
    for (int j = 0; j < LN__GC_K; j++) {
        if (cnt[j] < 4.0)
            continue;
        const int o = g->k++;
        double m[3], c[6];
        for (int e = 0; e < 3; e++)
            m[e] = s[j][e] / cnt[j];
        c[0] = ss[j][0] / cnt[j] - m[0] * m[0] + LN__GC_COV_REG;
        c[1] = ss[j][1] / cnt[j] - m[0] * m[1];
        c[2] = ss[j][2] / cnt[j] - m[0] * m[2];
        c[3] = ss[j][3] / cnt[j] - m[1] * m[1] + LN__GC_COV_REG;
        c[4] = ss[j][4] / cnt[j] - m[1] * m[2];
        c[5] = ss[j][5] / cnt[j] - m[2] * m[2] + LN__GC_COV_REG;
        /* Inverse of the symmetric 3 x 3 by cofactors. */
        const double i0 = c[3] * c[5] - c[4] * c[4], i1 = c[2] * c[4] - c[1] * c[5];
        const double i2 = c[1] * c[4] - c[2] * c[3], i3 = c[0] * c[5] - c[2] * c[2];
        const double i4 = c[1] * c[2] - c[0] * c[4], i5 = c[0] * c[3] - c[1] * c[1];
        double det = c[0] * i0 + c[1] * i1 + c[2] * i2;
        if (det < 1e-9)
            det = 1e-9;
        const double inv[6] = {i0 / det, i1 / det, i2 / det, i3 / det, i4 / det, i5 / det};
        memcpy(g->mean[o], m, sizeof m);
        memcpy(g->icov[o], inv, sizeof inv);
        g->logw[o] = log(cnt[j] / total) - 0.5 * log(det) - 1.5 * log(6.283185307179586);
    }
}

/* Deterministic uniform numbers for k-means++ seeding. */
static double ln__gc_uniform(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (double)((*s * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static inline float ln__gc_d2(const float *a, const float *b)
{
    const float x = a[0] - b[0], y = a[1] - b[1], z = a[2] - b[2];
    return x * x + y * y + z * z;
}

/* Assigns comp[i] for the pixels with label[i] == want by k-means on up to
 * 4096 of them (k-means++ seeds, a fixed seed), then the nearest centre. */
#define LN__GC_KMEANS_SAMPLES 4096
static void ln__gc_kmeans(const float *z, const uint8_t *label, uint8_t want, uint8_t *comp,
                          size_t n, float *scratch)
{
    enum { MAX_SAMPLES = LN__GC_KMEANS_SAMPLES, ROUNDS = 8 };
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += label[i] == want;
    if (m == 0)
        return;
    const size_t step = (m + MAX_SAMPLES - 1) / MAX_SAMPLES;
    float(*smp)[3] = (float(*)[3])scratch;
    float *dmin = scratch + 3 * MAX_SAMPLES;
    size_t ns = 0, seen = 0;
    for (size_t i = 0; i < n && ns < MAX_SAMPLES; i++)
        if (label[i] == want && seen++ % step == 0)
            memcpy(smp[ns++], z + i * 3, sizeof smp[0]);
    float cen[LN__GC_K][3];
    uint64_t rs = 0x2545F4914F6CDD1DULL;
    memcpy(cen[0], smp[(size_t)(ln__gc_uniform(&rs) * (double)ns) % ns], sizeof cen[0]);
    int k = 1;
    for (; k < LN__GC_K; k++) {
        double total = 0.0;
        for (size_t i = 0; i < ns; i++) {
            float d = ln__gc_d2(smp[i], cen[0]);
            for (int j = 1; j < k; j++) {
                const float e = ln__gc_d2(smp[i], cen[j]);
                d = e < d ? e : d;
            }
            dmin[i] = d;
            total += d;
        }
        if (total <= 0.0)
            break; /* fewer distinct colours than components */
        double r = ln__gc_uniform(&rs) * total;
        size_t pick = ns - 1;
        for (size_t i = 0; i < ns; i++) {
            r -= dmin[i];
            if (r <= 0.0) {
                pick = i;
                break;
            }
        }
        memcpy(cen[k], smp[pick], sizeof cen[0]);
    }
    for (int round = 0; round < ROUNDS; round++) {
        double acc[LN__GC_K][4] = {{0}};
        for (size_t i = 0; i < ns; i++) {
            int best = 0;
            float bd = ln__gc_d2(smp[i], cen[0]);
            for (int j = 1; j < k; j++) {
                const float e = ln__gc_d2(smp[i], cen[j]);
                if (e < bd)
                    bd = e, best = j;
            }
            acc[best][0] += smp[i][0], acc[best][1] += smp[i][1], acc[best][2] += smp[i][2];
            acc[best][3] += 1.0;
        }
        for (int j = 0; j < k; j++)
            if (acc[j][3] > 0.0)
                for (int e = 0; e < 3; e++)
                    cen[j][e] = (float)(acc[j][e] / acc[j][3]);
    }
    for (size_t i = 0; i < n; i++) {
        if (label[i] != want)
            continue;
        int best = 0;
        float bd = ln__gc_d2(z + i * 3, cen[0]);
        for (int j = 1; j < k; j++) {
            const float e = ln__gc_d2(z + i * 3, cen[j]);
            if (e < bd)
                bd = e, best = j;
        }
        comp[i] = (uint8_t)best;
    }
}

/* The shrunken copy and the cut's working state. */
struct ln__gc {
    const struct ln_image *img;
    int w, h, f;    /* full size and shrink factor */
    int sw, sh;     /* shrunken size */
    float *z;       /* shrunken RGB, 0..255 */
    float *scratch; /* k-means samples */
    uint8_t *lab;   /* 1 object, 0 background */
    uint8_t *comp;  /* mixture component of each pixel */
    uint8_t *mixed; /* 1 where the 3 x 3 labels around a pixel differ */
    float *cost;    /* per pixel: object cost, background cost */
    struct ln__gmm obj, bg;
    unsigned bg_sides; /* sides whose band is background (ln__gc_sides) */
    uint8_t *mask;     /* full-size output */
    uint8_t *tmp;      /* full-size scratch */
};

static inline void ln__gc_rgb(const struct ln_image *img, size_t i, float out[3])
{
    const uint8_t *p = img->data + i * (size_t)img->channels;
    if (img->channels >= 3) {
        out[0] = p[0], out[1] = p[1], out[2] = p[2];
    } else {
        out[0] = out[1] = out[2] = p[0];
    }
}

/* Block means of f x f pixels (clipped at the right and bottom edges). */
static void ln__gc_shrink_rows(void *ctx, size_t begin, size_t end, int thread)
{
    struct ln__gc *gc = ctx;
    const int f = gc->f;
    for (size_t sy = begin; sy < end; sy++) {
        const int y0 = (int)sy * f, y1 = y0 + f < gc->h ? y0 + f : gc->h;
        for (int sx = 0; sx < gc->sw; sx++) {
            const int x0 = sx * f, x1 = x0 + f < gc->w ? x0 + f : gc->w;
            float s[3] = {0, 0, 0};
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++) {
                    float c[3];
                    ln__gc_rgb(gc->img, (size_t)y * gc->w + x, c);
                    s[0] += c[0], s[1] += c[1], s[2] += c[2];
                }
            const float inv = 1.0f / (float)((y1 - y0) * (x1 - x0));
            float *o = gc->z + (sy * (size_t)gc->sw + sx) * 3;
            o[0] = s[0] * inv, o[1] = s[1] * inv, o[2] = s[2] * inv;
        }
    }
}

/* Data costs under both mixtures, centre prior included. */
static void ln__gc_cost_rows(void *ctx, size_t begin, size_t end, int thread)
{
    struct ln__gc *gc = ctx;
    for (size_t y = begin; y < end; y++) {
        const double v = 2.0 * ((double)y + 0.5) / gc->sh - 1.0;
        for (int x = 0; x < gc->sw; x++) {
            const size_t i = y * (size_t)gc->sw + x;
            const double u = 2.0 * ((double)x + 0.5) / gc->sw - 1.0;
            const float *z = gc->z + i * 3;
            gc->cost[i * 2] =
                (float)(ln__gmm_cost(&gc->obj, z, NULL) + LN__GC_CENTRE * (u * u + v * v));
            gc->cost[i * 2 + 1] = (float)ln__gmm_cost(&gc->bg, z, NULL);
        }
    }
}

/* comp[i] = the likeliest component of pixel i's own mixture. */
static void ln__gc_assign_rows(void *ctx, size_t begin, size_t end, int thread)
{
    struct ln__gc *gc = ctx;
    for (size_t i = begin * (size_t)gc->sw; i < end * (size_t)gc->sw; i++) {
        int best = 0;
        ln__gmm_cost(gc->lab[i] ? &gc->obj : &gc->bg, gc->z + i * 3, &best);
        gc->comp[i] = (uint8_t)best;
    }
}

/* Sides (bit 0 top, 1 bottom, 2 left, 3 right) within r pixels of (x, y). */
static unsigned ln__gc_sides(const struct ln__gc *gc, int x, int y, int r)
{
    return (unsigned)(y < r) | (unsigned)(y >= gc->sh - r) << 1 | (unsigned)(x < r) << 2 |
           (unsigned)(x >= gc->sw - r) << 3;
}

/* Within r pixels of a side that is background. */
static int ln__gc_in_ring(const struct ln__gc *gc, int x, int y, int r)
{
    return (ln__gc_sides(gc, x, y, r) & gc->bg_sides) != 0;
}

/* Fills the graph from the costs; returns nothing, the grid is cleared
 * first. */
static void ln__gc_graph(const struct ln__gc *gc, struct ln_maxflow_grid *g, double beta)
{
    const int sw = gc->sw, sh = gc->sh;
    ln_maxflow_grid_clear(g);
    /* Forward half of the neighbourhood; the other four are the reverse
     * arcs. */
    static const int fwd[4] = {4, 5, 6, 7};
    int32_t max_pair = 0;
    for (int y = 0; y < sh; y++)
        for (int x = 0; x < sw; x++) {
            const size_t i = (size_t)y * sw + x;
            for (int e = 0; e < 4; e++) {
                const int d = fwd[e];
                const int nx = x + ln_maxflow_dx[d], ny = y + ln_maxflow_dy[d];
                if (nx < 0 || nx >= sw || ny >= sh)
                    continue;
                const size_t j = (size_t)ny * sw + nx;
                const double dist = (d == 4 || d == 6) ? 1.0 : 1.4142135623730951;
                const double vcost =
                    LN__GC_GAMMA / dist * exp(-beta * ln__gc_d2(gc->z + i * 3, gc->z + j * 3));
                const int32_t c = (int32_t)lround(LN__GC_SCALE * vcost);
                g->cap[i * 8 + d] = c;
                g->cap[j * 8 + (7 - d)] = c;
                max_pair = c > max_pair ? c : max_pair;
            }
        }
    /* A hard background pixel can pay for every neighbour arc. */
    const int32_t hard = 8 * max_pair + (int32_t)(4.0 * LN__GC_SCALE * LN__GC_MAX_COST) + 1;
    for (int y = 0; y < sh; y++)
        for (int x = 0; x < sw; x++) {
            const size_t i = (size_t)y * sw + x;
            if (ln__gc_in_ring(gc, x, y, LN__GC_HARD_RING)) {
                g->tr[i] = -hard;
                continue;
            }
            /* Source side = object: the source arc is cut (paid) when the
             * pixel is background, the sink arc when it is object. */
            const double d = (double)gc->cost[i * 2 + 1] - (double)gc->cost[i * 2];
            g->tr[i] = (int32_t)lround(LN__GC_SCALE * d);
        }
}

static int ln__gc_cmp_float(const void *a, const void *b)
{
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Decides again, at full size, the pixels near the shrunken boundary. */
static void ln__gc_upsample_rows(void *ctx, size_t begin, size_t end, int thread)
{
    struct ln__gc *gc = ctx;
    const int f = gc->f, sw = gc->sw, sh = gc->sh, w = gc->w;
    for (size_t y = begin; y < end; y++) {
        const int sy = (int)y / f;
        for (int x = 0; x < w; x++) {
            const int sx = x / f;
            const uint8_t l = gc->lab[(size_t)sy * sw + sx];
            const int mixed = gc->mixed[(size_t)sy * sw + sx];
            uint8_t *out = gc->tmp + y * (size_t)w + x;
            if (!mixed) {
                *out = l;
                continue;
            }
            /* Bilinear value of the shrunken labels at this pixel. */
            const float fx = ((float)x + 0.5f) / (float)f - 0.5f;
            const float fy = ((float)y + 0.5f) / (float)f - 0.5f;
            int x0 = (int)floorf(fx), y0 = (int)floorf(fy);
            const float ax = fx - (float)x0, ay = fy - (float)y0;
            const int x1 = x0 + 1 < sw ? x0 + 1 : sw - 1, y1 = y0 + 1 < sh ? y0 + 1 : sh - 1;
            x0 = x0 < 0 ? 0 : x0;
            y0 = y0 < 0 ? 0 : y0;
            const float m = (1 - ay) * ((1 - ax) * gc->lab[(size_t)y0 * sw + x0] +
                                        ax * gc->lab[(size_t)y0 * sw + x1]) +
                            ay * ((1 - ax) * gc->lab[(size_t)y1 * sw + x0] +
                                  ax * gc->lab[(size_t)y1 * sw + x1]);
            /* The pixel's own colour: a neighbourhood mean would pull
             * the edge outward by the object's share of it. */
            float z[3];
            ln__gc_rgb(gc->img, y * (size_t)w + x, z);
            /* An edge pixel mixes the two sides: the pair of component
             * means whose segment passes nearest to it gives its object
             * share, which decides (over one half). */
            double best_r2 = INFINITY, alpha = 0.0;
            for (int j = 0; j < gc->obj.k; j++)
                for (int k = 0; k < gc->bg.k; k++) {
                    const double *fm = gc->obj.mean[j], *bm = gc->bg.mean[k];
                    const double e[3] = {fm[0] - bm[0], fm[1] - bm[1], fm[2] - bm[2]};
                    const double d[3] = {z[0] - bm[0], z[1] - bm[1], z[2] - bm[2]};
                    const double ee = e[0] * e[0] + e[1] * e[1] + e[2] * e[2];
                    double a = ee > 0.0 ? (d[0] * e[0] + d[1] * e[1] + d[2] * e[2]) / ee : 0.0;
                    a = a < 0.0 ? 0.0 : (a > 1.0 ? 1.0 : a);
                    double r2 = 0.0;
                    for (int c = 0; c < 3; c++)
                        r2 += (d[c] - a * e[c]) * (d[c] - a * e[c]);
                    if (r2 < best_r2)
                        best_r2 = r2, alpha = a;
                }
            int obj;
            if (best_r2 <= LN__GC_MIX_R2) {
                obj = alpha + LN__GC_MIX_PRIOR * (m - 0.5) > 0.5;
            } else {
                const double co =
                    ln__gmm_cost(&gc->obj, z, NULL) + LN__GC_UPSAMPLE_PRIOR * (1.0 - m);
                const double cb = ln__gmm_cost(&gc->bg, z, NULL) + LN__GC_UPSAMPLE_PRIOR * m;
                obj = co < cb;
            }
            *out = (uint8_t)(2 + obj); /* 2, 3: decided here */
        }
    }
}

/* 3 x 3 majority over the pixels decided at full size; the others keep
 * their label. */
static void ln__gc_majority_rows(void *ctx, size_t begin, size_t end, int thread)
{
    struct ln__gc *gc = ctx;
    const int w = gc->w, h = gc->h;
    for (size_t y = begin; y < end; y++) {
        for (int x = 0; x < w; x++) {
            const size_t i = y * (size_t)w + x;
            const uint8_t v = gc->tmp[i];
            if (v < 2) {
                gc->mask[i] = v;
                continue;
            }
            int on = 0, cnt = 0;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    const int nx = x + dx, ny = (int)y + dy;
                    if (nx < 0 || ny < 0 || nx >= w || ny >= h)
                        continue;
                    on += gc->tmp[(size_t)ny * w + nx] & 1;
                    cnt++;
                }
            gc->mask[i] = 2 * on > cnt;
        }
    }
}

int ln__fg_grabcut(const struct ln_image *img, uint8_t *mask, struct ln_error *err)
{
    struct ln__gc gc = {.img = img, .w = img->width, .h = img->height, .mask = mask};
    const int long_side = gc.w > gc.h ? gc.w : gc.h;
    gc.f = (long_side + LN__GC_MAX_SIDE - 1) / LN__GC_MAX_SIDE;
    gc.sw = (gc.w + gc.f - 1) / gc.f;
    gc.sh = (gc.h + gc.f - 1) / gc.f;
    const size_t sn = (size_t)gc.sw * gc.sh;
    struct ln_maxflow_grid g = {0};
    float *band = NULL;
    int rc = 0;

    gc.z = ln_alloc_array(sn * 5 + 4 * LN__GC_KMEANS_SAMPLES, sizeof(float), 0,
                          "foreground colour models", err);
    gc.lab = gc.z ? ln_alloc_array(sn, 3, 0, "foreground colour models", err) : NULL;
    if (!gc.lab) {
        rc = LN_ENOMEM;
        goto done;
    }
    gc.cost = gc.z + 3 * sn;
    gc.scratch = gc.z + 5 * sn;
    gc.comp = gc.lab + sn;
    gc.mixed = gc.lab + 2 * sn;
    if ((rc = ln_maxflow_grid_init(&g, gc.sw, gc.sh, err)) < 0)
        goto done;
    ln_parallel_for((size_t)gc.sh, 8, ln__gc_shrink_rows, &gc);

    const int short_side = gc.sw < gc.sh ? gc.sw : gc.sh;
    int bw = short_side / LN__GC_BAND_DIV;
    bw = bw < 3 ? 3 : (bw > 12 ? 12 : bw);
    band = ln_alloc_array(sn, sizeof(float), 0, "foreground colour models", err);
    if (!band) {
        rc = LN_ENOMEM;
        goto done;
    }

    /* An object standing on the frame's edge fills part of that side's
     * band: each side is compared with a mixture of the other three, and
     * the side most unlike them, if it is clearly so, is not background. */
    gc.bg_sides = 15;
    double worst_share = 0.0;
    int worst = -1;
    for (int side = 0; side < 4; side++) {
        for (int y = 0; y < gc.sh; y++)
            for (int x = 0; x < gc.sw; x++) {
                const unsigned m = ln__gc_sides(&gc, x, y, bw);
                gc.lab[(size_t)y * gc.sw + x] = m >> side & 1 ? 2 : (m ? 0 : 1);
            }
        ln__gc_kmeans(gc.z, gc.lab, 0, gc.comp, sn, gc.scratch);
        ln__gmm_fit(&gc.bg, gc.z, gc.lab, 0, gc.comp, sn);
        size_t nb = 0;
        for (size_t i = 0; i < sn; i++)
            if (gc.lab[i] == 0)
                band[nb++] = (float)ln__gmm_cost(&gc.bg, gc.z + i * 3, NULL);
        if (nb == 0 || gc.bg.k == 0)
            continue;
        qsort(band, nb, sizeof(float), ln__gc_cmp_float);
        const float thr = band[(size_t)(LN__GC_UNLIKE_PCT * (double)(nb - 1))] + 1.0f;
        size_t n_side = 0, n_unlike = 0;
        for (size_t i = 0; i < sn; i++)
            if (gc.lab[i] == 2) {
                n_side++;
                n_unlike += ln__gmm_cost(&gc.bg, gc.z + i * 3, NULL) > thr;
            }
        const double share = n_side ? (double)n_unlike / (double)n_side : 0.0;
        if (share > worst_share) {
            worst_share = share;
            worst = side;
        }
    }
    if (worst >= 0 && worst_share > LN__GC_SIDE_UNLIKE)
        gc.bg_sides &= ~(1u << worst);

    /* Background mixture of the border band. */
    for (int y = 0; y < gc.sh; y++)
        for (int x = 0; x < gc.sw; x++)
            gc.lab[(size_t)y * gc.sw + x] = ln__gc_in_ring(&gc, x, y, bw) ? 0 : 1;
    ln__gc_kmeans(gc.z, gc.lab, 0, gc.comp, sn, gc.scratch);
    ln__gmm_fit(&gc.bg, gc.z, gc.lab, 0, gc.comp, sn);

    /* Colours the band's mixture explains worse than most of the band are
     * unlike the border: the first object. */
    float *unlike = band; /* per pixel, reused below */
    size_t nb = 0;
    for (size_t i = 0; i < sn; i++)
        if (!gc.lab[i])
            unlike[nb++] = (float)ln__gmm_cost(&gc.bg, gc.z + i * 3, NULL);
    qsort(unlike, nb, sizeof(float), ln__gc_cmp_float);
    const float thr = unlike[(size_t)(LN__GC_UNLIKE_PCT * (double)(nb - 1))] + 1.0f;
    size_t n_obj = 0;
    for (size_t i = 0; i < sn; i++) {
        const float c = (float)ln__gmm_cost(&gc.bg, gc.z + i * 3, NULL);
        unlike[i] = c > thr;
        if (gc.lab[i]) {
            gc.lab[i] = c > thr;
            n_obj += gc.lab[i];
        }
    }
    const size_t min_area = sn / 4000 > 16 ? sn / 4000 : 16;
    if (n_obj < min_area) {
        rc = ln_error_set(err, LN_EUNUSABLE, "%s", ln__fg_fills_frame);
        goto done;
    }

    /* beta = 1 / (2 <|z_i - z_j|^2>) over neighbouring pairs (paper). */
    double sum = 0.0;
    size_t n_pairs = 0;
    for (int y = 0; y < gc.sh; y++)
        for (int x = 0; x < gc.sw; x++) {
            const float *p = gc.z + ((size_t)y * gc.sw + x) * 3;
            if (x + 1 < gc.sw)
                sum += ln__gc_d2(p, p + 3), n_pairs++;
            if (y + 1 < gc.sh)
                sum += ln__gc_d2(p, p + (size_t)gc.sw * 3), n_pairs++;
        }
    const double beta = sum > 0.0 ? 0.5 * (double)n_pairs / sum : 0.0;

    ln__gc_kmeans(gc.z, gc.lab, 1, gc.comp, sn, gc.scratch);
    ln__gc_kmeans(gc.z, gc.lab, 0, gc.comp, sn, gc.scratch);
    for (int round = 0; round < LN__GC_ROUNDS; round++) {
        if (round > 0)
            ln_parallel_for((size_t)gc.sh, 8, ln__gc_assign_rows, &gc);
        ln__gmm_fit(&gc.obj, gc.z, gc.lab, 1, gc.comp, sn);
        ln__gmm_fit(&gc.bg, gc.z, gc.lab, 0, gc.comp, sn);
        if (gc.obj.k == 0 || gc.bg.k == 0)
            break;
        ln_parallel_for((size_t)gc.sh, 8, ln__gc_cost_rows, &gc);
        ln__gc_graph(&gc, &g, beta);
        ln_maxflow_grid_solve(&g);
        size_t changed = 0;
        n_obj = 0;
        for (size_t i = 0; i < sn; i++) {
            const uint8_t l = (uint8_t)ln_maxflow_grid_source_side(&g, i);
            changed += l != gc.lab[i];
            gc.lab[i] = l;
            n_obj += l;
        }
        if (n_obj < min_area || changed < sn / 2000 + 1)
            break;
    }

    /* The object must mostly be colours unlike the border's. */
    size_t n_unlike = 0;
    for (size_t i = 0; i < sn; i++)
        n_unlike += gc.lab[i] && unlike[i] > 0.5f;
    if (n_obj < min_area || (double)n_unlike < LN__GC_MIN_UNLIKE * (double)n_obj) {
        rc = ln_error_set(err, LN_EUNUSABLE, "%s", ln__fg_fills_frame);
        goto done;
    }

    if (gc.f == 1) {
        memcpy(mask, gc.lab, sn);
    } else {
        /* Final mixtures for the boundary decisions. */
        ln_parallel_for((size_t)gc.sh, 8, ln__gc_assign_rows, &gc);
        ln__gmm_fit(&gc.obj, gc.z, gc.lab, 1, gc.comp, sn);
        ln__gmm_fit(&gc.bg, gc.z, gc.lab, 0, gc.comp, sn);
        for (int y = 0; y < gc.sh; y++)
            for (int x = 0; x < gc.sw; x++) {
                const uint8_t l = gc.lab[(size_t)y * gc.sw + x];
                int mixed = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        const int nx = x + dx, ny = y + dy;
                        mixed |= nx >= 0 && ny >= 0 && nx < gc.sw && ny < gc.sh &&
                                 gc.lab[(size_t)ny * gc.sw + nx] != l;
                    }
                gc.mixed[(size_t)y * gc.sw + x] = (uint8_t)mixed;
            }
        gc.tmp = ln_alloc_array((size_t)gc.w, (size_t)gc.h, 0, "foreground mask", err);
        if (!gc.tmp) {
            rc = LN_ENOMEM;
            goto done;
        }
        ln_parallel_for((size_t)gc.h, 16, ln__gc_upsample_rows, &gc);
        ln_parallel_for((size_t)gc.h, 16, ln__gc_majority_rows, &gc);
    }

done:
    free(gc.tmp);
    free(band);
    ln_maxflow_grid_free(&g);
    free(gc.lab);
    free(gc.z);
    return rc;
}
