/* Licensed under the Apache License, Version 2.0.
 *
 * fuzz_auth_header -- ac_auth_header_split() and ac_auth_header_is() on
 * any Authorization header value.  Invariants: at most three words are
 * counted; the scheme and the credentials lie inside the header, in that
 * order, are not empty and hold no separator; the text before, between
 * and right after them is separators only.
 */

#include "fuzz.h"

#include "ac_common.h"

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v'
           || c == '\f' || (c >= '\x1c' && c <= '\x1f');
}

/* Whether [s, s + len) is a word: not empty, no separator. */
static int is_word(const char *s, apr_size_t len)
{
    apr_size_t i;

    if (len == 0) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (s[i] == '\0' || is_space(s[i])) {
            return 0;
        }
    }
    return 1;
}

static int all_space(const char *from, const char *to)
{
    for (; from < to; from++) {
        if (!is_space(*from)) {
            return 0;
        }
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *header = fuzz_cstr(p, data, size);
    const char *end = header + strlen(header);
    ac_auth_header h;

    ac_auth_header_split(header, &h);
    FUZZ_ASSERT(h.nwords >= 0 && h.nwords <= 3);
    if (h.nwords == 0) {
        FUZZ_ASSERT(h.scheme == NULL && h.credentials == NULL);
        FUZZ_ASSERT(all_space(header, end));
    }
    if (h.nwords >= 1) {
        FUZZ_ASSERT(h.scheme >= header && h.scheme + h.scheme_len <= end);
        FUZZ_ASSERT(is_word(h.scheme, h.scheme_len));
        FUZZ_ASSERT(all_space(header, h.scheme));
        FUZZ_ASSERT(h.scheme + h.scheme_len == end
                    || is_space(h.scheme[h.scheme_len]));
    }
    if (h.nwords == 1) {
        FUZZ_ASSERT(h.credentials == NULL);
        FUZZ_ASSERT(all_space(h.scheme + h.scheme_len, end));
    }
    if (h.nwords >= 2) {
        FUZZ_ASSERT(h.credentials > h.scheme + h.scheme_len
                    && h.credentials + h.credentials_len <= end);
        FUZZ_ASSERT(is_word(h.credentials, h.credentials_len));
        FUZZ_ASSERT(all_space(h.scheme + h.scheme_len, h.credentials));
        FUZZ_ASSERT(h.credentials + h.credentials_len == end
                    || is_space(h.credentials[h.credentials_len]));
    }
    if (h.nwords == 2) {
        FUZZ_ASSERT(all_space(h.credentials + h.credentials_len, end));
    }
    if (h.nwords == 3) {
        FUZZ_ASSERT(!all_space(h.credentials + h.credentials_len, end));
    }

    /* the scheme comparison is case-insensitive and exact in length */
    if (ac_auth_header_is(&h, "Bearer")) {
        FUZZ_ASSERT(h.scheme_len == 6
                    && strncasecmp(h.scheme, "bearer", 6) == 0);
    }
    if (h.nwords > 0 && h.scheme_len == 5
        && strncasecmp(h.scheme, "basic", 5) == 0) {
        FUZZ_ASSERT(ac_auth_header_is(&h, "Basic"));
    }
    fuzz_done();
    return 0;
}
