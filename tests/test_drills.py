"""Issue 14 drills against the real stack (Temporal dev server, `shopflow worker`, `shopflow api`
as processes, one SQLite database, a real SMTP server), one stack for the module. Each drill
starts a case in every process (sample, order, complaint; the order's follow-up and a return
of it once delivered), causes its fault mid-step, recovers, takes every case to its end and
checks (tests/drill_cases.py): every workflow completed, one per case; each payment, refund,
reservation and stock movement once; stock balances; each notice once (in the outbox and at
the SMTP server)."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlmodel import col, or_, select

from shopflow.db import make_engine, session_scope
from shopflow.models import BirthdayGreeting, Notice, Refund, StockMovement
from shopflow.providers.journal import read
from shopflow.services import inventory
from tests.drill_cases import (
    SKU,
    Cases,
    auth,
    call,
    check_everything,
    decide,
    deliver_order,
    delivered_once,
    eventually,
    finish_complaint,
    finish_enquiry,
    finish_everything,
    finish_sample,
    order_body,
    put_customer,
    refund_return,
    return_of,
    return_to_refund,
    schedule_day,
    ship_order,
    start_complaint,
    start_every_process,
    start_order,
    start_sample,
    sync_schedules,
    task,
    trigger,
    until,
)
from tests.notices_support import SmtpServer
from tests.stack import Stack, TcpProxy

pytestmark = pytest.mark.slow
OPS = "ops@drill.test"  # where KPI reports and staff notices go
# How long the SMTP drill holds the mail server down (wall time; the test mostly sleeps).
SMTP_OUTAGE = 60.0
# How long the Temporal drill holds Temporal down: past the ~20 s after which the SDK fails a
# worker whose server is unreachable (the worker process builds it again: cli._keep_worker).
TEMPORAL_OUTAGE = 30.0


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def drill_stack(workdir: Path, smtp: SmtpServer, database_url: str | None = None,
                **env: str) -> Stack:
    """A stack for the drills, started, with the drill's tea in stock (the caller stops it):
    mail to the test's SMTP server, quick notice timeouts, surveys at once; ``env`` on top."""
    s = Stack(workdir, database_url=database_url, env={
        "SHOPFLOW_NOTICE_SEND_TIMEOUT": "10",
        "SHOPFLOW_SMTP_HOST": "127.0.0.1",
        "SHOPFLOW_SMTP_PORT": str(smtp.port),
        "SHOPFLOW_SMTP_TIMEOUT": "5",  # one SMTP step, < the send timeout
        "SHOPFLOW_OPS_EMAIL": OPS,
        "SHOPFLOW_FEEDBACK_DELAY": "PT1S",  # samples and follow-ups ask at once
        **env,
    })
    try:
        s.start()
        with s.client() as http:
            call(lambda: http.post("/api/v1/products", headers=auth("admin"),
                                   json={"sku": SKU, "name": "Drill tea", "sample_limit": 5}),
                 201)
            call(lambda: http.post("/api/v1/inventory/receipts", headers=auth("warehouse"),
                                   json={"sku": SKU, "quantity": 500, "note": "drill"}), 201)
    except BaseException:
        s.stop_all()
        raise
    return s


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, smtp: SmtpServer) -> Iterator[Stack]:
    workdir = Path(tmp_path_factory.mktemp("drills"))
    s = drill_stack(
        workdir, smtp,
        SHOPFLOW_DATABASE_BUSY_TIMEOUT="4",  # < the 10 s outage of the database drill
        SHOPFLOW_PAYMENT_SIM_LATENCY="2",  # a payment's or refund's call takes ~2 s
        SHOPFLOW_PROVIDER_SIM_JOURNAL=str(workdir / "providers.jsonl"),  # what moved
        SHOPFLOW_PROVIDER_CALL_TIMEOUT="6",  # a killed call is retried after 6 s, not 60
    )
    try:
        yield s
    finally:
        s.stop_all()


def kill_worker_when(stack: Stack, inside: Callable[[], object], **env: str) -> None:
    """SIGKILL the worker as soon as ``inside()`` sees a side effect done and its answer not
    yet back; start a new worker (with ``env`` on top of the stack's). The killed attempt is
    retried once its timeout passes (SHOPFLOW_PROVIDER_CALL_TIMEOUT, _NOTICE_SEND_TIMEOUT)."""
    eventually(inside, timeout=60, every=0.05)
    stack.kill("worker", signal.SIGKILL)
    stack.env.update(env)
    stack.start_worker()


def in_threads(work: Callable[[str], object], items: list[str]) -> list[threading.Thread]:
    threads = [threading.Thread(target=work, args=(item,)) for item in items]
    for t in threads:
        t.start()
    return threads


def joined(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.join()


def test_drill_worker_killed_inside_side_effects(stack: Stack, smtp: SmtpServer) -> None:
    """SIGKILL the worker inside each kind of side effect, right after the outside service
    acted and before its answer is back (the simulators' latency is split around the act; the
    provider journal and the SMTP server show the act): a payment, a parcel booking, a notice
    (the SMTP server holds its 250), a refund. A new worker takes each over once the killed
    attempt times out; everything happened once: one capture, booking and provider refund per
    order, one refund row per return, each notice once at the SMTP server."""
    cases = Cases()
    journal = Path(stack.env["SHOPFLOW_PROVIDER_SIM_JOURNAL"])
    before = {kind: len(read(journal, kind)) for kind in ("capture", "booking", "refund")}

    def new(kind: str) -> list[dict[str, object]]:
        return read(journal, kind)[before[kind]:]

    with stack.client() as http:
        for _ in range(2):
            start_every_process(http, cases, order_method="online")
        totals = {no: until(http, f"/api/v1/orders/{no}",
                            lambda o: o["status"] == "awaiting_payment")["total"]
                  for no in cases.orders}

    def pay(no: str) -> None:
        with stack.client(timeout=150) as http:
            call(lambda: http.post(
                f"/api/v1/orders/{no}/payments", headers=auth("channel"),
                json={"transaction_id": f"tx-{no}", "amount": f"{totals[no]:.2f}"}),
                200, 201, timeout=150)

    def work(step: Callable[[httpx.Client, str], None]) -> Callable[[str], None]:
        def run(item: str) -> None:
            with stack.client(timeout=60) as http:
                step(http, item)
        return run

    # a payment: the gateway captured, the worker dies before the answer is back
    payers = in_threads(pay, cases.orders)
    kill_worker_when(stack, lambda: new("capture"),
                     SHOPFLOW_COURIER_SIM_LATENCY="1")  # parcel bookings take ~1 s from here
    joined(payers)
    for no in cases.orders:  # a payer whose answer was lost retries: the same payment
        pay(no)
    # a parcel booking: the courier booked it, the worker dies before the answer is back
    shippers = in_threads(work(ship_order), cases.orders)
    kill_worker_when(stack, lambda: new("booking"))
    joined(shippers)
    # a notice: the SMTP server has the message and holds its answer
    smtp.inbox.holding.clear()
    smtp.inbox.hold = 3.0
    try:
        deliveries = in_threads(work(deliver_order), cases.orders)
        kill_worker_when(stack, smtp.inbox.holding.is_set)
    finally:
        smtp.inbox.hold = 0.0
    joined(deliveries)
    with stack.client(timeout=60) as http:
        rids = [return_of(http, cases, no) for no in cases.orders]
        for rid in rids:
            return_to_refund(http, rid)
    # a refund: the gateway refunded, the worker dies before the answer is back
    refunders = in_threads(work(refund_return), rids)
    kill_worker_when(stack, lambda: new("refund"), SHOPFLOW_COURIER_SIM_LATENCY="0")
    joined(refunders)
    with stack.client(timeout=60) as http:
        for sid in cases.samples:
            finish_sample(http, sid)
        for cid in cases.complaints:
            finish_complaint(http, cid)
        for eid in cases.enquiries:
            finish_enquiry(http, eid)
    check_everything(stack, cases)
    delivered_once(smtp, stack, cases)
    # the provider's side: each capture, booking and refund once
    assert Counter(c["reference"] for c in new("capture")) == Counter(cases.orders)
    assert Counter(b["tracking_no"] for b in new("booking")) == Counter(
        [*(f"T{no}" for no in cases.orders), *(f"R{rid}" for rid in rids),
         *(f"S{sid}" for sid in cases.samples)])  # a sample's parcel is booked too
    engine = make_engine(stack.database_url)
    try:
        with session_scope(engine, write=False) as session:
            rows = session.exec(select(Refund).where(col(Refund.case_id).in_(rids))).all()
    finally:
        engine.dispose()
    assert sorted(r.case_id for r in rows) == sorted(rids)  # one row per attempt: one each
    moved = {r["idempotency_key"]: r for r in new("refund")}
    assert len(moved) == len(new("refund")) == len(rids)
    assert {r.key: (r.status, r.amount_cents, r.provider_ref) for r in rows} == {
        k: ("succeeded", m["amount_cents"], m["refund_id"]) for k, m in moved.items()}


def kpi_reports(smtp: SmtpServer) -> int:
    return sum("KPI" in m.subject for m in smtp.inbox.to(OPS))


def test_drill_scheduled_runs_survive_a_killed_worker(stack: Stack, smtp: SmtpServer) -> None:
    """The scheduled processes (Temporal Schedules, `shopflow schedules sync`), each run by its
    schedule's trigger: the worker is SIGKILLed inside a birthday greeting's send and inside a
    KPI report's send (the SMTP server has the message and holds its 250), and again the moment
    the stocktake's count is booked; a new worker takes each over. Every scheduled run and the
    revisit and stocktake cases it opened complete, once; the greeting and the report reach the
    SMTP server once; the stocktake moves each SKU once; the backorder sweep wakes an order
    whose receipt lost its wake-up, and that order, its follow-up and its return reach their
    ends with the books balanced."""
    cases = Cases()
    day = schedule_day(stack)
    short = f"BO{cases.run}".upper()
    with stack.client(timeout=60) as http:
        birthday = put_customer(http, f"bd-{cases.run}", birthday=f"1990-{day:%m-%d}")
        put_customer(http, f"ka-{cases.run}", tags=["key_account"])
        call(lambda: http.post("/api/v1/products", headers=auth("admin"),
                               json={"sku": short, "name": "Drill tea, sold out"}), 201)
        start_order(http, cases, f"BO-{cases.run}", sku=short)  # waits for stock
        until(http, f"/api/v1/orders/BO-{cases.run}", lambda o: o["status"] == "backordered")
    engine = make_engine(stack.database_url)
    try:
        # The goods arrive, and the receipt's request dies before it starts the wake-up: only
        # the backorder sweep (a schedule) can wake the order now.
        inventory.book_receipt(engine, short, 10, "drill", "dev-warehouse",
                               f"receipt:drill-{cases.run}")
        sync_schedules(stack)
        reports = kpi_reports(smtp)
        smtp.inbox.hold = 3.0
        try:  # a greeting, then a report: the server has it, the worker dies
            trigger(stack, cases, "shopflow-birthday-care")
            kill_worker_when(stack, lambda: smtp.inbox.to(birthday))
            trigger(stack, cases, "shopflow-monthly-kpi-report")
            kill_worker_when(stack, lambda: kpi_reports(smtp) > reports)
        finally:
            smtp.inbox.hold = 0.0
        for schedule in ("shopflow-key-account-revisits", "shopflow-weekly-stocktake",
                         "shopflow-backorder-sweep", "shopflow-due-followups"):
            trigger(stack, cases, schedule)
        revisit, stocktake = f"revisit-ka-{cases.run}-{day:%Y%m%d}", f"stocktake-{day:%Y%m%d}"
        cases.scheduled += [revisit, stocktake]
        with stack.client(timeout=60) as http:
            decide(http, revisit, "customer.revisit", "done", notes="drill: called, all well")
            lines = task(http, stocktake, "inventory.stocktake")["context"]["lines"]
            # one tin of the drill's tea is missing at the count
            counts = [{"sku": line["sku"],
                       "counted": line["on_hand"] - (1 if line["sku"] == SKU else 0)}
                      for line in lines]

            def count() -> None:
                with stack.client(timeout=60) as counter:
                    decide(counter, stocktake, "inventory.stocktake", "counted", counts=counts)

            def booked() -> list[StockMovement]:
                with session_scope(engine, write=False) as session:
                    return list(session.exec(select(StockMovement).where(
                        StockMovement.ref == stocktake)))

            counter = in_threads(lambda _: count(), ["count"])
            kill_worker_when(stack, booked)  # the count is booked, its answer not yet back
            joined(counter)
            # the sweep found the receipt whose wake-up was lost: the order goes on
            until(http, f"/api/v1/orders/BO-{cases.run}", lambda o: o["status"] == "fulfilling")
            finish_everything(http, cases)
        check_everything(stack, cases)
        delivered_once(smtp, stack, cases)
        assert len(smtp.inbox.to(birthday)) == 1 and kpi_reports(smtp) == reports + 1
        moves = booked()
        assert sorted(m.sku for m in moves) == sorted(line["sku"] for line in lines)  # once each
        assert {m.sku: m.on_hand_delta for m in moves}[SKU] == -1
        with session_scope(engine, write=False) as session:
            greeted = session.exec(select(BirthdayGreeting).where(
                BirthdayGreeting.customer_id == f"bd-{cases.run}")).all()
        assert len(greeted) == 1  # one greeting (and coupon) this year
    finally:
        engine.dispose()


def test_drill_temporal_down_then_up(stack: Stack, smtp: SmtpServer) -> None:
    """Temporal stops mid-case (and mid-run of a birthday care and a KPI report its schedules
    just started) for TEMPORAL_OUTAGE: creates answer 503 and leave nothing; the worker
    process outlives the outage; once Temporal is back the retries start their cases and
    every case and scheduled run goes on where it was."""
    cases = Cases()
    with stack.client() as http:
        start_every_process(http, cases)
        birthday = put_customer(http, f"bt-{cases.run}",
                                birthday=f"1990-{schedule_day(stack):%m-%d}")
        sync_schedules(stack)
        reports = kpi_reports(smtp)
        trigger(stack, cases, "shopflow-birthday-care")
        trigger(stack, cases, "shopflow-monthly-kpi-report")
        stack.stop("temporal")
        down_until = time.monotonic() + TEMPORAL_OUTAGE
        down = http.post("/api/v1/orders", json=order_body(f"DT-{cases.run}"),
                         headers=auth("channel"))
        assert down.status_code == 503 and down.headers["Retry-After"], down.text
        assert http.get(f"/api/v1/orders/DT-{cases.run}", headers=auth("ops")).status_code == 404
        time.sleep(max(0.0, down_until - time.monotonic()))
        stack.start_temporal()
        assert stack.procs["worker"].poll() is None  # the worker process outlived the outage
        start_order(http, cases, f"DT-{cases.run}")  # the retry, Temporal back
        start_sample(http, cases)
        start_complaint(http, cases)
        finish_everything(http, cases)
    check_everything(stack, cases)
    delivered_once(smtp, stack, cases)
    assert len(smtp.inbox.to(birthday)) == 1 and kpi_reports(smtp) == reports + 1


def test_drill_api_killed_mid_request_the_retry_gets_one_resource(
        stack: Stack, smtp: SmtpServer) -> None:
    """SIGKILL the API while creates of every process are in flight; each client retries with
    its Idempotency-Key and gets the one resource."""
    cases = Cases()
    # (path, key, body, role) of every create, sent at once
    creates = [("/api/v1/orders", f"DA-{cases.run}-{i}", order_body(f"DA-{cases.run}-{i}"),
                "channel") for i in range(3)]
    creates += [("/api/v1/samples", f"SA-{cases.run}-{i}", {
        "customer": {"id": f"c-sa-{i}", "name": "Drill", "email": f"sa{i}@drill.test",
                     "phone": "13800000000", "address": "1 Drill Road"},
        "channel": "web", "items": [{"sku": SKU, "quantity": 1}], "purpose": "drill"},
        "channel") for i in range(2)]
    creates += [("/api/v1/complaints", f"CA-{cases.run}-{i}", {
        "customer": {"id": f"c-ca-{i}", "name": "Drill", "email": f"ca{i}@drill.test"},
        "category": "service", "description": "drill", "channel": "phone"}, "cs")
        for i in range(2)]

    def send(path: str, key: str, body: dict[str, object], role: str) -> None:
        try:
            with stack.client(timeout=30) as http:
                http.post(path, json=body, headers={**auth(role), "Idempotency-Key": key})
        except httpx.HTTPError:
            pass  # the connection died with the API

    threads = [threading.Thread(target=send, args=c) for c in creates]
    for t in threads:
        t.start()
    time.sleep(0.3)
    stack.kill("api")  # SIGKILL while requests are in flight
    for t in threads:
        t.join()
    stack.start_api()
    with stack.client() as http:
        for path, key, body, role in creates:  # every client retries with its key
            r = call(lambda path=path, key=key, body=body, role=role: http.post(
                path, json=body, headers={**auth(role), "Idempotency-Key": key}), 200, 201)
            created = r.json()
            if path.endswith("orders"):
                assert created["order_no"] == key
                cases.orders.append(key)
            elif path.endswith("samples"):
                cases.samples.append(created["id"])
            else:
                cases.complaints.append(created["id"])
        finish_everything(http, cases)
    check_everything(stack, cases)
    delivered_once(smtp, stack, cases)


def create_order(http: httpx.Client, no: str) -> httpx.Response:
    return http.post("/api/v1/orders", json=order_body(no),
                     headers={**auth("channel"), "Idempotency-Key": no})


def answers_during(seconds: float, margin: float, *probes: Callable[[], httpx.Response],
                   every: float = 0.0) -> list[int]:
    """What the API answers to ``probes`` through an outage of ``seconds`` (sending them until
    ``margin`` before its end, then waiting it out); each 503 carries Retry-After."""
    until = time.monotonic() + seconds
    codes = []
    while time.monotonic() < until - margin:
        for probe in probes:
            r = probe()
            codes.append(r.status_code)
            if r.status_code == 503:
                assert r.headers["Retry-After"], r.text
        time.sleep(every)
    time.sleep(max(0.0, until - time.monotonic()))
    return codes


def test_drill_database_unreachable_for_10_seconds(stack: Stack, smtp: SmtpServer) -> None:
    """Another writer holds SQLite's write lock for 10 s: creates answer 503 + Retry-After and
    start nothing; then everything resumes by itself, the cases started before included."""
    cases = Cases()
    with stack.client() as http:
        start_every_process(http, cases)
        holder = sqlite3.connect(stack.database_url.split("///", 1)[1], isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            codes = answers_during(10, 2, lambda: create_order(http, f"DB-{cases.run}"))
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert codes and set(codes) == {503}, codes
        start_order(http, cases, f"DB-{cases.run}")  # the client's retry
        finish_everything(http, cases)
    check_everything(stack, cases)
    delivered_once(smtp, stack, cases)


@pytest.fixture
def pg_stack(request: pytest.FixtureRequest, tmp_path: Path,
             smtp: SmtpServer) -> Iterator[tuple[Stack, TcpProxy]]:
    """A stack on a PostgreSQL database of its own (dropped after) reached through a TCP proxy
    the drill can cut; PostgreSQL itself is the machine's, never stopped. Only in the
    PostgreSQL half of the suite (--db postgres|both, as `make test` runs it)."""
    if request.config.getoption("--db") == "sqlite":
        pytest.skip("the PostgreSQL outage drill runs with --db postgres or both")
    url = make_url(request.getfixturevalue("pg_database"))
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        s = drill_stack(tmp_path, smtp, through)
    except BaseException:
        proxy.stop()
        raise
    try:
        yield s, proxy
    finally:
        s.stop_all()
        proxy.stop()


def test_drill_postgres_unreachable_for_10_seconds(
        pg_stack: tuple[Stack, TcpProxy], smtp: SmtpServer) -> None:
    """The link to PostgreSQL is cut for 10 s (every open connection reset, new ones refused)
    right after cases of every process started: the API answers 503 + Retry-After to creates
    and reads (never a 500) and starts nothing; once the link is back every case resumes by
    itself (the worker's activities retry) and reaches its end, the client's retry of the
    create included; nothing twice, stock balanced, each notice once."""
    stack, proxy = pg_stack
    cases = Cases()
    with stack.client() as http:
        start_every_process(http, cases)  # their first steps are in flight
        proxy.cut()
        try:
            codes = answers_during(
                10, 1, lambda: create_order(http, f"DP-{cases.run}"),
                lambda: http.get(f"/api/v1/orders/{cases.orders[0]}", headers=auth("ops")),
                lambda: http.get("/api/v1/tasks", headers=auth("cs")), every=0.5)
        finally:
            proxy.restore()
        assert codes and set(codes) == {503}, codes
        start_order(http, cases, f"DP-{cases.run}")  # the client's retry
        finish_everything(http, cases)
    check_everything(stack, cases)
    delivered_once(smtp, stack, cases)


def test_drill_smtp_down_then_up_each_notice_delivered_once(
        stack: Stack, smtp: SmtpServer) -> None:
    """The mail server is down for a minute (SMTP_OUTAGE) while cases of every process and a
    birthday care run send their notices: every mail fails and is retried, none is given up
    (the notice retry policy outlasts the minute, its waits capped at a minute) and none goes
    out; once the server is back every notice is delivered, each once, and every case and the
    run go on to their ends."""
    cases = Cases()
    sync_schedules(stack)
    smtp.stop()
    down_until = time.monotonic() + SMTP_OUTAGE
    engine = make_engine(stack.database_url)

    def notices(*statuses: str) -> list[Notice]:
        with session_scope(engine, write=False) as session:
            return list(session.exec(select(Notice).where(
                or_(col(Notice.case_id).in_([*cases.samples, *cases.orders, *cases.complaints,
                                             *cases.enquiries]),
                    col(Notice.dedup_key).startswith(f"birthday:bs-{cases.run}:")),
                col(Notice.status).in_(statuses))))

    try:
        with stack.client(timeout=60) as http:
            start_every_process(http, cases)
            birthday = put_customer(http, f"bs-{cases.run}",
                                    birthday=f"1990-{schedule_day(stack):%m-%d}")
            trigger(stack, cases, "shopflow-birthday-care")
            # the outage is felt: sends failed and wait for their retry
            assert eventually(lambda: [n for n in notices("pending") if n.last_error],
                              timeout=SMTP_OUTAGE / 2)
            time.sleep(max(0.0, down_until - time.monotonic()))
            assert not notices("sent", "failed")  # none went out, none was given up
            smtp.start()
            finish_everything(http, cases)
    finally:
        engine.dispose()
        if smtp.controller is None:
            smtp.start()
    check_everything(stack, cases)
    delivered_once(smtp, stack, cases)
    assert len(smtp.inbox.to(birthday)) == 1
    assert not notices("failed", "pending", "sending")
