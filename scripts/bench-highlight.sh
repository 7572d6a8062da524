#!/usr/bin/env bash
# Syntax highlighting's cost (issue 28), in release: `gazette preview post`
# of tests/fixtures/rich/code-languages.md (nine code blocks) highlighted,
# against the same post with its languages made unknown (the reference,
# nothing highlighted), alternated, RUNS runs each; medians in ms and the
# sizes of both HTML parts. Highlighting runs once per campaign, never per
# recipient, so this is what a campaign pays for it.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-5}"
cargo build --release --locked --quiet
bin="$PWD/target/release/gazette"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
"$bin" init "$dir/p" >/dev/null 2>&1
mkdir -p "$dir/p/posts"
cp tests/fixtures/rich/code-languages.md "$dir/p/posts/code.md"
sed 's/^```\([a-z]\+\)/```x\1/; s/^title: .*/title: "Plain"/' "$dir/p/posts/code.md" >"$dir/p/posts/plain.md"
cd "$dir/p"
ms() {
  local s e
  s=$(date +%s%N)
  "$bin" preview post "$1" --format html -o "$dir/$1.html" >/dev/null 2>&1
  e=$(date +%s%N)
  echo $(((e - s) / 1000000))
}
plain=() code=()
for _ in $(seq "$RUNS"); do
  plain+=("$(ms plain)")
  code+=("$(ms code)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
p=$(median "${plain[@]}") c=$(median "${code[@]}")
echo "reference (no highlighting): ${plain[*]} ms, median $p ms, HTML $(wc -c <"$dir/plain.html") bytes"
echo "highlighted:                 ${code[*]} ms, median $c ms, HTML $(wc -c <"$dir/code.html") bytes"
awk -v p="$p" -v c="$c" 'BEGIN {printf "ratio %.2f, highlighting costs %d ms per campaign\n", c / p, c - p}'
