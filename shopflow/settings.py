"""Shopflow settings: environment variables with the SHOPFLOW_ prefix, or a .env file.

Every business duration accepts seconds (``90``) or ISO 8601 (``P3D``, ``PT1H``), so a demo can
run its timers in seconds. Settings are built once in a composition root and passed in.
"""

from __future__ import annotations

import functools
import os
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shopflow.workflows import business_time
from shopflow.workflows.business_time import BusinessCalendar

VAR_DIR = Path("var")


def _seconds_or_iso(value: Any) -> Any:
    """Plain numbers are seconds ("90", 90, "1.5"); anything else goes to pydantic, which reads
    ISO 8601 durations such as P3D or PT1H."""
    if isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
        return timedelta(seconds=float(value))
    return value


Duration = Annotated[timedelta, BeforeValidator(_seconds_or_iso)]
_DURATION: TypeAdapter[timedelta] = TypeAdapter(Duration)
TASK_DUE_PREFIX = "SHOPFLOW_TASK_DUE_"


def _env_name(kind: str) -> str:
    """A task kind's part of its due setting's name: order.fulfil -> ORDER_FULFIL."""
    return re.sub(r"[^A-Z0-9]+", "_", kind.upper())


def _zone_checked(name: str, setting: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{setting}: unknown time zone {name!r}") from None


def _task_kinds() -> tuple[str, ...]:
    from shopflow.workflows.order_rules import OrderTask
    from shopflow.workflows.return_rules import ReturnTask
    from shopflow.workflows.vocab import TaskKind

    return tuple(sorted({*TaskKind, *OrderTask, *ReturnTask}))


@functools.lru_cache(maxsize=16)
def _calendar(zone: str, hours: str, holidays: str | None, stamp: int | None
              ) -> BusinessCalendar:
    _zone_checked(zone, "timezone")
    text = Path(holidays).read_text(encoding="utf-8") if holidays else ""
    return business_time.make(zone, hours, text)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOPFLOW_", env_file=".env", extra="ignore")

    env: Literal["dev", "prod", "test"] = "prod"
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

    # Temporal
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_api_key: str | None = None
    task_queue: str = "shopflow"
    temporal_ui_url: str = "http://localhost:8233"
    temporal_ui_port: int = 8233
    # Worker tuning (docs/HACKING.md "Worker tuning"): how many cases a worker keeps in memory
    # (a case not cached is replayed from its history on its next task), how many workflow and
    # activity tasks run at once, and how many long polls each kind keeps open on the server.
    worker_cache_size: int = Field(default=10000, ge=1)
    worker_workflow_tasks: int = Field(default=100, ge=2)
    worker_activities: int = Field(default=32, ge=1)
    worker_local_activities: int = Field(default=32, ge=1)
    worker_workflow_pollers: int = Field(default=5, ge=2)
    worker_activity_pollers: int = Field(default=5, ge=1)
    # "shared": Shopflow's workflow modules are imported once and shared by every cached case
    # (their code is deterministic and holds no module state; tests/test_worker_smoke.py checks
    # it): ~7 KiB of sandbox per case instead of 40-200 KiB. "strict": the SDK's default, each
    # case re-imports them inside its sandbox, which also refuses non-deterministic calls in
    # them; the test suite runs this way.
    worker_sandbox: Literal["shared", "strict"] = "shared"

    # Database
    database_url: str = f"sqlite:///{VAR_DIR / 'shopflow.db'}"
    # SQLite: how long a writer waits for another's lock before its request answers 503 (and an
    # activity retries). PostgreSQL ignores it.
    database_busy_timeout: float = Field(default=30.0, gt=0, le=300)

    # API
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    public_url: str = "http://localhost:8000"
    max_body_bytes: int = 1024 * 1024
    # How long an Idempotency-Key is remembered (its first answer replayed); older keys are
    # purged and may be used again.
    idempotency_ttl: Duration = timedelta(days=1)

    # Web UI (/ui/): the key that signs session cookies. Unset in dev/test: a random key per
    # process (a restart signs everyone out). Unset in prod: the pages refuse to sign anyone in.
    ui_secret: str | None = None  # at least 32 bytes in production (shopflow api refuses less)
    ui_session_ttl: Duration = timedelta(hours=12)
    ui_idle_timeout: Duration = timedelta(hours=1)  # a session unused this long ends
    # Live pages (inbox, case page): how often their event stream looks at the database, and
    # how long one stream lasts before the browser reconnects (and the sign-in is checked again).
    ui_live_poll: Duration = timedelta(seconds=2)
    ui_live_lifetime: Duration = timedelta(minutes=5)

    # Customer feedback/survey links: how long a link in an e-mail works (single use anyway).
    # The key that derives them (SHOPFLOW_LINK_SECRET, else derived from SHOPFLOW_UI_SECRET)
    # must be the same for every API and worker process.
    feedback_link_ttl: Duration = timedelta(days=30)
    # The customer's status page (/status/<token>): how long the link in a notice works.
    status_link_ttl: Duration = timedelta(days=90)
    # How long finance's "send us your bank details" link works (issue 17.6).
    bank_link_ttl: Duration = timedelta(days=14)
    link_secret: str | None = None

    # /metrics: with a token, scrapes need "Authorization: Bearer <token>"; with a port, the
    # metrics are served only there (bound to api_host), not on the API's port.
    metrics_token: str | None = None
    metrics_port: int | None = None
    metrics_refresh: Duration = timedelta(seconds=15)  # how often the task gauges are read

    # Notices
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "shopflow@localhost"
    smtp_starttls: bool = True  # used when offered; required before sending a password
    smtp_ca_file: Path | None = None  # trust a private CA for STARTTLS
    smtp_timeout: float = Field(default=20.0, gt=0, le=50)  # per SMTP step, < the send timeout
    # How long one attempt to send a notice may take (the notices.send activity's start-to-close
    # timeout): an attempt cut off (its worker killed, the provider hung) is retried after it.
    # Copied into each case's input when the case starts, like the business durations.
    notice_send_timeout: Duration = timedelta(seconds=60)
    # How long one call to the payment provider (a capture, a refund) may take before it is
    # tried again: an attempt cut off (its worker killed) is retried after it. Copied into an
    # order's or a return's input when it starts.
    provider_call_timeout: Duration = timedelta(seconds=60)
    # A process that can loop (a complaint's messages) continues as new, carrying its state,
    # once its history has this many events: each run's history stays bounded.
    history_event_limit: int = Field(default=2000, ge=100)
    sms_adapter: str | None = None  # "package.module:Class" built with the settings; log-only
    ops_email: str = "ops@localhost"
    ops_locale: Literal["zh-CN", "en"] = "zh-CN"  # language of staff notices

    # Customers' e-mail replies (issue 18, docs/care.md "Replies by e-mail"). Outgoing customer
    # notices carry ``Reply-To: <local>+<case id>@<domain>`` of this address when it is set.
    # Inbound mail comes by the webhook POST /api/v1/inbound-mail (a token of role channel or
    # ops, or an ``X-Shopflow-Signature: sha256=<hex>`` HMAC of the body under the secret) and
    # by the Temporal Schedule ``shopflow-inbound-mail`` polling the adapter every
    # ``inbound_mail_poll``: ``simulator`` reads ``*.eml`` files dropped in ``inbound_mail_dir``
    # (moved to ``done/`` once kept), ``imap`` reads UNSEEN mail of ``imap_mailbox`` (marked
    # \Seen once kept).
    inbound_mail_address: str | None = None
    inbound_mail_secret: str | None = None
    inbound_mail_adapter: Literal["simulator", "imap"] = "simulator"
    inbound_mail_dir: Path = VAR_DIR / "inbound-mail"
    inbound_mail_poll: Duration = timedelta(minutes=1)
    inbound_mail_batch: int = Field(default=50, ge=1, le=1000)
    imap_host: str | None = None
    imap_port: int = 993
    imap_ssl: bool = True
    imap_user: str | None = None
    imap_password: str | None = None
    imap_mailbox: str = "INBOX"

    # Stock that has not moved (no sale, reservation or receipt) for this many days opens an
    # ``inventory.overstock`` task (seed 003 第八条 积压), once per SKU per such period.
    overstock_days: int = Field(default=60, ge=1, le=3650)

    # People, not only roles (issue 17.1). A role's leads hand its tasks to people (as ops and
    # admin do): role -> the names of the tokens (people) who lead it, e.g.
    # {"warehouse": ["wanda"]}; a lead leads the role of their own token only.
    role_leads: dict[str, list[str]] = Field(default_factory=dict)
    # Customer tag -> person: a task opened for a customer with the tag is assigned to that
    # person at once, when they may act on it, e.g. {"key_account": "amy"} (account manager).
    assignment_rules: dict[str, str] = Field(default_factory=dict)

    # Business durations
    task_due: Duration = timedelta(hours=24)
    sample_info_timeout: Duration = timedelta(days=7)
    feedback_delay: Duration = timedelta(days=7)
    feedback_reminder: Duration = timedelta(days=3)
    feedback_close: Duration = timedelta(days=14)
    # A sample's feedback score at or below this opens the problem task for cs (seed 000 4.3).
    sample_feedback_low_score: int = Field(default=2, ge=0, le=5)
    payment_timeout: Duration = timedelta(minutes=30)
    backorder_timeout: Duration = timedelta(days=7)
    return_window: Duration = timedelta(days=7)
    quality_return_window: Duration = timedelta(days=30)
    return_ship_timeout: Duration = timedelta(days=7)
    # A repair (维修): due this long after the item arrived (reminder half way; then escalation
    # to ops and the customer told it takes longer).
    repair_due: Duration = timedelta(days=7)
    # An exchange for a dearer SKU: the difference must be paid within this, else refund.
    exchange_payment_timeout: Duration = timedelta(days=3)
    complaint_response_sla: Duration = timedelta(hours=24)
    # An enquiry's first response (咨询): its cs task is due by then, else it escalates.
    enquiry_response_sla: Duration = timedelta(hours=4)
    complaint_resolution_sla: Duration = timedelta(days=3)
    # Customer care: after a resolution the customer may escalate (or say not satisfied) within
    # this window; key accounts get a revisit task at this interval; schedules run in this zone.
    complaint_reopen_window: Duration = timedelta(days=7)
    revisit_interval: Duration = timedelta(days=90)

    # Calendars (issue 17.5): the business's time zone (schedules run at its local times, pages
    # show its dates), its working hours ("09:00-18:00 Mon-Fri"; empty: every hour counts) and a
    # file of holidays (one YYYY-MM-DD a line; "YYYY-MM-DD workday" for a make-up working day).
    # Task due times and complaint SLAs count working time only. Copied into a case's input
    # when it starts (services/timers.py), like the durations.
    timezone: str = "Asia/Shanghai"
    business_hours: str = ""
    holidays: Path | None = None
    # The schedules' zone, when it must differ from ``timezone`` (the older setting).
    schedule_timezone: str | None = None
    # Due time per task kind, from SHOPFLOW_TASK_DUE_<KIND> (order.fulfil: ..._ORDER_FULFIL);
    # a kind without one takes task_due.
    task_due_by_kind: dict[str, Duration] = Field(default_factory=dict)

    # Staff notices (issue 17.4): a warning to the task's person or role at this share of its
    # due time, before it escalates.
    task_warning_share: float = Field(default=0.75, gt=0, lt=1)

    # Payment and courier providers (docs/providers.md): the simulator is the default; its
    # failure rate (0..1, transient errors, half of them after the work was done), mean latency
    # and random seed are configurable so a demo can show retries and idempotency at work.
    payment_provider: Literal["simulator"] = "simulator"
    payment_sim_failure_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    payment_sim_latency: Duration = timedelta(0)
    payment_sim_seed: int | None = None
    courier_provider: Literal["simulator"] = "simulator"
    courier_sim_failure_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    courier_sim_latency: Duration = timedelta(0)
    courier_sim_seed: int | None = None
    courier_sim_transit_days: int = Field(default=3, ge=0, le=60)
    # A file the simulators remember what they did in (captures, refunds, bookings), so their
    # idempotency holds across worker restarts; none: in memory only (providers/journal.py).
    provider_sim_journal: Path | None = None
    # Tax invoices (发票, issue 18): VAT rates by SKU or SKU prefix ("TEA-*"), and "shipping"
    # for the shipping fee line; anything else takes the default. Prices include the tax.
    # e.g. SHOPFLOW_TAX_RATES='{"TEA-*": "0.09", "shipping": "0.09"}'
    tax_rates: dict[str, Decimal] = Field(default_factory=dict)
    tax_rate_default: Decimal = Field(default=Decimal("0.13"), ge=0, lt=1)
    # Qualification documents of sample requests (seed 000 1.2): PDF, JPEG or PNG files up to
    # this size, kept in a folder (default var/documents) or an S3-compatible store
    # (providers/storage.py; bucket, endpoint for MinIO/Ceph/OSS…, region, keys).
    document_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)
    document_store: Literal["folder", "s3"] = "folder"
    document_dir: Path = VAR_DIR / "documents"
    document_s3_bucket: str | None = None
    document_s3_endpoint: str | None = None
    document_s3_region: str | None = None
    document_s3_access_key: str | None = None
    document_s3_secret_key: str | None = None
    document_s3_prefix: str = "sample-documents/"
    # Samples per customer in a period (seed 000 2, 资源的合理利用): a request beyond it is
    # refused (409 sample_limit_reached); the reviewer sees the count. 0: no limit.
    sample_limit_per_customer: int = Field(default=5, ge=0, le=1000)
    sample_limit_period: Duration = timedelta(days=90)
    # Returns: where customers send their parcels (the approval notice says so).
    return_address: str = "Shopflow 退货仓 Returns, 1 Warehouse Rd, Hangzhou 310000"

    @model_validator(mode="after")
    def _leads_lead_roles(self) -> Settings:
        from shopflow.workflows.vocab import ROLES

        unknown = sorted(set(self.role_leads) - set(ROLES))
        if unknown:
            raise ValueError(f"role_leads names unknown roles: {', '.join(unknown)}")
        return self

    @model_validator(mode="after")
    def _tax_rates_are_rates(self) -> Settings:
        wrong = sorted(k for k, v in self.tax_rates.items() if not Decimal(0) <= v < 1)
        if wrong:
            raise ValueError(f"tax_rates must be between 0 and 1 (0.13 is 13%): {', '.join(wrong)}")
        return self

    @model_validator(mode="after")
    def _calendar_and_kind_dues(self) -> Settings:
        kinds = _task_kinds()
        for name, value in sorted(os.environ.items()):
            upper = name.upper()
            if not upper.startswith(TASK_DUE_PREFIX) or upper == TASK_DUE_PREFIX + "BY_KIND":
                continue
            suffix = upper.removeprefix(TASK_DUE_PREFIX)
            kind = next((k for k in kinds if _env_name(k) == suffix), None)
            if kind is None:
                raise ValueError(f"{name}: no task kind {suffix} (known: "
                                 f"{', '.join(sorted(_env_name(k) for k in kinds))})")
            if kind not in self.task_due_by_kind:
                try:
                    self.task_due_by_kind[str(kind)] = _DURATION.validate_python(value)
                except ValidationError:
                    raise ValueError(f"{name}: {value!r} is not a duration (PT4H, 3600)"
                                     ) from None
        unknown = sorted(set(self.task_due_by_kind) - set(kinds))
        if unknown:
            raise ValueError(f"task_due_by_kind names unknown task kinds: {', '.join(unknown)}")
        for kind, due in self.task_due_by_kind.items():
            if due <= timedelta(0):
                raise ValueError(f"SHOPFLOW_TASK_DUE_{_env_name(kind)} must be above 0")
        self.business_calendar()  # a bad zone, hours text or holidays file refuses to start
        if self.schedule_timezone is not None:
            _zone_checked(self.schedule_timezone, "schedule_timezone")
        return self

    def business_calendar(self) -> BusinessCalendar:
        """The calendar due times and SLAs count in (read once per file version)."""
        stamp = None
        if self.holidays is not None:
            try:
                stamp = self.holidays.stat().st_mtime_ns
            except OSError as err:
                raise ValueError(f"holidays: cannot read {self.holidays}: {err}") from None
        return _calendar(self.timezone, self.business_hours,
                         str(self.holidays) if self.holidays else None, stamp)

    def task_due_for(self, kind: str) -> timedelta:
        """A task kind's due time: its own setting, else SHOPFLOW_TASK_DUE."""
        return self.task_due_by_kind.get(kind, self.task_due)

    @property
    def zone_name(self) -> str:
        """The zone of schedules, business days and shown dates."""
        return self.schedule_timezone or self.timezone

    @model_validator(mode="after")
    def _send_outlasts_smtp_steps(self) -> Settings:
        if self.notice_send_timeout <= timedelta(0):
            raise ValueError("notice_send_timeout must be above 0")
        if self.smtp_host and self.notice_send_timeout.total_seconds() <= self.smtp_timeout:
            raise ValueError(f"notice_send_timeout ({self.notice_send_timeout.total_seconds():g} s)"
                             f" must be longer than smtp_timeout ({self.smtp_timeout:g} s)")
        return self

    @property
    def is_dev(self) -> bool:
        return self.env == "dev"

    def production_problems(self, *, binds_api: bool) -> list[str]:
        """Why this configuration must not serve (``shopflow api``/``worker`` refuse to start):
        dev mode on a network address, default or short secrets in production."""
        from shopflow.security import secret_problems

        problems: list[str] = []
        loopback = self.api_host in {"127.0.0.1", "localhost", "::1"}
        if self.env != "prod":
            if binds_api and not loopback:
                problems.append(f"SHOPFLOW_ENV={self.env} accepts the dev tokens: it may bind "
                                f"only a loopback address, not SHOPFLOW_API_HOST={self.api_host}")
            return problems
        if binds_api:  # signs the web sessions
            problems += secret_problems("SHOPFLOW_UI_SECRET", self.ui_secret)
        if self.link_secret is not None:  # else the feedback links' key derives from the UI's
            problems += secret_problems("SHOPFLOW_LINK_SECRET", self.link_secret)
        elif not binds_api:
            problems += [p + " (or set SHOPFLOW_LINK_SECRET)"
                         for p in secret_problems("SHOPFLOW_UI_SECRET", self.ui_secret)]
        if self.metrics_token is not None:
            problems += secret_problems("SHOPFLOW_METRICS_TOKEN", self.metrics_token)
        if self.inbound_mail_secret is not None:
            problems += secret_problems("SHOPFLOW_INBOUND_MAIL_SECRET", self.inbound_mail_secret)
        return problems

    @property
    def embedded_temporal(self) -> bool:
        """An embedded dev server is started only when the address is this machine's default."""
        host = self.temporal_address.rsplit(":", 1)[0]
        return host in {"localhost", "127.0.0.1"} and self.temporal_api_key is None
