#!/usr/bin/env bash
# sample.monitor_http: `monitor --serve 0 --requests 1` answers GET /metrics
# with Prometheus text, read here with curl, then exits with 0.
#
# No sleeps: the sample picks a free port and names it on its first line, which
# this script waits for (bounded, so that a broken sample fails, not hangs).
#
#   monitor_http_test.sh MONITOR_EXECUTABLE
set -euo pipefail
monitor=$1

fail() {
  echo "monitor_http_test: $*" >&2
  exit 1
}

scratch=$(mktemp -d)
pid=
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null
  rm -rf "$scratch"
}
trap cleanup EXIT

mkfifo "$scratch/stdout"
"$monitor" --serve 0 --requests 1 >"$scratch/stdout" &
pid=$!
exec 3<"$scratch/stdout"
read -r -t 60 first_line <&3 || fail "no first line from monitor"
[[ $first_line =~ ^listening\ on\ (http://127\.0\.0\.1:[0-9]+/metrics)$ ]] ||
  fail "unexpected first line: $first_line"
body=$(curl --silent --show-error --fail --max-time 60 "${BASH_REMATCH[1]}")
cat <&3 >/dev/null # whatever else it prints, until it exits
wait "$pid" || fail "monitor exited with status $?"
pid=

printf '%s\n' "$body" >"$scratch/body"
grep -qx '# TYPE courier_events_posted_total counter' "$scratch/body" ||
  fail "no counter type line in: $body"
grep -qx '# TYPE monitor_post_to_process_seconds histogram' "$scratch/body" ||
  fail "no histogram type line in: $body"
grep -Eqx 'courier_events_posted_total\{bus="monitor"\} [1-9][0-9]*' "$scratch/body" ||
  fail "no non-zero posted count in: $body"
grep -Eqx 'monitor_post_to_process_seconds_count\{bus="monitor"\} [1-9][0-9]*' "$scratch/body" ||
  fail "no non-zero latency count in: $body"
grep -Eqx 'courier_delivery_latency_seconds_count\{bus="monitor"\} [1-9][0-9]*' "$scratch/body" ||
  fail "no non-zero bus latency count in: $body"
grep -Eqx 'courier_topic_events_posted_total\{bus="monitor",topic="c1"\} [1-9][0-9]*' \
  "$scratch/body" || fail "no per-topic count for c1 in: $body"
# Every line a HELP or TYPE comment or a sample: name{labels} value.
if grep -Evx '# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*|[a-zA-Z_:][a-zA-Z0-9_:]*\{[^}]*\} [0-9.]+' \
  "$scratch/body"; then
  fail "the lines above do not parse as Prometheus text"
fi
echo "monitor_http_test: /metrics read and parsed"
