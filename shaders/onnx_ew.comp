/*
 * The element-wise ONNX operators of the matting networks on the GPU
 * (src/nn/ln_onnx_ops.c: ox_un_body, ox_ew_exec, ox_bn_body, ox_concat_exec,
 * ox_copy_exec), one element per invocation, op chosen by a push constant:
 * Relu, Sigmoid, Add/Sub/Mul/Div of same-shaped operands or of a single
 * value, BatchNormalization as the per-channel scale and shift the host
 * computed from its four inputs as the CPU form does, and a block copy
 * (Concat's pieces, Reshape and its kin). Operands live in the activations
 * or, for constants, in the weights (a_w, b_w).
 */
#version 450

layout(local_size_x = 64) in;

layout(std430, set = 0, binding = 0) buffer Act { float act[]; };
layout(std430, set = 0, binding = 1) readonly buffer Wts { float wts[]; };

#define OP_RELU 0u
#define OP_SIGMOID 1u
#define OP_ADD 2u
#define OP_SUB 3u
#define OP_MUL 4u
#define OP_DIV 5u
#define OP_AFFINE 6u
#define OP_COPY 7u

layout(push_constant) uniform Push {
    uint op;
    uint a_off, a_w; /* first operand, in the weights when a_w */
    uint b_off, b_w; /* second operand (binary ops; AFFINE: scale[C] then shift[C]) */
    uint b_one;      /* the second operand is a single value */
    uint y_off;
    uint C, inner;   /* AFFINE: channel of element i is (i / inner) % C */
    uint chunk, row; /* COPY: element i goes to (i / chunk) * row + i % chunk */
    uint total;
} p;

float ld(uint w, uint i)
{
    return w != 0u ? wts[i] : act[i];
}

void main()
{
    const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 64u;
    if (i >= p.total)
        return;
    const float a = ld(p.a_w, p.a_off + i);
    if (p.op == OP_COPY) {
        act[p.y_off + (i / p.chunk) * p.row + i % p.chunk] = a;
        return;
    }
    float y;
    if (p.op == OP_RELU) {
        y = a > 0.0 ? a : 0.0;
    } else if (p.op == OP_SIGMOID) {
        y = 1.0 / (1.0 + exp(-a));
    } else if (p.op == OP_AFFINE) {
        const uint c = (i / p.inner) % p.C;
        y = a * wts[p.b_off + c] + wts[p.b_off + p.C + c];
    } else {
        const float b = ld(p.b_w, p.b_off + (p.b_one != 0u ? 0u : i));
        if (p.op == OP_ADD)
            y = a + b;
        else if (p.op == OP_SUB)
            y = a - b;
        else if (p.op == OP_MUL)
            y = a * b;
        else
            y = a / b;
    }
    act[p.y_off + i] = y;
}
