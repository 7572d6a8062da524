#!/usr/bin/env bash
# The dashboard's pages (issue 31), in release: each page's response time
# for an empty database and for one with 100,000 readers (a year of
# sign-ups, 10% of them gone: unsubscribed, bounced, complained) and 200
# campaigns to a growing audience (about 10 million deliveries, bounces,
# complaints, counted links). Filled with SQL through the sqlite3 shell
# (sqlite3 from Debian's packages), then `gazette serve` with an admin
# token, signed in with curl; RUNS requests per page, median and slowest in
# ms. The first request of the campaign list right after the start is
# shown too: a finished campaign's numbers are computed once and kept
# (campaign_counts), the dashboard does it in the background at start.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-7}"
READERS="${READERS:-100000}"
CAMPAIGNS="${CAMPAIGNS:-200}"
command -v sqlite3 >/dev/null || { echo "sqlite3 is needed (apt-get install sqlite3)" >&2; exit 1; }
# GAZETTE_BIN: another binary (a debug build, to try the script quickly).
if [ -z "${GAZETTE_BIN:-}" ]; then
  cargo build --release --locked --quiet
fi
bin="${GAZETTE_BIN:-$PWD/target/release/gazette}"
dir="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
token="bench-dashboard-token-$(date +%s)"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A project of its own; `db migrate` makes the schema.
project() {
  "$bin" init "$1" >/dev/null 2>&1
  sed -i 's/^# clicks = false/clicks = true/' "$1/gazette.toml"
  (cd "$1" && "$bin" db migrate >/dev/null 2>&1)
}

fill() {
  local now start
  now=$(date +%s)
  start=$((now - 365 * 86400))
  sqlite3 "$1/gazette.db" >/dev/null <<SQL
PRAGMA journal_mode = WAL;
PRAGMA synchronous = OFF;
PRAGMA foreign_keys = OFF;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $READERS)
INSERT INTO subscribers (id, email, email_key, status, source, created_at, confirmed_at,
                         unsubscribed_at, unsub_verifier, selector, welcomed_at)
SELECT i, 'reader' || i || '@example' || (i % 50) || '.org', 'reader' || i || '@example' || (i % 50) || '.org',
       CASE WHEN i % 100 < 90 THEN 'active' WHEN i % 100 < 96 THEN 'unsubscribed'
            WHEN i % 100 < 98 THEN 'bounced' WHEN i % 100 < 99 THEN 'complained' ELSE 'pending' END,
       'import', t, CASE WHEN i % 100 = 99 THEN NULL ELSE t END,
       CASE WHEN i % 100 BETWEEN 90 AND 98
            THEN strftime('%Y-%m-%dT%H:%M:%S.000000Z', min($now - 60, $start + i * 315 + (i % 90) * 86400), 'unixepoch') END,
       lower(hex(randomblob(16))), printf('%018x', i), t
FROM (SELECT i, strftime('%Y-%m-%dT%H:%M:%S.000000Z', $start + i * (365 * 86400 / $READERS), 'unixepoch') AS t FROM n);

WITH RECURSIVE n(c) AS (SELECT 1 UNION ALL SELECT c + 1 FROM n WHERE c < $CAMPAIGNS)
INSERT INTO campaigns (id, kind, subject, prepared, status, total, created_at, started_at, finished_at)
SELECT c, CASE WHEN c % 4 = 0 THEN 'digest' ELSE 'post' END, 'Issue number ' || c,
       '{"subject":"Issue","html":"","text":"","kind":"post"}', 'done', c * ($READERS / $CAMPAIGNS), t, t,
       strftime('%Y-%m-%dT%H:%M:%S.000000Z', $start + c * (365 * 86400 / $CAMPAIGNS) + 900, 'unixepoch')
FROM (SELECT c, strftime('%Y-%m-%dT%H:%M:%S.000000Z', $start + c * (365 * 86400 / $CAMPAIGNS), 'unixepoch') AS t FROM n);

-- Campaign c went to the readers who had joined by then: ids up to c * READERS / CAMPAIGNS.
INSERT INTO deliveries (campaign_id, subscriber_id, status, attempts, sent_at)
SELECT c.id, s.id, CASE WHEN s.id % 500 = 7 THEN 'failed' ELSE 'sent' END, 1,
       strftime('%Y-%m-%dT%H:%M:%S.000000Z', $start + c.id * (365 * 86400 / $CAMPAIGNS) + s.id % 600, 'unixepoch')
FROM campaigns c JOIN subscribers s ON s.id <= c.id * ($READERS / $CAMPAIGNS)
ORDER BY c.id, s.id;

INSERT INTO bounces (event_key, subscriber_id, campaign_id, kind, blocked, reason, source, created_at)
SELECT 'hard:' || id, id, min($CAMPAIGNS, id / ($READERS / $CAMPAIGNS) + 1), 'hard', 0, 'user unknown', 'bench', unsubscribed_at
FROM subscribers WHERE status = 'bounced';
INSERT INTO bounces (event_key, subscriber_id, campaign_id, kind, blocked, reason, source, created_at)
SELECT 'arf:' || id, id, min($CAMPAIGNS, id / ($READERS / $CAMPAIGNS) + 1), 'complaint', 0, 'abuse', 'bench', unsubscribed_at
FROM subscribers WHERE status = 'complained';
INSERT INTO bounces (event_key, subscriber_id, campaign_id, kind, blocked, reason, source, created_at)
SELECT 'soft:' || id, id, min($CAMPAIGNS, id / ($READERS / $CAMPAIGNS) + 1), 'soft', id % 3 = 0, 'mailbox full', 'bench', created_at
FROM subscribers WHERE id % 97 = 0;

WITH RECURSIVE n(l) AS (SELECT 1 UNION ALL SELECT l + 1 FROM n WHERE l < 10)
INSERT INTO campaign_links (campaign_id, link, url, clicks)
SELECT c.id, n.l, 'https://example.com/post-' || c.id || '/link-' || n.l, abs(random()) % 5000
FROM campaigns c, n;
COMMIT;
ANALYZE;
SQL
}

serve() {
  local http admin
  http=$(port) admin=$(port)
  (cd "$1" && GAZETTE_ADMIN_TOKEN="$token" GAZETTE_ADMIN_LISTEN="127.0.0.1:$admin" \
    "$bin" -q serve --listen "127.0.0.1:$http" >"$dir/serve.log" 2>&1) &
  pid=$!
  base="http://127.0.0.1:$admin"
  public="http://127.0.0.1:$http"
  for _ in $(seq 300); do curl -s -o /dev/null "$base/admin/login" && break; sleep 0.1; done
  jar="$dir/cookies"
  rm -f "$jar"
  csrf=$(curl -s -c "$jar" -b "$jar" "$base/admin/login" | sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' | head -1)
  curl -s -o /dev/null -c "$jar" -b "$jar" --data "csrf=$csrf&token=$token" "$base/admin/login"
}

stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; }

ms() { curl -s -o /dev/null -b "$jar" -w '%{http_code} %{time_total}\n' "$1" | awk '{ if ($1 >= 400) { print "HTTP " $1 > "/dev/stderr"; exit 1 } printf "%.1f\n", $2 * 1000 }'; }

measure() {
  local url times
  for page in "$@"; do
    url="$base$page"
    [[ "$page" == /c/* ]] && url="$public$page"
    times=()
    for _ in $(seq "$RUNS"); do times+=("$(ms "$url")"); done
    printf '%-34s median %7s ms   slowest %7s ms\n' "$page" \
      "$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')" \
      "$(printf '%s\n' "${times[@]}" | sort -n | tail -1)"
  done
}

echo "machine: $(nproc) cores, $(awk '/model name/ {sub(/.*: /, ""); print; exit}' /proc/cpuinfo); $(date -u +%F)"
echo "== empty database"
project "$dir/empty"
serve "$dir/empty"
measure /admin/ /admin/campaigns /admin/readers "/admin/readers?q=nobody" /admin/health
stop

echo "== $READERS readers, $CAMPAIGNS campaigns"
project "$dir/full"
s=$(date +%s)
fill "$dir/full"
echo "filled in $(($(date +%s) - s)) s: $(sqlite3 "$dir/full/gazette.db" 'SELECT COUNT(*) FROM deliveries') deliveries, $(du -h "$dir/full/gazette.db" | cut -f1)"
serve "$dir/full"
echo "first request of the campaign list after the start: $(ms "$base/admin/campaigns") ms"
s=$(date +%s)
for _ in $(seq 600); do
  [ "$(sqlite3 "$dir/full/gazette.db" 'SELECT COUNT(*) FROM campaign_counts')" -ge "$CAMPAIGNS" ] && break
  sleep 1
done
echo "finished campaigns' numbers kept in the background within $(($(date +%s) - s)) s"
half=$((READERS / 2))
measure /admin/ /admin/campaigns "/admin/campaigns?page=8" "/admin/campaigns/$CAMPAIGNS" /admin/campaigns/1 \
  /admin/readers "/admin/readers?q=reader4242" "/admin/readers/$half" "/admin/readers/$half/remove" /admin/health \
  "/c/$CAMPAIGNS/3"
stop
