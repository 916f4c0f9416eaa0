"""Enum values in the reader's language (枚举值翻译): one place for every value shown to people.

Stored values stay what they are (``female``, ``true``, ``paid``, ``short_video``); what a person
reads goes through :func:`label` — the console's ``enum`` Jinja filter and the panels' tables (so
CSV/Excel downloads say the same as the screen). Labels come from, in order:

1. the catalogs ``i18n/enums.<locale>.json`` (key ``enum.<kind>.<value>``);
2. the names the library already owns: lifecycle stages (``segments.lifecycle.STAGES``), RFM
   groups (``segments.rfm.GROUP_NAMES``), event names from the workspace's tracking plan (its
   ``zh`` display name; English reads the name with spaces), tag names from the tag definitions;
3. the value itself — an unknown value is shown as stored, never hidden.

A kind is an enum name (``gender``, ``bool``, ``order_status``, ``channel``…), or says where the
value came from and lets this module pick: ``field:<column>`` (a users/orders column), ``tag:<name>``
(a tag's value, typed by the tag), a dimension (``users.gender``) or ``status`` (any status list).
A Python ``bool`` is always a boolean, whatever the kind.

Approvals and incidents: ``approval_type`` and ``incident_playbook`` (names from their own library — the workspace's
workflows, the playbook library), ``approval_position`` (``marketing.director`` → 市场部总监, ``general_manager``,
``superior``, ``person:<username>`` → the username), ``department``, ``org_title``, ``incident_source``,
``incident_status`` and ``incident_level`` (:data:`WORKFLOW_LABELS`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context

from jingyun.security import age_bands
from jingyun.web import i18n

STATUS_KINDS = ("order_status", "approval_status", "alert_status", "job_status", "delivery_status",
                "lifecycle_status", "light")
"""What ``status`` means when the caller does not know the list: each is tried in turn."""

FIELD_KINDS: dict[str, str] = {
    "gender": "gender", "channel": "channel", "member_level": "member_level", "platform": "platform",
    "is_test": "bool", "age_band": "age_band", "status": "status", "event": "event",
    "users.gender": "gender", "users.channel": "channel", "users.member_level": "member_level",
    "variation": "variation", "payment_method": "payment", "purpose": "purpose",
}
"""Columns and dimensions whose values are an enum. (``orders.channel`` holds the platform.)"""

TAG_KINDS: dict[str, str] = {
    "gender": "gender", "acquisition_channel": "channel", "member_level": "member_level",
    "lifecycle_stage": "lifecycle_stage", "rfm_group": "rfm_group", "age_band": "age_band",
    "active_daypart": "daypart", "activity_30d": "activity", "preferred_payment": "payment",
    "first_platform": "platform", "last_platform": "platform", "preferred_platform": "platform",
    "first_order_channel": "platform", "last_order_channel": "platform", "preferred_channel": "platform",
}
"""Tags whose values are an enum; a tag of type ``bool`` reads as a boolean."""

WORKFLOW_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "department": {
        "marketing": ("市场部", "Marketing"), "finance": ("财务部", "Finance"), "tech": ("技术部", "Tech"),
        "ops": ("运营部", "Operations"), "growth": ("增长部", "Growth"),
        "service": ("客服部", "Customer service"), "supply": ("供应链部", "Supply chain"),
        "legal": ("法务部", "Legal"), "pr": ("公关部", "PR"), "owner": ("指标负责部门", "Metric owner's"),
    },
    "org_title": {
        "specialist": ("运营专员", "Specialist"), "analyst": ("数据分析师", "Analyst"), "manager": ("经理", "Manager"),
        "director": ("总监", "Director"), "general_manager": ("总经理", "General manager"), "admin": ("管理员", "Admin"),
        "superior": ("直属上级", "Superior"),
    },
    "incident_source": {"manual": ("手动上报", "Manual"), "alert": ("告警触发", "Alert")},
    "incident_status": {"open": ("处理中", "Open"), "closed": ("已关闭", "Closed")},
    "incident_level": {"1": ("1 级", "Level 1"), "2": ("2 级", "Level 2"), "3": ("3 级", "Level 3")},
}
"""The organisation's and the incident desk's codes (approvals, incidents): departments and titles that make up an
approval position (``marketing.director``), incident sources, statuses and response levels. Request types and
playbooks are named by their own library (``approvals/workflows.yaml`` or the workspace's, ``playbooks.yaml``)."""

_TRUE = {"true", "1", "yes", "t", "y"}
_FALSE = {"false", "0", "no", "f", "n"}


def _norm_bool(value: Any) -> str:
    text = str(value).strip().lower()
    if text in _TRUE:
        return "true"
    if text in _FALSE:
        return "false"
    return str(value)


@functools.cache
def _tag_defs() -> Mapping[str, Any]:
    from jingyun.segments.tags import shipped_tags

    return shipped_tags()


@functools.lru_cache(maxsize=8)
def _plan_names(path: str, mtime: float) -> dict[str, str]:
    from jingyun.schema.tracking import DEFAULT_PLAN, load_plan

    plan = load_plan(Path(path)) or load_plan(DEFAULT_PLAN)
    return {name: spec.zh for name, spec in (plan.events.items() if plan else ()) if spec.zh}


def _event_names(settings: Any) -> dict[str, str]:
    from jingyun.schema.tracking import DEFAULT_PLAN

    path = Path(settings.tracking_plan_path) if settings is not None else DEFAULT_PLAN
    try:
        mtime = path.stat().st_mtime
    except OSError:
        path, mtime = DEFAULT_PLAN, 0.0
    return _plan_names(str(path), mtime)


def resolve(kind: str, value: Any = None, settings: Any = None) -> str:
    """The enum kind behind ``field:…``, ``tag:…`` or a dimension name; the kind itself otherwise."""
    if isinstance(value, bool):
        return "bool"
    head, _, name = kind.partition(":")
    if head == "field" and name:
        return FIELD_KINDS.get(name, FIELD_KINDS.get(name.rpartition(".")[2], "") if "." in name else "")
    if head == "tag" and name:
        if name in TAG_KINDS:
            return TAG_KINDS[name]
        tag = _tag_defs().get(name)
        if tag is None and settings is not None:
            from jingyun.segments.tags import load_tags

            tag = load_tags(settings).get(name)
        return "bool" if tag is not None and tag.type == "bool" else ""
    return FIELD_KINDS.get(kind, kind)


def _from_library(kind: str, value: str, locale: i18n.Locale, settings: Any) -> str | None:
    zh = locale == "zh-CN"
    if kind == "lifecycle_stage":
        from jingyun.segments.lifecycle import STAGES

        names = STAGES.get(value)
        return None if names is None else names[0 if zh else 1]
    if kind == "rfm_group":
        from jingyun.segments.rfm import GROUP_NAMES

        rfm = GROUP_NAMES.get(value)
        return None if rfm is None else rfm[0 if zh else 1]
    if kind == "event":
        if zh:
            return _event_names(settings).get(value)
        return value.replace("_", " ").capitalize() if value.isidentifier() else None
    if kind == "tag":
        tag = _tag_defs().get(value)
        return None if tag is None else (tag.zh if zh else tag.en)
    if kind == "approval_type":
        from jingyun.approvals.workflows import load_workflows

        wf = load_workflows(settings).types.get(value)
        return None if wf is None else (wf.zh if zh else wf.en)
    if kind == "incident_playbook":
        from jingyun.incidents import library

        pb = library().get(value)
        return None if pb is None else (pb.zh if zh else pb.en)
    if kind == "approval_position":
        return _position(value, locale)
    if kind in WORKFLOW_LABELS:
        names = WORKFLOW_LABELS[kind].get(value)
        return None if names is None else names[0 if zh else 1]
    return None


def _position(spec: str, locale: i18n.Locale) -> str | None:
    """``marketing.director`` → 市场部总监 / Marketing director; ``general_manager``, ``superior`` by title;
    ``person:<username>`` → the username. An unknown department keeps its name before the translated title."""
    zh = locale == "zh-CN"
    titles = WORKFLOW_LABELS["org_title"]
    if spec.startswith("person:"):
        return spec.partition(":")[2] or None
    if spec in titles:
        return titles[spec][0 if zh else 1]
    dept, dot, title = spec.rpartition(".")
    if not dot or title not in titles:
        return None
    known = WORKFLOW_LABELS["department"].get(dept)
    if zh:
        return f"{known[0] if known else dept + ' '}{titles[title][0]}"
    return f"{known[1] if known else dept} {titles[title][1].lower()}"


def label(kind: str, value: Any, locale: i18n.Locale, settings: Any = None) -> str:
    """``value`` of enum ``kind`` as a person reads it in ``locale``; "—" for no value."""
    if value is None or value == "":
        return "—"
    kind = resolve(kind, value, settings)
    if not kind:
        return str(value)
    text = _norm_bool(value) if kind == "bool" else str(value)
    if kind == "age_band":
        text = str(age_bands.normalise(text))
    catalog = i18n.catalog(locale)
    for k in (STATUS_KINDS if kind == "status" else (kind,)):
        found = catalog.get(f"enum.{k}.{text}")
        if found is not None:
            return found
    return _from_library(kind, text, locale, settings) or str(value)


_LIBRARY_KINDS = ("lifecycle_stage", "rfm_group", "event", "approval_type", "incident_playbook", "approval_position",
                  *WORKFLOW_LABELS)


def _positions() -> set[str]:
    """Every position the shipped workflows and playbooks name, and the titles that stand alone."""
    from jingyun.approvals.workflows import load_workflows
    from jingyun.incidents import library

    out = {"general_manager", "superior"}
    for wf in load_workflows().types.values():
        out |= {spec for tier in wf.tiers for stage in tier.stages for spec in stage}
    for pb in library().values():
        out |= {pb.first_responder, *pb.contacts}
    return {p for p in out if not p.startswith("person:")}


def values(kind: str, settings: Any = None) -> list[str]:
    """The stored values a kind knows (what an untranslated-token check looks for)."""
    prefix = f"enum.{kind}."
    out = {k[len(prefix):] for k in i18n.catalog("en") if k.startswith(prefix)}
    if kind == "lifecycle_stage":
        from jingyun.segments.lifecycle import STAGES

        out |= set(STAGES)
    elif kind == "rfm_group":
        from jingyun.segments.rfm import GROUP_NAMES

        out |= set(GROUP_NAMES)
    elif kind == "event":
        out |= set(_event_names(settings))
    elif kind == "approval_type":
        from jingyun.approvals.workflows import load_workflows

        out |= set(load_workflows(settings).types)
    elif kind == "incident_playbook":
        from jingyun.incidents import library

        out |= set(library())
    elif kind == "approval_position":
        out |= _positions()
    elif kind in WORKFLOW_LABELS:
        out |= set(WORKFLOW_LABELS[kind])
    return sorted(out)


def kinds() -> list[str]:
    return sorted({k.split(".")[1] for k in i18n.catalog("en") if k.startswith("enum.")} | set(_LIBRARY_KINDS))


def _locale_of(context: Context, lang: Any) -> tuple[i18n.Locale, Any]:
    ctx = context.get("ctx")
    settings = getattr(getattr(ctx, "state", None), "settings", None)
    if isinstance(lang, str):
        return i18n.parse_locale(lang), settings
    owner = getattr(lang, "__self__", None)  # a macro passes its ``t`` (ConsoleCtx.t): its owner knows the locale
    if owner is not None and hasattr(owner, "locale"):
        return owner.locale, getattr(getattr(owner, "state", None), "settings", settings)
    return (ctx.locale if ctx is not None else i18n.DEFAULT_LOCALE), settings


@pass_context
def jinja_filter(context: Context, value: Any, kind: str, lang: str | Callable[..., str] | None = None) -> str:
    """``{{ user.gender|enum('gender') }}``; inside a macro without the page's context, pass its ``t``:
    ``{{ v|enum(f.dim, t) }}``."""
    locale, settings = _locale_of(context, lang)
    return label(kind, value, locale, settings)
