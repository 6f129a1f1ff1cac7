"""What every case workflow shares: the case read-model, notices, human tasks with due times and
escalation, and cancellation. Deterministic, no I/O: everything outside goes through activities.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

from shopflow.workflows import business_time
from shopflow.workflows.business_time import TaskClock, clock_from
from shopflow.workflows.shared import (
    Act,
    ArchiveRequest,
    AssignTaskInput,
    CancelInput,
    CaseRecord,
    CaseTasksCancel,
    CompleteTaskInput,
    ErrorType,
    NoticeRequest,
    OrderReserve,
    ReserveResult,
    StockArrived,
    StockLevels,
    StockLine,
    StockQuery,
    TaskClose,
    TaskCreate,
    TaskEscalate,
    TaskOutcome,
    TimelineEntry,
)
from shopflow.workflows.vocab import CASE_END_STATUSES

SA_KIND = SearchAttributeKey.for_keyword("ShopflowKind")
SA_STAGE = SearchAttributeKey.for_keyword("ShopflowStage")
SA_CUSTOMER = SearchAttributeKey.for_keyword("ShopflowCustomerId")

ESCALATION_ROLE = "ops"

# Database activities retry until the database answers again; business rejections are
# non-retryable ApplicationErrors and fail at once.
DB_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
# A notice is retried for about 7 minutes (waits 2, 4, 8, 16, 32 s, then every minute; 12
# attempts) before it is failed and ops are told: a mail server down for a few minutes loses
# nothing, and one back within a minute is tried again within a minute (issue 14's drill holds
# SMTP down for a minute). 6 attempts before: their waits added up to 62 s.
NOTICE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1), maximum_attempts=12
)
ACTIVITY_TIMEOUT = timedelta(seconds=30)
# One attempt to send a notice (SHOPFLOW_NOTICE_SEND_TIMEOUT, copied into a case's timers when it
# starts); this default for cases started before the setting existed.
NOTICE_SEND_TIMEOUT = timedelta(seconds=60)
# Cases started since this patch (of the processes with LOCAL set) write their steps with local
# activities: a marker per write, the writes of a step in one workflow task, instead of three
# activity events and a workflow task each (issue 15.2). Such a case started on code that had
# every older patch, so it implies them (CaseWorkflow.since).
LOCAL_WRITES = "local-writes"
# A local activity's retry that waits longer than this waits on a timer: the workflow task ends
# meanwhile, so Updates and queries are answered while the database or SMTP is away.
LOCAL_RETRY_WAIT = timedelta(seconds=1)
# Cases that reach a task since this patch tell its people (issue 17.4): a notice when the task
# opens (at once or in their digest, as each person chose), and a warning at WARNING_SHARE of
# its due time (one timer, one notice) before it escalates.
STAFF_NOTICES = "staff-notices"
WARNING_SHARE = 0.75

R = TypeVar("R")


def rejection(error_type: str, code: str, message: str, **details: Any) -> ApplicationError:
    """A business rejection the API answers with 4xx (see api/errors.py)."""
    return ApplicationError(
        message, {"code": code, "details": details or None}, type=error_type, non_retryable=True
    )


def require_decision(kind: str, decision: str, allowed: Iterable[str]) -> None:
    """A task's decision must be one its kind takes (422 invalid_decision otherwise)."""
    options = sorted(allowed)
    if decision not in options:
        raise rejection(ErrorType.INVALID, "invalid_decision",
                        f"{kind} takes one of: {', '.join(options)}", allowed=options)


def require_text(data: dict[str, Any], key: str) -> None:
    """A decision's field that must hold some text (422 missing_field otherwise)."""
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise rejection(ErrorType.INVALID, "missing_field", f"{key} is required", field=key)


def as_duration(value: float | timedelta) -> timedelta:
    """A timer as a duration: inputs written before timers were durations carry seconds."""
    return value if isinstance(value, timedelta) else timedelta(seconds=value)


@contextmanager
def business_rejections() -> Iterator[None]:
    """Around activities run for an Update: a business rejection (say, stock gone since the task
    opened, a tracking number in use) fails the Update with its own type, so the API answers
    409/422; other failures stay activity failures."""
    try:
        yield
    except ActivityError as err:
        if isinstance(err.cause, ApplicationError):
            raise err.cause from None
        raise


class CaseCancelled(Exception):
    """Raised inside a workflow when a cancel request interrupts a wait."""


@dataclass
class HumanTask:
    id: str
    kind: str
    role: str
    context: dict[str, Any]
    escalated: bool = False
    applying: bool = False
    done: bool = False
    decision: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    comment: str = ""
    actor: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    due_at: datetime | None = None
    # Non-final decisions taken so far (see CaseWorkflow.NON_FINAL_DECISIONS).
    progress: list[dict[str, Any]] = field(default_factory=list)
    # Opened after the case was cancelled (finishing its compensation): a decision is taken
    # although a cancel request stands.
    after_cancel: bool = False
    warned: bool = False  # the due-soon warning went out (or was passed by)


class CaseWorkflow:
    """Base of every case workflow. Subclasses set KIND and implement the run method, the
    decision validator and, where a decision must do work before it is accepted, _apply."""

    KIND: ClassVar[str]
    CANCELLABLE_STAGES: ClassVar[frozenset[str]] = frozenset()
    # Decisions that do their work (apply_decision) but leave the task open, per task kind:
    # a complaint's "respond" answers the customer and the case goes on.
    NON_FINAL_DECISIONS: ClassVar[dict[str, frozenset[str]]] = {}
    # Keys of ``data`` whose lists the database keeps (record(append=...)); the workflow holds
    # no copy, so they are never diffed.
    DB_LISTS: ClassVar[frozenset[str]] = frozenset()
    # Whether new cases write with local activities (LOCAL_WRITES); the activities that call a
    # provider stay ordinary ones (the server retries them; they never hold a workflow task).
    LOCAL: ClassVar[bool] = False
    REMOTE: ClassVar[frozenset[str]] = frozenset({Act.SHIPMENT_REGISTER})

    def __init__(self) -> None:
        self.case_id = ""
        self.customer_id: str | None = None
        self.status = "open"
        self.stage = "new"
        self.data: dict[str, Any] = {}
        self.tasks: dict[str, HumanTask] = {}
        self.task_due = timedelta(hours=24)
        # Business hours and per-kind due times (issue 17.5; None in older cases' inputs).
        self.clock: TaskClock | None = None
        self.notice_timeout = NOTICE_SEND_TIMEOUT
        self.cancel_request: dict[str, Any] | None = None
        self.recorded_status = ""  # the status the read-model last confirmed
        self._seq = 0
        self._version = 0
        self._pending_events: list[TimelineEntry] = []
        self._task_counter = 0
        # What the read-model holds (the last acknowledged record), for sending only changes.
        self._acked: dict[str, Any] = {}
        self._acked_version = 0
        self._pending_appends: dict[str, list[dict[str, Any]]] = {}
        self._local: bool | None = None

    # --- read-model ----------------------------------------------------------------------

    async def record(
        self,
        event: str | None = None,
        message: str = "",
        *,
        actor: str = "system",
        status: str | None = None,
        stage: str | None = None,
        closed: bool = False,
        append: dict[str, list[dict[str, Any]]] | None = None,
        **event_data: Any,
    ) -> None:
        """Write what changed in the case (and a timeline event) to the read-model. ``append``
        adds items to lists the database keeps (DB_LISTS), never held in workflow state."""
        if stage is not None and stage != self.stage:
            self.stage = stage
            workflow.upsert_search_attributes([SA_STAGE.value_set(stage)])
        if status is not None:
            self.status = status
        now = workflow.now()
        if event:
            self._seq += 1
            self._pending_events.append(
                TimelineEntry(self._seq, now, event, message, actor, _plain(event_data))
            )
        self._version += 1
        version = self._version
        events, self._pending_events = self._pending_events, []
        plain = _plain(self.data)
        appends, self._pending_appends = self._pending_appends, {}
        for name, items in (append or {}).items():
            appends[name] = [*appends.get(name, []), *items]
        delta = self.since("record-delta")
        if delta:
            # Only what changed since the read-model's last acknowledged state: a case's
            # history grows by its changes, not by its size on every step.
            acked = self._acked
            data = {k: v for k, v in plain.items()
                    if k not in acked or (acked[k] != v and k not in self.DB_LISTS)}
        else:
            data = plain
        await self._act(
            Act.CASE_RECORD,
            CaseRecord(
                case_id=self.case_id,
                kind=self.KIND,
                workflow_id=workflow.info().workflow_id,
                status=self.status,
                stage=self.stage,
                customer_id=self.customer_id,
                data=data,
                version=version,
                at=now,
                events=events,
                closed=closed,
                partial=delta,
                appends=_plain(appends),
            ),
        )
        if delta and version > self._acked_version:
            self._acked, self._acked_version = plain, version
        self.recorded_status = self.status

    def start_case(self, case_id: str, customer_id: str | None,
                   task_due: float | timedelta,
                   notice_send: float | timedelta | None = None,
                   clock: TaskClock | None = None) -> None:
        """Timers are durations (or seconds, in the inputs of older cases)."""
        self.case_id = case_id
        self.customer_id = customer_id
        self.task_due = as_duration(task_due)
        self.clock = clock
        if notice_send:
            self.notice_timeout = as_duration(notice_send)
        attrs = [SA_KIND.value_set(self.KIND), SA_STAGE.value_set(self.stage)]
        if customer_id:
            attrs.append(SA_CUSTOMER.value_set(customer_id))
        workflow.upsert_search_attributes(attrs)

    async def archive(self) -> None:
        await self._act(Act.CASE_ARCHIVE, ArchiveRequest(self.case_id, self.KIND, workflow.now()))

    # --- notices -------------------------------------------------------------------------

    async def notify(self, step: str, kind: str, to_customer: bool = True, *,
                     audience: str = "", **data: Any) -> None:
        """Send a notice once per workflow step. A notice that cannot be sent never blocks the
        case: the outbox keeps it as failed for ops to resend. ``audience="task"``: to the
        people of the task ``data["task_id"]`` (NoticeRequest.audience)."""
        request = NoticeRequest(
            dedup_key=f"{workflow.info().workflow_id}:{step}",
            kind=kind,
            case_id=self.case_id,
            data=_plain({"case_id": self.case_id, **data}),
            customer_id=self.customer_id if to_customer else None,
            audience=audience,
        )
        try:
            await self.activity(Act.NOTICE_SEND, request, timeout=self.notice_timeout,
                                retry=NOTICE_RETRY)
        except ActivityError as err:
            workflow.logger.warning("notice %s not sent: %s", request.dedup_key, err.cause)
            if self.since("notice-give-up"):
                # A last attempt that timed out (its worker killed, SMTP hung) could not mark
                # the notice failed nor tell ops: this does, idempotently.
                await self._act("notices.give_up", request)
            await self.record("notice_failed", f"{kind} could not be sent", step=step)

    # --- human tasks ---------------------------------------------------------------------

    async def human_task(self, kind: str, role: str, context: dict[str, Any], *,
                         after_cancel: bool = False, due: timedelta | None = None) -> HumanTask:
        """Open a task in the inbox and wait for its decision. When the due time passes the task
        escalates to ops (flagged, notice, timeline) and keeps waiting. Raises CaseCancelled if
        the case is cancelled meanwhile, unless ``after_cancel`` (a task that finishes what a
        cancellation left, opened once the case is cancelled). The due time: ``due``, else the
        kind's own (``SHOPFLOW_TASK_DUE_<KIND>``), else the case's, in business time. Since
        STAFF_NOTICES its people are warned at WARNING_SHARE of it."""
        length = due if due is not None else self.due_of(kind)
        opened = workflow.now()
        task = await self.open_task(kind, role, context, self.deadline(length, opened))
        task.after_cancel = after_cancel
        due_at = task.due_at
        assert due_at is not None
        warn_at = (self.deadline(business_time.fraction(length, WARNING_SHARE), opened)
                   if self.staff_notices() else None)

        def cancelled() -> bool:
            return not task.after_cancel and self.cancel_request is not None

        while not task.done:
            warning = warn_at is not None and not task.warned and not task.escalated
            until = warn_at if warning and warn_at is not None else due_at
            timeout = None if task.escalated else max(until - workflow.now(), timedelta(0))
            try:
                await workflow.wait_condition(lambda: task.done or cancelled(), timeout=timeout)
            except TimeoutError:
                if warning:
                    task.warned = True
                    await self.notify(
                        f"due-soon:{task.id}", "task_due_soon", to_customer=False,
                        audience="task", task_id=task.id, task_kind=task.kind,
                        due_at=due_at.isoformat())
                    continue
                await self._escalate(task)
                continue
            if not task.done and cancelled():
                raise CaseCancelled()
        return task

    async def open_task(self, kind: str, role: str, context: dict[str, Any],
                        due_at: datetime) -> HumanTask:
        """Create the inbox row and return at once; the caller waits for ``task.done`` (for
        processes with their own clocks; most use human_task)."""
        self._task_counter += 1
        task = HumanTask(
            id=f"{workflow.info().workflow_id}:{self._task_counter}:{kind}",
            kind=kind,
            role=role,
            context=_plain(context),
            due_at=due_at,
        )
        self.tasks[task.id] = task
        await self._act(
            Act.TASK_CREATE,
            TaskCreate(
                task_id=task.id,
                kind=kind,
                role=role,
                case_id=self.case_id,
                case_kind=self.KIND,
                workflow_id=workflow.info().workflow_id,
                due_at=due_at,
                context=task.context,
                created_at=workflow.now(),
            ),
        )
        await self.record("task_opened", f"{kind} for {role}", task_id=task.id, kind=kind, role=role)
        if self.staff_notices():
            # Its person, or its role's people, hear of it (at once or in their digest).
            await self.notify(f"task-new:{task.id}", "task_new", to_customer=False,
                              audience="task", task_id=task.id, task_kind=kind, role=role,
                              due_at=due_at.isoformat())
        return task

    def staff_notices(self) -> bool:
        """Whether this case tells people of their tasks (STAFF_NOTICES)."""
        return workflow.patched(STAFF_NOTICES)

    def due_of(self, kind: str) -> timedelta:
        """A task kind's due time: its own setting, else the case's."""
        if self.clock is not None and kind in self.clock.dues:
            return as_duration(self.clock.dues[kind])
        return self.task_due

    def deadline(self, length: timedelta, start: datetime | None = None) -> datetime:
        """``length`` of business time after ``start`` (default now): plain addition for
        cases without business hours."""
        at = workflow.now() if start is None else start
        return business_time.add(at, length, self.clock.calendar if self.clock else None)

    def worked(self, start: datetime, end: datetime) -> timedelta:
        """Business time from ``start`` to ``end`` (wall time without business hours)."""
        return business_time.between(start, end, self.clock.calendar if self.clock else None)

    async def _escalate(self, task: HumanTask) -> None:
        task.escalated = True
        if self.since("escalation-adds-role"):
            # Escalation adds ops; the task's own role and assignee keep it.
            message = f"{task.kind} overdue, opened to {ESCALATION_ROLE} as well"
        else:
            task.role = ESCALATION_ROLE
            message = f"{task.kind} overdue, reassigned to ops"
        await self._act(Act.TASK_ESCALATE, TaskEscalate(task.id, ESCALATION_ROLE, workflow.now()))
        await self.record("task_escalated", message, task_id=task.id, role=ESCALATION_ROLE)
        await self.notify(
            f"escalated:{task.id}", "task_escalated", to_customer=False, task_kind=task.kind,
            task_id=task.id,
        )

    @workflow.update
    async def complete_task(self, inp: CompleteTaskInput) -> TaskOutcome:
        task = self.tasks[inp.task_id]
        task.applying = True
        # One decision per task: once accepted, the task takes no other until it is done (or
        # refused). Older cases cleared the flag before the close activity, which let a second
        # decision in meanwhile.
        hold = self.since("one-decision-per-task")
        try:
            with business_rejections():  # refused: the task stays open
                task.result = await self.apply_decision(task, inp)
        except BaseException:
            task.applying = False
            raise
        if not hold:
            task.applying = False
        if inp.decision in self.NON_FINAL_DECISIONS.get(task.kind, ()):
            # Done its work, and the task stays open for the next decision.
            task.progress.append({"decision": inp.decision, "data": _plain(inp.data),
                                  "comment": inp.comment, "actor": inp.actor.name,
                                  "at": workflow.now().isoformat()})
            try:
                return await self._decided("task_progress", task, inp)
            finally:
                task.applying = False
        task.decision, task.data, task.comment = inp.decision, dict(inp.data), inp.comment
        task.actor = inp.actor.name
        decision = {"decision": inp.decision, "data": _plain(inp.data), "comment": inp.comment}
        await self._act(
            Act.TASK_CLOSE, TaskClose(task.id, "done", workflow.now(), decision, inp.actor.name)
        )
        task.done = True
        task.applying = False
        return await self._decided("task_completed", task, inp)

    async def _decided(self, event: str, task: HumanTask, inp: CompleteTaskInput) -> TaskOutcome:
        """Put a decision on the timeline and answer the Update with the case's state."""
        await self.record(event, f"{task.kind}: {inp.decision}", actor=inp.actor.name,
                          task_id=task.id, decision=inp.decision, data=inp.data,
                          comment=inp.comment)
        return TaskOutcome(
            task.id, task.kind, inp.decision, self.case_id, self.status, self.stage, task.result
        )

    @workflow.update
    async def assign_task(self, inp: AssignTaskInput) -> str:
        """Ops, admin or a role lead hands an open task to a person: on the case's timeline;
        since STAFF_NOTICES the person is told (as their preferences say)."""
        task = self.tasks[inp.task_id]
        await self.record("task_assigned", f"{task.kind} assigned to {inp.to}",
                          actor=inp.actor.name, task_id=task.id, to=inp.to)
        if inp.to != inp.actor.name and self.staff_notices():
            # The person it was handed to hears of it (at once or in their digest).
            await self.notify(f"task-assigned:{task.id}:{self._seq}", "task_assigned",
                              to_customer=False, audience="task", task_id=task.id,
                              task_kind=task.kind, to=inp.to, by=inp.actor.name,
                              due_at=task.due_at.isoformat() if task.due_at else "")
        return task.id

    @assign_task.validator
    def _validate_assign_task(self, inp: AssignTaskInput) -> None:
        task = self.tasks.get(inp.task_id)
        if task is None:
            raise rejection(ErrorType.NOT_FOUND, "task_not_found", "no such task in this case")
        if task.done or task.applying:
            raise rejection(ErrorType.CONFLICT, "task_not_open", "the task is already decided")

    @complete_task.validator
    def _validate_complete_task(self, inp: CompleteTaskInput) -> None:
        task = self.tasks.get(inp.task_id)
        if task is None:
            raise rejection(ErrorType.NOT_FOUND, "task_not_found", "no such task in this case")
        if task.done or task.applying:
            raise rejection(ErrorType.CONFLICT, "task_not_open", "the task is already completed")
        if self.cancel_request is not None and not task.after_cancel:
            raise rejection(ErrorType.CONFLICT, "case_cancelled", "the case is being cancelled")
        self.validate_decision(task, inp)

    def validate_decision(self, task: HumanTask, inp: CompleteTaskInput) -> None:
        raise NotImplementedError

    async def apply_decision(self, task: HumanTask, inp: CompleteTaskInput) -> dict[str, Any]:
        """Work that must succeed before a decision is accepted; raise to refuse it."""
        return {}

    async def cancel_open_tasks(self) -> None:
        for task in self.tasks.values():
            task.done = True
        await self._act(
            Act.TASK_CANCEL_OPEN, CaseTasksCancel(workflow.info().workflow_id, workflow.now())
        )

    # --- cancellation --------------------------------------------------------------------

    @workflow.update
    async def request_cancel(self, inp: CancelInput) -> str:
        self.cancel_request = {"reason": inp.reason, "actor": inp.actor.name}
        # Answer once the compensation (stock released, tasks closed, notice) has run.
        await workflow.wait_condition(lambda: self.recorded_status == "cancelled")
        return self.case_id

    @request_cancel.validator
    def _validate_cancel(self, inp: CancelInput) -> None:
        if self.cancel_request is not None:
            raise rejection(ErrorType.CONFLICT, "already_cancelling", "the case is being cancelled")
        if not self.cancellable():
            raise rejection(
                ErrorType.CONFLICT,
                "invalid_state",
                f"a {self.KIND} cannot be cancelled at stage {self.stage} ({self.status})",
                stage=self.stage,
                status=self.status,
            )

    def cancellable(self) -> bool:
        return self.stage in self.CANCELLABLE_STAGES and self.status not in CASE_END_STATUSES

    # --- continue-as-new -------------------------------------------------------------------

    CARRIED: ClassVar[tuple[str, ...]] = (
        "case_id", "customer_id", "status", "stage", "data", "tasks", "task_due",
        "notice_timeout", "recorded_status", "_seq", "_version", "_task_counter", "_acked",
        "_acked_version", "_local", "clock",
    )

    def carry(self, *extra: str) -> dict[str, Any]:
        """The case's state for the next run of a continued-as-new workflow (plain JSON)."""
        return {name: _encode(_plain(value) if name == "clock" else value)
                for name in (*self.CARRIED, *extra) for value in [getattr(self, name)]}

    def restore(self, carried: dict[str, Any]) -> None:
        for name, value in carried.items():
            decoded = _decode(value)
            setattr(self, name, clock_from(decoded) if name == "clock" else decoded)

    def history_too_long(self, limit: int) -> bool:
        return history_too_long(limit)

    # --- helpers -------------------------------------------------------------------------

    async def _act(self, name: str, arg: Any, result_type: type[R] | None = None) -> R:
        return await self.activity(name, arg, result_type=result_type)

    async def activity(self, name: str, arg: Any, result_type: type[R] | None = None, *,
                       timeout: timedelta = ACTIVITY_TIMEOUT,
                       retry: RetryPolicy = DB_RETRY) -> R:
        """Run an activity: a local one in cases that write locally (but REMOTE ones)."""
        if self.local_writes() and name not in self.REMOTE:
            try:
                return await workflow.execute_local_activity(  # type: ignore[no-any-return]
                    name, arg, start_to_close_timeout=timeout, retry_policy=retry,
                    local_retry_threshold=LOCAL_RETRY_WAIT, result_type=result_type)
            except ActivityError:
                raise
            except FailureError as err:
                # A local activity's failure arrives bare (a business rejection as the
                # ApplicationError itself): wrapped as an activity's, so callers catch one shape.
                raise ActivityError(str(err), scheduled_event_id=0, started_event_id=0,
                                    identity="", activity_type=name, activity_id="",
                                    retry_state=None) from err
        return await workflow.execute_activity(  # type: ignore[no-any-return]
            name, arg, start_to_close_timeout=timeout, retry_policy=retry,
            result_type=result_type)

    def local_writes(self) -> bool:
        """Whether this case writes with local activities: decided at its first write (in its
        first workflow task), so a case keeps the shape it started with."""
        if self._local is None:
            self._local = self.LOCAL and workflow.patched(LOCAL_WRITES)
        return self._local

    def since(self, patch: str) -> bool:
        """``workflow.patched(patch)``, for an older patch: a case that writes locally started
        on code that had it, so it takes the patched path without a marker of its own."""
        return self.local_writes() or workflow.patched(patch)

    async def finish(self) -> None:
        """Let running Update handlers answer before the workflow completes."""
        await workflow.wait_condition(workflow.all_handlers_finished)



def history_too_long(limit: int) -> bool:
    """Above ``limit`` events (or when the server suggests it) a looping process continues as
    new; 0 (inputs of older runs) never."""
    info = workflow.info()
    return limit > 0 and (info.get_current_history_length() >= limit
                          or info.is_continue_as_new_suggested())


def _encode(value: Any) -> Any:
    """Workflow state to plain JSON that _decode turns back (datetimes, durations, tasks)."""
    if isinstance(value, HumanTask):
        return {"$task": {f.name: _encode(getattr(value, f.name)) for f in fields(value)}}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$td": value.total_seconds()}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1:
            (key, inner), = value.items()
            if key == "$task":
                return HumanTask(**{k: _decode(v) for k, v in inner.items()})
            if key == "$dt":
                return datetime.fromisoformat(inner)
            if key == "$td":
                return timedelta(seconds=inner)
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


class CaseLock:
    """A lock for a workflow's own coroutines (an Update handler and the main run), in the
    shape of ``asyncio.Lock``: ``async with lock:`` waits while another holder runs,
    ``lock.locked()`` for conditions and validators. Taking a free lock does not yield."""

    def __init__(self) -> None:
        self._held = False

    def locked(self) -> bool:
        return self._held

    async def __aenter__(self) -> None:
        if self._held:
            await workflow.wait_condition(lambda: not self._held)
        self._held = True

    async def __aexit__(self, *_: object) -> None:
        self._held = False


class CommerceCase(CaseWorkflow):
    """What orders and returns share: a business row (the order, the return) kept in step with
    the case read-model, and lines that may wait for stock (a backorder) until a receipt's
    wake-up sends ``stock_arrived``."""

    # The activity that writes the business row, and the key naming the case in answers.
    ROW_UPDATE: ClassVar[str]
    CASE_KEY: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()
        self.short: dict[str, int] = {}  # SKU -> quantity still to reserve
        self.stock_lock = CaseLock()  # one reservation at a time
        self._row_version = 0

    # --- the business row ----------------------------------------------------------------

    def row_update(self, version: int, status: str | None, stage: str | None,
                   times: dict[str, datetime], row: dict[str, Any]) -> Any:
        """The ROW_UPDATE activity's input."""
        raise NotImplementedError

    async def update_row(self, *, status: str | None = None, stage: str | None = None,
                         times: dict[str, datetime] | None = None, **row: Any) -> None:
        self._row_version += 1
        for name, value in (times or {}).items():
            self.data["kpi"].setdefault(name, value.isoformat())
        await self._act(self.ROW_UPDATE,
                        self.row_update(self._row_version, status, stage, times or {}, row))

    async def _transition(self, status: str | None, stage: str | None, event: str, message: str,
                          *, actor: str = "system", times: dict[str, datetime] | None = None,
                          closed: bool = False, row: dict[str, Any] | None = None,
                          **data: Any) -> None:
        """The business row (status, KPI times, ``row`` fields) and the read-model, in step."""
        await self.update_row(status=status, stage=stage, times=times, **(row or {}))
        await self.record(event, message, actor=actor, status=status, stage=stage,
                          closed=closed, **data)

    # --- stock waits ---------------------------------------------------------------------

    async def stock_available(self, skus: list[str]) -> dict[str, int]:
        """Stock available now by SKU, shown in a person's task."""
        if workflow.patched("typed-stock-context"):
            levels = await self._act(Act.STOCK_AVAILABLE, StockQuery(skus), StockLevels)
            return levels.available
        # Cases recorded before: a list of SKUs in, a bare dict out.
        return await self._act(Act.ORDER_STOCK_CONTEXT, skus, dict)

    def stock_closed(self) -> bool:
        """True once the case takes no more stock (its waits are being closed)."""
        return False

    async def take_stock(self) -> None:
        """Try the short lines again (after a receipt): the case's own bookkeeping around
        reserve_short."""
        raise NotImplementedError

    async def reserve_short(self, round_no: int) -> list[str]:
        """Reserve what is there of the short lines (the rest keeps waiting); the SKUs got."""
        await workflow.wait_condition(lambda: not self.stock_lock.locked())
        async with self.stock_lock:
            if not self.short:
                return []
            result = await self._act(Act.ORDER_RESERVE, OrderReserve(
                workflow.info().workflow_id, self.KIND, self.case_id, round_no,
                [StockLine(sku, q) for sku, q in sorted(self.short.items())]), ReserveResult)
        got = list(result.reserved)
        for sku in got:
            self.short.pop(sku, None)
        return got

    @workflow.update
    async def stock_arrived(self, inp: StockArrived) -> dict[str, Any]:
        """A receipt of a SKU this case waits for: try again now (the wake-up asks the
        waiting cases one after the other, oldest first)."""
        if inp.sku in self.short:
            await self.take_stock()
        return {self.CASE_KEY: self.case_id, "sku": inp.sku,
                "reserved": inp.sku not in self.short, "waiting": sorted(self.short)}

    @stock_arrived.validator
    def _validate_stock_arrived(self, inp: StockArrived) -> None:
        if self.stock_closed() or inp.sku not in self.short:
            raise rejection(ErrorType.CONFLICT, "not_waiting",
                            f"{self.KIND} {self.case_id} is not waiting for {inp.sku}")


def _plain(value: Any) -> Any:
    """Dataclasses to dicts so snapshots are plain JSON."""
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
