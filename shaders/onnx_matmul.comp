/*
 * MatMul and Gemm on the GPU (src/nn/ln_onnx_ops.c: ox_matmul_exec,
 * ox_gemm_exec): Y[b] = alpha * op(A[b]) . op(B[b]) (+ beta * C) for each
 * of the output's matrices b (the grid's z), with numpy broadcasting of
 * the batch dimensions (up to 4 after merging; stride 0 for a broadcast
 * one). 16 x 16 output tiles, A's and B's 16 x 16 tiles through shared
 * memory; K summed in order. Operands in the activations or, for
 * constants, in the weights (a_w, b_w, c_w).
 */
#version 450

layout(local_size_x = 16, local_size_y = 16) in;

layout(std430, set = 0, binding = 0) buffer Act { float act[]; };
layout(std430, set = 0, binding = 1) readonly buffer Wts { float wts[]; };

layout(push_constant) uniform Push {
    uint a_off, a_w, b_off, b_w, y_off;
    uint c_off, c_w, c_on;   /* Gemm's C, read at c_off + row * c_si + col * c_sj */
    uint c_si, c_sj;
    uint M, N, K, trans_a, trans_b;
    float alpha, beta;
    uint nb;    /* batch dimensions */
    uint bs[4]; /* the output's batch shape, outermost first */
    uint sa[4]; /* A's and B's matrix strides per batch dimension (0: broadcast) */
    uint sb[4];
} p;

shared float ta[16][17];
shared float tb[16][17];

float ld(uint w, uint i)
{
    return w != 0u ? wts[i] : act[i];
}

void main()
{
    const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    const uint col = gl_WorkGroupID.x * 16u + tx, row = gl_WorkGroupID.y * 16u + ty;
    const uint b = gl_WorkGroupID.z;
    uint ao = p.a_off, bo = p.b_off, rem = b;
    for (int d = int(p.nb) - 1; d >= 0; d--) {
        const uint c = rem % p.bs[d];
        rem /= p.bs[d];
        ao += c * p.sa[d];
        bo += c * p.sb[d];
    }
    float acc = 0.0;
    for (uint k0 = 0u; k0 < p.K; k0 += 16u) {
        /* ta[ty][tx] = A(row, k0 + tx); tb[ty][tx] = B(k0 + ty, col). */
        const uint ka = k0 + tx, kb = k0 + ty;
        float va = 0.0, vb = 0.0;
        if (row < p.M && ka < p.K)
            va = ld(p.a_w, ao + (p.trans_a != 0u ? ka * p.M + row : row * p.K + ka));
        if (col < p.N && kb < p.K)
            vb = ld(p.b_w, bo + (p.trans_b != 0u ? col * p.K + kb : kb * p.N + col));
        ta[ty][tx] = va;
        tb[ty][tx] = vb;
        barrier();
        const uint kn = min(16u, p.K - k0);
        for (uint k = 0u; k < kn; k++)
            acc += ta[ty][k] * tb[k][tx];
        barrier();
    }
    if (row >= p.M || col >= p.N)
        return;
    float y = p.alpha * acc;
    if (p.c_on != 0u)
        y += p.beta * ld(p.c_w, p.c_off + row * p.c_si + col * p.c_sj);
    act[p.y_off + b * p.M * p.N + row * p.N + col] = y;
}
