/*
 * Dense-network operators (see ln_nn_ops.h). The linear layers run on our
 * own product (ln_gemm.c) unless ln_nn_gemm_blas() asks for OpenBLAS.
 * OpenBLAS runs single-threaded and its products are split by rows or
 * output columns across ln_parallel_for, each thread calling cblas_sgemm
 * on its own block: OpenBLAS's own worker threads, which spin in
 * sched_yield between products, took about 6% of the cores from the rest
 * of the network when they ran. The memory-bound
 * element-wise loops are split by rows too. Transcendental loops have
 * AVX-512, AVX2 and 4-wide generic-vector forms (polynomial exp, rational
 * erfc), one per kernel set (this file is compiled once per set, see
 * ln_kernels.h), and a plain scalar form (libm) for remainders; all agree
 * with libm to a few float ulps.
 */
#include "ln_kernels.h" /* first: this file is compiled once per kernel set */

#include "ln_error.h"
#include "ln_gemm.h"
#include "ln_nn_ops.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ln_threads.h"

/* Rows per ln_parallel_for chunk so that a chunk holds about 64 k values. */
static size_t ln__grain(size_t cols)
{
    const size_t g = cols > 0 ? ((size_t)1 << 16) / cols : 1;
    return g > 0 ? g : 1;
}

/* ---------------------------------------------------------------- vector math */

/* 0.5 x (1 + erf(x / sqrt 2)) written with erfc, which keeps its relative
 * accuracy in the negative tail where 1 + erf cancels. */
float ln__gelu1(float x)
{
    return 0.5f * x * erfcf(-x * 0.70710678118654752f);
}

float ln__silu1(float x)
{
    return x / (1.0f + expf(-x));
}

/* ---------------------------------------------------------- matrix products */

/* y = (accumulate ? y : 0) + bias + x w^T for one block of rows or of
 * output columns; x is row-major [rows][ldx], or stored transposed
 * [k][ldx] (xt). */
struct ln__lin_ctx {
    const float *x, *w, *bias;
    float *y;
    size_t rows, pieces, total;
    int k, ldx, n, ldy, accumulate, xt, by_cols;
};

static void ln__lin_body(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__lin_ctx *c = vctx;
    for (size_t b = begin; b < end; b++) {
        const size_t o = c->total * b / c->pieces, m = c->total * (b + 1) / c->pieces - o;
        /* This block: rows r0 .. r0 + nr, columns n0 .. n0 + nn. */
        const size_t r0 = c->by_cols ? 0 : o, nr = c->by_cols ? c->rows : m;
        const size_t n0 = c->by_cols ? o : 0, nn = c->by_cols ? m : (size_t)c->n;
        float *y = c->y + r0 * (size_t)c->ldy + n0;
        float beta = c->accumulate ? 1.0f : 0.0f;
        if (c->bias) {
            for (size_t r = 0; r < nr; r++) {
                float *restrict yr = y + r * (size_t)c->ldy;
                const float *restrict bias = c->bias + n0;
                if (c->accumulate)
                    for (size_t j = 0; j < nn; j++)
                        yr[j] += bias[j];
                else
                    memcpy(yr, bias, nn * sizeof(float));
            }
            beta = 1.0f;
        }
        const float *w = c->w + n0 * (size_t)c->k;
        if (c->xt)
            ln__sgemm(CblasTrans, CblasTrans, (int)nr, (int)nn, c->k, 1.0f,
                      c->x + r0, c->ldx, w, c->k, beta, y, c->ldy);
        else
            ln__sgemm(CblasNoTrans, CblasTrans, (int)nr, (int)nn, c->k, 1.0f,
                      c->x + r0 * (size_t)c->ldx, c->ldx, w, c->k, beta, y, c->ldy);
    }
}

/* Pieces of a product: LN__PIECES equal blocks of rows, or of output
 * columns when there are more outputs than rows (each piece packs its
 * share of one operand and all of the other, so the smaller one is the
 * one packed again), fewer when a block would have under 64 rows or
 * columns. The blocks depend on the shape alone, never on the thread
 * count: a GEMM library's result for an element can depend on where the
 * element falls in the blocks of the call that computes it (OpenBLAS's
 * Haswell kernels differ in the last bits between a 1025-row product and
 * the same rows as 513 + 512), so blocks chosen per thread count would
 * make the network's output depend on --threads. Four pieces keep two or
 * four threads busy (measured on one core: four calls cost 1-6% more
 * than one for the network's shapes, sixteen 8-30% more). */
#define LN__PIECES 4

static void ln__linear_run(struct ln__lin_ctx *c)
{
    c->by_cols = c->rows < (size_t)c->n;
    const size_t total = c->by_cols ? (size_t)c->n : c->rows;
    size_t pieces = LN__PIECES;
    while (pieces > 1 && total / pieces < 64)
        pieces /= 2;
    c->pieces = pieces;
    c->total = total;
    ln_parallel_for(pieces, 1, ln__lin_body, c);
}

void ln__linear(const float *x, size_t rows, int k, int ldx, const float *w, const float *bias,
                int n, float *y, int ldy, int accumulate)
{
    LN_REQUIRE(ldx >= k && ldy >= n && rows <= (size_t)1 << 30); /* int casts for sgemm */
    if (rows == 0 || n == 0)
        return;
    if (!ln_nn_gemm_blas()) {
        ln__gemm(x, rows, k, ldx, 0, w, bias, n, y, ldy, accumulate);
        return;
    }
    struct ln__lin_ctx c = {x, w, bias, y, rows, 0, 0, k, ldx, n, ldy, accumulate, 0, 0};
    ln__linear_run(&c);
}

void ln__linear_xt(const float *xt, size_t rows, int k, int ldxt, const float *w,
                   const float *bias, int n, float *y, int ldy, int accumulate)
{
    LN_REQUIRE((size_t)ldxt >= rows && ldy >= n && rows <= (size_t)1 << 30);
    if (rows == 0 || n == 0)
        return;
    if (!ln_nn_gemm_blas()) {
        ln__gemm(xt, rows, k, ldxt, 1, w, bias, n, y, ldy, accumulate);
        return;
    }
    struct ln__lin_ctx c = {xt, w, bias, y, rows, 0, 0, k, ldxt, n, ldy, accumulate, 1, 0};
    ln__linear_run(&c);
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

/* Sum and sum of squares of n floats in double, in one pass: the floats
 * widened to double vectors with the kernel set (each square exact in
 * double, the sums of a LayerNorm row's 1024 values good to about 1e-13
 * relative), lanes added in a fixed order, the rest in order after them. */
static void ln__sum_sq(const float *restrict x, size_t n, double *sum, double *sq)
{
    size_t i = 0;
    double s = 0.0, q = 0.0;
#if LN__AVX512
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    __m512d q0 = _mm512_setzero_pd(), q1 = _mm512_setzero_pd();
    for (; i + 16 <= n; i += 16) {
        const __m512d lo = _mm512_cvtps_pd(_mm256_loadu_ps(x + i));
        const __m512d hi = _mm512_cvtps_pd(_mm256_loadu_ps(x + i + 8));
        s0 = _mm512_add_pd(s0, lo);
        s1 = _mm512_add_pd(s1, hi);
        q0 = _mm512_fmadd_pd(lo, lo, q0);
        q1 = _mm512_fmadd_pd(hi, hi, q1);
    }
    double ls[8], lq[8];
    _mm512_storeu_pd(ls, _mm512_add_pd(s0, s1));
    _mm512_storeu_pd(lq, _mm512_add_pd(q0, q1));
    s = ((ls[0] + ls[1]) + (ls[2] + ls[3])) + ((ls[4] + ls[5]) + (ls[6] + ls[7]));
    q = ((lq[0] + lq[1]) + (lq[2] + lq[3])) + ((lq[4] + lq[5]) + (lq[6] + lq[7]));
#elif LN__AVX2
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    __m256d q0 = _mm256_setzero_pd(), q1 = _mm256_setzero_pd();
    for (; i + 8 <= n; i += 8) {
        const __m256d lo = _mm256_cvtps_pd(_mm_loadu_ps(x + i));
        const __m256d hi = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4));
        s0 = _mm256_add_pd(s0, lo);
        s1 = _mm256_add_pd(s1, hi);
        q0 = _mm256_fmadd_pd(lo, lo, q0);
        q1 = _mm256_fmadd_pd(hi, hi, q1);
    }
    double ls[4], lq[4];
    _mm256_storeu_pd(ls, _mm256_add_pd(s0, s1));
    _mm256_storeu_pd(lq, _mm256_add_pd(q0, q1));
    s = (ls[0] + ls[1]) + (ls[2] + ls[3]);
    q = (lq[0] + lq[1]) + (lq[2] + lq[3]);
#else
    double a[4] = {0.0, 0.0, 0.0, 0.0}, b[4] = {0.0, 0.0, 0.0, 0.0};
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) {
            const double v = x[i + (size_t)k];
            a[k] += v;
            b[k] += v * v;
        }
    s = (a[0] + a[1]) + (a[2] + a[3]);
    q = (b[0] + b[1]) + (b[2] + b[3]);
#endif
    for (; i < n; i++) {
        const double v = x[i];
        s += v;
        q += v * v;
    }
    *sum = s;
    *sq = q;
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
        /* one pass: the variance as E[x^2] - mean^2 in double, which
         * loses only where |mean| is some 1e5 times the spread */
        double sum, sq;
        ln__sum_sq(x, (size_t)dim, &sum, &sq);
        const double mean = sum / dim;
        const double v = fmax(sq / dim - mean * mean, 0.0);
        const float rstd = (float)(1.0 / sqrt(v + (double)c->eps));
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
    ln_parallel_for_split(rows, ln__grain((size_t)dim), 0, ln__layernorm_body, &c);
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

/* GELU (silu 0) or SiLU (silu 1) of n values in place, with the widest
 * vector form the build has. Always inlined with a constant `silu`, so
 * each caller gets a loop of one function only. */
static inline __attribute__((always_inline)) void ln__act_span(float *restrict x, size_t n,
                                                               int silu)
{
    size_t i = 0;
#if LN__AVX512
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        _mm512_storeu_ps(x + i, silu ? ln__silu16(v) : ln__gelu16(v));
    }
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        _mm512_mask_storeu_ps(x + i, m, silu ? ln__silu16(v) : ln__gelu16(v));
        i = n;
    }
#elif LN__AVX2
    for (; i + 8 * LN__W8 <= n; i += 8 * LN__W8) {
        __m256 v[LN__W8];
        _Pragma("GCC unroll 8") for (int j = 0; j < LN__W8; j++)
            v[j] = _mm256_loadu_ps(x + i + 8 * (size_t)j);
        if (silu)
            ln__silu8n(v, LN__W8);
        else
            ln__gelu8n(v, LN__W8);
        _Pragma("GCC unroll 8") for (int j = 0; j < LN__W8; j++)
            _mm256_storeu_ps(x + i + 8 * (size_t)j, v[j]);
    }
    for (; i < n; i += 8) {
        const __m256i m = ln__mask8(n - i < 8 ? (int)(n - i) : 8);
        const __m256 v = _mm256_maskload_ps(x + i, m);
        _mm256_maskstore_ps(x + i, m, silu ? ln__silu8(v) : ln__gelu8(v));
    }
#else
    for (; i + 8 <= n; i += 8) {
        const ln__v4f a = ln__v4_load(x + i), b = ln__v4_load(x + i + 4);
        ln__v4_store(x + i, silu ? ln__silu4(a) : ln__gelu4(a));
        ln__v4_store(x + i + 4, silu ? ln__silu4(b) : ln__gelu4(b));
    }
    if (i < n) {
        float t[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
        memcpy(t, x + i, (n - i) * sizeof(float));
        ln__v4_store(t, silu ? ln__silu4(ln__v4_load(t)) : ln__gelu4(ln__v4_load(t)));
        ln__v4_store(t + 4, silu ? ln__silu4(ln__v4_load(t + 4)) : ln__gelu4(ln__v4_load(t + 4)));
        memcpy(x + i, t, (n - i) * sizeof(float));
        i = n;
    }
#endif
    for (; i < n; i++)
        x[i] = silu ? ln__silu1(x[i]) : ln__gelu1(x[i]);
}

static void ln__gelu_span(float *restrict x, size_t n)
{
    ln__act_span(x, n, 0);
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
    ln_parallel_for_split(rows, ln__grain((size_t)cols), 0, ln__gelu_body, &c);
}

struct ln__geglu_ctx {
    float *z;
    const float *bias;
    int half, ld;
};

static void ln__geglu_body(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__geglu_ctx *c = vctx;
    const int half = c->half;
    const float *restrict bv = c->bias, *restrict bg = c->bias ? c->bias + half : NULL;
    for (size_t r = begin; r < end; r++) {
        float *restrict val = c->z + r * (size_t)c->ld;
        float *restrict gate = val + half;
        if (bg)
            for (int j = 0; j < half; j++)
                gate[j] += bg[j];
        ln__gelu_span(gate, (size_t)half);
        if (bv)
            for (int j = 0; j < half; j++)
                val[j] = (val[j] + bv[j]) * gate[j];
        else
            for (int j = 0; j < half; j++)
                val[j] *= gate[j];
    }
}

void ln__geglu_rows(float *z, size_t rows, int half, int ld, const float *bias)
{
    assert(ld >= 2 * half);
    struct ln__geglu_ctx c = {z, bias, half, ld};
    ln_parallel_for(rows, ln__grain((size_t)half * 2), ln__geglu_body, &c);
}

void ln__silu_inplace(float *restrict x, size_t n)
{
    ln__act_span(x, n, 1);
}

void ln__exp_span(const float *x, float *y, size_t n)
{
    size_t i = 0;
#if LN__AVX512
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, ln__exp16(_mm512_loadu_ps(x + i)));
#elif LN__AVX2
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, ln__exp8(_mm256_loadu_ps(x + i)));
#else
    for (; i + 4 <= n; i += 4)
        ln__v4_store(y + i, ln__exp4(ln__v4_load(x + i)));
#endif
    for (; i < n; i++)
        y[i] = expf(x[i]);
}

/* ---------------------------------------------------------------- attention */

/* Work items are (head, query tile) pairs shared out across the threads;
 * each thread runs its items start to finish: scores = q k^T (scaled),
 * then per row max and exp in place, then out = exp(scores) v, and the
 * 1 / sum scaling is applied to the hd outputs instead of the nk scores.
 * With one thread per core this keeps both cores in full-size products,
 * where splitting each small per-head product across threads left them
 * waiting on each other. */

/* Work items wanted at least, whatever the thread count: the tiles, like
 * the pieces of a product, depend on the shape alone, so the results do
 * not depend on --threads. 16 is four items for each of four threads. */
#define LN__ATT_ITEMS 16

/* Query rows per tile: 512 (measured best for 1 k-3 k keys: larger score
 * blocks leave the cache, smaller ones repack k and v more often), at most
 * 2 M scores (8 MB) per item, fewer when that leaves under LN__ATT_ITEMS
 * items, at least 16; then evened out over the tiles that makes. */
static size_t ln__attention_tile(size_t nq, size_t nk, int heads)
{
    size_t t = nk > 0 ? ((size_t)1 << 21) / nk : nq;
    if (t > 512)
        t = 512;
    const size_t items = LN__ATT_ITEMS;
    const size_t per_head = (items + (size_t)heads - 1) / (size_t)heads;
    const size_t fair = (nq + per_head - 1) / per_head;
    if (t > fair)
        t = fair;
    if (t < 16)
        t = 16;
    if (t > nq)
        t = nq;
    if (t == 0)
        return 1;
    const size_t tiles = (nq + t - 1) / t;
    return (nq + tiles - 1) / tiles; /* equal tiles: 1025 rows as 3 x 342, not 512 + 512 + 1 */
}

#if LN__AVX512 || LN__AVX2
static size_t ln__fa_tile(size_t nq, int heads);
static size_t ln__fa_thread_floats(size_t tile);
#endif
#if LN__AVX2
/* Keys of the AVX2 fused kernel's packed k and v: whole blocks of 16. */
#define LN__FA8_KEYS(nk) (((nk) + 15) / 16 * 16)
#elif LN__AVX512
/* Keys of the AVX-512 fused kernel's packed k and v: whole blocks of 64. */
#define LN__FA16_KEYS(nk) (((nk) + 63) / 64 * 64)
#endif

size_t ln__attention_scratch(size_t nq, size_t nk, int heads, int hd, int threads)
{
    const size_t nt = (size_t)(threads > 0 ? threads : 1);
#if LN__AVX512
    if (hd == LN__FA_HD)
        return 2 * (size_t)heads * LN__FA_HD * LN__FA16_KEYS(nk) +
               nt * ln__fa_thread_floats(ln__fa_tile(nq, heads));
#elif LN__AVX2
    if (hd == LN__FA_HD)
        return 2 * (size_t)heads * LN__FA_HD * LN__FA8_KEYS(nk) +
               nt * ln__fa_thread_floats(ln__fa_tile(nq, heads));
#endif
    (void)hd;
    const size_t tile = ln__attention_tile(nq, nk, heads);
    return nt * tile * (nk + 1);
}

#if LN__AVX2
/* Largest and sum of the 8 lanes. */
static inline float ln__hmax8(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

static inline float ln__hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif

/* Per row of s [m][n]: s = exp(s - max), inv[r] = 1 / sum. */
static void ln__exp_rows(float *restrict s, size_t m, size_t n, float *restrict inv)
{
    for (size_t r = 0; r < m; r++) {
        float *restrict row = s + r * n;
        size_t i = 0;
        float mx = -INFINITY, sum = 0.0f;
#if LN__AVX512
        __m512 vm = _mm512_set1_ps(-INFINITY);
        for (; i + 16 <= n; i += 16)
            vm = _mm512_max_ps(vm, _mm512_loadu_ps(row + i));
        mx = _mm512_reduce_max_ps(vm);
        for (; i < n; i++)
            mx = row[i] > mx ? row[i] : mx;
        const __m512 vmx = _mm512_set1_ps(mx);
        __m512 vs = _mm512_setzero_ps();
        for (i = 0; i + 16 <= n; i += 16) {
            const __m512 e = ln__exp16(_mm512_sub_ps(_mm512_loadu_ps(row + i), vmx));
            _mm512_storeu_ps(row + i, e);
            vs = _mm512_add_ps(vs, e);
        }
        sum = _mm512_reduce_add_ps(vs);
        for (; i < n; i++) {
            row[i] = expf(row[i] - mx);
            sum += row[i];
        }
#elif LN__AVX2
        __m256 vm = _mm256_set1_ps(-INFINITY);
        for (; i + 8 <= n; i += 8)
            vm = _mm256_max_ps(vm, _mm256_loadu_ps(row + i));
        mx = ln__hmax8(vm);
        for (; i < n; i++)
            mx = row[i] > mx ? row[i] : mx;
        const __m256 vmx = _mm256_set1_ps(mx);
        __m256 vs[LN__W8];
        _Pragma("GCC unroll 8") for (int j = 0; j < LN__W8; j++)
            vs[j] = _mm256_setzero_ps();
        for (i = 0; i + 8 * LN__W8 <= n; i += 8 * LN__W8) {
            __m256 e[LN__W8];
            _Pragma("GCC unroll 8") for (int j = 0; j < LN__W8; j++)
                e[j] = _mm256_sub_ps(_mm256_loadu_ps(row + i + 8 * (size_t)j), vmx);
            ln__exp8n(e, LN__W8);
            _Pragma("GCC unroll 8") for (int j = 0; j < LN__W8; j++)
            {
                _mm256_storeu_ps(row + i + 8 * (size_t)j, e[j]);
                vs[j] = _mm256_add_ps(vs[j], e[j]);
            }
        }
        for (; i + 8 <= n; i += 8) {
            const __m256 e = ln__exp8(_mm256_sub_ps(_mm256_loadu_ps(row + i), vmx));
            _mm256_storeu_ps(row + i, e);
            vs[0] = _mm256_add_ps(vs[0], e);
        }
        _Pragma("GCC unroll 8") for (int j = 1; j < LN__W8; j++)
            vs[0] = _mm256_add_ps(vs[0], vs[j]);
        sum = ln__hsum8(vs[0]);
        for (; i < n; i++) {
            row[i] = expf(row[i] - mx);
            sum += row[i];
        }
#else
        ln__v4f vm = ln__v4_set1(-INFINITY);
        for (; i + 4 <= n; i += 4) {
            const ln__v4f a = ln__v4_load(row + i);
            vm = (ln__v4f)(((ln__v4i)(a > vm) & (ln__v4i)a) | (~(ln__v4i)(a > vm) & (ln__v4i)vm));
        }
        for (int j = 0; j < 4; j++)
            mx = vm[j] > mx ? vm[j] : mx;
        for (; i < n; i++)
            mx = row[i] > mx ? row[i] : mx;
        ln__v4f vs0 = ln__v4_set1(0.0f), vs1 = vs0;
        for (i = 0; i + 8 <= n; i += 8) {
            const ln__v4f e0 = ln__exp4(ln__v4_load(row + i) - mx);
            const ln__v4f e1 = ln__exp4(ln__v4_load(row + i + 4) - mx);
            ln__v4_store(row + i, e0);
            ln__v4_store(row + i + 4, e1);
            vs0 += e0;
            vs1 += e1;
        }
        vs0 += vs1;
        sum = (vs0[0] + vs0[1]) + (vs0[2] + vs0[3]);
        for (; i < n; i++) {
            row[i] = expf(row[i] - mx);
            sum += row[i];
        }
#endif
        inv[r] = 1.0f / sum;
    }
}

struct ln__att_ctx {
    const float *q, *k, *v;
    float *out, *scratch;
    int ldq, ldk, ldv, ldo, hd;
    size_t nq, nk, tile, tiles;
    float scale;
};

static void ln__att_body(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__att_ctx *c = vctx;
    float *s = c->scratch + (size_t)thread * c->tile * (c->nk + 1);
    float *inv = s + c->tile * c->nk;
    for (size_t it = begin; it < end; it++) {
        const size_t col = it / c->tiles * (size_t)c->hd, q0 = it % c->tiles * c->tile;
        const size_t m = c->nq - q0 < c->tile ? c->nq - q0 : c->tile;
        float *o = c->out + q0 * (size_t)c->ldo + col;
        ln__sgemm(CblasNoTrans, CblasTrans, (int)m, (int)c->nk, c->hd, c->scale,
                  c->q + q0 * (size_t)c->ldq + col, c->ldq, c->k + col, c->ldk, 0.0f, s,
                  (int)c->nk);
        ln__exp_rows(s, m, c->nk, inv);
        ln__sgemm(CblasNoTrans, CblasNoTrans, (int)m, c->hd, (int)c->nk, 1.0f, s,
                  (int)c->nk, c->v + col, c->ldv, 0.0f, o, c->ldo);
        for (size_t r = 0; r < m; r++)
            for (int d = 0; d < c->hd; d++)
                o[r * (size_t)c->ldo + (size_t)d] *= inv[r];
    }
}

#if LN__AVX512 || LN__AVX2
/* ------------------------------------------------ attention, fused (hd 64) */

/* With AVX-512 (or AVX2, below) and heads of 64, attention is one fused
 * kernel (the streaming softmax of FlashAttention): a register tile of 6
 * query rows meets the keys 64 at a time, scores for the block are
 * computed in 24 vector registers, turned into exp(s - m) with m a
 * running reference (raised only when a score passes it by a margin, the
 * running sum and the 6 x 64 outputs rescaled then), then multiplied into
 * the outputs. The scores never reach memory, so there is no score
 * buffer to clear, pack or read again, which is what the products of the
 * general path spent beyond their arithmetic.
 * k is first transposed per head into scratch ([head][64][nk]) so a
 * block of 64 keys is 4 vector loads per query element; the keys are
 * walked in chunks of 512 whose k^T and v stay in the L2 cache while
 * every row tile of a work item passes. */
#define LN__FA_MR 6
#define LN__FA_KB 64
#define LN__FA_CHUNK 512
#define LN__FA_TILE 384
/* The factor the queries carry besides 1 / sqrt(64): log2(e), so that the
 * softmax works in base 2 (ln__exp2_16, ln__exp2_8n below). */
#define LN__FA_QUNIT 1.44269504088896341f

/* How far (in log2 units) a score may pass its row's reference m before
 * m is raised: the weights 2^(s - m) stay below 2^8 and the sums below
 * 2^8 nk, far from float's range, and the outputs and sum are rescaled
 * only when the scores grow by more than a factor 256, not at every new
 * maximum (the conditional rescaling of FlashAttention-3). Which blocks
 * raise m depends on the keys' order alone, never on the threads. */
#define LN__FA_SLACK 8.0f

static size_t ln__fa_tile(size_t nq, int heads)
{
    size_t t = LN__FA_TILE;
    const size_t items = LN__ATT_ITEMS;
    const size_t per_head = (items + (size_t)heads - 1) / (size_t)heads;
    const size_t fair = (nq + per_head - 1) / per_head;
    t = t > fair ? fair : t;
    t = t < LN__FA_MR ? LN__FA_MR : t;
    t = t > nq ? nq : t;
    if (t == 0)
        return 1;
    const size_t tiles = (nq + t - 1) / t;
    return (nq + tiles - 1) / tiles;
}

/* Per thread: pre-scaled queries and running outputs [rows][64], running
 * max and sum [rows], rows = the tile rounded up to whole register tiles. */
static size_t ln__fa_thread_floats(size_t tile)
{
    const size_t rows = (tile + LN__FA_MR - 1) / LN__FA_MR * LN__FA_MR;
    return rows * (2 * LN__FA_HD + 2);
}

#if LN__AVX512
/* 2^x to ~2 ulp for x <= 127 (the scores less their reference, below):
 * x = n + f with n an integer and |f| <= 1/2, a degree-5 fit of 2^f
 * (relative error 1.9e-7), then scalef (exact 2^n, underflow to 0). In
 * base 2 the reduction is one exact subtraction: the queries carry the
 * factor log2(e) (ln__fa_body), so the scores are already in units of
 * log2 and exp(s - m) is 2^(s' - m'). 9 instructions against ln__exp16's
 * 15: per 16 scores the kernel does 128 vector multiply-adds, and the
 * exp's multiply-adds take the same units. */
static inline __m512 ln__exp2_16(__m512 x)
{
    x = _mm512_max_ps(x, _mm512_set1_ps(-150.0f));
    const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return _mm512_scalef_ps(ln__exp2_fit16(_mm512_sub_ps(x, n)), n);
}

/* The streaming softmax's step for one row of a register tile, shared by
 * the float32 and bfloat16 kernels: s, the row's scores against a block of
 * 64 keys (log2 units; lanes past the last key -inf, with live their
 * masks); on return e = 2^(s - m), zero past the last key, m the row's
 * reference (raised, with the row's outputs orow and lane sums lsum
 * rescaled, when a score passes it by more than LN__FA_SLACK), and lsum +=
 * e lane by lane (the horizontal sum waits for the end of the keys). The
 * test needs no horizontal max: one compare of the four vectors' lane
 * maxima with m + slack. */
static inline __attribute__((always_inline)) void
ln__fa_softmax_row(const __m512 s[4], const __mmask16 live[4], int partial, float *restrict orow,
                   float *restrict m, __m512 *restrict lsum, __m512 e[4])
{
    const __m512 m4 = _mm512_max_ps(_mm512_max_ps(s[0], s[1]), _mm512_max_ps(s[2], s[3]));
    if (_mm512_cmp_ps_mask(m4, _mm512_set1_ps(*m + LN__FA_SLACK), _CMP_GT_OQ)) {
        /* No calls here (fmaxf and expf were calls: every one spilled and
         * reloaded the 24 score registers, 10% of the kernel). */
        const float bm = _mm512_reduce_max_ps(m4);
        const float corr =
            *m == -INFINITY ? 0.0f : _mm512_cvtss_f32(ln__exp2_16(_mm512_set1_ps(*m - bm)));
        const __m512 cv = _mm512_set1_ps(corr);
        *lsum = _mm512_mul_ps(*lsum, cv);
        #pragma GCC unroll 8
        for (int c = 0; c < 4; c++)
            _mm512_storeu_ps(orow + 16 * c, _mm512_mul_ps(_mm512_loadu_ps(orow + 16 * c), cv));
        *m = bm;
    }
    const __m512 mv = _mm512_set1_ps(*m);
    #pragma GCC unroll 8
    for (int c = 0; c < 4; c++) {
        e[c] = ln__exp2_16(_mm512_sub_ps(s[c], mv));
        if (partial)
            e[c] = _mm512_maskz_mov_ps(live[c], e[c]);
    }
    const __m512 e4 = _mm512_add_ps(_mm512_add_ps(e[0], e[1]), _mm512_add_ps(e[2], e[3]));
    *lsum = _mm512_add_ps(*lsum, e4);
}

/* Lane masks of the 16-key vectors of a block of nb keys. */
static inline void ln__fa_live(size_t nb, __mmask16 live[4])
{
    for (int c = 0; c < 4; c++) {
        const long left = (long)nb - 16 * c;
        live[c] = left >= 16 ? (__mmask16)0xFFFF
                             : (left > 0 ? (__mmask16)((1u << left) - 1u) : (__mmask16)0);
    }
}

/* Register tile of 6 rows (qs pre-scaled, o running outputs, m, l) over
 * keys ja .. jz (ja a multiple of 64). The loops over rows and vectors are
 * unrolled so that the 24 score and output accumulators live in registers
 * (at -O2 GCC would otherwise keep them in memory: half the speed). The
 * sums l are kept lane by lane while the keys pass (l[r] in lane 0 at the
 * start) and added up once at the end. */
static void ln__fa_rows(const float *restrict qs, const float *restrict kt, size_t nk,
                        const float *restrict v, int ldv, size_t ja, size_t jz, float *restrict o,
                        float *restrict m, float *restrict l)
{
    (void)nk;
    float p[LN__FA_MR][LN__FA_KB] __attribute__((aligned(64)));
    __m512 lsum[LN__FA_MR];
    for (int r = 0; r < LN__FA_MR; r++)
        lsum[r] = _mm512_maskz_mov_ps(1, _mm512_set1_ps(l[r]));
    for (size_t j0 = ja; j0 < jz; j0 += LN__FA_KB) {
        const size_t nb = jz - j0 < LN__FA_KB ? jz - j0 : LN__FA_KB;
        __mmask16 live[4];
        ln__fa_live(nb, live);
        __m512 s[LN__FA_MR][4];
        #pragma GCC unroll 8
        for (int r = 0; r < LN__FA_MR; r++)
            #pragma GCC unroll 8
            for (int c = 0; c < 4; c++)
                s[r][c] = _mm512_setzero_ps();
        if (nb == LN__FA_KB) {
            for (int d = 0; d < LN__FA_HD; d++) {
                const float *kr = kt + j0 * LN__FA_HD + (size_t)d * LN__FA_KB;
                const __m512 k0 = _mm512_loadu_ps(kr), k1 = _mm512_loadu_ps(kr + 16);
                const __m512 k2 = _mm512_loadu_ps(kr + 32), k3 = _mm512_loadu_ps(kr + 48);
                #pragma GCC unroll 8
                for (int r = 0; r < LN__FA_MR; r++) {
                    const __m512 qb = _mm512_set1_ps(qs[r * LN__FA_HD + d]);
                    s[r][0] = _mm512_fmadd_ps(qb, k0, s[r][0]);
                    s[r][1] = _mm512_fmadd_ps(qb, k1, s[r][1]);
                    s[r][2] = _mm512_fmadd_ps(qb, k2, s[r][2]);
                    s[r][3] = _mm512_fmadd_ps(qb, k3, s[r][3]);
                }
            }
        } else {
            /* The last, partial block: only its vectors, the rest -inf. */
            const int nc = (int)((nb + 15) / 16);
            for (int d = 0; d < LN__FA_HD; d++) {
                const float *kr = kt + j0 * LN__FA_HD + (size_t)d * LN__FA_KB;
                #pragma GCC unroll 8
                for (int c = 0; c < nc; c++) {
                    const __m512 kv = _mm512_maskz_loadu_ps(live[c], kr + 16 * c);
                    #pragma GCC unroll 8
                    for (int r = 0; r < LN__FA_MR; r++)
                        s[r][c] = _mm512_fmadd_ps(_mm512_set1_ps(qs[r * LN__FA_HD + d]), kv, s[r][c]);
                }
            }
            #pragma GCC unroll 8
            for (int r = 0; r < LN__FA_MR; r++)
                #pragma GCC unroll 8
                for (int c = 0; c < 4; c++)
                    s[r][c] = _mm512_mask_blend_ps(live[c], _mm512_set1_ps(-INFINITY), s[r][c]);
        }
        #pragma GCC unroll 8
        for (int r = 0; r < LN__FA_MR; r++) {
            __m512 e[4];
            ln__fa_softmax_row(s[r], live, nb < LN__FA_KB, o + (size_t)r * LN__FA_HD, m + r,
                               lsum + r, e);
            #pragma GCC unroll 8
            for (int c = 0; c < 4; c++)
                _mm512_store_ps(p[r] + 16 * c, e[c]);
        }
        __m512 acc[LN__FA_MR][4];
        #pragma GCC unroll 8
        for (int r = 0; r < LN__FA_MR; r++)
            #pragma GCC unroll 8
            for (int c = 0; c < 4; c++)
                acc[r][c] = _mm512_loadu_ps(o + (size_t)r * LN__FA_HD + 16 * (size_t)c);
        for (size_t j = 0; j < nb; j++) {
            const float *vr = v + (j0 + j) * (size_t)ldv;
            const __m512 v0 = _mm512_loadu_ps(vr), v1 = _mm512_loadu_ps(vr + 16);
            const __m512 v2 = _mm512_loadu_ps(vr + 32), v3 = _mm512_loadu_ps(vr + 48);
            #pragma GCC unroll 8
            for (int r = 0; r < LN__FA_MR; r++) {
                const __m512 pb = _mm512_set1_ps(p[r][j]);
                acc[r][0] = _mm512_fmadd_ps(pb, v0, acc[r][0]);
                acc[r][1] = _mm512_fmadd_ps(pb, v1, acc[r][1]);
                acc[r][2] = _mm512_fmadd_ps(pb, v2, acc[r][2]);
                acc[r][3] = _mm512_fmadd_ps(pb, v3, acc[r][3]);
            }
        }
        #pragma GCC unroll 8
        for (int r = 0; r < LN__FA_MR; r++)
            #pragma GCC unroll 8
            for (int c = 0; c < 4; c++)
                _mm512_storeu_ps(o + (size_t)r * LN__FA_HD + 16 * (size_t)c, acc[r][c]);
    }
    for (int r = 0; r < LN__FA_MR; r++)
        l[r] = _mm512_reduce_add_ps(lsum[r]);
}

#else
/* AVX2: the same with blocks of 64 keys whose scores are computed 16 keys
 * at a time: 6 rows x 16 keys are 12 accumulators (with 2 key vectors and
 * a broadcast, 15 of the 16 ymm registers). They go to p, are turned into
 * exp(s - running max) there 4 vectors at a time, and the 6 x 64 outputs
 * are updated 16 columns at a time (12 accumulators again) from p and v.
 * k and v are packed per head first (ln__fa_transpose below) so that 16
 * keys are 4 KB of each in a row: kt[16-key block][d][16] (keys past nk
 * zero) and v[j][64]. Read strided, as the AVX-512 kernel reads them
 * (rows 4 or 12 KB apart, which fall into one set of the L1 cache), the
 * kernel was slower than the general path. Measured on one core,
 * self-attention of 3072 tokens with 16 heads: 460 ms (blocks of 64 keys;
 * 128 the same, 32 470 ms, 16 480 ms) against 490-500 ms for the general
 * path with OpenBLAS's Haswell kernels (530-550 ms with its AVX-512 ones);
 * cross-attention to 1025 tokens and the ViT's self-attention take the
 * same time either way. The softmax in base 2 with the reference raised
 * past a slack only and the sums kept lane by lane, as in the AVX-512
 * kernel: self-attention 471-480 -> 425-475 ms (two of three alternated
 * rounds 425-430), cross-attention 162-171 -> 143-165 ms (same core,
 * the avx2 kernel set's code, load 4). */
#define LN__FA8_KB 64

/* 2^x for w vectors at once (ln__exp8n's way), x <= 127: as ln__exp2_16,
 * with 2^n put into the exponent field (no scalef in AVX2), for x
 * clamped below at -126: weights under 2^-126 come out as about 2^-126
 * instead of smaller or 0, nothing beside the reference's weight of 1 in
 * a sum. */
static inline void ln__exp2_8n(__m256 *x, int w)
{
    __m256i n[LN__W8];
    __m256 f[LN__W8], p[LN__W8];
    _Pragma("GCC unroll 8") for (int j = 0; j < w; j++)
    {
        x[j] = _mm256_max_ps(x[j], _mm256_set1_ps(-126.0f));
        n[j] = _mm256_cvtps_epi32(x[j]); /* to nearest */
        f[j] = _mm256_sub_ps(x[j], _mm256_cvtepi32_ps(n[j]));
    }
    ln__exp2_fit8n(f, p, w);
    _Pragma("GCC unroll 8") for (int j = 0; j < w; j++)
    {
        const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(n[j], _mm256_set1_epi32(127)), 23);
        x[j] = _mm256_mul_ps(p[j], _mm256_castsi256_ps(e));
    }
}

static void ln__fa_rows(const float *restrict qs, const float *restrict kt, size_t nk,
                        const float *restrict v, int ldv, size_t ja, size_t jz, float *restrict o,
                        float *restrict m, float *restrict l)
{
    (void)nk;
    float p[LN__FA_MR][LN__FA8_KB] __attribute__((aligned(32)));
    __m256 lsum[LN__FA_MR]; /* the sums lane by lane, l[r] in lane 0 at the start */
    for (int r = 0; r < LN__FA_MR; r++)
        lsum[r] = _mm256_setr_ps(l[r], 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f);
    for (size_t j0 = ja; j0 < jz; j0 += LN__FA8_KB) {
        const int nb = jz - j0 < LN__FA8_KB ? (int)(jz - j0) : LN__FA8_KB;
        /* Scores, 16 keys at a time (the last block's keys past nk are
         * zero in kt: their scores are set to -inf below). */
        for (int h = 0; h < nb; h += 16) {
            __m256 s[LN__FA_MR][2];
            _Pragma("GCC unroll 8") for (int r = 0; r < LN__FA_MR; r++)
            {
                s[r][0] = _mm256_setzero_ps();
                s[r][1] = _mm256_setzero_ps();
            }
            const float *kb = kt + (j0 + (size_t)h) * LN__FA_HD;
            for (int d = 0; d < LN__FA_HD; d++) {
                __m256 k0 = _mm256_loadu_ps(kb + 16 * d), k1 = _mm256_loadu_ps(kb + 16 * d + 8);
                __asm__("" : "+x"(k0));
                __asm__("" : "+x"(k1));
                _Pragma("GCC unroll 8") for (int r = 0; r < LN__FA_MR; r++)
                {
                    const __m256 qb = _mm256_broadcast_ss(qs + r * LN__FA_HD + d);
                    s[r][0] = _mm256_fmadd_ps(qb, k0, s[r][0]);
                    s[r][1] = _mm256_fmadd_ps(qb, k1, s[r][1]);
                }
            }
            _Pragma("GCC unroll 8") for (int r = 0; r < LN__FA_MR; r++)
            {
                _mm256_store_ps(p[r] + h, s[r][0]);
                _mm256_store_ps(p[r] + h + 8, s[r][1]);
            }
        }
        const int nv = (nb + 7) / 8; /* vectors of p in use */
        if (nb < LN__FA8_KB)
            for (int r = 0; r < LN__FA_MR; r++)
                for (int j = nb; j < nv * 8; j++)
                    p[r][j] = -INFINITY;
        /* The row's reference raised past the slack only (as in the
         * AVX-512 kernel's ln__fa_softmax_row), then the weights. */
        for (int r = 0; r < LN__FA_MR; r++) {
            __m256 mv = _mm256_load_ps(p[r]);
            for (int c = 1; c < nv; c++)
                mv = _mm256_max_ps(mv, _mm256_load_ps(p[r] + 8 * c));
            const __m256 over = _mm256_cmp_ps(mv, _mm256_set1_ps(m[r] + LN__FA_SLACK), _CMP_GT_OQ);
            if (_mm256_movemask_ps(over)) {
                const float bm = ln__hmax8(mv);
                __m256 cv = _mm256_set1_ps(m[r] - bm);
                ln__exp2_8n(&cv, 1);
                if (m[r] == -INFINITY)
                    cv = _mm256_setzero_ps();
                lsum[r] = _mm256_mul_ps(lsum[r], cv);
                float *orow = o + (size_t)r * LN__FA_HD;
                _Pragma("GCC unroll 8") for (int c = 0; c < LN__FA_HD / 8; c++)
                    _mm256_storeu_ps(orow + 8 * c, _mm256_mul_ps(_mm256_loadu_ps(orow + 8 * c), cv));
                m[r] = bm;
            }
        }
        if (nb == LN__FA8_KB) {
            _Pragma("GCC unroll 8") for (int r = 0; r < LN__FA_MR; r++)
            {
                const __m256 mv = _mm256_set1_ps(m[r]);
                _Pragma("GCC unroll 8") for (int c0 = 0; c0 < LN__FA8_KB / 8; c0 += 4)
                {
                    __m256 e[4];
                    _Pragma("GCC unroll 8") for (int c = 0; c < 4; c++)
                        e[c] = _mm256_sub_ps(_mm256_load_ps(p[r] + 8 * (c0 + c)), mv);
                    ln__exp2_8n(e, 4);
                    _Pragma("GCC unroll 8") for (int c = 0; c < 4; c++)
                        _mm256_store_ps(p[r] + 8 * (c0 + c), e[c]);
                    lsum[r] = _mm256_add_ps(lsum[r], _mm256_add_ps(_mm256_add_ps(e[0], e[1]),
                                                                   _mm256_add_ps(e[2], e[3])));
                }
            }
        } else {
            for (int r = 0; r < LN__FA_MR; r++) {
                const __m256 mv = _mm256_set1_ps(m[r]);
                for (int c = 0; c < nv; c++) {
                    const __m256 live = _mm256_castsi256_ps(ln__mask8(nb - 8 * c));
                    __m256 e = _mm256_sub_ps(_mm256_load_ps(p[r] + 8 * c), mv);
                    ln__exp2_8n(&e, 1);
                    e = _mm256_and_ps(e, live);
                    _mm256_store_ps(p[r] + 8 * c, e);
                    lsum[r] = _mm256_add_ps(lsum[r], e);
                }
            }
        }
        for (int c = 0; c < LN__FA_HD; c += 16) {
            __m256 acc[LN__FA_MR][2];
            _Pragma("GCC unroll 8") for (int r = 0; r < LN__FA_MR; r++)
            {
                acc[r][0] = _mm256_loadu_ps(o + (size_t)r * LN__FA_HD + c);
                acc[r][1] = _mm256_loadu_ps(o + (size_t)r * LN__FA_HD + c + 8);
            }
            for (int j = 0; j < nb; j++) {
                const float *vr = v + (j0 + (size_t)j) * (size_t)ldv + c;
                __m256 v0 = _mm256_loadu_ps(vr), v1 = _mm256_loadu_ps(vr + 8);
                __asm__("" : "+x"(v0));
                __asm__("" : "+x"(v1));
                _Pragma("GCC unroll 8") for (int r = 0; r < LN__FA_MR; r++)
                {
                    const __m256 pb = _mm256_broadcast_ss(p[r] + j);
                    acc[r][0] = _mm256_fmadd_ps(pb, v0, acc[r][0]);
                    acc[r][1] = _mm256_fmadd_ps(pb, v1, acc[r][1]);
                }
            }
            _Pragma("GCC unroll 8") for (int r = 0; r < LN__FA_MR; r++)
            {
                _mm256_storeu_ps(o + (size_t)r * LN__FA_HD + c, acc[r][0]);
                _mm256_storeu_ps(o + (size_t)r * LN__FA_HD + c + 8, acc[r][1]);
            }
        }
    }
    for (int r = 0; r < LN__FA_MR; r++)
        l[r] = ln__hsum8(lsum[r]);
}
#endif

/* A work item's queries and outputs are one head's 64 columns of rows
 * ldq (ldo) floats apart, 4 KB in the backbone: each row its own page,
 * which the hardware prefetchers do not cross, so every row was a miss
 * in turn, and reading the queries and writing the outputs took about 20
 * ms of each backbone call (one core; 15% of a cross-attention). Rows
 * LN__FA_AHEAD ahead are prefetched. */
#define LN__FA_AHEAD 16

static inline void ln__fa_prefetch(const float *row, int write)
{
    for (size_t b = 0; b < LN__FA_HD * sizeof(float); b += 64) {
        if (write)
            __builtin_prefetch((const char *)row + b, 1, 3);
        else
            __builtin_prefetch((const char *)row + b, 0, 3);
    }
}

/* Row r of an item's n queries q (rows ldq apart; zero past n), times
 * scale, into t[64]. */
static inline void ln__fa_query(const float *q, size_t ldq, size_t r, size_t n, float scale,
                                float *restrict t)
{
    if (r + LN__FA_AHEAD < n)
        ln__fa_prefetch(q + (r + LN__FA_AHEAD) * ldq, 0);
    if (r < n) {
        const float *qr = q + r * ldq;
        for (int d = 0; d < LN__FA_HD; d++)
            t[d] = qr[d] * scale;
    } else
        memset(t, 0, LN__FA_HD * sizeof(float));
}

/* An item's n outputs o[r] / l[r] into out (rows ldo apart). */
static void ln__fa_store(const float *restrict o, const float *restrict l, size_t n,
                         float *restrict out, size_t ldo)
{
    for (size_t r = 0; r < n; r++) {
        if (r + LN__FA_AHEAD < n)
            ln__fa_prefetch(out + (r + LN__FA_AHEAD) * ldo, 1);
        const float inv = 1.0f / l[r];
        float *dst = out + r * ldo;
        for (int d = 0; d < LN__FA_HD; d++)
            dst[d] = o[r * LN__FA_HD + (size_t)d] * inv;
    }
}

/* The fused attentions' work items, run by ln_parallel_for_split on as
 * many shares as threads: share s holds query tiles s st .. (s + 1) st -
 * 1 of every head (st = share_tiles), head after head, so that a
 * thread's share is its own rows of q and of the output (those its
 * products wrote and will read) while it still runs one head's tiles in
 * a row (one packed k and v in its caches). Which thread takes an item
 * never changes what it computes. */
struct ln__fa_items {
    size_t heads, tiles, share_tiles, count;
};

static struct ln__fa_items ln__fa_items_for(size_t heads, size_t tiles, int threads)
{
    const size_t shares = threads < 2 ? 1 : (size_t)threads;
    struct ln__fa_items f = {heads, tiles, (tiles + shares - 1) / shares, 0};
    f.count = shares * heads * f.share_tiles;
    return f;
}

/* Item it's head and query tile; 0 for the items past the last tile. */
static int ln__fa_item(const struct ln__fa_items *f, size_t it, size_t *head, size_t *tile)
{
    const size_t per = f->heads * f->share_tiles, r = it % per;
    *head = r / f->share_tiles;
    *tile = it / per * f->share_tiles + r % f->share_tiles;
    return *tile < f->tiles;
}

struct ln__fa_ctx {
    const float *q, *kt, *v;
    float *out, *scratch;
    int ldq, ldv, ldo;
    size_t nq, nk, tile, tiles, per_thread;
    float scale;
    struct ln__fa_items items;
};

static void ln__fa_body(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__fa_ctx *c = vctx;
    float *qs = c->scratch + (size_t)thread * c->per_thread;
    const size_t cap = c->per_thread / (2 * LN__FA_HD + 2);
    float *o = qs + cap * LN__FA_HD, *m = o + cap * LN__FA_HD, *l = m + cap;
    for (size_t it = begin; it < end; it++) {
        size_t head, tile;
        if (!ln__fa_item(&c->items, it, &head, &tile))
            continue;
        const size_t col = head * LN__FA_HD, q0 = tile * c->tile;
        const size_t n = c->nq - q0 < c->tile ? c->nq - q0 : c->tile;
        const size_t rows = (n + LN__FA_MR - 1) / LN__FA_MR * LN__FA_MR;
        const float *q = c->q + q0 * (size_t)c->ldq + col;
        for (size_t r = 0; r < rows; r++) {
            ln__fa_query(q, (size_t)c->ldq, r, n, c->scale, qs + r * LN__FA_HD);
            memset(o + r * LN__FA_HD, 0, LN__FA_HD * sizeof(float));
            m[r] = -INFINITY;
            l[r] = 0.0f;
        }
        /* This head's packed k and v. */
#if LN__AVX2
        const size_t nkp = LN__FA8_KEYS(c->nk);
#else
        const size_t nkp = LN__FA16_KEYS(c->nk);
#endif
        const float *kt = c->kt + col * nkp, *vh = c->v + col * nkp;
        const int ldv = LN__FA_HD;
        for (size_t ja = 0; ja < c->nk; ja += LN__FA_CHUNK) {
            const size_t jz = ja + LN__FA_CHUNK < c->nk ? ja + LN__FA_CHUNK : c->nk;
            for (size_t r = 0; r < rows; r += LN__FA_MR)
                ln__fa_rows(qs + r * LN__FA_HD, kt, c->nk, vh, ldv, ja, jz, o + r * LN__FA_HD,
                            m + r, l + r);
        }
        ln__fa_store(o, l, n, c->out + q0 * (size_t)c->ldo + col, (size_t)c->ldo);
    }
}

struct ln__fa_tr {
    const float *k;
    float *kt;
    size_t nk;
    int ldk;
    const float *v;
    float *vp;
    int ldv;
};

#if LN__AVX2
/* Per head: kt[h][b][d][t] = k[16 b + t][h 64 + d] (zero past nk) and
 * vp[h][j][d] = v[j][h 64 + d]. */
static void ln__fa_transpose(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__fa_tr *c = vctx;
    const size_t nkp = LN__FA8_KEYS(c->nk);
    for (size_t h = begin; h < end; h++) {
        float *kt = c->kt + h * LN__FA_HD * nkp, *vp = c->vp + h * LN__FA_HD * nkp;
        for (size_t j0 = 0; j0 < nkp; j0 += 16) {
            float *blk = kt + j0 * LN__FA_HD;
            for (size_t t = 0; t < 16; t++) {
                const size_t j = j0 + t;
                const float *kr = c->k + j * (size_t)c->ldk + h * LN__FA_HD;
                for (int d = 0; d < LN__FA_HD; d++)
                    blk[(size_t)d * 16 + t] = j < c->nk ? kr[d] : 0.0f;
            }
        }
        for (size_t j = 0; j < c->nk; j++)
            memcpy(vp + j * LN__FA_HD, c->v + j * (size_t)c->ldv + h * LN__FA_HD,
                   LN__FA_HD * sizeof(float));
    }
}
#else
/* Per head, in blocks of 64 keys: kt[h][b][d][t] = k[64 b + t][h 64 + d]
 * (zero past nk) and vp[h][j][d] = v[j][h 64 + d] (zero past nk). A block
 * of keys is then 16 KB of k^T and 16 KB of v in a row. Read in place, k^T
 * rows nk floats apart and v rows ldv (12 and 4 KB in the backbone) fell
 * into the same few sets of the L1 cache, and every load of the kernel
 * came from L2. k is transposed 16 x 16 at a time in registers
 * (ln__transpose16; the scalar loop stored each element alone, and the
 * packing of a call was 2-6% of it). */
static void ln__fa_transpose(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__fa_tr *c = vctx;
    const size_t nkp = LN__FA16_KEYS(c->nk);
    for (size_t h = begin; h < end; h++) {
        float *kt = c->kt + h * LN__FA_HD * nkp, *vp = c->vp + h * LN__FA_HD * nkp;
        for (size_t j0 = 0; j0 < nkp; j0 += LN__FA_KB) {
            float *blk = kt + j0 * LN__FA_HD;
            for (size_t t0 = 0; t0 < LN__FA_KB; t0 += 16)
                for (int d0 = 0; d0 < LN__FA_HD; d0 += 16) {
                    __m512 x[16];
                    #pragma GCC unroll 16
                    for (int r = 0; r < 16; r++) {
                        const size_t j = j0 + t0 + (size_t)r;
                        x[r] = j < c->nk ? _mm512_loadu_ps(c->k + j * (size_t)c->ldk +
                                                           h * LN__FA_HD + (size_t)d0)
                                         : _mm512_setzero_ps();
                    }
                    ln__transpose16(x);
                    #pragma GCC unroll 16
                    for (int i = 0; i < 16; i++)
                        _mm512_storeu_ps(blk + (size_t)(d0 + i) * LN__FA_KB + t0, x[i]);
                }
            for (size_t t = 0; t < LN__FA_KB; t++) {
                const size_t j = j0 + t;
                if (j < c->nk)
                    memcpy(vp + j * LN__FA_HD, c->v + j * (size_t)c->ldv + h * LN__FA_HD,
                           LN__FA_HD * sizeof(float));
                else
                    memset(vp + j * LN__FA_HD, 0, LN__FA_HD * sizeof(float));
            }
        }
    }
}
#endif

static void ln__attention_fused(const float *q, int ldq, const float *k, int ldk, const float *v,
                                int ldv, size_t nq, size_t nk, int heads, float *out, int ldo,
                                float *scratch, int threads)
{
#if LN__AVX2
    const size_t nkp = LN__FA8_KEYS(nk);
#else
    const size_t nkp = LN__FA16_KEYS(nk);
#endif
    float *vp = scratch + (size_t)heads * LN__FA_HD * nkp;
    struct ln__fa_tr tr = {k, scratch, nk, ldk, v, vp, ldv};
    const float *vk = vp;
    float *rest = vp + (size_t)heads * LN__FA_HD * nkp;
    const size_t tile = ln__fa_tile(nq, heads);
    struct ln__fa_ctx c = {q,
                           scratch,
                           vk,
                           out,
                           rest,
                           ldq,
                           ldv,
                           ldo,
                           nq,
                           nk,
                           tile,
                           (nq + tile - 1) / tile,
                           ln__fa_thread_floats(tile),
                           LN__FA_QUNIT / sqrtf((float)LN__FA_HD),
                           ln__fa_items_for((size_t)heads, (nq + tile - 1) / tile, threads)};
    const size_t items = c.items.count;
    if (threads < 2) {
        ln__fa_transpose(&tr, 0, (size_t)heads, 0);
        ln__fa_body(&c, 0, items, 0);
        return;
    }
    ln_parallel_for_at((size_t)heads, 1, threads, ln__fa_transpose, &tr);
    ln_parallel_for_split(items, 1, threads, ln__fa_body, &c);
}
#endif

#if LN__AVX512
/* ---------------------------------------- attention, fused, in bfloat16 */

/* The fused kernel above with its two products in bfloat16 (AVX512_BF16's
 * vdpbf16ps: two multiply-adds per lane and instruction, summed in
 * float32): the pre-scaled queries (by log2(e) / 8), k and v rounded to
 * bfloat16 (to nearest even), the scores, their softmax (the float32
 * kernel's, ln__fa_softmax_row) and the running reference and sums in
 * float32, the weights 2^(s - m) rounded to bfloat16 for the product with
 * v. Per head, in blocks of 64 keys, k is packed as pairs along the
 * head dimension, ktb[h][b][d/2][t][2], and v as pairs of keys,
 * vb[h][b][t/2][d][2] (zero past nk). */
#define LN__BF16A __attribute__((target("avx512f,avx512bw,avx512bf16")))

/* The pair (a, b) of bfloat16 as one 32-bit word, a in the low half. */
static inline uint32_t ln__bf16_pair(uint16_t a, uint16_t b)
{
    return (uint32_t)a | (uint32_t)b << 16;
}

/* 64 floats to bfloat16 (vcvtneps2bf16: to nearest even). */
LN__BF16A static inline void ln__bf16_row64(const float *restrict x, uint16_t *restrict o)
{
    for (int c = 0; c < 4; c++)
        _mm256_storeu_si256((__m256i *)(o + 16 * c),
                            (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(x + 16 * c)));
}

struct ln__fab_tr {
    const float *k, *v;
    uint32_t *kt, *vp; /* pairs, LN__FA_HD / 2 x nkp per head each */
    size_t nk;
    int ldk, ldv;
};

LN__BF16A static void ln__fab_pack(void *vctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct ln__fab_tr *c = vctx;
    const size_t nkp = LN__FA16_KEYS(c->nk), half = LN__FA_HD / 2;
    for (size_t h = begin; h < end; h++) {
        uint32_t *kt = c->kt + h * half * nkp, *vp = c->vp + h * half * nkp;
        for (size_t j0 = 0; j0 < nkp; j0 += LN__FA_KB) {
            uint32_t *kb = kt + j0 * half, *vb = vp + j0 * half;
            for (size_t t = 0; t < LN__FA_KB; t += 2) {
                uint16_t k0[LN__FA_HD] = {0}, k1[LN__FA_HD] = {0};
                uint16_t v0[LN__FA_HD] = {0}, v1[LN__FA_HD] = {0};
                const size_t j = j0 + t;
                if (j < c->nk) {
                    ln__bf16_row64(c->k + j * (size_t)c->ldk + h * LN__FA_HD, k0);
                    ln__bf16_row64(c->v + j * (size_t)c->ldv + h * LN__FA_HD, v0);
                }
                if (j + 1 < c->nk) {
                    ln__bf16_row64(c->k + (j + 1) * (size_t)c->ldk + h * LN__FA_HD, k1);
                    ln__bf16_row64(c->v + (j + 1) * (size_t)c->ldv + h * LN__FA_HD, v1);
                }
                for (size_t dp = 0; dp < half; dp++) {
                    kb[dp * LN__FA_KB + t] = ln__bf16_pair(k0[2 * dp], k0[2 * dp + 1]);
                    kb[dp * LN__FA_KB + t + 1] = ln__bf16_pair(k1[2 * dp], k1[2 * dp + 1]);
                }
                for (size_t d = 0; d < LN__FA_HD; d++)
                    vb[(t / 2) * LN__FA_HD + d] = ln__bf16_pair(v0[d], v1[d]);
            }
        }
    }
}

/* Register tile of 6 rows (qs: pre-scaled queries as pairs, [row][32]) over
 * the keys ja .. jz, as ln__fa_rows. */
LN__BF16A static void ln__fab_rows(const uint32_t *restrict qs, const uint32_t *restrict kt,
                                   const uint32_t *restrict vp, size_t ja, size_t jz,
                                   float *restrict o, float *restrict m, float *restrict l)
{
    const size_t half = LN__FA_HD / 2;
    uint32_t p[LN__FA_MR][LN__FA_KB / 2] __attribute__((aligned(64)));
    __m512 lsum[LN__FA_MR];
    for (int r = 0; r < LN__FA_MR; r++)
        lsum[r] = _mm512_maskz_mov_ps(1, _mm512_set1_ps(l[r]));
    for (size_t j0 = ja; j0 < jz; j0 += LN__FA_KB) {
        const size_t nb = jz - j0 < LN__FA_KB ? jz - j0 : LN__FA_KB;
        const uint32_t *kb = kt + j0 * half, *vb = vp + j0 * half;
        __m512 s[LN__FA_MR][4];
        #pragma GCC unroll 8
        for (int r = 0; r < LN__FA_MR; r++)
            #pragma GCC unroll 8
            for (int c = 0; c < 4; c++)
                s[r][c] = _mm512_setzero_ps();
        for (size_t dp = 0; dp < half; dp++) {
            const uint32_t *kr = kb + dp * LN__FA_KB;
            __m512bh kv[4];
            #pragma GCC unroll 8
            for (int c = 0; c < 4; c++)
                kv[c] = (__m512bh)_mm512_loadu_si512(kr + 16 * c);
            #pragma GCC unroll 8
            for (int r = 0; r < LN__FA_MR; r++) {
                const __m512bh qb = (__m512bh)_mm512_set1_epi32((int)qs[r * half + dp]);
                #pragma GCC unroll 8
                for (int c = 0; c < 4; c++)
                    s[r][c] = _mm512_dpbf16_ps(s[r][c], qb, kv[c]);
            }
        }
        __mmask16 live[4];
        ln__fa_live(nb, live);
        #pragma GCC unroll 8
        for (int r = 0; r < LN__FA_MR; r++) {
            if (nb < LN__FA_KB)
                #pragma GCC unroll 8
                for (int c = 0; c < 4; c++)
                    s[r][c] = _mm512_mask_blend_ps(live[c], _mm512_set1_ps(-INFINITY), s[r][c]);
            __m512 e[4];
            ln__fa_softmax_row(s[r], live, nb < LN__FA_KB, o + (size_t)r * LN__FA_HD, m + r,
                               lsum + r, e);
            /* Keys 0-31 and 32-63 as 16 pairs each, in order. */
            _mm512_store_si512(p[r], (__m512i)_mm512_cvtne2ps_pbh(e[1], e[0]));
            _mm512_store_si512(p[r] + 16, (__m512i)_mm512_cvtne2ps_pbh(e[3], e[2]));
        }
        __m512 acc[LN__FA_MR][4];
        #pragma GCC unroll 8
        for (int r = 0; r < LN__FA_MR; r++)
            #pragma GCC unroll 8
            for (int c = 0; c < 4; c++)
                acc[r][c] = _mm512_loadu_ps(o + (size_t)r * LN__FA_HD + 16 * (size_t)c);
        const size_t np = (nb + 1) / 2;
        for (size_t jp = 0; jp < np; jp++) {
            const uint32_t *vr = vb + jp * LN__FA_HD;
            __m512bh vv[4];
            #pragma GCC unroll 8
            for (int c = 0; c < 4; c++)
                vv[c] = (__m512bh)_mm512_loadu_si512(vr + 16 * c);
            #pragma GCC unroll 8
            for (int r = 0; r < LN__FA_MR; r++) {
                const __m512bh pb = (__m512bh)_mm512_set1_epi32((int)p[r][jp]);
                #pragma GCC unroll 8
                for (int c = 0; c < 4; c++)
                    acc[r][c] = _mm512_dpbf16_ps(acc[r][c], pb, vv[c]);
            }
        }
        #pragma GCC unroll 8
        for (int r = 0; r < LN__FA_MR; r++)
            #pragma GCC unroll 8
            for (int c = 0; c < 4; c++)
                _mm512_storeu_ps(o + (size_t)r * LN__FA_HD + 16 * (size_t)c, acc[r][c]);
    }
    for (int r = 0; r < LN__FA_MR; r++)
        l[r] = _mm512_reduce_add_ps(lsum[r]);
}

struct ln__fab_ctx {
    const float *q;
    const uint32_t *kt, *vp;
    float *out, *scratch;
    int ldq, ldo;
    size_t nq, nk, tile, tiles, per_thread;
    float scale;
    struct ln__fa_items items;
};

LN__BF16A static void ln__fab_body(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__fab_ctx *c = vctx;
    const size_t half = LN__FA_HD / 2, nkp = LN__FA16_KEYS(c->nk);
    /* The thread's part as in ln__fa_body; the queries take half of it. */
    float *base = c->scratch + (size_t)thread * c->per_thread;
    const size_t cap = c->per_thread / (2 * LN__FA_HD + 2);
    uint32_t *qs = (uint32_t *)base;
    float *o = base + cap * LN__FA_HD, *m = o + cap * LN__FA_HD, *l = m + cap;
    for (size_t it = begin; it < end; it++) {
        size_t h, tile;
        if (!ln__fa_item(&c->items, it, &h, &tile))
            continue;
        const size_t q0 = tile * c->tile, col = h * LN__FA_HD;
        const size_t n = c->nq - q0 < c->tile ? c->nq - q0 : c->tile;
        const size_t rows = (n + LN__FA_MR - 1) / LN__FA_MR * LN__FA_MR;
        const float *q = c->q + q0 * (size_t)c->ldq + col;
        for (size_t r = 0; r < rows; r++) {
            float t[LN__FA_HD];
            uint16_t b[LN__FA_HD];
            ln__fa_query(q, (size_t)c->ldq, r, n, c->scale, t);
            ln__bf16_row64(t, b);
            for (size_t dp = 0; dp < half; dp++)
                qs[r * half + dp] = ln__bf16_pair(b[2 * dp], b[2 * dp + 1]);
            memset(o + r * LN__FA_HD, 0, LN__FA_HD * sizeof(float));
            m[r] = -INFINITY;
            l[r] = 0.0f;
        }
        const uint32_t *kt = c->kt + h * half * nkp, *vh = c->vp + h * half * nkp;
        for (size_t ja = 0; ja < c->nk; ja += LN__FA_CHUNK) {
            const size_t jz = ja + LN__FA_CHUNK < c->nk ? ja + LN__FA_CHUNK : c->nk;
            for (size_t r = 0; r < rows; r += LN__FA_MR)
                ln__fab_rows(qs + r * half, kt, vh, ja, jz, o + r * LN__FA_HD, m + r, l + r);
        }
        ln__fa_store(o, l, n, c->out + q0 * (size_t)c->ldo + col, (size_t)c->ldo);
    }
}
#endif

int ln__attention_bf16(const float *q, int ldq, const float *k, int ldk, const float *v, int ldv,
                       size_t nq, size_t nk, int heads, int hd, float *out, int ldo,
                       float *scratch, int threads)
{
    LN_REQUIRE(heads > 0 && hd > 0 && nk > 0 && nk <= (size_t)1 << 30 && nq <= (size_t)1 << 30);
#if LN__AVX512
    if (hd != LN__FA_HD || !__builtin_cpu_supports("avx512bf16"))
        return LN_EINVAL;
    if (nq == 0)
        return 0;
    /* Pairs of k and v: heads x 32 x nkp words each, within the float
     * version's 2 x heads x 64 x nkp floats; the threads' parts follow. */
    const size_t nkp = LN__FA16_KEYS(nk), words = (size_t)heads * (LN__FA_HD / 2) * nkp;
    uint32_t *kt = (uint32_t *)scratch, *vp = kt + words;
    struct ln__fab_tr tr = {k, v, kt, vp, nk, ldk, ldv};
    const size_t tile = ln__fa_tile(nq, heads);
    struct ln__fab_ctx c = {q,
                            kt,
                            vp,
                            out,
                            scratch + 2 * (size_t)heads * LN__FA_HD * nkp,
                            ldq,
                            ldo,
                            nq,
                            nk,
                            tile,
                            (nq + tile - 1) / tile,
                            ln__fa_thread_floats(tile),
                            LN__FA_QUNIT / sqrtf((float)LN__FA_HD),
                            ln__fa_items_for((size_t)heads, (nq + tile - 1) / tile, threads)};
    const size_t items = c.items.count;
    if (threads < 2) {
        ln__fab_pack(&tr, 0, (size_t)heads, 0);
        ln__fab_body(&c, 0, items, 0);
        return 0;
    }
    ln_parallel_for_at((size_t)heads, 1, threads, ln__fab_pack, &tr);
    ln_parallel_for_split(items, 1, threads, ln__fab_body, &c);
    return 0;
#else
    (void)q, (void)ldq, (void)k, (void)ldk, (void)v, (void)ldv, (void)nq, (void)nk, (void)heads,
        (void)hd, (void)out, (void)ldo, (void)scratch, (void)threads;
    return LN_EINVAL;
#endif
}

void ln__attention(const float *q, int ldq, const float *k, int ldk, const float *v, int ldv,
                   size_t nq, size_t nk, int heads, int hd, float *out, int ldo, float *scratch,
                   int threads)
{
    LN_REQUIRE(heads > 0 && hd > 0 && nk > 0 && nk <= (size_t)1 << 30 && nq <= (size_t)1 << 30);
    if (nq == 0)
        return;
#if LN__AVX512 || LN__AVX2
    if (hd == LN__FA_HD) {
        ln__attention_fused(q, ldq, k, ldk, v, ldv, nq, nk, heads, out, ldo, scratch, threads);
        return;
    }
#endif
    const size_t tile = ln__attention_tile(nq, nk, heads);
    struct ln__att_ctx c = {q,   k,   v,  out,  scratch, ldq,  ldk,
                            ldv, ldo, hd, nq,   nk,      tile, (nq + tile - 1) / tile,
                            1.0f / sqrtf((float)hd)};
    const size_t items = (size_t)heads * c.tiles;
    if (threads < 2) {
        /* Scratch for one thread only: the items run here, one after the
         * other. */
        ln__att_body(&c, 0, items, 0);
        return;
    }
    ln_parallel_for_at(items, 1, threads, ln__att_body, &c);
}
