# shellcheck shell=bash
# build/lib.sh -- shared by build/check and build/demo (sourced, not run).
#
# Installs the Debian packages, drops from root to the unprivileged user
# `authchain` (Apache::Test and initdb refuse root), builds the tree and
# runs a throwaway PostgreSQL.  Functions are prefixed ac_.

AC_USER=${AC_USER:-authchain}

# Everything a build, the tests and the demo need, as Debian packages.
AC_PACKAGES="apache2 apache2-dev apache2-utils libapache2-mod-perl2
    libssl-dev libpq-dev libjansson-dev libcurl4-openssl-dev libhiredis-dev
    libaprutil1-dbd-pgsql postgresql autoconf automake libtool pkg-config
    make gcc curl redis-server memcached libcryptx-perl libhttp-daemon-perl
    libwww-perl liblwp-protocol-https-perl libio-socket-ssl-perl openssl
    clang-14 libclang-rt-14-dev prometheus"

ac_say() { printf '==> %s\n' "$*" >&2; }
ac_warn() { printf 'warning: %s\n' "$*" >&2; }
ac_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The packages of AC_PACKAGES that are not installed.
ac_missing_packages() {
    local p missing=
    for p in $AC_PACKAGES; do
        # Any installed PostgreSQL server will do.
        [ "$p" = postgresql ] && ac_pg_bindir >/dev/null 2>&1 && continue
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
            grep -q '^install ok installed$' || missing="$missing $p"
    done
    printf '%s\n' "${missing# }"
}

# As root: install what is missing (apt-get update once, no prompts).  As
# another user: fail early, naming what to install.
ac_install_packages() {
    local missing
    missing=$(ac_missing_packages)
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        ac_die "missing Debian packages: $missing (install them, or run this script as root)"
    fi
    ac_say "installing Debian packages: $missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q || ac_die "apt-get update failed"
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing </dev/null ||
        ac_die "apt-get install failed"
}

# Copy the source tree $1 into the existing directory $2.  Only the files
# git knows of (tracked or not ignored) when $1 is a git work tree, so that
# build products of an earlier in-tree build do not travel along; else
# everything but .git, and a configured copy is cleaned with make distclean.
# shellcheck disable=SC2016  # the sh -c script is single-quoted on purpose
ac_copy_sources() {
    local src=$1 dst=$2
    if command -v git >/dev/null 2>&1 &&
        git -c safe.directory='*' -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$src" && git -c safe.directory='*' ls-files -z --cached --others --exclude-standard |
            xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
            tar --null -T - -cf -) | tar -C "$dst" -xf - ||
            { ac_warn "cannot copy $src to $dst"; return 1; }
    else
        tar -C "$src" --exclude=./.git -cf - . | tar -C "$dst" -xf - ||
            { ac_warn "cannot copy $src to $dst"; return 1; }
        if [ -f "$dst/Makefile" ]; then
            make -C "$dst" -s distclean >/dev/null 2>&1 || true
        fi
    fi
}

# A copy of the source tree $1 in a new directory owned by AC_USER; prints
# its path.
ac_copy_tree() {
    local src=$1 dst
    dst=$(mktemp -d "${TMPDIR:-/tmp}/authchain.XXXXXX") || ac_die "mktemp failed"
    ac_copy_sources "$src" "$dst" || ac_die "cannot copy $src to $dst"
    chown -R "$AC_USER:" "$dst"
    chmod 755 "$dst"
    printf '%s\n' "$dst"
}

# When root: make sure AC_USER exists, copy the tree, and run the calling
# script ($1, relative to the tree, e.g. build/check) in the copy as AC_USER
# with the remaining arguments; then remove the copy and exit with the
# script's status.  When not root: return, and the caller goes on in place.
ac_drop_root() {
    local script=$1; shift
    [ "$(id -u)" -eq 0 ] || return 0
    id "$AC_USER" >/dev/null 2>&1 || useradd -m -s /bin/bash "$AC_USER" ||
        ac_die "cannot create the user $AC_USER"
    local home rc
    home=$(getent passwd "$AC_USER" | cut -d: -f6)
    if [ -z "$home" ] || [ ! -d "$home" ]; then
        home=$(mktemp -d) && chown "$AC_USER" "$home"
    fi
    AC_COPY=$(ac_copy_tree "$AC_TOP")
    ac_say "running $script as $AC_USER in $AC_COPY"
    if [ "${AC_KEEP:-no}" = yes ]; then
        ac_say "$AC_COPY will be kept"
    else
        trap 'rm -rf "$AC_COPY"' EXIT
    fi
    # runuser runs in the background so that a signal to us (Ctrl-C, a CI
    # timeout) can be passed on as SIGTERM to the script, which cleans up
    # after itself (httpd, PostgreSQL).  Straight to the script: runuser
    # would forward it too, but SIGKILLs the script 2 seconds later.
    runuser -u "$AC_USER" -- env HOME="$home" USER="$AC_USER" LOGNAME="$AC_USER" \
        PATH="$PATH" bash "$AC_COPY/$script" "$@" &
    AC_CHILD=$!
    trap 'ac_signal_child' INT TERM HUP
    rc=0
    wait "$AC_CHILD" || rc=$?
    # wait returns early when a trapped signal arrives: wait for the end.
    while kill -0 "$AC_CHILD" 2>/dev/null; do
        rc=0
        wait "$AC_CHILD" || rc=$?
    done
    exit "$rc"
}

ac_signal_child() {
    local pids
    pids=$(pgrep -P "$AC_CHILD" 2>/dev/null)
    # shellcheck disable=SC2086
    kill -TERM ${pids:-$AC_CHILD} 2>/dev/null
}

# autogen, configure and make in the current directory ($1: log file; the
# other arguments go to configure).
ac_build() {
    local log=$1 jobs
    shift
    jobs=$(nproc 2>/dev/null || echo 2)
    ac_say "build: autogen, configure${*:+ $*}, make -j$jobs (log: $log)"
    {
        build/autogen.sh &&
        ./configure --enable-silent-rules "$@" &&
        make -j"$jobs"
    } >"$log" 2>&1
    local rc=$?
    # Compiler warnings are worth seeing even when the build succeeds.
    grep -E 'warning:|error:' "$log" | grep -v '^configure' >&2 || true
    if [ $rc -ne 0 ]; then
        tail -n 40 "$log" >&2
        ac_warn "build failed (full log: $log)"
    fi
    return $rc
}

# The server's bin directory (initdb, pg_ctl, createdb): that of an initdb
# on PATH (symlinks resolved), else Debian's newest installed server.
ac_pg_bindir() {
    local d
    if command -v initdb >/dev/null 2>&1; then
        d=$(dirname "$(readlink -f "$(command -v initdb)")")
        [ -x "$d/pg_ctl" ] && [ -x "$d/createdb" ] && { printf '%s\n' "$d"; return 0; }
    fi
    for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
        [ -x "$d/initdb" ] && { printf '%s\n' "$d"; return 0; }
    done
    return 1
}

# A TCP port nobody listens on (for PostgreSQL it only names the socket).
ac_free_port() {
    local port tries=0
    while [ $tries -lt 50 ]; do
        port=$(( 20000 + RANDOM % 20000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            printf '%s\n' "$port"
            return 0
        fi
        tries=$((tries + 1))
    done
    return 1
}

# Start a throwaway PostgreSQL in directory $1 (data in $1/data, Unix
# socket in $1, no TCP) with database $2, and export AUTHCHAIN_PG* (and
# PG* for psql).  AC_PG_DIR remembers it for ac_pg_stop.  Returns non-zero
# (having said why) on failure.
ac_pg_start() {
    local dir=$1 db=$2 bindir port opts
    bindir=$(ac_pg_bindir) ||
        { ac_warn "initdb not found: install the Debian package postgresql"; return 1; }
    port=$(ac_free_port) || { ac_warn "no free port for PostgreSQL"; return 1; }
    mkdir -p "$dir"
    ac_say "PostgreSQL: initdb in $dir, socket $dir/.s.PGSQL.$port"
    if ! "$bindir/initdb" -D "$dir/data" -U "$(id -un)" -A trust -E UTF8 \
            --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2
        ac_warn "initdb failed"
        return 1
    fi
    AC_PG_DIR=$dir
    AC_PG_BINDIR=$bindir
    opts="-c listen_addresses='' -c unix_socket_directories='$dir' -p $port -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
    if ! "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgresql.log" -w -t 30 \
            -o "$opts" \
            start >/dev/null; then
        cat "$dir/postgresql.log" >&2
        ac_warn "PostgreSQL did not start"
        return 1
    fi
    "$bindir/createdb" -h "$dir" -p "$port" "$db" ||
        { ac_warn "createdb $db failed"; return 1; }
    export AUTHCHAIN_PGHOST=$dir AUTHCHAIN_PGPORT=$port
    export AUTHCHAIN_PGDATABASE=$db AUTHCHAIN_PGUSER
    AUTHCHAIN_PGUSER=$(id -un)
    export PGHOST=$dir PGPORT=$port PGDATABASE=$db PGUSER=$AUTHCHAIN_PGUSER
    # how to stop and start it again, for the outage tests
    export AUTHCHAIN_PGBIN=$bindir AUTHCHAIN_PGDATA=$dir/data
    export AUTHCHAIN_PGOPTS=$opts
}

# Give the next test run a database as new as ac_pg_start's: start the
# server again if a test left it stopped, drop and recreate database $1.
ac_pg_reset() {
    local db=$1
    [ -n "${AC_PG_DIR:-}" ] || return 1
    if ! "$AC_PG_BINDIR/pg_ctl" -D "$AC_PG_DIR/data" status >/dev/null 2>&1; then
        ac_say "PostgreSQL: starting it again"
        "$AC_PG_BINDIR/pg_ctl" -D "$AC_PG_DIR/data" -l "$AC_PG_DIR/postgresql.log" \
            -w -t 30 -o "$AUTHCHAIN_PGOPTS" start >/dev/null ||
            { ac_warn "PostgreSQL did not start"; return 1; }
    fi
    { "$AC_PG_BINDIR/dropdb" --force --if-exists "$db" &&
        "$AC_PG_BINDIR/createdb" "$db"; } ||
        { ac_warn "recreating the database $db failed"; return 1; }
}

ac_pg_stop() {
    [ -n "${AC_PG_DIR:-}" ] && [ -f "$AC_PG_DIR/data/postmaster.pid" ] || return 0
    "$AC_PG_BINDIR/pg_ctl" -D "$AC_PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
        ac_warn "pg_ctl stop failed"
}

# Stop an httpd from its pid file $1 (if it still runs).
ac_httpd_stop() {
    local pidfile=$1 pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile" 2>/dev/null)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}
