"""Metadata tables of one capability (messages); migration 0007_messages.py builds them.

Messages and channels: the delivery log, send idempotency keys, webhook dead letters, consent and unsubscribes per channel and purpose.
"""

from __future__ import annotations

from jingyun.store.models import Base  # noqa: F401  (tables declared here join Base.metadata)
