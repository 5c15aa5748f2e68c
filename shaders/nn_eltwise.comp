/*
 * The network's element-wise steps, one value per invocation over a
 * flattened index (workgroups in x and y: gid = (y X + x) 256 + lid, so
 * more than 65535 x 256 values go in one dispatch). Buffers: d (written),
 * s1, s2, s3 (read; unused ones are bound to anything).
 *   op 0, GELU in place: d[i] = gelu(d[i]), i < n.
 *   op 1, GEGLU in place: d is [rows][2 a] (the projection without its
 *       bias), s1 the bias [2 a]; i = r a + j < n = rows a:
 *       d[r][j] = (d[r][j] + s1[j]) gelu(d[r][a + j] + s1[a + j]).
 *   op 2, ViT embeddings: d [T][a] with rows 1.. from s2 (patch
 *       products [T-1][a]) and row 0 the CLS token, plus the position
 *       table: s1 = pos [T][a] then cls [a]; n = T a.
 *   op 3, outer residual transposed: d[c][j] = s1[c][j] + s2[j][c],
 *       c < a (channels), j < b (tokens); n = a b.
 *   op 4, ConvTranspose2d(k = 2, stride 2) of three planes: s1 the input
 *       [C = c][3 P P] (P = a), s2 the weight [C][O][2][2], s3 the bias
 *       [O]; d [3][O][2P][2P]; n = 3 O 4 P P, O = b.
 * gelu(x) = 0.5 x erfc(-x / sqrt 2), erfc from the Chebyshev fit of
 * Numerical Recipes (relative error < 1.2e-7, the CPU kernels' too).
 */
#version 450

layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) buffer Ds { float d[]; };
layout(std430, set = 0, binding = 1) readonly buffer S1 { float s1[]; };
layout(std430, set = 0, binding = 2) readonly buffer S2 { float s2[]; };
layout(std430, set = 0, binding = 3) readonly buffer S3 { float s3[]; };

layout(push_constant) uniform Push {
    uint op, n, a, b, c;
} pc;

float erfc_pos(float z) /* z >= 0 */
{
    const float t = 1.0 / (1.0 + 0.5 * z);
    float p = 0.17087277;
    p = fma(p, t, -0.82215223);
    p = fma(p, t, 1.48851587);
    p = fma(p, t, -1.13520398);
    p = fma(p, t, 0.27886807);
    p = fma(p, t, -0.18628806);
    p = fma(p, t, 0.09678418);
    p = fma(p, t, 0.37409196);
    p = fma(p, t, 1.00002368);
    p = fma(p, t, -1.26551223);
    return t * exp(p - z * z);
}

float gelu(float x)
{
    const float c = erfc_pos(abs(x) * 0.70710678118654752);
    return 0.5 * x * (x >= 0.0 ? 2.0 - c : c);
}

void main()
{
    const uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * 256u +
                   gl_LocalInvocationID.x;
    if (i >= pc.n)
        return;
    if (pc.op == 0u) {
        d[i] = gelu(d[i]);
    } else if (pc.op == 1u) {
        const uint r = i / pc.a, j = i % pc.a, at = r * 2u * pc.a + j;
        d[at] = (d[at] + s1[j]) * gelu(d[at + pc.a] + s1[pc.a + j]);
    } else if (pc.op == 2u) {
        const float t = i < pc.a ? s1[pc.n + i] : s2[i - pc.a];
        d[i] = t + s1[i];
    } else if (pc.op == 3u) {
        const uint ch = i / pc.b, j = i % pc.b;
        d[i] = s1[i] + s2[j * pc.a + ch];
    } else if (pc.op == 4u) {
        const uint P = pc.a, O = pc.b, C = pc.c, S = 2u * P, PP = P * P, N = 3u * PP;
        const uint X = i % S, Y = (i / S) % S, o = (i / (S * S)) % O, p = i / (S * S * O);
        const uint src = p * PP + (Y / 2u) * P + X / 2u;
        const uint w = o * 4u + (Y % 2u) * 2u + X % 2u;
        float acc = 0.0;
        for (uint ci = 0u; ci < C; ci++)
            acc = fma(s1[ci * N + src], s2[ci * 4u * O + w], acc);
        d[i] = acc + s3[o];
    }
}
