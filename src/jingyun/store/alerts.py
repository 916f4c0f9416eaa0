"""Metadata tables of one capability (alerts); migration 0010_alerts.py builds them.

Alert rules on metrics and KPI targets, raised alerts with their diagnosis, routing and inbox state.
"""

from __future__ import annotations

from jingyun.store.models import Base  # noqa: F401  (tables declared here join Base.metadata)
