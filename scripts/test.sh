#!/usr/bin/env bash
# make test: the whole suite. Uses DATABASE_URL/REDIS_URL when set, else the embedded database.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
started_embedded=0
if [ -z "${DATABASE_URL:-}" ]; then
  echo "DATABASE_URL is unset: testing against the embedded PostgreSQL in var/pgdata"
  $PY -m config.embedded_db start >/dev/null || exit 1
  started_embedded=1
fi
export WATTLINE_ENV=test
$PY -m pytest "$@"
status=$?
if [ "$started_embedded" = 1 ]; then $PY -m config.embedded_db stop >/dev/null; fi
exit $status
