/* Licensed under the Apache License, Version 2.0.
 *
 * fuzz_dpop -- the DPoP proof parser (ac_dpop_parse) on any input, then
 * ac_dpop_check against a fixed request; the URL normaliser and the
 * nonce check on the same bytes.  Invariants: a parsed proof has an
 * asymmetric algorithm, a key, a 43-character thumbprint, jti / htm / htu;
 * every status has a description; a normalised URL is a fixed point of
 * the normaliser, has a path and no query, fragment or user information; a nonce
 * of random bytes is never valid.
 */

#include "fuzz.h"

#include "ac_common.h"
#include "ac_dpop.h"

#define NOW 1700000000

static void check_url(apr_pool_t *p, const char *in)
{
    const char *n = ac_dpop_url_normalize(p, in), *again, *authority;

    if (n == NULL) {
        return;
    }
    again = ac_dpop_url_normalize(p, n);
    FUZZ_ASSERT(again != NULL && strcmp(again, n) == 0);
    FUZZ_ASSERT(strchr(n, '?') == NULL && strchr(n, '#') == NULL);
    FUZZ_ASSERT(strncmp(n, "http://", 7) == 0
                || strncmp(n, "https://", 8) == 0);
    authority = strstr(n, "://") + 3;
    FUZZ_ASSERT(strchr(authority, '/') != NULL);
    FUZZ_ASSERT(memchr(authority, '@', (size_t)(strchr(authority, '/')
                                                - authority)) == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned char secret[32] = { 7 };
    apr_pool_t *p = fuzz_pool();
    const char *text = apr_pstrmemdup(p, (const char *)data, size);
    ac_dpop_proof *pr = NULL;
    ac_dpop_keys *keys;
    ac_dpop_expect want;
    ac_jose_status why;
    ac_dpop_status st;

    check_url(p, text);
    FUZZ_ASSERT(!ac_dpop_nonce_valid(text, secret, sizeof(secret),
                                     NOW / 60)
                || strlen(text) == 32);

    /* a cache of proof keys of the input's own (the one of the module
     * lives as long as its child; the unit tests replace its keys) */
    keys = ac_dpop_keys_make(p, 2);
    st = ac_dpop_parse(p, (const char *)data, size, AC_JOSE_ALGS_ALL, keys,
                       &pr, &why);
    FUZZ_ASSERT(ac_dpop_strerror(st) != NULL);
    if (st != AC_DPOP_OK) {
        FUZZ_ASSERT(pr == NULL);
        FUZZ_ASSERT((st == AC_DPOP_ERR_JWS) == (why != AC_JOSE_OK));
        fuzz_done();
        return 0;
    }
    FUZZ_ASSERT(size <= AC_DPOP_MAX_PROOF);
    FUZZ_ASSERT((pr->alg & AC_JOSE_ALGS_ASYMMETRIC) == pr->alg
                && pr->alg != 0);
    FUZZ_ASSERT(pr->key != NULL && pr->jkt != NULL
                && strlen(pr->jkt) == AC_DPOP_JKT_LEN);
    FUZZ_ASSERT(pr->jti != NULL && *pr->jti != '\0'
                && strlen(pr->jti) <= AC_DPOP_MAX_JTI);
    FUZZ_ASSERT(pr->htm != NULL && pr->htu != NULL);
    check_url(p, pr->htu);

    memset(&want, 0, sizeof(want));
    want.method = "GET";
    want.url = "https://api.example/x";
    want.now = NOW;
    want.max_age = 60;
    want.leeway = 5;
    want.token = "tok";
    want.token_len = 3;
    want.jkt = pr->jkt;
    st = ac_dpop_check(p, pr, &want);
    FUZZ_ASSERT(ac_dpop_strerror(st) != NULL);
    FUZZ_ASSERT(st != AC_DPOP_ERR_BINDING);     /* its own thumbprint */
    if (st == AC_DPOP_OK) {
        FUZZ_ASSERT(strcmp(pr->htm, "GET") == 0 && pr->ath != NULL
                    && pr->iat >= NOW - 65 && pr->iat <= NOW + 5);
    }
    fuzz_done();
    return 0;
}
