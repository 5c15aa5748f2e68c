/* The dense-network operators against straightforward double-precision
 * loops: multi-head attention (query tiles shared out across threads, with
 * a remainder tile, cross-attention shapes, thread counts 1 to 3 and the
 * serial path taken when the scratch was sized for another count), both
 * for head sizes the general path takes and for 64, which AVX-512 builds
 * give to the fused kernel (key counts that leave a partial block of 64,
 * fewer rows than one register tile, scores far apart rising, falling or
 * spread, the same bits for 1, 2 and 3 threads); the GEGLU feed-forward
 * activation with its bias folded in; and the vector math of the kernel set in use
 * (exp over its whole range, GELU and SiLU with their tails and lengths
 * that leave a partial vector) against double precision; the linear
 * layers' own product (ln__gemm) against double precision and OpenBLAS,
 * for shapes that leave partial tiles, slices and blocks, input stored
 * transposed, bias and accumulation, and bit for bit across thread counts
 * and blocks; the same product with the GEGLU gating fused into it
 * (ln__gemm_geglu) against double precision, across thread counts, and
 * against the unfused product and ln__geglu_rows; LayerNorm against its
 * two-pass definition, rows far from zero mean included. ctest runs it once per kernel set the CPU has (LN_CPU). */
#include "testutil.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>

#include "ln_error.h"
#include "ln_gemm.h"
#include "ln_nn_ops.h"
#include "ln_triposr.h"
#include "ln_threads.h"
#include "test_cpu.h"

static uint32_t g_seed = 12345u;

static float uniform(void)
{
    g_seed = g_seed * 1664525u + 1013904223u;
    return (float)(g_seed >> 8) * (1.0f / 16777216.0f) * 2.0f - 1.0f;
}

/* GELU in double precision, the exact form: x Phi(x) with erfc. */
static double gelu_ref(double x)
{
    return 0.5 * x * erfc(-x / sqrt(2.0));
}

static float *random_floats(size_t n, float scale)
{
    float *p = malloc(n * sizeof(float));
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = scale * uniform();
    return p;
}

/* out[i][h hd + d] in double, straight from the definition. */
static void attention_ref(const float *q, int ldq, const float *k, int ldk, const float *v, int ldv,
                          size_t nq, size_t nk, int heads, int hd, double *out)
{
    double *w = malloc(nk * sizeof(double));
    assert_non_null(w);
    for (int h = 0; h < heads; h++)
        for (size_t i = 0; i < nq; i++) {
            double mx = -INFINITY, sum = 0.0;
            for (size_t j = 0; j < nk; j++) {
                double dot = 0.0;
                for (int d = 0; d < hd; d++)
                    dot += (double)q[i * (size_t)ldq + (size_t)(h * hd + d)] *
                           (double)k[j * (size_t)ldk + (size_t)(h * hd + d)];
                w[j] = dot / sqrt((double)hd);
                mx = fmax(mx, w[j]);
            }
            for (size_t j = 0; j < nk; j++) {
                w[j] = exp(w[j] - mx);
                sum += w[j];
            }
            for (int d = 0; d < hd; d++) {
                double acc = 0.0;
                for (size_t j = 0; j < nk; j++)
                    acc += w[j] * (double)v[j * (size_t)ldv + (size_t)(h * hd + d)];
                out[i * (size_t)(heads * hd) + (size_t)(h * hd + d)] = acc / sum;
            }
        }
    free(w);
}

/* One shape at the thread counts first..last, each with scratch sized for
 * scratch_for threads (0: for its own count): every output within 1e-5 of
 * the reference (relative to the largest output), computed once for all
 * counts, and the same bits at every count; columns of out beyond the
 * heads' and the padding of ldo are left alone. */
static void check_attention_counts(size_t nq, size_t nk, int heads, int hd, int first, int last,
                                   int scratch_for)
{
    const int D = heads * hd, ld = D + 3, ldo = D + 5;
    const int most = scratch_for ? scratch_for : last;
    float *q = random_floats(nq * (size_t)ld, 2.0f);
    float *k = random_floats(nk * (size_t)ld, 2.0f);
    float *v = random_floats(nk * (size_t)ld, 1.0f);
    float *out = malloc(nq * (size_t)ldo * sizeof(float));
    float *first_out = malloc(nq * (size_t)ldo * sizeof(float));
    double *want = malloc(nq * (size_t)D * sizeof(double));
    float *scratch = malloc(ln__attention_scratch(nq, nk, heads, hd, most) * sizeof(float));
    assert_true(out && first_out && want && scratch);
    attention_ref(q, ld, k, ld, v, ld, nq, nk, heads, hd, want);
    double scale = 0.0;
    for (size_t i = 0; i < nq * (size_t)D; i++)
        scale = fmax(scale, fabs(want[i]));

    for (int threads = first; threads <= last; threads++) {
        const int sf = scratch_for ? scratch_for : threads;
        for (size_t i = 0; i < nq * (size_t)ldo; i++)
            out[i] = 7.0f;
        ln_threads_set(threads);
        ln__blas_single_thread();
        ln__attention(q, ld, k, ld, v, ld, nq, nk, heads, hd, out, ldo, scratch, sf);
        ln_threads_set(0);

        double worst = 0.0;
        for (size_t i = 0; i < nq; i++) {
            for (int c = 0; c < D; c++)
                worst = fmax(worst, fabs((double)out[i * (size_t)ldo + (size_t)c] -
                                         want[i * (size_t)D + (size_t)c]));
            for (int c = D; c < ldo; c++)
                assert_true(out[i * (size_t)ldo + (size_t)c] == 7.0f);
        }
        /* %llu, not %zu: cmocka formats with the C runtime's printf, which
         * on Windows is msvcrt's. */
        print_message("attention nq %llu nk %llu heads %d hd %d threads %d (scratch for %d): "
                      "worst %.2e of %.3f\n",
                      (unsigned long long)nq, (unsigned long long)nk, heads, hd, threads, sf, worst,
                      scale);
        assert_true(worst <= 1e-5 * scale);
        if (threads == first)
            memcpy(first_out, out, nq * (size_t)ldo * sizeof(float));
        else
            assert_memory_equal(out, first_out, nq * (size_t)ldo * sizeof(float));
    }
    free(scratch);
    free(want);
    free(first_out);
    free(out);
    free(v);
    free(k);
    free(q);
}

static void check_attention(size_t nq, size_t nk, int heads, int hd, int threads, int scratch_for)
{
    check_attention_counts(nq, nk, heads, hd, threads, threads, scratch_for);
}

static void test_attention_self(void **state)
{
    (void)state;
    check_attention_counts(1100, 1100, 3, 16, 1, 3, 0); /* tiles of 367, 367 and 366 rows */
    check_attention(5, 5, 2, 8, 2, 2);                  /* fewer rows than a minimum tile */
    check_attention_counts(1100, 1100, 2, 64, 1, 3, 0);
    check_attention(5, 7, 3, 64, 2, 2);
}

static void test_attention_cross(void **state)
{
    (void)state;
    check_attention(700, 129, 4, 32, 2, 2);
    check_attention(97, 2200, 2, 24, 3, 3); /* keys limit the tile */
    check_attention(700, 1025, 2, 64, 2, 2); /* 16 blocks of 64 keys and one of 1 */
    check_attention(97, 2200, 3, 64, 3, 3);
    check_attention(40, 17, 1, 64, 2, 2);
}

static void test_attention_scratch_for_other_count(void **state)
{
    (void)state;
    /* Sized for one thread while two run: the serial path, same result. */
    check_attention(600, 300, 2, 16, 2, 1);
    check_attention(600, 300, 2, 64, 2, 1);
}

/* Scores far apart, for the streaming softmax's reference (raised only
 * when a score passes it by a margin, the outputs and sums rescaled then):
 * heads of 64 (the fused kernel where the kernel set has one), q positive
 * and every key a multiple g_j of a positive vector, so that the scores of
 * every row follow g: RISING from about -40 to +40 with a zigzag (one
 * raise after another, the earlier weights ending below float's range),
 * FALLING the other way (the first block holds the largest) or WIDE (q and
 * k uniform in +-6: scores spread with a deviation of about 12). Within
 * 1e-5 of the largest output plus the rounding of the scores themselves
 * (two float roundings, 1.2e-7 of the largest |score|, per unit of
 * weight), and the same bits for 1, 2 and 3 threads. */
enum spread { SPREAD_RISING, SPREAD_FALLING, SPREAD_WIDE };

static void check_attention_spread(size_t nq, size_t nk, int heads, enum spread kind)
{
    const int hd = 64, D = heads * hd, ld = D + 1, ldo = D;
    const size_t nin = (nq > nk ? nq : nk) * (size_t)ld;
    float *q = random_floats(nin, 6.0f), *k = random_floats(nin, 6.0f);
    float *v = random_floats(nin, 1.0f);
    float *out[3];
    double *want = malloc(nq * (size_t)D * sizeof(double));
    float *scratch = malloc(ln__attention_scratch(nq, nk, heads, hd, 3) * sizeof(float));
    assert_true(want && scratch);
    if (kind != SPREAD_WIDE) {
        for (size_t i = 0; i < nin; i++)
            q[i] = 1.0f + q[i] / 24.0f;
        for (size_t j = 0; j < nk; j++) {
            const double t = (double)j / (double)nk;
            const double g = (kind == SPREAD_RISING ? 10.0 * t - 5.0 : 5.0 - 10.0 * t) +
                             0.5 * sin(0.7 * (double)j);
            float *kj = k + j * (size_t)ld;
            for (int c = 0; c < D; c++)
                kj[c] = (float)g * (1.0f + kj[c] / 24.0f);
        }
    }
    double top = 0.0; /* largest |score| */
    for (int h = 0; h < heads; h++)
        for (size_t i = 0; i < nq; i++)
            for (size_t j = 0; j < nk; j++) {
                double dot = 0.0;
                for (int d = 0; d < hd; d++)
                    dot += (double)q[i * (size_t)ld + (size_t)(h * hd + d)] *
                           (double)k[j * (size_t)ld + (size_t)(h * hd + d)];
                top = fmax(top, fabs(dot / 8.0));
            }
    attention_ref(q, ld, k, ld, v, ld, nq, nk, heads, hd, want);
    for (int t = 0; t < 3; t++) {
        out[t] = malloc(nq * (size_t)ldo * sizeof(float));
        assert_non_null(out[t]);
        ln_threads_set(t + 1);
        ln__blas_single_thread();
        ln__attention(q, ld, k, ld, v, ld, nq, nk, heads, hd, out[t], ldo, scratch, t + 1);
    }
    ln_threads_set(0);
    double scale = 0.0, worst = 0.0;
    for (size_t i = 0; i < nq * (size_t)D; i++) {
        scale = fmax(scale, fabs(want[i]));
        worst = fmax(worst, fabs((double)out[0][i] - want[i]));
    }
    print_message("attention, scores %s to %.1f: nq %llu nk %llu heads %d: worst %.2e of %.3f\n",
                  kind == SPREAD_RISING ? "rising" : kind == SPREAD_FALLING ? "falling" : "wide",
                  top, (unsigned long long)nq, (unsigned long long)nk, heads, worst, scale);
    assert_true(top > 30.0); /* the shape is what it says */
    assert_true(worst <= (1e-5 + 1.2e-7 * top) * scale);
    assert_memory_equal(out[0], out[1], nq * (size_t)ldo * sizeof(float));
    assert_memory_equal(out[0], out[2], nq * (size_t)ldo * sizeof(float));
    for (int t = 0; t < 3; t++)
        free(out[t]);
    free(scratch);
    free(want);
    free(v);
    free(k);
    free(q);
}

static void test_attention_spread_scores(void **state)
{
    (void)state;
    check_attention_spread(100, 1025, 2, SPREAD_RISING); /* 16 blocks of 64 and one of 1 */
    check_attention_spread(37, 700, 1, SPREAD_FALLING);
    check_attention_spread(61, 130, 3, SPREAD_WIDE); /* an odd block of 2 keys */
    check_attention_spread(5, 3000, 1, SPREAD_RISING); /* fewer rows than a register tile */
}

static void test_geglu_bias(void **state)
{
    (void)state;
    const size_t rows = 37;
    const int half = 70, ld = 2 * half + 6;
    float *z = random_floats(rows * (size_t)ld, 4.0f);
    float *bias = random_floats(2 * (size_t)half, 1.0f);
    float *z0 = malloc(rows * (size_t)ld * sizeof(float));
    assert_non_null(z0);
    for (size_t i = 0; i < rows * (size_t)ld; i++)
        z0[i] = z[i];
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        for (size_t i = 0; i < rows * (size_t)ld; i++)
            z[i] = z0[i];
        ln__geglu_rows(z, rows, half, ld, with_bias ? bias : NULL);
        double worst = 0.0;
        for (size_t r = 0; r < rows; r++)
            for (int j = 0; j < half; j++) {
                const double a = (double)z0[r * (size_t)ld + (size_t)j] + (with_bias ? bias[j] : 0.0);
                const double g = (double)z0[r * (size_t)ld + (size_t)(half + j)] +
                                 (with_bias ? bias[half + j] : 0.0);
                const double want = a * gelu_ref(g);
                worst = fmax(worst, fabs((double)z[r * (size_t)ld + (size_t)j] - want) /
                                        fmax(fabs(want), 1e-3));
            }
        print_message("geglu (bias %d): worst relative error %.2e\n", with_bias, worst);
        assert_true(worst < 1e-5);
    }
    free(z0);
    free(bias);
    free(z);
}

/* Relative error of got against want, with an absolute floor at the
 * smallest normal float (results below it have fewer bits). */
static double rel_err(float got, double want)
{
    if (isinf(want) || isinf(got))
        return (double)got == want ? 0.0 : INFINITY;
    return fabs((double)got - want) / fmax(fabs(want), 1.1754943508222875e-38);
}

/* The kernel set's vector exp from below its underflow to past its
 * overflow. */
static void test_vector_exp(void **state)
{
    (void)state;
    enum { N = 1 << 18 };
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
    assert_true(x && y);
    for (int i = 0; i < N; i++)
        x[i] = -110.0f + 200.0f * (float)i / (float)N;
    /* Special values where every vector form (16, 8 and 4 wide) has them
     * in a vector, not in the scalar remainder. */
    x[N - 17] = 88.7f;   /* finite: 3.3e38 */
    x[N - 18] = 88.75f;  /* overflows */
    x[N - 19] = -87.3f;  /* just normal */
    x[N - 20] = -103.0f; /* subnormal */
    x[N - 21] = NAN;     /* stays NaN (the density of a broken network) */
    x[N - 22] = -NAN;
    ln__exp_span(x, y, N);
    double worst = 0.0, worst_sub = 0.0;
    for (int i = 0; i < N; i++) {
        if (isnan(x[i])) {
            assert_true(isnan(y[i]));
            continue;
        }
        const double want = exp((double)x[i]);
        if ((float)want > 3.40282347e38f || isinf((float)want)) {
            assert_true(isinf(y[i]) && y[i] > 0.0f);
        } else if (want < 1.1754943508222875e-38) {
            /* Subnormal and underflow: within one step of the smallest
             * subnormal (2^-149) plus the relative error of p. */
            worst_sub = fmax(worst_sub, fabs((double)y[i] - want) / 1.401298464324817e-45);
            assert_true(y[i] >= 0.0f);
        } else {
            worst = fmax(worst, rel_err(y[i], want));
        }
    }
    print_message("vector exp (%s kernels): worst relative error %.2e, subnormal %.2f steps\n",
                  ln_nn_kernel_set(), worst, worst_sub);
    assert_true(worst < 3e-7);
    assert_true(worst_sub <= 1.0);
    free(y);
    free(x);
}

/* GELU and SiLU, vector where the build has it, on values up to +-100 in
 * rows whose length leaves a partial vector. */
static void test_vector_activations(void **state)
{
    (void)state;
    const size_t rows = 7;
    const int cols = 1013, ld = 1021;
    float *g = malloc(rows * (size_t)ld * sizeof(float));
    float *sv = malloc(rows * (size_t)ld * sizeof(float));
    float *x0 = malloc(rows * (size_t)ld * sizeof(float));
    assert_true(g && sv && x0);
    for (size_t i = 0; i < rows * (size_t)ld; i++) {
        const float u = uniform();
        /* Most within +-8, a seventh spread to +-80. */
        x0[i] = i % 7 == 3 ? 80.0f * u : 8.0f * u;
        g[i] = sv[i] = x0[i];
    }
    for (size_t r = 0; r < rows; r++)
        g[r * (size_t)ld + (size_t)cols] = 7.0f; /* past the row: untouched */
    ln__gelu_rows(g, rows, cols, ld);
    ln__silu_inplace(sv, rows * (size_t)ld - 3);
    double worst_g = 0.0, worst_s = 0.0;
    for (size_t r = 0; r < rows; r++) {
        for (int c = 0; c < cols; c++) {
            const size_t i = r * (size_t)ld + (size_t)c;
            /* The negative tail, exp(-x^2 / 2) in effect, turns the
             * rounding of x / sqrt 2 into a relative error of x^2 ulp. */
            const double x = x0[i], want = gelu_ref(x);
            worst_g = fmax(worst_g, fabs((double)g[i] - want) / fmax(fabs(want), 1e-30) /
                                        (1.0 + x * x));
        }
        assert_true(g[r * (size_t)ld + (size_t)cols] == 7.0f);
    }
    for (size_t i = 0; i < rows * (size_t)ld - 3; i++) {
        const double x = x0[i];
        worst_s = fmax(worst_s, rel_err(sv[i], x / (1.0 + exp(-x))));
    }
    for (size_t i = rows * (size_t)ld - 3; i < rows * (size_t)ld; i++)
        assert_true(sv[i] == x0[i]);
    print_message("gelu: worst relative error %.2e (1 + x^2), silu %.2e\n", worst_g, worst_s);
    assert_true(worst_g < 1e-6);
    assert_true(worst_s < 1e-6);
    free(x0);
    free(sv);
    free(g);
}

/* SiLU far into both tails, where exp(-x) overflows or underflows: finite,
 * x e^x (about 0) below and x above. */
static void test_silu_far_tails(void **state)
{
    (void)state;
    const float xs[] = {-1e30f, -1000.0f, -200.0f, -104.0f, -100.0f, -89.0f, -88.8f, -88.7f,
                        -88.0f, -50.0f,   50.0f,   88.0f,   89.0f,   100.0f, 1000.0f, 1e30f,
                        -95.0f, -90.0f,   -120.0f};
    const size_t n = sizeof xs / sizeof xs[0];
    float v[sizeof xs / sizeof xs[0]];
    for (size_t i = 0; i < n; i++)
        v[i] = xs[i];
    ln__silu_inplace(v, n);
    for (size_t i = 0; i < n; i++) {
        const double x = xs[i], want = x / (1.0 + exp(-x));
        if (!(fabs((double)v[i] - want) <= 1e-6 * fabs(want) + 1e-30))
            fail_msg("silu(%g) = %g, want %g", x, (double)v[i], want);
    }
}

/* ------------------------------------------------------------ linear product */

/* y = (accumulate ? y0 : 0) + bias + x w^T in double; x[r][k] is
 * x[r ldx + k], or x[k ldx + r] when xt. Also the sum of |terms| per
 * output, the scale of its rounding error. */
static void gemm_ref(const float *x, size_t rows, int k, int ldx, int xt, const float *w,
                     const float *bias, int n, const float *y0, int ldy, int accumulate,
                     double *want, double *mag)
{
    for (size_t r = 0; r < rows; r++)
        for (int j = 0; j < n; j++) {
            double s = accumulate ? (double)y0[r * (size_t)ldy + (size_t)j] : 0.0;
            double m = fabs(s);
            if (bias) {
                s += bias[j];
                m += fabs((double)bias[j]);
            }
            for (int kk = 0; kk < k; kk++) {
                const double xv = xt ? x[(size_t)kk * (size_t)ldx + r] : x[r * (size_t)ldx + (size_t)kk];
                const double t = xv * (double)w[(size_t)j * (size_t)k + (size_t)kk];
                s += t;
                m += fabs(t);
            }
            want[r * (size_t)n + (size_t)j] = s;
            mag[r * (size_t)n + (size_t)j] = m;
        }
}

/* One shape: ln__gemm within 1e-6 of the sum of |terms| (float rounding
 * of a sum of k terms grows like sqrt(k) ulp; 1e-6 is about 8 ulp), the
 * columns of y past n untouched, and ln__linear on OpenBLAS within the
 * same bound. */
static void check_gemm(size_t rows, int k, int n, int xt, int with_bias, int accumulate)
{
    const int ldx = xt ? (int)rows + 3 : k + 5, ldy = n + 7;
    const size_t xn = xt ? (size_t)(k > 0 ? k : 1) * (size_t)ldx : rows * (size_t)ldx;
    float *x = random_floats(xn, 1.0f);
    float *w = random_floats((size_t)(n * (k > 0 ? k : 1)), 0.5f);
    float *bias = with_bias ? random_floats((size_t)n, 1.0f) : NULL;
    float *y0 = random_floats(rows * (size_t)ldy, 1.0f);
    float *y = malloc(rows * (size_t)ldy * sizeof(float));
    float *yb = malloc(rows * (size_t)ldy * sizeof(float));
    double *want = malloc(rows * (size_t)n * sizeof(double));
    double *mag = malloc(rows * (size_t)n * sizeof(double));
    assert_true(y && yb && want && mag);
    memcpy(y, y0, rows * (size_t)ldy * sizeof(float));
    memcpy(yb, y0, rows * (size_t)ldy * sizeof(float));
    gemm_ref(x, rows, k, ldx, xt, w, bias, n, y0, ldy, accumulate, want, mag);

    ln__blas_single_thread();
    ln__gemm(x, rows, k, ldx, xt, w, bias, n, y, ldy, accumulate);
    ln_nn_gemm_set_blas(1);
    if (xt)
        ln__linear_xt(x, rows, k, ldx, w, bias, n, yb, ldy, accumulate);
    else
        ln__linear(x, rows, k, ldx, w, bias, n, yb, ldy, accumulate);
    ln_nn_gemm_set_blas(-1);

    double worst = 0.0, worst_blas = 0.0;
    for (size_t r = 0; r < rows; r++) {
        for (int j = 0; j < n; j++) {
            const size_t i = r * (size_t)n + (size_t)j, o = r * (size_t)ldy + (size_t)j;
            const double tol = 1e-6 * mag[i] + 1e-30;
            worst = fmax(worst, fabs((double)y[o] - want[i]) / tol);
            worst_blas = fmax(worst_blas, fabs((double)yb[o] - want[i]) / tol);
        }
        for (int j = n; j < ldy; j++)
            assert_true(y[r * (size_t)ldy + (size_t)j] == y0[r * (size_t)ldy + (size_t)j]);
    }
    print_message("gemm %llu x %d x %d%s%s%s: worst %.3f of the bound (OpenBLAS %.3f)\n",
                  (unsigned long long)rows, k, n, xt ? " xt" : "", with_bias ? " bias" : "",
                  accumulate ? " acc" : "", worst, worst_blas);
    assert_true(worst <= 1.0);
    assert_true(worst_blas <= 1.0);
    free(mag);
    free(want);
    free(yb);
    free(y);
    free(y0);
    free(bias);
    free(w);
    free(x);
}

/* Shapes around the kernel's sizes: rows not a multiple of any tile's
 * (1, 7, 241, 801: two row tasks), outputs that leave a partial
 * vector and tile and cross a block of 64 or 256 (1, 13, 70, 90, 300), k
 * across the slices of 256 (AVX-512, the portable form) and of 4096
 * (AVX2): 1, 37, 256, 600, 1300, 4300, and none at all. */
static void test_gemm_shapes(void **state)
{
    (void)state;
    check_gemm(1, 37, 13, 0, 1, 0);
    check_gemm(7, 1, 1, 0, 0, 0);
    check_gemm(7, 256, 70, 0, 1, 1);
    check_gemm(241, 600, 300, 0, 1, 0);
    check_gemm(241, 600, 300, 1, 1, 1);
    check_gemm(50, 300, 64, 1, 0, 0);
    check_gemm(801, 300, 70, 0, 1, 1);
    check_gemm(61, 1300, 90, 0, 1, 1);
    check_gemm(9, 4300, 70, 0, 1, 1);
    check_gemm(13, 0, 21, 0, 1, 1);
    check_gemm(13, 0, 21, 0, 0, 0);
}

/* The product with x stored transposed (the backbone's proj_in and the
 * upsampling: [k][ldx], x[r][k] = xt[k ldx + r]) on odd shapes, against
 * double precision and OpenBLAS's cblas_sgemm with its A transposed:
 * the upsampling's 1024 plane tokens x 160 outputs with rows one more
 * than two row tasks hold and an odd k across the slices, one row, one
 * k, rows fewer than a tile, outputs past a block of 256. */
static void test_gemm_xt_odd_shapes(void **state)
{
    (void)state;
    check_gemm(1025, 37, 160, 1, 1, 0);
    check_gemm(1023, 513, 161, 1, 1, 0);
    check_gemm(1, 300, 17, 1, 1, 1);
    check_gemm(5, 1, 3, 1, 0, 1);
    check_gemm(97, 257, 259, 1, 1, 1);
    check_gemm(43, 1100, 75, 1, 1, 0);
}

/* The slices of k change no sum (ln_gemm.c, DESIGN "slice sizes"): a
 * product taken in two calls, k split anywhere (inside a slice, at
 * multiples of 256, near the end), the second call adding to the first's
 * y, gives the bits of the product in one call, x in rows or
 * transposed. */
static void test_gemm_split_k_bitwise(void **state)
{
    (void)state;
    const size_t rows = 67;
    const int k = 1500, n = 150, ldy = n + 3;
    const int splits[] = {1, 255, 256, 700, 1023, 1024, 1499};
    float *x = random_floats(rows * (size_t)k, 1.0f);
    float *xt = malloc(rows * (size_t)k * sizeof(float));
    float *w = random_floats((size_t)n * (size_t)k, 0.5f);
    float *wa = malloc((size_t)n * (size_t)k * sizeof(float));
    float *bias = random_floats((size_t)n, 1.0f);
    float *whole = malloc(rows * (size_t)ldy * sizeof(float));
    float *parts = malloc(rows * (size_t)ldy * sizeof(float));
    assert_true(xt && wa && whole && parts);
    for (size_t r = 0; r < rows; r++)
        for (int kk = 0; kk < k; kk++)
            xt[(size_t)kk * rows + r] = x[r * (size_t)k + (size_t)kk];
    for (int transposed = 0; transposed < 2; transposed++) {
        const float *xs = transposed ? xt : x;
        const int ldx = transposed ? (int)rows : k;
        memset(whole, 0, rows * (size_t)ldy * sizeof(float));
        ln__gemm(xs, rows, k, ldx, transposed, w, bias, n, whole, ldy, 0);
        for (size_t s = 0; s < sizeof splits / sizeof *splits; s++) {
            const int k1 = splits[s], k2 = k - k1;
            /* w's columns k1 .. k as rows of their own: [n][k2] */
            for (int j = 0; j < n; j++)
                memcpy(wa + (size_t)j * (size_t)k2, w + (size_t)j * (size_t)k + (size_t)k1,
                       (size_t)k2 * sizeof(float));
            for (int j = 0; j < n; j++)
                memcpy(wa + (size_t)n * (size_t)k2 + (size_t)j * (size_t)k1,
                       w + (size_t)j * (size_t)k, (size_t)k1 * sizeof(float));
            memset(parts, 0, rows * (size_t)ldy * sizeof(float));
            ln__gemm(xs, rows, k1, ldx, transposed, wa + (size_t)n * (size_t)k2, bias, n, parts,
                     ldy, 0);
            const float *xs2 = transposed ? xt + (size_t)k1 * rows : x + k1;
            ln__gemm(xs2, rows, k2, ldx, transposed, wa, NULL, n, parts, ldy, 1);
            assert_memory_equal(whole, parts, rows * (size_t)ldy * sizeof(float));
        }
    }
    free(parts);
    free(whole);
    free(bias);
    free(wa);
    free(w);
    free(xt);
    free(x);
}

/* The same product with 1, 2 and 3 threads is the same to the bit, and
 * a block of rows computed alone equals the same rows inside a larger
 * product (the tasks, slices and tiles never change a sum's order). */
static void test_gemm_threads_bitwise(void **state)
{
    (void)state;
    const size_t rows = 900;
    const int k = 600, n = 520;
    float *x = random_floats(rows * (size_t)k, 1.0f);
    float *w = random_floats((size_t)n * (size_t)k, 0.5f);
    float *bias = random_floats((size_t)n, 1.0f);
    float *y[3], *part = malloc(5 * (size_t)n * sizeof(float));
    assert_non_null(part);
    for (int t = 0; t < 3; t++) {
        y[t] = malloc(rows * (size_t)n * sizeof(float));
        assert_non_null(y[t]);
        ln_threads_set(t + 1);
        ln__gemm(x, rows, k, k, 0, w, bias, n, y[t], n, 0);
    }
    ln_threads_set(0);
    assert_memory_equal(y[0], y[1], rows * (size_t)n * sizeof(float));
    assert_memory_equal(y[0], y[2], rows * (size_t)n * sizeof(float));
    /* rows 451 .. 455: inside the second of two row tasks (450 rows
     * each), starting mid-tile */
    ln__gemm(x + 451 * (size_t)k, 5, k, k, 0, w, bias, n, part, n, 0);
    assert_memory_equal(part, y[0] + 451 * (size_t)n, 5 * (size_t)n * sizeof(float));
    /* the same with x read transposed: x as [k][rows] */
    float *xt = malloc(rows * (size_t)k * sizeof(float));
    assert_non_null(xt);
    for (size_t r = 0; r < rows; r++)
        for (int kk = 0; kk < k; kk++)
            xt[(size_t)kk * rows + r] = x[r * (size_t)k + (size_t)kk];
    for (int t = 0; t < 3; t++) {
        ln_threads_set(t + 1);
        ln__gemm(xt, rows, k, (int)rows, 1, w, bias, n, y[t], n, 0);
    }
    ln_threads_set(0);
    assert_memory_equal(y[0], y[1], rows * (size_t)n * sizeof(float));
    assert_memory_equal(y[0], y[2], rows * (size_t)n * sizeof(float));
    free(xt);
    for (int t = 0; t < 3; t++)
        free(y[t]);
    free(part);
    free(bias);
    free(w);
    free(x);
}

/* Weights packed once (ln__gemm_pack) give the same bits as ln__gemm for
 * one shape, x in rows or transposed, with 1, 2 and 3 threads; ln__gemm
 * itself is checked against double precision above. */
static void check_gemm_packed(size_t rows, int k, int n, int xt, int with_bias, int accumulate)
{
    const int ldx = xt ? (int)rows + 3 : k + 5, ldy = n + 2;
    const size_t xcount = xt ? (size_t)k * (size_t)ldx : rows * (size_t)ldx;
    float *x = random_floats(xcount + 1, 1.0f);
    float *w = random_floats((size_t)n * (size_t)k + 1, 0.5f);
    float *bias = with_bias ? random_floats((size_t)n, 1.0f) : NULL;
    float *y0 = random_floats(rows * (size_t)ldy, 1.0f);
    float *y1 = malloc(rows * (size_t)ldy * sizeof(float));
    float *start = malloc(rows * (size_t)ldy * sizeof(float));
    assert_non_null(y1);
    assert_non_null(start);
    memcpy(start, y0, rows * (size_t)ldy * sizeof(float));
    float *wp = ln__gemm_pack(w, k, n);
    assert_non_null(wp);
    for (int t = 1; t <= 3; t++) {
        ln_threads_set(t);
        memcpy(y0, start, rows * (size_t)ldy * sizeof(float));
        memcpy(y1, start, rows * (size_t)ldy * sizeof(float));
        ln__gemm(x, rows, k, ldx, xt, w, bias, n, y0, ldy, accumulate);
        ln__gemm_packed(x, rows, k, ldx, xt, wp, bias, n, y1, ldy, accumulate);
        assert_memory_equal(y0, y1, rows * (size_t)ldy * sizeof(float));
    }
    ln_threads_set(0);
    free(wp);
    free(start);
    free(y1);
    free(y0);
    free(bias);
    free(w);
    free(x);
}

static void test_gemm_packed_bitwise(void **state)
{
    (void)state;
    check_gemm_packed(900, 600, 520, 0, 1, 0);
    check_gemm_packed(1537, 513, 259, 0, 1, 1); /* three row tasks, k past two slices */
    check_gemm_packed(13, 4300, 70, 0, 1, 1);   /* k past a slice of 4096 (AVX2) */
    check_gemm_packed(11, 4300, 21, 1, 1, 0);   /* the same, x transposed */
    check_gemm_packed(7, 300, 17, 0, 0, 1);
    check_gemm_packed(97, 257, 65, 1, 1, 0); /* x transposed */
    check_gemm_packed(1, 1, 1, 0, 1, 0);
    check_gemm_packed(5, 0, 3, 0, 1, 1); /* no products: y + bias */
}


/* x rounded to bfloat16, round to nearest even, as a float. */
static float round_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    const uint32_t lsb = (u >> 16) & 1u;
    u = (u + 0x7fffu + lsb) & 0xffff0000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* LayerNorm (one pass over each row for its statistics) against the
 * two-pass definition in double: widths that leave a partial vector of
 * every kernel set (1, 7, 13, 37, 1024 + 5), rows offset by a mean 300
 * and 3000 times their spread (E[x^2] - mean^2 must not cancel), in
 * place and not, the same bits for 1, 2 and 3 threads. */
static void test_layernorm(void **state)
{
    (void)state;
    static const int dims[] = {1, 7, 13, 37, 1029};
    const size_t rows = 67;
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        const int dim = dims[di], ld = dim + 3;
        float *x = random_floats(rows * (size_t)ld, 2.0f);
        float *g = random_floats((size_t)dim, 1.0f), *b = random_floats((size_t)dim, 1.0f);
        for (size_t r = 0; r < rows; r++) {
            const float off = r % 3 == 0 ? 0.0f : r % 3 == 1 ? 300.0f : -3000.0f;
            for (int j = 0; j < dim; j++)
                x[r * (size_t)ld + (size_t)j] += off;
        }
        float *y[3];
        for (int t = 0; t < 3; t++) {
            y[t] = malloc(rows * (size_t)ld * sizeof(float));
            assert_non_null(y[t]);
            memcpy(y[t], x, rows * (size_t)ld * sizeof(float));
            ln_threads_set(t + 1);
            if (t == 2) /* in place */
                ln__layernorm(y[t], rows, dim, ld, g, b, 1e-5f, y[t], ld);
            else
                ln__layernorm(x, rows, dim, ld, g, b, 1e-5f, y[t], ld);
        }
        ln_threads_set(0);
        assert_memory_equal(y[0], y[1], rows * (size_t)ld * sizeof(float));
        assert_memory_equal(y[0], y[2], rows * (size_t)ld * sizeof(float));
        double worst = 0.0;
        for (size_t r = 0; r < rows; r++) {
            const float *xr = x + r * (size_t)ld;
            double m = 0.0, v = 0.0;
            for (int j = 0; j < dim; j++)
                m += xr[j];
            m /= dim;
            for (int j = 0; j < dim; j++)
                v += ((double)xr[j] - m) * ((double)xr[j] - m);
            const double rstd = 1.0 / sqrt(v / dim + 1e-5);
            for (int j = 0; j < dim; j++) {
                const double want = ((double)xr[j] - m) * rstd * g[j] + b[j];
                /* x - mean in float loses |mean| ulp of x: scale by it */
                const double tol = 5e-7 * (1.0 + fabs(m) * rstd) * (fabs((double)g[j]) + 1.0) +
                                   5e-7 * fabs((double)b[j]);
                worst = fmax(worst, fabs((double)y[0][r * (size_t)ld + (size_t)j] - want) / tol);
            }
            for (int j = dim; j < ld; j++)
                assert_true(y[0][r * (size_t)ld + (size_t)j] == xr[j]);
        }
        print_message("layernorm width %d: worst %.3f of the bound\n", dim, worst);
        assert_true(worst <= 1.0);
        for (int t = 0; t < 3; t++)
            free(y[t]);
        free(b);
        free(g);
        free(x);
    }
}

/* One GEGLU shape: ln__gemm_geglu (or, bf16, ln__gemm_bf16_geglu) against
 * double precision (value and gate sums as in check_gemm, of the inputs
 * rounded to bfloat16 for bf16, then (v + b) gelu(g + b) with erfc,
 * within the sums' bound carried through the gating plus 1e-5 relative
 * for the vector GELU), the columns of y past half untouched, the same
 * bits for 1, 2 and 3 threads, the same bits from weights packed ahead
 * (ln__gemm_geglu_packed, float32), and the same bits as the product
 * without bias into [rows][2 half] followed by ln__geglu_rows, the path it
 * replaces. Where bf16 cannot run: refused, y untouched. */
static void check_gemm_geglu(size_t rows, int k, int half, int with_bias, int bf16)
{
    const int ldx = k + 5, ldy = half + 7, n = 2 * half;
    float *x = random_floats(rows * (size_t)ldx, 1.0f);
    float *w = random_floats((size_t)n * (size_t)(k > 0 ? k : 1), 0.5f);
    float *bias = with_bias ? random_floats((size_t)n, 1.0f) : NULL;
    float *y0 = random_floats(rows * (size_t)ldy, 1.0f);
    float *y[3];
    for (int t = 0; t < 3; t++) {
        y[t] = malloc(rows * (size_t)ldy * sizeof(float));
        assert_non_null(y[t]);
        memcpy(y[t], y0, rows * (size_t)ldy * sizeof(float));
    }
    if (bf16 && !ln_nn_bf16_available()) {
        assert_int_equal(ln__gemm_bf16_geglu(x, rows, k, ldx, w, bias, half, y[0], ldy), LN_EINVAL);
        assert_memory_equal(y[0], y0, rows * (size_t)ldy * sizeof(float));
        print_message("bf16 GEGLU: not available with kernel set %s here (refused)\n",
                      ln_nn_kernel_set());
        goto out;
    }
    float *z = malloc(rows * (size_t)n * sizeof(float));
    double *want = malloc(rows * (size_t)n * sizeof(double));
    double *mag = malloc(rows * (size_t)n * sizeof(double));
    float *xr = malloc(rows * (size_t)ldx * sizeof(float));
    float *wr = malloc((size_t)n * (size_t)(k > 0 ? k : 1) * sizeof(float));
    assert_true(z && want && mag && xr && wr);
    for (size_t i = 0; i < rows * (size_t)ldx; i++)
        xr[i] = bf16 ? round_bf16(x[i]) : x[i];
    for (size_t i = 0; i < (size_t)n * (size_t)(k > 0 ? k : 1); i++)
        wr[i] = bf16 ? round_bf16(w[i]) : w[i];
    gemm_ref(xr, rows, k, ldx, 0, wr, NULL, n, NULL, 0, 0, want, mag);
    for (int t = 0; t < 3; t++) {
        ln_threads_set(t + 1);
        if (bf16)
            assert_int_equal(ln__gemm_bf16_geglu(x, rows, k, ldx, w, bias, half, y[t], ldy), 0);
        else
            ln__gemm_geglu(x, rows, k, ldx, w, bias, half, y[t], ldy);
    }
    ln_threads_set(0);
    assert_memory_equal(y[0], y[1], rows * (size_t)ldy * sizeof(float));
    assert_memory_equal(y[0], y[2], rows * (size_t)ldy * sizeof(float));
    if (!bf16) { /* from weights packed ahead: the same bits on 1, 2 and 3 threads */
        float *wp = ln__gemm_geglu_pack(w, k, half);
        float *yp = malloc(rows * (size_t)ldy * sizeof(float));
        assert_true(wp && yp);
        for (int t = 0; t < 3; t++) {
            memcpy(yp, y0, rows * (size_t)ldy * sizeof(float));
            ln_threads_set(t + 1);
            ln__gemm_geglu_packed(x, rows, k, ldx, wp, bias, half, yp, ldy);
            assert_memory_equal(yp, y[0], rows * (size_t)ldy * sizeof(float));
        }
        ln_threads_set(0);
        free(yp);
        free(wp);
    }
    if (bf16)
        assert_int_equal(ln__gemm_bf16(x, rows, k, ldx, w, NULL, n, z, n, 0), 0);
    else
        ln__gemm(x, rows, k, ldx, 0, w, NULL, n, z, n, 0);
    ln__geglu_rows(z, rows, half, n, bias);
    double worst = 0.0;
    size_t same = 0;
    for (size_t r = 0; r < rows; r++) {
        for (int j = 0; j < half; j++) {
            const size_t iv = r * (size_t)n + (size_t)j, ig = iv + (size_t)half;
            const double a = want[iv] + (bias ? bias[j] : 0.0);
            const double g = want[ig] + (bias ? bias[half + j] : 0.0);
            const double gl = gelu_ref(g);
            /* d gelu / dg is at most 1.13 */
            const double tol = 1e-6 * (mag[iv] * fabs(gl) + fabs(a) * 1.13 * mag[ig]) +
                               1e-5 * fabs(a * gl) + 1e-30;
            const float got = y[0][r * (size_t)ldy + (size_t)j];
            const double e = fabs((double)got - a * gl) / tol;
            if (e > worst) /* (not fmax: see test_gemm_bf16) */
                worst = e;
            same += memcmp(&got, &z[iv], sizeof got) == 0;
        }
        for (int j = half; j < ldy; j++)
            assert_true(y[0][r * (size_t)ldy + (size_t)j] == y0[r * (size_t)ldy + (size_t)j]);
    }
    print_message("gemm_geglu%s %llu x %d x 2 %d%s: worst %.3f of the bound, %llu of %llu the "
                  "same bits as the unfused path\n",
                  bf16 ? " bf16" : "", (unsigned long long)rows, k, half,
                  with_bias ? " bias" : "", worst, (unsigned long long)same,
                  (unsigned long long)(rows * (size_t)half));
    assert_true(worst <= 1.0);
    assert_true(same == rows * (size_t)half);
    free(wr);
    free(xr);
    free(mag);
    free(want);
    free(z);
out:
    for (int t = 0; t < 3; t++)
        free(y[t]);
    free(y0);
    free(bias);
    free(w);
    free(x);
}

/* The fused GEGLU product on shapes around its sizes: rows fewer than a
 * tile, not a multiple of any (37, 801: two row blocks), outputs that
 * leave a partial vector, panel and task of 32 (1, 13, 45, 70), k odd,
 * past a slice of 256 and none at all, with and without bias. */
static void test_gemm_geglu(void **state)
{
    (void)state;
    check_gemm_geglu(1, 37, 13, 1, 0);
    check_gemm_geglu(37, 70, 45, 1, 0);
    check_gemm_geglu(37, 70, 45, 0, 0);
    check_gemm_geglu(5, 1, 1, 1, 0);
    check_gemm_geglu(801, 300, 70, 1, 0);
    check_gemm_geglu(13, 0, 21, 1, 0);
    check_gemm_geglu(200, 513, 64, 1, 0);
}

/* The same in bfloat16 (where the CPU has AVX512_BF16 and the kernel set
 * is AVX-512; elsewhere refused): odd k (a pair half padded), partial
 * tiles and tasks, two row blocks. */
static void test_gemm_bf16_geglu(void **state)
{
    (void)state;
    check_gemm_geglu(1, 37, 13, 1, 1);
    check_gemm_geglu(37, 71, 45, 1, 1);
    check_gemm_geglu(37, 70, 45, 0, 1);
    check_gemm_geglu(801, 301, 70, 1, 1);
    check_gemm_geglu(200, 1024, 64, 1, 1);
}


/* The bf16 product: equal, within float32 accumulation (1e-6 of the sum
 * of |terms|), to the double-precision product of the inputs rounded to
 * bfloat16 by the definition above; the same bits for 1, 2 and 3
 * threads. Where the CPU or kernel set has no AVX512_BF16 it refuses
 * with LN_EINVAL and writes nothing. */
/* Attention in bfloat16 (ln__attention_bf16): within 5e-3 of the largest
 * output of the double-precision attention of the inputs rounded to
 * bfloat16 (its weights exp(s - max) are rounded too, by 2^-9 at most
 * each), columns beyond the heads' left alone, the same bits for 1, 2 and
 * 3 threads. Refused (LN_EINVAL, nothing written) for heads other than 64
 * wide and where the CPU or kernel set has no AVX512_BF16. */
static void check_attention_bf16(size_t nq, size_t nk, int heads)
{
    const int hd = 64, D = heads * hd, ld = D + 3, ldo = D + 5;
    const size_t nin = (nq > nk ? nq : nk) * (size_t)ld;
    float *q = random_floats(nin, 2.0f), *k = random_floats(nin, 2.0f);
    float *v = random_floats(nin, 1.0f);
    float *out[3];
    float *scratch = malloc(ln__attention_scratch(nq, nk, heads, hd, 3) * sizeof(float));
    assert_non_null(scratch);
    for (int t = 0; t < 3; t++) {
        out[t] = malloc(nq * (size_t)ldo * sizeof(float));
        assert_non_null(out[t]);
        for (size_t i = 0; i < nq * (size_t)ldo; i++)
            out[t][i] = 7.0f;
    }
    if (!ln_nn_bf16_available()) {
        assert_int_equal(ln__attention_bf16(q, ld, k, ld, v, ld, nq, nk, heads, hd, out[0], ldo,
                                            scratch, 1),
                         LN_EINVAL);
        for (size_t i = 0; i < nq * (size_t)ldo; i++)
            assert_true(out[0][i] == 7.0f);
        print_message("attention bf16: not available with kernel set %s here (refused)\n",
                      ln_nn_kernel_set());
    } else {
        double *want = malloc(nq * (size_t)D * sizeof(double));
        assert_non_null(want);
        for (size_t i = 0; i < nin; i++) {
            q[i] = round_bf16(q[i]);
            k[i] = round_bf16(k[i]);
            v[i] = round_bf16(v[i]);
        }
        attention_ref(q, ld, k, ld, v, ld, nq, nk, heads, hd, want);
        for (int t = 0; t < 3; t++) {
            ln_threads_set(t + 1);
            assert_int_equal(ln__attention_bf16(q, ld, k, ld, v, ld, nq, nk, heads, hd, out[t],
                                                ldo, scratch, t + 1),
                             0);
        }
        ln_threads_set(0);
        double scale = 0.0, worst = 0.0;
        for (size_t i = 0; i < nq * (size_t)D; i++)
            if (fabs(want[i]) > scale)
                scale = fabs(want[i]);
        for (size_t i = 0; i < nq; i++) {
            for (int c = 0; c < D; c++) {
                const double e = fabs((double)out[0][i * (size_t)ldo + (size_t)c] -
                                      want[i * (size_t)D + (size_t)c]);
                if (e > worst)
                    worst = e;
            }
            for (int c = D; c < ldo; c++)
                assert_true(out[0][i * (size_t)ldo + (size_t)c] == 7.0f);
        }
        print_message("attention bf16 nq %llu nk %llu heads %d: worst %.2e of %.3f\n",
                      (unsigned long long)nq, (unsigned long long)nk, heads, worst, scale);
        assert_true(worst <= 5e-3 * scale);
        assert_memory_equal(out[0], out[1], nq * (size_t)ldo * sizeof(float));
        assert_memory_equal(out[0], out[2], nq * (size_t)ldo * sizeof(float));
        free(want);
    }
    for (int t = 0; t < 3; t++)
        free(out[t]);
    free(scratch);
    free(v);
    free(k);
    free(q);
}

static void test_attention_bf16(void **state)
{
    (void)state;
    check_attention_bf16(700, 1025, 2); /* 16 blocks of 64 keys and one of 1 */
    check_attention_bf16(97, 130, 3);   /* an odd block of 2 keys */
    check_attention_bf16(5, 7, 1);      /* fewer rows than a register tile */
    float one = 1.0f, out = 7.0f, scratch[4096];
    assert_int_equal(ln__attention_bf16(&one, 1, &one, 1, &one, 1, 1, 1, 1, 1, &out, 1, scratch, 1),
                     LN_EINVAL);
    assert_true(out == 7.0f);
}

static void test_gemm_bf16(void **state)
{
    (void)state;
    const size_t rows = 801;
    const int k = 301, n = 300, ldx = k + 3, ldy = n + 5;
    float *x = random_floats(rows * (size_t)ldx, 1.0f);
    float *w = random_floats((size_t)n * (size_t)k, 0.5f);
    float *bias = random_floats((size_t)n, 1.0f);
    float *y0 = random_floats(rows * (size_t)ldy, 1.0f);
    float *y[3];
    for (int t = 0; t < 3; t++) {
        y[t] = malloc(rows * (size_t)ldy * sizeof(float));
        assert_non_null(y[t]);
        memcpy(y[t], y0, rows * (size_t)ldy * sizeof(float));
    }
    if (!ln_nn_bf16_available()) {
        assert_int_equal(ln__gemm_bf16(x, rows, k, ldx, w, bias, n, y[0], ldy, 1), LN_EINVAL);
        assert_memory_equal(y[0], y0, rows * (size_t)ldy * sizeof(float));
        print_message("bf16: not available with kernel set %s here (refused)\n",
                      ln_nn_kernel_set());
    } else {
        float *xb = malloc(rows * (size_t)ldx * sizeof(float));
        float *wb = malloc((size_t)n * (size_t)k * sizeof(float));
        double *want = malloc(rows * (size_t)n * sizeof(double));
        double *mag = malloc(rows * (size_t)n * sizeof(double));
        assert_true(xb && wb && want && mag);
        for (size_t i = 0; i < rows * (size_t)ldx; i++)
            xb[i] = round_bf16(x[i]);
        for (size_t i = 0; i < (size_t)n * (size_t)k; i++)
            wb[i] = round_bf16(w[i]);
        gemm_ref(xb, rows, k, ldx, 0, wb, bias, n, y0, ldy, 1, want, mag);
        for (int t = 0; t < 3; t++) {
            ln_threads_set(t + 1);
            assert_int_equal(ln__gemm_bf16(x, rows, k, ldx, w, bias, n, y[t], ldy, 1), 0);
        }
        ln_threads_set(0);
        double worst = 0.0;
        for (size_t r = 0; r < rows; r++)
            for (int j = 0; j < n; j++) {
                /* (a plain comparison: GCC 12 for aarch64 fails on this loop
                 * written with fmax) */
                const size_t i = r * (size_t)n + (size_t)j;
                const double e =
                    fabs((double)y[0][r * (size_t)ldy + (size_t)j] - want[i]) / (1e-6 * mag[i]);
                if (e > worst)
                    worst = e;
            }
        print_message("bf16 %llu x %d x %d: worst %.3f of the float32 bound against bf16 inputs\n",
                      (unsigned long long)rows, k, n, worst);
        assert_true(worst <= 1.0);
        assert_memory_equal(y[0], y[1], rows * (size_t)ldy * sizeof(float));
        assert_memory_equal(y[0], y[2], rows * (size_t)ldy * sizeof(float));
        free(mag);
        free(want);
        free(wb);
        free(xb);
    }
    for (int t = 0; t < 3; t++)
        free(y[t]);
    free(y0);
    free(bias);
    free(w);
    free(x);
}

/* ln__sgemm_own, the products' way around OpenBLAS where OpenBLAS was
 * told to use kernels this CPU lacks, and ln__sgemm (OpenBLAS here, or the
 * same own loops), against C = alpha op(A) op(B) + beta C in double: every
 * transposition, leading dimensions wider than the rows, beta 0 over a C
 * full of NaN (not read), and beta 0.5. */
static void test_sgemm_own(void **state)
{
    (void)state;
    const int m = 13, n = 37, k = 29, pad = 3;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int with_beta = 0; with_beta < 2; with_beta++)
                for (int own = 0; own < 2; own++) {
                    const int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
                    float *a = random_floats((size_t)(ta ? k : m) * lda, 1.0f);
                    float *b = random_floats((size_t)(tb ? n : k) * ldb, 1.0f);
                    float *c = random_floats((size_t)m * ldc, 1.0f);
                    float *c0 = malloc((size_t)m * ldc * sizeof(float));
                    assert_non_null(c0);
                    if (!with_beta)
                        for (size_t i = 0; i < (size_t)m * ldc; i++)
                            c[i] = NAN;
                    memcpy(c0, c, (size_t)m * ldc * sizeof(float));
                    const float alpha = 0.75f, beta = with_beta ? 0.5f : 0.0f;
                    const int cta = ta ? CblasTrans : CblasNoTrans;
                    const int ctb = tb ? CblasTrans : CblasNoTrans;
                    if (own)
                        ln__sgemm_own(cta, ctb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
                    else
                        ln__sgemm(cta, ctb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < ldc; j++) {
                            const float got = c[(size_t)i * ldc + j];
                            if (j >= n) { /* past the matrix: untouched */
                                assert_memory_equal(&got, &c0[(size_t)i * ldc + j], sizeof got);
                                continue;
                            }
                            double want = with_beta ? (double)beta * c0[(size_t)i * ldc + j] : 0;
                            for (int p = 0; p < k; p++)
                                want += (double)alpha *
                                        (ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p]) *
                                        (tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j]);
                            if (!(fabs(got - want) <= 1e-5 * (1.0 + fabs(want))))
                                fail_msg("%s ta %d tb %d beta %g: c[%d][%d] %.8g, want %.8g",
                                         own ? "own" : "ln__sgemm", ta, tb, beta, i, j, got,
                                         want);
                        }
                    free(a);
                    free(b);
                    free(c);
                    free(c0);
                }
}

/* The peak-rate loop computes what it says: 12 accumulators per lane, each
 * x <- x * 0.999999 + seed * 1e-7 from seed + i, summed; checked against
 * the same recurrence in double for this kernel set's width. The rate it
 * measures is printed, not checked (timings are not asserted). */
static void test_fma_peak_loop(void **state)
{
    (void)state;
    const long iters = 1000;
    const float seed = 3.0f;
    double want = 0.0;
    for (int i = 0; i < 12; i++) {
        double x = (double)(seed + (float)i);
        for (long k = 0; k < iters; k++)
            x = x * (double)0.999999f + (double)(seed * 1e-7f);
        want += x * ln__fma_lanes();
    }
    const double got = ln__fma_loop(iters, seed);
    assert_near(got, want, 1e-4 * want);
    const int lanes = ln__fma_lanes();
    assert_true(lanes == 4 || lanes == 8 || lanes == 16);
    printf("FMA peak (%s, %d lanes): %.1f GFLOP/s on one thread\n", ln_nn_kernel_set(), lanes,
           ln_nn_fma_peak(0.2, 1));
}

int main(void)
{
    ln_test_kernel_set_or_skip();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attention_self),
        cmocka_unit_test(test_attention_cross),
        cmocka_unit_test(test_attention_scratch_for_other_count),
        cmocka_unit_test(test_attention_spread_scores),
        cmocka_unit_test(test_attention_bf16),
        cmocka_unit_test(test_geglu_bias),
        cmocka_unit_test(test_gemm_geglu),
        cmocka_unit_test(test_gemm_bf16_geglu),
        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_vector_exp),
        cmocka_unit_test(test_vector_activations),
        cmocka_unit_test(test_silu_far_tails),
        cmocka_unit_test(test_fma_peak_loop),
        cmocka_unit_test(test_sgemm_own),
        cmocka_unit_test(test_gemm_shapes),
        cmocka_unit_test(test_gemm_xt_odd_shapes),
        cmocka_unit_test(test_gemm_threads_bitwise),
        cmocka_unit_test(test_gemm_split_k_bitwise),
        cmocka_unit_test(test_gemm_packed_bitwise),
        cmocka_unit_test(test_gemm_bf16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
