"""The client side of the control channel: run this ``jingyun`` command through the home's service.

:func:`forward` is called by ``jingyun.cli.main.main`` before anything else. It answers ``None``
when the command runs here (no live service owns the home, or the command is one that runs
locally) and otherwise the command's exit status, after streaming its output. Files named on the
command line are made absolute against this process's working directory first: the service has
its own. A connection that ends without an exit status means the service stopped (``kill -9``): one
line, exit 2. Ctrl-C closes the connection, which cancels the command in the service.
"""

from __future__ import annotations

import os
import sys
import typing
from pathlib import Path
from typing import Any

from jingyun.control import ambient
from jingyun.control.owner import live_owner, recv_frame, send_frame
from jingyun.errors import JingyunError

# Commands that never go through the service: the service itself, `status` (it asks the service),
# the version, and the ones that read this shell's own credential file or prompt for a password
# (login, logout, whoami, admin: they use the metadata store, which many processes may open).
LOCAL = frozenset({"serve", "status", "version", "login", "logout", "whoami", "admin"})
# Commands refused while a service owns the home: `demo` deletes and rebuilds the warehouse file.
REFUSED = frozenset({"demo"})
SENT_ENV = ("COLUMNS", "LINES", "TERM", "COLORTERM", "NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE",
            "TTY_INTERACTIVE", "CLICOLOR", "CLICOLOR_FORCE")


def home_path() -> Path:
    from jingyun.config import _DEFAULT_HOME

    return Path(os.environ.get("JINGYUN_HOME") or _DEFAULT_HOME).expanduser().resolve()


def command_name(argv: list[str]) -> str | None:
    for token in argv:
        if not token.startswith("-"):
            return token
        return None  # a root option first (--help): local
    return None


def forward(argv: list[str]) -> int | None:
    """Run ``argv`` through the home's service and return its exit status; None to run it here."""
    if ambient.current() is not None:
        return None  # already inside the service
    name = command_name(argv)
    if name is None or name in LOCAL:
        return None
    found = live_owner(home_path())
    if found is None:
        return None
    owner, sock = found
    if name in REFUSED:
        sock.close()
        raise JingyunError("service_running", f"a service (pid {owner.pid}, {owner.http}) owns this home; "
                           f"stop it before `jingyun {name}`", "home", status=409)
    with sock:
        cwd = Path.cwd()
        env = {k: v for k, v in os.environ.items() if k.startswith("JINGYUN_") or k in SENT_ENV}
        env["JINGYUN_HOME"] = str(home_path())
        tty = {"stdout": _isatty(sys.stdout), "stderr": _isatty(sys.stderr)}
        if tty["stdout"] and "COLUMNS" not in env:  # the service has no terminal to measure
            try:
                size = os.get_terminal_size(sys.stdout.fileno())
                env["COLUMNS"], env["LINES"] = str(size.columns), str(size.lines)
            except (OSError, ValueError):
                pass
        sent = absolute_paths(argv, cwd)
        # what the command prints names each file as it was typed, as it would run here
        shown = {new: old for new, old in zip(sent, argv, strict=False) if new != old and not old.startswith("-")}
        send_frame(sock, {"op": "run", "argv": sent, "cwd": str(cwd), "env": env, "tty": tty})
        try:
            return _stream(sock, shown)
        except KeyboardInterrupt:
            # closing the connection cancels the command there; a chunk commits whole or not at all
            print("aborted", file=sys.stderr)
            return 130


def _stream(sock: Any, shown: dict[str, str]) -> int:
    while True:
        try:
            frame = recv_frame(sock)
        except (OSError, ValueError):
            frame = None
        if frame is None:
            raise JingyunError("service_stopped", "the service stopped during the command (the control connection "
                               "closed before it finished); committed chunks are kept, rerun it to finish", "service")
        kind = frame.get("t")
        if kind in ("out", "err"):
            text = str(frame.get("s", ""))
            for absolute, typed in shown.items():
                text = text.replace(absolute, typed)
            stream = sys.stdout if kind == "out" else sys.stderr
            try:
                stream.write(text)
                stream.flush()
            except BrokenPipeError:  # `jingyun ... | head`: stop reading; closing the socket cancels the rest
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
                return 1
        elif kind == "exit":
            return int(frame.get("code", 3))
        elif kind == "error":
            raise JingyunError(str(frame.get("code", "control_error")), str(frame.get("message", "")), "service")


def status(home: Path) -> dict[str, Any] | None:
    """The live service's status, or None when no live service owns ``home``."""
    found = live_owner(home)
    if found is None:
        return None
    _owner, sock = found
    with sock:
        send_frame(sock, {"op": "status"})
        frame = recv_frame(sock)
    if frame is None:
        return None
    if frame.get("t") == "error":
        raise JingyunError(str(frame.get("code")), str(frame.get("message")), "service")
    frame.pop("t", None)
    return frame


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


# -- paths ------------------------------------------------------------------------------------
def _is_path(annotation: Any) -> bool:
    if typing.get_origin(annotation) is None and isinstance(annotation, type):
        return issubclass(annotation, os.PathLike)
    return any(_is_path(arg) for arg in typing.get_args(annotation))


def _rest(ctx: Any) -> list[str]:
    # a group keeps the subcommand's name apart from its arguments (Click's protected args)
    protected = getattr(ctx, "_protected_args", None) or getattr(ctx, "protected_args", None) or []
    return [*protected, *ctx.args]


def absolute_paths(argv: list[str], cwd: Path) -> list[str]:
    """``argv`` with each relative path argument (a ``Path`` parameter of the command) made absolute,
    and relative path defaults given explicitly: the service resolves paths against its own directory."""
    try:
        return _absolute_paths(argv, cwd)
    except Exception:  # the parser will tell the user what is wrong, in the service
        return list(argv)


def _absolute_paths(argv: list[str], cwd: Path) -> list[str]:
    import typer.main

    from jingyun.cli.main import _register, app

    _register(list(argv))
    node: Any = typer.main.get_command(app)
    ctx = node.make_context("jingyun", list(argv), resilient_parsing=True)
    rest = _rest(ctx)
    depth = 0
    while hasattr(node, "get_command") and rest:
        sub = node.get_command(ctx, rest[0])
        if sub is None:
            return list(argv)
        ctx = sub.make_context(rest[0], rest[1:], parent=ctx, resilient_parsing=True)
        node, rest = sub, _rest(ctx)
        depth += 1
    relative: set[Path] = set()
    extra: list[str] = []
    for param in node.params:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or not _is_path(descriptor.annotation):
            continue
        value = ctx.params.get(param.name)
        values = value if isinstance(value, list | tuple) else [value]
        paths = [Path(v) for v in values if isinstance(v, str | os.PathLike) and str(v) != "-"]
        source = ctx.get_parameter_source(param.name) if hasattr(ctx, "get_parameter_source") else None
        from_default = source is not None and getattr(source, "name", "") == "DEFAULT"
        if from_default and getattr(param, "param_type_name", "") == "option" and paths and len(paths) == 1:
            if not paths[0].is_absolute():
                extra += [param.opts[0], str(cwd / paths[0])]
            continue
        relative.update(p for p in paths if not p.is_absolute())
    if not relative and not extra:
        return list(argv)
    out: list[str] = []
    seen_commands = 0
    for token in argv:
        if seen_commands < depth and not token.startswith("-"):
            seen_commands += 1  # the command path itself is never a file
            out.append(token)
            continue
        if token.startswith("--") and "=" in token:
            opt, _, val = token.partition("=")
            out.append(f"{opt}={cwd / val}" if val and Path(val) in relative else token)
        elif not token.startswith("-") and Path(token) in relative:
            out.append(str(cwd / token))
        else:
            out.append(token)
    return out + extra
