/* Licensed under the Apache License, Version 2.0.
 *
 * ac_jose.h -- the JOSE core of mod_authn_oauth2: JWK and JWK Set parsing
 * into OpenSSL keys, JWS compact serialization parsing, signature
 * verification and the JWT claim checks of RFC 7519 / RFC 9068, with the
 * rules of RFC 8725 built in:
 *
 *   - `alg: none` is refused always, whatever the allow-list says;
 *   - an allow-list of algorithms (AC_JOSE_ALG_* bits) is applied to the
 *     header before any key is looked at or any crypto runs;
 *   - a key verifies only the algorithms of its type (RS and PS need RSA,
 *     ES256 exactly P-256, ES384 P-384, ES512 P-521, EdDSA Ed25519, HS an
 *     oct key long enough for the hash), and only its own `alg` when the JWK
 *     names one: no HS256 "verified" with an RSA public key's bytes;
 *   - everything that comes from the network is bounded in size;
 *   - `crit` (RFC 7515 section 4.1.11) is refused, as we understand no
 *     extension; JWE (five parts) is refused with its own error.
 *
 * Memory: everything is allocated from the APR pool passed in; the OpenSSL
 * and jansson objects behind keys and parsed tokens are freed by cleanups
 * registered on that pool, and oct secrets are wiped then.  There is no
 * global state.  A key or key set is never modified after it was built, and
 * may be used for verification by any number of threads at once while its
 * pool lives; a parsed token (ac_jose_jws) belongs to one thread.
 *
 * No function here logs, and no error string contains a token, a claim or
 * a secret: ac_jose_strerror() is fit for an RFC 6750 error_description.
 */

#ifndef AC_JOSE_H
#define AC_JOSE_H

#include <jansson.h>

#include "apr_pools.h"

/* Size limits, in bytes. */
#define AC_JOSE_MAX_TOKEN      16384   /* the compact serialization */
#define AC_JOSE_MAX_HEADER     4096    /* the decoded protected header */
#define AC_JOSE_MAX_PAYLOAD    12288   /* the decoded payload (claims) */
#define AC_JOSE_MAX_SIGNATURE  1024    /* the decoded signature (RSA 8192) */
#define AC_JOSE_MAX_JWKS       (512 * 1024)    /* a JWK Set document */
#define AC_JOSE_MAX_KEYS       100     /* keys in a JWK Set */
/* Keys tried for a token without `kid` (those of the right type only). */
#define AC_JOSE_MAX_KEY_TRIES  4
/* RSA moduli accepted, in bits (RFC 7518 section 3.3 asks for >= 2048). */
#define AC_JOSE_RSA_MIN_BITS   2048
#define AC_JOSE_RSA_MAX_BITS   8192

/* The JWS algorithms we verify (RFC 7518 section 3.1, RFC 8037), as bits
 * so that a set of them (an allow-list) is an unsigned int. */
typedef enum {
    AC_JOSE_ALG_HS256 = 1 << 0,
    AC_JOSE_ALG_HS384 = 1 << 1,
    AC_JOSE_ALG_HS512 = 1 << 2,
    AC_JOSE_ALG_RS256 = 1 << 3,
    AC_JOSE_ALG_RS384 = 1 << 4,
    AC_JOSE_ALG_RS512 = 1 << 5,
    AC_JOSE_ALG_PS256 = 1 << 6,
    AC_JOSE_ALG_PS384 = 1 << 7,
    AC_JOSE_ALG_PS512 = 1 << 8,
    AC_JOSE_ALG_ES256 = 1 << 9,
    AC_JOSE_ALG_ES384 = 1 << 10,
    AC_JOSE_ALG_ES512 = 1 << 11,
    AC_JOSE_ALG_EDDSA = 1 << 12
} ac_jose_alg;

#define AC_JOSE_ALGS_HMAC  (AC_JOSE_ALG_HS256 | AC_JOSE_ALG_HS384 \
                            | AC_JOSE_ALG_HS512)
#define AC_JOSE_ALGS_RSA   (AC_JOSE_ALG_RS256 | AC_JOSE_ALG_RS384 \
                            | AC_JOSE_ALG_RS512 | AC_JOSE_ALG_PS256 \
                            | AC_JOSE_ALG_PS384 | AC_JOSE_ALG_PS512)
#define AC_JOSE_ALGS_EC    (AC_JOSE_ALG_ES256 | AC_JOSE_ALG_ES384 \
                            | AC_JOSE_ALG_ES512)
/* Everything with a public key: the sensible default allow-list. */
#define AC_JOSE_ALGS_ASYMMETRIC (AC_JOSE_ALGS_RSA | AC_JOSE_ALGS_EC \
                                 | AC_JOSE_ALG_EDDSA)
#define AC_JOSE_ALGS_ALL   (AC_JOSE_ALGS_ASYMMETRIC | AC_JOSE_ALGS_HMAC)

/* Every outcome; each has its own ac_jose_strerror() text. */
typedef enum {
    AC_JOSE_OK = 0,
    /* the token and its header */
    AC_JOSE_ERR_TOO_LARGE,          /* token, header, payload, signature */
    AC_JOSE_ERR_MALFORMED,          /* not header.payload.signature */
    AC_JOSE_ERR_JWE,                /* five parts: an encrypted token */
    AC_JOSE_ERR_BAD_B64URL,         /* a part is not strict base64url */
    AC_JOSE_ERR_HEADER_NOT_JSON,
    AC_JOSE_ERR_HEADER_NOT_OBJECT,
    AC_JOSE_ERR_BAD_HEADER,         /* kid or typ present but not a string */
    AC_JOSE_ERR_ALG_MISSING,        /* no alg, or alg not a string */
    AC_JOSE_ERR_ALG_NONE,           /* alg "none": never accepted */
    AC_JOSE_ERR_ALG_UNSUPPORTED,    /* an alg we do not implement */
    AC_JOSE_ERR_ALG_NOT_ALLOWED,    /* outside the allow-list */
    AC_JOSE_ERR_CRIT,               /* a crit header is present */
    AC_JOSE_ERR_PAYLOAD_NOT_JSON,
    AC_JOSE_ERR_PAYLOAD_NOT_OBJECT,
    AC_JOSE_ERR_BAD_TYP,            /* typ is not at+jwt */
    /* keys and signatures */
    AC_JOSE_ERR_UNKNOWN_KID,        /* no key has the token's kid: refetch */
    AC_JOSE_ERR_NO_KEY,             /* no kid, and no key fits the alg */
    AC_JOSE_ERR_KEY_MISMATCH,       /* the kid's key cannot verify this alg */
    AC_JOSE_ERR_BAD_SIGNATURE_FORMAT, /* e.g. ES256 signature not 64 bytes */
    AC_JOSE_ERR_BAD_SIGNATURE,
    /* claims */
    AC_JOSE_ERR_CLAIM_MISSING,
    AC_JOSE_ERR_CLAIM_TYPE,         /* e.g. exp as a string */
    AC_JOSE_ERR_CLAIM_INVALID,      /* e.g. a scope with a quote in it */
    AC_JOSE_ERR_EXPIRED,
    AC_JOSE_ERR_NOT_YET_VALID,      /* nbf in the future */
    AC_JOSE_ERR_ISSUED_IN_FUTURE,   /* iat in the future */
    AC_JOSE_ERR_WRONG_ISSUER,
    AC_JOSE_ERR_WRONG_AUDIENCE,
    /* JWK and JWK Set */
    AC_JOSE_ERR_JWK_NOT_OBJECT,
    AC_JOSE_ERR_JWK_KTY,            /* kty missing or not RSA/EC/OKP/oct */
    AC_JOSE_ERR_JWK_PARAM,          /* a member missing, mistyped, bad size */
    AC_JOSE_ERR_JWK_USE,            /* use is not "sig" (e.g. "enc") */
    AC_JOSE_ERR_JWK_KEY_OPS,        /* key_ops without "verify" */
    AC_JOSE_ERR_JWK_ALG,            /* alg unknown or not for this key */
    AC_JOSE_ERR_JWK_CURVE,          /* crv not P-256/P-384/P-521/Ed25519 */
    AC_JOSE_ERR_JWK_RSA_SIZE,       /* modulus < 2048 or > 8192 bits */
    AC_JOSE_ERR_JWK_NOT_ON_CURVE,   /* EC point invalid */
    AC_JOSE_ERR_JWK_BAD_KEY,        /* OpenSSL refused the public key */
    AC_JOSE_ERR_JWK_OCT_SHORT,      /* HMAC secret shorter than its hash */
    AC_JOSE_ERR_JWKS_TOO_LARGE,     /* document > AC_JOSE_MAX_JWKS */
    AC_JOSE_ERR_JWKS_NOT_JSON,
    AC_JOSE_ERR_JWKS_NO_KEYS,       /* no "keys" array */
    AC_JOSE_ERR_JWKS_TOO_MANY_KEYS, /* > AC_JOSE_MAX_KEYS */
    AC_JOSE_ERR_JWKS_EMPTY,         /* not one usable key */
    AC_JOSE_ERR_PEM,                /* not a PEM public key */
    AC_JOSE_ERR_INTERNAL            /* OpenSSL failed (allocation, ...) */
} ac_jose_status;

/* A short English description of a status ("bad signature"). */
const char *ac_jose_strerror(ac_jose_status status);

/* The JWS name of one algorithm ("RS256"), or NULL for anything that is
 * not exactly one AC_JOSE_ALG_* bit. */
const char *ac_jose_alg_name(ac_jose_alg alg);

/* The algorithm of a JWS name, compared case-sensitively as RFC 7515
 * asks; 0 for "none" and for every name we do not implement. */
ac_jose_alg ac_jose_alg_from_name(const char *name);


/* --- keys ---------------------------------------------------------------- */

typedef enum {
    AC_JOSE_KTY_RSA = 1,
    AC_JOSE_KTY_EC,
    AC_JOSE_KTY_OKP,
    AC_JOSE_KTY_OCT
} ac_jose_kty;

/* One verification key.  Opaque; lives as long as the pool it was made
 * from. */
typedef struct ac_jose_key ac_jose_key;

/* A key from a JWK (RFC 7517, 7518 section 6, RFC 8037) that the caller
 * already parsed; `jwk` stays the caller's (nothing of it is kept).
 * kty RSA (n, e; 2048 to 8192 bits, OpenSSL's public-key check),
 * EC (crv P-256/P-384/P-521, x and y of the curve's full size, the point
 * checked to be on the curve), OKP (crv Ed25519, x), oct (k, at least 32
 * bytes; 48 for alg HS384, 64 for HS512).  `use` must be "sig" or absent,
 * `key_ops`, when present, must contain "verify", and `alg`, when present,
 * pins the key to that one algorithm.  Private members (d, p, q, ...) are
 * ignored.  On error *key is left alone. */
ac_jose_status ac_jose_jwk_parse(apr_pool_t *p, const json_t *jwk,
                                 ac_jose_key **key);

/* The same from JSON text (at most AC_JOSE_MAX_JWKS bytes). */
ac_jose_status ac_jose_jwk_parse_text(apr_pool_t *p, const char *text,
                                      apr_size_t len, ac_jose_key **key);

/* An oct (HMAC) key from a configured secret: `kid` and `alg` may be
 * NULL / 0; the secret is copied (and wiped with the pool). */
ac_jose_status ac_jose_key_from_secret(apr_pool_t *p, const void *secret,
                                       apr_size_t len, const char *kid,
                                       ac_jose_alg alg, ac_jose_key **key);

/* A public key from PEM text ("-----BEGIN PUBLIC KEY-----", SPKI): RSA,
 * EC on P-256/P-384/P-521, or Ed25519, with the checks of a JWK.  `kid` and
 * `alg` may be NULL / 0. */
ac_jose_status ac_jose_key_from_pem(apr_pool_t *p, const char *pem,
                                    apr_size_t len, const char *kid,
                                    ac_jose_alg alg, ac_jose_key **key);

ac_jose_kty ac_jose_key_kty(const ac_jose_key *key);
/* The key's kid, or NULL.  Chosen by the issuer: escape it to log it. */
const char *ac_jose_key_kid(const ac_jose_key *key);
/* The algorithms this key may verify (AC_JOSE_ALG_* bits). */
unsigned int ac_jose_key_algs(const ac_jose_key *key);
/* A description for logs: "RSA 2048", "EC P-256", "OKP Ed25519",
 * "oct 256" (bits); never key material. */
const char *ac_jose_key_describe(apr_pool_t *p, const ac_jose_key *key);


/* --- key sets ------------------------------------------------------------ */

typedef struct ac_jose_keyset ac_jose_keyset;

/* Called by ac_jose_jwks_parse() for each member of "keys" that is
 * skipped: its index, its kid when it has a string one (else NULL) and
 * why. */
typedef void ac_jose_skip_fn(void *baton, apr_size_t index, const char *kid,
                             ac_jose_status why);

/* Parse a JWK Set document ({"keys": [...]}, RFC 7517 section 5) of `len`
 * bytes.  The document is refused whole when it is larger than
 * AC_JOSE_MAX_JWKS, not JSON, has no "keys" array, or more than
 * AC_JOSE_MAX_KEYS members; otherwise each member that ac_jose_jwk_parse()
 * refuses is skipped (and reported to `skip` when not NULL) and the others
 * are kept, in order.  When not one key is usable the result is
 * AC_JOSE_ERR_JWKS_EMPTY.  *set is written only on AC_JOSE_OK. */
ac_jose_status ac_jose_jwks_parse(apr_pool_t *p, const char *doc,
                                  apr_size_t len, ac_jose_skip_fn *skip,
                                  void *baton, ac_jose_keyset **set);

/* An empty set, for keys from the configuration. */
ac_jose_keyset *ac_jose_keyset_make(apr_pool_t *p);
/* Add a key (from a pool that lives at least as long as the set's). */
void ac_jose_keyset_add(ac_jose_keyset *set, const ac_jose_key *key);
/* The number of keys; the i-th key (NULL past the end); how many members
 * of the JWK Set document were skipped. */
int ac_jose_keyset_count(const ac_jose_keyset *set);
const ac_jose_key *ac_jose_keyset_get(const ac_jose_keyset *set, int i);
int ac_jose_keyset_skipped(const ac_jose_keyset *set);


/* --- JWS ----------------------------------------------------------------- */

/* A parsed JWS compact serialization (RFC 7515 section 7.1) with a JSON
 * object as payload (a JWT).  Read-only for the caller.  `header` and
 * `claims` are freed with the pool.  Until ac_jose_jws_verify() returned
 * AC_JOSE_OK (`verified` is then 1), nothing in it is authenticated: use
 * the claims before that only to choose the issuer's key set. */
typedef struct {
    ac_jose_alg alg;
    const char *kid;                /* NULL when absent */
    const char *typ;                /* NULL when absent */
    json_t *header;
    json_t *claims;
    const char *signing_input;      /* "header.payload", NUL-terminated */
    apr_size_t signing_input_len;
    const unsigned char *signature;
    apr_size_t signature_len;
    int verified;
} ac_jose_jws;

/* Parse the `len` bytes of a compact JWS.  Checks, in order: size (<=
 * AC_JOSE_MAX_TOKEN), the number of parts (5 is AC_JOSE_ERR_JWE, anything
 * but 3 AC_JOSE_ERR_MALFORMED), the header (strict base64url, at most
 * AC_JOSE_MAX_HEADER bytes, a JSON object without duplicate names, alg a
 * string and not "none", no crit, alg implemented and in `allowed_algs`,
 * kid and typ strings when present), then the payload (a JSON object, at
 * most AC_JOSE_MAX_PAYLOAD bytes) and the signature (base64url).  No
 * signature is checked here.  *jws is written only on AC_JOSE_OK. */
ac_jose_status ac_jose_jws_parse(apr_pool_t *p, const char *token,
                                 apr_size_t len, unsigned int allowed_algs,
                                 ac_jose_jws **jws);

/* ac_jose_jws_parse() of a token whose header (its first part, before the
 * first dot) the caller has parsed before, byte for byte, and found to
 * have the algorithm `alg`: the same checks in the same order, the header
 * taken as read (jws->header, kid and typ are NULL; `alg` 0 is
 * AC_JOSE_ERR_ALG_UNSUPPORTED).  For a client that signs every DPoP proof
 * with the same header. */
ac_jose_status ac_jose_jws_parse_known(apr_pool_t *p, const char *token,
                                       apr_size_t len, ac_jose_alg alg,
                                       unsigned int allowed_algs,
                                       ac_jose_jws **jws);

/* Verify the signature of `jws` with a key of `keys`: the header's alg must
 * be in `allowed_algs` (checked again, before any crypto).  With a kid:
 * the keys with that kid (none: AC_JOSE_ERR_UNKNOWN_KID, so that the
 * caller may refetch the JWK Set; none that can verify the alg:
 * AC_JOSE_ERR_KEY_MISMATCH).  Without a kid: the keys that can verify the
 * alg, at most AC_JOSE_MAX_KEY_TRIES of them (none: AC_JOSE_ERR_NO_KEY).
 * On success sets jws->verified and *used (when not NULL) to the key. */
ac_jose_status ac_jose_jws_verify(ac_jose_jws *jws,
                                  const ac_jose_keyset *keys,
                                  unsigned int allowed_algs,
                                  const ac_jose_key **used);

/* Verify one signature with one key: AC_JOSE_ERR_KEY_MISMATCH when the
 * key cannot verify `alg` (see above), AC_JOSE_ERR_BAD_SIGNATURE_FORMAT
 * for an ECDSA or EdDSA signature of the wrong length. */
ac_jose_status ac_jose_verify(const ac_jose_key *key, ac_jose_alg alg,
                              const void *input, apr_size_t input_len,
                              const unsigned char *sig, apr_size_t sig_len);

/* Whether a typ value says "JWT access token" (RFC 9068 section 2.1):
 * "at+jwt" or "application/at+jwt", case-insensitively.  1 or 0. */
int ac_jose_typ_is_at_jwt(const char *typ);

/* AC_JOSE_OK when the token's typ is at+jwt; AC_JOSE_ERR_BAD_TYP when it
 * is absent or anything else. */
ac_jose_status ac_jose_jws_check_typ(const ac_jose_jws *jws);


/* --- claims (RFC 7519 section 4.1) --------------------------------------- */

/* The claims functions take the payload object, jws->claims; each returns
 * AC_JOSE_ERR_CLAIM_MISSING for an absent claim and AC_JOSE_ERR_CLAIM_TYPE
 * for one of the wrong JSON type (a string "exp", a numeric "iss"). */

/* A numeric claim (exp, nbf, iat) as a JSON number, integer or real. */
ac_jose_status ac_jose_claim_number(const json_t *claims, const char *name,
                                    double *out);

/* The same, rounded down to whole seconds; AC_JOSE_ERR_CLAIM_INVALID when
 * it is beyond +/- 2^53. */
ac_jose_status ac_jose_claim_time(const json_t *claims, const char *name,
                                  apr_int64_t *out);

/* A string claim (iss, sub, client_id, jti). */
ac_jose_status ac_jose_claim_string(const json_t *claims, const char *name,
                                    const char **out);

/* The validity period at `now` (seconds since the epoch), allowing
 * `leeway` seconds of clock skew: exp is required (RFC 9068 section 2.2)
 * and the token is AC_JOSE_ERR_EXPIRED when now >= exp + leeway; nbf and
 * iat are optional, AC_JOSE_ERR_NOT_YET_VALID when now + leeway < nbf,
 * AC_JOSE_ERR_ISSUED_IN_FUTURE when now + leeway < iat.  Each of the three
 * must be a number when present, within +-2^53 (else
 * AC_JOSE_ERR_CLAIM_INVALID). */
ac_jose_status ac_jose_check_times(const json_t *claims, apr_int64_t now,
                                   apr_int64_t leeway);

/* iss equal to `issuer` (exact, case-sensitive string comparison):
 * AC_JOSE_OK, or AC_JOSE_ERR_WRONG_ISSUER, or missing / type. */
ac_jose_status ac_jose_check_issuer(const json_t *claims, const char *issuer);

/* aud (a string, or an array of strings) contains `audience`:
 * AC_JOSE_OK, or AC_JOSE_ERR_WRONG_AUDIENCE, or missing / type (an array
 * with a non-string member is of the wrong type). */
ac_jose_status ac_jose_check_audience(const json_t *claims,
                                      const char *audience);

/* The token's scopes as one space-separated string: "scope" (a
 * space-separated string, RFC 8693 section 4.2 and RFC 9068 section 2.2.3;
 * anything else is of the wrong type) or, when it is absent, "scp" (an
 * array of strings, or a space-separated string).  Runs of
 * spaces collapse; each scope must be an RFC 6749 section 3.3 scope-token
 * (printable ASCII, no space, '"' or '\'), else AC_JOSE_ERR_CLAIM_INVALID.
 * No scope claim: AC_JOSE_OK and "". */
ac_jose_status ac_jose_claim_scopes(apr_pool_t *p, const json_t *claims,
                                    const char **scopes);

/* ac_jose_check_times() for claims in which exp is optional (an RFC 7662
 * introspection answer): only nbf, when present, is checked. */
ac_jose_status ac_jose_check_times_no_exp(const json_t *claims,
                                          apr_int64_t now,
                                          apr_int64_t leeway);

/* The auth data of validated claims, as the text of one JSON object
 * (compact): every top-level scalar member (strings, numbers, booleans),
 * aud also as an array of strings, and "source": `source`.  Members named
 * "scheme" (the chain's) and "source" are left out, and "active" when
 * `source` is "introspection". */
const char *ac_jose_claims_data(apr_pool_t *p, const json_t *claims,
                                const char *source);

/* All of the claims, nested members included, as the text of one JSON
 * object (compact), or NULL when jansson cannot write them. */
const char *ac_jose_claims_json(apr_pool_t *p, const json_t *claims);

/* The same scalar members as environment variables, in one block:
 * "<name>=<length>:<value>" one after the other, the name reduced to
 * [A-Za-z0-9_] (others become '_'; a claim named "" is left out), the
 * value up to its first NUL, numbers as JSON writes them, booleans as
 * true / false. */
const char *ac_jose_claims_env(apr_pool_t *p, const json_t *claims,
                               const char *source);

/* Read the next variable of such a block, advancing *block: 1, or 0 at
 * its end (or at anything malformed). */
int ac_jose_claims_env_next(const char **block, const char **name,
                            apr_size_t *name_len, const char **value,
                            apr_size_t *value_len);

#endif /* AC_JOSE_H */
