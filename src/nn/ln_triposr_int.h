/*
 * Private layout of the loaded TripoSR network, shared by its stage files
 * (ln_triposr.c load and helpers, ln_triposr_vit.c, ln_triposr_backbone.c,
 * ln_triposr_query.c). Every tensor pointer is resolved once at load; the
 * only arrays computed at load are weight-only: the position table resized
 * for cond_image_size and the decoder weights transposed and padded for
 * the point kernel.
 */
#ifndef LN_TRIPOSR_INT_H
#define LN_TRIPOSR_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "ln_triposr.h"

struct ln__vit_layer {
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    const float *wq, *bq, *wk, *bk, *wv, *bv, *wo, *bo;
    const float *w1, *b1, *w2, *b2;
};

struct ln__bb_block {
    const float *n1_w, *n1_b, *n2_w, *n2_b, *n3_w, *n3_b;
    const float *q1, *k1, *v1, *o1, *o1_b; /* self-attention */
    const float *q2, *k2, *v2, *o2, *o2_b; /* cross-attention */
    const float *ff0, *ff0_b, *ff2, *ff2_b;
};

/* One decoder layer for the point kernel: wt[k][n_pad] = W[n][k] with
 * columns n..n_pad zero, b[n_pad] likewise. */
struct ln__dec_layer {
    int n_in, n_out, n_pad;
    const float *wt, *b;
    const float *w_raw, *b_raw; /* as stored: [n_out][n_in], [n_out] */
};

#define LN__DEC_MAX_LAYERS 64

/* One float32 weight packed for our product (ln__triposr_packed). */
struct ln__packed {
    const float *w; /* as bound: [n][k] (GEGLU: [2 half][k]) */
    float *p;       /* ln__gemm_pack's panels, or ln__gemm_geglu_pack's */
};

struct ln_triposr {
    struct ln_triposr_config cfg;
    struct ln_weights *w;

    /* Derived sizes. */
    int grid;          /* patches per side: cond_image_size / patch */
    int n_vit_tokens;  /* 1 + grid^2 */
    int n_tokens;      /* 3 * plane_size^2 */
    int inner;         /* backbone heads * head_dim */
    int ff_inner;      /* GEGLU width: 4 * inner */
    int dec_width_pad; /* widest padded decoder activation */

    /* ViT. */
    const float *cls, *patch_w, *patch_b, *final_w, *final_b;
    const float *pos; /* [n_vit_tokens][hidden] position table as added */
    float *pos_owned;
    struct ln__vit_layer *vit;

    /* Triplane tokens and backbone. */
    const float *triplane; /* [C][3 P P] */
    const float *gn_w, *gn_b, *proj_in_w, *proj_in_b, *proj_out_w, *proj_out_b;
    struct ln__bb_block *blocks;
    int bf16; /* ViT and backbone products and attention in bfloat16 (LN_TRIPOSR_PRECISION) */

    /* Post-processor. */
    const float *up_w, *up_b;

    /* Decoder. */
    int n_dec;
    struct ln__dec_layer dec[LN__DEC_MAX_LAYERS];
    float *dec_pack;

    /* The ViT's and the backbone's float32 weights packed for our product,
     * made under pack_lock before the first image on the CPU (packs_ready
     * then 1, packs sorted by w): ln__triposr_packed. */
    pthread_mutex_t pack_lock;
    atomic_int packs_ready;
    struct ln__packed *packs;
    size_t n_packs;
    size_t packed_bytes; /* the weights' bytes packed (as stored, not rounded up) */
};

/* The packed panels of weight w for ln__gemm_packed (or, for a block's
 * GEGLU weight ff0, ln__gemm_geglu_packed), packing every weight of the
 * network on the first call; NULL where the products do not run from
 * packed weights: bf16 (net->bf16), OpenBLAS (ln_nn_gemm_blas), packing
 * turned off (ln_triposr_set_packing), or a weight not packed. Safe from
 * any thread, but not from inside an ln_parallel_for task (the packing
 * runs one of its own). */
const float *ln__triposr_packed(const struct ln_triposr *net, const float *w);

/* Calls trace->fn when a trace is set. */
void ln__triposr_trace(const struct ln_triposr_trace *trace, const char *name, const float *data,
                       size_t n);

#endif
