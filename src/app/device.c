/*
 * --device of generate and serve (LUNAR_NOVA_DEVICE for serve): which
 * processor computes the network (docs/vulkan.md); and --precision, the
 * arithmetic it uses (docs/TRIPOSR.md). Checked with the other
 * flags, so a typo is a usage error before anything starts; selected once
 * logging is set up, so the one line that says which device and why goes
 * where the operator looks.
 */
#include <stdio.h>

#include "app.h"
#include "ln_gpu.h"
#include "ln_triposr.h"

int ln_app_device_check(const char *text, const char *from)
{
    struct ln_gpu_choice c;
    struct ln_error err = {0};
    if (ln_gpu_choice_parse(text, &c, &err) == 0)
        return 0;
    fprintf(stderr, "lunar-nova: %s: %s\n", from, err.message);
    return -1;
}

int ln_app_device_select(const char *text, int quiet_cpu, struct ln_error *err)
{
    struct ln_gpu_choice c;
    int rc = ln_gpu_choice_parse(text ? text : "auto", &c, err);
    c.quiet_cpu = quiet_cpu;
    if (rc == 0)
        rc = ln_gpu_select(&c, err);
    if (rc < 0)
        ln_error_prefix(err, "--device");
    return rc;
}

int ln_app_precision_set(const char *text, const char *from)
{
    struct ln_error err = {0};
    if (ln_triposr_set_precision(text, &err) == 0)
        return 0;
    fprintf(stderr, "lunar-nova: %s: %s\n", from, err.message);
    return -1;
}

void ln_app_device_release(void)
{
    ln_gpu_shutdown();
}
