/*
 * The plain names of the network's kernel functions, forwarded to the
 * table of the kernel set in use (see ln_kernels.h). The set is chosen
 * once (ln_cpu_selected), so every call in a process runs the same
 * kernels and a result never depends on which call came first.
 */
#include "ln_kernels_int.h"

#include <assert.h>
#include <cblas.h>
#include <pthread.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_cpu.h"
#include "ln_gpu_triposr.h"
#include "ln_log.h"
#include "ln_triposr.h"
#include "ln_threads.h"
#include "ln_time.h"

extern const struct ln__kernels ln__kernel_table_baseline;
#if LN_KSETS_X86
extern const struct ln__kernels ln__kernel_table_avx2;
extern const struct ln__kernels ln__kernel_table_avx512;
#endif

static const struct ln__kernels *ln__k(void)
{
    switch (ln_cpu_selected()) {
#if LN_KSETS_X86
    case LN_CPU_AVX512:
        return &ln__kernel_table_avx512;
    case LN_CPU_AVX2:
        return &ln__kernel_table_avx2;
#endif
    default:
        return &ln__kernel_table_baseline;
    }
}

const char *ln_nn_kernel_set(void)
{
    return ln__k()->name;
}

float ln__fma_loop(long iters, float seed)
{
    return ln__k()->fma_loop(iters, seed);
}

int ln__fma_lanes(void)
{
    return ln__k()->fma_lanes();
}

struct ln__peak_ctx {
    long iters;
    float sink[64];
};

static void ln__peak_body(void *vctx, size_t begin, size_t end, int thread)
{
    struct ln__peak_ctx *c = vctx;
    for (size_t i = begin; i < end; i++)
        c->sink[thread & 63] += ln__k()->fma_loop(c->iters, (float)i + 1.0f);
}

double ln_nn_fma_peak(double seconds, int threads)
{
    if (threads < 1)
        threads = ln_threads_get();
    /* 12 accumulators x lanes x 2 flops per round */
    const double flops_round = 12.0 * ln__k()->fma_lanes() * 2.0;
    struct ln__peak_ctx c = {.iters = 1 << 16};
    /* rounds for a fifth of the time on one thread, then the best
     * of a few runs with every thread busy on its own loop */
    double t0 = ln_time_now();
    c.sink[0] += ln__k()->fma_loop(c.iters, 1.0f);
    double one = ln_time_now() - t0;
    if (one > 0)
        c.iters = (long)((double)c.iters * (seconds / 5.0) / one) + 1;
    double best = 0.0;
    for (int run = 0; run < 5; run++) {
        t0 = ln_time_now();
        ln_parallel_for_at((size_t)threads, 1, threads, ln__peak_body, &c);
        double dt = ln_time_now() - t0;
        double rate = dt > 0 ? flops_round * (double)c.iters * threads / dt : 0.0;
        if (rate > best)
            best = rate;
    }
    volatile float keep = c.sink[0];
    (void)keep;
    return best / 1e9;
}

const char *ln_nn_blas_core(void)
{
    const char *name = openblas_get_corename();
    return name ? name : "unknown";
}

#if defined(__x86_64__) || defined(__i386__)
/* 3DNow! (CPUID 0x80000001, EDX bit 31): not among __builtin_cpu_supports'
 * names. */
static int ln__cpu_has_3dnow(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(0x80000001u, &a, &b, &c, &d) && (d >> 31 & 1u);
}
#endif

static char ln__blas_msg[256];
static pthread_once_t ln__blas_once = PTHREAD_ONCE_INIT;

static void ln__blas_check(void)
{
#if defined(__x86_64__) || defined(__i386__)
    /* What each family's single-precision kernels execute, from OpenBLAS
     * 0.3.21's kernel/x86_64 sources; the families not listed need no
     * more than SSE3, which every x86-64 CPU this runs on has. */
    __builtin_cpu_init();
    const int avx512 = ln_cpu_supports(LN_CPU_AVX512), avx2 = ln_cpu_supports(LN_CPU_AVX2);
    const int avx = __builtin_cpu_supports("avx"), fma4 = __builtin_cpu_supports("fma4");
    const int now3d = ln__cpu_has_3dnow();
    const struct {
        const char *core, *needs;
        int has;
    } families[] = {
        {"Cooperlake", "AVX-512", avx512},     {"SkylakeX", "AVX-512", avx512},
        {"SapphireRapids", "AVX-512", avx512}, {"Haswell", "AVX2 and FMA", avx2},
        {"Zen", "AVX2 and FMA", avx2},         {"Sandybridge", "AVX", avx},
        {"Bulldozer", "FMA4", fma4},           {"Piledriver", "FMA4", fma4},
        {"Steamroller", "FMA4", fma4},         {"Excavator", "FMA4", fma4},
        {"Opteron", "3DNow!", now3d},          {"Opteron_SSE3", "3DNow!", now3d},
    };
    const char *core = ln_nn_blas_core();
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        if (strcmp(core, families[i].core) == 0 && !families[i].has) {
            const char *env = getenv("OPENBLAS_CORETYPE");
            snprintf(ln__blas_msg, sizeof ln__blas_msg,
                     "OpenBLAS was told to run its %s kernels (OPENBLAS_CORETYPE=%s), which "
                     "need %s: this CPU lacks it, so its products run on slower loops of our "
                     "own instead; unset OPENBLAS_CORETYPE or name this CPU's family",
                     core, env ? env : "", families[i].needs);
        }
#endif
}

const char *ln_nn_blas_mismatch(void)
{
    pthread_once(&ln__blas_once, ln__blas_check);
    return ln__blas_msg[0] ? ln__blas_msg : NULL;
}

void ln__sgemm_own(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                   const float *b, int ldb, float beta, float *c, int ldc)
{
    const int at = ta == CblasTrans, bt = tb == CblasTrans;
    for (int i = 0; i < m; i++) {
        float *ci = c + (size_t)i * ldc;
        for (int j = 0; j < n; j++)
            ci[j] = beta == 0.0f ? 0.0f : beta * ci[j];
        for (int p = 0; p < k; p++) {
            const float aip = alpha * (at ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p]);
            if (bt)
                for (int j = 0; j < n; j++)
                    ci[j] += aip * b[(size_t)j * ldb + p];
            else
                for (int j = 0; j < n; j++)
                    ci[j] += aip * b[(size_t)p * ldb + j];
        }
    }
}

void ln__sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc)
{
    if (ln_nn_blas_mismatch())
        ln__sgemm_own(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else
        cblas_sgemm(CblasRowMajor, (enum CBLAS_TRANSPOSE)ta, (enum CBLAS_TRANSPOSE)tb, m, n, k,
                    alpha, a, lda, b, ldb, beta, c, ldc);
}

void ln_nn_blas_warn(void)
{
    static atomic_int warned;
    const char *mismatch = ln_nn_blas_mismatch();
    if (mismatch && !atomic_exchange(&warned, 1))
        ln_log_warn("%s", mismatch);
}

void ln__blas_single_thread(void)
{
    ln_nn_blas_warn();
    if (openblas_get_num_threads() != 1)
        openblas_set_num_threads(1);
}

void ln__linear(const float *x, size_t rows, int k, int ldx, const float *w, const float *bias,
                int n, float *y, int ldy, int accumulate)
{
    ln__k()->linear(x, rows, k, ldx, w, bias, n, y, ldy, accumulate);
}

void ln__linear_xt(const float *xt, size_t rows, int k, int ldxt, const float *w,
                   const float *bias, int n, float *y, int ldy, int accumulate)
{
    ln__k()->linear_xt(xt, rows, k, ldxt, w, bias, n, y, ldy, accumulate);
}

void ln__gemm(const float *x, size_t rows, int k, int ldx, int xt, const float *w,
              const float *bias, int n, float *y, int ldy, int accumulate)
{
    ln__k()->gemm(x, rows, k, ldx, xt, w, bias, n, y, ldy, accumulate);
}

float *ln__gemm_pack(const float *w, int k, int n)
{
    return ln__k()->gemm_pack(w, k, n);
}

void ln__gemm_packed(const float *x, size_t rows, int k, int ldx, int xt, const float *wp,
                     const float *bias, int n, float *y, int ldy, int accumulate)
{
    ln__k()->gemm_packed(x, rows, k, ldx, xt, wp, bias, n, y, ldy, accumulate);
}

float *ln__gemm_geglu_pack(const float *w, int k, int half)
{
    return ln__k()->gemm_geglu_pack(w, k, half);
}

void ln__gemm_geglu_packed(const float *x, size_t rows, int k, int ldx, const float *wp,
                           const float *bias, int half, float *y, int ldy)
{
    ln__k()->gemm_geglu_packed(x, rows, k, ldx, wp, bias, half, y, ldy);
}

int ln__gemm_bf16(const float *x, size_t rows, int k, int ldx, const float *w, const float *bias,
                  int n, float *y, int ldy, int accumulate)
{
    return ln__k()->gemm_bf16(x, rows, k, ldx, w, bias, n, y, ldy, accumulate);
}

void ln__gemm_geglu(const float *x, size_t rows, int k, int ldx, const float *w, const float *bias,
                    int half, float *y, int ldy)
{
    ln__k()->gemm_geglu(x, rows, k, ldx, w, bias, half, y, ldy);
}

int ln__gemm_bf16_geglu(const float *x, size_t rows, int k, int ldx, const float *w,
                        const float *bias, int half, float *y, int ldy)
{
    return ln__k()->gemm_bf16_geglu(x, rows, k, ldx, w, bias, half, y, ldy);
}

int ln_nn_bf16_available(void)
{
#if LN_KSETS_X86
    return ln__k() == &ln__kernel_table_avx512 && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

/* -1 until LN_TRIPOSR_GEMM is read, then 0 (ours), 1 (OpenBLAS) or 2 (the
 * default: ours in the AVX2 and AVX-512 sets, OpenBLAS in the baseline
 * one, whose SSE2 multiply-then-add tiles reach about 0.4 of OpenBLAS,
 * which picks its own kernels for the CPU). */
static atomic_int ln__gemm_mode = -1;

int ln_nn_gemm_blas(void)
{
    int v = atomic_load(&ln__gemm_mode);
    if (v < 0) {
        const char *e = getenv("LN_TRIPOSR_GEMM");
        v = 2;
        if (e && strcmp(e, "blas") == 0)
            v = 1;
        else if (e && strcmp(e, "own") == 0)
            v = 0;
        else if (e && *e)
            fprintf(stderr,
                    "LN_TRIPOSR_GEMM=%.40s is neither \"blas\" nor \"own\": using the default\n",
                    e);
        int expected = -1;
        atomic_compare_exchange_strong(&ln__gemm_mode, &expected, v);
        v = atomic_load(&ln__gemm_mode);
    }
    return v == 2 ? ln__k() == &ln__kernel_table_baseline : v;
}

void ln_nn_gemm_set_blas(int blas)
{
    atomic_store(&ln__gemm_mode, blas < 0 ? 2 : blas ? 1 : 0);
}

void ln__layernorm(const float *x, size_t rows, int dim, int ldx, const float *g, const float *b,
                   float eps, float *y, int ldy)
{
    ln__k()->layernorm(x, rows, dim, ldx, g, b, eps, y, ldy);
}

void ln__groupnorm(const float *x, int channels, size_t n, int groups, const float *g,
                   const float *b, float eps, float *y)
{
    ln__k()->groupnorm(x, channels, n, groups, g, b, eps, y);
}

void ln__gelu_rows(float *x, size_t rows, int cols, int ld)
{
    ln__k()->gelu_rows(x, rows, cols, ld);
}

void ln__geglu_rows(float *z, size_t rows, int half, int ld, const float *bias)
{
    ln__k()->geglu_rows(z, rows, half, ld, bias);
}

float ln__gelu1(float x)
{
    return ln__k()->gelu1(x);
}

float ln__silu1(float x)
{
    return ln__k()->silu1(x);
}

size_t ln__attention_scratch(size_t nq, size_t nk, int heads, int hd, int threads)
{
    return ln__k()->attention_scratch(nq, nk, heads, hd, threads);
}

void ln__attention(const float *q, int ldq, const float *k, int ldk, const float *v, int ldv,
                   size_t nq, size_t nk, int heads, int hd, float *out, int ldo, float *scratch,
                   int threads)
{
    ln__k()->attention(q, ldq, k, ldk, v, ldv, nq, nk, heads, hd, out, ldo, scratch, threads);
}

int ln__attention_bf16(const float *q, int ldq, const float *k, int ldk, const float *v, int ldv,
                       size_t nq, size_t nk, int heads, int hd, float *out, int ldo,
                       float *scratch, int threads)
{
    return ln__k()->attention_bf16(q, ldq, k, ldk, v, ldv, nq, nk, heads, hd, out, ldo, scratch,
                                   threads);
}

void ln__silu_inplace(float *x, size_t n)
{
    ln__k()->silu_inplace(x, n);
}

void ln__exp_span(const float *x, float *y, size_t n)
{
    ln__k()->exp_span(x, y, n);
}

void ln__ox_gemm(size_t rows, size_t cols, size_t K, const float *a, size_t lda, const float *b,
                 size_t ldb, const float *bias, int relu, float *y, size_t ldy)
{
    ln__k()->ox_gemm(rows, cols, K, a, lda, b, ldb, bias, relu, y, ldy);
}

void ln__ox_gemm_taps(size_t rows, size_t n_pos, size_t K, const float *a, size_t lda,
                      const float *b, const int32_t *boff, const float *bias, int relu, float *y,
                      size_t ldy, size_t grid_w, size_t out_w)
{
    ln__k()->ox_gemm_taps(rows, n_pos, K, a, lda, b, boff, bias, relu, y, ldy, grid_w, out_w);
}

size_t ln__ox_gemm_cols(void)
{
    return ln__k()->ox_gemm_cols();
}

int ln_triposr_encode_image(const struct ln_triposr *net, const float *image_chw, float *tokens,
                            const struct ln_triposr_trace *trace, struct ln_error *err)
{
    /* On the selected GPU when there is one (ln_gpu_triposr_net.c). */
    const int rc = ln__gpu_triposr_encode_image(net, image_chw, tokens, trace, err);
    if (rc != LN__GPU_DECLINED)
        return rc;
    return ln__k()->encode_image(net, image_chw, tokens, trace, err);
}

int ln_triposr_backbone(const struct ln_triposr *net, const float *context, float *out,
                        const struct ln_triposr_trace *trace, const struct ln_progress *progress,
                        struct ln_error *err)
{
    const int rc = ln__gpu_triposr_backbone(net, context, out, trace, progress, err);
    if (rc != LN__GPU_DECLINED)
        return rc;
    return ln__k()->backbone(net, context, out, trace, progress, err);
}

int ln_triposr_upsample(const struct ln_triposr *net, const float *backbone_out, float *scene,
                        struct ln_error *err)
{
    const int rc = ln__gpu_triposr_upsample(net, backbone_out, scene, err);
    if (rc != LN__GPU_DECLINED)
        return rc;
    return ln__k()->upsample(net, backbone_out, scene, err);
}

int ln_triposr_query(const struct ln_triposr *net, const float *scene, const float *points,
                     size_t n, float *density_act, float *colour, float *features,
                     struct ln_error *err)
{
    /* On the selected GPU when there is one (ln_gpu_triposr.c). */
    const int rc = ln__gpu_triposr_query(net, scene, points, n, density_act, colour, features, err);
    if (rc != LN__GPU_DECLINED)
        return rc;
    return ln__k()->query(net, scene, points, n, density_act, colour, features, err);
}

int ln_triposr_render_rays(const struct ln_triposr *net, const float *scene, const float *rays_o,
                           const float *rays_d, size_t n, float *rgb, struct ln_error *err)
{
    return ln__k()->render_rays(net, scene, rays_o, rays_d, n, rgb, err);
}
