/* Licensed under the Apache License, Version 2.0.
 *
 * fuzz_jwks -- ac_jose_jwks_parse() on any JWK Set document, and
 * ac_jose_jwk_parse_text() on the same text as one JWK.  Invariants: a
 * set that parses has 1 to AC_JOSE_MAX_KEYS keys, its skipped count is
 * the number of skip callbacks, with increasing indexes; every key has a
 * type, algorithms of that type only, and a description; no key verifies
 * a made-up signature.
 */

#include "fuzz.h"

#include "ac_common.h"
#include "ac_jose.h"

typedef struct {
    int count;
    apr_size_t last;
} skips;

static void on_skip(void *baton, apr_size_t index, const char *kid,
                    ac_jose_status why)
{
    skips *s = baton;

    (void)kid;
    FUZZ_ASSERT(why != AC_JOSE_OK && ac_jose_strerror(why) != NULL);
    FUZZ_ASSERT(s->count == 0 || index > s->last);
    s->last = index;
    s->count++;
}

static void check_key(apr_pool_t *p, const ac_jose_key *key)
{
    static const unsigned char sig[132] = { 1 };
    unsigned int algs = ac_jose_key_algs(key), want = 0, bit;

    switch (ac_jose_key_kty(key)) {
    case AC_JOSE_KTY_RSA:
        want = AC_JOSE_ALGS_RSA;
        break;
    case AC_JOSE_KTY_EC:
        want = AC_JOSE_ALGS_EC;
        break;
    case AC_JOSE_KTY_OKP:
        want = AC_JOSE_ALG_EDDSA;
        break;
    case AC_JOSE_KTY_OCT:
        want = AC_JOSE_ALGS_HMAC;
        break;
    default:
        FUZZ_ASSERT(!"a key without a type");
    }
    FUZZ_ASSERT(algs != 0 && (algs & ~want) == 0);
    FUZZ_ASSERT(ac_jose_key_describe(p, key) != NULL);
    for (bit = 1; bit <= AC_JOSE_ALG_EDDSA; bit <<= 1) {
        ac_jose_status st = ac_jose_verify(key, bit, "a.b", 3, sig,
                                           sizeof(sig));

        FUZZ_ASSERT(st != AC_JOSE_OK);
        if (!(algs & bit)) {
            FUZZ_ASSERT(st == AC_JOSE_ERR_KEY_MISMATCH);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *doc = (const char *)data;
    ac_jose_keyset *set = NULL;
    ac_jose_key *key = NULL;
    skips s = { 0, 0 };
    ac_jose_status st;
    int i, n;

    st = ac_jose_jwks_parse(p, doc, size, on_skip, &s, &set);
    FUZZ_ASSERT(ac_jose_strerror(st) != NULL);
    if (st == AC_JOSE_OK) {
        n = ac_jose_keyset_count(set);
        FUZZ_ASSERT(n >= 1 && n <= AC_JOSE_MAX_KEYS);
        FUZZ_ASSERT(ac_jose_keyset_skipped(set) == s.count);
        FUZZ_ASSERT(n + s.count <= AC_JOSE_MAX_KEYS);
        for (i = 0; i < n; i++) {
            check_key(p, ac_jose_keyset_get(set, i));
        }
        FUZZ_ASSERT(ac_jose_keyset_get(set, n) == NULL);
    }
    else {
        FUZZ_ASSERT(set == NULL);
    }

    st = ac_jose_jwk_parse_text(p, doc, size, &key);
    FUZZ_ASSERT(ac_jose_strerror(st) != NULL);
    if (st == AC_JOSE_OK) {
        check_key(p, key);
    }
    else {
        FUZZ_ASSERT(key == NULL);
    }
    fuzz_done();
    return 0;
}
