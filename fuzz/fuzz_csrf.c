/* Licensed under the Apache License, Version 2.0.
 *
 * fuzz_csrf -- the parts of mod_authn_session's CSRF check that read
 * client input: ac_csrf_token_valid() on the cookie's value (the Cookie
 * header itself is split by httpd's ap_cookie_read, not by us), the
 * length check and ac_ct_equal() against the header's value, and
 * ac_url_origin() on an Origin or Referer.  The input is the cookie's
 * value, a newline, the header's value, a newline, the URL.  Invariants:
 * a valid token is 43 base64url characters; the comparison agrees with
 * memcmp; an origin is "scheme://host[:port]" in lowercase, with no path,
 * no user info and no character that could end a header or start markup,
 * and is its own origin.
 */

#include "fuzz.h"

#include "apr_lib.h"

#include "ac_common.h"

static void check_origin(apr_pool_t *p, const char *url)
{
    const char *o = ac_url_origin(p, url), *c, *host;

    if (o == NULL) {
        return;
    }
    host = strstr(o, "://");
    FUZZ_ASSERT(host != NULL && host > o);
    host += 3;
    FUZZ_ASSERT(*host != '\0');
    FUZZ_ASSERT(strchr(host, '/') == NULL && strchr(host, '@') == NULL
                && strchr(host, '?') == NULL && strchr(host, '#') == NULL);
    for (c = o; *c; c++) {
        FUZZ_ASSERT(*c > 0x20 && *c < 0x7f && !apr_isupper(*c)
                    && strchr("<>\"'\\", *c) == NULL);
    }
    /* an origin is a URL whose origin is itself */
    c = ac_url_origin(p, o);
    FUZZ_ASSERT(c != NULL && strcmp(c, o) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    char *cookie = fuzz_cstr(p, data, size), *header, *url;
    const char *c;

    header = strchr(cookie, '\n');
    if (header != NULL) {
        *header++ = '\0';
        url = strchr(header, '\n');
        if (url != NULL) {
            *url++ = '\0';
            check_origin(p, url);
        }
    }
    check_origin(p, cookie);

    if (ac_csrf_token_valid(cookie)) {
        FUZZ_ASSERT(strlen(cookie) == AC_CSRF_TOKEN_LENGTH);
        for (c = cookie; *c; c++) {
            FUZZ_ASSERT(apr_isalnum(*c) || *c == '-' || *c == '_');
        }
        if (header != NULL && strlen(header) == AC_CSRF_TOKEN_LENGTH) {
            FUZZ_ASSERT(ac_ct_equal(header, cookie, AC_CSRF_TOKEN_LENGTH)
                        == (memcmp(header, cookie, AC_CSRF_TOKEN_LENGTH)
                            == 0));
        }
    }
    fuzz_done();
    return 0;
}
