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
# positions: general_manager | person:<username> | <department>.<title>; the department ``owner`` stands for the
# department that owns what the incident is about (the alert's department), resolved when the incident opens
_SPEC = re.compile(r"^(general_manager|person:\S{1,100}|[A-Za-z0-9_-]{1,100}\.(manager|director))$")
OWNER = "owner"
COLOURS = ("red", "yellow", "blue", "green")


@dataclass(frozen=True)
class Playbook:
    key: str
    zh: str
    en: str
    default_level: int
    first_responder: str
    contacts: tuple[str, ...]
    steps: tuple[tuple[str, str], ...]  # (zh, en)
    levels: tuple[tuple[str, int], ...] = ()  # alert colour → response level, where the playbook sets them

    def level_for(self, colour: str) -> int | None:
        """The response level an alert of ``colour`` opens this playbook at, or None when it sets none."""
        return dict(self.levels).get(colour)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "zh": self.zh, "en": self.en, "default_level": self.default_level,
                "first_responder": self.first_responder, "contacts": list(self.contacts),
                "steps": [{"zh": zh, "en": en} for zh, en in self.steps], "levels": dict(self.levels)}


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
        levels = raw.get("levels") or {}
        for colour, level in levels.items():
            if colour not in COLOURS or level not in LEVEL_HOURS:
                raise JingyunError("bad_playbook", f"{key}: levels map an alert colour ({', '.join(COLOURS)}) "
                                   "to 1, 2 or 3", f"{key}.levels.{colour}")
        out[key] = Playbook(key, raw["zh"], raw["en"], int(raw["default_level"]), raw["first_responder"],
                            tuple(raw.get("contacts", [])), tuple((s["zh"], s["en"]) for s in raw["steps"]),
                            tuple((str(c), int(v)) for c, v in levels.items()))
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
