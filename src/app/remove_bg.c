/*
 * lunar-nova remove-bg: the object of a photo cut out of its background,
 * as `rembg i` does (an RGBA PNG whose alpha is the mask), by the same
 * methods the engines use (ln_background.h), or the mask alone.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "ln_background.h"
#include "ln_gpu.h"
#include "ln_image.h"
#include "ln_log.h"
#include "ln_threads.h"

static void ln__remove_bg_help(void)
{
    puts("Usage: lunar-nova remove-bg IMAGE -o OUT.png [options]\n"
         "\n"
         "Cuts the object out of a photo: writes a PNG of the same size whose alpha\n"
         "channel is the object's mask (what `rembg i` writes), or the mask alone.\n"
         "\n"
         "  --remove-bg auto|model|classic   auto (default): the image's alpha channel\n"
         "                           when it has one, else a rembg model when one is\n"
         "                           found, else the classical separation; model: a\n"
         "                           rembg model even over an alpha channel (as rembg);\n"
         "                           classic: no network\n"
         "  --bg-model NAME|PATH     rembg model (u2net, isnet-general-use, ...) in\n"
         "                           U2NET_HOME, XDG_DATA_HOME/.u2net or ~/.u2net, or an\n"
         "                           .onnx file (default: the first of rembg's general\n"
         "                           models found there, u2net first)\n"
         "  --mask-only              write the mask as a greyscale PNG (rembg's -om)\n"
         "  --device cpu|auto|vulkan[:N]  what runs the network: auto (default) takes\n"
         "                           the first discrete GPU with enough memory, else\n"
         "                           the CPU; vulkan:N a Vulkan device by index\n"
         "                           (docs/vulkan.md)\n"
         "  -o, --output FILE        the PNG to write\n"
         "  --threads N              worker threads (default: all cores)\n"
         "  --quiet                  only errors\n"
         "  -h, --help               this help\n"
         "\n"
         "Exit status: 0 done, 1 internal failure, 2 bad usage or bad input.");
}

enum { OPT_MODE = 256, OPT_MODEL, OPT_MASK_ONLY, OPT_DEVICE, OPT_THREADS, OPT_QUIET };

static const struct option ln__options[] = {
    {"remove-bg", required_argument, NULL, OPT_MODE},
    {"bg-model", required_argument, NULL, OPT_MODEL},
    {"mask-only", no_argument, NULL, OPT_MASK_ONLY},
    {"device", required_argument, NULL, OPT_DEVICE},
    {"output", required_argument, NULL, 'o'},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Whether a matting network separated the object (not the alpha channel,
 * the classical separation or nothing). */
static int ln__by_network(const struct ln_background_info *info)
{
    return strcmp(info->method, "alpha") != 0 && strcmp(info->method, "classic") != 0 &&
           strcmp(info->method, "off") != 0;
}

static int ln__usage(const char *what)
{
    fprintf(stderr, "lunar-nova: %s\n", what);
    return LN_EXIT_USAGE;
}

int ln_app_remove_bg(int argc, char **argv)
{
    int mode = LN_REMOVE_BG_AUTO, mask_only = 0, c;
    const char *output = NULL, *device = NULL;
    char msg[LN_ERROR_MESSAGE_MAX + 32];
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", ln__options, NULL)) != -1) {
        switch (c) {
        case 'h':
            ln__remove_bg_help();
            return LN_EXIT_OK;
        case 'o':
            output = optarg;
            break;
        case OPT_MODE:
            if (ln_remove_bg_parse(optarg, &mode) < 0 || mode == LN_REMOVE_BG_OFF) {
                snprintf(msg, sizeof msg, "--remove-bg wants auto, model or classic (got '%.60s')",
                         optarg);
                return ln__usage(msg);
            }
            break;
        case OPT_MODEL: {
            struct ln_error err = {0};
            if (ln_background_set_model(optarg, &err) < 0) {
                snprintf(msg, sizeof msg, "--bg-model: %s", err.message);
                return ln__usage(msg);
            }
            break;
        }
        case OPT_MASK_ONLY:
            mask_only = 1;
            break;
        case OPT_DEVICE:
            if (ln_app_device_check(optarg, "--device") < 0)
                return LN_EXIT_USAGE;
            device = strcmp(optarg, "auto") == 0 ? NULL : optarg;
            break;
        case OPT_THREADS: {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*optarg == 0 || *end || n < 1 || n > 256) {
                snprintf(msg, sizeof msg, "--threads wants 1 to 256 (got '%.60s')", optarg);
                return ln__usage(msg);
            }
            ln_threads_set((int)n);
            break;
        }
        case OPT_QUIET:
            ln_log_set_level(LN_LOG_LEVEL_ERROR);
            break;
        default:
            return ln__usage("bad option (try lunar-nova remove-bg --help)");
        }
    }
    if (argc - optind != 1)
        return ln__usage("remove-bg takes one image (try lunar-nova remove-bg --help)");
    if (!output)
        return ln__usage("no output given: add -o OUT.png");
    size_t ol = strlen(output);
    if (ol < 4 || strcmp(output + ol - 4, ".png") != 0)
        return ln__usage("the output is a PNG file: name it OUT.png");

    struct ln_error err = {0};
    struct ln_image img = {0}, cut = {0}, mask = {0};
    struct ln_background_info info;
    /* A named device is checked before anything runs; auto looks for one
     * only when a network will separate the object (as generate). The
     * user's stderr hears of a GPU, not of staying on the CPU. */
    int rc = device ? ln_app_device_select(device, 1, &err) : LN_OK;
    if (rc == LN_OK)
        rc = ln_image_load(argv[optind], NULL, &img, &err);
    if (rc == LN_OK && !device && ln_background_uses_model(&img, mode))
        rc = ln_app_device_select(NULL, 1, &err);
    if (rc == LN_OK)
        rc = ln_background_cutout(&img, mode, &cut, &info, &err);
    if (rc == LN_OK && mask_only) {
        rc = ln_image_alloc(&mask, cut.width, cut.height, 1, &err);
        for (size_t i = 0; rc == LN_OK && i < (size_t)cut.width * (size_t)cut.height; i++)
            mask.data[i] = cut.data[4 * i + 3];
    }
    if (rc == LN_OK)
        rc = ln_image_save_png(mask_only ? &mask : &cut, output, &err);
    if (rc == LN_OK)
        ln_log_info("%s: %dx%d, object %.1f%% of the frame, separated by %s%s%s", output,
                    cut.width, cut.height, 100.0 * info.coverage, info.method,
                    ln__by_network(&info) && ln_gpu_current() ? " on " : "",
                    ln__by_network(&info) && ln_gpu_current() ? ln_gpu_current_name() : "");
    else
        fprintf(stderr, "lunar-nova: %s\n", err.message[0] ? err.message : ln_status_string(rc));
    ln_image_free(&mask);
    ln_image_free(&cut);
    ln_image_free(&img);
    ln_background_release();
    ln_app_device_release();
    return rc == LN_OK ? LN_EXIT_OK : ln_app_exit_for(rc);
}
