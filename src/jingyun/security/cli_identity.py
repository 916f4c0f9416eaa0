"""Who is running the CLI: a signed-in person (``jingyun login``) or an API key.

The CLI has no self-declared role: commands that show personal data ask this
module for the caller's :class:`Principal`, the same object the API builds, so
``sees_raw`` means the same thing on both edges.

- ``jingyun login`` checks the password with :func:`auth.authenticate` (lockout
  and audit as at ``POST /auth/login``) and opens a row in the sessions table
  with :func:`auth.create_session`. Only that session's random token is kept,
  in ``$JINGYUN_HOME/cli-session.json``, created 0600 and refused if anyone
  else may read it. The row is what makes it revocable: ``jingyun logout``, a
  password reset, a disabled account or the session's expiry ends it
  server-side, and the next command is refused.
- An API key (``--api-key`` or ``JINGYUN_API_KEY``) is resolved with
  :func:`auth.api_key_principal`; keys never see raw personal data.

The credential gives accountability and role gating at the CLI edge. It is no
boundary against someone who can read the warehouse file itself: file modes
and encryption at rest protect that.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.security import auth
from jingyun.security.audit import Auditor
from jingyun.security.config import load_service_settings
from jingyun.security.roles import Principal
from jingyun.security.throttle import LoginThrottle
from jingyun.store import Store, open_store

CREDENTIAL_FILE = "cli-session.json"
API_KEY_ENV = "JINGYUN_API_KEY"
PASSWORD_ENV = "JINGYUN_PASSWORD"
# "off": ignore the signed-in session (the scheduler's jobs: a person's sign-in must not lend them its role)
SESSION_ENV = "JINGYUN_CLI_SESSION"
SIGN_IN = "sign in with `jingyun login` or pass a read API key (--api-key or JINGYUN_API_KEY)"


def credential_path(settings: Settings) -> Path:
    return settings.home / CREDENTIAL_FILE


@dataclass(frozen=True)
class Identity:
    """The caller of one command: a principal, or nobody (``principal is None``)."""

    principal: Principal | None

    @property
    def actor(self) -> str:
        """The audit actor: the credential's name, else the local account that ran the command."""
        if self.principal is not None:
            return self.principal.name
        try:
            return f"cli:{getpass.getuser()}"
        except (OSError, KeyError):  # no user name for this uid (containers)
            return f"cli:uid{os.getuid()}"

    @property
    def role(self) -> str:
        return self.principal.role if self.principal else ""

    @property
    def sees_raw(self) -> bool:
        return self.principal is not None and self.principal.sees_raw

    def require_raw(self, field: str) -> Principal:
        """The principal, when it may see personal data in clear; one actionable refusal otherwise."""
        if self.principal is None:
            raise JingyunError("login_required", f"personal data needs a credential: {SIGN_IN}", field, status=401)
        if not self.principal.sees_raw:
            who = "an API key" if self.principal.kind == "api_key" else f"your role ({self.principal.role})"
            raise JingyunError("forbidden", f"{who} does not see personal data in clear; leave out --{field} for "
                               "de-identified output, or sign in as a manager or admin", field, status=403)
        return self.principal


@contextlib.contextmanager
def _opened(settings: Settings) -> Iterator[Store]:
    store = open_store(settings)
    try:
        yield store
    finally:
        store.close()


# -- the credential file --------------------------------------------------------------------
def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 from the first byte (no window where it is readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)  # whatever the umask did
    os.replace(tmp, path)


def _read_token(path: Path) -> str | None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise JingyunError("credential_exposed", f"{path} may be read by other users: run `chmod 600 {path}` "
                           "or sign in again with `jingyun login`", "credential")
    try:
        token = json.loads(path.read_text(encoding="utf-8")).get("token")
    except (OSError, ValueError, AttributeError):
        token = None
    if not isinstance(token, str) or not token:
        raise JingyunError("bad_credential", f"{path} is not a CLI credential: sign in again with `jingyun login`",
                           "credential")
    return token


# -- sign in, sign out, resolve -------------------------------------------------------------
def login(settings: Settings, username: str, password: str) -> Principal:
    """Check the password and keep a new revocable session in the home; audited like the API's sign-in."""
    with _opened(settings) as store:
        return _login(settings, store, username, password)


def _login(settings: Settings, store: Store, username: str, password: str) -> Principal:
    service = load_service_settings(settings)
    auditor = Auditor(store, service, settings.timezone)
    # one process per command: the throttle's memory is this attempt's, the argon2 check sets the pace
    person = auth.sign_in(store, service, LoginThrottle(service), auditor, username=username, password=password,
                          address="cli", via="cli")
    path = credential_path(settings)
    with contextlib.suppress(JingyunError):  # a new sign-in replaces (and ends) the previous one
        old = _read_token(path)
        if old:
            auth.revoke_session(store, old)
    token = auth.create_session(store, service, person.id)
    principal = auth.session_principal(store, token)
    if principal is None:  # pragma: no cover - the row was written just above
        raise JingyunError("login_failed", "the session could not be opened; try again", "username")
    _write_private(path, json.dumps({"token": token, "username": principal.name,
                                     "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}))
    return principal


def logout(settings: Settings) -> str | None:
    """End the stored session server-side and delete the file.

    The name that was signed in; "" when the file held a session that had already ended; None without a file.
    """
    path = credential_path(settings)
    if not path.exists():
        return None
    try:
        token = _read_token(path)
    except JingyunError:
        token = None  # a broken or exposed file is removed all the same
    name = ""
    if token:
        with _opened(settings) as store:
            principal = auth.session_principal(store, token)
            auth.revoke_session(store, token)
            if principal is not None:
                name = principal.name
                Auditor(store, load_service_settings(settings), settings.timezone).log(
                    actor=principal.name, role=principal.role, action="logout", detail={"via": "cli"})
    path.unlink(missing_ok=True)
    return name


def resolve(settings: Settings, api_key: str | None = None) -> Identity:
    """The caller: an API key when one is given, else the stored session, else nobody.

    A credential that is given but no longer valid is refused, never silently
    downgraded: the user asked to act as someone and should learn it failed.
    """
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    if key:
        with _opened(settings) as store:
            principal = auth.api_key_principal(store, key.strip())
        if principal is None:
            raise JingyunError("bad_credential", "the API key is not valid (mistyped or revoked)", "api_key", status=401)
        if principal.scope != "read":
            raise JingyunError("forbidden", "an ingest key cannot read data: use a read key or `jingyun login`",
                               "api_key", status=403)
        return Identity(principal)
    if os.environ.get(SESSION_ENV, "").strip().lower() == "off":
        return Identity(None)
    token = _read_token(credential_path(settings))
    if token is None:
        return Identity(None)
    with _opened(settings) as store:
        principal = auth.session_principal(store, token)
    if principal is None:
        raise JingyunError("session_ended", "your CLI session has ended (signed out, password reset, account "
                           "disabled or expired): sign in again with `jingyun login`", "credential", status=401)
    return Identity(principal)


def audit(settings: Settings, identity: Identity, action: str, target: str, detail: dict[str, object]) -> None:
    """One audit entry for a personal read or export; ``detail`` carries counts and flags, never values."""
    with _opened(settings) as store:
        Auditor(store, load_service_settings(settings), settings.timezone).log(
            actor=identity.actor, role=identity.role, action=action, target=target, detail={**detail, "via": "cli"})
