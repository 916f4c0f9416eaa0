"""Metadata tables of one capability (privacy); migration 0012_privacy.py builds them.

Privacy: erased-person tombstones, retention policies and their runs.
"""

from __future__ import annotations

from jingyun.store.models import Base  # noqa: F401  (tables declared here join Base.metadata)
