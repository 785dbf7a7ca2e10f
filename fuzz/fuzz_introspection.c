/* Licensed under the Apache License, Version 2.0.
 *
 * fuzz_introspection -- an RFC 7662 introspection answer, read by the
 * steps of judge_introspection() in modules/oauth2/mod_authn_oauth2.c
 * (which needs a request and an HTTP exchange, so its few lines of glue
 * are repeated here over the same functions of modules/common; keep the
 * two in step): json_loadb with JSON_REJECT_DUPLICATES, at most
 * MAX_INTROSPECTION bytes; a JSON object with a boolean `active`; the
 * times (ac_jose_check_times, or ac_jose_check_times_no_exp without exp);
 * the user claim (`sub`, a non-empty string); ac_jose_claim_scopes; the
 * auth data and the environment block (ac_jose_claims_data,
 * ac_jose_claims_env); the expiry (ac_jose_claim_time of exp).
 * Invariants: the auth data is a JSON object that parses again, without
 * `active`, with its source; the environment block reads to its end with
 * clean names; every status has a description.
 */

#include "fuzz.h"

#include "apr_lib.h"

#include "ac_common.h"
#include "ac_jose.h"

/* as in mod_authn_oauth2.c */
#define MAX_INTROSPECTION (64 * 1024)
#define NOW 1700000000
#define LEEWAY 60

/* check_times() of mod_authn_oauth2.c for an introspection answer:
 * exp is optional there. */
static ac_jose_status check_times(const json_t *claims)
{
    return json_object_get(claims, "exp") != NULL
           ? ac_jose_check_times(claims, NOW, LEEWAY)
           : ac_jose_check_times_no_exp(claims, NOW, LEEWAY);
}

/* What grant_from_claims() keeps: the auth data must be one JSON object
 * that parses again and names its source; the environment block must read
 * to its end, with names of [A-Za-z0-9_] only. */
static void check_data(apr_pool_t *p, const json_t *claims)
{
    const char *data = ac_jose_claims_data(p, claims, "introspection");
    const char *env = ac_jose_claims_env(p, claims, "introspection");
    const char *name, *value;
    apr_size_t name_len, value_len, i;
    json_t *again, *source;

    FUZZ_ASSERT(data != NULL && env != NULL);
    again = json_loads(data, JSON_REJECT_DUPLICATES, NULL);
    FUZZ_ASSERT(json_is_object(again));
    FUZZ_ASSERT(json_object_get(again, "active") == NULL);
    source = json_object_get(again, "source");
    FUZZ_ASSERT(json_is_string(source)
                && strcmp(json_string_value(source), "introspection") == 0);
    json_decref(again);
    while (ac_jose_claims_env_next(&env, &name, &name_len, &value,
                                   &value_len)) {
        FUZZ_ASSERT(name_len > 0);
        for (i = 0; i < name_len; i++) {
            FUZZ_ASSERT(apr_isalnum(name[i]) || name[i] == '_');
        }
        FUZZ_ASSERT(memchr(value, '\0', value_len) == NULL);
    }
    FUZZ_ASSERT(*env == '\0');
}

static void judge(apr_pool_t *p, json_t *answer)
{
    const json_t *active = json_object_get(answer, "active"), *user;
    const char *scopes;
    apr_int64_t exp;
    ac_jose_status st;

    if (!json_is_boolean(active) || !json_is_true(active)) {
        return;
    }
    st = check_times(answer);
    FUZZ_ASSERT(ac_jose_strerror(st) != NULL);
    if (st != AC_JOSE_OK) {
        return;
    }
    user = json_object_get(answer, "sub");
    if (!json_is_string(user) || json_string_length(user) == 0) {
        return;
    }
    st = ac_jose_claim_scopes(p, answer, &scopes);
    FUZZ_ASSERT(ac_jose_strerror(st) != NULL);
    if (st != AC_JOSE_OK) {
        return;
    }
    FUZZ_ASSERT(scopes != NULL && strchr(scopes, '"') == NULL);
    (void)apr_pstrmemdup(p, json_string_value(user),
                         json_string_length(user));
    check_data(p, answer);
    if (ac_jose_claim_time(answer, "exp", &exp) == AC_JOSE_OK) {
        FUZZ_ASSERT(exp <= 9007199254740992LL && exp >= -9007199254740992LL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    json_error_t jerr;
    json_t *answer;

    if (size > MAX_INTROSPECTION) {
        return 0;               /* ac_http_fetch stops at max_size */
    }
    answer = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
                        &jerr);
    if (answer != NULL && json_is_object(answer)) {
        judge(p, answer);
    }
    json_decref(answer);
    fuzz_done();
    return 0;
}
