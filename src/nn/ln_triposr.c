/*
 * Loading the TripoSR network and the small stages around it: config and
 * ViT config resolution, one-time resolution of every tensor pointer into
 * struct ln_triposr (no name lookups per call), the transformers-4.35
 * position-table resize (docs/TRIPOSR.md 5.1), input normalisation (3.5)
 * and the whole image -> scene code chain. The heavy stages live in
 * ln_triposr_vit.c, ln_triposr_backbone.c and ln_triposr_query.c.
 */
#include "ln_triposr.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_fs.h"
#include "ln_gemm.h"
#include "ln_gpu_triposr.h"
#include "ln_triposr_int.h"

void ln__triposr_trace(const struct ln_triposr_trace *trace, const char *name, const float *data,
                       size_t n)
{
    if (trace && trace->fn)
        trace->fn(trace->user, name, data, n);
}

/* ---------------------------------------------------- position-table resize */

/* Cubic convolution weights of PyTorch's upsample_bicubic2d (A = -0.75),
 * evaluated in float in PyTorch's order. */
static void ln__cubic_coeffs(float t, float c[4])
{
    const float a = -0.75f;
    const float x1 = t + 1.0f;
    c[0] = ((a * x1 - 5.0f * a) * x1 + 8.0f * a) * x1 - 4.0f * a;
    c[1] = ((a + 2.0f) * t - (a + 3.0f)) * t * t + 1.0f;
    const float x2 = 1.0f - t;
    c[2] = ((a + 2.0f) * x2 - (a + 3.0f)) * x2 * x2 + 1.0f;
    const float x3 = x2 + 1.0f;
    c[3] = ((a * x3 - 5.0f * a) * x3 + 8.0f * a) * x3 - 4.0f * a;
}

/* Source taps and weights of output index i: PyTorch maps it to
 * step * (i + 0.5) - 0.5 with step = 1 / scale_factor rounded to float,
 * scale_factor = (dst + 0.1) / src (the DINO-era guard of transformers
 * 4.35). */
static void ln__cubic_taps(int i, float step, int src, int idx[4], float w[4])
{
    const float real = step * ((float)i + 0.5f) - 0.5f;
    int f = (int)floorf(real);
    if (f > src - 1)
        f = src - 1;
    float t = real - (float)f;
    t = t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
    ln__cubic_coeffs(t, w);
    for (int k = 0; k < 4; k++) {
        int s = f - 1 + k;
        idx[k] = s < 0 ? 0 : (s > src - 1 ? src - 1 : s);
    }
}

void ln_triposr_interpolate_positions(const float *table, int src, int dim, int dst, float *out)
{
    const size_t d = (size_t)dim;
    memcpy(out, table, d * sizeof(float)); /* CLS row unchanged */
    const float *grid = table + d;
    float *o = out + d;
    if (dst == src) {
        /* transformers returns the table untouched when the counts match. */
        memcpy(o, grid, (size_t)src * (size_t)src * d * sizeof(float));
        return;
    }
    const double scale = ((double)dst + 0.1) / (double)src;
    const float step = (float)(1.0 / scale);
    for (int y = 0; y < dst; y++) {
        int iy[4];
        float wy[4];
        ln__cubic_taps(y, step, src, iy, wy);
        for (int x = 0; x < dst; x++) {
            int ix[4];
            float wx[4];
            ln__cubic_taps(x, step, src, ix, wx);
            float *restrict po = o + ((size_t)y * (size_t)dst + (size_t)x) * d;
            for (size_t c = 0; c < d; c++) {
                float rows[4];
                for (int a = 0; a < 4; a++) {
                    const float *r = grid + (size_t)iy[a] * (size_t)src * d;
                    rows[a] = r[(size_t)ix[0] * d + c] * wx[0] + r[(size_t)ix[1] * d + c] * wx[1] +
                              r[(size_t)ix[2] * d + c] * wx[2] + r[(size_t)ix[3] * d + c] * wx[3];
                }
                po[c] = rows[0] * wy[0] + rows[1] * wy[1] + rows[2] * wy[2] + rows[3] * wy[3];
            }
        }
    }
}

/* ------------------------------------------------------------------ loading */

static int ln__get(struct ln_triposr *net, struct ln_error *err, const float **out, int ndim,
                   const int64_t *shape, const char *fmt, ...) LN_PRINTF(6, 7);

static int ln__get(struct ln_triposr *net, struct ln_error *err, const float **out, int ndim,
                   const int64_t *shape, const char *fmt, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return ln_weights_f32(net->w, name, ndim, shape, out, err);
}

#define LN__SHAPE(...) (sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}

static int ln__resolve_vit(struct ln_triposr *net, const struct ln_model_files *files,
                           int *have, struct ln_error *err)
{
    struct ln_vit_config *vit = &net->cfg.vit;
    char path[LN_HF_PATH_MAX];
    struct ln_error e2 = {0};
    *have = 0;
    if (net->cfg.vit_repo[0] &&
        ln_hf_resolve(net->cfg.vit_repo, "config.json", path, sizeof path, &e2) == 0) {
        if (ln_vit_config_load_json(path, vit, err) < 0)
            return err ? err->code : LN_EMODEL;
        snprintf(vit->source, sizeof vit->source, "config.json of %.200s (%.280s)",
                 net->cfg.vit_repo, path);
        *have = 1;
        return 0;
    }
    /* vit_config.json beside the weights. */
    const char *slash = NULL;
    for (const char *c = files->weights; *c; c++)
        if (LN_PATH_IS_SEP(*c))
            slash = c;
    const int dir_len = slash ? (int)(slash - files->weights) : 1;
    snprintf(path, sizeof path, "%.*s/vit_config.json", dir_len, slash ? files->weights : ".");
    struct ln_path_info vit_info;
    if (ln_path_stat(path, 0, &vit_info, NULL) == LN_OK) {
        if (ln_vit_config_load_json(path, vit, err) < 0)
            return err ? err->code : LN_EMODEL;
        snprintf(vit->source, sizeof vit->source, "vit_config.json beside the weights (%.440s)",
                 path);
        *have = 1;
    }
    return 0;
}

static int ln__check_dims(struct ln_triposr *net, struct ln_error *err)
{
    const struct ln_triposr_config *c = &net->cfg;
    const struct ln_vit_config *v = &c->vit;
    if (v->patch <= 0 || c->cond_image_size <= 0 || c->cond_image_size % v->patch != 0 ||
        c->cond_image_size / v->patch > 1024)
        return ln_error_set(err, LN_EMODEL,
                            "cond_image_size %d is not a positive multiple of the ViT patch %d",
                            c->cond_image_size, v->patch);
    if (v->channels != 3 || v->hidden <= 0 || v->heads <= 0 || v->hidden % v->heads != 0 ||
        v->layers <= 0 || v->intermediate <= 0 || v->image_size < v->patch)
        return ln_error_set(err, LN_EMODEL, "unsupported ViT configuration (%s)", v->source);
    if (c->bb_in_channels != c->num_channels || c->post_in != c->num_channels ||
        c->bb_cross_dim != v->hidden || c->dec_in != 3 * c->post_out ||
        c->bb_norm_groups <= 0 || c->num_channels % c->bb_norm_groups != 0 ||
        c->bb_heads <= 0 || c->bb_head_dim <= 0 || c->bb_layers <= 0 || c->plane_size <= 0 ||
        c->dec_hidden_layers <= 0 || c->dec_hidden_layers + 1 > LN__DEC_MAX_LAYERS ||
        c->dec_neurons <= 0 || c->samples_per_ray <= 0 || !(c->radius > 0.0f))
        return ln_error_set(err, LN_EMODEL, "inconsistent TripoSR configuration sizes");
    net->grid = c->cond_image_size / v->patch;
    net->n_vit_tokens = 1 + net->grid * net->grid;
    net->n_tokens = 3 * c->plane_size * c->plane_size;
    net->inner = c->bb_heads * c->bb_head_dim;
    net->ff_inner = 4 * net->inner;
    return 0;
}

static int ln__bind_vit(struct ln_triposr *net, struct ln_error *err)
{
    const struct ln_vit_config *v = &net->cfg.vit;
    const int64_t D = v->hidden, I = v->intermediate, p = v->patch, ch = v->channels;
    const int src = v->image_size / v->patch;
    const char *pre = "image_tokenizer.model.";
    const float *table;
    if (ln__get(net, err, &net->cls, LN__SHAPE(1, 1, D), "%sembeddings.cls_token", pre) < 0 ||
        ln__get(net, err, &table, LN__SHAPE(1, 1 + (int64_t)src * src, D),
                "%sembeddings.position_embeddings", pre) < 0 ||
        ln__get(net, err, &net->patch_w, LN__SHAPE(D, ch, p, p),
                "%sembeddings.patch_embeddings.projection.weight", pre) < 0 ||
        ln__get(net, err, &net->patch_b, LN__SHAPE(D),
                "%sembeddings.patch_embeddings.projection.bias", pre) < 0 ||
        ln__get(net, err, &net->final_w, LN__SHAPE(D), "%slayernorm.weight", pre) < 0 ||
        ln__get(net, err, &net->final_b, LN__SHAPE(D), "%slayernorm.bias", pre) < 0)
        return err ? err->code : LN_EMODEL;
    net->vit = ln_xcalloc((size_t)v->layers, sizeof *net->vit);
    for (int i = 0; i < v->layers; i++) {
        struct ln__vit_layer *L = &net->vit[i];
        const char *e = "encoder.layer";
        if (ln__get(net, err, &L->wq, LN__SHAPE(D, D), "%s%s.%d.attention.attention.query.weight", pre, e, i) < 0 ||
            ln__get(net, err, &L->bq, LN__SHAPE(D), "%s%s.%d.attention.attention.query.bias", pre, e, i) < 0 ||
            ln__get(net, err, &L->wk, LN__SHAPE(D, D), "%s%s.%d.attention.attention.key.weight", pre, e, i) < 0 ||
            ln__get(net, err, &L->bk, LN__SHAPE(D), "%s%s.%d.attention.attention.key.bias", pre, e, i) < 0 ||
            ln__get(net, err, &L->wv, LN__SHAPE(D, D), "%s%s.%d.attention.attention.value.weight", pre, e, i) < 0 ||
            ln__get(net, err, &L->bv, LN__SHAPE(D), "%s%s.%d.attention.attention.value.bias", pre, e, i) < 0 ||
            ln__get(net, err, &L->wo, LN__SHAPE(D, D), "%s%s.%d.attention.output.dense.weight", pre, e, i) < 0 ||
            ln__get(net, err, &L->bo, LN__SHAPE(D), "%s%s.%d.attention.output.dense.bias", pre, e, i) < 0 ||
            ln__get(net, err, &L->w1, LN__SHAPE(I, D), "%s%s.%d.intermediate.dense.weight", pre, e, i) < 0 ||
            ln__get(net, err, &L->b1, LN__SHAPE(I), "%s%s.%d.intermediate.dense.bias", pre, e, i) < 0 ||
            ln__get(net, err, &L->w2, LN__SHAPE(D, I), "%s%s.%d.output.dense.weight", pre, e, i) < 0 ||
            ln__get(net, err, &L->b2, LN__SHAPE(D), "%s%s.%d.output.dense.bias", pre, e, i) < 0 ||
            ln__get(net, err, &L->ln1_w, LN__SHAPE(D), "%s%s.%d.layernorm_before.weight", pre, e, i) < 0 ||
            ln__get(net, err, &L->ln1_b, LN__SHAPE(D), "%s%s.%d.layernorm_before.bias", pre, e, i) < 0 ||
            ln__get(net, err, &L->ln2_w, LN__SHAPE(D), "%s%s.%d.layernorm_after.weight", pre, e, i) < 0 ||
            ln__get(net, err, &L->ln2_b, LN__SHAPE(D), "%s%s.%d.layernorm_after.bias", pre, e, i) < 0)
            return err ? err->code : LN_EMODEL;
    }
    /* The table as added for cond_image_size depends on the weights only. */
    if (net->grid == src) {
        net->pos = table;
    } else {
        net->pos_owned = ln_alloc_array((size_t)net->n_vit_tokens, (size_t)D * sizeof(float), 0,
                                        "ViT position table", err);
        if (!net->pos_owned)
            return LN_ENOMEM;
        ln_triposr_interpolate_positions(table, src, (int)D, net->grid, net->pos_owned);
        net->pos = net->pos_owned;
    }
    return 0;
}

static int ln__bind_backbone(struct ln_triposr *net, struct ln_error *err)
{
    const struct ln_triposr_config *c = &net->cfg;
    const int64_t C = c->num_channels, P = c->plane_size, D = net->inner, X = c->bb_cross_dim;
    const int64_t F = net->ff_inner;
    if (ln__get(net, err, &net->triplane, LN__SHAPE(3, C, P, P), "tokenizer.embeddings") < 0 ||
        ln__get(net, err, &net->gn_w, LN__SHAPE(C), "backbone.norm.weight") < 0 ||
        ln__get(net, err, &net->gn_b, LN__SHAPE(C), "backbone.norm.bias") < 0 ||
        ln__get(net, err, &net->proj_in_w, LN__SHAPE(D, C), "backbone.proj_in.weight") < 0 ||
        ln__get(net, err, &net->proj_in_b, LN__SHAPE(D), "backbone.proj_in.bias") < 0 ||
        ln__get(net, err, &net->proj_out_w, LN__SHAPE(C, D), "backbone.proj_out.weight") < 0 ||
        ln__get(net, err, &net->proj_out_b, LN__SHAPE(C), "backbone.proj_out.bias") < 0 ||
        ln__get(net, err, &net->up_w, LN__SHAPE(C, c->post_out, 2, 2),
                "post_processor.upsample.weight") < 0 ||
        ln__get(net, err, &net->up_b, LN__SHAPE(c->post_out), "post_processor.upsample.bias") < 0)
        return err ? err->code : LN_EMODEL;
    net->blocks = ln_xcalloc((size_t)c->bb_layers, sizeof *net->blocks);
    for (int i = 0; i < c->bb_layers; i++) {
        struct ln__bb_block *B = &net->blocks[i];
        const char *p = "backbone.transformer_blocks";
        if (ln__get(net, err, &B->n1_w, LN__SHAPE(D), "%s.%d.norm1.weight", p, i) < 0 ||
            ln__get(net, err, &B->n1_b, LN__SHAPE(D), "%s.%d.norm1.bias", p, i) < 0 ||
            ln__get(net, err, &B->q1, LN__SHAPE(D, D), "%s.%d.attn1.to_q.weight", p, i) < 0 ||
            ln__get(net, err, &B->k1, LN__SHAPE(D, D), "%s.%d.attn1.to_k.weight", p, i) < 0 ||
            ln__get(net, err, &B->v1, LN__SHAPE(D, D), "%s.%d.attn1.to_v.weight", p, i) < 0 ||
            ln__get(net, err, &B->o1, LN__SHAPE(D, D), "%s.%d.attn1.to_out.0.weight", p, i) < 0 ||
            ln__get(net, err, &B->o1_b, LN__SHAPE(D), "%s.%d.attn1.to_out.0.bias", p, i) < 0 ||
            ln__get(net, err, &B->n2_w, LN__SHAPE(D), "%s.%d.norm2.weight", p, i) < 0 ||
            ln__get(net, err, &B->n2_b, LN__SHAPE(D), "%s.%d.norm2.bias", p, i) < 0 ||
            ln__get(net, err, &B->q2, LN__SHAPE(D, D), "%s.%d.attn2.to_q.weight", p, i) < 0 ||
            ln__get(net, err, &B->k2, LN__SHAPE(D, X), "%s.%d.attn2.to_k.weight", p, i) < 0 ||
            ln__get(net, err, &B->v2, LN__SHAPE(D, X), "%s.%d.attn2.to_v.weight", p, i) < 0 ||
            ln__get(net, err, &B->o2, LN__SHAPE(D, D), "%s.%d.attn2.to_out.0.weight", p, i) < 0 ||
            ln__get(net, err, &B->o2_b, LN__SHAPE(D), "%s.%d.attn2.to_out.0.bias", p, i) < 0 ||
            ln__get(net, err, &B->n3_w, LN__SHAPE(D), "%s.%d.norm3.weight", p, i) < 0 ||
            ln__get(net, err, &B->n3_b, LN__SHAPE(D), "%s.%d.norm3.bias", p, i) < 0 ||
            ln__get(net, err, &B->ff0, LN__SHAPE(2 * F, D), "%s.%d.ff.net.0.proj.weight", p, i) < 0 ||
            ln__get(net, err, &B->ff0_b, LN__SHAPE(2 * F), "%s.%d.ff.net.0.proj.bias", p, i) < 0 ||
            ln__get(net, err, &B->ff2, LN__SHAPE(D, F), "%s.%d.ff.net.2.weight", p, i) < 0 ||
            ln__get(net, err, &B->ff2_b, LN__SHAPE(D), "%s.%d.ff.net.2.bias", p, i) < 0)
            return err ? err->code : LN_EMODEL;
    }
    return 0;
}

/* Decoder weights transposed to [in][out padded to 16] for the point
 * kernel, which reads one input value against a row of outputs. */
static int ln__bind_decoder(struct ln_triposr *net, struct ln_error *err)
{
    const struct ln_triposr_config *c = &net->cfg;
    net->n_dec = c->dec_hidden_layers + 1;
    size_t total = 0;
    int widest = 0;
    for (int i = 0; i < net->n_dec; i++) {
        struct ln__dec_layer *L = &net->dec[i];
        L->n_in = i == 0 ? c->dec_in : c->dec_neurons;
        L->n_out = i == net->n_dec - 1 ? 4 : c->dec_neurons;
        L->n_pad = (L->n_out + 15) / 16 * 16;
        total += (size_t)(L->n_in + 1) * (size_t)L->n_pad;
        if (L->n_pad > widest)
            widest = L->n_pad;
        if (L->n_in > widest)
            widest = L->n_in;
        if (ln__get(net, err, &L->w_raw, LN__SHAPE(L->n_out, L->n_in), "decoder.layers.%d.weight",
                    2 * i) < 0 ||
            ln__get(net, err, &L->b_raw, LN__SHAPE(L->n_out), "decoder.layers.%d.bias", 2 * i) < 0)
            return err ? err->code : LN_EMODEL;
    }
    net->dec_width_pad = (widest + 15) / 16 * 16;
    net->dec_pack = ln_alloc_array(total, sizeof(float), 1, "decoder weights", err);
    if (!net->dec_pack)
        return LN_ENOMEM;
    float *p = net->dec_pack;
    for (int i = 0; i < net->n_dec; i++) {
        struct ln__dec_layer *L = &net->dec[i];
        for (int o = 0; o < L->n_out; o++)
            for (int k = 0; k < L->n_in; k++)
                p[(size_t)k * (size_t)L->n_pad + (size_t)o] = L->w_raw[(size_t)o * (size_t)L->n_in + (size_t)k];
        L->wt = p;
        p += (size_t)L->n_in * (size_t)L->n_pad;
        memcpy(p, L->b_raw, (size_t)L->n_out * sizeof(float));
        L->b = p;
        p += L->n_pad;
    }
    return 0;
}

/* "fp32" or "bf16" (what) into *bf16: the ViT's and backbone's products in
 * bfloat16 where the CPU has AVX512_BF16 (refused elsewhere, saying so). */
static int ln__precision_parse(const char *p, const char *what, int *bf16, struct ln_error *err)
{
    if (strcmp(p, "fp32") == 0) {
        *bf16 = 0;
        return 0;
    }
    if (strcmp(p, "bf16") != 0)
        return ln_error_set(err, LN_EINVAL, "%s%.40s: expected fp32 or bf16", what, p);
    if (!ln_nn_bf16_available())
        return ln_error_set(err, LN_EINVAL,
                            "bf16 precision needs a CPU with AVX512_BF16 and the avx512 kernel "
                            "set (here: kernel set %s%s); use fp32",
                            ln_nn_kernel_set(),
                            strcmp(ln_nn_kernel_set(), "avx512") == 0 ? ", no AVX512_BF16" : "");
    *bf16 = 1;
    return 0;
}

/* ln_triposr_set_precision's choice: -1 none (the environment decides),
 * else bf16 0 or 1. */
static atomic_int ln__precision_set = -1;

int ln_triposr_set_precision(const char *name, struct ln_error *err)
{
    int bf16;
    int rc = ln__precision_parse(name ? name : "", "", &bf16, err);
    if (rc == 0)
        atomic_store(&ln__precision_set, bf16);
    return rc;
}

/* The precision of a network being loaded: ln_triposr_set_precision's,
 * else LN_TRIPOSR_PRECISION ("fp32" when unset or empty). */
static int ln__precision(struct ln_triposr *net, struct ln_error *err)
{
    int set = atomic_load(&ln__precision_set);
    if (set >= 0) {
        net->bf16 = set;
        return 0;
    }
    const char *p = getenv("LN_TRIPOSR_PRECISION");
    net->bf16 = 0;
    if (!p || !*p)
        return 0;
    return ln__precision_parse(p, "LN_TRIPOSR_PRECISION=", &net->bf16, err);
}

/* ---- packed weights ----
 *
 * DESIGN: our float32 product copies each weight into register-tile
 * panels on every call (ln__gemm); the network's weights never change,
 * so it can pack them once (ln__gemm_pack, and ln__gemm_geglu_pack for the
 * GEGLU's value and gate rows) and run ln__gemm_packed: the same sums in
 * the same order, so the same bits, 4-7 % less CPU in the products on one thread, 2 % on two
 * (bench/README.md). The packed copy is as large as the weights (1.65 GB
 * for the released model), on huge pages (ln_malloc_huge), and each
 * weight's mapped pages are let go as soon as it is packed
 * (ln_weights_release): the process holds one copy, as before.
 *
 * It is off unless LN_TRIPOSR_PACK=1: the 1.65 GB are new memory, and on
 * the 2-vCPU virtual machine the benchmarks run on, the kernel's clearing
 * of new pages cost 4-5 s of system time per process (perf: clear_page),
 * where the weights' file pages come from the page cache for free; a
 * photo's products save well under a second. So packing pays only in a
 * process that computes many images on a machine whose fresh memory is
 * cheap. Packing waits for the first image computed on the CPU in float32
 * with our product: a network that runs on the GPU, in bf16 or on
 * OpenBLAS never packs. It runs under pack_lock, once; packs_ready
 * (release / acquire) tells later calls that the sorted table is there,
 * after which it is only read. Whatever turns the mode later (OpenBLAS,
 * packing off) reads the mapped weights again, which come back from the
 * file. */

/* -1 until LN_TRIPOSR_PACK is read, then 0 or 1. */
static atomic_int ln__packing = -1;

void ln_triposr_set_packing(int on)
{
    atomic_store(&ln__packing, on < 0 ? -1 : on ? 1 : 0);
}

static int ln__packing_on(void)
{
    int v = atomic_load(&ln__packing);
    if (v < 0) {
        const char *e = getenv("LN_TRIPOSR_PACK");
        v = 0;
        if (e && strcmp(e, "1") == 0)
            v = 1;
        else if (e && *e && strcmp(e, "0") != 0)
            fprintf(stderr, "LN_TRIPOSR_PACK=%.40s is neither 0 nor 1: not packing (0)\n", e);
        int expected = -1;
        atomic_compare_exchange_strong(&ln__packing, &expected, v);
        v = atomic_load(&ln__packing);
    }
    return v;
}

static int ln__packed_cmp(const void *a, const void *b)
{
    const uintptr_t x = (uintptr_t)((const struct ln__packed *)a)->w;
    const uintptr_t y = (uintptr_t)((const struct ln__packed *)b)->w;
    return x < y ? -1 : x > y;
}

/* w [n][k] packed for ln__gemm_packed (geglu: [2 n][k] for
 * ln__gemm_geglu_packed), its mapped pages let go. Where memory runs out
 * the weight stays unpacked (the product then packs it per call). */
static void ln__pack_one(struct ln_triposr *net, const float *w, int k, int n, int geglu)
{
    float *p = geglu ? ln__gemm_geglu_pack(w, k, n) : ln__gemm_pack(w, k, n);
    if (!p)
        return;
    const size_t bytes = (size_t)(geglu ? 2 : 1) * (size_t)n * (size_t)k * sizeof(float);
    net->packs[net->n_packs++] = (struct ln__packed){w, p};
    net->packed_bytes += bytes;
    ln_weights_release(net->w, w, bytes);
}

size_t ln_triposr_pack(const struct ln_triposr *net)
{
    (void)ln__triposr_packed(net, NULL);
    return ln_triposr_packed_bytes(net);
}

size_t ln_triposr_packed_bytes(const struct ln_triposr *net)
{
    if (!atomic_load_explicit(&((struct ln_triposr *)net)->packs_ready, memory_order_acquire))
        return 0;
    return net->packed_bytes;
}

static void ln__pack_all(struct ln_triposr *net)
{
    const struct ln_vit_config *v = &net->cfg.vit;
    const struct ln_triposr_config *c = &net->cfg;
    const int D = v->hidden, I = v->intermediate, B = net->inner, X = c->bb_cross_dim;
    const int F = net->ff_inner, K = v->channels * v->patch * v->patch;
    net->packs = ln_xcalloc((size_t)v->layers * 6 + (size_t)c->bb_layers * 10 + 2,
                            sizeof *net->packs);
    ln__pack_one(net, net->patch_w, K, D, 0);
    for (int i = 0; i < v->layers; i++) {
        const struct ln__vit_layer *L = &net->vit[i];
        ln__pack_one(net, L->wq, D, D, 0);
        ln__pack_one(net, L->wk, D, D, 0);
        ln__pack_one(net, L->wv, D, D, 0);
        ln__pack_one(net, L->wo, D, D, 0);
        ln__pack_one(net, L->w1, D, I, 0);
        ln__pack_one(net, L->w2, I, D, 0);
    }
    for (int i = 0; i < c->bb_layers; i++) {
        const struct ln__bb_block *b = &net->blocks[i];
        ln__pack_one(net, b->q1, B, B, 0);
        ln__pack_one(net, b->k1, B, B, 0);
        ln__pack_one(net, b->v1, B, B, 0);
        ln__pack_one(net, b->o1, B, B, 0);
        ln__pack_one(net, b->q2, B, B, 0);
        ln__pack_one(net, b->k2, X, B, 0);
        ln__pack_one(net, b->v2, X, B, 0);
        ln__pack_one(net, b->o2, B, B, 0);
        ln__pack_one(net, b->ff0, B, F, 1);
        ln__pack_one(net, b->ff2, F, B, 0);
    }
    ln__pack_one(net, net->proj_out_w, B, c->num_channels, 0);
    qsort(net->packs, net->n_packs, sizeof *net->packs, ln__packed_cmp);
}

const float *ln__triposr_packed(const struct ln_triposr *net, const float *w)
{
    if (net->bf16 || ln_nn_gemm_blas() || !ln__packing_on())
        return NULL;
    /* the network's own handle: packing fills only the fields it owns */
    struct ln_triposr *own = (struct ln_triposr *)net;
    if (!atomic_load_explicit(&own->packs_ready, memory_order_acquire)) {
        pthread_mutex_lock(&own->pack_lock);
        if (!atomic_load_explicit(&own->packs_ready, memory_order_relaxed)) {
            ln__pack_all(own);
            atomic_store_explicit(&own->packs_ready, 1, memory_order_release);
        }
        pthread_mutex_unlock(&own->pack_lock);
    }
    size_t lo = 0, hi = net->n_packs;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        if (net->packs[mid].w == w)
            return net->packs[mid].p;
        if ((uintptr_t)net->packs[mid].w < (uintptr_t)w)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int ln_triposr_load(const struct ln_model_files *files, struct ln_triposr **out,
                    struct ln_error *err)
{
    *out = NULL;
    struct ln_triposr *net = ln_xcalloc(1, sizeof *net);
    pthread_mutex_init(&net->pack_lock, NULL);
    int rc, have_vit = 0;
    if ((rc = ln_triposr_config_load(files->config, &net->cfg, err)) < 0)
        goto fail;
    if ((rc = ln__resolve_vit(net, files, &have_vit, err)) < 0)
        goto fail;
    if ((rc = ln_weights_open(files->weights, &net->w, err)) < 0)
        goto fail;
    if (!have_vit && (rc = ln_vit_config_from_weights(net->w, &net->cfg.vit, err)) < 0)
        goto fail;
    if ((rc = ln__precision(net, err)) < 0)
        goto fail;
    if ((rc = ln_triposr_config_check_weights(&net->cfg, net->w, err)) < 0 ||
        (rc = ln__check_dims(net, err)) < 0 || (rc = ln__bind_vit(net, err)) < 0 ||
        (rc = ln__bind_backbone(net, err)) < 0 || (rc = ln__bind_decoder(net, err)) < 0)
        goto fail;
    *out = net;
    return 0;
fail:
    ln_triposr_free(net);
    return rc;
}

void ln_triposr_free(struct ln_triposr *net)
{
    if (!net)
        return;
    ln__gpu_triposr_forget(net); /* its weights on the GPU, if any */
    free(net->dec_pack);
    for (size_t i = 0; i < net->n_packs; i++)
        free(net->packs[i].p);
    free(net->packs);
    pthread_mutex_destroy(&net->pack_lock);
    free(net->blocks);
    free(net->vit);
    free(net->pos_owned);
    ln_weights_close(net->w);
    free(net);
}

const struct ln_triposr_config *ln_triposr_get_config(const struct ln_triposr *net)
{
    return &net->cfg;
}

size_t ln_triposr_image_floats(const struct ln_triposr *net)
{
    const size_t s = (size_t)net->cfg.cond_image_size;
    return 3 * s * s;
}

size_t ln_triposr_tokens_floats(const struct ln_triposr *net)
{
    return (size_t)net->n_vit_tokens * (size_t)net->cfg.vit.hidden;
}

size_t ln_triposr_backbone_floats(const struct ln_triposr *net)
{
    return (size_t)net->cfg.num_channels * (size_t)net->n_tokens;
}

size_t ln_triposr_scene_floats(const struct ln_triposr *net)
{
    const size_t p2 = 2 * (size_t)net->cfg.plane_size;
    return 3 * (size_t)net->cfg.post_out * p2 * p2;
}

void ln_triposr_normalize(const struct ln_triposr *net, const float *hwc, float *chw)
{
    static const float mean[3] = {0.485f, 0.456f, 0.406f};
    static const float std[3] = {0.229f, 0.224f, 0.225f};
    const size_t s = (size_t)net->cfg.cond_image_size, n = s * s;
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < n; i++)
            chw[(size_t)c * n + i] = (hwc[i * 3 + (size_t)c] - mean[c]) / std[c];
}

int ln_triposr_reserve_device(const struct ln_triposr *net, struct ln_error *err)
{
    const int rc = ln__gpu_triposr_reserve(net, err);
    return rc == LN__GPU_DECLINED ? 0 : rc;
}

int ln_triposr_scene_code(const struct ln_triposr *net, const float *image_chw, float *scene,
                          const struct ln_triposr_trace *trace,
                          const struct ln_progress *progress, struct ln_error *err)
{
    int rc = 0;
    float *tokens = NULL, *bb = NULL;
    if (ln_progress_canceled(progress)) {
        rc = ln_error_set(err, LN_ECANCELED, "canceled before the image encoder");
        goto done;
    }
    /* On the selected GPU when there is one (ln_gpu_triposr_net.c). */
    if ((rc = ln__gpu_triposr_scene_code(net, image_chw, scene, trace, progress, err)) !=
        LN__GPU_DECLINED)
        goto done;
    rc = 0;
    /* On huge pages, hence 64-byte aligned: the image encoder's products
     * write the tokens, and rows on malloc's 16-byte alignment made the
     * threads' column blocks share a cache line at every boundary. */
    tokens = ln_alloc_array(ln_triposr_tokens_floats(net), sizeof(float), LN_ALLOC_HUGE,
                            "image tokens", err);
    bb = ln_alloc_array(ln_triposr_backbone_floats(net), sizeof(float), LN_ALLOC_HUGE,
                        "triplane tokens", err);
    if (!tokens || !bb) {
        rc = LN_ENOMEM;
        goto done;
    }
    /* The ViT is ~7% of the FLOPs of image -> scene code. */
    ln_progress_report(progress, "image encoder", 0.0);
    if ((rc = ln_triposr_encode_image(net, image_chw, tokens, trace, err)) < 0)
        goto done;
    struct ln_progress sub = ln_progress_span(progress, 0.07, 0.995);
    if ((rc = ln_triposr_backbone(net, tokens, bb, trace, &sub, err)) < 0)
        goto done;
    if ((rc = ln_triposr_upsample(net, bb, scene, err)) < 0)
        goto done;
    ln__triposr_trace(trace, "scene_codes", scene, ln_triposr_scene_floats(net));
    ln_progress_report(progress, "scene code", 1.0);
done:
    free(bb);
    free(tokens);
    return rc;
}
