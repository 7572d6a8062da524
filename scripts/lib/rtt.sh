# Sourced by the benchmark scripts: with RTT_MS set, put
# scripts/lib/delay-proxy.py (RTT_MS/2 each way, 127.0.0.1 only) between
# the senders and the sink on $port, as a relay 10-80 ms away would be.
# Afterwards $port is the proxy's, $proxy its pid (empty without RTT_MS),
# and rtt_limit CONCURRENCY prints the wire's limit, CONCURRENCY / RTT.
# The proxy counts round trips into $proxy_stats (see delay-proxy.py);
# rtt_stats prints and clears what was counted since the last call.
# It runs at a higher priority (nice -10 as root): it stands for the
# network, which takes no CPU from the sender; on a busy 2-core machine its
# wake-ups would otherwise come late and lengthen every round trip.
proxy=
proxy_stats=$(mktemp)
proxy_script=$PWD/scripts/lib/delay-proxy.py
if [ -n "${RTT_MS:-}" ]; then
  sink_port=$port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  proxy_out=$(mktemp)
  prio=
  [ "$(id -u)" = 0 ] && prio="nice -n -10"
  DELAY_PROXY_STATS=$proxy_stats $prio python3 scripts/lib/delay-proxy.py "$port" "$sink_port" "$(python3 -c "print($RTT_MS / 2)")" > "$proxy_out" &
  proxy=$!
  for _ in $(seq 1 50); do grep -q ready "$proxy_out" 2>/dev/null && break; sleep 0.1; done
  rm -f "$proxy_out"
fi
rtt_stats() {
  [ -n "$proxy" ] || return 0
  # A connection is counted once both sides closed, a round trip later.
  sleep "$(python3 -c "print($RTT_MS * 3 / 1000)")"
  [ -s "$proxy_stats" ] || return 0
  python3 "$proxy_script" --summary "$proxy_stats"
  : > "$proxy_stats"
}
rtt_limit() { python3 -c "print(f'{$1 * 1000 / $RTT_MS:.0f}')"; }
