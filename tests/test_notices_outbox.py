"""The outbox and its sending activity against a real SMTP server (aiosmtpd): each notice is
written once and sent once whatever happens between its attempts, failures end failed with ops
told, and the channel follows the customer."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from shopflow.activities.notices import NoticeActivities, Superseded
from shopflow.db import session_scope
from shopflow.models import Case, Customer, Notice
from shopflow.notifications.channels import DeliveryError, Sms, build_channels
from shopflow.notifications.render import RenderedNotice
from shopflow.settings import Settings
from shopflow.workflows.notice_resend import NoticeResendInput
from shopflow.workflows.shared import NoticeRequest
from tests.notices_support import (
    OPS,
    Inbox,
    SmtpServer,
    mail_settings,
    password_checker,
    self_signed_cert,
    tls_server_context,
)

LI = "li@example.com"


def activities(engine: Engine, settings: Settings) -> NoticeActivities:
    return NoticeActivities(engine, settings, build_channels(settings))


def add_customer(engine: Engine, cid: str = "c-1", **fields: Any) -> None:
    values: dict[str, Any] = {"name": "Li Wei", "email": LI, "phone": "13800000000", **fields}
    with session_scope(engine) as s:
        s.add(Customer(id=cid, **values))


def request(step: str = "shipped", kind: str = "sample_shipped", customer: str | None = "c-1",
            **data: Any) -> NoticeRequest:
    data = data or {"courier": "SF Express", "tracking_no": "SF1001"}
    return NoticeRequest(dedup_key=f"sample-s1:{step}", kind=kind, case_id="s1",
                         data={"case_id": "s1", **data}, customer_id=customer)


def run(fn: Any, arg: Any) -> Any:
    """Call an activity as Temporal would (first attempt, activity context)."""
    return ActivityEnvironment().run(fn, arg)


def row(engine: Engine, key: str = "sample-s1:shipped") -> Notice:
    with Session(engine) as s:
        return s.exec(select(Notice).where(Notice.dedup_key == key)).one()


class Crash(BaseException):
    """Stands for the worker dying: nothing in the activity catches it."""


class CrashAfterSend:
    """A channel that sends for real, then dies before the outcome can be recorded."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name = inner, inner.name

    def send(self, *args: Any) -> str:
        self.inner.send(*args)
        raise Crash()


def test_a_notice_is_written_once_and_sent_once_however_often_its_activity_runs(
        engine: Engine, settings: Settings, smtp: SmtpServer) -> None:
    add_customer(engine)
    acts = activities(engine, mail_settings(settings, smtp))
    for _ in range(3):
        assert run(acts.send, request()) == "sent"
    [mail] = smtp.inbox.messages
    assert mail.recipients == [LI] and mail.sender == "noreply@shop.test"
    assert mail.subject == "样品已发货（s1）"
    assert mail.message["Content-Language"] == "zh-CN"
    assert mail.message["Auto-Submitted"] == "auto-generated"
    assert "SF1001" in mail.part("plain") and "SF1001" in mail.part("html")
    n = row(engine)
    assert (n.status, n.attempts, n.confirmed, n.channel, n.recipient) == ("sent", 1, True,
                                                                          "email", LI)
    assert mail.message["Message-ID"] == n.message_id
    assert n.message_id.startswith("<notice.") and n.message_id.endswith("@shop.test>")
    assert n.sent_at is not None and n.last_error is None


def test_cut_off_before_the_handover_is_sent_by_the_retry_and_the_stale_attempt_is_fenced_off(
        engine: Engine, settings: Settings, smtp: SmtpServer) -> None:
    add_customer(engine)
    acts = activities(engine, mail_settings(settings, smtp))
    notice_id = acts.write_outbox(request())
    stale = acts._claim(notice_id)  # an attempt that timed out before it reached the server
    assert stale.status == "go" and row(engine).status == "sending"
    assert acts.deliver(notice_id) == "sent"  # the retry: nothing can have arrived, so it sends
    with pytest.raises(Superseded):  # the stale attempt wakes up: it may not send any more
        acts._handover(notice_id, stale.token)
    assert len(smtp.inbox.messages) == 1
    n = row(engine)
    assert (n.status, n.attempts, n.confirmed) == ("sent", 2, True)


def test_cut_off_after_the_handover_is_never_sent_twice(
        engine: Engine, settings: Settings, smtp: SmtpServer) -> None:
    add_customer(engine)
    s = mail_settings(settings, smtp)
    channels = build_channels(s)
    crashing = NoticeActivities(engine, s, {**channels, "email": CrashAfterSend(channels["email"])})
    notice_id = crashing.write_outbox(request())
    with pytest.raises(Crash):
        crashing.deliver(notice_id)
    n = row(engine)
    assert n.status == "sending" and n.handed_over_at is not None
    assert len(smtp.inbox.messages) == 1

    assert run(activities(engine, s).send, request()) == "sent"
    assert len(smtp.inbox.messages) == 1
    n = row(engine)
    assert (n.status, n.confirmed, n.attempts) == ("sent", False, 1)
    assert n.last_error is not None and n.last_error.startswith("unconfirmed")


def test_server_down_then_up_delivers_once(engine: Engine, settings: Settings) -> None:
    add_customer(engine)
    server = SmtpServer()  # not started: the outage
    acts = activities(engine, mail_settings(settings, server))
    with pytest.raises(DeliveryError) as failed:
        run(acts.send, request())
    assert not failed.value.permanent
    n = row(engine)
    assert n.status == "pending" and n.attempts == 1 and "unreachable" in (n.last_error or "")
    server.start()
    try:
        assert run(acts.send, request()) == "sent"
        assert run(acts.send, request()) == "sent"
        assert len(server.inbox.messages) == 1
    finally:
        server.stop()
    n = row(engine)
    assert (n.status, n.attempts, n.last_error) == ("sent", 2, None)


def test_a_refused_recipient_fails_at_once_tells_ops_once_and_a_resend_sends_once(
        engine: Engine, settings: Settings, smtp: SmtpServer) -> None:
    add_customer(engine)
    smtp.inbox.refuse.add(LI)
    acts = activities(engine, mail_settings(settings, smtp))
    for _ in range(2):
        with pytest.raises(ApplicationError) as err:
            run(acts.send, request())
        assert err.value.non_retryable
    n = row(engine)
    assert n.status == "failed" and "550" in (n.last_error or "")
    [ops] = smtp.inbox.to(OPS)
    assert ops.subject == "通知发送失败：sample_shipped（s1）"
    assert LI in ops.part("plain") and f"/api/v1/notices/{n.id}" in ops.part("plain")
    assert row(engine, "sample-s1:shipped:failed:0").status == "sent"
    assert smtp.inbox.to(LI) == []

    smtp.inbox.refuse.clear()
    assert n.id is not None
    for _ in range(2):  # a retried resend activity still sends once
        assert run(acts.resend, NoticeResendInput(n.id, 1, "dev-cs")) == "sent"
    assert len(smtp.inbox.to(LI)) == 1
    n = row(engine)
    assert (n.status, n.resends, n.resent_by) == ("sent", 1, "dev-cs")
    # A resend number already used, or one for a notice that is not failed, does nothing.
    assert run(acts.resend, NoticeResendInput(n.id, 2, "dev-cs")) == "sent"
    assert len(smtp.inbox.to(LI)) == 1


def test_the_last_attempt_marks_the_notice_failed_and_tells_ops(
        engine: Engine, settings: Settings, smtp: SmtpServer) -> None:
    add_customer(engine)
    smtp.inbox.defer.add(LI)  # 451: temporary, retried, until the limit
    acts = activities(engine, mail_settings(settings, smtp))
    env = ActivityEnvironment()
    policy = RetryPolicy(maximum_attempts=3)
    for attempt in (1, 2):
        env.info = dataclasses.replace(env.info, attempt=attempt, retry_policy=policy)
        with pytest.raises(DeliveryError):
            env.run(acts.send, request())
        assert row(engine).status == "pending" and smtp.inbox.to(OPS) == []
    env.info = dataclasses.replace(env.info, attempt=3, retry_policy=policy)
    with pytest.raises(ApplicationError, match="451"):
        env.run(acts.send, request())
    n = row(engine)
    assert (n.status, n.attempts) == ("failed", 3)
    assert len(smtp.inbox.to(OPS)) == 1 and smtp.inbox.to(LI) == []


def test_a_template_error_is_kept_failed_with_its_data_and_ops_is_told(
        engine: Engine, settings: Settings, smtp: SmtpServer) -> None:
    add_customer(engine)
    acts = activities(engine, mail_settings(settings, smtp))
    with pytest.raises(ApplicationError) as err:
        run(acts.send, request(courier="SF Express"))  # no tracking_no
    assert err.value.non_retryable
    n = row(engine)
    assert n.status == "failed" and "tracking_no" in (n.last_error or "")
    assert n.data["courier"] == "SF Express"
    assert len(smtp.inbox.to(OPS)) == 1 and smtp.inbox.to(LI) == []


def test_without_smtp_notices_are_recorded_and_logged(engine: Engine, settings: Settings) -> None:
    add_customer(engine)
    acts = activities(engine, settings.model_copy(update={"smtp_host": None}))
    assert run(acts.send, request()) == "logged"
    n = row(engine)
    assert (n.status, n.channel, n.recipient, n.attempts) == ("logged", "email", LI, 1)
    assert n.subject == "样品已发货（s1）" and "SF1001" in n.body_text


def test_channel_follows_the_customer_preference_then_the_request_channel(
        engine: Engine, settings: Settings, smtp: SmtpServer) -> None:
    add_customer(engine, "pref-sms", preferred_channel="sms", locale="en")
    add_customer(engine, "by-phone")
    add_customer(engine, "pref-email", preferred_channel="email")
    add_customer(engine, "phone-only", email=None)
    add_customer(engine, "no-address", email=None, phone=None)
    with session_scope(engine) as s:
        for cid in ("pref-sms", "by-phone", "pref-email", "phone-only", "no-address"):
            s.add(Case(id=f"case-{cid}", kind="sample", workflow_id=f"sample-{cid}",
                       status="open", stage="review", customer_id=cid,
                       data={"channel": "phone" if cid != "pref-sms" else "web"}))
    recorded: list[tuple[str, str, str]] = []

    class Recording:
        def __init__(self, settings: Settings | None = None) -> None:
            pass

        def send_sms(self, phone: str, text: str, message_id: str) -> str:
            recorded.append((phone, text, message_id))
            return "sent"

    s = mail_settings(settings, smtp)
    acts = NoticeActivities(engine, s, {**build_channels(s), "sms": Sms(Recording())})
    for cid in ("pref-sms", "by-phone", "pref-email", "phone-only", "no-address"):
        run(acts.send, NoticeRequest(f"sample-{cid}:shipped", "sample_shipped", f"case-{cid}",
                                    {"case_id": f"case-{cid}", "courier": "SF",
                                     "tracking_no": "T1"}, customer_id=cid))
    with Session(engine) as session:
        got = {n.customer_id: (n.channel, n.recipient, n.status, n.locale)
               for n in session.exec(select(Notice))}
    assert got == {
        "pref-sms": ("sms", "13800000000", "sent", "en"),
        "by-phone": ("sms", "13800000000", "sent", "zh-CN"),  # the case came in by phone
        "pref-email": ("email", LI, "sent", "zh-CN"),  # the preference beats the request
        "phone-only": ("sms", "13800000000", "sent", "zh-CN"),
        "no-address": ("log", "customer:no-address", "logged", "zh-CN"),
    }
    # an SMS is the kind's short text (templates/<locale>/sms/), no subject, no e-mail footer
    assert recorded[0][1] == "Samples sent: SF T1"
    assert "\n" not in recorded[0][1] and "Sent automatically" not in recorded[0][1]
    assert len(recorded) == 3 and len(smtp.inbox.messages) == 1


def test_staff_notices_go_to_the_ops_address_in_the_ops_language(
        engine: Engine, settings: Settings, smtp: SmtpServer) -> None:
    acts = activities(engine, mail_settings(settings, smtp, ops_locale="en"))
    req = request("escalated:t1", "task_escalated", customer=None, task_kind="sample.review",
                  task_id="t1")
    assert run(acts.send, req) == "sent"
    [mail] = smtp.inbox.messages
    assert mail.recipients == [OPS]
    assert mail.subject == "Overdue task escalated: sample.review (s1)"
    assert "http://shop.test/ui/tasks/t1" in mail.part("plain")


def test_an_sms_adapter_that_may_have_sent_is_not_retried(engine: Engine,
                                                         settings: Settings) -> None:
    add_customer(engine, preferred_channel="sms")
    calls = []

    class Flaky:
        def send_sms(self, phone: str, text: str, message_id: str) -> str:
            calls.append(message_id)
            raise TimeoutError("provider did not answer")

    acts = NoticeActivities(engine, settings, {**build_channels(settings), "sms": Sms(Flaky())})
    assert run(acts.send, request()) == "sent"
    assert run(acts.send, request()) == "sent"
    assert len(calls) == 1
    n = row(engine)
    assert (n.status, n.confirmed) == ("sent", False) and "TimeoutError" in (n.last_error or "")


def test_the_default_sms_adapter_logs(engine: Engine, settings: Settings) -> None:
    add_customer(engine, preferred_channel="sms")
    assert run(activities(engine, settings).send, request()) == "logged"
    assert (row(engine).channel, row(engine).status) == ("sms", "logged")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_starttls_and_auth_by_settings(engine: Engine, settings: Settings,
                                       tmp_path: Path) -> None:
    add_customer(engine)
    cert, key = self_signed_cert(tmp_path)
    server = SmtpServer(Inbox(), tls_context=tls_server_context(cert, key), require_starttls=True,
                        authenticator=password_checker("shop", "s3cret"), auth_require_tls=True)
    server.start()
    try:
        s = mail_settings(settings, server, smtp_starttls=True, smtp_user="shop",
                          smtp_password="s3cret", smtp_ca_file=cert)
        assert run(activities(engine, s).send, request()) == "sent"
        [mail] = server.inbox.messages
        assert mail.tls and mail.login == "shop"

        wrong = mail_settings(settings, server, smtp_starttls=True, smtp_user="shop",
                              smtp_password="nope", smtp_ca_file=cert)
        with pytest.raises(ApplicationError, match="535"):  # bad credentials: permanent
            run(activities(engine, wrong).send, request("other"))
    finally:
        server.stop()


def test_credentials_are_never_sent_without_starttls(engine: Engine, settings: Settings,
                                                     smtp: SmtpServer) -> None:
    add_customer(engine)
    s = mail_settings(settings, smtp, smtp_starttls=True, smtp_user="shop", smtp_password="x")
    with pytest.raises(ApplicationError, match="STARTTLS"):
        run(activities(engine, s).send, request())
    assert row(engine).status == "failed" and smtp.inbox.to(LI) == []


def test_an_smtp_channel_error_reply_after_the_message_is_a_definite_failure() -> None:
    """The server answering the final dot with an error means it did not take the message."""
    from shopflow.notifications.channels import SmtpEmail

    class Refusing(Inbox):
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "554 5.7.1 message content rejected"

    server = SmtpServer(Refusing()).start()
    try:
        s = Settings(_env_file=None, smtp_host="127.0.0.1", smtp_port=server.port,  # type: ignore[call-arg]
                     smtp_starttls=False)
        handed = []
        with pytest.raises(DeliveryError) as err:
            SmtpEmail(s).send(LI, RenderedNotice("s", "t", "<p>t</p>", "en"), "<m@x>",
                              lambda: handed.append(True))
        assert err.value.permanent and handed == [True]
    finally:
        server.stop()
