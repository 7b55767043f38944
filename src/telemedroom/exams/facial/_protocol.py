"""The facial exam's photo protocol: its steps, read from ``protocol.toml``."""

from __future__ import annotations

import tomllib
from importlib.resources import files
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from telemedroom.errors import GradingError

__all__ = ["FACIAL_CODES", "PROTOCOL", "DATA", "Language", "ProtocolStep", "step"]

FACIAL_CODES: Final = "https://telemedroom.org/fhir/CodeSystem/facial-exam"
"""telemedroom's code system for protocol steps, grading items, answers and scores."""

Language = Literal["de", "en"]

DATA: Final[dict[str, Any]] = tomllib.loads(files(__package__).joinpath("protocol.toml").read_text("utf-8"))
"""``protocol.toml``: the steps, the House-Brackmann grades, the forms' German texts."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProtocolStep(_Frozen):
    """One expression of the photo protocol.

    Attributes:
        code: Its code in :data:`FACIAL_CODES` (the ``view`` of its still).
        title: Short name per language.
        instruction: What the patient is asked to do, per language (the kiosk shows it).
        sunnybrook: The Sunnybrook expression the still documents (``None``: rest, or
            an expression Sunnybrook does not grade).
        countdown_s: Seconds the kiosk counts down before the still is taken.
    """

    code: str
    title: dict[Language, str]
    instruction: dict[Language, str]
    sunnybrook: str | None = None
    countdown_s: Annotated[int, Field(ge=0)] = 3


PROTOCOL: Final[tuple[ProtocolStep, ...]] = tuple(ProtocolStep.model_validate(s) for s in DATA["step"])
"""The eight steps, in the order they are taken."""


def step(code: str) -> ProtocolStep:
    """The protocol step with this code.

    Raises:
        GradingError: No step has this code.

    Examples:
        >>> step("pucker-lips").instruction["de"]
        'Spitzen Sie bitte die Lippen, wie zum Pfeifen oder Küssen.'
    """
    for candidate in PROTOCOL:
        if candidate.code == code:
            return candidate
    raise GradingError("protocol.step", code, f"must be one of {', '.join(s.code for s in PROTOCOL)}")
