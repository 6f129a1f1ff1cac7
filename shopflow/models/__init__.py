"""SQLModel tables (business records and read-models) and the API's request/response schemas.

Importing this package registers every table on ``SQLModel.metadata`` (Alembic reads it).
"""

from shopflow.models.auth import ApiToken, IdempotencyRecord
from shopflow.models.care import BirthdayGreeting, Complaint, CustomerRevisit, Report
from shopflow.models.cases import Case, Dossier, FeedbackRequest, TimelineEvent
from shopflow.models.catalogue import InventoryItem, Product, Reservation, StockMovement
from shopflow.models.customers import Customer
from shopflow.models.notices import Notice
from shopflow.models.orders import Order
from shopflow.models.tasks import Task

__all__ = [
    "ApiToken",
    "BirthdayGreeting",
    "Case",
    "Complaint",
    "Customer",
    "CustomerRevisit",
    "Dossier",
    "FeedbackRequest",
    "IdempotencyRecord",
    "InventoryItem",
    "Notice",
    "Order",
    "Product",
    "Report",
    "Reservation",
    "StockMovement",
    "Task",
    "TimelineEvent",
]
