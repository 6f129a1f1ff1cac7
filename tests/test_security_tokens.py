"""Issue 16 points 1, 2 and 7: the token life cycle (API and CLI), web sessions that end when
people say so, and production that cannot start as dev."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, update
from sqlmodel import col, select
from typer.testing import CliRunner

from shopflow.api.app import create_app
from shopflow.api.auth import create_token
from shopflow.cli import _settings
from shopflow.cli import app as cli
from shopflow.db import session_scope
from shopflow.models import ApiToken, AuditEvent, WebSession
from shopflow.models.types import utcnow
from shopflow.settings import Settings
from shopflow.ui.session import COOKIE
from tests.helpers import app_for, auth
from tests.test_ui_pages import csrf_of, sign_in

BASE = "http://shop.test"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def http(settings: Settings, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    app = app_for(settings, engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- 1. token life cycle ----------------------------------------------------------------------

async def test_admin_creates_lists_rotates_and_revokes_tokens(http: httpx.AsyncClient,
                                                              engine: Engine) -> None:
    r = await http.post("/api/v1/tokens", headers=auth("admin"),
                        json={"name": "alice", "role": "reviewer", "expires_in": "P90D"})
    assert r.status_code == 201, r.text
    alice = r.json()
    secret = alice["token"]
    assert secret.startswith("sf_") and alice["status"] == "active"
    assert timedelta(days=89) < (
        __import__("datetime").datetime.fromisoformat(alice["expires_at"]) - utcnow()
    ) <= timedelta(days=90)
    # Unique names; only admins manage tokens.
    again = await http.post("/api/v1/tokens", headers=auth("admin"),
                            json={"name": "alice", "role": "cs"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "name_taken"
    assert (await http.get("/api/v1/tokens", headers=auth("ops"))).status_code == 403

    assert (await http.get("/api/v1/tasks", headers=bearer(secret))).status_code == 200
    listed = (await http.get("/api/v1/tokens", headers=auth("admin"))).json()
    (row,) = [t for t in listed if t["name"] == "alice"]
    assert "token" not in row and "token_hash" not in row and secret not in str(listed)
    assert row["last_used_at"] is not None

    # Rotation: a new secret, the old one is dead.
    r = await http.post("/api/v1/tokens/alice/rotate", headers=auth("admin"))
    assert r.status_code == 200
    new_secret = r.json()["token"]
    assert new_secret != secret
    assert (await http.get("/api/v1/tasks", headers=bearer(secret))).status_code == 401
    assert (await http.get("/api/v1/tasks", headers=bearer(new_secret))).status_code == 200

    r = await http.delete("/api/v1/tokens/alice", headers=auth("admin"))
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    assert (await http.get("/api/v1/tasks", headers=bearer(new_secret))).status_code == 401
    assert (await http.delete("/api/v1/tokens/nobody", headers=auth("admin"))).status_code == 404
    # Every change is audited, without the secret.
    r = await http.get("/api/v1/audit", params={"entity": "token", "id": "alice"},
                       headers=auth("ops"))
    assert [e["action"] for e in r.json()["items"]] == ["revoked", "rotated", "created"]
    assert all(e["actor"] == "dev-admin" for e in r.json()["items"])
    assert secret not in r.text and new_secret not in r.text


async def test_an_expired_token_is_refused(http: httpx.AsyncClient, engine: Engine) -> None:
    secret = create_token(engine, "cs", "carol", expires_at=utcnow() + timedelta(hours=1))
    assert (await http.get("/api/v1/tasks", headers=bearer(secret))).status_code == 200
    with session_scope(engine) as s:
        s.execute(update(ApiToken).where(col(ApiToken.name) == "carol")
                  .values(expires_at=utcnow() - timedelta(seconds=1)))
    r = await http.get("/api/v1/tasks", headers=bearer(secret))
    assert r.status_code == 401
    listed = (await http.get("/api/v1/tokens", headers=auth("admin"))).json()
    assert [t["status"] for t in listed if t["name"] == "carol"] == ["expired"]


async def test_last_used_is_written_at_most_once_a_minute(http: httpx.AsyncClient,
                                                          engine: Engine) -> None:
    secret = create_token(engine, "ops", "olga")
    writes: list[str] = []
    from sqlalchemy import event

    @event.listens_for(engine, "before_cursor_execute")
    def spy(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("UPDATE API_TOKENS"):
            writes.append(statement)

    for _ in range(5):
        assert (await http.get("/api/v1/tasks", headers=bearer(secret))).status_code == 200
    assert len(writes) == 1
    with session_scope(engine) as s:  # a minute later the next request writes again
        s.execute(update(ApiToken).values(last_used_at=utcnow() - timedelta(minutes=2)))
    await http.get("/api/v1/tasks", headers=bearer(secret))
    assert len(writes) == 3  # the test's own update and the token's
    event.remove(engine, "before_cursor_execute", spy)


async def test_channel_tokens_are_bound_to_channels(http: httpx.AsyncClient) -> None:
    r = await http.post("/api/v1/tokens", headers=auth("admin"),
                        json={"name": "shop", "role": "channel"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "channel_required"
    r = await http.post("/api/v1/tokens", headers=auth("admin"),
                        json={"name": "shop", "role": "channel", "channels": ["web"]})
    assert r.status_code == 201 and r.json()["channels"] == ["web"]
    r = await http.post("/api/v1/tokens", headers=auth("admin"),
                        json={"name": "bob", "role": "cs", "channels": ["web"]})
    assert r.status_code == 422


def test_cli_token_life_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shopflow.db import make_engine

    url = f"sqlite:///{tmp_path / 'cli.db'}"  # the CLI migrates it itself
    monkeypatch.setenv("SHOPFLOW_DATABASE_URL", url)
    engine = make_engine(url)
    runner = CliRunner()
    r = runner.invoke(cli, ["tokens", "create", "--role", "channel", "--name", "web-shop",
                            "--channel", "web", "--expires", "P90D"])
    assert r.exit_code == 0, r.output
    secret = r.output.strip().splitlines()[-1]  # after the migration's log lines
    assert secret.startswith("sf_")
    r = runner.invoke(cli, ["tokens", "create", "--role", "cs", "--name", "web-shop"])
    assert r.exit_code == 2 and "exists already" in r.output
    r = runner.invoke(cli, ["tokens", "list"])
    assert r.exit_code == 0 and "web-shop" in r.output and "active" in r.output
    assert secret not in r.output
    r = runner.invoke(cli, ["tokens", "rotate", "web-shop"])
    assert r.exit_code == 0 and r.output.strip().splitlines()[-1].startswith("sf_")
    assert secret not in r.output
    r = runner.invoke(cli, ["tokens", "revoke", "web-shop"])
    assert r.exit_code == 0, r.output
    assert "revoked" in runner.invoke(cli, ["tokens", "list"]).output
    assert runner.invoke(cli, ["tokens", "revoke", "nobody"]).exit_code == 2
    with session_scope(engine, write=False) as s:
        actions = s.exec(select(AuditEvent.action).where(AuditEvent.entity == "token")).all()
    assert sorted(actions) == ["created", "revoked", "rotated"]


# --- 2. sessions ------------------------------------------------------------------------------

async def test_revoking_a_token_ends_its_web_sessions(http: httpx.AsyncClient,
                                                      engine: Engine) -> None:
    secret = create_token(engine, "cs", "cleo")
    await sign_in(http, secret)
    assert (await http.get("/ui/inbox")).status_code == 200
    r = await http.delete("/api/v1/tokens/cleo", headers=auth("admin"))
    assert r.status_code == 200
    r = await http.get("/ui/inbox")
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
    with session_scope(engine, write=False) as s:
        assert s.exec(select(WebSession)).all() == []


async def test_a_signed_out_cookie_is_dead(http: httpx.AsyncClient, engine: Engine) -> None:
    secret = create_token(engine, "cs", "cleo")
    await sign_in(http, secret)
    old_cookie = http.cookies[COOKIE]
    inbox = await http.get("/ui/inbox")
    assert inbox.status_code == 200
    r = await http.post("/ui/logout", data={"csrf_token": csrf_of(inbox.text)})
    assert r.status_code == 303
    http.cookies.clear()
    http.cookies.set(COOKIE, old_cookie, domain="shop.test", path="/ui")
    r = await http.get("/ui/inbox")
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")


async def test_an_idle_session_ends(http: httpx.AsyncClient, engine: Engine,
                                    settings: Settings) -> None:
    await sign_in(http, "dev-cs")
    assert (await http.get("/ui/inbox")).status_code == 200
    with session_scope(engine) as s:  # unused for longer than the idle timeout
        s.execute(update(WebSession).values(
            last_seen_at=utcnow() - settings.ui_idle_timeout - timedelta(seconds=5)))
    r = await http.get("/ui/inbox")
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")


async def test_production_needs_a_32_byte_ui_secret(settings: Settings, engine: Engine) -> None:
    short = settings.model_copy(update={"env": "prod", "ui_secret": "x" * 31})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(short, engine=engine)),
                                 base_url=BASE) as ui:
        r = await ui.get("/ui/login")
        assert r.status_code == 503 and "SHOPFLOW_UI_SECRET" in r.text


# --- 7. production cannot start as dev --------------------------------------------------------

def test_production_refuses_default_and_short_secrets_and_dev_on_a_network() -> None:
    base = {"_env_file": None}
    prod = Settings(**base, env="prod")  # type: ignore[arg-type]
    assert any("SHOPFLOW_UI_SECRET is not set" in p for p in prod.production_problems(binds_api=True))
    assert prod.production_problems(binds_api=False)  # the worker derives links from it
    for weak in ("changeme", "dev-admin", "s" * 40, "short-but-random-91X"):
        assert Settings(**base, env="prod", ui_secret=weak  # type: ignore[arg-type]
                        ).production_problems(binds_api=True), weak
    good = Settings(**base, env="prod", ui_secret="Vh3r9q-Lk2PzW8xY4mN6bT1cF5gJ0dS7aE")  # type: ignore[arg-type]
    assert good.production_problems(binds_api=True) == []
    assert good.production_problems(binds_api=False) == []
    dev_lan = Settings(**base, env="dev", api_host="0.0.0.0")  # type: ignore[arg-type]
    assert "loopback" in dev_lan.production_problems(binds_api=True)[0]
    assert Settings(**base, env="dev").production_problems(binds_api=True) == []  # type: ignore[arg-type]


@pytest.mark.slow
def test_shopflow_api_and_worker_refuse_to_start_unsafe(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPFLOW_")}
    env |= {"SHOPFLOW_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
            "SHOPFLOW_TEMPORAL_ADDRESS": "127.0.0.1:1"}
    for command, extra, says in (
        ("api", {}, "SHOPFLOW_UI_SECRET is not set"),  # production by default
        ("worker", {"SHOPFLOW_UI_SECRET": "changeme"}, "placeholder"),
        ("api", {"SHOPFLOW_ENV": "dev", "SHOPFLOW_API_HOST": "0.0.0.0"}, "loopback"),
    ):
        r = subprocess.run([sys.executable, "-m", "shopflow.cli", command], cwd=tmp_path,
                           env={**env, **extra, "PYTHONPATH": str(ROOT)}, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 2, (command, r.stdout, r.stderr)
        assert says in r.stderr, r.stderr


async def test_production_refuses_the_dev_tokens(settings: Settings, engine: Engine) -> None:
    prod = settings.model_copy(update={"env": "prod"})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(prod, engine=engine)),
                                 base_url=BASE) as c:
        assert (await c.get("/api/v1/tasks", headers=auth("admin"))).status_code == 401


def test_only_shopflow_dev_defaults_to_dev_and_dotenv_wins(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHOPFLOW_ENV", raising=False)
    monkeypatch.chdir(tmp_path)
    assert Settings().env == "prod"
    assert _settings(default_env="dev").env == "dev"
    (tmp_path / ".env").write_text("SHOPFLOW_ENV=prod\n")
    assert _settings(default_env="dev").env == "prod"
    # make run no longer forces dev over .env
    assert "SHOPFLOW_ENV ?=" not in (ROOT / "Makefile").read_text()
