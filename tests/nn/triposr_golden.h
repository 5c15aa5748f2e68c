/* The tiny golden TripoSR model as its tests share it (tests/data/triposr-tiny,
 * produced by the upstream code; docs/TRIPOSR.md section 17): its golden
 * tensors, the error metric they are judged by, and the model loaded from
 * its own files with the fixture's Hugging Face cache. Included by
 * tests/nn/test_triposr.c, tests/engines/test_triposr_engine.c and the GPU
 * tests (tests/gpu/gpu_triposr_test.h).
 *
 * The metric: the worst over all elements of
 * |got - want| / max(|want|, floor_frac * max|want|), i.e. relative error
 * with a floor at a share of the tensor's largest magnitude (GOLDEN_FLOOR,
 * a hundredth), so that values near zero (where float32 rounding of the
 * larger terms they are summed from dominates) are judged against the
 * tensor's scale; density_act, which exp amplifies and which the mesh
 * thresholds, is judged purely relatively (no floor). golden_check fails
 * a test above its tolerance (GOLDEN_TOL, 1e-4, for the float32 paths).
 *
 * The helpers are `static` and marked unused, not `static inline`, and the
 * largest magnitude is found by a comparison, not fmax(): with either, GCC
 * 12's aarch64 vectoriser stops on worst_rel's loops with an internal
 * compiler error. */
#ifndef LN_TRIPOSR_GOLDEN_H
#define LN_TRIPOSR_GOLDEN_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ln_error.h"
#include "ln_sys.h"
#include "ln_triposr.h"
#include "testutil.h"

#define GOLDEN_TOL 1e-4
#define GOLDEN_FLOOR 1e-2

/* triposr-tiny/NAME.bin, n floats. */
static __attribute__((unused)) float *golden(const char *name, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "triposr-tiny/%s.bin", name);
    return ln_test_read_f32(ln_test_data(path), n);
}

/* The metric above, with floor_frac the floor's share; the index of the
 * worst element in *at unless at is NULL (the first of equals; a
 * non-finite difference counts as infinitely wrong). */
static __attribute__((unused)) double worst_rel(const float *got, const float *want, size_t n,
                                                double floor_frac, size_t *at)
{
    double scale = 0.0, worst = 0.0;
    size_t worst_at = 0;
    for (size_t i = 0; i < n; i++) {
        const double a = fabs((double)want[i]);
        if (a > scale)
            scale = a;
    }
    const double fl = floor_frac * scale > 0.0 ? floor_frac * scale : 1e-30;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)got[i] - (double)want[i]);
        const double r = isfinite(d) ? d / fmax(fabs((double)want[i]), fl) : INFINITY;
        if (!(r <= worst)) {
            worst = r;
            worst_at = i;
        }
    }
    if (at)
        *at = worst_at;
    return worst;
}

/* Prints label's error and fails the test where it is above tol (or not
 * a number); density_act (a label naming "density") has no floor. */
static __attribute__((unused)) void golden_check(const char *label, const float *got,
                                                 const float *want, size_t n, double tol)
{
    size_t at;
    const double floor_frac = strstr(label, "density") ? 0.0 : GOLDEN_FLOOR;
    const double w = worst_rel(got, want, n, floor_frac, &at);
    printf("  %-40s worst relative error %.3g (index %zu: %.9g vs %.9g)\n", label, w, at,
           (double)got[at], (double)want[at]);
    if (!(w <= tol))
        fail_msg("%s: relative error %.3g > %.3g at %zu (%.9g vs %.9g)", label, w, tol, at,
                 (double)got[at], (double)want[at]);
}

/* No Hugging Face cache but the fixture's own (triposr-tiny/hf_home),
 * which holds the ViT config the model's config names
 * (golden/dino-vit-tiny) and the model itself (golden/triposr-tiny). */
static __attribute__((unused)) void golden_use_fixture_cache(void)
{
    ln_env_set("HF_HUB_CACHE", NULL);
    ln_env_set("HUGGINGFACE_HUB_CACHE", NULL);
    ln_env_set("TRANSFORMERS_CACHE", NULL);
    ln_env_set("HF_HOME", ln_test_data("triposr-tiny/hf_home"));
}

/* The tiny model's config with the weight file `weights` (a path under
 * the test data). */
static __attribute__((unused)) void golden_files(const char *weights, struct ln_model_files *f)
{
    memset(f, 0, sizeof *f);
    snprintf(f->config, sizeof f->config, "%s", ln_test_data("triposr-tiny/config.yaml"));
    snprintf(f->weights, sizeof f->weights, "%s", ln_test_data(weights));
    snprintf(f->where, sizeof f->where, "tiny golden model");
}

/* The tiny model from model.ckpt (which 0) or model.safetensors (1); -1
 * with the reason on stderr where it does not load. */
static __attribute__((unused)) int golden_load(int which, struct ln_triposr **out)
{
    const char *w[2] = {"triposr-tiny/model.ckpt", "triposr-tiny/model.safetensors"};
    struct ln_model_files f;
    golden_files(w[which], &f);
    struct ln_error err = {0};
    if (ln_triposr_load(&f, out, &err) < 0) {
        fprintf(stderr, "loading %s: %s\n", w[which], err.message);
        return -1;
    }
    return 0;
}

#endif
