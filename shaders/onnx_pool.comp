/*
 * ONNX MaxPool and AveragePool over 2-D windows (strides, dilations,
 * padding; ceil_mode shows only in the output size the planner chose),
 * and the global pools as a window of the whole plane: the GPU form of
 * ox_pool_body in src/nn/ln_onnx_ops.c, one output per invocation.
 * Padding is left out of the maximum and, unless count_include_pad, of the
 * average's count; a NaN in the window is kept as the CPU form keeps it.
 */
#version 450

layout(local_size_x = 64) in;

layout(std430, set = 0, binding = 0) buffer Act { float act[]; };
layout(std430, set = 0, binding = 1) readonly buffer Wts { float wts[]; };

layout(push_constant) uniform Push {
    uint x_off, y_off;
    uint H, W, Ho, Wo;
    uint kh, kw, sh, sw, dh, dw;
    int ph, pw, pe_h, pe_w; /* padding at the top, left, bottom, right */
    uint is_max, include_pad;
    uint total; /* planes * Ho * Wo */
} p;

void main()
{
    const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 64u;
    if (i >= p.total)
        return;
    const uint hw = p.Ho * p.Wo;
    const uint pl = i / hw, pix = i % hw;
    const int oy = int(pix / p.Wo), ox = int(pix % p.Wo);
    const int y0 = oy * int(p.sh) - p.ph, x0 = ox * int(p.sw) - p.pw;
    const uint xb = p.x_off + pl * p.H * p.W;
    float v = p.is_max != 0u ? uintBitsToFloat(0xff800000u) : 0.0;
    int count = 0;
    for (uint ky = 0u; ky < p.kh; ky++) {
        const int iy = y0 + int(ky * p.dh);
        if (iy < 0 || iy >= int(p.H))
            continue;
        for (uint kx = 0u; kx < p.kw; kx++) {
            const int ix = x0 + int(kx * p.dw);
            if (ix < 0 || ix >= int(p.W))
                continue;
            const float t = act[xb + uint(iy) * p.W + uint(ix)];
            if (p.is_max != 0u)
                v = (t > v || isnan(t)) ? t : v;
            else
                v += t;
            count++;
        }
    }
    if (p.is_max == 0u) {
        if (p.include_pad != 0u) {
            /* PyTorch: the window clipped to the padded input. */
            const int ye = y0 + int(p.kh), xe = x0 + int(p.kw);
            const int yl = int(p.H) + p.pe_h, xl = int(p.W) + p.pe_w;
            count = (min(ye, yl) - y0) * (min(xe, xl) - x0);
        }
        v = count != 0 ? v / float(count) : 0.0;
    }
    act[p.y_off + i] = v;
}
