/*
 * ONNX Resize / Upsample of the last two axes, linear or nearest: the GPU
 * form of ox_rs_body in src/nn/ln_onnx_ops.c. The per-axis source indices
 * and weights are the CPU form's tables, computed on the host by the same
 * code path and stored with the weights (as floats: indices below 2^24),
 * so both forms read the same neighbours with the same weights.
 */
#version 450

layout(local_size_x = 64) in;

layout(std430, set = 0, binding = 0) buffer Act { float act[]; };
layout(std430, set = 0, binding = 1) readonly buffer Wts { float wts[]; };

layout(push_constant) uniform Push {
    uint x_off, y_off;
    uint H, W, Ho, Wo;
    uint t_off; /* iy0[Ho] iy1[Ho] wy[Ho] ix0[Wo] ix1[Wo] wx[Wo] */
    uint total; /* planes * Ho * Wo */
} p;

void main()
{
    const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 64u;
    if (i >= p.total)
        return;
    const uint hw = p.Ho * p.Wo;
    const uint pl = i / hw, pix = i % hw;
    const uint oy = pix / p.Wo, ox = pix % p.Wo;
    const uint t = p.t_off, tx = p.t_off + 3u * p.Ho;
    const uint xb = p.x_off + pl * p.H * p.W;
    const uint r0 = xb + uint(wts[t + oy]) * p.W, r1 = xb + uint(wts[t + p.Ho + oy]) * p.W;
    const float wy = wts[t + 2u * p.Ho + oy];
    const uint x0 = uint(wts[tx + ox]), x1 = uint(wts[tx + p.Wo + ox]);
    const float wx = wts[tx + 2u * p.Wo + ox];
    const float top = act[r0 + x0] + (act[r0 + x1] - act[r0 + x0]) * wx;
    const float bot = act[r1 + x0] + (act[r1 + x1] - act[r1 + x0]) * wx;
    act[p.y_off + i] = top + (bot - top) * wy;
}
