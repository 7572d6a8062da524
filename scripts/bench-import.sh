#!/usr/bin/env bash
# The SQLite import's two forms in the same run (issue #25): the C API
# path (store/sqlite/raw.rs, the default) against the safe json_each
# upsert through sqlx (GAZETTE_BENCH_IMPORT_JSON_EACH=1). N rows, new then
# all unchanged, RUNS runs of each, alternating; medians printed.
#   scripts/bench-import.sh            # N = 1,000,000, RUNS = 3
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
RUNS=${RUNS:-3}
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
cargo build --quiet --release --locked
bin=$PWD/target/release/gazette
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp gazette.toml "$work/"
csv="$work/list.csv"
{ echo "email,name,city"; seq 1 "$N" | awk '{printf "user%d@example.com,User %d,City %d\n", $1, $1, $1 % 100}'; } > "$csv"
secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
declare -A times
for run in $(seq 1 "$RUNS"); do
  for variant in raw json_each; do
    rm -f "$work"/gazette.db*
    (cd "$work" && "$bin" -q db migrate)
    if [ "$variant" = json_each ]; then export GAZETTE_BENCH_IMPORT_JSON_EACH=1; else unset GAZETTE_BENCH_IMPORT_JSON_EACH; fi
    new=$(cd "$work" && secs "$bin" -q subscribers import "$csv" --confirmed)
    again=$(cd "$work" && secs "$bin" -q subscribers import "$csv" --confirmed)
    unset GAZETTE_BENCH_IMPORT_JSON_EACH
    echo "run $run $variant: new $new s, again $again s"
    times[$variant-new]+="$new "
    times[$variant-again]+="$again "
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for k in raw-new json_each-new raw-again json_each-again; do
  echo "median $k: $(echo "${times[$k]}" | median) s"
done
