"""The metadata store: SQLAlchemy 2 models and Alembic migrations."""

from jingyun.store.db import Store, database_url, open_store
from jingyun.store.models import (
    Alert,
    ApiKey,
    AuditEntry,
    Base,
    Department,
    IdempotencyKey,
    Person,
    Segment,
    WebSession,
)

__all__ = [
    "Alert", "ApiKey", "AuditEntry", "Base", "Department", "IdempotencyKey", "Person", "Segment",
    "Store", "WebSession", "database_url", "open_store",
]
