/* Licensed under the Apache License, Version 2.0.
 *
 * mod_authn_outcome -- a test scheme ("outcome") that answers what the
 * request asks for, so that the tests can drive every outcome of the
 * provider API through a real httpd:
 *
 *     X-Outcome: granted:USER | denied | forbidden | unavailable
 *                | nouser | bogus
 *     X-Outcome-Scopes: read write      (with granted)
 *     X-Outcome-Data: {"k":"v"}         (with granted)
 *
 * No X-Outcome header: declined.  Every consultation is counted per
 * client request and reported in the X-Outcome-Calls header of the
 * response and in the env var OUTCOME_CALLS of the request that asked,
 * which lets the tests prove that subrequests and internal redirects reuse
 * the chain's answer.  Built by Apache::Test from the public header only.
 * Also registered as "outcome1" the way a module built against version 1
 * of the header registers (t/compose_chain.t).
 */

#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "ap_provider.h"

#include "mod_auth_chain.h"

static request_rec *initial_request(request_rec *r)
{
    while (r->main || r->prev) {
        r = r->main ? r->main : r->prev;
    }
    return r;
}

/* Count consultations on the client's request (the first request_rec of
 * it, which outlives its subrequests and internal redirects). */
static void count_call(request_rec *r)
{
    request_rec *first = initial_request(r);
    const char *n = apr_table_get(first->notes, "outcome-calls");
    const char *next = apr_itoa(first->pool, n ? atoi(n) + 1 : 1);

    apr_table_setn(first->notes, "outcome-calls", next);
    apr_table_setn(first->err_headers_out, "X-Outcome-Calls", next);
    apr_table_setn(r->subprocess_env, "OUTCOME_CALLS", next);
}

static auth_chain_status outcome_authenticate(request_rec *r,
                                              auth_chain_result *res)
{
    const char *want = apr_table_get(r->headers_in, "X-Outcome");

    if (want == NULL) {
        return AUTH_CHAIN_DECLINED;
    }
    count_call(r);
    if (strncmp(want, "granted:", 8) == 0) {
        res->user = want + 8;
        res->scopes = apr_table_get(r->headers_in, "X-Outcome-Scopes");
        res->data = apr_table_get(r->headers_in, "X-Outcome-Data");
        return AUTH_CHAIN_GRANTED;
    }
    if (strcmp(want, "denied") == 0) {
        res->error = "invalid_token";
        res->reason = "The outcome \"denied\" was asked for.";
        return AUTH_CHAIN_DENIED;
    }
    if (strcmp(want, "forbidden") == 0) {
        res->reason = "CSRF Failed: outcome forbidden";
        return AUTH_CHAIN_FORBIDDEN;
    }
    if (strcmp(want, "unavailable") == 0) {
        res->reason = "store down";
        res->retry_after = 7;
        return AUTH_CHAIN_UNAVAILABLE;
    }
    if (strcmp(want, "nouser") == 0) {
        return AUTH_CHAIN_GRANTED;          /* breaks the contract */
    }
    return (auth_chain_status)42;           /* "bogus": breaks it too */
}

static const char *outcome_challenge(request_rec *r)
{
    return apr_pstrcat(r->pool, "Outcome realm=\"",
                       ap_auth_name(r) ? ap_auth_name(r) : "", "\"", NULL);
}

static const char *outcome_scope_challenge(request_rec *r, const char *scopes)
{
    return apr_pstrcat(r->pool, "Outcome error=\"insufficient_scope\", "
                       "scope=\"", scopes, "\"", NULL);
}

static const auth_chain_provider outcome_provider = {
    "Outcome",
    outcome_authenticate,
    outcome_challenge,
    outcome_scope_challenge
};

/* The same scheme as a module built against version 1 of the header
 * registers it ("outcome1"): the provider struct as it was then, without
 * `settings`.  mod_auth_chain must still find and use it. */
typedef struct {
    const char *auth_type;
    auth_chain_status (*authenticate)(request_rec *r, auth_chain_result *res);
    const char *(*challenge)(request_rec *r);
    const char *(*scope_challenge)(request_rec *r, const char *scopes);
} outcome_provider_v1;

static const outcome_provider_v1 outcome1_provider = {
    "Outcome",
    outcome_authenticate,
    outcome_challenge,
    outcome_scope_challenge
};

static void register_hooks(apr_pool_t *p)
{
    ap_register_provider(p, AUTH_CHAIN_PROVIDER_GROUP, "outcome",
                         AUTH_CHAIN_PROVIDER_VERSION, &outcome_provider);
    ap_register_provider(p, AUTH_CHAIN_PROVIDER_GROUP, "outcome1", "1",
                         &outcome1_provider);
}

AP_DECLARE_MODULE(authn_outcome) = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL, NULL, NULL, NULL,
    register_hooks
};
