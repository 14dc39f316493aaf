#!/usr/bin/env bash
# Start Trainboard locally: a private redis-server unless REDIS_URL is set, one
# worker and the web tier. Ctrl-C (or any of them dying) stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
pids=()
cleanup() {
  trap - INT TERM EXIT
  echo; echo "stopping…"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

if [ -z "${REDIS_URL:-}" ]; then
  port=${REDIS_PORT:-6379}
  if redis-cli -p "$port" ping >/dev/null 2>&1; then
    echo "using the Redis already answering on port $port"
  else
    mkdir -p .redis
    redis-server --port "$port" --bind 127.0.0.1 --dir "$PWD/.redis" --appendonly yes \
      --save "" --logfile "$PWD/.redis/redis.log" &
    pids+=($!)
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    echo "started redis-server on port $port (data in .redis/)"
  fi
  export REDIS_URL="redis://127.0.0.1:$port/0"
fi
export RESULTS_DIR=${RESULTS_DIR:-./results} DATA_DIR=${DATA_DIR:-./data}

WORKER_NAME=${WORKER_NAME:-worker-1} .venv/bin/python -m worker &
pids+=($!)
.venv/bin/python -m web &
pids+=($!)
echo "Trainboard: http://${WEB_HOST:-127.0.0.1}:${WEB_PORT:-8000}  (DATA_DIR=$DATA_DIR, RESULTS_DIR=$RESULTS_DIR)"
wait -n
