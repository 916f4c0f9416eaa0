"""A workspace with the approvals organisation (finance director approves budget releases)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jingyun.approvals import org
from jingyun.config import Settings
from jingyun.store import Store, open_store

_SERVICE = Path(__file__).parents[1] / "service"
sys.path.insert(0, str(_SERVICE))  # the API tests use its service_support

ORG_CSV = """name,email,department,role,superior
gm,gm@example.com,,general_manager,
mdir,mdir@example.com,marketing,director,gm
fdir,fdir@example.com,finance,director,gm
alice,alice@example.com,marketing,specialist,mdir
"""


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    st = open_store(settings)
    report = org.import_csv(st, settings, ORG_CSV)
    assert report.errors == []
    yield st
    st.close()
