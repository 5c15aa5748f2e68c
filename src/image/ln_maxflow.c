/*
 * Boykov-Kolmogorov maximum flow on an implicit 8-connected grid. Nodes are
 * pixels; an arc is (node, direction), its reverse is (neighbour, 7 - d),
 * so no adjacency lists are stored. The three phases follow the paper:
 * growth (active nodes of either tree claim free neighbours over
 * non-saturated arcs until the trees touch), augmentation (the path through
 * the touching arc is pushed to its bottleneck; nodes whose parent arc
 * saturates become orphans) and adoption (each orphan looks for a new
 * parent in its tree whose chain still reaches the terminal, or else is
 * freed and orphans its children). The origin checks use the paper's time
 * stamps and distances, so a chain walked once in an adoption phase is not
 * walked again, and growth prefers parents closer to the terminal.
 */
#include "ln_maxflow.h"

#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"

const int ln_maxflow_dx[8] = {-1, 0, 1, -1, 1, -1, 0, 1};
const int ln_maxflow_dy[8] = {-1, -1, -1, 0, 0, 1, 1, 1};

enum {
    LN__MF_FREE = 0,
    LN__MF_SOURCE = 1,
    LN__MF_SINK = 2,
};

/* parent[] values beyond the eight directions. */
#define LN__MF_TERMINAL 8
#define LN__MF_ORPHAN 9
#define LN__MF_NONE 10
#define LN__MF_INF_DIST UINT32_MAX

/* Largest grid: node indices and the queue ring fit in 32 bits. */
#define LN__MF_MAX_NODES (1u << 28)

int ln_maxflow_grid_init(struct ln_maxflow_grid *g, int w, int h, struct ln_error *err)
{
    memset(g, 0, sizeof *g);
    if (w <= 0 || h <= 0 || (uint64_t)w * (uint64_t)h > LN__MF_MAX_NODES)
        return ln_error_set(err, LN_EINVAL, "graph cut grid of %dx%d nodes is out of range", w, h);
    const size_t n = (size_t)w * h;
    g->w = w;
    g->h = h;
    g->cap = ln_alloc_array(n, 8 * sizeof(int32_t), 1, "graph cut capacities", err);
    g->tr = g->cap ? ln_alloc_array(n, sizeof(int32_t), 1, "graph cut capacities", err) : NULL;
    /* tree, parent and queued share one block; ts, dist, queue and orphan
     * another. */
    g->tree = g->tr ? ln_alloc_array(n, 3, 0, "graph cut state", err) : NULL;
    g->ts = g->tree ? ln_alloc_array(n, 4 * sizeof(uint32_t), 0, "graph cut state", err) : NULL;
    if (!g->ts) {
        ln_maxflow_grid_free(g);
        return LN_ENOMEM;
    }
    g->parent = g->tree + n;
    g->queued = g->tree + 2 * n;
    g->dist = g->ts + n;
    g->queue = g->ts + 2 * n;
    g->orphan = g->ts + 3 * n;
    return 0;
}

void ln_maxflow_grid_clear(struct ln_maxflow_grid *g)
{
    const size_t n = (size_t)g->w * g->h;
    memset(g->cap, 0, n * 8 * sizeof(int32_t));
    memset(g->tr, 0, n * sizeof(int32_t));
}

void ln_maxflow_grid_free(struct ln_maxflow_grid *g)
{
    free(g->ts);
    free(g->tree);
    free(g->tr);
    free(g->cap);
    memset(g, 0, sizeof *g);
}

/* Per-solve state: the grid plus the queue and orphan stack positions. */
struct ln__mf {
    struct ln_maxflow_grid *g;
    int32_t *cap, *tr;
    uint8_t *tree, *parent, *queued;
    uint32_t *ts, *dist, *queue, *orphan;
    ptrdiff_t off[8]; /* index offset of each direction */
    size_t n, q_head, q_len, n_orphan;
    int w, h;
    uint32_t time;
};

/* Bit d set when neighbour d of node i lies inside the grid. */
static inline unsigned ln__mf_valid(const struct ln__mf *m, size_t i)
{
    const int x = (int)(i % (size_t)m->w), y = (int)(i / (size_t)m->w);
    unsigned v = 0xff;
    if (x == 0)
        v &= ~((1u << 0) | (1u << 3) | (1u << 5));
    if (x == m->w - 1)
        v &= ~((1u << 2) | (1u << 4) | (1u << 7));
    if (y == 0)
        v &= ~((1u << 0) | (1u << 1) | (1u << 2));
    if (y == m->h - 1)
        v &= ~((1u << 5) | (1u << 6) | (1u << 7));
    return v;
}

static inline size_t ln__mf_next(const struct ln__mf *m, size_t i, int d)
{
    return (size_t)((ptrdiff_t)i + m->off[d]);
}

static void ln__mf_activate(struct ln__mf *m, size_t i)
{
    if (m->queued[i])
        return;
    m->queued[i] = 1;
    m->queue[(m->q_head + m->q_len) % m->n] = (uint32_t)i;
    m->q_len++;
}

static void ln__mf_make_orphan(struct ln__mf *m, size_t i)
{
    m->parent[i] = LN__MF_ORPHAN;
    m->orphan[m->n_orphan++] = (uint32_t)i;
}

/* Pushes the bottleneck along source root .. s -> t .. sink root, where the
 * arc s -> t has direction d from s; returns the amount pushed. */
static int32_t ln__mf_augment(struct ln__mf *m, size_t s, size_t t, int d)
{
    int32_t *cap = m->cap;
    int32_t b = cap[s * 8 + d];
    size_t i;
    for (i = s; m->parent[i] != LN__MF_TERMINAL;) {
        const int p = m->parent[i];
        const size_t j = ln__mf_next(m, i, p);
        if (cap[j * 8 + (7 - p)] < b)
            b = cap[j * 8 + (7 - p)];
        i = j;
    }
    if (m->tr[i] < b)
        b = m->tr[i];
    for (i = t; m->parent[i] != LN__MF_TERMINAL;) {
        const int p = m->parent[i];
        if (cap[i * 8 + p] < b)
            b = cap[i * 8 + p];
        i = ln__mf_next(m, i, p);
    }
    if (-m->tr[i] < b)
        b = -m->tr[i];

    cap[s * 8 + d] -= b;
    cap[t * 8 + (7 - d)] += b;
    for (i = s; m->parent[i] != LN__MF_TERMINAL;) {
        const int p = m->parent[i];
        const size_t j = ln__mf_next(m, i, p);
        cap[j * 8 + (7 - p)] -= b;
        cap[i * 8 + p] += b;
        if (cap[j * 8 + (7 - p)] == 0)
            ln__mf_make_orphan(m, i);
        i = j;
    }
    m->tr[i] -= b;
    if (m->tr[i] == 0)
        ln__mf_make_orphan(m, i);
    for (i = t; m->parent[i] != LN__MF_TERMINAL;) {
        const int p = m->parent[i];
        const size_t j = ln__mf_next(m, i, p);
        cap[i * 8 + p] -= b;
        cap[j * 8 + (7 - p)] += b;
        if (cap[i * 8 + p] == 0)
            ln__mf_make_orphan(m, i);
        i = j;
    }
    m->tr[i] += b;
    if (m->tr[i] == 0)
        ln__mf_make_orphan(m, i);
    return b;
}

/* Residual capacity of the arc that would make q the parent of i in tree
 * `tree`: q -> i in the source tree, i -> q in the sink tree (d is the
 * direction from i to q). */
static inline int32_t ln__mf_tree_cap(const struct ln__mf *m, int tree, size_t i, size_t q, int d)
{
    return tree == LN__MF_SOURCE ? m->cap[q * 8 + (7 - d)] : m->cap[i * 8 + d];
}

/* Finds orphan i a new parent whose chain reaches the terminal, or frees
 * it (its children become orphans, its neighbours that could adopt it
 * again become active). */
static void ln__mf_adopt(struct ln__mf *m, size_t i)
{
    const int tree = m->tree[i];
    const unsigned valid = ln__mf_valid(m, i);
    uint32_t best_dist = LN__MF_INF_DIST;
    int best = -1;
    for (int d = 0; d < 8; d++) {
        if (!(valid >> d & 1))
            continue;
        const size_t q = ln__mf_next(m, i, d);
        if (m->tree[q] != tree || ln__mf_tree_cap(m, tree, i, q, d) <= 0)
            continue;
        /* Walk up from q until a node stamped in this phase, a terminal or
         * an orphan. */
        size_t j = q;
        uint32_t dist = 0;
        for (;;) {
            if (m->ts[j] == m->time) {
                dist += m->dist[j];
                break;
            }
            const int p = m->parent[j];
            dist++;
            if (p == LN__MF_TERMINAL) {
                m->ts[j] = m->time;
                m->dist[j] = 1;
                break;
            }
            if (p == LN__MF_ORPHAN) {
                dist = LN__MF_INF_DIST;
                break;
            }
            j = ln__mf_next(m, j, p);
        }
        if (dist == LN__MF_INF_DIST)
            continue;
        if (dist < best_dist) {
            best_dist = dist;
            best = d;
        }
        /* Stamp the chain so later walks stop early. */
        for (j = q; m->ts[j] != m->time; j = ln__mf_next(m, j, m->parent[j])) {
            m->ts[j] = m->time;
            m->dist[j] = dist--;
        }
    }
    if (best >= 0) {
        m->parent[i] = (uint8_t)best;
        m->ts[i] = m->time;
        m->dist[i] = best_dist + 1;
        return;
    }
    for (int d = 0; d < 8; d++) {
        if (!(valid >> d & 1))
            continue;
        const size_t q = ln__mf_next(m, i, d);
        if (m->tree[q] != tree)
            continue;
        if (ln__mf_tree_cap(m, tree, i, q, d) > 0)
            ln__mf_activate(m, q);
        const int p = m->parent[q];
        if (p < 8 && ln__mf_next(m, q, p) == i)
            ln__mf_make_orphan(m, q);
    }
    m->tree[i] = LN__MF_FREE;
    m->parent[i] = LN__MF_NONE;
}

int64_t ln_maxflow_grid_solve(struct ln_maxflow_grid *g)
{
    struct ln__mf m = {
        .g = g,
        .cap = g->cap,
        .tr = g->tr,
        .tree = g->tree,
        .parent = g->parent,
        .queued = g->queued,
        .ts = g->ts,
        .dist = g->dist,
        .queue = g->queue,
        .orphan = g->orphan,
        .n = (size_t)g->w * g->h,
        .w = g->w,
        .h = g->h,
    };
    for (int d = 0; d < 8; d++)
        m.off[d] = (ptrdiff_t)ln_maxflow_dy[d] * g->w + ln_maxflow_dx[d];
    memset(m.queued, 0, m.n);
    memset(m.ts, 0, m.n * sizeof(uint32_t));
    for (size_t i = 0; i < m.n; i++) {
        m.dist[i] = 1;
        if (m.tr[i] != 0) {
            m.tree[i] = m.tr[i] > 0 ? LN__MF_SOURCE : LN__MF_SINK;
            m.parent[i] = LN__MF_TERMINAL;
            ln__mf_activate(&m, i);
        } else {
            m.tree[i] = LN__MF_FREE;
            m.parent[i] = LN__MF_NONE;
        }
    }

    int64_t flow = 0;
    while (m.q_len > 0) {
        const size_t i = m.queue[m.q_head];
        const int tree = m.tree[i];
        size_t s = 0, t = 0;
        int arc = -1;
        if (tree != LN__MF_FREE) {
            /* Growth: claim free neighbours until one of the other tree is
             * met. */
            const unsigned valid = ln__mf_valid(&m, i);
            for (int d = 0; d < 8 && arc < 0; d++) {
                if (!(valid >> d & 1))
                    continue;
                const size_t q = ln__mf_next(&m, i, d);
                const int32_t c = tree == LN__MF_SOURCE ? m.cap[i * 8 + d] : m.cap[q * 8 + (7 - d)];
                if (c <= 0)
                    continue;
                if (m.tree[q] == LN__MF_FREE) {
                    m.tree[q] = (uint8_t)tree;
                    m.parent[q] = (uint8_t)(7 - d);
                    m.ts[q] = m.ts[i];
                    m.dist[q] = m.dist[i] + 1;
                    ln__mf_activate(&m, q);
                } else if (m.tree[q] != tree) {
                    if (tree == LN__MF_SOURCE)
                        s = i, t = q, arc = d;
                    else
                        s = q, t = i, arc = 7 - d;
                } else if (m.ts[q] <= m.ts[i] && m.dist[q] > m.dist[i]) {
                    /* q is nearer its terminal through i. */
                    m.parent[q] = (uint8_t)(7 - d);
                    m.ts[q] = m.ts[i];
                    m.dist[q] = m.dist[i] + 1;
                }
            }
        }
        if (arc < 0) {
            /* i is done (or was freed): passive until an adoption wakes it. */
            m.queued[i] = 0;
            m.q_head = (m.q_head + 1) % m.n;
            m.q_len--;
            continue;
        }
        m.time++;
        m.n_orphan = 0;
        flow += ln__mf_augment(&m, s, t, arc);
        while (m.n_orphan > 0)
            ln__mf_adopt(&m, m.orphan[--m.n_orphan]);
        /* i stays at the head of the queue and is scanned again. */
    }
    return flow;
}
