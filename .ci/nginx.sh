#!/usr/bin/env bash
# nginx for the end-to-end tests behind a proxy (tests/scaleout, tests/slowclient).
#
#   .ci/nginx.sh install   install Debian's nginx (and envsubst, from gettext-base) when
#                          missing, then print the version; needs root only to install
#
# The tests start and stop their own nginx from deploy/nginx.conf.template (tests/live.py:
# rendered with envsubst, run as `nginx -p DIR/ -c DIR/nginx.conf`, every file under DIR), so
# there is no server to start here.  The package's own service, if the install started one
# (port 80), is stopped: nothing here uses it.  All logs go to stderr.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# shellcheck source=.ci/service-lib.sh
source "$SCRIPT_DIR/service-lib.sh"
SERVICE_NAME=nginx.sh # the tag of its log lines (service-lib.sh)

# PATH of a non-root shell often lacks /usr/sbin, where Debian puts nginx.
export PATH="$PATH:/usr/sbin:/sbin"

# apt_install PACKAGE...: install with apt-get, refreshing the package lists once if needed.
apt_install() {
    [[ $(id -u) -eq 0 ]] || die "not root: install the Debian package(s) $* yourself"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends "$@" >&2; then
        log "install failed: refreshing the package lists and retrying"
        apt-get update -q >&2
        apt-get install -y -q --no-install-recommends "$@" >&2
    fi
}

cmd_install() {
    local missing=()
    command -v nginx >/dev/null 2>&1 || missing+=(nginx)
    command -v envsubst >/dev/null 2>&1 || missing+=(gettext-base)
    if [[ ${#missing[@]} -gt 0 ]]; then
        log "installing Debian package(s): ${missing[*]}"
        apt_install "${missing[@]}"
        if command -v service >/dev/null 2>&1 && service nginx status >/dev/null 2>&1; then
            log "stopping the nginx service started by the package install"
            service nginx stop >&2 || true
        fi
    fi
    command -v nginx >/dev/null 2>&1 || die "nginx still missing after installing 'nginx'"
    command -v envsubst >/dev/null 2>&1 || die "envsubst still missing after 'gettext-base'"
    log "using $(nginx -v 2>&1) at $(command -v nginx), envsubst at $(command -v envsubst)"
}

case "${1:-}" in
    install) cmd_install ;;
    *)
        echo "usage: $0 install" >&2
        exit 2
        ;;
esac
