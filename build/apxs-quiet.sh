#!/bin/sh
# apxs-quiet.sh VERBOSE CMD... -- run an apxs command for make.
# VERBOSE "1" (make V=1): as it is.  Otherwise the command lines that apxs
# and libtool echo are dropped and everything else (compiler warnings,
# errors) is kept, on stderr.
verbose=$1; shift
if test "$verbose" = 1; then
    exec "$@"
fi
log=$(mktemp "${TMPDIR:-/tmp}/apxs.XXXXXX") || exit 1
"$@" >"$log" 2>&1
rc=$?
grep -v -e '^/[^ ]*/libtool ' -e '^libtool: ' -e '^chmod ' "$log" >&2
rm -f "$log"
exit $rc
