"""Who may enter an export or a training set: consent per purpose, from the one consent store.

A purpose listed in ``settings.consent_required`` (default: marketing only) is opt-in there: a person
enters only with a granted all-channels record (``jingyun.messaging.consent``, channel ``*``) for it.
A purpose not listed needs nothing (analytics by default: de-identified aggregates under the
service contract). Messages ask ``consent.allowed`` per channel themselves (``messaging.deliver``).

Models (churn training and scoring, CLV fitting and scoring) ask :func:`model_consent_mask`: a model
studies a person (analytics) to treat them differently (personalisation), so a person enters a fit or
gets a score only with every one of those two purposes the workspace requires.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select

from jingyun.config import Settings
from jingyun.errors import JingyunError
from jingyun.messaging.consent import ANY_CHANNEL, PURPOSES
from jingyun.store.db import Store, open_store
from jingyun.store.messages import MessageConsent

if TYPE_CHECKING:
    from jingyun.warehouse.backends import Source

EXPORT_PURPOSE = "marketing"  # a segment export is an audience handed to a campaign
TRAINING_PURPOSE = "personalisation"  # models score people to treat them differently
MODEL_PURPOSES = ("analytics", TRAINING_PURPOSE)  # what a model fit or score needs, where required


def required(settings: Settings, purpose: str) -> bool:
    return purpose in PURPOSES and purpose in settings.consent_required


def consented(settings: Settings, purpose: str, store: Store | None = None) -> frozenset[str] | None:
    """The subjects with a granted consent for ``purpose``, or None when the workspace does not require it."""
    if purpose not in PURPOSES:
        raise JingyunError("bad_purpose", f"purpose must be one of {', '.join(PURPOSES)}", "purpose", status=422)
    if not required(settings, purpose):
        return None
    own = store is None
    store = store or open_store(settings)
    try:
        with store.session() as ses:
            return frozenset(ses.scalars(select(MessageConsent.subject).where(
                MessageConsent.purpose == purpose, MessageConsent.channel == ANY_CHANNEL,
                MessageConsent.granted.is_(True))))
    finally:
        if own:
            store.close()


def consented_people(source: Source, purpose: str = TRAINING_PURPOSE) -> frozenset[str] | None:
    """The warehouse people (``person_id``) who may enter a training set for ``purpose``, or None when the
    workspace does not require that consent. Consent is recorded per user id: a person enters when
    any of their user ids (or their person id itself) holds it."""
    from jingyun.warehouse.backends import engine_of

    engine = engine_of(source)
    subjects = consented(engine.settings, purpose)
    if subjects is None:
        return None
    linked = {str(p) for u, p in engine.rows("SELECT user_id, person_id FROM users WHERE person_id IS NOT NULL")
              if u in subjects}
    return frozenset(linked | subjects)


def model_people(source: Source) -> frozenset[str] | None:
    """The warehouse people who may enter a model fit or get a model score: those holding every purpose of
    :data:`MODEL_PURPOSES` the workspace requires; None when it requires neither."""
    sets = [s for s in (consented_people(source, p) for p in MODEL_PURPOSES) if s is not None]
    return frozenset.intersection(*sets) if sets else None


def model_consent_mask(source: Source, person_ids: NDArray[np.object_]) -> NDArray[np.bool_] | None:
    """Which of ``person_ids`` may enter a model fit or get a score (aligned with them); None when the
    workspace requires no model consent, so callers skip the filtering."""
    allowed = model_people(source)
    if allowed is None:
        return None
    return np.fromiter((str(p) in allowed for p in person_ids), dtype=bool, count=len(person_ids))
