"""What the segment modules share: names, windows, the warehouse tables they own.

Every value that reaches SQL passes through the SQL toolkit
(:mod:`jingyun.warehouse.sqltext`); identifiers are checked against a pattern. Windows ("in the last 30 days") are
turned into naive-UTC timestamp bounds in Python once, so the SQL stays in the
portable subset and means the same on DuckDB and Spark.
"""

from __future__ import annotations

import datetime as dt
import re

from jingyun.errors import JingyunError
from jingyun.metrics.definitions import SHIPPED, real_people
from jingyun.security import age_bands
from jingyun.warehouse.backends import Source, engine_of, writer
from jingyun.warehouse.connection import MODEL_SCORES_DDL as MODEL_SCORES_DDL

NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

# The named definitions (metrics/definitions.py), not copies: a customer's purchases are
# valid orders of real people; every other table keeps real people's rows.
VALID_ORDER = SHIPPED.order_rows("valid_orders")
NOT_TEST = real_people()

USER_TAGS_DDL = """CREATE TABLE IF NOT EXISTS user_tags (
  person_id VARCHAR NOT NULL,
  tag VARCHAR NOT NULL,
  value VARCHAR,
  computed_at TIMESTAMP
)"""




def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def as_naive_utc(value: dt.datetime | str | None) -> dt.datetime:
    """The reference instant of a computation ("now" unless a test or a replay fixes it)."""
    if value is None:
        return now_utc()
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise JingyunError("bad_date", f"cannot read time {value!r}; write YYYY-MM-DDTHH:MM:SS", "as_of") from None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def check_name(name: str, field: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise JingyunError(
            "bad_name", f"{name!r} is not a valid name: use lower-case letters, digits and _, starting with a letter",
            field,
        )
    return name


def ensure_segment_tables(source: Source) -> None:
    """``user_tags`` belongs to segments; ``model_scores`` is created empty when no model ran yet.
    Written to the warehouse of record (a declared gap elsewhere); a read-only one is left as it is."""
    wh = writer(engine_of(source))
    if wh.read_only:
        return
    wh.con.execute(USER_TAGS_DDL)
    wh.con.execute(MODEL_SCORES_DDL)
    wh.con.execute(age_bands.legacy_update_sql())  # age_band values of the old 18_24 style, renamed once


def table_exists(source: Source, name: str) -> bool:
    return engine_of(source).has_table(name)


def last_data_time(source: Source) -> dt.datetime | None:
    """The latest fact in events/orders: a replayable "now" for the demo and tests."""
    value = engine_of(source).scalar(
        f"SELECT max(t) FROM (SELECT max(ts) AS t FROM events WHERE {NOT_TEST} "
        f"UNION ALL SELECT max(ts) AS t FROM orders WHERE {NOT_TEST}) x"
    )
    return value if isinstance(value, dt.datetime) else None
