#!/usr/bin/env bash
# System packages the test suite needs: PostgreSQL server binaries (the db tests start a private
# server on 127.0.0.1). Idempotent and quiet; safe to call from CI on every run.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
