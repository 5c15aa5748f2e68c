/*
 * lunar-nova: entry point. Dispatches to a subcommand and maps results to
 * the documented exit statuses (0 done, 1 internal failure, 2 bad usage or
 * bad input, each failure with a one-line reason on stderr).
 */
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "ln_cpu.h"
#include "ln_error.h"
#include "ln_triposr.h"

static void ln__usage(FILE *f)
{
    fputs("Usage: lunar-nova generate [options] IMAGE... -o OUT.{glb,obj,ply,stl}\n"
          "       lunar-nova serve [--host 127.0.0.1] [--port 8000] [--outputs outputs] [options]\n"
          "       lunar-nova remove-bg IMAGE -o OUT.png [--bg-model NAME|PATH] [--mask-only]\n"
          "       lunar-nova models list | pull NAME | verify NAME\n"
          "       lunar-nova service install [serve options] | uninstall   (Windows)\n"
          "       lunar-nova store migrate | import [--outputs DIR]  --store postgres://...\n"
          "       lunar-nova worker --store postgres://... [options]\n"
          "       lunar-nova --help | --version\n"
          "\n"
          "Turns a photo or drawing of an object, or several views of it, into a\n"
          "coloured 3D model, from the command line or as an HTTP server with a web UI.\n"
          "'lunar-nova COMMAND --help' lists a command's options;\n"
          "'lunar-nova models pull stabilityai/TripoSR' downloads the TripoSR weights.\n",
          f);
}

int ln_app_exit_for(int code)
{
    if (code == LN_OK)
        return LN_EXIT_OK;
    return ln_status_is_input_error(code) ? LN_EXIT_USAGE : LN_EXIT_FAILURE;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        ln__usage(stderr);
        return LN_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        ln__usage(stdout);
        return LN_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        /* The kernel set in use (LN_CPU may lower it) and the CPU's widest. */
        const char *kernels = ln_nn_kernel_set();
        printf("lunar-nova %s\nkernels: %s (%s; this CPU's widest: %s)\nOpenBLAS: %s kernels\n",
               LN_VERSION_STRING, kernels, ln_cpu_arch(), ln_cpu_set_name(ln_cpu_best()),
               ln_nn_blas_core());
        if (ln_nn_blas_mismatch())
            printf("warning: %s\n", ln_nn_blas_mismatch());
        return LN_EXIT_OK;
    }
    if (strcmp(cmd, "generate") == 0)
        return ln_app_generate(argc - 1, argv + 1);
    if (strcmp(cmd, "models") == 0)
        return ln_app_models(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0)
        return ln_app_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "remove-bg") == 0)
        return ln_app_remove_bg(argc - 1, argv + 1);
    if (strcmp(cmd, "service") == 0)
        return ln_app_service(argc - 1, argv + 1);
    if (strcmp(cmd, "store") == 0)
        return ln_app_store(argc - 1, argv + 1);
    if (strcmp(cmd, "worker") == 0)
        return ln_app_worker(argc - 1, argv + 1);
    fprintf(stderr, "lunar-nova: unknown command '%s' (try --help)\n", cmd);
    return LN_EXIT_USAGE;
}
