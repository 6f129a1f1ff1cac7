"""Complaints (seed 003: complaints, escalation, delayed handling), one workflow
``complaint-<id>``.

One ``complaint.handle`` task at a time, for customer service at level 0 and ops above. Two
clocks run per handling round: the first response (``respond`` stops it; the task stays open)
and the resolution (``resolve`` stops it). While the case waits on the customer's reply both
clocks pause. A missed response raises the level (the task goes to ops, flagged, ops mailbox
told); a missed resolution raises it again, to at least level 2, and tells the customer where
things stand. After ``resolve`` the customer is asked whether they are satisfied; not satisfied,
or an escalation through the platform within the reopen window, starts a new round one level up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from temporalio import workflow

from shopflow.workflows.base import HumanTask, rejection
from shopflow.workflows.business_time import TaskClock
from shopflow.workflows.complaint_rules import (
    DECISIONS_HELP,
    HANDLE,
    check_decision,
    not_satisfied,
    reopen_cause,
    role_for,
    sla_view,
    timeline_line,
)
from shopflow.workflows.feedback import FeedbackMixin
from shopflow.workflows.shared import (
    Act,
    ComplaintSnapshot,
    CompleteTaskInput,
    CustomerData,
    ErrorType,
    FeedbackAnswered,
    ReturnStart,
    ReturnStarted,
    TaskSync,
)


@dataclass
class ComplaintTimers:
    """Seconds, copied from the settings when the complaint is filed."""

    response_sla: float
    resolution_sla: float
    reopen_window: float
    feedback_reminder: float
    notice_send: float = 60.0  # one notice attempt (absent from inputs of older cases)
    history_limit: int = 0  # events before continuing as new (0: older cases, never)
    # business hours and per-kind due times (issue 17.5; absent from older cases' inputs)
    clock: TaskClock | None = None


@dataclass
class ComplaintInput:
    complaint_id: str
    customer: CustomerData
    category: str
    description: str
    channel: str
    timers: ComplaintTimers
    order_no: str | None = None
    submitted_by: str = "system"
    # The state carried into a run continued as new (None: a new complaint).
    carry: dict[str, Any] | None = None


@dataclass
class CustomerMessage:
    text: str
    actor: str = "customer"


@dataclass
class CustomerEscalation:
    reason: str
    actor: str = "customer"


@workflow.defn(name="Complaint")
class ComplaintWorkflow(FeedbackMixin):
    KIND = "complaint"
    LOCAL = True
    NON_FINAL_DECISIONS = {HANDLE: frozenset({"respond"})}
    # The messages' texts live in the database (the case's "messages"), not in workflow state.
    DB_LISTS = frozenset({"messages"})
    CARRIED_HERE = (
        "level", "escalations", "reopened", "round", "round_start", "paused_total",
        "paused_since", "responded", "response_missed", "resolution_missed",
        "first_response_at", "response_sla_met", "resolution_sla_met", "resolved_at",
        "closed_at", "messages", "customer_escalation", "_wake", "_snapshots", "message_count",
        "recent", "feedback_token", "feedback", "customer_escalated_round",
    )
    RECENT = 5  # messages (with text) a new handle task shows in its context

    def __init__(self) -> None:
        super().__init__()
        self.inp: ComplaintInput | None = None
        self.level = 0
        self.escalations = 0
        self.reopened = 0
        self.round = 0
        self.round_start = datetime.min
        self.paused_total = timedelta(0)
        self.paused_since: datetime | None = None
        self.responded = False
        self.response_missed = False
        self.resolution_missed = False
        self.first_response_at: datetime | None = None
        self.response_sla_met: bool | None = None
        self.resolution_sla_met: bool | None = None
        self.resolved_at: datetime | None = None
        self.closed_at: datetime | None = None
        self.messages: list[dict[str, Any]] = []
        # Messages whose text went to the database (complaint-texts-in-db), and the last few.
        self.message_count = 0
        self.recent: list[dict[str, Any]] = []
        self.customer_escalation: dict[str, Any] | None = None
        # The round in which the customer escalated while it was being handled (0: never).
        self.customer_escalated_round = 0
        self.task: HumanTask | None = None
        self._wake = 0
        self._snapshots = 0

    # --- the process ---------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: ComplaintInput) -> dict[str, Any]:
        if inp.carry is not None:
            # Continued as new: the same case, its state carried, inside its handling round.
            self.inp = inp
            carried = dict(inp.carry)
            task_id = carried.pop("task_id", None)
            self.restore(carried)
            self.data["messages"] = self.messages
            self.task = self.tasks.get(task_id) if task_id else None
            assert self.task is not None
            await self._until_resolved(self.task)
        else:
            await self._start(inp)
            await self._handling_round()
        while await self._ask_satisfaction():
            await self._reopen()
            await self._handling_round()
        await self.archive()
        await self.finish()
        return {"status": "closed", "level": self.level, "rounds": self.round}

    async def _start(self, inp: ComplaintInput) -> None:
        self.inp = inp
        self.start_case(inp.complaint_id, inp.customer.id, inp.timers.response_sla,
                        inp.timers.notice_send,
                        clock=inp.timers.clock)
        self.stage = "handling"
        self.data = {
            "id": inp.complaint_id,
            "complaint_no": inp.complaint_id,
            "customer": {"id": inp.customer.id, "name": inp.customer.name,
                         "company": inp.customer.company},
            "order_no": inp.order_no,
            "category": inp.category,
            "description": inp.description,
            "channel": inp.channel,
            "level": 0,
            "round": 1,
            "sla": {},
            "messages": self.messages,
            "resolution": None,
            "return": None,
            "feedback": None,
            "history": [],
        }
        await self._act(Act.CUSTOMER_UPSERT, inp.customer)
        await self._save("submitted", f"{inp.category} complaint via {inp.channel}",
                         actor=inp.submitted_by, status="open", stage="handling")
        await self.notify("received", "complaint_received", complaint_no=inp.complaint_id,
                          category=inp.category, order_no=inp.order_no or "")

    async def _handling_round(self) -> None:
        """Until a resolve decision: one task at a time, the two clocks, the ladder."""
        self.round += 1
        self.round_start = workflow.now()
        self.paused_total, self.paused_since = timedelta(0), None
        self.responded = self.response_missed = self.resolution_missed = False
        self.data["round"] = self.round
        self._sla_view()
        task = await self._open_handle_task()
        await self._until_resolved(task)

    async def _until_resolved(self, task: HumanTask) -> None:
        while True:
            await self._clocks(task)
            if task.decision == "resolve":
                return
            # escalate: the task is done; the next one opens a level up
            await self._raise_level("staff", task.data["reason"], actor=task.actor or "system")
            task = await self._open_handle_task()

    async def _open_handle_task(self) -> HumanTask:
        role = role_for(self.level)
        due = self._inbox_due()
        assert self.inp is not None
        task = await self.open_task(HANDLE, role, {
            "complaint_no": self.case_id,
            "customer": self.data["customer"],
            "order_no": self.inp.order_no,
            "category": self.inp.category,
            "description": self.inp.description,
            "channel": self.inp.channel,
            "level": self.level,
            "round": self.round,
            "messages": self.messages or self.recent,
            "history": self.data["history"],
            "decisions": DECISIONS_HELP,
        }, due)
        self.task = task
        if self.level > 0:
            await self._sync_task(escalated=True)
        return task

    async def _clocks(self, task: HumanTask) -> None:
        """Wait for the task's final decision while the clocks run; act on each missed one."""
        while not task.done:
            await self._continue_as_new_if_long(task)
            deadline = self._deadline()
            if deadline is not None and deadline <= workflow.now():
                await self._missed(task)
                continue
            seen = self._wake
            timeout = None if deadline is None else deadline - workflow.now()
            try:
                await workflow.wait_condition(partial(self._woken, task, seen), timeout=timeout)
            except TimeoutError:
                if not task.done:
                    await self._missed(task)

    async def _continue_as_new_if_long(self, task: HumanTask) -> None:
        """A complaint can take messages without end: above the history limit it continues
        as new with its state (the open task, the clocks, the ladder) carried."""
        assert self.inp is not None
        if not self.history_too_long(self.inp.timers.history_limit):
            return
        if not self.since("complaint-continue-as-new"):
            return
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and not task.applying)
        if task.done:
            return
        carried = self.carry(*self.CARRIED_HERE)
        carried["task_id"] = task.id
        nxt = ComplaintInput(**{**{f: getattr(self.inp, f) for f in (
            "complaint_id", "customer", "category", "description", "channel", "timers",
            "order_no", "submitted_by")}, "carry": carried})
        workflow.continue_as_new(nxt)

    def _response_deadline(self) -> datetime | None:
        if self.responded or self.response_missed or self.paused_since is not None:
            return None
        assert self.inp is not None
        return self._clock_end(self.inp.timers.response_sla, self.paused_total)

    def _resolution_deadline(self) -> datetime | None:
        if self.resolution_missed or self.paused_since is not None:
            return None
        assert self.inp is not None
        return self._clock_end(self.inp.timers.resolution_sla, self.paused_total)

    def _clock_end(self, sla: float, paused: timedelta) -> datetime:
        """When a clock of ``sla`` seconds started with the round ends, the time it was paused
        added: both in business time when the complaint started with business hours (the
        paused time is then the business time it was paused for)."""
        if self.round == 0:  # before the first round (round_start is datetime.min): as before
            return self.round_start + timedelta(seconds=sla) + paused
        return self.deadline(timedelta(seconds=sla) + paused, self.round_start)

    def _woken(self, task: HumanTask, seen: int) -> bool:
        if self.inp is not None and self.history_too_long(self.inp.timers.history_limit):
            return True  # a long history: continue as new (messages do not wake the clocks)
        return task.done or self._wake != seen

    def _deadline(self) -> datetime | None:
        found = [d for d in (self._response_deadline(), self._resolution_deadline()) if d]
        return min(found) if found else None

    def _inbox_due(self) -> datetime:
        """The due time shown in the inbox; while paused, as if the clocks resumed now."""
        now = workflow.now()
        if self.paused_since is None:
            return self._deadline() or now
        assert self.inp is not None
        paused = self.paused_total + self.worked(self.paused_since, now)
        sla = self.inp.timers.resolution_sla if self.responded else self.inp.timers.response_sla
        return self._clock_end(sla, paused)

    async def _missed(self, task: HumanTask) -> None:
        response = self._response_deadline()
        if response is not None and response <= workflow.now():
            self.response_missed = True
            self.response_sla_met = False
            await self._raise_level("response_sla_missed", "no first response in time")
            return
        self.resolution_missed = True
        self.resolution_sla_met = False
        await self._raise_level("resolution_sla_missed", "not resolved in time", at_least=2)
        await self.notify(f"status:{self.level}", "complaint_status", level=self.level,
                          complaint_no=self.case_id)

    async def _raise_level(self, cause: str, reason: str, *, actor: str = "system",
                           at_least: int = 0) -> None:
        """One step of the ladder: level up, the open task (if any) to ops and flagged, the ops
        mailbox told, the step in the timeline."""
        self.level = max(self.level + 1, at_least)
        self.escalations += 1
        self.data["level"] = self.level
        step = {"level": self.level, "cause": cause, "reason": reason, "actor": actor,
                "at": workflow.now().isoformat()}
        self.data["history"].append(step)
        task = self.task
        if task is not None and not task.done:
            task.role, task.escalated = role_for(self.level), True
            await self._sync_task(escalated=True)
        await self._save("escalated", f"level {self.level}: {reason}", actor=actor,
                         level=self.level, cause=cause, reason=reason)
        await self.notify(f"escalated:{self.escalations}", "complaint_escalated", to_customer=False,
                          level=self.level, cause=cause, reason=reason,
                          complaint_no=self.case_id, category=self.data["category"])

    async def _ask_satisfaction(self) -> bool:
        """After a resolution: True to reopen (not satisfied, or escalated by the customer)."""
        assert self.inp is not None
        self.feedback, self.feedback_token, self.customer_escalation = None, None, None
        window = timedelta(seconds=self.inp.timers.reopen_window)
        reminder = min(timedelta(seconds=self.inp.timers.feedback_reminder), window / 2)
        feedback = await self.collect_feedback(reminder, window, "complaint")
        if feedback is not None and self.customer_escalation is None:
            # The answer's own bookkeeping (the submit_feedback Update) comes first in the
            # timeline. (Not all_handlers_finished: customer_escalate waits for the reopen.)
            await workflow.wait_condition(
                lambda: (self.data.get("feedback") or {}).get("status") == "answered")
        if self.customer_escalation is not None:
            if self.feedback_token is not None:  # the form link no longer counts
                await self._act(Act.FEEDBACK_CLOSE, FeedbackAnswered(
                    self.feedback_token, {"escalated": True}, workflow.now()))
                self.feedback_token = None
            self.data["feedback"] = {"status": "escalated"}
            return True
        if feedback is None:
            await self._close("no answer to the satisfaction question: closed")
            return False
        if not_satisfied(feedback):
            return True
        await self._close(f"customer satisfied ({feedback['satisfaction']}/5): closed")
        return False

    async def _reopen(self) -> None:
        cause, reason, actor = reopen_cause(self.customer_escalation, self.feedback)
        self.reopened += 1
        self.resolved_at = None
        self.status = "open"
        await self._save("reopened", reason, actor=actor, status="open", stage="handling")
        await self._raise_level(cause, reason, actor=actor)
        await self.notify(f"reopened:{self.reopened}", "complaint_reopened",
                          complaint_no=self.case_id, level=self.level)

    async def _close(self, message: str) -> None:
        self.closed_at = workflow.now()
        await self._save("closed", message, status="closed", stage="closed", closed=True)

    # --- decisions -----------------------------------------------------------------------

    def validate_decision(self, task: HumanTask, inp: CompleteTaskInput) -> None:
        assert self.inp is not None
        check_decision(task.kind, inp.decision, inp.data, category=self.inp.category,
                       order_no=self.inp.order_no)

    async def apply_decision(self, task: HumanTask, inp: CompleteTaskInput) -> dict[str, Any]:
        now = workflow.now()
        if inp.decision == "respond":
            return await self._respond(inp, now)
        if inp.decision == "resolve":
            result: dict[str, Any] = {}
            spec = inp.data.get("start_return")
            if spec:
                assert self.inp is not None
                started: ReturnStarted = await self._act(Act.COMPLAINT_START_RETURN, ReturnStart(
                    key=f"{workflow.info().workflow_id}:return:{self.round}",
                    complaint_id=self.case_id, order_no=self.inp.order_no or "",
                    customer_id=self.inp.customer.id, items=spec["items"], kind=spec["kind"],
                    reason=f"complaint {self.case_id}: {self.inp.description}"[:500],
                    actor=inp.actor.name), result_type=ReturnStarted)
                if started.status == "refused":
                    # The returns process said no (outside the window, more than ordered …):
                    # the resolution is refused with its reason and the task stays open.
                    raise rejection(ErrorType.INVALID, started.code or "return_refused",
                                    f"the return cannot start: {started.message or ''}",
                                    order_no=self.inp.order_no)
                self.data["return"] = started.view()
                result["return"] = started.view()
            self._resume_clocks(now)
            self.resolved_at = now
            if self.resolution_sla_met is not False:
                self.resolution_sla_met = not self.resolution_missed
            if not self.responded:  # a resolution answers the customer too
                self._first_response(now)
            self.data["resolution"] = inp.data["resolution"]
            self.status, self.stage = "resolved", "satisfaction"
            await self.notify(f"resolved:{self.round}", "complaint_resolved",
                              complaint_no=self.case_id, resolution=inp.data["resolution"])
            await self._save_record()
            return result
        return {}

    def _add_message(self, sender: str, by: str, text: str, now: datetime) -> bool:
        """A message of the case: its text goes to the database with the next record
        (complaint-texts-in-db); older cases kept it in workflow state. True if in the DB."""
        entry = {"from": sender, "by": by, "text": text, "at": now.isoformat()}
        if not self.since("complaint-texts-in-db"):
            self.messages.append(entry)
            return False
        self.message_count += 1
        entry["key"] = f"m{len(self.messages) + self.message_count}"
        self._pending_appends.setdefault("messages", []).append(entry)
        self.recent = [*self.recent, entry][-self.RECENT:]
        return True

    async def _respond(self, inp: CompleteTaskInput, now: datetime) -> dict[str, Any]:
        self._add_message("staff", inp.actor.name, inp.data["message"], now)
        await self.notify(f"response:{len(self.messages) + self.message_count}",
                          "complaint_response",
                          complaint_no=self.case_id, message=inp.data["message"])
        first = not self.responded
        if first:
            self._first_response(now)
        waiting = bool(inp.data.get("await_reply", True))
        if waiting and self.paused_since is None:
            self.paused_since = now
            self.status = "waiting_customer"
            await self._save("waiting_customer", "clocks paused until the customer replies",
                             status="waiting_customer")
        self._wake += 1
        await self._sync_task(escalated=bool(self.task and self.task.escalated))
        return {"first_response": first, "waiting_customer": self.paused_since is not None}

    def _first_response(self, now: datetime) -> None:
        deadline = self._response_deadline()
        self.responded = True
        if self.first_response_at is None:
            self.first_response_at = now
        if self.response_sla_met is not False:
            self.response_sla_met = deadline is not None and now <= deadline

    def _resume_clocks(self, now: datetime) -> bool:
        if self.paused_since is None:
            return False
        self.paused_total += self.worked(self.paused_since, now)
        self.paused_since = None
        self._wake += 1
        return True

    # --- the customer's side ---------------------------------------------------------------

    @workflow.update
    async def customer_message(self, msg: CustomerMessage) -> dict[str, Any]:
        now = workflow.now()
        in_db = self._add_message("customer", msg.actor, msg.text, now)
        resumed = self._resume_clocks(now)
        if resumed:
            self.status = "open"
        # The timeline line shows the start; the whole text is the case's message.
        await self._save("customer_message", timeline_line(msg.text, in_db), actor=msg.actor,
                         clocks="resumed" if resumed else "unchanged")
        if resumed and self.task is not None and not self.task.done:
            await self._sync_task(escalated=self.task.escalated)
        return {"id": self.case_id, "status": self.status, "clocks_resumed": resumed}

    @customer_message.validator
    def _validate_message(self, msg: CustomerMessage) -> None:
        if self.status == "closed":
            raise rejection(ErrorType.CONFLICT, "complaint_closed", "this complaint is closed")
        if not msg.text.strip():
            raise rejection(ErrorType.INVALID, "empty_text", "text must not be empty")

    @workflow.update
    async def customer_escalate(self, esc: CustomerEscalation) -> dict[str, Any]:
        if self.stage == "handling" and self.since("complaint-escalate-after-sla"):
            # Seed 003 case 6: no answer in time, the customer escalates through the platform.
            self.customer_escalated_round = self.round
            await self._raise_level("customer", esc.reason, actor=esc.actor)
            return {"id": self.case_id, "status": self.status, "level": self.level}
        self.customer_escalation = {"reason": esc.reason, "actor": esc.actor,
                                    "at": workflow.now().isoformat()}
        if self.feedback is None:
            # Ends the wait for the satisfaction answer: the escalation is the answer.
            self.feedback = {"escalated": True}
        round_ = self.round
        await workflow.wait_condition(lambda: self.round > round_ or self.status == "closed")
        return {"id": self.case_id, "status": self.status, "level": self.level}

    @customer_escalate.validator
    def _validate_escalate(self, esc: CustomerEscalation) -> None:
        if self.status == "closed":
            raise rejection(ErrorType.CONFLICT, "complaint_closed", "this complaint is closed")
        if not esc.reason.strip():
            raise rejection(ErrorType.INVALID, "empty_reason", "reason must not be empty")
        if self.stage in ("new", "handling"):
            # "new": the escalation came with the complaint's first activation, before run()
            # began its first round: within its first-response time by definition.
            self._may_escalate_while_handling()
        elif self.customer_escalation is not None or self.feedback is not None:
            raise rejection(ErrorType.CONFLICT, "not_resolved",
                            "the complaint is being handled again", status=self.status)

    def _may_escalate_while_handling(self) -> None:
        passes = self._response_sla_passes_at()
        if passes is None or workflow.now() < passes:
            since = f" from {passes.isoformat()}" if passes else ""
            raise rejection(ErrorType.CONFLICT, "response_sla_not_passed",
                            "the complaint is within its first-response time; the customer may "
                            f"escalate it once that has passed{since}",
                            escalate_from=passes.isoformat() if passes else None)
        if self.customer_escalated_round == self.round:
            raise rejection(ErrorType.CONFLICT, "already_escalated",
                            f"the customer escalated this complaint already (level {self.level})",
                            level=self.level)

    def _response_sla_passes_at(self) -> datetime | None:
        """When this round's first-response time ends, answered or not (paused time added;
        while the case waits on the customer it moves on with the clock). None before the
        first round starts."""
        if self.inp is None or self.round == 0:
            return None
        paused = self.paused_total
        if self.paused_since is not None:
            paused += self.worked(self.paused_since, workflow.now())
        return self._clock_end(self.inp.timers.response_sla, paused)

    # --- read-models -----------------------------------------------------------------------

    async def notify(self, step: str, kind: str, to_customer: bool = True, **data: Any) -> None:
        # Steps repeat in a reopened round (the feedback request …): keep each round's notices.
        if self.round > 1 and ":" not in step:
            step = f"{step}#{self.round}"
        data.setdefault("complaint_no", self.case_id)
        await super().notify(step, kind, to_customer, **data)

    async def record(self, event: str | None = None, message: str = "", **kwargs: Any) -> None:
        if self.inp is not None:
            self._sla_view()
        await super().record(event, message, **kwargs)

    async def _save(self, event: str | None, message: str = "", **kwargs: Any) -> None:
        # The complaints row first: whoever sees the case change finds the row changed too.
        if "status" in kwargs:
            self.status = kwargs["status"]
        await self._save_record()
        await self.record(event, message, **kwargs)

    async def _save_record(self) -> None:
        assert self.inp is not None
        self._sla_view()
        self._snapshots += 1
        await self._act(Act.COMPLAINT_RECORD, ComplaintSnapshot(
            id=self.case_id, workflow_id=workflow.info().workflow_id,
            customer_id=self.inp.customer.id, order_no=self.inp.order_no,
            category=self.inp.category, channel=self.inp.channel,
            description=self.inp.description, status=self.status, level=self.level,
            escalations=self.escalations, reopened=self.reopened,
            response_due_at=self._response_deadline(),
            resolution_due_at=self._resolution_deadline(),
            first_response_at=self.first_response_at, response_sla_met=self.response_sla_met,
            resolved_at=self.resolved_at, resolution_sla_met=self.resolution_sla_met,
            resolution=self.data.get("resolution"),
            satisfaction=(self.feedback or {}).get("satisfaction"),
            closed_at=self.closed_at, version=self._snapshots, at=workflow.now(),
        ))

    def _sla_view(self) -> None:
        passes = self._response_sla_passes_at()
        self.data["sla"] = sla_view(
            response_due=self._response_deadline(), resolution_due=self._resolution_deadline(),
            paused=self.paused_since is not None, paused_total=self.paused_total,
            first_response_at=self.first_response_at, response_sla_met=self.response_sla_met,
            resolution_sla_met=self.resolution_sla_met, resolved_at=self.resolved_at,
            customer_may_escalate_from=passes if self.stage == "handling" else None)

    async def _sync_task(self, escalated: bool) -> None:
        task = self.task
        if task is None or task.done:
            return
        await self._act(Act.COMPLAINT_TASK_SYNC, TaskSync(
            task.id, task.role, escalated, self.level, self._deadline()))

