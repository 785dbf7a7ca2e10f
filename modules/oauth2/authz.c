/* Licensed under the Apache License, Version 2.0.
 *
 * authz.c -- authorization on the claims of the token that authenticated
 * the request (claims.c):
 *
 *   Require auth-acr VALUE...      the token's acr is one of these
 *   Require auth-max-age SECONDS   the user authenticated (auth_time) at
 *                                  most this long ago
 *   Require auth-claim PATH VALUE...
 *                                  the claim at PATH equals one of the
 *                                  values (a member of it, for an array)
 *
 * The first two are RFC 9470 step-up authentication: when they refuse, the
 * client gets 401 with `error="insufficient_user_authentication"` and what
 * would do (`acr_values`, `max_age`) in the oauth2 challenge, so that it
 * can ask its authorization server for a token that holds.  They refuse
 * with AUTHZ_DENIED_NO_USER: mod_authz_core then goes on to authenticate
 * (the chain already has) and, refused again, answers 401 and asks for the
 * challenges (note_auth_failure), where oauth2_step_up_challenge adds the
 * attributes.  auth-claim refuses with AUTHZ_DENIED: 403, as auth-scope.
 * A request that another scheme authenticated holds none of them (403).
 */

#include <errno.h>
#include <limits.h>

#include "apr_lib.h"
#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_request.h"
#include "ap_provider.h"

#include "mod_auth.h"

#include "ac_common.h"
#include "oauth2.h"

APLOG_USE_MODULE(authn_oauth2);

/* What this request needs to step up, gathered from the rules that
 * refused it (r->request_config): acr values in the order the rules give
 * them, each once; the smallest max_age. */
typedef struct {
    apr_array_header_t *acr;        /* const char * */
    int max_age;                    /* -1: none */
} step_up;

static step_up *step_up_of(request_rec *r, int create)
{
    step_up *su = ap_get_module_config(r->request_config,
                                       &authn_oauth2_module);

    if (su == NULL && create) {
        su = apr_pcalloc(r->pool, sizeof(*su));
        su->acr = apr_array_make(r->pool, 2, sizeof(const char *));
        su->max_age = -1;
        ap_set_module_config(r->request_config, &authn_oauth2_module, su);
    }
    return su;
}

static const char *user_of(request_rec *r)
{
    return ap_escape_logitem(r->pool, r->user);
}

/* The claims a rule judges, or NULL with the answer in *st: no user yet,
 * or another scheme's user (logged). */
static const json_t *claims_for(request_rec *r, const char *rule,
                                authz_status *st)
{
    const json_t *claims;

    if (r->user == NULL) {
        *st = AUTHZ_DENIED_NO_USER;
        return NULL;
    }
    if ((claims = oauth2_request_claims(r)) == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AC_LOGNO(0570)
                      "oauth2: user '%s' was not authenticated by an "
                      "OAuth 2.0 token; Require %s refuses", user_of(r),
                      rule);
        *st = AUTHZ_DENIED;
    }
    return claims;
}

/* The words of a Require line into an array (cmd->pool). */
static apr_array_header_t *words_of(cmd_parms *cmd, const char *line)
{
    apr_array_header_t *words = apr_array_make(cmd->pool, 4,
                                               sizeof(const char *));
    const char *w;

    while (*(w = ap_getword_conf(cmd->pool, &line)) != '\0') {
        APR_ARRAY_PUSH(words, const char *) = w;
    }
    return words;
}

/* ----------------------------------------------------------------------
 * Require auth-acr VALUE...
 */

static const char *acr_parse(cmd_parms *cmd, const char *line,
                             const void **parsed)
{
    apr_array_header_t *values = words_of(cmd, line);
    int i;

    if (values->nelts == 0) {
        return "Require auth-acr needs at least one acr value";
    }
    for (i = 0; i < values->nelts; i++) {
        const char *v = APR_ARRAY_IDX(values, i, const char *), *c;

        /* acr_values is a space-separated list in a quoted-string */
        for (c = v; *c; c++) {
            if ((unsigned char)*c <= 0x20 || *c == 0x7f || *c == '"'
                || *c == '\\') {
                return apr_psprintf(cmd->pool, "Require auth-acr: '%s' "
                                    "cannot be an acr value (spaces, "
                                    "controls, quotes and backslashes "
                                    "cannot be sent in acr_values)", v);
            }
        }
    }
    *parsed = values;
    return NULL;
}

static authz_status acr_check(request_rec *r, const char *line,
                              const void *parsed)
{
    const apr_array_header_t *values = parsed;
    authz_status st = AUTHZ_DENIED;
    const json_t *claims = claims_for(r, "auth-acr", &st), *acr;
    step_up *su;
    int i, j;

    if (claims == NULL) {
        return st;
    }
    acr = json_object_get(claims, "acr");
    for (i = 0; json_is_string(acr) && i < values->nelts; i++) {
        if (strcmp(json_string_value(acr),
                   APR_ARRAY_IDX(values, i, const char *)) == 0) {
            return AUTHZ_GRANTED;
        }
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AC_LOGNO(0571)
                  "oauth2: user '%s': the token's acr (%s) is not one of "
                  "%s: step-up authentication needed", user_of(r),
                  json_is_string(acr)
                  ? ap_escape_logitem(r->pool, json_string_value(acr))
                  : acr == NULL ? "none" : "not a string",
                  ap_escape_logitem(r->pool, line));
    su = step_up_of(r, 1);
    for (i = 0; i < values->nelts; i++) {
        const char *v = APR_ARRAY_IDX(values, i, const char *);

        for (j = 0; j < su->acr->nelts; j++) {
            if (strcmp(APR_ARRAY_IDX(su->acr, j, const char *), v) == 0) {
                break;
            }
        }
        if (j == su->acr->nelts) {
            APR_ARRAY_PUSH(su->acr, const char *) = v;
        }
    }
    return AUTHZ_DENIED_NO_USER;
}

/* ----------------------------------------------------------------------
 * Require auth-max-age SECONDS
 */

static const char *max_age_parse(cmd_parms *cmd, const char *line,
                                 const void **parsed)
{
    apr_array_header_t *words = words_of(cmd, line);
    int *seconds = apr_palloc(cmd->pool, sizeof(*seconds));
    const char *err;

    if (words->nelts != 1) {
        return "Require auth-max-age needs one number of seconds";
    }
    err = ac_parse_int(cmd->pool, "Require auth-max-age",
                       APR_ARRAY_IDX(words, 0, const char *), 0, INT_MAX,
                       seconds);
    *parsed = seconds;
    return err;
}

static authz_status max_age_check(request_rec *r, const char *line,
                                  const void *parsed)
{
    int max_age = *(const int *)parsed;
    authz_status st = AUTHZ_DENIED;
    const json_t *claims = claims_for(r, "auth-max-age", &st);
    apr_int64_t auth_time, age = 0;
    ac_jose_status cs;
    step_up *su;

    if (claims == NULL) {
        return st;
    }
    cs = ac_jose_claim_time(claims, "auth_time", &auth_time);
    if (cs == AC_JOSE_OK) {
        age = apr_time_sec(apr_time_now()) - auth_time;
        if (age <= max_age) {
            return AUTHZ_GRANTED;
        }
    }
    if (cs == AC_JOSE_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AC_LOGNO(0572)
                      "oauth2: user '%s' authenticated %" APR_INT64_T_FMT
                      " s ago, more than %d: step-up authentication needed",
                      user_of(r), age, max_age);
    }
    else {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AC_LOGNO(0573)
                      "oauth2: user '%s': the token has %s auth_time: "
                      "step-up authentication needed", user_of(r),
                      cs == AC_JOSE_ERR_CLAIM_MISSING ? "no" : "an unusable");
    }
    su = step_up_of(r, 1);
    if (su->max_age < 0 || max_age < su->max_age) {
        su->max_age = max_age;
    }
    return AUTHZ_DENIED_NO_USER;
}

/* ----------------------------------------------------------------------
 * Require auth-claim PATH VALUE...
 */

/* A value of the Require line, and what it is as a JSON number. */
typedef struct {
    const char *text;
    int is_number, is_integer;
    apr_int64_t integer;
    double real;
} claim_value;

typedef struct {
    const char *path;
    apr_array_header_t *values;     /* claim_value */
} claim_rule;

/* Whether `s` is a JSON number (RFC 8259 section 6), whole. */
static int is_json_number(const char *s)
{
    const char *c = s;

    if (*c == '-') {
        c++;
    }
    if (*c == '0') {
        c++;
    }
    else if (apr_isdigit(*c)) {
        while (apr_isdigit(*c)) {
            c++;
        }
    }
    else {
        return 0;
    }
    if (*c == '.') {
        if (!apr_isdigit(*++c)) {
            return 0;
        }
        while (apr_isdigit(*c)) {
            c++;
        }
    }
    if (*c == 'e' || *c == 'E') {
        c++;
        if (*c == '+' || *c == '-') {
            c++;
        }
        if (!apr_isdigit(*c)) {
            return 0;
        }
        while (apr_isdigit(*c)) {
            c++;
        }
    }
    return *c == '\0';
}

static void read_value(claim_value *v, const char *text)
{
    char *end;

    v->text = text;
    if (!is_json_number(text)) {
        return;
    }
    v->is_number = 1;
    v->real = strtod(text, NULL);
    if (strpbrk(text, ".eE") == NULL) {
        errno = 0;
        v->integer = apr_strtoi64(text, &end, 10);
        v->is_integer = errno == 0 && *end == '\0';
    }
}

static const char *claim_parse(cmd_parms *cmd, const char *line,
                               const void **parsed)
{
    apr_array_header_t *words = words_of(cmd, line);
    claim_rule *rule = apr_pcalloc(cmd->pool, sizeof(*rule));
    const char *err;
    int i;

    if (words->nelts < 2) {
        return "Require auth-claim needs a claim name and at least one "
               "value";
    }
    rule->path = APR_ARRAY_IDX(words, 0, const char *);
    if ((err = oauth2_claim_path_error(cmd->temp_pool, rule->path))
        != NULL) {
        return apr_pstrcat(cmd->pool, "Require auth-claim: ", err, NULL);
    }
    rule->values = apr_array_make(cmd->pool, words->nelts - 1,
                                  sizeof(claim_value));
    for (i = 1; i < words->nelts; i++) {
        read_value(apr_array_push(rule->values),
                   APR_ARRAY_IDX(words, i, const char *));
    }
    *parsed = rule;
    return NULL;
}

/* Whether one JSON value (a claim, or a member of an array claim) equals
 * one of the rule's: strings as strings, numbers as numbers, true and
 * false as the words. */
static int value_matches(const json_t *j, const apr_array_header_t *values)
{
    int i;

    for (i = 0; i < values->nelts; i++) {
        const claim_value *v = &APR_ARRAY_IDX(values, i, claim_value);

        switch (json_typeof(j)) {
        case JSON_STRING:
            if (json_string_length(j) == strlen(v->text)
                && strcmp(json_string_value(j), v->text) == 0) {
                return 1;
            }
            break;
        case JSON_INTEGER:
            if (v->is_integer
                ? (apr_int64_t)json_integer_value(j) == v->integer
                : v->is_number && json_number_value(j) == v->real) {
                return 1;
            }
            break;
        case JSON_REAL:
            if (v->is_number && json_real_value(j) == v->real) {
                return 1;
            }
            break;
        case JSON_TRUE:
        case JSON_FALSE:
            if (strcmp(v->text, json_is_true(j) ? "true" : "false") == 0) {
                return 1;
            }
            break;
        default:
            break;
        }
    }
    return 0;
}

static authz_status claim_check(request_rec *r, const char *line,
                                const void *parsed)
{
    const claim_rule *rule = parsed;
    authz_status st = AUTHZ_DENIED;
    const json_t *claims = claims_for(r, "auth-claim", &st), *v, *m;
    size_t i;

    if (claims == NULL) {
        return st;
    }
    v = oauth2_claim_at(claims, rule->path);
    if (json_is_array(v)) {
        json_array_foreach(v, i, m) {
            if (value_matches(m, rule->values)) {
                return AUTHZ_GRANTED;
            }
        }
    }
    else if (v != NULL && value_matches(v, rule->values)) {
        return AUTHZ_GRANTED;
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AC_LOGNO(0574)
                  "oauth2: user '%s': the claim %s %s: Require auth-claim "
                  "%s refuses", user_of(r),
                  ap_escape_logitem(r->pool, rule->path),
                  v == NULL ? "is absent" : "matches none of the values",
                  ap_escape_logitem(r->pool, line));
    return AUTHZ_DENIED;
}

/* ----------------------------------------------------------------------
 * The challenge, and registration
 */

const char *oauth2_step_up_challenge(request_rec *r, const char *c)
{
    const step_up *su = step_up_of(r, 0);
    const char *first = c, *rest = "", *nl, *attrs, *desc;

    if (c == NULL || su == NULL) {
        return c;
    }
    if ((nl = strchr(c, '\n')) != NULL) {
        first = apr_pstrmemdup(r->pool, c, nl - c);
        rest = nl;
    }
    desc = su->acr->nelts == 0 ? "More recent authentication is required"
           : su->max_age < 0 ? "A different authentication level is "
                               "required"
           : "A different authentication level and more recent "
             "authentication are required";
    /* RFC 9470 section 3 */
    attrs = apr_pstrcat(r->pool,
                        ", error=\"insufficient_user_authentication\""
                        ", error_description=\"", desc, "\"", NULL);
    if (su->acr->nelts > 0) {
        attrs = apr_pstrcat(r->pool, attrs, ", acr_values=",
                            ac_http_quote(r->pool,
                                          apr_array_pstrcat(r->pool, su->acr,
                                                            ' ')),
                            NULL);
    }
    if (su->max_age >= 0) {
        attrs = apr_psprintf(r->pool, "%s, max_age=\"%d\"", attrs,
                             su->max_age);
    }
    return apr_pstrcat(r->pool, first, attrs, rest, NULL);
}

static const struct {
    const char *name;
    authz_provider provider;
} rules[] = {
    { "auth-acr", { &acr_check, &acr_parse } },
    { "auth-max-age", { &max_age_check, &max_age_parse } },
    { "auth-claim", { &claim_check, &claim_parse } },
};

void oauth2_register_authz(apr_pool_t *p)
{
    apr_size_t i;

    for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, rules[i].name,
                                  AUTHZ_PROVIDER_VERSION,
                                  &rules[i].provider,
                                  AP_AUTH_INTERNAL_PER_CONF);
    }
}
