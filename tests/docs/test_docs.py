"""Docs stay true: every setting and every CLI command is documented."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from jingyun.config import SETTINGS_HELP

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _all_docs() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md")))


def _commands(app: typer.Typer, prefix: str = "jingyun") -> list[str]:
    out = []
    for info in app.registered_commands:
        name = info.name or (info.callback.__name__.replace("_", "-") if info.callback else "")
        out.append(f"{prefix} {name}")
    for group in app.registered_groups:
        if group.typer_instance is not None:
            out += _commands(group.typer_instance, f"{prefix} {group.name}")
    return out


def test_every_setting_is_in_the_guide() -> None:
    guide = (DOCS / "guide.md").read_text(encoding="utf-8")
    missing = [name for name in SETTINGS_HELP if f"`{name}`" not in guide]
    assert not missing, f"settings missing from docs/guide.md: {missing}"


def test_every_command_is_documented() -> None:
    from jingyun.cli.main import _register, app

    _register()
    docs = _all_docs()
    commands = [c for c in _commands(app) if c != "jingyun version"]
    assert len(commands) > 10
    missing = [c for c in commands if c not in docs]
    assert not missing, f"commands missing from docs/*.md: {missing}"


def test_guide_links_resolve() -> None:
    guide = (DOCS / "guide.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([\w.-]+\.md)\)", guide):
        assert (DOCS / target).exists(), target


def test_every_docs_page_is_linked_from_the_guide() -> None:
    guide = (DOCS / "guide.md").read_text(encoding="utf-8")
    pages = {p.name for p in DOCS.glob("*.md")} - {"guide.md"}
    assert not [p for p in sorted(pages) if f"]({p})" not in guide]


def test_readme_opens_with_the_two_commands() -> None:
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    head = readme.split("```")[1]
    assert "make demo" in head and "make test" in head
