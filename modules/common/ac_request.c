/* Licensed under the Apache License, Version 2.0. */

#include "apr_strings.h"

#include "httpd.h"
#include "http_core.h"

#include "ac_common.h"
#include "ac_request.h"

const int *ac_log_module_index;

const char *ac_challenge(request_rec *r, const char *scheme)
{
    const char *realm = ap_auth_name(r);

    if (realm == NULL) {
        return apr_pstrcat(r->pool, scheme, " realm=",
                           ac_http_quote(r->pool, ap_get_server_name(r)),
                           NULL);
    }
    return apr_pstrcat(r->pool, scheme, " realm=\"", realm, "\"", NULL);
}

ac_conf_place ac_place_of(const cmd_parms *cmd)
{
    ac_conf_place at;

    at.file = cmd->directive ? cmd->directive->filename : NULL;
    at.line = cmd->directive ? cmd->directive->line_num : 0;
    if (at.file == NULL && cmd->config_file != NULL) {
        at.file = cmd->config_file->name;
        at.line = cmd->config_file->line_number;
    }
    if (at.file == NULL) {
        at.file = "?";
    }
    return at;
}
