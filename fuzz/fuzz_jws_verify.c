/* Licensed under the Apache License, Version 2.0.
 *
 * fuzz_jws_verify -- ac_jose_jws_parse() then ac_jose_jws_verify() against
 * a fixed key set (RSA 2048, P-256, P-384, P-521, Ed25519, one HMAC key:
 * fuzz_keys.h, the keys of the seed tokens), with every algorithm allowed
 * and with the asymmetric ones only.  The first byte of the input picks
 * what the rest is:
 *
 *   0x00-0x7f  a whole token (the seeds: "T" and a real token of each
 *              algorithm);
 *   0x80-0xbf  a payload, which the target signs with HS256 under a fixed
 *              header: the verification must succeed exactly when the
 *              payload is a JSON object within the bounds;
 *   0xc0-0xff  a protected header, under which the target signs a fixed
 *              payload with HS256: the verification may succeed only when
 *              the header says HS256 and names the HMAC key or no key.
 *
 * Invariants: a verified token has exactly one algorithm, never none, in
 * the allow-list and in the key's algorithms, and the key's kid when it
 * has one; with the asymmetric allow-list nothing signed with the HMAC
 * secret verifies.
 */

#include "fuzz.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ac_common.h"
#include "ac_jose.h"

#include "fuzz_keys.h"

static apr_pool_t *keys_pool;
static ac_jose_keyset *keys;

/* At exit, before LeakSanitizer looks: APR's allocator may hold the pool's
 * memory in mmap'd blocks, which LeakSanitizer does not scan, so the
 * OpenSSL keys would look leaked. */
static void free_keys(void)
{
    apr_pool_destroy(keys_pool);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_pool();
    /* the keys' own pool, which fuzz_done() does not clear */
    apr_pool_create(&keys_pool, NULL);
    if (ac_jose_jwks_parse(keys_pool, fuzz_jwks, strlen(fuzz_jwks), NULL,
                           NULL, &keys) != AC_JOSE_OK
        || ac_jose_keyset_count(keys) != 6) {
        fprintf(stderr, "fuzz_jws_verify: the key set does not parse\n");
        abort();
    }
    atexit(free_keys);
    return 0;
}

/* "header.payload.signature", HS256 with the fixed secret. */
static const char *hs256(apr_pool_t *p, const void *header, size_t hlen,
                         const void *payload, size_t plen)
{
    const char *input = apr_pstrcat(p, ac_b64url_encode(p, header, hlen),
                                    ".", ac_b64url_encode(p, payload, plen),
                                    NULL);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (HMAC(EVP_sha256(), fuzz_hs_secret, sizeof(fuzz_hs_secret),
             (const unsigned char *)input, strlen(input), mac, &n) == NULL) {
        abort();
    }
    return apr_pstrcat(p, input, ".", ac_b64url_encode(p, mac, n), NULL);
}

/* Parse and verify; checks the invariants of a success.  Returns the
 * status of the parse when it failed, else that of the verification. */
static ac_jose_status verify(apr_pool_t *p, const char *token, size_t len,
                             unsigned int allowed, ac_jose_jws **out)
{
    ac_jose_jws *jws = NULL;
    const ac_jose_key *used = NULL;
    ac_jose_status st;
    const char *name;

    st = ac_jose_jws_parse(p, token, len, allowed, &jws);
    if (st != AC_JOSE_OK) {
        return st;
    }
    st = ac_jose_jws_verify(jws, keys, allowed, &used);
    FUZZ_ASSERT(ac_jose_strerror(st) != NULL);
    FUZZ_ASSERT((st == AC_JOSE_OK) == (jws->verified == 1));
    if (st == AC_JOSE_OK) {
        FUZZ_ASSERT(used != NULL);
        FUZZ_ASSERT(jws->alg != 0 && (jws->alg & (jws->alg - 1)) == 0);
        FUZZ_ASSERT(jws->alg & allowed);
        FUZZ_ASSERT(jws->alg & ac_jose_key_algs(used));
        name = ac_jose_alg_name(jws->alg);
        FUZZ_ASSERT(name != NULL && strcasecmp(name, "none") != 0);
        FUZZ_ASSERT(strcmp(name, json_string_value(
                               json_object_get(jws->header, "alg"))) == 0);
        if (jws->kid != NULL) {
            FUZZ_ASSERT(ac_jose_key_kid(used) != NULL
                        && strcmp(jws->kid, ac_jose_key_kid(used)) == 0);
        }
        FUZZ_ASSERT(ac_jose_key_describe(p, used) != NULL);
    }
    *out = jws;
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char fixed_header[] = "{\"alg\":\"HS256\",\"kid\":\"hs1\"}";
    static const char fixed_payload[] = "{\"sub\":\"alice\",\"exp\":1}";
    apr_pool_t *p = fuzz_pool();
    ac_jose_jws *jws = NULL;
    const char *token;
    ac_jose_status st;
    json_t *j;

    if (size == 0) {
        return 0;
    }
    if (data[0] < 0x80) {
        token = (const char *)data + 1;
        verify(p, token, size - 1, AC_JOSE_ALGS_ALL, &jws);
        st = verify(p, token, size - 1, AC_JOSE_ALGS_ASYMMETRIC, &jws);
        FUZZ_ASSERT(st != AC_JOSE_OK || !(jws->alg & AC_JOSE_ALGS_HMAC));
    }
    else if (data[0] < 0xc0) {
        token = hs256(p, fixed_header, strlen(fixed_header), data + 1,
                      size - 1);
        st = verify(p, token, strlen(token), AC_JOSE_ALGS_ALL, &jws);
        j = json_loadb((const char *)data + 1, size - 1,
                       JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
        if (j != NULL && json_is_object(j) && size - 1 <= AC_JOSE_MAX_PAYLOAD
            && strlen(token) <= AC_JOSE_MAX_TOKEN) {
            FUZZ_ASSERT(st == AC_JOSE_OK);
            FUZZ_ASSERT(json_equal(j, jws->claims));
        }
        else {
            FUZZ_ASSERT(st != AC_JOSE_OK);
        }
        json_decref(j);
        FUZZ_ASSERT(verify(p, token, strlen(token), AC_JOSE_ALGS_ASYMMETRIC,
                           &jws) != AC_JOSE_OK);
    }
    else {
        token = hs256(p, data + 1, size - 1, fixed_payload,
                      strlen(fixed_payload));
        st = verify(p, token, strlen(token), AC_JOSE_ALGS_ALL, &jws);
        if (st == AC_JOSE_OK) {
            FUZZ_ASSERT(jws->alg == AC_JOSE_ALG_HS256);
            FUZZ_ASSERT(jws->kid == NULL || strcmp(jws->kid, "hs1") == 0);
        }
        FUZZ_ASSERT(verify(p, token, strlen(token), AC_JOSE_ALGS_ASYMMETRIC,
                           &jws) != AC_JOSE_OK);
    }
    fuzz_done();
    return 0;
}
