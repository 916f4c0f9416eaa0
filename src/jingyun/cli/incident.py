"""``jingyun incident open|list|show|close|step|note|playbooks``: incidents from the playbook library."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from jingyun.cli.output import print_json, print_table
from jingyun.config import load_settings
from jingyun.store.shared import metadata_store

app = typer.Typer(help="Incidents from playbooks, with response levels and deadlines. 应急事件。", no_args_is_help=True)
AsJson = Annotated[bool, typer.Option("--json", help="Exact JSON")]
Actor = Annotated[str, typer.Option("--as", help="Who acts")]


def _show(inc: Any, as_json: bool) -> None:
    if as_json:
        print_json(inc)
        return
    typer.echo(f"#{inc.id} [{inc.status}] L{inc.level} {inc.playbook}: {inc.title} — responder "
               f"{inc.first_responder or '(nobody)'}")
    print_table("steps 步骤", ["#", "step", "done by"], [[s.idx, s.en, s.done_by or ""] for s in inc.steps])
    print_table("timeline 时间线", ["when", "who", "what", "text"],
                [[e.ts, e.author, e.kind, e.text] for e in inc.timeline])


@app.command("open")
def open_cmd(playbook: Annotated[str, typer.Option("--playbook")], title: Annotated[str, typer.Option("--title")],
             level: Annotated[int | None, typer.Option(help="1 (24 h), 2 (48 h), 3 (72 h); default the playbook's")]
             = None, actor: Annotated[str, typer.Option("--as")] = "cli", as_json: AsJson = False) -> None:
    """Open an incident. 启动应急。 Example: jingyun incident open --playbook stock_out --level 2 --title 爆款断货"""
    from jingyun import incidents

    settings = load_settings()
    lvl = level if level is not None else incidents.playbook(playbook).default_level
    inc = incidents.open_incident(metadata_store(settings), settings, playbook=playbook, level=lvl, title=title,
                                  opened_by=actor)
    _show(inc, as_json)


@app.command("list")
def list_cmd(status: Annotated[str | None, typer.Option(help="open or closed")] = None, limit: int = 50,
             offset: int = 0, as_json: AsJson = False) -> None:
    """Incidents, newest first. 应急列表。 Example: jingyun incident list --status open --json"""
    from jingyun import incidents

    rows, total = incidents.list_incidents(metadata_store(load_settings()), status=status, limit=limit,
                                           offset=offset)
    if as_json:
        print_json({"total": total, "limit": limit, "offset": offset, "items": rows})
        return
    print_table(f"incidents 应急事件 ({total})", ["id", "status", "level", "playbook", "title", "deadline"],
                [[i.id, i.status, i.level, i.playbook, i.title, i.deadline_at] for i in rows])


@app.command()
def show(incident_id: int, as_json: AsJson = False) -> None:
    """One incident with steps and timeline. 应急详情。 Example: jingyun incident show 1"""
    from jingyun import incidents

    _show(incidents.get(metadata_store(load_settings()), incident_id), as_json)


@app.command()
def step(incident_id: int, idx: int, actor: Actor, as_json: AsJson = False) -> None:
    """Tick a playbook step. 完成步骤。 Example: jingyun incident step 1 2 --as tom"""
    from jingyun import incidents

    _show(incidents.complete_step(metadata_store(load_settings()), incident_id, idx, author=actor), as_json)


@app.command()
def note(incident_id: int, text: str, actor: Actor, as_json: AsJson = False) -> None:
    """Add to the timeline. 记录。 Example: jingyun incident note 1 "已回滚" --as tom"""
    from jingyun import incidents

    _show(incidents.add_note(metadata_store(load_settings()), incident_id, author=actor, text=text), as_json)


@app.command()
def close(incident_id: int, actor: Actor, summary: Annotated[str, typer.Option()],
          root_cause: Annotated[str, typer.Option("--root-cause")],
          action: Annotated[list[str], typer.Option("--action", help="A follow-up action (repeat)")],
          as_json: AsJson = False) -> None:
    """Close with the post-incident review. 复盘并关闭。 Example: jingyun incident close 1 --as tom --summary 恢复 --root-cause 配置错误 --action 加校验"""
    from jingyun import incidents

    inc = incidents.close(metadata_store(load_settings()), incident_id, author=actor,
                          review={"summary": summary, "root_cause": root_cause, "actions": action})
    _show(inc, as_json)


@app.command()
def playbooks(as_json: AsJson = False) -> None:
    """The playbook library. 应急预案库。 Example: jingyun incident playbooks --json"""
    from jingyun import incidents

    lib = incidents.library()
    if as_json:
        print_json([p.to_dict() for p in lib.values()])
        return
    print_table("playbooks 应急预案", ["key", "name", "level", "first responder", "steps"],
                [[p.key, f"{p.zh} {p.en}", p.default_level, p.first_responder, len(p.steps)] for p in lib.values()])


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="incident")
