/* ONNX graphs on the GPU (src/nn/ln_gpu_onnx.c, shaders/onnx_*.comp)
 * against the CPU interpreter and against PyTorch: every tiny matting
 * fixture of tests/data/onnx (U^2-Net and IS-Net shapes, opset 11 and 17,
 * BatchNormalization folded and not, and the float16-weights graph) on its
 * test picture, each output within 1e-4 of the CPU's and of PyTorch's
 * (relative to the output's largest magnitude, the metric of
 * tests/nn/test_onnx.c). Also: both convolution shaders on odd shapes
 * (stride 2, dilations, uneven padding, groups, channel counts that are no
 * multiple of the direct shader's block of four nor of the tiled one's 64,
 * pixel counts and summed lengths with tails) against a double-precision
 * sum; a second
 * run reuses the resident weights and gives the same bits; an operator
 * without a GPU form sends the graph to the CPU; a graph over the memory
 * budget fails with one line and allocates nothing; the device's release
 * frees everything and the next run uploads again; weights split over
 * several buffers give the same bits. Any validation message fails the
 * run. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_test.h"
#include "ln_gpu.h"
#include "ln_gpu_onnx.h"
#include "ln_onnx.h"
#include "ln_onnx_int.h"
#include "ln_sys.h"
#include "ln_time.h"
#include "ln_weights.h"
#include "../nn/onnx_builder.h"

#define TOL 1e-4

static int g_index;

static void select_device(int index)
{
    struct ln_error err = {0};
    struct ln_gpu_choice c = {.kind = index < 0 ? LN_GPU_KIND_CPU : LN_GPU_KIND_VULKAN,
                              .index = index < 0 ? 0 : index};
    assert_ok(ln_gpu_select(&c, &err), err);
}

/* The largest |want[i] - got[i]| over the largest |want[i]|. */
static double worst_rel(const float *got, const float *want, size_t n)
{
    double scale = 0.0, worst = 0.0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs((double)want[i]));
    scale = fmax(scale, 1e-6);
    for (size_t i = 0; i < n; i++) {
        const double e = fabs((double)got[i] - (double)want[i]) / scale;
        if (!(e <= worst))
            worst = e;
    }
    return worst;
}

static void check(const char *label, const float *got, const float *want, size_t n)
{
    const double w = worst_rel(got, want, n);
    printf("  %-40s worst relative error %.3g\n", label, w);
    if (!(w <= TOL))
        fail_msg("%s: worst relative error %g > %g", label, w, TOL);
}

static size_t numel_of(const struct ln_onnx_tensor *t)
{
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= (size_t)t->shape[d];
    return n;
}

/* Runs m on x; returns the seconds taken. */
static double run(struct ln_onnx *m, const struct ln_onnx_tensor *x, struct ln_onnx_tensor *out,
                  size_t n_out)
{
    struct ln_error err = {0};
    const double t0 = ln_time_now();
    if (ln_onnx_run(m, x, 1, out, n_out, &err) < 0)
        fail_msg("run on %s: %s", ln_gpu_current_name(), err.message);
    return ln_time_now() - t0;
}

static void free_outs(struct ln_onnx_tensor *out, size_t n)
{
    for (size_t k = 0; k < n; k++)
        ln_onnx_tensor_free(&out[k]);
}

/* ---- the fixtures ------------------------------------------------------ */

/* The fixture's input: the tensor "input" of the weights ref, which stay
 * open for it (the caller closes them). */
static struct ln_weights *fixture_input(const char *ref, struct ln_onnx_tensor *x)
{
    struct ln_error err = {0};
    struct ln_weights *w = NULL;
    if (ln_weights_open(ln_test_data(ref), &w, &err) < 0)
        fail_msg("%s", err.message);
    const struct ln_tensor_info *ti = ln_weights_find(w, "input");
    assert_non_null(ti);
    const float *xd;
    assert_int_equal(ln_weights_f32(w, "input", ti->ndim, ti->shape, &xd, &err), 0);
    x->data = (float *)xd;
    x->ndim = ti->ndim;
    memcpy(x->shape, ti->shape, sizeof(int64_t) * (size_t)ti->ndim);
    return w;
}

/* The fixture network model and its input from ref (fixture_input: *w is
 * the caller's to close). */
static struct ln_onnx *fixture_load(const char *model, const char *ref, struct ln_onnx_tensor *x,
                                    struct ln_weights **w)
{
    *w = fixture_input(ref, x);
    struct ln_error err = {0};
    struct ln_onnx *m = NULL;
    if (ln_onnx_load(ln_test_data(model), &m, &err) < 0)
        fail_msg("%s", err.message);
    return m;
}

/* gpu_ops: the operators that must run wholly on the GPU (each present
 * there); NULL: every node of the graph. */
static void check_fixture(const char *model, const char *ref, const char *const *names,
                          const char *const *gpu_ops)
{
    char label[128];
    struct ln_error err = {0};
    struct ln_weights *w;
    struct ln_onnx_tensor x = {0};
    struct ln_onnx *m = fixture_load(model, ref, &x, &w);
    const size_t n_out = ln_onnx_n_outputs(m);
    assert_true(n_out <= 8);
    struct ln_onnx_tensor cpu[8], gpu[8], again[8];
    select_device(-1);
    const double t_cpu = run(m, &x, cpu, n_out);
    assert_int_equal(ln__gpu_onnx_resident_bytes(m), 0);
    select_device(g_index);
    const double t_gpu = run(m, &x, gpu, n_out);
    const size_t resident = ln__gpu_onnx_resident_bytes(m);
    const double t_again = run(m, &x, again, n_out);
    printf("%s: CPU %.3f s, %s %.3f s (first run: plan, upload), %.3f s (again); %zu KiB "
           "resident\n",
           model, t_cpu, ln_gpu_current_name(), t_gpu, t_again, resident >> 10);
    /* The GPU form ran (it did not decline) and kept its weights. */
    assert_true(resident > 0);
    assert_int_equal(ln__gpu_onnx_resident_bytes(m), resident);
    printf("%s: %zu nodes on the GPU, %zu on the CPU\n", model, ln__gpu_onnx_nodes_on(m, NULL, 1),
           ln__gpu_onnx_nodes_on(m, NULL, 0));
    if (!gpu_ops)
        assert_int_equal(ln__gpu_onnx_nodes_on(m, NULL, 0), 0);
    for (size_t k = 0; gpu_ops && gpu_ops[k]; k++) {
        if (ln__gpu_onnx_nodes_on(m, gpu_ops[k], 0) != 0 ||
            ln__gpu_onnx_nodes_on(m, gpu_ops[k], 1) == 0)
            fail_msg("%s: %zu %s nodes on the CPU, %zu on the GPU", model,
                     ln__gpu_onnx_nodes_on(m, gpu_ops[k], 0), gpu_ops[k],
                     ln__gpu_onnx_nodes_on(m, gpu_ops[k], 1));
    }
    for (size_t k = 0; k < n_out; k++) {
        const size_t n = numel_of(&cpu[k]);
        assert_int_equal(gpu[k].ndim, cpu[k].ndim);
        for (int d = 0; d < cpu[k].ndim; d++)
            assert_int_equal(gpu[k].shape[d], cpu[k].shape[d]);
        snprintf(label, sizeof label, "%s GPU vs CPU", ln_onnx_output_name(m, k));
        check(label, gpu[k].data, cpu[k].data, n);
        /* The second run reads the same resident weights: the same bits. */
        assert_memory_equal(gpu[k].data, again[k].data, n * sizeof(float));
    }
    for (size_t k = 0; names[k]; k++) {
        assert_true(k < n_out);
        assert_string_equal(ln_onnx_output_name(m, k), names[k]);
        const struct ln_tensor_info *ri = ln_weights_find(w, names[k]);
        assert_non_null(ri);
        const float *want;
        assert_int_equal(ln_weights_f32(w, names[k], ri->ndim, ri->shape, &want, &err), 0);
        size_t n = 1;
        for (int d = 0; d < ri->ndim; d++)
            n *= (size_t)ri->shape[d];
        assert_int_equal(numel_of(&gpu[k]), n);
        snprintf(label, sizeof label, "%s GPU vs PyTorch", names[k]);
        check(label, gpu[k].data, want, n);
    }
    free_outs(cpu, n_out);
    free_outs(gpu, n_out);
    free_outs(again, n_out);
    ln_onnx_free(m);
    ln_weights_close(w);
}

static void test_fixtures(void **state)
{
    (void)state;
    static const char *const u2[] = {"d0", "d1", "d2", "d3", "d4", "d5", "d6", NULL};
    static const char *const is[] = {"d1", "d2", "d3", "d4", "d5", "d6", NULL};
    static const char *const f16[] = {"output", NULL};
    check_fixture("onnx/u2net-tiny-op11.onnx", "onnx/u2net-tiny.safetensors", u2, NULL);
    check_fixture("onnx/u2net-tiny-op17.onnx", "onnx/u2net-tiny.safetensors", u2, NULL);
    check_fixture("onnx/isnet-tiny-op11.onnx", "onnx/isnet-tiny.safetensors", is, NULL);
    check_fixture("onnx/isnet-tiny-op17.onnx", "onnx/isnet-tiny.safetensors", is, NULL);
    check_fixture("onnx/f16-weights.onnx", "onnx/f16-weights.safetensors", f16, NULL);
}

/* The BiRefNet-shaped fixture (Swin window attention, a deformable
 * sampling decoder): mixed execution, and the heavy operators on the GPU. */
static void test_transformer_fixture(void **state)
{
    (void)state;
    static const char *const out[] = {"output", NULL};
    /* Every node on the GPU, the deformable sampling's integers too. */
    check_fixture("onnx/birefnet-tiny-op17.onnx", "onnx/birefnet-tiny.safetensors", out, NULL);
    check_fixture("onnx/birefnet-tiny-op13.onnx", "onnx/birefnet-tiny.safetensors", out, NULL);
}

/* The same fixture with the integer forms turned off (as before they
 * existed: the sampling's 50 nodes on the CPU between GPU stretches) and
 * on, in one process: the same output within TOL, and the times. */
static void test_transformer_mixed_vs_gpu(void **state)
{
    (void)state;
    static const char *const models[] = {"onnx/birefnet-tiny-op17.onnx",
                                         "onnx/birefnet-tiny-op13.onnx"};
    for (size_t i = 0; i < 2; i++) {
        struct ln_onnx_tensor x, cpu, out[2];
        struct ln_weights *w;
        struct ln_onnx *m = fixture_load(models[i], "onnx/birefnet-tiny.safetensors", &x, &w);
        select_device(-1);
        run(m, &x, &cpu, 1);
        double best[2] = {1e9, 1e9};
        size_t on_cpu[2];
        for (int on = 0; on < 2; on++) {
            ln__gpu_onnx_set_int_forms(on);
            select_device(g_index); /* a fresh plan */
            for (int r = 0; r < 3; r++) {
                const double t = run(m, &x, &out[on], 1);
                best[on] = t < best[on] ? t : best[on];
                if (r < 2)
                    ln_onnx_tensor_free(&out[on]);
            }
            on_cpu[on] = ln__gpu_onnx_nodes_on(m, NULL, 0);
            check(on ? "all on the GPU vs CPU" : "mixed vs CPU", out[on].data, cpu.data,
                  numel_of(&cpu));
        }
        ln__gpu_onnx_set_int_forms(1);
        printf("%s on %s: mixed (%zu CPU nodes) %.3f s, all on the GPU (%zu) %.3f s, best of "
               "3\n",
               models[i], ln_gpu_current_name(), on_cpu[0], best[0], on_cpu[1], best[1]);
        assert_int_equal(on_cpu[0], 50);
        assert_int_equal(on_cpu[1], 0);
        ln_onnx_tensor_free(&cpu);
        free_outs(out, 2);
        ln_onnx_free(m);
        ln_weights_close(w);
    }
}

/* ---- models built here ------------------------------------------------- */

/* The built models' weights, as float32 raw data. */
static void mb_w(struct mb *b, const char *name, int ndim, const int64_t *shape, const float *v)
{
    b->inits[b->n_inits++] = mb_f32(name, ndim, shape, v, MB_RAW);
}

static uint64_t g_rand = 0x9e3779b97f4a7c15u;

static float frand(void)
{
    g_rand = g_rand * 6364136223846793005u + 1442695040888963407u;
    return (float)((g_rand >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

/* ---- the convolution shader on odd shapes ------------------------------- */

struct conv_case {
    int64_t C, H, W, M, kh, kw, g, s[2], d[2], p[4];
    int bias, relu;
};

static void check_conv(const struct conv_case *c)
{
    const int64_t Ho = (c->H + c->p[0] + c->p[2] - c->d[0] * (c->kh - 1) - 1) / c->s[0] + 1;
    const int64_t Wo = (c->W + c->p[1] + c->p[3] - c->d[1] * (c->kw - 1) - 1) / c->s[1] + 1;
    const int64_t xs[4] = {2, c->C, c->H, c->W}, ws[4] = {c->M, c->C / c->g, c->kh, c->kw};
    const size_t nx = (size_t)(2 * c->C * c->H * c->W),
                 nw = (size_t)(ws[0] * ws[1] * c->kh * c->kw);
    float *x = talloc(nx * sizeof(float)), *w = talloc(nw * sizeof(float));
    float *bias = talloc((size_t)c->M * sizeof(float));
    for (size_t i = 0; i < nx; i++)
        x[i] = frand();
    for (size_t i = 0; i < nw; i++)
        w[i] = frand();
    for (int64_t i = 0; i < c->M; i++)
        bias[i] = frand();
    struct mb b = {0};
    mb_input(&b, "x", 4, xs);
    mb_output(&b, "y");
    mb_w(&b, "w", 4, ws, w);
    if (c->bias)
        mb_w(&b, "b", 1, &c->M, bias);
    Onnx__NodeProto *n =
        mb_node(&b, "Conv", "conv", c->bias ? "x,w,b" : "x,w", c->relu ? "c" : "y");
    mb_ints(n, "strides", 2, c->s);
    mb_ints(n, "dilations", 2, c->d);
    mb_ints(n, "pads", 4, c->p);
    mb_int(n, "group", c->g);
    if (c->relu)
        mb_node(&b, "Relu", "relu", "c", "y");
    struct ln_onnx *m = mb_load(&b);

    /* The reference: double sums, from the definition. */
    const size_t ny = (size_t)(2 * c->M * Ho * Wo);
    float *want = talloc(ny * sizeof(float));
    const int64_t cg = c->C / c->g, mg = c->M / c->g;
    for (int64_t nb = 0; nb < 2; nb++)
        for (int64_t o = 0; o < c->M; o++)
            for (int64_t oy = 0; oy < Ho; oy++)
                for (int64_t ox = 0; ox < Wo; ox++) {
                    double acc = c->bias ? bias[o] : 0.0;
                    const int64_t gi = o / mg;
                    for (int64_t ci = 0; ci < cg; ci++)
                        for (int64_t i = 0; i < c->kh; i++)
                            for (int64_t j = 0; j < c->kw; j++) {
                                const int64_t iy = oy * c->s[0] - c->p[0] + i * c->d[0];
                                const int64_t ix = ox * c->s[1] - c->p[1] + j * c->d[1];
                                if (iy < 0 || iy >= c->H || ix < 0 || ix >= c->W)
                                    continue;
                                acc += (double)
                                           x[((nb * c->C + gi * cg + ci) * c->H + iy) * c->W + ix] *
                                       w[((o * cg + ci) * c->kh + i) * c->kw + j];
                            }
                    if (c->relu && acc < 0.0)
                        acc = 0.0;
                    want[((nb * c->M + o) * Ho + oy) * Wo + ox] = (float)acc;
                }

    struct ln_onnx_tensor in = {x, {2, c->C, c->H, c->W}, 4}, cpu, gpu;
    select_device(-1);
    run(m, &in, &cpu, 1);
    select_device(g_index);
    run(m, &in, &gpu, 1);
    assert_true(ln__gpu_onnx_resident_bytes(m) > 0);
    assert_int_equal(gpu.ndim, 4);
    assert_int_equal(gpu.shape[1], c->M);
    assert_int_equal(gpu.shape[2], Ho);
    assert_int_equal(gpu.shape[3], Wo);
    char label[128];
    snprintf(label, sizeof label,
             "conv %lldx%lldx%lld->%lld k%lldx%lld g%lld s%lld,%lld d%lld,%lld", (long long)c->C,
             (long long)c->H, (long long)c->W, (long long)c->M, (long long)c->kh, (long long)c->kw,
             (long long)c->g, (long long)c->s[0], (long long)c->s[1], (long long)c->d[0],
             (long long)c->d[1]);
    check(label, gpu.data, want, ny);
    check("  ... GPU vs CPU", gpu.data, cpu.data, ny);
    ln_onnx_tensor_free(&cpu);
    ln_onnx_tensor_free(&gpu);
    ln_onnx_free(m);
    mb_free();
}

/* ---- the transformer operators, one graph each ------------------------ */

/* Runs b's one-input graph on x on the CPU and on the GPU: the results
 * within TOL of each other, every node on the GPU. */
static void op_case(const char *label, struct mb *b, float *x, int nd, const int64_t *shape)
{
    struct ln_onnx *m = mb_load(b);
    struct ln_onnx_tensor in = {x, {0}, nd}, cpu, gpu;
    memcpy(in.shape, shape, (size_t)nd * sizeof *shape);
    select_device(-1);
    run(m, &in, &cpu, 1);
    select_device(g_index);
    run(m, &in, &gpu, 1);
    if (ln__gpu_onnx_nodes_on(m, NULL, 0) != 0 || ln__gpu_onnx_nodes_on(m, NULL, 1) == 0)
        fail_msg("%s: %zu nodes on the CPU, %zu on the GPU", label,
                 ln__gpu_onnx_nodes_on(m, NULL, 0), ln__gpu_onnx_nodes_on(m, NULL, 1));
    assert_int_equal(gpu.ndim, cpu.ndim);
    for (int d = 0; d < cpu.ndim; d++)
        assert_int_equal(gpu.shape[d], cpu.shape[d]);
    check(label, gpu.data, cpu.data, numel_of(&cpu));
    ln_onnx_tensor_free(&cpu);
    ln_onnx_tensor_free(&gpu);
    ln_onnx_free(m);
    mb_free();
}

static float *rand_array(size_t n, float scale)
{
    float *v = talloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = scale * frand();
    return v;
}

static size_t prod(int nd, const int64_t *s)
{
    size_t n = 1;
    for (int d = 0; d < nd; d++)
        n *= (size_t)s[d];
    return n;
}

static void test_matmul_gemm(void **state)
{
    (void)state;
    char label[96];
    /* Batch dimensions broadcast both ways, odd sizes, a constant B. */
    static const struct {
        int na, nb;
        int64_t a[5], b[5];
    } mm[] = {
        {5, 4, {2, 1, 3, 5, 7}, {4, 1, 7, 9}},
        {3, 2, {3, 17, 33}, {33, 19}},
        {2, 3, {17, 16}, {2, 16, 1}},
        {4, 4, {1, 2, 1, 3}, {3, 1, 3, 40}},
    };
    for (size_t i = 0; i < sizeof mm / sizeof mm[0]; i++) {
        struct mb b = {0};
        mb_input(&b, "x", mm[i].na, mm[i].a);
        mb_output(&b, "y");
        mb_w(&b, "w", mm[i].nb, mm[i].b, rand_array(prod(mm[i].nb, mm[i].b), 1.0f));
        mb_node(&b, "MatMul", "mm", "x,w", "y");
        snprintf(label, sizeof label, "MatMul case %zu (constant B)", i);
        op_case(label, &b, rand_array(prod(mm[i].na, mm[i].a), 1.0f), mm[i].na, mm[i].a);
    }
    /* Two activations: x . x^T per batch (attention's q . k^T). */
    {
        const int64_t xs[3] = {3, 21, 13}, perm[3] = {0, 2, 1};
        struct mb b = {0};
        mb_input(&b, "x", 3, xs);
        mb_output(&b, "y");
        mb_ints(mb_node(&b, "Transpose", "t", "x", "xt"), "perm", 3, perm);
        mb_node(&b, "MatMul", "mm", "x,xt", "y");
        op_case("MatMul x . x^T", &b, rand_array(prod(3, xs), 1.0f), 3, xs);
    }
    /* Gemm: transposes, alpha, beta, C of (N), (M, 1) and (M, N). */
    static const struct {
        int64_t ta, tb, nc;
        int64_t c[2];
    } gm[] = {{0, 1, 1, {9, 0}}, {1, 0, 2, {5, 1}}, {1, 1, 2, {5, 9}}, {0, 0, 0, {0, 0}}};
    for (size_t i = 0; i < sizeof gm / sizeof gm[0]; i++) {
        const int64_t M = 5, N = 9, K = 7;
        const int64_t xs[2] = {gm[i].ta ? K : M, gm[i].ta ? M : K};
        const int64_t ws[2] = {gm[i].tb ? N : K, gm[i].tb ? K : N};
        struct mb b = {0};
        mb_input(&b, "x", 2, xs);
        mb_output(&b, "y");
        mb_w(&b, "w", 2, ws, rand_array((size_t)(K * N), 1.0f));
        if (gm[i].nc)
            mb_w(&b, "c", (int)gm[i].nc, gm[i].c, rand_array(prod((int)gm[i].nc, gm[i].c), 1.0f));
        Onnx__NodeProto *n = mb_node(&b, "Gemm", "gemm", gm[i].nc ? "x,w,c" : "x,w", "y");
        mb_int(n, "transA", gm[i].ta);
        mb_int(n, "transB", gm[i].tb);
        Onnx__AttributeProto *a = mb_attr(n, "alpha", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
        a->has_f = 1;
        a->f = 0.7f;
        a = mb_attr(n, "beta", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
        a->has_f = 1;
        a->f = 1.3f;
        snprintf(label, sizeof label, "Gemm case %zu", i);
        op_case(label, &b, rand_array(prod(2, xs), 1.0f), 2, xs);
    }
}

static void test_softmax_layernorm(void **state)
{
    (void)state;
    char label[96];
    const int64_t xs[4] = {2, 5, 3, 4};
    for (int64_t axis = -1; axis < 4; axis++) {
        struct mb b = {0};
        mb_input(&b, "x", 4, xs);
        mb_output(&b, "y");
        mb_int(mb_node(&b, "Softmax", "sm", "x", "y"), "axis", axis);
        snprintf(label, sizeof label, "Softmax axis %lld", (long long)axis);
        op_case(label, &b, rand_array(prod(4, xs), 4.0f), 4, xs);
    }
    /* Before opset 13 the input is flattened to 2-D at axis. */
    {
        struct mb b = {0};
        b.opset = 11;
        mb_input(&b, "x", 4, xs);
        mb_output(&b, "y");
        mb_int(mb_node(&b, "Softmax", "sm", "x", "y"), "axis", 2);
        op_case("Softmax axis 2, opset 11", &b, rand_array(prod(4, xs), 4.0f), 4, xs);
    }
    for (int64_t axis = -1; axis >= -3; axis--) {
        const int64_t len = axis == -1 ? 4 : axis == -2 ? 12 : 60;
        struct mb b = {0};
        mb_input(&b, "x", 4, xs);
        mb_output(&b, "y");
        mb_w(&b, "g", 1, &len, rand_array((size_t)len, 1.0f));
        mb_w(&b, "bias", 1, &len, rand_array((size_t)len, 1.0f));
        Onnx__NodeProto *n =
            mb_node(&b, "LayerNormalization", "ln", axis == -2 ? "x,g" : "x,g,bias", "y");
        mb_int(n, "axis", axis);
        snprintf(label, sizeof label, "LayerNormalization axis %lld", (long long)axis);
        float *x = rand_array(prod(4, xs), 3.0f);
        for (size_t i = 0; i < prod(4, xs); i++)
            x[i] += 2.0f; /* an offset the mean must remove */
        op_case(label, &b, x, 4, xs);
    }
    /* LayerNorm spelt out (opset 13 exports): ReduceMean, Sub, Pow, Sqrt,
     * Div, with the scale and bias broadcast. */
    {
        const int64_t one = 1, four = 4, ax[1] = {-1};
        const float two = 2.0f, eps = 1e-5f;
        struct mb b = {0};
        mb_input(&b, "x", 4, xs);
        mb_output(&b, "y");
        mb_w(&b, "two", 0, &one, &two);
        mb_w(&b, "eps", 0, &one, &eps);
        mb_w(&b, "g", 1, &four, rand_array(4, 1.0f));
        mb_ints(mb_node(&b, "ReduceMean", "m1", "x", "mu"), "axes", 1, ax);
        mb_node(&b, "Sub", "sub", "x,mu", "d");
        mb_node(&b, "Pow", "pow", "d,two", "d2");
        mb_ints(mb_node(&b, "ReduceMean", "m2", "d2", "var"), "axes", 1, ax);
        mb_node(&b, "Add", "add", "var,eps", "ve");
        mb_node(&b, "Sqrt", "sqrt", "ve", "sd");
        mb_node(&b, "Div", "div", "d,sd", "n");
        mb_node(&b, "Mul", "mul", "n,g", "y");
        op_case("LayerNorm as ReduceMean, Pow, Sqrt", &b, rand_array(prod(4, xs), 3.0f), 4, xs);
    }
}

static void test_transpose_elementwise(void **state)
{
    (void)state;
    char label[96];
    const int64_t xs[4] = {2, 3, 4, 5};
    static const int64_t perms[][4] = {
        {3, 1, 0, 2}, {0, 2, 3, 1}, {1, 0, 3, 2}, {0, 1, 2, 3}, {3, 2, 1, 0}};
    for (size_t i = 0; i < sizeof perms / sizeof perms[0]; i++) {
        struct mb b = {0};
        mb_input(&b, "x", 4, xs);
        mb_output(&b, "y");
        mb_ints(mb_node(&b, "Transpose", "t", "x", "y"), "perm", 4, perms[i]);
        snprintf(label, sizeof label, "Transpose %lld%lld%lld%lld", (long long)perms[i][0],
                 (long long)perms[i][1], (long long)perms[i][2], (long long)perms[i][3]);
        op_case(label, &b, rand_array(prod(4, xs), 1.0f), 4, xs);
    }
    /* Six dimensions, window partitioning's permutation. */
    {
        const int64_t s6[6] = {1, 2, 3, 4, 3, 5}, p6[6] = {0, 1, 3, 2, 4, 5};
        struct mb b = {0};
        mb_input(&b, "x", 6, s6);
        mb_output(&b, "y");
        mb_ints(mb_node(&b, "Transpose", "t", "x", "y"), "perm", 6, p6);
        op_case("Transpose of 6 dimensions", &b, rand_array(prod(6, s6), 1.0f), 6, s6);
    }
    /* Broadcasting binary ops (both sides), unary ops. */
    static const char *const bin[] = {"Add", "Sub", "Mul", "Div", "Max"};
    static const int64_t bs[][4] = {{3, 1, 5}, {5}, {2, 1, 4, 1}};
    static const int bnd[] = {3, 1, 4};
    for (size_t i = 0; i < sizeof bin / sizeof bin[0]; i++)
        for (size_t j = 0; j < 3; j++) {
            struct mb b = {0};
            mb_input(&b, "x", 4, xs);
            mb_output(&b, "y");
            float *w = rand_array(prod(bnd[j], bs[j]), 1.0f);
            for (size_t k = 0; k < prod(bnd[j], bs[j]); k++)
                w[k] += w[k] < 0 ? -0.5f : 0.5f; /* away from 0 for Div */
            mb_w(&b, "w", bnd[j], bs[j], w);
            mb_node(&b, bin[i], "op", j == 1 ? "w,x" : "x,w", "y");
            snprintf(label, sizeof label, "%s broadcast case %zu", bin[i], j);
            op_case(label, &b, rand_array(prod(4, xs), 1.0f), 4, xs);
        }
    /* Pow of negative bases by integer exponents, and by a fraction of positive ones. */
    static const float exps[] = {2.0f, 3.0f, -1.0f, 0.5f, 1.7f};
    for (size_t i = 0; i < sizeof exps / sizeof exps[0]; i++) {
        const int64_t one = 1;
        struct mb b = {0};
        mb_input(&b, "x", 4, xs);
        mb_output(&b, "y");
        mb_w(&b, "e", 0, &one, &exps[i]);
        mb_node(&b, "Pow", "pow", "x,e", "y");
        float *x = rand_array(prod(4, xs), 2.0f);
        for (size_t k = 0; k < prod(4, xs); k++)
            x[k] = exps[i] == floorf(exps[i]) ? x[k] + (x[k] < 0 ? -0.5f : 0.5f) : fabsf(x[k]);
        snprintf(label, sizeof label, "Pow %g", (double)exps[i]);
        op_case(label, &b, x, 4, xs);
    }
    static const char *const un[] = {"Erf", "Gelu", "Tanh", "Exp", "Neg", "Abs", "Sigmoid"};
    for (size_t i = 0; i < sizeof un / sizeof un[0]; i++) {
        struct mb b = {0};
        mb_input(&b, "x", 4, xs);
        mb_output(&b, "y");
        mb_node(&b, un[i], "op", "x", "y");
        op_case(un[i], &b, rand_array(prod(4, xs), 3.0f), 4, xs);
    }
    {
        struct mb b = {0};
        b.opset = 20;
        mb_input(&b, "x", 4, xs);
        mb_output(&b, "y");
        mb_str(mb_node(&b, "Gelu", "op", "x", "y"), "approximate", "tanh");
        op_case("Gelu (tanh)", &b, rand_array(prod(4, xs), 3.0f), 4, xs);
    }
    /* Slice with steps (patch merging's x[:, 0::2, 1::2]), negative too. */
    {
        const int64_t one[1] = {3};
        const int64_t st[3] = {0, 1, 4}, en[3] = {3, 4, 0}, ax[3] = {1, 2, 3}, sp[3] = {1, 2, -2};
        struct mb b = {0};
        mb_input(&b, "x", 4, xs);
        mb_output(&b, "y");
        b.inits[b.n_inits++] = mb_i64("st", 1, one, st);
        b.inits[b.n_inits++] = mb_i64("en", 1, one, en);
        b.inits[b.n_inits++] = mb_i64("ax", 1, one, ax);
        b.inits[b.n_inits++] = mb_i64("sp", 1, one, sp);
        mb_node(&b, "Slice", "slice", "x,st,en,ax,sp", "y");
        op_case("Slice with steps 2 and -2", &b, rand_array(prod(4, xs), 1.0f), 4, xs);
    }
}

static void test_conv_shapes(void **state)
{
    (void)state;
    static const struct conv_case cases[] = {
        /* IS-Net's stem: 3x3 stride 2, padding 1, on an odd size. */
        {3, 17, 13, 7, 3, 3, 1, {2, 2}, {1, 1}, {1, 1, 1, 1}, 1, 1},
        /* U^2-Net's dilated 3x3s, channels no multiple of 4. */
        {5, 11, 9, 6, 3, 3, 1, {1, 1}, {2, 2}, {2, 2, 2, 2}, 1, 0},
        {6, 9, 12, 5, 3, 3, 1, {1, 1}, {8, 8}, {8, 8, 8, 8}, 1, 1},
        /* Uneven padding, stride and dilation differing per axis, no bias. */
        {4, 10, 15, 9, 3, 5, 1, {2, 1}, {1, 3}, {0, 2, 3, 1}, 0, 0},
        /* Groups (and depthwise), a group's channels no multiple of 4. */
        {6, 8, 8, 9, 3, 3, 3, {1, 2}, {1, 1}, {1, 1, 1, 1}, 1, 1},
        {8, 7, 7, 8, 3, 3, 8, {1, 1}, {2, 1}, {2, 1, 2, 1}, 1, 0},
        /* 1x1, and a kernel as large as the input. */
        {13, 6, 5, 17, 1, 1, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}, 1, 0},
        {2, 4, 4, 3, 4, 4, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}, 1, 1},
        /* 16 output channels per group or more: the tiled shader, with
         * tails in channels (70: two tiles), pixels (11 x 11: two tiles)
         * and the summed length (19 x 9). */
        {19, 11, 11, 70, 3, 3, 1, {1, 1}, {1, 1}, {1, 1, 1, 1}, 1, 1},
        {5, 17, 13, 33, 3, 3, 1, {2, 2}, {2, 2}, {2, 1, 0, 2}, 1, 0},
        {6, 9, 10, 40, 3, 3, 2, {1, 2}, {4, 1}, {4, 1, 4, 1}, 0, 1},
        {7, 12, 9, 16, 1, 1, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}, 1, 0},
        /* 16 groups of 4 output channels: the direct one again. */
        {16, 23, 29, 64, 3, 3, 16, {2, 1}, {1, 1}, {1, 1, 1, 1}, 1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_conv(&cases[i]);
}

/* ---- declining, the budget, the release -------------------------------- */

/* A node without a GPU form (Softplus, Sum) between two convolutions runs on the CPU
 * between GPU stretches (read back, computed, uploaded for the next
 * convolution); a graph with no node the GPU has runs wholly on the CPU
 * and leaves nothing on the device. */
static void test_mixed_and_declined(void **state)
{
    (void)state;
    const int64_t xs[4] = {1, 3, 6, 6}, ws[4] = {4, 3, 3, 3}, w2s[4] = {2, 4, 1, 1};
    float x[108], w[108], w2[8];
    for (int i = 0; i < 108; i++) {
        x[i] = frand();
        w[i] = frand();
    }
    for (int i = 0; i < 8; i++)
        w2[i] = frand();
    struct mb b = {0};
    mb_input(&b, "x", 4, xs);
    mb_output(&b, "y");
    mb_w(&b, "w", 4, ws, w);
    mb_w(&b, "w2", 4, w2s, w2);
    mb_node(&b, "Conv", "conv1", "x,w", "c");
    mb_node(&b, "Softplus", "softplus", "c", "t");
    mb_node(&b, "Conv", "conv2", "t,w2", "y");
    struct ln_onnx *m = mb_load(&b);
    struct ln_onnx_tensor in = {x, {1, 3, 6, 6}, 4}, cpu, gpu;
    select_device(-1);
    run(m, &in, &cpu, 1);
    select_device(g_index);
    run(m, &in, &gpu, 1);
    assert_true(ln__gpu_onnx_resident_bytes(m) > 0);
    assert_int_equal(ln__gpu_onnx_nodes_on(m, "Conv", 1), 2);
    assert_int_equal(ln__gpu_onnx_nodes_on(m, "Softplus", 0), 1);
    assert_int_equal(ln__gpu_onnx_nodes_on(m, NULL, 0), 1);
    check("Conv, Softplus on the CPU, Conv", gpu.data, cpu.data, numel_of(&cpu));
    ln_onnx_tensor_free(&cpu);
    ln_onnx_tensor_free(&gpu);
    ln_onnx_free(m);
    mb_free();

    /* CPU first (reading the graph input), GPU, CPU last (the output read
     * from the host). */
    {
        for (int i = 0; i < 108; i++) {
            x[i] = floorf(3.0f * x[i]); /* integers and whole weights: exact sums */
            w[i] = (float)(int)(4.0f * w[i]);
        }
        struct mb b3 = {0};
        mb_input(&b3, "x", 4, xs);
        mb_output(&b3, "y");
        mb_w(&b3, "w", 4, ws, w);
        mb_node(&b3, "Sum", "sum1", "x", "f");
        mb_node(&b3, "Conv", "conv", "f,w", "c");
        mb_node(&b3, "Sum", "sum2", "c", "y");
        m = mb_load(&b3);
        select_device(-1);
        run(m, &in, &cpu, 1);
        select_device(g_index);
        run(m, &in, &gpu, 1);
        assert_int_equal(ln__gpu_onnx_nodes_on(m, "Conv", 1), 1);
        assert_int_equal(ln__gpu_onnx_nodes_on(m, "Sum", 0), 2);
        /* Integers throughout, exact in float32 on both sides. */
        assert_memory_equal(gpu.data, cpu.data, numel_of(&cpu) * sizeof(float));
        ln_onnx_tensor_free(&cpu);
        ln_onnx_tensor_free(&gpu);
        ln_onnx_free(m);
        mb_free();
    }

    struct mb b2 = {0};
    mb_input(&b2, "x", 4, xs);
    mb_output(&b2, "y");
    mb_node(&b2, "Sum", "sum", "x", "y");
    m = mb_load(&b2);
    select_device(-1);
    run(m, &in, &cpu, 1);
    select_device(g_index);
    run(m, &in, &gpu, 1);
    assert_int_equal(ln__gpu_onnx_resident_bytes(m), 0);
    assert_int_equal(ln__gpu_onnx_nodes_on(m, NULL, 0), 0);
    struct ln_gpu_info info;
    ln_gpu_info(ln_gpu_current(), &info);
    assert_int_equal(info.used_bytes, 0);
    assert_memory_equal(gpu.data, cpu.data, numel_of(&cpu) * sizeof(float));
    ln_onnx_tensor_free(&cpu);
    ln_onnx_tensor_free(&gpu);
    ln_onnx_free(m);
    mb_free();
}

/* A budget that cannot hold the network: LN_ENOMEM with one line naming
 * it and the sizes, no output, nothing allocated; with the budget back the
 * same model runs. */
static void test_out_of_device_memory(void **state)
{
    (void)state;
    struct ln_onnx_tensor x;
    struct ln_weights *w;
    struct ln_onnx *m =
        fixture_load("onnx/u2net-tiny-op11.onnx", "onnx/u2net-tiny.safetensors", &x, &w);
    struct ln_error err = {0};
    ln_env_set("LN_GPU_MEMORY_LIMIT", "65536");
    select_device(g_index);
    ln_env_set("LN_GPU_MEMORY_LIMIT", NULL);
    struct ln_onnx_tensor out = {0};
    assert_int_equal(ln_onnx_run(m, &x, 1, &out, 1, &err), LN_ENOMEM);
    printf("  %s\n", err.message);
    assert_non_null(strstr(err.message, "GPU memory: the ONNX network"));
    assert_null(strchr(err.message, '\n'));
    assert_null(out.data);
    assert_int_equal(ln__gpu_onnx_resident_bytes(m), 0);
    struct ln_gpu_info info;
    ln_gpu_info(ln_gpu_current(), &info);
    assert_int_equal(info.used_bytes, 0);
    select_device(g_index);
    run(m, &x, &out, 1);
    assert_true(ln__gpu_onnx_resident_bytes(m) > 0);
    ln_onnx_tensor_free(&out);
    ln_onnx_free(m);
    ln_gpu_info(ln_gpu_current(), &info);
    assert_int_equal(info.used_bytes, 0); /* freeing the model freed its buffers */
    ln_weights_close(w);
}

/* Releasing the device (ln_gpu_shutdown, or another device selected)
 * frees what a model keeps there; the next run uploads again and gives the
 * same bits. Also through staging buffers, as on a discrete GPU. */
static void test_release_and_staging(void **state)
{
    (void)state;
    struct ln_onnx_tensor x;
    struct ln_weights *w;
    struct ln_onnx *m =
        fixture_load("onnx/isnet-tiny-op17.onnx", "onnx/isnet-tiny.safetensors", &x, &w);
    struct ln_onnx_tensor a, b, c;
    select_device(g_index);
    run(m, &x, &a, 1);
    assert_true(ln__gpu_onnx_resident_bytes(m) > 0);
    ln_gpu_shutdown();
    assert_int_equal(ln__gpu_onnx_resident_bytes(m), 0);
    select_device(g_index);
    run(m, &x, &b, 1);
    ln_env_set("LN_GPU_STAGING", "1");
    select_device(g_index);
    run(m, &x, &c, 1);
    ln_env_set("LN_GPU_STAGING", NULL);
    const size_t n = numel_of(&a);
    assert_memory_equal(a.data, b.data, n * sizeof(float));
    assert_memory_equal(a.data, c.data, n * sizeof(float));
    ln_onnx_tensor_free(&a);
    ln_onnx_tensor_free(&b);
    ln_onnx_tensor_free(&c);
    ln_onnx_free(m);
    ln_weights_close(w);
}

/* The weights in several buffers (as a full-size U^2-Net's 168 MiB must
 * be on a device whose storage buffers range over 128 MiB, lavapipe's):
 * the same bits as in one. */
static void test_weights_in_pieces(void **state)
{
    (void)state;
    struct ln_onnx_tensor x;
    struct ln_weights *w;
    struct ln_onnx *m =
        fixture_load("onnx/u2net-tiny-op17.onnx", "onnx/u2net-tiny.safetensors", &x, &w);
    struct ln_onnx_tensor one[8], many[8];
    const size_t n_out = ln_onnx_n_outputs(m);
    assert_true(n_out <= 8);
    select_device(g_index);
    run(m, &x, one, n_out);
    assert_int_equal(ln__gpu_onnx_pieces(m), 1);
    ln__gpu_onnx_set_piece_bytes(8 << 10);
    ln_gpu_shutdown(); /* the next run prepares the plan again */
    select_device(g_index);
    run(m, &x, many, n_out);
    const size_t pieces = ln__gpu_onnx_pieces(m);
    printf("  weights in %zu buffers of at most 8 KiB\n", pieces);
    assert_true(pieces > 3);
    ln__gpu_onnx_set_piece_bytes(0);
    for (size_t k = 0; k < n_out; k++)
        assert_memory_equal(one[k].data, many[k].data, numel_of(&one[k]) * sizeof(float));
    free_outs(one, n_out);
    free_outs(many, n_out);
    ln_onnx_free(m);
    ln_weights_close(w);
}

/* ---- the integer and index operators ------------------------------------ */

/* Runs m on x on the CPU, then on the GPU: every output the same bits
 * (exact) or within TOL; returns how many nodes the GPU left to the CPU. */
static size_t both_ways(const char *label, struct ln_onnx *m, float *x, int nd,
                        const int64_t *shape, int exact)
{
    const size_t n_out = ln_onnx_n_outputs(m);
    struct ln_onnx_tensor in = {x, {0}, nd};
    memcpy(in.shape, shape, (size_t)nd * sizeof *shape);
    struct ln_onnx_tensor *cpu = talloc(n_out * sizeof *cpu), *gpu = talloc(n_out * sizeof *gpu);
    select_device(-1);
    run(m, &in, cpu, n_out);
    select_device(g_index);
    run(m, &in, gpu, n_out);
    assert_true(ln__gpu_onnx_resident_bytes(m) > 0);
    for (size_t k = 0; k < n_out; k++) {
        char l[128];
        assert_int_equal(gpu[k].ndim, cpu[k].ndim);
        for (int d = 0; d < cpu[k].ndim; d++)
            assert_int_equal(gpu[k].shape[d], cpu[k].shape[d]);
        const size_t n = numel_of(&cpu[k]);
        snprintf(l, sizeof l, "%s: %s", label, ln_onnx_output_name(m, k));
        if (exact) {
            for (size_t i = 0; i < n; i++)
                if (memcmp(&gpu[k].data[i], &cpu[k].data[i], sizeof(float)))
                    fail_msg("%s[%zu]: GPU %.9g, CPU %.9g", l, i, gpu[k].data[i], cpu[k].data[i]);
        } else {
            check(l, gpu[k].data, cpu[k].data, n);
        }
    }
    printf("  %-40s %zu outputs %s, %zu of %zu nodes on the CPU\n", label, n_out,
           exact ? "bit for bit" : "within tolerance", ln__gpu_onnx_nodes_on(m, NULL, 0),
           ln__gpu_onnx_nodes_on(m, NULL, 0) + ln__gpu_onnx_nodes_on(m, NULL, 1));
    free_outs(cpu, n_out);
    free_outs(gpu, n_out);
    return ln__gpu_onnx_nodes_on(m, NULL, 0);
}

static void mb_cast(struct mb *b, const char *in, const char *out, int64_t to)
{
    char name[64];
    snprintf(name, sizeof name, "cast_%s", out);
    mb_int(mb_node(b, "Cast", name, in, out), "to", to);
}

/* Graph outputs are floats: an int64 t goes out as itself and as
 * t - (int64)(float)t, which together pin down all 64 bits. */
static void mb_wide_out(struct mb *b, const char *t)
{
    char f[64], i[64], r[64], io[96], nm[64];
    snprintf(f, sizeof f, "%s_f", t);
    snprintf(i, sizeof i, "%s_i", t);
    snprintf(r, sizeof r, "%s_r", t);
    mb_cast(b, t, f, 1);
    mb_cast(b, f, i, 7);
    snprintf(io, sizeof io, "%s,%s", t, i);
    snprintf(nm, sizeof nm, "sub_%s", t);
    mb_node(b, "Sub", nm, io, r);
    mb_output(b, t);
    mb_output(b, r);
}

/* Every integer and index operator of onnx_int.comp against the CPU
 * interpreter, bit for bit: Floor, Ceil, Cast both ways (truncation,
 * saturation, infinities, 64-bit values to float with rounding), int64
 * Mul/Add/Sub/Div (wrapping, truncation, a zero divisor, INT64_MIN / -1,
 * a divisor past 2^32), Min, Max, Neg, Abs, Relu, the comparisons on
 * floats and integers, And, Or, Not, Where of both types, Clip of both
 * types and with one bound; all on the GPU. */
static void test_integer_ops(void **state)
{
    (void)state;
    const int64_t xs[3] = {3, 4, 7}, ks[1] = {7}, ds[2] = {4, 1}, one[1] = {1};
    const int64_t K[7] = {3, -7, ((int64_t)1 << 33) + 1, -((int64_t)1 << 40), 123456789, 0, 1};
    const int64_t D[4] = {-1, -3, 0, ((int64_t)1 << 35) + 7};
    const int64_t ilo[1] = {-((int64_t)1 << 34)}, ihi[1] = {(int64_t)1 << 36};
    const float zero = 0.0f, ten = 10.0f, m5 = -5.0f, lo = -3.5f, hi = 7.25f;
    static float x[84];
    for (int i = 0; i < 84; i++)
        x[i] = 40.0f * frand();
    const float special[] = {2.5f,     -2.5f,          -0.0f,         3e9f,  -3e9f,   1e19f,
                             -1e19f,   INFINITY,       -INFINITY,     5e17f, -7.0f,   15.0f,
                             1.37e10f, -2147483648.0f, 2147483648.0f, -0.5f, 1.5e10f, -9.3e18f,
                             9.1e18f,  0.5f,           -1.5e10f};
    memcpy(x, special, sizeof special);
    /* One graph of every operator, its outputs eight at a time (the
     * builder's limit); "+t": an int64 t and its remainder (mb_wide_out). */
    static const char *const groups[][8] = {{"f", "c", "cl", "clo", "wf", "cbf", "ge", "le"},
                                            {"a", "lt", "o", "nt", "eq", "gt", "eqf", "cb"},
                                            {"cbi", "+i", "+j", "+k"},
                                            {"+s", "+d", "+q", "+mn"},
                                            {"+mx", "+ng", "+ab", "+re"},
                                            {"+w", "+cli"}};
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        struct mb b = {0};
        mb_input(&b, "x", 3, xs);
        b.inits[b.n_inits++] = mb_i64("K", 1, ks, K);
        b.inits[b.n_inits++] = mb_i64("D", 2, ds, D);
        b.inits[b.n_inits++] = mb_i64("ilo", 1, one, ilo);
        b.inits[b.n_inits++] = mb_i64("ihi", 1, one, ihi);
        mb_w(&b, "zero", 0, NULL, &zero);
        mb_w(&b, "ten", 0, NULL, &ten);
        mb_w(&b, "m5", 0, NULL, &m5);
        mb_w(&b, "lo", 0, NULL, &lo);
        mb_w(&b, "hi", 0, NULL, &hi);
        mb_node(&b, "Floor", "floor", "x", "f");
        mb_node(&b, "Ceil", "ceil", "x", "c");
        mb_cast(&b, "x", "i", 7);
        mb_cast(&b, "f", "j", 7);
        mb_node(&b, "Mul", "mul", "i,K", "k");
        mb_node(&b, "Add", "add", "k,j", "s");
        mb_node(&b, "Sub", "sub", "k,j", "d");
        mb_node(&b, "Div", "div", "k,D", "q");
        mb_node(&b, "Min", "min", "s,d", "mn");
        mb_node(&b, "Max", "max", "s,d", "mx");
        mb_node(&b, "Neg", "neg", "d", "ng");
        mb_node(&b, "Abs", "abs", "d", "ab");
        mb_node(&b, "Relu", "relu", "d", "re");
        mb_node(&b, "GreaterOrEqual", "ge", "x,zero", "ge");
        mb_node(&b, "LessOrEqual", "le", "x,ten", "le");
        mb_node(&b, "And", "and", "ge,le", "a");
        mb_node(&b, "Less", "lt", "x,m5", "lt");
        mb_node(&b, "Or", "or", "ge,lt", "o");
        mb_node(&b, "Not", "not", "a", "nt");
        mb_node(&b, "Equal", "eq", "j,i", "eq");
        mb_node(&b, "Greater", "gt", "k,s", "gt");
        mb_node(&b, "Equal", "eqf", "f,c", "eqf");
        mb_node(&b, "Where", "where", "a,s,q", "w");
        mb_node(&b, "Where", "wheref", "nt,x,f", "wf");
        mb_node(&b, "Clip", "clip", "x,lo,hi", "cl");
        mb_node(&b, "Clip", "clipmin", "x,lo", "clo");
        mb_node(&b, "Clip", "clipi", "s,ilo,ihi", "cli");
        mb_cast(&b, "x", "cb", 9);
        mb_cast(&b, "k", "cbi", 9);
        mb_cast(&b, "a", "cbf", 1);
        char label[96] = "integer operators:";
        for (size_t k = 0; k < 8 && groups[g][k]; k++) {
            if (groups[g][k][0] == '+')
                mb_wide_out(&b, groups[g][k] + 1);
            else
                mb_output(&b, groups[g][k]);
            snprintf(label + strlen(label), sizeof label - strlen(label), " %s",
                     groups[g][k] + (groups[g][k][0] == '+'));
        }
        struct ln_onnx *m = mb_load(&b);
        assert_int_equal(both_ways(label, m, x, 3, xs, 1), 0);
        assert_true(ln__gpu_onnx_nodes_on(m, "Div", 1) == 1 &&
                    ln__gpu_onnx_nodes_on(m, "Cast", 1) >= 5);
        ln_onnx_free(m);
        mb_free();
    }

    /* Integer copies: Transpose, Slice with a negative step, Expand,
     * Unsqueeze, Reshape and Gather of one index on int64 tensors. */
    const int64_t perm[3] = {2, 0, 1}, st[1] = {-1}, en[1] = {-100}, ax[1] = {1}, sp[1] = {-1};
    const int64_t es[4] = {2, 7, 3, 4}, e4[1] = {4}, rs[2] = {-1, 12}, g0[1] = {0}, i2 = 2;
    const int64_t two[1] = {2};
    static const char *const cp[][4] = {{"t", "sl", "e", "r"}, {"ga"}};
    for (size_t g = 0; g < 2; g++) {
        struct mb b2 = {0};
        mb_input(&b2, "x", 3, xs);
        b2.inits[b2.n_inits++] = mb_i64("st", 1, one, st);
        b2.inits[b2.n_inits++] = mb_i64("en", 1, one, en);
        b2.inits[b2.n_inits++] = mb_i64("ax", 1, one, ax);
        b2.inits[b2.n_inits++] = mb_i64("sp", 1, one, sp);
        b2.inits[b2.n_inits++] = mb_i64("es", 1, e4, es);
        b2.inits[b2.n_inits++] = mb_i64("rs", 1, two, rs);
        b2.inits[b2.n_inits++] = mb_i64("g", 0, NULL, &i2);
        b2.inits[b2.n_inits++] = mb_i64("u", 1, one, g0);
        mb_node(&b2, "Floor", "floor", "x", "f");
        mb_cast(&b2, "f", "i", 7);
        mb_ints(mb_node(&b2, "Transpose", "t", "i", "t"), "perm", 3, perm);
        mb_node(&b2, "Slice", "slice", "t,st,en,ax,sp", "sl");
        mb_node(&b2, "Expand", "expand", "sl,es", "e");
        mb_node(&b2, "Unsqueeze", "unsq", "i,u", "un");
        mb_node(&b2, "Reshape", "reshape", "un,rs", "r");
        mb_int(mb_node(&b2, "Gather", "gather", "i,g", "ga"), "axis", 1);
        for (size_t k = 0; k < 4 && cp[g][k]; k++)
            mb_wide_out(&b2, cp[g][k]);
        struct ln_onnx *m = mb_load(&b2);
        assert_int_equal(both_ways(g ? "integer Gather" : "integer copies", m, x, 3, xs, 1), 0);
        ln_onnx_free(m);
        mb_free();
    }
}

/* GatherElements: indices computed on the GPU (Floor, Clip, Cast, as the
 * deformable sampling does), negative ones, axes 1 and -1, float data
 * from the weights and from a run-time value, int64 data; Gather with
 * such indices (axes 0 and 1, 3-D indices) and with known ones; an index
 * out of range fails the run with one line as on the CPU, and the next run
 * with good indices gives the CPU's result again. */
static void test_gather_elements(void **state)
{
    (void)state;
    const int64_t xs[3] = {2, 3, 5}, one[1] = {1};
    static float x[30], dw[30];
    for (int i = 0; i < 30; i++) {
        x[i] = 3.0f * frand();
        dw[i] = frand();
    }
    const float three = 3.0f, k1000 = 1000.0f;
    const float lo5 = -5.0f, hi4 = 4.0f, lo3 = -3.0f, hi2 = 2.0f;
    struct mb b = {0};
    mb_input(&b, "x", 3, xs);
    mb_w(&b, "data", 3, xs, dw);
    mb_w(&b, "three", 1, one, &three);
    mb_w(&b, "k1000", 1, one, &k1000);
    mb_w(&b, "lo5", 0, NULL, &lo5);
    mb_w(&b, "hi4", 0, NULL, &hi4);
    mb_w(&b, "lo3", 0, NULL, &lo3);
    mb_w(&b, "hi2", 0, NULL, &hi2);
    mb_node(&b, "Mul", "mul", "x,three", "x3");
    mb_node(&b, "Floor", "floor", "x3", "f");
    mb_node(&b, "Clip", "clip", "f,lo5,hi4", "fc");
    mb_cast(&b, "fc", "idx", 7);
    mb_node(&b, "Clip", "clip2", "f,lo3,hi2", "fc2");
    mb_cast(&b, "fc2", "idx2", 7);
    mb_int(mb_node(&b, "GatherElements", "ge_w", "data,idx", "y1"), "axis", -1);
    mb_int(mb_node(&b, "GatherElements", "ge_a", "x3,idx2", "y2"), "axis", 1);
    mb_node(&b, "Mul", "mul2", "x,k1000", "xk");
    mb_cast(&b, "xk", "xi", 7);
    mb_int(mb_node(&b, "GatherElements", "ge_i", "xi,idx", "y3"), "axis", 2);
    /* Gather with indices at run time (axes 0 and 1) and known ones. */
    const int64_t d2s[2] = {5, 4}, ks[1] = {3}, kv[3] = {0, -1, 2};
    mb_w(&b, "data2", 2, d2s, dw);
    b.inits[b.n_inits++] = mb_i64("kidx", 1, ks, kv);
    mb_int(mb_node(&b, "Gather", "g0", "data2,idx", "y4"), "axis", 0);
    mb_int(mb_node(&b, "Gather", "g1", "x3,idx2", "y5"), "axis", 1);
    mb_int(mb_node(&b, "Gather", "g2", "x3,kidx", "y6"), "axis", 2);
    mb_output(&b, "y1");
    mb_output(&b, "y2");
    mb_output(&b, "y3");
    mb_output(&b, "y4");
    mb_output(&b, "y5");
    mb_output(&b, "y6");
    struct ln_onnx *m = mb_load(&b);
    assert_int_equal(both_ways("GatherElements, Gather", m, x, 3, xs, 1), 0);
    assert_int_equal(ln__gpu_onnx_nodes_on(m, "GatherElements", 1), 3);
    assert_int_equal(ln__gpu_onnx_nodes_on(m, "Gather", 1), 3);
    ln_onnx_free(m);
    mb_free();

    /* Indices straight from the input: 7 is past the axis's 5. */
    struct mb b2 = {0};
    mb_input(&b2, "x", 3, xs);
    mb_w(&b2, "data", 3, xs, dw);
    mb_w(&b2, "sc", 1, one, &three);
    mb_node(&b2, "Floor", "floor", "x", "f");
    mb_cast(&b2, "f", "idx", 7);
    mb_int(mb_node(&b2, "GatherElements", "picker", "data,idx", "y"), "axis", 2);
    mb_node(&b2, "Mul", "mul", "y,sc", "z");
    mb_output(&b2, "z");
    m = mb_load(&b2);
    float good[30], bad[30];
    for (int i = 0; i < 30; i++)
        good[i] = bad[i] = (float)(i % 5) + 0.25f;
    bad[17] = 7.5f;
    assert_int_equal(both_ways("GatherElements, good indices", m, good, 3, xs, 1), 0);
    struct ln_onnx_tensor in = {bad, {2, 3, 5}, 3}, out = {0};
    struct ln_error err = {0};
    select_device(-1);
    assert_int_equal(ln_onnx_run(m, &in, 1, &out, 1, &err), LN_EFORMAT);
    printf("  CPU: %s\n", err.message);
    assert_non_null(strstr(err.message, "out of range"));
    select_device(g_index);
    memset(&err, 0, sizeof err);
    assert_int_equal(ln_onnx_run(m, &in, 1, &out, 1, &err), LN_EFORMAT);
    printf("  GPU: %s\n", err.message);
    assert_non_null(strstr(err.message, "out of range"));
    assert_non_null(strstr(err.message, "picker"));
    assert_null(out.data);
    assert_int_equal(ln__gpu_onnx_nodes_on(m, NULL, 0), 0);
    /* The error word was cleared: good indices run again, on the GPU. */
    struct ln_onnx_tensor gin = {good, {2, 3, 5}, 3}, cpu, gpu;
    run(m, &gin, &gpu, 1);
    select_device(-1);
    run(m, &gin, &cpu, 1);
    assert_memory_equal(gpu.data, cpu.data, 30 * sizeof(float));
    ln_onnx_tensor_free(&cpu);
    ln_onnx_tensor_free(&gpu);
    ln_onnx_free(m);
    mb_free();
}

/* ---- mixed execution, a second look --------------------------------------- */

/* Operators without a GPU form (Softplus, HardSigmoid, one-input Sum, an
 * int64 Concat) mixed with GPU nodes where the hand-over is delicate: a
 * Concat whose pieces are written in place by CPU and GPU producers alike;
 * a CPU node reading a fused ReLU's output (an alias of its
 * convolution's) and a Reshape of a GPU value; a value read by a CPU and a
 * GPU node; int64 values made on the GPU read by the CPU and back (the
 * int64 Concat), and int64 graph outputs made on each side. Then the same
 * model run twice, with a second input width (a new plan) and back, and
 * after the device's release: the same bits each time for the same
 * input, the CPU's result within TOL (the integers exactly). */
static void test_mixed_second_look(void **state)
{
    (void)state;
    const int64_t xs[3] = {1, 4, -1}, one[1] = {1}, ws[4] = {4, 4, 1, 1};
    const int64_t r2[2] = {12, -1}, r4[4] = {1, 4, 2, -1}, two[1] = {2}, four[1] = {4};
    const float ten = 10.0f, three_i[1] = {0};
    (void)three_i;
    const int64_t i3 = 3;
    struct mb b = {0};
    mb_input(&b, "x", 3, xs);
    mb_w(&b, "w", 4, ws, rand_array(16, 1.0f));
    mb_w(&b, "ten", 1, one, &ten);
    b.inits[b.n_inits++] = mb_i64("r2", 1, two, r2);
    b.inits[b.n_inits++] = mb_i64("r4", 1, four, r4);
    b.inits[b.n_inits++] = mb_i64("i3", 0, NULL, &i3);
    /* A Concat of pieces made in place by the CPU, the GPU, the CPU. */
    mb_node(&b, "Softplus", "sp_a", "x", "a");
    mb_node(&b, "Sigmoid", "sig_b", "x", "pb");
    mb_node(&b, "Sum", "sum_c", "x", "pc");
    mb_int(mb_node(&b, "Concat", "cat", "a,pb,pc", "y"), "axis", 1);
    mb_node(&b, "Mul", "sq", "y,y", "y2");
    /* A CPU node reading a GPU Reshape. */
    mb_node(&b, "Reshape", "resh", "y2,r2", "r");
    mb_node(&b, "HardSigmoid", "hs", "r", "h");
    /* One value read by a CPU and a GPU node. */
    mb_node(&b, "Tanh", "tanh", "x", "v");
    mb_node(&b, "Softplus", "sp_v", "v", "v1");
    mb_node(&b, "Mul", "mv", "v,v1", "v2");
    /* A CPU node reading a fused ReLU (an alias of the convolution's output). */
    mb_node(&b, "Reshape", "resh4", "x,r4", "x4");
    mb_node(&b, "Conv", "conv", "x4,w", "cv");
    mb_node(&b, "Relu", "relu", "cv", "rl");
    mb_node(&b, "Softplus", "sp_r", "rl", "sr");
    /* int64 across: made on the GPU, concatenated on the CPU, used on the GPU. */
    mb_node(&b, "Mul", "m10", "x,ten", "x10");
    mb_node(&b, "Floor", "fl", "x10", "fx");
    mb_cast(&b, "fx", "ci", 7);
    mb_node(&b, "Ceil", "ce", "x10", "cx");
    mb_cast(&b, "cx", "cj", 7);
    /* Pieces made in place by the GPU, the Concat on the CPU. */
    mb_int(mb_node(&b, "Concat", "cati", "ci,cj", "cc"), "axis", 0);
    mb_node(&b, "Mul", "mi", "cc,i3", "ciu");
    mb_output(&b, "y2");
    mb_output(&b, "h");
    mb_output(&b, "v2");
    mb_output(&b, "sr");
    mb_output(&b, "cc");
    mb_output(&b, "ciu");
    struct ln_onnx *m = mb_load(&b);
    const size_t n_out = 6;
    float *x6 = rand_array(24, 2.0f), *x8 = rand_array(32, 2.0f);
    const int64_t s6[3] = {1, 4, 6}, s8[3] = {1, 4, 8};
    /* Within TOL of the CPU, and the CPU-node counts: the mixed path stays. */
    both_ways("mixed, width 6", m, x6, 3, s6, 0);
    /* The planner put the pieces in place (what this test is about). */
    static const char *const pieces[] = {"a", "pb", "pc", "ci", "cj"};
    for (size_t k = 0; k < 5; k++) {
        size_t v = 0;
        while (v < m->n_values && strcmp(m->values[v].name, pieces[k]))
            v++;
        assert_true(v < m->n_values);
        if (!m->values[v].alias)
            fail_msg("piece %s is not in place", pieces[k]);
    }
    assert_int_equal(ln__gpu_onnx_nodes_on(m, "Softplus", 0), 3);
    assert_int_equal(ln__gpu_onnx_nodes_on(m, "Sum", 0), 1);
    assert_int_equal(ln__gpu_onnx_nodes_on(m, "HardSigmoid", 0), 1);
    assert_int_equal(ln__gpu_onnx_nodes_on(m, "Concat", 0), 1);
    assert_int_equal(ln__gpu_onnx_nodes_on(m, "Concat", 1), 1);
    assert_int_equal(ln__gpu_onnx_nodes_on(m, NULL, 0), 6);
    both_ways("mixed, width 8", m, x8, 3, s8, 0);
    /* GPU only from here: the same bits for the same input through
     * repeated runs, new plans and a release. */
    struct ln_onnx_tensor in6 = {x6, {1, 4, 6}, 3}, in8 = {x8, {1, 4, 8}, 3};
    struct ln_onnx_tensor first[6], again[6], other[6];
    select_device(g_index);
    run(m, &in6, first, n_out);
    const char *const steps[] = {"again", "after width 8", "after the release"};
    for (int s = 0; s < 3; s++) {
        if (s == 1) {
            run(m, &in8, other, n_out);
            free_outs(other, n_out);
        }
        if (s == 2) {
            ln_gpu_shutdown(); /* the release hook: everything on the device goes */
            assert_int_equal(ln__gpu_onnx_resident_bytes(m), 0);
            select_device(g_index);
        }
        run(m, &in6, again, n_out);
        for (size_t k = 0; k < n_out; k++)
            if (memcmp(first[k].data, again[k].data, numel_of(&first[k]) * sizeof(float)))
                fail_msg("output %s differs %s", ln_onnx_output_name(m, k), steps[s]);
        free_outs(again, n_out);
    }
    assert_int_equal(ln__gpu_onnx_nodes_on(m, NULL, 0), 6);
    free_outs(first, n_out);
    ln_onnx_free(m);
    mb_free();
}

static void test_validation(void **state)
{
    (void)state;
    ln_test_validation_check(0);
}

static int teardown(void **state)
{
    (void)state;
    ln_gpu_shutdown();
    return 0;
}

int main(void)
{
    g_index = ln_test_vulkan_device_or_skip();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_transformer_fixture),
        cmocka_unit_test(test_transformer_mixed_vs_gpu),
        cmocka_unit_test(test_integer_ops),
        cmocka_unit_test(test_gather_elements),
        cmocka_unit_test(test_mixed_second_look),
        cmocka_unit_test(test_conv_shapes),
        cmocka_unit_test(test_matmul_gemm),
        cmocka_unit_test(test_softmax_layernorm),
        cmocka_unit_test(test_transpose_elementwise),
        cmocka_unit_test(test_mixed_and_declined),
        cmocka_unit_test(test_out_of_device_memory),
        cmocka_unit_test(test_release_and_staging),
        cmocka_unit_test(test_weights_in_pieces),
        cmocka_unit_test(test_validation),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
