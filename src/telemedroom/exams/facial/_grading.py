"""Facial grading: the House-Brackmann grades and the Sunnybrook Facial Grading System's arithmetic."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, Field, ValidationError

from telemedroom.errors import GradingError
from telemedroom.exams.facial._protocol import DATA, _Frozen

__all__ = [
    "EXPRESSIONS",
    "HOUSE_BRACKMANN",
    "RESTING_ITEMS",
    "SYNKINESIS_SCALE",
    "VOLUNTARY_SCALE",
    "Expression",
    "HouseBrackmannGrade",
    "SunnybrookGrading",
    "SunnybrookScore",
    "house_brackmann",
]

# -- House-Brackmann ---------------------------------------------------------------------


class HouseBrackmannGrade(_Frozen):
    """One grade of the House-Brackmann facial nerve grading system.

    Attributes:
        grade: 1 to 6.
        roman: ``"I"`` to ``"VI"``.
        name: The grade's name (``"Moderate dysfunction"``).
        name_de: Its German name.
        description: The standard description: overall, at rest, in motion.
    """

    grade: Annotated[int, Field(ge=1, le=6)]
    roman: str
    name: str
    name_de: str
    description: str


# House JW, Brackmann DE. Facial nerve grading system. Otolaryngol Head Neck Surg 1985;93:146-7, Table 1.
HOUSE_BRACKMANN: Final[tuple[HouseBrackmannGrade, ...]] = tuple(
    HouseBrackmannGrade.model_validate(g) for g in DATA["house_brackmann"]
)
"""Grades I to VI, with their standard descriptions."""


def house_brackmann(grade: int | str) -> HouseBrackmannGrade:
    """A House-Brackmann grade by number (1-6) or Roman numeral (``"I"``-``"VI"``).

    Raises:
        GradingError: Not a grade.

    Examples:
        >>> house_brackmann("III").name, house_brackmann(3).name_de
        ('Moderate dysfunction', 'Mäßige Dysfunktion')
    """
    for candidate in HOUSE_BRACKMANN:
        if grade in (candidate.grade, candidate.roman) and not isinstance(grade, bool):
            return candidate
    raise GradingError("house-brackmann.grade", grade, "must be 1-6 or I-VI")


# -- Sunnybrook --------------------------------------------------------------------------

# Ross BG, Fradet G, Nedzelski JM. Development of a sensitive clinical facial grading
# system. Otolaryngol Head Neck Surg 1996;114:380-6; the grading sheet, in order.
RESTING_ITEMS: Final[dict[str, dict[str, tuple[int, str]]]] = {
    "eye": {
        "normal": (0, "normal"),
        "narrow": (1, "narrow"),
        "wide": (1, "wide"),
        "eyelid-surgery": (1, "eyelid surgery"),
    },
    "cheek": {
        "normal": (0, "normal"),
        "absent": (2, "absent"),
        "less-pronounced": (1, "less pronounced"),
        "more-pronounced": (1, "more pronounced"),
    },
    "mouth": {
        "normal": (0, "normal"),
        "corner-drooped": (1, "corner drooped"),
        "corner-pulled-up-out": (1, "corner pulled up/out"),
    },
}
"""Resting symmetry compared with the normal side: item -> answer code -> (points, display)."""

EXPRESSIONS: Final[dict[str, str]] = {
    "brow-lift": "Brow lift (FRO)",
    "gentle-eye-closure": "Gentle eye closure (OCS)",
    "open-mouth-smile": "Open mouth smile (ZYG/RIS)",
    "snarl": "Snarl (LLA/LLS)",
    "lip-pucker": "Lip pucker (OOS/OOI)",
}
"""The five standard expressions (muscles in brackets), for voluntary movement and synkinesis."""

VOLUNTARY_SCALE: Final[dict[int, str]] = {
    1: "unable to initiate movement",
    2: "initiates slight movement",
    3: "initiated movement with mild excursion",
    4: "movement almost complete",
    5: "movement complete",
}
"""Degree of muscle excursion compared with the normal side."""

SYNKINESIS_SCALE: Final[dict[int, str]] = {
    0: "none",
    1: "mild: slight synkinesis, minimal mass movement",
    2: "moderate: obvious but not disfiguring synkinesis",
    3: "severe: disfiguring synkinesis, gross mass movement of several muscles",
}
"""Degree of involuntary muscle contraction with each expression."""

_VOLUNTARY_CODES: Final = {1: "unable", 2: "slight", 3: "mild-excursion", 4: "almost-complete", 5: "complete"}
_SYNKINESIS_CODES: Final = {0: "none", 1: "mild", 2: "moderate", 3: "severe"}

Expression = Literal["brow-lift", "gentle-eye-closure", "open-mouth-smile", "snarl", "lip-pucker"]


def _all_expressions(value: dict[str, int]) -> dict[str, int]:
    if set(value) != set(EXPRESSIONS):
        missing = sorted(set(EXPRESSIONS) - set(value))
        raise ValueError(f"needs exactly the five expressions; missing {missing}")
    return value


class SunnybrookGrading(_Frozen):
    """The 13 answers of the Sunnybrook grading sheet, each compared with the normal side.

    Attributes:
        eye: Resting eye (palpebral fissure): ``normal``, ``narrow``, ``wide``, ``eyelid-surgery``.
        cheek: Resting cheek (nasolabial fold): ``normal``, ``absent``, ``less-pronounced``,
            ``more-pronounced``.
        mouth: Resting mouth: ``normal``, ``corner-drooped``, ``corner-pulled-up-out``.
        voluntary: Per expression (:data:`EXPRESSIONS`), 1 (no movement) to 5 (complete).
        synkinesis: Per expression, 0 (none) to 3 (severe).
    """

    eye: Literal["normal", "narrow", "wide", "eyelid-surgery"]
    cheek: Literal["normal", "absent", "less-pronounced", "more-pronounced"]
    mouth: Literal["normal", "corner-drooped", "corner-pulled-up-out"]
    voluntary: Annotated[
        dict[Expression, Annotated[int, Field(ge=1, le=5)]], AfterValidator(_all_expressions)
    ]
    synkinesis: Annotated[
        dict[Expression, Annotated[int, Field(ge=0, le=3)]], AfterValidator(_all_expressions)
    ]

    @classmethod
    def parse(cls, answers: Mapping[str, Any]) -> SunnybrookGrading:
        """Validate answers, turning problems into :class:`~telemedroom.errors.GradingError`.

        Examples:
            >>> try:
            ...     SunnybrookGrading.parse({"eye": "normal", "cheek": "normal", "mouth": "normal",
            ...         "voluntary": dict.fromkeys(EXPRESSIONS, 6),
            ...         "synkinesis": dict.fromkeys(EXPRESSIONS, 0)})
            ... except GradingError as exc:
            ...     print(exc.item, exc.value)
            sunnybrook.voluntary.brow-lift 6
        """
        try:
            return cls.model_validate(answers)
        except ValidationError as exc:
            error = exc.errors()[0]
            location = [str(part) for part in error["loc"]]
            item = "sunnybrook." + ".".join(location) if location else "sunnybrook"
            value = error.get("input")
            raise GradingError(item, value, error["msg"]) from exc

    def score(self) -> SunnybrookScore:
        """Compute the scores (see :class:`SunnybrookScore`)."""
        resting = 5 * (
            RESTING_ITEMS["eye"][self.eye][0]
            + RESTING_ITEMS["cheek"][self.cheek][0]
            + RESTING_ITEMS["mouth"][self.mouth][0]
        )
        voluntary = 4 * sum(self.voluntary.values())
        synkinesis = sum(self.synkinesis.values())
        return SunnybrookScore(
            grading=self,
            resting=resting,
            voluntary=voluntary,
            synkinesis=synkinesis,
            composite=voluntary - resting - synkinesis,
        )


class SunnybrookScore(_Frozen):
    """The Sunnybrook scores of one grading.

    - resting symmetry score = 5 x (eye + cheek + mouth points): 0 to 20;
    - voluntary movement score = 4 x (sum of the five expressions): 20 to 100;
    - synkinesis score = sum of the five expressions: 0 to 15;
    - composite = voluntary - resting - synkinesis.

    The composite runs from 0 (complete flaccid paralysis: 20 - 20 - 0) to 100 (normal:
    100 - 0 - 0). The sheet's formula is kept exactly, without clamping: the one
    combination it allows below 0, synkinesis graded with no voluntary movement at all,
    yields down to 20 - 20 - 15 = -15.

    Attributes:
        grading: The answers it was computed from.
        resting: Resting symmetry score.
        voluntary: Voluntary movement score.
        synkinesis: Synkinesis score.
        composite: The composite score.
    """

    grading: SunnybrookGrading
    resting: Annotated[int, Field(ge=0, le=20)]
    voluntary: Annotated[int, Field(ge=20, le=100)]
    synkinesis: Annotated[int, Field(ge=0, le=15)]
    composite: Annotated[int, Field(ge=-15, le=100)]
