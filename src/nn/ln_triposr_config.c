/*
 * TripoSR configuration (docs/TRIPOSR.md sections 2 and 14.3 and
 * Appendix A). config.yaml is an OmegaConf document: libyaml loads it into
 * its node tree, and values are read by dotted path with OmegaConf's ${a.b}
 * references expanded (nested and chained, cycles refused) so the numbers
 * match what upstream sees after OmegaConf.resolve. The *_cls names and the
 * few behaviour switches are checked because this program implements those
 * classes only. The ViT hyper-parameters come from a transformers
 * config.json or from the checkpoint's shapes, and the checkpoint's key set
 * is compared against the configuration as strictly as load_state_dict.
 */
#include "ln_triposr_config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "ln_alloc.h"
#include "ln_file.h"
#include "ln_log.h"
#include "ln_weights_int.h"

#define LN__CFG_MAX_FILE ((size_t)1 << 20)
#define LN__CFG_VALUE_MAX 512
#define LN__CFG_MAX_DEPTH 16
/* Any dimension beyond this is a typo, not a model. */
#define LN__CFG_MAX_DIM 65536

struct ln__cfg {
    const char *path;
    yaml_document_t doc;
    const char *chain[LN__CFG_MAX_DEPTH]; /* keys being expanded, for cycles */
    int depth;
};

/* Finds the node at a dotted path (key_len bytes of key). */
static yaml_node_t *ln__cfg_node(struct ln__cfg *c, const char *key, size_t key_len)
{
    yaml_node_t *node = yaml_document_get_root_node(&c->doc);
    const char *p = key, *end = key + key_len;
    while (node && p <= end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        const size_t seg = (size_t)((dot ? dot : end) - p);
        if (node->type != YAML_MAPPING_NODE)
            return NULL;
        yaml_node_t *found = NULL;
        for (yaml_node_pair_t *pr = node->data.mapping.pairs.start;
             pr < node->data.mapping.pairs.top; pr++) {
            yaml_node_t *k = yaml_document_get_node(&c->doc, pr->key);
            if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == seg &&
                memcmp(k->data.scalar.value, p, seg) == 0)
                found = yaml_document_get_node(&c->doc, pr->value);
        }
        node = found;
        if (!dot)
            break;
        p = dot + 1;
    }
    return node;
}

static int ln__cfg_value(struct ln__cfg *c, const char *key, char *out, size_t n,
                         struct ln_error *err);

/* Expands every ${...} in the len bytes at in (a value of key) into out. */
static int ln__cfg_expand(struct ln__cfg *c, const char *key, const char *in, size_t len, char *out,
                          size_t n, struct ln_error *err)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (in[i] == '$' && i + 1 < len && in[i + 1] == '{') {
            /* The matching brace, counting nested references. */
            size_t j = i + 2;
            int level = 1;
            for (; j < len; j++) {
                if (in[j] == '{' && in[j - 1] == '$')
                    level++;
                else if (in[j] == '}' && --level == 0)
                    break;
            }
            if (j >= len)
                return ln_error_set(err, LN_EMODEL, "%s: %s: unterminated ${ in \"%.*s\"", c->path,
                                    key, (int)(len > 100 ? 100 : len), in);
            char ref[LN__CFG_VALUE_MAX], val[LN__CFG_VALUE_MAX];
            int rc = ln__cfg_expand(c, key, in + i + 2, j - i - 2, ref, sizeof ref, err);
            if (rc < 0)
                return rc;
            if (ref[0] == '.' || strchr(ref, ':'))
                return ln_error_set(err, LN_EMODEL,
                                    "%s: %s: relative references and resolvers (${%s}) are not "
                                    "supported",
                                    c->path, key, ref);
            if ((rc = ln__cfg_value(c, ref, val, sizeof val, err)) < 0)
                return rc;
            const size_t vl = strlen(val);
            if (o + vl >= n)
                return ln_error_set(err, LN_EMODEL, "%s: %s: value too long", c->path, key);
            memcpy(out + o, val, vl);
            o += vl;
            i = j + 1;
        } else {
            if (o + 1 >= n)
                return ln_error_set(err, LN_EMODEL, "%s: %s: value too long", c->path, key);
            out[o++] = in[i++];
        }
    }
    out[o] = 0;
    return 0;
}

/* The scalar at key with references expanded. LN_ENOTFOUND (quietly, no
 * message) when the key is absent, so callers can apply defaults. */
static int ln__cfg_value(struct ln__cfg *c, const char *key, char *out, size_t n,
                         struct ln_error *err)
{
    for (int i = 0; i < c->depth; i++) {
        if (strcmp(c->chain[i], key) == 0) {
            char chain[200] = "";
            size_t len = 0;
            for (int k = i; k < c->depth && len < sizeof chain; k++)
                len += (size_t)snprintf(chain + len, sizeof chain - len, "%s -> ", c->chain[k]);
            return ln_error_set(err, LN_EMODEL, "%s: reference cycle: %s%s", c->path, chain, key);
        }
    }
    if (c->depth >= LN__CFG_MAX_DEPTH)
        return ln_error_set(err, LN_EMODEL, "%s: references nested too deeply at %s", c->path, key);
    yaml_node_t *node = ln__cfg_node(c, key, strlen(key));
    if (!node) {
        if (c->depth > 0)
            return ln_error_set(err, LN_EMODEL, "%s: %s refers to ${%s}, which is missing", c->path,
                                c->chain[c->depth - 1], key);
        return LN_ENOTFOUND;
    }
    if (node->type != YAML_SCALAR_NODE)
        return ln_error_set(err, LN_EMODEL, "%s: %s is not a single value", c->path, key);
    c->chain[c->depth++] = key;
    int rc = ln__cfg_expand(c, key, (const char *)node->data.scalar.value, node->data.scalar.length,
                            out, n, err);
    c->depth--;
    return rc;
}

/* Reads a required (def == NULL) or optional string value. */
static int ln__cfg_str(struct ln__cfg *c, const char *key, const char *def, char *out, size_t n,
                       struct ln_error *err)
{
    int rc = ln__cfg_value(c, key, out, n, err);
    if (rc == LN_ENOTFOUND) {
        if (!def)
            return ln_error_set(err, LN_EMODEL, "%s: key %s missing", c->path, key);
        snprintf(out, n, "%s", def);
        return 0;
    }
    return rc;
}

static int ln__cfg_int(struct ln__cfg *c, const char *key, const int *def, int *out,
                       struct ln_error *err)
{
    char v[LN__CFG_VALUE_MAX];
    int rc = ln__cfg_value(c, key, v, sizeof v, err);
    if (rc == LN_ENOTFOUND) {
        if (!def)
            return ln_error_set(err, LN_EMODEL, "%s: key %s missing", c->path, key);
        *out = *def;
        return 0;
    }
    if (rc < 0)
        return rc;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < 1 || x > LN__CFG_MAX_DIM)
        return ln_error_set(err, LN_EMODEL, "%s: %s is \"%.64s\", expected an integer in 1..%d",
                            c->path, key, v, LN__CFG_MAX_DIM);
    *out = (int)x;
    return 0;
}

static int ln__cfg_float(struct ln__cfg *c, const char *key, float *out, struct ln_error *err)
{
    char v[LN__CFG_VALUE_MAX];
    int rc = ln__cfg_value(c, key, v, sizeof v, err);
    if (rc == LN_ENOTFOUND)
        return ln_error_set(err, LN_EMODEL, "%s: key %s missing", c->path, key);
    if (rc < 0)
        return rc;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x))
        return ln_error_set(err, LN_EMODEL, "%s: %s is \"%.64s\", expected a number", c->path, key,
                            v);
    *out = (float)x;
    return 0;
}

/* A value that must be one word (a class name or a mode), when present or
 * always (def == NULL). */
static int ln__cfg_expect(struct ln__cfg *c, const char *key, const char *def, const char *expected,
                          struct ln_error *err)
{
    char v[LN__CFG_VALUE_MAX];
    int rc = ln__cfg_str(c, key, def, v, sizeof v, err);
    if (rc < 0)
        return rc;
    if (strcmp(v, expected) != 0)
        return ln_error_set(err, LN_EMODEL, "%s: %s is %.120s, expected %s", c->path, key, v,
                            expected);
    return 0;
}

static int ln__cfg_false(struct ln__cfg *c, const char *key, struct ln_error *err)
{
    char v[LN__CFG_VALUE_MAX];
    int rc = ln__cfg_str(c, key, "false", v, sizeof v, err);
    if (rc < 0)
        return rc;
    if (strcmp(v, "false") && strcmp(v, "False") && strcmp(v, "FALSE"))
        return ln_error_set(err, LN_EMODEL, "%s: %s is %.60s; only false is supported", c->path,
                            key, v);
    return 0;
}

static int ln__cfg_read(struct ln__cfg *c, struct ln_triposr_config *cfg, struct ln_error *err)
{
    static const int def_groups = 32;
    int rc;
#define LN__TRY(x)                                                                                 \
    do {                                                                                           \
        if ((rc = (x)) < 0)                                                                        \
            return rc;                                                                             \
    } while (0)
    LN__TRY(ln__cfg_int(c, "cond_image_size", NULL, &cfg->cond_image_size, err));
    LN__TRY(ln__cfg_expect(c, "image_tokenizer_cls", NULL,
                           "tsr.models.tokenizers.image.DINOSingleImageTokenizer", err));
    LN__TRY(ln__cfg_str(c, "image_tokenizer.pretrained_model_name_or_path", NULL, cfg->vit_repo,
                        sizeof cfg->vit_repo, err));
    LN__TRY(ln__cfg_expect(c, "tokenizer_cls", NULL,
                           "tsr.models.tokenizers.triplane.Triplane1DTokenizer", err));
    LN__TRY(ln__cfg_int(c, "tokenizer.plane_size", NULL, &cfg->plane_size, err));
    LN__TRY(ln__cfg_int(c, "tokenizer.num_channels", NULL, &cfg->num_channels, err));

    LN__TRY(ln__cfg_expect(c, "backbone_cls", NULL,
                           "tsr.models.transformer.transformer_1d.Transformer1D", err));
    LN__TRY(ln__cfg_int(c, "backbone.in_channels", NULL, &cfg->bb_in_channels, err));
    LN__TRY(ln__cfg_int(c, "backbone.num_attention_heads", NULL, &cfg->bb_heads, err));
    LN__TRY(ln__cfg_int(c, "backbone.attention_head_dim", NULL, &cfg->bb_head_dim, err));
    LN__TRY(ln__cfg_int(c, "backbone.num_layers", NULL, &cfg->bb_layers, err));
    LN__TRY(ln__cfg_int(c, "backbone.cross_attention_dim", NULL, &cfg->bb_cross_dim, err));
    LN__TRY(ln__cfg_int(c, "backbone.norm_num_groups", &def_groups, &cfg->bb_norm_groups, err));
    /* Transformer1D switches this program implements only at their
     * defaults. */
    LN__TRY(ln__cfg_expect(c, "backbone.activation_fn", "geglu", "geglu", err));
    LN__TRY(ln__cfg_expect(c, "backbone.norm_type", "layer_norm", "layer_norm", err));
    LN__TRY(ln__cfg_false(c, "backbone.attention_bias", err));
    LN__TRY(ln__cfg_false(c, "backbone.only_cross_attention", err));
    LN__TRY(ln__cfg_false(c, "backbone.double_self_attention", err));

    LN__TRY(ln__cfg_expect(c, "post_processor_cls", NULL,
                           "tsr.models.network_utils.TriplaneUpsampleNetwork", err));
    LN__TRY(ln__cfg_int(c, "post_processor.in_channels", NULL, &cfg->post_in, err));
    LN__TRY(ln__cfg_int(c, "post_processor.out_channels", NULL, &cfg->post_out, err));

    LN__TRY(ln__cfg_expect(c, "decoder_cls", NULL, "tsr.models.network_utils.NeRFMLP", err));
    LN__TRY(ln__cfg_int(c, "decoder.in_channels", NULL, &cfg->dec_in, err));
    LN__TRY(ln__cfg_int(c, "decoder.n_neurons", NULL, &cfg->dec_neurons, err));
    LN__TRY(ln__cfg_int(c, "decoder.n_hidden_layers", NULL, &cfg->dec_hidden_layers, err));
    LN__TRY(ln__cfg_expect(c, "decoder.activation", NULL, "silu", err));

    LN__TRY(ln__cfg_expect(c, "renderer_cls", NULL, "tsr.models.nerf_renderer.TriplaneNeRFRenderer",
                           err));
    LN__TRY(ln__cfg_float(c, "renderer.radius", &cfg->radius, err));
    LN__TRY(ln__cfg_expect(c, "renderer.feature_reduction", NULL, "concat", err));
    LN__TRY(ln__cfg_expect(c, "renderer.density_activation", NULL, "exp", err));
    LN__TRY(ln__cfg_expect(c, "renderer.color_activation", "sigmoid", "sigmoid", err));
    LN__TRY(ln__cfg_float(c, "renderer.density_bias", &cfg->density_bias, err));
    LN__TRY(ln__cfg_int(c, "renderer.num_samples_per_ray", NULL, &cfg->samples_per_ray, err));
#undef LN__TRY

    /* Consistency the network relies on. */
    const char *p = c->path;
    if (cfg->bb_in_channels != cfg->num_channels)
        return ln_error_set(err, LN_EMODEL,
                            "%s: backbone.in_channels (%d) differs from tokenizer.num_channels "
                            "(%d)",
                            p, cfg->bb_in_channels, cfg->num_channels);
    if (cfg->post_in != cfg->num_channels)
        return ln_error_set(err, LN_EMODEL,
                            "%s: post_processor.in_channels (%d) differs from "
                            "tokenizer.num_channels (%d)",
                            p, cfg->post_in, cfg->num_channels);
    if (cfg->dec_in != 3 * cfg->post_out)
        return ln_error_set(err, LN_EMODEL,
                            "%s: decoder.in_channels (%d) is not 3 x post_processor.out_channels "
                            "(%d) as feature_reduction concat needs",
                            p, cfg->dec_in, cfg->post_out);
    if (cfg->bb_in_channels % cfg->bb_norm_groups != 0)
        return ln_error_set(err, LN_EMODEL,
                            "%s: backbone.in_channels (%d) is not a multiple of norm_num_groups "
                            "(%d)",
                            p, cfg->bb_in_channels, cfg->bb_norm_groups);
    if ((long)cfg->bb_heads * cfg->bb_head_dim > LN__CFG_MAX_DIM)
        return ln_error_set(err, LN_EMODEL, "%s: backbone attention width is too large", p);
    if (!(cfg->radius > 0.0f))
        return ln_error_set(err, LN_EMODEL, "%s: renderer.radius must be positive", p);
    return 0;
}

int ln_triposr_config_load(const char *yaml_path, struct ln_triposr_config *cfg,
                           struct ln_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = ln_file_read(yaml_path, LN__CFG_MAX_FILE, &data, &len, err);
    if (rc < 0) {
        /* The message already names the file; only the code changes. */
        if (rc != LN_ENOTFOUND) {
            rc = LN_EMODEL;
            if (err)
                err->code = rc;
        }
        return rc;
    }
    struct ln__cfg c = {.path = yaml_path};
    yaml_parser_t parser;
    int have_doc = 0;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, data, len);
    if (!yaml_parser_load(&parser, &c.doc)) {
        rc = ln_error_set(err, LN_EMODEL, "%s: not valid YAML: %s (line %zu)", yaml_path,
                          parser.problem ? parser.problem : "parse error",
                          parser.problem_mark.line + 1);
        goto cleanup;
    }
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&c.doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        rc = ln_error_set(err, LN_EMODEL, "%s: not a mapping of configuration keys", yaml_path);
        goto cleanup;
    }
    rc = ln__cfg_read(&c, cfg, err);

cleanup:
    if (have_doc)
        yaml_document_delete(&c.doc);
    yaml_parser_delete(&parser);
    free(data);
    return rc;
}

/* ViT config.json ------------------------------------------------------- */

static int ln__json_int(json_t *root, const char *key, int def, int *out, const char *path,
                        struct ln_error *err)
{
    json_t *v = json_object_get(root, key);
    if (!v) {
        if (def < 0)
            return ln_error_set(err, LN_EMODEL, "%s: key %s missing", path, key);
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > LN__CFG_MAX_DIM)
        return ln_error_set(err, LN_EMODEL, "%s: %s must be an integer in 1..%d", path, key,
                            LN__CFG_MAX_DIM);
    *out = (int)json_integer_value(v);
    return 0;
}

int ln_vit_config_load_json(const char *json_path, struct ln_vit_config *vit, struct ln_error *err)
{
    memset(vit, 0, sizeof *vit);
    json_error_t jerr;
    /* Read through the file layer (UTF-8 paths on Windows too), then
     * parsed; a configuration is a few kilobytes. */
    uint8_t *text = NULL;
    size_t text_len = 0;
    struct ln_error ferr = {0};
    int rc = ln_file_read(json_path, (size_t)1 << 20, &text, &text_len, &ferr);
    if (rc == LN_ENOTFOUND)
        return ln_error_set(err, LN_ENOTFOUND, "%s", ferr.message);
    if (rc < 0)
        return ln_error_set(err, LN_EMODEL, "%s", ferr.message);
    json_t *root = json_loadb((const char *)text, text_len, 0, &jerr);
    free(text);
    if (!root)
        return ln_error_set(err, LN_EMODEL, "%s: not valid JSON: %.100s (line %d)", json_path,
                            jerr.text, jerr.line);
    if (!json_is_object(root)) {
        rc = ln_error_set(err, LN_EMODEL, "%s: not a JSON object", json_path);
        goto cleanup;
    }
    if ((rc = ln__json_int(root, "hidden_size", -1, &vit->hidden, json_path, err)) < 0 ||
        (rc = ln__json_int(root, "num_hidden_layers", -1, &vit->layers, json_path, err)) < 0 ||
        (rc = ln__json_int(root, "num_attention_heads", -1, &vit->heads, json_path, err)) < 0 ||
        (rc = ln__json_int(root, "intermediate_size", -1, &vit->intermediate, json_path, err)) <
            0 ||
        (rc = ln__json_int(root, "patch_size", 16, &vit->patch, json_path, err)) < 0 ||
        (rc = ln__json_int(root, "image_size", 224, &vit->image_size, json_path, err)) < 0 ||
        (rc = ln__json_int(root, "num_channels", 3, &vit->channels, json_path, err)) < 0)
        goto cleanup;
    json_t *act = json_object_get(root, "hidden_act");
    if (act && (!json_is_string(act) || strcmp(json_string_value(act), "gelu") != 0)) {
        rc = ln_error_set(err, LN_EMODEL, "%s: hidden_act is %.40s; only gelu is supported",
                          json_path, json_is_string(act) ? json_string_value(act) : "not a string");
        goto cleanup;
    }
    json_t *eps = json_object_get(root, "layer_norm_eps");
    vit->ln_eps = 1e-12f;
    if (eps) {
        if (!json_is_number(eps) || !(json_number_value(eps) > 0.0) ||
            json_number_value(eps) > 1.0) {
            rc = ln_error_set(err, LN_EMODEL, "%s: layer_norm_eps must be a small positive number",
                              json_path);
            goto cleanup;
        }
        vit->ln_eps = (float)json_number_value(eps);
    }
    /* A switch: anything but true or false (a 1, a "true") is refused
     * rather than read as false, which would drop the biases silently. */
    json_t *qkv = json_object_get(root, "qkv_bias");
    if (qkv && !json_is_boolean(qkv)) {
        rc = ln_error_set(err, LN_EMODEL, "%s: qkv_bias must be true or false", json_path);
        goto cleanup;
    }
    vit->qkv_bias = qkv ? json_is_true(qkv) : 1;
    if (vit->hidden % vit->heads != 0) {
        rc = ln_error_set(err, LN_EMODEL,
                          "%s: hidden_size %d is not a multiple of "
                          "num_attention_heads %d",
                          json_path, vit->hidden, vit->heads);
        goto cleanup;
    }
    if (vit->image_size % vit->patch != 0) {
        rc = ln_error_set(err, LN_EMODEL, "%s: image_size %d is not a multiple of patch_size %d",
                          json_path, vit->image_size, vit->patch);
        goto cleanup;
    }
    snprintf(vit->source, sizeof vit->source, "%s", json_path);

cleanup:
    json_decref(root);
    return rc;
}

/* ViT from shapes --------------------------------------------------------- */

#define LN__VIT "image_tokenizer.model."

static const struct ln_tensor_info *ln__need(const struct ln_weights *w, const char *name, int ndim,
                                             struct ln_error *err)
{
    const struct ln_tensor_info *t = ln_weights_find(w, name);
    if (!t) {
        ln_error_set(err, LN_EMODEL, "%s: tensor %s missing", w->name, name);
        return NULL;
    }
    if (t->ndim != ndim) {
        ln_error_set(err, LN_EMODEL, "%s: tensor %s has %d dimensions, expected %d", w->name, name,
                     t->ndim, ndim);
        return NULL;
    }
    for (int d = 0; d < ndim; d++) {
        if (t->shape[d] < 1 || t->shape[d] > (int64_t)1 << 30) {
            ln_error_set(err, LN_EMODEL, "%s: tensor %s has an implausible shape", w->name, name);
            return NULL;
        }
    }
    return t;
}

int ln_vit_config_from_weights(const struct ln_weights *w, struct ln_vit_config *vit,
                               struct ln_error *err)
{
    memset(vit, 0, sizeof *vit);
    const struct ln_tensor_info *cls = ln__need(w, LN__VIT "embeddings.cls_token", 3, err);
    const struct ln_tensor_info *pos =
        cls ? ln__need(w, LN__VIT "embeddings.position_embeddings", 3, err) : NULL;
    const struct ln_tensor_info *proj =
        pos ? ln__need(w, LN__VIT "embeddings.patch_embeddings.projection.weight", 4, err) : NULL;
    const struct ln_tensor_info *inter =
        proj ? ln__need(w, LN__VIT "encoder.layer.0.intermediate.dense.weight", 2, err) : NULL;
    if (!inter)
        return LN_EMODEL;
    if (cls->shape[2] > LN__CFG_MAX_DIM || inter->shape[0] > LN__CFG_MAX_DIM ||
        proj->shape[2] > LN__CFG_MAX_DIM || proj->shape[2] != proj->shape[3] || proj->shape[1] > 16)
        return ln_error_set(err, LN_EMODEL, "%s: ViT patch embedding has an unexpected shape",
                            w->name);
    vit->hidden = (int)cls->shape[2];
    vit->intermediate = (int)inter->shape[0];
    vit->patch = (int)proj->shape[2];
    vit->channels = (int)proj->shape[1];
    char name[160];
    for (vit->layers = 0; vit->layers < 4096; vit->layers++) {
        snprintf(name, sizeof name, LN__VIT "encoder.layer.%d.attention.attention.query.weight",
                 vit->layers);
        if (!ln_weights_find(w, name))
            break;
    }
    const int64_t rows = pos->shape[1] - 1;
    int64_t side = (int64_t)llround(sqrt((double)rows));
    if (rows < 1 || side * side != rows || side * vit->patch > LN__CFG_MAX_DIM)
        return ln_error_set(err, LN_EMODEL,
                            "%s: ViT position table has %lld rows, not 1 + a square", w->name,
                            (long long)pos->shape[1]);
    vit->image_size = (int)side * vit->patch;
    /* Heads and eps cannot be read from shapes: ViT-B/16 values for the
     * ViT-B width, else the usual 64-wide heads. */
    vit->heads = vit->hidden == 768 ? 12 : (vit->hidden >= 64 ? vit->hidden / 64 : 1);
    if (vit->hidden % vit->heads != 0)
        return ln_error_set(err, LN_EMODEL,
                            "%s: ViT width %d does not split into 64-wide heads; provide the "
                            "ViT config.json",
                            w->name, vit->hidden);
    vit->ln_eps = 1e-12f;
    vit->qkv_bias =
        ln_weights_find(w, LN__VIT "encoder.layer.0.attention.attention.query.bias") != NULL;
    if (vit->layers == 0)
        return ln_error_set(err, LN_EMODEL, "%s: no ViT encoder layers", w->name);
    snprintf(vit->source, sizeof vit->source, "tensor shapes of %s (ViT-B/16 defaults)", w->name);
    return 0;
}

/* Key set check ---------------------------------------------------------- */

struct ln__expect {
    char name[112];
    int ndim;
    int64_t shape[4];
    int seen;
};

struct ln__expect_list {
    struct ln__expect *v;
    size_t n, cap;
};

static void ln__exp(struct ln__expect_list *l, int ndim, int64_t a, int64_t b, int64_t c, int64_t d,
                    const char *fmt, ...) LN_PRINTF(7, 8);

static void ln__exp(struct ln__expect_list *l, int ndim, int64_t a, int64_t b, int64_t c, int64_t d,
                    const char *fmt, ...)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->v = ln_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    struct ln__expect *e = &l->v[l->n++];
    memset(e, 0, sizeof *e);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->name, sizeof e->name, fmt, ap);
    va_end(ap);
    e->ndim = ndim;
    e->shape[0] = a;
    e->shape[1] = b;
    e->shape[2] = c;
    e->shape[3] = d;
}

#define LN__E1(l, a, ...) ln__exp(l, 1, a, 0, 0, 0, __VA_ARGS__)
#define LN__E2(l, a, b, ...) ln__exp(l, 2, a, b, 0, 0, __VA_ARGS__)

/* Linear layer weight [out, in] and (optional) bias [out]. */
static void ln__linear(struct ln__expect_list *l, int64_t out, int64_t in, int bias,
                       const char *prefix)
{
    LN__E2(l, out, in, "%s.weight", prefix);
    if (bias)
        LN__E1(l, out, "%s.bias", prefix);
}

static void ln__norm(struct ln__expect_list *l, int64_t n, const char *prefix)
{
    LN__E1(l, n, "%s.weight", prefix);
    LN__E1(l, n, "%s.bias", prefix);
}

/* Appendix A, generalised to the configuration. */
static void ln__expected(const struct ln_triposr_config *cfg, struct ln__expect_list *l)
{
    const struct ln_vit_config *v = &cfg->vit;
    const int64_t H = v->hidden, side = v->patch ? v->image_size / v->patch : 0;
    char p[96];
    ln__exp(l, 3, 1, 1, H, 0, LN__VIT "embeddings.cls_token");
    ln__exp(l, 3, 1, side * side + 1, H, 0, LN__VIT "embeddings.position_embeddings");
    ln__exp(l, 4, H, v->channels, v->patch, v->patch,
            LN__VIT "embeddings.patch_embeddings.projection.weight");
    LN__E1(l, H, LN__VIT "embeddings.patch_embeddings.projection.bias");
    for (int i = 0; i < v->layers; i++) {
        const char *qkv[] = {"query", "key", "value"};
        for (int k = 0; k < 3; k++) {
            snprintf(p, sizeof p, LN__VIT "encoder.layer.%d.attention.attention.%s", i, qkv[k]);
            ln__linear(l, H, H, v->qkv_bias, p);
        }
        snprintf(p, sizeof p, LN__VIT "encoder.layer.%d.attention.output.dense", i);
        ln__linear(l, H, H, 1, p);
        snprintf(p, sizeof p, LN__VIT "encoder.layer.%d.intermediate.dense", i);
        ln__linear(l, v->intermediate, H, 1, p);
        snprintf(p, sizeof p, LN__VIT "encoder.layer.%d.output.dense", i);
        ln__linear(l, H, v->intermediate, 1, p);
        snprintf(p, sizeof p, LN__VIT "encoder.layer.%d.layernorm_before", i);
        ln__norm(l, H, p);
        snprintf(p, sizeof p, LN__VIT "encoder.layer.%d.layernorm_after", i);
        ln__norm(l, H, p);
    }
    ln__norm(l, H, LN__VIT "layernorm");
    ln__linear(l, H, H, 1, LN__VIT "pooler.dense");

    ln__exp(l, 4, 3, cfg->num_channels, cfg->plane_size, cfg->plane_size, "tokenizer.embeddings");

    const int64_t C = cfg->bb_in_channels, D = (int64_t)cfg->bb_heads * cfg->bb_head_dim;
    ln__norm(l, C, "backbone.norm");
    ln__linear(l, D, C, 1, "backbone.proj_in");
    for (int b = 0; b < cfg->bb_layers; b++) {
        snprintf(p, sizeof p, "backbone.transformer_blocks.%d.norm1", b);
        ln__norm(l, D, p);
        const char *qkv[] = {"to_q", "to_k", "to_v"};
        for (int k = 0; k < 3; k++) {
            snprintf(p, sizeof p, "backbone.transformer_blocks.%d.attn1.%s", b, qkv[k]);
            ln__linear(l, D, D, 0, p);
        }
        snprintf(p, sizeof p, "backbone.transformer_blocks.%d.attn1.to_out.0", b);
        ln__linear(l, D, D, 1, p);
        snprintf(p, sizeof p, "backbone.transformer_blocks.%d.norm2", b);
        ln__norm(l, D, p);
        for (int k = 0; k < 3; k++) {
            snprintf(p, sizeof p, "backbone.transformer_blocks.%d.attn2.%s", b, qkv[k]);
            ln__linear(l, D, k == 0 ? D : cfg->bb_cross_dim, 0, p);
        }
        snprintf(p, sizeof p, "backbone.transformer_blocks.%d.attn2.to_out.0", b);
        ln__linear(l, D, D, 1, p);
        snprintf(p, sizeof p, "backbone.transformer_blocks.%d.norm3", b);
        ln__norm(l, D, p);
        snprintf(p, sizeof p, "backbone.transformer_blocks.%d.ff.net.0.proj", b);
        ln__linear(l, 8 * D, D, 1, p);
        snprintf(p, sizeof p, "backbone.transformer_blocks.%d.ff.net.2", b);
        ln__linear(l, D, 4 * D, 1, p);
    }
    ln__linear(l, C, D, 1, "backbone.proj_out");

    ln__exp(l, 4, cfg->post_in, cfg->post_out, 2, 2, "post_processor.upsample.weight");
    LN__E1(l, cfg->post_out, "post_processor.upsample.bias");

    /* n_hidden_layers + 1 linear layers at even indices (SiLU between). */
    for (int k = 0; k <= cfg->dec_hidden_layers; k++) {
        const int64_t in = k == 0 ? cfg->dec_in : cfg->dec_neurons;
        const int64_t out = k == cfg->dec_hidden_layers ? 4 : cfg->dec_neurons;
        snprintf(p, sizeof p, "decoder.layers.%d", 2 * k);
        ln__linear(l, out, in, 1, p);
    }
}

static int ln__expect_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ln__expect *)a)->name, ((const struct ln__expect *)b)->name);
}

static void ln__fmt_shape(struct ln_buf *b, int ndim, const int64_t *shape)
{
    ln_buf_printf(b, "[");
    for (int d = 0; d < ndim; d++)
        ln_buf_printf(b, "%s%lld", d ? ", " : "", (long long)shape[d]);
    ln_buf_printf(b, "]");
}

int ln_triposr_config_check_weights(const struct ln_triposr_config *cfg, const struct ln_weights *w,
                                    struct ln_error *err)
{
    struct ln__expect_list l = {0};
    ln__expected(cfg, &l);
    qsort(l.v, l.n, sizeof *l.v, ln__expect_cmp);

    size_t n_missing = 0, n_extra = 0, n_shape = 0, n_dtype = 0;
    struct ln_buf extra = {0}, shape = {0}, missing = {0};
    for (size_t i = 0; i < ln_weights_count(w); i++) {
        const struct ln_tensor_info *t = ln_weights_at(w, i);
        struct ln__expect key;
        snprintf(key.name, sizeof key.name, "%s", t->name);
        struct ln__expect *e = strlen(t->name) < sizeof key.name
                                   ? bsearch(&key, l.v, l.n, sizeof *l.v, ln__expect_cmp)
                                   : NULL;
        if (!e) {
            if (n_extra++ < 5)
                ln_buf_printf(&extra, "%s%s", n_extra > 1 ? ", " : "", t->name);
            continue;
        }
        e->seen = 1;
        int same = t->ndim == e->ndim;
        for (int d = 0; same && d < e->ndim; d++)
            same = t->shape[d] == e->shape[d];
        if (!same) {
            if (n_shape++ < 5) {
                ln_buf_printf(&shape, "%s%s ", n_shape > 1 ? ", " : "", t->name);
                ln__fmt_shape(&shape, t->ndim, t->shape);
                ln_buf_printf(&shape, " expected ");
                ln__fmt_shape(&shape, e->ndim, e->shape);
            }
        } else if (t->dtype != LN_DTYPE_F32 && t->dtype != LN_DTYPE_F16 &&
                   t->dtype != LN_DTYPE_BF16 && t->dtype != LN_DTYPE_F64) {
            if (n_dtype++ < 5 && n_shape < 5)
                ln_buf_printf(&shape, "%s%s has dtype %s", (n_shape || n_dtype > 1) ? ", " : "",
                              t->name, ln_dtype_name(t->dtype));
        }
    }
    for (size_t i = 0; i < l.n; i++) {
        if (!l.v[i].seen && n_missing++ < 5)
            ln_buf_printf(&missing, "%s%s", n_missing > 1 ? ", " : "", l.v[i].name);
    }
    int rc = 0;
    if (n_missing || n_extra || n_shape || n_dtype) {
        struct ln_buf msg = {0};
        ln_buf_printf(&msg,
                      "weights do not match the configuration: %zu missing, %zu unexpected, %zu "
                      "wrong shape or dtype",
                      n_missing, n_extra, n_shape + n_dtype);
        if (n_missing)
            ln_buf_printf(&msg, "; missing: %.*s%s", (int)missing.len, (const char *)missing.data,
                          n_missing > 5 ? ", ..." : "");
        if (n_extra)
            ln_buf_printf(&msg, "; unexpected: %.*s%s", (int)extra.len, (const char *)extra.data,
                          n_extra > 5 ? ", ..." : "");
        if (n_shape + n_dtype)
            ln_buf_printf(&msg, "; wrong: %.*s%s", (int)shape.len, (const char *)shape.data,
                          n_shape + n_dtype > 5 ? ", ..." : "");
        ln_buf_append(&msg, "", 1);
        const char *text =
            msg.failed ? "weights do not match the configuration" : (const char *)msg.data;
        /* The error line is short; when the list does not fit, the log
         * keeps all of it. */
        if (strlen(w->name) + 2 + strlen(text) >= LN_ERROR_MESSAGE_MAX)
            ln_log_warn("%s: %s", w->name, text);
        rc = ln_error_set(err, LN_EMODEL, "%s: %s", w->name, text);
        ln_buf_free(&msg);
    }
    ln_buf_free(&extra);
    ln_buf_free(&shape);
    ln_buf_free(&missing);
    free(l.v);
    return rc;
}
