"""Plain helpers for the console tests (the fixtures stay in conftest.py).

A uniquely named module: every test folder has a conftest.py, so importing names from `conftest`
picks whichever folder's conftest was imported first."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Two saved segments refreshed at four successive as-of days: the size history the console draws.
SAVED = {"recent_buyers": {"orders": "count", "within_days": 30, "op": "gte", "value": 1},
         "active_viewers": {"event": "view_product", "within_days": 14, "count": {"op": "gte", "value": 2}}}
REFRESH_DAYS_BACK = (45, 30, 15, 0)


# -- the browser tests' parts: Debian's chromium through Playwright, the console served on a free port ------
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn on a free local port, in a thread; yields its base URL."""
    import uvicorn

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's chromium, headless (skips the test where it is not installed)."""
    import pytest

    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()
