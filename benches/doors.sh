#!/usr/bin/env bash
# `make bench-doors`: card read at the reader -> strike command at the
# reader, over loopback, with READERS OSDP readers (Secure Channel, the PyPI
# libosdp peer) each presenting the demo card every INTERVAL_MS for SECS
# seconds through one door controller and one appliance. Prints the
# percentiles measured at the readers and the controller's own view of the
# appliance round trip. Bounded in time; stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
. crates/door/demo/site.sh
READERS=${READERS:-64}
INTERVAL_MS=${INTERVAL_MS:-1000}
SECS=${SECS:-30}
DIR=$(mktemp -d /tmp/portcullis-door-bench.XXXXXX)
trap 'site_cleanup; [ -n "${KEEP:-}" ] || rm -rf "$DIR"' EXIT
RPORT=$(free_port) APORT=$(free_port) MPORT=$(free_port) CPORT=$(free_port)

site_appliance "$DIR" $RPORT $APORT $MPORT "$READERS"
"$D" new-key "$DIR/door.scbk"
"$PY" tests/peers/osdp_reader.py --count "$READERS" --scbk-file "$DIR/door.scbk" \
  --bench-secs "$SECS" --bench-interval-ms "$INTERVAL_MS" --card "$CARD" \
  >"$DIR/readers.out" 2>>"$DIR/readers.log" &
READERS_PID=$!
PIDS+=($READERS_PID)
site_controller "$DIR" "$RPORT" "$CPORT" 30 $(reader_ports "$DIR/readers.out" "$READERS")
# The readers wait for every secure channel, present cards, then exit.
timeout $((SECS + 120)) tail --pid=$READERS_PID -f /dev/null || true
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  readers: $READERS  interval: ${INTERVAL_MS} ms each  duration: ${SECS} s"
grep '"bench"' "$DIR/readers.out" || { echo "no result; readers log:"; tail "$DIR/readers.log"; exit 1; }
curl -s "http://127.0.0.1:$CPORT/metrics" |
  grep -E '^portcullis_controller_(card_reads_total|fail_secure_total|verify_seconds_(sum|count)|readers_usable)' || true
