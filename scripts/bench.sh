#!/usr/bin/env bash
# make bench: every benchmark in benchmarks/, each printing its own figures.
# Benchmarks use their own database (<name>_bench), never the development data.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
if [ -z "${DATABASE_URL:-}" ]; then $PY -m config.embedded_db start >/dev/null; fi
echo "== benchmarks/ingest.py --readings ${BENCH_READINGS:-10000000}"
$PY benchmarks/ingest.py --readings "${BENCH_READINGS:-10000000}"
echo "== benchmarks/bill_run.py --accounts ${BENCH_ACCOUNTS:-100000}"
$PY benchmarks/bill_run.py --accounts "${BENCH_ACCOUNTS:-100000}"
for bench in benchmarks/bench_*.py; do
  [ -e "$bench" ] || continue
  echo "== $bench"
  $PY "$bench" ${BENCH_ARGS:-}
done
