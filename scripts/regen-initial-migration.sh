#!/usr/bin/env bash
# Until the first release the schema has one migration, 0001, regenerated from the models.
# (After a release: add a new revision with `alembic revision --autogenerate` instead.)
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f shopflow/migrations/versions/0001_initial_tables.py
tmp=$(mktemp -d)
.venv/bin/python - "$tmp/gen.db" <<'PY'
import sys
from alembic import command
from shopflow.migrate import alembic_config
command.revision(alembic_config(f"sqlite:///{sys.argv[1]}"), message="initial tables",
                 autogenerate=True, rev_id="0001")
PY
sed -i 's/^Create Date: .*/Create Date: 2026-11-25/' shopflow/migrations/versions/0001_initial_tables.py
.venv/bin/ruff format -q shopflow/migrations/versions/0001_initial_tables.py || true
rm -rf "$tmp"
