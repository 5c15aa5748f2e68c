/*
 * Stage benchmarks that the unit tests used to time: marching cubes on a
 * 257^3 sphere field and the preview renderer on a 200 000-face sphere,
 * each best of five, with one thread and with the default count.
 *
 *     build/bench/bench-parts
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ln_mc.h"
#include "ln_mesh.h"
#include "ln_render.h"
#include "ln_threads.h"
#include "ln_time.h"

#define LN__PI 3.14159265358979323846

static void ln__die(const struct ln_error *err)
{
    fprintf(stderr, "bench-parts: %s\n", err->message);
    exit(1);
}

/* A UV sphere of radius 1 with 2 n_lat n_lon faces, grey. */
static void ln__sphere(struct ln_mesh *m, int n_lat, int n_lon)
{
    struct ln_error err = {0};
    size_t nv = (size_t)(n_lat + 1) * (size_t)(n_lon + 1);
    if (ln_mesh_alloc(m, nv, 2 * (size_t)n_lat * (size_t)n_lon, 1, &err) < 0)
        ln__die(&err);
    for (int i = 0; i <= n_lat; i++)
        for (int j = 0; j <= n_lon; j++) {
            double th = LN__PI * i / n_lat, ph = 2.0 * LN__PI * j / n_lon;
            size_t v = (size_t)i * (size_t)(n_lon + 1) + (size_t)j;
            m->positions[3 * v] = (float)(sin(th) * sin(ph));
            m->positions[3 * v + 1] = (float)cos(th);
            m->positions[3 * v + 2] = (float)(sin(th) * cos(ph));
            for (int k = 0; k < 3; k++)
                m->colors[3 * v + k] = 0.6f;
        }
    uint32_t *t = m->indices;
    for (int i = 0; i < n_lat; i++)
        for (int j = 0; j < n_lon; j++) {
            uint32_t a = (uint32_t)(i * (n_lon + 1) + j), b = a + (uint32_t)(n_lon + 1);
            *t++ = a, *t++ = b, *t++ = b + 1;
            *t++ = a, *t++ = b + 1, *t++ = a + 1;
        }
}

int main(void)
{
    struct ln_error err = {0};
    const int n = 257;
    float *f = malloc((size_t)n * n * n * sizeof *f);
    if (!f)
        return 1;
    const float h = 2.0f / (float)(n - 1), origin[3] = {-1, -1, -1}, spacing[3] = {h, h, h};
    for (int x = 0; x < n; x++)
        for (int y = 0; y < n; y++)
            for (int z = 0; z < n; z++) {
                float px = -1 + h * x, py = -1 + h * y, pz = -1 + h * z;
                f[((size_t)x * n + y) * n + z] = 0.8f - sqrtf(px * px + py * py + pz * pz);
            }
    struct ln_mesh sphere = {0};
    ln__sphere(&sphere, 250, 400);
    struct ln_render_options opt;
    ln_render_options_default(&opt);
    for (int threads = 1; threads >= 0; threads--) {
        ln_threads_set(threads); /* one thread, then the default */
        double best_mc = 1e9, best_render = 1e9;
        size_t faces = 0;
        for (int rep = 0; rep < 5; rep++) {
            struct ln_mesh m = {0};
            double t0 = ln_time_now();
            if (ln_mc_extract(f, n, n, n, 0.0f, origin, spacing, &m, &err) < 0)
                ln__die(&err);
            double t = ln_time_now() - t0;
            best_mc = t < best_mc ? t : best_mc;
            faces = m.n_faces;
            ln_mesh_free(&m);
            struct ln_image img = {0};
            t0 = ln_time_now();
            if (ln_render_mesh(&sphere, &opt, &img, &err) < 0)
                ln__die(&err);
            t = ln_time_now() - t0;
            best_render = t < best_render ? t : best_render;
            ln_image_free(&img);
        }
        printf("%d thread(s):\n", ln_threads_get());
        printf("  marching cubes 257^3 sphere  %7.1f ms (%zu faces)\n", best_mc * 1e3, faces);
        printf("  render 200000 faces at %d px %7.1f ms\n", opt.size, best_render * 1e3);
    }
    ln_mesh_free(&sphere);
    free(f);
    return 0;
}
