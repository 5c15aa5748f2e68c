/*
 * The N-d element-wise ONNX operators on the GPU (src/nn/ln_onnx_ops.c:
 * ox_bc_body, ox_un_body, ox_transpose_exec, ox_slice_exec, ox_gather_exec,
 * ox_expand_exec), one output element per invocation, op chosen by a push
 * constant. The output is contiguous, of up to 6 dimensions (the host
 * merges the dimensions it can); each operand is read at its own offset
 * plus the output index's coordinates times its strides, so one kernel
 * does numpy broadcasting (stride 0), Transpose (permuted strides), Slice
 * (stepped strides, negative too), Gather of one index (a shifted offset)
 * and Expand. Operands live in the activations or, for constants, in the
 * weights (a_w, b_w).
 */
#version 450

layout(local_size_x = 64) in;

layout(std430, set = 0, binding = 0) buffer Act { float act[]; };
layout(std430, set = 0, binding = 1) readonly buffer Wts { float wts[]; };

#define OP_COPY 0u
#define OP_ADD 1u
#define OP_SUB 2u
#define OP_MUL 3u
#define OP_DIV 4u
#define OP_POW 5u
#define OP_MIN 6u
#define OP_MAX 7u
#define OP_ERF 8u
#define OP_GELU 9u
#define OP_GELU_TANH 10u
#define OP_SQRT 11u
#define OP_EXP 12u
#define OP_TANH 13u
#define OP_NEG 14u
#define OP_ABS 15u
#define OP_RECIP 16u
#define OP_LOG 17u
#define OP_RELU 18u
#define OP_SIGMOID 19u

#define ND 6

layout(push_constant) uniform Push {
    uint op;
    uint a_off, a_w;
    uint b_off, b_w; /* binary ops only */
    uint y_off;
    uint nd, total;
    uint shape[ND]; /* the output's, outermost first */
    int sa[ND];     /* element strides of a per output dimension */
    int sb[ND];
} p;

float ld(uint w, uint i)
{
    return w != 0u ? wts[i] : act[i];
}

/* erf(x) to about 1.2e-7 (the Chebyshev fit of erfc in Press et al.,
 * Numerical Recipes, section 6.2). */
float erf_(float x)
{
    const float z = abs(x);
    const float t = 1.0 / (1.0 + 0.5 * z);
    const float r =
        t * exp(-z * z - 1.26551223 +
                t * (1.00002368 +
                     t * (0.37409196 +
                          t * (0.09678418 +
                               t * (-0.18628806 +
                                    t * (0.27886807 +
                                         t * (-1.13520398 +
                                              t * (1.48851587 +
                                                   t * (-0.82215223 + t * 0.17087277)))))))));
    return x >= 0.0 ? 1.0 - r : r - 1.0;
}

float pow_(float a, float b)
{
    /* The common exponents exactly; negative bases with integer ones. */
    if (b == 2.0)
        return a * a;
    if (b == 1.0)
        return a;
    if (b == 0.5)
        return sqrt(a);
    if (b == 0.0)
        return 1.0;
    if (b == floor(b)) {
        /* pow() is undefined for a < 0: |a|^b with the sign of an odd b. */
        if (a == 0.0)
            return b < 0.0 ? 1.0 / 0.0 : 0.0;
        const float r = exp2(b * log2(abs(a)));
        return a < 0.0 && mod(b, 2.0) != 0.0 ? -r : r;
    }
    return pow(a, b); /* undefined in GLSL for a < 0 (powf: NaN) */
}

void main()
{
    const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 64u;
    if (i >= p.total)
        return;
    int ao = 0, bo = 0;
    uint rem = i;
    for (int d = int(p.nd) - 1; d >= 0; d--) {
        const uint c = rem % p.shape[d];
        rem /= p.shape[d];
        ao += int(c) * p.sa[d];
        bo += int(c) * p.sb[d];
    }
    const float a = ld(p.a_w, uint(int(p.a_off) + ao));
    float y;
    if (p.op == OP_COPY) {
        y = a;
    } else if (p.op <= OP_MAX) {
        const float b = ld(p.b_w, uint(int(p.b_off) + bo));
        if (p.op == OP_ADD)
            y = a + b;
        else if (p.op == OP_SUB)
            y = a - b;
        else if (p.op == OP_MUL)
            y = a * b;
        else if (p.op == OP_DIV)
            y = a / b;
        else if (p.op == OP_POW)
            y = pow_(a, b);
        else if (p.op == OP_MIN)
            y = min(a, b);
        else
            y = max(a, b);
    } else if (p.op == OP_ERF) {
        y = erf_(a);
    } else if (p.op == OP_GELU) {
        y = 0.5 * a * (1.0 + erf_(a * 0.70710678118654752));
    } else if (p.op == OP_GELU_TANH) {
        y = 0.5 * a * (1.0 + tanh(0.79788456080286536 * (a + 0.044715 * a * a * a)));
    } else if (p.op == OP_SQRT) {
        y = sqrt(a);
    } else if (p.op == OP_EXP) {
        y = exp(a);
    } else if (p.op == OP_TANH) {
        /* tanh() of large |a| overflows on some drivers (exp inside). */
        y = abs(a) > 10.0 ? sign(a) : tanh(a);
    } else if (p.op == OP_NEG) {
        y = -a;
    } else if (p.op == OP_ABS) {
        y = abs(a);
    } else if (p.op == OP_RECIP) {
        y = 1.0 / a;
    } else if (p.op == OP_LOG) {
        y = log(a);
    } else if (p.op == OP_RELU) {
        y = a > 0.0 ? a : 0.0;
    } else {
        y = 1.0 / (1.0 + exp(-a));
    }
    act[p.y_off + i] = y;
}
