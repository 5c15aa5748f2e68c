/*
 * The DINO ViT image encoder as transformers 4.35 runs it
 * (docs/TRIPOSR.md section 5): patch embedding as one GEMM over im2col
 * patches, CLS token and the position table (resized at load), pre-LN
 * encoder layers with biased Q/K/V and exact-erf GELU, final LayerNorm.
 * Activations stay token-major [tokens][hidden]; all scratch is one
 * allocation per call. With LN_TRIPOSR_PRECISION=bf16 (net->bf16) the
 * linear layers, the patch embedding among them, run in bfloat16
 * (ln__gemm_bf16) and so does the attention where the head size is 64
 * (ln__attention_bf16: ViT-B's 12 heads of 64); LayerNorm, GELU and the
 * residual stream stay float32.
 */
#include "ln_kernels.h" /* first: this file is compiled once per kernel set */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_gemm.h"
#include "ln_nn_ops.h"
#include "ln_threads.h"
#include "ln_triposr_int.h"

struct ln__im2col_ctx {
    const float *img; /* [ch][s][s] */
    float *cols;      /* [grid^2][ch p p] */
    int s, p, ch, grid;
};

static void ln__im2col_body(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__im2col_ctx *c = vctx;
    const size_t s = (size_t)c->s, p = (size_t)c->p, k = (size_t)c->ch * p * p;
    for (size_t idx = begin; idx < end; idx++) {
        const size_t py = idx / (size_t)c->grid, px = idx % (size_t)c->grid;
        float *restrict dst = c->cols + idx * k;
        for (size_t ch = 0; ch < (size_t)c->ch; ch++)
            for (size_t ky = 0; ky < p; ky++)
                memcpy(dst + (ch * p + ky) * p, c->img + (ch * s + py * p + ky) * s + px * p,
                       p * sizeof(float));
    }
}

/* A linear layer: in bfloat16 when the network was loaded so, else
 * float32, from the packed weights on our product (ln__triposr_packed),
 * as the backbone's blocks do. */
static void ln__vit_linear(const struct ln_triposr *net, const float *x, size_t rows, int k,
                           int ldx, const float *w, const float *bias, int n, float *y, int ldy,
                           int accumulate)
{
    if (net->bf16 && ln__gemm_bf16(x, rows, k, ldx, w, bias, n, y, ldy, accumulate) == 0)
        return;
    const float *wp = ln__triposr_packed(net, w);
    if (wp)
        ln__gemm_packed(x, rows, k, ldx, 0, wp, bias, n, y, ldy, accumulate);
    else
        ln__linear(x, rows, k, ldx, w, bias, n, y, ldy, accumulate);
}

/* Self-attention of the T tokens: in bfloat16 with the network's bf16
 * products where the kernel takes the head size (64), else float32. */
static void ln__vit_attention(const struct ln_triposr *net, const float *q, const float *k,
                              const float *v, size_t T, int D, int heads, int hd, float *out,
                              float *att, int threads)
{
    if (net->bf16 &&
        ln__attention_bf16(q, D, k, D, v, D, T, T, heads, hd, out, D, att, threads) == 0)
        return;
    ln__attention(q, D, k, D, v, D, T, T, heads, hd, out, D, att, threads);
}

int ln_triposr_encode_image(const struct ln_triposr *net, const float *image_chw, float *tokens,
                            const struct ln_triposr_trace *trace, struct ln_error *err)
{
    const struct ln_vit_config *v = &net->cfg.vit;
    const int D = v->hidden, I = v->intermediate, hd = v->hidden / v->heads;
    const size_t T = (size_t)net->n_vit_tokens, np = T - 1;
    const int K = v->channels * v->patch * v->patch;
    const size_t td = T * (size_t)D;
    const int threads = ln_threads_get();
    const size_t n_att = ln__attention_scratch(T, T, v->heads, hd, threads);
    size_t n_cols = np * (size_t)K, n_mlp = T * (size_t)I;
    const size_t n_big = n_cols > n_mlp ? n_cols : n_mlp;
    float *buf = ln_alloc_array(4 * td + n_big + n_att, sizeof(float), LN_ALLOC_HUGE,
                                "ViT activations", err);
    if (!buf)
        return LN_ENOMEM;
    float *y = buf, *q = y + td, *k = q + td, *vv = k + td, *big = vv + td, *att = big + n_big;
    float *h = tokens;
    ln__blas_single_thread();

    /* Patch embedding: token 1 + py*grid + px = W . patch + b. */
    struct ln__im2col_ctx ic = {image_chw, big, net->cfg.cond_image_size, v->patch, v->channels,
                                net->grid};
    ln_parallel_for(np, 16, ln__im2col_body, &ic);
    ln__vit_linear(net, big, np, K, K, net->patch_w, net->patch_b, D, h + D, D, 0);
    memcpy(h, net->cls, (size_t)D * sizeof(float));
    ln__triposr_trace(trace, "vit_pos_embed", net->pos, td);
    for (size_t i = 0; i < td; i++)
        h[i] += net->pos[i];
    ln__triposr_trace(trace, "vit_embeddings", h, td);

    for (int l = 0; l < v->layers; l++) {
        const struct ln__vit_layer *L = &net->vit[l];
        ln__layernorm(h, T, D, D, L->ln1_w, L->ln1_b, v->ln_eps, y, D);
        ln__vit_linear(net, y, T, D, D, L->wq, L->bq, D, q, D, 0);
        ln__vit_linear(net, y, T, D, D, L->wk, L->bk, D, k, D, 0);
        ln__vit_linear(net, y, T, D, D, L->wv, L->bv, D, vv, D, 0);
        ln__vit_attention(net, q, k, vv, T, D, v->heads, hd, y, att, threads);
        ln__vit_linear(net, y, T, D, D, L->wo, L->bo, D, h, D, 1);
        ln__layernorm(h, T, D, D, L->ln2_w, L->ln2_b, v->ln_eps, y, D);
        ln__vit_linear(net, y, T, D, D, L->w1, L->b1, I, big, I, 0);
        ln__gelu_rows(big, T, I, I);
        ln__vit_linear(net, big, T, I, I, L->w2, L->b2, D, h, D, 1);
        char name[32];
        snprintf(name, sizeof name, "vit_layer%d", l);
        ln__triposr_trace(trace, name, h, td);
    }
    ln__layernorm(h, T, D, D, net->final_w, net->final_b, v->ln_eps, h, D);
    ln__triposr_trace(trace, "vit_last_hidden_state", h, td);
    free(buf);
    return 0;
}
