/*
 * An ONNX Conv (2-D, any stride, dilation, padding and group count) as an
 * implicit GEMM, the GPU form of ox_conv_exec in src/nn/ln_onnx_ops.c:
 * each invocation computes one output pixel for a block of up to four
 * output channels of one group, reading each input value once for the four
 * and summing over the group's input channels and the kernel window in
 * order from the bias. Padding reads as zero; the consumer's ReLU is
 * applied when the planner fused it (relu).
 */
#version 450

layout(local_size_x = 64) in;

/* Activations (the graph's arena, input after it) and the weights. */
layout(std430, set = 0, binding = 0) buffer Act { float act[]; };
layout(std430, set = 0, binding = 1) readonly buffer Wts { float wts[]; };

layout(push_constant) uniform Push {
    uint x_off, w_off, y_off;
    int b_off; /* -1: no bias */
    uint C, H, W, M, Ho, Wo;
    uint kh, kw, sh, sw, dh, dw;
    int ph, pw; /* top and left padding */
    uint G, relu;
    uint n_blk; /* blocks of four channels per group */
    uint total; /* N * G * n_blk * Ho * Wo */
} p;

void main()
{
    const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 64u;
    if (i >= p.total)
        return;
    const uint hw = p.Ho * p.Wo;
    const uint pix = i % hw;
    const uint blk = i / hw; /* (n, g, block) */
    const uint b = blk % p.n_blk;
    const uint g = (blk / p.n_blk) % p.G;
    const uint n = blk / (p.n_blk * p.G);
    const uint Cg = p.C / p.G, Mg = p.M / p.G;
    const uint m0 = g * Mg + 4u * b;
    const uint nm = min(4u, Mg - 4u * b);
    const int oy = int(pix / p.Wo), ox = int(pix % p.Wo);
    const uint kk = p.kh * p.kw;

    float acc[4];
    for (uint j = 0u; j < 4u; j++)
        acc[j] = (p.b_off >= 0 && j < nm) ? wts[uint(p.b_off) + m0 + j] : 0.0;

    const uint xbase = p.x_off + (n * p.C + g * Cg) * p.H * p.W;
    for (uint c = 0u; c < Cg; c++) {
        const uint xc = xbase + c * p.H * p.W;
        for (uint ky = 0u; ky < p.kh; ky++) {
            const int iy = oy * int(p.sh) - p.ph + int(ky * p.dh);
            if (iy < 0 || iy >= int(p.H))
                continue;
            for (uint kx = 0u; kx < p.kw; kx++) {
                const int ix = ox * int(p.sw) - p.pw + int(kx * p.dw);
                if (ix < 0 || ix >= int(p.W))
                    continue;
                const float v = act[xc + uint(iy) * p.W + uint(ix)];
                const uint wi = p.w_off + (m0 * Cg + c) * kk + ky * p.kw + kx;
                for (uint j = 0u; j < nm; j++)
                    acc[j] += v * wts[wi + j * Cg * kk];
            }
        }
    }
    const uint ybase = p.y_off + (n * p.M + m0) * hw + pix;
    for (uint j = 0u; j < nm; j++)
        act[ybase + j * hw] = p.relu != 0u ? max(acc[j], 0.0) : acc[j];
}
