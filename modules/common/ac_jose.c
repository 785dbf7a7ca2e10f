/* Licensed under the Apache License, Version 2.0.
 *
 * ac_jose.c -- JWK, JWK Set and JWS parsing, signature verification and
 * the JWT claim checks (see ac_jose.h).  OpenSSL 3 only: keys are built
 * with OSSL_PARAM_BLD and EVP_PKEY_fromdata, signatures checked with
 * EVP_DigestVerify, HMACs computed with EVP_Q_mac; nothing deprecated.
 *
 * Every public function that calls OpenSSL brackets the call with
 * ERR_set_mark() / ERR_pop_to_mark(): a refused token must not leave errors
 * on the thread's OpenSSL error queue for mod_ssl to find later.
 */

#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "apr_lib.h"
#include "apr_strings.h"
#include "apr_tables.h"

#include "ac_common.h"
#include "ac_jose.h"
#include "ac_key.h"

/* --- algorithms ---------------------------------------------------------- */

typedef enum {
    KIND_HMAC,
    KIND_RSA_PKCS1,
    KIND_RSA_PSS,
    KIND_ECDSA,
    KIND_EDDSA
} alg_kind;

typedef struct {
    ac_jose_alg alg;
    const char *name;
    alg_kind kind;
    const char *md;         /* OpenSSL digest name; NULL for EdDSA */
    apr_size_t size;        /* HMAC: MAC and minimum key size; ECDSA: R */
} alg_info;

static const alg_info algs[] = {
    { AC_JOSE_ALG_HS256, "HS256", KIND_HMAC, "SHA256", 32 },
    { AC_JOSE_ALG_HS384, "HS384", KIND_HMAC, "SHA384", 48 },
    { AC_JOSE_ALG_HS512, "HS512", KIND_HMAC, "SHA512", 64 },
    { AC_JOSE_ALG_RS256, "RS256", KIND_RSA_PKCS1, "SHA256", 0 },
    { AC_JOSE_ALG_RS384, "RS384", KIND_RSA_PKCS1, "SHA384", 0 },
    { AC_JOSE_ALG_RS512, "RS512", KIND_RSA_PKCS1, "SHA512", 0 },
    { AC_JOSE_ALG_PS256, "PS256", KIND_RSA_PSS, "SHA256", 0 },
    { AC_JOSE_ALG_PS384, "PS384", KIND_RSA_PSS, "SHA384", 0 },
    { AC_JOSE_ALG_PS512, "PS512", KIND_RSA_PSS, "SHA512", 0 },
    { AC_JOSE_ALG_ES256, "ES256", KIND_ECDSA, "SHA256", 32 },
    { AC_JOSE_ALG_ES384, "ES384", KIND_ECDSA, "SHA384", 48 },
    { AC_JOSE_ALG_ES512, "ES512", KIND_ECDSA, "SHA512", 66 },
    { AC_JOSE_ALG_EDDSA, "EdDSA", KIND_EDDSA, NULL, 64 }
};
#define NALGS (sizeof(algs) / sizeof(algs[0]))

static const alg_info *alg_lookup(ac_jose_alg alg)
{
    apr_size_t i;

    for (i = 0; i < NALGS; i++) {
        if (algs[i].alg == alg) {
            return &algs[i];
        }
    }
    return NULL;
}

const char *ac_jose_alg_name(ac_jose_alg alg)
{
    const alg_info *a = alg_lookup(alg);

    return a ? a->name : NULL;
}

ac_jose_alg ac_jose_alg_from_name(const char *name)
{
    apr_size_t i;

    if (name == NULL) {
        return 0;
    }
    for (i = 0; i < NALGS; i++) {
        if (strcmp(algs[i].name, name) == 0) {
            return algs[i].alg;
        }
    }
    return 0;
}

/* The curves of kty EC: JWK name, OpenSSL group name, coordinate size in
 * bytes (RFC 7518 section 6.2.1.2: x and y are always this long), and the
 * one algorithm each may verify (RFC 7518 section 3.4). */
typedef struct {
    const char *crv;
    const char *group;
    apr_size_t size;
    int bits;
    ac_jose_alg alg;
} curve_info;

static const curve_info curves[] = {
    { "P-256", "prime256v1", 32, 256, AC_JOSE_ALG_ES256 },
    { "P-384", "secp384r1", 48, 384, AC_JOSE_ALG_ES384 },
    { "P-521", "secp521r1", 66, 521, AC_JOSE_ALG_ES512 }
};
#define NCURVES (sizeof(curves) / sizeof(curves[0]))

#define ED25519_SIZE 32

const char *ac_jose_strerror(ac_jose_status status)
{
    switch (status) {
    case AC_JOSE_OK:
        return "ok";
    case AC_JOSE_ERR_TOO_LARGE:
        return "token too large";
    case AC_JOSE_ERR_MALFORMED:
        return "malformed token";
    case AC_JOSE_ERR_JWE:
        return "nested/encrypted JWT not supported";
    case AC_JOSE_ERR_BAD_B64URL:
        return "invalid base64url encoding";
    case AC_JOSE_ERR_HEADER_NOT_JSON:
        return "token header is not JSON";
    case AC_JOSE_ERR_HEADER_NOT_OBJECT:
        return "token header is not a JSON object";
    case AC_JOSE_ERR_BAD_HEADER:
        return "invalid token header parameter";
    case AC_JOSE_ERR_ALG_MISSING:
        return "token header has no alg";
    case AC_JOSE_ERR_ALG_NONE:
        return "unsigned token (alg none) not accepted";
    case AC_JOSE_ERR_ALG_UNSUPPORTED:
        return "unsupported algorithm";
    case AC_JOSE_ERR_ALG_NOT_ALLOWED:
        return "algorithm not allowed";
    case AC_JOSE_ERR_CRIT:
        return "critical header extension not supported";
    case AC_JOSE_ERR_PAYLOAD_NOT_JSON:
        return "token payload is not JSON";
    case AC_JOSE_ERR_PAYLOAD_NOT_OBJECT:
        return "token payload is not a JSON object";
    case AC_JOSE_ERR_BAD_TYP:
        return "token type is not at+jwt";
    case AC_JOSE_ERR_UNKNOWN_KID:
        return "unknown key id";
    case AC_JOSE_ERR_NO_KEY:
        return "no suitable key";
    case AC_JOSE_ERR_KEY_MISMATCH:
        return "key type does not match the algorithm";
    case AC_JOSE_ERR_BAD_SIGNATURE_FORMAT:
        return "malformed signature";
    case AC_JOSE_ERR_BAD_SIGNATURE:
        return "bad signature";
    case AC_JOSE_ERR_CLAIM_MISSING:
        return "required claim missing";
    case AC_JOSE_ERR_CLAIM_TYPE:
        return "claim of the wrong type";
    case AC_JOSE_ERR_CLAIM_INVALID:
        return "invalid claim value";
    case AC_JOSE_ERR_EXPIRED:
        return "token expired";
    case AC_JOSE_ERR_NOT_YET_VALID:
        return "token not yet valid";
    case AC_JOSE_ERR_ISSUED_IN_FUTURE:
        return "token issued in the future";
    case AC_JOSE_ERR_WRONG_ISSUER:
        return "wrong issuer";
    case AC_JOSE_ERR_WRONG_AUDIENCE:
        return "wrong audience";
    case AC_JOSE_ERR_JWK_NOT_OBJECT:
        return "key is not a JSON object";
    case AC_JOSE_ERR_JWK_KTY:
        return "unsupported key type";
    case AC_JOSE_ERR_JWK_PARAM:
        return "missing or invalid key parameter";
    case AC_JOSE_ERR_JWK_USE:
        return "key not for signatures";
    case AC_JOSE_ERR_JWK_KEY_OPS:
        return "key not for verification";
    case AC_JOSE_ERR_JWK_ALG:
        return "key algorithm unsupported or not for this key";
    case AC_JOSE_ERR_JWK_CURVE:
        return "unsupported curve";
    case AC_JOSE_ERR_JWK_RSA_SIZE:
        return "RSA key size out of range";
    case AC_JOSE_ERR_JWK_NOT_ON_CURVE:
        return "EC point not on the curve";
    case AC_JOSE_ERR_JWK_BAD_KEY:
        return "invalid public key";
    case AC_JOSE_ERR_JWK_OCT_SHORT:
        return "HMAC key too short";
    case AC_JOSE_ERR_JWKS_TOO_LARGE:
        return "key set too large";
    case AC_JOSE_ERR_JWKS_NOT_JSON:
        return "key set is not JSON";
    case AC_JOSE_ERR_JWKS_NO_KEYS:
        return "key set has no keys array";
    case AC_JOSE_ERR_JWKS_TOO_MANY_KEYS:
        return "key set has too many keys";
    case AC_JOSE_ERR_JWKS_EMPTY:
        return "key set has no usable key";
    case AC_JOSE_ERR_PEM:
        return "not a PEM public key";
    case AC_JOSE_ERR_INTERNAL:
        return "internal error";
    }
    return "unknown error";
}

/* --- keys ---------------------------------------------------------------- */

struct ac_jose_key {
    ac_jose_kty kty;
    const char *kid;
    const char *crv;            /* EC and OKP: the JWK curve name */
    unsigned int algs;          /* what it may verify */
    int bits;                   /* RSA modulus, EC field, oct secret */
    EVP_PKEY *pkey;             /* RSA, EC, OKP */
    /* RSA and EC: per algorithm of algs[] the key may verify, a context
     * set up once for EVP_PKEY_verify() (padding, digest), duplicated for
     * each verification: setting one up costs more than RSA's
     * verification itself.  Never modified after the key is made, so
     * threads share them (EVP_PKEY_CTX_dup() only reads its source). */
    EVP_PKEY_CTX *verify[NALGS];
    unsigned char *secret;      /* oct */
    apr_size_t secret_len;
};

static apr_status_t pkey_cleanup(void *data)
{
    EVP_PKEY_free(data);
    return APR_SUCCESS;
}

static apr_status_t secret_cleanup(void *data)
{
    ac_jose_key *key = data;

    OPENSSL_cleanse(key->secret, key->secret_len);
    return APR_SUCCESS;
}

static apr_status_t json_cleanup(void *data)
{
    json_decref(data);
    return APR_SUCCESS;
}

/* The algorithms of an oct key of `len` bytes: each HS whose hash is no
 * longer than the key (RFC 7518 section 3.2). */
static unsigned int oct_algs(apr_size_t len)
{
    unsigned int mask = 0;
    apr_size_t i;

    for (i = 0; i < NALGS; i++) {
        if (algs[i].kind == KIND_HMAC && len >= algs[i].size) {
            mask |= algs[i].alg;
        }
    }
    return mask;
}

/* Narrow `mask` to the pinned algorithm `pin` (0: no pin).  A pin outside
 * the mask makes the key unusable: AC_JOSE_ERR_JWK_ALG. */
static ac_jose_status apply_pin(unsigned int *mask, ac_jose_alg pin)
{
    if (pin == 0) {
        return AC_JOSE_OK;
    }
    if (!(*mask & pin)) {
        return AC_JOSE_ERR_JWK_ALG;
    }
    *mask = pin;
    return AC_JOSE_OK;
}

static ac_jose_key *key_new(apr_pool_t *p, ac_jose_kty kty, const char *kid,
                            unsigned int mask, int bits)
{
    ac_jose_key *key = apr_pcalloc(p, sizeof(*key));

    key->kty = kty;
    key->kid = kid ? apr_pstrdup(p, kid) : NULL;
    key->algs = mask;
    key->bits = bits;
    return key;
}

static ac_jose_status oct_key(apr_pool_t *p, const void *secret,
                              apr_size_t len, const char *kid,
                              ac_jose_alg pin, ac_jose_key **out)
{
    unsigned int mask = oct_algs(len);
    ac_jose_key *key;

    if (pin != 0 && !(pin & AC_JOSE_ALGS_HMAC)) {
        return AC_JOSE_ERR_JWK_ALG;
    }
    if (mask == 0 || (pin != 0 && !(mask & pin))) {
        return AC_JOSE_ERR_JWK_OCT_SHORT;
    }
    if (pin != 0) {
        mask = pin;
    }
    key = key_new(p, AC_JOSE_KTY_OCT, kid, mask, (int)(len * 8));
    key->secret = apr_pmemdup(p, secret, len);
    key->secret_len = len;
    apr_pool_cleanup_register(p, key, secret_cleanup, apr_pool_cleanup_null);
    *out = key;
    return AC_JOSE_OK;
}

/* OpenSSL's own check of a public key: for RSA an odd modulus and an odd
 * exponent greater than 1 (OpenSSL 3.0 outside FIPS mode takes e = 3), for
 * EC that the point is on the curve. */
static int pkey_public_check(EVP_PKEY *pkey)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    int ok = ctx != NULL && EVP_PKEY_public_check_quick(ctx) == 1;

    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static apr_status_t verify_cleanup(void *data)
{
    ac_jose_key *key = data;
    apr_size_t i;

    for (i = 0; i < NALGS; i++) {
        EVP_PKEY_CTX_free(key->verify[i]);
        key->verify[i] = NULL;
    }
    return APR_SUCCESS;
}

/* The verification context of `a` for `pkey`, or NULL. */
static EVP_PKEY_CTX *verify_template(EVP_PKEY *pkey, const alg_info *a)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    const EVP_MD *md = ac_digest(a->md);
    int ok = ctx != NULL && md != NULL && EVP_PKEY_verify_init(ctx) == 1;

    if (ok && a->kind == KIND_RSA_PKCS1) {
        ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1;
    }
    else if (ok && a->kind == KIND_RSA_PSS) {
        /* RFC 7518 section 3.5: MGF1 with the same hash, salt as long as
         * the hash. */
        ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) == 1
             && EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx,
                                                 RSA_PSS_SALTLEN_DIGEST) == 1
             && EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) == 1;
    }
    if (ok) {
        ok = EVP_PKEY_CTX_set_signature_md(ctx, md) == 1;
    }
    if (!ok) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Wrap `pkey` (whose ownership passes to this function) as a key: the
 * public check, the verification contexts, then pool cleanups to free
 * them. */
static ac_jose_status pkey_key(apr_pool_t *p, EVP_PKEY *pkey, ac_jose_kty kty,
                               const char *crv, int bits, unsigned int mask,
                               const char *kid, ac_jose_key **out)
{
    ac_jose_key *key;
    apr_size_t i;

    if (!pkey_public_check(pkey)) {
        EVP_PKEY_free(pkey);
        return kty == AC_JOSE_KTY_EC ? AC_JOSE_ERR_JWK_NOT_ON_CURVE
                                     : AC_JOSE_ERR_JWK_BAD_KEY;
    }
    key = key_new(p, kty, kid, mask, bits);
    key->crv = crv;
    key->pkey = pkey;
    apr_pool_cleanup_register(p, pkey, pkey_cleanup, apr_pool_cleanup_null);
    apr_pool_cleanup_register(p, key, verify_cleanup, apr_pool_cleanup_null);
    for (i = 0; i < NALGS; i++) {
        if ((mask & algs[i].alg) && algs[i].kind != KIND_EDDSA
            && (key->verify[i] = verify_template(pkey, &algs[i])) == NULL) {
            return AC_JOSE_ERR_INTERNAL;
        }
    }
    *out = key;
    return AC_JOSE_OK;
}

/* A public key of OpenSSL type `type` from `params`, or NULL. */
static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY_CTX *ctx;
    OSSL_PARAM *params;
    EVP_PKEY *pkey = NULL;

    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        pkey = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

/* A member of a JSON object (a JWK, a JWS header) that, when present,
 * must be a string: 0 and *out (NULL when absent), or -1. */
static int member_string(const json_t *obj, const char *name,
                         const char **out)
{
    json_t *v = json_object_get(obj, name);

    *out = NULL;
    if (v == NULL) {
        return 0;
    }
    if (!json_is_string(v)) {
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* A required base64url member of a JWK, decoded. */
static ac_jose_status jwk_bytes(apr_pool_t *p, const json_t *jwk,
                                const char *name, const unsigned char **out,
                                apr_size_t *len)
{
    json_t *v = json_object_get(jwk, name);
    char *buf;

    if (!json_is_string(v)
        || ac_b64url_decode(p, json_string_value(v), json_string_length(v),
                            &buf, len) != 0
        || *len == 0) {
        return AC_JOSE_ERR_JWK_PARAM;
    }
    *out = (const unsigned char *)buf;
    return AC_JOSE_OK;
}

static ac_jose_status rsa_from_jwk(apr_pool_t *p, const json_t *jwk,
                                   const char *kid, ac_jose_alg pin,
                                   ac_jose_key **out)
{
    const unsigned char *n, *e;
    apr_size_t nlen, elen;
    unsigned int mask = AC_JOSE_ALGS_RSA;
    BIGNUM *bn = NULL, *be = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    EVP_PKEY *pkey = NULL;
    ac_jose_status rc;
    int bits = 0;

    if ((rc = apply_pin(&mask, pin)) != AC_JOSE_OK
        || (rc = jwk_bytes(p, jwk, "n", &n, &nlen)) != AC_JOSE_OK
        || (rc = jwk_bytes(p, jwk, "e", &e, &elen)) != AC_JOSE_OK) {
        return rc;
    }
    /* Bound the work before handing numbers to OpenSSL: one leading zero
     * byte is tolerated in n, and e has at most 256 bits (SP 800-56B). */
    if (nlen > AC_JOSE_RSA_MAX_BITS / 8 + 1) {
        return AC_JOSE_ERR_JWK_RSA_SIZE;
    }
    if (elen > 32) {
        return AC_JOSE_ERR_JWK_BAD_KEY;
    }
    bn = BN_bin2bn(n, (int)nlen, NULL);
    be = BN_bin2bn(e, (int)elen, NULL);
    if (bn == NULL || be == NULL) {
        rc = AC_JOSE_ERR_INTERNAL;
        goto done;
    }
    bits = BN_num_bits(bn);
    if (bits < AC_JOSE_RSA_MIN_BITS || bits > AC_JOSE_RSA_MAX_BITS) {
        rc = AC_JOSE_ERR_JWK_RSA_SIZE;
        goto done;
    }
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn)
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be)) {
        rc = AC_JOSE_ERR_INTERNAL;
        goto done;
    }
    pkey = pkey_fromdata("RSA", bld);
    rc = pkey ? AC_JOSE_OK : AC_JOSE_ERR_JWK_BAD_KEY;
done:
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    if (rc != AC_JOSE_OK) {
        return rc;
    }
    return pkey_key(p, pkey, AC_JOSE_KTY_RSA, NULL, bits, mask, kid, out);
}

static ac_jose_status ec_from_jwk(apr_pool_t *p, const json_t *jwk,
                                  const char *kid, ac_jose_alg pin,
                                  ac_jose_key **out)
{
    const curve_info *c = NULL;
    const unsigned char *x, *y;
    apr_size_t xlen, ylen, i;
    unsigned char point[1 + 2 * 66];
    unsigned int mask;
    OSSL_PARAM_BLD *bld;
    EVP_PKEY *pkey = NULL;
    const char *crv;
    ac_jose_status rc;

    if (member_string(jwk, "crv", &crv) != 0 || crv == NULL) {
        return AC_JOSE_ERR_JWK_PARAM;
    }
    for (i = 0; i < NCURVES; i++) {
        if (strcmp(curves[i].crv, crv) == 0) {
            c = &curves[i];
        }
    }
    if (c == NULL) {
        return AC_JOSE_ERR_JWK_CURVE;
    }
    mask = c->alg;
    if ((rc = apply_pin(&mask, pin)) != AC_JOSE_OK
        || (rc = jwk_bytes(p, jwk, "x", &x, &xlen)) != AC_JOSE_OK
        || (rc = jwk_bytes(p, jwk, "y", &y, &ylen)) != AC_JOSE_OK) {
        return rc;
    }
    if (xlen != c->size || ylen != c->size) {
        return AC_JOSE_ERR_JWK_PARAM;
    }
    /* The uncompressed point (SEC 1 section 2.3.3). */
    point[0] = 0x04;
    memcpy(point + 1, x, c->size);
    memcpy(point + 1 + c->size, y, c->size);
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL
        || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                            c->group, 0)
        || !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                             point, 1 + 2 * c->size)) {
        OSSL_PARAM_BLD_free(bld);
        return AC_JOSE_ERR_INTERNAL;
    }
    pkey = pkey_fromdata("EC", bld);
    OSSL_PARAM_BLD_free(bld);
    if (pkey == NULL) {
        /* OpenSSL already refuses a point that is not on the curve here. */
        return AC_JOSE_ERR_JWK_NOT_ON_CURVE;
    }
    return pkey_key(p, pkey, AC_JOSE_KTY_EC, c->crv, c->bits, mask, kid, out);
}

static ac_jose_status okp_from_jwk(apr_pool_t *p, const json_t *jwk,
                                   const char *kid, ac_jose_alg pin,
                                   ac_jose_key **out)
{
    const unsigned char *x;
    apr_size_t xlen;
    unsigned int mask = AC_JOSE_ALG_EDDSA;
    OSSL_PARAM_BLD *bld;
    EVP_PKEY *pkey;
    const char *crv;
    ac_jose_status rc;

    if (member_string(jwk, "crv", &crv) != 0 || crv == NULL) {
        return AC_JOSE_ERR_JWK_PARAM;
    }
    /* Ed448 would be EdDSA too (RFC 8037), but we do not take it. */
    if (strcmp(crv, "Ed25519") != 0) {
        return AC_JOSE_ERR_JWK_CURVE;
    }
    if ((rc = apply_pin(&mask, pin)) != AC_JOSE_OK
        || (rc = jwk_bytes(p, jwk, "x", &x, &xlen)) != AC_JOSE_OK) {
        return rc;
    }
    if (xlen != ED25519_SIZE) {
        return AC_JOSE_ERR_JWK_PARAM;
    }
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL
        || !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                             x, xlen)) {
        OSSL_PARAM_BLD_free(bld);
        return AC_JOSE_ERR_INTERNAL;
    }
    pkey = pkey_fromdata("ED25519", bld);
    OSSL_PARAM_BLD_free(bld);
    if (pkey == NULL) {
        return AC_JOSE_ERR_JWK_BAD_KEY;
    }
    return pkey_key(p, pkey, AC_JOSE_KTY_OKP, "Ed25519", 256, mask, kid,
                    out);
}

static ac_jose_status jwk_parse(apr_pool_t *p, const json_t *jwk,
                                ac_jose_key **key)
{
    const char *kty, *kid, *use, *alg;
    const unsigned char *k;
    apr_size_t klen;
    ac_jose_alg pin = 0;
    json_t *ops;
    ac_jose_status rc;

    if (!json_is_object(jwk)) {
        return AC_JOSE_ERR_JWK_NOT_OBJECT;
    }
    if (member_string(jwk, "kty", &kty) != 0 || kty == NULL) {
        return AC_JOSE_ERR_JWK_KTY;
    }
    if (member_string(jwk, "kid", &kid) != 0
        || member_string(jwk, "use", &use) != 0
        || member_string(jwk, "alg", &alg) != 0) {
        return AC_JOSE_ERR_JWK_PARAM;
    }
    /* RFC 7517 section 4.2: "sig" or "enc"; other values exist, none of
     * them means "verify signatures with me". */
    if (use != NULL && strcmp(use, "sig") != 0) {
        return AC_JOSE_ERR_JWK_USE;
    }
    ops = json_object_get(jwk, "key_ops");
    if (ops != NULL) {
        apr_size_t i;
        int verify = 0;

        if (!json_is_array(ops)) {
            return AC_JOSE_ERR_JWK_PARAM;
        }
        for (i = 0; i < json_array_size(ops); i++) {
            json_t *op = json_array_get(ops, i);

            if (!json_is_string(op)) {
                return AC_JOSE_ERR_JWK_PARAM;
            }
            if (strcmp(json_string_value(op), "verify") == 0) {
                verify = 1;
            }
        }
        if (!verify) {
            return AC_JOSE_ERR_JWK_KEY_OPS;
        }
    }
    if (alg != NULL && (pin = ac_jose_alg_from_name(alg)) == 0) {
        return AC_JOSE_ERR_JWK_ALG;
    }
    /* kty values are case-sensitive (RFC 7517 section 4.1). */
    if (strcmp(kty, "RSA") == 0) {
        return rsa_from_jwk(p, jwk, kid, pin, key);
    }
    if (strcmp(kty, "EC") == 0) {
        return ec_from_jwk(p, jwk, kid, pin, key);
    }
    if (strcmp(kty, "OKP") == 0) {
        return okp_from_jwk(p, jwk, kid, pin, key);
    }
    if (strcmp(kty, "oct") == 0) {
        if (pin != 0 && !(pin & AC_JOSE_ALGS_HMAC)) {
            return AC_JOSE_ERR_JWK_ALG;
        }
        if ((rc = jwk_bytes(p, jwk, "k", &k, &klen)) != AC_JOSE_OK) {
            return rc;
        }
        rc = oct_key(p, k, klen, kid, pin, key);
        /* jwk_bytes left a decoded copy of the secret in the pool. */
        OPENSSL_cleanse((void *)k, klen);
        return rc;
    }
    return AC_JOSE_ERR_JWK_KTY;
}

ac_jose_status ac_jose_jwk_parse(apr_pool_t *p, const json_t *jwk,
                                 ac_jose_key **key)
{
    ac_jose_status rc;

    ERR_set_mark();
    rc = jwk_parse(p, jwk, key);
    ERR_pop_to_mark();
    return rc;
}

ac_jose_status ac_jose_jwk_parse_text(apr_pool_t *p, const char *text,
                                      apr_size_t len, ac_jose_key **key)
{
    json_t *jwk;
    ac_jose_status rc;

    if (text == NULL) {
        return AC_JOSE_ERR_JWK_NOT_OBJECT;
    }
    if (len > AC_JOSE_MAX_JWKS) {
        return AC_JOSE_ERR_TOO_LARGE;
    }
    jwk = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (jwk == NULL) {
        return AC_JOSE_ERR_JWK_NOT_OBJECT;
    }
    rc = ac_jose_jwk_parse(p, jwk, key);
    json_decref(jwk);
    return rc;
}

ac_jose_status ac_jose_key_from_secret(apr_pool_t *p, const void *secret,
                                       apr_size_t len, const char *kid,
                                       ac_jose_alg alg, ac_jose_key **key)
{
    if (secret == NULL) {
        return AC_JOSE_ERR_JWK_OCT_SHORT;
    }
    return oct_key(p, secret, len, kid, alg, key);
}

static ac_jose_status key_from_pem(apr_pool_t *p, const char *pem,
                                   apr_size_t len, const char *kid,
                                   ac_jose_alg pin, ac_jose_key **key)
{
    BIO *bio;
    EVP_PKEY *pkey;
    unsigned int mask;
    ac_jose_status rc;

    if (pem == NULL || len > AC_JOSE_MAX_JWKS) {
        return AC_JOSE_ERR_PEM;
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        return AC_JOSE_ERR_INTERNAL;
    }
    pkey = PEM_read_bio_PUBKEY_ex(bio, NULL, NULL, NULL, NULL, NULL);
    BIO_free(bio);
    if (pkey == NULL) {
        return AC_JOSE_ERR_PEM;
    }
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        int bits = EVP_PKEY_get_bits(pkey);

        mask = AC_JOSE_ALGS_RSA;
        if ((rc = apply_pin(&mask, pin)) == AC_JOSE_OK
            && (bits < AC_JOSE_RSA_MIN_BITS || bits > AC_JOSE_RSA_MAX_BITS)) {
            rc = AC_JOSE_ERR_JWK_RSA_SIZE;
        }
        if (rc != AC_JOSE_OK) {
            EVP_PKEY_free(pkey);
            return rc;
        }
        return pkey_key(p, pkey, AC_JOSE_KTY_RSA, NULL, bits, mask, kid, key);
    }
    if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64];
        size_t glen = 0;
        apr_size_t i;

        if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen) == 1) {
            for (i = 0; i < NCURVES; i++) {
                if (strcmp(curves[i].group, group) == 0) {
                    mask = curves[i].alg;
                    if ((rc = apply_pin(&mask, pin)) != AC_JOSE_OK) {
                        EVP_PKEY_free(pkey);
                        return rc;
                    }
                    return pkey_key(p, pkey, AC_JOSE_KTY_EC, curves[i].crv,
                                    curves[i].bits, mask, kid, key);
                }
            }
        }
        EVP_PKEY_free(pkey);
        return AC_JOSE_ERR_JWK_CURVE;
    }
    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        mask = AC_JOSE_ALG_EDDSA;
        if ((rc = apply_pin(&mask, pin)) != AC_JOSE_OK) {
            EVP_PKEY_free(pkey);
            return rc;
        }
        return pkey_key(p, pkey, AC_JOSE_KTY_OKP, "Ed25519", 256, mask, kid,
                        key);
    }
    EVP_PKEY_free(pkey);
    return AC_JOSE_ERR_JWK_KTY;
}

ac_jose_status ac_jose_key_from_pem(apr_pool_t *p, const char *pem,
                                    apr_size_t len, const char *kid,
                                    ac_jose_alg alg, ac_jose_key **key)
{
    ac_jose_status rc;

    if (alg != 0 && alg_lookup(alg) == NULL) {
        return AC_JOSE_ERR_JWK_ALG;
    }
    ERR_set_mark();
    rc = key_from_pem(p, pem, len, kid, alg, key);
    ERR_pop_to_mark();
    return rc;
}

ac_jose_kty ac_jose_key_kty(const ac_jose_key *key)
{
    return key->kty;
}

const char *ac_jose_key_kid(const ac_jose_key *key)
{
    return key->kid;
}

unsigned int ac_jose_key_algs(const ac_jose_key *key)
{
    return key->algs;
}

const char *ac_jose_key_describe(apr_pool_t *p, const ac_jose_key *key)
{
    switch (key->kty) {
    case AC_JOSE_KTY_RSA:
        return apr_psprintf(p, "RSA %d", key->bits);
    case AC_JOSE_KTY_EC:
        return apr_psprintf(p, "EC %s", key->crv);
    case AC_JOSE_KTY_OKP:
        return apr_psprintf(p, "OKP %s", key->crv);
    case AC_JOSE_KTY_OCT:
        return apr_psprintf(p, "oct %d", key->bits);
    }
    return "unknown";
}

/* --- key sets ------------------------------------------------------------ */

struct ac_jose_keyset {
    apr_array_header_t *keys;   /* of const ac_jose_key * */
    int skipped;
};

ac_jose_keyset *ac_jose_keyset_make(apr_pool_t *p)
{
    ac_jose_keyset *set = apr_pcalloc(p, sizeof(*set));

    set->keys = apr_array_make(p, 4, sizeof(const ac_jose_key *));
    return set;
}

void ac_jose_keyset_add(ac_jose_keyset *set, const ac_jose_key *key)
{
    APR_ARRAY_PUSH(set->keys, const ac_jose_key *) = key;
}

int ac_jose_keyset_count(const ac_jose_keyset *set)
{
    return set->keys->nelts;
}

const ac_jose_key *ac_jose_keyset_get(const ac_jose_keyset *set, int i)
{
    if (i < 0 || i >= set->keys->nelts) {
        return NULL;
    }
    return APR_ARRAY_IDX(set->keys, i, const ac_jose_key *);
}

int ac_jose_keyset_skipped(const ac_jose_keyset *set)
{
    return set->skipped;
}

ac_jose_status ac_jose_jwks_parse(apr_pool_t *p, const char *doc,
                                  apr_size_t len, ac_jose_skip_fn *skip,
                                  void *baton, ac_jose_keyset **set)
{
    json_t *root, *keys;
    ac_jose_keyset *s;
    ac_jose_status rc = AC_JOSE_OK;
    apr_size_t i;

    if (doc == NULL) {
        return AC_JOSE_ERR_JWKS_NOT_JSON;
    }
    if (len > AC_JOSE_MAX_JWKS) {
        return AC_JOSE_ERR_JWKS_TOO_LARGE;
    }
    root = json_loadb(doc, len, JSON_REJECT_DUPLICATES, NULL);
    if (root == NULL) {
        return AC_JOSE_ERR_JWKS_NOT_JSON;
    }
    keys = json_object_get(root, "keys");
    if (!json_is_array(keys)) {
        rc = AC_JOSE_ERR_JWKS_NO_KEYS;
    }
    else if (json_array_size(keys) > AC_JOSE_MAX_KEYS) {
        rc = AC_JOSE_ERR_JWKS_TOO_MANY_KEYS;
    }
    else {
        s = ac_jose_keyset_make(p);
        for (i = 0; i < json_array_size(keys); i++) {
            json_t *jwk = json_array_get(keys, i);
            ac_jose_key *key;
            ac_jose_status why = ac_jose_jwk_parse(p, jwk, &key);

            if (why == AC_JOSE_OK) {
                ac_jose_keyset_add(s, key);
                continue;
            }
            s->skipped++;
            if (skip != NULL) {
                json_t *kid = json_object_get(jwk, "kid");

                skip(baton, i, json_is_string(kid) ? json_string_value(kid)
                                                   : NULL, why);
            }
        }
        if (s->keys->nelts == 0) {
            rc = AC_JOSE_ERR_JWKS_EMPTY;
        }
        else {
            *set = s;
        }
    }
    json_decref(root);
    return rc;
}

/* --- JWS ----------------------------------------------------------------- */

/* The length of the base64url encoding of `n` bytes. */
#define B64URL_LEN(n) (((n) * 4 + 2) / 3)

/* Decode one part of a token and parse it as JSON (anything, so that a
 * JSON text that is not an object is told apart from one that is not JSON
 * at all).  The value is freed with the pool.  -1: bad base64url, -2: not
 * JSON. */
static int decode_json(apr_pool_t *p, const char *in, apr_size_t len,
                       json_t **out)
{
    char *buf;
    apr_size_t n;
    json_t *v;

    if (ac_b64url_decode(p, in, len, &buf, &n) != 0) {
        return -1;
    }
    /* Duplicate member names are refused (RFC 7515 section 5.2, RFC 7519
     * section 4), and so is \u0000 in a string (no JSON_ALLOW_NUL). */
    v = json_loadb(buf, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    if (v == NULL) {
        return -2;
    }
    apr_pool_cleanup_register(p, v, json_cleanup, apr_pool_cleanup_null);
    *out = v;
    return 0;
}

/* Where the dots of a compact serialization are: dots[0] and dots[1] for
 * a JWS, which has exactly two.  A JWE has four. */
static ac_jose_status find_dots(const char *token, apr_size_t len,
                                apr_size_t dots[2])
{
    apr_size_t i, ndots = 0;

    for (i = 0; i < len; i++) {
        if (token[i] == '.') {
            if (ndots < 2) {
                dots[ndots] = i;
            }
            ndots++;
        }
    }
    if (ndots == 4) {
        return AC_JOSE_ERR_JWE;
    }
    return ndots == 2 ? AC_JOSE_OK : AC_JOSE_ERR_MALFORMED;
}

/* The protected header: a JSON object whose alg is allowed (never
 * "none"), no crit, kid and typ strings when present.  Sets jws->header,
 * alg, kid and typ. */
static ac_jose_status parse_header(apr_pool_t *p, const char *in,
                                   apr_size_t len, unsigned int allowed_algs,
                                   ac_jose_jws *jws)
{
    json_t *header, *alg;
    const char *name;
    int rv;

    if (len > B64URL_LEN(AC_JOSE_MAX_HEADER)) {
        return AC_JOSE_ERR_TOO_LARGE;
    }
    rv = decode_json(p, in, len, &header);
    if (rv == -1) {
        return AC_JOSE_ERR_BAD_B64URL;
    }
    if (rv != 0) {
        return AC_JOSE_ERR_HEADER_NOT_JSON;
    }
    if (!json_is_object(header)) {
        return AC_JOSE_ERR_HEADER_NOT_OBJECT;
    }
    alg = json_object_get(header, "alg");
    if (!json_is_string(alg)) {
        return AC_JOSE_ERR_ALG_MISSING;
    }
    name = json_string_value(alg);
    /* RFC 8725 section 3.1: never "none", in any spelling. */
    if (strcasecmp(name, "none") == 0) {
        return AC_JOSE_ERR_ALG_NONE;
    }
    /* RFC 7515 section 4.1.11: a recipient that does not understand an
     * extension listed in crit must reject the JWS; we understand none. */
    if (json_object_get(header, "crit") != NULL) {
        return AC_JOSE_ERR_CRIT;
    }
    jws->alg = ac_jose_alg_from_name(name);
    if (jws->alg == 0) {
        return AC_JOSE_ERR_ALG_UNSUPPORTED;
    }
    if (!(allowed_algs & jws->alg)) {
        return AC_JOSE_ERR_ALG_NOT_ALLOWED;
    }
    if (member_string(header, "kid", &jws->kid) != 0
        || member_string(header, "typ", &jws->typ) != 0) {
        return AC_JOSE_ERR_BAD_HEADER;
    }
    jws->header = header;
    return AC_JOSE_OK;
}

/* The payload: a JSON object.  Sets jws->claims. */
static ac_jose_status parse_claims(apr_pool_t *p, const char *in,
                                   apr_size_t len, ac_jose_jws *jws)
{
    json_t *claims;
    int rv;

    if (len > B64URL_LEN(AC_JOSE_MAX_PAYLOAD)) {
        return AC_JOSE_ERR_TOO_LARGE;
    }
    rv = decode_json(p, in, len, &claims);
    if (rv == -1) {
        return AC_JOSE_ERR_BAD_B64URL;
    }
    if (rv != 0) {
        return AC_JOSE_ERR_PAYLOAD_NOT_JSON;
    }
    if (!json_is_object(claims)) {
        return AC_JOSE_ERR_PAYLOAD_NOT_OBJECT;
    }
    jws->claims = claims;
    return AC_JOSE_OK;
}

/* The signature's bytes.  Sets jws->signature and signature_len. */
static ac_jose_status decode_signature(apr_pool_t *p, const char *in,
                                       apr_size_t len, ac_jose_jws *jws)
{
    char *sig;

    if (len > B64URL_LEN(AC_JOSE_MAX_SIGNATURE)) {
        return AC_JOSE_ERR_TOO_LARGE;
    }
    if (ac_b64url_decode(p, in, len, &sig, &jws->signature_len) != 0) {
        return AC_JOSE_ERR_BAD_B64URL;
    }
    jws->signature = (const unsigned char *)sig;
    return AC_JOSE_OK;
}

/* A compact JWS: its size, its dots, then its header, parsed here, or
 * (`known` not 0) one met before whose alg is `known`, then its payload
 * and its signature. */
static ac_jose_status parse_jws(apr_pool_t *p, const char *token,
                                apr_size_t len, ac_jose_alg known,
                                unsigned int allowed_algs, ac_jose_jws **out)
{
    apr_size_t dots[2];
    ac_jose_jws *jws;
    ac_jose_status rc;

    if (token == NULL) {
        return AC_JOSE_ERR_MALFORMED;
    }
    if (len > AC_JOSE_MAX_TOKEN) {
        return AC_JOSE_ERR_TOO_LARGE;
    }
    if ((rc = find_dots(token, len, dots)) != AC_JOSE_OK) {
        return rc;
    }
    jws = apr_pcalloc(p, sizeof(*jws));
    if (known != 0) {
        if (!(allowed_algs & known)) {
            return AC_JOSE_ERR_ALG_NOT_ALLOWED;
        }
        jws->alg = known;
    }
    else if ((rc = parse_header(p, token, dots[0], allowed_algs, jws))
             != AC_JOSE_OK) {
        return rc;
    }
    if ((rc = parse_claims(p, token + dots[0] + 1, dots[1] - dots[0] - 1,
                           jws)) != AC_JOSE_OK
        || (rc = decode_signature(p, token + dots[1] + 1, len - dots[1] - 1,
                                  jws)) != AC_JOSE_OK) {
        return rc;
    }
    jws->signing_input = apr_pstrmemdup(p, token, dots[1]);
    jws->signing_input_len = dots[1];
    *out = jws;
    return AC_JOSE_OK;
}

ac_jose_status ac_jose_jws_parse(apr_pool_t *p, const char *token,
                                 apr_size_t len, unsigned int allowed_algs,
                                 ac_jose_jws **out)
{
    return parse_jws(p, token, len, 0, allowed_algs, out);
}

ac_jose_status ac_jose_jws_parse_known(apr_pool_t *p, const char *token,
                                       apr_size_t len, ac_jose_alg alg,
                                       unsigned int allowed_algs,
                                       ac_jose_jws **out)
{
    return alg == 0 ? AC_JOSE_ERR_ALG_UNSUPPORTED
                    : parse_jws(p, token, len, alg, allowed_algs, out);
}

static ac_jose_status verify_hmac(const alg_info *a, const ac_jose_key *key,
                                  const void *input, apr_size_t input_len,
                                  const unsigned char *sig, apr_size_t sig_len)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    ac_jose_status rc;

    if (key->kty != AC_JOSE_KTY_OCT || key->secret_len < a->size) {
        return AC_JOSE_ERR_KEY_MISMATCH;
    }
    if (EVP_Q_mac(NULL, "HMAC", NULL, a->md, NULL, key->secret,
                  key->secret_len, input, input_len, mac, sizeof(mac),
                  &mac_len) == NULL) {
        return AC_JOSE_ERR_INTERNAL;
    }
    /* The length of a MAC is public; its bytes are compared in constant
     * time. */
    if (sig_len != mac_len) {
        rc = AC_JOSE_ERR_BAD_SIGNATURE;
    }
    else {
        rc = CRYPTO_memcmp(mac, sig, mac_len) == 0 ? AC_JOSE_OK
                                                   : AC_JOSE_ERR_BAD_SIGNATURE;
    }
    OPENSSL_cleanse(mac, sizeof(mac));
    return rc;
}

/* A DER INTEGER of the big-endian unsigned number v[0..n), n >= 1: its
 * shortest two's-complement form (X.690 section 8.3.2).  Returns its
 * length. */
static apr_size_t der_integer(const unsigned char *v, apr_size_t n,
                              unsigned char *out)
{
    apr_size_t skip = 0, len, pad;

    while (skip + 1 < n && v[skip] == 0) {
        skip++;
    }
    len = n - skip;
    pad = v[skip] & 0x80 ? 1 : 0;
    out[0] = 0x02;
    out[1] = (unsigned char)(len + pad);
    out[2] = 0;
    memcpy(out + 2 + pad, v + skip, len);
    return 2 + pad + len;
}

/* The DER ECDSA-Sig-Value (RFC 3279 section 2.2.3) of a JWS signature,
 * which is R and S as big-endian numbers of `half` bytes each (RFC 7518
 * section 3.4), written here rather than through ECDSA_SIG and
 * i2d_ECDSA_SIG (two numbers and five allocations a verification).
 * `der` holds 2 * (half + 3) + 3 bytes; half <= 66, so an INTEGER's
 * length fits in one byte.  Returns the DER length. */
static apr_size_t ecdsa_raw_to_der(const unsigned char *sig, apr_size_t half,
                                   unsigned char *der)
{
    unsigned char body[2 * (2 + 1 + 66)];
    apr_size_t n, head;

    n = der_integer(sig, half, body);
    n += der_integer(sig + half, half, body + n);
    der[0] = 0x30;                      /* SEQUENCE */
    if (n < 0x80) {
        der[1] = (unsigned char)n;
        head = 2;
    }
    else {
        der[1] = 0x81;
        der[2] = (unsigned char)n;
        head = 3;
    }
    memcpy(der + head, body, n);
    return head + n;
}

static ac_jose_status verify_pkey(const alg_info *a, const ac_jose_key *key,
                                  const void *input, apr_size_t input_len,
                                  const unsigned char *sig, apr_size_t sig_len)
{
    /* 2 * (2 + 1 + 66) + 3 bytes at most for P-521 */
    unsigned char der[160], digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    EVP_MD_CTX *ctx;
    const EVP_PKEY_CTX *template;
    EVP_PKEY_CTX *pctx;
    const char *type;
    ac_jose_status rc;

    switch (a->kind) {
    case KIND_RSA_PKCS1:
    case KIND_RSA_PSS:
        type = "RSA";
        break;
    case KIND_ECDSA:
        type = "EC";
        if (sig_len != 2 * a->size) {
            return AC_JOSE_ERR_BAD_SIGNATURE_FORMAT;
        }
        sig_len = ecdsa_raw_to_der(sig, a->size, der);
        sig = der;
        break;
    case KIND_EDDSA:
        type = "ED25519";
        if (sig_len != a->size) {
            return AC_JOSE_ERR_BAD_SIGNATURE_FORMAT;
        }
        break;
    default:
        return AC_JOSE_ERR_KEY_MISMATCH;
    }
    /* The key's algorithm mask said yes; make sure the key agrees. */
    if (key->pkey == NULL || !EVP_PKEY_is_a(key->pkey, type)) {
        return AC_JOSE_ERR_KEY_MISMATCH;
    }
    if (a->kind == KIND_EDDSA) {
        /* Ed25519 signs the message itself: one-shot EVP_DigestVerify */
        ctx = EVP_MD_CTX_new();
        if (ctx == NULL
            || EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key->pkey) != 1) {
            EVP_MD_CTX_free(ctx);
            return AC_JOSE_ERR_INTERNAL;
        }
        rc = EVP_DigestVerify(ctx, sig, sig_len, input, input_len) == 1
             ? AC_JOSE_OK : AC_JOSE_ERR_BAD_SIGNATURE;
        EVP_MD_CTX_free(ctx);
        return rc;
    }
    template = key->verify[a - algs];
    if (template == NULL
        || EVP_Digest(input, input_len, digest, &digest_len, ac_digest(a->md),
                      NULL) != 1
        || (pctx = EVP_PKEY_CTX_dup(template)) == NULL) {
        return AC_JOSE_ERR_INTERNAL;
    }
    rc = EVP_PKEY_verify(pctx, sig, sig_len, digest, digest_len) == 1
         ? AC_JOSE_OK : AC_JOSE_ERR_BAD_SIGNATURE;
    EVP_PKEY_CTX_free(pctx);
    return rc;
}

static ac_jose_status verify(const ac_jose_key *key, ac_jose_alg alg,
                             const void *input, apr_size_t input_len,
                             const unsigned char *sig, apr_size_t sig_len)
{
    const alg_info *a = alg_lookup(alg);

    if (a == NULL) {
        return AC_JOSE_ERR_ALG_UNSUPPORTED;
    }
    /* The key-type-confusion defence (RFC 8725 section 3.1). */
    if (key == NULL || !(key->algs & alg)) {
        return AC_JOSE_ERR_KEY_MISMATCH;
    }
    if (a->kind == KIND_HMAC) {
        return verify_hmac(a, key, input, input_len, sig, sig_len);
    }
    return verify_pkey(a, key, input, input_len, sig, sig_len);
}

ac_jose_status ac_jose_verify(const ac_jose_key *key, ac_jose_alg alg,
                              const void *input, apr_size_t input_len,
                              const unsigned char *sig, apr_size_t sig_len)
{
    ac_jose_status rc;

    ERR_set_mark();
    rc = verify(key, alg, input, input_len, sig, sig_len);
    ERR_pop_to_mark();
    return rc;
}

ac_jose_status ac_jose_jws_verify(ac_jose_jws *jws,
                                  const ac_jose_keyset *keys,
                                  unsigned int allowed_algs,
                                  const ac_jose_key **used)
{
    ac_jose_status rc, last = AC_JOSE_ERR_NO_KEY;
    int i, tries = 0, kid_found = 0;

    jws->verified = 0;
    if (!(allowed_algs & jws->alg) || alg_lookup(jws->alg) == NULL) {
        return AC_JOSE_ERR_ALG_NOT_ALLOWED;
    }
    for (i = 0; keys != NULL && i < keys->keys->nelts; i++) {
        const ac_jose_key *key = APR_ARRAY_IDX(keys->keys, i,
                                               const ac_jose_key *);

        if (jws->kid != NULL) {
            if (key->kid == NULL || strcmp(key->kid, jws->kid) != 0) {
                continue;
            }
            kid_found = 1;
        }
        if (!(key->algs & jws->alg)) {
            continue;
        }
        if (tries == AC_JOSE_MAX_KEY_TRIES) {
            break;
        }
        tries++;
        rc = ac_jose_verify(key, jws->alg, jws->signing_input,
                            jws->signing_input_len, jws->signature,
                            jws->signature_len);
        if (rc == AC_JOSE_OK) {
            jws->verified = 1;
            if (used != NULL) {
                *used = key;
            }
            return AC_JOSE_OK;
        }
        last = rc;
    }
    if (jws->kid != NULL && !kid_found) {
        return AC_JOSE_ERR_UNKNOWN_KID;
    }
    if (tries == 0) {
        return jws->kid != NULL ? AC_JOSE_ERR_KEY_MISMATCH
                                : AC_JOSE_ERR_NO_KEY;
    }
    return last;
}

int ac_jose_typ_is_at_jwt(const char *typ)
{
    if (typ == NULL) {
        return 0;
    }
    /* RFC 7515 section 4.1.9: "application/" may be left out. */
    if (strncasecmp(typ, "application/", 12) == 0) {
        typ += 12;
    }
    return strcasecmp(typ, "at+jwt") == 0;
}

ac_jose_status ac_jose_jws_check_typ(const ac_jose_jws *jws)
{
    return ac_jose_typ_is_at_jwt(jws->typ) ? AC_JOSE_OK
                                           : AC_JOSE_ERR_BAD_TYP;
}

/* --- claims -------------------------------------------------------------- */

ac_jose_status ac_jose_claim_number(const json_t *claims, const char *name,
                                    double *out)
{
    json_t *v = json_object_get(claims, name);

    if (v == NULL) {
        return AC_JOSE_ERR_CLAIM_MISSING;
    }
    /* true and false are not numbers for jansson either. */
    if (!json_is_number(v)) {
        return AC_JOSE_ERR_CLAIM_TYPE;
    }
    *out = json_number_value(v);
    return AC_JOSE_OK;
}

/* 2^53: beyond it doubles no longer hold every integer. */
#define TIME_LIMIT 9007199254740992.0

ac_jose_status ac_jose_claim_time(const json_t *claims, const char *name,
                                  apr_int64_t *out)
{
    double d;
    apr_int64_t t;
    ac_jose_status rc = ac_jose_claim_number(claims, name, &d);

    if (rc != AC_JOSE_OK) {
        return rc;
    }
    if (!(d > -TIME_LIMIT && d < TIME_LIMIT)) {
        return AC_JOSE_ERR_CLAIM_INVALID;
    }
    t = (apr_int64_t)d;             /* towards zero */
    if ((double)t > d) {
        t--;                        /* towards minus infinity */
    }
    *out = t;
    return AC_JOSE_OK;
}

ac_jose_status ac_jose_claim_string(const json_t *claims, const char *name,
                                    const char **out)
{
    json_t *v = json_object_get(claims, name);

    if (v == NULL) {
        return AC_JOSE_ERR_CLAIM_MISSING;
    }
    if (!json_is_string(v)) {
        return AC_JOSE_ERR_CLAIM_TYPE;
    }
    *out = json_string_value(v);
    return AC_JOSE_OK;
}

/* An optional numeric claim: AC_JOSE_OK with *present set, or the type
 * error. */
/* A NumericDate for the time checks: a number within +-2^53 seconds. */
static ac_jose_status time_number(const json_t *claims, const char *name,
                                  double *out)
{
    ac_jose_status rc = ac_jose_claim_number(claims, name, out);

    if (rc == AC_JOSE_OK && !(*out > -TIME_LIMIT && *out < TIME_LIMIT)) {
        return AC_JOSE_ERR_CLAIM_INVALID;
    }
    return rc;
}

static ac_jose_status optional_time(const json_t *claims, const char *name,
                                    double *out, int *present)
{
    ac_jose_status rc = time_number(claims, name, out);

    *present = rc == AC_JOSE_OK;
    return rc == AC_JOSE_ERR_CLAIM_MISSING ? AC_JOSE_OK : rc;
}

ac_jose_status ac_jose_check_times(const json_t *claims, apr_int64_t now,
                                   apr_int64_t leeway)
{
    double exp, nbf = 0, iat = 0, t = (double)now, skew = (double)leeway;
    int has_nbf, has_iat;
    ac_jose_status rc;

    if ((rc = time_number(claims, "exp", &exp)) != AC_JOSE_OK
        || (rc = optional_time(claims, "nbf", &nbf, &has_nbf)) != AC_JOSE_OK
        || (rc = optional_time(claims, "iat", &iat, &has_iat))
           != AC_JOSE_OK) {
        return rc;
    }
    /* RFC 7519 section 4.1.4: valid only while now is before exp. */
    if (t >= exp + skew) {
        return AC_JOSE_ERR_EXPIRED;
    }
    if (has_nbf && t + skew < nbf) {
        return AC_JOSE_ERR_NOT_YET_VALID;
    }
    if (has_iat && t + skew < iat) {
        return AC_JOSE_ERR_ISSUED_IN_FUTURE;
    }
    return AC_JOSE_OK;
}

ac_jose_status ac_jose_check_issuer(const json_t *claims, const char *issuer)
{
    const char *iss;
    ac_jose_status rc = ac_jose_claim_string(claims, "iss", &iss);

    if (rc != AC_JOSE_OK) {
        return rc;
    }
    return issuer != NULL && strcmp(iss, issuer) == 0
           ? AC_JOSE_OK : AC_JOSE_ERR_WRONG_ISSUER;
}

ac_jose_status ac_jose_check_audience(const json_t *claims,
                                      const char *audience)
{
    json_t *aud = json_object_get(claims, "aud");
    int found = 0;
    apr_size_t i;

    if (aud == NULL) {
        return AC_JOSE_ERR_CLAIM_MISSING;
    }
    if (json_is_string(aud)) {
        found = audience != NULL
                && strcmp(json_string_value(aud), audience) == 0;
    }
    else if (json_is_array(aud)) {
        for (i = 0; i < json_array_size(aud); i++) {
            json_t *v = json_array_get(aud, i);

            if (!json_is_string(v)) {
                return AC_JOSE_ERR_CLAIM_TYPE;
            }
            if (audience != NULL
                && strcmp(json_string_value(v), audience) == 0) {
                found = 1;
            }
        }
    }
    else {
        return AC_JOSE_ERR_CLAIM_TYPE;
    }
    return found ? AC_JOSE_OK : AC_JOSE_ERR_WRONG_AUDIENCE;
}

/* RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
static int scope_char(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

/* Append the space-separated scopes of `s` to `out`; -1 on a character
 * that no scope may hold. */
static int add_scopes(apr_pool_t *p, apr_array_header_t *out, const char *s)
{
    const char *word;
    apr_size_t len, i;

    while (ac_scope_next(&s, &word, &len)) {
        for (i = 0; i < len; i++) {
            if (!scope_char((unsigned char)word[i])) {
                return -1;
            }
        }
        APR_ARRAY_PUSH(out, const char *) = apr_pstrmemdup(p, word, len);
    }
    return 0;
}

ac_jose_status ac_jose_claim_scopes(apr_pool_t *p, const json_t *claims,
                                    const char **scopes)
{
    apr_array_header_t *list = apr_array_make(p, 8, sizeof(const char *));
    json_t *scope = json_object_get(claims, "scope");
    json_t *scp = json_object_get(claims, "scp");
    apr_size_t i;

    if (scope != NULL) {
        if (!json_is_string(scope)) {
            return AC_JOSE_ERR_CLAIM_TYPE;
        }
        if (add_scopes(p, list, json_string_value(scope)) != 0) {
            return AC_JOSE_ERR_CLAIM_INVALID;
        }
    }
    else if (json_is_string(scp)) {
        if (add_scopes(p, list, json_string_value(scp)) != 0) {
            return AC_JOSE_ERR_CLAIM_INVALID;
        }
    }
    else if (json_is_array(scp)) {
        for (i = 0; i < json_array_size(scp); i++) {
            json_t *item = json_array_get(scp, i);
            const char *s;

            if (!json_is_string(item)) {
                return AC_JOSE_ERR_CLAIM_TYPE;
            }
            s = json_string_value(item);
            /* One scope per member: a space would smuggle in two. */
            if (*s == '\0' || strchr(s, ' ') != NULL
                || add_scopes(p, list, s) != 0) {
                return AC_JOSE_ERR_CLAIM_INVALID;
            }
        }
    }
    else if (scp != NULL) {
        return AC_JOSE_ERR_CLAIM_TYPE;
    }
    *scopes = apr_array_pstrcat(p, list, ' ');
    return AC_JOSE_OK;
}

ac_jose_status ac_jose_check_times_no_exp(const json_t *claims,
                                          apr_int64_t now,
                                          apr_int64_t leeway)
{
    double nbf;
    int has_nbf;
    ac_jose_status rc = optional_time(claims, "nbf", &nbf, &has_nbf);

    if (rc != AC_JOSE_OK) {
        return rc;
    }
    return has_nbf && (double)now + (double)leeway < nbf
           ? AC_JOSE_ERR_NOT_YET_VALID : AC_JOSE_OK;
}

/* A scalar claim as JSON text, or NULL for any other value. */
static const char *scalar_json(apr_pool_t *p, const json_t *v)
{
    char *text;
    const char *out;

    switch (json_typeof(v)) {
    case JSON_STRING:
        return ac_json_stringn(p, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return apr_psprintf(p, "%" APR_INT64_T_FMT,
                            (apr_int64_t)json_integer_value(v));
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_REAL:
        /* rare: jansson's own formatting, which always reads back */
        text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        out = text ? apr_pstrdup(p, text) : NULL;
        free(text);
        return out;
    default:
        return NULL;
    }
}

/* Written by hand rather than built as a jansson object and dumped: a
 * third of the cost of an uncached token's claims went to that. */
const char *ac_jose_claims_data(apr_pool_t *p, const json_t *claims,
                                const char *source)
{
    apr_array_header_t *parts = apr_array_make(p, 32, sizeof(const char *));
    const char *name, *text;
    json_t *v;

    APR_ARRAY_PUSH(parts, const char *) = "{";
    json_object_foreach((json_t *)claims, name, v) {
        if (strcmp(name, "scheme") == 0 || strcmp(name, "source") == 0
            || (strcmp(name, "active") == 0
                && strcmp(source, "introspection") == 0)) {
            continue;
        }
        text = scalar_json(p, v);
        if (text == NULL && strcmp(name, "aud") == 0 && json_is_array(v)) {
            apr_array_header_t *members = apr_array_make(p, 4,
                                                         sizeof(char *));
            size_t i;
            json_t *m;

            json_array_foreach(v, i, m) {
                if (!json_is_string(m)) {
                    break;
                }
                APR_ARRAY_PUSH(members, const char *) = scalar_json(p, m);
            }
            if (i == json_array_size(v)) {
                text = apr_pstrcat(p, "[", apr_array_pstrcat(p, members, ','),
                                   "]", NULL);
            }
        }
        if (text != NULL) {
            APR_ARRAY_PUSH(parts, const char *) = ac_json_string(p, name);
            APR_ARRAY_PUSH(parts, const char *) = ":";
            APR_ARRAY_PUSH(parts, const char *) = text;
            APR_ARRAY_PUSH(parts, const char *) = ",";
        }
    }
    APR_ARRAY_PUSH(parts, const char *) = "\"source\":";
    APR_ARRAY_PUSH(parts, const char *) = ac_json_string(p, source);
    APR_ARRAY_PUSH(parts, const char *) = "}";
    return apr_array_pstrcat(p, parts, 0);
}

const char *ac_jose_claims_json(apr_pool_t *p, const json_t *claims)
{
    char *text = json_dumps(claims, JSON_COMPACT);
    const char *out = text ? apr_pstrdup(p, text) : NULL;

    free(text);
    return out;
}

const char *ac_jose_claims_env(apr_pool_t *p, const json_t *claims,
                               const char *source)
{
    apr_array_header_t *parts = apr_array_make(p, 16, sizeof(const char *));
    const char *name;
    json_t *v;

    json_object_foreach((json_t *)claims, name, v) {
        const char *value;
        char *n, *c;

        if (json_is_string(v)) {
            value = json_string_value(v);
        }
        else if (json_is_integer(v)) {
            value = apr_psprintf(p, "%" APR_INT64_T_FMT,
                                 (apr_int64_t)json_integer_value(v));
        }
        else if (json_is_real(v)) {
            value = apr_psprintf(p, "%.17g", json_real_value(v));
        }
        else if (json_is_boolean(v)) {
            value = json_is_true(v) ? "true" : "false";
        }
        else {
            continue;
        }
        if (*name == '\0' || strcmp(name, "scheme") == 0
            || strcmp(name, "source") == 0
            || (strcmp(name, "active") == 0
                && strcmp(source, "introspection") == 0)) {
            continue;
        }
        n = apr_pstrdup(p, name);
        for (c = n; *c; c++) {
            if (!apr_isalnum(*c) && *c != '_') {
                *c = '_';
            }
        }
        APR_ARRAY_PUSH(parts, const char *) =
            apr_psprintf(p, "%s=%" APR_SIZE_T_FMT ":%s", n, strlen(value),
                         value);
    }
    return apr_array_pstrcat(p, parts, 0);
}

int ac_jose_claims_env_next(const char **block, const char **name,
                            apr_size_t *name_len, const char **value,
                            apr_size_t *value_len)
{
    const char *eq, *colon;
    char *end;
    apr_int64_t n;

    if (*block == NULL || (eq = strchr(*block, '=')) == NULL) {
        return 0;
    }
    n = apr_strtoi64(eq + 1, &end, 10);
    colon = end;
    if (*colon != ':' || n < 0 || (apr_size_t)n > strlen(colon + 1)) {
        return 0;
    }
    *name = *block;
    *name_len = (apr_size_t)(eq - *block);
    *value = colon + 1;
    *value_len = (apr_size_t)n;
    *block = colon + 1 + n;
    return 1;
}
