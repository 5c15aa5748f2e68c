/*
 * Multi-head scaled dot-product attention without masks, tiled with an
 * online softmax (the FlashAttention recurrence), so no [nq][nk] score
 * matrix ever exists:
 *     out[i][h HD + d] = sum_j softmax_j(q_i,h . k_j,h * scale) v[j][h HD + d]
 * q [nq][ldq], k [nk][ldk], v [nk][ldv], out [nq][ldo], row-major float32;
 * head h uses the columns h HD .. h HD + HD - 1 (HD: specialization
 * constant 0, a multiple of 4). Workgroup (x, h): 16 queries of head h,
 * four invocations per query, each holding a quarter of the query row and
 * of the output accumulator (dimensions lane, lane + 4, ...) in registers.
 * Keys and values go through shared memory in tiles of BC rows; each
 * score is the sum of the four lanes' partial dot products (in the same
 * order in every lane, so the four keep the same running maximum m and
 * sum l). A key that raises m rescales l and the accumulator by
 * exp(m_old - m_new) first. Shared memory: (2 BC HD + 16 BC 4) floats,
 * 12 KiB at HD 64, within every device's 16 KiB minimum.
 */
#version 450

layout(local_size_x = 64) in;
layout(constant_id = 0) const uint HD = 64;

layout(std430, set = 0, binding = 0) readonly buffer Qs { float q[]; };
layout(std430, set = 0, binding = 1) readonly buffer Ks { float k[]; };
layout(std430, set = 0, binding = 2) readonly buffer Vs { float v[]; };
layout(std430, set = 0, binding = 3) writeonly buffer Os { float o[]; };

layout(push_constant) uniform Push {
    uint nq, nk;
    uint ldq, ldk, ldv, ldo;
    float scale;
} pc;

const uint BQ = 16u, LANES = 4u, BC = 16u;
const uint HQ = HD / LANES;

shared float sk[BC][HD];
shared float sv[BC][HD];
shared float part[BQ][BC][LANES];

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint qi = lid / LANES, lane = lid % LANES;
    const uint i = gl_WorkGroupID.x * BQ + qi;
    const uint c0 = gl_WorkGroupID.y * HD;
    const bool live = i < pc.nq;
    float qr[HQ], acc[HQ];
    for (uint t = 0u; t < HQ; t++) {
        qr[t] = live ? q[i * pc.ldq + c0 + lane + LANES * t] : 0.0;
        acc[t] = 0.0;
    }
    float m = -1.0e30, l = 0.0;

    for (uint j0 = 0u; j0 < pc.nk; j0 += BC) {
        for (uint e = lid; e < BC * HD; e += 64u) {
            const uint jj = e / HD, d = e % HD, j = j0 + jj;
            sk[jj][d] = j < pc.nk ? k[j * pc.ldk + c0 + d] : 0.0;
            sv[jj][d] = j < pc.nk ? v[j * pc.ldv + c0 + d] : 0.0;
        }
        barrier();
        const uint nb = min(BC, pc.nk - j0);
        for (uint jj = 0u; jj < nb; jj++) {
            float dot = 0.0;
            for (uint t = 0u; t < HQ; t++)
                dot = fma(qr[t], sk[jj][lane + LANES * t], dot);
            part[qi][jj][lane] = dot;
        }
        barrier();
        for (uint jj = 0u; jj < nb; jj++) {
            const float s =
                ((part[qi][jj][0] + part[qi][jj][1]) + (part[qi][jj][2] + part[qi][jj][3])) *
                pc.scale;
            if (s > m) { /* a new running maximum: rescale what is summed */
                const float corr = exp(m - s);
                l *= corr;
                for (uint t = 0u; t < HQ; t++)
                    acc[t] *= corr;
                m = s;
            }
            const float p = exp(s - m);
            l += p;
            for (uint t = 0u; t < HQ; t++)
                acc[t] = fma(p, sv[jj][lane + LANES * t], acc[t]);
        }
        barrier();
    }

    if (live) {
        const float inv = 1.0 / l;
        for (uint t = 0u; t < HQ; t++)
            o[i * pc.ldo + c0 + lane + LANES * t] = acc[t] * inv;
    }
}
