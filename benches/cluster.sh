#!/usr/bin/env bash
# Several appliances on NATS JetStream, measured (docs/PERFORMANCE.md,
# issue 12): three NATS servers and three appliances on loopback.
#
#  1. an admin change (a card suspended or resumed) on one appliance until
#     readers of all three are answered by it: p50/p99 over ROUNDS changes;
#  2. verification throughput, replication on (a clustered appliance) and
#     off (the same appliance running alone), side by side;
#  3. catch-up: one appliance stopped, CHANGES changes published to the log,
#     the time from its restart until it has applied them all.
#
# Everything it starts, it stops; its files are under a temporary directory
# removed at the end. Tunables: ROUNDS=200 CHANGES=1000000 CONNS=200
# DEPTH=16 DURATION=10
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-200}
CHANGES=${CHANGES:-1000000}
CONNS=${CONNS:-200}
DEPTH=${DEPTH:-16}
DURATION=${DURATION:-10}
P="$PWD/portcullis"
[ -x "$P" ] || { echo "no ./portcullis: run 'make build' first" >&2; exit 1; }
DIR=$(mktemp -d /tmp/portcullis-cluster-bench.XXXXXX)
# shellcheck source=tests/peers/cluster-lib.sh
source tests/peers/cluster-lib.sh
trap 'cluster_stop; rm -rf "$DIR"' EXIT
trap 'exit 130' INT TERM
export RUST_LOG=warn

echo "== set-up in $DIR (date $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
start_all_nats
cluster_pki
start_appliance 1
wait_http "http://127.0.0.1:19481/readyz" "appliance a1"
start_appliance 2
start_appliance 3
for n in 2 3; do wait_http "http://127.0.0.1:1948$n/readyz" "appliance a$n"; done

echo "== 1. a change on a1 until in force on a1, a2 and a3 ($ROUNDS changes)"
"$P" cluster-bench propagation --admin 127.0.0.1:17461 \
  --readers 127.0.0.1:17451,127.0.0.1:17452,127.0.0.1:17453 --certs "$DIR/certs" --rounds "$ROUNDS"

echo "== 2. verification throughput, $CONNS connections, $DEPTH in flight, $DURATION s"
LOAD=(--connections "$CONNS" --depth "$DEPTH" --duration "$DURATION" --certs "$DIR/certs" --quiet)
on=$("$P" load --addr 127.0.0.1:17452 --admin 127.0.0.1:17462 "${LOAD[@]}" | grep '^RESULT')
echo "replication on (a2, clustered):  $on"
stop_appliance 3
mv "$DIR/a3" "$DIR/a3-clustered"
ALONE=1 start_appliance 3
wait_http "http://127.0.0.1:19483/readyz" "appliance a3 alone"
off=$("$P" load --addr 127.0.0.1:17453 --admin 127.0.0.1:17463 "${LOAD[@]}" | grep '^RESULT')
echo "replication off (a3, alone):     $off"
rps() { sed -n 's/.* rps=\([^ ]*\).*/\1/p'; }
awk -v a="$(echo "$on" | rps)" -v b="$(echo "$off" | rps)" 'BEGIN { printf "on/off: %.2f\n", a / b }'
stop_appliance 3
rm -rf "$DIR/a3"
mv "$DIR/a3-clustered" "$DIR/a3"

echo "== 3. catch-up: a3 stopped, $CHANGES changes published, a3 restarted"
"$P" cluster-bench fill-log --nats nats://127.0.0.1:14221 --changes "$CHANGES" | tail -1
last=$("$P" cluster-bench fill-log --nats nats://127.0.0.1:14221 --changes 0 | sed -n 's/^RESULT last=\([0-9]*\).*/\1/p')
start=$(date +%s.%N)
start_appliance 3
until awk -v a="$(metric 3 portcullis_cluster_applied_position 2>/dev/null || echo 0)" -v l="$last" \
  'BEGIN { exit !(a + 0 >= l + 0) }'; do
  sleep 0.2
done
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" -v n="$CHANGES" \
  'BEGIN { printf "RESULT catch_up_s=%.1f changes=%d rate=%.0f/s (from the process start, loading included)\n", e - s, n, n / (e - s) }'
