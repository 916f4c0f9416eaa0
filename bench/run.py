"""Run every benchmark module (``bench/bench_*.py``) and write their tables.

Each module exposes ``run(quick: bool) -> list[dict]``: rows of one table, each
a measurement next to the reference measured in the same run on this machine.
``python -m bench.run [--quick] [NAME ...]``; results go to ``bench/results/NAME.md``,
newest run first, earlier runs and their notes kept below it. A module that sets ``SECTION_OF = "other"``
appends its runs to a ``## NAME`` section of ``results/other.md`` instead (oldest first), keeping the rest.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def markdown(rows: list[dict[str, object]]) -> str:
    if not rows:
        return "(no rows)\n"
    headers = list(rows[0])
    for row in rows[1:]:
        headers += [k for k in row if k not in headers]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        lines.append("| " + " | ".join(str(row.get(h, "")) for h in headers) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (for CI smoke runs)")
    parser.add_argument("names", nargs="*", help="benchmark names, e.g. ingest (default: all)")
    args = parser.parse_args(argv)
    here = Path(__file__).parent
    names = args.names or sorted(m.name[6:] for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    RESULTS.mkdir(exist_ok=True)
    for name in names:
        module = importlib.import_module(f"bench.bench_{name}")
        started = time.perf_counter()
        rows = module.run(quick=args.quick)
        table = markdown(rows)
        header = f"# {name}\n\n{(module.__doc__ or '').strip()}\n\nRun {time.strftime('%Y-%m-%d %H:%M')} ({time.perf_counter() - started:.0f} s, quick={args.quick}).\n\n"
        section_of = getattr(module, "SECTION_OF", None)  # a bench whose table is a section of another's file
        if section_of:
            out = RESULTS / f"{section_of}.md"
            kept = out.read_text(encoding="utf-8").rstrip("\n") + "\n\n" if out.exists() else ""
            # the section's title and description once, then each run appended below the earlier ones
            first = f"\n## {name}\n" not in "\n" + kept
            out.write_text(kept + ("#" + header if first else header[header.rindex("\n\nRun ") + 2:]) + table, encoding="utf-8")
        else:
            out = RESULTS / f"{name}.md"
            (out).write_text(header + table + _earlier_runs(out), encoding="utf-8")
        sys.stdout.write(f"\n## {name}\n{table}")
    return 0


def _earlier_runs(path: Path) -> str:
    """What the results file held below its title and description: earlier runs
    and the notes written beside them are kept under the new run, not overwritten."""
    if not path.exists():
        return ""
    text = path.read_text(encoding="utf-8")
    start = text.find("\nRun ")
    return "\n" + text[start + 1 :] if start >= 0 else ""


if __name__ == "__main__":
    sys.exit(main())
