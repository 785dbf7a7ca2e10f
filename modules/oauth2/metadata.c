/* Licensed under the Apache License, Version 2.0.
 *
 * metadata.c -- OAuth 2.0 Protected Resource Metadata (RFC 9728).  With
 * `AuthOAuth2ResourceMetadata on` in a <Location>, the resource is that
 * location's URL (AuthOAuth2ExternalURL, or this server's, and the
 * section's path); its metadata document is served, to anyone, at
 * /.well-known/oauth-protected-resource followed by that path (section
 * 3.1), and every Bearer/DPoP challenge of the resource points at it with
 * `resource_metadata` (section 5.1).  The document is made from the
 * configuration of the location: the issuers, the scopes that `Require
 * auth-scope` names there (mod_auth_chain), how tokens may be sent and
 * what binds them.  Keys are never in it (no jwks_uri: the resource does
 * not sign anything).
 */

#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"

#include "oauth2.h"

#define WELL_KNOWN "/.well-known/oauth-protected-resource"

static APR_OPTIONAL_FN_TYPE(auth_chain_scopes_at) *scopes_at;

/* scheme://host[:port] of the resource: AuthOAuth2ExternalURL, or this
 * server's as httpd names it (ServerName, UseCanonicalName). */
static const char *origin_of(request_rec *r, const oauth2_dir_conf *conf)
{
    return conf->external_url ? conf->external_url
                              : ap_construct_url(r->pool, "", r);
}

/* The resource of a section's path: no trailing slash but for the root. */
static const char *resource_path(const char *path)
{
    return path[0] == '/' && path[1] == '\0' ? "" : path;
}

const char *oauth2_resource_metadata_url(request_rec *r,
                                         const oauth2_dir_conf *conf)
{
    if (conf->resource_path == NULL) {
        return NULL;
    }
    return apr_pstrcat(r->pool, origin_of(r, conf), WELL_KNOWN,
                       resource_path(conf->resource_path), NULL);
}

/* words of a space-separated list, as a JSON array (NULL when none) */
static json_t *words_array(apr_pool_t *p, const char *list)
{
    json_t *a = json_array();
    char *copy = apr_pstrdup(p, list ? list : ""), *last, *w;

    for (w = apr_strtok(copy, " ", &last); w; w = apr_strtok(NULL, " ", &last)) {
        json_array_append_new(a, json_string(w));
    }
    if (json_array_size(a) == 0) {
        json_decref(a);
        return NULL;
    }
    return a;
}

static char *document(request_rec *r, const oauth2_dir_conf *conf)
{
    json_t *doc = json_object(), *a;
    char *out;
    int i;

    json_object_set_new(doc, "resource",
                        json_string(apr_pstrcat(r->pool, origin_of(r, conf),
                                                resource_path(
                                                    conf->resource_path),
                                                NULL)));
    if (conf->issuers && conf->issuers->nelts > 0) {
        a = json_array();
        for (i = 0; i < conf->issuers->nelts; i++) {
            json_array_append_new(a, json_string(
                APR_ARRAY_IDX(conf->issuers, i, oauth2_issuer *)->iss));
        }
        json_object_set_new(doc, "authorization_servers", a);
    }
    if (scopes_at != NULL
        && (a = words_array(r->pool, scopes_at(r->pool, r->server,
                                               conf->resource_path)))) {
        json_object_set_new(doc, "scopes_supported", a);
    }
    /* the Authorization header (also DPoP's), and the form body */
    json_object_set_new(doc, "bearer_methods_supported",
                        words_array(r->pool, conf->form_token
                                             ? "header body" : "header"));
    json_object_set_new(doc, "tls_client_certificate_bound_access_tokens",
                        json_true());
    if (conf->dpop != DPOP_OFF) {
        json_object_set_new(doc, "dpop_signing_alg_values_supported",
                            words_array(r->pool,
                                        oauth2_dpop_algs(r->pool, conf)));
        json_object_set_new(doc, "dpop_bound_access_tokens_required",
                            json_boolean(conf->dpop == DPOP_REQUIRED));
    }
    out = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    return out;
}

/* The configuration of the resource at `path`: its <Location> sections
 * merged as for a request there.  A request of our own, made as httpd
 * makes a subrequest, but only walked through the locations: no
 * translation, no file system, and above all no authentication (the
 * document is public, and a credential sent with its request must not
 * cost a signature check or a database lookup).  It lives in r's pool. */
static const oauth2_dir_conf *conf_at(request_rec *r, const char *path)
{
    request_rec *rr = apr_pcalloc(r->pool, sizeof(*rr));

    rr->pool = r->pool;
    rr->connection = r->connection;
    rr->server = r->server;
    rr->hostname = r->hostname;
    rr->request_time = r->request_time;
    rr->log = r->log;
    rr->output_filters = rr->proto_output_filters = r->proto_output_filters;
    rr->input_filters = rr->proto_input_filters = r->proto_input_filters;
    rr->request_config = ap_create_request_config(rr->pool);
    rr->per_dir_config = r->server->lookup_defaults;
    rr->allowed_methods = ap_make_method_list(rr->pool, 2);
    ap_set_sub_req_protocol(rr, r);
    rr->uri = apr_pstrdup(rr->pool, path);
    ap_run_create_request(rr);
    ap_location_walk(rr);
    return ap_get_module_config(rr->per_dir_config, &authn_oauth2_module);
}

/* A path to look up as it is: no segment that starts with a dot, no
 * empty segment, no escapes (the quick handler runs before httpd
 * normalizes the URL). */
static int plain_path(const char *path)
{
    return strchr(path, '%') == NULL && ap_strstr_c(path, "//") == NULL
           && ap_strstr_c(path, "/.") == NULL;
}

/* quick_handler: the metadata document, before any authentication or
 * authorization of the well-known URL (the document is public). */
int oauth2_metadata_handler(request_rec *r, int lookup)
{
    const char *path = r->parsed_uri.path, *want;
    const oauth2_dir_conf *conf;
    apr_size_t n = sizeof(WELL_KNOWN) - 1;
    char *body;

    if (lookup || path == NULL || strncmp(path, WELL_KNOWN, n) != 0
        || (path[n] != '\0' && path[n] != '/')) {
        return DECLINED;
    }
    want = path[n] ? path + n : "/";
    if (!plain_path(want) || (want[1] != '\0'
                              && want[strlen(want) - 1] == '/')) {
        return DECLINED;
    }
    conf = conf_at(r, want);
    if (conf->resource_path == NULL
        || strcmp(conf->resource_path, want) != 0) {
        /* <Location /api/> is the resource /api, but not /api's section */
        conf = conf_at(r, apr_pstrcat(r->pool, want, "/", NULL));
        if (conf->resource_path == NULL
            || strcmp(conf->resource_path, want) != 0) {
            return DECLINED;
        }
    }
    if (r->method_number != M_GET) {
        ap_allow_standard_methods(r, REPLACE_ALLOW, M_GET, -1);
        return HTTP_METHOD_NOT_ALLOWED;
    }
    body = document(r, conf);
    if (body == NULL) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "max-age=300");
    if (!r->header_only) {
        ap_rputs(body, r);
    }
    free(body);
    return OK;
}

void oauth2_metadata_retrieve(void)
{
    scopes_at = APR_RETRIEVE_OPTIONAL_FN(auth_chain_scopes_at);
}
