/*
 * A small rasteriser for the bench: the product's preview renderer frames
 * every mesh to its bounding sphere, while the bench needs the exact
 * cameras of ln_camera.h (the engines read the views through them), so
 * vertices are projected here with ln_camera_project itself. Triangles are
 * filled by edge functions at pixel centres with a depth buffer;
 * attributes are interpolated perspective-correctly. One thread, faces in
 * order, so a picture depends on nothing but its inputs.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "ln_alloc.h"
#include "shapes_common.h"

/* The light background and the world light (from the upper front left). */
#define LN__BACKGROUND 0.93f
#define LN__AMBIENT 0.35f
#define LN__DIFFUSE 0.65f
static const float ln__light[3] = {-0.38f, 0.72f, 0.58f};

/* --lighting: each view's photo as another exposure and white balance
 * (a gain per channel on the stored sRGB values, 0.85 to 1.15, as a
 * camera's automatic exposure and white balance change them) and a light
 * turned about the vertical by a few degrees, so shading differs between
 * views in a way no gain explains. A fixed table: the same view index
 * gives the same photo. */
static const float ln__view_gain[8][3] = {
    {1.12f, 1.05f, 0.92f}, {0.87f, 0.90f, 0.95f}, {1.04f, 1.15f, 1.10f}, {0.93f, 0.86f, 1.13f},
    {1.15f, 0.97f, 0.88f}, {0.90f, 1.08f, 0.99f}, {1.07f, 0.92f, 1.14f}, {0.86f, 1.02f, 0.89f}};
static const float ln__view_turn[8] = {12.0f, -8.0f, 5.0f, -12.0f, 8.0f, -5.0f, 10.0f, -10.0f};

void ln_shapes_lighting(int view, struct ln_shapes_light *out)
{
    const float *g = ln__view_gain[view & 7];
    float a = ln__view_turn[view & 7] * 3.14159265f / 180.0f, c = cosf(a), s = sinf(a);
    for (int k = 0; k < 3; k++)
        out->gain[k] = g[k];
    out->dir[0] = c * ln__light[0] + s * ln__light[2];
    out->dir[1] = ln__light[1];
    out->dir[2] = -s * ln__light[0] + c * ln__light[2];
}

struct ln__proj {
    float x, y; /* pixel coordinates, pixel (i, j) has its centre at (i + 0.5, j + 0.5) */
    float w;    /* 1 / depth for perspective, 1 for orthographic */
    float z;    /* depth */
    int ok;
};

/* Every vertex of mesh in pixel coordinates of a side x side image. */
static int ln__project_all(const struct ln_mesh *mesh, const struct ln_camera *cam, int side,
                           struct ln__proj **out, struct ln_error *err)
{
    struct ln__proj *p = ln_alloc_array(mesh->n_vertices, sizeof *p, 0, "projection", err);
    if (!p)
        return err ? err->code : LN_ENOMEM;
    int persp = cam->projection == LN_PROJECTION_PERSPECTIVE;
    for (size_t v = 0; v < mesh->n_vertices; v++) {
        float u, vv, d;
        p[v].ok = ln_camera_project(cam, mesh->positions + 3 * v, &u, &vv, &d) == 0;
        p[v].x = u * (float)side;
        p[v].y = vv * (float)side;
        p[v].z = d;
        p[v].w = persp ? 1.0f / d : 1.0f;
    }
    *out = p;
    return LN_OK;
}

/* Calls fn for every pixel centre inside face f, with the perspective-
 * correct barycentric weights and the depth there. */
typedef void (*ln__pixel_fn)(void *ctx, int x, int y, const float bary[3], float depth);

static void ln__fill(const struct ln__proj *p, const uint32_t *f, int side, ln__pixel_fn fn,
                     void *ctx)
{
    const struct ln__proj *a = &p[f[0]], *b = &p[f[1]], *c = &p[f[2]];
    if (!a->ok || !b->ok || !c->ok)
        return;
    float area = (b->x - a->x) * (c->y - a->y) - (b->y - a->y) * (c->x - a->x);
    if (fabsf(area) < 1e-12f)
        return;
    int x0 = (int)floorf(fminf(a->x, fminf(b->x, c->x)) - 0.5f);
    int x1 = (int)ceilf(fmaxf(a->x, fmaxf(b->x, c->x)) - 0.5f);
    int y0 = (int)floorf(fminf(a->y, fminf(b->y, c->y)) - 0.5f);
    int y1 = (int)ceilf(fmaxf(a->y, fmaxf(b->y, c->y)) - 0.5f);
    if (x0 < 0)
        x0 = 0;
    if (y0 < 0)
        y0 = 0;
    if (x1 > side - 1)
        x1 = side - 1;
    if (y1 > side - 1)
        y1 = side - 1;
    float inv = 1.0f / area;
    for (int y = y0; y <= y1; y++) {
        float py = (float)y + 0.5f;
        for (int x = x0; x <= x1; x++) {
            float px = (float)x + 0.5f;
            float l0 = ((b->x - px) * (c->y - py) - (b->y - py) * (c->x - px)) * inv;
            float l1 = ((c->x - px) * (a->y - py) - (c->y - py) * (a->x - px)) * inv;
            float l2 = 1.0f - l0 - l1;
            if (l0 < 0.0f || l1 < 0.0f || l2 < 0.0f)
                continue;
            float w0 = l0 * a->w, w1 = l1 * b->w, w2 = l2 * c->w, ws = w0 + w1 + w2;
            float bary[3] = {w0 / ws, w1 / ws, w2 / ws};
            float depth = bary[0] * a->z + bary[1] * b->z + bary[2] * c->z;
            fn(ctx, x, y, bary, depth);
        }
    }
}

struct ln__shade {
    const struct ln_mesh *mesh;
    const uint32_t *face;
    float *zbuf;
    float *rgb;
    const float *light;
    int side;
};

static void ln__shade_pixel(void *ctx, int x, int y, const float bary[3], float depth)
{
    struct ln__shade *s = ctx;
    size_t i = (size_t)y * (size_t)s->side + (size_t)x;
    if (depth >= s->zbuf[i])
        return;
    s->zbuf[i] = depth;
    float p[3] = {0, 0, 0}, n[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++) {
        const float *vp = s->mesh->positions + 3 * s->face[k];
        const float *vn = s->mesh->normals + 3 * s->face[k];
        for (int a = 0; a < 3; a++) {
            p[a] += bary[k] * vp[a];
            n[a] += bary[k] * vn[a];
        }
    }
    float nl = sqrtf(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
    const float *l = s->light;
    float ll = sqrtf(l[0] * l[0] + l[1] * l[1] + l[2] * l[2]);
    float lambert = nl > 0.0f ? (n[0] * l[0] + n[1] * l[1] + n[2] * l[2]) / (nl * ll) : 0.0f;
    float shade = LN__AMBIENT + LN__DIFFUSE * fmaxf(lambert, 0.0f);
    float alb[3];
    ln_shapes_albedo(p, alb);
    for (int a = 0; a < 3; a++)
        s->rgb[3 * i + a] = alb[a] * shade;
}

/* Linear reflectance to an sRGB byte, times gain. */
static uint8_t ln__srgb8(float v, float gain)
{
    v = fminf(fmaxf(v, 0.0f), 1.0f);
    float s = v <= 0.0031308f ? 12.92f * v : 1.055f * powf(v, 1.0f / 2.4f) - 0.055f;
    return (uint8_t)lrintf(fminf(s * gain, 1.0f) * 255.0f);
}

int ln_shapes_render(const struct ln_mesh *mesh, const struct ln_camera *cam, int side, int ss,
                     struct ln_image *out, struct ln_error *err)
{
    return ln_shapes_render_lit(mesh, cam, side, ss, NULL, out, err);
}

int ln_shapes_render_lit(const struct ln_mesh *mesh, const struct ln_camera *cam, int side, int ss,
                         const struct ln_shapes_light *light, struct ln_image *out,
                         struct ln_error *err)
{
    if (!mesh->normals)
        return ln_error_set(err, LN_EINVAL, "render: the mesh has no normals");
    const int big = side * ss;
    size_t n_big = (size_t)big * (size_t)big;
    struct ln__proj *proj = NULL;
    float *zbuf = ln_alloc_array(n_big, sizeof(float), 0, "depth buffer", err);
    float *rgb = ln_alloc_array(n_big, 3 * sizeof(float), 0, "colour buffer", err);
    int rc = LN_OK;
    if (!zbuf || !rgb) {
        rc = err ? err->code : LN_ENOMEM;
        goto done;
    }
    if ((rc = ln__project_all(mesh, cam, big, &proj, err)) < 0)
        goto done;
    /* The background is linear 0.93 * 0.93 ~ sRGB 0.93 after encoding: a
     * light, even grey. */
    const float bg = LN__BACKGROUND * LN__BACKGROUND;
    for (size_t i = 0; i < n_big; i++) {
        zbuf[i] = INFINITY;
        rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = bg;
    }
    struct ln__shade s = {.mesh = mesh,
                          .zbuf = zbuf,
                          .rgb = rgb,
                          .light = light ? light->dir : ln__light,
                          .side = big};
    for (size_t f = 0; f < mesh->n_faces; f++) {
        s.face = mesh->indices + 3 * f;
        ln__fill(proj, s.face, big, ln__shade_pixel, &s);
    }
    if ((rc = ln_image_alloc(out, side, side, 3, err)) < 0)
        goto done;
    /* Box filter over the ss x ss samples, in linear light. */
    const float norm = 1.0f / (float)(ss * ss);
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++) {
            float acc[3] = {0, 0, 0};
            for (int dy = 0; dy < ss; dy++)
                for (int dx = 0; dx < ss; dx++) {
                    size_t i = (size_t)(y * ss + dy) * (size_t)big + (size_t)(x * ss + dx);
                    for (int a = 0; a < 3; a++)
                        acc[a] += rgb[3 * i + a];
                }
            uint8_t *px = out->data + 3 * ((size_t)y * (size_t)side + (size_t)x);
            for (int a = 0; a < 3; a++)
                px[a] = ln__srgb8(acc[a] * norm, light ? light->gain[a] : 1.0f);
        }
done:
    free(proj);
    free(zbuf);
    free(rgb);
    return rc;
}

struct ln__cover {
    uint8_t *mask;
    int side;
};

static void ln__cover_pixel(void *ctx, int x, int y, const float bary[3], float depth)
{
    (void)bary;
    (void)depth;
    struct ln__cover *c = ctx;
    c->mask[(size_t)y * (size_t)c->side + (size_t)x] = 1;
}

int ln_shapes_mask(const struct ln_mesh *mesh, const struct ln_camera *cam, int side, uint8_t *mask,
                   struct ln_error *err)
{
    struct ln__proj *proj = NULL;
    int rc = ln__project_all(mesh, cam, side, &proj, err);
    if (rc < 0)
        return rc;
    memset(mask, 0, (size_t)side * (size_t)side);
    struct ln__cover c = {mask, side};
    for (size_t f = 0; f < mesh->n_faces; f++)
        ln__fill(proj, mesh->indices + 3 * f, side, ln__cover_pixel, &c);
    free(proj);
    return LN_OK;
}

/* libjpeg's default error handler exits; compression of our own valid
 * buffer cannot fail except for memory, which aborts here too. */
int ln_shapes_jpeg_roundtrip(const struct ln_image *rgb, int quality, struct ln_image *out,
                             size_t *jpeg_bytes, struct ln_error *err)
{
    if (rgb->channels != 3)
        return ln_error_set(err, LN_EINVAL, "jpeg: RGB input expected");
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    unsigned char *buf = NULL;
    unsigned long len = 0;
    jpeg_mem_dest(&ci, &buf, &len);
    ci.image_width = (JDIMENSION)rgb->width;
    ci.image_height = (JDIMENSION)rgb->height;
    ci.input_components = 3;
    ci.in_color_space = JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, quality, TRUE);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = rgb->data + (size_t)ci.next_scanline * (size_t)rgb->width * 3;
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    if (jpeg_bytes)
        *jpeg_bytes = (size_t)len;
    int rc = ln_image_decode(buf, (size_t)len, NULL, out, err);
    free(buf);
    return rc;
}
