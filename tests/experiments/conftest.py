"""Fixtures for experiment tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from exp_planting import Planted, plant


@pytest.fixture
def planted_factory() -> Callable[..., Planted]:
    return plant
