"""A workspace with the approvals organisation (the marketing director approves pricing proposals)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jingyun.approvals import org
from jingyun.config import Settings
from jingyun.store import Store, open_store

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
