"""Database engine: SQLite (WAL, busy timeout, foreign keys, immediate write transactions) or
PostgreSQL, chosen by the URL alone."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session


def make_engine(url: str, *, busy_timeout: float = 30.0) -> Engine:
    """``busy_timeout``: how long a SQLite writer waits for another's lock before the request
    fails (503); PostgreSQL ignores it."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False,
                                                  "timeout": busy_timeout})
        _tune_sqlite(engine, busy_timeout)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _tune_sqlite(engine: Engine, busy_timeout: float) -> None:
    # The API and the worker write the same file from separate processes: WAL lets readers go on
    # while one writes, busy_timeout waits for the lock instead of failing, and BEGIN IMMEDIATE
    # takes the write lock up front so a read-then-write transaction never dead-ends on upgrade.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # let SQLAlchemy's begin event emit BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        write = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


_WRITE_OPTION = "shopflow_write"


@contextmanager
def session_scope(engine: Engine, *, write: bool = True) -> Iterator[Session]:
    """One short transaction: commit on success, roll back on any error. On SQLite a write
    transaction takes the write lock when it begins (reads stay concurrent)."""
    bind = engine.execution_options(**{_WRITE_OPTION: True}) if write else engine
    with Session(bind, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def insert_ignore(session: Session, table: Any, rows: list[dict[str, Any]], keys: list[str],
                  *, any_conflict: bool = False) -> int:
    """INSERT … ON CONFLICT (keys) DO NOTHING on SQLite and PostgreSQL; returns how many rows
    were new. Counted with RETURNING: psycopg reports rowcount -1 for these statements.
    ``table`` is a Table or a SQLModel table class. ``any_conflict``: a conflict on any unique
    column is ignored, not only on ``keys`` (PostgreSQL arbitrates only the named index: two
    writers racing to insert the same row otherwise fail on the table's other unique index)."""
    if not rows:
        return 0
    table = getattr(table, "__table__", table)  # a model class or its table
    dialect = session.get_bind().dialect.name
    insert_fn = pg_insert if dialect == "postgresql" else sqlite_insert
    target = None if any_conflict else keys
    stmt = (insert_fn(table).values(rows).on_conflict_do_nothing(index_elements=target)
            .returning(table.c[keys[0]]))
    return len(session.execute(stmt).all())
