/* y[i] = a * x[i] + y[i] for i < n: the GPU floor's own test kernel
 * (tests/gpu/test_gpu.c), with its workgroup size a specialization
 * constant and n, a in push constants. */
#version 450

layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint n;
    float a;
} pc;

void main()
{
    const uint i = gl_GlobalInvocationID.x;
    if (i < pc.n)
        y[i] = pc.a * x[i] + y[i];
}
