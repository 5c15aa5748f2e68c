/*
 * `lunar-nova worker --store postgres://...`: a worker of the PostgreSQL
 * job store, on any machine that reaches the database. It takes queued
 * jobs one at a time (ln_pg_worker.h), runs them with the engines it has
 * (triposr for single images when its weights are found, sculpt always)
 * and stores the results in the database. SIGINT/SIGTERM (Ctrl+C) stop it
 * cleanly: the running job is stopped and given back to the queue.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "ln_engine.h"
#include "ln_fs.h"
#include "ln_image.h"
#include "ln_log.h"
#include "ln_pg_worker.h"
#include "ln_sys.h"
#include "ln_threads.h"
#include "ln_time.h"

static void ln__worker_usage(FILE *f)
{
    fputs("Usage: lunar-nova worker --store URL [options]\n"
          "\n"
          "Runs queued jobs of a PostgreSQL job store, one at a time, and stores their\n"
          "results there (docs/postgres.md). Stop it with Ctrl+C or SIGTERM: the job it\n"
          "runs is given back to the queue for another worker.\n"
          "\n"
          "  --store URL        postgres://user@host/database or a libpq connection\n"
          "                     string (LUNAR_NOVA_STORE)\n"
          "  --scratch DIR      local folder for the running job's files\n"
          "                     (default: lunar-nova-worker-<pid> in the temporary folder)\n"
          "  --name NAME        this worker's name in the job records (default: worker-<pid>)\n"
          "  --lease SECONDS    how long a job stays this worker's without a renewal\n"
          "                     (default 30; it is renewed every third of that)\n"
          "  --model PATH|ID    TripoSR weights (default: the Hugging Face cache)\n"
          "  --device cpu|auto|vulkan[:N]  what runs the network (LUNAR_NOVA_DEVICE;\n"
          "                     default auto: the first discrete GPU, else the CPU;\n"
          "                     docs/vulkan.md); each job record names it\n"
          "  --threads N        threads per job (default: the CPUs this process may use)\n"
          "  --once             run what is queued, then exit\n",
          f);
}

struct ln__work {
    struct ln_pg_worker *w;
    int once;
    int rc;
    struct ln_error err;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping;
};

/* Steps until stopped (or, with --once, until the queue is empty); waits a
 * second between polls of an empty queue. */
static void *ln__work_loop(void *arg)
{
    struct ln__work *k = arg;
    for (;;) {
        pthread_mutex_lock(&k->mu);
        int stop = k->stopping;
        pthread_mutex_unlock(&k->mu);
        if (stop)
            break;
        int ran = 0;
        struct ln_error err = {0};
        int rc = ln_pg_worker_step(k->w, &ran, &err);
        if (rc < 0) {
            ln_log_warn("the job store: %s (trying again)", err.message);
            ran = 0;
            if (k->once) {
                k->rc = rc;
                k->err = err;
                break;
            }
        }
        if (ran)
            continue;
        if (k->once)
            break;
        pthread_mutex_lock(&k->mu);
        double deadline = ln_time_now() + (rc < 0 ? 5.0 : 1.0);
        while (!k->stopping && ln_time_now() < deadline)
            ln_cond_wait_until(&k->cv, &k->mu, deadline);
        pthread_mutex_unlock(&k->mu);
    }
    return NULL;
}

int ln_app_worker(int argc, char **argv)
{
    const char *store = getenv("LUNAR_NOVA_STORE");
    const char *scratch = NULL, *name = NULL, *model = NULL;
    const char *device = getenv("LUNAR_NOVA_DEVICE");
    double lease = 30.0;
    int once = 0, threads = 0;
    static const struct option opts[] = {
        {"store", required_argument, NULL, 's'},   {"scratch", required_argument, NULL, 'd'},
        {"name", required_argument, NULL, 'n'},    {"lease", required_argument, NULL, 'l'},
        {"model", required_argument, NULL, 'm'},   {"threads", required_argument, NULL, 't'},
        {"once", no_argument, NULL, 'o'},          {"help", no_argument, NULL, 'h'},
        {"device", required_argument, NULL, 'g'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 's':
            store = optarg;
            break;
        case 'd':
            scratch = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'l':
            lease = strtod(optarg, &end);
            if (end == optarg || *end || !(lease >= 3.0 && lease <= 3600.0)) {
                fprintf(stderr, "lunar-nova worker: --lease takes 3 to 3600 seconds\n");
                return LN_EXIT_USAGE;
            }
            break;
        case 'm':
            model = optarg;
            break;
        case 't':
            threads = (int)strtol(optarg, &end, 10);
            if (end == optarg || *end || threads < 1 || threads > 256) {
                fprintf(stderr, "lunar-nova worker: --threads takes 1 to 256\n");
                return LN_EXIT_USAGE;
            }
            break;
        case 'o':
            once = 1;
            break;
        case 'g':
            if (ln_app_device_check(optarg, "worker: --device") < 0)
                return LN_EXIT_USAGE;
            device = optarg;
            break;
        case 'h':
            ln__worker_usage(stdout);
            return LN_EXIT_OK;
        default:
            ln__worker_usage(stderr);
            return LN_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "lunar-nova worker: unexpected argument '%s'\n", argv[optind]);
        return LN_EXIT_USAGE;
    }
    if (!store || !*store) {
        fprintf(stderr, "lunar-nova worker: no --store given (nor LUNAR_NOVA_STORE)\n");
        return LN_EXIT_USAGE;
    }
    if (device && *device && ln_app_device_check(device, "worker: LUNAR_NOVA_DEVICE") < 0)
        return LN_EXIT_USAGE;
    if (threads > 0)
        ln_threads_set(threads);
    char scratch_default[512];
    if (!scratch) {
        const char *tmp = getenv("TMPDIR");
        if (!tmp || !*tmp)
            tmp = getenv("TEMP");
        snprintf(scratch_default, sizeof scratch_default, "%s/lunar-nova-worker-%lu",
                 tmp && *tmp ? tmp : "/tmp", ln_sys_pid());
        scratch = scratch_default;
    }

    struct ln_error err = {0};
    if (!once && ln_stop_init(&err) < 0) {
        fprintf(stderr, "lunar-nova worker: %s\n", err.message);
        return LN_EXIT_FAILURE;
    }
    /* Before the engines: the one line that says which device and why
     * comes first, as in serve. A device named but unusable is refused. */
    if (ln_app_device_select(device && *device ? device : NULL, 0, &err) < 0) {
        fprintf(stderr, "lunar-nova worker: %s\n", err.message);
        return LN_EXIT_USAGE;
    }
    struct ln_engine *sculpt = NULL, *triposr = NULL;
    if (ln_engine_sculpt_new(&sculpt, &err) < 0) {
        fprintf(stderr, "lunar-nova worker: %s\n", err.message);
        ln_app_device_release();
        return LN_EXIT_FAILURE;
    }
    struct ln_error why = {0};
    struct ln_engine_set set = {{sculpt}, 1};
    if (ln_engine_triposr_new(model, &triposr, &why) == LN_OK) {
        set = (struct ln_engine_set){{triposr, sculpt}, 2};
        ln_log_info("engines: triposr (%s) and sculpt", ln_engine_description(triposr));
    } else if (model) {
        fprintf(stderr, "lunar-nova worker: --model %s: %s\n", model, why.message);
        ln_engine_free(sculpt);
        ln_app_device_release();
        return LN_EXIT_USAGE;
    } else {
        ln_log_info("engines: sculpt (TripoSR weights not found: %s); a triposr job runs on "
                    "sculpt with a warning",
                    why.message);
    }
    struct ln_image_limits limits = ln_image_limits_default();
    struct ln_job_run_env env = {.engines = &set, .limits = &limits};
    struct ln_pg_worker_options opt = {.name = name, .scratch = scratch, .lease_s = lease};
    struct ln_pg_worker *w = NULL;
    int rc = ln_pg_worker_new(store, &opt, &env, &w, &err);
    if (rc < 0) {
        fprintf(stderr, "lunar-nova worker: %s\n", err.message);
        ln_engine_free(triposr);
        ln_engine_free(sculpt);
        ln_app_device_release();
        return ln_app_exit_for(rc);
    }
    ln_log_info("worker: taking jobs from the job store (lease %.0f s, scratch %s)", lease,
                scratch);

    struct ln__work k = {.w = w, .once = once};
    pthread_mutex_init(&k.mu, NULL);
    ln_cond_init(&k.cv);
    if (once) {
        ln__work_loop(&k);
    } else {
        pthread_t t;
        if (pthread_create(&t, NULL, ln__work_loop, &k) != 0) {
            fprintf(stderr, "lunar-nova worker: cannot start its thread\n");
            rc = LN_EIO;
        } else {
            const char *stop = ln_stop_wait();
            ln_log_info("worker: stopping (%s)", stop);
            pthread_mutex_lock(&k.mu);
            k.stopping = 1;
            pthread_cond_broadcast(&k.cv);
            pthread_mutex_unlock(&k.mu);
            ln_pg_worker_stop(w);
            pthread_join(t, NULL);
            ln_stop_done();
        }
    }
    ln_pg_worker_free(w);
    ln_engine_free(triposr);
    ln_engine_free(sculpt);
    ln_app_device_release();
    if (scratch == scratch_default) /* a folder given by --scratch is the user's */
        ln_dir_remove_tree(scratch, NULL);
    pthread_mutex_destroy(&k.mu);
    pthread_cond_destroy(&k.cv);
    if (rc == LN_OK && k.rc < 0) {
        fprintf(stderr, "lunar-nova worker: %s\n", k.err.message);
        rc = k.rc;
    }
    return ln_app_exit_for(rc);
}
