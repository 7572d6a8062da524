#!/usr/bin/env bash
# Delivery benchmark: a campaign of a ~10 KB post to N active subscribers
# through Postfix's smtp-sink on 127.0.0.1, end to end (campaign creation,
# per-recipient rendering, SQLite bookkeeping), against the ceiling that
# Postfix's smtp-source reaches on the same sink.
#   scripts/bench-smtp.sh                 # N = 100,000
#   N=1000000 scripts/bench-smtp.sh       # the peak-RSS check
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}

if ! command -v smtp-sink >/dev/null && [ ! -x /usr/sbin/smtp-sink ]; then
  echo "== installing postfix for smtp-sink/smtp-source (no mail daemon is started)"
  guard=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && guard=1
  fi
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
  [ "$guard" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi
export PATH=$PATH:/usr/sbin

cargo build --quiet --release
bin=$PWD/target/release/gazette
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
smtp-sink -u nobody "127.0.0.1:$port" 1000 &
sink=$!
trap 'kill $sink 2>/dev/null; rm -rf "$work"' EXIT
sleep 0.5

cp gazette.toml "$work/"
mkdir "$work/posts"
python3 - "$work/posts/realistic.md" <<'PY'
import sys
paras = ["Paragraph %d of a realistic post, with **bold** words, `inline code`, and a [relative link](more/%d/). " % (i, i) * 2 for i in range(8)]
open(sys.argv[1], "w").write('+++\ntitle = "A realistic post"\ndate = 2026-01-01\n+++\n' + "\n\n".join(paras) + "\n")
PY
cd "$work"
size=$("$bin" preview post realistic --format eml | wc -c)
{ echo "email,name"; seq 1 "$N" | awk '{printf "user%d@example.com,User %d\n", $1, $1}'; } > list.csv
"$bin" -q subscribers import list.csv --confirmed

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%Y-%m-%d)"
echo "== message: $size bytes (headers, text and HTML parts); N = $N; default settings (concurrency 4)"
start=$(date +%s.%N)
/usr/bin/time -f "%M" -o rss.txt "$bin" --smtp-url "smtp://127.0.0.1:$port" send post realistic --yes 2> send.log >/dev/null
end=$(date +%s.%N)
grep -o 'per-message latency.*' send.log | tail -1
gz=$(python3 -c "print(f'{$N / ($end - $start):.0f}')")
start=$(date +%s.%N)
smtp-source -d -s 8 -l "$size" -m "$N" "127.0.0.1:$port"
end=$(date +%s.%N)
src=$(python3 -c "print(f'{$N / ($end - $start):.0f}')")
echo "gazette send (end to end):   $gz msg/s, peak RSS $(( $(cat rss.txt) / 1024 )) MB"
echo "smtp-source -d -s 8 (ceiling): $src msg/s"
python3 -c "print(f'ratio: {$gz / $src:.2f}')"
