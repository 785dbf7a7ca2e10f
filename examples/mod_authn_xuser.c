/* Licensed under the Apache License, Version 2.0.
 *
 * mod_authn_xuser -- the custom scheme of Django REST framework's
 * documentation ("authenticate from an X-Username header"), written
 * against nothing but the installed <mod_auth_chain.h>: it shows how a
 * third party adds a scheme to `AuthChain`.
 *
 *     LoadModule authn_xuser_module modules/mod_authn_xuser.so
 *     <Location /api>
 *         AuthType Chain
 *         AuthChain xuser basic
 *         AuthXUserKnown alice bob
 *         Require valid-user
 *     </Location>
 *
 * No X-Username header: the scheme declines (the next one is tried).  A
 * name listed by AuthXUserKnown: granted.  Any other name: denied, "No
 * such user".  (Trusting a client-supplied header is only sound behind a
 * proxy that sets it; this is an example of the API, not a scheme to
 * deploy.)
 */

#include "apr_strings.h"
#include "apr_tables.h"

#include "httpd.h"
#include "http_config.h"
#include "ap_provider.h"

#include <mod_auth_chain.h>

module AP_MODULE_DECLARE_DATA authn_xuser_module;

typedef struct {
    apr_array_header_t *known;   /* const char *: the user names */
} xuser_dir_conf;

static void *create_xuser_dir_config(apr_pool_t *p, char *dir)
{
    xuser_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    conf->known = apr_array_make(p, 4, sizeof(const char *));
    return conf;
}

static const char *add_known(cmd_parms *cmd, void *dconf, const char *name)
{
    xuser_dir_conf *conf = dconf;

    APR_ARRAY_PUSH(conf->known, const char *) = name;
    return NULL;
}

static const command_rec xuser_cmds[] = {
    AP_INIT_ITERATE("AuthXUserKnown", add_known, NULL, OR_AUTHCFG,
                    "user names the X-Username scheme accepts"),
    {NULL}
};

static auth_chain_status xuser_authenticate(request_rec *r,
                                            auth_chain_result *res)
{
    xuser_dir_conf *conf = ap_get_module_config(r->per_dir_config,
                                                &authn_xuser_module);
    const char *name = apr_table_get(r->headers_in, "X-Username");
    int i;

    if (name == NULL || *name == '\0') {
        return AUTH_CHAIN_DECLINED;
    }
    for (i = 0; i < conf->known->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(conf->known, i, const char *), name) == 0) {
            res->user = name;
            res->data = "{\"header\":\"X-Username\"}";
            res->scopes = "example";
            return AUTH_CHAIN_GRANTED;
        }
    }
    res->user = name;
    res->reason = "No such user";
    return AUTH_CHAIN_DENIED;
}

/* What decides the answer for r: the names its location accepts.  A
 * subrequest or internal redirect into a location with another list is
 * asked again instead of reusing the earlier answer. */
static const char *xuser_settings(request_rec *r)
{
    xuser_dir_conf *conf = ap_get_module_config(r->per_dir_config,
                                                &authn_xuser_module);

    return apr_array_pstrcat(r->pool, conf->known, ' ');
}

static const auth_chain_provider xuser_provider = {
    "XUser",
    xuser_authenticate,
    NULL,       /* no challenge: a client cannot be asked for this header */
    NULL,       /* no scope challenge */
    xuser_settings
};

static void register_hooks(apr_pool_t *p)
{
    ap_register_provider(p, AUTH_CHAIN_PROVIDER_GROUP, "xuser",
                         AUTH_CHAIN_PROVIDER_VERSION, &xuser_provider);
}

AP_DECLARE_MODULE(authn_xuser) = {
    STANDARD20_MODULE_STUFF,
    create_xuser_dir_config,
    NULL,
    NULL,
    NULL,
    xuser_cmds,
    register_hooks
};
