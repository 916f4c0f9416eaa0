"""What each write to the warehouse touched, so a bulk load can commit without holding the writer's lock.

Inside the service, every write takes the writer's lock (:class:`jingyun.api.writer.FairLock`), so two
loads never deduplicate against each other's uncommitted rows. Holding it for a whole chunk of a file
ingest (~0.3 s for 130,000 events on two cores, mostly DuckDB writing the row group) made HTTP requests
wait that long. A chunk now runs its transaction *optimistically*, without the lock, and takes the lock
only to commit, after checking that nothing committed meanwhile could make its answer wrong. DuckDB's
appends from concurrent transactions never conflict; what could go wrong is ours:

* **the same key stored twice**: another writer committed a row whose key this chunk also stores (the
  chunk's dedup read a snapshot from before that commit);
* **a person resolved with stale links**: another writer linked an anonymous id to a person that this
  chunk's rows carry (they keep ``anon:…``), or this chunk links an id that the other writer's rows carry.

Each holder of the lock leaves a :class:`Claim` in the :class:`Journal`: the keys it stored and the
anonymous ids it referenced and may have linked. A holder that says nothing is assumed to have touched
everything (``UNKNOWN``), so a write that is not a load (a segment refresh, a privacy erasure, an
``optimize``) makes the chunk fall back to the locked path. A checkpoint says ``NOTHING``. On a clash the
chunk rolls back and runs again under the lock, as before: correctness never depends on the check being
clever, only on it never missing a clash.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

_EMPTY = pa.array([], pa.string())


@dataclass(frozen=True)
class Claim:
    """What one committed write touched: its table's keys, and the anonymous ids it referenced and linked."""

    table: str
    keys: pa.Array = field(default_factory=lambda: _EMPTY)  # the stored rows' keys (several columns: joined by \x1f)
    anon: pa.Array = field(default_factory=lambda: _EMPTY)  # every anonymous id its rows carry
    linked: pa.Array = field(default_factory=lambda: _EMPTY)  # anonymous ids it may link to a person (both ids)

    def clashes(self, other: Claim | None) -> bool:
        """Could committing ``self`` after ``other`` (which it did not see) store something wrong?"""
        if other is None:  # a write that did not say what it touched
            return True
        if other is NOTHING:
            return False
        if other.table == self.table and _meets(self.keys, other.keys):
            return True
        return _meets(self.anon, other.linked) or _meets(other.anon, self.linked)

    def merged(self, other: Claim) -> Claim:
        if other is NOTHING:
            return self
        if self is NOTHING:
            return other
        table = self.table if self.table == other.table else "*"
        return Claim(table, _cat(self.keys, other.keys), _cat(self.anon, other.anon), _cat(self.linked, other.linked))


NOTHING = Claim("")  # a write that changed no rows (a checkpoint)


def _meets(a: pa.Array, b: pa.Array) -> bool:
    if len(a) == 0 or len(b) == 0:
        return False
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    return bool(pc.any(pc.is_in(large, value_set=small)).as_py())


def _cat(a: pa.Array, b: pa.Array) -> pa.Array:
    return pa.concat_arrays([a.cast(pa.string()), b.cast(pa.string())])


class Journal:
    """The claims of the lock's recent holders, by generation (one generation per holding).

    Not thread-safe on its own: :class:`jingyun.api.writer.FairLock` calls it under its condition lock.
    """

    def __init__(self, keep: int = 512):
        self.generation = 0
        self._claims: collections.OrderedDict[int, Claim | None] = collections.OrderedDict()
        self._keep = keep

    def opened(self) -> None:
        """A new holder has the lock: until it says otherwise, it may touch anything."""
        self.generation += 1
        self._claims[self.generation] = None
        while len(self._claims) > self._keep:
            self._claims.popitem(last=False)

    def note(self, claim: Claim) -> None:
        """The current holder tells what it wrote (again for each write: the claims add up)."""
        current = self._claims.get(self.generation)
        self._claims[self.generation] = claim if current is None else current.merged(claim)

    def since(self, generation: int) -> list[Claim | None]:
        """Claims of the holders after ``generation``, up to (not including) the current one."""
        wanted = range(generation + 1, self.generation)
        if wanted and wanted.start not in self._claims:
            return [None]  # forgotten: assume the worst
        return [self._claims[g] for g in wanted]
