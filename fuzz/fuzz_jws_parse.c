/* Licensed under the Apache License, Version 2.0.
 *
 * fuzz_jws_parse -- ac_jose_jws_parse() on any compact JWS, with every
 * algorithm allowed, then the claim checks that mod_authn_oauth2 runs on
 * an unverified-then-verified token: ac_jose_check_times, _issuer,
 * _audience, ac_jose_claim_scopes (and ac_scopes_intersect on the
 * result), ac_jose_claim_string, ac_jose_jws_check_typ.  Invariants: alg
 * is exactly one implemented algorithm, never "none"; the signing input is
 * the token up to its second dot; the signature is within its bound;
 * nothing is verified; scopes are RFC 6749 scope-tokens separated by
 * single spaces; every status has a description.
 */

#include "fuzz.h"

#include "ac_common.h"
#include "ac_jose.h"

#define NOW 1700000000

static void check_status(ac_jose_status st)
{
    FUZZ_ASSERT(st >= AC_JOSE_OK && st <= AC_JOSE_ERR_INTERNAL);
    FUZZ_ASSERT(ac_jose_strerror(st) != NULL);
}

/* RFC 6749 section 3.3: scope-tokens of %x21 / %x23-5B / %x5D-7E,
 * joined by single spaces. */
static void check_scopes(const char *s)
{
    const char *c;

    FUZZ_ASSERT(*s != ' ');
    for (c = s; *c; c++) {
        if (*c == ' ') {
            FUZZ_ASSERT(c[1] != ' ' && c[1] != '\0');
            continue;
        }
        FUZZ_ASSERT(*c > 0x20 && *c < 0x7f && *c != '"' && *c != '\\');
    }
}

static void check_claims(apr_pool_t *p, const ac_jose_jws *jws)
{
    const char *scopes, *sub;
    ac_jose_status st;
    apr_int64_t t;
    double d;

    check_status(ac_jose_check_times(jws->claims, NOW, 60));
    check_status(ac_jose_check_times(jws->claims, 0, 0));
    check_status(ac_jose_check_issuer(jws->claims, "https://issuer.example"));
    check_status(ac_jose_check_audience(jws->claims, "api"));
    check_status(ac_jose_claim_number(jws->claims, "exp", &d));
    st = ac_jose_claim_time(jws->claims, "exp", &t);
    check_status(st);
    if (st == AC_JOSE_OK) {
        FUZZ_ASSERT(t <= 9007199254740992LL && t >= -9007199254740992LL);
    }
    st = ac_jose_claim_string(jws->claims, "sub", &sub);
    check_status(st);
    if (st == AC_JOSE_OK) {
        FUZZ_ASSERT(sub != NULL);
    }
    st = ac_jose_claim_scopes(p, jws->claims, &scopes);
    check_status(st);
    if (st == AC_JOSE_OK) {
        check_scopes(scopes);
        if (ac_scopes_intersect(scopes, "read write")) {
            FUZZ_ASSERT(*scopes != '\0');
        }
        if (*scopes != '\0') {
            FUZZ_ASSERT(ac_scopes_intersect(scopes, scopes));
        }
    }
    st = ac_jose_jws_check_typ(jws);
    FUZZ_ASSERT(st == AC_JOSE_OK || st == AC_JOSE_ERR_BAD_TYP);
    FUZZ_ASSERT((st == AC_JOSE_OK) == (jws->typ != NULL
                                       && ac_jose_typ_is_at_jwt(jws->typ)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *token = (const char *)data;
    ac_jose_jws *jws = NULL;
    ac_jose_status st;
    const char *name;

    st = ac_jose_jws_parse(p, token, size, AC_JOSE_ALGS_ALL, &jws);
    check_status(st);
    if (st != AC_JOSE_OK) {
        FUZZ_ASSERT(jws == NULL);
        fuzz_done();
        return 0;
    }
    FUZZ_ASSERT(size <= AC_JOSE_MAX_TOKEN);
    FUZZ_ASSERT(jws->alg != 0 && (jws->alg & (jws->alg - 1)) == 0
                && (jws->alg & AC_JOSE_ALGS_ALL) == jws->alg);
    name = ac_jose_alg_name(jws->alg);
    FUZZ_ASSERT(name != NULL && strcasecmp(name, "none") != 0);
    FUZZ_ASSERT(ac_jose_alg_from_name(name) == jws->alg);
    FUZZ_ASSERT(!jws->verified);
    FUZZ_ASSERT(json_is_object(jws->header) && json_is_object(jws->claims));
    FUZZ_ASSERT(json_object_get(jws->header, "crit") == NULL);
    FUZZ_ASSERT(jws->signing_input_len < size
                && memcmp(jws->signing_input, token,
                          jws->signing_input_len) == 0
                && jws->signing_input[jws->signing_input_len] == '\0'
                && token[jws->signing_input_len] == '.');
    FUZZ_ASSERT(memchr(jws->signing_input, '.', jws->signing_input_len)
                != NULL);
    FUZZ_ASSERT(jws->signature_len <= AC_JOSE_MAX_SIGNATURE);
    FUZZ_ASSERT(jws->signature_len * 4 / 3
                <= size - jws->signing_input_len - 1);

    /* a narrower allow-list refuses the same token after the header */
    FUZZ_ASSERT(ac_jose_jws_parse(p, token, size,
                                  AC_JOSE_ALGS_ALL & ~jws->alg, &jws)
                == AC_JOSE_ERR_ALG_NOT_ALLOWED);
    check_claims(p, jws);
    fuzz_done();
    return 0;
}
