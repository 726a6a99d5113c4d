#!/usr/bin/env bash
# Every benchmark run quoted in docs/benchmarks.md, one after the other (about 55 minutes on 2 cores;
# run it on a quiet machine). Figures go to var/bench/NAME.json, the printed summaries to NAME.log.
# Needs `make install`, PostgreSQL on 127.0.0.1:5432 (database test) and Redis on 127.0.0.1:6379.
set -u
cd "$(dirname "$0")/.."
mkdir -p var/bench
B=".venv/bin/python -m benchmarks.throughput"
run() {
  name=$1; shift
  echo "=== $name: $*"
  $B "$@" --json-out "var/bench/$name.json" > "var/bench/$name.log" 2>&1
  echo "rc=$?"
  tail -28 "var/bench/$name.log"
}
SCALED="--limit 15 --window-seconds 6"  # Alegra's 150/minute, on 6-second windows
REDIS="--redis-url redis://127.0.0.1:6379/15"
PG="--database-url postgresql://postgres@127.0.0.1:5432/test"

run a      --orders 300 $SCALED                                             # one seller, one thread, SQLite
run b      --sellers 3 --orders 150 --workers 3 $SCALED                     # three sellers, three threads
run d1     --orders 150 --workers 3 --worker-kind processes $REDIS $SCALED  # one seller, three processes
run d0     --orders 150 --workers 3 --worker-kind processes $SCALED         # the same without Redis (contrast)
run d3     --sellers 3 --orders 150 --workers 3 --worker-kind processes $REDIS $PG $SCALED  # production shape
run a-real --orders 300 --limit 150 --window-seconds 60                     # Alegra's real window
run pull   --pull-only --orders 100000 --pull-sizes 2000,100000             # memory over 100 000 pulled orders
echo "=== goals (issue 13), against main at 74a9cd4"
.venv/bin/python -m benchmarks.goals --before benchmarks/results/goals-main-74a9cd4.json \
    --json-out var/bench/goals.json > var/bench/goals.log 2>&1
echo "rc=$?"
tail -26 var/bench/goals.log
echo "ALL DONE"
