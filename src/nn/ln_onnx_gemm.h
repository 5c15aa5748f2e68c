/*
 * The convolution product of the ONNX runtime (src/nn/ln_onnx_ops.c):
 * Y = act(bias + W X) for one block of output columns, W the weights as
 * they lie in the model (rows of K floats), X the block's im2col rows, the
 * input itself for a 1x1 convolution, or (ln__ox_gemm_taps) offsets into a
 * zero-padded band of input rows. A register-blocked kernel reads both in
 * place, so neither is copied into panels first as cblas_sgemm does for
 * every call; bias and ReLU are applied while the tile is still in
 * registers. One form per kernel set (ln_kernels.h):
 * AVX-512 (8 rows x 48 columns per tile), AVX2 + FMA (6 x 16) and a
 * 4-wide generic-vector form (4 x 8: SSE2 on x86-64, NEON on aarch64).
 *
 *     ln__ox_gemm(rows, cols, K, w, K, x, ldx, bias, 1, y, ldy);
 *
 * Each output is the same sum in the same order whatever the block and
 * tile it falls in (bias first, then k = 0 .. K-1 by fused or plain
 * multiply-add), so results depend only on the kernel set.
 */
#ifndef LN_ONNX_GEMM_H
#define LN_ONNX_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "ln_kernels.h"

/* y[r ldy + p] = act(bias[r] + sum_k a[r lda + k] b[k ldb + p]) for r <
 * rows, p < cols; act is max(0, .) when relu, else none; bias may be
 * NULL (zero). */
void ln__ox_gemm(size_t rows, size_t cols, size_t K, const float *a, size_t lda, const float *b,
                 size_t ldb, const float *bias, int relu, float *y, size_t ldy);

/* The same product with X's rows at offsets into one array: X[k][q] =
 * b[boff[k] + q] for the positions q < n_pos of a grid grid_w wide, whose
 * columns from out_w on are not outputs: position q is stored at
 * y[r ldy + (q / grid_w) out_w + q % grid_w] when q % grid_w < out_w. For
 * a stride-1 convolution over a zero-padded copy of the input (grid_w its
 * padded width), the taps are offsets and no im2col is needed. */
void ln__ox_gemm_taps(size_t rows, size_t n_pos, size_t K, const float *a, size_t lda,
                      const float *b, const int32_t *boff, const float *bias, int relu, float *y,
                      size_t ldy, size_t grid_w, size_t out_w);

/* The kernel's tile width in columns: blocks of a multiple of it leave
 * no partial tile but the image's last. */
size_t ln__ox_gemm_cols(void);

#endif
