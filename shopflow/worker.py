"""The worker's composition root: settings, engine, channels and clients built once, every
workflow and activity registered, the sticky cache bounded."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import temporalio.workflow
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from shopflow.activities.care import CareActivities
from shopflow.activities.cases import CaseActivities
from shopflow.activities.complaints import ComplaintActivities
from shopflow.activities.customers import CustomerActivities
from shopflow.activities.enquiries import EnquiryActivities
from shopflow.activities.feedback import FeedbackActivities
from shopflow.activities.finance import FinanceActivities
from shopflow.activities.followups import FollowupActivities
from shopflow.activities.inventory import InventoryActivities
from shopflow.activities.mail import MailActivities
from shopflow.activities.notices import NoticeActivities
from shopflow.activities.orders import OrderActivities
from shopflow.activities.payments import PaymentActivities
from shopflow.activities.promotions import PromotionActivities
from shopflow.activities.reports import ReportActivities
from shopflow.activities.returns import ReturnActivities
from shopflow.activities.shipping import ShippingActivities
from shopflow.activities.staff import StaffActivities
from shopflow.activities.tasks import TaskActivities
from shopflow.logs import LogContextInterceptor
from shopflow.notifications.channels import Channel, build_channels
from shopflow.providers import Providers, build_providers
from shopflow.settings import Settings
from shopflow.workflows.backorders import BackorderSweepWorkflow, BackorderWakeWorkflow
from shopflow.workflows.care import CARE_WORKFLOWS
from shopflow.workflows.complaint import ComplaintWorkflow
from shopflow.workflows.enquiry import EnquiryWorkflow
from shopflow.workflows.feedback_follow_up import FeedbackFollowUp
from shopflow.workflows.finance import FINANCE_WORKFLOWS
from shopflow.workflows.inbound_mail import InboundMailPoll
from shopflow.workflows.notice_resend import NoticeResend
from shopflow.workflows.order_fulfilment import OrderFulfilment
from shopflow.workflows.promotion import PROMOTION_WORKFLOWS
from shopflow.workflows.return_handling import ReturnHandling
from shopflow.workflows.sample_approval import SampleApproval
from shopflow.workflows.staff_notices import STAFF_WORKFLOWS

WORKFLOWS = [SampleApproval, OrderFulfilment, ReturnHandling, NoticeResend,
             ComplaintWorkflow, EnquiryWorkflow, FeedbackFollowUp, BackorderWakeWorkflow,
             BackorderSweepWorkflow, InboundMailPoll, *CARE_WORKFLOWS, *PROMOTION_WORKFLOWS,
             *FINANCE_WORKFLOWS, *STAFF_WORKFLOWS]

# Shared dataclasses and the base classes hold no per-run state: import them once for all runs
# instead of once per cached case. With settings.worker_sandbox == "shared" (the default) the
# workflow modules themselves are shared too: deterministic code, constants only at module level.
PASSTHROUGH = ("shopflow.workflows.shared", "shopflow.workflows.base", "shopflow.workflows.feedback",
               "shopflow.workflows.vocab", "shopflow.workflows.money",
               "shopflow.workflows.order_rules", "shopflow.workflows.return_rules",
               "shopflow.workflows.return_after_sales",
               "shopflow.workflows.sample_rules", "shopflow.workflows.complaint_rules",
               "shopflow.workflows.care_payloads", "shopflow.workflows.care_rules",
               "shopflow.workflows.promotion_rules", "shopflow.workflows.finance_rules",
               "shopflow.workflows.business_time")
SHARED_WORKFLOW_MODULES = ("shopflow.workflows",)


def build_activities(engine: Engine, settings: Settings,
                     channels: dict[str, Channel] | None = None,
                     providers: Providers | None = None,
                     client: Client | None = None) -> list[object]:
    channels = channels if channels is not None else build_channels(settings)
    providers = providers if providers is not None else build_providers(settings)
    instances: list[object] = [
        CaseActivities(engine),
        TaskActivities(engine, settings),
        InventoryActivities(engine, client),
        CustomerActivities(engine, settings),
        FeedbackActivities(engine, settings),
        OrderActivities(engine),
        PaymentActivities(engine, providers.payments),
        ShippingActivities(engine, providers.courier),
        ReturnActivities(engine),
        NoticeActivities(engine, settings, channels),
        # Activities that start other processes use the worker's own client.
        ComplaintActivities(engine, settings, client),
        FollowupActivities(engine, settings, client),
        CareActivities(engine, settings, client),
        ReportActivities(engine, settings),
        EnquiryActivities(engine),
        MailActivities(engine, settings, client),
        PromotionActivities(engine, settings, client),
        FinanceActivities(engine, settings, providers.payments, client),
        StaffActivities(engine, settings),
    ]
    functions = []
    for inst in instances:
        for name in dir(type(inst)):
            fn = getattr(inst, name)
            if callable(fn) and hasattr(fn, "__temporal_activity_definition"):
                functions.append(fn)
    return functions


def workflow_runner(mode: str = "shared") -> SandboxedWorkflowRunner:
    modules = PASSTHROUGH + (SHARED_WORKFLOW_MODULES if mode == "shared" else ())
    return _ValidatedOnce(
        mode, restrictions=SandboxRestrictions.default.with_passthrough_modules(*modules))


class _ValidatedOnce(SandboxedWorkflowRunner):
    """The SDK's sandboxed runner, validating each workflow class once per process and sandbox
    mode. A Worker validates every workflow it registers when it is built (a test instance in a
    new sandbox, which imports the workflow's module again: ~20 ms each, ~0.3 s for all of
    them); the answer is the same for the same class and restrictions, and a test process
    builds a worker per test. A class that fails validation fails it on every build."""

    _validated: ClassVar[set[tuple[str, type]]] = set()

    def __init__(self, mode: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mode = mode

    def prepare_workflow(self, defn: temporalio.workflow._Definition) -> None:
        key = (self.mode, defn.cls)
        if key not in self._validated:
            super().prepare_workflow(defn)
            self._validated.add(key)


def build_worker(client: Client, settings: Settings, engine: Engine, *,
                 task_queue: str | None = None,
                 channels: dict[str, Channel] | None = None,
                 providers: Providers | None = None) -> Worker:
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=WORKFLOWS,
        activities=build_activities(engine, settings, channels, providers, client),
        activity_executor=ThreadPoolExecutor(max_workers=settings.worker_activities),
        max_concurrent_activities=settings.worker_activities,
        max_concurrent_local_activities=settings.worker_local_activities,
        max_concurrent_workflow_tasks=settings.worker_workflow_tasks,
        max_concurrent_workflow_task_polls=settings.worker_workflow_pollers,
        max_concurrent_activity_task_polls=settings.worker_activity_pollers,
        max_cached_workflows=settings.worker_cache_size,
        interceptors=[LogContextInterceptor()],
        workflow_runner=workflow_runner(settings.worker_sandbox),
    )
