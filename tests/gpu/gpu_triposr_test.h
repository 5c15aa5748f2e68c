/* Shared by the TripoSR GPU tests (test_gpu_triposr.c, test_gpu_triposr_net.c):
 * the tiny golden model (tests/data/triposr-tiny) loaded from both of its
 * weight files, its golden tensors, the comparison metric of
 * tests/nn/test_triposr.c (worst relative error with a floor at a hundredth
 * of the tensor's largest magnitude, none for density_act; at most 1e-4),
 * and the device a check runs on. The helpers are `static` and marked unused,
 * not `static inline`: with `inline`, GCC 12's aarch64 vectoriser stops on
 * worst_rel's loops with an internal compiler error. */
#ifndef LN_GPU_TRIPOSR_TEST_H
#define LN_GPU_TRIPOSR_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gpu_test.h"
#include "ln_gpu.h"
#include "ln_sys.h"
#include "ln_triposr.h"
#include "testutil.h"

#define TOL 1e-4

/* The network loaded from model.ckpt (0) and model.safetensors (1). */
static struct ln_triposr *g_net[2];

/* triposr-tiny/NAME.bin, n floats. */
static __attribute__((unused)) float *golden(const char *name, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "triposr-tiny/%s.bin", name);
    return ln_test_read_f32(ln_test_data(path), n);
}

static __attribute__((unused)) double worst_rel(const float *got, const float *want, size_t n,
                                                double floor_frac)
{
    double scale = 0.0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs((double)want[i]));
    const double fl = floor_frac * scale > 0.0 ? floor_frac * scale : 1e-30;
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)got[i] - (double)want[i]);
        const double r = isfinite(d) ? d / fmax(fabs((double)want[i]), fl) : INFINITY;
        if (!(r <= worst))
            worst = r;
    }
    return worst;
}

static __attribute__((unused)) void check(const char *label, const float *got, const float *want,
                                          size_t n)
{
    const double w = worst_rel(got, want, n, strstr(label, "density") ? 0.0 : 1e-2);
    printf("  %-40s worst relative error %.3g\n", label, w);
    if (!(w <= TOL))
        fail_msg("%s: worst relative error %g > %g", label, w, TOL);
}

/* The CPU (index < 0) or vulkan:index computes what follows. */
static __attribute__((unused)) void select_device(int index)
{
    struct ln_error err = {0};
    struct ln_gpu_choice c = {.kind = index < 0 ? LN_GPU_KIND_CPU : LN_GPU_KIND_VULKAN,
                              .index = index < 0 ? 0 : index};
    assert_ok(ln_gpu_select(&c, &err), err);
}

/* The tiny model from model.ckpt (which 0) or model.safetensors (1). */
static __attribute__((unused)) int load(int which, struct ln_triposr **out)
{
    const char *w[2] = {"triposr-tiny/model.ckpt", "triposr-tiny/model.safetensors"};
    struct ln_model_files f;
    memset(&f, 0, sizeof f);
    snprintf(f.config, sizeof f.config, "%s", ln_test_data("triposr-tiny/config.yaml"));
    snprintf(f.weights, sizeof f.weights, "%s", ln_test_data(w[which]));
    snprintf(f.where, sizeof f.where, "tiny golden model");
    struct ln_error err = {0};
    if (ln_triposr_load(&f, out, &err) < 0) {
        fprintf(stderr, "loading %s: %s\n", w[which], err.message);
        return -1;
    }
    return 0;
}

/* No Hugging Face cache but the model's own; both networks loaded. */
static __attribute__((unused)) int setup(void **state)
{
    (void)state;
    ln_env_set("HF_HUB_CACHE", NULL);
    ln_env_set("HUGGINGFACE_HUB_CACHE", NULL);
    ln_env_set("TRANSFORMERS_CACHE", NULL);
    ln_env_set("HF_HOME", ln_test_data("triposr-tiny/hf_home"));
    return load(0, &g_net[0]) < 0 || load(1, &g_net[1]) < 0 ? -1 : 0;
}

static __attribute__((unused)) int teardown(void **state)
{
    (void)state;
    ln_gpu_shutdown();
    for (int i = 0; i < 2; i++)
        ln_triposr_free(g_net[i]);
    return 0;
}

#endif
