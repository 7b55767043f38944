"""Units for people, codes for machines: how a UCUM unit code is written on a screen.

The domain models and FHIR keep UCUM codes (``mm[Hg]``, ``Cel``, ``[lb_av]``): they
are what machines compare. A person reads ``mmHg``, ``°C``, ``lb``. Every place a unit
is shown to a person - the kiosk, the CLI's tables and timeline, the daily summary and
the monitoring alerts' texts - writes it through :func:`display_unit`; the physician
console has the same table in ``session/console/texts.json`` (a test keeps the two equal).
A code not in the table is already written the way people write it (``kg``, ``%``,
``mg/dL``, ``/min``).

Examples:
    >>> display_unit("mm[Hg]"), display_unit("Cel"), display_unit("kg")
    ('mmHg', '°C', 'kg')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["DISPLAY_UNITS", "display_unit"]

# UCUM code (the c/s form, https://ucum.org/ucum) -> the symbol people write
DISPLAY_UNITS: Final[Mapping[str, str]] = {
    "mm[Hg]": "mmHg",
    "Cel": "°C",
    "[degF]": "°F",
    "[lb_av]": "lb",
    "[in_i]": "in",
    "kg/m2": "kg/m²",
}


def display_unit(code: str) -> str:
    """The unit as a person reads it.

    Examples:
        >>> display_unit("[lb_av]"), display_unit("/min")
        ('lb', '/min')
    """
    return DISPLAY_UNITS.get(code, code)
