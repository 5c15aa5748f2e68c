/*
 * The CPU's kernel sets. One build runs on any CPU of its architecture:
 * the network's hot code is compiled once per kernel set (src/nn), and the
 * widest set this CPU and its operating system support is chosen once, at
 * the first call here. LN_CPU=baseline|avx2|avx512 in the environment
 * forces a lower set (for tests and comparisons); a set the CPU lacks is
 * refused with a warning, and the widest it has is used.
 *
 *     printf("kernels: %s\n", ln_cpu_set_name(ln_cpu_selected()));
 *
 * x86-64: avx512 is AVX-512 F, DQ, BW and VL with AVX2, FMA, BMI1/2;
 * avx2 is AVX2, FMA, BMI1/2; baseline is plain x86-64 (SSE2), whose
 * kernels are 4-wide vector forms. Other architectures have baseline
 * only (on aarch64 those 4-wide forms are NEON).
 */
#ifndef LN_CPU_H
#define LN_CPU_H

enum ln_cpu_set {
    LN_CPU_BASELINE,
    LN_CPU_AVX2,
    LN_CPU_AVX512,
    LN_CPU_SET_COUNT,
};

/* The widest set this CPU supports. */
enum ln_cpu_set ln_cpu_best(void);
/* The set in use: ln_cpu_best(), or the lower one LN_CPU asks for. Fixed
 * at the first call (thread-safe). */
enum ln_cpu_set ln_cpu_selected(void);
/* Whether this CPU can run `set`. */
int ln_cpu_supports(enum ln_cpu_set set);
/* "baseline", "avx2", "avx512". */
const char *ln_cpu_set_name(enum ln_cpu_set set);
/* Parses a set's name; -1 if unknown. */
int ln_cpu_set_parse(const char *s);
/* The architecture this build is for: "x86-64", "aarch64", ... */
const char *ln_cpu_arch(void);

#endif
