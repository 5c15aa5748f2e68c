/* Shared by the GPU floor's tests: which Vulkan device they run on and the
 * visible skip when there is none. ctest points the loader at Mesa's
 * lavapipe (VK_ICD_FILENAMES) with the Khronos validation layer on
 * (VK_INSTANCE_LAYERS; tests/CMakeLists.txt); LN_TEST_VULKAN_DEVICE names
 * another device index. */
#ifndef LN_GPU_TEST_H
#define LN_GPU_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_gpu.h"
#include "testutil.h"

/* Exits 77 (skipped) when no Vulkan driver is present; returns the device
 * index to test. */
static inline int ln_test_vulkan_device_or_skip(void)
{
    char list[1024];
    const int n = ln_gpu_list(list, sizeof list);
    if (n == 0) {
        printf("no Vulkan loader or driver here (install mesa-vulkan-drivers for lavapipe): "
               "skipping\n");
        exit(77);
    }
    printf("Vulkan devices:\n%s", list);
    const char *e = getenv("LN_TEST_VULKAN_DEVICE");
    const int idx = e && *e ? atoi(e) : 0;
    return idx >= 0 && idx < n ? idx : 0;
}

/* Whether the validation layer was asked for (and so must be seen). */
static inline int ln_test_validation_wanted(void)
{
    const char *e = getenv("VK_INSTANCE_LAYERS");
    return e && strstr(e, "VK_LAYER_KHRONOS_validation") != NULL;
}

/* The test's last check: every validation message of the run was one the
 * test provoked on purpose (provoked of them), and the layer was on when
 * asked for. */
static inline void ln_test_validation_check(int provoked)
{
    int active = 0;
    const int n = ln_gpu_validation_messages(&active);
    printf("  validation layer %s, %d message(s), %d of them provoked\n", active ? "on" : "off",
           n, provoked);
    if (ln_test_validation_wanted())
        assert_true(active);
    assert_int_equal(n, provoked);
}

#endif
