"""Panels: every chart in the console is one panel with a table behind it.

A panel function takes the console context and its parameters (the query
string, so a panel is fully described by ``name + params``: that is what a
dashboard pins and what the CSV/Excel download recomputes) and returns
:class:`PanelData` — an ECharts option, the table the chart was drawn from,
and callouts. The chart, the table view, the downloads and the pin button are
rendered the same way for every panel (``templates/panel.html``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from jingyun.web import i18n
from jingyun.web.context import ConsoleCtx

Fmt = Literal["text", "int", "num", "pct", "money", "date", "signed_pct", "spark", "unit"]


@dataclass
class Column:
    label: str  # already translated
    fmt: Fmt = "text"


@dataclass
class Table:
    columns: list[Column]
    rows: list[list[Any]]


@dataclass(frozen=True)
class Spark:
    """A table cell drawn as an inline sparkline (a ``spark`` column), linking to a detail view."""

    values: tuple[int, ...]
    href: str = ""


@dataclass(frozen=True)
class Measure:
    """A metric value with its unit (a ``unit`` column): shown as the unit reads (``i18n.by_unit``:
    ratios as %, money with ¥), downloaded as the bare number. For columns mixing metrics (a scorecard)."""

    value: float | None
    unit: str


@dataclass
class Callout:
    level: Literal["info", "warn", "bad", "good"]
    text: str


@dataclass
class PanelData:
    title: str
    table: Table
    chart: dict[str, Any] | None = None
    callouts: list[Callout] = field(default_factory=list)
    chart_height: int = 320
    extra: dict[str, Any] = field(default_factory=dict)  # panel-specific template values
    template: str | None = None  # a panel-specific body instead of the chart (cards, forms)


PanelFn = Callable[[ConsoleCtx, Mapping[str, str]], PanelData]


@dataclass(frozen=True)
class PanelSpec:
    name: str
    fn: PanelFn
    permission: str
    pinnable: bool = True


PANELS: dict[str, PanelSpec] = {}


def panel(name: str, permission: str, *, pinnable: bool = True) -> Callable[[PanelFn], PanelFn]:
    def register(fn: PanelFn) -> PanelFn:
        PANELS[name] = PanelSpec(name, fn, permission, pinnable)
        return fn

    return register


def plain(value: Any) -> Any:
    """A JSON/CSV-safe cell value (Decimal → float, dates → ISO, NaN → None)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, Measure):
        return plain(value.value)
    if isinstance(value, Spark):  # downloads get the series as text: "120 → 131 → 127"
        return " → ".join(str(v) for v in value.values) or None
    return value


def cell(value: Any, fmt: Fmt, locale: i18n.Locale) -> str:
    if isinstance(value, Measure):
        return i18n.by_unit(plain(value.value), value.unit, locale, short=False)
    value = plain(value)
    if value is None:
        return "—"
    if isinstance(value, str) and fmt != "text" and fmt != "date":  # a withheld small count ("<10")
        return value
    if fmt == "int":
        return i18n.number(float(value), 0)
    if fmt == "num":
        return i18n.number(float(value), 2)
    if fmt == "pct":
        return i18n.percent(float(value))
    if fmt == "signed_pct":
        return i18n.signed_percent(float(value))
    if fmt == "money":
        return "¥" + i18n.number(float(value), 2)
    if fmt == "date":
        return i18n.date(str(value), locale)
    return str(value)


def chart_json(option: dict[str, Any] | None) -> str:
    return "" if option is None else json.dumps(option, ensure_ascii=False, default=plain, allow_nan=False)


def param_int(params: Mapping[str, str], key: str, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(params.get(key, default))))
    except (TypeError, ValueError):
        return default


# -- ECharts option helpers: the same look everywhere --------------------------------------------
PALETTE = ["#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#ea580c"]


def base_option() -> dict[str, Any]:
    return {"color": PALETTE, "animation": False, "tooltip": {"trigger": "axis"},
            "grid": {"left": 56, "right": 24, "top": 36, "bottom": 40, "containLabel": True}}


def bar_option(categories: list[str], series: list[tuple[str, list[Any]]], *, horizontal: bool = False,
               percent_axis: bool = False) -> dict[str, Any]:
    opt = base_option()
    cat = {"type": "category", "data": categories, "axisLabel": {"interval": 0, "hideOverlap": True}}
    val: dict[str, Any] = {"type": "value"}
    if percent_axis:
        val["axisLabel"] = {"formatter": "{value}%"}
    opt["xAxis"], opt["yAxis"] = (val, cat) if horizontal else (cat, val)
    opt["legend"] = {"top": 0} if len(series) > 1 else {"show": False}
    opt["series"] = [{"type": "bar", "name": name, "data": data} for name, data in series]
    return opt


def line_option(x: list[str], series: list[tuple[str, list[Any]]]) -> dict[str, Any]:
    opt = base_option()
    opt["xAxis"] = {"type": "category", "data": x, "boundaryGap": False}
    opt["yAxis"] = {"type": "value", "scale": True}
    opt["legend"] = {"top": 0} if len(series) > 1 else {"show": False}
    opt["series"] = [{"type": "line", "name": name, "data": data, "showSymbol": False} for name, data in series]
    opt["dataZoom"] = [{"type": "inside"}]
    return opt
