"""Journeys (用户旅程): a trigger and a small graph of steps, defined in YAML or JSON.

A journey is parsed once, here, into a typed :class:`Journey`; every error names the spot
(``steps[2].duration``). Steps run in list order; each step goes to its ``next`` (default the
step after it in the list; ``end`` ends the journey). Targets must lie *later* in the list, so a
journey is a graph without cycles and every user leaves it in bounded time.

Step types:

- ``wait``: a ``duration``, or until an ``event`` (with ``where``) with a ``timeout``; on timeout the
  user goes to ``timeout_next`` (default ``end``);
- ``branch``: ``if`` a condition — did an event since entering (``event``), or a user attribute
  (``attr``, the one filter language) — then ``then`` else ``else``;
- ``split``: random variants by weight, through the experiments module's hashing (stable per user);
- ``action``: a ``channel`` (email, sms, push, wechat, webhook, inbox) with a ``template``, or
  ``coupon`` (a coupon template), ``tag``/``segment`` (add the user), ``task`` (for a person); a
  message may say ``at: best_time`` (default ``now``): the person waits at the step until the next
  start of their best local hour (:mod:`jingyun.automation.sendtime`), and the send and the steps
  after it happen then;
- ``goal``: reached when the goal event (or ``order``) happens within ``within`` of entering;
- ``exit``: leave here.

Journey-wide: ``priority`` (1–100, higher wins when journeys compete for a capped slot),
``entry_limit`` (default ``24h``: at most one entry per user per 24 h; ``once``: once ever),
``holdout`` (default 0.10: the share kept as a control group that receives nothing),
``exit_when`` (events that take a user out at once), ``on_cap``/``on_quiet_hours`` (``drop`` or
``wait``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from jingyun.automation.rules import EventMatch, Strict, Trigger, filters, seconds
from jingyun.errors import JingyunError, yaml_problem
from jingyun.warehouse.filters import Filter

MESSAGE_CHANNELS = ("email", "sms", "push", "wechat", "webhook", "inbox")
OTHER_ACTIONS = ("coupon", "tag", "segment", "task")
Channel = Literal["email", "sms", "push", "wechat", "webhook", "inbox", "coupon", "tag", "segment", "task"]
END = "end"
KEY = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
DEFAULT_ENTRY_LIMIT_S = 86400
DEFAULT_HOLDOUT = 0.10


def _duration(data: Any, name: str) -> Any:
    if isinstance(data, dict) and data.get(name) is not None and not isinstance(data[name], int):
        return {**data, name: seconds(data[name], name)}
    return data


class StepBase(Strict):
    id: str
    next: str | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not KEY.match(v) or v == END:
            raise ValueError(f"step id {v!r} must be lower-case letters, digits, - or _ (and not 'end')")
        return v


class WaitStep(StepBase):
    type: Literal["wait"] = "wait"
    duration: int | None = None
    event: EventMatch | None = None
    timeout: int | None = None
    timeout_next: str = END

    @model_validator(mode="before")
    @classmethod
    def _read(cls, data: Any) -> Any:
        data = _duration(_duration(data, "duration"), "timeout")
        if isinstance(data, dict) and isinstance(data.get("event"), str):
            data = {**data, "event": {"event": data["event"], "where": data.get("where")}}
            data.pop("where", None)
        return data

    @model_validator(mode="after")
    def _one(self) -> WaitStep:
        if (self.duration is None) == (self.event is None):
            raise ValueError("a wait has either a duration or an event (with a timeout)")
        if self.event is not None and self.timeout is None:
            raise ValueError("waiting for an event needs a timeout")
        return self


class Condition(Strict):
    """Did ``event`` happen since entering, or does the user attribute ``attr`` match ``op value``."""

    event: str | None = None
    where: tuple[Filter, ...] = ()
    attr: str | None = None
    op: str = "eq"
    value: Any = None

    @field_validator("where", mode="before")
    @classmethod
    def _where(cls, v: Any) -> tuple[Filter, ...]:
        return v if isinstance(v, tuple) else filters(v, "where")

    @model_validator(mode="after")
    def _one(self) -> Condition:
        if (self.event is None) == (self.attr is None):
            raise ValueError("a condition has either event or attr")
        return self

    @property
    def attr_filter(self) -> Filter:
        assert self.attr is not None
        from jingyun.warehouse.filters import parse

        return parse({"key": self.attr, "op": self.op, "value": self.value}, "if", code="bad_journey")


class BranchStep(StepBase):
    type: Literal["branch"] = "branch"
    if_: Condition = Field(alias="if")
    then: str
    else_: str = Field(default=END, alias="else")


class Variant(Strict):
    name: str
    weight: float = Field(gt=0)
    next: str


class SplitStep(StepBase):
    type: Literal["split"] = "split"
    variants: tuple[Variant, ...] = Field(min_length=2)


class ActionStep(StepBase):
    type: Literal["action"] = "action"
    channel: Channel
    template: str | None = None
    purpose: Literal["marketing", "service", "alert"] = "marketing"
    coupon: str | None = None
    tag: str | None = None
    segment: str | None = None
    assignee: str | None = None
    title: str | None = None
    at: Literal["now", "best_time"] = "now"

    @model_validator(mode="after")
    def _target(self) -> ActionStep:
        need = {"coupon": "coupon", "tag": "tag", "segment": "segment", "task": "assignee"}.get(self.channel, "template")
        if getattr(self, need) is None:
            raise ValueError(f"a {self.channel} action needs {need}")
        if self.at == "best_time" and not self.is_message:
            raise ValueError(f"at: best_time is for messages ({', '.join(MESSAGE_CHANNELS)}), not a {self.channel} action")
        return self

    @property
    def at_best_time(self) -> bool:
        return self.at == "best_time"

    @property
    def is_message(self) -> bool:
        return self.channel in MESSAGE_CHANNELS


class GoalStep(StepBase):
    type: Literal["goal"] = "goal"
    event: EventMatch
    within: int

    @model_validator(mode="before")
    @classmethod
    def _read(cls, data: Any) -> Any:
        data = _duration(data, "within")
        if isinstance(data, dict) and isinstance(data.get("event"), str):
            data = {**data, "event": {"event": data["event"], "where": data.get("where")}}
            data.pop("where", None)
        return data


class ExitStep(StepBase):
    type: Literal["exit"] = "exit"


Step = Annotated[WaitStep | BranchStep | SplitStep | ActionStep | GoalStep | ExitStep, Field(discriminator="type")]


class Journey(Strict):
    key: str
    name: str = ""
    description: str = ""
    trigger: Trigger
    steps: tuple[Step, ...] = Field(min_length=1)
    priority: int = Field(default=50, ge=1, le=100)
    entry_limit: int | None = DEFAULT_ENTRY_LIMIT_S
    holdout: float = Field(default=DEFAULT_HOLDOUT, ge=0, le=0.5)
    exit_when: tuple[EventMatch, ...] = ()
    on_cap: Literal["drop", "wait"] = "drop"
    on_quiet_hours: Literal["drop", "wait"] = "wait"

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        if not KEY.match(v):
            raise ValueError(f"journey key {v!r} must be lower-case letters, digits, - or _")
        return v

    @field_validator("exit_when", mode="before")
    @classmethod
    def _exits(cls, v: Any) -> Any:
        return [{"event": e} if isinstance(e, str) else e for e in v] if isinstance(v, list) else v

    @model_validator(mode="before")
    @classmethod
    def _limit(cls, data: Any) -> Any:
        if isinstance(data, dict) and "entry_limit" in data:
            raw = data["entry_limit"]
            data = {**data, "entry_limit": None if raw == "once" else seconds(raw, "entry_limit")}
        return data

    @model_validator(mode="after")
    def _graph(self) -> Journey:
        index: dict[str, int] = {}
        for i, step in enumerate(self.steps):
            if step.id in index:
                raise ValueError(f"steps[{i}].id: step id {step.id!r} is used twice")
            index[step.id] = i
        for i, step in enumerate(self.steps):
            for name, target in targets(step, self.steps, i):
                if target != END and target not in index:
                    raise ValueError(f"steps[{i}].{name}: no step {target!r}")
                if target != END and index[target] <= i:
                    raise ValueError(f"steps[{i}].{name}: {target!r} must come later in the list (no cycles)")
        return self

    @property
    def entry_limit_label(self) -> str:
        return "once" if self.entry_limit is None else f"{self.entry_limit}s"

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)


def targets(step: Any, steps: tuple[Any, ...], i: int) -> list[tuple[str, str]]:
    """(field, step id) pairs a step may go to."""
    default = step.next or (steps[i + 1].id if i + 1 < len(steps) else END)
    if isinstance(step, ExitStep):
        return []
    if isinstance(step, BranchStep):
        return [("then", step.then), ("else", step.else_)]
    if isinstance(step, SplitStep):
        return [(f"variants[{j}].next", v.next) for j, v in enumerate(step.variants)]
    if isinstance(step, WaitStep) and step.event is not None:
        return [("next", default), ("timeout_next", step.timeout_next)]
    return [("next", default)]


def _where(loc: tuple[Any, ...], data: Any) -> str:
    """A pydantic location as the journey's own path (``steps[2].duration``), union tags left out."""
    out = ""
    node = data
    skipped = False
    for k, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            continue
        tags = {"event", "segment", "date", "schedule", "metric", "wait", "branch", "split", "action", "goal", "exit"}
        if isinstance(node, dict) and part in tags and not skipped and (
                part not in node or (node.get("type") == part and k + 1 < len(loc))):
            skipped = True
            continue  # a discriminated-union tag (once: a field may share its name, as a metric trigger's metric)
        skipped = False
        out += ("." if out else "") + str(part)
        node = node.get(part) if isinstance(node, dict) else None
    return out or "journey"


def parse_journey(data: Any, origin: str = "journey") -> Journey:
    """A journey from its parsed YAML/JSON; errors are :class:`JingyunError` ``bad_journey`` naming the field."""
    if not isinstance(data, dict):
        raise JingyunError("bad_journey", f"{origin}: a journey is a mapping with key, trigger and steps", "journey")
    try:
        return Journey.model_validate(data)
    except JingyunError:
        raise
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = str(err["msg"]).removeprefix("Value error, ")
        where = _where(tuple(err["loc"]), data)
        if ": " in msg and msg.split(": ", 1)[0].startswith("steps["):
            where, msg = msg.split(": ", 1)
        raise JingyunError("bad_journey", f"{origin}: {msg}", where) from None


def load_text(text: str, origin: str = "journey") -> Journey:
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise JingyunError("bad_journey", f"{origin}: not valid JSON: {exc}", "journey") from None
    except yaml.YAMLError as exc:
        raise JingyunError("bad_journey", f"{origin}: not valid YAML: {yaml_problem(exc)}", "journey") from None
    return parse_journey(data, origin)


def load_file(path: Path) -> Journey:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise JingyunError("bad_journey", f"cannot read {path}: {exc.strerror}", "file") from None
    return load_text(text, path.name)


def to_data(journey: Journey) -> dict[str, Any]:
    """The journey as JSON-able data that :func:`parse_journey` reads back to an equal journey."""
    def filt(fs: tuple[Filter, ...]) -> list[dict[str, Any]]:
        return [{"key": f.field, "op": f.op, "value": list(f.value) if isinstance(f.value, tuple) else f.value}
                for f in fs]

    def walk(node: Any) -> Any:
        if isinstance(node, Filter):
            return filt((node,))[0]
        if isinstance(node, dict) and set(node) == {"field", "op", "value"}:  # a Filter as model_dump wrote it
            return filt((Filter(node["field"], node["op"], tuple(node["value"]) if isinstance(node["value"], list)
                                else node["value"]),))[0]
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [walk(v) for v in node]
        return node

    data = walk(journey.model_dump(by_alias=True, exclude_none=True))
    data["entry_limit"] = "once" if journey.entry_limit is None else journey.entry_limit
    for step in data["steps"]:
        for name in ("duration", "timeout", "within"):
            if name in step:
                step[name] = f"{step[name]}s"
        if step.get("at") == "now":  # the default: left out, so definitions saved before it read the same
            del step["at"]
    _absence_back(data["trigger"])
    return data


def _absence_back(trigger: dict[str, Any]) -> None:
    absent = trigger.get("absent")
    if isinstance(absent, dict) and "within_s" in absent:
        absent["within"] = f"{absent.pop('within_s')}s"
