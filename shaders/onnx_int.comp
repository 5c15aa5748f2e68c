/*
 * The integer and index ONNX operators on the GPU (src/nn/ln_onnx_ops.c:
 * ox_bc_body's integer and comparison forms, ox_un_body's Floor, Ceil,
 * Not, Clip and integer forms, ox_cast_exec, ox_ge_exec), one output
 * element per invocation, op chosen by a push constant. Tensors are
 * float32 or int64 as on the CPU (bool is an int64 0 or 1); an int64 is
 * two 32-bit words, low word first, at the same bytes as in the host's
 * arena, and the arithmetic is done on the two words (no shaderInt64), so
 * every integer result is bit for bit the CPU's. Operands are read as in
 * onnx_nd.comp (their word offset plus the output coordinates times their
 * element strides: broadcasting, Transpose, Slice, Expand); GatherElements
 * and Gather read their data at the output coordinates (strided as the
 * host set them) plus the index times the axis stride, and an index out
 * of range writes 0 and sets the error word
 * (c_off) to the node's number, which the host turns into the CPU form's
 * error after the run.
 */
#version 450

layout(local_size_x = 64) in;

layout(std430, set = 0, binding = 0) buffer Act { uint act[]; };
layout(std430, set = 0, binding = 1) readonly buffer Wts { uint wts[]; };

/* Unary (a). */
#define OP_COPY 0u
#define OP_FLOOR 1u
#define OP_CEIL 2u
#define OP_CAST 3u /* a's type to y's; F_BOOL: to 0 or 1 */
#define OP_NOT 4u
#define OP_NEG 5u
#define OP_ABS 6u
#define OP_RELU 7u
/* Binary (a, b). */
#define OP_ADD 8u
#define OP_SUB 9u
#define OP_MUL 10u
#define OP_DIV 11u
#define OP_MIN 12u
#define OP_MAX 13u
#define OP_EQ 14u
#define OP_LT 15u
#define OP_GT 16u
#define OP_GE 17u
#define OP_LE 18u
#define OP_AND 19u
#define OP_OR 20u
/* Ternary. */
#define OP_WHERE 21u  /* a ? b : c */
#define OP_CLIP 22u   /* min(max(a, b), c); F_NO_B, F_NO_C: that bound absent */
#define OP_GATHER 23u /* GatherElements, Gather: data a, indices b, error word c_off */

/* types: which operands are int64 and which live in the weights. */
#define F_A64 1u
#define F_B64 2u
#define F_C64 4u
#define F_Y64 8u
#define F_AW 16u
#define F_BW 32u
#define F_CW 64u
#define F_BOOL 128u
#define F_NO_B 256u
#define F_NO_C 512u

#define ND 4

layout(push_constant) uniform Push {
    uint op, types;
    uint a_off, b_off, c_off, y_off; /* in 32-bit words */
    uint nd, total;
    uint ax_len; /* GatherElements: the data's length along the axis */
    int ax_st;   /* and its element stride there */
    uint shape[ND];
    int sa[ND]; /* element strides per output dimension */
    int sb[ND];
    int sc[ND]; /* GatherElements: sc[0] is the node's number + 1 */
} p;

uint word(bool w, uint i)
{
    return w ? wts[i] : act[i];
}

/* Operand k's element at element index e: an int64 as (lo, hi), a float
 * as (its bits, 0). */
uvec2 ld(uint off, uint e, bool is64, bool w)
{
    if (is64) {
        const uint i = off + 2u * e;
        return uvec2(word(w, i), word(w, i + 1u));
    }
    return uvec2(word(w, off + e), 0u);
}

/* ---- int64 on two words ---- */

uvec2 i64(int v)
{
    return uvec2(uint(v), v < 0 ? 0xffffffffu : 0u);
}

bool neg64(uvec2 a)
{
    return int(a.y) < 0;
}

uvec2 add64(uvec2 a, uvec2 b)
{
    uint carry;
    const uint lo = uaddCarry(a.x, b.x, carry);
    return uvec2(lo, a.y + b.y + carry);
}

uvec2 sub64(uvec2 a, uvec2 b)
{
    uint borrow;
    const uint lo = usubBorrow(a.x, b.x, borrow);
    return uvec2(lo, a.y - b.y - borrow);
}

uvec2 negate64(uvec2 a)
{
    return sub64(uvec2(0u), a);
}

uvec2 mul64(uvec2 a, uvec2 b)
{
    uint hi, lo;
    umulExtended(a.x, b.x, hi, lo);
    return uvec2(lo, hi + a.x * b.y + a.y * b.x);
}

bool lt64(uvec2 a, uvec2 b) /* signed */
{
    return int(a.y) < int(b.y) || (a.y == b.y && a.x < b.x);
}

bool ult64(uvec2 a, uvec2 b)
{
    return a.y < b.y || (a.y == b.y && a.x < b.x);
}

/* Quotient truncated toward zero; 0 for a zero divisor and INT64_MIN / -1
 * (the CPU form's choices). */
uvec2 div64(uvec2 a, uvec2 b)
{
    if (b == uvec2(0u) || (b == uvec2(0xffffffffu) && a == uvec2(0u, 0x80000000u)))
        return uvec2(0u);
    const bool sign = neg64(a) != neg64(b);
    const uvec2 n = neg64(a) ? negate64(a) : a, d = neg64(b) ? negate64(b) : b;
    uvec2 q = uvec2(0u), r = uvec2(0u);
    for (int i = 63; i >= 0; i--) {
        r = uvec2(r.x << 1u, (r.y << 1u) | (r.x >> 31u));
        const uint bit = i >= 32 ? (n.y >> uint(i - 32)) & 1u : (n.x >> uint(i)) & 1u;
        r.x |= bit;
        if (!ult64(r, d)) {
            r = sub64(r, d);
            if (i >= 32)
                q.y |= 1u << uint(i - 32);
            else
                q.x |= 1u << uint(i);
        }
    }
    return sign ? negate64(q) : q;
}

/* (float)v rounded to nearest even, as C's conversion: the top 32 bits
 * with the lost ones folded into a sticky bit, converted (correctly
 * rounded in Vulkan), then scaled by a power of two (exact). */
float i64_to_f(uvec2 v)
{
    const bool s = neg64(v);
    const uvec2 u = s ? negate64(v) : v;
    float f;
    if (u.y == 0u) {
        f = float(u.x);
    } else {
        const int lz = findMSB(u.y); /* the top bit is 32 + lz */
        uint top;
        bool sticky;
        if (lz == 31) {
            top = u.y;
            sticky = u.x != 0u;
        } else {
            top = (u.y << uint(31 - lz)) | (u.x >> uint(lz + 1));
            sticky = (u.x << uint(31 - lz)) != 0u;
        }
        f = ldexp(float(top | (sticky ? 1u : 0u)), lz + 1);
    }
    return s ? -f : f;
}

/* (int64_t)f truncated, saturated as the CPU form does (NaN: INT64_MIN).
 * Exact: past 2^31 a float is a multiple of 2^8, so the split into
 * words loses nothing. */
uvec2 f_to_i64(float f)
{
    if (f >= 9.2e18)
        return uvec2(0xffffffffu, 0x7fffffffu);
    if (f <= -9.2e18 || isnan(f))
        return uvec2(0u, 0x80000000u);
    const float t = trunc(f);
    if (abs(t) < 2147483648.0)
        return i64(int(t));
    /* Scaled by 2^-32 with ldexp, not a division (Vulkan lets division be
     * off by 2.5 ulp; ldexp and products are exact here). */
    const float hi = floor(ldexp(t, -32));
    return uvec2(uint(t - hi * 4294967296.0), uint(int(hi)));
}

float fl(uvec2 v)
{
    return uintBitsToFloat(v.x);
}

uvec2 from_f(float f)
{
    return uvec2(floatBitsToUint(f), 0u);
}

uvec2 from_b(bool b)
{
    return uvec2(b ? 1u : 0u, 0u);
}

void main()
{
    const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 64u;
    if (i >= p.total)
        return;
    int ao = 0, bo = 0, co = 0;
    uint rem = i;
    for (int d = int(p.nd) - 1; d >= 0; d--) {
        const uint c = rem % p.shape[d];
        rem /= p.shape[d];
        ao += int(c) * p.sa[d];
        bo += int(c) * p.sb[d];
        co += int(c) * p.sc[d];
    }
    const bool a64 = (p.types & F_A64) != 0u, b64 = (p.types & F_B64) != 0u;
    const bool c64 = (p.types & F_C64) != 0u, y64 = (p.types & F_Y64) != 0u;
    const uint op = p.op;
    uvec2 y;
    if (op == OP_GATHER) {
        const uvec2 k = ld(p.b_off, uint(bo), true, (p.types & F_BW) != 0u);
        uvec2 v = neg64(k) ? add64(k, uvec2(p.ax_len, 0u)) : k;
        if (neg64(v) || !ult64(v, uvec2(p.ax_len, 0u))) {
            atomicMax(act[p.c_off], uint(p.sc[0]));
            y = uvec2(0u);
        } else {
            y = ld(p.a_off, uint(ao + int(v.x) * p.ax_st), a64, (p.types & F_AW) != 0u);
        }
    } else {
        const uvec2 a = ld(p.a_off, uint(ao), a64, (p.types & F_AW) != 0u);
        if (op <= OP_RELU) {
            if (op == OP_COPY) {
                y = a;
            } else if (op == OP_FLOOR) {
                y = from_f(floor(fl(a)));
            } else if (op == OP_CEIL) {
                y = from_f(ceil(fl(a)));
            } else if (op == OP_CAST) {
                if ((p.types & F_BOOL) != 0u)
                    y = from_b(a64 ? a != uvec2(0u) : fl(a) != 0.0);
                else if (a64 == y64)
                    y = a;
                else if (y64)
                    y = f_to_i64(fl(a));
                else
                    y = from_f(i64_to_f(a));
            } else if (op == OP_NOT) {
                y = a64 ? from_b(a == uvec2(0u)) : from_f(fl(a) == 0.0 ? 1.0 : 0.0);
            } else if (op == OP_NEG) {
                y = negate64(a);
            } else if (op == OP_ABS) {
                y = neg64(a) ? negate64(a) : a;
            } else {
                y = neg64(a) ? uvec2(0u) : a;
            }
        } else if (op <= OP_OR) {
            const uvec2 b = ld(p.b_off, uint(bo), b64, (p.types & F_BW) != 0u);
            if (!a64) {
                const float x = fl(a), z = fl(b);
                y = from_b(op == OP_EQ   ? x == z
                           : op == OP_LT ? x < z
                           : op == OP_GT ? x > z
                           : op == OP_GE ? x >= z
                                         : x <= z);
            } else if (op == OP_ADD) {
                y = add64(a, b);
            } else if (op == OP_SUB) {
                y = sub64(a, b);
            } else if (op == OP_MUL) {
                y = mul64(a, b);
            } else if (op == OP_DIV) {
                y = div64(a, b);
            } else if (op == OP_MIN) {
                y = lt64(a, b) ? a : b;
            } else if (op == OP_MAX) {
                y = lt64(b, a) ? a : b;
            } else if (op == OP_EQ) {
                y = from_b(a == b);
            } else if (op == OP_LT) {
                y = from_b(lt64(a, b));
            } else if (op == OP_GT) {
                y = from_b(lt64(b, a));
            } else if (op == OP_GE) {
                y = from_b(!lt64(a, b));
            } else if (op == OP_LE) {
                y = from_b(!lt64(b, a));
            } else if (op == OP_AND) {
                y = from_b(a != uvec2(0u) && b != uvec2(0u));
            } else {
                y = from_b(a != uvec2(0u) || b != uvec2(0u));
            }
        } else {
            const bool no_b = (p.types & F_NO_B) != 0u, no_c = (p.types & F_NO_C) != 0u;
            const uvec2 b = no_b ? uvec2(0u) : ld(p.b_off, uint(bo), b64, (p.types & F_BW) != 0u);
            const uvec2 c = no_c ? uvec2(0u) : ld(p.c_off, uint(co), c64, (p.types & F_CW) != 0u);
            if (op == OP_WHERE) {
                y = a != uvec2(0u) ? b : c;
            } else if (y64) {
                y = a;
                if (!no_b && lt64(y, b))
                    y = b;
                if (!no_c && lt64(c, y))
                    y = c;
            } else {
                /* fminf(fmaxf(x, lo), hi): a NaN operand yields the other. */
                float x = fl(a);
                if (!no_b) {
                    const float lo = fl(b);
                    x = isnan(x) ? lo : isnan(lo) ? x : max(x, lo);
                }
                if (!no_c) {
                    const float hi = fl(c);
                    x = isnan(x) ? hi : isnan(hi) ? x : min(x, hi);
                }
                y = from_f(x);
            }
        }
    }
    if (y64) {
        act[p.y_off + 2u * i] = y.x;
        act[p.y_off + 2u * i + 1u] = y.y;
    } else {
        act[p.y_off + i] = y.x;
    }
}
