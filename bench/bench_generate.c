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
 * "texture"); each round then also runs the same generation with vertex
 * colours, and the texture's cost is printed as the difference of the two
 * best generation times, wall and process CPU, with both GLBs' sizes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* The best of a configuration's rounds: the whole round (decode,
 * generation, GLB written) and, separately, the generation's wall and
 * process CPU time (each its least over the rounds). */
struct ln__best {
    double total, decode, export; /* of the round with the least total */
    struct ln_generate_report rep; /* of that round */
    double wall, cpu;              /* ln_generate alone */
    long glb_bytes;
};

static double ln__cpu_now(void)
{
    return (double)clock() / CLOCKS_PER_SEC;
}

static void ln__round(struct ln_engine *eng, const struct ln_buf *png, int n,
                      const struct ln_generate_options *opt, const char *glb_path,
                      struct ln__best *best)
{
    struct ln_error err = {0};
    double t0 = ln_time_now();
    struct ln_image imgs[LN_MAX_VIEWS] = {{0}};
    for (int i = 0; i < n; i++)
        if (ln_image_decode(png[i].data, png[i].len, NULL, &imgs[i], &err) < 0)
            ln__die(&err);
    double t1 = ln_time_now(), c1 = ln__cpu_now();
    struct ln_engine_input in = {.images = imgs, .n_images = (size_t)n};
    struct ln_mesh mesh = {0};
    struct ln_generate_report rep;
    if (ln_generate(eng, &in, opt, NULL, &mesh, &rep, &err) < 0)
        ln__die(&err);
    double t2 = ln_time_now(), c2 = ln__cpu_now();
    if (ln_mesh_save(&mesh, glb_path, LN_MESH_FORMAT_GLB, &err) < 0)
        ln__die(&err);
    double t3 = ln_time_now();
    FILE *f = fopen(glb_path, "rb");
    if (f && fseek(f, 0, SEEK_END) == 0)
        best->glb_bytes = ftell(f);
    if (f)
        fclose(f);
    if (t3 - t0 < best->total) {
        best->total = t3 - t0;
        best->rep = rep;
        best->decode = t1 - t0;
        best->export = t3 - t2;
    }
    if (t2 - t1 < best->wall)
        best->wall = t2 - t1;
    if (c2 - c1 < best->cpu)
        best->cpu = c2 - c1;
    ln_mesh_free(&mesh);
    for (int i = 0; i < n; i++)
        ln_image_free(&imgs[i]);
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
    int tex = opt.texture_size;

    /* Each round runs the configuration; with a texture, the same
     * generation with vertex colours follows in the same round, so the
     * texture's own cost (what it adds to a generation) is the difference
     * of the two best times, wall and CPU, taken under the same load. */
    struct ln__best textured = {.total = 1e30, .wall = 1e30, .cpu = 1e30};
    struct ln__best plain = textured;
    for (int r = 0; r < repeats; r++) {
        opt.texture_size = tex;
        ln__round(eng, png, n, &opt, "/tmp/lunar-nova-bench.glb", &textured);
        if (tex > 0) {
            opt.texture_size = 0;
            ln__round(eng, png, n, &opt, "/tmp/lunar-nova-bench-plain.glb", &plain);
        }
    }
    const struct ln_generate_report *rep = &textured.rep;
    printf("%s %dx%d x%d, grid %d: total %.3f s (best of %d)\n", multi ? "views" : "single", size,
           size, n, res, textured.total, repeats);
    printf("  %-12s %7.3f s\n", "decode", textured.decode);
    for (int i = 0; i < rep->n_stages; i++)
        printf("  %-12s %7.3f s\n", rep->stages[i].name, rep->stages[i].seconds);
    printf("  %-12s %7.3f s\n", "export", textured.export);
    printf("  mesh: %zu vertices, %zu faces, %s\n", rep->stats.n_vertices, rep->stats.n_faces,
           rep->stats.watertight ? "watertight" : "not watertight");
    if (tex > 0) {
        printf("  texture %dx%d: %zu charts, %.0f%% of it covered; GLB %.1f MB (vertex "
               "colours: %.1f MB)\n",
               rep->texture_size, rep->texture_size, rep->texture_charts,
               100.0 * rep->texture_fill, textured.glb_bytes / 1e6, plain.glb_bytes / 1e6);
        printf("  texture adds %.3f s to a generation (best %.3f s against %.3f s with vertex "
               "colours), %.3f s of CPU (%.3f against %.3f)\n",
               textured.wall - plain.wall, textured.wall, plain.wall, textured.cpu - plain.cpu,
               textured.cpu, plain.cpu);
    }
    printf("  peak RSS: %.0f MB\n", (double)ln_time_peak_rss() / 1048576.0);
    ln_engine_free(eng);
    for (int i = 0; i < n; i++)
        ln_buf_free(&png[i]);
    remove("/tmp/lunar-nova-bench.glb");
    remove("/tmp/lunar-nova-bench-plain.glb");
    return 0;
}
