#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests talk to
# (scripts/setup/*.sh: the SMTP catcher and the other services), then runs
# `cargo test` with nothing skipped. Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
for setup in scripts/setup/*.sh; do
  bash "$setup"
done
# Every suite runs: a missing service is a failure, not a skip.
export GAZETTE_REQUIRE_ALL=1
# The slow fault-injection cases and the long property runs.
export GAZETTE_SLOW_TESTS=1
export PROPTEST_CASES="${PROPTEST_CASES:-10000}"
# The PostgreSQL backend's tests (scripts/setup/postgres.sh made sure the
# server answers); each test creates and drops its own database.
export GAZETTE_TEST_POSTGRES_URL="${GAZETTE_TEST_POSTGRES_URL:-postgres://root@127.0.0.1:5432/postgres}"
# Two test threads per core: most of the suite waits (child processes, the
# PostgreSQL server, timeouts it provokes, a browser) rather than computes;
# measured in docs/BENCHMARKS.md ("Test time").
cores="$(nproc 2>/dev/null || echo 2)"
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-$((cores * 2))}"
cargo test --locked "$@"
