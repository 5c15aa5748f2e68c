/*
 * TripoSR's triplane query and NeRF decoder on the selected GPU
 * (shaders/triposr_query.comp; the CPU form is ln_triposr_query.c, the
 * reference it is tested against in tests/gpu/test_gpu_triposr.c). What
 * stays on the device between calls lives in one cache guarded by one
 * lock: the kernel, the decoder weights of the last network (compared
 * with the network's packed weights on each call, a few hundred KiB, so a
 * network loaded again at the same address is never mistaken for the old
 * one), the last scene code (compared likewise: the queries of one grid,
 * made chunk by chunk, upload it once) and grow-only point and output
 * buffers. Points go through in chunks of at most LN__CHUNK_BYTES of
 * buffers, whatever n is.
 */
#include "ln_gpu_triposr.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_gpu.h"
#include "ln_triposr_int.h"

#if !LN_VULKAN
/* A build without Vulkan (-DLN_VULKAN=OFF): the CPU computes. */
int ln__gpu_triposr_query(const struct ln_triposr *net, const float *scene, const float *points,
                          size_t n, float *density_act, float *colour, float *features,
                          struct ln_error *err)
{
    return LN__GPU_DECLINED;
}

size_t ln__gpu_triposr_resident_bytes(const struct ln_triposr *net)
{
    return 0;
}

void ln__gpu_triposr_adopt_scene(struct ln_gpu *gpu, const struct ln_triposr *net,
                                 struct ln_gpu_buffer *buf, const float *host)
{
}
#else
/* SPIR-V of shaders/triposr_query.comp, compiled by glslc at build time. */
static const uint32_t ln__spv_query[] =
#include "triposr_query.spv.inc"
    ;

#define LN__CHUNK_BYTES ((size_t)64 << 20)
#define LN__MAX_TILE 32u
#define LN__WG 64u

struct ln__push {
    uint32_t n, base;
    int32_t res, ch, n_layers;
    float radius, two_r, density_bias;
    int32_t dens_off, col_off, feat_off;
};

static struct {
    pthread_mutex_t lock;
    int hooked;
    struct ln_gpu *gpu;
    struct ln_gpu_kernel *kernel;
    uint32_t tile, maxw;
    const struct ln_triposr *net;
    float *wts_host; /* copy of net->dec_pack as uploaded */
    size_t n_wts;
    struct ln_gpu_buffer *wts, *layers;
    float *scene_host;
    size_t n_scene;
    struct ln_gpu_buffer *scene;
    struct ln_gpu_buffer *pts, *out;
} g_c = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Frees everything kept on the device: before the device closes (the
 * floor's release hook) or when another device is in use. */
static void ln__release_locked(void)
{
    ln_gpu_buffer_free(g_c.out);
    ln_gpu_buffer_free(g_c.pts);
    ln_gpu_buffer_free(g_c.scene);
    ln_gpu_buffer_free(g_c.layers);
    ln_gpu_buffer_free(g_c.wts);
    ln_gpu_kernel_free(g_c.kernel);
    free(g_c.scene_host);
    free(g_c.wts_host);
    g_c.out = g_c.pts = g_c.scene = g_c.layers = g_c.wts = NULL;
    g_c.kernel = NULL;
    g_c.scene_host = g_c.wts_host = NULL;
    g_c.n_scene = g_c.n_wts = 0;
    g_c.net = NULL;
    g_c.gpu = NULL;
    g_c.tile = g_c.maxw = 0;
}

static void ln__release(void)
{
    pthread_mutex_lock(&g_c.lock);
    ln__release_locked();
    pthread_mutex_unlock(&g_c.lock);
}

/* Floats of the packed decoder (ln__bind_decoder: each layer's W^T then
 * its bias, back to back). */
static size_t ln__wts_floats(const struct ln_triposr *net)
{
    const struct ln__dec_layer *L = &net->dec[net->n_dec - 1];
    return (size_t)(L->b - net->dec_pack) + (size_t)L->n_pad;
}

static size_t ln__scene_floats(const struct ln_triposr *net)
{
    const size_t res = 2 * (size_t)net->cfg.plane_size;
    return 3 * (size_t)net->cfg.post_out * res * res;
}

size_t ln__gpu_triposr_resident_bytes(const struct ln_triposr *net)
{
    return (ln__wts_floats(net) + ln__scene_floats(net)) * sizeof(float) +
           (size_t)net->n_dec * 4 * sizeof(int32_t);
}

/* The kernel for rows of maxw floats, made once per device and width. */
static int ln__kernel_locked(struct ln_gpu *gpu, uint32_t maxw, struct ln_error *err)
{
    if (g_c.kernel && g_c.maxw == maxw)
        return 0;
    ln_gpu_kernel_free(g_c.kernel);
    g_c.kernel = NULL;
    struct ln_gpu_info in;
    ln_gpu_info(gpu, &in);
    uint32_t tile = (uint32_t)(in.max_shared_bytes / (2 * sizeof(float) * (size_t)maxw));
    if (tile > LN__MAX_TILE)
        tile = LN__MAX_TILE;
    if (tile == 0)
        return ln_error_set(err, LN_EUNUSABLE,
                            "vulkan:%d (%s) has %zu bytes of shared memory, the decoder needs "
                            "%zu",
                            in.index, in.name, in.max_shared_bytes,
                            2 * sizeof(float) * (size_t)maxw);
    const uint32_t spec[2] = {tile, maxw};
    int rc = ln_gpu_kernel_new(gpu, ln__spv_query, sizeof ln__spv_query, 5, sizeof(struct ln__push),
                               spec, 2, &g_c.kernel, err);
    if (rc < 0)
        return rc;
    g_c.tile = tile;
    g_c.maxw = maxw;
    return 0;
}

/* Makes *buf at least `bytes`, or keeps it. */
static int ln__grow(struct ln_gpu *gpu, struct ln_gpu_buffer **buf, size_t bytes, const char *what,
                    struct ln_error *err)
{
    if (*buf && ln_gpu_buffer_size(*buf) >= bytes)
        return 0;
    ln_gpu_buffer_free(*buf);
    *buf = NULL;
    return ln_gpu_buffer_new(gpu, bytes, what, buf, err);
}

/* Uploads what the device lacks of net and scene. */
static int ln__resident_locked(struct ln_gpu *gpu, const struct ln_triposr *net, const float *scene,
                               struct ln_error *err)
{
    const size_t n_wts = ln__wts_floats(net);
    if (g_c.net != net || g_c.n_wts != n_wts ||
        memcmp(g_c.wts_host, net->dec_pack, n_wts * sizeof(float)) != 0) {
        ln_gpu_buffer_free(g_c.wts);
        ln_gpu_buffer_free(g_c.layers);
        free(g_c.wts_host);
        g_c.wts = g_c.layers = NULL;
        g_c.net = NULL;
        g_c.n_wts = 0;
        g_c.wts_host = ln_alloc_array(n_wts, sizeof(float), 0, "decoder weights", err);
        if (!g_c.wts_host)
            return LN_ENOMEM;
        memcpy(g_c.wts_host, net->dec_pack, n_wts * sizeof(float));
        int32_t table[LN__DEC_MAX_LAYERS][4];
        for (int l = 0; l < net->n_dec; l++) {
            const struct ln__dec_layer *L = &net->dec[l];
            table[l][0] = L->n_in;
            table[l][1] = L->n_out;
            table[l][2] = L->n_pad;
            table[l][3] = (int32_t)(L->wt - net->dec_pack);
        }
        const size_t table_bytes = (size_t)net->n_dec * sizeof table[0];
        int rc;
        if ((rc = ln_gpu_buffer_new(gpu, n_wts * sizeof(float), "the decoder's weights", &g_c.wts,
                                    err)) < 0 ||
            (rc = ln_gpu_buffer_write(g_c.wts, 0, net->dec_pack, n_wts * sizeof(float), err)) < 0 ||
            (rc = ln_gpu_buffer_new(gpu, table_bytes, "the decoder's layer table", &g_c.layers,
                                    err)) < 0 ||
            (rc = ln_gpu_buffer_write(g_c.layers, 0, table, table_bytes, err)) < 0) {
            free(g_c.wts_host);
            g_c.wts_host = NULL;
            return rc;
        }
        g_c.net = net;
        g_c.n_wts = n_wts;
    }
    const size_t n_scene = ln__scene_floats(net);
    if (g_c.n_scene == n_scene && memcmp(g_c.scene_host, scene, n_scene * sizeof(float)) == 0)
        return 0;
    if (g_c.n_scene != n_scene) {
        ln_gpu_buffer_free(g_c.scene);
        free(g_c.scene_host);
        g_c.scene = NULL;
        g_c.scene_host = NULL;
        g_c.n_scene = 0;
        g_c.scene_host = ln_alloc_array(n_scene, sizeof(float), 0, "scene code copy", err);
        if (!g_c.scene_host)
            return LN_ENOMEM;
        int rc = ln_gpu_buffer_new(gpu, n_scene * sizeof(float), "the scene code", &g_c.scene, err);
        if (rc < 0) {
            free(g_c.scene_host);
            g_c.scene_host = NULL;
            return rc;
        }
    }
    g_c.n_scene = 0; /* until the upload completes */
    int rc = ln_gpu_buffer_write(g_c.scene, 0, scene, n_scene * sizeof(float), err);
    if (rc < 0)
        return rc;
    memcpy(g_c.scene_host, scene, n_scene * sizeof(float));
    g_c.n_scene = n_scene;
    return 0;
}

static int ln__query_locked(struct ln_gpu *gpu, const struct ln_triposr *net, const float *scene,
                            const float *points, size_t n, float *dens, float *col, float *feat,
                            struct ln_error *err)
{
    if (g_c.gpu != gpu) {
        ln__release_locked();
        g_c.gpu = gpu;
    }
    const size_t nf = 3 * (size_t)net->cfg.post_out;
    uint32_t maxw = (uint32_t)(nf > (size_t)net->dec_width_pad ? nf : (size_t)net->dec_width_pad);
    const size_t per_point = 3 + (dens ? 1 : 0) + (col ? 3 : 0) + (feat ? nf : 0);
    struct ln_gpu_info in;
    ln_gpu_info(gpu, &in);
    size_t limit = LN__CHUNK_BYTES < in.max_buffer_bytes ? LN__CHUNK_BYTES : in.max_buffer_bytes;
    size_t chunk = limit / (per_point * sizeof(float));
    if (chunk > n)
        chunk = n;
    if (chunk == 0)
        chunk = 1;

    /* The whole budget before anything is allocated or uploaded: weights
     * and scene when not resident yet, and the chunk's buffers. */
    size_t need = 0;
    if (g_c.net != net || !g_c.wts)
        need += (ln__wts_floats(net) + 4 * (size_t)net->n_dec) * sizeof(float);
    if (g_c.n_scene != ln__scene_floats(net))
        need += ln__scene_floats(net) * sizeof(float);
    const size_t pts_bytes = chunk * 3 * sizeof(float);
    const size_t out_bytes = chunk * (per_point - 3) * sizeof(float);
    if (!g_c.pts || ln_gpu_buffer_size(g_c.pts) < pts_bytes)
        need += pts_bytes;
    if (!g_c.out || ln_gpu_buffer_size(g_c.out) < out_bytes)
        need += out_bytes;
    int rc = ln_gpu_budget_check(gpu, need, "the TripoSR grid query", err);
    if (rc < 0)
        return rc;

    if ((rc = ln__kernel_locked(gpu, maxw, err)) < 0 ||
        (rc = ln__resident_locked(gpu, net, scene, err)) < 0 ||
        (rc = ln__grow(gpu, &g_c.pts, pts_bytes, "query points", err)) < 0 ||
        (rc = ln__grow(gpu, &g_c.out, out_bytes, "query results", err)) < 0)
        return rc;

    struct ln__push pc = {
        .res = 2 * net->cfg.plane_size,
        .ch = net->cfg.post_out,
        .n_layers = net->n_dec,
        .radius = net->cfg.radius,
        .two_r = (float)((double)net->cfg.radius - (double)-net->cfg.radius),
        .density_bias = net->cfg.density_bias,
    };
    struct ln_gpu_buffer *bufs[5] = {g_c.scene, g_c.wts, g_c.layers, g_c.pts, g_c.out};
    for (size_t i0 = 0; i0 < n; i0 += chunk) {
        const size_t m = n - i0 < chunk ? n - i0 : chunk;
        int32_t at = 0;
        pc.n = (uint32_t)m;
        pc.dens_off = dens ? at : -1;
        at += dens ? (int32_t)m : 0;
        pc.col_off = col ? at : -1;
        at += col ? 3 * (int32_t)m : 0;
        pc.feat_off = feat ? at : -1;
        if ((rc = ln_gpu_buffer_write(g_c.pts, 0, points + 3 * i0, m * 3 * sizeof(float), err)) < 0)
            return rc;
        const size_t groups = (m + g_c.tile - 1) / g_c.tile;
        for (size_t g0 = 0; g0 < groups; g0 += in.max_groups_x) {
            const size_t ng = groups - g0 < in.max_groups_x ? groups - g0 : in.max_groups_x;
            pc.base = (uint32_t)(g0 * g_c.tile);
            if ((rc = ln_gpu_dispatch(g_c.kernel, bufs, 5, &pc, (uint32_t)ng, 1, 1, err)) < 0)
                return rc;
        }
        if (dens && (rc = ln_gpu_buffer_read(g_c.out, (size_t)pc.dens_off * sizeof(float),
                                             dens + i0, m * sizeof(float), err)) < 0)
            return rc;
        if (col && (rc = ln_gpu_buffer_read(g_c.out, (size_t)pc.col_off * sizeof(float),
                                            col + 3 * i0, 3 * m * sizeof(float), err)) < 0)
            return rc;
        if (feat && (rc = ln_gpu_buffer_read(g_c.out, (size_t)pc.feat_off * sizeof(float),
                                             feat + nf * i0, nf * m * sizeof(float), err)) < 0)
            return rc;
    }
    return 0;
}

int ln__gpu_triposr_query(const struct ln_triposr *net, const float *scene, const float *points,
                          size_t n, float *density_act, float *colour, float *features,
                          struct ln_error *err)
{
    struct ln_gpu *gpu = ln_gpu_current();
    if (!gpu)
        return LN__GPU_DECLINED;
    if (n == 0)
        return 0;
    pthread_mutex_lock(&g_c.lock);
    if (!g_c.hooked) {
        ln_gpu_on_release(ln__release);
        g_c.hooked = 1;
    }
    int rc = ln__query_locked(gpu, net, scene, points, n, density_act, colour, features, err);
    pthread_mutex_unlock(&g_c.lock);
    return rc;
}

void ln__gpu_triposr_adopt_scene(struct ln_gpu *gpu, const struct ln_triposr *net,
                                 struct ln_gpu_buffer *buf, const float *host)
{
    const size_t n = ln__scene_floats(net);
    pthread_mutex_lock(&g_c.lock);
    if (!g_c.hooked) {
        ln_gpu_on_release(ln__release);
        g_c.hooked = 1;
    }
    if (g_c.gpu != gpu) {
        ln__release_locked();
        g_c.gpu = gpu;
    }
    ln_gpu_buffer_free(g_c.scene);
    free(g_c.scene_host);
    g_c.scene = NULL;
    g_c.n_scene = 0;
    struct ln_error e = {0};
    g_c.scene_host = ln_alloc_array(n, sizeof(float), 0, "scene code copy", &e);
    if (!g_c.scene_host) {
        ln_gpu_buffer_free(buf); /* the next query uploads it */
    } else {
        memcpy(g_c.scene_host, host, n * sizeof(float));
        g_c.scene = buf;
        g_c.n_scene = n;
    }
    pthread_mutex_unlock(&g_c.lock);
}
#endif
