/* Licensed under the Apache License, Version 2.0.
 *
 * Unit tests of modules/common/ac_http.c: the URL rules (https, loopback
 * http, no credentials), the form encoding and client_secret_basic of RFC
 * 6749 section 2.3.1, and real fetches against a tiny server forked on
 * 127.0.0.1: a body, the size cap, a redirect that is not followed, the
 * deadline, a refused connection, a POST.  Prints TAP.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "apr_general.h"
#include "apr_pools.h"
#include "apr_strings.h"

#include "ac_http.h"
#include "tap.h"

static void serve_one(int c)
{
    char req[8192], *body;
    ssize_t n = 0, m;
    const char *resp;
    char big[70000];

    /* read the request head (and whatever body came with it) */
    while (n < (ssize_t)sizeof(req) - 1
           && (m = read(c, req + n, sizeof(req) - 1 - n)) > 0) {
        n += m;
        req[n] = '\0';
        if ((body = strstr(req, "\r\n\r\n")) != NULL) {
            if (strncmp(req, "POST", 4) != 0 || strstr(body, "token=")) {
                break;
            }
        }
    }
    req[n] = '\0';
    if (strncmp(req, "GET /ok ", 8) == 0) {
        resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
               "Cache-Control: public, max-age=120\r\n"
               "Content-Length: 11\r\nConnection: close\r\n\r\n{\"keys\":[]}";
    }
    else if (strncmp(req, "GET /redirect ", 14) == 0) {
        resp = "HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 0\r\n"
               "Connection: close\r\n\r\n";
    }
    else if (strncmp(req, "GET /big ", 9) == 0) {
        /* no Content-Length: the cap must stop the stream itself */
        memset(big, 'x', sizeof(big));
        resp = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
        if (write(c, resp, strlen(resp)) < 0
            || write(c, big, sizeof(big)) < 0) {
            return;
        }
        return;
    }
    else if (strncmp(req, "GET /slow ", 10) == 0) {
        sleep(2);
        resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    }
    else if (strncmp(req, "POST /introspect ", 17) == 0
             && strstr(req, "Authorization: Basic "
                            "bXkrY2xpZW50OnMlM0FlY3JldA==\r\n")
             && strstr(req, "Content-Type: application/x-www-form-"
                            "urlencoded\r\n")
             && strstr(req, "\r\n\r\ntoken=a%2Bb")) {
        resp = "HTTP/1.1 200 OK\r\nContent-Length: 15\r\n"
               "Connection: close\r\n\r\n{\"active\":true}";
    }
    else {
        resp = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
               "Connection: close\r\n\r\n";
    }
    if (write(c, resp, strlen(resp)) < 0) {
        return;
    }
}

/* A server on 127.0.0.1 (the port in *port), in a child process. */
static pid_t start_server(int *port)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    pid_t pid;

    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(s, 16) != 0
        || getsockname(s, (struct sockaddr *)&a, &alen) != 0) {
        perror("server");
        exit(2);
    }
    *port = ntohs(a.sin_port);
    pid = fork();
    if (pid == 0) {
        for (;;) {
            int c = accept(s, NULL, NULL);

            if (c < 0) {
                continue;
            }
            if (fork() == 0) {
                serve_one(c);
                shutdown(c, SHUT_WR);
                close(c);
                _exit(0);
            }
            close(c);
            while (waitpid(-1, NULL, WNOHANG) > 0) {
            }
        }
    }
    close(s);
    return pid;
}

/* A loopback port where nothing listens. */
static int dead_port(void)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int s = socket(AF_INET, SOCK_STREAM, 0), port;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(s, (struct sockaddr *)&a, sizeof(a));
    getsockname(s, (struct sockaddr *)&a, &alen);
    port = ntohs(a.sin_port);
    close(s);
    return port;
}

int main(void)
{
    apr_pool_t *p;
    ac_http_request req;
    ac_http_response resp;
    const char *err;
    ac_http_status st;
    int port;
    pid_t server;
    apr_time_t t0;

    apr_initialize();
    apr_pool_create(&p, NULL);
    tap_plan(44);

    /* the URL rules */
    ok(ac_http_check_url(p, "https://idp.example.com/jwks") == NULL,
       "an https URL is accepted");
    ok(ac_http_check_url(p, "HTTPS://idp.example.com:8443/a?b=c") == NULL,
       "with a port and a query, scheme case-insensitive");
    ok(ac_http_check_url(p, "http://127.0.0.1:8080/jwks") == NULL,
       "http to 127.0.0.1 is accepted");
    ok(ac_http_check_url(p, "http://localhost/jwks") == NULL,
       "http to localhost is accepted");
    ok(ac_http_check_url(p, "http://[::1]:99/jwks") == NULL,
       "http to [::1] is accepted");
    ok(ac_http_check_url(p, "http://idp.example.com/jwks") != NULL,
       "http to another host is refused");
    ok(ac_http_check_url(p, "http://127.0.0.1.evil.com/jwks") != NULL,
       "http to a name that starts like 127.0.0.1 is refused");
    ok(ac_http_check_url(p, "http://localhost.evil.com/") != NULL,
       "http to localhost.<domain> is refused");
    ok(ac_http_check_url(p, "http://10.0.0.1/") != NULL,
       "http to a private address is refused");
    ok(ac_http_check_url(p, "ftp://idp.example.com/jwks") != NULL,
       "another scheme is refused");
    ok(ac_http_check_url(p, "file:///etc/passwd") != NULL,
       "file: is refused");
    ok(ac_http_check_url(p, "https://user:pw@idp.example.com/") != NULL,
       "a URL with credentials is refused");
    ok(ac_http_check_url(p, "https://idp.example.com/#x") != NULL,
       "a URL with a fragment is refused");
    ok(ac_http_check_url(p, "https://") != NULL,
       "a URL without a host is refused");
    ok(ac_http_check_url(p, "") != NULL && ac_http_check_url(p, NULL) != NULL,
       "empty and NULL are refused");
    ok(ac_http_is_loopback("127.1.2.3") && !ac_http_is_loopback("127.0.0")
       && !ac_http_is_loopback("127.0.0.1.") && !ac_http_is_loopback(NULL),
       "loopback: 127/8 with four parts only");

    /* form encoding and client_secret_basic */
    ok(strcmp(ac_form_urlencode(p, "a b+c/d=e&f~g*h-i.j_k", 21),
              "a+b%2Bc%2Fd%3De%26f%7Eg*h-i.j_k") == 0,
       "form encoding: space as +, reserved bytes as %XX");
    ok(strcmp(ac_form_urlencode(p, "\xc3\xa9\n", 3), "%C3%A9%0A") == 0,
       "form encoding: UTF-8 and control bytes");
    ok(strcmp(ac_http_basic_credentials(p, "rs-client", "rs-secret"),
              "Basic cnMtY2xpZW50OnJzLXNlY3JldA==") == 0,
       "client_secret_basic of plain credentials");
    ok(strcmp(ac_http_basic_credentials(p, "my client", "s:ecret"),
              "Basic bXkrY2xpZW50OnMlM0FlY3JldA==") == 0,
       "client_secret_basic form-encodes id and secret first (RFC 6749 "
       "2.3.1)");

    /* fetches */
    ok(ac_http_global_init() == 0 && ac_http_global_init() == 0,
       "global init, twice");
    signal(SIGPIPE, SIG_IGN);
    server = start_server(&port);
    memset(&req, 0, sizeof(req));
    req.timeout = apr_time_from_sec(5);
    req.max_size = 65536;

    req.url = apr_psprintf(p, "http://127.0.0.1:%d/ok", port);
    st = ac_http_fetch(p, &req, &resp, &err);
    ok(st == AC_HTTP_OK && resp.status == 200, "GET: 200");
    ok(st == AC_HTTP_OK && resp.len == 11
       && strcmp(resp.body, "{\"keys\":[]}") == 0, "GET: the body");
    ok(st == AC_HTTP_OK && resp.content_type
       && strcmp(resp.content_type, "application/json") == 0,
       "GET: the content type");
    ok(st == AC_HTTP_OK && resp.max_age == 120,
       "GET: the max-age of its Cache-Control");

    req.url = apr_psprintf(p, "http://127.0.0.1:%d/redirect", port);
    st = ac_http_fetch(p, &req, &resp, &err);
    ok(st == AC_HTTP_OK && resp.status == 302,
       "a redirect is not followed: its status comes back");

    req.url = apr_psprintf(p, "http://127.0.0.1:%d/big", port);
    st = ac_http_fetch(p, &req, &resp, &err);
    ok(st == AC_HTTP_ERR_TOO_LARGE, "a body over the cap is aborted");
    ok(st == AC_HTTP_ERR_TOO_LARGE && err && strstr(err, "65536"),
       "and the error says the cap");
    req.max_size = 80000;
    st = ac_http_fetch(p, &req, &resp, &err);
    ok(st == AC_HTTP_OK && resp.len == 70000, "the same under a larger cap");

    req.url = apr_psprintf(p, "http://127.0.0.1:%d/slow", port);
    req.timeout = apr_time_from_msec(300);
    t0 = apr_time_now();
    st = ac_http_fetch(p, &req, &resp, &err);
    ok(st == AC_HTTP_ERR_TIMEOUT, "a slow answer times out");
    ok(apr_time_now() - t0 < apr_time_from_msec(1500),
       "within the deadline");

    req.url = apr_psprintf(p, "http://127.0.0.1:%d/ok", dead_port());
    req.timeout = apr_time_from_sec(2);
    st = ac_http_fetch(p, &req, &resp, &err);
    ok(st == AC_HTTP_ERR_CONNECT && err != NULL,
       "a refused connection is a connect error");

    req.url = "http://example.com/";
    st = ac_http_fetch(p, &req, &resp, &err);
    ok(st == AC_HTTP_ERR_URL, "a URL breaking the rules is never fetched");

    req.url = apr_psprintf(p, "http://127.0.0.1:%d/introspect", port);
    req.body = "token=a%2Bb&token_type_hint=access_token";
    req.body_len = strlen(req.body);
    req.content_type = "application/x-www-form-urlencoded";
    req.authorization = ac_http_basic_credentials(p, "my client", "s:ecret");
    req.accept = "application/json";
    st = ac_http_fetch(p, &req, &resp, &err);
    ok(st == AC_HTTP_OK && resp.status == 200,
       "POST with client_secret_basic and a form body");
    ok(st == AC_HTTP_OK && strcmp(resp.body, "{\"active\":true}") == 0,
       "POST: the body");

    req.url = apr_psprintf(p, "http://127.0.0.1:%d/nothing", port);
    st = ac_http_fetch(p, &req, &resp, &err);
    ok(st == AC_HTTP_OK && resp.status == 404 && resp.len == 0,
       "a 404 is an answer, with an empty body");

    ok(ac_http_max_age(NULL) == -1 && ac_http_max_age("public") == -1,
       "Cache-Control without max-age: -1");
    ok(ac_http_max_age("public, max-age=300") == 300,
       "Cache-Control max-age=300 among others: 300");
    ok(ac_http_max_age("max-age=\"60\"") == 60, "a quoted max-age");
    ok(ac_http_max_age("max-age=60, no-store") == 0
       && ac_http_max_age("No-Cache") == 0, "no-store / no-cache: 0");
    ok(ac_http_max_age("max-age=99999999999999999999") == 1000000000,
       "an overlong max-age is capped, not wrapped");
    ok(ac_http_max_age("max-age=x") == -1 && ac_http_max_age("s-maxage=5")
       == -1, "a bad max-age and s-maxage are not a max-age");

    req.url = "https://127.0.0.1:1/";
    req.timeout = apr_time_from_sec(2);
    st = ac_http_fetch(p, &req, &resp, &err);
    ok(st == AC_HTTP_ERR_CONNECT, "https to a closed port: connect error");

    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    ok(1, "the server stopped");
    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
