#!/usr/bin/env bash
# Throw-away PostgreSQL cluster for tests and CI.
#
#   pg-throwaway.sh start <dir>         initdb into <dir>, start a server on 127.0.0.1:<free port>
#                                       with trust auth and fsync=off, create database raddx_test,
#                                       print its SQLAlchemy URL on stdout (everything else: stderr)
#   pg-throwaway.sh stop <dir>          stop the server and remove <dir>; a no-op when <dir> is gone
#   pg-throwaway.sh watch <pid> <dir>   detach a watchdog that runs `stop <dir>` once <pid> exits
#   pg-throwaway.sh mktemp              make and print a fresh directory suited to `start`
#   pg-throwaway.sh bindir              print the PostgreSQL server bin directory
#
# Execute it rather than source it: the functions rely on `set -euo pipefail`, which a sourcing
# shell's command substitutions would not apply.
#
# Exit status: 0 ok, 1 failure, 2 usage, 3 no PostgreSQL server binaries on this machine (callers
# such as tests/postgres_fixture.py skip on 3 and fail on anything else).
#
# Why a real initdb and not the Debian cluster tools (pg_createcluster): this works the same on
# a developer laptop (any user, any distribution) and on CI as root, touches nothing outside <dir>,
# and leaves nothing behind. initdb and postgres refuse to run as root, so as root everything runs
# as $PG_THROWAWAY_USER (default `postgres`, created as a system user if missing) and <dir> is
# chowned to it; <dir> must therefore sit where that user can reach it (e.g. under /tmp, not under
# a 0700 directory such as pytest's basetemp); `mktemp` picks such a place.

_pgt_log() { printf 'pg-throwaway: %s\n' "$*" >&2; }

# The directory holding initdb/pg_ctl/postgres. `pg_config --bindir` is tried first because it
# names the installation a developer chose; Debian's /usr/bin/pg_config comes from libpq-dev and
# may name a version whose server is not installed, hence the check for initdb. Newest version
# wins among /usr/lib/postgresql/*/bin.
pg_throwaway_bindir() {
    local d
    if [[ -n "${PG_BINDIR:-}" && -x "$PG_BINDIR/initdb" ]]; then
        printf '%s\n' "$PG_BINDIR"
        return 0
    fi
    if command -v pg_config >/dev/null 2>&1; then
        d=$(pg_config --bindir 2>/dev/null || true)
        if [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
            printf '%s\n' "$d"
            return 0
        fi
    fi
    d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null |
        sort -V | tail -n 1 || true)
    if [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
        printf '%s\n' "$d"
        return 0
    fi
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        d=$(dirname "$(readlink -f "$(command -v initdb)")")
        if [[ -x "$d/pg_ctl" ]]; then
            printf '%s\n' "$d"
            return 0
        fi
    fi
    return 3
}

# Run a command as the cluster's owner: directly when we are not root, via runuser (or su) when
# we are, because initdb/postgres refuse root. `cd /` first: initdb fails with "could not identify
# current directory" when the owner cannot read the caller's working directory (e.g. /root).
_pgt_as_owner() {
    local owner=$1
    shift
    if [[ "$(id -u)" != 0 ]]; then
        (cd / && "$@")
    elif command -v runuser >/dev/null 2>&1; then
        (cd / && runuser -u "$owner" -- "$@")
    else
        # shellcheck disable=SC2016  # $0 and $@ belong to the inner sh
        (cd / && su -s /bin/sh "$owner" -c '"$0" "$@"' -- "$@")
    fi
}

# A new empty directory for `start`. /dev/shm when it is a roomy tmpfs: measured on a VM disk,
# CREATE DATABASE takes ~220 ms there even with fsync=off and ~10 ms on tmpfs, and the fixtures
# create one database per test. Docker's default 64 MB /dev/shm is too small for a cluster, hence
# the 1 GiB floor; otherwise $TMPDIR or /tmp. PG_THROWAWAY_PARENT overrides the choice.
pg_throwaway_mktemp() {
    local parent=${PG_THROWAWAY_PARENT:-} avail_kib dir
    if [[ -z "$parent" ]]; then
        parent=${TMPDIR:-/tmp}
        if [[ -d /dev/shm && -w /dev/shm ]]; then
            avail_kib=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }' || true)
            if [[ "$avail_kib" =~ ^[0-9]+$ ]] && ((avail_kib >= 1048576)); then
                parent=/dev/shm
            fi
        fi
    fi
    dir=$(mktemp -d "$parent/raddx-pg.XXXXXXXX")
    # Marked at once, so that `stop` cleans up even if `start` gives up before initdb.
    : >"$dir/.pg-throwaway"
    printf '%s\n' "$dir"
}

_pgt_free_port() {
    "${PYTHON:-python3}" - <<'EOF'
import socket

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
EOF
}

pg_throwaway_start() {
    local dir=${1:?usage: pg_throwaway_start <dir>}
    local bindir owner sockdir locale_opt port attempt url
    bindir=$(pg_throwaway_bindir) || {
        _pgt_log "no PostgreSQL server binaries (initdb, pg_ctl) found; install postgresql"
        return 3
    }
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    if [[ -n "$(find "$dir" -mindepth 1 -maxdepth 1 ! -name .pg-throwaway -print -quit)" ]]; then
        _pgt_log "$dir is not empty; refusing to initdb into it"
        return 1
    fi
    # The marker lets `stop` remove the directory without risking an `rm -rf` of something else.
    : >"$dir/.pg-throwaway"
    mkdir "$dir/sock"

    owner=$(id -un)
    if [[ "$(id -u)" == 0 ]]; then
        owner=${PG_THROWAWAY_USER:-postgres}
        if ! id -u "$owner" >/dev/null 2>&1; then
            _pgt_log "creating system user $owner to run PostgreSQL (it refuses to run as root)"
            useradd --system --user-group --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin "$owner"
        fi
        chown -R "$owner:" "$dir"
        if ! _pgt_as_owner "$owner" test -w "$dir"; then
            _pgt_log "user $owner cannot write $dir (is a parent directory mode 0700?)"
            return 1
        fi
    fi
    printf 'OWNER=%q\nBINDIR=%q\n' "$owner" "$bindir" >"$dir/state"

    # C.UTF-8 ships with glibc >= 2.35 (Debian 12); it gives UTF-8 ctype (upper() on non-ASCII
    # names) with code-point collation, so results do not depend on the host's locale.
    locale_opt=--no-locale
    # (No grep -q: with pipefail, locale's SIGPIPE on an early grep exit would read as "absent".)
    if locale -a 2>/dev/null | grep -ix 'c\.utf-\?8' >/dev/null; then
        locale_opt=--locale=C.UTF-8
    fi
    _pgt_as_owner "$owner" "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust \
        --encoding=UTF8 "$locale_opt" --no-sync --no-instructions >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        return 1
    }

    # Unix sockets are limited to ~107 bytes of path; skip ours rather than fail on deep temp dirs.
    sockdir="$dir/sock"
    if ((${#sockdir} > 80)); then
        sockdir=""
    fi
    # Durability is worthless for a cluster that is deleted afterwards; these settings make
    # CREATE DATABASE and commits cheap. Parallel query is off because it only adds worker
    # start-up cost (and /dev/shm use in containers) for the tiny tables tests create.
    cat >>"$dir/data/postgresql.conf" <<EOF

# --- pg-throwaway.sh ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$sockdir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
max_parallel_workers_per_gather = 0
max_wal_size = 1GB
EOF

    # The port is free when probed but may be taken before postgres binds it; retry a few times.
    for attempt in 1 2 3 4 5; do
        port=$(_pgt_free_port)
        if _pgt_as_owner "$owner" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" \
            -o "-p $port" -w -t 60 start >/dev/null 2>&1; then
            break
        fi
        _pgt_log "start on port $port failed (attempt $attempt)"
        port=""
    done
    if [[ -z "$port" ]]; then
        tail -n 20 "$dir/postgres.log" >&2 || true
        return 1
    fi
    printf 'PORT=%q\n' "$port" >>"$dir/state"

    "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres raddx_test >&2 || return 1
    url="postgresql+psycopg://postgres@127.0.0.1:$port/raddx_test"
    printf '%s\n' "$url" >"$dir/url"
    printf '%s\n' "$url"
}

pg_throwaway_stop() {
    local dir=${1:?usage: pg_throwaway_stop <dir>}
    # shellcheck disable=SC2034  # PORT is set by the state file, kept there for humans
    local OWNER BINDIR PORT pid
    [[ -d "$dir" ]] || return 0
    if [[ ! -e "$dir/.pg-throwaway" ]]; then
        _pgt_log "$dir was not made by pg-throwaway.sh; not touching it"
        return 1
    fi
    if [[ -f "$dir/state" && -f "$dir/data/postmaster.pid" ]]; then
        # shellcheck disable=SC1091
        source "$dir/state"
        # Immediate mode: nothing in the cluster is worth a clean checkpoint.
        if ! _pgt_as_owner "$OWNER" "$BINDIR/pg_ctl" -D "$dir/data" -m immediate -w -t 30 \
            stop >/dev/null 2>&1; then
            pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)
            if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
                _pgt_log "pg_ctl stop failed; killing postmaster $pid"
                kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
    fi
    rm -rf "$dir"
}

# Detach a process that waits for <pid> to exit and then stops the cluster. The test fixture uses
# it so the cluster lives exactly as long as the pytest run, even when that run is killed; setsid
# keeps it out of the terminal's process group so Ctrl-C on pytest does not kill it first.
pg_throwaway_watch() {
    local pid=${1:?usage: pg_throwaway_watch <pid> <dir>} dir=${2:?usage: pg_throwaway_watch <pid> <dir>}
    local self
    if [[ ! "$pid" =~ ^[0-9]+$ ]]; then
        _pgt_log "watch: not a process id: $pid"
        return 2
    fi
    self=$(readlink -f "${BASH_SOURCE[0]}")
    # shellcheck disable=SC2016  # expanded by the watchdog's own bash
    setsid bash -c '
        while kill -0 "$1" 2>/dev/null; do sleep 0.5; done
        exec bash "$2" stop "$3"
    ' pg-throwaway-watch "$pid" "$self" "$dir" </dev/null >/dev/null 2>&1 &
    disown
}

set -euo pipefail
_pgt_usage="usage: $0 start <dir> | stop <dir> | watch <pid> <dir> | mktemp | bindir"
case "${1:-}:$#" in
start:2) pg_throwaway_start "$2" ;;
stop:2) pg_throwaway_stop "$2" ;;
watch:3) pg_throwaway_watch "$2" "$3" ;;
mktemp:1) pg_throwaway_mktemp ;;
bindir:1) pg_throwaway_bindir ;;
*)
    _pgt_log "$_pgt_usage"
    exit 2
    ;;
esac
