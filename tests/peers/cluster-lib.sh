# Shared by `make cluster` (tests/peers/cluster.sh) and benches/cluster.sh:
# three NATS servers in one JetStream cluster and appliances on loopback,
# all under $DIR, every process recorded in PIDS and stopped by
# cluster_stop. Source it with P (the portcullis binary) and DIR set.
# Ports: NATS clients 1422N, routes 1622N, monitoring 1822N; appliance N
# readers 1745N, admin 1746N, metrics 1948N.

NATS="${PORTCULLIS_PEER_PYTHON:-$HOME/.cache/portcullis/venv/bin/python}"
NATS="$(dirname "$NATS")/nats-server"
PIDS=()
APPLIANCE_PID=()

cluster_stop() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}

wait_http() { # URL WHAT
  local i
  for i in $(seq 1 300); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "$2 did not become ready ($1):" >&2
  curl -s "$1" >&2 || true
  return 1
}

NATS_URLS='"nats://127.0.0.1:14221", "nats://127.0.0.1:14222", "nats://127.0.0.1:14223"'

start_nats() { # N
  local i=$1
  local routes="nats-route://127.0.0.1:16221, nats-route://127.0.0.1:16222, nats-route://127.0.0.1:16223"
  cat >"$DIR/nats-$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:1422$i
http: 127.0.0.1:1822$i
max_payload: 8MB
jetstream { store_dir: "$DIR/nats-$i", max_memory_store: 64MB, max_file_store: 4GB }
cluster { name: portcullis-demo, listen: 127.0.0.1:1622$i, routes: [$routes] }
CONF
  "$NATS" -c "$DIR/nats-$i.conf" 2>>"$DIR/nats-$i.log" &
  PIDS+=($!)
}

start_all_nats() {
  local i
  for i in 1 2 3; do start_nats "$i"; done
  for i in 1 2 3; do wait_http "http://127.0.0.1:1822$i/healthz" "NATS server n$i"; done
}

cluster_pki() {
  [ -f "$DIR/certs/ca.crt" ] || "$P" pki init --dir "$DIR/certs" >/dev/null
  [ -f "$DIR/certs/clients/security-office-admin.crt" ] ||
    "$P" pki issue --role security-office --name admin --dir "$DIR/certs" >/dev/null
  [ -f "$DIR/certs/clients/reader-demo-reader.crt" ] ||
    "$P" pki issue --role reader --name demo-reader --dir "$DIR/certs" >/dev/null
}

# The configuration of appliance N (clustered unless ALONE=1).
appliance_config() { # N
  local n=$1 nats="$NATS_URLS"
  [ "${ALONE:-0}" = 1 ] && nats=""
  "$P" default-config | sed \
    -e "s|^data_dir = .*|data_dir = \"$DIR/a$n/data\"|" \
    -e "s|^keys_dir = .*|keys_dir = \"$DIR/keys\"|" \
    -e "s|\"certs/|\"$DIR/certs/|" \
    -e "s|127.0.0.1:7443|127.0.0.1:1745$n|" \
    -e "s|127.0.0.1:7444|127.0.0.1:1746$n|" \
    -e "s|127.0.0.1:9477|127.0.0.1:1948$n|" \
    -e "s|^dir = \"backups\"|dir = \"$DIR/a$n/backups\"|" \
    -e "/^\[cluster\]/,/^\[/ s|^nats = .*|nats = [$nats]|" \
    -e "/^\[cluster\]/,/^\[/ s|^name = .*|name = \"a$n\"|" \
    -e "/^\[cluster\]/,/^\[/ s|^node = .*|node = $n|"
}

start_appliance() { # N
  local n=$1
  appliance_config "$n" >"$DIR/a$n.toml"
  mkdir -p "$DIR/a$n"
  RUST_LOG="${RUST_LOG:-info}" "$P" run --config "$DIR/a$n.toml" 2>>"$DIR/a$n/appliance.log" &
  PIDS+=($!)
  APPLIANCE_PID[$n]=$!
}

stop_appliance() { # N
  local n=$1
  kill -INT "${APPLIANCE_PID[$n]}" 2>/dev/null || true
  wait "${APPLIANCE_PID[$n]}" 2>/dev/null || true
}

metric() { # N NAME
  curl -fs "http://127.0.0.1:1948$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'
}
