"""Metadata tables of one capability (approvals); migration 0009_approvals.py builds them.

The organisation and approvals: superiors, approval workflows and requests with steps, comments and attachments; incidents with their timelines.
"""

from __future__ import annotations

from jingyun.store.models import Base  # noqa: F401  (tables declared here join Base.metadata)
