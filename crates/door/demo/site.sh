# A small site for the doors demo and the door bench, sourced by both:
# an appliance in its own directory and ports, a door controller with
# OSDP readers from tests/peers/osdp_reader.py, one demo cardholder.
# Everything listens on loopback only. Run from the repository root with
# ./portcullis and ./portcullis-door built (make build-doors).

P="$PWD/portcullis"
D="$PWD/portcullis-door"
PY="${PORTCULLIS_PEER_PYTHON:-$HOME/.cache/portcullis/venv/bin/python}"
PIDS=()

site_cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# reader_ports FILE COUNT: the TCP ports the readers in FILE listen on, in
# reader order, once COUNT of them are listening.
reader_ports() {
  local i
  for i in $(seq 1 100); do
    [ "$(grep -c '"listening"' "$1" || true)" -ge "$2" ] && break
    sleep 0.1
  done
  "$PY" -c '
import json, sys
ports = {}
for line in open(sys.argv[1]):
    v = json.loads(line)
    if v.get("ev") == "listening":
        ports[v["pd"]] = v["port"]
print(" ".join(str(ports[i]) for i in sorted(ports)))' "$1"
}

wait_http() { # URL, what
  local i
  for i in $(seq 1 300); do
    curl -fs "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "$2 did not become ready ($1)" >&2
  return 1
}

# site_appliance DIR READER_PORT ADMIN_PORT METRICS_PORT DOORS
# Starts the appliance; registers controller "door-controller" for doors
# 1..DOORS; issues a card (hex in $CARD). Sets ADMIN (CLI flags).
site_appliance() {
  local dir=$1 rport=$2 aport=$3 mport=$4 doors=$5
  mkdir -p "$dir"
  [ -f "$dir/certs/ca.crt" ] || "$P" pki init --dir "$dir/certs" >/dev/null
  [ -f "$dir/certs/clients/security-office-admin.crt" ] ||
    "$P" pki issue --role security-office --name admin --dir "$dir/certs" >/dev/null
  [ -f "$dir/certs/clients/reader-door-controller.crt" ] ||
    "$P" pki issue --role reader --name door-controller --dir "$dir/certs" >/dev/null
  "$P" default-config | sed \
    -e "s|^data_dir = .*|data_dir = \"$dir/data\"|" \
    -e "s|^keys_dir = .*|keys_dir = \"$dir/keys\"|" \
    -e "s|\"certs/|\"$dir/certs/|" \
    -e "s|127.0.0.1:7443|127.0.0.1:$rport|" \
    -e "s|127.0.0.1:7444|127.0.0.1:$aport|" \
    -e "s|127.0.0.1:9477|127.0.0.1:$mport|" >"$dir/portcullis.toml"
  "$P" run --config "$dir/portcullis.toml" 2>>"$dir/appliance.log" &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$mport/readyz" "the appliance"
  ADMIN="--admin 127.0.0.1:$aport --certs $dir/certs"
  local list
  list=$(seq -s, 1 "$doors")
  # shellcheck disable=SC2086
  {
    "$P" reader register --name door-controller --doors "$list" $ADMIN >/dev/null
    "$P" access set --json "{\"door_groups\":{\"site\":[$list]},\"schedules\":{},\"levels\":{\"site\":{\"door_group\":\"site\"}},\"holidays\":[]}" $ADMIN >/dev/null
    "$P" dlc set --code Demonstration --name Demonstration $ADMIN >/dev/null
    "$P" holder show --holder 1 $ADMIN >/dev/null 2>&1 ||
      "$P" holder create --id-number 900000001 --last-name Demo --first-name Cardholder \
        --status registered --department Demonstration --affiliation student $ADMIN >/dev/null
    "$P" holder levels --holder 1 --levels site $ADMIN >/dev/null
    # A replacement when the holder has a card, else a first card.
    CARD=$({ "$P" card replace --holder 1 $ADMIN 2>/dev/null || "$P" card issue --holder 1 $ADMIN; } |
      awk '/access number/ {print $NF}' | tr -d '-')
  }
  [ ${#CARD} -eq 32 ] || { echo "no card issued" >&2; return 1; }
}

# site_controller DIR READER_PORT METRICS_PORT HELD_S OSDP_PORT...
# Writes DIR/door.toml for doors 1..N (door i's reader on the i-th OSDP
# port) and starts the controller.
site_controller() {
  local dir=$1 rport=$2 cport=$3 held=$4 i=0 port
  shift 4
  [ -f "$dir/door.scbk" ] || "$D" new-key "$dir/door.scbk"
  {
    echo "name = \"demo-controller\""
    echo "appliances = [\"127.0.0.1:$rport\"]"
    echo "[tls]"
    echo "ca_cert = \"certs/ca.crt\""
    echo "cert = \"certs/clients/reader-door-controller.crt\""
    echo "key = \"certs/clients/reader-door-controller.key\""
    echo "[events]"
    echo "path = \"door-events.log\""
    echo "max_events = 10000"
    echo "[metrics]"
    echo "listen = \"127.0.0.1:$cport\""
    for port in "$@"; do
      i=$((i + 1))
      echo
      echo "[[doors]]"
      echo "door = $i"
      echo "transport = { tcp = \"127.0.0.1:$port\" }"
      echo "osdp_address = 101"
      echo "scbk_file = \"door.scbk\""
      echo "strike_ms = 3000"
      echo "contact_input = 0"
      echo "rex_input = 1"
      echo "held_open_s = $held"
      echo "# The libosdp 3.2.9 Python reader cannot answer input status queries."
      echo "query_status = false"
    done
  } >"$dir/door.toml"
  "$D" --check-config --config "$dir/door.toml" >/dev/null
  "$D" --config "$dir/door.toml" 2>>"$dir/controller.log" &
  PIDS+=($!)
}
