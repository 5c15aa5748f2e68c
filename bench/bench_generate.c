/*
 * bench-generate: times one whole generation the way the command line runs
 * it (PNG decode, engine, post-processing, GLB written to disk) and prints
 * each stage's seconds and the process's peak RSS. Inputs are the synthetic
 * ones of tools/ln_synth.h, encoded as PNG first so decoding is measured too.
 * One configuration per process, so peak RSS belongs to that configuration.
 *
 *   bench-generate single SIZE RESOLUTION [REPEATS]
 *   bench-generate views  SIZE RESOLUTION N_VIEWS [REPEATS]
 *
 * LN_BENCH_TEXTURE=N bakes an N x N texture as well (its stage is
 * "texture"), and the GLB's size is printed with the vertex-coloured
 * GLB's size of the same run for comparison.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_engine.h"
#include "ln_export.h"
#include "ln_image.h"
#include "ln_synth.h"
#include "ln_time.h"

static void ln__die(const struct ln_error *err)
{
    fprintf(stderr, "bench-generate: %s\n", err->message);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fputs("usage: bench-generate single SIZE RES [REPEATS] | views SIZE RES N [REPEATS]\n",
              stderr);
        return 2;
    }
    int multi = strcmp(argv[1], "views") == 0;
    int size = atoi(argv[2]), res = atoi(argv[3]);
    int n = multi ? (argc > 4 ? atoi(argv[4]) : 4) : 1;
    int repeats = argc > (multi ? 5 : 4) ? atoi(argv[multi ? 5 : 4]) : 3;
    if (n < 1 || n > LN_MAX_VIEWS || repeats < 1)
        return 2;

    struct ln_error err = {0};
    struct ln_image src[LN_MAX_VIEWS] = {{0}};
    if (multi ? ln_synth_box_views(src, n, size, 0) : ln_synth_photo(&src[0], size))
        return 1;
    struct ln_buf png[LN_MAX_VIEWS] = {{0}};
    for (int i = 0; i < n; i++) {
        if (ln_image_encode_png(&src[i], &png[i], &err) < 0)
            ln__die(&err);
        ln_image_free(&src[i]);
    }
    struct ln_engine *eng;
    if (ln_engine_sculpt_new(&eng, &err) < 0)
        ln__die(&err);
    struct ln_generate_options opt;
    ln_generate_options_default(&opt);
    opt.resolution = res;
    const char *tex_env = getenv("LN_BENCH_TEXTURE");
    opt.texture_size = tex_env ? atoi(tex_env) : 0;
    long glb_bytes = 0;

    double best = 1e30;
    struct ln_generate_report best_rep = {0};
    double best_decode = 0, best_export = 0;
    for (int r = 0; r < repeats; r++) {
        double t0 = ln_time_now();
        struct ln_image imgs[LN_MAX_VIEWS] = {{0}};
        for (int i = 0; i < n; i++)
            if (ln_image_decode(png[i].data, png[i].len, NULL, &imgs[i], &err) < 0)
                ln__die(&err);
        double t1 = ln_time_now();
        struct ln_engine_input in = {.images = imgs, .n_images = (size_t)n};
        struct ln_mesh mesh = {0};
        struct ln_generate_report rep;
        if (ln_generate(eng, &in, &opt, NULL, &mesh, &rep, &err) < 0)
            ln__die(&err);
        double t2 = ln_time_now();
        if (ln_mesh_save(&mesh, "/tmp/lunar-nova-bench.glb", LN_MESH_FORMAT_GLB, &err) < 0)
            ln__die(&err);
        double t3 = ln_time_now();
        FILE *f = fopen("/tmp/lunar-nova-bench.glb", "rb");
        if (f && fseek(f, 0, SEEK_END) == 0)
            glb_bytes = ftell(f);
        if (f)
            fclose(f);
        if (t3 - t0 < best) {
            best = t3 - t0;
            best_rep = rep;
            best_decode = t1 - t0;
            best_export = t3 - t2;
        }
        ln_mesh_free(&mesh);
        for (int i = 0; i < n; i++)
            ln_image_free(&imgs[i]);
    }
    printf("%s %dx%d x%d, grid %d: total %.3f s (best of %d)\n", multi ? "views" : "single", size,
           size, n, res, best, repeats);
    printf("  %-12s %7.3f s\n", "decode", best_decode);
    for (int i = 0; i < best_rep.n_stages; i++)
        printf("  %-12s %7.3f s\n", best_rep.stages[i].name, best_rep.stages[i].seconds);
    printf("  %-12s %7.3f s\n", "export", best_export);
    printf("  mesh: %zu vertices, %zu faces, %s\n", best_rep.stats.n_vertices,
           best_rep.stats.n_faces, best_rep.stats.watertight ? "watertight" : "not watertight");
    if (opt.texture_size > 0) {
        /* the same mesh with vertex colours instead, for the size */
        struct ln_image imgs[LN_MAX_VIEWS] = {{0}};
        for (int i = 0; i < n; i++)
            if (ln_image_decode(png[i].data, png[i].len, NULL, &imgs[i], &err) < 0)
                ln__die(&err);
        struct ln_engine_input in = {.images = imgs, .n_images = (size_t)n};
        struct ln_mesh plain = {0};
        opt.texture_size = 0;
        struct ln_buf glb = {0};
        if (ln_generate(eng, &in, &opt, NULL, &plain, NULL, &err) < 0 ||
            ln_mesh_encode(&plain, LN_MESH_FORMAT_GLB, &glb, &err) < 0)
            ln__die(&err);
        printf("  texture %dx%d: %zu charts, %.0f%% of it covered; GLB %.1f MB (vertex "
               "colours: %.1f MB)\n",
               best_rep.texture_size, best_rep.texture_size, best_rep.texture_charts,
               100.0 * best_rep.texture_fill, glb_bytes / 1e6, glb.len / 1e6);
        ln_buf_free(&glb);
        ln_mesh_free(&plain);
        for (int i = 0; i < n; i++)
            ln_image_free(&imgs[i]);
    }
    printf("  peak RSS: %.0f MB\n", (double)ln_time_peak_rss() / 1048576.0);
    ln_engine_free(eng);
    for (int i = 0; i < n; i++)
        ln_buf_free(&png[i]);
    remove("/tmp/lunar-nova-bench.glb");
    return 0;
}
