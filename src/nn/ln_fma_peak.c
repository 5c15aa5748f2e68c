/*
 * The CPU's own multiply-add rate, the ceiling against which the network's
 * speed is reported (bench-triposr): a loop of independent multiply-adds
 * on registers only, no memory traffic, compiled once per kernel set
 * (ln_kernels.h), so each set is measured with its own instructions:
 * AVX-512 (16 lanes, fused), AVX2 + FMA (8 lanes, fused), and the
 * baseline's 4-wide vectors (SSE2 or NEON: a multiply and an add, unfused
 * on x86-64). Twelve accumulators cover the latency of two FMA pipes.
 */
#include "ln_kernels.h" /* first: this file is compiled once per kernel set */

#include "ln_nn_ops.h"

#define LN__PEAK_ACC 12

#if LN__AVX512
typedef __m512 ln__pv;
#define LN__PEAK_LANES 16
#define LN__PEAK_SET(x) _mm512_set1_ps(x)
#define LN__PEAK_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define LN__PEAK_ADD(a, b) _mm512_add_ps(a, b)
#define LN__PEAK_SUM(a) _mm512_reduce_add_ps(a)
#elif LN__AVX2
typedef __m256 ln__pv;
#define LN__PEAK_LANES 8
#define LN__PEAK_SET(x) _mm256_set1_ps(x)
#define LN__PEAK_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define LN__PEAK_ADD(a, b) _mm256_add_ps(a, b)
static inline float ln__peak_sum(__m256 a)
{
    float t[8];
    _mm256_storeu_ps(t, a);
    return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
}
#define LN__PEAK_SUM(a) ln__peak_sum(a)
#else
typedef float ln__pv __attribute__((vector_size(16)));
#define LN__PEAK_LANES 4
#define LN__PEAK_SET(x) ((ln__pv){(x), (x), (x), (x)})
#define LN__PEAK_FMA(a, b, c) ((a) * (b) + (c))
#define LN__PEAK_ADD(a, b) ((a) + (b))
#define LN__PEAK_SUM(a) (((a)[0] + (a)[1]) + ((a)[2] + (a)[3]))
#endif

int ln__fma_lanes(void)
{
    return LN__PEAK_LANES;
}

float ln__fma_loop(long iters, float seed)
{
    ln__pv acc[LN__PEAK_ACC];
    const ln__pv m = LN__PEAK_SET(0.999999f), a = LN__PEAK_SET(seed * 1e-7f);
    for (int i = 0; i < LN__PEAK_ACC; i++)
        acc[i] = LN__PEAK_SET(seed + (float)i);
    for (long it = 0; it < iters; it++) {
        #pragma GCC unroll 12
        for (int i = 0; i < LN__PEAK_ACC; i++)
            acc[i] = LN__PEAK_FMA(acc[i], m, a);
    }
    ln__pv s = acc[0];
    for (int i = 1; i < LN__PEAK_ACC; i++)
        s = LN__PEAK_ADD(s, acc[i]);
    return LN__PEAK_SUM(s);
}
