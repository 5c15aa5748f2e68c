/* TripoSR's triplane query and NeRF decoder on the GPU (src/nn/
 * ln_gpu_triposr.c, shaders/triposr_query.comp) against the CPU form
 * (ln_triposr_query.c) and the golden files of the tiny model
 * (tests/data/triposr-tiny, made by the upstream PyTorch code): features,
 * density_act and colour at the probe points and on the 32^3 grid, each
 * within 1e-4 relative (the metric of tests/nn/test_triposr.c: a floor at a
 * hundredth of the tensor's largest magnitude, none for density_act).
 * Also: a call in many small pieces and a call in one piece agree bit for
 * bit (the scene code is uploaded once, not per piece); a second network
 * and scene code replace the first; a query that does not fit the memory
 * budget fails with one clear line and writes nothing. Any validation
 * message fails the run. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_triposr_test.h"
#include "ln_gpu.h"
#include "ln_sys.h"
#include "ln_time.h"
#include "ln_triposr.h"

#define SCENE (3 * 8 * 16 * 16)
#define NF 24
#define N_PROBE 507
#define N_GRID 32768

static int g_index;

/* density_act, colour and (when feat) features of n points on the CPU
 * (index < 0) or on vulkan:index, through ln_triposr_query as the engine
 * calls it. */
static void query_on(int index, const struct ln_triposr *net, const float *scene, const float *pts,
                     size_t n, float *dens, float *col, float *feat, double *seconds)
{
    select_device(index);
    struct ln_error err = {0};
    const double t0 = ln_time_now();
    assert_ok(ln_triposr_query(net, scene, pts, n, dens, col, feat, &err), err);
    if (seconds)
        *seconds = ln_time_now() - t0;
}

static void test_probe_and_grid(void **state)
{
    float *scene = golden("scene_codes", SCENE);
    float *probe = golden("probe_positions", N_PROBE * 3);
    float *grid = golden("grid_positions", N_GRID * 3);
    float *dens[2], *col[2], *feat[2];
    for (int d = 0; d < 2; d++) {
        dens[d] = malloc(N_GRID * sizeof(float));
        col[d] = malloc(N_GRID * 3 * sizeof(float));
        feat[d] = malloc(N_PROBE * NF * sizeof(float));
    }
    for (int i = 0; i < 2; i++) {
        printf(" %s\n", i ? "model.safetensors" : "model.ckpt");
        query_on(-1, g_net[i], scene, probe, N_PROBE, dens[0], col[0], feat[0], NULL);
        query_on(g_index, g_net[i], scene, probe, N_PROBE, dens[1], col[1], feat[1], NULL);
        check("probe features vs CPU", feat[1], feat[0], N_PROBE * NF);
        check("probe density_act vs CPU", dens[1], dens[0], N_PROBE);
        check("probe colour vs CPU", col[1], col[0], N_PROBE * 3);
        float *want = golden("probe_features", N_PROBE * NF);
        check("probe features vs golden", feat[1], want, N_PROBE * NF);
        free(want);
        want = golden("probe_density_act", N_PROBE);
        check("probe density_act vs golden", dens[1], want, N_PROBE);
        free(want);
        want = golden("probe_color", N_PROBE * 3);
        check("probe colour vs golden", col[1], want, N_PROBE * 3);
        free(want);

        double t_cpu, t_gpu;
        query_on(-1, g_net[i], scene, grid, N_GRID, dens[0], col[0], NULL, &t_cpu);
        query_on(g_index, g_net[i], scene, grid, N_GRID, dens[1], col[1], NULL, &t_gpu);
        /* Once more with the kernel built and the scene code resident:
         * the figure docs/vulkan.md quotes. */
        struct ln_error err = {0};
        const double t0 = ln_time_now();
        assert_ok(ln_triposr_query(g_net[i], scene, grid, N_GRID, dens[1], col[1], NULL, &err),
                  err);
        const double t_again = ln_time_now() - t0;
        printf("  32^3 grid: CPU %.4f s, %s %.4f s (first call, with the kernel's build and "
               "uploads), %.4f s (again)\n",
               t_cpu, ln_gpu_current_name(), t_gpu, t_again);
        check("grid density_act vs CPU", dens[1], dens[0], N_GRID);
        check("grid colour vs CPU", col[1], col[0], N_GRID * 3);
        want = golden("grid_density_act", N_GRID);
        check("grid density_act vs golden", dens[1], want, N_GRID);
        free(want);
        want = golden("grid_color", N_GRID * 3);
        check("grid colour vs golden", col[1], want, N_GRID * 3);
        free(want);
    }
    for (int d = 0; d < 2; d++) {
        free(dens[d]);
        free(col[d]);
        free(feat[d]);
    }
    free(grid);
    free(probe);
    free(scene);
}

/* The grid in uneven pieces (as the engine's chunks come) equals the grid
 * in one call bit for bit: a piece sees the same resident scene code and
 * weights, and a point's result does not depend on its neighbours. A
 * second scene code (scaled) then replaces the first on the device. */
static void test_pieces_and_new_scene(void **state)
{
    float *scene = golden("scene_codes", SCENE);
    float *grid = golden("grid_positions", N_GRID * 3);
    float *whole = malloc(N_GRID * sizeof(float)), *parts = malloc(N_GRID * sizeof(float));
    float *cpu = malloc(N_GRID * sizeof(float));
    query_on(g_index, g_net[0], scene, grid, N_GRID, whole, NULL, NULL, NULL);
    struct ln_error err = {0};
    for (size_t at = 0, step = 1; at < N_GRID; at += step, step = step * 3 + 7) {
        const size_t n = N_GRID - at < step ? N_GRID - at : step;
        assert_ok(ln_triposr_query(g_net[0], scene, grid + 3 * at, n, parts + at, NULL, NULL, &err),
                  err);
    }
    assert_memory_equal(whole, parts, N_GRID * sizeof(float));

    for (size_t i = 0; i < SCENE; i++)
        scene[i] *= 0.75f;
    query_on(g_index, g_net[1], scene, grid, N_GRID, parts, NULL, NULL, NULL);
    query_on(-1, g_net[1], scene, grid, N_GRID, cpu, NULL, NULL, NULL);
    check("scaled scene density_act vs CPU", parts, cpu, N_GRID);
    assert_memory_not_equal(whole, parts, N_GRID * sizeof(float));
    free(cpu);
    free(parts);
    free(whole);
    free(grid);
    free(scene);
}

/* A device whose budget cannot hold the query's buffers: LN_ENOMEM with
 * one line naming the query and the sizes, the outputs untouched, and the
 * next device works again. */
static void test_out_of_device_memory(void **state)
{
    float *scene = golden("scene_codes", SCENE);
    float *grid = golden("grid_positions", N_GRID * 3);
    float *dens = malloc(N_GRID * sizeof(float));
    for (size_t i = 0; i < N_GRID; i++)
        dens[i] = -1.0f;
    ln_env_set("LN_GPU_MEMORY_LIMIT", "65536");
    select_device(g_index);
    ln_env_set("LN_GPU_MEMORY_LIMIT", NULL);
    struct ln_error err = {0};
    assert_int_equal(ln_triposr_query(g_net[0], scene, grid, N_GRID, dens, NULL, NULL, &err),
                     LN_ENOMEM);
    printf("  %s\n", err.message);
    assert_non_null(strstr(err.message, "GPU memory: the TripoSR grid query needs"));
    for (size_t i = 0; i < N_GRID; i++)
        if (dens[i] != -1.0f)
            fail_msg("density %zu written (%g) by a query that failed", i, (double)dens[i]);
    struct ln_gpu_info in;
    ln_gpu_info(ln_gpu_current(), &in);
    assert_int_equal(in.used_bytes, 0);
    query_on(g_index, g_net[0], scene, grid, 100, dens, NULL, NULL, NULL);
    free(dens);
    free(grid);
    free(scene);
}

/* The probe points through staging buffers (LN_GPU_STAGING=1), the copies
 * a discrete GPU without host-visible device memory makes: the same
 * results as through mapped memory, bit for bit. */
static void test_staged_copies(void **state)
{
    float *scene = golden("scene_codes", SCENE);
    float *probe = golden("probe_positions", N_PROBE * 3);
    float *d[2], *c[2], *f[2];
    for (int s = 0; s < 2; s++) {
        d[s] = malloc(N_PROBE * sizeof(float));
        c[s] = malloc(N_PROBE * 3 * sizeof(float));
        f[s] = malloc(N_PROBE * NF * sizeof(float));
        ln_env_set("LN_GPU_STAGING", s ? "1" : NULL);
        query_on(g_index, g_net[0], scene, probe, N_PROBE, d[s], c[s], f[s], NULL);
        ln_env_set("LN_GPU_STAGING", NULL);
    }
    assert_memory_equal(d[0], d[1], N_PROBE * sizeof(float));
    assert_memory_equal(c[0], c[1], N_PROBE * 3 * sizeof(float));
    assert_memory_equal(f[0], f[1], N_PROBE * NF * sizeof(float));
    for (int s = 0; s < 2; s++) {
        free(d[s]);
        free(c[s]);
        free(f[s]);
    }
    free(probe);
    free(scene);
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
        cmocka_unit_test(test_probe_and_grid),       cmocka_unit_test(test_pieces_and_new_scene),
        cmocka_unit_test(test_out_of_device_memory), cmocka_unit_test(test_staged_copies),
        cmocka_unit_test(test_validation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
