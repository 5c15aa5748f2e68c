/*
 * The TripoSR stages that run on the selected GPU (ln_gpu.h), behind the
 * same functions as the CPU forms: ln_triposr_query (ln_kernels.c) asks
 * here first and computes on the CPU when no device is selected. Private
 * to nn.
 */
#ifndef LN_GPU_TRIPOSR_H
#define LN_GPU_TRIPOSR_H

#include <stddef.h>

#include "ln_error.h"

struct ln_triposr;
struct ln_triposr_trace;
struct ln_progress;
struct ln_gpu;
struct ln_gpu_buffer;

/* Returned when no GPU is selected: the caller computes on the CPU. */
#define LN__GPU_DECLINED 1

/* ln_triposr_query on the GPU: 0, a negative LN_E* (LN_ENOMEM with the
 * sizes when the work does not fit the device's memory budget; nothing
 * written then), or LN__GPU_DECLINED. The decoder weights are uploaded on
 * the first call for a network and the scene code when it differs from
 * the last one uploaded, so the queries of one grid upload it once.
 * Thread-safe (calls are serialised). */
int ln__gpu_triposr_query(const struct ln_triposr *net, const float *scene, const float *points,
                          size_t n, float *density_act, float *colour, float *features,
                          struct ln_error *err);

/* Bytes of device memory the weights and one scene code of net take there. */
size_t ln__gpu_triposr_resident_bytes(const struct ln_triposr *net);

/* ln_triposr_scene_code on the GPU (ln_gpu_triposr_net.c): ViT, backbone
 * and upsampling, the trace points as on the CPU; 0, a negative LN_E*
 * (LN_ENOMEM with the sizes when the weights and activations do not fit
 * the budget: checked before anything is allocated), or LN__GPU_DECLINED.
 * The network's weights stay on the device until another network is used,
 * the network is freed or the device closes; the scene code stays there
 * for the grid queries that follow. */
int ln__gpu_triposr_scene_code(const struct ln_triposr *net, const float *image_chw, float *scene,
                               const struct ln_triposr_trace *trace,
                               const struct ln_progress *progress, struct ln_error *err);

/* The three stages one by one, as the engine calls them
 * (ln_triposr_encode_image, ln_triposr_backbone, ln_triposr_upsample in
 * ln_kernels.c ask here first): each hands its result back to the host
 * and keeps it on the device too, so the next stage called with the same
 * floats uploads nothing (compared first). The first stage of an image
 * checks the whole chain's memory, as ln__gpu_triposr_scene_code. */
int ln__gpu_triposr_encode_image(const struct ln_triposr *net, const float *image_chw,
                                 float *tokens, const struct ln_triposr_trace *trace,
                                 struct ln_error *err);
int ln__gpu_triposr_backbone(const struct ln_triposr *net, const float *context, float *out,
                             const struct ln_triposr_trace *trace,
                             const struct ln_progress *progress, struct ln_error *err);
int ln__gpu_triposr_upsample(const struct ln_triposr *net, const float *backbone_out, float *scene,
                             struct ln_error *err);

/* Drops net's weights from the device (ln_triposr_free). */
void ln__gpu_triposr_forget(const struct ln_triposr *net);

/* Device bytes of net's weights and of one image -> scene code call's
 * activations, as the GPU stage allocates them. 0 or LN_ENOMEM. */
int ln__gpu_triposr_net_bytes(const struct ln_triposr *net, size_t *weights, size_t *activations);

/* ln_triposr_reserve_device on the GPU: ln__prepare's check and
 * allocation of the weights and one image's activations, ahead of the
 * stages; 0, a negative LN_E* (LN_ENOMEM with the sizes) or
 * LN__GPU_DECLINED. */
int ln__gpu_triposr_reserve(const struct ln_triposr *net, struct ln_error *err);

/* Makes buf (net's scene code, computed on gpu; host is its copy) the
 * query's resident scene code, so the queries with that scene code upload
 * nothing; takes buf (freed when the copy cannot be kept). */
void ln__gpu_triposr_adopt_scene(struct ln_gpu *gpu, const struct ln_triposr *net,
                                 struct ln_gpu_buffer *buf, const float *host);

#endif
