/* Licensed under the Apache License, Version 2.0.
 *
 * mod_auth_chain.h -- the provider API of authchain.
 *
 * A scheme ("token", "oauth2", "session", "basic", or yours) is a provider
 * in the group AUTH_CHAIN_PROVIDER_GROUP.  mod_auth_chain calls the schemes
 * named by `AuthChain` in order, once per client request, and acts on the
 * first answer that is not AUTH_CHAIN_DECLINED.
 *
 * A third-party scheme needs nothing but this header:
 *
 *     static auth_chain_status xuser_authenticate(request_rec *r,
 *                                                 auth_chain_result *res)
 *     {
 *         const char *name = apr_table_get(r->headers_in, "X-Username");
 *         if (name == NULL)
 *             return AUTH_CHAIN_DECLINED;
 *         res->user = name;
 *         return AUTH_CHAIN_GRANTED;
 *     }
 *
 *     static const auth_chain_provider xuser_provider = {
 *         "XUser", xuser_authenticate, NULL
 *     };
 *
 *     static void register_hooks(apr_pool_t *p)
 *     {
 *         ap_register_provider(p, AUTH_CHAIN_PROVIDER_GROUP, "xuser",
 *                              AUTH_CHAIN_PROVIDER_VERSION, &xuser_provider);
 *     }
 *
 * and `AuthChain xuser basic` in httpd.conf.  The provider must be
 * registered (its LoadModule line read) before the `AuthChain` line that
 * names it; an unknown name stops httpd at start-up.
 */

#ifndef MOD_AUTH_CHAIN_H
#define MOD_AUTH_CHAIN_H

#include "httpd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The provider group and the version of this API.  Version 2 added
 * `settings` at the end of auth_chain_provider; a module built against
 * version 1 (registered under "1", with the shorter struct) still works,
 * as a provider whose `settings` is NULL. */
#define AUTH_CHAIN_PROVIDER_GROUP   "auth-chain"
#define AUTH_CHAIN_PROVIDER_VERSION "2"

/* The request note holding the JSON auth data of the credential that
 * authenticated the request (also in the env var AUTH_CHAIN_DATA). */
#define AUTH_CHAIN_DATA_NOTE "auth-chain-data"

/* The five answers a scheme can give. */
typedef enum {
    /* The request carries no credentials of this scheme: try the next. */
    AUTH_CHAIN_DECLINED = 0,
    /* The credentials identify a user: res->user must be set.  The chain
     * stops and sets r->user, r->ap_auth_type, the note and the env. */
    AUTH_CHAIN_GRANTED,
    /* Credentials of this scheme are present but malformed, unknown,
     * wrong, expired or revoked.  The chain stops: 401 with challenges. */
    AUTH_CHAIN_DENIED,
    /* The caller is identified but the request is refused (a CSRF
     * failure).  The chain stops: 403, res->reason is the body. */
    AUTH_CHAIN_FORBIDDEN,
    /* The store or issuer behind the scheme cannot answer (database down,
     * timeout).  The chain stops: 503 with Retry-After, never 401. */
    AUTH_CHAIN_UNAVAILABLE
} auth_chain_status;

/* What a scheme fills in.  The chain zeroes it before each call; every
 * string must live at least as long as r->pool. */
typedef struct {
    /* GRANTED: the user name, for r->user and REMOTE_USER. */
    const char *user;
    /* GRANTED, optional: the credential's data as the text of one JSON
     * object ("{...}"), e.g. {"id":42,"name":"ci","expires":null}.  The
     * chain adds the member "scheme" in front; do not set it yourself.
     * Never put a secret here: it reaches the backend and may be logged. */
    const char *data;
    /* GRANTED, optional: the credential's scopes, separated by spaces.
     * They feed `Require auth-scope` and AUTH_CHAIN_SCOPES. */
    const char *scopes;
    /* DENIED, optional: a short machine reason, the RFC 6750 `error`
     * attribute of the challenge (e.g. "invalid_token"). */
    const char *error;
    /* DENIED, FORBIDDEN, UNAVAILABLE: a human reason.  It goes to the log
     * at LogLevel info, into the challenge as `error_description` on
     * DENIED, and is the 403 body on FORBIDDEN.  Never a secret. */
    const char *reason;
    /* UNAVAILABLE, optional: seconds for Retry-After (default 5). */
    int retry_after;
    /* GRANTED, optional (version 2): the HTTP name of the scheme the
     * client used, for r->ap_auth_type, when it is not the provider's
     * auth_type (the oauth2 scheme: "DPoP" instead of "Bearer"). */
    const char *auth_type;
} auth_chain_result;

/* A scheme.  Register a pointer to a static one (see above). */
typedef struct {
    /* The HTTP name of the scheme, set as r->ap_auth_type (AUTH_TYPE)
     * on success: "Token", "Bearer", "Basic", ... */
    const char *auth_type;

    /* Decide for this request.  Called once per client request and
     * configuration: subrequests and internal redirects reuse the answer
     * (see `settings`).  Read your own configuration with
     * ap_get_module_config(r->per_dir_config, ...). */
    auth_chain_status (*authenticate)(request_rec *r, auth_chain_result *res);

    /* The WWW-Authenticate value this scheme offers on a 401, without
     * error attributes (e.g. `Token realm="api"`), or NULL for none.  May
     * be NULL itself.  The chain appends `error` and `error_description`
     * to the challenge of the scheme that answered DENIED.  Several
     * challenges (version 2), each its own WWW-Authenticate header, are
     * separated by a newline; the error attributes go to the first. */
    const char *(*challenge)(request_rec *r);

    /* Optional (may be NULL): the challenge to send with a 403 when this
     * scheme authenticated the request but `Require auth-scope` refused it
     * (RFC 6750 section 3.1 insufficient_scope).  `scopes` is the space
     * separated list the location requires. */
    const char *(*scope_challenge)(request_rec *r, const char *scopes);

    /* Optional (may be NULL): a fingerprint of this scheme's settings
     * for r, as a string: anything in r's per-directory configuration
     * that could change the answer (the database, the keys, the audience)
     * must change it.  After an internal redirect, an ErrorDocument or in
     * a subrequest that lands in another configuration, the chain reuses
     * the answer this scheme gave earlier for the same client request
     * only where the fingerprints are equal, and asks again elsewhere: a
     * looser location's answer never opens a stricter one.  NULL: the
     * earlier answer is reused wherever the request goes (right for a
     * scheme without per-directory settings). */
    const char *(*settings)(request_rec *r);
} auth_chain_provider;

#ifdef __cplusplus
}
#endif

#endif /* MOD_AUTH_CHAIN_H */
