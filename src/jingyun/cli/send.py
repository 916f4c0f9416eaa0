"""``jingyun send test`` (send one message) and ``jingyun messages`` (delivery log, retry worker,
dead letters, purge, templates, endpoints, consent import). 消息发送与投递记录。"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from jingyun.cli.output import print_json, print_table
from jingyun.config import load_settings
from jingyun.errors import JingyunError
from jingyun.localtime import local_iso
from jingyun.messaging import consent, core, endpoints, templates
from jingyun.messaging.views import delivery_dict
from jingyun.store.shared import metadata_store

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exact JSON. 输出JSON。")]
send_app = typer.Typer(help="Send messages. 发送消息。", no_args_is_help=True)
messages_app = typer.Typer(help="Delivery log, retries, dead letters, templates, endpoints, consent. 消息投递管理。",
                           no_args_is_help=True)


def _sent(d: core.Delivery) -> dict[str, Any]:
    return {"id": d.id, "key": d.key, "channel": d.channel, "status": d.status, "reason": d.reason,
            "attempts": d.attempts}


@send_app.command("test")
def send_test(
    channel: Annotated[str, typer.Option("--channel", help="email | webhook | sms | push | wechat | inbox. 渠道。")],
    to: Annotated[str, typer.Option("--to", help="Address, phone, token, openid or endpoint name. 收件人。")],
    template: Annotated[str | None, typer.Option("--template", help="Template name (e.g. cart_reminder). 模板。")] = None,
    user: Annotated[str | None, typer.Option("--user", help="User id whose data personalises the template. 用户ID。")] = None,
    locale: Annotated[str, typer.Option("--locale", help="zh-CN | en. 语言。")] = "zh-CN",
    text: Annotated[str, typer.Option("--text", help="Text when no template is given. 正文。")] = "",
    subject: Annotated[str, typer.Option("--subject", help="Subject when no template is given. 标题。")] = "",
    purpose: Annotated[str, typer.Option("--purpose", help="service | marketing | alert. 用途。")] = "service",
    coupon: Annotated[str | None, typer.Option("--coupon", help="Coupon code for the template. 优惠码。")] = None,
    key: Annotated[str, typer.Option("--key", help="Send key: the same key never sends twice. 幂等键。")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Send one message now and print its delivery. 立即发送一条消息。

    Example: jingyun send test --channel email --to ops@shop.cn --template cart_reminder --user u_001 --json
    """
    from jingyun.api.routers.messages import build_message

    settings = load_settings()
    store = metadata_store(settings)

    def reader() -> Any:
        from jingyun.warehouse.backends import open_backend

        return open_backend(settings)

    if channel not in core.CHANNELS:
        raise JingyunError("bad_channel", f"--channel must be one of {', '.join(core.CHANNELS)}", "channel")
    message = build_message(store, settings, {"channel": channel, "to": to, "template": template, "user_id": user,
                                              "locale": locale, "text": text, "subject": subject or text[:60],
                                              "purpose": purpose, "coupon_code": coupon, "key": key},
                            reader=reader if user else None)
    d = core.deliver(store, settings, message)
    if as_json:
        print_json(_sent(d))
        return
    typer.echo(f"delivery {d.id}: {d.status}" + (f" ({d.reason})" if d.reason else ""))


@messages_app.command("log")
def log_cmd(
    status: Annotated[str | None, typer.Option("--status", help="Only this status. 状态。")] = None,
    channel: Annotated[str | None, typer.Option("--channel", help="Only this channel. 渠道。")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows (1-500). 条数。")] = 50,
    offset: Annotated[int, typer.Option("--offset", help="Rows to skip. 跳过。")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """The delivery log, newest first (recipients de-identified). 投递记录。 Example: jingyun messages log --status dead"""
    from jingyun.security.masking import salt_for

    settings = load_settings()
    page = core.log(metadata_store(settings), status=status, channel=channel, limit=limit, offset=offset)
    rows = [delivery_dict(r, settings.timezone, salt_for(settings)) for r in page.items]
    rows = [{**r, **{k: local_iso(v, settings.timezone) for k, v in r.items() if k.endswith("_at")}} for r in rows]
    if as_json:
        print_json({"items": rows, "total": page.total, "limit": limit, "offset": offset})
        return
    print_table(f"Deliveries 投递记录 ({page.total})", ["id", "channel", "recipient", "status", "reason", "attempts", "created"],
                [[r["id"], r["channel"], r["recipient"][:24], r["status"], r["reason"][:60], r["attempts"], r["created_at"]]
                 for r in rows])


@messages_app.command("retry")
def retry_cmd(as_json: JsonOpt = False) -> None:
    """Retry due deliveries and settle interrupted sends (the worker the scheduler runs). 执行重试。

    Example: jingyun messages retry --json
    """
    settings = load_settings()
    counts = core.retry_due(metadata_store(settings), settings)
    if as_json:
        print_json(counts)
        return
    typer.echo(", ".join(f"{k} {v}" for k, v in counts.items()))


@messages_app.command("replay")
def replay_cmd(
    ids: Annotated[list[int] | None, typer.Argument(help="Dead-letter ids (default: all). 死信ID。")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Send dead letters again. 重放死信。 Example: jingyun messages replay 12 13"""
    settings = load_settings()
    done = core.replay(metadata_store(settings), settings, ids or None)
    if as_json:
        print_json([_sent(d) for d in done])
        return
    typer.echo(f"replayed {len(done)}: " + ", ".join(f"{d.id} {d.status}" for d in done))


@messages_app.command("purge")
def purge_cmd(
    days: Annotated[int, typer.Option("--days", help="Delete finished deliveries older than this (>= 30). 天数。")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Delete finished deliveries (and their send keys) older than N days. 清理旧投递记录。

    Example: jingyun messages purge --days 90
    """
    settings = load_settings()
    n = core.purge(metadata_store(settings), days=days or settings.messages_key_days)
    if as_json:
        print_json({"deleted": n})
        return
    typer.echo(f"deleted {n}")


@messages_app.command("templates")
def templates_cmd(
    preview: Annotated[str | None, typer.Option("--preview", help="Render this template with a sample person. 预览。")] = None,
    locale: Annotated[str, typer.Option("--locale", help="zh-CN | en. 语言。")] = "zh-CN",
    as_json: JsonOpt = False,
) -> None:
    """List templates, or preview one (sample person, masked). 模板列表与预览。

    Example: jingyun messages templates --preview cart_reminder --locale en
    """
    from jingyun.security.masking import salt_for

    settings = load_settings()
    store = metadata_store(settings)
    if preview is None:
        names = templates.names(store)
        print_json(names) if as_json else typer.echo("\n".join(names))
        return
    out = templates.preview(templates.get(store, preview, locale), mask_salt=salt_for(settings))
    if as_json:
        print_json({"subject": out.subject, "text": out.text, "html": out.html})
        return
    typer.echo(f"{out.subject}\n\n{out.text}")


@messages_app.command("endpoint-add")
def endpoint_add(
    name: Annotated[str, typer.Argument(help="Endpoint name (sms/push/wechat: the channel's default). 名称。")],
    url: Annotated[str, typer.Option("--url", help="http(s) URL. 地址。")],
    kind: Annotated[str, typer.Option("--kind", help="webhook | sms | push | wechat. 类型。")] = "webhook",
    payload: Annotated[str | None, typer.Option("--payload", help="Payload shape (JSON with Jinja), or @file. 报文格式。")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add or replace a webhook endpoint or provider; prints the signing secret once. 添加回调地址。

    Example: jingyun messages endpoint-add crm --url https://crm.example.cn/hooks/jingyun
    """
    settings = load_settings()
    if payload and payload.startswith("@"):
        payload = Path(payload[1:]).read_text(encoding="utf-8")
    ep, secret = endpoints.add(metadata_store(settings), settings, name=name, kind=kind, url=url, payload=payload)
    if as_json:
        print_json({**ep.__dict__, "secret": secret})
        return
    typer.echo(f"endpoint {ep.name} ({ep.kind}) → {ep.url}\nsigning secret (shown once): {secret}")


@messages_app.command("consent-import")
def consent_import(
    path: Annotated[Path, typer.Argument(help="CSV: user_id,purpose,channel,granted. 同意记录CSV。")],
    as_json: JsonOpt = False,
) -> None:
    """Record consent from a CSV file (all rows or none). 导入用户同意记录。

    Example: jingyun messages consent-import consent.csv
    """
    settings = load_settings()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise JingyunError("bad_file", f"cannot read {path}: {exc.strerror}", "path") from None
    n = consent.import_csv(metadata_store(settings), text)
    if as_json:
        print_json({"recorded": n})
        return
    typer.echo(f"recorded {n}")


def register(app: typer.Typer) -> None:
    app.add_typer(send_app, name="send")
    app.add_typer(messages_app, name="messages")
