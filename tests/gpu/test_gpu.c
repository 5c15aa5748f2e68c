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

static int g_index;

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

static void test_validation(void **state)
{
    int active = 0;
    const int n = ln_gpu_validation_messages(&active);
    printf("  validation layer %s, %d message(s)\n", active ? "on" : "off", n);
    if (ln_test_validation_wanted())
        assert_true(active);
    assert_int_equal(n, 0);
}

int main(void)
{
    g_index = ln_test_vulkan_device_or_skip();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),   cmocka_unit_test(test_select),
        cmocka_unit_test(test_buffers), cmocka_unit_test(test_buffers_staged),
        cmocka_unit_test(test_budget),  cmocka_unit_test(test_validation),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ln_gpu_shutdown();
    return rc;
}
