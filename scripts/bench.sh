#!/usr/bin/env bash
# Benchmarks, in release mode: rendering, then importing N subscribers.
#   scripts/bench.sh            # N = 1,000,000
#   N=100000 scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%Y-%m-%d)"
echo "== rendering (cargo bench --bench render)"
cargo bench --quiet --bench render

echo "== import of subscribers (release binary, real SQLite file)"
cargo build --quiet --release
bin=$PWD/target/release/gazette
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp gazette.toml "$work/"
measure() { # measure LABEL CMD...: wall seconds and peak RSS of one run
  local label=$1; shift
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "$label: %e s wall, %M KB peak RSS" "$@" >/dev/null
  else
    local start end; start=$(date +%s.%N); "$@" >/dev/null; end=$(date +%s.%N)
    echo "$label: $(echo "$end - $start" | bc) s wall (install GNU time for peak RSS)"
  fi
}
for n in $((N / 10)) "$N"; do
  csv="$work/list-$n.csv"
  { echo "email,name,city"; seq 1 "$n" | awk '{printf "user%d@example.com,User %d,City %d\n", $1, $1, $1 % 100}'; } > "$csv"
  rm -f "$work"/gazette.db*
  (cd "$work" && "$bin" -q db migrate)
  (cd "$work" && measure "import $n rows (new)" "$bin" -q subscribers import "$csv" --confirmed)
  (cd "$work" && measure "import $n rows again (all unchanged)" "$bin" -q subscribers import "$csv" --confirmed)
done
