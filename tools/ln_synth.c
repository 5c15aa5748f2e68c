/*
 * ln-synth: makes the synthetic inputs that the end-to-end tests, the
 * benchmarks and the bundled example use, so none of them depends on
 * outside files. Objects are drawn analytically, which also gives the
 * tests an independent expectation of the shape.
 *
 *   ln-synth photo OUT.png [SIZE]        a mug-like object on a plain, noisy
 *                                        background (a "product photo")
 *   ln-synth views PREFIX N [SIZE] [perspective]
 *                                        N views (az = i*360/N, el 0) of a
 *                                        box with coloured faces on white,
 *                                        written as PREFIX-<i>.png
 *   ln-synth blank OUT.png [SIZE]        plain noisy background, no object
 *   ln-synth text OUT                    a text file, for bad-input tests
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_camera.h"
#include "ln_error.h"
#include "ln_image.h"

/* Deterministic noise (xorshift), so every run makes the same files. */
static uint32_t ln__rng = 2463534242u;

static float ln__noise(void)
{
    ln__rng ^= ln__rng << 13;
    ln__rng ^= ln__rng >> 17;
    ln__rng ^= ln__rng << 5;
    return (float)(ln__rng & 0xffff) / 65535.0f - 0.5f;
}

static uint8_t ln__u8(float v)
{
    return (uint8_t)(v < 0.0f ? 0 : v > 255.0f ? 255 : (int)(v + 0.5f));
}

static int ln__save(struct ln_image *img, const char *path)
{
    struct ln_error err = {0};
    if (ln_image_save_png(img, path, &err) < 0) {
        fprintf(stderr, "ln-synth: %s\n", err.message);
        return 1;
    }
    return 0;
}

/* A mug: a rounded body with a handle, lit from the upper left. */
static int ln__photo(const char *path, int size)
{
    struct ln_image img = {0};
    if (ln_image_alloc(&img, size, size, 4, NULL) < 0)
        return 1;
    float s = (float)size;
    for (int y = 0; y < size; y++) {
        for (int x = 0; x < size; x++) {
            float u = (x + 0.5f) / s, v = (y + 0.5f) / s;
            /* background: light grey with a gentle vertical gradient and noise */
            float bg = 226.0f - 14.0f * v;
            float r = bg, g = bg, b = bg + 3.0f;
            /* body: rounded rectangle */
            float bx = fabsf(u - 0.46f) - 0.20f, by = fabsf(v - 0.52f) - 0.26f;
            float body = fmaxf(bx, by) < 0.0f ? 1.0f : 0.0f;
            if (bx > -0.04f && by > -0.04f) {
                float dx = fmaxf(bx + 0.04f, 0.0f), dy = fmaxf(by + 0.04f, 0.0f);
                body = dx * dx + dy * dy < 0.04f * 0.04f ? 1.0f : 0.0f;
            }
            /* handle: a ring on the right */
            float hx = u - 0.68f, hy = (v - 0.52f) / 1.3f;
            float hr = sqrtf(hx * hx + hy * hy);
            int handle = hr > 0.07f && hr < 0.12f && u > 0.64f;
            if (body > 0.0f) {
                float shade = 0.75f + 0.45f * (0.5f - fabsf(u - 0.40f) * 2.2f);
                r = 40.0f + 170.0f * shade;
                g = 70.0f + 60.0f * shade;
                b = 150.0f + 80.0f * shade;
                if (fabsf(v - 0.45f) < 0.035f) { /* a stripe */
                    r = 240.0f * shade;
                    g = 200.0f * shade;
                    b = 60.0f * shade;
                }
            } else if (handle) {
                r = 60.0f;
                g = 90.0f;
                b = 190.0f;
            }
            uint8_t *p = img.data + ((size_t)y * size + x) * 4;
            p[0] = ln__u8(r + 10.0f * ln__noise());
            p[1] = ln__u8(g + 10.0f * ln__noise());
            p[2] = ln__u8(b + 10.0f * ln__noise());
            p[3] = 255;
        }
    }
    int rc = ln__save(&img, path);
    ln_image_free(&img);
    return rc;
}

/* Box of half-extents (0.35, 0.25, 0.2): ray/box slab intersection, colour
 * by the face hit. */
static int ln__views(const char *prefix, int n, int size, int perspective)
{
    static const float half[3] = {0.35f, 0.25f, 0.2f};
    static const uint8_t face_rgb[6][3] = {
        {220, 40, 40},  /* +X red */
        {40, 160, 60},  /* -X green */
        {240, 200, 40}, /* +Y yellow */
        {120, 60, 20},  /* -Y brown */
        {40, 80, 220},  /* +Z blue */
        {200, 60, 200}, /* -Z magenta */
    };
    struct ln_camera_options co;
    ln_camera_options_default(&co);
    if (perspective)
        co.projection = LN_PROJECTION_PERSPECTIVE;
    struct ln_view views[8];
    ln_views_default(views, n);
    for (int vi = 0; vi < n; vi++) {
        struct ln_camera cam;
        ln_camera_init(&cam, &views[vi], &co);
        struct ln_image img = {0};
        if (ln_image_alloc(&img, size, size, 4, NULL) < 0)
            return 1;
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                float o[3], d[3];
                ln_camera_ray(&cam, (x + 0.5f) / size, (y + 0.5f) / size, o, d);
                float tn = -1e30f, tf = 1e30f;
                int axis = -1, sign = 0;
                for (int a = 0; a < 3; a++) {
                    float inv = 1.0f / (fabsf(d[a]) > 1e-9f ? d[a] : 1e-9f);
                    float t0 = (-half[a] - o[a]) * inv, t1 = (half[a] - o[a]) * inv;
                    int s = t0 < t1 ? -1 : 1; /* face entered first */
                    if (t0 > t1) {
                        float t = t0;
                        t0 = t1;
                        t1 = t;
                    }
                    if (t0 > tn) {
                        tn = t0;
                        axis = a;
                        sign = s;
                    }
                    if (t1 < tf)
                        tf = t1;
                }
                uint8_t *p = img.data + ((size_t)y * size + x) * 4;
                if (tn < tf && tf > 0.0f && axis >= 0) {
                    const uint8_t *c = face_rgb[2 * axis + (sign < 0 ? 1 : 0)];
                    for (int k = 0; k < 3; k++)
                        p[k] = c[k];
                } else {
                    p[0] = p[1] = p[2] = 255;
                }
                p[3] = 255;
            }
        }
        char path[4096];
        snprintf(path, sizeof path, "%s-%d.png", prefix, vi);
        int rc = ln__save(&img, path);
        ln_image_free(&img);
        if (rc)
            return rc;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "photo") == 0)
        return ln__photo(argv[2], argc > 3 ? atoi(argv[3]) : 512);
    if (argc >= 4 && strcmp(argv[1], "views") == 0)
        return ln__views(argv[2], atoi(argv[3]), argc > 4 ? atoi(argv[4]) : 512,
                         argc > 5 && strcmp(argv[5], "perspective") == 0);
    if (argc >= 3 && strcmp(argv[1], "blank") == 0) {
        int size = argc > 3 ? atoi(argv[3]) : 256;
        struct ln_image img = {0};
        if (size < 1 || ln_image_alloc(&img, size, size, 4, NULL) < 0)
            return 1;
        for (size_t i = 0; i < (size_t)size * size; i++) {
            for (int k = 0; k < 3; k++)
                img.data[4 * i + k] = ln__u8(200.0f + 8.0f * ln__noise());
            img.data[4 * i + 3] = 255;
        }
        int rc = ln__save(&img, argv[2]);
        ln_image_free(&img);
        return rc;
    }
    if (argc >= 3 && strcmp(argv[1], "text") == 0) {
        FILE *f = fopen(argv[2], "w");
        if (!f)
            return 1;
        fputs("this is not an image\n", f);
        return fclose(f) != 0;
    }
    fputs("usage: ln-synth photo OUT.png [SIZE] | views PREFIX N [SIZE] [perspective] |\n"
          "       blank OUT.png [SIZE] | text OUT\n",
          stderr);
    return 2;
}
