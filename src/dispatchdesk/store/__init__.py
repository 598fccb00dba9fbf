"""SQLAlchemy 2 models, Alembic migrations and the unit of work."""

from .db import HEAD_REVISION, Database, StorageError, UnitOfWork, read

__all__ = ["HEAD_REVISION", "Database", "StorageError", "UnitOfWork", "read"]
