/*
 * rembg's preparation and reading of a background network (see
 * ln_matting.h), step by step in rembg's order and arithmetic: the resize
 * is Pillow's separable LANCZOS resampler on 8-bit samples (fixed-point
 * coefficients, an 8-bit picture between the horizontal and vertical
 * passes), the normalisation is done in double as numpy does it, and the
 * output is read in float as numpy does on the runtime's float32 array.
 */
#include "ln_matting.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_onnx.h"
#include "ln_rembg.h"
#include "ln_threads.h"

struct ln_matting {
    struct ln_onnx *net;
    char *name;             /* rembg's name, or the file's */
    int in_w, in_h;         /* the network's input size */
    double mean[3], std[3]; /* rembg's constants, as the doubles Python has */
    int sigmoid;
};

/* ---- Pillow's LANCZOS resampler ---------------------------------------- */

/* Pillow's fixed point for 8-bit samples: 32 bits less 8 for the sample
 * and 2 for the sign and the negative lobes' headroom. */
#define LN__PRECISION_BITS (32 - 8 - 2)
#define LN__LANCZOS_SUPPORT 3.0

static double ln__sinc(double x)
{
    if (x == 0.0)
        return 1.0;
    x *= M_PI;
    return sin(x) / x;
}

/* The Lanczos-3 window: sinc(x) sinc(x / 3) on [-3, 3). */
static double ln__lanczos(double x)
{
    if (-3.0 <= x && x < 3.0)
        return ln__sinc(x) * ln__sinc(x / 3.0);
    return 0.0;
}

/* The filter taps of one axis, from in_size samples to out_size: for
 * output i, taps k[i * ksize + 0 .. n) apply to inputs first .. first + n,
 * bounds[2 i] = first and bounds[2 i + 1] = n. As Pillow computes them: the
 * window is widened by the scale when shrinking (support 3 * in / out), its
 * ends are rounded to whole samples and clipped to the picture, the taps
 * are normalised to sum to 1 in double and then rounded half away from
 * zero to PRECISION_BITS fixed point. */
struct ln__taps {
    int ksize;
    int *bounds;
    int32_t *k;
};

static void ln__taps_free(struct ln__taps *t)
{
    free(t->bounds);
    free(t->k);
    t->bounds = NULL;
    t->k = NULL;
}

static int ln__taps_make(int in_size, int out_size, struct ln__taps *t, struct ln_error *err)
{
    /* Pillow takes the box's ends as floats; exact for these sizes. */
    const double scale = (double)((float)in_size - 0.0f) / out_size;
    const double filterscale = scale < 1.0 ? 1.0 : scale;
    const double support = LN__LANCZOS_SUPPORT * filterscale;
    const int ksize = (int)ceil(support) * 2 + 1;
    double *w = NULL;
    memset(t, 0, sizeof *t);
    t->ksize = ksize;
    t->bounds = ln_alloc_array((size_t)out_size, 2 * sizeof(int), 0, "resize taps", err);
    t->k = ln_alloc_array((size_t)out_size, (size_t)ksize * sizeof(int32_t), 1, "resize taps", err);
    w = ln_alloc_array((size_t)ksize, sizeof(double), 0, "resize taps", err);
    if (!t->bounds || !t->k || !w) {
        free(w);
        ln__taps_free(t);
        return LN_ENOMEM;
    }
    for (int i = 0; i < out_size; i++) {
        const double center = (i + 0.5) * scale;
        const double ss = 1.0 / filterscale;
        /* Pillow rounds the window's ends by truncating x + 0.5. */
        int xmin = (int)(center - support + 0.5);
        int xmax = (int)(center + support + 0.5);
        if (xmin < 0)
            xmin = 0;
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        double sum = 0.0;
        for (int x = 0; x < xmax; x++) {
            w[x] = ln__lanczos((x + xmin - center + 0.5) * ss);
            sum += w[x];
        }
        int32_t *k = t->k + (size_t)i * ksize;
        for (int x = 0; x < xmax; x++) {
            const double v = sum != 0.0 ? w[x] / sum : w[x];
            k[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << LN__PRECISION_BITS))
                         : (int32_t)(0.5 + v * (1 << LN__PRECISION_BITS));
        }
        t->bounds[2 * i] = xmin;
        t->bounds[2 * i + 1] = xmax;
    }
    free(w);
    return LN_OK;
}

/* The fixed-point sum back to a sample: the rounding half is in the
 * accumulator's start value; clipped to 0..255. */
static inline uint8_t ln__clip8(int32_t v)
{
    if (v >= (1 << LN__PRECISION_BITS << 8))
        return 255;
    if (v <= 0)
        return 0;
    return (uint8_t)(v >> LN__PRECISION_BITS);
}

struct ln__pass {
    const uint8_t *src;
    uint8_t *dst;
    int src_w, dst_w; /* pixels per row */
    int channels;
    int row0; /* horizontal: first source row taken */
    const struct ln__taps *taps;
};

static void ln__pass_horizontal(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ln__pass *p = ctx;
    const int c = p->channels, ksize = p->taps->ksize, dst_w = p->dst_w;
    (void)thread;
    for (size_t y = begin; y < end; y++) {
        const uint8_t *restrict in = p->src + ((size_t)p->row0 + y) * p->src_w * c;
        uint8_t *restrict out = p->dst + y * dst_w * c;
        for (int x = 0; x < dst_w; x++) {
            const int first = p->taps->bounds[2 * x], n = p->taps->bounds[2 * x + 1];
            const int32_t *restrict k = p->taps->k + (size_t)x * ksize;
            const uint8_t *restrict s = in + (size_t)first * c;
            for (int ch = 0; ch < c; ch++) {
                int32_t acc = 1 << (LN__PRECISION_BITS - 1);
                for (int i = 0; i < n; i++)
                    acc += s[i * c + ch] * k[i];
                out[x * c + ch] = ln__clip8(acc);
            }
        }
    }
}

static void ln__pass_vertical(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ln__pass *p = ctx;
    const size_t row = (size_t)p->dst_w * p->channels;
    const int ksize = p->taps->ksize;
    (void)thread;
    for (size_t y = begin; y < end; y++) {
        const int first = p->taps->bounds[2 * y] - p->row0, n = p->taps->bounds[2 * y + 1];
        const int32_t *restrict k = p->taps->k + y * ksize;
        const uint8_t *restrict in = p->src + (size_t)first * row;
        uint8_t *restrict out = p->dst + y * row;
        for (size_t x = 0; x < row; x++) {
            int32_t acc = 1 << (LN__PRECISION_BITS - 1);
            for (int i = 0; i < n; i++)
                acc += in[(size_t)i * row + x] * k[i];
            out[x] = ln__clip8(acc);
        }
    }
}

static int ln__check_size(int w, int h, const char *what, struct ln_error *err)
{
    if (w <= 0 || h <= 0)
        return ln_error_set(err, LN_EINVAL, "%s of %d x %d pixels", what, w, h);
    if (w > LN_MATTING_MAX_SIDE || h > LN_MATTING_MAX_SIDE)
        return ln_error_set(err, LN_ETOOBIG, "%s of %d x %d pixels is over %d on a side", what, w,
                            h, LN_MATTING_MAX_SIDE);
    return LN_OK;
}

int ln_matting_resize(const uint8_t *src, int w, int h, int channels, uint8_t *dst, int dw, int dh,
                      struct ln_error *err)
{
    int rc;
    if (!src || !dst || channels < 1 || channels > 4)
        return ln_error_set(err, LN_EINVAL, "resize: no pixels, or %d channels", channels);
    if ((rc = ln__check_size(w, h, "a picture", err)) < 0 ||
        (rc = ln__check_size(dw, dh, "a resized picture", err)) < 0)
        return rc;
    struct ln__taps th = {0}, tv = {0};
    uint8_t *tmp = NULL;
    /* Pillow skips the pass of an axis whose size does not change, and
     * copies when neither does. */
    const int need_h = dw != w, need_v = dh != h;
    if (!need_h && !need_v) {
        memcpy(dst, src, (size_t)w * h * channels);
        return LN_OK;
    }
    if ((need_h && (rc = ln__taps_make(w, dw, &th, err)) < 0) ||
        (need_v && (rc = ln__taps_make(h, dh, &tv, err)) < 0))
        goto out;
    /* Only the source rows some output row reads go through the
     * horizontal pass. */
    int row0 = 0, rows = h;
    if (need_v) {
        row0 = tv.bounds[0];
        rows = tv.bounds[2 * (dh - 1)] + tv.bounds[2 * dh - 1] - row0;
    }
    if (need_h) {
        uint8_t *hout = dst;
        if (need_v) {
            tmp = ln_alloc_array((size_t)rows * dw, (size_t)channels, 0, "resized picture", err);
            if (!tmp) {
                rc = LN_ENOMEM;
                goto out;
            }
            hout = tmp;
        }
        struct ln__pass p = {src, hout, w, dw, channels, row0, &th};
        ln_parallel_for((size_t)rows, 16, ln__pass_horizontal, &p);
    }
    if (need_v) {
        /* Without a horizontal pass the vertical one reads the source,
         * whose rows start at 0, not at row0. */
        struct ln__pass p = {need_h ? tmp : src, dst, dw, dw, channels, need_h ? row0 : 0, &tv};
        ln_parallel_for((size_t)dh, 16, ln__pass_vertical, &p);
    }
    rc = LN_OK;
out:
    free(tmp);
    ln__taps_free(&th);
    ln__taps_free(&tv);
    return rc;
}

/* ---- the model --------------------------------------------------------- */

/* The table keeps rembg's constants as floats; Python has them as doubles
 * (0.485, not 0.485f). Every one is written with at most six significant
 * digits, so printing the float to six digits and reading it back gives
 * the exact double rembg computes with. */
static double ln__rembg_double(float v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%.6g", (double)v);
    return strtod(buf, NULL);
}

int ln_matting_open(const char *name_or_path, struct ln_matting **out, struct ln_error *err)
{
    char path[4096];
    const struct ln_rembg_model *model = NULL;
    struct ln_onnx *net = NULL;
    int rc;
    *out = NULL;
    if ((rc = ln_rembg_resolve(name_or_path, path, sizeof path, &model, err)) < 0)
        return rc;
    if ((rc = ln_onnx_load(path, &net, err)) < 0)
        return rc;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (ln_onnx_n_inputs(net) != 1 || ln_onnx_n_outputs(net) < 1) {
        rc = ln_error_set(err, LN_EFORMAT,
                          "%s: the network takes %zu inputs and gives %zu outputs; a background "
                          "model takes one picture and gives a mask",
                          base, ln_onnx_n_inputs(net), ln_onnx_n_outputs(net));
        ln_onnx_free(net);
        return rc;
    }
    int64_t shape[LN_ONNX_MAX_DIMS];
    int ndim = 0;
    if ((rc = ln_onnx_input_shape(net, 0, shape, &ndim)) < 0 || ndim != 4 ||
        (shape[0] != 1 && shape[0] != -1) || (shape[1] != 3 && shape[1] != -1)) {
        rc =
            ln_error_set(err, LN_EFORMAT, "%s: the network's input is not a 1x3xHxW picture", base);
        ln_onnx_free(net);
        return rc;
    }
    /* A foreign file is read like u2net, the model rembg falls back on. */
    const struct ln_rembg_model *like = model ? model : ln_rembg_model("u2net");
    struct ln_matting *m = ln_xcalloc(1, sizeof *m);
    m->net = net;
    m->name = ln_xstrdup(model ? model->name : base);
    /* rembg asks for its table's size; a graph with a fixed size of its own
     * can only take that, so the graph's size wins where it has one. */
    m->in_w = shape[3] > 0 && shape[3] <= LN_MATTING_MAX_SIDE ? (int)shape[3] : like->size;
    m->in_h = shape[2] > 0 && shape[2] <= LN_MATTING_MAX_SIDE ? (int)shape[2] : like->size;
    for (int c = 0; c < 3; c++) {
        m->mean[c] = ln__rembg_double(like->mean[c]);
        m->std[c] = ln__rembg_double(like->std[c]);
    }
    m->sigmoid = like->sigmoid;
    *out = m;
    return LN_OK;
}

const char *ln_matting_name(const struct ln_matting *m)
{
    return m->name;
}

void ln_matting_input_size(const struct ln_matting *m, int *w, int *h)
{
    *w = m->in_w;
    *h = m->in_h;
}

void ln_matting_free(struct ln_matting *m)
{
    if (!m)
        return;
    ln_onnx_free(m->net);
    free(m->name);
    free(m);
}

int ln_matting_mask(struct ln_matting *m, const uint8_t *pixels, int w, int h, int channels,
                    uint8_t *mask, struct ln_error *err)
{
    uint8_t *rgb = NULL, *small = NULL, *grey = NULL;
    struct ln_onnx_tensor in = {0}, res = {0};
    int rc;
    if (!m || !pixels || !mask || (channels != 3 && channels != 4))
        return ln_error_set(err, LN_EINVAL, "matting takes RGB or RGBA pixels, not %d channels",
                            channels);
    if ((rc = ln__check_size(w, h, "a picture", err)) < 0)
        return rc;
    const int sw = m->in_w, sh = m->in_h;
    const size_t n_in = (size_t)sw * sh;

    /* 1-2. RGB, then the network's size. */
    const uint8_t *src = pixels;
    if (channels == 4) {
        rgb = ln_alloc_array((size_t)w * h, 3, 0, "RGB picture", err);
        if (!rgb) {
            rc = LN_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < (size_t)w * h; i++)
            memcpy(rgb + 3 * i, pixels + 4 * i, 3);
        src = rgb;
    }
    small = ln_alloc_array(n_in, 3, 0, "resized picture", err);
    if (!small) {
        rc = LN_ENOMEM;
        goto out;
    }
    if ((rc = ln_matting_resize(src, w, h, 3, small, sw, sh, err)) < 0)
        goto out;

    /* 3. rembg: im / max(np.max(im), 1e-6), then (x - mean) / std, all in
     * float64, and only then float32. */
    in.data = ln_alloc_array(n_in, 3 * sizeof(float), 0, "network input", err);
    if (!in.data) {
        rc = LN_ENOMEM;
        goto out;
    }
    uint8_t peak = 0;
    for (size_t i = 0; i < 3 * n_in; i++)
        peak = small[i] > peak ? small[i] : peak;
    const double div = peak > 0 ? (double)peak : 1e-6;
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < n_in; i++)
            in.data[(size_t)c * n_in + i] =
                (float)(((double)small[3 * i + c] / div - m->mean[c]) / m->std[c]);
    in.shape[0] = 1;
    in.shape[1] = 3;
    in.shape[2] = sh;
    in.shape[3] = sw;
    in.ndim = 4;
    if ((rc = ln_onnx_run(m->net, &in, 1, &res, 1, err)) < 0)
        goto out;

    /* 4. pred = out[:, 0, :, :], min-max normalised in float32. */
    if (res.ndim != 4 || res.shape[0] != 1 || res.shape[1] < 1 || res.shape[2] < 1 ||
        res.shape[3] < 1 || res.shape[2] > LN_MATTING_MAX_SIDE ||
        res.shape[3] > LN_MATTING_MAX_SIDE) {
        rc =
            ln_error_set(err, LN_EFORMAT, "%s: the network's output is not a 1xCxHxW map", m->name);
        goto out;
    }
    const int ow = (int)res.shape[3], oh = (int)res.shape[2];
    const size_t n_out = (size_t)ow * oh;
    float *p = res.data; /* channel 0 */
    if (m->sigmoid)
        for (size_t i = 0; i < n_out; i++)
            p[i] = 1.0f / (1.0f + expf(-p[i]));
    float lo = p[0], hi = p[0];
    for (size_t i = 0; i < n_out; i++) {
        if (!isfinite(p[i])) {
            rc = ln_error_set(err, LN_EFORMAT, "%s: the network's output holds %s", m->name,
                              isnan(p[i]) ? "NaN" : "an infinity");
            goto out;
        }
        lo = p[i] < lo ? p[i] : lo;
        hi = p[i] > hi ? p[i] : hi;
    }
    grey = ln_alloc_array(n_out, 1, 0, "mask", err);
    if (!grey) {
        rc = LN_ENOMEM;
        goto out;
    }
    if (hi > lo) {
        const float range = hi - lo;
        for (size_t i = 0; i < n_out; i++) {
            float q = (p[i] - lo) / range;
            /* rembg's u2net sessions clip to 0..1; the others need not,
             * and for finite values it changes nothing. */
            q = q < 0.0f ? 0.0f : q > 1.0f ? 1.0f : q;
            grey[i] = (uint8_t)(q * 255.0f); /* numpy's astype("uint8") truncates */
        }
    } else {
        /* 0 / 0 in rembg: NaN, which astype("uint8") turns into 0. */
        memset(grey, 0, n_out);
    }

    /* 5. back to the picture's size; written into mask only on success. */
    rc = ln_matting_resize(grey, ow, oh, 1, mask, w, h, err);
out:
    free(rgb);
    free(small);
    free(grey);
    free(in.data);
    ln_onnx_tensor_free(&res);
    return rc;
}
