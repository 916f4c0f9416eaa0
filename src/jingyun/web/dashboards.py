"""Dashboards (看板): named boards of pinned panels and text cards in a grid.

Boards live in the metadata store (tables ``boards`` and ``board_items``, :mod:`jingyun.store.boards`)
behind :class:`DashboardStore`; only this module knows the tables.

- A person has as many boards as they like (at most :data:`MAX_BOARDS`); the first pin makes their
  default board 我的看板 (its id derives from the owner, so two first pins at once make one board).
- A board shared with a department (``department_id``) is read-only for the department's members;
  only its owner and admins change it (:meth:`Board.can_edit`).
- An item is a panel with its parameters (a query string that keeps a relative range by its name,
  ``range=last_30_days``, so a pin made on 近30天 moves on with the calendar), or a text card
  (markdown-lite, escaped: :func:`render_text`). ``position`` orders the grid, ``width`` (1–4
  columns) and ``height`` (1–3 rows) size the cell.
- A board's date filter (``date_range``: ``range=last_month``, or ``range=custom&from=…&to=…``, with an
  optional ``compare``) overrides the range of every panel on it (:func:`panel_query`).

Each change is its own row change in one transaction, so two tabs or processes pinning at once both keep
their pin. Older workspaces kept ``$JINGYUN_HOME/dashboards/<username>.json``; those files are imported
the first time a process opens the store and renamed ``*.json.imported``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import re
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from markupsafe import Markup
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jingyun.config import load_settings
from jingyun.errors import JingyunError
from jingyun.segments.common import now_utc
from jingyun.store.boards import Board as BoardRow
from jingyun.store.boards import BoardItem
from jingyun.store.db import Store
from jingyun.web.filters import COMPARES, PRESETS, RANGES

MAX_PINS = 50  # items on one board
MAX_BOARDS = 20  # boards one person owns
MAX_TEXT = 4000
WIDTHS, HEIGHTS = range(1, 5), range(1, 4)
DEFAULT_NAME = "我的看板"
SHARED_NAME = "部门共享"
_RANGE_KEYS = ("range", "from", "to")


@dataclass(frozen=True)
class Pin:
    """An item on a board: a pinned panel (``kind='panel'``) or a text card (``kind='text'``)."""

    id: str
    panel: str
    query: str  # the panel's parameters, as a query string
    title: str
    owner: str
    departments: tuple[int, ...]  # the board's department when it is shared
    shared: bool = False
    created_at: str = ""
    board_id: str = ""
    kind: str = "panel"
    body: str = ""
    position: int = 0
    width: int = 2
    height: int = 1


@dataclass(frozen=True)
class Board:
    id: str
    owner: str
    name: str
    department_id: int | None
    date_range: str
    is_default: bool
    items: tuple[Pin, ...] = ()

    def can_view(self, username: str, departments: frozenset[int], admin: bool) -> bool:
        return admin or self.owner == username or (self.department_id is not None and self.department_id in departments)

    def can_edit(self, username: str, admin: bool) -> bool:
        return admin or self.owner == username


def default_board_id(owner: str) -> str:
    return "d" + hashlib.sha256(owner.encode()).hexdigest()[:23]


def _item(row: BoardItem, board: BoardRow) -> Pin:
    dept = board.department_id
    return Pin(row.id, row.panel, row.query, row.title, board.owner, () if dept is None else (dept,), dept is not None,
               row.created_at.isoformat(timespec="seconds"), row.board_id, row.kind, row.body, row.position,
               row.width, row.height)


def _board(row: BoardRow, items: list[BoardItem] | None = None) -> Board:
    return Board(row.id, row.owner, row.name, row.department_id, row.date_range, bool(row.is_default),
                 tuple(_item(i, row) for i in items or ()))


def date_filter(params: dict[str, str]) -> str:
    """A board's date filter from form fields, checked and normalised (empty: panels keep their own ranges)."""
    kind = (params.get("range") or "").strip()
    compare = (params.get("compare") or "previous").strip()
    if not kind:
        return ""
    if kind not in RANGES:
        raise JingyunError("bad_range", f"range must be one of {', '.join(RANGES)}", "range")
    if compare not in COMPARES:
        raise JingyunError("bad_compare", f"compare must be one of {', '.join(COMPARES)}", "compare")
    data = {"range": kind}
    if kind == "custom":
        try:
            lo, hi = dt.date.fromisoformat(params.get("from", "")), dt.date.fromisoformat(params.get("to", ""))
        except ValueError:
            raise JingyunError("bad_date", "a custom range needs both days as YYYY-MM-DD", "from") from None
        if lo > hi:
            raise JingyunError("bad_range", f"from ({lo}) is after to ({hi})", "from")
        data.update({"from": lo.isoformat(), "to": hi.isoformat()})
    if compare != "previous":
        data["compare"] = compare
    return urlencode(data)


def panel_query(item_query: str, board_range: str) -> str:
    """The query a panel on a board runs with: the board's date filter replaces the panel's own range."""
    if not board_range:
        return item_query
    board = parse_qsl(board_range)
    dropped = set(_RANGE_KEYS) | ({"compare"} if any(k == "compare" for k, _ in board) else set())
    kept = [(k, v) for k, v in parse_qsl(item_query, keep_blank_values=True) if k not in dropped]
    if board and board[0] == ("range", "custom"):
        board = board[1:]  # fixed days read as from/to (range=custom is implied)
    return urlencode(kept + board)


_INLINE = (
    (re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"<em>\1</em>"),
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"\[([^\]]+)\]\((https?://[^\s)]+|/console/[^\s)]*)\)"), r'<a href="\2" rel="noopener">\1</a>'),
)


def _inline(text: str) -> str:
    out = html.escape(text, quote=True)  # escape first: what a person typed never becomes markup
    for pattern, repl in _INLINE:
        out = pattern.sub(repl, out)
    return out


def render_text(body: str) -> Markup:
    """Markdown-lite for text cards: ``#``/``##`` headings, ``-`` lists, paragraphs, ``**bold**``, ``*italic*``,
    ```code```, ``[text](https://…)`` links; everything else is escaped text."""
    blocks: list[str] = []
    para: list[str] = []
    items: list[str] = []

    def flush() -> None:
        if para:
            blocks.append("<p>" + "<br>".join(para) + "</p>")
            para.clear()
        if items:
            blocks.append("<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>")
            items.clear()

    for line in body.replace("\r\n", "\n").split("\n"):
        s = line.strip()
        if not s:
            flush()
        elif s.startswith("## ") or s.startswith("# "):
            flush()
            level = 4 if s.startswith("## ") else 3
            blocks.append(f"<h{level}>{_inline(s.lstrip('#').strip())}</h{level}>")
        elif s.startswith(("- ", "* ")):
            if para:
                flush()
            items.append(_inline(s[2:].strip()))
        else:
            if items:
                flush()
            para.append(_inline(s))
    flush()
    return Markup("".join(blocks))


_IMPORTED: set[tuple[str, str]] = set()
_IMPORT_LOCK = threading.Lock()


class DashboardStore:
    def __init__(self, home: Path, store: Store | None = None):
        from jingyun.store.shared import metadata_store

        self.dir = home / "dashboards"  # only where older workspaces kept the files imported once
        self.store = store or metadata_store(load_settings(home))
        key = (str(self.store.engine.url), str(home))
        if key not in _IMPORTED:
            with _IMPORT_LOCK:
                if key not in _IMPORTED:
                    self.import_files()
                    _IMPORTED.add(key)

    # ---- boards ----

    def boards(self, username: str, departments: frozenset[int]) -> list[Board]:
        """The boards a person sees: their own (default first, then by name), then those shared with one of
        their departments (by owner, name). Items are not loaded."""
        with self.store.session() as ses:
            mine = ses.scalars(select(BoardRow).where(BoardRow.owner == username)
                               .order_by(BoardRow.is_default.desc(), BoardRow.name, BoardRow.created_at))
            out = [_board(r) for r in mine]
            if departments:
                shared = ses.scalars(select(BoardRow).where(BoardRow.owner != username,
                                                            BoardRow.department_id.in_(sorted(departments)))
                                     .order_by(BoardRow.owner, BoardRow.name, BoardRow.created_at))
                out += [_board(r) for r in shared]
            return out

    def board(self, board_id: str) -> Board:
        with self.store.session() as ses:
            row = ses.get(BoardRow, board_id)
            if row is None:
                raise JingyunError("not_found", "no such board", "board", status=404)
            items = list(ses.scalars(select(BoardItem).where(BoardItem.board_id == board_id)
                                     .order_by(BoardItem.position, BoardItem.created_at, BoardItem.id)))
            return _board(row, items)

    def create_board(self, username: str, name: str, department_id: int | None = None) -> Board:
        name = name.strip()
        if not name or len(name) > 100:
            raise JingyunError("bad_name", "give the board a name of 1–100 characters", "name")
        with self.store.session() as ses:
            n = ses.scalar(select(func.count()).select_from(BoardRow).where(BoardRow.owner == username)) or 0
            if n >= MAX_BOARDS:
                raise JingyunError("too_many_boards", f"a person owns at most {MAX_BOARDS} boards; delete one first",
                                   "name")
            row = BoardRow(id=uuid.uuid4().hex[:12], owner=username, name=name, department_id=department_id,
                           date_range="", is_default=False, created_at=now_utc(), updated_at=now_utc())
            ses.add(row)
            ses.flush()
            return _board(row)

    def default_board(self, username: str) -> Board:
        """The person's default board 我的看板, made on first use."""
        bid = default_board_id(username)
        with self.store.session() as ses:
            row = ses.get(BoardRow, bid)
            if row is not None:
                return _board(row)
        try:
            with self.store.session() as ses:
                ses.add(BoardRow(id=bid, owner=username, name=DEFAULT_NAME, department_id=None, date_range="",
                                 is_default=True, created_at=now_utc(), updated_at=now_utc()))
        except IntegrityError:  # made meanwhile by another tab or process
            pass
        return self.board(bid)

    def _editable(self, ses: Session, board_id: str, username: str, admin: bool) -> BoardRow:
        row = ses.get(BoardRow, board_id)
        if row is None:
            raise JingyunError("not_found", "no such board", "board", status=404)
        if not (admin or row.owner == username):
            raise JingyunError("forbidden", "only the board's owner or an admin can change it", "board", status=403)
        row.updated_at = now_utc()
        return row

    def update_board(self, username: str, admin: bool, board_id: str, *, name: str | None = None,
                     department_id: int | bool | None = False, date_range: str | None = None) -> Board:
        """Rename, share with a department (``None``: private; ``False``: unchanged) or set the date filter."""
        with self.store.session() as ses:
            row = self._editable(ses, board_id, username, admin)
            if name is not None:
                if not name.strip() or len(name.strip()) > 100:
                    raise JingyunError("bad_name", "give the board a name of 1–100 characters", "name")
                row.name = name.strip()
            if department_id is not False:
                row.department_id = department_id
            if date_range is not None:
                row.date_range = date_range
        return self.board(board_id)

    def delete_board(self, username: str, admin: bool, board_id: str) -> None:
        with self.store.session() as ses:
            self._editable(ses, board_id, username, admin)
            ses.execute(delete(BoardItem).where(BoardItem.board_id == board_id))
            ses.execute(delete(BoardRow).where(BoardRow.id == board_id))

    # ---- items ----

    def _add(self, board_id: str, **values: object) -> Pin:
        with self.store.session() as ses:
            board = ses.get_one(BoardRow, board_id)
            n = ses.scalar(select(func.count()).select_from(BoardItem).where(BoardItem.board_id == board_id)) or 0
            if n >= MAX_PINS:
                raise JingyunError("too_many_pins", f"a board holds at most {MAX_PINS} cards; remove one first", "panel")
            last = ses.scalar(select(func.max(BoardItem.position)).where(BoardItem.board_id == board_id))
            row = BoardItem(id=uuid.uuid4().hex[:12], board_id=board_id, position=(-1 if last is None else last) + 1,
                            created_at=now_utc(), **values)
            ses.add(row)
            ses.flush()
            return _item(row, board)

    def add_panel(self, username: str, admin: bool, board_id: str, panel: str, query: str, title: str) -> Pin:
        with self.store.session() as ses:
            self._editable(ses, board_id, username, admin)
            same = ses.scalar(select(BoardItem).where(BoardItem.board_id == board_id, BoardItem.kind == "panel",
                                                      BoardItem.panel == panel, BoardItem.query == query[:2000]))
            if same is not None:
                return _item(same, ses.get_one(BoardRow, board_id))
        return self._add(board_id, kind="panel", panel=panel, query=query[:2000], title=title[:200], body="",
                         width=2, height=1)

    def add_text(self, username: str, admin: bool, board_id: str, body: str, title: str = "") -> Pin:
        if not body.strip():
            raise JingyunError("bad_text", "write the card's text", "body")
        if len(body) > MAX_TEXT:
            raise JingyunError("bad_text", f"a text card holds at most {MAX_TEXT} characters", "body")
        with self.store.session() as ses:
            self._editable(ses, board_id, username, admin)
        return self._add(board_id, kind="text", panel="", query="", title=title.strip()[:200], body=body,
                         width=2, height=1)

    def _item_row(self, ses: Session, item_id: str, username: str, admin: bool) -> BoardItem:
        row = ses.get(BoardItem, item_id)
        if row is None:
            raise JingyunError("not_found", "no such card on this board", "item", status=404)
        self._editable(ses, row.board_id, username, admin)
        return row

    def move(self, username: str, admin: bool, item_id: str, to: int) -> Board:
        """Put an item at grid position ``to`` (0 first; clamped), the others keep their order."""
        with self.store.session() as ses:
            row = self._item_row(ses, item_id, username, admin)
            rows = [r for r in ses.scalars(select(BoardItem).where(BoardItem.board_id == row.board_id)
                                           .order_by(BoardItem.position, BoardItem.created_at, BoardItem.id))
                    if r.id != item_id]
            rows.insert(max(0, min(to, len(rows))), row)
            for i, r in enumerate(rows):
                r.position = i
            board_id = row.board_id
        return self.board(board_id)

    def resize(self, username: str, admin: bool, item_id: str, width: int, height: int) -> Pin:
        if width not in WIDTHS or height not in HEIGHTS:
            raise JingyunError("bad_size", f"width is 1–{WIDTHS[-1]} columns, height 1–{HEIGHTS[-1]} rows", "width")
        with self.store.session() as ses:
            row = self._item_row(ses, item_id, username, admin)
            row.width, row.height = width, height
            ses.flush()
            return _item(row, ses.get_one(BoardRow, row.board_id))

    def remove(self, username: str, admin: bool, item_id: str) -> None:
        with self.store.session() as ses:
            row = self._item_row(ses, item_id, username, admin)
            ses.delete(row)

    # ---- pins (the single-board API the console and older callers use) ----

    def pins(self, username: str) -> list[Pin]:
        """Every panel on the person's own boards, board by board in grid order."""
        with self.store.session() as ses:
            rows = ses.execute(select(BoardItem, BoardRow).join(BoardRow, BoardRow.id == BoardItem.board_id)
                               .where(BoardRow.owner == username, BoardItem.kind == "panel")
                               .order_by(BoardRow.is_default.desc(), BoardRow.created_at, BoardItem.position,
                                         BoardItem.created_at, BoardItem.id))
            return [_item(i, b) for i, b in rows]

    def pinned(self, username: str, panel: str, query: str) -> bool:
        """Whether this panel with these parameters is already on one of the person's boards."""
        with self.store.session() as ses:
            n = ses.scalar(select(func.count()).select_from(BoardItem).join(BoardRow, BoardRow.id == BoardItem.board_id)
                           .where(BoardRow.owner == username, BoardItem.panel == panel,
                                  BoardItem.query == query[:2000]))
            return bool(n)

    def pin(self, username: str, departments: frozenset[int], panel: str, query: str, title: str,
            board_id: str | None = None) -> Pin:
        """Pin a panel onto one of the person's boards (their default board unless named); pinning the same
        panel with the same parameters twice keeps one."""
        del departments  # a pin is private until its board is shared
        if board_id is None:
            board_id = self.default_board(username).id
        return self.add_panel(username, False, board_id, panel, query, title)

    def unpin(self, username: str, pin_id: str) -> None:
        with self.store.session() as ses:
            row = ses.get(BoardItem, pin_id)
            board = ses.get(BoardRow, row.board_id) if row is not None else None
            if row is None or board is None or board.owner != username:
                raise JingyunError("not_found", "no such pin on your dashboard", "pin", status=404)
            ses.delete(row)

    def share(self, username: str, pin_id: str, shared: bool, departments: frozenset[int]) -> Pin:
        """Share one pin: it moves onto the person's board 部门共享 shared with their (first) department, or back
        onto their default board."""
        with self.store.session() as ses:
            row = ses.get(BoardItem, pin_id)
            board = ses.get(BoardRow, row.board_id) if row is not None else None
            if row is None or board is None or board.owner != username:
                raise JingyunError("not_found", "no such pin on your dashboard", "pin", status=404)
        if shared and not departments:
            raise JingyunError("no_department", "you belong to no department to share with", "shared")
        target = self._shared_board(username, min(departments)).id if shared else self.default_board(username).id
        with self.store.session() as ses:
            last = ses.scalar(select(func.max(BoardItem.position)).where(BoardItem.board_id == target))
            ses.execute(update(BoardItem).where(BoardItem.id == pin_id)
                        .values(board_id=target, position=(-1 if last is None else last) + 1))
            row = ses.get_one(BoardItem, pin_id)
            return _item(row, ses.get_one(BoardRow, target))

    def _shared_board(self, username: str, department: int) -> Board:
        with self.store.session() as ses:
            row = ses.scalar(select(BoardRow).where(BoardRow.owner == username, BoardRow.department_id == department)
                             .order_by(BoardRow.created_at).limit(1))
            if row is not None:
                return _board(row)
        return self.create_board(username, SHARED_NAME, department)

    def shared_with(self, username: str, departments: frozenset[int]) -> list[Pin]:
        """Panels on boards other people shared with one of these departments."""
        if not departments:
            return []
        with self.store.session() as ses:
            rows = ses.execute(select(BoardItem, BoardRow).join(BoardRow, BoardRow.id == BoardItem.board_id)
                               .where(BoardRow.owner != username, BoardRow.department_id.in_(sorted(departments)),
                                      BoardItem.kind == "panel")
                               .order_by(BoardRow.owner, BoardRow.created_at, BoardItem.position, BoardItem.id))
            return [_item(i, b) for i, b in rows]

    def import_files(self) -> int:
        """Import ``dashboards/<username>.json`` once (an item id already stored is kept); rename each imported.
        A pin that was shared goes onto the owner's board shared with that department."""
        n = 0
        for path in sorted(self.dir.glob("*.json")) if self.dir.is_dir() else []:
            data = json.loads(path.read_text(encoding="utf-8"))
            for p in data.get("pins", []):
                with self.store.session() as ses:
                    if ses.get(BoardItem, p["id"]) is not None:
                        continue
                depts = sorted(p.get("departments", ())) if p.get("shared") else []
                board = (self._shared_board(p["owner"], depts[0]) if depts else self.default_board(p["owner"])).id
                created = p.get("created_at") or ""
                with self.store.session() as ses:
                    last = ses.scalar(select(func.max(BoardItem.position)).where(BoardItem.board_id == board))
                    ses.add(BoardItem(id=p["id"], board_id=board, kind="panel", panel=p["panel"],
                                      query=p.get("query", ""), title=p.get("title", ""), body="",
                                      position=(-1 if last is None else last) + 1, width=2, height=1,
                                      created_at=_naive(created) if created else now_utc()))
                n += 1
            target = path.with_name(path.name + ".imported")
            if path.exists():
                path.rename(target if not target.exists() else path.with_name(f"{path.name}.imported.{uuid.uuid4().hex[:6]}"))
        return n


def _naive(text: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(text)
    return t.astimezone(dt.UTC).replace(tzinfo=None) if t.tzinfo else t


__all__ = ["MAX_BOARDS", "MAX_PINS", "PRESETS", "Board", "DashboardStore", "Pin", "date_filter", "default_board_id",
           "panel_query", "render_text"]
