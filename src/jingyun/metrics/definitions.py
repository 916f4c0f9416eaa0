"""Business definitions (业务口径): every concept that more than one number depends on, written once.

The metric dictionary (``catalog.yaml``), the analyses (explain, anomaly, channels,
retention), the models' queries, the experiments' metrics, the segments and the demo
tour use these by name; none writes its own status list or test-account clause.

Order sets are status rules over ``orders.status``:

- ``paid_orders`` (已支付订单): paid at some point, even if later refunded or
  returned: GMV, order counts, buyers and new customers are *gross*;
- ``revenue_orders`` (有效收入订单): paid and kept: net revenue, gross profit, LTV;
- ``refunds`` (退款退货订单): paid, then refunded or returned;
- ``placed_orders`` (已下单订单): every order not cancelled: a person's *activity*
  (churn labels and features), where a later refund does not undo the visit;
- ``valid_orders`` (有效订单): an order placed and not undone (not cancelled, refunded
  or returned; an order still awaiting payment and one without a status count): what
  a *customer's* purchasing behaviour is read from (RFM, lifecycle, audiences, CLV,
  churn features, experiments' revenue). It is deliberately wider than
  ``revenue_orders`` on one side (a placed, unpaid order is a purchase intent of the
  customer) and narrower than ``paid_orders`` on the other (a refunded order bought
  nothing): money reported as a metric never reads ``valid_orders``.

``real_people`` (真实用户) excludes test accounts (``is_test``) from every table.

The reference time (参照时间) of a computation "as of" an instant is inclusive: a
window of N days as of T is (T − N days, T], and the default as-of is the latest
record's time. So an explicit ``--as-of`` equal to the latest record's time gives the
same answer as the default. Internally windows are half-open ``[start, end)`` with
``end = window_end(T)`` (T plus one microsecond, the warehouse's precision).

A workspace overrides order sets in ``$JINGYUN_HOME/definitions.yaml``::

    paid_orders:
      statuses: [paid, shipped, completed, refunded, returned, created]

and every number that uses the set changes at once (the metric dictionary is loaded
with the workspace's definitions; :func:`for_settings` gives them to everything else).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from jingyun.errors import JingyunError, yaml_problem
from jingyun.schema.tables import ORDER_STATUSES
from jingyun.warehouse.sqltext import quote

FILE_NAME = "definitions.yaml"
TEST_COLUMN = "is_test"
# The warehouse keeps microseconds: one is the smallest step past an instant.
RESOLUTION = dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class OrderSet:
    """Orders whose ``status`` is one of ``statuses`` (``unknown``: also orders without a status)."""

    name: str
    zh: str
    en: str
    statuses: tuple[str, ...]
    unknown: bool = False

    def where(self, alias: str = "") -> str:
        """The status predicate on ``alias.status`` (portable SQL)."""
        col = f"{alias}.status" if alias else "status"
        inside = f"{col} IN ({', '.join(quote(s) for s in self.statuses)})" if self.statuses else "FALSE"
        return f"({inside} OR {col} IS NULL)" if self.unknown else inside


@dataclass(frozen=True)
class Described:
    """A definition that is a rule rather than a status list, listed with its descriptions."""

    name: str
    zh: str
    en: str


DEFAULT_ORDER_SETS: tuple[OrderSet, ...] = (
    OrderSet("valid_orders", "有效订单: 未取消、未退款、未退货的订单(含待支付和无状态的)",
             "Valid orders: placed and not cancelled, refunded or returned (awaiting payment and "
             "status-less orders count)", ("created", "paid", "shipped", "completed"), unknown=True),
    OrderSet("paid_orders", "已支付订单: 曾支付的订单(含之后退款/退货的), GMV与订单数按此计",
             "Paid orders: paid at some point, including ones later refunded or returned (GMV and order "
             "counts are gross)", ("paid", "shipped", "completed", "refunded", "returned")),
    OrderSet("revenue_orders", "有效收入订单: 已支付且未退款/退货的订单, 净收入按此计",
             "Revenue orders: paid and kept (not refunded or returned); net revenue", ("paid", "shipped", "completed")),
    OrderSet("refunds", "退款退货订单: 已支付后退款或退货的订单",
             "Refunds: paid orders later refunded or returned", ("refunded", "returned")),
    OrderSet("placed_orders", "已下单订单: 未取消的订单(含之后退款/退货的), 活跃与流失按此计",
             "Placed orders: every order not cancelled, later refunds included (activity: churn labels and "
             "features)", ("created", "paid", "shipped", "completed", "refunded", "returned"), unknown=True),
)

RULES: tuple[Described, ...] = (
    Described("real_people", "真实用户: 排除测试账号(is_test)的人与其全部行为、订单",
              "Real people: test accounts (is_test) and all their rows are left out"),
    Described("people", "用户: 有用户资料或订单的真实用户(person_id); 只有匿名行为的访客不算",
              "People: real persons (person_id) with a users row or an order; visitors known only from events are not"),
    Described("customers", "客户: 有至少一笔有效订单的用户", "Customers: people with at least one valid order"),
    Described("audience_universe", "圈人范围: 全部用户(同 people), 含无用户资料但有订单的人",
              "Audience universe: all people (as people), including ones with orders but no users row"),
    Described("active_users", "活跃用户(某日): 当地日历日内有任一行为事件的真实用户 (指标 dau)",
              "Active users (a day): real people with any event on that local calendar day (metric dau)"),
    Described("new_customers", "新客(某时段): 全部历史中首笔已支付订单落在该时段的用户 (指标 new_customers)",
              "New customers (a period): people whose first-ever paid order falls in the period (metric new_customers)"),
    Described("reference_time", "参照时间: 默认为最新一条记录的时间; N天窗口为 (参照时间-N天, 参照时间], 含终点",
              "Reference time: by default the latest record's time; an N-day window is (as_of - N days, as_of], "
              "end included"),
)


@dataclass(frozen=True)
class Definitions:
    """The workspace's definitions: the shipped ones with ``definitions.yaml`` applied."""

    order_sets: dict[str, OrderSet] = field(default_factory=lambda: {s.name: s for s in DEFAULT_ORDER_SETS})
    origin: str = "shipped"

    def orders(self, name: str) -> OrderSet:
        if name not in self.order_sets:
            raise JingyunError("unknown_definition", f"no order definition named {name!r}; use one of "
                               f"{', '.join(self.order_sets)}", "definition")
        return self.order_sets[name]

    @property
    def valid_orders(self) -> OrderSet:
        return self.order_sets["valid_orders"]

    @property
    def paid_orders(self) -> OrderSet:
        return self.order_sets["paid_orders"]

    @property
    def revenue_orders(self) -> OrderSet:
        return self.order_sets["revenue_orders"]

    @property
    def refunds(self) -> OrderSet:
        return self.order_sets["refunds"]

    @property
    def placed_orders(self) -> OrderSet:
        return self.order_sets["placed_orders"]

    def order_rows(self, name: str, alias: str = "", *, include_test: bool = False) -> str:
        """Orders of set ``name`` by real people: the WHERE clause every order query uses."""
        return f"{self.orders(name).where(alias)} AND {real_people(alias, include_test=include_test)}"


def real_people(alias: str = "", *, include_test: bool = False, column: str = TEST_COLUMN) -> str:
    """Rows of real people (test accounts left out) on any table with ``is_test`` (or a dataset's ``column``)."""
    if include_test:
        return "TRUE"
    return f"NOT coalesce({alias + '.' if alias else ''}{column}, FALSE)"


def people_sql(*, include_test: bool = False) -> str:
    """Every person of the workspace, once: with a ``users`` row or an order (the one population rule).

    RFM customers, lifecycle users and the audience universe are all drawn from it, so someone with
    orders but no ``users`` row is a person everywhere. Visitors known only from events (anonymous
    devices) are not people: they are counted by the activity metrics (dau, visitors), not selected.
    Reading ``users`` and ``orders`` only also keeps the universe off the events table, the largest.
    A person whose only ``users`` rows are test accounts is a test account, whatever their other rows say.
    """
    live = real_people(include_test=include_test)
    union = (f"SELECT person_id FROM users WHERE person_id IS NOT NULL AND {live} "
             f"UNION SELECT person_id FROM orders WHERE person_id IS NOT NULL AND {live}")
    if include_test:
        return union
    return (f"SELECT person_id FROM ({union}) p WHERE person_id NOT IN (SELECT person_id FROM users "
            f"WHERE person_id IS NOT NULL GROUP BY person_id HAVING max(CASE WHEN {live} THEN 1 ELSE 0 END) = 0)")


def customers_sql(defs: Definitions | None = None) -> str:
    """People with at least one valid order."""
    d = defs or SHIPPED
    return f"SELECT DISTINCT person_id FROM orders WHERE person_id IS NOT NULL AND {d.order_rows('valid_orders')}"


def window_end(as_of: dt.datetime) -> dt.datetime:
    """The exclusive end of every window "as of" ``as_of``: the instant itself is included."""
    return as_of + RESOLUTION


def window(as_of: dt.datetime, days: int) -> tuple[dt.datetime, dt.datetime]:
    """``[start, end)`` equal to (as_of − days, as_of]."""
    end = window_end(as_of)
    return end - dt.timedelta(days=days), end


def default_as_of(latest: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    """The reference time when none is given: the latest record's time (``now`` on an empty warehouse)."""
    return latest if latest is not None else now


SHIPPED = Definitions()


# -- the workspace override -----------------------------------------------------------
def _fail(origin: str, path: str, message: str) -> JingyunError:
    return JingyunError("bad_definition", f"{origin}: {path}: {message}", path)


def parse(data: Any, origin: str) -> Definitions:
    """Apply an override mapping (``{set: {statuses: [...], unknown: bool}}``) to the shipped definitions."""
    if data is None:
        return replace(SHIPPED, origin=origin)
    if not isinstance(data, dict):
        raise _fail(origin, "(top level)", "must be a mapping of definition name to {statuses: [...]}")
    sets = dict(SHIPPED.order_sets)
    for name, body in data.items():
        if name not in sets:
            raise _fail(origin, str(name), f"unknown definition; order definitions are {', '.join(sets)}")
        if not isinstance(body, dict):
            raise _fail(origin, str(name), "must be a mapping such as {statuses: [paid, shipped]}")
        for key in body:
            if key not in ("statuses", "unknown"):
                raise _fail(origin, f"{name}.{key}", "unknown field; allowed: statuses, unknown")
        statuses = body.get("statuses", list(sets[name].statuses))
        if not isinstance(statuses, list) or not statuses:
            raise _fail(origin, f"{name}.statuses", "must be a non-empty list of order statuses")
        for i, s in enumerate(statuses):
            if s not in ORDER_STATUSES:
                raise _fail(origin, f"{name}.statuses[{i}]", f"unknown status {s!r}; use {', '.join(ORDER_STATUSES)}")
        unknown = body.get("unknown", sets[name].unknown)
        if not isinstance(unknown, bool):
            raise _fail(origin, f"{name}.unknown", "must be true or false")
        sets[name] = replace(sets[name], statuses=tuple(dict.fromkeys(statuses)), unknown=unknown)
    return Definitions(sets, origin)


def load(home: Path | None) -> Definitions:
    """The definitions of the workspace at ``home`` (the shipped ones when it has no ``definitions.yaml``)."""
    path = None if home is None else Path(home) / FILE_NAME
    if path is None or not path.is_file():
        return SHIPPED
    return _load(str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=16)
def _load(path: str, stamp: int) -> Definitions:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise JingyunError("bad_definition", f"cannot read {path}: {exc.strerror}", "definitions") from None
    except yaml.YAMLError as exc:
        raise JingyunError("bad_definition", f"{path}: not valid YAML: {yaml_problem(exc)}", "definitions") from None
    return parse(data, path)


def for_settings(settings: Any) -> Definitions:
    """The definitions for a :class:`~jingyun.config.Settings` (or anything with ``home``; None: shipped)."""
    home = getattr(settings, "home", None)
    return load(Path(home)) if home is not None else SHIPPED


def stamp(home: Path) -> float:
    """The override file's modification time (0 when there is none): for caches keyed by it."""
    path = Path(home) / FILE_NAME
    return path.stat().st_mtime if path.is_file() else 0.0


def listing(defs: Definitions | None = None) -> list[dict[str, str]]:
    """Every definition with its zh/en description (docs, ``metrics`` listings)."""
    d = defs or SHIPPED
    out = [{"name": s.name, "zh": s.zh, "en": s.en, "rule": s.where()} for s in d.order_sets.values()]
    out += [{"name": r.name, "zh": r.zh, "en": r.en, "rule": ""} for r in RULES]
    return out
