"""Two visits of the facial exam side by side: each protocol step's still before and after."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.media import Media
from pydantic import BaseModel, ConfigDict

from telemedroom.exams.facial._protocol import FACIAL_CODES, PROTOCOL, ProtocolStep

__all__ = ["StillPair", "compare_visits"]


class StillPair(BaseModel):
    """One protocol step's still from an earlier visit next to the current one.

    Attributes:
        step: The protocol step.
        before: The earlier visit's Media (or DocumentReference) of that step, or ``None``.
        after: The current visit's, or ``None``.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    step: ProtocolStep
    before: Media | DocumentReference | None
    after: Media | DocumentReference | None


def _view(media: Media | DocumentReference) -> str | None:
    if isinstance(media, DocumentReference):
        concepts = list(media.category or [])
    else:
        concepts = [media.view] if media.view else []
    for concept in concepts:
        for coding in concept.coding or []:
            if coding.system == FACIAL_CODES:
                return coding.code
    return None


def _taken(media: Media | DocumentReference) -> datetime:
    taken = media.date if isinstance(media, DocumentReference) else media.createdDateTime
    return taken if isinstance(taken, datetime) else datetime.min.replace(tzinfo=UTC)


def _still(media: Media | DocumentReference) -> bool:
    if isinstance(media, DocumentReference):
        return bool(media.content) and str(media.content[0].attachment.contentType or "").startswith("image/")
    return media.content is not None and str(media.content.contentType or "").startswith("image/")


def compare_visits(
    before: Sequence[Media | DocumentReference], after: Sequence[Media | DocumentReference]
) -> list[StillPair]:
    """Pair two visits' stills by protocol step, in protocol order (the data of a side-by-side view).

    Takes the stills as :func:`step_media` makes them, ``Media`` or ``DocumentReference``.
    Resources without a protocol step as ``view`` (``category``) and clips are left
    out; when a visit has several stills of one step, the latest
    (``createdDateTime``, ``date``) is used.

    Examples:
        >>> from datetime import datetime, UTC
        >>> from types import SimpleNamespace
        >>> def still(day):
        ...     return SimpleNamespace(data=b"jpeg", media_type="image/jpeg", width=64, height=48,
        ...                            captured_at=datetime(2026, 11, day, 10, tzinfo=UTC))
        >>> old = [step_media("rest", still(4), patient="Patient/p1", encounter="Encounter/visit-1")]
        >>> new = [step_media(s, still(25), patient="Patient/p1", encounter="Encounter/visit-2")
        ...        for s in ("rest", "smile-with-teeth")]
        >>> [(p.step.code, p.before is not None, p.after is not None) for p in compare_visits(old, new)]
        [('rest', True, True), ('smile-with-teeth', False, True)]
    """

    def latest(visit: Sequence[Media | DocumentReference]) -> dict[str, Media | DocumentReference]:
        chosen: dict[str, Media | DocumentReference] = {}
        for media in visit:
            code = _view(media)
            if code is None or not _still(media):
                continue
            kept = chosen.get(code)
            if kept is None or _taken(media) >= _taken(kept):
                chosen[code] = media
        return chosen

    old, new = latest(before), latest(after)
    return [
        StillPair(step=s, before=old.get(s.code), after=new.get(s.code))
        for s in PROTOCOL
        if s.code in old or s.code in new
    ]
