"""Users (用户): segments with sizes, the audience builder with a live estimate, RFM grid,
lifecycle, transition matrix and the 360° profile (masked by role, audited)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse

from jingyun.api.deps import deny_object, request_id
from jingyun.api.routers.users import fetch_users, present
from jingyun.errors import JingyunError
from jingyun.security.roles import ALL_DEPARTMENTS
from jingyun.segments import saved
from jingyun.segments.audience import guard
from jingyun.segments.lifecycle import STAGES, compute_lifecycle
from jingyun.segments.rfm import compute_rfm
from jingyun.segments.snapshots import Transitions, compare_snapshots, current_groups, transitions
from jingyun.segments.store import SavedSegment, SegmentStore, check_segment_name, tree_rule
from jingyun.warehouse.users import activity
from jingyun.web.context import ConsoleCtx, page_ctx
from jingyun.web.errors import ConsoleRoute
from jingyun.web.filters import parse_filters
from jingyun.web.panels import (
    Callout,
    Column,
    PanelData,
    Spark,
    Table,
    bar_option,
    base_option,
    line_option,
    panel,
)
from jingyun.web.segment_trends import segment_trends

router = APIRouter(route_class=ConsoleRoute)  # ordinary mistakes are pages (web.errors)


def _segments(ctx: ConsoleCtx) -> dict[str, SavedSegment]:
    return SegmentStore(ctx.state.settings, ctx.state.store).segments()


def _segment(ctx: ConsoleCtx, name: str) -> SavedSegment:
    """One segment by name; another department's answers like a missing one (BOLA)."""
    seg = SegmentStore(ctx.state.settings, ctx.state.store).get_segment(name)  # unknown: the library's 404
    if seg.department is not None and ctx.principal.role not in ALL_DEPARTMENTS \
            and seg.department not in _department_names(ctx):
        raise JingyunError("unknown_segment", f"no saved segment {name!r}; see `jingyun segment list`", "name",
                           status=404)
    return seg


def _visible_segments(ctx: ConsoleCtx) -> dict[str, SavedSegment]:
    """Workspace segments and, for specialists and managers, their own departments' (others' stay unnamed)."""
    mine = _department_names(ctx)
    return {n: s for n, s in _segments(ctx).items()
            if s.department is None or ctx.principal.role in ALL_DEPARTMENTS or s.department in mine}


def _department_names(ctx: ConsoleCtx) -> set[str]:
    from sqlalchemy import select

    from jingyun.store import Department

    with ctx.state.store.session() as ses:
        return set(ses.scalars(select(Department.name).where(Department.id.in_(sorted(ctx.principal.departments)
                                                                                or [-1]))))


SegViewer = Annotated[ConsoleCtx, Depends(page_ctx("segments:view"))]
ProfileReader = Annotated[ConsoleCtx, Depends(page_ctx("profile:read"))]
Builder = Annotated[ConsoleCtx, Depends(page_ctx("segments:create"))]


@router.get("/users", response_class=HTMLResponse)
def users_page(ctx: SegViewer) -> HTMLResponse:
    f = parse_filters(ctx, dict(ctx.request.query_params))
    return ctx.render("users.html", f=f)


@panel("segments", "segments:view", pinnable=False)
def segments(ctx: ConsoleCtx, params: Mapping[str, str]) -> PanelData:
    """Every segment the viewer may see (made here, by the CLI or the API: one table), each with its size
    now and its trend. Department segments show only to their departments; workspace ones to everyone."""
    rows: list[list[Any]] = []
    with ctx.reader() as wh:
        segs = _visible_segments(ctx)
        trends = segment_trends(wh, sorted(segs))
        for seg in segs.values():
            est = saved.estimate(wh, seg.rule)
            spark = Spark(tuple(trends[seg.name].sizes), "/console/users/segment?" + urlencode({"name": seg.name}))
            shown = est.shown(sees_raw=ctx.principal.sees_raw, threshold=ctx.state.service.min_count)
            rows.append([seg.zh if ctx.locale == "zh-CN" and seg.zh else (seg.en or seg.name),
                         seg.department or ctx.t("seg.audience"), shown["size"], shown["share"], spark])
    opt = bar_option([str(r[0]) for r in rows], [(ctx.t("col.size"), [r[2] for r in rows])], horizontal=True)
    opt["yAxis"]["inverse"] = True
    table = Table([Column(ctx.t("col.segment")), Column(ctx.t("col.owner")), Column(ctx.t("col.size"), "int"),
                   Column(ctx.t("col.share"), "pct"), Column(ctx.t("col.size_trend"), "spark")], rows)
    # the empty list names the action that makes one (the builder's save button) to those who may use it
    callouts = [] if rows else [Callout("info", ctx.t("msg.no_segments_save" if ctx.may("segments:create")
                                                      else "msg.no_segments_none"))]
    # The list is the view (sizes with their trend sparklines); the bar chart is the other view.
    return PanelData(ctx.t("panel.segments"), table, opt if rows else None, callouts,
                     chart_height=max(160, 28 * len(rows) + 60), extra={"table_first": True})


@router.get("/users/segment", response_class=HTMLResponse)
def segment_page(ctx: SegViewer, name: str = "") -> HTMLResponse:
    seg = _segment(ctx, name)
    title = seg.zh if ctx.locale == "zh-CN" and seg.zh else (seg.en or seg.name)
    return ctx.render("segment.html", seg=seg, title=title, query=urlencode({"name": seg.name}))


@panel("segment_trend", "segments:view")
def segment_trend(ctx: ConsoleCtx, params: Mapping[str, str]) -> PanelData:
    """One saved segment's size after each refresh, with the entries and exits of that refresh."""
    name = params.get("name", "")
    seg = _segment(ctx, name)
    with ctx.reader() as wh:
        trend = segment_trends(wh, [seg.name])[seg.name]
    x = [p.at.strftime("%Y-%m-%d %H:%M:%S") for p in trend.points]
    opt = line_option(x, [(ctx.t("col.size"), trend.sizes)])
    opt["series"][0].update({"showSymbol": True, "areaStyle": {"opacity": 0.12}})
    opt["xAxis"]["axisLabel"] = {"hideOverlap": True}
    table = Table([Column(ctx.t("col.refreshed_at")), Column(ctx.t("col.entries"), "int"),
                   Column(ctx.t("col.exits"), "int"), Column(ctx.t("col.size"), "int")],
                  [[t, p.entries, p.exits, p.size] for t, p in zip(x, trend.points, strict=True)])
    callouts = [Callout("info", ctx.t("msg.trend_from_refreshes"))] if trend.points else [
        Callout("info", ctx.t("msg.no_refreshes"))]
    return PanelData(ctx.t("panel.segment_trend"), table, opt if trend.points else None, callouts)


@panel("rfm", "segments:view")
def rfm(ctx: ConsoleCtx, params: Mapping[str, str]) -> PanelData:
    with ctx.reader() as wh:
        res = compute_rfm(wh)
    name = (lambda g: g.zh) if ctx.locale == "zh-CN" else (lambda g: g.en)
    opt = base_option()
    opt["tooltip"] = {"trigger": "item"}
    opt["series"] = [{"type": "treemap", "roam": False, "nodeClick": False, "breadcrumb": {"show": False},
                      "data": [{"name": f"{name(g)}\n{g.size:,}", "value": g.size} for g in res.groups if g.size]}]
    table = Table([Column(ctx.t("col.group")), Column(ctx.t("col.users"), "int"), Column(ctx.t("col.share"), "pct"),
                   Column(ctx.t("col.monetary"), "money"), Column(ctx.t("col.value_share"), "pct")],
                  [[name(g), g.size, g.share, g.monetary, g.value_share] for g in res.groups])
    return PanelData(ctx.t("panel.rfm"), table, opt, [Callout("info", ctx.t("msg.rfm", n=f"{res.customers:,}"))])


@panel("lifecycle", "segments:view")
def lifecycle(ctx: ConsoleCtx, params: Mapping[str, str]) -> PanelData:
    with ctx.reader() as wh:
        res = compute_lifecycle(wh)
    label = [s.zh if ctx.locale == "zh-CN" else s.en for s in res.stages]
    opt = bar_option(label, [(ctx.t("col.users"), [s.users for s in res.stages])])
    opt["series"][0]["label"] = {"show": True, "position": "top", "formatter": "jy:int"}
    table = Table([Column(ctx.t("col.stage")), Column(ctx.t("col.users"), "int"), Column(ctx.t("col.share"), "pct")],
                  [[lb, s.users, s.share] for lb, s in zip(label, res.stages, strict=True)])
    return PanelData(ctx.t("panel.lifecycle"), table, opt)


def _stage_transitions(ctx: ConsoleCtx, params: Mapping[str, str]) -> tuple[Transitions, Callable[[str], str]]:
    """The transition matrix both the heat-map and the Sankey draw: two saved snapshots when named
    (``snap_from``/``snap_to``, e.g. ``2026-09``/``2026-10``), else the groups at the start and end of the range."""
    scheme = params.get("scheme", "lifecycle")
    if scheme not in ("lifecycle", "rfm"):
        raise JingyunError("bad_scheme", "scheme must be lifecycle or rfm", "scheme")
    snap_from, snap_to = params.get("snap_from", ""), params.get("snap_to", "")
    with ctx.reader() as wh:
        if snap_from or snap_to:
            tr = compare_snapshots(wh, scheme, snap_from, snap_to)
        else:
            f = parse_filters(ctx, params)
            start = dt.datetime.combine(f.date_from, dt.time())
            end = dt.datetime.combine(f.date_to + dt.timedelta(days=1), dt.time())
            tr = transitions(current_groups(wh, scheme, as_of=start), current_groups(wh, scheme, as_of=end),
                             scheme=scheme, from_label=f.date_from.isoformat(), to_label=f.date_to.isoformat())

    def label(g: str) -> str:
        names = STAGES.get(g) if scheme == "lifecycle" else None
        return (names[0] if ctx.locale == "zh-CN" else names[1]) if names else g
    return tr, label


@panel("transitions", "segments:view")
def transition_matrix(ctx: ConsoleCtx, params: Mapping[str, str]) -> PanelData:
    """Who moved between lifecycle stages from the start to the end of the range."""
    tr, label = _stage_transitions(ctx, params)
    groups = stage_order(tr.groups)  # rows and columns in the lifecycle bars' order
    data = [[j, i, tr.matrix[a][b]] for i, a in enumerate(groups) for j, b in enumerate(groups)]
    opt = base_option()
    opt.update({"tooltip": {"position": "top"}, "grid": {"left": 100, "right": 20, "top": 40, "bottom": 80},
                "xAxis": {"type": "category", "data": [label(g) for g in groups], "axisLabel": {"rotate": 30},
                          "position": "top", "name": ctx.t("label.to_stage", at=tr.to_label),
                          "nameLocation": "middle", "nameGap": 28},
                "yAxis": {"type": "category", "data": [label(g) for g in groups], "inverse": True,
                          "name": ctx.t("label.from_stage", at=tr.from_label), "nameLocation": "middle",
                          "nameGap": 84},
                "visualMap": {"min": 0, "max": max([v for *_, v in data] or [1]), "show": False,
                              "inRange": {"color": ["#f8fafc", "#7c3aed"]}},
                "series": [{"type": "heatmap", "data": data, "label": {"show": True, "formatter": "jy:int"}}]})
    table = Table([Column(ctx.t("col.from")), *[Column(label(g), "int") for g in groups]],
                  [[label(a), *[tr.matrix[a][b] for b in groups]] for a in groups])
    return PanelData(ctx.t("panel.transitions"), table, opt,
                     [Callout("info", ctx.t("msg.transitions", moved=f"{tr.moved:,}", stayed=f"{tr.stayed:,}"))],
                     chart_height=380)


def stage_order(groups: list[str]) -> list[str]:
    """Lifecycle stages in their own order (new → … → churned, as the lifecycle bars), others after."""
    rank = {g: i for i, g in enumerate(STAGES)}
    return sorted(groups, key=lambda g: (rank.get(g, len(rank)), g))


def sankey_links(tr: Transitions, label: Callable[[str], str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Sankey nodes and links from a transition matrix: one link per non-empty (from, to) cell.

    The two sides get distinct node names (suffixed with the snapshot label) because a Sankey
    must be acyclic and "active → active" would otherwise be a loop."""
    def side(g: str, lab: str) -> str:
        return f"{label(g)} · {lab}"
    links = [{"source": side(a, tr.from_label), "target": side(b, tr.to_label), "value": n}
             for a in tr.groups for b in tr.groups if (n := tr.matrix[a][b])]
    used = {lk["source"] for lk in links} | {lk["target"] for lk in links}
    nodes = [{"name": n} for n in [*(side(g, tr.from_label) for g in tr.groups),
                                    *(side(g, tr.to_label) for g in tr.groups)] if n in used]
    return nodes, links


@panel("lifecycle_flow", "segments:view")
def lifecycle_flow(ctx: ConsoleCtx, params: Mapping[str, str]) -> PanelData:
    """Stage flows between two snapshots as a Sankey (生命周期流转): the transition matrix's cells as links."""
    tr, label = _stage_transitions(ctx, params)
    nodes, links = sankey_links(tr, label)
    opt = base_option()
    opt.update({"tooltip": {"trigger": "item"},
                "series": [{"type": "sankey", "left": 8, "right": 140, "top": 12, "bottom": 12, "nodeGap": 10,
                            "emphasis": {"focus": "adjacency"}, "lineStyle": {"color": "gradient", "opacity": 0.35},
                            "label": {"fontSize": 11}, "data": nodes, "links": links}]})
    table = Table([Column(ctx.t("col.from")), Column(ctx.t("col.to")), Column(ctx.t("col.users"), "int")],
                  [[lk["source"], lk["target"], lk["value"]] for lk in links])
    callouts = [Callout("info", ctx.t("msg.flow", a=tr.from_label, b=tr.to_label, moved=f"{tr.moved:,}"))]
    return PanelData(ctx.t("panel.lifecycle_flow"), table, opt if links else None, callouts,
                     chart_height=max(320, 26 * len(nodes)))


def _audience(ctx: ConsoleCtx, status_code: int = 200, **values: Any) -> HTMLResponse:
    """The rule tree's editors offer what the library accepts: its attributes (with their value
    types, so the script sends numbers as numbers), operators, order aggregates, tags and segments;
    the save form offers the departments the caller may save into."""
    from jingyun.segments.audience import ATTRIBUTES, OPS, ORDER_METRICS
    from jingyun.segments.tags import tag_types

    present = attribute_values(ctx)
    first = present.get("member_level") or next(iter(present.values()), [])
    default = {"and": [{"attr": "member_level" if "member_level" in present else next(iter(present), "member_level"),
                        "op": "eq", "value": first[0][0] if first else ""}]}
    return ctx.render("audience.html", status_code=status_code, f=parse_filters(ctx, {}), attr_types=ATTRIBUTES,
                      attr_values=present, default_rule=json.dumps(default, ensure_ascii=False),
                      all_ops=OPS, count_ops=("gte", "gt", "eq", "neq", "lte", "lt", "between"),
                      filter_ops=("eq", "neq", "in", "not_in", "gt", "gte", "lt", "lte", "contains"),
                      metrics=list(ORDER_METRICS), tag_types=tag_types(ctx.state.settings),
                      segments=sorted(_visible_segments(ctx)), departments=_save_departments(ctx),
                      any_department=ctx.principal.saves_workspace, **values)


# Attributes whose values the builder offers as a pick list (low cardinality, not personal data)
PICKED_ATTRIBUTES = ("member_level", "channel", "gender", "province", "city")


def attribute_values(ctx: ConsoleCtx, limit: int = 100) -> dict[str, list[tuple[str, int]]]:
    """The values present per pickable attribute with how many users hold each, most common first (what the
    builder's value picker and its default offer: a default that matches no one is no default)."""
    from jingyun.segments.audience import ATTRIBUTES

    out: dict[str, list[tuple[str, int]]] = {}
    with ctx.reader() as wh:
        for attr in PICKED_ATTRIBUTES:
            if attr in ATTRIBUTES:
                rows = wh.rows(f"SELECT CAST({attr} AS VARCHAR) v, count(*) n FROM users WHERE {attr} IS NOT NULL "
                               f"GROUP BY 1 ORDER BY n DESC, v LIMIT {int(limit)}")
                out[attr] = [(str(v), int(n)) for v, n in rows]
    return out


@router.get("/users/audience", response_class=HTMLResponse)
def audience_page(ctx: Builder) -> HTMLResponse:
    return _audience(ctx)


def _save_departments(ctx: ConsoleCtx) -> list[str]:
    """Where the caller may save: an admin anywhere (or nowhere: a workspace segment), everyone else
    only in their own departments, as ``POST /api/v1/segments`` allows."""
    if ctx.principal.role == "admin":
        from sqlalchemy import select

        from jingyun.store import Department

        with ctx.state.store.session() as ses:
            return sorted(ses.scalars(select(Department.name)))
    return sorted(_department_names(ctx))


# the library's refusals, said in the reader's language (the library's own text stays as the detail)
SAVE_MESSAGES = {"segment_exists": "save.err_exists", "bad_name": "save.err_name", "pins_person": "save.err_personal",
                 "sensitive_field": "save.err_personal", "bad_json": "msg.bad_json"}


@dataclass(frozen=True)
class SaveOutcome:
    """What the save form shows: the saved segment with its size, or the refusal with its field."""

    status: int
    message: str
    field: str = ""
    detail: str = ""
    name: str = ""
    size: Any = None


def _save(ctx: ConsoleCtx, name: str, department: str, rule_text: str) -> SaveOutcome:
    try:
        check_segment_name(name, "name")
        try:
            rule = json.loads(rule_text)
        except json.JSONDecodeError:
            raise JingyunError("bad_json", "the rule is not JSON", "rule", status=422) from None
        if not isinstance(rule, dict):
            raise JingyunError("bad_rule", "a rule is a JSON object", "rule", status=422)
        guard(tree_rule(rule), sees_raw=ctx.principal.sees_raw)  # no rule that singles a person out
        store = SegmentStore(ctx.state.settings, ctx.state.store)
        if department == "" and not ctx.principal.saves_workspace:  # an admin, or an analyst who has no department
            return SaveOutcome(422, ctx.t("save.err_pick_department"), "department")
        if department and ctx.principal.role != "admin" and department not in _department_names(ctx):
            deny_object(ctx.state, ctx.request, ctx.principal, "department", "department")  # audited as denied
            return SaveOutcome(403, ctx.t("save.err_department", department=department), "department")
        dep_id = store.department_id(department) if department else None
        if department and dep_id is None:
            return SaveOutcome(422, ctx.t("save.err_no_department", department=department), "department")
        with ctx.reader() as wh:  # never save a rule that does not compile; the size goes in the answer
            est = saved.estimate(wh, rule)
        seg = store.save_segment(SavedSegment(name, rule, owner=ctx.principal.name, created_by=ctx.principal.name),
                                 department_id=dep_id)
    except JingyunError as exc:
        key = SAVE_MESSAGES.get(exc.code)
        message = ctx.t(key, name=name) if key else exc.message
        return SaveOutcome(exc.status if 400 <= exc.status < 500 else 422, message, exc.field or "",
                           exc.message if key else "")
    # audit after the unit of work, as the API does (SQLite allows one writer at a time)
    ctx.state.auditor.log(actor=ctx.principal.name, role=ctx.principal.role, action="segment_change",
                          target=f"segment:{seg.id}", detail={"op": "create", "via": "console"},
                          request_id=request_id(ctx.request))
    shown = est.shown(sees_raw=ctx.principal.sees_raw, threshold=ctx.state.service.min_count)
    return SaveOutcome(201, ctx.t("save.saved", name=seg.name), name=seg.name, size=shown["size"])


@router.post("/users/segments", response_class=HTMLResponse)
def save_segment(ctx: Builder, rule: Annotated[str, Form(max_length=20_000)],
                 name: Annotated[str, Form(max_length=200)] = "",
                 department: Annotated[str, Form(max_length=100)] = "") -> HTMLResponse:
    """Save the builder's rule as a segment (保存为人群): the same row the API and ``jingyun segment`` list.

    Like every console form it is a POST carrying the ``SameSite=Strict`` session cookie, so another
    site cannot submit it. HTMX swaps the fragment in beside the estimate; a plain form post gets the
    builder page again, with the rule kept and the outcome shown."""
    out = _save(ctx, name.strip(), department, rule)
    status = 200 if out.status == 201 else out.status
    if ctx.request.headers.get("hx-request"):
        return ctx.render("parts/segment_saved.html", status_code=status, out=out)
    return _audience(ctx, status_code=status, out=out, rule_text=rule, form_name=name, form_department=department)


@router.post("/users/estimate", response_class=HTMLResponse)
def estimate(ctx: Builder, rule: Annotated[str, Form(max_length=20_000)]) -> HTMLResponse:
    try:
        parsed = json.loads(rule)
        guard(parsed, sees_raw=ctx.principal.sees_raw)
        with ctx.reader() as wh:
            est = saved.estimate(wh, parsed)
    except json.JSONDecodeError:
        return ctx.render("parts/estimate.html", est=None, error=ctx.t("msg.bad_json"), error_path="")
    except JingyunError as exc:  # the field names the node (rule.and[2].attr): the builder marks it
        return ctx.render("parts/estimate.html", est=None, error_path=exc.field or "",
                          error=f"{exc.field}: {exc.message}" if exc.field else exc.message)
    shown = est.shown(sees_raw=ctx.principal.sees_raw, threshold=ctx.state.service.min_count)
    # the library's warning, said in the reader's language (the same thresholds as saved.estimate)
    shown["warning_text"] = None if not shown["warning"] else ctx.t(
        "est.withheld" if shown["suppressed"] else "est.none" if est.size == 0 else
        "est.coarse" if est.share > 0.8 else "est.fine", n=ctx.state.service.min_count)
    return ctx.render("parts/estimate.html", est=shown, error=None)


TIMELINE_PAGE = 50


def search_people(ctx: ConsoleCtx, q: str, limit: int = 20) -> list[dict[str, Any]]:
    """Users whose phone (by its keyed pseudonym: the clear number is never stored) or name (decrypted
    server-side, substring) matches ``q`` — for roles that see personal data only; audited ``read_personal``
    with how it searched and how many it found, never the text searched for."""
    from jingyun.security.masking import pseudonym
    from jingyun.warehouse import personal

    if not ctx.principal.sees_raw:
        deny_object(ctx.state, ctx.request, ctx.principal, "search", "q")  # audited as denied
        raise JingyunError("search_denied", ctx.t("profile.search_denied"), "q", status=403)
    q = q.strip()
    if not q or len(q) > 100:
        raise JingyunError("bad_search", "search by a phone number or a name of 1-100 characters", "q")
    digits = "".join(ch for ch in q if ch.isdigit())
    by = "phone" if len(digits) >= 7 and q.replace(" ", "").replace("-", "").lstrip("+").isdigit() else "name"
    with ctx.reader() as wh:
        if by == "phone":  # as stored (+86…) or typed without the country code
            salt = ctx.state.service.mask_salt
            tokens = sorted({t for v in (q, digits, "+" + digits, "+86" + digits[-11:]) if (t := pseudonym(v, salt))})
            _, found = fetch_users(wh, f"_phone_ps IN ({', '.join('?' for _ in tokens)})", tokens, limit, 0)
        else:
            ids = [{"user_id": str(r[0]), "name": r[1]} for r in wh.rows("SELECT user_id, name FROM users")]
            named = personal.reveal(wh, ids, ["name"])
            hits = sorted(r["user_id"] for r in named if r.get("name") and q.lower() in str(r["name"]).lower())[:limit]
            marks = ", ".join("?" for _ in hits) or "NULL"
            _, found = fetch_users(wh, f"user_id IN ({marks})", hits, limit, 0)
    ctx.state.auditor.log(actor=ctx.principal.name, role=ctx.principal.role, action="read_personal",
                          target="users:search", detail={"search": by, "results": len(found), "via": "console"},
                          request_id=request_id(ctx.request))
    return [present(ctx.state, ctx.principal, r) for r in found]


def _timeline(ctx: ConsoleCtx, wh: Any, pid: str, params: Mapping[str, str]) -> dict[str, Any]:
    """The person's events, newest first, filtered by event and local days, a page of 50 (masked per role)."""
    from zoneinfo import ZoneInfo

    from jingyun.security.masking import Masker

    where, args = ["person_id = ?"], list[Any]([pid])
    event = params.get("event", "")
    if event:
        where.append("event = ?")
        args.append(event)
    zone = ZoneInfo(ctx.timezone)
    days: dict[str, dt.date | None] = {}
    for key, fld in (("ev_from", "from"), ("ev_to", "to")):
        text = params.get(key, "")
        try:
            days[fld] = dt.date.fromisoformat(text) if text else None
        except ValueError:
            raise JingyunError("bad_date", f"{text!r} is not a date (YYYY-MM-DD)", fld) from None
    if days["from"] and days["to"] and days["from"] > days["to"]:
        raise JingyunError("bad_range", "the start day is after the end day", "from")

    def utc(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC).replace(tzinfo=None)

    if days["from"]:
        where.append("ts >= ?")
        args.append(utc(days["from"]))
    if days["to"]:
        where.append("ts < ?")
        args.append(utc(days["to"] + dt.timedelta(days=1)))
    try:
        page = max(1, int(params.get("ev_page", "1")))
    except ValueError:
        raise JingyunError("bad_page", "page is a number from 1", "ev_page") from None
    cond = " AND ".join(where)
    total = int(wh.scalar(f"SELECT count(*) FROM events WHERE {cond}", args) or 0)
    rows = wh.rows(f"SELECT ts, event, platform, properties FROM events WHERE {cond} ORDER BY ts DESC, event "
                   f"LIMIT {TIMELINE_PAGE} OFFSET {(page - 1) * TIMELINE_PAGE}", args)
    names = [str(r[0]) for r in wh.rows("SELECT event FROM events WHERE person_id = ? GROUP BY 1 ORDER BY 1", [pid])]
    masker = None if ctx.principal.sees_raw else Masker(ctx.state.service.mask_salt)
    items = [{"ts": r[0], "event": r[1], "platform": r[2],
              "properties": _props(r[3] if masker is None else masker.any(r[3]))} for r in rows]
    return {"items": items, "total": total, "page": page, "pages": max(1, -(-total // TIMELINE_PAGE)),
            "events": names, "event": event, "from": params.get("ev_from", ""), "to": params.get("ev_to", "")}


# event properties whose values are an enum (web.enums kinds), so the timeline says them in the reader's language
PROPERTY_KINDS = {"method": "payment", "payment_method": "payment", "to": "message_channel",
                  "variation": "variation", "platform": "platform", "channel": "channel", "status": "status"}


def _props(raw: Any) -> list[tuple[str, Any, str]]:
    """An event's properties as (key, value, enum kind) for the timeline (JSON text or an object)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            return [("", raw, "")]
    if not isinstance(raw, dict):
        return [] if raw is None else [("", raw, "")]
    return [(str(k), v, PROPERTY_KINDS.get(str(k), "")) for k, v in raw.items()]


@router.get("/users/profile", response_class=HTMLResponse)
def profile(ctx: ProfileReader, user_id: str = "", q: str = "") -> HTMLResponse:
    if q and not user_id:  # search by phone or name (manager/admin), audited
        results = search_people(ctx, q)
        return ctx.render("profile.html", user=None, user_id="", orders=[], tags={}, summary=None,
                          results=results, q=q)
    if not user_id:
        return ctx.render("profile.html", user=None, user_id="", orders=[], tags={}, summary=None)
    if len(user_id) > 200:
        raise JingyunError("bad_user", "user id too long", "user_id")
    with ctx.reader() as wh:
        _, found = fetch_users(wh, "user_id = ?", [user_id], 1, 0)
        if not found:
            return ctx.render("profile.html", user=None, user_id=user_id, orders=[], tags={}, summary=None,
                              missing=True)
        row = found[0]
        pid = row.get("person_id") or user_id
        act = activity(wh, str(pid))
        orders = wh.rows("SELECT order_id, ts, amount, channel, status FROM orders WHERE person_id = ? "
                         "ORDER BY ts DESC LIMIT 10", [pid])
        timeline = _timeline(ctx, wh, str(pid), dict(ctx.request.query_params))
        from jingyun.segments.tags import person_tags

        try:
            tags = person_tags(wh, str(pid))
        except Exception:  # user_tags appears with the first tag run: no tags yet is not an error
            tags = {}
    ctx.state.auditor.log(actor=ctx.principal.name, role=ctx.principal.role, action="read_personal",
                          target=f"user:{user_id}", detail={"deidentified": not ctx.principal.sees_raw, "via": "console"},
                          request_id=request_id(ctx.request))
    user = present(ctx.state, ctx.principal, row)
    return ctx.render("profile.html", user=user, user_id=user_id, orders=orders, tags=tags,
                      summary={"orders": act.orders.count, "amount": act.orders.amount, "last_order": act.orders.last_ts,
                               "events": act.events.count, "last_event": act.events.last_ts},
                      deidentified=not ctx.principal.sees_raw, timeline=timeline)

