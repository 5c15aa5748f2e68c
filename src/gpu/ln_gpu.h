/*
 * The GPU floor: one Vulkan compute device for the process, storage
 * buffers on it and compute kernels (SPIR-V) dispatched over them. It sees
 * only core; nn calls it for the stages that run on the GPU, and the CPU
 * path stays the reference everything here is tested against
 * (docs/vulkan.md). The Vulkan loader is opened at run time (volk), so the
 * program starts and runs on the CPU on a machine with no Vulkan at all.
 *
 *     struct ln_gpu_choice c;
 *     ln_gpu_choice_parse("auto", &c, &err);   // cpu | auto | vulkan[:N]
 *     ln_gpu_select(&c, &err);                 // logs which device and why
 *     struct ln_gpu *gpu = ln_gpu_current();   // NULL: the CPU computes
 *     if (gpu) {
 *         ln_gpu_buffer_new(gpu, bytes, "points", &buf, &err);
 *         ln_gpu_buffer_write(buf, 0, data, bytes, &err);
 *         ln_gpu_kernel_new(gpu, spirv, spirv_bytes, 4, 16, spec, 2, &k, &err);
 *         ln_gpu_dispatch(k, bufs, 4, &push, groups, 1, 1, &err);
 *     }
 *
 * Threads: ln_gpu_select and ln_gpu_shutdown run while no other thread
 * uses the floor (start-up, exit). After that the device, buffers and
 * kernels may be used from any thread: submissions to the one queue are
 * serialised inside (a dispatch waits for its own completion), and a
 * buffer is written and read by one caller at a time (its owner's lock).
 *
 * Memory: every buffer is counted against the budget, the device-local
 * heap's size (or LN_GPU_MEMORY_LIMIT bytes when set lower), and a request
 * past it fails with LN_ENOMEM and a line that says how much was asked,
 * in use and available, before Vulkan is asked for anything. Buffers are
 * copied with memcpy where device memory is host-visible, else through a
 * staging buffer (LN_GPU_STAGING=1 forces the latter, for tests).
 */
#ifndef LN_GPU_H
#define LN_GPU_H

#include <stddef.h>
#include <stdint.h>

#include "ln_error.h"

enum ln_gpu_kind {
    LN_GPU_KIND_AUTO,   /* the first discrete GPU with enough memory, else the CPU */
    LN_GPU_KIND_CPU,    /* never touch Vulkan */
    LN_GPU_KIND_VULKAN, /* the Vulkan device of index `index` (any type, lavapipe too) */
};

struct ln_gpu_choice {
    enum ln_gpu_kind kind;
    int index;     /* LN_GPU_KIND_VULKAN: physical device index, 0 if not given */
    int quiet_cpu; /* 1: staying on the CPU is logged at debug level only (a
                    * command whose stderr is the user's, where an error
                    * must stay one line); a GPU is always logged */
};

/* Parses "cpu", "auto", "vulkan" (device 0) or "vulkan:N" (0 <= N < 64).
 * LN_EINVAL with the accepted forms otherwise. */
int ln_gpu_choice_parse(const char *text, struct ln_gpu_choice *out, struct ln_error *err);

/* Device memory auto wants before it picks a discrete GPU. */
#define LN_GPU_AUTO_MIN_BYTES ((size_t)3 << 30)

/* Opens the device of the choice and makes it the process's (replacing an
 * earlier one), logging one line that says which device computes and why.
 * auto never fails: without a loader, a driver or a discrete GPU with
 * LN_GPU_AUTO_MIN_BYTES it leaves the CPU in charge. vulkan[:N] fails
 * (LN_EUNUSABLE, the reason and the devices there are) when that device
 * cannot be opened: the user asked for it by name. */
int ln_gpu_select(const struct ln_gpu_choice *choice, struct ln_error *err);
/* The selected device, or NULL when the CPU computes. */
struct ln_gpu *ln_gpu_current(void);
/* What computes, for /health and logs: "cpu" or "vulkan:N (name)". */
const char *ln_gpu_current_name(void);
/* Why, as the last ln_gpu_select logged it: "asked for", "auto: first
 * discrete GPU with 3072 MiB", "auto: no Vulkan loader (libvulkan) found"...
 * ("not chosen yet" before any). Set while no other thread uses the floor,
 * like the device. */
const char *ln_gpu_current_reason(void);
/* Releases the device; the hooks registered with ln_gpu_on_release run
 * first (they free what they keep on it). The Vulkan instance stays for
 * the life of the process. */
void ln_gpu_shutdown(void);
/* fn() runs before the selected device is closed (by ln_gpu_shutdown or by
 * ln_gpu_select replacing it), for callers that keep buffers or kernels
 * across calls (at most 8 hooks; registering one twice is a no-op). Call
 * while no other thread uses the floor. */
void ln_gpu_on_release(void (*fn)(void));

/* The Vulkan devices present, one line each into buf ("0: llvmpipe (cpu,
 * 2048 MiB)\n"); "" when there is no loader or driver. Returns their
 * number. Needs no selected device. */
int ln_gpu_list(char *buf, size_t size);

/* Device facts used to size work. */
struct ln_gpu_info {
    char name[256];
    int index;
    int discrete;            /* VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU */
    size_t heap_bytes;       /* largest device-local heap */
    size_t budget_bytes;     /* what buffers may take in all */
    size_t used_bytes;       /* what buffers take now */
    size_t max_shared_bytes; /* maxComputeSharedMemorySize */
    uint32_t max_groups_x;   /* maxComputeWorkGroupCount[0] */
    size_t max_buffer_bytes; /* maxStorageBufferRange */
};
void ln_gpu_info(const struct ln_gpu *gpu, struct ln_gpu_info *out);

/* Checks that `bytes` more fit the budget (LN_ENOMEM naming `what`
 * otherwise); allocates nothing. */
int ln_gpu_budget_check(const struct ln_gpu *gpu, size_t bytes, const char *what,
                        struct ln_error *err);

/* Validation messages (warnings and errors) seen since start, when the
 * Khronos validation layer is on (VK_INSTANCE_LAYERS); each is logged as a
 * warning too. Tests fail on any. *active says whether messages can be
 * seen at all (the debug-utils messenger is installed). */
int ln_gpu_validation_messages(int *active);

/* ---- buffers ---------------------------------------------------------- */

struct ln_gpu_buffer;

/* A storage buffer of `bytes` on the device (checked against the budget
 * first; LN_ENOMEM naming `what`). Contents undefined. */
int ln_gpu_buffer_new(struct ln_gpu *gpu, size_t bytes, const char *what,
                      struct ln_gpu_buffer **out, struct ln_error *err);
void ln_gpu_buffer_free(struct ln_gpu_buffer *buf);
size_t ln_gpu_buffer_size(const struct ln_gpu_buffer *buf);
/* Host -> device and device -> host copies of [offset, offset + bytes). */
int ln_gpu_buffer_write(struct ln_gpu_buffer *buf, size_t offset, const void *data, size_t bytes,
                        struct ln_error *err);
int ln_gpu_buffer_read(struct ln_gpu_buffer *buf, size_t offset, void *data, size_t bytes,
                       struct ln_error *err);

/* ---- kernels ---------------------------------------------------------- */

struct ln_gpu_kernel;

/* A compute pipeline from SPIR-V (entry point "main"): n_buffers storage
 * buffers at set 0, bindings 0..n_buffers-1; push_bytes of push constants;
 * specialization constants 0..n_spec-1 set to spec[] (32-bit each). */
int ln_gpu_kernel_new(struct ln_gpu *gpu, const uint32_t *spirv, size_t spirv_bytes, int n_buffers,
                      size_t push_bytes, const uint32_t *spec, int n_spec,
                      struct ln_gpu_kernel **out, struct ln_error *err);
void ln_gpu_kernel_free(struct ln_gpu_kernel *k);

/* Runs the kernel over groups_x x groups_y x groups_z workgroups with
 * buffers bound in order and `push` as push constants, and waits for it. */
int ln_gpu_dispatch(struct ln_gpu_kernel *k, struct ln_gpu_buffer *const *buffers, int n_buffers,
                    const void *push, uint32_t groups_x, uint32_t groups_y, uint32_t groups_z,
                    struct ln_error *err);

/* ---- generic kernels ----------------------------------------------------- */

/* C = A . op(B) (+ bias) on the device, row-major float32 from offset 0:
 * A [M][K]; B [K][N], or [N][K] when trans_b (PyTorch's Linear weight:
 * y = x W^T); bias [N] or NULL; C [M][N] (shaders/gemm.comp, 64 x 64
 * tiles). The buffers must hold those sizes (checked: a bug otherwise).
 * The network's layers are built on it. */
int ln_gpu_sgemm(struct ln_gpu *gpu, int M, int N, int K, struct ln_gpu_buffer *A,
                 struct ln_gpu_buffer *B, int trans_b, struct ln_gpu_buffer *bias,
                 struct ln_gpu_buffer *C, struct ln_error *err);

/* ---- generic kernels for the network on the GPU (ln_gpu_triposr_net.c) ---- */

/* ln_gpu_sgemm with A's rows lda floats apart (lda >= K) and, when
 * accumulate, C += A . op(B) (+ bias) instead of C = (a residual). */
int ln_gpu_sgemm_ex(struct ln_gpu *gpu, int M, int N, int K, struct ln_gpu_buffer *A, int lda,
                    struct ln_gpu_buffer *B, int trans_b, struct ln_gpu_buffer *bias,
                    struct ln_gpu_buffer *C, int accumulate, struct ln_error *err);

/* A batch: the dispatches this thread makes between ln_gpu_batch_begin
 * and ln_gpu_batch_end are recorded into one command buffer, a barrier
 * between each (every dispatch sees the writes of the ones before), and
 * submitted with one wait by ln_gpu_batch_end (or in pieces of 256
 * dispatches), instead of a submission and a wait per dispatch. The
 * thread holds the device's queue for the whole batch: between the two it
 * may only dispatch (ln_gpu_dispatch, ln_gpu_sgemm*, ln_gpu_attention);
 * buffers are made, copied and read outside. Other threads' calls wait
 * for the batch's end. ln_gpu_batch_end ends the batch whatever it
 * returns (an error of a piece submitted earlier or of the last). */
int ln_gpu_batch_begin(struct ln_gpu *gpu, struct ln_error *err);
int ln_gpu_batch_end(struct ln_gpu *gpu, struct ln_error *err);

/* Multi-head attention without masks, as ln__attention on the CPU:
 * out[i][h hd + d] = sum_j softmax_j(q_i,h . k_j,h / sqrt(hd)) v[j][h hd + d];
 * q [nq][ldq], k and v [nk][ldk|ldv], out [nq][ldo] floats from offset 0.
 * Tiled with an online softmax (shaders/attention.comp): no nq x nk score
 * matrix exists, whatever the sizes. hd a multiple of 4, at most 128. */
int ln_gpu_attention(struct ln_gpu *gpu, struct ln_gpu_buffer *q, int ldq, struct ln_gpu_buffer *k,
                     int ldk, struct ln_gpu_buffer *v, int ldv, int nq, int nk, int heads, int hd,
                     struct ln_gpu_buffer *out, int ldo, struct ln_error *err);

#endif
