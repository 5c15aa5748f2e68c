/*
 * Dense-network operators (see ln_nn_ops.h). Matrix products go to
 * cblas_sgemm from the calling thread so OpenBLAS's own threads do the
 * work; the memory-bound element-wise loops are split by rows across
 * ln_parallel_for. Transcendental loops have a plain scalar form (libm) and
 * an AVX-512 form (polynomial exp, rational erfc) used when the compiler
 * targets AVX-512; both agree with libm to a few float ulps.
 */
#include "ln_nn_ops.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "ln_threads.h"


void ln__blas_sync_threads(void)
{
    const int nt = ln_threads_get();
    if (openblas_get_num_threads() != nt)
        openblas_set_num_threads(nt);
}

/* Rows per ln_parallel_for chunk so that a chunk holds about 64 k values. */
static size_t ln__grain(size_t cols)
{
    const size_t g = cols > 0 ? ((size_t)1 << 16) / cols : 1;
    return g > 0 ? g : 1;
}

/* ---------------------------------------------------------------- vector math */


float ln__gelu1(float x)
{
    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}

float ln__silu1(float x)
{
    return x / (1.0f + expf(-x));
}

/* ------------------------------------------------------------------ linear */

struct ln__bias_ctx {
    float *y;
    int ldy, n, accumulate;
    const float *bias;
};

static void ln__bias_body(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__bias_ctx *c = vctx;
    const int n = c->n;
    const float *restrict b = c->bias;
    for (size_t r = begin; r < end; r++) {
        float *restrict y = c->y + r * (size_t)c->ldy;
        if (c->accumulate) {
            for (int j = 0; j < n; j++)
                y[j] += b[j];
        } else {
            memcpy(y, b, (size_t)n * sizeof(float));
        }
    }
}

void ln__linear(const float *x, size_t rows, int k, int ldx, const float *w, const float *bias,
                int n, float *y, int ldy, int accumulate)
{
    assert(ldx >= k && ldy >= n && rows <= (size_t)1 << 30);
    if (rows == 0 || n == 0)
        return;
    float beta = accumulate ? 1.0f : 0.0f;
    if (bias) {
        struct ln__bias_ctx c = {y, ldy, n, accumulate, bias};
        ln_parallel_for(rows, ln__grain((size_t)n), ln__bias_body, &c);
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, n, k, 1.0f, x, ldx, w, k,
                beta, y, ldy);
}

void ln__linear_xt(const float *xt, size_t rows, int k, int ldxt, const float *w,
                   const float *bias, int n, float *y, int ldy, int accumulate)
{
    assert((size_t)ldxt >= rows && ldy >= n && rows <= (size_t)1 << 30);
    if (rows == 0 || n == 0)
        return;
    float beta = accumulate ? 1.0f : 0.0f;
    if (bias) {
        struct ln__bias_ctx c = {y, ldy, n, accumulate, bias};
        ln_parallel_for(rows, ln__grain((size_t)n), ln__bias_body, &c);
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, (int)rows, n, k, 1.0f, xt, ldxt, w, k,
                beta, y, ldy);
}

/* --------------------------------------------------------------- normalising */

/* Sum and sum of squared deviations from mean, in double with eight
 * independent accumulators (no serial add chain; vectorisable). */
static double ln__sum(const float *restrict x, size_t n)
{
    double a[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            a[k] += x[i + (size_t)k];
    double s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    for (; i < n; i++)
        s += x[i];
    return s;
}

static double ln__sq_dev(const float *restrict x, size_t n, double mean)
{
    double a[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) {
            const double d = x[i + (size_t)k] - mean;
            a[k] += d * d;
        }
    double s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    for (; i < n; i++) {
        const double d = x[i] - mean;
        s += d * d;
    }
    return s;
}

struct ln__ln_ctx {
    const float *x;
    float *y;
    int dim, ldx, ldy;
    const float *g, *b;
    float eps;
};

static void ln__layernorm_body(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__ln_ctx *c = vctx;
    const int dim = c->dim;
    const float *restrict g = c->g;
    const float *restrict b = c->b;
    for (size_t r = begin; r < end; r++) {
        const float *restrict x = c->x + r * (size_t)c->ldx;
        float *y = c->y + r * (size_t)c->ldy;
        const double mean = ln__sum(x, (size_t)dim) / dim;
        const double v = ln__sq_dev(x, (size_t)dim, mean);
        const float rstd = (float)(1.0 / sqrt(v / dim + (double)c->eps));
        const float m = (float)mean;
        for (int j = 0; j < dim; j++)
            y[j] = (x[j] - m) * rstd * g[j] + b[j];
    }
}

void ln__layernorm(const float *x, size_t rows, int dim, int ldx, const float *g, const float *b,
                   float eps, float *y, int ldy)
{
    assert(ldx >= dim && ldy >= dim && dim > 0);
    struct ln__ln_ctx c = {x, y, dim, ldx, ldy, g, b, eps};
    ln_parallel_for(rows, ln__grain((size_t)dim), ln__layernorm_body, &c);
}

struct ln__gn_ctx {
    const float *x;
    float *y;
    int cpg;
    size_t n;
    const float *g, *b;
    float eps;
};

static void ln__groupnorm_body(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__gn_ctx *c = vctx;
    const size_t n = c->n;
    for (size_t grp = begin; grp < end; grp++) {
        const size_t c0 = grp * (size_t)c->cpg;
        const float *restrict x = c->x + c0 * n;
        const size_t count = (size_t)c->cpg * n;
        const double mean = ln__sum(x, count) / (double)count;
        const double v = ln__sq_dev(x, count, mean);
        const double rstd = 1.0 / sqrt(v / (double)count + (double)c->eps);
        for (int ch = 0; ch < c->cpg; ch++) {
            const float a = (float)(rstd * c->g[c0 + ch]);
            const float off = (float)(c->b[c0 + ch] - mean * rstd * c->g[c0 + ch]);
            const float *restrict xr = x + (size_t)ch * n;
            float *restrict yr = c->y + (c0 + ch) * n;
            for (size_t i = 0; i < n; i++)
                yr[i] = xr[i] * a + off;
        }
    }
}

void ln__groupnorm(const float *x, int channels, size_t n, int groups, const float *g,
                   const float *b, float eps, float *y)
{
    assert(groups > 0 && channels % groups == 0);
    struct ln__gn_ctx c = {x, y, channels / groups, n, g, b, eps};
    ln_parallel_for((size_t)groups, 1, ln__groupnorm_body, &c);
}

/* -------------------------------------------------------------- activations */

static void ln__gelu_span(float *restrict x, size_t n)
{
    size_t i = 0;
#if LN__AVX512
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(x + i, ln__gelu16(_mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        _mm512_mask_storeu_ps(x + i, m, ln__gelu16(_mm512_maskz_loadu_ps(m, x + i)));
        i = n;
    }
#endif
    for (; i < n; i++)
        x[i] = ln__gelu1(x[i]);
}

struct ln__act_ctx {
    float *x;
    int cols, ld;
};

static void ln__gelu_body(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__act_ctx *c = vctx;
    for (size_t r = begin; r < end; r++)
        ln__gelu_span(c->x + r * (size_t)c->ld, (size_t)c->cols);
}

void ln__gelu_rows(float *x, size_t rows, int cols, int ld)
{
    struct ln__act_ctx c = {x, cols, ld};
    ln_parallel_for(rows, ln__grain((size_t)cols), ln__gelu_body, &c);
}

static void ln__geglu_body(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__act_ctx *c = vctx;
    const int half = c->cols;
    for (size_t r = begin; r < end; r++) {
        float *restrict val = c->x + r * (size_t)c->ld;
        float *restrict gate = val + half;
        ln__gelu_span(gate, (size_t)half);
        for (int j = 0; j < half; j++)
            val[j] *= gate[j];
    }
}

void ln__geglu_rows(float *z, size_t rows, int half, int ld)
{
    assert(ld >= 2 * half);
    struct ln__act_ctx c = {z, half, ld};
    ln_parallel_for(rows, ln__grain((size_t)half * 2), ln__geglu_body, &c);
}

void ln__silu_inplace(float *restrict x, size_t n)
{
    size_t i = 0;
#if LN__AVX512
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(x + i, ln__silu16(_mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        _mm512_mask_storeu_ps(x + i, m, ln__silu16(_mm512_maskz_loadu_ps(m, x + i)));
        i = n;
    }
#endif
    for (; i < n; i++)
        x[i] = ln__silu1(x[i]);
}

/* ------------------------------------------------------------------ softmax */

static void ln__softmax_row(float *restrict s, size_t n)
{
    size_t i = 0;
    float mx = -INFINITY, sum = 0.0f;
#if LN__AVX512
    __m512 vm = _mm512_set1_ps(-INFINITY);
    for (; i + 16 <= n; i += 16)
        vm = _mm512_max_ps(vm, _mm512_loadu_ps(s + i));
    mx = _mm512_reduce_max_ps(vm);
    for (; i < n; i++)
        mx = s[i] > mx ? s[i] : mx;
    const __m512 vmx = _mm512_set1_ps(mx);
    __m512 vs = _mm512_setzero_ps();
    for (i = 0; i + 16 <= n; i += 16) {
        const __m512 e = ln__exp16(_mm512_sub_ps(_mm512_loadu_ps(s + i), vmx));
        _mm512_storeu_ps(s + i, e);
        vs = _mm512_add_ps(vs, e);
    }
    sum = _mm512_reduce_add_ps(vs);
    for (; i < n; i++) {
        s[i] = expf(s[i] - mx);
        sum += s[i];
    }
    const __m512 vinv = _mm512_set1_ps(1.0f / sum);
    for (i = 0; i + 16 <= n; i += 16)
        _mm512_storeu_ps(s + i, _mm512_mul_ps(_mm512_loadu_ps(s + i), vinv));
    for (; i < n; i++)
        s[i] *= 1.0f / sum;
#else
    for (i = 0; i < n; i++)
        mx = s[i] > mx ? s[i] : mx;
    double dsum = 0.0;
    for (i = 0; i < n; i++) {
        s[i] = expf(s[i] - mx);
        dsum += s[i];
    }
    sum = (float)dsum;
    const float inv = 1.0f / sum;
    for (i = 0; i < n; i++)
        s[i] *= inv;
#endif
}

struct ln__sm_ctx {
    float *s;
    size_t cols, ld;
};

static void ln__softmax_body(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__sm_ctx *c = vctx;
    for (size_t r = begin; r < end; r++)
        ln__softmax_row(c->s + r * c->ld, c->cols);
}

void ln__softmax_rows(float *s, size_t rows, size_t cols, size_t ld)
{
    struct ln__sm_ctx c = {s, cols, ld};
    ln_parallel_for(rows, ln__grain(cols), ln__softmax_body, &c);
}

/* ---------------------------------------------------------------- attention */

/* Query rows per tile: about 1 M scores (4 MB) per tile, at least 16. */
static size_t ln__attention_tile(size_t nq, size_t nk)
{
    size_t t = nk > 0 ? ((size_t)1 << 20) / nk : nq;
    if (t < 16)
        t = 16;
    if (t > nq)
        t = nq;
    return t > 0 ? t : 1;
}

size_t ln__attention_scratch(size_t nq, size_t nk)
{
    return ln__attention_tile(nq, nk) * nk;
}

void ln__attention(const float *q, int ldq, const float *k, int ldk, const float *v, int ldv,
                   size_t nq, size_t nk, int heads, int hd, float *out, int ldo, float *scratch)
{
    assert(heads > 0 && hd > 0 && nk > 0 && nk <= (size_t)1 << 30 && nq <= (size_t)1 << 30);
    const size_t tile = ln__attention_tile(nq, nk);
    const float scale = 1.0f / sqrtf((float)hd);
    for (int h = 0; h < heads; h++) {
        const size_t col = (size_t)h * (size_t)hd;
        for (size_t q0 = 0; q0 < nq; q0 += tile) {
            const size_t m = nq - q0 < tile ? nq - q0 : tile;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)nk, hd, scale,
                        q + q0 * (size_t)ldq + col, ldq, k + col, ldk, 0.0f, scratch, (int)nk);
            ln__softmax_rows(scratch, m, nk, nk);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, hd, (int)nk, 1.0f,
                        scratch, (int)nk, v + col, ldv, 0.0f, out + q0 * (size_t)ldo + col, ldo);
        }
    }
}
