/* Shared by the TripoSR GPU tests (test_gpu_triposr.c, test_gpu_triposr_net.c):
 * the tiny golden model (tests/data/triposr-tiny) loaded from both of its
 * weight files, and the device a check runs on; its golden tensors and the
 * comparison metric (at most 1e-4) are those of tests/nn/triposr_golden.h,
 * which the CPU tests use too. The helpers are `static` and marked unused,
 * not `static inline` (triposr_golden.h says why). */
#ifndef LN_GPU_TRIPOSR_TEST_H
#define LN_GPU_TRIPOSR_TEST_H

#include "gpu_test.h"
#include "ln_gpu.h"
#include "ln_triposr.h"
#include "testutil.h"
#include "triposr_golden.h"

/* The network loaded from model.ckpt (0) and model.safetensors (1). */
static struct ln_triposr *g_net[2];

/* Fails the test where got is further from want than triposr_golden.h's
 * metric allows for float32 (density_act: a label naming "density"). */
static __attribute__((unused)) void check(const char *label, const float *got, const float *want,
                                          size_t n)
{
    golden_check(label, got, want, n, GOLDEN_TOL);
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
    return golden_load(which, out);
}

/* No Hugging Face cache but the model's own; both networks loaded. */
static __attribute__((unused)) int setup(void **state)
{
    (void)state;
    golden_use_fixture_cache();
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
