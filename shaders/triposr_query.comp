/*
 * Triplane query and NeRF decoder (docs/TRIPOSR.md sections 9 and 10), the
 * GPU form of src/nn/ln_triposr_query.c. One workgroup takes TILE points:
 * its 64 invocations sample the three planes into shared memory (one
 * feature each in turn), then run every decoder layer there (one output of
 * one point each in turn), so activations never leave the workgroup.
 * Sampling is grid_sample's bilinear, align_corners=False, zero padding,
 * with the same clamp as the CPU form; each output is summed over its
 * inputs in order, starting from the bias, as on the CPU.
 */
#version 450

layout(local_size_x = 64) in;

/* Points per workgroup and the row stride of shared activations (at least
 * 3 * channels and the widest layer): chosen at pipeline creation to fit
 * the device's shared memory. */
layout(constant_id = 0) const uint TILE = 16;
layout(constant_id = 1) const uint MAXW = 128;

/* Scene code [3][ch][res][res], as the network writes it. */
layout(std430, set = 0, binding = 0) readonly buffer Scene { float scene[]; };
/* The decoder as loaded (ln__bind_decoder): per layer W^T [n_in][n_pad]
 * then the bias [n_pad]. */
layout(std430, set = 0, binding = 1) readonly buffer Weights { float wts[]; };
/* Per layer: n_in, n_out, n_pad, offset of W^T (the bias follows it). */
layout(std430, set = 0, binding = 2) readonly buffer Layers { ivec4 layers[]; };
layout(std430, set = 0, binding = 3) readonly buffer Points { float pts[]; };
layout(std430, set = 0, binding = 4) writeonly buffer Out { float outv[]; };

layout(push_constant) uniform Push {
    uint n;        /* points in this call */
    uint base;     /* first point of this dispatch */
    int res;       /* plane side */
    int ch;        /* channels per plane */
    int n_layers;
    float radius;
    float two_r;   /* radius - (-radius) */
    float density_bias;
    int dens_off;  /* float offsets into outv, -1: not wanted */
    int col_off;
    int feat_off;
} pc;

shared float s_act[2 * TILE * MAXW];

float tap(int plane, int c, int x, int y)
{
    if (x < 0 || x >= pc.res || y < 0 || y >= pc.res)
        return 0.0;
    return scene[((plane * pc.ch + c) * pc.res + y) * pc.res + x];
}

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint p0 = pc.base + gl_WorkGroupID.x * TILE;
    const int nf = 3 * pc.ch;
    const float half_res = float(pc.res) / 2.0, hi = float(pc.res) + 1.0;

    for (uint it = lid; it < TILE * uint(nf); it += 64u) {
        const uint p = it / uint(nf);
        const int f = int(it % uint(nf));
        const int plane = f / pc.ch, c = f % pc.ch;
        const uint gp = p0 + p;
        float v = 0.0;
        if (gp < pc.n) {
            vec3 q = vec3(pts[3u * gp], pts[3u * gp + 1u], pts[3u * gp + 2u]);
            q = (q + pc.radius) / pc.two_r * 2.0 + (-1.0);
            const vec2 uv = plane == 0 ? q.xy : plane == 1 ? q.xz : q.yz;
            float ix = (uv.x + 1.0) * half_res - 0.5;
            float iy = (uv.y + 1.0) * half_res - 0.5;
            /* Far outside (or NaN): every tap zero. */
            ix = ix > -2.0 ? (ix < hi ? ix : hi) : -2.0;
            iy = iy > -2.0 ? (iy < hi ? iy : hi) : -2.0;
            const float fx = floor(ix), fy = floor(iy);
            const int x0 = int(fx), y0 = int(fy);
            const float wx1 = ix - fx, wx0 = 1.0 - wx1, wy1 = iy - fy, wy0 = 1.0 - wy1;
            v = tap(plane, c, x0, y0) * (wy0 * wx0);
            v += tap(plane, c, x0 + 1, y0) * (wy0 * wx1);
            v += tap(plane, c, x0, y0 + 1) * (wy1 * wx0);
            v += tap(plane, c, x0 + 1, y0 + 1) * (wy1 * wx1);
            if (pc.feat_off >= 0)
                outv[uint(pc.feat_off) + gp * uint(nf) + uint(f)] = v;
        }
        s_act[p * MAXW + uint(f)] = v;
    }
    barrier();

    uint src = 0u, dst = TILE * MAXW;
    for (int l = 0; l < pc.n_layers; l++) {
        const ivec4 L = layers[l];
        const int n_in = L.x, n_out = L.y, n_pad = L.z, w_off = L.w;
        const int b_off = w_off + n_in * n_pad;
        const bool silu = l + 1 < pc.n_layers;
        for (uint it = lid; it < TILE * uint(n_out); it += 64u) {
            const uint p = it / uint(n_out);
            const int j = int(it % uint(n_out));
            float acc = wts[b_off + j];
            const uint row = src + p * MAXW;
            for (int k = 0; k < n_in; k++)
                acc = fma(s_act[row + uint(k)], wts[w_off + k * n_pad + j], acc);
            if (silu)
                acc = acc / (1.0 + exp(-acc));
            s_act[dst + p * MAXW + uint(j)] = acc;
        }
        barrier();
        const uint t = src;
        src = dst;
        dst = t;
    }

    for (uint p = lid; p < TILE; p += 64u) {
        const uint gp = p0 + p;
        if (gp >= pc.n)
            continue;
        const uint o = src + p * MAXW;
        if (pc.dens_off >= 0)
            outv[uint(pc.dens_off) + gp] = exp(s_act[o] + pc.density_bias);
        if (pc.col_off >= 0)
            for (uint c = 0u; c < 3u; c++)
                outv[uint(pc.col_off) + 3u * gp + c] = 1.0 / (1.0 + exp(-s_act[o + 1u + c]));
    }
}
