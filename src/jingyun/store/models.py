"""Metadata tables (SQLAlchemy 2): console people, departments, API keys,
sessions, the append-only audit log, idempotency keys, segments (with tag
versions, refresh runs, state and snapshots), experiments and flags, dashboard
pins, alerts, the model registry, and scheduled jobs (state and run history).

Personal contact details of console users (email, phone) are kept encrypted
(``*_enc`` columns, AES-GCM via :mod:`jingyun.security.crypto`); secrets are
kept only as hashes (argon2 for passwords, SHA-256 for high-entropy tokens).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    """Naive UTC, like the warehouse: SQLite has no time zones."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


person_departments = Table(
    "person_departments",
    Base.metadata,
    Column("person_id", ForeignKey("people.id", ondelete="CASCADE"), primary_key=True),
    Column("department_id", ForeignKey("departments.id", ondelete="CASCADE"), primary_key=True),
)


class Department(Base):
    __tablename__ = "departments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Person(Base):
    """A user of the console (not a customer in the warehouse)."""

    __tablename__ = "people"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    email_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    phone_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the lockout's counters, unused since 0003 (throttling is per address and name, in security.throttle);
    # kept because dropping a column of a referenced table on old SQLite means copying the table
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # every credential of the person carries the version it was issued under; raising it ends them all
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # the person's superior (approvals escalate to them; 0009_approvals). No database foreign key: SQLite
    # cannot drop a referencing column on downgrade, and people is referenced too widely to copy the table;
    # jingyun.approvals.org checks it on write and reads a removed superior as none.
    superior_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    departments: Mapped[list[Department]] = relationship(secondary=person_departments, lazy="selectin")

    @property
    def department_names(self) -> list[str]:
        return sorted(d.name for d in self.departments)


class ApiKey(Base):
    """A machine credential: ``jy_<prefix>_<secret>``; only the SHA-256 of the whole key is kept."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100), default="")
    scope: Mapped[str] = mapped_column(String(10))  # ingest | read
    role: Mapped[str] = mapped_column(String(20), default="analyst")  # what a read key may see
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), nullable=True)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class WebSession(Base):
    """A sign-in: the cookie carries the token, the store only its hash.

    A sign-in through the API also holds a refresh token (its hash; the one it
    replaced is kept to recognise a replay). The session is valid while it is
    not revoked, not expired, and its ``token_version`` is the person's.
    """

    __tablename__ = "sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    refresh_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True, index=True)
    refresh_prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)


class AuditEntry(Base):
    """Append-only (database triggers refuse UPDATE and DELETE); no personal data in ``detail``."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    actor_role: Mapped[str] = mapped_column(String(20), default="")
    action: Mapped[str] = mapped_column(String(50), index=True)
    target: Mapped[str] = mapped_column(String(200), default="")
    outcome: Mapped[str] = mapped_column(String(20), default="ok")  # ok | denied | failed
    detail: Mapped[str] = mapped_column(Text, default="{}")
    request_id: Mapped[str] = mapped_column(String(64), default="")


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("principal", "key", name="uq_idem_principal_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    principal: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(200))
    route: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Segment(Base):
    """The one segment (人群) model: made in the console, the CLI or the API, it is this row.

    A department owns it (the object behind BOLA checks), or none: a workspace
    segment (made from the CLI without ``--department``), which everyone with
    ``segments:view`` sees. ``name`` is the identity rules and commands refer to.
    """

    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("name", name="uq_segments_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), nullable=True)
    rule: Mapped[str] = mapped_column(Text, default="{}")
    status: Mapped[str] = mapped_column(String(20), default="draft")  # draft | approved
    created_by: Mapped[str] = mapped_column(String(100), default="")
    approved_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    zh: Mapped[str] = mapped_column(String(200), default="", server_default="")
    en: Mapped[str] = mapped_column(String(200), default="", server_default="")
    owner: Mapped[str] = mapped_column(String(100), default="", server_default="")
    automation: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    playbook: Mapped[str | None] = mapped_column(String(60), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    department: Mapped[Department | None] = relationship(lazy="selectin")


class TagVersionRow(Base):
    """One version of a custom tag's definition, with its approval."""

    __tablename__ = "tag_versions"
    __table_args__ = (UniqueConstraint("tag", "version", name="uq_tag_versions_tag_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tag: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[str] = mapped_column(Text)  # JSON
    status: Mapped[str] = mapped_column(String(20), default="draft")  # draft | approved | rejected
    author: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    approved_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")


class SegmentRun(Base):
    """One segment or tag recompute; ``running`` past ``deadline_at`` reads as timeout."""

    __tablename__ = "segment_runs"
    run_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    target: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    deadline_at: Mapped[dt.datetime] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    rows: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    extra: Mapped[str] = mapped_column(Text, default="{}")  # JSON


class SegmentState(Base):
    """Small keyed state of the segments capability (incremental watermarks); value is JSON."""

    __tablename__ = "segment_state"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class SegmentSnapshot(Base):
    """A scheme's person → group map at one period: zlib-compressed JSON (see docs/architecture.md)."""

    __tablename__ = "segment_snapshots"
    scheme: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(64), primary_key=True)
    taken_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    persons: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[str] = mapped_column(Text, default="{}")  # JSON group -> persons, readable without the blob
    data: Mapped[bytes] = mapped_column(LargeBinary)  # zlib(JSON of the whole snapshot)


class ExperimentRow(Base):
    """An experiment's definition and decision log (JSON of ``registry.experiment_to_dict``)."""

    __tablename__ = "experiments"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    definition: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class FlagRow(Base):
    """A feature flag (JSON definition: rollout, enabled, targeting, seed)."""

    __tablename__ = "flags"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    definition: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Alert(Base):
    """An unusual-access alert raised by :mod:`jingyun.security.audit`."""

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(50))  # bulk_export | off_hours | failed_logins
    actor: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text, default="{}")
    acknowledged: Mapped[bool] = mapped_column(Boolean, default=False)


class ModelRecord(Base):
    """A trained model in the registry: data window, parameters, validation metrics, artifact."""

    __tablename__ = "model_registry"
    model_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    data_start: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    data_end: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    params: Mapped[str] = mapped_column(Text, default="{}")
    metrics: Mapped[str] = mapped_column(Text, default="{}")
    artifact: Mapped[str | None] = mapped_column(Text, nullable=True)


class JobState(Base):
    """One scheduled job's state (definitions stay in ``schedule.yaml``).

    ``running_run_id``/``running_deadline`` is the running marker: claimed by a
    conditional UPDATE (free, or its deadline passed), so one job never has two
    runs at once across threads and processes; a marker past its deadline is
    stale and no longer blocks.
    """

    __tablename__ = "job_state"
    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    # the trigger next_run_at was computed from ("cron 0 5 * * * Asia/Shanghai"); an edit recomputes it
    spec: Mapped[str] = mapped_column(String(200))
    next_run_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)  # naive UTC
    last_run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    last_started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    last_finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    running_run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    running_owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    running_deadline: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class JobRun(Base):
    """One run of a scheduled job; ``(job, scheduled_for)`` is unique, so a fire time runs once."""

    __tablename__ = "job_runs"
    __table_args__ = (
        UniqueConstraint("job", "scheduled_for", name="uq_job_runs_job_scheduled_for"),
        Index("ix_job_runs_job_started_at", "job", "started_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(60))
    trigger: Mapped[str] = mapped_column(String(20))  # schedule | catch_up | manual | imported
    scheduled_for: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    deadline: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(20))  # running | ok | failed | timeout | stale
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    owner: Mapped[str] = mapped_column(String(200), default="")


# Each later capability declares its tables in its own module of this package (one migration each);
# importing them here puts every table in ``Base.metadata``, which the migration test compares.
from jingyun.store import alerts, approvals, automation, boards, budgets, coupons, messages, privacy  # noqa: E402, F401
