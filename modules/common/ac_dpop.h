/* Licensed under the Apache License, Version 2.0.
 *
 * ac_dpop.h -- DPoP proofs (RFC 9449) as a resource server checks them,
 * the JWK thumbprint (RFC 7638) that binds a token to a proof's key, the
 * URL comparison of `htu`, and the server's stateless nonces.  Pure
 * functions, without httpd, so that the unit tests and the fuzz target
 * exercise what the oauth2 scheme runs; the scheme adds what needs a
 * server: the request's method and URL, the replay cache, the secret.
 *
 * What RFC 9449 section 4.3 asks of a proof, and where it is checked:
 *   one DPoP header, a single JWT ......................... the scheme
 *   typ dpop+jwt, an asymmetric alg of the allow-list,
 *   jwk a public key (no private members), the signature
 *   by that key, jti / htm / htu / iat present ............. ac_dpop_parse
 *   htm, htu (query and fragment ignored, RFC 3986 section 6
 *   normalisation), iat within the window, ath = the
 *   token's hash, the key's thumbprint = the token's
 *   cnf.jkt ................................................ ac_dpop_check
 *   nonce ..................................... ac_dpop_nonce_valid
 *   jti seen before ........................................ the scheme
 * A failure says which rule failed (ac_dpop_strerror), never a value from
 * the proof.
 */

#ifndef AC_DPOP_H
#define AC_DPOP_H

#include "apr_pools.h"
#include "apr_thread_mutex.h"

#include "ac_jose.h"

/* a proof is small: a header with a public key, a few claims */
#define AC_DPOP_MAX_PROOF 8192
/* the longest jti kept for the replay check */
#define AC_DPOP_MAX_JTI 256
/* a thumbprint: base64url of a SHA-256 */
#define AC_DPOP_JKT_LEN 43

typedef enum {
    AC_DPOP_OK = 0,
    AC_DPOP_ERR_JWS,            /* not a compact JWS (see the jose status) */
    AC_DPOP_ERR_TYP,            /* typ is not dpop+jwt */
    AC_DPOP_ERR_ALG,            /* alg not an allowed asymmetric one */
    AC_DPOP_ERR_JWK,            /* no jwk, or not a usable public key */
    AC_DPOP_ERR_PRIVATE_KEY,    /* the jwk holds private key members */
    AC_DPOP_ERR_SIGNATURE,      /* not signed by the jwk */
    AC_DPOP_ERR_CLAIMS,         /* jti, htm, htu or iat missing or wrong */
    AC_DPOP_ERR_HTM,            /* another method */
    AC_DPOP_ERR_HTU,            /* another URL */
    AC_DPOP_ERR_IAT,            /* issued too long ago, or in the future */
    AC_DPOP_ERR_ATH,            /* missing, or not the token's hash */
    AC_DPOP_ERR_BINDING,        /* the key is not the one the token is
                                 * bound to (cnf.jkt) */
    AC_DPOP_ERR_NONCE           /* no nonce, or not a current one */
} ac_dpop_status;

/* A short English description ("proof is not for this URL"), fit for an
 * RFC 6750 error_description. */
const char *ac_dpop_strerror(ac_dpop_status st);

/* A proof whose signature was verified by its own key. */
typedef struct {
    ac_jose_alg alg;
    const ac_jose_key *key;
    const char *jkt;            /* the key's RFC 7638 thumbprint */
    const char *jti, *htm, *htu;
    const char *ath, *nonce;    /* NULL when absent */
    apr_int64_t iat;
} ac_dpop_proof;

/* The proof headers a process has met, each parsed and checked once: a
 * client signs every proof with the same header (typ, alg, jwk), making an
 * OpenSSL key of a JWK costs about half a verification, and parsing the
 * header a few microseconds.  `slots` entries at most, one per slot, by
 * the header's bytes (compared whole), each with its alg, its jwk's key
 * and thumbprint; a proof with a header met before has its alg checked
 * against the caller's allow-list and the rest of it parsed and checked
 * as ever.  An entry replaced while a request still verifies with its key
 * is freed when that request ends.  Thread-safe. */
typedef struct ac_dpop_keys ac_dpop_keys;

ac_dpop_keys *ac_dpop_keys_make(apr_pool_t *p, int slots);

/* Parse the `len` bytes of a proof and verify its signature with its
 * `jwk`: typ dpop+jwt, alg in `allowed_algs` (asymmetric ones only, HS*
 * is never accepted), a public RSA, EC or OKP jwk without private
 * members, the claims jti (at most AC_DPOP_MAX_JTI bytes), htm, htu
 * (strings), iat (a number), ath and nonce (strings when present).  The
 * header's findings from `keys` when not NULL (and added to it).  On
 * AC_DPOP_ERR_JWS *why tells what the JOSE layer refused.  *out is
 * written only on AC_DPOP_OK. */
ac_dpop_status ac_dpop_parse(apr_pool_t *p, const char *proof,
                             apr_size_t len, unsigned int allowed_algs,
                             ac_dpop_keys *keys, ac_dpop_proof **out,
                             ac_jose_status *why);

/* What the request says the proof must match. */
typedef struct {
    const char *method;         /* the request's method, e.g. "GET" */
    const char *url;            /* its URL as the client saw it (the query
                                 * and fragment, if any, are ignored) */
    apr_int64_t now;            /* epoch seconds */
    int max_age;                /* seconds a proof is good after its iat */
    int leeway;                 /* seconds of clock skew, both ways */
    const char *token;          /* the access token, NULL: none */
    apr_size_t token_len;
    const char *jkt;            /* the token's cnf.jkt, NULL: unbound */
} ac_dpop_expect;

/* Check a parsed proof against the request: htm, htu, the age of iat,
 * with a token its ath, and with a binding the key's thumbprint (in
 * constant time). */
ac_dpop_status ac_dpop_check(apr_pool_t *p, const ac_dpop_proof *proof,
                             const ac_dpop_expect *want);

/* The RFC 7638 thumbprint of a public JWK (RSA: e, kty, n; EC: crv, kty,
 * x, y; OKP: crv, kty, x), base64url, or NULL when a required member is
 * missing or not a string. */
const char *ac_dpop_jwk_thumbprint(apr_pool_t *p, const json_t *jwk);

/* base64url(SHA-256(token)), as `ath` carries it. */
const char *ac_dpop_token_hash(apr_pool_t *p, const char *token,
                               apr_size_t len);

/* An absolute http or https URL in the form two URLs are compared in
 * (RFC 9449 section 4.3, RFC 3986 section 6.2.2 and 6.2.3): scheme and
 * host in lowercase, no default port, an empty path as "/", dot segments
 * removed, percent-encodings in uppercase and unreserved characters
 * decoded; no query, no fragment, no user information.  NULL for anything
 * else. */
const char *ac_dpop_url_normalize(apr_pool_t *p, const char *url);

/* Server nonces (RFC 9449 section 8), without state: the time slot a
 * nonce was made in (`slot` = now / lifetime) and a MAC of it under the
 * server's secret.  A nonce is current in its slot and the next one. */
const char *ac_dpop_nonce_make(apr_pool_t *p, const unsigned char *secret,
                               apr_size_t secret_len, apr_int64_t slot);
int ac_dpop_nonce_valid(const char *nonce, const unsigned char *secret,
                        apr_size_t secret_len, apr_int64_t slot);

#endif /* AC_DPOP_H */
