/* test_url.c -- URL parsing: schemes, hosts, IPv6 literals, default ports, bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base/err.h"
#include "http/url.h"
#include "unit.h"

static void test_good_urls(void **state)
{
    (void)state;
    struct url u;
    char err[ERR_SIZE];
    assert_int_equal(url_parse(&u, "http://127.0.0.1:8080/health", err, sizeof err), 0);
    assert_false(u.tls);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 8080);
    assert_string_equal(u.path, "/health");
    assert_string_equal(u.authority, "127.0.0.1:8080");

    assert_int_equal(url_parse(&u, "https://example.com", err, sizeof err), 0);
    assert_true(u.tls);
    assert_int_equal(u.port, 443);
    assert_string_equal(u.path, "/");
    assert_string_equal(u.authority, "example.com");

    assert_int_equal(url_parse(&u, "HTTP://localhost?x=1#frag", err, sizeof err), 0);
    assert_int_equal(u.port, 80);
    assert_string_equal(u.path, "/?x=1");

    assert_int_equal(url_parse(&u, "http://[::1]:9091/api/v1/cluster/status?a=b", err, sizeof err),
                     0);
    assert_true(u.ipv6);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 9091);
    assert_string_equal(u.path, "/api/v1/cluster/status?a=b");
    assert_string_equal(u.authority, "[::1]:9091");

    assert_int_equal(url_parse(&u, "https://[2001:db8::1]/", err, sizeof err), 0);
    assert_int_equal(u.port, 443);
    assert_string_equal(u.authority, "[2001:db8::1]");

    assert_int_equal(url_parse(&u, "http://h:80/", err, sizeof err), 0);
    assert_string_equal(u.authority, "h"); /* default port left out of Host */
}

static void expect_bad(const char *text, const char *fragment)
{
    struct url u;
    char err[ERR_SIZE] = "";
    assert_int_equal(url_parse(&u, text, err, sizeof err), -1);
    if (!strstr(err, fragment)) fail_msg("url '%s': message '%s' lacks '%s'", text, err, fragment);
}

static void test_bad_urls(void **state)
{
    (void)state;
    expect_bad("127.0.0.1:8080", "expected it to start with http:// or https://");
    expect_bad("ftp://host/", "expected it to start with http://");
    expect_bad("http://", "expected a host");
    expect_bad("http://:80/", "expected a host");
    expect_bad("http://h:0/", "port from 1 to 65535");
    expect_bad("http://h:65536/", "port from 1 to 65535");
    expect_bad("http://h:8a/", "port from 1 to 65535");
    expect_bad("http://h:/", "port from 1 to 65535");
    expect_bad("http://[::1/", "closing ']'");
    expect_bad("http://[zz::1]/", "is not an IPv6 address");
    expect_bad("http://user@h/", "user info");
    expect_bad("http://h/a b", "%-encoded");
    expect_bad("http://h!/", "invalid character");
    expect_bad("http://[::1]x/", "unexpected 'x'");
}

static void test_resolve(void **state)
{
    (void)state;
    struct url u;
    struct sockaddr_storage ss;
    char err[ERR_SIZE];
    assert_int_equal(url_parse(&u, "http://127.0.0.1:81/", err, sizeof err), 0);
    assert_int_equal(url_resolve(&u, &ss, err, sizeof err), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(url_parse(&u, "http://[::1]:81/", err, sizeof err), 0);
    assert_int_equal(url_resolve(&u, &ss, err, sizeof err), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(url_parse(&u, "http://localhost:81/", err, sizeof err), 0); /* /etc/hosts */
    assert_int_equal(url_resolve(&u, &ss, err, sizeof err), 0);
}

int unit_url(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_urls),
        cmocka_unit_test(test_bad_urls),
        cmocka_unit_test(test_resolve),
    };
    return cmocka_run_group_tests_name("url", tests, NULL, NULL);
}
