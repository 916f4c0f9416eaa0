"""The quarantine: every rejected record with its reason, source, line and raw
payload — listed, inspected, fixed and replayed, never silently dropped.

Replay re-runs the raw payloads through the same pipeline (with the mapping the
record came in with, and today's settings and tracking plan). A record that
passes is stored (or found to be a duplicate) and its row is marked
``replayed``; one that fails again stays open with its new reason.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from jingyun.errors import JingyunError
from jingyun.ingest.mapping import parse_mapping
from jingyun.ingest.pipeline import ChunkLoader
from jingyun.ingest.readers import Chunk
from jingyun.schema.tables import get_table
from jingyun.warehouse.connection import Warehouse

STATUSES = ("open", "replayed", "discarded")


@dataclass(frozen=True)
class QuarantineRow:
    qid: int
    table: str
    source: str | None
    line: int | None
    reason: str
    field: str | None
    raw: str | None
    status: str
    received_at: Any

    def to_dict(self, raw_limit: int | None = 500) -> dict[str, Any]:
        raw = self.raw
        if raw is not None and raw_limit is not None and len(raw) > raw_limit:
            raw = raw[:raw_limit] + f"… ({len(self.raw or '')} chars)"
        return {
            "qid": self.qid, "table": self.table, "source": self.source, "line": self.line,
            "reason": self.reason, "field": self.field, "raw": raw, "status": self.status,
            "received_at": self.received_at,
        }


_COLUMNS = "qid, tbl, source, line, reason, field, raw, status, received_at"


def _where(table: str | None, reason: str | None, status: str | None, ids: list[int] | None) -> tuple[str, list[Any]]:
    clauses: list[str] = ["TRUE"]
    params: list[Any] = []
    if table:
        get_table(table)
        clauses.append("tbl = ?")
        params.append(table)
    if reason:
        clauses.append("(reason = ? OR reason || ':' || coalesce(field, '') = ?)")
        params += [reason, reason]
    if status:
        if status not in STATUSES:
            raise JingyunError("bad_status", f"status must be one of {', '.join(STATUSES)}", "status")
        clauses.append("status = ?")
        params.append(status)
    if ids:
        clauses.append(f"qid IN ({', '.join('?' for _ in ids)})")
        params += ids
    return " AND ".join(clauses), params


def list_rows(
    wh: Warehouse, *, table: str | None = None, reason: str | None = None, status: str | None = "open",
    limit: int = 50, offset: int = 0,
) -> tuple[int, list[QuarantineRow]]:
    """(total matching, one page of rows), oldest first."""
    if limit < 1 or limit > 10_000:
        raise JingyunError("bad_limit", "limit must be between 1 and 10000", "limit")
    if offset < 0:
        raise JingyunError("bad_offset", "offset must be >= 0", "offset")
    where, params = _where(table, reason, status, None)
    total = int(wh.scalar(f"SELECT count(*) FROM _quarantine WHERE {where}", params))
    rows = wh.rows(f"SELECT {_COLUMNS} FROM _quarantine WHERE {where} ORDER BY qid LIMIT {limit} OFFSET {offset}", params)
    return total, [QuarantineRow(*r) for r in rows]


def summary(wh: Warehouse, status: str | None = "open") -> list[tuple[str, str, int]]:
    where, params = _where(None, None, status, None)
    rows = wh.rows(
        f"SELECT tbl, reason || coalesce(':' || field, ''), count(*) FROM _quarantine WHERE {where} GROUP BY 1, 2 ORDER BY 1, 3 DESC",
        params,
    )
    return [(str(t), str(r), int(n)) for t, r, n in rows]


def get_row(wh: Warehouse, qid: int) -> QuarantineRow:
    rows = wh.rows(f"SELECT {_COLUMNS} FROM _quarantine WHERE qid = ?", [qid])
    if not rows:
        raise JingyunError("not_found", f"no quarantined record {qid}", "qid", status=404)
    return QuarantineRow(*rows[0])


def fix(wh: Warehouse, qid: int, *, set_fields: dict[str, Any] | None = None, raw: str | None = None) -> QuarantineRow:
    """Edit a quarantined payload before replaying it: set JSON fields, or replace the raw text."""
    row = get_row(wh, qid)
    if row.status != "open":
        raise JingyunError("not_open", f"record {qid} is {row.status}, not open", "qid", status=409)
    if raw is None:
        try:
            payload = json.loads(row.raw or "")
        except json.JSONDecodeError:
            raise JingyunError("not_json", f"record {qid} is not a JSON object; pass the whole corrected text with --raw", "raw") from None
        if not isinstance(payload, dict):
            raise JingyunError("not_json", f"record {qid} is not a JSON object; pass --raw", "raw")
        for key, value in (set_fields or {}).items():
            if value is None:
                payload.pop(key, None)
            else:
                payload[key] = value
        raw = json.dumps(payload, ensure_ascii=False)
    wh.con.execute("UPDATE _quarantine SET raw = ? WHERE qid = ?", [raw, qid])
    return get_row(wh, qid)


def discard(wh: Warehouse, qids: list[int]) -> int:
    where, params = _where(None, None, "open", qids)
    n = int(wh.scalar(f"SELECT count(*) FROM _quarantine WHERE {where}", params))
    wh.con.execute(f"UPDATE _quarantine SET status = 'discarded' WHERE {where}", params)
    return n


@dataclass
class ReplayResult:
    selected: int = 0
    stored: int = 0
    duplicates: int = 0
    still_quarantined: int = 0
    reasons: Counter[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "selected": self.selected, "stored": self.stored, "duplicates": self.duplicates,
            "still_quarantined": self.still_quarantined, "reasons": dict(self.reasons or {}),
        }


def replay(
    wh: Warehouse, *, ids: list[int] | None = None, table: str | None = None, reason: str | None = None
) -> ReplayResult:
    """Re-run open quarantined records through the pipeline."""
    import pyarrow as pa

    where, params = _where(table, reason, "open", ids)
    rows = wh.rows(f"SELECT qid, tbl, raw, mapping, source FROM _quarantine WHERE {where} ORDER BY qid", params)
    result = ReplayResult(selected=len(rows), reasons=Counter())
    groups: dict[tuple[str, str | None], list[tuple[int, str]]] = {}
    for qid, tbl, raw, mapping, _source in rows:
        groups.setdefault((tbl, mapping), []).append((int(qid), raw or ""))
    for (tbl, mapping_json), items in groups.items():
        spec = get_table(tbl)
        mapping = parse_mapping(json.loads(mapping_json)) if mapping_json else parse_mapping(None)
        loader = ChunkLoader(wh, spec, mapping, f"replay:{tbl}", "ndjson")
        chunk = pa.table({
            "_line": pa.array([q for q, _ in items], pa.int64()),
            "_json": pa.array([r for _, r in items], pa.string()),
        })
        report = loader.load(Chunk(chunk))
        qids = [q for q, _ in items]
        marks = ", ".join("?" for _ in qids)
        # still bad: carry the new reason to the original row, drop the copy the loader made
        wh.con.execute(
            f"""UPDATE _quarantine SET reason = n.reason, field = n.field FROM
                (SELECT line, reason, field FROM _quarantine WHERE source = ? AND status = 'open' AND line IN ({marks})) n
                WHERE _quarantine.qid = n.line""",
            [f"replay:{tbl}", *qids],
        )
        still = {int(r[0]) for r in wh.rows(
            f"SELECT line FROM _quarantine WHERE source = ? AND status = 'open' AND line IN ({marks})", [f"replay:{tbl}", *qids]
        )}
        wh.con.execute(f"DELETE FROM _quarantine WHERE source = ? AND line IN ({marks})", [f"replay:{tbl}", *qids])
        done = [q for q in qids if q not in still]
        if done:
            wh.con.execute(
                f"UPDATE _quarantine SET status = 'replayed', replayed_at = now() AT TIME ZONE 'UTC' WHERE qid IN ({', '.join('?' for _ in done)})",
                done,
            )
        result.stored += report.stored
        result.duplicates += report.duplicates
        result.still_quarantined += report.quarantined
        assert result.reasons is not None
        result.reasons.update(report.reasons)
    return result
