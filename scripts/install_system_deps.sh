#!/usr/bin/env bash
# System packages the test suite needs, from Debian: the PostgreSQL server binaries (the db tests
# start a private server on 127.0.0.1) and Chromium (browser tests drive /usr/bin/chromium with
# Playwright; Playwright never downloads a browser of its own). Idempotent and quiet.
set -euo pipefail
need=()
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/bin/chromium ] || need+=(chromium chromium-driver)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
