#!/usr/bin/env bash
# The main job on the embedded defaults: subscribers in SQLite (gazette.db),
# a digest of the example posts, sent to ./outbox/ (or to GAZETTE_SMTP_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
g() { cargo run --quiet -- "$@"; }
g subscribers import examples/subscribers.csv --confirmed
g send digest --since 2026-09-01 --yes
g campaigns list
if [ -z "${GAZETTE_SMTP_URL:-}" ]; then
  echo "The digest is in ./outbox/ ($(ls outbox/*.eml | wc -l) .eml files); open one in a mail client."
fi
