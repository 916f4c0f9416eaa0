"""The ingestion report: received = stored + duplicates + quarantined, always."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class IngestReport:
    table: str
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    tracking_issues: Counter[str] = field(default_factory=Counter)
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0
    encodings: dict[str, str] = field(default_factory=dict)  # text file → the encoding it was read in
    unknown_places: Counter[str] = field(default_factory=Counter)  # users rows kept with a place not matched

    @property
    def reconciles(self) -> bool:
        return self.received == self.stored + self.duplicates + self.quarantined

    def add(self, other: IngestReport) -> None:
        self.received += other.received
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.reasons.update(other.reasons)
        self.tracking_issues.update(other.tracking_issues)
        self.files += [f for f in other.files if f not in self.files]
        self.seconds += other.seconds
        self.encodings.update(other.encodings)
        self.unknown_places.update(other.unknown_places)

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "received": self.received,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "reasons": dict(sorted(self.reasons.items())),
            "tracking_issues": dict(sorted(self.tracking_issues.items())),
            "files": self.files,
            "seconds": round(self.seconds, 3),
            "reconciles": self.reconciles,
            "encodings": self.encodings,
            "unknown_places": dict(sorted(self.unknown_places.items())),
        }
