/*
 * libFuzzer target for the HTTP server: each input is the bytes a client
 * sends on one connection, written to a real server (ln_server_start on
 * 127.0.0.1, in this process, so the sanitizers see its threads) and read
 * back until the server closes. Everything the server parses from outside
 * goes through it: the request line and route ids (/jobs/{id}/...), the
 * status, limit and offset query parameters, percent-escapes, the Host and
 * Origin checks, the API token in its headers and in the lunar_nova_token
 * cookie (percent-decoded), Idempotency-Key, and multipart uploads with
 * their option fields (view=AZ,EL, numbers, booleans). The server answers
 * Host "fuzz.test" (a --public-host) and wants the token "fuzz-token"; the
 * jobs are stored in a scratch folder and never run (no workers).
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "ln_engine.h"
#include "ln_jobs.h"
#include "ln_log.h"
#include "ln_server.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int ln__port;
static char ln__outputs[] = "/tmp/ln-fuzz-http-XXXXXX";

static int ln__remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* The scratch outputs folder goes when the fuzzer exits normally. */
static void ln__remove_outputs(void)
{
    nftw(ln__outputs, ln__remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    ln_log_set_level(LN_LOG_LEVEL_ERROR); /* no line per request */
    if (!mkdtemp(ln__outputs))
        abort();
    atexit(ln__remove_outputs);
    struct ln_error err = {0};
    static struct ln_engine *sculpt;
    if (ln_engine_sculpt_new(&sculpt, &err) < 0)
        abort();
    static struct ln_engine_set engines;
    engines.engines[0] = sculpt;
    engines.n = 1;
    struct ln_jobs_config jc;
    ln_jobs_config_default(&jc);
    jc.outputs_dir = ln__outputs;
    struct ln_jobs *jobs;
    if (ln_jobs_open(&jc, &engines, &jobs, &err) < 0)
        abort();
    static const char *const hosts[] = {"fuzz.test"};
    struct ln_server_config cfg;
    ln_server_config_default(&cfg);
    cfg.port = 0;
    cfg.web_dir = LN_FUZZ_WEB_DIR;
    cfg.api_token = "fuzz-token";
    cfg.public_hosts = hosts;
    cfg.n_public_hosts = 1;
    cfg.timeout_s = 1; /* a body shorter than its Content-Length waits this long */
    cfg.threads = 2;
    cfg.max_request_bytes = 1 << 20;
    struct ln_server *srv;
    if (ln_server_start(&cfg, &srv, &err) < 0) {
        fprintf(stderr, "fuzz_http_request: the server did not start: %s\n", err.message);
        abort();
    }
    ln_server_set_ready(srv, jobs);
    ln__port = ln_server_port(srv);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        abort();
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)ln__port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
        abort();
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    for (size_t off = 0; off < size;) {
        ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (w <= 0)
            break; /* answered and closed early (413, 400, ...) */
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    /* Until the server closes, or 20 ms pass without a byte once the
     * answer has begun (a connection kept alive: the seeds ask for
     * "Connection: close"); an answer that never begins is a hang. */
    char buf[16384];
    int got = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, got ? 20 : 10000);
        if (n == 0 && got)
            break;
        if (n == 0) {
            fprintf(stderr, "fuzz_http_request: no answer in 10 s\n");
            abort();
        }
        if (n < 0 && errno == EINTR)
            continue;
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got = 1;
    }
    close(fd);
    return 0;
}
