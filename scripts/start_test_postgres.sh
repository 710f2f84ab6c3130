#!/usr/bin/env bash
# Start a throw-away PostgreSQL on a free 127.0.0.1 port (runs as `postgres` when we are root),
# print its SQLAlchemy URL, stop and delete it on Ctrl-C. The test fixture uses the same helper
# (scripts/pg_test_server.py) directly from Python.
#   ECG_DB_URL=$(...) is printed on the first line; e.g.  bash scripts/start_test_postgres.sh
set -euo pipefail
cd "$(dirname "$0")/.."
exec python scripts/pg_test_server.py
