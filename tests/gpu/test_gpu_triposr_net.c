/* TripoSR's image -> scene code on the GPU (src/nn/ln_gpu_triposr_net.c:
 * ViT, backbone with tiled attention, upsampling) against the golden
 * files of the tiny model (tests/data/triposr-tiny, made by the upstream
 * PyTorch code) at every stage, each within 1e-4 relative (the metric of
 * tests/nn/test_triposr.c: a floor at a hundredth of the tensor's largest
 * magnitude, none for density_act), and against the CPU forms
 * (ln_triposr_vit.c, ln_triposr_backbone.c). Also: the tiled attention
 * shader against the CPU attention on random data with lengths that are
 * not multiples of its tiles; image -> density grid with the scene code
 * left on the device for the query; the memory estimate, exact, checked
 * before anything is allocated (one byte short fails with one line and
 * nothing allocated; exactly enough works); weights uploaded once and
 * dropped when the network is freed; the floor's batches (several
 * dispatches, one submission). Any validation message fails the run. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_triposr_test.h"
#include "ln_alloc.h"
#include "ln_gpu.h"
#include "ln_gpu_triposr.h"
#include "ln_nn_ops.h"
#include "ln_sys.h"
#include "ln_threads.h"
#include "ln_time.h"
#include "ln_triposr.h"

#define IMG (3 * 64 * 64)
#define SCENE (3 * 8 * 16 * 16)
#define N_GRID 32768

static int g_index;

/* ------------------------------------------------------------- every stage */

static const char *const g_stages[] = {
    "vit_pos_embed",         "vit_embeddings",  "vit_layer0",         "vit_layer1",
    "vit_last_hidden_state", "tokens_init",     "backbone_groupnorm", "backbone_proj_in",
    "backbone_block0",       "backbone_block1", "backbone_proj_out",  "backbone_out",
    "scene_codes",
};
#define N_STAGES ((int)(sizeof g_stages / sizeof g_stages[0]))

struct seen {
    int count[N_STAGES];
};

static void trace_fn(void *user, const char *name, const float *data, size_t n)
{
    struct seen *s = user;
    for (int i = 0; i < N_STAGES; i++)
        if (strcmp(name, g_stages[i]) == 0) {
            float *want = golden(name, n);
            char label[64];
            snprintf(label, sizeof label, "%s vs golden", name);
            check(label, data, want, n);
            free(want);
            s->count[i]++;
            return;
        }
    fail_msg("unexpected trace point %s", name);
}

/* Every stage of the GPU's image -> scene code against the golden files,
 * and its scene code against the CPU's, for both weight formats; the
 * lavapipe and CPU timings docs/vulkan.md quotes. */
static void test_stages_golden(void **state)
{
    float *in = golden("vit_input", IMG);
    float *gpu = malloc(SCENE * sizeof(float)), *cpu = malloc(SCENE * sizeof(float));
    float *traced = malloc(SCENE * sizeof(float));
    for (int i = 0; i < 2; i++) {
        printf(" %s\n", i ? "model.safetensors" : "model.ckpt");
        struct ln_error err = {0};
        select_device(g_index);
        struct seen s = {{0}};
        struct ln_triposr_trace tr = {trace_fn, &s};
        assert_ok(ln_triposr_scene_code(g_net[i], in, traced, &tr, NULL, &err), err);
        for (int k = 0; k < N_STAGES; k++)
            if (s.count[k] != 1)
                fail_msg("trace %s reported %d times", g_stages[k], s.count[k]);
        const double t0 = ln_time_now();
        assert_ok(ln_triposr_scene_code(g_net[i], in, gpu, NULL, NULL, &err), err);
        const double t_gpu = ln_time_now() - t0;
        /* Without a trace the dispatches go in batches (one submission
         * per section): the same kernels in the same order, the same bits. */
        assert_memory_equal(gpu, traced, SCENE * sizeof(float));
        select_device(-1);
        const double t1 = ln_time_now();
        assert_ok(ln_triposr_scene_code(g_net[i], in, cpu, NULL, NULL, &err), err);
        const double t_cpu = ln_time_now() - t1;
        check("scene code, GPU vs CPU", gpu, cpu, SCENE);
        printf("  image -> scene code: CPU %.4f s, GPU (weights resident) %.4f s\n", t_cpu, t_gpu);
    }
    free(traced);
    free(cpu);
    free(gpu);
    free(in);
}

/* The three stages called one by one, as the engine calls them: each on
 * the GPU from golden inputs against the golden outputs, and chained (the
 * tokens and the backbone's output handed back and found on the device)
 * the same bits as ln_triposr_scene_code; afterwards the device holds the
 * weights and the scene code only. */
static void test_stage_calls(void **state)
{
    float *in = golden("vit_input", IMG);
    float *ctx = golden("vit_last_hidden_state", 17 * 64);
    float *bbg = golden("backbone_out", 64 * 192);
    float *tokens = malloc(17 * 64 * sizeof(float)), *bb = malloc(64 * 192 * sizeof(float));
    float *scene = malloc(SCENE * sizeof(float)), *whole = malloc(SCENE * sizeof(float));
    select_device(g_index);
    struct ln_error err = {0};
    struct seen s = {{0}};
    struct ln_triposr_trace tr = {trace_fn, &s};
    assert_ok(ln_triposr_encode_image(g_net[1], in, tokens, &tr, &err), err);
    check("encode_image tokens vs golden", tokens, ctx, 17 * 64);
    assert_ok(ln_triposr_backbone(g_net[1], ctx, bb, &tr, NULL, &err), err);
    check("backbone from golden tokens vs golden", bb, bbg, 64 * 192);
    assert_ok(ln_triposr_upsample(g_net[1], bbg, scene, &err), err);
    float *want = golden("scene_codes", SCENE);
    check("upsample from golden vs golden", scene, want, SCENE);
    free(want);
    for (int k = 0; k < N_STAGES - 1; k++) /* all but scene_codes, which only scene_code traces */
        if (s.count[k] != 1)
            fail_msg("trace %s reported %d times", g_stages[k], s.count[k]);

    assert_ok(ln_triposr_encode_image(g_net[1], in, tokens, NULL, &err), err);
    assert_ok(ln_triposr_backbone(g_net[1], tokens, bb, NULL, NULL, &err), err);
    assert_ok(ln_triposr_upsample(g_net[1], bb, scene, &err), err);
    assert_ok(ln_triposr_scene_code(g_net[1], in, whole, NULL, NULL, &err), err);
    assert_memory_equal(scene, whole, SCENE * sizeof(float));
    size_t wbytes = 0, abytes = 0;
    assert_int_equal(ln__gpu_triposr_net_bytes(g_net[1], &wbytes, &abytes), 0);
    struct ln_gpu_info info;
    ln_gpu_info(ln_gpu_current(), &info);
    assert_int_equal(info.used_bytes, wbytes + SCENE * sizeof(float));
    free(whole);
    free(scene);
    free(bb);
    free(tokens);
    free(bbg);
    free(ctx);
    free(in);
}

/* Image -> density grid on the GPU: the scene code stays on the device
 * (the device holds the weights and the scene code after the call, no
 * activation), and the 32^3 grid from it matches the golden grid. */
static void test_image_to_grid(void **state)
{
    float *in = golden("vit_input", IMG);
    float *grid = golden("grid_positions", N_GRID * 3);
    float *scene = malloc(SCENE * sizeof(float));
    float *dens = malloc(N_GRID * sizeof(float)), *col = malloc(N_GRID * 3 * sizeof(float));
    select_device(g_index);
    struct ln_error err = {0};
    const double t0 = ln_time_now();
    assert_ok(ln_triposr_scene_code(g_net[0], in, scene, NULL, NULL, &err), err);
    const double t_first = ln_time_now() - t0;
    size_t wbytes = 0, abytes = 0;
    assert_int_equal(ln__gpu_triposr_net_bytes(g_net[0], &wbytes, &abytes), 0);
    struct ln_gpu_info info;
    ln_gpu_info(ln_gpu_current(), &info);
    printf("  device memory: %zu bytes of weights, %zu of activations; %zu in use after the "
           "call (first call, with uploads: %.4f s)\n",
           wbytes, abytes, info.used_bytes, t_first);
    assert_int_equal(info.used_bytes, wbytes + SCENE * sizeof(float));
    /* Once more: the weights are not uploaded again. */
    assert_ok(ln_triposr_scene_code(g_net[0], in, scene, NULL, NULL, &err), err);
    ln_gpu_info(ln_gpu_current(), &info);
    assert_int_equal(info.used_bytes, wbytes + SCENE * sizeof(float));

    assert_ok(ln_triposr_query(g_net[0], scene, grid, N_GRID, dens, col, NULL, &err), err);
    float *want = golden("grid_density_act", N_GRID);
    check("image -> grid density_act vs golden", dens, want, N_GRID);
    free(want);
    want = golden("grid_color", N_GRID * 3);
    check("image -> grid colour vs golden", col, want, N_GRID * 3);
    free(want);
    free(col);
    free(dens);
    free(scene);
    free(grid);
    free(in);
}

/* A network loaded, run and freed: its weights leave the device. */
static void test_weights_dropped_with_network(void **state)
{
    struct ln_triposr *net = NULL;
    assert_int_equal(load(1, &net), 0);
    float *in = golden("vit_input", IMG);
    float *scene = malloc(SCENE * sizeof(float));
    select_device(g_index);
    struct ln_error err = {0};
    assert_ok(ln_triposr_scene_code(net, in, scene, NULL, NULL, &err), err);
    struct ln_gpu_info info;
    ln_gpu_info(ln_gpu_current(), &info);
    const size_t before = info.used_bytes;
    size_t wbytes = 0, abytes = 0;
    assert_int_equal(ln__gpu_triposr_net_bytes(net, &wbytes, &abytes), 0);
    ln_triposr_free(net);
    ln_gpu_info(ln_gpu_current(), &info);
    assert_int_equal(info.used_bytes, before - wbytes);
    free(scene);
    free(in);
}

/* The budget: one byte short of the estimate fails before anything is
 * allocated, with one line, the output untouched and the CPU not used
 * instead; exactly the estimate works. */
static void test_budget(void **state)
{
    size_t wbytes = 0, abytes = 0;
    assert_int_equal(ln__gpu_triposr_net_bytes(g_net[0], &wbytes, &abytes), 0);
    float *in = golden("vit_input", IMG);
    float *scene = malloc(SCENE * sizeof(float));
    for (size_t i = 0; i < SCENE; i++)
        scene[i] = -7.0f;
    char limit[32];
    snprintf(limit, sizeof limit, "%zu", wbytes + abytes - 1);
    ln_env_set("LN_GPU_MEMORY_LIMIT", limit);
    select_device(g_index);
    ln_env_set("LN_GPU_MEMORY_LIMIT", NULL);
    struct ln_error err = {0};
    assert_int_equal(ln_triposr_scene_code(g_net[0], in, scene, NULL, NULL, &err), LN_ENOMEM);
    printf("  %s\n", err.message);
    assert_non_null(strstr(err.message, "GPU memory: the TripoSR image encoder and backbone"));
    assert_null(strchr(err.message, '\n'));
    for (size_t i = 0; i < SCENE; i++)
        if (scene[i] != -7.0f)
            fail_msg("scene code %zu written (%g) by a call that failed", i, (double)scene[i]);
    struct ln_gpu_info info;
    ln_gpu_info(ln_gpu_current(), &info);
    assert_int_equal(info.used_bytes, 0);

    snprintf(limit, sizeof limit, "%zu", wbytes + abytes);
    ln_env_set("LN_GPU_MEMORY_LIMIT", limit);
    select_device(g_index);
    ln_env_set("LN_GPU_MEMORY_LIMIT", NULL);
    assert_ok(ln_triposr_scene_code(g_net[0], in, scene, NULL, NULL, &err), err);
    float *want = golden("scene_codes", SCENE);
    check("scene code within an exact budget", scene, want, SCENE);
    free(want);
    free(scene);
    free(in);
    select_device(g_index); /* the full budget for what follows */
}

/* Every large host allocation of the GPU path failed in turn, for the one
 * call and for the three stages as the engine makes them: LN_ENOMEM with
 * a message each time, and afterwards the right scene code with nothing
 * left behind on the device (the weights and the scene code only). */
static void test_out_of_host_memory(void **state)
{
    float *in = golden("vit_input", IMG), *want = golden("scene_codes", SCENE);
    float *scene = malloc(SCENE * sizeof(float));
    float *tokens = malloc(17 * 64 * sizeof(float)), *bb = malloc(64 * 192 * sizeof(float));
    size_t wbytes = 0, abytes = 0;
    assert_int_equal(ln__gpu_triposr_net_bytes(g_net[0], &wbytes, &abytes), 0);
    for (int path = 0; path < 2; path++) {
        int n_fail = 0, done = 0;
        for (long n = 1; n < 100 && !done; n++) {
            select_device(g_index); /* a fresh device: the weights are uploaded each time */
            struct ln_error err = {0};
            ln_alloc_fail_after(n);
            int rc;
            if (path == 0) {
                rc = ln_triposr_scene_code(g_net[0], in, scene, NULL, NULL, &err);
            } else {
                rc = ln_triposr_encode_image(g_net[0], in, tokens, NULL, &err);
                if (rc == 0)
                    rc = ln_triposr_backbone(g_net[0], tokens, bb, NULL, NULL, &err);
                if (rc == 0)
                    rc = ln_triposr_upsample(g_net[0], bb, scene, &err);
            }
            ln_alloc_fail_after(0);
            if (rc == 0) {
                done = 1;
                continue;
            }
            assert_int_equal(rc, LN_ENOMEM);
            assert_true(err.message[0] != '\0');
            n_fail++;
            /* The next call on the same device works and leaves only the
             * weights and the scene code there. */
            assert_ok(ln_triposr_scene_code(g_net[0], in, scene, NULL, NULL, &err), err);
            struct ln_gpu_info info;
            ln_gpu_info(ln_gpu_current(), &info);
            assert_int_equal(info.used_bytes, wbytes + SCENE * sizeof(float));
            check("scene code after a failed call", scene, want, SCENE);
        }
        printf("  %s: %d allocations failed in turn, each LN_ENOMEM\n",
               path ? "three stages" : "scene code", n_fail);
        assert_true(n_fail >= 1);
        assert_true(done);
    }
    free(bb);
    free(tokens);
    free(scene);
    free(want);
    free(in);
}

/* ---------------------------------------------------- the attention shader */

static uint64_t g_rng = 0x9e3779b97f4a7c15u;

static float frand(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((double)(g_rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static struct ln_gpu_buffer *upload(const float *data, size_t n)
{
    struct ln_error err = {0};
    struct ln_gpu_buffer *b = NULL;
    assert_ok(ln_gpu_buffer_new(ln_gpu_current(), n * sizeof(float), "test", &b, &err), err);
    assert_ok(ln_gpu_buffer_write(b, 0, data, n * sizeof(float), &err), err);
    return b;
}

/* q, k, v with rows ld apart (ld >= heads hd), q in [-spread, spread], k
 * and v in [-1, 1]; the GPU's attention against the CPU's. */
static void attention_case(int nq, int nk, int heads, int hd, int pad, float spread)
{
    const int w = heads * hd, ld = w + pad;
    float *q = malloc((size_t)nq * ld * sizeof(float)),
          *k = malloc((size_t)nk * ld * sizeof(float));
    float *v = malloc((size_t)nk * ld * sizeof(float));
    float *want = calloc((size_t)nq * ld, sizeof(float)),
          *got = calloc((size_t)nq * ld, sizeof(float));
    for (size_t i = 0; i < (size_t)nq * ld; i++)
        q[i] = spread * frand();
    for (size_t i = 0; i < (size_t)nk * ld; i++) {
        k[i] = frand();
        v[i] = frand();
    }
    const int threads = ln_threads_get();
    float *scratch = malloc(
        ln__attention_scratch((size_t)nq, (size_t)nk, heads, hd, threads) * sizeof(float) + 64);
    const double t0 = ln_time_now();
    ln__attention(q, ld, k, ld, v, ld, (size_t)nq, (size_t)nk, heads, hd, want, ld, scratch,
                  threads);
    const double t_cpu = ln_time_now() - t0;
    struct ln_gpu_buffer *bq = upload(q, (size_t)nq * ld), *bk = upload(k, (size_t)nk * ld);
    struct ln_gpu_buffer *bv = upload(v, (size_t)nk * ld), *bo = upload(got, (size_t)nq * ld);
    struct ln_error err = {0};
    const double t1 = ln_time_now();
    assert_ok(
        ln_gpu_attention(ln_gpu_current(), bq, ld, bk, ld, bv, ld, nq, nk, heads, hd, bo, ld, &err),
        err);
    const double t_gpu = ln_time_now() - t1;
    assert_ok(ln_gpu_buffer_read(bo, 0, got, (size_t)nq * ld * sizeof(float), &err), err);
    char label[96];
    snprintf(label, sizeof label, "attention %dx%d, %d x %d%s", nq, nk, heads, hd,
             pad ? ", strided" : "");
    check(label, got, want, (size_t)nq * ld);
    printf("    CPU %.4f s, GPU %.4f s\n", t_cpu, t_gpu);
    /* The padding columns of the output are left alone. */
    for (int i = 0; i < nq && pad; i++)
        for (int c = w; c < ld; c++)
            assert_true(got[(size_t)i * ld + c] == 0.0f);
    ln_gpu_buffer_free(bo);
    ln_gpu_buffer_free(bv);
    ln_gpu_buffer_free(bk);
    ln_gpu_buffer_free(bq);
    free(scratch);
    free(got);
    free(want);
    free(v);
    free(k);
    free(q);
}

static void test_attention(void **state)
{
    select_device(g_index);
    /* Scores of spread about 2: a softmax neither flat nor one-hot. */
    attention_case(3072, 1025, 1, 64, 0, 6.0f); /* the backbone's cross-attention shape */
    attention_case(1025, 1025, 2, 64, 0, 6.0f); /* the released ViT's */
    attention_case(192, 17, 4, 16, 0, 6.0f);    /* the tiny model's */
    attention_case(70, 33, 3, 64, 5, 6.0f);     /* strided rows, partial tiles each way */
    attention_case(3, 1000, 2, 32, 0, 6.0f);
    attention_case(1, 1, 1, 8, 0, 1.0f);
}

/* A batch of 600 dependent dispatches (C += A B, each reading what the one
 * before wrote; more than one piece of 256), then one outside a batch:
 * every one ran, in order. An empty batch submits nothing and fails
 * nothing. */
static void test_batch(void **state)
{
    select_device(g_index);
    struct ln_gpu *gpu = ln_gpu_current();
    float a[5 * 3], b[3 * 4], c[5 * 4];
    for (int i = 0; i < 15; i++)
        a[i] = 1.0f;
    for (int i = 0; i < 12; i++)
        b[i] = 0.5f;
    memset(c, 0, sizeof c);
    struct ln_gpu_buffer *ba = upload(a, 15), *bb = upload(b, 12), *bc = upload(c, 20);
    struct ln_error err = {0};
    assert_ok(ln_gpu_batch_begin(gpu, &err), err);
    assert_ok(ln_gpu_batch_end(gpu, &err), err);
    assert_ok(ln_gpu_batch_begin(gpu, &err), err);
    for (int i = 0; i < 600; i++)
        assert_ok(ln_gpu_sgemm_ex(gpu, 5, 4, 3, ba, 3, bb, 0, NULL, bc, 1, &err), err);
    assert_ok(ln_gpu_batch_end(gpu, &err), err);
    assert_ok(ln_gpu_sgemm_ex(gpu, 5, 4, 3, ba, 3, bb, 0, NULL, bc, 1, &err), err);
    assert_ok(ln_gpu_buffer_read(bc, 0, c, sizeof c, &err), err);
    for (int i = 0; i < 20; i++)
        assert_true(c[i] == 601.0f * 1.5f);
    ln_gpu_buffer_free(bc);
    ln_gpu_buffer_free(bb);
    ln_gpu_buffer_free(ba);
}

static void test_validation(void **state)
{
    (void)state;
    ln_test_validation_check(0);
}

int main(void)
{
    g_index = ln_test_vulkan_device_or_skip();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stages_golden), cmocka_unit_test(test_stage_calls),
        cmocka_unit_test(test_image_to_grid), cmocka_unit_test(test_weights_dropped_with_network),
        cmocka_unit_test(test_budget),        cmocka_unit_test(test_out_of_host_memory),
        cmocka_unit_test(test_attention),     cmocka_unit_test(test_batch),
        cmocka_unit_test(test_validation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
