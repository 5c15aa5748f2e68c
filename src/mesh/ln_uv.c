/*
 * The UV atlas (ln_uv.h), in five steps, each a function below:
 *
 *   1. ln__uv_faces:  every face's normal, area and box direction, and its
 *      neighbour across each edge (manifold edges only: an edge with one or
 *      more than two faces is a border);
 *   2. ln__uv_smooth: two passes that give a face the direction most of its
 *      neighbours have, when its normal is within 60 degrees of it (marching
 *      cubes' staircase otherwise leaves single faces as charts); after a
 *      first growth, small charts join a neighbouring direction the same
 *      way (ln__uv_absorb_small), their faces are freed and the charts
 *      beside them grow on (ln__uv_regrow);
 *   3. ln__uv_grow:   charts grown breadth-first from the lowest free face
 *      over edges to faces of the same direction, each new face first
 *      checked against the chart's projected faces (a hashed grid of cells
 *      about two edges wide) so that no chart folds over itself;
 *   4. ln__uv_cut:    charts too long for a square atlas cut across;
 *      ln__uv_pack:   each chart's bounding rectangle, turned to lie wide,
 *      tallest first, on shelves or on a skyline (the outline of the
 *      charts placed so far, each where it leaves the least area empty
 *      under it; up to LN__SKYLINE_MAX_CHARTS charts), whichever reaches
 *      the larger scale, each scale found by bisection (the padding is in
 *      texels, so it does not scale);
 *   5. ln__uv_emit:   one output vertex per (input vertex, chart) pair, the
 *      projected coordinates placed in the atlas, and the statistics.
 *
 * Charts of the six directions grow at the same time, a direction on one
 * thread at a time (ln__uv_grow_free); everything else is sequential, and
 * all is ordered by face and chart numbers, so the result depends only on
 * the input, not on the thread count. Every large array is allocated up
 * front or grown with a checked realloc; on failure all is freed.
 */
#include "ln_uv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_mesh_util.h"
#include "ln_threads.h"

#define LN__NONE UINT32_MAX
/* cos 60 degrees: smoothing never gives a face a direction further away. */
#define LN__SMOOTH_MIN_DOT 0.5
#define LN__BIG_CELLS 256
/* Charts of fewer faces are offered to a neighbouring direction, which
 * takes them when all their faces are within 70 degrees of it (at most a
 * threefold stretch: a simplified surface's few large, tilted faces would
 * otherwise stay charts of their own). */
#define LN__SMALL_CHART 24
#define LN__ABSORB_MIN_DOT 0.34
/* Up to this many charts the skyline is tried beside the shelves (its
 * outline can grow with the charts, so its time grows with their square:
 * 0.1 s for 1 000 scattered triangles, 1.8 s for 4 000); beyond, shelves
 * alone (linear time). */
#define LN__SKYLINE_MAX_CHARTS 1024

/* The six box directions and the axes (s, t) of their planes, with
 * s x t = direction, so a face seen from outside stays counter-clockwise. */
static const double ln__dir[6][3] = {{1, 0, 0}, {-1, 0, 0}, {0, 1, 0},
                                     {0, -1, 0}, {0, 0, 1}, {0, 0, -1}};
static const double ln__s[6][3] = {{0, 0, -1}, {0, 0, 1}, {1, 0, 0},
                                   {1, 0, 0},  {1, 0, 0}, {-1, 0, 0}};
static const double ln__t[6][3] = {{0, 1, 0}, {0, 1, 0}, {0, 0, -1},
                                   {0, 0, 1}, {0, 1, 0}, {0, 1, 0}};

void ln_uv_options_default(struct ln_uv_options *opt, int texture_size)
{
    opt->texture_size = texture_size;
    opt->padding = texture_size / 256 > 2 ? texture_size / 256 : 2;
}

/* The overlap grid of a chart being grown: open addressing from a cell to
 * the head of its list of faces. One per box direction: the directions'
 * charts grow at the same time (ln__uv_grow_free), each direction always
 * in its own grid, so what a grid allocates as it grows does not depend on
 * which thread took which direction (the out-of-memory tests fail every
 * allocation in turn and need the same allocations in every run). */
struct ln__uv_grid {
    uint64_t *slot_key;
    uint32_t *slot_head;
    size_t slot_cap;
    uint32_t *used_slots;
    size_t n_used;
    uint32_t *node_face, *node_next;
    size_t n_nodes, node_cap;
    uint32_t *seen; /* per face: the query that last tested it */
    uint32_t query;
    /* faces covering more than LN__BIG_CELLS cells are kept out of the grid:
     * checked against every query, and checked against the whole chart */
    uint32_t *big;
    size_t n_big;
    const uint32_t *cur; /* the growing chart's faces in order: cur[cur_start .. cur_end) */
    size_t cur_start, cur_end;
};

struct ln__uv {
    const struct ln_mesh *in;
    size_t nf, nv;
    double *normal;    /* 3 per face, unit (zero for a degenerate face) */
    double *area;      /* per face */
    uint8_t *label;    /* per face: box direction 0..5 */
    uint32_t *adj;     /* 3 per face: the face across edge (i, i + 1), or NONE */
    float *proj;       /* 6 per face: (s, t) of its corners in its label's plane */
    uint32_t *chart;   /* per face */
    uint32_t *order;   /* faces grouped by chart, in the order they joined */
    size_t *chart_start; /* n_charts + 1 offsets into order */
    size_t n_charts;
    double cell;       /* overlap grid cell side, metres */
    struct ln__uv_grid grid[6]; /* one per direction */
    /* packing */
    double *rect;     /* 4 per chart: s_min, t_min, width, height (before turning) */
    uint8_t *turned;  /* per chart */
    double *place;    /* 2 per chart: atlas corner (u, v) */
    double scale;     /* uv units per metre */
};

/* ---- 1. faces: normals, directions, neighbours ---- */

static void ln__uv_normals(struct ln__uv *u)
{
    const float *p = u->in->positions;
    const uint32_t *idx = u->in->indices;
    for (size_t f = 0; f < u->nf; f++) {
        const float *a = p + 3 * (size_t)idx[3 * f], *b = p + 3 * (size_t)idx[3 * f + 1],
                    *c = p + 3 * (size_t)idx[3 * f + 2];
        double e1[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
        double e2[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
        double n[3] = {e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2],
                       e1[0] * e2[1] - e1[1] * e2[0]};
        double len = sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
        double *out = u->normal + 3 * f;
        int best = 0;
        double best_dot = -2.0;
        for (int a3 = 0; a3 < 3; a3++)
            out[a3] = len > 0.0 ? n[a3] / len : 0.0;
        for (int d = 0; d < 6; d++) {
            double dot = out[0] * ln__dir[d][0] + out[1] * ln__dir[d][1] + out[2] * ln__dir[d][2];
            if (dot > best_dot) {
                best_dot = dot;
                best = d;
            }
        }
        u->area[f] = 0.5 * len;
        u->label[f] = (uint8_t)best;
    }
}

/* Neighbours across edges: half-edges bucketed by their lower vertex, then
 * sorted by the upper one inside the (short) bucket. A pair of opposite
 * half-edges alone on an edge makes two faces neighbours. */
static int ln__uv_neighbours(struct ln__uv *u, struct ln_error *err)
{
    const uint32_t *idx = u->in->indices;
    size_t nh = 3 * u->nf;
    size_t *off = ln_alloc_array(u->nv + 1, sizeof *off, 1, "UV atlas edges", err);
    uint32_t *he = ln_alloc_array(nh, sizeof *he, 0, "UV atlas edges", err);
    if (!off || !he) {
        free(off);
        free(he);
        return err ? err->code : LN_ENOMEM;
    }
    for (size_t h = 0; h < nh; h++) {
        uint32_t a = idx[h], b = idx[h - h % 3 + (h % 3 + 1) % 3];
        off[(a < b ? a : b) + 1]++;
    }
    for (size_t v = 0; v < u->nv; v++)
        off[v + 1] += off[v];
    for (size_t h = 0; h < nh; h++) {
        uint32_t a = idx[h], b = idx[h - h % 3 + (h % 3 + 1) % 3];
        he[off[a < b ? a : b]++] = (uint32_t)h;
    }
    for (size_t v = u->nv; v > 0; v--)
        off[v] = off[v - 1];
    off[0] = 0;
    for (size_t h = 0; h < nh; h++)
        u->adj[h] = LN__NONE;
    for (size_t v = 0; v < u->nv; v++) {
        uint32_t *bk = he + off[v];
        size_t n = off[v + 1] - off[v];
        /* insertion sort by (upper vertex, half-edge) */
        for (size_t i = 1; i < n; i++) {
            uint32_t x = bk[i];
            uint32_t xa = idx[x], xb = idx[x - x % 3 + (x % 3 + 1) % 3];
            uint32_t xk = xa > xb ? xa : xb;
            size_t j = i;
            for (; j > 0; j--) {
                uint32_t y = bk[j - 1];
                uint32_t ya = idx[y], yb = idx[y - y % 3 + (y % 3 + 1) % 3];
                uint32_t yk = ya > yb ? ya : yb;
                if (yk < xk || (yk == xk && y < x))
                    break;
                bk[j] = y;
            }
            bk[j] = x;
        }
        for (size_t i = 0; i < n;) {
            uint32_t x = bk[i];
            uint32_t xa = idx[x], xb = idx[x - x % 3 + (x % 3 + 1) % 3];
            uint32_t xk = xa > xb ? xa : xb;
            size_t j = i + 1;
            while (j < n) {
                uint32_t y = bk[j];
                uint32_t ya = idx[y], yb = idx[y - y % 3 + (y % 3 + 1) % 3];
                if ((ya > yb ? ya : yb) != xk)
                    break;
                j++;
            }
            if (j - i == 2) {
                uint32_t y = bk[i + 1];
                if (idx[x] == idx[y - y % 3 + (y % 3 + 1) % 3] && x / 3 != y / 3) {
                    u->adj[x] = y / 3;
                    u->adj[y] = x / 3;
                }
            }
            i = j;
        }
    }
    free(off);
    free(he);
    return LN_OK;
}

static int ln__uv_faces(struct ln__uv *u, struct ln_error *err)
{
    ln__uv_normals(u);
    return ln__uv_neighbours(u, err);
}

/* ---- 2. smoothing the directions ---- */

static double ln__uv_dot(const struct ln__uv *u, size_t f, int d)
{
    const double *n = u->normal + 3 * f;
    return n[0] * ln__dir[d][0] + n[1] * ln__dir[d][1] + n[2] * ln__dir[d][2];
}

/* Jacobi passes (each reads the previous labels only, so face order does
 * not matter): a face whose neighbours agree, two or three of them, on
 * another direction takes it when its normal allows. A degenerate face
 * (no normal) takes its neighbours' direction whatever it is. */
static void ln__uv_smooth(struct ln__uv *u, uint8_t *next)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t f = 0; f < u->nf; f++) {
            int count[6] = {0};
            for (int e = 0; e < 3; e++) {
                uint32_t g = u->adj[3 * f + (size_t)e];
                if (g != LN__NONE)
                    count[u->label[g]]++;
            }
            next[f] = u->label[f];
            int degenerate = u->area[f] == 0.0;
            for (int d = 0; d < 6; d++)
                if (d != u->label[f] && count[d] >= (degenerate ? 1 : 2) &&
                    count[d] > count[u->label[f]] &&
                    (degenerate || ln__uv_dot(u, f, d) >= LN__SMOOTH_MIN_DOT)) {
                    next[f] = (uint8_t)d;
                    break;
                }
        }
        memcpy(u->label, next, u->nf);
    }
}

/* ---- 3. growing charts ---- */

static void ln__uv_project(struct ln__uv *u)
{
    const float *p = u->in->positions;
    const uint32_t *idx = u->in->indices;
    for (size_t f = 0; f < u->nf; f++) {
        int d = u->label[f];
        for (int k = 0; k < 3; k++) {
            const float *q = p + 3 * (size_t)idx[3 * f + (size_t)k];
            u->proj[6 * f + 2 * (size_t)k] =
                (float)(q[0] * ln__s[d][0] + q[1] * ln__s[d][1] + q[2] * ln__s[d][2]);
            u->proj[6 * f + 2 * (size_t)k + 1] =
                (float)(q[0] * ln__t[d][0] + q[1] * ln__t[d][1] + q[2] * ln__t[d][2]);
        }
    }
}

/* Whether two projected triangles overlap by more than a sliver: no edge
 * normal of either separates them (touching along a shared edge or corner
 * counts as separate). A triangle without area overlaps nothing. */
static int ln__uv_overlap(const float *a, const float *b, double eps)
{
    /* Boxes apart: the triangles are too (then some edge normal separates
     * them, which is what the test below would find, only slower). */
    for (int ax = 0; ax < 2; ax++) {
        float alo = fminf(a[ax], fminf(a[2 + ax], a[4 + ax]));
        float ahi = fmaxf(a[ax], fmaxf(a[2 + ax], a[4 + ax]));
        float blo = fminf(b[ax], fminf(b[2 + ax], b[4 + ax]));
        float bhi = fmaxf(b[ax], fmaxf(b[2 + ax], b[4 + ax]));
        if (ahi < blo || bhi < alo)
            return 0;
    }
    const float *tri[2] = {a, b};
    for (int t = 0; t < 2; t++) {
        const float *p = tri[t];
        for (int e = 0; e < 3; e++) {
            double ax = -(double)(p[2 * ((e + 1) % 3) + 1] - p[2 * e + 1]);
            double ay = (double)(p[2 * ((e + 1) % 3)] - p[2 * e]);
            double len2 = ax * ax + ay * ay;
            if (len2 == 0.0)
                return 0;
            /* projections onto the unnormalised axis: eps scales with it */
            double lo[2], hi[2], tol = eps * sqrt(len2);
            for (int s = 0; s < 2; s++) {
                lo[s] = INFINITY;
                hi[s] = -INFINITY;
                for (int k = 0; k < 3; k++) {
                    double v = ax * tri[s][2 * k] + ay * tri[s][2 * k + 1];
                    lo[s] = v < lo[s] ? v : lo[s];
                    hi[s] = v > hi[s] ? v : hi[s];
                }
            }
            if (hi[0] <= lo[1] + tol || hi[1] <= lo[0] + tol)
                return 0;
        }
    }
    return 1;
}

/* A cell's key: x in the high half, y in the low half (cells further than
 * 2^31 apart may share a key, which only adds faces to a list). */
static uint64_t ln__uv_key(int64_t x, int64_t y)
{
    return (uint64_t)x << 32 ^ (uint64_t)(uint32_t)y;
}

static uint64_t ln__uv_hash(uint64_t key)
{
    uint64_t h = key * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}

/* The cells a projected triangle's bounding box covers. */
static void ln__uv_box(const struct ln__uv *u, const float *t, int64_t box[4])
{
    double lo[2] = {t[0], t[1]}, hi[2] = {t[0], t[1]};
    for (int k = 1; k < 3; k++)
        for (int a = 0; a < 2; a++) {
            lo[a] = t[2 * k + a] < lo[a] ? t[2 * k + a] : lo[a];
            hi[a] = t[2 * k + a] > hi[a] ? t[2 * k + a] : hi[a];
        }
    for (int a = 0; a < 2; a++) {
        box[a] = (int64_t)floor(lo[a] / u->cell);
        box[2 + a] = (int64_t)floor(hi[a] / u->cell);
    }
}

static size_t ln__uv_slot(struct ln__uv_grid *u, int64_t key_x, int64_t key_y, int insert)
{
    uint64_t key = ln__uv_key(key_x, key_y);
    size_t mask = u->slot_cap - 1;
    size_t s = (size_t)ln__uv_hash(key) & mask;
    while (u->slot_head[s] != LN__NONE) {
        if (u->slot_key[s] == key)
            return s;
        s = (s + 1) & mask;
    }
    if (!insert)
        return SIZE_MAX;
    u->slot_key[s] = key;
    u->used_slots[u->n_used++] = (uint32_t)s;
    return s;
}

static size_t ln__uv_cells(const int64_t box[4])
{
    return (size_t)(box[2] - box[0] + 1) * (size_t)(box[3] - box[1] + 1);
}

/* Whether face g, projected, overlaps a face of the growing chart: through
 * the grid's cells under it and the big faces, or, for a big face itself,
 * against every face of the chart. */
static int ln__uv_collides(const struct ln__uv *uv, struct ln__uv_grid *u, size_t g)
{
    const float *t = uv->proj + 6 * g;
    int64_t box[4];
    ln__uv_box(uv, t, box);
    double eps = 1e-6 * uv->cell;
    if (ln__uv_cells(box) > LN__BIG_CELLS) {
        for (size_t i = u->cur_start; i < u->cur_end; i++)
            if (ln__uv_overlap(t, uv->proj + 6 * (size_t)u->cur[i], eps))
                return 1;
        return 0;
    }
    for (size_t i = 0; i < u->n_big; i++)
        if (ln__uv_overlap(t, uv->proj + 6 * (size_t)u->big[i], eps))
            return 1;
    u->query++;
    for (int64_t y = box[1]; y <= box[3]; y++)
        for (int64_t x = box[0]; x <= box[2]; x++) {
            size_t s = ln__uv_slot(u, x, y, 0);
            if (s == SIZE_MAX)
                continue;
            for (uint32_t nd = u->slot_head[s]; nd != LN__NONE; nd = u->node_next[nd]) {
                uint32_t h = u->node_face[nd];
                if (u->seen[h] == u->query)
                    continue;
                u->seen[h] = u->query;
                if (ln__uv_overlap(t, uv->proj + 6 * (size_t)h, eps))
                    return 1;
            }
        }
    return 0;
}

static int ln__uv_insert(const struct ln__uv *uv, struct ln__uv_grid *u, size_t g,
                         struct ln_error *err)
{
    int64_t box[4];
    ln__uv_box(uv, uv->proj + 6 * g, box);
    size_t cells = ln__uv_cells(box);
    if (cells > LN__BIG_CELLS) {
        u->big[u->n_big++] = (uint32_t)g;
        return LN_OK;
    }
    if (u->n_nodes + cells > u->node_cap) {
        size_t cap = (u->node_cap + cells) * 2;
        uint32_t *f = ln_realloc(u->node_face, cap * sizeof *f);
        if (f)
            u->node_face = f;
        uint32_t *n = f ? ln_realloc(u->node_next, cap * sizeof *n) : NULL;
        if (!f || !n)
            return ln_error_set(err, LN_ENOMEM, "out of memory for the UV atlas's overlap grid");
        u->node_next = n;
        u->node_cap = cap;
    }
    /* The table holds at most half its slots: grow it (rehash) first. */
    if (2 * (u->n_used + cells) > u->slot_cap) {
        size_t cap = u->slot_cap * 2;
        while (2 * (u->n_used + cells) > cap)
            cap *= 2;
        uint64_t *key = ln_alloc_array(cap, sizeof *key, 0, "UV atlas overlap grid", err);
        uint32_t *head = ln_alloc_array(cap, sizeof *head, 0, "UV atlas overlap grid", err);
        uint32_t *used = ln_alloc_array(cap / 2 + 1, sizeof *used, 0, "UV atlas overlap grid", err);
        if (!key || !head || !used) {
            free(key);
            free(head);
            free(used);
            return err ? err->code : LN_ENOMEM;
        }
        for (size_t s = 0; s < cap; s++)
            head[s] = LN__NONE;
        size_t n_used = 0;
        for (size_t i = 0; i < u->n_used; i++) {
            size_t old = u->used_slots[i];
            uint64_t k = u->slot_key[old];
            size_t s = (size_t)ln__uv_hash(k) & (cap - 1);
            while (head[s] != LN__NONE)
                s = (s + 1) & (cap - 1);
            key[s] = k;
            head[s] = u->slot_head[old];
            used[n_used++] = (uint32_t)s;
        }
        free(u->slot_key);
        free(u->slot_head);
        free(u->used_slots);
        u->slot_key = key;
        u->slot_head = head;
        u->used_slots = used;
        u->slot_cap = cap;
    }
    for (int64_t y = box[1]; y <= box[3]; y++)
        for (int64_t x = box[0]; x <= box[2]; x++) {
            size_t s = ln__uv_slot(u, x, y, 1);
            uint32_t nd = (uint32_t)u->n_nodes++;
            u->node_face[nd] = (uint32_t)g;
            u->node_next[nd] = u->slot_head[s];
            u->slot_head[s] = nd;
        }
    return LN_OK;
}

static void ln__uv_grid_clear(struct ln__uv_grid *u)
{
    for (size_t i = 0; i < u->n_used; i++)
        u->slot_head[u->used_slots[i]] = LN__NONE;
    u->n_used = 0;
    u->n_nodes = 0;
    u->n_big = 0;
}

/* Projects every face onto its direction's plane and sizes the overlap
 * grid's cells: twice the mean edge, so a typical face touches 1 to 4. */
static void ln__uv_setup(struct ln__uv *u)
{
    ln__uv_project(u);
    double edges = 0.0;
    for (size_t f = 0; f < u->nf; f++)
        edges += sqrt(u->area[f] * 4.0 / sqrt(3.0));
    u->cell = 2.0 * edges / (double)u->nf;
    if (!(u->cell > 0.0))
        u->cell = 1.0;
}

/* Grows chart c, whose faces are u->order[b .. *n_order) and already in
 * the overlap grid, breadth-first over edges to free faces of its
 * direction d that overlap none of its faces (its faces are its own
 * queue); clears the grid after. */
static int ln__uv_flood(struct ln__uv *u, struct ln__uv_grid *grid, uint32_t *order, uint32_t c,
                        int d, size_t b, size_t *n_order, struct ln_error *err)
{
    int rc = LN_OK;
    grid->cur = order;
    grid->cur_start = b;
    for (size_t q = b; rc == LN_OK && q < *n_order; q++) {
        size_t f = order[q];
        for (int e = 0; e < 3 && rc == LN_OK; e++) {
            uint32_t g = u->adj[3 * f + (size_t)e];
            grid->cur_end = *n_order;
            /* the label first: only this direction's faces are this
             * thread's to read and write (ln__uv_grow) */
            if (g == LN__NONE || u->label[g] != d || u->chart[g] != LN__NONE ||
                ln__uv_collides(u, grid, g))
                continue;
            u->chart[g] = c;
            order[(*n_order)++] = g;
            rc = ln__uv_insert(u, grid, g, err);
        }
    }
    ln__uv_grid_clear(grid);
    return rc;
}

/* One direction's new charts (ln__uv_grow_free): their faces by chart in
 * order[0 .. n_order), chart k's from start[k]; numbered 0.. here, so
 * u->chart holds these local numbers for them until the merge. */
struct ln__uv_dir {
    uint32_t *order;
    size_t *start;
    size_t n_order, n_charts;
    int rc;
    struct ln_error err;
};

struct ln__uv_grow_ctx {
    struct ln__uv *u;
    struct ln__uv_dir dir[6];
    int by_size[6]; /* the directions, most free faces first */
};

/* Grows direction d's charts from its free faces, lowest face first: on
 * one thread, with that thread's grid. Charts of one direction hold only
 * faces of that label, so the directions never touch each other's faces:
 * each direction's charts are what growing every direction in turn would
 * make. */
static void ln__uv_grow_body(void *ctx, size_t begin, size_t end, int thread)
{
    struct ln__uv_grow_ctx *g = ctx;
    struct ln__uv *u = g->u;
    (void)thread;
    for (size_t i = begin; i < end; i++) {
        int d = g->by_size[i];
        struct ln__uv_grid *grid = &u->grid[d];
        struct ln__uv_dir *r = &g->dir[d];
        for (size_t seed = 0; seed < u->nf && r->rc == LN_OK; seed++) {
            if (u->label[seed] != d || u->chart[seed] != LN__NONE)
                continue;
            uint32_t c = (uint32_t)r->n_charts++;
            r->start[c] = r->n_order;
            u->chart[seed] = c;
            r->order[r->n_order++] = (uint32_t)seed;
            r->rc = ln__uv_insert(u, grid, seed, &r->err);
            if (r->rc == LN_OK)
                r->rc = ln__uv_flood(u, grid, r->order, c, d, r->start[c], &r->n_order, &r->err);
            else
                ln__uv_grid_clear(grid);
        }
        r->start[r->n_charts] = r->n_order;
    }
}

/* Grows new charts, after the u->n_charts there are, from every face not
 * in a chart yet, lowest face first: the six directions at the same time
 * (ln__uv_grow_body), then their charts numbered by their first faces in
 * face order, which is the order growing them one after another from the
 * lowest free face gives. */
static int ln__uv_grow_free(struct ln__uv *u, struct ln_error *err)
{
    size_t count[6] = {0}, n_free = 0;
    for (size_t f = 0; f < u->nf; f++)
        if (u->chart[f] == LN__NONE) {
            count[u->label[f]]++;
            n_free++;
        }
    uint32_t *order = ln_alloc_array(n_free ? n_free : 1, sizeof *order, 0, "UV atlas charts", err);
    size_t *start = ln_alloc_array(n_free + 6, sizeof *start, 0, "UV atlas charts", err);
    if (!order || !start) {
        free(order);
        free(start);
        return err ? err->code : LN_ENOMEM;
    }
    struct ln__uv_grow_ctx g = {.u = u};
    size_t off = 0;
    for (int d = 0; d < 6; d++) {
        g.dir[d] = (struct ln__uv_dir){.order = order + off, .start = start + off + (size_t)d};
        off += count[d];
        g.by_size[d] = d;
    }
    /* insertion sort of six: the largest directions start first */
    for (int i = 1; i < 6; i++)
        for (int j = i; j > 0 && count[g.by_size[j]] > count[g.by_size[j - 1]]; j--) {
            int t = g.by_size[j];
            g.by_size[j] = g.by_size[j - 1];
            g.by_size[j - 1] = t;
        }
    ln_parallel_for(6, 1, ln__uv_grow_body, &g);
    int rc = LN_OK;
    for (int d = 0; d < 6 && rc == LN_OK; d++)
        if (g.dir[d].rc < 0) {
            rc = g.dir[d].rc;
            if (err)
                *err = g.dir[d].err;
        }
    /* the merge: always the direction whose next chart has the lowest first face */
    size_t next[6] = {0}, n_order = u->chart_start[u->n_charts];
    while (rc == LN_OK) {
        int best = -1;
        uint32_t best_seed = 0;
        for (int d = 0; d < 6; d++) {
            const struct ln__uv_dir *r = &g.dir[d];
            if (next[d] == r->n_charts)
                continue;
            uint32_t seed = r->order[r->start[next[d]]];
            if (best < 0 || seed < best_seed) {
                best = d;
                best_seed = seed;
            }
        }
        if (best < 0)
            break;
        const struct ln__uv_dir *r = &g.dir[best];
        size_t k = next[best]++;
        uint32_t c = (uint32_t)u->n_charts++;
        u->chart_start[c] = n_order;
        for (size_t i = r->start[k]; i < r->start[k + 1]; i++) {
            u->chart[r->order[i]] = c;
            u->order[n_order++] = r->order[i];
        }
    }
    u->chart_start[u->n_charts] = n_order;
    free(order);
    free(start);
    return rc;
}

static int ln__uv_grow(struct ln__uv *u, struct ln_error *err)
{
    ln__uv_setup(u);
    for (size_t f = 0; f < u->nf; f++)
        u->chart[f] = LN__NONE;
    u->n_charts = 0;
    u->chart_start[0] = 0;
    return ln__uv_grow_free(u, err);
}

/* After small charts changed direction (dirty[c] == 2) their faces are
 * free again; the charts beside them (dirty[c] == 1) grow on from their
 * faces, in chart order, taking what they reach without folding; the
 * other charts keep their faces; the faces left grow new charts. The
 * charts are then numbered by their first faces in face order. */
static int ln__uv_regrow(struct ln__uv *u, const uint8_t *dirty, struct ln_error *err)
{
    uint32_t *num = ln_alloc_array(u->nf, sizeof *num, 0, "UV atlas charts", err);
    uint32_t *order = ln_alloc_array(u->nf, sizeof *order, 0, "UV atlas charts", err);
    size_t *start = ln_alloc_array(u->nf + 1, sizeof *start, 0, "UV atlas charts", err);
    if (!num || !order || !start) {
        free(num);
        free(order);
        free(start);
        return err ? err->code : LN_ENOMEM;
    }
    ln__uv_project(u);
    size_t n_old = u->n_charts;
    memcpy(order, u->order, u->nf * sizeof *order);
    memcpy(start, u->chart_start, (n_old + 1) * sizeof *start);
    for (size_t c = 0; c < n_old; c++)
        if (dirty[c] == 2)
            for (size_t i = start[c]; i < start[c + 1]; i++)
                u->chart[order[i]] = LN__NONE;
    size_t kept = 0, n_order = 0;
    int rc = LN_OK;
    for (size_t c = 0; c < n_old && rc == LN_OK; c++) {
        if (dirty[c] == 2)
            continue;
        size_t b = n_order;
        u->chart_start[kept] = b;
        for (size_t i = start[c]; i < start[c + 1]; i++) {
            u->chart[order[i]] = (uint32_t)kept;
            u->order[n_order++] = order[i];
        }
        if (dirty[c] == 1) {
            struct ln__uv_grid *grid = &u->grid[0];
            for (size_t i = b; i < n_order && rc == LN_OK; i++)
                rc = ln__uv_insert(u, grid, u->order[i], err);
            if (rc == LN_OK)
                rc = ln__uv_flood(u, grid, u->order, (uint32_t)kept, u->label[u->order[b]], b,
                                  &n_order, err);
            else
                ln__uv_grid_clear(grid);
        }
        kept++;
    }
    u->n_charts = kept;
    u->chart_start[kept] = n_order;
    if (rc == LN_OK)
        rc = ln__uv_grow_free(u, err);
    if (rc == LN_OK) {
        /* number the charts by their first faces, in face order */
        size_t next = 0;
        for (size_t f = 0; f < u->nf; f++) {
            uint32_t c = u->chart[f];
            if (u->order[u->chart_start[c]] == f)
                num[c] = (uint32_t)next++;
        }
        for (size_t c = 0; c < u->n_charts; c++)
            start[num[c] + 1] = u->chart_start[c + 1] - u->chart_start[c];
        start[0] = 0;
        for (size_t c = 0; c < u->n_charts; c++)
            start[c + 1] += start[c];
        for (size_t c = 0; c < u->n_charts; c++) {
            size_t b = u->chart_start[c], e = u->chart_start[c + 1];
            memcpy(order + start[num[c]], u->order + b, (e - b) * sizeof *order);
        }
        memcpy(u->order, order, u->nf * sizeof *order);
        memcpy(u->chart_start, start, (u->n_charts + 1) * sizeof *start);
        for (size_t f = 0; f < u->nf; f++)
            u->chart[f] = num[u->chart[f]];
    }
    free(num);
    free(order);
    free(start);
    return rc;
}

/* Small charts (fewer than LN__SMALL_CHART faces: bumps and folds of a
 * noisy surface) take a direction of their neighbouring faces across the
 * chart's border, the most often seen first, the first that every face of
 * the chart is within 70 degrees of, and the charts beside them grow on
 * (with the same overlap check, so nothing folds). Charts in number
 * order, each reading the directions as the earlier ones left them. Returns whether any changed;
 * dirty (per chart) is 2 for the charts changed, 1 for their neighbours. */
static int ln__uv_absorb_small(struct ln__uv *u, uint8_t *dirty)
{
    int changed = 0;
    memset(dirty, 0, u->n_charts);
    for (size_t c = 0; c < u->n_charts; c++) {
        size_t b = u->chart_start[c], e = u->chart_start[c + 1];
        if (e - b >= LN__SMALL_CHART)
            continue;
        int count[6] = {0};
        int own = u->label[u->order[b]];
        for (size_t i = b; i < e; i++)
            for (int k = 0; k < 3; k++) {
                uint32_t g = u->adj[3 * (size_t)u->order[i] + (size_t)k];
                if (g != LN__NONE && u->chart[g] != c)
                    count[u->label[g]]++;
            }
        /* the neighbouring directions, most shared edges first (then the
         * lower number): the first that all faces fit */
        int best = -1, tried = 0;
        while (best < 0) {
            int d_max = -1;
            for (int d = 0; d < 6; d++)
                if (d != own && count[d] > 0 && !(tried & 1 << d) &&
                    (d_max < 0 || count[d] > count[d_max]))
                    d_max = d;
            if (d_max < 0)
                break;
            tried |= 1 << d_max;
            int fits = 1;
            for (size_t i = b; i < e && fits; i++) {
                size_t f = u->order[i];
                fits = u->area[f] == 0.0 || ln__uv_dot(u, f, d_max) >= LN__ABSORB_MIN_DOT;
            }
            if (fits)
                best = d_max;
        }
        if (best < 0)
            continue;
        /* this chart's faces are free again, the charts beside it grow on */
        dirty[c] = 2;
        for (size_t i = b; i < e; i++) {
            u->label[u->order[i]] = (uint8_t)best;
            for (int k = 0; k < 3; k++) {
                uint32_t g = u->adj[3 * (size_t)u->order[i] + (size_t)k];
                if (g != LN__NONE && dirty[u->chart[g]] == 0)
                    dirty[u->chart[g]] = 1;
            }
        }
        changed = 1;
    }
    return changed;
}

/* ---- 4. packing ---- */

static void ln__uv_rects(struct ln__uv *u)
{
    for (size_t c = 0; c < u->n_charts; c++) {
        double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
        for (size_t i = u->chart_start[c]; i < u->chart_start[c + 1]; i++) {
            const float *t = u->proj + 6 * (size_t)u->order[i];
            for (int k = 0; k < 3; k++)
                for (int a = 0; a < 2; a++) {
                    lo[a] = t[2 * k + a] < lo[a] ? t[2 * k + a] : lo[a];
                    hi[a] = t[2 * k + a] > hi[a] ? t[2 * k + a] : hi[a];
                }
        }
        double *r = u->rect + 4 * c;
        r[0] = lo[0];
        r[1] = lo[1];
        r[2] = hi[0] - lo[0];
        r[3] = hi[1] - lo[1];
        u->turned[c] = r[3] > r[2];
    }
}

/* The width and height a chart takes in the atlas before scaling. */
static void ln__uv_extent(const struct ln__uv *u, size_t c, double *w, double *h)
{
    const double *r = u->rect + 4 * c;
    *w = u->turned[c] ? r[3] : r[2];
    *h = u->turned[c] ? r[2] : r[3];
}

/* Shelves at scale k (uv units per metre): returns whether all charts fit
 * in the unit square with pad around each, filling u->place when they do. */
static int ln__uv_shelves(struct ln__uv *u, const uint32_t *sorted, double k, double pad)
{
    double x = pad, y = pad, shelf = 0.0;
    for (size_t i = 0; i < u->n_charts; i++) {
        uint32_t c = sorted[i];
        double w, h;
        ln__uv_extent(u, c, &w, &h);
        w *= k;
        h *= k;
        if (w + 2.0 * pad > 1.0)
            return 0;
        if (x + w + pad > 1.0) {
            y += shelf + pad;
            x = pad;
            shelf = 0.0;
        }
        u->place[2 * c] = x;
        u->place[2 * c + 1] = y;
        x += w + pad;
        shelf = h > shelf ? h : shelf;
    }
    return y + shelf + pad <= 1.0;
}

/* A skyline at scale k (uv units per metre): each chart, tallest first,
 * goes where it leaves the least area empty under it (then lowest, then
 * leftmost) on the outline of the charts placed so far, its box plus pad
 * to its right and above it raising that outline; sx, sy hold the
 * outline's steps (start, height), room for 2 * n_charts + 4 each.
 * Returns whether all charts fit in the unit square with pad around each,
 * filling u->place when they do. */
static int ln__uv_skyline(struct ln__uv *u, const uint32_t *sorted, double k, double pad,
                          double *sx, double *sy)
{
    size_t n_seg = 1, cap = 2 * u->n_charts + 4;
    double *tx = sx + cap, *ty = sy + cap; /* the next outline */
    sx[0] = pad;
    sy[0] = pad;
    for (size_t i = 0; i < u->n_charts; i++) {
        uint32_t c = sorted[i];
        double w, h;
        ln__uv_extent(u, c, &w, &h);
        double span = w * k + pad; /* the box and the gap to its right */
        h *= k;
        size_t best = SIZE_MAX;
        double best_y = INFINITY, best_waste = INFINITY;
        for (size_t j = 0; j < n_seg && sx[j] + span <= 1.0; j++) {
            double x1 = sx[j] + span, y = sy[j];
            size_t q = j + 1;
            for (; q < n_seg && sx[q] < x1; q++)
                y = sy[q] > y ? sy[q] : y;
            if (y + h + pad > 1.0)
                continue;
            /* the area left empty under the chart */
            double waste = 0.0;
            for (size_t r = j; r < q; r++) {
                double e = r + 1 < n_seg && sx[r + 1] < x1 ? sx[r + 1] : x1;
                waste += (y - sy[r]) * (e - sx[r]);
            }
            if (waste < best_waste || (waste == best_waste && y < best_y)) {
                best_y = y;
                best_waste = waste;
                best = j;
            }
        }
        if (best == SIZE_MAX || best_y + h + pad > 1.0)
            return 0;
        u->place[2 * c] = sx[best];
        u->place[2 * c + 1] = best_y;
        /* the steps before, the chart's top, the rest of the step it ends
         * on, the steps after */
        double x0 = sx[best], x1 = x0 + span, top = best_y + h + pad;
        size_t m = 0, q = best;
        for (size_t j = 0; j < best; j++) {
            tx[m] = sx[j];
            ty[m++] = sy[j];
        }
        tx[m] = x0;
        ty[m++] = top;
        while (q + 1 < n_seg && sx[q + 1] <= x1)
            q++;
        double end = q + 1 < n_seg ? sx[q + 1] : 1.0;
        if (x1 < end) {
            tx[m] = x1;
            ty[m++] = sy[q];
        }
        for (size_t j = q + 1; j < n_seg; j++) {
            tx[m] = sx[j];
            ty[m++] = sy[j];
        }
        /* steps of one height merged */
        n_seg = 0;
        for (size_t j = 0; j < m; j++)
            if (n_seg == 0 || ty[j] != sy[n_seg - 1]) {
                sx[n_seg] = tx[j];
                sy[n_seg++] = ty[j];
            }
    }
    return 1;
}

/* A chart longer than the side of a square holding all the charts' boxes
 * would set the atlas's scale alone (a table leg, a thin cylinder): such a
 * chart, when also at least three times longer than wide, is cut across
 * its length into pieces no longer than that side (by the faces'
 * centres), each piece's connected parts becoming charts. Charts are then
 * numbered again by their lowest face, as when grown. */
static int ln__uv_cut(struct ln__uv *u, struct ln_error *err)
{
    ln__uv_rects(u);
    double area = 0.0;
    for (size_t c = 0; c < u->n_charts; c++)
        area += u->rect[4 * c + 2] * u->rect[4 * c + 3];
    double side = sqrt(area);
    int any = 0;
    for (size_t c = 0; c < u->n_charts && !any; c++) {
        double w, h;
        ln__uv_extent(u, c, &w, &h);
        any = w > side && w > 3.0 * h;
    }
    if (!any)
        return LN_OK;
    uint32_t *piece = ln_alloc_array(u->nf, sizeof *piece, 0, "UV atlas charts", err);
    uint32_t *order = ln_alloc_array(u->nf, sizeof *order, 0, "UV atlas charts", err);
    uint32_t *chart = ln_alloc_array(u->nf, sizeof *chart, 0, "UV atlas charts", err);
    if (!piece || !order || !chart) {
        free(piece);
        free(order);
        free(chart);
        return err ? err->code : LN_ENOMEM;
    }
    for (size_t c = 0; c < u->n_charts; c++) {
        double w, h;
        ln__uv_extent(u, c, &w, &h);
        int n = w > side && w > 3.0 * h ? (int)ceil(w / side) : 1;
        int axis = u->turned[c]; /* the long axis: s, or t for a turned chart */
        double lo = u->rect[4 * c + (size_t)axis];
        for (size_t i = u->chart_start[c]; i < u->chart_start[c + 1]; i++) {
            size_t f = u->order[i];
            const float *t = u->proj + 6 * f;
            double centre = ((double)t[axis] + t[2 + axis] + t[4 + axis]) / 3.0;
            int b = n > 1 ? (int)((centre - lo) / (w / n)) : 0;
            piece[f] = (uint32_t)(b < 0 ? 0 : b >= n ? n - 1 : b);
        }
    }
    for (size_t f = 0; f < u->nf; f++)
        chart[f] = LN__NONE;
    size_t n_order = 0, n_charts = 0;
    for (size_t seed = 0; seed < u->nf; seed++) {
        if (chart[seed] != LN__NONE)
            continue;
        uint32_t c = (uint32_t)n_charts++;
        u->chart_start[c] = n_order;
        chart[seed] = c;
        order[n_order++] = (uint32_t)seed;
        for (size_t q = u->chart_start[c]; q < n_order; q++) {
            size_t f = order[q];
            for (int e = 0; e < 3; e++) {
                uint32_t g = u->adj[3 * f + (size_t)e];
                if (g == LN__NONE || chart[g] != LN__NONE || u->chart[g] != u->chart[seed] ||
                    piece[g] != piece[seed])
                    continue;
                chart[g] = c;
                order[n_order++] = g;
            }
        }
    }
    u->chart_start[n_charts] = n_order;
    u->n_charts = n_charts;
    memcpy(u->chart, chart, u->nf * sizeof *chart);
    memcpy(u->order, order, u->nf * sizeof *order);
    free(piece);
    free(order);
    free(chart);
    return LN_OK;
}

/* Charts by height, then width, then number (a stable merge sort: qsort
 * has no context argument, and the order must not depend on its
 * algorithm). */
static void ln__uv_sort(const struct ln__uv *u, uint32_t *v, uint32_t *tmp, size_t n)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    ln__uv_sort(u, v, tmp, h);
    ln__uv_sort(u, v + h, tmp, n - h);
    size_t i = 0, j = h, o = 0;
    while (i < h && j < n) {
        double wa, ha, wb, hb;
        ln__uv_extent(u, v[i], &wa, &ha);
        ln__uv_extent(u, v[j], &wb, &hb);
        int take_right = hb > ha || (hb == ha && (wb > wa || (wb == wa && v[j] < v[i])));
        tmp[o++] = take_right ? v[j++] : v[i++];
    }
    while (i < h)
        tmp[o++] = v[i++];
    while (j < n)
        tmp[o++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
}

static int ln__uv_pack(struct ln__uv *u, const struct ln_uv_options *opt, struct ln_error *err)
{
    ln__uv_rects(u);
    uint32_t *sorted = ln_alloc_array(2 * u->n_charts, sizeof *sorted, 0, "UV atlas charts", err);
    double *sx = ln_alloc_array(4 * (2 * u->n_charts + 4), sizeof *sx, 0, "UV atlas charts", err);
    if (!sorted || !sx) {
        free(sorted);
        free(sx);
        return err ? err->code : LN_ENOMEM;
    }
    double *sy = sx + 2 * (2 * u->n_charts + 4);
    for (size_t c = 0; c < u->n_charts; c++)
        sorted[c] = (uint32_t)c;
    ln__uv_sort(u, sorted, sorted + u->n_charts, u->n_charts);
    double pad = (double)opt->padding / (double)opt->texture_size;
    double area = 0.0, widest = 0.0;
    for (size_t c = 0; c < u->n_charts; c++) {
        double w, h;
        ln__uv_extent(u, c, &w, &h);
        area += w * h;
        widest = w > widest ? w : widest;
    }
    /* Above hi nothing fits (the area alone, or the widest chart). */
    double room = 1.0 - 2.0 * pad;
    double hi = room > 0.0 ? sqrt(room * room / (area > 0.0 ? area : 1e-300)) : 0.0;
    if (widest > 0.0 && room / widest < hi)
        hi = room / widest;
    /* Each packer's largest scale, in 24 halvings (to within 1e-7): the
     * shelves', and the skyline's for up to LN__SKYLINE_MAX_CHARTS charts;
     * the larger wins (the skyline fits mixed sizes better, shelves many
     * alike). */
    double best = 0.0;
    int sky_wins = 0;
    for (int sky = 0; sky < 2; sky++) {
        if (sky && u->n_charts > LN__SKYLINE_MAX_CHARTS)
            break;
        double lo = 0.0, top = hi;
        for (int it = 0; it < 24 && room > 0.0; it++) {
            double mid = 0.5 * (lo + top);
            if (sky ? ln__uv_skyline(u, sorted, mid, pad, sx, sy)
                    : ln__uv_shelves(u, sorted, mid, pad))
                lo = mid;
            else
                top = mid;
        }
        if (lo > best) {
            best = lo;
            sky_wins = sky;
        }
    }
    double lo = best;
    if (!(lo > 0.0) || !(sky_wins ? ln__uv_skyline(u, sorted, lo, pad, sx, sy)
                                  : ln__uv_shelves(u, sorted, lo, pad))) {
        free(sorted);
        free(sx);
        return ln_error_set(err, LN_ETOOBIG,
                            "the mesh falls into %zu UV charts, too many for a %dx%d texture "
                            "with %d texels between charts",
                            u->n_charts, opt->texture_size, opt->texture_size, opt->padding);
    }
    u->scale = lo;
    free(sorted);
    free(sx);
    return LN_OK;
}

/* ---- 5. the output mesh ---- */

static void ln__uv_coord(const struct ln__uv *u, size_t c, float s, float t, float *uv)
{
    const double *r = u->rect + 4 * c;
    double k = u->scale, a, b, h;
    if (u->turned[c]) { /* turned a quarter, counter-clockwise: (s, t) -> (-t, s) */
        a = (r[1] + r[3]) - t;
        b = s - r[0];
        h = r[2];
    } else {
        a = s - r[0];
        b = t - r[1];
        h = r[3];
    }
    /* t (and b) grow upward, v downward */
    uv[0] = (float)(u->place[2 * c] + k * a);
    uv[1] = (float)(u->place[2 * c + 1] + k * (h - b));
}

static int ln__uv_emit(struct ln__uv *u, const struct ln_uv_options *opt, struct ln_uv_atlas *out,
                       struct ln_error *err)
{
    const struct ln_mesh *in = u->in;
    uint32_t *stamp = ln_alloc_array(u->nv, sizeof *stamp, 0, "UV atlas vertices", err);
    uint32_t *index = ln_alloc_array(u->nv, sizeof *index, 0, "UV atlas vertices", err);
    if (!stamp || !index) {
        free(stamp);
        free(index);
        return err ? err->code : LN_ENOMEM;
    }
    /* Count the (vertex, chart) pairs first. */
    size_t nv_out = 0;
    for (size_t v = 0; v < u->nv; v++)
        stamp[v] = LN__NONE;
    for (size_t c = 0; c < u->n_charts; c++)
        for (size_t i = u->chart_start[c]; i < u->chart_start[c + 1]; i++)
            for (int k = 0; k < 3; k++) {
                uint32_t v = in->indices[3 * (size_t)u->order[i] + (size_t)k];
                if (stamp[v] != c) {
                    stamp[v] = (uint32_t)c;
                    nv_out++;
                }
            }
    int rc = ln_mesh_alloc(&out->mesh, nv_out, u->nf, in->colors != NULL, err);
    if (rc == LN_OK && in->normals) {
        out->mesh.normals = ln_alloc_array(nv_out, 3 * sizeof(float), 0, "mesh normals", err);
        rc = out->mesh.normals ? LN_OK : (err ? err->code : LN_ENOMEM);
    }
    if (rc == LN_OK) {
        out->mesh.uvs = ln_alloc_array(nv_out, 2 * sizeof(float), 0, "mesh UVs", err);
        out->source = ln_alloc_array(nv_out, sizeof(uint32_t), 0, "mesh UVs", err);
        out->chart = ln_alloc_array(u->nf, sizeof(uint32_t), 0, "mesh UVs", err);
        if (!out->mesh.uvs || !out->source || !out->chart)
            rc = err ? err->code : LN_ENOMEM;
    }
    if (rc < 0) {
        free(stamp);
        free(index);
        return rc;
    }
    for (size_t v = 0; v < u->nv; v++)
        stamp[v] = LN__NONE;
    size_t n = 0;
    double k2 = u->scale * u->scale, uv_area = 0.0, worst = 1.0;
    double dmin = INFINITY, dmax = 0.0;
    for (size_t c = 0; c < u->n_charts; c++) {
        double chart_uv = 0.0, chart_3d = 0.0;
        for (size_t i = u->chart_start[c]; i < u->chart_start[c + 1]; i++) {
            size_t f = u->order[i];
            const float *t = u->proj + 6 * f;
            float uv3[6];
            for (int k = 0; k < 3; k++) {
                uint32_t v = in->indices[3 * f + (size_t)k];
                ln__uv_coord(u, c, t[2 * k], t[2 * k + 1], uv3 + 2 * k);
                if (stamp[v] != c) {
                    stamp[v] = (uint32_t)c;
                    index[v] = (uint32_t)n;
                    memcpy(out->mesh.positions + 3 * n, in->positions + 3 * (size_t)v,
                           3 * sizeof(float));
                    if (in->normals)
                        memcpy(out->mesh.normals + 3 * n, in->normals + 3 * (size_t)v,
                               3 * sizeof(float));
                    if (in->colors)
                        memcpy(out->mesh.colors + 3 * n, in->colors + 3 * (size_t)v,
                               3 * sizeof(float));
                    memcpy(out->mesh.uvs + 2 * n, uv3 + 2 * k, 2 * sizeof(float));
                    out->source[n] = v;
                    n++;
                }
                out->mesh.indices[3 * f + (size_t)k] = index[v];
            }
            out->chart[f] = (uint32_t)c;
            double a = 0.5 * fabs(((double)uv3[2] - uv3[0]) * ((double)uv3[5] - uv3[1]) -
                                  ((double)uv3[4] - uv3[0]) * ((double)uv3[3] - uv3[1]));
            chart_uv += a;
            chart_3d += u->area[f];
            double dot = ln__uv_dot(u, f, u->label[f]);
            if (u->area[f] > 0.0 && dot > 0.0 && 1.0 / dot > worst)
                worst = 1.0 / dot;
        }
        uv_area += chart_uv;
        if (chart_3d > 0.0) {
            double dens = sqrt(chart_uv / (k2 * chart_3d));
            dmin = dens < dmin ? dens : dmin;
            dmax = dens > dmax ? dens : dmax;
        }
    }
    free(stamp);
    free(index);
    out->stats.n_charts = u->n_charts;
    out->stats.utilisation = uv_area;
    out->stats.texels_per_m = u->scale * opt->texture_size;
    out->stats.density_min = isfinite(dmin) ? dmin : 0.0;
    out->stats.density_max = dmax;
    out->stats.worst_stretch = worst;
    return LN_OK;
}

/* ---- the whole ---- */

static void ln__uv_free(struct ln__uv *u)
{
    free(u->normal);
    free(u->area);
    free(u->label);
    free(u->adj);
    free(u->proj);
    free(u->chart);
    free(u->order);
    free(u->chart_start);
    for (int i = 0; i < 6; i++) {
        struct ln__uv_grid *g = &u->grid[i];
        free(g->slot_key);
        free(g->slot_head);
        free(g->used_slots);
        free(g->node_face);
        free(g->node_next);
        free(g->seen);
        free(g->big);
    }
    free(u->rect);
    free(u->turned);
    free(u->place);
}

int ln_uv_atlas_build(const struct ln_mesh *in, const struct ln_uv_options *opt,
                      struct ln_uv_atlas *out, struct ln_error *err)
{
    memset(out, 0, sizeof *out);
    if (opt->texture_size < 16 || opt->texture_size > 16384 || opt->padding < 0 ||
        opt->padding > opt->texture_size / 4)
        return ln_error_set(err, LN_EINVAL,
                            "texture size must be 16 to 16384 texels and padding 0 to a quarter "
                            "of it (got %d and %d)",
                            opt->texture_size, opt->padding);
    if (in->n_faces == 0)
        return ln_error_set(err, LN_EINVAL, "a UV atlas needs a mesh with faces");
    if (in->n_faces > UINT32_MAX / 3)
        return ln_error_set(err, LN_ETOOBIG, "mesh has too many faces for a UV atlas (%zu)",
                            in->n_faces);
    int rc = ln__mesh_check_indices(in, err);
    if (rc < 0)
        return rc;
    struct ln__uv u = {.in = in, .nf = in->n_faces, .nv = in->n_vertices};
    u.normal = ln_alloc_array(u.nf, 3 * sizeof(double), 0, "UV atlas faces", err);
    u.area = ln_alloc_array(u.nf, sizeof(double), 0, "UV atlas faces", err);
    u.label = ln_alloc_array(2 * u.nf, 1, 0, "UV atlas faces", err);
    u.adj = ln_alloc_array(u.nf, 3 * sizeof(uint32_t), 0, "UV atlas faces", err);
    u.proj = ln_alloc_array(u.nf, 6 * sizeof(float), 0, "UV atlas faces", err);
    u.chart = ln_alloc_array(u.nf, sizeof(uint32_t), 0, "UV atlas faces", err);
    u.order = ln_alloc_array(u.nf, sizeof(uint32_t), 0, "UV atlas faces", err);
    u.chart_start = ln_alloc_array(u.nf + 1, sizeof(size_t), 0, "UV atlas charts", err);
    int ok = u.normal && u.area && u.label && u.adj && u.proj && u.chart && u.order &&
             u.chart_start;
    for (int i = 0; ok && i < 6; i++) {
        struct ln__uv_grid *g = &u.grid[i];
        g->seen = ln_alloc_array(u.nf, sizeof(uint32_t), 1, "UV atlas faces", err);
        g->big = ln_alloc_array(u.nf, sizeof(uint32_t), 0, "UV atlas faces", err);
        g->slot_cap = 1024;
        g->slot_key = ln_alloc_array(g->slot_cap, sizeof(uint64_t), 0, "UV atlas overlap grid", err);
        g->slot_head =
            ln_alloc_array(g->slot_cap, sizeof(uint32_t), 0, "UV atlas overlap grid", err);
        g->used_slots =
            ln_alloc_array(g->slot_cap / 2 + 1, sizeof(uint32_t), 0, "UV atlas overlap grid", err);
        ok = g->seen && g->big && g->slot_key && g->slot_head && g->used_slots;
        for (size_t s = 0; ok && s < g->slot_cap; s++)
            g->slot_head[s] = LN__NONE;
    }
    if (!ok) {
        ln__uv_free(&u);
        return err ? err->code : LN_ENOMEM;
    }
    rc = ln__uv_faces(&u, err);
    if (rc == LN_OK) {
        ln__uv_smooth(&u, u.label + u.nf);
        rc = ln__uv_grow(&u, err);
    }
    /* a few rounds: a small chart may reach a large one through another
     * (the dirty flags borrow the second half of label) */
    for (int round = 0; round < 3 && rc == LN_OK && ln__uv_absorb_small(&u, u.label + u.nf);
         round++)
        rc = ln__uv_regrow(&u, u.label + u.nf, err);
    if (rc == LN_OK) {
        /* sized for the most charts there can be: one per face */
        u.rect = ln_alloc_array(u.nf, 4 * sizeof(double), 0, "UV atlas charts", err);
        u.turned = ln_alloc_array(u.nf, 1, 0, "UV atlas charts", err);
        u.place = ln_alloc_array(u.nf, 2 * sizeof(double), 0, "UV atlas charts", err);
        rc = u.rect && u.turned && u.place ? LN_OK : (err ? err->code : LN_ENOMEM);
    }
    if (rc == LN_OK)
        rc = ln__uv_cut(&u, err);
    if (rc == LN_OK)
        rc = ln__uv_pack(&u, opt, err);
    if (rc == LN_OK)
        rc = ln__uv_emit(&u, opt, out, err);
    ln__uv_free(&u);
    if (rc < 0)
        ln_uv_atlas_free(out);
    return rc;
}

void ln_uv_atlas_free(struct ln_uv_atlas *a)
{
    ln_mesh_free(&a->mesh);
    free(a->source);
    free(a->chart);
    memset(a, 0, sizeof *a);
}
