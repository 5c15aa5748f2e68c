/*
 * The network's normalisations, one workgroup of 256 invocations per row
 * or group, two passes (mean, then the biased variance about it) with
 * tree sums in shared memory:
 *   mode 0, LayerNorm: x [rows][dim] -> y [rows][dim],
 *       y = (x - mean) / sqrt(var + eps) g + b over each row;
 *   mode 1, GroupNorm: x [channels][n] channel-major, groups of cpg
 *       consecutive channels normalised over all their values, written
 *       TRANSPOSED: y [n][channels] (the tokens the next product reads).
 */
#version 450

layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) readonly buffer Xs { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Ys { float y[]; };
layout(std430, set = 0, binding = 2) readonly buffer Gs { float g[]; };
layout(std430, set = 0, binding = 3) readonly buffer Bs { float b[]; };

layout(push_constant) uniform Push {
    uint mode;
    uint dim;      /* LayerNorm: row length; GroupNorm: values per channel (n) */
    uint cpg;      /* GroupNorm: channels per group */
    uint channels; /* GroupNorm: all channels */
    float eps;
} pc;

shared float red[256];

float reduce_sum(float v)
{
    const uint lid = gl_LocalInvocationID.x;
    red[lid] = v;
    barrier();
    for (uint s = 128u; s > 0u; s >>= 1) {
        if (lid < s)
            red[lid] += red[lid + s];
        barrier();
    }
    const float r = red[0];
    barrier();
    return r;
}

void main()
{
    const uint lid = gl_LocalInvocationID.x, row = gl_WorkGroupID.x;
    const uint count = pc.mode == 0u ? pc.dim : pc.cpg * pc.dim;
    const uint base = row * count; /* both layouts: the row or group is contiguous */
    float acc = 0.0;
    for (uint e = lid; e < count; e += 256u)
        acc += x[base + e];
    const float mean = reduce_sum(acc) / float(count);
    acc = 0.0;
    for (uint e = lid; e < count; e += 256u) {
        const float d = x[base + e] - mean;
        acc = fma(d, d, acc);
    }
    const float rstd = 1.0 / sqrt(reduce_sum(acc) / float(count) + pc.eps);
    if (pc.mode == 0u) {
        for (uint e = lid; e < count; e += 256u)
            y[base + e] = (x[base + e] - mean) * rstd * g[e] + b[e];
    } else {
        for (uint e = lid; e < count; e += 256u) {
            const uint c = row * pc.cpg + e / pc.dim, i = e % pc.dim;
            const float a = rstd * g[c];
            y[i * pc.channels + c] = x[base + e] * a + (b[c] - mean * a);
        }
    }
}
