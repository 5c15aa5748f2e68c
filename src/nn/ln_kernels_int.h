/*
 * The table of one kernel set's functions (see ln_kernels.h). Private to
 * the nn floor.
 */
#ifndef LN_KERNELS_INT_H
#define LN_KERNELS_INT_H

#include "ln_gemm.h"
#include "ln_kernels.h"
#include "ln_nn_ops.h"
#include "ln_onnx_gemm.h"
#include "ln_triposr.h"

struct ln__kernels {
    const char *name;
    __typeof__(ln__linear) *linear;
    __typeof__(ln__linear_xt) *linear_xt;
    __typeof__(ln__gemm) *gemm;
    __typeof__(ln__gemm_pack) *gemm_pack;
    __typeof__(ln__gemm_packed) *gemm_packed;
    __typeof__(ln__gemm_bf16) *gemm_bf16;
    __typeof__(ln__gemm_geglu) *gemm_geglu;
    __typeof__(ln__gemm_geglu_pack) *gemm_geglu_pack;
    __typeof__(ln__gemm_geglu_packed) *gemm_geglu_packed;
    __typeof__(ln__gemm_bf16_geglu) *gemm_bf16_geglu;
    __typeof__(ln__layernorm) *layernorm;
    __typeof__(ln__groupnorm) *groupnorm;
    __typeof__(ln__gelu_rows) *gelu_rows;
    __typeof__(ln__geglu_rows) *geglu_rows;
    __typeof__(ln__gelu1) *gelu1;
    __typeof__(ln__silu1) *silu1;
    __typeof__(ln__attention_scratch) *attention_scratch;
    __typeof__(ln__attention) *attention;
    __typeof__(ln__attention_bf16) *attention_bf16;
    __typeof__(ln__silu_inplace) *silu_inplace;
    __typeof__(ln__exp_span) *exp_span;
    __typeof__(ln__ox_gemm) *ox_gemm;
    __typeof__(ln__ox_gemm_cols) *ox_gemm_cols;
    __typeof__(ln__ox_gemm_taps) *ox_gemm_taps;
    __typeof__(ln__fma_loop) *fma_loop;
    __typeof__(ln__fma_lanes) *fma_lanes;
    __typeof__(ln_triposr_encode_image) *encode_image;
    __typeof__(ln_triposr_backbone) *backbone;
    __typeof__(ln_triposr_upsample) *upsample;
    __typeof__(ln_triposr_query) *query;
    __typeof__(ln_triposr_render_rays) *render_rays;
};

#endif
