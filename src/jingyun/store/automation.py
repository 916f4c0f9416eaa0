"""Metadata tables of one capability (automation); migration 0006_automation.py builds them.

Automation: journeys (versioned definitions), each user's position in a journey, pending waits and timers, entry history.
"""

from __future__ import annotations

from jingyun.store.models import Base  # noqa: F401  (tables declared here join Base.metadata)
