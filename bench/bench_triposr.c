/*
 * bench-triposr: the triposr engine at the released model's size. It writes
 * a random-weight checkpoint with the real shapes (triposr-model.md
 * Appendix A) as safetensors, with the released config.yaml values (section
 * 2) and a ViT-B/16 vit_config.json beside it, then times each stage of one
 * image at 512 input and grid 256 and reports seconds and GFLOP/s (FLOP
 * counts of section 15) against this machine's cblas_sgemm rate at 2048^3,
 * measured in the same run, and the peak RSS.
 *
 *   bench-triposr [RESOLUTION] [FOLDER]     (defaults 256, /tmp/lunar-nova-bench-triposr)
 *
 * Weights: normal, standard deviation 0.02 (LayerNorm and GroupNorm
 * weights 1, biases 0), except the small NeRF decoder, drawn with standard
 * deviation 1 / sqrt(fan-in) so that its output depends on the point at
 * all; its density row and bias are then calibrated on the scene code
 * (rewritten in the file, model reloaded) so that about 40% of the grid is
 * inside. A random model's density is as rough as its triplane texels, so
 * its surface fills the grid: the coarse-to-fine pass then evaluates nearly
 * every point, which a trained model's smooth field does not need; the
 * benchmark also reports what share of the grid a smooth body needs.
 */
#include <cblas.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ln_engine.h"
#include "ln_export.h"
#include "ln_file.h"
#include "ln_image.h"
#include "ln_synth.h"
#include "ln_threads.h"
#include "ln_time.h"
#include "ln_triposr.h"
#include "triposr_internal.h"

static void ln__die(const char *what, const struct ln_error *err)
{
    fprintf(stderr, "bench-triposr: %s: %s\n", what, err ? err->message : "failed");
    exit(1);
}

/* ------------------------------------------------------------ the checkpoint */

struct ln__t {
    char name[128];
    int ndim;
    int64_t shape[4];
    int kind; /* 0 normal 0.02, 1 ones, 2 zeros, 3 decoder (1 / sqrt(fan-in)) */
};

static struct ln__t *ln__tensors;
static size_t ln__n_tensors, ln__cap_tensors;

static void ln__add(int kind, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void ln__add(int kind, int ndim, const int64_t *shape, const char *fmt, ...)
{
    if (ln__n_tensors == ln__cap_tensors) {
        ln__cap_tensors = ln__cap_tensors ? 2 * ln__cap_tensors : 1024;
        ln__tensors = realloc(ln__tensors, ln__cap_tensors * sizeof *ln__tensors);
        if (!ln__tensors)
            exit(1);
    }
    struct ln__t *t = &ln__tensors[ln__n_tensors++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof(int64_t));
    t->kind = kind;
}

#define S(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}
#define N 0
#define ONE 1
#define ZERO 2
#define DEC 3

/* Appendix A, in upstream order. */
static void ln__real_state_dict(void)
{
    const char *v = "image_tokenizer.model.";
    ln__add(N, S(1, 1, 768), "%sembeddings.cls_token", v);
    ln__add(N, S(1, 197, 768), "%sembeddings.position_embeddings", v);
    ln__add(N, S(768, 3, 16, 16), "%sembeddings.patch_embeddings.projection.weight", v);
    ln__add(ZERO, S(768), "%sembeddings.patch_embeddings.projection.bias", v);
    for (int i = 0; i < 12; i++) {
        const char *a = "attention.attention";
        ln__add(N, S(768, 768), "%sencoder.layer.%d.%s.query.weight", v, i, a);
        ln__add(ZERO, S(768), "%sencoder.layer.%d.%s.query.bias", v, i, a);
        ln__add(N, S(768, 768), "%sencoder.layer.%d.%s.key.weight", v, i, a);
        ln__add(ZERO, S(768), "%sencoder.layer.%d.%s.key.bias", v, i, a);
        ln__add(N, S(768, 768), "%sencoder.layer.%d.%s.value.weight", v, i, a);
        ln__add(ZERO, S(768), "%sencoder.layer.%d.%s.value.bias", v, i, a);
        ln__add(N, S(768, 768), "%sencoder.layer.%d.attention.output.dense.weight", v, i);
        ln__add(ZERO, S(768), "%sencoder.layer.%d.attention.output.dense.bias", v, i);
        ln__add(N, S(3072, 768), "%sencoder.layer.%d.intermediate.dense.weight", v, i);
        ln__add(ZERO, S(3072), "%sencoder.layer.%d.intermediate.dense.bias", v, i);
        ln__add(N, S(768, 3072), "%sencoder.layer.%d.output.dense.weight", v, i);
        ln__add(ZERO, S(768), "%sencoder.layer.%d.output.dense.bias", v, i);
        ln__add(ONE, S(768), "%sencoder.layer.%d.layernorm_before.weight", v, i);
        ln__add(ZERO, S(768), "%sencoder.layer.%d.layernorm_before.bias", v, i);
        ln__add(ONE, S(768), "%sencoder.layer.%d.layernorm_after.weight", v, i);
        ln__add(ZERO, S(768), "%sencoder.layer.%d.layernorm_after.bias", v, i);
    }
    ln__add(ONE, S(768), "%slayernorm.weight", v);
    ln__add(ZERO, S(768), "%slayernorm.bias", v);
    ln__add(N, S(768, 768), "%spooler.dense.weight", v);
    ln__add(ZERO, S(768), "%spooler.dense.bias", v);
    ln__add(N, S(3, 1024, 32, 32), "tokenizer.embeddings");
    ln__add(ONE, S(1024), "backbone.norm.weight");
    ln__add(ZERO, S(1024), "backbone.norm.bias");
    ln__add(N, S(1024, 1024), "backbone.proj_in.weight");
    ln__add(ZERO, S(1024), "backbone.proj_in.bias");
    for (int b = 0; b < 16; b++) {
        const char *p = "backbone.transformer_blocks";
        ln__add(ONE, S(1024), "%s.%d.norm1.weight", p, b);
        ln__add(ZERO, S(1024), "%s.%d.norm1.bias", p, b);
        ln__add(N, S(1024, 1024), "%s.%d.attn1.to_q.weight", p, b);
        ln__add(N, S(1024, 1024), "%s.%d.attn1.to_k.weight", p, b);
        ln__add(N, S(1024, 1024), "%s.%d.attn1.to_v.weight", p, b);
        ln__add(N, S(1024, 1024), "%s.%d.attn1.to_out.0.weight", p, b);
        ln__add(ZERO, S(1024), "%s.%d.attn1.to_out.0.bias", p, b);
        ln__add(ONE, S(1024), "%s.%d.norm2.weight", p, b);
        ln__add(ZERO, S(1024), "%s.%d.norm2.bias", p, b);
        ln__add(N, S(1024, 1024), "%s.%d.attn2.to_q.weight", p, b);
        ln__add(N, S(1024, 768), "%s.%d.attn2.to_k.weight", p, b);
        ln__add(N, S(1024, 768), "%s.%d.attn2.to_v.weight", p, b);
        ln__add(N, S(1024, 1024), "%s.%d.attn2.to_out.0.weight", p, b);
        ln__add(ZERO, S(1024), "%s.%d.attn2.to_out.0.bias", p, b);
        ln__add(ONE, S(1024), "%s.%d.norm3.weight", p, b);
        ln__add(ZERO, S(1024), "%s.%d.norm3.bias", p, b);
        ln__add(N, S(8192, 1024), "%s.%d.ff.net.0.proj.weight", p, b);
        ln__add(ZERO, S(8192), "%s.%d.ff.net.0.proj.bias", p, b);
        ln__add(N, S(1024, 4096), "%s.%d.ff.net.2.weight", p, b);
        ln__add(ZERO, S(1024), "%s.%d.ff.net.2.bias", p, b);
    }
    ln__add(N, S(1024, 1024), "backbone.proj_out.weight");
    ln__add(ZERO, S(1024), "backbone.proj_out.bias");
    ln__add(N, S(1024, 40, 2, 2), "post_processor.upsample.weight");
    ln__add(ZERO, S(40), "post_processor.upsample.bias");
    for (int l = 0; l < 10; l++) {
        const int64_t in = l == 0 ? 120 : 64, out = l == 9 ? 4 : 64;
        ln__add(DEC, S(out, in), "decoder.layers.%d.weight", 2 * l);
        ln__add(ZERO, S(out), "decoder.layers.%d.bias", 2 * l);
    }
}

static size_t ln__count(const struct ln__t *t)
{
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= (size_t)t->shape[d];
    return n;
}

/* xoshiro128+ and Box-Muller: fast enough for 419 M values. */
static uint32_t ln__rs[4] = {0x9e3779b9u, 0x243f6a88u, 0xb7e15162u, 0x12345678u};

static inline uint32_t ln__rotl(uint32_t x, int k)
{
    return (x << k) | (x >> (32 - k));
}

static inline uint32_t ln__next(void)
{
    const uint32_t r = ln__rs[0] + ln__rs[3], t = ln__rs[1] << 9;
    ln__rs[2] ^= ln__rs[0];
    ln__rs[3] ^= ln__rs[1];
    ln__rs[1] ^= ln__rs[2];
    ln__rs[0] ^= ln__rs[3];
    ln__rs[2] ^= t;
    ln__rs[3] = ln__rotl(ln__rs[3], 11);
    return r;
}

static void ln__normals(float *out, size_t n, float sd)
{
    for (size_t i = 0; i < n; i += 2) {
        const float u1 = ((float)(ln__next() >> 8) + 1.0f) * (1.0f / 16777217.0f);
        const float u2 = (float)(ln__next() >> 8) * (1.0f / 16777216.0f);
        const float r = sqrtf(-2.0f * logf(u1)) * sd;
        out[i] = r * cosf(6.2831853f * u2);
        if (i + 1 < n)
            out[i + 1] = r * sinf(6.2831853f * u2);
    }
}

/* Writes model.safetensors; returns the file offsets of the last decoder
 * layer's weight and bias, and a copy of that weight. */
static void ln__write_safetensors(const char *path, long *off_w18, long *off_b18, float *w18)
{
    struct ln_buf h = {0};
    ln_buf_printf(&h, "{");
    size_t at = 0;
    for (size_t i = 0; i < ln__n_tensors; i++) {
        const struct ln__t *t = &ln__tensors[i];
        const size_t bytes = ln__count(t) * 4;
        ln_buf_printf(&h, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[", i ? "," : "", t->name);
        for (int d = 0; d < t->ndim; d++)
            ln_buf_printf(&h, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        ln_buf_printf(&h, "],\"data_offsets\":[%zu,%zu]}", at, at + bytes);
        at += bytes;
    }
    ln_buf_printf(&h, "}");
    while (h.len % 8)
        ln_buf_append(&h, " ", 1);
    FILE *f = fopen(path, "wb");
    if (!f || h.failed)
        ln__die(path, NULL);
    const uint64_t hl = h.len;
    fwrite(&hl, 8, 1, f);
    fwrite(h.data, 1, h.len, f);
    const long base = (long)(8 + h.len);
    float *buf = malloc(((size_t)8 << 20) * sizeof(float));
    at = 0;
    for (size_t i = 0; i < ln__n_tensors; i++) {
        const struct ln__t *t = &ln__tensors[i];
        size_t n = ln__count(t);
        if (strcmp(t->name, "decoder.layers.18.weight") == 0)
            *off_w18 = base + (long)at;
        if (strcmp(t->name, "decoder.layers.18.bias") == 0)
            *off_b18 = base + (long)at;
        at += n * 4;
        while (n > 0) {
            const size_t m = n < ((size_t)8 << 20) ? n : ((size_t)8 << 20);
            if (t->kind == ONE || t->kind == ZERO)
                for (size_t k = 0; k < m; k++)
                    buf[k] = t->kind == ONE ? 1.0f : 0.0f;
            else
                ln__normals(buf, m, t->kind == DEC ? 1.0f / sqrtf((float)t->shape[1]) : 0.02f);
            if (strcmp(t->name, "decoder.layers.18.weight") == 0)
                memcpy(w18, buf, 4 * 64 * sizeof(float));
            if (fwrite(buf, sizeof(float), m, f) != m)
                ln__die(path, NULL);
            n -= m;
        }
    }
    free(buf);
    if (fclose(f) != 0)
        ln__die(path, NULL);
    ln_buf_free(&h);
}

static const char ln__config_yaml[] =
    "cond_image_size: 512\n"
    "image_tokenizer_cls: tsr.models.tokenizers.image.DINOSingleImageTokenizer\n"
    "image_tokenizer:\n"
    "  pretrained_model_name_or_path: \"facebook/dino-vitb16\"\n"
    "tokenizer_cls: tsr.models.tokenizers.triplane.Triplane1DTokenizer\n"
    "tokenizer:\n"
    "  plane_size: 32\n"
    "  num_channels: 1024\n"
    "backbone_cls: tsr.models.transformer.transformer_1d.Transformer1D\n"
    "backbone:\n"
    "  in_channels: ${tokenizer.num_channels}\n"
    "  num_attention_heads: 16\n"
    "  attention_head_dim: 64\n"
    "  num_layers: 16\n"
    "  cross_attention_dim: 768\n"
    "post_processor_cls: tsr.models.network_utils.TriplaneUpsampleNetwork\n"
    "post_processor:\n"
    "  in_channels: 1024\n"
    "  out_channels: 40\n"
    "decoder_cls: tsr.models.network_utils.NeRFMLP\n"
    "decoder:\n"
    "  in_channels: 120\n"
    "  n_neurons: 64\n"
    "  n_hidden_layers: 9\n"
    "  activation: silu\n"
    "renderer_cls: tsr.models.nerf_renderer.TriplaneNeRFRenderer\n"
    "renderer:\n"
    "  radius: 0.87\n"
    "  feature_reduction: concat\n"
    "  density_activation: exp\n"
    "  density_bias: -1.0\n"
    "  num_samples_per_ray: 128\n";

static const char ln__vit_json[] =
    "{\"architectures\": [\"ViTModel\"], \"attention_probs_dropout_prob\": 0.0,\n"
    " \"hidden_act\": \"gelu\", \"hidden_dropout_prob\": 0.0, \"hidden_size\": 768,\n"
    " \"image_size\": 224, \"initializer_range\": 0.02, \"intermediate_size\": 3072,\n"
    " \"layer_norm_eps\": 1e-12, \"model_type\": \"vit\", \"num_attention_heads\": 12,\n"
    " \"num_channels\": 3, \"num_hidden_layers\": 12, \"patch_size\": 16, \"qkv_bias\": true}\n";

/* ----------------------------------------------------------------- measuring */

static double ln__sgemm_rate(void)
{
    const int n = 2048;
    float *a = malloc((size_t)n * n * sizeof(float)), *b = malloc((size_t)n * n * sizeof(float));
    float *c = malloc((size_t)n * n * sizeof(float));
    ln__normals(a, (size_t)n * n, 1.0f);
    ln__normals(b, (size_t)n * n, 1.0f);
    double best = 1e30;
    for (int r = 0; r < 4; r++) {
        const double t0 = ln_time_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        const double t = ln_time_now() - t0;
        best = r > 0 && t < best ? t : best; /* the first run warms up */
    }
    free(c);
    free(b);
    free(a);
    return 2.0 * n * (double)n * n / best / 1e9;
}

struct ln__capture {
    float *scene;
};

static int ln__capture_fn(void *user, const char *name, const float *data, const size_t *shape,
                          int ndim, struct ln_error *err)
{
    struct ln__capture *c = user;
    if (strcmp(name, "scene_codes") == 0) {
        const size_t n = shape[0] * shape[1] * shape[2] * shape[3] * shape[4];
        c->scene = malloc(n * sizeof(float));
        memcpy(c->scene, data, n * sizeof(float));
    }
    return 0;
}

static int ln__cmp_float(const void *a, const void *b)
{
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static int ln__blob(void *user, const float *pts, size_t n, float *out, struct ln_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const float x = pts[3 * i], y = pts[3 * i + 1], z = pts[3 * i + 2];
        const float s = 0.45f - sqrtf(x * x + y * y + z * z) +
                        0.06f * sinf(7.0f * x) * sinf(6.0f * y) * sinf(5.0f * z + 0.3f);
        out[i] = LN__TSR_THRESHOLD * expf(6.0f * s);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const int R = argc > 1 ? atoi(argv[1]) : 256;
    const char *dir = argc > 2 ? argv[2] : "/tmp/lunar-nova-bench-triposr";
    struct ln_error err = {0};
    char path[1024];
    if (R < 32 || R > 512)
        return 2;
    if (ln_file_mkdirs(dir, &err) < 0)
        ln__die(dir, &err);

    printf("threads: %d\n", ln_threads_get());
    const double sgemm = ln__sgemm_rate();
    printf("cblas_sgemm 2048^3: %.1f GFLOP/s\n", sgemm);

    /* The checkpoint. */
    ln__real_state_dict();
    long off_w18 = 0, off_b18 = 0;
    float w18[4 * 64];
    double t0 = ln_time_now();
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    ln__write_safetensors(path, &off_w18, &off_b18, w18);
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    if (ln_file_write_atomic(path, ln__config_yaml, sizeof ln__config_yaml - 1, &err) < 0)
        ln__die(path, &err);
    snprintf(path, sizeof path, "%s/vit_config.json", dir);
    if (ln_file_write_atomic(path, ln__vit_json, sizeof ln__vit_json - 1, &err) < 0)
        ln__die(path, &err);
    size_t n_params = 0;
    for (size_t i = 0; i < ln__n_tensors; i++)
        n_params += ln__count(&ln__tensors[i]);
    printf("random checkpoint: %zu tensors, %zu parameters, written in %.1f s\n", ln__n_tensors,
           n_params, ln_time_now() - t0);

    /* Load, and one image through the network for the calibration. */
    t0 = ln_time_now();
    struct ln_engine *eng;
    if (ln_engine_triposr_new(dir, &eng, &err) < 0)
        ln__die("load", &err);
    const double t_load = ln_time_now() - t0;
    struct ln_image img = {0};
    if (ln_synth_photo(&img, 1024) != 0)
        ln__die("synthetic photo", NULL);
    const struct ln_triposr *net = ln__engine_triposr_net(eng);
    float *chw = malloc(ln_triposr_image_floats(net) * sizeof(float));
    float *tokens = malloc(ln_triposr_tokens_floats(net) * sizeof(float));
    float *bb = malloc(ln_triposr_backbone_floats(net) * sizeof(float));
    float *scene = malloc(ln_triposr_scene_floats(net) * sizeof(float));
    t0 = ln_time_now();
    if (ln__triposr_preprocess(net, &img, 1, 0.85f, chw, &err) < 0)
        ln__die("preprocess", &err);
    const double t_pre = ln_time_now() - t0;
    t0 = ln_time_now();
    if (ln_triposr_encode_image(net, chw, tokens, NULL, &err) < 0)
        ln__die("image encoder", &err);
    const double t_vit = ln_time_now() - t0;
    t0 = ln_time_now();
    if (ln_triposr_backbone(net, tokens, bb, NULL, NULL, &err) < 0)
        ln__die("backbone", &err);
    const double t_bb = ln_time_now() - t0;
    t0 = ln_time_now();
    if (ln_triposr_upsample(net, bb, scene, &err) < 0)
        ln__die("upsample", &err);
    const double t_up = ln_time_now() - t0;

    /* Calibration: sigma' = row . h + bias at 32^3 points; the new row a *
     * row and bias b put sigma's spread at 3 and 40% of the grid above the
     * threshold sigma (1 + log 25). */
    const int RC = 32;
    float *cal = malloc((size_t)RC * RC * RC * sizeof(float));
    if (ln__triposr_density_dense(net, scene, RC, cal, NULL, NULL, &err) < 0)
        ln__die("calibration", &err);
    const size_t nc = (size_t)RC * RC * RC;
    double mean = 0.0, var = 0.0;
    for (size_t i = 0; i < nc; i++) {
        cal[i] = logf(cal[i]) + 1.0f; /* sigma' (the written bias is 0) */
        mean += cal[i];
    }
    mean /= (double)nc;
    for (size_t i = 0; i < nc; i++)
        var += (cal[i] - mean) * (cal[i] - mean);
    const double sd = sqrt(var / (double)nc);
    qsort(cal, nc, sizeof(float), ln__cmp_float);
    const double q60 = cal[(size_t)(0.6 * (double)nc)];
    const double a = 3.0 / (sd > 1e-12 ? sd : 1e-12);
    const float bias = (float)(1.0 + log(25.0) - a * q60);
    for (int k = 0; k < 64; k++)
        w18[k] = (float)(a * w18[k]);
    free(cal);
    ln_engine_free(eng);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "r+b");
    if (!f || fseek(f, off_w18, SEEK_SET) != 0 || fwrite(w18, sizeof(float), 64, f) != 64 ||
        fseek(f, off_b18, SEEK_SET) != 0 || fwrite(&bias, sizeof(float), 1, f) != 1 || fclose(f) != 0)
        ln__die("calibration write", NULL);
    printf("density calibration: sigma spread %.3g scaled by %.3g, bias %.3f\n", sd, a,
           (double)bias);
    if (ln_engine_triposr_new(dir, &eng, &err) < 0)
        ln__die("reload", &err);
    net = ln__engine_triposr_net(eng);

    /* Dense sample for a points/s figure. */
    const int RD = 64;
    float *dense = malloc((size_t)RD * RD * RD * sizeof(float));
    t0 = ln_time_now();
    if (ln__triposr_density_dense(net, scene, RD, dense, NULL, NULL, &err) < 0)
        ln__die("dense density", &err);
    const double t_dense = ln_time_now() - t0;
    free(dense);
    const double dense_rate = (double)RD * RD * RD / t_dense;

    /* The whole run as the command line does it: PNG in, GLB out. */
    struct ln_buf png = {0};
    if (ln_image_encode_png(&img, &png, &err) < 0)
        ln__die("png", &err);
    ln_image_free(&img);
    struct ln__capture cap = {NULL};
    struct ln_engine_tap tap = {ln__capture_fn, &cap, 0};
    struct ln_generate_options opt;
    ln_generate_options_default(&opt);
    opt.resolution = R;
    opt.tap = &tap;
    struct ln_generate_report rep;
    struct ln_mesh mesh = {0};
    const double w0 = ln_time_now();
    struct ln_image in_img = {0};
    if (ln_image_decode(png.data, png.len, NULL, &in_img, &err) < 0)
        ln__die("decode", &err);
    const double t_decode = ln_time_now() - w0;
    struct ln_engine_input in = {.images = &in_img, .n_images = 1};
    if (ln_generate(eng, &in, &opt, NULL, &mesh, &rep, &err) < 0)
        ln__die("generate", &err);
    snprintf(path, sizeof path, "%s/out.glb", dir);
    const double e0 = ln_time_now();
    if (ln_mesh_save(&mesh, path, ln_mesh_format_from_path(path), &err) < 0)
        ln__die("export", &err);
    const double t_export = ln_time_now() - e0;
    const double t_whole = ln_time_now() - w0;

    /* Coarse to fine on the random model, stage by stage, from the run's
     * scene code (mesh and colours timed here on their own). */
    const size_t nR = (size_t)R * R * R;
    float *field = malloc(nR * sizeof(float));
    struct ln__tsr_density_stats st;
    t0 = ln_time_now();
    if (ln__triposr_density_coarse_fine(net, cap.scene, R, 0, field, &st, NULL, &err) < 0)
        ln__die("density", &err);
    const double t_c2f = ln_time_now() - t0;
    struct ln_mesh raw = {0};
    t0 = ln_time_now();
    if (ln__triposr_mesh_field(field, R, 0.87f, &raw, &err) < 0)
        ln__die("marching cubes", &err);
    const double t_mc = ln_time_now() - t0;
    float *col = malloc(raw.n_vertices * 3 * sizeof(float));
    t0 = ln_time_now();
    if (ln_triposr_query(net, cap.scene, raw.positions, raw.n_vertices, NULL, col, NULL, &err) < 0)
        ln__die("colours", &err);
    const double t_col = ln_time_now() - t0;

    /* A smooth body's share of the grid (no network: the test's bumpy
     * ball), for what a trained model's density would cost. */
    struct ln__tsr_density_stats sb;
    if (ln__tsr_grid_coarse_fine(R, 0.87f, 0, ln__blob, NULL, field, &sb, NULL, &err) < 0)
        ln__die("smooth body", &err);

    const double gf_vit = 214.1, gf_bb = 2744.7, gf_up = 1.01, per_point = 81408e-9;
    printf("\nstage                          seconds   GFLOP   GFLOP/s  %% of sgemm\n");
#define ROW(name, s, g)                                                                            \
    printf("%-30s %8.3f %7.1f %9.1f %8.0f%%\n", name, s, g, (g) > 0 ? (g) / (s) : 0.0,             \
           (g) > 0 ? 100.0 * (g) / (s) / sgemm : 0.0)
    ROW("load (map + check + pack)", t_load, 0.0);
    ROW("preprocess (1024 px photo)", t_pre, 0.0);
    ROW("image encoder (ViT-B/16)", t_vit, gf_vit);
    ROW("backbone (16 blocks)", t_bb, gf_bb);
    ROW("upsample", t_up, gf_up);
    ROW("image -> scene code", t_vit + t_bb + t_up, gf_vit + gf_bb + gf_up);
    ROW("density 64^3 dense", t_dense, (double)RD * RD * RD * per_point);
    printf("  dense: %.0f points/s (%.1fx the 227 k points/s reference)\n", dense_rate,
           dense_rate / 227e3);
    char label[64];
    snprintf(label, sizeof label, "density %d^3 coarse to fine", R);
    ROW(label, t_c2f, (double)st.n_evaluated * per_point);
    printf("  random model: %zu of %zu points evaluated (%.1f%%), %.0f points/s\n", st.n_evaluated,
           st.n_points, 100.0 * (double)st.n_evaluated / (double)st.n_points,
           (double)st.n_evaluated / t_c2f);
    printf("  smooth body (bumpy ball): %.1f%% of the grid evaluated -> about %.2f s at the dense "
           "rate\n",
           100.0 * (double)sb.n_evaluated / (double)sb.n_points,
           (double)sb.n_evaluated / dense_rate);
    ROW("marching cubes", t_mc, 0.0);
    printf("  %zu vertices, %zu faces\n", raw.n_vertices, raw.n_faces);
    ROW("vertex colours", t_col, (double)raw.n_vertices * per_point);
    printf("\nwhole image -> GLB at %d (decode, engine, post-processing, export): %.2f s\n", R,
           t_whole);
    printf("  decode %.3f", t_decode);
    for (int i = 0; i < rep.n_stages; i++)
        printf(", %s %.3f", rep.stages[i].name, rep.stages[i].seconds);
    printf(", export %.3f\n", t_export);
    printf("  %zu vertices, %zu faces after post-processing\n", rep.stats.n_vertices,
           rep.stats.n_faces);
    printf("peak RSS: %.2f GB\n", (double)ln_time_peak_rss() / 1e9);

    free(col);
    ln_mesh_free(&raw);
    free(field);
    free(cap.scene);
    ln_mesh_free(&mesh);
    ln_image_free(&in_img);
    ln_buf_free(&png);
    free(scene);
    free(bb);
    free(tokens);
    free(chw);
    ln_engine_free(eng);
    free(ln__tensors);
    return 0;
}
