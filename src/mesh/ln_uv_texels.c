/*
 * Texels of an atlas (ln_uv.h): each face rasterised into the texture in
 * texel coordinates, first the texels whose centres it covers (barycentric
 * weights of the centre), then, for the texels around it that it only
 * touches, the face's point closest to the texel's centre. The texture is
 * cut into bands of 32 rows spread over the threads; each band takes the
 * faces that reach it in face order, so the result depends only on the
 * atlas.
 *
 * Then the gutter fill: a ring of empty texels at a time takes the mean of
 * its already filled neighbours (8-connected), reading only texels filled
 * before the ring, so the order within a ring does not matter. Each ring is
 * a list made from the one before, so the work follows the gutters' area,
 * not the texture's.
 */
#include "ln_uv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_threads.h"

enum { LN__TEXEL_EMPTY, LN__TEXEL_TOUCHED, LN__TEXEL_INSIDE };

/* In the gutter fill's mask: an empty texel already in the next ring. */
#define LN__QUEUED 255

/* The point of segment ab closest to p, as the parameter along it. */
static double ln__segment_t(const double a[2], const double b[2], const double p[2])
{
    double dx = b[0] - a[0], dy = b[1] - a[1], len2 = dx * dx + dy * dy;
    if (len2 == 0.0)
        return 0.0;
    double t = ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2;
    return t < 0.0 ? 0.0 : t > 1.0 ? 1.0 : t;
}

/* Whether the triangle meets the square [x, x+1] x [y, y+1]: no edge normal
 * of the triangle separates them (the boxes' overlap is the caller's). */
static int ln__touches(const double c[3][2], double x, double y)
{
    for (int e = 0; e < 3; e++) {
        const double *a = c[e], *b = c[(e + 1) % 3], *o = c[(e + 2) % 3];
        double nx = -(b[1] - a[1]), ny = b[0] - a[0];
        double side = nx * (o[0] - a[0]) + ny * (o[1] - a[1]);
        /* the square is separated when all its corners are strictly on the
         * other side of the edge than the third corner */
        int all_out = 1;
        for (int k = 0; k < 4 && all_out; k++) {
            double qx = x + (k & 1), qy = y + (k >> 1);
            double s = nx * (qx - a[0]) + ny * (qy - a[1]);
            all_out = side > 0.0 ? s < 0.0 : s > 0.0;
        }
        if (all_out)
            return 0;
    }
    return 1;
}

/* Rasterises face f into the rows [row0, row1) of the texture; counts
 * into counts[0] (inside) and counts[1] (touched). */
static void ln__raster_face(struct ln_uv_texels *t, uint8_t *kind, const struct ln_uv_atlas *a,
                            size_t f, int row0, int row1, size_t counts[2])
{
    const int n = t->size;
    const uint32_t *fi = a->mesh.indices + 3 * f;
    double c[3][2];
    for (int k = 0; k < 3; k++) {
        c[k][0] = (double)a->mesh.uvs[2 * (size_t)fi[k]] * n;
        c[k][1] = (double)a->mesh.uvs[2 * (size_t)fi[k] + 1] * n;
    }
    double s2 = (c[1][0] - c[0][0]) * (c[2][1] - c[0][1]) - (c[2][0] - c[0][0]) * (c[1][1] - c[0][1]);
    if (s2 == 0.0 || !isfinite(s2))
        return;
    double lo[2], hi[2];
    for (int d = 0; d < 2; d++) {
        lo[d] = fmin(c[0][d], fmin(c[1][d], c[2][d]));
        hi[d] = fmax(c[0][d], fmax(c[1][d], c[2][d]));
    }
    int x0 = (int)floor(lo[0]), x1 = (int)floor(hi[0]);
    int y0 = (int)floor(lo[1]), y1 = (int)floor(hi[1]);
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < row0 ? row0 : y0;
    x1 = x1 >= n ? n - 1 : x1;
    y1 = y1 >= row1 ? row1 - 1 : y1;
    /* A centre further than half a texel's diagonal outside an edge's line
     * is in a texel the face does not touch: far[k] is that distance for
     * the edge opposite corner k, as a barycentric weight. */
    double far[3];
    for (int k = 0; k < 3; k++) {
        const double *ea = c[(k + 1) % 3], *eb = c[(k + 2) % 3];
        double len = sqrt((eb[0] - ea[0]) * (eb[0] - ea[0]) + (eb[1] - ea[1]) * (eb[1] - ea[1]));
        far[k] = -0.7072 * len / fabs(s2);
    }
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            size_t at = (size_t)y * (size_t)n + (size_t)x;
            if (kind[at] == LN__TEXEL_INSIDE)
                continue;
            double p[2] = {x + 0.5, y + 0.5};
            /* barycentric weights of the centre: w[k] for corner k */
            double w1 = ((p[0] - c[0][0]) * (c[2][1] - c[0][1]) -
                         (c[2][0] - c[0][0]) * (p[1] - c[0][1])) / s2;
            double w2 = ((c[1][0] - c[0][0]) * (p[1] - c[0][1]) -
                         (p[0] - c[0][0]) * (c[1][1] - c[0][1])) / s2;
            double w0 = 1.0 - w1 - w2;
            if (w0 >= 0.0 && w1 >= 0.0 && w2 >= 0.0) {
                counts[1] -= kind[at] == LN__TEXEL_TOUCHED;
                counts[0]++;
                kind[at] = LN__TEXEL_INSIDE;
            } else if (kind[at] == LN__TEXEL_EMPTY && w0 > far[0] && w1 > far[1] && w2 > far[2] &&
                       ln__touches(c, x, y)) {
                /* the closest point lies on an edge: the nearest of the three */
                double best = INFINITY;
                for (int e = 0; e < 3; e++) {
                    const double *ea = c[e], *eb = c[(e + 1) % 3];
                    double s = ln__segment_t(ea, eb, p);
                    double q[2] = {ea[0] + s * (eb[0] - ea[0]), ea[1] + s * (eb[1] - ea[1])};
                    double d = (q[0] - p[0]) * (q[0] - p[0]) + (q[1] - p[1]) * (q[1] - p[1]);
                    if (d < best) {
                        best = d;
                        double wk[3] = {0.0, 0.0, 0.0};
                        wk[e] = 1.0 - s;
                        wk[(e + 1) % 3] = s;
                        w1 = wk[1];
                        w2 = wk[2];
                    }
                }
                counts[1]++;
                kind[at] = LN__TEXEL_TOUCHED;
            } else {
                continue;
            }
            t->face[at] = (uint32_t)f;
            t->bary[2 * at] = (float)w1;
            t->bary[2 * at + 1] = (float)w2;
        }
}

/* Bands of rows: each band takes every face that reaches it, in face
 * order, so the result is the same for any thread count. */
#define LN__BAND_ROWS 32

struct ln__raster {
    struct ln_uv_texels *t;
    uint8_t *kind;
    const struct ln_uv_atlas *a;
    size_t *counts;       /* 2 per band */
    const size_t *start;  /* per band + 1: where its faces are in faces */
    const uint32_t *faces; /* each band's faces, in face order */
};

/* The bands a face's UV box reaches: rows floor(lo) .. floor(hi). */
static void ln__face_bands(const struct ln_uv_atlas *a, size_t f, int n, size_t n_bands,
                           size_t *b0, size_t *b1)
{
    const uint32_t *fi = a->mesh.indices + 3 * f;
    float v0 = a->mesh.uvs[2 * (size_t)fi[0] + 1], v1 = a->mesh.uvs[2 * (size_t)fi[1] + 1],
          v2 = a->mesh.uvs[2 * (size_t)fi[2] + 1];
    double lo = floor((double)fminf(v0, fminf(v1, v2)) * n);
    double hi = floor((double)fmaxf(v0, fmaxf(v1, v2)) * n);
    lo = lo < 0.0 ? 0.0 : lo;
    hi = hi > n - 1 ? n - 1 : hi;
    if (!(lo <= hi)) { /* outside the texture, or not a number */
        *b0 = 1;
        *b1 = 0;
        return;
    }
    *b0 = (size_t)lo / LN__BAND_ROWS;
    *b1 = (size_t)hi / LN__BAND_ROWS;
    if (*b1 >= n_bands)
        *b1 = n_bands - 1;
}

static void ln__raster_band(void *ctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct ln__raster *r = ctx;
    const int n = r->t->size;
    for (size_t b = begin; b < end; b++) {
        int row0 = (int)b * LN__BAND_ROWS;
        int row1 = row0 + LN__BAND_ROWS < n ? row0 + LN__BAND_ROWS : n;
        for (size_t i = r->start[b]; i < r->start[b + 1]; i++)
            ln__raster_face(r->t, r->kind, r->a, r->faces[i], row0, row1, r->counts + 2 * b);
    }
}

int ln_uv_texels_build(const struct ln_uv_atlas *a, int size, struct ln_uv_texels *t,
                       struct ln_error *err)
{
    memset(t, 0, sizeof *t);
    if (size < 1 || size > 16384)
        return ln_error_set(err, LN_EINVAL, "texture size must be 1 to 16384 texels (got %d)",
                            size);
    size_t n = (size_t)size * (size_t)size;
    t->face = ln_alloc_array(n, sizeof *t->face, 0, "texture texels", err);
    t->bary = ln_alloc_array(n, 2 * sizeof *t->bary, 1, "texture texels", err);
    uint8_t *kind = ln_alloc_array(n, 1, 1, "texture texels", err);
    if (!t->face || !t->bary || !kind) {
        free(kind);
        ln_uv_texels_free(t);
        return err ? err->code : LN_ENOMEM;
    }
    t->size = size;
    for (size_t i = 0; i < n; i++)
        t->face[i] = LN_UV_EMPTY;
    size_t n_bands = ((size_t)size + LN__BAND_ROWS - 1) / LN__BAND_ROWS;
    size_t *counts = ln_alloc_array(n_bands, 2 * sizeof *counts, 1, "texture texels", err);
    size_t *start = ln_alloc_array(n_bands + 1, sizeof *start, 1, "texture texels", err);
    /* each band's faces: counted, then listed in face order */
    size_t listed = 0;
    for (size_t f = 0; start && f < a->mesh.n_faces; f++) {
        size_t b0, b1;
        ln__face_bands(a, f, size, n_bands, &b0, &b1);
        for (size_t b = b0; b <= b1 && b0 <= b1; b++, listed++)
            start[b + 1]++;
    }
    uint32_t *faces = start ? ln_alloc_array(listed ? listed : 1, sizeof *faces, 0,
                                             "texture texels", err)
                            : NULL;
    if (!counts || !start || !faces) {
        free(counts);
        free(start);
        free(faces);
        free(kind);
        ln_uv_texels_free(t);
        return err ? err->code : LN_ENOMEM;
    }
    for (size_t b = 0; b < n_bands; b++)
        start[b + 1] += start[b];
    for (size_t f = 0; f < a->mesh.n_faces; f++) {
        size_t b0, b1;
        ln__face_bands(a, f, size, n_bands, &b0, &b1);
        for (size_t b = b0; b <= b1 && b0 <= b1; b++)
            faces[start[b]++] = (uint32_t)f;
    }
    for (size_t b = n_bands; b > 0; b--)
        start[b] = start[b - 1];
    start[0] = 0;
    struct ln__raster r = {
        .t = t, .kind = kind, .a = a, .counts = counts, .start = start, .faces = faces};
    ln_parallel_for(n_bands, 1, ln__raster_band, &r);
    free(start);
    free(faces);
    for (size_t b = 0; b < n_bands; b++) {
        t->n_inside += counts[2 * b];
        t->n_touched += counts[2 * b + 1];
    }
    free(counts);
    free(kind);
    return LN_OK;
}

void ln_uv_texels_position(const struct ln_uv_atlas *a, const struct ln_uv_texels *t,
                           size_t texel, float p[3])
{
    const uint32_t *fi = a->mesh.indices + 3 * (size_t)t->face[texel];
    float w1 = t->bary[2 * texel], w2 = t->bary[2 * texel + 1], w0 = 1.0f - w1 - w2;
    const float *p0 = a->mesh.positions + 3 * (size_t)fi[0];
    const float *p1 = a->mesh.positions + 3 * (size_t)fi[1];
    const float *p2 = a->mesh.positions + 3 * (size_t)fi[2];
    for (int k = 0; k < 3; k++)
        p[k] = w0 * p0[k] + w1 * p1[k] + w2 * p2[k];
}

void ln_uv_texels_free(struct ln_uv_texels *t)
{
    free(t->face);
    free(t->bary);
    memset(t, 0, sizeof *t);
}

/* A growable list of texel indices. */
struct ln__texel_list {
    uint32_t *v;
    size_t n, cap;
};

static int ln__list_push(struct ln__texel_list *l, uint32_t x, struct ln_error *err)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 4096;
        uint32_t *v = ln_realloc(l->v, cap * sizeof *v);
        if (!v)
            return ln_error_set(err, LN_ENOMEM, "out of memory filling a texture's gutters");
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = x;
    return LN_OK;
}

/* Queues the empty 8-neighbours of texel at (not queued yet: marked). */
static int ln__queue_neighbours(uint8_t *filled, int size, size_t at, struct ln__texel_list *next,
                                struct ln_error *err)
{
    int x = (int)(at % (size_t)size), y = (int)(at / (size_t)size);
    for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++) {
            int nx = x + dx, ny = y + dy;
            if (nx < 0 || ny < 0 || nx >= size || ny >= size)
                continue;
            size_t nb = (size_t)ny * (size_t)size + (size_t)nx;
            if (filled[nb] != 0)
                continue;
            filled[nb] = LN__QUEUED;
            if (ln__list_push(next, (uint32_t)nb, err) < 0)
                return LN_ENOMEM;
        }
    return LN_OK;
}

/* One ring of the gutter fill: each listed texel takes the mean of its
 * neighbours filled by rings 1 .. r (it is marked QUEUED, so no texel of
 * the ring reads another). */
struct ln__ring {
    uint8_t *pixels;
    const uint8_t *filled;
    const uint32_t *list;
    int size, channels, r;
};

static void ln__ring_body(void *ctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct ln__ring *g = ctx;
    const int size = g->size, channels = g->channels;
    for (size_t i = begin; i < end; i++) {
        size_t at = g->list[i];
        int x = (int)(at % (size_t)size), y = (int)(at / (size_t)size);
        unsigned sum[4] = {0, 0, 0, 0}, count = 0;
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                int nx = x + dx, ny = y + dy;
                if (nx < 0 || ny < 0 || nx >= size || ny >= size)
                    continue;
                size_t nb = (size_t)ny * (size_t)size + (size_t)nx;
                if (g->filled[nb] == 0 || g->filled[nb] > g->r)
                    continue;
                for (int c = 0; c < channels; c++)
                    sum[c] += g->pixels[nb * (size_t)channels + (size_t)c];
                count++;
            }
        for (int c = 0; c < channels; c++)
            g->pixels[at * (size_t)channels + (size_t)c] = (uint8_t)((sum[c] + count / 2) / count);
    }
}

int ln_uv_dilate(uint8_t *pixels, int channels, uint8_t *filled, int size, int rings,
                 struct ln_error *err)
{
    if (channels < 1 || channels > 4 || size < 1)
        return ln_error_set(err, LN_EINVAL, "bad texture to fill (%d channels, %d texels)",
                            channels, size);
    rings = rings > LN__QUEUED - 2 ? LN__QUEUED - 2 : rings;
    if (rings < 1)
        return LN_OK;
    struct ln__texel_list cur = {0}, next = {0};
    int rc = LN_OK;
    /* the first ring: empty texels next to a filled one, in texel order
     * (the order within a ring does not matter) */
    for (int y = 0; y < size && rc == LN_OK; y++) {
        const uint8_t *row = filled + (size_t)y * (size_t)size;
        const uint8_t *up = y > 0 ? row - size : NULL;
        const uint8_t *down = y + 1 < size ? row + size : NULL;
        for (int x = 0; x < size && rc == LN_OK; x++) {
            if (row[x] != 0)
                continue;
            int x0 = x > 0 ? x - 1 : x, x1 = x + 1 < size ? x + 1 : x, near = 0;
            for (int k = x0; k <= x1 && !near; k++)
                near = row[k] == 1 || (up && up[k] == 1) || (down && down[k] == 1);
            if (near)
                rc = ln__list_push(&cur, (uint32_t)((size_t)y * (size_t)size + (size_t)x), err);
        }
    }
    for (size_t i = 0; i < cur.n; i++)
        filled[cur.v[i]] = LN__QUEUED;
    for (int r = 1; r <= rings && rc == LN_OK && cur.n > 0; r++) {
        /* colours from texels filled before this ring (1 .. r) only: each
         * texel of the ring on its own, so over the threads */
        struct ln__ring ring = {.pixels = pixels,
                                .filled = filled,
                                .list = cur.v,
                                .size = size,
                                .channels = channels,
                                .r = r};
        ln_parallel_for(cur.n, 4096, ln__ring_body, &ring);
        for (size_t i = 0; i < cur.n; i++)
            filled[cur.v[i]] = (uint8_t)(r + 1);
        next.n = 0;
        for (size_t i = 0; i < cur.n && rc == LN_OK && r < rings; i++)
            rc = ln__queue_neighbours(filled, size, cur.v[i], &next, err);
        struct ln__texel_list t = cur;
        cur = next;
        next = t;
    }
    /* texels queued for a ring beyond the last stay empty */
    for (size_t i = 0; i < cur.n; i++)
        if (filled[cur.v[i]] == LN__QUEUED)
            filled[cur.v[i]] = 0;
    free(cur.v);
    free(next.v);
    return rc;
}

/* The pull-push pyramid's steps, each over rows on all threads (every row
 * written by one thread, from rows no thread writes in the same step). */
struct ln__fill {
    uint8_t *pixels, *pyr;
    const uint8_t *filled;
    int size, ch;
    /* the level being made (pull) or filled (push): side n at offset off
     * (texels), its coarser neighbour side m at offset off_m */
    int n, m;
    size_t off, off_m;
};

/* Level 0 from the texture: colours and whether each holds one. */
static void ln__fill_in(void *ctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct ln__fill *f = ctx;
    size_t stride = (size_t)f->ch + 1;
    for (size_t i = begin * (size_t)f->size; i < end * (size_t)f->size; i++) {
        memcpy(f->pyr + i * stride, f->pixels + i * (size_t)f->ch, (size_t)f->ch);
        f->pyr[i * stride + (size_t)f->ch] = f->filled[i] != 0;
    }
}

/* Pull: rows of the coarser level (side m), each texel the mean of the
 * filled texels under it in the finer one (side n); channels + 1 bytes
 * per texel, the last nonzero when the texel holds a colour. */
static void ln__fill_down(void *ctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct ln__fill *f = ctx;
    const int n = f->n, m = f->m, ch = f->ch, stride = ch + 1;
    const uint8_t *fine = f->pyr + f->off * (size_t)stride;
    uint8_t *coarse = f->pyr + f->off_m * (size_t)stride;
    for (int y = (int)begin; y < (int)end; y++)
        for (int x = 0; x < m; x++) {
            unsigned sum[4] = {0, 0, 0, 0}, count = 0;
            for (int dy = 0; dy < 2; dy++)
                for (int dx = 0; dx < 2; dx++) {
                    int fx = 2 * x + dx, fy = 2 * y + dy;
                    if (fx >= n || fy >= n)
                        continue;
                    const uint8_t *p = fine + ((size_t)fy * (size_t)n + (size_t)fx) * (size_t)stride;
                    if (!p[ch])
                        continue;
                    for (int c = 0; c < ch; c++)
                        sum[c] += p[c];
                    count++;
                }
            uint8_t *q = coarse + ((size_t)y * (size_t)m + (size_t)x) * (size_t)stride;
            for (int c = 0; c < ch; c++)
                q[c] = (uint8_t)(count ? (sum[c] + count / 2) / count : 0);
            q[ch] = count > 0;
        }
}

/* Push: rows of the finer level (side n); an empty texel takes its
 * parent's colour from the coarser one (side m). */
static void ln__fill_up(void *ctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct ln__fill *f = ctx;
    const size_t stride = (size_t)f->ch + 1;
    for (int y = (int)begin; y < (int)end; y++)
        for (int x = 0; x < f->n; x++) {
            uint8_t *p = f->pyr + (f->off + (size_t)y * (size_t)f->n + (size_t)x) * stride;
            if (p[f->ch])
                continue;
            const uint8_t *q =
                f->pyr + (f->off_m + (size_t)(y / 2) * (size_t)f->m + (size_t)(x / 2)) * stride;
            memcpy(p, q, stride);
        }
}

/* The texture's empty texels from level 0. */
static void ln__fill_out(void *ctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct ln__fill *f = ctx;
    size_t stride = (size_t)f->ch + 1;
    for (size_t i = begin * (size_t)f->size; i < end * (size_t)f->size; i++)
        if (!f->filled[i])
            memcpy(f->pixels + i * (size_t)f->ch, f->pyr + i * stride, (size_t)f->ch);
}

int ln_uv_fill_rest(uint8_t *pixels, int channels, const uint8_t *filled, int size,
                    struct ln_error *err)
{
    if (channels < 1 || channels > 4 || size < 1)
        return ln_error_set(err, LN_EINVAL, "bad texture to fill (%d channels, %d texels)",
                            channels, size);
    int stride = channels + 1, levels = 1;
    size_t total = 0;
    for (int n = size;; n = (n + 1) / 2, levels++) {
        total += (size_t)n * (size_t)n;
        if (n == 1)
            break;
    }
    uint8_t *pyr = ln_alloc_array(total, (size_t)stride, 0, "texture fill", err);
    if (!pyr)
        return err ? err->code : LN_ENOMEM;
    struct ln__fill f = {
        .pixels = pixels, .pyr = pyr, .filled = filled, .size = size, .ch = channels};
    ln_parallel_for((size_t)size, 64, ln__fill_in, &f);
    /* pull: each level the mean of the filled texels under it */
    f.off = 0;
    f.n = size;
    for (int l = 1; l < levels; l++) {
        f.m = (f.n + 1) / 2;
        f.off_m = f.off + (size_t)f.n * (size_t)f.n;
        ln_parallel_for((size_t)f.m, 32, ln__fill_down, &f);
        f.off = f.off_m;
        f.n = f.m;
    }
    /* push: from the coarsest, an empty texel takes its parent's colour */
    for (int l = levels - 2; l >= 0; l--) {
        f.off = 0;
        f.n = size;
        for (int k = 0; k < l; k++) {
            f.off += (size_t)f.n * (size_t)f.n;
            f.n = (f.n + 1) / 2;
        }
        f.off_m = f.off + (size_t)f.n * (size_t)f.n;
        f.m = (f.n + 1) / 2;
        ln_parallel_for((size_t)f.n, 32, ln__fill_up, &f);
    }
    ln_parallel_for((size_t)size, 64, ln__fill_out, &f);
    free(pyr);
    return LN_OK;
}
