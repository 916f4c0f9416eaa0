"""Metadata tables of one capability (privacy); migration 0012_privacy.py builds them.

Privacy: erased-person tombstones, retention policies and their runs.

Nothing here holds personal data: a tombstone is a keyed digest (``privacy.tombstones``), an
erasure record carries its irreversible token and counts, never the ids it removed.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from jingyun.store.models import Base, utcnow


class PrivacyErasure(Base):
    """One erasure (PIPL Art. 47): who ran it, what it removed by table, the token rows kept now carry."""

    __tablename__ = "privacy_erasures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    requested_by: Mapped[str] = mapped_column(String(100), default="")
    counts: Mapped[str] = mapped_column(Text, default="{}")  # JSON: table -> {"deleted": n, "pseudonymised": n}
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class PrivacyTombstone(Base):
    """A keyed digest of one erased identifier, so a replay of old files cannot re-create the person."""

    __tablename__ = "privacy_tombstones"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # user_id | anonymous_id | phone | email
    erasure_id: Mapped[int] = mapped_column(Integer, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class RetentionRun(Base):
    """One policy applied (or, with ``dry_run``, counted) by ``jingyun privacy retention``."""

    __tablename__ = "privacy_retention_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    table_name: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # delete | anonymise
    days: Mapped[int] = mapped_column(Integer)
    cutoff: Mapped[dt.datetime] = mapped_column(DateTime)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    ran_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
