/*
 * TripoSR's image -> scene code on the selected GPU: the DINO ViT, the
 * Transformer1D backbone and the ConvTranspose upsampling, the same steps
 * as ln_triposr_vit.c and ln_triposr_backbone.c (the references of
 * tests/gpu/test_gpu_triposr_net.c) built from the floor's generic kernels
 * (ln_gpu_sgemm_ex, ln_gpu_attention: tiled, no score matrix) and two of
 * nn's own shaders: shaders/nn_norm.comp (LayerNorm, GroupNorm) and
 * shaders/nn_eltwise.comp (GELU, GEGLU, the embeddings, the outer residual,
 * the upsampling). Only the im2col of the image runs on the CPU.
 *
 * The weights of the last network used stay on the device (one buffer per
 * tensor, uploaded once; ln__gpu_triposr_forget drops them when the
 * network is freed, the floor's release hook when the device closes). The
 * activations of one image live from its first stage to the upsampling,
 * then are freed, except the scene code, which is handed to the grid
 * query's cache (ln__gpu_triposr_adopt_scene): the queries of that scene
 * code upload nothing. The engine calls the stages one by one
 * (ln_kernels.c asks here first for each): each hands its result back to
 * the host and keeps it on the device, with a host copy that the next
 * stage compares its input with. Before anything is allocated or uploaded
 * for an image the whole stage's memory (weights not resident yet + every
 * activation) is counted by the same code that allocates it (a plan run in
 * counting mode) and checked against the budget: a network that does not
 * fit fails with one line. The dispatches of each section (the ViT, a
 * backbone block, ...) go in one batch (ln_gpu_batch_begin) unless a
 * trace reads buffers between them.
 *
 * Threads: everything kept here (g_n) is guarded by g_n.lock, held for a
 * whole stage; the query's cache has its own lock, taken after this one
 * (ln__gpu_triposr_adopt_scene), never before.
 */
#include "ln_gpu_triposr.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_gpu.h"
#include "ln_progress.h"
#include "ln_triposr_int.h"

#if !LN_VULKAN
int ln__gpu_triposr_scene_code(const struct ln_triposr *net, const float *image_chw, float *scene,
                               const struct ln_triposr_trace *trace,
                               const struct ln_progress *progress, struct ln_error *err)
{
    return LN__GPU_DECLINED;
}

int ln__gpu_triposr_encode_image(const struct ln_triposr *net, const float *image_chw,
                                 float *tokens, const struct ln_triposr_trace *trace,
                                 struct ln_error *err)
{
    return LN__GPU_DECLINED;
}

int ln__gpu_triposr_backbone(const struct ln_triposr *net, const float *context, float *out,
                             const struct ln_triposr_trace *trace,
                             const struct ln_progress *progress, struct ln_error *err)
{
    return LN__GPU_DECLINED;
}

int ln__gpu_triposr_upsample(const struct ln_triposr *net, const float *backbone_out, float *scene,
                             struct ln_error *err)
{
    return LN__GPU_DECLINED;
}

void ln__gpu_triposr_forget(const struct ln_triposr *net) {}

int ln__gpu_triposr_net_bytes(const struct ln_triposr *net, size_t *weights, size_t *activations)
{
    *weights = *activations = 0;
    return LN__GPU_DECLINED;
}

int ln__gpu_triposr_reserve(const struct ln_triposr *net, struct ln_error *err)
{
    return LN__GPU_DECLINED;
}
#else
static const uint32_t ln__spv_norm[] =
#include "nn_norm.spv.inc"
    ;
static const uint32_t ln__spv_elt[] =
#include "nn_eltwise.spv.inc"
    ;

enum { LN__ELT_GELU, LN__ELT_GEGLU, LN__ELT_EMBED, LN__ELT_RESIDUAL_T, LN__ELT_UPSAMPLE };

struct ln__norm_push {
    uint32_t mode, dim, cpg, channels;
    float eps;
};

struct ln__elt_push {
    uint32_t op, n, a, b, c;
};

/* One buffer per tensor; a NULL source tensor (a missing bias) stays NULL. */
struct ln__gw_vit {
    struct ln_gpu_buffer *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    struct ln_gpu_buffer *wq, *bq, *wk, *bk, *wv, *bv, *wo, *bo, *w1, *b1, *w2, *b2;
};

struct ln__gw_blk {
    struct ln_gpu_buffer *n1_w, *n1_b, *n2_w, *n2_b, *n3_w, *n3_b;
    struct ln_gpu_buffer *q1, *k1, *v1, *o1, *o1_b, *q2, *k2, *v2, *o2, *o2_b;
    struct ln_gpu_buffer *ff0, *ff0_b, *ff2, *ff2_b;
};

struct ln__gw {
    struct ln_gpu_buffer *patch_w, *patch_b, *embed /* pos [T][D] then cls [D] */;
    struct ln_gpu_buffer *final_w, *final_b;
    struct ln__gw_vit *vit;
    struct ln_gpu_buffer *tokens0 /* [C][N] */, *gn_w, *gn_b, *proj_in_w, *proj_in_b;
    struct ln_gpu_buffer *proj_out_w, *proj_out_b, *up_w, *up_b;
    struct ln__gw_blk *blk;
};

struct ln__acts {
    struct ln_gpu_buffer *cols, *pe, *hv, *yv, *qv, *kv, *vv, *mlp, *ctx;
    struct ln_gpu_buffer *h, *y, *q, *k, *v, *kc, *vc, *z, *gn, *po, *bbout, *scene;
};

/* A plan: with gpu NULL it only counts bytes (and the largest buffer);
 * otherwise it allocates (and uploads), recording every buffer in list. */
struct ln__plan {
    struct ln_gpu *gpu;
    size_t bytes, biggest;
    struct ln_gpu_buffer **list;
    int n, cap;
};

static int ln__put(struct ln__plan *p, struct ln_gpu_buffer **slot, const float *data, size_t n,
                   int needs_data, const char *what, struct ln_error *err)
{
    *slot = NULL;
    if (needs_data && !data)
        return 0;
    const size_t bytes = n * sizeof(float);
    p->bytes += bytes;
    if (bytes > p->biggest)
        p->biggest = bytes;
    if (!p->gpu)
        return 0;
    if (p->n == p->cap) { /* bookkeeping: a few KiB */
        p->cap = p->cap ? 2 * p->cap : 256;
        p->list = ln_xrealloc(p->list, (size_t)p->cap * sizeof *p->list);
    }
    int rc = ln_gpu_buffer_new(p->gpu, bytes, what, slot, err);
    if (rc < 0)
        return rc;
    p->list[p->n++] = *slot;
    if (data && (rc = ln_gpu_buffer_write(*slot, 0, data, bytes, err)) < 0)
        return rc;
    return 0;
}

static void ln__plan_free(struct ln__plan *p)
{
    for (int i = 0; i < p->n; i++)
        ln_gpu_buffer_free(p->list[i]);
    free(p->list);
    p->list = NULL;
    p->n = p->cap = 0;
}

/* The weights, counted or uploaded. */
static int ln__bind_weights(struct ln__plan *p, const struct ln_triposr *net, struct ln__gw *w,
                            struct ln_error *err)
{
    const struct ln_triposr_config *c = &net->cfg;
    const struct ln_vit_config *v = &c->vit;
    const size_t D = (size_t)v->hidden, I = (size_t)v->intermediate;
    const size_t K = (size_t)v->channels * (size_t)v->patch * (size_t)v->patch;
    const size_t T = (size_t)net->n_vit_tokens, C = (size_t)c->num_channels;
    const size_t N = (size_t)net->n_tokens, BD = (size_t)net->inner, X = (size_t)c->bb_cross_dim;
    const size_t F = (size_t)net->ff_inner, O = (size_t)c->post_out;
    const size_t PP = (size_t)c->plane_size * (size_t)c->plane_size;
    const char *what = "the TripoSR network's weights";
    int rc;
#define LN__W(slot, src, n)                                                                        \
    do {                                                                                           \
        if ((rc = ln__put(p, &(slot), (src), (n), 1, what, err)) < 0)                              \
            return rc;                                                                             \
    } while (0)
    /* The two tensors arranged on the host: the position table with the
     * CLS token after it, and the triplane tokens [C][3 P P]. */
    float *embed = NULL, *tok = NULL;
    if (p->gpu) {
        embed = ln_alloc_array(T * D + D, sizeof(float), 0, "ViT embeddings table", err);
        tok = ln_alloc_array(C * N, sizeof(float), 0, "triplane tokens", err);
        if (!embed || !tok) {
            free(embed);
            free(tok);
            return LN_ENOMEM;
        }
        memcpy(embed, net->pos, T * D * sizeof(float));
        memcpy(embed + T * D, net->cls, D * sizeof(float));
        for (size_t pl = 0; pl < 3; pl++)
            for (size_t ch = 0; ch < C; ch++)
                memcpy(tok + ch * N + pl * PP, net->triplane + (pl * C + ch) * PP,
                       PP * sizeof(float));
    }
    rc = ln__put(p, &w->embed, embed, T * D + D, 0, what, err);
    if (rc >= 0)
        rc = ln__put(p, &w->tokens0, tok, C * N, 0, what, err);
    free(embed);
    free(tok);
    if (rc < 0)
        return rc;

    LN__W(w->patch_w, net->patch_w, D * K);
    LN__W(w->patch_b, net->patch_b, D);
    LN__W(w->final_w, net->final_w, D);
    LN__W(w->final_b, net->final_b, D);
    for (int l = 0; l < v->layers; l++) {
        const struct ln__vit_layer *L = &net->vit[l];
        struct ln__gw_vit *G = &w->vit[l];
        LN__W(G->ln1_w, L->ln1_w, D);
        LN__W(G->ln1_b, L->ln1_b, D);
        LN__W(G->ln2_w, L->ln2_w, D);
        LN__W(G->ln2_b, L->ln2_b, D);
        LN__W(G->wq, L->wq, D * D);
        LN__W(G->bq, L->bq, D);
        LN__W(G->wk, L->wk, D * D);
        LN__W(G->bk, L->bk, D);
        LN__W(G->wv, L->wv, D * D);
        LN__W(G->bv, L->bv, D);
        LN__W(G->wo, L->wo, D * D);
        LN__W(G->bo, L->bo, D);
        LN__W(G->w1, L->w1, I * D);
        LN__W(G->b1, L->b1, I);
        LN__W(G->w2, L->w2, D * I);
        LN__W(G->b2, L->b2, D);
    }
    LN__W(w->gn_w, net->gn_w, C);
    LN__W(w->gn_b, net->gn_b, C);
    LN__W(w->proj_in_w, net->proj_in_w, BD * C);
    LN__W(w->proj_in_b, net->proj_in_b, BD);
    LN__W(w->proj_out_w, net->proj_out_w, C * BD);
    LN__W(w->proj_out_b, net->proj_out_b, C);
    LN__W(w->up_w, net->up_w, C * O * 4);
    LN__W(w->up_b, net->up_b, O);
    for (int b = 0; b < c->bb_layers; b++) {
        const struct ln__bb_block *B = &net->blocks[b];
        struct ln__gw_blk *G = &w->blk[b];
        LN__W(G->n1_w, B->n1_w, BD);
        LN__W(G->n1_b, B->n1_b, BD);
        LN__W(G->n2_w, B->n2_w, BD);
        LN__W(G->n2_b, B->n2_b, BD);
        LN__W(G->n3_w, B->n3_w, BD);
        LN__W(G->n3_b, B->n3_b, BD);
        LN__W(G->q1, B->q1, BD * BD);
        LN__W(G->k1, B->k1, BD * BD);
        LN__W(G->v1, B->v1, BD * BD);
        LN__W(G->o1, B->o1, BD * BD);
        LN__W(G->o1_b, B->o1_b, BD);
        LN__W(G->q2, B->q2, BD * BD);
        LN__W(G->k2, B->k2, BD * X);
        LN__W(G->v2, B->v2, BD * X);
        LN__W(G->o2, B->o2, BD * BD);
        LN__W(G->o2_b, B->o2_b, BD);
        LN__W(G->ff0, B->ff0, 2 * F * BD);
        LN__W(G->ff0_b, B->ff0_b, 2 * F);
        LN__W(G->ff2, B->ff2, BD * F);
        LN__W(G->ff2_b, B->ff2_b, BD);
    }
#undef LN__W
    return 0;
}

/* The activations of one call, counted or allocated (contents undefined). */
static int ln__bind_acts(struct ln__plan *p, const struct ln_triposr *net, struct ln__acts *a,
                         struct ln_error *err)
{
    const struct ln_triposr_config *c = &net->cfg;
    const struct ln_vit_config *v = &c->vit;
    const size_t D = (size_t)v->hidden, I = (size_t)v->intermediate;
    const size_t K = (size_t)v->channels * (size_t)v->patch * (size_t)v->patch;
    const size_t T = (size_t)net->n_vit_tokens, np = T - 1, C = (size_t)c->num_channels;
    const size_t N = (size_t)net->n_tokens, BD = (size_t)net->inner;
    const size_t F = (size_t)net->ff_inner;
    const char *what = "the TripoSR network's activations";
    const struct {
        struct ln_gpu_buffer **slot;
        size_t n;
    } t[] = {
        {&a->cols, np * K}, {&a->pe, np * D},   {&a->hv, T * D},
        {&a->yv, T * D},    {&a->qv, T * D},    {&a->kv, T * D},
        {&a->vv, T * D},    {&a->mlp, T * I},   {&a->ctx, T * D},
        {&a->h, N * BD},    {&a->y, N * BD},    {&a->q, N * BD},
        {&a->k, N * BD},    {&a->v, N * BD},    {&a->kc, T * BD},
        {&a->vc, T * BD},   {&a->z, N * 2 * F}, {&a->gn, N * C},
        {&a->po, N * C},    {&a->bbout, C * N}, {&a->scene, ln_triposr_scene_floats(net)},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int rc = ln__put(p, t[i].slot, NULL, t[i].n, 0, what, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* What stays on the device between calls, under one lock. */
static struct {
    pthread_mutex_t lock;
    int hooked;
    struct ln_gpu *gpu;
    const struct ln_triposr *net;
    struct ln__plan wplan;
    struct ln__gw w;
    struct ln_gpu_kernel *norm, *elt;
    uint32_t max_groups_x; /* of g_n.gpu, read before any batch */
    /* The activations, between the stages of one image (freed when the
     * scene code is made); copies of what the last stages handed back, so
     * that the next stage called with the same tokens uploads nothing. */
    const struct ln_triposr *acts_net;
    struct ln__plan aplan;
    struct ln__acts a;
    float *ctx_host, *bb_host; /* when ctx_ok, bb_ok */
    int ctx_ok, bb_ok;
} g_n = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void ln__acts_free_locked(void)
{
    ln__plan_free(&g_n.aplan);
    memset(&g_n.a, 0, sizeof g_n.a);
    free(g_n.ctx_host);
    free(g_n.bb_host);
    g_n.ctx_host = g_n.bb_host = NULL;
    g_n.ctx_ok = g_n.bb_ok = 0;
    g_n.acts_net = NULL;
}

static void ln__weights_free_locked(void)
{
    ln__acts_free_locked();
    ln__plan_free(&g_n.wplan);
    free(g_n.w.vit);
    free(g_n.w.blk);
    memset(&g_n.w, 0, sizeof g_n.w);
    g_n.net = NULL;
}

static void ln__release_locked(void)
{
    ln__weights_free_locked();
    ln_gpu_kernel_free(g_n.norm);
    ln_gpu_kernel_free(g_n.elt);
    g_n.norm = g_n.elt = NULL;
    g_n.gpu = NULL;
}

static void ln__release(void)
{
    pthread_mutex_lock(&g_n.lock);
    ln__release_locked();
    pthread_mutex_unlock(&g_n.lock);
}

void ln__gpu_triposr_forget(const struct ln_triposr *net)
{
    pthread_mutex_lock(&g_n.lock);
    if (g_n.net == net || g_n.acts_net == net)
        ln__weights_free_locked();
    pthread_mutex_unlock(&g_n.lock);
}

/* The sizes, and the largest buffer. */
static int ln__sizes(const struct ln_triposr *net, size_t *weights, size_t *activations,
                     size_t *biggest)
{
    struct ln__plan p = {0};
    struct ln__gw w = {0};
    struct ln__acts a;
    struct ln_error e = {0};
    w.vit = ln_xcalloc((size_t)net->cfg.vit.layers, sizeof *w.vit);
    w.blk = ln_xcalloc((size_t)net->cfg.bb_layers, sizeof *w.blk);
    int rc = ln__bind_weights(&p, net, &w, &e);
    *weights = p.bytes;
    p.bytes = 0;
    if (rc == 0)
        rc = ln__bind_acts(&p, net, &a, &e);
    *activations = p.bytes;
    *biggest = p.biggest;
    free(w.vit);
    free(w.blk);
    return rc;
}

int ln__gpu_triposr_net_bytes(const struct ln_triposr *net, size_t *weights, size_t *activations)
{
    size_t biggest;
    return ln__sizes(net, weights, activations, &biggest);
}

/* ---- dispatch helpers ---------------------------------------------------- */

static int ln__norm(struct ln_gpu_buffer *x, struct ln_gpu_buffer *y, struct ln_gpu_buffer *g,
                    struct ln_gpu_buffer *b, uint32_t rows, const struct ln__norm_push *pc,
                    struct ln_error *err)
{
    struct ln_gpu_buffer *bufs[4] = {x, y, g, b};
    return ln_gpu_dispatch(g_n.norm, bufs, 4, pc, rows, 1, 1, err);
}

static int ln__layernorm(struct ln_gpu_buffer *x, struct ln_gpu_buffer *y, struct ln_gpu_buffer *g,
                         struct ln_gpu_buffer *b, size_t rows, int dim, float eps,
                         struct ln_error *err)
{
    const struct ln__norm_push pc = {0, (uint32_t)dim, 0, 0, eps};
    return ln__norm(x, y, g, b, (uint32_t)rows, &pc, err);
}

static int ln__elt(struct ln_gpu *gpu, uint32_t op, size_t n, uint32_t a, uint32_t b, uint32_t c,
                   struct ln_gpu_buffer *d, struct ln_gpu_buffer *s1, struct ln_gpu_buffer *s2,
                   struct ln_gpu_buffer *s3, struct ln_error *err)
{
    const size_t groups = (n + 255) / 256;
    const size_t gx = groups < g_n.max_groups_x ? groups : g_n.max_groups_x;
    const size_t gy = (groups + gx - 1) / gx;
    const struct ln__elt_push pc = {op, (uint32_t)n, a, b, c};
    struct ln_gpu_buffer *bufs[4] = {d, s1 ? s1 : d, s2 ? s2 : d, s3 ? s3 : d};
    return ln_gpu_dispatch(g_n.elt, bufs, 4, &pc, (uint32_t)gx, (uint32_t)gy, 1, err);
}

/* y [rows][n] (+)= x [rows][k] (rows ldx apart) . W[n][k]^T + bias. */
static int ln__lin(struct ln_gpu *gpu, struct ln_gpu_buffer *x, size_t rows, int k, int ldx,
                   struct ln_gpu_buffer *w, struct ln_gpu_buffer *bias, int n,
                   struct ln_gpu_buffer *y, int accumulate, struct ln_error *err)
{
    return ln_gpu_sgemm_ex(gpu, (int)rows, n, k, x, ldx, w, 1, bias, y, accumulate, err);
}

/* Reads a buffer back for a trace point (only when a trace is set). */
static int ln__trace(const struct ln_triposr_trace *trace, const char *name,
                     struct ln_gpu_buffer *buf, size_t n, size_t transpose_rows,
                     struct ln_error *err)
{
    if (!trace || !trace->fn)
        return 0;
    float *host = ln_alloc_array(n, 2 * sizeof(float), 0, "trace copy", err);
    if (!host)
        return LN_ENOMEM;
    int rc = ln_gpu_buffer_read(buf, 0, host, n * sizeof(float), err);
    if (rc == 0) {
        const float *out = host;
        if (transpose_rows) { /* [rows][cols] -> [cols][rows] */
            const size_t cols = n / transpose_rows;
            float *t = host + n;
            for (size_t r = 0; r < transpose_rows; r++)
                for (size_t col = 0; col < cols; col++)
                    t[col * transpose_rows + r] = host[r * cols + col];
            out = t;
        }
        ln__triposr_trace(trace, name, out, n);
    }
    free(host);
    return rc;
}

/* The dispatches of a section go in one batch (one submission and one
 * wait, ln_gpu_batch_begin) unless a trace reads buffers between them. A
 * batch left open by an error is closed by the caller (ln__end). */
struct ln__run {
    struct ln_gpu *gpu;
    int batch, open;
};

static int ln__begin(struct ln__run *r, struct ln_error *err)
{
    if (!r->batch || r->open)
        return 0;
    const int rc = ln_gpu_batch_begin(r->gpu, err);
    r->open = rc == 0;
    return rc;
}

/* Closes the open batch (submitting it); rc, or the batch's error. */
static int ln__end(struct ln__run *r, int rc, struct ln_error *err)
{
    if (!r->open)
        return rc;
    r->open = 0;
    struct ln_error spare = {0};
    const int rc2 = ln_gpu_batch_end(r->gpu, rc < 0 ? &spare : err);
    return rc < 0 ? rc : rc2;
}

/* ---- the stages ------------------------------------------------------------ */

static int ln__vit(struct ln__run *r, const struct ln_triposr *net, const float *image_chw,
                   const struct ln__acts *a, const struct ln_triposr_trace *trace,
                   struct ln_error *err)
{
    struct ln_gpu *gpu = r->gpu;
    const struct ln_vit_config *v = &net->cfg.vit;
    const struct ln__gw *w = &g_n.w;
    const int D = v->hidden, I = v->intermediate, hd = v->hidden / v->heads;
    const size_t T = (size_t)net->n_vit_tokens, np = T - 1, td = T * (size_t)D;
    const size_t s = (size_t)net->cfg.cond_image_size, p = (size_t)v->patch;
    const size_t ch = (size_t)v->channels, K = ch * p * p, grid = (size_t)net->grid;
    int rc;

    /* im2col on the host: cols[py grid + px][(c p + ky) p + kx]. */
    float *cols = ln_alloc_array(np, K * sizeof(float), 0, "image patches", err);
    if (!cols)
        return LN_ENOMEM;
    for (size_t idx = 0; idx < np; idx++) {
        const size_t py = idx / grid, px = idx % grid;
        for (size_t c = 0; c < ch; c++)
            for (size_t ky = 0; ky < p; ky++)
                memcpy(cols + idx * K + (c * p + ky) * p,
                       image_chw + (c * s + py * p + ky) * s + px * p, p * sizeof(float));
    }
    rc = ln_gpu_buffer_write(a->cols, 0, cols, np * K * sizeof(float), err);
    free(cols);
    if (rc < 0 || (rc = ln__begin(r, err)) < 0)
        return rc;

    if ((rc = ln__lin(gpu, a->cols, np, (int)K, (int)K, w->patch_w, w->patch_b, D, a->pe, 0, err)) <
            0 ||
        (rc = ln__elt(gpu, LN__ELT_EMBED, td, (uint32_t)D, 0, 0, a->hv, w->embed, a->pe, NULL,
                      err)) < 0)
        return rc;
    ln__triposr_trace(trace, "vit_pos_embed", net->pos, td);
    if ((rc = ln__trace(trace, "vit_embeddings", a->hv, td, 0, err)) < 0)
        return rc;

    for (int l = 0; l < v->layers; l++) {
        const struct ln__gw_vit *L = &w->vit[l];
        if ((rc = ln__layernorm(a->hv, a->yv, L->ln1_w, L->ln1_b, T, D, v->ln_eps, err)) < 0 ||
            (rc = ln__lin(gpu, a->yv, T, D, D, L->wq, L->bq, D, a->qv, 0, err)) < 0 ||
            (rc = ln__lin(gpu, a->yv, T, D, D, L->wk, L->bk, D, a->kv, 0, err)) < 0 ||
            (rc = ln__lin(gpu, a->yv, T, D, D, L->wv, L->bv, D, a->vv, 0, err)) < 0 ||
            (rc = ln_gpu_attention(gpu, a->qv, D, a->kv, D, a->vv, D, (int)T, (int)T, v->heads, hd,
                                   a->yv, D, err)) < 0 ||
            (rc = ln__lin(gpu, a->yv, T, D, D, L->wo, L->bo, D, a->hv, 1, err)) < 0 ||
            (rc = ln__layernorm(a->hv, a->yv, L->ln2_w, L->ln2_b, T, D, v->ln_eps, err)) < 0 ||
            (rc = ln__lin(gpu, a->yv, T, D, D, L->w1, L->b1, I, a->mlp, 0, err)) < 0 ||
            (rc = ln__elt(gpu, LN__ELT_GELU, T * (size_t)I, 0, 0, 0, a->mlp, NULL, NULL, NULL,
                          err)) < 0 ||
            (rc = ln__lin(gpu, a->mlp, T, I, I, L->w2, L->b2, D, a->hv, 1, err)) < 0)
            return rc;
        char name[32];
        snprintf(name, sizeof name, "vit_layer%d", l);
        if ((rc = ln__trace(trace, name, a->hv, td, 0, err)) < 0)
            return rc;
    }
    if ((rc = ln__layernorm(a->hv, a->ctx, w->final_w, w->final_b, T, D, v->ln_eps, err)) < 0 ||
        (rc = ln__end(r, 0, err)) < 0)
        return rc;
    return ln__trace(trace, "vit_last_hidden_state", a->ctx, td, 0, err);
}

static int ln__backbone(struct ln__run *r, const struct ln_triposr *net, const struct ln__acts *a,
                        const struct ln_triposr_trace *trace, const struct ln_progress *progress,
                        struct ln_error *err)
{
    struct ln_gpu *gpu = r->gpu;
    const struct ln_triposr_config *c = &net->cfg;
    const struct ln__gw *w = &g_n.w;
    const int C = c->num_channels, D = net->inner, X = c->bb_cross_dim, F = net->ff_inner;
    const int H = c->bb_heads, hd = c->bb_head_dim;
    const size_t N = (size_t)net->n_tokens, T = (size_t)net->n_vit_tokens;
    const float eps = 1e-5f;
    int rc;

    const struct ln__norm_push gp = {1, (uint32_t)N, (uint32_t)(C / c->bb_norm_groups), (uint32_t)C,
                                     1e-6f};
    if ((rc = ln__trace(trace, "tokens_init", w->tokens0, (size_t)C * N, 0, err)) < 0 ||
        (rc = ln__begin(r, err)) < 0 ||
        (rc = ln__norm(w->tokens0, a->gn, w->gn_w, w->gn_b, (uint32_t)c->bb_norm_groups, &gp,
                       err)) < 0 ||
        (rc = ln__trace(trace, "backbone_groupnorm", a->gn, (size_t)C * N, N, err)) < 0 ||
        (rc = ln__lin(gpu, a->gn, N, C, C, w->proj_in_w, w->proj_in_b, D, a->h, 0, err)) < 0 ||
        (rc = ln__trace(trace, "backbone_proj_in", a->h, N * (size_t)D, 0, err)) < 0 ||
        (rc = ln__end(r, 0, err)) < 0)
        return rc;

    for (int b = 0; b < c->bb_layers; b++) {
        if (ln_progress_canceled(progress))
            return ln_error_set(err, LN_ECANCELED, "canceled in backbone block %d of %d", b,
                                c->bb_layers);
        const struct ln__gw_blk *B = &w->blk[b];
        if ((rc = ln__begin(r, err)) < 0 ||
            (rc = ln__layernorm(a->h, a->y, B->n1_w, B->n1_b, N, D, eps, err)) < 0 ||
            (rc = ln__lin(gpu, a->y, N, D, D, B->q1, NULL, D, a->q, 0, err)) < 0 ||
            (rc = ln__lin(gpu, a->y, N, D, D, B->k1, NULL, D, a->k, 0, err)) < 0 ||
            (rc = ln__lin(gpu, a->y, N, D, D, B->v1, NULL, D, a->v, 0, err)) < 0 ||
            (rc = ln_gpu_attention(gpu, a->q, D, a->k, D, a->v, D, (int)N, (int)N, H, hd, a->y, D,
                                   err)) < 0 ||
            (rc = ln__lin(gpu, a->y, N, D, D, B->o1, B->o1_b, D, a->h, 1, err)) < 0 ||
            (rc = ln__layernorm(a->h, a->y, B->n2_w, B->n2_b, N, D, eps, err)) < 0 ||
            (rc = ln__lin(gpu, a->y, N, D, D, B->q2, NULL, D, a->q, 0, err)) < 0 ||
            (rc = ln__lin(gpu, a->ctx, T, X, X, B->k2, NULL, D, a->kc, 0, err)) < 0 ||
            (rc = ln__lin(gpu, a->ctx, T, X, X, B->v2, NULL, D, a->vc, 0, err)) < 0 ||
            (rc = ln_gpu_attention(gpu, a->q, D, a->kc, D, a->vc, D, (int)N, (int)T, H, hd, a->y, D,
                                   err)) < 0 ||
            (rc = ln__lin(gpu, a->y, N, D, D, B->o2, B->o2_b, D, a->h, 1, err)) < 0 ||
            (rc = ln__layernorm(a->h, a->y, B->n3_w, B->n3_b, N, D, eps, err)) < 0 ||
            (rc = ln__lin(gpu, a->y, N, D, D, B->ff0, NULL, 2 * F, a->z, 0, err)) < 0 ||
            (rc = ln__elt(gpu, LN__ELT_GEGLU, N * (size_t)F, (uint32_t)F, 0, 0, a->z, B->ff0_b,
                          NULL, NULL, err)) < 0 ||
            (rc = ln__lin(gpu, a->z, N, F, 2 * F, B->ff2, B->ff2_b, D, a->h, 1, err)) < 0 ||
            (rc = ln__end(r, 0, err)) < 0)
            return rc;
        char name[32];
        snprintf(name, sizeof name, "backbone_block%d", b);
        if ((rc = ln__trace(trace, name, a->h, N * (size_t)D, 0, err)) < 0)
            return rc;
        ln_progress_report(progress, "backbone", (double)(b + 1) / c->bb_layers);
    }

    if ((rc = ln__begin(r, err)) < 0 ||
        (rc = ln__lin(gpu, a->h, N, D, D, w->proj_out_w, w->proj_out_b, C, a->po, 0, err)) < 0 ||
        (rc = ln__trace(trace, "backbone_proj_out", a->po, N * (size_t)C, 0, err)) < 0 ||
        (rc = ln__elt(gpu, LN__ELT_RESIDUAL_T, (size_t)C * N, (uint32_t)C, (uint32_t)N, 0, a->bbout,
                      w->tokens0, a->po, NULL, err)) < 0 ||
        (rc = ln__end(r, 0, err)) < 0)
        return rc;
    return ln__trace(trace, "backbone_out", a->bbout, (size_t)C * N, 0, err);
}

static int ln__upsample(struct ln__run *r, const struct ln_triposr *net, const struct ln__acts *a,
                        struct ln_error *err)
{
    const struct ln_triposr_config *c = &net->cfg;
    int rc = ln__begin(r, err);
    if (rc < 0)
        return rc;
    rc = ln__elt(r->gpu, LN__ELT_UPSAMPLE, ln_triposr_scene_floats(net), (uint32_t)c->plane_size,
                 (uint32_t)c->post_out, (uint32_t)c->num_channels, a->scene, a->bbout, g_n.w.up_w,
                 g_n.w.up_b, err);
    return ln__end(r, rc, err);
}

/* Uploads net's weights unless they are the resident ones; the kernels. */
static int ln__ready_locked(struct ln_gpu *gpu, const struct ln_triposr *net, struct ln_error *err)
{
    int rc;
    if (!g_n.norm &&
        (rc = ln_gpu_kernel_new(gpu, ln__spv_norm, sizeof ln__spv_norm, 4,
                                sizeof(struct ln__norm_push), NULL, 0, &g_n.norm, err)) < 0)
        return rc;
    if (!g_n.elt &&
        (rc = ln_gpu_kernel_new(gpu, ln__spv_elt, sizeof ln__spv_elt, 4,
                                sizeof(struct ln__elt_push), NULL, 0, &g_n.elt, err)) < 0)
        return rc;
    if (g_n.net == net)
        return 0;
    ln__weights_free_locked();
    g_n.w.vit = ln_xcalloc((size_t)net->cfg.vit.layers, sizeof *g_n.w.vit);
    g_n.w.blk = ln_xcalloc((size_t)net->cfg.bb_layers, sizeof *g_n.w.blk);
    g_n.wplan.gpu = gpu;
    if ((rc = ln__bind_weights(&g_n.wplan, net, &g_n.w, err)) < 0) {
        ln__weights_free_locked();
        return rc;
    }
    g_n.net = net;
    return 0;
}

/* Makes the device ready for net: kernels, weights and the activations
 * of one image. Their whole size (what is not there yet) is checked
 * against the budget before anything is allocated or uploaded. */
static int ln__prepare_locked(struct ln_gpu *gpu, const struct ln_triposr *net,
                              struct ln_error *err)
{
    if (g_n.gpu != gpu) {
        ln__release_locked();
        g_n.gpu = gpu;
    }
    if (g_n.net == net && g_n.acts_net == net)
        return 0;
    size_t wbytes = 0, abytes = 0, biggest = 0;
    int rc = ln__sizes(net, &wbytes, &abytes, &biggest);
    if (rc < 0)
        return ln_error_set(err, rc, "out of memory sizing the GPU network");
    struct ln_gpu_info in;
    ln_gpu_info(gpu, &in);
    g_n.max_groups_x = in.max_groups_x;
    if (biggest > in.max_buffer_bytes)
        return ln_error_set(err, LN_EUNUSABLE,
                            "vulkan:%d (%s) takes storage buffers of at most %zu bytes, the "
                            "TripoSR network needs one of %zu; use --device cpu",
                            in.index, in.name, in.max_buffer_bytes, biggest);
    /* Another network's weights and activations leave first. */
    if (g_n.net != net)
        ln__weights_free_locked();
    ln__acts_free_locked();
    const size_t need = (g_n.net == net ? 0 : wbytes) + abytes;
    char what[160];
    snprintf(what, sizeof what,
             "the TripoSR image encoder and backbone (%zu MiB of weights, %zu MiB of "
             "activations)",
             (wbytes + ((size_t)1 << 20) - 1) >> 20, (abytes + ((size_t)1 << 20) - 1) >> 20);
    if ((rc = ln_gpu_budget_check(gpu, need, what, err)) < 0 ||
        (rc = ln__ready_locked(gpu, net, err)) < 0)
        return rc;
    g_n.aplan.gpu = gpu;
    if ((rc = ln__bind_acts(&g_n.aplan, net, &g_n.a, err)) < 0) {
        ln__acts_free_locked();
        return rc;
    }
    g_n.acts_net = net;
    return 0;
}

/* *copy = data (n floats), allocating it when NULL. */
static int ln__keep(float **copy, const float *data, size_t n, struct ln_error *err)
{
    if (!*copy && !(*copy = ln_alloc_array(n, sizeof(float), 0, "GPU stage copy", err)))
        return LN_ENOMEM;
    memcpy(*copy, data, n * sizeof(float));
    return 0;
}

/* The ViT; its tokens into `tokens` when not NULL. */
static int ln__encode_locked(struct ln_gpu *gpu, const struct ln_triposr *net,
                             const float *image_chw, float *tokens,
                             const struct ln_triposr_trace *trace, struct ln_error *err)
{
    int rc = ln__prepare_locked(gpu, net, err);
    if (rc < 0)
        return rc;
    struct ln__run run = {gpu, !trace || !trace->fn, 0};
    g_n.ctx_ok = g_n.bb_ok = 0;
    if ((rc = ln__end(&run, ln__vit(&run, net, image_chw, &g_n.a, trace, err), err)) < 0)
        return rc;
    if (tokens) {
        const size_t n = ln_triposr_tokens_floats(net);
        if ((rc = ln_gpu_buffer_read(g_n.a.ctx, 0, tokens, n * sizeof(float), err)) < 0 ||
            (rc = ln__keep(&g_n.ctx_host, tokens, n, err)) < 0)
            return rc;
    }
    g_n.ctx_ok = 1;
    return 0;
}

/* The backbone from `context` (NULL: the tokens on the device); its
 * output into `out` when not NULL. */
static int ln__backbone_locked(struct ln_gpu *gpu, const struct ln_triposr *net,
                               const float *context, float *out,
                               const struct ln_triposr_trace *trace,
                               const struct ln_progress *progress, struct ln_error *err)
{
    int rc = ln__prepare_locked(gpu, net, err);
    if (rc < 0)
        return rc;
    const size_t nt = ln_triposr_tokens_floats(net), nb = ln_triposr_backbone_floats(net);
    if (context &&
        !(g_n.ctx_ok && g_n.ctx_host && memcmp(g_n.ctx_host, context, nt * sizeof(float)) == 0)) {
        g_n.ctx_ok = 0;
        if ((rc = ln_gpu_buffer_write(g_n.a.ctx, 0, context, nt * sizeof(float), err)) < 0 ||
            (rc = ln__keep(&g_n.ctx_host, context, nt, err)) < 0)
            return rc;
        g_n.ctx_ok = 1;
    }
    LN_REQUIRE(g_n.ctx_ok);
    struct ln__run run = {gpu, !trace || !trace->fn, 0};
    g_n.bb_ok = 0;
    if ((rc = ln__end(&run, ln__backbone(&run, net, &g_n.a, trace, progress, err), err)) < 0)
        return rc;
    if (out && ((rc = ln_gpu_buffer_read(g_n.a.bbout, 0, out, nb * sizeof(float), err)) < 0 ||
                (rc = ln__keep(&g_n.bb_host, out, nb, err)) < 0))
        return rc;
    g_n.bb_ok = 1;
    return 0;
}

/* The upsampling from `bb` (NULL: the backbone's output on the device)
 * into `scene`; the scene code stays on the device for the grid queries
 * and the activations are freed. */
static int ln__upsample_locked(struct ln_gpu *gpu, const struct ln_triposr *net, const float *bb,
                               float *scene, struct ln_error *err)
{
    int rc = ln__prepare_locked(gpu, net, err);
    if (rc < 0)
        return rc;
    const size_t nb = ln_triposr_backbone_floats(net), ns = ln_triposr_scene_floats(net);
    if (bb && !(g_n.bb_ok && g_n.bb_host && memcmp(g_n.bb_host, bb, nb * sizeof(float)) == 0)) {
        g_n.bb_ok = 0;
        if ((rc = ln_gpu_buffer_write(g_n.a.bbout, 0, bb, nb * sizeof(float), err)) < 0)
            return rc;
        g_n.bb_ok = 1;
    }
    LN_REQUIRE(g_n.bb_ok);
    struct ln__run run = {gpu, 1, 0};
    if ((rc = ln__upsample(&run, net, &g_n.a, err)) < 0 ||
        (rc = ln_gpu_buffer_read(g_n.a.scene, 0, scene, ns * sizeof(float), err)) < 0)
        return rc;
    for (int i = 0; i < g_n.aplan.n; i++)
        if (g_n.aplan.list[i] == g_n.a.scene)
            g_n.aplan.list[i] = NULL;
    ln__gpu_triposr_adopt_scene(gpu, net, g_n.a.scene, scene);
    ln__acts_free_locked();
    return 0;
}

static int ln__scene_locked(struct ln_gpu *gpu, const struct ln_triposr *net,
                            const float *image_chw, float *scene,
                            const struct ln_triposr_trace *trace,
                            const struct ln_progress *progress, struct ln_error *err)
{
    int rc;
    ln_progress_report(progress, "image encoder", 0.0);
    if ((rc = ln__encode_locked(gpu, net, image_chw, NULL, trace, err)) < 0)
        return rc;
    struct ln_progress sub = ln_progress_span(progress, 0.07, 0.995);
    if ((rc = ln__backbone_locked(gpu, net, NULL, NULL, trace, &sub, err)) < 0 ||
        (rc = ln__upsample_locked(gpu, net, NULL, scene, err)) < 0)
        return rc;
    ln__triposr_trace(trace, "scene_codes", scene, ln_triposr_scene_floats(net));
    ln_progress_report(progress, "scene code", 1.0);
    return 0;
}

/* Takes the lock (and registers the release hook once) around a stage. */
static struct ln_gpu *ln__enter(void)
{
    struct ln_gpu *gpu = ln_gpu_current();
    if (!gpu)
        return NULL;
    pthread_mutex_lock(&g_n.lock);
    if (!g_n.hooked) {
        ln_gpu_on_release(ln__release);
        g_n.hooked = 1;
    }
    return gpu;
}

int ln__gpu_triposr_reserve(const struct ln_triposr *net, struct ln_error *err)
{
    struct ln_gpu *gpu = ln__enter();
    if (!gpu)
        return LN__GPU_DECLINED;
    int rc = ln__prepare_locked(gpu, net, err);
    pthread_mutex_unlock(&g_n.lock);
    return rc;
}

int ln__gpu_triposr_scene_code(const struct ln_triposr *net, const float *image_chw, float *scene,
                               const struct ln_triposr_trace *trace,
                               const struct ln_progress *progress, struct ln_error *err)
{
    struct ln_gpu *gpu = ln__enter();
    if (!gpu)
        return LN__GPU_DECLINED;
    int rc = ln__scene_locked(gpu, net, image_chw, scene, trace, progress, err);
    pthread_mutex_unlock(&g_n.lock);
    return rc;
}

int ln__gpu_triposr_encode_image(const struct ln_triposr *net, const float *image_chw,
                                 float *tokens, const struct ln_triposr_trace *trace,
                                 struct ln_error *err)
{
    struct ln_gpu *gpu = ln__enter();
    if (!gpu)
        return LN__GPU_DECLINED;
    int rc = ln__encode_locked(gpu, net, image_chw, tokens, trace, err);
    pthread_mutex_unlock(&g_n.lock);
    return rc;
}

int ln__gpu_triposr_backbone(const struct ln_triposr *net, const float *context, float *out,
                             const struct ln_triposr_trace *trace,
                             const struct ln_progress *progress, struct ln_error *err)
{
    struct ln_gpu *gpu = ln__enter();
    if (!gpu)
        return LN__GPU_DECLINED;
    int rc = ln__backbone_locked(gpu, net, context, out, trace, progress, err);
    pthread_mutex_unlock(&g_n.lock);
    return rc;
}

int ln__gpu_triposr_upsample(const struct ln_triposr *net, const float *backbone_out, float *scene,
                             struct ln_error *err)
{
    struct ln_gpu *gpu = ln__enter();
    if (!gpu)
        return LN__GPU_DECLINED;
    int rc = ln__upsample_locked(gpu, net, backbone_out, scene, err);
    pthread_mutex_unlock(&g_n.lock);
    return rc;
}
#endif
