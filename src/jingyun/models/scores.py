"""The ``model_scores`` table every model writes back to (segments read model tags from it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from jingyun.warehouse.backends import Source, engine_of, writer
from jingyun.warehouse.connection import MODEL_SCORES_DDL as MODEL_SCORES_DDL


def replace_scores(source: Source, model: str, persons: Sequence[str] | np.ndarray,
                   score_names: Sequence[str], values: Sequence[float] | np.ndarray) -> dt.datetime:
    """Replace every row of ``model`` in one transaction; returns the ``scored_at`` stamp.
    Scores are written to the warehouse of record (a declared gap on engines without one)."""
    wh = writer(engine_of(source))
    scored_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    batch = pa.table({
        "person_id": pa.array([str(p) for p in persons], pa.string()),
        "score_name": pa.array(list(score_names), pa.string()),
        "value": pa.array(np.asarray(values, dtype=np.float64), pa.float64()),
    })
    wh.con.execute(MODEL_SCORES_DDL)
    with wh.transaction() as con:
        con.execute("DELETE FROM model_scores WHERE model = ?", [model])
        con.register("_scores_batch", batch)
        try:
            con.execute("INSERT INTO model_scores SELECT person_id, ?, score_name, value, ? FROM _scores_batch",
                        [model, scored_at])
        finally:
            con.unregister("_scores_batch")
    return scored_at
