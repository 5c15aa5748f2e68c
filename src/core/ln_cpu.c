/*
 * Kernel set detection (see ln_cpu.h). __builtin_cpu_supports reads CPUID
 * and, for AVX and AVX-512, whether the operating system saves their
 * registers (XGETBV), so a set reported here can run.
 */
#include "ln_cpu.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ln_log.h"

static const char *const ln__set_names[LN_CPU_SET_COUNT] = {"baseline", "avx2", "avx512"};

const char *ln_cpu_set_name(enum ln_cpu_set set)
{
    return (unsigned)set < LN_CPU_SET_COUNT ? ln__set_names[set] : "unknown";
}

int ln_cpu_set_parse(const char *s)
{
    for (int i = 0; i < LN_CPU_SET_COUNT; i++)
        if (s && strcmp(s, ln__set_names[i]) == 0)
            return i;
    return -1;
}

const char *ln_cpu_arch(void)
{
#if defined(__x86_64__)
    return "x86-64";
#elif defined(__aarch64__)
    return "aarch64";
#elif defined(__i386__)
    return "x86";
#else
    return "other";
#endif
}

int ln_cpu_supports(enum ln_cpu_set set)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                     __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
    switch (set) {
    case LN_CPU_BASELINE:
        return 1;
    case LN_CPU_AVX2:
        return avx2;
    case LN_CPU_AVX512:
        return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    default:
        return 0;
    }
#else
    return set == LN_CPU_BASELINE;
#endif
}

enum ln_cpu_set ln_cpu_best(void)
{
    for (int s = LN_CPU_SET_COUNT - 1; s > 0; s--)
        if (ln_cpu_supports((enum ln_cpu_set)s))
            return (enum ln_cpu_set)s;
    return LN_CPU_BASELINE;
}

static pthread_once_t ln__cpu_once = PTHREAD_ONCE_INIT;
static enum ln_cpu_set ln__cpu_set;

static void ln__cpu_choose(void)
{
    const enum ln_cpu_set best = ln_cpu_best();
    ln__cpu_set = best;
    const char *want = getenv("LN_CPU");
    if (!want || !*want)
        return;
    const int s = ln_cpu_set_parse(want);
    if (s < 0)
        ln_log_warn("LN_CPU=%s is not a kernel set (baseline, avx2 or avx512): using %s", want,
                    ln_cpu_set_name(best));
    else if (!ln_cpu_supports((enum ln_cpu_set)s))
        ln_log_warn("LN_CPU=%s: this CPU cannot run those kernels: using %s", want,
                    ln_cpu_set_name(best));
    else
        ln__cpu_set = (enum ln_cpu_set)s;
}

enum ln_cpu_set ln_cpu_selected(void)
{
    pthread_once(&ln__cpu_once, ln__cpu_choose);
    return ln__cpu_set;
}
