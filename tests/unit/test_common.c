/* Licensed under the Apache License, Version 2.0.
 *
 * Unit tests of modules/common: the header splitter, strict base64, the
 * JSON and quoted-string encoders, the scope scanner and matcher, the
 * constant-time compare and how a module finds its metrics.  Prints TAP.
 */

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apr_general.h"
#include "apr_pools.h"

#include "apr_atomic.h"
#include "apr_hooks.h"
#include "apr_optional.h"
#include "apr_thread_proc.h"

#include "ac_common.h"
#include "ac_metrics.h"
#include "ac_seen.h"
#include "tap.h"


static int split_is(const char *header, int nwords, const char *scheme,
                    const char *cred)
{
    ac_auth_header h;

    ac_auth_header_split(header, &h);
    if (h.nwords != nwords) {
        return 0;
    }
    if (scheme && (h.scheme_len != strlen(scheme)
                   || strncmp(h.scheme, scheme, h.scheme_len) != 0)) {
        return 0;
    }
    if (cred && (h.credentials_len != strlen(cred)
                 || strncmp(h.credentials, cred, h.credentials_len) != 0)) {
        return 0;
    }
    return 1;
}

static void test_split(void)
{
    ac_auth_header h;

    ok(split_is(NULL, 0, NULL, NULL), "no header has no words");
    ok(split_is("", 0, NULL, NULL), "empty header has no words");
    ok(split_is("   \t ", 0, NULL, NULL), "blank header has no words");
    ok(split_is("Token", 1, "Token", NULL), "scheme alone is one word");
    ok(split_is("Token abc", 2, "Token", "abc"), "scheme and credentials");
    ok(split_is("  Token \t abc  ", 2, "Token", "abc"),
       "surrounding and repeated whitespace is ignored as str.split() does");
    ok(split_is("Token a b", 3, "Token", "a"), "three words count as more");
    ok(split_is("Token a b c d", 3, NULL, NULL), "many words stop at three");
    ok(split_is("Token\va\fb", 3, NULL, NULL),
       "vertical tab and form feed split like Python");

    ac_auth_header_split("bAsIc xyz", &h);
    ok(ac_auth_header_is(&h, "Basic"), "scheme compares case-insensitively");
    ok(!ac_auth_header_is(&h, "Bas"), "a prefix of the scheme is not it");
    ac_auth_header_split("Basically xyz", &h);
    ok(!ac_auth_header_is(&h, "Basic"), "a longer word is not the scheme");
    ac_auth_header_split("", &h);
    ok(!ac_auth_header_is(&h, "Basic"), "no words match no scheme");
}

static int b64_is(apr_pool_t *p, const char *in, const char *want,
                  apr_size_t wantlen)
{
    char *out;
    apr_size_t len;

    if (ac_base64_decode(p, in, strlen(in), &out, &len) != 0) {
        return want == NULL;
    }
    return want != NULL && len == wantlen && memcmp(out, want, len) == 0
           && out[len] == '\0';
}

static void test_base64(apr_pool_t *p)
{
    ok(b64_is(p, "YWxpY2U6c2VjcmV0", "alice:secret", 12),
       "base64 without padding decodes");
    ok(b64_is(p, "YQ==", "a", 1), "base64 with two pad characters decodes");
    ok(b64_is(p, "YWI=", "ab", 2), "base64 with one pad character decodes");
    ok(b64_is(p, "AAE=", "\0\1", 2), "base64 decodes NUL bytes with length");
    ok(b64_is(p, "", NULL, 0), "empty base64 is refused");
    ok(b64_is(p, "YQ", NULL, 0), "missing padding is refused");
    ok(b64_is(p, "YQ=", NULL, 0), "length not a multiple of four is refused");
    ok(b64_is(p, "Y!==", NULL, 0), "characters outside the alphabet are refused");
    ok(b64_is(p, "YW J", NULL, 0), "embedded whitespace is refused");
    ok(b64_is(p, "YR==", NULL, 0), "non-zero pad bits are refused");
    ok(b64_is(p, "YWJ=", NULL, 0), "non-zero bits before one pad are refused");
    ok(b64_is(p, "Y===", NULL, 0), "three pad characters are refused");
    ok(b64_is(p, "YQ==YQ==", NULL, 0), "padding in the middle is refused");
    ok(b64_is(p, "-_8=", NULL, 0), "base64url characters are refused");
    ok(b64_is(p, "+/8=", "\xfb\xff", 2), "+ and / decode");
}

static void test_encoders(apr_pool_t *p)
{
    ok(strcmp(ac_json_string(p, "plain"), "\"plain\"") == 0,
       "JSON string of plain text");
    ok(strcmp(ac_json_string(p, "a\"b\\c"), "\"a\\\"b\\\\c\"") == 0,
       "JSON string escapes quote and backslash");
    ok(strcmp(ac_json_string(p, "l1\nl2\t\x01"),
              "\"l1\\nl2\\t\\u0001\"") == 0,
       "JSON string escapes control characters");
    ok(strcmp(ac_json_string(p, "caf\xc3\xa9"), "\"caf\xc3\xa9\"") == 0,
       "JSON string keeps UTF-8");
    ok(strcmp(ac_http_quote(p, "api"), "\"api\"") == 0, "quoted-string");
    ok(strcmp(ac_http_quote(p, "a\"b\\"), "\"a\\\"b\\\\\"") == 0,
       "quoted-string escapes quote and backslash");
    ok(strcmp(ac_http_quote(p, "x\r\nSet-Cookie: y"),
              "\"x  Set-Cookie: y\"") == 0,
       "quoted-string cannot split a header");
}

/* The words ac_scope_next finds in `list`, each followed by '|'. */
static const char *scope_words(apr_pool_t *p, const char *list)
{
    const char *s = list, *word, *out = "";
    apr_size_t len;

    while (ac_scope_next(&s, &word, &len)) {
        out = apr_pstrcat(p, out, apr_pstrmemdup(p, word, len), "|", NULL);
    }
    return out;
}

static void test_scope_scanner(apr_pool_t *p)
{
    const char *s = "a ", *word = NULL;
    apr_size_t len = 0;

    ok(strcmp(scope_words(p, "read write"), "read|write|") == 0,
       "scope scanner: the words of a list, in order");
    ok(strcmp(scope_words(p, "  a   b "), "a|b|") == 0,
       "scope scanner: leading, repeated and trailing spaces separate only");
    ok(strcmp(scope_words(p, ""), "") == 0
       && strcmp(scope_words(p, "   "), "") == 0
       && strcmp(scope_words(p, NULL), "") == 0,
       "scope scanner: no words in an empty, blank or absent list");
    ok(strcmp(scope_words(p, "a\tb c\nd"), "a\tb|c\nd|") == 0,
       "scope scanner: only a space separates (RFC 6749 section 3.3)");
    ok(ac_scope_next(&s, &word, &len) && len == 1 && *word == 'a'
       && !ac_scope_next(&s, &word, &len) && *s == '\0'
       && !ac_scope_next(&s, &word, &len),
       "scope scanner: after the last word it stays at the end");
}

static void test_scopes_union(apr_pool_t *p)
{
    ok(strcmp(ac_scopes_union(p, "read write", "admin read"),
              "read write admin") == 0,
       "union: each word once, in the order first seen");
    ok(strcmp(ac_scopes_union(p, "  a  a ", NULL), "a") == 0,
       "union: repeated words and extra spaces go, NULL is empty");
    ok(strcmp(ac_scopes_union(p, "", ""), "") == 0, "union of nothing: empty");
}

static void test_scopes_and_compare(void)
{
    ok(ac_scopes_intersect("read write", "write"), "one shared scope matches");
    ok(ac_scopes_intersect("read", "admin read"), "any wanted scope matches");
    ok(!ac_scopes_intersect("read write", "admin"), "no shared scope");
    ok(!ac_scopes_intersect("reader", "read"), "a prefix is not a scope");
    ok(!ac_scopes_intersect("read", "rea"), "a shorter word is not a scope");
    ok(!ac_scopes_intersect(NULL, "read"), "no scopes match nothing");
    ok(!ac_scopes_intersect("", "read"), "empty scopes match nothing");
    ok(ac_scopes_intersect("  a   b ", "b"), "extra spaces are ignored");

    ok(ac_ct_equal("secret", "secret", 6), "equal buffers compare equal");
    ok(!ac_ct_equal("secret", "secreT", 6), "last byte differs");
    ok(!ac_ct_equal("Secret", "secret", 6), "first byte differs");
    ok(ac_ct_equal("", "", 0), "empty buffers compare equal");

    ok(ac_is_http_token("X-CSRFToken") && ac_is_http_token("Bearer"),
       "header and scheme names are HTTP tokens");
    ok(!ac_is_http_token("To ken") && !ac_is_http_token("a\"b"),
       "spaces and quotes are not token characters");
    ok(!ac_is_http_token("") && !ac_is_http_token(NULL),
       "an empty name is not a token");
}

static void test_directive_numbers_and_records(apr_pool_t *p)
{
    int n = -1;
    apr_interval_time_t t = -1;
    unsigned char buf[64];
    const char *fields[3] = { "alice", "", "{\"a\":1}" };
    const char *u = NULL, *e = NULL, *d = NULL;
    const char **const out[3] = { &u, &e, &d };
    const char *head, *err;
    unsigned int len;

    ok(ac_parse_int(p, "X", "42", 0, 100, &n) == NULL && n == 42,
       "a whole number in range");
    err = ac_parse_int(p, "X", "101", 0, 100, &n);
    ok(err != NULL && strstr(err, "X: '101'") != NULL,
       "out of range: the message names the directive and the value");
    ok(ac_parse_int(p, "X", "4x", 0, 100, &n) != NULL
       && ac_parse_int(p, "X", "", 0, 100, &n) != NULL,
       "trailing junk and empty are refused");
    ok(ac_parse_seconds(p, "X", "0.5", 0, 10, &t) == NULL && t == 500000,
       "seconds with a fraction");
    ok(ac_parse_seconds(p, "X", "0", 0, 10, &t) != NULL
       && ac_parse_seconds(p, "X", "0", 1, 10, &t) == NULL && t == 0,
       "zero seconds only where allowed");
    ok(ac_parse_seconds(p, "X", "11", 0, 10, &t) != NULL
       && ac_parse_seconds(p, "X", "-1", 1, 10, &t) != NULL
       && ac_parse_seconds(p, "X", "nan", 1, 10, &t) != NULL,
       "too many, negative and nan seconds are refused");

    len = ac_record_encode(buf, sizeof(buf), "0 17", fields, 3);
    head = ac_record_decode(p, buf, len, out, 3);
    ok(len == 5 + 6 + 1 + 8 && head && strcmp(head, "0 17") == 0
       && strcmp(u, "alice") == 0 && strcmp(e, "") == 0
       && strcmp(d, "{\"a\":1}") == 0,
       "a record survives encode and decode, empty fields included");
    ok(ac_record_encode(buf, 10, "0 17", fields, 3) == 0,
       "a record too large for the buffer is not encoded");
    ok(ac_record_decode(p, buf, len - 1, out, 3) == NULL
       && ac_record_decode(p, buf, len, out, 4) == NULL
       && ac_record_decode(p, buf, len, out, 2) == NULL,
       "a truncated record, or one with another field count, is refused");
    {
        apr_int64_t v[3] = { 0, 0, 0 };

        ok(ac_record_numbers("2 -17 9223372036854775807", v, 3)
           && v[0] == 2 && v[1] == -17 && v[2] == APR_INT64_MAX,
           "a record head of numbers is read, negatives and 2^63-1 included");
        ok(!ac_record_numbers("2 17", v, 3)
           && !ac_record_numbers("2 17 1 4", v, 3)
           && !ac_record_numbers("2  17 1", v, 3)
           && !ac_record_numbers("2 17 1x", v, 3)
           && !ac_record_numbers("2 - 1", v, 3) && !ac_record_numbers("", v, 1)
           && !ac_record_numbers(" 1", v, 1)
           && !ac_record_numbers("9223372036854775808", v, 1),
           "a head with too few or many numbers, stray characters or an "
           "overflow is refused");
    }
}

static void test_csrf_and_origin(apr_pool_t *p)
{
    const char *o;

    ok(ac_csrf_token_valid("KzNTWJbCxk_wghqeTyLTIB3etc_ol3SX0am8QAuhCMI"),
       "a CSRF token of 43 base64url characters is well formed");
    ok(!ac_csrf_token_valid(NULL) && !ac_csrf_token_valid("")
       && !ac_csrf_token_valid("KzNTWJbCxk_wghqeTyLTIB3etc_ol3SX0am8QAuhCM")
       && !ac_csrf_token_valid("KzNTWJbCxk_wghqeTyLTIB3etc_ol3SX0am8QAuhCMI0")
       && !ac_csrf_token_valid("KzNTWJbCxk/wghqeTyLTIB3etc+ol3SX0am8QAuhCMI"),
       "a CSRF token of another length or alphabet is refused");
    ok((o = ac_url_origin(p, "HTTPS://App.Example:443/path?q#f")) != NULL
       && strcmp(o, "https://app.example") == 0,
       "an origin is lowercased and loses the default port and the path");
    ok((o = ac_url_origin(p, "http://u:pw@x.example:8080/")) != NULL
       && strcmp(o, "http://x.example:8080") == 0,
       "an origin keeps another port and drops the user info");
    ok((o = ac_url_origin(p, "https://[::1]:8443/")) != NULL
       && strcmp(o, "https://[::1]:8443") == 0,
       "an IPv6 origin is bracketed");
    ok(ac_url_origin(p, NULL) == NULL && ac_url_origin(p, "/relative") == NULL
       && ac_url_origin(p, "file:///etc/passwd") == NULL
       && ac_url_origin(p, "https://a<b.example/") == NULL
       && ac_url_origin(p, "null") == NULL,
       "no origin without a scheme and a plain host");
}

/* The cache envelope's numbers, the NOTIFY payload check and the
 * listener's back-off (the revocation listener). */
static void test_revocation_helpers(void)
{
    unsigned char b[8];
    static const char sha[] =
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    ac_be64_put(b, APR_UINT64_C(0x0102030405060708));
    ok(b[0] == 1 && b[7] == 8 && ac_be64_get(b) == APR_UINT64_C(0x0102030405060708),
       "a 64-bit number is written big-endian and read back");
    ac_be64_put(b, APR_UINT64_C(0xffffffffffffffff));
    ok(ac_be64_get(b) == APR_UINT64_C(0xffffffffffffffff),
       "the largest 64-bit number survives the round trip");
    ok(ac_is_lower_hex(sha, 64), "a SHA-256 hex is 64 lowercase hex digits");
    ok(!ac_is_lower_hex(NULL, 64) && !ac_is_lower_hex("", 64)
       && !ac_is_lower_hex("9f86", 64) && !ac_is_lower_hex(sha, 63),
       "a shorter or longer string is not a SHA-256 hex");
    ok(!ac_is_lower_hex("9F86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", 64)
       && !ac_is_lower_hex("9g86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", 64),
       "uppercase and non-hex characters are refused");
    ok(ac_backoff_next(0, 100, 1000) == 100
       && ac_backoff_next(100, 100, 1000) == 200
       && ac_backoff_next(400, 100, 1000) == 800
       && ac_backoff_next(800, 100, 1000) == 1000
       && ac_backoff_next(1000, 100, 1000) == 1000,
       "the back-off starts at the minimum, doubles, and stays at the maximum");
}

static void test_times(apr_pool_t *p)
{
    ok(ac_time_from_epoch(1) == APR_USEC_PER_SEC
       && ac_time_from_epoch(-1) == -APR_USEC_PER_SEC,
       "epoch seconds become microseconds");
    ok(ac_time_from_epoch(APR_INT64_C(9007199254740991))
       == ac_time_from_epoch(AC_EPOCH_MAX)
       && ac_time_from_epoch(APR_INT64_MAX) == AC_EPOCH_MAX * APR_USEC_PER_SEC
       && ac_time_from_epoch(APR_INT64_MIN)
          == -AC_EPOCH_MAX * APR_USEC_PER_SEC,
       "2^53 and the extremes of 64 bits clamp to 9999-12-31 (no overflow)");
    ok(strcmp(ac_json_epoch(p, 0), "null") == 0, "no time is null");
    ok(strcmp(ac_json_epoch(p, 1796212800), "\"2026-12-02T12:00:00Z\"") == 0,
       "a time is an ISO 8601 string in UTC");
    ok(strcmp(ac_json_epoch(p, APR_INT64_C(9224318015999)),
              "\"9999-12-31T23:59:59Z\"") == 0,
       "PostgreSQL's year 294276 shows as the last second of 9999");
}

/* --- ac_seen: one-time values without a lock ------------------------------ */

static void id_of(unsigned int n, unsigned char id[32])
{
    unsigned int i;

    for (i = 0; i < 32; i++) {
        id[i] = (unsigned char)((n * 2654435761u) >> ((i % 4) * 8)) ^ (unsigned char)i;
    }
}

#define SEEN_THREADS 4
#define SEEN_IDS 2000
static ac_seen *shared_set;
static volatile apr_uint32_t news[SEEN_IDS];

static void *APR_THREAD_FUNC seen_worker(apr_thread_t *t, void *data)
{
    unsigned int n;
    unsigned char id[32];

    for (n = 0; n < SEEN_IDS; n++) {
        id_of(n, id);
        if (ac_seen_add(shared_set, id, 1000 + 60, 1000) == AC_SEEN_NEW) {
            apr_atomic_inc32(&news[n]);
        }
    }
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

static void test_seen(apr_pool_t *p)
{
    apr_uint64_t *words = apr_pcalloc(p, 1024 * sizeof(apr_uint64_t));
    apr_uint64_t *small = apr_pcalloc(p, AC_SEEN_PROBES * sizeof(apr_uint64_t));
    ac_seen *set = ac_seen_make(p, words, 1024);
    ac_seen *tiny = ac_seen_make(p, small, AC_SEEN_PROBES);
    apr_thread_t *threads[SEEN_THREADS];
    unsigned char a[32], b[32];
    unsigned int n, once = 1, total = 0;
    apr_status_t rv;
    int i;

    id_of(1, a);
    id_of(2, b);
    ok(ac_seen_add(set, a, 1060, 1000) == AC_SEEN_NEW
       && ac_seen_add(set, a, 1060, 1030) == AC_SEEN_SEEN
       && ac_seen_add(set, b, 1060, 1030) == AC_SEEN_NEW,
       "a value is new once, then seen; another value is new");
    ok(ac_seen_add(set, a, 1200, 1061) == AC_SEEN_NEW,
       "after its expiry a value is new again (its slot free)");
    for (n = 0; n < AC_SEEN_PROBES; n++) {
        id_of(100 + n, a);
        ac_seen_add(tiny, a, 1060, 1000);
    }
    id_of(999, a);
    ok(ac_seen_add(tiny, a, 1060, 1000) == AC_SEEN_FULL
       && ac_seen_add(tiny, a, 1060, 1061) == AC_SEEN_NEW,
       "a window of live values answers full, until they expire");
    id_of(3, a);
    ok(ac_seen_add(set, a, (APR_INT64_C(1) << 24) + 50,
                   (APR_INT64_C(1) << 24) - 10) == AC_SEEN_NEW
       && ac_seen_add(set, a, (APR_INT64_C(1) << 24) + 50,
                      (APR_INT64_C(1) << 24) + 20) == AC_SEEN_SEEN
       && ac_seen_add(set, a, (APR_INT64_C(1) << 24) + 200,
                      (APR_INT64_C(1) << 24) + 51) == AC_SEEN_NEW,
       "expiries compare modulo 2^24 seconds: across the wrap too");

    shared_set = ac_seen_make(p, apr_pcalloc(p, 4096 * sizeof(apr_uint64_t)),
                              4096);
    for (i = 0; i < SEEN_THREADS; i++) {
        apr_thread_create(&threads[i], NULL, seen_worker, NULL, p);
    }
    for (i = 0; i < SEEN_THREADS; i++) {
        apr_thread_join(&rv, threads[i]);
    }
    for (n = 0; n < SEEN_IDS; n++) {
        once &= news[n] <= 1;
        total += news[n];
    }
    ok(once, "4 threads asking the same 2000 values at once: none is new twice");
    ok(total >= SEEN_IDS * 99 / 100,
       "and nearly every one is new once (a tie may refuse both)");
}

/* mod_auth_chain's optional function, played here: the segment it
 * gives, and how often it was asked. */
static ac_metrics_segment *segment_given;
static int segment_asked;

static ac_metrics_segment *segment_of_test(void)
{
    segment_asked++;
    return segment_given;
}

/* How a module's shared code finds its slot: looked for until a child
 * starts (the parent may count before mod_auth_chain made the segment),
 * then never again -- found or not: with `AuthChainMetrics Off` a count
 * is a test of a pointer, not a lookup of the optional function by name
 * (which bench/token --instructions showed: 180 instructions a request
 * more with the metrics off than on). */
static void test_metrics_lookup(apr_pool_t *p)
{
    static ac_metrics_segment seg;
    pid_t pid;
    int status = -1, i, before, after;

    apr_hook_global_pool = p;
    apr_dynamic_fn_register("auth_chain_metrics_segment",
                            (apr_opt_fn_t *)segment_of_test);
    ac_metrics_count_for("token");

    /* metrics off, in a process of its own (the lookup's end is kept) */
    pid = fork();
    if (pid == 0) {
        ac_metrics_cache(1);
        ac_metrics_cache(1);
        before = segment_asked;
        ac_metrics_child_init();
        after = segment_asked;
        for (i = 0; i < 1000; i++) {
            ac_metrics_cache(1);
        }
        _exit((before == 2 ? 0 : 1) | (after == 3 ? 0 : 2)
              | (segment_asked == 3 ? 0 : 4));
    }
    waitpid(pid, &status, 0);
    ok(WIFEXITED(status) && (WEXITSTATUS(status) & 3) == 0,
       "metrics off: each count looks for the segment until the child starts, "
       "child_init looks once");
    ok(WIFEXITED(status) && (WEXITSTATUS(status) & 4) == 0,
       "metrics off: after child_init, 1000 counts look no more");

    /* metrics on */
    strcpy(seg.names[0], "oauth2");
    strcpy(seg.names[1], "token");
    seg.nschemes = 2;
    segment_given = &seg;
    segment_asked = 0;
    ac_metrics_cache(1);
    ok(seg.schemes[1].cache[1] == 1 && seg.schemes[0].cache[1] == 0,
       "metrics on: the count lands in the module's scheme's slot");
    ac_metrics_cache(0);
    ac_metrics_child_init();
    ac_metrics_cache(0);
    ok(seg.schemes[1].cache[0] == 2 && segment_asked == 1,
       "metrics on: the slot found is kept, before and after child_init");
}

int main(void)
{
    apr_pool_t *p;

    apr_initialize();
    apr_pool_create(&p, NULL);
    tap_plan(13 + 15 + 7 + 5 + 15 + 11 + 6 + 6 + 5 + 6 + 3 + 4);
    test_split();
    test_base64(p);
    test_encoders(p);
    test_scope_scanner(p);
    test_scopes_union(p);
    test_scopes_and_compare();
    test_directive_numbers_and_records(p);
    test_csrf_and_origin(p);
    test_revocation_helpers();
    test_times(p);
    test_seen(p);
    test_metrics_lookup(p);
    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
