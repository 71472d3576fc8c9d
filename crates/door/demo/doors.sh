#!/usr/bin/env bash
# `make doors`: the appliance, a door controller and two simulated OSDP
# readers (doors 1 and 2), all on loopback, in ./door-demo. Presents the demo
# card at door 1 (the strike is pulsed), then forces door 2 open (an alarm on
# the appliance, shown by the CLI and on /metrics). Then it keeps running for
# you to play with until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/../../.."
. crates/door/demo/site.sh
DIR="$PWD/door-demo"
trap site_cleanup EXIT
trap 'exit 130' INT TERM

RPORT=17443 APORT=17444 MPORT=19477 CPORT=19478 OPORT=14301
mkdir -p "$DIR"
site_appliance "$DIR" $RPORT $APORT $MPORT 2

[ -f "$DIR/door.scbk" ] || "$D" new-key "$DIR/door.scbk"
# The readers read their commands from a FIFO, so you can act on them too.
rm -f "$DIR/readers.in" && mkfifo "$DIR/readers.in"
"$PY" tests/peers/osdp_reader.py --count 2 --port $OPORT --scbk-file "$DIR/door.scbk" \
  <"$DIR/readers.in" >"$DIR/readers.out" 2>>"$DIR/readers.log" &
PIDS+=($!)
exec 3>"$DIR/readers.in"
site_controller "$DIR" $RPORT $CPORT 10 $(reader_ports "$DIR/readers.out" 2)
wait_http "http://127.0.0.1:$CPORT/readyz" "the door controller"

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
# What reader PD was told since line FROM of readers.out, in words.
told() {
  tail -n +"$2" "$DIR/readers.out" | "$PY" -c '
import json, sys
pd = int(sys.argv[1])
colours = {0: "off", 1: "red", 2: "green", 3: "amber"}
for line in sys.stdin:
    v = json.loads(line)
    if v.get("ev") != "command" or v["pd"] != pd:
        continue
    c = v["cmd"]
    if c["command"] == 1:
        out, secs = c["output_no"], c["timer_count"] / 10
        print(f"  reader: STRIKE output {out} pulsed for {secs:.1f} s")
    elif c["command"] == 2:
        colour = colours.get(c["on_color"], c["on_color"])
        print(f"  reader: LED {colour}")
    elif c["command"] == 3:
        print("  reader: beep")
' "$1"
}
lines() { wc -l <"$DIR/readers.out"; }

say "1. The demo card at door 1"
from=$(($(lines) + 1))
echo "card 0 $CARD" >&3
sleep 1
told 0 "$from"

say "2. An unknown card at door 1"
from=$(($(lines) + 1))
echo "card 0 $(head -c16 /dev/urandom | od -An -tx1 | tr -d ' \n')" >&3
sleep 1
told 0 "$from"

say "3. Door 2 forced open (no card, no exit button)"
echo "door 1 open" >&3
sleep 1.5
echo "\$ ./portcullis alarms list $ADMIN"
# shellcheck disable=SC2086
"$P" alarms list $ADMIN
echo "\$ curl -s http://127.0.0.1:$MPORT/metrics | grep -E '^portcullis_door'"
curl -s "http://127.0.0.1:$MPORT/metrics" | grep -E '^portcullis_doors?_' || true

say "Running. In another terminal, from this directory:"
cat <<EOF
  echo 'door 1 closed' > door-demo/readers.in        # door 2 closes: the alarm ends
  echo 'card 0 $CARD' > door-demo/readers.in   # demo card at door 1
  echo 'tamper 0 on' > door-demo/readers.in          # door 1's reader tampered with
  ./portcullis alarms list $ADMIN
  ./portcullis alarms ack --door 2 --kind forced_open $ADMIN
  curl -s http://127.0.0.1:$CPORT/metrics            # the controller's own metrics
  tail -f door-demo/readers.out                      # everything the readers are told
Ctrl-C stops everything.
EOF
wait "${PIDS[0]}"
