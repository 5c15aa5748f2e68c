/*
 * Builds ONNX models in a test with the generated protobuf-c code, so that
 * each attribute and data layout is exercised on purpose: nodes, float
 * (float32, raw, float16) and int64 initializers, inputs and outputs,
 * packed and loaded with ln_onnx_load_buffer. Shared by the ONNX runtime's
 * tests (tests/nn/test_onnx.c) and its GPU form's (tests/gpu/
 * test_gpu_onnx.c). Everything built is freed by mb_free.
 */
#ifndef LN_TEST_ONNX_BUILDER_H
#define LN_TEST_ONNX_BUILDER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ln_onnx.h"
#include "onnx.pb-c.h"
#include "testutil.h"

/* Everything a built model points to; freed by mb_free. */
#define MB_MAX_ALLOCS 4096
static void *g_allocs[MB_MAX_ALLOCS];
static size_t g_n_allocs;

static inline void *talloc(size_t n)
{
    assert_true(g_n_allocs < MB_MAX_ALLOCS);
    void *p = calloc(1, n ? n : 1);
    assert_non_null(p);
    g_allocs[g_n_allocs++] = p;
    return p;
}

static inline char *tstr(const char *s)
{
    char *p = talloc(strlen(s) + 1);
    memcpy(p, s, strlen(s) + 1);
    return p;
}

static inline void mb_free(void)
{
    while (g_n_allocs > 0)
        free(g_allocs[--g_n_allocs]);
}

struct mb {
    Onnx__NodeProto *nodes[64];
    Onnx__TensorProto *inits[32];
    Onnx__ValueInfoProto *ins[4], *outs[8];
    size_t n_nodes, n_inits, n_ins, n_outs;
    int64_t opset;
};

/* Splits "a,,b" into names (empty ones kept). */
static inline size_t split(const char *s, char ***out)
{
    size_t n = s[0] ? 1 : 0;
    for (const char *p = s; *p; p++)
        n += *p == ',';
    char **v = talloc((n + 1) * sizeof *v);
    const char *p = s;
    for (size_t i = 0; i < n; i++) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        v[i] = talloc(l + 1);
        memcpy(v[i], p, l);
        p += l + 1;
    }
    *out = v;
    return n;
}

static inline Onnx__NodeProto *mb_node(struct mb *b, const char *op, const char *name,
                                       const char *ins, const char *outs)
{
    Onnx__NodeProto *n = talloc(sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = tstr(op);
    n->name = tstr(name);
    n->n_input = split(ins, &n->input);
    n->n_output = split(outs, &n->output);
    n->attribute = talloc(8 * sizeof *n->attribute);
    b->nodes[b->n_nodes++] = n;
    return n;
}

static inline Onnx__AttributeProto *mb_attr(Onnx__NodeProto *n, const char *name,
                                            Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = talloc(sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = tstr(name);
    a->has_type = 1;
    a->type = type;
    n->attribute[n->n_attribute++] = a;
    return a;
}

static inline void mb_ints(Onnx__NodeProto *n, const char *name, size_t k, const int64_t *v)
{
    Onnx__AttributeProto *a = mb_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = k;
    a->ints = talloc(k * sizeof *a->ints);
    memcpy(a->ints, v, k * sizeof *v);
}

static inline void mb_int(Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = mb_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = v;
}

static inline void mb_str(Onnx__NodeProto *n, const char *name, const char *v)
{
    Onnx__AttributeProto *a = mb_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->has_s = 1;
    a->s.data = (uint8_t *)tstr(v);
    a->s.len = strlen(v);
}

enum { MB_FLOAT_DATA, MB_RAW, MB_F16_RAW, MB_F16_INT32 };

static inline uint16_t f16_bits(float f)
{
    /* Exact for the values the tests use (representable in float16). */
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000;
    int32_t e = (int32_t)((u >> 23) & 0xff) - 127 + 15;
    uint32_t mant = u & 0x7fffff;
    if ((u & 0x7fffffff) == 0)
        return (uint16_t)sign;
    assert_true(e > 0 && e < 31 && (mant & 0x1fff) == 0);
    return (uint16_t)(sign | (uint32_t)e << 10 | mant >> 13);
}

static inline Onnx__TensorProto *mb_tensor(const char *name, int ndim, const int64_t *shape)
{
    Onnx__TensorProto *t = talloc(sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = tstr(name);
    t->n_dims = (size_t)ndim;
    t->dims = talloc((size_t)ndim * sizeof *t->dims);
    if (ndim)
        memcpy(t->dims, shape, (size_t)ndim * sizeof *shape);
    t->has_data_type = 1;
    return t;
}

static inline size_t numel(int ndim, const int64_t *shape)
{
    size_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= (size_t)shape[d];
    return n;
}

static inline Onnx__TensorProto *mb_f32(const char *name, int ndim, const int64_t *shape,
                                        const float *v, int layout)
{
    Onnx__TensorProto *t = mb_tensor(name, ndim, shape);
    size_t n = numel(ndim, shape);
    t->data_type = layout >= MB_F16_RAW ? ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16
                                        : ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    if (layout == MB_FLOAT_DATA) {
        t->n_float_data = n;
        t->float_data = talloc(n * 4);
        memcpy(t->float_data, v, n * 4);
    } else if (layout == MB_RAW) {
        t->has_raw_data = 1;
        t->raw_data.len = n * 4;
        t->raw_data.data = talloc(n * 4);
        if (n)
            memcpy(t->raw_data.data, v, n * 4);
    } else if (layout == MB_F16_RAW) {
        t->has_raw_data = 1;
        t->raw_data.len = n * 2;
        t->raw_data.data = talloc(n * 2);
        for (size_t i = 0; i < n; i++) {
            uint16_t h = f16_bits(v[i]);
            memcpy(t->raw_data.data + 2 * i, &h, 2);
        }
    } else {
        t->n_int32_data = n;
        t->int32_data = talloc(n * 4);
        for (size_t i = 0; i < n; i++)
            t->int32_data[i] = f16_bits(v[i]);
    }
    return t;
}

static inline Onnx__TensorProto *mb_i64(const char *name, int ndim, const int64_t *shape,
                                        const int64_t *v)
{
    Onnx__TensorProto *t = mb_tensor(name, ndim, shape);
    size_t n = numel(ndim, shape);
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    t->n_int64_data = n;
    t->int64_data = talloc(n * 8);
    memcpy(t->int64_data, v, n * 8);
    return t;
}

static inline Onnx__ValueInfoProto *mb_vi(const char *name, int ndim, const int64_t *shape)
{
    Onnx__ValueInfoProto *vi = talloc(sizeof *vi);
    onnx__value_info_proto__init(vi);
    vi->name = tstr(name);
    if (ndim < 0)
        return vi;
    Onnx__TypeProto *tp = talloc(sizeof *tp);
    onnx__type_proto__init(tp);
    Onnx__TypeProto__Tensor *tt = talloc(sizeof *tt);
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    Onnx__TensorShapeProto *sp = talloc(sizeof *sp);
    onnx__tensor_shape_proto__init(sp);
    sp->n_dim = (size_t)ndim;
    sp->dim = talloc((size_t)ndim * sizeof *sp->dim);
    for (int d = 0; d < ndim; d++) {
        Onnx__TensorShapeProto__Dimension *dim = talloc(sizeof *dim);
        onnx__tensor_shape_proto__dimension__init(dim);
        if (shape[d] >= 0) {
            dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dim->dim_value = shape[d];
        } else {
            dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dim->dim_param = tstr("n");
        }
        sp->dim[d] = dim;
    }
    tt->shape = sp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->type = tp;
    return vi;
}

static inline void mb_input(struct mb *b, const char *name, int ndim, const int64_t *shape)
{
    b->ins[b->n_ins++] = mb_vi(name, ndim, shape);
}

static inline void mb_output(struct mb *b, const char *name)
{
    b->outs[b->n_outs++] = mb_vi(name, -1, NULL);
}

static inline uint8_t *mb_pack(const struct mb *b, size_t *len)
{
    Onnx__GraphProto g;
    onnx__graph_proto__init(&g);
    g.name = "test";
    g.n_node = b->n_nodes;
    g.node = (Onnx__NodeProto **)b->nodes;
    g.n_initializer = b->n_inits;
    g.initializer = (Onnx__TensorProto **)b->inits;
    g.n_input = b->n_ins;
    g.input = (Onnx__ValueInfoProto **)b->ins;
    g.n_output = b->n_outs;
    g.output = (Onnx__ValueInfoProto **)b->outs;
    Onnx__OperatorSetIdProto op;
    onnx__operator_set_id_proto__init(&op);
    op.domain = "";
    op.has_version = 1;
    op.version = b->opset ? b->opset : 17;
    Onnx__OperatorSetIdProto *ops[1] = {&op};
    Onnx__ModelProto mp;
    onnx__model_proto__init(&mp);
    mp.has_ir_version = 1;
    mp.ir_version = 8;
    mp.producer_name = "test_onnx";
    mp.graph = &g;
    mp.n_opset_import = 1;
    mp.opset_import = ops;
    *len = onnx__model_proto__get_packed_size(&mp);
    uint8_t *buf = talloc(*len);
    assert_int_equal(onnx__model_proto__pack(&mp, buf), *len);
    return buf;
}

static inline struct ln_onnx *mb_load(const struct mb *b)
{
    size_t len;
    uint8_t *buf = mb_pack(b, &len);
    struct ln_onnx *m = NULL;
    struct ln_error err = {0};
    int rc = ln_onnx_load_buffer(buf, len, &m, &err);
    if (rc < 0)
        fail_msg("load: %s", err.message);
    return m;
}

/* Loading must fail with a message containing each of the words. */
static inline void mb_refused(const struct mb *b, const char *w1, const char *w2)
{
    size_t len;
    uint8_t *buf = mb_pack(b, &len);
    struct ln_onnx *m = NULL;
    struct ln_error err = {0};
    assert_int_equal(ln_onnx_load_buffer(buf, len, &m, &err), LN_EFORMAT);
    assert_null(m);
    if (!strstr(err.message, w1) || (w2 && !strstr(err.message, w2)))
        fail_msg("message '%s' lacks '%s' / '%s'", err.message, w1, w2 ? w2 : "");
}

#endif
