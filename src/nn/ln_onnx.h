/*
 * A small ONNX runtime for image-matting networks (U^2-Net, IS-Net,
 * BiRefNet-style exports): the ModelProto is read with protobuf-c (the C
 * reader is generated at build time from the onnx.proto Debian's
 * libonnx-dev installs), weights may be float32 or float16, and the graph
 * runs on float32 tensors in C order. Only the operators and attributes
 * listed in docs/onnx.md are known; anything else is refused at load with
 * its name and the node's name, never guessed.
 *
 *     struct ln_onnx *m = NULL;
 *     struct ln_error err = {0};
 *     if (ln_onnx_load("u2net.onnx", &m, &err) < 0) ...
 *     struct ln_onnx_tensor in = {pixels, {1, 3, 320, 320}, 4};
 *     struct ln_onnx_tensor out = {0};
 *     if (ln_onnx_run(m, &in, 1, &out, 1, &err) < 0) ...
 *     ... out.data holds out.shape[0] * ... * out.shape[out.ndim - 1] floats
 *     ln_onnx_tensor_free(&out);
 *     ln_onnx_free(m);
 *
 * An ONNX file is outside bytes: loading is bounded (file size, tensor
 * count and size, dimensions, overflow-checked products) and a damaged
 * file gives one clear error. Shapes are inferred at the first run for the
 * given input shapes and the intermediate buffers are planned from the
 * graph (each reused once its last consumer has run); a run with other
 * input shapes plans again. A model is one caller's at a time: ln_onnx_run
 * keeps its plan and arena in the model, so two threads need two models.
 * The work inside a run is split by ln_parallel_for into pieces fixed by
 * the shapes, so results are bit-identical for any thread count.
 *
 * Environment, for tuning (bench/README.md): LN_ONNX_PROFILE=1 prints the
 * time per operator after each run on stderr; LN_ONNX_CONV=blas runs the
 * convolutions through OpenBLAS and LN_ONNX_CONV=im2col through our
 * product on im2col blocks only, for comparison with the default.
 */
#ifndef LN_ONNX_H
#define LN_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "ln_error.h"

#define LN_ONNX_MAX_DIMS 8

/* A loaded model: graph, weights, plan. */
struct ln_onnx;

/* A float32 tensor in C order. */
struct ln_onnx_tensor {
    float *data; /* malloc'd by ln_onnx_run for outputs */
    int64_t shape[LN_ONNX_MAX_DIMS];
    int ndim;
};

/* Loads a model from a file or from n bytes in memory (the bytes are not
 * kept). Errors: LN_ENOTFOUND or LN_EIO (file missing or unreadable; the
 * message names it), LN_ETOOBIG (past the caps),
 * LN_EFORMAT (damaged file, unknown operator or attribute, external data,
 * unsupported data type: the message names it), LN_ENOMEM. */
int ln_onnx_load(const char *path, struct ln_onnx **out, struct ln_error *err);
int ln_onnx_load_buffer(const void *data, size_t n, struct ln_onnx **out, struct ln_error *err);

/* The graph's inputs (initializers excluded) and outputs. */
size_t ln_onnx_n_inputs(const struct ln_onnx *m);
size_t ln_onnx_n_outputs(const struct ln_onnx *m);

/* The declared shape of input i (-1 for a dynamic dimension) and its name. */
int ln_onnx_input_shape(const struct ln_onnx *m, size_t i, int64_t shape[LN_ONNX_MAX_DIMS],
                        int *ndim);
const char *ln_onnx_input_name(const struct ln_onnx *m, size_t i);
const char *ln_onnx_output_name(const struct ln_onnx *m, size_t i);

/* Runs the graph; fills outputs[0..n_outputs) (each data malloc'd; free
 * with ln_onnx_tensor_free). n_outputs may be fewer than the model's (the
 * first ones). Uses ln_threads_get() threads; bit-identical for any thread
 * count. Errors: LN_EINVAL (wrong input count or shape), LN_EFORMAT (a
 * shape the graph cannot take), LN_ETOOBIG, LN_ENOMEM; outputs are left
 * zeroed on error. */
int ln_onnx_run(struct ln_onnx *m, const struct ln_onnx_tensor *inputs, size_t n_inputs,
                struct ln_onnx_tensor *outputs, size_t n_outputs, struct ln_error *err);

/* Frees t->data and zeroes t. NULL is fine. */
void ln_onnx_tensor_free(struct ln_onnx_tensor *t);
void ln_onnx_free(struct ln_onnx *m);

#endif
