"""Metadata tables of one capability (approvals); migration 0009_approvals.py builds them.

The organisation and approvals: superiors, approval workflows and requests with steps, comments and attachments; incidents with their timelines.

Money is kept in integer fen (``amount_cents``): exact on SQLite and PostgreSQL alike, so a tier
boundary of ¥100,000.00 compares exactly. People are named by ``username`` in the approval and
incident rows (like ``created_by`` elsewhere), so a row survives a person's removal with its history.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jingyun.store.models import Base, utcnow


class OrgPosition(Base):
    """Who holds a position: ``manager``/``director`` of a department, or the ``general_manager`` (no department)."""

    __tablename__ = "org_positions"
    __table_args__ = (UniqueConstraint("department_id", "title", name="uq_org_positions_department_title"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"), nullable=True)
    title: Mapped[str] = mapped_column(String(30))  # manager | director | general_manager
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ApprovalRequestRow(Base):
    __tablename__ = "approval_requests"
    __table_args__ = (Index("ix_approval_requests_status_type", "status", "type"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(30))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text, default="{}")  # JSON
    requester: Mapped[str] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | approved | rejected | withdrawn
    tier: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class ApprovalStepRow(Base):
    """One approver's part: steps of the same ``stage`` are parallel co-signatures, stages run in order."""

    __tablename__ = "approval_steps"
    __table_args__ = (Index("ix_approval_steps_status_assignee", "status", "assignee"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("approval_requests.id", ondelete="CASCADE"), index=True)
    stage: Mapped[int] = mapped_column(Integer)
    position: Mapped[str] = mapped_column(String(100))  # the workflow's approver spec, e.g. marketing.director
    approver: Mapped[str] = mapped_column(String(100))  # who the workflow named
    assignee: Mapped[str] = mapped_column(String(100))  # who holds it now (after escalation)
    status: Mapped[str] = mapped_column(String(20), default="waiting")  # waiting | pending | approved | rejected | skipped
    activated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)  # the SLA clock starts
    assigned_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)  # the escalation clock starts
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    timed_out: Mapped[bool] = mapped_column(Boolean, default=False)


class ApprovalEntry(Base):
    """The request's timeline: submitted, comments, decisions, escalations, delegations, callbacks."""

    __tablename__ = "approval_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("approval_requests.id", ondelete="CASCADE"), index=True)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("approval_steps.id", ondelete="CASCADE"), nullable=True)
    ts: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    author: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))  # submit | comment | approve | reject | escalate | callback
    text: Mapped[str] = mapped_column(Text, default="")


class ApprovalAttachment(Base):
    """A file kept privately under the home (``path`` relative to it); never served by path."""

    __tablename__ = "approval_attachments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("approval_requests.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(String(300))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ApprovalDelegation(Base):
    """``delegator`` lets ``delegate`` decide in their place from ``starts_at`` until ``ends_at`` (exclusive)."""

    __tablename__ = "approval_delegations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delegator: Mapped[str] = mapped_column(String(100), index=True)
    delegate: Mapped[str] = mapped_column(String(100))
    type: Mapped[str | None] = mapped_column(String(30), nullable=True)  # None: every request type
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class IncidentRow(Base):
    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    playbook: Mapped[str] = mapped_column(String(60))
    level: Mapped[int] = mapped_column(Integer)  # 1 (respond within 24 h) | 2 (48 h) | 3 (72 h)
    title: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(30), default="manual")  # manual | alert | ...
    alert_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | closed
    first_responder: Mapped[str | None] = mapped_column(String(100), nullable=True)
    opened_by: Mapped[str] = mapped_column(String(100), default="")
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    deadline_at: Mapped[dt.datetime] = mapped_column(DateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    review: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON: summary, root_cause, actions


class IncidentStepRow(Base):
    __tablename__ = "incident_steps"
    __table_args__ = (UniqueConstraint("incident_id", "idx", name="uq_incident_steps_incident_idx"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    idx: Mapped[int] = mapped_column(Integer)
    zh: Mapped[str] = mapped_column(String(300))
    en: Mapped[str] = mapped_column(String(300))
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    done_by: Mapped[str | None] = mapped_column(String(100), nullable=True)


class IncidentEntry(Base):
    __tablename__ = "incident_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    ts: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    author: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))  # opened | note | step | level | review | closed
    text: Mapped[str] = mapped_column(Text, default="")
