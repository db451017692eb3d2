#!/usr/bin/env bash
# make run: database, migrations, demo data, development server. Ctrl-C stops all it started.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
children=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${children[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -z "${DATABASE_URL:-}" ]; then $PY -m config.embedded_db stop; fi
}
trap cleanup INT TERM EXIT

if [ -z "${DATABASE_URL:-}" ]; then
  echo "DATABASE_URL is unset: using the embedded PostgreSQL in var/pgdata"
  $PY -m config.embedded_db start >/dev/null
fi
$PY manage.py migrate --noinput
$PY manage.py seed_demo
if [ -n "${REDIS_URL:-}" ]; then
  .venv/bin/celery -A config worker --loglevel=INFO --concurrency=2 &
  children+=($!)
  .venv/bin/celery -A config beat --loglevel=INFO --schedule var/celerybeat-schedule &
  children+=($!)
else
  echo "REDIS_URL is unset: Celery tasks run eagerly inside the web process"
fi
echo "Wattline is at http://127.0.0.1:${PORT:-8000}/  (Ctrl-C stops it)"
$PY manage.py runserver "127.0.0.1:${PORT:-8000}" &
children+=($!)
wait "${children[-1]}"
