/* Licensed under the Apache License, Version 2.0.
 *
 * ac_request.h -- helpers of the schemes that need a request_rec.
 */

#ifndef AC_REQUEST_H
#define AC_REQUEST_H

#include "httpd.h"

/* `<scheme> realm="<AuthName>"`, the server name standing in for a missing
 * AuthName.  (mod_authn_core stores AuthName with its quotes escaped.) */
const char *ac_challenge(request_rec *r, const char *scheme);

#endif /* AC_REQUEST_H */
