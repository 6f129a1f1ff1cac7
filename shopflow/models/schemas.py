"""API request and response schemas (the tables are the other modules of this package).

Requests forbid unknown fields, so a typo is a 422 and never silently ignored."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

T = TypeVar("T")

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Sku = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                       pattern=r"^[A-Za-z0-9._-]+$")]
CaseId = Annotated[str, StringConstraints(min_length=1, max_length=80)]
Role = Literal["channel", "cs", "reviewer", "warehouse", "finance", "ops", "admin", "product"]
# 12.5 and 12.50 are the same price: one form, so a repeated order hashes the same.
Cents = AfterValidator(lambda v: v.quantize(Decimal("0.01")))


def _ascii_amount(value: Any) -> Any:
    # Decimal reads "١٠" (Arabic-Indic digits) as 10: an amount is written in ASCII digits.
    if isinstance(value, str) and not value.isascii():
        raise ValueError("an amount is written with the digits 0-9")
    return value


AsciiAmount = BeforeValidator(_ascii_amount)
UnitPrice = Annotated[Decimal, AsciiAmount, Field(ge=0, le=10_000_000, decimal_places=2), Cents]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PageOf(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int


# --- catalogue and stock -------------------------------------------------------------------

class ProductCreate(Strict):
    sku: Sku
    name: ShortText
    sample_limit: int = Field(default=0, ge=0, le=10000)
    returnable: bool = Field(default=True, description="false: taken back only with a fault, "
                             "never without a reason (opened cosmetics …)")
    price: UnitPrice | None = Field(default=None, description="the catalogue price: what an "
                                    "order line without its own unit_price costs")
    specification: ShortText | None = Field(default=None, description="规格, e.g. 250 g tin")
    origin: ShortText | None = Field(default=None, description="产地, e.g. 杭州 Hangzhou")


class ProductChange(Strict):
    """``PATCH /products/{sku}``: the fields given change, the others stay."""

    name: ShortText | None = None
    sample_limit: int | None = Field(default=None, ge=0, le=10000)
    returnable: bool | None = None
    price: UnitPrice | None = None
    specification: ShortText | None = None
    origin: ShortText | None = None


class ProductPublic(BaseModel):
    sku: str
    name: str
    sample_limit: int
    returnable: bool = True
    price: float | None = None
    specification: str | None = None
    origin: str | None = None


class ReceiptCreate(Strict):
    sku: Sku
    quantity: int = Field(gt=0, le=1_000_000)
    note: str = Field(default="", max_length=500)


class InventoryPublic(BaseModel):
    sku: str
    on_hand: int
    reserved: int
    available: int
    damaged: int = 0


# --- customers -----------------------------------------------------------------------------

class CustomerIn(Strict):
    """A customer as carried by a request; it upserts the profile."""

    id: ShortText
    name: ShortText
    company: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")
    phone: str | None = Field(default=None, max_length=40)
    address: str | None = Field(default=None, max_length=500)
    locale: Literal["zh-CN", "en"] | None = None


class CustomerUpdate(Strict):
    """Leave a field out to keep it. name, locale, tags and credit_rating every profile has: they
    take no null (the schema says so), others may be cleared with null."""

    name: ShortText = None  # type: ignore[assignment]
    company: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")
    phone: str | None = Field(default=None, max_length=40)
    address: str | None = Field(default=None, max_length=500)
    locale: Literal["zh-CN", "en"] = None  # type: ignore[assignment]
    preferred_channel: Literal["email", "sms"] | None = None
    birthday: date | None = None
    tags: list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,40}$")]] = Field(
        default=None, max_length=50)
    credit_rating: Literal["A", "B", "C", "D"] = None  # type: ignore[assignment]


class CustomerPublic(BaseModel):
    id: str
    name: str
    company: str | None
    email: str | None
    phone: str | None
    address: str | None
    locale: str
    preferred_channel: str | None = None
    birthday: date | None
    tags: list[str]
    credit_rating: str | None = Field(description="A|B|C|D, or null: not rated yet")
    purchase_history: dict[str, Any]
    proposals: list[dict[str, Any]] | None = None  # cs only: a channel's differing details


# --- samples -------------------------------------------------------------------------------

class SampleItemIn(Strict):
    sku: Sku
    quantity: int = Field(gt=0, le=10000)


class DocumentIn(Strict):
    name: ShortText
    url: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class SampleCreate(Strict):
    customer: CustomerIn
    channel: Literal["web", "email", "phone"]
    items: list[SampleItemIn] = Field(min_length=1, max_length=50)
    purpose: Text
    qualification_docs: list[DocumentIn] = Field(default_factory=list, max_length=20)


class SampleDocumentsList(BaseModel):
    """A sample request's qualification documents (``url``: the file, for the reviewer)."""

    items: list[dict[str, Any]]


class CaseCreated(BaseModel):
    id: str
    workflow_id: str
    status: str


class InfoAnswer(Strict):
    text: Text


class CancelRequest(Strict):
    reason: str = Field(default="", max_length=1000)


class CasePublic(BaseModel):
    """A case with its tasks and timeline; process-specific fields sit beside the common ones."""

    model_config = ConfigDict(extra="allow")

    id: str
    kind: str
    workflow_id: str
    status: str
    stage: str
    customer_id: str | None
    created_at: str
    updated_at: str
    closed_at: str | None
    tasks: list[dict[str, Any]] = []
    timeline: list[dict[str, Any]] = []
    temporal_url: str | None = None


class CaseSummary(BaseModel):
    id: str
    kind: str
    workflow_id: str
    status: str
    stage: str
    customer_id: str | None
    created_at: str
    updated_at: str


# --- tasks ---------------------------------------------------------------------------------

class TaskPublic(BaseModel):
    id: str
    kind: str
    role: str
    status: str
    case_id: str
    case_kind: str
    workflow_id: str
    assignee: str | None
    due_at: str
    overdue: bool
    escalated: bool
    escalation_role: str | None = None
    context: dict[str, Any]
    decision: dict[str, Any] | None
    completed_by: str | None
    completed_at: str | None
    created_at: str


class SearchHit(BaseModel):
    """One thing ``GET /search`` found: a customer, a product or a case of any process, and
    which of its fields matched (``name``, ``phone``, ``order_no``, ``tracking_no``, ``sku`` …)."""

    type: Literal["customer", "product", "case"]
    kind: str  # the case's process, or "customer" / "product"
    id: str
    title: str
    status: str | None
    stage: str | None
    customer_id: str | None
    matched: list[str]
    updated_at: datetime | None
    company: str | None = None
    phone: str | None = None
    email: str | None = None


class CustomerCase(BaseModel):
    """One case of a customer (``GET /customers/{id}/cases``): open it at ``/api/v1/<kind>s/``
    or ``/ui/cases/<kind>/<id>``."""

    id: str
    kind: str
    workflow_id: str
    status: str
    stage: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class TaskAssign(Strict):
    to: Annotated[str, StringConstraints(min_length=1, max_length=120, strip_whitespace=True)]


class TaskComplete(Strict):
    decision: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    data: dict[str, Any] = Field(default_factory=dict)
    comment: str = Field(default="", max_length=2000)


class TaskOutcomePublic(BaseModel):
    task_id: str
    kind: str
    decision: str
    case_id: str
    case_status: str
    case_stage: str
    result: dict[str, Any]


TaskId = Annotated[str, StringConstraints(min_length=1, max_length=160)]


class TaskBulk(Strict):
    """One action on many tasks: ``complete`` needs ``decision`` (the same for all, with ``data``
    and ``comment``), ``assign`` needs ``to``."""

    action: Literal["claim", "assign", "release", "complete"]
    task_ids: list[TaskId] = Field(min_length=1, max_length=100)
    decision: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    comment: str = Field(default="", max_length=2000)
    to: Annotated[str, StringConstraints(min_length=1, max_length=120,
                                         strip_whitespace=True)] | None = None


class Outcome(BaseModel):
    """How one item of a bulk request went: ``ok``, or the status, code and message the single
    route would have answered."""

    ok: bool
    status: int
    code: str | None
    message: str | None
    details: Any = None


class TaskBulkResult(Outcome):
    task_id: str
    task: TaskPublic | None = None  # claim, release, assign
    outcome: TaskOutcomePublic | None = None  # complete


class TaskBulkAnswer(BaseModel):
    action: str
    done: int
    failed: int
    results: list[TaskBulkResult]


class ShipmentBatch(Strict):
    csv: Annotated[str, StringConstraints(min_length=1, max_length=200_000)] = Field(
        description="order_no,courier,tracking_no lines (a header line of those names is "
                    "skipped)")


class ShipmentRowResult(Outcome):
    line: int
    order_no: str
    courier: str
    tracking_no: str
    task_id: str | None = None
    case_status: str | None = None


class ShipmentBatchAnswer(BaseModel):
    done: int
    failed: int
    results: list[ShipmentRowResult]


# --- feedback ------------------------------------------------------------------------------

class FeedbackIn(Strict):
    satisfaction: int = Field(ge=1, le=5)
    usage: str = Field(default="", max_length=2000)
    suggestions: str = Field(default="", max_length=2000)
    problem: str | None = Field(default=None, max_length=2000)
    # "I want to file a complaint": a follow-up survey then opens a complaint by itself (the
    # text, else the problem, is its description); other surveys record the wish only.
    complaint: bool = False
    complaint_text: str | None = Field(default=None, max_length=2000)
    # "I am not satisfied": a sample's feedback then goes to customer service, text or not.
    dissatisfied: bool = False


class TokenCreate(Strict):
    role: Role
    name: ShortText


class PreferencesIn(Strict):
    """A person's own preferences (``PUT /me/preferences``): where and how they hear of new
    tasks (``now``: a mail per task, ``digest``: an hourly mail, ``off``), their language."""

    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)] | None = None
    task_notices: Literal["now", "digest", "off"] = "off"
    locale: Literal["zh-CN", "en"] | None = None


class PreferencesOut(BaseModel):
    name: str
    role: str
    email: str | None
    task_notices: str
    locale: str | None
    timezone: str  # the business's, in which times in notices and pages are shown
    updated_at: datetime | None
