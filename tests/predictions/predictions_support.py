"""Plain helpers for the prediction tests (churn, forecast, recommendations) (the fixtures stay in conftest.py).

A uniquely named module: every test folder has a conftest.py, so importing names from `conftest`
picks whichever folder's conftest was imported first."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from jingyun.config import Settings
from jingyun.demo.params import DemoParams

DEMO = DemoParams(users=4000, days=365, seed=3)
DATA_END = DEMO.end_date + dt.timedelta(days=1)


@dataclass(frozen=True)
class Demo:
    home: Path
    settings: Settings
