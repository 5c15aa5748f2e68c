/*
 * PyTorch zip checkpoints (torch.save): recognised but not read yet in this
 * revision of the reader; safetensors files are read by
 * ln_weights_safetensors.c.
 */
#include "ln_weights_int.h"

int ln__weights_load_torch_zip(struct ln_weights *w, struct ln_error *err)
{
    return ln__weights_fail(w, err, "PyTorch zip checkpoints are not supported yet; use "
                                    "model.safetensors");
}
