/*
 * Texture baking (ln_bake.h), in four steps:
 *
 *   1. the atlas (charts, packing) and its texels: which face each texel
 *      samples and where (src/mesh/ln_uv.h);
 *   2. every sampled texel's surface point and interpolated unit normal,
 *      coloured by the engine and written into the texture, a chunk of
 *      LN__BAKE_CHUNK texels at a time (the chunk's points, normals and
 *      colours stay in the caches, and memory does not grow with the
 *      texture);
 *   3. the colours written into an 8-bit RGB image, the gutters around
 *      the charts filled ring by ring for twice the atlas padding (each
 *      chart's own colours spread outward), then every texel left from a
 *      pull-push pyramid, so neither mip levels nor a JPEG's blocks see a
 *      hard edge next to the model's colours;
 *   4. the image encoded (PNG, or JPEG at quality 90) and handed to the
 *      mesh.
 *
 * Memory at 2048 x 2048 is about 110 MB at the peak (the texel table and
 * its list, the texture and its pyramid); everything is freed before
 * returning.
 */
#include "ln_bake.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ln_alloc.h"
#include "ln_threads.h"
#include "ln_time.h"
#include "ln_uv.h"

/* Texels per chunk of step 2: points, normals and colours of 64 Ki
 * texels are 2.3 MB. */
#define LN__BAKE_CHUNK 65536

/* LN_BAKE_PROFILE=1 prints each step's wall time and the process's CPU
 * time over it (clock(); on Windows that is wall time again) to stderr,
 * for the benches; the result is the same either way. Step 2's three
 * parts are summed over its chunks. */
struct ln__bake_clock {
    int on;
    double t;
    clock_t cpu;
    double sum_wall[3], sum_cpu[3]; /* points, colours, pixels */
};

/* The time since the last tick, added to sum (when given) or printed. */
static void ln__bake_tick(struct ln__bake_clock *c, const char *step, int sum)
{
    if (!c->on)
        return;
    double now = ln_time_now();
    clock_t cpu = clock();
    double wall = now - c->t, used = (double)(cpu - c->cpu) / CLOCKS_PER_SEC;
    if (sum >= 0) {
        c->sum_wall[sum] += wall;
        c->sum_cpu[sum] += used;
    } else {
        fprintf(stderr, "bake %-8s %7.3f s wall %7.3f s cpu\n", step, wall, used);
    }
    c->t = now;
    c->cpu = cpu;
}

static void ln__bake_sums(const struct ln__bake_clock *c)
{
    static const char *const names[3] = {"points", "colours", "pixels"};
    for (int i = 0; c->on && i < 3; i++)
        fprintf(stderr, "bake %-8s %7.3f s wall %7.3f s cpu\n", names[i], c->sum_wall[i],
                c->sum_cpu[i]);
}

/* What the per-point loops below share; each point is independent. */
struct ln__bake_pts {
    const struct ln_uv_atlas *a;
    const struct ln_uv_texels *t;
    const uint32_t *texel;
    float *pts, *nrm, *rgb;
    uint8_t *px, *filled; /* the texture and which texels hold a colour */
};

/* A per-vertex 3-vector of the atlas mesh (colours, normals) at the point
 * texel i samples: its face's three values weighted by the texel's
 * barycentric weights. */
static void ln__bake_lerp(const struct ln_mesh *m, const struct ln_uv_texels *t, size_t i,
                          const float *attr, float out[3])
{
    const uint32_t *f = m->indices + 3 * (size_t)t->face[i];
    float w1 = t->bary[2 * i], w2 = t->bary[2 * i + 1], w0 = 1.0f - w1 - w2;
    for (int c = 0; c < 3; c++)
        out[c] = w0 * attr[3 * (size_t)f[0] + (size_t)c] + w1 * attr[3 * (size_t)f[1] + (size_t)c] +
                 w2 * attr[3 * (size_t)f[2] + (size_t)c];
}

/* The vertex colours, interpolated: the texture of an engine that keeps
 * nothing else (grey without colours). */
static void ln__bake_from_vertices(void *ctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct ln__bake_pts *b = ctx;
    const struct ln_mesh *m = &b->a->mesh;
    for (size_t k = begin; k < end; k++) {
        if (m->colors)
            ln__bake_lerp(m, b->t, b->texel[k], m->colors, b->rgb + 3 * k);
        else
            b->rgb[3 * k] = b->rgb[3 * k + 1] = b->rgb[3 * k + 2] = 0.5f;
    }
}

/* Each sampled texel's surface point and unit normal (interpolated). */
static void ln__bake_points(void *ctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct ln__bake_pts *b = ctx;
    const struct ln_mesh *m = &b->a->mesh;
    for (size_t k = begin; k < end; k++) {
        size_t i = b->texel[k];
        ln_uv_texels_position(b->a, b->t, i, b->pts + 3 * k);
        float v[3];
        ln__bake_lerp(m, b->t, i, m->normals, v);
        float len = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
        len = len > 0.0f ? 1.0f / sqrtf(len) : 0.0f;
        for (int c = 0; c < 3; c++)
            b->nrm[3 * k + (size_t)c] = v[c] * len;
    }
}

/* The colours into the texture's bytes (each texel once). */
static void ln__bake_pixels(void *ctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct ln__bake_pts *b = ctx;
    for (size_t k = begin; k < end; k++) {
        size_t at = b->texel[k];
        for (int c = 0; c < 3; c++) {
            float v = b->rgb[3 * k + (size_t)c];
            v = v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f; /* also NaN to 0 */
            b->px[3 * at + (size_t)c] = (uint8_t)lrintf(v * 255.0f);
        }
        b->filled[at] = 1;
    }
}

int ln__bake(struct ln_mesh *m, const struct ln_colorizer *colorizer, int size, int jpeg,
             struct ln_generate_report *rep, struct ln_error *err)
{
    struct ln_uv_options o;
    ln_uv_options_default(&o, size);
    /* A JPEG codes 8 x 8 blocks (16 x 16 for its halved chroma): charts
     * closer than a block would bleed into each other. */
    if (jpeg && o.padding < 8)
        o.padding = 8;
    struct ln_uv_atlas a = {0};
    struct ln_uv_texels t = {0};
    struct ln_buf png = {0}; /* the encoded texture, PNG or JPEG */
    uint32_t *texel = NULL;
    float *pts = NULL, *nrm = NULL, *rgb = NULL;
    uint8_t *px = NULL, *filled = NULL;
    int rc;
    const char *prof = getenv("LN_BAKE_PROFILE");
    struct ln__bake_clock clk = {
        .on = prof && *prof && *prof != '0', .t = ln_time_now(), .cpu = clock()};
    if (!m->normals && (rc = ln_mesh_compute_normals(m, err)) < 0)
        return rc;
    if ((rc = ln_uv_atlas_build(m, &o, &a, err)) < 0)
        goto done;
    ln__bake_tick(&clk, "atlas", -1);
    if ((rc = ln_uv_texels_build(&a, size, &t, err)) < 0)
        goto done;
    ln__bake_tick(&clk, "texels", -1);
    size_t n = t.n_inside + t.n_touched, n_texels = (size_t)size * (size_t)size;
    size_t chunk = n < LN__BAKE_CHUNK ? (n ? n : 1) : LN__BAKE_CHUNK;
    texel = ln_alloc_array(n ? n : 1, sizeof *texel, 0, "texture points", err);
    pts = ln_alloc_array(chunk, 3 * sizeof(float), 0, "texture points", err);
    nrm = ln_alloc_array(chunk, 3 * sizeof(float), 0, "texture points", err);
    rgb = ln_alloc_array(chunk, 3 * sizeof(float), 0, "texture colours", err);
    px = ln_alloc_array(n_texels, 3, 1, "texture image", err);
    filled = ln_alloc_array(n_texels, 1, 1, "texture image", err);
    if (!texel || !pts || !nrm || !rgb || !px || !filled) {
        rc = err ? err->code : LN_ENOMEM;
        goto done;
    }
    size_t k = 0;
    for (size_t i = 0; i < n_texels; i++)
        if (t.face[i] != LN_UV_EMPTY)
            texel[k++] = (uint32_t)i;
    ln__bake_tick(&clk, "list", -1);
    for (size_t k0 = 0; k0 < n; k0 += chunk) {
        size_t cnt = n - k0 < chunk ? n - k0 : chunk;
        struct ln__bake_pts job = {.a = &a,
                                   .t = &t,
                                   .texel = texel + k0,
                                   .pts = pts,
                                   .nrm = nrm,
                                   .rgb = rgb,
                                   .px = px,
                                   .filled = filled};
        if (colorizer && colorizer->color) {
            ln_parallel_for(cnt, 4096, ln__bake_points, &job);
            ln__bake_tick(&clk, NULL, 0);
            if ((rc = colorizer->color(colorizer->state, pts, nrm, cnt, rgb, err)) < 0)
                goto done;
        } else {
            ln_parallel_for(cnt, 4096, ln__bake_from_vertices, &job);
        }
        ln__bake_tick(&clk, NULL, 1);
        ln_parallel_for(cnt, 8192, ln__bake_pixels, &job);
        ln__bake_tick(&clk, NULL, 2);
    }
    ln__bake_sums(&clk);
    if ((rc = ln_uv_dilate(px, 3, filled, size, 2 * o.padding, err)) < 0)
        goto done;
    ln__bake_tick(&clk, "gutters", -1);
    if ((rc = ln_uv_fill_rest(px, 3, filled, size, err)) < 0)
        goto done;
    ln__bake_tick(&clk, "fill", -1);
    struct ln_image img = {.width = size, .height = size, .channels = 3, .data = px};
    rc = jpeg ? ln_image_encode_jpeg(&img, 90, &png, err)
              : ln_image_encode_png_fast(&img, &png, err);
    if (rc < 0)
        goto done;
    ln__bake_tick(&clk, "encode", -1);
    ln_mesh_free(m);
    *m = a.mesh;
    memset(&a.mesh, 0, sizeof a.mesh);
    m->texture = (struct ln_mesh_texture){.data = png.data, .size = png.len, .jpeg = jpeg != 0};
    png.data = NULL;
    if (rep) {
        rep->texture_size = size;
        rep->texture_charts = a.stats.n_charts;
        rep->texture_fill = a.stats.utilisation;
    }
    rc = LN_OK;
done:
    free(png.data);
    free(texel);
    free(pts);
    free(nrm);
    free(rgb);
    free(px);
    free(filled);
    ln_uv_texels_free(&t);
    ln_uv_atlas_free(&a);
    return rc;
}
