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

#endif
