/*
 * ONNX graphs on the selected GPU: the matting networks (U^2-Net, IS-Net
 * and their kin) with every activation on the device, only the inputs
 * uploaded and the outputs read back. It runs the CPU planner's plan
 * (ln_onnx.c): folded nodes stay folded, the fused Conv+ReLU pairs stay
 * fused, and the activation arena is mirrored in one device buffer at the
 * same offsets, so Concat's in-place pieces and the value lifetimes the
 * planner worked out hold on the GPU unchanged. Preparing a plan turns its
 * nodes into a list of dispatches of the shaders/onnx_*.comp kernels
 * (convolutions, pooling, Resize, element-wise, N-d indexing, rows,
 * MatMul, and the integer and index operators, int64 as two words: DESIGN,
 * integers) and gathers every constant they read (weights, biases,
 * BatchNormalization's scale and shift, Resize's tables, int64 constants)
 * into the weights buffers. A node the GPU form
 * declines runs on the CPU between GPU stretches, on the host's copy of
 * the same arena (mixed execution, DESIGN below; one log line per plan);
 * a graph with no node the GPU has, or activations past one buffer's
 * range, or past the budget, runs wholly on the CPU. The
 * state of each model lives in one list under one lock, so that the
 * floor's release hook can free it all. The CPU form stays the reference
 * (tests/gpu/test_gpu_onnx.c).
 */
#include "ln_gpu_onnx.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_gpu.h"
#include "ln_log.h"
#include "ln_onnx_int.h"

#if !LN_VULKAN
/* A build without Vulkan (-DLN_VULKAN=OFF): the CPU computes. */
int ln__gpu_onnx_run(struct ln_onnx *m, int replanned, struct ln_onnx_tensor *outputs,
                     size_t n_outputs, struct ln_error *err)
{
    return LN__GPU_DECLINED;
}

size_t ln__gpu_onnx_resident_bytes(const struct ln_onnx *m)
{
    return 0;
}

size_t ln__gpu_onnx_nodes_on(const struct ln_onnx *m, const char *op, int on_gpu)
{
    return 0;
}

void ln__gpu_onnx_set_piece_bytes(size_t bytes) {}

void ln__gpu_onnx_set_int_forms(int on) {}

size_t ln__gpu_onnx_pieces(const struct ln_onnx *m)
{
    return 0;
}

void ln__gpu_onnx_free(struct ln_onnx *m) {}
#else
/* SPIR-V of the shaders, compiled by glslc at build time. */
static const uint32_t ln__spv_conv[] =
#include "onnx_conv.spv.inc"
    ;
static const uint32_t ln__spv_conv_tiled[] =
#include "onnx_conv_tiled.spv.inc"
    ;
static const uint32_t ln__spv_pool[] =
#include "onnx_pool.spv.inc"
    ;
static const uint32_t ln__spv_resize[] =
#include "onnx_resize.spv.inc"
    ;
static const uint32_t ln__spv_ew[] =
#include "onnx_ew.spv.inc"
    ;
static const uint32_t ln__spv_nd[] =
#include "onnx_nd.spv.inc"
    ;
static const uint32_t ln__spv_rows[] =
#include "onnx_rows.spv.inc"
    ;
static const uint32_t ln__spv_matmul[] =
#include "onnx_matmul.spv.inc"
    ;
static const uint32_t ln__spv_int[] =
#include "onnx_int.spv.inc"
    ;

#define LN__WG 64u /* invocations per workgroup, as in the shaders */

enum {
    LN__K_CONV,
    LN__K_CONV_TILED,
    LN__K_POOL,
    LN__K_RESIZE,
    LN__K_EW,
    LN__K_ND,
    LN__K_ROWS,
    LN__K_MATMUL,
    LN__K_INT,
    LN__K_COUNT
};

/* The shaders' push constants, field for field (onnx_conv_tiled.comp
 * takes the same as onnx_conv.comp). */
struct ln__conv_push {
    uint32_t x_off, w_off, y_off;
    int32_t b_off;
    uint32_t C, H, W, M, Ho, Wo;
    uint32_t kh, kw, sh, sw, dh, dw;
    int32_t ph, pw;
    uint32_t G, relu, n_blk, total;
};

struct ln__pool_push {
    uint32_t x_off, y_off;
    uint32_t H, W, Ho, Wo;
    uint32_t kh, kw, sh, sw, dh, dw;
    int32_t ph, pw, pe_h, pe_w;
    uint32_t is_max, include_pad, total;
};

struct ln__resize_push {
    uint32_t x_off, y_off;
    uint32_t H, W, Ho, Wo;
    uint32_t t_off, total;
};

enum {
    LN__EW_RELU,
    LN__EW_SIGMOID,
    LN__EW_ADD,
    LN__EW_SUB,
    LN__EW_MUL,
    LN__EW_DIV,
    LN__EW_AFFINE,
    LN__EW_COPY
};

struct ln__ew_push {
    uint32_t op;
    uint32_t a_off, a_w;
    uint32_t b_off, b_w, b_one;
    uint32_t y_off;
    uint32_t C, inner;
    uint32_t chunk, row;
    uint32_t total;
};

/* Steps that are not dispatches (mixed execution, DESIGN above). */
enum { LN__S_CPU = -1, LN__S_DOWN = -2, LN__S_UP = -3 };

/* onnx_nd.comp's ops and push constants. */
enum {
    LN__ND_COPY,
    LN__ND_ADD,
    LN__ND_SUB,
    LN__ND_MUL,
    LN__ND_DIV,
    LN__ND_POW,
    LN__ND_MIN,
    LN__ND_MAX,
    LN__ND_ERF,
    LN__ND_GELU,
    LN__ND_GELU_TANH,
    LN__ND_SQRT,
    LN__ND_EXP,
    LN__ND_TANH,
    LN__ND_NEG,
    LN__ND_ABS,
    LN__ND_RECIP,
    LN__ND_LOG,
    LN__ND_RELU,
    LN__ND_SIGMOID
};
#define LN__ND 6

struct ln__nd_push {
    uint32_t op;
    uint32_t a_off, a_w, b_off, b_w, y_off;
    uint32_t nd, total;
    uint32_t shape[LN__ND];
    int32_t sa[LN__ND], sb[LN__ND];
};

enum {
    LN__ROWS_SOFTMAX,
    LN__ROWS_LAYERNORM,
    LN__ROWS_MEAN,
    LN__ROWS_SUM,
    LN__ROWS_MAX,
    LN__ROWS_MIN
};

struct ln__rows_push {
    uint32_t op;
    uint32_t x_off, x_w, y_off;
    uint32_t len, inner, rows;
    uint32_t g_off;
    int32_t b_off;
    float eps;
};

struct ln__matmul_push {
    uint32_t a_off, a_w, b_off, b_w, y_off;
    uint32_t c_off, c_w, c_on, c_si, c_sj;
    uint32_t M, N, K, trans_a, trans_b;
    float alpha, beta;
    uint32_t nb;
    uint32_t bs[4], sa[4], sb[4];
};

/* onnx_int.comp's ops, flags and push constants. */
enum {
    LN__INT_COPY,
    LN__INT_FLOOR,
    LN__INT_CEIL,
    LN__INT_CAST,
    LN__INT_NOT,
    LN__INT_NEG,
    LN__INT_ABS,
    LN__INT_RELU,
    LN__INT_ADD,
    LN__INT_SUB,
    LN__INT_MUL,
    LN__INT_DIV,
    LN__INT_MIN,
    LN__INT_MAX,
    LN__INT_EQ,
    LN__INT_LT,
    LN__INT_GT,
    LN__INT_GE,
    LN__INT_LE,
    LN__INT_AND,
    LN__INT_OR,
    LN__INT_WHERE,
    LN__INT_CLIP,
    LN__INT_GATHER
};
enum {
    LN__INT_F_A64 = 1,
    LN__INT_F_Y64 = 8,
    LN__INT_F_AW = 16,
    LN__INT_F_BOOL = 128,
    LN__INT_F_NO_B = 256,
    LN__INT_F_NO_C = 512
};
#define LN__INT_ND 4

struct ln__int_push {
    uint32_t op, types;
    uint32_t a_off, b_off, c_off, y_off;
    uint32_t nd, total;
    uint32_t ax_len;
    int32_t ax_st;
    uint32_t shape[LN__INT_ND];
    int32_t sa[LN__INT_ND], sb[LN__INT_ND], sc[LN__INT_ND];
};

struct ln__step {
    int kernel;       /* LN__K_*, or LN__S_* */
    int chunk;        /* the weights buffer it binds */
    long node;        /* LN__S_CPU: the node the CPU runs */
    size_t at, bytes; /* LN__S_DOWN, LN__S_UP: the arena bytes copied */
    uint32_t gx, gy, gz;
    union {
        struct ln__conv_push conv;
        struct ln__pool_push pool;
        struct ln__resize_push resize;
        struct ln__ew_push ew;
        struct ln__nd_push nd;
        struct ln__rows_push rows;
        struct ln__matmul_push mm;
        struct ln__int_push in;
    } push;
};

static const size_t ln__push_bytes[LN__K_COUNT] = {
    sizeof(struct ln__conv_push),   sizeof(struct ln__conv_push),   sizeof(struct ln__pool_push),
    sizeof(struct ln__resize_push), sizeof(struct ln__ew_push),     sizeof(struct ln__nd_push),
    sizeof(struct ln__rows_push),   sizeof(struct ln__matmul_push), sizeof(struct ln__int_push)};

/* What one model keeps for its current plan. */
struct ln__gpu_onnx {
    struct ln__gpu_onnx *next; /* the list of models with state */
    int declined;              /* the plan has an operator without a GPU form */
    struct ln_gpu *gpu;        /* the device of the buffers; NULL: nothing resident */
    struct ln_gpu_buffer *act;
    struct ln_gpu_buffer **wts; /* the weights, in pieces of at most one buffer's range */
    size_t n_wts;
    size_t act_floats, wts_floats;
    size_t *in_off; /* float offset of each graph input in act */
    struct ln__step *steps;
    size_t n_steps;
    unsigned char *where; /* per node: LN__ON_* */
    size_t n_where;
    unsigned char *out_host; /* per graph output: read from the host arena */
    size_t n_cpu;            /* nodes left to the CPU */
    size_t err_off;          /* the error word of onnx_int.comp in act (DESIGN, integers) */
    int checks;              /* a step may set it */
};

enum { LN__ON_NONE, LN__ON_GPU, LN__ON_CPU };

static struct {
    pthread_mutex_t lock;
    int hooked;
    size_t piece_bytes; /* ln__gpu_onnx_set_piece_bytes; 0: the device's range */
    int no_int;         /* ln__gpu_onnx_set_int_forms(0) */
    struct ln_gpu *gpu; /* the device of the kernels */
    struct ln_gpu_kernel *k[LN__K_COUNT];
    struct ln__gpu_onnx *list;
} g_o = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void ln__state_clear(struct ln__gpu_onnx *s)
{
    ln_gpu_buffer_free(s->act);
    for (size_t i = 0; i < s->n_wts; i++)
        ln_gpu_buffer_free(s->wts[i]);
    free(s->wts);
    free(s->in_off);
    free(s->steps);
    free(s->where);
    free(s->out_host);
    s->where = s->out_host = NULL;
    s->n_where = s->n_cpu = 0;
    s->act = NULL;
    s->wts = NULL;
    s->n_wts = 0;
    s->in_off = NULL;
    s->steps = NULL;
    s->n_steps = s->act_floats = s->wts_floats = 0;
    s->gpu = NULL;
    s->declined = 0;
    s->err_off = 0;
    s->checks = 0;
}

/* The floor's release hook: everything on the device goes. */
static void ln__release(void)
{
    pthread_mutex_lock(&g_o.lock);
    for (struct ln__gpu_onnx *s = g_o.list; s; s = s->next)
        ln__state_clear(s);
    for (int i = 0; i < LN__K_COUNT; i++) {
        ln_gpu_kernel_free(g_o.k[i]);
        g_o.k[i] = NULL;
    }
    g_o.gpu = NULL;
    pthread_mutex_unlock(&g_o.lock);
}

static int ln__kernels_locked(struct ln_gpu *gpu, struct ln_error *err)
{
    if (g_o.gpu == gpu && g_o.k[0])
        return 0;
    static const struct {
        const uint32_t *code;
        size_t bytes;
    } spv[LN__K_COUNT] = {
        {ln__spv_conv, sizeof ln__spv_conv}, {ln__spv_conv_tiled, sizeof ln__spv_conv_tiled},
        {ln__spv_pool, sizeof ln__spv_pool}, {ln__spv_resize, sizeof ln__spv_resize},
        {ln__spv_ew, sizeof ln__spv_ew},     {ln__spv_nd, sizeof ln__spv_nd},
        {ln__spv_rows, sizeof ln__spv_rows}, {ln__spv_matmul, sizeof ln__spv_matmul},
        {ln__spv_int, sizeof ln__spv_int}};
    for (int i = 0; i < LN__K_COUNT; i++) {
        ln_gpu_kernel_free(g_o.k[i]);
        g_o.k[i] = NULL;
    }
    for (int i = 0; i < LN__K_COUNT; i++) {
        int rc = ln_gpu_kernel_new(gpu, spv[i].code, spv[i].bytes, 2, ln__push_bytes[i], NULL, 0,
                                   &g_o.k[i], err);
        if (rc < 0) {
            for (int j = 0; j < i; j++) {
                ln_gpu_kernel_free(g_o.k[j]);
                g_o.k[j] = NULL;
            }
            return rc;
        }
    }
    g_o.gpu = gpu;
    return 0;
}

/* ---- preparing a plan -------------------------------------------------- */

/* The weights gathered on the host while the steps are made, in pieces
 * (one device buffer each) of at most piece floats: a storage buffer's
 * range is limited (128 MiB on lavapipe, less than a full U^2-Net's 168
 * MiB), so each node's constants go whole into the current piece, or
 * start the next one. */
struct ln__prep {
    struct ln_onnx *m;
    struct ln__gpu_onnx *s;
    struct ln_gpu_info info;
    float *w;
    size_t n_w, cap_w;
    size_t piece;     /* the most floats of one piece */
    size_t *piece_at; /* where each piece starts in w */
    size_t n_pieces;
    size_t *w_of;    /* per value: its offset in its piece, SIZE_MAX: not there yet */
    size_t *w_piece; /* per value: that piece */
    struct ln__step *steps;
    size_t n_steps, cap_steps;
    const char *why; /* the reason a plan is declined */
    const struct ln__ox_node *why_node;
};

/* Reserves n floats at the end of the weights (16-float aligned): *off
 * is their offset in the current piece, *dst where to write them (valid
 * until the next reservation). */
static int ln__w_reserve(struct ln__prep *p, size_t n, size_t *off, float **dst,
                         struct ln_error *err)
{
    size_t at = (p->n_w + 15) / 16 * 16;
    if (n > SIZE_MAX / 8 - at)
        return ln_error_set(err, LN_ETOOBIG, "GPU weights too large");
    if (at + n > p->cap_w) {
        size_t cap = p->cap_w ? p->cap_w : 4096;
        while (cap < at + n)
            cap *= 2;
        float *w = realloc(p->w, cap * sizeof *w);
        if (!w)
            return ln_error_set(err, LN_ENOMEM, "out of memory (GPU weights, %zu MiB)",
                                cap * sizeof *w >> 20);
        p->w = w;
        p->cap_w = cap;
    }
    memset(p->w + p->n_w, 0, (at - p->n_w) * sizeof *p->w);
    p->n_w = at + n;
    *off = at - p->piece_at[p->n_pieces - 1];
    *dst = p->w + at;
    return 0;
}

/* Floats of constants node n may reserve, at most. */
static size_t ln__node_need(struct ln__prep *p, const struct ln__ox_node *n)
{
    struct ln_onnx *m = p->m;
    size_t need = 64;
    for (int k = 0; k < n->n_in; k++)
        if (n->in[k] >= 0 && m->values[n->in[k]].known)
            need +=
                m->values[n->in[k]].t.numel * (m->values[n->in[k]].t.dtype == LN__OX_I64 ? 2 : 1) +
                16;
    if (n->n_out > 0 && n->out[0] >= 0) {
        const struct ln__ox_tensor *y = ln__ox_out(m, n, 0);
        if (y->ndim >= 2)
            need += 3 * (size_t)(y->shape[y->ndim - 1] + y->shape[y->ndim - 2]) + 16;
        if (y->ndim >= 2)
            need += 2 * (size_t)y->shape[1] + 16;
    }
    return need;
}

/* Starts a new piece when node n's constants may not fit the current one. */
static int ln__w_piece(struct ln__prep *p, const struct ln__ox_node *n, struct ln_error *err)
{
    const size_t need = ln__node_need(p, n);
    const size_t at = (p->n_w + 15) / 16 * 16;
    if (at - p->piece_at[p->n_pieces - 1] + need <= p->piece)
        return 0;
    if (need > p->piece)
        return LN__GPU_DECLINED;
    p->piece_at = ln_xrealloc(p->piece_at, (p->n_pieces + 1) * sizeof *p->piece_at);
    p->piece_at[p->n_pieces++] = at;
    return 0;
}

/* Declines the plan: why (a static string) names what the GPU form lacks. */
static int ln__decline(struct ln__prep *p, const struct ln__ox_node *n, const char *why)
{
    p->why = why;
    p->why_node = n;
    return LN__GPU_DECLINED;
}

/* Where value v lives: in the activations (*in_w 0) or the weights (1, a
 * constant, copied there on first use), at *off floats. */
static int ln__loc_as(struct ln__prep *p, const struct ln__ox_node *n, long v, int any,
                      uint32_t *off, uint32_t *in_w, struct ln_error *err)
{
    struct ln_onnx *m = p->m;
    const struct ln__ox_value *val = &m->values[v];
    if (val->t.dtype != LN__OX_F32 && !any)
        return ln__decline(p, n, "has an integer tensor where the GPU form takes floats");
    /* 32-bit words: an int64 is two (onnx_int.comp). */
    const size_t words = val->t.numel * (val->t.dtype == LN__OX_I64 ? 2 : 1);
    size_t at;
    if (val->known) {
        /* Copied into the current piece once (again if an earlier piece holds it). */
        if (p->w_of[v] == SIZE_MAX || p->w_piece[v] != p->n_pieces - 1) {
            float *dst;
            int rc = ln__w_reserve(p, words, &at, &dst, err);
            if (rc < 0)
                return rc;
            if (words)
                memcpy(dst, val->t.data, words * sizeof(float));
            p->w_of[v] = at;
            p->w_piece[v] = p->n_pieces - 1;
        }
        at = p->w_of[v];
        *in_w = 1;
    } else if (val->is_input) {
        size_t i = 0;
        while (i < m->n_inputs && m->inputs[i] != v)
            i++;
        if (i == m->n_inputs)
            return ln_error_set(err, LN_EINTERNAL, "ONNX on the GPU: input %ld not found", v);
        at = p->s->in_off[i];
        *in_w = 0;
    } else {
        size_t bytes = 0;
        long r = v;
        while (m->values[r].alias) {
            bytes += m->values[r].alias_off;
            r = m->values[r].alias - 1;
        }
        bytes += m->values[r].offset;
        if (bytes % sizeof(float))
            return ln__decline(p, n, "has a tensor at an unaligned place");
        at = bytes / sizeof(float);
        *in_w = 0;
    }
    if (at + words > UINT32_MAX)
        return ln__decline(p, n, "has a tensor past 16 GiB");
    *off = (uint32_t)at;
    return 0;
}

/* Where value v lives, for the float kernels (declines an integer one). */
static int ln__loc(struct ln__prep *p, const struct ln__ox_node *n, long v, uint32_t *off,
                   uint32_t *in_w, struct ln_error *err)
{
    return ln__loc_as(p, n, v, 0, off, in_w, err);
}

/* A location in the activations (declines a constant there). */
static int ln__act(struct ln__prep *p, const struct ln__ox_node *n, long v, uint32_t *off,
                   struct ln_error *err)
{
    uint32_t w;
    int rc = ln__loc(p, n, v, off, &w, err);
    if (rc == 0 && w)
        return ln__decline(p, n, "reads a constant where an activation is expected");
    return rc;
}

/* Appends a step over `total` elements (a 2-D grid of 64-wide groups). */
static int ln__push_step(struct ln__prep *p, const struct ln__ox_node *n, struct ln__step *st,
                         size_t total)
{
    if (total == 0)
        return 0;
    size_t groups = (total + LN__WG - 1) / LN__WG;
    size_t gx = groups < p->info.max_groups_x ? groups : p->info.max_groups_x;
    size_t gy = (groups + gx - 1) / gx;
    if (total > UINT32_MAX || gy > 65535)
        return ln__decline(p, n, "is too large for one dispatch");
    st->gx = (uint32_t)gx;
    st->gy = (uint32_t)gy;
    st->gz = 1;
    st->chunk = (int)p->n_pieces - 1;
    if (p->n_steps == p->cap_steps) {
        size_t cap = p->cap_steps ? 2 * p->cap_steps : 64;
        struct ln__step *s = ln_xmalloc(cap * sizeof *s);
        if (p->n_steps)
            memcpy(s, p->steps, p->n_steps * sizeof *s);
        free(p->steps);
        p->steps = s;
        p->cap_steps = cap;
    }
    p->steps[p->n_steps++] = *st;
    return 0;
}

static int ln__u32(int64_t v)
{
    return v >= 0 && v <= (int64_t)INT32_MAX;
}

static int ln__prep_conv(struct ln__prep *p, const struct ln__ox_node *n, struct ln_error *err)
{
    struct ln_onnx *m = p->m;
    const struct ln__ox_tensor *x = ln__ox_in(m, n, 0), *w = ln__ox_in(m, n, 1);
    const struct ln__ox_tensor *b = ln__ox_in(m, n, 2), *y = ln__ox_out(m, n, 0);
    const struct ln__ox_attrs *a = &n->a;
    if (x->ndim != 4 || w->ndim != 4) /* the loader takes 2-D kernels only */
        return ln__decline(p, n, "is not a 2-D convolution");
    if (!m->values[n->in[1]].known || (b && !m->values[n->in[2]].known))
        return ln__decline(p, n, "has weights computed at run time");
    if (x->numel == 0 || w->numel == 0)
        return ln__decline(p, n, "has no input channels");
    struct ln__step st = {.kernel = LN__K_CONV};
    struct ln__conv_push *c = &st.push.conv;
    uint32_t in_w;
    int rc;
    if ((rc = ln__act(p, n, n->in[0], &c->x_off, err)) != 0 ||
        (rc = ln__loc(p, n, n->in[1], &c->w_off, &in_w, err)) != 0 ||
        (rc = ln__act(p, n, n->out[0], &c->y_off, err)) != 0)
        return rc;
    c->b_off = -1;
    if (b) {
        uint32_t bo;
        if ((rc = ln__loc(p, n, n->in[2], &bo, &in_w, err)) != 0)
            return rc;
        if (bo > (uint32_t)INT32_MAX)
            return ln__decline(p, n, "has a tensor past 8 GiB");
        c->b_off = (int32_t)bo;
    }
    const int64_t G = a->group, M = y->shape[1];
    const int64_t v[] = {x->shape[0], x->shape[1],   x->shape[2],   x->shape[3],
                         M,           y->shape[2],   y->shape[3],   w->shape[2],
                         w->shape[3], a->strides[0], a->strides[1], a->dil[0],
                         a->dil[1],   a->epads[0],   a->epads[1],   G};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (!ln__u32(v[i]))
            return ln__decline(p, n, "has a size past 2^31");
    if (G < 1 || x->shape[1] % G || M % G)
        return ln__decline(p, n, "has channels that its groups do not divide");
    c->C = (uint32_t)x->shape[1];
    c->H = (uint32_t)x->shape[2];
    c->W = (uint32_t)x->shape[3];
    c->M = (uint32_t)M;
    c->Ho = (uint32_t)y->shape[2];
    c->Wo = (uint32_t)y->shape[3];
    c->kh = (uint32_t)w->shape[2];
    c->kw = (uint32_t)w->shape[3];
    c->sh = (uint32_t)a->strides[0];
    c->sw = (uint32_t)a->strides[1];
    c->dh = (uint32_t)a->dil[0];
    c->dw = (uint32_t)a->dil[1];
    c->ph = (int32_t)a->epads[0];
    c->pw = (int32_t)a->epads[1];
    c->G = (uint32_t)G;
    c->relu = n->fuse_relu ? 1u : 0u;
    c->n_blk = (uint32_t)((M / G + 3) / 4);
    size_t total = (size_t)x->shape[0] * (size_t)G * c->n_blk * (size_t)c->Ho * c->Wo;
    c->total = total > UINT32_MAX ? 0 : (uint32_t)total;
    /* Layers of 16 output channels or more per group: the tiled GEMM
     * (64 x 64 tiles of channels x pixels, one grid layer per image and
     * group). */
    const size_t P = (size_t)c->Ho * c->Wo, tiles_p = (P + 63) / 64;
    const size_t tiles_m = ((size_t)(M / G) + 63) / 64, layers = (size_t)x->shape[0] * (size_t)G;
    const size_t K = (size_t)(x->shape[1] / G) * c->kh * c->kw;
    if (M / G >= 16 && P > 0 && tiles_p <= p->info.max_groups_x && tiles_m <= 65535 &&
        layers <= 65535 && K <= UINT32_MAX / 2 && (size_t)(M / G) * K <= UINT32_MAX / 2) {
        st.kernel = LN__K_CONV_TILED;
        int rc2 = ln__push_step(p, n, &st, total);
        if (rc2 != 0 || total == 0)
            return rc2;
        struct ln__step *last = &p->steps[p->n_steps - 1];
        last->gx = (uint32_t)tiles_p;
        last->gy = (uint32_t)tiles_m;
        last->gz = (uint32_t)layers;
        return 0;
    }
    return ln__push_step(p, n, &st, total);
}

static int ln__prep_pool(struct ln__prep *p, const struct ln__ox_node *n, struct ln_error *err)
{
    struct ln_onnx *m = p->m;
    const struct ln__ox_tensor *x = ln__ox_in(m, n, 0), *y = ln__ox_out(m, n, 0);
    const struct ln__ox_attrs *a = &n->a;
    const int global = !strncmp(n->op->name, "Global", 6);
    if (x->ndim != 4)
        return ln__decline(p, n, "is not a 2-D pool");
    if (n->n_out > 1 && n->out[1] >= 0)
        return ln__decline(p, n, "asks for the indices of the maxima");
    struct ln__step st = {.kernel = LN__K_POOL};
    struct ln__pool_push *c = &st.push.pool;
    int rc;
    if ((rc = ln__act(p, n, n->in[0], &c->x_off, err)) != 0 ||
        (rc = ln__act(p, n, n->out[0], &c->y_off, err)) != 0)
        return rc;
    const int64_t v[] = {x->shape[2], x->shape[3], y->shape[2], y->shape[3]};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (!ln__u32(v[i]))
            return ln__decline(p, n, "has a size past 2^31");
    c->H = (uint32_t)x->shape[2];
    c->W = (uint32_t)x->shape[3];
    c->Ho = (uint32_t)y->shape[2];
    c->Wo = (uint32_t)y->shape[3];
    c->is_max = strstr(n->op->name, "Max") != NULL;
    if (global) {
        c->kh = c->H;
        c->kw = c->W;
        c->sh = c->sw = c->dh = c->dw = 1;
    } else {
        const int64_t u[] = {a->kernel[0], a->kernel[1], a->strides[0], a->strides[1], a->dil[0],
                             a->dil[1],    a->epads[0],  a->epads[1],   a->epads[2],   a->epads[3]};
        for (size_t i = 0; i < sizeof u / sizeof u[0]; i++)
            if (!ln__u32(u[i]))
                return ln__decline(p, n, "has a size past 2^31");
        c->kh = (uint32_t)a->kernel[0];
        c->kw = (uint32_t)a->kernel[1];
        c->sh = (uint32_t)a->strides[0];
        c->sw = (uint32_t)a->strides[1];
        c->dh = (uint32_t)a->dil[0];
        c->dw = (uint32_t)a->dil[1];
        c->ph = (int32_t)a->epads[0];
        c->pw = (int32_t)a->epads[1];
        c->pe_h = (int32_t)a->epads[2];
        c->pe_w = (int32_t)a->epads[3];
        c->include_pad = a->count_include_pad != 0;
    }
    c->total = (uint32_t)(y->numel > UINT32_MAX ? 0 : y->numel);
    return ln__push_step(p, n, &st, y->numel);
}

/* One axis's table: i0[out], i1[out], w[out] (indices as floats), the
 * CPU form's (ln__ox_resize_at). */
static void ln__rs_axis(const struct ln__ox_attrs *a, int64_t in, int64_t out, float scale,
                        float *t)
{
    float *i0 = t, *i1 = t + out, *w = t + 2 * out;
    for (int64_t o = 0; o < out; o++) {
        int64_t j0, j1;
        ln__ox_resize_at(a, o, in, out, scale, &j0, &j1, &w[o]);
        i0[o] = (float)j0;
        i1[o] = (float)j1;
    }
}

static int ln__prep_resize(struct ln__prep *p, const struct ln__ox_node *n, struct ln_error *err)
{
    struct ln_onnx *m = p->m;
    const struct ln__ox_tensor *x = ln__ox_in(m, n, 0), *y = ln__ox_out(m, n, 0);
    const int nd = x->ndim;
    if (nd < 2 || (n->a.mode != LN__OX_RS_NEAREST && n->a.mode != LN__OX_RS_LINEAR))
        return ln__decline(p, n, "has a resize mode without a GPU form");
    const int64_t H = x->shape[nd - 2], W = x->shape[nd - 1];
    const int64_t Ho = y->shape[nd - 2], Wo = y->shape[nd - 1];
    if (y->numel == 0)
        return 0;
    if (H == 0 || W == 0 || H >= (1 << 24) || W >= (1 << 24) || !ln__u32(Ho) || !ln__u32(Wo))
        return ln__decline(p, n, "has an empty input or a side past 2^24");
    struct ln__step st = {.kernel = LN__K_RESIZE};
    struct ln__resize_push *c = &st.push.resize;
    int rc;
    if ((rc = ln__act(p, n, n->in[0], &c->x_off, err)) != 0 ||
        (rc = ln__act(p, n, n->out[0], &c->y_off, err)) != 0)
        return rc;
    size_t at;
    float *dst;
    if ((rc = ln__w_reserve(p, 3 * (size_t)(Ho + Wo), &at, &dst, err)) < 0)
        return rc;
    if (at > UINT32_MAX)
        return ln__decline(p, n, "has a tensor past 16 GiB");
    ln__rs_axis(&n->a, H, Ho, n->a.rscale[nd - 2], dst);
    ln__rs_axis(&n->a, W, Wo, n->a.rscale[nd - 1], dst + 3 * Ho);
    c->H = (uint32_t)H;
    c->W = (uint32_t)W;
    c->Ho = (uint32_t)Ho;
    c->Wo = (uint32_t)Wo;
    c->t_off = (uint32_t)at;
    c->total = (uint32_t)(y->numel > UINT32_MAX ? 0 : y->numel);
    return ln__push_step(p, n, &st, y->numel);
}

/* A block copy of `total` floats from (a, a_w) to y + (i / chunk) * row + i % chunk. */
static int ln__copy(struct ln__prep *p, const struct ln__ox_node *n, uint32_t a, uint32_t a_w,
                    uint32_t y, size_t total, size_t chunk, size_t row)
{
    if (total == 0)
        return 0;
    struct ln__step st = {.kernel = LN__K_EW};
    struct ln__ew_push *c = &st.push.ew;
    c->op = LN__EW_COPY;
    c->a_off = a;
    c->a_w = a_w;
    c->y_off = y;
    c->chunk = (uint32_t)chunk;
    c->row = (uint32_t)row;
    c->total = (uint32_t)total;
    if (total > UINT32_MAX || row > UINT32_MAX)
        return ln__decline(p, n, "is too large for one dispatch");
    return ln__push_step(p, n, &st, total);
}

static int ln__prep_concat(struct ln__prep *p, const struct ln__ox_node *n, struct ln_error *err)
{
    struct ln_onnx *m = p->m;
    const struct ln__ox_tensor *y = ln__ox_out(m, n, 0);
    const int64_t axis = n->a.axis < 0 ? n->a.axis + y->ndim : n->a.axis;
    size_t outer = 1, inner = 1;
    for (int64_t d = 0; d < axis; d++)
        outer *= (size_t)y->shape[d];
    for (int d = (int)axis + 1; d < y->ndim; d++)
        inner *= (size_t)y->shape[d];
    const size_t row = (size_t)y->shape[axis] * inner;
    uint32_t yo, xo, xw;
    int rc;
    if ((rc = ln__act(p, n, n->out[0], &yo, err)) != 0)
        return rc;
    size_t at = 0;
    for (int k = 0; k < n->n_in; k++) {
        const struct ln__ox_tensor *t = ln__ox_in(m, n, k);
        const size_t chunk = (size_t)t->shape[axis] * inner;
        if (t->numel) {
            if ((rc = ln__loc(p, n, n->in[k], &xo, &xw, err)) != 0)
                return rc;
            /* Written in place by its producer (ln_onnx.c, DESIGN). */
            if (!(outer == 1 && !xw && xo == yo + at) &&
                (rc = ln__copy(p, n, xo, xw, (uint32_t)(yo + at), t->numel, chunk, row)) != 0)
                return rc;
        }
        at += chunk;
    }
    return 0;
}

static int ln__prep_nd(struct ln__prep *p, const struct ln__ox_node *n, struct ln_error *err);

static int ln__prep_ew(struct ln__prep *p, const struct ln__ox_node *n, struct ln_error *err)
{
    struct ln_onnx *m = p->m;
    const char *op = n->op->name;
    const struct ln__ox_tensor *y = ln__ox_out(m, n, 0);
    struct ln__step st = {.kernel = LN__K_EW};
    struct ln__ew_push *c = &st.push.ew;
    int rc;
    if ((rc = ln__act(p, n, n->out[0], &c->y_off, err)) != 0)
        return rc;
    c->total = (uint32_t)(y->numel > UINT32_MAX ? 0 : y->numel);
    if (!strcmp(op, "Relu") || !strcmp(op, "Sigmoid")) {
        c->op = op[0] == 'R' ? LN__EW_RELU : LN__EW_SIGMOID;
        if ((rc = ln__loc(p, n, n->in[0], &c->a_off, &c->a_w, err)) != 0)
            return rc;
        return ln__push_step(p, n, &st, y->numel);
    }
    if (!strcmp(op, "BatchNormalization")) {
        const struct ln__ox_tensor *x = ln__ox_in(m, n, 0);
        for (int k = 1; k < 5; k++)
            if (!m->values[n->in[k]].known)
                return ln__decline(p, n, "has parameters computed at run time");
        if ((rc = ln__loc(p, n, n->in[0], &c->a_off, &c->a_w, err)) != 0)
            return rc;
        const size_t C = (size_t)x->shape[1];
        size_t inner = 1, at;
        for (int d = 2; d < x->ndim; d++)
            inner *= (size_t)x->shape[d];
        float *dst;
        if ((rc = ln__w_reserve(p, 2 * C, &at, &dst, err)) < 0)
            return rc;
        const float *sc = ln__ox_in(m, n, 1)->data, *bi = ln__ox_in(m, n, 2)->data;
        const float *mean = ln__ox_in(m, n, 3)->data, *var = ln__ox_in(m, n, 4)->data;
        for (size_t ch = 0; ch < C; ch++) {
            /* The CPU form's scale and shift (ox_bn_body), computed alike. */
            float s = sc[ch] / sqrtf(var[ch] + n->a.eps);
            float b = bi[ch] - mean[ch] * s;
            dst[ch] = s;
            dst[C + ch] = b;
        }
        if (at > UINT32_MAX || C > UINT32_MAX || inner > UINT32_MAX || inner == 0)
            return ln__decline(p, n, "is too large for one dispatch");
        c->op = LN__EW_AFFINE;
        c->b_off = (uint32_t)at;
        c->C = (uint32_t)C;
        c->inner = (uint32_t)inner;
        return ln__push_step(p, n, &st, y->numel);
    }
    static const char *bin[] = {"Add", "Sub", "Mul", "Div"};
    for (uint32_t k = 0; k < 4; k++) {
        if (strcmp(op, bin[k]))
            continue;
        long ai = n->in[0], bi = n->in[1];
        const struct ln__ox_tensor *a = ln__ox_in(m, n, 0), *b = ln__ox_in(m, n, 1);
        if (a->numel == 1 && b->numel == y->numel && y->numel != 1 && (k == 0 || k == 2)) {
            long t = ai;
            ai = bi;
            bi = t;
            const struct ln__ox_tensor *tt = a;
            a = b;
            b = tt;
        }
        if (a->numel != y->numel || (b->numel != y->numel && b->numel != 1))
            return ln__prep_nd(p, n, err); /* numpy broadcasting */
        if ((rc = ln__loc(p, n, ai, &c->a_off, &c->a_w, err)) != 0 ||
            (rc = ln__loc(p, n, bi, &c->b_off, &c->b_w, err)) != 0)
            return rc;
        c->op = LN__EW_ADD + k;
        c->b_one = b->numel == 1 && y->numel != 1;
        return ln__push_step(p, n, &st, y->numel);
    }
    /* Identity, Dropout, Reshape, Flatten, Squeeze, Unsqueeze: the same
     * floats under another shape. */
    uint32_t xo, xw;
    if (n->n_out > 1 && n->out[1] >= 0)
        return ln__decline(p, n, "asks for a second output");
    if ((rc = ln__loc(p, n, n->in[0], &xo, &xw, err)) != 0)
        return rc;
    if (!xw && xo == c->y_off)
        return 0;
    return ln__copy(p, n, xo, xw, c->y_off, y->numel, y->numel ? y->numel : 1,
                    y->numel ? y->numel : 1);
}

/* ---- the transformer operators ------------------------------------------ */

/* Element strides of t's dimensions aligned to the right of an
 * nd-dimensional shape (0 where t lacks the dimension or broadcasts a 1). */
static void ln__bc_strides(const struct ln__ox_tensor *t, int nd, const int64_t *shape, int64_t *st)
{
    int64_t s = 1;
    for (int d = nd - 1; d >= 0; d--) {
        const int td = d - (nd - t->ndim);
        if (td < 0) {
            st[d] = 0;
            continue;
        }
        st[d] = t->shape[td] == 1 && shape[d] != 1 ? 0 : s;
        s *= t->shape[td];
    }
}

static void ln__contig_strides(const struct ln__ox_tensor *t, int64_t *st)
{
    int64_t s = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        st[d] = s;
        s *= t->shape[d];
    }
}

/* One onnx_int.comp step over y's elements: operand k (v[k] < 0: none) read
 * at its place plus base[k] elements plus the coordinates times st[k];
 * dimensions of 1 dropped and adjacent ones merged where every operand
 * allows, at most LN__INT_ND left. GatherElements (ax_len > 0) reads a at
 * the index's coordinate along an axis of ax_len elements, ax_st apart. */
static int ln__push_int(struct ln__prep *p, const struct ln__ox_node *n,
                        const struct ln__ox_tensor *y, uint32_t op, uint32_t flags, const long *v,
                        const int64_t *base, int64_t (*st)[LN_ONNX_MAX_DIMS], int64_t ax_len,
                        int64_t ax_st, struct ln_error *err)
{
    struct ln_onnx *m = p->m;
    if (y->numel == 0)
        return 0;
    int64_t shape[LN_ONNX_MAX_DIMS], ms[3][LN_ONNX_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < y->ndim; d++) {
        if (y->shape[d] == 1)
            continue;
        int merge = nd > 0;
        for (int k = 0; k < 3 && merge; k++)
            merge = v[k] < 0 || ms[k][nd - 1] == st[k][d] * y->shape[d];
        if (merge) {
            shape[nd - 1] *= y->shape[d];
            for (int k = 0; k < 3; k++)
                ms[k][nd - 1] = v[k] < 0 ? 0 : st[k][d];
            continue;
        }
        shape[nd] = y->shape[d];
        for (int k = 0; k < 3; k++)
            ms[k][nd] = v[k] < 0 ? 0 : st[k][d];
        nd++;
    }
    if (nd > LN__INT_ND)
        return ln__decline(p, n, "has more dimensions than the GPU form takes after merging");
    struct ln__step s = {.kernel = LN__K_INT};
    struct ln__int_push *c = &s.push.in;
    uint32_t *offs[3] = {&c->a_off, &c->b_off, &c->c_off};
    int rc;
    c->types = flags;
    for (int k = 0; k < 3; k++) {
        if (v[k] < 0)
            continue;
        uint32_t w;
        if ((rc = ln__loc_as(p, n, v[k], 1, offs[k], &w, err)) != 0)
            return rc;
        const int wide = m->values[v[k]].t.dtype == LN__OX_I64;
        c->types |= (wide ? LN__INT_F_A64 : 0u) << k | (w ? LN__INT_F_AW : 0u) << k;
        const int64_t at = (int64_t)*offs[k] + base[k] * (wide ? 2 : 1);
        if (at < 0 || at + 2 * (int64_t)m->values[v[k]].t.numel > INT32_MAX)
            return ln__decline(p, n, "has a tensor past 8 GiB");
        *offs[k] = (uint32_t)at;
    }
    uint32_t yw;
    if ((rc = ln__loc_as(p, n, n->out[0], 1, &c->y_off, &yw, err)) != 0)
        return rc;
    if (yw)
        return ln__decline(p, n, "writes a constant");
    if (y->dtype == LN__OX_I64)
        c->types |= LN__INT_F_Y64;
    if ((int64_t)c->y_off + 2 * (int64_t)y->numel > INT32_MAX || y->numel > UINT32_MAX ||
        ax_len > INT32_MAX || ax_st > INT32_MAX)
        return ln__decline(p, n, "has a tensor past 8 GiB");
    c->op = op;
    c->nd = (uint32_t)nd;
    c->total = (uint32_t)y->numel;
    c->ax_len = (uint32_t)ax_len;
    c->ax_st = (int32_t)ax_st;
    for (int d = 0; d < nd; d++) {
        for (int k = 0; k < 3; k++)
            if (ms[k][d] > INT32_MAX || ms[k][d] < -INT32_MAX)
                return ln__decline(p, n, "has a stride past 2^31");
        c->shape[d] = (uint32_t)shape[d];
        c->sa[d] = (int32_t)ms[0][d];
        c->sb[d] = (int32_t)ms[1][d];
        c->sc[d] = (int32_t)ms[2][d];
    }
    if (op == LN__INT_GATHER) {
        /* The error word, and who set it (DESIGN, integers). */
        c->c_off = (uint32_t)p->s->err_off;
        c->sc[0] = (int32_t)(n - m->nodes) + 1;
        p->s->checks = 1;
    }
    return ln__push_step(p, n, &s, y->numel);
}

/* One onnx_nd.comp step: the output (contiguous, of y's shape) from a (and b)
 * read at their places plus base elements plus the coordinates times
 * sa (sb); dimensions of 1 dropped and adjacent ones merged where every
 * operand allows, at most LN__ND left. b_v < 0: a unary op. */
static int ln__push_nd_as(struct ln__prep *p, const struct ln__ox_node *n,
                          const struct ln__ox_tensor *y, uint32_t op, long a_v, int64_t a_base,
                          const int64_t *sa, long b_v, int64_t b_base, const int64_t *sb,
                          struct ln_error *err)
{
    struct ln_onnx *m = p->m;
    if (y->numel == 0)
        return 0;
    int64_t shape[LN_ONNX_MAX_DIMS], st[2][LN_ONNX_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < y->ndim; d++) {
        if (y->shape[d] == 1)
            continue;
        const int64_t s0 = sa[d], s1 = b_v >= 0 ? sb[d] : 0;
        if (nd > 0 && st[0][nd - 1] == s0 * y->shape[d] && st[1][nd - 1] == s1 * y->shape[d]) {
            shape[nd - 1] *= y->shape[d];
            st[0][nd - 1] = s0;
            st[1][nd - 1] = s1;
            continue;
        }
        shape[nd] = y->shape[d];
        st[0][nd] = s0;
        st[1][nd] = s1;
        nd++;
    }
    if (m->values[a_v].t.dtype == LN__OX_I64 || y->dtype == LN__OX_I64) {
        /* An integer copy (Transpose, Expand, Slice, Gather of int64). */
        if (op != LN__ND_COPY || b_v >= 0 || y->dtype != m->values[a_v].t.dtype)
            return ln__decline(p, n, "has integer operands the float kernel does not take");
        const long v[3] = {a_v, -1, -1};
        const int64_t base[3] = {a_base, 0, 0};
        int64_t ist[3][LN_ONNX_MAX_DIMS] = {{0}};
        memcpy(ist[0], sa, (size_t)y->ndim * sizeof *sa);
        return ln__push_int(p, n, y, LN__INT_COPY, 0, v, base, ist, 0, 0, err);
    }
    if (nd > LN__ND)
        return ln__decline(p, n, "has more dimensions than the GPU form takes after merging");
    struct ln__step s = {.kernel = LN__K_ND};
    struct ln__nd_push *c = &s.push.nd;
    int rc;
    if ((rc = ln__loc(p, n, a_v, &c->a_off, &c->a_w, err)) != 0 ||
        (b_v >= 0 && (rc = ln__loc(p, n, b_v, &c->b_off, &c->b_w, err)) != 0) ||
        (rc = ln__act(p, n, n->out[0], &c->y_off, err)) != 0)
        return rc;
    const int64_t ao = (int64_t)c->a_off + a_base, bo = (int64_t)c->b_off + b_base;
    if (ao < 0 || ao + (int64_t)m->values[a_v].t.numel > INT32_MAX || bo < 0 ||
        bo + (int64_t)(b_v >= 0 ? m->values[b_v].t.numel : 0) > INT32_MAX ||
        (int64_t)c->y_off + (int64_t)y->numel > INT32_MAX || y->numel > UINT32_MAX)
        return ln__decline(p, n, "has a tensor past 8 GiB");
    c->a_off = (uint32_t)ao;
    c->b_off = (uint32_t)bo;
    c->op = op;
    c->nd = (uint32_t)nd;
    c->total = (uint32_t)y->numel;
    for (int d = 0; d < nd; d++) {
        if (st[0][d] > INT32_MAX || st[0][d] < -INT32_MAX || st[1][d] > INT32_MAX ||
            st[1][d] < -INT32_MAX)
            return ln__decline(p, n, "has a stride past 2^31");
        c->shape[d] = (uint32_t)shape[d];
        c->sa[d] = (int32_t)st[0][d];
        c->sb[d] = (int32_t)st[1][d];
    }
    return ln__push_step(p, n, &s, y->numel);
}

static int ln__push_nd(struct ln__prep *p, const struct ln__ox_node *n, uint32_t op, long a_v,
                       int64_t a_base, const int64_t *sa, long b_v, int64_t b_base,
                       const int64_t *sb, struct ln_error *err)
{
    return ln__push_nd_as(p, n, ln__ox_out(p->m, n, 0), op, a_v, a_base, sa, b_v, b_base, sb, err);
}
static int ln__prep_nd(struct ln__prep *p, const struct ln__ox_node *n, struct ln_error *err)
{
    struct ln_onnx *m = p->m;
    const char *op = n->op->name;
    const struct ln__ox_tensor *x = ln__ox_in(m, n, 0), *y = ln__ox_out(m, n, 0);
    int64_t sa[LN_ONNX_MAX_DIMS] = {0}, sb[LN_ONNX_MAX_DIMS] = {0};
    static const struct {
        const char *name;
        uint32_t op;
    } bin[] = {{"Add", LN__ND_ADD}, {"Sub", LN__ND_SUB}, {"Mul", LN__ND_MUL}, {"Div", LN__ND_DIV},
               {"Pow", LN__ND_POW}, {"Min", LN__ND_MIN}, {"Max", LN__ND_MAX}},
      un[] = {{"Erf", LN__ND_ERF},   {"Gelu", LN__ND_GELU},        {"Sqrt", LN__ND_SQRT},
              {"Exp", LN__ND_EXP},   {"Tanh", LN__ND_TANH},        {"Neg", LN__ND_NEG},
              {"Abs", LN__ND_ABS},   {"Reciprocal", LN__ND_RECIP}, {"Log", LN__ND_LOG},
              {"Relu", LN__ND_RELU}, {"Sigmoid", LN__ND_SIGMOID}};
    for (size_t k = 0; k < sizeof bin / sizeof bin[0]; k++)
        if (!strcmp(op, bin[k].name)) {
            if (n->n_in != 2)
                return ln__decline(p, n, "has other than two operands");
            ln__bc_strides(x, y->ndim, y->shape, sa);
            ln__bc_strides(ln__ox_in(m, n, 1), y->ndim, y->shape, sb);
            return ln__push_nd(p, n, bin[k].op, n->in[0], 0, sa, n->in[1], 0, sb, err);
        }
    for (size_t k = 0; k < sizeof un / sizeof un[0]; k++)
        if (!strcmp(op, un[k].name)) {
            uint32_t code = un[k].op;
            if (code == LN__ND_GELU && n->a.alpha != 0.0f)
                code = LN__ND_GELU_TANH;
            ln__contig_strides(x, sa);
            return ln__push_nd(p, n, code, n->in[0], 0, sa, -1, 0, NULL, err);
        }
    int64_t xs[LN_ONNX_MAX_DIMS];
    ln__contig_strides(x, xs);
    if (!strcmp(op, "Transpose")) {
        for (int d = 0; d < y->ndim; d++)
            sa[d] = xs[n->a.perm[d]];
        return ln__push_nd(p, n, LN__ND_COPY, n->in[0], 0, sa, -1, 0, NULL, err);
    }
    if (!strcmp(op, "Expand")) {
        ln__bc_strides(x, y->ndim, y->shape, sa);
        return ln__push_nd(p, n, LN__ND_COPY, n->in[0], 0, sa, -1, 0, NULL, err);
    }
    if (!strcmp(op, "Slice")) {
        int64_t start[LN_ONNX_MAX_DIMS], step[LN_ONNX_MAX_DIMS], len[LN_ONNX_MAX_DIMS], base = 0;
        struct ln_error e2 = {0};
        for (int k = 1; k < n->n_in; k++)
            if (n->in[k] >= 0 && !m->values[n->in[k]].known)
                return ln__decline(p, n, "has bounds computed at run time");
        if (ln__ox_slice_at(m, (struct ln__ox_node *)n, start, step, len, &e2) < 0)
            return ln__decline(p, n, "has bounds the GPU form cannot read");
        for (int d = 0; d < x->ndim; d++) {
            base += start[d] * xs[d];
            sa[d] = step[d] * xs[d];
        }
        return ln__push_nd(p, n, LN__ND_COPY, n->in[0], base, sa, -1, 0, NULL, err);
    }
    /* Gather of one known index: a shifted copy. */
    const struct ln__ox_tensor *idx = ln__ox_in(m, n, 1);
    const int64_t axis = n->a.axis < 0 ? n->a.axis + x->ndim : n->a.axis;
    if (!idx || idx->dtype != LN__OX_I64 || axis < 0 || axis >= x->ndim)
        return ln__decline(p, n, "has indices the GPU form does not take");
    if (!m->values[n->in[1]].known || idx->numel != 1) {
        /* Indices at run time or several: onnx_int.comp's gather, y's
         * dimensions being x's before the axis, idx's, x's after it. */
        if (g_o.no_int)
            return ln__decline(p, n, "has its integer GPU form turned off");
        int64_t st[3][LN_ONNX_MAX_DIMS] = {{0}}, is[LN_ONNX_MAX_DIMS];
        ln__contig_strides(idx, is);
        for (int d = 0; d < y->ndim; d++) {
            if (d < axis)
                st[0][d] = xs[d];
            else if (d < axis + idx->ndim)
                st[1][d] = is[d - axis];
            else
                st[0][d] = xs[d - idx->ndim + 1];
        }
        const long v[3] = {n->in[0], n->in[1], -1};
        const int64_t base[3] = {0, 0, 0};
        return ln__push_int(p, n, y, LN__INT_GATHER, 0, v, base, st, x->shape[axis], xs[axis], err);
    }
    int64_t k = ((const int64_t *)idx->data)[0];
    if (k < 0)
        k += x->shape[axis];
    if (k < 0 || k >= x->shape[axis])
        return ln__decline(p, n, "has an index out of range");
    /* y's elements in the order of x's shape with the axis at 1. */
    int64_t vs[LN_ONNX_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++)
        vs[d] = x->shape[d];
    vs[axis] = 1;
    struct ln__ox_tensor v = {.dtype = y->dtype, .ndim = x->ndim};
    memcpy(v.shape, vs, sizeof vs);
    v.numel = y->numel;
    return ln__push_nd_as(p, n, &v, LN__ND_COPY, n->in[0], k * xs[axis], xs, -1, 0, NULL, err);
}

static int ln__prep_rows(struct ln__prep *p, const struct ln__ox_node *n, struct ln_error *err)
{
    struct ln_onnx *m = p->m;
    const char *op = n->op->name;
    const struct ln__ox_tensor *x = ln__ox_in(m, n, 0), *y = ln__ox_out(m, n, 0);
    struct ln__step s = {.kernel = LN__K_ROWS};
    struct ln__rows_push *c = &s.push.rows;
    size_t outer = 1, len = 1, inner = 1;
    int rc;
    if (x->numel == 0 || y->numel == 0)
        return 0;
    if (!strcmp(op, "Softmax")) {
        const int64_t axis = n->a.axis < 0 ? n->a.axis + x->ndim : n->a.axis;
        for (int d = 0; d < x->ndim; d++) {
            size_t *to = d < axis ? &outer : d == axis || m->opset < 13 ? &len : &inner;
            *to *= (size_t)x->shape[d];
        }
        c->op = LN__ROWS_SOFTMAX;
    } else if (!strcmp(op, "LayerNormalization")) {
        const int64_t axis = n->a.axis < 0 ? n->a.axis + x->ndim : n->a.axis;
        for (int d = 0; d < x->ndim; d++)
            *(d < axis ? &outer : &len) *= (size_t)x->shape[d];
        uint32_t w, bo;
        if (!m->values[n->in[1]].known ||
            (n->n_in > 2 && n->in[2] >= 0 && !m->values[n->in[2]].known))
            return ln__decline(p, n, "has a scale or bias computed at run time");
        if ((rc = ln__loc(p, n, n->in[1], &c->g_off, &w, err)) != 0)
            return rc;
        c->b_off = -1;
        if (n->n_in > 2 && n->in[2] >= 0) {
            if ((rc = ln__loc(p, n, n->in[2], &bo, &w, err)) != 0)
                return rc;
            if (bo > INT32_MAX)
                return ln__decline(p, n, "has a tensor past 8 GiB");
            c->b_off = (int32_t)bo;
        }
        if (n->n_out > 1)
            for (int k = 1; k < n->n_out; k++)
                if (n->out[k] >= 0)
                    return ln__decline(p, n, "asks for the mean or the deviation");
        c->op = LN__ROWS_LAYERNORM;
        c->eps = n->a.eps;
    } else {
        /* ReduceMean / Sum / Max / Min over one run of adjacent axes. */
        int mark[LN_ONNX_MAX_DIMS], lo = -1, hi = -1;
        if (n->n_in > 1 && n->in[1] >= 0)
            return ln__decline(p, n, "takes its axes as an input");
        for (int d = 0; d < x->ndim; d++)
            mark[d] = n->a.naxes <= 0;
        for (int i = 0; i < n->a.naxes; i++) {
            const int64_t ax = n->a.axes[i] < 0 ? n->a.axes[i] + x->ndim : n->a.axes[i];
            if (ax < 0 || ax >= x->ndim)
                return ln__decline(p, n, "has an axis out of range");
            mark[ax] = 1;
        }
        for (int d = 0; d < x->ndim; d++)
            if (mark[d] && x->shape[d] != 1) {
                if (lo < 0)
                    lo = d;
                hi = d;
            }
        for (int d = lo; lo >= 0 && d <= hi; d++)
            if (!mark[d] && x->shape[d] != 1)
                return ln__decline(p, n, "reduces axes that are not adjacent");
        for (int d = 0; d < x->ndim; d++)
            *(lo < 0 || d < lo ? &outer : d <= hi ? &len : &inner) *= (size_t)x->shape[d];
        c->op = !strcmp(op, "ReduceMean")  ? LN__ROWS_MEAN
                : !strcmp(op, "ReduceSum") ? LN__ROWS_SUM
                : !strcmp(op, "ReduceMax") ? LN__ROWS_MAX
                                           : LN__ROWS_MIN;
    }
    if ((rc = ln__loc(p, n, n->in[0], &c->x_off, &c->x_w, err)) != 0 ||
        (rc = ln__act(p, n, n->out[0], &c->y_off, err)) != 0)
        return rc;
    const size_t rows = outer * inner;
    if (len > UINT32_MAX || inner > UINT32_MAX || rows > UINT32_MAX || len == 0)
        return ln__decline(p, n, "is too large for one dispatch");
    c->len = (uint32_t)len;
    c->inner = (uint32_t)inner;
    c->rows = (uint32_t)rows;
    return ln__push_step(p, n, &s, rows);
}

static int ln__prep_matmul(struct ln__prep *p, const struct ln__ox_node *n, struct ln_error *err)
{
    struct ln_onnx *m = p->m;
    const struct ln__ox_tensor *a = ln__ox_in(m, n, 0), *b = ln__ox_in(m, n, 1);
    const struct ln__ox_tensor *y = ln__ox_out(m, n, 0);
    const int gemm = !strcmp(n->op->name, "Gemm");
    struct ln__step s = {.kernel = LN__K_MATMUL};
    struct ln__matmul_push *c = &s.push.mm;
    int rc;
    if (y->numel == 0)
        return 0;
    const int64_t M = y->shape[y->ndim - 2], N = y->shape[y->ndim - 1];
    const int64_t K = gemm ? a->shape[n->a.trans_a ? 0 : 1] : a->shape[a->ndim - 1];
    if (K == 0)
        return ln__decline(p, n, "has an empty inner dimension");
    if ((rc = ln__loc(p, n, n->in[0], &c->a_off, &c->a_w, err)) != 0 ||
        (rc = ln__loc(p, n, n->in[1], &c->b_off, &c->b_w, err)) != 0 ||
        (rc = ln__act(p, n, n->out[0], &c->y_off, err)) != 0)
        return rc;
    c->M = (uint32_t)M;
    c->N = (uint32_t)N;
    c->K = (uint32_t)K;
    c->alpha = 1.0f;
    size_t batch = 1;
    if (gemm) {
        const struct ln__ox_tensor *ct = ln__ox_in(m, n, 2);
        c->trans_a = n->a.trans_a != 0;
        c->trans_b = n->a.trans_b != 0;
        c->alpha = n->a.alpha;
        if (ct && ct->numel) {
            int64_t st[LN_ONNX_MAX_DIMS];
            ln__bc_strides(ct, 2, y->shape, st);
            if ((rc = ln__loc(p, n, n->in[2], &c->c_off, &c->c_w, err)) != 0)
                return rc;
            c->c_on = 1;
            c->c_si = (uint32_t)st[0];
            c->c_sj = (uint32_t)st[1];
            c->beta = n->a.beta;
        }
    } else {
        /* The batch dimensions, broadcast, merged where both allow. */
        const int nb = y->ndim - 2;
        struct ln__ox_tensor ba = *a, bb = *b;
        ba.ndim -= 2;
        bb.ndim -= 2;
        int64_t sa[LN_ONNX_MAX_DIMS], sb[LN_ONNX_MAX_DIMS], shape[LN_ONNX_MAX_DIMS];
        ln__bc_strides(&ba, nb, y->shape, sa);
        ln__bc_strides(&bb, nb, y->shape, sb);
        int k = 0;
        for (int d = 0; d < nb; d++) {
            if (y->shape[d] == 1)
                continue;
            if (k > 0 && sa[k - 1] == sa[d] * y->shape[d] && sb[k - 1] == sb[d] * y->shape[d]) {
                shape[k - 1] *= y->shape[d];
                sa[k - 1] = sa[d];
                sb[k - 1] = sb[d];
                continue;
            }
            shape[k] = y->shape[d];
            sa[k] = sa[d];
            sb[k] = sb[d];
            k++;
        }
        if (k > 4)
            return ln__decline(p, n, "has more than 4 batch dimensions after merging");
        c->nb = (uint32_t)k;
        for (int d = 0; d < k; d++) {
            const uint64_t xa = (uint64_t)sa[d] * (uint64_t)(M * K);
            const uint64_t xb = (uint64_t)sb[d] * (uint64_t)(K * N);
            if (xa > UINT32_MAX || xb > UINT32_MAX)
                return ln__decline(p, n, "has a stride past 2^32");
            c->bs[d] = (uint32_t)shape[d];
            c->sa[d] = (uint32_t)xa;
            c->sb[d] = (uint32_t)xb;
            batch *= (size_t)shape[d];
        }
    }
    const size_t gx = ((size_t)N + 15) / 16, gy = ((size_t)M + 15) / 16;
    if (gx > p->info.max_groups_x || gy > 65535 || batch > 65535 || y->numel > UINT32_MAX)
        return ln__decline(p, n, "is too large for one dispatch");
    if ((rc = ln__push_step(p, n, &s, y->numel)) != 0)
        return rc;
    struct ln__step *last = &p->steps[p->n_steps - 1];
    last->gx = (uint32_t)gx;
    last->gy = (uint32_t)gy;
    last->gz = (uint32_t)batch;
    return 0;
}

/* ---- the integer and index operators -------------------------------------
 *
 * DESIGN, integers: an int64 tensor lives on the device as on the host,
 * eight bytes at the same arena offset, which onnx_int.comp reads as two
 * 32-bit words (low first) and computes on with carries, a 64-bit product
 * from umulExtended and a shift-and-subtract division. So no value has
 * to be proved to fit 32 bits, no driver needs shaderInt64, a read-back
 * or upload of an integer value between GPU and CPU nodes copies the same
 * bytes, and every result is the CPU form's bit for bit. Booleans are
 * int64 0 or 1 as on the CPU. GatherElements and Gather (with indices at
 * run time) cannot fail in the middle of a batch: an index out of range writes 0 and raises the
 * error word, a word of the activations past the inputs, to the node's number; the run reads it
 * after the last batch (only for plans that have such a step) and fails with the CPU form's error.
 */

static int ln__prep_int(struct ln__prep *p, const struct ln__ox_node *n, struct ln_error *err)
{
    struct ln_onnx *m = p->m;
    const char *op = n->op->name;
    const struct ln__ox_tensor *x = ln__ox_in(m, n, 0), *y = ln__ox_out(m, n, 0);
    enum { F32, I64, ANY };
    static const struct {
        const char *name;
        uint32_t op;
        int arity, kind;
    } ops[] = {{"Floor", LN__INT_FLOOR, 1, F32},
               {"Ceil", LN__INT_CEIL, 1, F32},
               {"Not", LN__INT_NOT, 1, ANY},
               {"Cast", LN__INT_CAST, 1, ANY},
               {"Neg", LN__INT_NEG, 1, I64},
               {"Abs", LN__INT_ABS, 1, I64},
               {"Relu", LN__INT_RELU, 1, I64},
               {"Identity", LN__INT_COPY, 1, I64},
               {"Dropout", LN__INT_COPY, 1, I64},
               {"Reshape", LN__INT_COPY, 1, I64},
               {"Flatten", LN__INT_COPY, 1, I64},
               {"Squeeze", LN__INT_COPY, 1, I64},
               {"Unsqueeze", LN__INT_COPY, 1, I64},
               {"Add", LN__INT_ADD, 2, I64},
               {"Sub", LN__INT_SUB, 2, I64},
               {"Mul", LN__INT_MUL, 2, I64},
               {"Div", LN__INT_DIV, 2, I64},
               {"Min", LN__INT_MIN, 2, I64},
               {"Max", LN__INT_MAX, 2, I64},
               {"Equal", LN__INT_EQ, 2, ANY},
               {"Less", LN__INT_LT, 2, ANY},
               {"Greater", LN__INT_GT, 2, ANY},
               {"GreaterOrEqual", LN__INT_GE, 2, ANY},
               {"LessOrEqual", LN__INT_LE, 2, ANY},
               {"And", LN__INT_AND, 2, I64},
               {"Or", LN__INT_OR, 2, I64},
               {"Where", LN__INT_WHERE, 3, ANY},
               {"Clip", LN__INT_CLIP, 3, ANY},
               {"GatherElements", LN__INT_GATHER, 2, ANY}};
    size_t i = 0;
    while (i < sizeof ops / sizeof ops[0] && strcmp(op, ops[i].name))
        i++;
    if (i == sizeof ops / sizeof ops[0])
        return ln__decline(p, n, "has integer tensors and no integer GPU form");
    if (!x || n->n_out < 1 || n->out[0] < 0 || (n->n_out > 1 && n->out[1] >= 0))
        return ln__decline(p, n, "has an omitted input or a second output");
    if ((ops[i].kind == F32 && x->dtype != LN__OX_F32) ||
        (ops[i].kind == I64 && x->dtype != LN__OX_I64))
        return ln__decline(p, n, "has an operand type the GPU form does not take");
    long v[3] = {n->in[0], -1, -1};
    int64_t base[3] = {0, 0, 0}, st[3][LN_ONNX_MAX_DIMS] = {{0}};
    uint32_t flags = 0;
    if (ops[i].op == LN__INT_GATHER) {
        const struct ln__ox_tensor *idx = ln__ox_in(m, n, 1);
        const int64_t axis = n->a.axis < 0 ? n->a.axis + x->ndim : n->a.axis;
        if (!idx || idx->dtype != LN__OX_I64 || axis < 0 || axis >= x->ndim || idx->ndim != x->ndim)
            return ln__decline(p, n, "has indices the GPU form does not take");
        int64_t xs[LN_ONNX_MAX_DIMS];
        ln__contig_strides(x, xs);
        for (int d = 0; d < x->ndim; d++)
            st[0][d] = d == axis ? 0 : xs[d];
        ln__contig_strides(idx, st[1]);
        v[1] = n->in[1];
        return ln__push_int(p, n, y, LN__INT_GATHER, 0, v, base, st, x->shape[axis], xs[axis], err);
    }
    if (ops[i].arity == 1) {
        /* Element for element in y's order (a copy keeps the order). */
        ln__contig_strides(y, st[0]);
        if (ops[i].op == LN__INT_CAST && n->a.to < 0)
            flags |= LN__INT_F_BOOL;
        if (x->numel != y->numel)
            return ln__decline(p, n, "changes the element count");
        return ln__push_int(p, n, y, ops[i].op, flags, v, base, st, 0, 0, err);
    }
    if (ops[i].op == LN__INT_CLIP && n->n_in < 2 &&
        (n->a.alpha != -INFINITY || n->a.beta != INFINITY))
        return ln__decline(p, n, "has its bounds as attributes");
    for (int k = 0; k < ops[i].arity; k++) {
        const struct ln__ox_tensor *t = ln__ox_in(m, n, k);
        if (!t) {
            if (ops[i].op != LN__INT_CLIP)
                return ln__decline(p, n, "has an omitted input");
            flags |= k == 1 ? LN__INT_F_NO_B : LN__INT_F_NO_C;
            continue;
        }
        v[k] = n->in[k];
        ln__bc_strides(t, y->ndim, y->shape, st[k]);
    }
    return ln__push_int(p, n, y, ops[i].op, flags, v, base, st, 0, 0, err);
}

static int ln__prep_node(struct ln__prep *p, const struct ln__ox_node *n, struct ln_error *err)
{
    const char *op = n->op->name;
    static const char *int_ops[] = {"Floor", "Ceil",           "Not",         "Cast",
                                    "Clip",  "Equal",          "Less",        "Greater",
                                    "And",   "GreaterOrEqual", "LessOrEqual", "Or",
                                    "Where", "GatherElements"};
    for (size_t i = 0; i < sizeof int_ops / sizeof int_ops[0]; i++)
        if (!strcmp(op, int_ops[i]))
            return g_o.no_int ? ln__decline(p, n, "has its integer GPU form turned off")
                              : ln__prep_int(p, n, err);
    const struct ln__ox_tensor *x = n->n_in > 0 ? ln__ox_in(p->m, n, 0) : NULL;
    if ((x && x->dtype == LN__OX_I64) ||
        (n->n_out > 0 && n->out[0] >= 0 && ln__ox_out(p->m, n, 0)->dtype == LN__OX_I64)) {
        if (g_o.no_int)
            return ln__decline(p, n, "has its integer GPU form turned off");
        /* Integer copies in other orders go through onnx_nd's indexing. */
        if (!strcmp(op, "Transpose") || !strcmp(op, "Expand") || !strcmp(op, "Slice") ||
            !strcmp(op, "Gather"))
            return ln__prep_nd(p, n, err);
        return ln__prep_int(p, n, err);
    }
    for (int k = 0; k < n->n_out; k++)
        if (n->out[k] >= 0 && p->m->values[n->out[k]].t.dtype != LN__OX_F32)
            return ln__decline(p, n, "has an integer output on the run-time path");
    if (!strcmp(op, "Conv"))
        return ln__prep_conv(p, n, err);
    if (!strcmp(op, "MaxPool") || !strcmp(op, "AveragePool") || !strcmp(op, "GlobalMaxPool") ||
        !strcmp(op, "GlobalAveragePool"))
        return ln__prep_pool(p, n, err);
    if (!strcmp(op, "Resize") || !strcmp(op, "Upsample"))
        return ln__prep_resize(p, n, err);
    if (!strcmp(op, "Concat"))
        return ln__prep_concat(p, n, err);
    static const char *nd[] = {"Erf",       "Gelu",       "Sqrt",  "Exp",   "Tanh", "Neg",
                               "Abs",       "Reciprocal", "Log",   "Pow",   "Min",  "Max",
                               "Transpose", "Expand",     "Slice", "Gather"};
    for (size_t i = 0; i < sizeof nd / sizeof nd[0]; i++)
        if (!strcmp(op, nd[i]))
            return ln__prep_nd(p, n, err);
    static const char *rows[] = {"Softmax",   "LayerNormalization", "ReduceMean",
                                 "ReduceSum", "ReduceMax",          "ReduceMin"};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (!strcmp(op, rows[i]))
            return ln__prep_rows(p, n, err);
    if (!strcmp(op, "MatMul") || !strcmp(op, "Gemm"))
        return ln__prep_matmul(p, n, err);
    static const char *ew[] = {"Relu",    "Sigmoid", "BatchNormalization", "Add",     "Sub",
                               "Mul",     "Div",     "Identity",           "Dropout", "Reshape",
                               "Flatten", "Squeeze", "Unsqueeze"};
    for (size_t i = 0; i < sizeof ew / sizeof ew[0]; i++)
        if (!strcmp(op, ew[i]))
            return ln__prep_ew(p, n, err);
    return ln__decline(p, n, "has no GPU form");
}

/* ---- mixed execution ----------------------------------------------------
 *
 * DESIGN: a node the GPU form declines (an operator without a GPU form, an
 * integer tensor, a broadcast the kernels do not take) no longer sends the
 * whole graph to the CPU: the CPU runs that node between GPU stretches.
 * Both sides keep the CPU plan's arena at the same offsets (the host's is
 * m->arena, the device's s->act), so a value has one place on each side
 * and the question is only which copy is current. That is settled once,
 * when the plan is prepared, walking the nodes in order with two flags per
 * value, host-valid and device-valid:
 *   - graph inputs and constants are valid on both sides (the inputs are
 *     uploaded first; constants live in the weights buffers and in the
 *     model);
 *   - a GPU node makes its outputs device-valid only; before it, every
 *     run-time input that is not device-valid is uploaded (LN__S_UP);
 *   - a CPU node makes its outputs host-valid only; before it, every
 *     run-time input that is not host-valid is read back (LN__S_DOWN);
 *     a shape-only node reads no data and waits for none;
 *   - a fused ReLU (skipped) has its producer's flags.
 * Integer tensors have the same bytes on both sides (DESIGN, integers)
 * and cross as the floats do. The planner's liveness holds on
 * both sides alike: a value's bytes are not reused by either side before
 * its last reader, so a copy made at the first crossing stays current
 * until then. At run time the dispatches between two host steps are one
 * batch (ln_gpu_batch_begin); a host step ends the batch (the submit and
 * the wait are the hand-off from device to host), the copies and the CPU
 * node run on this thread under the model's lock, and the next dispatch
 * starts a new batch. What is left to the CPU is logged once per plan. */

static int ln__root_bytes(const struct ln_onnx *m, long v, size_t *at, size_t *bytes)
{
    size_t off = 0;
    long r = v;
    while (m->values[r].alias) {
        off += m->values[r].alias_off;
        r = m->values[r].alias - 1;
    }
    *at = off + m->values[r].offset;
    const struct ln__ox_tensor *t = &m->values[v].t;
    *bytes = t->numel * (t->dtype == LN__OX_I64 ? 8 : 4);
    return *bytes > 0 && *at <= m->arena_bytes && *bytes <= m->arena_bytes - *at;
}

static void ln__add_step(struct ln__step **steps, size_t *n, size_t *cap, const struct ln__step *st)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        struct ln__step *ns = ln_xmalloc(*cap * sizeof *ns);
        if (*n)
            memcpy(ns, *steps, *n * sizeof *ns);
        free(*steps);
        *steps = ns;
    }
    (*steps)[(*n)++] = *st;
}

/* Interleaves the GPU nodes' dispatches (p->steps, node i's from
 * first[i]) with the CPU nodes and the copies between (DESIGN above) into
 * s->steps; marks the outputs read from the host. */
static int ln__mix(struct ln_onnx *m, struct ln__gpu_onnx *s, const struct ln__prep *p,
                   const size_t *first, struct ln_error *err)
{
    unsigned char *hv = ln_alloc_array(m->n_values ? m->n_values : 1, 2, 0, "GPU plan", err);
    if (!hv)
        return LN_ENOMEM;
    unsigned char *dv = hv + m->n_values;
    for (size_t v = 0; v < m->n_values; v++)
        hv[v] = dv[v] = m->values[v].known || m->values[v].is_input;
    struct ln__step *steps = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < m->n_nodes; i++) {
        const struct ln__ox_node *nd = &m->nodes[i];
        if (nd->folded)
            continue;
        if (nd->fused) {
            if (nd->in[0] >= 0 && nd->out[0] >= 0) {
                hv[nd->out[0]] = hv[nd->in[0]];
                dv[nd->out[0]] = dv[nd->in[0]];
            }
            continue;
        }
        const int gpu = s->where[i] == LN__ON_GPU;
        for (int k = 0; k < nd->n_in && !(!gpu && nd->op->shape_only); k++) {
            const long v = nd->in[k];
            if (v < 0 || (gpu ? dv[v] : hv[v]))
                continue;
            struct ln__step st = {.kernel = gpu ? LN__S_UP : LN__S_DOWN};
            if (ln__root_bytes(m, v, &st.at, &st.bytes))
                ln__add_step(&steps, &n, &cap, &st);
            hv[v] = dv[v] = 1;
        }
        if (gpu) {
            for (size_t j = first[i]; j < first[i + 1]; j++)
                ln__add_step(&steps, &n, &cap, &p->steps[j]);
        } else {
            struct ln__step st = {.kernel = LN__S_CPU, .node = (long)i};
            ln__add_step(&steps, &n, &cap, &st);
        }
        for (int k = 0; k < nd->n_out; k++)
            if (nd->out[k] >= 0) {
                hv[nd->out[k]] = !gpu;
                dv[nd->out[k]] = (unsigned char)gpu;
            }
    }
    s->out_host = ln_xcalloc(m->n_outputs ? m->n_outputs : 1, 1);
    for (size_t i = 0; i < m->n_outputs; i++)
        s->out_host[i] = !dv[m->outputs[i]];
    free(hv);
    s->steps = steps;
    s->n_steps = n;
    return 0;
}

/* The one line that says what the CPU runs of this plan. */
static void ln__log_mix(const struct ln_onnx *m, const struct ln__gpu_onnx *s,
                        const struct ln__ox_node *cpu_first, const char *cpu_why)
{
    char ops[480];
    size_t o = 0, n_run = 0, n_down = 0, n_up = 0;
    ops[0] = 0;
    for (size_t i = 0; i < s->n_steps; i++) {
        n_down += s->steps[i].kernel == LN__S_DOWN;
        n_up += s->steps[i].kernel == LN__S_UP;
    }
    for (size_t i = 0; i < m->n_nodes; i++)
        n_run += s->where[i] != LN__ON_NONE;
    for (size_t i = 0; i < m->n_nodes; i++) {
        if (s->where[i] != LN__ON_CPU)
            continue;
        const char *name = m->nodes[i].op->name;
        size_t j = 0, count = 0;
        while (j < i && !(s->where[j] == LN__ON_CPU && !strcmp(m->nodes[j].op->name, name)))
            j++;
        if (j < i)
            continue; /* counted at its first node */
        for (j = i; j < m->n_nodes; j++)
            count += s->where[j] == LN__ON_CPU && !strcmp(m->nodes[j].op->name, name);
        if (o < sizeof ops - 40)
            o += (size_t)snprintf(ops + o, sizeof ops - o, "%s%s %zu", o ? ", " : "", name, count);
    }
    ln_log(LN_LOG_LEVEL_INFO,
           "ONNX on %s: %zu of %zu nodes run on the CPU between GPU stretches (%s; the first, "
           "%s node '%.80s', %s); %zu read-backs and %zu uploads a run",
           ln_gpu_current_name(), s->n_cpu, n_run, ops, cpu_first ? cpu_first->op->name : "?",
           cpu_first ? ln__ox_node_name(cpu_first) : "?", cpu_why ? cpu_why : "?", n_down, n_up);
}

/* Makes the steps of m's plan and uploads what they read: 0, a negative
 * LN_E* (nothing left on the device), or LN__GPU_DECLINED (logged). */
static int ln__prepare_locked(struct ln_onnx *m, struct ln__gpu_onnx *s, struct ln_gpu *gpu,
                              struct ln_error *err)
{
    struct ln__prep p = {.m = m, .s = s};
    size_t *first = NULL;
    ln_gpu_info(gpu, &p.info);
    int rc = 0;
    p.piece = p.info.max_buffer_bytes / sizeof(float) / 16 * 16;
    if (g_o.piece_bytes && g_o.piece_bytes / sizeof(float) < p.piece)
        p.piece = g_o.piece_bytes / sizeof(float) / 16 * 16;
    p.piece_at = ln_xcalloc(1, sizeof *p.piece_at);
    p.n_pieces = 1;
    p.w_of = ln_alloc_array(m->n_values ? m->n_values : 1, sizeof *p.w_of, 0, "GPU plan", err);
    p.w_piece =
        ln_alloc_array(m->n_values ? m->n_values : 1, sizeof *p.w_piece, 0, "GPU plan", err);
    s->in_off =
        ln_alloc_array(m->n_inputs ? m->n_inputs : 1, sizeof *s->in_off, 0, "GPU plan", err);
    if (!p.w_of || !p.w_piece || !s->in_off) {
        rc = LN_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < m->n_values; i++)
        p.w_of[i] = SIZE_MAX;
    /* The activations: the CPU plan's arena, then each input. */
    size_t act = m->arena_bytes / sizeof(float);
    for (size_t i = 0; i < m->n_inputs; i++) {
        act = (act + 15) / 16 * 16;
        s->in_off[i] = act;
        act += m->values[m->inputs[i]].t.numel;
    }
    /* onnx_int.comp's error word (DESIGN, integers). */
    act = (act + 15) / 16 * 16;
    s->err_off = act;
    act += 16;
    /* Each node's dispatches, or the CPU (a node the GPU form declines:
     * what it pushed is dropped; constants it copied stay, unused). */
    s->where = ln_xcalloc(m->n_nodes ? m->n_nodes : 1, 1);
    s->n_where = m->n_nodes;
    first = ln_xcalloc(m->n_nodes + 1, sizeof *first);
    size_t n_gpu = 0;
    const struct ln__ox_node *cpu_first = NULL;
    const char *cpu_why = NULL;
    for (size_t i = 0; i < m->n_nodes && rc == 0; i++) {
        const struct ln__ox_node *n = &m->nodes[i];
        first[i] = p.n_steps;
        if (n->folded || n->fused)
            continue;
        if ((rc = ln__w_piece(&p, n, err)) == LN__GPU_DECLINED)
            rc = ln__decline(&p, n, "has constants larger than one buffer's range");
        if (rc == 0)
            rc = ln__prep_node(&p, n, err);
        if (rc == LN__GPU_DECLINED) {
            p.n_steps = first[i];
            s->where[i] = LN__ON_CPU;
            s->n_cpu++;
            if (!cpu_first) {
                cpu_first = n;
                cpu_why = p.why;
            }
            rc = 0;
        } else if (rc == 0) {
            s->where[i] = LN__ON_GPU;
            n_gpu++;
        }
    }
    first[m->n_nodes] = p.n_steps;
    if (rc < 0)
        goto out;
    if (n_gpu == 0) {
        if (cpu_first)
            ln_log(LN_LOG_LEVEL_INFO,
                   "ONNX on %s: no node has a GPU form (%s node '%.80s' %s); the graph runs on "
                   "the CPU",
                   ln_gpu_current_name(), cpu_first->op->name, ln__ox_node_name(cpu_first),
                   cpu_why);
        else
            ln_log(LN_LOG_LEVEL_INFO, "ONNX on %s: the graph has no node to run; the CPU runs it",
                   ln_gpu_current_name());
        rc = LN__GPU_DECLINED;
        goto out;
    }
    if ((rc = ln__mix(m, s, &p, first, err)) < 0)
        goto out;
    if (act == 0)
        act = 16;
    if (act > SIZE_MAX / sizeof(float) || act * sizeof(float) > p.info.max_buffer_bytes) {
        ln_log(LN_LOG_LEVEL_INFO,
               "ONNX on %s: the graph's activations (%zu MiB) exceed one buffer's range "
               "(%zu MiB); it runs on the CPU",
               ln_gpu_current_name(), act * sizeof(float) >> 20, p.info.max_buffer_bytes >> 20);
        rc = LN__GPU_DECLINED;
        goto out;
    }
    /* The whole budget before anything is allocated or uploaded. */
    size_t need = act, n_w = 0;
    for (size_t i = 0; i < p.n_pieces; i++) {
        const size_t end = i + 1 < p.n_pieces ? p.piece_at[i + 1] : p.n_w;
        const size_t len = end - p.piece_at[i];
        need += len > 16 ? len : 16;
        n_w += len > 16 ? len : 16;
    }
    if ((rc = ln_gpu_budget_check(gpu, need * sizeof(float),
                                  "the ONNX network (weights and activations)", err)) < 0)
        goto out;
    if ((rc = ln_gpu_buffer_new(gpu, act * sizeof(float), "ONNX activations", &s->act, err)) < 0)
        goto out;
    s->wts = ln_xcalloc(p.n_pieces, sizeof *s->wts);
    s->n_wts = p.n_pieces;
    for (size_t i = 0; i < p.n_pieces; i++) {
        const size_t end = i + 1 < p.n_pieces ? p.piece_at[i + 1] : p.n_w;
        const size_t len = end - p.piece_at[i];
        if ((rc = ln_gpu_buffer_new(gpu, (len > 16 ? len : 16) * sizeof(float), "ONNX weights",
                                    &s->wts[i], err)) < 0 ||
            (len && (rc = ln_gpu_buffer_write(s->wts[i], 0, p.w + p.piece_at[i],
                                              len * sizeof(float), err)) < 0))
            goto out;
    }
    if (s->checks) {
        const uint32_t zero = 0;
        if ((rc = ln_gpu_buffer_write(s->act, s->err_off * sizeof(float), &zero, sizeof zero,
                                      err)) < 0)
            goto out;
    }
    s->act_floats = act;
    s->wts_floats = n_w;
    s->gpu = gpu;
    if (s->n_cpu)
        ln__log_mix(m, s, cpu_first, cpu_why);
out:
    free(first);
    free(p.w);
    free(p.w_of);
    free(p.w_piece);
    free(p.piece_at);
    free(p.steps);
    if (rc != 0)
        ln__state_clear(s);
    return rc;
}

/* ---- running ------------------------------------------------------------ */

static int ln__execute_locked(struct ln_onnx *m, struct ln__gpu_onnx *s,
                              struct ln_onnx_tensor *outputs, size_t n_outputs,
                              struct ln_error *err)
{
    int rc;
    for (size_t i = 0; i < m->n_inputs; i++) {
        const struct ln__ox_tensor *t = &m->values[m->inputs[i]].t;
        if (t->numel && (rc = ln_gpu_buffer_write(s->act, s->in_off[i] * sizeof(float), t->data,
                                                  t->numel * sizeof(float), err)) < 0)
            return rc;
    }
    if (s->n_cpu && (rc = ln__ox_scratch_ready(m, err)) < 0)
        return rc;
    /* The dispatches between two host steps in one batch
     * (ln_gpu_batch_begin: one command buffer, a barrier between
     * dispatches, submitted in pieces of a bounded length for drivers with
     * a watchdog, one wait at the end); a host step ends it (DESIGN,
     * mixed execution). */
    int in_batch = 0;
    rc = 0;
    for (size_t i = 0; i < s->n_steps && rc == 0; i++) {
        const struct ln__step *st = &s->steps[i];
        if (st->kernel >= 0) {
            if (!in_batch && (rc = ln_gpu_batch_begin(s->gpu, err)) < 0)
                break;
            in_batch = 1;
            struct ln_gpu_buffer *const bufs[2] = {s->act, s->wts[st->chunk]};
            rc =
                ln_gpu_dispatch(g_o.k[st->kernel], bufs, 2, &st->push, st->gx, st->gy, st->gz, err);
            continue;
        }
        if (in_batch) {
            in_batch = 0;
            if ((rc = ln_gpu_batch_end(s->gpu, err)) < 0)
                break;
        }
        if (st->kernel == LN__S_DOWN)
            rc = ln_gpu_buffer_read(s->act, st->at, m->arena + st->at, st->bytes, err);
        else if (st->kernel == LN__S_UP)
            rc = ln_gpu_buffer_write(s->act, st->at, m->arena + st->at, st->bytes, err);
        else
            rc = ln__ox_exec_node(m, &m->nodes[st->node], err);
    }
    if (in_batch) {
        struct ln_error spare = {0};
        const int rc_end = ln_gpu_batch_end(s->gpu, rc < 0 ? &spare : err);
        if (rc == 0)
            rc = rc_end;
    }
    if (rc < 0) {
        if (s->checks) {
            /* A run that failed after a GatherElements may have raised the
             * error word: clear it, or the next run would fail with it. */
            const uint32_t zero = 0;
            struct ln_error spare = {0};
            ln_gpu_buffer_write(s->act, s->err_off * sizeof(float), &zero, sizeof zero, &spare);
        }
        return rc;
    }
    if (s->checks) {
        /* An index out of range in a GatherElements or Gather (DESIGN, integers). */
        uint32_t bad = 0;
        if ((rc = ln_gpu_buffer_read(s->act, s->err_off * sizeof(float), &bad, sizeof bad, err)) <
            0)
            return rc;
        if (bad) {
            const uint32_t zero = 0;
            if ((rc = ln_gpu_buffer_write(s->act, s->err_off * sizeof(float), &zero, sizeof zero,
                                          err)) < 0)
                return rc;
            const struct ln__ox_node *n = bad <= m->n_nodes ? &m->nodes[bad - 1] : NULL;
            return ln_error_set(err, LN_EFORMAT, "%s node '%.80s': an index out of range",
                                n ? n->op->name : "GatherElements", n ? ln__ox_node_name(n) : "?");
        }
    }
    for (size_t i = 0; i < n_outputs; i++) {
        const long v = m->outputs[i];
        const struct ln__ox_value *val = &m->values[v];
        const struct ln__ox_tensor *t = &val->t;
        float *d = ln_alloc_array(t->numel ? t->numel : 1, sizeof(float), 0, "ONNX output", err);
        if (!d) {
            rc = LN_ENOMEM;
            goto fail;
        }
        outputs[i].data = d;
        outputs[i].ndim = t->ndim;
        for (int k = 0; k < t->ndim; k++)
            outputs[i].shape[k] = t->shape[k];
        if (val->known || val->is_input || s->out_host[i]) {
            if (t->dtype == LN__OX_F32)
                memcpy(d, t->data, t->numel * sizeof(float));
            else
                for (size_t k = 0; k < t->numel; k++)
                    d[k] = (float)((const int64_t *)t->data)[k];
            continue;
        }
        size_t bytes = 0;
        long r = v;
        while (m->values[r].alias) {
            bytes += m->values[r].alias_off;
            r = m->values[r].alias - 1;
        }
        bytes += m->values[r].offset;
        if (t->numel && t->dtype == LN__OX_I64) {
            /* An integer output made on the GPU: its eight bytes, then floats. */
            int64_t *w = ln_alloc_array(t->numel, sizeof *w, 0, "ONNX output", err);
            if (!w) {
                rc = LN_ENOMEM;
                goto fail;
            }
            rc = ln_gpu_buffer_read(s->act, bytes, w, t->numel * sizeof *w, err);
            for (size_t k = 0; rc == 0 && k < t->numel; k++)
                d[k] = (float)w[k];
            free(w);
            if (rc < 0)
                goto fail;
        } else if (t->numel &&
                   (rc = ln_gpu_buffer_read(s->act, bytes, d, t->numel * sizeof(float), err)) < 0)
            goto fail;
    }
    return 0;
fail:
    for (size_t j = 0; j < n_outputs; j++)
        ln_onnx_tensor_free(&outputs[j]);
    return rc;
}

int ln__gpu_onnx_run(struct ln_onnx *m, int replanned, struct ln_onnx_tensor *outputs,
                     size_t n_outputs, struct ln_error *err)
{
    struct ln_gpu *gpu = ln_gpu_current();
    if (!gpu)
        return LN__GPU_DECLINED;
    pthread_mutex_lock(&g_o.lock);
    if (!g_o.hooked) {
        ln_gpu_on_release(ln__release);
        g_o.hooked = 1;
    }
    struct ln__gpu_onnx *s = m->gpu_state;
    if (!s) {
        s = ln_xcalloc(1, sizeof *s);
        s->next = g_o.list;
        g_o.list = s;
        m->gpu_state = s;
    }
    if (replanned || (s->gpu && s->gpu != gpu))
        ln__state_clear(s);
    int rc = LN__GPU_DECLINED;
    if (s->declined)
        goto out;
    if (!s->gpu) {
        rc = ln__prepare_locked(m, s, gpu, err);
        if (rc == LN__GPU_DECLINED)
            s->declined = 1;
        if (rc != 0)
            goto out;
    }
    if ((rc = ln__kernels_locked(gpu, err)) < 0)
        goto out;
    rc = ln__execute_locked(m, s, outputs, n_outputs, err);
out:
    pthread_mutex_unlock(&g_o.lock);
    return rc;
}

void ln__gpu_onnx_set_int_forms(int on)
{
    pthread_mutex_lock(&g_o.lock);
    g_o.no_int = !on;
    pthread_mutex_unlock(&g_o.lock);
}

void ln__gpu_onnx_set_piece_bytes(size_t bytes)
{
    pthread_mutex_lock(&g_o.lock);
    g_o.piece_bytes = bytes;
    pthread_mutex_unlock(&g_o.lock);
}

size_t ln__gpu_onnx_pieces(const struct ln_onnx *m)
{
    pthread_mutex_lock(&g_o.lock);
    const struct ln__gpu_onnx *s = m->gpu_state;
    size_t n = s && s->gpu ? s->n_wts : 0;
    pthread_mutex_unlock(&g_o.lock);
    return n;
}

size_t ln__gpu_onnx_nodes_on(const struct ln_onnx *m, const char *op, int on_gpu)
{
    pthread_mutex_lock(&g_o.lock);
    const struct ln__gpu_onnx *s = m->gpu_state;
    size_t n = 0;
    for (size_t i = 0; s && s->gpu && i < s->n_where && i < m->n_nodes; i++)
        if (s->where[i] == (on_gpu ? LN__ON_GPU : LN__ON_CPU) &&
            (!op || !strcmp(op, m->nodes[i].op->name)))
            n++;
    pthread_mutex_unlock(&g_o.lock);
    return n;
}

size_t ln__gpu_onnx_resident_bytes(const struct ln_onnx *m)
{
    pthread_mutex_lock(&g_o.lock);
    const struct ln__gpu_onnx *s = m->gpu_state;
    size_t bytes = s && s->gpu ? (s->act_floats + s->wts_floats) * sizeof(float) : 0;
    pthread_mutex_unlock(&g_o.lock);
    return bytes;
}

void ln__gpu_onnx_free(struct ln_onnx *m)
{
    struct ln__gpu_onnx *s = m->gpu_state;
    if (!s)
        return;
    pthread_mutex_lock(&g_o.lock);
    for (struct ln__gpu_onnx **pp = &g_o.list; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    ln__state_clear(s);
    pthread_mutex_unlock(&g_o.lock);
    free(s);
    m->gpu_state = NULL;
}
#endif
