/*
 * The sculpt engine's colour rasters (src/engines/sculpt.c): the colours of
 * a cut-out extended past its edge, ring by ring, checked against the
 * definition computed directly over the whole raster.
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "sculpt_internal.h"

/* The definition: straight colours where alpha > 1e-3; then, ring by ring,
 * every pixel still empty that has valid 8-neighbours (valid before the
 * ring) takes their mean, summed in row-major neighbour order; the pixels
 * left take the alpha-weighted mean colour of the valid ones. */
static void extend_reference(const float *prem, int m, int rings, float *rgb)
{
    size_t n = (size_t)m * (size_t)m;
    uint8_t *valid = calloc(n, 1), *grown = calloc(n, 1);
    assert_non_null(valid);
    assert_non_null(grown);
    double mean[3] = {0, 0, 0}, wsum = 0.0;
    for (size_t i = 0; i < n; i++) {
        float a = prem[4 * i + 3];
        valid[i] = a > 1e-3f;
        for (int c = 0; c < 3; c++) {
            rgb[3 * i + c] = valid[i] ? prem[4 * i + c] / a : 0.0f;
            if (valid[i])
                mean[c] += prem[4 * i + c];
        }
        if (valid[i])
            wsum += a;
    }
    for (int r = 0; r < rings; r++) {
        memset(grown, 0, n);
        for (int y = 0; y < m; y++)
            for (int x = 0; x < m; x++) {
                size_t i = (size_t)y * m + x;
                if (valid[i])
                    continue;
                float acc[3] = {0, 0, 0};
                int cnt = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        int xx = x + dx, yy = y + dy;
                        if (xx < 0 || yy < 0 || xx >= m || yy >= m)
                            continue;
                        size_t j = (size_t)yy * m + xx;
                        if (!valid[j])
                            continue;
                        for (int c = 0; c < 3; c++)
                            acc[c] += rgb[3 * j + c];
                        cnt++;
                    }
                if (!cnt)
                    continue;
                for (int c = 0; c < 3; c++)
                    rgb[3 * i + c] = acc[c] / (float)cnt;
                grown[i] = 1;
            }
        for (size_t i = 0; i < n; i++)
            valid[i] |= grown[i];
    }
    for (size_t i = 0; i < n; i++)
        if (!valid[i])
            for (int c = 0; c < 3; c++)
                rgb[3 * i + c] = (float)(wsum > 0.0 ? mean[c] / wsum : 0.5);
    free(valid);
    free(grown);
}

/* Premultiplied RGBA: a few discs of colour (hard and soft edges), one
 * touching the raster's border, the rest empty. */
static float *make_cutout(int m, int discs)
{
    float *p = calloc((size_t)m * m * 4, sizeof(float));
    assert_non_null(p);
    uint32_t rng = 4242;
    for (int d = 0; d < discs; d++) {
        rng = rng * 1664525u + 1013904223u;
        float cx = d == 0 ? 0.0f : (float)((rng >> 8) % (unsigned)m);
        float cy = (float)((rng >> 16) % (unsigned)m), r = 2.0f + (float)(rng % 9u);
        for (int y = 0; y < m; y++)
            for (int x = 0; x < m; x++) {
                float dist = sqrtf((x - cx) * (x - cx) + (y - cy) * (y - cy));
                float a = d % 2 ? (dist < r ? 1.0f : 0.0f) : fminf(1.0f, fmaxf(0.0f, r - dist));
                if (a <= 0.0f)
                    continue;
                float *q = p + 4 * ((size_t)y * m + x);
                q[0] = a * (float)(x % 7) / 7.0f;
                q[1] = a * (float)(y % 5) / 5.0f;
                q[2] = a * (float)d / (float)discs;
                q[3] = a;
            }
    }
    return p;
}

static void test_extend_matches_definition(void **state)
{
    (void)state;
    const int sides[3] = {1, 37, 160};
    const int rings[4] = {0, 1, 4, 16};
    for (int s = 0; s < 3; s++)
        for (int r = 0; r < 4; r++) {
            int m = sides[s];
            float *prem = make_cutout(m, m < 8 ? 1 : 9);
            float *want = malloc((size_t)m * m * 3 * sizeof(float));
            float *got = malloc((size_t)m * m * 3 * sizeof(float));
            assert_non_null(want);
            assert_non_null(got);
            extend_reference(prem, m, rings[r], want);
            struct ln_error err = {0};
            assert_ok(ln__sculpt_colour_extend(prem, m, rings[r], got, &err), err);
            assert_memory_equal(got, want, (size_t)m * m * 3 * sizeof(float));
            free(prem);
            free(want);
            free(got);
        }
}

/* Nothing valid: every pixel takes the neutral grey. */
static void test_extend_empty(void **state)
{
    (void)state;
    float prem[4 * 16] = {0}, rgb[3 * 16];
    struct ln_error err = {0};
    assert_ok(ln__sculpt_colour_extend(prem, 4, 3, rgb, &err), err);
    for (int i = 0; i < 3 * 16; i++)
        assert_true(rgb[i] == 0.5f);
}

static void test_extend_out_of_memory(void **state)
{
    (void)state;
    float *prem = make_cutout(37, 9);
    float rgb[37 * 37 * 3];
    struct ln_error err = {0};
    for (int k = 1; k <= 3; k++) {
        ln_alloc_fail_after(k);
        assert_int_equal(ln__sculpt_colour_extend(prem, 37, 4, rgb, &err), LN_ENOMEM);
        ln_alloc_fail_after(0);
    }
    free(prem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_extend_matches_definition),
        cmocka_unit_test(test_extend_empty),
        cmocka_unit_test(test_extend_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
