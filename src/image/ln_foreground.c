/*
 * Foreground separation for opaque photos of one object. On a plain or
 * near-uniform background (a studio sweep, a table top, a wall) the
 * background is modelled from the image border, a band a few pixels wide:
 * a per-channel quadratic surface over (x, y) fitted robustly (median and
 * MAD to reject the parts of the border the object touches, then least
 * squares on the inliers), so smooth illumination gradients and vignettes
 * stay background. Pixels close to that model, judged on a 3x3 box-blurred
 * copy to beat sensor noise, are grown inward from the border with a
 * scanline flood fill; everything the flood cannot reach is object. When
 * the border is not near-uniform the colour models and graph cut of
 * ln_foreground_grabcut.c make the mask instead. Either mask is then
 * cleaned (one boundary pixel re-checked unblurred, opening and closing,
 * largest component) and enclosed regions are filled unless the hole rule
 * (ln__fg_open_holes) opens them.
 *
 * Cost is a few linear passes: row-parallel passes for the blur and the
 * distances (fused, with three rolling rows per thread instead of a blurred
 * copy), the boundary check, the morphology and the output; sequential
 * scanline fills for the connectivity steps. A 1024 x 1024 photo takes
 * 30-50 ms on two cores, much of it first-touch page faults.
 */
#include "ln_foreground.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_foreground_internal.h"
#include "ln_threads.h"

/* Smallest side segmented by colour: the border band and the morphology
 * need some room. */
#define LN__FG_MIN_SIDE 16
/* At most this many border samples feed the background fit. */
#define LN__FG_MAX_SAMPLES 16384
/* Automatic tolerance (0..255 RGB distance) added to three times the
 * border's spread: small enough for object parts a few tens of levels
 * from the background, large enough for JPEG blocking and shading. */
#define LN__FG_AUTO_TOLERANCE 10.0
/* The threshold never goes below this distance. */
#define LN__FG_MIN_THRESHOLD 6.0
/* A border whose colour spread (RGB distance, blurred) exceeds this is not
 * a plain background but scene or object. */
#define LN__FG_MAX_SPREAD 24.0
/* Below this fraction of border samples matching the model, the object (or
 * clutter) covers nearly all of the border. */
#define LN__FG_MIN_BORDER_BG 0.25
/* Fraction of the outermost pixel ring covered by the final mask above
 * which the object is said to fill the frame. */
#define LN__FG_MAX_BORDER_OBJECT 0.9
/* Value marking a pixel waiting on the fill stack. */
#define LN__FG_QUEUED 255

const char *const ln__fg_fills_frame =
    "the object fills the whole frame: there is no plain background around it to separate "
    "(leave a margin around the object or supply an image with a transparent background)";
static const char *const ln__fg_no_object =
    "no object found: the image looks like plain background";

/* Number of coefficients of the background model
 * b(u, v) = a0 + a1 u + a2 v + a3 u^2 + a4 uv + a5 v^2, u, v in [-1, 1]. */
#define LN__FG_NCOEF 6

struct ln__fg {
    const uint8_t *px;
    int w, h, c;
    uint16_t *rows;  /* per thread: 3 rows of horizontal sums (3 x w x 3) */
    uint8_t *a, *b;  /* masks, ping-pong */
    uint8_t *cand;   /* enclosed regions that may be holes */
    uint32_t *stack; /* fill stack, one entry per pixel at most */
    double coef[3][LN__FG_NCOEF];
    double t2;  /* squared distance threshold (0..255 scale) */
    int radius; /* morphology radius */
};

static inline void ln__fg_rgb(const uint8_t *px, int c, size_t i, int out[3])
{
    const uint8_t *p = px + i * (size_t)c;
    if (c >= 3) {
        out[0] = p[0];
        out[1] = p[1];
        out[2] = p[2];
    } else {
        out[0] = out[1] = out[2] = p[0];
    }
}

static inline double ln__fg_u(int x, int w)
{
    return 2.0 * x / (double)(w - 1) - 1.0;
}

/* Per-row form of the model: b(u) = q0 + q1 u + q2 u^2 for a fixed v. */
static void ln__fg_row_model(const struct ln__fg *fg, int y, float q[3][3])
{
    const double v = ln__fg_u(y, fg->h);
    for (int k = 0; k < 3; k++) {
        const double *a = fg->coef[k];
        q[k][0] = (float)(a[0] + a[2] * v + a[5] * v * v);
        q[k][1] = (float)(a[1] + a[4] * v);
        q[k][2] = (float)a[3];
    }
}

/* ---- blur -------------------------------------------------------------- */

/* One row of horizontal 3-tap sums (edge replicated) as RGB. RGB input is
 * one flat loop; RGBA skips alpha; grey is summed once and repeated. */
static void ln__fg_hsum(const struct ln__fg *fg, int y, uint16_t *restrict out)
{
    const int w = fg->w, c = fg->c;
    const uint8_t *restrict in = fg->px + (size_t)y * w * c;
    if (c == 3) {
        const size_t n = (size_t)w * 3;
        for (size_t j = 0; j < 3; j++) {
            out[j] = (uint16_t)(2 * in[j] + in[j + 3]);
            out[n - 3 + j] = (uint16_t)(in[n - 6 + j] + 2 * in[n - 3 + j]);
        }
        for (size_t j = 3; j < n - 3; j++)
            out[j] = (uint16_t)(in[j - 3] + in[j] + in[j + 3]);
    } else {
        for (int x = 0; x < w; x++) {
            const size_t l = (size_t)(x > 0 ? x - 1 : 0) * c, m = (size_t)x * c;
            const size_t r = (size_t)(x + 1 < w ? x + 1 : w - 1) * c;
            if (c == 4) {
                for (int k = 0; k < 3; k++)
                    out[(size_t)x * 3 + k] = (uint16_t)(in[l + k] + in[m + k] + in[r + k]);
            } else {
                const uint16_t v = (uint16_t)(in[l] + in[m] + in[r]);
                out[(size_t)x * 3] = out[(size_t)x * 3 + 1] = out[(size_t)x * 3 + 2] = v;
            }
        }
    }
}

/* Blurred colour (0..255) at (x, y): the 3x3 mean, edges replicated. */
static void ln__fg_blurred(const struct ln__fg *fg, int x, int y, float out[3])
{
    const int w = fg->w, h = fg->h;
    int sum[3] = {0, 0, 0};
    for (int dy = -1; dy <= 1; dy++) {
        const int yy = y + dy < 0 ? 0 : (y + dy >= h ? h - 1 : y + dy);
        for (int dx = -1; dx <= 1; dx++) {
            const int xx = x + dx < 0 ? 0 : (x + dx >= w ? w - 1 : x + dx);
            int rgb[3];
            ln__fg_rgb(fg->px, fg->c, (size_t)yy * w + xx, rgb);
            for (int k = 0; k < 3; k++)
                sum[k] += rgb[k];
        }
    }
    for (int k = 0; k < 3; k++)
        out[k] = (float)sum[k] * (1.0f / 9.0f);
}

/* ---- background model from the border band ---------------------------- */

/* Median of the values chosen by keep (all when keep is NULL), for values
 * in [0, 256): a histogram with bins of 1/16 level, exact enough for a
 * threshold and linear in the number of samples. */
#define LN__FG_HIST_BINS 4096
static float ln__fg_median(const float *val, const uint8_t *keep, size_t n)
{
    uint32_t hist[LN__FG_HIST_BINS] = {0};
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (keep && !keep[i])
            continue;
        int bin = (int)(val[i] * (LN__FG_HIST_BINS / 256.0f));
        bin = bin < 0 ? 0 : (bin >= LN__FG_HIST_BINS ? LN__FG_HIST_BINS - 1 : bin);
        hist[bin]++;
        m++;
    }
    if (m == 0)
        return 0.0f;
    size_t acc = 0;
    int bin = 0;
    for (; bin < LN__FG_HIST_BINS - 1; bin++) {
        acc += hist[bin];
        if (2 * acc > m)
            break;
    }
    return ((float)bin + 0.5f) * (256.0f / LN__FG_HIST_BINS);
}

static void ln__fg_basis(double u, double v, double phi[LN__FG_NCOEF])
{
    phi[0] = 1.0;
    phi[1] = u;
    phi[2] = v;
    phi[3] = u * u;
    phi[4] = u * v;
    phi[5] = v * v;
}

/* Least squares on the kept samples, a small ridge on the non-constant
 * terms so that a border the object partly hides cannot make the fit
 * singular. Returns -1 when too few samples remain. */
static int ln__fg_fit(const float *const val[3], const float *su, const float *sv,
                      const uint8_t *keep, size_t n, double coef[3][LN__FG_NCOEF])
{
    double ata[LN__FG_NCOEF][LN__FG_NCOEF] = {{0}};
    double atb[3][LN__FG_NCOEF] = {{0}};
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!keep[i])
            continue;
        double phi[LN__FG_NCOEF];
        ln__fg_basis(su[i], sv[i], phi);
        for (int r = 0; r < LN__FG_NCOEF; r++) {
            for (int s = 0; s <= r; s++)
                ata[r][s] += phi[r] * phi[s];
            for (int k = 0; k < 3; k++)
                atb[k][r] += phi[r] * val[k][i];
        }
        m++;
    }
    if (m < 4 * LN__FG_NCOEF)
        return -1;
    for (int r = 1; r < LN__FG_NCOEF; r++)
        ata[r][r] += 1e-3 * (double)m;
    /* Cholesky of the symmetric positive definite normal matrix. */
    double l[LN__FG_NCOEF][LN__FG_NCOEF] = {{0}};
    for (int r = 0; r < LN__FG_NCOEF; r++) {
        for (int s = 0; s <= r; s++) {
            double sum = ata[r][s];
            for (int t = 0; t < s; t++)
                sum -= l[r][t] * l[s][t];
            if (r == s) {
                if (sum <= 0.0)
                    return -1;
                l[r][r] = sqrt(sum);
            } else {
                l[r][s] = sum / l[s][s];
            }
        }
    }
    for (int k = 0; k < 3; k++) {
        double z[LN__FG_NCOEF];
        for (int r = 0; r < LN__FG_NCOEF; r++) {
            double sum = atb[k][r];
            for (int t = 0; t < r; t++)
                sum -= l[r][t] * z[t];
            z[r] = sum / l[r][r];
        }
        for (int r = LN__FG_NCOEF - 1; r >= 0; r--) {
            double sum = z[r];
            for (int t = r + 1; t < LN__FG_NCOEF; t++)
                sum -= l[t][r] * coef[k][t];
            coef[k][r] = sum / l[r][r];
        }
    }
    return 0;
}

static double ln__fg_eval(const double a[LN__FG_NCOEF], double u, double v)
{
    return a[0] + a[1] * u + a[2] * v + a[3] * u * u + a[4] * u * v + a[5] * v * v;
}

/*
 * Samples the border band, fits the background model and sets the
 * threshold. Returns 0, LN_EUNUSABLE (no plain background at the border)
 * or LN_ENOMEM.
 */
static int ln__fg_model(struct ln__fg *fg, double tolerance, struct ln_error *err)
{
    const int w = fg->w, h = fg->h;
    const int min_side = w < h ? w : h;
    int band = min_side / 64;
    band = band < 2 ? 2 : (band > 8 ? 8 : band);
    const size_t n_band = (size_t)w * h - (size_t)(w - 2 * band) * (size_t)(h - 2 * band);
    const size_t step = (n_band + LN__FG_MAX_SAMPLES - 1) / LN__FG_MAX_SAMPLES;
    const size_t cap = n_band / step + 1;
    int rc = 0;

    /* One block: 3 channels, u, v, residuals. */
    float *buf = ln_alloc_array(cap, 6 * sizeof(float), 0, "background samples", err);
    uint8_t *keep = ln_alloc_array(cap, 1, 0, "background samples", err);
    if (!buf || !keep) {
        rc = LN_ENOMEM;
        goto done;
    }
    float *val[3] = {buf, buf + cap, buf + 2 * cap};
    float *su = buf + 3 * cap, *sv = buf + 4 * cap, *res = buf + 5 * cap;

    size_t n = 0, seen = 0;
    for (int y = 0; y < h; y++) {
        const int inner = y >= band && y < h - band;
        for (int x = 0; x < w; x++) {
            if (inner && x == band)
                x = w - band; /* skip the interior of the row */
            if (seen++ % step != 0)
                continue;
            float rgb[3];
            ln__fg_blurred(fg, x, y, rgb);
            for (int k = 0; k < 3; k++)
                val[k][n] = rgb[k];
            su[n] = (float)ln__fg_u(x, w);
            sv[n] = (float)ln__fg_u(y, h);
            n++;
        }
    }

    /* Start: a constant model at the per-channel median, inliers within a
     * generous band of the MAD so that a gradient is not cut away. */
    double sigma[3];
    memset(fg->coef, 0, sizeof fg->coef);
    memset(keep, 1, n);
    for (int k = 0; k < 3; k++) {
        const float med = ln__fg_median(val[k], NULL, n);
        fg->coef[k][0] = med;
        for (size_t i = 0; i < n; i++)
            res[i] = fabsf(val[k][i] - med);
        sigma[k] = 1.4826 * ln__fg_median(res, NULL, n);
    }
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            if (fabsf(val[k][i] - (float)fg->coef[k][0]) > 3.0 * sigma[k] + 8.0)
                keep[i] = 0;

    /* Refine: fit, re-estimate the spread from the inliers' residuals,
     * re-select inliers. */
    for (int iter = 0; iter < 3; iter++) {
        double coef[3][LN__FG_NCOEF];
        if (ln__fg_fit((const float *const *)val, su, sv, keep, n, coef) < 0)
            break;
        memcpy(fg->coef, coef, sizeof coef);
        for (int k = 0; k < 3; k++) {
            for (size_t i = 0; i < n; i++)
                res[i] = fabsf(val[k][i] - (float)ln__fg_eval(coef[k], su[i], sv[i]));
            sigma[k] = 1.4826 * ln__fg_median(res, keep, n);
        }
        for (size_t i = 0; i < n; i++) {
            keep[i] = 1;
            for (int k = 0; k < 3; k++)
                if (fabs(val[k][i] - ln__fg_eval(coef[k], su[i], sv[i])) > 4.0 * sigma[k] + 4.0)
                    keep[i] = 0;
        }
    }

    for (int k = 0; k < 3; k++)
        if (sigma[k] < 0.5)
            sigma[k] = 0.5;
    const double spread = sqrt(sigma[0] * sigma[0] + sigma[1] * sigma[1] + sigma[2] * sigma[2]);
    double t = 3.0 * spread + (tolerance > 0.0 ? tolerance : LN__FG_AUTO_TOLERANCE);
    if (t < LN__FG_MIN_THRESHOLD)
        t = LN__FG_MIN_THRESHOLD;
    fg->t2 = t * t;

    size_t n_bg = 0;
    for (size_t i = 0; i < n; i++) {
        double d2 = 0.0;
        for (int k = 0; k < 3; k++) {
            const double d = val[k][i] - ln__fg_eval(fg->coef[k], su[i], sv[i]);
            d2 += d * d;
        }
        n_bg += d2 < fg->t2;
    }
    if (spread > LN__FG_MAX_SPREAD || (double)n_bg < LN__FG_MIN_BORDER_BG * (double)n)
        rc = ln_error_set(err, LN_EUNUSABLE, "%s", ln__fg_fills_frame);

done:
    free(keep);
    free(buf);
    return rc;
}

/* ---- pass 2: background candidates ------------------------------------- */

/* a[i] = 1 where the blurred colour is within the threshold of the model.
 * The horizontal sums of rows y - 1, y, y + 1 roll through the thread's
 * three scratch rows, so no image-sized blur buffer is needed. */
static void ln__fg_candidate_rows(void *ctx, size_t begin, size_t end, int thread)
{
    struct ln__fg *fg = ctx;
    const int w = fg->w, h = fg->h;
    const size_t rw = (size_t)w * 3;
    const float t2 = (float)(81.0 * fg->t2);
    const float du = 2.0f / (float)(w - 1);
    uint16_t *ring = fg->rows + (size_t)thread * 3 * rw;
    /* Slot of row y in the ring: y % 3; rows outside the image replicate
     * the edge row. */
    int have = -2; /* highest row whose sums are in the ring */
    for (size_t y = begin; y < end; y++) {
        for (int r = have + 1 > (int)y - 1 ? have + 1 : (int)y - 1; r <= (int)y + 1; r++) {
            const int src = r < 0 ? 0 : (r >= h ? h - 1 : r);
            ln__fg_hsum(fg, src, ring + (size_t)((r + 3) % 3) * rw);
        }
        have = (int)y + 1;
        const uint16_t *restrict p0 = ring + (size_t)(((int)y + 2) % 3) * rw;
        const uint16_t *restrict p1 = ring + (size_t)((int)y % 3) * rw;
        const uint16_t *restrict p2 = ring + (size_t)(((int)y + 1) % 3) * rw;
        /* Compared as 3x3 sums against 9 x the model, 81 x the threshold. */
        float q[3][3];
        ln__fg_row_model(fg, (int)y, q);
        for (int k = 0; k < 3; k++)
            for (int e = 0; e < 3; e++)
                q[k][e] *= 9.0f;
        uint8_t *restrict out = fg->a + y * (size_t)w;
        for (int x = 0; x < w; x++) {
            const float u = (float)x * du - 1.0f;
            const size_t j = (size_t)x * 3;
            const float d0 =
                (float)(p0[j] + p1[j] + p2[j]) - (q[0][0] + u * (q[0][1] + u * q[0][2]));
            const float d1 = (float)(p0[j + 1] + p1[j + 1] + p2[j + 1]) -
                             (q[1][0] + u * (q[1][1] + u * q[1][2]));
            const float d2 = (float)(p0[j + 2] + p1[j + 2] + p2[j + 2]) -
                             (q[2][0] + u * (q[2][1] + u * q[2][2]));
            out[x] = d0 * d0 + d1 * d1 + d2 * d2 < t2;
        }
    }
}

/* ---- scanline flood fill ----------------------------------------------- */

/*
 * Sets the 4-connected region of pixels valued `from` or `from2` that
 * contains pixel `seed` to `to` and returns its size. A pixel is marked
 * LN__FG_QUEUED when pushed, so it is pushed at most once and the stack
 * holds at most one entry per pixel.
 */
static size_t ln__fg_fill(const struct ln__fg *fg, uint8_t *m, size_t seed, uint8_t from,
                          uint8_t from2, uint8_t to)
{
    const size_t w = (size_t)fg->w, h = (size_t)fg->h;
    uint32_t *st = fg->stack;
    size_t sp = 0, count = 0;
    if (m[seed] != from && m[seed] != from2)
        return 0;
    m[seed] = LN__FG_QUEUED;
    st[sp++] = (uint32_t)seed;
    while (sp > 0) {
        const size_t p = st[--sp];
        if (m[p] != LN__FG_QUEUED)
            continue; /* already filled as part of a run */
        const size_t y = p / w, x = p % w;
        uint8_t *row = m + y * w;
        size_t xl = x, xr = x;
        while (xl > 0 &&
               (row[xl - 1] == from || row[xl - 1] == from2 || row[xl - 1] == LN__FG_QUEUED))
            xl--;
        while (xr + 1 < w &&
               (row[xr + 1] == from || row[xr + 1] == from2 || row[xr + 1] == LN__FG_QUEUED))
            xr++;
        memset(row + xl, to, xr - xl + 1);
        count += xr - xl + 1;
        for (int side = 0; side < 2; side++) {
            if ((side == 0 && y == 0) || (side == 1 && y + 1 == h))
                continue;
            const size_t ny = side == 0 ? y - 1 : y + 1;
            uint8_t *nr = m + ny * w;
            size_t k = xl;
            while (k <= xr) {
                if (nr[k] != from && nr[k] != from2) {
                    k++;
                    continue;
                }
                /* One seed per run of the neighbour row. */
                nr[k] = LN__FG_QUEUED;
                st[sp++] = (uint32_t)(ny * w + k);
                k++;
                while (k <= xr && (nr[k] == from || nr[k] == from2))
                    k++;
            }
        }
    }
    return count;
}

/* Fills every region of values `from` / `from2` that touches the image
 * border. */
static void ln__fg_fill_from_border(const struct ln__fg *fg, uint8_t *m, uint8_t from,
                                    uint8_t from2, uint8_t to)
{
    const size_t w = (size_t)fg->w, h = (size_t)fg->h;
    for (size_t x = 0; x < w; x++) {
        ln__fg_fill(fg, m, x, from, from2, to);
        ln__fg_fill(fg, m, (h - 1) * w + x, from, from2, to);
    }
    for (size_t y = 1; y + 1 < h; y++) {
        ln__fg_fill(fg, m, y * w, from, from2, to);
        ln__fg_fill(fg, m, y * w + w - 1, from, from2, to);
    }
}

/* ---- holes -------------------------------------------------------------- */

/*
 * Collects the 4-connected region of pixels valued `from` that contains
 * `seed` into fg->stack[0 .. count), setting them to `to`; returns count.
 * A breadth-first walk whose queue keeps every pixel it visited, so the
 * caller can look at the region's pixels afterwards.
 */
static size_t ln__fg_region(const struct ln__fg *fg, uint8_t *m, size_t seed, uint8_t from,
                            uint8_t to)
{
    const size_t w = (size_t)fg->w, h = (size_t)fg->h;
    uint32_t *q = fg->stack;
    size_t head = 0, tail = 0;
    if (m[seed] != from)
        return 0;
    m[seed] = to;
    q[tail++] = (uint32_t)seed;
    while (head < tail) {
        const size_t p = q[head++], x = p % w, y = p / w;
        if (x > 0 && m[p - 1] == from)
            m[p - 1] = to, q[tail++] = (uint32_t)(p - 1);
        if (x + 1 < w && m[p + 1] == from)
            m[p + 1] = to, q[tail++] = (uint32_t)(p + 1);
        if (y > 0 && m[p - w] == from)
            m[p - w] = to, q[tail++] = (uint32_t)(p - w);
        if (y + 1 < h && m[p + w] == from)
            m[p + w] = to, q[tail++] = (uint32_t)(p + w);
    }
    return tail;
}

/* Mean squared distance (0..255 scale) of the region's blurred colours
 * from the background model. */
static double ln__fg_region_d2(const struct ln__fg *fg, size_t count)
{
    double sum = 0.0;
    for (size_t k = 0; k < count; k++) {
        const int x = (int)(fg->stack[k] % (uint32_t)fg->w),
                  y = (int)(fg->stack[k] / (uint32_t)fg->w);
        float rgb[3];
        ln__fg_blurred(fg, x, y, rgb);
        const double u = ln__fg_u(x, fg->w), v = ln__fg_u(y, fg->h);
        for (int c = 0; c < 3; c++) {
            const double d = rgb[c] - ln__fg_eval(fg->coef[c], u, v);
            sum += d * d;
        }
    }
    return count ? sum / (double)count : 0.0;
}

/*
 * The hole rule. Each 4-connected region of fg->cand valued 1 (a region the
 * object encloses that may be background) is opened in m (set to 0) when
 * it is not tiny, at least min_hole pixels, and, with plain = 1, when its
 * colour clearly matches the background model: mean squared distance at
 * most a quarter of the threshold's square (half the threshold as an RMS
 * distance), whereas any pixel within the threshold was a candidate.
 * Returns the number of pixels opened.
 */
static size_t ln__fg_open_holes(const struct ln__fg *fg, uint8_t *m, size_t min_hole, int plain)
{
    const size_t n = (size_t)fg->w * fg->h;
    size_t opened = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *next = memchr(fg->cand + i, 1, n - i);
        if (!next)
            break;
        i = (size_t)(next - fg->cand);
        const size_t count = ln__fg_region(fg, fg->cand, i, 1, 4);
        if (count < min_hole || (plain && ln__fg_region_d2(fg, count) > 0.25 * fg->t2))
            continue;
        for (size_t k = 0; k < count; k++)
            m[fg->stack[k]] = 0;
        opened += count;
    }
    return opened;
}

/* ---- pass 3: boundary re-check ----------------------------------------- */

/* b = object mask from a (2 = background reached by the flood). The blur
 * moves a high-contrast edge out by a pixel, so object pixels next to the
 * background whose own (unblurred) colour is background are given back. */
static void ln__fg_refine_rows(void *ctx, size_t begin, size_t end, int thread)
{
    struct ln__fg *fg = ctx;
    const int w = fg->w, h = fg->h;
    const uint8_t *a = fg->a;
    for (size_t y = begin; y < end; y++) {
        float q[3][3];
        ln__fg_row_model(fg, (int)y, q);
        const uint8_t *row = a + y * (size_t)w;
        uint8_t *out = fg->b + y * (size_t)w;
        for (int x = 0; x < w; x++) {
            if (row[x] == 2) {
                out[x] = 0;
                continue;
            }
            const int edge = (x > 0 && row[x - 1] == 2) || (x + 1 < w && row[x + 1] == 2) ||
                             (y > 0 && row[x - w] == 2) || (y + 1 < (size_t)h && row[x + w] == 2);
            if (!edge) {
                out[x] = 1;
                continue;
            }
            int rgb[3];
            ln__fg_rgb(fg->px, fg->c, y * (size_t)w + x, rgb);
            const float u = (float)ln__fg_u(x, w);
            float d2 = 0.0f;
            for (int k = 0; k < 3; k++) {
                const float d = (float)rgb[k] - (q[k][0] + u * (q[k][1] + u * q[k][2]));
                d2 += d * d;
            }
            out[x] = d2 >= (float)fg->t2;
        }
    }
}

/* ---- pass 4: morphology ------------------------------------------------ */

struct ln__fg_morph {
    const uint8_t *in;
    uint8_t *out;
    int w, h, r;
    int dilate; /* 1: OR over the window, 0: AND */
};

/* out[i] |= in[i] (dilate) or out[i] &= in[i], eight bytes at a time. */
static inline void ln__fg_combine(uint8_t *restrict out, const uint8_t *restrict in, size_t n,
                                  int dilate)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t a, b;
        memcpy(&a, out + i, 8);
        memcpy(&b, in + i, 8);
        a = dilate ? a | b : a & b;
        memcpy(out + i, &a, 8);
    }
    for (; i < n; i++)
        out[i] = dilate ? out[i] | in[i] : out[i] & in[i];
}

/* Square windows clipped to the image: outside pixels count as neither
 * object nor background, so an object touching the border is not eaten.
 * The window is applied one shifted operand at a time, so the clipped ends
 * fall out of the bounds. */
static void ln__fg_morph_h(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ln__fg_morph *mo = ctx;
    const size_t w = (size_t)mo->w;
    for (size_t y = begin; y < end; y++) {
        const uint8_t *in = mo->in + y * w;
        uint8_t *out = mo->out + y * w;
        memcpy(out, in, w);
        for (size_t d = 1; d <= (size_t)mo->r && d < w; d++) {
            ln__fg_combine(out + d, in, w - d, mo->dilate);
            ln__fg_combine(out, in + d, w - d, mo->dilate);
        }
    }
}

static void ln__fg_morph_v(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ln__fg_morph *mo = ctx;
    const int h = mo->h, r = mo->r;
    const size_t w = (size_t)mo->w;
    for (size_t y = begin; y < end; y++) {
        const int lo = (int)y - r < 0 ? 0 : (int)y - r;
        const int hi = (int)y + r >= h ? h - 1 : (int)y + r;
        uint8_t *out = mo->out + y * w;
        memcpy(out, mo->in + (size_t)lo * w, w);
        for (int k = lo + 1; k <= hi; k++)
            ln__fg_combine(out, mo->in + (size_t)k * w, w, mo->dilate);
    }
}

/* Erodes (dilate = 0) or dilates fg->b in place, using fg->a as scratch. */
static void ln__fg_morph(struct ln__fg *fg, int dilate)
{
    struct ln__fg_morph mo = {fg->b, fg->a, fg->w, fg->h, fg->radius, dilate};
    ln_parallel_for((size_t)fg->h, 32, ln__fg_morph_h, &mo);
    mo.in = fg->a;
    mo.out = fg->b;
    ln_parallel_for((size_t)fg->h, 32, ln__fg_morph_v, &mo);
}

/* ---- output ------------------------------------------------------------ */

/* The final mask: 2 marks background, anything else object. */
#define LN__FG_BG 2

struct ln__fg_emit {
    const struct ln__fg *fg;
    uint8_t *out; /* RGBA */
};

static void ln__fg_emit_rows(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ln__fg_emit *e = ctx;
    const struct ln__fg *fg = e->fg;
    const size_t w = (size_t)fg->w;
    const int c = fg->c;
    const uint8_t *restrict mask = fg->b;
    const uint8_t *restrict in = fg->px;
    uint8_t *restrict out = e->out;
    for (size_t i = begin * w; i < end * w; i++) {
        const uint8_t *p = in + i * c;
        const uint8_t *g = c == 1 ? p : p + 1; /* grey repeats its one channel */
        out[i * 4] = p[0];
        out[i * 4 + 1] = g[0];
        out[i * 4 + 2] = c == 1 ? p[0] : p[2];
        out[i * 4 + 3] = mask[i] == LN__FG_BG ? 0 : 255;
    }
}

/* Coverage and bounding box of the object, where pixel i is object when
 * mask[i * stride] != bg; returns the pixel count. */
static size_t ln__fg_measure(const uint8_t *mask, size_t stride, uint8_t bg, int w, int h,
                             struct ln_foreground_info *info)
{
    size_t n = 0;
    int x0 = w, y0 = h, x1 = -1, y1 = -1;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = mask + (size_t)y * w * stride;
        int lo = -1, hi = -1;
        for (int x = 0; x < w; x++) {
            if (row[(size_t)x * stride] != bg) {
                if (lo < 0)
                    lo = x;
                hi = x;
                n++;
            }
        }
        if (lo < 0)
            continue;
        if (y0 == h)
            y0 = y;
        y1 = y;
        x0 = lo < x0 ? lo : x0;
        x1 = hi > x1 ? hi : x1;
    }
    info->coverage = (double)n / ((double)w * h);
    if (n > 0) {
        info->bbox[0] = x0;
        info->bbox[1] = y0;
        info->bbox[2] = x1;
        info->bbox[3] = y1;
    } else {
        memset(info->bbox, 0, sizeof info->bbox);
    }
    return n;
}

/* Fraction of the outermost pixel ring that is object. */
static double ln__fg_border_object(const uint8_t *mask, int w, int h)
{
    size_t n = 0, on = 0;
    for (int x = 0; x < w; x++) {
        on += mask[x] != LN__FG_BG;
        on += mask[(size_t)(h - 1) * w + x] != LN__FG_BG;
        n += 2;
    }
    for (int y = 1; y + 1 < h; y++) {
        on += mask[(size_t)y * w] != LN__FG_BG;
        on += mask[(size_t)y * w + w - 1] != LN__FG_BG;
        n += 2;
    }
    return (double)on / (double)n;
}

/* The input alpha is the mask (TripoSR's rule); colours are copied as they
 * are. */
static int ln__fg_from_alpha(const struct ln_image *img, struct ln_image *out,
                             struct ln_foreground_info *info, struct ln_error *err)
{
    struct ln_image res = {0};
    int rc = ln_image_alloc(&res, img->width, img->height, 4, err);
    if (rc < 0)
        return rc;
    const size_t n = (size_t)img->width * img->height;
    memcpy(res.data, img->data, n * 4);
    struct ln_foreground_info tmp = {0};
    const size_t n_obj = ln__fg_measure(img->data + 3, 4, 0, img->width, img->height, &tmp);
    if (n_obj == 0)
        rc = ln_error_set(err, LN_EUNUSABLE,
                          "no object found: the alpha channel is fully transparent");
    else if (n_obj == n)
        rc = ln_error_set(err, LN_EUNUSABLE, "%s", ln__fg_fills_frame);
    if (rc < 0) {
        ln_image_free(&res);
        return rc;
    }
    tmp.used_alpha = 1;
    tmp.method = "alpha";
    if (info)
        *info = tmp;
    *out = res;
    return 0;
}

/* b = a with the object pixels beside an opened hole (0) given to the hole
 * when their own colour is background: the hole's candidates were judged
 * blurred, which pulls its edge in by about a pixel. */
static void ln__fg_hole_edge_rows(void *ctx, size_t begin, size_t end, int thread)
{
    struct ln__fg *fg = ctx;
    const int w = fg->w, h = fg->h;
    for (size_t y = begin; y < end; y++) {
        const uint8_t *row = fg->a + y * (size_t)w;
        uint8_t *out = fg->b + y * (size_t)w;
        float q[3][3];
        ln__fg_row_model(fg, (int)y, q);
        for (int x = 0; x < w; x++) {
            out[x] = row[x];
            if (row[x] != 1)
                continue;
            const int edge = (x > 0 && row[x - 1] == 0) || (x + 1 < w && row[x + 1] == 0) ||
                             (y > 0 && row[x - w] == 0) || (y + 1 < (size_t)h && row[x + w] == 0);
            if (!edge)
                continue;
            int rgb[3];
            ln__fg_rgb(fg->px, fg->c, y * (size_t)w + x, rgb);
            const float u = (float)ln__fg_u(x, w);
            float d2 = 0.0f;
            for (int k = 0; k < 3; k++) {
                const float d = (float)rgb[k] - (q[k][0] + u * (q[k][1] + u * q[k][2]));
                d2 += d * d;
            }
            if (d2 < (float)fg->t2)
                out[x] = 0;
        }
    }
}

/* Keeps the largest 4-connected region of 1s in fg->b as 1 (others become
 * 3 while measuring); returns its area. */
static size_t ln__fg_keep_largest(struct ln__fg *fg)
{
    const size_t n = (size_t)fg->w * fg->h;
    size_t best = 0, best_seed = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *next = memchr(fg->b + i, 1, n - i);
        if (!next)
            break;
        i = (size_t)(next - fg->b);
        const size_t area = ln__fg_fill(fg, fg->b, i, 1, 1, 3);
        if (area > best) {
            best = area;
            best_seed = i;
        }
    }
    if (best > 0)
        ln__fg_fill(fg, fg->b, best_seed, 3, 3, 1);
    return best;
}

int ln_foreground_extract(const struct ln_image *img, const struct ln_foreground_options *opt,
                          struct ln_image *out, struct ln_foreground_info *info,
                          struct ln_error *err)
{
    if (!img || !out || !img->data || img->width <= 0 || img->height <= 0 ||
        (img->channels != 1 && img->channels != 3 && img->channels != 4))
        return ln_error_set(err, LN_EINVAL,
                            "foreground separation needs a 1-, 3- or 4-channel image");
    const int method = opt ? opt->method : LN_FOREGROUND_AUTO;
    if (method != LN_FOREGROUND_AUTO && method != LN_FOREGROUND_PLAIN &&
        method != LN_FOREGROUND_GRABCUT)
        return ln_error_set(err, LN_EINVAL, "unknown foreground separation method %d", method);

    const int use_alpha = opt ? opt->use_alpha : -1;
    if (img->channels == 4 &&
        (use_alpha > 0 || (use_alpha < 0 && ln_image_alpha_is_meaningful(img))))
        return ln__fg_from_alpha(img, out, info, err);

    const int w = img->width, h = img->height;
    if (w < LN__FG_MIN_SIDE || h < LN__FG_MIN_SIDE)
        return ln_error_set(
            err, LN_EUNUSABLE,
            "the image is too small (%dx%d) to separate the object from its background", w, h);
    const size_t n = (size_t)w * h;
    if (n > UINT32_MAX)
        return ln_error_set(err, LN_ETOOBIG, "image too large for foreground separation");

    struct ln__fg fg = {.px = img->data, .w = w, .h = h, .c = img->channels};
    struct ln_image res = {0};
    int rc = 0;

    /* Scratch per thread, indexed by the loop's thread number. */
    const int threads = ln_threads_get();
    fg.rows = ln_alloc_array((size_t)threads * 9, (size_t)w * sizeof(uint16_t), 0,
                             "foreground blur rows", err);
    if (!fg.rows)
        goto fail_nomem;
    fg.a = ln_alloc_array(n, 1, 0, "foreground mask", err);
    if (!fg.a)
        goto fail_nomem;
    fg.b = ln_alloc_array(n, 1, 0, "foreground mask", err);
    if (!fg.b)
        goto fail_nomem;
    fg.cand = ln_alloc_array(n, 1, 0, "foreground mask", err);
    if (!fg.cand)
        goto fail_nomem;
    fg.stack = ln_alloc_array(n, sizeof(uint32_t), 0, "foreground fill stack", err);
    if (!fg.stack)
        goto fail_nomem;
    if ((rc = ln_image_alloc(&res, w, h, 4, err)) < 0)
        goto done;

    /* Plain background first; a border that is not near-uniform hands the
     * image to the colour models (automatic method). */
    int plain = method != LN_FOREGROUND_GRABCUT;
    if (plain) {
        rc = ln__fg_model(&fg, opt ? opt->tolerance : 0.0, err);
        if (rc == LN_EUNUSABLE && method == LN_FOREGROUND_AUTO) {
            plain = 0;
            rc = 0;
        }
        if (rc < 0)
            goto done;
    }
    if (plain) {
        ln_parallel_for_at((size_t)h, 32, threads, ln__fg_candidate_rows, &fg);
        /* Background: candidates connected to the border (a: 1 -> 2); the
         * candidates left are background-coloured regions the object
         * encloses, possible holes. */
        ln__fg_fill_from_border(&fg, fg.a, 1, 1, 2);
        for (size_t i = 0; i < n; i++)
            fg.cand[i] = fg.a[i] == 1;
        ln_parallel_for((size_t)h, 16, ln__fg_refine_rows, &fg);
    } else if ((rc = ln__fg_grabcut(img, fg.b, err)) < 0) {
        goto done;
    }

    /* Opening drops specks and thin bridges, closing seals small gaps. */
    const int min_side = w < h ? w : h;
    fg.radius = 1 + min_side / 1024;
    ln__fg_morph(&fg, 0);
    ln__fg_morph(&fg, 1);
    ln__fg_morph(&fg, 1);
    ln__fg_morph(&fg, 0);

    /* Largest 4-connected object component. */
    const size_t best = ln__fg_keep_largest(&fg);
    const size_t min_area = n / 4000 > 16 ? n / 4000 : 16;
    if (best < min_area) {
        rc = ln_error_set(err, LN_EUNUSABLE, "%s", ln__fg_no_object);
        goto done;
    }

    /* Enclosed regions: background (0) and the dropped components (3) the
     * border cannot reach. They are object for now; after the cut, those
     * the cut called background may be holes. */
    ln__fg_fill_from_border(&fg, fg.b, 0, 3, 2);
    for (size_t i = 0; i < n; i++) {
        if (!plain)
            fg.cand[i] = fg.b[i] == 0 || fg.b[i] == 3;
        fg.b[i] = fg.b[i] == LN__FG_BG ? LN__FG_BG : 1;
    }

    /* Holes: enclosed background of at least 1/200 of the object's area
     * (and of the smallest object) is opened. */
    const size_t min_hole = best / 200 > min_area ? best / 200 : min_area;
    if (ln__fg_open_holes(&fg, fg.b, min_hole, plain) > 0) {
        if (plain) {
            uint8_t *t = fg.a;
            fg.a = fg.b;
            fg.b = t;
            ln_parallel_for((size_t)h, 16, ln__fg_hole_edge_rows, &fg);
        }
        /* Object specks left inside an opened hole go with it. */
        ln__fg_keep_largest(&fg);
        for (size_t i = 0; i < n; i++)
            fg.b[i] = fg.b[i] == 1 ? 1 : LN__FG_BG;
    }

    struct ln_foreground_info tmp = {0};
    tmp.method = plain ? "plain" : "grabcut";
    ln__fg_measure(fg.b, 1, LN__FG_BG, w, h, &tmp);
    if (ln__fg_border_object(fg.b, w, h) > LN__FG_MAX_BORDER_OBJECT) {
        rc = ln_error_set(err, LN_EUNUSABLE, "%s", ln__fg_fills_frame);
        goto done;
    }
    struct ln__fg_emit e = {&fg, res.data};
    ln_parallel_for((size_t)h, 32, ln__fg_emit_rows, &e);
    if (info)
        *info = tmp;
    *out = res;
    res = (struct ln_image){0};
    goto done;

fail_nomem:
    rc = LN_ENOMEM;
done:
    ln_image_free(&res);
    free(fg.stack);
    free(fg.cand);
    free(fg.b);
    free(fg.a);
    free(fg.rows);
    return rc;
}
