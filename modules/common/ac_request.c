/* Licensed under the Apache License, Version 2.0. */

#include "apr_strings.h"

#include "httpd.h"
#include "http_core.h"

#include "ac_common.h"
#include "ac_request.h"

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
