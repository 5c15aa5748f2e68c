/*
 * libFuzzer target for the ONNX reader and planner: the input is a .onnx
 * file, which a user gives or downloads. When it loads, it runs once on
 * inputs of its declared shapes (dynamic dimensions 4, at most 2^16 values
 * each) under a 64 MiB memory limit, single-threaded, so that shape
 * inference, folding and the operators see what the loader let through.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ln_onnx.h"
#include "ln_onnx_int.h"
#include "ln_threads.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ln_onnx *m = NULL;
    struct ln_error err = {0};
    if (ln_onnx_load_buffer(data, size, &m, &err) < 0)
        return 0;
    ln_threads_set(1);
    ln__ox_set_mem_limit(m, (size_t)64 << 20);
    size_t n_in = ln_onnx_n_inputs(m);
    struct ln_onnx_tensor in[4] = {{0}};
    struct ln_onnx_tensor out[4] = {{0}};
    int ok = n_in <= 4;
    for (size_t i = 0; ok && i < n_in; i++) {
        if (ln_onnx_input_shape(m, i, in[i].shape, &in[i].ndim) < 0) {
            ok = 0;
            break;
        }
        size_t n = 1;
        for (int d = 0; d < in[i].ndim; d++) {
            if (in[i].shape[d] < 0)
                in[i].shape[d] = 4;
            if (in[i].shape[d] == 0 || in[i].shape[d] > 65536 ||
                (n *= (size_t)in[i].shape[d]) > 65536)
                ok = 0;
        }
        if (!ok)
            break;
        in[i].data = calloc(n, sizeof(float));
        for (size_t k = 0; k < n; k++)
            in[i].data[k] = (float)(k % 7) * 0.25f - 0.5f;
    }
    size_t n_out = ln_onnx_n_outputs(m) < 4 ? ln_onnx_n_outputs(m) : 4;
    if (ok && ln_onnx_run(m, in, n_in, out, n_out, &err) == 0)
        for (size_t k = 0; k < n_out; k++)
            ln_onnx_tensor_free(&out[k]);
    for (size_t i = 0; i < 4; i++)
        free(in[i].data);
    ln_onnx_free(m);
    return 0;
}
