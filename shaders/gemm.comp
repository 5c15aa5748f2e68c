/*
 * C = A . op(B) (+ bias), row-major float32: A [M][K] (rows lda floats
 * apart, lda >= K), B [K][N] (trans_b 0) or [N][K] (trans_b 1: PyTorch's
 * Linear weight, y = x W^T), bias [N]; with accumulate, C += instead (a
 * residual connection).
 * The building block of the network's layers (ln_gpu_sgemm). Each
 * workgroup of 16 x 16 invocations computes a 64 x 64 tile of C, 4 x 4
 * outputs per invocation, stepping through K in slices of 16 staged in
 * shared memory (8.5 KiB, within every device's 16 KiB minimum). Tails in
 * M, N and K are read as zeros and never written.
 */
#version 450

layout(local_size_x = 16, local_size_y = 16) in;

layout(std430, set = 0, binding = 0) readonly buffer MatA { float a[]; };
layout(std430, set = 0, binding = 1) readonly buffer MatB { float b[]; };
layout(std430, set = 0, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, set = 0, binding = 3) buffer MatC { float c[]; };

layout(push_constant) uniform Push {
    uint M, N, K;
    uint trans_b;
    uint has_bias;
    uint lda;
    uint accumulate;
} pc;

const uint TM = 64u, TN = 64u, TK = 16u;

/* Slices of A and B, k-major, padded by one against bank conflicts. */
shared float sa[TK][TM + 1u];
shared float sb[TK][TN + 1u];

void main()
{
    const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    const uint lid = ty * 16u + tx;
    const uint m0 = gl_WorkGroupID.y * TM, n0 = gl_WorkGroupID.x * TN;
    float acc[4][4];
    for (uint i = 0u; i < 4u; i++)
        for (uint j = 0u; j < 4u; j++)
            acc[i][j] = 0.0;

    for (uint k0 = 0u; k0 < pc.K; k0 += TK) {
        for (uint e = lid; e < TM * TK; e += 256u) {
            const uint mm = e / TK, kk = e % TK;
            const uint gm = m0 + mm, gk = k0 + kk;
            sa[kk][mm] = gm < pc.M && gk < pc.K ? a[gm * pc.lda + gk] : 0.0;
        }
        for (uint e = lid; e < TN * TK; e += 256u) {
            uint nn, kk;
            if (pc.trans_b != 0u) {
                nn = e / TK;
                kk = e % TK;
            } else {
                kk = e / TN;
                nn = e % TN;
            }
            const uint gn = n0 + nn, gk = k0 + kk;
            float v = 0.0;
            if (gn < pc.N && gk < pc.K)
                v = pc.trans_b != 0u ? b[gn * pc.K + gk] : b[gk * pc.N + gn];
            sb[kk][nn] = v;
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
        if (m >= pc.M)
            continue;
        for (uint j = 0u; j < 4u; j++) {
            const uint n = n0 + tx + 16u * j;
            if (n < pc.N) {
                const float v = acc[i][j] + (pc.has_bias != 0u ? bias[n] : 0.0);
                c[m * pc.N + n] = pc.accumulate != 0u ? c[m * pc.N + n] + v : v;
            }
        }
    }
}
