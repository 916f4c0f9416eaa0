"""Message templates: Jinja2 in a sandbox, a zh-CN and an en variant of each.

Variables: ``name``, ``product_viewed``, ``recommended_product`` (absent when no recommendation
score exists: write ``{% if recommended_product %}…{% endif %}``), ``coupon_code``, ``user_id``.
Workspace templates (table ``message_templates``) override the shipped ones of the same name.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import select

from jingyun.errors import JingyunError
from jingyun.security.masking import pseudonym
from jingyun.store.db import Store
from jingyun.store.messages import MessageTemplate
from jingyun.store.models import utcnow
from jingyun.warehouse.sqltext import quote

LOCALES = ("zh-CN", "en")


@dataclass(frozen=True)
class Template:
    name: str
    locale: str
    subject: str
    text: str
    html: str | None = None


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None


_RECO_ZH = "{% if recommended_product %}\n为你推荐:{{ recommended_product }}{% endif %}"
_RECO_EN = "{% if recommended_product %}\nRecommended for you: {{ recommended_product }}{% endif %}"
SHIPPED: dict[tuple[str, str], Template] = {
    ("cart_reminder", "zh-CN"): Template(
        "cart_reminder", "zh-CN", "{{ name or '您好' }},您看过的{{ product_viewed or '商品' }}还在等您",
        "{{ name or '您好' }}:\n您浏览过的「{{ product_viewed or '商品' }}」库存有限。"
        "{% if coupon_code %}\n专属优惠码:{{ coupon_code }}{% endif %}" + _RECO_ZH),
    ("cart_reminder", "en"): Template(
        "cart_reminder", "en", "{{ name or 'Hi' }}, {{ product_viewed or 'your item' }} is waiting",
        "Hi {{ name or 'there' }},\n{{ product_viewed or 'The product' }} you looked at is selling fast."
        "{% if coupon_code %}\nYour code: {{ coupon_code }}{% endif %}" + _RECO_EN),
    ("welcome", "zh-CN"): Template("welcome", "zh-CN", "欢迎,{{ name or '新朋友' }}",
                                   "{{ name or '新朋友' }},欢迎加入!" "{% if coupon_code %}\n新人优惠码:{{ coupon_code }}{% endif %}" + _RECO_ZH),
    ("welcome", "en"): Template("welcome", "en", "Welcome, {{ name or 'friend' }}",
                                "Welcome aboard, {{ name or 'friend' }}!" "{% if coupon_code %}\nYour welcome code: {{ coupon_code }}{% endif %}" + _RECO_EN),
}

_ENV = SandboxedEnvironment(autoescape=False, undefined=Undefined)
_HTML_ENV = SandboxedEnvironment(autoescape=True, undefined=Undefined)
_STRICT = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


def _check_locale(locale: str) -> None:
    if locale not in LOCALES:
        raise JingyunError("bad_locale", "locale must be zh-CN or en", "locale")


def get(store: Store, name: str, locale: str) -> Template:
    _check_locale(locale)
    with store.session() as ses:
        row = ses.scalar(select(MessageTemplate).where(MessageTemplate.name == name, MessageTemplate.locale == locale))
        if row is not None:
            return Template(row.name, row.locale, row.subject, row.body_text, row.body_html)
    if (name, locale) in SHIPPED:
        return SHIPPED[(name, locale)]
    raise JingyunError("unknown_template", f"no template {name!r} in {locale}; see `jingyun messages templates`",
                       "template", status=404)


def names(store: Store) -> list[str]:
    with store.session() as ses:
        own = set(ses.scalars(select(MessageTemplate.name)))
    return sorted(own | {n for n, _ in SHIPPED})


def save(store: Store, *, name: str, locale: str, subject: str, text: str, html: str | None = None) -> Template:
    """Add or replace a workspace template (checked: it must compile in the sandbox)."""
    _check_locale(locale)
    if not name or len(name) > 100 or not name.replace("_", "").replace("-", "").isalnum():
        raise JingyunError("bad_name", "a template name is 1-100 letters, digits, - or _", "name")
    for field, source in (("subject", subject), ("text", text), ("html", html or "")):
        try:
            _ENV.parse(source)
        except TemplateError as exc:
            raise JingyunError("bad_template", f"{field}: {exc}", field) from None
    with store.session() as ses:
        row = ses.scalar(select(MessageTemplate).where(MessageTemplate.name == name, MessageTemplate.locale == locale))
        if row is None:
            row = MessageTemplate(name=name, locale=locale)
            ses.add(row)
        row.subject, row.body_text, row.body_html, row.updated_at = subject, text, html, utcnow()
    return Template(name, locale, subject, text, html)


def render(template: Template, context: dict[str, Any]) -> Rendered:
    """Render in the sandbox: unsafe attribute access raises, a missing variable renders empty."""
    ctx = {k: v for k, v in context.items() if v is not None}
    try:
        return Rendered(_ENV.from_string(template.subject).render(ctx).strip(),
                        _ENV.from_string(template.text).render(ctx),
                        _HTML_ENV.from_string(template.html).render(ctx) if template.html else None)
    except TemplateError as exc:
        raise JingyunError("bad_template", f"template {template.name!r} does not render: {exc}", "template") from None


def person_context(wh: Any, user_id: str) -> dict[str, Any]:
    """Name, last product viewed and a recommended product of a person from the warehouse (``wh.rows``).

    Anything missing (no users row, no view, no recommendation score) is simply left out.
    """
    ctx: dict[str, Any] = {"user_id": user_id}

    def one(sql: str, params: list[Any]) -> Any:
        for value in params:  # engines' rows() take SQL only: values are quoted literals
            sql = sql.replace("?", quote(str(value)), 1)
        try:
            rows = wh.rows(sql)
        except Exception:  # a table that does not exist yet means: no value
            return None
        return rows[0][0] if rows else None

    ctx["name"] = one("SELECT name FROM users WHERE user_id = ? AND name IS NOT NULL ORDER BY updated_at DESC NULLS LAST LIMIT 1",
                      [user_id]) or one("SELECT name FROM users WHERE user_id = ? AND name IS NOT NULL LIMIT 1", [user_id])
    viewed = one("SELECT json_extract_string(properties, '$.product_id') FROM events WHERE user_id = ? AND event = 'view_product' "
                 "ORDER BY ts DESC LIMIT 1", [user_id])
    if viewed:
        ctx["product_viewed"] = one("SELECT name FROM products WHERE product_id = ?", [viewed]) or viewed
    reco = one("SELECT substr(score_name, 9) FROM model_scores m JOIN users u ON u.person_id = m.person_id "
               "WHERE u.user_id = ? AND m.model = 'recommend' AND m.score_name LIKE 'product:%' "
               "ORDER BY m.value DESC LIMIT 1", [user_id])
    if reco:
        ctx["recommended_product"] = one("SELECT name FROM products WHERE product_id = ?", [reco]) or reco
    return {k: v for k, v in ctx.items() if v is not None}


SAMPLE = {"zh-CN": {"user_id": "u_sample", "name": "张伟", "product_viewed": "保温杯 500ml",
                    "recommended_product": "便携茶具套装", "coupon_code": "JY-8F3K"},
          "en": {"user_id": "u_sample", "name": "Wei Zhang", "product_viewed": "Thermos 500ml",
                 "recommended_product": "Travel tea set", "coupon_code": "JY-8F3K"}}


def preview(template: Template, *, context: dict[str, Any] | None = None, mask_salt: bytes | None = None) -> Rendered:
    """Render with a sample person (or the given context); for a masked role the name is pseudonymised."""
    ctx = dict(SAMPLE[template.locale] if context is None else context)
    if mask_salt is not None and ctx.get("name"):
        ctx["name"] = (pseudonym(ctx["name"], mask_salt) or "")[:19]
    return render(template, ctx)


def context_json(ctx: dict[str, Any]) -> str:
    return json.dumps(ctx, ensure_ascii=False, default=lambda v: v.isoformat() if isinstance(v, dt.datetime) else str(v))
