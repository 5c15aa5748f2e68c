/*
 * lunar-nova service: `lunar-nova serve` as a Windows service.
 *
 *   lunar-nova service install [serve options]   register LunarNova, started at boot
 *   lunar-nova service uninstall                 stop it if it runs, and remove it
 *   lunar-nova service run [serve options]       what the Service Control Manager starts
 *
 * `install` records `service run` and the serve options given (each quoted
 * as Windows splits command lines) as the service's command line; `run`
 * hands the process to the Service Control Manager, which runs serve on
 * the service's thread and turns a stop or shutdown control into serve's
 * clean stop (src/core/ln_sys.h, ln_service_*). On other systems each
 * answers with one line pointing at the systemd unit.
 *
 * A service has no console: its log goes to a file (--log-file, by
 * default lunar-nova.log in the outputs folder), and its start, stop,
 * warnings and errors also to the Windows event log, source LunarNova
 * (registered by install, removed by uninstall).
 */
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "ln_error.h"
#include "ln_file.h"
#include "ln_log.h"
#include "ln_sys.h"

#define LN__SERVICE_NAME "LunarNova"

static void ln__service_usage(FILE *f)
{
    fputs("Usage: lunar-nova service install [serve options]\n"
          "       lunar-nova service uninstall\n"
          "       lunar-nova service run [serve options]   (started by Windows)\n"
          "\n"
          "Windows only: runs `lunar-nova serve` as the service " LN__SERVICE_NAME
          ", started at\n"
          "boot; `sc.exe start " LN__SERVICE_NAME "` and `sc.exe stop " LN__SERVICE_NAME
          "` start and stop it\n"
          "(a stop is serve's clean stop). Needs an administrator's console.\n"
          "The service's log goes to --log-file PATH (default: lunar-nova.log in the\n"
          "outputs folder); its start, stop, warnings and errors also to the\n"
          "Application event log, source " LN__SERVICE_NAME ".\n",
          f);
}

/* One argument as Windows' command-line parsing reads it back: quoted
 * when it holds a space, a tab or a quote, with quotes and the
 * backslashes before them doubled as CommandLineToArgvW expects. */
static void ln__quote_arg(struct ln_buf *b, const char *a)
{
    if (*a && !strpbrk(a, " \t\"")) {
        ln_buf_append(b, a, strlen(a));
        return;
    }
    ln_buf_append(b, "\"", 1);
    size_t slashes = 0;
    for (const char *p = a; *p; p++) {
        if (*p == '\\') {
            slashes++;
            continue;
        }
        for (size_t i = 0; i < slashes * (*p == '"' ? 2 : 1); i++)
            ln_buf_append(b, "\\", 1);
        slashes = 0;
        if (*p == '"')
            ln_buf_append(b, "\\", 1);
        ln_buf_append(b, p, 1);
    }
    for (size_t i = 0; i < 2 * slashes; i++)
        ln_buf_append(b, "\\", 1);
    ln_buf_append(b, "\"", 1);
}

/* The log's warnings, errors and notices into the event log. */
static void ln__service_mirror(void *user, enum ln_log_level level, const char *msg)
{
    (void)user;
    ln_service_event(level >= LN_LOG_LEVEL_ERROR  ? LN_SERVICE_EVENT_ERROR
                     : level == LN_LOG_LEVEL_WARN ? LN_SERVICE_EVENT_WARNING
                                                  : LN_SERVICE_EVENT_INFO,
                     msg);
}

/* serve on the service's thread, its log mirrored into the event log; a
 * failure also leaves an event saying so, since a usage error's line
 * went to a stderr nobody reads. */
static int ln__service_serve(int argc, char **argv)
{
    ln_log_set_mirror(ln__service_mirror, NULL);
    int rc = ln_app_serve_service(argc, argv);
    ln_log_set_mirror(NULL, NULL);
    if (rc != LN_EXIT_OK) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "lunar-nova serve ended with exit status %d (%s): see the log file", rc,
                 rc == LN_EXIT_USAGE ? "bad options or settings" : "failure");
        ln_service_event(LN_SERVICE_EVENT_ERROR, msg);
    }
    return rc;
}

int ln_app_service(int argc, char **argv)
{
    struct ln_error err = {0};
    int rc;
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        ln__service_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? LN_EXIT_USAGE : LN_EXIT_OK;
    }
    if (!strcmp(argv[1], "install")) {
        struct ln_buf args = {0};
        ln_buf_append(&args, "service run", 11);
        for (int i = 2; i < argc; i++) {
            ln_buf_append(&args, " ", 1);
            ln__quote_arg(&args, argv[i]);
        }
        ln_buf_append(&args, "", 1); /* the terminating NUL */
        rc = args.failed ? ln_error_set(&err, LN_ENOMEM, "out of memory")
                         : ln_service_install(LN__SERVICE_NAME, "Lunar Nova",
                                              (const char *)args.data, &err);
        ln_buf_free(&args);
        if (rc == LN_OK)
            printf("service " LN__SERVICE_NAME " installed (starts at boot; now: sc.exe start "
                   LN__SERVICE_NAME ")\n");
    } else if (!strcmp(argv[1], "uninstall")) {
        rc = ln_service_uninstall(LN__SERVICE_NAME, &err);
        if (rc == LN_OK)
            printf("service " LN__SERVICE_NAME " removed\n");
    } else if (!strcmp(argv[1], "run")) {
        /* serve's arguments: argv[1] ("run") stands where "serve" stood */
        rc = ln_service_run(LN__SERVICE_NAME, ln__service_serve, argc - 1, argv + 1, &err);
        if (rc >= 0)
            return rc; /* serve's own exit status */
    } else {
        fprintf(stderr, "lunar-nova service: unknown action '%s' (install, uninstall, run)\n",
                argv[1]);
        return LN_EXIT_USAGE;
    }
    if (rc < 0) {
        fprintf(stderr, "lunar-nova service: %s\n", err.message);
        return ln_app_exit_for(rc);
    }
    return LN_EXIT_OK;
}
