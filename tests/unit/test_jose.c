/* Licensed under the Apache License, Version 2.0.
 *
 * Unit tests of modules/common/ac_jose.c and the base64url of ac_b64.c.
 * Every key is generated here, at test time, with OpenSSL (RSA 2048 and
 * 1024, P-256, P-384, P-521, Ed25519, random HMAC secrets), exported as a
 * JWK by the test-only exporter below, and every token is signed here by
 * the test-only signer (EVP_DigestSign; ECDSA's DER turned into JOSE's
 * R || S).  Then: each of the 13 algorithms verifies, and the negative
 * matrix of RFC 8725 and of the peers' known crashes does not.  Prints TAP.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "apr_general.h"
#include "apr_pools.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"

#include "ac_common.h"
#include "ac_dpop.h"
#include "ac_jose.h"
#include "tap.h"

/* The keys of the whole run. */
static EVP_PKEY *rsa2048, *rsa1024, *p256, *p384, *p521, *ed25519;
static unsigned char hs_secret[64];

/* What signs a token: a private key, or an HMAC secret. */
typedef struct {
    EVP_PKEY *pkey;
    const unsigned char *secret;
    size_t secret_len;
    int pss_saltlen;            /* 0: the JOSE rule (salt = hash length) */
} signer;

static const ac_jose_alg all_algs[] = {
    AC_JOSE_ALG_HS256, AC_JOSE_ALG_HS384, AC_JOSE_ALG_HS512,
    AC_JOSE_ALG_RS256, AC_JOSE_ALG_RS384, AC_JOSE_ALG_RS512,
    AC_JOSE_ALG_PS256, AC_JOSE_ALG_PS384, AC_JOSE_ALG_PS512,
    AC_JOSE_ALG_ES256, AC_JOSE_ALG_ES384, AC_JOSE_ALG_ES512,
    AC_JOSE_ALG_EDDSA
};
#define NALGS 13

/* --- test-only helpers: JSON, JWK export, signing ----------------------- */

/* The compact text of `j` in `p`; takes the reference. */
static const char *dump(apr_pool_t *p, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    const char *out = apr_pstrdup(p, s);

    free(s);
    json_decref(j);
    return out;
}

static const char *b64u(apr_pool_t *p, const char *s)
{
    return ac_b64url_encode(p, s, strlen(s));
}

/* A BIGNUM as base64url of `size` bytes (0: its minimal length). */
static const char *bn_b64u(apr_pool_t *p, const BIGNUM *bn, int size)
{
    int n = size ? size : BN_num_bytes(bn);
    unsigned char *buf = apr_palloc(p, n);

    BN_bn2binpad(bn, buf, n);
    return ac_b64url_encode(p, buf, n);
}

static json_t *jwk_oct(apr_pool_t *p, const unsigned char *k, size_t len,
                       const char *kid)
{
    json_t *j = json_object();

    json_object_set_new(j, "kty", json_string("oct"));
    json_object_set_new(j, "k", json_string(ac_b64url_encode(p, k, len)));
    if (kid) {
        json_object_set_new(j, "kid", json_string(kid));
    }
    return j;
}

/* The public JWK of `pkey` (RSA, EC or Ed25519), the way an issuer
 * publishes it. */
static json_t *jwk_of(apr_pool_t *p, EVP_PKEY *pkey, const char *kid)
{
    json_t *j = json_object();

    if (EVP_PKEY_is_a(pkey, "RSA")) {
        BIGNUM *n = NULL, *e = NULL;

        EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n);
        EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e);
        json_object_set_new(j, "kty", json_string("RSA"));
        json_object_set_new(j, "n", json_string(bn_b64u(p, n, 0)));
        json_object_set_new(j, "e", json_string(bn_b64u(p, e, 0)));
        BN_free(n);
        BN_free(e);
    }
    else if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[32] = "";
        BIGNUM *x = NULL, *y = NULL;
        const char *crv = "?";
        int size = 0;

        EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
                                       group, sizeof(group), NULL);
        if (strcmp(group, "prime256v1") == 0) {
            crv = "P-256";
            size = 32;
        }
        else if (strcmp(group, "secp384r1") == 0) {
            crv = "P-384";
            size = 48;
        }
        else if (strcmp(group, "secp521r1") == 0) {
            crv = "P-521";
            size = 66;
        }
        EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x);
        EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y);
        json_object_set_new(j, "kty", json_string("EC"));
        json_object_set_new(j, "crv", json_string(crv));
        json_object_set_new(j, "x", json_string(bn_b64u(p, x, size)));
        json_object_set_new(j, "y", json_string(bn_b64u(p, y, size)));
        BN_free(x);
        BN_free(y);
    }
    else {
        unsigned char pub[32];
        size_t len = 0;

        EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, pub,
                                        sizeof(pub), &len);
        json_object_set_new(j, "kty", json_string("OKP"));
        json_object_set_new(j, "crv", json_string("Ed25519"));
        json_object_set_new(j, "x", json_string(ac_b64url_encode(p, pub,
                                                                 len)));
    }
    if (kid) {
        json_object_set_new(j, "kid", json_string(kid));
    }
    return j;
}

/* {"keys": keys} as text; takes the reference to `keys`. */
static const char *jwks_of(apr_pool_t *p, json_t *keys)
{
    json_t *doc = json_object();

    json_object_set_new(doc, "keys", keys);
    return dump(p, doc);
}

static const char *md_of(ac_jose_alg alg)
{
    switch (alg) {
    case AC_JOSE_ALG_HS256: case AC_JOSE_ALG_RS256: case AC_JOSE_ALG_PS256:
    case AC_JOSE_ALG_ES256:
        return "SHA256";
    case AC_JOSE_ALG_HS384: case AC_JOSE_ALG_RS384: case AC_JOSE_ALG_PS384:
    case AC_JOSE_ALG_ES384:
        return "SHA384";
    case AC_JOSE_ALG_HS512: case AC_JOSE_ALG_RS512: case AC_JOSE_ALG_PS512:
    case AC_JOSE_ALG_ES512:
        return "SHA512";
    default:
        return NULL;
    }
}

/* The JWS signature of `input` by `s` as `alg` into sig (1024 bytes);
 * returns its length, 0 on failure. */
static size_t sign_raw(ac_jose_alg alg, const signer *s, const char *input,
                       size_t len, unsigned char *sig)
{
    unsigned char der[1024];
    size_t n = sizeof(der);
    EVP_MD_CTX *ctx;
    EVP_PKEY_CTX *pctx = NULL;

    if (alg & AC_JOSE_ALGS_HMAC) {
        if (EVP_Q_mac(NULL, "HMAC", NULL, md_of(alg), NULL, s->secret,
                      s->secret_len, (const unsigned char *)input, len, sig,
                      1024, &n) == NULL) {
            return 0;
        }
        return n;
    }
    ctx = EVP_MD_CTX_new();
    if (EVP_DigestSignInit_ex(ctx, &pctx, md_of(alg), NULL, NULL, s->pkey,
                              NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return 0;
    }
    if (alg & (AC_JOSE_ALG_PS256 | AC_JOSE_ALG_PS384 | AC_JOSE_ALG_PS512)) {
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, s->pss_saltlen
                                         ? s->pss_saltlen
                                         : RSA_PSS_SALTLEN_DIGEST);
        EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, md_of(alg), NULL);
    }
    if (EVP_DigestSign(ctx, der, &n, (const unsigned char *)input, len)
        != 1) {
        EVP_MD_CTX_free(ctx);
        return 0;
    }
    EVP_MD_CTX_free(ctx);
    if (alg & AC_JOSE_ALGS_EC) {
        /* DER ECDSA-Sig-Value -> R || S, each padded to the size of the
         * key's curve (which a test may choose not to be the alg's) */
        const unsigned char *d = der;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &d, (long)n);
        int half = (EVP_PKEY_get_bits(s->pkey) + 7) / 8;

        if (es == NULL || BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, half) < 0
            || BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + half, half) < 0) {
            ECDSA_SIG_free(es);
            return 0;
        }
        ECDSA_SIG_free(es);
        return 2 * half;
    }
    memcpy(sig, der, n);
    return n;
}

/* A compact JWS of the JSON texts `header` and `payload`. */
static const char *sign_token(apr_pool_t *p, const char *header,
                              const char *payload, ac_jose_alg alg,
                              const signer *s)
{
    const char *input = apr_pstrcat(p, b64u(p, header), ".",
                                    b64u(p, payload), NULL);
    unsigned char sig[1024];
    size_t n = sign_raw(alg, s, input, strlen(input), sig);

    return apr_pstrcat(p, input, ".", ac_b64url_encode(p, sig, n), NULL);
}

static const char *header_of(apr_pool_t *p, ac_jose_alg alg, const char *kid)
{
    if (kid) {
        return apr_psprintf(p, "{\"alg\":\"%s\",\"typ\":\"at+jwt\","
                            "\"kid\":\"%s\"}", ac_jose_alg_name(alg), kid);
    }
    return apr_psprintf(p, "{\"alg\":\"%s\",\"typ\":\"at+jwt\"}",
                        ac_jose_alg_name(alg));
}

static const char *claims_json(apr_pool_t *p)
{
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now());

    return apr_psprintf(p, "{\"iss\":\"https://issuer.example\","
                        "\"aud\":\"api\",\"sub\":\"alice\","
                        "\"exp\":%" APR_INT64_T_FMT ",\"iat\":%"
                        APR_INT64_T_FMT ",\"scope\":\"read write\"}",
                        now + 3600, now);
}

/* Parse and verify `len` bytes of `token` in a pool of its own; the first
 * failure, or AC_JOSE_OK. */
static ac_jose_status check_n(apr_pool_t *parent, const char *token,
                              apr_size_t len, const ac_jose_keyset *set,
                              unsigned int allowed)
{
    apr_pool_t *p;
    ac_jose_jws *jws = NULL;
    ac_jose_status rc;

    apr_pool_create(&p, parent);
    rc = ac_jose_jws_parse(p, token, len, allowed, &jws);
    if (rc == AC_JOSE_OK) {
        rc = ac_jose_jws_verify(jws, set, allowed, NULL);
        if ((rc == AC_JOSE_OK) != (jws->verified == 1)) {
            rc = AC_JOSE_ERR_INTERNAL;      /* the flag lies */
        }
    }
    apr_pool_destroy(p);
    return rc;
}

static ac_jose_status check(apr_pool_t *parent, const char *token,
                            const ac_jose_keyset *set, unsigned int allowed)
{
    return check_n(parent, token, strlen(token), set, allowed);
}

static ac_jose_status jwk_status(apr_pool_t *p, json_t *jwk)
{
    ac_jose_key *key;
    ac_jose_status rc = ac_jose_jwk_parse(p, jwk, &key);

    json_decref(jwk);
    return rc;
}

static ac_jose_key *jwk_key(apr_pool_t *p, json_t *jwk)
{
    ac_jose_key *key = NULL;

    if (ac_jose_jwk_parse(p, jwk, &key) != AC_JOSE_OK) {
        key = NULL;
    }
    json_decref(jwk);
    return key;
}

/* The public key of `pkey` as PEM (SPKI). */
static const char *pem_of(apr_pool_t *p, EVP_PKEY *pkey)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    long n;
    const char *out;

    PEM_write_bio_PUBKEY(bio, pkey);
    n = BIO_get_mem_data(bio, &data);
    out = apr_pstrmemdup(p, data, n);
    BIO_free(bio);
    return out;
}

/* --- base64url ----------------------------------------------------------- */

static int b64url_is(apr_pool_t *p, const char *in, const char *want,
                     apr_size_t wantlen)
{
    char *out;
    apr_size_t len;

    if (ac_b64url_decode(p, in, strlen(in), &out, &len) != 0) {
        return want == NULL;
    }
    return want != NULL && len == wantlen && memcmp(out, want, len) == 0
           && out[len] == '\0';
}

#define N_B64URL 17
static void test_b64url(apr_pool_t *p)
{
    static const char *const plain[] = {
        "", "f", "fo", "foo", "foob", "fooba", "foobar"
    };
    static const char *const coded[] = {
        "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"
    };
    unsigned char buf[100];
    char *out;
    apr_size_t len, i, n;
    int all = 1;

    for (i = 0; i < 7; i++) {
        ok(strcmp(ac_b64url_encode(p, plain[i], strlen(plain[i])), coded[i])
           == 0 && b64url_is(p, coded[i], plain[i], strlen(plain[i])),
           apr_psprintf(p, "base64url of \"%s\" is \"%s\" both ways (RFC "
                        "4648 section 10)", plain[i], coded[i]));
    }
    ok(b64url_is(p, "-_8", "\xfb\xff", 2), "- and _ decode as 62 and 63");
    ok(b64url_is(p, "Zg==", NULL, 0), "padding is refused");
    ok(b64url_is(p, "Zm9v+w", NULL, 0), "+ is refused");
    ok(b64url_is(p, "Zm9v/w", NULL, 0), "/ is refused");
    ok(b64url_is(p, "Zh", NULL, 0), "non-zero bits after the last byte "
       "(of one) are refused");
    ok(b64url_is(p, "Zm9", NULL, 0), "non-zero bits after the last byte "
       "(of two) are refused");
    ok(b64url_is(p, "Zm9vY", NULL, 0), "a length of 4n+1 is refused");
    ok(b64url_is(p, "Zm 9v", NULL, 0) && b64url_is(p, "Zm9v\n", NULL, 0),
       "whitespace is refused");
    ok(ac_b64url_decode(p, "Zm\0v", 4, &out, &len) != 0,
       "an embedded NUL is refused");
    for (n = 0; n <= sizeof(buf) && all; n++) {
        const char *e;

        RAND_bytes(buf, sizeof(buf));
        e = ac_b64url_encode(p, buf, n);
        all = strlen(e) == (n * 4 + 2) / 3 && strpbrk(e, "=+/") == NULL
              && ac_b64url_decode(p, e, strlen(e), &out, &len) == 0
              && len == n && memcmp(out, buf, n) == 0;
    }
    ok(all, "random bytes of every length up to 100 survive encode and "
       "decode, unpadded");
}

/* --- algorithm names and error strings ----------------------------------- */

#define N_NAMES 6
static void test_names(apr_pool_t *p)
{
    const char *seen[AC_JOSE_ERR_INTERNAL + 1];
    int i, j, all = 1;

    for (i = 0; i < NALGS; i++) {
        all = all && ac_jose_alg_from_name(ac_jose_alg_name(all_algs[i]))
                     == all_algs[i];
    }
    ok(all, "each of the 13 algorithm names maps back to its algorithm");
    ok(ac_jose_alg_from_name("none") == 0 && ac_jose_alg_from_name(NULL) == 0,
       "none is no algorithm");
    ok(ac_jose_alg_from_name("rs256") == 0 && ac_jose_alg_from_name("EDDSA")
       == 0, "algorithm names are case-sensitive");
    ok(ac_jose_alg_name(AC_JOSE_ALG_RS256 | AC_JOSE_ALG_ES256) == NULL
       && ac_jose_alg_name(0) == NULL, "a set of algorithms has no name");

    all = 1;
    for (i = 0; i <= AC_JOSE_ERR_INTERNAL; i++) {
        seen[i] = ac_jose_strerror((ac_jose_status)i);
        all = all && seen[i] != NULL && *seen[i]
              && strcmp(seen[i], "unknown error") != 0;
        for (j = 0; j < i; j++) {
            all = all && strcmp(seen[i], seen[j]) != 0;
        }
    }
    ok(all, "every status has its own description");
    ok(strcmp(ac_jose_strerror(AC_JOSE_ERR_JWE),
              "nested/encrypted JWT not supported") == 0
       && strcmp(ac_jose_strerror(AC_JOSE_ERR_UNKNOWN_KID), "unknown key id")
          == 0,
       "the descriptions the oauth2 module sends as error_description");
}

/* --- JWK ----------------------------------------------------------------- */

#define N_JWK 40
static void test_jwk(apr_pool_t *p)
{
    unsigned char k[64];
    ac_jose_key *key;
    json_t *j;
    char *y;
    apr_size_t ylen;
    const char *s;

    key = jwk_key(p, jwk_of(p, rsa2048, "r1"));
    ok(key && ac_jose_key_kty(key) == AC_JOSE_KTY_RSA
       && ac_jose_key_algs(key) == AC_JOSE_ALGS_RSA
       && strcmp(ac_jose_key_kid(key), "r1") == 0
       && strcmp(ac_jose_key_describe(p, key), "RSA 2048") == 0,
       "RSA 2048 JWK: RS* and PS*, kid kept");
    key = jwk_key(p, jwk_of(p, p256, NULL));
    ok(key && ac_jose_key_algs(key) == AC_JOSE_ALG_ES256
       && ac_jose_key_kid(key) == NULL
       && strcmp(ac_jose_key_describe(p, key), "EC P-256") == 0,
       "P-256 JWK verifies ES256 only");
    key = jwk_key(p, jwk_of(p, p384, NULL));
    ok(key && ac_jose_key_algs(key) == AC_JOSE_ALG_ES384,
       "P-384 JWK verifies ES384 only");
    key = jwk_key(p, jwk_of(p, p521, NULL));
    ok(key && ac_jose_key_algs(key) == AC_JOSE_ALG_ES512,
       "P-521 JWK verifies ES512 only");
    key = jwk_key(p, jwk_of(p, ed25519, NULL));
    ok(key && ac_jose_key_kty(key) == AC_JOSE_KTY_OKP
       && ac_jose_key_algs(key) == AC_JOSE_ALG_EDDSA
       && strcmp(ac_jose_key_describe(p, key), "OKP Ed25519") == 0,
       "Ed25519 JWK verifies EdDSA only");
    key = jwk_key(p, jwk_oct(p, hs_secret, 32, NULL));
    ok(key && ac_jose_key_algs(key) == AC_JOSE_ALG_HS256
       && strcmp(ac_jose_key_describe(p, key), "oct 256") == 0,
       "32-byte oct JWK verifies HS256 only");
    key = jwk_key(p, jwk_oct(p, hs_secret, 48, NULL));
    ok(key && ac_jose_key_algs(key)
              == (AC_JOSE_ALG_HS256 | AC_JOSE_ALG_HS384),
       "48-byte oct JWK verifies HS256 and HS384");
    key = jwk_key(p, jwk_oct(p, hs_secret, 64, NULL));
    ok(key && ac_jose_key_algs(key) == AC_JOSE_ALGS_HMAC,
       "64-byte oct JWK verifies every HS");

    ok(jwk_status(p, jwk_of(p, rsa1024, NULL)) == AC_JOSE_ERR_JWK_RSA_SIZE,
       "an RSA 1024-bit key is refused");
    j = jwk_of(p, p256, NULL);
    ac_b64url_decode(p, json_string_value(json_object_get(j, "y")), 43, &y,
                     &ylen);
    y[ylen - 1] ^= 1;
    json_object_set_new(j, "y", json_string(ac_b64url_encode(p, y, ylen)));
    ok(jwk_status(p, j) == AC_JOSE_ERR_JWK_NOT_ON_CURVE,
       "an EC point not on the curve is refused");
    j = jwk_of(p, p256, NULL);
    json_object_set_new(j, "x", json_string("AAAA"));
    ok(jwk_status(p, j) == AC_JOSE_ERR_JWK_PARAM,
       "an EC coordinate shorter than the curve's size is refused");
    j = jwk_of(p, p384, NULL);
    json_object_set_new(j, "crv", json_string("P-256"));
    ok(jwk_status(p, j) == AC_JOSE_ERR_JWK_PARAM,
       "P-384 coordinates under crv P-256 are refused");
    j = jwk_of(p, p256, NULL);
    json_object_set_new(j, "crv", json_string("secp256k1"));
    ok(jwk_status(p, j) == AC_JOSE_ERR_JWK_CURVE, "crv secp256k1 is refused");
    j = jwk_of(p, ed25519, NULL);
    json_object_set_new(j, "crv", json_string("X25519"));
    ok(jwk_status(p, j) == AC_JOSE_ERR_JWK_CURVE, "OKP crv X25519 is refused");
    j = jwk_of(p, ed25519, NULL);
    json_object_set_new(j, "x", json_string("AAAA"));
    ok(jwk_status(p, j) == AC_JOSE_ERR_JWK_PARAM,
       "an Ed25519 key that is not 32 bytes is refused");
    ok(jwk_status(p, jwk_oct(p, hs_secret, 31, NULL))
       == AC_JOSE_ERR_JWK_OCT_SHORT, "an oct key of 31 bytes is refused");
    j = jwk_oct(p, hs_secret, 32, NULL);
    json_object_set_new(j, "alg", json_string("HS384"));
    ok(jwk_status(p, j) == AC_JOSE_ERR_JWK_OCT_SHORT,
       "a 32-byte oct key for HS384 is refused (48 needed)");
    j = jwk_oct(p, hs_secret, 48, NULL);
    json_object_set_new(j, "alg", json_string("HS512"));
    ok(jwk_status(p, j) == AC_JOSE_ERR_JWK_OCT_SHORT,
       "a 48-byte oct key for HS512 is refused (64 needed)");
    j = jwk_oct(p, hs_secret, 64, NULL);
    json_object_set_new(j, "alg", json_string("RS256"));
    ok(jwk_status(p, j) == AC_JOSE_ERR_JWK_ALG,
       "an oct key pinned to RS256 is refused");
    j = jwk_of(p, rsa2048, NULL);
    json_object_set_new(j, "alg", json_string("ES256"));
    ok(jwk_status(p, j) == AC_JOSE_ERR_JWK_ALG,
       "an RSA key pinned to ES256 is refused");
    j = jwk_of(p, p256, NULL);
    json_object_set_new(j, "alg", json_string("ES384"));
    ok(jwk_status(p, j) == AC_JOSE_ERR_JWK_ALG,
       "a P-256 key pinned to ES384 is refused");
    j = jwk_of(p, rsa2048, NULL);
    json_object_set_new(j, "alg", json_string("RSA-OAEP-256"));
    ok(jwk_status(p, j) == AC_JOSE_ERR_JWK_ALG,
       "a key for an encryption alg is refused");
    j = jwk_of(p, rsa2048, NULL);
    json_object_set_new(j, "alg", json_string("PS384"));
    key = jwk_key(p, j);
    ok(key && ac_jose_key_algs(key) == AC_JOSE_ALG_PS384,
       "alg pins a key to that algorithm");
    j = jwk_of(p, rsa2048, NULL);
    json_object_set_new(j, "use", json_string("enc"));
    ok(jwk_status(p, j) == AC_JOSE_ERR_JWK_USE, "use enc is refused");
    j = jwk_of(p, rsa2048, NULL);
    json_object_set_new(j, "use", json_string("sig"));
    ok(jwk_status(p, j) == AC_JOSE_OK, "use sig is taken");
    j = jwk_of(p, rsa2048, NULL);
    json_object_set_new(j, "key_ops", json_pack("[s]", "encrypt"));
    ok(jwk_status(p, j) == AC_JOSE_ERR_JWK_KEY_OPS,
       "key_ops without verify is refused");
    j = jwk_of(p, rsa2048, NULL);
    json_object_set_new(j, "key_ops", json_pack("[ss]", "sign", "verify"));
    ok(jwk_status(p, j) == AC_JOSE_OK, "key_ops with verify is taken");
    j = jwk_of(p, rsa2048, NULL);
    json_object_set_new(j, "key_ops", json_string("verify"));
    ok(jwk_status(p, j) == AC_JOSE_ERR_JWK_PARAM,
       "key_ops that is not an array is refused");
    j = jwk_of(p, rsa2048, NULL);
    json_object_del(j, "n");
    ok(jwk_status(p, j) == AC_JOSE_ERR_JWK_PARAM, "RSA without n is refused");
    j = jwk_of(p, rsa2048, NULL);
    s = json_string_value(json_object_get(j, "e"));
    json_object_set_new(j, "e", json_string(apr_pstrcat(p, s, "=", NULL)));
    ok(jwk_status(p, j) == AC_JOSE_ERR_JWK_PARAM,
       "a padded base64url member is refused");
    j = jwk_of(p, rsa2048, NULL);
    json_object_set_new(j, "e", json_string("AQA"));
    ok(jwk_status(p, j) == AC_JOSE_ERR_JWK_BAD_KEY,
       "an even RSA exponent fails OpenSSL's public-key check");
    j = jwk_of(p, rsa2048, NULL);
    json_object_set_new(j, "kid", json_integer(7));
    ok(jwk_status(p, j) == AC_JOSE_ERR_JWK_PARAM, "a numeric kid is refused");
    j = jwk_of(p, rsa2048, NULL);
    json_object_set_new(j, "kty", json_string("rsa"));
    ok(jwk_status(p, j) == AC_JOSE_ERR_JWK_KTY, "kty is case-sensitive");
    j = jwk_of(p, rsa2048, NULL);
    json_object_del(j, "kty");
    ok(jwk_status(p, j) == AC_JOSE_ERR_JWK_KTY,
       "a JWK without kty is refused");
    ok(jwk_status(p, json_pack("[s]", "RSA")) == AC_JOSE_ERR_JWK_NOT_OBJECT,
       "a JWK that is not an object is refused");
    ok(ac_jose_jwk_parse_text(p, "{\"kty\":", strlen("{\"kty\":"), &key)
       == AC_JOSE_ERR_JWK_NOT_OBJECT, "JWK text that is not JSON is refused");

    /* keys from the configuration */
    RAND_bytes(k, sizeof(k));
    ok(ac_jose_key_from_secret(p, k, 31, NULL, 0, &key)
       == AC_JOSE_ERR_JWK_OCT_SHORT
       && ac_jose_key_from_secret(p, k, 64, "cfg", 0, &key) == AC_JOSE_OK
       && ac_jose_key_algs(key) == AC_JOSE_ALGS_HMAC,
       "a configured HMAC secret: 31 bytes refused, 64 bytes every HS");
    s = pem_of(p, rsa2048);
    ok(ac_jose_key_from_pem(p, s, strlen(s), "pem", 0, &key) == AC_JOSE_OK
       && ac_jose_key_algs(key) == AC_JOSE_ALGS_RSA
       && ac_jose_key_from_pem(p, s, strlen(s), NULL, AC_JOSE_ALG_ES256, &key)
          == AC_JOSE_ERR_JWK_ALG,
       "an RSA PEM public key: RS* and PS*, not ES256");
    s = pem_of(p, p384);
    ok(ac_jose_key_from_pem(p, s, strlen(s), NULL, 0, &key) == AC_JOSE_OK
       && ac_jose_key_algs(key) == AC_JOSE_ALG_ES384
       && (s = pem_of(p, ed25519)) != NULL
       && ac_jose_key_from_pem(p, s, strlen(s), NULL, 0, &key) == AC_JOSE_OK
       && ac_jose_key_algs(key) == AC_JOSE_ALG_EDDSA,
       "P-384 and Ed25519 PEM public keys");
    s = pem_of(p, rsa1024);
    ok(ac_jose_key_from_pem(p, s, strlen(s), NULL, 0, &key)
       == AC_JOSE_ERR_JWK_RSA_SIZE
       && ac_jose_key_from_pem(p, "junk", 4, NULL, 0, &key) == AC_JOSE_ERR_PEM,
       "a PEM RSA 1024 key and junk are refused");
}

/* --- JWK Set ------------------------------------------------------------- */

typedef struct {
    int n;
    apr_size_t index[16];
    ac_jose_status why[16];
    const char *kid[16];
    apr_pool_t *p;
} skips;

static void record_skip(void *baton, apr_size_t index, const char *kid,
                        ac_jose_status why)
{
    skips *s = baton;

    if (s->n < 16) {
        s->index[s->n] = index;
        s->why[s->n] = why;
        s->kid[s->n] = kid ? apr_pstrdup(s->p, kid) : NULL;
    }
    s->n++;
}

static ac_jose_status jwks_text(apr_pool_t *p, const char *doc,
                                ac_jose_keyset **set)
{
    return ac_jose_jwks_parse(p, doc, strlen(doc), NULL, NULL, set);
}

#define N_JWKS 12
static void test_jwks(apr_pool_t *p)
{
    static const ac_jose_status want[] = {
        AC_JOSE_ERR_JWK_RSA_SIZE, AC_JOSE_ERR_JWK_NOT_ON_CURVE,
        AC_JOSE_ERR_JWK_OCT_SHORT, AC_JOSE_ERR_JWK_USE, AC_JOSE_ERR_JWK_KTY,
        AC_JOSE_ERR_JWK_NOT_OBJECT
    };
    static const apr_size_t want_index[] = { 1, 2, 4, 5, 6, 7 };
    ac_jose_keyset *set = NULL;
    skips sk;
    json_t *keys, *j;
    const char *doc;
    char *y, *big;
    apr_size_t ylen;
    int i, all;

    /* valid and invalid keys mixed */
    keys = json_array();
    json_array_append_new(keys, jwk_of(p, rsa2048, "good-rsa"));
    json_array_append_new(keys, jwk_of(p, rsa1024, "weak"));
    j = jwk_of(p, p256, "off-curve");
    ac_b64url_decode(p, json_string_value(json_object_get(j, "y")), 43, &y,
                     &ylen);
    y[ylen - 1] ^= 1;
    json_object_set_new(j, "y", json_string(ac_b64url_encode(p, y, ylen)));
    json_array_append_new(keys, j);
    json_array_append_new(keys, jwk_of(p, p256, "good-ec"));
    json_array_append_new(keys, jwk_oct(p, hs_secret, 16, "short"));
    j = jwk_of(p, rsa2048, "enc");
    json_object_set_new(j, "use", json_string("enc"));
    json_array_append_new(keys, j);
    json_array_append_new(keys, json_pack("{s:s,s:s}", "kty", "XYZ",
                                          "kid", "x"));
    json_array_append_new(keys, json_string("not a key"));
    json_array_append_new(keys, jwk_of(p, ed25519, "good-ed"));
    doc = jwks_of(p, keys);
    memset(&sk, 0, sizeof(sk));
    sk.p = p;
    ok(ac_jose_jwks_parse(p, doc, strlen(doc), record_skip, &sk, &set)
       == AC_JOSE_OK && ac_jose_keyset_count(set) == 3
       && ac_jose_keyset_skipped(set) == 6,
       "a JWK Set of 3 valid and 6 invalid keys keeps the 3");
    ok(set && strcmp(ac_jose_key_kid(ac_jose_keyset_get(set, 0)), "good-rsa")
       == 0 && strcmp(ac_jose_key_kid(ac_jose_keyset_get(set, 1)), "good-ec")
       == 0 && strcmp(ac_jose_key_kid(ac_jose_keyset_get(set, 2)), "good-ed")
       == 0 && ac_jose_keyset_get(set, 3) == NULL,
       "the kept keys are in document order");
    all = sk.n == 6;
    for (i = 0; all && i < 6; i++) {
        all = sk.why[i] == want[i] && sk.index[i] == want_index[i];
    }
    ok(all, "each skipped key is reported with its index and its reason");
    ok(sk.kid[0] && strcmp(sk.kid[0], "weak") == 0 && sk.kid[5] == NULL,
       "a skipped key is reported with its kid when it has one");
    ok(ac_jose_jwks_parse(p, doc, strlen(doc), NULL, NULL, &set) == AC_JOSE_OK,
       "the skip callback is optional");

    /* limits */
    keys = json_array();
    for (i = 0; i < AC_JOSE_MAX_KEYS; i++) {
        json_array_append_new(keys, jwk_oct(p, hs_secret, 32,
                                            apr_psprintf(p, "k%d", i)));
    }
    doc = jwks_of(p, json_incref(keys));
    set = NULL;
    ok(ac_jose_jwks_parse(p, doc, strlen(doc), NULL, NULL, &set) == AC_JOSE_OK
       && ac_jose_keyset_count(set) == AC_JOSE_MAX_KEYS,
       "a JWK Set of 100 keys is taken");
    json_array_append_new(keys, jwk_oct(p, hs_secret, 32, "k100"));
    doc = jwks_of(p, keys);
    set = NULL;
    ok(ac_jose_jwks_parse(p, doc, strlen(doc), NULL, NULL, &set)
       == AC_JOSE_ERR_JWKS_TOO_MANY_KEYS && set == NULL,
       "a JWK Set of 101 distinct keys is refused whole");
    big = apr_palloc(p, AC_JOSE_MAX_JWKS + 2);
    doc = jwks_of(p, json_pack("[o]", jwk_of(p, p256, "e")));
    memset(big, ' ', AC_JOSE_MAX_JWKS + 1);
    memcpy(big, doc, strlen(doc));
    big[AC_JOSE_MAX_JWKS + 1] = '\0';
    ok(ac_jose_jwks_parse(p, big, AC_JOSE_MAX_JWKS + 1, NULL, NULL, &set)
       == AC_JOSE_ERR_JWKS_TOO_LARGE
       && ac_jose_jwks_parse(p, big, AC_JOSE_MAX_JWKS, NULL, NULL, &set)
          == AC_JOSE_OK,
       "a JWK Set document over 512 KB is refused, one of 512 KB taken");

    ok(jwks_text(p, "{\"keys\":[", &set) == AC_JOSE_ERR_JWKS_NOT_JSON,
       "a JWK Set that is not JSON is refused");
    ok(jwks_text(p, "{\"keys\":{}}", &set) == AC_JOSE_ERR_JWKS_NO_KEYS
       && jwks_text(p, "[]", &set) == AC_JOSE_ERR_JWKS_NO_KEYS,
       "a JWK Set without a keys array is refused");
    ok(jwks_text(p, "{\"keys\":[]}", &set) == AC_JOSE_ERR_JWKS_EMPTY
       && jwks_text(p, "{\"keys\":[{\"kty\":\"oct\",\"k\":\"AA\"}]}", &set)
          == AC_JOSE_ERR_JWKS_EMPTY,
       "a JWK Set without one usable key is an error");
    ok(jwks_text(p, "{\"keys\":[],\"keys\":[]}", &set)
       == AC_JOSE_ERR_JWKS_NOT_JSON,
       "duplicate member names are refused");
}

/* --- the 13 algorithms --------------------------------------------------- */

/* The key set every positive test uses, and the signer of each alg. */
static ac_jose_keyset *all_keys;

static const char *kid_of(ac_jose_alg alg)
{
    if (alg & AC_JOSE_ALGS_HMAC) {
        return "hs";
    }
    if (alg & AC_JOSE_ALGS_RSA) {
        return "rsa";
    }
    switch (alg) {
    case AC_JOSE_ALG_ES256:
        return "p256";
    case AC_JOSE_ALG_ES384:
        return "p384";
    case AC_JOSE_ALG_ES512:
        return "p521";
    default:
        return "ed";
    }
}

static signer signer_of(ac_jose_alg alg)
{
    signer s;

    memset(&s, 0, sizeof(s));
    if (alg & AC_JOSE_ALGS_HMAC) {
        s.secret = hs_secret;
        s.secret_len = sizeof(hs_secret);
    }
    else if (alg & AC_JOSE_ALGS_RSA) {
        s.pkey = rsa2048;
    }
    else {
        switch (alg) {
        case AC_JOSE_ALG_ES256:
            s.pkey = p256;
            break;
        case AC_JOSE_ALG_ES384:
            s.pkey = p384;
            break;
        case AC_JOSE_ALG_ES512:
            s.pkey = p521;
            break;
        default:
            s.pkey = ed25519;
        }
    }
    return s;
}

static const char *token_for(apr_pool_t *p, ac_jose_alg alg, int with_kid)
{
    signer s = signer_of(alg);

    return sign_token(p, header_of(p, alg, with_kid ? kid_of(alg) : NULL),
                      claims_json(p), alg, &s);
}

#define N_ALGS (2 * NALGS + 6)
static void test_algorithms(apr_pool_t *p)
{
    json_t *keys = json_array();
    const char *doc, *tok;
    ac_jose_jws *jws;
    const ac_jose_key *used;
    int i;

    json_array_append_new(keys, jwk_oct(p, hs_secret, sizeof(hs_secret),
                                        "hs"));
    json_array_append_new(keys, jwk_of(p, rsa2048, "rsa"));
    json_array_append_new(keys, jwk_of(p, p256, "p256"));
    json_array_append_new(keys, jwk_of(p, p384, "p384"));
    json_array_append_new(keys, jwk_of(p, p521, "p521"));
    json_array_append_new(keys, jwk_of(p, ed25519, "ed"));
    doc = jwks_of(p, keys);
    ac_jose_jwks_parse(p, doc, strlen(doc), NULL, NULL, &all_keys);

    for (i = 0; i < NALGS; i++) {
        ac_jose_alg alg = all_algs[i];
        ac_jose_status rc1, rc2 = AC_JOSE_ERR_INTERNAL;

        tok = token_for(p, alg, 1);
        used = NULL;
        jws = NULL;
        rc1 = ac_jose_jws_parse(p, tok, strlen(tok), AC_JOSE_ALGS_ALL, &jws);
        if (rc1 == AC_JOSE_OK) {
            rc1 = ac_jose_jws_verify(jws, all_keys, AC_JOSE_ALGS_ALL, &used);
        }
        ok(rc1 == AC_JOSE_OK && jws->verified && used
           && strcmp(ac_jose_key_kid(used), kid_of(alg)) == 0
           && jws->alg == alg,
           apr_psprintf(p, "%s token verifies with the key of its kid",
                        ac_jose_alg_name(alg)));
        tok = token_for(p, alg, 0);
        used = NULL;
        if (ac_jose_jws_parse(p, tok, strlen(tok), AC_JOSE_ALGS_ALL, &jws)
            == AC_JOSE_OK) {
            rc2 = ac_jose_jws_verify(jws, all_keys, AC_JOSE_ALGS_ALL, &used);
        }
        ok(rc2 == AC_JOSE_OK && used
           && strcmp(ac_jose_key_kid(used), kid_of(alg)) == 0,
           apr_psprintf(p, "%s token without kid finds its key by type",
                        ac_jose_alg_name(alg)));
    }

    {
        /* ECDSA signatures go to OpenSSL as DER written by hand: numbers
         * with a leading zero byte (shortened) or a high bit (a zero byte
         * put in front), on P-256 and P-521 (whose DER is over 127 bytes) */
        signer s256 = signer_of(AC_JOSE_ALG_ES256);
        signer s521 = signer_of(AC_JOSE_ALG_ES512);
        const ac_jose_key *k256 = NULL, *k521 = NULL;
        unsigned char sig[1024];
        int n, zero = 0, high = 0, good = 1;
        size_t len;

        for (n = 0; n < ac_jose_keyset_count(all_keys); n++) {
            const ac_jose_key *k = ac_jose_keyset_get(all_keys, n);

            if (strcmp(ac_jose_key_kid(k), "p256") == 0) {
                k256 = k;
            }
            if (strcmp(ac_jose_key_kid(k), "p521") == 0) {
                k521 = k;
            }
        }
        for (n = 0; n < 4000 && good && (zero < 2 || high < 2); n++) {
            const char *in = apr_psprintf(p, "input %d", n);

            len = sign_raw(AC_JOSE_ALG_ES256, &s256, in, strlen(in), sig);
            good = len == 64
                   && ac_jose_verify(k256, AC_JOSE_ALG_ES256, in, strlen(in),
                                     sig, len) == AC_JOSE_OK;
            zero += (sig[0] == 0) + (sig[32] == 0);
            high += (sig[0] >= 0x80) + (sig[32] >= 0x80);
        }
        for (n = 0; n < 8 && good; n++) {
            const char *in = apr_psprintf(p, "input %d", n);

            len = sign_raw(AC_JOSE_ALG_ES512, &s521, in, strlen(in), sig);
            good = len == 132
                   && ac_jose_verify(k521, AC_JOSE_ALG_ES512, in, strlen(in),
                                     sig, len) == AC_JOSE_OK;
        }
        ok(good && zero >= 2 && high >= 2,
           "ECDSA signatures verify whether R and S start with a zero "
           "byte, a high bit or neither, P-521's too");
    }

    tok = token_for(p, AC_JOSE_ALG_ES256, 1);
    jws = NULL;
    ac_jose_jws_parse(p, tok, strlen(tok), AC_JOSE_ALGS_ALL, &jws);
    ok(jws && jws->kid && strcmp(jws->kid, "p256") == 0 && jws->typ
       && strcmp(jws->typ, "at+jwt") == 0 && json_is_object(jws->header)
       && json_is_object(jws->claims) && jws->signature_len == 64
       && jws->verified == 0
       && strncmp(jws->signing_input, tok, jws->signing_input_len) == 0
       && tok[jws->signing_input_len] == '.',
       "a parsed token exposes kid, typ, header, claims, signing input; "
       "unverified until verified");
    ok(ac_jose_jws_verify(jws, all_keys, AC_JOSE_ALG_RS256, NULL)
       == AC_JOSE_ERR_ALG_NOT_ALLOWED && !jws->verified,
       "the allow-list is applied again by verify, before any crypto");
    ok(check(p, tok, all_keys, AC_JOSE_ALGS_ASYMMETRIC) == AC_JOSE_OK
       && check(p, token_for(p, AC_JOSE_ALG_HS256, 1), all_keys,
                AC_JOSE_ALGS_ASYMMETRIC) == AC_JOSE_ERR_ALG_NOT_ALLOWED,
       "HS256 is refused when only asymmetric algorithms are allowed");
    ERR_clear_error();
    check(p, token_for(p, AC_JOSE_ALG_PS256, 1), all_keys, AC_JOSE_ALGS_ALL);
    tok = token_for(p, AC_JOSE_ALG_RS256, 1);
    check(p, apr_pstrcat(p, apr_pstrndup(p, tok, strlen(tok) - 4), "AAAA",
                         NULL), all_keys, AC_JOSE_ALGS_ALL);
    ok(ERR_peek_error() == 0,
       "a verification, failed or not, leaves no OpenSSL error behind");
    {
        /* a configured key set, not a JWK Set */
        ac_jose_keyset *set = ac_jose_keyset_make(p);
        ac_jose_key *key;

        ac_jose_key_from_secret(p, hs_secret, sizeof(hs_secret), NULL, 0,
                                &key);
        ac_jose_keyset_add(set, key);
        ok(check(p, token_for(p, AC_JOSE_ALG_HS512, 0), set,
                 AC_JOSE_ALGS_ALL) == AC_JOSE_OK
           && ac_jose_keyset_count(set) == 1,
           "a key set built from a configured secret verifies HS512");
    }
}

/* --- the negative matrix ------------------------------------------------- */

/* Every prefix of `tok` is refused, without a crash. */
static int all_prefixes_fail(apr_pool_t *p, const char *tok)
{
    apr_size_t n, len = strlen(tok);
    int all = 1;

    for (n = 0; n < len; n++) {
        /* a copy of exactly n bytes, so that valgrind sees any overread */
        char *copy = malloc(n ? n : 1);

        memcpy(copy, tok, n);
        all = all && check_n(p, copy, n, all_keys, AC_JOSE_ALGS_ALL)
                     != AC_JOSE_OK;
        free(copy);
    }
    return all;
}

/* A copy of `tok` with the bit `bit` of the decoded part `part` (0 header,
 * 1 payload, 2 signature) flipped, or NULL past the end of the part. */
static const char *flip(apr_pool_t *p, const char *tok, int part,
                        apr_size_t bit)
{
    const char *parts[3], *s = tok;
    char *raw;
    apr_size_t len, i;

    for (i = 0; i < 3; i++) {
        const char *dot = strchr(s, '.');

        parts[i] = dot ? apr_pstrndup(p, s, dot - s) : s;
        s = dot ? dot + 1 : s;
    }
    ac_b64url_decode(p, parts[part], strlen(parts[part]), &raw, &len);
    if (bit >= len * 8) {
        return NULL;
    }
    raw[bit / 8] ^= (char)(1 << (bit % 8));
    parts[part] = ac_b64url_encode(p, raw, len);
    return apr_pstrcat(p, parts[0], ".", parts[1], ".", parts[2], NULL);
}

/* Every single-bit change in part `part` of `tok` is refused. */
static int all_flips_fail(apr_pool_t *parent, const char *tok, int part)
{
    apr_pool_t *p;
    apr_size_t bit;
    const char *t;
    int all = 1;

    apr_pool_create(&p, parent);
    for (bit = 0; (t = flip(p, tok, part, bit)) != NULL && all; bit++) {
        all = check(p, t, all_keys, AC_JOSE_ALGS_ALL) != AC_JOSE_OK;
        apr_pool_clear(p);
    }
    apr_pool_destroy(p);
    return all && bit > 0;
}

/* A token of the given JSON header and payload and raw signature text. */
static const char *raw_token(apr_pool_t *p, const char *header,
                             const char *payload, const char *sig)
{
    return apr_pstrcat(p, b64u(p, header), ".", b64u(p, payload), ".", sig,
                       NULL);
}

#define N_NEGATIVE 59
static void test_negative(apr_pool_t *p)
{
    static const char *const part_name[] = { "header", "payload",
                                             "signature" };
    static const ac_jose_alg flip_algs[] = {
        AC_JOSE_ALG_RS256, AC_JOSE_ALG_ES256, AC_JOSE_ALG_EDDSA,
        AC_JOSE_ALG_HS256
    };
    const char *claims = claims_json(p), *tok, *hs, *sig, *pem;
    unsigned char *der = NULL;
    int derlen, i, part;
    signer s;
    json_t *keys;
    ac_jose_keyset *rsa_only = NULL, *p384_only = NULL, *pinned = NULL;
    const char *doc;
    char *big;

    memset(&s, 0, sizeof(s));
    hs = ac_b64url_encode(p, "x", 1);

    /* alg none */
    tok = raw_token(p, "{\"alg\":\"none\"}", claims, "");
    ok(check(p, tok, all_keys, AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_ALG_NONE,
       "alg none without a signature is refused");
    tok = raw_token(p, "{\"alg\":\"none\",\"kid\":\"rsa\"}", claims, hs);
    ok(check(p, tok, all_keys, AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_ALG_NONE,
       "alg none with a signature is refused");
    tok = raw_token(p, "{\"alg\":\"NoNe\"}", claims, "");
    ok(check(p, tok, all_keys, AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_ALG_NONE,
       "alg none in another case is refused");

    /* key-type confusion: HS256 with the RSA public key as secret */
    derlen = i2d_PUBKEY(rsa2048, &der);
    s.secret = der;
    s.secret_len = (size_t)derlen;
    tok = sign_token(p, "{\"alg\":\"HS256\",\"kid\":\"rsa\"}", claims,
                     AC_JOSE_ALG_HS256, &s);
    ok(check(p, tok, all_keys, AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_KEY_MISMATCH,
       "HS256 signed with the RSA public key's DER is a key type mismatch");
    OPENSSL_free(der);
    pem = pem_of(p, rsa2048);
    s.secret = (const unsigned char *)pem;
    s.secret_len = strlen(pem);
    tok = sign_token(p, "{\"alg\":\"HS256\",\"kid\":\"rsa\"}", claims,
                     AC_JOSE_ALG_HS256, &s);
    ok(check(p, tok, all_keys, AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_KEY_MISMATCH,
       "HS256 signed with the RSA public key's PEM is a key type mismatch");
    keys = json_pack("[o]", jwk_of(p, rsa2048, "rsa"));
    doc = jwks_of(p, keys);
    ac_jose_jwks_parse(p, doc, strlen(doc), NULL, NULL, &rsa_only);
    tok = sign_token(p, "{\"alg\":\"HS256\"}", claims, AC_JOSE_ALG_HS256, &s);
    ok(check(p, tok, rsa_only, AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_NO_KEY,
       "HS256 without kid against only an RSA key finds no key");
    ok(ac_jose_verify(ac_jose_keyset_get(rsa_only, 0), AC_JOSE_ALG_HS256,
                      "a.b", 3, (const unsigned char *)"x", 1)
       == AC_JOSE_ERR_KEY_MISMATCH,
       "an RSA key never computes an HMAC");

    /* ES256 against P-384 */
    s = signer_of(AC_JOSE_ALG_ES384);
    tok = sign_token(p, "{\"alg\":\"ES256\",\"kid\":\"p384\"}", claims,
                     AC_JOSE_ALG_ES256, &s);
    ok(check(p, tok, all_keys, AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_KEY_MISMATCH,
       "an ES256 token naming a P-384 key is a key type mismatch");
    keys = json_pack("[o]", jwk_of(p, p384, NULL));
    doc = jwks_of(p, keys);
    ac_jose_jwks_parse(p, doc, strlen(doc), NULL, NULL, &p384_only);
    tok = sign_token(p, "{\"alg\":\"ES256\"}", claims, AC_JOSE_ALG_ES256, &s);
    ok(check(p, tok, p384_only, AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_NO_KEY,
       "an ES256 token without kid against only a P-384 key finds no key");

    /* RS256-pinned key, PS256 token signed by that very key */
    keys = json_pack("[o]", jwk_of(p, rsa2048, "rsa"));
    json_object_set_new(json_array_get(keys, 0), "alg", json_string("RS256"));
    doc = jwks_of(p, keys);
    ac_jose_jwks_parse(p, doc, strlen(doc), NULL, NULL, &pinned);
    tok = token_for(p, AC_JOSE_ALG_PS256, 1);
    ok(check(p, tok, pinned, AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_KEY_MISMATCH
       && check(p, tok, rsa_only, AC_JOSE_ALGS_ALL) == AC_JOSE_OK,
       "a key pinned to RS256 refuses a PS256 token its unpinned twin takes");
    {
        /* the same defence one level down, without key selection */
        unsigned char raw[1024];
        size_t n;
        const char *in = "e30.e30";

        s = signer_of(AC_JOSE_ALG_ES384);
        n = sign_raw(AC_JOSE_ALG_ES256, &s, in, strlen(in), raw);
        ok(ac_jose_verify(ac_jose_keyset_get(p384_only, 0), AC_JOSE_ALG_ES256,
                          in, strlen(in), raw, n) == AC_JOSE_ERR_KEY_MISMATCH
           && (s = signer_of(AC_JOSE_ALG_PS256), 1)
           && (n = sign_raw(AC_JOSE_ALG_PS256, &s, in, strlen(in), raw)) > 0
           && ac_jose_verify(ac_jose_keyset_get(pinned, 0), AC_JOSE_ALG_PS256,
                             in, strlen(in), raw, n)
              == AC_JOSE_ERR_KEY_MISMATCH
           && ac_jose_verify(ac_jose_keyset_get(rsa_only, 0),
                             AC_JOSE_ALG_PS256, in, strlen(in), raw, n)
              == AC_JOSE_OK,
           "ac_jose_verify itself refuses ES256 on P-384 and PS256 on an "
           "RS256-pinned key");
    }
    s = signer_of(AC_JOSE_ALG_PS256);
    s.pss_saltlen = 20;
    tok = sign_token(p, header_of(p, AC_JOSE_ALG_PS256, "rsa"), claims,
                     AC_JOSE_ALG_PS256, &s);
    ok(check(p, tok, all_keys, AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_BAD_SIGNATURE,
       "PS256 with a 20-byte salt is refused (salt = hash length)");

    /* kid */
    s = signer_of(AC_JOSE_ALG_RS256);
    tok = sign_token(p, header_of(p, AC_JOSE_ALG_RS256, "nowhere"), claims,
                     AC_JOSE_ALG_RS256, &s);
    ok(check(p, tok, all_keys, AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_UNKNOWN_KID,
       "a kid pointing nowhere is unknown key id");
    ok(check(p, tok, NULL, AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_UNKNOWN_KID
       && check(p, token_for(p, AC_JOSE_ALG_RS256, 0), NULL, AC_JOSE_ALGS_ALL)
          == AC_JOSE_ERR_NO_KEY,
       "no key set at all: unknown key id, or no suitable key");

    /* truncation and bit flips */
    for (i = 0; i < 4; i++) {
        ok(all_prefixes_fail(p, token_for(p, flip_algs[i], 1)),
           apr_psprintf(p, "every truncation of a %s token is refused",
                        ac_jose_alg_name(flip_algs[i])));
    }
    for (i = 0; i < 4; i++) {
        tok = token_for(p, flip_algs[i], 1);
        for (part = 0; part < 3; part++) {
            ok(all_flips_fail(p, tok, part),
               apr_psprintf(p, "every one-bit change in the %s of a %s "
                            "token is refused", part_name[part],
                            ac_jose_alg_name(flip_algs[i])));
        }
    }

    /* sizes */
    big = apr_palloc(p, AC_JOSE_MAX_TOKEN + 2);
    memset(big, 'A', AC_JOSE_MAX_TOKEN + 1);
    big[AC_JOSE_MAX_TOKEN + 1] = '\0';
    ok(check(p, big, all_keys, AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_TOO_LARGE,
       "16 KB + 1 of anything is refused before anything else");
    s = signer_of(AC_JOSE_ALG_ES256);
    tok = sign_token(p, header_of(p, AC_JOSE_ALG_ES256, "p256"),
                     apr_psprintf(p, "{\"exp\":4000000000,\"pad\":\"%s\"}",
                                  apr_pstrndup(p, big, 12200)),
                     AC_JOSE_ALG_ES256, &s);
    ok(strlen(tok) > AC_JOSE_MAX_TOKEN
       && check(p, tok, all_keys, AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_TOO_LARGE,
       "a correctly signed token over 16 KB is refused");
    tok = raw_token(p, apr_psprintf(p, "{\"alg\":\"ES256\",\"x\":\"%s\"}",
                                    apr_pstrndup(p, big, 4100)),
                    claims, "AAAA");
    ok(check(p, tok, all_keys, AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_TOO_LARGE,
       "a header over 4 KB is refused");
    sig = apr_pstrndup(p, big, 1368);
    ok(check(p, raw_token(p, "{\"alg\":\"RS256\"}", claims, sig), all_keys,
             AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_TOO_LARGE,
       "a signature over 1024 bytes is refused");

    /* encoding */
    tok = token_for(p, AC_JOSE_ALG_ES256, 1);
    {
        const char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
        const char *h = apr_pstrndup(p, tok, d1 - tok);
        const char *pl = apr_pstrndup(p, d1 + 1, d2 - d1 - 1);

        ok(check(p, apr_pstrcat(p, h, "=.", pl, ".", d2 + 1, NULL), all_keys,
                 AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_BAD_B64URL,
           "a padded header is bad base64url");
        ok(check(p, apr_pstrcat(p, h, ".+", pl + 1, ".", d2 + 1, NULL),
                 all_keys, AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_BAD_B64URL,
           "a + in the payload is bad base64url");
        ok(check(p, apr_pstrcat(p, h, ".", pl, "./", d2 + 2, NULL), all_keys,
                 AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_BAD_B64URL,
           "a / in the signature is bad base64url");
        /* 64 bytes are 86 characters: the last carries 4 unused bits */
        ok(check(p, apr_pstrcat(p, h, ".", pl, ".",
                                apr_pstrndup(p, d2 + 1, 85), "_", NULL),
                 all_keys, AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_BAD_B64URL,
           "non-canonical trailing bits in the signature are bad base64url");
    }

    /* the header */
    ok(check(p, raw_token(p, "not json", claims, hs), all_keys,
             AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_HEADER_NOT_JSON
       && check(p, raw_token(p, "", claims, hs), all_keys, AC_JOSE_ALGS_ALL)
          == AC_JOSE_ERR_HEADER_NOT_JSON,
       "a header that is not JSON, or empty, is refused");
    ok(check(p, raw_token(p, "[\"alg\",\"RS256\"]", claims, hs), all_keys,
             AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_HEADER_NOT_OBJECT
       && check(p, raw_token(p, "\"RS256\"", claims, hs), all_keys,
                AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_HEADER_NOT_OBJECT,
       "a header that is JSON but not an object is refused");
    ok(check(p, raw_token(p, "{\"typ\":\"at+jwt\"}", claims, hs), all_keys,
             AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_ALG_MISSING
       && check(p, raw_token(p, "{\"alg\":256}", claims, hs), all_keys,
                AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_ALG_MISSING,
       "a header without a string alg is refused");
    ok(check(p, raw_token(p, "{\"alg\":\"HS1\"}", claims, hs), all_keys,
             AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_ALG_UNSUPPORTED
       && check(p, raw_token(p, "{\"alg\":\"rs256\"}", claims, hs), all_keys,
                AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_ALG_UNSUPPORTED,
       "an unknown alg is unsupported");
    ok(check(p, token_for(p, AC_JOSE_ALG_RS256, 1), all_keys,
             AC_JOSE_ALGS_EC) == AC_JOSE_ERR_ALG_NOT_ALLOWED,
       "an alg outside the allow-list is not allowed");
    ok(check(p, raw_token(p, "{\"alg\":\"ES256\",\"alg\":\"ES256\"}", claims,
                          hs), all_keys, AC_JOSE_ALGS_ALL)
       == AC_JOSE_ERR_HEADER_NOT_JSON,
       "a header with a duplicate member name is refused");
    ok(check(p, raw_token(p, "{\"alg\":\"ES256\",\"kid\":1}", claims, hs),
             all_keys, AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_BAD_HEADER
       && check(p, raw_token(p, "{\"alg\":\"ES256\",\"typ\":[]}", claims, hs),
                all_keys, AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_BAD_HEADER,
       "a kid or typ that is not a string is refused");
    s = signer_of(AC_JOSE_ALG_ES256);
    ok(check(p, sign_token(p, "{\"alg\":\"ES256\",\"kid\":\"p256\","
                           "\"crit\":[\"exp\"],\"exp\":1}", claims,
                           AC_JOSE_ALG_ES256, &s), all_keys,
             AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_CRIT
       && check(p, raw_token(p, "{\"alg\":\"ES256\",\"crit\":[]}", claims,
                             hs), all_keys, AC_JOSE_ALGS_ALL)
          == AC_JOSE_ERR_CRIT,
       "a crit header is refused, even a correctly signed one");

    /* the structure */
    ok(check(p, "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", all_keys,
             AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_JWE,
       "a 5-part token is JWE, not supported");
    ok(check(p, "a.b", all_keys, AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_MALFORMED
       && check(p, "a.b.c.d", all_keys, AC_JOSE_ALGS_ALL)
          == AC_JOSE_ERR_MALFORMED
       && check(p, "a.b.c.d.e.f", all_keys, AC_JOSE_ALGS_ALL)
          == AC_JOSE_ERR_MALFORMED
       && check(p, "", all_keys, AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_MALFORMED
       && ac_jose_jws_parse(p, NULL, 0, AC_JOSE_ALGS_ALL, NULL)
          == AC_JOSE_ERR_MALFORMED,
       "2, 4, 6 parts, an empty and a NULL token are malformed");
    ok(check(p, raw_token(p, "{\"alg\":\"ES256\"}", "{\"exp\":", hs),
             all_keys, AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_PAYLOAD_NOT_JSON
       && check(p, raw_token(p, "{\"alg\":\"ES256\"}", "[1]", hs), all_keys,
                AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_PAYLOAD_NOT_OBJECT,
       "a payload that is not a JSON object is refused");
    ok(check(p, raw_token(p, "{\"alg\":\"ES256\"}",
                          "{\"sub\":\"a\",\"sub\":\"b\"}", hs), all_keys,
             AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_PAYLOAD_NOT_JSON,
       "a payload with a duplicate claim is refused");
    ok(check(p, raw_token(p, "{\"alg\":\"ES256\"}",
                          "{\"sub\":\"a\\u0000b\"}", hs), all_keys,
             AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_PAYLOAD_NOT_JSON,
       "a claim with an escaped NUL is refused");

    /* signatures of the wrong shape */
    tok = token_for(p, AC_JOSE_ALG_ES256, 1);
    ok(check(p, apr_pstrcat(p, apr_pstrndup(p, tok, strrchr(tok, '.') - tok),
                            ".", ac_b64url_encode(p, big, 63), NULL),
             all_keys, AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_BAD_SIGNATURE_FORMAT,
       "an ES256 signature of 63 bytes is malformed");
    tok = token_for(p, AC_JOSE_ALG_ES256, 1);
    ok(check(p, apr_pstrcat(p, apr_pstrndup(p, tok, strrchr(tok, '.') - tok),
                            ".", ac_b64url_encode(p, big, 72), NULL),
             all_keys, AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_BAD_SIGNATURE_FORMAT,
       "an ES256 signature in DER-like length (72 bytes) is malformed");
    tok = token_for(p, AC_JOSE_ALG_EDDSA, 1);
    ok(check(p, apr_pstrcat(p, apr_pstrndup(p, tok, strrchr(tok, '.') - tok),
                            ".", NULL), all_keys, AC_JOSE_ALGS_ALL)
       == AC_JOSE_ERR_BAD_SIGNATURE_FORMAT,
       "an EdDSA token with an empty signature is malformed");
    {
        /* the first 31 bytes of a correct HMAC */
        const char *dot;
        char *mac;
        apr_size_t maclen;

        tok = token_for(p, AC_JOSE_ALG_HS256, 1);
        dot = strrchr(tok, '.');
        ac_b64url_decode(p, dot + 1, strlen(dot + 1), &mac, &maclen);
        ok(maclen == 32
           && check(p, apr_pstrcat(p, apr_pstrndup(p, tok, dot - tok), ".",
                                   ac_b64url_encode(p, mac, 31), NULL),
                    all_keys, AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_BAD_SIGNATURE,
           "a truncated HMAC is a bad signature");
    }
    tok = token_for(p, AC_JOSE_ALG_RS256, 1);
    ok(check(p, apr_pstrcat(p, apr_pstrndup(p, tok, strrchr(tok, '.') - tok),
                            ".", NULL), all_keys, AC_JOSE_ALGS_ALL)
       == AC_JOSE_ERR_BAD_SIGNATURE,
       "an RS256 token with an empty signature is a bad signature");
    {
        /* a valid ES256 signature with R and S swapped, and all zero */
        unsigned char rs[64], sr[64];
        const char *in, *dot;

        tok = token_for(p, AC_JOSE_ALG_ES256, 1);
        dot = strrchr(tok, '.');
        in = apr_pstrndup(p, tok, dot - tok);
        s = signer_of(AC_JOSE_ALG_ES256);
        sign_raw(AC_JOSE_ALG_ES256, &s, in, strlen(in), rs);
        memcpy(sr, rs + 32, 32);
        memcpy(sr + 32, rs, 32);
        memset(rs, 0, sizeof(rs));
        ok(check(p, apr_pstrcat(p, in, ".", ac_b64url_encode(p, sr, 64),
                                NULL), all_keys, AC_JOSE_ALGS_ALL)
           == AC_JOSE_ERR_BAD_SIGNATURE
           && check(p, apr_pstrcat(p, in, ".", ac_b64url_encode(p, rs, 64),
                                   NULL), all_keys, AC_JOSE_ALGS_ALL)
              == AC_JOSE_ERR_BAD_SIGNATURE,
           "ES256 with R and S swapped, or zero, is a bad signature");
    }
    {
        /* a signature that verifies under another key of the same type */
        EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        signer o;

        memset(&o, 0, sizeof(o));
        o.pkey = other;
        tok = sign_token(p, header_of(p, AC_JOSE_ALG_ES256, "p256"), claims,
                         AC_JOSE_ALG_ES256, &o);
        ok(check(p, tok, all_keys, AC_JOSE_ALGS_ALL)
           == AC_JOSE_ERR_BAD_SIGNATURE,
           "ES256 signed by a stranger's P-256 key is a bad signature");
        tok = sign_token(p, header_of(p, AC_JOSE_ALG_ES256, NULL), claims,
                         AC_JOSE_ALG_ES256, &o);
        ok(check(p, tok, all_keys, AC_JOSE_ALGS_ALL)
           == AC_JOSE_ERR_BAD_SIGNATURE,
           "... also when no kid names the key");
        EVP_PKEY_free(other);
    }
}

/* --- key selection bound ------------------------------------------------- */

#define N_SELECTION 3
static void test_selection(apr_pool_t *p)
{
    json_t *keys = json_array();
    ac_jose_keyset *set = NULL;
    const char *doc, *tok;
    unsigned char other[32];
    int i;

    /* AC_JOSE_MAX_KEY_TRIES wrong HS256 keys, then the right one */
    for (i = 0; i < AC_JOSE_MAX_KEY_TRIES; i++) {
        RAND_bytes(other, sizeof(other));
        json_array_append_new(keys, jwk_oct(p, other, sizeof(other),
                                            apr_psprintf(p, "w%d", i)));
    }
    json_array_append_new(keys, jwk_oct(p, hs_secret, sizeof(hs_secret),
                                        "right"));
    doc = jwks_of(p, keys);
    ac_jose_jwks_parse(p, doc, strlen(doc), NULL, NULL, &set);
    tok = token_for(p, AC_JOSE_ALG_HS256, 0);
    ok(check(p, tok, set, AC_JOSE_ALGS_ALL) == AC_JOSE_ERR_BAD_SIGNATURE,
       "without kid at most AC_JOSE_MAX_KEY_TRIES keys are tried");
    ok(check(p, token_for(p, AC_JOSE_ALG_HS256, 0), all_keys,
             AC_JOSE_ALGS_ALL) == AC_JOSE_OK,
       "keys of other types do not count against the bound");
    tok = sign_token(p, header_of(p, AC_JOSE_ALG_HS256, "right"),
                     claims_json(p), AC_JOSE_ALG_HS256,
                     &(signer){ NULL, hs_secret, sizeof(hs_secret), 0 });
    ok(check(p, tok, set, AC_JOSE_ALGS_ALL) == AC_JOSE_OK,
       "with a kid the bound does not hide the named key");
}

/* --- typ ----------------------------------------------------------------- */

#define N_TYP 4
static void test_typ(apr_pool_t *p)
{
    ac_jose_jws *jws;
    const char *tok;
    signer s = signer_of(AC_JOSE_ALG_ES256);

    ok(ac_jose_typ_is_at_jwt("at+jwt") && ac_jose_typ_is_at_jwt("AT+JWT")
       && ac_jose_typ_is_at_jwt("application/at+jwt")
       && ac_jose_typ_is_at_jwt("Application/At+Jwt"),
       "at+jwt and application/at+jwt, in any case, are access tokens");
    ok(!ac_jose_typ_is_at_jwt("JWT") && !ac_jose_typ_is_at_jwt(NULL)
       && !ac_jose_typ_is_at_jwt("application/jwt")
       && !ac_jose_typ_is_at_jwt("at+jwt ")
       && !ac_jose_typ_is_at_jwt("xapplication/at+jwt")
       && !ac_jose_typ_is_at_jwt("application/application/at+jwt"),
       "JWT, nothing and look-alikes are not");
    tok = token_for(p, AC_JOSE_ALG_ES256, 1);
    ok(ac_jose_jws_parse(p, tok, strlen(tok), AC_JOSE_ALGS_ALL, &jws)
       == AC_JOSE_OK && ac_jose_jws_check_typ(jws) == AC_JOSE_OK,
       "a token of typ at+jwt passes the typ check");
    tok = sign_token(p, "{\"alg\":\"ES256\",\"typ\":\"JWT\"}", claims_json(p),
                     AC_JOSE_ALG_ES256, &s);
    ok(ac_jose_jws_parse(p, tok, strlen(tok), AC_JOSE_ALGS_ALL, &jws)
       == AC_JOSE_OK && ac_jose_jws_check_typ(jws) == AC_JOSE_ERR_BAD_TYP
       && (tok = sign_token(p, "{\"alg\":\"ES256\"}", claims_json(p),
                            AC_JOSE_ALG_ES256, &s)) != NULL
       && ac_jose_jws_parse(p, tok, strlen(tok), AC_JOSE_ALGS_ALL, &jws)
          == AC_JOSE_OK
       && ac_jose_jws_check_typ(jws) == AC_JOSE_ERR_BAD_TYP,
       "typ JWT, or none, fails the typ check");
}

/* --- claims -------------------------------------------------------------- */

static json_t *J(const char *text)
{
    return json_loads(text, 0, NULL);
}

/* Run `fn`-like checks on parsed claims and free them. */
static ac_jose_status times(const char *text, apr_int64_t now,
                            apr_int64_t leeway)
{
    json_t *c = J(text);
    ac_jose_status rc = ac_jose_check_times(c, now, leeway);

    json_decref(c);
    return rc;
}

static ac_jose_status times_no_exp(const char *text, apr_int64_t now,
                                   apr_int64_t leeway)
{
    json_t *c = J(text);
    ac_jose_status rc = ac_jose_check_times_no_exp(c, now, leeway);

    json_decref(c);
    return rc;
}

static ac_jose_status aud(const char *text, const char *want)
{
    json_t *c = J(text);
    ac_jose_status rc = ac_jose_check_audience(c, want);

    json_decref(c);
    return rc;
}

static ac_jose_status iss(const char *text, const char *want)
{
    json_t *c = J(text);
    ac_jose_status rc = ac_jose_check_issuer(c, want);

    json_decref(c);
    return rc;
}

static int scopes_are(apr_pool_t *p, const char *text, ac_jose_status want,
                      const char *value)
{
    json_t *c = J(text);
    const char *s = NULL;
    ac_jose_status rc = ac_jose_claim_scopes(p, c, &s);

    json_decref(c);
    return rc == want && (value == NULL || (s && strcmp(s, value) == 0));
}

#define N_CLAIMS 38
static void test_claims(apr_pool_t *p)
{
    json_t *c;
    apr_int64_t t = 0;
    double d = 0;
    const char *s = NULL;

    c = J("{\"exp\":\"1700000000\",\"nbf\":true,\"iat\":1.5e9,"
          "\"neg\":-1.5,\"huge\":1e300,\"iss\":7}");
    ok(ac_jose_claim_time(c, "exp", &t) == AC_JOSE_ERR_CLAIM_TYPE
       && ac_jose_claim_number(c, "exp", &d) == AC_JOSE_ERR_CLAIM_TYPE,
       "exp as a string is of the wrong type");
    ok(ac_jose_claim_time(c, "nbf", &t) == AC_JOSE_ERR_CLAIM_TYPE,
       "a boolean is not a number");
    ok(ac_jose_claim_time(c, "iat", &t) == AC_JOSE_OK && t == 1500000000,
       "a real number is a time");
    ok(ac_jose_claim_time(c, "neg", &t) == AC_JOSE_OK && t == -2,
       "times round down");
    ok(ac_jose_claim_time(c, "huge", &t) == AC_JOSE_ERR_CLAIM_INVALID,
       "a time beyond 2^53 is invalid");
    ok(ac_jose_claim_time(c, "sub", &t) == AC_JOSE_ERR_CLAIM_MISSING,
       "an absent claim is missing");
    ok(ac_jose_claim_string(c, "iss", &s) == AC_JOSE_ERR_CLAIM_TYPE
       && ac_jose_claim_string(c, "jti", &s) == AC_JOSE_ERR_CLAIM_MISSING,
       "a numeric iss is of the wrong type; an absent jti is missing");
    json_decref(c);

    ok(times("{\"exp\":\"2000\"}", 1000, 0) == AC_JOSE_ERR_CLAIM_TYPE,
       "a token whose exp is a string is invalid");
    ok(times("{\"sub\":\"a\"}", 1000, 0) == AC_JOSE_ERR_CLAIM_MISSING,
       "a token without exp is invalid");
    ok(times("{\"exp\":2000}", 1999, 0) == AC_JOSE_OK,
       "a token is valid before exp");
    ok(times("{\"exp\":2000}", 2000, 0) == AC_JOSE_ERR_EXPIRED,
       "a token is expired at exp");
    ok(times("{\"exp\":2000.5}", 2000, 0) == AC_JOSE_OK,
       "a fractional exp is compared as it is");
    ok(times("{\"exp\":2000}", 2059, 60) == AC_JOSE_OK
       && times("{\"exp\":2000}", 2060, 60) == AC_JOSE_ERR_EXPIRED,
       "leeway extends exp, exactly");
    ok(times("{\"exp\":3000,\"nbf\":2000}", 1999, 0)
       == AC_JOSE_ERR_NOT_YET_VALID
       && times("{\"exp\":3000,\"nbf\":2000}", 2000, 0) == AC_JOSE_OK,
       "a token is not valid before nbf, valid at nbf");
    ok(times("{\"exp\":3000,\"nbf\":2000}", 1940, 60) == AC_JOSE_OK
       && times("{\"exp\":3000,\"nbf\":2000}", 1939, 60)
          == AC_JOSE_ERR_NOT_YET_VALID,
       "leeway brings nbf forward, exactly");
    ok(times("{\"exp\":3000,\"iat\":2100}", 2000, 60)
       == AC_JOSE_ERR_ISSUED_IN_FUTURE
       && times("{\"exp\":3000,\"iat\":2060}", 2000, 60) == AC_JOSE_OK,
       "a token issued in the future (beyond leeway) is refused");
    ok(times("{\"exp\":3000,\"nbf\":\"1\"}", 2000, 0) == AC_JOSE_ERR_CLAIM_TYPE
       && times("{\"exp\":3000,\"iat\":null}", 2000, 0)
          == AC_JOSE_ERR_CLAIM_TYPE,
       "nbf or iat that is not a number is refused");
    ok(times("{\"exp\":1e300}", 2000, 0) == AC_JOSE_ERR_CLAIM_INVALID
       && times("{\"exp\":-1e300}", 2000, 0) == AC_JOSE_ERR_CLAIM_INVALID
       && times("{\"exp\":3000,\"nbf\":-1e300}", 2000, 0)
          == AC_JOSE_ERR_CLAIM_INVALID
       && times("{\"exp\":3000,\"iat\":1e17}", 2000, 0)
          == AC_JOSE_ERR_CLAIM_INVALID,
       "exp, nbf or iat beyond 2^53 seconds is refused");
    ok(times_no_exp("{\"sub\":\"a\"}", 2000, 0) == AC_JOSE_OK
       && times_no_exp("{\"nbf\":2100}", 2000, 60)
          == AC_JOSE_ERR_NOT_YET_VALID
       && times_no_exp("{\"nbf\":2060}", 2000, 60) == AC_JOSE_OK
       && times_no_exp("{\"nbf\":\"1\"}", 2000, 0) == AC_JOSE_ERR_CLAIM_TYPE,
       "without exp (introspection) only nbf is checked, with leeway");

    c = J("{\"sub\":\"al\\u00e9\",\"n\":7,\"r\":1.5,\"b\":true,"
          "\"aud\":[\"a\",\"b\"],\"grp\":[\"x\"],\"o\":{},\"z\":null,"
          "\"scheme\":\"x\",\"source\":\"y\",\"active\":true,"
          "\"x-team\":\"a=1:2\"}");
    s = ac_jose_claims_data(p, c, "jwt");
    {
        json_t *parsed = s ? json_loads(s, 0, NULL) : NULL;

        ok(parsed != NULL && json_object_size(parsed) == 8
           && strcmp(json_string_value(json_object_get(parsed, "source")),
                     "jwt")
              == 0
           && json_array_size(json_object_get(parsed, "aud")) == 2
           && json_object_get(parsed, "grp") == NULL
           && json_object_get(parsed, "o") == NULL
           && json_is_true(json_object_get(parsed, "active")),
           "the auth data: scalars, aud as an array, our source, no scheme");
        json_decref(parsed);
    }
    s = ac_jose_claims_data(p, c, "introspection");
    ok(s != NULL && strstr(s, "\"active\"") == NULL,
       "an introspection answer's active is not auth data");
    {
        json_t *e = J("{\"sub\":\"q\\\"b\\\\s\\n\\t\\u0001\\u00e9/\","
                      "\"r\":-1.25e-3,\"i\":-9007199254740993,"
                      "\"f\":false,\"aud\":[\"x\",1],\"k\\\"q\":\"v\"}");
        json_t *parsed;

        s = ac_jose_claims_data(p, e, "jwt");
        parsed = s ? json_loads(s, 0, NULL) : NULL;
        ok(parsed != NULL && json_object_size(parsed) == 6
           && strcmp(json_string_value(json_object_get(parsed, "sub")),
                     "q\"b\\s\n\t\001\xc3\xa9/") == 0
           && json_real_value(json_object_get(parsed, "r")) == -1.25e-3
           && json_integer_value(json_object_get(parsed, "i"))
              == -9007199254740993LL
           && json_is_false(json_object_get(parsed, "f"))
           && json_object_get(parsed, "aud") == NULL
           && strcmp(json_string_value(json_object_get(parsed, "k\"q")),
                     "v") == 0,
           "the auth data is JSON that reads back: escapes, reals, integers, "
           "false, an aud with a non-string left out, a quoted name");
        json_decref(parsed);
        json_decref(e);
    }
    {
        const char *block = ac_jose_claims_env(p, c, "jwt"), *name, *value;
        apr_size_t nl, vl;
        int n = 0, team = 0, b = 0, sub = 0;

        while (ac_jose_claims_env_next(&block, &name, &nl, &value, &vl)) {
            n++;
            team += nl == 6 && memcmp(name, "x_team", 6) == 0
                    && vl == 5 && memcmp(value, "a=1:2", 5) == 0;
            b += nl == 1 && name[0] == 'b' && vl == 4
                 && memcmp(value, "true", 4) == 0;
            sub += nl == 3 && vl == 4 && memcmp(value, "al\xc3\xa9", 4) == 0;
        }
        ok(n == 6 && team && b && sub,
           "the claim variables: scalars only, names reduced, values with "
           "= and : kept whole");
    }
    {
        const char *bad = "a=9:xy", *name, *value;
        apr_size_t nl, vl;

        ok(!ac_jose_claims_env_next(&bad, &name, &nl, &value, &vl),
           "a block whose length runs past its end is not read");
    }
    json_decref(c);

    ok(iss("{\"iss\":\"https://a.example\"}", "https://a.example")
       == AC_JOSE_OK, "the expected issuer matches");
    ok(iss("{\"iss\":\"https://a.example/\"}", "https://a.example")
       == AC_JOSE_ERR_WRONG_ISSUER
       && iss("{\"iss\":\"HTTPS://A.EXAMPLE\"}", "https://a.example")
          == AC_JOSE_ERR_WRONG_ISSUER,
       "issuers compare exactly (no slash or case folding)");
    ok(iss("{}", "x") == AC_JOSE_ERR_CLAIM_MISSING
       && iss("{\"iss\":[\"x\"]}", "x") == AC_JOSE_ERR_CLAIM_TYPE,
       "a missing or non-string iss is refused");

    ok(aud("{\"aud\":\"api\"}", "api") == AC_JOSE_OK,
       "a string aud matches");
    ok(aud("{\"aud\":[\"web\",\"api\"]}", "api") == AC_JOSE_OK,
       "an aud array containing the audience matches");
    ok(aud("{\"aud\":[\"web\",\"apix\"]}", "api") == AC_JOSE_ERR_WRONG_AUDIENCE
       && aud("{\"aud\":\"apix\"}", "api") == AC_JOSE_ERR_WRONG_AUDIENCE
       && aud("{\"aud\":[]}", "api") == AC_JOSE_ERR_WRONG_AUDIENCE,
       "an aud without the audience is wrong");
    ok(aud("{}", "api") == AC_JOSE_ERR_CLAIM_MISSING,
       "a missing aud is missing");
    ok(aud("{\"aud\":[\"api\",1]}", "api") == AC_JOSE_ERR_CLAIM_TYPE
       && aud("{\"aud\":{\"api\":1}}", "api") == AC_JOSE_ERR_CLAIM_TYPE,
       "an aud that is not strings is of the wrong type");

    ok(scopes_are(p, "{\"scope\":\" read  write \"}", AC_JOSE_OK,
                  "read write"), "scope, spaces normalised");
    ok(scopes_are(p, "{\"scp\":[\"read\",\"write\"]}", AC_JOSE_OK,
                  "read write")
       && scopes_are(p, "{\"scp\":\"read write\"}", AC_JOSE_OK, "read write"),
       "scp as an array or a string");
    ok(scopes_are(p, "{\"scope\":\"a\",\"scp\":[\"b\"]}", AC_JOSE_OK, "a"),
       "scope wins over scp");
    ok(scopes_are(p, "{\"sub\":\"x\"}", AC_JOSE_OK, ""),
       "no scope claim: no scopes");
    ok(scopes_are(p, "{\"scope\":\"a \\\"b\"}", AC_JOSE_ERR_CLAIM_INVALID,
                  NULL)
       && scopes_are(p, "{\"scope\":\"a\\tb\"}", AC_JOSE_ERR_CLAIM_INVALID,
                     NULL)
       && scopes_are(p, "{\"scp\":[\"a b\"]}", AC_JOSE_ERR_CLAIM_INVALID,
                     NULL)
       && scopes_are(p, "{\"scp\":[\"\"]}", AC_JOSE_ERR_CLAIM_INVALID, NULL)
       && scopes_are(p, "{\"scope\":\"caf\\u00e9\"}",
                     AC_JOSE_ERR_CLAIM_INVALID, NULL),
       "a quote, a tab, a space inside an scp member, an empty member, "
       "non-ASCII are invalid scopes");
    ok(scopes_are(p, "{\"scope\":[\"a\"]}", AC_JOSE_ERR_CLAIM_TYPE, NULL)
       && scopes_are(p, "{\"scp\":[1]}", AC_JOSE_ERR_CLAIM_TYPE, NULL)
       && scopes_are(p, "{\"scp\":{}}", AC_JOSE_ERR_CLAIM_TYPE, NULL),
       "scopes of the wrong type are refused");
}

/* --- pools and threads --------------------------------------------------- */

typedef struct {
    apr_pool_t *pool;
    const char *tokens[3];
    int failures;
} worker_data;

static void *APR_THREAD_FUNC worker(apr_thread_t *thread, void *data)
{
    worker_data *w = data;
    int i, k;

    for (i = 0; i < 30; i++) {
        for (k = 0; k < 3; k++) {
            if (check(w->pool, w->tokens[k], all_keys, AC_JOSE_ALGS_ALL)
                != AC_JOSE_OK) {
                w->failures++;
            }
        }
    }
    apr_thread_exit(thread, APR_SUCCESS);
    return NULL;
}

#define N_LIFETIME 2
static void test_lifetime(apr_pool_t *p)
{
    apr_thread_t *threads[4];
    worker_data w[4];
    apr_status_t rv;
    apr_pool_t *sub;
    ac_jose_keyset *set = NULL;
    ac_jose_jws *jws;
    const char *doc, *tok;
    int i, failures = 0;

    /* a whole key set and token in a pool of their own, gone with it
     * (valgrind checks that the cleanups free everything) */
    apr_pool_create(&sub, p);
    doc = jwks_of(sub, json_pack("[ooo]", jwk_of(sub, rsa2048, "rsa"),
                                 jwk_of(sub, p521, "p521"),
                                 jwk_oct(sub, hs_secret, 64, "hs")));
    tok = token_for(sub, AC_JOSE_ALG_ES512, 1);
    ok(ac_jose_jwks_parse(sub, doc, strlen(doc), NULL, NULL, &set)
       == AC_JOSE_OK
       && ac_jose_jws_parse(sub, tok, strlen(tok), AC_JOSE_ALGS_ALL, &jws)
          == AC_JOSE_OK
       && ac_jose_jws_verify(jws, set, AC_JOSE_ALGS_ALL, NULL) == AC_JOSE_OK,
       "a key set and a token live and die with their pool");
    apr_pool_destroy(sub);

    /* one key set, four threads verifying at once */
    for (i = 0; i < 4; i++) {
        apr_pool_create(&w[i].pool, NULL);
        w[i].tokens[0] = token_for(p, AC_JOSE_ALG_RS256, 1);
        w[i].tokens[1] = token_for(p, AC_JOSE_ALG_ES256, 0);
        w[i].tokens[2] = token_for(p, AC_JOSE_ALG_HS512, 1);
        w[i].failures = 0;
        if (apr_thread_create(&threads[i], NULL, worker, &w[i], p)
            != APR_SUCCESS) {
            failures++;
            threads[i] = NULL;
        }
    }
    for (i = 0; i < 4; i++) {
        if (threads[i]) {
            apr_thread_join(&rv, threads[i]);
        }
        failures += w[i].failures;
        apr_pool_destroy(w[i].pool);
    }
    ok(failures == 0, "four threads share one key set");
}

/* --- DPoP proofs (ac_dpop.h) -------------------------------------------- */

/* A DPoP proof by `key` (whose public JWK goes into the header, with
 * `extra_jwk` members added) for the method and URL, with `claims` after
 * the standard ones (a JSON fragment starting with ',', or ""). */
static const char *proof_of(apr_pool_t *p, EVP_PKEY *key, ac_jose_alg alg,
                            const char *typ, const char *extra_jwk,
                            const char *htm, const char *htu,
                            apr_int64_t iat, const char *claims)
{
    signer s;
    const char *jwk = dump(p, jwk_of(p, key, NULL));
    const char *header;

    memset(&s, 0, sizeof(s));
    s.pkey = key;
    if (extra_jwk != NULL) {
        jwk = apr_pstrcat(p, apr_pstrmemdup(p, jwk, strlen(jwk) - 1), ",",
                          extra_jwk, "}", NULL);
    }
    header = apr_psprintf(p, "{\"alg\":\"%s\",\"typ\":\"%s\",\"jwk\":%s}",
                          ac_jose_alg_name(alg), typ, jwk);
    return sign_token(p, header,
                      apr_psprintf(p, "{\"jti\":\"j-%" APR_INT64_T_FMT "\","
                                   "\"htm\":\"%s\",\"htu\":\"%s\","
                                   "\"iat\":%" APR_INT64_T_FMT "%s}",
                                   iat, htm, htu, iat, claims),
                      alg, &s);
}

/* the cache of proof keys of the tests: one slot, so that keys replace
 * each other while earlier proofs still hold theirs */
static ac_dpop_keys *proof_keys;

static ac_dpop_status dpop_parse(apr_pool_t *p, const char *proof,
                                 ac_dpop_proof **pr)
{
    ac_jose_status why;

    return ac_dpop_parse(p, proof, strlen(proof), AC_JOSE_ALGS_ALL,
                         proof_keys, pr, &why);
}

/* Parse and check a proof against GET https://api.example/x at `now`,
 * with the token "tok" bound to `jkt`. */
static ac_dpop_status dpop_verdict(apr_pool_t *p, const char *proof,
                                   apr_int64_t now, const char *jkt)
{
    ac_dpop_proof *pr;
    ac_dpop_expect want;
    ac_dpop_status st = dpop_parse(p, proof, &pr);

    if (st != AC_DPOP_OK) {
        return st;
    }
    memset(&want, 0, sizeof(want));
    want.method = "GET";
    want.url = "https://api.example/x?q=1";
    want.now = now;
    want.max_age = 60;
    want.leeway = 5;
    want.token = "tok";
    want.token_len = 3;
    want.jkt = jkt;
    return ac_dpop_check(p, pr, &want);
}

static int url_is(apr_pool_t *p, const char *in, const char *want)
{
    const char *got = ac_dpop_url_normalize(p, in);

    return want == NULL ? got == NULL : got != NULL && strcmp(got, want) == 0;
}

#define N_DPOP 24
static void test_dpop(apr_pool_t *p)
{
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now());
    const char *ath = apr_pstrcat(p, ",\"ath\":\"",
                                  ac_dpop_token_hash(p, "tok", 3), "\"",
                                  NULL);
    const char *good = proof_of(p, p256, AC_JOSE_ALG_ES256, "dpop+jwt", NULL,
                                "GET", "https://API.example:443/x", now, ath);
    const char *jkt;
    ac_dpop_proof *pr = NULL;
    unsigned char secret[32] = { 1, 2, 3 };
    const char *nonce;
    json_t *rfc;

    /* RFC 7638 section 3.1's example key and thumbprint */
    rfc = J("{\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2"
            "aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCi"
            "FV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65Y"
            "GjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n"
            "91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_x"
            "BniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw\",\"e\":\"AQAB\","
            "\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}");
    ok(strcmp(ac_dpop_jwk_thumbprint(p, rfc),
              "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs") == 0,
       "the JWK thumbprint of RFC 7638's example");
    json_decref(rfc);
    proof_keys = ac_dpop_keys_make(p, 1);
    {
        /* a key from the cache is the one parsed first; another key in
         * the one slot replaces it while the first proof still holds it */
        apr_pool_t *a, *b;
        ac_dpop_proof *pa, *pb, *pc;

        apr_pool_create(&a, p);
        apr_pool_create(&b, p);
        dpop_parse(a, good, &pa);
        dpop_parse(b, good, &pb);
        dpop_parse(b, proof_of(p, p384, AC_JOSE_ALG_ES384, "dpop+jwt", NULL,
                               "GET", "https://api.example/x", now, ath),
                   &pc);
        ok(pa && pb && pc && pa->key == pb->key && pc->key != pa->key
           && ac_jose_verify(pa->key, AC_JOSE_ALG_ES256, "x", 1,
                             (const unsigned char *)"y", 1)
              == AC_JOSE_ERR_BAD_SIGNATURE_FORMAT,
           "proof keys come from the cache; a replaced one stays usable "
           "while a proof holds it");
        apr_pool_destroy(a);
        apr_pool_destroy(b);
    }

    ok(dpop_parse(p, good, &pr) == AC_DPOP_OK && pr->iat == now
       && strcmp(pr->htm, "GET") == 0,
       "an ES256 proof parses, its signature verified by its own jwk");
    jkt = pr ? pr->jkt : "";
    rfc = jwk_of(p, p256, NULL);
    ok(strlen(jkt) == AC_DPOP_JKT_LEN
       && strcmp(jkt, ac_dpop_jwk_thumbprint(p, rfc)) == 0,
       "its thumbprint is the one of its key");
    json_decref(rfc);
    ok(dpop_verdict(p, good, now, jkt) == AC_DPOP_OK,
       "it matches GET https://api.example/x (query ignored, host case and "
       "default port normalised), its token and its binding");
    ok(dpop_verdict(p, proof_of(p, ed25519, AC_JOSE_ALG_EDDSA, "dpop+jwt",
                                NULL, "GET", "https://api.example/x", now,
                                ath), now, NULL) == AC_DPOP_OK
       && dpop_verdict(p, proof_of(p, rsa2048, AC_JOSE_ALG_PS256,
                                   "application/dpop+jwt", NULL, "GET",
                                   "https://api.example/x", now, ath),
                       now, NULL) == AC_DPOP_OK,
       "EdDSA and PS256 proofs too, typ application/dpop+jwt too");
    rfc = jwk_of(p, p384, NULL);
    ok(dpop_verdict(p, good, now, ac_dpop_jwk_thumbprint(p, rfc))
       == AC_DPOP_ERR_BINDING, "a token bound to another key is refused");
    json_decref(rfc);
    ok(dpop_verdict(p, proof_of(p, p256, AC_JOSE_ALG_ES256, "dpop+jwt", NULL,
                                "POST", "https://api.example/x", now, ath),
                    now, NULL) == AC_DPOP_ERR_HTM,
       "a proof for another method is refused");
    ok(dpop_verdict(p, proof_of(p, p256, AC_JOSE_ALG_ES256, "dpop+jwt", NULL,
                                "GET", "https://api.example/y", now, ath),
                    now, NULL) == AC_DPOP_ERR_HTU
       && dpop_verdict(p, proof_of(p, p256, AC_JOSE_ALG_ES256, "dpop+jwt",
                                   NULL, "GET", "http://api.example/x", now,
                                   ath), now, NULL) == AC_DPOP_ERR_HTU,
       "a proof for another path or scheme is refused");
    ok(dpop_verdict(p, good, now + 66, NULL) == AC_DPOP_ERR_IAT
       && dpop_verdict(p, good, now - 6, NULL) == AC_DPOP_ERR_IAT
       && dpop_verdict(p, good, now + 64, NULL) == AC_DPOP_OK,
       "a proof older than max_age + leeway, or from the future, is refused");
    ok(dpop_verdict(p, proof_of(p, p256, AC_JOSE_ALG_ES256, "dpop+jwt", NULL,
                                "GET", "https://api.example/x", now, ""),
                    now, NULL) == AC_DPOP_ERR_ATH
       && dpop_verdict(p, proof_of(p, p256, AC_JOSE_ALG_ES256, "dpop+jwt",
                                   NULL, "GET", "https://api.example/x", now,
                                   ",\"ath\":\"AAAA\""), now, NULL)
          == AC_DPOP_ERR_ATH,
       "a proof without ath, or for another token, is refused");
    ok(dpop_parse(p, proof_of(p, p256, AC_JOSE_ALG_ES256, "jwt", NULL, "GET",
                              "https://api.example/x", now, ath), &pr)
       == AC_DPOP_ERR_TYP, "typ other than dpop+jwt is refused");
    ok(dpop_parse(p, proof_of(p, p256, AC_JOSE_ALG_ES256, "dpop+jwt",
                              "\"d\":\"AAAA\"", "GET",
                              "https://api.example/x", now, ath), &pr)
       == AC_DPOP_ERR_PRIVATE_KEY, "a jwk with a private member is refused");
    ok(dpop_parse(p, sign_token(p, "{\"alg\":\"HS256\",\"typ\":\"dpop+jwt\","
                                "\"jwk\":{\"kty\":\"oct\",\"k\":\"AAAA\"}}",
                                "{\"jti\":\"1\",\"htm\":\"GET\",\"htu\":\"x\","
                                "\"iat\":1}", AC_JOSE_ALG_HS256,
                                &(signer){ NULL, hs_secret, 64, 0 }), &pr)
       == AC_DPOP_ERR_ALG, "an HMAC proof is refused (asymmetric only)");
    ok(dpop_parse(p, "eyJhbGciOiJub25lIiwidHlwIjoiZHBvcCtqd3QifQ.e30.", &pr)
       == AC_DPOP_ERR_ALG, "alg none is refused");
    {
        /* signed by one key, with another key in the header */
        signer s = { p384, NULL, 0, 0 };
        const char *hdr = apr_psprintf(
            p, "{\"alg\":\"ES256\",\"typ\":\"dpop+jwt\",\"jwk\":%s}",
            dump(p, jwk_of(p, p256, NULL)));
        const char *forged = sign_token(p, hdr, "{\"jti\":\"1\",\"htm\":"
                                        "\"GET\",\"htu\":\"x\",\"iat\":1}",
                                        AC_JOSE_ALG_ES256, &s);

        ok(dpop_parse(p, forged, &pr) == AC_DPOP_ERR_SIGNATURE,
           "a proof not signed by its own jwk is refused");
    }
    {
        /* a header met before (the cache holds what its checks found) is
         * not read again; the rest of the proof is, and the alg is
         * checked against this caller's allow-list */
        const char *hdr = apr_pstrndup(p, good, strcspn(good, "."));
        const char *sig = strrchr(good, '.');
        ac_jose_status why = AC_JOSE_OK, why2 = AC_JOSE_OK;
        ac_dpop_proof *again = NULL;

        ok(dpop_parse(p, good, &again) == AC_DPOP_OK
           && ac_dpop_parse(p, good, strlen(good),
                            AC_JOSE_ALG_RS256 | AC_JOSE_ALG_ES384,
                            proof_keys, &again, &why) == AC_DPOP_ERR_ALG
           && ac_dpop_parse(p, apr_pstrcat(p, hdr, ".!!", sig, NULL),
                            strlen(hdr) + 3 + strlen(sig), AC_JOSE_ALGS_ALL,
                            proof_keys, &again, &why) == AC_DPOP_ERR_JWS
           && why == AC_JOSE_ERR_BAD_B64URL
           && ac_dpop_parse(p, apr_pstrcat(p, hdr, ".e30.e30.e30.e30", NULL),
                            strlen(hdr) + 16, AC_JOSE_ALGS_ALL, proof_keys,
                            &again, &why2) == AC_DPOP_ERR_JWS
           && why2 == AC_JOSE_ERR_JWE
           && dpop_parse(p, apr_pstrcat(p, apr_pstrndup(p, good,
                                                        (apr_size_t)(sig
                                                                     - good)),
                                        ".AAAA", NULL), &again)
              == AC_DPOP_ERR_SIGNATURE,
           "a proof with a header met before: its alg against the "
           "allow-list, its payload, parts and signature are checked as "
           "ever");
    }
    ok(dpop_parse(p, sign_token(p, apr_psprintf(p, "{\"alg\":\"ES256\","
                                "\"typ\":\"dpop+jwt\",\"jwk\":%s}",
                                dump(p, jwk_of(p, p256, NULL))),
                                "{\"htm\":\"GET\",\"htu\":\"x\",\"iat\":1}",
                                AC_JOSE_ALG_ES256,
                                &(signer){ p256, NULL, 0, 0 }), &pr)
       == AC_DPOP_ERR_CLAIMS, "a proof without jti is refused");

    ok(url_is(p, "HTTPS://Api.Example:443", "https://api.example/")
       && url_is(p, "http://a.example:80/b", "http://a.example/b")
       && url_is(p, "http://a.example:8080/b", "http://a.example:8080/b"),
       "URLs: scheme and host lowercased, default ports dropped, / for no "
       "path");
    ok(url_is(p, "https://a.example/%7euser/%2f%41?x#y",
              "https://a.example/~user/%2FA")
       && url_is(p, "https://a.example/a/./b/../c", "https://a.example/a/c"),
       "URLs: percent-encodings normalised, dot segments removed, query and "
       "fragment dropped");
    ok(url_is(p, "https://u:pw@a.example/", NULL)
       && url_is(p, "ftp://a.example/", NULL)
       && url_is(p, "https://a.example/%zz", NULL)
       && url_is(p, "https:///x", NULL)
       && url_is(p, "https://a.example:99999/", NULL)
       && url_is(p, "https://a.example/a b", NULL),
       "URLs: user information, other schemes, bad escapes, no host, bad "
       "ports and spaces are refused");

    nonce = ac_dpop_nonce_make(p, secret, sizeof(secret), 1000);
    ok(nonce != NULL && ac_dpop_nonce_valid(nonce, secret, sizeof(secret),
                                            1000)
       && ac_dpop_nonce_valid(nonce, secret, sizeof(secret), 1001),
       "a nonce is valid in its time slot and the next");
    ok(!ac_dpop_nonce_valid(nonce, secret, sizeof(secret), 1002)
       && !ac_dpop_nonce_valid(nonce, secret, sizeof(secret), 999),
       "and not later, nor before it was made");
    secret[0] = 9;
    ok(!ac_dpop_nonce_valid(nonce, secret, sizeof(secret), 1000)
       && !ac_dpop_nonce_valid("short", secret, sizeof(secret), 1000)
       && !ac_dpop_nonce_valid(NULL, secret, sizeof(secret), 1000),
       "a nonce of another secret, or malformed, is not");
}

int main(void)
{
    apr_pool_t *p;

    apr_initialize();
    apr_pool_create(&p, NULL);

    rsa2048 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
    ed25519 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!rsa2048 || !rsa1024 || !p256 || !p384 || !p521 || !ed25519
        || RAND_bytes(hs_secret, sizeof(hs_secret)) != 1) {
        printf("Bail out! OpenSSL cannot generate the test keys\n");
        return 1;
    }

    tap_plan(N_B64URL + N_NAMES + N_JWK + N_JWKS + N_ALGS + N_NEGATIVE
             + N_SELECTION + N_TYP + N_CLAIMS + N_LIFETIME + N_DPOP);
    test_b64url(p);
    test_names(p);
    test_jwk(p);
    test_jwks(p);
    test_algorithms(p);
    test_negative(p);
    test_selection(p);
    test_typ(p);
    test_claims(p);
    test_lifetime(p);
    test_dpop(p);

    EVP_PKEY_free(rsa2048);
    EVP_PKEY_free(rsa1024);
    EVP_PKEY_free(p256);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(p521);
    EVP_PKEY_free(ed25519);
    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
