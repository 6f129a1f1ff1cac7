#!/usr/bin/env bash
# `make test`: the whole suite in one parallel pytest run (pytest-xdist) on SQLite, with every
# database-facing test run again on PostgreSQL (`--db both`: each worker has its own PostgreSQL
# database, dropped after), and beside it the static checks: ruff (with the S security rules),
# mypy --strict on shopflow/workflows and shopflow/services, and the audit of uv.lock.
#
# Without a PostgreSQL server the PostgreSQL half is skipped with the reason, except with
# CI=true, where it fails. Arguments go to pytest (e.g. `bash scripts/test.sh tests/test_x.py`).
# SHOPFLOW_TEST_WORKERS sets the number of xdist workers (default: two per core, at most 8; the
# tests mostly wait on their Temporal servers and databases: a whole run uses ~700 CPU-seconds,
# about a third of its workers' wall time; 0 runs them in one process).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
# Bytecode caches on: with PYTHONDONTWRITEBYTECODE set (this project's machines set it) every
# Python process (each xdist worker, each `shopflow` subprocess of the stack tests, each case's
# strict sandbox re-import) compiled every module it imports from source again, and pytest
# re-rewrote the asserts of ~350 plugin modules: ~8 CPU-seconds per process before its first
# test. The caches go to __pycache__ (git-ignored) and are shared by all of them.
unset PYTHONDONTWRITEBYTECODE
cores=$(nproc 2>/dev/null || echo 2)
WORKERS=${SHOPFLOW_TEST_WORKERS:-$(( cores * 2 > 8 ? 8 : cores * 2 ))}
LOGS=$(mktemp -d)
trap 'rm -rf "$LOGS"' EXIT
start=$SECONDS

# The static checks run in the background while the tests run.
$BIN/ruff check shopflow tests bench scripts >"$LOGS/ruff" 2>&1 &
ruff_pid=$!
mypy_dirs=()
for d in shopflow/workflows shopflow/services; do [ -d "$d" ] && mypy_dirs+=("$d"); done
$BIN/mypy "${mypy_dirs[@]}" >"$LOGS/mypy" 2>&1 &
mypy_pid=$!
$BIN/python scripts/audit_deps.py >"$LOGS/audit" 2>&1 &
audit_pid=$!

db=both
if ! $BIN/python - <<'EOF' 2>"$LOGS/pg"
import os, psycopg
url = os.environ.get("SHOPFLOW_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://") + "/postgres",
                connect_timeout=3).close()
EOF
then
  if [ "${CI:-}" = true ]; then
    echo "== PostgreSQL unreachable with CI=true: its tests will fail"
  else
    echo "== PostgreSQL unreachable: the PostgreSQL half is SKIPPED ($(tail -n1 "$LOGS/pg"))"
    db=sqlite
  fi
fi

xdist=()
# --maxschedchunk 2: xdist hands out two tests at a time. Its default first hands each worker a
# quarter of its share in collection order, which gave every long test (sorted first) to gw0.
[ "$WORKERS" != 0 ] && xdist=(-n "$WORKERS" --dist load --maxschedchunk 2)
echo "== tests: every test on SQLite, the database-facing ones on PostgreSQL too (--db $db, ${WORKERS} workers)"
$BIN/pytest -q -p no:cacheprovider -rfEs "${xdist[@]}" --db "$db" "$@"
rc=$?
if [ $rc = 5 ]; then echo "pytest collected no tests"; rc=1; fi
echo "== tests took $((SECONDS - start)) s"

check() {  # name pid: print the check's output, fail the run if it failed
  if wait "$2"; then echo "== $1: ok"; else echo "== $1: FAILED"; cat "$LOGS/$1"; rc=1; fi
}
check ruff $ruff_pid
check mypy $mypy_pid
check audit $audit_pid
grep -E "^dependency audit" "$LOGS/audit" | tail -n 1
echo "== make test took $((SECONDS - start)) s"
exit $rc
