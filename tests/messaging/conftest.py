"""Real parts for the messaging tests: a metadata store, an aiosmtpd SMTP server, a local HTTP receiver."""

from __future__ import annotations

import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message as EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from jingyun.config import Settings, load_settings
from jingyun.store.db import Store, open_store


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with socket.socket() as probe:  # a free port (aiosmtpd checks readiness by connecting to it)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def msettings(home: Any, smtp: tuple[Inbox, int]) -> Settings:
    return load_settings(home, smtp_port=smtp[1], smtp_host="127.0.0.1", smtp_from="ops@shop.cn",
                         messages_public_url="http://testserver")


@pytest.fixture
def store(msettings: Settings) -> Iterator[Store]:
    st = open_store(msettings)
    yield st
    st.close()


class Receiver:
    """A real HTTP server: answers each POST with the next code of ``codes`` (the last one repeats)."""

    def __init__(self) -> None:
        self.codes = [200]
        self.requests: list[tuple[dict[str, str], bytes]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.requests.append(({k: v for k, v in self.headers.items()}, body))
                code = owner.codes.pop(0) if len(owner.codes) > 1 else owner.codes[0]
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def json(self, i: int) -> Any:
        return json.loads(self.requests[i][1])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    t = threading.Thread(target=r.server.serve_forever, daemon=True)
    t.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


class Service:
    def __init__(self, app: Any, client: Any, tokens: dict[str, str]) -> None:
        self.app, self.client, self.tokens = app, client, tokens

    def as_(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
def service(msettings: Settings) -> Iterator[Service]:
    """The service app with the console mounted, and a bearer token per role."""
    from fastapi.testclient import TestClient

    from jingyun.api.app import app_state
    from jingyun.cli.serve import service_app
    from jingyun.security import auth

    app = service_app(msettings)
    state = app_state(app)
    tokens = {}
    for role in ("specialist", "analyst", "manager", "admin"):
        auth.create_person(state.store, username=f"p_{role}", password="messaging-test-password", role=role,
                           service=state.service)
        tokens[role] = auth.issue_token(state.service, f"p_{role}")
    with TestClient(app) as client:
        yield Service(app, client, tokens)
