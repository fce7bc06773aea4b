#!/usr/bin/env bash
# sample.nats_bridge: runs samples/nats_bridge against a nats-server of its own
# (NATS_SERVER, a free port found by the kernel, waited for through /healthz).
# Usage: nats_bridge_test.sh NATS_SERVER NATS_BRIDGE
set -euo pipefail
server=$1 sample=$2
# Ports: nats-server picks free ones (-1) and names them in its log; the loop
# polls the log and /healthz (no fixed sleep).
log=$(mktemp)
"$server" -a 127.0.0.1 -p -1 -m -1 -l "$log" &
pid=$!
trap 'kill -TERM $pid; wait $pid || true; rm -f "$log"' EXIT
port="" monitor=""
for _ in $(seq 1 2000); do
  port=$(sed -n 's/.*Listening for client connections on 127.0.0.1:\([0-9]*\).*/\1/p' "$log")
  monitor=$(sed -n 's/.*Starting http monitor on 127.0.0.1:\([0-9]*\).*/\1/p' "$log")
  [[ -n $port && -n $monitor ]] && curl -sf "http://127.0.0.1:$monitor/healthz" >/dev/null && break
done
[[ -n $port ]] || { echo "nats_bridge_test: nats-server did not start" >&2; exit 1; }
"$sample" --url "nats://127.0.0.1:$port" --count 500
