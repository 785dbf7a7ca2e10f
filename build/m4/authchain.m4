# authchain.m4 -- configure helpers for authchain.
#
# Every check that can fail names the Debian package that fixes it, so that
# a failed ./configure tells the reader what to apt-get install.

# AUTHCHAIN_MISSING(WHAT, DEBIAN-PACKAGE[, MORE])
# ----------------------------------------------
# Stop configure: WHAT is missing and DEBIAN-PACKAGE provides it; MORE is
# appended to the message as it is.
AC_DEFUN([AUTHCHAIN_MISSING],
    [AC_MSG_ERROR([$1 not found: install the Debian package $2$3])])

# AUTHCHAIN_APXS
# --------------
# Find apxs (--with-apxs=PATH, else apxs or apxs2 on PATH and in the usual
# sbin directories) and read from it everything the build needs.
# Substitutes APXS, APXS_CC, APXS_CFLAGS, APXS_CPPFLAGS, APXS_LIBEXECDIR,
# APXS_INCLUDEDIR, APXS_SYSCONFDIR, APXS_SBINDIR, APXS_TARGET, HTTPD,
# HTTPD_VERSION, APR_CONFIG, APU_CONFIG, APR_CPPFLAGS, APR_LIBS, APU_LIBS.
AC_DEFUN([AUTHCHAIN_APXS], [
    AC_ARG_WITH([apxs],
        [AS_HELP_STRING([--with-apxs=PATH],
            [path to apxs of the httpd to build for (default: apxs or apxs2 on PATH)])],
        [], [with_apxs=check])

    AS_CASE([$with_apxs],
        [no], [AC_MSG_ERROR([apxs is required; --without-apxs makes no sense])],
        [yes|check], [AC_PATH_PROGS([APXS], [apxs apxs2], [],
                          [$PATH$PATH_SEPARATOR/usr/sbin$PATH_SEPARATOR/usr/local/apache2/bin])],
        [APXS=$with_apxs])

    AS_IF([test -z "$APXS"],
        [AUTHCHAIN_MISSING([apxs], [apache2-dev], [ or pass --with-apxs=PATH])])
    AS_IF([test ! -x "$APXS"],
        [AC_MSG_ERROR([--with-apxs=$APXS is not an executable file])])

    AC_MSG_CHECKING([whether $APXS works])
    APXS_INCLUDEDIR=`$APXS -q INCLUDEDIR 2>/dev/null`
    AS_IF([test -n "$APXS_INCLUDEDIR" && test -f "$APXS_INCLUDEDIR/httpd.h"],
        [AC_MSG_RESULT([yes])],
        [AC_MSG_RESULT([no])
         AUTHCHAIN_MISSING([httpd.h (via $APXS -q INCLUDEDIR)], [apache2-dev])])

    APXS_CC=`$APXS -q CC`
    APXS_CFLAGS=`$APXS -q CFLAGS`
    APXS_CPPFLAGS="`$APXS -q CPPFLAGS` `$APXS -q EXTRA_CPPFLAGS` -I$APXS_INCLUDEDIR"
    APXS_LIBEXECDIR=`$APXS -q LIBEXECDIR`
    APXS_SYSCONFDIR=`$APXS -q SYSCONFDIR`
    APXS_SBINDIR=`$APXS -q SBINDIR`
    APXS_TARGET=`$APXS -q TARGET`
    HTTPD="$APXS_SBINDIR/$APXS_TARGET"
    AS_IF([test ! -x "$HTTPD"],
        [AUTHCHAIN_MISSING([the httpd binary $HTTPD], [apache2-bin])])
    AC_MSG_CHECKING([httpd version])
    HTTPD_VERSION=`$APXS -q HTTPD_VERSION 2>/dev/null`
    AS_IF([test -z "$HTTPD_VERSION"],
        [HTTPD_VERSION=`"$HTTPD" -v | sed -n 's|^Server version: [[^/]]*/\([[0-9.]]*\).*|\1|p'`])
    AC_MSG_RESULT([$HTTPD_VERSION])
    AS_CASE([$HTTPD_VERSION],
        [2.4.*], [],
        [AC_MSG_ERROR([[httpd 2.4 is required; $HTTPD is $HTTPD_VERSION]])])

    # APR and APR-util: the ones httpd was built with, as apxs reports them.
    APR_CONFIG=`$APXS -q APR_CONFIG 2>/dev/null`
    AS_IF([test -z "$APR_CONFIG" || test ! -x "$APR_CONFIG"],
        [AC_PATH_PROGS([APR_CONFIG], [apr-1-config apr-config])])
    AS_IF([test -z "$APR_CONFIG"], [AUTHCHAIN_MISSING([apr-1-config], [libapr1-dev])])
    APU_CONFIG=`$APXS -q APU_CONFIG 2>/dev/null`
    AS_IF([test -z "$APU_CONFIG" || test ! -x "$APU_CONFIG"],
        [AC_PATH_PROGS([APU_CONFIG], [apu-1-config apu-config])])
    AS_IF([test -z "$APU_CONFIG"], [AUTHCHAIN_MISSING([apu-1-config], [libaprutil1-dev])])

    APR_CPPFLAGS="`$APR_CONFIG --cppflags` `$APR_CONFIG --includes` `$APU_CONFIG --includes`"
    APR_LIBS="`$APR_CONFIG --link-ld --libs`"
    APU_LIBS="`$APU_CONFIG --link-ld --libs`"

    AC_SUBST([APXS])
    AC_SUBST([APXS_CC])
    AC_SUBST([APXS_CFLAGS])
    AC_SUBST([APXS_CPPFLAGS])
    AC_SUBST([APXS_LIBEXECDIR])
    AC_SUBST([APXS_INCLUDEDIR])
    AC_SUBST([APXS_SYSCONFDIR])
    AC_SUBST([APXS_SBINDIR])
    AC_SUBST([APXS_TARGET])
    AC_SUBST([HTTPD])
    AC_SUBST([HTTPD_VERSION])
    AC_SUBST([APR_CONFIG])
    AC_SUBST([APU_CONFIG])
    AC_SUBST([APR_CPPFLAGS])
    AC_SUBST([APR_LIBS])
    AC_SUBST([APU_LIBS])
])

# AUTHCHAIN_PKG(VARIABLE-PREFIX, PKG-CONFIG-MODULES, DEBIAN-PACKAGE, HEADER)
# -------------------------------------------------------------------------
# Require PKG-CONFIG-MODULES (with optional ">= version") through
# pkg-config, and check that HEADER compiles with the flags it gives.
# Substitutes PREFIX_CFLAGS and PREFIX_LIBS (env vars of those names win,
# as with PKG_CHECK_MODULES).
AC_DEFUN([AUTHCHAIN_PKG], [
    AC_REQUIRE([AUTHCHAIN_PKG_CONFIG])
    AC_ARG_VAR([$1_CFLAGS], [C compiler flags for $1 (instead of pkg-config)])
    AC_ARG_VAR([$1_LIBS], [linker flags for $1 (instead of pkg-config)])
    AC_MSG_CHECKING([for $2])
    AS_IF([test -n "$$1_LIBS"],
        [AC_MSG_RESULT([$$1_LIBS (from the environment)])],
        [$PKG_CONFIG --exists --print-errors "$2" >&AS_MESSAGE_LOG_FD 2>&1],
        [$1_CFLAGS=`$PKG_CONFIG --cflags "$2"`
         $1_LIBS=`$PKG_CONFIG --libs "$2"`
         AC_MSG_RESULT([yes])],
        [AC_MSG_RESULT([no])
         AUTHCHAIN_MISSING([$2], [$3])])
    authchain_save_CPPFLAGS=$CPPFLAGS
    CPPFLAGS="$CPPFLAGS $$1_CFLAGS"
    AC_CHECK_HEADER([$4], [], [AUTHCHAIN_MISSING([$4], [$3])])
    CPPFLAGS=$authchain_save_CPPFLAGS
    AC_SUBST([$1_CFLAGS])
    AC_SUBST([$1_LIBS])
])

# AUTHCHAIN_PKG_CONFIG
# --------------------
# Find pkg-config without needing pkg.m4 at autogen time.
AC_DEFUN([AUTHCHAIN_PKG_CONFIG], [
    AC_ARG_VAR([PKG_CONFIG], [path to pkg-config])
    AS_IF([test -z "$PKG_CONFIG"],
        [AC_PATH_PROGS([PKG_CONFIG], [pkg-config pkgconf])])
    AS_IF([test -z "$PKG_CONFIG"], [AUTHCHAIN_MISSING([pkg-config], [pkg-config])])
])

# AUTHCHAIN_CFLAGS_ADD(VARIABLE, FLAG...)
# ---------------------------------------
# Append to VARIABLE each FLAG that the C compiler accepts (with -Werror, so
# that an unknown warning option is refused rather than merely warned about).
AC_DEFUN([AUTHCHAIN_CFLAGS_ADD], [
    for authchain_flag in m4_normalize([$2]); do
        AS_VAR_PUSHDEF([authchain_cv], [authchain_cv_cflag_$authchain_flag])
        AC_CACHE_CHECK([whether $CC accepts $authchain_flag], [authchain_cv], [
            authchain_save_CFLAGS=$CFLAGS
            CFLAGS="$CFLAGS -Werror $authchain_flag"
            AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
                [AS_VAR_SET([authchain_cv], [yes])],
                [AS_VAR_SET([authchain_cv], [no])])
            CFLAGS=$authchain_save_CFLAGS])
        AS_VAR_IF([authchain_cv], [yes], [$1="$[$1] $authchain_flag"])
        AS_VAR_POPDEF([authchain_cv])
    done
])
