/*
 * libFuzzer target for the weight-file readers (torch zip + pickle,
 * safetensors), which parse files downloaded from the internet or given by
 * a user. The input is the file; every tensor is listed and the first few
 * small ones are read through ln_weights_f32, which converts strided and
 * half-precision data.
 */
#include <stddef.h>
#include <stdint.h>

#include "ln_weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ln_weights *w = NULL;
    struct ln_error err = {0};
    if (ln_weights_open_memory(data, size, "fuzz", &w, &err) < 0)
        return 0;
    size_t touched = 0;
    for (size_t i = 0; i < ln_weights_count(w); i++) {
        const struct ln_tensor_info *t = ln_weights_at(w, i);
        if (ln_weights_find(w, t->name) != t)
            __builtin_trap();
        /* Only small tensors: a stride-0 tensor may be huge yet valid. */
        int64_t numel = 1;
        for (int d = 0; d < t->ndim && numel <= 4096; d++)
            numel *= t->shape[d];
        if (touched >= 8 || numel > 4096)
            continue;
        touched++;
        const float *f;
        if (ln_weights_f32(w, t->name, t->ndim, t->shape, &f, &err) == 0) {
            volatile float sum = 0.0f;
            for (int64_t k = 0; k < numel; k++)
                sum += f[k];
            (void)sum;
        }
    }
    ln_weights_close(w);
    return 0;
}
