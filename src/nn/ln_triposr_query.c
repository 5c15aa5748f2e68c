/*
 * Triplane queries, the NeRF decoder and volume rendering
 * (docs/TRIPOSR.md sections 9, 10 and 12). Points go through in blocks
 * of LN__QB: each block is sampled from the three planes (bilinear,
 * align_corners=False, zero padding) into a feature matrix and pushed
 * through all decoder layers while it is hot in cache, with a register-
 * blocked kernel (6 points x 64 outputs per step with AVX-512, 6 x 16 with
 * AVX2, 6 x 8 with the baseline set's 4-wide vectors; SiLU fused) instead
 * of BLAS: the layers are 64 wide, too small for a GEMM library's packing
 * to pay. Blocks of LN__QB points are the pieces the threads take, each
 * thread with its own scratch; the
 * scene code is re-laid out channels-last once per call so a bilinear tap
 * reads contiguous channels.
 */
#include "ln_kernels.h" /* first: this file is compiled once per kernel set */

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_nn_ops.h"
#include "ln_threads.h"
#include "ln_triposr_int.h"

/* Points per block (feature and activation rows of a block stay in L2)
 * and per step of the dense kernel; LN__QB is a multiple of LN__ROWS. */
#define LN__QB 192
#define LN__ROWS 6
_Static_assert(LN__QB % 16 == 0, "whole vectors of exp");

/* Per-call, read-only view of what a point block needs. */
struct ln__qctx {
    const struct ln_triposr *net;
    const float *tex; /* [3][res][res][ch] channels-last scene code */
    int res, ch;
    int ldf, ldw; /* leading dimensions of feature and activation rows */
    float two_r;  /* radius - (-radius), as upstream's scale_tensor */
};

/* Per-thread scratch of the point kernel. */
struct ln__qscratch {
    float *feat; /* [QB][ldf] */
    float *a, *b; /* [QB][ldw] */
};

static size_t ln__qscratch_floats(const struct ln__qctx *q)
{
    return (size_t)LN__QB * ((size_t)q->ldf + 2 * (size_t)q->ldw);
}

static void ln__qscratch_bind(const struct ln__qctx *q, float *base, struct ln__qscratch *s)
{
    s->feat = base;
    s->a = s->feat + (size_t)LN__QB * (size_t)q->ldf;
    s->b = s->a + (size_t)LN__QB * (size_t)q->ldw;
}

/* ----------------------------------------------------------------- sampling */

/* Features of np points: feat[i][plane * ch + c]. */
static void ln__sample(const struct ln__qctx *q, const float *restrict pts, size_t np,
                       float *restrict feat)
{
    const int res = q->res, ch = q->ch, ldf = q->ldf;
    const float radius = q->net->cfg.radius, two_r = q->two_r;
    const float half = (float)res / 2.0f, hi = (float)res + 1.0f;
    const size_t plane_stride = (size_t)res * (size_t)res * (size_t)ch;
    static const int axes[3][2] = {{0, 1}, {0, 2}, {1, 2}};
    for (size_t i = 0; i < np; i++) {
        float nq[3];
        for (int a = 0; a < 3; a++)
            nq[a] = (pts[i * 3 + (size_t)a] + radius) / two_r * 2.0f + (-1.0f);
        for (int p = 0; p < 3; p++) {
            /* grid_sample, align_corners=False: u picks the column. */
            float ix = (nq[axes[p][0]] + 1.0f) * half - 0.5f;
            float iy = (nq[axes[p][1]] + 1.0f) * half - 0.5f;
            /* Far outside (or NaN): all taps zero. Plain compares, as
             * fminf/fmaxf are library calls without -ffinite-math-only. */
            ix = ix > -2.0f ? (ix < hi ? ix : hi) : -2.0f;
            iy = iy > -2.0f ? (iy < hi ? iy : hi) : -2.0f;
            const float fx = floorf(ix), fy = floorf(iy);
            const int x0 = (int)fx, y0 = (int)fy;
            const float wx1 = ix - fx, wx0 = 1.0f - wx1, wy1 = iy - fy, wy0 = 1.0f - wy1;
            float w[4] = {wy0 * wx0, wy0 * wx1, wy1 * wx0, wy1 * wx1};
            const float *tap[4] = {NULL, NULL, NULL, NULL};
            for (int t = 0; t < 4; t++) {
                const int x = x0 + (t & 1), y = y0 + (t >> 1);
                if (x >= 0 && x < res && y >= 0 && y < res)
                    tap[t] = q->tex + (size_t)p * plane_stride +
                             ((size_t)y * (size_t)res + (size_t)x) * (size_t)ch;
            }
            float *restrict out = feat + i * (size_t)ldf + (size_t)p * (size_t)ch;
            int c = 0;
#if LN__AVX512
            for (; c < ch; c += 16) {
                const int left = ch - c;
                const __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
                __m512 acc = _mm512_setzero_ps();
                for (int t = 0; t < 4; t++)
                    if (tap[t])
                        acc = _mm512_fmadd_ps(_mm512_set1_ps(w[t]),
                                              _mm512_maskz_loadu_ps(m, tap[t] + c), acc);
                _mm512_mask_storeu_ps(out + c, m, acc);
            }
#elif LN__AVX2
            for (; c + 8 <= ch; c += 8) {
                __m256 acc = _mm256_setzero_ps();
                for (int t = 0; t < 4; t++)
                    if (tap[t])
                        acc = _mm256_fmadd_ps(_mm256_set1_ps(w[t]), _mm256_loadu_ps(tap[t] + c),
                                              acc);
                _mm256_storeu_ps(out + c, acc);
            }
            if (c < ch) {
                const __m256i m = ln__mask8(ch - c);
                __m256 acc = _mm256_setzero_ps();
                for (int t = 0; t < 4; t++)
                    if (tap[t])
                        acc = _mm256_fmadd_ps(_mm256_set1_ps(w[t]),
                                              _mm256_maskload_ps(tap[t] + c, m), acc);
                _mm256_maskstore_ps(out + c, m, acc);
                c = ch;
            }
#else
            for (; c + 4 <= ch; c += 4) {
                ln__v4f acc = ln__v4_set1(0.0f);
                for (int t = 0; t < 4; t++)
                    if (tap[t])
                        acc += ln__v4_load(tap[t] + c) * w[t];
                ln__v4_store(out + c, acc);
            }
#endif
            for (; c < ch; c++) {
                float acc = 0.0f;
                for (int t = 0; t < 4; t++)
                    acc += tap[t] ? tap[t][c] * w[t] : 0.0f;
                out[c] = acc;
            }
        }
    }
}

/* ------------------------------------------------------------------ decoder */

/* Each decoder kernel below computes y[i][0..n_pad) = act(b + x[i][0..K)
 * . wt[K][n_pad]) for its kernel set. */

#if LN__AVX512
/* LN__ROWS points x NV 16-wide output vectors per step, all accumulators
 * in registers (6 x 4 + 4 weights + 1 broadcast = 29 of 32 zmm). The
 * weights of one input are loaded once per step and pinned in registers
 * (the empty asm stops the compiler from re-reading them from memory for
 * every point, which would make the loop load-bound). np is a multiple of
 * LN__ROWS. Not inlined: inlined into ln__eval_block, the kernel for 64
 * outputs ran 1.6 times as long. */
#define LN__DENSE_KERNEL(NV)                                                                    \
    __attribute__((noinline)) static void ln__dense_avx512_##NV(                                \
        const float *restrict x, int ldx, size_t np, int K, const float *restrict wt,           \
        const float *restrict b, int n_pad, int c0, float *restrict y, int ldy, int act)        \
    {                                                                                           \
        for (size_t i = 0; i < np; i += LN__ROWS) {                                             \
            const float *x0 = x + i * (size_t)ldx;                                              \
            __m512 acc[LN__ROWS][NV];                                                           \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                                \
            {                                                                                   \
                const __m512 bv = _mm512_loadu_ps(b + c0 + 16 * v);                             \
                _Pragma("GCC unroll 8") for (int p = 0; p < LN__ROWS; p++) acc[p][v] = bv;      \
            }                                                                                   \
            const float *wk = wt + c0;                                                          \
            for (int k = 0; k < K; k++, wk += n_pad) {                                          \
                __m512 wv[NV];                                                                  \
                _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                            \
                {                                                                               \
                    wv[v] = _mm512_loadu_ps(wk + 16 * v);                                       \
                    __asm__("" : "+v"(wv[v]));                                                  \
                }                                                                               \
                _Pragma("GCC unroll 8") for (int p = 0; p < LN__ROWS; p++)                      \
                {                                                                               \
                    const __m512 xv = _mm512_set1_ps(x0[(size_t)p * (size_t)ldx + (size_t)k]);  \
                    _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) acc[p][v] =            \
                        _mm512_fmadd_ps(xv, wv[v], acc[p][v]);                                  \
                }                                                                               \
            }                                                                                   \
            _Pragma("GCC unroll 8") for (int p = 0; p < LN__ROWS; p++)                          \
            {                                                                                   \
                float *yp = y + (i + (size_t)p) * (size_t)ldy + c0;                             \
                _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                            \
                {                                                                               \
                    const __m512 r = acc[p][v];                                                 \
                    _mm512_storeu_ps(yp + 16 * v, act ? ln__silu16(r) : r);                     \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    }
LN__DENSE_KERNEL(1)
LN__DENSE_KERNEL(2)
LN__DENSE_KERNEL(3)
LN__DENSE_KERNEL(4)
#elif LN__AVX2
/* LN__ROWS points x 16 outputs (two 8-wide vectors) per step: 12
 * accumulators, 2 pinned weights and 1 broadcast fill the 16 ymm
 * registers; the caller walks the 16-wide column chunks (outside the
 * points or inside, it measured the same). The sums are stored, then read
 * back 4 vectors at a time for the SiLU: applied to the accumulators in
 * registers, one or two at a time for want of registers, it was slower
 * (decoder on one core: 0.67 and 0.74 M points/s against 0.83 M). np is a
 * multiple of LN__ROWS, n_pad of 16. Not inlined: inlined into
 * ln__eval_block, three of its loop's values lived on the stack and were
 * read again at every step; on a Zen 3 core (AVX2, no AVX-512) the dense
 * 64^3 grid took 0.39-0.41 s against 0.43-0.49 s on one thread and
 * 0.24-0.27 s against 0.24-0.32 s on two (best of four calls, processes
 * alternated), the same values. */
__attribute__((noinline)) static void ln__dense_avx2(const float *restrict x, int ldx, size_t np,
                                                     int K, const float *restrict wt,
                                                     const float *restrict b, int n_pad, int c0,
                                                     float *restrict y, int ldy, int act)
{
    for (size_t i = 0; i < np; i += LN__ROWS) {
        const float *x0 = x + i * (size_t)ldx;
        __m256 acc[LN__ROWS][2];
        const __m256 b0 = _mm256_loadu_ps(b + c0), b1 = _mm256_loadu_ps(b + c0 + 8);
        _Pragma("GCC unroll 8") for (int p = 0; p < LN__ROWS; p++)
        {
            acc[p][0] = b0;
            acc[p][1] = b1;
        }
        const float *wk = wt + c0;
        for (int k = 0; k < K; k++, wk += n_pad) {
            __m256 w0 = _mm256_loadu_ps(wk), w1 = _mm256_loadu_ps(wk + 8);
            __asm__("" : "+x"(w0));
            __asm__("" : "+x"(w1));
            _Pragma("GCC unroll 8") for (int p = 0; p < LN__ROWS; p++)
            {
                const __m256 xv = _mm256_broadcast_ss(x0 + (size_t)p * (size_t)ldx + (size_t)k);
                acc[p][0] = _mm256_fmadd_ps(xv, w0, acc[p][0]);
                acc[p][1] = _mm256_fmadd_ps(xv, w1, acc[p][1]);
            }
        }
        _Pragma("GCC unroll 8") for (int p = 0; p < LN__ROWS; p++)
        {
            float *yp = y + (i + (size_t)p) * (size_t)ldy + c0;
            _mm256_storeu_ps(yp, acc[p][0]);
            _mm256_storeu_ps(yp + 8, acc[p][1]);
        }
        if (act)
            _Pragma("GCC unroll 8") for (int p = 0; p < LN__ROWS; p += 2)
            {
                float *y0 = y + (i + (size_t)p) * (size_t)ldy + c0, *y1 = y0 + ldy;
                __m256 v[4] = {_mm256_loadu_ps(y0), _mm256_loadu_ps(y0 + 8), _mm256_loadu_ps(y1),
                               _mm256_loadu_ps(y1 + 8)};
                ln__silu8n(v, 4);
                _mm256_storeu_ps(y0, v[0]);
                _mm256_storeu_ps(y0 + 8, v[1]);
                _mm256_storeu_ps(y1, v[2]);
                _mm256_storeu_ps(y1 + 8, v[3]);
            }
    }
}
#else
/* LN__ROWS points x 8 outputs (two 4-wide vectors) per step: 12
 * accumulators, 2 pinned weights and 1 broadcast fit the 16 registers of
 * SSE2 (NEON has 32). The SiLU is applied to the stored sums, 8 at a
 * time. np is a multiple of LN__ROWS, n_pad of 16. */
static void ln__dense_v4(const float *restrict x, int ldx, size_t np, int K,
                         const float *restrict wt, const float *restrict b, int n_pad, int c0,
                         float *restrict y, int ldy, int act)
{
    for (size_t i = 0; i < np; i += LN__ROWS) {
        const float *x0 = x + i * (size_t)ldx;
        ln__v4f acc[LN__ROWS][2];
        const ln__v4f b0 = ln__v4_load(b + c0), b1 = ln__v4_load(b + c0 + 4);
        _Pragma("GCC unroll 8") for (int p = 0; p < LN__ROWS; p++)
        {
            acc[p][0] = b0;
            acc[p][1] = b1;
        }
        const float *wk = wt + c0;
        for (int k = 0; k < K; k++, wk += n_pad) {
            const ln__v4f w0 = ln__v4_load(wk), w1 = ln__v4_load(wk + 4);
            _Pragma("GCC unroll 8") for (int p = 0; p < LN__ROWS; p++)
            {
                const float xv = x0[(size_t)p * (size_t)ldx + (size_t)k];
                acc[p][0] += w0 * xv;
                acc[p][1] += w1 * xv;
            }
        }
        _Pragma("GCC unroll 8") for (int p = 0; p < LN__ROWS; p++)
        {
            float *yp = y + (i + (size_t)p) * (size_t)ldy + c0;
            ln__v4_store(yp, act ? ln__silu4(acc[p][0]) : acc[p][0]);
            ln__v4_store(yp + 4, act ? ln__silu4(acc[p][1]) : acc[p][1]);
        }
    }
}
#endif

/* One decoder layer on np points (np a multiple of LN__ROWS). */
static void ln__dense(const float *x, int ldx, size_t np, const struct ln__dec_layer *L, float *y,
                      int ldy, int act)
{
#if LN__AVX512
    for (int c0 = 0; c0 < L->n_pad; c0 += 64) {
        const int nv = (L->n_pad - c0) / 16 >= 4 ? 4 : (L->n_pad - c0) / 16;
        switch (nv) {
        case 4:
            ln__dense_avx512_4(x, ldx, np, L->n_in, L->wt, L->b, L->n_pad, c0, y, ldy, act);
            break;
        case 3:
            ln__dense_avx512_3(x, ldx, np, L->n_in, L->wt, L->b, L->n_pad, c0, y, ldy, act);
            break;
        case 2:
            ln__dense_avx512_2(x, ldx, np, L->n_in, L->wt, L->b, L->n_pad, c0, y, ldy, act);
            break;
        default:
            ln__dense_avx512_1(x, ldx, np, L->n_in, L->wt, L->b, L->n_pad, c0, y, ldy, act);
            break;
        }
    }
#elif LN__AVX2
    for (int c0 = 0; c0 < L->n_pad; c0 += 16)
        ln__dense_avx2(x, ldx, np, L->n_in, L->wt, L->b, L->n_pad, c0, y, ldy, act);
#else
    for (int c0 = 0; c0 < L->n_pad; c0 += 8)
        ln__dense_v4(x, ldx, np, L->n_in, L->wt, L->b, L->n_pad, c0, y, ldy, act);
#endif
}

/* Features, density_act and colour of up to LN__QB points; any output may
 * be NULL. */
static void ln__eval_block(const struct ln__qctx *q, const struct ln__qscratch *s,
                           const float *pts, size_t np, float *dens, float *col, float *feat_out)
{
    const struct ln_triposr *net = q->net;
    const size_t nf = 3 * (size_t)q->ch;
    const size_t np4 = (np + LN__ROWS - 1) / LN__ROWS * LN__ROWS;
    assert(np <= LN__QB);
    ln__sample(q, pts, np, s->feat);
    if (np4 > np)
        memset(s->feat + np * (size_t)q->ldf, 0, (np4 - np) * (size_t)q->ldf * sizeof(float));
    if (feat_out)
        for (size_t i = 0; i < np; i++)
            memcpy(feat_out + i * nf, s->feat + i * (size_t)q->ldf, nf * sizeof(float));
    if (!dens && !col)
        return;
    const float *x = s->feat;
    int ldx = q->ldf;
    float *bufs[2] = {s->a, s->b};
    for (int l = 0; l < net->n_dec; l++) {
        float *y = bufs[l & 1];
        ln__dense(x, ldx, np4, &net->dec[l], y, q->ldw, l + 1 < net->n_dec);
        x = y;
        ldx = q->ldw;
    }
    /* exp and the sigmoid by the kernel set's vector exp, over whole
     * vectors (zeros past np), so that a point's value does not depend on
     * where in its block it lies; libm's expf, one call per value, was
     * 3% of the decoder's time. */
    float e[3 * LN__QB];
    const size_t nv = (np + 15) / 16 * 16;
    if (dens) {
        const float bias = net->cfg.density_bias;
        for (size_t i = 0; i < nv; i++)
            e[i] = i < np ? x[i * (size_t)ldx] + bias : 0.0f;
        ln__exp_span(e, e, nv);
        memcpy(dens, e, np * sizeof *dens);
    }
    if (col) {
        for (size_t i = 0; i < 3 * nv; i++)
            e[i] = i < 3 * np ? -x[i / 3 * (size_t)ldx + 1 + i % 3] : 0.0f;
        ln__exp_span(e, e, 3 * nv);
        for (size_t i = 0; i < 3 * np; i++)
            col[i] = 1.0f / (1.0f + e[i]);
    }
}

/* --------------------------------------------------------------- call set-up */

struct ln__qcall {
    struct ln__qctx q;
    float *tex;
    float *scratch; /* per thread */
    size_t per_thread;
    int n_threads;
};

struct ln__tex_ctx {
    const float *scene;
    float *tex;
    size_t hw;
    int ch;
};

static void ln__tex_body(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__tex_ctx *c = vctx;
    const size_t ch = (size_t)c->ch;
    for (size_t idx = begin; idx < end; idx++) {
        const size_t p = idx / c->hw, pix = idx % c->hw;
        const float *src = c->scene + p * ch * c->hw + pix;
        float *restrict dst = c->tex + idx * ch;
        for (size_t k = 0; k < ch; k++)
            dst[k] = src[k * c->hw];
    }
}

static int ln__qcall_begin(const struct ln_triposr *net, const float *scene, size_t extra,
                           struct ln__qcall *call, struct ln_error *err)
{
    memset(call, 0, sizeof *call);
    struct ln__qctx *q = &call->q;
    q->net = net;
    q->res = 2 * net->cfg.plane_size;
    q->ch = net->cfg.post_out;
    q->ldf = (3 * q->ch + 15) / 16 * 16;
    q->ldw = net->dec_width_pad;
    q->two_r = (float)((double)net->cfg.radius - (double)-net->cfg.radius);
    const size_t hw = (size_t)q->res * (size_t)q->res;
    call->tex = ln_alloc_array(3 * hw, (size_t)q->ch * sizeof(float), 0, "triplane texture", err);
    if (!call->tex)
        return LN_ENOMEM;
    call->n_threads = ln_threads_get();
    call->per_thread = (ln__qscratch_floats(q) + extra + 15) / 16 * 16;
    call->scratch = ln_alloc_array((size_t)call->n_threads, call->per_thread * sizeof(float), 0,
                                   "decoder scratch", err);
    if (!call->scratch) {
        free(call->tex);
        call->tex = NULL;
        return LN_ENOMEM;
    }
    struct ln__tex_ctx tc = {scene, call->tex, hw, q->ch};
    ln_parallel_for(3 * hw, 256, ln__tex_body, &tc);
    q->tex = call->tex;
    return 0;
}

static void ln__qcall_end(struct ln__qcall *call)
{
    free(call->scratch);
    free(call->tex);
}

static float *ln__thread_scratch(const struct ln__qcall *call, int thread)
{
    assert(thread < call->n_threads);
    return call->scratch + (size_t)thread * call->per_thread;
}

/* -------------------------------------------------------------------- query */

struct ln__query_ctx {
    const struct ln__qcall *call;
    const float *points;
    size_t n;
    float *dens, *col, *feat;
};

static void ln__query_body(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__query_ctx *c = vctx;
    const struct ln__qctx *q = &c->call->q;
    struct ln__qscratch s;
    ln__qscratch_bind(q, ln__thread_scratch(c->call, thread), &s);
    const size_t nf = 3 * (size_t)q->ch;
    for (size_t blk = begin; blk < end; blk++) {
        const size_t i0 = blk * LN__QB;
        const size_t np = c->n - i0 < LN__QB ? c->n - i0 : LN__QB;
        ln__eval_block(q, &s, c->points + i0 * 3, np, c->dens ? c->dens + i0 : NULL,
                       c->col ? c->col + i0 * 3 : NULL, c->feat ? c->feat + i0 * nf : NULL);
    }
}

int ln_triposr_query(const struct ln_triposr *net, const float *scene, const float *points,
                     size_t n, float *density_act, float *colour, float *features,
                     struct ln_error *err)
{
    if (n == 0)
        return 0;
    struct ln__qcall call;
    int rc = ln__qcall_begin(net, scene, 0, &call, err);
    if (rc < 0)
        return rc;
    struct ln__query_ctx c = {&call, points, n, density_act, colour, features};
    ln_parallel_for_at((n + LN__QB - 1) / LN__QB, 2, call.n_threads, ln__query_body, &c);
    ln__qcall_end(&call);
    return 0;
}

/* ---------------------------------------------------------------- rendering */

struct ln__render_ctx {
    const struct ln__qcall *call;
    const float *o, *d;
    size_t n;
    size_t rays_per_block;
    int samples;
    const float *t_vals; /* [samples + 1] */
    float *rgb;
};

/* Ray / box test of rays_intersect_bbox: r' = r (1 - 1e-3), direction
 * components below 1e-6 in magnitude replaced by 1e-6. */
static int ln__ray_box(const float *o, const float *d, float rp, float *t_near, float *t_far)
{
    float tn = -INFINITY, tf = INFINITY;
    for (int a = 0; a < 3; a++) {
        const float dv = fabsf(d[a]) < 1e-6f ? 1e-6f : d[a];
        const float i0 = (rp - o[a]) / dv, i1 = (-rp - o[a]) / dv;
        const float lo = fminf(i0, i1), hi = fmaxf(i0, i1);
        tn = lo > tn ? lo : tn;
        tf = hi < tf ? hi : tf;
    }
    tn = tn > 0.0f ? tn : 0.0f;
    *t_near = tn;
    *t_far = tf;
    return tf - tn > 0.01f;
}

static void ln__render_body(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__render_ctx *c = vctx;
    const struct ln__qctx *q = &c->call->q;
    const int S = c->samples;
    const size_t cap = c->rays_per_block * (size_t)S;
    float *base = ln__thread_scratch(c->call, thread);
    struct ln__qscratch s;
    ln__qscratch_bind(q, base, &s);
    float *pts = base + ln__qscratch_floats(q), *dens = pts + 3 * cap, *col = dens + cap;
    const float rp = q->net->cfg.radius * (1.0f - 1e-3f);
    const float *t = c->t_vals;
    for (size_t blk = begin; blk < end; blk++) {
        const size_t r0 = blk * c->rays_per_block;
        const size_t r1 = r0 + c->rays_per_block < c->n ? r0 + c->rays_per_block : c->n;
        int valid[64];
        size_t np = 0;
        for (size_t r = r0; r < r1; r++) {
            const float *o = c->o + r * 3, *d = c->d + r * 3;
            float tn, tf;
            valid[r - r0] = ln__ray_box(o, d, rp, &tn, &tf);
            if (!valid[r - r0])
                continue;
            for (int k = 0; k < S; k++, np++) {
                const float mid = (t[k] + t[k + 1]) / 2.0f;
                const float z = tn * (1.0f - mid) + tf * mid;
                for (int a = 0; a < 3; a++)
                    pts[np * 3 + (size_t)a] = o[a] + z * d[a];
            }
        }
        for (size_t i = 0; i < np; i += LN__QB) {
            const size_t m = np - i < LN__QB ? np - i : LN__QB;
            ln__eval_block(q, &s, pts + i * 3, m, dens + i, col + i * 3, NULL);
        }
        size_t at = 0;
        for (size_t r = r0; r < r1; r++) {
            float *out = c->rgb + r * 3;
            if (!valid[r - r0]) {
                out[0] = out[1] = out[2] = 1.0f;
                continue;
            }
            /* alpha_k = 1 - exp(-density_k * delta_k), delta from the sample
             * parameters (1/S), transmittance with upstream's 1e-10. */
            float trans = 1.0f;
            double acc[3] = {0.0, 0.0, 0.0}, wsum = 0.0;
            for (int k = 0; k < S; k++, at++) {
                const float delta = t[k + 1] - t[k];
                const float alpha = 1.0f - expf(-dens[at] * delta);
                const float w = alpha * trans;
                trans *= 1.0f - alpha + 1e-10f;
                wsum += w;
                for (int a = 0; a < 3; a++)
                    acc[a] += (double)w * col[at * 3 + (size_t)a];
            }
            for (int a = 0; a < 3; a++)
                out[a] = (float)(acc[a] + (1.0 - wsum));
        }
    }
}

int ln_triposr_render_rays(const struct ln_triposr *net, const float *scene, const float *rays_o,
                           const float *rays_d, size_t n, float *rgb, struct ln_error *err)
{
    if (n == 0)
        return 0;
    const int S = net->cfg.samples_per_ray;
    size_t rays_per_block = (size_t)(4 * LN__QB) / (size_t)S;
    if (rays_per_block < 1)
        rays_per_block = 1;
    if (rays_per_block > 64)
        rays_per_block = 64;
    const size_t cap = rays_per_block * (size_t)S;
    float *t_vals = ln_alloc_array((size_t)S + 1, sizeof(float), 0, "ray samples", err);
    if (!t_vals)
        return LN_ENOMEM;
    /* torch.linspace(0, 1, S + 1) in float: from the start for the first
     * half, from the end for the second. */
    const float step = 1.0f / (float)S;
    for (int i = 0; i <= S; i++)
        t_vals[i] = i < (S + 1) / 2 ? step * (float)i : 1.0f - step * (float)(S - i);
    struct ln__qcall call;
    int rc = ln__qcall_begin(net, scene, 7 * cap, &call, err);
    if (rc < 0) {
        free(t_vals);
        return rc;
    }
    struct ln__render_ctx c = {&call, rays_o, rays_d, n, rays_per_block, S, t_vals, rgb};
    ln_parallel_for_at((n + rays_per_block - 1) / rays_per_block, 1, call.n_threads,
                       ln__render_body, &c);
    ln__qcall_end(&call);
    free(t_vals);
    return 0;
}
