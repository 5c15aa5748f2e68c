/*
 * The ONNX operators that reduce along one axis, on the GPU
 * (src/nn/ln_onnx_ops.c: ox_sm_body, ox_ln_body, ox_reduce_exec): the
 * input seen as outer x len x inner, one invocation per (outer, inner)
 * row of len elements `inner` apart.
 * Softmax (max first, then the exponentials and their sum, as the CPU
 * form), LayerNormalization over the trailing len elements (inner 1; the
 * mean and the variance in two passes, scale and bias per element from
 * the weights) and ReduceMean / ReduceSum / ReduceMax / ReduceMin over a
 * run of adjacent axes (one value per row).
 */
#version 450

layout(local_size_x = 64) in;

layout(std430, set = 0, binding = 0) buffer Act { float act[]; };
layout(std430, set = 0, binding = 1) readonly buffer Wts { float wts[]; };

#define OP_SOFTMAX 0u
#define OP_LAYERNORM 1u
#define OP_MEAN 2u
#define OP_SUM 3u
#define OP_MAX 4u
#define OP_MIN 5u

layout(push_constant) uniform Push {
    uint op;
    uint x_off, x_w, y_off;
    uint len, inner, rows;
    uint g_off;  /* LAYERNORM: scale[len] in the weights */
    int b_off;   /* LAYERNORM: bias[len] in the weights, -1: none */
    float eps;
} p;

float ld(uint i)
{
    return p.x_w != 0u ? wts[i] : act[i];
}

void main()
{
    const uint r = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 64u;
    if (r >= p.rows)
        return;
    const uint o = r / p.inner, in_ = r % p.inner;
    const uint x0 = p.x_off + o * p.len * p.inner + in_;
    const uint y0 = p.y_off + o * p.len * p.inner + in_;
    if (p.op == OP_SOFTMAX) {
        float mx = -1.0 / 0.0;
        for (uint k = 0u; k < p.len; k++)
            mx = max(mx, ld(x0 + k * p.inner));
        float s = 0.0;
        for (uint k = 0u; k < p.len; k++) {
            const float e = exp(ld(x0 + k * p.inner) - mx);
            act[y0 + k * p.inner] = e;
            s += e;
        }
        for (uint k = 0u; k < p.len; k++)
            act[y0 + k * p.inner] /= s;
    } else if (p.op == OP_LAYERNORM) {
        float mean = 0.0;
        for (uint k = 0u; k < p.len; k++)
            mean += ld(x0 + k);
        mean /= float(p.len);
        float var = 0.0;
        for (uint k = 0u; k < p.len; k++) {
            const float d = ld(x0 + k) - mean;
            var += d * d;
        }
        var /= float(p.len);
        const float inv = 1.0 / sqrt(var + p.eps);
        for (uint k = 0u; k < p.len; k++) {
            const float b = p.b_off >= 0 ? wts[uint(p.b_off) + k] : 0.0;
            act[y0 + k] = (ld(x0 + k) - mean) * inv * wts[p.g_off + k] + b;
        }
    } else {
        float acc = p.op == OP_MAX ? -1.0 / 0.0 : (p.op == OP_MIN ? 1.0 / 0.0 : 0.0);
        for (uint k = 0u; k < p.len; k++) {
            const float v = ld(x0 + k * p.inner);
            acc = p.op == OP_MAX ? max(acc, v) : (p.op == OP_MIN ? min(acc, v) : acc + v);
        }
        /* One value per row: outer x inner, contiguous. */
        act[p.y_off + r] = p.op == OP_MEAN ? acc / float(p.len) : acc;
    }
}
