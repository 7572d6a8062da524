# Sourced by the benchmark scripts: with RTT_MS set, put
# scripts/lib/delay-proxy.py (RTT_MS/2 each way, 127.0.0.1 only) between
# the senders and the sink on $port, as a relay 10-80 ms away would be.
# Afterwards $port is the proxy's, $proxy its pid (empty without RTT_MS),
# and rtt_limit CONCURRENCY prints the wire's limit, CONCURRENCY / RTT.
proxy=
if [ -n "${RTT_MS:-}" ]; then
  sink_port=$port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  proxy_out=$(mktemp)
  python3 scripts/lib/delay-proxy.py "$port" "$sink_port" "$(python3 -c "print($RTT_MS / 2)")" > "$proxy_out" &
  proxy=$!
  for _ in $(seq 1 50); do grep -q ready "$proxy_out" 2>/dev/null && break; sleep 0.1; done
  rm -f "$proxy_out"
fi
rtt_limit() { python3 -c "print(f'{$1 * 1000 / $RTT_MS:.0f}')"; }
