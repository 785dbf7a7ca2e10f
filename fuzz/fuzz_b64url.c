/* Licensed under the Apache License, Version 2.0.
 *
 * fuzz_b64url -- ac_b64url_decode() and ac_b64url_encode(), the base64url
 * under every JOSE part.  Invariants: encode then decode gives the bytes
 * back; whatever decodes re-encodes to exactly the input (the decoder is
 * strict, RFC 4648 section 3.5); the decoded length is the input's 3/4,
 * rounded down.
 */

#include "fuzz.h"

#include "ac_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *text;
    char *out;
    apr_size_t n;

    /* the input as bytes: a round trip */
    text = ac_b64url_encode(p, data, size);
    FUZZ_ASSERT(strlen(text) == (size * 4 + 2) / 3);
    FUZZ_ASSERT(ac_b64url_decode(p, text, strlen(text), &out, &n) == 0);
    FUZZ_ASSERT(n == size && memcmp(out, data, size) == 0);

    /* the input as text: strict */
    if (ac_b64url_decode(p, (const char *)data, size, &out, &n) == 0) {
        FUZZ_ASSERT(size % 4 != 1);
        FUZZ_ASSERT(n == size * 3 / 4);
        FUZZ_ASSERT(out[n] == '\0');
        text = ac_b64url_encode(p, out, n);
        FUZZ_ASSERT(strlen(text) == size && memcmp(text, data, size) == 0);
    }
    fuzz_done();
    return 0;
}
