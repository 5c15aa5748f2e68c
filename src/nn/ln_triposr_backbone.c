/*
 * Triplane tokens, the Transformer1D backbone and the ConvTranspose
 * upsampling to the scene code (docs/TRIPOSR.md sections 6-8). Every
 * linear layer, and the upsampling, is one large-M product (ln__linear:
 * ours, or OpenBLAS);
 * attention runs per head in query tiles; with LN_TRIPOSR_PRECISION=bf16
 * the blocks' products and attention run in bfloat16. The GEGLU
 * feed-forward runs in row chunks; on our products its first product and
 * the gating are one pass (ln__gemm_geglu, ln__gemm_bf16_geglu) that
 * writes the gated [rows, 4096] directly; with OpenBLAS the [rows, 8192]
 * projection is written, then gated by ln__geglu_rows. All
 * scratch is one allocation per call; the backbone checks for
 * cancellation and reports progress between blocks.
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

/* Rows of the feed-forward chunk: 1536 (two chunks of the 3072 tokens,
 * a 50 MB projection) runs the GEMMs ~5% faster than 512. */
#define LN__FF_ROWS 1536

/* The feed-forward's rows per chunk: LN__FF_ROWS on one thread or on
 * OpenBLAS's products; on more threads with ours, all of them (a 48 MB
 * gated projection at 3072 rows), so that its products share out the
 * rows as every other step of the block does (each thread its own rows
 * from the first LayerNorm to the last product, ln_parallel_for_split):
 * in chunks, a thread's rows of a chunk would be other rows than its own
 * in the LayerNorm before. */
static size_t ln__ff_rows(size_t n, int threads, int fused)
{
    return (threads > 1 && fused) || n < LN__FF_ROWS ? n : LN__FF_ROWS;
}

struct ln__tr_ctx {
    const float *src; /* [rows][ld_src] */
    float *dst;       /* [cols][ld_dst] */
    size_t rows, ld_src, ld_dst;
};

/* dst[c][r] += src[r][c] in 32 x 32 tiles, columns split across threads. */
static void ln__tr_add_body(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__tr_ctx *c = vctx;
    for (size_t r0 = 0; r0 < c->rows; r0 += 32) {
        const size_t r1 = r0 + 32 < c->rows ? r0 + 32 : c->rows;
        for (size_t col = begin; col < end; col++) {
            float *restrict d = c->dst + col * c->ld_dst;
            for (size_t r = r0; r < r1; r++)
                d[r] += c->src[r * c->ld_src + col];
        }
    }
}

/* A block's linear layer: in bfloat16 when the network was loaded so
 * (ln__gemm_bf16), else float32: from the packed weights
 * (ln__triposr_packed) on our product, else ln__linear. */
static void ln__bb_linear(const struct ln_triposr *net, const float *x, size_t rows, int k,
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

/* A block's attention: in bfloat16 with the network's bf16 products
 * (ln__attention_bf16), else float32. */
static void ln__bb_attention(const struct ln_triposr *net, const float *q, const float *k,
                             const float *v, size_t nq, size_t nk, float *out, float *att,
                             int threads)
{
    const struct ln_triposr_config *c = &net->cfg;
    const int D = net->inner;
    if (net->bf16 && ln__attention_bf16(q, D, k, D, v, D, nq, nk, c->bb_heads, c->bb_head_dim,
                                        out, D, att, threads) == 0)
        return;
    ln__attention(q, D, k, D, v, D, nq, nk, c->bb_heads, c->bb_head_dim, out, D, att, threads);
}

/* The feed-forward's first product and its gating for m rows of y: z
 * [m][F] (fused) or z [m][2 F], the gated values in its first F columns;
 * returns z's leading dimension. */
static int ln__bb_geglu(const struct ln_triposr *net, const struct ln__bb_block *B, const float *y,
                        size_t m, float *z, int fused)
{
    const int D = net->inner, F = net->ff_inner;
    if (fused) {
        if (net->bf16 && ln__gemm_bf16_geglu(y, m, D, D, B->ff0, B->ff0_b, F, z, F) == 0)
            return F;
        const float *wp = ln__triposr_packed(net, B->ff0);
        if (wp)
            ln__gemm_geglu_packed(y, m, D, D, wp, B->ff0_b, F, z, F);
        else
            ln__gemm_geglu(y, m, D, D, B->ff0, B->ff0_b, F, z, F);
        return F;
    }
    ln__bb_linear(net, y, m, D, D, B->ff0, NULL, 2 * F, z, 2 * F, 0);
    ln__geglu_rows(z, m, F, 2 * F, B->ff0_b);
    return 2 * F;
}

/* One transformer block on h [N][D] (docs/TRIPOSR.md §7, step 3). */
static void ln__block(const struct ln_triposr *net, const struct ln__bb_block *B, float *h,
                      const float *ctx, size_t N, size_t T, float *y, float *q, float *k, float *v,
                      float *kc, float *vc, float *z, float *att, int threads, int fused)
{
    const struct ln_triposr_config *c = &net->cfg;
    const int D = net->inner, X = c->bb_cross_dim, F = net->ff_inner;
    const float eps = 1e-5f;

    ln__layernorm(h, N, D, D, B->n1_w, B->n1_b, eps, y, D);
    ln__bb_linear(net, y, N, D, D, B->q1, NULL, D, q, D, 0);
    ln__bb_linear(net, y, N, D, D, B->k1, NULL, D, k, D, 0);
    ln__bb_linear(net, y, N, D, D, B->v1, NULL, D, v, D, 0);
    ln__bb_attention(net, q, k, v, N, N, y, att, threads);
    ln__bb_linear(net, y, N, D, D, B->o1, B->o1_b, D, h, D, 1);

    ln__layernorm(h, N, D, D, B->n2_w, B->n2_b, eps, y, D);
    ln__bb_linear(net, y, N, D, D, B->q2, NULL, D, q, D, 0);
    ln__bb_linear(net, ctx, T, X, X, B->k2, NULL, D, kc, D, 0);
    ln__bb_linear(net, ctx, T, X, X, B->v2, NULL, D, vc, D, 0);
    ln__bb_attention(net, q, kc, vc, N, T, y, att, threads);
    ln__bb_linear(net, y, N, D, D, B->o2, B->o2_b, D, h, D, 1);

    ln__layernorm(h, N, D, D, B->n3_w, B->n3_b, eps, y, D);
    const size_t ff_rows = ln__ff_rows(N, threads, fused);
    for (size_t r0 = 0; r0 < N; r0 += ff_rows) {
        const size_t m = N - r0 < ff_rows ? N - r0 : ff_rows;
        const int ldz = ln__bb_geglu(net, B, y + r0 * (size_t)D, m, z, fused);
        ln__bb_linear(net, z, m, F, ldz, B->ff2, B->ff2_b, D, h + r0 * (size_t)D, D, 1);
    }
}

int ln_triposr_backbone(const struct ln_triposr *net, const float *context, float *out,
                        const struct ln_triposr_trace *trace, const struct ln_progress *progress,
                        struct ln_error *err)
{
    const struct ln_triposr_config *c = &net->cfg;
    const size_t C = (size_t)c->num_channels, D = (size_t)net->inner;
    const size_t N = (size_t)net->n_tokens, T = (size_t)net->n_vit_tokens;
    const size_t PP = (size_t)c->plane_size * (size_t)c->plane_size;
    const size_t F = (size_t)net->ff_inner;
    const size_t wide = (C > D ? C : D) * N;
    const int threads = ln_threads_get();
    const size_t a1 = ln__attention_scratch(N, N, c->bb_heads, c->bb_head_dim, threads);
    const size_t a2 = ln__attention_scratch(N, T, c->bb_heads, c->bb_head_dim, threads);
    const size_t n_att = a1 > a2 ? a1 : a2;
    /* the GEGLU fused on our products: z is [rows][F], else [rows][2 F] */
    const int fused = !ln_nn_gemm_blas();
    const size_t ff_rows = ln__ff_rows(N, threads, fused);
    const size_t zw = fused ? F : 2 * F;
    size_t total = 3 * N * D + 2 * wide + 2 * T * D + ff_rows * zw + n_att;
    float *buf = ln_alloc_array(total, sizeof(float), LN_ALLOC_HUGE, "backbone activations", err);
    if (!buf)
        return LN_ENOMEM;
    float *h = buf, *y = h + N * D, *v = y + N * D, *q = v + N * D, *k = q + wide;
    float *kc = k + wide, *vc = kc + T * D, *z = vc + T * D, *att = z + ff_rows * zw;
    int rc = 0;
    ln__blas_single_thread();

    /* Tokens T[c][plane*PP + rc] = embeddings[plane][c][rc]; out holds them
     * until the outer residual is added. */
    for (size_t p = 0; p < 3; p++)
        for (size_t ch = 0; ch < C; ch++)
            memcpy(out + ch * N + p * PP, net->triplane + (p * C + ch) * PP, PP * sizeof(float));
    ln__triposr_trace(trace, "tokens_init", out, C * N);

    float *gn = q; /* [C][N] */
    ln__groupnorm(out, (int)C, N, c->bb_norm_groups, net->gn_w, net->gn_b, 1e-6f, gn);
    ln__triposr_trace(trace, "backbone_groupnorm", gn, C * N);
    ln__linear_xt(gn, N, (int)C, (int)N, net->proj_in_w, net->proj_in_b, (int)D, h, (int)D, 0);
    ln__triposr_trace(trace, "backbone_proj_in", h, N * D);

    for (int b = 0; b < c->bb_layers; b++) {
        if (ln_progress_canceled(progress)) {
            rc = ln_error_set(err, LN_ECANCELED, "canceled in backbone block %d of %d", b,
                              c->bb_layers);
            goto done;
        }
        ln__block(net, &net->blocks[b], h, context, N, T, y, q, k, v, kc, vc, z, att, threads,
                  fused);
        char name[32];
        snprintf(name, sizeof name, "backbone_block%d", b);
        ln__triposr_trace(trace, name, h, N * D);
        ln_progress_report(progress, "backbone", (double)(b + 1) / c->bb_layers);
    }

    float *po = k; /* [N][C] */
    const float *pw = ln__triposr_packed(net, net->proj_out_w); /* float32 in bf16 runs too */
    if (pw)
        ln__gemm_packed(h, N, (int)D, (int)D, 0, pw, net->proj_out_b, (int)C, po, (int)C, 0);
    else
        ln__linear(h, N, (int)D, (int)D, net->proj_out_w, net->proj_out_b, (int)C, po, (int)C, 0);
    ln__triposr_trace(trace, "backbone_proj_out", po, N * C);
    struct ln__tr_ctx tc = {po, out, N, C, N};
    ln_parallel_for(C, 16, ln__tr_add_body, &tc);
    ln__triposr_trace(trace, "backbone_out", out, C * N);
done:
    free(buf);
    return rc;
}

/* The ConvTranspose2d(C, O, 2, stride 2) of each plane as one product on
 * ln__linear_xt: r[yx][o 4 + d] = up_b[o] + sum_i in[i][yx] W[i][o 4 + d],
 * the plane's input read transposed in place ([C][N] with the plane's PP
 * columns) and the weights transposed once per call into wt [4 O][C]
 * (C 4 O floats, 640 KB for the released model), so the product runs on
 * our kernels (identical for any thread count) or, with
 * LN_TRIPOSR_GEMM=blas, on OpenBLAS like the rest of the network. */
int ln_triposr_upsample(const struct ln_triposr *net, const float *backbone_out, float *scene,
                        struct ln_error *err)
{
    const struct ln_triposr_config *c = &net->cfg;
    const int C = c->num_channels, O = c->post_out, P = c->plane_size;
    const size_t PP = (size_t)P * (size_t)P, N = (size_t)net->n_tokens, S = 2 * (size_t)P;
    const size_t O4 = 4 * (size_t)O;
    /* r [PP][4 O], wt [4 O][C], bias [4 O] */
    const size_t total = PP * O4 + O4 * (size_t)C + O4;
    float *r = ln_alloc_array(total, sizeof(float), 0, "upsampling scratch", err);
    if (!r)
        return LN_ENOMEM;
    float *wt = r + PP * O4, *bias = wt + O4 * (size_t)C;
    for (size_t i = 0; i < (size_t)C; i++)
        for (size_t j = 0; j < O4; j++)
            wt[j * (size_t)C + i] = net->up_w[i * O4 + j];
    for (size_t j = 0; j < O4; j++)
        bias[j] = net->up_b[j / 4];
    ln__blas_single_thread();
    for (size_t p = 0; p < 3; p++) {
        ln__linear_xt(backbone_out + p * PP, PP, C, (int)N, wt, bias, (int)O4, r, (int)O4, 0);
        float *plane = scene + p * (size_t)O * S * S;
        for (size_t o = 0; o < (size_t)O; o++) {
            float *restrict dst = plane + o * S * S;
            for (size_t yy = 0; yy < (size_t)P; yy++)
                for (size_t xx = 0; xx < (size_t)P; xx++) {
                    const float *restrict src = r + (yy * (size_t)P + xx) * O4 + 4 * o;
                    dst[(2 * yy) * S + 2 * xx] = src[0];
                    dst[(2 * yy) * S + 2 * xx + 1] = src[1];
                    dst[(2 * yy + 1) * S + 2 * xx] = src[2];
                    dst[(2 * yy + 1) * S + 2 * xx + 1] = src[3];
                }
        }
    }
    free(r);
    return 0;
}
