"""Metadata tables of one capability (automation); migration 0006_automation.py builds them.

Automation: journeys (versioned definitions), each user's position in a journey, pending waits and timers, entry history.

* ``journeys``: one row per journey key — its status (``draft`` → ``active`` ⇄ ``paused``; activation
  goes through approval), priority and the version that runs.
* ``journey_versions``: every saved definition (JSON), never edited; a change is a new version.
* ``journey_entries``: each entry of a user into a journey (the entry history the entry limit reads)
  and the user's position in it (current step, state, holdout), for the live runtime.
* ``automation_timers``: pending waits and absence timers, due at a naive-UTC instant; the runtime
  fires each once (``pending`` → ``fired`` | ``cancelled``) and records a late cancelling event.
* ``automation_actions``: one row per action decided by the live runtime, written *before* it is carried
  out, keyed ``journey:version:step:person:entry`` (``decided`` → ``done`` | ``suppressed`` | ``failed``);
  a restart carries out the ``decided`` ones again under the same key (messaging and coupons are
  idempotent on it), so a crash between deciding and sending never sends twice.
* ``automation_tasks``: tasks a journey creates for a person (an assignee follows a customer up).
* ``automation_memberships``: people a journey adds to a tag or a segment list.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jingyun.store.models import Base, utcnow


class JourneyRow(Base):
    __tablename__ = "journeys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft | active | paused
    priority: Mapped[int] = mapped_column(Integer, default=50)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100), default="")


class JourneyVersionRow(Base):
    __tablename__ = "journey_versions"
    __table_args__ = (UniqueConstraint("journey_id", "version", name="uq_journey_versions"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class JourneyEntryRow(Base):
    __tablename__ = "journey_entries"
    __table_args__ = (
        Index("ix_journey_entries_user", "journey_key", "user_id", "entered_at"),
        Index("ix_journey_entries_state", "state", "next_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    journey_key: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[str] = mapped_column(String(200))
    entered_at: Mapped[dt.datetime] = mapped_column(DateTime)
    holdout: Mapped[bool] = mapped_column(Boolean, default=False)
    step: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="active")  # active | waiting | done | exited
    next_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    path: Mapped[str] = mapped_column(Text, default="[]")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AutomationTimer(Base):
    __tablename__ = "automation_timers"
    __table_args__ = (
        Index("ix_automation_timers_due", "state", "due_at"),
        Index("ix_automation_timers_user", "user_id", "state"),
        UniqueConstraint("key", name="uq_automation_timers_key"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))  # idempotent: one timer per trigger occurrence
    journey_key: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # absence | wait | wait_event
    due_at: Mapped[dt.datetime] = mapped_column(DateTime)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | fired | cancelled
    payload: Mapped[str] = mapped_column(Text, default="{}")
    late_event_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    fired_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class AutomationAction(Base):
    __tablename__ = "automation_actions"
    __table_args__ = (
        UniqueConstraint("key", name="uq_automation_actions_key"),
        Index("ix_automation_actions_state", "state", "decided_at"),
        Index("ix_automation_actions_user", "user_id", "decided_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))  # journey:version:step:person:entry
    journey_key: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    step: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(200))
    entry_id: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="decided")  # decided | done | suppressed | failed
    reason: Mapped[str] = mapped_column(String(500), default="")
    ref: Mapped[str] = mapped_column(String(200), default="")  # delivery id, coupon code, task id
    due_at: Mapped[dt.datetime] = mapped_column(DateTime)  # when the journey reached the step (naive UTC)
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class AutomationTask(Base):
    __tablename__ = "automation_tasks"
    __table_args__ = (UniqueConstraint("key", name="uq_automation_tasks_key"),
                      Index("ix_automation_tasks_assignee", "assignee", "status"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    journey_key: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(200))
    assignee: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AutomationMembership(Base):
    __tablename__ = "automation_memberships"
    __table_args__ = (UniqueConstraint("key", name="uq_automation_memberships_key"),
                      Index("ix_automation_memberships_name", "kind", "name"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # tag | segment
    name: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[str] = mapped_column(String(200))
    journey_key: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
