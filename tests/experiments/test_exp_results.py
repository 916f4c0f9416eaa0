"""Result types live below analyze and verdict: no import cycle, and fixed choices are Literal types."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import jingyun.experiments as pkg
from jingyun.experiments.results import ExperimentResult, MetricResult, Verdict


def _imports(module: str) -> set[str]:
    tree = ast.parse((Path(pkg.__file__).parent / f"{module}.py").read_text(encoding="utf-8"))
    return {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}


def test_verdict_does_not_import_analyze_even_for_types() -> None:
    assert "jingyun.experiments.analyze" not in _imports("verdict")
    assert not {"jingyun.experiments.analyze", "jingyun.experiments.verdict"} & _imports("results")


def test_fixed_choices_are_literal_types() -> None:
    hints = typing.get_type_hints(MetricResult)
    assert typing.get_args(hints["role"]) == ("primary", "secondary", "guardrail")
    assert typing.get_args(hints["kind"]) == ("proportion", "mean", "ratio")
    assert set(typing.get_args(typing.get_type_hints(Verdict)["recommendation"])) == {
        "ship", "rollback", "keep_running", "fix_srm"}
    assert typing.get_type_hints(ExperimentResult)["verdict"] is Verdict
