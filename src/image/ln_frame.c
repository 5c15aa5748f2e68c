/*
 * Framing and resampling as TripoSR's run.py does it (docs/TRIPOSR.md
 * sections 3.2-3.4): foreground crop and double padding, grey compositing
 * with truncation, and PyTorch's antialiased bilinear resize. Each step
 * reproduces the reference arithmetic (types, operation order, truncations)
 * because the network was trained on exactly these pixels; the golden data
 * in tests/data/triposr-tiny checks them byte for byte or to float32
 * rounding.
 */
#include "ln_frame.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_threads.h"

/* Largest side resize_foreground may produce (ratio close to 0 would
 * otherwise ask for an enormous canvas). */
#define LN__FRAME_MAX_SIDE 65536

/*
 * upstream divides by a Python float (a double), and `int(m / ratio)` can
 * land on either side of an integer depending on the last bits: with the
 * float 0.85f, 17 / 0.85f is 19.9999994 where Python's 17 / 0.85 is 20.0.
 * So the ratio is taken as the shortest decimal that reads back as the
 * same float, which is the literal a caller would have written in Python.
 */
static double ln__ratio_as_decimal(float ratio)
{
    char buf[48];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)ratio);
        if (strtof(buf, NULL) == ratio)
            return strtod(buf, NULL);
    }
    return (double)ratio;
}

int ln_frame_resize_foreground(const struct ln_image *rgba, float ratio, struct ln_image *out,
                               struct ln_error *err)
{
    if (!rgba || !out || !rgba->data || rgba->channels != 4 || rgba->width <= 0 ||
        rgba->height <= 0)
        return ln_error_set(err, LN_EINVAL, "resize_foreground needs a non-empty RGBA image");
    if (!(ratio > 0.0f && ratio <= 1.0f))
        return ln_error_set(err, LN_EINVAL, "foreground ratio %g is outside (0, 1]", (double)ratio);

    const int w = rgba->width, h = rgba->height;
    const uint8_t *px = rgba->data;
    int x1 = w, x2 = -1, y1 = h, y2 = -1;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = px + (size_t)y * w * 4;
        int row_lo = -1, row_hi = -1;
        for (int x = 0; x < w; x++) {
            if (row[(size_t)x * 4 + 3] > 0) {
                if (row_lo < 0)
                    row_lo = x;
                row_hi = x;
            }
        }
        if (row_lo < 0)
            continue;
        if (y1 == h)
            y1 = y;
        y2 = y;
        if (row_lo < x1)
            x1 = row_lo;
        if (row_hi > x2)
            x2 = row_hi;
    }
    if (y2 < 0)
        return ln_error_set(err, LN_EUNUSABLE,
                            "no object found: every pixel of the image is transparent");

    /* Upstream slices [y1:y2, x1:x2] with the maxima as exclusive ends, so
     * the last foreground row and column are dropped. */
    const int ch = y2 - y1, cw = x2 - x1;
    if (ch <= 0 || cw <= 0)
        return ln_error_set(err, LN_EUNUSABLE,
                            "the object is too thin to frame (%d x %d pixels of foreground)",
                            x2 - x1 + 1, y2 - y1 + 1);

    const int m = ch > cw ? ch : cw;
    const double sd = (double)m / ln__ratio_as_decimal(ratio);
    if (sd >= (double)LN__FRAME_MAX_SIDE)
        return ln_error_set(err, LN_ETOOBIG, "framed image would be %.0f pixels wide", sd);
    const int s = (int)sd;
    /* First pad: to the square m x m; second pad: to s x s. Both put the
     * smaller half before the crop. */
    const int top = (m - ch) / 2 + (s - m) / 2;
    const int left = (m - cw) / 2 + (s - m) / 2;

    struct ln_image res = {0};
    int rc = ln_image_alloc(&res, s, s, 4, err);
    if (rc < 0)
        return rc;
    for (int y = 0; y < ch; y++) {
        const uint8_t *src = px + ((size_t)(y1 + y) * w + x1) * 4;
        uint8_t *dst = res.data + ((size_t)(top + y) * s + left) * 4;
        memcpy(dst, src, (size_t)cw * 4);
    }
    *out = res;
    return 0;
}

int ln_frame_composite_grey(const struct ln_image *rgba, struct ln_image *out, struct ln_error *err)
{
    if (!rgba || !out || !rgba->data || rgba->channels != 4 || rgba->width <= 0 ||
        rgba->height <= 0)
        return ln_error_set(err, LN_EINVAL, "grey compositing needs a non-empty RGBA image");

    struct ln_image res = {0};
    int rc = ln_image_alloc(&res, rgba->width, rgba->height, 3, err);
    if (rc < 0)
        return rc;
    const size_t n = (size_t)rgba->width * rgba->height;
    const uint8_t *restrict src = rgba->data;
    uint8_t *restrict dst = res.data;
    for (size_t i = 0; i < n; i++) {
        /* float32 throughout, in upstream's order:
         * rgb * a + (1 - a) * 0.5, then * 255 and truncate. Separate
         * statements keep the compiler from fusing into FMAs, which would
         * change the last bit and so some truncated values. */
        const float a = (float)src[i * 4 + 3] / 255.0f;
        const float back = (1.0f - a) * 0.5f;
        for (int c = 0; c < 3; c++) {
            const float v = (float)src[i * 4 + c] / 255.0f;
            const float front = v * a;
            const float mix = front + back;
            const float scaled = mix * 255.0f;
            dst[i * 3 + c] = (uint8_t)scaled;
        }
    }
    *out = res;
    return 0;
}

int ln_frame_pad_square(const struct ln_image *rgba, struct ln_image *out, struct ln_error *err)
{
    if (!rgba || !out || !rgba->data || rgba->channels != 4 || rgba->width <= 0 ||
        rgba->height <= 0)
        return ln_error_set(err, LN_EINVAL, "square padding needs a non-empty RGBA image");

    const int w = rgba->width, h = rgba->height;
    const int side = w > h ? w : h;
    const int left = (side - w) / 2, top = (side - h) / 2;
    struct ln_image res = {0};
    int rc = ln_image_alloc(&res, side, side, 4, err);
    if (rc < 0)
        return rc;
    for (int y = 0; y < h; y++)
        memcpy(res.data + ((size_t)(top + y) * side + left) * 4, rgba->data + (size_t)y * w * 4,
               (size_t)w * 4);
    *out = res;
    return 0;
}

void ln_image_to_float(const struct ln_image *img, float *out)
{
    const size_t n = (size_t)img->width * img->height * img->channels;
    const uint8_t *restrict src = img->data;
    float *restrict dst = out;
    for (size_t i = 0; i < n; i++)
        dst[i] = (float)src[i] / 255.0f;
}

/* ---- antialiased bilinear resize ---------------------------------------- */

/* Taps of one axis: output i reads len[i] inputs from lo[i] with weights
 * w[i * stride ...]. */
struct ln__aa_axis {
    int stride;
    int *lo;
    int *len;
    float *w;
};

static void ln__aa_axis_free(struct ln__aa_axis *ax)
{
    free(ax->lo);
    free(ax->len);
    free(ax->w);
}

/*
 * PyTorch 1.13 _compute_indices_weights_aa / _compute_weights_aa for a
 * float tensor, with its mixed float/double expressions kept as they are:
 * scale, support, centre, inverse scale and the weights are float, the
 * intermediate sums with the 0.5 literals are double.
 */
static int ln__aa_axis_init(struct ln__aa_axis *ax, int n, int m, struct ln_error *err)
{
    const float scale = (float)n / (float)m;
    const float support = scale >= 1.0f ? (float)(1.0 * (double)scale) : 1.0f;
    const float invscale = scale >= 1.0f ? (float)(1.0 / (double)scale) : 1.0f;
    const int stride = (int)ceilf(support) * 2 + 1;

    ax->stride = stride;
    ax->lo = ln_alloc_array((size_t)m, sizeof(int), 0, "resize index table", err);
    ax->len = ln_alloc_array((size_t)m, sizeof(int), 0, "resize index table", err);
    ax->w =
        ln_alloc_array((size_t)m, (size_t)stride * sizeof(float), 1, "resize weight table", err);
    if (!ax->lo || !ax->len || !ax->w) {
        ln__aa_axis_free(ax);
        memset(ax, 0, sizeof *ax);
        return err ? err->code : LN_ENOMEM;
    }

    for (int i = 0; i < m; i++) {
        const float center = (float)((double)scale * ((double)i + 0.5));
        int64_t lo = (int64_t)((double)(center - support) + 0.5);
        if (lo < 0)
            lo = 0;
        int64_t hi = (int64_t)((double)(center + support) + 0.5);
        if (hi > n)
            hi = n;
        int64_t len = hi - lo;
        if (len > stride)
            len = stride; /* cannot happen with the support above; keeps the table safe */
        if (len < 1) {
            /* Also impossible for n, m >= 1; fall back to the nearest input. */
            lo = lo >= n ? n - 1 : lo;
            len = 1;
        }
        float *wt = ax->w + (size_t)i * stride;
        float total = 0.0f;
        for (int64_t j = 0; j < len; j++) {
            const float d = (float)(j + lo) - center;
            float x = (float)(((double)d + 0.5) * (double)invscale);
            if (x < 0.0f)
                x = -x;
            const float wj = x < 1.0f ? (float)(1.0 - (double)x) : 0.0f;
            wt[j] = wj;
            total += wj;
        }
        if (total != 0.0f)
            for (int64_t j = 0; j < len; j++)
                wt[j] /= total;
        ax->lo[i] = (int)lo;
        ax->len[i] = (int)len;
    }
    return 0;
}

struct ln__aa_pass {
    const float *in;
    float *out;
    int w, c; /* input row width (pixels) and channels */
    int ow;   /* output row width (pixels) */
    const struct ln__aa_axis *ax;
};

/* Width pass over rows [begin, end): out[y][i] = sum_j w * in[y][lo + j]. */
static void ln__aa_rows_h(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ln__aa_pass *p = ctx;
    const int c = p->c, ow = p->ow, stride = p->ax->stride;
    const int *restrict lo = p->ax->lo;
    const int *restrict len = p->ax->len;
    const float *restrict wts = p->ax->w;
    for (size_t y = begin; y < end; y++) {
        const float *restrict src = p->in + y * (size_t)p->w * c;
        float *restrict dst = p->out + y * (size_t)ow * c;
        for (int i = 0; i < ow; i++) {
            const float *wt = wts + (size_t)i * stride;
            const float *s = src + (size_t)lo[i] * c;
            const int n = len[i];
            for (int k = 0; k < c; k++) {
                /* Same accumulation order as PyTorch: first tap, then +=. */
                float acc = s[k] * wt[0];
                for (int j = 1; j < n; j++) {
                    const float prod = s[(size_t)j * c + k] * wt[j];
                    acc += prod;
                }
                dst[(size_t)i * c + k] = acc;
            }
        }
    }
}

/* Height pass over output rows [begin, end): whole rows are combined with
 * one weight each, so the inner loop runs along contiguous memory. */
static void ln__aa_rows_v(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ln__aa_pass *p = ctx;
    const size_t row = (size_t)p->w * p->c;
    const int stride = p->ax->stride;
    for (size_t i = begin; i < end; i++) {
        const float *wt = p->ax->w + i * stride;
        const float *restrict src = p->in + (size_t)p->ax->lo[i] * row;
        float *restrict dst = p->out + i * row;
        const int n = p->ax->len[i];
        for (size_t k = 0; k < row; k++)
            dst[k] = src[k] * wt[0];
        for (int j = 1; j < n; j++) {
            const float *restrict sj = src + (size_t)j * row;
            const float wj = wt[j];
            for (size_t k = 0; k < row; k++) {
                const float prod = sj[k] * wj;
                dst[k] += prod;
            }
        }
    }
}

int ln_resize_aa(const float *in, int w, int h, int c, float *out, int ow, int oh,
                 struct ln_error *err)
{
    if (!in || !out || w <= 0 || h <= 0 || c <= 0 || ow <= 0 || oh <= 0)
        return ln_error_set(err, LN_EINVAL, "invalid resize %dx%dx%d -> %dx%d", w, h, c, ow, oh);

    struct ln__aa_axis ax_w = {0}, ax_h = {0};
    float *tmp = NULL;
    int rc = 0;

    if (ow == w && oh == h) {
        memcpy(out, in, (size_t)w * h * c * sizeof(float));
        return 0;
    }
    /* As in PyTorch, an axis whose size does not change is not resampled. */
    if (ow != w && (rc = ln__aa_axis_init(&ax_w, w, ow, err)) < 0)
        goto done;
    if (oh != h && (rc = ln__aa_axis_init(&ax_h, h, oh, err)) < 0)
        goto done;

    const float *mid = in;
    if (ow != w) {
        float *dst = out;
        if (oh != h) {
            tmp =
                ln_alloc_array((size_t)h * ow, (size_t)c * sizeof(float), 0, "resize buffer", err);
            if (!tmp) {
                rc = err ? err->code : LN_ENOMEM;
                goto done;
            }
            dst = tmp;
        }
        struct ln__aa_pass ph = {.in = in, .out = dst, .w = w, .c = c, .ow = ow, .ax = &ax_w};
        ln_parallel_for((size_t)h, 16, ln__aa_rows_h, &ph);
        mid = dst;
    }
    if (oh != h) {
        struct ln__aa_pass pv = {.in = mid, .out = out, .w = ow, .c = c, .ow = ow, .ax = &ax_h};
        ln_parallel_for((size_t)oh, 16, ln__aa_rows_v, &pv);
    }

done:
    free(tmp);
    ln__aa_axis_free(&ax_h);
    ln__aa_axis_free(&ax_w);
    return rc;
}
