"""Migrations are history: a revision that has landed on main never changes (a schema change is a
new revision), the history is one line with one head, and a database made at 0001 upgrades to
head and downgrades back to 0001 unchanged, on SQLite and on PostgreSQL.

Adding a revision (docs/HACKING.md, "Migrations"): put `<NNNN>_<what>.py` under
shopflow/migrations/versions/ with down_revision = the current head, and add its line to LANDED
below (the test that fails until then prints the line). Never edit a file listed here."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel

from shopflow.db import make_engine
from shopflow.migrate import MIGRATIONS_DIR, alembic_config

VERSIONS = MIGRATIONS_DIR / "versions"

# sha256 of every revision file that has landed on main, oldest first. Append, never edit.
LANDED = {
    "0001_initial_tables.py": "255d9e7b47f7afe501944a4e18a73763a510da208544daa41158ec892936b3d1",
    "0002_security.py": "787e2dc0ba8f649a995bce61c7dec611d31d7f8edb5ebb485a2e1ea7d4bc1d23",
    "0003_task_escalation_role.py": "13b80f345fce0d86657b96997ebe5ed9d503fd6373277e0e48c024363af00705",
    "0004_money_in_cents.py": "5f9d6a7ac8e1db0a69bfcbf8db402960f5ab9a16c5c1c339a6c4310ef9183cfe",
    "0005_return_categories.py": "0d2feadc5e1e059a0ce79d0cf4c7f2bb44c919d08655fc6982950113d8ca1b89",
    "0006_unrated_customers.py": "ef643f34c0edc2e26e7504a710dedaa9b5a60b97ef7cf64c26625b12e98e98e9",
    "0007_reconciliation_settlements.py": "b11307ee6647cac41db8f81cb03bc1acecfb48735f3012d09f648d8e0884d1e3",
    "0008_inbound_mails.py": "42f30d14f537012a18b9b8506ae72bf66513933290afcdc511710d86a4503f20",
    "0009_invoices_and_differences.py": "41de44cbc8fc06da38151006e0180543b8cc03b509cdd630345e6af55a4a3aaa",
    "0010_sample_documents.py": "3756e88e8244af902acef102afe226b4c653cc491c953a60eb51c71e348d8029",
    "0011_person_preferences.py": "334ff1778e01180ab5c25edaa5687093f7cd7df89f989519fb851e5b8712d5e4",
    "0012_product_price_details.py": "023d679587b402e1fb98c46b7d6138d3645540b902417b2283c0866397f79ac4",
    "0013_bank_detail_requests.py": "61873ed17b70b16b044acdfac16de9226ec741fdfc6a7a7535511f515f6351bc",
}
# 0001's git blob as it was frozen (`git hash-object`): the same check in git's own terms.
FROZEN_0001_BLOB = "3ceffe5e62081a0b3a5e0eedf4cbb4ccb81eb3a3"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def git_blob(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def revision_files() -> list[Path]:
    return sorted(p for p in VERSIONS.glob("*.py") if not p.name.startswith("__"))


def test_0001_is_frozen() -> None:
    assert git_blob(VERSIONS / "0001_initial_tables.py") == FROZEN_0001_BLOB, (
        "0001_initial_tables.py changed: it is history, write a new revision instead")


def test_landed_revisions_never_change_and_new_ones_are_recorded() -> None:
    files = {p.name: p for p in revision_files()}
    missing = [name for name in LANDED if name not in files]
    assert not missing, f"landed revisions were removed or renamed: {missing}"
    changed = [name for name, digest in LANDED.items() if sha256(files[name]) != digest]
    assert not changed, (f"landed revisions were edited: {changed}. They are history: revert the "
                         "edit and make the change in a new revision")
    new = [name for name in files if name not in LANDED]
    assert not new, ("new revision(s) not recorded in LANDED; once final, add:\n" + "\n".join(
        f'    "{name}": "{sha256(files[name])}",' for name in new))


def test_history_is_one_line_with_one_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    heads = script.get_heads()
    assert len(heads) == 1, f"the history branches: heads {heads}; re-point the newer revision's " \
                            "down_revision to the other head (and renumber its file)"
    chain = list(script.walk_revisions("base", "heads"))  # head first, down to 0001
    assert chain[-1].revision == "0001" and chain[-1].down_revision is None
    assert len(chain) == len(revision_files()), "a revision file is not on the line to head"
    # The file numbers follow the line: NNNN_ revisions in order, each revising the one before.
    numbers = [Path(str(rev.path)).name.split("_", 1)[0] for rev in reversed(chain)]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers), numbers


def schema(engine: Engine) -> dict[str, Any]:
    """What a database holds, as comparable data: tables, their columns (type, null), indexes,
    unique constraints and foreign keys."""
    insp = inspect(engine)
    out: dict[str, Any] = {}
    for table in sorted(insp.get_table_names()):
        out[table] = {
            # By name: a column a downgrade adds back lands at the end of the table (SQLite and
            # PostgreSQL cannot insert it in place), which changes no query.
            "columns": sorted((c["name"], str(c["type"]), c["nullable"])
                              for c in insp.get_columns(table)),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in insp.get_indexes(table)),
            "unique": sorted((u["name"] or "", tuple(u["column_names"]))
                             for u in insp.get_unique_constraints(table)),
            "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"])
                          for f in insp.get_foreign_keys(table)),
        }
    return out


def test_a_database_made_at_0001_upgrades_to_head_and_back(empty_database: str) -> None:
    engine = make_engine(empty_database)
    cfg = alembic_config()

    def migrate(step: Any, target: str) -> None:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            step(cfg, target)

    try:
        migrate(command.upgrade, "0001")
        at_0001 = schema(engine)
        assert "alembic_version" in at_0001 and len(at_0001) > 10

        migrate(command.upgrade, "head")
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                    SQLModel.metadata)
        assert diff == [], f"head and the models differ: {diff}"

        migrate(command.downgrade, "0001")
        assert schema(engine) == at_0001, "downgrading to 0001 does not give 0001's schema back"

        migrate(command.downgrade, "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    finally:
        engine.dispose()
