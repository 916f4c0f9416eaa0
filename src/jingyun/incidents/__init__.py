"""Incidents (应急事件) from the playbook library: see :mod:`jingyun.incidents.core` and docs/incidents.md."""

from __future__ import annotations

from jingyun.incidents.core import (
    Incident,
    IncidentStep,
    TimelineEntry,
    add_note,
    close,
    complete_step,
    get,
    list_incidents,
    open_incident,
    set_level,
)
from jingyun.incidents.playbooks import LEVEL_HOURS, Playbook, library, playbook

__all__ = ["LEVEL_HOURS", "Incident", "IncidentStep", "Playbook", "TimelineEntry", "add_note", "close",
           "complete_step", "get", "library", "list_incidents", "open_incident", "playbook", "set_level"]
