/*
 * The network's own matrix product for its linear layers: y = x w^T + b
 * with w as the model stores it ([n][k], one row per output), register-
 * blocked per kernel set (ln_kernels.h): AVX-512 tiles of 6 rows x 64
 * outputs, AVX2 + FMA 6 x 16, the 4-wide generic-vector form (SSE2,
 * NEON) 4 x 8. ln__linear (ln_nn_ops.h) calls it for every product of
 * the ViT and the backbone (see ln_nn_gemm_blas below); OpenBLAS stays as
 * the reference the tests compare it with, and as the path
 * LN_TRIPOSR_GEMM=blas selects.
 *
 *     ln__gemm(x, rows, k, ldx, 0, w, bias, n, y, ldy, 0);   // y = x w^T + b
 *
 * Each output is one sum in one order whatever the thread count and
 * whatever block it falls in: (accumulate ? y : 0) + bias first, then the
 * products k = 0 .. K-1 in slices of LN__GEMM_KC, fused multiply-adds in
 * the vector sets. Results therefore depend on the kernel set only, not on
 * --threads nor on the machine's caches. Scratch is allocated per call
 * (the packed weight blocks, one per thread, 256 KB each, with AVX2 k x
 * 64 floats up to 1 MB; for the bf16 form also a bfloat16 copy of x).
 */
#ifndef LN_GEMM_H
#define LN_GEMM_H

#include <stddef.h>

#include "ln_kernels.h"

/* y[r][0..n) = (accumulate ? y[r] : 0) + bias + sum_k x[r][k] w[j][k],
 * x row-major [rows][ldx], or, when xt, stored transposed: x[r][k] =
 * xt[k ldx + r]. w is [n][k] (leading dimension k); bias may be NULL. */
void ln__gemm(const float *x, size_t rows, int k, int ldx, int xt, const float *w,
              const float *bias, int n, float *y, int ldy, int accumulate);

/* The weights w [n][k] copied once into the panels ln__gemm packs per
 * task and k slice (for each LN__GEMM_NT outputs, each LN__GEMM_KC slice
 * of k, panels [kc][tile width], zero past n): k x n floats rounded up to
 * the tile width (64 outputs with AVX-512), allocated here (free() it;
 * NULL when memory runs out).
 * The layout is the kernel set's: pack and run in the same process.
 * ln__gemm_packed then runs the product from them: the same tasks in the
 * same order as ln__gemm, the same sums to the bit, without the copying
 * per call. With LN_TRIPOSR_PACK=1 the TripoSR network packs its float32
 * weights so before its first image on the CPU; by default it does not
 * (ln_triposr.c, "packed weights": new memory costs more than it saves on
 * the benchmark machine). */
float *ln__gemm_pack(const float *w, int k, int n);
void ln__gemm_packed(const float *x, size_t rows, int k, int ldx, int xt, const float *wp,
                     const float *bias, int n, float *y, int ldy, int accumulate);

/* The GEGLU feed-forward's first product and its gating in one pass:
 * y[r][j] = (v + bias[j]) * gelu(g + bias[half + j]) for j < half, with
 * v = sum_k x[r][k] w[j][k] and g = sum_k x[r][k] w[half + j][k]; w is
 * [2 half][k], bias [2 half] or NULL, x row-major [rows][ldx]. The same
 * operations as ln__gemm (no bias, no accumulate) into [rows][2 half]
 * followed by ln__geglu_rows, without the [rows][2 half] projection in
 * memory: each register tile holds matching value and gate columns and
 * gates them before it stores. Identical for any thread count. */
void ln__gemm_geglu(const float *x, size_t rows, int k, int ldx, const float *w, const float *bias,
                    int half, float *y, int ldy);

/* w [2 half][k] packed once as ln__gemm_geglu packs it per task (matching
 * value and gate rows side by side in each panel): 2 k half floats,
 * half rounded up to the panel's outputs, allocated here (free() it;
 * NULL when memory runs out);
 * the kernel set's layout, as ln__gemm_pack's. ln__gemm_geglu_packed runs
 * the product from them: the same bits as ln__gemm_geglu. */
float *ln__gemm_geglu_pack(const float *w, int k, int half);
void ln__gemm_geglu_packed(const float *x, size_t rows, int k, int ldx, const float *wp,
                           const float *bias, int half, float *y, int ldy);

/* The same product (x not transposed) with x and w rounded to bfloat16
 * and the products summed in float32 (AVX512_BF16's vdpbf16ps): about
 * twice the multiply-adds per cycle, each input to 8 bits of mantissa.
 * Returns 0, or LN_EINVAL (nothing written) where the kernel set is not
 * AVX-512 or the CPU lacks AVX512_BF16 (ln_nn_bf16_available). */
int ln__gemm_bf16(const float *x, size_t rows, int k, int ldx, const float *w, const float *bias,
                  int n, float *y, int ldy, int accumulate);

/* ln__gemm_geglu with x and w rounded to bfloat16 as in ln__gemm_bf16:
 * the same operations as ln__gemm_bf16 (no bias, no accumulate) into
 * [rows][2 half] followed by ln__geglu_rows. Returns 0, or LN_EINVAL
 * (nothing written) where ln__gemm_bf16 cannot run. */
int ln__gemm_bf16_geglu(const float *x, size_t rows, int k, int ldx, const float *w,
                        const float *bias, int half, float *y, int ldy);

/* 1 when ln__gemm_bf16 runs here: the AVX-512 kernel set is in use and
 * the CPU has AVX512_BF16. */
int ln_nn_bf16_available(void);

/* Which product ln__linear uses, process-wide: 0 ours, 1 OpenBLAS's
 * cblas_sgemm. The default is ours with the AVX2 and AVX-512 kernel sets
 * and OpenBLAS with the baseline one (its SSE2 tiles, without FMA, reach
 * about 0.4 of OpenBLAS, which picks its own kernels for the CPU; on
 * arm64 the NEON form is tested but not measured against it). The first
 * call reads LN_TRIPOSR_GEMM ("blas" or "own"; anything else leaves the
 * default and says so on stderr); ln_nn_gemm_set_blas overrides it (1,
 * 0, or -1 for the default; the benchmark compares both in one run). Not
 * part of the kernel sets: plain functions of ln_kernels.c. */
int ln_nn_gemm_blas(void);
void ln_nn_gemm_set_blas(int blas);

#endif
