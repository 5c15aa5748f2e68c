/*
 * bench-matting: one background network through our ONNX runtime, timed
 * per stage as the command line runs it: load the .onnx file, prepare the
 * picture (Pillow's LANCZOS resize to the network's square), the network,
 * the mask (resized back to the picture), and the whole ln_matting_mask
 * call. bench/run.sh puts the figures beside PyTorch's for the same network
 * and picture (tools/onnx/bench_matting.py, which also writes both).
 *
 *   bench-matting PICTURE.rgb WIDTH HEIGHT MODEL.onnx NAME [REPEATS [THREADS]]
 *
 * Prints "ours NAME STAGE SECONDS" lines, best of REPEATS (default 3), and
 * the peak RSS. THREADS defaults to all cores. network-cpu is the CPU time
 * of the process during its fastest network run (all threads): on a shared
 * machine, at one thread, the fairer figure, since time spent waiting for
 * a core is not in it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ln_file.h"
#include "ln_matting.h"
#include "ln_onnx.h"
#include "ln_threads.h"
#include "ln_time.h"

static void ln__die(const struct ln_error *err)
{
    fprintf(stderr, "bench-matting: %s\n", err->message);
    exit(1);
}

static double ln__min(double a, double b)
{
    return a < b ? a : b;
}

/* CPU seconds of the whole process so far (every thread). */
static double ln__cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fputs("usage: bench-matting PICTURE.rgb WIDTH HEIGHT MODEL.onnx NAME [REPEATS [THREADS]]\n",
              stderr);
        return 2;
    }
    const int w = atoi(argv[2]), h = atoi(argv[3]);
    const char *path = argv[4], *name = argv[5];
    const int repeats = argc > 6 ? atoi(argv[6]) : 3;
    if (argc > 7)
        ln_threads_set(atoi(argv[7]));
    struct ln_error err = {0};
    uint8_t *rgb = NULL;
    size_t len = 0;
    if (ln_file_read(argv[1], (size_t)1 << 30, &rgb, &len, &err) < 0)
        ln__die(&err);
    if (w <= 0 || h <= 0 || len != (size_t)w * h * 3) {
        fprintf(stderr, "bench-matting: %s is not %d x %d RGB\n", argv[1], w, h);
        return 1;
    }

    double t0 = ln_time_now();
    struct ln_onnx *net = NULL;
    if (ln_onnx_load(path, &net, &err) < 0)
        ln__die(&err);
    const double t_load = ln_time_now() - t0;
    struct ln_matting *m = NULL;
    if (ln_matting_open(path, &m, &err) < 0)
        ln__die(&err);
    int sw, sh;
    ln_matting_input_size(m, &sw, &sh);
    uint8_t *small = malloc((size_t)sw * sh * 3), *mask = malloc((size_t)w * h);
    struct ln_onnx_tensor in = {malloc((size_t)sw * sh * 3 * sizeof(float)), {1, 3, sh, sw}, 4};
    if (!small || !mask || !in.data) {
        fputs("bench-matting: out of memory\n", stderr);
        return 1;
    }
    for (size_t i = 0; i < (size_t)sw * sh * 3; i++)
        in.data[i] = (float)(i % 251) / 251.0f - 0.5f;

    double t_prep = 1e30, t_net = 1e30, t_mask = 1e30, t_total = 1e30, t_first = 0;
    double t_cpu = 1e30;
    for (int r = 0; r < repeats; r++) {
        t0 = ln_time_now();
        if (ln_matting_resize(rgb, w, h, 3, small, sw, sh, &err) < 0)
            ln__die(&err);
        t_prep = ln__min(t_prep, ln_time_now() - t0);

        struct ln_onnx_tensor out = {0};
        const double c0 = ln__cpu_now();
        t0 = ln_time_now();
        if (ln_onnx_run(net, &in, 1, &out, 1, &err) < 0)
            ln__die(&err);
        const double t = ln_time_now() - t0;
        if (r > 0)
            t_cpu = ln__min(t_cpu, ln__cpu_now() - c0);
        if (r == 0)
            t_first = t; /* includes planning the buffers */
        t_net = ln__min(t_net, t);
        ln_onnx_tensor_free(&out);

        /* The mask stage is the same resampler on one channel, from the
         * network's square back to the picture. */
        t0 = ln_time_now();
        if (ln_matting_resize(small, sw, sh, 1, mask, w, h, &err) < 0)
            ln__die(&err);
        t_mask = ln__min(t_mask, ln_time_now() - t0);

        t0 = ln_time_now();
        if (ln_matting_mask(m, rgb, w, h, 3, mask, &err) < 0)
            ln__die(&err);
        t_total = ln__min(t_total, ln_time_now() - t0);
    }
    printf("ours %s load %.3f\n", name, t_load);
    printf("ours %s prepare %.3f\n", name, t_prep);
    printf("ours %s network %.3f\n", name, t_net);
    printf("ours %s network-first %.3f\n", name, t_first);
    if (repeats > 1)
        printf("ours %s network-cpu %.3f\n", name, t_cpu);
    printf("ours %s mask %.3f\n", name, t_mask);
    printf("ours %s total %.3f\n", name, t_total);
    printf("ours %s threads %d peak-rss-mb %.0f\n", name, ln_threads_get(),
           (double)ln_time_peak_rss() / 1e6);
    free(in.data);
    free(small);
    free(mask);
    free(rgb);
    ln_matting_free(m);
    ln_onnx_free(net);
    return 0;
}
