/*
 * An ONNX Conv (2-D, any stride, dilation, padding and group count) as a
 * tiled implicit GEMM, for layers with at least 16 output channels per
 * group (onnx_conv.comp takes the narrow ones, such as the side outputs):
 * per image and group, Y[Mg][P] = W[Mg][K] . X[K][P] with K = Cg kh kw and
 * P = Ho Wo, the columns of X gathered from the input on the fly (padding
 * reads as zero). Each workgroup of 16 x 16 invocations computes a 64 x 64
 * tile of Y, 4 x 4 outputs per invocation, stepping through K in slices of
 * 16 staged in shared memory, as shaders/gemm.comp does; the bias is added
 * and the fused ReLU applied at the end.
 */
#version 450

layout(local_size_x = 16, local_size_y = 16) in;

layout(std430, set = 0, binding = 0) buffer Act { float act[]; };
layout(std430, set = 0, binding = 1) readonly buffer Wts { float wts[]; };

layout(push_constant) uniform Push {
    uint x_off, w_off, y_off;
    int b_off; /* -1: no bias */
    uint C, H, W, M, Ho, Wo;
    uint kh, kw, sh, sw, dh, dw;
    int ph, pw;
    uint G, relu;
    uint n_blk, total; /* onnx_conv.comp's; unused here */
} p;

const uint TM = 64u, TP = 64u, TK = 16u;

/* Slices of W and of X's columns, k-major, padded by one against bank
 * conflicts. */
shared float sa[TK][TM + 1u];
shared float sb[TK][TP + 1u];

void main()
{
    const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    const uint lid = ty * 16u + tx;
    const uint n = gl_WorkGroupID.z / p.G, g = gl_WorkGroupID.z % p.G;
    const uint Cg = p.C / p.G, Mg = p.M / p.G;
    const uint kk_n = p.kh * p.kw, K = Cg * kk_n, P = p.Ho * p.Wo;
    const uint m0 = gl_WorkGroupID.y * TM, p0 = gl_WorkGroupID.x * TP;
    const uint wbase = p.w_off + g * Mg * K;
    const uint xbase = p.x_off + (n * p.C + g * Cg) * p.H * p.W;
    float acc[4][4];
    for (uint i = 0u; i < 4u; i++)
        for (uint j = 0u; j < 4u; j++)
            acc[i][j] = 0.0;

    for (uint k0 = 0u; k0 < K; k0 += TK) {
        for (uint e = lid; e < TM * TK; e += 256u) {
            const uint mm = e / TK, kk = e % TK;
            const uint gm = m0 + mm, gk = k0 + kk;
            sa[kk][mm] = gm < Mg && gk < K ? wts[wbase + gm * K + gk] : 0.0;
        }
        for (uint e = lid; e < TP * TK; e += 256u) {
            const uint kk = e / TP, pp = e % TP;
            const uint gk = k0 + kk, gp = p0 + pp;
            float v = 0.0;
            if (gk < K && gp < P) {
                const uint c = gk / kk_n, r = gk % kk_n;
                const int iy = int(gp / p.Wo) * int(p.sh) - p.ph + int((r / p.kw) * p.dh);
                const int ix = int(gp % p.Wo) * int(p.sw) - p.pw + int((r % p.kw) * p.dw);
                if (iy >= 0 && iy < int(p.H) && ix >= 0 && ix < int(p.W))
                    v = act[xbase + c * p.H * p.W + uint(iy) * p.W + uint(ix)];
            }
            sb[kk][pp] = v;
        }
        barrier();
        for (uint kk = 0u; kk < TK; kk++) {
            float av[4], bv[4];
            for (uint i = 0u; i < 4u; i++)
                av[i] = sa[kk][ty + 16u * i];
            for (uint j = 0u; j < 4u; j++)
                bv[j] = sb[kk][tx + 16u * j];
            for (uint i = 0u; i < 4u; i++)
                for (uint j = 0u; j < 4u; j++)
                    acc[i][j] = fma(av[i], bv[j], acc[i][j]);
        }
        barrier();
    }

    for (uint i = 0u; i < 4u; i++) {
        const uint m = m0 + ty + 16u * i;
        if (m >= Mg)
            continue;
        const float b = p.b_off >= 0 ? wts[uint(p.b_off) + g * Mg + m] : 0.0;
        const uint ybase = p.y_off + (n * p.M + g * Mg + m) * P;
        for (uint j = 0u; j < 4u; j++) {
            const uint q = p0 + tx + 16u * j;
            if (q < P) {
                const float v = acc[i][j] + b;
                act[ybase + q] = p.relu != 0u ? max(v, 0.0) : v;
            }
        }
    }
}
