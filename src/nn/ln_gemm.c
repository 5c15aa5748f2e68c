/*
 * The linear layers' product (see ln_gemm.h), compiled once per kernel
 * set. The work is cut into tasks of a row block (the rows split evenly,
 * ln__gemm_row_tasks) by LN__GEMM_NT outputs.
 *
 * DESIGN (threads): the row blocks, as many as threads or a multiple, are
 * shared out by ln_parallel_for_split, each thread its own row blocks
 * first, so that the rows of x a thread reads are those it wrote in the
 * step before (a LayerNorm, an attention, another product, all split by
 * rows the same way), from its own caches. The two vCPUs of the
 * development machine share no cache (a cache line passes from one to the
 * other and back in about 410 ns): with the column blocks of a row block
 * shared out in turn, half of every input came from the other CPU, and a
 * chain of 3072 x 1024 -> 1024 products ran at 73-78 % of the two-thread
 * FMA peak against 85-89 % split by rows. The weights are then read by
 * both threads; each row block takes its column blocks from a different
 * one (ln__gemm_task), so that the two do not copy the same weights from
 * memory at the same moment (that made the copying 1.6 times as long). A
 * thread that is done helps with the other's row blocks.
 *
 * A task walks k in slices of LN__GEMM_KC: it copies the
 * slice of its weights into panels of GM_NR outputs ([k][GM_NR], zero past
 * n: 256 KB, held in L2; the sizes per kernel set below), then for each
 * GM_MR rows of x runs the register tile over the task's weight panels:
 * per k, GM_NV weight vectors and
 * GM_MR inputs broadcast from x in place, GM_MR x GM_NV multiply-adds into
 * accumulators that stay in registers for the whole slice. (Input stored
 * transposed, the backbone's proj_in, is first copied into rows.)
 *
 * The weights are copied into panels per call, not once at load: the
 * model's 1.7 GB of weights are read in place from the mapped checkpoint,
 * and a packed copy kept beside them would double the resident memory.
 * Each task packs its block once per slice and uses it for all its rows
 * (about 500 in the network's products), so the copying costs about
 * 1 / 1000 of the multiply-adds' count; measured on one Zen 4 core
 * (thread CPU time, the network's shapes) the product runs at 0.95-1.11
 * times OpenBLAS's AVX-512 sgemm, 83-87% of the core's FMA peak.
 *
 * The GEGLU feed-forward's first product (ln__gemm_geglu) is cut
 * differently: a task is a row block by 32 outputs, whose 32 value and 32
 * gate rows of w are packed once for all of k into panels that put an
 * output's value and gate columns in the same register tile; each tile
 * runs all of k in registers and stores (v + b) gelu(g + b). Its sums are
 * those of the sliced form, in the same order.
 *
 * DESIGN (slice sizes). The slices change no result: a tile stores its
 * float sums into y at the end of a slice and the next slice loads them
 * back unchanged, so every output is the same chain of multiply-adds
 * whatever LN__GEMM_KC and LN__GEMM_NT are (test_gemm_split_k_bitwise:
 * a product split into two calls anywhere along k gives the bits of one
 * call; the sizes below were checked bit for bit against 256 x 256 on
 * the network's shapes). They are per kernel set, fixed
 * rather than read from the CPU's caches: KC x NT floats of weights
 * (256 KB) fit the L2 of every x86-64 core since 2017 and most arm64 ones.
 * The portable form slices k by 256 for 256 outputs: a tile's rows
 * (GM_MR x KC) and the weight panel in use (KC x GM_NR) share the L1.
 * AVX-512 slices k by 1024 for 64 outputs (one panel of GM_NR = 64 per
 * task): against 256 x 256, the network's products on two threads of a
 * Zen 5 EPYC ran at 87-90 % of the FMA peak instead of 81-83 %
 * (bench-triposr's products table, three alternated pairs), the
 * 3072 x 4096 -> 1024 product the same or up to 4 % faster, the scene
 * code 7-12 % faster in two alternated pairs; all of k (4096 x 64) was
 * as fast or faster on the other shapes but 2-12 % slower on the 4096
 * one, and 1024 x 128 the same as 1024 x 64 within the machine's drift
 * (not measured on Zen 4, whose 512-bit multiply-adds take two passes).
 * AVX2 takes all of k (up to 4096) for 64 outputs: on a Zen 3 (AVX2, no
 * AVX-512) a tile of 256 k spent a few percent loading and storing its
 * 6 x 16 sums and filling the pipeline again, and whole slices of k (the
 * network's k is 768 to 4096) made the products 2-13 % faster on two
 * threads (median of 16-24 paired runs per shape, against 256 x 256:
 * 3072 x 1024 -> 1024 +8.5 %, 1025 x 768 -> 3072 +9 %, 1025 x 3072 -> 768
 * +13 % with slices of 1024; 3072 x 4096 -> 1024 +4 % with slices of
 * 1024 and a further +7 % with all 4096, 1025 x 3072 -> 768 a further
 * +2 %), although each row of x is then read for every 64 outputs
 * instead of 256 and the weights' block of a task (k x 64) outgrows L2
 * for k over 1024. Input stored transposed keeps 256 x 256 in every set
 * (LN__GEMM_KC_XT): its rows are copied out per row group and column
 * block, four times as often with blocks of 64 (the upsampling's 1024 x
 * 1024 -> 160 then fell from 1.0 to 0.66 times OpenBLAS's speed), unless
 * the weights were packed ahead (ln__gemm_packed) in the set's blocks.
 */
#include "ln_kernels.h" /* first: this file is compiled once per kernel set */

#include "ln_gemm.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_error.h"
#include "ln_nn_ops.h"
#include "ln_threads.h"

#define LN__INLINE static inline __attribute__((always_inline))

#define LN__GEMM_MT 1536 /* rows per task at most, unless more tasks balance the threads */
/* Row blocks are a multiple of the threads while they keep this many
 * rows: each weight is packed once per row block, and on many threads
 * (16 on the 3072 tokens: 192 rows a block) that would cost more than
 * the rows' staying with their thread gives. */
#define LN__GEMM_MT_SPLIT 256

#if LN__AVX512

#define GM_MR 6
#define GM_NV 4
#define GM_VW 16
/* Slices of 1024 k for 64 outputs: the DESIGN comment on slice sizes
 * above. */
#define LN__GEMM_KC 1024
#define LN__GEMM_NT 64 /* a multiple of GM_NR */
typedef __m512 gm_v;

LN__INLINE gm_v gm_zero(void)
{
    return _mm512_setzero_ps();
}
LN__INLINE gm_v gm_load(const float *p)
{
    return _mm512_loadu_ps(p);
}
LN__INLINE gm_v gm_bcast(const float *p)
{
    return _mm512_set1_ps(*p);
}
LN__INLINE gm_v gm_madd(gm_v a, gm_v b, gm_v c)
{
    return _mm512_fmadd_ps(a, b, c);
}
LN__INLINE gm_v gm_add(gm_v a, gm_v b)
{
    return _mm512_add_ps(a, b);
}
LN__INLINE gm_v gm_mul(gm_v a, gm_v b)
{
    return _mm512_mul_ps(a, b);
}
/* gelu of n vectors in place (ln_nn_ops.h's form, as ln__geglu_rows). */
LN__INLINE void gm_gelu_n(gm_v *x, int n)
{
    _Pragma("GCC unroll 8") for (int i = 0; i < n; i++)
        x[i] = ln__gelu16(x[i]);
}
/* n lanes (0 .. GM_VW) of p, the rest zero; p past them is not read. */
LN__INLINE gm_v gm_load_n(const float *p, int n)
{
    return n >= GM_VW ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1u), p);
}
LN__INLINE void gm_store_n(float *p, gm_v v, int n)
{
    if (n >= GM_VW)
        _mm512_storeu_ps(p, v);
    else
        _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1u), v);
}
/* GM_VW vectors of GM_VW: r[i][j] becomes r[j][i]. */
LN__INLINE void gm_transpose(gm_v *r)
{
    ln__transpose16(r);
}

#elif LN__AVX2

#define GM_MR 6
#define GM_NV 2
#define GM_VW 8
/* All of k (up to 4096, the network's largest) by 64 outputs: the
 * DESIGN comment on slice sizes above. */
#define LN__GEMM_KC 4096
#define LN__GEMM_NT 64
typedef __m256 gm_v;

LN__INLINE gm_v gm_zero(void)
{
    return _mm256_setzero_ps();
}
LN__INLINE gm_v gm_load(const float *p)
{
    return _mm256_loadu_ps(p);
}
LN__INLINE gm_v gm_bcast(const float *p)
{
    return _mm256_broadcast_ss(p);
}
LN__INLINE gm_v gm_madd(gm_v a, gm_v b, gm_v c)
{
    return _mm256_fmadd_ps(a, b, c);
}
LN__INLINE gm_v gm_add(gm_v a, gm_v b)
{
    return _mm256_add_ps(a, b);
}
LN__INLINE gm_v gm_mul(gm_v a, gm_v b)
{
    return _mm256_mul_ps(a, b);
}
/* In groups of LN__W8, as ln__geglu_rows (one chain at a time would
 * leave the core's units idle). */
LN__INLINE void gm_gelu_n(gm_v *x, int n)
{
    _Pragma("GCC unroll 8") for (int i = 0; i < n; i += LN__W8)
        ln__gelu8n(x + i, n - i < LN__W8 ? n - i : LN__W8);
}
LN__INLINE gm_v gm_load_n(const float *p, int n)
{
    return n >= GM_VW ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, ln__mask8(n));
}
LN__INLINE void gm_store_n(float *p, gm_v v, int n)
{
    if (n >= GM_VW)
        _mm256_storeu_ps(p, v);
    else
        _mm256_maskstore_ps(p, ln__mask8(n), v);
}
LN__INLINE void gm_transpose(gm_v *r)
{
    ln__transpose8(r);
}

#else

/* The portable form: the compiler's 4-wide generic vectors (SSE2, NEON),
 * multiply then add. Partial vectors go through a zero-padded copy. */
#define GM_MR 4
#define GM_NV 2
#define GM_VW 4
#define LN__GEMM_KC 256
#define LN__GEMM_NT 256
typedef ln__v4f gm_v;

LN__INLINE gm_v gm_zero(void)
{
    return ln__v4_set1(0.0f);
}
LN__INLINE gm_v gm_load(const float *p)
{
    return ln__v4_load(p);
}
LN__INLINE gm_v gm_bcast(const float *p)
{
    return ln__v4_set1(*p);
}
LN__INLINE gm_v gm_madd(gm_v a, gm_v b, gm_v c)
{
    return c + a * b;
}
LN__INLINE gm_v gm_add(gm_v a, gm_v b)
{
    return a + b;
}
LN__INLINE gm_v gm_mul(gm_v a, gm_v b)
{
    return a * b;
}
LN__INLINE void gm_gelu_n(gm_v *x, int n)
{
    _Pragma("GCC unroll 8") for (int i = 0; i < n; i++)
        x[i] = ln__gelu4(x[i]);
}
LN__INLINE gm_v gm_load_n(const float *p, int n)
{
    if (n >= GM_VW)
        return ln__v4_load(p);
    float t[GM_VW] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (n > 0)
        memcpy(t, p, (size_t)n * sizeof *t);
    return ln__v4_load(t);
}
LN__INLINE void gm_store_n(float *p, gm_v v, int n)
{
    if (n >= GM_VW) {
        ln__v4_store(p, v);
    } else if (n > 0) {
        float t[GM_VW];
        ln__v4_store(t, v);
        memcpy(p, t, (size_t)n * sizeof *t);
    }
}

#endif

#define GM_NR (GM_NV * GM_VW)
/* Input stored transposed: slices of 256 for 256 outputs in every set. */
#define LN__GEMM_KC_XT 256
#define LN__GEMM_NT_XT 256

_Static_assert(LN__GEMM_NT % GM_NR == 0 && LN__GEMM_NT_XT % GM_NR == 0, "task sizes");

/* One tile: rows 0 .. nr (<= GM_MR) by outputs 0 .. nc (<= GM_NR) of y,
 * from kc steps of the rows a[r lda + k] (read in place) and the weight
 * panel bp[k][GM_NR]. The sum starts from y (load_y) or zero, plus bias
 * when set; rows past nr repeat the last row and are not stored. */
LN__INLINE void gm_tile(int nr, int nc, size_t kc, const float *restrict a, size_t lda,
                        const float *restrict bp, float *restrict y, size_t ldy, int load_y,
                        const float *restrict bias)
{
    gm_v acc[GM_MR][GM_NV];
    const float *ar[GM_MR];
    int left[GM_NV];
    _Pragma("GCC unroll 8") for (int v = 0; v < GM_NV; v++)
    {
        const int l = nc - v * GM_VW;
        left[v] = l < 0 ? 0 : l;
    }
    _Pragma("GCC unroll 8") for (int r = 0; r < GM_MR; r++)
    {
        ar[r] = a + (size_t)(r < nr ? r : nr - 1) * lda;
        _Pragma("GCC unroll 8") for (int v = 0; v < GM_NV; v++)
        {
            acc[r][v] = load_y && r < nr ? gm_load_n(y + (size_t)r * ldy + v * GM_VW, left[v])
                                         : gm_zero();
            if (bias)
                acc[r][v] = gm_add(acc[r][v], gm_load_n(bias + v * GM_VW, left[v]));
        }
    }
    for (size_t k = 0; k < kc; k++) {
        gm_v b[GM_NV];
        _Pragma("GCC unroll 8") for (int v = 0; v < GM_NV; v++)
            b[v] = gm_load(bp + k * GM_NR + v * GM_VW);
        _Pragma("GCC unroll 8") for (int r = 0; r < GM_MR; r++)
        {
            const gm_v av = gm_bcast(ar[r] + k);
            _Pragma("GCC unroll 8") for (int v = 0; v < GM_NV; v++)
                acc[r][v] = gm_madd(av, b[v], acc[r][v]);
        }
    }
    _Pragma("GCC unroll 8") for (int r = 0; r < GM_MR; r++)
        if (r < nr)
            _Pragma("GCC unroll 8") for (int v = 0; v < GM_NV; v++)
                gm_store_n(y + (size_t)r * ldy + v * GM_VW, acc[r][v], left[v]);
}

/* The GEGLU tile (ln__gemm_geglu): the panel bp[k][GM_NR] holds GM_NR / 2
 * value columns, then the gate columns of the same outputs, so that
 * accumulators v and v + GM_NV / 2 belong to one output vector. All kc
 * steps from zero in registers, then, for rows 0 .. nr and outputs 0 ..
 * nc (<= GM_NR / 2): y[r][j] = (val + bv[j]) * gelu(gate + bg[j]), the
 * operations of ln__gemm (without bias) followed by ln__geglu_rows. */
LN__INLINE void gm_tile_geglu(int nr, int nc, size_t kc, const float *restrict a, size_t lda,
                              const float *restrict bp, float *restrict y, size_t ldy,
                              const float *restrict bv, const float *restrict bg)
{
    enum { HV = GM_NV / 2 };
    gm_v acc[GM_MR][GM_NV];
    const float *ar[GM_MR];
    int left[HV];
    _Pragma("GCC unroll 8") for (int v = 0; v < HV; v++)
    {
        const int l = nc - v * GM_VW;
        left[v] = l < 0 ? 0 : l;
    }
    _Pragma("GCC unroll 8") for (int r = 0; r < GM_MR; r++)
    {
        ar[r] = a + (size_t)(r < nr ? r : nr - 1) * lda;
        _Pragma("GCC unroll 8") for (int v = 0; v < GM_NV; v++)
            acc[r][v] = gm_zero();
    }
    for (size_t k = 0; k < kc; k++) {
        gm_v b[GM_NV];
        _Pragma("GCC unroll 8") for (int v = 0; v < GM_NV; v++)
            b[v] = gm_load(bp + k * GM_NR + v * GM_VW);
        _Pragma("GCC unroll 8") for (int r = 0; r < GM_MR; r++)
        {
            const gm_v av = gm_bcast(ar[r] + k);
            _Pragma("GCC unroll 8") for (int v = 0; v < GM_NV; v++)
                acc[r][v] = gm_madd(av, b[v], acc[r][v]);
        }
    }
    gm_v gate[GM_MR * HV];
    _Pragma("GCC unroll 8") for (int r = 0; r < GM_MR; r++)
        _Pragma("GCC unroll 8") for (int v = 0; v < HV; v++)
        {
            gate[r * HV + v] = acc[r][HV + v];
            if (bg)
                gate[r * HV + v] = gm_add(gate[r * HV + v], gm_load_n(bg + v * GM_VW, left[v]));
        }
    gm_gelu_n(gate, GM_MR * HV);
    _Pragma("GCC unroll 8") for (int r = 0; r < GM_MR; r++)
        if (r < nr)
            _Pragma("GCC unroll 8") for (int v = 0; v < HV; v++)
            {
                gm_v val = acc[r][v];
                if (bv)
                    val = gm_add(val, gm_load_n(bv + v * GM_VW, left[v]));
                gm_store_n(y + (size_t)r * ldy + v * GM_VW, gm_mul(val, gate[r * HV + v]), left[v]);
            }
}

struct ln__gemm_ctx {
    const float *x, *w, *bias;
    const float *wp; /* ln__gemm_packed: the panels of ln__gemm_pack, or NULL */
    float *y;
    float *scratch;     /* ln__gemm_thread_floats per thread (bf16: LN__GEMM_KC x LN__GEMM_NT) */
    const uint16_t *xb; /* bf16 copy of x (ln__gemm_bf16) */
    size_t rows, row_tasks, col_tasks;
    int k, ldx, xt, n, ldy, accumulate;
    int geglu; /* ln__gemm_geglu: n is the outputs' count, w has 2 n rows */
    size_t kc, nt; /* ln__gemm: the slice and block sizes of this call */
};

/* Row of w for column cc of panel j of the outputs n0 .. n0 + nt, NULL
 * past them. A GEGLU panel holds GM_NR / 2 outputs: their value rows
 * (w[o]), then their gate rows (w[n + o]). */
static inline const float *ln__gemm_w_row(const struct ln__gemm_ctx *c, size_t n0, size_t nt,
                                          size_t j, size_t cc)
{
    if (!c->geglu) {
        const size_t col = n0 + j * GM_NR + cc;
        return col < n0 + nt ? c->w + col * (size_t)c->k : NULL;
    }
    const size_t hh = GM_NR / 2, o = n0 + j * hh + cc % hh;
    if (o >= n0 + nt)
        return NULL;
    return c->w + (cc < hh ? o : (size_t)c->n + o) * (size_t)c->k;
}

#if LN__AVX512 || LN__AVX2
/* rows[r] = ln__gemm_w_row(c, n0, nt, j, cc + r) for r < n; 1 when all
 * of them exist (a whole group for the register transposes), else 0. */
static int ln__gemm_w_rows(const struct ln__gemm_ctx *c, size_t n0, size_t nt, size_t j,
                           size_t cc, int n, const float **rows)
{
    int whole = 1;
    for (int r = 0; r < n; r++) {
        rows[r] = ln__gemm_w_row(c, n0, nt, j, cc + (size_t)r);
        whole &= rows[r] != NULL;
    }
    return whole;
}
#endif

/* bp[j][kk][c] = w[n0 + j GM_NR + c][k0 + kk] for the panels of outputs
 * n0 .. n0 + nt, zero past n (GEGLU: the rows of ln__gemm_w_row). Done 16 k at a time, so that the 16 rows
 * of the panel written (GM_NR floats each) and the pieces of w read stay
 * in L1: column by column over the whole slice, every store missed it.
 * The lines of w three chunks ahead are prefetched: read 64 rows apart,
 * w's lines came late from memory (10% of the product's time). */
static void ln__gemm_pack_w(const struct ln__gemm_ctx *c, size_t n0, size_t nt, size_t k0,
                            size_t kc, float *restrict bp)
{
    const size_t per = c->geglu ? GM_NR / 2 : GM_NR, panels = (nt + per - 1) / per;
    for (size_t j = 0; j < panels; j++) {
        float *restrict p = bp + j * kc * GM_NR;
        /* Columns 0 .. cv and k 0 .. kv are done in registers. */
        size_t cv = 0, kv = 0;
#if LN__AVX512 || LN__AVX2
        /* GM_VW whole rows at a time, GM_VW k at a time along them,
         * transposed in registers GM_VW x GM_VW (the scalar loop below
         * stores each element alone; it was 4-7% of the product's time on
         * one thread). A group's rows are read from start to end, GM_VW
         * streams at once rather than all of the panel's. */
        kv = kc / 16 * 16;
        for (; kv > 0 && cv < GM_NR; cv += GM_VW) {
            const float *rows[GM_VW];
            if (!ln__gemm_w_rows(c, n0, nt, j, cv, GM_VW, rows))
                break;
            for (size_t kb = 0; kb < kv; kb += GM_VW) {
                gm_v t[GM_VW];
                _Pragma("GCC unroll 16") for (int r = 0; r < GM_VW; r++)
                    t[r] = gm_load(rows[r] + k0 + kb);
                gm_transpose(t);
                _Pragma("GCC unroll 16") for (int kk = 0; kk < GM_VW; kk++)
                    gm_store_n(p + (kb + (size_t)kk) * GM_NR + cv, t[kk], GM_VW);
            }
        }
#endif
        for (size_t kb = 0; kb < kc; kb += 16) {
            const size_t ke = kc - kb < 16 ? kc : kb + 16;
            for (size_t cc = kb < kv ? cv : 0; cc < GM_NR; cc++) {
                const float *row = ln__gemm_w_row(c, n0, nt, j, cc);
                if (row) {
                    const float *restrict wr = row + k0;
                    if (kb + 48 < kc) /* the rows of w come from memory */
                        __builtin_prefetch(wr + kb + 48);
                    for (size_t kk = kb; kk < ke; kk++)
                        p[kk * GM_NR + cc] = wr[kk];
                } else {
                    for (size_t kk = kb; kk < ke; kk++)
                        p[kk * GM_NR + cc] = 0.0f;
                }
            }
        }
    }
}

/* For input stored transposed: ap[r][kk] = x[r0 + r][k0 + kk] =
 * xt[(k0 + kk) ldx + r0 + r] for r < nr, so that the tile reads rows. */
static void ln__gemm_pack_xt(const struct ln__gemm_ctx *c, size_t r0, int nr, size_t k0,
                             size_t kc, float *restrict ap)
{
    for (size_t kk = 0; kk < kc; kk++) {
        const float *restrict xr = c->x + (k0 + kk) * (size_t)c->ldx + r0;
        for (int r = 0; r < nr; r++)
            ap[(size_t)r * c->kc + kk] = xr[r];
    }
}

/* First row of row task t: rows split evenly into row_tasks parts, at
 * multiples of GM_MR. */
static size_t ln__gemm_row0(const struct ln__gemm_ctx *c, size_t t)
{
    if (t >= c->row_tasks)
        return c->rows;
    return c->rows * t / c->row_tasks / GM_MR * GM_MR;
}

/* Row blocks for rows by col_tasks column blocks on threads threads: of
 * at most LN__GEMM_MT rows (each row block packs the weights again, and
 * they come from memory: with blocks of 768 rows the packing took about
 * a quarter more time than with 1536), a multiple of the threads where
 * the blocks keep LN__GEMM_MT_SPLIT rows or more (each thread its own
 * rows: the DESIGN comment above), then more while the tasks are fewer than four per
 * thread and do not share out evenly, down to about 64 rows a block.
 * Which task computes a row never changes its sums. */
static size_t ln__gemm_row_tasks(size_t rows, size_t col_tasks, int threads)
{
    const size_t t = threads > 1 ? (size_t)threads : 1;
    size_t r = (rows + LN__GEMM_MT - 1) / LN__GEMM_MT;
    if (rows / ((r + t - 1) / t * t) >= LN__GEMM_MT_SPLIT)
        r = (r + t - 1) / t * t;
    while (r * col_tasks < 4 * t && r * col_tasks % t != 0 && rows / (r + 1) >= 64)
        r++;
    return r;
}

/* Task t's row block (*rt) and column block (returned): row block rt
 * takes its column blocks from rt C / R on (C column blocks, R row
 * blocks), so that threads working on their own row blocks at once
 * (ln_parallel_for_split) copy different weights into their panels
 * rather than the same ones, from memory, at the same moment. */
static size_t ln__gemm_task(const struct ln__gemm_ctx *c, size_t t, size_t *rt)
{
    *rt = t / c->col_tasks;
    return (t % c->col_tasks + *rt * c->col_tasks / c->row_tasks) % c->col_tasks;
}

/* ln__gemm's scratch per thread: the weights' panels of a task, then,
 * for input stored transposed, GM_MR of its rows. */
static size_t ln__gemm_thread_floats(const struct ln__gemm_ctx *c)
{
    return c->kc * c->nt + (c->xt ? GM_MR * c->kc : 0);
}

static void ln__gemm_body(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__gemm_ctx *c = vctx;
    float *bp = c->scratch + (size_t)thread * ln__gemm_thread_floats(c);
    float *ap = bp + c->kc * c->nt; /* used only with c->xt */
    for (size_t t = begin; t < end; t++) {
        size_t rt;
        const size_t n0 = ln__gemm_task(c, t, &rt) * c->nt;
        const size_t r0 = ln__gemm_row0(c, rt), mt = ln__gemm_row0(c, rt + 1) - r0;
        const size_t nt = (size_t)c->n - n0 < c->nt ? (size_t)c->n - n0 : c->nt;
        const float *bias = c->bias ? c->bias + n0 : NULL;
        for (size_t k0 = 0; k0 < (size_t)c->k; k0 += c->kc) {
            const size_t kc = (size_t)c->k - k0 < c->kc ? (size_t)c->k - k0 : c->kc;
            const int first = k0 == 0;
            const float *wb = bp;
            if (c->wp) /* packed ahead: column block n0's slices, ln__gemm_pack's layout */
                wb = c->wp + n0 * (size_t)c->k + k0 * ((nt + GM_NR - 1) / GM_NR * GM_NR);
            else
                ln__gemm_pack_w(c, n0, nt, k0, kc, bp);
            for (size_t i = 0; i < mt; i += GM_MR) {
                const int nr = mt - i < GM_MR ? (int)(mt - i) : GM_MR;
                const float *a = ap;
                size_t lda = c->kc;
                if (c->xt)
                    ln__gemm_pack_xt(c, r0 + i, nr, k0, kc, ap);
                else {
                    a = c->x + (r0 + i) * (size_t)c->ldx + k0;
                    lda = (size_t)c->ldx;
                }
                float *yr = c->y + (r0 + i) * (size_t)c->ldy + n0;
                for (size_t j = 0; j < nt; j += GM_NR) {
                    const int nc = nt - j < GM_NR ? (int)(nt - j) : GM_NR;
                    gm_tile(nr, nc, kc, a, lda, wb + j * kc, yr + j, (size_t)c->ldy,
                            !first || c->accumulate, first && bias ? bias + j : NULL);
                }
            }
        }
        if (c->k == 0) /* no products: y = (accumulate ? y : 0) + bias */
            for (size_t i = 0; i < mt; i += GM_MR) {
                const int nr = mt - i < GM_MR ? (int)(mt - i) : GM_MR;
                float *yr = c->y + (r0 + i) * (size_t)c->ldy + n0;
                for (size_t j = 0; j < nt; j += GM_NR) {
                    const int nc = nt - j < GM_NR ? (int)(nt - j) : GM_NR;
                    gm_tile(nr, nc, 0, ap, 0, bp, yr + j, (size_t)c->ldy, c->accumulate,
                            bias ? bias + j : NULL);
                }
            }
    }
}

/* ln__gemm and ln__gemm_packed: w is read per task, or wp holds it packed. */
static void ln__gemm_run(const float *x, size_t rows, int k, int ldx, int xt, const float *w,
                         const float *wp, const float *bias, int n, float *y, int ldy,
                         int accumulate)
{
    LN_REQUIRE(k >= 0 && n >= 0 && ldy >= n && (xt ? (size_t)ldx >= rows : ldx >= k));
    if (rows == 0 || n == 0)
        return;
    const int threads = ln_threads_get();
    struct ln__gemm_ctx c = {.x = x,
                             .w = w,
                             .wp = wp,
                             .bias = bias,
                             .y = y,
                             .rows = rows,
                             .k = k,
                             .ldx = ldx,
                             .xt = xt,
                             .n = n,
                             .ldy = ldy,
                             .accumulate = accumulate};
    /* Input stored transposed is copied into rows per row group and
     * column block: there the blocks stay wide unless the weights were
     * packed ahead in the set's blocks (DESIGN "slice sizes"). A slice is
     * never longer than k. */
    c.kc = xt && !wp ? LN__GEMM_KC_XT : LN__GEMM_KC;
    c.nt = xt && !wp ? LN__GEMM_NT_XT : LN__GEMM_NT;
    if (c.kc > (size_t)k)
        c.kc = k > 0 ? (size_t)k : 1;
    c.col_tasks = ((size_t)n + c.nt - 1) / c.nt;
    c.row_tasks = ln__gemm_row_tasks(rows, c.col_tasks, threads);
    const size_t tasks = c.row_tasks * c.col_tasks;
    const int used = (size_t)threads < tasks ? threads : (int)tasks;
    c.scratch = ln_xmalloc((size_t)used * ln__gemm_thread_floats(&c) * sizeof(float));
    ln_parallel_for_split(tasks, 1, used, ln__gemm_body, &c);
    free(c.scratch);
}

void ln__gemm(const float *x, size_t rows, int k, int ldx, int xt, const float *w,
              const float *bias, int n, float *y, int ldy, int accumulate)
{
    ln__gemm_run(x, rows, k, ldx, xt, w, NULL, bias, n, y, ldy, accumulate);
}

/* Column block cb's slices at wp + cb LN__GEMM_NT k (full blocks hold
 * LN__GEMM_NT k floats), slice k0 of a block of nt outputs at k0 times
 * nt rounded up to GM_NR: the panels ln__gemm_pack_w writes for it. */
struct ln__gemm_pack_ctx {
    struct ln__gemm_ctx c;
    float *wp;
};

static void ln__gemm_pack_body(void *vctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct ln__gemm_pack_ctx *p = vctx;
    const size_t K = (size_t)p->c.k;
    for (size_t cb = begin; cb < end; cb++) {
        const size_t n0 = cb * LN__GEMM_NT;
        const size_t nt = (size_t)p->c.n - n0 < LN__GEMM_NT ? (size_t)p->c.n - n0 : LN__GEMM_NT;
        const size_t ntr = (nt + GM_NR - 1) / GM_NR * GM_NR;
        for (size_t k0 = 0; k0 < K; k0 += LN__GEMM_KC) {
            const size_t kc = K - k0 < LN__GEMM_KC ? K - k0 : LN__GEMM_KC;
            ln__gemm_pack_w(&p->c, n0, nt, k0, kc, p->wp + n0 * K + k0 * ntr);
        }
    }
}

float *ln__gemm_pack(const float *w, int k, int n)
{
    LN_REQUIRE(k >= 0 && n >= 0);
    const size_t ntr = ((size_t)n + GM_NR - 1) / GM_NR * GM_NR;
    size_t bytes;
    LN_REQUIRE(ln_size_mul3(ntr, (size_t)k, sizeof(float), &bytes) == 0);
    struct ln__gemm_pack_ctx p = {.c = {.w = w, .k = k, .n = n},
                                  .wp = ln_malloc_huge(bytes + sizeof(float))};
    if (!p.wp)
        return NULL;
    ln_parallel_for(((size_t)n + LN__GEMM_NT - 1) / LN__GEMM_NT, 1, ln__gemm_pack_body, &p);
    return p.wp;
}

void ln__gemm_packed(const float *x, size_t rows, int k, int ldx, int xt, const float *wp,
                     const float *bias, int n, float *y, int ldy, int accumulate)
{
    ln__gemm_run(x, rows, k, ldx, xt, NULL, wp, bias, n, y, ldy, accumulate);
}

/* ---------------------------------------------------------- GEGLU products */

/* Outputs per GEGLU task: 2 LN__GEGLU_NT packed columns, whose weights
 * for the whole of k (k LN__GEGLU_NT 2 floats, 256 KB at the backbone's
 * k = 1024) stay in L2 while the task's rows pass. */
#define LN__GEGLU_NT 32

_Static_assert((2 * LN__GEGLU_NT) % GM_NR == 0 && GM_NV % 2 == 0, "GEGLU task sizes");

/* A task: rows of one row block by LN__GEGLU_NT outputs. Its weights are
 * packed once for all of k, and each tile runs all of k in registers: no
 * partial sums go through memory (the same sums, in the same order, as
 * ln__gemm's slices, which store and reload them exactly). */
static void ln__gemm_geglu_body(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__gemm_ctx *c = vctx;
    const size_t K = (size_t)c->k, hh = GM_NR / 2;
    float *scratch = c->scratch + (size_t)thread * K * 2 * LN__GEGLU_NT;
    for (size_t t = begin; t < end; t++) {
        size_t rt;
        const size_t n0 = ln__gemm_task(c, t, &rt) * LN__GEGLU_NT;
        const size_t r0 = ln__gemm_row0(c, rt), mt = ln__gemm_row0(c, rt + 1) - r0;
        const size_t nt = (size_t)c->n - n0 < LN__GEGLU_NT ? (size_t)c->n - n0 : LN__GEGLU_NT;
        const size_t panels = (nt + hh - 1) / hh;
        const float *bp = scratch;
        if (c->wp) /* packed ahead: ln__gemm_geglu_pack's panels of these outputs */
            bp = c->wp + n0 * 2 * K;
        else
            ln__gemm_pack_w(c, n0, nt, 0, K, scratch);
        for (size_t i = 0; i < mt; i += GM_MR) {
            const int nr = mt - i < GM_MR ? (int)(mt - i) : GM_MR;
            const float *a = c->x + (r0 + i) * (size_t)c->ldx;
            float *yr = c->y + (r0 + i) * (size_t)c->ldy + n0;
            for (size_t j = 0; j < panels; j++) {
                const size_t o = n0 + j * hh;
                const int nc = nt - j * hh < hh ? (int)(nt - j * hh) : (int)hh;
                gm_tile_geglu(nr, nc, K, a, (size_t)c->ldx, bp + j * K * GM_NR, yr + j * hh,
                              (size_t)c->ldy, c->bias ? c->bias + o : NULL,
                              c->bias ? c->bias + (size_t)c->n + o : NULL);
            }
        }
    }
}

/* ln__gemm_geglu and ln__gemm_geglu_packed: w is packed per task, or wp
 * holds it packed. */
static void ln__gemm_geglu_run(const float *x, size_t rows, int k, int ldx, const float *w,
                               const float *wp, const float *bias, int half, float *y, int ldy)
{
    LN_REQUIRE(k >= 0 && half >= 0 && ldy >= half && ldx >= k);
    if (rows == 0 || half == 0)
        return;
    const int threads = ln_threads_get();
    struct ln__gemm_ctx c = {.x = x,
                             .w = w,
                             .wp = wp,
                             .bias = bias,
                             .y = y,
                             .rows = rows,
                             .k = k,
                             .ldx = ldx,
                             .n = half,
                             .ldy = ldy,
                             .geglu = 1};
    c.col_tasks = ((size_t)half + LN__GEGLU_NT - 1) / LN__GEGLU_NT;
    c.row_tasks = ln__gemm_row_tasks(rows, c.col_tasks, threads);
    const size_t tasks = c.row_tasks * c.col_tasks;
    const int used = (size_t)threads < tasks ? threads : (int)tasks;
    const size_t per = wp ? 0 : (size_t)k * 2 * LN__GEGLU_NT;
    c.scratch = ln_xmalloc(((size_t)used * per + 1) * sizeof(float));
    ln_parallel_for_split(tasks, 1, used, ln__gemm_geglu_body, &c);
    free(c.scratch);
}

void ln__gemm_geglu(const float *x, size_t rows, int k, int ldx, const float *w, const float *bias,
                    int half, float *y, int ldy)
{
    ln__gemm_geglu_run(x, rows, k, ldx, w, NULL, bias, half, y, ldy);
}

/* Each task's LN__GEGLU_NT outputs: their panels for all of k, as
 * ln__gemm_geglu_body packs them, at wp + n0 2 k (a full task's panels
 * hold 2 LN__GEGLU_NT k floats; LN__GEGLU_NT is a multiple of the panels'
 * GM_NR / 2 outputs). */
static void ln__gemm_geglu_pack_body(void *vctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const struct ln__gemm_pack_ctx *p = vctx;
    const size_t K = (size_t)p->c.k;
    for (size_t b = begin; b < end; b++) {
        const size_t n0 = b * LN__GEGLU_NT;
        const size_t nt = (size_t)p->c.n - n0 < LN__GEGLU_NT ? (size_t)p->c.n - n0 : LN__GEGLU_NT;
        ln__gemm_pack_w(&p->c, n0, nt, 0, K, p->wp + n0 * 2 * K);
    }
}

_Static_assert(LN__GEGLU_NT % (GM_NR / 2) == 0, "GEGLU tasks start on a panel");

float *ln__gemm_geglu_pack(const float *w, int k, int half)
{
    LN_REQUIRE(k >= 0 && half >= 0);
    const size_t hh = GM_NR / 2, outs = ((size_t)half + hh - 1) / hh * hh;
    size_t bytes;
    LN_REQUIRE(ln_size_mul3(2 * outs, (size_t)k, sizeof(float), &bytes) == 0);
    struct ln__gemm_pack_ctx p = {.c = {.w = w, .k = k, .n = half, .geglu = 1},
                                  .wp = ln_malloc_huge(bytes + sizeof(float))};
    if (!p.wp)
        return NULL;
    ln_parallel_for(((size_t)half + LN__GEGLU_NT - 1) / LN__GEGLU_NT, 1, ln__gemm_geglu_pack_body,
                    &p);
    return p.wp;
}

void ln__gemm_geglu_packed(const float *x, size_t rows, int k, int ldx, const float *wp,
                           const float *bias, int half, float *y, int ldy)
{
    ln__gemm_geglu_run(x, rows, k, ldx, NULL, wp, bias, half, y, ldy);
}

/* ------------------------------------------------------------ bf16 products */

#if LN__AVX512
/* The same product with x and w rounded to bfloat16 (round to nearest
 * even) and products summed in float32 by AVX512_BF16's vdpbf16ps, two k
 * per instruction: tiles of GM_MR rows x 64 outputs as above, the weights
 * packed per slice as pairs ([k/2][64][2] bf16), x converted once per
 * call (rows of k rounded up to even) and its pairs broadcast. Rounding is
 * vcvtneps2bf16's (to nearest even; denormal inputs count as zero) for
 * full vectors, ln__bf16_1's for the rest. Each output's sum: bias (or y), then
 * pairs of k in order, so the same for any thread count. */
#define LN__BF16 __attribute__((target("avx512f,avx512bw,avx512bf16")))

static inline uint16_t ln__bf16_1(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN stays a quiet NaN */
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* bp[kp][c][2] = (w[n0 + c][k0 + 2 kp], w[..][k0 + 2 kp + 1]) for 64
 * outputs c of each panel, zero past nt and past kc (GEGLU: the rows of
 * ln__gemm_w_row). */
LN__BF16 static void ln__gemm_pack_w_bf16(const struct ln__gemm_ctx *c, size_t n0, size_t nt,
                                          size_t k0, size_t kc, uint16_t *restrict bp)
{
    const size_t per = c->geglu ? GM_NR / 2 : GM_NR, panels = (nt + per - 1) / per;
    const size_t kp = (kc + 1) / 2;
    for (size_t j = 0; j < panels; j++) {
        uint16_t *restrict p = bp + j * kp * 2 * GM_NR;
        /* Whole groups of 16 rows by 32 k: each row's 16 pairs are one
         * vector of 32-bit lanes, and 16 rows of them are transposed in
         * registers (ln__gemm_pack_w's way); columns 0 .. cv and k 0 .. kv
         * are done so. */
        size_t cv = 0;
        const size_t kv = kc / 32 * 32;
        for (; kv > 0 && cv < GM_NR; cv += 16) {
            const float *rows[16];
            if (!ln__gemm_w_rows(c, n0, nt, j, cv, 16, rows))
                break;
            for (size_t kb = 0; kb < kv; kb += 32) {
                __m512 t[16];
                _Pragma("GCC unroll 16") for (int r = 0; r < 16; r++)
                {
                    const float *wr = rows[r] + k0 + kb;
                    t[r] = _mm512_castsi512_ps((__m512i)_mm512_cvtne2ps_pbh(
                        _mm512_loadu_ps(wr + 16), _mm512_loadu_ps(wr)));
                }
                ln__transpose16(t);
                _Pragma("GCC unroll 16") for (int q = 0; q < 16; q++)
                    _mm512_storeu_ps((float *)(p + (kb / 2 + (size_t)q) * 2 * GM_NR + 2 * cv),
                                     t[q]);
            }
        }
        for (size_t kb = 0; kb < 2 * kp; kb += 32) { /* 16 pairs at a time, as above */
            const size_t ke = 2 * kp - kb < 32 ? 2 * kp : kb + 32;
            for (size_t cc = kb < kv ? cv : 0; cc < GM_NR; cc++) {
                const float *row = ln__gemm_w_row(c, n0, nt, j, cc);
                uint16_t t[32];
                if (row) {
                    const float *restrict wr = row + k0;
                    if (kb + 96 < kc)
                        __builtin_prefetch(wr + kb + 96);
                    if (kb + 32 <= kc) {
                        _mm256_storeu_si256((__m256i *)t,
                                            (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(wr + kb)));
                        _mm256_storeu_si256(
                            (__m256i *)(t + 16),
                            (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(wr + kb + 16)));
                    } else {
                        for (size_t kk = kb; kk < ke; kk++)
                            t[kk - kb] = kk < kc ? ln__bf16_1(wr[kk]) : 0;
                    }
                } else {
                    memset(t, 0, sizeof t);
                }
                for (size_t kk = kb; kk < ke; kk += 2)
                    memcpy(p + (kk / 2) * 2 * GM_NR + 2 * cc, t + (kk - kb), 2 * sizeof *t);
            }
        }
    }
}

/* The k-loop of both bfloat16 tiles: acc[r][v] gains, for each of the kp
 * pairs, row r's pair of a (ar[r]) times vector v of the panel bp. Inlined,
 * so that acc stays in registers. */
LN__BF16 static inline __attribute__((always_inline)) void
ln__bf16_pairs(__m512 acc[GM_MR][GM_NV], const uint16_t *const ar[GM_MR],
               const uint16_t *restrict bp, size_t kp)
{
    for (size_t k = 0; k < kp; k++) {
        __m512i b[GM_NV];
        _Pragma("GCC unroll 8") for (int v = 0; v < GM_NV; v++)
            b[v] = _mm512_loadu_si512(bp + (k * GM_NR + (size_t)v * GM_VW) * 2);
        _Pragma("GCC unroll 8") for (int r = 0; r < GM_MR; r++)
        {
            int32_t pair;
            memcpy(&pair, ar[r] + 2 * k, sizeof pair);
            const __m512i av = _mm512_set1_epi32(pair);
            _Pragma("GCC unroll 8") for (int v = 0; v < GM_NV; v++)
                acc[r][v] = _mm512_dpbf16_ps(acc[r][v], (__m512bh)av, (__m512bh)b[v]);
        }
    }
}

LN__BF16 static void ln__gemm_tile_bf16(int nr, int nc, size_t kp, const uint16_t *restrict a,
                                        size_t lda, const uint16_t *restrict bp,
                                        float *restrict y, size_t ldy, int load_y,
                                        const float *restrict bias)
{
    __m512 acc[GM_MR][GM_NV];
    const uint16_t *ar[GM_MR];
    for (int r = 0; r < GM_MR; r++)
        ar[r] = a + (size_t)(r < nr ? r : nr - 1) * lda;
    __mmask16 mk[GM_NV];
    for (int v = 0; v < GM_NV; v++) {
        const int l = nc - v * GM_VW;
        mk[v] = l >= GM_VW ? (__mmask16)0xffff : l > 0 ? (__mmask16)((1u << l) - 1u) : 0;
    }
    _Pragma("GCC unroll 8") for (int r = 0; r < GM_MR; r++)
        _Pragma("GCC unroll 8") for (int v = 0; v < GM_NV; v++)
        {
            acc[r][v] = load_y && r < nr
                            ? _mm512_maskz_loadu_ps(mk[v], y + (size_t)r * ldy + v * GM_VW)
                            : _mm512_setzero_ps();
            if (bias)
                acc[r][v] = _mm512_add_ps(acc[r][v], _mm512_maskz_loadu_ps(mk[v], bias + v * GM_VW));
        }
    ln__bf16_pairs(acc, ar, bp, kp);
    _Pragma("GCC unroll 8") for (int r = 0; r < GM_MR; r++)
        if (r < nr)
            _Pragma("GCC unroll 8") for (int v = 0; v < GM_NV; v++)
                _mm512_mask_storeu_ps(y + (size_t)r * ldy + v * GM_VW, mk[v], acc[r][v]);
}

/* The GEGLU tile in bfloat16 (ln__gemm_bf16_geglu): accumulators from
 * zero over all kp pairs, then the epilogue of gm_tile_geglu; mk the lanes
 * of the two value (and gate) vectors that are outputs. */
LN__BF16 static void ln__gemm_tile_bf16_geglu(int nr, int nc, size_t kp,
                                              const uint16_t *restrict a, size_t lda,
                                              const uint16_t *restrict bp, float *restrict y,
                                              size_t ldy, const float *restrict bv,
                                              const float *restrict bg)
{
    enum { HV = GM_NV / 2 };
    __m512 acc[GM_MR][GM_NV];
    const uint16_t *ar[GM_MR];
    for (int r = 0; r < GM_MR; r++)
        ar[r] = a + (size_t)(r < nr ? r : nr - 1) * lda;
    __mmask16 mk[HV];
    for (int v = 0; v < HV; v++) {
        const int l = nc - v * GM_VW;
        mk[v] = l >= GM_VW ? (__mmask16)0xffff : l > 0 ? (__mmask16)((1u << l) - 1u) : 0;
    }
    _Pragma("GCC unroll 8") for (int r = 0; r < GM_MR; r++)
        _Pragma("GCC unroll 8") for (int v = 0; v < GM_NV; v++)
            acc[r][v] = _mm512_setzero_ps();
    ln__bf16_pairs(acc, ar, bp, kp);
    _Pragma("GCC unroll 8") for (int r = 0; r < GM_MR; r++)
        if (r < nr)
            _Pragma("GCC unroll 8") for (int v = 0; v < HV; v++)
            {
                __m512 val = acc[r][v], gate = acc[r][HV + v];
                if (bg)
                    gate = _mm512_add_ps(gate, _mm512_maskz_loadu_ps(mk[v], bg + v * GM_VW));
                if (bv)
                    val = _mm512_add_ps(val, _mm512_maskz_loadu_ps(mk[v], bv + v * GM_VW));
                _mm512_mask_storeu_ps(y + (size_t)r * ldy + v * GM_VW, mk[v],
                                      _mm512_mul_ps(val, ln__gelu16(gate)));
            }
}

/* The bf16 copy of x, once per call: xb[r][kk] = bf16(x[r][kk]), rows
 * of kpad (k rounded up to even, the pad zero). Per tile, as the float32
 * product reads x, the conversion was done once per 256 outputs (11% of
 * the time). */
struct ln__bf16_x_ctx {
    const float *x;
    uint16_t *xb;
    size_t k, ldx, kpad;
};

LN__BF16 static void ln__bf16_x_body(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__bf16_x_ctx *c = vctx;
    for (size_t r = begin; r < end; r++) {
        const float *restrict xr = c->x + r * c->ldx;
        uint16_t *restrict o = c->xb + r * c->kpad;
        size_t kk = 0;
        for (; kk + 16 <= c->k; kk += 16)
            _mm256_storeu_si256((__m256i *)(o + kk),
                                (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(xr + kk)));
        for (; kk < c->k; kk++)
            o[kk] = ln__bf16_1(xr[kk]);
        if (c->kpad > c->k)
            o[c->k] = 0;
    }
}

LN__BF16 static void ln__gemm_bf16_body(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__gemm_ctx *c = vctx;
    uint16_t *bp = (uint16_t *)(c->scratch + (size_t)thread * LN__GEMM_KC * LN__GEMM_NT);
    const uint16_t *xb = c->xb;
    const size_t kpad = ((size_t)c->k + 1) / 2 * 2;
    for (size_t t = begin; t < end; t++) {
        size_t rt;
        const size_t n0 = ln__gemm_task(c, t, &rt) * LN__GEMM_NT;
        const size_t r0 = ln__gemm_row0(c, rt), mt = ln__gemm_row0(c, rt + 1) - r0;
        const size_t nt = (size_t)c->n - n0 < LN__GEMM_NT ? (size_t)c->n - n0 : LN__GEMM_NT;
        const float *bias = c->bias ? c->bias + n0 : NULL;
        for (size_t k0 = 0; k0 < (size_t)c->k; k0 += LN__GEMM_KC) {
            const size_t kc = (size_t)c->k - k0 < LN__GEMM_KC ? (size_t)c->k - k0 : LN__GEMM_KC;
            const size_t kp = (kc + 1) / 2;
            const int first = k0 == 0;
            ln__gemm_pack_w_bf16(c, n0, nt, k0, kc, bp);
            for (size_t i = 0; i < mt; i += GM_MR) {
                const int nr = mt - i < GM_MR ? (int)(mt - i) : GM_MR;
                const uint16_t *a = xb + (r0 + i) * kpad + k0;
                float *yr = c->y + (r0 + i) * (size_t)c->ldy + n0;
                for (size_t j = 0; j < nt; j += GM_NR) {
                    const int nc = nt - j < GM_NR ? (int)(nt - j) : GM_NR;
                    ln__gemm_tile_bf16(nr, nc, kp, a, kpad, bp + j * kp * 2, yr + j,
                                       (size_t)c->ldy, !first || c->accumulate,
                                       first && bias ? bias + j : NULL);
                }
            }
        }
    }
}
#endif

#if LN__AVX512
/* The GEGLU tasks of ln__gemm_geglu_body on the bf16 copy of x: each
 * task's weights packed as pairs for all of k, each tile all of k in
 * registers. */
LN__BF16 static void ln__gemm_bf16_geglu_body(void *vctx, size_t begin, size_t end, int thread)
{
    const struct ln__gemm_ctx *c = vctx;
    const size_t K = (size_t)c->k, kp = (K + 1) / 2, hh = GM_NR / 2;
    uint16_t *bp = (uint16_t *)(c->scratch + (size_t)thread * kp * 2 * LN__GEGLU_NT);
    for (size_t t = begin; t < end; t++) {
        size_t rt;
        const size_t n0 = ln__gemm_task(c, t, &rt) * LN__GEGLU_NT;
        const size_t r0 = ln__gemm_row0(c, rt), mt = ln__gemm_row0(c, rt + 1) - r0;
        const size_t nt = (size_t)c->n - n0 < LN__GEGLU_NT ? (size_t)c->n - n0 : LN__GEGLU_NT;
        const size_t panels = (nt + hh - 1) / hh;
        ln__gemm_pack_w_bf16(c, n0, nt, 0, K, bp);
        for (size_t i = 0; i < mt; i += GM_MR) {
            const int nr = mt - i < GM_MR ? (int)(mt - i) : GM_MR;
            const uint16_t *a = c->xb + (r0 + i) * 2 * kp;
            float *yr = c->y + (r0 + i) * (size_t)c->ldy + n0;
            for (size_t j = 0; j < panels; j++) {
                const size_t o = n0 + j * hh;
                const int nc = nt - j * hh < hh ? (int)(nt - j * hh) : (int)hh;
                ln__gemm_tile_bf16_geglu(nr, nc, kp, a, 2 * kp, bp + j * kp * 2 * GM_NR,
                                         yr + j * hh, (size_t)c->ldy, c->bias ? c->bias + o : NULL,
                                         c->bias ? c->bias + (size_t)c->n + o : NULL);
            }
        }
    }
}
#endif

#if LN__AVX512
/* The bf16 products' driver: x converted to bf16 pairs once (rows of k
 * rounded up to even), then the tasks, each thread with the panel scratch
 * its body packs into: pairs of all of k for 2 LN__GEGLU_NT gated columns,
 * or of one k slice for LN__GEMM_NT columns. */
static int ln__gemm_bf16_run(struct ln__gemm_ctx *c)
{
    if (!__builtin_cpu_supports("avx512bf16"))
        return LN_EINVAL;
    if (c->rows == 0 || c->n == 0)
        return 0;
    const size_t nt = c->geglu ? LN__GEGLU_NT : LN__GEMM_NT;
    const int threads = ln_threads_get();
    c->col_tasks = ((size_t)c->n + nt - 1) / nt;
    c->row_tasks = ln__gemm_row_tasks(c->rows, c->col_tasks, threads);
    const size_t tasks = c->row_tasks * c->col_tasks;
    const int used = (size_t)threads < tasks ? threads : (int)tasks;
    const size_t kpad = ((size_t)c->k + 1) / 2 * 2;
    size_t xbytes;
    if (ln_size_mul(c->rows, kpad * sizeof(uint16_t), &xbytes) < 0)
        return LN_ENOMEM;
    uint16_t *xb = ln_malloc(xbytes);
    if (!xb)
        return LN_ENOMEM;
    struct ln__bf16_x_ctx xc = {c->x, xb, (size_t)c->k, (size_t)c->ldx, kpad};
    ln_parallel_for_split(c->rows, 64, 0, ln__bf16_x_body, &xc);
    c->xb = xb;
    /* halves: kpad * 2 LN__GEGLU_NT, or (KC + 1) / 2 * 2 * NT <= KC * NT floats */
    const size_t per_thread = c->geglu ? kpad * LN__GEGLU_NT : (size_t)LN__GEMM_KC * LN__GEMM_NT;
    c->scratch = ln_xmalloc((size_t)used * per_thread * sizeof(float));
    ln_parallel_for_split(tasks, 1, used, c->geglu ? ln__gemm_bf16_geglu_body : ln__gemm_bf16_body,
                          c);
    free(c->scratch);
    free(xb);
    return 0;
}
#endif

int ln__gemm_bf16_geglu(const float *x, size_t rows, int k, int ldx, const float *w,
                        const float *bias, int half, float *y, int ldy)
{
#if LN__AVX512
    LN_REQUIRE(k > 0 && half >= 0 && ldy >= half && ldx >= k);
    struct ln__gemm_ctx c = {.x = x,
                             .w = w,
                             .bias = bias,
                             .y = y,
                             .rows = rows,
                             .k = k,
                             .ldx = ldx,
                             .n = half,
                             .ldy = ldy,
                             .geglu = 1};
    return ln__gemm_bf16_run(&c);
#else
    (void)x, (void)rows, (void)k, (void)ldx, (void)w, (void)bias, (void)half, (void)y, (void)ldy;
    return LN_EINVAL;
#endif
}

int ln__gemm_bf16(const float *x, size_t rows, int k, int ldx, const float *w, const float *bias,
                  int n, float *y, int ldy, int accumulate)
{
#if LN__AVX512
    LN_REQUIRE(k > 0 && n >= 0 && ldy >= n && ldx >= k);
    struct ln__gemm_ctx c = {.x = x,
                             .w = w,
                             .bias = bias,
                             .y = y,
                             .rows = rows,
                             .k = k,
                             .ldx = ldx,
                             .n = n,
                             .ldy = ldy,
                             .accumulate = accumulate};
    return ln__gemm_bf16_run(&c);
#else
    (void)x, (void)rows, (void)k, (void)ldx, (void)w, (void)bias, (void)n, (void)y, (void)ldy,
        (void)accumulate;
    return LN_EINVAL;
#endif
}
