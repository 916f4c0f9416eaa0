"""The screenshot walk (``make screenshots``) covers every console page: each GET route the app mounts under
/console is shot or skipped with a reason, so a new page without a screenshot fails here (no browser)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jingyun.web import screenshots
from jingyun.web.screenshots import SHOTS, SKIPPED, console_get_routes, coverage_problems

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_console_get_route_is_shot_or_skipped_with_a_reason(console: Any) -> None:
    # every page the walk shoots without an example object answers in the mounted app (not 404/405)
    admin = console.client("admin")
    for shot in SHOTS:
        if shot.role == "admin" and "{" not in shot.url:
            assert admin.get("/console" + shot.url).status_code == 200, shot.url
    routes = console_get_routes()
    assert {"/", "/analyses", "/users/profile", "/journeys/{key}", "/incidents/{iid}", "/approvals/{rid}"} <= set(routes)
    assert coverage_problems(routes) == []
    assert all(why.strip() for why in SKIPPED.values())
    parameterised = [s for s in SHOTS if "{" in s.route]
    assert parameterised and all("{" in s.url for s in parameterised)  # each example fills its placeholder


def test_a_new_page_or_a_stale_entry_is_reported() -> None:
    routes = console_get_routes()
    assert coverage_problems([*routes, "/reports/new"]) == ["/reports/new: neither shot nor listed in SKIPPED with a reason"]
    gone = [r for r in routes if r != "/pricing"]
    assert coverage_problems(gone) == ["/pricing: listed but the console has no such GET route"]


def test_the_script_refuses_to_run_when_the_walk_misses_a_page(monkeypatch: Any, tmp_path: Path, capsys: Any) -> None:
    monkeypatch.setattr(screenshots, "console_get_routes", lambda: [*console_get_routes(), "/reports/new"])
    assert screenshots.main([str(tmp_path)]) == 2
    assert "/reports/new: neither shot nor listed" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing built, nothing written


def test_the_committed_index_links_every_shot_in_both_languages() -> None:
    index = DOCS / "screenshots" / "README.md"
    text = index.read_text(encoding="utf-8")
    for shot in SHOTS:
        for lang in ("zh", "en"):
            file = f"{shot.name}_{lang}.jpg"
            assert f"]({file})" in text, file
            assert (DOCS / "screenshots" / file).stat().st_size > 5_000, file
    assert "screenshots/README.md" in (DOCS / "console.md").read_text(encoding="utf-8")
