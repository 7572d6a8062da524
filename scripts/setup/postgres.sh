#!/bin/sh
# PostgreSQL for the tests of the PostgreSQL backend (tests/it/store/,
# tests/it/sending/fleet.rs, tests/it/ops/db_copy.rs): a server on 127.0.0.1:5432 that
# lets `root` in (the project's machines run one with trust authentication).
# Checked with pg_isready; started if it is installed but down; installed
# from Debian's packages if missing. Each test creates its own database.
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! command -v pg_isready >/dev/null 2>&1 || ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    if ! ready; then
        export DEBIAN_FRONTEND=noninteractive
        $SUDO apt-get update -qq
        $SUDO apt-get install -y -qq postgresql >/dev/null
    fi
fi
if ! ready; then
    for conf in /etc/postgresql/*/main; do
        version=$(basename "$(dirname "$conf")")
        $SUDO pg_ctlcluster "$version" main start || true
    done
fi
i=0
until ready; do
    i=$((i + 1))
    if [ "$i" -gt 30 ]; then
        echo "PostgreSQL does not answer on 127.0.0.1:5432" >&2
        exit 1
    fi
    sleep 1
done
# The tests connect as root; create the role where it is missing.
if ! psql -h 127.0.0.1 -U root -d postgres -Atc 'SELECT 1' >/dev/null 2>&1; then
    $SUDO -u postgres createuser --superuser root 2>/dev/null \
        || su postgres -c 'createuser --superuser root'
fi
pg_isready -h 127.0.0.1 -p 5432
