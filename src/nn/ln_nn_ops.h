/*
 * Private dense-network operators of the nn floor: linear layers (our
 * own product, ln_gemm.h, or OpenBLAS's cblas_sgemm), LayerNorm, GroupNorm, exact-erf GELU, GEGLU, SiLU and
 * multi-head attention computed in query tiles (no nq x nk x heads
 * buffer ever exists). Row-major float32 throughout; a matrix is a base
 * pointer, a row count and a leading dimension (floats between rows).
 *
 *     ln__blas_single_thread();                       // once, before any product
 *     ln__linear(x, rows, k, k, w, b, n, y, n, 0);    // y = x w^T + b
 *     ln__layernorm(y, rows, n, n, g, b, 1e-5f, y, n);
 *
 * OpenBLAS runs single-threaded; the products and the element-wise loops
 * are split by rows across ln_parallel_for (ln_threads_get() threads), and
 * attention by (head, query tile). No function allocates: scratch comes
 * from the caller. Only one thread calls these at a time in a process that
 * also calls OpenBLAS elsewhere with its own thread count.
 */
#ifndef LN_NN_OPS_H
#define LN_NN_OPS_H

#include <stddef.h>

#include "ln_kernels.h"

/* LN__AVX512 is 1 when the compiler targets AVX-512, LN__AVX2 when it
 * targets AVX2 and FMA but not AVX-512 (most desktop and laptop CPUs): the
 * 16-wide or 8-wide vector forms of the kernels below are then used, else
 * their plain scalar forms. */
#if defined(__AVX512F__)
#include <immintrin.h>
#define LN__AVX512 1
#else
#define LN__AVX512 0
#endif
#if !LN__AVX512 && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define LN__AVX2 1
#else
#define LN__AVX2 0
#endif

/* Head size of the fused attention kernel (ViT-B/16's and TripoSR's). */
#define LN__FA_HD 64

/* LN__V4 is 1 in the other builds (the baseline kernel set: SSE2 on
 * x86-64, NEON on aarch64): 4-wide forms written with the compiler's
 * generic vectors, which every target lowers to its own instructions. */
#if !LN__AVX512 && !LN__AVX2
#include <string.h>
#define LN__V4 1
typedef float ln__v4f __attribute__((vector_size(16)));
typedef int ln__v4i __attribute__((vector_size(16)));
#else
#define LN__V4 0
#endif

/* Makes OpenBLAS single-threaded (only calls into OpenBLAS when it is
 * not): the callers below share the work out themselves. Not part of the
 * kernel sets (ln_kernels.c). */
void ln__blas_single_thread(void);

/* cblas_sgemm in row-major order: C = alpha op(A) op(B) + beta C, op
 * transposing where ta / tb is CblasTrans (C is m x n, the product's
 * depth k). Every OpenBLAS product of the network goes through it: where
 * OpenBLAS was told to use kernels this CPU cannot run
 * (ln_nn_blas_mismatch()), it runs ln__sgemm_own instead of crashing. */
void ln__sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc);
/* The same without OpenBLAS: plain loops, each element summed in k order
 * in single precision, far slower than OpenBLAS (correct rather than
 * fast). beta 0 writes C without reading it, as BLAS does. */
void ln__sgemm_own(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                   const float *b, int ldb, float beta, float *c, int ldc);

/* y[r][0..n) = (accumulate ? y[r] : 0) + x[r][0..k) . w[n][k]^T + bias
 * (bias may be NULL): ln__gemm, or cblas_sgemm where ln_nn_gemm_blas()
 * says so (ln_gemm.h). */
void ln__linear(const float *x, size_t rows, int k, int ldx, const float *w, const float *bias,
                int n, float *y, int ldy, int accumulate);

/* The same with the input stored transposed: x[r][j] = xt[j][r] (xt is
 * [k][ldxt]). */
void ln__linear_xt(const float *xt, size_t rows, int k, int ldxt, const float *w,
                   const float *bias, int n, float *y, int ldy, int accumulate);

/* Per row: (x - mean) / sqrt(var + eps) * g + b, biased variance. x == y
 * is allowed. */
void ln__layernorm(const float *x, size_t rows, int dim, int ldx, const float *g, const float *b,
                   float eps, float *y, int ldy);

/* x is [channels][n] channel-major; groups of channels/groups consecutive
 * channels are normalised over all their values; y may equal x. */
void ln__groupnorm(const float *x, int channels, size_t n, int groups, const float *g,
                   const float *b, float eps, float *y);

/* In place x = 0.5 x (1 + erf(x / sqrt 2)) on rows x cols (leading
 * dimension ld). */
void ln__gelu_rows(float *x, size_t rows, int cols, int ld);

/* GEGLU in place: z is [rows][2 half] (leading dimension ld), the
 * projection without its bias, which is added here (bias [2 half], may be
 * NULL); on return z[r][j] = (z[r][j] + bias[j]) * gelu(z[r][half + j] +
 * bias[half + j]) for j < half. */
void ln__geglu_rows(float *z, size_t rows, int half, int ld, const float *bias);

/* Scalar reference forms, exported for the tests and the vector paths. */
float ln__gelu1(float x);
float ln__silu1(float x);

/* Multi-head scaled dot-product attention without masks:
 * out[i][h*hd + d] = sum_j softmax_j(q_i,h . k_j,h / sqrt(hd)) v[j][h*hd + d].
 * q is [nq][ldq], k [nk][ldk], v [nk][ldv], out [nq][ldo]; head h uses the
 * columns h*hd .. h*hd+hd-1. (head, query tile) items run in parallel on
 * `threads` threads (pass ln_threads_get()), each with its own part of
 * scratch, which holds ln__attention_scratch(nq, nk, heads, hd, threads)
 * floats; when ln_threads_get() differs from `threads`, they run one by
 * one. With AVX-512 or AVX2 and hd == LN__FA_HD a fused kernel (no score
 * buffer) computes the same. */
size_t ln__attention_scratch(size_t nq, size_t nk, int heads, int hd, int threads);
void ln__attention(const float *q, int ldq, const float *k, int ldk, const float *v, int ldv,
                   size_t nq, size_t nk, int heads, int hd, float *out, int ldo, float *scratch,
                   int threads);

/* The same in bfloat16 where the kernel set is AVX-512, the CPU has
 * AVX512_BF16 and hd == LN__FA_HD: queries (scaled), keys and values
 * rounded to bfloat16 (to nearest even), the products QK^T and PV summed
 * in float32 by vdpbf16ps, the softmax in float32 and its weights rounded
 * to bfloat16 before PV; the same scratch. About 1.6-1.8 times the float32
 * kernel's speed; outputs within about 1% of their largest (the rounding
 * of scores of size 10 moves them by ~0.05). Returns 0, or LN_EINVAL
 * (nothing written) where it cannot run: then call ln__attention. */
int ln__attention_bf16(const float *q, int ldq, const float *k, int ldk, const float *v, int ldv,
                       size_t nq, size_t nk, int heads, int hd, float *out, int ldo,
                       float *scratch, int threads);

/* Vector kernels for the decoder: y[i] = silu(x[i]) for n values. */
void ln__silu_inplace(float *x, size_t n);

/* y[i] = exp(x[i]) for n values with the kernel set's widest vector exp
 * (the scalar libm one for what is left over): for the tests. */
void ln__exp_span(const float *x, float *y, size_t n);

#if LN__AVX512
/* exp(x) to ~1 ulp: Cody-Waite reduction by ln 2, the Cephes minimax
 * polynomial on [-ln2/2, ln2/2], then scalef (exact 2^n scaling with
 * correct overflow to inf and underflow to 0). */
static inline __m512 ln__exp16(__m512 x)
{
    /* min and max return their second operand when one is NaN: NaN stays */
    x = _mm512_max_ps(_mm512_set1_ps(-104.0f), _mm512_min_ps(_mm512_set1_ps(88.8f), x));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    const __m512 r2 = _mm512_mul_ps(r, r);
    p = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

/* 1 / d to ~1 ulp: 14-bit estimate and one Newton step. */
static inline __m512 ln__recip16(__m512 d)
{
    const __m512 r = _mm512_rcp14_ps(d);
    return _mm512_fmadd_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(1.0f)), r);
}

/* gelu(x) = 0.5 x erfc(-x / sqrt 2). erfc(z), z >= 0, from the Chebyshev
 * fit of Numerical Recipes (erfcc: relative error < 1.2e-7 everywhere), so
 * the negative tail keeps its relative accuracy; erfc(-z) = 2 - erfc(z). */
static inline __m512 ln__gelu16(__m512 x)
{
    const __m512 z = _mm512_mul_ps(_mm512_abs_ps(x), _mm512_set1_ps(0.70710678118654752f));
    const __m512 t = ln__recip16(_mm512_fmadd_ps(z, _mm512_set1_ps(0.5f), _mm512_set1_ps(1.0f)));
    __m512 p = _mm512_set1_ps(0.17087277f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.82215223f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.48851587f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.13520398f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.27886807f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.18628806f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.09678418f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.37409196f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.00002368f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.26551223f));
    p = _mm512_fnmadd_ps(z, z, p);
    const __m512 c = _mm512_mul_ps(t, ln__exp16(p));
    const __mmask16 pos = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GE_OQ);
    const __m512 e = _mm512_mask_sub_ps(c, pos, _mm512_set1_ps(2.0f), c);
    return _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.5f)), e);
}

/* 2^f for |f| <= 1/2: a degree-5 fit (relative error 1.9e-7), the
 * shared step of the base-2 exps (ln__silu16, the attention's softmax). */
static inline __m512 ln__exp2_fit16(__m512 f)
{
    __m512 p = _mm512_set1_ps(1.3264718e-3f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6715130e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5507340e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022242e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314700e-1f));
    return _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
}

/* silu(x) = x / (1 + e), e = exp(-x) = 2^t, t = -x log2(e): x clamped
 * to [-87, 87] (below, the result is 0: |x e^x| < 1e-35; above, 1 + e
 * rounds to 1 and the result is x), n = t rounded to an integer,
 * f = t - n from x by two multiply-adds (log2(e) in two parts, so that f
 * carries no rounding of t: a relative error of x ulp in e), a degree-5
 * fit of 2^f on [-1/2, 1/2] (relative error 1.9e-7), then scalef (exact
 * 2^n). 18 instructions against 22 with ln__exp16 (the NeRF decoder's
 * SiLU was a fifth of its time). NaN stays NaN. */
static inline __m512 ln__silu16(__m512 x)
{
    const __m512 xc =
        _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(87.0f)), _mm512_set1_ps(-87.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(-1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_fmsub_ps(xc, _mm512_set1_ps(-1.44269502162933349609375f), n);
    f = _mm512_fmadd_ps(xc, _mm512_set1_ps(-1.925963033500015e-8f), f);
    const __m512 d = _mm512_add_ps(_mm512_scalef_ps(ln__exp2_fit16(f), n), _mm512_set1_ps(1.0f));
    const __mmask16 live = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_NLT_UQ);
    return _mm512_maskz_mul_ps(live, x, ln__recip16(d));
}

/* r[i][j] becomes r[j][i]: 16 loads, 64 shuffles, 16 stores transpose a
 * 16 x 16 block (a scalar loop stores each element alone). */
static inline void ln__transpose16(__m512 r[16])
{
    __m512 t[16];
    /* Pairs of rows, then quads: lane L of r[4i + c] holds rows 4i .. 4i+3
     * of column 4L + c. */
    _Pragma("GCC unroll 8")
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    _Pragma("GCC unroll 4")
    for (int i = 0; i < 4; i++) {
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    /* Then the 128-bit lanes: columns c and 8 + c of rows 0-7 and 8-15,
     * then whole columns. */
    _Pragma("GCC unroll 8")
    for (int i = 0; i < 2; i++)
        _Pragma("GCC unroll 4")
        for (int c = 0; c < 4; c++) {
            t[8 * i + c] = _mm512_shuffle_f32x4(r[8 * i + c], r[8 * i + 4 + c], 0x88);
            t[8 * i + 4 + c] = _mm512_shuffle_f32x4(r[8 * i + c], r[8 * i + 4 + c], 0xDD);
        }
    _Pragma("GCC unroll 8")
    for (int c = 0; c < 8; c++) {
        r[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
        r[c + 8] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xDD);
    }
}
#endif

#if LN__AVX2
/* The 8-wide forms: the same algorithms and accuracy as the 16-wide ones
 * above, in AVX2 and FMA instructions. Each works on w vectors at once
 * (1 .. LN__W8, a constant where it is inlined: the loops over them unroll
 * and the vectors stay in registers), every step for all w before the
 * next: from x to exp(x) is a chain of about 80 cycles, and with 16
 * registers and half the width the out-of-order window of a core does not
 * hold enough separate chains to keep its units busy (silu of one vector
 * at a time runs at 0.60 ns a value here, four at once at 0.44). */
#define LN__W8 4

/* exp(x) as ln__exp16. AVX2 has no scalef: p 2^n is p 2^a 2^(n - a) with
 * a = floor(n / 2), the first factor put into p's exponent (exact: p 2^a
 * is a normal number for every n the clamp allows, [-150, 128]) and the
 * second a multiplication by a normal power of two, so the result is
 * rounded once, as scalef rounds it (overflow to inf, gradual underflow
 * to 0). */
static inline void ln__exp8n(__m256 *x, int w)
{
    __m256 n[LN__W8] = {0}, r[LN__W8] = {0}, p[LN__W8] = {0};
    _Pragma("GCC unroll 8") for (int j = 0; j < w; j++)
    {
        x[j] = _mm256_max_ps(_mm256_set1_ps(-104.0f), _mm256_min_ps(_mm256_set1_ps(88.8f), x[j]));
        n[j] = _mm256_round_ps(_mm256_mul_ps(x[j], _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
    _Pragma("GCC unroll 8") for (int j = 0; j < w; j++)
        r[j] = _mm256_fnmadd_ps(n[j], _mm256_set1_ps(0.693359375f), x[j]);
    _Pragma("GCC unroll 8") for (int j = 0; j < w; j++)
        r[j] = _mm256_fnmadd_ps(n[j], _mm256_set1_ps(-2.12194440e-4f), r[j]);
    _Pragma("GCC unroll 8") for (int j = 0; j < w; j++)
        p[j] = _mm256_fmadd_ps(_mm256_set1_ps(1.9875691500e-4f), r[j],
                               _mm256_set1_ps(1.3981999507e-3f));
    _Pragma("GCC unroll 8") for (int j = 0; j < w; j++)
        p[j] = _mm256_fmadd_ps(p[j], r[j], _mm256_set1_ps(8.3334519073e-3f));
    _Pragma("GCC unroll 8") for (int j = 0; j < w; j++)
        p[j] = _mm256_fmadd_ps(p[j], r[j], _mm256_set1_ps(4.1665795894e-2f));
    _Pragma("GCC unroll 8") for (int j = 0; j < w; j++)
        p[j] = _mm256_fmadd_ps(p[j], r[j], _mm256_set1_ps(1.6666665459e-1f));
    _Pragma("GCC unroll 8") for (int j = 0; j < w; j++)
        p[j] = _mm256_fmadd_ps(p[j], r[j], _mm256_set1_ps(5.0000001201e-1f));
    _Pragma("GCC unroll 8") for (int j = 0; j < w; j++)
        p[j] = _mm256_fmadd_ps(p[j], _mm256_mul_ps(r[j], r[j]),
                               _mm256_add_ps(r[j], _mm256_set1_ps(1.0f)));
    _Pragma("GCC unroll 8") for (int j = 0; j < w; j++)
    {
        const __m256i ni = _mm256_cvtps_epi32(n[j]);
        const __m256i a = _mm256_srai_epi32(ni, 1);
        const __m256 pa = _mm256_castsi256_ps(
            _mm256_add_epi32(_mm256_castps_si256(p[j]), _mm256_slli_epi32(a, 23)));
        const __m256 fb = _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_add_epi32(_mm256_sub_epi32(ni, a), _mm256_set1_epi32(127)), 23));
        x[j] = _mm256_mul_ps(pa, fb);
    }
}

/* 1 / d to ~1 ulp: the 12-bit estimate and one third-order Newton step
 * (r (1 + e + e^2), e = 1 - d r), which leaves the relative error of the
 * estimate cubed, below that of ln__recip16's 14-bit estimate squared. */
static inline void ln__recip8n(__m256 *d, int w)
{
    __m256 r[LN__W8] = {0}, e[LN__W8] = {0};
    _Pragma("GCC unroll 8") for (int j = 0; j < w; j++)
        r[j] = _mm256_rcp_ps(d[j]);
    _Pragma("GCC unroll 8") for (int j = 0; j < w; j++)
        e[j] = _mm256_fnmadd_ps(d[j], r[j], _mm256_set1_ps(1.0f));
    _Pragma("GCC unroll 8") for (int j = 0; j < w; j++)
        e[j] = _mm256_fmadd_ps(e[j], e[j], e[j]);
    _Pragma("GCC unroll 8") for (int j = 0; j < w; j++)
        d[j] = _mm256_fmadd_ps(r[j], e[j], r[j]);
}

/* gelu(x) as ln__gelu16. */
static inline void ln__gelu8n(__m256 *x, int w)
{
    __m256 z[LN__W8] = {0}, t[LN__W8] = {0}, p[LN__W8] = {0};
    _Pragma("GCC unroll 8") for (int j = 0; j < w; j++)
    {
        z[j] = _mm256_mul_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x[j]),
                             _mm256_set1_ps(0.70710678118654752f));
        t[j] = _mm256_fmadd_ps(z[j], _mm256_set1_ps(0.5f), _mm256_set1_ps(1.0f));
    }
    ln__recip8n(t, w);
    static const float c[9] = {-0.82215223f, 1.48851587f, -1.13520398f,
                               0.27886807f,  -0.18628806f, 0.09678418f,
                               0.37409196f,  1.00002368f,  -1.26551223f};
    _Pragma("GCC unroll 8") for (int j = 0; j < w; j++)
        p[j] = _mm256_fmadd_ps(_mm256_set1_ps(0.17087277f), t[j], _mm256_set1_ps(c[0]));
    _Pragma("GCC unroll 8") for (int k = 1; k < 9; k++)
        _Pragma("GCC unroll 8") for (int j = 0; j < w; j++)
            p[j] = _mm256_fmadd_ps(p[j], t[j], _mm256_set1_ps(c[k]));
    _Pragma("GCC unroll 8") for (int j = 0; j < w; j++)
        p[j] = _mm256_fnmadd_ps(z[j], z[j], p[j]);
    ln__exp8n(p, w);
    _Pragma("GCC unroll 8") for (int j = 0; j < w; j++)
    {
        const __m256 cc = _mm256_mul_ps(t[j], p[j]);
        const __m256 pos = _mm256_cmp_ps(x[j], _mm256_setzero_ps(), _CMP_GE_OQ);
        const __m256 e = _mm256_blendv_ps(cc, _mm256_sub_ps(_mm256_set1_ps(2.0f), cc), pos);
        x[j] = _mm256_mul_ps(_mm256_mul_ps(x[j], _mm256_set1_ps(0.5f)), e);
    }
}

/* ln__exp2_fit16 for w vectors at once: p[j] = 2^f[j], |f[j]| <= 1/2. */
static inline void ln__exp2_fit8n(const __m256 *f, __m256 *p, int w)
{
    static const float c[5] = {9.6715130e-3f, 5.5507340e-2f, 2.4022242e-1f, 6.9314700e-1f, 1.0f};
    _Pragma("GCC unroll 8") for (int j = 0; j < w; j++) p[j] =
        _mm256_fmadd_ps(_mm256_set1_ps(1.3264718e-3f), f[j], _mm256_set1_ps(c[0]));
    _Pragma("GCC unroll 4") for (int k = 1; k < 5; k++)
        _Pragma("GCC unroll 8") for (int j = 0; j < w; j++) p[j] =
            _mm256_fmadd_ps(p[j], f[j], _mm256_set1_ps(c[k]));
}

/* silu(x) as ln__silu16, with 2^n put into the exponent field (n + 127
 * stays in [1, 253] for x in [-87, 87]) and ln__recip8n's reciprocal. */
static inline void ln__silu8n(__m256 *x, int w)
{
    __m256 f[LN__W8] = {0}, p[LN__W8] = {0};
    __m256i n[LN__W8] = {0};
    _Pragma("GCC unroll 8") for (int j = 0; j < w; j++)
    {
        const __m256 xc =
            _mm256_max_ps(_mm256_min_ps(x[j], _mm256_set1_ps(87.0f)), _mm256_set1_ps(-87.0f));
        n[j] = _mm256_cvtps_epi32(_mm256_mul_ps(xc, _mm256_set1_ps(-1.44269504088896341f)));
        f[j] = _mm256_fmsub_ps(xc, _mm256_set1_ps(-1.44269502162933349609375f),
                               _mm256_cvtepi32_ps(n[j]));
        f[j] = _mm256_fmadd_ps(xc, _mm256_set1_ps(-1.925963033500015e-8f), f[j]);
    }
    ln__exp2_fit8n(f, p, w);
    _Pragma("GCC unroll 8") for (int j = 0; j < w; j++)
    {
        const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(n[j], _mm256_set1_epi32(127)), 23);
        p[j] = _mm256_fmadd_ps(p[j], _mm256_castsi256_ps(e), _mm256_set1_ps(1.0f));
    }
    ln__recip8n(p, w);
    _Pragma("GCC unroll 8") for (int j = 0; j < w; j++)
    {
        const __m256 live = _mm256_cmp_ps(x[j], _mm256_set1_ps(-87.0f), _CMP_NLT_UQ);
        x[j] = _mm256_and_ps(live, _mm256_mul_ps(x[j], p[j]));
    }
}

static inline __m256 ln__exp8(__m256 x)
{
    ln__exp8n(&x, 1);
    return x;
}

static inline __m256 ln__recip8(__m256 d)
{
    ln__recip8n(&d, 1);
    return d;
}

static inline __m256 ln__gelu8(__m256 x)
{
    ln__gelu8n(&x, 1);
    return x;
}

static inline __m256 ln__silu8(__m256 x)
{
    ln__silu8n(&x, 1);
    return x;
}

/* Lanes below n of an 8-wide mask for _mm256_maskload_ps and
 * _mm256_maskstore_ps (all from n = 8 on, none up to n = 0). */
static inline __m256i ln__mask8(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* r[i][j] becomes r[j][i] for an 8 x 8 block: 8 loads, 24 shuffles, 8
 * stores. */
static inline void ln__transpose8(__m256 r[8])
{
    __m256 t[8];
    _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++)
    {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    _Pragma("GCC unroll 2") for (int i = 0; i < 2; i++)
    {
        r[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        r[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    /* r[c] holds column c of rows 0-3 (low half) and 4 + c's (high half)
     * for c < 4; rows 4-7 likewise in r[4 + c]. */
    _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++)
    {
        t[c] = _mm256_permute2f128_ps(r[c], r[4 + c], 0x20);
        t[4 + c] = _mm256_permute2f128_ps(r[c], r[4 + c], 0x31);
    }
    _Pragma("GCC unroll 8") for (int c = 0; c < 8; c++) r[c] = t[c];
}
#endif

#if LN__V4
static inline ln__v4f ln__v4_load(const float *p)
{
    ln__v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void ln__v4_store(float *p, ln__v4f v)
{
    memcpy(p, &v, sizeof v);
}

static inline ln__v4f ln__v4_set1(float x)
{
    return (ln__v4f){x, x, x, x};
}

/* exp(x) as ln__exp16, without FMA: round to nearest by adding and
 * subtracting 1.5 * 2^23 (|x log2 e| < 2^22 after the clamp), and p 2^n
 * as p 2^a 2^(n - a) as in ln__exp8n. Relative error within 2 ulp. */
static inline ln__v4f ln__exp4(ln__v4f x)
{
    const ln__v4f hi = ln__v4_set1(88.8f), lo = ln__v4_set1(-104.0f);
    /* clamped where the compares hold, so NaN stays NaN */
    x = (ln__v4f)(((ln__v4i)(x > hi) & (ln__v4i)hi) | (~(ln__v4i)(x > hi) & (ln__v4i)x));
    x = (ln__v4f)(((ln__v4i)(x < lo) & (ln__v4i)lo) | (~(ln__v4i)(x < lo) & (ln__v4i)x));
    const ln__v4f magic = ln__v4_set1(12582912.0f);
    const ln__v4f n = (x * 1.44269504088896341f + magic) - magic;
    ln__v4f r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    ln__v4f p = ln__v4_set1(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + (r + 1.0f);
    const ln__v4i ni = __builtin_convertvector(n, ln__v4i);
    const ln__v4i a = ni >> 1;
    const ln__v4f pa = (ln__v4f)((ln__v4i)p + (a << 23));
    const ln__v4f fb = (ln__v4f)((ni - a + 127) << 23);
    return pa * fb;
}

/* gelu(x) as ln__gelu16 (the same erfc fit), 1 / d by division. */
static inline ln__v4f ln__gelu4(ln__v4f x)
{
    const ln__v4f z = (ln__v4f)((ln__v4i)x & 0x7fffffff) * 0.70710678118654752f;
    const ln__v4f t = 1.0f / (z * 0.5f + 1.0f);
    ln__v4f p = ln__v4_set1(0.17087277f);
    p = p * t + -0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t + -1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t + -0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t + -1.26551223f;
    p = p - z * z;
    const ln__v4f c = t * ln__exp4(p);
    const ln__v4i pos = (ln__v4i)(x >= 0.0f);
    const ln__v4f e = (ln__v4f)((pos & (ln__v4i)(2.0f - c)) | (~pos & (ln__v4i)c));
    return x * 0.5f * e;
}

/* silu(x) = x / (1 + exp(-x)); where exp(-x) overflows to inf the result
 * is -0, as in ln__silu1. */
static inline ln__v4f ln__silu4(ln__v4f x)
{
    return x / (ln__exp4(-x) + 1.0f);
}
#endif

/* The multiply-add loop that measures the CPU's peak (ln_fma_peak.c):
 * iters rounds of 12 independent vector multiply-adds, lanes wide; returns
 * their sum so that nothing is left out. */
float ln__fma_loop(long iters, float seed);
int ln__fma_lanes(void);

#endif
