/* The GPU floor (src/gpu) on a real Vulkan driver, lavapipe under ctest:
 * parsing of --device, what auto picks (never a CPU driver), opening a
 * named device, buffers written and read back, and the memory budget: a
 * request past the device's heap, or past LN_GPU_MEMORY_LIMIT, fails with
 * one clear line and leaves nothing allocated. Any validation-layer
 * message fails the run. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_test.h"
#include "ln_gpu.h"
#include "ln_sys.h"

#if LN_NO_VULKAN
int main(void)
{
    printf("built without Vulkan (-DLN_VULKAN=OFF): skipping\n");
    return 77;
}
#else

/* tests/gpu/shaders/test_axpy.comp, compiled by glslc at build time. */
static const uint32_t ln__spv_axpy[] =
#include "test_axpy.spv.inc"
    ;

static int g_index;
/* Validation messages this run provokes on purpose (test_kernel_misuse). */
static int g_provoked;

static void test_parse(void **state)
{
    struct ln_gpu_choice c;
    struct ln_error err = {0};
    assert_int_equal(ln_gpu_choice_parse("auto", &c, &err), 0);
    assert_int_equal(c.kind, LN_GPU_KIND_AUTO);
    assert_int_equal(ln_gpu_choice_parse("cpu", &c, &err), 0);
    assert_int_equal(c.kind, LN_GPU_KIND_CPU);
    assert_int_equal(ln_gpu_choice_parse("vulkan", &c, &err), 0);
    assert_int_equal(c.kind, LN_GPU_KIND_VULKAN);
    assert_int_equal(c.index, 0);
    assert_int_equal(ln_gpu_choice_parse("vulkan:12", &c, &err), 0);
    assert_int_equal(c.kind, LN_GPU_KIND_VULKAN);
    assert_int_equal(c.index, 12);
    const char *bad[] = {"",          "gpu",         "vulkan:", "vulkan:64", "vulkan:-1",
                         "vulkan:1x", "vulkan:0001", "CPU",     "cuda"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ln_error e = {0};
        assert_int_equal(ln_gpu_choice_parse(bad[i], &c, &e), LN_EINVAL);
        assert_non_null(strstr(e.message, "cpu, auto, vulkan or vulkan:N"));
    }
}

static void test_select(void **state)
{
    struct ln_error err = {0};
    struct ln_gpu_choice c = {.kind = LN_GPU_KIND_CPU};
    assert_ok(ln_gpu_select(&c, &err), err);
    assert_null(ln_gpu_current());
    assert_string_equal(ln_gpu_current_name(), "cpu");

    /* auto takes discrete GPUs only: lavapipe (a CPU device) is never
     * picked, whatever else is listed. */
    c.kind = LN_GPU_KIND_AUTO;
    assert_ok(ln_gpu_select(&c, &err), err);
    if (ln_gpu_current()) {
        struct ln_gpu_info in;
        ln_gpu_info(ln_gpu_current(), &in);
        assert_true(in.discrete);
        assert_null(strstr(in.name, "llvmpipe"));
    } else {
        assert_string_equal(ln_gpu_current_name(), "cpu");
    }

    /* A device that is not there: an error that lists the ones that are. */
    c = (struct ln_gpu_choice){.kind = LN_GPU_KIND_VULKAN, .index = 63};
    assert_int_equal(ln_gpu_select(&c, &err), LN_EUNUSABLE);
    printf("  vulkan:63 -> %s\n", err.message);
    assert_non_null(strstr(err.message, "vulkan:63"));
    assert_non_null(strstr(err.message, "0: "));

    c = (struct ln_gpu_choice){.kind = LN_GPU_KIND_VULKAN, .index = g_index};
    assert_ok(ln_gpu_select(&c, &err), err);
    assert_non_null(ln_gpu_current());
    char want[32];
    snprintf(want, sizeof want, "vulkan:%d (", g_index);
    assert_memory_equal(ln_gpu_current_name(), want, strlen(want));
    struct ln_gpu_info in;
    ln_gpu_info(ln_gpu_current(), &in);
    printf("  %s: heap %zu MiB, shared %zu bytes\n", ln_gpu_current_name(), in.heap_bytes >> 20,
           in.max_shared_bytes);
    assert_true(in.heap_bytes > 0);
    assert_true(in.max_shared_bytes >= 16384);
    assert_int_equal(in.used_bytes, 0);
}

/* Written and read back through mapped memory (lavapipe's) or, with
 * staged 1, through staging buffers as on a discrete GPU. */
static void buffers(int staged)
{
    struct ln_error err = {0};
    struct ln_gpu_choice c = {.kind = LN_GPU_KIND_VULKAN, .index = g_index};
    ln_env_set("LN_GPU_STAGING", staged ? "1" : NULL);
    assert_ok(ln_gpu_select(&c, &err), err);
    ln_env_set("LN_GPU_STAGING", NULL);
    struct ln_gpu *gpu = ln_gpu_current();
    assert_non_null(gpu);
    enum { N = 100003 };
    float *a = malloc(N * sizeof(float)), *b = calloc(N, sizeof(float));
    for (int i = 0; i < N; i++)
        a[i] = (float)i * 0.5f - 7.0f;
    struct ln_gpu_buffer *buf;
    assert_ok(ln_gpu_buffer_new(gpu, N * sizeof(float), "test data", &buf, &err), err);
    struct ln_gpu_info in;
    ln_gpu_info(gpu, &in);
    assert_int_equal(in.used_bytes, N * sizeof(float));
    assert_ok(ln_gpu_buffer_write(buf, 0, a, N * sizeof(float), &err), err);
    assert_ok(ln_gpu_buffer_read(buf, 0, b, N * sizeof(float), &err), err);
    assert_memory_equal(a, b, N * sizeof(float));
    /* A part at an offset. */
    memset(b, 0, N * sizeof(float));
    assert_ok(ln_gpu_buffer_read(buf, 40, b, 400, &err), err);
    assert_memory_equal(a + 10, b, 400);
    ln_gpu_buffer_free(buf);
    ln_gpu_info(gpu, &in);
    assert_int_equal(in.used_bytes, 0);
    free(a);
    free(b);
}

static void test_buffers(void **state)
{
    buffers(0);
}

static void test_buffers_staged(void **state)
{
    buffers(1);
}

static void test_budget(void **state)
{
    struct ln_gpu *gpu = ln_gpu_current();
    assert_non_null(gpu);
    struct ln_gpu_info in;
    ln_gpu_info(gpu, &in);
    struct ln_error err = {0};
    /* More than the device's heap: refused before Vulkan is asked. */
    assert_int_equal(ln_gpu_budget_check(gpu, in.heap_bytes + 1, "a test grid", &err), LN_ENOMEM);
    printf("  %s\n", err.message);
    assert_non_null(strstr(err.message, "GPU memory: a test grid needs"));
    struct ln_gpu_buffer *buf = (struct ln_gpu_buffer *)&err;
    assert_int_equal(ln_gpu_buffer_new(gpu, in.heap_bytes + 1, "a huge grid", &buf, &err),
                     LN_ENOMEM);
    assert_null(buf);
    assert_non_null(strstr(err.message, "a huge grid"));
    ln_gpu_info(gpu, &in);
    assert_int_equal(in.used_bytes, 0);
    assert_ok(ln_gpu_budget_check(gpu, 1 << 20, "a small grid", &err), err);

    /* A budget below the heap (LN_GPU_MEMORY_LIMIT, read when the device
     * is opened): what fits alone stops fitting beside what is held. */
    struct ln_error e2 = {0};
    ln_env_set("LN_GPU_MEMORY_LIMIT", "1048576");
    struct ln_gpu_choice c = {.kind = LN_GPU_KIND_VULKAN, .index = g_index};
    assert_ok(ln_gpu_select(&c, &e2), e2);
    gpu = ln_gpu_current();
    ln_gpu_info(gpu, &in);
    assert_int_equal(in.budget_bytes, 1048576);
    struct ln_gpu_buffer *a, *b;
    assert_ok(ln_gpu_buffer_new(gpu, 700000, "first", &a, &e2), e2);
    assert_int_equal(ln_gpu_buffer_new(gpu, 700000, "second", &b, &e2), LN_ENOMEM);
    printf("  %s\n", e2.message);
    assert_non_null(strstr(e2.message, "second needs 684 KiB, 684 KiB of 1 MiB in use"));
    ln_gpu_buffer_free(a);
    assert_ok(ln_gpu_buffer_new(gpu, 700000, "second", &b, &e2), e2);
    ln_gpu_buffer_free(b);
    ln_env_set("LN_GPU_MEMORY_LIMIT", NULL);
    assert_ok(ln_gpu_select(&c, &e2), e2);
}

/* A kernel dispatched over uneven sizes with two workgroup sizes: every
 * element inside n computed once, none past it touched. */
static void test_kernel(void **state)
{
    struct ln_gpu *gpu = ln_gpu_current();
    assert_non_null(gpu);
    struct ln_error err = {0};
    const uint32_t sizes[] = {1, 63, 64, 65, 100003};
    const uint32_t wgs[] = {64, 32};
    for (size_t w = 0; w < 2; w++) {
        struct ln_gpu_kernel *k;
        assert_ok(ln_gpu_kernel_new(gpu, ln__spv_axpy, sizeof ln__spv_axpy, 2, 8, &wgs[w], 1, &k,
                                    &err),
                  err);
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            const uint32_t n = sizes[s], cap = n + 100;
            float *x = malloc(cap * sizeof(float)), *y = malloc(cap * sizeof(float));
            float *got = malloc(cap * sizeof(float));
            for (uint32_t i = 0; i < cap; i++) {
                x[i] = (float)(i % 1000) * 0.25f - 60.0f;
                y[i] = (float)(i % 77) - 30.0f;
            }
            struct ln_gpu_buffer *bx, *by;
            assert_ok(ln_gpu_buffer_new(gpu, cap * sizeof(float), "x", &bx, &err), err);
            assert_ok(ln_gpu_buffer_new(gpu, cap * sizeof(float), "y", &by, &err), err);
            assert_ok(ln_gpu_buffer_write(bx, 0, x, cap * sizeof(float), &err), err);
            assert_ok(ln_gpu_buffer_write(by, 0, y, cap * sizeof(float), &err), err);
            struct {
                uint32_t n;
                float a;
            } push = {n, 1.5f};
            struct ln_gpu_buffer *bufs[2] = {bx, by};
            assert_ok(ln_gpu_dispatch(k, bufs, 2, &push, (n + wgs[w] - 1) / wgs[w], 1, 1, &err),
                      err);
            assert_ok(ln_gpu_buffer_read(by, 0, got, cap * sizeof(float), &err), err);
            for (uint32_t i = 0; i < cap; i++) {
                /* 1.5 x + y with x a multiple of 1/4 and small: exact in
                 * float, fused or not. */
                const float want = i < n ? 1.5f * x[i] + y[i] : y[i];
                if (got[i] != want)
                    fail_msg("wg %u, n %u: y[%u] = %g, want %g", wgs[w], n, i, (double)got[i],
                             (double)want);
            }
            ln_gpu_buffer_free(by);
            ln_gpu_buffer_free(bx);
            free(got);
            free(y);
            free(x);
        }
        ln_gpu_kernel_free(k);
    }
}

/* The validation layer is listening: a kernel whose layout lacks a binding
 * its shader uses is a validation error, which the floor must see (and
 * log). Only when the layer is on. */
static void test_kernel_misuse(void **state)
{
    if (!ln_test_validation_wanted()) {
        printf("  validation layer not asked for (VK_INSTANCE_LAYERS): nothing to provoke\n");
        return;
    }
    struct ln_gpu *gpu = ln_gpu_current();
    struct ln_error err = {0};
    const int before = ln_gpu_validation_messages(NULL);
    const uint32_t wg = 64;
    struct ln_gpu_kernel *k = NULL;
    const int rc =
        ln_gpu_kernel_new(gpu, ln__spv_axpy, sizeof ln__spv_axpy, 1, 8, &wg, 1, &k, &err);
    ln_gpu_kernel_free(k);
    const int seen = ln_gpu_validation_messages(NULL) - before;
    printf("  kernel with a binding missing: rc %d, %d validation message(s)\n", rc, seen);
    assert_true(seen >= 1);
    g_provoked += seen;
}

static void test_validation(void **state)
{
    (void)state;
    ln_test_validation_check(g_provoked);
}

int main(void)
{
    g_index = ln_test_vulkan_device_or_skip();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),   cmocka_unit_test(test_select),
        cmocka_unit_test(test_buffers), cmocka_unit_test(test_buffers_staged),
        cmocka_unit_test(test_budget),  cmocka_unit_test(test_kernel),
        cmocka_unit_test(test_kernel_misuse),  cmocka_unit_test(test_validation),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ln_gpu_shutdown();
    return rc;
}
#endif
