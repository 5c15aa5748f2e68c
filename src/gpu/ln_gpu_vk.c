/*
 * The GPU floor on Vulkan (ln_gpu.h). The loader is found at run time by
 * volk, so nothing here is linked against libvulkan and a machine without
 * it runs on the CPU. One device, one compute queue, one command buffer
 * and one fence: every submission (a dispatch, a staged copy) is recorded,
 * submitted and waited for under g_queue_lock, which is what makes the
 * floor usable from several workers at once. Buffers live in device-local
 * memory; where that memory is also host-visible (integrated GPUs, CPU
 * drivers, resizable BAR) they stay mapped and are copied with memcpy,
 * elsewhere through a staging buffer made for the copy.
 */
#include "ln_gpu.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_log.h"
#include "volk.h"

struct ln_gpu {
    VkPhysicalDevice phys;
    VkDevice dev;
    VkQueue queue;
    VkCommandPool pool;
    VkCommandBuffer cmd;
    VkFence fence;
    uint32_t mem_device;  /* memory type of buffers */
    uint32_t mem_staging; /* host-visible coherent type for staged copies */
    int mapped;           /* mem_device is host-visible and coherent */
    struct ln_gpu_info info;
    /* A batch (ln_gpu_batch_begin .. end): its thread holds g_queue_lock
     * throughout and records into cmd; each dispatch takes a descriptor
     * set of bpool (reset at each submission). */
    int batching; /* 0 after a failed restart: the batch's dispatches fail */
    VkDescriptorPool bpool;
    uint32_t bsets;
};

struct ln_gpu_buffer {
    struct ln_gpu *gpu;
    VkBuffer buf;
    VkDeviceMemory mem;
    size_t bytes;
    void *map; /* when gpu->mapped */
};

struct ln_gpu_kernel {
    struct ln_gpu *gpu;
    VkShaderModule module;
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout;
    VkPipeline pipe;
    VkDescriptorPool dpool;
    VkDescriptorSet set;
    int n_buffers;
    size_t push_bytes;
};

static pthread_mutex_t g_queue_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_loader = 0; /* 1 loaded, -1 no loader */
static VkInstance g_instance = VK_NULL_HANDLE;
static VkDebugUtilsMessengerEXT g_messenger = VK_NULL_HANDLE;
static atomic_int g_validation;
static struct ln_gpu *g_gpu;
static char g_name[300] = "cpu";
static char g_loader_why[160];
static char g_reason[400] = "not chosen yet"; /* ln_gpu_current_reason */

static void ln__drop_current(void);
static void ln__generic_kernels_free(void);

/* ---- instance ----------------------------------------------------------- */

static VKAPI_ATTR VkBool32 VKAPI_CALL ln__vk_message(
    VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT types,
    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user)
{
    (void)types;
    (void)user;
    if (severity & (VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                    VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)) {
        atomic_fetch_add(&g_validation, 1);
        ln_log_warn("vulkan validation: %s", data && data->pMessage ? data->pMessage : "?");
    }
    return VK_FALSE;
}

/* Loads the loader and makes the instance once; 0, or -1 with the reason
 * in g_loader_why. */
static int ln__instance(void)
{
    if (g_loader)
        return g_loader > 0 ? 0 : -1;
    g_loader = -1;
    VkResult r = volkInitialize();
    if (r != VK_SUCCESS) {
        snprintf(g_loader_why, sizeof g_loader_why, "no Vulkan loader (libvulkan) found");
        return -1;
    }
    uint32_t n_ext = 0;
    int debug = 0;
    if (vkEnumerateInstanceExtensionProperties(NULL, &n_ext, NULL) == VK_SUCCESS && n_ext) {
        VkExtensionProperties *ext = calloc(n_ext, sizeof *ext);
        if (ext && vkEnumerateInstanceExtensionProperties(NULL, &n_ext, ext) == VK_SUCCESS)
            for (uint32_t i = 0; i < n_ext; i++)
                if (strcmp(ext[i].extensionName, VK_EXT_DEBUG_UTILS_EXTENSION_NAME) == 0)
                    debug = 1;
        free(ext);
    }
    const char *exts[1] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "lunar-nova",
        .pEngineName = "lunar-nova",
        .apiVersion = VK_API_VERSION_1_1,
    };
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pApplicationInfo = &app,
        .enabledExtensionCount = debug ? 1u : 0u,
        .ppEnabledExtensionNames = exts,
    };
    r = vkCreateInstance(&ci, NULL, &g_instance);
    if (r != VK_SUCCESS) {
        snprintf(g_loader_why, sizeof g_loader_why,
                 "the Vulkan loader found no usable driver (vkCreateInstance: %d)", (int)r);
        g_instance = VK_NULL_HANDLE;
        return -1;
    }
    volkLoadInstanceOnly(g_instance);
    if (debug && vkCreateDebugUtilsMessengerEXT) {
        VkDebugUtilsMessengerCreateInfoEXT mi = {
            .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
            .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
            .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
            .pfnUserCallback = ln__vk_message,
        };
        if (vkCreateDebugUtilsMessengerEXT(g_instance, &mi, NULL, &g_messenger) != VK_SUCCESS)
            g_messenger = VK_NULL_HANDLE;
    }
    g_loader = 1;
    return 0;
}

int ln_gpu_validation_messages(int *active)
{
    if (active)
        *active = g_messenger != VK_NULL_HANDLE;
    return atomic_load(&g_validation);
}

/* The physical devices; *n 0 when there are none. Caller frees. */
static VkPhysicalDevice *ln__devices(uint32_t *n)
{
    *n = 0;
    if (ln__instance() < 0)
        return NULL;
    if (vkEnumeratePhysicalDevices(g_instance, n, NULL) != VK_SUCCESS || *n == 0) {
        *n = 0;
        return NULL;
    }
    VkPhysicalDevice *d = calloc(*n, sizeof *d);
    if (!d || vkEnumeratePhysicalDevices(g_instance, n, d) < 0) {
        free(d);
        *n = 0;
        return NULL;
    }
    return d;
}

/* The largest device-local heap. */
static size_t ln__heap_bytes(VkPhysicalDevice phys)
{
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(phys, &mp);
    VkDeviceSize best = 0;
    for (uint32_t i = 0; i < mp.memoryHeapCount; i++)
        if ((mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
            mp.memoryHeaps[i].size > best)
            best = mp.memoryHeaps[i].size;
    return best > (VkDeviceSize)SIZE_MAX ? SIZE_MAX : (size_t)best;
}

static const char *ln__type_name(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
        return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
        return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
        return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
        return "cpu";
    default:
        return "other";
    }
}

int ln_gpu_list(char *buf, size_t size)
{
    if (size)
        buf[0] = 0;
    uint32_t n;
    VkPhysicalDevice *d = ln__devices(&n);
    size_t at = 0;
    for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(d[i], &p);
        if (at < size) {
            int w = snprintf(buf + at, size - at, "%" PRIu32 ": %s (%s, %zu MiB)\n", i,
                             p.deviceName, ln__type_name(p.deviceType), ln__heap_bytes(d[i]) >> 20);
            at += w > 0 ? (size_t)w : 0;
        }
    }
    free(d);
    return (int)n;
}

/* ---- device ------------------------------------------------------------- */

static int ln__mem_type(const VkPhysicalDeviceMemoryProperties *mp, VkMemoryPropertyFlags want)
{
    for (uint32_t i = 0; i < mp->memoryTypeCount; i++)
        if ((mp->memoryTypes[i].propertyFlags & want) == want)
            return (int)i;
    return -1;
}

static void (*g_release[8])(void);

void ln_gpu_on_release(void (*fn)(void))
{
    for (int i = 0; i < 8; i++) {
        if (g_release[i] == fn)
            return;
        if (!g_release[i]) {
            g_release[i] = fn;
            return;
        }
    }
    LN_REQUIRE(!"more than 8 ln_gpu_on_release hooks");
}

static void ln__gpu_close(struct ln_gpu *g)
{
    if (!g)
        return;
    if (g->dev) {
        vkDeviceWaitIdle(g->dev);
        if (g->fence)
            vkDestroyFence(g->dev, g->fence, NULL);
        if (g->pool)
            vkDestroyCommandPool(g->dev, g->pool, NULL);
        if (g->bpool)
            vkDestroyDescriptorPool(g->dev, g->bpool, NULL);
        vkDestroyDevice(g->dev, NULL);
    }
    free(g);
}

static int ln__gpu_open(VkPhysicalDevice phys, int index, struct ln_gpu **out, struct ln_error *err)
{
    *out = NULL;
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(phys, &p);
    uint32_t n_fam = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(phys, &n_fam, NULL);
    VkQueueFamilyProperties fam[16];
    if (n_fam > 16)
        n_fam = 16;
    vkGetPhysicalDeviceQueueFamilyProperties(phys, &n_fam, fam);
    int qf = -1;
    for (uint32_t i = 0; i < n_fam && qf < 0; i++)
        if (fam[i].queueFlags & VK_QUEUE_COMPUTE_BIT)
            qf = (int)i;
    if (qf < 0)
        return ln_error_set(err, LN_EUNUSABLE, "vulkan:%d (%s) has no compute queue", index,
                            p.deviceName);
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(phys, &mp);
    const VkMemoryPropertyFlags hv =
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int mdev = ln__mem_type(&mp, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | hv);
    int mapped = mdev >= 0;
    /* A discrete GPU's small host-visible window (256 MiB without
     * resizable BAR) is not where large buffers belong. */
    if (mapped && p.deviceType == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU &&
        mp.memoryHeaps[mp.memoryTypes[mdev].heapIndex].size < ((VkDeviceSize)1 << 31))
        mapped = 0, mdev = -1;
    /* LN_GPU_STAGING=1: copies through staging buffers even where memory
     * is host-visible, so the path of discrete GPUs is tested on any. */
    const char *staging = getenv("LN_GPU_STAGING");
    if (staging && strcmp(staging, "1") == 0)
        mapped = 0;
    if (mdev < 0 || !mapped)
        mdev = ln__mem_type(&mp, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    const int mstage = ln__mem_type(&mp, hv);
    if (mdev < 0 || mstage < 0)
        return ln_error_set(err, LN_EUNUSABLE, "vulkan:%d (%s) has no usable memory type", index,
                            p.deviceName);

    struct ln_gpu *g = ln_xcalloc(1, sizeof *g);
    g->phys = phys;
    g->mem_device = (uint32_t)mdev;
    g->mem_staging = (uint32_t)mstage;
    g->mapped = mapped;
    struct ln_gpu_info *in = &g->info;
    snprintf(in->name, sizeof in->name, "%s", p.deviceName);
    in->index = index;
    in->discrete = p.deviceType == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU;
    const VkDeviceSize heap = mp.memoryHeaps[mp.memoryTypes[mdev].heapIndex].size;
    in->heap_bytes = heap > (VkDeviceSize)SIZE_MAX ? SIZE_MAX : (size_t)heap;
    in->budget_bytes = in->heap_bytes;
    const char *limit = getenv("LN_GPU_MEMORY_LIMIT");
    if (limit && *limit) {
        char *end;
        const unsigned long long v = strtoull(limit, &end, 10);
        if (*end == 0 && v < in->budget_bytes)
            in->budget_bytes = (size_t)v;
    }
    in->max_shared_bytes = p.limits.maxComputeSharedMemorySize;
    in->max_groups_x = p.limits.maxComputeWorkGroupCount[0];
    in->max_buffer_bytes = p.limits.maxStorageBufferRange;

    const float prio = 1.0f;
    VkDeviceQueueCreateInfo qi = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = (uint32_t)qf,
        .queueCount = 1,
        .pQueuePriorities = &prio,
    };
    VkDeviceCreateInfo di = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &qi,
    };
    VkResult r = vkCreateDevice(phys, &di, NULL, &g->dev);
    if (r != VK_SUCCESS) {
        g->dev = VK_NULL_HANDLE;
        ln__gpu_close(g);
        return ln_error_set(err, LN_EUNUSABLE, "vulkan:%d (%s): vkCreateDevice failed (%d)", index,
                            p.deviceName, (int)r);
    }
    /* One device per process: its functions are loaded straight into
     * volk's table. */
    volkLoadDevice(g->dev);
    vkGetDeviceQueue(g->dev, (uint32_t)qf, 0, &g->queue);
    VkCommandPoolCreateInfo pi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
        .queueFamilyIndex = (uint32_t)qf,
    };
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if (vkCreateCommandPool(g->dev, &pi, NULL, &g->pool) != VK_SUCCESS ||
        vkCreateFence(g->dev, &fi, NULL, &g->fence) != VK_SUCCESS) {
        ln__gpu_close(g);
        return ln_error_set(err, LN_EUNUSABLE, "vulkan:%d (%s): no command pool", index,
                            p.deviceName);
    }
    VkCommandBufferAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = g->pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    if (vkAllocateCommandBuffers(g->dev, &ai, &g->cmd) != VK_SUCCESS) {
        ln__gpu_close(g);
        return ln_error_set(err, LN_EUNUSABLE, "vulkan:%d (%s): no command buffer", index,
                            p.deviceName);
    }
    *out = g;
    return 0;
}

int ln_gpu_choice_parse(const char *text, struct ln_gpu_choice *out, struct ln_error *err)
{
    memset(out, 0, sizeof *out);
    if (strcmp(text, "auto") == 0) {
        out->kind = LN_GPU_KIND_AUTO;
        return 0;
    }
    if (strcmp(text, "cpu") == 0) {
        out->kind = LN_GPU_KIND_CPU;
        return 0;
    }
    if (strcmp(text, "vulkan") == 0) {
        out->kind = LN_GPU_KIND_VULKAN;
        return 0;
    }
    if (strncmp(text, "vulkan:", 7) == 0) {
        const char *s = text + 7;
        int v = 0, digits = 0;
        for (; *s >= '0' && *s <= '9' && digits < 3; s++, digits++)
            v = v * 10 + (*s - '0');
        if (digits > 0 && *s == 0 && v < 64) {
            out->kind = LN_GPU_KIND_VULKAN;
            out->index = v;
            return 0;
        }
    }
    return ln_error_set(err, LN_EINVAL,
                        "device wants cpu, auto, vulkan or vulkan:N with N from 0 to 63 "
                        "(got '%.40s')",
                        text);
}

/* The device goes; the instance (and the loader and drivers it holds)
 * stays for the life of the process, as the loader itself does: a later
 * ln_gpu_select reuses it, and Mesa 22.3's lavapipe leaks a block when its
 * instance is destroyed after devices were listed, which the sanitizer
 * runs would otherwise report against every test that used it. */
void ln_gpu_shutdown(void)
{
    ln__drop_current();
}

/* Closes the selected device after its users' hooks freed what they keep
 * there. Before another device is opened: volk holds one device's
 * functions. */
static void ln__drop_current(void)
{
    if (!g_gpu)
        return;
    for (int i = 0; i < 8 && g_release[i]; i++)
        g_release[i]();
    ln__generic_kernels_free();
    ln__gpu_close(g_gpu);
    g_gpu = NULL;
    snprintf(g_name, sizeof g_name, "cpu");
}

static void ln__use_cpu(const struct ln_gpu_choice *choice, const char *why)
{
    ln__drop_current();
    snprintf(g_reason, sizeof g_reason, "%s", why);
    ln_log(choice->quiet_cpu ? LN_LOG_LEVEL_DEBUG : LN_LOG_LEVEL_INFO, "device: cpu (%s)", why);
}

int ln_gpu_select(const struct ln_gpu_choice *choice, struct ln_error *err)
{
    if (choice->kind == LN_GPU_KIND_CPU) {
        ln__use_cpu(choice, "asked for");
        return 0;
    }
    char why[400];
    uint32_t n = 0;
    VkPhysicalDevice *d = ln__devices(&n);
    int pick = -1;
    if (choice->kind == LN_GPU_KIND_VULKAN) {
        if (g_loader < 0 || n == 0 || choice->index >= (int)n) {
            char list[512];
            ln_gpu_list(list, sizeof list);
            for (char *s = list; *s; s++)
                if (*s == '\n')
                    *s = s[1] ? ';' : 0;
            free(d);
            return ln_error_set(err, LN_EUNUSABLE, "vulkan:%d: %s", choice->index,
                                g_loader < 0 ? g_loader_why
                                : n == 0     ? "no Vulkan device found"
                                             : list);
        }
        pick = choice->index;
        snprintf(why, sizeof why, "asked for");
    } else {
        if (g_loader < 0) {
            snprintf(why, sizeof why, "auto: %s", g_loader_why);
        } else {
            for (uint32_t i = 0; i < n && pick < 0; i++) {
                VkPhysicalDeviceProperties p;
                vkGetPhysicalDeviceProperties(d[i], &p);
                if (p.deviceType == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU &&
                    ln__heap_bytes(d[i]) >= LN_GPU_AUTO_MIN_BYTES)
                    pick = (int)i;
            }
            if (pick < 0)
                snprintf(why, sizeof why,
                         "auto: no discrete GPU with %zu MiB among %" PRIu32
                         " Vulkan device(s); name one with --device vulkan:N",
                         LN_GPU_AUTO_MIN_BYTES >> 20, n);
            else
                snprintf(why, sizeof why, "auto: first discrete GPU with %zu MiB",
                         LN_GPU_AUTO_MIN_BYTES >> 20);
        }
        if (pick < 0) {
            free(d);
            ln__use_cpu(choice, why);
            return 0;
        }
    }
    struct ln_gpu *g;
    struct ln_error e = {0};
    ln__drop_current();
    int rc = ln__gpu_open(d[pick], pick, &g, &e);
    free(d);
    if (rc < 0) {
        if (choice->kind == LN_GPU_KIND_VULKAN) {
            if (err)
                *err = e;
            return rc;
        }
        snprintf(why, sizeof why, "auto: %s", e.message);
        ln__use_cpu(choice, why);
        return 0;
    }
    g_gpu = g;
    snprintf(g_name, sizeof g_name, "vulkan:%d (%s)", pick, g->info.name);
    snprintf(g_reason, sizeof g_reason, "%s", why);
    ln_log_info("device: %s, %s, %zu MiB of device memory (%s)", g_name,
                g->info.discrete ? "discrete GPU" : "not a discrete GPU",
                g->info.budget_bytes >> 20, why);
    return 0;
}

struct ln_gpu *ln_gpu_current(void)
{
    return g_gpu;
}

const char *ln_gpu_current_name(void)
{
    return g_name;
}

/* ---- why the device computes (for /health) ----------------------------- */

const char *ln_gpu_current_reason(void)
{
    return g_reason;
}

void ln_gpu_info(const struct ln_gpu *gpu, struct ln_gpu_info *out)
{
    pthread_mutex_lock(&g_queue_lock);
    *out = gpu->info;
    pthread_mutex_unlock(&g_queue_lock);
}

/* "12 MiB" from 1 MiB up, "300 KiB" below (rounded up). */
static const char *ln__size_text(size_t bytes, char *buf, size_t size)
{
    if (bytes >= ((size_t)1 << 20))
        snprintf(buf, size, "%zu MiB", (bytes + ((size_t)1 << 20) - 1) >> 20);
    else
        snprintf(buf, size, "%zu KiB", (bytes + 1023) >> 10);
    return buf;
}

/* Under g_queue_lock. */
static int ln__budget_check_locked(const struct ln_gpu *gpu, size_t bytes, const char *what,
                                   struct ln_error *err)
{
    const struct ln_gpu_info *in = &gpu->info;
    char a[32], b[32], c[32];
    if (bytes > in->budget_bytes || in->used_bytes > in->budget_bytes - bytes)
        return ln_error_set(err, LN_ENOMEM,
                            "GPU memory: %s needs %s, %s of %s in use on vulkan:%d (%s); "
                            "--device cpu runs it on the CPU",
                            what, ln__size_text(bytes, a, sizeof a),
                            ln__size_text(in->used_bytes, b, sizeof b),
                            ln__size_text(in->budget_bytes, c, sizeof c), in->index, in->name);
    return 0;
}

int ln_gpu_budget_check(const struct ln_gpu *gpu, size_t bytes, const char *what,
                        struct ln_error *err)
{
    pthread_mutex_lock(&g_queue_lock);
    int rc = ln__budget_check_locked(gpu, bytes, what, err);
    pthread_mutex_unlock(&g_queue_lock);
    return rc;
}

/* ---- submissions -------------------------------------------------------- */

/* Starts recording g->cmd, with a barrier that orders it after everything
 * submitted before (transfers and shader writes). Under g_queue_lock. */
static int ln__cmd_begin(struct ln_gpu *g)
{
    if (vkResetCommandBuffer(g->cmd, 0) != VK_SUCCESS)
        return -1;
    VkCommandBufferBeginInfo bi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
        .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
    };
    if (vkBeginCommandBuffer(g->cmd, &bi) != VK_SUCCESS)
        return -1;
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                         VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
    };
    vkCmdPipelineBarrier(g->cmd,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0,
                         1, &mb, 0, NULL, 0, NULL);
    return 0;
}

/* Ends g->cmd with its writes made visible to the host, submits it and
 * waits. Under g_queue_lock. */
static int ln__cmd_submit(struct ln_gpu *g, const char *what, struct ln_error *err)
{
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
    };
    vkCmdPipelineBarrier(g->cmd,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    VkResult r = vkEndCommandBuffer(g->cmd);
    if (r == VK_SUCCESS) {
        VkSubmitInfo si = {
            .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
            .commandBufferCount = 1,
            .pCommandBuffers = &g->cmd,
        };
        r = vkResetFences(g->dev, 1, &g->fence);
        if (r == VK_SUCCESS)
            r = vkQueueSubmit(g->queue, 1, &si, g->fence);
        if (r == VK_SUCCESS)
            r = vkWaitForFences(g->dev, 1, &g->fence, VK_TRUE, UINT64_MAX);
    }
    if (r != VK_SUCCESS)
        return ln_error_set(err, r == VK_ERROR_DEVICE_LOST ? LN_EIO : LN_ENOMEM,
                            "GPU %s failed on vulkan:%d (%s): VkResult %d", what, g->info.index,
                            g->info.name, (int)r);
    return 0;
}

/* ---- buffers ------------------------------------------------------------ */

/* A buffer and its memory of type mem_type, without budget accounting. */
static VkResult ln__raw_buffer(struct ln_gpu *g, size_t bytes, uint32_t mem_type,
                               VkBufferUsageFlags usage, VkBuffer *buf, VkDeviceMemory *mem)
{
    VkBufferCreateInfo bi = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = bytes,
        .usage = usage,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VkResult r = vkCreateBuffer(g->dev, &bi, NULL, buf);
    if (r != VK_SUCCESS)
        return r;
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(g->dev, *buf, &req);
    if (!(req.memoryTypeBits & (1u << mem_type))) {
        vkDestroyBuffer(g->dev, *buf, NULL);
        return VK_ERROR_FEATURE_NOT_PRESENT;
    }
    VkMemoryAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .allocationSize = req.size,
        .memoryTypeIndex = mem_type,
    };
    r = vkAllocateMemory(g->dev, &ai, NULL, mem);
    if (r == VK_SUCCESS)
        r = vkBindBufferMemory(g->dev, *buf, *mem, 0);
    else
        *mem = VK_NULL_HANDLE;
    if (r != VK_SUCCESS) {
        if (*mem)
            vkFreeMemory(g->dev, *mem, NULL);
        vkDestroyBuffer(g->dev, *buf, NULL);
    }
    return r;
}

int ln_gpu_buffer_new(struct ln_gpu *gpu, size_t bytes, const char *what,
                      struct ln_gpu_buffer **out, struct ln_error *err)
{
    *out = NULL;
    if (bytes == 0)
        bytes = 4;
    if (bytes > gpu->info.max_buffer_bytes)
        return ln_error_set(err, LN_ENOMEM,
                            "GPU memory: %s needs %zu MiB in one buffer, more than vulkan:%d "
                            "(%s) allows (%zu MiB)",
                            what, bytes >> 20, gpu->info.index, gpu->info.name,
                            gpu->info.max_buffer_bytes >> 20);
    pthread_mutex_lock(&g_queue_lock);
    int rc = ln__budget_check_locked(gpu, bytes, what, err);
    if (rc == 0)
        gpu->info.used_bytes += bytes;
    pthread_mutex_unlock(&g_queue_lock);
    if (rc < 0)
        return rc;
    struct ln_gpu_buffer *b = ln_xcalloc(1, sizeof *b);
    b->gpu = gpu;
    b->bytes = bytes;
    VkResult r =
        ln__raw_buffer(gpu, bytes, gpu->mem_device,
                       VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                           VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                       &b->buf, &b->mem);
    if (r == VK_SUCCESS && gpu->mapped &&
        (r = vkMapMemory(gpu->dev, b->mem, 0, VK_WHOLE_SIZE, 0, &b->map)) != VK_SUCCESS) {
        vkFreeMemory(gpu->dev, b->mem, NULL);
        vkDestroyBuffer(gpu->dev, b->buf, NULL);
    }
    if (r != VK_SUCCESS) {
        pthread_mutex_lock(&g_queue_lock);
        gpu->info.used_bytes -= bytes;
        pthread_mutex_unlock(&g_queue_lock);
        free(b);
        return ln_error_set(err, LN_ENOMEM,
                            "GPU memory: %s (%zu MiB) could not be allocated on vulkan:%d "
                            "(%s): VkResult %d",
                            what, (bytes + (1u << 20) - 1) >> 20, gpu->info.index, gpu->info.name,
                            (int)r);
    }
    *out = b;
    return 0;
}

void ln_gpu_buffer_free(struct ln_gpu_buffer *b)
{
    if (!b)
        return;
    struct ln_gpu *g = b->gpu;
    if (b->map)
        vkUnmapMemory(g->dev, b->mem);
    vkDestroyBuffer(g->dev, b->buf, NULL);
    vkFreeMemory(g->dev, b->mem, NULL);
    pthread_mutex_lock(&g_queue_lock);
    g->info.used_bytes -= b->bytes;
    pthread_mutex_unlock(&g_queue_lock);
    free(b);
}

size_t ln_gpu_buffer_size(const struct ln_gpu_buffer *b)
{
    return b->bytes;
}

/* A copy through a staging buffer: to_device 1 host -> b, 0 b -> host. */
static int ln__staged(struct ln_gpu_buffer *b, size_t offset, void *data, size_t bytes,
                      int to_device, struct ln_error *err)
{
    struct ln_gpu *g = b->gpu;
    VkBuffer sb;
    VkDeviceMemory sm;
    void *map = NULL;
    VkResult r = ln__raw_buffer(g, bytes, g->mem_staging,
                                VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                                &sb, &sm);
    if (r != VK_SUCCESS)
        return ln_error_set(err, LN_ENOMEM, "GPU copy: no staging buffer of %zu MiB (%d)",
                            bytes >> 20, (int)r);
    int rc = 0;
    if (vkMapMemory(g->dev, sm, 0, VK_WHOLE_SIZE, 0, &map) != VK_SUCCESS) {
        rc = ln_error_set(err, LN_ENOMEM, "GPU copy: staging buffer cannot be mapped");
        goto out;
    }
    if (to_device)
        memcpy(map, data, bytes);
    pthread_mutex_lock(&g_queue_lock);
    if (ln__cmd_begin(g) < 0) {
        rc = ln_error_set(err, LN_EIO, "GPU copy: command buffer cannot be recorded");
    } else {
        VkBufferCopy c = {
            .srcOffset = to_device ? 0 : offset,
            .dstOffset = to_device ? offset : 0,
            .size = bytes,
        };
        vkCmdCopyBuffer(g->cmd, to_device ? sb : b->buf, to_device ? b->buf : sb, 1, &c);
        rc = ln__cmd_submit(g, "copy", err);
    }
    pthread_mutex_unlock(&g_queue_lock);
    if (rc == 0 && !to_device)
        memcpy(data, map, bytes);
    vkUnmapMemory(g->dev, sm);
out:
    vkDestroyBuffer(g->dev, sb, NULL);
    vkFreeMemory(g->dev, sm, NULL);
    return rc;
}

int ln_gpu_buffer_write(struct ln_gpu_buffer *b, size_t offset, const void *data, size_t bytes,
                        struct ln_error *err)
{
    LN_REQUIRE(offset <= b->bytes && bytes <= b->bytes - offset);
    if (bytes == 0)
        return 0;
    if (b->map) {
        memcpy((char *)b->map + offset, data, bytes);
        return 0;
    }
    return ln__staged(b, offset, (void *)data, bytes, 1, err);
}

int ln_gpu_buffer_read(struct ln_gpu_buffer *b, size_t offset, void *data, size_t bytes,
                       struct ln_error *err)
{
    LN_REQUIRE(offset <= b->bytes && bytes <= b->bytes - offset);
    if (bytes == 0)
        return 0;
    if (b->map) {
        memcpy(data, (const char *)b->map + offset, bytes);
        return 0;
    }
    return ln__staged(b, offset, data, bytes, 0, err);
}

/* ---- kernels ------------------------------------------------------------ */

#define LN__MAX_BINDINGS 16

void ln_gpu_kernel_free(struct ln_gpu_kernel *k)
{
    if (!k)
        return;
    VkDevice d = k->gpu->dev;
    if (k->dpool)
        vkDestroyDescriptorPool(d, k->dpool, NULL);
    if (k->pipe)
        vkDestroyPipeline(d, k->pipe, NULL);
    if (k->layout)
        vkDestroyPipelineLayout(d, k->layout, NULL);
    if (k->set_layout)
        vkDestroyDescriptorSetLayout(d, k->set_layout, NULL);
    if (k->module)
        vkDestroyShaderModule(d, k->module, NULL);
    free(k);
}

int ln_gpu_kernel_new(struct ln_gpu *gpu, const uint32_t *spirv, size_t spirv_bytes, int n_buffers,
                      size_t push_bytes, const uint32_t *spec, int n_spec,
                      struct ln_gpu_kernel **out, struct ln_error *err)
{
    LN_REQUIRE(n_buffers >= 1 && n_buffers <= LN__MAX_BINDINGS && n_spec >= 0 && n_spec <= 16);
    LN_REQUIRE(push_bytes <= 128 && push_bytes % 4 == 0);
    *out = NULL;
    struct ln_gpu_kernel *k = ln_xcalloc(1, sizeof *k);
    k->gpu = gpu;
    k->n_buffers = n_buffers;
    k->push_bytes = push_bytes;
    VkDevice d = gpu->dev;
    const char *step = "shader module";
    VkShaderModuleCreateInfo mi = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
        .codeSize = spirv_bytes,
        .pCode = spirv,
    };
    VkResult r = vkCreateShaderModule(d, &mi, NULL, &k->module);
    if (r != VK_SUCCESS)
        goto fail;
    VkDescriptorSetLayoutBinding bind[LN__MAX_BINDINGS];
    for (int i = 0; i < n_buffers; i++)
        bind[i] = (VkDescriptorSetLayoutBinding){
            .binding = (uint32_t)i,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        };
    VkDescriptorSetLayoutCreateInfo li = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = (uint32_t)n_buffers,
        .pBindings = bind,
    };
    step = "descriptor set layout";
    if ((r = vkCreateDescriptorSetLayout(d, &li, NULL, &k->set_layout)) != VK_SUCCESS)
        goto fail;
    VkPushConstantRange pr = {
        .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        .offset = 0,
        .size = (uint32_t)push_bytes,
    };
    VkPipelineLayoutCreateInfo pli = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .setLayoutCount = 1,
        .pSetLayouts = &k->set_layout,
        .pushConstantRangeCount = push_bytes ? 1u : 0u,
        .pPushConstantRanges = &pr,
    };
    step = "pipeline layout";
    if ((r = vkCreatePipelineLayout(d, &pli, NULL, &k->layout)) != VK_SUCCESS)
        goto fail;
    VkSpecializationMapEntry ent[16];
    for (int i = 0; i < n_spec; i++)
        ent[i] = (VkSpecializationMapEntry){(uint32_t)i, (uint32_t)(4 * i), 4};
    VkSpecializationInfo si = {
        .mapEntryCount = (uint32_t)n_spec,
        .pMapEntries = ent,
        .dataSize = 4 * (size_t)n_spec,
        .pData = spec,
    };
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage =
            {
                .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                .module = k->module,
                .pName = "main",
                .pSpecializationInfo = n_spec ? &si : NULL,
            },
        .layout = k->layout,
    };
    step = "compute pipeline";
    if ((r = vkCreateComputePipelines(d, VK_NULL_HANDLE, 1, &ci, NULL, &k->pipe)) != VK_SUCCESS)
        goto fail;
    VkDescriptorPoolSize ps = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, (uint32_t)n_buffers};
    VkDescriptorPoolCreateInfo dpi = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
        .maxSets = 1,
        .poolSizeCount = 1,
        .pPoolSizes = &ps,
    };
    step = "descriptor pool";
    if ((r = vkCreateDescriptorPool(d, &dpi, NULL, &k->dpool)) != VK_SUCCESS)
        goto fail;
    VkDescriptorSetAllocateInfo dai = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
        .descriptorPool = k->dpool,
        .descriptorSetCount = 1,
        .pSetLayouts = &k->set_layout,
    };
    step = "descriptor set";
    if ((r = vkAllocateDescriptorSets(d, &dai, &k->set)) != VK_SUCCESS)
        goto fail;
    *out = k;
    return 0;
fail:
    ln_gpu_kernel_free(k);
    return ln_error_set(err, LN_EUNUSABLE, "GPU kernel: %s failed on vulkan:%d (%s): VkResult %d",
                        step, gpu->info.index, gpu->info.name, (int)r);
}

/* ---- batches ---------------------------------------------------------- */

#define LN__BATCH_SETS 256u

/* The device whose batch this thread records, if any. */
static _Thread_local struct ln_gpu *t_batch;

/* Submits what the batch recorded, waits, and starts recording again. */
static int ln__batch_flush(struct ln_gpu *g, struct ln_error *err)
{
    int rc = ln__cmd_submit(g, "batch", err);
    vkResetDescriptorPool(g->dev, g->bpool, 0);
    g->bsets = 0;
    if (ln__cmd_begin(g) < 0) {
        g->batching = 0; /* nothing is being recorded: end submits nothing */
        return rc < 0 ? rc
                      : ln_error_set(err, LN_EIO, "GPU batch: command buffer cannot be recorded");
    }
    return rc;
}

/* A dispatch recorded into the batch, then a barrier that makes its writes
 * visible to the next one. Under g_queue_lock (the batch's). */
static int ln__batch_dispatch(struct ln_gpu_kernel *k, VkDescriptorBufferInfo *bi,
                              VkWriteDescriptorSet *w, int n_buffers, const void *push, uint32_t gx,
                              uint32_t gy, uint32_t gz, struct ln_error *err)
{
    struct ln_gpu *g = k->gpu;
    int rc;
    if (!g->batching)
        return ln_error_set(err, LN_EIO, "GPU batch: command buffer cannot be recorded");
    if (g->bsets == LN__BATCH_SETS && (rc = ln__batch_flush(g, err)) < 0)
        return rc;
    VkDescriptorSetAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
        .descriptorPool = g->bpool,
        .descriptorSetCount = 1,
        .pSetLayouts = &k->set_layout,
    };
    VkDescriptorSet set;
    if (vkAllocateDescriptorSets(g->dev, &ai, &set) != VK_SUCCESS)
        return ln_error_set(err, LN_ENOMEM, "GPU batch: no descriptor set left");
    g->bsets++;
    for (int i = 0; i < n_buffers; i++) {
        w[i].dstSet = set;
        w[i].pBufferInfo = &bi[i];
    }
    vkUpdateDescriptorSets(g->dev, (uint32_t)n_buffers, w, 0, NULL);
    vkCmdBindPipeline(g->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, k->pipe);
    vkCmdBindDescriptorSets(g->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, k->layout, 0, 1, &set, 0, NULL);
    if (k->push_bytes)
        vkCmdPushConstants(g->cmd, k->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                           (uint32_t)k->push_bytes, push);
    vkCmdDispatch(g->cmd, gx, gy, gz);
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT,
    };
    vkCmdPipelineBarrier(g->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    return 0;
}

int ln_gpu_batch_begin(struct ln_gpu *gpu, struct ln_error *err)
{
    pthread_mutex_lock(&g_queue_lock);
    LN_REQUIRE(!gpu->batching);
    if (!gpu->bpool) {
        VkDescriptorPoolSize ps = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                   LN__BATCH_SETS * LN__MAX_BINDINGS};
        VkDescriptorPoolCreateInfo pi = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
            .maxSets = LN__BATCH_SETS,
            .poolSizeCount = 1,
            .pPoolSizes = &ps,
        };
        if (vkCreateDescriptorPool(gpu->dev, &pi, NULL, &gpu->bpool) != VK_SUCCESS) {
            gpu->bpool = VK_NULL_HANDLE;
            pthread_mutex_unlock(&g_queue_lock);
            return ln_error_set(err, LN_ENOMEM, "GPU batch: no descriptor pool");
        }
    }
    if (ln__cmd_begin(gpu) < 0) {
        pthread_mutex_unlock(&g_queue_lock);
        return ln_error_set(err, LN_EIO, "GPU batch: command buffer cannot be recorded");
    }
    gpu->bsets = 0;
    gpu->batching = 1;
    t_batch = gpu;
    return 0;
}

int ln_gpu_batch_end(struct ln_gpu *gpu, struct ln_error *err)
{
    LN_REQUIRE(t_batch == gpu);
    int rc = 0;
    if (gpu->batching) {
        rc = ln__cmd_submit(gpu, "batch", err);
        vkResetDescriptorPool(gpu->dev, gpu->bpool, 0);
        gpu->bsets = 0;
    }
    gpu->batching = 0;
    t_batch = NULL;
    pthread_mutex_unlock(&g_queue_lock);
    return rc;
}

int ln_gpu_dispatch(struct ln_gpu_kernel *k, struct ln_gpu_buffer *const *buffers, int n_buffers,
                    const void *push, uint32_t groups_x, uint32_t groups_y, uint32_t groups_z,
                    struct ln_error *err)
{
    LN_REQUIRE(n_buffers == k->n_buffers);
    struct ln_gpu *g = k->gpu;
    if (groups_x == 0 || groups_y == 0 || groups_z == 0)
        return 0;
    LN_REQUIRE(groups_x <= g->info.max_groups_x);
    VkDescriptorBufferInfo bi[LN__MAX_BINDINGS];
    VkWriteDescriptorSet w[LN__MAX_BINDINGS];
    for (int i = 0; i < n_buffers; i++) {
        bi[i] = (VkDescriptorBufferInfo){buffers[i]->buf, 0, VK_WHOLE_SIZE};
        w[i] = (VkWriteDescriptorSet){
            .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
            .dstSet = k->set,
            .dstBinding = (uint32_t)i,
            .descriptorCount = 1,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .pBufferInfo = &bi[i],
        };
    }
    if (t_batch == g)
        return ln__batch_dispatch(k, bi, w, n_buffers, push, groups_x, groups_y, groups_z, err);
    int rc;
    pthread_mutex_lock(&g_queue_lock);
    /* The set is rewritten only here, under the lock, after the previous
     * dispatch of this kernel has completed. */
    vkUpdateDescriptorSets(g->dev, (uint32_t)n_buffers, w, 0, NULL);
    if (ln__cmd_begin(g) < 0) {
        rc = ln_error_set(err, LN_EIO, "GPU dispatch: command buffer cannot be recorded");
    } else {
        vkCmdBindPipeline(g->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, k->pipe);
        vkCmdBindDescriptorSets(g->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, k->layout, 0, 1, &k->set, 0,
                                NULL);
        if (k->push_bytes)
            vkCmdPushConstants(g->cmd, k->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                               (uint32_t)k->push_bytes, push);
        vkCmdDispatch(g->cmd, groups_x, groups_y, groups_z);
        rc = ln__cmd_submit(g, "dispatch", err);
    }
    pthread_mutex_unlock(&g_queue_lock);
    return rc;
}

/* ---- generic kernels ------------------------------------------------------ */

/* SPIR-V of shaders/gemm.comp, compiled by glslc at build time. */
static const uint32_t ln__spv_gemm[] =
#include "gemm.spv.inc"
    ;

/* Made on first use for the selected device, freed before it closes. */
static pthread_mutex_t g_generic_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ln_gpu_kernel *g_gemm;
/* Attention: one pipeline per head size (a specialization constant). */
#define LN__ATT_KERNELS 4
static struct {
    int hd;
    struct ln_gpu_kernel *k;
} g_att[LN__ATT_KERNELS];

static void ln__generic_kernels_free(void)
{
    ln_gpu_kernel_free(g_gemm);
    g_gemm = NULL;
    for (int i = 0; i < LN__ATT_KERNELS; i++) {
        ln_gpu_kernel_free(g_att[i].k);
        g_att[i].k = NULL;
    }
}

struct ln__gemm_push {
    uint32_t M, N, K, trans_b, has_bias, lda, accumulate;
};

int ln_gpu_sgemm(struct ln_gpu *gpu, int M, int N, int K, struct ln_gpu_buffer *A,
                 struct ln_gpu_buffer *B, int trans_b, struct ln_gpu_buffer *bias,
                 struct ln_gpu_buffer *C, struct ln_error *err)
{
    return ln_gpu_sgemm_ex(gpu, M, N, K, A, K, B, trans_b, bias, C, 0, err);
}

/* ---- generic kernels for the network on the GPU (ln_gpu_triposr_net.c) ---- */

int ln_gpu_sgemm_ex(struct ln_gpu *gpu, int M, int N, int K, struct ln_gpu_buffer *A, int lda,
                    struct ln_gpu_buffer *B, int trans_b, struct ln_gpu_buffer *bias,
                    struct ln_gpu_buffer *C, int accumulate, struct ln_error *err)
{
    LN_REQUIRE(M >= 0 && N >= 0 && K >= 0 && lda >= K);
    if (M == 0 || N == 0)
        return 0;
    const size_t m = (size_t)M, n = (size_t)N, k = (size_t)K, f = sizeof(float);
    LN_REQUIRE(A->bytes >= ((m - 1) * (size_t)lda + k) * f && B->bytes >= k * n * f &&
               C->bytes >= m * n * f);
    LN_REQUIRE(!bias || bias->bytes >= n * f);
    LN_REQUIRE(m <= 64 * (size_t)65535 && n <= 64 * (size_t)65535);
    pthread_mutex_lock(&g_generic_lock);
    int rc = 0;
    if (!g_gemm)
        rc = ln_gpu_kernel_new(gpu, ln__spv_gemm, sizeof ln__spv_gemm, 4,
                               sizeof(struct ln__gemm_push), NULL, 0, &g_gemm, err);
    struct ln_gpu_kernel *kern = g_gemm;
    pthread_mutex_unlock(&g_generic_lock);
    if (rc < 0)
        return rc;
    LN_REQUIRE(kern->gpu == gpu);
    const struct ln__gemm_push push = {(uint32_t)M,         (uint32_t)N,    (uint32_t)K,
                                       trans_b ? 1u : 0u,   bias ? 1u : 0u, (uint32_t)lda,
                                       accumulate ? 1u : 0u};
    /* Without a bias the binding still needs a buffer: A, never read. */
    struct ln_gpu_buffer *bufs[4] = {A, B, bias ? bias : A, C};
    return ln_gpu_dispatch(kern, bufs, 4, &push, (uint32_t)((n + 63) / 64),
                           (uint32_t)((m + 63) / 64), 1, err);
}

/* SPIR-V of shaders/attention.comp. */
static const uint32_t ln__spv_attention[] =
#include "attention.spv.inc"
    ;

struct ln__att_push {
    uint32_t nq, nk, ldq, ldk, ldv, ldo;
    float scale;
};

int ln_gpu_attention(struct ln_gpu *gpu, struct ln_gpu_buffer *q, int ldq, struct ln_gpu_buffer *k,
                     int ldk, struct ln_gpu_buffer *v, int ldv, int nq, int nk, int heads, int hd,
                     struct ln_gpu_buffer *out, int ldo, struct ln_error *err)
{
    LN_REQUIRE(nq >= 0 && nk >= 0 && heads > 0 && hd > 0 && hd <= 128 && hd % 4 == 0);
    const size_t w = (size_t)heads * (size_t)hd, f = sizeof(float);
    LN_REQUIRE((size_t)ldq >= w && (size_t)ldk >= w && (size_t)ldv >= w && (size_t)ldo >= w);
    if (nq == 0)
        return 0;
    LN_REQUIRE(nk > 0);
    LN_REQUIRE(q->bytes >= ((size_t)(nq - 1) * (size_t)ldq + w) * f &&
               k->bytes >= ((size_t)(nk - 1) * (size_t)ldk + w) * f &&
               v->bytes >= ((size_t)(nk - 1) * (size_t)ldv + w) * f &&
               out->bytes >= ((size_t)(nq - 1) * (size_t)ldo + w) * f);
    LN_REQUIRE((size_t)nq <= 16 * (size_t)65535 && heads <= 65535);
    pthread_mutex_lock(&g_generic_lock);
    int rc = 0, slot = -1;
    for (int i = 0; i < LN__ATT_KERNELS && slot < 0; i++)
        if (g_att[i].k && g_att[i].hd == hd)
            slot = i;
    for (int i = 0; i < LN__ATT_KERNELS && slot < 0; i++)
        if (!g_att[i].k)
            slot = i;
    if (slot < 0) { /* a fifth head size: replace the first */
        ln_gpu_kernel_free(g_att[0].k);
        g_att[0].k = NULL;
        slot = 0;
    }
    if (!g_att[slot].k) {
        const uint32_t spec[1] = {(uint32_t)hd};
        rc = ln_gpu_kernel_new(gpu, ln__spv_attention, sizeof ln__spv_attention, 4,
                               sizeof(struct ln__att_push), spec, 1, &g_att[slot].k, err);
        g_att[slot].hd = hd;
    }
    struct ln_gpu_kernel *kern = g_att[slot].k;
    pthread_mutex_unlock(&g_generic_lock);
    if (rc < 0)
        return rc;
    LN_REQUIRE(kern->gpu == gpu);
    const struct ln__att_push push = {(uint32_t)nq,
                                      (uint32_t)nk,
                                      (uint32_t)ldq,
                                      (uint32_t)ldk,
                                      (uint32_t)ldv,
                                      (uint32_t)ldo,
                                      (float)(1.0 / sqrt((double)hd))};
    struct ln_gpu_buffer *bufs[4] = {q, k, v, out};
    return ln_gpu_dispatch(kern, bufs, 4, &push, (uint32_t)((nq + 15) / 16), (uint32_t)heads, 1,
                           err);
}
