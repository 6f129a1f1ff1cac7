#!/usr/bin/env bash
# The whole suite on SQLite, then the database-facing tests again on a fresh PostgreSQL database.
# Without a PostgreSQL server the second pass is skipped with a reason, except with CI=true.
set -uo pipefail
PYTEST=".venv/bin/pytest"
rc=0
echo "== pass 1: every test, SQLite"
$PYTEST -q -p no:cacheprovider "$@" || rc=$?
if [ $rc = 5 ]; then echo "pytest collected no tests"; exit 1; fi
[ $rc = 0 ] || exit $rc
echo "== pass 2: database-facing tests, PostgreSQL"
# Browser tests exercise the pages, not the database: one pass (SQLite) is enough for them.
$PYTEST -q -p no:cacheprovider -m "db and not browser" --db postgres "$@"; rc=$?
if [ $rc = 5 ]; then echo "pytest collected no database tests"; exit 1; fi
exit $rc
