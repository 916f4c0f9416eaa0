"""Metadata tables of one capability (alerts); migration 0010_alerts.py builds them.

Alert rules on metrics and KPI targets, raised alerts with their diagnosis, routing and inbox state.

Rules are written by hand in ``$JINGYUN_HOME/alert_rules.yaml`` (input); ``alert_rule_state`` keeps
what the evaluator writes about each rule (the last day evaluated and its outcome). ``metric_alerts``
are the raised alerts (the security ``alerts`` table is a different thing: unusual access).
``open_key`` is ``rule|subject`` while an alert is open and NULL once resolved, and it is unique, so
two evaluations of one day (the scheduler and a shell) never open the same alert twice.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from jingyun.store.models import Base, utcnow


class AlertRuleState(Base):
    __tablename__ = "alert_rule_state"
    rule_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    definition: Mapped[str] = mapped_column(Text, default="{}")  # the rule as last read from YAML (JSON)
    last_day: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    last_outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)  # fired | quiet | skipped
    last_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class MetricAlert(Base):
    __tablename__ = "metric_alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # threshold | change | consecutive | anomaly | stop_loss
    subject: Mapped[str] = mapped_column(String(200))  # what the rule watched: a metric or a target id
    open_key: Mapped[str | None] = mapped_column(String(310), unique=True, nullable=True)
    level: Mapped[str] = mapped_column(String(10))  # green | blue | yellow | red
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | acknowledged | snoozed | resolved
    metric: Mapped[str] = mapped_column(String(100))
    unit: Mapped[str] = mapped_column(String(20), default="count")
    department: Mapped[str] = mapped_column(String(100), default="", index=True)
    title: Mapped[str] = mapped_column(String(300))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    reference: Mapped[float | None] = mapped_column(Float, nullable=True)  # threshold, previous value or target
    change: Mapped[float | None] = mapped_column(Float, nullable=True)
    plan: Mapped[str | None] = mapped_column(String(200), nullable=True)  # a stop-loss line's response plan
    detail: Mapped[str] = mapped_column(Text, default="{}")  # JSON: periods, the evidence, the diagnosis
    link: Mapped[str] = mapped_column(String(500), default="")
    first_day: Mapped[dt.date] = mapped_column(Date)
    last_day: Mapped[dt.date] = mapped_column(Date)
    repeats: Mapped[int] = mapped_column(Integer, default=0)
    recipient: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    recipient_role: Mapped[str] = mapped_column(String(20), default="owner")  # owner | manager | director
    incident_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    snoozed_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    acked_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    acked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (Index("ix_metric_alerts_status_level", "status", "level"),)


class MetricAlertEvent(Base):
    """The alert's timeline: opened, repeated, raised, sent, acknowledged, snoozed, resolved."""

    __tablename__ = "metric_alert_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("metric_alerts.id", ondelete="CASCADE"), index=True)
    ts: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100), default="system")
    detail: Mapped[str] = mapped_column(Text, default="{}")
