#!/usr/bin/env bash
# Throw-away PostgreSQL server for CI and local test runs.
#
#   .ci/postgres.sh start    start a fresh server; prints ONLY the SQLAlchemy URL on stdout
#   .ci/postgres.sh stop     stop it and delete its files (idempotent)
#   .ci/postgres.sh url      print the URL of the running server
#   .ci/postgres.sh status   exit 0 if a server for this checkout is running
#
# The server belongs to this checkout: its files live in
#   ${TMPDIR:-/tmp}/tasktracker-ci-pg-<hash of the repo path>/
# (data/, run/ for the unix socket, postgres.log and the `state` file), so a
# second `start` replaces the first and `stop` always finds it.  All logs go to
# stderr.  It listens on 127.0.0.1 only, on a free port, with trust auth and
# durability switched off (fsync etc.): test data only, never real data.
#
# Must run as root (it creates the OS user `tasktracker-pg`, because the server
# refuses to run as root) unless it is already run as a non-root user, in which
# case that user owns the server.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

PG_OS_USER="tasktracker-pg"
DB_ROLE="tasktracker"
DB_NAME="tasktracker_test"
BOOTSTRAP_SUPERUSER="postgres"

# shellcheck source=.ci/service-lib.sh
source "$SCRIPT_DIR/service-lib.sh"
service_init postgres.sh pg


# Run a command as the server's OS user (or as ourselves when not root).
as_pg() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u "$PG_OS_USER" -- "$@"
    else
        "$@"
    fi
}

find_pg_bin() {
    # Newest installed major version (sort -V: 9 < 10 < 15 < 16).
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        if [[ -x "$dir/pg_ctl" && -x "$dir/initdb" && -x "$dir/postgres" ]]; then
            printf '%s\n' "$dir"
        fi
    done | sort -V | tail -n 1
}

install_postgres() {
    [[ $(id -u) -eq 0 ]] || die "no PostgreSQL in /usr/lib/postgresql/*/bin and not root: install the 'postgresql' package"
    log "no PostgreSQL binaries in /usr/lib/postgresql/*/bin: installing Debian package 'postgresql'"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends postgresql >&2
    # The package may create and (where services can start) launch a default
    # cluster on 5432.  We never use it: stop whatever the install started.
    if command -v pg_lsclusters >/dev/null 2>&1; then
        local ver name _rest
        while read -r ver name _rest; do
            [[ "$_rest" == *online* ]] || continue
            log "stopping cluster $ver/$name started by the package install"
            pg_ctlcluster "$ver" "$name" stop >&2 || true
        done < <(pg_lsclusters --no-header 2>/dev/null || true)
    fi
}

ensure_os_user() {
    [[ $(id -u) -eq 0 ]] || return 0
    if ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
        log "creating OS user $PG_OS_USER"
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$PG_OS_USER" >&2
    fi
}

# True while PID runs.  A zombie counts as gone: the stopped postmaster is
# re-parented to PID 1, which (in some containers) reaps it only later.
pid_alive() {
    local stat
    kill -0 "$1" 2>/dev/null || return 1
    stat="$(ps -o stat= -p "$1" 2>/dev/null || true)"
    [[ -n "$stat" && "$stat" != Z* ]]
}

PGBIN="" PGDATA_DIR="" PORT="" URL="" # set by read_state
read_state() { read_state_file PGBIN PGDATA:PGDATA_DIR PORT URL; }

cmd_stop() {
    if [[ ! -e "$BASE" && ! -L "$BASE" ]]; then
        log "no server for this checkout ($BASE): nothing to stop"
        return 0
    fi
    read_state || true
    [[ -n "$PGDATA_DIR" ]] || PGDATA_DIR="$BASE/data"
    [[ -n "$PGBIN" && -x "$PGBIN/pg_ctl" ]] || PGBIN="$(find_pg_bin)"
    local pidfile="$PGDATA_DIR/postmaster.pid" pid=""
    if [[ -f "$pidfile" ]]; then
        pid="$(head -n 1 "$pidfile" 2>/dev/null || true)"
        log "stopping PostgreSQL (pid ${pid:-?}, data $PGDATA_DIR)"
        if [[ -n "$PGBIN" ]]; then
            (cd "$BASE" && as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w -t 30 stop >&2) ||
                (cd "$BASE" && as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w -t 10 stop >&2) ||
                true
        fi
        if [[ "$pid" =~ ^[0-9]+$ ]] && pid_alive "$pid"; then
            log "postmaster $pid still alive: killing its process group"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
        fi
    fi
    rm -rf -- "$BASE"
    log "stopped; removed $BASE"
}

cmd_start() {
    if [[ -e "$BASE" || -L "$BASE" ]]; then
        log "a previous server for this checkout exists: stopping it first"
        cmd_stop
    fi

    local pgbin
    pgbin="$(find_pg_bin)"
    if [[ -z "$pgbin" ]]; then
        install_postgres
        pgbin="$(find_pg_bin)"
        [[ -n "$pgbin" ]] || die "PostgreSQL binaries still missing after installing 'postgresql'"
    fi
    log "using $("$pgbin/postgres" --version) from $pgbin"

    ensure_os_user

    local data="$BASE/data" rundir="$BASE/run" logfile="$BASE/postgres.log"
    mkdir -p "$BASE"
    chmod 755 "$BASE"
    mkdir -m 700 "$data"
    mkdir -m 755 "$rundir"
    touch "$logfile"
    if [[ $(id -u) -eq 0 ]]; then
        chown "$PG_OS_USER:" "$data" "$rundir" "$logfile"
        as_pg test -w "$data" ||
            die "$PG_OS_USER cannot reach $data: is ${TMPDIR:-/tmp} traversable by other users?"
    fi
    cd "$BASE" # the server user may not be able to read the caller's cwd

    log "initdb in $data"
    if ! as_pg "$pgbin/initdb" -D "$data" -U "$BOOTSTRAP_SUPERUSER" -E UTF8 --no-sync \
        --locale=C.UTF-8 --auth=trust >&2; then
        log "initdb with --locale=C.UTF-8 failed: retrying with --locale=C"
        as_pg find "$data" -mindepth 1 -delete
        as_pg "$pgbin/initdb" -D "$data" -U "$BOOTSTRAP_SUPERUSER" -E UTF8 --no-sync \
            --locale=C --auth=trust >&2
    fi

    # Settings for a disposable test server.  The port goes in a later include
    # so a retry on a port clash can simply rewrite it.
    as_pg tee -a "$data/postgresql.conf" >/dev/null <<EOF

# --- added by .ci/postgres.sh: disposable CI server ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$rundir'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
include_if_exists = 'ci-port.conf'
EOF

    local port="" attempt started=0
    for attempt in 1 2 3 4 5; do
        port="$(free_port)"
        printf "port = %s\n" "$port" | as_pg tee "$data/ci-port.conf" >/dev/null
        log "starting server on 127.0.0.1:$port (attempt $attempt)"
        if as_pg "$pgbin/pg_ctl" -D "$data" -l "$logfile" -w -t 60 start >&2; then
            started=1
            break
        fi
        log "pg_ctl start failed; last log lines:"
        tail -n 20 "$logfile" >&2 || true
    done
    [[ $started -eq 1 ]] || die "could not start PostgreSQL (log: $logfile)"

    local url="postgresql+psycopg://$DB_ROLE@127.0.0.1:$port/$DB_NAME"
    {
        echo "PGBIN=$pgbin"
        echo "PGDATA=$data"
        echo "PORT=$port"
        echo "URL=$url"
    } >"$STATE_FILE"
    log "state file: $STATE_FILE"

    log "creating role $DB_ROLE and database $DB_NAME"
    "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" \
        -U "$BOOTSTRAP_SUPERUSER" -d postgres >&2 <<SQL
CREATE ROLE $DB_ROLE LOGIN SUPERUSER;
CREATE DATABASE $DB_NAME OWNER $DB_ROLE ENCODING 'UTF8' TEMPLATE template0;
SQL

    log "ready: $url"
    printf '%s\n' "$url"
}

cmd_status() {
    if read_state && [[ -f "$PGDATA_DIR/postmaster.pid" ]] &&
        (cd "$BASE" && as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" status >&2); then
        log "running on 127.0.0.1:$PORT: $URL"
        return 0
    fi
    log "not running"
    return 1
}

dispatch "$@"
