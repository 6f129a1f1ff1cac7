"""SQLModel tables (business records and read-models) and the API's request/response schemas.

Importing this package registers every table on ``SQLModel.metadata`` (Alembic reads it).
"""

from shopflow.models.auth import ApiToken, IdempotencyRecord
from shopflow.models.care import BirthdayGreeting, Complaint, CustomerRevisit, Report
from shopflow.models.cases import Case, Dossier, FeedbackRequest, SampleDocument, TimelineEvent
from shopflow.models.catalogue import InventoryItem, Product, Reservation, StockMovement
from shopflow.models.customers import Customer
from shopflow.models.finance import (
    BankDetailsRequest,
    Invoice,
    NumberCounter,
    ReconciliationDifference,
)
from shopflow.models.mail import InboundMail
from shopflow.models.notices import Notice
from shopflow.models.orders import (
    BackorderWait,
    FollowupDue,
    Order,
    OrderLine,
    OrderNumber,
    Payment,
    Reconciliation,
    Refund,
    Settlement,
    Shipment,
    ShipmentEvent,
)
from shopflow.models.people import PersonPreference, StaffDigestItem
from shopflow.models.returns import Return
from shopflow.models.security import (
    AuditEvent,
    CaseChannel,
    CustomerProposal,
    WebSession,
)
from shopflow.models.tasks import Task

__all__ = [
    "ApiToken",
    "AuditEvent",
    "BackorderWait",
    "BirthdayGreeting",
    "Case",
    "CaseChannel",
    "Complaint",
    "Customer",
    "CustomerProposal",
    "CustomerRevisit",
    "Dossier",
    "FeedbackRequest",
    "FollowupDue",
    "IdempotencyRecord",
    "InboundMail",
    "InventoryItem",
    "Invoice",
    "Notice",
    "NumberCounter",
    "Order",
    "OrderLine",
    "OrderNumber",
    "Payment",
    "PersonPreference",
    "Product",
    "Reconciliation",
    "ReconciliationDifference",
    "Refund",
    "Report",
    "Reservation",
    "Return",
    "SampleDocument",
    "Settlement",
    "BankDetailsRequest",
    "Shipment",
    "ShipmentEvent",
    "StaffDigestItem",
    "StockMovement",
    "Task",
    "TimelineEvent",
    "WebSession",
]
