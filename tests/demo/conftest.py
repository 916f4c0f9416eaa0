"""Small demo builds shared by the demo tests (generation is seeded, so sharing is safe)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jingyun.demo.build import generate_and_write
from jingyun.demo.params import DemoParams

SMALL = DemoParams(users=800, days=60, seed=11)


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    demo_dir = tmp_path_factory.mktemp("demo_small") / "demo"
    _, _, truth, path = generate_and_write(SMALL, demo_dir)
    assert json.loads(path.read_text(encoding="utf-8")) == truth
    return demo_dir, truth
