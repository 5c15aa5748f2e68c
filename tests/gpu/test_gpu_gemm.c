/* The GPU's matrix product (ln_gpu_sgemm, shaders/gemm.comp) against
 * OpenBLAS's cblas_sgemm (through ln__sgemm: plain loops instead where
 * OPENBLAS_CORETYPE names kernels this CPU cannot run) on the shapes of the TripoSR network's layers:
 * the tiny golden model's (ViT 17 tokens x 64, QKV, MLP 256; backbone 192
 * tokens; decoder 24 -> 16) and the released model's widths with fewer
 * rows (ViT 768 and its MLP 3072, backbone 1024, cross-attention from
 * 768), both weight layouts (x W^T as PyTorch's Linear, and x B), with and
 * without a bias, and tails smaller than a tile in every dimension, each
 * also against the sums in double. Error metric as in
 * tests/nn/test_triposr.c: worst |got - want| / max(|want|, 1e-2
 * max|want|), at most 1e-4 or twice OpenBLAS's own. Any validation message
 * fails the run. */
#include "testutil.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_test.h"
#include "ln_gpu.h"
#include "ln_nn_ops.h"

struct shape {
    const char *what;
    int M, N, K, trans_b, bias;
};

static const struct shape g_shapes[] = {
    {"one element", 1, 1, 1, 0, 0},
    {"tails in M, N and K", 65, 63, 17, 0, 1},
    {"tails, x W^T", 130, 70, 33, 1, 1},
    {"tiny ViT QKV (17 x 64 -> 192)", 17, 192, 64, 1, 1},
    {"tiny ViT MLP (17 x 64 -> 256)", 17, 256, 64, 1, 1},
    {"tiny backbone FF (192 x 64 -> 512)", 192, 512, 64, 1, 1},
    {"tiny decoder (507 x 24 -> 16)", 507, 16, 24, 1, 1},
    {"ViT-B attention out (257 x 768 -> 768)", 257, 768, 768, 1, 1},
    {"ViT-B MLP down (130 x 3072 -> 768)", 130, 768, 3072, 1, 1},
    {"backbone proj (200 x 1024 -> 1024)", 200, 1024, 1024, 1, 0},
    {"cross-attention K/V (257 x 768 -> 1024)", 257, 1024, 768, 1, 0},
    {"attention scores Q K^T (256 x 64 -> 300)", 256, 300, 64, 1, 0},
    {"attention values P V (256 x 300 -> 64)", 256, 64, 300, 0, 0},
};

static int g_index;

static float *random_floats(size_t n, unsigned *state)
{
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        *state = *state * 1664525u + 1013904223u;
        p[i] = (float)((*state >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
    return p;
}

static struct ln_gpu_buffer *upload(struct ln_gpu *gpu, const float *data, size_t n)
{
    struct ln_error err = {0};
    struct ln_gpu_buffer *b;
    assert_ok(ln_gpu_buffer_new(gpu, n * sizeof(float), "test matrix", &b, &err), err);
    if (data)
        assert_ok(ln_gpu_buffer_write(b, 0, data, n * sizeof(float), &err), err);
    return b;
}

/* Worst |got - want| / max(|want|, 1e-2 max|want|) against float or
 * double values (one of wantf, wantd). */
static double worst_rel(const float *got, const float *wantf, const double *wantd, size_t n)
{
    double scale = 0.0, worst = 0.0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(wantf ? (double)wantf[i] : wantd[i]));
    const double fl = scale > 0.0 ? 1e-2 * scale : 1e-30;
    for (size_t i = 0; i < n; i++) {
        const double w = wantf ? (double)wantf[i] : wantd[i];
        const double r = fabs((double)got[i] - w) / fmax(fabs(w), fl);
        if (!(r <= worst))
            worst = r;
    }
    return worst;
}

static void test_shapes(void **state)
{
    struct ln_error err = {0};
    struct ln_gpu_choice c = {.kind = LN_GPU_KIND_VULKAN, .index = g_index};
    assert_ok(ln_gpu_select(&c, &err), err);
    struct ln_gpu *gpu = ln_gpu_current();
    unsigned seed = 12345;
    for (size_t s = 0; s < sizeof g_shapes / sizeof g_shapes[0]; s++) {
        const struct shape *sh = &g_shapes[s];
        const size_t M = (size_t)sh->M, N = (size_t)sh->N, K = (size_t)sh->K;
        float *a = random_floats(M * K, &seed), *b = random_floats(K * N, &seed);
        float *bias = random_floats(N, &seed);
        float *want = malloc(M * N * sizeof(float)), *got = malloc(M * N * sizeof(float));
        for (size_t i = 0; i < M; i++)
            for (size_t j = 0; j < N; j++)
                want[i * N + j] = sh->bias ? bias[j] : 0.0f;
        /* cblas_sgemm, or plain loops where OPENBLAS_CORETYPE names
         * kernels this CPU cannot run (ln__sgemm) */
        ln__sgemm(CblasNoTrans, sh->trans_b ? CblasTrans : CblasNoTrans, sh->M, sh->N, sh->K,
                  1.0f, a, sh->K, b, sh->trans_b ? sh->K : sh->N, 1.0f, want, sh->N);
        struct ln_gpu_buffer *ba = upload(gpu, a, M * K), *bb = upload(gpu, b, K * N);
        struct ln_gpu_buffer *bbias = sh->bias ? upload(gpu, bias, N) : NULL;
        struct ln_gpu_buffer *bc = upload(gpu, NULL, M * N);
        assert_ok(ln_gpu_sgemm(gpu, sh->M, sh->N, sh->K, ba, bb, sh->trans_b, bbias, bc, &err),
                  err);
        assert_ok(ln_gpu_buffer_read(bc, 0, got, M * N * sizeof(float), &err), err);
        double *ref = malloc(M * N * sizeof(double));
        for (size_t i = 0; i < M; i++)
            for (size_t j = 0; j < N; j++) {
                double acc = sh->bias ? (double)bias[j] : 0.0;
                for (size_t q = 0; q < K; q++)
                    acc +=
                        (double)a[i * K + q] * (double)(sh->trans_b ? b[j * K + q] : b[q * N + j]);
                ref[i * N + j] = acc;
            }
        const double vs_blas = worst_rel(got, want, NULL, M * N);
        const double vs_ref = worst_rel(got, NULL, ref, M * N);
        const double blas_ref = worst_rel(want, NULL, ref, M * N);
        printf("  %-42s %4zu x %4zu x %4zu %s%s: vs cblas_sgemm %.3g, vs double %.3g (cblas_sgemm "
               "vs double %.3g)\n",
               sh->what, M, N, K, sh->trans_b ? "W^T" : "B", sh->bias ? " + bias" : "", vs_blas,
               vs_ref, blas_ref);
        /* Within 1e-4, or (for long sums on random data, where float's
         * rounding alone nears 1e-4 at this metric's floor) no worse than
         * twice OpenBLAS's own error against the double sums. */
        const double tol = fmax(1e-4, 2.0 * blas_ref);
        if (!(vs_ref <= tol) || !(vs_blas <= tol + blas_ref))
            fail_msg("%s: worst relative error %g against cblas_sgemm, %g against double "
                     "(tolerance %g)",
                     sh->what, vs_blas, vs_ref, tol);
        free(ref);
        ln_gpu_buffer_free(bc);
        ln_gpu_buffer_free(bbias);
        ln_gpu_buffer_free(bb);
        ln_gpu_buffer_free(ba);
        free(got);
        free(want);
        free(bias);
        free(b);
        free(a);
    }
}

static void test_validation(void **state)
{
    (void)state;
    ln_test_validation_check(0);
}

int main(void)
{
    g_index = ln_test_vulkan_device_or_skip();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_validation),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ln_gpu_shutdown();
    return rc;
}
