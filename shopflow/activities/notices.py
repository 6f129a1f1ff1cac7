"""Sending notices through the outbox, exactly once.

The row is written first (keyed by workflow id + step), then each attempt claims it, sends, and
records the outcome:

    pending --claim--> sending --handover--> (provider may hold it) --answer--> sent | logged
       ^                  |  \\__ definite error (4xx, refused, unreachable) __/
       |__________________|                      retry later, or failed + ops told at the limit

* A claim bumps ``attempts``, and every later write of that attempt is conditional on it: an
  attempt that Temporal gave up on (timed out, its worker stuck) and that wakes up later finds
  itself fenced off and stops before the message leaves (``Superseded``).
* ``handed_over_at`` is committed right before the point of no return (for SMTP: after the
  server's 354, before the message body and its final dot). So when a retry finds a row still
  ``sending``, it knows which side of that point the cut-off attempt died on:
  - not handed over: the server cannot have accepted anything (an SMTP transaction without its
    final dot is discarded), so the retry sends it: never lost;
  - handed over: the server may well have it. The retry does NOT send again: the row becomes
    ``sent`` with ``confirmed = false`` and a note. THE TRADE-OFF: from the body going out
    to the server's answer being committed (the body's transfer, the server's reply, one small
    write) a crash or a dropped connection leaves us unable to know. There we choose "never
    twice" over "never lost": the window is short, a duplicate is what every customer would see
    while a server refusing (or never getting) a message in that instant is rare, and the
    unconfirmed row stays visible to ops (``confirmed: false`` in GET /notices), who can check
    the mail server's log by its stable Message-ID. Outside that window neither a duplicate nor
    a loss happens.
* A definite failure is retried by the activity's retry policy (NOTICE_RETRY: backoff, 12
  attempts); a permanent one (recipient refused, bad credentials, template error) or the last
  attempt marks the row ``failed``, tells ops with a staff notice (once per failure) and fails
  the activity non-retryably; ``CaseWorkflow.notify`` swallows that and the case goes on.
  A last attempt that times out (its worker killed, SMTP hung) cannot do this itself, so
  notify() then calls ``give_up``, which settles the row the same way (idempotently).
* Never lost before sending either: the row is written (rendered) before the first attempt,
  and ``give_up`` writes it if no attempt ever could (the database down throughout).
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from shopflow.db import insert_ignore, session_scope
from shopflow.models import Case, Customer, Notice, PersonPreference
from shopflow.models.types import utcnow
from shopflow.notifications.channels import (
    Channel,
    DeliveryError,
    DeliveryUncertain,
    LogOnly,
    message_id_for,
)
from shopflow.notifications.render import NoticeRenderer, RenderedNotice
from shopflow.security.links import with_link
from shopflow.services import invoices, people
from shopflow.services.inbound_mail import reply_address
from shopflow.settings import Settings
from shopflow.workflows.base import NOTICE_RETRY
from shopflow.workflows.notice_resend import (
    GIVE_UP_ACTIVITY,
    RESEND_ACTIVITY,
    RESEND_GIVE_UP_ACTIVITY,
    NoticeResendInput,
)
from shopflow.workflows.shared import Act, ErrorType, NoticeRequest

log = structlog.get_logger(__name__)

# How the channel a case came in by translates into a notice channel.
REQUEST_CHANNELS = {"email": "email", "phone": "sms", "sms": "sms"}
UNCONFIRMED = ("unconfirmed: the attempt that handed the message over stopped before it heard "
               "the answer; counted as sent and not sent again")
OPS_NOTICE = "notice_failed"
TASK_NEW = "task_new"
# Task notices a person who chose the digest gets in it (a warning goes out at once).
DIGESTED = frozenset({TASK_NEW, "task_assigned"})
DIGEST_AUDIENCE = "digest"
STAFF_AUDIENCES = frozenset({"task", DIGEST_AUDIENCE})


class Superseded(Exception):
    """A later attempt has claimed this notice; this one must not send."""


@dataclass
class _Claim:
    status: str  # "go", or the status that ends this attempt without sending
    notice: Notice | None = None
    token: int = 0


def route(customer: Customer | None, request_channel: str | None) -> tuple[str, str]:
    """(channel, recipient) for a customer notice: the customer's preferred channel, else the
    channel the request came in by, else email, else SMS, where the profile has the address.
    Without any address the notice is only logged."""
    if customer is None:
        return "log", "customer:unknown"
    addresses = {"email": customer.email, "sms": customer.phone}
    for channel in (customer.preferred_channel, REQUEST_CHANNELS.get(request_channel or ""),
                    "email", "sms"):
        if channel in addresses and addresses[channel]:
            return channel, addresses[channel]  # type: ignore[return-value]
    return "log", f"customer:{customer.id}"


class NoticeActivities:
    def __init__(self, engine: Engine, settings: Settings, channels: dict[str, Channel],
                 renderer: NoticeRenderer | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.channels = channels
        self.renderer = renderer or NoticeRenderer()

    # --- activities ----------------------------------------------------------------------

    @activity.defn(name=Act.NOTICE_SEND)
    def send(self, req: NoticeRequest) -> str:
        if req.audience in STAFF_AUDIENCES:
            return self.send_to_people(req, final=_final_attempt())
        notice_id = self.write_outbox(req)
        return self.attempt(notice_id, final=_final_attempt())

    @activity.defn(name=RESEND_ACTIVITY)
    def resend(self, inp: NoticeResendInput) -> str:
        owned, status = self.reopen(inp)
        if not owned:
            return status
        return self.attempt(inp.notice_id, final=_final_attempt())

    @activity.defn(name=GIVE_UP_ACTIVITY)
    def give_up(self, req: NoticeRequest) -> str:
        """Called by notify() when the send activity failed for good, however it ended."""
        if req.audience in STAFF_AUDIENCES:
            return ",".join(self.abandon(i) for i in self.write_people(req)) or "none"
        return self.abandon(self.write_outbox(req))

    @activity.defn(name=RESEND_GIVE_UP_ACTIVITY)
    def resend_give_up(self, inp: NoticeResendInput) -> str:
        return self.abandon(inp.notice_id)

    def abandon(self, notice_id: int) -> str:
        """After the last attempt: a notice not yet sent is failed (and ops told), one handed
        over is counted as sent; whichever attempt ended how (a timed-out last attempt, its
        worker killed, could not say). Returns the final status."""
        with session_scope(self.engine) as session:
            notice = session.get(Notice, notice_id, with_for_update=True)
            if notice is None:
                raise ApplicationError(f"no notice {notice_id}", type=ErrorType.NOT_FOUND,
                                       non_retryable=True)
            if notice.status == "sending" and notice.handed_over_at is not None:
                notice.status, notice.confirmed = "sent", False
                notice.sent_at, notice.last_error = notice.handed_over_at, UNCONFIRMED
            elif notice.status in ("pending", "sending"):
                notice.status = "failed"
                notice.last_error = notice.last_error or "no attempt could finish (timed out)"
            notice.updated_at = utcnow()
            session.add(notice)
            status = notice.status
        if status == "failed":
            self._tell_ops(notice_id)  # once per failure, whoever asks
        return status

    # --- staff notices for people (issue 17.4) ------------------------------------------

    def send_to_people(self, req: NoticeRequest, *, final: bool) -> str:
        """A task's notice to each of its people: one outbox row per person, each sent once. A
        person's address refused for good fails their row only (the case goes on, the outbox
        shows it); a passing failure is retried for those not sent. One person's digest is
        sent (or fails, for the run's give-up path) as any single notice."""
        statuses: list[str] = []
        retry: Exception | None = None
        if req.audience == DIGEST_AUDIENCE:  # one person: fails as any single notice does
            return ",".join(self.attempt(i, final=final) for i in self.write_people(req)) or "none"
        for notice_id in self.write_people(req):
            try:
                statuses.append(self.attempt(notice_id, final=final))
            except ApplicationError as err:
                if err.type != "NoticeFailed":
                    raise
                statuses.append("failed")
            except DeliveryError as err:
                retry = err  # the others still get theirs in this attempt
        if retry is not None:
            raise retry
        return ",".join(statuses) or "none"

    def write_people(self, req: NoticeRequest) -> list[int]:
        """The outbox rows of a staff notice to send now (created once per dedup key and
        person); a task's notice for a person who chose the digest is kept for it instead."""
        if req.audience == DIGEST_AUDIENCE:
            found = self.write_digest(req)
            return [] if found is None else [found]
        data = {"public_url": self.settings.public_url, **req.data}
        due_at = data.get("due_at")
        data["due_local"] = (people.local_text(self.settings, due_at)
                             if isinstance(due_at, str) and due_at else "-")
        only = req.data.get("to")
        ids: list[str] = []
        with session_scope(self.engine) as session:
            for person in people.recipients(session, self.settings.is_dev,
                                            str(req.data.get("task_id")),
                                            only=only if isinstance(only, str) else None):
                key = f"{req.dedup_key}:{person.name}"
                if req.kind in DIGESTED and person.task_notices == "digest":
                    people.keep_for_digest(session, key, person.name, req.kind, req.case_id,
                                           data)
                    continue
                self._insert(session, req, key, person, data)
                ids.append(key)
        return self._ids(ids)

    def write_digest(self, req: NoticeRequest) -> int | None:
        """One person's digest: its row, with the task notices waiting for it taken in the same
        transaction (so each goes in one digest). None when nothing waits."""
        person = str(req.data.get("person"))
        with session_scope(self.engine) as session:
            found = session.exec(select(Notice.id).where(Notice.dedup_key == req.dedup_key)).first()
            if found is not None:
                return found
            pref = session.get(PersonPreference, person)
            items = people.take_digest(session, person, req.dedup_key)
            if not items or pref is None or not pref.email:
                return None  # nobody to tell (the items are taken: an address set later
                #              starts from new tasks)
            shown = items[:people.LIST_LIMIT]
            data = {"public_url": self.settings.public_url, **req.data, "count": len(items),
                    "items": shown, "more": len(items) - len(shown)}
            self._insert(session, req, req.dedup_key, pref, data)
        return self._ids([req.dedup_key])[0]

    def _insert(self, session: Session, req: NoticeRequest, key: str, person: PersonPreference,
                data: dict[str, Any]) -> None:
        row: dict[str, Any] = {
            "dedup_key": key, "case_id": req.case_id, "kind": req.kind, "audience": "staff",
            "customer_id": None, "recipient": person.email, "channel": "email", "data": data,
            "attempts": 0, "resends": 0, "confirmed": False,
            "message_id": message_id_for(key, self.settings.smtp_from),
            "created_at": utcnow(), "updated_at": utcnow(),
        }
        row.update(self._rendered(req.kind, person.locale or self.settings.ops_locale, data))
        insert_ignore(session, Notice.__table__, [row], ["dedup_key"])

    def _ids(self, keys: list[str]) -> list[int]:
        if not keys:
            return []
        with session_scope(self.engine, write=False) as session:
            found = dict(session.exec(select(Notice.dedup_key, Notice.id).where(
                col(Notice.dedup_key).in_(keys))).all())
        return [found[k] for k in keys if found.get(k) is not None]

    # --- the outbox ----------------------------------------------------------------------

    def write_outbox(self, req: NoticeRequest) -> int:
        """The notice's row, rendered, created once per dedup key; returns its id."""
        with session_scope(self.engine, write=False) as session:
            found = session.exec(select(Notice.id).where(Notice.dedup_key == req.dedup_key)).first()
            if found is not None:
                return found
            customer = session.get(Customer, req.customer_id) if req.customer_id else None
            case = session.get(Case, req.case_id) if req.case_id else None
            request_channel = req.data.get("notice_channel") or (
                case.data.get("channel") if case else None)
            order_no = req.data.get("order_no")
            tax_invoice = (invoices.for_customer(session, order_no)
                           if req.kind in invoices.NOTICE_KINDS and isinstance(order_no, str)
                           else None)
        if req.customer_id is None:
            audience, channel, recipient = "staff", "email", self.settings.ops_email
            locale: str | None = self.settings.ops_locale
        else:
            audience, locale = "customer", customer.locale if customer else None
            channel, recipient = route(customer, request_channel)
        data = {"public_url": self.settings.public_url, **req.data}
        if tax_invoice is not None:  # the invoice asked for, issued by now (services/invoices)
            data["tax_invoice"] = tax_invoice
        row: dict[str, Any] = {
            "dedup_key": req.dedup_key, "case_id": req.case_id, "kind": req.kind,
            "audience": audience, "customer_id": req.customer_id, "recipient": recipient,
            "channel": channel, "data": data, "attempts": 0, "resends": 0, "confirmed": False,
            "message_id": message_id_for(req.dedup_key, self.settings.smtp_from),
            "created_at": utcnow(), "updated_at": utcnow(),
        }
        row.update(self._rendered(req.kind, locale, data, channel))
        with session_scope(self.engine) as session:
            insert_ignore(session, Notice.__table__, [row], ["dedup_key"])
            return session.exec(select(Notice.id).where(Notice.dedup_key == req.dedup_key)).one()

    def _rendered(self, kind: str, locale: str | None, data: dict[str, Any],
                  channel: str = "email") -> dict[str, Any]:
        """Columns of a rendered notice (an SMS by its short template); a template error gives
        a failed row instead (kept, with its data, so it can be resent once the template is
        fixed)."""
        try:
            r = self.renderer.render(kind, locale, with_link(self.settings, data, utcnow()),
                                     channel)
        except Exception as err:
            log.error("notice template failed", kind=kind, error=repr(err))
            return {"locale": locale or "zh-CN", "subject": "", "body_text": "", "body_html": "",
                    "status": "failed", "last_error": f"template {kind}: {type(err).__name__}: "
                                                      f"{err}"[:1000]}
        return {"locale": r.locale, "subject": r.subject, "body_text": r.text,
                "body_html": r.html, "status": "pending", "last_error": None}

    def reopen(self, inp: NoticeResendInput) -> tuple[bool, str]:
        """Turn a failed notice back to pending for resend number ``resend_no``, once (the API
        may have done it already); a notice whose template had failed is rendered again.
        Returns whether this resend owns the notice, and its status."""
        with session_scope(self.engine) as session:
            notice = session.get(Notice, inp.notice_id, with_for_update=True)
            if notice is None:
                raise ApplicationError(f"no notice {inp.notice_id}", type=ErrorType.NOT_FOUND,
                                       non_retryable=True)
            if notice.resends > inp.resend_no or (
                    notice.resends < inp.resend_no and notice.status != "failed"):
                return False, notice.status  # a later resend owns it, or nothing is left to do
            if notice.resends < inp.resend_no:
                notice.status, notice.resends = "pending", inp.resend_no
                notice.resent_by, notice.updated_at = inp.actor, utcnow()
            if notice.status == "pending" and not notice.subject:
                for name, value in self._rendered(notice.kind, notice.locale, notice.data,
                                                  notice.channel).items():
                    setattr(notice, name, value)
            session.add(notice)
            return True, notice.status

    # --- one attempt -----------------------------------------------------------------------

    def attempt(self, notice_id: int, *, final: bool) -> str:
        """Deliver, or fail: on a permanent error or the last attempt, mark the notice failed,
        tell ops and fail non-retryably. A temporary error is raised for Temporal to retry."""
        try:
            status = self.deliver(notice_id)
        except DeliveryError as err:
            if not (err.permanent or final):
                raise
            self._mark_failed(notice_id, str(err))
            status = "failed"
        except Superseded:
            raise
        except Exception as err:
            # Say, the database failing us. On the last attempt a notice still waiting is
            # failed and ops told; one already handed over is left as it is (never twice).
            if final:
                with suppress(Exception):
                    if self._mark_failed(notice_id, f"{type(err).__name__}: {err}"):
                        self._tell_ops(notice_id)
            raise
        if status == "failed":
            notice = self._tell_ops(notice_id)
            raise ApplicationError(f"notice {notice.dedup_key} not sent: {notice.last_error}",
                                   type="NoticeFailed", non_retryable=True)
        return status

    def deliver(self, notice_id: int) -> str:
        """Send the notice if no attempt has yet: returns its status."""
        claim = self._claim(notice_id)
        if claim.notice is None:
            return claim.status
        notice, token = claim.notice, claim.token
        handed = False

        def handover() -> None:
            nonlocal handed
            self._handover(notice_id, token)
            handed = True

        channel = self.channels.get(notice.channel) or LogOnly(notice.channel)
        reply_to = (reply_address(self.settings, notice.case_id)
                    if notice.audience == "customer" else None)
        rendered = RenderedNotice(notice.subject, notice.body_text, notice.body_html, notice.locale,
                                  reply_to)
        bound = log.bind(notice_id=notice_id, case_id=notice.case_id, kind=notice.kind,
                         channel=notice.channel, attempt=token)
        try:
            status = channel.send(notice.recipient, rendered, notice.message_id, handover)
        except Superseded:
            bound.warning("notice attempt superseded by a later one; not sending")
            raise
        except DeliveryUncertain as err:
            bound.warning("notice handed over, answer lost: counted as sent", error=str(err))
            self._settle(notice_id, token, "sent", confirmed=False, note=f"{UNCONFIRMED} ({err})")
            return "sent"
        except DeliveryError as err:
            bound.warning("notice not delivered", error=str(err), permanent=err.permanent)
            self._release(notice_id, token, str(err))
            raise
        except Exception as err:
            if handed:  # a channel's surprise after the point of no return
                self._settle(notice_id, token, "sent", confirmed=False,
                             note=f"{UNCONFIRMED} ({type(err).__name__}: {err})")
                return "sent"
            self._release(notice_id, token, f"{type(err).__name__}: {err}")
            raise DeliveryError(f"{type(err).__name__}: {err}") from err
        self._settle(notice_id, token, status, confirmed=True)
        bound.info("notice delivered", status=status)
        return status

    def _claim(self, notice_id: int) -> _Claim:
        now = utcnow()
        with session_scope(self.engine) as session:
            notice = session.get(Notice, notice_id, with_for_update=True)
            if notice is None:
                raise ApplicationError(f"no notice {notice_id}", type=ErrorType.NOT_FOUND,
                                       non_retryable=True)
            if notice.status in ("sent", "logged", "failed"):
                return _Claim(notice.status)
            if notice.status == "sending" and notice.handed_over_at is not None:
                # An attempt handed the message over and was cut off before it recorded the
                # answer: the provider may have it. Never twice (see the module doc).
                log.warning("notice found handed over by a cut-off attempt: not resending",
                            notice_id=notice_id, case_id=notice.case_id)
                notice.status, notice.confirmed = "sent", False
                notice.sent_at, notice.last_error = notice.handed_over_at, UNCONFIRMED
                notice.updated_at = now
                session.add(notice)
                return _Claim("sent")
            # pending, or sending but cut off before the handover: nothing can have arrived.
            notice.status, notice.attempts = "sending", notice.attempts + 1
            notice.sending_at, notice.handed_over_at, notice.updated_at = now, None, now
            session.add(notice)
            session.flush()
            return _Claim("go", notice, notice.attempts)

    def _handover(self, notice_id: int, token: int) -> None:
        now = utcnow()
        with session_scope(self.engine) as session:
            changed = session.execute(
                update(Notice)
                .where(col(Notice.id) == notice_id, col(Notice.attempts) == token,
                       col(Notice.status) == "sending")
                .values(handed_over_at=now, updated_at=now)
            ).rowcount  # type: ignore[attr-defined]
        if changed != 1:
            raise Superseded(f"notice {notice_id}: attempt {token} was superseded")

    def _settle(self, notice_id: int, token: int, status: str, *, confirmed: bool,
                note: str | None = None) -> None:
        now = utcnow()
        with session_scope(self.engine) as session:
            session.execute(
                update(Notice)
                .where(col(Notice.id) == notice_id, col(Notice.attempts) == token,
                       col(Notice.status).in_(["sending", "sent"]))
                .values(status=status, confirmed=confirmed, last_error=note, sent_at=now,
                        updated_at=now)
            )

    def _release(self, notice_id: int, token: int, error: str) -> None:
        """A definite failure: the notice waits for the next attempt."""
        with session_scope(self.engine) as session:
            session.execute(
                update(Notice)
                .where(col(Notice.id) == notice_id, col(Notice.attempts) == token,
                       col(Notice.status) == "sending")
                .values(status="pending", handed_over_at=None, last_error=error[:1000],
                        updated_at=utcnow())
            )

    def _mark_failed(self, notice_id: int, error: str) -> bool:
        with session_scope(self.engine) as session:
            changed = session.execute(
                update(Notice)
                .where(col(Notice.id) == notice_id, col(Notice.status) == "pending")
                .values(status="failed", last_error=error[:1000], updated_at=utcnow())
            ).rowcount  # type: ignore[attr-defined]
        return bool(changed)

    def _tell_ops(self, notice_id: int) -> Notice:
        """A staff notice about a failed customer notice, once per failure (a resend that fails
        again tells again). A failed staff notice is only logged: ops has no other address."""
        with session_scope(self.engine, write=False) as session:
            notice = session.get(Notice, notice_id)
            assert notice is not None
        log.error("notice failed", notice_id=notice.id, case_id=notice.case_id, kind=notice.kind,
                  recipient=notice.recipient, error=notice.last_error)
        if notice.audience != "customer":
            return notice
        ops_id = self.write_outbox(NoticeRequest(
            dedup_key=f"{notice.dedup_key}:failed:{notice.resends}",
            kind=OPS_NOTICE,
            case_id=notice.case_id,
            data={"case_id": notice.case_id or "-", "notice_id": notice.id,
                  "notice_kind": notice.kind, "recipient": notice.recipient,
                  "channel": notice.channel, "error": (notice.last_error or "")[:300]},
        ))
        try:
            self.deliver(ops_id)
        except Exception as err:
            # Likely the same outage: keep it in the outbox as failed, for the notices list.
            log.error("ops notice not sent either", notice_id=ops_id, error=repr(err))
            with suppress(Exception):
                self._mark_failed(ops_id, f"{type(err).__name__}: {err}")
        return notice


def _final_attempt() -> bool:
    info = activity.info()
    # Servers that do not pass the retry policy on (the time-skipping test server): the one
    # both callers, notify() and NoticeResend, use.
    policy = info.retry_policy or NOTICE_RETRY
    return policy.maximum_attempts > 0 and info.attempt >= policy.maximum_attempts
