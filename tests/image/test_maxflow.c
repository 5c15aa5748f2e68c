/* Unit tests of the grid minimum cut (ln_maxflow.h) against an independent
 * answer: on small grids (up to 4 x 4 nodes, 2^16 labellings) every cut is
 * enumerated and the cheapest one's cost must equal the maximum flow plus
 * the constant part of the terminal capacities, and the solver's own
 * labelling must cost exactly that. Capacities are random, with zeros, hard
 * terminals and one-way arcs; a larger grid checks the labelling's cost
 * against the flow alone (the max-flow min-cut theorem). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_maxflow.h"

struct rng {
    uint64_t s;
};

static uint32_t rng_next(struct rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return (uint32_t)((r->s * 2685821657736338717ULL) >> 32);
}

/* Source and sink capacities of node i as the problem states them (before
 * the solver's shift to one signed value). */
struct problem {
    int w, h;
    int32_t *cap;
    int32_t *src, *snk;
};

/* Cost of the cut where label[i] = 1 means the source side. */
static int64_t cut_cost(const struct problem *p, const uint8_t *label)
{
    int64_t c = 0;
    for (int y = 0; y < p->h; y++)
        for (int x = 0; x < p->w; x++) {
            const size_t i = (size_t)y * p->w + x;
            c += label[i] ? p->snk[i] : p->src[i];
            if (!label[i])
                continue;
            for (int d = 0; d < 8; d++) {
                const int nx = x + ln_maxflow_dx[d], ny = y + ln_maxflow_dy[d];
                if (nx < 0 || ny < 0 || nx >= p->w || ny >= p->h)
                    continue;
                if (!label[(size_t)ny * p->w + nx])
                    c += p->cap[i * 8 + d];
            }
        }
    return c;
}

static void random_problem(struct problem *p, struct rng *r, int w, int h)
{
    const size_t n = (size_t)w * h;
    p->w = w, p->h = h;
    p->cap = calloc(n * 8, sizeof(int32_t));
    p->src = calloc(n, sizeof(int32_t));
    p->snk = calloc(n, sizeof(int32_t));
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const size_t i = (size_t)y * w + x;
            for (int d = 0; d < 8; d++) {
                const int nx = x + ln_maxflow_dx[d], ny = y + ln_maxflow_dy[d];
                if (nx < 0 || ny < 0 || nx >= w || ny >= h)
                    continue;
                /* A third of the arcs absent, so some are one-way. */
                const uint32_t v = rng_next(r) % 30;
                p->cap[i * 8 + d] = v < 10 ? 0 : (int32_t)v;
            }
            const uint32_t kind = rng_next(r) % 10;
            p->src[i] = kind < 3 ? (int32_t)(rng_next(r) % 60) : 0;
            p->snk[i] = kind >= 2 && kind < 6 ? (int32_t)(rng_next(r) % 60) : 0;
            if (kind == 9)
                p->src[i] = 1000; /* hard */
        }
}

static void free_problem(struct problem *p)
{
    free(p->cap);
    free(p->src);
    free(p->snk);
}

/* Loads p into g and solves; returns flow + the constant min(src, snk). */
static int64_t solve(const struct problem *p, struct ln_maxflow_grid *g)
{
    const size_t n = (size_t)p->w * p->h;
    ln_maxflow_grid_clear(g);
    memcpy(g->cap, p->cap, n * 8 * sizeof(int32_t));
    int64_t constant = 0;
    for (size_t i = 0; i < n; i++) {
        g->tr[i] = p->src[i] - p->snk[i];
        constant += p->src[i] < p->snk[i] ? p->src[i] : p->snk[i];
    }
    return ln_maxflow_grid_solve(g) + constant;
}

static void test_against_enumeration(void **state)
{
    struct rng r = {0x1234567ULL};
    int n_problems = 0;
    for (int h = 1; h <= 4; h++)
        for (int w = 1; w <= 4; w++)
            for (int rep = 0; rep < 25; rep++) {
                struct problem p;
                random_problem(&p, &r, w, h);
                struct ln_maxflow_grid g;
                assert_int_equal(ln_maxflow_grid_init(&g, w, h, NULL), 0);
                const int64_t flow = solve(&p, &g);
                const size_t n = (size_t)w * h;
                uint8_t label[16];
                int64_t best = INT64_MAX;
                for (uint32_t bits = 0; bits < (1u << n); bits++) {
                    for (size_t i = 0; i < n; i++)
                        label[i] = bits >> i & 1;
                    const int64_t c = cut_cost(&p, label);
                    best = c < best ? c : best;
                }
                for (size_t i = 0; i < n; i++)
                    label[i] = (uint8_t)ln_maxflow_grid_source_side(&g, i);
                if (flow != best || cut_cost(&p, label) != best)
                    fail_msg("%dx%d #%d: flow %lld, best cut %lld, solver's cut %lld", w, h, rep,
                             (long long)flow, (long long)best, (long long)cut_cost(&p, label));
                ln_maxflow_grid_free(&g);
                free_problem(&p);
                n_problems++;
            }
    printf("  %d problems agree with enumeration\n", n_problems);
}

/* 60 x 50: no enumeration, but the labelling's cost equals the flow (a cut
 * no cheaper than the flow exists only if the flow is maximal). */
static void test_larger_grid(void **state)
{
    struct rng r = {99};
    for (int rep = 0; rep < 5; rep++) {
        struct problem p;
        random_problem(&p, &r, 60, 50);
        struct ln_maxflow_grid g;
        assert_int_equal(ln_maxflow_grid_init(&g, 60, 50, NULL), 0);
        const int64_t flow = solve(&p, &g);
        uint8_t *label = malloc(60 * 50);
        for (size_t i = 0; i < 60 * 50; i++)
            label[i] = (uint8_t)ln_maxflow_grid_source_side(&g, i);
        assert_int_equal(cut_cost(&p, label), flow);
        free(label);
        ln_maxflow_grid_free(&g);
        free_problem(&p);
    }
}

static void test_bad_and_oom(void **state)
{
    struct ln_maxflow_grid g;
    struct ln_error err = {0};
    assert_int_equal(ln_maxflow_grid_init(&g, 0, 5, &err), LN_EINVAL);
    assert_int_equal(ln_maxflow_grid_init(&g, 1 << 15, 1 << 15, &err), LN_EINVAL);
    ln_alloc_fail_after(0);
    assert_int_equal(ln_maxflow_grid_init(&g, 8, 8, &err), 0);
    ln_maxflow_grid_free(&g);
    const long n_alloc = ln_alloc_fail_after(0);
    assert_true(n_alloc >= 1);
    for (long k = 1; k <= n_alloc; k++) {
        ln_alloc_fail_after(k);
        assert_int_equal(ln_maxflow_grid_init(&g, 8, 8, &err), LN_ENOMEM);
        assert_null(g.cap);
    }
    ln_alloc_fail_after(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_enumeration),
        cmocka_unit_test(test_larger_grid),
        cmocka_unit_test(test_bad_and_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
