"""Metric triggers, live (指标触发): a metric of the dictionary checked on a cron, fired once per false → true.

The check itself is here (the window and the number, through :func:`jingyun.metrics.compute.value_over`);
the runtime (:mod:`jingyun.automation.runtime`) runs it on the journey's cron inside the service and keeps
the last answer in the store (``automation_timers`` row ``metric:<journey>``, kind ``metric``, state
``true``/``false``/``error``), so a restart neither fires again while the condition still holds nor misses a
transition. A metric the dictionary does not know, or a query that fails, is recorded as ``error`` with its
message and changes nothing (the previous answer stands for the next transition).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from jingyun.automation.rules import MetricTrigger
from jingyun.errors import JingyunError
from jingyun.localtime import aware
from jingyun.metrics.compute import value_over
from jingyun.metrics.model import Dictionary
from jingyun.warehouse.backends import Backend


@dataclass(frozen=True)
class MetricCheck:
    at: dt.datetime  # the cron fire checked, naive UTC
    date_from: dt.date
    date_to: dt.date
    value: float | None
    holds: bool
    error: str = ""

    def payload(self) -> dict[str, object]:
        return {"at": self.at.isoformat(), "from": self.date_from.isoformat(), "to": self.date_to.isoformat(),
                "value": self.value, "holds": self.holds, "error": self.error}


def window(trigger: MetricTrigger, at: dt.datetime, timezone: str) -> tuple[dt.date, dt.date]:
    """The ``days`` complete local days before the check at naive-UTC ``at``."""
    last = aware(at, timezone).date() - dt.timedelta(days=1)
    return last - dt.timedelta(days=trigger.days - 1), last


def check(backend: Backend, dictionary: Dictionary, trigger: MetricTrigger, at: dt.datetime, timezone: str
          ) -> MetricCheck:
    lo, hi = window(trigger, at, timezone)
    if trigger.metric not in dictionary.metrics:
        return MetricCheck(at, lo, hi, None, False, f"unknown_metric: no metric {trigger.metric!r} in the dictionary")
    try:
        value = value_over(backend, dictionary, trigger.metric, lo, hi, timezone=timezone)
    except JingyunError as exc:
        return MetricCheck(at, lo, hi, None, False, f"{exc.code}: {exc.message}")
    return MetricCheck(at, lo, hi, value, trigger.holds(value))


__all__ = ["MetricCheck", "check", "window"]
