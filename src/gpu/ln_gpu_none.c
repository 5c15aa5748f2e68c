/*
 * The GPU floor of a build without Vulkan (-DLN_VULKAN=OFF): the same
 * interface (ln_gpu.h), with the CPU always in charge. auto and cpu select
 * the CPU; naming a Vulkan device is an error that says why.
 */
#include "ln_gpu.h"

#include <string.h>

#include "ln_log.h"

int ln_gpu_choice_parse(const char *text, struct ln_gpu_choice *out, struct ln_error *err)
{
    memset(out, 0, sizeof *out);
    if (strcmp(text, "auto") == 0 || strcmp(text, "cpu") == 0) {
        out->kind = text[0] == 'a' ? LN_GPU_KIND_AUTO : LN_GPU_KIND_CPU;
        return 0;
    }
    if (strncmp(text, "vulkan", 6) == 0) {
        out->kind = LN_GPU_KIND_VULKAN;
        return 0;
    }
    return ln_error_set(err, LN_EINVAL, "device wants cpu, auto, vulkan or vulkan:N (got '%.40s')",
                        text);
}

static const char *g_reason = "not chosen yet"; /* ln_gpu_current_reason */

int ln_gpu_select(const struct ln_gpu_choice *choice, struct ln_error *err)
{
    if (choice->kind == LN_GPU_KIND_VULKAN)
        return ln_error_set(err, LN_EUNUSABLE,
                            "this build of lunar-nova has no Vulkan support (LN_VULKAN=OFF)");
    g_reason = choice->kind == LN_GPU_KIND_CPU ? "asked for" : "auto: built without Vulkan";
    ln_log(choice->quiet_cpu ? LN_LOG_LEVEL_DEBUG : LN_LOG_LEVEL_INFO, "device: cpu (%s)",
           g_reason);
    return 0;
}

struct ln_gpu *ln_gpu_current(void)
{
    return NULL;
}

const char *ln_gpu_current_name(void)
{
    return "cpu";
}

const char *ln_gpu_current_reason(void)
{
    return g_reason;
}

void ln_gpu_shutdown(void) {}

void ln_gpu_on_release(void (*fn)(void))
{
    (void)fn;
}

int ln_gpu_list(char *buf, size_t size)
{
    if (size)
        buf[0] = 0;
    return 0;
}

void ln_gpu_info(const struct ln_gpu *gpu, struct ln_gpu_info *out)
{
    memset(out, 0, sizeof *out);
}

int ln_gpu_budget_check(const struct ln_gpu *gpu, size_t bytes, const char *what,
                        struct ln_error *err)
{
    return ln_error_set(err, LN_EUNUSABLE, "no GPU in this build");
}

int ln_gpu_validation_messages(int *active)
{
    if (active)
        *active = 0;
    return 0;
}

int ln_gpu_buffer_new(struct ln_gpu *gpu, size_t bytes, const char *what,
                      struct ln_gpu_buffer **out, struct ln_error *err)
{
    *out = NULL;
    return ln_error_set(err, LN_EUNUSABLE, "no GPU in this build");
}

void ln_gpu_buffer_free(struct ln_gpu_buffer *buf) {}

size_t ln_gpu_buffer_size(const struct ln_gpu_buffer *buf)
{
    return 0;
}

int ln_gpu_buffer_write(struct ln_gpu_buffer *buf, size_t offset, const void *data, size_t bytes,
                        struct ln_error *err)
{
    return ln_error_set(err, LN_EUNUSABLE, "no GPU in this build");
}

int ln_gpu_buffer_read(struct ln_gpu_buffer *buf, size_t offset, void *data, size_t bytes,
                       struct ln_error *err)
{
    return ln_error_set(err, LN_EUNUSABLE, "no GPU in this build");
}

int ln_gpu_kernel_new(struct ln_gpu *gpu, const uint32_t *spirv, size_t spirv_bytes, int n_buffers,
                      size_t push_bytes, const uint32_t *spec, int n_spec,
                      struct ln_gpu_kernel **out, struct ln_error *err)
{
    *out = NULL;
    return ln_error_set(err, LN_EUNUSABLE, "no GPU in this build");
}

void ln_gpu_kernel_free(struct ln_gpu_kernel *k) {}

int ln_gpu_sgemm(struct ln_gpu *gpu, int M, int N, int K, struct ln_gpu_buffer *A,
                 struct ln_gpu_buffer *B, int trans_b, struct ln_gpu_buffer *bias,
                 struct ln_gpu_buffer *C, struct ln_error *err)
{
    return ln_error_set(err, LN_EUNUSABLE, "no GPU in this build");
}

int ln_gpu_sgemm_ex(struct ln_gpu *gpu, int M, int N, int K, struct ln_gpu_buffer *A, int lda,
                    struct ln_gpu_buffer *B, int trans_b, struct ln_gpu_buffer *bias,
                    struct ln_gpu_buffer *C, int accumulate, struct ln_error *err)
{
    return ln_error_set(err, LN_EUNUSABLE, "no GPU in this build");
}

int ln_gpu_attention(struct ln_gpu *gpu, struct ln_gpu_buffer *q, int ldq, struct ln_gpu_buffer *k,
                     int ldk, struct ln_gpu_buffer *v, int ldv, int nq, int nk, int heads, int hd,
                     struct ln_gpu_buffer *out, int ldo, struct ln_error *err)
{
    return ln_error_set(err, LN_EUNUSABLE, "no GPU in this build");
}

int ln_gpu_batch_begin(struct ln_gpu *gpu, struct ln_error *err)
{
    return ln_error_set(err, LN_EUNUSABLE, "no GPU in this build");
}

int ln_gpu_batch_end(struct ln_gpu *gpu, struct ln_error *err)
{
    return ln_error_set(err, LN_EUNUSABLE, "no GPU in this build");
}

int ln_gpu_dispatch(struct ln_gpu_kernel *k, struct ln_gpu_buffer *const *buffers, int n_buffers,
                    const void *push, uint32_t groups_x, uint32_t groups_y, uint32_t groups_z,
                    struct ln_error *err)
{
    return ln_error_set(err, LN_EUNUSABLE, "no GPU in this build");
}

