/*
 * The top floor: command-line parsing and wiring. Each subcommand is one
 * function taking argc/argv after the command name and returning the
 * process exit status (0 done, 1 internal failure, 2 bad usage or input).
 */
#ifndef LN_APP_H
#define LN_APP_H

#include "ln_progress.h"

struct ln_error;

enum ln_exit {
    LN_EXIT_OK = 0,
    LN_EXIT_FAILURE = 1,
    LN_EXIT_USAGE = 2,
};

int ln_app_generate(int argc, char **argv);
int ln_app_serve(int argc, char **argv);
/* serve as the Windows service runs it: without --log-file (or
 * LUNAR_NOVA_LOG_FILE) its log goes to OUTPUTS/lunar-nova.log. */
int ln_app_serve_service(int argc, char **argv);
int ln_app_remove_bg(int argc, char **argv);
int ln_app_models(int argc, char **argv);
int ln_app_service(int argc, char **argv);
int ln_app_store(int argc, char **argv);
int ln_app_worker(int argc, char **argv);

/* --device cpu|auto|vulkan[:N] (device.c): ln_app_device_check prints
 * "lunar-nova: FROM: why" and returns -1 on bad text; ln_app_device_select
 * (text NULL: auto) opens the device, logging which and why (staying on
 * the CPU at debug level only when quiet_cpu), LN_EUNUSABLE when a named
 * device cannot be used. */
int ln_app_device_check(const char *text, const char *from);
/* --precision fp32|bf16 (device.c): sets TripoSR's precision for the
 * process (ln_triposr_set_precision); prints "lunar-nova: FROM: why" and
 * returns -1 when it cannot be had here. */
int ln_app_precision_set(const char *text, const char *from);
int ln_app_device_select(const char *text, int quiet_cpu, struct ln_error *err);
void ln_app_device_release(void);

/* Exit status for an ln_status code. */
int ln_app_exit_for(int code);

/* A terminal progress bar on stderr: active only when stderr is a terminal
 * and quiet is 0. ln_app_bar_progress() gives the reporter to pass down. */
struct ln_app_bar;
struct ln_app_bar *ln_app_bar_new(int quiet);
struct ln_progress ln_app_bar_progress(struct ln_app_bar *bar);
void ln_app_bar_free(struct ln_app_bar *bar);

/* serve --pull-models (serve_pull.c): downloads repo (a TripoSR repo id)
 * in a background thread and loads the engine from it; ready(user, engine)
 * then gets the engine (its to free, after the jobs that use it), on the
 * puller's thread. The probe fills /health's download report; stop cancels
 * the download and joins the thread (NULL: nothing). */
struct ln_app_puller;
struct ln_server_download;
struct ln_error;
struct ln_engine;
int ln_app_puller_start(const char *repo, void (*ready)(void *user, struct ln_engine *engine),
                        void *user, struct ln_app_puller **out, struct ln_error *err);
void ln_app_puller_probe(void *user, struct ln_server_download *out);
void ln_app_puller_stop(struct ln_app_puller *p);

#endif
