"""Journey activation through approvals: a specialist asks, a manager approves, the journey goes live.

:func:`request_activation` files an approval request of type ``journey`` (the workflow in
``approvals/workflows.yaml``: the marketing manager, and the director from 100,000 yuan of planned
cost); when it is approved, :func:`on_journey_decision` activates the version that was asked for — a
newer version saved meanwhile is not switched on by an approval of an older one. A rejection leaves
the journey as it was. The callback is idempotent (activating an active journey changes nothing).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from jingyun import approvals
from jingyun.automation import registry
from jingyun.errors import JingyunError
from jingyun.store.db import Store


def request_activation(store: Store, settings: Any, key: str, *, requester: str, amount: Decimal | str = "0",
                       now: Any = None) -> approvals.ApprovalRequest:
    """Ask for ``key`` (its current version) to be turned on; ``amount``: the planned cost it may spend."""
    found = registry.get(store, key)
    if found.status == "active":
        raise JingyunError("bad_status", f"journey {key!r} is already active", "status", status=409)
    title = f"启用旅程 Activate journey {key} v{found.version}"[:200]
    return approvals.submit(store, settings, type="journey", amount=amount, title=title,
                            payload={"journey": key, "version": found.version}, requester=requester, now=now)


def on_journey_decision(store: Store, request: approvals.ApprovalRequest) -> None:
    if request.status != "approved":
        return
    key, version = str(request.payload.get("journey", "")), request.payload.get("version")
    current = registry.get(store, key)
    if version is not None and int(version) != current.version:
        raise JingyunError("stale_version", f"journey {key!r} is at version {current.version}, the approval was for "
                           f"version {version}; ask again", "version", status=409)
    registry.activate(store, key, by=f"approval:{request.id}")


approvals.on_decision("journey", on_journey_decision)
