"""Test fixtures: databases (a SQLite file per test; with --db postgres|both a PostgreSQL
database per pytest process, i.e. per xdist worker, truncated per test and dropped at the end),
a time-skipping Temporal test server per test, a worker and an API client per test, each on
its own task queue; the payment/courier simulators and the shop's catalogue for process tests.
Everything a test binds is its own (free ports, tmp_path), so tests run in parallel (xdist)."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from sqlalchemy import Engine, event, text
from sqlmodel import SQLModel
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import shopflow.models  # noqa: F401  (registers every table)
from shopflow.db import make_engine
from shopflow.providers import Providers, build_providers
from shopflow.settings import Settings
from shopflow.temporal import ensure_search_attributes
from shopflow.worker import build_worker
from tests.helpers import SERVER_STARTUP, app_for, make_product, release_apps
from tests.notices_support import SmtpServer

BIN = Path(sys.executable).parent
# Every test's worker runs the SDK's strict sandbox (each case re-imports its workflow module and
# non-deterministic calls in it are refused), so a test run catches what production's shared
# sandbox would not (settings.worker_sandbox; tests/test_worker_smoke.py covers "shared").
os.environ.setdefault("SHOPFLOW_WORKER_SANDBOX", "strict")

# With rich installed (typer brings it), structlog's default console renderer prints every
# logged exception with all its local variables: slow (seconds each) and unreadable. Plain ones.
structlog.configure(processors=[
    *structlog.get_config()["processors"][:-1],
    structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)])
PG_ADMIN_URL = os.environ.get("SHOPFLOW_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")


# A test's database need not survive a power cut, only a process crash (the drills kill
# processes, never the machine): commits skip the disk flush on both databases, ~5 ms each on
# this machine's disk. Production keeps the databases' durable defaults.
FAST_COMMITS = "?options=-csynchronous_commit%3Doff"


def _sqlite_fast_commits(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.execute("PRAGMA synchronous=OFF")


DB_CHOICES = {"sqlite": ["sqlite"], "postgres": ["postgres"], "both": ["sqlite", "postgres"]}
# Fixtures that give a test a database: a test that takes one (directly or through `settings`,
# `worker`, `api` ...) is database-facing, marked `db`, and runs once per database of --db.
DB_FIXTURES = ("engine", "empty_database")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--db", choices=list(DB_CHOICES), default="sqlite",
                     help="database(s) for the database-facing tests; `both` runs each of them "
                          "on SQLite and on PostgreSQL (browser tests: SQLite only)")


def _is_db_test(fixturenames: Iterable[str]) -> bool:
    return any(name in fixturenames for name in DB_FIXTURES)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """With --db both, every database-facing test runs on each database in one pytest run (one
    collection, one pool of xdist workers for both). Browser tests exercise the pages, not the
    database: SQLite is enough for them."""
    if not _is_db_test(metafunc.fixturenames):
        return
    backends = DB_CHOICES[metafunc.config.getoption("--db")]
    if metafunc.definition.get_closest_marker("browser") is not None and "sqlite" in backends:
        backends = ["sqlite"]
    if len(backends) > 1:
        metafunc.parametrize("db_backend", backends, indirect=True)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    release_apps()  # the apps of the test before are free for this one (helpers.app_for)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if _is_db_test(fixtures):
            item.add_marker(pytest.mark.db)
        if "stack" in fixtures:  # a real dev server, API and worker (tests/stack.py)
            item.add_marker(pytest.mark.slow)
    # The long tests (real dev servers, browsers) start first: with `-n` they then run beside the
    # many short ones instead of finishing alone at the end of the run (a stable sort keeps the
    # file order otherwise).
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# --- databases -----------------------------------------------------------------------------

@pytest.fixture
def db_backend(request: pytest.FixtureRequest) -> str:
    """"sqlite" or "postgres": the --db choice, or this test's parameter with --db both."""
    param = getattr(request, "param", None)
    return str(param) if param is not None else str(request.config.getoption("--db"))


def _pg_admin() -> Any:
    """A connection to the PostgreSQL server's `postgres` database; without a server the test
    is skipped with the reason, or fails with CI=true (CI must run the PostgreSQL pass)."""
    import psycopg

    admin = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        return psycopg.connect(admin + "/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as err:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and PostgreSQL at {admin} is unreachable: {err}")
        pytest.skip(f"no PostgreSQL server at {admin} ({err}); the PostgreSQL tests are skipped")


@contextmanager
def _pg_fresh_database(purpose: str) -> Iterator[str]:
    """A new PostgreSQL database (its URL), dropped after. The name carries the xdist worker and
    the process id: workers and concurrent runs never share one."""
    conn = _pg_admin()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"shopflow_{purpose}_{worker}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_URL}/{name}"
    finally:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database for this test alone, dropped after (for tests
    that need PostgreSQL whatever --db says, e.g. several processes on one database)."""
    with _pg_fresh_database("own") as url:
        yield url


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine]:
    """This worker's PostgreSQL database with every table (made on first use, dropped at the
    end of the session)."""
    with _pg_fresh_database("test") as url:
        engine = make_engine(url + FAST_COMMITS)
        SQLModel.metadata.create_all(engine)
        yield engine
        engine.dispose()


@pytest.fixture
def engine(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An empty database with every table: a new SQLite file (a copy of sqlite_template), or
    this worker's PostgreSQL database with every table emptied."""
    if db_backend == "postgres":
        pg: Engine = request.getfixturevalue("pg_engine")
        # DELETE, children first, and sequences back to 1: what TRUNCATE ... RESTART IDENTITY
        # does, in ~20 ms instead of ~1.5 s per test (TRUNCATE rewrites every table's files).
        with pg.begin() as conn:
            for table in reversed(SQLModel.metadata.sorted_tables):
                conn.execute(table.delete())
            conn.execute(text("SELECT setval(oid, 1, false) FROM pg_class WHERE relkind = 'S'"))
        yield pg
        return
    path = tmp_path / "shopflow.db"
    shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
    eng = make_engine(f"sqlite:///{path}")
    event.listen(eng, "connect", _sqlite_fast_commits)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with every table, made once per pytest process: each test's SQLite
    database is a copy of it (~2 ms instead of create_all's ~30 ms)."""
    path = tmp_path_factory.mktemp("template") / "shopflow.db"
    eng = make_engine(f"sqlite:///{path}")
    SQLModel.metadata.create_all(eng)
    eng.dispose()
    return path


@pytest.fixture
def empty_database(db_backend: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a database with no table at all (for migrations): a new SQLite file, or a new
    PostgreSQL database dropped after the test."""
    if db_backend == "postgres":
        with _pg_fresh_database("empty") as url:
            yield url
        return
    yield f"sqlite:///{tmp_path / 'empty.db'}"


# --- Temporal ------------------------------------------------------------------------------

@pytest.fixture
async def tenv() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server (a timer of days takes milliseconds), one per test: its clock
    is shared by everything on it, and an activity cut off at the end of one test would hold
    that clock for the next (it starts in a fraction of a second)."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(BIN / "temporal-test-server"),
        test_server_startup_timeout=SERVER_STARTUP,
    )
    await ensure_search_attributes(env.client, "default")
    yield env
    await env.shutdown()


@pytest.fixture
def settings(engine: Engine, tmp_path: Path) -> Settings:
    """Dev settings on this test's database. A field set per test (a path, a unique name) goes
    into helpers.PER_TEST_SETTINGS, or every test builds its app again (helpers.app_for)."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        env="dev",
        database_url=str(engine.url.render_as_string(hide_password=False)),
        task_queue=f"test-{uuid.uuid4().hex[:10]}",
        public_url="http://shop.test",
        document_dir=tmp_path / "documents",
    )


@pytest.fixture
def client(tenv: WorkflowEnvironment) -> Client:
    return tenv.client


@pytest.fixture
def providers(settings: Settings) -> Providers:
    """Payment and courier simulators built from the settings (no failures, no latency): a test
    takes this fixture to look into them or to script their faults."""
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
    app = app_for(settings, engine, client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as http:
        yield http


@pytest.fixture
async def catalogue(api: httpx.AsyncClient) -> None:
    """The two products the process tests sell, return and complain about: TEA (10 in stock)
    and CUP (5), sample limit 5 each."""
    await make_product(api, "TEA", stock=10)
    await make_product(api, "CUP", stock=5)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server, started (tests/notices_support.py); a module may define its own."""
    server = SmtpServer().start()
    yield server
    server.stop()
