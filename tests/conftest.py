"""Test fixtures: databases (SQLite, or a fresh PostgreSQL database per run with --db postgres),
a session-scoped time-skipping Temporal environment, a worker and an API client per test, each
on its own task queue."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlmodel import SQLModel
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import shopflow.models  # noqa: F401  (registers every table)
from shopflow.api.app import create_app
from shopflow.db import make_engine
from shopflow.providers import Providers, build_providers
from shopflow.settings import Settings
from shopflow.temporal import ensure_search_attributes
from shopflow.worker import build_worker

BIN = Path(sys.executable).parent
# Every test's worker runs the SDK's strict sandbox (each case re-imports its workflow module and
# non-deterministic calls in it are refused), so a test run catches what production's shared
# sandbox would not (settings.worker_sandbox; tests/test_worker_smoke.py covers "shared").
os.environ.setdefault("SHOPFLOW_WORKER_SANDBOX", "strict")
PG_ADMIN_URL = os.environ.get("SHOPFLOW_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--db", choices=["sqlite", "postgres"], default="sqlite",
                     help="database for the database-facing tests")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "engine" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


# --- databases -----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def pg_database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """A fresh PostgreSQL database for this run, dropped after; None on the SQLite pass."""
    if request.config.getoption("--db") != "postgres":
        yield None
        return
    import psycopg

    admin = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        conn = psycopg.connect(admin + "/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as err:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and PostgreSQL at {admin} is unreachable: {err}")
        pytest.skip(f"no PostgreSQL server at {admin} ({err}); the PostgreSQL pass is skipped")
    name = f"shopflow_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_URL}/{name}"
    finally:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@pytest.fixture(scope="session")
def pg_engine(pg_database: str | None) -> Iterator[Engine | None]:
    if pg_database is None:
        yield None
        return
    engine = make_engine(pg_database)
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(pg_engine: Engine | None, tmp_path: Path) -> Iterator[Engine]:
    """An empty database with every table: a new SQLite file, or the run's PostgreSQL
    database with every table truncated."""
    if pg_engine is not None:
        tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
        with pg_engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        yield pg_engine
        return
    eng = make_engine(f"sqlite:///{tmp_path / 'shopflow.db'}")
    SQLModel.metadata.create_all(eng)
    yield eng
    eng.dispose()


# --- Temporal ------------------------------------------------------------------------------

@pytest.fixture
async def tenv() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server (a timer of days takes milliseconds), one per test: its clock
    is shared by everything on it, and an activity cut off at the end of one test would hold
    that clock for the next (it starts in a fraction of a second)."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(BIN / "temporal-test-server"),
    )
    await ensure_search_attributes(env.client, "default")
    yield env
    await env.shutdown()


@pytest.fixture
def settings(engine: Engine) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        env="dev",
        database_url=str(engine.url.render_as_string(hide_password=False)),
        task_queue=f"test-{uuid.uuid4().hex[:10]}",
        public_url="http://shop.test",
    )


@pytest.fixture
def client(tenv: WorkflowEnvironment) -> Client:
    return tenv.client


@pytest.fixture
def providers(settings: Settings) -> Providers:
    """Payment and courier simulators; a test module overrides this to look into (or script)
    them."""
    return build_providers(settings)


@pytest.fixture
async def worker(client: Client, settings: Settings, engine: Engine,
                 providers: Providers) -> AsyncIterator[Worker]:
    async with build_worker(client, settings, engine, providers=providers) as w:
        yield w



@pytest.fixture
async def api(settings: Settings, engine: Engine, client: Client,
              worker: Worker) -> AsyncIterator[httpx.AsyncClient]:
    """The FastAPI app over httpx, with a running worker behind it."""
    app = create_app(settings, engine=engine, client=client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as http:
        yield http
