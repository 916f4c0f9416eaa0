"""``jingyun admin``: console users, API keys, key rotation. 系统管理。"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy import select

from jingyun.cli.output import print_json, print_table
from jingyun.config import load_settings
from jingyun.security import auth
from jingyun.security.audit import Auditor
from jingyun.security.config import load_service_settings
from jingyun.security.crypto import rotate_store
from jingyun.security.vault import rewrap
from jingyun.store import ApiKey, Person, open_store

admin = typer.Typer(help="Users, API keys, key rotation. 用户、API密钥与密钥轮换。", no_args_is_help=True)
Json = Annotated[bool, typer.Option("--json", help="Exact JSON output. 输出JSON")]


def _password(value: str | None) -> str:
    return value if value is not None else typer.prompt("Password 密码", hide_input=True, confirmation_prompt=True)


@admin.command("create-user")
def create_user(
    username: Annotated[str, typer.Argument(help="Login name. 用户名")],
    role: Annotated[str, typer.Option(help="specialist | analyst | manager | admin. 角色")],
    department: Annotated[list[str] | None, typer.Option(help="Department (repeatable). 部门(可重复)")] = None,
    display_name: Annotated[str, typer.Option(help="Display name. 显示名")] = "",
    password: Annotated[str | None, typer.Option(help="Password (prompted when omitted). 密码(省略则提示输入)")] = None,
    as_json: Json = False,
) -> None:
    """Create a console user. 创建控制台用户。

    Example: jingyun admin create-user alice --role analyst --department growth
    """
    settings = load_settings()
    service = load_service_settings(settings)
    store = open_store(settings)
    person = auth.create_person(store, username=username, password=_password(password), role=role,
                                display_name=display_name, departments=department or [], service=service)
    Auditor(store, service, settings.timezone).log(actor="cli", role="admin", action="user_created",
                                                   target=f"person:{person.id}", detail={"role": role})
    out = {"username": person.username, "role": person.role, "departments": person.department_names}
    print_json(out) if as_json else typer.echo(f"created {person.username} ({person.role})")


@admin.command("reset-password")
def reset_password(
    username: Annotated[str, typer.Argument(help="Login name. 用户名")],
    password: Annotated[str | None, typer.Option(help="New password (prompted when omitted). 新密码")] = None,
) -> None:
    """Set a new password and end every session and token of the user. 重置密码并使其所有会话与令牌失效。

    Example: jingyun admin reset-password alice
    """
    settings = load_settings()
    service = load_service_settings(settings)
    store = open_store(settings)
    auth.reset_password(store, username, _password(password))
    Auditor(store, service, settings.timezone).log(actor="cli", role="admin", action="password_reset", target=username)
    typer.echo(f"password reset for {username}")


@admin.command("list-users")
def list_users(as_json: Json = False) -> None:
    """List console users. 列出控制台用户。

    Example: jingyun admin list-users --json
    """
    store = open_store(load_settings())
    with store.session() as ses:
        rows: list[dict[str, Any]] = [{"username": p.username, "role": p.role, "departments": p.department_names,
                                       "disabled": p.disabled} for p in ses.scalars(select(Person).order_by(Person.id))]
    if as_json:
        print_json(rows)
        return
    print_table("Users 用户", ["username 用户名", "role 角色", "departments 部门", "disabled 停用"],
                [[r["username"], r["role"], ", ".join(str(d) for d in r["departments"] or []), r["disabled"]]
                 for r in rows])


@admin.command("create-key")
def create_key(
    name: Annotated[str, typer.Argument(help="What the key is for. 用途")],
    scope: Annotated[str, typer.Option(help="ingest | read. 权限范围")] = "ingest",
    role: Annotated[str, typer.Option(help="Role a read key acts as. 读取密钥的角色")] = "analyst",
    department: Annotated[str | None, typer.Option(help="Department of a read key. 部门")] = None,
    as_json: Json = False,
) -> None:
    """Create an API key; it is printed once, only its hash is kept. 创建API密钥(仅显示一次)。

    Example: jingyun admin create-key pos-gateway --scope ingest --json
    """
    settings = load_settings()
    store = open_store(settings)
    key, plaintext = auth.create_api_key(store, name=name, scope=scope, role=role, department=department, created_by="cli")
    Auditor(store, load_service_settings(settings), settings.timezone).log(
        actor="cli", role="admin", action="key_created", target=f"key:{key.prefix}", detail={"scope": scope})
    if as_json:
        print_json({"prefix": key.prefix, "name": name, "scope": scope, "role": role, "key": plaintext})
    else:
        typer.echo(plaintext)


@admin.command("revoke-key")
def revoke_key(prefix: Annotated[str, typer.Argument(help="The key's prefix (jy_<prefix>_…). 密钥前缀")]) -> None:
    """Revoke an API key. 吊销API密钥。

    Example: jingyun admin revoke-key 3f2a9c1b7d0e
    """
    settings = load_settings()
    store = open_store(settings)
    auth.revoke_api_key(store, prefix)
    Auditor(store, load_service_settings(settings), settings.timezone).log(
        actor="cli", role="admin", action="key_revoked", target=f"key:{prefix}")
    typer.echo(f"revoked {prefix}")


@admin.command("list-keys")
def list_keys(as_json: Json = False) -> None:
    """List API keys (never the secrets). 列出API密钥。

    Example: jingyun admin list-keys
    """
    store = open_store(load_settings())
    with store.session() as ses:
        rows = [{"prefix": k.prefix, "name": k.name, "scope": k.scope, "role": k.role,
                 "revoked": k.revoked_at is not None} for k in ses.scalars(select(ApiKey).order_by(ApiKey.id))]
    if as_json:
        print_json(rows)
        return
    print_table("API keys API密钥", ["prefix 前缀", "name 名称", "scope 范围", "role 角色", "revoked 已吊销"],
                [list(r.values()) for r in rows])


@admin.command("rotate-key")
def rotate_key(as_json: Json = False) -> None:
    """Re-encrypt stored personal fields with the current JINGYUN_SECRET_KEY. 用当前密钥重新加密。

    Put the previous secret in JINGYUN_OLD_SECRET_KEYS, the new one in JINGYUN_SECRET_KEY, then run this.
    Example: JINGYUN_OLD_SECRET_KEYS=old JINGYUN_SECRET_KEY=new jingyun admin rotate-key
    """
    settings = load_settings()
    service = load_service_settings(settings)
    changed = rotate_store(open_store(settings), service)
    rewrapped = rewrap(settings.home, service)  # the warehouse's personal-data key: 32 bytes, not every value
    if as_json:
        print_json({"reencrypted": changed, "data_key_rewrapped": rewrapped})
    else:
        typer.echo(f"re-encrypted {changed} values" + ("; re-wrapped the personal-data key" if rewrapped else ""))


def register(app: typer.Typer) -> None:
    app.add_typer(admin, name="admin")


