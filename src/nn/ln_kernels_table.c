/*
 * One kernel set's table (see ln_kernels.h): compiled once per set, with
 * that set's flags and suffix, so every name below is that copy's.
 */
#include "ln_kernels.h"

#include "ln_kernels_int.h"

const struct ln__kernels ln__kernel_table = {
    .name = LN_KSET_NAME,
    .linear = ln__linear,
    .linear_xt = ln__linear_xt,
    .gemm = ln__gemm,
    .gemm_pack = ln__gemm_pack,
    .gemm_packed = ln__gemm_packed,
    .gemm_bf16 = ln__gemm_bf16,
    .gemm_geglu = ln__gemm_geglu,
    .gemm_geglu_pack = ln__gemm_geglu_pack,
    .gemm_geglu_packed = ln__gemm_geglu_packed,
    .gemm_bf16_geglu = ln__gemm_bf16_geglu,
    .layernorm = ln__layernorm,
    .groupnorm = ln__groupnorm,
    .gelu_rows = ln__gelu_rows,
    .geglu_rows = ln__geglu_rows,
    .gelu1 = ln__gelu1,
    .silu1 = ln__silu1,
    .attention_scratch = ln__attention_scratch,
    .attention = ln__attention,
    .attention_bf16 = ln__attention_bf16,
    .silu_inplace = ln__silu_inplace,
    .exp_span = ln__exp_span,
    .ox_gemm = ln__ox_gemm,
    .ox_gemm_cols = ln__ox_gemm_cols,
    .ox_gemm_taps = ln__ox_gemm_taps,
    .fma_loop = ln__fma_loop,
    .fma_lanes = ln__fma_lanes,
    .encode_image = ln_triposr_encode_image,
    .backbone = ln_triposr_backbone,
    .upsample = ln_triposr_upsample,
    .query = ln_triposr_query,
    .render_rays = ln_triposr_render_rays,
};
