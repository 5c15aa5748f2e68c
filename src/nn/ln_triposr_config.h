/*
 * TripoSR configuration: config.yaml (an OmegaConf document; read with
 * libyaml, ${a.b} references resolved, *_cls class names checked) and the
 * ViT hyper-parameters (the config.json of the Hugging Face repo named by
 * image_tokenizer.pretrained_model_name_or_path, else a vit_config.json
 * beside the weights, else derived from tensor shapes with the ViT-B/16
 * defaults). docs/TRIPOSR.md sections 2 and 14.3.
 *
 * Plain values; reentrant.
 */
#ifndef LN_TRIPOSR_CONFIG_H
#define LN_TRIPOSR_CONFIG_H

#include "ln_error.h"
#include "ln_weights.h"

struct ln_vit_config {
    int hidden;       /* hidden_size */
    int layers;       /* num_hidden_layers */
    int heads;        /* num_attention_heads */
    int intermediate; /* intermediate_size */
    int patch;        /* patch_size */
    int image_size;   /* config image_size: position table side = image_size / patch */
    int channels;     /* num_channels */
    float ln_eps;     /* layer_norm_eps */
    int qkv_bias;
    char source[512]; /* where the values came from, for the log */
};

struct ln_triposr_config {
    int cond_image_size;
    char vit_repo[256]; /* image_tokenizer.pretrained_model_name_or_path */
    int plane_size;     /* tokenizer.plane_size */
    int num_channels;   /* tokenizer.num_channels */
    int bb_in_channels, bb_heads, bb_head_dim, bb_layers, bb_cross_dim;
    int bb_norm_groups; /* 32 */
    int post_in, post_out;
    int dec_in, dec_neurons, dec_hidden_layers; /* activation must be silu */
    float radius;
    float density_bias;
    int samples_per_ray;
    struct ln_vit_config vit;
};

/* Parses config.yaml. LN_EMODEL names the key for a missing or malformed
 * value, an unresolvable ${...}, or an unexpected *_cls / activation /
 * feature_reduction / density_activation. */
int ln_triposr_config_load(const char *yaml_path, struct ln_triposr_config *cfg,
                           struct ln_error *err);

/* Reads a transformers ViT config.json into cfg->vit. */
int ln_vit_config_load_json(const char *json_path, struct ln_vit_config *vit,
                            struct ln_error *err);

/* Fills cfg->vit from the checkpoint's tensor shapes with the ViT-B/16
 * defaults for what shapes cannot tell (12 heads, eps 1e-12, gelu). */
int ln_vit_config_from_weights(const struct ln_weights *w, struct ln_vit_config *vit,
                               struct ln_error *err);

/* Checks every tensor's name, dtype and shape against the configuration
 * (Appendix A of docs/TRIPOSR.md, strict like load_state_dict): the error
 * lists what is missing, extra or has the wrong shape (first few of each). */
int ln_triposr_config_check_weights(const struct ln_triposr_config *cfg,
                                    const struct ln_weights *w, struct ln_error *err);

#endif
