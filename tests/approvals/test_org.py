"""The organisation: CSV import with row-numbered errors (the good rows imported), positions and superiors."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from jingyun.approvals import org
from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.security.config import load_service_settings
from jingyun.security.crypto import FieldCipher
from jingyun.store import Store
from jingyun.store.models import Person

BAD_CSV = """name,email,department,role,superior
carol,carol@example.com,marketing,specialist,mman
,nobody@example.com,marketing,specialist,
dave,not-an-email,marketing,specialist,mman
erin,,marketing,wizard,mman
frank,,,manager,gm
gina,,marketing,specialist,zed
hank,,marketing,specialist,dave
ivy,,finance,总监,gm
carol,,marketing,specialist,
"""


def test_import_reports_bad_rows_by_number_and_keeps_the_rest(store: Store, settings: Settings) -> None:
    report = org.import_csv(store, settings, BAD_CSV)
    assert (report.received, report.created, report.updated) == (9, 2, 0)
    assert [(e.row, e.field) for e in report.errors] == [
        (3, "name"), (4, "email"), (5, "role"), (6, "department"), (7, "superior"), (8, "superior"), (10, "name")]
    assert "bad row 4" in report.errors[5].message  # hank's superior dave was refused
    chart = {p.username: p for p in org.org_chart(store)}
    assert chart["carol"].superior == "mman" and chart["carol"].role == "specialist"
    assert chart["ivy"].title == "director" and chart["ivy"].role == "manager"
    assert "dave" not in chart and "hank" not in chart
    # ivy replaced fdir as finance director
    assert org.department_head(store, "finance", "director") == "ivy"
    assert org.department_head(store, "marketing", "manager") == "mman"
    with store.session() as ses:  # emails kept encrypted
        enc = ses.scalar(select(Person.email_enc).where(Person.username == "carol"))
    assert enc and "carol" not in enc
    assert FieldCipher(load_service_settings(settings)).decrypt(enc, "email_enc") == "carol@example.com"


def test_reimport_updates_and_refuses_a_loop(store: Store, settings: Settings) -> None:
    report = org.import_csv(store, settings, "name,role,department,superior\nalice,manager,growth,mdir\n")
    assert (report.created, report.updated, report.errors) == (0, 1, [])
    assert org.department_head(store, "growth") == "alice"
    with pytest.raises(JingyunError) as exc:
        org.import_csv(store, settings, "name,role,superior\ngm,general_manager,alice\n")
    assert exc.value.code == "superior_loop"
    assert {p.username: p.superior for p in org.org_chart(store)}["gm"] is None  # nothing written
    with pytest.raises(JingyunError) as exc:
        org.set_superior(store, "gm", "mman")
    assert exc.value.code == "superior_loop"
    with pytest.raises(JingyunError) as exc:
        org.import_csv(store, settings, "name,email\nx,y\n")
    assert exc.value.field == "header"


def test_imported_people_cannot_sign_in_without_a_password(store: Store) -> None:
    from jingyun.security import auth

    with store.session() as ses:
        p = ses.scalar(select(Person).where(Person.username == "alice"))
        assert p is not None
        assert not auth._verify(p.password_hash, "!imported")


def test_demo_org_chart_routes_every_tier_and_playbook(settings: Settings) -> None:
    from decimal import Decimal

    from jingyun import approvals
    from jingyun.demo.org import install_org
    from jingyun.store.shared import metadata_store

    assert install_org(settings) == 13
    assert install_org(settings) == 13  # a rebuild updates, nothing doubles
    st = metadata_store(settings)
    assert [s.approver for s in approvals.route(st, "marketing", Decimal("500000.01"))] == [
        "li.mkt.dir", "wang.fin.dir", "zhang.gm"]
    assert org.department_head(st, "tech", "manager") == "sun.tech.mgr"
