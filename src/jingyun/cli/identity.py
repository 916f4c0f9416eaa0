"""``jingyun login``, ``logout``, ``whoami``, and the CLI edge of the de-identification gate.

Commands that show personal data (``profile``, ``segment export``, ``query``,
``check``, ``quarantine``) call :func:`identify` for the caller and print what
that principal may see: raw values for a signed-in manager or admin, the
output of :class:`jingyun.security.masking.Masker` for everyone else (API keys
included, as in the API). Aggregate analyses never ask.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from jingyun.cli.output import print_json
from jingyun.config import Settings, load_settings
from jingyun.errors import JingyunError
from jingyun.schema.tables import TABLES
from jingyun.security import cli_identity
from jingyun.security.cli_identity import Identity
from jingyun.security.config import load_service_settings
from jingyun.security.masking import Masker

ApiKeyOpt = Annotated[
    str | None,
    typer.Option("--api-key", envvar=cli_identity.API_KEY_ENV, show_envvar=True,
                 help="A read API key to act as (default: the `jingyun login` session). 以API密钥身份运行。"),
]
# The old self-declared role: kept only to refuse it in one line that says what replaced it.
RemovedRoleOpt = Annotated[str | None, typer.Option("--role", hidden=True)]


def identify(settings: Settings, api_key: str | None = None, *, role_flag: str | None = None) -> Identity:
    if role_flag is not None:
        raise JingyunError("role_flag_removed", "--role is gone: your role comes from your credential; "
                           + cli_identity.SIGN_IN, "role")
    return cli_identity.resolve(settings, api_key)


def masker(settings: Settings, today: dt.date | None = None) -> Masker:
    """The API's salt (``ServiceSettings.mask_salt``), so a pseudonym from the CLI equals the API's."""
    return Masker(load_service_settings(settings).mask_salt, today)


# -- query results ---------------------------------------------------------------------------
def sources(sql: str) -> dict[str, tuple[str, str]]:
    """Output column → the ``(table, column)`` of the data dictionary it is computed from, through
    aliases, subqueries and CTEs (sqlglot's lineage); a sensitive source wins over the others.
    Best effort: a column it cannot trace is classified by its name and values alone."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.lineage import lineage
    from sqlglot.optimizer.qualify import qualify

    schema: dict[str, object] = {t.name: {c.name: c.sql_type for c in t.columns} for t in TABLES.values()}
    found: dict[str, tuple[str, str]] = {}
    try:
        tree = qualify(sqlglot.parse_one(sql, read="duckdb"), schema=schema, dialect="duckdb",
                       validate_qualify_columns=False)
        selects = tree.selects if isinstance(tree, exp.Query) else []
    except Exception:  # sqlglot could not resolve it; names and values still classify
        return found
    for select in selects:
        name = select.alias_or_name
        try:
            node = lineage(name, tree, schema=schema, dialect="duckdb")
        except Exception:
            continue
        for leaf in node.walk():
            if leaf.downstream:
                continue
            table = getattr(leaf.source, "name", "")
            column = leaf.name.rsplit(".", 1)[-1].strip('"')
            tbl = TABLES.get(table)
            if tbl is None or column not in {c.name for c in tbl.columns}:
                continue
            if tbl.column(column).classification == "sensitive":
                found[name.lower()] = (table, column)
                break
            found.setdefault(name.lower(), (table, column))
    return found


def _plain_number(value: Any) -> bool:
    import decimal

    return isinstance(value, bool | int | float | decimal.Decimal)


def _traced(mask: Masker, name: str, source: tuple[str, str], value: Any) -> tuple[str, Any] | None:
    """One value of a column computed from ``source``, masked by that column's rule; None when removed."""
    if _plain_number(value):  # count(DISTINCT phone), length(address): a number, not the value
        return name, value
    table, column = source
    masked = mask.row(table, {column: value})
    if column in masked:
        return name, masked[column]
    if masked:  # a birth date became an age band: the column says so unless the query named it
        key, band = next(iter(masked.items()))
        return (key if name == column else name), band
    return None


def mask_rows(mask: Masker, names: Sequence[str], rows: Sequence[Sequence[Any]],
              traced: dict[str, tuple[str, str]] | None = None) -> tuple[list[str], list[list[Any]]]:
    """Rows of a query as a masked role may see them.

    A column traced to a column of the data dictionary is masked by that column's rule (so
    ``phone AS p`` is still hashed and ``name AS x`` still removed, while ``products.name`` stays);
    any other column by its name and its values (JSON walked, free text scanned).
    """
    traced = traced or {}

    def one(raw: Sequence[Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for j, name in enumerate(names):
            value = None if raw is None else raw[j]
            source = traced.get(name.lower())
            if source is None:
                mask.keyed(name, value, out)
            elif (kept := _traced(mask, name, source, value)) is not None:
                out[kept[0]] = kept[1]
        return out

    out_rows = [one(r) for r in rows]
    headers: list[str] = []
    for r in out_rows or [one(None)]:
        headers += [h for h in r if h not in headers]
    return headers, [[r.get(h) for h in headers] for r in out_rows]


def personal_columns(names: Sequence[str], rows: Sequence[Sequence[Any]], masked_headers: Sequence[str],
                     masked_rows: Sequence[Sequence[Any]]) -> list[str]:
    """The columns whose values the gate would change: what a raw read of these rows reveals (for the audit)."""
    index = {h: i for i, h in enumerate(masked_headers)}
    return [name for j, name in enumerate(names)
            if name not in index or any(raw[j] != m[index[name]] for raw, m in zip(rows, masked_rows, strict=True))]


def gate(settings: Settings, identity: Identity, names: Sequence[str], rows: Sequence[Sequence[Any]], *,
         command: str, target: str, sql: str | None = None) -> tuple[list[str], list[list[Any]]]:
    """Rows as ``identity`` may see them; a raw read that shows personal columns is audited."""
    mask = masker(settings)
    headers, masked = mask_rows(mask, names, rows, sources(sql) if sql else None)
    if not identity.sees_raw:
        dropped = [n for n in names if n not in headers]
        if dropped:  # on stderr: the JSON on stdout stays exact
            typer.echo(f"note: personal columns left out or banded: {', '.join(dropped)} (in clear only for a "
                       "signed-in manager or admin)", err=True)
        return headers, masked
    shown = personal_columns(names, rows, headers, masked)
    if shown:
        cli_identity.audit(settings, identity, "read_personal", target,
                           {"command": command, "rows": len(rows), "columns": shown, "deidentified": False})
    return list(names), [list(r) for r in rows]


# -- commands --------------------------------------------------------------------------------
def login(
    username: Annotated[str | None, typer.Option("--username", "-u", help="Login name (prompted when omitted). 用户名")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Exact JSON output. 输出JSON")] = False,
) -> None:
    """Sign the CLI in as a console user; the password is prompted (or read from JINGYUN_PASSWORD). 命令行登录。

    The session is kept in $JINGYUN_HOME/cli-session.json (mode 0600) until `jingyun logout`, a
    password reset or its expiry.
    Example: jingyun login --username alice
    """
    settings = load_settings()
    name = username or typer.prompt("Username 用户名")
    password = os.environ.get(cli_identity.PASSWORD_ENV) or typer.prompt("Password 密码", hide_input=True)
    principal = cli_identity.login(settings, name, password)
    out = {"username": principal.name, "role": principal.role, "sees_personal_data": principal.sees_raw}
    if as_json:
        print_json(out)
    else:
        typer.echo(f"signed in as {principal.name} ({principal.role})")


def logout() -> None:
    """End the CLI session, here and in the metadata store. 命令行退出登录。

    Example: jingyun logout
    """
    name = cli_identity.logout(load_settings())
    typer.echo("not signed in" if name is None else f"signed out {name}" if name
               else "signed out (the session had already ended)")


def whoami(api_key: ApiKeyOpt = None,
           as_json: Annotated[bool, typer.Option("--json", help="Exact JSON output. 输出JSON")] = False) -> None:
    """Who the CLI acts as, and whether it sees personal data in clear. 当前命令行身份。

    Example: jingyun whoami --json
    """
    identity = identify(load_settings(), api_key)
    p = identity.principal
    out = {"signed_in": p is not None, "name": p.name if p else None, "role": p.role if p else None,
           "kind": p.kind if p else None, "sees_personal_data": identity.sees_raw}
    if as_json:
        print_json(out)
    elif p is None:
        typer.echo(f"not signed in: personal data is de-identified; {cli_identity.SIGN_IN}")
    else:
        typer.echo(f"{p.name} ({p.role}, {'API key' if p.kind == 'api_key' else 'session'}): personal data "
                   + ("in clear" if identity.sees_raw else "de-identified"))


def register(app: typer.Typer) -> None:
    app.command("login")(login)
    app.command("logout")(logout)
    app.command("whoami")(whoami)
