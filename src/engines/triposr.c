/*
 * The triposr engine (docs/ARCHITECTURE.md §5): one image through the TripoSR
 * network of src/nn to a coloured mesh, step for step as run.py does it
 * (docs/TRIPOSR.md sections 3, 11 and 13): preprocessing, scene code,
 * density grid, marching cubes at density 25, colours queried at the
 * final vertices, and the turn into the product frame. The weights are
 * loaded once and only read; every run allocates its own scratch.
 *
 * The density grid is evaluated coarse to fine. The surface is a thin
 * shell of the R^3 grid, so a pass over every step-th point decides most
 * of the volume; only coarse cells whose corners straddle the threshold,
 * or come close to it relative to how much the density varies across the
 * cell, are evaluated at full resolution. Then the surface is followed:
 * a neighbouring cell is refined in turn when a point on its boundary
 * lies on the other side of the threshold than its corners (the surface
 * enters it), or when its corners come within reach of the threshold
 * given how rough the field proved in the refined neighbour; repeated
 * until nothing changes. The other points get a value on the right side of
 * the threshold, which is all marching cubes reads there, so the mesh
 * equals the dense grid's wherever no piece of surface hides wholly
 * inside cells left coarse.
 */
#include "triposr_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_background.h"
#include "ln_foreground.h"
#include "ln_frame.h"
#include "ln_hf.h"
#include "ln_log.h"
#include "ln_mc.h"
#include "ln_threads.h"
#include "ln_time.h"

/* Points per call of the network's query: large enough to keep every
 * thread busy, small enough for progress and cancellation to be timely. */
#define LN__TSR_CHUNK ((size_t)1 << 18)
/* Largest grid side the density functions accept. */
#define LN__TSR_MAX_R 1024
/* Besides the cells whose corners straddle the threshold, a coarse cell
 * is refined when a corner's log density is within MARGIN + SLOPE *
 * (the spread of log density over its corners) of log(threshold): near
 * the threshold, a bend of the density between the corners can cross it
 * unseen, more easily where the density changes fast. With ROUGH below,
 * the values keep the dense grid's mesh on the tests' fields (the golden
 * random model, rough at the texel scale; smooth and rippled bodies at
 * coarse steps 2 to 8) while evaluating 6-7% of a smooth body's 256^3
 * grid. */
#define LN__TSR_MARGIN 0.1f
#define LN__TSR_SLOPE 0.25f
/* A cell next to a refined one is refined too when its corners come within
 * MARGIN + ROUGH * (the refined neighbour's roughness: the largest gap
 * between its log density and the trilinear interpolation of its corners)
 * of log(threshold). */
#define LN__TSR_ROUGH 2.0f
/* log density is clamped to this range (exp over- and underflow). */
#define LN__TSR_LOG_MAX 80.0f

struct ln__tsr {
    struct ln_triposr *net;
    struct ln_model_files files;
    char description[sizeof(((struct ln_model_files *)0)->where) + 32];
};

/* ------------------------------------------------------------ preprocessing */

/* The RGB channels of an RGBA image, as PIL's convert("RGB") (no
 * compositing). */
static int ln__rgb_of(const struct ln_image *img, struct ln_image *rgb, struct ln_error *err)
{
    int rc = ln_image_alloc(rgb, img->width, img->height, 3, err);
    if (rc < 0)
        return rc;
    const size_t n = (size_t)img->width * (size_t)img->height;
    const int c = img->channels;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            rgb->data[i * 3 + (size_t)k] = img->data[i * (size_t)c + (size_t)(c >= 3 ? k : 0)];
    return LN_OK;
}

int ln__triposr_preprocess(const struct ln_triposr *net, const struct ln_image *img, int remove_bg,
                           struct ln_generate_report *rep, float ratio, float *chw,
                           struct ln_error *err)
{
    const int S = ln_triposr_get_config(net)->cond_image_size;
    struct ln_image cut = {0}, framed = {0}, rgb = {0};
    float *f = NULL, *resized = NULL;
    int rc;
    if (remove_bg != LN_REMOVE_BG_OFF) {
        /* TripoSR keeps a meaningful alpha as it is; an opaque image is
         * segmented (rembg upstream: ln_background with a matting network
         * when one is found, else the classical separation). */
        struct ln_background_info bg;
        if ((rc = ln_background_cutout(img, remove_bg, &cut, &bg, err)) < 0 ||
            (rc = ln_frame_resize_foreground(&cut, ratio, &framed, err)) < 0 ||
            (rc = ln_frame_composite_grey(&framed, &rgb, err)) < 0)
            goto done;
        ln_report_background(rep, bg.method);
    } else if ((rc = ln__rgb_of(img, &rgb, err)) < 0) {
        goto done;
    } else {
        ln_report_background(rep, "off");
    }
    f = ln_alloc_array((size_t)rgb.width * (size_t)rgb.height, 3 * sizeof(float), 0,
                       "preprocessed image", err);
    resized = ln_alloc_array((size_t)S * (size_t)S, 3 * sizeof(float), 0, "network input", err);
    if (!f || !resized) {
        rc = LN_ENOMEM;
        goto done;
    }
    ln_image_to_float(&rgb, f);
    if ((rc = ln_resize_aa(f, rgb.width, rgb.height, 3, resized, S, S, err)) < 0)
        goto done;
    ln_triposr_normalize(net, resized, chw);
done:
    free(resized);
    free(f);
    ln_image_free(&rgb);
    ln_image_free(&framed);
    ln_image_free(&cut);
    return rc;
}

/* ------------------------------------------------------------- density grid */

/* Lanes of the vector unit of PyTorch's linspace kernel on the reference
 * machine (AVX-512). The golden 32-point grid is reproduced exactly with
 * 4, 8 or 16 lanes and not by the scalar formula alone; other widths
 * would move a coordinate by at most an ulp or two. */
#define LN__TSR_LINSPACE_LANES 16

void ln__triposr_grid_axis(int R, float radius, float *coord)
{
    /* torch.linspace in float32: from the start below R / 2, from the end
     * above, and, in the vectorised loop (two vectors per step), each
     * vector as base + m * step from the value at its first lane. Then
     * scale_tensor's v * (r - (-r)) + (-r), the Python-float span
     * rounded to float32. */
    const int V = LN__TSR_LINSPACE_LANES, half = R / 2;
    const float step = (1.0f - 0.0f) / (float)(R - 1);
    const float span = (float)((double)radius - (double)-radius), lo = -radius;
    int i = 0;
    for (; i + 2 * V <= R; i += 2 * V)
        for (int h = i; h < i + 2 * V; h += V) {
            const float base = h < half ? 0.0f + step * (float)h : 1.0f - step * (float)(R - h - 1);
            for (int m = 0; m < V; m++)
                coord[h + m] = base + (float)m * step;
        }
    for (; i < R; i++)
        coord[i] = i < half ? 0.0f + step * (float)i : 1.0f - step * (float)(R - i - 1);
    for (i = 0; i < R; i++)
        coord[i] = coord[i] * span + lo;
}

static int ln__check_grid(int R, struct ln_error *err)
{
    if (R < 2 || R > LN__TSR_MAX_R)
        return ln_error_set(err, LN_EINVAL, "the density grid needs 2 to %d points per axis (got %d)",
                            LN__TSR_MAX_R, R);
    return LN_OK;
}

struct ln__net_eval {
    const struct ln_triposr *net;
    const float *scene;
};

static int ln__net_density(void *user, const float *pts, size_t n, float *out,
                           struct ln_error *err)
{
    const struct ln__net_eval *e = user;
    return ln_triposr_query(e->net, e->scene, pts, n, out, NULL, NULL, err);
}

int ln__triposr_density_dense(const struct ln_triposr *net, const float *scene, int R, float *field,
                              struct ln__tsr_density_stats *stats,
                              const struct ln_progress *progress, struct ln_error *err)
{
    struct ln__net_eval e = {net, scene};
    return ln__tsr_grid_dense(R, ln_triposr_get_config(net)->radius, ln__net_density, &e, field,
                              stats, progress, err);
}

int ln__triposr_density_coarse_fine(const struct ln_triposr *net, const float *scene, int R,
                                    int step, float *field, struct ln__tsr_density_stats *stats,
                                    const struct ln_progress *progress, struct ln_error *err)
{
    struct ln__net_eval e = {net, scene};
    return ln__tsr_grid_coarse_fine(R, ln_triposr_get_config(net)->radius, step, ln__net_density,
                                    &e, field, stats, progress, err);
}

int ln__tsr_grid_dense(int R, float radius, ln__tsr_eval_fn eval, void *user, float *field,
                       struct ln__tsr_density_stats *stats, const struct ln_progress *progress,
                       struct ln_error *err)
{
    int rc = ln__check_grid(R, err);
    if (rc < 0)
        return rc;
    const size_t rr = (size_t)R * (size_t)R;
    size_t slabs = LN__TSR_CHUNK / rr;
    slabs = slabs < 1 ? 1 : (slabs > (size_t)R ? (size_t)R : slabs);
    float *axis = ln_alloc_array((size_t)R, sizeof(float), 0, "grid axis", err);
    float *pts = ln_alloc_array(slabs * rr, 3 * sizeof(float), 0, "grid points", err);
    if (!axis || !pts) {
        rc = LN_ENOMEM;
        goto done;
    }
    ln__triposr_grid_axis(R, radius, axis);
    for (size_t i0 = 0; i0 < (size_t)R; i0 += slabs) {
        if (ln_progress_canceled(progress)) {
            rc = ln_error_set(err, LN_ECANCELED, "canceled during the density grid");
            goto done;
        }
        const size_t i1 = i0 + slabs < (size_t)R ? i0 + slabs : (size_t)R;
        size_t n = 0;
        for (size_t i = i0; i < i1; i++)
            for (int j = 0; j < R; j++)
                for (int k = 0; k < R; k++, n++) {
                    pts[n * 3 + 0] = axis[i];
                    pts[n * 3 + 1] = axis[j];
                    pts[n * 3 + 2] = axis[k];
                }
        if ((rc = eval(user, pts, n, field + i0 * rr, err)) < 0)
            goto done;
        ln_progress_report(progress, "density", (double)i1 / (double)R);
    }
    if (stats) {
        memset(stats, 0, sizeof *stats);
        stats->n_points = rr * (size_t)R;
        stats->n_evaluated = stats->n_points;
        stats->n_cells = stats->n_cells_fine = (size_t)(R - 1) * (size_t)(R - 1) * (size_t)(R - 1);
        stats->step = 1;
    }
done:
    free(pts);
    free(axis);
    return rc;
}

/* Shared, read-only view of the coarse-to-fine state. Fine index i lies
 * in coarse cells cell_lo[i] .. cell_hi[i] (two when it is on a coarse
 * boundary inside the grid) and is coarse point coarse_of[i] (or -1). */
struct ln__c2f {
    int R, M; /* fine points and coarse cells per axis */
    const int *cell_lo, *cell_hi, *coarse_of;
    const float *cval;     /* [(M + 1)^3] density at the coarse points */
    uint8_t *raw;          /* [M^3] cell needs full resolution */
    uint8_t *active;       /* [M^3] the cells the first fine pass evaluates (= raw) */
    float *fill;           /* [M^3] value for points of a cell left coarse */
    float *field;          /* [R^3] */
    size_t *count;         /* [R] points to evaluate per fine slab */
    const float *axis;     /* [R] */
    /* Gathering of one chunk of slabs. */
    size_t i0;
    const size_t *offset; /* per slab of the chunk */
    float *pts;
    size_t *idx;
    const float *dens;
};

static void ln__c2f_classify(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__c2f *c = vctx;
    const size_t M = (size_t)c->M, P = M + 1;
    const float log_t = logf(LN__TSR_THRESHOLD);
    for (size_t mi = begin; mi < end; mi++)
        for (size_t mj = 0; mj < M; mj++)
            for (size_t mk = 0; mk < M; mk++) {
                int n_in = 0, bad = 0;
                float vmin = LN__TSR_LOG_MAX, vmax = -LN__TSR_LOG_MAX, dist = 2 * LN__TSR_LOG_MAX;
                double sum = 0.0;
                for (int q = 0; q < 8; q++) {
                    const float d = c->cval[((mi + (size_t)(q >> 2)) * P + mj + (size_t)(q >> 1 & 1)) * P +
                                            mk + (size_t)(q & 1)];
                    if (d != d) {
                        bad = 1;
                        continue;
                    }
                    n_in += d > LN__TSR_THRESHOLD;
                    float v = d > 0.0f ? logf(d) : -LN__TSR_LOG_MAX;
                    v = v < LN__TSR_LOG_MAX ? (v > -LN__TSR_LOG_MAX ? v : -LN__TSR_LOG_MAX)
                                            : LN__TSR_LOG_MAX;
                    vmin = v < vmin ? v : vmin;
                    vmax = v > vmax ? v : vmax;
                    const float dv = fabsf(v - log_t);
                    dist = dv < dist ? dv : dist;
                    sum += d < 1e30f ? (double)d : 1e30;
                }
                const size_t cell = (mi * M + mj) * M + mk;
                c->raw[cell] = bad || (n_in != 0 && n_in != 8) ||
                               dist < LN__TSR_MARGIN + LN__TSR_SLOPE * (vmax - vmin);
                /* The mean of values on one side stays on that side. */
                c->fill[cell] = (float)(sum / 8.0);
            }
}

/* Fills the fine field slab by slab: coarse points take their value, points
 * in an active cell are marked for evaluation (NaN), the rest take their
 * cell's fill value. */
static void ln__c2f_mark(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__c2f *c = vctx;
    const int R = c->R, M = c->M;
    const size_t P = (size_t)M + 1;
    uint8_t act_row[LN__TSR_MAX_R];
    float fill_row[LN__TSR_MAX_R];
    const int *lo = c->cell_lo, *hi = c->cell_hi, *co = c->coarse_of;
    for (size_t i = begin; i < end; i++) {
        size_t cnt = 0;
        for (int j = 0; j < R; j++) {
            const size_t r00 = ((size_t)lo[i] * (size_t)M + (size_t)lo[j]) * (size_t)M;
            const size_t r01 = ((size_t)lo[i] * (size_t)M + (size_t)hi[j]) * (size_t)M;
            const size_t r10 = ((size_t)hi[i] * (size_t)M + (size_t)lo[j]) * (size_t)M;
            const size_t r11 = ((size_t)hi[i] * (size_t)M + (size_t)hi[j]) * (size_t)M;
            for (int mk = 0; mk < M; mk++) {
                act_row[mk] = c->active[r00 + (size_t)mk] | c->active[r01 + (size_t)mk] |
                              c->active[r10 + (size_t)mk] | c->active[r11 + (size_t)mk];
                fill_row[mk] = c->fill[r00 + (size_t)mk];
            }
            float *restrict row = c->field + (i * (size_t)R + (size_t)j) * (size_t)R;
            const float *crow =
                co[i] >= 0 && co[j] >= 0 ? c->cval + ((size_t)co[i] * P + (size_t)co[j]) * P : NULL;
            for (int k = 0; k < R; k++) {
                if (crow && co[k] >= 0) {
                    row[k] = crow[co[k]];
                } else if (act_row[lo[k]] | act_row[hi[k]]) {
                    row[k] = NAN;
                    cnt++;
                } else {
                    row[k] = fill_row[lo[k]];
                }
            }
        }
        c->count[i] = cnt;
    }
}

static void ln__c2f_gather(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__c2f *c = vctx;
    const size_t R = (size_t)c->R;
    for (size_t s = begin; s < end; s++) {
        const size_t i = c->i0 + s;
        size_t o = c->offset[s];
        const float *slab = c->field + i * R * R;
        for (size_t j = 0; j < R; j++)
            for (size_t k = 0; k < R; k++) {
                const float v = slab[j * R + k];
                if (v == v)
                    continue;
                c->idx[o] = (i * R + j) * R + k;
                c->pts[o * 3 + 0] = c->axis[i];
                c->pts[o * 3 + 1] = c->axis[j];
                c->pts[o * 3 + 2] = c->axis[k];
                o++;
            }
    }
}

static void ln__c2f_scatter(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__c2f *c = vctx;
    for (size_t n = begin; n < end; n++)
        c->field[c->idx[n]] = c->dens[n];
}

/* Following the surface out of the refined cells. A cell left coarse
 * holds values on one side of the threshold (its corners' side). When a
 * point on its boundary, evaluated with a refined neighbour, lies on the
 * other side, the surface enters the cell there: it is refined in the next
 * wave, and so on until no boundary disagrees. A surface that reaches any
 * refined cell is thus followed wherever it goes, at the cost of the cells
 * it passes through; only a piece that lies wholly inside cells left
 * coarse, away from the threshold at their corners, is not seen. */
struct ln__flood {
    int R, M;
    const int *cidx, *lo, *hi, *co;
    const float *field;
    uint32_t *wave;  /* [M^3] 0: coarse; w: refined in wave w */
    uint8_t *fresh;  /* [M^3] refined in the coming wave */
    float *dev;      /* [M^3] roughness of a refined cell (see ln__flood_dev) */
    uint32_t current;
};

/* Clamped log density: the scale the classification works in. */
static float ln__logd(float d)
{
    const float v = d > 0.0f ? logf(d) : -LN__TSR_LOG_MAX;
    return v < LN__TSR_LOG_MAX ? (v > -LN__TSR_LOG_MAX ? v : -LN__TSR_LOG_MAX) : LN__TSR_LOG_MAX;
}

/* For each cell refined in the last wave: the largest difference between
 * the log density at its points and the trilinear interpolation of its
 * corners, i.e. how much the coarse samples misjudge the field there. */
static void ln__flood_dev(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__flood *c = vctx;
    const size_t M = (size_t)c->M, R = (size_t)c->R;
    for (size_t mi = begin; mi < end; mi++)
        for (size_t mj = 0; mj < M; mj++)
            for (size_t mk = 0; mk < M; mk++) {
                const size_t cell = (mi * M + mj) * M + mk;
                if (c->wave[cell] != c->current)
                    continue;
                const size_t i0 = (size_t)c->cidx[mi], i1 = (size_t)c->cidx[mi + 1];
                const size_t j0 = (size_t)c->cidx[mj], j1 = (size_t)c->cidx[mj + 1];
                const size_t k0 = (size_t)c->cidx[mk], k1 = (size_t)c->cidx[mk + 1];
                float v[8];
                for (int q = 0; q < 8; q++)
                    v[q] = ln__logd(c->field[((q >> 2 ? i1 : i0) * R + (q >> 1 & 1 ? j1 : j0)) * R +
                                             (q & 1 ? k1 : k0)]);
                float worst = 0.0f;
                for (size_t i = i0; i <= i1; i++) {
                    const float x = (float)(i - i0) / (float)(i1 - i0);
                    for (size_t j = j0; j <= j1; j++) {
                        const float y = (float)(j - j0) / (float)(j1 - j0);
                        const float *row = c->field + (i * R + j) * R;
                        const float a0 = (v[0] + (v[2] - v[0]) * y) * (1.0f - x) +
                                         (v[4] + (v[6] - v[4]) * y) * x;
                        const float a1 = (v[1] + (v[3] - v[1]) * y) * (1.0f - x) +
                                         (v[5] + (v[7] - v[5]) * y) * x;
                        for (size_t k = k0; k <= k1; k++) {
                            const float z = (float)(k - k0) / (float)(k1 - k0);
                            const float d = fabsf(ln__logd(row[k]) - (a0 + (a1 - a0) * z));
                            worst = d > worst || d != d ? d : worst;
                        }
                    }
                }
                c->dev[cell] = worst == worst ? worst : LN__TSR_LOG_MAX;
            }
}

static void ln__flood_check(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__flood *c = vctx;
    const int M = c->M;
    const size_t R = (size_t)c->R;
    for (size_t mi = begin; mi < end; mi++)
        for (int mj = 0; mj < M; mj++)
            for (int mk = 0; mk < M; mk++) {
                const size_t cell = (mi * (size_t)M + (size_t)mj) * (size_t)M + (size_t)mk;
                c->fresh[cell] = 0;
                if (c->wave[cell])
                    continue;
                int touched = 0;
                float rough = 0.0f;
                for (int di = -1; di <= 1; di++)
                    for (int dj = -1; dj <= 1; dj++)
                        for (int dk = -1; dk <= 1; dk++) {
                            const int ii = (int)mi + di, jj = mj + dj, kk = mk + dk;
                            if (ii < 0 || jj < 0 || kk < 0 || ii >= M || jj >= M || kk >= M)
                                continue;
                            const size_t nb =
                                ((size_t)ii * (size_t)M + (size_t)jj) * (size_t)M + (size_t)kk;
                            if (c->wave[nb] == c->current) {
                                touched = 1;
                                rough = c->dev[nb] > rough ? c->dev[nb] : rough;
                            }
                        }
                if (!touched)
                    continue;
                const size_t i0 = (size_t)c->cidx[mi], i1 = (size_t)c->cidx[mi + 1];
                const size_t j0 = (size_t)c->cidx[mj], j1 = (size_t)c->cidx[mj + 1];
                const size_t k0 = (size_t)c->cidx[mk], k1 = (size_t)c->cidx[mk + 1];
                const int side = c->field[(i0 * R + j0) * R + k0] > LN__TSR_THRESHOLD;
                /* As rough as its refined neighbour, the field could cross
                 * the threshold between corners this near to it. */
                float dist = 2 * LN__TSR_LOG_MAX;
                const float log_t = logf(LN__TSR_THRESHOLD);
                for (int q = 0; q < 8; q++) {
                    const float d = fabsf(
                        ln__logd(c->field[((q >> 2 ? i1 : i0) * R + (q >> 1 & 1 ? j1 : j0)) * R +
                                          (q & 1 ? k1 : k0)]) -
                        log_t);
                    dist = d < dist ? d : dist;
                }
                int differs = dist < LN__TSR_MARGIN + LN__TSR_ROUGH * rough;
                for (size_t i = i0; i <= i1 && !differs; i++)
                    for (size_t j = j0; j <= j1 && !differs; j++) {
                        const float *row = c->field + (i * R + j) * R;
                        const size_t kstep = i == i0 || i == i1 || j == j0 || j == j1 ? 1 : k1 - k0;
                        for (size_t k = k0; k <= k1; k += kstep)
                            if ((row[k] > LN__TSR_THRESHOLD) != side) {
                                differs = 1;
                                break;
                            }
                    }
                c->fresh[cell] = (uint8_t)differs;
            }
}

/* Points of fresh cells not yet evaluated, each once: a point belongs to
 * the lowest-numbered fresh cell that contains it, and is skipped when a
 * refined cell already contains it or it is a coarse point. Appends from
 * *cell_at / *point_at on, stops when cap points are gathered; returns
 * the count. */
static size_t ln__flood_gather(const struct ln__flood *c, const float *axis, size_t *cell_at,
                               size_t *point_at, size_t cap, float *pts, size_t *idx)
{
    const size_t M = (size_t)c->M, R = (size_t)c->R, n_cells = M * M * M;
    size_t n = 0;
    for (size_t cell = *cell_at; cell < n_cells; cell++, *point_at = 0) {
        if (!c->fresh[cell])
            continue;
        const size_t mi = cell / (M * M), mj = cell / M % M, mk = cell % M;
        const size_t i0 = (size_t)c->cidx[mi], j0 = (size_t)c->cidx[mj], k0 = (size_t)c->cidx[mk];
        const size_t ni = (size_t)c->cidx[mi + 1] - i0 + 1, nj = (size_t)c->cidx[mj + 1] - j0 + 1;
        const size_t nk = (size_t)c->cidx[mk + 1] - k0 + 1;
        for (size_t p = *point_at; p < ni * nj * nk; p++) {
            if (n == cap) {
                *cell_at = cell;
                *point_at = p;
                return n;
            }
            const size_t i = i0 + p / (nj * nk), j = j0 + p / nk % nj, k = k0 + p % nk;
            if (c->co[i] >= 0 && c->co[j] >= 0 && c->co[k] >= 0)
                continue;
            int skip = 0;
            for (int a = c->lo[i]; a <= c->hi[i] && !skip; a++)
                for (int b = c->lo[j]; b <= c->hi[j] && !skip; b++)
                    for (int d = c->lo[k]; d <= c->hi[k]; d++) {
                        const size_t o = ((size_t)a * M + (size_t)b) * M + (size_t)d;
                        if (c->wave[o] || (o < cell && c->fresh[o])) {
                            skip = 1;
                            break;
                        }
                    }
            if (skip)
                continue;
            idx[n] = (i * R + j) * R + k;
            pts[n * 3 + 0] = axis[i];
            pts[n * 3 + 1] = axis[j];
            pts[n * 3 + 2] = axis[k];
            n++;
        }
    }
    *cell_at = n_cells;
    *point_at = 0;
    return n;
}

/* One coarse-to-fine evaluation: the buffers it owns, the query it calls
 * and the views its parallel steps share (c for the passes, fl for the
 * waves). */
struct ln__c2f_run {
    int R, M, step;
    size_t P, n_coarse, n_cells; /* coarse points per axis, coarse points, cells */
    ln__tsr_eval_fn eval;
    void *user;
    const struct ln_progress *progress;
    int *cidx;      /* [M + 1] fine index of coarse point m */
    int *lo;        /* [3 R] cell_lo, cell_hi and coarse_of of ln__c2f */
    float *axis;    /* [R] */
    float *cval;    /* [P^3] */
    uint8_t *flags; /* [2 M^3] the first pass's cells, then the waves' fresh cells */
    uint32_t *wave; /* [M^3] */
    float *fill;    /* [M^3] fill values, then the roughness of refined cells */
    size_t *count;  /* [R] */
    size_t *offset; /* [R] */
    float *pts;     /* [cap x 3] points of one query call */
    float *dens;    /* [cap] their densities */
    size_t *idx;    /* [cap] their places in the field */
    size_t cap;     /* points per query call */
    size_t total;   /* points evaluated after the coarse pass */
    struct ln__c2f c;
};

static int ln__c2f_canceled(const struct ln__c2f_run *r, struct ln_error *err)
{
    return ln_progress_canceled(r->progress)
               ? ln_error_set(err, LN_ECANCELED, "canceled during the density grid")
               : LN_OK;
}

/* Allocates the coarse grid's tables and one query call's buffers. */
static int ln__c2f_alloc(struct ln__c2f_run *r, struct ln_error *err)
{
    const size_t R = (size_t)r->R;
    r->cidx = ln_alloc_array(r->P, sizeof(int), 0, "coarse grid", err);
    r->lo = ln_alloc_array(R, 3 * sizeof(int), 0, "coarse grid", err);
    r->axis = ln_alloc_array(R, sizeof(float), 0, "grid axis", err);
    r->cval = ln_alloc_array(r->n_coarse, sizeof(float), 0, "coarse density", err);
    r->flags = ln_alloc_array(r->n_cells, 2, 0, "coarse cells", err);
    r->wave = ln_alloc_array(r->n_cells, sizeof(uint32_t), 0, "coarse cells", err);
    r->fill = ln_alloc_array(r->n_cells, sizeof(float), 0, "coarse cells", err);
    r->count = ln_alloc_array(R, sizeof(size_t), 1, "fine counts", err);
    r->offset = ln_alloc_array(R, sizeof(size_t), 0, "fine counts", err);
    if (!r->cidx || !r->lo || !r->axis || !r->cval || !r->flags || !r->wave || !r->fill ||
        !r->count || !r->offset)
        return LN_ENOMEM;
    /* Buffers for one query call: the coarse pass uses them too. */
    r->cap = LN__TSR_CHUNK;
    r->pts = ln_alloc_array(r->cap, 3 * sizeof(float), 0, "grid points", err);
    r->dens = ln_alloc_array(r->cap, sizeof(float), 0, "grid densities", err);
    if (!r->pts || !r->dens)
        return LN_ENOMEM;
    return LN_OK;
}

/* The coarse points along an axis (0, step, 2 step, ... and R - 1), the
 * cells and coarse point of each fine index, the axis coordinates, and
 * the view r->c of all that. */
static void ln__c2f_index(struct ln__c2f_run *r, float radius)
{
    const int R = r->R, M = r->M;
    int *cidx = r->cidx, *lo = r->lo, *hi = lo + R, *co = hi + R;
    for (int m = 0; m <= M; m++)
        cidx[m] = m * r->step < R - 1 ? m * r->step : R - 1;
    for (int i = 0; i < R; i++) {
        lo[i] = -1;
        co[i] = -1;
    }
    for (int m = 0; m < M; m++)
        for (int i = cidx[m]; i <= cidx[m + 1]; i++) {
            if (lo[i] < 0)
                lo[i] = m;
            hi[i] = m;
        }
    for (int m = 0; m <= M; m++)
        co[cidx[m]] = m;
    ln__triposr_grid_axis(R, radius, r->axis);
    r->c.cell_lo = lo;
    r->c.cell_hi = hi;
    r->c.coarse_of = co;
    r->c.cval = r->cval;
    r->c.raw = r->flags;
    r->c.active = r->flags;
    r->c.fill = r->fill;
    r->c.count = r->count;
    r->c.axis = r->axis;
}

/* Coarse pass: the density at every coarse point into r->cval, in
 * coarse-grid order (k fastest), chunk by chunk. */
static int ln__c2f_coarse(struct ln__c2f_run *r, struct ln_error *err)
{
    const size_t P = r->P, n_coarse = r->n_coarse, cap = r->cap;
    const int *cidx = r->cidx;
    const float *axis = r->axis;
    float *pts = r->pts;
    struct ln_progress coarse_p = ln_progress_span(r->progress, 0.0, 0.15);
    for (size_t n0 = 0; n0 < n_coarse; n0 += cap) {
        int rc = ln__c2f_canceled(r, err);
        if (rc < 0)
            return rc;
        const size_t n1 = n0 + cap < n_coarse ? n0 + cap : n_coarse;
        for (size_t n = n0; n < n1; n++) {
            const size_t mi = n / (P * P), mj = n / P % P, mk = n % P;
            pts[(n - n0) * 3 + 0] = axis[cidx[mi]];
            pts[(n - n0) * 3 + 1] = axis[cidx[mj]];
            pts[(n - n0) * 3 + 2] = axis[cidx[mk]];
        }
        if ((rc = r->eval(r->user, pts, n1 - n0, r->cval + n0, err)) < 0)
            return rc;
        ln_progress_report(&coarse_p, "density", (double)n1 / (double)n_coarse);
    }
    return LN_OK;
}

/* Classifies the cells and lays out the fine field (ln__c2f_mark), then
 * makes the query buffers hold the widest slab and allocates the point
 * indices. Sets r->total to the points the fine pass evaluates. */
static int ln__c2f_plan(struct ln__c2f_run *r, struct ln_error *err)
{
    ln_parallel_for((size_t)r->M, 1, ln__c2f_classify, &r->c);
    ln_parallel_for((size_t)r->R, 1, ln__c2f_mark, &r->c);
    size_t total = 0, widest = 0;
    for (int i = 0; i < r->R; i++) {
        total += r->count[i];
        widest = r->count[i] > widest ? r->count[i] : widest;
    }
    r->total = total;
    if (widest > r->cap) {
        r->cap = widest;
        free(r->pts);
        free(r->dens);
        r->pts = ln_alloc_array(r->cap, 3 * sizeof(float), 0, "grid points", err);
        r->dens = ln_alloc_array(r->cap, sizeof(float), 0, "grid densities", err);
        if (!r->pts || !r->dens)
            return LN_ENOMEM;
    }
    r->idx = ln_alloc_array(r->cap, sizeof(size_t), 0, "grid indices", err);
    if (!r->idx)
        return LN_ENOMEM;
    r->c.pts = r->pts;
    r->c.idx = r->idx;
    r->c.dens = r->dens;
    r->c.offset = r->offset;
    return LN_OK;
}

/* Fine pass: the points marked in the field, in runs of whole slabs of
 * at most cap points each. */
static int ln__c2f_fine(struct ln__c2f_run *r, struct ln_error *err)
{
    const int R = r->R;
    const size_t *count = r->count;
    size_t *offset = r->offset;
    struct ln_progress fine_p = ln_progress_span(r->progress, 0.15, 0.95);
    size_t done_pts = 0;
    for (int i0 = 0; i0 < R;) {
        int rc = ln__c2f_canceled(r, err);
        if (rc < 0)
            return rc;
        size_t n = 0;
        int i1 = i0;
        while (i1 < R && (i1 == i0 || n + count[i1] <= r->cap)) {
            offset[i1 - i0] = n;
            n += count[i1];
            i1++;
        }
        r->c.i0 = (size_t)i0;
        ln_parallel_for((size_t)(i1 - i0), 1, ln__c2f_gather, &r->c);
        if ((rc = r->eval(r->user, r->pts, n, r->dens, err)) < 0)
            return rc;
        ln_parallel_for(n, 4096, ln__c2f_scatter, &r->c);
        done_pts += n;
        ln_progress_report(&fine_p, "density",
                           r->total ? (double)done_pts / (double)r->total : 1.0);
        i0 = i1;
    }
    return LN_OK;
}

/* Then the waves that follow the surface into cells left coarse, until no
 * cell is left to refine; adds their points to r->total and leaves in
 * r->wave the wave that refined each cell (0: none). */
static int ln__c2f_follow(struct ln__c2f_run *r, struct ln_error *err)
{
    const size_t n_cells = r->n_cells;
    uint32_t *wave = r->wave;
    /* fill is spent (the field holds it): it keeps the roughness now. */
    struct ln__flood fl = {
        .R = r->R,
        .M = r->M,
        .cidx = r->cidx,
        .lo = r->c.cell_lo,
        .hi = r->c.cell_hi,
        .co = r->c.coarse_of,
        .field = r->c.field,
        .wave = wave,
        .fresh = r->flags + n_cells,
        .dev = r->fill,
        .current = 1,
    };
    for (size_t q = 0; q < n_cells; q++)
        wave[q] = r->c.active[q] ? 1u : 0u;
    for (;;) {
        ln_parallel_for((size_t)r->M, 1, ln__flood_dev, &fl);
        ln_parallel_for((size_t)r->M, 1, ln__flood_check, &fl);
        size_t cell_at = 0, point_at = 0, any = 0;
        for (size_t q = 0; q < n_cells && !any; q++)
            any = fl.fresh[q];
        if (!any)
            return LN_OK;
        while (cell_at < n_cells) {
            int rc = ln__c2f_canceled(r, err);
            if (rc < 0)
                return rc;
            const size_t n =
                ln__flood_gather(&fl, r->axis, &cell_at, &point_at, r->cap, r->pts, r->idx);
            if (n == 0)
                break;
            if ((rc = r->eval(r->user, r->pts, n, r->dens, err)) < 0)
                return rc;
            ln_parallel_for(n, 4096, ln__c2f_scatter, &r->c);
            r->total += n;
        }
        fl.current++;
        for (size_t q = 0; q < n_cells; q++)
            if (fl.fresh[q])
                wave[q] = fl.current;
    }
}

/* What the evaluation cost: points evaluated, cells refined. */
static void ln__c2f_stats(const struct ln__c2f_run *r, struct ln__tsr_density_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    stats->n_points = (size_t)r->R * (size_t)r->R * (size_t)r->R;
    stats->n_coarse = r->n_coarse;
    stats->n_evaluated = r->n_coarse + r->total;
    stats->n_cells = r->n_cells;
    for (size_t q = 0; q < r->n_cells; q++)
        stats->n_cells_fine += r->wave[q] != 0;
    stats->step = r->step;
}

int ln__tsr_grid_coarse_fine(int R, float radius, int step, ln__tsr_eval_fn eval, void *user,
                             float *field, struct ln__tsr_density_stats *stats,
                             const struct ln_progress *progress, struct ln_error *err)
{
    int rc = ln__check_grid(R, err);
    if (rc < 0)
        return rc;
    if (step <= 0)
        step = LN__TSR_COARSE_STEP;
    if (step >= R - 1)
        return ln__tsr_grid_dense(R, radius, eval, user, field, stats, progress, err);
    /* Coarse points at 0, step, 2 step, ... and R - 1: M cells per axis,
     * the last one possibly narrower. */
    const int M = (R - 1 + step - 1) / step;
    struct ln__c2f_run r = {
        .R = R,
        .M = M,
        .step = step,
        .P = (size_t)M + 1,
        .n_coarse = ((size_t)M + 1) * ((size_t)M + 1) * ((size_t)M + 1),
        .n_cells = (size_t)M * M * M,
        .eval = eval,
        .user = user,
        .progress = progress,
        .c = {.R = R, .M = M, .field = field},
    };
    if ((rc = ln__c2f_alloc(&r, err)) < 0)
        goto done;
    ln__c2f_index(&r, radius);
    if ((rc = ln__c2f_coarse(&r, err)) < 0 || (rc = ln__c2f_plan(&r, err)) < 0 ||
        (rc = ln__c2f_fine(&r, err)) < 0 || (rc = ln__c2f_follow(&r, err)) < 0)
        goto done;
    ln_progress_report(progress, "density", 1.0);
    if (stats)
        ln__c2f_stats(&r, stats);
done:
    free(r.idx);
    free(r.dens);
    free(r.pts);
    free(r.offset);
    free(r.count);
    free(r.fill);
    free(r.wave);
    free(r.flags);
    free(r.cval);
    free(r.axis);
    free(r.lo);
    free(r.cidx);
    return rc;
}

/* ------------------------------------------------------------------- meshing */

int ln__triposr_mesh_field(const float *field, int R, float radius, struct ln_mesh *out,
                           struct ln_error *err)
{
    int rc = ln__check_grid(R, err);
    if (rc < 0)
        return rc;
    /* Vertex = fractional grid index / (R - 1) mapped to [-r, r]. */
    const float span = (float)((double)radius - (double)-radius);
    const float origin[3] = {-radius, -radius, -radius};
    const float h = span / (float)(R - 1);
    const float spacing[3] = {h, h, h};
    return ln_mc_extract(field, R, R, R, LN__TSR_THRESHOLD, origin, spacing, out, err);
}

void ln__triposr_to_product_frame(struct ln_mesh *m)
{
    float *arrays[2] = {m->positions, m->normals};
    for (int a = 0; a < 2; a++) {
        float *p = arrays[a];
        if (!p)
            continue;
        for (size_t v = 0; v < m->n_vertices; v++, p += 3) {
            const float x = p[0], y = p[1], z = p[2];
            p[0] = y;
            p[1] = z;
            p[2] = x;
        }
    }
}

/* -------------------------------------------------------------------- engine */

static double ln__stage(struct ln_generate_report *rep, const char *name, double t0)
{
    const double t1 = ln_time_now();
    ln_report_stage(rep, name, t1 - t0);
    return t1;
}

static int ln__tap(const struct ln_engine_tap *tap, const char *name, const float *data,
                   const size_t *shape, int ndim, struct ln_error *err)
{
    if (!tap)
        return LN_OK;
    int rc = tap->fn(tap->user, name, data, shape, ndim, err);
    if (rc < 0 && err && err->code == LN_OK)
        err->code = rc;
    return rc;
}

#define LN__CANCEL_CHECK(where)                                                                \
    do {                                                                                       \
        if (ln_progress_canceled(progress)) {                                                  \
            rc = ln_error_set(err, LN_ECANCELED, "canceled before the %s", where);             \
            goto done;                                                                         \
        }                                                                                      \
    } while (0)

/* The baker's colours: the network's colour field at the texel's point,
 * as for vertex colours (upstream's baker queries it the same way). The
 * colorizer owns the scene codes; the network is the engine's. */
struct ln__tsr_bake {
    const struct ln_triposr *net;
    float *scene;
};

static int ln__tsr_bake_color(void *state, const float *points, const float *normals, size_t n,
                              float *rgb, struct ln_error *err)
{
    (void)normals;
    const struct ln__tsr_bake *b = state;
    float *pts = ln_alloc_array(n, 3 * sizeof(float), 0, "texture points", err);
    if (!pts)
        return err ? err->code : LN_ENOMEM;
    /* back from the product frame (ln__triposr_to_product_frame) */
    for (size_t i = 0; i < n; i++) {
        pts[3 * i] = points[3 * i + 2];
        pts[3 * i + 1] = points[3 * i];
        pts[3 * i + 2] = points[3 * i + 1];
    }
    int rc = ln_triposr_query(b->net, b->scene, pts, n, NULL, rgb, NULL, err);
    free(pts);
    return rc;
}

static void ln__tsr_bake_free(void *state)
{
    struct ln__tsr_bake *b = state;
    free(b->scene);
    free(b);
}

void ln__triposr_colorizer(const struct ln_triposr *net, float *scene, struct ln_colorizer *out)
{
    struct ln__tsr_bake *b = ln_xcalloc(1, sizeof *b);
    b->net = net;
    b->scene = scene;
    *out = (struct ln_colorizer){
        .color = ln__tsr_bake_color, .free = ln__tsr_bake_free, .state = b};
}

static int ln__tsr_run(const struct ln_engine *eng, const struct ln_engine_input *in,
                       const struct ln_generate_options *opt, const struct ln_progress *progress,
                       struct ln_mesh *out, struct ln_colorizer *bake,
                       struct ln_generate_report *rep, struct ln_error *err)
{
    const struct ln__tsr *t = eng->impl;
    const struct ln_triposr *net = t->net;
    const struct ln_triposr_config *cfg = ln_triposr_get_config(net);
    if (in->n_images != 1)
        return ln_error_set(err, LN_EINVAL,
                            "the triposr engine takes one image; use the sculpt engine for "
                            "several views");
    const int R = opt->resolution ? opt->resolution : 256;
    int rc = ln__check_grid(R, err);
    if (rc < 0)
        return rc;
    const struct ln_engine_tap *tap = opt->tap && opt->tap->fn ? opt->tap : NULL;
    float *chw = NULL, *tokens = NULL, *bb = NULL, *scene = NULL, *field = NULL;
    struct ln_mesh mesh = {0};
    double t0 = ln_time_now();

    /* On a GPU, the network's whole device memory is checked and taken
     * before any stage runs: a job that cannot fit fails at once. */
    if ((rc = ln_triposr_reserve_device(net, err)) < 0)
        return rc;
    ln_progress_report(progress, "preprocess", 0.0);
    chw = ln_alloc_array(ln_triposr_image_floats(net), sizeof(float), 0, "network input", err);
    if (!chw) {
        rc = LN_ENOMEM;
        goto done;
    }
    if ((rc = ln__triposr_preprocess(net, &in->images[0], opt->remove_bg, rep,
                                     opt->foreground_ratio, chw, err)) < 0)
        goto done;
    t0 = ln__stage(rep, "preprocess", t0);

    /* Spans of the engine's progress, roughly by time at the released
     * size: the backbone dominates. */
    LN__CANCEL_CHECK("image encoder");
    ln_progress_report(progress, "image encoder", 0.01);
    /* 64-byte aligned, as ln_triposr_scene_code's (ln_triposr.c says why) */
    tokens = ln_alloc_array(ln_triposr_tokens_floats(net), sizeof(float), LN_ALLOC_HUGE,
                            "image tokens", err);
    bb = ln_alloc_array(ln_triposr_backbone_floats(net), sizeof(float), LN_ALLOC_HUGE,
                        "triplane tokens", err);
    scene = ln_alloc_array(ln_triposr_scene_floats(net), sizeof(float), 0, "scene code", err);
    if (!tokens || !bb || !scene) {
        rc = LN_ENOMEM;
        goto done;
    }
    if ((rc = ln_triposr_encode_image(net, chw, tokens, NULL, err)) < 0)
        goto done;
    t0 = ln__stage(rep, "image encoder", t0);

    LN__CANCEL_CHECK("backbone");
    struct ln_progress bb_p = ln_progress_span(progress, 0.07, 0.75);
    if ((rc = ln_triposr_backbone(net, tokens, bb, NULL, &bb_p, err)) < 0 ||
        (rc = ln_triposr_upsample(net, bb, scene, err)) < 0)
        goto done;
    free(bb);
    free(tokens);
    bb = tokens = NULL;
    t0 = ln__stage(rep, "backbone", t0);
    const size_t side = 2 * (size_t)cfg->plane_size;
    const size_t scene_shape[5] = {1, 3, (size_t)cfg->post_out, side, side};
    if ((rc = ln__tap(tap, "scene_codes", scene, scene_shape, 5, err)) < 0)
        goto done;

    LN__CANCEL_CHECK("density grid");
    /* On huge pages: 64 MB at 256, written once; new 4 KB pages cost
     * about 10 us each to fault in on a virtual machine (0.17 s for the
     * whole field, against 0.02-0.08 s on 2 MB pages). */
    field = ln_alloc_array((size_t)R * (size_t)R, (size_t)R * sizeof(float), LN_ALLOC_HUGE,
                           "density grid", err);
    if (!field) {
        rc = LN_ENOMEM;
        goto done;
    }
    struct ln_progress dens_p = ln_progress_span(progress, 0.75, 0.93);
    struct ln__tsr_density_stats st;
    if (tap && tap->dense_density) {
        if ((rc = ln__triposr_density_dense(net, scene, R, field, &st, &dens_p, err)) < 0)
            goto done;
        const size_t grid_shape[3] = {(size_t)R, (size_t)R, (size_t)R};
        if ((rc = ln__tap(tap, "density", field, grid_shape, 3, err)) < 0)
            goto done;
    } else if ((rc = ln__triposr_density_coarse_fine(net, scene, R, 0, field, &st, &dens_p,
                                                     err)) < 0) {
        goto done;
    }
    ln_log_info("triposr: density on the %d^3 grid: %zu of %zu points evaluated (%.1f%%)", R,
                st.n_evaluated, st.n_points, 100.0 * (double)st.n_evaluated / (double)st.n_points);
    t0 = ln__stage(rep, "density", t0);

    LN__CANCEL_CHECK("meshing");
    ln_progress_report(progress, "meshing", 0.93);
    if ((rc = ln__triposr_mesh_field(field, R, cfg->radius, &mesh, err)) < 0)
        goto done;
    free(field);
    field = NULL;
    t0 = ln__stage(rep, "meshing", t0);

    LN__CANCEL_CHECK("colouring");
    ln_progress_report(progress, "colouring", 0.96);
    if (mesh.n_vertices > 0) {
        mesh.colors = ln_alloc_array(mesh.n_vertices, 3 * sizeof(float), 0, "vertex colours", err);
        if (!mesh.colors) {
            rc = LN_ENOMEM;
            goto done;
        }
        if ((rc = ln_triposr_query(net, scene, mesh.positions, mesh.n_vertices, NULL, mesh.colors,
                                   NULL, err)) < 0)
            goto done;
    }
    ln__triposr_to_product_frame(&mesh);
    ln__stage(rep, "colouring", t0);
    ln_progress_report(progress, "colouring", 1.0);
    if (bake) {
        ln__triposr_colorizer(net, scene, bake);
        scene = NULL;
    }
    *out = mesh;
    memset(&mesh, 0, sizeof mesh);
done:
    ln_mesh_free(&mesh);
    free(field);
    free(scene);
    free(bb);
    free(tokens);
    free(chw);
    return rc;
}

static void ln__tsr_destroy(struct ln_engine *eng)
{
    struct ln__tsr *t = eng->impl;
    if (t) {
        ln_triposr_free(t->net);
        free(t);
    }
    free(eng);
}

static const struct ln_engine_ops ln__tsr_ops = {
    .name = "triposr",
    .max_images = 1,
    .run = ln__tsr_run,
    .destroy = ln__tsr_destroy,
};

const struct ln_triposr *ln__engine_triposr_net(const struct ln_engine *eng)
{
    if (!eng || eng->ops != &ln__tsr_ops)
        return NULL;
    return ((const struct ln__tsr *)eng->impl)->net;
}

int ln_engine_triposr_new(const char *model_spec, struct ln_engine **out, struct ln_error *err)
{
    *out = NULL;
    struct ln__tsr *t = ln_xcalloc(1, sizeof *t);
    int rc;
    if ((rc = ln_model_locate(model_spec, &t->files, err)) < 0 ||
        (rc = ln_triposr_load(&t->files, &t->net, err)) < 0) {
        free(t);
        return rc;
    }
    snprintf(t->description, sizeof t->description, "weights from %s", t->files.where);
    struct ln_engine *eng = ln_xcalloc(1, sizeof *eng);
    eng->ops = &ln__tsr_ops;
    eng->impl = t;
    eng->description = t->description;
    *out = eng;
    return LN_OK;
}
