#!/usr/bin/env bash
# Throw-away redis server for CI and local test runs (rate-limit storage shared
# by several app instances in the scale-out test).
#
#   .ci/redis.sh start    start a fresh server; prints ONLY its URL (redis://127.0.0.1:PORT/0)
#   .ci/redis.sh stop     stop it and delete its files (idempotent)
#   .ci/redis.sh url      print the URL of the running server
#   .ci/redis.sh status   exit 0 if a server for this checkout is running
#
# The server belongs to this checkout: its files live in
#   ${TMPDIR:-/tmp}/tasktracker-ci-redis-<hash of the repo path>/
# (data/, redis.pid, redis.log and the `state` file), so a second `start`
# replaces the first and `stop` always finds it.  All logs go to stderr.  It
# listens on 127.0.0.1 only, on a free port, without persistence (no RDB
# snapshots, no AOF): test data only, never real data.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# shellcheck source=.ci/service-lib.sh
source "$SCRIPT_DIR/service-lib.sh"
service_init redis.sh redis
PID_FILE="$BASE/redis.pid"
LOG_FILE="$BASE/redis.log"


install_redis() {
    [[ $(id -u) -eq 0 ]] || die "redis-server is not on PATH and not root: install the 'redis-server' package"
    log "redis-server is not on PATH: installing Debian package 'redis-server'"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends redis-server >&2; then
        log "install failed: refreshing the package lists and retrying"
        apt-get update -q >&2
        apt-get install -y -q --no-install-recommends redis-server >&2
    fi
    # Where services can start, the package launches a default server on 6379.
    # We never use it: stop whatever the install started.
    if command -v service >/dev/null 2>&1 && service redis-server status >/dev/null 2>&1; then
        log "stopping the redis-server service started by the package install"
        service redis-server stop >&2 || true
    fi
}

# True while PID runs a redis-server.  A zombie counts as gone.
redis_alive() {
    local stat comm
    [[ "$1" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$1" 2>/dev/null || return 1
    stat="$(ps -o stat= -p "$1" 2>/dev/null || true)"
    comm="$(ps -o comm= -p "$1" 2>/dev/null || true)"
    [[ -n "$stat" && "$stat" != Z* && "$comm" == redis* ]]
}

# True when the server on 127.0.0.1:$1 answers PING with PONG.
answers_ping() {
    local reply=""
    # In a subshell: the connection closes with it, and a refusal only fails it.
    reply="$(
        exec 2>/dev/null
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf 'PING\r\n' >&3
        IFS= read -r -t 2 line <&3 || exit 1
        printf '%s' "$line"
    )" || return 1
    [[ "$reply" == +PONG* ]]
}

PORT="" URL="" # set by read_state
read_state() { read_state_file PORT URL; }

cmd_stop() {
    if [[ ! -e "$BASE" && ! -L "$BASE" ]]; then
        log "no server for this checkout ($BASE): nothing to stop"
        return 0
    fi
    local pid="" waited
    [[ -f "$PID_FILE" ]] && pid="$(head -n 1 "$PID_FILE" 2>/dev/null || true)"
    if redis_alive "$pid"; then
        log "stopping redis-server (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for waited in $(seq 1 50); do
            redis_alive "$pid" || break
            [[ $waited -lt 50 ]] && sleep 0.2
        done
        if redis_alive "$pid"; then
            log "redis-server $pid still alive after 10 s: killing it"
            kill -KILL "$pid" 2>/dev/null || true
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

    if ! command -v redis-server >/dev/null 2>&1; then
        install_redis
        command -v redis-server >/dev/null 2>&1 ||
            die "redis-server still missing after installing 'redis-server'"
    fi
    log "using $(redis-server --version)"

    mkdir -p "$BASE/data"
    chmod 700 "$BASE"
    : >"$LOG_FILE"
    cd "$BASE"

    local port="" attempt started=0 waited pid
    for attempt in 1 2 3 4 5; do
        port="$(free_port)"
        log "starting server on 127.0.0.1:$port (attempt $attempt)"
        rm -f "$PID_FILE"
        if redis-server --bind 127.0.0.1 --port "$port" --protected-mode yes \
            --daemonize yes --pidfile "$PID_FILE" --logfile "$LOG_FILE" --dir "$BASE/data" \
            --save '' --appendonly no >&2; then
            for waited in $(seq 1 50); do
                if answers_ping "$port"; then
                    started=1
                    break
                fi
                pid="$(head -n 1 "$PID_FILE" 2>/dev/null || true)"
                # Once the pid file is written, a dead daemon will not answer.
                if [[ -n "$pid" ]] && ! redis_alive "$pid"; then
                    break
                fi
                [[ $waited -lt 50 ]] && sleep 0.2
            done
        fi
        [[ $started -eq 1 ]] && break
        log "redis-server did not come up; last log lines:"
        tail -n 20 "$LOG_FILE" >&2 || true
        pid="$(head -n 1 "$PID_FILE" 2>/dev/null || true)"
        if redis_alive "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    [[ $started -eq 1 ]] || die "could not start redis-server (log: $LOG_FILE)"

    local url="redis://127.0.0.1:$port/0"
    {
        echo "PORT=$port"
        echo "URL=$url"
    } >"$STATE_FILE"
    log "ready: $url (pid $(head -n 1 "$PID_FILE"), files in $BASE)"
    printf '%s\n' "$url"
}

cmd_status() {
    local pid=""
    [[ -f "$PID_FILE" ]] && pid="$(head -n 1 "$PID_FILE" 2>/dev/null || true)"
    if read_state && redis_alive "$pid" && answers_ping "$PORT"; then
        log "running on 127.0.0.1:$PORT (pid $pid): $URL"
        return 0
    fi
    log "not running"
    return 1
}

dispatch "$@"
