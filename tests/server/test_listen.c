/* Unit tests of the server's listening socket (BSD sockets on Linux,
 * Winsock on Windows): it opens on a free port, a taken port is refused
 * with one clear line that names the address and the system's reason,
 * and a stopped server gives its port back. */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifdef _WIN32
#include <winsock2.h>
#endif

#include "ln_server.h"
#include "ln_sys.h"

static void test_listen_opens_and_refuses_taken_port(void **state)
{
    struct ln_server_config cfg;
    ln_server_config_default(&cfg);
    cfg.port = 0; /* any free port */
    cfg.threads = 2;
    struct ln_server *a = NULL, *b = NULL;
    struct ln_error err = {0};
    assert_int_equal(ln_server_start(&cfg, &a, &err), 0);
    int port = ln_server_port(a);
    assert_true(port > 0 && port < 65536);

    /* The same port again: refused, and the server is not made. */
    cfg.port = port;
    assert_int_equal(ln_server_start(&cfg, &b, &err), LN_EIO);
    assert_null(b);
    char want[LN_ERROR_MESSAGE_MAX], reason[160];
#ifdef _WIN32
    ln_sys_strerror(WSAEADDRINUSE, reason, sizeof reason);
#else
    ln_sys_strerror(EADDRINUSE, reason, sizeof reason);
#endif
    snprintf(want, sizeof want, "cannot listen on 127.0.0.1 port %d: %s", port, reason);
    assert_string_equal(err.message, want);
    print_message("%s\n", err.message);

    /* Stopped, the server gives the port back. */
    ln_server_stop(a);
    assert_int_equal(ln_server_start(&cfg, &b, &err), 0);
    assert_int_equal(ln_server_port(b), port);
    ln_server_stop(b);
}

static void test_listen_refuses_bad_addresses(void **state)
{
    struct ln_server_config cfg;
    ln_server_config_default(&cfg);
    struct ln_server *s = NULL;
    struct ln_error err = {0};
    cfg.host = "localhost.example";
    assert_int_equal(ln_server_start(&cfg, &s, &err), LN_EINVAL);
    assert_string_equal(err.message, "'localhost.example' is not an IPv4 or IPv6 address");
    cfg.host = "127.0.0.1";
    cfg.port = 70000;
    assert_int_equal(ln_server_start(&cfg, &s, &err), LN_EINVAL);
    assert_string_equal(err.message, "port 70000 is out of range");
    assert_null(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen_opens_and_refuses_taken_port),
        cmocka_unit_test(test_listen_refuses_bad_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
