/* Unit tests of the TripoSR configuration: the golden config.yaml (with its
 * ${tokenizer.num_channels} reference), nested and chained references,
 * cycles, missing keys and foreign classes; the ViT config.json; the ViT
 * hyper-parameters read from tensor shapes; and the strict key-set check
 * of the golden weights against the configuration. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_file.h"
#include "ln_log.h"
#include "ln_triposr_config.h"
#include "ln_weights.h"

/* The golden config.yaml with one line replaced (old must occur). */
static char *golden_with(const char *old, const char *new_text)
{
    size_t n;
    char *text = (char *)ln_test_read(ln_test_data("triposr-tiny/config.yaml"), &n);
    char *at = strstr(text, old);
    if (!at)
        fail_msg("\"%s\" not in config.yaml", old);
    const size_t len = n - strlen(old) + strlen(new_text) + 1;
    char *out = malloc(len);
    snprintf(out, len, "%.*s%s%s", (int)(at - text), text, new_text, at + strlen(old));
    free(text);
    return out;
}

/* Writes a variant and loads it; returns the status. */
static int load_variant(const char *old, const char *new_text, struct ln_triposr_config *cfg,
                        struct ln_error *err)
{
    const char *dir = ln_test_tmpdir("triposr_config_variant");
    char *path = ln_test_path(dir, "config.yaml");
    char *text = golden_with(old, new_text);
    assert_int_equal(ln_file_write_atomic(path, text, strlen(text), err), 0);
    int rc = ln_triposr_config_load(path, cfg, err);
    free(text);
    free(path);
    return rc;
}

static void expect_error(const char *old, const char *new_text, const char *what)
{
    struct ln_triposr_config cfg;
    struct ln_error err = {0};
    int rc = load_variant(old, new_text, &cfg, &err);
    assert_int_equal(rc, LN_EMODEL);
    if (!strstr(err.message, what))
        fail_msg("\"%s\" does not mention \"%s\"", err.message, what);
    assert_non_null(strstr(err.message, "config.yaml"));
}

static void test_golden_config(void **state)
{
    (void)state;
    struct ln_triposr_config cfg;
    struct ln_error err = {0};
    if (ln_triposr_config_load(ln_test_data("triposr-tiny/config.yaml"), &cfg, &err) < 0)
        fail_msg("%s", err.message);
    assert_int_equal(cfg.cond_image_size, 64);
    assert_string_equal(cfg.vit_repo, "golden/dino-vit-tiny");
    assert_int_equal(cfg.plane_size, 8);
    assert_int_equal(cfg.num_channels, 64);
    assert_int_equal(cfg.bb_in_channels, 64); /* ${tokenizer.num_channels} */
    assert_int_equal(cfg.bb_heads, 4);
    assert_int_equal(cfg.bb_head_dim, 16);
    assert_int_equal(cfg.bb_layers, 2);
    assert_int_equal(cfg.bb_cross_dim, 64);
    assert_int_equal(cfg.bb_norm_groups, 32);
    assert_int_equal(cfg.post_in, 64);
    assert_int_equal(cfg.post_out, 8);
    assert_int_equal(cfg.dec_in, 24);
    assert_int_equal(cfg.dec_neurons, 16);
    assert_int_equal(cfg.dec_hidden_layers, 3);
    assert_near(cfg.radius, 0.87, 1e-7);
    assert_near(cfg.density_bias, -1.0, 0);
    assert_int_equal(cfg.samples_per_ray, 64);
}

static void test_references(void **state)
{
    (void)state;
    struct ln_triposr_config cfg;
    struct ln_error err = {0};
    /* Nested (a reference inside a reference) and chained (a reference to
     * a value that is itself a reference). */
    int rc = load_variant("cond_image_size: 64",
                          "cond_image_size: ${sizes.${pick}}\n"
                          "pick: \"small\"\n"
                          "sizes:\n  small: ${sizes.base}\n  base: 64\n",
                          &cfg, &err);
    if (rc < 0)
        fail_msg("%s", err.message);
    assert_int_equal(cfg.cond_image_size, 64);
    rc = load_variant("  num_attention_heads: 4", "  num_attention_heads: ${backbone.h}\n  h: 4",
                      &cfg, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(cfg.bb_heads, 4);

    expect_error("cond_image_size: 64", "cond_image_size: ${a}\na: ${b.c}\nb:\n  c: ${a}\n",
                 "cycle");
    expect_error("cond_image_size: 64", "cond_image_size: ${cond_image_size}", "cycle");
    expect_error("cond_image_size: 64", "cond_image_size: ${nowhere.size}", "nowhere.size");
    expect_error("cond_image_size: 64", "cond_image_size: ${tokenizer", "unterminated");
}

static void test_bad_configs(void **state)
{
    (void)state;
    expect_error("  n_neurons: 16\n", "", "decoder.n_neurons missing");
    expect_error("backbone_cls: tsr.models.transformer.transformer_1d.Transformer1D",
                 "backbone_cls: my.own.Backbone", "backbone_cls");
    expect_error("  activation: silu", "  activation: relu", "decoder.activation");
    expect_error("  feature_reduction: concat", "  feature_reduction: mean", "feature_reduction");
    expect_error("  density_activation: exp", "  density_activation: trunc_exp",
                 "density_activation");
    expect_error("  num_layers: 2", "  num_layers: two", "backbone.num_layers");
    expect_error("  out_channels: 8", "  out_channels: 9", "decoder.in_channels");
    expect_error("cond_image_size: 64", "cond_image_size: [64", "not valid YAML");

    struct ln_triposr_config cfg;
    struct ln_error err = {0};
    assert_int_equal(ln_triposr_config_load("/nonexistent/config.yaml", &cfg, &err), LN_ENOTFOUND);
}

static void test_vit_json(void **state)
{
    (void)state;
    struct ln_vit_config vit;
    struct ln_error err = {0};
    if (ln_vit_config_load_json(ln_test_data("triposr-tiny/vit_config.json"), &vit, &err) < 0)
        fail_msg("%s", err.message);
    assert_int_equal(vit.hidden, 64);
    assert_int_equal(vit.layers, 2);
    assert_int_equal(vit.heads, 4);
    assert_int_equal(vit.intermediate, 256);
    assert_int_equal(vit.patch, 16);
    assert_int_equal(vit.image_size, 224);
    assert_int_equal(vit.channels, 3);
    assert_near(vit.ln_eps, 1e-12, 1e-18);
    assert_true(vit.qkv_bias);
    assert_non_null(strstr(vit.source, "vit_config.json"));

    const char *dir = ln_test_tmpdir("vit_json");
    char *path = ln_test_path(dir, "config.json");
    const char *relu = "{\"hidden_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4,"
                       " \"intermediate_size\": 256, \"hidden_act\": \"relu\"}";
    assert_int_equal(ln_file_write_atomic(path, relu, strlen(relu), &err), 0);
    assert_int_equal(ln_vit_config_load_json(path, &vit, &err), LN_EMODEL);
    assert_non_null(strstr(err.message, "hidden_act"));
    /* A switch of another type is refused, not read as false. */
    const char *qkv = "{\"hidden_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4,"
                      " \"intermediate_size\": 256, \"qkv_bias\": 1}";
    assert_int_equal(ln_file_write_atomic(path, qkv, strlen(qkv), &err), 0);
    assert_int_equal(ln_vit_config_load_json(path, &vit, &err), LN_EMODEL);
    assert_non_null(strstr(err.message, "qkv_bias must be true or false"));
    const char *broken = "{\"hidden_size\": 64,";
    assert_int_equal(ln_file_write_atomic(path, broken, strlen(broken), &err), 0);
    assert_int_equal(ln_vit_config_load_json(path, &vit, &err), LN_EMODEL);
    free(path);
}

static void test_vit_from_weights(void **state)
{
    (void)state;
    struct ln_weights *w = NULL;
    struct ln_error err = {0};
    if (ln_weights_open(ln_test_data("triposr-tiny/model.ckpt"), &w, &err) < 0)
        fail_msg("%s", err.message);
    struct ln_vit_config vit;
    if (ln_vit_config_from_weights(w, &vit, &err) < 0)
        fail_msg("%s", err.message);
    assert_int_equal(vit.hidden, 64);
    assert_int_equal(vit.layers, 2);
    assert_int_equal(vit.patch, 16);
    assert_int_equal(vit.intermediate, 256);
    assert_int_equal(vit.image_size, 224);
    assert_int_equal(vit.channels, 3);
    assert_int_equal(vit.heads, 1); /* hidden / 64: not ViT-B, heads unknown */
    assert_near(vit.ln_eps, 1e-12, 1e-18);
    assert_true(vit.qkv_bias);
    ln_weights_close(w);
}

static void test_check_weights(void **state)
{
    (void)state;
    struct ln_triposr_config cfg;
    struct ln_error err = {0};
    if (ln_triposr_config_load(ln_test_data("triposr-tiny/config.yaml"), &cfg, &err) < 0 ||
        ln_vit_config_load_json(ln_test_data("triposr-tiny/vit_config.json"), &cfg.vit, &err) < 0)
        fail_msg("%s", err.message);
    const char *files[] = {"triposr-tiny/model.ckpt", "triposr-tiny/model.safetensors"};
    for (int i = 0; i < 2; i++) {
        struct ln_weights *w = NULL;
        if (ln_weights_open(ln_test_data(files[i]), &w, &err) < 0)
            fail_msg("%s", err.message);
        if (ln_triposr_config_check_weights(&cfg, w, &err) < 0)
            fail_msg("%s", err.message);

        /* Three backbone blocks configured, two in the file. */
        ln_log_set_level(LN_LOG_LEVEL_OFF);
        struct ln_triposr_config three = cfg;
        three.bb_layers = 3;
        assert_int_equal(ln_triposr_config_check_weights(&three, w, &err), LN_EMODEL);
        assert_non_null(strstr(err.message, "20 missing, 0 unexpected"));
        assert_non_null(strstr(err.message, "backbone.transformer_blocks.2."));

        /* One backbone block: 20 unexpected. A wider decoder: wrong shapes. */
        struct ln_triposr_config one = cfg;
        one.bb_layers = 1;
        assert_int_equal(ln_triposr_config_check_weights(&one, w, &err), LN_EMODEL);
        assert_non_null(strstr(err.message, "0 missing, 20 unexpected"));
        struct ln_triposr_config wide = cfg;
        wide.dec_neurons = 32;
        assert_int_equal(ln_triposr_config_check_weights(&wide, w, &err), LN_EMODEL);
        assert_non_null(strstr(err.message, "7 wrong shape"));
        assert_non_null(strstr(err.message, "expected [32, 24]"));
        ln_log_set_level(LN_LOG_LEVEL_INFO);
        ln_weights_close(w);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_config),    cmocka_unit_test(test_references),
        cmocka_unit_test(test_bad_configs),      cmocka_unit_test(test_vit_json),
        cmocka_unit_test(test_vit_from_weights), cmocka_unit_test(test_check_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
