/* Licensed under the Apache License, Version 2.0.
 *
 * tap.h -- the few lines of TAP the unit tests print: "1..N" first, then
 * "ok N - name" or "not ok N - name" per check.  main() returns
 * tap_done(), non-zero when a check failed or the count is off.
 */

#ifndef AC_TAP_H
#define AC_TAP_H

#include <stdio.h>

static int tap_planned, tap_run, tap_failed;

static void tap_plan(int n)
{
    tap_planned = n;
    printf("1..%d\n", n);
}

static void ok(int cond, const char *name)
{
    tap_run++;
    if (!cond) {
        tap_failed++;
    }
    printf("%sok %d - %s\n", cond ? "" : "not ", tap_run, name);
}

static int tap_done(void)
{
    return (tap_failed || tap_run != tap_planned) ? 1 : 0;
}

#endif /* AC_TAP_H */
