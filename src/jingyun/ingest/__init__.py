"""Ingestion with nothing lost: readers, validation, dedup, identity, quarantine."""

from jingyun.ingest.pipeline import ingest_file, ingest_json_lines, ingest_rows
from jingyun.ingest.report import IngestReport

__all__ = ["IngestReport", "ingest_file", "ingest_json_lines", "ingest_rows"]
