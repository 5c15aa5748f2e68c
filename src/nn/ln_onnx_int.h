/*
 * Private structures of the ONNX runtime, shared by the loader and planner
 * (ln_onnx.c) and the operators (ln_onnx_ops.c). A model is a list of
 * values (graph inputs, weights, node outputs) and a list of nodes in
 * topological order, each node holding value indices and its attributes
 * already parsed and checked at load. Values are float32 or int64 (int32,
 * bool and the small integer types are widened to int64; float16 and
 * double weights become float32).
 */
#ifndef LN_ONNX_INT_H
#define LN_ONNX_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ln_error.h"
#include "ln_onnx.h"
#include "onnx.pb-c.h"

/* Element types of the values (the ONNX TensorProto codes). */
#define LN__OX_F32 1
#define LN__OX_I64 7

/* Bounds on outside bytes: the file, the graph and every tensor. */
#define LN__OX_MAX_FILE ((size_t)2047 << 20)
#define LN__OX_MAX_NODES ((size_t)1 << 20)
#define LN__OX_MAX_NODE_IO 4096
#define LN__OX_MAX_NUMEL ((size_t)1 << 32)
#define LN__OX_MAX_DIM ((int64_t)1 << 32)
#define LN__OX_MAX_DEPTH 24
#define LN__OX_MAX_MESSAGES ((size_t)1 << 24)

struct ln__ox_tensor {
    int dtype; /* LN__OX_F32 or LN__OX_I64 */
    int ndim;
    int64_t shape[LN_ONNX_MAX_DIMS];
    size_t numel;
    void *data;
};

struct ln__ox_value {
    const char *name; /* inside the ModelProto */
    struct ln__ox_tensor t;
    int is_init;             /* a weight or Constant: data fixed at load */
    int is_input;            /* a graph input: data from the caller at each run */
    int known;               /* data known when planning (weights, folded nodes) */
    void *owned;             /* data this value owns (converted weight, folded result) */
    long producer, last_use; /* node indices; -1 before the first node */
    size_t offset, bytes;    /* place in the arena of a run-time value */
    long alias;              /* 1 + the value whose memory holds this one, at
                                alias_off bytes (a fused ReLU's output is its
                                convolution's; a Concat input its slice of the
                                output); 0: its own */
    size_t alias_off;
    long born; /* the first node that writes its memory (planned) */
};

/* Attributes of every operator, parsed and range-checked at load. */
struct ln__ox_attrs {
    int nk; /* spatial dimensions (2 for images) */
    int64_t kernel[2], strides[2], dil[2], pads[4], out_pad[2];
    int64_t group;
    int auto_pad; /* enum ln__ox_autopad */
    int ceil_mode, count_include_pad, has_kernel;
    int64_t axis;
    int naxes, has_axes;
    int64_t axes[LN_ONNX_MAX_DIMS];
    int nperm;
    int64_t perm[LN_ONNX_MAX_DIMS];
    int nstarts; /* Slice before opset 10 */
    int64_t starts[LN_ONNX_MAX_DIMS], ends[LN_ONNX_MAX_DIMS];
    float eps, alpha, beta;
    int64_t trans_a, trans_b, keepdims, allowzero, start, end;
    int has_end;
    int mode, ctm, nearest; /* Resize / Upsample */
    int to;                 /* Cast */
    int value_dtype;        /* ConstantOfShape */
    double value;
    /* Set when planning, from the input shapes. */
    int64_t epads[4];               /* effective pads (auto_pad applied) */
    float rscale[LN_ONNX_MAX_DIMS]; /* Resize: output / input per axis */
};

enum ln__ox_autopad {
    LN__OX_PAD_NOTSET,
    LN__OX_PAD_VALID,
    LN__OX_PAD_SAME_UPPER,
    LN__OX_PAD_SAME_LOWER
};

struct ln_onnx;
struct ln__ox_node;

struct ln__ox_op {
    const char *name;
    const char *attrs; /* the known attribute names, comma-separated */
    int min_in, max_in, max_out;
    int shape_only; /* the output depends on the input shapes alone */
    int constant;   /* the output is set at load (Constant) */
    /* Parses and checks the attributes (after the generic name check). */
    int (*load)(struct ln_onnx *m, struct ln__ox_node *n, struct ln_error *err);
    /* Output dtypes and shapes from the inputs' (and known inputs' data). */
    int (*infer)(struct ln_onnx *m, struct ln__ox_node *n, struct ln_error *err);
    /* Per-thread scratch floats the run needs (may be NULL). */
    size_t (*scratch)(struct ln_onnx *m, const struct ln__ox_node *n);
    /* Computes the outputs; inputs and outputs have data. */
    int (*exec)(struct ln_onnx *m, struct ln__ox_node *n, struct ln_error *err);
};

struct ln__ox_node {
    const struct ln__ox_op *op;
    const Onnx__NodeProto *proto;
    int n_in, n_out;
    long *in, *out; /* value indices; -1 for an omitted optional one */
    int folded;     /* computed when planning */
    int fuse_relu;  /* a Conv that applies its consumer's ReLU (planned) */
    int fused;      /* a ReLU done by its producer: skipped when running */
    struct ln__ox_attrs a;
};

struct ln_onnx {
    Onnx__ModelProto *proto;
    ProtobufCAllocator pb_alloc; /* ln_malloc, so that unpacking can fail cleanly */
    int pb_alloc_failed;
    int64_t opset;
    struct ln__ox_value *values;
    size_t n_values;
    struct ln__ox_node *nodes;
    size_t n_nodes;
    long *inputs, *outputs;
    size_t n_inputs, n_outputs;
    /* The plan for the input shapes of the last run. */
    int planned;
    int64_t (*plan_shapes)[LN_ONNX_MAX_DIMS];
    uint8_t *arena;
    size_t arena_bytes;
    size_t scratch_floats; /* per thread */
    float *scratch;
    size_t scratch_cap; /* floats per thread that scratch holds */
    int scratch_threads;
    size_t mem_limit;               /* bytes a plan may take (SIZE_MAX: no limit) */
    struct ln__gpu_onnx *gpu_state; /* what the plan keeps on the GPU (ln_gpu_onnx.c) */
};

/* Refuses (LN_ETOOBIG) input shapes whose plan would take more than bytes
 * of memory: folded constants, activations and scratch. For the fuzzer. */
void ln__ox_set_mem_limit(struct ln_onnx *m, size_t bytes);

/* How convolutions run, for every model of the process: our product with
 * the implicit path where it fits (the default), cblas_sgemm on im2col
 * blocks (LN_ONNX_CONV=blas), or our product on im2col blocks only
 * (LN_ONNX_CONV=im2col). For tests and comparisons, before any run. */
enum { LN__OX_CONV_OURS, LN__OX_CONV_BLAS, LN__OX_CONV_IM2COL };
void ln__ox_set_conv_path(int path);

/* Resize's modes (ln__ox_attrs.mode; Upsample's "bilinear" is read as
 * linear at load). */
enum { LN__OX_RS_NEAREST, LN__OX_RS_LINEAR, LN__OX_RS_BILINEAR };
/* Where Resize's output index o along an axis of in -> out samples reads:
 * input i0 and i1, weight w on i1 (0 for nearest), by ONNX's coordinate
 * transform and nearest mode in a. The CPU form's tables, and the GPU
 * form's (ln_gpu_onnx.c), bit for bit. */
void ln__ox_resize_at(const struct ln__ox_attrs *a, int64_t o, int64_t in, int64_t out,
                      float scale, int64_t *i0, int64_t *i1, float *w);

/* Makes m->scratch hold what the current plan's nodes need per thread
 * (kept while the plan needs as much). */
int ln__ox_scratch_ready(struct ln_onnx *m, struct ln_error *err);

/* Runs one planned node on the CPU: its inputs' data must be current in
 * the host arena (or the weights); errors name the node. The run loop's
 * step, and the GPU form's for the nodes it leaves to the CPU
 * (ln_gpu_onnx.c, mixed execution). Needs ln__ox_scratch_ready first. */
int ln__ox_exec_node(struct ln_onnx *m, struct ln__ox_node *n, struct ln_error *err);

/* Slice's start, step and length per input dimension (from its
 * attributes or its known inputs), as its CPU form reads them. */
int ln__ox_slice_at(struct ln_onnx *m, struct ln__ox_node *n, int64_t *start, int64_t *step,
                    int64_t *len, struct ln_error *err);

/* The operator named op_type, or NULL. */
const struct ln__ox_op *ln__ox_find_op(const char *op_type);

/* The attribute called name of node n, or NULL. */
const Onnx__AttributeProto *ln__ox_attr(const struct ln__ox_node *n, const char *name);

/* Converts an ONNX TensorProto to float32 / int64 in t (data in *owned
 * when converted, else pointing into the proto). what names it in errors. */
int ln__ox_tensor_from_proto(const Onnx__TensorProto *p, struct ln__ox_tensor *t, void **owned,
                             const char *what, struct ln_error *err);

/* The number of elements of a shape, or an error past the caps. */
int ln__ox_numel(const int64_t *shape, int ndim, size_t *numel, struct ln_error *err);

/* The node's name for messages ("Conv node 'conv1'"). */
const char *ln__ox_node_name(const struct ln__ox_node *n);

static inline struct ln__ox_tensor *ln__ox_in(struct ln_onnx *m, const struct ln__ox_node *n, int k)
{
    return k < n->n_in && n->in[k] >= 0 ? &m->values[n->in[k]].t : NULL;
}

static inline struct ln__ox_tensor *ln__ox_out(struct ln_onnx *m, const struct ln__ox_node *n,
                                               int k)
{
    return &m->values[n->out[k]].t;
}

#endif
