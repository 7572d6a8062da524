#!/usr/bin/env bash
# Several workers on one campaign: a scheduled campaign of a ~10 KB post to
# N subscribers, run by W `gazette worker` processes that share the delivery
# queue (per-row leases), through Postfix's smtp-sink on 127.0.0.1; beside it
# Postfix's smtp-source on the same sink, same message size and count.
#   scripts/bench-workers.sh                                   # SQLite, 1 worker
#   scripts/bench-workers.sh --database postgres://root@127.0.0.1:5432/postgres --workers 1,2,4
#   N=20000 RUNS=3 scripts/bench-workers.sh ...                # medians of 3 runs
#   RTT_MS=20 scripts/bench-workers.sh ...   # a round trip added before the sink (scripts/lib/rtt.sh)
#   GAZETTE_BIN=/path/to/gazette scripts/bench-workers.sh ...   # that binary, not a fresh release build
# A postgres:// URL names a server (and a database to connect to for
# CREATE/DROP DATABASE): each run gets a fresh database on it, dropped after.
#
# msg/s: N / (finished_at - scheduled_at) as the campaign stores them (µs
# timestamps): from the moment the campaign is due, through the creation of
# its delivery rows, to the last outcome committed by whichever worker.
# db CPU µs/msg: CPU time of the database engine per message: for SQLite the
# sqlx-sqlite worker threads inside the gazette processes (where SQLite runs),
# for PostgreSQL the server backends that served the run's database (client
# side encoding in Gazette's own threads is not in it). gz CPU µs/msg: all
# CPU of the gazette worker processes per message (rendering, SMTP, store).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-20000}
RUNS=${RUNS:-1}
database=""
workers="1"
while [ $# -gt 0 ]; do
  case "$1" in
    --database) database=$2; shift 2 ;;
    --database=*) database=${1#*=}; shift ;;
    --workers) workers=$2; shift 2 ;;
    --workers=*) workers=${1#*=}; shift ;;
    -h|--help) sed -n 2,20p "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
case "$database" in
  ""|sqlite:*) backend=sqlite ;;
  postgres://*|postgresql://*) backend=postgres ;;
  *) echo "--database: expected sqlite://FILE or postgres://…" >&2; exit 2 ;;
esac

. scripts/lib/postfix.sh
[ "$backend" = sqlite ] || command -v psql >/dev/null || { echo "psql is needed for --database postgres://" >&2; exit 2; }

if [ -z "${GAZETTE_BIN:-}" ]; then
  cargo build --quiet --release
  GAZETTE_BIN=$PWD/target/release/gazette
fi
bin=$GAZETTE_BIN
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
smtp-sink -u nobody "127.0.0.1:$port" 1000 &
sink=$!
sleep 0.3
proxy=
. scripts/lib/rtt.sh
[ -n "$proxy" ] && echo "== round trip added: $RTT_MS ms; the wire's limit per worker (concurrency 4): $(rtt_limit 4) msg/s"
wpids=()
dbname=""
cleanup() {
  for p in "${wpids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  kill "$sink" $proxy 2>/dev/null || true
  [ -n "$dbname" ] && psql -q "$database" -c "DROP DATABASE IF EXISTS $dbname WITH (FORCE)" >/dev/null 2>&1
  rm -rf "$work" "${proxy_stats:-}"
}
trap cleanup EXIT
sleep 0.5

# The server URL with another database name.
with_db() { python3 - "$1" "$2" <<'PY'
import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))
PY
}
# CPU seconds (user + system) of pids; with a thread-name prefix, only those threads.
cpu() { python3 - "$@" <<'PY'
import os, sys, glob
prefix, pids = sys.argv[1], sys.argv[2:]
hz, total = os.sysconf("SC_CLK_TCK"), 0
def ticks(path):
    f = open(path).read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])
for p in pids:
    try:
        if prefix == "-":
            total += ticks(f"/proc/{p}/stat")
        else:
            for t in glob.glob(f"/proc/{p}/task/*"):
                if open(t + "/comm").read().startswith(prefix):
                    total += ticks(t + "/stat")
    except OSError:
        pass
print(total / hz)
PY
}
backends() {
  psql -Atq "$1" -c "SELECT pid FROM pg_stat_activity WHERE datname = '$2' AND pid <> pg_backend_pid()" | xargs echo
}

cp gazette.toml "$work/"
printf '\n[worker]\npoll_interval = "200ms"\n' >> "$work/gazette.toml"
mkdir "$work/posts"
python3 - "$work/posts/realistic.md" <<'PY'
import sys
paras = ["Paragraph %d of a realistic post, with **bold** words, `inline code`, and a [relative link](more/%d/). " % (i, i) * 2 for i in range(8)]
open(sys.argv[1], "w").write('+++\ntitle = "A realistic post"\ndate = 2026-01-01\n+++\n' + "\n\n".join(paras) + "\n")
PY
cd "$work"
size=$("$bin" preview post realistic --format eml | wc -c)
{ echo "email,name"; seq 1 "$N" | awk '{printf "user%d@example.com,User %d\n", $1, $1}'; } > list.csv
export GAZETTE_SMTP_URL="smtp://127.0.0.1:$port" GAZETTE_ADMIN_LISTEN=""

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%Y-%m-%d)"
echo "== message: $size bytes; N = $N; default [smtp] settings (concurrency 4 per worker); poll_interval 200ms; $RUNS run(s) each"
printf '%-8s %7s %3s %9s %13s %6s %14s %14s\n' backend workers run "msg/s" "smtp-source" ratio "db CPU µs/msg" "gz CPU µs/msg"
results=$work/results.txt
: > "$results"

one_run() { # $1 = workers, $2 = run number
  local w=$1 r=$2 url i
  if [ "$backend" = sqlite ]; then
    rm -f "$work"/bench.db*
    url="sqlite://$work/bench.db"
  else
    dbname="gazette_bench_$$_${w}_$r"
    psql -q "$database" -c "CREATE DATABASE $dbname" >/dev/null
    url=$(with_db "$database" "$dbname")
  fi
  export GAZETTE_DATABASE_URL=$url
  "$bin" -q subscribers import list.csv --confirmed >/dev/null
  local at
  at=$(date -u -d '+4 seconds' +%Y-%m-%dT%H:%M:%SZ)
  "$bin" send post realistic --at "$at" --yes >/dev/null
  wpids=()
  for i in $(seq 1 "$w"); do
    "$bin" worker --listen 127.0.0.1:0 > "worker-$w-$r-$i.log" 2>&1 &
    wpids+=($!)
  done
  # CPU before the campaign is due (start-up, first scans), subtracted below.
  python3 -c "import time; time.sleep(max(0, $(date -d "$at" +%s) - 0.3 - time.time()))"
  local g0 d0=0
  g0=$(cpu - "${wpids[@]}")
  if [ "$backend" = sqlite ]; then d0=$(cpu sqlx-sqlite "${wpids[@]}")
  else for p in $(backends "$database" "$dbname"); do echo "$p $(cpu - "$p")"; done > backends0.txt; fi
  local status="" tries=0
  while [ "$status" != done ]; do
    sleep 0.5
    tries=$((tries + 1))
    status=$("$bin" campaigns show 1 --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' || true)
    if [ $tries -gt 1200 ] || [ "$status" = failed ] || [ "$status" = paused ]; then
      echo "campaign 1 did not finish (status: ${status:-?}); worker logs:" >&2
      tail -n 5 worker-"$w"-"$r"-*.log >&2
      exit 1
    fi
  done
  local g1 d1
  g1=$(cpu - "${wpids[@]}")
  if [ "$backend" = sqlite ]; then d1=$(cpu sqlx-sqlite "${wpids[@]}")
  else
    # Backends of this database now, less what each had used before the start.
    d1=0
    for p in $(backends "$database" "$dbname"); do
      d1=$(python3 -c "print($d1 + $(cpu - "$p") - $(awk -v p="$p" '$1 == p {print $2}' backends0.txt | grep . || echo 0))")
    done
  fi
  local show
  show=$("$bin" campaigns show 1 --json)
  kill -TERM "${wpids[@]}"
  for i in $(seq 1 100); do
    alive=0; for p in "${wpids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break; sleep 0.1
  done
  [ $alive = 0 ] || { echo "workers still running 10 s after SIGTERM" >&2; exit 1; }
  wpids=()
  # Who sent what: each worker's last progress line.
  for i in $(seq 1 "$w"); do
    echo "   worker $i: $(grep -o 'campaign 1: [0-9]* sent.*msg/s' "worker-$w-$r-$i.log" | tail -1)" >&2
  done
  if [ "$backend" = postgres ]; then
    psql -q "$database" -c "DROP DATABASE $dbname WITH (FORCE)" >/dev/null
    dbname=""
  fi
  local start end src
  start=$(date +%s.%N)
  smtp-source -d -s "${SOURCE_SESSIONS:-8}" -l "$size" -m "$N" "127.0.0.1:$port"
  end=$(date +%s.%N)
  src=$(python3 -c "print($N / ($end - $start))")
  python3 - "$show" "$N" "$src" "$g0" "$g1" "$d0" "$d1" "$backend" "$w" "$r" "$results" <<'PY'
import json, sys
from datetime import datetime
c = json.loads(sys.argv[1]); n = int(sys.argv[2]); src = float(sys.argv[3])
g0, g1, d0, d1 = map(float, sys.argv[4:8]); backend, w, r, out = sys.argv[8:12]
t = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
if c["sent"] != n:
    print(f"warning: campaign sent {c['sent']} of {n} (failed {c['failed']}, skipped {c['skipped']})", file=sys.stderr)
secs = (t(c["finished_at"]) - t(c["scheduled_at"])).total_seconds()
rate = n / secs
row = (backend, int(w), int(r), rate, src, rate / src, (d1 - d0) / n * 1e6, (g1 - g0) / n * 1e6)
open(out, "a").write(" ".join(map(str, row)) + "\n")
print("%-8s %7d %3d %9.0f %13.0f %6.2f %14.0f %14.0f" % row)
PY
}

for w in ${workers//,/ }; do
  for r in $(seq 1 "$RUNS"); do
    one_run "$w" "$r"
  done
done
if [ "$RUNS" -gt 1 ]; then
  echo "== medians of $RUNS runs"
  python3 - "$results" <<'PY'
import sys, statistics as st, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    b, w, r, *v = line.split()
    rows[(b, int(w))].append(list(map(float, v)))
for (b, w), vs in rows.items():
    m = [st.median(col) for col in zip(*vs)]
    print("%-8s %7d %3s %9.0f %13.0f %6.2f %14.0f %14.0f" % (b, w, "med", *m))
PY
fi
