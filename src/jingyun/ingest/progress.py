"""A Rich progress bar for one file: bytes for text files, rows for Parquet."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


def file_progress(path: Path) -> Callable[[int, int], None]:
    """Returns update(records_done, bytes_in_chunk); update(-1, 0) closes the bar."""
    size = path.stat().st_size if path.exists() else 0
    rows_total = None
    if path.suffix.lower() in (".parquet", ".pq") and path.is_file():
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            rows_total = pq.ParquetFile(path).metadata.num_rows
        except (pa.ArrowInvalid, OSError):  # the reader refuses it next, with the file named
            rows_total = None
    bar = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[rows]:,} records"),
        TimeElapsedColumn(), transient=True,
    )
    task = bar.add_task(path.name, total=rows_total or size or None, rows=0)
    bar.start()
    state = {"bytes": 0}

    def update(rows: int, nbytes: int) -> None:
        if rows < 0:
            bar.stop()
            return
        state["bytes"] += nbytes
        bar.update(task, completed=rows if rows_total else state["bytes"], rows=rows)

    return update
