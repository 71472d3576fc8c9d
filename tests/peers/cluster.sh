#!/usr/bin/env bash
# `make cluster`: three NATS servers (one JetStream cluster) and three
# appliances on loopback, in ./cluster-demo, sharing one PKI and one key
# directory. A card issued on one appliance works on all three; stop any one
# (of either kind) and the rest carry on. Runs until Ctrl-C; everything it
# starts stops with it.
set -euo pipefail
cd "$(dirname "$0")/../.."
P="$PWD/portcullis"
NATS="${PORTCULLIS_PEER_PYTHON:-$HOME/.cache/portcullis/venv/bin/python}"
NATS="$(dirname "$NATS")/nats-server"
DIR="$PWD/cluster-demo"
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$DIR"
wait_http() {
  local i
  for i in $(seq 1 300); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "$2 did not become ready ($1):" >&2
  curl -s "$1" >&2 || true
  return 1
}

ROUTES="nats-route://127.0.0.1:16221, nats-route://127.0.0.1:16222, nats-route://127.0.0.1:16223"
URLS='"nats://127.0.0.1:14221", "nats://127.0.0.1:14222", "nats://127.0.0.1:14223"'
for i in 1 2 3; do
  cat >"$DIR/nats-$i.conf" <<EOF
server_name: n$i
listen: 127.0.0.1:1422$i
http: 127.0.0.1:1822$i
max_payload: 8MB
jetstream { store_dir: "$DIR/nats-$i", max_memory_store: 64MB, max_file_store: 2GB }
cluster { name: portcullis-demo, listen: 127.0.0.1:1622$i, routes: [$ROUTES] }
EOF
  "$NATS" -c "$DIR/nats-$i.conf" 2>>"$DIR/nats-$i.log" &
  PIDS+=($!)
done
for i in 1 2 3; do wait_http "http://127.0.0.1:1822$i/healthz" "NATS server n$i"; done

[ -f "$DIR/certs/ca.crt" ] || "$P" pki init --dir "$DIR/certs" >/dev/null
[ -f "$DIR/certs/clients/security-office-admin.crt" ] ||
  "$P" pki issue --role security-office --name admin --dir "$DIR/certs" >/dev/null
[ -f "$DIR/certs/clients/reader-demo-reader.crt" ] ||
  "$P" pki issue --role reader --name demo-reader --dir "$DIR/certs" >/dev/null

start_appliance() { # N
  local n=$1
  "$P" default-config | sed \
    -e "s|^data_dir = .*|data_dir = \"$DIR/a$n/data\"|" \
    -e "s|^keys_dir = .*|keys_dir = \"$DIR/keys\"|" \
    -e "s|\"certs/|\"$DIR/certs/|" \
    -e "s|127.0.0.1:7443|127.0.0.1:1745$n|" \
    -e "s|127.0.0.1:7444|127.0.0.1:1746$n|" \
    -e "s|127.0.0.1:9477|127.0.0.1:1948$n|" \
    -e "s|^dir = \"backups\"|dir = \"$DIR/a$n/backups\"|" \
    -e "/^\[cluster\]/,/^\[/ s|^nats = .*|nats = [$URLS]|" \
    -e "/^\[cluster\]/,/^\[/ s|^name = .*|name = \"a$n\"|" \
    -e "/^\[cluster\]/,/^\[/ s|^node = .*|node = $n|" >"$DIR/a$n.toml"
  mkdir -p "$DIR/a$n"
  "$P" run --config "$DIR/a$n.toml" 2>>"$DIR/a$n/appliance.log" &
  PIDS+=($!)
}
# The first makes the keys the others share (on separate machines: copy
# keys/ to each before its first start).
start_appliance 1
wait_http "http://127.0.0.1:19481/readyz" "appliance a1"
start_appliance 2
start_appliance 3
for n in 2 3; do wait_http "http://127.0.0.1:1948$n/readyz" "appliance a$n"; done

A1="--admin 127.0.0.1:17461 --certs $DIR/certs"
# shellcheck disable=SC2086
{
  "$P" reader register --name demo-reader --doors 1,2 $A1 >/dev/null
  "$P" access set --json '{"door_groups":{"demo":[1,2]},"schedules":{},"levels":{"demo":{"door_group":"demo"}},"holidays":[]}' $A1 >/dev/null
  "$P" dlc set --code Demonstration --name Demonstration $A1 >/dev/null
  "$P" holder show --holder 1 $A1 >/dev/null 2>&1 ||
    "$P" holder create --id-number 900000001 --last-name Demo --first-name Cardholder \
      --status registered --department Demonstration --affiliation student $A1 >/dev/null
  "$P" holder levels --holder 1 --levels demo $A1 >/dev/null
  NUMBER=$({ "$P" card replace --holder 1 $A1 2>/dev/null || "$P" card issue --holder 1 $A1; } |
    awk '/access number/ {print $NF}')
}
echo
echo "Three NATS servers (14221-14223) and three appliances are running in ./cluster-demo:"
for n in 1 2 3; do
  echo "  a$n: readers 127.0.0.1:1745$n, admin 127.0.0.1:1746$n, metrics http://127.0.0.1:1948$n/metrics"
done
echo
echo "The demo card was issued on a1; on every appliance it opens door 1:"
for n in 1 2 3; do
  printf '  a%s: ' "$n"
  "$P" reader verify --door 1 --number "$NUMBER" --addr "127.0.0.1:1745$n" --certs "$DIR/certs" | head -1
done
cat <<EOF

In another terminal, from this directory:
  ./portcullis card replace --holder 1 --admin 127.0.0.1:17462 --certs cluster-demo/certs     # on a2
  ./portcullis reader verify --door 1 --number $NUMBER --addr 127.0.0.1:17453 --certs cluster-demo/certs   # superseded, on a3
  curl -s http://127.0.0.1:19481/readyz; curl -s http://127.0.0.1:19481/metrics | grep portcullis_cluster
  pkill -f cluster-demo/nats-1.conf    # one NATS server gone: changes still commit
Ctrl-C stops everything.
EOF
wait "${PIDS[0]}"
