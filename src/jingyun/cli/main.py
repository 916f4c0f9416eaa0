"""The ``jingyun`` command: a thin layer over the library.

While ``jingyun serve`` owns the home, commands that reach the warehouse run inside that
service (:mod:`jingyun.control`); their output and exit status are the same. Library errors
(:class:`JingyunError`) become a one-line message on stderr and
exit status 2; anything unexpected becomes one line and exit status 3 (set
``JINGYUN_DEBUG=1`` for the traceback). Never a traceback by default.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
import threading

import typer

from jingyun import __version__
from jingyun.errors import JingyunError, one_line

app = typer.Typer(
    name="jingyun",
    help="Jingyun (精运): refined-operations platform. 精细化运营平台。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Jingyun (精运): refined-operations platform. 精细化运营平台。"""


@app.command()
def version() -> None:
    """Print the version. 显示版本。"""
    typer.echo(__version__)


# The module of each top-level command whose name is not its module's. A command runs after
# importing only its own module (``jingyun funnel`` never imports scipy); help, and a name not found
# this way, register every module. tests/cli checks this table against the full registration.
MODULE_OF = {"check": "checks", "anomalies": "explain", "login": "identity", "logout": "identity",
             "whoami": "identity", "export-lake": "lake", "query": "lake", "messages": "send"}
_SKIP = ("main", "output")
_done: set[str] = set()
_all = False
_lock = threading.Lock()


def _names() -> set[str]:
    return {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands} | {
        g.name or "" for g in app.registered_groups}


def _load(module_name: str) -> None:
    if module_name in _done:
        return
    module = importlib.import_module(f"jingyun.cli.{module_name}")
    register = getattr(module, "register", None)
    if callable(register):
        register(app)
    _done.add(module_name)


def _register(argv: list[str] | None = None) -> None:
    """Add the commands of the module that ``argv`` names, or of every module in ``jingyun.cli``
    with a ``register(app)`` when ``argv`` is None, asks for help, or names no known command."""
    global _all
    with _lock:
        if _all:
            return
        name = argv[0] if argv and not argv[0].startswith("-") else None
        if name is not None and name in _names():
            return
        if name is not None:
            module_name = MODULE_OF.get(name, name)
            if module_name not in _SKIP and importlib.util.find_spec(f"jingyun.cli.{module_name}") is not None:
                _load(module_name)
                if name in _names():
                    return
        import jingyun.cli as package

        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
            if info.name not in _SKIP:
                _load(info.name)
        _all = True


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        from jingyun.control.client import forward

        # one owner per home: while a service owns it, the command runs there (see jingyun.control)
        forwarded = forward(args)
    except JingyunError as exc:
        typer.echo(f"error: {one_line(str(exc))}", err=True)
        return 2
    if forwarded is not None:
        return forwarded
    _register(args)
    try:
        app(args=args, standalone_mode=False)
    except JingyunError as exc:
        typer.echo(f"error: {one_line(str(exc))}", err=True)
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except Exception as exc:  # the edge: one line, never a traceback
        show = getattr(exc, "show", None)
        if callable(show) and hasattr(exc, "exit_code"):  # a usage error from the CLI parser
            show()
            return int(exc.exit_code)
        if os.environ.get("JINGYUN_DEBUG"):
            raise
        typer.echo(f"internal error: {type(exc).__name__}: {one_line(str(exc))} (set JINGYUN_DEBUG=1 for details)", err=True)
        return 3
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
