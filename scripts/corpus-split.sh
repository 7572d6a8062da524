#!/bin/sh
# The held-out rule of the bounce corpus's second collection (the `ss-`
# files, tests/fixtures/bounces/README.md): sorted by the SHA-256 of the
# file name, the first half (rounded up) is held out. Prints NAME<TAB>part.
set -eu
dir="$(dirname "$0")/../tests/fixtures/bounces/corpus"
list=$(for f in "$dir"/ss-*; do
    n=$(basename "$f")
    printf '%s %s\n' "$(printf %s "$n" | sha256sum | cut -c1-64)" "$n"
done | sort)
total=$(printf '%s\n' "$list" | grep -c . || true)
held=$(( (total + 1) / 2 ))
printf '%s\n' "$list" | awk -v h="$held" '{ print $2 "\t" (NR <= h ? "heldout" : "tune") }' | sort
