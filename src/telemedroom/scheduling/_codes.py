"""Booking codes: short, easy to type at a kiosk, impossible to guess.

The alphabet leaves out characters that are easily confused when read aloud, handwritten
or typed on a touch screen (0/O/D/Q, 1/I/L, 2/Z, 5/S, 8/B, U/V). Eight characters of 21
give 21**8 ≈ 3.8e10 codes (35 bits) drawn with :mod:`secrets`: with 100,000 live
appointments a guessed code hits one with probability below 3e-6, and kiosks rate-limit
attempts. Uniqueness is enforced by the store (a unique index); on the rare collision
the store draws again.
"""

from __future__ import annotations

import secrets

__all__ = ["ALPHABET", "CODE_LENGTH", "new_booking_code", "normalize_booking_code"]

ALPHABET = "ACEFGHJKMNPRTWXY34679"
CODE_LENGTH = 8
_GROUP = 4


def new_booking_code() -> str:
    """Draw a fresh booking code, grouped as ``XXXX-XXXX``.

    Examples:
        >>> code = new_booking_code()
        >>> len(code), code[4], set(code.replace("-", "")) <= set(ALPHABET)
        (9, '-', True)
    """
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:_GROUP]}-{raw[_GROUP:]}"


def normalize_booking_code(text: str) -> str:
    """Bring a code as typed into the canonical form (upper case, one dash).

    Spaces and dashes are ignored, so ``"acef ghjk"`` and ``"ACEF-GHJK"`` are the same.

    Examples:
        >>> normalize_booking_code(" acef ghjk ")
        'ACEF-GHJK'
    """
    raw = "".join(ch for ch in text.upper() if ch not in " -\t")
    return f"{raw[:_GROUP]}-{raw[_GROUP:]}" if len(raw) == CODE_LENGTH else raw
