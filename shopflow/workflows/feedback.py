"""Asking a customer for feedback through a one-time form link, with a reminder and a close.

A mixin for case workflows (samples now, follow-ups and complaints later): the API sends the
customer's answer as the ``submit_feedback`` Update.
"""

from __future__ import annotations

import hashlib
from contextlib import suppress
from datetime import timedelta
from typing import Any

from temporalio import workflow

from shopflow.workflows.base import CaseWorkflow, rejection
from shopflow.workflows.shared import (
    Act,
    ErrorType,
    FeedbackAnswered,
    FeedbackInput,
    FeedbackOpen,
)


def _sha256(text: str) -> str:
    """Cases from before feedback-link-hashed hold the link in clear; the API sends its hash."""
    return hashlib.sha256(text.encode()).hexdigest()


class FeedbackMixin(CaseWorkflow):
    feedback_token: str | None = None
    feedback: dict[str, Any] | None = None

    async def collect_feedback(
        self, reminder_after: timedelta, close_after: timedelta, notice_prefix: str,
        keep_open: bool = False,
    ) -> dict[str, Any] | None:
        """Send the form link, remind once, give up at close_after. None means no response.
        ``keep_open``: the form stays open past the close (someone calls the customer); the
        caller ends it with ``close_feedback_form``."""
        if self.since("feedback-link-hashed"):
            return await self._collect_feedback_hashed(reminder_after, close_after, notice_prefix,
                                                       keep_open)
        token = workflow.uuid4().hex
        await self._act(
            Act.FEEDBACK_OPEN,
            FeedbackOpen(token, self.case_id, workflow.info().workflow_id, self.KIND),
        )
        self.feedback_token = token
        self.data["feedback"] = {"status": "requested", "token": token}
        await self.record("feedback_requested", "feedback form sent to the customer")
        await self.notify("feedback_request", f"{notice_prefix}_feedback_request", token=token)
        try:
            await workflow.wait_condition(lambda: self.feedback is not None, timeout=reminder_after)
        except TimeoutError:
            await self.notify("feedback_reminder", f"{notice_prefix}_feedback_reminder", token=token)
            await self.record("feedback_reminded", "feedback reminder sent")
            with suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self.feedback is not None,
                    timeout=max(close_after - reminder_after, timedelta(0)),
                )
        if self.feedback is None:
            self.feedback_token = None  # a late answer is refused from here on
            await self._act(
                Act.FEEDBACK_CLOSE, FeedbackAnswered(token, {"no_response": True}, workflow.now())
            )
            self.data["feedback"] = {"status": "no_response", "token": token}
            await self.record("feedback_no_response", "no feedback received: closed as no response")
        return self.feedback

    async def _collect_feedback_hashed(
        self, reminder_after: timedelta, close_after: timedelta, notice_prefix: str,
        keep_open: bool = False,
    ) -> dict[str, Any] | None:
        """The same steps, but the history and the read-model never hold the link itself: the
        workflow keeps a ref (the link is derived from it with a key only the processes know,
        security/links.py) and the hash the activity answers with; the customer's answer
        arrives as that hash."""
        ref = workflow.uuid4().hex
        link_hash = await self._act(
            Act.FEEDBACK_OPEN,
            FeedbackOpen(ref, self.case_id, workflow.info().workflow_id, self.KIND, hashed=True),
            str,
        )
        self.feedback_token = link_hash
        self.data["feedback"] = {"status": "requested", "link": ref}
        await self.record("feedback_requested", "feedback form sent to the customer")
        await self.notify("feedback_request", f"{notice_prefix}_feedback_request", feedback_ref=ref)
        try:
            await workflow.wait_condition(lambda: self.feedback is not None, timeout=reminder_after)
        except TimeoutError:
            await self.notify("feedback_reminder", f"{notice_prefix}_feedback_reminder",
                              feedback_ref=ref)
            await self.record("feedback_reminded", "feedback reminder sent")
            with suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self.feedback is not None,
                    timeout=max(close_after - reminder_after, timedelta(0)),
                )
        if self.feedback is None and not keep_open:
            await self.close_feedback_form()
        return self.feedback

    async def close_feedback_form(self) -> None:
        """No answer: the link is refused from here on, the case shows no response."""
        link_hash = self.feedback_token
        assert link_hash is not None
        self.feedback_token = None  # a late answer is refused from here on
        await self._act(Act.FEEDBACK_CLOSE,
                        FeedbackAnswered(link_hash, {"no_response": True}, workflow.now()))
        self.data["feedback"] = {"status": "no_response"}
        await self.record("feedback_no_response", "no feedback received: closed as no response")

    @workflow.update
    async def submit_feedback(self, inp: FeedbackInput) -> dict[str, Any]:
        response = {
            "satisfaction": inp.satisfaction,
            "usage": inp.usage,
            "suggestions": inp.suggestions,
            "problem": inp.problem or None,
        }
        if inp.complaint:  # only when asked: earlier answers keep their shape
            response.update(complaint=True, complaint_text=inp.complaint_text or None)
        if inp.dissatisfied:
            response["dissatisfied"] = True
        self.feedback = response  # set first: a second submission is refused by the validator
        await self._act(Act.FEEDBACK_ANSWERED, FeedbackAnswered(inp.token, response, workflow.now()))
        self.data["feedback"] = {"status": "answered", **response}
        await self.record("feedback_received", f"satisfaction {inp.satisfaction}/5", actor="customer")
        return {"case_id": self.case_id, "status": "answered"}

    @submit_feedback.validator
    def _validate_feedback(self, inp: FeedbackInput) -> None:
        if self.feedback is not None:
            raise rejection(ErrorType.CONFLICT, "feedback_already_given", "feedback already given")
        if self.feedback_token is None or inp.token not in (
                self.feedback_token, _sha256(self.feedback_token)):  # the API sends the hash
            raise rejection(ErrorType.CONFLICT, "feedback_closed", "this feedback form is closed")
        if not 1 <= inp.satisfaction <= 5:
            raise rejection(ErrorType.INVALID, "invalid_satisfaction", "satisfaction is 1 to 5")
