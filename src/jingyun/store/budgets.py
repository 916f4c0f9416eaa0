"""Metadata tables of one capability (budgets); migration 0011_budgets.py builds them.

Budgets with reserve pools, and competitor prices, pricing rules, proposals and the price change log.
"""

from __future__ import annotations

from jingyun.store.models import Base  # noqa: F401  (tables declared here join Base.metadata)
