/*
 * For the tests that run once per kernel set (tests/CMakeLists.txt
 * registers them again with LN_CPU=avx2 and LN_CPU=baseline): a set this
 * CPU cannot run is a skip (exit 77, counted as skipped by ctest), never a
 * silent run of another set; otherwise the set in use is printed.
 */
#ifndef LN_TEST_CPU_H
#define LN_TEST_CPU_H

#include <stdio.h>
#include <stdlib.h>

#include "ln_cpu.h"

static inline void ln_test_kernel_set_or_skip(void)
{
    const char *want = getenv("LN_CPU");
    if (want && *want) {
        const int s = ln_cpu_set_parse(want);
        if (s < 0 || !ln_cpu_supports((enum ln_cpu_set)s)) {
            printf("skipped: this CPU cannot run the %s kernels\n", want);
            exit(77);
        }
    }
    printf("kernel set: %s (this CPU's widest: %s)\n", ln_cpu_set_name(ln_cpu_selected()),
           ln_cpu_set_name(ln_cpu_best()));
}

#endif
