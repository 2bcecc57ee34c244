# shellcheck shell=bash
# Shared by .ci/postgres.sh and .ci/redis.sh (sourced, not run): the per-checkout state
# directory, logging, a free port, the state file and the command dispatch.

# service_init NAME KIND: the server's files live in ${TMPDIR:-/tmp}/tasktracker-ci-KIND-<hash of
# the repo path>/, so a second `start` replaces the first and `stop` always finds it.
service_init() {
    SERVICE_NAME="$1"
    local repo_root repo_hash base
    repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    repo_hash="$(printf '%s' "$repo_root" | sha256sum | cut -c1-12)"
    base="${TMPDIR:-/tmp}"
    BASE="${base%/}/tasktracker-ci-$2-$repo_hash"
    STATE_FILE="$BASE/state"
}

log() { printf '[%s] %s\n' "$SERVICE_NAME" "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

free_port() {
    python3 - <<'PY'
import socket

with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
PY
}

# read_state_file KEY[:VAR]...: set each VAR (KEY itself by default) from the state file's
# KEY=value lines, empty when absent; false when there is no state file.
read_state_file() {
    local spec key value
    for spec in "$@"; do printf -v "${spec#*:}" '%s' ""; done
    [[ -f "$STATE_FILE" ]] || return 1
    while IFS='=' read -r key value; do
        for spec in "$@"; do
            if [[ "${spec%%:*}" == "$key" ]]; then printf -v "${spec#*:}" '%s' "$value"; fi
        done
    done <"$STATE_FILE"
}

cmd_url() {
    read_state || die "no server running for this checkout (start it with: $0 start)"
    printf '%s\n' "$URL"
}

# dispatch COMMAND: run cmd_start, cmd_stop, cmd_url or cmd_status (defined by the script).
dispatch() {
    case "${1:-}" in
        start) cmd_start ;;
        stop) cmd_stop ;;
        url) cmd_url ;;
        status) cmd_status ;;
        *)
            echo "usage: $0 start|stop|url|status" >&2
            exit 2
            ;;
    esac
}
