"""The playbook library shipped in the package (``playbooks.yaml``): first responder, steps, contacts, level."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from jingyun.errors import JingyunError

LIBRARY = Path(__file__).with_name("playbooks.yaml")
LEVEL_HOURS = {1: 24, 2: 48, 3: 72}  # response level → hours to resolve (the playbook: 一级24h, 二级48h, 三级72h)
_SPEC = re.compile(r"^(general_manager|person:\S{1,100}|[A-Za-z0-9_-]{1,100}\.(manager|director))$")


@dataclass(frozen=True)
class Playbook:
    key: str
    zh: str
    en: str
    default_level: int
    first_responder: str
    contacts: tuple[str, ...]
    steps: tuple[tuple[str, str], ...]  # (zh, en)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "zh": self.zh, "en": self.en, "default_level": self.default_level,
                "first_responder": self.first_responder, "contacts": list(self.contacts),
                "steps": [{"zh": zh, "en": en} for zh, en in self.steps]}


@lru_cache(maxsize=1)
def library() -> dict[str, Playbook]:
    data = yaml.safe_load(LIBRARY.read_text(encoding="utf-8"))
    out: dict[str, Playbook] = {}
    for key, raw in data.items():
        for spec in [raw["first_responder"], *raw.get("contacts", [])]:
            if not _SPEC.match(spec):
                raise JingyunError("bad_playbook", f"{key}: {spec!r} is not a position", f"{key}.first_responder")
        if raw["default_level"] not in LEVEL_HOURS:
            raise JingyunError("bad_playbook", f"{key}: default_level is 1, 2 or 3", f"{key}.default_level")
        out[key] = Playbook(key, raw["zh"], raw["en"], int(raw["default_level"]), raw["first_responder"],
                            tuple(raw.get("contacts", [])), tuple((s["zh"], s["en"]) for s in raw["steps"]))
    return out


def playbook(key: str) -> Playbook:
    lib = library()
    if key not in lib:
        raise JingyunError("unknown_playbook", f"no playbook {key!r}; playbooks: {', '.join(sorted(lib))}",
                           "playbook", status=422)
    return lib[key]


def check_level(level: int) -> int:
    if isinstance(level, bool) or level not in LEVEL_HOURS:
        raise JingyunError("bad_level", "the response level is 1 (24 h), 2 (48 h) or 3 (72 h)", "level", status=422)
    return level
