"""One definition of every business concept (issue 17): searching ``src/`` finds one SQL quoting helper, one
timestamp-literal helper, one test-account exclusion, one property-filter type and one UTC→local conversion.

Each rule is a pattern for a second copy, the one module allowed to hold the first, and places that must
write the concept differently, each with its reason. A package added later is held to the same rules without
editing this file. ``test_rules_catch_what_they_should`` keeps the patterns from passing by matching nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "jingyun"


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern[str]
    owner: str  # the one module that writes it
    use: str  # what to call instead
    allowed: dict[str, str]  # module → why it must write the concept itself


RULES = (
    Rule("SQL string quoting", re.compile(r"""replace\(\s*["']'["']\s*,\s*["']''["']\s*\)"""),
         "warehouse/sqltext.py", "jingyun.warehouse.sqltext.quote / ident", {}),
    Rule("timestamp or date literal", re.compile(r"""\b(TIMESTAMP|DATE)\s+'\{"""),
         "warehouse/sqltext.py", "jingyun.warehouse.sqltext.ts_literal / date_literal", {}),
    Rule("test-account exclusion", re.compile(r"""(NOT\s+(\w+\.)?is_test\b|\bis_test\s*(=|<>|!=|IS)\s*(FALSE|TRUE|0|1)"""
                                              r"""|COALESCE\(\s*(\w+\.)?is_test)""", re.I),
         "metrics/definitions.py", "jingyun.metrics.definitions.real_people(alias)", {
             "ingest/validate.py": "ingestion decides and stores is_test; it is the writer of the flag",
             "ingest/identity.py": "flags facts stored before their user was known as a test account",
         }),
    Rule("property-filter operator vocabulary", re.compile(r"""["'](not_null|is_null|is_set|is_not_set)["']\s*[:,)]"""),
         "warehouse/filters.py", "jingyun.warehouse.filters.Filter / filters.parse", {
             # the audience builder compiles the one Filter type per person (Filter.test) and negates it;
             # it reads the operators of that type, it does not define its own
             "segments/audience.py": "compiles warehouse.filters.Filter conditions, branching on their op",
         }),
    Rule("UTC→local conversion", re.compile(r"""replace\(tzinfo=(dt\.)?(UTC|timezone\.utc)\)\.astimezone\((?!(dt\.)?UTC\b)"""
                                            r"""|AT TIME ZONE 'UTC'\)\s*AT TIME ZONE|tz_localize\(["']UTC["']\)\.dt\.tz_convert"""),
         "localtime.py", "jingyun.localtime.aware / local_iso (Python), warehouse.sqltext.local_ts (SQL)", {
             "warehouse/sqltext.py": "the SQL form of the conversion (local_ts, local_date, local_day)",
             "warehouse/portable.py": "its docstring shows the portable SQL form",
             "automation/entries.py": "a vectorised pandas conversion of a whole column of entry times",
             "automation/guards.py": "a vectorised pandas conversion of due times per recipient zone",
         }),
)

# Second filter *types*: a class with its own op vocabulary. The experiments' targeting conditions are
# GrowthBook-style SDK attribute rules evaluated in Python (ne/nin/exists are what stored experiments say).
FILTER_CLASS = re.compile(r"^class (\w*(Filter|Condition|Predicate))\b", re.M)
FILTER_CLASSES_ALLOWED = {
    "warehouse/filters.py": "the one Filter",
    "web/filters.py": "the console's page filters (date range, dimension), not a property condition",
    "automation/journey.py": "a journey step's branch: an event with Filter conditions, or an attribute read "
                             "through filters.parse",
    "experiments/definition.py": "SDK targeting evaluated in Python on the caller's attributes (GrowthBook names)",
}


def _sources() -> list[tuple[str, str]]:
    return [(p.relative_to(SRC).as_posix(), p.read_text(encoding="utf-8")) for p in sorted(SRC.rglob("*.py"))]


def _hits(rule: Rule, files: list[tuple[str, str]]) -> list[str]:
    out = []
    for rel, text in files:
        if rel == rule.owner or rel in rule.allowed:
            continue
        for m in rule.pattern.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            out.append(f"{rel}:{line}: a second {rule.name} ({m.group(0)!r}); use {rule.use}")
    return out


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_one_definition(rule: Rule) -> None:
    files = _sources()
    assert any(rel == rule.owner for rel, _ in files), f"{rule.owner} moved: update this rule"
    assert _hits(rule, files) == []
    for rel in rule.allowed:  # an exception that no longer holds the pattern is dropped, not kept as a hole
        text = dict(files).get(rel)
        assert text is not None and rule.pattern.search(text), f"{rel} no longer needs its exception to {rule.name}"


def test_one_filter_type() -> None:
    found = {rel: m.group(1) for rel, text in _sources() for m in FILTER_CLASS.finditer(text)}
    extra = sorted(f"{rel}: class {name}" for rel, name in found.items() if rel not in FILTER_CLASSES_ALLOWED)
    assert extra == [], "a second filter type; use jingyun.warehouse.filters.Filter:\n" + "\n".join(extra)


def test_rules_catch_what_they_should() -> None:
    """Each rule finds the copy it is about, written the ways the old modules wrote them."""
    samples = {
        "SQL string quoting": """    return "'" + str(v).replace("'", "''") + "'"\n""",
        "timestamp or date literal": """    f"o.ts >= TIMESTAMP '{lo.isoformat(sep=' ')}'"\n""",
        "test-account exclusion": """    sql = "SELECT * FROM orders o WHERE NOT o.is_test"\n""",
        "property-filter operator vocabulary": """OPS = ("eq", "not_null", "in")\n""",
        "UTC→local conversion": """    return t.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tz))\n""",
    }
    for rule in RULES:
        assert len(_hits(rule, [("new/module.py", samples[rule.name])])) == 1, rule.name
    # and leaves alone what is another concept: local → UTC, storing "now" as UTC, including test accounts
    benign = ("    return wall.replace(tzinfo=zone).astimezone(dt.UTC).replace(tzinfo=None)\n"
              "    sql = \"UPDATE t SET at = now() AT TIME ZONE 'UTC'\"\n"
              "    params = Params(include_test=True)\n")
    assert [h for rule in RULES for h in _hits(rule, [("new/module.py", benign)])] == []
    assert FILTER_CLASS.search("class AudienceFilter:\n")
