/* Licensed under the Apache License, Version 2.0.
 *
 * claims.c -- the claims of the token that authenticated a request, for
 * what decides after authentication: `Require auth-claim`, the step-up
 * rules (authz.c) and the claims passed to the backend (headers.c).  The
 * scheme keeps them, as JSON, in a note of the request that asked it; the
 * chain may have reused that answer for a subrequest or after an internal
 * redirect, so the note is looked for up to the request that holds it.
 */

#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"

#include <jansson.h>

#include "oauth2.h"

/* the parsed claims, in the pool of the request that holds the note */
#define PARSED_KEY "authn-oauth2-parsed-claims"

/* Whether the oauth2 scheme authenticated r: the chain's note names it
 * and r->ap_auth_type is one of the scheme's HTTP names. */
static int granted_by_oauth2(const request_rec *r)
{
    const char *data = apr_table_get(r->notes, AUTH_CHAIN_DATA_NOTE);

    return data != NULL && r->ap_auth_type != NULL
           && (strcmp(r->ap_auth_type, "Bearer") == 0
               || strcmp(r->ap_auth_type, "DPoP") == 0)
           && strncmp(data, "{\"scheme\":\"oauth2\"", 18) == 0;
}

/* The request of r's client request that holds the note `name`. */
static request_rec *holder_of(request_rec *r, const char *name)
{
    request_rec *rr;

    for (rr = r; rr != NULL; rr = rr->main != NULL ? rr->main : rr->prev) {
        if (apr_table_get(rr->notes, name) != NULL) {
            return rr;
        }
    }
    return NULL;
}

const char *oauth2_granted_note(request_rec *r, const char *name)
{
    request_rec *rr;

    if (!granted_by_oauth2(r) || (rr = holder_of(r, name)) == NULL) {
        return NULL;
    }
    return apr_table_get(rr->notes, name);
}

static apr_status_t release_json(void *data)
{
    json_decref(data);
    return APR_SUCCESS;
}

const json_t *oauth2_request_claims(request_rec *r)
{
    request_rec *rr;
    const char *text;
    void *parsed = NULL;
    json_t *claims;

    if (!granted_by_oauth2(r)
        || (rr = holder_of(r, OAUTH2_CLAIMS_NOTE)) == NULL) {
        return NULL;
    }
    apr_pool_userdata_get(&parsed, PARSED_KEY, rr->pool);
    if (parsed != NULL) {
        return parsed;
    }
    text = apr_table_get(rr->notes, OAUTH2_CLAIMS_NOTE);
    claims = *text ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_object(claims)) {
        /* "": the token's source had no claims; never anything but an
         * object from the scheme, but an empty one is the safe reading */
        json_decref(claims);
        claims = json_object();
    }
    apr_pool_cleanup_register(rr->pool, claims, release_json,
                              apr_pool_cleanup_null);
    apr_pool_userdata_setn(claims, PARSED_KEY, NULL, rr->pool);
    return claims;
}

const json_t *oauth2_claim_at(const json_t *claims, const char *path)
{
    const json_t *node = claims;
    const char *rest = path;

    while (json_is_object(node)) {
        apr_size_t len = strlen(rest), whole = len;
        const json_t *v = NULL;

        /* the longest prefix that ends at a dot or at the end */
        for (;;) {
            v = json_object_getn(node, rest, len);
            if (v != NULL) {
                break;
            }
            while (len > 0 && rest[--len] != '.') {
            }
            if (len == 0) {
                break;
            }
        }
        if (v == NULL) {
            return NULL;
        }
        if (len == whole) {
            return v;
        }
        node = v;
        rest += len + 1;
    }
    return NULL;
}

const char *oauth2_claim_path_error(apr_pool_t *p, const char *path)
{
    apr_size_t len = strlen(path);

    if (len == 0) {
        return "the claim name is empty";
    }
    if (path[0] == '.' || path[len - 1] == '.'
        || ap_strstr_c(path, "..") != NULL) {
        return apr_psprintf(p, "'%s' has an empty segment (a dot at its "
                            "start or end, or two together)", path);
    }
    return NULL;
}
