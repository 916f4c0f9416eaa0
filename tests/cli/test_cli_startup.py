"""A command imports only its own module: `jingyun funnel` starts without scipy, pandas' plotting or the
alert engine. The table in cli/main.py that names each command's module is checked here against a full
registration, so a new command whose name is not its module's is either listed or found by name."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import textwrap

import typer

import jingyun.cli as package
from jingyun.cli.main import MODULE_OF


def _commands_of(module_name: str) -> set[str]:
    app = typer.Typer()
    register = getattr(importlib.import_module(f"jingyun.cli.{module_name}"), "register", None)
    if callable(register):
        register(app)
    return {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands} | {
        g.name or "" for g in app.registered_groups}


def test_every_command_is_found_in_one_module() -> None:
    owner: dict[str, str] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name in ("main", "output"):
            continue
        for name in _commands_of(info.name):
            assert name not in owner, f"{name} registered by {owner.get(name)} and {info.name}"
            owner[name] = info.name
    assert len(owner) > 40
    for name, module_name in owner.items():
        assert MODULE_OF.get(name, name) == module_name, f"add {name!r}: {module_name!r} to cli.main.MODULE_OF"
    assert set(MODULE_OF) <= set(owner), set(MODULE_OF) - set(owner)


def test_a_command_imports_only_its_own_module() -> None:
    probe = textwrap.dedent("""
        import sys
        from jingyun.cli.main import main
        code = main(["funnel", "--help"])
        heavy = sorted(m for m in ("scipy", "jingyun.ops.alerts", "jingyun.budgets", "jingyun.coupons",
                                   "jingyun.cli.alerts", "jingyun.cli.segment") if m in sys.modules)
        print(code, heavy)
    """)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == "0 []", out.stdout + out.stderr


def test_help_and_unknown_names_still_list_every_command() -> None:
    probe = textwrap.dedent("""
        from jingyun.cli.main import main
        main(["nosuchcommand"])
    """)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert "No such command" in out.stderr or "No such command" in out.stdout
    listing = subprocess.run([sys.executable, "-c", "from jingyun.cli.main import main; main(['--help'])"],
                             capture_output=True, text=True, timeout=120)
    for name in ("funnel", "alerts", "budget", "segment", "query", "whoami"):
        assert name in listing.stdout, name
