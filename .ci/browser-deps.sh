#!/usr/bin/env bash
# Browser for tests/browser: Debian's `chromium` at /usr/bin/chromium.
#
#   .ci/browser-deps.sh      install it unless it is already there (idempotent, quiet)
#
# Playwright drives this system browser (executable_path); never `playwright install`,
# which downloads its own builds from a CDN CI cannot reach.  Needs root (apt-get) when the
# browser is missing; logs go to stderr.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

log() { printf '[browser-deps.sh] %s\n' "$*" >&2; }

if [[ -x "$CHROMIUM" ]]; then
    log "found $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    log "ERROR: $CHROMIUM is missing and only root can install it: apt-get install chromium"
    exit 1
fi

log "installing Debian package 'chromium'"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# Recommends pull in systemd, CUPS, samba and more: headless use needs only a font.
apt-get install -y -q --no-install-recommends chromium fonts-liberation >/dev/null

[[ -x "$CHROMIUM" ]] || {
    log "ERROR: $CHROMIUM still missing after installing 'chromium'"
    exit 1
}
log "installed $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
