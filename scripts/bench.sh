#!/usr/bin/env bash
# make bench: every benchmark in benchmarks/, each printing its own figures.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
if [ -z "${DATABASE_URL:-}" ]; then $PY -m config.embedded_db start >/dev/null; fi
for bench in benchmarks/bench_*.py; do
  echo "== $bench"
  $PY "$bench" ${BENCH_ARGS:-}
done
