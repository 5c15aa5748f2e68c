/* Drawing of the synthetic inputs described in ln_synth.h. */
#include "ln_synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_camera.h"

/* Deterministic noise (xorshift), so every run makes the same files. */
static uint32_t ln__rng = 2463534242u;

float ln_synth_noise(void)
{
    ln__rng ^= ln__rng << 13;
    ln__rng ^= ln__rng >> 17;
    ln__rng ^= ln__rng << 5;
    return (float)(ln__rng & 0xffff) / 65535.0f - 0.5f;
}

uint8_t ln_synth_u8(float v)
{
    return (uint8_t)(v < 0.0f ? 0 : v > 255.0f ? 255 : (int)(v + 0.5f));
}

/* A mug: a rounded body with a handle, lit from the upper left. */
int ln_synth_photo(struct ln_image *img_out, int size)
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
            p[0] = ln_synth_u8(r + 10.0f * ln_synth_noise());
            p[1] = ln_synth_u8(g + 10.0f * ln_synth_noise());
            p[2] = ln_synth_u8(b + 10.0f * ln_synth_noise());
            p[3] = 255;
        }
    }
    *img_out = img;
    return 0;
}

/* Box of half-extents (0.35, 0.25, 0.2): ray/box slab intersection, colour
 * by the face hit. */
int ln_synth_box_views(struct ln_image *out, int n, int size, int perspective)
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
        out[vi] = img;
    }
    return 0;
}

void ln_synth_blank(struct ln_image *img_out, int size)
{
    struct ln_image img = {0};
    if (ln_image_alloc(&img, size, size, 4, NULL) < 0)
        return;
    for (size_t i = 0; i < (size_t)size * size; i++) {
        for (int k = 0; k < 3; k++)
            img.data[4 * i + k] = ln_synth_u8(200.0f + 8.0f * ln_synth_noise());
        img.data[4 * i + 3] = 255;
    }
    *img_out = img;
}
