/*
 * Loading, planning and running an ONNX model. The file is first walked
 * as protobuf wire format against the generated descriptors, so that
 * nesting depth and the number of messages are bounded before protobuf-c
 * unpacks it; the unpacked ModelProto then stays alive as the model's
 * weights (float32 weights are used in place, others converted once).
 * Every node is checked at load: its operator, its attribute names and
 * values, and that each input was defined before it.
 *
 * DESIGN (memory plan). At the first run for a set of input shapes, the
 * nodes are walked once to infer every value's shape; a node whose inputs
 * are all known (weights, shapes, folded values) is computed right then
 * and its output kept (shape arithmetic, constant sub-graphs). Every other
 * value gets a place in one arena: values are placed greedily, largest
 * first, at the lowest offset that overlaps no already placed value whose
 * lifetime (producer to last consumer) overlaps its own, so a buffer is
 * reused once its last consumer has run. Graph outputs live to the end.
 * A run with the same input shapes reuses the plan.
 *
 * Fusion: a Conv whose output feeds one Relu and nothing else applies the
 * ReLU to each tile before storing it (ln_onnx_gemm.h); the Relu node is
 * skipped and its output value is the convolution's memory. Likewise an
 * input of a Concat along its outermost non-unit axis (channels of one
 * image) that nothing else reads is written by its producer straight into
 * its slice of the output, and the Concat copies nothing for it. A value
 * that lives in another's memory extends that one's lifetime: from the
 * first producer that writes into it to the last consumer of any part.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_fs.h"
#include "ln_gpu_onnx.h"
#include "ln_onnx_int.h"
#include "ln_threads.h"
#include "ln_time.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the ONNX reader reads little-endian raw_data in place"
#endif

#define LN__OX_ALIGN 64

/* ---- protobuf wire pre-check --------------------------------------- */

struct ln__ox_wire {
    size_t messages;
    struct ln_error *err;
};

static int ln__ox_varint(const uint8_t *p, size_t n, size_t *pos, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*pos >= n)
            return -1;
        uint8_t b = p[(*pos)++];
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

/* Walks one message of descriptor d in p[0..n), recursing into the fields
 * that are messages, at most LN__OX_MAX_DEPTH deep. */
static int ln__ox_wire_check(struct ln__ox_wire *w, const uint8_t *p, size_t n,
                             const ProtobufCMessageDescriptor *d, int depth)
{
    if (depth > LN__OX_MAX_DEPTH)
        return ln_error_set(w->err, LN_EFORMAT, "messages nested deeper than %d", LN__OX_MAX_DEPTH);
    if (++w->messages > LN__OX_MAX_MESSAGES)
        return ln_error_set(w->err, LN_ETOOBIG, "more than %zu messages",
                            (size_t)LN__OX_MAX_MESSAGES);
    size_t pos = 0;
    while (pos < n) {
        uint64_t tag, v;
        if (ln__ox_varint(p, n, &pos, &tag) < 0)
            return ln_error_set(w->err, LN_EFORMAT, "truncated field tag at byte %zu", pos);
        uint64_t field = tag >> 3;
        if (field == 0 || field > 0x1fffffff)
            return ln_error_set(w->err, LN_EFORMAT, "bad field number at byte %zu", pos);
        switch (tag & 7) {
        case 0:
            if (ln__ox_varint(p, n, &pos, &v) < 0)
                return ln_error_set(w->err, LN_EFORMAT, "truncated number at byte %zu", pos);
            break;
        case 1:
        case 5: {
            size_t k = (tag & 7) == 1 ? 8 : 4;
            if (n - pos < k)
                return ln_error_set(w->err, LN_EFORMAT, "truncated number at byte %zu", pos);
            pos += k;
            break;
        }
        case 2: {
            if (ln__ox_varint(p, n, &pos, &v) < 0 || v > n - pos)
                return ln_error_set(w->err, LN_EFORMAT, "truncated field at byte %zu", pos);
            const ProtobufCFieldDescriptor *f =
                protobuf_c_message_descriptor_get_field(d, (unsigned)field);
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                int rc = ln__ox_wire_check(w, p + pos, (size_t)v, f->descriptor, depth + 1);
                if (rc < 0)
                    return rc;
            }
            pos += (size_t)v;
            break;
        }
        default:
            return ln_error_set(w->err, LN_EFORMAT, "bad wire type %u at byte %zu",
                                (unsigned)(tag & 7), pos);
        }
    }
    return 0;
}

/* ---- helpers shared with the operators ------------------------------ */

const char *ln__ox_node_name(const struct ln__ox_node *n)
{
    return n->proto->name && n->proto->name[0] ? n->proto->name : "(unnamed)";
}

const Onnx__AttributeProto *ln__ox_attr(const struct ln__ox_node *n, const char *name)
{
    for (size_t i = 0; i < n->proto->n_attribute; i++)
        if (n->proto->attribute[i]->name && !strcmp(n->proto->attribute[i]->name, name))
            return n->proto->attribute[i];
    return NULL;
}

int ln__ox_numel(const int64_t *shape, int ndim, size_t *numel, struct ln_error *err)
{
    size_t k = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || shape[d] > LN__OX_MAX_DIM)
            return ln_error_set(err, LN_EFORMAT, "dimension %lld out of range",
                                (long long)shape[d]);
        if (ln_size_mul(k, (size_t)shape[d], &k) < 0 || k > LN__OX_MAX_NUMEL)
            return ln_error_set(err, LN_ETOOBIG, "tensor of more than %zu elements",
                                (size_t)LN__OX_MAX_NUMEL);
    }
    *numel = k;
    return 0;
}

static float ln__ox_half(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (e == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            e = 127 - 15 + 1;
            while (!(mant & 0x400)) {
                mant <<= 1;
                e--;
            }
            bits = sign | (e << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (e == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((e + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

int ln__ox_tensor_from_proto(const Onnx__TensorProto *p, struct ln__ox_tensor *t, void **owned,
                             const char *what, struct ln_error *err)
{
    memset(t, 0, sizeof *t);
    *owned = NULL;
    if (p->n_external_data > 0 ||
        (p->has_data_location && p->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL))
        return ln_error_set(err, LN_EFORMAT,
                            "%s keeps its data in an external file, which is not supported "
                            "(export the model with its weights inside the .onnx file)",
                            what);
    if (p->segment)
        return ln_error_set(err, LN_EFORMAT, "%s is segmented, which is not supported", what);
    if (p->n_dims > LN_ONNX_MAX_DIMS)
        return ln_error_set(err, LN_EFORMAT, "%s has %zu dimensions (at most %d)", what, p->n_dims,
                            LN_ONNX_MAX_DIMS);
    t->ndim = (int)p->n_dims;
    for (size_t d = 0; d < p->n_dims; d++)
        t->shape[d] = p->dims[d];
    int rc = ln__ox_numel(t->shape, t->ndim, &t->numel, err);
    if (rc < 0) {
        ln_error_prefix(err, "%s", what);
        return rc;
    }
    int dt = p->has_data_type ? p->data_type : 0;
    size_t esize;
    switch (dt) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
        esize = 4;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
        esize = 2;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
        esize = 8;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
        esize = 8;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
        esize = 4;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16:
        esize = 2;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL:
        esize = 1;
        break;
    default:
        return ln_error_set(err, LN_EFORMAT, "%s has data type %d, which is not supported", what,
                            dt);
    }
    int is_float = dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
                   dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16 ||
                   dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;
    t->dtype = is_float ? LN__OX_F32 : LN__OX_I64;
    size_t n = t->numel;
    /* The typed field that holds the values when raw_data is absent. */
    size_t n_typed;
    switch (dt) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
        n_typed = p->n_float_data;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
        n_typed = p->n_double_data;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
        n_typed = p->n_int64_data;
        break;
    default:
        n_typed = p->n_int32_data;
        break;
    }
    const uint8_t *raw = NULL;
    if (p->has_raw_data) {
        if (n_typed)
            return ln_error_set(err, LN_EFORMAT, "%s has both raw_data and typed data", what);
        if (p->raw_data.len != n * esize)
            return ln_error_set(err, LN_EFORMAT,
                                "%s holds %zu bytes of raw_data for %zu values of %zu bytes", what,
                                p->raw_data.len, n, esize);
        raw = p->raw_data.data;
    } else if (n_typed != n) {
        return ln_error_set(err, LN_EFORMAT, "%s holds %zu values for a shape of %zu", what,
                            n_typed, n);
    }
    /* float32 and int64 are used in place (protobuf-c's own allocations,
     * aligned for any type); the rest is converted. */
    if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        t->data = raw ? (void *)raw : (void *)p->float_data;
        return 0;
    }
    if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64) {
        t->data = raw ? (void *)raw : (void *)p->int64_data;
        return 0;
    }
    void *buf = ln_alloc_array(n ? n : 1, is_float ? 4 : 8, 0, what, err);
    if (!buf)
        return LN_ENOMEM;
    float *f = buf;
    int64_t *q = buf;
    for (size_t i = 0; i < n; i++) {
        switch (dt) {
        case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16: {
            uint16_t h;
            if (raw)
                memcpy(&h, raw + 2 * i, 2);
            else
                h = (uint16_t)p->int32_data[i];
            f[i] = ln__ox_half(h);
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: {
            double v;
            if (raw)
                memcpy(&v, raw + 8 * i, 8);
            else
                v = p->double_data[i];
            f[i] = (float)v;
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: {
            int32_t v;
            if (raw)
                memcpy(&v, raw + 4 * i, 4);
            else
                v = p->int32_data[i];
            q[i] = v;
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: {
            int16_t v;
            if (raw)
                memcpy(&v, raw + 2 * i, 2);
            else
                v = (int16_t)p->int32_data[i];
            q[i] = v;
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
            q[i] = raw ? (int8_t)raw[i] : (int8_t)p->int32_data[i];
            break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
            q[i] = raw ? raw[i] : (uint8_t)p->int32_data[i];
            break;
        default: /* BOOL */
            q[i] = (raw ? raw[i] : p->int32_data[i]) != 0;
            break;
        }
    }
    t->data = buf;
    *owned = buf;
    return 0;
}

/* ---- names ------------------------------------------------------------ */

struct ln__ox_names {
    long *slot; /* value index or -1 */
    size_t cap;
};

static uint64_t ln__ox_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static long ln__ox_lookup(const struct ln_onnx *m, const struct ln__ox_names *t, const char *s)
{
    for (size_t i = ln__ox_hash(s) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        if (t->slot[i] < 0)
            return -1;
        if (!strcmp(m->values[t->slot[i]].name, s))
            return t->slot[i];
    }
}

static void ln__ox_insert(const struct ln_onnx *m, struct ln__ox_names *t, long v)
{
    size_t i = ln__ox_hash(m->values[v].name) & (t->cap - 1);
    while (t->slot[i] >= 0)
        i = (i + 1) & (t->cap - 1);
    t->slot[i] = v;
}

/* ---- loading ----------------------------------------------------------- */

static const char *ln__ox_str(const char *s)
{
    return s ? s : "";
}

/* Adds a value called name (defined once: a second definition is an
 * error). */
static int ln__ox_define(struct ln_onnx *m, struct ln__ox_names *names, const char *name, long *out,
                         struct ln_error *err)
{
    if (ln__ox_lookup(m, names, name) >= 0)
        return ln_error_set(err, LN_EFORMAT, "value '%.80s' is defined twice", name);
    long v = (long)m->n_values++;
    memset(&m->values[v], 0, sizeof m->values[v]);
    m->values[v].name = name;
    m->values[v].producer = -1;
    m->values[v].last_use = -1;
    ln__ox_insert(m, names, v);
    *out = v;
    return 0;
}

static int ln__ox_check_attrs(const struct ln__ox_node *n, struct ln_error *err)
{
    const char *known = n->op->attrs;
    for (size_t i = 0; i < n->proto->n_attribute; i++) {
        const Onnx__AttributeProto *a = n->proto->attribute[i];
        const char *name = ln__ox_str(a->name);
        size_t len = strlen(name);
        int found = 0;
        for (const char *p = known; len && *p;) {
            const char *e = strchr(p, ',');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            if (l == len && !memcmp(p, name, len))
                found = 1;
            p += l + (e != NULL);
        }
        if (!found || a->ref_attr_name)
            return ln_error_set(err, LN_EFORMAT,
                                "%s node '%.80s' has the attribute '%.80s', which is not supported",
                                n->op->name, ln__ox_node_name(n), name);
    }
    return 0;
}

static int ln__ox_load_graph(struct ln_onnx *m, struct ln_error *err)
{
    const Onnx__GraphProto *g = m->proto->graph;
    if (!g)
        return ln_error_set(err, LN_EFORMAT, "the model has no graph");
    for (size_t i = 0; i < m->proto->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->proto->opset_import[i];
        const char *dom = ln__ox_str(o->domain);
        if ((!dom[0] || !strcmp(dom, "ai.onnx")) && o->has_version)
            m->opset = o->version;
    }
    if (m->opset < 7 || m->opset > 21)
        return ln_error_set(err, LN_EFORMAT, "the model uses ONNX opset %lld (supported: 7 to 21)",
                            (long long)m->opset);
    if (g->n_node > LN__OX_MAX_NODES)
        return ln_error_set(err, LN_ETOOBIG, "the graph has %zu nodes (at most %zu)", g->n_node,
                            (size_t)LN__OX_MAX_NODES);
    if (g->n_sparse_initializer)
        return ln_error_set(err, LN_EFORMAT, "sparse initializers are not supported");
    /* Upper bound on the values: inputs, initializers, node outputs. */
    size_t cap = g->n_input + g->n_initializer;
    for (size_t i = 0; i < g->n_node; i++) {
        if (g->node[i]->n_output > LN__OX_MAX_NODE_IO || g->node[i]->n_input > LN__OX_MAX_NODE_IO)
            return ln_error_set(err, LN_ETOOBIG, "node '%.80s' has too many inputs or outputs",
                                ln__ox_str(g->node[i]->name));
        cap += g->node[i]->n_output;
    }
    m->values = ln_alloc_array(cap ? cap : 1, sizeof *m->values, 1, "ONNX values", err);
    m->nodes = ln_alloc_array(g->n_node ? g->n_node : 1, sizeof *m->nodes, 1, "ONNX nodes", err);
    struct ln__ox_names names = {0};
    names.cap = 16;
    while (names.cap < 2 * cap)
        names.cap *= 2;
    names.slot = ln_alloc_array(names.cap, sizeof *names.slot, 0, "ONNX names", err);
    if (!m->values || !m->nodes || !names.slot) {
        free(names.slot);
        return LN_ENOMEM;
    }
    memset(names.slot, 0xff, names.cap * sizeof *names.slot);
    int rc = 0;
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *p = g->initializer[i];
        long v;
        if ((rc = ln__ox_define(m, &names, ln__ox_str(p->name), &v, err)) < 0)
            goto out;
        struct ln__ox_value *val = &m->values[v];
        char what[160];
        snprintf(what, sizeof what, "initializer '%.120s'", val->name);
        if ((rc = ln__ox_tensor_from_proto(p, &val->t, &val->owned, what, err)) < 0)
            goto out;
        val->is_init = val->known = 1;
    }
    m->inputs = ln_xcalloc(g->n_input + 1, sizeof *m->inputs);
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *vi = g->input[i];
        const char *name = ln__ox_str(vi->name);
        if (ln__ox_lookup(m, &names, name) >= 0)
            continue; /* an initializer listed as input (older exports) */
        const Onnx__TypeProto *tp = vi->type;
        if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
            rc = ln_error_set(err, LN_EFORMAT, "input '%.80s' is not a tensor", name);
        else if (tp->tensor_type->has_elem_type &&
                 tp->tensor_type->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
            rc = ln_error_set(
                err, LN_EFORMAT,
                "input '%.80s' has element type %d (only float32 inputs are supported)", name,
                (int)tp->tensor_type->elem_type);
        else if (!tp->tensor_type->shape || tp->tensor_type->shape->n_dim > LN_ONNX_MAX_DIMS)
            rc = ln_error_set(err, LN_EFORMAT,
                              "input '%.80s' has no shape or more than %d dimensions", name,
                              LN_ONNX_MAX_DIMS);
        if (rc < 0)
            goto out;
        long v;
        if ((rc = ln__ox_define(m, &names, name, &v, err)) < 0)
            goto out;
        struct ln__ox_value *val = &m->values[v];
        val->is_input = 1;
        val->t.dtype = LN__OX_F32;
        val->t.ndim = (int)tp->tensor_type->shape->n_dim;
        for (int d = 0; d < val->t.ndim; d++) {
            const Onnx__TensorShapeProto__Dimension *dim = tp->tensor_type->shape->dim[d];
            int64_t s = dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE
                            ? dim->dim_value
                            : -1;
            if (s < -1 || s > LN__OX_MAX_DIM) {
                rc = ln_error_set(err, LN_EFORMAT, "input '%.80s' has a dimension of %lld", name,
                                  (long long)s);
                goto out;
            }
            val->t.shape[d] = s;
        }
        m->inputs[m->n_inputs++] = v;
    }
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *p = g->node[i];
        const char *dom = ln__ox_str(p->domain);
        const char *op_type = ln__ox_str(p->op_type);
        const struct ln__ox_op *op = ln__ox_find_op(op_type);
        if ((dom[0] && strcmp(dom, "ai.onnx")) || !op) {
            rc = ln_error_set(err, LN_EFORMAT,
                              "node '%.80s' uses the operator %.40s%s%.80s, which is not "
                              "supported",
                              p->name && p->name[0] ? p->name : "(unnamed)", dom, dom[0] ? "." : "",
                              op_type);
            goto out;
        }
        struct ln__ox_node *n = &m->nodes[m->n_nodes];
        n->op = op;
        n->proto = p;
        if ((rc = ln__ox_check_attrs(n, err)) < 0)
            goto out;
        /* Trailing empty names are omitted optional inputs. */
        size_t n_in = p->n_input;
        while (n_in > 0 && !ln__ox_str(p->input[n_in - 1])[0])
            n_in--;
        if ((int)n_in < op->min_in || (int)n_in > op->max_in) {
            rc = ln_error_set(err, LN_EFORMAT, "%s node '%.80s' has %zu inputs (%d to %d expected)",
                              op->name, ln__ox_node_name(n), n_in, op->min_in, op->max_in);
            goto out;
        }
        n->n_in = (int)n_in;
        n->in = ln_xcalloc(n_in + 1, sizeof *n->in);
        for (size_t k = 0; k < n_in; k++) {
            const char *name = ln__ox_str(p->input[k]);
            n->in[k] = name[0] ? ln__ox_lookup(m, &names, name) : -1;
            if (!name[0] && (int)k < op->min_in) {
                rc = ln_error_set(err, LN_EFORMAT, "%s node '%.80s' lacks its input %zu", op->name,
                                  ln__ox_node_name(n), k + 1);
                goto out;
            }
            if (name[0] && n->in[k] < 0) {
                rc = ln_error_set(err, LN_EFORMAT,
                                  "%s node '%.80s' reads '%.80s', which no earlier node defines",
                                  op->name, ln__ox_node_name(n), name);
                goto out;
            }
        }
        n->n_out = (int)p->n_output;
        n->out = ln_xcalloc(p->n_output + 1, sizeof *n->out);
        for (size_t k = 0; k < p->n_output; k++) {
            const char *name = ln__ox_str(p->output[k]);
            n->out[k] = -1;
            if (!name[0])
                continue;
            if ((int)k >= op->max_out) {
                rc = ln_error_set(err, LN_EFORMAT,
                                  "%s node '%.80s' asks for output %zu, which is not supported",
                                  op->name, ln__ox_node_name(n), k + 1);
                goto out;
            }
            if ((rc = ln__ox_define(m, &names, name, &n->out[k], err)) < 0)
                goto out;
            m->values[n->out[k]].producer = (long)m->n_nodes;
        }
        if (n->n_out < 1 || n->out[0] < 0) {
            rc = ln_error_set(err, LN_EFORMAT, "%s node '%.80s' has no output", op->name,
                              ln__ox_node_name(n));
            goto out;
        }
        m->n_nodes++;
        if (op->load && (rc = op->load(m, n, err)) < 0)
            goto out;
    }
    if (g->n_output == 0) {
        rc = ln_error_set(err, LN_EFORMAT, "the graph has no outputs");
        goto out;
    }
    m->outputs = ln_xcalloc(g->n_output, sizeof *m->outputs);
    for (size_t i = 0; i < g->n_output; i++) {
        const char *name = ln__ox_str(g->output[i]->name);
        long v = ln__ox_lookup(m, &names, name);
        if (v < 0) {
            rc = ln_error_set(err, LN_EFORMAT, "the graph output '%.80s' is never computed", name);
            goto out;
        }
        m->outputs[m->n_outputs++] = v;
    }
out:
    free(names.slot);
    return rc;
}

/* protobuf-c allocates through these: the unpacked model holds the
 * weights, so running out of memory there is a large allocation failing
 * (LN_ENOMEM), not a damaged file. */
static void *ln__ox_pb_alloc(void *data, size_t size)
{
    void *p = ln_malloc(size);
    if (!p)
        *(int *)data = 1;
    return p;
}

static void ln__ox_pb_free(void *data, void *p)
{
    free(p);
}

int ln_onnx_load_buffer(const void *data, size_t n, struct ln_onnx **out, struct ln_error *err)
{
    *out = NULL;
    if (n > LN__OX_MAX_FILE)
        return ln_error_set(err, LN_ETOOBIG, "ONNX model of %zu bytes (at most %zu)", n,
                            (size_t)LN__OX_MAX_FILE);
    struct ln__ox_wire w = {0, err};
    int rc = ln__ox_wire_check(&w, data, n, &onnx__model_proto__descriptor, 0);
    if (rc < 0) {
        ln_error_prefix(err, "not a valid ONNX model");
        return rc;
    }
    struct ln_onnx *m = ln_xcalloc(1, sizeof *m);
    m->mem_limit = SIZE_MAX;
    m->pb_alloc.alloc = ln__ox_pb_alloc;
    m->pb_alloc.free = ln__ox_pb_free;
    m->pb_alloc.allocator_data = &m->pb_alloc_failed;
    m->proto = onnx__model_proto__unpack(&m->pb_alloc, n, data);
    if (!m->proto) {
        if (m->pb_alloc_failed)
            rc = ln_error_set(err, LN_ENOMEM, "out of memory reading the ONNX model");
        else
            rc = ln_error_set(err, LN_EFORMAT, "not a valid ONNX model (protobuf decoding failed)");
        goto fail;
    }
    if ((rc = ln__ox_load_graph(m, err)) < 0)
        goto fail;
    *out = m;
    return 0;
fail:
    ln_onnx_free(m);
    return rc;
}

/* The file is mapped rather than read: protobuf-c copies what it keeps,
 * so a read copy would hold every weight twice while loading. */
int ln_onnx_load(const char *path, struct ln_onnx **out, struct ln_error *err)
{
    *out = NULL;
    /* The size is checked before mapping: a mapping costs address space. */
    struct ln_path_info info;
    struct ln_error ferr = {0};
    int rc = ln_path_stat(path, 0, &info, &ferr);
    if (rc == LN_ENOTFOUND)
        return ln_error_set(err, LN_ENOTFOUND, "%s: no such file", path);
    if (rc < 0)
        return ln_error_set(err, LN_EIO, "%s", ferr.message);
    if (info.kind != LN_PATH_FILE)
        return ln_error_set(err, LN_EIO, "%s: not a regular file", path);
    if (info.size > (uint64_t)LN__OX_MAX_FILE)
        return ln_error_set(err, LN_ETOOBIG, "%s: ONNX model of %llu bytes (at most %zu)", path,
                            (unsigned long long)info.size, (size_t)LN__OX_MAX_FILE);
    struct ln_map map;
    rc = ln_map_file(&map, path, &ferr);
    if (rc == LN_ENOTFOUND)
        return ln_error_set(err, LN_ENOTFOUND, "%s: no such file", path);
    if (rc < 0)
        return ln_error_set(err, rc == LN_ENOMEM ? rc : LN_EIO, "%s", ferr.message);
    if (map.size > (uint64_t)LN__OX_MAX_FILE) { /* it grew since the check */
        ln_unmap(&map);
        return ln_error_set(err, LN_ETOOBIG, "%s: ONNX model larger than %zu bytes", path,
                            (size_t)LN__OX_MAX_FILE);
    }
    static const uint8_t empty[1];
    rc = ln_onnx_load_buffer(map.data ? map.data : empty, (size_t)map.size, out, err);
    ln_unmap(&map);
    if (rc < 0)
        ln_error_prefix(err, "%s", path);
    return rc;
}

/* ---- planning -------------------------------------------------------- */

static size_t ln__ox_esize(int dtype)
{
    return dtype == LN__OX_I64 ? 8 : 4;
}

static void ln__ox_unplan(struct ln_onnx *m)
{
    for (size_t i = 0; i < m->n_values; i++) {
        struct ln__ox_value *v = &m->values[i];
        if (v->is_init)
            continue;
        if (v->owned) {
            free(v->owned);
            v->owned = NULL;
        }
        v->known = 0;
        v->t.data = NULL;
    }
    for (size_t i = 0; i < m->n_nodes; i++)
        m->nodes[i].folded = m->nodes[i].fuse_relu = m->nodes[i].fused = 0;
    for (size_t i = 0; i < m->n_values; i++) {
        m->values[i].alias = 0;
        m->values[i].alias_off = 0;
    }
    free(m->arena);
    m->arena = NULL;
    m->arena_bytes = 0;
    m->scratch_floats = 0;
    m->planned = 0;
}

struct ln__ox_place {
    long v;
    size_t bytes;
};

static int ln__ox_place_cmp(const void *a, const void *b)
{
    const struct ln__ox_place *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? 1 : -1;
    return x->v < y->v ? -1 : x->v > y->v;
}

/* Greedy placement (see DESIGN): returns the arena size. */
static int ln__ox_place_values(struct ln_onnx *m, struct ln_error *err)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n_values; i++) {
        const struct ln__ox_value *v = &m->values[i];
        if (!v->known && !v->is_input && v->producer >= 0 && !v->alias)
            n++;
    }
    struct ln__ox_place *order = ln_alloc_array(n ? n : 1, sizeof *order, 0, "ONNX plan", err);
    /* The placed values, then room for the ones in conflict with the next. */
    long *placed = ln_alloc_array(n ? 2 * n : 1, sizeof *placed, 0, "ONNX plan", err);
    if (!order || !placed) {
        free(order);
        free(placed);
        return LN_ENOMEM;
    }
    n = 0;
    for (size_t i = 0; i < m->n_values; i++) {
        struct ln__ox_value *v = &m->values[i];
        if (v->known || v->is_input || v->producer < 0 || v->alias)
            continue;
        size_t b = v->t.numel * ln__ox_esize(v->t.dtype);
        v->bytes = (b + LN__OX_ALIGN - 1) / LN__OX_ALIGN * LN__OX_ALIGN;
        order[n].v = (long)i;
        order[n++].bytes = v->bytes;
    }
    qsort(order, n, sizeof *order, ln__ox_place_cmp);
    size_t top = 0, n_placed = 0;
    for (size_t i = 0; i < n; i++) {
        struct ln__ox_value *v = &m->values[order[i].v];
        /* Lowest offset clear of every placed value alive at the same time:
         * scan the conflicting ones in offset order (insertion sort). */
        size_t k = 0;
        long *conf = placed + n_placed; /* scratch past the placed ones */
        size_t n_conf = 0;
        for (size_t j = 0; j < n_placed; j++) {
            const struct ln__ox_value *u = &m->values[placed[j]];
            if (u->born <= v->last_use && v->born <= u->last_use) {
                size_t at = n_conf++;
                while (at > 0 && m->values[conf[at - 1]].offset > u->offset) {
                    conf[at] = conf[at - 1];
                    at--;
                }
                conf[at] = placed[j];
            }
        }
        size_t off = 0;
        for (k = 0; k < n_conf; k++) {
            const struct ln__ox_value *u = &m->values[conf[k]];
            if (off + v->bytes <= u->offset)
                break;
            if (u->offset + u->bytes > off)
                off = u->offset + u->bytes;
        }
        v->offset = off;
        placed[n_placed++] = order[i].v;
        if (off + v->bytes > top)
            top = off + v->bytes;
    }
    free(order);
    free(placed);
    m->arena_bytes = top;
    return 0;
}

void ln__ox_set_mem_limit(struct ln_onnx *m, size_t bytes)
{
    m->mem_limit = bytes;
}

static int ln__ox_over_limit(const struct ln_onnx *m, size_t bytes, struct ln_error *err)
{
    return ln_error_set(err, LN_ETOOBIG,
                        "the model needs more than %zu MiB for these input shapes (limit %zu MiB)",
                        bytes >> 20, m->mem_limit >> 20);
}

/* Marks each Conv whose output has one consumer, a Relu, as applying it
 * (see DESIGN); last_use holds each value's consumer count here (2 more
 * for a graph output). */
static void ln__ox_fuse(struct ln_onnx *m)
{
    for (size_t i = 0; i < m->n_nodes; i++) {
        struct ln__ox_node *r = &m->nodes[i];
        if (r->folded || strcmp(r->op->name, "Relu") || r->n_in != 1 || r->in[0] < 0 ||
            r->n_out != 1 || r->out[0] < 0)
            continue;
        struct ln__ox_value *cv = &m->values[r->in[0]];
        if (cv->last_use != 1 || cv->producer < 0 || cv->known || cv->is_input)
            continue;
        struct ln__ox_node *c = &m->nodes[cv->producer];
        if (c->folded || strcmp(c->op->name, "Conv") || c->out[0] != r->in[0] ||
            ln__ox_out(m, r, 0)->dtype != LN__OX_F32)
            continue;
        c->fuse_relu = 1;
        r->fused = 1;
        m->values[r->out[0]].alias = r->in[0] + 1;
    }
    for (size_t i = 0; i < m->n_nodes; i++) {
        struct ln__ox_node *r = &m->nodes[i];
        if (r->folded || strcmp(r->op->name, "Concat") || r->n_out != 1 || r->out[0] < 0)
            continue;
        const struct ln__ox_tensor *y = ln__ox_out(m, r, 0);
        int64_t axis = r->a.axis < 0 ? r->a.axis + y->ndim : r->a.axis;
        size_t outer = 1, es = y->dtype == LN__OX_I64 ? 8 : 4, at = 0;
        for (int64_t d = 0; d < axis; d++)
            outer *= (size_t)y->shape[d];
        if (outer != 1)
            continue;
        for (int k = 0; k < r->n_in; k++) {
            long xi = r->in[k];
            struct ln__ox_value *x = &m->values[xi];
            size_t bytes = x->t.numel * es;
            long base = x->alias ? x->alias - 1 : xi;
            struct ln__ox_value *b = &m->values[base];
            /* One consumer (this one), made by a node at run time, and not
             * already inside another value at an offset. */
            if (x->last_use == 1 && x->producer >= 0 && !x->known && !x->is_input &&
                !x->alias_off && !b->alias && b->producer >= 0 && !b->known && !b->is_input &&
                x->t.dtype == y->dtype && bytes) {
                b->alias = r->out[0] + 1;
                b->alias_off = at;
            }
            at += bytes;
        }
    }
}

/* The value whose own memory holds value v, and v's offset in it. */
static long ln__ox_root(const struct ln_onnx *m, long v, size_t *off)
{
    *off = 0;
    while (m->values[v].alias) {
        *off += m->values[v].alias_off;
        v = m->values[v].alias - 1;
    }
    return v;
}

static int ln__ox_plan(struct ln_onnx *m, const struct ln_onnx_tensor *inputs, struct ln_error *err)
{
    ln__ox_unplan(m);
    int rc = 0;
    size_t used = 0; /* folded values, for the limit */
    for (size_t i = 0; i < m->n_inputs; i++) {
        struct ln__ox_value *v = &m->values[m->inputs[i]];
        for (int d = 0; d < v->t.ndim; d++)
            v->t.shape[d] = inputs[i].shape[d];
        if ((rc = ln__ox_numel(v->t.shape, v->t.ndim, &v->t.numel, err)) < 0) {
            ln_error_prefix(err, "input '%.80s'", v->name);
            return rc;
        }
    }
    for (size_t i = 0; i < m->n_nodes; i++) {
        struct ln__ox_node *n = &m->nodes[i];
        if (n->op->constant) {
            n->folded = 1;
            continue;
        }
        int all_known = 1;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && !m->values[n->in[k]].known)
                all_known = 0;
        if ((rc = n->op->infer(m, n, err)) < 0) {
            ln_error_prefix(err, "%s node '%.80s'", n->op->name, ln__ox_node_name(n));
            return rc;
        }
        for (int k = 0; k < n->n_out; k++) {
            if (n->out[k] < 0)
                continue;
            struct ln__ox_tensor *t = ln__ox_out(m, n, k);
            if ((rc = ln__ox_numel(t->shape, t->ndim, &t->numel, err)) < 0) {
                ln_error_prefix(err, "%s node '%.80s'", n->op->name, ln__ox_node_name(n));
                return rc;
            }
        }
        if (!all_known && !n->op->shape_only) {
            if (n->op->scratch) {
                size_t s = n->op->scratch(m, n);
                if (s > m->scratch_floats)
                    m->scratch_floats = s;
            }
            continue;
        }
        /* Computed now, once for these input shapes. */
        for (int k = 0; k < n->n_out; k++) {
            if (n->out[k] < 0)
                continue;
            struct ln__ox_value *v = &m->values[n->out[k]];
            used += v->t.numel * ln__ox_esize(v->t.dtype);
            if (used > m->mem_limit)
                return ln__ox_over_limit(m, used, err);
            v->owned = ln_alloc_array(v->t.numel ? v->t.numel : 1, ln__ox_esize(v->t.dtype), 1,
                                      "ONNX constant", err);
            if (!v->owned)
                return LN_ENOMEM;
            v->t.data = v->owned;
            v->known = 1;
        }
        n->folded = 1;
        if (n->op->scratch && n->op->scratch(m, n) > 0) {
            /* Rare (a convolution of constants): give it its own scratch. */
            size_t s = n->op->scratch(m, n), bytes;
            if (ln_size_mul3(s, sizeof(float), (size_t)ln_threads_get(), &bytes) < 0 ||
                bytes > m->mem_limit - used)
                return ln__ox_over_limit(m, used, err);
            float *keep = m->scratch;
            int keep_threads = m->scratch_threads;
            m->scratch =
                ln_alloc_array(s, sizeof(float) * (size_t)ln_threads_get(), 0, "ONNX scratch", err);
            if (!m->scratch) {
                m->scratch = keep;
                return LN_ENOMEM;
            }
            m->scratch_threads = ln_threads_get();
            size_t keep_floats = m->scratch_floats;
            m->scratch_floats = s;
            rc = n->op->exec(m, n, err);
            free(m->scratch);
            m->scratch = keep;
            m->scratch_threads = keep_threads;
            m->scratch_floats = keep_floats;
        } else {
            rc = n->op->exec(m, n, err);
        }
        if (rc < 0) {
            ln_error_prefix(err, "%s node '%.80s'", n->op->name, ln__ox_node_name(n));
            return rc;
        }
    }
    /* Lifetimes of the run-time values; last_use counts consumers first. */
    for (size_t i = 0; i < m->n_values; i++)
        m->values[i].last_use = 0;
    for (size_t i = 0; i < m->n_nodes; i++)
        for (int k = 0; !m->nodes[i].folded && k < m->nodes[i].n_in; k++)
            if (m->nodes[i].in[k] >= 0)
                m->values[m->nodes[i].in[k]].last_use++;
    for (size_t i = 0; i < m->n_outputs; i++)
        m->values[m->outputs[i]].last_use += 2;
    ln__ox_fuse(m);
    for (size_t i = 0; i < m->n_values; i++)
        m->values[i].last_use = m->values[i].producer;
    for (size_t i = 0; i < m->n_nodes; i++) {
        const struct ln__ox_node *n = &m->nodes[i];
        if (n->folded)
            continue;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0)
                m->values[n->in[k]].last_use = (long)i;
    }
    for (size_t i = 0; i < m->n_outputs; i++)
        m->values[m->outputs[i]].last_use = (long)m->n_nodes;
    for (size_t i = 0; i < m->n_values; i++)
        m->values[i].born = m->values[i].producer;
    for (size_t i = 0; i < m->n_values; i++) {
        struct ln__ox_value *v = &m->values[i];
        size_t off;
        if (!v->alias)
            continue;
        struct ln__ox_value *r = &m->values[ln__ox_root(m, (long)i, &off)];
        if (v->last_use > r->last_use)
            r->last_use = v->last_use;
        if (v->producer < r->born)
            r->born = v->producer;
    }
    if ((rc = ln__ox_place_values(m, err)) < 0)
        return rc;
    size_t scratch_bytes;
    if (ln_size_mul3(m->scratch_floats, sizeof(float), (size_t)ln_threads_get(), &scratch_bytes) <
        0)
        return ln_error_set(err, LN_ETOOBIG, "convolution scratch too large");
    if (m->arena_bytes > m->mem_limit || scratch_bytes > m->mem_limit - m->arena_bytes ||
        used > m->mem_limit - m->arena_bytes - scratch_bytes)
        return ln__ox_over_limit(m, used + m->arena_bytes + scratch_bytes, err);
    m->arena = ln_alloc_array(m->arena_bytes ? m->arena_bytes : 1, 1, 0, "ONNX activations", err);
    if (!m->arena)
        return LN_ENOMEM;
    for (size_t i = 0; i < m->n_values; i++) {
        struct ln__ox_value *v = &m->values[i];
        if (!v->known && !v->is_input && v->producer >= 0 && !v->alias)
            v->t.data = m->arena + v->offset;
    }
    for (size_t i = 0; i < m->n_values; i++)
        if (m->values[i].alias) {
            size_t off;
            long r = ln__ox_root(m, (long)i, &off);
            m->values[i].t.data = (uint8_t *)m->values[r].t.data + off;
        }
    m->planned = 1;
    return 0;
}

/* ---- running ---------------------------------------------------------- */

/* LN_ONNX_PROFILE=1: after each run, a table on stderr of the time spent
 * per operator (convolutions per kernel size), for tuning the runtime.
 * Off, it costs one test per node. */
#define LN__OX_PROF_ROWS 48

struct ln__ox_prof {
    char key[32];
    size_t count;
    double seconds, flops; /* flops: multiply-adds times 2, for convolutions */
};

static int ln__ox_profiling(void)
{
    static int on = -1; /* racy but idempotent: every thread writes the same */
    if (on < 0) {
        const char *e = getenv("LN_ONNX_PROFILE");
        on = e && *e && strcmp(e, "0") != 0;
    }
    return on;
}

static void ln__ox_prof_add(struct ln__ox_prof *rows, size_t *n_rows, struct ln_onnx *m,
                            const struct ln__ox_node *n, double seconds)
{
    char key[32];
    const struct ln__ox_tensor *w = n->n_in > 1 ? ln__ox_in(m, n, 1) : NULL;
    double flops = 0;
    if (!strncmp(n->op->name, "Conv", 4) && w && w->ndim == 4) {
        snprintf(key, sizeof key, "%s %lldx%lld", n->op->name, (long long)w->shape[2],
                 (long long)w->shape[3]);
        /* Conv: each output sums C/group x kh x kw products; ConvTranspose:
         * each input pixel spreads to M/group x kh x kw. */
        const struct ln__ox_tensor *t = n->op->name[4] ? ln__ox_in(m, n, 0) : ln__ox_out(m, n, 0);
        flops = 2.0 * (double)t->numel * (double)(w->shape[1] * w->shape[2] * w->shape[3]);
    } else
        snprintf(key, sizeof key, "%s", n->op->name);
    size_t i = 0;
    while (i < *n_rows && strcmp(rows[i].key, key))
        i++;
    if (i == *n_rows) {
        if (*n_rows == LN__OX_PROF_ROWS)
            i = LN__OX_PROF_ROWS - 1; /* the last row gathers the rest */
        else {
            memset(&rows[i], 0, sizeof rows[i]);
            snprintf(rows[i].key, sizeof rows[i].key, "%s", key);
            (*n_rows)++;
        }
    }
    rows[i].count++;
    rows[i].seconds += seconds;
    rows[i].flops += flops;
}

static void ln__ox_prof_print(const struct ln__ox_prof *rows, size_t n_rows)
{
    double total = 0;
    for (size_t i = 0; i < n_rows; i++)
        total += rows[i].seconds;
    fprintf(stderr, "ONNX profile (%d threads): %.1f ms\n", ln_threads_get(), total * 1e3);
    fprintf(stderr, "  %-20s %6s %10s %6s %8s\n", "operator", "count", "ms", "%", "GFLOP/s");
    for (size_t i = 0; i < n_rows; i++) {
        fprintf(stderr, "  %-20s %6zu %10.2f %6.1f", rows[i].key, rows[i].count,
                rows[i].seconds * 1e3, total > 0 ? 100 * rows[i].seconds / total : 0.0);
        if (rows[i].flops > 0 && rows[i].seconds > 0)
            fprintf(stderr, " %8.1f", rows[i].flops / rows[i].seconds * 1e-9);
        fputc('\n', stderr);
    }
}

int ln__ox_scratch_ready(struct ln_onnx *m, struct ln_error *err)
{
    const int threads = ln_threads_get();
    if (!m->scratch_floats ||
        (m->scratch && m->scratch_threads == threads && m->scratch_cap == m->scratch_floats))
        return 0;
    free(m->scratch);
    m->scratch_cap = 0;
    m->scratch =
        ln_alloc_array(m->scratch_floats, sizeof(float) * (size_t)threads, 0, "ONNX scratch", err);
    m->scratch_threads = threads;
    if (!m->scratch)
        return LN_ENOMEM;
    m->scratch_cap = m->scratch_floats;
    return 0;
}

int ln__ox_exec_node(struct ln_onnx *m, struct ln__ox_node *n, struct ln_error *err)
{
    const int rc = n->op->exec(m, n, err);
    if (rc < 0)
        ln_error_prefix(err, "%s node '%.80s'", n->op->name, ln__ox_node_name(n));
    return rc;
}

int ln_onnx_run(struct ln_onnx *m, const struct ln_onnx_tensor *inputs, size_t n_inputs,
                struct ln_onnx_tensor *outputs, size_t n_outputs, struct ln_error *err)
{
    for (size_t i = 0; i < n_outputs; i++)
        memset(&outputs[i], 0, sizeof outputs[i]);
    if (n_inputs != m->n_inputs)
        return ln_error_set(err, LN_EINVAL, "the model takes %zu inputs, %zu given", m->n_inputs,
                            n_inputs);
    if (n_outputs > m->n_outputs)
        return ln_error_set(err, LN_EINVAL, "the model has %zu outputs, %zu asked for",
                            m->n_outputs, n_outputs);
    int same = m->planned;
    for (size_t i = 0; i < n_inputs; i++) {
        const struct ln__ox_value *v = &m->values[m->inputs[i]];
        const Onnx__TensorShapeProto *sp = NULL;
        for (size_t j = 0; j < m->proto->graph->n_input; j++)
            if (!strcmp(ln__ox_str(m->proto->graph->input[j]->name), v->name))
                sp = m->proto->graph->input[j]->type->tensor_type->shape;
        int bad = inputs[i].ndim != v->t.ndim || !inputs[i].data;
        for (int d = 0; !bad && d < v->t.ndim; d++) {
            const Onnx__TensorShapeProto__Dimension *dim = sp->dim[d];
            if (inputs[i].shape[d] < 1 || inputs[i].shape[d] > LN__OX_MAX_DIM ||
                (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                 dim->dim_value != inputs[i].shape[d]))
                bad = 1;
            if (same && m->plan_shapes[i][d] != inputs[i].shape[d])
                same = 0;
        }
        if (bad) {
            char want[160];
            size_t o = 0;
            for (int d = 0; d < v->t.ndim && o < sizeof want - 24; d++) {
                const Onnx__TensorShapeProto__Dimension *dim = sp->dim[d];
                if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
                    o += (size_t)snprintf(want + o, sizeof want - o, "%s%lld", d ? "x" : "",
                                          (long long)dim->dim_value);
                else
                    o += (size_t)snprintf(want + o, sizeof want - o, "%s?", d ? "x" : "");
            }
            want[o] = 0;
            return ln_error_set(err, LN_EINVAL, "input '%.80s' must have the shape %s", v->name,
                                want);
        }
    }
    int rc = 0;
    if (!same) {
        free(m->plan_shapes);
        m->plan_shapes = ln_xcalloc(n_inputs + 1, sizeof *m->plan_shapes);
        for (size_t i = 0; i < n_inputs; i++) {
            m->values[m->inputs[i]].t.data = inputs[i].data;
            for (int d = 0; d < inputs[i].ndim; d++)
                m->plan_shapes[i][d] = inputs[i].shape[d];
        }
        if ((rc = ln__ox_plan(m, inputs, err)) < 0) {
            ln__ox_unplan(m);
            return rc;
        }
    }
    for (size_t i = 0; i < n_inputs; i++)
        m->values[m->inputs[i]].t.data = inputs[i].data;
    /* A selected GPU runs the plan (the nodes it has no form for on the CPU
     * between its stretches), unless no node of it has a GPU form. */
    if ((rc = ln__gpu_onnx_run(m, !same, outputs, n_outputs, err)) != LN__GPU_DECLINED)
        return rc;
    if ((rc = ln__ox_scratch_ready(m, err)) < 0)
        return rc;
    int prof = ln__ox_profiling();
    struct ln__ox_prof prof_rows[LN__OX_PROF_ROWS];
    size_t n_prof = 0;
    for (size_t i = 0; i < m->n_nodes; i++) {
        struct ln__ox_node *n = &m->nodes[i];
        if (n->folded || n->fused)
            continue;
        double t0 = prof ? ln_time_now() : 0;
        if ((rc = ln__ox_exec_node(m, n, err)) < 0)
            return rc;
        if (prof)
            ln__ox_prof_add(prof_rows, &n_prof, m, n, ln_time_now() - t0);
    }
    if (prof)
        ln__ox_prof_print(prof_rows, n_prof);
    for (size_t i = 0; i < n_outputs; i++) {
        const struct ln__ox_tensor *t = &m->values[m->outputs[i]].t;
        float *d = ln_alloc_array(t->numel ? t->numel : 1, sizeof(float), 0, "ONNX output", err);
        if (!d) {
            for (size_t j = 0; j < i; j++)
                ln_onnx_tensor_free(&outputs[j]);
            return LN_ENOMEM;
        }
        if (t->dtype == LN__OX_F32) {
            memcpy(d, t->data, t->numel * sizeof(float));
        } else {
            for (size_t k = 0; k < t->numel; k++)
                d[k] = (float)((const int64_t *)t->data)[k];
        }
        outputs[i].data = d;
        outputs[i].ndim = t->ndim;
        for (int k = 0; k < t->ndim; k++)
            outputs[i].shape[k] = t->shape[k];
    }
    return 0;
}

/* ---- queries and cleanup -------------------------------------------- */

size_t ln_onnx_n_inputs(const struct ln_onnx *m)
{
    return m->n_inputs;
}

size_t ln_onnx_n_outputs(const struct ln_onnx *m)
{
    return m->n_outputs;
}

int ln_onnx_input_shape(const struct ln_onnx *m, size_t i, int64_t shape[LN_ONNX_MAX_DIMS],
                        int *ndim)
{
    if (i >= m->n_inputs)
        return LN_EINVAL;
    const char *name = m->values[m->inputs[i]].name;
    for (size_t j = 0; j < m->proto->graph->n_input; j++) {
        const Onnx__ValueInfoProto *vi = m->proto->graph->input[j];
        if (strcmp(ln__ox_str(vi->name), name))
            continue;
        const Onnx__TensorShapeProto *sp = vi->type->tensor_type->shape;
        *ndim = (int)sp->n_dim;
        for (size_t d = 0; d < sp->n_dim; d++)
            shape[d] =
                sp->dim[d]->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE
                    ? sp->dim[d]->dim_value
                    : -1;
        return 0;
    }
    return LN_EINTERNAL;
}

const char *ln_onnx_input_name(const struct ln_onnx *m, size_t i)
{
    return i < m->n_inputs ? m->values[m->inputs[i]].name : NULL;
}

const char *ln_onnx_output_name(const struct ln_onnx *m, size_t i)
{
    return i < m->n_outputs ? m->values[m->outputs[i]].name : NULL;
}

void ln_onnx_tensor_free(struct ln_onnx_tensor *t)
{
    if (!t)
        return;
    free(t->data);
    memset(t, 0, sizeof *t);
}

void ln_onnx_free(struct ln_onnx *m)
{
    if (!m)
        return;
    ln__gpu_onnx_free(m);
    ln__ox_unplan(m);
    for (size_t i = 0; i < m->n_values; i++)
        free(m->values[i].owned);
    for (size_t i = 0; i < m->n_nodes; i++) {
        free(m->nodes[i].in);
        free(m->nodes[i].out);
    }
    /* A node that failed to load may hold in/out too. */
    if (m->nodes && m->proto && m->proto->graph && m->n_nodes < m->proto->graph->n_node) {
        free(m->nodes[m->n_nodes].in);
        free(m->nodes[m->n_nodes].out);
    }
    free(m->values);
    free(m->nodes);
    free(m->inputs);
    free(m->outputs);
    free(m->plan_shapes);
    free(m->scratch);
    if (m->proto)
        onnx__model_proto__free_unpacked(m->proto, &m->pb_alloc);
    free(m);
}
