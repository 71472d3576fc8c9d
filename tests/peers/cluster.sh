#!/usr/bin/env bash
# `make cluster`: three NATS servers (one JetStream cluster) and three
# appliances on loopback, in ./cluster-demo, sharing one PKI and one key
# directory. A card issued on one appliance works on all three; stop any one
# (of either kind) and the rest carry on. Runs until Ctrl-C; everything it
# starts stops with it.
set -euo pipefail
cd "$(dirname "$0")/../.."
P="$PWD/portcullis"
DIR="$PWD/cluster-demo"
# shellcheck source=tests/peers/cluster-lib.sh
source tests/peers/cluster-lib.sh
trap cluster_stop EXIT
trap 'exit 130' INT TERM
mkdir -p "$DIR"
start_all_nats
cluster_pki
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
cat <<MSG

In another terminal, from this directory:
  ./portcullis card replace --holder 1 --admin 127.0.0.1:17462 --certs cluster-demo/certs     # on a2
  ./portcullis reader verify --door 1 --number $NUMBER --addr 127.0.0.1:17453 --certs cluster-demo/certs   # superseded, on a3
  curl -s http://127.0.0.1:19481/readyz; curl -s http://127.0.0.1:19481/metrics | grep portcullis_cluster
  pkill -f cluster-demo/nats-1.conf    # one NATS server gone: changes still commit
Ctrl-C stops everything.
MSG
wait "${PIDS[0]}"
