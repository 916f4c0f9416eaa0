"""ChunkLoader._store is driven by one table of per-table steps, not by branches on table names."""

from __future__ import annotations

import ast
import inspect
import textwrap

from jingyun.ingest.pipeline import STORE_STEPS, ChunkLoader, StoreSteps
from jingyun.schema.tables import TABLES


def test_store_names_no_table_and_every_step_table_exists() -> None:
    tree = ast.parse(textwrap.dedent(inspect.getsource(ChunkLoader._store)))
    literals = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert not literals & set(TABLES), "per-table behaviour belongs in STORE_STEPS"
    assert set(STORE_STEPS) <= set(TABLES)
    # the plain insert is the default: a table without special steps needs no entry
    assert StoreSteps() == StoreSteps(own_person=False, own_test=False, merge_first=False)
    assert {t for t, s in STORE_STEPS.items() if s.own_person} == {"users"}
