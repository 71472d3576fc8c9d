#!/usr/bin/env bash
# Portcullis and Redis 7 with TLS, side by side in one run, on loopback.
#
# Redis is what an office would otherwise deploy: TLS with client-certificate
# auth (the same dev CA), one key per credential, AOF everysec. Both systems
# are driven by the same generator (`portcullis load`, `--redis` for Redis:
# the same pacer, connection count, depth and latency recording), Redis with
# (a) plain GET and (b) a script doing the look-up plus an XADD to a
# journal stream; redis-benchmark runs too, as a cross-check of the Redis
# figures. Then: open loop at a fixed offered rate for both, a reconnect
# storm, and with CURVE=1 the latency curve (p50/p99/p999 against offered
# rate, both systems, one run) as a table and an SVG plot.
#
# Everything it starts, it stops; everything it writes is under a temporary
# directory that is removed at the end. Tunables (environment):
#   CONNS=1000 DURATION=10 CARDS=1000 RATE=40000 STORM=10000
#   CURVE=0 RATES="5000 10000 20000 40000 80000 120000 160000" CURVE_SECS=6
#   CURVE_SVG=docs/latency-curve.svg
#   N_GET1 N_GET64 N_LUA1 N_LUA64   (redis-benchmark request counts)
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${CONNS:-1000}
DURATION=${DURATION:-10}
CARDS=${CARDS:-1000}
RATE=${RATE:-40000}
STORM=${STORM:-10000}
N_GET1=${N_GET1:-500000}
N_GET64=${N_GET64:-5000000}
N_LUA1=${N_LUA1:-400000}
N_LUA64=${N_LUA64:-1500000}
BIN=${BIN:-./portcullis}
[ -x "$BIN" ] || { echo "no $BIN: run 'make build' first" >&2; exit 1; }

missing=""
for p in redis-server redis-tools; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi
# Redis from the package must not keep running as a service on its own port.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

WORK=$(mktemp -d /tmp/portcullis-compare.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

echo "== set-up in $WORK (date $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
C="$WORK/certs"
"$BIN" pki init --dir "$C" >/dev/null
"$BIN" pki issue --role security-office --name admin --dir "$C" >/dev/null
"$BIN" pki issue --role reader --name redis-client --dir "$C" >/dev/null
RC="$C/clients/reader-redis-client"

REDIS_PORT=16390
mkdir -p "$WORK/redis"
redis-server --port 0 --tls-port $REDIS_PORT --bind 127.0.0.1 \
  --tls-cert-file "$C/server.crt" --tls-key-file "$C/server.key" \
  --tls-ca-cert-file "$C/ca.crt" --tls-auth-clients yes \
  --appendonly yes --appendfsync everysec --save "" \
  --dir "$WORK/redis" --maxclients 20000 --logfile "$WORK/redis.log" &
pids+=($!)
RTLS=(--tls --cert "$RC.crt" --key "$RC.key" --cacert "$C/ca.crt" -h 127.0.0.1 -p $REDIS_PORT)
for _ in $(seq 1 50); do redis-cli "${RTLS[@]}" PING >/dev/null 2>&1 && break; sleep 0.1; done

cat > "$WORK/portcullis.toml" <<TOML
data_dir = "$WORK/data"
keys_dir = "$WORK/keys"
[tls]
ca_cert = "$C/ca.crt"
server_cert = "$C/server.crt"
server_key = "$C/server.key"
[reader]
listen = "127.0.0.1:17443"
max_connections = 20000
max_in_flight = 256
[admin]
listen = "127.0.0.1:17444"
[metrics]
listen = "127.0.0.1:19477"
TOML
RUST_LOG=warn "$BIN" run --config "$WORK/portcullis.toml" &
pids+=($!)
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:19477/readyz >/dev/null 2>&1 && break; sleep 0.1; done
LOAD=(--addr 127.0.0.1:17443 --admin 127.0.0.1:17444 --certs "$C" --quiet)

# The same credentials in both: issue CARDS cards in Portcullis, keep their
# numbers, and load Redis with one key per credential. redis-benchmark picks
# keys as cred:<12 digits> from a range 1/0.9 times the card count, so about
# 90% of its look-ups hit, the same 90/10 mix as the load generator.
"$BIN" load "${LOAD[@]}" --connections 1 --duration 0 --cards "$CARDS" --save-numbers "$WORK/numbers" >/dev/null
awk '{ k = sprintf("cred:%012d", NR-1); printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length($1), $1 }' "$WORK/numbers" \
  | redis-cli "${RTLS[@]}" --pipe >/dev/null
RANGE=$(( CARDS * 10 / 9 ))
LUA="local v = redis.call('GET', KEYS[1]) redis.call('XADD', 'journal', '*', 'k', KEYS[1], 'd', v and '1' or '0') return v"

redis_rps() { # depth requests args...
  local depth=$1 n=$2; shift 2
  redis-benchmark "${RTLS[@]}" -c "$CONNS" -P "$depth" -n "$n" -r "$RANGE" --threads 2 --csv "$@" 2>/dev/null \
    | awk -F'","' 'NR==2 { gsub(/"/, "", $2); print int($2) }'
}
portcullis() { # depth [extra args]
  local depth=$1; shift
  "$BIN" load "${LOAD[@]}" --connections "$CONNS" --depth "$depth" --duration "$DURATION" --numbers "$WORK/numbers" "$@" | grep '^RESULT'
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

redis_load() { # depth op [extra args]
  local depth=$1 op=$2; shift 2
  "$BIN" load --redis 127.0.0.1:$REDIS_PORT --redis-op "$op" --certs "$C" --connections "$CONNS" \
    --depth "$depth" --duration "$DURATION" --cards "$CARDS" --quiet "$@" | grep '^RESULT'
}

echo "== Redis (the same generator, $CONNS connections, $DURATION s)"
g1=$(redis_load 1 get);               echo "GET, 1 in flight:            $g1"
g64=$(redis_load 64 get);             echo "GET, 64 in flight:           $g64"
l1=$(redis_load 1 lookup-journal);    echo "look-up + XADD, 1 in flight:  $l1"
l64=$(redis_load 64 lookup-journal);  echo "look-up + XADD, 64 in flight: $l64"
r_get1=$(echo "$g1" | field rps); r_get64=$(echo "$g64" | field rps)
r_lua1=$(echo "$l1" | field rps); r_lua64=$(echo "$l64" | field rps)
ropen=$(redis_load 64 lookup-journal --rate "$RATE"); echo "look-up + XADD, open loop $RATE/s: $ropen"

echo "== Redis cross-check (redis-benchmark --threads 2, $CONNS connections)"
echo "GET, 1 in flight:            $(redis_rps 1 "$N_GET1" GET 'cred:__rand_int__')/s"
echo "GET, 64 in flight:           $(redis_rps 64 "$N_GET64" GET 'cred:__rand_int__')/s"
echo "look-up + XADD, 1 in flight:  $(redis_rps 1 "$N_LUA1" EVAL "$LUA" 1 'cred:__rand_int__')/s"
echo "look-up + XADD, 64 in flight: $(redis_rps 64 "$N_LUA64" EVAL "$LUA" 1 'cred:__rand_int__')/s"

echo "== Portcullis (load generator, $CONNS connections, $DURATION s, journal on)"
p1=$(portcullis 1);   echo "$p1"
p64=$(portcullis 64); echo "$p64"
popen=$(portcullis 64 --rate "$RATE"); echo "$popen"
echo "== reconnect storm: $STORM readers at once, then the same readers again with their session tickets"
storm=$("$BIN" load "${LOAD[@]}" --connections "$STORM" --duration 0 --reconnect --numbers "$WORK/numbers" | grep '^RESULT'); echo "$storm"

p1_rps=$(echo "$p1" | field rps); p64_rps=$(echo "$p64" | field rps)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo
echo "== ratios (same run)"
echo "1 in flight:  Portcullis $p1_rps/s vs Redis look-up+XADD $r_lua1/s = $(ratio "$p1_rps" "$r_lua1")x (target >= 2x)"
echo "64 in flight: Portcullis $p64_rps/s vs Redis plain GET $r_get64/s = $(ratio "$p64_rps" "$r_get64")x (target >= 1x)"
echo "64 in flight: Portcullis $p64_rps/s vs Redis look-up+XADD $r_lua64/s = $(ratio "$p64_rps" "$r_lua64")x"
echo "1 in flight:  Portcullis $p1_rps/s vs Redis plain GET $r_get1/s = $(ratio "$p1_rps" "$r_get1")x"
echo "open loop at $RATE/s: Portcullis p99 $(echo "$popen" | field p99_us) us, Redis look-up+XADD p99 $(echo "$ropen" | field p99_us) us (target < 1000 us)"
echo "storm, full handshakes (as after an appliance restart): $(echo "$storm" | field connected) of $STORM admitted in $(echo "$storm" | field connect_s) s (target < 3 s)"
echo "storm, the same readers closing and coming back with their tickets: $(echo "$storm" | field reconnected) of $STORM re-admitted in $(echo "$storm" | field reconnect_s) s, $(echo "$storm" | field resumed) resumed (target < 3 s)"

if [ "${CURVE:-0}" = 1 ]; then
  RATES=${RATES:-"5000 10000 20000 40000 80000 120000 160000"}
  CURVE_SECS=${CURVE_SECS:-6}
  echo
  echo "== latency curve: open loop, $CONNS connections, $CURVE_SECS s per rate, both systems"
  echo "| offered/s | Portcullis p50 | p99 | p999 | answered/s | Redis look-up+XADD p50 | p99 | p999 | answered/s |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  rows=""
  for r in $RATES; do
    pc=$("$BIN" load "${LOAD[@]}" --connections "$CONNS" --depth 64 --duration "$CURVE_SECS" --numbers "$WORK/numbers" --rate "$r" | grep '^RESULT')
    rd=$("$BIN" load --redis 127.0.0.1:$REDIS_PORT --redis-op lookup-journal --certs "$C" --connections "$CONNS" \
      --depth 64 --duration "$CURVE_SECS" --cards "$CARDS" --quiet --rate "$r" | grep '^RESULT')
    ms() { awk -v u="$1" 'BEGIN { printf "%.2f ms", u / 1000 }'; }
    echo "| $r | $(ms "$(echo "$pc" | field p50_us)") | $(ms "$(echo "$pc" | field p99_us)") | $(ms "$(echo "$pc" | field p999_us)") | $(echo "$pc" | field rps) | $(ms "$(echo "$rd" | field p50_us)") | $(ms "$(echo "$rd" | field p99_us)") | $(ms "$(echo "$rd" | field p999_us)") | $(echo "$rd" | field rps) |"
    rows="$rows $r,$(echo "$pc" | field p50_us),$(echo "$pc" | field p99_us),$(echo "$pc" | field p999_us),$(echo "$rd" | field p50_us),$(echo "$rd" | field p99_us),$(echo "$rd" | field p999_us)"
  done
  python3 benches/curve_svg.py "${CURVE_SVG:-docs/latency-curve.svg}" "$(date -u +%Y-%m-%d)" $rows
  echo "plot: ${CURVE_SVG:-docs/latency-curve.svg}"
fi
