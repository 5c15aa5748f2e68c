/*
 * The convolution product (see ln_onnx_gemm.h), compiled once per kernel
 * set. A tile of MR output rows by NV vectors of columns stays in
 * registers for the whole K loop: per k, NV vectors of the im2col row and
 * MR weights broadcast one at a time, MR x NV multiply-adds. The weights
 * are read in place, MR rows side by side (an MR x K panel fits L1 for
 * the 3x3 layers of up to 128 input channels); the im2col rows are read
 * in place too, NV vectors from each. The rows past a multiple of MR and
 * the columns past a multiple of the tile width take the same loop with
 * fewer rows and masked loads, so a value's sum is the same in every tile.
 */
#include "ln_kernels.h" /* first: this file is compiled once per kernel set */

#include "ln_onnx_gemm.h"

#include <stdint.h>
#include <string.h>

#include "ln_nn_ops.h"

#define LN__INLINE static inline __attribute__((always_inline))

#if LN__AVX512

#define OX_MR 8
#define OX_NV 3
#define OX_VW 16

LN__INLINE void ox_tile(const int rows, const int full, size_t n_cols, size_t K,
                        const float *restrict a, size_t lda, const float *restrict b, size_t ldb,
                        const int32_t *restrict boff, const float *restrict bias, int relu,
                        float *restrict y, size_t ldy)
{
    __m512 acc[OX_MR][OX_NV];
    __mmask16 mk[OX_NV];
    #pragma GCC unroll 8
    for (int v = 0; v < OX_NV; v++) {
        size_t left = n_cols > (size_t)v * OX_VW ? n_cols - (size_t)v * OX_VW : 0;
        mk[v] = full || left >= OX_VW ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
    }
    #pragma GCC unroll 8
    for (int r = 0; r < rows; r++)
        #pragma GCC unroll 8
        for (int v = 0; v < OX_NV; v++)
            acc[r][v] = _mm512_set1_ps(bias ? bias[r] : 0.0f);
    for (size_t k = 0; k < K; k++) {
        const float *bk = boff ? b + boff[k] : b + k * ldb;
        __m512 bv[OX_NV];
        #pragma GCC unroll 8
        for (int v = 0; v < OX_NV; v++)
            bv[v] = full ? _mm512_loadu_ps(bk + v * OX_VW)
                         : _mm512_maskz_loadu_ps(mk[v], bk + v * OX_VW);
        #pragma GCC unroll 8
        for (int r = 0; r < rows; r++) {
            const __m512 av = _mm512_set1_ps(a[(size_t)r * lda + k]);
            #pragma GCC unroll 8
            for (int v = 0; v < OX_NV; v++)
                acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
        }
    }
    const __m512 zero = _mm512_setzero_ps();
    #pragma GCC unroll 8
    for (int r = 0; r < rows; r++)
        #pragma GCC unroll 8
        for (int v = 0; v < OX_NV; v++) {
            __m512 o = relu ? _mm512_max_ps(acc[r][v], zero) : acc[r][v];
            float *dst = y + (size_t)r * ldy + v * OX_VW;
            if (full)
                _mm512_storeu_ps(dst, o);
            else
                _mm512_mask_storeu_ps(dst, mk[v], o);
        }
}

#elif LN__AVX2

#define OX_MR 6
#define OX_NV 2
#define OX_VW 8

LN__INLINE void ox_tile(const int rows, const int full, size_t n_cols, size_t K,
                        const float *restrict a, size_t lda, const float *restrict b, size_t ldb,
                        const int32_t *restrict boff, const float *restrict bias, int relu,
                        float *restrict y, size_t ldy)
{
    __m256 acc[OX_MR][OX_NV];
    __m256i mk[OX_NV];
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    #pragma GCC unroll 8
    for (int v = 0; v < OX_NV; v++) {
        size_t left = n_cols > (size_t)v * OX_VW ? n_cols - (size_t)v * OX_VW : 0;
        mk[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(left >= OX_VW ? OX_VW : (int)left), lane);
    }
    #pragma GCC unroll 8
    for (int r = 0; r < rows; r++)
        #pragma GCC unroll 8
        for (int v = 0; v < OX_NV; v++)
            acc[r][v] = _mm256_set1_ps(bias ? bias[r] : 0.0f);
    for (size_t k = 0; k < K; k++) {
        const float *bk = boff ? b + boff[k] : b + k * ldb;
        __m256 bv[OX_NV];
        #pragma GCC unroll 8
        for (int v = 0; v < OX_NV; v++)
            bv[v] = full ? _mm256_loadu_ps(bk + v * OX_VW) : _mm256_maskload_ps(bk + v * OX_VW, mk[v]);
        #pragma GCC unroll 8
        for (int r = 0; r < rows; r++) {
            const __m256 av = _mm256_broadcast_ss(a + (size_t)r * lda + k);
            #pragma GCC unroll 8
            for (int v = 0; v < OX_NV; v++)
                acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
        }
    }
    const __m256 zero = _mm256_setzero_ps();
    #pragma GCC unroll 8
    for (int r = 0; r < rows; r++)
        #pragma GCC unroll 8
        for (int v = 0; v < OX_NV; v++) {
            __m256 o = relu ? _mm256_max_ps(acc[r][v], zero) : acc[r][v];
            float *dst = y + (size_t)r * ldy + v * OX_VW;
            if (full)
                _mm256_storeu_ps(dst, o);
            else
                _mm256_maskstore_ps(dst, mk[v], o);
        }
}

#else

/* The portable form: the compiler's 4-wide generic vectors (SSE2, NEON),
 * multiply then add. Partial vectors go through a zero-padded copy. */
#define OX_MR 4
#define OX_NV 2
#define OX_VW 4

LN__INLINE ln__v4f ox_load4(const float *p, size_t n)
{
    float t[OX_VW] = {0.0f, 0.0f, 0.0f, 0.0f};
    memcpy(t, p, (n < OX_VW ? n : OX_VW) * sizeof *t);
    ln__v4f v;
    memcpy(&v, t, sizeof v);
    return v;
}

LN__INLINE void ox_tile(const int rows, const int full, size_t n_cols, size_t K,
                        const float *restrict a, size_t lda, const float *restrict b, size_t ldb,
                        const int32_t *restrict boff, const float *restrict bias, int relu,
                        float *restrict y, size_t ldy)
{
    ln__v4f acc[OX_MR][OX_NV];
    size_t left[OX_NV];
    #pragma GCC unroll 8
    for (int v = 0; v < OX_NV; v++)
        left[v] = n_cols > (size_t)v * OX_VW ? n_cols - (size_t)v * OX_VW : 0;
    #pragma GCC unroll 8
    for (int r = 0; r < rows; r++) {
        const float s = bias ? bias[r] : 0.0f;
        #pragma GCC unroll 8
        for (int v = 0; v < OX_NV; v++)
            acc[r][v] = (ln__v4f){s, s, s, s};
    }
    for (size_t k = 0; k < K; k++) {
        const float *bk = boff ? b + boff[k] : b + k * ldb;
        ln__v4f bv[OX_NV];
        #pragma GCC unroll 8
        for (int v = 0; v < OX_NV; v++) {
            if (full)
                memcpy(&bv[v], bk + v * OX_VW, sizeof bv[v]);
            else
                bv[v] = ox_load4(bk + v * OX_VW, left[v]);
        }
        #pragma GCC unroll 8
        for (int r = 0; r < rows; r++) {
            const float s = a[(size_t)r * lda + k];
            const ln__v4f av = {s, s, s, s};
            #pragma GCC unroll 8
            for (int v = 0; v < OX_NV; v++)
                acc[r][v] = acc[r][v] + av * bv[v];
        }
    }
    const ln__v4f zero = {0.0f, 0.0f, 0.0f, 0.0f};
    #pragma GCC unroll 8
    for (int r = 0; r < rows; r++)
        #pragma GCC unroll 8
        for (int v = 0; v < OX_NV; v++) {
            ln__v4f o = acc[r][v];
            if (relu)
                o = (ln__v4f)((ln__v4i)o & (o > zero));
            float *dst = y + (size_t)r * ldy + v * OX_VW;
            if (full)
                memcpy(dst, &o, sizeof o);
            else if (left[v] > 0)
                memcpy(dst, &o, (left[v] < OX_VW ? left[v] : OX_VW) * sizeof(float));
        }
}

#endif

#define OX_NR (OX_NV * OX_VW)

size_t ln__ox_gemm_cols(void)
{
    return OX_NR;
}

/* One row count as a compile-time constant, so that its tile loops are
 * unrolled and its accumulators stay in registers. */
#define OX_ROWS_CASE(R)                                                                            \
    case R:                                                                                        \
        if (nc == OX_NR)                                                                           \
            ox_tile(R, 1, nc, K, ar, lda, b + p0, ldb, boff, br, relu, yt, ldt);                   \
        else                                                                                       \
            ox_tile(R, 0, nc, K, ar, lda, b + p0, ldb, boff, br, relu, yt, ldt);                   \
        break;

#if OX_MR > 6
#define OX_ROWS_CASES_HI OX_ROWS_CASE(8) OX_ROWS_CASE(7) OX_ROWS_CASE(6) OX_ROWS_CASE(5)
#elif OX_MR > 4
#define OX_ROWS_CASES_HI OX_ROWS_CASE(6) OX_ROWS_CASE(5)
#else
#define OX_ROWS_CASES_HI
#endif
#define OX_ROWS_CASES                                                                              \
    OX_ROWS_CASES_HI OX_ROWS_CASE(4) OX_ROWS_CASE(3) OX_ROWS_CASE(2) OX_ROWS_CASE(1)

void ln__ox_gemm(size_t rows, size_t cols, size_t K, const float *a, size_t lda, const float *b,
                 size_t ldb, const float *bias, int relu, float *y, size_t ldy)
{
    const int32_t *boff = NULL;
    for (size_t r0 = 0; r0 < rows; r0 += OX_MR) {
        const size_t nr = rows - r0 < OX_MR ? rows - r0 : OX_MR;
        const float *ar = a + r0 * lda, *br = bias ? bias + r0 : NULL;
        for (size_t p0 = 0; p0 < cols; p0 += OX_NR) {
            const size_t nc = cols - p0 < OX_NR ? cols - p0 : OX_NR;
            float *yt = y + r0 * ldy + p0;
            const size_t ldt = ldy;
            switch (nr) {
                OX_ROWS_CASES
            default:
                break;
            }
        }
    }
}

void ln__ox_gemm_taps(size_t rows, size_t n_pos, size_t K, const float *a, size_t lda,
                      const float *b, const int32_t *boff, const float *bias, int relu, float *y,
                      size_t ldy, size_t grid_w, size_t out_w)
{
    const size_t ldb = 0;
    _Alignas(64) float tile[OX_MR * OX_NR];
    for (size_t r0 = 0; r0 < rows; r0 += OX_MR) {
        const size_t nr = rows - r0 < OX_MR ? rows - r0 : OX_MR;
        const float *ar = a + r0 * lda, *br = bias ? bias + r0 : NULL;
        for (size_t p0 = 0; p0 < n_pos; p0 += OX_NR) {
            const size_t nc = n_pos - p0 < OX_NR ? n_pos - p0 : OX_NR;
            float *yt = tile;
            const size_t ldt = OX_NR;
            switch (nr) {
                OX_ROWS_CASES
            default:
                break;
            }
            /* Positions p0 .. p0 + nc of the grid, row by row of the output:
             * columns past out_w are the kernel's overhang, not outputs. */
            for (size_t q = p0; q < p0 + nc;) {
                size_t gy = q / grid_w, gx = q % grid_w;
                size_t run = grid_w - gx < p0 + nc - q ? grid_w - gx : p0 + nc - q;
                if (gx < out_w) {
                    size_t n = out_w - gx < run ? out_w - gx : run;
                    for (size_t r = 0; r < nr; r++)
                        memcpy(y + (r0 + r) * ldy + gy * out_w + gx, tile + r * OX_NR + (q - p0),
                               n * sizeof(float));
                }
                q += run;
            }
        }
    }
}
