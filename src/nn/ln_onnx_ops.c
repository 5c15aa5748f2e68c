/*
 * The ONNX operators: for each, an attribute parser run at load (names
 * already checked against the table at the bottom), a shape function run
 * when planning, and the computation. Convolutions run our register-
 * blocked product (ln_onnx_gemm.h, one form per kernel set) on blocks
 * fixed by the shapes: bands of output rows over a zero-padded copy of
 * the input rows for stride 1 (each kernel tap an offset, no im2col), else
 * blocks of output columns over im2col rows; OpenBLAS on the same im2col
 * blocks remains as a reference (LN_ONNX_CONV=blas). Element-wise loops
 * split rows in blocks fixed by the shapes too; so every result is the
 * same for any thread count (see src/core/ln_threads.h). Semantics follow
 * the ONNX operator specification for the opsets 7 to 21; where it leaves
 * a choice (pooling windows past the edge in ceil mode), PyTorch's, which
 * made the exports.
 */
#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_nn_ops.h"
#include "ln_onnx_gemm.h"
#include "ln_onnx_int.h"
#include "ln_threads.h"

#define LN__OX_GRAIN 16384 /* elements per block of the element-wise loops */

typedef struct ln_onnx ox_model;
typedef struct ln__ox_node ox_node;
typedef struct ln__ox_tensor ox_tensor;

/* ---- attribute helpers ------------------------------------------------- */

static int ox_bad_attr(const ox_node *n, const char *name, const char *why, struct ln_error *err)
{
    return ln_error_set(err, LN_EFORMAT, "%s node '%.80s': attribute '%.80s' %s", n->op->name,
                        ln__ox_node_name(n), name, why);
}

static int ox_int(const ox_node *n, const char *name, int64_t def, int64_t *v, struct ln_error *err)
{
    const Onnx__AttributeProto *a = ln__ox_attr(n, name);
    *v = def;
    if (!a)
        return 0;
    if (!a->has_i || (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT))
        return ox_bad_attr(n, name, "must be an integer", err);
    *v = a->i;
    return 0;
}

static int ox_float(const ox_node *n, const char *name, float def, float *v, struct ln_error *err)
{
    const Onnx__AttributeProto *a = ln__ox_attr(n, name);
    *v = def;
    if (!a)
        return 0;
    if (!a->has_f || (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT))
        return ox_bad_attr(n, name, "must be a float", err);
    *v = a->f;
    return 0;
}

/* Up to max integers; *count = -1 when absent. */
static int ox_ints(const ox_node *n, const char *name, int64_t *v, int max, int *count,
                   struct ln_error *err)
{
    const Onnx__AttributeProto *a = ln__ox_attr(n, name);
    *count = -1;
    if (!a)
        return 0;
    if (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS)
        return ox_bad_attr(n, name, "must be a list of integers", err);
    if (a->n_ints > (size_t)max)
        return ox_bad_attr(n, name, "has too many values", err);
    for (size_t i = 0; i < a->n_ints; i++)
        v[i] = a->ints[i];
    *count = (int)a->n_ints;
    return 0;
}

/* The string attribute, compared with choices "a|b|c": its index, or def
 * when absent. */
static int ox_choice(const ox_node *n, const char *name, const char *choices, int def, int *v,
                     struct ln_error *err)
{
    const Onnx__AttributeProto *a = ln__ox_attr(n, name);
    *v = def;
    if (!a)
        return 0;
    if (!a->has_s || (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING))
        return ox_bad_attr(n, name, "must be a string", err);
    int k = 0;
    for (const char *p = choices;; k++) {
        const char *e = strchr(p, '|');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == a->s.len && !memcmp(p, a->s.data, l)) {
            *v = k;
            return 0;
        }
        if (!e)
            break;
        p = e + 1;
    }
    char val[48];
    size_t l = a->s.len < sizeof val - 1 ? a->s.len : sizeof val - 1;
    for (size_t i = 0; i < l; i++)
        val[i] = a->s.data[i] >= 32 && a->s.data[i] < 127 ? (char)a->s.data[i] : '?';
    val[l] = 0;
    return ln_error_set(err, LN_EFORMAT,
                        "%s node '%.80s': attribute '%.80s' = '%.80s' is not supported",
                        n->op->name, ln__ox_node_name(n), name, val);
}

/* ---- shape helpers ------------------------------------------------------ */

static void ox_set(ox_tensor *t, int dtype, int ndim, const int64_t *shape)
{
    t->dtype = dtype;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        t->shape[d] = shape[d];
}

static int ox_need_known(ox_model *m, const ox_node *n, int k, struct ln_error *err)
{
    if (k >= n->n_in || n->in[k] < 0)
        return ln_error_set(err, LN_EFORMAT, "input %d is missing", k + 1);
    if (!m->values[n->in[k]].known)
        return ln_error_set(err, LN_EFORMAT,
                            "input %d must be computable from the input shapes alone", k + 1);
    return 0;
}

/* The values of a known 1-D (or scalar) tensor as integers. */
static int ox_read_ints(ox_model *m, const ox_node *n, int k, int64_t *v, int max, int *count,
                        struct ln_error *err)
{
    if (ox_need_known(m, n, k, err) < 0)
        return LN_EFORMAT;
    const ox_tensor *t = ln__ox_in(m, n, k);
    if (t->ndim > 1 || t->numel > (size_t)max)
        return ln_error_set(err, LN_EFORMAT, "input %d has %zu values (at most %d)", k + 1,
                            t->numel, max);
    for (size_t i = 0; i < t->numel; i++) {
        if (t->dtype == LN__OX_I64) {
            v[i] = ((const int64_t *)t->data)[i];
        } else {
            float f = ((const float *)t->data)[i];
            if (!(fabsf(f) < 9.0e18f))
                return ln_error_set(err, LN_EFORMAT, "input %d holds %g", k + 1, (double)f);
            v[i] = (int64_t)f;
        }
    }
    *count = (int)t->numel;
    return 0;
}

static int ox_axis(int64_t axis, int ndim, int64_t *out, struct ln_error *err)
{
    *out = 0;
    if (axis < -ndim || axis >= ndim)
        return ln_error_set(err, LN_EFORMAT, "axis %lld out of range for %d dimensions",
                            (long long)axis, ndim);
    *out = axis < 0 ? axis + ndim : axis;
    return 0;
}

static size_t ox_prod(const int64_t *shape, int from, int to)
{
    size_t p = 1;
    for (int d = from; d < to; d++)
        p *= (size_t)shape[d];
    return p;
}

static size_t ox_esize(const ox_tensor *t)
{
    return t->dtype == LN__OX_I64 ? 8 : 4;
}

/* ---- element-wise with numpy broadcasting --------------------------- */

enum ox_ew {
    OX_ADD,
    OX_SUB,
    OX_MUL,
    OX_DIV,
    OX_POW,
    OX_EQUAL,
    OX_LESS,
    OX_GREATER,
    OX_WHERE,
    OX_MIN,
    OX_MAX,
    OX_AND,
    OX_OR,
    OX_GREATER_EQ,
    OX_LESS_EQ,
};

struct ox_bc {
    int ndim, n_in;
    int64_t shape[LN_ONNX_MAX_DIMS];
    int64_t st[3][LN_ONNX_MAX_DIMS];
    const void *in[3];
    int dt[3];
    void *out;
    int odt;
    enum ox_ew op;
    size_t rows, cols, grain;
};

static int ox_bc_shape(ox_tensor *const *in, int n_in, int *ndim, int64_t *shape,
                       struct ln_error *err)
{
    int nd = 0;
    for (int k = 0; k < n_in; k++)
        if (in[k]->ndim > nd)
            nd = in[k]->ndim;
    for (int d = 0; d < nd; d++) {
        int64_t s = 1;
        for (int k = 0; k < n_in; k++) {
            int dd = d - (nd - in[k]->ndim);
            int64_t v = dd >= 0 ? in[k]->shape[dd] : 1;
            if (v == s || v == 1)
                continue;
            if (s != 1)
                return ln_error_set(err, LN_EFORMAT,
                                    "shapes do not broadcast (dimension %d: %lld and %lld)", d,
                                    (long long)s, (long long)v);
            s = v;
        }
        shape[d] = s;
    }
    *ndim = nd;
    return 0;
}

static void ox_bc_strides(const ox_tensor *t, int nd, const int64_t *shape, int64_t *st)
{
    int64_t s = 1;
    for (int d = nd - 1; d >= 0; d--) {
        int dd = d - (nd - t->ndim);
        int64_t v = dd >= 0 ? t->shape[dd] : 1;
        st[d] = v == 1 && shape[d] != 1 ? 0 : s;
        s *= v;
    }
}

#define OX_LOOP(T_OUT, EXPR)                                                                       \
    do {                                                                                           \
        T_OUT *o = (T_OUT *)c->out + r * cols;                                                     \
        for (size_t j = 0; j < cols; j++) {                                                        \
            o[j] = (EXPR);                                                                         \
        }                                                                                          \
    } while (0)

/* The comparisons of ox_bc_body, written once for float and integer
 * inputs a and b (whichever type they point to): a boolean, stored as
 * int64, per element. */
#define OX_COMPARE_CASES                                                                           \
    case OX_EQUAL:                                                                                 \
        OX_LOOP(int64_t, a[j * s0] == b[j * s1]);                                                  \
        break;                                                                                     \
    case OX_LESS:                                                                                  \
        OX_LOOP(int64_t, a[j * s0] < b[j * s1]);                                                   \
        break;                                                                                     \
    case OX_GREATER:                                                                               \
        OX_LOOP(int64_t, a[j * s0] > b[j * s1]);                                                   \
        break;                                                                                     \
    case OX_GREATER_EQ:                                                                            \
        OX_LOOP(int64_t, a[j * s0] >= b[j * s1]);                                                  \
        break;                                                                                     \
    case OX_LESS_EQ:                                                                               \
        OX_LOOP(int64_t, a[j * s0] <= b[j * s1]);                                                  \
        break;

static void ox_bc_body(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ox_bc *c = ctx;
    size_t cols = c->cols;
    int nd = c->ndim;
    for (size_t r = begin; r < end; r++) {
        int64_t off[3] = {0, 0, 0};
        size_t rem = r;
        for (int d = nd - 2; d >= 0; d--) {
            int64_t i = (int64_t)(rem % (size_t)c->shape[d]);
            rem /= (size_t)c->shape[d];
            for (int k = 0; k < c->n_in; k++)
                off[k] += i * c->st[k][d];
        }
        int64_t s0 = nd ? c->st[0][nd - 1] : 0, s1 = nd ? c->st[1][nd - 1] : 0,
                s2 = nd ? c->st[2][nd - 1] : 0;
        if (c->dt[0] == LN__OX_F32 && c->op != OX_WHERE) {
            const float *a = (const float *)c->in[0] + off[0];
            const float *b = (const float *)c->in[1] + off[1];
            if (c->dt[1] != LN__OX_F32)
                return; /* checked when planning */
            switch (c->op) {
            case OX_ADD:
                OX_LOOP(float, a[j * s0] + b[j * s1]);
                break;
            case OX_SUB:
                OX_LOOP(float, a[j * s0] - b[j * s1]);
                break;
            case OX_MUL:
                OX_LOOP(float, a[j * s0] * b[j * s1]);
                break;
            case OX_DIV:
                OX_LOOP(float, a[j * s0] / b[j * s1]);
                break;
            case OX_POW:
                OX_LOOP(float, powf(a[j * s0], b[j * s1]));
                break;
            case OX_MIN:
                OX_LOOP(float, fminf(a[j * s0], b[j * s1]));
                break;
            case OX_MAX:
                OX_LOOP(float, fmaxf(a[j * s0], b[j * s1]));
                break;
            OX_COMPARE_CASES
            default:
                break;
            }
        } else if (c->op != OX_WHERE) {
            const int64_t *a = (const int64_t *)c->in[0] + off[0];
            const int64_t *b = (const int64_t *)c->in[1] + off[1];
            switch (c->op) {
            case OX_ADD:
                OX_LOOP(int64_t, (int64_t)((uint64_t)a[j * s0] + (uint64_t)b[j * s1]));
                break;
            case OX_SUB:
                OX_LOOP(int64_t, (int64_t)((uint64_t)a[j * s0] - (uint64_t)b[j * s1]));
                break;
            case OX_MUL:
                OX_LOOP(int64_t, (int64_t)((uint64_t)a[j * s0] * (uint64_t)b[j * s1]));
                break;
            case OX_DIV:
                OX_LOOP(int64_t, b[j * s1] == 0 || (b[j * s1] == -1 && a[j * s0] == INT64_MIN)
                                     ? 0
                                     : a[j * s0] / b[j * s1]);
                break;
            case OX_MIN:
                OX_LOOP(int64_t, a[j * s0] < b[j * s1] ? a[j * s0] : b[j * s1]);
                break;
            case OX_MAX:
                OX_LOOP(int64_t, a[j * s0] > b[j * s1] ? a[j * s0] : b[j * s1]);
                break;
            OX_COMPARE_CASES
            case OX_AND:
                OX_LOOP(int64_t, a[j * s0] && b[j * s1]);
                break;
            case OX_OR:
                OX_LOOP(int64_t, a[j * s0] || b[j * s1]);
                break;
            default:
                break;
            }
        } else {
            const int64_t *cond = (const int64_t *)c->in[0] + off[0];
            if (c->odt == LN__OX_F32) {
                const float *x = (const float *)c->in[1] + off[1];
                const float *y = (const float *)c->in[2] + off[2];
                OX_LOOP(float, cond[j * s0] ? x[j * s1] : y[j * s2]);
            } else {
                const int64_t *x = (const int64_t *)c->in[1] + off[1];
                const int64_t *y = (const int64_t *)c->in[2] + off[2];
                OX_LOOP(int64_t, cond[j * s0] ? x[j * s1] : y[j * s2]);
            }
        }
    }
}

static enum ox_ew ox_ew_of(const ox_node *n)
{
    static const char *names[] = {
        "Add",   "Sub", "Mul", "Div", "Pow", "Equal",          "Less",       "Greater",
        "Where", "Min", "Max", "And", "Or",  "GreaterOrEqual", "LessOrEqual"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(n->op->name, names[i]))
            return (enum ox_ew)i;
    return OX_ADD;
}

static int ox_ew_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    ox_tensor *in[3] = {ln__ox_in(m, n, 0), ln__ox_in(m, n, 1), ln__ox_in(m, n, 2)};
    enum ox_ew op = ox_ew_of(n);
    int n_in = op == OX_WHERE ? 3 : 2;
    for (int k = 0; k < n_in; k++)
        if (!in[k])
            return ln_error_set(err, LN_EFORMAT, "input %d is missing", k + 1);
    int64_t shape[LN_ONNX_MAX_DIMS];
    int nd;
    if (ox_bc_shape(in, n_in, &nd, shape, err) < 0)
        return LN_EFORMAT;
    int dt = in[0]->dtype;
    if (op == OX_WHERE) {
        if (in[0]->dtype != LN__OX_I64)
            return ln_error_set(err, LN_EFORMAT, "the condition must be boolean");
        if (in[1]->dtype != in[2]->dtype)
            return ln_error_set(err, LN_EFORMAT, "inputs 2 and 3 differ in type");
        dt = in[1]->dtype;
    } else if (in[0]->dtype != in[1]->dtype) {
        return ln_error_set(err, LN_EFORMAT, "inputs differ in type (float and integer)");
    } else if (op == OX_POW && dt != LN__OX_F32) {
        return ln_error_set(err, LN_EFORMAT, "integer Pow is not supported");
    } else if ((op == OX_AND || op == OX_OR) && dt != LN__OX_I64) {
        return ln_error_set(err, LN_EFORMAT, "the inputs must be boolean, not float");
    }
    if (op == OX_EQUAL || op == OX_LESS || op == OX_GREATER || op == OX_GREATER_EQ ||
        op == OX_LESS_EQ)
        dt = LN__OX_I64;
    ox_set(ln__ox_out(m, n, 0), dt, nd, shape);
    return 0;
}

static int ox_ew_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    struct ox_bc c;
    memset(&c, 0, sizeof c);
    c.op = ox_ew_of(n);
    c.n_in = c.op == OX_WHERE ? 3 : 2;
    ox_tensor *o = ln__ox_out(m, n, 0);
    c.ndim = o->ndim;
    memcpy(c.shape, o->shape, sizeof c.shape);
    for (int k = 0; k < c.n_in; k++) {
        const ox_tensor *t = ln__ox_in(m, n, k);
        ox_bc_strides(t, c.ndim, c.shape, c.st[k]);
        c.in[k] = t->data;
        c.dt[k] = t->dtype;
    }
    c.out = o->data;
    c.odt = o->dtype;
    if (o->numel == 0)
        return 0;
    c.cols = c.ndim ? (size_t)c.shape[c.ndim - 1] : 1;
    c.rows = o->numel / c.cols;
    c.grain = LN__OX_GRAIN / c.cols + 1;
    ln_parallel_for(c.rows, c.grain, ox_bc_body, &c);
    return 0;
}

/* ---- element-wise unary --------------------------------------------- */

enum ox_un {
    OX_RELU,
    OX_SIGMOID,
    OX_TANH,
    OX_EXP,
    OX_LOG,
    OX_SQRT,
    OX_NEG,
    OX_ABS,
    OX_ERF,
    OX_RECIP,
    OX_FLOOR,
    OX_CEIL,
    OX_LEAKY,
    OX_CLIP,
    OX_NOT,
    OX_IDENTITY,
    OX_HARDSIGMOID,
    OX_SOFTPLUS,
    OX_GELU,
};

struct ox_un_ctx {
    enum ox_un op;
    const void *x;
    void *y;
    int dt;
    float alpha, beta, lo, hi;
    int64_t ilo, ihi; /* Clip on integers */
};

static void ox_un_body(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ox_un_ctx *c = ctx;
    if (c->dt == LN__OX_I64) {
        const int64_t *x = c->x;
        int64_t *y = c->y;
        for (size_t i = begin; i < end; i++) {
            switch (c->op) {
            case OX_NEG:
                y[i] = (int64_t)(0u - (uint64_t)x[i]);
                break;
            case OX_ABS:
                y[i] = x[i] < 0 ? (int64_t)(0u - (uint64_t)x[i]) : x[i];
                break;
            case OX_NOT:
                y[i] = !x[i];
                break;
            case OX_CLIP:
                y[i] = x[i] < c->ilo ? c->ilo : x[i] > c->ihi ? c->ihi : x[i];
                break;
            case OX_RELU:
                y[i] = x[i] > 0 ? x[i] : 0;
                break;
            default:
                y[i] = x[i];
                break;
            }
        }
        return;
    }
    const float *restrict x = c->x;
    float *restrict y = c->y;
    switch (c->op) {
    case OX_RELU:
        for (size_t i = begin; i < end; i++)
            y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case OX_SIGMOID:
        for (size_t i = begin; i < end; i++)
            y[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case OX_TANH:
        for (size_t i = begin; i < end; i++)
            y[i] = tanhf(x[i]);
        break;
    case OX_EXP:
        for (size_t i = begin; i < end; i++)
            y[i] = expf(x[i]);
        break;
    case OX_LOG:
        for (size_t i = begin; i < end; i++)
            y[i] = logf(x[i]);
        break;
    case OX_SQRT:
        for (size_t i = begin; i < end; i++)
            y[i] = sqrtf(x[i]);
        break;
    case OX_NEG:
        for (size_t i = begin; i < end; i++)
            y[i] = -x[i];
        break;
    case OX_ABS:
        for (size_t i = begin; i < end; i++)
            y[i] = fabsf(x[i]);
        break;
    case OX_ERF:
        for (size_t i = begin; i < end; i++)
            y[i] = erff(x[i]);
        break;
    case OX_RECIP:
        for (size_t i = begin; i < end; i++)
            y[i] = 1.0f / x[i];
        break;
    case OX_FLOOR:
        for (size_t i = begin; i < end; i++)
            y[i] = floorf(x[i]);
        break;
    case OX_CEIL:
        for (size_t i = begin; i < end; i++)
            y[i] = ceilf(x[i]);
        break;
    case OX_NOT:
        for (size_t i = begin; i < end; i++)
            y[i] = x[i] == 0.0f;
        break;
    case OX_LEAKY:
        for (size_t i = begin; i < end; i++)
            y[i] = x[i] >= 0.0f ? x[i] : c->alpha * x[i];
        break;
    case OX_CLIP:
        for (size_t i = begin; i < end; i++)
            y[i] = fminf(fmaxf(x[i], c->lo), c->hi);
        break;
    case OX_HARDSIGMOID:
        for (size_t i = begin; i < end; i++)
            y[i] = fminf(fmaxf(c->alpha * x[i] + c->beta, 0.0f), 1.0f);
        break;
    case OX_SOFTPLUS:
        for (size_t i = begin; i < end; i++)
            y[i] = x[i] > 20.0f ? x[i] : log1pf(expf(x[i]));
        break;
    case OX_GELU:
        if (c->alpha == 0.0f) {
            for (size_t i = begin; i < end; i++)
                y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
        } else { /* the tanh approximation */
            for (size_t i = begin; i < end; i++)
                y[i] =
                    0.5f * x[i] *
                    (1.0f + tanhf(0.79788456080286536f * (x[i] + 0.044715f * x[i] * x[i] * x[i])));
        }
        break;
    case OX_IDENTITY:
        memcpy(y + begin, x + begin, (end - begin) * sizeof *y);
        break;
    }
}

static enum ox_un ox_un_of(const ox_node *n)
{
    static const char *names[] = {"Relu",     "Sigmoid",     "Tanh",      "Exp",  "Log",
                                  "Sqrt",     "Neg",         "Abs",       "Erf",  "Reciprocal",
                                  "Floor",    "Ceil",        "LeakyRelu", "Clip", "Not",
                                  "Identity", "HardSigmoid", "Softplus",  "Gelu"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(n->op->name, names[i]))
            return (enum ox_un)i;
    return OX_IDENTITY; /* Dropout */
}

static int ox_un_load(ox_model *m, ox_node *n, struct ln_error *err)
{
    enum ox_un op = ox_un_of(n);
    if (op == OX_LEAKY)
        return ox_float(n, "alpha", 0.01f, &n->a.alpha, err);
    if (op == OX_GELU) {
        int approx;
        if (ox_choice(n, "approximate", "none|tanh", 0, &approx, err) < 0)
            return LN_EFORMAT;
        n->a.alpha = (float)approx;
        return 0;
    }
    if (op == OX_HARDSIGMOID) {
        if (ox_float(n, "alpha", 0.2f, &n->a.alpha, err) < 0)
            return LN_EFORMAT;
        return ox_float(n, "beta", 0.5f, &n->a.beta, err);
    }
    if (op == OX_CLIP) {
        if (ox_float(n, "min", -INFINITY, &n->a.alpha, err) < 0)
            return LN_EFORMAT;
        return ox_float(n, "max", INFINITY, &n->a.beta, err);
    }
    if (!strcmp(n->op->name, "Dropout")) {
        int64_t training;
        return ox_int(n, "training_mode", 0, &training, err) < 0 || training
                   ? ox_bad_attr(n, "training_mode", "must be 0", err)
                   : 0;
    }
    return 0;
}

static int ox_un_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    enum ox_un op = ox_un_of(n);
    if (x->dtype == LN__OX_I64 && op != OX_NEG && op != OX_ABS && op != OX_NOT && op != OX_RELU &&
        op != OX_IDENTITY && op != OX_CLIP)
        return ln_error_set(err, LN_EFORMAT, "integer input is not supported");
    if (op == OX_CLIP)
        for (int k = 1; k < 3; k++) {
            const ox_tensor *t = ln__ox_in(m, n, k);
            if (t && (t->numel != 1 || t->dtype != x->dtype))
                return ln_error_set(err, LN_EFORMAT,
                                    "min and max must be scalars of the input's type");
        }
    if (!strcmp(n->op->name, "Dropout") && n->n_in > 2) {
        if (ox_need_known(m, n, 2, err) < 0)
            return LN_EFORMAT;
        const ox_tensor *t = ln__ox_in(m, n, 2);
        if (t->numel && ((const int64_t *)t->data)[0])
            return ln_error_set(err, LN_EFORMAT, "training mode is not supported");
    }
    ox_set(ln__ox_out(m, n, 0), x->dtype, x->ndim, x->shape);
    return 0;
}

static int ox_un_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    struct ox_un_ctx c = {ox_un_of(n), x->data,    ln__ox_out(m, n, 0)->data,
                          x->dtype,    n->a.alpha, n->a.beta,
                          n->a.alpha,  n->a.beta,  INT64_MIN,
                          INT64_MAX};
    if (c.op == OX_CLIP) {
        const ox_tensor *lo = ln__ox_in(m, n, 1), *hi = ln__ox_in(m, n, 2);
        if (lo && x->dtype == LN__OX_F32)
            c.lo = *(const float *)lo->data;
        if (hi && x->dtype == LN__OX_F32)
            c.hi = *(const float *)hi->data;
        if (lo && x->dtype == LN__OX_I64)
            c.ilo = *(const int64_t *)lo->data;
        if (hi && x->dtype == LN__OX_I64)
            c.ihi = *(const int64_t *)hi->data;
    }
    ln_parallel_for(x->numel, LN__OX_GRAIN, ox_un_body, &c);
    return 0;
}

/* ---- convolution -------------------------------------------------------- */

static int ox_conv_load(ox_model *m, ox_node *n, struct ln_error *err)
{
    struct ln__ox_attrs *a = &n->a;
    int nk, ns, nd, np, nop;
    if (ox_ints(n, "kernel_shape", a->kernel, 2, &nk, err) < 0 ||
        ox_ints(n, "strides", a->strides, 2, &ns, err) < 0 ||
        ox_ints(n, "dilations", a->dil, 2, &nd, err) < 0 ||
        ox_ints(n, "pads", a->pads, 4, &np, err) < 0 ||
        ox_ints(n, "output_padding", a->out_pad, 2, &nop, err) < 0 ||
        ox_int(n, "group", 1, &a->group, err) < 0 ||
        ox_choice(n, "auto_pad", "NOTSET|VALID|SAME_UPPER|SAME_LOWER", 0, &a->auto_pad, err) < 0)
        return LN_EFORMAT;
    a->has_kernel = nk >= 0;
    if ((nk >= 0 && nk != 2) || (ns >= 0 && ns != 2) || (nd >= 0 && nd != 2) ||
        (np >= 0 && np != 4) || (nop >= 0 && nop != 2))
        return ln_error_set(err, LN_EFORMAT, "%s node '%.80s': only 2-D convolutions are supported",
                            n->op->name, ln__ox_node_name(n));
    for (int d = 0; d < 2; d++) {
        if (ns < 0)
            a->strides[d] = 1;
        if (nd < 0)
            a->dil[d] = 1;
        if (nop < 0)
            a->out_pad[d] = 0;
        if (a->strides[d] < 1 || a->strides[d] > 1024 || a->dil[d] < 1 || a->dil[d] > 1024 ||
            a->out_pad[d] < 0 || a->out_pad[d] >= a->strides[d] * a->dil[d] ||
            (nk >= 0 && (a->kernel[d] < 1 || a->kernel[d] > 1024)))
            return ln_error_set(err, LN_EFORMAT,
                                "%s node '%.80s': bad kernel, strides or dilations", n->op->name,
                                ln__ox_node_name(n));
    }
    for (int d = 0; d < 4; d++) {
        if (np < 0)
            a->pads[d] = 0;
        if (a->pads[d] < 0 || a->pads[d] > 4096)
            return ln_error_set(err, LN_EFORMAT, "%s node '%.80s': bad pads", n->op->name,
                                ln__ox_node_name(n));
    }
    if (a->group < 1 || a->group > 1 << 20)
        return ln_error_set(err, LN_EFORMAT, "%s node '%.80s': bad group %lld", n->op->name,
                            ln__ox_node_name(n), (long long)a->group);
    return 0;
}

/* Output size and effective pads of one spatial axis (shared with the
 * pools). begin/end: pads; ceil: ceil_mode. */
static int ox_out_size(int64_t in, int64_t k, int64_t s, int64_t d, int auto_pad, int ceil,
                       int64_t *pb, int64_t *pe, int64_t *out, struct ln_error *err)
{
    int64_t ek = (k - 1) * d + 1;
    if (auto_pad == LN__OX_PAD_SAME_UPPER || auto_pad == LN__OX_PAD_SAME_LOWER) {
        int64_t o = (in + s - 1) / s;
        int64_t total = (o - 1) * s + ek - in;
        if (total < 0)
            total = 0;
        *pb = auto_pad == LN__OX_PAD_SAME_UPPER ? total / 2 : total - total / 2;
        *pe = total - *pb;
        *out = o;
        return 0;
    }
    if (auto_pad == LN__OX_PAD_VALID)
        *pb = *pe = 0;
    int64_t span = in + *pb + *pe - ek;
    if (span < 0)
        return ln_error_set(err, LN_EFORMAT, "the window (%lld) is larger than the input (%lld)",
                            (long long)ek, (long long)(in + *pb + *pe));
    int64_t o = (ceil ? (span + s - 1) / s : span / s) + 1;
    /* PyTorch: a window must start inside the input or the left padding. */
    if (ceil && (o - 1) * s >= in + *pb)
        o--;
    *out = o;
    return 0;
}

static int ox_conv_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0), *w = ln__ox_in(m, n, 1), *b = ln__ox_in(m, n, 2);
    struct ln__ox_attrs *a = &n->a;
    if (x->ndim != 4 || w->ndim != 4 || x->dtype != LN__OX_F32 || w->dtype != LN__OX_F32)
        return ln_error_set(err, LN_EFORMAT, "input and weight must be 4-D float tensors");
    int64_t c = x->shape[1], g = a->group;
    int64_t k[2] = {w->shape[2], w->shape[3]};
    if (a->has_kernel && (a->kernel[0] != k[0] || a->kernel[1] != k[1]))
        return ln_error_set(err, LN_EFORMAT, "kernel_shape disagrees with the weight");
    int64_t out[4] = {x->shape[0], 0, 0, 0};
    int tr = !strcmp(n->op->name, "ConvTranspose");
    if (!tr) {
        if (c % g || w->shape[0] % g || w->shape[1] * g != c)
            return ln_error_set(
                err, LN_EFORMAT, "weight %lldx%lld does not fit %lld channels in %lld groups",
                (long long)w->shape[0], (long long)w->shape[1], (long long)c, (long long)g);
        out[1] = w->shape[0];
        for (int d = 0; d < 2; d++) {
            a->epads[d] = a->pads[d];
            a->epads[d + 2] = a->pads[d + 2];
            if (ox_out_size(x->shape[2 + d], k[d], a->strides[d], a->dil[d], a->auto_pad, 0,
                            &a->epads[d], &a->epads[d + 2], &out[2 + d], err) < 0)
                return LN_EFORMAT;
        }
    } else {
        if (w->shape[0] != c || c % g)
            return ln_error_set(err, LN_EFORMAT, "weight does not fit %lld channels", (long long)c);
        if (a->auto_pad == LN__OX_PAD_SAME_UPPER || a->auto_pad == LN__OX_PAD_SAME_LOWER)
            return ln_error_set(err, LN_EFORMAT, "auto_pad SAME is not supported here");
        out[1] = w->shape[1] * g;
        for (int d = 0; d < 2; d++) {
            a->epads[d] = a->auto_pad == LN__OX_PAD_VALID ? 0 : a->pads[d];
            a->epads[d + 2] = a->auto_pad == LN__OX_PAD_VALID ? 0 : a->pads[d + 2];
            out[2 + d] = a->strides[d] * (x->shape[2 + d] - 1) + a->out_pad[d] +
                         (k[d] - 1) * a->dil[d] + 1 - a->epads[d] - a->epads[d + 2];
            if (out[2 + d] < 1)
                return ln_error_set(err, LN_EFORMAT, "empty output");
        }
    }
    if (b && (b->ndim != 1 || b->shape[0] != out[1] || b->dtype != LN__OX_F32))
        return ln_error_set(err, LN_EFORMAT, "bias must hold %lld floats", (long long)out[1]);
    /* OpenBLAS takes int sizes. */
    if (w->shape[1] * k[0] * k[1] > INT_MAX || out[2] * out[3] > INT_MAX ||
        x->shape[2] * x->shape[3] > INT_MAX || w->shape[0] > INT_MAX || w->shape[1] > INT_MAX ||
        (tr && w->shape[1] * k[0] * k[1] > INT_MAX))
        return ln_error_set(err, LN_ETOOBIG, "convolution too large");
    ox_set(ln__ox_out(m, n, 0), LN__OX_F32, 4, out);
    return 0;
}

/* How convolutions run (ln__ox_set_conv_path; LN_ONNX_CONV=blas|im2col
 * for comparisons): -1 not yet read from the environment. */
static int ox_conv_path = -1;

void ln__ox_set_conv_path(int path)
{
    ox_conv_path = path;
}

static int ox_get_conv_path(void)
{
    if (ox_conv_path < 0) {
        const char *e = getenv("LN_ONNX_CONV");
        ox_conv_path = !e                      ? LN__OX_CONV_OURS
                       : !strcmp(e, "blas")   ? LN__OX_CONV_BLAS
                       : !strcmp(e, "im2col") ? LN__OX_CONV_IM2COL
                                              : LN__OX_CONV_OURS;
    }
    return ox_conv_path;
}

static int ox_use_blas(void)
{
    return ox_get_conv_path() == LN__OX_CONV_BLAS;
}

/* Output rows per band of the implicit path, or 0 where the convolution
 * takes im2col. The implicit path (stride 1, a kernel larger than 1x1)
 * copies a band of input rows with their zero padding, about 1 MiB (at
 * least one output row's worth, at most 4 MiB), and reads each tap as an
 * offset into it (ln__ox_gemm_taps). What it computes and drops, the
 * kernel's overhang past each output row ((kw - 1) dilation columns of
 * the padded width) and the last tile's unused columns, must be at most
 * an eighth of the work, else im2col (whose blocks span rows) is faster.
 * Fixed by the shapes and the kernel set. */
static int64_t ox_conv_band(const ox_node *n, int64_t cg, int64_t W, int64_t kh, int64_t kw,
                            int64_t Ho, int64_t Wo)
{
    const struct ln__ox_attrs *a = &n->a;
    if (ox_get_conv_path() != LN__OX_CONV_OURS || a->strides[0] != 1 || a->strides[1] != 1 ||
        (kh == 1 && kw == 1))
        return 0;
    int64_t wp = W + a->epads[1] + a->epads[3], halo = (kh - 1) * a->dil[0];
    /* Each factor capped first: their product cannot overflow. */
    if (cg > ((int64_t)1 << 20) || wp > ((int64_t)1 << 20) || halo >= ((int64_t)1 << 20) ||
        cg * wp * (1 + halo) > ((int64_t)1 << 20))
        return 0;
    int64_t rows = ((int64_t)1 << 18) / (cg * wp) - halo;
    if (rows < 1)
        rows = 1;
    if (rows > Ho)
        rows = Ho;
    int64_t nr = (int64_t)ln__ox_gemm_cols(), n_pos = (rows - 1) * wp + Wo;
    int64_t computed = (n_pos + nr - 1) / nr * nr;
    if (8 * (computed - rows * Wo) > computed)
        return 0;
    return rows;
}

/* Output columns per block: about 1 MiB of im2col scratch, a multiple of
 * the product's tile width, fixed by the shapes and the kernel set (never
 * by the thread count). */
static size_t ox_conv_block(size_t k_rows, size_t hw)
{
    size_t unit = ox_use_blas() ? 64 : ln__ox_gemm_cols();
    size_t blk = ((size_t)1 << 18) / (k_rows ? k_rows : 1);
    blk = blk < unit ? unit : blk / unit * unit;
    return blk < hw ? blk : hw;
}

static size_t ox_conv_scratch(ox_model *m, const ox_node *n)
{
    const ox_tensor *x = ln__ox_in(m, n, 0), *w = ln__ox_in(m, n, 1);
    const ox_tensor *y = ln__ox_out(m, n, 0);
    size_t s;
    /* Shapes are capped at 2^32 elements each, products of two may not be
     * (SIZE_MAX then fails the plan). */
    if (!strcmp(n->op->name, "ConvTranspose"))
        return ln_size_mul((size_t)(w->shape[2] * w->shape[3]), ox_prod(x->shape, 2, 4), &s) < 0
                   ? SIZE_MAX
                   : s;
    size_t k_rows = (size_t)(w->shape[1] * w->shape[2] * w->shape[3]);
    size_t hw = ox_prod(y->shape, 2, 4);
    int64_t band = ox_conv_band(n, w->shape[1], x->shape[3], w->shape[2], w->shape[3],
                                y->shape[2], y->shape[3]);
    if (band > 0) {
        /* The band (at most 2^20 floats) and the K tap offsets. */
        const struct ln__ox_attrs *a = &n->a;
        int64_t rows = band + (w->shape[2] - 1) * a->dil[0];
        return (size_t)(w->shape[1] * rows * (x->shape[3] + a->epads[1] + a->epads[3])) + k_rows;
    }
    return ln_size_mul(k_rows, ox_conv_block(k_rows, hw), &s) < 0 ? SIZE_MAX : s;
}

struct ox_conv_ctx {
    const ox_node *n;
    const float *x, *w, *b;
    float *y, *scratch;
    size_t scratch_floats;
    int64_t N, C, H, W, M, Ho, Wo, kh, kw, G;
    size_t blk, n_blk, hw;
    size_t m_pieces; /* output channels cut into this many pieces per block */
    int direct; /* 1x1, stride 1, no pads: the input is its own im2col */
    int blas;   /* cblas_sgemm instead of ln__ox_gemm */
    int relu;   /* a ReLU fused into this convolution (ln__ox_node.fuse_relu) */
};

/* One row of the im2col matrix: the input pixel under kernel tap (ki, kj)
 * for the output pixels p0 .. p1, zero where the tap falls in the padding.
 * Output row by output row: the taps that land inside the input form one
 * run (contiguous when the stride is 1), the rest is padding. */
static void ox_im2col_row(const struct ox_conv_ctx *c, float *restrict row,
                          const float *restrict plane, size_t p0, size_t p1, int64_t ki, int64_t kj)
{
    const struct ln__ox_attrs *a = &c->n->a;
    int64_t s1 = a->strides[1], off = kj * a->dil[1] - a->epads[1];
    /* Output columns whose tap lies inside the row: ix = ox s1 + off in
     * [0, W), i.e. ox in [lo, hi). */
    int64_t lo = off >= 0 ? 0 : (-off + s1 - 1) / s1;
    int64_t hi = c->W - off <= 0 ? 0 : (c->W - off - 1) / s1 + 1;
    if (hi > c->Wo)
        hi = c->Wo;
    if (lo > hi)
        lo = hi;
    size_t p = p0;
    while (p < p1) {
        int64_t oy = (int64_t)(p / (size_t)c->Wo), ox0 = (int64_t)(p % (size_t)c->Wo);
        int64_t ox1 = ox0 + (int64_t)(p1 - p) < c->Wo ? ox0 + (int64_t)(p1 - p) : c->Wo;
        float *dst = row + (p - p0) - ox0; /* indexed by ox (>= ox0) */
        int64_t iy = oy * a->strides[0] - a->epads[0] + ki * a->dil[0];
        if (iy < 0 || iy >= c->H) {
            memset(dst + ox0, 0, (size_t)(ox1 - ox0) * sizeof *dst);
        } else {
            int64_t a0 = lo > ox0 ? lo : ox0, a1 = hi < ox1 ? hi : ox1;
            if (a1 < a0)
                a1 = a0 = ox1 < a0 ? ox1 : a0;
            const float *src = plane + iy * c->W;
            for (int64_t ox = ox0; ox < a0; ox++)
                dst[ox] = 0.0f;
            if (s1 == 1) {
                if (a1 > a0)
                    memcpy(dst + a0, src + a0 + off, (size_t)(a1 - a0) * sizeof *dst);
            } else {
                for (int64_t ox = a0; ox < a1; ox++)
                    dst[ox] = src[ox * s1 + off];
            }
            for (int64_t ox = a1 > a0 ? a1 : a0; ox < ox1; ox++)
                dst[ox] = 0.0f;
        }
        p += (size_t)(ox1 - ox0);
    }
}

static void ox_conv_body(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ox_conv_ctx *c = ctx;
    int64_t cg = c->C / c->G, mg = c->M / c->G;
    int64_t K = cg * c->kh * c->kw;
    float *col = c->scratch + (size_t)thread * c->scratch_floats;
    for (size_t it = begin; it < end; it++) {
        /* Output channels [m0, m1) of one block of one group of one image. */
        size_t piece = it % c->m_pieces, item = it / c->m_pieces;
        int64_t m0 = (int64_t)piece * mg / (int64_t)c->m_pieces;
        int64_t m1 = (int64_t)(piece + 1) * mg / (int64_t)c->m_pieces;
        size_t blk_i = item % c->n_blk;
        int64_t g = (int64_t)(item / c->n_blk % (size_t)c->G);
        int64_t nb = (int64_t)(item / c->n_blk / (size_t)c->G);
        size_t p0 = blk_i * c->blk, p1 = p0 + c->blk < c->hw ? p0 + c->blk : c->hw;
        size_t cols = p1 - p0;
        const float *xin = c->x + (size_t)(nb * c->C + g * cg) * (size_t)(c->H * c->W);
        float *yout = c->y + (size_t)(nb * c->M + g * mg) * c->hw + p0;
        const float *bmat;
        int ldb;
        if (c->direct) {
            bmat = xin + p0;
            ldb = (int)c->hw;
        } else {
            for (int64_t ci = 0; ci < cg; ci++)
                for (int64_t ki = 0; ki < c->kh; ki++)
                    for (int64_t kj = 0; kj < c->kw; kj++) {
                        float *row = col + (size_t)((ci * c->kh + ki) * c->kw + kj) * cols;
                        const float *plane = xin + (size_t)ci * (size_t)(c->H * c->W);
                        ox_im2col_row(c, row, plane, p0, p1, ki, kj);
                    }
            bmat = col;
            ldb = (int)cols;
        }
        if (!c->blas) {
            ln__ox_gemm((size_t)(m1 - m0), cols, (size_t)K, c->w + (size_t)((g * mg + m0) * K),
                        (size_t)K, bmat, (size_t)ldb, c->b ? c->b + g * mg + m0 : NULL, c->relu,
                        yout + (size_t)m0 * c->hw, c->hw);
            continue;
        }
        ln__sgemm(CblasNoTrans, CblasNoTrans, (int)(m1 - m0), (int)cols, (int)K,
                  1.0f, c->w + (size_t)((g * mg + m0) * K), (int)K, bmat, ldb, 0.0f,
                  yout + (size_t)m0 * c->hw, (int)c->hw);
        for (int64_t o = m0; o < m1; o++) {
            float bias = c->b ? c->b[g * mg + o] : 0.0f;
            float *r = yout + (size_t)o * c->hw;
            if (c->b)
                for (size_t p = 0; p < cols; p++)
                    r[p] += bias;
            if (c->relu)
                for (size_t p = 0; p < cols; p++)
                    r[p] = r[p] > 0.0f ? r[p] : 0.0f;
        }
    }
}

/* The implicit path: blocks are bands of c->blk output rows. */
static void ox_conv_band_body(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ox_conv_ctx *c = ctx;
    const struct ln__ox_attrs *a = &c->n->a;
    int64_t cg = c->C / c->G, mg = c->M / c->G;
    int64_t K = cg * c->kh * c->kw;
    int64_t pt = a->epads[0], pl = a->epads[1], pr = a->epads[3];
    int64_t wp = c->W + pl + pr, halo = (c->kh - 1) * a->dil[0];
    float *band = c->scratch + (size_t)thread * c->scratch_floats;
    for (size_t it = begin; it < end; it++) {
        size_t piece = it % c->m_pieces, item = it / c->m_pieces;
        int64_t m0 = (int64_t)piece * mg / (int64_t)c->m_pieces;
        int64_t m1 = (int64_t)(piece + 1) * mg / (int64_t)c->m_pieces;
        size_t blk_i = item % c->n_blk;
        int64_t g = (int64_t)(item / c->n_blk % (size_t)c->G);
        int64_t nb = (int64_t)(item / c->n_blk / (size_t)c->G);
        int64_t oy0 = (int64_t)(blk_i * c->blk);
        int64_t oy1 = oy0 + (int64_t)c->blk < c->Ho ? oy0 + (int64_t)c->blk : c->Ho;
        int64_t rows = oy1 - oy0 + halo;
        const float *xin = c->x + (size_t)(nb * c->C + g * cg) * (size_t)(c->H * c->W);
        for (int64_t ci = 0; ci < cg; ci++)
            for (int64_t j = 0; j < rows; j++) {
                float *d = band + (size_t)((ci * rows + j) * wp);
                int64_t iy = oy0 - pt + j;
                if (iy < 0 || iy >= c->H) {
                    memset(d, 0, (size_t)wp * sizeof *d);
                    continue;
                }
                memset(d, 0, (size_t)pl * sizeof *d);
                memcpy(d + pl, xin + (size_t)(ci * c->H + iy) * (size_t)c->W,
                       (size_t)c->W * sizeof *d);
                memset(d + pl + c->W, 0, (size_t)pr * sizeof *d);
            }
        /* Written as int32_t into the float scratch past the band: that
         * memory is only ever read as int32_t. */
        int32_t *boff = (int32_t *)(band + (size_t)(cg * rows * wp));
        for (int64_t ci = 0; ci < cg; ci++)
            for (int64_t ki = 0; ki < c->kh; ki++)
                for (int64_t kj = 0; kj < c->kw; kj++)
                    boff[(ci * c->kh + ki) * c->kw + kj] =
                        (int32_t)((ci * rows + ki * a->dil[0]) * wp + kj * a->dil[1]);
        size_t n_pos = (size_t)((oy1 - oy0 - 1) * wp + c->Wo);
        float *yout = c->y + (size_t)(nb * c->M + g * mg + m0) * c->hw + (size_t)(oy0 * c->Wo);
        ln__ox_gemm_taps((size_t)(m1 - m0), n_pos, (size_t)K, c->w + (size_t)((g * mg + m0) * K),
                         (size_t)K, band, boff, c->b ? c->b + g * mg + m0 : NULL, c->relu, yout,
                         c->hw, (size_t)wp, (size_t)c->Wo);
    }
}

static void ox_convt_body(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ox_conv_ctx *c = ctx;
    const struct ln__ox_attrs *a = &c->n->a;
    int64_t cg = c->C / c->G, mg = c->M / c->G, kk = c->kh * c->kw;
    size_t hw_in = (size_t)(c->H * c->W);
    float *col = c->scratch + (size_t)thread * c->scratch_floats;
    for (size_t item = begin; item < end; item++) {
        int64_t o = (int64_t)(item % (size_t)mg);
        int64_t g = (int64_t)(item / (size_t)mg % (size_t)c->G);
        int64_t nb = (int64_t)(item / (size_t)mg / (size_t)c->G);
        /* col[kk][hw_in] = W[g*cg.., o, kk]^T x X[g*cg.., hw_in] */
        ln__sgemm(CblasTrans, CblasNoTrans, (int)kk, (int)hw_in, (int)cg, 1.0f,
                  c->w + (size_t)(g * cg * mg * kk + o * kk), (int)(mg * kk),
                  c->x + (size_t)(nb * c->C + g * cg) * hw_in, (int)hw_in, 0.0f, col, (int)hw_in);
        float *y = c->y + (size_t)(nb * c->M + g * mg + o) * c->hw;
        float bias = c->b ? c->b[g * mg + o] : 0.0f;
        for (size_t p = 0; p < c->hw; p++)
            y[p] = bias;
        for (int64_t ki = 0; ki < c->kh; ki++)
            for (int64_t kj = 0; kj < c->kw; kj++) {
                const float *row = col + (size_t)(ki * c->kw + kj) * hw_in;
                for (int64_t iy = 0; iy < c->H; iy++) {
                    int64_t oy = iy * a->strides[0] - a->epads[0] + ki * a->dil[0];
                    if (oy < 0 || oy >= c->Ho)
                        continue;
                    for (int64_t ix = 0; ix < c->W; ix++) {
                        int64_t ox = ix * a->strides[1] - a->epads[1] + kj * a->dil[1];
                        if (ox >= 0 && ox < c->Wo)
                            y[oy * c->Wo + ox] += row[iy * c->W + ix];
                    }
                }
            }
    }
}

static int ox_conv_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0), *w = ln__ox_in(m, n, 1), *b = ln__ox_in(m, n, 2);
    ox_tensor *y = ln__ox_out(m, n, 0);
    struct ox_conv_ctx c = {
        .n = n,
        .x = x->data,
        .w = w->data,
        .b = b ? b->data : NULL,
        .y = y->data,
        .scratch = m->scratch,
        .scratch_floats = m->scratch_floats,
        .N = x->shape[0],
        .C = x->shape[1],
        .H = x->shape[2],
        .W = x->shape[3],
        .M = y->shape[1],
        .Ho = y->shape[2],
        .Wo = y->shape[3],
        .kh = w->shape[2],
        .kw = w->shape[3],
        .G = n->a.group,
    };
    c.hw = (size_t)(c.Ho * c.Wo);
    c.blas = ox_use_blas();
    c.relu = n->fuse_relu;
    if (y->numel == 0)
        return 0;
    if (x->numel == 0 || w->numel == 0) {
        /* No input channels: every output is its bias. */
        float *out = y->data;
        for (size_t i = 0; i < y->numel; i++)
            out[i] = c.b ? c.b[i / c.hw % (size_t)c.M] : 0.0f;
        for (size_t i = 0; c.relu && i < y->numel; i++)
            out[i] = out[i] > 0.0f ? out[i] : 0.0f;
        return 0;
    }
    ln__blas_single_thread();
    if (!strcmp(n->op->name, "ConvTranspose")) {
        ln_parallel_for((size_t)(c.N * c.M), 1, ox_convt_body, &c);
        return 0;
    }
    const struct ln__ox_attrs *a = &n->a;
    c.direct = c.kh == 1 && c.kw == 1 && a->strides[0] == 1 && a->strides[1] == 1 &&
               a->epads[0] == 0 && a->epads[1] == 0 && a->epads[2] == 0 && a->epads[3] == 0;
    size_t k_rows = (size_t)(c.C / c.G * c.kh * c.kw);
    int64_t band = ox_conv_band(n, c.C / c.G, c.W, c.kh, c.kw, c.Ho, c.Wo);
    if (band > 0) {
        c.blk = (size_t)band;
        c.n_blk = (size_t)((c.Ho + band - 1) / band);
    } else {
        c.blk = ox_conv_block(k_rows, c.hw);
        c.n_blk = (c.hw + c.blk - 1) / c.blk;
    }
    /* A small image in few blocks would leave threads idle: its output
     * channels are cut into four pieces, each redoing the block's im2col
     * (1/M of the product's work). Fixed by the shapes, like the blocks. */
    c.m_pieces = (size_t)(c.N * c.G) * c.n_blk < 4 && c.M / c.G >= 64 ? 4 : 1;
    ln_parallel_for((size_t)(c.N * c.G) * c.n_blk * c.m_pieces, 1,
                    band > 0 ? ox_conv_band_body : ox_conv_body, &c);
    return 0;
}

/* ---- pooling ---------------------------------------------------------- */

static int ox_pool_load(ox_model *m, ox_node *n, struct ln_error *err)
{
    struct ln__ox_attrs *a = &n->a;
    int global = !strncmp(n->op->name, "Global", 6);
    if (global)
        return 0;
    int nk, ns, nd, np;
    int64_t ceil_mode, cip, order;
    if (ox_ints(n, "kernel_shape", a->kernel, 2, &nk, err) < 0 ||
        ox_ints(n, "strides", a->strides, 2, &ns, err) < 0 ||
        ox_ints(n, "dilations", a->dil, 2, &nd, err) < 0 ||
        ox_ints(n, "pads", a->pads, 4, &np, err) < 0 ||
        ox_int(n, "ceil_mode", 0, &ceil_mode, err) < 0 ||
        ox_int(n, "count_include_pad", 0, &cip, err) < 0 ||
        ox_int(n, "storage_order", 0, &order, err) < 0 ||
        ox_choice(n, "auto_pad", "NOTSET|VALID|SAME_UPPER|SAME_LOWER", 0, &a->auto_pad, err) < 0)
        return LN_EFORMAT;
    if (nk != 2 || (ns >= 0 && ns != 2) || (nd >= 0 && nd != 2) || (np >= 0 && np != 4))
        return ln_error_set(err, LN_EFORMAT, "%s node '%.80s': only 2-D pooling is supported",
                            n->op->name, ln__ox_node_name(n));
    a->ceil_mode = ceil_mode != 0;
    a->count_include_pad = cip != 0;
    for (int d = 0; d < 2; d++) {
        if (ns < 0)
            a->strides[d] = 1;
        if (nd < 0)
            a->dil[d] = 1;
        if (a->kernel[d] < 1 || a->kernel[d] > 4096 || a->strides[d] < 1 || a->strides[d] > 4096 ||
            a->dil[d] < 1 || a->dil[d] > 4096)
            return ln_error_set(err, LN_EFORMAT,
                                "%s node '%.80s': bad kernel, strides or dilations", n->op->name,
                                ln__ox_node_name(n));
    }
    for (int d = 0; d < 4; d++) {
        if (np < 0)
            a->pads[d] = 0;
        if (a->pads[d] < 0 || a->pads[d] >= a->kernel[d % 2] * a->dil[d % 2])
            return ln_error_set(err, LN_EFORMAT, "%s node '%.80s': bad pads", n->op->name,
                                ln__ox_node_name(n));
    }
    return 0;
}

static int ox_pool_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    struct ln__ox_attrs *a = &n->a;
    if (x->ndim != 4 || x->dtype != LN__OX_F32)
        return ln_error_set(err, LN_EFORMAT, "the input must be a 4-D float tensor");
    int64_t out[4] = {x->shape[0], x->shape[1], 1, 1};
    if (strncmp(n->op->name, "Global", 6)) {
        for (int d = 0; d < 2; d++) {
            a->epads[d] = a->pads[d];
            a->epads[d + 2] = a->pads[d + 2];
            if (ox_out_size(x->shape[2 + d], a->kernel[d], a->strides[d], a->dil[d], a->auto_pad,
                            a->ceil_mode, &a->epads[d], &a->epads[d + 2], &out[2 + d], err) < 0)
                return LN_EFORMAT;
        }
    }
    ox_set(ln__ox_out(m, n, 0), LN__OX_F32, 4, out);
    return 0;
}

struct ox_pool_ctx {
    const ox_node *n;
    const float *x;
    float *y;
    int64_t H, W, Ho, Wo;
    int max, global;
    int max2; /* a 2x2 stride-2 max pool without padding or dilation */
};

static void ox_pool_body(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ox_pool_ctx *c = ctx;
    const struct ln__ox_attrs *a = &c->n->a;
    for (size_t pl = begin; pl < end; pl++) {
        const float *x = c->x + pl * (size_t)(c->H * c->W);
        float *y = c->y + pl * (size_t)(c->Ho * c->Wo);
        if (c->global) {
            size_t hw = (size_t)(c->H * c->W);
            if (c->max) {
                float v = -INFINITY;
                for (size_t i = 0; i < hw; i++)
                    v = x[i] > v ? x[i] : v;
                y[0] = v;
            } else {
                double s = 0.0;
                for (size_t i = 0; i < hw; i++)
                    s += x[i];
                y[0] = (float)(s / (double)hw);
            }
            continue;
        }
        /* The 2x2 stride-2 max pool of U^2-Net and IS-Net: windows wholly
         * inside the input without the bounds tests (the same maximum, NaN
         * kept); the ceil-mode edge goes through the general loop below. */
        int64_t fy = 0, fx = 0;
        if (c->max2) {
            fy = c->Ho < c->H / 2 ? c->Ho : c->H / 2;
            fx = c->Wo < c->W / 2 ? c->Wo : c->W / 2;
            for (int64_t oy = 0; oy < fy; oy++) {
                const float *restrict r0 = x + 2 * oy * c->W, *restrict r1 = r0 + c->W;
                float *restrict yr = y + oy * c->Wo;
                for (int64_t ox = 0; ox < fx; ox++) {
                    float t[4] = {r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1]};
                    float u0 = t[1] > t[0] ? t[1] : t[0], u1 = t[3] > t[2] ? t[3] : t[2];
                    float v = u1 > u0 ? u1 : u0;
                    /* Branch-free unless a NaN: then the general rule's (the last NaN). */
                    if (__builtin_expect(t[0] != t[0] || t[1] != t[1] || t[2] != t[2] ||
                                             t[3] != t[3],
                                         0)) {
                        v = -INFINITY;
                        for (int k = 0; k < 4; k++)
                            v = t[k] > v || isnan(t[k]) ? t[k] : v;
                    }
                    yr[ox] = v;
                }
            }
        }
        for (int64_t oy = 0; oy < c->Ho; oy++)
            for (int64_t ox = oy < fy ? fx : 0; ox < c->Wo; ox++) {
                int64_t y0 = oy * a->strides[0] - a->epads[0];
                int64_t x0 = ox * a->strides[1] - a->epads[1];
                float v = c->max ? -INFINITY : 0.0f;
                int64_t count = 0;
                for (int64_t ki = 0; ki < a->kernel[0]; ki++) {
                    int64_t iy = y0 + ki * a->dil[0];
                    if (iy < 0 || iy >= c->H)
                        continue;
                    for (int64_t kj = 0; kj < a->kernel[1]; kj++) {
                        int64_t ix = x0 + kj * a->dil[1];
                        if (ix < 0 || ix >= c->W)
                            continue;
                        float t = x[iy * c->W + ix];
                        if (c->max)
                            v = t > v || isnan(t) ? t : v;
                        else
                            v += t;
                        count++;
                    }
                }
                if (!c->max) {
                    if (a->count_include_pad) {
                        /* PyTorch: the window clipped to the padded input. */
                        int64_t ye = y0 + a->kernel[0], xe = x0 + a->kernel[1];
                        int64_t yl = c->H + a->epads[2], xl = c->W + a->epads[3];
                        count = ((ye < yl ? ye : yl) - y0) * ((xe < xl ? xe : xl) - x0);
                    }
                    v = count ? v / (float)count : 0.0f;
                }
                y[oy * c->Wo + ox] = v;
            }
    }
}

static int ox_pool_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    ox_tensor *y = ln__ox_out(m, n, 0);
    struct ox_pool_ctx c = {n,
                            x->data,
                            y->data,
                            x->shape[2],
                            x->shape[3],
                            y->shape[2],
                            y->shape[3],
                            strstr(n->op->name, "Max") != NULL,
                            !strncmp(n->op->name, "Global", 6),
                            0};
    const struct ln__ox_attrs *a = &n->a;
    c.max2 = c.max && !c.global && a->kernel[0] == 2 && a->kernel[1] == 2 &&
             a->strides[0] == 2 && a->strides[1] == 2 && a->dil[0] == 1 && a->dil[1] == 1 &&
             a->epads[0] == 0 && a->epads[1] == 0;
    ln_parallel_for((size_t)(x->shape[0] * x->shape[1]), 1, ox_pool_body, &c);
    return 0;
}

/* ---- BatchNormalization ---------------------------------------------- */

static int ox_bn_load(ox_model *m, ox_node *n, struct ln_error *err)
{
    int64_t training, spatial;
    float momentum;
    if (ox_float(n, "epsilon", 1e-5f, &n->a.eps, err) < 0 ||
        ox_float(n, "momentum", 0.9f, &momentum, err) < 0 ||
        ox_int(n, "training_mode", 0, &training, err) < 0 ||
        ox_int(n, "spatial", 1, &spatial, err) < 0)
        return LN_EFORMAT;
    if (training)
        return ox_bad_attr(n, "training_mode", "must be 0 (inference)", err);
    if (!spatial)
        return ox_bad_attr(n, "spatial", "must be 1", err);
    return 0;
}

static int ox_bn_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    if (x->ndim < 2 || x->dtype != LN__OX_F32)
        return ln_error_set(err, LN_EFORMAT, "the input must be a float tensor of 2+ dimensions");
    for (int k = 1; k < 5; k++) {
        const ox_tensor *t = ln__ox_in(m, n, k);
        if (t->numel != (size_t)x->shape[1] || t->dtype != LN__OX_F32)
            return ln_error_set(err, LN_EFORMAT, "input %d must hold %lld floats", k + 1,
                                (long long)x->shape[1]);
    }
    ox_set(ln__ox_out(m, n, 0), LN__OX_F32, x->ndim, x->shape);
    return 0;
}

struct ox_bn_ctx {
    const float *x, *scale, *bias, *mean, *var;
    float *y, eps;
    size_t C, inner;
};

static void ox_bn_body(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ox_bn_ctx *c = ctx;
    for (size_t pl = begin; pl < end; pl++) {
        size_t ch = pl % c->C;
        float s = c->scale[ch] / sqrtf(c->var[ch] + c->eps);
        float b = c->bias[ch] - c->mean[ch] * s;
        const float *x = c->x + pl * c->inner;
        float *y = c->y + pl * c->inner;
        for (size_t i = 0; i < c->inner; i++)
            y[i] = x[i] * s + b;
    }
}

static int ox_bn_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    struct ox_bn_ctx c = {x->data,
                          ln__ox_in(m, n, 1)->data,
                          ln__ox_in(m, n, 2)->data,
                          ln__ox_in(m, n, 3)->data,
                          ln__ox_in(m, n, 4)->data,
                          ln__ox_out(m, n, 0)->data,
                          n->a.eps,
                          (size_t)x->shape[1],
                          ox_prod(x->shape, 2, x->ndim)};
    size_t planes = (size_t)x->shape[0] * c.C;
    ln_parallel_for(planes, LN__OX_GRAIN / (c.inner + 1) + 1, ox_bn_body, &c);
    return 0;
}

/* ---- Resize / Upsample ------------------------------------------------ */

enum { OX_CTM_HALF, OX_CTM_ASYM, OX_CTM_PYTORCH, OX_CTM_ALIGN, OX_CTM_TFNN };
enum { OX_NM_ROUND_FLOOR, OX_NM_ROUND_CEIL, OX_NM_FLOOR, OX_NM_CEIL };

static int ox_resize_load(ox_model *m, ox_node *n, struct ln_error *err)
{
    struct ln__ox_attrs *a = &n->a;
    int up = !strcmp(n->op->name, "Upsample");
    int64_t excl, anti;
    float f;
    int keep;
    if (ox_choice(n, "mode", "nearest|linear|bilinear", LN__OX_RS_NEAREST, &a->mode, err) < 0 ||
        ox_choice(n, "coordinate_transformation_mode",
                  "half_pixel|asymmetric|pytorch_half_pixel|align_corners|tf_half_pixel_for_nn",
                  OX_CTM_HALF, &a->ctm, err) < 0 ||
        ox_choice(n, "nearest_mode", "round_prefer_floor|round_prefer_ceil|floor|ceil",
                  OX_NM_ROUND_FLOOR, &a->nearest, err) < 0 ||
        ox_int(n, "exclude_outside", 0, &excl, err) < 0 ||
        ox_int(n, "antialias", 0, &anti, err) < 0 ||
        ox_float(n, "cubic_coeff_a", -0.75f, &f, err) < 0 ||
        ox_float(n, "extrapolation_value", 0.0f, &f, err) < 0 ||
        ox_choice(n, "keep_aspect_ratio_policy", "stretch", 0, &keep, err) < 0)
        return LN_EFORMAT;
    if (excl)
        return ox_bad_attr(n, "exclude_outside", "must be 0", err);
    if (anti)
        return ox_bad_attr(n, "antialias", "must be 0", err);
    if (a->mode == LN__OX_RS_BILINEAR && !up)
        return ox_bad_attr(n, "mode", "'bilinear' is not a Resize mode", err);
    if (a->mode == LN__OX_RS_BILINEAR)
        a->mode = LN__OX_RS_LINEAR;
    /* Before opset 11 (and in Upsample) coordinates are x_out / scale
     * and nearest rounds down. */
    if (up || m->opset < 11) {
        if (ln__ox_attr(n, "coordinate_transformation_mode") || ln__ox_attr(n, "nearest_mode"))
            return ln_error_set(err, LN_EFORMAT, "%s node '%.80s': attributes of a later opset",
                                n->op->name, ln__ox_node_name(n));
        a->ctm = OX_CTM_ASYM;
        a->nearest = OX_NM_FLOOR;
    }
    if (up && m->opset < 9) {
        int ns;
        const Onnx__AttributeProto *s = ln__ox_attr(n, "scales");
        if (!s || s->n_floats > LN_ONNX_MAX_DIMS || s->n_floats == 0)
            return ox_bad_attr(n, "scales", "must hold one float per dimension", err);
        for (size_t i = 0; i < s->n_floats; i++)
            a->rscale[i] = s->floats[i];
        ns = (int)s->n_floats;
        a->naxes = ns;
        if (n->n_in != 1)
            return ln_error_set(err, LN_EFORMAT, "Upsample node '%.80s': one input expected",
                                ln__ox_node_name(n));
    } else if (ln__ox_attr(n, "scales")) {
        return ox_bad_attr(n, "scales", "is an input since opset 9", err);
    }
    return 0;
}

static int ox_resize_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    struct ln__ox_attrs *a = &n->a;
    if (x->dtype != LN__OX_F32)
        return ln_error_set(err, LN_EFORMAT, "the input must be float");
    int scales_in = -1, sizes_in = -1;
    if (!strcmp(n->op->name, "Upsample")) {
        if (m->opset >= 9)
            scales_in = 1;
    } else if (m->opset < 11) {
        scales_in = 1;
    } else {
        if (n->n_in > 2 && n->in[2] >= 0 && ln__ox_in(m, n, 2)->numel > 0)
            scales_in = 2;
        if (n->n_in > 3 && n->in[3] >= 0)
            sizes_in = 3;
        if ((scales_in < 0) == (sizes_in < 0))
            return ln_error_set(err, LN_EFORMAT, "exactly one of scales and sizes must be given");
    }
    int64_t out[LN_ONNX_MAX_DIMS];
    if (scales_in >= 0) {
        if (ox_need_known(m, n, scales_in, err) < 0)
            return LN_EFORMAT;
        const ox_tensor *s = ln__ox_in(m, n, scales_in);
        if (s->dtype != LN__OX_F32 || s->numel != (size_t)x->ndim)
            return ln_error_set(err, LN_EFORMAT, "scales must hold %d floats", x->ndim);
        for (int d = 0; d < x->ndim; d++)
            a->rscale[d] = ((const float *)s->data)[d];
    } else if (sizes_in >= 0) {
        int count;
        if (ox_read_ints(m, n, sizes_in, out, LN_ONNX_MAX_DIMS, &count, err) < 0)
            return LN_EFORMAT;
        if (count != x->ndim)
            return ln_error_set(err, LN_EFORMAT, "sizes must hold %d values", x->ndim);
    } else if (a->naxes != x->ndim) {
        return ln_error_set(err, LN_EFORMAT, "scales must hold %d floats", x->ndim);
    }
    for (int d = 0; d < x->ndim; d++) {
        if (sizes_in >= 0) {
            if (out[d] < 0 || out[d] > LN__OX_MAX_DIM)
                return ln_error_set(err, LN_EFORMAT, "bad size %lld", (long long)out[d]);
            a->rscale[d] = x->shape[d] ? (float)out[d] / (float)x->shape[d] : 1.0f;
        } else {
            float s = a->rscale[d];
            if (!(s > 0.0f) || s * (float)x->shape[d] > (float)LN__OX_MAX_DIM)
                return ln_error_set(err, LN_EFORMAT, "bad scale %g", (double)s);
            out[d] = (int64_t)floorf(s * (float)x->shape[d]);
        }
        if (d < x->ndim - 2 && out[d] != x->shape[d])
            return ln_error_set(err, LN_EFORMAT, "only the last two dimensions may be resized");
    }
    if (x->ndim < 2)
        return ln_error_set(err, LN_EFORMAT, "the input must have 2+ dimensions");
    ox_set(ln__ox_out(m, n, 0), LN__OX_F32, x->ndim, out);
    return 0;
}

/* Source coordinate of output index o (ONNX's coordinate transforms). */
static float ox_src(int ctm, int64_t o, float scale, int64_t in, int64_t out)
{
    switch (ctm) {
    case OX_CTM_ASYM:
        return (float)o / scale;
    case OX_CTM_PYTORCH:
        return out > 1 ? ((float)o + 0.5f) / scale - 0.5f : 0.0f;
    case OX_CTM_ALIGN:
        return out == 1 ? 0.0f : (float)o * (float)(in - 1) / (float)(out - 1);
    case OX_CTM_TFNN:
        return ((float)o + 0.5f) / scale;
    default:
        return ((float)o + 0.5f) / scale - 0.5f;
    }
}

static int64_t ox_nearest(int mode, float s, int64_t in)
{
    float r;
    switch (mode) {
    case OX_NM_FLOOR:
        r = floorf(s);
        break;
    case OX_NM_CEIL:
        r = ceilf(s);
        break;
    case OX_NM_ROUND_CEIL:
        r = floorf(s + 0.5f);
        break;
    default:
        r = s == floorf(s) + 0.5f ? floorf(s) : roundf(s);
        break;
    }
    int64_t i = r < 0.0f ? 0 : r > (float)(in - 1) ? in - 1 : (int64_t)r;
    return i;
}

struct ox_rs_ctx {
    const float *x;
    float *y;
    int64_t H, W, Ho, Wo;
    const int64_t *iy0, *iy1, *ix0, *ix1;
    const float *wy, *wx;
};

static void ox_rs_body(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ox_rs_ctx *c = ctx;
    for (size_t pl = begin; pl < end; pl++) {
        const float *x = c->x + pl * (size_t)(c->H * c->W);
        float *y = c->y + pl * (size_t)(c->Ho * c->Wo);
        for (int64_t oy = 0; oy < c->Ho; oy++) {
            const float *r0 = x + c->iy0[oy] * c->W, *r1 = x + c->iy1[oy] * c->W;
            float wy = c->wy[oy];
            float *yr = y + oy * c->Wo;
            for (int64_t ox = 0; ox < c->Wo; ox++) {
                float wx = c->wx[ox];
                float top = r0[c->ix0[ox]] + (r0[c->ix1[ox]] - r0[c->ix0[ox]]) * wx;
                float bot = r1[c->ix0[ox]] + (r1[c->ix1[ox]] - r1[c->ix0[ox]]) * wx;
                yr[ox] = top + (bot - top) * wy;
            }
        }
    }
}

void ln__ox_resize_at(const struct ln__ox_attrs *a, int64_t o, int64_t in, int64_t out,
                      float scale, int64_t *i0, int64_t *i1, float *w)
{
    float s = ox_src(a->ctm, o, scale, in, out);
    if (a->mode == LN__OX_RS_NEAREST) {
        *i0 = *i1 = ox_nearest(a->nearest, s, in);
        *w = 0.0f;
        return;
    }
    if (s < 0.0f)
        s = 0.0f;
    if (s > (float)(in - 1))
        s = (float)(in - 1);
    int64_t f = (int64_t)s;
    *i0 = f;
    *i1 = f + 1 < in ? f + 1 : in - 1;
    *w = s - (float)f;
}

/* Index and weight tables of one axis. */
static void ox_rs_axis(const struct ln__ox_attrs *a, int64_t in, int64_t out, float scale,
                       int64_t *i0, int64_t *i1, float *w)
{
    for (int64_t o = 0; o < out; o++)
        ln__ox_resize_at(a, o, in, out, scale, &i0[o], &i1[o], &w[o]);
}

static int ox_resize_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    ox_tensor *y = ln__ox_out(m, n, 0);
    int nd = x->ndim;
    struct ox_rs_ctx c = {x->data,
                          y->data,
                          x->shape[nd - 2],
                          x->shape[nd - 1],
                          y->shape[nd - 2],
                          y->shape[nd - 1],
                          NULL,
                          NULL,
                          NULL,
                          NULL,
                          NULL,
                          NULL};
    if (y->numel == 0)
        return 0;
    if (c.H == 0 || c.W == 0)
        return ln_error_set(err, LN_EFORMAT, "cannot resize an empty input");
    size_t nt = (size_t)(c.Ho + c.Wo);
    int64_t *idx = ln_alloc_array(nt * 2, sizeof *idx, 0, "Resize tables", err);
    float *w = ln_alloc_array(nt, sizeof *w, 0, "Resize tables", err);
    if (!idx || !w) {
        free(idx);
        free(w);
        return LN_ENOMEM;
    }
    int64_t *iy0 = idx, *iy1 = idx + c.Ho, *ix0 = idx + 2 * c.Ho, *ix1 = ix0 + c.Wo;
    ox_rs_axis(&n->a, c.H, c.Ho, n->a.rscale[nd - 2], iy0, iy1, w);
    ox_rs_axis(&n->a, c.W, c.Wo, n->a.rscale[nd - 1], ix0, ix1, w + c.Ho);
    c.iy0 = iy0;
    c.iy1 = iy1;
    c.ix0 = ix0;
    c.ix1 = ix1;
    c.wy = w;
    c.wx = w + c.Ho;
    ln_parallel_for(ox_prod(x->shape, 0, nd - 2), 1, ox_rs_body, &c);
    free(idx);
    free(w);
    return 0;
}

/* ---- shape and data movement --------------------------------------- */

static int ox_concat_load(ox_model *m, ox_node *n, struct ln_error *err)
{
    if (!ln__ox_attr(n, "axis"))
        return ox_bad_attr(n, "axis", "is required", err);
    return ox_int(n, "axis", 0, &n->a.axis, err);
}

static int ox_concat_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x0 = ln__ox_in(m, n, 0);
    int64_t axis, shape[LN_ONNX_MAX_DIMS];
    if (!x0 || ox_axis(n->a.axis, x0->ndim, &axis, err) < 0)
        return LN_EFORMAT;
    memcpy(shape, x0->shape, sizeof shape);
    shape[axis] = 0;
    for (int k = 0; k < n->n_in; k++) {
        const ox_tensor *t = ln__ox_in(m, n, k);
        if (!t || t->ndim != x0->ndim || t->dtype != x0->dtype)
            return ln_error_set(err, LN_EFORMAT, "input %d differs in rank or type", k + 1);
        for (int d = 0; d < t->ndim; d++)
            if (d != axis && t->shape[d] != x0->shape[d])
                return ln_error_set(err, LN_EFORMAT, "input %d differs in dimension %d", k + 1, d);
        shape[axis] += t->shape[axis];
        if (shape[axis] > LN__OX_MAX_DIM)
            return ln_error_set(err, LN_ETOOBIG, "output too large");
    }
    ox_set(ln__ox_out(m, n, 0), x0->dtype, x0->ndim, shape);
    return 0;
}

static int ox_concat_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    ox_tensor *y = ln__ox_out(m, n, 0);
    int64_t axis = n->a.axis < 0 ? n->a.axis + y->ndim : n->a.axis;
    size_t outer = ox_prod(y->shape, 0, (int)axis), es = ox_esize(y);
    size_t inner = ox_prod(y->shape, (int)axis + 1, y->ndim) * es;
    size_t row = (size_t)y->shape[axis] * inner, at = 0;
    for (int k = 0; k < n->n_in; k++) {
        const ox_tensor *t = ln__ox_in(m, n, k);
        size_t chunk = (size_t)t->shape[axis] * inner;
        if (outer == 1 && t->data == (uint8_t *)y->data + at) {
            at += chunk; /* written in place by its producer (ln_onnx.c, DESIGN) */
            continue;
        }
        for (size_t o = 0; o < outer && chunk; o++)
            memcpy((uint8_t *)y->data + o * row + at, (const uint8_t *)t->data + o * chunk, chunk);
        at += chunk;
    }
    return 0;
}

/* The output is the input's data under another shape (Reshape, Flatten,
 * Squeeze, Unsqueeze, Identity, Dropout). */
static int ox_copy_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    ox_tensor *y = ln__ox_out(m, n, 0);
    if (x->numel)
        memcpy(y->data, x->data, x->numel * ox_esize(x));
    return 0;
}

static int ox_reshape_load(ox_model *m, ox_node *n, struct ln_error *err)
{
    return ox_int(n, "allowzero", 0, &n->a.allowzero, err);
}

static int ox_reshape_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    int64_t s[LN_ONNX_MAX_DIMS];
    int count;
    if (ox_read_ints(m, n, 1, s, LN_ONNX_MAX_DIMS, &count, err) < 0)
        return LN_EFORMAT;
    int minus = -1;
    size_t known = 1;
    for (int d = 0; d < count; d++) {
        if (s[d] == 0 && !n->a.allowzero) {
            if (d >= x->ndim)
                return ln_error_set(err, LN_EFORMAT, "0 in the shape past the input's rank");
            s[d] = x->shape[d];
        }
        if (s[d] == -1) {
            if (minus >= 0)
                return ln_error_set(err, LN_EFORMAT, "two -1 in the shape");
            minus = d;
            continue;
        }
        if (s[d] < 0 || s[d] > LN__OX_MAX_DIM)
            return ln_error_set(err, LN_EFORMAT, "bad dimension %lld", (long long)s[d]);
        if (ln_size_mul(known, (size_t)s[d], &known) < 0)
            return ln_error_set(err, LN_ETOOBIG, "shape too large");
    }
    if (minus >= 0) {
        if (known == 0 || x->numel % known)
            return ln_error_set(err, LN_EFORMAT, "cannot infer the -1 dimension");
        s[minus] = (int64_t)(x->numel / known);
        known = x->numel;
    }
    if (known != x->numel)
        return ln_error_set(err, LN_EFORMAT, "the shape holds %zu values, the input %zu", known,
                            x->numel);
    ox_set(ln__ox_out(m, n, 0), x->dtype, count, s);
    return 0;
}

static int ox_flatten_load(ox_model *m, ox_node *n, struct ln_error *err)
{
    return ox_int(n, "axis", 1, &n->a.axis, err);
}

static int ox_flatten_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    int64_t axis = n->a.axis < 0 ? n->a.axis + x->ndim : n->a.axis;
    if (axis < 0 || axis > x->ndim)
        return ln_error_set(err, LN_EFORMAT, "bad axis");
    int64_t s[2] = {(int64_t)ox_prod(x->shape, 0, (int)axis),
                    (int64_t)ox_prod(x->shape, (int)axis, x->ndim)};
    ox_set(ln__ox_out(m, n, 0), x->dtype, 2, s);
    return 0;
}

static int ox_squeeze_load(ox_model *m, ox_node *n, struct ln_error *err)
{
    if (ox_ints(n, "axes", n->a.axes, LN_ONNX_MAX_DIMS, &n->a.naxes, err) < 0)
        return LN_EFORMAT;
    n->a.has_axes = n->a.naxes >= 0;
    if (n->a.has_axes && m->opset >= 13)
        return ox_bad_attr(n, "axes", "is an input since opset 13", err);
    if (!n->a.has_axes && !strcmp(n->op->name, "Unsqueeze") && m->opset < 13)
        return ox_bad_attr(n, "axes", "is required", err);
    return 0;
}

static int ox_squeeze_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    int64_t axes[LN_ONNX_MAX_DIMS];
    int naxes = n->a.has_axes ? n->a.naxes : 0, given = n->a.has_axes;
    memcpy(axes, n->a.axes, sizeof axes);
    if (n->n_in > 1 && n->in[1] >= 0) {
        if (ox_read_ints(m, n, 1, axes, LN_ONNX_MAX_DIMS, &naxes, err) < 0)
            return LN_EFORMAT;
        given = 1;
    }
    int unsq = !strcmp(n->op->name, "Unsqueeze");
    int nd = unsq ? x->ndim + naxes : x->ndim;
    if (unsq && !given)
        return ln_error_set(err, LN_EFORMAT, "axes are required");
    if (nd > LN_ONNX_MAX_DIMS)
        return ln_error_set(err, LN_EFORMAT, "more than %d dimensions", LN_ONNX_MAX_DIMS);
    int mark[LN_ONNX_MAX_DIMS] = {0};
    for (int i = 0; i < naxes; i++) {
        int64_t ax;
        if (ox_axis(axes[i], nd, &ax, err) < 0)
            return LN_EFORMAT;
        if (mark[ax])
            return ln_error_set(err, LN_EFORMAT, "axis %lld repeated", (long long)ax);
        mark[ax] = 1;
    }
    int64_t s[LN_ONNX_MAX_DIMS];
    int o = 0;
    if (unsq) {
        for (int d = 0, k = 0; d < nd; d++)
            s[o++] = mark[d] ? 1 : x->shape[k++];
    } else {
        for (int d = 0; d < x->ndim; d++) {
            if ((given && mark[d]) || (!given && x->shape[d] == 1)) {
                if (x->shape[d] != 1)
                    return ln_error_set(err, LN_EFORMAT, "dimension %d is not 1", d);
                continue;
            }
            s[o++] = x->shape[d];
        }
    }
    ox_set(ln__ox_out(m, n, 0), x->dtype, o, s);
    return 0;
}

static int ox_identity_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    ox_set(ln__ox_out(m, n, 0), x->dtype, x->ndim, x->shape);
    return 0;
}

static int ox_transpose_load(ox_model *m, ox_node *n, struct ln_error *err)
{
    return ox_ints(n, "perm", n->a.perm, LN_ONNX_MAX_DIMS, &n->a.nperm, err);
}

static int ox_transpose_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    struct ln__ox_attrs *a = &n->a;
    if (a->nperm < 0) {
        for (int d = 0; d < x->ndim; d++)
            a->perm[d] = x->ndim - 1 - d;
    } else if (a->nperm != x->ndim) {
        return ln_error_set(err, LN_EFORMAT, "perm has %d values for %d dimensions", a->nperm,
                            x->ndim);
    }
    int seen[LN_ONNX_MAX_DIMS] = {0};
    int64_t s[LN_ONNX_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) {
        if (a->perm[d] < 0 || a->perm[d] >= x->ndim || seen[a->perm[d]]++)
            return ln_error_set(err, LN_EFORMAT, "perm is not a permutation");
        s[d] = x->shape[a->perm[d]];
    }
    ox_set(ln__ox_out(m, n, 0), x->dtype, x->ndim, s);
    return 0;
}

/* Gathers y[i] = x[sum idx_d * st_d] over y's shape: the strided copy of
 * Transpose, Slice and Expand. */
static void ox_strided_copy(const ox_tensor *y, const void *xdata, int64_t base, const int64_t *st)
{
    int nd = y->ndim;
    int64_t idx[LN_ONNX_MAX_DIMS] = {0};
    size_t es = ox_esize(y);
    int64_t off = base;
    for (size_t i = 0; i < y->numel; i++) {
        if (es == 4)
            ((float *)y->data)[i] = ((const float *)xdata)[off];
        else
            ((int64_t *)y->data)[i] = ((const int64_t *)xdata)[off];
        for (int d = nd - 1; d >= 0; d--) {
            off += st[d];
            if (++idx[d] < y->shape[d])
                break;
            off -= st[d] * y->shape[d];
            idx[d] = 0;
        }
    }
}

static void ox_strides(const ox_tensor *t, int64_t *st)
{
    int64_t s = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        st[d] = s;
        s *= t->shape[d];
    }
}

static int ox_transpose_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    int64_t xs[LN_ONNX_MAX_DIMS], st[LN_ONNX_MAX_DIMS];
    ox_strides(x, xs);
    for (int d = 0; d < x->ndim; d++)
        st[d] = xs[n->a.perm[d]];
    ox_strided_copy(ln__ox_out(m, n, 0), x->data, 0, st);
    return 0;
}

static int ox_slice_load(ox_model *m, ox_node *n, struct ln_error *err)
{
    struct ln__ox_attrs *a = &n->a;
    if (m->opset >= 10) {
        if (ln__ox_attr(n, "starts") || ln__ox_attr(n, "ends") || ln__ox_attr(n, "axes"))
            return ln_error_set(err, LN_EFORMAT,
                                "Slice node '%.80s': starts, ends and axes are "
                                "inputs since opset 10",
                                ln__ox_node_name(n));
        if (n->n_in < 3)
            return ln_error_set(err, LN_EFORMAT, "Slice node '%.80s': needs starts and ends",
                                ln__ox_node_name(n));
        return 0;
    }
    int ne;
    if (ox_ints(n, "starts", a->starts, LN_ONNX_MAX_DIMS, &a->nstarts, err) < 0 ||
        ox_ints(n, "ends", a->ends, LN_ONNX_MAX_DIMS, &ne, err) < 0 ||
        ox_ints(n, "axes", a->axes, LN_ONNX_MAX_DIMS, &a->naxes, err) < 0)
        return LN_EFORMAT;
    if (a->nstarts < 0 || ne != a->nstarts || (a->naxes >= 0 && a->naxes != a->nstarts))
        return ln_error_set(err, LN_EFORMAT, "Slice node '%.80s': bad starts, ends or axes",
                            ln__ox_node_name(n));
    if (n->n_in != 1)
        return ln_error_set(err, LN_EFORMAT, "Slice node '%.80s': one input expected",
                            ln__ox_node_name(n));
    return 0;
}

/* Slice's start and step per axis, for the output shape and the copy. */
static int ox_slice_plan(ox_model *m, ox_node *n, int64_t *start, int64_t *step, int64_t *len,
                         struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    struct ln__ox_attrs *a = &n->a;
    int64_t starts[LN_ONNX_MAX_DIMS], ends[LN_ONNX_MAX_DIMS], axes[LN_ONNX_MAX_DIMS],
        steps[LN_ONNX_MAX_DIMS];
    int ns, ne, na = -1, nst = -1;
    if (m->opset >= 10) {
        if (ox_read_ints(m, n, 1, starts, LN_ONNX_MAX_DIMS, &ns, err) < 0 ||
            ox_read_ints(m, n, 2, ends, LN_ONNX_MAX_DIMS, &ne, err) < 0)
            return LN_EFORMAT;
        if (n->n_in > 3 && n->in[3] >= 0 &&
            ox_read_ints(m, n, 3, axes, LN_ONNX_MAX_DIMS, &na, err) < 0)
            return LN_EFORMAT;
        if (n->n_in > 4 && n->in[4] >= 0 &&
            ox_read_ints(m, n, 4, steps, LN_ONNX_MAX_DIMS, &nst, err) < 0)
            return LN_EFORMAT;
    } else {
        ns = ne = a->nstarts;
        memcpy(starts, a->starts, sizeof starts);
        memcpy(ends, a->ends, sizeof ends);
        na = a->naxes;
        memcpy(axes, a->axes, sizeof axes);
    }
    if (ne != ns || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
        return ln_error_set(err, LN_EFORMAT, "starts, ends, axes and steps differ in length");
    for (int d = 0; d < x->ndim; d++) {
        start[d] = 0;
        step[d] = 1;
        len[d] = x->shape[d];
    }
    int seen[LN_ONNX_MAX_DIMS] = {0};
    for (int i = 0; i < ns; i++) {
        int64_t ax = na >= 0 ? axes[i] : i;
        if (ox_axis(ax, x->ndim, &ax, err) < 0)
            return LN_EFORMAT;
        if (seen[ax]++)
            return ln_error_set(err, LN_EFORMAT, "axis repeated");
        int64_t dim = x->shape[ax], s = starts[i], e = ends[i], k = nst >= 0 ? steps[i] : 1;
        if (k == 0)
            return ln_error_set(err, LN_EFORMAT, "step 0");
        /* A step longer than the axis takes one element, as the axis's
         * length does; clamping keeps the strides' products in range. */
        if (k > dim)
            k = dim > 0 ? dim : 1;
        if (k < -dim)
            k = dim > 0 ? -dim : -1;
        if (s < 0)
            s = s < -dim ? 0 : s + dim;
        if (e < 0)
            e = e < -dim ? -1 : e + dim;
        if (k > 0) {
            s = s > dim ? dim : s;
            e = e > dim ? dim : e < 0 ? 0 : e;
            len[ax] = e > s ? (e - s + k - 1) / k : 0;
        } else {
            s = s > dim - 1 ? dim - 1 : s;
            e = e > dim - 1 ? dim - 1 : e;
            len[ax] = s > e ? (s - e + (-k) - 1) / (-k) : 0;
        }
        start[ax] = s;
        step[ax] = k;
    }
    return 0;
}

static int ox_slice_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    int64_t start[LN_ONNX_MAX_DIMS], step[LN_ONNX_MAX_DIMS], len[LN_ONNX_MAX_DIMS];
    if (ox_slice_plan(m, n, start, step, len, err) < 0)
        return LN_EFORMAT;
    ox_set(ln__ox_out(m, n, 0), x->dtype, x->ndim, len);
    return 0;
}

int ln__ox_slice_at(struct ln_onnx *m, struct ln__ox_node *n, int64_t *start, int64_t *step,
                    int64_t *len, struct ln_error *err)
{
    return ox_slice_plan(m, n, start, step, len, err);
}

static int ox_slice_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    ox_tensor *y = ln__ox_out(m, n, 0);
    int64_t start[LN_ONNX_MAX_DIMS], step[LN_ONNX_MAX_DIMS], len[LN_ONNX_MAX_DIMS];
    int64_t xs[LN_ONNX_MAX_DIMS], st[LN_ONNX_MAX_DIMS], base = 0;
    if (ox_slice_plan(m, n, start, step, len, err) < 0)
        return LN_EFORMAT;
    if (y->numel == 0)
        return 0;
    ox_strides(x, xs);
    for (int d = 0; d < x->ndim; d++) {
        base += start[d] * xs[d];
        st[d] = step[d] * xs[d];
    }
    ox_strided_copy(y, x->data, base, st);
    return 0;
}

static int ox_gather_load(ox_model *m, ox_node *n, struct ln_error *err)
{
    return ox_int(n, "axis", 0, &n->a.axis, err);
}

static int ox_gather_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0), *idx = ln__ox_in(m, n, 1);
    int64_t axis, s[LN_ONNX_MAX_DIMS];
    if (ox_axis(n->a.axis, x->ndim, &axis, err) < 0)
        return LN_EFORMAT;
    if (idx->dtype != LN__OX_I64)
        return ln_error_set(err, LN_EFORMAT, "indices must be integers");
    if (x->ndim - 1 + idx->ndim > LN_ONNX_MAX_DIMS)
        return ln_error_set(err, LN_EFORMAT, "too many dimensions");
    int o = 0;
    for (int d = 0; d < axis; d++)
        s[o++] = x->shape[d];
    for (int d = 0; d < idx->ndim; d++)
        s[o++] = idx->shape[d];
    for (int d = (int)axis + 1; d < x->ndim; d++)
        s[o++] = x->shape[d];
    ox_set(ln__ox_out(m, n, 0), x->dtype, o, s);
    return 0;
}

static int ox_gather_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0), *idx = ln__ox_in(m, n, 1);
    ox_tensor *y = ln__ox_out(m, n, 0);
    int64_t axis = n->a.axis < 0 ? n->a.axis + x->ndim : n->a.axis;
    size_t outer = ox_prod(x->shape, 0, (int)axis), es = ox_esize(x);
    size_t inner = ox_prod(x->shape, (int)axis + 1, x->ndim) * es;
    int64_t dim = x->shape[axis];
    const int64_t *ix = idx->data;
    uint8_t *out = y->data;
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < idx->numel; i++) {
            int64_t k = ix[i] < 0 ? ix[i] + dim : ix[i];
            if (k < 0 || k >= dim)
                return ln_error_set(err, LN_EFORMAT, "index %lld out of range (%lld)",
                                    (long long)ix[i], (long long)dim);
            memcpy(out, (const uint8_t *)x->data + (o * (size_t)dim + (size_t)k) * inner, inner);
            out += inner;
        }
    return 0;
}

static int ox_shape_load(ox_model *m, ox_node *n, struct ln_error *err)
{
    n->a.has_end = ln__ox_attr(n, "end") != NULL;
    if (ox_int(n, "start", 0, &n->a.start, err) < 0 || ox_int(n, "end", 0, &n->a.end, err) < 0)
        return LN_EFORMAT;
    return 0;
}

static void ox_shape_range(const ox_node *n, int ndim, int64_t *s, int64_t *e)
{
    *s = n->a.start < 0 ? n->a.start + ndim : n->a.start;
    *e = n->a.has_end ? (n->a.end < 0 ? n->a.end + ndim : n->a.end) : ndim;
    *s = *s < 0 ? 0 : *s > ndim ? ndim : *s;
    *e = *e < *s ? *s : *e > ndim ? ndim : *e;
}

static int ox_shape_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    int64_t s, e;
    ox_shape_range(n, x->ndim, &s, &e);
    int64_t len = e - s;
    ox_set(ln__ox_out(m, n, 0), LN__OX_I64, 1, &len);
    return 0;
}

static int ox_shape_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    int64_t s, e;
    ox_shape_range(n, x->ndim, &s, &e);
    for (int64_t d = s; d < e; d++)
        ((int64_t *)ln__ox_out(m, n, 0)->data)[d - s] = x->shape[d];
    return 0;
}

static int ox_constant_load(ox_model *m, ox_node *n, struct ln_error *err)
{
    struct ln__ox_value *v = &m->values[n->out[0]];
    const Onnx__AttributeProto *a = NULL;
    int found = 0;
    static const char *kinds[] = {"value", "value_float", "value_floats", "value_int",
                                  "value_ints"};
    int kind = -1;
    for (int i = 0; i < 5; i++)
        if (ln__ox_attr(n, kinds[i])) {
            a = ln__ox_attr(n, kinds[i]);
            kind = i;
            found++;
        }
    if (found != 1)
        return ln_error_set(err, LN_EFORMAT, "Constant node '%.80s' needs exactly one value",
                            ln__ox_node_name(n));
    v->is_init = v->known = 1;
    v->producer = -1;
    char what[160];
    snprintf(what, sizeof what, "Constant node '%.120s'", ln__ox_node_name(n));
    if (kind == 0) {
        if (!a->t)
            return ox_bad_attr(n, "value", "must be a tensor", err);
        return ln__ox_tensor_from_proto(a->t, &v->t, &v->owned, what, err);
    }
    size_t count = kind == 1 || kind == 3 ? 1 : kind == 2 ? a->n_floats : a->n_ints;
    if ((kind == 1 && !a->has_f) || (kind == 3 && !a->has_i) || count > ((size_t)1 << 24))
        return ox_bad_attr(n, kinds[kind], "has no value", err);
    v->t.dtype = kind <= 2 ? LN__OX_F32 : LN__OX_I64;
    v->t.ndim = kind == 1 || kind == 3 ? 0 : 1;
    v->t.shape[0] = (int64_t)count;
    v->t.numel = count;
    v->owned = ln_xcalloc(count + 1, 8);
    v->t.data = v->owned;
    for (size_t i = 0; i < count; i++) {
        if (kind == 1)
            ((float *)v->owned)[i] = a->f;
        else if (kind == 2)
            ((float *)v->owned)[i] = a->floats[i];
        else if (kind == 3)
            ((int64_t *)v->owned)[i] = a->i;
        else
            ((int64_t *)v->owned)[i] = a->ints[i];
    }
    return 0;
}

static int ox_none_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    return 0;
}

static int ox_cast_load(ox_model *m, ox_node *n, struct ln_error *err)
{
    int64_t to;
    if (!ln__ox_attr(n, "to"))
        return ox_bad_attr(n, "to", "is required", err);
    if (ox_int(n, "to", 0, &to, err) < 0)
        return LN_EFORMAT;
    switch (to) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
        n->a.to = LN__OX_F32;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
        n->a.to = LN__OX_I64;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL:
        n->a.to = -LN__OX_I64;
        break;
    default:
        return ln_error_set(err, LN_EFORMAT,
                            "Cast node '%.80s': casting to type %lld is not "
                            "supported",
                            ln__ox_node_name(n), (long long)to);
    }
    int64_t sat;
    return ox_int(n, "saturate", 1, &sat, err);
}

static int ox_cast_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    ox_set(ln__ox_out(m, n, 0), n->a.to < 0 ? LN__OX_I64 : n->a.to, x->ndim, x->shape);
    return 0;
}

static int ox_cast_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    ox_tensor *y = ln__ox_out(m, n, 0);
    for (size_t i = 0; i < x->numel; i++) {
        if (x->dtype == LN__OX_F32) {
            float f = ((const float *)x->data)[i];
            if (n->a.to == LN__OX_F32)
                ((float *)y->data)[i] = f;
            else if (n->a.to < 0)
                ((int64_t *)y->data)[i] = f != 0.0f;
            else
                ((int64_t *)y->data)[i] = f >= 9.2e18f              ? INT64_MAX
                                          : f <= -9.2e18f || f != f ? INT64_MIN
                                                                    : (int64_t)f;
        } else {
            int64_t v = ((const int64_t *)x->data)[i];
            if (n->a.to == LN__OX_F32)
                ((float *)y->data)[i] = (float)v;
            else
                ((int64_t *)y->data)[i] = n->a.to < 0 ? v != 0 : v;
        }
    }
    return 0;
}

static int ox_cos_load(ox_model *m, ox_node *n, struct ln_error *err)
{
    const Onnx__AttributeProto *a = ln__ox_attr(n, "value");
    n->a.value_dtype = LN__OX_F32;
    n->a.value = 0.0;
    if (!a)
        return 0;
    struct ln__ox_tensor t;
    void *owned;
    if (!a->t)
        return ox_bad_attr(n, "value", "must be a tensor", err);
    if (ln__ox_tensor_from_proto(a->t, &t, &owned, "ConstantOfShape value", err) < 0)
        return LN_EFORMAT;
    int rc = 0;
    if (t.numel != 1)
        rc = ox_bad_attr(n, "value", "must hold one value", err);
    else if (t.dtype == LN__OX_F32)
        n->a.value = ((const float *)t.data)[0];
    else
        n->a.value = (double)((const int64_t *)t.data)[0];
    n->a.value_dtype = t.dtype;
    free(owned);
    return rc;
}

static int ox_cos_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    int64_t s[LN_ONNX_MAX_DIMS];
    int count;
    if (ox_read_ints(m, n, 0, s, LN_ONNX_MAX_DIMS, &count, err) < 0)
        return LN_EFORMAT;
    ox_set(ln__ox_out(m, n, 0), n->a.value_dtype, count, s);
    return 0;
}

static int ox_cos_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    ox_tensor *y = ln__ox_out(m, n, 0);
    for (size_t i = 0; i < y->numel; i++) {
        if (y->dtype == LN__OX_F32)
            ((float *)y->data)[i] = (float)n->a.value;
        else
            ((int64_t *)y->data)[i] = (int64_t)n->a.value;
    }
    return 0;
}

static int ox_expand_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    ox_tensor *x = ln__ox_in(m, n, 0);
    ox_tensor shape_t = {0};
    int count;
    if (ox_read_ints(m, n, 1, shape_t.shape, LN_ONNX_MAX_DIMS, &count, err) < 0)
        return LN_EFORMAT;
    shape_t.ndim = count;
    ox_tensor *both[2] = {x, &shape_t};
    int64_t s[LN_ONNX_MAX_DIMS];
    int nd;
    for (int d = 0; d < count; d++)
        if (shape_t.shape[d] < 0)
            return ln_error_set(err, LN_EFORMAT, "bad shape");
    if (ox_bc_shape(both, 2, &nd, s, err) < 0)
        return LN_EFORMAT;
    ox_set(ln__ox_out(m, n, 0), x->dtype, nd, s);
    return 0;
}

static int ox_expand_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    ox_tensor *y = ln__ox_out(m, n, 0);
    int64_t st[LN_ONNX_MAX_DIMS];
    if (y->numel == 0)
        return 0;
    ox_bc_strides(x, y->ndim, y->shape, st);
    ox_strided_copy(y, x->data, 0, st);
    return 0;
}

static int ox_range_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *t[3];
    for (int k = 0; k < 3; k++) {
        if (ox_need_known(m, n, k, err) < 0)
            return LN_EFORMAT;
        t[k] = ln__ox_in(m, n, k);
        if (t[k]->numel != 1 || t[k]->dtype != t[0]->dtype)
            return ln_error_set(err, LN_EFORMAT,
                                "start, limit and delta must be scalars of "
                                "one type");
    }
    double v[3];
    for (int k = 0; k < 3; k++)
        v[k] = t[k]->dtype == LN__OX_F32 ? ((const float *)t[k]->data)[0]
                                         : (double)((const int64_t *)t[k]->data)[0];
    if (v[2] == 0.0)
        return ln_error_set(err, LN_EFORMAT, "delta is 0");
    double c = ceil((v[1] - v[0]) / v[2]);
    if (!(c < (double)LN__OX_MAX_DIM))
        return ln_error_set(err, LN_ETOOBIG, "range too long");
    int64_t len = c > 0 ? (int64_t)c : 0;
    ox_set(ln__ox_out(m, n, 0), t[0]->dtype, 1, &len);
    return 0;
}

static int ox_range_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    ox_tensor *y = ln__ox_out(m, n, 0);
    const ox_tensor *s = ln__ox_in(m, n, 0), *d = ln__ox_in(m, n, 2);
    for (size_t i = 0; i < y->numel; i++) {
        if (y->dtype == LN__OX_F32)
            ((float *)y->data)[i] =
                ((const float *)s->data)[0] + (float)i * ((const float *)d->data)[0];
        else
            ((int64_t *)y->data)[i] =
                (int64_t)((uint64_t)((const int64_t *)s->data)[0] +
                          (uint64_t)i * (uint64_t)((const int64_t *)d->data)[0]);
    }
    return 0;
}

/* ---- MatMul, Gemm, Softmax, reductions ---------------------------- */

static int ox_matmul_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    ox_tensor *a = ln__ox_in(m, n, 0), *b = ln__ox_in(m, n, 1);
    if (a->dtype != LN__OX_F32 || b->dtype != LN__OX_F32 || a->ndim < 2 || b->ndim < 2)
        return ln_error_set(err, LN_EFORMAT, "MatMul needs float matrices of 2+ dimensions");
    if (a->shape[a->ndim - 1] != b->shape[b->ndim - 2])
        return ln_error_set(err, LN_EFORMAT, "inner dimensions differ (%lld and %lld)",
                            (long long)a->shape[a->ndim - 1], (long long)b->shape[b->ndim - 2]);
    if (a->shape[a->ndim - 2] > INT_MAX || a->shape[a->ndim - 1] > INT_MAX ||
        b->shape[b->ndim - 1] > INT_MAX)
        return ln_error_set(err, LN_ETOOBIG, "matrices too large");
    ox_tensor ba = *a, bb = *b;
    ba.ndim -= 2;
    bb.ndim -= 2;
    ox_tensor *both[2] = {&ba, &bb};
    int64_t s[LN_ONNX_MAX_DIMS];
    int nd;
    if (ox_bc_shape(both, 2, &nd, s, err) < 0)
        return LN_EFORMAT;
    s[nd] = a->shape[a->ndim - 2];
    s[nd + 1] = b->shape[b->ndim - 1];
    ox_set(ln__ox_out(m, n, 0), LN__OX_F32, nd + 2, s);
    return 0;
}

struct ox_mm_ctx {
    const float *a, *b;
    float *y;
    const ox_tensor *ta, *tb, *ty;
    int64_t sta[LN_ONNX_MAX_DIMS], stb[LN_ONNX_MAX_DIMS];
    int64_t M, N, K;
};

static void ox_mm_body(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ox_mm_ctx *c = ctx;
    int nb = c->ty->ndim - 2;
    for (size_t item = begin; item < end; item++) {
        size_t rem = item;
        int64_t oa = 0, ob = 0;
        for (int d = nb - 1; d >= 0; d--) {
            int64_t i = (int64_t)(rem % (size_t)c->ty->shape[d]);
            rem /= (size_t)c->ty->shape[d];
            oa += i * c->sta[d];
            ob += i * c->stb[d];
        }
        ln__sgemm(CblasNoTrans, CblasNoTrans, (int)c->M, (int)c->N, (int)c->K,
                  1.0f, c->a + oa * c->M * c->K, (int)c->K, c->b + ob * c->K * c->N, (int)c->N,
                  0.0f, c->y + item * (size_t)(c->M * c->N), (int)c->N);
    }
}

static int ox_matmul_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *a = ln__ox_in(m, n, 0), *b = ln__ox_in(m, n, 1);
    ox_tensor *y = ln__ox_out(m, n, 0);
    struct ox_mm_ctx c = {a->data,
                          b->data,
                          y->data,
                          a,
                          b,
                          y,
                          {0},
                          {0},
                          a->shape[a->ndim - 2],
                          b->shape[b->ndim - 1],
                          a->shape[a->ndim - 1]};
    if (y->numel == 0)
        return 0;
    if (c.K == 0) {
        memset(y->data, 0, y->numel * sizeof(float));
        return 0;
    }
    ox_tensor ba = *a, bb = *b;
    ba.ndim -= 2;
    bb.ndim -= 2;
    ox_bc_strides(&ba, y->ndim - 2, y->shape, c.sta);
    ox_bc_strides(&bb, y->ndim - 2, y->shape, c.stb);
    ln__blas_single_thread();
    ln_parallel_for(ox_prod(y->shape, 0, y->ndim - 2), 1, ox_mm_body, &c);
    return 0;
}

static int ox_gemm_load(ox_model *m, ox_node *n, struct ln_error *err)
{
    if (ox_float(n, "alpha", 1.0f, &n->a.alpha, err) < 0 ||
        ox_float(n, "beta", 1.0f, &n->a.beta, err) < 0 ||
        ox_int(n, "transA", 0, &n->a.trans_a, err) < 0 ||
        ox_int(n, "transB", 0, &n->a.trans_b, err) < 0)
        return LN_EFORMAT;
    int64_t bc;
    return ox_int(n, "broadcast", 1, &bc, err);
}

static int ox_gemm_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    ox_tensor *a = ln__ox_in(m, n, 0), *b = ln__ox_in(m, n, 1), *c = ln__ox_in(m, n, 2);
    if (a->ndim != 2 || b->ndim != 2 || a->dtype != LN__OX_F32 || b->dtype != LN__OX_F32)
        return ln_error_set(err, LN_EFORMAT, "Gemm needs float matrices");
    int64_t M = a->shape[n->a.trans_a ? 1 : 0], K = a->shape[n->a.trans_a ? 0 : 1];
    int64_t K2 = b->shape[n->a.trans_b ? 1 : 0], N = b->shape[n->a.trans_b ? 0 : 1];
    if (K != K2)
        return ln_error_set(err, LN_EFORMAT, "inner dimensions differ");
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX)
        return ln_error_set(err, LN_ETOOBIG, "matrices too large");
    int64_t s[2] = {M, N};
    if (c) {
        ox_tensor o = {0};
        o.ndim = 2;
        o.shape[0] = M;
        o.shape[1] = N;
        ox_tensor *both[2] = {&o, c};
        int64_t t[LN_ONNX_MAX_DIMS];
        int nd;
        if (c->dtype != LN__OX_F32 || ox_bc_shape(both, 2, &nd, t, err) < 0 || nd != 2 ||
            t[0] != M || t[1] != N)
            return ln_error_set(err, LN_EFORMAT, "C does not broadcast to %lldx%lld", (long long)M,
                                (long long)N);
    }
    ox_set(ln__ox_out(m, n, 0), LN__OX_F32, 2, s);
    return 0;
}

static int ox_gemm_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *a = ln__ox_in(m, n, 0), *b = ln__ox_in(m, n, 1), *c = ln__ox_in(m, n, 2);
    ox_tensor *y = ln__ox_out(m, n, 0);
    int64_t M = y->shape[0], N = y->shape[1], K = a->shape[n->a.trans_a ? 0 : 1];
    float *out = y->data;
    if (y->numel == 0)
        return 0;
    float beta = 0.0f;
    if (c) {
        int64_t st[LN_ONNX_MAX_DIMS];
        ox_bc_strides(c, 2, y->shape, st);
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++)
                out[i * N + j] = ((const float *)c->data)[i * st[0] + j * st[1]];
        beta = n->a.beta;
    }
    if (K == 0) {
        for (size_t i = 0; i < y->numel; i++)
            out[i] *= beta;
        return 0;
    }
    ln__blas_single_thread();
    ln__sgemm(n->a.trans_a ? CblasTrans : CblasNoTrans,
              n->a.trans_b ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, n->a.alpha,
              a->data, (int)a->shape[1], b->data, (int)b->shape[1], beta, out, (int)N);
    return 0;
}

static int ox_softmax_load(ox_model *m, ox_node *n, struct ln_error *err)
{
    return ox_int(n, "axis", m->opset >= 13 ? -1 : 1, &n->a.axis, err);
}

static int ox_softmax_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    int64_t axis;
    if (x->dtype != LN__OX_F32 || ox_axis(n->a.axis, x->ndim, &axis, err) < 0)
        return LN_EFORMAT;
    ox_set(ln__ox_out(m, n, 0), LN__OX_F32, x->ndim, x->shape);
    return 0;
}

struct ox_sm_ctx {
    const float *x;
    float *y;
    size_t len, inner;
};

static void ox_sm_body(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ox_sm_ctx *c = ctx;
    for (size_t r = begin; r < end; r++) {
        size_t o = r / c->inner, i = r % c->inner;
        const float *x = c->x + o * c->len * c->inner + i;
        float *y = c->y + o * c->len * c->inner + i;
        float mx = -INFINITY;
        for (size_t k = 0; k < c->len; k++)
            mx = x[k * c->inner] > mx ? x[k * c->inner] : mx;
        float s = 0.0f;
        for (size_t k = 0; k < c->len; k++) {
            y[k * c->inner] = expf(x[k * c->inner] - mx);
            s += y[k * c->inner];
        }
        for (size_t k = 0; k < c->len; k++)
            y[k * c->inner] /= s;
    }
}

static int ox_softmax_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    int64_t axis = n->a.axis < 0 ? n->a.axis + x->ndim : n->a.axis;
    if (x->numel == 0)
        return 0;
    /* Before opset 13 the input is flattened to 2-D at axis. */
    size_t len = m->opset >= 13 ? (size_t)x->shape[axis] : ox_prod(x->shape, (int)axis, x->ndim);
    size_t inner = m->opset >= 13 ? ox_prod(x->shape, (int)axis + 1, x->ndim) : 1;
    struct ox_sm_ctx c = {x->data, ln__ox_out(m, n, 0)->data, len, inner};
    ln_parallel_for(x->numel / len, 64, ox_sm_body, &c);
    return 0;
}

static int ox_reduce_load(ox_model *m, ox_node *n, struct ln_error *err)
{
    int64_t noop;
    if (ox_ints(n, "axes", n->a.axes, LN_ONNX_MAX_DIMS, &n->a.naxes, err) < 0 ||
        ox_int(n, "keepdims", 1, &n->a.keepdims, err) < 0 ||
        ox_int(n, "noop_with_empty_axes", 0, &noop, err) < 0)
        return LN_EFORMAT;
    if (noop)
        return ox_bad_attr(n, "noop_with_empty_axes", "must be 0", err);
    return 0;
}

static int ox_reduce_axes(ox_model *m, ox_node *n, int *mark, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    int64_t axes[LN_ONNX_MAX_DIMS];
    int naxes = n->a.naxes;
    memcpy(axes, n->a.axes, sizeof axes);
    if (n->n_in > 1 && n->in[1] >= 0 &&
        ox_read_ints(m, n, 1, axes, LN_ONNX_MAX_DIMS, &naxes, err) < 0)
        return LN_EFORMAT;
    for (int d = 0; d < x->ndim; d++)
        mark[d] = naxes <= 0;
    for (int i = 0; i < naxes; i++) {
        int64_t ax;
        if (ox_axis(axes[i], x->ndim, &ax, err) < 0)
            return LN_EFORMAT;
        mark[ax] = 1;
    }
    return 0;
}

static int ox_reduce_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    int mark[LN_ONNX_MAX_DIMS];
    if (x->dtype != LN__OX_F32)
        return ln_error_set(err, LN_EFORMAT, "the input must be float");
    if (ox_reduce_axes(m, n, mark, err) < 0)
        return LN_EFORMAT;
    int64_t s[LN_ONNX_MAX_DIMS];
    int o = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (mark[d] && x->shape[d] == 0)
            return ln_error_set(err, LN_EFORMAT, "reducing an empty dimension");
        if (!mark[d])
            s[o++] = x->shape[d];
        else if (n->a.keepdims)
            s[o++] = 1;
    }
    ox_set(ln__ox_out(m, n, 0), LN__OX_F32, o, s);
    return 0;
}

static int ox_reduce_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    ox_tensor *y = ln__ox_out(m, n, 0);
    int mark[LN_ONNX_MAX_DIMS];
    if (ox_reduce_axes(m, n, mark, err) < 0)
        return LN_EFORMAT;
    int op = !strcmp(n->op->name, "ReduceMean")  ? 0
             : !strcmp(n->op->name, "ReduceSum") ? 1
             : !strcmp(n->op->name, "ReduceMax") ? 2
                                                 : 3;
    /* Accumulate in the order of the input, in double for the sums. */
    double *acc = ln_alloc_array(y->numel ? y->numel : 1, sizeof *acc, 0, "reduction", err);
    if (!acc)
        return LN_ENOMEM;
    for (size_t i = 0; i < y->numel; i++)
        acc[i] = op == 2 ? -INFINITY : op == 3 ? INFINITY : 0.0;
    int64_t ys[LN_ONNX_MAX_DIMS], st[LN_ONNX_MAX_DIMS], idx[LN_ONNX_MAX_DIMS] = {0};
    /* Output stride per input dimension (0 for a reduced one). */
    int64_t s = 1;
    for (int d = x->ndim - 1; d >= 0; d--) {
        ys[d] = mark[d] ? 1 : x->shape[d];
        st[d] = mark[d] ? 0 : s;
        s *= ys[d];
    }
    const float *xd = x->data;
    size_t off = 0;
    for (size_t i = 0; i < x->numel; i++) {
        double v = xd[i];
        if (op == 2)
            acc[off] = v > acc[off] ? v : acc[off];
        else if (op == 3)
            acc[off] = v < acc[off] ? v : acc[off];
        else
            acc[off] += v;
        for (int d = x->ndim - 1; d >= 0; d--) {
            off += (size_t)st[d];
            if (++idx[d] < x->shape[d])
                break;
            off -= (size_t)(st[d] * x->shape[d]);
            idx[d] = 0;
        }
    }
    double cnt = y->numel ? (double)x->numel / (double)y->numel : 1.0;
    for (size_t i = 0; i < y->numel; i++)
        ((float *)y->data)[i] = (float)(op == 0 ? acc[i] / cnt : acc[i]);
    free(acc);
    return 0;
}

static int ox_pad_load(ox_model *m, ox_node *n, struct ln_error *err)
{
    if (ox_choice(n, "mode", "constant|reflect|edge", 0, &n->a.mode, err) < 0)
        return LN_EFORMAT;
    if (m->opset < 11) {
        int np;
        if (ox_ints(n, "pads", n->a.starts, LN_ONNX_MAX_DIMS, &np, err) < 0)
            return LN_EFORMAT;
        /* pads holds 2 x rank values: use starts and ends. */
        const Onnx__AttributeProto *a = ln__ox_attr(n, "pads");
        if (!a || a->n_ints % 2 || a->n_ints > 2 * LN_ONNX_MAX_DIMS)
            return ox_bad_attr(n, "pads", "must hold 2 values per dimension", err);
        n->a.nstarts = (int)a->n_ints / 2;
        for (int i = 0; i < n->a.nstarts; i++) {
            n->a.starts[i] = a->ints[i];
            n->a.ends[i] = a->ints[i + n->a.nstarts];
        }
        return ox_float(n, "value", 0.0f, &n->a.alpha, err);
    }
    if (ln__ox_attr(n, "pads") || ln__ox_attr(n, "value"))
        return ln_error_set(err, LN_EFORMAT,
                            "Pad node '%.80s': pads and value are inputs since "
                            "opset 11",
                            ln__ox_node_name(n));
    if (n->n_in < 2)
        return ln_error_set(err, LN_EFORMAT, "Pad node '%.80s': needs pads", ln__ox_node_name(n));
    n->a.alpha = 0.0f;
    return 0;
}

static int ox_pad_get(ox_model *m, ox_node *n, int64_t *pb, int64_t *pe, float *value,
                      struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    *value = n->a.alpha;
    int count = n->a.nstarts * 2;
    int64_t p[2 * LN_ONNX_MAX_DIMS];
    if (m->opset < 11) {
        for (int i = 0; i < n->a.nstarts; i++) {
            p[i] = n->a.starts[i];
            p[i + n->a.nstarts] = n->a.ends[i];
        }
    } else {
        if (ox_read_ints(m, n, 1, p, 2 * LN_ONNX_MAX_DIMS, &count, err) < 0)
            return LN_EFORMAT;
        const ox_tensor *v = ln__ox_in(m, n, 2);
        if (v && v->numel == 1 && v->dtype == LN__OX_F32)
            *value = *(const float *)v->data;
        if (n->n_in > 3 && n->in[3] >= 0)
            return ln_error_set(err, LN_EFORMAT, "the axes input is not supported");
    }
    if (count != 2 * x->ndim)
        return ln_error_set(err, LN_EFORMAT, "pads must hold %d values", 2 * x->ndim);
    for (int d = 0; d < x->ndim; d++) {
        pb[d] = p[d];
        pe[d] = p[d + x->ndim];
        if (pb[d] < 0 || pe[d] < 0 || pb[d] > LN__OX_MAX_DIM || pe[d] > LN__OX_MAX_DIM)
            return ln_error_set(err, LN_EFORMAT, "negative or huge pads are not supported");
        if (n->a.mode == 1 && (pb[d] >= x->shape[d] || pe[d] >= x->shape[d]))
            return ln_error_set(err, LN_EFORMAT, "reflect pads must be smaller than the input");
        if (n->a.mode == 2 && x->shape[d] == 0 && (pb[d] || pe[d]))
            return ln_error_set(err, LN_EFORMAT, "edge pads of an empty input");
    }
    return 0;
}

static int ox_pad_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    int64_t pb[LN_ONNX_MAX_DIMS], pe[LN_ONNX_MAX_DIMS], s[LN_ONNX_MAX_DIMS];
    float v;
    if (x->dtype != LN__OX_F32)
        return ln_error_set(err, LN_EFORMAT, "the input must be float");
    if (ox_pad_get(m, n, pb, pe, &v, err) < 0)
        return LN_EFORMAT;
    for (int d = 0; d < x->ndim; d++)
        s[d] = x->shape[d] + pb[d] + pe[d];
    ox_set(ln__ox_out(m, n, 0), LN__OX_F32, x->ndim, s);
    return 0;
}

static int ox_pad_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    ox_tensor *y = ln__ox_out(m, n, 0);
    int64_t pb[LN_ONNX_MAX_DIMS], pe[LN_ONNX_MAX_DIMS], xs[LN_ONNX_MAX_DIMS];
    int64_t idx[LN_ONNX_MAX_DIMS] = {0};
    float v;
    if (ox_pad_get(m, n, pb, pe, &v, err) < 0)
        return LN_EFORMAT;
    ox_strides(x, xs);
    const float *xd = x->data;
    float *yd = y->data;
    for (size_t i = 0; i < y->numel; i++) {
        int64_t off = 0;
        int out = 0;
        for (int d = 0; d < x->ndim; d++) {
            int64_t k = idx[d] - pb[d], dim = x->shape[d];
            if (k < 0 || k >= dim) {
                if (n->a.mode == 0)
                    out = 1;
                else if (n->a.mode == 1)
                    k = k < 0 ? -k : 2 * (dim - 1) - k;
                else
                    k = k < 0 ? 0 : dim - 1;
            }
            off += k * xs[d];
        }
        yd[i] = out ? v : xd[off];
        for (int d = x->ndim - 1; d >= 0; d--) {
            if (++idx[d] < y->shape[d])
                break;
            idx[d] = 0;
        }
    }
    return 0;
}

/* ---- LayerNormalization, Split, Tile --------------------------------- */

static int ox_ln_load(ox_model *m, ox_node *n, struct ln_error *err)
{
    int64_t stash;
    if (ox_int(n, "axis", -1, &n->a.axis, err) < 0 ||
        ox_float(n, "epsilon", 1e-5f, &n->a.eps, err) < 0 ||
        ox_int(n, "stash_type", 1, &stash, err) < 0)
        return LN_EFORMAT;
    return 0;
}

static int ox_ln_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    int64_t axis;
    if (x->dtype != LN__OX_F32 || ox_axis(n->a.axis, x->ndim, &axis, err) < 0)
        return LN_EFORMAT;
    size_t inner = ox_prod(x->shape, (int)axis, x->ndim);
    for (int k = 1; k < 3; k++) {
        const ox_tensor *t = ln__ox_in(m, n, k);
        if (t && (t->dtype != LN__OX_F32 || t->numel != inner))
            return ln_error_set(err, LN_EFORMAT, "input %d must hold %zu floats", k + 1, inner);
    }
    ox_set(ln__ox_out(m, n, 0), LN__OX_F32, x->ndim, x->shape);
    return 0;
}

struct ox_ln_ctx {
    const float *x, *g, *b;
    float *y, eps;
    size_t inner;
};

static void ox_ln_body(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ox_ln_ctx *c = ctx;
    for (size_t r = begin; r < end; r++) {
        const float *x = c->x + r * c->inner;
        float *y = c->y + r * c->inner;
        double mean = 0.0, var = 0.0;
        for (size_t i = 0; i < c->inner; i++)
            mean += x[i];
        mean /= (double)c->inner;
        for (size_t i = 0; i < c->inner; i++)
            var += ((double)x[i] - mean) * ((double)x[i] - mean);
        var /= (double)c->inner;
        float inv = (float)(1.0 / sqrt(var + (double)c->eps)), fm = (float)mean;
        for (size_t i = 0; i < c->inner; i++)
            y[i] = (x[i] - fm) * inv * c->g[i] + (c->b ? c->b[i] : 0.0f);
    }
}

static int ox_ln_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0), *b = ln__ox_in(m, n, 2);
    int64_t axis = n->a.axis < 0 ? n->a.axis + x->ndim : n->a.axis;
    struct ox_ln_ctx c = {x->data,
                          ln__ox_in(m, n, 1)->data,
                          b ? b->data : NULL,
                          ln__ox_out(m, n, 0)->data,
                          n->a.eps,
                          ox_prod(x->shape, (int)axis, x->ndim)};
    if (x->numel == 0 || c.inner == 0)
        return 0;
    ln_parallel_for(x->numel / c.inner, 16, ox_ln_body, &c);
    return 0;
}

static int ox_split_load(ox_model *m, ox_node *n, struct ln_error *err)
{
    int count;
    if (ox_int(n, "axis", 0, &n->a.axis, err) < 0 ||
        ox_int(n, "num_outputs", 0, &n->a.start, err) < 0 ||
        ox_ints(n, "split", n->a.starts, LN_ONNX_MAX_DIMS, &count, err) < 0)
        return LN_EFORMAT;
    n->a.nstarts = count;
    if (count >= 0 && count != n->n_out)
        return ox_bad_attr(n, "split", "must hold one size per output", err);
    if (n->n_out > LN_ONNX_MAX_DIMS)
        return ln_error_set(err, LN_EFORMAT, "Split node '%.80s': more than %d outputs",
                            ln__ox_node_name(n), LN_ONNX_MAX_DIMS);
    return 0;
}

/* The size of each part of Split along its axis. */
static int ox_split_sizes(ox_model *m, ox_node *n, int64_t *sizes, int64_t *axis,
                          struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    if (ox_axis(n->a.axis, x->ndim, axis, err) < 0)
        return LN_EFORMAT;
    int64_t dim = x->shape[*axis], total = 0;
    int count = n->a.nstarts;
    if (n->n_in > 1 && n->in[1] >= 0) {
        if (ox_read_ints(m, n, 1, sizes, LN_ONNX_MAX_DIMS, &count, err) < 0)
            return LN_EFORMAT;
    } else if (count >= 0) {
        memcpy(sizes, n->a.starts, sizeof n->a.starts);
    } else {
        /* Equal parts, the last one smaller when they do not divide. */
        int64_t parts = n->n_out, each = (dim + parts - 1) / parts;
        for (int k = 0; k < parts; k++) {
            sizes[k] = dim - total < each ? dim - total : each;
            total += sizes[k];
        }
        return 0;
    }
    if (count != n->n_out)
        return ln_error_set(err, LN_EFORMAT, "split holds %d sizes for %d outputs", count,
                            n->n_out);
    for (int k = 0; k < count; k++) {
        if (sizes[k] < 0 || sizes[k] > dim)
            return ln_error_set(err, LN_EFORMAT, "bad split size %lld", (long long)sizes[k]);
        total += sizes[k];
    }
    if (total != dim)
        return ln_error_set(err, LN_EFORMAT, "split sizes add up to %lld, not %lld",
                            (long long)total, (long long)dim);
    return 0;
}

static int ox_split_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    int64_t sizes[LN_ONNX_MAX_DIMS], axis, s[LN_ONNX_MAX_DIMS];
    if (ox_split_sizes(m, n, sizes, &axis, err) < 0)
        return LN_EFORMAT;
    for (int k = 0; k < n->n_out; k++) {
        if (n->out[k] < 0)
            continue;
        memcpy(s, x->shape, sizeof s);
        s[axis] = sizes[k];
        ox_set(ln__ox_out(m, n, k), x->dtype, x->ndim, s);
    }
    return 0;
}

static int ox_split_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    int64_t sizes[LN_ONNX_MAX_DIMS], axis;
    if (ox_split_sizes(m, n, sizes, &axis, err) < 0)
        return LN_EFORMAT;
    size_t outer = ox_prod(x->shape, 0, (int)axis);
    size_t inner = ox_prod(x->shape, (int)axis + 1, x->ndim) * ox_esize(x);
    size_t row = (size_t)x->shape[axis] * inner, at = 0;
    for (int k = 0; k < n->n_out; k++) {
        size_t chunk = (size_t)sizes[k] * inner;
        if (n->out[k] >= 0)
            for (size_t o = 0; o < outer && chunk; o++)
                memcpy((uint8_t *)ln__ox_out(m, n, k)->data + o * chunk,
                       (const uint8_t *)x->data + o * row + at, chunk);
        at += chunk;
    }
    return 0;
}

static int ox_tile_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    int64_t r[LN_ONNX_MAX_DIMS], s[LN_ONNX_MAX_DIMS];
    int count;
    if (ox_read_ints(m, n, 1, r, LN_ONNX_MAX_DIMS, &count, err) < 0)
        return LN_EFORMAT;
    if (count != x->ndim)
        return ln_error_set(err, LN_EFORMAT, "repeats must hold %d values", x->ndim);
    for (int d = 0; d < x->ndim; d++) {
        if (r[d] < 0 || r[d] > LN__OX_MAX_DIM || x->shape[d] * r[d] > LN__OX_MAX_DIM)
            return ln_error_set(err, LN_EFORMAT, "bad repeat %lld", (long long)r[d]);
        s[d] = x->shape[d] * r[d];
    }
    ox_set(ln__ox_out(m, n, 0), x->dtype, x->ndim, s);
    return 0;
}

static int ox_tile_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    ox_tensor *y = ln__ox_out(m, n, 0);
    int64_t xs[LN_ONNX_MAX_DIMS], idx[LN_ONNX_MAX_DIMS] = {0};
    size_t es = ox_esize(x);
    ox_strides(x, xs);
    for (size_t i = 0; i < y->numel; i++) {
        int64_t off = 0;
        for (int d = 0; d < x->ndim; d++)
            off += idx[d] % x->shape[d] * xs[d];
        memcpy((uint8_t *)y->data + i * es, (const uint8_t *)x->data + (size_t)off * es, es);
        for (int d = x->ndim - 1; d >= 0; d--) {
            if (++idx[d] < y->shape[d])
                break;
            idx[d] = 0;
        }
    }
    return 0;
}

/* ---- ScatterND, InstanceNormalization -------------------------------- */

static int ox_scatter_load(ox_model *m, ox_node *n, struct ln_error *err)
{
    return ox_choice(n, "reduction", "none|add|mul|max|min", 0, &n->a.mode, err);
}

static int ox_scatter_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0), *idx = ln__ox_in(m, n, 1), *upd = ln__ox_in(m, n, 2);
    if (idx->dtype != LN__OX_I64 || idx->ndim < 1 || upd->dtype != x->dtype)
        return ln_error_set(err, LN_EFORMAT,
                            "indices must be integers, updates of the data's type");
    int64_t k = idx->shape[idx->ndim - 1];
    if (k < 1 || k > x->ndim || upd->ndim != idx->ndim - 1 + x->ndim - (int)k)
        return ln_error_set(err, LN_EFORMAT, "indices and updates do not fit the data");
    for (int d = 0; d < idx->ndim - 1; d++)
        if (upd->shape[d] != idx->shape[d])
            return ln_error_set(err, LN_EFORMAT, "updates do not fit the indices");
    for (int d = (int)k; d < x->ndim; d++)
        if (upd->shape[idx->ndim - 1 + d - k] != x->shape[d])
            return ln_error_set(err, LN_EFORMAT, "updates do not fit the data");
    ox_set(ln__ox_out(m, n, 0), x->dtype, x->ndim, x->shape);
    return 0;
}

static int ox_scatter_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0), *idx = ln__ox_in(m, n, 1), *upd = ln__ox_in(m, n, 2);
    ox_tensor *y = ln__ox_out(m, n, 0);
    size_t es = ox_esize(x);
    if (x->numel)
        memcpy(y->data, x->data, x->numel * es);
    int k = (int)idx->shape[idx->ndim - 1];
    size_t slice = ox_prod(x->shape, k, x->ndim), n_idx = idx->numel / (size_t)k;
    const int64_t *ix = idx->data;
    int64_t xs[LN_ONNX_MAX_DIMS];
    ox_strides(x, xs);
    for (size_t i = 0; i < n_idx && slice; i++) {
        int64_t off = 0;
        for (int d = 0; d < k; d++) {
            int64_t v = ix[i * (size_t)k + (size_t)d], dim = x->shape[d];
            if (v < 0)
                v += dim;
            if (v < 0 || v >= dim)
                return ln_error_set(err, LN_EFORMAT, "index %lld out of range (%lld)",
                                    (long long)ix[i * (size_t)k + (size_t)d], (long long)dim);
            off += v * xs[d];
        }
        for (size_t j = 0; j < slice; j++) {
            size_t to = (size_t)off + j, from = i * slice + j;
            if (x->dtype == LN__OX_F32) {
                float *o = (float *)y->data + to, u = ((const float *)upd->data)[from];
                switch (n->a.mode) {
                case 1:
                    *o += u;
                    break;
                case 2:
                    *o *= u;
                    break;
                case 3:
                    *o = fmaxf(*o, u);
                    break;
                case 4:
                    *o = fminf(*o, u);
                    break;
                default:
                    *o = u;
                    break;
                }
            } else {
                int64_t *o = (int64_t *)y->data + to, u = ((const int64_t *)upd->data)[from];
                switch (n->a.mode) {
                case 1:
                    *o = (int64_t)((uint64_t)*o + (uint64_t)u);
                    break;
                case 2:
                    *o = (int64_t)((uint64_t)*o * (uint64_t)u);
                    break;
                case 3:
                    *o = *o > u ? *o : u;
                    break;
                case 4:
                    *o = *o < u ? *o : u;
                    break;
                default:
                    *o = u;
                    break;
                }
            }
        }
    }
    return 0;
}

static int ox_in_load(ox_model *m, ox_node *n, struct ln_error *err)
{
    return ox_float(n, "epsilon", 1e-5f, &n->a.eps, err);
}

static int ox_in_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    if (x->ndim < 3 || x->dtype != LN__OX_F32)
        return ln_error_set(err, LN_EFORMAT, "the input must be a float tensor of 3+ dimensions");
    for (int k = 1; k < 3; k++) {
        const ox_tensor *t = ln__ox_in(m, n, k);
        if (t->numel != (size_t)x->shape[1] || t->dtype != LN__OX_F32)
            return ln_error_set(err, LN_EFORMAT, "input %d must hold %lld floats", k + 1,
                                (long long)x->shape[1]);
    }
    ox_set(ln__ox_out(m, n, 0), LN__OX_F32, x->ndim, x->shape);
    return 0;
}

struct ox_in_ctx {
    const float *x, *g, *b;
    float *y, eps;
    size_t C, inner;
};

static void ox_in_body(void *ctx, size_t begin, size_t end, int thread)
{
    const struct ox_in_ctx *c = ctx;
    for (size_t pl = begin; pl < end; pl++) {
        const float *x = c->x + pl * c->inner;
        float *y = c->y + pl * c->inner;
        size_t ch = pl % c->C;
        double mean = 0.0, var = 0.0;
        for (size_t i = 0; i < c->inner; i++)
            mean += x[i];
        mean /= (double)c->inner;
        for (size_t i = 0; i < c->inner; i++)
            var += ((double)x[i] - mean) * ((double)x[i] - mean);
        var /= (double)c->inner;
        float s = (float)(c->g[ch] / sqrt(var + (double)c->eps));
        float b = (float)(c->b[ch] - mean * s);
        for (size_t i = 0; i < c->inner; i++)
            y[i] = x[i] * s + b;
    }
}

static int ox_in_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0);
    struct ox_in_ctx c = {
        x->data,  ln__ox_in(m, n, 1)->data, ln__ox_in(m, n, 2)->data,     ln__ox_out(m, n, 0)->data,
        n->a.eps, (size_t)x->shape[1],      ox_prod(x->shape, 2, x->ndim)};
    if (x->numel == 0)
        return 0;
    ln_parallel_for((size_t)x->shape[0] * c.C, 1, ox_in_body, &c);
    return 0;
}

/* ---- Sum, GatherND, GatherElements ------------------------------------ */

static int ox_sum_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    ox_tensor *in[LN__OX_MAX_NODE_IO];
    for (int k = 0; k < n->n_in; k++) {
        in[k] = ln__ox_in(m, n, k);
        if (!in[k] || in[k]->dtype != LN__OX_F32)
            return ln_error_set(err, LN_EFORMAT, "input %d must be a float tensor", k + 1);
    }
    int64_t s[LN_ONNX_MAX_DIMS];
    int nd;
    if (ox_bc_shape(in, n->n_in, &nd, s, err) < 0)
        return LN_EFORMAT;
    ox_set(ln__ox_out(m, n, 0), LN__OX_F32, nd, s);
    return 0;
}

static int ox_sum_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    ox_tensor *y = ln__ox_out(m, n, 0);
    int64_t st[LN_ONNX_MAX_DIMS];
    if (y->numel == 0)
        return 0;
    const ox_tensor *x0 = ln__ox_in(m, n, 0);
    ox_bc_strides(x0, y->ndim, y->shape, st);
    ox_strided_copy(y, x0->data, 0, st);
    /* Then y += each other input, in input order, with Add's loop. */
    for (int k = 1; k < n->n_in; k++) {
        struct ox_bc c;
        memset(&c, 0, sizeof c);
        c.op = OX_ADD;
        c.n_in = 2;
        c.ndim = y->ndim;
        memcpy(c.shape, y->shape, sizeof c.shape);
        ox_bc_strides(y, c.ndim, c.shape, c.st[0]);
        ox_bc_strides(ln__ox_in(m, n, k), c.ndim, c.shape, c.st[1]);
        c.in[0] = y->data;
        c.in[1] = ln__ox_in(m, n, k)->data;
        c.dt[0] = c.dt[1] = c.odt = LN__OX_F32;
        c.out = y->data;
        c.cols = c.ndim ? (size_t)c.shape[c.ndim - 1] : 1;
        c.rows = y->numel / c.cols;
        c.grain = LN__OX_GRAIN / c.cols + 1;
        ln_parallel_for(c.rows, c.grain, ox_bc_body, &c);
    }
    return 0;
}

static int ox_gnd_load(ox_model *m, ox_node *n, struct ln_error *err)
{
    if (ox_int(n, "batch_dims", 0, &n->a.start, err) < 0)
        return LN_EFORMAT;
    if (n->a.start < 0 || n->a.start >= LN_ONNX_MAX_DIMS)
        return ox_bad_attr(n, "batch_dims", "is out of range", err);
    return 0;
}

static int ox_gnd_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0), *idx = ln__ox_in(m, n, 1);
    int b = (int)n->a.start;
    if (idx->dtype != LN__OX_I64 || idx->ndim < 1)
        return ln_error_set(err, LN_EFORMAT, "indices must be integers");
    int64_t k = idx->shape[idx->ndim - 1];
    if (b >= idx->ndim || b >= x->ndim || k < 1 || b + k > x->ndim)
        return ln_error_set(err, LN_EFORMAT, "indices do not fit the data");
    for (int d = 0; d < b; d++)
        if (idx->shape[d] != x->shape[d])
            return ln_error_set(err, LN_EFORMAT, "batch dimensions differ");
    int nd = idx->ndim - 1 + x->ndim - b - (int)k;
    if (nd > LN_ONNX_MAX_DIMS)
        return ln_error_set(err, LN_EFORMAT, "too many dimensions");
    int64_t s[LN_ONNX_MAX_DIMS];
    int o = 0;
    for (int d = 0; d < idx->ndim - 1; d++)
        s[o++] = idx->shape[d];
    for (int d = b + (int)k; d < x->ndim; d++)
        s[o++] = x->shape[d];
    ox_set(ln__ox_out(m, n, 0), x->dtype, o, s);
    return 0;
}

static int ox_gnd_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0), *idx = ln__ox_in(m, n, 1);
    ox_tensor *y = ln__ox_out(m, n, 0);
    int b = (int)n->a.start, k = (int)idx->shape[idx->ndim - 1];
    size_t es = ox_esize(x);
    size_t batches = ox_prod(x->shape, 0, b);
    size_t per_batch = batches ? idx->numel / (size_t)k / batches : 0;
    size_t slice = ox_prod(x->shape, b + k, x->ndim) * es;
    size_t x_batch = ox_prod(x->shape, b, x->ndim) * es;
    int64_t xs[LN_ONNX_MAX_DIMS];
    ox_strides(x, xs);
    const int64_t *ix = idx->data;
    uint8_t *out = y->data;
    for (size_t bi = 0; bi < batches; bi++)
        for (size_t i = 0; i < per_batch; i++, ix += k) {
            int64_t off = 0;
            for (int d = 0; d < k; d++) {
                int64_t v = ix[d], dim = x->shape[b + d];
                if (v < 0)
                    v += dim;
                if (v < 0 || v >= dim)
                    return ln_error_set(err, LN_EFORMAT, "index %lld out of range (%lld)",
                                        (long long)ix[d], (long long)dim);
                off += v * xs[b + d];
            }
            if (slice)
                memcpy(out, (const uint8_t *)x->data + bi * x_batch + (size_t)off * es, slice);
            out += slice;
        }
    return 0;
}

static int ox_ge_load(ox_model *m, ox_node *n, struct ln_error *err)
{
    return ox_int(n, "axis", 0, &n->a.axis, err);
}

static int ox_ge_infer(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0), *idx = ln__ox_in(m, n, 1);
    int64_t axis;
    if (ox_axis(n->a.axis, x->ndim, &axis, err) < 0)
        return LN_EFORMAT;
    if (idx->dtype != LN__OX_I64 || idx->ndim != x->ndim)
        return ln_error_set(err, LN_EFORMAT, "indices must be integers of the data's rank");
    for (int d = 0; d < x->ndim; d++)
        if (d != axis && idx->shape[d] > x->shape[d])
            return ln_error_set(err, LN_EFORMAT, "indices larger than the data in dimension %d", d);
    ox_set(ln__ox_out(m, n, 0), x->dtype, idx->ndim, idx->shape);
    return 0;
}

static int ox_ge_exec(ox_model *m, ox_node *n, struct ln_error *err)
{
    const ox_tensor *x = ln__ox_in(m, n, 0), *idx = ln__ox_in(m, n, 1);
    ox_tensor *y = ln__ox_out(m, n, 0);
    int64_t axis = n->a.axis < 0 ? n->a.axis + x->ndim : n->a.axis;
    int64_t xs[LN_ONNX_MAX_DIMS], pos[LN_ONNX_MAX_DIMS] = {0};
    size_t es = ox_esize(x);
    ox_strides(x, xs);
    const int64_t *ix = idx->data;
    for (size_t i = 0; i < y->numel; i++) {
        int64_t v = ix[i], dim = x->shape[axis], off = 0;
        if (v < 0)
            v += dim;
        if (v < 0 || v >= dim)
            return ln_error_set(err, LN_EFORMAT, "index %lld out of range (%lld)", (long long)ix[i],
                                (long long)dim);
        for (int d = 0; d < x->ndim; d++)
            off += (d == axis ? v : pos[d]) * xs[d];
        memcpy((uint8_t *)y->data + i * es, (const uint8_t *)x->data + (size_t)off * es, es);
        for (int d = y->ndim - 1; d >= 0; d--) {
            if (++pos[d] < y->shape[d])
                break;
            pos[d] = 0;
        }
    }
    return 0;
}

/* ---- the table -------------------------------------------------------- */

#define OX_CONV_ATTRS "auto_pad,dilations,group,kernel_shape,pads,strides"
#define OX_POOL_ATTRS "auto_pad,ceil_mode,dilations,kernel_shape,pads,strides"
#define OX_EW(name)                                                                                \
    {                                                                                              \
        name, "", 2, 2, 1, 0, 0, NULL, ox_ew_infer, NULL, ox_ew_exec                               \
    }
#define OX_UN(name, attrs, max_in)                                                                 \
    {                                                                                              \
        name, attrs, 1, max_in, 1, 0, 0, ox_un_load, ox_un_infer, NULL, ox_un_exec                 \
    }

static const struct ln__ox_op ox_ops[] = {
    {"Conv", OX_CONV_ATTRS, 2, 3, 1, 0, 0, ox_conv_load, ox_conv_infer, ox_conv_scratch,
     ox_conv_exec},
    {"ConvTranspose", OX_CONV_ATTRS ",output_padding", 2, 3, 1, 0, 0, ox_conv_load, ox_conv_infer,
     ox_conv_scratch, ox_conv_exec},
    {"BatchNormalization", "epsilon,momentum,spatial,training_mode", 5, 5, 1, 0, 0, ox_bn_load,
     ox_bn_infer, NULL, ox_bn_exec},
    {"MaxPool", OX_POOL_ATTRS ",storage_order", 1, 1, 1, 0, 0, ox_pool_load, ox_pool_infer, NULL,
     ox_pool_exec},
    {"AveragePool", OX_POOL_ATTRS ",count_include_pad", 1, 1, 1, 0, 0, ox_pool_load, ox_pool_infer,
     NULL, ox_pool_exec},
    {"GlobalAveragePool", "", 1, 1, 1, 0, 0, ox_pool_load, ox_pool_infer, NULL, ox_pool_exec},
    {"GlobalMaxPool", "", 1, 1, 1, 0, 0, ox_pool_load, ox_pool_infer, NULL, ox_pool_exec},
    {"Resize",
     "mode,coordinate_transformation_mode,nearest_mode,cubic_coeff_a,exclude_outside,"
     "extrapolation_value,antialias,keep_aspect_ratio_policy",
     1, 4, 1, 0, 0, ox_resize_load, ox_resize_infer, NULL, ox_resize_exec},
    {"Upsample", "mode,scales", 1, 2, 1, 0, 0, ox_resize_load, ox_resize_infer, NULL,
     ox_resize_exec},
    {"Concat", "axis", 1, LN__OX_MAX_NODE_IO, 1, 0, 0, ox_concat_load, ox_concat_infer, NULL,
     ox_concat_exec},
    OX_EW("Add"),
    OX_EW("Sub"),
    OX_EW("Mul"),
    OX_EW("Div"),
    OX_EW("Pow"),
    OX_EW("Equal"),
    OX_EW("Less"),
    OX_EW("Greater"),
    OX_EW("Min"),
    OX_EW("Max"),
    OX_EW("And"),
    OX_EW("Or"),
    OX_EW("GreaterOrEqual"),
    OX_EW("LessOrEqual"),
    {"Where", "", 3, 3, 1, 0, 0, NULL, ox_ew_infer, NULL, ox_ew_exec},
    OX_UN("Relu", "", 1),
    OX_UN("Sigmoid", "", 1),
    OX_UN("Tanh", "", 1),
    OX_UN("Exp", "", 1),
    OX_UN("Log", "", 1),
    OX_UN("Sqrt", "", 1),
    OX_UN("Neg", "", 1),
    OX_UN("Abs", "", 1),
    OX_UN("Erf", "", 1),
    OX_UN("Reciprocal", "", 1),
    OX_UN("Floor", "", 1),
    OX_UN("Ceil", "", 1),
    OX_UN("LeakyRelu", "alpha", 1),
    OX_UN("Clip", "min,max", 3),
    OX_UN("Not", "", 1),
    OX_UN("HardSigmoid", "alpha,beta", 1),
    OX_UN("Softplus", "", 1),
    {"Identity", "", 1, 1, 1, 0, 0, NULL, ox_identity_infer, NULL, ox_copy_exec},
    {"Dropout", "ratio,seed,training_mode", 1, 3, 1, 0, 0, ox_un_load, ox_un_infer, NULL,
     ox_copy_exec},
    {"Reshape", "allowzero", 2, 2, 1, 0, 0, ox_reshape_load, ox_reshape_infer, NULL, ox_copy_exec},
    {"Flatten", "axis", 1, 1, 1, 0, 0, ox_flatten_load, ox_flatten_infer, NULL, ox_copy_exec},
    {"Squeeze", "axes", 1, 2, 1, 0, 0, ox_squeeze_load, ox_squeeze_infer, NULL, ox_copy_exec},
    {"Unsqueeze", "axes", 1, 2, 1, 0, 0, ox_squeeze_load, ox_squeeze_infer, NULL, ox_copy_exec},
    {"Transpose", "perm", 1, 1, 1, 0, 0, ox_transpose_load, ox_transpose_infer, NULL,
     ox_transpose_exec},
    {"Slice", "starts,ends,axes", 1, 5, 1, 0, 0, ox_slice_load, ox_slice_infer, NULL,
     ox_slice_exec},
    {"Gather", "axis", 2, 2, 1, 0, 0, ox_gather_load, ox_gather_infer, NULL, ox_gather_exec},
    {"Shape", "start,end", 1, 1, 1, 1, 0, ox_shape_load, ox_shape_infer, NULL, ox_shape_exec},
    {"Constant", "value,value_float,value_floats,value_int,value_ints", 0, 0, 1, 0, 1,
     ox_constant_load, ox_none_infer, NULL, NULL},
    {"Cast", "to,saturate", 1, 1, 1, 0, 0, ox_cast_load, ox_cast_infer, NULL, ox_cast_exec},
    {"ConstantOfShape", "value", 1, 1, 1, 0, 0, ox_cos_load, ox_cos_infer, NULL, ox_cos_exec},
    {"Expand", "", 2, 2, 1, 0, 0, NULL, ox_expand_infer, NULL, ox_expand_exec},
    {"Range", "", 3, 3, 1, 0, 0, NULL, ox_range_infer, NULL, ox_range_exec},
    {"MatMul", "", 2, 2, 1, 0, 0, NULL, ox_matmul_infer, NULL, ox_matmul_exec},
    {"Gemm", "alpha,beta,transA,transB,broadcast", 2, 3, 1, 0, 0, ox_gemm_load, ox_gemm_infer, NULL,
     ox_gemm_exec},
    {"Softmax", "axis", 1, 1, 1, 0, 0, ox_softmax_load, ox_softmax_infer, NULL, ox_softmax_exec},
    {"ReduceMean", "axes,keepdims,noop_with_empty_axes", 1, 2, 1, 0, 0, ox_reduce_load,
     ox_reduce_infer, NULL, ox_reduce_exec},
    {"ReduceSum", "axes,keepdims,noop_with_empty_axes", 1, 2, 1, 0, 0, ox_reduce_load,
     ox_reduce_infer, NULL, ox_reduce_exec},
    {"ReduceMax", "axes,keepdims,noop_with_empty_axes", 1, 2, 1, 0, 0, ox_reduce_load,
     ox_reduce_infer, NULL, ox_reduce_exec},
    {"ReduceMin", "axes,keepdims,noop_with_empty_axes", 1, 2, 1, 0, 0, ox_reduce_load,
     ox_reduce_infer, NULL, ox_reduce_exec},
    {"Pad", "mode,pads,value", 1, 4, 1, 0, 0, ox_pad_load, ox_pad_infer, NULL, ox_pad_exec},
    OX_UN("Gelu", "approximate", 1),
    {"LayerNormalization", "axis,epsilon,stash_type", 2, 3, 1, 0, 0, ox_ln_load, ox_ln_infer, NULL,
     ox_ln_exec},
    {"Split", "axis,num_outputs,split", 1, 2, LN_ONNX_MAX_DIMS, 0, 0, ox_split_load, ox_split_infer,
     NULL, ox_split_exec},
    {"Tile", "", 2, 2, 1, 0, 0, NULL, ox_tile_infer, NULL, ox_tile_exec},
    {"ScatterND", "reduction", 3, 3, 1, 0, 0, ox_scatter_load, ox_scatter_infer, NULL,
     ox_scatter_exec},
    {"Sum", "", 1, LN__OX_MAX_NODE_IO, 1, 0, 0, NULL, ox_sum_infer, NULL, ox_sum_exec},
    {"GatherND", "batch_dims", 2, 2, 1, 0, 0, ox_gnd_load, ox_gnd_infer, NULL, ox_gnd_exec},
    {"GatherElements", "axis", 2, 2, 1, 0, 0, ox_ge_load, ox_ge_infer, NULL, ox_ge_exec},
    {"InstanceNormalization", "epsilon", 3, 3, 1, 0, 0, ox_in_load, ox_in_infer, NULL, ox_in_exec},
};

const struct ln__ox_op *ln__ox_find_op(const char *op_type)
{
    for (size_t i = 0; i < sizeof ox_ops / sizeof ox_ops[0]; i++)
        if (!strcmp(ox_ops[i].name, op_type))
            return &ox_ops[i];
    return NULL;
}
