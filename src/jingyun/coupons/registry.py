"""Coupon templates and codes in the metadata store: create, list, pause, and issue atomically.

Issuing is one transaction whose *first* statement is the guarded UPDATE of the template row::

    UPDATE coupon_templates SET issued = issued + 1, reserved_cents = reserved_cents + :r
    WHERE key = :key AND status = 'active' AND (stock IS NULL OR issued < stock)
      AND (budget_cents IS NULL OR reserved_cents + :r <= budget_cents)

It takes the row lock on PostgreSQL (READ COMMITTED re-checks the WHERE after waiting) and the write
lock on SQLite (a first write never meets a stale read snapshot), so every issue of one template is
serialised: stock and budget can never be exceeded, and the per-person limit and the idempotency key are
checked under the lock. The code's uniqueness is the database's ``UNIQUE(code)``; a collision (one in
2^60 per pair) retries the whole transaction with a new code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jingyun.coupons import model
from jingyun.coupons.model import TemplateSpec, cents, yuan
from jingyun.errors import JingyunError
from jingyun.store import Store
from jingyun.store.coupons import CouponCode, CouponTemplate
from jingyun.store.models import utcnow

ATTEMPTS = 5
# the code generator: a module attribute so a test can shrink the code space to force collisions
code_source: Callable[[], str] = model.new_code


@dataclass(frozen=True)
class Template:
    """A stored template with its counters (money in Decimal yuan, times naive UTC)."""

    id: int
    spec: TemplateSpec
    valid_from: dt.datetime | None
    valid_until: dt.datetime | None
    issued: int
    reserved: Decimal
    status: str
    created_by: str
    created_at: dt.datetime

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def remaining_stock(self) -> int | None:
        return None if self.spec.stock is None else self.spec.stock - self.issued

    @property
    def remaining_budget(self) -> Decimal | None:
        return None if self.spec.budget is None else self.spec.budget - self.reserved


@dataclass(frozen=True)
class IssuedCoupon:
    """One code issued to one person."""

    code: str
    template: str
    user_id: str
    issued_at: dt.datetime
    valid_from: dt.datetime
    valid_until: dt.datetime
    reserved: Decimal
    key: str | None
    issued_by: str
    created: bool  # False when an earlier issue with the same key was returned

    @property
    def display(self) -> str:
        return model.show_code(self.code)


def _naive(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return utcnow()
    return now.astimezone(dt.UTC).replace(tzinfo=None) if now.tzinfo else now


def _template(row: CouponTemplate) -> Template:
    spec = TemplateSpec(
        key=row.key, name=row.name, kind=row.kind,  # type: ignore[arg-type]
        threshold=yuan(row.threshold_cents) or Decimal(0), amount_off=yuan(row.amount_off_cents),
        percent_off=None if row.percent_bp is None else (Decimal(row.percent_bp) / 100).quantize(model.CENT),
        cap=yuan(row.cap_cents), shipping=yuan(row.shipping_cents),
        valid_from=None, valid_until=None, valid_days=row.valid_days, budget=yuan(row.budget_cents),
        stock=row.stock, per_user=row.per_user,
    )
    return Template(row.id, spec, row.valid_from, row.valid_until, row.issued, yuan(row.reserved_cents) or Decimal(0),
                    row.status, row.created_by, row.created_at)


def _issued(row: CouponCode, template: str, created: bool) -> IssuedCoupon:
    return IssuedCoupon(row.code, template, row.user_id, row.issued_at, row.valid_from, row.valid_until,
                        yuan(row.reserved_cents) or Decimal(0), row.issue_key, row.issued_by, created)


def create_template(store: Store, settings: Any, spec: TemplateSpec | dict[str, Any], *, created_by: str = "",
                    now: dt.datetime | None = None) -> Template:
    """Store a new template; its key must be new."""
    spec = spec if isinstance(spec, TemplateSpec) else TemplateSpec.parse(spec)
    created = _naive(now)
    v_from = v_until = None
    if spec.valid_days is None:
        v_from, v_until = model.local_validity(spec.valid_from, spec.valid_until, created, settings.timezone)
        if v_until <= created:
            raise JingyunError("bad_coupon", f"valid_until ({spec.valid_until}) has already passed", "valid_until",
                               status=422)

    def c(x: Decimal | None) -> int | None:
        return None if x is None else cents(x)

    row = CouponTemplate(
        key=spec.key, name=spec.name, kind=spec.kind, threshold_cents=cents(spec.threshold),
        amount_off_cents=c(spec.amount_off), percent_bp=None if spec.percent_off is None else int(spec.percent_off * 100),
        cap_cents=c(spec.cap), shipping_cents=c(spec.shipping), valid_from=v_from, valid_until=v_until,
        valid_days=spec.valid_days, budget_cents=c(spec.budget), stock=spec.stock, per_user=spec.per_user,
        issued=0, reserved_cents=0, status="active", created_by=created_by, created_at=created,
    )
    try:
        with store.session() as ses:
            ses.add(row)
            _audit(store, ses, created_by, spec.key, {"op": "create", "kind": spec.kind}, created)
    except IntegrityError:
        raise JingyunError("coupon_exists", f"a coupon template named {spec.key!r} exists; choose another key",
                           "key", status=409) from None
    return _template(row)


def get_template(store: Store, key: str) -> Template:
    with store.session() as ses:
        row = ses.scalar(select(CouponTemplate).where(CouponTemplate.key == key))
        if row is None:
            raise JingyunError("not_found", f"no coupon template {key!r}; `jingyun coupon list` shows them",
                               "template", status=404)
        return _template(row)


def list_templates(store: Store, *, status: str | None = None, limit: int = 50, offset: int = 0) -> tuple[list[Template], int]:
    """Templates newest first, one page, and the total."""
    with store.session() as ses:
        q = select(CouponTemplate)
        if status:
            q = q.where(CouponTemplate.status == status)
        total = ses.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = ses.scalars(q.order_by(CouponTemplate.id.desc()).limit(limit).offset(offset)).all()
        return [_template(r) for r in rows], int(total)


def set_status(store: Store, key: str, status: str, *, actor: str = "") -> Template:
    """Pause, resume (active) or end a template; codes already out stay valid."""
    if status not in model.STATUSES:
        raise JingyunError("bad_coupon", f"status must be one of {', '.join(model.STATUSES)}", "status", status=422)
    with store.session() as ses:
        row = ses.scalar(select(CouponTemplate).where(CouponTemplate.key == key))
        if row is None:
            raise JingyunError("not_found", f"no coupon template {key!r}", "template", status=404)
        if row.status == "ended" and status != "ended":
            raise JingyunError("coupon_ended", f"template {key!r} has ended and cannot be reopened", "status", status=409)
        if row.status != status:
            _audit(store, ses, actor, key, {"op": "status", "from": row.status, "to": status}, None)
        row.status = status
    return get_template(store, key)


def _audit(store: Store, ses: Session, actor: str, key: str, detail: dict[str, Any], now: dt.datetime | None) -> None:
    """``coupon_change`` in the transaction of the change (the issued code itself is never logged)."""
    from jingyun.security.audit import record as audit_record

    audit_record(store, actor=actor or "system", action="coupon_change", target=f"coupon:{key}", detail=detail,
                 now=now, session=ses)


def codes(store: Store, template: str, *, user_id: str | None = None, limit: int | None = None,
          offset: int = 0) -> list[IssuedCoupon]:
    """Codes of a template in issue order (all of them when ``limit`` is None)."""
    t = get_template(store, template)
    with store.session() as ses:
        q = select(CouponCode).where(CouponCode.template_id == t.id)
        if user_id is not None:
            q = q.where(CouponCode.user_id == user_id)
        q = q.order_by(CouponCode.id).offset(offset)
        if limit is not None:
            q = q.limit(limit)
        return [_issued(r, template, True) for r in ses.scalars(q)]


def all_codes(store: Store) -> dict[str, list[IssuedCoupon]]:
    """Every issued code, by template key (what redemption matching reads)."""
    out: dict[str, list[IssuedCoupon]] = {}
    with store.session() as ses:
        rows = ses.execute(select(CouponCode, CouponTemplate.key).join(CouponTemplate).order_by(CouponCode.id)).all()
        for code, key in rows:
            out.setdefault(key, []).append(_issued(code, key, True))
    return out


class _Refused(Exception):
    pass


def _why_not(ses: Session, key: str, reserve: int | None, now: dt.datetime) -> JingyunError:
    row = ses.scalar(select(CouponTemplate).where(CouponTemplate.key == key))
    if row is None:
        return JingyunError("not_found", f"no coupon template {key!r}", "template", status=404)
    if row.status != "active":
        return JingyunError("coupon_inactive", f"template {key!r} is {row.status}; resume it to issue codes", "template", status=409)
    if row.stock is not None and row.issued >= row.stock:
        return JingyunError("coupon_out_of_stock", f"template {key!r} has issued all {row.stock} codes of its stock", "stock", status=409)
    return JingyunError("coupon_over_budget", f"template {key!r}: one more code would reserve more than its budget "
                        f"({yuan(row.budget_cents)} yuan, {yuan(row.reserved_cents)} reserved)", "budget", status=409)


def issue(store: Store, settings: Any, template: str, user_id: str, *, key: str | None = None,
          now: dt.datetime | None = None, issued_by: str = "api") -> IssuedCoupon:
    """Issue one code of ``template`` to ``user_id``: atomic, within stock and budget, idempotent on ``key``.

    A second call with the same ``key`` returns the first code (``created=False``) and changes nothing.
    """
    if not user_id or len(user_id) > 128:
        raise JingyunError("bad_coupon", "user_id must be 1-128 characters", "user_id", status=422)
    if key is not None and not 1 <= len(key) <= 200:
        raise JingyunError("bad_coupon", "key must be 1-200 characters", "key", status=422)
    at = _naive(now)
    for _ in range(ATTEMPTS):
        try:
            return _issue_once(store, settings, template, user_id, key, at, issued_by)
        except IntegrityError:
            continue  # a code collision (the only unique constraint left open under the lock): a new code
    raise JingyunError("coupon_code_space", "could not draw a unique code; try again", "code", status=503)


def _issue_once(store: Store, settings: Any, template: str, user_id: str, key: str | None, at: dt.datetime,
                issued_by: str) -> IssuedCoupon:
    with store.sessions() as ses:
        try:
            # the largest discount one code reserves: the same for every code of the template
            reserve = (func.coalesce(CouponTemplate.amount_off_cents, 0) + func.coalesce(CouponTemplate.cap_cents, 0)
                       + func.coalesce(CouponTemplate.shipping_cents, 0))
            res = ses.execute(
                update(CouponTemplate)
                .where(CouponTemplate.key == template, CouponTemplate.status == "active",
                       (CouponTemplate.stock.is_(None)) | (CouponTemplate.issued < CouponTemplate.stock),
                       (CouponTemplate.budget_cents.is_(None))
                       | (CouponTemplate.reserved_cents + reserve <= CouponTemplate.budget_cents))
                .values(issued=CouponTemplate.issued + 1, reserved_cents=CouponTemplate.reserved_cents + reserve)
                .execution_options(synchronize_session=False)
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                # a repeat of an issue that went through returns its code, whatever the template's state now
                # (out of stock, over budget, paused): the idempotency promise comes before the refusals
                if key is not None:
                    earlier = ses.scalar(select(CouponCode).join(CouponTemplate)
                                         .where(CouponTemplate.key == template, CouponCode.issue_key == key))
                    if earlier is not None:
                        ses.rollback()
                        return _issued(earlier, template, False)
                raise _why_not(ses, template, None, at)
            row = ses.scalar(select(CouponTemplate).where(CouponTemplate.key == template))
            assert row is not None
            if key is not None:
                earlier = ses.scalar(select(CouponCode).where(CouponCode.template_id == row.id, CouponCode.issue_key == key))
                if earlier is not None:
                    ses.rollback()
                    return _issued(earlier, template, False)
            if row.valid_until is not None and at >= row.valid_until:
                raise JingyunError("coupon_expired", f"template {template!r} expired at {row.valid_until} UTC; "
                                   "no more codes can be issued", "template", status=409)
            held = ses.scalar(select(func.count()).where(CouponCode.template_id == row.id, CouponCode.user_id == user_id)) or 0
            if held >= row.per_user:
                raise JingyunError("coupon_limit", f"user {user_id!r} already holds {held} code(s) of {template!r} "
                                   f"(limit {row.per_user} per person)", "user_id", status=409)
            if row.valid_days is not None:
                v_from, v_until = at, model.relative_until(at, row.valid_days, settings.timezone)
            else:
                assert row.valid_from is not None and row.valid_until is not None
                v_from, v_until = row.valid_from, row.valid_until
            code = CouponCode(
                code=code_source(), template_id=row.id, user_id=user_id, issue_key=key, issued_at=at,
                valid_from=v_from, valid_until=v_until,
                reserved_cents=(row.amount_off_cents or 0) + (row.cap_cents or 0) + (row.shipping_cents or 0),
                issued_by=issued_by,
            )
            ses.add(code)
            ses.flush()
            _audit(store, ses, issued_by, template, {"op": "issue", "user_id": user_id, "code_id": code.id,
                                                     "key": key}, at)
            ses.commit()
            return _issued(code, template, True)
        except BaseException:
            ses.rollback()
            raise
