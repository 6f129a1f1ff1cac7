"""The ``shopflow`` command: dev (everything in one), worker, api, migrate, tokens, demo."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from contextlib import suppress
from typing import TYPE_CHECKING, Annotated

import structlog
import typer

from shopflow.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from temporalio.client import Client

app = typer.Typer(help="Shopflow: e-commerce process automation on Temporal.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
tokens_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")
demo_app = typer.Typer(help="Walk a case through a running Shopflow (dev tokens).",
                       no_args_is_help=True)
app.add_typer(demo_app, name="demo")
mail_app = typer.Typer(help="Customers' e-mail replies (the simulated mailbox).",
                       no_args_is_help=True)
app.add_typer(mail_app, name="mail")
schedules_app = typer.Typer(help="Temporal Schedules for periodic care and reports.",
                            no_args_is_help=True)
app.add_typer(schedules_app, name="schedules")
log = structlog.get_logger("shopflow")


def _settings(default_env: str | None = None) -> Settings:
    """The settings from the environment and .env; ``default_env`` applies only when neither
    sets SHOPFLOW_ENV (``shopflow dev`` defaults to dev, everything else to prod)."""
    from shopflow.logs import configure_logging

    settings = Settings()
    if default_env is not None and "env" not in settings.model_fields_set:
        settings = Settings(env=default_env)  # type: ignore[arg-type]
    configure_logging(settings)
    return settings


def _refuse_unsafe(settings: Settings, *, binds_api: bool) -> None:
    """Production cannot start as dev: no dev mode on a network address, no default or short
    secrets in production. Says every problem, then exits 2."""
    problems = settings.production_problems(binds_api=binds_api)
    if problems:
        typer.echo("refusing to start:", err=True)
        for problem in problems:
            typer.echo(f"  - {problem}", err=True)
        _exit(2)


def _exit(code: int = 0) -> None:
    # A process that used a Temporal client can abort at interpreter exit (sdk-python #300).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (Alembic)."""
    from shopflow.db import make_engine
    from shopflow.migrate import upgrade

    settings = _settings()
    upgrade(make_engine(settings.database_url))
    typer.echo("database is up to date")


def _token_engine():  # type: ignore[no-untyped-def]
    from shopflow.db import make_engine
    from shopflow.migrate import upgrade

    settings = _settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    return engine


def _token_error(err: Exception) -> None:
    typer.echo(f"error: {getattr(err, 'message', err)}", err=True)
    raise typer.Exit(2)


@tokens_app.command("create")
def tokens_create(
    role: Annotated[str, typer.Option(help="channel, cs, reviewer, warehouse, finance, ops, admin")],
    name: Annotated[str, typer.Option(help="who holds the token (unique; recorded on every change)")],
    expires: Annotated[str | None, typer.Option(
        help="lifetime, ISO 8601 or seconds: P90D, PT12H, 3600")] = None,
    channel: Annotated[list[str] | None, typer.Option(
        help="channel tokens: the channel(s) it acts for (repeat for several)")] = None,
) -> None:
    """Create an API token; it is shown once and stored hashed."""
    from shopflow.models.types import utcnow
    from shopflow.services.tokens import TokenError, create

    expires_at = None
    if expires is not None:
        from pydantic import TypeAdapter, ValidationError

        from shopflow.settings import Duration

        try:
            expires_at = utcnow() + TypeAdapter(Duration).validate_python(expires)
        except (ValidationError, OverflowError):
            _token_error(ValueError(f"--expires {expires!r}: use P90D, PT12H or seconds"))
    try:
        secret, _ = create(_token_engine(), role, name, expires_at=expires_at,
                           channels=channel or [], actor="cli")
    except TokenError as err:
        _token_error(err)
    typer.echo(secret)


@tokens_app.command("list")
def tokens_list() -> None:
    """Every token: name, role, channels, status, expiry and when it was last used."""
    from shopflow.services.tokens import list_tokens

    rows = list_tokens(_token_engine())
    typer.echo(f"{'NAME':24} {'ROLE':10} {'STATUS':8} {'CHANNELS':16} {'EXPIRES':20} LAST USED")
    for r in rows:
        def at(v: object) -> str:
            return v.strftime("%Y-%m-%d %H:%M UTC") if v else "-"  # type: ignore[attr-defined]
        typer.echo(f"{r['name']:24} {r['role']:10} {r['status']:8} "
                   f"{','.join(r['channels']) or '-':16} {at(r['expires_at']):20} "
                   f"{at(r['last_used_at'])}")


@tokens_app.command("revoke")
def tokens_revoke(name: Annotated[str, typer.Argument(help="the token's name")]) -> None:
    """Revoke a token: its API access and every web session signed in with it end at once."""
    from shopflow.services.tokens import TokenError, revoke

    try:
        revoke(_token_engine(), name, actor="cli")
    except TokenError as err:
        _token_error(err)
    typer.echo(f"revoked {name}")


@tokens_app.command("rotate")
def tokens_rotate(name: Annotated[str, typer.Argument(help="the token's name")]) -> None:
    """A new secret for the token (same name, role, channels, expiry); the old secret and its
    web sessions stop working at once. The new secret is shown once."""
    from shopflow.services.tokens import TokenError, rotate

    try:
        secret, _ = rotate(_token_engine(), name, actor="cli")
    except TokenError as err:
        _token_error(err)
    typer.echo(secret)


@demo_app.command("sample")
def demo_sample(
    url: Annotated[str | None, typer.Option(help="API base URL (default: SHOPFLOW_PUBLIC_URL)")] = None,
) -> None:
    """Walk one sample from application to archive through the API, printing every step.
    Start Shopflow with short durations first, e.g. SHOPFLOW_FEEDBACK_DELAY=5."""
    from shopflow.demo import run_sample_demo

    settings = _settings()
    try:
        run_sample_demo(url or settings.public_url, typer.echo)
    except Exception as err:
        typer.echo(f"demo failed: {err}", err=True)
        raise typer.Exit(1) from None


@mail_app.command("drop")
def mail_drop(
    sender: Annotated[str, typer.Option("--from", help="the customer's e-mail address")],
    text: Annotated[str, typer.Option(help="the reply's text")],
    subject: Annotated[str, typer.Option(help="e.g. 'Re: About your complaint CP…'")] = "",
    to: Annotated[str, typer.Option(help="e.g. the notice's Reply-To plus-address")] = "",
    in_reply_to: Annotated[str | None, typer.Option(help="a notice's Message-ID")] = None,
) -> None:
    """Play a customer replying: put a message in the simulator's folder
    (SHOPFLOW_INBOUND_MAIL_DIR); the next poll (Schedule shopflow-inbound-mail) takes it."""
    import uuid
    from email.message import EmailMessage

    from shopflow.providers.mailbox import DirectoryMailbox

    msg = EmailMessage()
    msg["From"], msg["Subject"] = sender, subject
    msg["To"] = to or "service@localhost"
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@shopflow.sim>"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    msg.set_content(text)
    path = DirectoryMailbox(_settings().inbound_mail_dir).drop(uuid.uuid4().hex, bytes(msg))
    typer.echo(str(path))


@schedules_app.command("sync")
def schedules_sync() -> None:
    """Create or update every schedule (birthday care, key-account revisits, weekly stocktake,
    monthly and quarterly KPI reports); a schedule paused in the Web UI stays paused."""
    settings = _settings()
    try:
        asyncio.run(_sync_schedules(settings=settings))
    except Exception as err:
        typer.echo(f"error: {err}", err=True)
        _exit(1)
    _exit(0)


async def _sync_schedules(client: Client | None = None, settings: Settings | None = None, *,
                          quiet: bool = False) -> None:
    """Print (or, for ``shopflow dev``, log) what each schedule got; dev carries on if the
    cluster refuses (say, a remote one where schedules are managed elsewhere)."""
    from shopflow import temporal
    from shopflow.schedules import sync_schedules

    assert settings is not None
    try:
        if client is None:
            client = await temporal.connect(settings)
        for schedule_id, action in await sync_schedules(client, settings):
            if quiet:
                log.info("schedule", schedule=schedule_id, action=action)
            else:
                typer.echo(f"{action:8} {schedule_id}")
    except Exception as err:
        if not quiet:
            raise
        log.warning("schedules not synced", error=str(err))


@app.command()
def worker() -> None:
    """Run a worker (as many as you like, on any machine that reaches Temporal and the DB).
    Production unless SHOPFLOW_ENV says otherwise."""
    settings = _settings()
    _refuse_unsafe(settings, binds_api=False)
    asyncio.run(_serve(settings, run_api=False, run_worker=True))
    _exit(0)


@app.command()
def api() -> None:
    """Run the HTTP API (any number of replicas). Production unless SHOPFLOW_ENV says
    otherwise: refuses dev mode on a non-loopback address and default or short secrets."""
    settings = _settings()
    _refuse_unsafe(settings, binds_api=True)
    asyncio.run(_serve(settings, run_api=True, run_worker=False))
    _exit(0)


@app.command()
def dev() -> None:
    """Everything on one machine: migrations, the embedded Temporal dev server (unless
    SHOPFLOW_TEMPORAL_ADDRESS points elsewhere), a worker process and the API. The worker runs
    in a process of its own so a request never waits behind workflow work. Ctrl-C stops it all;
    if the worker dies, the rest stops too (exit code 1). Dev mode (demo data, dev tokens)
    unless SHOPFLOW_ENV (environment or .env) says otherwise."""
    from shopflow.db import make_engine
    from shopflow.devserver import start_dev_server
    from shopflow.migrate import upgrade

    settings = _settings(default_env="dev")
    _refuse_unsafe(settings, binds_api=True)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    if settings.is_dev:
        from shopflow.demo import seed_demo_data

        seed_demo_data(engine)
    engine.dispose()
    server = start_dev_server(settings) if settings.embedded_temporal else None
    worker_proc = spawn_worker(settings.env)
    code = 0
    try:
        asyncio.run(_serve(settings, run_api=True, run_worker=False, announce=True,
                           children=[worker_proc]))
    except KeyboardInterrupt:
        pass
    except Exception as err:
        log.error("stopped", error=str(err))
        code = 1
    finally:
        _stop(worker_proc, timeout=30)
        if server is not None:
            _stop(server)
    _exit(code)


def spawn_worker(env: str) -> subprocess.Popen[bytes]:
    """``shopflow worker`` as a child with this process's environment (and .env) and its mode:
    same settings, its own interpreter, so its workflow tasks and activities never hold up the
    API's event loop or its database threads. It stays in our process group: Ctrl-C reaches it
    too."""
    return subprocess.Popen([sys.executable, "-m", "shopflow.cli", "worker"],
                            env={**os.environ, "SHOPFLOW_ENV": env})


def _stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _connect_with_retry(settings: Settings, seconds: float = 90):  # type: ignore[no-untyped-def]
    from shopflow import temporal

    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        try:
            return await temporal.connect(settings)
        except Exception as err:
            if loop.time() > deadline:
                raise RuntimeError(f"Temporal at {settings.temporal_address} unreachable") from err
            await asyncio.sleep(0.5)


async def _watch(children: list[subprocess.Popen[bytes]]) -> None:
    """Returns when a child process has exited."""
    while all(child.poll() is None for child in children):
        await asyncio.sleep(0.5)


async def _serve(settings: Settings, *, run_api: bool, run_worker: bool,
                 announce: bool = False,
                 children: list[subprocess.Popen[bytes]] | None = None) -> None:
    import uvicorn

    from shopflow import temporal
    from shopflow.api.app import create_app
    from shopflow.db import make_engine
    from shopflow.ui.live import close_streams

    engine = make_engine(settings.database_url, busy_timeout=settings.database_busy_timeout)
    client = await _connect_with_retry(settings)
    with suppress(Exception):  # Temporal Cloud manages search attributes in its own console
        await temporal.ensure_search_attributes(client, settings.temporal_namespace)
    if announce:  # shopflow dev: the periodic care and reports are scheduled from the start
        await _sync_schedules(client, settings, quiet=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    jobs: list[asyncio.Task[None]] = []
    server: uvicorn.Server | None = None
    app = None
    extra_servers: list[uvicorn.Server] = []
    halt = asyncio.Event()  # set once this process stops, whatever stopped it
    if run_worker:
        jobs.append(asyncio.create_task(_keep_worker(client, settings, engine, halt)))
    if run_api:
        app = create_app(settings, engine=engine, client=client)
        config = uvicorn.Config(app, host=settings.api_host, port=settings.api_port,
                                log_config=None, lifespan="on")
        server = uvicorn.Server(config)
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        jobs.append(asyncio.create_task(server.serve()))
        if settings.metrics_port is not None:
            from shopflow.api.app import create_metrics_app

            metrics_server = uvicorn.Server(uvicorn.Config(
                create_metrics_app(settings, engine), host=settings.api_host,
                port=settings.metrics_port, log_config=None, lifespan="off"))
            metrics_server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
            jobs.append(asyncio.create_task(metrics_server.serve()))
            extra_servers.append(metrics_server)
    announcer = asyncio.create_task(_announce(settings)) if announce else None
    done_waiter = asyncio.create_task(stop.wait())
    watcher = asyncio.create_task(_watch(children)) if children else None
    await asyncio.wait([done_waiter, *jobs, *([watcher] if watcher else [])],
                       return_when=asyncio.FIRST_COMPLETED)
    died = [c for c in children or [] if c.poll() is not None]
    if died and not stop.is_set():
        log.error("a child process exited; stopping", pid=died[0].pid, code=died[0].returncode)
    log.info("stopping")
    halt.set()
    if app is not None:
        close_streams(app)  # open live pages would hold the server until their lifetime ends
    for srv in [server, *extra_servers]:
        if srv is not None:
            srv.should_exit = True
    for job in jobs:
        with suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(job, timeout=20)
    done_waiter.cancel()
    if announcer is not None:
        announcer.cancel()
    if watcher is not None:
        watcher.cancel()
    if died and not stop.is_set():
        raise RuntimeError(f"process {died[0].pid} exited with code {died[0].returncode}")


async def _keep_worker(client: Client, settings: Settings, engine: Engine,
                       halt: asyncio.Event, pause: float = 2.0) -> None:
    """Run the Temporal worker until ``halt``. The SDK fails a worker whose server stays
    unreachable past its own retries (~20 s: a Temporal restart under load, a network cut);
    the worker is then built again and run once more, so the process goes on serving when
    Temporal is back instead of ending (quietly, with code 0, before) or idling with nothing
    polling. A worker that cannot even be built (a programming or settings error) still ends
    the process."""
    from shopflow import temporal
    from shopflow.worker import build_worker

    while not halt.is_set():
        worker = build_worker(client, settings, engine)
        running = asyncio.create_task(worker.run())
        halted = asyncio.create_task(halt.wait())
        await asyncio.wait([running, halted], return_when=asyncio.FIRST_COMPLETED)
        halted.cancel()
        if halt.is_set():
            await worker.shutdown()
            with suppress(asyncio.CancelledError, Exception):
                await running
            return
        error = None if running.cancelled() else running.exception()
        log.error("the Temporal worker stopped; starting it again", error=repr(error),
                  temporal=settings.temporal_address)
        with suppress(Exception):
            await worker.shutdown()
        executor = worker.config().get("activity_executor")
        if executor is not None:
            executor.shutdown(wait=False)
        # The SDK keeps a failed worker registered on its client (a second one on the same
        # client and task queue is refused): the new worker gets a new connection, made once
        # Temporal answers again.
        while not halt.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(halt.wait(), timeout=pause)
            if halt.is_set():
                return
            try:
                client = await temporal.connect(settings)
                break
            except Exception as err:
                log.warning("Temporal still unreachable", error=repr(err))


async def _announce(settings: Settings) -> None:
    import httpx

    url = f"http://127.0.0.1:{settings.api_port}/readyz"
    async with httpx.AsyncClient() as http:
        for _ in range(240):
            with suppress(httpx.HTTPError):
                if (await http.get(url)).status_code == 200:
                    break
            await asyncio.sleep(0.5)
    lines = [
        "",
        "Shopflow is ready.",
        f"  API        {settings.public_url}/api/v1   (docs: {settings.public_url}/docs)",
        f"  Web UI     {settings.public_url}/ui/",
        f"  Temporal   {settings.temporal_ui_url}",
    ]
    if settings.is_dev:
        lines.append("  Dev tokens dev-channel dev-cs dev-reviewer dev-warehouse dev-finance "
                     "dev-ops dev-admin dev-product")
    lines.append("  Stop with Ctrl-C.")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    app()
