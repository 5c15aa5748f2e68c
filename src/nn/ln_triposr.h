/*
 * The TripoSR network in C (docs/TRIPOSR.md sections 5-12): DINO ViT image
 * encoder, learned triplane tokens, Transformer1D backbone, ConvTranspose
 * upsampling to the scene code (triplanes), triplane queries through the
 * NeRF MLP, and volume rendering of a view. Matrix products go to OpenBLAS
 * (cblas_sgemm); attention is computed in tiles so no N x N x heads buffer
 * exists.
 *
 *     struct ln_triposr *net;
 *     ln_triposr_load(&files, &net, &err);     // maps weights, checks all
 *     float *scene = malloc(ln_triposr_scene_floats(net) * sizeof(float));
 *     ln_triposr_scene_code(net, image_chw, scene, NULL, &progress, &err);
 *     ln_triposr_query(net, scene, points, n, density, colour, &err);
 *     ln_triposr_free(net);
 *
 * The loaded network is immutable and shared by every job (weights are
 * read-only); each call allocates its own scratch, so calls may run
 * concurrently. Stage functions exist so tests can feed each stage the
 * reference input of that stage.
 */
#ifndef LN_TRIPOSR_H
#define LN_TRIPOSR_H

#include <stddef.h>

#include "ln_error.h"
#include "ln_hf.h"
#include "ln_progress.h"
#include "ln_triposr_config.h"
#include "ln_weights.h"

struct ln_triposr;

/* The precision of the backbone blocks' products in networks loaded from
 * now on (the whole process): "fp32" (the default) or "bf16", which needs
 * a CPU with AVX512_BF16 and the avx512 kernel set. Until it is called,
 * the environment's LN_TRIPOSR_PRECISION decides. LN_EINVAL, saying why,
 * for another name or for bf16 where it cannot run; nothing changes then. */
int ln_triposr_set_precision(const char *name, struct ln_error *err);

/* Whether the float32 products of the ViT and the backbone run from
 * weights packed once per network (1) or pack them on every call (0); the
 * same bits either way. Until it is called (or after -1), the environment's
 * LN_TRIPOSR_PACK decides: "1" packs, anything else does not (the
 * default: see "packed weights" in ln_triposr.c for why). Process-wide,
 * read at each product. */
void ln_triposr_set_packing(int on);

/* Bytes of net's weights held packed: 0 until its first image on the CPU
 * in float32 with our product (ln_triposr_set_packing). */
size_t ln_triposr_packed_bytes(const struct ln_triposr *net);

/* Packs net's weights now, as its first image on the CPU in float32 with
 * our product would (nothing where its products would not run packed:
 * bf16, OpenBLAS, packing off); returns ln_triposr_packed_bytes. */
size_t ln_triposr_pack(const struct ln_triposr *net);

/* Loads config.yaml and the weights of files, resolves the ViT config (see
 * ln_triposr_config.h; the ViT repo is looked up in the same cache), and
 * checks every tensor. */
int ln_triposr_load(const struct ln_model_files *files, struct ln_triposr **out,
                    struct ln_error *err);
void ln_triposr_free(struct ln_triposr *net);
const struct ln_triposr_config *ln_triposr_get_config(const struct ln_triposr *net);

/* Intermediate results, reported by name as they are computed (names as in
 * the golden manifest: "vit_embeddings", "vit_layer0", …,
 * "vit_last_hidden_state", "tokens_init", "backbone_groupnorm",
 * "backbone_proj_in", "backbone_block0", …, "backbone_proj_out",
 * "backbone_out", "scene_codes"), in the manifest's layouts. */
struct ln_triposr_trace {
    void (*fn)(void *user, const char *name, const float *data, size_t n);
    void *user;
};

/* Number of floats of: the image input [3, S, S] (S = cond_image_size),
 * the ViT output [T, hidden], the backbone output [C, 3 P P], the scene
 * code [3, out, 2P, 2P]. */
size_t ln_triposr_image_floats(const struct ln_triposr *net);
size_t ln_triposr_tokens_floats(const struct ln_triposr *net);
size_t ln_triposr_backbone_floats(const struct ln_triposr *net);
size_t ln_triposr_scene_floats(const struct ln_triposr *net);

/* Section 5: normalised image [3, S, S] -> last_hidden_state [T, hidden]. */
int ln_triposr_encode_image(const struct ln_triposr *net, const float *image_chw, float *tokens,
                            const struct ln_triposr_trace *trace, struct ln_error *err);
/* Sections 6-7: context tokens [T, cross_dim] -> backbone output [C, N]. */
int ln_triposr_backbone(const struct ln_triposr *net, const float *context, float *out,
                        const struct ln_triposr_trace *trace, const struct ln_progress *progress,
                        struct ln_error *err);
/* Section 8: backbone output [C, N] -> scene code [3, out, 2P, 2P]. */
int ln_triposr_upsample(const struct ln_triposr *net, const float *backbone_out, float *scene,
                        struct ln_error *err);
/* All of the above from the normalised image. */
int ln_triposr_scene_code(const struct ln_triposr *net, const float *image_chw, float *scene,
                          const struct ln_triposr_trace *trace,
                          const struct ln_progress *progress, struct ln_error *err);

/* With a GPU selected (ln_gpu.h), makes net's weights and one image's
 * activations resident there, their whole size checked against the
 * device's memory budget first (LN_ENOMEM, one line with the sizes, and
 * nothing allocated when they do not fit): a job calls it before its
 * first stage so that one which cannot fit fails at once. 0 on the CPU. */
int ln_triposr_reserve_device(const struct ln_triposr *net, struct ln_error *err);

/* Section 3.5: RGB float HWC in [0, 1] (S x S) -> normalised CHW. */
void ln_triposr_normalize(const struct ln_triposr *net, const float *hwc, float *chw);

/* Sections 9-10: density_act (exp(sigma + bias)) and colour (sigmoid, RGB)
 * at n points in the TripoSR frame. Either output may be NULL. features, if
 * not NULL, receives the [n, 3 * out] triplane features. */
int ln_triposr_query(const struct ln_triposr *net, const float *scene, const float *points,
                     size_t n, float *density_act, float *colour, float *features,
                     struct ln_error *err);

/* Section 12: volume rendering of n rays (origins and directions [n, 3]) to
 * RGB [n, 3] on a white background. */
int ln_triposr_render_rays(const struct ln_triposr *net, const float *scene, const float *rays_o,
                           const float *rays_d, size_t n, float *rgb, struct ln_error *err);

/* The kernel set the network's arithmetic runs with in this process
 * ("avx512", "avx2" or "baseline": the widest the CPU has, or LN_CPU's;
 * see ln_cpu.h). */
const char *ln_nn_kernel_set(void);
/* OpenBLAS's kernels for this process ("Haswell", "SkylakeX", ...: its own
 * choice, or the family OPENBLAS_CORETYPE names). */
const char *ln_nn_blas_core(void);
/* Where those kernels need instructions this CPU lacks (OPENBLAS_CORETYPE
 * naming another CPU family: Bulldozer's FMA4, Opteron's 3DNow!, SkylakeX's
 * AVX-512 on a CPU without them), a sentence saying so, else NULL. OpenBLAS
 * would end the process with an illegal instruction at its first product,
 * so the products then run on our own loops instead (ln__sgemm). */
const char *ln_nn_blas_mismatch(void);
/* Logs that sentence as a warning, once per process (serve at its start,
 * every process before its first product). */
void ln_nn_blas_warn(void);
/* The CPU's peak multiply-add rate in GFLOP/s with the kernel set in use,
 * measured: `threads` threads (< 1: ln_threads_get()) each running
 * independent vector multiply-adds on registers for about `seconds`
 * (ln_fma_peak.c); the best of five runs. */
double ln_nn_fma_peak(double seconds, int threads);

/* Section 5.1: bicubic resize of a [1 + src*src, dim] position table to
 * [1 + dst*dst, dim] with the transformers 4.35 scale-factor rule. */
void ln_triposr_interpolate_positions(const float *table, int src, int dim, int dst, float *out);

#endif
