"""Metadata tables of one capability (coupons); migration 0008_coupons.py builds them.

Coupons: templates with validity, budget and stock; issued codes, one per person; redemptions.
"""

from __future__ import annotations

from jingyun.store.models import Base  # noqa: F401  (tables declared here join Base.metadata)
