/*
 * Minimum s-t cut on an 8-connected pixel grid: the graph cut behind the
 * foreground refinement. Each node (pixel) has a capacity towards each of
 * its eight neighbours and a terminal capacity (from the source, or to the
 * sink); the solver finds the maximum flow and with it the cheapest cut.
 * It is the augmenting-path algorithm of Boykov and Kolmogorov ("An
 * experimental comparison of min-cut/max-flow algorithms for energy
 * minimization in vision", IEEE TPAMI 26(9), 2004): two search trees grown
 * from the terminals and reused after each augmentation, which suits grids
 * with short paths far better than generic push-relabel.
 *
 *     struct ln_maxflow_grid g;
 *     if (ln_maxflow_grid_init(&g, w, h, err) < 0) ...
 *     // fill g.cap[i * 8 + d] (i = y * w + x, d = LN_MAXFLOW_DIR index)
 *     // and g.tr[i] (> 0: from the source, < 0: to the sink)
 *     int64_t flow = ln_maxflow_grid_solve(&g);
 *     // ln_maxflow_grid_source_side(&g, i): 1 if i is on the source side
 *     ln_maxflow_grid_free(&g);
 *
 * Capacities are integers so that the search ends exactly. The graph is
 * owned by its caller and used by one thread; solving consumes the
 * capacities (they become the residual ones).
 */
#ifndef LN_MAXFLOW_H
#define LN_MAXFLOW_H

#include <stddef.h>
#include <stdint.h>

#include "ln_error.h"

/* Neighbour d of (x, y) is (x + ln_maxflow_dx[d], y + ln_maxflow_dy[d]);
 * the opposite direction of d is 7 - d. */
extern const int ln_maxflow_dx[8];
extern const int ln_maxflow_dy[8];

struct ln_maxflow_grid {
    int w, h;
    int32_t *cap; /* 8 per node: (residual) capacity of the arc to neighbour d */
    int32_t *tr;  /* per node: > 0 capacity from the source, < 0 to the sink */
    /* Solver state, valid after ln_maxflow_grid_solve. */
    uint8_t *tree;    /* 0 free, 1 source tree, 2 sink tree */
    uint8_t *parent;  /* direction to the parent, or a marker */
    uint8_t *queued;  /* in the active queue */
    uint32_t *ts;     /* time stamp of dist */
    uint32_t *dist;   /* distance to the terminal, when ts is current */
    uint32_t *queue;  /* active nodes, a ring of w * h */
    uint32_t *orphan; /* orphan stack, w * h */
};

/* Allocates a w x h grid with all capacities zero. Returns 0, LN_EINVAL
 * (empty or too large a grid) or LN_ENOMEM. */
int ln_maxflow_grid_init(struct ln_maxflow_grid *g, int w, int h, struct ln_error *err);
/* Sets every capacity back to zero, for a new problem on the same grid. */
void ln_maxflow_grid_clear(struct ln_maxflow_grid *g);
void ln_maxflow_grid_free(struct ln_maxflow_grid *g);

/* Computes the maximum flow (its value is returned; the constant part of
 * the terminal capacities, min(source, sink), is the caller's to add). Arcs
 * leaving the grid must have capacity 0. */
int64_t ln_maxflow_grid_solve(struct ln_maxflow_grid *g);

/* 1 if node i is on the source side of a minimum cut after solving. */
static inline int ln_maxflow_grid_source_side(const struct ln_maxflow_grid *g, size_t i)
{
    return g->tree[i] == 1;
}

#endif
