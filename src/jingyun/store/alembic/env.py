"""Alembic environment: runs on the connection :meth:`Store.migrate` passes in."""

from __future__ import annotations

from alembic import context

from jingyun.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - always called through Store.migrate
    raise RuntimeError("run migrations through jingyun.store.open_store")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
