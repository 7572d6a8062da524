#!/bin/sh
# The held-out rule of the bounce corpus's later collections
# (tests/fixtures/bounces/README.md): the files whose names start with
# PREFIX (`ss-`, the second collection, by default; `s3-` the third),
# sorted by the SHA-256 of the file name, the first half (rounded up) is
# held out. The third collection (`s3-`), whose size was not known when
# its rule was written, holds out each file whose name's SHA-256 begins
# with a hex digit 0-7. Prints NAME<TAB>part.   Usage: corpus-split.sh [PREFIX]
set -eu
prefix="${1:-ss-}"
dir="$(dirname "$0")/../tests/fixtures/bounces/corpus"
if [ "$prefix" = "s3-" ]; then
    for f in "$dir"/s3-*; do
        [ -e "$f" ] || continue
        n=$(basename "$f")
        case $(printf %s "$n" | sha256sum | cut -c1) in
            [0-7]) printf '%s\theldout\n' "$n" ;;
            *) printf '%s\ttune\n' "$n" ;;
        esac
    done
    exit 0
fi
list=$(for f in "$dir"/"$prefix"*; do
    [ -e "$f" ] || continue
    n=$(basename "$f")
    printf '%s %s\n' "$(printf %s "$n" | sha256sum | cut -c1-64)" "$n"
done | sort)
total=$(printf '%s\n' "$list" | grep -c . || true)
held=$(( (total + 1) / 2 ))
printf '%s\n' "$list" | awk -v h="$held" 'NF { print $2 "\t" (NR <= h ? "heldout" : "tune") }' | sort
