/*
 * ONNX graphs on the selected GPU (ln_gpu.h), behind ln_onnx_run: the run
 * asks here first and computes on the CPU, as before, when no device is
 * selected or when no node of the graph has a GPU form; the nodes without
 * one run on the CPU between GPU stretches (one log line per plan says
 * which). The GPU form runs the plan the CPU planner made for
 * the input shapes (ln_onnx.c): the same nodes, the same folded constants
 * and the same activation arena, mirrored in one device buffer. Private
 * to nn.
 */
#ifndef LN_GPU_ONNX_H
#define LN_GPU_ONNX_H

#include <stddef.h>

#include "ln_error.h"
#include "ln_onnx.h"

struct ln_onnx;

/* Returned when the CPU must compute (as in ln_gpu_triposr.h). */
#ifndef LN__GPU_DECLINED
#define LN__GPU_DECLINED 1
#endif

/* Runs m's planned graph on the GPU: the inputs are those already bound
 * to the plan, outputs[0..n_outputs) are filled as ln_onnx_run fills them.
 * replanned: the plan changed since the last call (what is resident for
 * the old one is dropped). Weights and constants are uploaded on the first
 * call for a plan and stay on the device until the model is freed, the
 * plan changes or the device is released; the device memory (weights and
 * activations) is checked against the budget before anything is
 * allocated: LN_ENOMEM with one line when it does not fit. Returns 0, a
 * negative LN_E*, or LN__GPU_DECLINED (nothing written). Calls are
 * serialised. */
int ln__gpu_onnx_run(struct ln_onnx *m, int replanned, struct ln_onnx_tensor *outputs,
                     size_t n_outputs, struct ln_error *err);

/* Bytes of device memory m's current plan takes there (weights and
 * constants, activations and inputs); 0 when nothing is resident. */
size_t ln__gpu_onnx_resident_bytes(const struct ln_onnx *m);

/* For tests: how many nodes of operator op (NULL: any) m's current plan
 * runs on the GPU (on_gpu 1) or leaves to the CPU between GPU stretches
 * (0); folded and fused nodes count on neither side; 0 when nothing is
 * resident. */
size_t ln__gpu_onnx_nodes_on(const struct ln_onnx *m, const char *op, int on_gpu);

/* For tests: weights go to the device in buffers of at most bytes (0:
 * the device's storage-buffer range, the default), and how many buffers
 * m's current plan has there. */
void ln__gpu_onnx_set_piece_bytes(size_t bytes);
size_t ln__gpu_onnx_pieces(const struct ln_onnx *m);

/* For tests and comparisons: on 0, the integer and index operators
 * (onnx_int.comp) are declined and run on the CPU between GPU stretches,
 * as before they had a GPU form; 1 (the default): on the GPU. For plans
 * made after the call. */
void ln__gpu_onnx_set_int_forms(int on);

/* Frees what m keeps on the device (ln_onnx_free calls it). */
void ln__gpu_onnx_free(struct ln_onnx *m);

#endif
