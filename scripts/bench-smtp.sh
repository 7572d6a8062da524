#!/usr/bin/env bash
# Delivery benchmark: a campaign of one post to N active subscribers through
# Postfix's smtp-sink on 127.0.0.1, end to end (campaign creation,
# per-recipient rendering, SQLite bookkeeping), against the ceiling that
# Postfix's smtp-source reaches on the same sink in the same run.
#
#   scripts/bench-smtp.sh                        # N = 100,000, ~11 KB message, one run
#   SIZE=5k N=20000 RUNS=5 CONCURRENCY=8 scripts/bench-smtp.sh  # issue #18: medians of five
#   N=1000000 scripts/bench-smtp.sh              # the peak-RSS check
#
# Settings (environment):
#   N            recipients (default 100000)
#   SIZE         10k (default: the ~11 KB post this script always sent) or
#                5k (a ~5 KB message, as in issue #18)
#   RUNS         runs of each side (default 1). Each run sends a fresh copy of
#                the same imported database; Gazette and smtp-source take turns.
#                The last line has the medians of both sides and of the per-run
#                ratios (issue #18 asks for the medians of RUNS=5).
#   SOURCE=0     skip smtp-source (for the peak-RSS check at N = 1,000,000)
#   SINK_OPTS    extra smtp-sink options, e.g. -p: no PIPELINING offered
#   CONCURRENCY  smtp.concurrency for Gazette (default: unset, Gazette's
#                default of 4).
#   RTT_MS       a round trip added between both senders and the sink by
#                scripts/lib/delay-proxy.py (RTT_MS/2 each way, 127.0.0.1 only),
#                as a relay 10-80 ms away: issue #30. The report then also
#                gives Gazette against the wire's limit, concurrency / RTT
#                messages per second (one round trip per message at best).
#   SOURCE_SESSIONS  smtp-source's sessions (default 8; with RTT_MS, the
#                same as Gazette's concurrency, so both face the same limit)
#   SOURCE_N     messages smtp-source sends (default N): smtp-source waits
#                for each command (4 round trips a message), so at RTT 60 ms
#                and 4 sessions 10,000 messages take ten minutes; its rate
#                is what is compared.
#   SMTPD=postfix  a private Postfix smtpd (scripts/lib/postfix-smtpd.sh:
#                PIPELINING and CHUNKING, discard transport, queue on
#                /dev/shm) instead of smtp-sink, which offers no CHUNKING.
#                SMTPD_DISCARD=chunking: the same server without CHUNKING.
#   GAZETTE_BIN  the binary (default target/release/gazette, built first), or
#                several separated by spaces: each run sends with each of them
#                in turn (same sink, same smtp-source run), so a change can be
#                measured against the binary before it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
N=${N:-100000}
RUNS=${RUNS:-1}
SIZE=${SIZE:-10k}
case "$SIZE" in
  10k) paras=8 ;;
  5k) paras=2 ;;
  *) echo "SIZE must be 10k or 5k" >&2; exit 2 ;;
esac

. scripts/lib/postfix.sh

if [ -z "${GAZETTE_BIN:-}" ]; then
  cargo build --quiet --release
  GAZETTE_BIN=$PWD/target/release/gazette
fi
read -r -a bins <<< "$GAZETTE_BIN"
bin=${bins[0]}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sink= smtpd=
if [ "${SMTPD:-}" = postfix ]; then
  smtpd=$(mktemp -d /dev/shm/gazette-smtpd.XXXXXX)
  scripts/lib/postfix-smtpd.sh start "$smtpd" "$port" "${SMTPD_DISCARD:-}" >/dev/null
else
  # shellcheck disable=SC2086
  smtp-sink ${SINK_OPTS:-} -u nobody "127.0.0.1:$port" 1000 &
  sink=$!
fi
proxy=
trap 'kill $sink $proxy 2>/dev/null || true; [ -n "$smtpd" ] && "$root/scripts/lib/postfix-smtpd.sh" stop "$smtpd" && rm -rf "$smtpd"; rm -rf "$work" "${proxy_stats:-}"' EXIT
sleep 0.5
conc=${CONCURRENCY:-4}
sessions=${SOURCE_SESSIONS:-8}
. scripts/lib/rtt.sh
[ -n "$proxy" ] && sessions=${SOURCE_SESSIONS:-$conc}

mkdir "$work/base"
cp gazette.toml "$work/base/"
if [ -n "${CONCURRENCY:-}" ]; then
  sed -i "s/^\[smtp\]$/[smtp]\nconcurrency = $CONCURRENCY/" "$work/base/gazette.toml"
fi
mkdir "$work/base/posts"
python3 - "$work/base/posts/realistic.md" "$paras" <<'PY'
import sys
paras = ["Paragraph %d of a realistic post, with **bold** words, `inline code`, and a [relative link](more/%d/). " % (i, i) * 2 for i in range(int(sys.argv[2]))]
open(sys.argv[1], "w").write('+++\ntitle = "A realistic post"\ndate = 2026-01-01\n+++\n' + "\n\n".join(paras) + "\n")
PY
cd "$work/base"
size=$("$bin" preview post realistic --format eml | wc -c)
{ echo "email,name"; seq 1 "$N" | awk '{printf "user%d@example.com,User %d\n", $1, $1}'; } > list.csv
"$bin" -q subscribers import list.csv --confirmed
rm list.csv
cd "$work"

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%Y-%m-%d)"
echo "== server: ${SMTPD:-smtp-sink} ${SINK_OPTS:-}${SMTPD_DISCARD:+ without $SMTPD_DISCARD}; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== message: $size bytes (headers, text and HTML parts); N = $N; concurrency ${CONCURRENCY:-4 (default)}; runs $RUNS"
if [ -n "${RTT_MS:-}" ]; then
  echo "== round trip added: $RTT_MS ms; the wire's limit: $conc / $(python3 -c "print($RTT_MS / 1000)") s = $(rtt_limit "$conc") msg/s"
fi
: > results.txt
for run in $(seq 1 "$RUNS"); do
  for b in "${!bins[@]}"; do
    rm -rf "$work/run" && cp -r "$work/base" "$work/run" && cd "$work/run"
    start=$(date +%s.%N)
    /usr/bin/time -f "%M" -o rss.txt "${bins[$b]}" --smtp-url "smtp://127.0.0.1:$port" send post realistic --yes 2> send.log >/dev/null
    end=$(date +%s.%N)
    lat=$(grep -o 'per-message latency.*' send.log | tail -1 || true)
    gz[$b]=$(python3 -c "print(f'{$N / ($end - $start):.0f}')")
    rss[$b]=$(( $(cat rss.txt) / 1024 ))
    lats[$b]=$lat
    wires[$b]=$(rtt_stats)
    cd "$work"
  done
  if [ "${SOURCE:-1}" = 0 ]; then
    src=0
  else
    sn=${SOURCE_N:-$N}
    start=$(date +%s.%N)
    smtp-source -d -s "$sessions" -l "$size" -m "$sn" "127.0.0.1:$port"
    end=$(date +%s.%N)
    src=$(python3 -c "print(f'{$sn / ($end - $start):.0f}')")
  fi
  echo "run $run: smtp-source -d -s $sessions -m ${SOURCE_N:-$N} (reference): $src msg/s"
  [ -n "$proxy" ] && echo "run $run: smtp-source on the wire: $(rtt_stats)"
  for b in "${!bins[@]}"; do
    ratio=$(python3 -c "print(f'{${gz[$b]} / max($src, 1):.2f}')")
    echo "$b ${gz[$b]} $src $ratio ${rss[$b]}" >> results.txt
    wire=""
    if [ -n "${RTT_MS:-}" ]; then
      wire="; of the wire's limit: $(python3 -c "print(f'{${gz[$b]} * $RTT_MS / 1000 / $conc:.2f}')")"
    fi
    echo "run $run: gazette ${bins[$b]}: ${gz[$b]} msg/s end to end, peak RSS ${rss[$b]} MB, ${lats[$b]}; ratio: $ratio$wire"
    [ -n "$proxy" ] && echo "run $run: gazette on the wire: ${wires[$b]}"
  done
done
python3 - results.txt "${RTT_MS:-0}" "$conc" "${bins[@]}" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
rtt, conc = float(sys.argv[2]), int(sys.argv[3])
for b, name in enumerate(sys.argv[4:]):
    rs = [list(map(float, r[1:])) for r in rows if int(r[0]) == b]
    med = lambda i: statistics.median(r[i] for r in rs)
    print(f"median of {len(rs)} run(s), {name}: gazette {med(0):.0f} msg/s, smtp-source {med(1):.0f} msg/s, "
          f"median ratio {med(2):.2f} (range {min(r[2] for r in rs):.2f}-{max(r[2] for r in rs):.2f}), "
          f"peak RSS max {max(r[3] for r in rs):.0f} MB"
          + (f"; of the wire's limit ({conc * 1000 / rtt:.0f} msg/s): {med(0) * rtt / 1000 / conc:.2f}" if rtt else ""))
PY
