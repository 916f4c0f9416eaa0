"""Trigger rules (触发规则): what makes a person enter a journey, parsed once into typed models.

One rule language for the journey YAML, the simulation and the live runtime:

- ``event``: a person does an event (property filters from :mod:`jingyun.warehouse.filters`), and —
  with ``absent`` — does *not* do one of the cancelling events (or place an order) within a window:
  "view_product and no order/pay within 30 min", "add_to_cart and no checkout in 2 h";
- ``segment``: entry into or exit from a saved segment;
- ``date``: the birthday, the registration anniversary, N days since the last order, N days inactive;
- ``schedule``: a cron expression in the workspace time zone (APScheduler's ``CronTrigger``, as ops/);
- ``metric``: a metric condition (``stock_cover_days gt 45``), checked at a cron schedule.

Event-time semantics (exact; docs/automation.md): a trigger event at *t* with an absence window *W*
fires at *t + W* unless a cancelling event falls in **(t, t + W]**: an order at exactly *t + W*
cancels, one at *t + W + 1 s* does not, one at *t* itself (the same instant) does not. Without
``absent`` the rule fires at *t*. "N days inactive" is the absence rule "any event, and no event
within N days"; "N days since the last order" is "an order, and no order within N days".
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from jingyun.analysis.common import parse_duration
from jingyun.errors import JingyunError
from jingyun.warehouse.filters import Filter, parse

EVENT_NAME = re.compile(r"^[^'\\\x00-\x1f]{1,128}$")
CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def seconds(value: Any, field: str) -> int:
    """A duration (``30m``, ``2h``, ``7d`` or seconds) as whole seconds; a ValueError inside models, so
    the journey parser names the field it sits in."""
    try:
        return parse_duration(value, field)
    except JingyunError as exc:
        raise ValueError(exc.message) from None


def filters(raw: Any, field: str) -> tuple[Filter, ...]:
    """Property filters ``[{key, op, value}]`` in the one filter language."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise JingyunError("bad_journey", "filters are a list of {key, op, value}", field)
    return tuple(parse(f, f"{field}[{i}]", code="bad_journey") for i, f in enumerate(raw))


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class EventMatch(Strict):
    """An event by name with property filters; ``event: order`` means a row of ``orders`` instead."""

    event: str
    where: tuple[Filter, ...] = ()

    @field_validator("event")
    @classmethod
    def _name(cls, v: str) -> str:
        if not EVENT_NAME.match(v):
            raise ValueError(f"event name {v!r} is not a valid event name")
        return v

    @field_validator("where", mode="before")
    @classmethod
    def _where(cls, v: Any) -> tuple[Filter, ...]:
        return v if isinstance(v, tuple) else filters(v, "where")

    @property
    def is_order(self) -> bool:
        return self.event == "order"


class Absence(Strict):
    """No cancelling event in (t, t + within]."""

    any_of: tuple[EventMatch, ...] = Field(min_length=1)
    within_s: int

    @model_validator(mode="before")
    @classmethod
    def _within(cls, v: Any) -> Any:
        if isinstance(v, dict) and "within" in v:
            v = {**v, "within_s": seconds(v["within"], "within")}
            del v["within"]
        return v


class EventTrigger(Strict):
    type: Literal["event"] = "event"
    event: str
    where: tuple[Filter, ...] = ()
    absent: Absence | None = None

    @field_validator("where", mode="before")
    @classmethod
    def _where(cls, v: Any) -> tuple[Filter, ...]:
        return v if isinstance(v, tuple) else filters(v, "where")

    @property
    def match(self) -> EventMatch:
        return EventMatch(event=self.event, where=self.where)


class SegmentTrigger(Strict):
    type: Literal["segment"] = "segment"
    segment: str
    on: Literal["entry", "exit"] = "entry"


class DateTrigger(Strict):
    """Dates of a person: fires at ``at`` (local clock in the recipient's time zone) on the day."""

    type: Literal["date"] = "date"
    date: Literal["birthday", "registration_anniversary", "days_since_last_order", "days_inactive"]
    days: int | None = Field(default=None, ge=1, le=3650)
    at: str = "10:00"

    @field_validator("at")
    @classmethod
    def _clock(cls, v: str) -> str:
        if not CLOCK.match(v):
            raise ValueError(f"at {v!r} must be a local clock time HH:MM")
        return v

    @model_validator(mode="after")
    def _days(self) -> DateTrigger:
        needs = self.date in ("days_since_last_order", "days_inactive")
        if needs and self.days is None:
            raise ValueError(f"date {self.date} needs days: N")
        if not needs and self.days is not None:
            raise ValueError(f"date {self.date} takes no days")
        return self

    def as_event(self) -> EventTrigger | None:
        """The absence rule this date is (N days inactive / since the last order), or None."""
        if self.days is None:
            return None
        event = "order" if self.date == "days_since_last_order" else "*"
        match = EventMatch(event=event)
        return EventTrigger(event=event, absent=Absence(any_of=(match,), within_s=self.days * 86400))


class ScheduleTrigger(Strict):
    """A cron in the workspace time zone; who enters: a saved segment, or every real person."""

    type: Literal["schedule"] = "schedule"
    cron: str
    segment: str | None = None

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        try:
            CronTrigger.from_crontab(v, timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"cron {v!r}: {exc}") from None
        return v


class MetricTrigger(Strict):
    """A metric condition checked on a cron (default hourly, workspace zone); fires once when it becomes true.

    At each check the metric of the dictionary (``metrics``) is computed over the ``days`` complete local days
    before the check (default 1: yesterday — complete periods, as alerts judge them) and compared ``op value``;
    the journey is entered when the condition goes from false (or never checked) to true, by ``notify`` (the
    owner to tell: the entry's person, whom its actions address), else by ``metric:<name>``. Checks missed
    while the service was down collapse into the latest one (as the scheduler's ``coalesce``)."""

    type: Literal["metric"] = "metric"
    metric: str = Field(min_length=1, max_length=128)
    op: Literal["gt", "gte", "lt", "lte", "eq", "neq"]
    value: float
    cron: str = "0 * * * *"
    days: int = Field(default=1, ge=1, le=366)
    notify: str | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        return ScheduleTrigger._cron(v)

    @property
    def subject(self) -> str:
        return self.notify or f"metric:{self.metric}"

    def holds(self, value: float | None) -> bool:
        """``value op threshold``; no value (no data) never holds."""
        if value is None:
            return False
        return {"gt": value > self.value, "gte": value >= self.value, "lt": value < self.value,
                "lte": value <= self.value, "eq": value == self.value, "neq": value != self.value}[self.op]


Trigger = Annotated[EventTrigger | SegmentTrigger | DateTrigger | ScheduleTrigger | MetricTrigger,
                    Field(discriminator="type")]
