/*
 * The ONNX runtime: operators against hand-computed values and a plain
 * double-precision reference written here, models built in the test with
 * the generated protobuf-c code (so each attribute and data layout is
 * exercised on purpose), refusals that name what they refuse, every
 * truncation and many corruptions of a fixture, results identical for 1
 * to 4 threads, and the fixture networks of tests/data/onnx against what
 * PyTorch computed for them (within 1e-4 of each output's largest value).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_onnx.h"
#include "ln_onnx_gemm.h"
#include "ln_onnx_int.h"
#include "ln_threads.h"
#include "ln_weights.h"
#include "testutil.h"

#include "onnx_builder.h"

/* Runs a one-input one-output model. */
static void run1(struct ln_onnx *m, const float *x, int ndim, const int64_t *shape,
                 struct ln_onnx_tensor *out)
{
    struct ln_onnx_tensor in = {(float *)x, {0}, ndim};
    memcpy(in.shape, shape, (size_t)ndim * sizeof *shape);
    struct ln_error err = {0};
    if (ln_onnx_run(m, &in, 1, out, 1, &err) < 0)
        fail_msg("run: %s", err.message);
}

/* Every value within tol (relative above 1). */
static void assert_values(const struct ln_onnx_tensor *t, const float *want, size_t n, float tol)
{
    size_t have = 1;
    for (int d = 0; d < t->ndim; d++)
        have *= (size_t)t->shape[d];
    assert_int_equal(have, n);
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(t->data[i] - want[i]) <= tol * fmaxf(1.0f, fabsf(want[i]))))
            fail_msg("value %zu: %.7g, expected %.7g", i, (double)t->data[i], (double)want[i]);
}

static uint32_t g_seed = 12345;

static float frand(void)
{
    g_seed = g_seed * 1664525u + 1013904223u;
    return (float)(g_seed >> 8) * (1.0f / 16777216.0f) * 2.0f - 1.0f;
}

/* ---- operators ---------------------------------------------------------- */

static void test_conv_hand(void **state)
{
    /* All-ones 3x3 input and kernel with one pixel of zero padding: each
     * output counts the input pixels under the window, plus the bias. */
    struct mb b = {0};
    int64_t xs[4] = {1, 1, 3, 3}, ws[4] = {1, 1, 3, 3}, bs[1] = {1};
    float w[9], bias[1] = {0.5f}, x[9];
    for (int i = 0; i < 9; i++)
        w[i] = x[i] = 1.0f;
    mb_input(&b, "x", 4, xs);
    b.inits[b.n_inits++] = mb_f32("w", 4, ws, w, MB_RAW);
    b.inits[b.n_inits++] = mb_f32("b", 1, bs, bias, MB_FLOAT_DATA);
    Onnx__NodeProto *n = mb_node(&b, "Conv", "conv", "x,w,b", "y");
    mb_ints(n, "pads", 4, (int64_t[]){1, 1, 1, 1});
    mb_ints(n, "kernel_shape", 2, (int64_t[]){3, 3});
    mb_output(&b, "y");
    struct ln_onnx *m = mb_load(&b);
    struct ln_onnx_tensor y = {0};
    run1(m, x, 4, xs, &y);
    const float want[9] = {4.5f, 6.5f, 4.5f, 6.5f, 9.5f, 6.5f, 4.5f, 6.5f, 4.5f};
    assert_int_equal(y.ndim, 4);
    assert_values(&y, want, 9, 0.0f);
    ln_onnx_tensor_free(&y);
    ln_onnx_free(m);
    mb_free();
}

/* Plain convolution in double, the definition written out. */
static void conv_ref(const float *x, int64_t C, int64_t H, int64_t W, const float *w, int64_t M,
                     int64_t kh, int64_t kw, const float *bias, int64_t g, const int64_t *s,
                     const int64_t *d, const int64_t *p, int64_t Ho, int64_t Wo, float *y)
{
    int64_t cg = C / g, mg = M / g;
    for (int64_t o = 0; o < M; o++)
        for (int64_t oy = 0; oy < Ho; oy++)
            for (int64_t ox = 0; ox < Wo; ox++) {
                double acc = bias ? bias[o] : 0.0;
                int64_t gi = o / mg;
                for (int64_t c = 0; c < cg; c++)
                    for (int64_t i = 0; i < kh; i++)
                        for (int64_t j = 0; j < kw; j++) {
                            int64_t iy = oy * s[0] - p[0] + i * d[0];
                            int64_t ix = ox * s[1] - p[1] + j * d[1];
                            if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                                continue;
                            acc += (double)x[((gi * cg + c) * H + iy) * W + ix] *
                                   w[((o * cg + c) * kh + i) * kw + j];
                        }
                y[(o * Ho + oy) * Wo + ox] = (float)acc;
            }
}

static void check_conv(int64_t C, int64_t H, int64_t W, int64_t M, int64_t k, int64_t g,
                       const int64_t *s, const int64_t *d, const int64_t *p, const char *auto_pad,
                       int64_t Ho, int64_t Wo, const int64_t *ref_pads)
{
    struct mb b = {0};
    int64_t xs[4] = {1, C, H, W}, ws[4] = {M, C / g, k, k}, bs[1] = {M};
    size_t nx = (size_t)(C * H * W), nw = (size_t)(M * C / g * k * k);
    float *x = talloc(nx * 4), *w = talloc(nw * 4), *bias = talloc((size_t)M * 4);
    for (size_t i = 0; i < nx; i++)
        x[i] = frand();
    for (size_t i = 0; i < nw; i++)
        w[i] = frand();
    for (int64_t i = 0; i < M; i++)
        bias[i] = frand();
    mb_input(&b, "x", 4, xs);
    b.inits[b.n_inits++] = mb_f32("w", 4, ws, w, MB_RAW);
    b.inits[b.n_inits++] = mb_f32("b", 1, bs, bias, MB_RAW);
    Onnx__NodeProto *n = mb_node(&b, "Conv", "conv", "x,w,b", "y");
    mb_ints(n, "strides", 2, s);
    mb_ints(n, "dilations", 2, d);
    mb_int(n, "group", g);
    if (auto_pad)
        mb_str(n, "auto_pad", auto_pad);
    else
        mb_ints(n, "pads", 4, p);
    mb_output(&b, "y");
    struct ln_onnx *m = mb_load(&b);
    struct ln_onnx_tensor y = {0};
    run1(m, x, 4, xs, &y);
    assert_int_equal(y.shape[1], M);
    assert_int_equal(y.shape[2], Ho);
    assert_int_equal(y.shape[3], Wo);
    float *want = talloc((size_t)(M * Ho * Wo) * 4);
    conv_ref(x, C, H, W, w, M, k, k, bias, g, s, d, ref_pads, Ho, Wo, want);
    assert_values(&y, want, (size_t)(M * Ho * Wo), 1e-5f);
    ln_onnx_tensor_free(&y);
    ln_onnx_free(m);
    mb_free();
}

static void test_conv_reference(void **state)
{
    /* Dilation 2, two groups, asymmetric pads, stride 2:
     * Ho = (9 + 1 + 2 - 5) / 2 + 1 = 4, Wo = (11 + 0 + 1 - 5) / 2 + 1 = 4. */
    check_conv(4, 9, 11, 6, 3, 2, (int64_t[]){2, 2}, (int64_t[]){2, 2}, (int64_t[]){1, 0, 2, 1},
               NULL, 4, 4, (int64_t[]){1, 0});
    /* SAME_UPPER, stride 2: out = ceil(in / 2); the total pad
     * (o - 1) * 2 + 3 - in splits with the extra pixel at the end:
     * H 9 -> 5 (pads 1, 1), W 10 -> 5 (pads 0, 1). */
    check_conv(3, 9, 10, 5, 3, 1, (int64_t[]){2, 2}, (int64_t[]){1, 1}, (int64_t[]){0, 0, 0, 0},
               "SAME_UPPER", 5, 5, (int64_t[]){1, 0});
    /* SAME_LOWER puts it at the start: W pads 1, 0. */
    check_conv(3, 9, 10, 5, 3, 1, (int64_t[]){2, 2}, (int64_t[]){1, 1}, (int64_t[]){0, 0, 0, 0},
               "SAME_LOWER", 5, 5, (int64_t[]){1, 1});
    /* Depthwise 3x3 (groups = channels), and a 1x1 stride-1 conv (no
     * im2col), and a large one split into several column blocks. */
    check_conv(6, 7, 7, 6, 3, 6, (int64_t[]){1, 1}, (int64_t[]){1, 1}, (int64_t[]){1, 1, 1, 1},
               NULL, 7, 7, (int64_t[]){1, 1});
    check_conv(5, 6, 7, 3, 1, 1, (int64_t[]){1, 1}, (int64_t[]){1, 1}, (int64_t[]){0, 0, 0, 0},
               NULL, 6, 7, (int64_t[]){0, 0});
    check_conv(40, 70, 70, 4, 3, 1, (int64_t[]){1, 1}, (int64_t[]){4, 4}, (int64_t[]){4, 4, 4, 4},
               NULL, 70, 70, (int64_t[]){4, 4});
    /* Stride 2 with blocks of 448 columns starting inside output rows
     * (K = 576): Ho = (80 + 2 - 3) / 2 + 1 = 40, Wo = (73 + 2 - 3) / 2 + 1
     * = 37. */
    check_conv(64, 80, 73, 3, 3, 1, (int64_t[]){2, 2}, (int64_t[]){1, 1}, (int64_t[]){1, 1, 1, 1},
               NULL, 40, 37, (int64_t[]){1, 1});
    /* Unequal strides and dilations per axis: Ho = (11 + 3 + 1 - 5) / 3 + 1
     * = 4, Wo = (13 + 0 + 4 - 7) / 2 + 1 = 6. */
    check_conv(2, 11, 13, 2, 3, 1, (int64_t[]){3, 2}, (int64_t[]){2, 3}, (int64_t[]){3, 0, 1, 4},
               NULL, 4, 6, (int64_t[]){3, 0});
    /* A 5x5 kernel over a 2x3 input padded by 2: most taps in the padding. */
    check_conv(1, 2, 3, 2, 5, 1, (int64_t[]){1, 1}, (int64_t[]){1, 1}, (int64_t[]){2, 2, 2, 2},
               NULL, 2, 3, (int64_t[]){2, 2});
    /* A small image with many output channels (one column block): the
     * channels are cut into four pieces (70 = 17 + 18 + 17 + 18), and with
     * two groups of 66. */
    check_conv(8, 9, 7, 70, 3, 1, (int64_t[]){1, 1}, (int64_t[]){1, 1}, (int64_t[]){1, 1, 1, 1},
               NULL, 9, 7, (int64_t[]){1, 1});
    check_conv(4, 6, 6, 132, 3, 2, (int64_t[]){1, 1}, (int64_t[]){1, 1}, (int64_t[]){1, 1, 1, 1},
               NULL, 6, 6, (int64_t[]){1, 1});
}

/* The convolution product against a double-precision sum, for every row
 * count up to past two tiles, column counts around the tile width
 * (partial vectors, partial tiles), with and without bias and ReLU, and
 * strides wider than the rows: each output must be within float rounding
 * of the sum, and the padding of y around the product untouched. */
static void test_conv_gemm(void **state)
{
    const size_t nr = ln__ox_gemm_cols();
    assert_true(nr >= 4 && nr % 4 == 0);
    const size_t col_counts[] = {1, 3, nr - 1, nr, nr + 1, 2 * nr + 5, 3 * nr};
    const size_t ks[] = {1, 7, 64};
    for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
        for (size_t rows = 1; rows <= 19; rows++)
            for (size_t ci = 0; ci < sizeof col_counts / sizeof *col_counts; ci++) {
                size_t K = ks[ki], cols = col_counts[ci];
                size_t lda = K + 3, ldb = cols + 5, ldy = cols + 2;
                float *a = talloc(rows * lda * 4), *b = talloc(K * ldb * 4);
                float *bias = talloc(rows * 4), *y = talloc(rows * ldy * 4);
                for (size_t i = 0; i < rows * lda; i++)
                    a[i] = frand();
                for (size_t i = 0; i < K * ldb; i++)
                    b[i] = frand();
                for (size_t i = 0; i < rows; i++)
                    bias[i] = frand();
                for (int variant = 0; variant < 3; variant++) {
                    const float *bv = variant == 1 ? NULL : bias;
                    int relu = variant == 2;
                    for (size_t i = 0; i < rows * ldy; i++)
                        y[i] = 1234.5f;
                    ln__ox_gemm(rows, cols, K, a, lda, b, ldb, bv, relu, y, ldy);
                    for (size_t r = 0; r < rows; r++)
                        for (size_t p = 0; p < ldy; p++) {
                            float got = y[r * ldy + p];
                            if (p >= cols) {
                                if (got != 1234.5f)
                                    fail_msg("K %zu rows %zu cols %zu: padding (%zu, %zu) written",
                                             K, rows, cols, r, p);
                                continue;
                            }
                            double s = bv ? bv[r] : 0.0, mag = fabs(s);
                            for (size_t k = 0; k < K; k++) {
                                s += (double)a[r * lda + k] * b[k * ldb + p];
                                mag += fabs((double)a[r * lda + k] * b[k * ldb + p]);
                            }
                            if (relu && s < 0)
                                s = 0;
                            if (!(fabs(got - s) <= 1e-6 * (mag + 1.0)))
                                fail_msg("K %zu rows %zu cols %zu variant %d (%zu, %zu): %.9g, "
                                         "expected %.9g",
                                         K, rows, cols, variant, r, p, (double)got, s);
                        }
                }
            }
    mb_free();
}

/* One convolution (3x3, dilation 2 down, pads 2 and 1) and its ReLU
 * through each way a convolution can run: the implicit path over a
 * padded band of input rows, our product on im2col blocks, and OpenBLAS
 * on im2col blocks. The first two add the same products in the same
 * order, so they agree bit for bit; OpenBLAS sums in its own order. The
 * first, again at 2, 3 and 4 threads: the same bits. */
static void check_conv_paths(int64_t C, int64_t H, int64_t W, int64_t M)
{
    size_t nx = (size_t)(C * H * W), nw = (size_t)(M * C * 9);
    float *x = talloc(nx * 4), *w = talloc(nw * 4), *bias = talloc((size_t)M * 4);
    for (size_t i = 0; i < nx; i++)
        x[i] = frand();
    for (size_t i = 0; i < nw; i++)
        w[i] = frand();
    for (int64_t i = 0; i < M; i++)
        bias[i] = frand();
    struct ln_onnx_tensor y[3] = {{0}};
    const int paths[3] = {LN__OX_CONV_OURS, LN__OX_CONV_IM2COL, LN__OX_CONV_BLAS};
    for (int path = 0; path < 3; path++) {
        struct mb b = {0};
        int64_t xs[4] = {1, C, H, W}, ws[4] = {M, C, 3, 3}, bs[1] = {M};
        mb_input(&b, "x", 4, xs);
        b.inits[b.n_inits++] = mb_f32("w", 4, ws, w, MB_RAW);
        b.inits[b.n_inits++] = mb_f32("b", 1, bs, bias, MB_RAW);
        Onnx__NodeProto *n = mb_node(&b, "Conv", "conv", "x,w,b", "c");
        mb_ints(n, "pads", 4, (int64_t[]){2, 1, 2, 1});
        mb_ints(n, "dilations", 2, (int64_t[]){2, 1});
        mb_node(&b, "Relu", "relu", "c", "y");
        mb_output(&b, "y");
        struct ln_onnx *m = mb_load(&b);
        ln__ox_set_conv_path(paths[path]);
        run1(m, x, 4, xs, &y[path]);
        ln_onnx_free(m);
    }
    ln__ox_set_conv_path(LN__OX_CONV_OURS);
    size_t n = (size_t)(M * H * W);
    assert_int_equal(memcmp(y[0].data, y[1].data, n * sizeof(float)), 0);
    for (int t = 2; t <= 4; t++) {
        struct mb b = {0};
        int64_t xs[4] = {1, C, H, W}, ws[4] = {M, C, 3, 3}, bs[1] = {M};
        mb_input(&b, "x", 4, xs);
        b.inits[b.n_inits++] = mb_f32("w", 4, ws, w, MB_RAW);
        b.inits[b.n_inits++] = mb_f32("b", 1, bs, bias, MB_RAW);
        Onnx__NodeProto *nd = mb_node(&b, "Conv", "conv", "x,w,b", "c");
        mb_ints(nd, "pads", 4, (int64_t[]){2, 1, 2, 1});
        mb_ints(nd, "dilations", 2, (int64_t[]){2, 1});
        mb_node(&b, "Relu", "relu", "c", "y");
        mb_output(&b, "y");
        struct ln_onnx *m = mb_load(&b);
        struct ln_onnx_tensor yt = {0};
        ln_threads_set(t);
        run1(m, x, 4, xs, &yt);
        ln_threads_set(0);
        assert_int_equal(memcmp(yt.data, y[0].data, n * sizeof(float)), 0);
        ln_onnx_tensor_free(&yt);
        ln_onnx_free(m);
    }
    assert_values(&y[0], y[2].data, n, 1e-4f); /* sums of 216 and 2304 products */
    size_t zeros = 0;
    for (size_t i = 0; i < n; i++)
        zeros += y[0].data[i] == 0.0f;
    assert_true(zeros > n / 4 && zeros < 3 * n / 4); /* the ReLU was applied */
    for (int path = 0; path < 3; path++)
        ln_onnx_tensor_free(&y[path]);
    mb_free();
}

static void test_conv_paths(void **state)
{
    /* One band; then four bands of 12 rows (2^18 floats / (256 x 62) - 4)
     * with a partial last one, and 21 rows in tiles of 8 or 6; then one
     * band whose 70 output channels are cut in four pieces (17 + 18 + 17 +
     * 18) so that four threads have work. */
    check_conv_paths(24, 19, 53, 21);
    check_conv_paths(256, 40, 60, 21);
    check_conv_paths(256, 12, 60, 70);
}

/* Values written in place: a convolution with its ReLU fused and another
 * convolution written straight into their slices of a Concat, the graph
 * input copied in after them, that Concat itself a slice of an outer one,
 * and a convolution that is also a graph output (so kept apart). Both
 * outputs against the plain reference, twice over the same plan. */
static void test_concat_in_place(void **state)
{
    const int64_t H = 9, W = 10, hw = H * W;
    int64_t xs[4] = {1, 3, H, W};
    int64_t w1s[4] = {4, 3, 3, 3}, w2s[4] = {5, 3, 1, 1}, w3s[4] = {2, 3, 3, 3};
    float x[3 * 90], w1[4 * 27], w2[5 * 3], w3[2 * 27], b1[4], b3[2];
    for (int i = 0; i < 3 * 90; i++)
        x[i] = frand();
    for (int i = 0; i < 4 * 27; i++)
        w1[i] = frand();
    for (int i = 0; i < 15; i++)
        w2[i] = frand();
    for (int i = 0; i < 2 * 27; i++)
        w3[i] = frand();
    for (int i = 0; i < 4; i++)
        b1[i] = frand();
    b3[0] = frand();
    b3[1] = frand();
    struct mb b = {0};
    mb_input(&b, "x", 4, xs);
    b.inits[b.n_inits++] = mb_f32("w1", 4, w1s, w1, MB_RAW);
    b.inits[b.n_inits++] = mb_f32("b1", 1, (int64_t[]){4}, b1, MB_RAW);
    b.inits[b.n_inits++] = mb_f32("w2", 4, w2s, w2, MB_RAW);
    b.inits[b.n_inits++] = mb_f32("w3", 4, w3s, w3, MB_RAW);
    b.inits[b.n_inits++] = mb_f32("b3", 1, (int64_t[]){2}, b3, MB_RAW);
    mb_ints(mb_node(&b, "Conv", "c1", "x,w1,b1", "c1"), "pads", 4, (int64_t[]){1, 1, 1, 1});
    mb_node(&b, "Relu", "r1", "c1", "r1");
    mb_node(&b, "Conv", "c2", "x,w2", "c2");
    mb_int(mb_node(&b, "Concat", "cat1", "r1,c2,x", "cat1"), "axis", 1);
    mb_ints(mb_node(&b, "Conv", "c3", "x,w3,b3", "c3"), "pads", 4, (int64_t[]){1, 1, 1, 1});
    mb_int(mb_node(&b, "Concat", "cat2", "c3,cat1", "cat2"), "axis", -3);
    mb_output(&b, "cat2");
    mb_output(&b, "c3");
    struct ln_onnx *m = mb_load(&b);
    const int64_t s1[2] = {1, 1}, p1[4] = {1, 1, 1, 1}, p0[4] = {0, 0, 0, 0};
    float want[14 * 90];
    conv_ref(x, 3, H, W, w3, 2, 3, 3, b3, 1, s1, s1, p1, H, W, want);
    conv_ref(x, 3, H, W, w1, 4, 3, 3, b1, 1, s1, s1, p1, H, W, want + 2 * hw);
    for (int64_t i = 2 * hw; i < 6 * hw; i++)
        want[i] = want[i] > 0.0f ? want[i] : 0.0f;
    conv_ref(x, 3, H, W, w2, 5, 1, 1, NULL, 1, s1, s1, p0, H, W, want + 6 * hw);
    memcpy(want + 11 * hw, x, sizeof x);
    for (int run = 0; run < 2; run++) {
        struct ln_onnx_tensor in = {x, {1, 3, H, W}, 4}, out[2] = {{0}};
        struct ln_error err = {0};
        if (ln_onnx_run(m, &in, 1, out, 2, &err) < 0)
            fail_msg("run: %s", err.message);
        assert_int_equal(out[0].shape[1], 14);
        assert_values(&out[0], want, (size_t)(14 * hw), 1e-5f);
        assert_values(&out[1], want, (size_t)(2 * hw), 1e-5f);
        ln_onnx_tensor_free(&out[0]);
        ln_onnx_tensor_free(&out[1]);
    }
    /* Where the plan put them: c1, r1, c2 and cat1 inside cat2, c3 not. */
    const uint8_t *cat2 = NULL;
    for (size_t i = 0; i < m->n_values; i++)
        if (!strcmp(m->values[i].name, "cat2"))
            cat2 = m->values[i].t.data;
    assert_non_null(cat2);
    const char *inside[] = {"c1", "r1", "c2", "cat1"};
    const size_t at[] = {2 * hw * 4, 2 * hw * 4, 6 * hw * 4, 2 * hw * 4};
    for (size_t i = 0; i < m->n_values; i++) {
        for (int k = 0; k < 4; k++)
            if (!strcmp(m->values[i].name, inside[k]))
                assert_ptr_equal(m->values[i].t.data, cat2 + at[k]);
        if (!strcmp(m->values[i].name, "c3")) {
            const uint8_t *p = m->values[i].t.data;
            assert_true(p + 2 * hw * 4 <= cat2 || p >= cat2 + 14 * hw * 4);
        }
    }
    ln_onnx_free(m);
    mb_free();
}

static void test_conv_transpose(void **state)
{
    /* [[1,2],[3,4]] through a 2x2 kernel of ones: stride 1 sums the
     * overlapping copies, stride 2 tiles them. */
    float x[4] = {1, 2, 3, 4}, w[4] = {1, 1, 1, 1};
    int64_t xs[4] = {1, 1, 2, 2}, ws[4] = {1, 1, 2, 2};
    for (int stride = 1; stride <= 2; stride++) {
        struct mb b = {0};
        mb_input(&b, "x", 4, xs);
        b.inits[b.n_inits++] = mb_f32("w", 4, ws, w, MB_RAW);
        Onnx__NodeProto *n = mb_node(&b, "ConvTranspose", "up", "x,w", "y");
        mb_ints(n, "strides", 2, (int64_t[]){stride, stride});
        mb_output(&b, "y");
        struct ln_onnx *m = mb_load(&b);
        struct ln_onnx_tensor y = {0};
        run1(m, x, 4, xs, &y);
        if (stride == 1) {
            const float want[9] = {1, 3, 2, 4, 10, 6, 3, 7, 4};
            assert_values(&y, want, 9, 0.0f);
        } else {
            const float want[16] = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
            assert_values(&y, want, 16, 0.0f);
        }
        ln_onnx_tensor_free(&y);
        ln_onnx_free(m);
        mb_free();
    }
}

static struct ln_onnx *pool_model(const char *op, int64_t k, int64_t s, int ceil, int64_t pad,
                                  int cip)
{
    struct mb b = {0};
    int64_t xs[4] = {1, 1, -1, -1};
    mb_input(&b, "x", 4, xs);
    Onnx__NodeProto *n = mb_node(&b, op, "pool", "x", "y");
    mb_ints(n, "kernel_shape", 2, (int64_t[]){k, k});
    mb_ints(n, "strides", 2, (int64_t[]){s, s});
    mb_ints(n, "pads", 4, (int64_t[]){pad, pad, pad, pad});
    mb_int(n, "ceil_mode", ceil);
    if (cip >= 0)
        mb_int(n, "count_include_pad", cip);
    mb_output(&b, "y");
    struct ln_onnx *m = mb_load(&b);
    mb_free();
    return m;
}

static void test_pool_ceil(void **state)
{
    float x[25];
    for (int i = 0; i < 25; i++)
        x[i] = (float)i; /* 5x5, row-major 0..24 */
    int64_t xs[4] = {1, 1, 5, 5};
    struct ln_onnx_tensor y = {0};
    /* 2x2 stride 2 with ceil_mode: 3x3, the last row and column take the
     * one remaining input row/column. */
    struct ln_onnx *m = pool_model("MaxPool", 2, 2, 1, 0, -1);
    run1(m, x, 4, xs, &y);
    const float want_max[9] = {6, 8, 9, 16, 18, 19, 21, 23, 24};
    assert_int_equal(y.shape[2], 3);
    assert_values(&y, want_max, 9, 0.0f);
    ln_onnx_tensor_free(&y);
    ln_onnx_free(m);
    /* Without ceil_mode: 2x2. */
    m = pool_model("MaxPool", 2, 2, 0, 0, -1);
    run1(m, x, 4, xs, &y);
    const float want_floor[4] = {6, 8, 16, 18};
    assert_values(&y, want_floor, 4, 0.0f);
    ln_onnx_tensor_free(&y);
    ln_onnx_free(m);
    /* A NaN in a window wins, inside the input and at the ceil edge; an
     * infinity is a value like any other. */
    float xn[25];
    memcpy(xn, x, sizeof xn);
    xn[1] = NAN;
    xn[14] = NAN;
    xn[12] = INFINITY;
    xn[20] = -INFINITY;
    m = pool_model("MaxPool", 2, 2, 1, 0, -1);
    run1(m, xn, 4, xs, &y);
    for (int i = 0; i < 9; i++)
        if (i == 0 || i == 5)
            assert_true(isnan(y.data[i]));
        else if (i == 4)
            assert_true(isinf(y.data[i]) && y.data[i] > 0);
        else
            assert_true(y.data[i] == want_max[i]);
    ln_onnx_tensor_free(&y);
    ln_onnx_free(m);
    /* Average, ceil_mode: edge windows average what they cover. */
    m = pool_model("AveragePool", 2, 2, 1, 0, 0);
    run1(m, x, 4, xs, &y);
    const float want_avg[9] = {3, 5, 6.5f, 13, 15, 16.5f, 20.5f, 22.5f, 24};
    assert_values(&y, want_avg, 9, 1e-6f);
    ln_onnx_tensor_free(&y);
    ln_onnx_free(m);
    /* 3x3 stride 2 pad 1, ceil: (5 + 2 - 3) / 2 + 1 = 3; with
     * count_include_pad the corner window divides by 9, else by 4. */
    m = pool_model("AveragePool", 3, 2, 1, 1, 1);
    run1(m, x, 4, xs, &y);
    assert_int_equal(y.shape[2], 3);
    assert_near(y.data[0], (0 + 1 + 5 + 6) / 9.0, 1e-6);
    ln_onnx_tensor_free(&y);
    ln_onnx_free(m);
    m = pool_model("AveragePool", 3, 2, 1, 1, 0);
    run1(m, x, 4, xs, &y);
    assert_near(y.data[0], (0 + 1 + 5 + 6) / 4.0, 1e-6);
    assert_near(y.data[4], 12.0, 1e-6);
    ln_onnx_tensor_free(&y);
    ln_onnx_free(m);
    /* 2x2 input [[0,1],[2,3]], k 2, s 2, pad 1, ceil: (2 + 2 - 2) / 2 + 1
     * = 2 windows per axis, starting at -1 and 1: each holds one pixel. */
    m = pool_model("MaxPool", 2, 2, 1, 1, -1);
    run1(m, x, 4, (int64_t[]){1, 1, 2, 2}, &y);
    assert_int_equal(y.shape[2], 2);
    const float want_pad[4] = {0, 1, 2, 3};
    assert_values(&y, want_pad, 4, 0.0f);
    ln_onnx_tensor_free(&y);
    ln_onnx_free(m);
}

static void resize_case(const char *mode, const char *ctm, const char *nearest, const float *want16,
                        int use_scales)
{
    struct mb b = {0};
    b.opset = 13;
    int64_t xs[4] = {1, 1, 2, 2};
    float x[4] = {0, 1, 2, 3};
    mb_input(&b, "x", 4, xs);
    int64_t one[1] = {4};
    float scales[4] = {1, 1, 2, 2};
    int64_t sizes[4] = {1, 1, 4, 4};
    if (use_scales)
        b.inits[b.n_inits++] = mb_f32("s", 1, one, scales, MB_RAW);
    else
        b.inits[b.n_inits++] = mb_i64("s", 1, one, sizes);
    Onnx__NodeProto *n = mb_node(&b, "Resize", "rs", use_scales ? "x,,s" : "x,,,s", "y");
    mb_str(n, "mode", mode);
    mb_str(n, "coordinate_transformation_mode", ctm);
    if (nearest)
        mb_str(n, "nearest_mode", nearest);
    mb_output(&b, "y");
    struct ln_onnx *m = mb_load(&b);
    struct ln_onnx_tensor y = {0};
    run1(m, x, 4, xs, &y);
    assert_int_equal(y.shape[3], 4);
    assert_values(&y, want16, 16, 1e-6f);
    ln_onnx_tensor_free(&y);
    ln_onnx_free(m);
    mb_free();
}

static void test_resize_modes(void **state)
{
    /* Input [[0,1],[2,3]] to 4x4. Source x for output o (scale 2):
     * align_corners o/3; half_pixel (o+0.5)/2-0.5 clamped: 0, .25, .75, 1;
     * asymmetric o/2 clamped: 0, .5, 1, 1. A row adds 2 per source y. */
    const float t = 1.0f / 3.0f;
    float ac[16], hp[16], as[16];
    const float ac1[4] = {0, t, 2 * t, 1}, hp1[4] = {0, .25f, .75f, 1}, as1[4] = {0, .5f, 1, 1};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            ac[i * 4 + j] = ac1[j] + 2 * ac1[i];
            hp[i * 4 + j] = hp1[j] + 2 * hp1[i];
            as[i * 4 + j] = as1[j] + 2 * as1[i];
        }
    resize_case("linear", "align_corners", NULL, ac, 0);
    resize_case("linear", "half_pixel", NULL, hp, 1);
    resize_case("linear", "pytorch_half_pixel", NULL, hp, 0);
    resize_case("linear", "asymmetric", NULL, as, 1);
    /* Nearest, asymmetric + floor: each pixel doubled. half_pixel sources
     * -0.25, 0.25, 0.75, 1.25 rounded (prefer floor): 0, 0, 1, 1, the same;
     * asymmetric + ceil: 0, 0.5, 1, 1.5 -> 0, 1, 1, 1 (clamped). */
    const float dbl[16] = {0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3};
    resize_case("nearest", "asymmetric", "floor", dbl, 1);
    resize_case("nearest", "half_pixel", "round_prefer_floor", dbl, 0);
    const float ceil16[16] = {0, 1, 1, 1, 2, 3, 3, 3, 2, 3, 3, 3, 2, 3, 3, 3};
    resize_case("nearest", "asymmetric", "ceil", ceil16, 1);
    /* round_prefer_ceil on align_corners: o/3 -> 0, .33, .67, 1 rounds to
     * 0, 0, 1, 1. */
    resize_case("nearest", "align_corners", "round_prefer_ceil", dbl, 0);
}

static void test_broadcast(void **state)
{
    /* y = ((x + a) * c - s) / d, x [2,1,3], a [3], c [4,1], s scalar,
     * d [1]: y is [2,4,3]. Then Where(Equal(y, y0), y, -1) with y0 the
     * value expected at one position. */
    struct mb b = {0};
    int64_t xs[3] = {2, 1, 3};
    float a[3] = {1, 2, 3}, c[4] = {1, 2, 3, 4}, s[1] = {0.5f}, d[1] = {2};
    mb_input(&b, "x", 3, xs);
    b.inits[b.n_inits++] = mb_f32("a", 1, (int64_t[]){3}, a, MB_RAW);
    b.inits[b.n_inits++] = mb_f32("c", 2, (int64_t[]){4, 1}, c, MB_RAW);
    b.inits[b.n_inits++] = mb_f32("s", 0, NULL, s, MB_RAW);
    b.inits[b.n_inits++] = mb_f32("d", 1, (int64_t[]){1}, d, MB_RAW);
    b.inits[b.n_inits++] = mb_f32("keep", 0, NULL, (float[]){1.25f}, MB_RAW);
    b.inits[b.n_inits++] = mb_f32("minus", 0, NULL, (float[]){-1}, MB_RAW);
    mb_node(&b, "Add", "add", "x,a", "t1");
    mb_node(&b, "Mul", "mul", "t1,c", "t2");
    mb_node(&b, "Sub", "sub", "t2,s", "t3");
    mb_node(&b, "Div", "div", "t3,d", "y");
    mb_node(&b, "Equal", "eq", "y,keep", "m");
    mb_node(&b, "Where", "where", "m,y,minus", "z");
    mb_output(&b, "y");
    mb_output(&b, "z");
    struct ln_onnx *m = mb_load(&b);
    float x[6] = {0, 1, 2, 3, 4, 5};
    float want[24];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 3; k++)
                want[(i * 4 + j) * 3 + k] = ((x[i * 3 + k] + a[k]) * c[j] - 0.5f) / 2.0f;
    struct ln_onnx_tensor in = {x, {2, 1, 3}, 3}, out[2];
    struct ln_error err = {0};
    assert_int_equal(ln_onnx_run(m, &in, 1, out, 2, &err), 0);
    assert_int_equal(out[0].ndim, 3);
    assert_int_equal(out[0].shape[1], 4);
    assert_values(&out[0], want, 24, 0.0f);
    for (int i = 0; i < 24; i++)
        assert_true(out[1].data[i] == (want[i] == 1.25f ? 1.25f : -1.0f));
    assert_true(want[1] == 1.25f); /* ((1 + 2) * 1 - .5) / 2: Where keeps something */
    ln_onnx_tensor_free(&out[0]);
    ln_onnx_tensor_free(&out[1]);
    ln_onnx_free(m);
    mb_free();
}

static void test_shape_ops(void **state)
{
    /* Shape arithmetic as exporters write it: flatten x [n,2,3,4] to
     * [n, 24] with Reshape(Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])),
     * then Transpose, Slice every other column backwards, Cast to int and
     * back, Expand, and Range + ConstantOfShape + Squeeze. Dynamic batch:
     * two runs with different n plan twice. */
    struct mb b = {0};
    b.opset = 13;
    int64_t xs[4] = {-1, 2, 3, 4};
    mb_input(&b, "x", 4, xs);
    b.inits[b.n_inits++] = mb_i64("zero", 0, NULL, (int64_t[]){0});
    b.inits[b.n_inits++] = mb_i64("minus1", 1, (int64_t[]){1}, (int64_t[]){-1});
    b.inits[b.n_inits++] = mb_i64("ax0", 1, (int64_t[]){1}, (int64_t[]){0});
    b.inits[b.n_inits++] = mb_i64("st", 1, (int64_t[]){1}, (int64_t[]){-1});
    b.inits[b.n_inits++] = mb_i64("en", 1, (int64_t[]){1}, (int64_t[]){-100});
    b.inits[b.n_inits++] = mb_i64("stp", 1, (int64_t[]){1}, (int64_t[]){-2});
    b.inits[b.n_inits++] = mb_i64("r0", 0, NULL, (int64_t[]){1});
    b.inits[b.n_inits++] = mb_i64("r1", 0, NULL, (int64_t[]){7});
    b.inits[b.n_inits++] = mb_i64("r2", 0, NULL, (int64_t[]){3});
    mb_node(&b, "Shape", "shape", "x", "sh");
    mb_node(&b, "Gather", "gather", "sh,zero", "n");
    mb_node(&b, "Unsqueeze", "unsq", "n,ax0", "n1");
    Onnx__NodeProto *cat = mb_node(&b, "Concat", "cat", "n1,minus1", "target");
    mb_int(cat, "axis", 0);
    mb_node(&b, "Reshape", "reshape", "x,target", "flat");
    Onnx__NodeProto *tr = mb_node(&b, "Transpose", "tr", "flat", "flat_t");
    mb_ints(tr, "perm", 2, (int64_t[]){1, 0});
    mb_node(&b, "Slice", "slice", "flat_t,st,en,ax0,stp", "sl");
    Onnx__NodeProto *c1 = mb_node(&b, "Cast", "to_int", "sl", "sl_i");
    mb_int(c1, "to", 7);
    Onnx__NodeProto *c2 = mb_node(&b, "Cast", "to_float", "sl_i", "sl_f");
    mb_int(c2, "to", 1);
    mb_node(&b, "Range", "range", "r0,r1,r2", "rg"); /* 1, 4 */
    Onnx__NodeProto *cos = mb_node(&b, "ConstantOfShape", "cos", "rg", "ones_i");
    Onnx__AttributeProto *v = mb_attr(cos, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    v->t = mb_f32("v", 1, (int64_t[]){1}, (float[]){1.5f}, MB_RAW);
    mb_node(&b, "Squeeze", "sq", "ones_i,ax0", "ones");
    mb_node(&b, "Identity", "id", "ones", "ones_id");
    mb_output(&b, "sl_f");
    mb_output(&b, "ones_id");
    struct ln_onnx *m = mb_load(&b);
    for (int n = 1; n <= 2; n++) {
        float x[48];
        for (int i = 0; i < 48; i++)
            x[i] = (float)i - 3.25f;
        struct ln_onnx_tensor in = {x, {n, 2, 3, 4}, 4}, out[2];
        struct ln_error err = {0};
        if (ln_onnx_run(m, &in, 1, out, 2, &err) < 0)
            fail_msg("%s", err.message);
        /* flat_t is [24, n]; sl takes rows 23, 21, ..., 1: [12, n]. */
        assert_int_equal(out[0].ndim, 2);
        assert_int_equal(out[0].shape[0], 12);
        assert_int_equal(out[0].shape[1], n);
        for (int r = 0; r < 12; r++)
            for (int j = 0; j < n; j++)
                assert_true(out[0].data[r * n + j] == truncf(x[j * 24 + 23 - 2 * r]));
        assert_int_equal(out[1].ndim, 1);
        /* Range(1, 7, 3) is [1, 4], a 1x4 tensor of 1.5 squeezed to [4]. */
        assert_int_equal(out[1].shape[0], 4);
        for (int i = 0; i < 4; i++)
            assert_true(out[1].data[i] == 1.5f);
        ln_onnx_tensor_free(&out[0]);
        ln_onnx_tensor_free(&out[1]);
    }
    ln_onnx_free(m);
    mb_free();
}

static void test_expand_concat(void **state)
{
    /* Expand [3,1] to [2,3,4]; Concat of it with itself on axis -1. */
    struct mb b = {0};
    mb_input(&b, "x", 2, (int64_t[]){3, 1});
    b.inits[b.n_inits++] = mb_i64("shape", 1, (int64_t[]){3}, (int64_t[]){2, 1, 4});
    mb_node(&b, "Expand", "ex", "x,shape", "e");
    Onnx__NodeProto *c = mb_node(&b, "Concat", "cat", "e,e", "y");
    mb_int(c, "axis", -1);
    mb_output(&b, "y");
    struct ln_onnx *m = mb_load(&b);
    struct ln_onnx_tensor y = {0};
    run1(m, (float[]){1, 2, 3}, 2, (int64_t[]){3, 1}, &y);
    assert_int_equal(y.ndim, 3);
    assert_int_equal(y.shape[0], 2);
    assert_int_equal(y.shape[1], 3);
    assert_int_equal(y.shape[2], 8);
    for (int i = 0; i < 48; i++)
        assert_true(y.data[i] == (float)(i / 8 % 3 + 1));
    ln_onnx_tensor_free(&y);
    ln_onnx_free(m);
    mb_free();
}

/* A 3x3 conv + Relu + 1x1 conv + Sigmoid, weights in the given layout
 * (exact in float16). */
static struct mb small_net(int layout)
{
    struct mb b = {0};
    int64_t xs[4] = {1, 2, 6, 5}, w1s[4] = {3, 2, 3, 3}, b1s[1] = {3}, w2s[4] = {1, 3, 1, 1};
    float *w1 = talloc(54 * 4), *b1 = talloc(12), *w2 = talloc(12);
    for (int i = 0; i < 54; i++)
        w1[i] = (float)((i * 7) % 11 - 5) * 0.125f;
    for (int i = 0; i < 3; i++) {
        b1[i] = 0.25f * (float)(i - 1);
        w2[i] = 0.5f + (float)i * 0.75f;
    }
    mb_input(&b, "x", 4, xs);
    b.inits[b.n_inits++] = mb_f32("w1", 4, w1s, w1, layout);
    b.inits[b.n_inits++] = mb_f32("b1", 1, b1s, b1, layout);
    b.inits[b.n_inits++] = mb_f32("w2", 4, w2s, w2, layout);
    Onnx__NodeProto *c = mb_node(&b, "Conv", "conv1", "x,w1,b1", "h");
    mb_ints(c, "pads", 4, (int64_t[]){1, 1, 1, 1});
    mb_node(&b, "Relu", "relu", "h", "r");
    mb_node(&b, "Conv", "conv2", "r,w2", "l");
    mb_node(&b, "Sigmoid", "sig", "l", "y");
    mb_output(&b, "y");
    return b;
}

static void test_weight_layouts(void **state)
{
    /* float_data, raw_data, float16 raw and float16 in int32_data give the
     * same network; the reference is conv_ref in double. */
    float x[60];
    for (int i = 0; i < 60; i++)
        x[i] = (float)(i % 9) * 0.25f - 1.0f;
    int64_t xs[4] = {1, 2, 6, 5};
    struct ln_onnx_tensor y[4];
    for (int layout = 0; layout < 4; layout++) {
        struct mb b = small_net(layout);
        struct ln_onnx *m = mb_load(&b);
        memset(&y[layout], 0, sizeof y[layout]);
        run1(m, x, 4, xs, &y[layout]);
        ln_onnx_free(m);
        if (layout > 0) {
            assert_int_equal(memcmp(y[layout].data, y[0].data, 30 * 4), 0);
            ln_onnx_tensor_free(&y[layout]);
        }
        if (layout < 3)
            mb_free();
    }
    /* The reference, from the float32 values of the last build. */
    float *w1 = talloc(54 * 4), b1[3], w2[3], h[90], want[30];
    for (int i = 0; i < 54; i++)
        w1[i] = (float)((i * 7) % 11 - 5) * 0.125f;
    for (int i = 0; i < 3; i++) {
        b1[i] = 0.25f * (float)(i - 1);
        w2[i] = 0.5f + (float)i * 0.75f;
    }
    conv_ref(x, 2, 6, 5, w1, 3, 3, 3, b1, 1, (int64_t[]){1, 1}, (int64_t[]){1, 1},
             (int64_t[]){1, 1}, 6, 5, h);
    for (int i = 0; i < 90; i++)
        h[i] = h[i] > 0 ? h[i] : 0;
    conv_ref(h, 3, 6, 5, w2, 1, 1, 1, NULL, 1, (int64_t[]){1, 1}, (int64_t[]){1, 1},
             (int64_t[]){0, 0}, 6, 5, want);
    for (int i = 0; i < 30; i++)
        want[i] = (float)(1.0 / (1.0 + exp(-(double)want[i])));
    assert_values(&y[0], want, 30, 1e-6f);
    ln_onnx_tensor_free(&y[0]);
    mb_free();
}

/* Fills n values with frand() into a tensor proto and a plain array. */
static float *rand_init(struct mb *b, const char *name, int ndim, const int64_t *shape)
{
    size_t n = numel(ndim, shape);
    float *v = talloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = frand();
    b->inits[b->n_inits++] = mb_f32(name, ndim, shape, v, MB_RAW);
    return v;
}

static void test_matmul_gemm(void **state)
{
    /* MatMul [2,3,4] x [4,5] and Gemm(A [3,4], B^T [5,4], C [5]) with
     * alpha 0.5, beta 2, against the sums written out in double. */
    struct mb b = {0};
    mb_input(&b, "x", 3, (int64_t[]){2, 3, 4});
    float *w = rand_init(&b, "w", 2, (int64_t[]){4, 5});
    float *bt = rand_init(&b, "bt", 2, (int64_t[]){5, 4});
    float *c = rand_init(&b, "c", 1, (int64_t[]){5});
    b.inits[b.n_inits++] = mb_i64("first", 1, (int64_t[]){1}, (int64_t[]){0});
    mb_node(&b, "MatMul", "mm", "x,w", "y");
    mb_node(&b, "Gather", "row", "x,first", "x0"); /* [1,3,4] */
    mb_node(&b, "Squeeze", "sq", "x0,first", "a"); /* [3,4] */
    Onnx__NodeProto *g = mb_node(&b, "Gemm", "gemm", "a,bt,c", "z");
    mb_int(g, "transB", 1);
    mb_attr(g, "alpha", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT)->f = 0.5f;
    g->attribute[1]->has_f = 1;
    mb_attr(g, "beta", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT)->f = 2.0f;
    g->attribute[2]->has_f = 1;
    mb_output(&b, "y");
    mb_output(&b, "z");
    struct ln_onnx *m = mb_load(&b);
    float x[24];
    for (int i = 0; i < 24; i++)
        x[i] = frand();
    struct ln_onnx_tensor in = {x, {2, 3, 4}, 3}, out[2];
    struct ln_error err = {0};
    if (ln_onnx_run(m, &in, 1, out, 2, &err) < 0)
        fail_msg("%s", err.message);
    float want[30], wz[15];
    for (int r = 0; r < 6; r++)
        for (int j = 0; j < 5; j++) {
            double acc = 0;
            for (int k = 0; k < 4; k++)
                acc += (double)x[r * 4 + k] * w[k * 5 + j];
            want[r * 5 + j] = (float)acc;
        }
    for (int r = 0; r < 3; r++)
        for (int j = 0; j < 5; j++) {
            double acc = 0;
            for (int k = 0; k < 4; k++)
                acc += (double)x[r * 4 + k] * bt[j * 4 + k];
            wz[r * 5 + j] = (float)(0.5 * acc + 2.0 * c[j]);
        }
    assert_int_equal(out[0].shape[2], 5);
    assert_values(&out[0], want, 30, 1e-6f);
    assert_values(&out[1], wz, 15, 1e-6f);
    ln_onnx_tensor_free(&out[0]);
    ln_onnx_tensor_free(&out[1]);
    ln_onnx_free(m);
    mb_free();
}

static void test_normalisations(void **state)
{
    /* Softmax on the last axis, LayerNormalization over the last axis with
     * scale and bias, ReduceMean over axis 1, exact Gelu, on x [2,3,4]. */
    struct mb b = {0};
    b.opset = 20;
    mb_input(&b, "x", 3, (int64_t[]){2, 3, 4});
    float *g = rand_init(&b, "g", 1, (int64_t[]){4});
    float *be = rand_init(&b, "be", 1, (int64_t[]){4});
    mb_node(&b, "Softmax", "sm", "x", "s");
    mb_node(&b, "LayerNormalization", "ln", "x,g,be", "l");
    Onnx__NodeProto *r = mb_node(&b, "ReduceMean", "mean", "x", "r");
    mb_ints(r, "axes", 1, (int64_t[]){1});
    mb_int(r, "keepdims", 0);
    mb_node(&b, "Gelu", "gelu", "x", "e");
    mb_output(&b, "s");
    mb_output(&b, "l");
    mb_output(&b, "r");
    mb_output(&b, "e");
    struct ln_onnx *m = mb_load(&b);
    float x[24];
    for (int i = 0; i < 24; i++)
        x[i] = 3.0f * frand();
    struct ln_onnx_tensor in = {x, {2, 3, 4}, 3}, out[4];
    struct ln_error err = {0};
    if (ln_onnx_run(m, &in, 1, out, 4, &err) < 0)
        fail_msg("%s", err.message);
    float ws[24], wl[24], wr[8], we[24];
    for (int row = 0; row < 6; row++) {
        const float *v = x + row * 4;
        double sum = 0, mean = 0, var = 0;
        for (int k = 0; k < 4; k++) {
            sum += exp(v[k]);
            mean += v[k] / 4.0;
        }
        for (int k = 0; k < 4; k++)
            var += (v[k] - mean) * (v[k] - mean) / 4.0;
        for (int k = 0; k < 4; k++) {
            ws[row * 4 + k] = (float)(exp(v[k]) / sum);
            wl[row * 4 + k] = (float)((v[k] - mean) / sqrt(var + 1e-5) * g[k] + be[k]);
        }
    }
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 4; k++)
            wr[i * 4 + k] = (x[i * 12 + k] + x[i * 12 + 4 + k] + x[i * 12 + 8 + k]) / 3.0f;
    for (int i = 0; i < 24; i++)
        we[i] = (float)(0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0))));
    assert_values(&out[0], ws, 24, 1e-6f);
    assert_values(&out[1], wl, 24, 1e-5f);
    assert_int_equal(out[2].ndim, 2);
    assert_values(&out[2], wr, 8, 1e-6f);
    assert_values(&out[3], we, 24, 1e-6f);
    for (int k = 0; k < 4; k++)
        ln_onnx_tensor_free(&out[k]);
    ln_onnx_free(m);
    mb_free();
}

static void test_pad_split_tile(void **state)
{
    /* x [1,2,3]: Pad constant 0.5 (1 before axis 2, 1 after axis 1),
     * reflect Pad of 1 on each side of axis 2, Split axis 2 into 1 and 2,
     * Tile [1,1,2]. */
    struct mb b = {0};
    b.opset = 13;
    mb_input(&b, "x", 3, (int64_t[]){1, 2, 3});
    b.inits[b.n_inits++] = mb_i64("pads", 1, (int64_t[]){6}, (int64_t[]){0, 0, 1, 0, 1, 0});
    b.inits[b.n_inits++] = mb_i64("rpads", 1, (int64_t[]){6}, (int64_t[]){0, 0, 1, 0, 0, 1});
    b.inits[b.n_inits++] = mb_f32("half", 0, NULL, (float[]){0.5f}, MB_RAW);
    b.inits[b.n_inits++] = mb_i64("parts", 1, (int64_t[]){2}, (int64_t[]){1, 2});
    b.inits[b.n_inits++] = mb_i64("reps", 1, (int64_t[]){3}, (int64_t[]){1, 1, 2});
    mb_node(&b, "Pad", "pad", "x,pads,half", "p");
    Onnx__NodeProto *rp = mb_node(&b, "Pad", "rpad", "x,rpads", "q");
    mb_str(rp, "mode", "reflect");
    Onnx__NodeProto *sp = mb_node(&b, "Split", "split", "x,parts", "s1,s2");
    mb_int(sp, "axis", 2);
    mb_node(&b, "Tile", "tile", "x,reps", "t");
    mb_output(&b, "p");
    mb_output(&b, "q");
    mb_output(&b, "s2");
    mb_output(&b, "t");
    struct ln_onnx *m = mb_load(&b);
    float x[6] = {1, 2, 3, 4, 5, 6};
    struct ln_onnx_tensor in = {x, {1, 2, 3}, 3}, out[4];
    struct ln_error err = {0};
    if (ln_onnx_run(m, &in, 1, out, 4, &err) < 0)
        fail_msg("%s", err.message);
    const float wp[12] = {.5f, 1, 2, 3, .5f, 4, 5, 6, .5f, .5f, .5f, .5f};
    const float wq[10] = {2, 1, 2, 3, 2, 5, 4, 5, 6, 5};
    const float ws[4] = {2, 3, 5, 6};
    const float wt[12] = {1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6};
    assert_int_equal(out[0].shape[1], 3);
    assert_int_equal(out[0].shape[2], 4);
    assert_values(&out[0], wp, 12, 0.0f);
    assert_values(&out[1], wq, 10, 0.0f);
    assert_int_equal(out[2].shape[2], 2);
    assert_values(&out[2], ws, 4, 0.0f);
    assert_values(&out[3], wt, 12, 0.0f);
    for (int k = 0; k < 4; k++)
        ln_onnx_tensor_free(&out[k]);
    ln_onnx_free(m);
    mb_free();
}

static void test_empty_channels(void **state)
{
    /* A Slice that keeps no channel feeds a convolution: every output is
     * its bias (the sum over no input is 0). */
    struct mb b = {0};
    b.opset = 13;
    mb_input(&b, "x", 4, (int64_t[]){1, 2, 3, 3});
    b.inits[b.n_inits++] = mb_i64("zero", 1, (int64_t[]){1}, (int64_t[]){0});
    b.inits[b.n_inits++] = mb_i64("one", 1, (int64_t[]){1}, (int64_t[]){1});
    b.inits[b.n_inits++] = mb_f32("w", 4, (int64_t[]){2, 0, 1, 1}, (float[]){0}, MB_RAW);
    b.inits[b.n_inits++] = mb_f32("b", 1, (int64_t[]){2}, (float[]){0.25f, -2.0f}, MB_RAW);
    mb_node(&b, "Slice", "none", "x,zero,zero,one", "e");
    mb_node(&b, "Conv", "conv", "e,w,b", "y");
    mb_output(&b, "y");
    struct ln_onnx *m = mb_load(&b);
    float x[18] = {0};
    struct ln_onnx_tensor y = {0};
    run1(m, x, 4, (int64_t[]){1, 2, 3, 3}, &y);
    assert_int_equal(y.shape[1], 2);
    for (int i = 0; i < 18; i++)
        assert_true(y.data[i] == (i < 9 ? 0.25f : -2.0f));
    ln_onnx_tensor_free(&y);
    ln_onnx_free(m);
    mb_free();
}

static void test_scatter_instancenorm(void **state)
{
    /* ScatterND writes rows 3 and 1 of x [4,3] (index -3 is row 1);
     * InstanceNormalization normalises each (image, channel) plane of
     * x viewed as [1,2,6]. */
    struct mb b = {0};
    mb_input(&b, "x", 2, (int64_t[]){4, 3});
    b.inits[b.n_inits++] = mb_i64("idx", 2, (int64_t[]){2, 1}, (int64_t[]){3, -3});
    b.inits[b.n_inits++] =
        mb_f32("upd", 2, (int64_t[]){2, 3}, (float[]){7, 8, 9, -1, -2, -3}, MB_RAW);
    b.inits[b.n_inits++] = mb_i64("shape3", 1, (int64_t[]){3}, (int64_t[]){1, 2, 6});
    b.inits[b.n_inits++] = mb_f32("g", 1, (int64_t[]){2}, (float[]){2, 0.5f}, MB_RAW);
    b.inits[b.n_inits++] = mb_f32("be", 1, (int64_t[]){2}, (float[]){1, -1}, MB_RAW);
    mb_node(&b, "ScatterND", "scatter", "x,idx,upd", "s");
    mb_node(&b, "Reshape", "as3", "x,shape3", "x3");
    mb_node(&b, "InstanceNormalization", "inorm", "x3,g,be", "n");
    mb_output(&b, "s");
    mb_output(&b, "n");
    struct ln_onnx *m = mb_load(&b);
    float x[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    struct ln_onnx_tensor in = {x, {4, 3}, 2}, out[2];
    struct ln_error err = {0};
    if (ln_onnx_run(m, &in, 1, out, 2, &err) < 0)
        fail_msg("%s", err.message);
    const float ws[12] = {0, 1, 2, -1, -2, -3, 6, 7, 8, 7, 8, 9};
    assert_values(&out[0], ws, 12, 0.0f);
    /* Each plane is 6 consecutive integers: mean at the middle, variance
     * 35/12. */
    float wn[12];
    for (int i = 0; i < 12; i++) {
        int c = i / 6;
        double z = ((double)(i % 6) - 2.5) / sqrt(35.0 / 12.0 + 1e-5);
        wn[i] = (float)(z * (c ? 0.5 : 2.0) + (c ? -1.0 : 1.0));
    }
    assert_values(&out[1], wn, 12, 1e-6f);
    ln_onnx_tensor_free(&out[0]);
    ln_onnx_tensor_free(&out[1]);
    ln_onnx_free(m);
    mb_free();
}

static void test_older_opsets(void **state)
{
    /* The forms of earlier opsets: Upsample with a scales attribute (7)
     * and input (9), Resize with two inputs (10), Slice and Unsqueeze with
     * attributes, Softmax over the flattened trailing axes (before 13). */
    float x[4] = {0, 1, 2, 3};
    int64_t xs[4] = {1, 1, 2, 2};
    const float dbl[16] = {0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3};
    for (int opset = 7; opset <= 10; opset++) {
        if (opset == 8)
            continue;
        struct mb b = {0};
        b.opset = opset;
        mb_input(&b, "x", 4, xs);
        Onnx__NodeProto *n;
        if (opset == 7) {
            n = mb_node(&b, "Upsample", "up", "x", "y");
            Onnx__AttributeProto *a =
                mb_attr(n, "scales", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
            a->n_floats = 4;
            a->floats = talloc(4 * sizeof *a->floats);
            a->floats[0] = a->floats[1] = 1.0f;
            a->floats[2] = a->floats[3] = 2.0f;
        } else {
            b.inits[b.n_inits++] =
                mb_f32("s", 1, (int64_t[]){4}, (float[]){1, 1, 2, 2}, MB_FLOAT_DATA);
            n = mb_node(&b, opset == 9 ? "Upsample" : "Resize", "up", "x,s", "y");
        }
        mb_str(n, "mode", "nearest");
        mb_output(&b, "y");
        struct ln_onnx *m = mb_load(&b);
        struct ln_onnx_tensor y = {0};
        run1(m, x, 4, xs, &y);
        assert_values(&y, dbl, 16, 0.0f);
        ln_onnx_tensor_free(&y);
        ln_onnx_free(m);
        mb_free();
    }
    /* Opset 9: Slice by attributes, Unsqueeze by attribute, Softmax with
     * axis 1 on [1,2,2] normalising over all four values. */
    struct mb b = {0};
    b.opset = 9;
    mb_input(&b, "x", 3, (int64_t[]){1, 2, 2});
    Onnx__NodeProto *sl = mb_node(&b, "Slice", "sl", "x", "s");
    mb_ints(sl, "starts", 1, (int64_t[]){1});
    mb_ints(sl, "ends", 1, (int64_t[]){1000});
    mb_ints(sl, "axes", 1, (int64_t[]){2});
    Onnx__NodeProto *un = mb_node(&b, "Unsqueeze", "un", "s", "u");
    mb_ints(un, "axes", 2, (int64_t[]){0, -1});
    Onnx__NodeProto *sm = mb_node(&b, "Softmax", "sm", "x", "p");
    mb_int(sm, "axis", 1);
    mb_output(&b, "u");
    mb_output(&b, "p");
    struct ln_onnx *m = mb_load(&b);
    struct ln_onnx_tensor in = {x, {1, 2, 2}, 3}, out[2];
    struct ln_error err = {0};
    if (ln_onnx_run(m, &in, 1, out, 2, &err) < 0)
        fail_msg("%s", err.message);
    assert_int_equal(out[0].ndim, 5);
    assert_int_equal(out[0].shape[0], 1);
    assert_int_equal(out[0].shape[3], 1);
    assert_int_equal(out[0].shape[4], 1);
    assert_values(&out[0], (float[]){1, 3}, 2, 0.0f);
    double sum = 1 + exp(1) + exp(2) + exp(3);
    const float wp[4] = {(float)(1 / sum), (float)(exp(1) / sum), (float)(exp(2) / sum),
                         (float)(exp(3) / sum)};
    assert_values(&out[1], wp, 4, 1e-6f);
    ln_onnx_tensor_free(&out[0]);
    ln_onnx_tensor_free(&out[1]);
    ln_onnx_free(m);
    mb_free();
}

static void test_gathers_sum_clip(void **state)
{
    /* What the deformable-convolution exports use: GatherND with one batch
     * dimension, GatherElements, Sum with broadcasting, Clip on int64.
     * x is [2,3] = {{0,1,2},{3,4,5}}. */
    struct mb b = {0};
    b.opset = 13;
    mb_input(&b, "x", 2, (int64_t[]){2, 3});
    b.inits[b.n_inits++] = mb_i64("nd", 3, (int64_t[]){2, 2, 1}, (int64_t[]){2, 0, 1, -1});
    b.inits[b.n_inits++] = mb_i64("el", 2, (int64_t[]){2, 2}, (int64_t[]){2, 2, 0, 1});
    b.inits[b.n_inits++] = mb_f32("row", 1, (int64_t[]){3}, (float[]){10, 20, 30}, MB_RAW);
    b.inits[b.n_inits++] = mb_f32("one", 0, NULL, (float[]){1}, MB_RAW);
    b.inits[b.n_inits++] = mb_i64("big", 1, (int64_t[]){5}, (int64_t[]){-7, 0, 3, 9, INT64_MAX});
    b.inits[b.n_inits++] = mb_i64("lo", 0, NULL, (int64_t[]){0});
    b.inits[b.n_inits++] = mb_i64("hi", 0, NULL, (int64_t[]){4});
    Onnx__NodeProto *g = mb_node(&b, "GatherND", "gnd", "x,nd", "a");
    mb_int(g, "batch_dims", 1);
    Onnx__NodeProto *e = mb_node(&b, "GatherElements", "ge", "x,el", "c");
    mb_int(e, "axis", 1);
    mb_node(&b, "Sum", "sum", "x,row,one", "s");
    mb_node(&b, "Clip", "clip", "big,lo,hi", "k");
    Onnx__NodeProto *cast = mb_node(&b, "Cast", "kf", "k", "kf");
    mb_int(cast, "to", 1);
    mb_output(&b, "a");
    mb_output(&b, "c");
    mb_output(&b, "s");
    mb_output(&b, "kf");
    struct ln_onnx *m = mb_load(&b);
    float x[6] = {0, 1, 2, 3, 4, 5};
    struct ln_onnx_tensor in = {x, {2, 3}, 2}, out[4];
    struct ln_error err = {0};
    if (ln_onnx_run(m, &in, 1, out, 4, &err) < 0)
        fail_msg("%s", err.message);
    /* Batch 0 takes x[0][2], x[0][0]; batch 1 x[1][1], x[1][-1]. */
    assert_int_equal(out[0].ndim, 2);
    assert_values(&out[0], (float[]){2, 0, 4, 5}, 4, 0.0f);
    /* c[i][j] = x[i][el[i][j]]. */
    assert_values(&out[1], (float[]){2, 2, 3, 4}, 4, 0.0f);
    assert_values(&out[2], (float[]){11, 22, 33, 14, 25, 36}, 6, 0.0f);
    assert_values(&out[3], (float[]){0, 0, 3, 4, 4}, 5, 0.0f);
    for (int k = 0; k < 4; k++)
        ln_onnx_tensor_free(&out[k]);
    ln_onnx_free(m);
    mb_free();
}

/* And / Or take booleans (ONNX's type constraint): on floats the run is
 * refused with the node's name, and no output. */
static void test_logic_wants_booleans(void **state)
{
    float x[6] = {0, 1, 2, 3, 4, 5};
    for (int k = 0; k < 2; k++) {
        struct mb f = {0};
        f.opset = 13;
        mb_input(&f, "x", 2, (int64_t[]){2, 3});
        mb_node(&f, k ? "Or" : "And", "float-logic", "x,x", "n");
        mb_output(&f, "n");
        struct ln_onnx *m = mb_load(&f);
        struct ln_onnx_tensor in = {x, {2, 3}, 2}, y = {0};
        struct ln_error err = {0};
        assert_true(ln_onnx_run(m, &in, 1, &y, 1, &err) < 0);
        if (!strstr(err.message, "float-logic") || !strstr(err.message, "boolean"))
            fail_msg("message '%s'", err.message);
        assert_null(y.data);
        ln_onnx_free(m);
        mb_free();
    }
}

static void test_refusals(void **state)
{
    struct mb b = small_net(MB_RAW);
    b.nodes[1]->op_type = tstr("FooBar");
    mb_refused(&b, "FooBar", "relu");
    b.nodes[1]->op_type = tstr("Relu");
    b.nodes[1]->domain = tstr("com.microsoft");
    mb_refused(&b, "com.microsoft.Relu", "relu");
    b.nodes[1]->domain = NULL;
    mb_int(b.nodes[0], "wibble", 3);
    mb_refused(&b, "wibble", "conv1");
    b.nodes[0]->n_attribute--;
    mb_str(b.nodes[0], "auto_pad", "SAME_SIDEWAYS");
    mb_refused(&b, "SAME_SIDEWAYS", "conv1");
    b.nodes[0]->n_attribute--;
    /* External data. */
    Onnx__TensorProto *w = b.inits[0];
    Onnx__StringStringEntryProto *loc = talloc(sizeof *loc);
    onnx__string_string_entry_proto__init(loc);
    loc->key = tstr("location");
    loc->value = tstr("weights.bin");
    w->external_data = talloc(sizeof *w->external_data);
    w->external_data[0] = loc;
    w->n_external_data = 1;
    w->has_raw_data = 0;
    w->has_data_location = 1;
    w->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    mb_refused(&b, "external", "w1");
    w->n_external_data = 0;
    w->has_data_location = 0;
    w->has_raw_data = 1;
    /* Data that does not fill the shape. */
    w->raw_data.len -= 4;
    mb_refused(&b, "w1", "raw_data");
    w->raw_data.len += 4;
    /* An input read before it is defined. */
    b.nodes[1]->input[0] = tstr("later");
    mb_refused(&b, "later", "relu");
    b.nodes[1]->input[0] = tstr("h");
    /* A node output defined twice. */
    b.nodes[1]->output[0] = tstr("h");
    mb_refused(&b, "'h'", "twice");
    b.nodes[1]->output[0] = tstr("r");
    /* A required input left empty. */
    b.nodes[0]->input[1] = tstr("");
    mb_refused(&b, "lacks its input 2", "conv1");
    b.nodes[0]->input[1] = tstr("w1");
    /* Unsupported opset. */
    b.opset = 5;
    mb_refused(&b, "opset 5", NULL);
    b.opset = 0;
    /* The same model loads, and a wrong input shape is an error. */
    struct ln_onnx *m = mb_load(&b);
    float x[60] = {0};
    struct ln_onnx_tensor in = {x, {1, 2, 6, 6}, 4}, y = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_onnx_run(m, &in, 1, &y, 1, &err), LN_EINVAL);
    assert_non_null(strstr(err.message, "1x2x6x5"));
    assert_null(y.data);
    ln_onnx_free(m);
    mb_free();
}

static void test_api(void **state)
{
    struct mb b = small_net(MB_RAW);
    b.ins[0] = mb_vi("x", 4, (int64_t[]){-1, 2, -1, -1});
    struct ln_onnx *m = mb_load(&b);
    assert_int_equal(ln_onnx_n_inputs(m), 1);
    assert_int_equal(ln_onnx_n_outputs(m), 1);
    assert_string_equal(ln_onnx_input_name(m, 0), "x");
    assert_string_equal(ln_onnx_output_name(m, 0), "y");
    assert_null(ln_onnx_input_name(m, 1));
    int64_t shape[LN_ONNX_MAX_DIMS];
    int nd;
    assert_int_equal(ln_onnx_input_shape(m, 0, shape, &nd), 0);
    assert_int_equal(nd, 4);
    assert_int_equal(shape[0], -1);
    assert_int_equal(shape[1], 2);
    /* Two shapes in turn, then the first again: each result as when run
     * alone. */
    float x[2 * 2 * 9 * 7];
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        x[i] = frand();
    struct ln_onnx_tensor a = {0}, c = {0}, a2 = {0};
    run1(m, x, 4, (int64_t[]){1, 2, 6, 5}, &a);
    run1(m, x, 4, (int64_t[]){2, 2, 9, 7}, &c);
    assert_int_equal(c.shape[0], 2);
    assert_int_equal(c.shape[3], 7);
    run1(m, x, 4, (int64_t[]){1, 2, 6, 5}, &a2);
    assert_int_equal(memcmp(a.data, a2.data, 30 * 4), 0);
    /* Under a memory limit the same run is refused, and the model still
     * works once the limit is lifted. */
    ln__ox_set_mem_limit(m, 1024);
    struct ln_onnx_tensor in = {x, {2, 2, 9, 7}, 4}, d = {0};
    struct ln_error err = {0};
    assert_int_equal(ln_onnx_run(m, &in, 1, &d, 1, &err), LN_ETOOBIG);
    assert_non_null(strstr(err.message, "limit"));
    assert_null(d.data);
    ln__ox_set_mem_limit(m, SIZE_MAX);
    run1(m, x, 4, (int64_t[]){2, 2, 9, 7}, &d);
    assert_int_equal(memcmp(c.data, d.data, 2 * 9 * 7 * 4), 0);
    ln_onnx_tensor_free(&d);
    ln_onnx_tensor_free(&a);
    ln_onnx_tensor_free(&a2);
    ln_onnx_tensor_free(&c);
    ln_onnx_tensor_free(NULL);
    ln_onnx_free(NULL);
    /* A missing file, and a file that is not a model: the message names it. */
    struct ln_onnx *none = NULL;
    assert_int_equal(ln_onnx_load("/nonexistent/u2net.onnx", &none, &err), LN_ENOTFOUND);
    assert_non_null(strstr(err.message, "/nonexistent/u2net.onnx"));
    assert_null(none);
    const char *dir = ln_test_tmpdir("onnx_api");
    char *path = ln_test_path(dir, "text.onnx");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("this is not a model\n", f);
    fclose(f);
    assert_int_equal(ln_onnx_load(path, &none, &err), LN_EFORMAT);
    assert_non_null(strstr(err.message, path));
    assert_non_null(strstr(err.message, "not a valid ONNX model"));
    assert_null(none);
    free(path);
    ln_onnx_free(m);
    mb_free();
}

/* ---- fixtures ------------------------------------------------------------ */

static int fixtures_present(void)
{
    FILE *f = fopen(ln_test_data("onnx/u2net-tiny-op11.onnx"), "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

/* Loads model, runs it on the reference's input and compares every
 * output named in names (NULL-terminated) within 1e-4 relative to the
 * output's largest magnitude. */
static void check_fixture(const char *model, const char *ref, const char *const *names,
                          double *worst_out, size_t *arena_out, size_t *unplanned_out)
{
    char mpath[512], rpath[512];
    snprintf(mpath, sizeof mpath, "%s", ln_test_data(model));
    snprintf(rpath, sizeof rpath, "%s", ln_test_data(ref));
    struct ln_error err = {0};
    struct ln_onnx *m = NULL;
    if (ln_onnx_load(mpath, &m, &err) < 0)
        fail_msg("%s", err.message);
    struct ln_weights *w = NULL;
    if (ln_weights_open(rpath, &w, &err) < 0)
        fail_msg("%s", err.message);
    const struct ln_tensor_info *ti = ln_weights_find(w, "input");
    assert_non_null(ti);
    const float *x;
    assert_int_equal(ln_weights_f32(w, "input", ti->ndim, ti->shape, &x, &err), 0);
    struct ln_onnx_tensor in = {(float *)x, {0}, ti->ndim};
    memcpy(in.shape, ti->shape, sizeof(int64_t) * (size_t)ti->ndim);
    size_t n_out = ln_onnx_n_outputs(m);
    struct ln_onnx_tensor out[16];
    assert_true(n_out <= 16);
    if (ln_onnx_run(m, &in, 1, out, n_out, &err) < 0)
        fail_msg("%s: %s", model, err.message);
    double worst = 0.0;
    for (size_t k = 0; names[k]; k++) {
        assert_true(k < n_out);
        assert_string_equal(ln_onnx_output_name(m, k), names[k]);
        const struct ln_tensor_info *ri = ln_weights_find(w, names[k]);
        assert_non_null(ri);
        assert_int_equal(out[k].ndim, ri->ndim);
        for (int d = 0; d < ri->ndim; d++)
            assert_int_equal(out[k].shape[d], ri->shape[d]);
        const float *want;
        assert_int_equal(ln_weights_f32(w, names[k], ri->ndim, ri->shape, &want, &err), 0);
        size_t n = 1;
        for (int d = 0; d < ri->ndim; d++)
            n *= (size_t)ri->shape[d];
        /* Relative to the output's scale: the largest |value| PyTorch gave.
         * (Element by element, relative to each value, the worst is 1.7e-4,
         * on U^2-Net's d1 at a value of 0.086: float32 rounding, summed in
         * another order than PyTorch's, through some 60 layers.) */
        double scale = 0.0;
        for (size_t i = 0; i < n; i++)
            scale = fmax(scale, fabs(want[i]));
        for (size_t i = 0; i < n; i++) {
            double e = fabs((double)out[k].data[i] - want[i]) / fmax(scale, 1e-6);
            if (e > worst)
                worst = e;
            if (!(e <= 1e-4))
                fail_msg("%s %s[%zu]: %.8g, PyTorch %.8g", model, names[k], i,
                         (double)out[k].data[i], (double)want[i]);
        }
    }
    *worst_out = worst;
    *arena_out = m->arena_bytes;
    /* What the same values would take with no buffer reused. */
    size_t all = 0;
    for (size_t i = 0; i < m->n_values; i++)
        if (!m->values[i].known && !m->values[i].is_input && m->values[i].producer >= 0)
            all += m->values[i].bytes;
    *unplanned_out = all;
    for (size_t k = 0; k < n_out; k++)
        ln_onnx_tensor_free(&out[k]);
    ln_weights_close(w);
    ln_onnx_free(m);
}

static void test_fixtures(void **state)
{
    if (!fixtures_present())
        skip();
    static const char *const u2[] = {"d0", "d1", "d2", "d3", "d4", "d5", "d6", NULL};
    static const char *const is[] = {"d1", "d2", "d3", "d4", "d5", "d6", NULL};
    static const char *const f16[] = {"output", NULL};
    static const struct {
        const char *model, *ref;
        const char *const *names;
    } cases[] = {
        {"onnx/u2net-tiny-op11.onnx", "onnx/u2net-tiny.safetensors", u2},
        {"onnx/u2net-tiny-op17.onnx", "onnx/u2net-tiny.safetensors", u2},
        {"onnx/isnet-tiny-op11.onnx", "onnx/isnet-tiny.safetensors", is},
        {"onnx/isnet-tiny-op17.onnx", "onnx/isnet-tiny.safetensors", is},
        {"onnx/f16-weights.onnx", "onnx/f16-weights.safetensors", f16},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double worst;
        size_t arena, unplanned;
        check_fixture(cases[i].model, cases[i].ref, cases[i].names, &worst, &arena, &unplanned);
        printf("%s: worst error %.3g of the largest value; activations %zu bytes "
               "(%zu without reuse)\n",
               cases[i].model, worst, arena, unplanned);
    }
}

/* The BiRefNet-shaped fixture: Swin window attention (MatMul, Softmax,
 * LayerNormalization or its opset-13 spelling, Erf GELU, Transpose,
 * shifted windows through Slice + Concat, the bias table through Gather)
 * and a deformable sampling decoder (Floor, comparisons, Cast to int64,
 * GatherElements), against PyTorch float32. */
static void test_transformer_fixture(void **state)
{
    if (!fixtures_present())
        skip();
    static const char *const out[] = {"output", NULL};
    static const char *const models[] = {"onnx/birefnet-tiny-op17.onnx",
                                         "onnx/birefnet-tiny-op13.onnx"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        double worst;
        size_t arena, unplanned;
        check_fixture(models[i], "onnx/birefnet-tiny.safetensors", out, &worst, &arena, &unplanned);
        printf("%s: worst error %.3g of the largest value; activations %zu bytes "
               "(%zu without reuse)\n",
               models[i], worst, arena, unplanned);
    }
}

static uint8_t *read_fixture(const char *name, size_t *len)
{
    return ln_test_read(ln_test_data(name), len);
}

/* Loads data; when that works, runs it once. Neither may crash or leak. */
static int load_and_run(const uint8_t *data, size_t len)
{
    struct ln_onnx *m = NULL;
    struct ln_error err = {0};
    int rc = ln_onnx_load_buffer(data, len, &m, &err);
    if (rc < 0) {
        assert_true(err.message[0] != 0);
        assert_null(m);
        return rc;
    }
    float x[3 * 16 * 16];
    for (int i = 0; i < 3 * 16 * 16; i++)
        x[i] = (float)(i % 13) * 0.1f;
    struct ln_onnx_tensor in = {x, {1, 3, 16, 16}, 4}, out = {0};
    if (ln_onnx_n_inputs(m) == 1 && ln_onnx_run(m, &in, 1, &out, 1, &err) == 0)
        ln_onnx_tensor_free(&out);
    ln_onnx_free(m);
    return 0;
}

static void test_truncations(void **state)
{
    if (!fixtures_present())
        skip();
    size_t len;
    uint8_t *data = read_fixture("onnx/f16-weights.onnx", &len);
    assert_int_equal(load_and_run(data, len), 0);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *part = malloc(cut ? cut : 1); /* exact size: ASan sees any overread */
        memcpy(part, data, cut);
        struct ln_onnx *m = NULL;
        struct ln_error err = {0};
        int rc = ln_onnx_load_buffer(part, cut, &m, &err);
        if (rc >= 0)
            fail_msg("the first %zu of %zu bytes loaded", cut, len);
        assert_true(rc == LN_EFORMAT);
        assert_true(err.message[0] != 0);
        free(part);
    }
    free(data);
    /* A bigger network, cut at 600 points. */
    data = read_fixture("onnx/u2net-tiny-op17.onnx", &len);
    for (size_t k = 0; k < 600; k++) {
        size_t cut = k * (len / 600) + k % 7;
        struct ln_onnx *m = NULL;
        struct ln_error err = {0};
        assert_true(ln_onnx_load_buffer(data, cut, &m, &err) < 0);
    }
    free(data);
}

static void test_corruptions(void **state)
{
    if (!fixtures_present())
        skip();
    size_t len;
    uint8_t *data = read_fixture("onnx/f16-weights.onnx", &len);
    size_t refused = 0;
    static const uint8_t flips[] = {0x01, 0x80, 0xff, 0x7f};
    for (size_t i = 0; i < len; i++)
        for (size_t f = 0; f < sizeof flips; f++) {
            uint8_t *copy = malloc(len);
            memcpy(copy, data, len);
            copy[i] ^= flips[f];
            refused += load_and_run(copy, len) < 0;
            free(copy);
        }
    /* Most corruptions break the structure; some only change a weight. */
    printf("corruptions: %zu of %zu refused\n", refused, len * sizeof flips);
    assert_true(refused > len);
    free(data);
}

static void test_out_of_memory(void **state)
{
    if (!fixtures_present())
        skip();
    size_t len;
    uint8_t *data = read_fixture("onnx/f16-weights.onnx", &len);
    ln_alloc_fail_after(0);
    assert_int_equal(load_and_run(data, len), 0);
    long n = ln_alloc_fail_after(0);
    assert_true(n > 3);
    for (long i = 1; i <= n; i++) {
        ln_alloc_fail_after(i);
        struct ln_onnx *m = NULL;
        struct ln_error err = {0};
        int rc = ln_onnx_load_buffer(data, len, &m, &err);
        if (rc == 0) {
            float x[3 * 16 * 16] = {0};
            struct ln_onnx_tensor in = {x, {1, 3, 16, 16}, 4}, out = {0};
            rc = ln_onnx_run(m, &in, 1, &out, 1, &err);
            if (rc == 0)
                ln_onnx_tensor_free(&out);
            ln_onnx_free(m);
        }
        assert_int_equal(rc, LN_ENOMEM);
    }
    ln_alloc_fail_after(0);
    free(data);
}

static void test_threads_identical(void **state)
{
    if (!fixtures_present())
        skip();
    struct ln_error err = {0};
    struct ln_onnx *m = NULL;
    if (ln_onnx_load(ln_test_data("onnx/isnet-tiny-op17.onnx"), &m, &err) < 0)
        fail_msg("%s", err.message);
    size_t n = 3 * 96 * 96;
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = frand();
    struct ln_onnx_tensor in = {x, {1, 3, 96, 96}, 4}, first = {0};
    for (int t = 1; t <= 4; t++) {
        ln_threads_set(t);
        struct ln_onnx_tensor out = {0};
        assert_int_equal(ln_onnx_run(m, &in, 1, &out, 1, &err), 0);
        if (t == 1)
            first = out;
        else {
            assert_int_equal(memcmp(out.data, first.data, 96 * 96 * sizeof(float)), 0);
            ln_onnx_tensor_free(&out);
        }
    }
    ln_threads_set(0);
    ln_onnx_tensor_free(&first);
    free(x);
    ln_onnx_free(m);
}

int main(void)
{
    /* clang-format off: one test a line */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_hand),         cmocka_unit_test(test_conv_reference),
        cmocka_unit_test(test_conv_gemm),         cmocka_unit_test(test_conv_paths),
        cmocka_unit_test(test_concat_in_place),   cmocka_unit_test(test_conv_transpose),
        cmocka_unit_test(test_pool_ceil),         cmocka_unit_test(test_resize_modes),
        cmocka_unit_test(test_broadcast),         cmocka_unit_test(test_shape_ops),
        cmocka_unit_test(test_expand_concat),     cmocka_unit_test(test_weight_layouts),
        cmocka_unit_test(test_matmul_gemm),       cmocka_unit_test(test_normalisations),
        cmocka_unit_test(test_pad_split_tile),    cmocka_unit_test(test_empty_channels),
        cmocka_unit_test(test_scatter_instancenorm), cmocka_unit_test(test_older_opsets),
        cmocka_unit_test(test_gathers_sum_clip),  cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_logic_wants_booleans), cmocka_unit_test(test_api),
        cmocka_unit_test(test_fixtures),          cmocka_unit_test(test_transformer_fixture),
        cmocka_unit_test(test_truncations),       cmocka_unit_test(test_corruptions),
        cmocka_unit_test(test_out_of_memory),     cmocka_unit_test(test_threads_identical),
    };
    /* clang-format on */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
