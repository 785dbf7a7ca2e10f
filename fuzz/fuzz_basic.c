/* Licensed under the Apache License, Version 2.0.
 *
 * fuzz_basic -- the decoding of `Authorization: Basic` as
 * basic_authenticate() in mod_auth_chain.c does it: ac_auth_header_split,
 * the scheme, the AC_MAX_CREDENTIALS bound, ac_base64_decode, the NUL and
 * colon checks.  Invariants: what decodes is canonical base64 (OpenSSL's
 * encoder gives back exactly the credentials), of the expected length,
 * NUL-terminated; what OpenSSL's decoder takes and re-encodes to the same
 * text decodes here too.
 */

#include "fuzz.h"

#include <openssl/evp.h>

#include "ac_common.h"

/* The canonical base64 of `len` bytes, malloc'd (free it). */
static char *encode(const void *in, apr_size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);

    if (out == NULL) {
        abort();
    }
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return out;
}

static void check_decode(apr_pool_t *p, const char *in, apr_size_t len)
{
    char *decoded, *text;
    apr_size_t n;

    if (ac_base64_decode(p, in, len, &decoded, &n) != 0) {
        /* a refusal: OpenSSL must not find a canonical encoding here */
        unsigned char *raw = malloc(len / 4 * 3 + 3);
        int m;

        if (raw == NULL) {
            abort();
        }
        m = len > 0 && len % 4 == 0
            ? EVP_DecodeBlock(raw, (const unsigned char *)in, (int)len) : -1;
        if (m >= 0) {
            apr_size_t pad = (in[len - 1] == '=') + (in[len - 2] == '=');

            text = encode(raw, m - pad);
            FUZZ_ASSERT(strlen(text) != len || memcmp(text, in, len) != 0);
            free(text);
        }
        free(raw);
        return;
    }
    FUZZ_ASSERT(len > 0 && len % 4 == 0);
    FUZZ_ASSERT(n <= len / 4 * 3 && n + 2 >= len / 4 * 3);
    FUZZ_ASSERT(decoded[n] == '\0');
    text = encode(decoded, n);
    FUZZ_ASSERT(strlen(text) == len && memcmp(text, in, len) == 0);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *header = fuzz_cstr(p, data, size);
    ac_auth_header h;
    char *decoded, *colon;
    apr_size_t len;

    /* the decoder alone, on the raw bytes (no terminator to lean on) */
    check_decode(p, (const char *)data, size);

    /* the path of basic_authenticate() */
    ac_auth_header_split(header, &h);
    if (ac_auth_header_is(&h, "Basic") && h.nwords == 2
        && h.credentials_len <= AC_MAX_CREDENTIALS
        && ac_base64_decode(p, h.credentials, h.credentials_len, &decoded,
                            &len) == 0
        && memchr(decoded, '\0', len) == NULL
        && (colon = strchr(decoded, ':')) != NULL) {
        *colon = '\0';
        FUZZ_ASSERT(strlen(decoded) < len);
        FUZZ_ASSERT(strlen(colon + 1) == len - (colon - decoded) - 1);
    }
    fuzz_done();
    return 0;
}
