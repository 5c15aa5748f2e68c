/*
 * The network's kernel sets (runtime CPU dispatch).
 *
 * The files that hold the network's arithmetic — ln_nn_ops.c, ln_gemm.c,
 * ln_triposr_vit.c, ln_triposr_backbone.c, ln_triposr_query.c,
 * ln_onnx_gemm.c, ln_fma_peak.c and ln_kernels_table.c — are compiled once per kernel set of the target
 * architecture (CMakeLists.txt: baseline, avx2 and avx512 on x86-64;
 * baseline elsewhere), each time with that set's instruction flags and
 * LN_KSUFFIX defined (_baseline, _avx2, _avx512). Included first in those
 * files, this header then renames their external functions, so the
 * copies do not clash, and ln_kernels_table.c gathers each copy's
 * functions into one struct ln__kernels. Everything else — the rest of
 * the floor, the engines, the tests — calls the plain names, which
 * ln_kernels.c forwards to the table of the set ln_cpu_selected() names
 * (the widest the CPU has, or LN_CPU's), chosen once per process.
 *
 * A function added to those files and called from outside them gets a
 * line below, a member in struct ln__kernels, an entry in the table and
 * a forwarder in ln_kernels.c; one forgotten shows as a duplicate symbol
 * at link time.
 */
#ifndef LN_KERNELS_H
#define LN_KERNELS_H

#ifdef LN_KSUFFIX
#define LN__KCAT2(a, b) a##b
#define LN__KCAT(a, b) LN__KCAT2(a, b)
#define LN__K(name) LN__KCAT(name, LN_KSUFFIX)
#define ln__linear LN__K(ln__linear)
#define ln__linear_xt LN__K(ln__linear_xt)
#define ln__gemm LN__K(ln__gemm)
#define ln__gemm_bf16 LN__K(ln__gemm_bf16)
#define ln__gemm_pack LN__K(ln__gemm_pack)
#define ln__gemm_packed LN__K(ln__gemm_packed)
#define ln__gemm_geglu LN__K(ln__gemm_geglu)
#define ln__gemm_geglu_pack LN__K(ln__gemm_geglu_pack)
#define ln__gemm_geglu_packed LN__K(ln__gemm_geglu_packed)
#define ln__gemm_bf16_geglu LN__K(ln__gemm_bf16_geglu)
#define ln__layernorm LN__K(ln__layernorm)
#define ln__groupnorm LN__K(ln__groupnorm)
#define ln__gelu_rows LN__K(ln__gelu_rows)
#define ln__geglu_rows LN__K(ln__geglu_rows)
#define ln__gelu1 LN__K(ln__gelu1)
#define ln__silu1 LN__K(ln__silu1)
#define ln__attention_scratch LN__K(ln__attention_scratch)
#define ln__attention LN__K(ln__attention)
#define ln__attention_bf16 LN__K(ln__attention_bf16)
#define ln__silu_inplace LN__K(ln__silu_inplace)
#define ln__exp_span LN__K(ln__exp_span)
#define ln__ox_gemm LN__K(ln__ox_gemm)
#define ln__ox_gemm_cols LN__K(ln__ox_gemm_cols)
#define ln__ox_gemm_taps LN__K(ln__ox_gemm_taps)
#define ln__fma_loop LN__K(ln__fma_loop)
#define ln__fma_lanes LN__K(ln__fma_lanes)
#define ln_triposr_encode_image LN__K(ln_triposr_encode_image)
#define ln_triposr_backbone LN__K(ln_triposr_backbone)
#define ln_triposr_upsample LN__K(ln_triposr_upsample)
#define ln_triposr_query LN__K(ln_triposr_query)
#define ln_triposr_render_rays LN__K(ln_triposr_render_rays)
#define ln__kernel_table LN__K(ln__kernel_table)
#endif

#endif
